"""Node preparation, rendered once from the cluster config and used twice: at first boot of a stock
image (``image.mode: install``) and when Packer bakes a golden image.

Two phases, each a standalone script: ``install`` (needs the network: repositories and pinned
packages, CNI manifests) and ``configure`` (no network: swap, SELinux, kernel modules, sysctls,
containerd and crictl config, kubelet, firewall, and the block that keeps pods away from the cloud
metadata service)."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from typing import Any

from generator import __version__, etcd_backup, guest, mirrors, proxy, registries, runtimes, templating, yamldump
from generator.cni import CniAssets, assets
from generator.model import Cluster
from generator.records import record
from generator.tables import os_release, ports_by_role
from generator.versions import Download, table

INSTALL_PATH = guest.INSTALL_PATH
CONFIGURE_PATH = guest.CONFIGURE_PATH
IMAGE_MANIFEST = guest.IMAGE_MANIFEST

# The cloud metadata service: OpenStack Nova's, at the address EC2 made common. Nova serves a server's
# user-data there for the server's whole life.
METADATA_ADDRESS = guest.METADATA_ADDRESS
METADATA_TABLE = "kgen_metadata"
METADATA_RULES_PATH = guest.METADATA_RULES_PATH
METADATA_UNIT = guest.METADATA_UNIT
METADATA_UNIT_PATH = guest.METADATA_UNIT_PATH


@record
class Phase:
    """A preparation script the first boot runs as ``path ROLE *args``."""

    name: str
    path: str
    script: str
    args: tuple[str, ...] = ()


def crictl_config(cluster: Cluster) -> str:
    return yamldump.dump({"runtime-endpoint": cluster.cri_socket, "image-endpoint": cluster.cri_socket, "timeout": 10})


def firewall_ports(cluster: Cluster) -> dict[str, list[dict[str, str]]]:
    return {role: list(rows) for role, rows in ports_by_role(cluster.cni.plugin).items()}


@record
class MetadataBlock:
    """The nftables block that drops pod (forwarded) traffic to the metadata service, and the systemd
    unit that loads it at boot."""

    address: str
    table: str
    rules_path: str
    unit_name: str
    unit_path: str
    ruleset: str
    unit: str


def metadata_ruleset() -> str:
    """The nft file: a table of kgen's own with one base chain on the forward hook. Its names reach
    nft unquoted, so they are checked here."""
    address = ipaddress.IPv4Address(METADATA_ADDRESS)
    if not re.fullmatch(r"[a-z][a-z0-9_]*", METADATA_TABLE):
        raise ValueError(f"not an nft identifier: {METADATA_TABLE!r}")
    return templating.render(
        "prepare/metadata-block.nft.j2",
        kgen_version=__version__,
        address=str(address),
        table=METADATA_TABLE,
        unit=METADATA_UNIT,
    )


def metadata_unit() -> str:
    return templating.render(
        "prepare/kgen-metadata-block.service.j2",
        kgen_version=__version__,
        address=METADATA_ADDRESS,
        rules_path=METADATA_RULES_PATH,
    )


def metadata_block() -> MetadataBlock:
    return MetadataBlock(
        address=METADATA_ADDRESS,
        table=METADATA_TABLE,
        rules_path=METADATA_RULES_PATH,
        unit_name=METADATA_UNIT,
        unit_path=METADATA_UNIT_PATH,
        ruleset=metadata_ruleset(),
        unit=metadata_unit(),
    )


def install_script(cluster: Cluster, cni: CniAssets | None = None, configure: str | None = None) -> str:
    """``cni``: the plan's assets (computed once per cluster); looked up when a test calls this alone.
    ``configure``: the rendered configure script, whose digest the image manifest records."""
    release = os_release(cluster.os)
    cni = cni if cni is not None else assets(cluster)
    helm = cluster.cni.release.extra.get("helm") if cluster.cni.release and cluster.cni.plugin == "cilium" else None
    if helm is not None:
        pinned = Download.of(helm)  # the same https + 64-hex check as every other pinned download
        # restricted networks (issue 15): the download mirror serves the same pinned file
        helm = {**helm, "url": mirrors.download(cluster.mirrors, pinned).url}
    return templating.render(
        f"prepare/install-{cluster.os_family}.sh.j2",
        kgen_version=__version__,
        cluster=cluster,
        kubernetes_minor=cluster.kubernetes.minor,
        runtime=cluster.runtime,
        # the runtime's sections of the script (generator/runtimes/base.py)
        runtime_install=runtimes.plugin(cluster.runtime.name).piece(f"install-{cluster.os_family}.sh.j2"),
        docker_distro=release.docker_distro,
        codename=release.codename,
        os_release=release,
        cni=cni,
        helm=helm,
        image_manifest_path=IMAGE_MANIFEST,
        image_manifest=image_manifest(cluster, configure=configure),
        # rclone for etcdBackup.remote, from the distribution (EPEL on EL9)
        rclone=etcd_backup.needs_rclone(cluster.etcd_backup),
        # hooks (issue 15): package repositories (or their mirrors), spec.proxy
        repos=repositories(cluster),
        **proxy.script_context(cluster.proxy, cluster.runtime.service),
    )


def configure_script(cluster: Cluster) -> str:
    plugin = runtimes.plugin(cluster.runtime.name)
    return templating.render(
        "prepare/configure.sh.j2",
        kgen_version=__version__,
        cluster=cluster,
        runtime=cluster.runtime,
        runtime_plugin=plugin.configure(cluster),
        crictl_yaml=crictl_config(cluster),
        firewall=firewall_ports(cluster),
        metadata=metadata_block(),
        # trusted CAs and registry mirrors (templates/prepare/_registries.sh.j2)
        registries=registries.configure_context(
            cluster.registries, cluster.os_family, plugin.registry_files(cluster.registries, cluster.os_family)
        ),
        **proxy.script_context(cluster.proxy, cluster.runtime.service),  # spec.proxy
    )


@record
class Scripts:
    """The two preparation scripts, rendered once per cluster: a stock image's first boot runs them
    (:func:`phases`) and the Packer project bakes the very same text."""

    install: str
    configure: str


def scripts(cluster: Cluster, cni: CniAssets | None) -> Scripts:
    configure = configure_script(cluster)
    return Scripts(install=install_script(cluster, cni, configure), configure=configure)


def phases(cluster: Cluster, rendered: Scripts | None = None) -> list[Phase]:
    """The preparation phases a node's first boot runs before kubeadm. A stock image runs install and
    the whole configure phase. A golden image ran both in the bake (its manifest records the configure
    script's SHA-256, which the image guard checks), so its first boot runs only the configure
    phase's per-node part (``--node-only``: the role's firewall ports, swap the instance brought),
    touches no network and restarts nothing. The same for every node (the role is the argument)."""
    rendered = rendered if rendered is not None else scripts(cluster, assets(cluster))
    if cluster.image_mode == "golden":
        return [Phase("configure", CONFIGURE_PATH, rendered.configure, ("--node-only",))]
    return [Phase("install", INSTALL_PATH, rendered.install), Phase("configure", CONFIGURE_PATH, rendered.configure)]


def configure_digest(configure: str) -> str:
    """The SHA-256 of the configure script, as the bake records it and a golden first boot checks it."""
    return hashlib.sha256(configure.encode()).hexdigest()


def image_manifest_fields(cluster: Cluster, configure: str | None = None) -> list[tuple[str, str, str]]:
    """(label, key in /etc/kgen/image.json, value) that a golden image must match. The last is the
    configure script the bake ran: a golden first boot skips that work, so it must be this very
    script (it names the kgen version, so another kgen's image is refused too).
    ``configure``: the rendered script (rendered here when not given)."""
    cni = f"{cluster.cni.plugin} {cluster.cni.version}" if cluster.cni.version else "none"
    configure = configure if configure is not None else configure_script(cluster)
    return [
        ("OS", "os", cluster.os),
        ("Kubernetes", "kubernetesVersion", str(cluster.kubernetes_version)),
        ("container runtime", "runtime", cluster.runtime.name),
        (cluster.runtime.label, "runtimeVersion", cluster.runtime.version),
        ("CNI", "cni", cni),
        ("node-configure.sh SHA-256", "configureSha256", configure_digest(configure)),
    ]


def image_manifest(cluster: Cluster, images: list[str] | None = None, configure: str | None = None) -> str:
    """The JSON the install phase (and the bake) writes to /etc/kgen/image.json."""
    data: dict[str, Any] = {key: value for _, key, value in image_manifest_fields(cluster, configure)}
    data["builtBy"] = f"kgen {__version__}"
    if images is not None:
        data["images"] = images
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


@record
class GuardField:
    """One check of the image guard: the manifest must hold ``line`` (json.dumps with indent, as
    :func:`image_manifest` writes it), so the first boot compares without a process."""

    label: str
    key: str
    expected: str

    @property
    def line(self) -> str:
        return f"{json.dumps(self.key)}: {json.dumps(self.expected)}"


def image_guard(cluster: Cluster, configure: str | None = None) -> list[GuardField]:
    if cluster.image_mode != "golden":
        return []
    return [GuardField(*field) for field in image_manifest_fields(cluster, configure)]


# --- package repositories -----------------------------------------------------------------------------


@record
class Repositories:
    """The cluster's two package repositories for the node's package format."""

    kubernetes: mirrors.Repository
    runtime: mirrors.Repository


def _upstream_repository(name: str, kind: str, minor: str, distro: str) -> tuple[str, str]:
    entry = table()["packageRepositories"][name][kind]
    return entry["url"].format(minor=minor, distro=distro), entry["key"].format(minor=minor, distro=distro)


def repositories(cluster: Cluster) -> Repositories:
    kind = "deb" if cluster.os_family == "debian" else "rpm"
    minor = cluster.kubernetes.minor
    distro = os_release(cluster.os).docker_distro
    kubernetes = mirrors.repository(
        cluster.mirrors, "kubernetes", *_upstream_repository("kubernetes", kind, minor, distro)
    )
    runtime = mirrors.repository(cluster.mirrors, *runtimes.plugin(cluster.runtime.name).repository(cluster, kind))
    return Repositories(kubernetes=kubernetes, runtime=runtime)
