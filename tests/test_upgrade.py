"""`kgen upgrade`: the version checks (data-driven invalid examples under tests/examples/invalid-upgrade/),
the kit's scripts (shellcheck, goldens), the stand-ins' upstream order rules, and the driver run for real
against five node sandboxes that share one model of the cluster: the full order on three control planes
and two workers, a resume after a failure part-way, and --dry-run."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from generator import api, model, upgrade
from generator.cli import app
from generator.errors import ConfigInvalid, UserError
from generator.load import Document
from generator.versions import Version
from tests.conftest import EXAMPLES, read_yaml, shellcheck
from tests.golden import check_golden, check_no_stale_golden
from tests.sandbox import STANDIN_BIN, STANDINS, Sandbox, run_host_kubeadm

runner = CliRunner()
LINE = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+)(:\d+)?: (?P<rest>.*)$")
VALID = EXAMPLES / "valid-upgrade" / "debian-three-control-planes"
INVALID = sorted(p for p in (EXAMPLES / "invalid-upgrade").iterdir() if p.is_dir())
FROM, TO = "1.33.7", "1.34.3"
NODES = ("cp-0", "cp-1", "cp-2", "worker-0", "worker-1")


def example_data() -> dict[str, Any]:
    data: dict[str, Any] = read_yaml(VALID / "cluster.yaml")
    return data


def cluster_from(data: dict[str, Any]) -> model.Cluster:
    return model.build(Document(file="upgrade.yaml", data=data))


def out_with_nodes_json(tmp_path: Path, case: Path) -> Path:
    out = tmp_path / "out"
    (out / "demo").mkdir(parents=True)
    shutil.copy(case / "nodes.json", out / "demo" / "nodes.json")
    return out


# --- validation ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", INVALID, ids=lambda p: p.name)
def test_invalid_upgrade_example_reports_expected_error(case: Path, tmp_path: Path) -> None:
    out = out_with_nodes_json(tmp_path, case)
    config = case / "cluster.yaml"
    result = runner.invoke(app, ["upgrade", str(config), "-d", str(out)])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    expected = (case / "expected-error.txt").read_text(encoding="utf-8").strip()
    lines = [line for line in result.output.splitlines() if line.strip()]
    for line in lines:
        match = LINE.match(line)
        assert match and match["file"] == str(config), f"not {config}:LINE: ... -> {line!r}"
    assert any(LINE.match(line)["rest"].startswith(expected) for line in lines), (expected, lines)  # type: ignore[index]
    assert not (out / "demo" / "upgrade").exists(), "an invalid upgrade writes nothing"


def test_skew_messages_carry_kubeadms_rule(tmp_path: Path) -> None:
    with pytest.raises(ConfigInvalid) as caught:
        api.upgrade(
            EXAMPLES / "invalid-upgrade" / "skipped-minor" / "cluster.yaml", out_dir=tmp_path, from_version="1.32.11"
        )
    message = str(caught.value)
    assert "kubeadm can upgrade only 1 minor version at a time" in message
    assert "upgrade to 1.33.x first" in message


def test_from_flag_overrides_nodes_json_and_patch_upgrades_are_allowed(tmp_path: Path) -> None:
    result = api.upgrade(VALID / "cluster.yaml", out_dir=tmp_path, from_version="1.34.1")
    assert result.from_source == "--from"
    assert result.kit_dir == tmp_path / "demo" / "upgrade" / "1.34.1-to-1.34.3"
    assert (result.kit_dir / "upgrade.sh").stat().st_mode & 0o777 == 0o755


def test_without_nodes_json_or_from_it_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="pass --from VERSION"):
        api.upgrade(VALID / "cluster.yaml", out_dir=tmp_path)


def test_same_version_is_nothing_to_upgrade(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="nothing to upgrade"):
        api.upgrade(VALID / "cluster.yaml", out_dir=tmp_path, from_version=TO)


def test_upgrade_writes_only_its_kit(tmp_path: Path) -> None:
    out = out_with_nodes_json(tmp_path, VALID)
    (out / "demo" / "keep.txt").write_text("render output\n", encoding="utf-8")
    result = runner.invoke(app, ["upgrade", str(VALID / "cluster.yaml"), "-d", str(out)])
    assert result.exit_code == 0, result.output
    kit = out / "demo" / "upgrade" / f"{FROM}-to-{TO}"
    assert sorted(p.relative_to(kit).as_posix() for p in kit.rglob("*") if p.is_file()) == sorted(
        ["upgrade.sh", "etcd-snapshot.sh", *(f"nodes/{n}.sh" for n in NODES)]
    )
    assert (out / "demo" / "keep.txt").is_file() and (out / "demo" / "nodes.json").is_file()


# --- the kit's scripts ---------------------------------------------------------------------------------


def variants() -> dict[str, tuple[dict[str, Any], str]]:
    rhel_crio = example_data()
    rhel_crio["spec"]["os"] = "rocky-9"
    rhel_crio["spec"]["runtime"] = {"name": "cri-o"}
    no_backup = example_data()
    no_backup["spec"]["etcdBackup"] = {"enabled": False}
    pools = example_data()
    pools["spec"]["nodes"] = pools["spec"]["nodes"][:1]
    pools["spec"]["workerPools"] = [{"name": "pool", "count": 3}]
    same_pause = example_data()
    same_pause["spec"]["kubernetes"]["version"] = "1.33.7"
    return {
        "debian-containerd": (example_data(), FROM),
        "rocky-cri-o": (rhel_crio, FROM),
        "etcd-backup-off": (no_backup, FROM),
        "single-control-plane-pool-workers": (pools, FROM),
        "same-pause-image": (same_pause, "1.32.11"),
    }


@pytest.mark.parametrize("variant", sorted(variants()))
def test_kit_scripts_pass_shellcheck(variant: str, tmp_path: Path) -> None:
    data, start = variants()[variant]
    kit = upgrade.kit(cluster_from(data), Version.parse(start))
    scripts = {name: out.content.decode() for name, out in kit.files.items()}
    for text in scripts.values():
        assert text.startswith("#!/usr/bin/env bash\n")
        assert "\nset -euo pipefail\n" in text
    shellcheck(scripts, tmp_path)


def test_kit_follows_the_os_family_and_the_version_table() -> None:
    data, start = variants()["rocky-cri-o"]
    kit = upgrade.kit(cluster_from(data), Version.parse(start))
    worker = kit.files["nodes/worker-0.sh"].content.decode()
    assert "baseurl=https://pkgs.k8s.io/core:/stable:/v1.34/rpm/" in worker
    assert '"${package}-${TO_VERSION}"' in worker and "--disableexcludes=kubernetes" in worker
    assert "  kubeadm upgrade node </dev/null" in worker and "  kubeadm upgrade apply" not in worker
    assert 'pause_image = "registry.k8s.io/pause:3.10.1"' in worker  # 3.10 -> 3.10.1 in the table
    assert "isv:/cri-o:/stable:/v1.34/rpm/" in worker
    same, start = variants()["same-pause-image"]
    unchanged = upgrade.kit(cluster_from(same), Version.parse(start)).files["nodes/cp-0.sh"].content.decode()
    assert "update_pause_image" not in unchanged  # pause 3.10 in both 1.32 and 1.33
    off, start = variants()["etcd-backup-off"]
    snapshot = upgrade.kit(cluster_from(off), Version.parse(start)).files["etcd-snapshot.sh"].content.decode()
    assert "exec etcd-cp-0 -- \\\n    etcdctl" in snapshot and "timeout 180" in snapshot


def test_kit_is_deterministic_and_matches_golden(tmp_path: Path) -> None:
    first = api.upgrade(VALID / "cluster.yaml", out_dir=tmp_path / "a", from_version=FROM)
    second = api.upgrade(VALID / "cluster.yaml", out_dir=tmp_path / "b", from_version=FROM)
    produced: set[str] = set()
    for path in sorted(p for p in first.kit_dir.rglob("*") if p.is_file()):
        rel = path.relative_to(first.kit_dir).as_posix()
        assert path.read_bytes() == (second.kit_dir / rel).read_bytes()
        name = f"upgrade/{VALID.name}/{rel}"
        produced.add(name)
        check_golden(name, path.read_bytes())
    check_no_stale_golden(f"upgrade/{VALID.name}", produced)


# --- the stand-ins' upstream rules -----------------------------------------------------------------------


def standin_root(tmp_path: Path, *, cluster: str, kubeadm: str, control_plane: bool = True) -> Path:
    root = tmp_path / "node"
    for folder in ("etc/kubernetes/manifests", "var/lib/kgen-standin", "var/lib/kgen-standin-cluster"):
        (root / folder).mkdir(parents=True)
    (root / "etc/kubernetes/admin.conf").write_text("stand-in\n", encoding="utf-8")
    (root / "etc/kubernetes/kubelet.conf").write_text("stand-in\n", encoding="utf-8")
    if control_plane:
        (root / "etc/kubernetes/manifests/kube-apiserver.yaml").write_text("stand-in\n", encoding="utf-8")
    (root / "etc/kgen-standin.env").write_text("STANDIN_NODE_NAME=cp-0\n", encoding="utf-8")
    (root / "var/lib/kgen-standin/packages.json").write_text(json.dumps({"kubeadm": kubeadm}), encoding="utf-8")
    state = {"version": cluster, "nodes": {"cp-0": {"kubeletVersion": cluster, "ready": True, "unschedulable": False}}}
    (root / "var/lib/kgen-standin-cluster/state.json").write_text(json.dumps({**state, "events": []}), encoding="utf-8")
    return root


def kubeadm(root: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return run_host_kubeadm(root, *args, stdin=stdin)


def test_standin_apply_refuses_a_skipped_minor(tmp_path: Path) -> None:
    root = standin_root(tmp_path, cluster="v1.32.11", kubeadm="1.34.3")
    result = kubeadm(root, "upgrade", "apply", "v1.34.3", "--yes")
    assert result.returncode == 1
    assert (
        'Specified version to upgrade to "v1.34.3" is too high; kubeadm can upgrade only 1 minor version'
        in result.stderr
    )
    state = json.loads((root / "var/lib/kgen-standin-cluster/state.json").read_text(encoding="utf-8"))
    assert state["version"] == "v1.32.11"


def test_standin_apply_needs_the_new_kubeadm_and_a_yes(tmp_path: Path) -> None:
    root = standin_root(tmp_path, cluster="v1.33.7", kubeadm="1.33.7")
    old = kubeadm(root, "upgrade", "apply", "v1.34.3", "--yes")
    assert old.returncode == 1 and "at least one minor release higher than the kubeadm minor release" in old.stderr
    root = standin_root(tmp_path / "b", cluster="v1.33.7", kubeadm="1.34.3")
    assert "won't proceed" in kubeadm(root, "upgrade", "apply", "v1.34.3").stderr
    assert "unknown flag: --bogus" in kubeadm(root, "upgrade", "apply", "v1.34.3", "--bogus").stderr
    ok = kubeadm(root, "upgrade", "apply", "v1.34.3", "--yes")
    assert ok.returncode == 0, ok.stderr
    assert "kube-apiserver:v1.34.3" in (root / "etc/kubernetes/manifests/kube-apiserver.yaml").read_text(
        encoding="utf-8"
    )


def test_standin_upgrade_node_before_apply_fails(tmp_path: Path) -> None:
    root = standin_root(tmp_path, cluster="v1.33.7", kubeadm="1.34.3", control_plane=False)
    before = kubeadm(root, "upgrade", "node")
    assert before.returncode == 1
    assert "run 'kubeadm upgrade apply' on the first control-plane node first" in before.stderr
    state_path = root / "var/lib/kgen-standin-cluster/state.json"
    state = json.loads(state_path.read_text(encoding="utf-8"))
    state["version"] = "v1.34.3"  # what apply on the first control plane writes
    state_path.write_text(json.dumps(state), encoding="utf-8")
    after = kubeadm(root, "upgrade", "node")
    assert after.returncode == 0, after.stderr


# --- the driver, for real, against five node sandboxes ---------------------------------------------------

SYSTEMCTL = r"""#!/usr/bin/python3 -S
# TEST STAND-IN for systemctl (kgen upgrade tests): daemon-reload; restart kubelet (the kubelet comes back
# at the installed kubelet package's version and Ready, in the shared cluster state); restart containerd
# or crio; cat/start kgen-etcd-backup.service (a oneshot unit: start returns when the run is done).
# -S (no site): it imports only the standard library.
# Anything else fails.
import fcntl, json, sys
from pathlib import Path

STATE = Path("/var/lib/kgen-standin-cluster/state.json")
ENV = Path("/etc/kgen-standin.env").read_text().splitlines()
me = next(l.split("=", 1)[1] for l in ENV if l.startswith("STANDIN_NODE_NAME="))


def event(text, change=None):
    with STATE.with_name("state.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        state = json.loads(STATE.read_text())
        if change:
            change(state)
        state["events"].append({"node": me, "event": text})
        STATE.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")


def kubelet_restarted(state):
    packages = json.loads(Path("/var/lib/kgen-standin/packages.json").read_text())
    state["nodes"][me].update(kubeletVersion="v" + packages["kubelet"], ready=True)


args = sys.argv[1:]
if args == ["daemon-reload"]:
    event("daemon-reload")
elif len(args) == 2 and args[0] == "restart" and args[1] in ("kubelet", "containerd", "crio"):
    event("restart " + args[1], kubelet_restarted if args[1] == "kubelet" else None)
elif args == ["cat", "kgen-etcd-backup.service"]:
    print("[Service]\nType=oneshot")
elif args == ["start", "kgen-etcd-backup.service"]:
    event("etcd snapshot")
else:
    sys.exit("systemctl stand-in: unsupported: " + " ".join(args))
"""

CURL = r"""#!/bin/bash
# TEST STAND-IN for curl: only `curl -fsSL --retry 5 URL -o FILE` for a pkgs.k8s.io deb Release.key.
set -euo pipefail
if ! [[ $# -eq 6 && $1 == -fsSL && $2 == --retry && $3 == 5 && $5 == -o ]]; then
  echo "curl stand-in: unsupported: $*" >&2
  exit 2
fi
if ! [[ $4 =~ ^https://pkgs\.k8s\.io/core:/stable:/v([0-9]+\.[0-9]+)/deb/Release\.key$ ]]; then
  echo "curl: (22) The requested URL returned error: 404" >&2
  exit 22
fi
printf -- '-----BEGIN PGP PUBLIC KEY BLOCK-----\nstand-in key for v%s\n' "${BASH_REMATCH[1]}" >"$6"
printf -- '-----END PGP PUBLIC KEY BLOCK-----\n' >>"$6"
"""

SUDO = r"""#!/bin/bash
# TEST STAND-IN for sudo: the sandbox runs as root; only `sudo -n COMMAND...` (never a prompt) is accepted.
[[ "${1:-}" == -n ]] || { echo "sudo stand-in: only sudo -n" >&2; exit 1; }
shift
exec "$@"
"""


class Cluster:
    """Five node sandboxes, the shared cluster state and the ssh stand-in that reaches them."""

    def __init__(self, base: Path, kit: Path, *, failures: dict[str, int] | None = None) -> None:
        self.base, self.kit = base, kit
        self.shared = base / "cluster"
        self.shared.mkdir(parents=True)
        nodes = {n: {"kubeletVersion": f"v{FROM}", "ready": True, "unschedulable": False} for n in NODES}
        nodes["worker-1"]["emptyDirPods"] = True
        self.write_state({"version": f"v{FROM}", "apiserverReady": True, "nodes": nodes, "events": []})
        data = example_data()
        addresses = {n["name"]: n["ip"] for n in data["spec"]["nodes"]}
        self.map = base / "ssh-map"  # the ssh stand-in's map (tests/boot/standins/ssh.sh)
        self.boxes: dict[str, Sandbox] = {}
        for name in NODES:
            box = Sandbox.create(base / name)
            box.binds.append((self.shared, "/var/lib/kgen-standin-cluster"))
            self.prepare(box, name, (failures or {}).get(name, 0))
            self.boxes[name] = box
            host = self.map / addresses[name]
            host.mkdir(parents=True)
            (host / "user").write_text("kadmin\n", encoding="utf-8")
            argv = box.command(["bash", "-c", "__KGEN_SSH_COMMAND__"])
            assert not any("\0" in word for word in argv)
            (host / "argv").write_text("".join(f"{word}\0" for word in argv), encoding="utf-8")
        self.ssh = base / "ssh"
        self.ssh.write_text((STANDINS / "ssh.sh").read_text(encoding="utf-8"), encoding="utf-8")
        self.ssh.chmod(0o755)
        self.ssh_log = base / "ssh.log"

    @staticmethod
    def prepare(box: Sandbox, name: str, failures: int) -> None:
        box.install_standin("apt", f"{STANDIN_BIN}/apt-get")
        box.install_standin("apt", f"{STANDIN_BIN}/apt-mark")
        box.install_python(f"{STANDIN_BIN}/systemctl", SYSTEMCTL)
        box.write(f"{STANDIN_BIN}/curl", CURL, 0o755)
        box.write(f"{STANDIN_BIN}/sudo", SUDO, 0o755)
        env = f"STANDIN_VERSION=v{FROM}\nSTANDIN_NODE_NAME={name}\n"
        box.write("/etc/kgen-standin.env", env + (f"STANDIN_UPGRADE_FAILURES={failures}\n" if failures else ""))
        box.write(
            "/var/lib/kgen-standin/packages.json", json.dumps(dict.fromkeys(("kubeadm", "kubelet", "kubectl"), FROM))
        )
        box.write("/var/lib/kgen-standin/holds.json", json.dumps(["containerd.io", "kubeadm", "kubectl", "kubelet"]))
        box.write(
            "/etc/apt/sources.list.d/kubernetes.list",
            "deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.asc] "
            "https://pkgs.k8s.io/core:/stable:/v1.33/deb/ /\n",
        )
        box.write("/etc/apt/keyrings/kubernetes-apt-keyring.asc", "stand-in key for v1.33\n")
        box.write("/etc/containerd/config.toml", "# the 1.33 config, sandbox image pause:3.10\n")
        box.write("/etc/kubernetes/kubelet.conf", "stand-in\n", 0o600)
        if name.startswith("cp-"):
            box.write("/etc/kubernetes/admin.conf", "stand-in\n", 0o600)
            box.write(
                "/etc/kubernetes/manifests/kube-apiserver.yaml", f"image: registry.k8s.io/kube-apiserver:v{FROM}\n"
            )

    def write_state(self, state: dict[str, Any]) -> None:
        (self.shared / "state.json").write_text(json.dumps(state), encoding="utf-8")

    def state(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.shared / "state.json").read_text(encoding="utf-8"))
        return data

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "KGEN_UPGRADE_SSH": str(self.ssh),
            "KGEN_SSH_STANDIN_MAP": str(self.map),
            "KGEN_SSH_STANDIN_LOG": str(self.ssh_log),
        }
        return subprocess.run(
            ["bash", str(self.kit / "upgrade.sh"), *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
            check=False,
        )

    def ssh_calls(self) -> list[dict[str, Any]]:
        """The ssh stand-in's log: per call, NUL-terminated host, user, command line, the number of
        option words and the option words."""
        fields = self.ssh_log.read_bytes().decode("utf-8").split("\0")
        assert fields.pop() == "", "the log ends with a NUL"
        calls: list[dict[str, Any]] = []
        while fields:
            host, user, command, count = fields[:4]
            options = fields[4 : 4 + int(count)]
            del fields[: 4 + int(count)]
            calls.append({"host": host, "user": user, "options": options, "command": command})
        return calls

    def events(self, node: str | None = None) -> list[str]:
        return [
            e["event"] if node else f"{e['node']}: {e['event']}"
            for e in self.state()["events"]
            if node in (None, e["node"])
        ]


def rendered_kit(tmp_path: Path) -> Path:
    return api.upgrade(VALID / "cluster.yaml", out_dir=tmp_path / "out", from_version=FROM).kit_dir


def node_sequence(command: str) -> list[str]:
    """What one node goes through, in order, as the stand-ins record it."""
    return [
        "unhold kubeadm",
        f"install kubeadm {TO}",
        "hold kubeadm",
        command,
        "drain",
        "restart containerd",  # the pause image changes from 1.33 (3.10) to 1.34 (3.10.1)
        "unhold kubelet",
        "unhold kubectl",
        f"install kubectl {TO}",
        f"install kubelet {TO}",
        "hold kubelet",
        "hold kubectl",
        "daemon-reload",
        "restart kubelet",
        "uncordon",
    ]


def assert_upgraded(cluster: Cluster) -> None:
    state = cluster.state()
    assert state["version"] == f"v{TO}"
    for name, node in state["nodes"].items():
        assert node["kubeletVersion"] == f"v{TO}", name
        assert node["unschedulable"] is False, name
    for name, box in cluster.boxes.items():
        assert json.loads(box.read("/var/lib/kgen-standin/packages.json")) == dict.fromkeys(
            ("kubeadm", "kubelet", "kubectl"), TO
        )
        assert set(json.loads(box.read("/var/lib/kgen-standin/holds.json"))) >= {"kubeadm", "kubelet", "kubectl"}, name
        assert "/core:/stable:/v1.34/deb/" in box.read("/etc/apt/sources.list.d/kubernetes.list")
        assert box.read("/etc/apt/keyrings/kubernetes-apt-keyring.asc").count("stand-in key for v1.34") == 1
        assert 'sandbox_image = "registry.k8s.io/pause:3.10.1"' in box.read("/etc/containerd/config.toml")


def test_driver_upgrades_three_control_planes_then_workers_in_batches(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, rendered_kit(tmp_path))
    result = cluster.run("--batch", "2", "--drain-timeout", "90s")
    assert result.returncode == 0, result.stderr
    assert f"cluster demo is at v{TO}" in result.stderr
    events = cluster.events()
    assert events[0] == "cp-0: etcd snapshot"
    assert cluster.events("cp-0")[1:] == node_sequence(f"kubeadm upgrade apply v{TO}")
    for name in ("cp-1", "cp-2", "worker-0", "worker-1"):
        assert cluster.events(name) == node_sequence(f"kubeadm upgrade node v{TO}"), name
    # The control planes one at a time, in order; the workers only after the last control plane.
    last = {n: max(i for i, e in enumerate(events) if e.startswith(f"{n}: ")) for n in NODES}
    first = {n: min(i for i, e in enumerate(events) if e.startswith(f"{n}: ") and "snapshot" not in e) for n in NODES}
    assert last["cp-0"] < first["cp-1"] and last["cp-1"] < first["cp-2"]
    assert last["cp-2"] < min(first["worker-0"], first["worker-1"])
    drains = [e for e in cluster.state()["events"] if e["event"] == "drain"]
    assert {d["timeout"] for d in drains} == {"90s"}
    assert_upgraded(cluster)
    calls = cluster.ssh_calls()
    assert {c["user"] for c in calls} == {"kadmin"}
    assert all(c["options"] == ["-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "--"] for c in calls)
    assert all(c["command"].startswith("sudo -n ") for c in calls)
    kubectl = [c for c in calls if " kubectl " in f" {c['command']} "]
    assert kubectl and {c["host"] for c in kubectl} == {"10.0.0.10"}  # kubectl runs on the first control plane


def test_driver_stops_at_a_failure_names_it_and_resumes(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, rendered_kit(tmp_path), failures={"cp-2": 1})
    failed = cluster.run()
    assert failed.returncode == 1
    assert "FAILED: node cp-2, step kubeadm" in failed.stderr
    assert cluster.events("worker-0") == [] and cluster.events("worker-1") == []
    assert "drain" not in cluster.events("cp-2")
    assert cluster.state()["nodes"]["cp-2"]["kubeletVersion"] == f"v{FROM}"

    resumed = cluster.run()
    assert resumed.returncode == 0, resumed.stderr
    for name in ("cp-0", "cp-1"):
        assert f"{name}: the kubelet reports v{TO} already; upgrade steps skipped" in resumed.stderr
    assert [e for e in cluster.events() if "kubeadm upgrade apply" in e] == [f"cp-0: kubeadm upgrade apply v{TO}"]
    assert cluster.events("cp-2").count("drain") == 1
    assert cluster.events("worker-1") == node_sequence(f"kubeadm upgrade node v{TO}")
    assert_upgraded(cluster)


def test_driver_dry_run_prints_the_plan_and_contacts_nothing(tmp_path: Path) -> None:
    kit = rendered_kit(tmp_path)
    marker = tmp_path / "ssh-was-called"
    fake_ssh = tmp_path / "ssh"
    fake_ssh.write_text(f"#!/bin/sh\ntouch {marker}\nexit 255\n", encoding="utf-8")
    fake_ssh.chmod(0o755)
    env = {**os.environ, "KGEN_UPGRADE_SSH": str(fake_ssh)}
    result = subprocess.run(
        ["bash", str(kit / "upgrade.sh"), "--dry-run", "--batch", "2"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert not marker.exists()
    lines = result.stdout.splitlines()
    assert (
        lines[0] == f"Upgrade plan for cluster demo: Kubernetes v{FROM} -> v{TO}, over ssh as kadmin, kubectl on cp-0."
    )
    assert lines[1].startswith(" 1. cp-0 (10.0.0.10): etcd snapshot")
    assert lines[2].startswith(
        f" 2. cp-0 (10.0.0.10): nodes/cp-0.sh kubeadm (kubeadm upgrade plan, kubeadm upgrade apply v{TO})"
    )
    assert lines[3].startswith(" 3. cp-1 (10.0.0.11): nodes/cp-1.sh kubeadm (kubeadm upgrade node)")
    assert lines[4].startswith(" 4. cp-2 ")
    assert lines[5] == " 5. workers at the same time: worker-0 worker-1"
    bad = subprocess.run(
        ["bash", str(kit / "upgrade.sh"), "--batch", "0"], capture_output=True, text=True, env=env, check=False
    )
    assert bad.returncode == 2 and not marker.exists()


def test_driver_refuses_an_unreachable_node_before_changing_anything(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, rendered_kit(tmp_path))
    shutil.rmtree(cluster.map / "10.0.0.21")  # worker-1 is no longer a host ssh knows
    result = cluster.run()
    assert result.returncode == 1
    assert "FAILED: node worker-1, step ssh" in result.stderr
    assert cluster.events() == []
