"""kgen's port of systemd's calendar-event parser gives the verdict `systemd-analyze calendar` gives,
on a corpus of hand-picked edge cases and on expressions generated from the grammar (fixed seed)."""

from __future__ import annotations

import random
import subprocess

import pytest

from generator import systemd_calendar
from tests.conftest import TESTS, require_tool

CORPUS = [
    line
    for line in (TESTS / "fixtures" / "calendar-corpus.txt").read_text(encoding="utf-8").split("\n")
    if line and not line.startswith("# ")
]


def _lists(length: int, modulo: int) -> str:
    return ",".join(str(i % modulo) for i in range(length)) + ":00"


# systemd parses at most 241 values in one comma-separated list (CALENDARSPEC_COMPONENTS_MAX + 1).
LONG_LISTS = [_lists(241, 24), _lists(242, 24), _lists(241, 241)]


def _component(rng: random.Random, low: int, high: int) -> str:
    if rng.random() < 0.2:
        return "*"
    text = str(rng.randint(low, high))
    if rng.random() < 0.3:
        text += f"..{rng.randint(low, high)}"
    if rng.random() < 0.3:
        text += f"/{rng.randint(0, (high - low) // 2)}"
    if rng.random() < 0.2:
        text += "," + _component(rng, low, high)
    return text


def _generated(count: int) -> list[str]:
    """Weekdays, date and time built from the grammar, with values near and past each field's range."""
    rng = random.Random(20)
    out = []
    for _ in range(count):
        weekdays = rng.choice(["", "Mon ", "Mon..Fri ", "sat,sun ", "Tue-Thu ", "Fri..Mon "])
        date = f"{_component(rng, 1968, 2201)}-{_component(rng, 0, 13)}{rng.choice('-~')}{_component(rng, 0, 32)} "
        clock = f"{_component(rng, 0, 24)}:{_component(rng, 0, 60)}"
        seconds = rng.choice(["", f":{_component(rng, 0, 60)}", ":*", f":{rng.randint(0, 59)}.{rng.randint(0, 99)}"])
        zone = rng.choice(["", "", " UTC", " Europe/Berlin"])
        out.append(weekdays + rng.choice(["", date]) + clock + seconds + zone)
    return out


def _systemd_accepts(analyze: str, expression: str) -> bool:
    result = subprocess.run([analyze, "calendar", expression], capture_output=True, text=True, check=False)
    assert result.returncode == 0 or "Failed to parse calendar specification" in result.stderr, result.stderr
    return result.returncode == 0


@pytest.mark.parametrize(("name", "expressions"), [("corpus", CORPUS + LONG_LISTS), ("generated", _generated(300))])
def test_verdicts_match_systemd_analyze(name: str, expressions: list[str]) -> None:
    analyze = require_tool("systemd-analyze", reason="Debian package systemd")
    verdicts = {e: _systemd_accepts(analyze, e) for e in expressions}
    # The comparison means something only if both verdicts occur often.
    assert sum(verdicts.values()) >= 40 and sum(not v for v in verdicts.values()) >= 40, name
    mismatches = [
        f"{e!r}: systemd {'accepts' if ok else 'refuses'}, kgen {'accepts' if not ok else 'refuses'}"
        for e, ok in verdicts.items()
        if systemd_calendar.is_valid(e) != ok
    ]
    assert mismatches == []


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("*-*-* 20/6:00:00", "the hour is out of range"),
        ("*-*-* 24:00", "the hour is out of range"),
        ("Fri..Mon", "a weekday range must go forward"),
        ("mon-", "the weekday range has no end"),
        ("*/2", "in the date"),
        ("12:00 Nowhere/City", "expected .:. at . Nowhere/City."),
    ],
)
def test_refusals_say_why(expression: str, reason: str) -> None:
    with pytest.raises(systemd_calendar.CalendarError, match=reason):
        systemd_calendar.check(expression)
