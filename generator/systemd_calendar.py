"""systemd calendar events (systemd.time(7), "Calendar Events"), checked the way systemd parses them.

A port of ``calendar_spec_from_string`` and what it calls (parse_weekdays, parse_date,
parse_calendar_time, parse_chain, prepend_component, parse_component_decimal, calendar_spec_normalize,
calendar_spec_valid) from systemd's src/shared/calendarspec.c (src/basic/ in newer releases; read at
systemd-stable 18b3b28e), plus parse_fractional_part_u (src/basic/parse-util.c) and
verify_timezone (src/basic/time-util.c). It answers one question, whether the node's systemd accepts
an OnCalendar= value, and keeps the upstream order of checks so the verdicts agree;
tests/test_systemd_calendar.py compares them with ``systemd-analyze calendar``.

Not ported: ``@TIMESTAMP`` (kgen's schema does not admit '@') and the node's local time-zone
abbreviation as a suffix (tzname; kgen's nodes run in UTC, which the " UTC" suffix covers).
A time-zone suffix is accepted when the zone exists in /usr/share/zoneinfo of the machine running kgen,
as systemd does on the node.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

USEC_PER_SEC = 1_000_000
INT_MAX = 2**31 - 1
ULONG_MAX = 2**64 - 1
MIN_YEAR, MAX_YEAR = 1970, 2199
BITS_WEEKDAYS = 127
COMPONENTS_MAX = 240  # CALENDARSPEC_COMPONENTS_MAX: the longest comma-separated list systemd parses
ZONEINFO = Path("/usr/share/zoneinfo")
DIGITS = "0123456789"
END = "\0"  # the C string's terminator, so lookahead past the end reads like upstream

# Weekday names as upstream's day_nr table lists them: each full name, then its abbreviation, Monday = 0.
DAY_NAMES = tuple(
    (name, nr)
    for nr, day in enumerate(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"))
    for name in (day, day[:3])
)
# Shorthands (strcaseeq): what each sets; only their names matter for validity. Then the twice-a-year ones.
SHORTHANDS = frozenset(
    {"minutely", "hourly", "daily", "monthly", "weekly", "yearly", "annually", "anually", "quarterly"}
    | {"semiannually", "semi-annually", "biannually", "bi-annually"}
)


class CalendarError(ValueError):
    """systemd would refuse the expression; the message says where."""


@dataclass
class Component:
    """One value or range (start..stop/repeat) of a calendar field."""

    start: int
    stop: int = -1
    repeat: int = 0


Chain = list[Component] | None  # None is '*' (no constraint)


@dataclass
class _Spec:
    """A parsed calendar expression."""

    weekdays_bits: int = 0
    end_of_month: bool = False
    year: Chain = None
    month: Chain = None
    day: Chain = None
    hour: Chain = None
    minute: Chain = None
    microsecond: Chain = None


class _Cursor:
    """``const char *`` over the text, reading END past the last character."""

    def __init__(self, text: str, pos: int = 0) -> None:
        self.text = text
        self.pos = pos

    def at(self, offset: int = 0) -> str:
        i = self.pos + offset
        return self.text[i] if i < len(self.text) else END

    def skip_spaces(self) -> None:
        while self.at() == " ":
            self.pos += 1


def check(expression: str) -> None:
    """Raise CalendarError unless systemd accepts ``expression`` as a calendar event."""
    text = _strip_time_zone(expression)
    if not text:
        raise CalendarError("nothing before the time zone")
    if text.lower() in SHORTHANDS:
        return
    spec = _Spec()
    cursor = _Cursor(text)
    _parse_weekdays(cursor, spec)
    _parse_date(cursor, spec)
    _parse_calendar_time(cursor, spec)
    if cursor.at() != END:
        raise CalendarError(f"unexpected {cursor.text[cursor.pos :]!r}")
    _normalize(spec)
    _valid(spec)


def is_valid(expression: str) -> bool:
    try:
        check(expression)
    except CalendarError:
        return False
    return True


def _strip_time_zone(text: str) -> str:
    if text.lower().endswith(" utc"):
        return text[: -len(" utc")]
    # tzname[]: the node's own zone abbreviation; kgen's nodes run in UTC, handled above.
    last_space = text.rfind(" ")
    if last_space >= 0 and _time_zone_exists(text[last_space + 1 :]):
        return text[:last_space]
    return text


def _time_zone_exists(name: str) -> bool:
    """verify_timezone(): a plain zone name whose zoneinfo file is a TZif file."""
    if name == "UTC":
        return True
    if not name or name.startswith("/") or name.endswith("/") or "//" in name:
        return False
    if any(not (c.isascii() and (c.isalnum() or c in "-_+/")) for c in name):
        return False
    path = ZONEINFO / name
    try:
        with path.open("rb") as fh:
            return path.is_file() and fh.read(4) == b"TZif"
    except OSError:
        return False


def _parse_weekdays(cursor: _Cursor, spec: _Spec) -> None:
    previous = -1  # the start of an open range
    first = True
    while True:
        rest = cursor.text[cursor.pos :].lower()
        match = next(((name, nr) for name, nr in DAY_NAMES if rest.startswith(name)), None)
        if match is None:
            if first:
                return  # no weekdays: the date follows
            raise CalendarError(f"expected a weekday at {cursor.text[cursor.pos :]!r}")
        name, nr = match
        if cursor.at(len(name)) not in (END, "-", ".", ",", " "):
            raise CalendarError(f"unknown weekday at {cursor.text[cursor.pos :]!r}")
        spec.weekdays_bits |= 1 << nr
        if previous >= 0:
            if previous > nr:
                raise CalendarError("a weekday range must go forward (Mon..Fri)")
            for j in range(previous + 1, nr):
                spec.weekdays_bits |= 1 << j
        cursor.pos += len(name)
        if cursor.at() == END:
            return
        if cursor.at() == " ":
            cursor.skip_spaces()
            return
        previous = _weekday_separator(cursor, previous, nr)
        if cursor.at() in (END, " "):  # a trailing comma is fine, an open range is not
            cursor.skip_spaces()
            if previous >= 0:
                raise CalendarError("the weekday range has no end")
            return
        first = False


def _weekday_separator(cursor: _Cursor, previous: int, nr: int) -> int:
    """Consume '..' or '-' (a range from weekday ``nr``) or ','; returns the open range's start or -1."""
    if cursor.at() == ".":
        if previous >= 0 or cursor.at(1) != ".":
            raise CalendarError("a weekday range is written Mon..Fri")
        cursor.pos += 2
        return nr
    if cursor.at() == "-":  # the old range syntax
        if previous >= 0:
            raise CalendarError("a weekday range is written Mon..Fri")
        cursor.pos += 1
        return nr
    if cursor.at() == ",":
        cursor.pos += 1
        return -1
    return previous


def _parse_one_number(cursor: _Cursor) -> int:
    """strtoul(), base 10, at a digit (parse_component_decimal checked it)."""
    start = cursor.pos
    while cursor.at() in DIGITS:
        cursor.pos += 1
    value = int(cursor.text[start : cursor.pos])
    if value > ULONG_MAX:
        raise CalendarError("number out of range")
    return value


def _parse_fractional_part(cursor: _Cursor, digits: int) -> int:
    value = 0
    for i in range(digits):
        c = cursor.at()
        if c not in DIGITS:
            if i == 0:
                raise CalendarError("a decimal point needs digits after it")
            value *= 10 ** (digits - i)
            break
        value = value * 10 + int(c)
        cursor.pos += 1
    if cursor.at() in "56789":  # rounds the 7th digit
        value += 1
    while cursor.at() in DIGITS:
        cursor.pos += 1
    return value


def _parse_component_decimal(cursor: _Cursor, usec: bool) -> int:
    if cursor.at() not in DIGITS:
        raise CalendarError(f"expected a number at {cursor.text[cursor.pos :] or 'the end'!r}")
    value = _parse_one_number(cursor)
    if usec:
        if value * USEC_PER_SEC > ULONG_MAX:
            raise CalendarError("number out of range")
        value *= USEC_PER_SEC
        if cursor.at() == "." and cursor.at(1) != ".":  # one '.' is a decimal point, '..' a range
            cursor.pos += 1
            value += _parse_fractional_part(cursor, 6)
            if value > ULONG_MAX:
                raise CalendarError("number out of range")
    if value > INT_MAX:
        raise CalendarError("number out of range")
    return value


def _prepend_component(cursor: _Cursor, usec: bool, chain: list[Component]) -> None:
    nesting = 0
    while True:
        if nesting > COMPONENTS_MAX:
            raise CalendarError(f"more than {COMPONENTS_MAX + 1} values in one list")
        start = _parse_component_decimal(cursor, usec)
        stop, repeat = -1, 0
        if cursor.at() == "." and cursor.at(1) == ".":
            cursor.pos += 2
            stop = _parse_component_decimal(cursor, usec)
            repeat = USEC_PER_SEC if usec else 1
        if cursor.at() == "/":
            cursor.pos += 1
            repeat = _parse_component_decimal(cursor, usec)
            if repeat == 0:
                raise CalendarError("a repetition of 0")
        else:
            if start > INT_MAX - repeat:
                raise CalendarError("number out of range")
            if usec and stop >= 0 and start + repeat > stop:
                raise CalendarError("a seconds range shorter than a second needs a repetition")
        if cursor.at() not in (END, " ", ",", "-", "~", ":"):
            raise CalendarError(f"unexpected {cursor.text[cursor.pos :]!r}")
        chain.insert(0, Component(start, stop, repeat))
        if cursor.at() != ",":
            return
        cursor.pos += 1
        nesting += 1


def _parse_chain(cursor: _Cursor, usec: bool) -> Chain:
    if cursor.at() == "*":
        cursor.pos += 1
        return [Component(0, -1, USEC_PER_SEC)] if usec else None
    chain: list[Component] = []
    _prepend_component(cursor, usec, chain)
    return chain


def _parse_date(cursor: _Cursor, spec: _Spec) -> None:
    if cursor.at() == END:
        return
    t = _Cursor(cursor.text, cursor.pos)
    first = _parse_chain(t, usec=False)
    if t.at() in (END, ":"):
        return  # a time, not a date: parse_calendar_time reads it again from the start
    if t.at() == "~":
        spec.end_of_month = True
    elif t.at() != "-":
        raise CalendarError(f"unexpected {t.text[t.pos :]!r} in the date")
    t.pos += 1
    second = _parse_chain(t, usec=False)
    if t.at() in (END, " "):
        t.skip_spaces()
        cursor.pos = t.pos
        spec.month, spec.day = first, second
        return
    if spec.end_of_month:
        raise CalendarError("'~' may only come before the day")
    if t.at() == "~":
        spec.end_of_month = True
    elif t.at() != "-":
        raise CalendarError(f"unexpected {t.text[t.pos :]!r} in the date")
    t.pos += 1
    third = _parse_chain(t, usec=False)
    if t.at() not in (END, " "):
        raise CalendarError(f"unexpected {t.text[t.pos :]!r} after the date")
    t.skip_spaces()
    cursor.pos = t.pos
    spec.year, spec.month, spec.day = first, second, third


def _parse_calendar_time(cursor: _Cursor, spec: _Spec) -> None:
    if cursor.at() == END:
        spec.hour, spec.minute, spec.microsecond = [Component(0)], [Component(0)], [Component(0)]
        return
    hour = _parse_chain(cursor, usec=False)
    if cursor.at() != ":":
        raise CalendarError(f"expected ':' at {cursor.text[cursor.pos :] or 'the end'!r}")
    cursor.pos += 1
    minute = _parse_chain(cursor, usec=False)
    if cursor.at() == END:
        second: Chain = [Component(0)]
    else:
        if cursor.at() != ":":
            raise CalendarError(f"expected ':' at {cursor.text[cursor.pos :]!r}")
        cursor.pos += 1
        second = _parse_chain(cursor, usec=True)
        if cursor.at() != END:
            raise CalendarError(f"unexpected {cursor.text[cursor.pos :]!r} after the time")
    spec.hour, spec.minute, spec.microsecond = hour, minute, second


def _normalize(spec: _Spec) -> None:
    if spec.weekdays_bits <= 0 or spec.weekdays_bits >= BITS_WEEKDAYS:
        spec.weekdays_bits = -1
    if spec.end_of_month and spec.day is None:
        spec.end_of_month = False
    for c in spec.year or []:  # fix_year: 12 -> 2012, 89 -> 1989
        for attr in ("start", "stop"):
            value = getattr(c, attr)
            if 0 <= value < 70:  # upstream's century pivot
                setattr(c, attr, value + 2000)
            elif 70 <= value < 100:
                setattr(c, attr, value + 1900)
    for chain in (spec.year, spec.month, spec.day, spec.hour, spec.minute, spec.microsecond):
        for c in chain or []:  # normalize_chain: a stop on the grid, a repeat that fires at least twice
            if c.stop > c.start and c.repeat > 0:
                c.stop -= (c.stop - c.start) % c.repeat
            if (c.stop > c.start and c.repeat > 0 and c.start + c.repeat > c.stop) or c.start == c.stop:
                c.repeat, c.stop = 0, -1


def _chain_valid(chain: Chain, low: int, high: int, end_of_month: bool, what: str) -> None:
    if chain is None:
        return
    if end_of_month:
        high -= 3  # no more than 28 days from the end of the month
    for c in chain:
        bad = c.start < low or c.start > high or c.repeat > high - low
        if c.stop >= 0:
            bad = bad or c.stop < low or c.stop > high or c.start + c.repeat > c.stop
        elif end_of_month:
            bad = bad or c.start - c.repeat < low
        else:
            bad = bad or c.start + c.repeat > high
        if bad:
            raise CalendarError(f"the {what} is out of range or repeats past its end")


def _valid(spec: _Spec) -> None:
    _chain_valid(spec.year, MIN_YEAR, MAX_YEAR, False, "year")
    _chain_valid(spec.month, 1, 12, False, "month")
    _chain_valid(spec.day, 1, 31, spec.end_of_month, "day")
    _chain_valid(spec.hour, 0, 23, False, "hour")
    _chain_valid(spec.minute, 0, 59, False, "minute")
    _chain_valid(spec.microsecond, 0, 60 * USEC_PER_SEC - 1, False, "second")


def calendar_problem(schedule: str, example: str) -> str | None:
    """The problem text for an OnCalendar= value systemd refuses (a refused value fails the node's
    first boot, when the timer is enabled), or None when systemd accepts it."""
    try:
        check(schedule)
    except CalendarError as exc:
        return (
            f"{schedule!r} is not a calendar event systemd accepts ({exc}); write it like {example!r} "
            "or 'daily' and check it with `systemd-analyze calendar` (man systemd.time)"
        )
    return None
