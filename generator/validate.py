"""Stage 2: check a loaded cluster config against its JSON Schema and against the rules a schema
cannot express. Every problem is collected and returned; nothing is raised for bad input."""

from __future__ import annotations

import copy
import difflib
import ipaddress
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import jsonschema

from generator import certs, systemd_calendar
from generator.errors import Problem
from generator.load import ECHO_LIMIT, Document, KeyPath, describe, format_path, non_ascii_hint, shorten
from generator.rawconfig import expanded_nodes, lookup, mappings, virtual_ip_problems
from generator.resources import load_schema
from generator.validate_openstack import CHECKS as OPENSTACK_CHECKS
from generator.validate_proxy import CHECKS as PROXY_CHECKS
from generator.validate_scale import CHECKS as SCALE_CHECKS
from generator.versions import Version, cni_release, kubernetes_release, retired_os, supported_minors

CLUSTER_SCHEMA = "cluster.schema.json"

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1123_HINT = "lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters"

# NodeRestriction lets a kubelet set labels under these kubernetes.io prefixes only.
# https://kubernetes.io/docs/reference/access-authn-authz/admission-controllers/#noderestriction
ALLOWED_KUBERNETES_LABEL_PREFIXES = ("kubelet.kubernetes.io/", "node.kubernetes.io/")
ALLOWED_KUBERNETES_LABELS = {
    "kubernetes.io/hostname",
    "kubernetes.io/arch",
    "kubernetes.io/os",
    "beta.kubernetes.io/instance-type",
    "node.kubernetes.io/instance-type",
    "failure-domain.beta.kubernetes.io/region",
    "failure-domain.beta.kubernetes.io/zone",
    "topology.kubernetes.io/region",
    "topology.kubernetes.io/zone",
}


def validate(doc: Document) -> list[Problem]:
    """All problems in ``doc``: schema violations, then the semantic checks. Warnings included."""
    problems = list(control_character_problems(doc))
    problems.extend(schema_problems(doc))
    if isinstance(doc.data, dict):
        defaulted = Document(file=doc.file, data=with_defaults(doc.data), lines=doc.lines)
        for check in SEMANTIC_CHECKS:
            problems.extend(check(defaulted))
    return sorted(set(problems), key=lambda p: p.sort_key)


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


# --- control characters -----------------------------------------------------------------------------
# No value kgen reads may carry a newline, tab or other control character: JSON Schema patterns end
# in `$`, which also matches before a final newline, and a newline in a name would end a comment line
# in a generated script. One check, before everything else, covers keys and values alike.


def control_character_problems(doc: Document) -> Iterator[Problem]:
    def walk(value: Any, path: KeyPath) -> Iterator[Problem]:
        if isinstance(value, dict):
            for key, item in value.items():
                child = (*path, str(key))
                if isinstance(key, str) and not key.isprintable():
                    yield doc.problem(child, "the key contains a control character (newline, tab, ...)")
                yield from walk(item, child)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                yield from walk(item, (*path, index))
        elif isinstance(value, str) and not value.isprintable():
            yield doc.problem(path, f"{shorten(value)} contains a control character (newline, tab, ...)")

    yield from walk(doc.data, ())


# --- schema -----------------------------------------------------------------------------------------


def schema_problems(doc: Document) -> Iterator[Problem]:
    validator = jsonschema.Draft202012Validator(load_schema(CLUSTER_SCHEMA))
    for error in validator.iter_errors(doc.data):
        yield from _problems_from_schema_error(doc, error)


def _problems_from_schema_error(doc: Document, error: jsonschema.ValidationError) -> Iterator[Problem]:
    path: KeyPath = tuple(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = sorted(schema.get("properties", {}))
        # str(): YAML can make keys of other types (1:, ~:, yes:), which neither sort with strings nor print
        for key in sorted({str(k) for k in error.instance} - set(known)):
            hint = difflib.get_close_matches(key, known, n=1)
            suggestion = f"; did you mean {hint[0]!r}?" if hint else f"; expected one of {known}"
            yield doc.problem((*path, key), f"unknown key {shorten(key)}{suggestion}")
        return
    if path == ("spec", "os") and error.validator == "enum" and isinstance(error.instance, str):
        retired = retired_os(error.instance)
        if retired is not None:
            replacement = " or ".join(retired["replacement"])
            yield doc.problem(
                path,
                f"{error.instance} reached end of life on {retired['endOfLife']} and gets no containerd or "
                f"Kubernetes packages any more; use {replacement} instead",
            )
            return
    if error.validator == "required":
        missing = re.fullmatch(r"'([^']+)' is a required property", error.message)
        if missing:
            yield doc.problem(path, f"missing required key {missing.group(1)!r}")
            return
    if error.validator == "const":
        yield doc.problem(path, f"must be {error.validator_value!r}, not {describe(error.instance)}")
        return
    if "propertyNames" in error.relative_schema_path and isinstance(error.instance, str):
        path = (*path, error.instance)
    yield doc.problem(path, _schema_message(error, schema.get("x-message")))


def _schema_message(error: jsonschema.ValidationError, custom: str | None) -> str:
    """The message for one schema error, echoing the value short (a 10 MB value is cut to its start and
    length), saying how to write a number or boolean where text is expected, and naming a non-ASCII
    character in text that has to match a pattern (a Cyrillic look-alike letter is otherwise invisible)."""
    instance = error.instance
    if custom:
        short = isinstance(instance, str) and len(instance) <= ECHO_LIMIT
        message = f"{json.dumps(instance) if short else describe(instance)} {custom}"
    else:
        # jsonschema's own messages start with repr(instance), which can be any size
        shown = repr(instance)
        message = error.message if len(shown) <= ECHO_LIMIT else error.message.replace(shown, describe(instance), 1)
    if (
        error.validator == "type"
        and isinstance(instance, bool | int | float)
        and "string" in str(error.validator_value)
    ):
        message += f"; quote it ({str(instance).lower() if isinstance(instance, bool) else instance!r}) for text"
    elif isinstance(instance, str) and error.validator in ("pattern", "format", "enum", "propertyNames"):
        message += non_ascii_hint(instance)
    return message


# --- semantic checks ----------------------------------------------------------------------------------
# Each check reads the raw data defensively: the schema may already have reported a wrong type, and a
# check must then stay quiet rather than crash.


def check_control_plane(doc: Document) -> Iterator[Problem]:
    control_planes = [n for n in expanded_nodes(doc.data) if n[2] == "control-plane"]
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
        host = endpoint.rsplit(":", 1)[0].strip("[]")
        for _, name, _, ip in control_planes:
            if ip == host:
                yield doc.problem(
                    ("spec", "controlPlane", "endpoint"),
                    f"with {len(control_planes)} control-plane nodes the endpoint must be a load-balancer VIP or "
                    f"DNS name, not the IP of node {name!r} ({host}); that node would be a single point of failure",
                )


def check_kube_vip(doc: Document) -> Iterator[Problem]:
    """kube-vip announces the endpoint IP itself: it must be a free IPv4 address, not a node's."""
    if lookup(doc.data, "spec", "controlPlane", "loadBalancer") != "kube-vip":
        return
    path: KeyPath = ("spec", "controlPlane", "endpoint")
    endpoint = lookup(doc.data, *path)
    if not isinstance(endpoint, str):
        return
    host = endpoint.rpartition(":")[0]
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        yield doc.problem(
            path, f"with loadBalancer kube-vip the endpoint must be the virtual IP kube-vip holds, not {host!r}"
        )
        return
    yield from virtual_ip_problems(doc, path, address, "kube-vip address", hint="; kube-vip needs a free address")
    nets, _ = _networks(doc)
    for label, _, net in nets:
        if label != "node subnet" and address in net:
            yield doc.problem(path, f"the kube-vip address {address} lies inside the {label} {net}")


def check_names(doc: Document) -> Iterator[Problem]:
    name = lookup(doc.data, "metadata", "name")
    if isinstance(name, str) and not DNS1123_LABEL.fullmatch(name):
        message = f"{name!r} is not a valid cluster name: use {DNS1123_HINT}{non_ascii_hint(name)}"
        yield doc.problem(("metadata", "name"), message)
    for i, pool in mappings(doc.data, "spec", "workerPools"):
        pool_name = pool.get("name")
        if isinstance(pool_name, str) and not DNS1123_LABEL.fullmatch(pool_name):
            yield doc.problem(
                ("spec", "workerPools", i, "name"), f"{pool_name!r} is not a valid pool name: use {DNS1123_HINT}"
            )
    seen: dict[str, KeyPath] = {}
    for path, node_name, _, _ in expanded_nodes(doc.data):
        key_path = (*path, "name")
        if path[1] == "nodes" and not DNS1123_LABEL.fullmatch(node_name):
            message = f"{node_name!r} is not a valid node name: use {DNS1123_HINT}{non_ascii_hint(node_name)}"
            yield doc.problem(key_path, message)
        elif path[1] == "workerPools" and len(node_name) > 63:
            yield doc.problem(key_path, f"pool node name {node_name!r} is longer than 63 characters")
        if node_name in seen:
            yield doc.problem(key_path, f"node name {node_name!r} is already used at {format_path(seen[node_name])}")
        else:
            seen[node_name] = path


Network = ipaddress.IPv4Network | ipaddress.IPv6Network
NETWORK_KEYS = (("pod subnet", "podSubnet"), ("service subnet", "serviceSubnet"), ("node subnet", "nodeSubnet"))


def _networks(doc: Document) -> tuple[list[tuple[str, KeyPath, Network]], list[Problem]]:
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


def check_networks(doc: Document) -> Iterator[Problem]:
    nets, problems = _networks(doc)
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


def check_node_ips(doc: Document) -> Iterator[Problem]:
    """Fixed node IPs: valid IPv4, unique, outside the pod and service ranges, inside the node range."""
    nets, _ = _networks(doc)
    seen: dict[str, str] = {}
    for path, name, _, ip in expanded_nodes(doc.data):
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


def check_endpoint(doc: Document) -> Iterator[Problem]:
    path: KeyPath = ("spec", "controlPlane", "endpoint")
    endpoint = lookup(doc.data, *path)
    if isinstance(endpoint, str):
        try:
            split_endpoint(endpoint)
        except ValueError as exc:
            yield doc.problem(path, str(exc))
    sans = lookup(doc.data, "spec", "controlPlane", "certSANs")
    for i, san in enumerate(sans if isinstance(sans, list) else []):
        if isinstance(san, str) and not _is_ip_or_dns_name(san):
            yield doc.problem(
                ("spec", "controlPlane", "certSANs", i), f"{san!r} is neither an IP address nor a DNS name"
            )
    domain_path: KeyPath = ("spec", "networking", "dnsDomain")
    domain = lookup(doc.data, *domain_path)
    if isinstance(domain, str) and not (DNS1123_SUBDOMAIN.fullmatch(domain) and len(domain) <= 253):
        yield doc.problem(domain_path, f"{domain!r} is not a DNS domain (lowercase labels separated by dots)")


def _is_ip_or_dns_name(value: str) -> bool:
    if "%" in value:  # ipaddress accepts IPv6 zones; a certificate SAN cannot carry one
        return False
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return bool(DNS1123_SUBDOMAIN.fullmatch(value.removeprefix("*."))) and len(value) <= 253
    return True


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
        if not DNS1123_SUBDOMAIN.fullmatch(host) or len(host) > 253:
            raise ValueError(f"{endpoint!r}: {host!r} is neither an IPv4 address nor a DNS name") from None
    else:
        if address.version != 4:
            raise ValueError(f"{endpoint!r}: IPv6 endpoints are not supported; use an IPv4 address or DNS name")
        unusable = unusable_address(address)
        if unusable:
            raise ValueError(f"{endpoint!r}: {host} is {unusable}; nodes cannot reach the API server there")
    return host, int(port_text)


ASCII_PORT = re.compile(r"[0-9]{1,5}")


Address = ipaddress.IPv4Address | ipaddress.IPv6Address
# (test, description) in order; RFC 6890's special-purpose ranges that are never a host's unicast address.
UNUSABLE_ADDRESSES: tuple[tuple[Callable[[Address], bool], str], ...] = (
    (lambda a: a.is_unspecified, "the unspecified address (it means 'any address', not one host)"),
    (lambda a: a.is_loopback, "a loopback address (every host's own)"),
    (lambda a: a == ipaddress.IPv4Address("255.255.255.255"), "the broadcast address"),
    (lambda a: a.is_multicast, "a multicast address"),
    (lambda a: str(a) == "169.254.169.254", "a link-local address (the cloud metadata service's)"),
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


def check_kubernetes_version(doc: Document) -> Iterator[Problem]:
    path: KeyPath = ("spec", "kubernetes", "version")
    text = lookup(doc.data, *path)
    if not isinstance(text, str):
        return
    try:
        version = Version.parse(text)
    except ValueError:
        return  # the schema pattern already reported it
    minors = supported_minors()
    if version.minor_key not in minors:
        yield doc.problem(path, f"Kubernetes {version} is not supported; kgen supports {minors[0]}.x to {minors[-1]}.x")
        return
    release = kubernetes_release(version.minor_key)
    if version > release.latest_patch:
        yield doc.problem(
            path,
            f"{version} is newer than the newest {version.minor_key} patch kgen's version table knows "
            f"({release.latest_patch}); check that the packages exist",
            severity="warning",
        )
    proxy_mode = lookup(doc.data, "spec", "networking", "proxyMode")
    if proxy_mode == "nftables" and version.minor < 31:
        yield doc.problem(
            ("spec", "networking", "proxyMode"),
            f"nftables needs Kubernetes 1.31 or later (it is alpha in {version.minor_key})",
        )
    plugin = lookup(doc.data, "spec", "cni", "plugin")
    if plugin in ("calico", "cilium", "flannel"):
        cni = cni_release(plugin)
        wanted = lookup(doc.data, "spec", "cni", "version")
        if isinstance(wanted, str) and wanted.lstrip("v") != cni.version.lstrip("v"):
            yield doc.problem(
                ("spec", "cni", "version"), f"kgen pins {plugin} {cni.version}; {wanted!r} is not in its version table"
            )
        if cni.kubernetes_minors and version.minor_key not in cni.kubernetes_minors:
            tested = ", ".join(cni.kubernetes_minors)
            yield doc.problem(
                ("spec", "cni", "plugin"),
                f"{plugin} {cni.version} is not listed as tested with Kubernetes {version.minor_key} "
                f"(tested: {tested})",
                severity="warning",
            )


def check_runtime(doc: Document) -> Iterator[Problem]:
    """CRI-O follows Kubernetes minors; containerd must be in the range containerd supports for it."""
    path: KeyPath = ("spec", "runtime", "version")
    wanted, name = lookup(doc.data, *path), lookup(doc.data, "spec", "runtime", "name")
    k8s_text = lookup(doc.data, "spec", "kubernetes", "version")
    if not isinstance(wanted, str) or not isinstance(k8s_text, str):
        return
    try:
        k8s = Version.parse(k8s_text)
        release = kubernetes_release(k8s.minor_key)
    except (ValueError, KeyError):
        return  # reported by the version checks
    parts = wanted.lstrip("v").split(".")
    if len(parts) < 2 or not all(p.isdigit() for p in parts):
        return  # reported by the schema pattern
    minor = f"{parts[0]}.{parts[1]}"
    if name == "cri-o" and minor != k8s.minor_key:
        yield doc.problem(
            path,
            f"CRI-O {wanted} does not match Kubernetes {k8s}: CRI-O's minor version must equal Kubernetes' "
            f"({k8s.minor_key}); leave version out to follow Kubernetes",
        )
    if name == "containerd":
        if len(parts) != 3:
            yield doc.problem(path, f"containerd {wanted}: pin the patch version, such as {release.containerd_package}")
            return
        version = Version.parse(wanted)
        lines = {Version.parse(m).minor_key: Version.parse(m) for m in release.containerd_minimums}
        floor = lines.get(version.minor_key)
        if floor is None or version < floor:
            supported = ", ".join(f"{m}+" for m in release.containerd_minimums)
            yield doc.problem(
                path, f"containerd {wanted} is not supported with Kubernetes {k8s.minor_key} (supported: {supported})"
            )


def check_token(doc: Document) -> Iterator[Problem]:
    path: KeyPath = ("spec", "bootstrapToken", "ttl")
    if lookup(doc.data, *path) == "0":
        yield doc.problem(
            path,
            "ttl 0 makes the bootstrap token never expire: anyone who reads a worker's user-data can join "
            "nodes to the cluster until you delete the token (kubeadm token delete)",
            severity="warning",
        )


def check_etcd_backup_schedule(doc: Document) -> Iterator[Problem]:
    """The schedule becomes the timer's OnCalendar=; a value systemd refuses fails the node's first
    boot, so it is checked with a port of systemd's own parser (generator/systemd_calendar.py)."""
    path: KeyPath = ("spec", "etcdBackup", "schedule")
    schedule = lookup(doc.data, *path)
    pattern = lookup(load_schema(CLUSTER_SCHEMA), "properties", "spec", "properties", "etcdBackup", "properties")
    if not isinstance(schedule, str) or not re.search(pattern["schedule"]["pattern"], schedule):
        return  # the schema reported it
    message = systemd_calendar.calendar_problem(schedule, "*-*-* 00/6:00:00")
    if message is not None:
        yield doc.problem(path, message)


def check_labels(doc: Document) -> Iterator[Problem]:
    holders = [("spec", "nodes", i) for i, _ in mappings(doc.data, "spec", "nodes")]
    holders += [("spec", "workerPools", i) for i, _ in mappings(doc.data, "spec", "workerPools")]
    for holder in holders:
        labels = lookup(doc.data, *holder, "labels")
        if not isinstance(labels, dict):
            continue
        for key in labels:
            if not isinstance(key, str) or "/" not in key:
                continue
            prefix = key.split("/", 1)[0]
            restricted = prefix.endswith(("kubernetes.io", "k8s.io"))
            if (
                restricted
                and key not in ALLOWED_KUBERNETES_LABELS
                and not key.startswith(ALLOWED_KUBERNETES_LABEL_PREFIXES)
            ):
                yield doc.problem(
                    (*holder, "labels", key),
                    f"the kubelet may not set {key!r} (NodeRestriction admission); use a label under "
                    "node.kubernetes.io/ or your own prefix, or label the node with kubectl after it joins",
                )


SEMANTIC_CHECKS: tuple[Callable[[Document], Iterator[Problem]], ...] = (
    check_control_plane,
    check_kube_vip,
    check_names,
    check_networks,
    check_node_ips,
    check_endpoint,
    check_kubernetes_version,
    check_runtime,
    check_token,
    check_etcd_backup_schedule,
    certs.check_schedule,  # kgen-certs (issue 14)
    check_labels,
    *OPENSTACK_CHECKS,
    *SCALE_CHECKS,
    *PROXY_CHECKS,  # restricted networks (issue 15)
)
