"""Reading a raw cluster config defensively: the schema may already have reported a wrong type, and a
semantic check must then stay quiet rather than crash. Shared by the semantic checks."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any

from generator.errors import Problem
from generator.load import Document, KeyPath


def lookup(data: Any, *keys: str | int, default: Any = None) -> Any:
    for key in keys:
        if isinstance(key, int):
            if not isinstance(data, list) or key >= len(data):
                return default
        elif not isinstance(data, dict) or key not in data:
            return default
        data = data[key]
    return data


def mappings(data: Any, *keys: str) -> list[tuple[int, dict[str, Any]]]:
    value = lookup(data, *keys, default=[])
    if not isinstance(value, list):
        return []
    return [(i, item) for i, item in enumerate(value) if isinstance(item, dict)]


def expanded_nodes(data: Any) -> list[tuple[KeyPath, str, str, Any]]:
    """(key path, name, role, ip) for every node, pools expanded to ``<pool>-0 … <pool>-N``."""
    out: list[tuple[KeyPath, str, str, Any]] = []
    for i, node in mappings(data, "spec", "nodes"):
        name, role = node.get("name"), node.get("role")
        if isinstance(name, str) and isinstance(role, str):
            out.append((("spec", "nodes", i), name, role, node.get("ip")))
    for i, pool in mappings(data, "spec", "workerPools"):
        name, count = pool.get("name"), pool.get("count")
        if isinstance(name, str) and isinstance(count, int) and not isinstance(count, bool):
            out.extend((("spec", "workerPools", i), f"{name}-{n}", "worker", None) for n in range(max(count, 0)))
    return out


def virtual_ip_problems(
    doc: Document, path: KeyPath, address: ipaddress.IPv4Address | ipaddress.IPv6Address, label: str, *, hint: str = ""
) -> Iterator[Problem]:
    """A virtual IP (kube-vip's, Octavia's) must be free: no node's fixed IP, and inside the node
    subnet when one is set."""
    for _, name, _, ip in expanded_nodes(doc.data):
        if ip == str(address):
            yield doc.problem(path, f"the {label} {address} is the IP of node {name!r}{hint}")
    node_subnet = lookup(doc.data, "spec", "networking", "nodeSubnet")
    if isinstance(node_subnet, str):
        try:
            network = ipaddress.ip_network(node_subnet, strict=True)
        except ValueError:
            return  # reported by the network checks
        if address not in network:
            yield doc.problem(path, f"the {label} {address} is outside the node subnet {network}")
