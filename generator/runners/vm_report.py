"""The ``kgen vm`` report: what the guest is told to collect, and reading its answer off the serial console.

The guest reports back through a NoCloud *vendor-data* document, which cloud-init merges with the
user-data (user-data wins key by key, so the user-data must not set ``bootcmd`` or ``power_state``):

* vendor-data ``bootcmd`` (runs on every boot) writes the reporter (:mod:`generator.runners.guest_report`,
  byte for byte), its config and a runtime systemd unit ``kgen-vm-report.service``
  (``After=cloud-final.service``) into ``/run`` and starts it;
* the unit waits for ``cloud-init status --wait --long``, waits for other queued systemd jobs, collects
  the cloud-init status, the kgen marker files, the bootstrap log tail and a few guest facts, prints
  them on the serial console as ``KGEN-VM-REPORT-BEGIN`` / base64 JSON / ``KGEN-VM-REPORT-END <sha256>``
  (twice, in case kernel messages interleave), and powers the VM off.

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
import hashlib
import json
import re
from dataclasses import field
from importlib import resources
from typing import Any

import yaml

from generator.records import record

__all__ = [
    "FACT_COMMANDS",
    "REPORT_BEGIN",
    "REPORT_END",
    "VmReport",
    "guest_reporter_source",
    "parse_report",
    "report_vendor_data",
]

# On-node paths the report reads or writes. The bootstrap's own markers and log are kgen's on-node
# layout (rendered by the templates); they are spelled here once for the runners, to point at
# generator.guest when that module exists.
SUCCESS_MARKER = "/var/lib/kgen/bootstrap-success"
FAILURE_MARKER = "/var/lib/kgen/bootstrap-failure"
BOOTSTRAP_LOG = "/var/log/kgen-bootstrap.log"
# The reporter's own places (only kgen vm puts them on a node).
COLLECT_DIR = "/var/lib/kgen-vm/collect"
REPORTER_DIR = "/run/kgen-vm"
REPORTER_SCRIPT = f"{REPORTER_DIR}/report.py"
REPORTER_CONFIG = f"{REPORTER_DIR}/config.json"
REPORT_UNIT = "kgen-vm-report.service"

REPORT_BEGIN = "KGEN-VM-REPORT-BEGIN"
REPORT_END = "KGEN-VM-REPORT-END"
LOG_TAIL_LINES = 40
LOG_HEAD_LINES = 300
# cloud-init's per-stage start and end times (epoch seconds), kept for the boot (cloudinit/cmd/main.py,
# status_wrapper, writes v1.<stage>.start/finished).
CLOUD_INIT_STATUS = "/run/cloud-init/status.json"

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
    ("network-links", ("ip", "-o", "link", "show"), None),
)

_END_RE = re.compile(re.escape(REPORT_END) + r"\s+([0-9a-f]{64})")
_BASE64_LINE_RE = re.compile(r"^[A-Za-z0-9+/=]+$")


@record
class VmReport:
    cloud_init_status: str
    cloud_init_errors: list[str]
    success_marker: str | None
    failure_marker: str | None
    bootstrap_log_tail: list[str]
    facts: dict[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------------
# The guest side: the reporter, its config and a runtime unit, installed by vendor-data bootcmd.

_UNIT = f"""[Unit]
Description=kgen vm: report cloud-init results on the serial console, then power off
After=cloud-final.service

[Service]
Type=oneshot
ExecStart=/usr/bin/python3 {REPORTER_SCRIPT} {REPORTER_CONFIG}
TimeoutStartSec=infinity
StandardOutput=journal
StandardError=journal
"""
_UNIT_POWEROFF = "SuccessAction=poweroff\nFailureAction=poweroff\n"


def guest_reporter_source() -> str:
    """The guest-side reporter, exactly as the vendor-data installs it (generator/runners/guest_report.py)."""
    return resources.files("generator.runners").joinpath("guest_report.py").read_text(encoding="utf-8")


def reporter_config() -> dict[str, Any]:
    """What the reporter reads from its config file: frame markers, on-node paths, limits, facts."""
    return {
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
        "log_head": LOG_HEAD_LINES,
        "log_head_bytes": 65536,
        "stages_file": CLOUD_INIT_STATUS,
        "wait_timeout": 3600,
        "jobs_timeout": 900,
        "warning": r"\[(WARNING|DEPRECATED)\]",
        "facts": [[name, list(argv), pattern] for name, argv, pattern in FACT_COMMANDS],
    }


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def report_vendor_data(*, poweroff: bool = True) -> str:
    """The ``#cloud-config`` vendor-data that makes the guest report back (see the module docstring).

    With ``poweroff=False`` the guest stays up after reporting (for a look around on the console).
    """
    unit_text = _UNIT.replace("\n\n[Service]", "\n" + _UNIT_POWEROFF + "\n[Service]") if poweroff else _UNIT
    files = (
        (REPORTER_SCRIPT, guest_reporter_source()),
        (REPORTER_CONFIG, json.dumps(reporter_config())),
        (f"/run/systemd/system/{REPORT_UNIT}", unit_text),
    )
    doc = {
        "bootcmd": [
            ["mkdir", "-p", COLLECT_DIR, REPORTER_DIR],
            *(["sh", "-c", f"echo {_b64(text)} | base64 -d > {path}"] for path, text in files),
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


class ReportScanner:
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
    scanner = ReportScanner()
    for line in serial_text.splitlines():
        scanner.feed(line)
        if scanner.report is not None:
            break
    return scanner.report
