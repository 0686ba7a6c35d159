"""Rendering is a pure function of (config, secrets, kgen version), and writes are atomic."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from generator import pipeline, render, write
from generator.errors import RenderError, UserError
from generator.tree import OutputFile
from tests.conftest import EXAMPLES, render_config, valid_cases


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("case", valid_cases(), ids=lambda p: p.name)
def test_two_renders_are_byte_identical(case: Path, tmp_path: Path) -> None:
    first = render_config(case / "cluster.yaml", tmp_path / "a")
    second = render_config(case / "cluster.yaml", tmp_path / "b")
    assert tree(first.root) == tree(second.root)


def test_output_has_no_timestamps(tmp_path: Path) -> None:
    rendered = render_config(EXAMPLES / "valid" / "runbook-single-control-plane" / "cluster.yaml", tmp_path)
    for rel, content in tree(rendered.root).items():
        assert b"2026-" not in content and b"2025-" not in content, rel


def test_failed_write_leaves_previous_output_untouched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "cluster.yaml"
    shutil.copy(EXAMPLES / "valid" / "runbook-single-control-plane" / "cluster.yaml", config)
    rendered = render_config(config, tmp_path)
    before = tree(rendered.root)

    def broken(*args: object, **kwargs: object) -> None:
        raise RenderError("simulated failure while rendering")

    monkeypatch.setattr(render, "render_cluster", broken)
    config.write_text(config.read_text(encoding="utf-8").replace("24h", "12h"), encoding="utf-8")
    with pytest.raises(RenderError):
        pipeline.render_cluster(config, out_dir=tmp_path / "out", secrets_path=tmp_path / "cluster.secrets.yaml")
    assert tree(rendered.root) == before


def test_write_tree_swaps_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "demo"
    write.write_tree({"a": OutputFile(b"1", 0o644)}, root)
    calls = {"n": 0}
    real_open = os.open

    def failing_open(path: str, flags: int, mode: int = 0o777, **kwargs: int) -> int:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(28, "No space left on device")
        fd: int = real_open(path, flags, mode, **kwargs)
        return fd

    monkeypatch.setattr(os, "open", failing_open)
    with pytest.raises(UserError, match="No space left"):
        write.write_tree({"a": OutputFile(b"2", 0o644), "b": OutputFile(b"3", 0o600)}, root)
    assert tree(root) == {"a": b"1"}
    assert [p.name for p in tmp_path.iterdir()] == ["demo"]  # no staging leftovers
