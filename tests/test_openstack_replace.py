"""The OpenStack kit's replace.sh NODE (issue 14, the image roll for workers): drain, delete the server,
recreate it from the kit's image on the same port, wait for the Node; control planes are refused."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import shellcheck
from tests.test_openstack import Cloud, kit_dir, server_create

__all__ = ["kit_dir"]  # the module-scoped fixture, shared with tests/test_openstack.py

FAKE_KUBECTL = r"""#!/usr/bin/python3 -S
# Stand-in for kubectl: records every call; `get node NAME -o name` finds the node when KUBECTL_NODES names it.
# The system interpreter without site (it imports only the standard library), not `env python3`: that finds
# whatever python3 is first on PATH, on a developer's machine often a version manager's shim script.
import json, os, sys
args = sys.argv[1:]
with open(os.environ["KUBECTL_RECORD"], "a", encoding="utf-8") as record:
    record.write(json.dumps(args) + "\n")
if args[:2] == ["get", "node"]:
    nodes = os.environ.get("KUBECTL_NODES", "").split()
    if args[2] not in nodes:
        sys.exit(print(f'Error from server (NotFound): nodes "{args[2]}" not found', file=sys.stderr) or 1)
    print(f"node/{args[2]}")
"""


Run = tuple[subprocess.CompletedProcess[str], list[list[str]], list[list[str]]]


def run_replace(
    kit: Path, tmp_path: Path, cloud: Cloud, monkeypatch: pytest.MonkeyPatch, *args: str, nodes: str = ""
) -> Run:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "kubectl").write_text(FAKE_KUBECTL, encoding="utf-8")
    (bin_dir / "kubectl").chmod(0o755)
    record = tmp_path / "kubectl.jsonl"
    record.write_text("", encoding="utf-8")
    monkeypatch.setenv("KUBECTL_RECORD", str(record))
    monkeypatch.setenv("KUBECTL_NODES", nodes)
    result, calls = cloud.run(kit / "replace.sh", *args)
    kubectl = [["kubectl", *json.loads(line)] for line in record.read_text(encoding="utf-8").splitlines()]
    return result, calls, kubectl


def test_replace_passes_shellcheck(kit_dir: Path, tmp_path: Path) -> None:
    shellcheck({"replace.sh": (kit_dir / "replace.sh").read_text(encoding="utf-8")}, tmp_path)


def test_replace_drains_deletes_and_recreates_on_the_same_port(
    kit_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cloud = Cloud(tmp_path, existing=["port:prod-worker-0", "server:worker-0"])
    result, calls, kubectl = run_replace(kit_dir, tmp_path, cloud, monkeypatch, "worker-0", nodes="worker-0")
    assert result.returncode == 0, result.stderr
    assert calls == [
        ["openstack", "port", "show", "--", "prod-worker-0"],
        ["openstack", "server", "show", "-f", "value", "-c", "properties", "--", "worker-0"],
        ["openstack", "server", "delete", "--wait", "--", "worker-0"],
        ["openstack", "port", "show", "--", "prod-worker-0"],
        server_create("worker-0", kit_dir.parent),
    ]
    assert kubectl == [
        ["kubectl", "get", "node", "worker-0", "-o", "name"],
        ["kubectl", "drain", "worker-0", "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=5m"],
        ["kubectl", "get", "node", "worker-0", "-o", "name"],
        ["kubectl", "delete", "node", "worker-0", "--ignore-not-found"],
        ["kubectl", "get", "node", "worker-0", "-o", "name"],
        ["kubectl", "wait", "--for=condition=Ready", "node/worker-0", kubectl[-1][-1]],
    ]
    assert kubectl[-1][-1].startswith("--timeout=")


def test_replace_refuses_control_planes_and_unknown_nodes(
    kit_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cloud = Cloud(tmp_path, existing=["port:prod-cp-0", "server:cp-0"])
    result, calls, kubectl = run_replace(kit_dir, tmp_path, cloud, monkeypatch, "cp-0", nodes="cp-0")
    assert result.returncode == 1
    assert "control planes are upgraded in place" in result.stderr
    assert calls == [] and kubectl == []
    result, calls, _ = run_replace(kit_dir, tmp_path, cloud, monkeypatch, "nobody")
    assert result.returncode == 1 and "is not a worker of cluster prod" in result.stderr
    assert calls == []


def test_replace_dry_run_prints_the_commands(kit_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cloud = Cloud(tmp_path)
    result, calls, kubectl = run_replace(kit_dir, tmp_path, cloud, monkeypatch, "--dry-run", "worker-1")
    assert result.returncode == 0, result.stderr
    assert calls == [] and kubectl == []
    lines = result.stdout.splitlines()
    assert lines[0] == "kubectl drain worker-1 --ignore-daemonsets --delete-emptydir-data --timeout=5m"
    assert lines[1] == "openstack server delete --wait -- worker-1"
    assert lines[3].startswith("openstack server create ") and "--port prod-worker-1 " in lines[3]
