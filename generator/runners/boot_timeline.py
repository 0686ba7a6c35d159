"""A boot's timeline on the guest's own clock, read from a ``kgen vm`` report: when cloud-init's stages
started (``cloud-init-stages``) and when each line of the bootstrap log was written
(``bootstrap-log-head``; kgen's node scripts stamp their lines with UTC times to the millisecond).

Both come from the same clock inside the VM, so the figures do not depend on how busy the host was
while it read the serial console (they still depend on how fast the guest ran)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

from generator.records import record
from generator.runners.vm_report import VmReport

_STAMP_RE = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?)Z (\S+): (.*)$")
_EPOCH_FLOOR = 1e9  # stage times below this are uptime seconds (newer cloud-init), above epoch


@record
class LogLine:
    at: float  # epoch seconds, guest clock
    source: str  # kgen-bootstrap, kgen-configure, ...
    text: str


@record
class BootTimeline:
    stages: dict[str, float]  # cloud-init stage -> start, epoch seconds on the guest clock
    lines: tuple[LogLine, ...]

    def first(self, source: str, needle: str) -> LogLine | None:
        return next((line for line in self.lines if line.source == source and needle in line.text), None)

    def final_to(self, source: str, needle: str) -> float | None:
        """Seconds from the start of cloud-init's final stage to the first matching log line."""
        line = self.first(source, needle)
        final = self.stages.get("modules-final")
        return None if line is None or final is None else line.at - final

    def steps(self) -> list[tuple[float, float, LogLine]]:
        """(seconds after the final stage started, seconds until the next line, line) for every line."""
        final = self.stages.get("modules-final", self.lines[0].at if self.lines else 0.0)
        out = []
        for i, line in enumerate(self.lines):
            following = self.lines[i + 1].at if i + 1 < len(self.lines) else line.at
            out.append((line.at - final, following - line.at, line))
        return out


def _stamp(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def boot_timeline(report: VmReport) -> BootTimeline:
    raw = report.facts.get("cloud-init-stages", "")
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        data = {}
    clock = data.get("clock") or {}
    offset = float(clock["epoch"]) - float(clock["uptime"]) if "epoch" in clock and "uptime" in clock else None
    stages: dict[str, float] = {}
    for name, value in data.items():
        if name == "clock" or not isinstance(value, dict) or value.get("start") is None:
            continue
        start = float(value["start"])
        if start < _EPOCH_FLOOR:
            if offset is None:
                continue
            start += offset
        stages[name] = start
    lines = []
    for text in report.facts.get("bootstrap-log-head", "").splitlines():
        match = _STAMP_RE.match(text)
        if match:
            lines.append(LogLine(_stamp(match.group(1)), match.group(2).rstrip(":"), match.group(3)))
    return BootTimeline(stages=stages, lines=tuple(lines))
