"""Node preparation, rendered once from the cluster config and used twice: at first boot of a stock
image (``image.mode: install``) and when Packer bakes a golden image.

Two phases, each a standalone script: ``install`` (needs the network: repositories and pinned
packages, CNI manifests) and ``configure`` (no network: swap, SELinux, kernel modules, sysctls,
containerd and crictl config, kubelet, firewall, and the block that keeps pods away from the cloud
metadata service)."""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass
from typing import Any

import tomli_w

from generator import __version__, etcd_backup, mirrors, proxy, templating, yamldump
from generator.cni import CniAssets, assets
from generator.model import OS_RELEASES, Cluster
from generator.resources import load_data
from generator.versions import Download

INSTALL_PATH = "/usr/local/lib/kgen/node-install.sh"
CONFIGURE_PATH = "/usr/local/lib/kgen/node-configure.sh"
IMAGE_MANIFEST = "/etc/kgen/image.json"

# The cloud metadata service: OpenStack Nova's, at the address EC2 made common. Nova serves a server's
# user-data there for the server's whole life.
METADATA_ADDRESS = "169.254.169.254"
METADATA_TABLE = "kgen_metadata"
METADATA_RULES_PATH = "/etc/kgen/nftables/metadata-block.nft"
METADATA_UNIT = "kgen-metadata-block.service"
METADATA_UNIT_PATH = f"/etc/systemd/system/{METADATA_UNIT}"


@dataclass(frozen=True)
class Phase:
    name: str
    path: str
    script: str


def containerd_config(cluster: Cluster, major: int) -> str:
    """A complete /etc/containerd/config.toml for containerd ``major`` (1 -> config version 2,
    2 -> version 3), emitted from data. SystemdCgroup must be set explicitly: containerd's default is
    false, and with containerd 2.x the kubelet (1.31+) takes its cgroup driver from it
    (https://kubernetes.io/docs/setup/production-environment/container-runtimes/#containerd-systemd).
    The sandbox image is the pause image kubeadm uses for this Kubernetes version, so kubeadm's
    preflight does not warn and no other pause image is pulled at bootstrap."""
    pause = cluster.kubernetes.pause_image
    runc = {"runtime_type": "io.containerd.runc.v2", "options": {"SystemdCgroup": True}}
    data: dict[str, Any]
    if major == 1:
        data = {
            "version": 2,
            "plugins": {
                "io.containerd.grpc.v1.cri": {
                    "sandbox_image": pause,
                    "containerd": {"default_runtime_name": "runc", "runtimes": {"runc": runc}},
                }
            },
        }
    else:
        data = {
            "version": 3,
            "plugins": {
                "io.containerd.cri.v1.images": {"pinned_images": {"sandbox": pause}},
                "io.containerd.cri.v1.runtime": {
                    "containerd": {"default_runtime_name": "runc", "runtimes": {"runc": runc}}
                },
            },
        }
    text = tomli_w.dumps(data)
    return f"# Written by kgen {__version__} for containerd {major}.x. Re-render instead of editing.\n" + text


CRIO_DROPIN_PATH = "/etc/crio/crio.conf.d/10-kgen.conf"


def crio_dropin(cluster: Cluster) -> str:
    """The CRI-O drop-in: the systemd cgroup manager (the kubelet uses systemd too) and kubeadm's
    pause image (https://github.com/cri-o/cri-o/blob/main/docs/crio.conf.5.md)."""
    data = {
        "crio": {"runtime": {"cgroup_manager": "systemd"}, "image": {"pause_image": cluster.kubernetes.pause_image}}
    }
    return f"# Written by kgen {__version__}. Re-render instead of editing.\n" + tomli_w.dumps(data)


def crictl_config(cluster: Cluster) -> str:
    return yamldump.dump({"runtime-endpoint": cluster.cri_socket, "image-endpoint": cluster.cri_socket, "timeout": 10})


def firewall_ports(cluster: Cluster) -> dict[str, list[dict[str, str]]]:
    ports = load_data("ports.yaml")
    cni = ports["cni"].get(cluster.cni.plugin, [])
    return {role: [*ports["roles"][role], *cni] for role in ("control-plane", "worker")}


@dataclass(frozen=True)
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


def install_script(cluster: Cluster) -> str:
    release = OS_RELEASES[cluster.os]
    cni: CniAssets | None = assets(cluster)
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
        docker_distro=release.docker_distro,
        codename=release.codename,
        cni=cni,
        helm=helm,
        image_manifest_path=IMAGE_MANIFEST,
        image_manifest=image_manifest(cluster),
        # hook (issue 14): rclone for etcdBackup.remote, from the distribution (EPEL on EL9)
        rclone=etcd_backup.needs_rclone(cluster.etcd_backup),
        # hooks (issue 15): package repositories (or their mirrors), spec.proxy
        repos=mirrors.repositories(cluster),
        **proxy.script_context(cluster.proxy, cluster.runtime.service),
    )


def configure_script(cluster: Cluster) -> str:
    return templating.render(
        "prepare/configure.sh.j2",
        kgen_version=__version__,
        cluster=cluster,
        runtime=cluster.runtime,
        containerd_configs={1: containerd_config(cluster, 1), 2: containerd_config(cluster, 2)},
        crio_dropin=crio_dropin(cluster),
        crio_dropin_path=CRIO_DROPIN_PATH,
        crictl_yaml=crictl_config(cluster),
        firewall=firewall_ports(cluster),
        metadata=metadata_block(),
        **proxy.script_context(cluster.proxy, cluster.runtime.service),  # hook (issue 15): spec.proxy
    )


def phases(cluster: Cluster) -> list[Phase]:
    """The preparation phases a node's first boot runs before kubeadm: install only for stock images.
    The same for every node (the configure phase takes the node's role as its argument)."""
    out = [Phase("configure", CONFIGURE_PATH, configure_script(cluster))]
    if cluster.image_mode == "install":
        out.insert(0, Phase("install", INSTALL_PATH, install_script(cluster)))
    return out


def image_manifest_fields(cluster: Cluster) -> list[tuple[str, str, str]]:
    """(label, key in /etc/kgen/image.json, value) that a golden image must match."""
    cni = f"{cluster.cni.plugin} {cluster.cni.version}" if cluster.cni.version else "none"
    return [
        ("OS", "os", cluster.os),
        ("Kubernetes", "kubernetesVersion", str(cluster.kubernetes_version)),
        ("container runtime", "runtime", cluster.runtime.name),
        (cluster.runtime.label, "runtimeVersion", cluster.runtime.version),
        ("CNI", "cni", cni),
    ]


def image_manifest(cluster: Cluster, images: list[str] | None = None) -> str:
    """The JSON the install phase (and the bake) writes to /etc/kgen/image.json."""
    data: dict[str, Any] = {key: value for _, key, value in image_manifest_fields(cluster)}
    data["builtBy"] = f"kgen {__version__}"
    if images is not None:
        data["images"] = images
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def image_guard(cluster: Cluster) -> list[tuple[str, str, str]]:
    return image_manifest_fields(cluster) if cluster.image_mode == "golden" else []
