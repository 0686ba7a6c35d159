"""Scheduled etcd backups: the settings and their schema defaults, the units under Debian's
`systemd-analyze verify`, the scripts under shellcheck, and the backup script run for real under bash
(with stand-ins for etcdctl and etcdutl) against a folder of fake snapshots: retention, atomic writes,
failures that keep every older snapshot, and the lock. The etcdctl/etcdutl installer runs for real
against a local release archive."""

from __future__ import annotations

import copy
import fcntl
import hashlib
import io
import os
import re
import shutil
import stat
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from generator import etcd_backup, model, prepare, settings
from generator.checks import CHECKS
from generator.emit import packer as emit_packer
from generator.etcd_backup import EtcdTools
from generator.load import Document
from generator.normalize import normalize, with_defaults
from generator.settings import EtcdBackup, EtcdRemote
from generator.versions import kubernetes_release, supported_minors
from tests.conftest import EXAMPLES, parse_yaml, require_tool, shellcheck

EXAMPLE = EXAMPLES / "valid" / "openstack-ha-kit" / "cluster.yaml"
STAMP = "20200101T000000Z"


def example_data() -> dict[str, Any]:
    data: dict[str, Any] = parse_yaml(EXAMPLE.read_text(encoding="utf-8"))
    return data


def build(data: dict[str, Any]) -> tuple[model.Cluster, EtcdBackup]:
    doc = Document(file="cluster.yaml", data=data)
    return model.build(doc), settings.etcd_backup_settings(with_defaults(data)["spec"])


def problems(data: dict[str, Any]) -> list[str]:
    doc = Document(file="cluster.yaml", data=with_defaults(data))
    return [f"{p.path}: {p.message}" for check in CHECKS for p in check(normalize(doc))]


# --- settings and files ------------------------------------------------------------------------------


def test_defaults_come_from_the_schema() -> None:
    data = example_data()
    del data["spec"]["etcdBackup"]
    _, backup = build(data)
    assert backup.remote is None
    assert backup == EtcdBackup(enabled=True, schedule="*-*-* 00/6:00:00", directory="/var/backups/etcd", keep=8)


def test_example_settings() -> None:
    _, backup = build(example_data())
    assert backup == EtcdBackup(
        enabled=True,
        schedule="*-*-* 00/4:00:00",
        directory="/var/backups/etcd",
        keep=12,
        remote=EtcdRemote(target="swift:etcd-backups/ha-kit", rclone_config="/etc/kgen/rclone.conf"),
    )


@pytest.mark.parametrize("minor", supported_minors())
def test_every_supported_minor_pins_the_etcd_tools_kubeadm_runs(minor: str) -> None:
    data = example_data()
    data["spec"]["kubernetes"]["version"] = str(kubernetes_release(minor).latest_patch)
    cluster, _ = build(data)
    tools = etcd_backup.etcd_tools(cluster)
    assert cluster.kubernetes.etcd_image.endswith(f":{tools.version}-0")
    assert tools.url == (
        f"https://github.com/etcd-io/etcd/releases/download/v{tools.version}/etcd-v{tools.version}-linux-amd64.tar.gz"
    )
    assert len(tools.sha256) == 64
    assert int(tools.sha256, 16) >= 0


def test_files_only_for_control_planes_and_only_when_enabled() -> None:
    cluster, backup = build(example_data())
    first = cluster.first_control_plane
    files = etcd_backup.guest_files(cluster, backup, first)
    assert [(f.path, f.permissions) for f in files] == [
        ("/usr/local/sbin/kgen-etcd-tools", "0700"),
        ("/usr/local/sbin/kgen-etcd-backup", "0700"),
        ("/etc/systemd/system/kgen-etcd-backup.service", "0644"),
        ("/etc/systemd/system/kgen-etcd-backup.timer", "0644"),
    ]
    assert not any(f.secret for f in files)
    assert etcd_backup.enable_commands(backup, first) == [
        ["systemctl", "daemon-reload"],
        ["systemctl", "enable", "--now", "kgen-etcd-backup.timer"],
    ]
    worker = cluster.workers[0]
    assert etcd_backup.guest_files(cluster, backup, worker) == []
    assert etcd_backup.enable_commands(backup, worker) == []
    off = EtcdBackup(enabled=False, schedule=backup.schedule, directory=backup.directory, keep=backup.keep)
    assert etcd_backup.guest_files(cluster, off, first) == []
    assert etcd_backup.enable_commands(off, first) == []


def test_each_control_plane_names_its_own_snapshots() -> None:
    cluster, backup = build(example_data())
    for node in cluster.control_planes:
        script = etcd_backup.backup_script(cluster, backup, node)
        assert f"readonly NODE_NAME={node.name}\n" in script
    script = etcd_backup.backup_script(cluster, backup, cluster.first_control_plane)
    # kubeadm's etcd client certificate and the local member (cmd/kubeadm/app/constants/constants.go)
    assert "readonly CA_CERT=/etc/kubernetes/pki/etcd/ca.crt\n" in script
    assert "readonly CLIENT_CERT=/etc/kubernetes/pki/etcd/healthcheck-client.crt\n" in script
    assert "readonly CLIENT_KEY=/etc/kubernetes/pki/etcd/healthcheck-client.key\n" in script
    assert "readonly ENDPOINT=https://127.0.0.1:2379\n" in script
    assert "readonly KEEP=12\n" in script


@pytest.mark.parametrize(
    ("directory", "fragment"),
    [
        ("/var/lib/etcd/backups", "is inside /var/lib/etcd"),
        ("/etc/kubernetes", "is inside /etc/kubernetes"),
        ("/tmp/etcd", "is inside /tmp"),
        ("/", "not /"),
    ],
)
def test_backup_directory_must_survive_a_restore(directory: str, fragment: str) -> None:
    data = example_data()
    data["spec"]["etcdBackup"]["directory"] = directory
    assert any(fragment in p for p in problems(data)), problems(data)


def test_example_has_no_backup_problems() -> None:
    assert not [p for p in problems(example_data()) if p.startswith("spec.etcdBackup")]


# --- validators --------------------------------------------------------------------------------------


def write_guest_files(root: Path, files: list[Any]) -> None:
    for f in files:
        path = root / f.path.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f.content, encoding="utf-8")
        path.chmod(int(f.permissions, 8))


def system_unit_dir() -> Path:
    for candidate in (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system")):
        if (candidate / "timers.target").is_file():
            return candidate
    pytest.skip("no systemd unit folder to verify against")


def fake_root(tmp_path: Path, files: list[Any]) -> Path:
    """A root with the node's files and the host's systemd units, for `systemd-analyze verify --root`."""
    root = tmp_path / "root"
    write_guest_files(root, files)
    shutil.copytree(system_unit_dir(), root / "usr" / "lib" / "systemd" / "system", symlinks=True)
    return root


def verify(tool: str, root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool, "verify", f"--root={root}", etcd_backup.SERVICE, etcd_backup.TIMER],
        capture_output=True,
        text=True,
        check=False,
    )


def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    tool = require_tool("systemd-analyze", reason="Debian package systemd")
    cluster, backup = build(example_data())
    files = etcd_backup.guest_files(cluster, backup, cluster.first_control_plane)
    root = fake_root(tmp_path, files)
    result = verify(tool, root)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == "", result.stderr
    # The check has teeth: without the backup script the same units fail.
    (root / etcd_backup.BACKUP_SCRIPT.lstrip("/")).unlink()
    broken = verify(tool, root)
    assert broken.returncode != 0
    assert "kgen-etcd-backup" in broken.stderr


@pytest.mark.parametrize("schedule", ["*-*-* 00/6:00:00", "*-*-* 00/4:00:00", "daily", "Mon..Fri 01:30"])
def test_schedules_are_systemd_calendar_expressions(schedule: str) -> None:
    tool = require_tool("systemd-analyze", reason="Debian package systemd")
    result = subprocess.run([tool, "calendar", schedule], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    cluster, backup = build(example_data())
    timer = etcd_backup.timer_unit(cluster, EtcdBackup(True, schedule, backup.directory, backup.keep))
    assert f"\nOnCalendar={schedule}\n" in timer


def test_schema_default_schedule_is_every_six_hours() -> None:
    tool = require_tool("systemd-analyze", reason="Debian package systemd")
    result = subprocess.run(
        [tool, "calendar", "--iterations=5", "*-*-* 00/6:00:00"], capture_output=True, text=True, check=True
    )
    hours = [line.split()[-2].split(":")[0] for line in result.stdout.splitlines() if "Iter." in line or "Next" in line]
    assert sorted({int(h) for h in hours}) == [0, 6, 12, 18]


@pytest.mark.parametrize("minor", supported_minors())
def test_scripts_pass_shellcheck(minor: str, tmp_path: Path) -> None:
    data = example_data()
    data["spec"]["kubernetes"]["version"] = str(kubernetes_release(minor).latest_patch)
    cluster, backup = build(data)
    files = etcd_backup.guest_files(cluster, backup, cluster.first_control_plane)
    scripts = {}
    for f in files:
        if f.content.startswith("#!"):
            assert "\nset -euo pipefail\n" in f.content
            scripts[Path(f.path).name] = f.content
    assert len(scripts) == 2
    shellcheck(scripts, tmp_path)


# --- the backup script, run for real -----------------------------------------------------------------

FAKE_ETCDCTL = """#!/usr/bin/env bash
# Stand-in for etcdctl: records its arguments; `endpoint health` answers unless FAKE_ETCD_DOWN=1;
# `snapshot save F` writes F.part, then renames it (as etcdctl does).
set -euo pipefail
printf '%s\\n' "$*" >>"${FAKE_LOG}"
if [[ "${*: -2:1} ${*: -1}" == "endpoint health" ]]; then
  [[ "${FAKE_ETCD_DOWN:-0}" == 1 ]] && { echo "127.0.0.1:2379 is unhealthy: context deadline exceeded" >&2; exit 1; }
  echo "https://127.0.0.1:2379 is healthy"
  exit 0
fi
[[ "${FAKE_ETCDCTL_FAIL:-0}" == 1 ]] && { echo "context deadline exceeded" >&2; exit 1; }
file="${*: -1}"
if [[ "${FAKE_ETCDCTL_HANG:-0}" == 1 ]]; then  # etcd-io/etcd#10298: the save waits forever
  printf 'partial\\n' >"${file}.part"
  exec sleep 3600
fi
printf 'fake etcd snapshot\\n' >"${file}.part"
command -p mv "${file}.part" "${file}"  # the default PATH: a failing stand-in mv is for the script
echo "Snapshot saved at ${file}"
"""

FAKE_ETCDUTL = """#!/usr/bin/env bash
# Stand-in for etcdutl: `snapshot status F` accepts files that the fake etcdctl wrote.
set -euo pipefail
printf 'etcdutl %s\\n' "$*" >>"${FAKE_LOG}"
[[ "${FAKE_ETCDUTL_FAIL:-0}" == 1 ]] && { echo "snapshot file integrity check failed" >&2; exit 1; }
grep -q '^fake etcd snapshot$' "$3"
echo "| HASH | REVISION | TOTAL KEYS | TOTAL SIZE |"
"""


class Sandbox:
    """A backup folder, fake certificates and stand-in tools, and the rendered script pointing at them."""

    def __init__(self, tmp_path: Path, *, keep: int, remote: EtcdRemote | None = None, save_timeout: int = 600) -> None:
        self.tmp = tmp_path
        self.backups = tmp_path / "backups"
        self.tools = tmp_path / "tools"
        self.pki = tmp_path / "pki"
        self.log = tmp_path / "tools.log"
        self.tools.mkdir()
        self.pki.mkdir()
        for name in ("ca.crt", "healthcheck-client.crt", "healthcheck-client.key"):
            (self.pki / name).write_text("fake\n", encoding="utf-8")
        for name, text in (("etcdctl", FAKE_ETCDCTL), ("etcdutl", FAKE_ETCDUTL)):
            (self.tools / name).write_text(text, encoding="utf-8")
            (self.tools / name).chmod(0o755)
        cluster, backup = build(example_data())
        self.node = cluster.first_control_plane.name
        settings = EtcdBackup(True, backup.schedule, str(self.backups), keep, remote)
        self.script = tmp_path / "kgen-etcd-backup"
        self.script.write_text(
            etcd_backup.backup_script(
                cluster,
                settings,
                cluster.first_control_plane,
                tools_path=str(self.tools),
                pki_dir=str(self.pki),
                save_timeout=save_timeout,
            ),
            encoding="utf-8",
        )

    def run(self, **env: str) -> subprocess.CompletedProcess[str]:
        path = os.environ["PATH"]
        tool = env.pop("FAKE_FAIL_TOOL", None)
        if tool is not None:  # a coreutils tool that fails on the snapshot's final name (the script's rename/stat)
            failing = self.tmp / "failing-bin"
            failing.mkdir(exist_ok=True)
            real = shutil.which(tool)
            stub = failing / tool
            stub.write_text(
                "#!/usr/bin/env bash\n"
                f'for a in "$@"; do [[ "$a" == */etcd-snapshot-* || "$a" == */.tmp-etcd-snapshot-*Z.db ]] '
                f'&& [[ "$a" != *.part ]] && {{ echo "{tool}: Input/output error" >&2; exit 1; }}; done\n'
                f'exec {real} "$@"\n',
                encoding="utf-8",
            )
            stub.chmod(0o755)
            path = f"{failing}:{path}"
        return subprocess.run(
            ["bash", str(self.script)],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "PATH": path, "FAKE_LOG": str(self.log), **env},
        )

    def snapshots(self, node: str | None = None) -> list[str]:
        """The files the script counts as this node's snapshots."""
        pattern = re.compile(rf"etcd-snapshot-{node or self.node}-\d{{8}}T\d{{6}}Z\.db")
        return sorted(p.name for p in self.backups.iterdir() if pattern.fullmatch(p.name) and p.is_file())


def old_snapshot(node: str, day: int) -> str:
    return f"etcd-snapshot-{node}-202001{day:02d}T000000Z.db"


def fill(sandbox: Sandbox, count: int) -> None:
    sandbox.backups.mkdir(mode=0o700, exist_ok=True)
    for day in range(1, count + 1):
        (sandbox.backups / old_snapshot(sandbox.node, day)).write_text("old\n", encoding="utf-8")


def test_retention_keeps_the_newest_and_touches_nothing_else(tmp_path: Path) -> None:
    sandbox = Sandbox(tmp_path, keep=3)
    fill(sandbox, 10)
    others = {
        old_snapshot("cp-1", 1): "another node's snapshot in a shared folder",
        old_snapshot("cp-1", 2): "another node's snapshot in a shared folder",
        "notes.txt": "an operator's notes",
        "etcd-snapshot-cp-0-before-upgrade.db": "a snapshot taken and named by hand",
        "etcd-snapshot-cp-0-20200101T000000Z.db.bak": "a renamed copy",
    }
    for name, text in others.items():
        (sandbox.backups / name).write_text(text, encoding="utf-8")
    (sandbox.backups / old_snapshot(sandbox.node, 20)).mkdir()  # a folder with a snapshot's name
    stale = sandbox.backups / f".tmp-etcd-snapshot-{sandbox.node}-{STAMP}.db.part"
    stale.write_text("half-written\n", encoding="utf-8")

    result = sandbox.run()

    assert result.returncode == 0, result.stderr
    kept = sandbox.snapshots()
    assert len(kept) == 3
    assert kept[:2] == [old_snapshot(sandbox.node, 9), old_snapshot(sandbox.node, 10)]
    new = sandbox.backups / kept[2]
    assert new.read_text(encoding="utf-8") == "fake etcd snapshot\n"
    assert stat.S_IMODE(new.stat().st_mode) == 0o600
    for name, text in others.items():
        assert (sandbox.backups / name).read_text(encoding="utf-8") == text
    assert (sandbox.backups / old_snapshot(sandbox.node, 20)).is_dir()
    assert not stale.exists()
    assert not [p for p in sandbox.backups.iterdir() if p.name.startswith(".tmp-")]
    assert "deleting" in result.stderr and old_snapshot(sandbox.node, 8) in result.stderr
    calls = sandbox.log.read_text(encoding="utf-8").splitlines()
    # First a bounded health check, then the save (etcd-io/etcd#10298: the save has no timeout of its own).
    assert calls[0].startswith("--endpoints=https://127.0.0.1:2379 ")
    assert "--dial-timeout=5s --command-timeout=15s endpoint health" in calls[0]
    assert calls[1].startswith("--endpoints=https://127.0.0.1:2379 ")
    assert f"--cacert={sandbox.pki}/ca.crt --cert={sandbox.pki}/healthcheck-client.crt" in calls[1]
    assert (
        f"--key={sandbox.pki}/healthcheck-client.key --dial-timeout=5s snapshot save {sandbox.backups}/.tmp-"
        in (calls[1])
    )
    assert calls[2].startswith("etcdutl snapshot status ") and "--write-out=table" in calls[2]


def test_fewer_snapshots_than_keep_deletes_nothing(tmp_path: Path) -> None:
    sandbox = Sandbox(tmp_path, keep=8)
    fill(sandbox, 3)
    result = sandbox.run()
    assert result.returncode == 0, result.stderr
    assert len(sandbox.snapshots()) == 4
    assert "deleting" not in result.stderr


def test_first_run_creates_a_private_folder(tmp_path: Path) -> None:
    sandbox = Sandbox(tmp_path, keep=2)
    for _ in range(3):
        assert sandbox.run().returncode == 0
    assert stat.S_IMODE(sandbox.backups.stat().st_mode) == 0o700
    assert 1 <= len(sandbox.snapshots()) <= 2  # runs within one second share a name


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"FAKE_ETCDUTL_FAIL": "1"}, "etcdutl snapshot status rejected the snapshot"),
        ({"FAKE_ETCDCTL_FAIL": "1"}, "etcdctl snapshot save failed"),
        ({"FAKE_ETCD_DOWN": "1"}, "is unreachable or unhealthy (etcdctl endpoint health exited 1)"),
        ({"FAKE_FAIL_TOOL": "mv"}, "could not rename"),
        ({"FAKE_FAIL_TOOL": "stat"}, "cannot read the size of"),
    ],
)
def test_a_failed_snapshot_publishes_nothing_and_deletes_nothing(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    sandbox = Sandbox(tmp_path, keep=3)
    fill(sandbox, 5)
    before = sorted(p.name for p in sandbox.backups.iterdir())
    result = sandbox.run(**env)
    assert result.returncode == 1
    assert message in result.stderr
    assert "FAILED: " in result.stderr
    if env.get("FAKE_FAIL_TOOL") == "stat":  # the snapshot is in place, but the run still fails
        assert len(sandbox.snapshots()) == 6
        return
    assert sorted(p.name for p in sandbox.backups.iterdir() if p.name != f".kgen-etcd-backup-{sandbox.node}.lock") == (
        before
    )


def test_a_save_that_never_ends_is_stopped(tmp_path: Path) -> None:
    """The member answered the health check, then the save hangs: `timeout` stops it (here after 1 s; the
    fake, a bash script, writes its .part file within milliseconds, so the cleanup of it is tested)."""
    sandbox = Sandbox(tmp_path, keep=3, save_timeout=1)
    fill(sandbox, 3)
    before = sorted(p.name for p in sandbox.backups.iterdir())
    result = sandbox.run(FAKE_ETCDCTL_HANG="1")
    assert result.returncode == 1
    assert "FAILED: etcdctl snapshot save did not finish within 1s and was stopped" in result.stderr
    assert any(" snapshot save " in line for line in sandbox.log.read_text(encoding="utf-8").splitlines())
    after = sorted(p.name for p in sandbox.backups.iterdir() if not p.name.endswith(".lock"))
    assert after == before  # no .tmp-* or .part file, nothing deleted


def test_missing_tools_fail_with_the_fix(tmp_path: Path) -> None:
    sandbox = Sandbox(tmp_path, keep=3)
    (sandbox.tools / "etcdutl").unlink()
    result = sandbox.run()
    assert result.returncode == 1
    assert "run /usr/local/sbin/kgen-etcd-tools" in result.stderr
    assert not sandbox.log.exists()


def test_one_backup_at_a_time(tmp_path: Path) -> None:
    sandbox = Sandbox(tmp_path, keep=3)
    sandbox.backups.mkdir(mode=0o700)
    with (sandbox.backups / f".kgen-etcd-backup-{sandbox.node}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        result = sandbox.run()
    assert result.returncode == 1
    assert "another backup of node cp-0 is running" in result.stderr
    assert sandbox.snapshots() == []


# --- the etcdctl/etcdutl installer, run for real -----------------------------------------------------


def release_archive(path: Path, version: str) -> str:
    """A stand-in etcd release archive; returns its sha256."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name in ("etcd", "etcdctl", "etcdutl", "README.md"):
            data = f"#!/bin/sh\necho {name} {version}\n".encode()
            info = tarfile.TarInfo(f"etcd-v{version}-linux-amd64/{name}")
            info.size = len(data)
            info.mode = 0o755
            archive.addfile(info, io.BytesIO(data))
    path.write_bytes(buffer.getvalue())
    return hashlib.sha256(buffer.getvalue()).hexdigest()


def installer(tmp_path: Path, tools: EtcdTools) -> Path:
    cluster, _ = build(example_data())
    script = tmp_path / "kgen-etcd-tools"
    text = etcd_backup.tools_script(
        cluster, tools=tools, tools_path=str(tmp_path / "lib" / f"v{tools.version}"), link_dir=str(tmp_path / "bin")
    )
    script.write_text(text, encoding="utf-8")
    return script


def test_installer_checks_the_sha256_and_installs_once(tmp_path: Path) -> None:
    require_tool("curl", reason="Debian package curl")
    if os.uname().machine != "x86_64":
        pytest.skip("the installer pins the linux-amd64 release")
    archive = tmp_path / "etcd.tar.gz"
    digest = release_archive(archive, "3.5.24")
    tools = EtcdTools(version="3.5.24", url=archive.as_uri(), sha256=digest)
    script = installer(tmp_path, tools)

    first = subprocess.run(["bash", str(script)], capture_output=True, text=True, check=False)
    assert first.returncode == 0, first.stderr
    lib = tmp_path / "lib" / "v3.5.24"
    assert sorted(p.name for p in lib.iterdir()) == ["etcdctl", "etcdutl"]
    assert (tmp_path / "bin" / "etcdutl").readlink() == lib / "etcdutl"
    assert not (tmp_path / "lib" / "v3.5.24.partial").exists()

    archive.unlink()  # installed: a second run must not download
    second = subprocess.run(["bash", str(script)], capture_output=True, text=True, check=False)
    assert second.returncode == 0, second.stderr
    assert "are installed" in second.stderr


def test_installer_refuses_an_archive_with_another_sha256(tmp_path: Path) -> None:
    require_tool("curl", reason="Debian package curl")
    if os.uname().machine != "x86_64":
        pytest.skip("the installer pins the linux-amd64 release")
    archive = tmp_path / "etcd.tar.gz"
    release_archive(archive, "3.5.24")
    tools = EtcdTools(version="3.5.24", url=archive.as_uri(), sha256="0" * 64)
    result = subprocess.run(["bash", str(installer(tmp_path, tools))], capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert "does not have the pinned sha256" in result.stderr
    assert not (tmp_path / "lib").exists() or not any((tmp_path / "lib").iterdir())


def test_schema_rejects_a_schedule_with_a_newline_or_specifier() -> None:
    from generator.validate import validate  # noqa: PLC0415 - the whole validator, schema included

    for schedule in ("daily\nExecStart=/bin/sh", "*-*-* %H:00"):
        data = copy.deepcopy(example_data())
        data["spec"]["etcdBackup"]["schedule"] = schedule
        found = [p for p in validate(Document(file="cluster.yaml", data=data)) if p.severity == "error"]
        assert any(p.path == "spec.etcdBackup.schedule" for p in found), found


# --- the remote copy, with a real rclone against its local backend --------------------------------------


class Remote:
    """An rclone config with one remote of rclone's local backend, and the folder it stands for."""

    def __init__(self, tmp_path: Path, *, folder: Path | None = None) -> None:
        self.config = tmp_path / "rclone.conf"
        self.config.write_text("[offsite]\ntype = local\n", encoding="utf-8")
        self.config.chmod(0o600)
        self.folder = folder or tmp_path / "object-store" / "etcd-backups" / "prod"
        self.settings = EtcdRemote(target=f"offsite:{self.folder}", rclone_config=str(self.config))

    def names(self) -> list[str]:
        return sorted(p.name for p in self.folder.iterdir()) if self.folder.is_dir() else []


def test_remote_copy_is_verified_and_pruned_to_keep(tmp_path: Path) -> None:
    require_tool("rclone", reason="Debian package rclone")
    remote = Remote(tmp_path)
    sandbox = Sandbox(tmp_path, keep=3, remote=remote.settings)
    remote.folder.mkdir(parents=True)
    for day in range(1, 6):  # older remote snapshots of this node, one of another node, and a foreign file
        (remote.folder / old_snapshot(sandbox.node, day)).write_text("old\n", encoding="utf-8")
    (remote.folder / old_snapshot("cp-1", 1)).write_text("cp-1\n", encoding="utf-8")
    (remote.folder / "README").write_text("an operator's file\n", encoding="utf-8")

    result = sandbox.run()

    assert result.returncode == 0, result.stderr
    [local] = sandbox.snapshots()
    assert (remote.folder / local).read_bytes() == (sandbox.backups / local).read_bytes()
    assert f"copied and verified offsite:{remote.folder}/{local}" in result.stderr
    assert remote.names() == sorted(
        [old_snapshot(sandbox.node, 4), old_snapshot(sandbox.node, 5), local, old_snapshot("cp-1", 1), "README"]
    )
    assert f"deleting offsite:{remote.folder}/{old_snapshot(sandbox.node, 3)}" in result.stderr


def test_failed_upload_keeps_the_local_snapshot_and_fails_the_unit(tmp_path: Path) -> None:
    require_tool("rclone", reason="Debian package rclone")
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the bucket should be\n", encoding="utf-8")
    remote = Remote(tmp_path, folder=blocker / "prod")
    sandbox = Sandbox(tmp_path, keep=3, remote=remote.settings)
    fill(sandbox, 2)

    result = sandbox.run()

    assert result.returncode == 1
    assert "FAILED: could not copy" in result.stderr
    assert "the local snapshot is kept and no remote snapshot was deleted" in result.stderr
    snapshots = sandbox.snapshots()
    assert len(snapshots) == 3  # the two older ones and the new one
    assert (sandbox.backups / snapshots[-1]).read_text(encoding="utf-8") == "fake etcd snapshot\n"
    assert blocker.read_text(encoding="utf-8") == "a file where the bucket should be\n"


@pytest.mark.parametrize(("mode", "fragment"), [(0o644, "readable or writable by others (mode 644)"), (0o660, "660")])
def test_rclone_config_readable_by_others_is_refused(tmp_path: Path, mode: int, fragment: str) -> None:
    require_tool("rclone", reason="Debian package rclone")
    remote = Remote(tmp_path)
    remote.config.chmod(mode)
    sandbox = Sandbox(tmp_path, keep=3, remote=remote.settings)
    result = sandbox.run()
    assert result.returncode == 1
    assert fragment in result.stderr
    assert remote.names() == []
    assert len(sandbox.snapshots()) == 1  # the local backup still happened


def test_missing_rclone_config_says_where_to_put_it(tmp_path: Path) -> None:
    require_tool("rclone", reason="Debian package rclone")
    remote = Remote(tmp_path)
    remote.config.unlink()
    result = Sandbox(tmp_path, keep=3, remote=remote.settings).run()
    assert result.returncode == 1
    assert f"the rclone config {remote.config} is missing" in result.stderr


def test_remote_settings_from_the_config() -> None:
    data = example_data()
    data["spec"]["etcdBackup"]["remote"] = {"target": "swift:etcd-backups/prod"}
    _, backup = build(data)
    assert backup.remote == EtcdRemote(target="swift:etcd-backups/prod", rclone_config="/etc/kgen/rclone.conf")
    assert etcd_backup.needs_rclone(backup)
    cluster, _ = build(data)
    script = etcd_backup.backup_script(cluster, backup, cluster.first_control_plane)
    assert "readonly REMOTE_TARGET=swift:etcd-backups/prod\n" in script
    assert "readonly RCLONE_CONFIG=/etc/kgen/rclone.conf\n" in script
    # No credentials reach user-data: only the path of the file on the node.
    assert "rclone.conf" not in "".join(f.content for f in etcd_backup.guest_files(cluster, backup, cluster.workers[0]))


@pytest.mark.parametrize(
    "target", ["swift:", "swift:/", "swift:bucket/", "no-colon", "swift:bucket//x", "swift:b$(id)", "-x:bucket"]
)
def test_schema_rejects_a_bad_remote_target(target: str) -> None:
    from generator.validate import validate  # noqa: PLC0415 - the whole validator, schema included

    data = copy.deepcopy(example_data())
    data["spec"]["etcdBackup"]["remote"] = {"target": target}
    found = [p for p in validate(Document(file="cluster.yaml", data=data)) if p.severity == "error"]
    assert any(p.path == "spec.etcdBackup.remote.target" for p in found), found


@pytest.mark.parametrize("os_name", ["ubuntu-24.04", "rocky-9"])
def test_install_phase_adds_rclone_only_for_a_remote(os_name: str, tmp_path: Path) -> None:
    data = example_data()
    data["spec"]["os"] = os_name
    del data["spec"]["etcdBackup"]["remote"]
    cluster, _ = build(data)
    assert "rclone" not in prepare.install_script(cluster)
    assert "check_rclone" not in emit_packer.self_check_script(cluster)
    data["spec"]["etcdBackup"]["remote"] = {"target": "swift:etcd-backups/prod"}
    cluster, backup = build(data)
    install = prepare.install_script(cluster)
    assert "\ninstall_rclone\n" in install or "\n  install_rclone\n" in install
    assert ("install --no-install-recommends rclone" if os_name.startswith("ubuntu") else "dnf install -y rclone") in (
        install
    )
    assert "\n  check_rclone\n" in emit_packer.self_check_script(cluster)
    files = {
        "install.sh": install,
        "self-check.sh": emit_packer.self_check_script(cluster),
        "backup.sh": etcd_backup.backup_script(cluster, backup, cluster.first_control_plane),
    }
    shellcheck(files, tmp_path)
