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


def golden_names(prefix: str) -> set[str]:
    root = GOLDEN / prefix
    if not root.is_dir():
        return set()
    return {p.relative_to(GOLDEN).as_posix() for p in root.rglob("*") if p.is_file()}
