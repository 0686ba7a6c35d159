"""Golden-file comparison. Regenerate with KGEN_UPDATE_GOLDEN=1 and review the diff."""

from __future__ import annotations

import os
from pathlib import Path

GOLDEN = Path(__file__).resolve().parent / "golden"


def check_golden(name: str, content: bytes) -> None:
    path = GOLDEN / name
    if os.environ.get("KGEN_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        return
    assert path.is_file(), f"no golden file {path}; run with KGEN_UPDATE_GOLDEN=1 to create it"
    expected = path.read_bytes()
    assert content == expected, f"{name} differs from its golden file; if intended, rerun with KGEN_UPDATE_GOLDEN=1"


def check_no_stale_golden(prefix: str, produced: set[str]) -> None:
    """Every golden file under ``prefix`` is still produced; in update mode stale ones are deleted."""
    root = GOLDEN / prefix
    existing = {p.relative_to(GOLDEN).as_posix() for p in root.rglob("*") if p.is_file()} if root.is_dir() else set()
    stale = existing - produced
    if os.environ.get("KGEN_UPDATE_GOLDEN") == "1":
        for name in stale:
            (GOLDEN / name).unlink()
        return
    assert not stale, f"golden files no longer produced: {sorted(stale)}"
