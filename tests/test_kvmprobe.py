"""The KVM probe (generator/runners/kvmprobe.py) against fake qemu executables that act like the hosts it
must tell apart: KVM aborts at once, KVM starts but Linux hangs in early boot, KVM boots Linux, no
/dev/kvm. The real probe with a real kernel is in tests/boot/test_kvm_probe.py."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from generator.cli import app
from generator.runners import bake as bake_runner
from generator.runners import kvmprobe, qemu
from generator.runners.qemu import VmError
from tests.conftest import EXAMPLES, write_bundle

# Runs as qemu-system-x86_64. Writes its argv to $FAKE_QEMU_CALLS, then acts out $FAKE_QEMU_MODE on the
# serial console file named by `-chardev file,...,path=`. Started isolated and without site (-IS) and
# importing little, so it prints its first console line within milliseconds: the hang cases can give the
# probe a 2 s timeout.
FAKE_QEMU = r"""#!@PYTHON@ -IS
import json, os, sys, time

if sys.argv[1:] == ["--version"]:
    print("QEMU emulator version 7.2.0 (fake)")
    sys.exit(0)
with open(os.environ["FAKE_QEMU_CALLS"], "a") as f:
    f.write(json.dumps(sys.argv[1:]) + "\n")
chardev = sys.argv[sys.argv.index("-chardev") + 1]
serial = open([p[5:] for p in chardev.split(",") if p.startswith("path=")][0], "a", buffering=1)
mode = os.environ["FAKE_QEMU_MODE"]
early = "Linux version 6.1.0-fake (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC\n"
if mode == "msr":  # nested KVM with -cpu host (qemu 7.2 target/i386/kvm/kvm.c kvm_buf_set_msrs)
    sys.stderr.write("qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69\n")
    sys.stderr.write("qemu-system-x86_64: ../../target/i386/kvm/kvm.c:3183: kvm_buf_set_msrs: "
                     "Assertion `ret == cpu->kvm_msr_buf->nmsrs' failed.\n")
    sys.stderr.flush()
    os.abort()
if mode == "edd":  # starts, then hangs in early boot; a helper process shares its process group
    serial.write("Probing EDD (edd=off to disable)... ok\n")
    import subprocess
    helper = subprocess.Popen(["sleep", "600"])
    with open(os.environ["FAKE_QEMU_CALLS"] + ".helper", "w") as f:
        f.write(str(helper.pid))
    time.sleep(600)
if mode in ("init", "vfs"):
    serial.write(early + "[    0.912345] Freeing unused kernel image (initmem) memory: 2916K\n")
    if mode == "init":
        serial.write("[    1.012345] Run /init as init process\n")
        time.sleep(600)  # an init that never ends: the probe must not wait for it
    serial.write("[    1.023456] Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)\n")
    sys.exit(0)  # panic=-1 with -no-reboot: qemu exits by itself
if mode == "early-panic":  # a panic in early boot proves nothing
    serial.write(early + "Kernel panic - not syncing: Attempted to kill the idle task!\n")
    sys.exit(0)
sys.exit("unknown FAKE_QEMU_MODE " + mode)
"""


class FakeHost:
    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.tmp = tmp_path
        self.monkeypatch = monkeypatch
        self.calls_file = tmp_path / "qemu-calls"
        self.device = tmp_path / "kvm"
        self.device.write_bytes(b"")  # opens read-write like a usable /dev/kvm
        self.kernel = tmp_path / "vmlinuz-6.1.0-fake"
        self.kernel.write_bytes(b"fake kernel\n")
        self.cache_home = tmp_path / "cache"
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        qemu = bin_dir / "qemu-system-x86_64"
        qemu.write_text(FAKE_QEMU.replace("@PYTHON@", sys.executable), encoding="utf-8")
        qemu.chmod(0o755)
        monkeypatch.setenv("PATH", f"{bin_dir}:/usr/local/bin:/usr/bin:/bin")
        monkeypatch.setenv("FAKE_QEMU_CALLS", str(self.calls_file))
        monkeypatch.setenv("KGEN_KVM_DEVICE", str(self.device))
        monkeypatch.setenv("XDG_CACHE_HOME", str(self.cache_home))
        monkeypatch.delenv("KGEN_KVM_PROBE_KERNEL", raising=False)
        monkeypatch.setattr(kvmprobe, "_VERDICTS", {})
        self.mode("init")

    def mode(self, mode: str) -> None:
        self.monkeypatch.setenv("FAKE_QEMU_MODE", mode)

    def calls(self) -> list[list[str]]:
        if not self.calls_file.exists():
            return []
        return [json.loads(line) for line in self.calls_file.read_text(encoding="utf-8").splitlines()]

    def forget(self) -> None:
        """A new process: nothing cached in memory (the disk cache stays)."""
        self.monkeypatch.setattr(kvmprobe, "_VERDICTS", {})


@pytest.fixture
def host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeHost:
    return FakeHost(tmp_path, monkeypatch)


def gone(pid: int) -> bool:
    """The process ends within 10 s (a SIGKILL is delivered asynchronously; a zombie waiting for
    whoever inherited it counts as gone)."""
    deadline = time.monotonic() + 10
    while True:
        try:
            state = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def test_kvm_that_aborts_with_the_msr_error_means_tcg(host: FakeHost) -> None:
    host.mode("msr")
    verdict = kvmprobe.probe_kvm(host.kernel)
    assert verdict.accel == "tcg" and not verdict.usable
    assert "KVM cannot boot Linux on this host" in verdict.reason
    assert "qemu exited (-6) before Linux booted: qemu-system-x86_64: error: failed to set MSR 0x10a" in verdict.reason
    assert verdict.line().startswith("using tcg (software emulation, several times slower): KVM cannot boot Linux")


def test_kvm_that_hangs_after_probing_edd_times_out_and_means_tcg(host: FakeHost) -> None:
    host.mode("edd")
    # (2 s: the fake, a Python script started with -IS, must get to print its line even on a busy machine)
    verdict = kvmprobe.probe_kvm(host.kernel, timeout=2.0)
    assert verdict.accel == "tcg"
    assert "Linux did not boot within 2s (its last console line: Probing EDD (edd=off to disable)... ok)" in (
        verdict.reason
    )
    # qemu and everything in its process group are killed: nothing is left running.
    helper = int(Path(f"{host.calls_file}.helper").read_text(encoding="ascii"))
    assert gone(helper), "the probe left a process of qemu's group running"


@pytest.mark.parametrize("mode", ["init", "vfs"])
def test_kvm_that_boots_linux_means_kvm(host: FakeHost, mode: str) -> None:
    host.mode(mode)
    verdict = kvmprobe.probe_kvm(host.kernel, timeout=60.0)
    assert verdict.accel == "kvm" and verdict.usable
    assert verdict.line() == f"using kvm: KVM boots Linux on this host ({host.kernel} probed)"
    [argv] = host.calls()
    # The settings kgen vm and the Packer qemu source run KVM guests with; no network; the kernel given.
    assert argv[:4] == ["-accel", "kvm", "-cpu", "host"]
    assert argv[argv.index("-nic") + 1] == "none"
    assert "-no-reboot" in argv
    assert argv[argv.index("-kernel") + 1] == str(host.kernel)
    assert argv[argv.index("-append") + 1] == "console=ttyS0 panic=-1"


def test_a_panic_in_early_boot_is_no_proof(host: FakeHost) -> None:
    host.mode("early-panic")
    verdict = kvmprobe.probe_kvm(host.kernel, timeout=60.0)
    assert verdict.accel == "tcg"
    assert "qemu exited (0) before Linux booted" in verdict.reason


def test_no_kvm_device_means_tcg_without_running_qemu(host: FakeHost, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = host.tmp / "no-such-kvm"
    monkeypatch.setenv("KGEN_KVM_DEVICE", str(missing))
    verdict = kvmprobe.probe_kvm(host.kernel)
    assert verdict.accel == "tcg"
    assert verdict.reason == f"{missing} is missing or not usable by this user (No such file or directory)"
    assert host.calls() == []


def test_without_a_kernel_to_probe_with_it_is_tcg(host: FakeHost, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kvmprobe, "probe_kernel", lambda kernel=None: None)
    verdict = kvmprobe.probe_kvm()
    assert verdict.accel == "tcg"
    assert "no Linux kernel to prove that KVM boots one" in verdict.reason
    assert "KGEN_KVM_PROBE_KERNEL" in verdict.reason
    assert host.calls() == []


def test_probe_kernel_prefers_the_callers_then_the_environments(
    host: FakeHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert kvmprobe.probe_kernel(host.kernel) == host.kernel
    other = host.tmp / "vmlinuz-other"
    monkeypatch.setenv("KGEN_KVM_PROBE_KERNEL", str(other))
    assert kvmprobe.probe_kernel() == other
    assert kvmprobe.probe_kernel(host.kernel) == host.kernel


def test_the_verdict_is_cached_per_process_and_per_host(host: FakeHost) -> None:
    host.mode("msr")
    first = kvmprobe.probe_kvm(host.kernel)
    assert kvmprobe.probe_kvm(host.kernel) == first
    assert len(host.calls()) == 1
    cache = host.cache_home / "kgen" / "kvm-probe.json"
    [entry] = json.loads(cache.read_text(encoding="utf-8")).values()
    assert entry["accel"] == "tcg" and entry["kernel"] == str(host.kernel)

    host.forget()
    host.mode("init")  # the disk cache answers: qemu does not run again
    again = kvmprobe.probe_kvm(host.kernel)
    assert again.accel == "tcg" and again.cached
    assert again.reason == f"{first.reason} (cached in {cache})"
    assert len(host.calls()) == 1

    host.forget()
    host.kernel.write_bytes(b"another kernel\n")  # another kernel is probed anew
    assert kvmprobe.probe_kvm(host.kernel).accel == "kvm"
    assert len(host.calls()) == 2


def test_kgen_vm_auto_says_which_accelerator_and_why(host: FakeHost) -> None:
    host.mode("msr")
    lines: list[str] = []
    assert qemu._resolve_accel("auto", lines.append, host.kernel) == "tcg"
    assert len(lines) == 1 and lines[0].startswith("using tcg") and "failed to set MSR 0x10a" in lines[0]
    lines.clear()
    assert qemu._resolve_accel("tcg", lines.append, host.kernel) == "tcg"
    assert lines == [] and host.calls() != []


def test_kgen_vm_accel_kvm_needs_the_device(host: FakeHost, monkeypatch: pytest.MonkeyPatch) -> None:
    say: Callable[[str], None] = lambda _line: None  # noqa: E731
    assert qemu._resolve_accel("kvm", say) == "kvm"
    monkeypatch.setenv("KGEN_KVM_DEVICE", str(host.tmp / "none"))
    with pytest.raises(VmError, match=r"accel kvm: .*/none is missing or not usable by this user"):
        qemu._resolve_accel("kvm", say)


@pytest.mark.parametrize(("mode", "accel"), [("msr", "tcg"), ("edd", "tcg"), ("vfs", "kvm")])
def test_bake_picks_the_accelerator_with_the_same_probe(
    host: FakeHost, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, mode: str, accel: str
) -> None:
    host.mode(mode)
    monkeypatch.setenv("KGEN_KVM_PROBE_KERNEL", str(host.kernel))  # a bake has no kernel of its own
    monkeypatch.setattr(kvmprobe, "PROBE_TIMEOUT", 2.0)  # a bound for the fakes on a busy machine
    lines: list[str] = []
    commands = bake_runner.bake_commands(tmp_path / "out" / "demo", only="qemu", say=lines.append)
    assert f"-var=qemu_accelerator={accel}" in commands[-1]
    assert len(lines) == 1 and lines[0].startswith(f"qemu accelerator: using {accel}")
    # An explicit choice runs no probe.
    calls = len(host.calls())
    lines.clear()
    commands = bake_runner.bake_commands(tmp_path / "out" / "demo", only="qemu", accelerator="tcg", say=lines.append)
    assert "-var=qemu_accelerator=tcg" in commands[-1] and lines == [] and len(host.calls()) == calls


def test_bake_without_kvm_device_is_tcg(host: FakeHost, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KGEN_KVM_DEVICE", str(tmp_path / "absent"))
    lines: list[str] = []
    commands = bake_runner.bake_commands(tmp_path / "out" / "demo", only="qemu", say=lines.append)
    assert "-var=qemu_accelerator=tcg" in commands[-1]
    assert lines == [f"qemu accelerator: using tcg (software emulation, several times slower): {tmp_path}/absent "
                     "is missing or not usable by this user (No such file or directory)"]  # fmt: skip
    assert host.calls() == []


def test_kgen_bake_dry_run_says_the_accelerator_and_accel_overrides_it(host: FakeHost, tmp_path: Path) -> None:
    runner = CliRunner()
    config = str(EXAMPLES / "valid" / "runbook-single-control-plane" / "cluster.yaml")
    out = str(tmp_path / "out")
    bundle = ["--secrets", str(write_bundle(Path(config), tmp_path))]  # else each dry run makes four RSA keys
    host.mode("msr")
    host.monkeypatch.setenv("KGEN_KVM_PROBE_KERNEL", str(host.kernel))
    result = runner.invoke(app, ["bake", config, *bundle, "--only", "qemu", "--dry-run", "-d", out])
    assert result.exit_code == 0, result.output
    assert "qemu accelerator: using tcg (software emulation, several times slower): KVM cannot boot" in result.output
    assert "-var=qemu_accelerator=tcg" in result.output
    calls = len(host.calls())
    result = runner.invoke(app, ["bake", config, *bundle, "--only", "qemu", "--dry-run", "--accel", "kvm", "-d", out])
    assert result.exit_code == 0, result.output
    assert "-var=qemu_accelerator=kvm" in result.output and "qemu accelerator:" not in result.output
    assert len(host.calls()) == calls
