"""``spec.openstack``: the launch kit's load balancer, values the openstack CLI parses, Calico's
encapsulation on Neutron."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any

from generator.checks.common import virtual_ip_problems
from generator.errors import Problem
from generator.load import KeyPath
from generator.normalize import OPENSTACK_CALICO_ENCAPSULATION, UNENCAPSULATED_CALICO_MODES, Normalized
from generator.rawconfig import lookup

OPENSTACK: KeyPath = ("spec", "openstack")


LOAD_BALANCER: KeyPath = (*OPENSTACK, "loadBalancer")


def _ipv4(value: Any) -> ipaddress.IPv4Address | None:
    if not isinstance(value, str):
        return None
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    return address if isinstance(address, ipaddress.IPv4Address) else None


def check_openstack_load_balancer(n: Normalized) -> Iterator[Problem]:
    """The Octavia VIP must be the address the nodes join, and every member needs an address."""
    doc = n.doc
    openstack = lookup(doc.data, *OPENSTACK)
    if not isinstance(openstack, dict):
        return
    if lookup(doc.data, *LOAD_BALANCER, "enabled") is not True:
        yield from _without_load_balancer(n, openstack)
        return
    if lookup(doc.data, "spec", "controlPlane", "loadBalancer") == "kube-vip":
        yield doc.problem(
            (*LOAD_BALANCER, "enabled"),
            "controlPlane.loadBalancer is kube-vip, which holds the endpoint address itself; an Octavia load "
            "balancer would claim the same address. Use one or the other",
        )
    if not isinstance(lookup(doc.data, *LOAD_BALANCER, "subnet"), str) and not isinstance(openstack.get("subnet"), str):
        yield doc.problem(
            LOAD_BALANCER,
            "the load balancer's VIP needs a subnet: set openstack.subnet or openstack.loadBalancer.subnet",
        )
    for path, name, role, ip in n.node_rows:
        if role == "control-plane" and ip is None:
            yield doc.problem(
                path, f"control-plane node {name!r} needs a fixed ip: it becomes a member of the API load balancer"
            )
    yield from _vip(n)


def _without_load_balancer(n: Normalized, openstack: dict[str, Any]) -> Iterator[Problem]:
    doc = n.doc
    if isinstance(openstack.get("floatingIpNetwork"), str):
        yield doc.problem(
            (*OPENSTACK, "floatingIpNetwork"),
            "the floating IP goes on the API load balancer's VIP: set openstack.loadBalancer.enabled: true",
        )
    control_planes = [n for n in n.node_rows if n[2] == "control-plane"]
    if len(control_planes) > 1 and lookup(doc.data, "spec", "controlPlane", "loadBalancer") != "kube-vip":
        yield doc.problem(
            (*LOAD_BALANCER, "enabled"),
            f"{len(control_planes)} control-plane nodes and controlPlane.loadBalancer external, but the launch kit "
            f"creates no load balancer: enable openstack.loadBalancer, or make sure one answers on "
            f"{n.endpoint_host or 'the endpoint'} before the nodes boot",
            severity="warning",
        )


def _vip(n: Normalized) -> Iterator[Problem]:
    doc = n.doc
    vip_path: KeyPath = (*LOAD_BALANCER, "vipAddress")
    vip_raw = lookup(doc.data, *vip_path)
    vip = _ipv4(vip_raw)
    if vip_raw is not None and vip is None:
        yield doc.problem(vip_path, f"{vip_raw!r} is not an IPv4 address")
        return
    host_ip = _ipv4(n.endpoint_host)
    if host_ip is not None and vip is None:
        yield doc.problem(
            LOAD_BALANCER,
            f"the endpoint is the address {host_ip}: set vipAddress: {host_ip}, or Octavia picks another "
            "address and no node can reach the API",
        )
    if host_ip is not None and vip is not None and vip != host_ip:
        yield doc.problem(vip_path, f"the VIP {vip} is not the endpoint's address {host_ip}; the nodes join {host_ip}")
    if vip is not None:
        yield from virtual_ip_problems(n, vip_path, vip, "VIP")


# Every openstack.* value launch.sh hands the openstack CLI. One that starts with '-' would be read as an
# option (`--flavor --os-cloud=other` makes argparse take --os-cloud as cliff's global option); the kit
# puts positional values after `--`, and these values, which follow options such as --image, are refused.
CLI_VALUES: tuple[KeyPath, ...] = (
    *((*OPENSTACK, key) for key in ("image", "flavor", "controlPlaneFlavor", "network", "subnet", "keyName")),
    *((*OPENSTACK, key) for key in ("floatingIpNetwork", "securityGroupPrefix", "sshAllowedCidr")),
    *((*LOAD_BALANCER, key) for key in ("subnet", "vipAddress")),
)


def check_openstack_values(n: Normalized) -> Iterator[Problem]:
    """Values the openstack CLI parses itself."""
    doc = n.doc
    openstack = lookup(doc.data, *OPENSTACK)
    if not isinstance(openstack, dict):
        return
    for path in CLI_VALUES:
        value = lookup(doc.data, *path)
        if isinstance(value, str) and value.startswith("-"):
            yield doc.problem(
                path, f"{value!r} starts with '-', which the openstack CLI would read as an option; use the ID"
            )
    # `--fixed-ip subnet=<subnet>,ip-address=<ip>` is a key=value list: the CLI cannot take a subnet
    # name with ',' or '=' there, quoted or not.
    subnet = openstack.get("subnet")
    if isinstance(subnet, str) and ("," in subnet or "=" in subnet):
        yield doc.problem(
            (*OPENSTACK, "subnet"),
            f"{subnet!r} contains ',' or '=', which openstack port create --fixed-ip cannot take; use the subnet's ID",
        )
    cidr = openstack.get("sshAllowedCidr")
    if isinstance(cidr, str):
        try:
            network = ipaddress.ip_network(cidr, strict=True)
        except ValueError as exc:
            yield doc.problem((*OPENSTACK, "sshAllowedCidr"), f"{cidr!r} is not a valid CIDR ({exc})")
        else:
            if network.version != 4:
                yield doc.problem((*OPENSTACK, "sshAllowedCidr"), f"{network} is IPv6; the kit writes IPv4 rules")


def check_openstack_api_cidrs(n: Normalized) -> Iterator[Problem]:
    """openstack.apiAllowedCidrs: IPv4 CIDRs (the kit writes IPv4 rules), and with the load balancer a
    networking.nodeSubnet, which the kit adds: Octavia forwards from it and the nodes call the API
    through the VIP, whose listener would otherwise refuse them."""
    doc = n.doc
    path: KeyPath = (*OPENSTACK, "apiAllowedCidrs")
    cidrs = lookup(doc.data, *path)
    if not isinstance(cidrs, list):
        return
    for index, cidr in enumerate(cidrs):
        if not isinstance(cidr, str):
            continue
        try:
            network = ipaddress.ip_network(cidr, strict=True)
        except ValueError as exc:
            yield doc.problem((*path, index), f"{cidr!r} is not a valid CIDR ({exc})")
        else:
            if network.version != 4:
                yield doc.problem((*path, index), f"{network} is IPv6; the kit writes IPv4 rules")
    if lookup(doc.data, *LOAD_BALANCER, "enabled") is True and not lookup(doc.data, "spec", "networking", "nodeSubnet"):
        yield doc.problem(
            path,
            "with loadBalancer.enabled, restricting the API needs networking.nodeSubnet: the load balancer "
            "forwards from the nodes' subnet and the nodes reach the API through it, so the kit allows it too",
        )


def check_openstack_calico(n: Normalized) -> Iterator[Problem]:
    """An unencapsulated Calico mode set in the file, with the launch kit: Neutron's port security would
    drop the pod traffic (see :data:`generator.openstack.UNENCAPSULATED_CALICO_MODES`). Left unset, the
    model picks an always-encapsulated mode; only the file's own value is refused (``doc.lines`` holds
    the key paths the file spells out)."""
    doc = n.doc
    path: KeyPath = ("spec", "cni", "calico", "encapsulation")
    if not isinstance(lookup(doc.data, *OPENSTACK), dict) or lookup(doc.data, "spec", "cni", "plugin") != "calico":
        return
    mode = lookup(doc.data, *path)
    if path in doc.lines and mode in UNENCAPSULATED_CALICO_MODES:
        yield doc.problem(
            path,
            f"{mode} sends pod traffic between nodes of one subnet unencapsulated, which OpenStack's port "
            f"security drops (the source is a pod IP, not the node's port address); use VXLAN or IPIP, or "
            f"leave the key out for {OPENSTACK_CALICO_ENCAPSULATION}",
        )
