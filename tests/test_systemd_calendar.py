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


PARSE_FAILURE = "Failed to parse calendar specification '{}': "


def _systemd_verdicts(analyze: str, expressions: list[str]) -> dict[str, bool]:
    """`systemd-analyze calendar`'s verdict on each expression, from one run over all of them.

    verb_calendar (src/analyze/analyze-calendar.c, systemd 252) runs test_calendar_one on each argument
    in order and prints a newline after every one but the last. test_calendar_one either prints one
    table of non-empty lines (Original/Normalized form, Next elapse, ...) on stdout and succeeds, or
    logs "Failed to parse calendar specification '<expression>': <error>" on stderr (and maybe hint
    lines, time_parsing_hint) and prints nothing.
    So stdout is, per expression, its table or nothing, then an empty line between expressions: an
    expression is accepted when a table starts at its place. The refused ones must be exactly the
    expressions stderr names, in order, and the exit code non-zero exactly when one is refused: the
    same verdict, and the same check of the error, as one `systemd-analyze calendar EXPR` per expression.
    """
    result = subprocess.run([analyze, "calendar", *expressions], capture_output=True, text=True, check=False)
    lines = result.stdout.split("\n")
    assert lines.pop() == "", "stdout ends with a newline"
    verdicts: dict[str, bool] = {}
    at = 0
    for i, expression in enumerate(expressions):
        accepted = at < len(lines) and lines[at] != ""
        while at < len(lines) and lines[at] != "":  # this expression's table
            at += 1
        if i < len(expressions) - 1:
            assert lines[at] == "", (expression, lines[at - 3 : at + 3])  # the newline between expressions
            at += 1
        assert verdicts.setdefault(expression, accepted) == accepted, expression
    assert at == len(lines), lines[at:]
    refused = [e for e in expressions if not verdicts[e]]
    # time_parsing_hint may add "Hint: ..." lines after an expression's failure.
    failures = [line for line in result.stderr.splitlines() if not line.startswith("Hint: ")]
    assert not result.stderr.startswith("Hint: ") and len(failures) == len(refused), result.stderr
    for expression, line in zip(refused, failures, strict=True):
        assert line.startswith(PARSE_FAILURE.format(expression)), (expression, line)
    assert (result.returncode != 0) == bool(refused), result.returncode
    return verdicts


@pytest.mark.parametrize(("name", "expressions"), [("corpus", CORPUS + LONG_LISTS), ("generated", _generated(300))])
def test_verdicts_match_systemd_analyze(name: str, expressions: list[str]) -> None:
    analyze = require_tool("systemd-analyze", reason="Debian package systemd")
    verdicts = _systemd_verdicts(analyze, expressions)
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
