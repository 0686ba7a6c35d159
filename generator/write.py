"""Stage 6: put the rendered tree on disk atomically and say what happened to each file.

The cluster folder ``DIR/<cluster>/`` belongs to kgen: the new tree is written complete into a
staging folder beside it and swapped in with renames, so a failed render or write leaves the
previous output untouched. Files holding secrets keep mode 0600."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from generator.errors import UserError
from generator.tree import OutputFile

Status = Literal["create", "identical", "update", "remove"]


@dataclass(frozen=True)
class FileChange:
    status: Status
    path: Path
    size: int


def _existing_files(root: Path) -> set[str]:
    if not root.is_dir():
        return set()
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() or p.is_symlink()}


def diff_tree(files: dict[str, OutputFile], root: Path) -> list[FileChange]:
    """What writing ``files`` under ``root`` would do, file by file (content and mode compared)."""
    changes: list[FileChange] = []
    for rel, out in files.items():
        target = root / rel
        if not target.is_file():
            status: Status = "create"
        elif target.read_bytes() == out.content and stat.S_IMODE(target.stat().st_mode) == out.mode:
            status = "identical"
        else:
            status = "update"
        changes.append(FileChange(status, target, len(out.content)))
    changes.extend(FileChange("remove", root / rel, 0) for rel in sorted(_existing_files(root) - set(files)))
    return changes


def write_tree(files: dict[str, OutputFile], root: Path) -> list[FileChange]:
    changes = diff_tree(files, root)
    if all(c.status == "identical" for c in changes):
        return changes
    parent = root.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{root.name}.kgen-new-", dir=parent))
    except OSError as exc:
        raise UserError(f"cannot write to {parent}: {exc.strerror}") from None
    try:
        os.chmod(staging, 0o755)  # noqa: PTH101, S103 - mkdtemp makes it 0700; secrets files inside stay 0600
        for rel, out in files.items():
            target = staging / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, out.mode)
            with os.fdopen(fd, "wb") as fh:
                fh.write(out.content)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(target, out.mode)  # noqa: PTH101 - the umask may have narrowed it
        old = None
        if root.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{root.name}.kgen-old-", dir=parent))
            old.rmdir()
            root.rename(old)
        staging.rename(root)
        if old is not None:
            shutil.rmtree(old)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise UserError(f"cannot write {root}: {exc.strerror or exc}") from None
    return changes


def write_secret_file(path: Path, text: str) -> None:
    """Write a file holding secrets: created 0600 from the start, then renamed into place."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror}") from None
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        Path(tmp).replace(path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise UserError(f"cannot write {path}: {exc.strerror}") from None
