"""Whether KVM can boot Linux on this host: the accelerator choice behind ``kgen vm`` and ``kgen bake``.

``/dev/kvm`` existing proves little. Under nested virtualisation qemu may abort at once
(``-cpu host``: "failed to set MSR 0x10a") or start and then hang in the kernel's early boot
("Probing EDD") until killed; a tiny boot sector still reaches 64-bit mode there. So the probe boots
a real Linux kernel (the one about to be used when there is one) under ``-accel kvm -cpu host``, the
settings :mod:`generator.runners.qemu` and the Packer qemu source use, with ``-nic none``, no disk and no
initrd, and watches its serial console for a line that only a kernel well past early boot prints:
it runs an init, or panics because it has no root filesystem (with ``panic=-1`` and ``-no-reboot``
qemu then exits by itself). Anything else within ``timeout`` seconds (qemu exits first, or hangs) means
TCG. qemu runs in its own process group, which is killed in every case, so the probe cannot hang.

The verdict is cached per process, and on disk in ``~/.cache/kgen/kvm-probe.json`` keyed by the
device, qemu's version and path, the kernel's SHA-256, the host kernel release and its boot id (a
reboot or a qemu upgrade probes again). ``KGEN_KVM_DEVICE`` names another device than ``/dev/kvm``
(tests use it to simulate a host without KVM); ``KGEN_KVM_PROBE_KERNEL`` names the kernel to probe
with when the caller has none (otherwise the host's ``/boot/vmlinuz-*``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Literal

from generator.records import record

__all__ = ["KVM_CPU", "KVM_DEVICE", "PROBE_TIMEOUT", "KvmVerdict", "kvm_device", "probe_kernel", "probe_kvm"]

KVM_DEVICE = "/dev/kvm"
QEMU = "qemu-system-x86_64"
KVM_CPU = ("-cpu", "host")  # what generator/runners/qemu.py and the Packer qemu source run KVM guests with
PROBE_TIMEOUT = 20.0  # KVM reaches the marker in 1-2 s; TCG needs about 7 s on 2 busy cores
PROBE_APPEND = "console=ttyS0 panic=-1"  # no root=, no initrd: the kernel ends in a panic, then qemu exits
CACHE_FILE = "kvm-probe.json"
# Lines a kernel prints only well past early boot (all drivers initialised, about to start userspace):
# linux v6.1 init/main.c run_init_process() `pr_info("Run %s as init process\n", ...)` and
# kernel_init() `panic("No working init found. ...")`; init/do_mounts.c mount_block_root()
# `panic("VFS: Unable to mount root fs on %s", ...)` (what this probe's command line leads to).
BOOTED_RE = re.compile(
    r"Run \S+ as init process|Kernel panic - not syncing: (?:VFS: Unable to mount root fs|No working init found)"
)

Accel = Literal["kvm", "tcg"]


@record
class KvmVerdict:
    accel: Accel
    reason: str  # why, in a few words (for the line that says which accelerator is used)
    cached: bool = False

    @property
    def usable(self) -> bool:
        return self.accel == "kvm"

    def line(self) -> str:
        if self.usable:
            return f"using kvm: {self.reason}"
        return f"using tcg (software emulation, several times slower): {self.reason}"


_VERDICTS: dict[tuple[str, str, str], KvmVerdict] = {}


def kvm_device() -> str:
    return os.environ.get("KGEN_KVM_DEVICE") or KVM_DEVICE


def probe_kernel(kernel: Path | None = None) -> Path | None:
    """The kernel to probe with: ``kernel``, else ``$KGEN_KVM_PROBE_KERNEL``, else the running
    kernel's or the newest readable ``/boot/vmlinuz-*``; None when there is none."""
    if kernel is not None:
        return kernel
    named = os.environ.get("KGEN_KVM_PROBE_KERNEL")
    if named:
        return Path(named)
    boot = Path("/boot")
    candidates = [boot / f"vmlinuz-{os.uname().release}"]
    with contextlib.suppress(OSError):
        candidates += sorted(boot.glob("vmlinuz-*"), key=lambda p: p.stat().st_mtime, reverse=True)
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.R_OK):
            return candidate
    return None


def probe_kvm(
    kernel: Path | None = None,
    *,
    timeout: float | None = None,
    cache_dir: Path | None = None,
) -> KvmVerdict:
    """Whether KVM boots ``kernel`` (see :func:`probe_kernel` for the default) on this host; never
    takes much longer than ``timeout`` seconds (:data:`PROBE_TIMEOUT`). The verdict says ``tcg`` and
    why when it does not."""
    device = kvm_device()
    try:
        fd = os.open(device, os.O_RDWR | os.O_CLOEXEC)
    except OSError as exc:
        return KvmVerdict("tcg", f"{device} is missing or not usable by this user ({exc.strerror})")
    os.close(fd)
    qemu = shutil.which(QEMU)
    if qemu is None:
        return KvmVerdict("tcg", f"{QEMU} not found")
    chosen = probe_kernel(kernel)
    if chosen is None:
        return KvmVerdict(
            "tcg",
            "no Linux kernel to prove that KVM boots one (none readable in /boot); "
            "set KGEN_KVM_PROBE_KERNEL=/path/to/vmlinuz, or choose the accelerator yourself",
        )
    try:
        stat = chosen.stat()
    except OSError as exc:
        return KvmVerdict("tcg", f"cannot read the kernel {chosen} to probe KVM with ({exc.strerror})")
    process_key = (device, os.path.realpath(qemu), f"{chosen.resolve()}:{stat.st_size}:{stat.st_mtime_ns}")
    if process_key in _VERDICTS:
        return _VERDICTS[process_key]
    cache = (cache_dir or _default_cache_dir()) / CACHE_FILE
    host_key = _host_key(device, qemu, chosen)
    verdict = _cached(cache, host_key) if host_key else None
    if verdict is None:
        failure = _boot(qemu, chosen, PROBE_TIMEOUT if timeout is None else timeout)
        if failure is None:
            verdict = KvmVerdict("kvm", f"KVM boots Linux on this host ({chosen} probed)")
        else:
            verdict = KvmVerdict("tcg", f"KVM cannot boot Linux on this host ({chosen} probed): {failure}")
        if host_key:
            _store(cache, host_key, verdict, chosen, qemu)
    _VERDICTS[process_key] = verdict
    return verdict


def _boot(qemu: str, kernel: Path, timeout: float, accel: tuple[str, ...] = ("-accel", "kvm", *KVM_CPU)) -> str | None:
    """Boot ``kernel`` with ``accel`` (tests check the marker with TCG): None when it got well past
    early boot, else why not."""
    with tempfile.TemporaryDirectory(prefix="kgen-kvm-probe-") as tmp:
        serial = Path(tmp) / "serial.log"
        serial.write_bytes(b"")
        output = Path(tmp) / "qemu.log"
        cmd = [
            qemu, *accel, "-m", "256", "-smp", "1", "-nodefaults", "-display", "none",
            "-no-reboot", "-nic", "none", "-monitor", "none",
            "-chardev", f"file,id=probe,path={str(serial).replace(',', ',,')}", "-serial", "chardev:probe",
            "-kernel", str(kernel), "-append", PROBE_APPEND,
        ]  # fmt: skip
        with output.open("wb") as out:
            try:
                proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                        start_new_session=True)  # fmt: skip
            except OSError as exc:
                return f"cannot run {qemu}: {exc}"
            try:
                deadline = time.monotonic() + timeout
                while True:
                    exited = proc.poll() is not None
                    console = serial.read_bytes().decode("utf-8", "replace")
                    if BOOTED_RE.search(console):
                        return None
                    if exited:
                        said = _error_line(output.read_bytes().decode("utf-8", "replace")) or "no output"
                        return f"qemu exited ({proc.returncode}) before Linux booted: {said}"
                    if time.monotonic() > deadline:
                        last = _last_line(console)
                        shown = f"its last console line: {last}" if last else "it printed nothing on the console"
                        return f"Linux did not boot within {timeout:g}s ({shown})"
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        proc.wait(timeout=0.1)
            finally:
                _kill_group(proc)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill qemu and anything it started (it leads its own process group), then reap it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):  # stuck in the kernel: leave it rather than hang
        proc.wait(timeout=10)


def _error_line(text: str) -> str:
    """qemu's first ``error:`` line (an abort adds an assertion after it), else its last line."""
    errors = [line.strip() for line in text.splitlines() if "error:" in line]
    return errors[0][:200] if errors else _last_line(text)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kgen"


def _host_key(device: str, qemu: str, kernel: Path) -> str | None:
    """What the verdict depends on, hashed; None when it cannot be told (then nothing is cached on disk)."""
    try:
        version = subprocess.run(
            [qemu, "--version"], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=10, check=False
        ).stdout.strip()
        digest = hashlib.sha256(kernel.read_bytes()).hexdigest()
        boot_id = Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
    except (OSError, subprocess.TimeoutExpired):
        return None
    if not version:
        return None
    material = {
        "device": device,
        "qemu": os.path.realpath(qemu),
        "qemu_version": version,
        "kernel_sha256": digest,
        "host_release": os.uname().release,
        "boot_id": boot_id,
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


def _read_cache(cache: Path) -> dict[str, dict[str, str]]:
    try:
        data = json.loads(cache.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _cached(cache: Path, key: str) -> KvmVerdict | None:
    entry = _read_cache(cache).get(key)
    if not isinstance(entry, dict) or entry.get("accel") not in ("kvm", "tcg"):
        return None
    accel: Accel = "kvm" if entry["accel"] == "kvm" else "tcg"
    return KvmVerdict(accel, f"{entry.get('reason', '')} (cached in {cache})", cached=True)


def _store(cache: Path, key: str, verdict: KvmVerdict, kernel: Path, qemu: str) -> None:
    entries = _read_cache(cache)
    entries[key] = {"accel": verdict.accel, "reason": verdict.reason, "kernel": str(kernel), "qemu": qemu}
    with contextlib.suppress(OSError):
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(f".{cache.name}.{os.getpid()}")
        tmp.write_text(json.dumps(entries, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        tmp.replace(cache)
