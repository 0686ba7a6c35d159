"""The ``kgen vm`` reporter as the seed carries it: the vendor-data installs generator/runners/guest_report.py
byte for byte with its config, and the reporter's pure parts behave as the host side expects (run here,
with this Python; the guest runs the same file with its own python3)."""

from __future__ import annotations

import ast
import base64
import json
import re
import shlex
from pathlib import Path

from generator.runners import guest_report, vm_report
from tests.conftest import parse_yaml

GUEST_FILE = Path(guest_report.__file__)


def installed_files(vendor_data: str) -> dict[str, bytes]:
    """What the vendor-data's bootcmd writes: {path: bytes}, decoded from its `echo B64 | base64 -d > PATH`."""
    files: dict[str, bytes] = {}
    for step in parse_yaml(vendor_data)["bootcmd"]:
        if step[:2] != ["sh", "-c"]:
            continue
        match = re.fullmatch(r"echo ([A-Za-z0-9+/=]+) \| base64 -d > (\S+)", step[2])
        assert match, step
        files[match.group(2)] = base64.b64decode(match.group(1), validate=True)
    return files


def test_the_seed_embeds_the_guest_reporter_file_byte_for_byte() -> None:
    files = installed_files(vm_report.report_vendor_data())
    assert files[vm_report.REPORTER_SCRIPT] == GUEST_FILE.read_bytes()
    assert vm_report.guest_reporter_source() == GUEST_FILE.read_text(encoding="utf-8")
    config = json.loads(files[vm_report.REPORTER_CONFIG])
    assert config == vm_report.reporter_config()
    assert config["success"] == vm_report.SUCCESS_MARKER and config["begin"] == vm_report.REPORT_BEGIN
    assert [name for name, _, _ in config["facts"]] == [name for name, _, _ in vm_report.FACT_COMMANDS]
    unit = files[f"/run/systemd/system/{vm_report.REPORT_UNIT}"].decode()
    exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    assert shlex.split(exec_start.removeprefix("ExecStart=")) == [
        "/usr/bin/python3",
        vm_report.REPORTER_SCRIPT,
        vm_report.REPORTER_CONFIG,
    ]
    assert "SuccessAction=poweroff" in unit
    stay = installed_files(vm_report.report_vendor_data(poweroff=False))
    assert "poweroff" not in stay[f"/run/systemd/system/{vm_report.REPORT_UNIT}"].decode()


def test_the_guest_reporter_is_standard_library_python_3_9() -> None:
    """Rocky and Alma 9 guests run it with Python 3.9; it cannot import kgen or anything installed."""
    tree = ast.parse(GUEST_FILE.read_text(encoding="utf-8"), feature_version=(3, 9))
    imported = {
        alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    } | {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert imported <= {
        "__future__", "base64", "contextlib", "hashlib", "json", "os", "re", "subprocess", "sys", "termios",
        "time", "pathlib", "typing",
    }  # fmt: skip


def test_guest_outcome_and_read_text(tmp_path: Path) -> None:
    assert guest_report.outcome(0, "active\n", "") == "active"
    assert guest_report.outcome(1, "disabled\n", "") == "disabled"  # an answer with a non-zero exit
    assert guest_report.outcome(1, "", "boom\n") == "boom\n[exit 1]"
    assert guest_report.outcome(None, "", "command not found: nft") == "[error: command not found: nft]"
    text = tmp_path / "text"
    text.write_text("é" * 10, encoding="utf-8")
    assert guest_report.read_text(str(text), 5) == "éé\ufffd\n[truncated at 5 bytes]"
    binary = tmp_path / "binary"
    binary.write_bytes(b"\xff\xfe\x00\x01" * 10)
    assert guest_report.read_text(str(binary), 1024) == "[binary file, not collected]"
    assert guest_report.read_text(str(tmp_path / "missing"), 10) is None
