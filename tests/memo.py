"""Identical work done once per test process: kgen's load + normalize + validate of a config, and the
check of a secrets bundle, are pure functions of the file's path and text. The suite runs them
thousands of times on the same few files (every example is validated, rendered, re-rendered ...), so
the conftest routes kgen through these memos for the whole session.

Each memo reads the file the way kgen does (``Path.read_text``, so a test that fakes an unreadable
file still gets kgen's own error) and keys on what it read. Only results are kept, never errors:
an unreadable, undecodable or invalid file goes through kgen every time. A cached config result is
stored pickled and unpickled on every call, so no caller can change what another one gets; a
secrets bundle is a frozen dataclass of strings and is shared as is.

One memo is not kgen's: ``gzip.compress`` with a fixed ``mtime`` is a pure function of its bytes and
level, and kgen gzips every large user-data at level 9 (~5 ms each), most of them the same bytes again
(a node's user-data re-rendered by test after test)."""

from __future__ import annotations

import gzip
import hashlib
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from generator import secrets
from generator.api import cluster

T = TypeVar("T")


GZIP_COMPRESS = gzip.compress  # the real one, imported before :func:`install` patches it

MAX_BYTES = 256 * 1024  # real configs are a few KB; the tests' huge ones are each checked once


def _text(path: Path) -> str | None:
    """The file's text as kgen would read it, or None when that read fails or the file is no plain
    file or larger than :data:`MAX_BYTES`."""
    try:
        if not path.is_file() or path.stat().st_size > MAX_BYTES:
            return None
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def memoized_checked(original: Callable[[Path], T]) -> Callable[[Path], T]:
    """:func:`generator.api.cluster.checked` on (path, text), each call getting its own copy."""
    cache: dict[tuple[str, str], bytes] = {}

    def checked(config_path: Path) -> T:
        text = _text(config_path)
        if text is None:
            return original(config_path)
        key = (str(config_path), text)
        if key not in cache:
            cache[key] = pickle.dumps(original(config_path))
        result: T = pickle.loads(cache[key])  # noqa: S301 - bytes this process pickled itself
        return result

    return checked


def memoized_load_bundle(original: Callable[..., secrets.SecretsBundle]) -> Callable[..., secrets.SecretsBundle]:
    """:func:`generator.secrets.load_bundle` on (text, cluster): loading checks every key pair
    (~0.25 s of RSA work) and most tests load the same fixture keys."""
    cache: dict[tuple[str, str], secrets.SecretsBundle] = {}  # a bundle does not depend on its path

    def load_bundle(path: Path, *, cluster: str) -> secrets.SecretsBundle:
        text = _text(Path(path))
        if text is None:
            return original(path, cluster=cluster)
        key = (text, cluster)
        if key not in cache:
            cache[key] = original(path, cluster=cluster)  # a ConfigInvalid propagates, uncached
        return cache[key]

    return load_bundle


def memoized_gzip_compress(original: Callable[..., bytes]) -> Callable[..., bytes]:
    """``gzip.compress`` on (sha256 of the data, level, mtime) when ``mtime`` is given: with it the output
    depends on nothing else (without it the header holds the current time, and every call goes through)."""
    cache: dict[tuple[bytes, int, float], bytes] = {}

    def compress(data: bytes, compresslevel: int = 9, *, mtime: float | None = None) -> bytes:
        if mtime is None:
            return original(data, compresslevel)
        key = (hashlib.sha256(data).digest(), compresslevel, mtime)
        if key not in cache:
            cache[key] = original(data, compresslevel, mtime=mtime)
        return cache[key]

    return compress


def install(patch: Any) -> None:
    """Route kgen through the memos (``patch``: a pytest MonkeyPatch that outlives the session)."""
    patch.setattr(cluster, "checked", memoized_checked(cluster.checked))
    patch.setattr(secrets, "load_bundle", memoized_load_bundle(secrets.load_bundle))
    patch.setattr(gzip, "compress", memoized_gzip_compress(gzip.compress))
