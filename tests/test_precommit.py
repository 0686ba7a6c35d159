"""The pre-commit hook kgen offers (.pre-commit-hooks.yaml): its file pattern picks cluster configs and
never a secrets bundle, and its entry, run as pre-commit runs it (the entry, then the staged files),
passes a valid config and fails on an invalid one with the problem's line."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from generator.cli import app
from tests.conftest import EXAMPLES, REPO, parse_yaml

runner = CliRunner()


def _hook() -> dict[str, Any]:
    hooks = parse_yaml((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    [hook] = [h for h in hooks if h["id"] == "kgen-validate"]
    hook_: dict[str, Any] = hook
    return hook_


def _selected(hook: dict[str, Any], path: str) -> bool:
    # pre-commit: `files` and `exclude` are Python regexes searched in the repository-relative path.
    return bool(re.search(hook["files"], path)) and not re.search(hook["exclude"], path)


def test_hook_is_declared_as_pre_commit_expects() -> None:
    hook = _hook()
    assert hook["language"] == "python" and hook["pass_filenames"] is True
    assert shlex.split(hook["entry"]) == ["kgen", "validate"]
    for path in ("cluster.yaml", "cluster.yml", "envs/prod/cluster.yaml", "cluster-prod.yaml"):
        assert _selected(hook, path), path
    for path in ("cluster.secrets.yaml", "envs/prod/cluster-prod.secrets.yml", "mycluster.yaml", "cluster.schema.json"):
        assert not _selected(hook, path), path


def test_hook_entry_passes_valid_files_and_fails_invalid_ones(tmp_path: Path) -> None:
    entry = shlex.split(_hook()["entry"])
    valid = [tmp_path / "a" / "cluster.yaml", tmp_path / "b" / "cluster-prod.yaml"]
    for target, name in zip(valid, ("runbook-single-control-plane", "ha-three-control-planes"), strict=True):
        target.parent.mkdir()
        shutil.copy(EXAMPLES / "valid" / name / "cluster.yaml", target)
    ok = runner.invoke(app, [*entry[1:], *map(str, valid)])
    assert ok.exit_code == 0, ok.output
    assert [line.endswith(": valid") for line in ok.stdout.splitlines()] == [True, True]

    case = EXAMPLES / "invalid" / "bad-role"
    invalid = tmp_path / "c" / "cluster.yaml"
    invalid.parent.mkdir()
    shutil.copy(case / "cluster.yaml", invalid)
    bad = runner.invoke(app, [*entry[1:], *map(str, valid), str(invalid)])
    assert bad.exit_code == 1
    expected = (case / "expected-error.txt").read_text(encoding="utf-8").strip()
    assert expected in bad.output  # the problem, as the data-driven example pins it
    assert bad.stdout.count(": valid") == 2  # the valid files are still reported
