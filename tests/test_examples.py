"""Data-driven examples: every folder under examples/valid must validate and render; every folder
under examples/invalid must fail with the message in its expected-error.txt, located by line and
key path. Adding a folder adds a test."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from generator.api import check_config
from generator.cli import app
from generator.errors import ConfigInvalid
from tests.conftest import Rendered, invalid_cases, valid_cases

runner = CliRunner()
LINE = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+)(:\d+)?: (?P<rest>.*)$")


@pytest.mark.parametrize("case", valid_cases(), ids=lambda p: p.name)
def test_valid_example_has_no_errors(case: Path) -> None:
    problems = check_config(case / "cluster.yaml")
    assert [p for p in problems if p.severity == "error"] == []


@pytest.mark.parametrize("case", valid_cases(), ids=lambda p: p.name)
def test_valid_example_renders_every_node(case: Path, rendered_valid: dict[str, Rendered]) -> None:
    rendered = rendered_valid[case.name]
    names = [n.name for n in rendered.result.nodes]
    assert names, "a cluster renders at least one node"
    for name in names:
        node_dir = rendered.root / "nodes" / name
        assert (node_dir / "user-data").is_file()
        assert (node_dir / "meta-data").is_file()


def _problems(case: Path) -> list[dict[str, object]]:
    try:
        return [p.to_json() for p in check_config(case / "cluster.yaml")]
    except ConfigInvalid as exc:
        return [p.to_json() for p in exc.problems]


@pytest.mark.parametrize("case", invalid_cases(), ids=lambda p: p.name)
def test_invalid_example_reports_expected_error(case: Path) -> None:
    expected = (case / "expected-error.txt").read_text(encoding="utf-8").strip()
    problems = [p for p in _problems(case) if p["severity"] == "error"]
    rendered = [f"{p['path']}: {p['message']}" if p["path"] else str(p["message"]) for p in problems]
    assert any(r.startswith(expected) for r in rendered), f"expected {expected!r} among {rendered}"
    for problem in problems:
        assert isinstance(problem["line"], int) and problem["line"] >= 1, problem


@pytest.mark.parametrize("case", invalid_cases(), ids=lambda p: p.name)
def test_invalid_example_via_cli_exit_1_one_line_per_problem(case: Path) -> None:
    config = case / "cluster.yaml"
    result = runner.invoke(app, ["validate", str(config)])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines
    for line in lines:
        match = LINE.match(line)
        assert match, f"not FILE:LINE: ... -> {line!r}"
        assert match["file"] == str(config)
    json_result = runner.invoke(app, ["validate", "-o", "json", str(config)])
    assert json_result.exit_code == 1
    report = json.loads(json_result.output)
    assert report["valid"] is False
    assert len(report["problems"]) == len(lines)


@pytest.mark.parametrize("case", invalid_cases(), ids=lambda p: p.name)
def test_invalid_example_render_writes_nothing(case: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["render", str(case / "cluster.yaml"), "-d", str(out)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert not out.exists()
    assert not (case / "cluster.secrets.yaml").exists()
