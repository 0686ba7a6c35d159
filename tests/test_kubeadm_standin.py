"""The kubeadm stand-in (tests/boot/standins/kubeadm.py) keeps node state the way kubeadm does, since
the first-boot script's reset-and-retry logic is only as honest as the stand-in it runs against:
``reset -f`` empties what kubeadm owns, init mints a CA only when there is none, init's preflight
refuses a half-finished init, and a control-plane join without a certificateKey needs the shared
certificates. Run outside any sandbox: ``KGEN_STANDIN_ROOT`` prefixes every path the stand-in uses."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from generator import secrets
from tests.conftest import EXAMPLES, Rendered, fixture_bundle, render_config, require_tool
from tests.sandbox import run_host_kubeadm

PKI = "etc/kubernetes/pki"


def shared_files(bundle: secrets.SecretsBundle) -> dict[str, str]:
    return {
        "ca.crt": bundle.ca.certificate,
        "ca.key": bundle.ca.key,
        "etcd/ca.crt": bundle.etcd_ca.certificate,
        "etcd/ca.key": bundle.etcd_ca.key,
        "front-proxy-ca.crt": bundle.front_proxy_ca.certificate,
        "front-proxy-ca.key": bundle.front_proxy_ca.key,
        "sa.pub": bundle.service_account_pub,
        "sa.key": bundle.service_account_key,
    }


# Session scope for one module's read-only fixture: see tests/schedule.py on module scope.
@pytest.fixture(scope="session")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    return render_config(EXAMPLES / "valid" / "ha-three-control-planes" / "cluster.yaml", tmp_path_factory.mktemp("r"))


def kubeadm(root: Path, *args: str, env: str = "") -> subprocess.CompletedProcess[str]:
    require_tool("openssl", reason="the stand-in makes and hashes certificates with it")
    (root / "etc").mkdir(parents=True, exist_ok=True)
    (root / "etc" / "kgen-standin.env").write_text(f"STANDIN_VERSION=v1.32.11\n{env}", encoding="utf-8")
    return run_host_kubeadm(root, *args)


def put_shared_pki(root: Path, skip: str | None = None) -> None:
    for name, content in shared_files(fixture_bundle()).items():
        if name != skip:
            path = root / PKI / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")


def config(rendered: Rendered, node: str) -> str:
    return str(rendered.root / "nodes" / node / "kubeadm.yaml")


# What kubeadm reset removes (cmd/kubeadm/app/cmd/phases/reset/cleanupnode.go, removeetcdmember.go) and
# what it leaves alone.
RESET_REMOVES = [
    f"{PKI}/ca.crt",
    f"{PKI}/etcd/ca.key",
    f"{PKI}/apiserver.crt",
    *(
        f"etc/kubernetes/{name}"
        for name in (
            "admin.conf",
            "super-admin.conf",
            "kubelet.conf",
            "bootstrap-kubelet.conf",
            "controller-manager.conf",
            "scheduler.conf",
        )
    ),
    "etc/kubernetes/manifests/kube-apiserver.yaml",
    "etc/kubernetes/manifests/kube-vip.yaml",
    "var/lib/etcd/member/snap/db",
    "var/lib/kubelet/config.yaml",
    "var/lib/kubelet/pki/kubelet-client-current.pem",
]
RESET_KEEPS = ["etc/kgen/pki/ca.key", "etc/kgen/kubeadm.yaml", "etc/kubernetes/kgen-notes.txt"]
RESET_KEEPS_FOLDERS = [PKI, "etc/kubernetes/manifests", "var/lib/etcd", "var/lib/kubelet"]


def test_reset_empties_what_kubeadm_owns(tmp_path: Path) -> None:
    for name in RESET_REMOVES + RESET_KEEPS:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x\n", encoding="utf-8")
    result = kubeadm(tmp_path, "reset", "-f")
    assert result.returncode == 0, result.stderr
    assert [name for name in RESET_REMOVES if (tmp_path / name).exists()] == []
    assert all((tmp_path / name).exists() for name in RESET_KEEPS)
    # CleanDir empties folders and keeps them.
    for folder in RESET_KEEPS_FOLDERS:
        assert (tmp_path / folder).is_dir() and not any((tmp_path / folder).iterdir()), folder


def test_reset_without_force_asks_and_aborts(tmp_path: Path) -> None:
    (tmp_path / PKI).mkdir(parents=True)
    (tmp_path / PKI / "ca.crt").write_text("x\n", encoding="utf-8")
    result = kubeadm(tmp_path, "reset")
    assert result.returncode == 1 and "aborted reset operation" in result.stderr
    assert (tmp_path / PKI / "ca.crt").exists()


@pytest.mark.parametrize("with_cluster_pki", [True, False], ids=["cluster-pki", "empty-pki"])
def test_init_mints_a_ca_only_when_none_is_there(tmp_path: Path, rendered: Rendered, with_cluster_pki: bool) -> None:
    if with_cluster_pki:
        put_shared_pki(tmp_path)
    result = kubeadm(tmp_path, "init", "--config", config(rendered, "cp-0"), "--skip-token-print")
    assert result.returncode == 0, result.stderr
    ca = (tmp_path / PKI / "ca.crt").read_text(encoding="utf-8")
    bundle = fixture_bundle()
    assert (secrets.ca_cert_hash(ca) == bundle.ca_cert_hash) is with_cluster_pki
    if with_cluster_pki:
        assert "Using existing ca certificate authority" in result.stdout
        assert (tmp_path / PKI / "sa.key").read_text(encoding="utf-8") == bundle.service_account_key
    else:
        assert "Generating ca certificate and key" in result.stdout
    for name in ("admin.conf", "super-admin.conf", "kubelet.conf", "manifests/kube-apiserver.yaml"):
        assert (tmp_path / "etc/kubernetes" / name).exists(), name


def test_failed_init_leaves_state_that_only_reset_clears(tmp_path: Path, rendered: Rendered) -> None:
    put_shared_pki(tmp_path)
    args = ("init", "--config", config(rendered, "cp-0"), "--skip-token-print")
    knob = "STANDIN_INIT_FAIL_AFTER_MANIFESTS=1\n"
    failed = kubeadm(tmp_path, *args, env=knob)
    assert failed.returncode == 1
    assert "error execution phase wait-control-plane: could not initialize a Kubernetes cluster" in failed.stderr
    again = kubeadm(tmp_path, *args, env=knob)
    assert again.returncode == 1
    for line in (
        "error execution phase preflight: [preflight] Some fatal errors occurred:",
        "\t[ERROR FileAvailable--etc-kubernetes-manifests-kube-apiserver.yaml]: "
        "/etc/kubernetes/manifests/kube-apiserver.yaml already exists",
        "\t[ERROR DirAvailable--var-lib-etcd]: /var/lib/etcd is not empty",
    ):
        assert line in again.stderr
    assert kubeadm(tmp_path, "reset", "-f").returncode == 0
    assert not (tmp_path / PKI / "ca.crt").exists()
    put_shared_pki(tmp_path)
    assert kubeadm(tmp_path, *args, env=knob).returncode == 0


# The missing file -> SharedCertificateExists' complaint (cmd/kubeadm/app/phases/certs/certs.go), which
# ends in the file's path; None: upstream only warns ("assuming external key for CA").
@pytest.mark.parametrize(
    ("missing", "problem"),
    [
        ("ca.crt", "failure loading certificate for CA: couldn't load the certificate file"),
        ("sa.pub", "failure loading key for service account: couldn't load the public key file"),
        ("sa.key", "failure loading key for service account: couldn't load the private key file"),
        ("front-proxy-ca.crt", "failure loading certificate for front-proxy CA: couldn't load the certificate file"),
        ("etcd/ca.crt", "failure loading certificate for etcd CA: couldn't load the certificate file"),
        ("ca.key", None),
    ],
)
def test_control_plane_join_needs_the_shared_certificates(
    tmp_path: Path, rendered: Rendered, missing: str, problem: str | None
) -> None:
    put_shared_pki(tmp_path, skip=missing)
    result = kubeadm(tmp_path, "join", "--config", config(rendered, "cp-1"))
    if problem is None:
        assert result.returncode == 0, result.stderr
        assert "assuming external key for CA" in result.stderr
        return
    assert result.returncode == 1
    assert (
        "error execution phase preflight: One or more conditions for hosting a new control plane instance is not "
        f"satisfied.\n\n{problem} /etc/kubernetes/pki/{missing}: open /etc/kubernetes/pki/{missing}: "
        "no such file or directory"
    ) in result.stderr
    assert "* The certificates that must be shared among control plane instances are provided." in result.stderr
    assert not (tmp_path / "etc/kubernetes/kubelet.conf").exists()


def test_learner_failure_leaves_what_the_earlier_join_phases_wrote(tmp_path: Path, rendered: Rendered) -> None:
    put_shared_pki(tmp_path)
    args = ("join", "--config", config(rendered, "cp-1"))
    failed = kubeadm(tmp_path, *args, env="STANDIN_JOIN_FAILURES=1\n")
    assert failed.returncode == 1 and "can only promote a learner member" in failed.stderr
    for name in ("kubelet.conf", "admin.conf", "manifests/kube-apiserver.yaml", "manifests/etcd.yaml"):
        assert (tmp_path / "etc/kubernetes" / name).exists(), name
    retry = kubeadm(tmp_path, *args, env="STANDIN_JOIN_FAILURES=1\n")
    assert retry.returncode == 1
    assert "[ERROR DirAvailable--etc-kubernetes-manifests]: /etc/kubernetes/manifests is not empty" in retry.stderr
    assert "[ERROR FileAvailable--etc-kubernetes-kubelet.conf]" in retry.stderr


@pytest.mark.parametrize("node", ["cp-1", "worker-0"])
@pytest.mark.parametrize("pinned", [True, False], ids=["pinned", "impostor"])
def test_join_discovery_checks_the_pinned_ca_hash(tmp_path: Path, rendered: Rendered, node: str, pinned: bool) -> None:
    if node.startswith("cp-"):
        put_shared_pki(tmp_path)
    endpoint_ca = fixture_bundle().ca.certificate if pinned else secrets.generate_ca("impostor").certificate
    (tmp_path / "cluster-ca.crt").write_text(endpoint_ca, encoding="utf-8")
    result = kubeadm(tmp_path, "join", "--config", config(rendered, node), env="STANDIN_CLUSTER_CA=/cluster-ca.crt\n")
    if pinned:
        assert result.returncode == 0, result.stderr
        # A worker's kubelet-start writes the cluster CA it discovered.
        assert (tmp_path / PKI / "ca.crt").read_text(encoding="utf-8") == endpoint_ca
        return
    assert result.returncode == 1
    assert (
        "error execution phase preflight: couldn't validate the identity of the API Server: cluster CA found in "
        f'cluster-info ConfigMap is invalid: none of the public keys "{secrets.ca_cert_hash(endpoint_ca)}" are pinned'
    ) in result.stderr
    assert not (tmp_path / "etc/kubernetes/kubelet.conf").exists()
