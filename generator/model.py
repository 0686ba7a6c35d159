"""Stage 4: the validated, normalized config as typed values (defaults applied and versions resolved by
the normalize stage; nothing is parsed twice). Imports no later stage and not validate."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import field
from functools import cached_property
from typing import Any, Literal

from generator.load import Document
from generator.mirrors import NO_MIRRORS, Mirrors
from generator.mirrors import settings as mirror_settings
from generator.normalize import Normalized, normalize
from generator.proxy import Proxy
from generator.proxy import settings as proxy_settings
from generator.records import record
from generator.settings import (
    DEFAULT_RENEWAL,
    NO_REGISTRIES,
    CertificateRenewal,
    EtcdBackup,
    Registries,
    certificate_renewal_settings,
    etcd_backup_settings,
    registries_settings,
)
from generator.tables import Family, os_release
from generator.versions import (
    CniRelease,
    KubernetesRelease,
    Version,
    cni_release,
    kubernetes_release,
    runtime_table,
)

Role = Literal["control-plane", "worker"]


@record
class Taint:
    """A node taint."""

    key: str
    effect: str
    value: str | None = None


@record
class Node:
    """One node of the cluster, as the config names it."""

    name: str
    role: Role
    ip: str | None
    labels: tuple[tuple[str, str], ...]
    # None means "kubeadm's default" (the control-plane taint on control-plane nodes); () means none.
    taints: tuple[Taint, ...] | None
    pool: str | None = None

    @property
    def is_control_plane(self) -> bool:
        return self.role == "control-plane"


@record
class Cni:
    """The cluster's CNI plugin and its pinned release."""

    plugin: str
    release: CniRelease | None
    calico_pool_cidr: str
    calico_encapsulation: str

    @property
    def version(self) -> str | None:
        return self.release.version if self.release else None


@record
class Runtime:
    """The container runtime: its package version (a pin or a minor stream) and its CRI socket. Its label
    and service are its row of the version table (``runtimes``)."""

    name: str
    version: str
    socket: str
    repositories: tuple[tuple[str, str], ...] = ()  # (package format, URL) when the row has its own

    @property
    def label(self) -> str:
        return str(runtime_table(self.name)["label"])

    @property
    def service(self) -> str:
        return str(runtime_table(self.name)["service"])

    def repository(self, kind: str) -> str:
        return dict(self.repositories)[kind]


# --- settings of the add-ons ------------------------------------------------------------------------


@record
class LoadBalancer:
    """An Octavia load balancer in front of the API servers (spec.openstack.loadBalancer)."""

    enabled: bool
    vip_address: str | None
    subnet: str | None


@record
class OpenStack:
    """``spec.openstack``, defaults applied (the defaults live in the schema)."""

    image: str
    flavor: str
    network: str
    control_plane_flavor: str | None = None
    subnet: str | None = None
    key_name: str | None = None
    config_drive: bool = False
    floating_ip_network: str | None = None
    security_group_prefix: str | None = None
    ssh_allowed_cidr: str | None = None
    api_allowed_cidrs: tuple[str, ...] = ()  # empty: the API is open to 0.0.0.0/0
    node_subnet: str | None = None  # networking.nodeSubnet, which the kit adds to api_allowed_cidrs
    load_balancer: LoadBalancer = field(default_factory=lambda: LoadBalancer(False, None, None))
    cloud_provider: bool = False

    def prefix(self, cluster: Cluster) -> str:
        return self.security_group_prefix or cluster.name

    def flavor_for(self, node: Node) -> str:
        return (self.control_plane_flavor or self.flavor) if node.is_control_plane else self.flavor

    @property
    def load_balancer_subnet(self) -> str | None:
        return self.load_balancer.subnet or self.subnet


def openstack_settings(spec: Mapping[str, Any]) -> OpenStack | None:
    """``spec.openstack`` from a spec that :func:`generator.validate.with_defaults` filled in; None when
    the config has no ``openstack`` section (no kit is rendered)."""
    raw = spec.get("openstack")
    if raw is None:
        return None
    lb = raw["loadBalancer"]
    return OpenStack(
        image=raw["image"],
        flavor=raw["flavor"],
        network=raw["network"],
        control_plane_flavor=raw.get("controlPlaneFlavor"),
        subnet=raw.get("subnet"),
        key_name=raw.get("keyName"),
        config_drive=bool(raw["configDrive"]),
        floating_ip_network=raw.get("floatingIpNetwork"),
        security_group_prefix=raw.get("securityGroupPrefix"),
        ssh_allowed_cidr=raw.get("sshAllowedCidr"),
        api_allowed_cidrs=tuple(raw.get("apiAllowedCidrs", ())),
        node_subnet=spec["networking"].get("nodeSubnet"),
        load_balancer=LoadBalancer(
            enabled=bool(lb["enabled"]), vip_address=lb.get("vipAddress"), subnet=lb.get("subnet")
        ),
        cloud_provider=bool(raw["cloudProvider"]["enabled"]),
    )


@record
class BootstrapBounds:
    """How long bootstrap waits and how often it retries."""

    endpoint_wait_seconds: int
    join_attempts: int
    node_ready_timeout_seconds: int
    control_plane_join_stagger_seconds: int


@record
class Cluster:
    """The validated cluster: everything the later stages read."""

    name: str
    kubernetes_version: Version
    kubernetes: KubernetesRelease
    endpoint_host: str
    endpoint_port: int
    extra_cert_sans: tuple[str, ...]
    load_balancer: Literal["external", "kube-vip"]
    kube_vip_interface: str | None
    pod_subnet: str
    service_subnet: str
    dns_domain: str
    proxy_mode: str
    cni: Cni
    os: str
    image_mode: Literal["golden", "install"]
    token_ttl_seconds: int
    admin_user: str
    ssh_authorized_keys: tuple[str, ...]
    nodes: tuple[Node, ...]
    bounds: BootstrapBounds
    runtime: Runtime
    etcd_backup: EtcdBackup
    openstack: OpenStack | None
    # kgen-certs (issue 14): spec.certificates, the renewal timer on control-plane nodes.
    certificate_renewal: CertificateRenewal = DEFAULT_RENEWAL
    # spec.registries and spec.trustedCAs: mirrors, pull credentials file, extra CAs
    registries: Registries = NO_REGISTRIES
    # spec.proxy (with the computed NO_PROXY) and spec.mirrors (package repositories, downloads)
    proxy: Proxy | None = None
    mirrors: Mirrors = NO_MIRRORS

    @property
    def cri_socket(self) -> str:
        return self.runtime.socket

    @property
    def endpoint(self) -> str:
        return f"{self.endpoint_host}:{self.endpoint_port}"

    @property
    def os_family(self) -> Family:
        return os_release(self.os).family

    # Derived node lists are computed once per Cluster (cached_property writes the instance __dict__,
    # which a frozen dataclass allows): plan and kubeadm ask for them for every node, and rebuilding
    # them each time made rendering quadratic in the node count.
    @cached_property
    def control_planes(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if n.is_control_plane)

    @cached_property
    def first_control_plane(self) -> Node:
        return self.control_planes[0]

    @cached_property
    def workers(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if not n.is_control_plane)


_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_duration(text: str) -> int:
    """``24h``, ``90m``, ``2h30m``, ``0`` -> seconds."""
    if text == "0":
        return 0
    match = _DURATION.fullmatch(text)
    if not match or not text:
        raise ValueError(f"not a duration: {text!r}")
    hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def go_duration(seconds: int) -> str:
    """Seconds -> the form Go's time.Duration prints (``24h0m0s``), which kubeadm reads back."""
    if seconds == 0:
        return "0s"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def _taints(raw: Any) -> tuple[Taint, ...] | None:
    if raw is None:
        return None
    return tuple(Taint(key=t["key"], effect=t["effect"], value=t.get("value")) for t in raw)


def _labels(raw: Any) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((str(k), str(v)) for k, v in (raw or {}).items()))


def _runtime(spec: dict[str, Any], kubernetes: KubernetesRelease) -> Runtime:
    """The runtime's row (``runtimes.<name>``) says how its version follows Kubernetes: one release line a
    minor (the default is the minor) or pinned by the Kubernetes row (its containerd package)."""
    wanted = spec["runtime"]
    row = runtime_table(wanted["name"])
    default = kubernetes.minor if row["versions"] == "kubernetes-minor" else kubernetes.containerd_package
    version = str(wanted.get("version", default)).lstrip("v")
    repositories = tuple(
        (kind, str(row[kind]).format(minor=kubernetes.minor)) for kind in ("deb", "rpm") if kind in row
    )
    return Runtime(name=wanted["name"], version=version, socket=str(row["socket"]), repositories=repositories)


def build(source: Normalized | Document) -> Cluster:
    """Turn a normalized config that :func:`generator.validate.validate` passed into a :class:`Cluster`
    (a loaded document is normalized first)."""
    normalized = source if isinstance(source, Normalized) else normalize(source)
    data = normalized.data
    spec: dict[str, Any] = data["spec"]
    if normalized.kubernetes_version is None or normalized.endpoint is None:
        raise ValueError("the config did not pass validation")  # validate reports both
    version = normalized.kubernetes_version
    host, port = normalized.endpoint
    networking = spec["networking"]
    pod_subnet = str(ipaddress.ip_network(networking["podSubnet"]))
    cni_spec = spec["cni"]
    plugin = cni_spec["plugin"]
    by_name = {n["name"]: n for n in spec["nodes"]}
    pools = {p["name"]: p for p in spec["workerPools"]}
    nodes = []
    for expanded in normalized.nodes:  # pools were expanded once, by the normalize stage
        raw = by_name[expanded.name] if expanded.pool is None else pools[expanded.pool]
        ip = raw.get("ip") if expanded.pool is None else None
        nodes.append(
            Node(
                name=expanded.name,
                role="worker" if expanded.pool is not None else raw["role"],
                ip=str(ipaddress.ip_address(ip)) if ip is not None else None,
                labels=_labels(raw["labels"]),
                taints=_taints(raw.get("taints")),
                pool=expanded.pool,
            )
        )
    # The first control-plane node in the file runs `kubeadm init`; keep it first.
    nodes.sort(key=lambda n: 0 if n.is_control_plane else 1)
    bootstrap = spec["bootstrap"]
    kubernetes = kubernetes_release(version.minor_key)
    return Cluster(
        name=data["metadata"]["name"],
        kubernetes_version=version,
        kubernetes=kubernetes,
        endpoint_host=host,
        endpoint_port=port,
        extra_cert_sans=tuple(spec["controlPlane"]["certSANs"]),
        load_balancer=spec["controlPlane"]["loadBalancer"],
        kube_vip_interface=spec["controlPlane"]["kubeVip"].get("interface"),
        pod_subnet=pod_subnet,
        service_subnet=str(ipaddress.ip_network(networking["serviceSubnet"])),
        dns_domain=networking["dnsDomain"],
        proxy_mode=networking["proxyMode"],
        cni=Cni(
            plugin=plugin,
            release=cni_release(plugin) if plugin != "none" else None,
            calico_pool_cidr=cni_spec["calico"].get("ipPoolCIDR", pod_subnet),
            calico_encapsulation=str(normalized.calico_encapsulation),
        ),
        os=spec["os"],
        image_mode=spec["image"]["mode"],
        token_ttl_seconds=parse_duration(spec["bootstrapToken"]["ttl"]),
        admin_user=spec["admin"]["user"],
        ssh_authorized_keys=tuple(spec["admin"]["sshAuthorizedKeys"]),
        nodes=tuple(nodes),
        bounds=BootstrapBounds(
            endpoint_wait_seconds=bootstrap["endpointWaitSeconds"],
            join_attempts=bootstrap["joinAttempts"],
            node_ready_timeout_seconds=bootstrap["nodeReadyTimeoutSeconds"],
            control_plane_join_stagger_seconds=bootstrap["controlPlaneJoinStaggerSeconds"],
        ),
        runtime=_runtime(spec, kubernetes),
        etcd_backup=etcd_backup_settings(spec),
        openstack=openstack_settings(spec),
        certificate_renewal=certificate_renewal_settings(spec),
        registries=registries_settings(spec),
        proxy=proxy_settings(spec),
        mirrors=mirror_settings(spec),
    )
