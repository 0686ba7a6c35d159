"""The loaded document and the wording of messages about it: key paths as ``spec.nodes[2].role``, the
line of each key, values echoed short. Shared by every stage that reports a problem at a key."""

from __future__ import annotations

import datetime
import json
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from generator.errors import Problem

KeyPath = tuple[str | int, ...]


def format_path(path: KeyPath) -> str:
    """``("spec", "nodes", 2, "role")`` -> ``spec.nodes[2].role``. A key with characters that would break
    the one-line report (newlines, control characters) is shown JSON-quoted."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        text = part if part.isprintable() else json.dumps(part)
        out += f".{text}" if out else text
    return out


@dataclass
class Document:
    """A parsed YAML document and the 1-based line of each key path in it."""

    file: str
    data: Any
    lines: dict[KeyPath, int] = field(default_factory=dict)

    def line_of(self, path: KeyPath) -> int | None:
        """The line of ``path``, or of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:end]))
            if line is not None:
                return line
        return None

    def problem(self, path: KeyPath, message: str, *, severity: str = "error") -> Problem:
        return Problem(
            file=self.file,
            line=self.line_of(path),
            path=format_path(path),
            message=_shorten_quoted(message),
            severity="warning" if severity == "warning" else "error",
        )


ECHO_LIMIT = 80


def shorten(text: str, limit: int = ECHO_LIMIT) -> str:
    """``text`` quoted for a message; a long one cut to ``limit`` characters plus its length, so a
    10 MB value does not come back as a 10 MB message."""
    if len(text) <= limit:
        return repr(text)
    head = repr(text[:limit])
    return f"{head[:-1]}…{head[-1]} ({len(text)} characters)"


def describe(value: Any) -> str:
    """Any loaded value, short and on one line, for a message."""
    if isinstance(value, str):
        return shorten(value)
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | float):
        text = repr(value) if isinstance(value, float) else str(value) if value.bit_length() < 200 else "a huge number"
        return text if len(text) <= ECHO_LIMIT else f"a {len(text)}-digit number"
    if isinstance(value, bytes):
        return f"binary data ({len(value)} bytes)"
    if isinstance(value, datetime.date):  # datetime is a date too
        return f"the date {value.isoformat()}"
    try:
        text = json.dumps(value, default=repr, ensure_ascii=False)
    except (ValueError, RecursionError):  # a value nested too deeply or referring to itself
        text = f"a {type(value).__name__}"
    return text if len(text) <= ECHO_LIMIT else f"{text[:ECHO_LIMIT]}… ({len(text)} characters)"


_QUOTED = re.compile(r"'[^'\n]*'|\"[^\"\n]*\"")

LONG_MESSAGE = 400


def _shorten_quoted(message: str) -> str:
    """A long message with every quoted value over :data:`ECHO_LIMIT` characters cut short: a check
    that echoes a value with ``!r`` must not print a 10 MB one in full. Messages of ordinary length
    are left alone (an apostrophe in the prose could pair with a quote)."""
    if len(message) <= LONG_MESSAGE:
        return message

    def cut(match: re.Match[str]) -> str:
        text = match.group()
        if len(text) - 2 <= ECHO_LIMIT:
            return text
        return f"{text[: ECHO_LIMIT + 1]}…{text[0]} ({len(text) - 2} characters)"

    return _QUOTED.sub(cut, message)


_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def non_ascii_hint(text: str) -> str:
    """``; character 2 is U+0430 CYRILLIC SMALL LETTER A, not ASCII`` for the first non-ASCII
    character of ``text`` (a look-alike letter in a name is otherwise invisible), else ``""``."""
    match = _NON_ASCII.search(text)
    if match is None:
        return ""
    return f"; character {match.start() + 1} is {char_name(match.group())}, not ASCII"


def char_name(char: str) -> str:
    """``U+0430 CYRILLIC SMALL LETTER A``: a character named so a look-alike can be told apart."""
    name = unicodedata.name(char, "")
    return f"U+{ord(char):04X} {name}" if name else f"U+{ord(char):04X} (a control character)"
