"""CRI-O (the isv:cri-o packages): a drop-in with the systemd cgroup manager and kubeadm's pause image."""

from __future__ import annotations

from typing import Any

import tomli_w

from generator import __version__, guest, registries
from generator.model import Cluster
from generator.registries import NodeFile
from generator.runtimes.base import RuntimePlugin
from generator.settings import Registries
from generator.tables import Family

CRIO_DROPIN_PATH = guest.CRIO_DROPIN_PATH


def crio_dropin(cluster: Cluster) -> str:
    """The CRI-O drop-in: the systemd cgroup manager (the kubelet uses systemd too) and kubeadm's
    pause image (https://github.com/cri-o/cri-o/blob/main/docs/crio.conf.5.md)."""
    data = {
        "crio": {"runtime": {"cgroup_manager": "systemd"}, "image": {"pause_image": cluster.kubernetes.pause_image}}
    }
    return f"# Written by kgen {__version__}. Re-render instead of editing.\n" + tomli_w.dumps(data)


def values(cluster: Cluster) -> dict[str, Any]:
    return {"crio_dropin": crio_dropin(cluster), "crio_dropin_path": CRIO_DROPIN_PATH}


def repository(cluster: Cluster, kind: str) -> tuple[str, str, str]:
    """``runtimes.cri-o`` in the version table, one repository a minor; the key sits in the repository
    (cri-o/packaging README)."""
    url = cluster.runtime.repository(kind)
    return "crio", url, f"{url}Release.key" if kind == "deb" else f"{url}repodata/repomd.xml.key"


def registry_files(config: Registries, os_family: Family) -> list[NodeFile]:
    return registries.crio_files(config)  # CRI-O reads the same files on every family


PLUGIN = RuntimePlugin(
    name="cri-o", package="cri-o", values=values, repository=repository, registry_files=registry_files
)
