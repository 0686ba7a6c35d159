"""Issue 12: every module under generator/ stays short enough to read as one concern.

A module that grows past the limit is split by concern; the contributor guide's stage table says where
each concern lives."""

from __future__ import annotations

from tests.conftest import REPO

GENERATOR = REPO / "generator"
MAX_LINES = 400


def test_no_generator_module_is_over_the_line_limit() -> None:
    sizes = {
        path.relative_to(GENERATOR.parent).as_posix(): len(path.read_bytes().splitlines())
        for path in GENERATOR.rglob("*.py")
    }
    assert len(sizes) > 50, sizes  # the package was found
    too_long = {name: lines for name, lines in sorted(sizes.items()) if lines > MAX_LINES}
    assert not too_long, f"over {MAX_LINES} lines (split by concern): {too_long}"
