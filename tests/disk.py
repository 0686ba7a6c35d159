"""A snapshot of everything on disk under a folder, to assert that a failed command changed nothing."""

from __future__ import annotations

import os
import stat
from pathlib import Path

Entry = tuple[str, int, bytes | str | None]


def snapshot(top: Path) -> dict[str, Entry]:
    """Every path under ``top`` (itself included) -> (type, mode, bytes or symlink target)."""
    out: dict[str, Entry] = {}
    for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
        for name in [".", *dirnames, *filenames]:
            path = Path(dirpath) / name if name != "." else Path(dirpath)
            st = path.lstat()
            rel = path.relative_to(top).as_posix()
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", 0, str(path.readlink()))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", stat.S_IMODE(st.st_mode), None)
            else:
                out[rel] = ("file", stat.S_IMODE(st.st_mode), path.read_bytes())
    return out
