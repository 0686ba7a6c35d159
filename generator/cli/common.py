"""What every ``kgen`` command shares: the typer app, the one exit-code map, and the options several
commands declare (the config argument, the output folder, the output format, ``--quiet``).

One meaning per flag, as in kubectl: ``-o/--output`` is the output FORMAT (text, json); the output
folder is ``-d/--out-dir``. Until the next release the old folder spellings still work with one
deprecation line on stderr: ``--out DIR``, and ``-o DIR`` where DIR is not a format name (``-o json``
is always the format; a folder named ``json`` needs ``-d json``)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, ParamSpec, TypeVar

import typer

from generator.errors import ConfigInvalid, DriftFound, KgenError, one_line
from generator.reporters import err

P = ParamSpec("P")
R = TypeVar("R")

app = typer.Typer(
    name="kgen",
    help="Render validated cloud-init user-data and Packer golden images for kubeadm clusters from one cluster.yaml.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # never put keys or tokens into a trace
    rich_markup_mode=None,
)

FORMATS = ("text", "json")  # every output format some command offers
DEFAULT_OUT_DIR = Path("out")

# Arguments and options several commands share, declared once.
ConfigArg = Annotated[Path, typer.Argument(metavar="CONFIG", help="The cluster config.", readable=False)]
SecretsOpt = Annotated[
    Path | None,
    typer.Option(
        "--secrets",
        metavar="FILE",
        help="Secrets bundle (default: <config-stem>.secrets.yaml beside the config).",
        readable=False,
    ),
]
OutDirOpt = Annotated[
    Path | None,
    typer.Option(
        "-d", "--out-dir", metavar="DIR", help="Output folder; the cluster goes to DIR/<cluster>/ [default: out]."
    ),
]
LegacyOutOpt = Annotated[Path | None, typer.Option("--out", metavar="DIR", hidden=True)]
OutputOpt = Annotated[
    str | None, typer.Option("-o", "--output", metavar="FORMAT", help="text or json [default: text].")
]
# For commands without a format choice: only the deprecated -o DIR is left, hidden.
LegacyOutputOpt = Annotated[str | None, typer.Option("-o", "--output", metavar="FORMAT", hidden=True)]
QuietOpt = Annotated[bool, typer.Option("-q", "--quiet", help="Leave out the per-file verbs (create, update...).")]


def exit_code_for(exc: KgenError) -> int:
    return exc.exit_code


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """The one place that turns kgen's exceptions into messages and exit codes."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except ConfigInvalid as exc:
            for problem in exc.problems:
                err(str(problem))
            raise typer.Exit(exit_code_for(exc)) from None
        except DriftFound as exc:  # the diff (--diff) on stdout, one line per differing file on stderr
            if exc.diff:
                typer.echo(exc.diff, nl=False)
            err("kgen: " + "\n".join(one_line(line) for line in str(exc).split("\n")))
            raise typer.Exit(exit_code_for(exc)) from None
        except KgenError as exc:
            err(f"kgen: {one_line(str(exc))}")
            raise typer.Exit(exit_code_for(exc)) from None

    return wrapper


def deprecated(old: str, new: str) -> None:
    err(f"kgen: warning: {old} is deprecated and goes away in the next release; use {new}")


def format_and_folder(
    output: str | None,
    out_dir: Path | None,
    legacy_out: Path | None = None,
    *,
    formats: Sequence[str] = ("text",),
) -> tuple[str, Path]:
    """The output format and folder from ``-o``, ``-d`` and the deprecated ``--out``/``-o DIR``."""
    fmt = "text"
    folders: list[Path] = [p for p in (out_dir, legacy_out) if p is not None]
    if legacy_out is not None:
        deprecated("--out DIR", "-d/--out-dir DIR")
    if output is not None:
        if output in formats:
            fmt = output
        elif output in FORMATS:
            offered = ", ".join(formats) if formats else "none"
            raise typer.BadParameter(f"{output!r}: this command's formats: {offered}", param_hint="'-o' / '--output'")
        else:
            deprecated("-o DIR for the output folder", "-d/--out-dir DIR (-o is the output format now)")
            folders.append(Path(output))
    if len(folders) > 1:
        raise typer.BadParameter("give the output folder once, with -d/--out-dir", param_hint="'-d' / '--out-dir'")
    return fmt, folders[0] if folders else DEFAULT_OUT_DIR


def output_format(output: str | None, formats: Sequence[str] = ("text", "json")) -> str:
    """The ``-o`` format of a command that writes no folder."""
    if output is None:
        return "text"
    if output not in formats:
        raise typer.BadParameter(f"{output!r} is not one of {', '.join(formats)}", param_hint="'-o' / '--output'")
    return output
