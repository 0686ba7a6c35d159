"""The unit of output: a file's bytes and mode, keyed by its path under ``DIR/<cluster>/``."""

from __future__ import annotations

from dataclasses import dataclass

SECRET_MODE = 0o600
PUBLIC_MODE = 0o644
EXECUTABLE_MODE = 0o755


@dataclass(frozen=True)
class OutputFile:
    """One output file's content and mode."""

    content: bytes
    mode: int


Tree = dict[str, OutputFile]
