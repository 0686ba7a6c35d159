"""Helpers the check modules share."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from generator.errors import Problem
from generator.load import Document, KeyPath
from generator.normalize import Normalized
from generator.rawconfig import lookup

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


NETWORK_KEYS = (("pod subnet", "podSubnet"), ("service subnet", "serviceSubnet"), ("node subnet", "nodeSubnet"))


def networks(doc: Document) -> tuple[list[tuple[str, KeyPath, Network]], list[Problem]]:
    """The configured ranges that parse, and a problem for each that does not."""
    nets: list[tuple[str, KeyPath, Network]] = []
    problems: list[Problem] = []
    for label, key in NETWORK_KEYS:
        path: KeyPath = ("spec", "networking", key)
        value = lookup(doc.data, *path)
        if not isinstance(value, str):
            continue
        try:
            nets.append((label, path, ipaddress.ip_network(value, strict=True)))
        except ValueError as exc:
            problems.append(doc.problem(path, f"{value!r} is not a valid CIDR ({exc})"))
    return nets, problems


def virtual_ip_problems(
    n: Normalized,
    path: KeyPath,
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
    label: str,
    *,
    hint: str = "",
) -> Iterator[Problem]:
    """A virtual IP (kube-vip's, Octavia's) must be free: no node's fixed IP, and inside the node
    subnet when one is set."""
    doc = n.doc
    for node in n.nodes:
        if node.ip == str(address):
            yield doc.problem(path, f"the {label} {address} is the IP of node {node.name!r}{hint}")
    node_subnet = lookup(doc.data, "spec", "networking", "nodeSubnet")
    if isinstance(node_subnet, str):
        try:
            network = ipaddress.ip_network(node_subnet, strict=True)
        except ValueError:
            return  # reported by the network checks
        if address not in network:
            yield doc.problem(path, f"the {label} {address} is outside the node subnet {network}")
