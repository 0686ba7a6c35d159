"""The address ranges and the fixed node IPs."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from generator.checks.common import networks
from generator.errors import Problem
from generator.load import KeyPath
from generator.normalize import Normalized, unusable_address
from generator.rawconfig import lookup


def check_networks(n: Normalized) -> Iterator[Problem]:
    doc = n.doc
    nets, problems = networks(doc)
    yield from problems
    for label, path, net in nets:
        if net.version != 4:
            yield doc.problem(path, f"the {label} {net} is IPv6; kgen renders IPv4 single-stack clusters")
    for i, (label_a, _, net_a) in enumerate(nets):
        for label_b, path_b, net_b in nets[i + 1 :]:
            if net_a.version == net_b.version and net_a.overlaps(net_b):
                yield doc.problem(path_b, f"the {label_b} {net_b} overlaps the {label_a} {net_a}")
    # Calico's pool must sit inside the pod subnet.
    pod = next((n for label, _, n in nets if label == "pod subnet"), None)
    pool_path: KeyPath = ("spec", "cni", "calico", "ipPoolCIDR")
    pool_value = lookup(doc.data, *pool_path)
    if isinstance(pool_value, str):
        try:
            pool = ipaddress.ip_network(pool_value, strict=True)
        except ValueError as exc:
            yield doc.problem(pool_path, f"{pool_value!r} is not a valid CIDR ({exc})")
        else:
            if pod is not None and (pool.version != pod.version or not pool.subnet_of(pod)):  # type: ignore[arg-type]
                yield doc.problem(pool_path, f"the Calico pool {pool} must be equal to or inside the pod subnet {pod}")


def check_node_ips(n: Normalized) -> Iterator[Problem]:
    """Fixed node IPs: valid IPv4, unique, outside the pod and service ranges, inside the node range."""
    doc = n.doc
    nets, _ = networks(doc)
    seen: dict[str, str] = {}
    for path, name, _, ip in n.node_rows:
        if ip is None:
            continue
        ip_path = (*path, "ip")
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            yield doc.problem(ip_path, f"{ip!r} is not a valid IP address")
            continue
        unusable = unusable_address(address)
        if unusable:
            yield doc.problem(ip_path, f"{ip} is {unusable}, not a node's address")
            continue
        if address.version != 4:
            yield doc.problem(ip_path, f"{ip} is IPv6; kgen renders IPv4 single-stack clusters")
            continue
        if str(address) in seen:
            yield doc.problem(ip_path, f"IP {address} is already used by node {seen[str(address)]!r}")
        seen[str(address)] = name
        for label, _, net in nets:
            inside = address in net
            if label == "node subnet" and not inside:
                yield doc.problem(ip_path, f"IP {address} is outside the node subnet {net}")
            elif label != "node subnet" and inside:
                yield doc.problem(ip_path, f"IP {address} lies inside the {label} {net}")
