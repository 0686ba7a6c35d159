"""kgen vm reporter: runs INSIDE the guest, with the guest's own ``/usr/bin/python3``.

kgen's vendor-data (:func:`generator.runners.vm_report.report_vendor_data`) writes this file, byte for
byte, to ``/run/kgen-vm/report.py`` with its settings beside it in ``/run/kgen-vm/config.json``, and a
runtime unit runs ``python3 report.py config.json`` after cloud-final. It waits for cloud-init, collects
results, prints them framed on the serial console and returns (the unit then powers the VM off).

The guest may be older than kgen: standard library only, and syntax that Python 3.9 (Rocky/Alma 9)
runs. It imports nothing from kgen; everything it needs comes from the config file.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import subprocess
import sys
import termios
import time
from pathlib import Path
from typing import Any

Facts = dict[str, str]  # (a builtin generic at run time: fine from Python 3.9)
CFG: dict[str, Any] = {}


def run(argv: list[str], timeout: float = 120) -> tuple[int | None, str, str]:
    try:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, check=False)
    except FileNotFoundError:
        return None, "", "command not found: " + argv[0]
    except subprocess.TimeoutExpired:
        return None, "", f"timed out after {timeout}s: {' '.join(argv)}"
    except OSError as e:
        return None, "", f"{argv[0]}: {e}"
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def outcome(rc: int | None, out: str, err: str) -> str:
    parts = [out.strip()]
    if rc is None:
        parts.append(f"[error: {err.strip()}]")
    elif rc != 0 and (err.strip() or not out.strip()):
        # (systemctl is-active/is-enabled answer "inactive"/"disabled" with a non-zero exit and
        # nothing on stderr: such an answer is kept as it is.)
        parts.append(err.strip())
        parts.append(f"[exit {rc}]")
    return "\n".join(p for p in parts if p)


def fact(argv: list[str], pattern: str | None) -> str:
    rc, out, err = run(argv)
    if pattern:
        out = "\n".join(line for line in out.splitlines() if re.search(pattern, line))
    return outcome(rc, out, err)


def read_text(path: str, limit: int) -> str | None:
    try:
        with Path(path).open("rb") as f:
            data = f.read(limit + 1)
    except FileNotFoundError:
        return None
    except OSError as e:
        return f"[unreadable: {e}]"
    try:
        text = data[:limit].decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start < len(data[:limit]) - 4:  # not just a character cut in two by the limit
            return "[binary file, not collected]"
        text = data[:limit].decode("utf-8", "replace")
    if "\0" in text:
        return "[binary file, not collected]"
    if len(data) > limit:
        text += f"\n[truncated at {limit} bytes]"
    return text


def tail(path: str, lines: int) -> list[str]:
    try:
        with Path(path).open("rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 262144))
            data = f.read()
    except OSError:
        return []
    return data.decode("utf-8", "replace").splitlines()[-lines:]


def cloud_init(facts: Facts) -> tuple[str, list[str]]:
    # One call: 22.4 prints JSON with --format json (--long only matters for the tabular format).
    argv = ["cloud-init", "status", "--wait", "--long", "--format", "json"]
    rc, out, err = run(argv, timeout=CFG["wait_timeout"])
    facts["cloud-init-status-exit"] = str(rc)
    status, errors = "unknown", []
    try:
        doc = json.loads(out)
        status = str(doc.get("status") or "unknown")
        errors = [str(e) for e in doc.get("errors") or []]
        long = ["status: " + status, "boot_status_code: {}".format(doc.get("boot_status_code"))]
        if doc.get("last_update"):
            long.append("last_update: {}".format(doc["last_update"]))
        long += ["detail:", str(doc.get("detail") or "")]
        facts["cloud-init-status-long"] = "\n".join(long)
    except ValueError:
        # No JSON (a cloud-init without --format): read the tabular --long output instead.
        rc, out, err = run(argv[:4], timeout=CFG["wait_timeout"])
        facts["cloud-init-status-exit"] = str(rc)
        out = out.lstrip(".\n")
        facts["cloud-init-status-long"] = outcome(rc, out, err)
        m = re.search(r"^status:\s*(\S+)", out, re.MULTILINE)
        if m:
            status = m.group(1)
        if status == "error":
            detail = out.split("detail:", 1)[1] if "detail:" in out else ""
            errors = [line.strip() for line in detail.splitlines() if line.strip()]
    if status == "error" and not errors:
        try:
            with Path("/run/cloud-init/result.json").open() as f:
                errors = [str(e) for e in json.load(f).get("v1", {}).get("errors") or []]
        except (OSError, ValueError):
            pass
    return status, errors


def wait_for_jobs(facts: Facts) -> None:
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


def collect(facts: Facts) -> None:
    total = 0
    for root, dirs, files in os.walk(CFG["collect_dir"]):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)  # noqa: PTH118 (os.walk's strings, relpath below)
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


def timeline(facts: Facts) -> None:
    """The guest's own clock for the boot: cloud-init's stage start and end times (epoch seconds from
    its status.json) and the head of the bootstrap log (its lines carry UTC times to the millisecond)."""
    stages: dict[str, Any] = {}
    try:
        with Path(CFG["stages_file"]).open() as f:
            v1 = json.load(f).get("v1") or {}
        for name, value in v1.items():
            if isinstance(value, dict) and "start" in value:
                stages[name] = {"start": value.get("start"), "finished": value.get("finished")}
    except (OSError, ValueError) as e:
        stages["error"] = str(e)
    # Newer cloud-init records the stage times as uptime, older as epoch seconds: the guest's clock at
    # one instant in both lets the host convert.
    try:
        with Path("/proc/uptime").open() as f:
            stages["clock"] = {"epoch": time.time(), "uptime": float(f.read().split()[0])}
    except (OSError, ValueError, IndexError):
        pass
    facts["cloud-init-stages"] = json.dumps(stages, sort_keys=True)
    try:
        with Path(CFG["log"]).open("rb") as f:
            head = f.read(CFG["log_head_bytes"]).decode("utf-8", "replace").splitlines()
    except OSError:
        head = []
    facts["bootstrap-log-head"] = "\n".join(head[: CFG["log_head"]])


def emit(report: dict[str, Any]) -> None:
    payload = json.dumps(report, sort_keys=True).encode()
    b64 = base64.b64encode(payload).decode()
    lines = [CFG["begin"]] + [b64[i : i + 76] for i in range(0, len(b64), 76)]
    lines.append("{} {}".format(CFG["end"], hashlib.sha256(payload).hexdigest()))
    frame = ("\n" + "\n".join(lines) + "\n").encode()
    Path("/var/lib/kgen-vm").mkdir(parents=True, exist_ok=True)
    Path("/var/lib/kgen-vm/report.json").write_bytes(payload)
    for _ in range(2):
        for dev in ("/dev/ttyS0", "/dev/console"):
            try:
                fd = os.open(dev, os.O_WRONLY | os.O_NOCTTY)
            except OSError:
                continue
            try:
                view = memoryview(frame)
                while view:
                    view = view[os.write(fd, view) :]
                with contextlib.suppress(termios.error):
                    termios.tcdrain(fd)
            finally:
                os.close(fd)
            break
        time.sleep(1)


def main(config_path: str) -> None:
    CFG.update(json.loads(Path(config_path).read_text(encoding="utf-8")))
    facts: Facts = {}
    status, errors = cloud_init(facts)
    wait_for_jobs(facts)
    schema: subprocess.Popen[bytes] | None
    try:  # slow under TCG: run it while the other facts are collected
        schema = subprocess.Popen(
            ["cloud-init", "schema", "--system"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
    except OSError as e:
        schema, facts["cloud-init-schema"] = None, f"[error: {e}]"
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
    timeline(facts)
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


if __name__ == "__main__":
    main(sys.argv[1])
