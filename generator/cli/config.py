"""The config commands: ``init``, ``validate``, ``schema``, ``render`` and ``token rotate``."""

# No `from __future__ import annotations` here: typer would evaluate every string annotation on each
# run (generator.cli, "Start-up cost").

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from generator import api
from generator.cli.common import (
    ConfigArg,
    KgenTyper,
    LegacyOutOpt,
    OutDirOpt,
    OutputOpt,
    QuietOpt,
    SecretsOpt,
    app,
    format_and_folder,
    handle_errors,
    output_format,
)
from generator.errors import EXIT_INVALID, ConfigInvalid, UserError
from generator.reporters import TextReporter, err, reporter_for
from generator.resources import schemas_dir


def _str_opt(flag: str, metavar: str, text: str) -> Any:
    return typer.Option(flag, metavar=metavar, help=text, show_default=False)


def _public_key(path: Path) -> str:
    """The one public key in ``path`` (an ``id_*.pub`` or a one-key authorized_keys file)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read --ssh-key {path}: {getattr(exc, 'strerror', None) or exc}") from None
    if "PRIVATE KEY" in text:  # never echoed
        raise UserError(f"--ssh-key {path} is a private key; pass the public one ({path}.pub)")
    keys = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if len(keys) != 1:
        raise UserError(f"--ssh-key {path} holds {len(keys)} keys; pass a file with one public key")
    return keys[0]


@app.command(short_help="Write a commented example cluster.yaml.")
@handle_errors
def init(
    path: Annotated[Path, typer.Argument(metavar="PATH", help="Where to write the example config.")] = Path(
        "cluster.yaml"
    ),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    name: Annotated[str | None, _str_opt("--name", "NAME", "metadata.name: the cluster's name.")] = None,
    endpoint: Annotated[
        str | None, _str_opt("--endpoint", "HOST:PORT", "Where nodes reach the API server (a VIP or DNS name for HA).")
    ] = None,
    kubernetes_version: Annotated[
        str | None, _str_opt("--kubernetes-version", "VERSION", "The Kubernetes patch version, e.g. 1.34.3.")
    ] = None,
    control_planes: Annotated[
        int | None,
        typer.Option(
            "--control-planes", metavar="N", min=1, help="Control-plane nodes (master-0...).", show_default=False
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", metavar="N", min=0, help="Worker nodes (worker-0...).", show_default=False),
    ] = None,
    os_name: Annotated[str | None, _str_opt("--os", "OS", "The nodes' OS, e.g. ubuntu-24.04 or rocky-9.")] = None,
    cni: Annotated[str | None, _str_opt("--cni", "PLUGIN", "calico, cilium, flannel or none.")] = None,
    runtime: Annotated[str | None, _str_opt("--runtime", "NAME", "containerd or cri-o.")] = None,
    image_mode: Annotated[str | None, _str_opt("--image-mode", "MODE", "install or golden.")] = None,
    ssh_key: Annotated[
        Path | None,
        typer.Option(
            "--ssh-key", metavar="FILE", help="A public key file (e.g. ~/.ssh/id_ed25519.pub) for the admin user."
        ),
    ] = None,
) -> None:
    """Write a commented example cluster.yaml (and its JSON Schema beside it, for editors).

    Flags fill in the common answers, as `talosctl gen config` and `clusterctl generate cluster` do; the
    comments stay. The result must pass `kgen validate`, or nothing is written."""
    answers = api.InitAnswers(
        name=name,
        endpoint=endpoint,
        kubernetes_version=kubernetes_version,
        control_planes=control_planes,
        workers=workers,
        os=os_name,
        cni=cni,
        runtime=runtime,
        image_mode=image_mode,
        ssh_key=_public_key(ssh_key) if ssh_key is not None else None,
    )
    TextReporter().written(api.write_example(path, force=force, answers=answers))
    err(f"next: edit {path}, then run `kgen validate {path}` and `kgen render {path}`")


@app.command(short_help="Check cluster configs and print every problem at once.")
@handle_errors
def validate(
    configs: Annotated[
        list[Path], typer.Argument(metavar="CONFIG", help="One or more cluster configs.", readable=False)
    ],
    output: OutputOpt = None,
) -> None:
    """Check cluster configs; print every problem at once as FILE:LINE: key.path: message.

    Exits 1 if any file has an error. With several files (as the pre-commit hook passes them), each is
    checked and reported; -o json takes one file."""
    fmt = output_format(output)
    if fmt == "json" and len(configs) > 1:
        raise typer.BadParameter("-o json takes one file", param_hint="CONFIG")
    failed = False
    for config in configs:
        try:
            problems = api.check_config(config)
        except ConfigInvalid as exc:  # unreadable or unparsable: the same report shape
            problems = exc.problems
        reporter_for(fmt).validated(config, problems)
        failed = failed or any(p.severity == "error" for p in problems)
    if failed:
        raise typer.Exit(EXIT_INVALID)


@app.command()
@handle_errors
def schema() -> None:
    """Print the cluster config's JSON Schema."""
    sys.stdout.write((schemas_dir() / "cluster.schema.json").read_text(encoding="utf-8"))


@app.command(short_help="Render every node's cloud-init user-data (and the rest) into DIR/<cluster>/.")
@handle_errors
def render(
    config: ConfigArg,
    out_dir: OutDirOpt = None,
    output: OutputOpt = None,
    secrets: SecretsOpt = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would be written, with sizes; write nothing.")
    ] = False,
    check: Annotated[
        bool, typer.Option("--check", help="Exit 3 if the files on disk differ from what would be rendered.")
    ] = False,
    diff: Annotated[
        bool,
        typer.Option("--diff", help="As --check, and print a unified diff (never a secret file's content)."),
    ] = False,
    quiet: QuietOpt = False,
    legacy_out: LegacyOutOpt = None,
) -> None:
    """Render per-node cloud-init user-data (and everything else) into DIR/<cluster>/.

    The first render creates the secrets bundle (CA keys, bootstrap token) beside the config."""
    fmt, folder = format_and_folder(output, out_dir, legacy_out, formats=("text", "json"))
    result = api.render_cluster(
        config, out_dir=folder, secrets_path=secrets, dry_run=dry_run, check=check or diff, diff=diff
    )
    reporter_for(fmt, quiet=quiet).rendered(result, check=check or diff)


token_app = KgenTyper(help="Manage the bootstrap token joining nodes use.", no_args_is_help=True)
app.add_typer(token_app, name="token")


@token_app.command("rotate", short_help="Write a new bootstrap token and re-render the join configs.")
@handle_errors
def token_rotate(
    config: ConfigArg,
    out_dir: OutDirOpt = None,
    output: OutputOpt = None,
    secrets: SecretsOpt = None,
    quiet: QuietOpt = False,
    legacy_out: LegacyOutOpt = None,
) -> None:
    """Write a new bootstrap token into the secrets bundle and re-render what uses it (join configs)."""
    fmt, folder = format_and_folder(output, out_dir, legacy_out, formats=("text", "json"))
    reporter_for(fmt, quiet=quiet).rotated(api.rotate_token(config, out_dir=folder, secrets_path=secrets))
