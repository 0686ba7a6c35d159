"""A golden first boot does only what is per node and touches no network (issue 15).

The bake runs the configure phase's cluster-wide part (``node-configure.sh image``) and records the
script's SHA-256 in /etc/kgen/image.json; a golden node's first boot checks that digest and runs only
the per-node part (``--node-only``); kubeadm gets imagePullPolicy Never. The VM boot tests
(tests/boot/test_nodes.py) show it on a real kernel with no NIC; these check the pieces."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from generator import kubeadm, prepare, yamldump
from generator.emit.render import bootstrap_script
from generator.plan import plan
from generator.runners.boot_timeline import boot_timeline
from generator.runners.vm_report import VmReport
from tests.conftest import fixture_bundle, require_tool
from tests.matrix import cluster_for
from tests.sandbox import run_host_kubeadm


def test_golden_first_boot_runs_only_the_per_node_part() -> None:
    golden = cluster_for("debian-12", "1.31.14", mode="golden")
    phases = prepare.phases(golden)
    assert [(p.name, p.path, p.args) for p in phases] == [("configure", prepare.CONFIGURE_PATH, ("--node-only",))]
    install = cluster_for("debian-12", "1.31.14", mode="install")
    assert [(p.name, p.args) for p in prepare.phases(install)] == [("install", ()), ("configure", ())]


def test_bootstrap_passes_the_scope_to_the_configure_phase() -> None:
    for mode, call in (
        ("golden", '/usr/local/lib/kgen/node-configure.sh "${NODE_ROLE}" --node-only >>'),
        ("install", '/usr/local/lib/kgen/node-configure.sh "${NODE_ROLE}" >>'),
    ):
        cluster = cluster_for("debian-12", "1.31.14", mode=mode)
        cluster_plan = plan(cluster, fixture_bundle())
        script = bootstrap_script(cluster_plan, cluster_plan.nodes[0])
        assert call in script, mode


@pytest.mark.parametrize("mode", ["golden", "install"])
def test_manifest_records_the_configure_digest_and_the_guard_checks_it(mode: str) -> None:
    cluster = cluster_for("debian-12", "1.31.14", mode=mode)
    configure = prepare.configure_script(cluster)
    digest = hashlib.sha256(configure.encode()).hexdigest()
    manifest = json.loads(prepare.image_manifest(cluster, images=[]))
    assert manifest["configureSha256"] == digest
    assert f'"configureSha256": "{digest}"' in prepare.install_script(cluster)
    guard = prepare.image_guard(cluster)
    if mode == "install":
        assert guard == []
        return
    # Each guard line is exactly a line of the manifest a bake writes (compared in the shell).
    manifest_text = prepare.image_manifest(cluster, images=["registry.k8s.io/pause:3.10"])
    for field in guard:
        assert field.line in manifest_text, field
    assert [f.key for f in guard][-1] == "configureSha256"


def test_configure_script_refuses_a_bad_scope(tmp_path: Path) -> None:
    script = tmp_path / "configure.sh"
    script.write_text(prepare.configure_script(cluster_for("debian-12", "1.31.14")), encoding="utf-8")
    for args in (["image", "--node-only"], ["worker", "--all"], ["control-plane", "node"], []):
        result = subprocess.run(["bash", str(script), *args], capture_output=True, text=True, check=False)
        assert result.returncode == 2, args
        assert "usage:" in result.stderr


def test_golden_kubeadm_config_never_pulls() -> None:
    for mode, expected in (("golden", "Never"), ("install", None)):
        cluster = cluster_for("debian-12", "1.31.14", mode=mode)
        for node in cluster.nodes:
            registration = kubeadm.node_registration(cluster, node)
            assert registration.get("imagePullPolicy") == expected, (mode, node.name)


def run_standin(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    require_tool("openssl", reason="the stand-in makes certificates with it")
    (root / "etc").mkdir(parents=True, exist_ok=True)
    (root / "etc" / "kgen-standin.env").write_text("STANDIN_VERSION=v1.31.14\n", encoding="utf-8")
    return run_host_kubeadm(root, *args)


@pytest.mark.parametrize(("mode", "policy", "pulls"), [("golden", "Never", 0), ("install", "IfNotPresent", 7)])
def test_standin_records_the_image_pull_check(tmp_path: Path, mode: str, policy: str, pulls: int) -> None:
    cluster = cluster_for("debian-12", "1.31.14", mode=mode)
    cluster_plan = plan(cluster, fixture_bundle())
    first = cluster_plan.nodes[0]
    config = tmp_path / "kubeadm.yaml"
    config.write_text(yamldump.dump_all(first.kubeadm_documents), encoding="utf-8")
    root = tmp_path / "root"
    result = run_standin(root, "init", "--config", str(config), "--skip-token-print")
    assert result.returncode == 0, result.stderr
    entries = [json.loads(line) for line in (root / "var/lib/kgen-standin/image-pulls.jsonl").read_text().splitlines()]
    assert [(e["kind"], e["policy"], len(e["pulled"])) for e in entries] == [("InitConfiguration", policy, pulls)]
    assert ("Pulling images" in result.stdout) == (pulls > 0)


def test_boot_timeline_from_the_guest_clock() -> None:
    stages = {
        "modules-final": {"start": 100.5, "finished": 140.0},
        "clock": {"epoch": 1_800_000_200.0, "uptime": 200.0},
    }
    log = "\n".join(
        [
            "2027-01-15T08:00:00.700Z kgen-bootstrap: step: check the golden image",
            "2027-01-15T08:00:01.200Z kgen-configure: configure phase done (role control-plane, per-node part only)",
            "2027-01-15T08:00:03.500Z kgen-bootstrap: step: kubeadm init",
            "kubeadm output without a stamp",
        ]
    )
    report = VmReport("done", [], None, None, [], {"cloud-init-stages": json.dumps(stages), "bootstrap-log-head": log})
    timeline = boot_timeline(report)
    # uptime 100.5 on a clock where uptime 200 was epoch 1_800_000_200 -> epoch 1_800_000_100.5
    assert timeline.stages["modules-final"] == pytest.approx(1_800_000_100.5)
    final = 1_800_000_100.5
    line = timeline.first("kgen-bootstrap", "step: kubeadm init")
    assert line is not None and line.source == "kgen-bootstrap"
    assert timeline.final_to("kgen-bootstrap", "step: kubeadm init") == pytest.approx(line.at - final)
    assert [round(gap, 3) for _, gap, _ in timeline.steps()] == [0.5, 2.3, 0.0]
    # epoch stage times (older cloud-init) are taken as they are
    epoch = {"modules-final": {"start": 1_800_000_000.25, "finished": None}}
    old = VmReport("done", [], None, None, [], {"cloud-init-stages": json.dumps(epoch), "bootstrap-log-head": ""})
    assert boot_timeline(old).stages == {"modules-final": 1_800_000_000.25}
