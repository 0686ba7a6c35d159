"""Every shell script kgen renders passes shellcheck (real binary), starts with strict mode, and
for node preparation: every supported OS at Kubernetes 1.30 and 1.34."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator import prepare
from tests.conftest import Rendered, shellcheck, user_data_scripts, valid_cases
from tests.matrix import OS_NAMES, VERSIONS, cluster_for


@pytest.mark.parametrize("case", valid_cases(), ids=lambda p: p.name)
def test_user_data_scripts_pass_shellcheck(case: Path, rendered_valid: dict[str, Rendered], tmp_path: Path) -> None:
    rendered = rendered_valid[case.name]
    scripts: dict[str, str] = {}
    for node_dir in rendered.node_dirs():
        for path, text in user_data_scripts(rendered.user_data(node_dir.name)):
            scripts[f"{node_dir.name}{path}"] = text
            assert "\nset -euo pipefail\n" in text, f"{path} lacks strict mode"
    assert any(name.endswith("/usr/local/sbin/kgen-bootstrap") for name in scripts)
    shellcheck(scripts, tmp_path)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("os_name", OS_NAMES)
@pytest.mark.parametrize(
    ("cni", "runtime"), [("calico", "containerd"), ("cilium", "containerd"), ("flannel", "cri-o"), ("none", "cri-o")]
)
def test_prepare_scripts_pass_shellcheck(os_name: str, version: str, cni: str, runtime: str, tmp_path: Path) -> None:
    cluster = cluster_for(os_name, version, mode="install", cni=cni, runtime=runtime)
    shellcheck(
        {"install.sh": prepare.install_script(cluster), "configure.sh": prepare.configure_script(cluster)}, tmp_path
    )


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("os_name", OS_NAMES)
def test_install_script_pins_exact_versions(os_name: str, version: str) -> None:
    cluster = cluster_for(os_name, version)
    script = prepare.install_script(cluster)
    minor = version.rsplit(".", 1)[0]
    assert f"https://pkgs.k8s.io/core:/stable:/v{minor}/" in script
    assert "packages.cloud.google.com" not in script and "apt.kubernetes.io" not in script
    containerd = cluster.kubernetes.containerd_package
    if cluster.os_family == "debian":
        assert '"kubeadm=${KUBERNETES_VERSION}-*"' in script  # revision glob, not a hard-coded -1.1
        assert "=${KUBERNETES_VERSION}-1.1" not in script
        assert "apt-mark hold kubelet kubeadm kubectl containerd.io" in script
        assert "/etc/apt/keyrings/kubernetes-apt-keyring.asc" in script
        assert '"containerd.io=${CONTAINERD_VERSION}-*"' in script
    else:
        assert "exclude=kubelet kubeadm kubectl cri-tools kubernetes-cni" in script
        assert "--disableexcludes=kubernetes" in script
        assert '"containerd.io-${CONTAINERD_VERSION}"' in script
    assert f"readonly CONTAINERD_VERSION={containerd}" in script
    assert f"readonly KUBERNETES_VERSION={version}" in script


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("os_name", OS_NAMES)
def test_crio_install_script_uses_crio_repository_for_the_minor(os_name: str, version: str) -> None:
    cluster = cluster_for(os_name, version, runtime="cri-o")
    script = prepare.install_script(cluster)
    minor = version.rsplit(".", 1)[0]
    repo = f"https://download.opensuse.org/repositories/isv:/cri-o:/stable:/v{minor}/"
    assert repo in script
    assert "containerd" not in script and "download.docker.com" not in script
    if cluster.os_family == "debian":
        assert f"'cri-o={minor}.*'" in script
        assert "apt-mark hold kubelet kubeadm kubectl cri-o" in script
    else:
        assert "exclude=cri-o" in script and f"'cri-o-{minor}.*'" in script
        assert "dnf install -y container-selinux" in script


@pytest.mark.parametrize("os_name", OS_NAMES)
def test_configure_script_selinux_only_on_rhel(os_name: str) -> None:
    script = prepare.configure_script(cluster_for(os_name, "1.34.3"))
    assert ("setenforce 0" in script) == os_name.startswith(("rocky", "almalinux"))
