"""Stage 6: put the rendered tree on disk atomically and say what happened to each file.

The cluster folder ``DIR/<cluster>/`` belongs to kgen: the new tree is written complete into a
staging folder beside it and swapped in with renames, so a failed render or write leaves the
previous output untouched. Files holding secrets keep mode 0600."""

from __future__ import annotations

import contextlib
import difflib
import errno
import functools
import os
import shutil
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from generator.errors import UserError
from generator.records import record
from generator.tree import OutputFile

Status = Literal["create", "identical", "update", "remove"]


@record
class FileChange:
    status: Status
    path: Path
    size: int


def _existing_files(root: Path) -> set[str]:
    """Every regular file and symlink under ``root`` (relative POSIX paths), not following symlinked
    folders: what ``root.rglob("*")`` filtered that way gives, from one scandir per folder instead of
    a stat per path (thousands of nodes make tens of thousands of files)."""
    found: set[str] = set()

    def scan(folder: str, prefix: str) -> None:
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.is_symlink() or entry.is_file():
                    found.add(prefix + entry.name)
                elif entry.is_dir():
                    scan(entry.path, f"{prefix}{entry.name}/")

    if root.is_dir():
        scan(str(root), "")
    return found


_MISSING = {errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP}


def _status(target: str, out: OutputFile) -> Status:
    # One stat (following symlinks, as reading does); the content is read only when size and mode
    # already match.
    try:
        info = os.stat(target)  # noqa: PTH116 - a string path: no Path made per file
    except OSError as exc:
        if exc.errno in _MISSING:  # what Path.is_file treats as "not a file"
            return "create"
        raise
    if not stat.S_ISREG(info.st_mode):
        return "create"
    if info.st_size != out.size or stat.S_IMODE(info.st_mode) != out.mode:
        return "update"
    return "identical" if _read(target, info.st_size) == out.content else "update"


def _read(path: str, size: int) -> bytes:
    """The file's bytes, up to one more than ``size`` (so a file grown since its stat differs). Plain
    os calls: Path.read_bytes's buffered file object was most of comparing thousands of small files."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        data = os.read(fd, size + 1)
        while len(data) <= size and (more := os.read(fd, size + 1 - len(data))):
            data += more
        return data
    finally:
        os.close(fd)


def diff_tree(files: dict[str, OutputFile], root: Path) -> list[FileChange]:
    """What writing ``files`` under ``root`` would do, file by file (content and mode compared)."""
    base = os.path.join(root, "")  # noqa: PTH118 - one string join per file, not a Path (thousands of files)
    changes = [FileChange(_status(base + rel, out), root / rel, out.size) for rel, out in files.items()]
    changes.extend(FileChange("remove", root / rel, 0) for rel in sorted(_existing_files(root) - set(files)))
    return changes


# Text that marks a file as holding a secret whatever its mode says (a PEM private key).
_SECRET_MARKERS = (b"PRIVATE KEY-----",)


def _shown(content: bytes, mode: int) -> str | None:
    """The text a diff may show, or None: secret files (mode 0600, or a private key in them) and
    files that are not UTF-8 text are never shown."""
    if mode & 0o077 == 0 or any(marker in content for marker in _SECRET_MARKERS):
        return None
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _lines(text: str) -> list[str]:
    return [
        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in text.splitlines(True)
    ]


def diff_text(files: dict[str, OutputFile], root: Path, changes: list[FileChange]) -> str:
    """A unified diff (``a/`` the files on disk, ``b/`` what would be written) for every change that is
    not identical. A secret or binary file on either side, and a symlink on disk (never followed),
    get one line saying it differs; their content is never read into the diff."""
    chunks: list[str] = []
    for change in changes:
        if change.status == "identical":
            continue
        rel = change.path.relative_to(root).as_posix()
        new = files.get(rel)
        old_text: str | None = ""
        old_mode = None
        if change.path.is_symlink():
            old_text = None
        elif change.path.is_file():
            old_mode = stat.S_IMODE(change.path.stat().st_mode)
            # A secret file's mode already says: it is not even read.
            old_text = None if old_mode & 0o077 == 0 else _shown(change.path.read_bytes(), old_mode)
        new_text = "" if new is None else _shown(new.content, new.mode)
        if old_text is None or new_text is None:
            why = "a symlink on disk" if change.path.is_symlink() else "a secret or binary file"
            chunks.append(f"{change.status} {rel}: {why}, content not shown\n")
            continue
        if new is not None and old_mode is not None and old_mode != new.mode:
            chunks.append(f"{rel}: mode {old_mode:04o} -> {new.mode:04o}\n")
        a = f"a/{rel}" if change.status != "create" else "/dev/null"
        b = f"b/{rel}" if change.status != "remove" else "/dev/null"
        chunks.extend(difflib.unified_diff(_lines(old_text), _lines(new_text), a, b))
    return "".join(chunks)


@record
class SecretFile:
    """A file holding secrets (the bundle) written in the same all-or-nothing step as the tree."""

    path: Path
    text: str

    @property
    def target(self) -> Path:
        # A symlink to an existing bundle (checked by secrets.bundle_exists) is written through, so
        # the bundle stays where the link points.
        return self.path.resolve() if self.path.is_symlink() else self.path


def _unwritable(path: Path) -> UserError:
    return UserError(f"cannot write to {path}: permission denied or read-only file system")


def check_targets(root: Path, *, writable: bool) -> None:
    """Refuse, before anything is written, every output location a write would fail on or must not
    touch: an ancestor of ``root`` that is a file, ``root`` that is a file or a symlink, and (when
    ``writable``) a folder kgen would have to create, rename or empty without write access."""
    existing = next((p for p in (root.parent, *root.parent.parents) if os.path.lexists(p)), None)
    if existing is not None and not existing.is_dir():
        raise UserError(f"cannot write to {root.parent}: {existing} is not a folder")
    if root.is_symlink():
        raise UserError(
            f"{root} is a symlink; kgen replaces the cluster folder as a whole and will not write through or "
            "replace a symlink: remove it, or point --out-dir at the folder it links to"
        )
    if os.path.lexists(root) and not root.is_dir():
        raise UserError(f"{root} exists and is not a folder; move it away first, kgen will not replace it")
    if not writable:
        return
    if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
        raise _unwritable(existing)
    if root.is_dir():
        # The old tree is renamed away and deleted: every folder in it must allow that.
        for folder in (root, *(p for p in root.rglob("*") if p.is_dir() and not p.is_symlink())):
            if not os.access(folder, os.W_OK | os.X_OK):
                raise _unwritable(folder)


def check_secret_target(secret: SecretFile) -> None:
    folder = secret.target.parent
    if not folder.is_dir():
        raise UserError(f"cannot write {secret.path}: {folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise _unwritable(folder)


def _stage_tree(files: dict[str, OutputFile], root: Path, undo: Undo) -> Path:
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}.kgen-new-", dir=root.parent))
    undo.append(functools.partial(shutil.rmtree, staging, ignore_errors=True))
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
    return staging


def _stage_secret(secret: SecretFile) -> Path:
    """The secret written 0600 from the start into a temporary file beside its target."""
    target = secret.target
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(secret.text)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


Undo = list[Callable[[], object]]


def _swap_in_tree(files: dict[str, OutputFile], root: Path, undo: Undo) -> Path | None:
    """Stage the tree beside ``root`` and rename it into place; returns where the old tree went."""
    missing = [p for p in (root.parent, *root.parent.parents) if not os.path.lexists(p)]
    for folder in reversed(missing):
        folder.mkdir()
        undo.append(folder.rmdir)
    staging = _stage_tree(files, root, undo)
    old = None
    if root.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{root.name}.kgen-old-", dir=root.parent))
        old.rmdir()
        root.rename(old)
        undo.append(functools.partial(old.rename, root))
    staging.rename(root)
    undo.append(functools.partial(root.rename, staging))
    return old


def write_tree(files: dict[str, OutputFile], root: Path, *, secret: SecretFile | None = None) -> list[FileChange]:
    """Write ``files`` as ``root`` (and ``secret``, when given) all or nothing.

    Every target is checked first; then the new tree and the secret are staged beside their targets
    and swapped in with renames. Any failure undoes what was done, in reverse (renames back, staging
    files and the folders this call created removed), so the disk is left as it was."""
    changes = diff_tree(files, root)
    tree_changed = any(c.status != "identical" for c in changes)
    if not tree_changed and secret is None:
        return changes
    check_targets(root, writable=True)
    if secret is not None:
        check_secret_target(secret)
    undo: Undo = []
    try:
        old = _swap_in_tree(files, root, undo) if tree_changed else None
        if secret is not None:
            staged = _stage_secret(secret)
            undo.append(functools.partial(staged.unlink, missing_ok=True))
            staged.replace(secret.target)
    except OSError as exc:
        for step in reversed(undo):
            with contextlib.suppress(OSError):
                step()
        raise UserError(f"cannot write {exc.filename or root}: {exc.strerror or exc}") from None
    if old is not None:
        try:
            shutil.rmtree(old)
        except OSError as exc:
            raise UserError(f"wrote {root}, but cannot remove the old tree moved to {old}: {exc.strerror}") from None
    return changes


# --- hook (issue 13): `kgen kubeconfig` writes one private file ----------------------------------------


def write_private_file(secret: SecretFile, *, overwrite: bool) -> Literal["create", "replace"]:
    """Write one file holding a secret (a kubeconfig with its client key): mode 0600 from the start,
    staged beside the target and moved into place in one step. Without ``overwrite`` an existing file
    (or symlink, even a dangling one) is refused, and the final step is a hard link, which fails
    rather than replace a file that appeared in the meantime. With ``overwrite`` a symlink is written
    through, as for the bundle."""
    path = secret.path
    exists = os.path.lexists(path)
    if exists and not overwrite:
        raise UserError(f"{path} already exists; use --force to replace it")
    if secret.target.is_dir():
        raise UserError(f"{path} is a folder; name a file to write the kubeconfig to")
    check_secret_target(secret)
    try:
        staged = _stage_secret(secret)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        if overwrite:
            staged.replace(secret.target)
        else:
            _link_new(staged, path)
    except FileExistsError:
        raise UserError(f"{path} already exists; use --force to replace it") from None
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        staged.unlink(missing_ok=True)
    return "replace" if exists else "create"


def _link_new(staged: Path, path: Path) -> None:
    """Give ``staged`` the name ``path`` only if nothing has it (FileExistsError otherwise). A file
    system without hard links (vfat) falls back to a rename after one more look."""
    try:
        os.link(staged, path)
    except OSError as exc:
        if exc.errno not in {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK}:
            raise
        if os.path.lexists(path):
            raise FileExistsError(errno.EEXIST, "File exists", str(path)) from None
        staged.rename(path)
