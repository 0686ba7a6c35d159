"""Validator verdicts remembered for one test session, across pytest-xdist workers.

The same rendered text reaches the validators from many tests (every node of every example carries
the same first-boot script; the Packer matrix and the node-preparation matrix render the same install
scripts). A validator's verdict depends only on the tool, its arguments and the text, so
:func:`checked_once` runs a check only for the keys (see :func:`key`) that have not passed yet in this
session, in any worker. Passes only are remembered: a failure is raised in the test that met it and is
met again by the next test that brings the same text.

Workers share the memory through marker files in the session's temp root (the parent of the xdist
workers' ``basetemp``); one lock file per key makes a worker that brings a key another worker is
checking wait for that verdict instead of running the same check twice. A fresh session starts empty.
"""

from __future__ import annotations

import fcntl
import hashlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO, TypeVar

V = TypeVar("V")

_passed: set[str] = set()  # keys that passed in this process
_shared: list[Path] = []  # the session's marker folder, once the session fixture set it


def use_folder(folder: Path) -> None:
    """Remember passes in ``folder`` (shared by every worker of the session) from now on."""
    folder.mkdir(parents=True, exist_ok=True)
    _shared[:] = [folder]


def key(*parts: str | bytes) -> str:
    """A key for one check: the sha256 of the tool, its arguments and the text it checks."""
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8") if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()


def _marker(name: str) -> Path | None:
    return _shared[0] / f"{name}.passed" if _shared else None


def _has_passed(name: str) -> bool:
    if name in _passed:
        return True
    marker = _marker(name)
    if marker is not None and marker.exists():
        _passed.add(name)
        return True
    return False


def _record(names: Sequence[str]) -> None:
    _passed.update(names)
    for name in names:
        marker = _marker(name)
        if marker is not None:
            marker.touch()


@contextmanager
def _lock(name: str, *, wait: bool) -> Iterator[IO[str] | None]:
    """The key's lock (None when another worker holds it and ``wait`` is false)."""
    with (_shared[0] / f"{name}.lock").open("a", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield None
            return
        try:
            yield handle
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def checked_once(items: Mapping[str, V], check: Callable[[dict[str, V]], None]) -> None:
    """Call ``check`` (which raises on a failure) on the items whose key has not passed in this session.

    ``items`` maps a key to what ``check`` needs for it; ``check`` gets every item it must check in one
    call (one validator process), except for keys another worker is checking at the same moment: those
    are waited for, and checked here only if that worker's check did not pass."""
    todo = {name: item for name, item in items.items() if not _has_passed(name)}
    if not todo:
        return
    if not _shared:  # outside a session fixture: remember within this process only
        check(todo)
        _record(sorted(todo))
        return
    theirs: dict[str, V] = {}
    with ExitStack() as stack:
        mine: dict[str, V] = {}
        for name in sorted(todo):
            if stack.enter_context(_lock(name, wait=False)) is None:
                theirs[name] = todo[name]
            elif not _has_passed(name):  # it may have passed between the first look and the lock
                mine[name] = todo[name]
        if mine:
            check(mine)
            _record(sorted(mine))
    retry: dict[str, V] = {}
    for name in sorted(theirs):
        with _lock(name, wait=True):
            pass
        if not _has_passed(name):
            retry[name] = theirs[name]
    if retry:
        check(retry)
        _record(sorted(retry))
