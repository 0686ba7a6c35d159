"""``--help`` of every command and sub-command: pinned as golden transcripts (tests/golden/help/), so a
summary cut mid-sentence or a Python type in a usage line shows up in review, and checked for the
leaks issue 13 found. Also shell completion and the unknown-option suggestion."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest
import typer
from typer.testing import CliRunner

from generator.cli import app
from tests.conftest import REPO
from tests.golden import check_golden, check_no_stale_golden

runner = CliRunner()
# A fixed width and no colours: the same transcript on every terminal.
ENV = {"COLUMNS": "100", "LINES": "50", "TERM": "dumb", "NO_COLOR": "1"}


def _command_paths() -> Iterator[tuple[str, ...]]:
    def walk(command: object, path: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
        yield path
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            yield from walk(sub, (*path, name))

    yield from walk(typer.main.get_command(app), ())


PATHS = list(_command_paths())


def _help(path: tuple[str, ...]) -> str:
    result = runner.invoke(app, [*path, "--help"], prog_name="kgen", env=ENV)
    assert result.exit_code == 0, result.output
    return result.stdout


def _golden_name(path: tuple[str, ...]) -> str:
    return f"help/{'-'.join(('kgen', *path))}.txt"


def test_every_command_has_a_help_golden() -> None:
    assert len(PATHS) > 15 and ("token", "rotate") in PATHS and ("certs", "check") in PATHS
    for path in PATHS:
        check_golden(_golden_name(path), _help(path).encode())
    check_no_stale_golden("help", {_golden_name(path) for path in PATHS})


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "kgen")
def test_help_has_no_type_leak_and_no_cut_summary(path: tuple[str, ...]) -> None:
    text = _help(path)
    for leak in ("<list[", "{config}", "{CONFIG}", "[Path]", "<path>", "<str>", "<int>", "<float>", "<bool>"):
        assert leak not in text, f"{' '.join(path)} --help shows {leak!r}"
    assert text.startswith(f"Usage: kgen {' '.join(path)}".rstrip())
    if "Commands:" in text:
        summaries = text.split("Commands:\n", 1)[1]
        # One summary per command, possibly wrapped; each a whole sentence ending in a period.
        entries = re.split(r"\n  (?=\S)", "\n" + summaries.rstrip("\n"))[1:]
        assert entries
        for entry in entries:
            name, _, summary = entry.partition("  ")
            summary = " ".join(summary.split())
            assert summary.endswith(".") and not summary.endswith("..."), f"{name}: {summary!r}"


@pytest.mark.parametrize(
    ("shell", "marker"), [("bash", "complete -o default -F _kgen_completion kgen"), ("zsh", "compdef")]
)
def test_show_completion_prints_a_script_for_the_shell_named(shell: str, marker: str) -> None:
    """typer's own completion (``--install-completion``/``--show-completion``). typer finds the user's
    shell with shellingham; with its detection off (typer's switch for that) the option takes the
    shell's name, so the test does not depend on the shell pytest runs under. A subprocess, because
    typer picks the option's form once per process."""
    env = {**os.environ, "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1", "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", "from generator.cli import app; app(prog_name='kgen')", "--show-completion", shell],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert marker in done.stdout and "_KGEN_COMPLETE=complete_" in done.stdout


def test_an_unknown_option_gets_a_suggestion_only_when_one_is_close() -> None:
    close = runner.invoke(app, ["render", "cluster.yaml", "--dry-rn"], prog_name="kgen", env=ENV)
    assert close.exit_code == 2
    assert "No such option: --dry-rn" in close.stderr and "Did you mean --dry-run?" in close.stderr
    far = runner.invoke(app, ["render", "cluster.yaml", "--zzzz"], prog_name="kgen", env=ENV)
    assert far.exit_code == 2 and "No such option: --zzzz" in far.stderr
    assert "Did you mean" not in far.stderr and "Possible options" not in far.stderr
    # A deprecated (hidden) spelling is never suggested.
    hidden = runner.invoke(app, ["render", "cluster.yaml", "--ou"], prog_name="kgen", env=ENV)
    assert hidden.exit_code == 2 and "--out " not in hidden.stderr and "--out?" not in hidden.stderr
