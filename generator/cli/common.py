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
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from typer.core import TyperCommand

from generator.errors import ConfigInvalid, DriftFound, KgenError, one_line
from generator.reporters import err

P = ParamSpec("P")
R = TypeVar("R")
F = TypeVar("F", bound=Callable[..., Any])


class KgenCommand(TyperCommand):
    """A command whose help names arguments by their metavar alone: ``CONFIG`` and ``[PATH]`` in the
    usage line and the Arguments list, not typer's ``{CONFIG}`` and ``CONFIG <path>`` (a Python type)."""

    # typer vendors click (typer._click), so parameters are told apart by param_type_name, as typer does.
    @staticmethod
    def _argument_name(param: Any) -> str:
        name = param.metavar or (param.name or "").upper()
        return name + ("..." if param.nargs != 1 else "")

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                name = self._argument_name(param)
                pieces.append(name if param.required else f"[{name}]")
        return pieces

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        """An unknown option: ``No such option: --dry-rn. Did you mean --dry-run?`` when click found a
        close match (difflib), and no suggestion otherwise; hidden (deprecated) options are never
        suggested."""
        try:
            return list(super().parse_args(ctx, args))
        except Exception as exc:
            close = getattr(exc, "possibilities", None)  # only click's NoSuchOption has them
            if close is None:
                raise
            hidden = {opt for param in self.params if getattr(param, "hidden", False) for opt in param.opts}
            shown = sorted(set(close) - hidden)
            exc.possibilities = None  # type: ignore[attr-defined]
            if shown:
                exc.message = f"{exc.message}. Did you mean {' or '.join(shown)}?"  # type: ignore[attr-defined]
            raise

    def format_options(self, ctx: Any, formatter: Any) -> None:
        arguments, options = [], []
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if param.param_type_name == "argument":
                arguments.append((self._argument_name(param), record[1]))
            else:
                options.append(record)
        for title, rows in (("Arguments", arguments), ("Options", options)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


class KgenTyper(typer.Typer):
    """Every command (and sub-command) of this app is a :class:`KgenCommand`."""

    def command(self, name: str | None = None, **kwargs: Any) -> Callable[[F], F]:
        kwargs.setdefault("cls", KgenCommand)
        return super().command(name, **kwargs)


app = KgenTyper(
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
