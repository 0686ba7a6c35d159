"""The first-boot script, run for real under bash in a throwaway root (tests/sandbox.py), with the
boot-test stand-ins for kubeadm, kubelet and kubectl and small stand-ins for curl, systemctl and
sleep. Covers the join ordering of issue 6 (learner errors, a late endpoint, an endpoint that never
comes up), idempotent re-runs, the golden-image guard, and issue 10: the cluster's PKI survives
kubeadm reset between attempts, and a re-run after a failed init or join resets and tries again with
the cluster's CA, whose hash every node pins."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator import model, prepare, secrets
from generator.load import load
from tests.conftest import (
    EXAMPLES,
    Rendered,
    fixture_bundle,
    parse_yaml,
    parse_yaml_all,
    render_config,
    stand_in_cni_manifests,
)
from tests.sandbox import STANDIN_BIN, Sandbox

# curl: fails (exit 7, "connection refused") until it has been called $CURL_FAILURES times; -1 = always.
CURL = """#!/bin/bash
# TEST STAND-IN for curl: the control-plane endpoint comes up after CURL_FAILURES probes.
state=/var/lib/standin-curl.count
count=$(( $(cat "$state" 2>/dev/null || echo 0) + 1 ))
echo "$count" > "$state"
echo "curl $*" >> /var/lib/standin-calls.log
failures=$(cat /etc/standin-curl-failures)
if [[ "$failures" == -1 || "$count" -le "$failures" ]]; then
  echo "curl: (7) Failed to connect: Connection refused" >&2
  exit 7
fi
exit 0
"""
SYSTEMCTL = """#!/bin/bash
# TEST STAND-IN for systemctl: containerd is active; everything else succeeds.
echo "systemctl $*" >> /var/lib/standin-calls.log
exit 0
"""
SLEEP = """#!/bin/bash
# TEST STAND-IN for sleep: records the requested seconds and sleeps a tenth of a second, so bounded
# waits keep their shape without taking minutes.
echo "$1" >> /var/lib/standin-sleeps.log
exec /usr/bin/sleep 0.1
"""
CONFIGURE = """#!/bin/bash
# TEST STAND-IN for the configure phase (exercised for real in the VM boot tests).
echo "configure $*" >> /var/lib/standin-calls.log
"""


def render_case(
    tmp_path: Path, *, mode: str = "golden", bounds: dict[str, int] | None = None, runtime: str = "containerd"
) -> Rendered:
    data: dict[str, Any] = parse_yaml(
        (EXAMPLES / "valid" / "ha-three-control-planes" / "cluster.yaml").read_text(encoding="utf-8")
    )
    data = copy.deepcopy(data)
    data["spec"]["image"] = {"mode": mode}
    data["spec"]["runtime"] = {"name": runtime}
    data["spec"]["bootstrap"] = bounds or {
        "endpointWaitSeconds": 4,
        "joinAttempts": 5,
        "controlPlaneJoinStaggerSeconds": 1,
    }
    config = tmp_path / "cluster.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return render_config(config, tmp_path)


# Where the kubeadm stand-in finds the CA "at the control-plane endpoint" (STANDIN_CLUSTER_CA).
CLUSTER_CA = "/etc/kgen-standin/cluster-ca.crt"


def prepare_node(
    tmp_path: Path,
    rendered: Rendered,
    node: str,
    *,
    curl_failures: int,
    join_failures: int = 0,
    standin_env: dict[str, str] | None = None,
    endpoint_ca: str | None = None,
) -> Sandbox:
    """A sandbox holding what cloud-init writes for ``node``. The endpoint serves the cluster's own CA
    unless ``endpoint_ca`` says otherwise."""
    box = Sandbox.create(tmp_path / node)
    user_data = rendered.user_data(node)
    for entry in user_data["write_files"]:
        box.write(entry["path"], entry["content"], int(entry["permissions"], 8))
    box.write(prepare.CONFIGURE_PATH, CONFIGURE, 0o755)
    cluster = model.build(load(rendered.root.parent.parent / "cluster.yaml"))
    box.write(prepare.IMAGE_MANIFEST, prepare.image_manifest(cluster, images=[]))
    box.write(CLUSTER_CA, endpoint_ca or fixture_bundle(cluster.name).ca.certificate)
    env = {
        "STANDIN_VERSION": f"v{cluster.kubernetes_version}",
        "STANDIN_JOIN_FAILURES": str(join_failures),
        "STANDIN_CLUSTER_CA": CLUSTER_CA,
        **(standin_env or {}),
    }
    box.write("/etc/kgen-standin.env", "".join(f"{k}={v}\n" for k, v in env.items()))
    box.write("/etc/standin-curl-failures", f"{curl_failures}\n")
    for name, text in (("curl", CURL), ("systemctl", SYSTEMCTL), ("sleep", SLEEP)):
        box.write(f"{STANDIN_BIN}/{name}", text, 0o755)
    return box


def kubeadm_calls(box: Sandbox) -> list[list[str]]:
    path = "/var/lib/kgen-standin/calls.jsonl"
    if not box.exists(path):
        return []
    return [json.loads(line)["argv"] for line in box.read(path).splitlines()]


def sleeps(box: Sandbox) -> list[int]:
    return (
        [int(s) for s in box.read("/var/lib/standin-sleeps.log").split()]
        if box.exists("/var/lib/standin-sleeps.log")
        else []
    )


def test_control_plane_join_retries_learner_errors_then_succeeds(tmp_path: Path) -> None:
    rendered = render_case(tmp_path)
    box = prepare_node(tmp_path, rendered, "cp-2", curl_failures=0, join_failures=2)
    result = box.run(["/usr/local/sbin/kgen-bootstrap"])
    log = box.read("/var/log/kgen-bootstrap.log")
    assert result.returncode == 0, log + result.stderr
    calls = [argv[0] for argv in kubeadm_calls(box) if argv[0] in {"join", "reset"}]
    assert calls == ["join", "reset", "join", "reset", "join"]
    join_args = next(argv for argv in kubeadm_calls(box) if argv[0] == "join")
    assert join_args == ["join", "--config", "/etc/kgen/kubeadm.yaml"]
    assert log.count("etcd's one-learner-at-a-time rule") == 2
    assert "waiting 2s so control-plane nodes join one at a time" in log  # cp-2 is the third control plane
    assert box.exists("/var/lib/kgen/bootstrap-success") and not box.exists("/var/lib/kgen/bootstrap-failure")
    assert box.read("/root/.kube/config") == box.read("/etc/kubernetes/admin.conf")
    assert box.path("/home/kadmin/.kube/config").stat().st_uid == 1500
    # The stand-in checked the config it was handed and kept a copy: it is the rendered one.
    assert box.read("/var/lib/kgen-standin/join/config.yaml") == box.read("/etc/kgen/kubeadm.yaml")
    # A second run is a no-op: the success marker is there.
    before = kubeadm_calls(box)
    again = box.run(["/usr/local/sbin/kgen-bootstrap"])
    assert again.returncode == 0
    assert kubeadm_calls(box) == before
    assert "is already bootstrapped" in box.read("/var/log/kgen-bootstrap.log")


def test_worker_waits_for_a_late_endpoint(tmp_path: Path) -> None:
    rendered = render_case(tmp_path, bounds={"endpointWaitSeconds": 60})
    box = prepare_node(tmp_path, rendered, "worker-0", curl_failures=4)
    result = box.run(["/usr/local/sbin/kgen-bootstrap"])
    log = box.read("/var/log/kgen-bootstrap.log")
    assert result.returncode == 0, log + result.stderr
    probes = [line for line in box.read("/var/lib/standin-calls.log").splitlines() if line.startswith("curl ")]
    assert len(probes) == 5
    assert all("https://k8s-api.example.com:6443/readyz" in p for p in probes)
    waits = sleeps(box)
    assert len(waits) == 4
    # Exponential backoff from 2 s, capped at 30 s, each with up to 50% jitter.
    for wait, base in zip(waits, [2, 4, 8, 16], strict=True):
        assert base <= wait <= base + base // 2
    assert [argv[0] for argv in kubeadm_calls(box) if argv[0] == "join"] == ["join"]
    assert box.exists("/var/lib/kgen/bootstrap-success")


def test_endpoint_that_never_comes_up_fails_clearly(tmp_path: Path) -> None:
    # The schema's smallest bound (spec.bootstrap.endpointWaitSeconds >= 1): the wait is real time.
    rendered = render_case(tmp_path, bounds={"endpointWaitSeconds": 1})
    box = prepare_node(tmp_path, rendered, "worker-1", curl_failures=-1)
    result = box.run(["/usr/local/sbin/kgen-bootstrap"])
    assert result.returncode != 0
    failure = box.read("/var/lib/kgen/bootstrap-failure")
    assert "step: wait for https://k8s-api.example.com:6443/readyz" in failure
    assert "https://k8s-api.example.com:6443/readyz did not answer within 1s" in failure
    assert not box.exists("/var/lib/kgen/bootstrap-success")
    assert not any(argv[0] == "join" for argv in kubeadm_calls(box))
    assert "FAILED at step" in result.stderr


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (
            "kubernetesVersion",
            "1.33.7",
            "the image was baked for Kubernetes 1.33.7, but the cluster config wants Kubernetes 1.32.11",
        ),
        ("os", "ubuntu-22.04", "the image was baked for OS ubuntu-22.04, but the cluster config wants OS almalinux-9"),
        # Another configure phase was baked (another kgen, or other settings): the first boot, which
        # skips the baked work, refuses it.
        (
            "configureSha256",
            "0" * 64,
            f"the image was baked for node-configure.sh SHA-256 {'0' * 64}, but the cluster config wants "
            "node-configure.sh SHA-256 ",
        ),
    ],
)
def test_golden_image_guard_refuses_a_mismatched_image(tmp_path: Path, key: str, value: str, message: str) -> None:
    rendered = render_case(tmp_path)
    box = prepare_node(tmp_path, rendered, "worker-2", curl_failures=0)
    manifest = json.loads(box.read(prepare.IMAGE_MANIFEST))
    manifest[key] = value
    box.write(prepare.IMAGE_MANIFEST, json.dumps(manifest))
    result = box.run(["/usr/local/sbin/kgen-bootstrap"])
    assert result.returncode != 0
    failure = box.read("/var/lib/kgen/bootstrap-failure")
    assert message in failure
    assert "step: check the golden image" in failure
    assert kubeadm_calls(box) == []


def test_first_control_plane_init_with_kube_vip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    manifests = stand_in_cni_manifests(monkeypatch, "calico")
    data: dict[str, Any] = parse_yaml((EXAMPLES / "valid" / "kube-vip-ha" / "cluster.yaml").read_text(encoding="utf-8"))
    data["spec"]["image"] = {"mode": "golden"}
    data["spec"]["bootstrap"] = {"nodeReadyTimeoutSeconds": 30}
    config = tmp_path / "cluster.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    rendered = render_config(config, tmp_path)
    box = prepare_node(tmp_path, rendered, "cp-0", curl_failures=0)
    for path, content in manifests.items():  # what the bake left in the image
        box.write(path, content)
    result = box.run(["/usr/local/sbin/kgen-bootstrap"])
    log = box.read("/var/log/kgen-bootstrap.log")
    assert result.returncode == 0, log + result.stderr
    init = next(argv for argv in kubeadm_calls(box) if argv[0] == "init")
    assert init == ["init", "--config", "/etc/kgen/kubeadm.yaml", "--skip-token-print"]
    assert box.read("/var/lib/kgen-standin/init/config.yaml") == box.read("/etc/kgen/kubeadm.yaml")
    # kube-vip ran with super-admin.conf during init, then with admin.conf.
    order = [line.split("kgen-bootstrap: ", 1)[1] for line in log.splitlines() if "kgen-bootstrap: " in line]
    init_step = order.index("step: kubeadm init")
    assert order[init_step + 1 : init_step + 5] == [
        "restored the cluster's shared PKI into /etc/kubernetes/pki from /etc/kgen/pki",
        "kube-vip static pod installed from /etc/kgen/kube-vip-init.yaml",
        "kubeadm init succeeded (/var/lib/kgen/kubeadm-init-succeeded)",
        "kube-vip static pod installed from /etc/kgen/kube-vip.yaml",
    ]
    manifest = parse_yaml(box.read("/etc/kubernetes/manifests/kube-vip.yaml"))
    assert manifest["spec"]["volumes"][0]["hostPath"]["path"] == "/etc/kubernetes/admin.conf"
    env = {e["name"]: e.get("value") for e in manifest["spec"]["containers"][0]["env"]}
    assert env["address"] == "10.0.0.100" and env["vip_interface"] == "ens3" and env["port"] == "6443"
    # The CNI was applied from the image's copies, each checked against its pin (no download), then the
    # rendered resources.
    kubectl_log = box.read("/var/lib/kgen-standin/kubectl.log")
    for path in manifests:
        assert path in kubectl_log
        assert f"{path} has the pinned sha256" in log
    assert not any("://" in word for line in kubectl_log.splitlines() for word in json.loads(line)["argv"])
    assert "/etc/kgen/cni/custom-resources.yaml" in kubectl_log
    assert "node cp-0 is Ready" in log
    assert box.read("/root/.kube/config") == box.read("/etc/kubernetes/admin.conf")
    assert box.exists("/var/lib/kgen/bootstrap-success")


# --- Issue 10: the cluster's PKI across kubeadm reset, and re-runs after a failed init or join -------------
KUBEADM_PKI = "/etc/kubernetes/pki"
KGEN_PKI = "/etc/kgen/pki"
SHARED_KEYS = ("ca.key", "etcd/ca.key", "front-proxy-ca.key", "sa.key")
SHARED_PUBLIC = ("ca.crt", "etcd/ca.crt", "front-proxy-ca.crt", "sa.pub")


def pinned_ca_hashes(rendered: Rendered) -> dict[str, list[str]]:
    """Every joining node's discovery pins, read from its rendered kubeadm config."""
    pins: dict[str, list[str]] = {}
    for node_dir in rendered.node_dirs():
        for doc in parse_yaml_all((node_dir / "kubeadm.yaml").read_text(encoding="utf-8")):
            if doc and doc.get("kind") == "JoinConfiguration":
                pins[node_dir.name] = doc["discovery"]["bootstrapToken"]["caCertHashes"]
    return pins


def assert_cluster_ca_in_place(box: Sandbox, rendered: Rendered) -> None:
    """kubeadm's folder holds kgen's PKI, with kubeadm's modes, and every node's pin matches its CA."""
    ca_hash = secrets.ca_cert_hash(box.read(f"{KUBEADM_PKI}/ca.crt"))
    pins = pinned_ca_hashes(rendered)
    assert len(pins) == len(rendered.node_dirs()) - 1  # every node but the first control plane joins
    assert all(hashes == [ca_hash] for hashes in pins.values()), (ca_hash, pins)
    for name in SHARED_KEYS + SHARED_PUBLIC:
        assert box.read(f"{KUBEADM_PKI}/{name}") == box.read(f"{KGEN_PKI}/{name}"), name
        expected = 0o600 if name in SHARED_KEYS else 0o644
        assert box.path(f"{KUBEADM_PKI}/{name}").stat().st_mode & 0o777 == expected, name
    for folder in (KGEN_PKI, f"{KGEN_PKI}/etcd"):
        assert box.path(folder).stat().st_mode & 0o777 == 0o700, folder


def kubeadm_verbs(box: Sandbox) -> list[str]:
    return [argv[0] for argv in kubeadm_calls(box) if argv[0] in {"init", "join", "reset"}]


def test_control_plane_join_retry_keeps_the_cluster_ca(tmp_path: Path) -> None:
    """A learner error, kubeadm reset -f (which empties /etc/kubernetes/pki), and the retry joins with
    the cluster's own CAs: the join preflight finds the shared certificates again."""
    rendered = render_case(tmp_path)
    box = prepare_node(tmp_path, rendered, "cp-1", curl_failures=0, join_failures=1)
    result = box.run(["/usr/local/sbin/kgen-bootstrap"])
    log = box.read("/var/log/kgen-bootstrap.log")
    assert result.returncode == 0, log + result.stderr
    assert kubeadm_verbs(box) == ["join", "reset", "join"]
    assert log.count("restored the cluster's shared PKI into /etc/kubernetes/pki from /etc/kgen/pki") == 2
    assert "One or more conditions for hosting a new control plane instance" not in log
    assert_cluster_ca_in_place(box, rendered)
    assert box.read("/var/lib/kgen/kubeadm-join-succeeded").startswith("kubeadm join succeeded at ")
    assert not box.exists("/var/lib/kgen/kubeadm-attempted")
    assert box.exists("/var/lib/kgen/bootstrap-success")


def test_rerun_after_failed_init_resets_and_inits_with_the_cluster_ca(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kubeadm init fails in wait-control-plane, after its certificates, kubeconfigs and manifests were
    written. The re-run resets the node, restores the cluster's PKI and runs init again."""
    manifests = stand_in_cni_manifests(monkeypatch, "calico")
    rendered = render_case(tmp_path)
    box = prepare_node(
        tmp_path, rendered, "cp-0", curl_failures=0, standin_env={"STANDIN_INIT_FAIL_AFTER_MANIFESTS": "1"}
    )
    for path, content in manifests.items():  # what the bake left in the image
        box.write(path, content)
    first = box.run(["/usr/local/sbin/kgen-bootstrap"])
    assert first.returncode != 0
    failure = box.read("/var/lib/kgen/bootstrap-failure")
    assert "step: kubeadm init" in failure
    # What the old "init already ran" test looked at is there, yet init did not succeed.
    assert box.exists("/etc/kubernetes/manifests/kube-apiserver.yaml") and box.exists("/etc/kubernetes/admin.conf")
    assert "could not initialize a Kubernetes cluster" in box.read("/var/log/kgen-bootstrap.log")
    assert not box.exists("/var/lib/kgen/kubeadm-init-succeeded")
    ca_after_failure = box.read(f"{KUBEADM_PKI}/ca.crt")

    again = box.run(["/usr/local/sbin/kgen-bootstrap"])
    log = box.read("/var/log/kgen-bootstrap.log")
    assert again.returncode == 0, log + again.stderr
    assert kubeadm_verbs(box) == ["init", "reset", "init"]
    assert "an earlier kubeadm attempt on this node did not finish" in log
    assert box.read(f"{KUBEADM_PKI}/ca.crt") == ca_after_failure  # the same CA, not a new one
    assert_cluster_ca_in_place(box, rendered)
    assert box.exists("/var/lib/kgen/kubeadm-init-succeeded")
    assert box.exists("/var/lib/kgen/bootstrap-success") and not box.exists("/var/lib/kgen/bootstrap-failure")
    # The failure marker of the first run said what a re-run does.
    assert "Running /usr/local/sbin/kgen-bootstrap again resets the node (kubeadm reset -f)" in failure


def test_rerun_after_failed_join_resets_before_joining(tmp_path: Path) -> None:
    """Every join attempt failed; the failed join left kubelet.conf behind. A re-run does not take
    that for a join: it resets and joins."""
    rendered = render_case(tmp_path, bounds={"endpointWaitSeconds": 4, "joinAttempts": 1})
    box = prepare_node(tmp_path, rendered, "cp-1", curl_failures=0, join_failures=1)
    first = box.run(["/usr/local/sbin/kgen-bootstrap"])
    assert first.returncode != 0
    assert "kubeadm join failed 1 times" in box.read("/var/lib/kgen/bootstrap-failure")
    assert box.exists("/etc/kubernetes/kubelet.conf")
    again = box.run(["/usr/local/sbin/kgen-bootstrap"])
    log = box.read("/var/log/kgen-bootstrap.log")
    assert again.returncode == 0, log + again.stderr
    assert kubeadm_verbs(box) == ["join", "reset", "join"]
    assert "an earlier kubeadm attempt on this node did not finish" in log
    assert_cluster_ca_in_place(box, rendered)


@pytest.mark.parametrize("node", ["worker-0", "cp-1"])
def test_join_refuses_an_endpoint_whose_ca_is_not_pinned(tmp_path: Path, node: str) -> None:
    rendered = render_case(tmp_path, bounds={"endpointWaitSeconds": 4, "joinAttempts": 2})
    impostor = secrets.generate_ca("impostor")
    box = prepare_node(tmp_path, rendered, node, curl_failures=0, endpoint_ca=impostor.certificate)
    result = box.run(["/usr/local/sbin/kgen-bootstrap"])
    assert result.returncode != 0
    log = box.read("/var/log/kgen-bootstrap.log")
    impostor_hash = secrets.ca_cert_hash(impostor.certificate)
    message = (
        "error execution phase preflight: couldn't validate the identity of the API Server: cluster CA found in "
        f'cluster-info ConfigMap is invalid: none of the public keys "{impostor_hash}" are pinned'
    )
    assert log.count(message) == 2
    assert "kubeadm join failed 2 times" in box.read("/var/lib/kgen/bootstrap-failure")


@pytest.mark.parametrize(("node", "verb"), [("cp-0", "init"), ("cp-1", "join")])
@pytest.mark.parametrize("missing", ["ca.key", "etcd/ca.crt"])
def test_incomplete_kgen_pki_stops_before_kubeadm(tmp_path: Path, node: str, verb: str, missing: str) -> None:
    """Without the cluster's full PKI kubeadm init would mint a CA no node pins; kubeadm never runs."""
    rendered = render_case(tmp_path)
    box = prepare_node(tmp_path, rendered, node, curl_failures=0)
    box.path(f"{KGEN_PKI}/{missing}").unlink()
    result = box.run(["/usr/local/sbin/kgen-bootstrap"])
    assert result.returncode != 0
    failure = box.read("/var/lib/kgen/bootstrap-failure")
    assert f"kgen's copy of the shared PKI is incomplete: {KGEN_PKI}/{missing} is missing or empty" in failure
    assert kubeadm_verbs(box) == []
    assert not box.exists(f"{KUBEADM_PKI}/ca.crt")
    assert not box.exists(f"/var/lib/kgen/kubeadm-{verb}-succeeded")
