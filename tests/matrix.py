"""The OS x Kubernetes matrix the node-preparation acceptance asks for, as in-memory clusters."""

from __future__ import annotations

import copy
from typing import Any

from generator import model
from generator.load import Document
from tests.conftest import EXAMPLES, parse_yaml

OS_NAMES = ["ubuntu-22.04", "ubuntu-24.04", "debian-12", "rocky-9", "almalinux-9"]
VERSIONS = ["1.30.14", "1.34.3"]


def base_config() -> dict[str, Any]:
    text = (EXAMPLES / "valid" / "runbook-single-control-plane" / "cluster.yaml").read_text(encoding="utf-8")
    data: dict[str, Any] = parse_yaml(text)
    return data


RUNTIMES = ["containerd", "cri-o"]


def cluster_for(
    os_name: str, version: str, *, mode: str = "install", cni: str = "calico", runtime: str = "containerd"
) -> model.Cluster:
    data = copy.deepcopy(base_config())
    data["spec"]["os"] = os_name
    data["spec"]["kubernetes"]["version"] = version
    data["spec"]["image"]["mode"] = mode
    data["spec"]["cni"] = {"plugin": cni}
    data["spec"]["runtime"] = {"name": runtime}
    return model.build(Document(file="matrix.yaml", data=data))
