"""YAML syntax errors are reported where the cause is (file:line:col), not where the parser gave up:
an unclosed quote at its opening quote, a line without ':' at that line; with hints for a tab and
for a version YAML reads as a number."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from generator.cli import app
from tests.conftest import EXAMPLES

runner = CliRunner()


@pytest.mark.parametrize(
    ("case", "where", "message"),
    [
        # the quote opens at `ttl: "24h` (line 15, column 10); the file ends at line 27
        ("unclosed-quote", "15:10", 'invalid YAML: a quoted value starts here and its closing " is missing'),
        # closed by the first quote of `"master-0"` on line 22, where the parser fails
        ("unclosed-quote-closed-later", "16:10", "invalid YAML: the quoted value that starts here runs on to line 22"),
        ("missing-colon", "11:3", "invalid YAML: this line has no ':'"),
        ("tab-indent", "25:1", "invalid YAML: found a tab character that violates indentation; YAML indents with"),
    ],
)
def test_syntax_error_points_at_the_cause(case: str, where: str, message: str) -> None:
    config = EXAMPLES / "invalid" / case / "cluster.yaml"
    result = runner.invoke(app, ["validate", str(config)])
    assert result.exit_code == 1
    assert result.output.startswith(f"{config}:{where}: {message}"), result.output


def test_unclosed_quote_far_from_the_end_is_reported_at_its_line(tmp_path: Path) -> None:
    """The report of issue 13: an unclosed quote on line 24 of a 66-line file was reported at line 66."""
    lines = [f"key{i}: value{i}" for i in range(1, 67)]
    lines[23] = 'key24: "unclosed'
    config = tmp_path / "cluster.yaml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["validate", str(config)])
    assert result.exit_code == 1
    assert result.output.startswith(f"{config}:24:8: invalid YAML: a quoted value starts here"), result.output


def test_unquoted_version_says_quote_it() -> None:
    config = EXAMPLES / "invalid" / "unquoted-version-float" / "cluster.yaml"
    result = runner.invoke(app, ["validate", str(config)])
    assert result.exit_code == 1
    assert f"{config}:8:14: spec.kubernetes.version: YAML 1.1 reads '1.30' as the number 1.3; quote the version" in (
        result.output
    )
