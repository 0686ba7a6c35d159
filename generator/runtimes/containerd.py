"""containerd (Docker's containerd.io package): a complete config.toml for the installed major version."""

from __future__ import annotations

from typing import Any

import tomli_w

from generator import __version__, registries
from generator.model import Cluster
from generator.runtimes.base import RuntimePlugin
from generator.tables import os_release
from generator.versions import table


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
    # config_path for the hosts.toml mirrors, and the pull-credentials import (generator/registries.py)
    top, registry = registries.containerd_registry_section(cluster.registries, major)
    data = {**top, **data}
    data["plugins"].setdefault(registries.cri_registry_plugin(major), {})["registry"] = registry
    text = tomli_w.dumps(data)
    return f"# Written by kgen {__version__} for containerd {major}.x. Re-render instead of editing.\n" + text


def values(cluster: Cluster) -> dict[str, Any]:
    return {
        "containerd_configs": {1: containerd_config(cluster, 1), 2: containerd_config(cluster, 2)},
        # registry_credentials MAJOR (configure.sh.j2): the credentials TOML and its CRI plugin per major
        "auth_path": registries.CONTAINERD_AUTH_PATH,
        "cri_plugins": registries.CRI_REGISTRY_PLUGIN,
    }


def repository(cluster: Cluster, kind: str) -> tuple[str, str, str]:
    """Docker's repository (``packageRepositories.docker``): the distribution's containerd is too old."""
    entry = table()["packageRepositories"]["docker"][kind]
    minor, distro = cluster.kubernetes.minor, os_release(cluster.os).docker_distro
    return "docker", entry["url"].format(minor=minor, distro=distro), entry["key"].format(minor=minor, distro=distro)


PLUGIN = RuntimePlugin(
    name="containerd",
    package="containerd.io",
    values=values,
    repository=repository,
    registry_files=registries.containerd_files,
    credentials_function=True,
)
