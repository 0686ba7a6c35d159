"""Problems are values; failures are a small set of exceptions with one exit-code map."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any, Literal

from generator.records import record

Severity = Literal["error", "warning"]

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2
EXIT_DRIFT = 3


@record
class Problem:
    """One thing wrong (or worth a warning) in a user's file, located by line and key path."""

    file: str
    line: int | None
    path: str
    message: str
    severity: Severity = "error"
    column: int | None = None  # 1-based; set where the column matters (YAML syntax, a stray character)

    def __str__(self) -> str:
        where = display_file(self.file)
        if self.line is not None:
            where += f":{self.line}" + (f":{self.column}" if self.column is not None else "")
        label = f"{self.path}: " if self.path else ""
        prefix = "warning: " if self.severity == "warning" else ""
        return f"{where}: {label}{prefix}{self.message}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def sort_key(self) -> tuple[str, int, int, str, str]:
        return (self.file, self.line or 0, self.column or 0, self.path, self.message)


def one_line(text: str) -> str:
    """``text`` with newlines and other control characters escaped (``\\n``), for a one-line report."""
    return "".join(repr(c)[1:-1] if not c.isprintable() else c for c in text)


def display_file(name: str) -> str:
    """A file name as part of a one-line report: a name with a newline or another control character is
    shown JSON-quoted, so it cannot split the report or forge another line."""
    return name if name.isprintable() else json.dumps(name)


class KgenError(Exception):
    """A failure caused by the user's input or environment, never shown with a traceback."""

    exit_code = EXIT_INVALID


class ConfigInvalid(KgenError):
    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: p.sort_key)
        super().__init__("\n".join(str(p) for p in self.problems))


class UserError(KgenError):
    """A plain, one-line user-facing error (missing file, refusing to overwrite, ...)."""


class RenderError(KgenError):
    """The config passes the checks but cannot be rendered (for example a user-data over Nova's size
    limit). ``node`` names the node it concerns, so the problem can point at that node's entry."""

    def __init__(self, message: str, *, node: str | None = None) -> None:
        super().__init__(message)
        self.node = node


class DriftFound(KgenError):
    """``render --check`` found files that differ; ``diff`` is the unified diff (``--diff``), or empty."""

    exit_code = EXIT_DRIFT

    def __init__(self, message: str, *, diff: str = "") -> None:
        super().__init__(message)
        self.diff = diff


def errors_only(problems: Sequence[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "error"]
