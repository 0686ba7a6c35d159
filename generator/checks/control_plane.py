"""The control plane: at least one node, an odd count, an endpoint that is no single node, and
kube-vip's address."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from generator.checks.common import networks, virtual_ip_problems
from generator.errors import Problem
from generator.load import KeyPath
from generator.normalize import Normalized
from generator.rawconfig import lookup


def check_control_plane(n: Normalized) -> Iterator[Problem]:
    doc = n.doc
    control_planes = [n for n in n.node_rows if n[2] == "control-plane"]
    if isinstance(lookup(doc.data, "spec", "nodes"), list) and not control_planes:
        yield doc.problem(("spec", "nodes"), "needs at least one node with role control-plane")
    if len(control_planes) > 1 and len(control_planes) % 2 == 0:
        yield doc.problem(
            ("spec", "nodes"),
            f"{len(control_planes)} control-plane nodes: etcd tolerates no more failures with an even count "
            "than with one fewer; an odd count (3 or 5) is recommended",
            severity="warning",
        )
    endpoint = lookup(doc.data, "spec", "controlPlane", "endpoint")
    kube_vip = lookup(doc.data, "spec", "controlPlane", "loadBalancer") == "kube-vip"  # check_kube_vip covers it
    if len(control_planes) > 1 and isinstance(endpoint, str) and not kube_vip:
        host = (n.endpoint_host if n.endpoint_host is not None else endpoint).strip("[]")  # parsed once
        for _, name, _, ip in control_planes:
            if ip == host:
                yield doc.problem(
                    ("spec", "controlPlane", "endpoint"),
                    f"with {len(control_planes)} control-plane nodes the endpoint must be a load-balancer VIP or "
                    f"DNS name, not the IP of node {name!r} ({host}); that node would be a single point of failure",
                )


def check_kube_vip(n: Normalized) -> Iterator[Problem]:
    """kube-vip announces the endpoint IP itself: it must be a free IPv4 address, not a node's."""
    doc = n.doc
    if lookup(doc.data, "spec", "controlPlane", "loadBalancer") != "kube-vip":
        return
    path: KeyPath = ("spec", "controlPlane", "endpoint")
    endpoint = lookup(doc.data, *path)
    if not isinstance(endpoint, str):
        return
    host = n.endpoint_host or ""  # parsed once, by the normalize stage
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        yield doc.problem(
            path, f"with loadBalancer kube-vip the endpoint must be the virtual IP kube-vip holds, not {host!r}"
        )
        return
    yield from virtual_ip_problems(n, path, address, "kube-vip address", hint="; kube-vip needs a free address")
    nets, _ = networks(doc)
    for label, _, net in nets:
        if label != "node subnet" and address in net:
            yield doc.problem(path, f"the kube-vip address {address} lies inside the {label} {net}")
