"""The session's gzip memo (tests/memo.py) answers exactly what ``gzip.compress`` answers."""

from __future__ import annotations

import gzip

import pytest

from tests.memo import GZIP_COMPRESS, memoized_gzip_compress

CASES = {
    "empty": (b"", 9, 0),
    "text-level-9": (b"#cloud-config\n" * 4000, 9, 0),
    "text-level-1": (b"#cloud-config\n" * 4000, 1, 0),
    "other-mtime": (b"#cloud-config\n" * 4000, 9, 1_700_000_000),
    "binary": (bytes(range(256)) * 64, 6, 0),
}


class Counted:
    """The real gzip.compress, counting its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, data: bytes, compresslevel: int = 9, *, mtime: float | None = None) -> bytes:
        self.calls += 1
        return GZIP_COMPRESS(data, compresslevel, mtime=mtime)


@pytest.mark.parametrize(("data", "level", "mtime"), CASES.values(), ids=CASES.keys())
def test_memo_gives_the_bytes_gzip_gives(data: bytes, level: int, mtime: int) -> None:
    real = Counted()
    compress = memoized_gzip_compress(real)
    first, again = compress(data, level, mtime=mtime), compress(data, level, mtime=mtime)
    assert first == again == GZIP_COMPRESS(data, level, mtime=mtime)
    assert real.calls == 1  # the second answer came from the memo
    assert gzip.decompress(first) == data


def test_memo_keeps_data_level_and_mtime_apart() -> None:
    compress = memoized_gzip_compress(GZIP_COMPRESS)
    keys = [(data, level, mtime) for data in (b"a" * 999, b"b" * 999) for level in (1, 9) for mtime in (0, 1)]
    outputs = [compress(data, level, mtime=mtime) for data, level, mtime in keys]
    assert outputs == [GZIP_COMPRESS(data, level, mtime=mtime) for data, level, mtime in keys]
    assert len(set(outputs)) == len(keys)


def test_without_mtime_every_call_goes_through() -> None:
    """Without an mtime the header holds the time of the call: nothing may be reused."""
    real = Counted()
    compress = memoized_gzip_compress(real)
    compress(b"x", 9)
    compress(b"x", 9)
    assert real.calls == 2
