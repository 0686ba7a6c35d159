"""Stage 2: the loaded config with the schema's defaults filled in and every fact kgen derives from
the text parsed once: the endpoint (host and port), the node list with worker pools expanded, the
Kubernetes version, the Calico pool's effective encapsulation.

Normalizing never fails: it reads the data defensively (the schema may still find a wrong type), and a
value that does not parse is left None with the reason, for the checks to report. The model is built
from a :class:`Normalized` whose config passed validation."""

from __future__ import annotations

import copy
import ipaddress
import re
from collections.abc import Callable
from typing import Any

from generator import guest
from generator.load import Document, KeyPath
from generator.rawconfig import expanded_nodes, lookup
from generator.records import record
from generator.resources import load_schema
from generator.versions import Version

CLUSTER_SCHEMA = "cluster.schema.json"
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
ASCII_PORT = re.compile(r"[0-9]{1,5}")

# Calico modes that route pod traffic between nodes of one subnet unencapsulated (projectcalico/calico
# calico/networking/vxlan-ipip.md, "Cross subnet": encapsulation only for traffic that crosses a subnet
# boundary; None: never). Neutron's port security drops a packet whose source is not the port's fixed IP or an allowed
# address pair (kubernetes-sigs/kubespray docs/openstack.md), and the kit puts every node in one
# subnet. Allowed address pairs for the pod subnet would pass pod-to-pod traffic, but not traffic a
# node sends to a pod on another node (the API server calling a webhook or metrics-server, a NodePort
# forwarded after SNAT): its source is the node and its port the pod's, which a security group can only
# admit by opening every port between the groups. Always-encapsulated traffic is node-to-node on one
# port (UDP 4789 or IP protocol 4), so on OpenStack the Calico pool always encapsulates.
UNENCAPSULATED_CALICO_MODES = ("VXLANCrossSubnet", "IPIPCrossSubnet", "None")
OPENSTACK_CALICO_ENCAPSULATION = "VXLAN"


@record
class ExpandedNode:
    """One node of the config, a worker pool's members included (``<pool>-0`` … ``<pool>-N``)."""

    path: KeyPath  # the key path of the node, or of its pool
    name: str
    role: str
    ip: Any  # as written; the checks say whether it parses
    pool: str | None = None


@record
class Normalized:
    """The config with defaults filled in, its nodes expanded and its endpoint parsed."""

    doc: Document  # the config with the schema defaults filled in
    nodes: tuple[ExpandedNode, ...]
    endpoint: tuple[str, int] | None  # (host, port), when it parses
    endpoint_error: str | None
    endpoint_host: str | None  # the text before the last ':' (set even when the endpoint is refused)
    kubernetes_version: Version | None
    calico_encapsulation: Any

    @property
    def data(self) -> Any:
        return self.doc.data

    @property
    def node_rows(self) -> list[tuple[KeyPath, str, str, Any]]:
        """(key path, name, role, ip) per node, for the checks."""
        return [(n.path, n.name, n.role, n.ip) for n in self.nodes]

    @property
    def control_planes(self) -> tuple[ExpandedNode, ...]:
        return tuple(n for n in self.nodes if n.role == "control-plane")

    def node_path(self, name: str | None) -> KeyPath:
        """The key path of the node called ``name`` (a pool member's is its pool's); () when none is."""
        return next((n.path for n in self.nodes if n.name == name), ())


def with_defaults(data: Any, schema: dict[str, Any] | None = None) -> Any:
    """A copy of ``data`` with every schema ``default`` filled in where the key is absent, so the
    defaults are written once, in the schema users read."""
    schema = load_schema(CLUSTER_SCHEMA) if schema is None else schema
    if isinstance(data, dict) and "properties" in schema:
        out = dict(data)
        for key, sub in schema["properties"].items():
            if key not in out and "default" in sub:
                out[key] = copy.deepcopy(sub["default"])
            if key in out:
                out[key] = with_defaults(out[key], sub)
        return out
    if isinstance(data, list) and isinstance(schema.get("items"), dict):
        return [with_defaults(item, schema["items"]) for item in data]
    return data


Address = ipaddress.IPv4Address | ipaddress.IPv6Address
# (test, description) in order; RFC 6890's special-purpose ranges that are never a host's unicast address.
UNUSABLE_ADDRESSES: tuple[tuple[Callable[[Address], bool], str], ...] = (
    (lambda a: a.is_unspecified, "the unspecified address (it means 'any address', not one host)"),
    (lambda a: a.is_loopback, "a loopback address (every host's own)"),
    (lambda a: a == ipaddress.IPv4Address("255.255.255.255"), "the broadcast address"),
    (lambda a: a.is_multicast, "a multicast address"),
    (lambda a: str(a) == guest.METADATA_ADDRESS, "a link-local address (the cloud metadata service's)"),
    (lambda a: a.is_link_local, "a link-local address"),
    (lambda a: a.is_reserved, "a reserved address"),
)


def unusable_address(address: Address) -> str | None:
    """Why ``address`` cannot be a node's or the API server's address, or None: the kubelet's
    --node-ip and the API server's advertise address must be a unicast address of the host."""
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    if mapped is not None:
        return unusable_address(mapped)
    return next((description for test, description in UNUSABLE_ADDRESSES if test(address)), None)


def is_dns_subdomain(name: str) -> bool:
    """A DNS-1123 subdomain: lowercase labels separated by dots, at most 253 characters."""
    return bool(DNS1123_SUBDOMAIN.fullmatch(name)) and len(name) <= 253


def split_endpoint(endpoint: str) -> tuple[str, int]:
    """``host:port`` -> (host, port), for an IPv4 address or DNS name. Raises ValueError with a message."""
    host, sep, port_text = endpoint.rpartition(":")
    if not sep or not host:
        raise ValueError(f"{endpoint!r} must be host:port, for example 10.0.0.10:6443")
    # ASCII digits only: str.isdigit() also takes '٦٤٤٣' (which int() reads as 6443) and '³' (which it cannot).
    if not ASCII_PORT.fullmatch(port_text) or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"{endpoint!r} has an invalid port {port_text!r}: use a number from 1 to 65535 in digits 0-9")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if not is_dns_subdomain(host):
            raise ValueError(f"{endpoint!r}: {host!r} is neither an IPv4 address nor a DNS name") from None
    else:
        if address.version != 4:
            raise ValueError(f"{endpoint!r}: IPv6 endpoints are not supported; use an IPv4 address or DNS name")
        unusable = unusable_address(address)
        if unusable:
            raise ValueError(f"{endpoint!r}: {host} is {unusable}; nodes cannot reach the API server there")
    return host, int(port_text)


def calico_encapsulation(configured: Any, *, explicit: bool, openstack: bool) -> Any:
    """The Calico pool's encapsulation: the configured one, except that a cluster with an OpenStack kit
    that leaves ``cni.calico.encapsulation`` unset gets :data:`OPENSTACK_CALICO_ENCAPSULATION` instead
    of the schema's cross-subnet default (an explicit unencapsulated mode is a validation error there)."""
    if openstack and not explicit and configured in UNENCAPSULATED_CALICO_MODES:
        return OPENSTACK_CALICO_ENCAPSULATION
    return configured


def normalize(doc: Document) -> Normalized:
    data = with_defaults(doc.data)
    defaulted = Document(file=doc.file, data=data, lines=doc.lines)
    nodes = tuple(ExpandedNode(path, name, role, ip, pool) for path, name, role, ip, pool in expanded_nodes(data))
    endpoint_text = lookup(data, "spec", "controlPlane", "endpoint")
    endpoint: tuple[str, int] | None = None
    error: str | None = None
    host: str | None = None
    if isinstance(endpoint_text, str):
        host = endpoint_text.rpartition(":")[0] if ":" in endpoint_text else None
        try:
            endpoint = split_endpoint(endpoint_text)
        except ValueError as exc:
            error = str(exc)
    version_text = lookup(data, "spec", "kubernetes", "version")
    version: Version | None = None
    if isinstance(version_text, str):
        try:
            version = Version.parse(version_text)
        except ValueError:
            version = None  # the schema pattern reports it
    encapsulation = calico_encapsulation(
        lookup(data, "spec", "cni", "calico", "encapsulation"),
        explicit=lookup(doc.data, "spec", "cni", "calico", "encapsulation") is not None,
        openstack=isinstance(lookup(data, "spec", "openstack"), dict),
    )
    return Normalized(
        doc=defaulted,
        nodes=nodes,
        endpoint=endpoint,
        endpoint_error=error,
        endpoint_host=host,
        kubernetes_version=version,
        calico_encapsulation=encapsulation,
    )
