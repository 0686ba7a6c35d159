"""Boot rendered user-data in a local qemu VM and read back what cloud-init and the bootstrap did.

This is the engine behind ``kgen vm``. It never changes the user-data under test. The guest reports
back through a NoCloud *vendor-data* document, which cloud-init merges with the user-data (user-data
wins key by key, so the user-data must not set ``bootcmd`` or ``power_state``):

* vendor-data ``bootcmd`` (runs on every boot) writes a small Python reporter and a runtime systemd
  unit ``kgen-vm-report.service`` (``After=cloud-final.service``) into ``/run`` and starts it;
* the unit waits for ``cloud-init status --wait --long``, waits for other queued systemd jobs, collects
  the cloud-init status, the kgen marker files, the bootstrap log tail and a few guest facts, prints
  them on the serial console as ``KGEN-VM-REPORT-BEGIN`` / base64 JSON / ``KGEN-VM-REPORT-END <sha256>``
  (twice, in case kernel messages interleave), and powers the VM off.

The host side boots a copy-on-write overlay of the image with ``-nic none`` by default (the guest gets
no network; ``network="user"`` gives it qemu's user-mode NAT instead, for an install-mode node that
downloads packages on a machine with internet access), streams the serial console into
``workdir/serial.log`` and parses the report from it.

Facts in :attr:`VmReport.facts` (see ``FACT_COMMANDS``): ``lsmod`` (lines for overlay and
br_netfilter), the three sysctls by name, ``swapon``, ``containerd-active``, ``kubelet-enabled``,
``containerd-config`` (``SystemdCgroup``/``sandbox_image``/``sandbox =`` lines), ``metadata-block``
(nftables table inet kgen_metadata) and ``metadata-block-enabled`` (its boot unit), plus
``cloud-init-status-long``, ``cloud-init-status-exit``, ``cloud-init-schema`` and
``cloud-init-warnings``. A command that fails keeps its output followed by its error output and
``[exit N]`` (or an ``[error: ...]`` line when it could not run at all); an answer printed on stdout
with a non-zero exit and no error output (``disabled`` from ``systemctl is-enabled``) is kept as is.
Every file under ``/var/lib/kgen-vm/collect/`` (which the reporter creates at boot) is added under
its relative path, or as ``collect/<path>`` if that name is already a fact; at most 16 KiB of each
and 256 KiB in all, and a file that is not UTF-8 text as ``[binary file, not collected]``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import gzip
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from generator.errors import KgenError
from generator.kvmprobe import KVM_CPU, KvmVerdict, kvm_device, probe_kvm

__all__ = [
    "FACT_COMMANDS",
    "REPORT_BEGIN",
    "REPORT_END",
    "KvmVerdict",
    "VmError",
    "VmReport",
    "VmResult",
    "build_seed",
    "parse_report",
    "probe_kvm",
    "report_vendor_data",
    "run_vm",
]

REPORT_BEGIN = "KGEN-VM-REPORT-BEGIN"
REPORT_END = "KGEN-VM-REPORT-END"
REPORT_UNIT = "kgen-vm-report.service"
COLLECT_DIR = "/var/lib/kgen-vm/collect"
SUCCESS_MARKER = "/var/lib/kgen/bootstrap-success"
FAILURE_MARKER = "/var/lib/kgen/bootstrap-failure"
BOOTSTRAP_LOG = "/var/log/kgen-bootstrap.log"
LOG_TAIL_LINES = 40
DEFAULT_APPEND = "root=/dev/vda rw console=ttyS0 ds=nocloud"

QEMU = "qemu-system-x86_64"
QEMU_IMG = "qemu-img"

# (fact name, argv, regex selecting output lines or None for all of it)
FACT_COMMANDS: tuple[tuple[str, tuple[str, ...], str | None], ...] = (
    ("lsmod", ("lsmod",), r"^(overlay|br_netfilter)\s"),
    ("net.ipv4.ip_forward", ("sysctl", "-n", "net.ipv4.ip_forward"), None),
    ("net.bridge.bridge-nf-call-iptables", ("sysctl", "-n", "net.bridge.bridge-nf-call-iptables"), None),
    ("net.bridge.bridge-nf-call-ip6tables", ("sysctl", "-n", "net.bridge.bridge-nf-call-ip6tables"), None),
    ("swapon", ("swapon", "--show"), None),
    ("containerd-active", ("systemctl", "is-active", "containerd"), None),
    ("kubelet-enabled", ("systemctl", "is-enabled", "kubelet"), None),
    ("containerd-config", ("containerd", "config", "dump"), r"SystemdCgroup|sandbox_image|sandbox ="),
    ("metadata-block", ("nft", "list", "table", "inet", "kgen_metadata"), None),
    ("metadata-block-enabled", ("systemctl", "is-enabled", "kgen-metadata-block.service"), None),
)

_STAGE_RE = re.compile(r"Cloud-init v\. \S+ running '(init-local|init|modules:config|modules:final)'")
_FINISHED_RE = re.compile(r"Cloud-init v\. \S+ finished at")
_END_RE = re.compile(re.escape(REPORT_END) + r"\s+([0-9a-f]{64})")
_BASE64_LINE_RE = re.compile(r"^[A-Za-z0-9+/=]+$")
_POWEROFF_GRACE = 60.0  # seconds the guest gets to power off by itself after reporting


class VmError(KgenError):
    """The VM could not be run: a missing tool, a bad image or option. Says what to do about it."""


@dataclass(frozen=True)
class VmReport:
    cloud_init_status: str
    cloud_init_errors: list[str]
    success_marker: str | None
    failure_marker: str | None
    bootstrap_log_tail: list[str]
    facts: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class VmResult:
    ok: bool
    timed_out: bool
    report: VmReport | None
    serial_log: Path
    disk: Path | None
    seconds: float


# --------------------------------------------------------------------------------------------------
# The guest side: a reporter script and a runtime unit, installed by vendor-data bootcmd on every boot.

_REPORTER_TEMPLATE = r'''#!/usr/bin/python3
# kgen vm reporter. Installed into /run by kgen's vendor-data (not by the user-data under test).
# Waits for cloud-init, collects results, prints them framed on the serial console, powers off.
import base64, hashlib, json, os, re, subprocess, termios, time

CFG = json.loads(r"""@CONFIG@""")


def run(argv, timeout=120):
    try:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    except FileNotFoundError:
        return None, "", "command not found: " + argv[0]
    except subprocess.TimeoutExpired:
        return None, "", "timed out after %ss: %s" % (timeout, " ".join(argv))
    except OSError as e:
        return None, "", "%s: %s" % (argv[0], e)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def outcome(rc, out, err):
    parts = [out.strip()]
    if rc is None:
        parts.append("[error: %s]" % err.strip())
    elif rc != 0 and (err.strip() or not out.strip()):
        # (systemctl is-active/is-enabled answer "inactive"/"disabled" with a non-zero exit and
        # nothing on stderr: such an answer is kept as it is.)
        parts.append(err.strip())
        parts.append("[exit %d]" % rc)
    return "\n".join(p for p in parts if p)


def fact(argv, pattern):
    rc, out, err = run(argv)
    if pattern:
        out = "\n".join(line for line in out.splitlines() if re.search(pattern, line))
    return outcome(rc, out, err)


def read_text(path, limit):
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except FileNotFoundError:
        return None
    except OSError as e:
        return "[unreadable: %s]" % e
    try:
        text = data[:limit].decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start < len(data[:limit]) - 4:  # not just a character cut in two by the limit
            return "[binary file, not collected]"
        text = data[:limit].decode("utf-8", "replace")
    if "\0" in text:
        return "[binary file, not collected]"
    if len(data) > limit:
        text += "\n[truncated at %d bytes]" % limit
    return text


def tail(path, lines):
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 262144))
            data = f.read()
    except OSError:
        return []
    return data.decode("utf-8", "replace").splitlines()[-lines:]


def cloud_init(facts):
    # One call: 22.4 prints JSON with --format json (--long only matters for the tabular format).
    argv = ["cloud-init", "status", "--wait", "--long", "--format", "json"]
    rc, out, err = run(argv, timeout=CFG["wait_timeout"])
    facts["cloud-init-status-exit"] = str(rc)
    status, errors = "unknown", []
    try:
        doc = json.loads(out)
        status = str(doc.get("status") or "unknown")
        errors = [str(e) for e in doc.get("errors") or []]
        long = ["status: " + status, "boot_status_code: %s" % doc.get("boot_status_code")]
        if doc.get("last_update"):
            long.append("last_update: %s" % doc["last_update"])
        long += ["detail:", str(doc.get("detail") or "")]
        facts["cloud-init-status-long"] = "\n".join(long)
    except ValueError:
        # No JSON (a cloud-init without --format): read the tabular --long output instead.
        rc, out, err = run(argv[:4], timeout=CFG["wait_timeout"])
        facts["cloud-init-status-exit"] = str(rc)
        out = out.lstrip(".\n")
        facts["cloud-init-status-long"] = outcome(rc, out, err)
        m = re.search(r"^status:\s*(\S+)", out, re.M)
        if m:
            status = m.group(1)
        if status == "error":
            detail = out.split("detail:", 1)[1] if "detail:" in out else ""
            errors = [line.strip() for line in detail.splitlines() if line.strip()]
    if status == "error" and not errors:
        try:
            with open("/run/cloud-init/result.json") as f:
                errors = [str(e) for e in json.load(f).get("v1", {}).get("errors") or []]
        except (OSError, ValueError):
            pass
    return status, errors


def wait_for_jobs(facts):
    # A bootstrap started with `systemctl start --no-block` from runcmd is still a queued job here.
    deadline = time.monotonic() + CFG["jobs_timeout"]
    while True:
        rc, out, _ = run(["systemctl", "list-jobs", "--no-legend", "--no-pager"])
        jobs = [j.strip() for j in out.splitlines() if j.strip()[:1].isdigit() and CFG["unit"] not in j]
        if rc != 0 or not jobs or time.monotonic() > deadline:
            break
        time.sleep(1)
    if jobs:
        facts["systemd-pending-jobs"] = "\n".join(jobs)


def collect(facts):
    total = 0
    for root, dirs, files in os.walk(CFG["collect_dir"]):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            key = os.path.relpath(path, CFG["collect_dir"])
            if key in facts:
                key = "collect/" + key
            if total >= CFG["collect_total"]:
                facts[key] = "[not collected: over the total size limit]"
                continue
            text = read_text(path, CFG["collect_file"])
            if text is not None:
                total += len(text)
                facts[key] = text


def emit(report):
    payload = json.dumps(report, sort_keys=True).encode()
    b64 = base64.b64encode(payload).decode()
    lines = [CFG["begin"]] + [b64[i:i + 76] for i in range(0, len(b64), 76)]
    lines.append("%s %s" % (CFG["end"], hashlib.sha256(payload).hexdigest()))
    frame = ("\n" + "\n".join(lines) + "\n").encode()
    os.makedirs("/var/lib/kgen-vm", exist_ok=True)
    with open("/var/lib/kgen-vm/report.json", "wb") as f:
        f.write(payload)
    for _ in range(2):
        for dev in ("/dev/ttyS0", "/dev/console"):
            try:
                fd = os.open(dev, os.O_WRONLY | os.O_NOCTTY)
            except OSError:
                continue
            try:
                view = memoryview(frame)
                while view:
                    view = view[os.write(fd, view):]
                try:
                    termios.tcdrain(fd)
                except termios.error:
                    pass
            finally:
                os.close(fd)
            break
        time.sleep(1)


def main():
    facts = {}
    status, errors = cloud_init(facts)
    wait_for_jobs(facts)
    try:  # slow under TCG: run it while the other facts are collected
        schema = subprocess.Popen(
            ["cloud-init", "schema", "--system"], stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )
    except OSError as e:
        schema, facts["cloud-init-schema"] = None, "[error: %s]" % e
    for name, argv, pattern in CFG["facts"]:
        facts[name] = fact(argv, pattern)
    if schema is not None:
        try:
            out = schema.communicate(timeout=300)[0].decode("utf-8", "replace")
            facts["cloud-init-schema"] = outcome(schema.returncode, out, "")
        except subprocess.TimeoutExpired:
            schema.kill()
            facts["cloud-init-schema"] = "[error: timed out]"
    warnings = [w for w in tail("/var/log/cloud-init.log", 5000) if re.search(CFG["warning"], w)]
    facts["cloud-init-warnings"] = "\n".join(warnings[-50:])
    collect(facts)
    report = {
        "version": 1,
        "cloud_init": {"status": status, "errors": errors},
        "success_marker": read_text(CFG["success"], 65536),
        "failure_marker": read_text(CFG["failure"], 65536),
        "bootstrap_log_tail": tail(CFG["log"], CFG["tail"]),
        "facts": facts,
    }
    emit(report)

main()
'''

_UNIT = """[Unit]
Description=kgen vm: report cloud-init results on the serial console, then power off
After=cloud-final.service

[Service]
Type=oneshot
ExecStart=/usr/bin/python3 /run/kgen-vm/report.py
TimeoutStartSec=infinity
StandardOutput=journal
StandardError=journal
"""
_UNIT_POWEROFF = "SuccessAction=poweroff\nFailureAction=poweroff\n"


def _reporter_source() -> str:
    config = {
        "begin": REPORT_BEGIN,
        "end": REPORT_END,
        "unit": REPORT_UNIT,
        "collect_dir": COLLECT_DIR,
        "collect_file": 16384,
        "collect_total": 262144,
        "success": SUCCESS_MARKER,
        "failure": FAILURE_MARKER,
        "log": BOOTSTRAP_LOG,
        "tail": LOG_TAIL_LINES,
        "wait_timeout": 3600,
        "jobs_timeout": 900,
        "warning": r"\[(WARNING|DEPRECATED)\]",
        "facts": [[name, list(argv), pattern] for name, argv, pattern in FACT_COMMANDS],
    }
    return _REPORTER_TEMPLATE.replace("@CONFIG@", json.dumps(config))


def report_vendor_data(*, poweroff: bool = True) -> str:
    """The ``#cloud-config`` vendor-data that makes the guest report back (see the module docstring).

    With ``poweroff=False`` the guest stays up after reporting (for a look around on the console).
    """
    script = base64.b64encode(_reporter_source().encode()).decode()
    unit_text = _UNIT.replace("\n\n[Service]", "\n" + _UNIT_POWEROFF + "\n[Service]") if poweroff else _UNIT
    unit = base64.b64encode(unit_text.encode()).decode()
    doc = {
        "bootcmd": [
            ["mkdir", "-p", COLLECT_DIR, "/run/kgen-vm"],
            ["sh", "-c", f"echo {script} | base64 -d > /run/kgen-vm/report.py"],
            ["sh", "-c", f"echo {unit} | base64 -d > /run/systemd/system/{REPORT_UNIT}"],
            ["systemctl", "daemon-reload"],
            ["systemctl", "start", "--no-block", REPORT_UNIT],
        ]
    }
    header = (
        "#cloud-config\n"
        "# kgen vm: vendor-data that reports cloud-init's results on the serial console and powers\n"
        "# the VM off. It is not part of the user-data under test.\n"
    )
    return header + yaml.safe_dump(doc, default_flow_style=None, width=1 << 30, sort_keys=False)


# --------------------------------------------------------------------------------------------------
# Parsing the report from the serial console.


class _ReportScanner:
    """Feeds on serial console lines; keeps the first frame whose checksum matches."""

    def __init__(self) -> None:
        self.report: VmReport | None = None
        self.in_frame = False
        self.bad_frames = 0
        self._chunks: list[str] = []

    def feed(self, line: str) -> bool:
        """Returns True when the line belonged to a report frame (and is no progress line)."""
        line = line.strip()
        if REPORT_BEGIN in line:
            self.in_frame = True
            self._chunks = []
            return True
        if not self.in_frame:
            return False
        match = _END_RE.search(line)
        if match:
            self.in_frame = False
            report = self._decode("".join(self._chunks), match.group(1))
            if report is None:
                self.bad_frames += 1
            elif self.report is None:
                self.report = report
            return True
        if REPORT_END in line:  # end marker mangled by an interleaved message
            self.in_frame = False
            self.bad_frames += 1
            return True
        if _BASE64_LINE_RE.match(line):
            self._chunks.append(line)
            return True
        return False  # a kernel or systemd message printed in the middle of the frame

    @staticmethod
    def _decode(b64: str, digest: str) -> VmReport | None:
        try:
            payload = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError):
            return None
        if hashlib.sha256(payload).hexdigest() != digest:
            return None
        try:
            doc = json.loads(payload)
        except ValueError:
            return None
        return _report_from_json(doc) if isinstance(doc, dict) else None


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _report_from_json(doc: dict[str, Any]) -> VmReport:
    cloud_init = doc.get("cloud_init") or {}
    facts = doc.get("facts") or {}
    return VmReport(
        cloud_init_status=str(cloud_init.get("status") or "unknown"),
        cloud_init_errors=[str(e) for e in cloud_init.get("errors") or []],
        success_marker=_opt_str(doc.get("success_marker")),
        failure_marker=_opt_str(doc.get("failure_marker")),
        bootstrap_log_tail=[str(x) for x in doc.get("bootstrap_log_tail") or []],
        facts={str(k): str(v) for k, v in facts.items()},
    )


def parse_report(serial_text: str) -> VmReport | None:
    """The first intact report framed in a serial console log, or None."""
    scanner = _ReportScanner()
    for line in serial_text.splitlines():
        scanner.feed(line)
        if scanner.report is not None:
            break
    return scanner.report


# --------------------------------------------------------------------------------------------------
# Seed image and host tools.


def build_seed(user_data: Path, meta_data: Path, dest: Path, *, vendor_data: Path | None = None) -> Path:
    """Write a NoCloud seed image (ISO 9660 labelled ``cidata``) to ``dest`` and return ``dest``.

    Uses cloud-localds, genisoimage or xorriso, the first one installed that works.
    """
    sources = {"user-data": user_data, "meta-data": meta_data}
    if vendor_data is not None:
        sources["vendor-data"] = vendor_data
    for name, path in sources.items():
        if not path.is_file():
            raise VmError(f"{name} file not found: {path}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="kgen-seed-") as tmp:
        staging = Path(tmp)
        for name, path in sources.items():
            shutil.copyfile(path, staging / name)
        files = [str(staging / name) for name in sources]
        attempts: list[list[str]] = []
        if shutil.which("cloud-localds"):
            cmd = ["cloud-localds"]
            if vendor_data is not None:
                cmd += ["--vendor-data", str(staging / "vendor-data")]
            attempts.append([*cmd, str(dest), str(staging / "user-data"), str(staging / "meta-data")])
        iso_args = ["-output", str(dest), "-volid", "cidata", "-joliet", "-rock", "-quiet", *files]
        if shutil.which("genisoimage"):
            attempts.append(["genisoimage", *iso_args])
        if shutil.which("xorriso"):
            attempts.append(["xorriso", "-as", "mkisofs", *iso_args])
        if not attempts:
            raise VmError(
                "no tool to build a NoCloud seed image: install one of the Debian packages "
                "cloud-image-utils (cloud-localds), genisoimage or xorriso"
            )
        for cmd in attempts:
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if proc.returncode == 0 and dest.is_file():
                return dest
            failures.append(f"{cmd[0]} exited {proc.returncode}: {proc.stderr.strip()[-500:]}")
    raise VmError("could not build the NoCloud seed image:\n" + "\n".join(failures))


def _qemu_path(path: Path) -> str:
    """A path for a qemu option value (commas are doubled)."""
    return str(path).replace(",", ",,")


def _require(tool: str, package: str) -> str:
    found = shutil.which(tool)
    if found is None:
        raise VmError(f"{tool} not found: install the Debian package {package}")
    return found


def _image_format(image: Path) -> str:
    if not image.is_file():
        raise VmError(f"disk image not found: {image}")
    qemu_img = _require(QEMU_IMG, "qemu-utils")
    proc = subprocess.run([qemu_img, "info", "--output=json", str(image)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise VmError(f"cannot read disk image {image}: {proc.stderr.strip()}")
    try:
        info = json.loads(proc.stdout)
    except ValueError as exc:
        raise VmError(f"cannot read disk image {image}: qemu-img gave no JSON") from exc
    fmt = str(info.get("format", ""))
    if fmt not in ("qcow2", "raw"):
        raise VmError(f"disk image {image} is {fmt or 'of an unknown format'}; use a qcow2 or raw image")
    if fmt == "raw" and int(info.get("virtual-size", 0)) < 1 << 20:
        raise VmError(f"disk image {image} is too small to be a bootable disk")
    return fmt


def _check_user_data(user_data: Path) -> None:
    """The vendor-data that makes the guest report must not be overridden by the user-data."""
    try:
        content = user_data.read_bytes()
    except OSError as exc:
        raise VmError(f"cannot read user-data {user_data}: {exc}") from exc
    if content[:2] == b"\x1f\x8b":  # cloud-init takes gzipped user-data as well
        try:
            content = gzip.decompress(content)
        except (OSError, EOFError):
            return
    text = content.decode("utf-8", errors="replace")
    if not text.startswith("#cloud-config"):
        return
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        return  # booting invalid user-data is a fair test: cloud-init reports it
    if not isinstance(doc, dict):
        return
    for key, why in (
        ("bootcmd", "it replaces the vendor-data bootcmd that installs the report unit"),
        ("power_state", "it powers the VM off before the report is printed"),
    ):
        if key in doc:
            raise VmError(f"{user_data}: user-data sets {key}, which kgen vm cannot boot: {why}")
    vendor = doc.get("vendor_data")
    if isinstance(vendor, dict) and vendor.get("enabled") in (False, "false", "False"):
        raise VmError(f"{user_data}: user-data disables vendor-data, which kgen vm needs to get a report")


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
    qemu = _require(QEMU, "qemu-system-x86")
    _require(QEMU_IMG, "qemu-utils")
    _check_options(kernel=kernel, initrd=initrd, append=append, memory_mb=memory_mb, cpus=cpus)
    image = image.resolve()
    fmt = _image_format(image)
    _check_user_data(user_data)
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

    scanner = _ReportScanner()
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
    scanner: _ReportScanner,
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
