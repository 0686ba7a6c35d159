"""The qemu runner behind ``kgen vm``: boot rendered user-data in a local VM and read back its report.

It never changes the user-data under test. :func:`run_vm` builds a NoCloud seed (the user-data, the
meta-data and the reporting vendor-data of :mod:`generator.runners.vm_report`), boots a copy-on-write
overlay of the image with ``-nic none`` by default (the guest gets no network; ``network="user"``
gives it qemu's user-mode NAT instead, for an install-mode node that downloads packages on a machine
with internet access), streams the serial console into ``workdir/serial.log`` and parses the report
from it, with a deadline for the guest and a grace period for its power-off.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from generator.records import record
from generator.runners.kvmprobe import KVM_CPU, KvmVerdict, kvm_device, probe_kvm
from generator.runners.seed import QEMU_IMG, VmError, build_seed, check_user_data, image_format, require
from generator.runners.vm_report import ReportScanner, VmReport, report_vendor_data

__all__ = [
    "KvmVerdict",
    "VmError",
    "VmResult",
    "build_seed",
    "probe_kvm",
    "run_vm",
]

DEFAULT_APPEND = "root=/dev/vda rw console=ttyS0 ds=nocloud"
QEMU = "qemu-system-x86_64"

_STAGE_RE = re.compile(r"Cloud-init v\. \S+ running '(init-local|init|modules:config|modules:final)'")
_FINISHED_RE = re.compile(r"Cloud-init v\. \S+ finished at")
_POWEROFF_GRACE = 60.0  # seconds the guest gets to power off by itself after reporting


@record
class VmResult:
    ok: bool
    timed_out: bool
    report: VmReport | None
    serial_log: Path
    disk: Path | None
    seconds: float


def _qemu_path(path: Path) -> str:
    """A path for a qemu option value (commas are doubled)."""
    return str(path).replace(",", ",,")


def _overlay_path(workdir: Path, image: Path) -> Path:
    candidate = workdir / "disk.qcow2"
    n = 1
    while candidate.exists() or candidate.resolve() == image.resolve():
        n += 1
        candidate = workdir / f"disk-{n}.qcow2"
    return candidate


def _resolve_accel(accel: str, progress: Callable[[str], None], kernel: Path | None = None) -> str:
    if accel == "auto":
        # Proves that KVM boots Linux (this kernel when there is one), not just that /dev/kvm opens.
        verdict = probe_kvm(kernel)
        progress(verdict.line())
        return verdict.accel
    if accel == "kvm":
        device = kvm_device()
        if not os.access(device, os.R_OK | os.W_OK):
            raise VmError(f"accel kvm: {device} is missing or not usable by this user")
        return "kvm"
    if accel == "tcg":
        return "tcg"
    raise VmError(f"unknown accel {accel!r}: use kvm, tcg or auto")


class _SerialTail:
    """Reads complete lines that qemu appends to the serial log file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.partial = b""

    def lines(self) -> Iterator[str]:
        try:
            with self.path.open("rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return
        self.offset += len(data)
        chunks = (self.partial + data).split(b"\n")
        self.partial = chunks.pop()
        for chunk in chunks:
            yield chunk.decode("utf-8", "replace").rstrip("\r")

    def rest(self) -> Iterator[str]:
        yield from self.lines()
        if self.partial:
            yield self.partial.decode("utf-8", "replace").rstrip("\r")
            self.partial = b""


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)  # qemu flushes its disks and exits
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _check_options(*, kernel: Path | None, initrd: Path | None, append: str | None, memory_mb: int, cpus: int) -> None:
    if (initrd is not None or append is not None) and kernel is None:
        raise VmError("initrd and append need a kernel")
    for label, path in (("kernel", kernel), ("initrd", initrd)):
        if path is not None and not path.is_file():
            raise VmError(f"{label} not found: {path}")
    if memory_mb < 256 or cpus < 1:
        raise VmError("the VM needs at least 256 MiB of memory and one CPU")


def check_inputs(
    *,
    image: Path,
    kernel: Path | None = None,
    initrd: Path | None = None,
    append: str | None = None,
    memory_mb: int = 2048,
    cpus: int = 2,
    network: str = "none",
) -> str:
    """Everything :func:`run_vm` needs that can be checked before anything is written: the options,
    the disk image (there, readable, qcow2 or raw) and the tools. Returns the image's format."""
    _check_options(kernel=kernel, initrd=initrd, append=append, memory_mb=memory_mb, cpus=cpus)
    if network not in ("none", "user"):
        raise VmError(f"unknown network {network!r}: use none or user")
    if not image.is_file():
        raise VmError(f"disk image not found: {image}")
    require(QEMU, "qemu-system-x86")
    require(QEMU_IMG, "qemu-utils")
    return image_format(image.resolve())


def _qemu_command(
    qemu: str,
    *,
    accel: str,
    memory_mb: int,
    cpus: int,
    serial_log: Path,
    kernel: Path | None,
    initrd: Path | None,
    append: str | None,
    drives: list[str],
    network: str = "none",
) -> list[str]:
    # A machine UUID, as every cloud instance has: kubeadm needs a readable, unique product_uuid, and
    # qemu exposes none in SMBIOS without -uuid.
    cmd = [qemu, "-name", "kgen-vm", "-uuid", str(uuid.uuid4())]
    cmd += ["-accel", "kvm", *KVM_CPU] if accel == "kvm" else ["-accel", "tcg", "-cpu", "max"]
    if network not in ("none", "user"):
        raise VmError(f"unknown network {network!r}: use none or user")
    nic = "none" if network == "none" else "user,model=virtio-net-pci"
    cmd += ["-m", str(memory_mb), "-smp", str(cpus), "-nographic", "-no-reboot", "-nic", nic]
    cmd += ["-monitor", "none", "-chardev", f"file,id=serial0,path={_qemu_path(serial_log)}"]
    cmd += ["-serial", "chardev:serial0"]
    if kernel is not None:
        cmd += ["-kernel", str(kernel), "-append", append if append is not None else DEFAULT_APPEND]
        if initrd is not None:
            cmd += ["-initrd", str(initrd)]
    for drive in drives:
        cmd += ["-drive", drive]
    return cmd


def run_vm(
    *,
    user_data: Path,
    meta_data: Path,
    image: Path,
    workdir: Path,
    accel: str = "auto",
    timeout: float = 600.0,
    keep: bool = False,
    kernel: Path | None = None,
    initrd: Path | None = None,
    append: str | None = None,
    memory_mb: int = 2048,
    cpus: int = 2,
    network: str = "none",
    progress: Callable[[str], None] | None = None,
) -> VmResult:
    """Boot ``image`` (through a qcow2 overlay) with the user-data and read the guest's report.

    To boot the same disk a second time, run the first time with ``keep=True`` and pass its result's
    ``disk`` as ``image``: the new overlay is backed by it, so the guest sees the disk as the first
    boot left it (same instance-id in the meta-data means cloud-init skips per-instance modules; the
    report unit is installed by bootcmd, which runs on every boot). Keep that disk until the runs
    backed by it are done.

    The VM runs with ``-no-reboot``: a guest that reboots ends the run without a report. Raises
    :class:`VmError` for missing tools, a bad image or options, user-data that would block the
    report (it sets ``bootcmd`` or ``power_state``, or disables vendor-data), or a qemu that fails
    to start. A guest that fails is no error: see ``VmResult.ok`` and ``VmResult.report``.
    """
    say: Callable[[str], None] = progress or (lambda _line: None)
    fmt = check_inputs(
        image=image, kernel=kernel, initrd=initrd, append=append, memory_mb=memory_mb, cpus=cpus, network=network
    )
    qemu = require(QEMU, "qemu-system-x86")
    image = image.resolve()
    check_user_data(user_data)
    accel = _resolve_accel(accel, say, kernel)

    workdir.mkdir(parents=True, exist_ok=True)
    workdir = workdir.resolve()
    vendor = workdir / "vendor-data"
    vendor.write_text(report_vendor_data(), encoding="utf-8")
    seed = build_seed(user_data, meta_data, workdir / "seed.img", vendor_data=vendor)
    overlay = _overlay_path(workdir, image)
    made = subprocess.run(
        [QEMU_IMG, "create", "-q", "-f", "qcow2", "-b", str(image), "-F", fmt, str(overlay)],
        capture_output=True,
        text=True,
        check=False,
    )
    if made.returncode != 0:
        raise VmError(f"cannot create an overlay of {image}: {made.stderr.strip()}")

    serial_log = workdir / "serial.log"
    serial_log.write_bytes(b"")
    qemu_log = workdir / "qemu.log"
    cmd = _qemu_command(
        qemu,
        accel=accel,
        memory_mb=memory_mb,
        cpus=cpus,
        serial_log=serial_log,
        kernel=kernel,
        initrd=initrd,
        append=append,
        drives=[
            f"file={_qemu_path(overlay)},if=virtio,format=qcow2",
            f"file={_qemu_path(seed)},if=virtio,format=raw,readonly=on",
        ],
        network=network,
    )

    scanner = ReportScanner()
    started = time.monotonic()
    timed_out = False
    try:
        with qemu_log.open("wb") as log:
            say("booting")
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
            try:
                timed_out = _watch(proc, _SerialTail(serial_log), scanner, started + timeout, say)
            finally:
                _stop(proc)
        seconds = time.monotonic() - started
        if scanner.report is None and proc.returncode not in (0, None) and serial_log.stat().st_size == 0:
            detail = qemu_log.read_text(encoding="utf-8", errors="replace").strip()[-2000:]
            raise VmError(f"qemu failed to start (exit {proc.returncode}):\n{detail}")
    except BaseException:
        if not keep:
            overlay.unlink(missing_ok=True)
        raise
    if not keep:
        overlay.unlink(missing_ok=True)
    report = scanner.report
    ok = (
        report is not None
        and report.cloud_init_status == "done"
        and not report.cloud_init_errors
        and report.success_marker is not None
    )
    return VmResult(
        ok=ok,
        timed_out=timed_out,
        report=report,
        serial_log=serial_log,
        disk=overlay if keep else None,
        seconds=seconds,
    )


def _watch(
    proc: subprocess.Popen[bytes],
    tail: _SerialTail,
    scanner: ReportScanner,
    deadline: float,
    say: Callable[[str], None],
) -> bool:
    """Follows the serial log until a report arrives and the guest powers off, qemu exits, or the
    deadline passes. Returns True on timeout (no report by the deadline)."""

    def consume(lines: Iterator[str]) -> None:
        for line in lines:
            had_report = scanner.report is not None
            if scanner.feed(line):
                if scanner.report is not None and not had_report:
                    say("report received")
                continue
            stage = _STAGE_RE.search(line)
            if stage:
                say(f"cloud-init: {stage.group(1)}")
            elif _FINISHED_RE.search(line):
                say("cloud-init: finished")
            elif "kgen-bootstrap" in line:
                say(line.strip())

    poweroff_deadline: float | None = None
    while True:
        consume(tail.lines())
        if proc.poll() is not None:
            consume(tail.rest())
            return False
        now = time.monotonic()
        if scanner.report is not None:
            if poweroff_deadline is None:
                poweroff_deadline = now + _POWEROFF_GRACE
            elif now > poweroff_deadline:
                return False
        elif now > deadline:
            say("timed out")
            return True
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=0.25)
