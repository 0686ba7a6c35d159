"""``spec.proxy``: the egress proxy every node (and the bake) goes through, and the NO_PROXY list kgen
computes so that cluster-internal traffic never goes there.

Where it is applied:

- the container runtime and the kubelet get a systemd drop-in with ``Environment=`` lines
  (:func:`systemd_dropin`, written by the configure phase for ``containerd``/``crio`` and ``kubelet``);
- the package manager gets its own setting, since neither apt nor dnf reads the proxy environment of a
  systemd unit: an apt.conf.d file (:func:`apt_conf`) or ``proxy=`` in dnf.conf's ``[main]`` (dnf 4, the
  EL9 dnf, reads no drop-in folder for ``[main]``: dnf.conf(5), and rpm-software-management/dnf#1914,
  where drop-ins were added to DNF5 only);
- kgen's own scripts (curl, helm, rclone) export the six proxy variables (:func:`environment`, rendered by
  ``templates/_proxy_env.sh.j2``);
- the Packer project's ``http_proxy``/``https_proxy``/``no_proxy`` variables default to the same values.

Nothing of this is rendered when ``spec.proxy`` is absent."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from typing import Any

from generator import __version__, guest, templating
from generator.records import record

# Where the drop-ins go: /etc/systemd/system/<unit>.d/<name>. The name sorts before the bake's own
# 90-kgen-bake-proxy.conf (generator/packer.py), so during a bake the proxy the bake was given (which may
# carry a password, passed as PKR_VAR_https_proxy) is the one the runtime uses for the pre-pull: for
# Environment=, a later drop-in's assignment of the same variable wins (systemd.unit, "drop-in" files are
# read in lexicographic order).
DROPIN_NAME = "50-kgen-http-proxy.conf"
UNIT_DIR = guest.UNIT_DIR
APT_CONF_PATH = guest.APT_PROXY_CONF
DNF_CONF_PATH = guest.DNF_CONF

# Always bypassed: this host, the cloud metadata service (Nova serves user-data there, and cloud-init
# and the metadata block expect it to be reached directly), and Kubernetes' in-cluster names.
METADATA_ADDRESS = guest.METADATA_ADDRESS

# An http(s) URL of a proxy: scheme, host (DNS name, IPv4 or [IPv6]), optional port, optional "/".
# No user or password (they would be readable in user-data and in unit files), no path, no query.
PROXY_URL = re.compile(
    r"^https?://(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
    r"|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?/?$"
)
DNS_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$")


@record
class Proxy:
    """The proxy settings with the computed NO_PROXY list."""

    http: str | None
    https: str | None
    no_proxy: tuple[str, ...]

    @property
    def package_proxy(self) -> str:
        """The one proxy dnf takes (its ``proxy`` option serves every repository URL, and kgen's and the
        distributions' repositories are https): httpsProxy, else httpProxy."""
        return self.https or self.http or ""

    def environment(self) -> tuple[tuple[str, str], ...]:
        return environment(self)


def no_proxy_problem(entry: str) -> str | None:
    """Why ``entry`` cannot be a NO_PROXY entry, or None. Accepted: a host name, an IP address, a domain
    with a leading dot (``.example.com``, which matches every name under it) and a CIDR. Go's reader
    (golang/net http/httpproxy/proxy.go, config.init: CIDR, IP, domain and ".domain" entries; the
    runtimes, the kubelet, helm and rclone use it) and curl (7.86 and later for CIDRs) understand all
    four. ``*.example.com`` is refused: Go reads it as ``.example.com``, curl does not."""
    if "://" in entry:
        return "is a URL; NO_PROXY takes host names, IP addresses, domains such as .example.com and CIDRs"
    if entry.startswith("*."):
        return f"is a wildcard, which curl does not understand; write {entry[1:]} (it matches every name under it)"
    if entry.startswith("."):
        return None if _is_dns_name(entry[1:]) else "is not a domain such as .example.com"
    if "/" in entry:
        return _cidr_problem(entry)
    if _is_dns_name(entry) or _is_ip(entry):
        return None
    return "is neither a host name, an IP address, a domain such as .example.com nor a CIDR"


def _is_dns_name(name: str) -> bool:
    return bool(DNS_NAME.fullmatch(name)) and len(name) <= 253


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _cidr_problem(text: str) -> str | None:
    try:
        ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        return f"is not a CIDR ({exc})"
    return None


def compute_no_proxy(
    *,
    node_subnet: str | None,
    node_ips: Iterable[str],
    pod_subnet: str,
    service_subnet: str,
    endpoint_host: str,
    dns_domain: str,
    extra: Iterable[str] = (),
) -> tuple[str, ...]:
    """The NO_PROXY list, in this fixed order with later repeats dropped: localhost and 127.0.0.0/8; the
    node network (the node subnet when the config gives one, otherwise every fixed node IP, in config
    order); the pod and service ranges; the API endpoint's host; ``.svc`` and ``.<dnsDomain>`` (in-cluster
    names); the metadata service; then the user's additions. Pure: the same inputs give the same list."""
    nodes = [node_subnet] if node_subnet else list(node_ips)
    entries = [
        "localhost",
        "127.0.0.0/8",
        *nodes,
        pod_subnet,
        service_subnet,
        endpoint_host,
        ".svc",
        f".{dns_domain}",
        METADATA_ADDRESS,
        *extra,
    ]
    return tuple(dict.fromkeys(e for e in entries if e))


def settings(spec: Mapping[str, Any]) -> Proxy | None:
    """``spec.proxy`` from a validated spec with defaults filled in, or None when it is absent or sets
    neither proxy."""
    raw = spec.get("proxy")
    if not isinstance(raw, Mapping):
        return None
    http, https = raw.get("httpProxy"), raw.get("httpsProxy")
    if not http and not https:
        return None
    networking = spec["networking"]
    host = str(spec["controlPlane"]["endpoint"]).rpartition(":")[0]
    node_ips = [str(ipaddress.ip_address(n["ip"])) for n in spec["nodes"] if n.get("ip") is not None]
    subnet = networking.get("nodeSubnet")
    return Proxy(
        http=str(http) if http else None,
        https=str(https) if https else None,
        no_proxy=compute_no_proxy(
            node_subnet=str(ipaddress.ip_network(subnet)) if subnet else None,
            node_ips=node_ips,
            pod_subnet=str(ipaddress.ip_network(networking["podSubnet"])),
            service_subnet=str(ipaddress.ip_network(networking["serviceSubnet"])),
            endpoint_host=host,
            dns_domain=str(networking["dnsDomain"]),
            extra=[str(e) for e in raw.get("noProxy", [])],
        ),
    )


def environment(proxy: Proxy | None) -> tuple[tuple[str, str], ...]:
    """(name, value) for the proxy variables, upper and lower case (curl reads only lower-case
    ``http_proxy``; Go reads both; helm and rclone are Go programs). Empty when there is no proxy."""
    if proxy is None:
        return ()
    pairs: list[tuple[str, str]] = []
    for name, value in (
        ("HTTP_PROXY", proxy.http),
        ("HTTPS_PROXY", proxy.https),
        ("NO_PROXY", ",".join(proxy.no_proxy)),
    ):
        if value:
            pairs += [(name, value), (name.lower(), value)]
    return tuple(pairs)


def systemd_quote(assignment: str) -> str:
    """One double-quoted word of an ``Environment=`` line: ``%`` doubled (a specifier otherwise), and
    ``\\`` and ``"`` escaped (systemd.syntax, "Quoting"). Validation keeps such characters out of proxy
    values anyway; this keeps the unit correct whatever reaches it."""
    text = templating.unit_text(assignment).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def dropin_units(service: str) -> tuple[str, ...]:
    """The units that get the drop-in: the container runtime's service and the kubelet."""
    return (f"{service}.service", "kubelet.service")


def dropin_path(unit: str) -> str:
    return f"{UNIT_DIR}/{unit}.d/{DROPIN_NAME}"


def systemd_dropin(proxy: Proxy) -> str:
    """The drop-in: one ``Environment=`` line per variable, upper and lower case."""
    lines = [f"# Written by kgen {__version__} from spec.proxy. Re-render instead of editing.", "[Service]"]
    lines += [f"Environment={systemd_quote(f'{name}={value}')}" for name, value in environment(proxy)]
    return "\n".join(lines) + "\n"


def apt_string(value: str) -> str:
    """A double-quoted apt.conf value. apt.conf(5) has no escape for ``"`` inside a value, so one is a
    bug (validation refuses it before this point)."""
    if '"' in value or "\n" in value:
        raise ValueError(f"cannot be an apt.conf value: {value!r}")
    return f'"{value}"'


def apt_conf(proxy: Proxy) -> str:
    """``Acquire::http::Proxy`` and ``Acquire::https::Proxy`` (apt.conf(5), "THE ACQUIRE GROUP"), each
    only when its proxy is set, as the environment variables would be."""
    lines = [f"// Written by kgen {__version__} from spec.proxy. Re-render instead of editing."]
    if proxy.http:
        lines.append(f"Acquire::http::Proxy {apt_string(proxy.http)};")
    if proxy.https:
        lines.append(f"Acquire::https::Proxy {apt_string(proxy.https)};")
    return "\n".join(lines) + "\n"


def script_context(proxy: Proxy | None, service: str) -> dict[str, Any]:
    """What the node-preparation templates need for the proxy (``templates/prepare/_proxy_files.sh.j2``):
    the drop-ins for ``service`` and the kubelet, and the package manager's setting."""
    return {
        "proxy": proxy,
        "proxy_dropins": [(dropin_path(u), systemd_dropin(proxy)) for u in dropin_units(service)] if proxy else [],
        "proxy_units": list(dropin_units(service)),
        "proxy_apt_path": APT_CONF_PATH,
        "proxy_apt_conf": apt_conf(proxy) if proxy else "",
        "proxy_dnf_path": DNF_CONF_PATH,
    }
