"""containerd config: the 1.x file is parsed by the real containerd binary (Debian's); the 2.x file
is checked key by key with a TOML parser."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import pytest

from generator import prepare
from generator.runtimes import containerd as containerd_runtime
from tests.conftest import require_tool
from tests.matrix import VERSIONS, cluster_for


@pytest.mark.parametrize("version", VERSIONS)
def test_containerd_1x_config_parses_with_real_containerd(version: str, tmp_path: Path) -> None:
    containerd = require_tool("containerd", reason="Debian package containerd")
    cluster = cluster_for("debian-12", version)
    config = tmp_path / "config.toml"
    config.write_text(containerd_runtime.containerd_config(cluster, 1), encoding="utf-8")
    result = subprocess.run(
        [containerd, "--config", str(config), "config", "dump"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    dump = result.stdout
    assert re.search(r"^\s*SystemdCgroup = true$", dump, re.MULTILINE), dump
    assert f'sandbox_image = "{cluster.kubernetes.pause_image}"' in dump
    assert 'disabled_plugins = ["io.containerd.grpc.v1.cri"]' not in dump and 'disabled_plugins = ["cri"]' not in dump


@pytest.mark.parametrize("version", VERSIONS)
def test_containerd_2x_config_has_exact_keys(version: str) -> None:
    cluster = cluster_for("ubuntu-24.04", version)
    data = tomllib.loads(containerd_runtime.containerd_config(cluster, 2))
    assert data == {
        "version": 3,
        "plugins": {
            "io.containerd.cri.v1.images": {
                "pinned_images": {"sandbox": cluster.kubernetes.pause_image},
                # issue 15: hosts.toml mirrors (containerd docs/hosts.md, "CRI", 2.x)
                "registry": {"config_path": "/etc/containerd/certs.d"},
            },
            "io.containerd.cri.v1.runtime": {
                "containerd": {
                    "default_runtime_name": "runc",
                    "runtimes": {"runc": {"runtime_type": "io.containerd.runc.v2", "options": {"SystemdCgroup": True}}},
                }
            },
        },
    }


def test_pause_image_follows_kubeadm() -> None:
    assert cluster_for("debian-12", "1.30.14").kubernetes.pause_image == "registry.k8s.io/pause:3.9"
    assert cluster_for("debian-12", "1.34.3").kubernetes.pause_image == "registry.k8s.io/pause:3.10.1"


def test_configure_script_embeds_both_configs_and_picks_by_installed_major() -> None:
    cluster = cluster_for("ubuntu-24.04", "1.34.3")
    script = prepare.configure_script(cluster)
    assert containerd_runtime.containerd_config(cluster, 1) in script
    assert containerd_runtime.containerd_config(cluster, 2) in script
    assert "version=$(containerd --version" in script
