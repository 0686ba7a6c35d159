"""The ``kgen`` command line: a thin shell over :mod:`generator.api`. It parses arguments, calls the API
and hands the results to a reporter (:mod:`generator.reporters`); it orchestrates nothing itself.

One module per command group: :mod:`~generator.cli.config` (init, validate, schema, render, token),
:mod:`~generator.cli.info` (versions, images, ports, join-command, kubeconfig, certs) and
:mod:`~generator.cli.runs` (bake, vm, restore, upgrade); :mod:`~generator.cli.common` holds the app,
the shared options and the one exit-code map.

Exit codes (:func:`exit_code_for`): 0 ok, 1 invalid input or user error, 2 usage, 3 drift found by
``render --check``. A user's mistake never shows a traceback. ``certs check`` exits 0 when every CA is
valid for more than the warning window and when one expires within it (the warning is printed, and is
``"status": "warning"`` in ``-o json``), and 1 when a CA has expired.

Start-up cost (issue 12: rendering the example costs at most 1.5x a bare import of kgen's
dependencies, ``bench/bench.py``). A command imports only what it calls: :mod:`generator.api` binds
each name on first use, so ``kgen render`` never imports the upgrade kit, the runners or the
information commands, and a command or reporter method may import a module inside its body when only
it needs that module. Such imports are for speed only, never to dodge an import cycle (import-linter
sees them and checks them as any other). The command modules do not use ``from __future__ import
annotations``: typer reads every command's parameters on every run, and string annotations would be
evaluated again each time (about two thirds of typer's set-up time)."""

from typing import Annotated

import typer

from generator import __version__
from generator.cli import config, info, runs
from generator.cli.common import app, exit_code_for, handle_errors

__all__ = ["app", "config", "exit_code_for", "handle_errors", "info", "run", "runs"]


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"kgen {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version_callback, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """kgen: one cluster.yaml in; per-node cloud-init user-data and Packer golden images out."""


def run() -> None:
    app()
