"""``spec.certificates``: a renewal schedule systemd accepts."""

from __future__ import annotations

import re
from collections.abc import Iterator

from generator import systemd_calendar
from generator.errors import Problem
from generator.load import KeyPath
from generator.normalize import Normalized
from generator.rawconfig import lookup

SCHEDULE_PATTERN = re.compile(r"^[A-Za-z0-9*,./:~_+ -]+$")  # the schema's pattern


def check_schedule(n: Normalized) -> Iterator[Problem]:
    """``spec.certificates.schedule`` becomes the timer's OnCalendar=; a value systemd refuses fails the
    node's first boot, so it is checked with kgen's port of systemd's parser."""
    doc = n.doc
    path: KeyPath = ("spec", "certificates", "schedule")
    schedule = lookup(doc.data, *path)
    if not isinstance(schedule, str) or not SCHEDULE_PATTERN.search(schedule):
        return  # absent (the default is fine) or the schema reported it
    message = systemd_calendar.calendar_problem(schedule, "*-*-* 03:30:00")
    if message is not None:
        yield doc.problem(path, message)
