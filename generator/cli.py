"""The ``kgen`` command line: a thin shell over :mod:`generator.pipeline`.

Exit codes (one map, :func:`exit_code_for`): 0 ok, 1 invalid input or user error, 2 usage,
3 drift found by ``render --check``. A user's mistake never shows a traceback."""

from __future__ import annotations

import functools
import json
import sys
import tempfile
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Annotated, Literal, ParamSpec, TypeVar

import typer

from generator import __version__, packer, pipeline, vm
from generator.emit.cloudinit import NOVA_USER_DATA_LIMIT
from generator.errors import (
    EXIT_INVALID,
    ConfigInvalid,
    DriftFound,
    KgenError,
    Problem,
    UserError,
    display_file,
    one_line,
)
from generator.resources import schemas_dir

P = ParamSpec("P")
R = TypeVar("R")

app = typer.Typer(
    name="kgen",
    help="Render validated cloud-init user-data and Packer golden images for kubeadm clusters from one cluster.yaml.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # never put keys or tokens into a trace
    rich_markup_mode=None,
)


class OutputFormat(str, Enum):
    text = "text"
    json = "json"


def err(message: str) -> None:
    typer.echo(message, err=True)


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
        except DriftFound as exc:  # one line per differing file
            err("kgen: " + "\n".join(one_line(line) for line in str(exc).split("\n")))
            raise typer.Exit(exit_code_for(exc)) from None
        except KgenError as exc:
            err(f"kgen: {one_line(str(exc))}")
            raise typer.Exit(exit_code_for(exc)) from None

    return wrapper


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


def _human(size: int) -> str:
    return f"{size} B" if size < 1024 else f"{size / 1024:.1f} KiB"


@app.command()
@handle_errors
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the example config.")] = Path("cluster.yaml"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented example cluster.yaml (and its JSON Schema beside it, for editors)."""
    for verb, written in pipeline.write_example(path, force=force):
        err(f"{verb}  {written}")
    err(f"next: edit {path}, then run `kgen validate {path}` and `kgen render {path}`")


@app.command()
@handle_errors
def validate(
    config: Annotated[Path, typer.Argument(help="The cluster config.", readable=False)],
    output: Annotated[OutputFormat, typer.Option("-o", "--output", help="text or json.")] = OutputFormat.text,
) -> None:
    """Check a cluster config; print every problem at once as FILE:LINE: key.path: message."""
    try:
        problems = pipeline.check_config(config)
    except ConfigInvalid as exc:  # unreadable or unparsable: the same report shape
        problems = exc.problems
    errors = [p for p in problems if p.severity == "error"]
    if output is OutputFormat.json:
        typer.echo(
            json.dumps(
                {"file": str(config), "valid": not errors, "problems": [p.to_json() for p in problems]}, indent=2
            )
        )
    else:
        for problem in problems:
            typer.echo(str(problem))
        if not errors:
            typer.echo(f"{display_file(str(config))}: valid" + (f" ({len(problems)} warning(s))" if problems else ""))
    if errors:
        raise typer.Exit(EXIT_INVALID)


def _print_warnings(warnings: list[Problem]) -> None:
    for warning in warnings:
        err(str(warning))


@app.command()
@handle_errors
def render(
    config: Annotated[Path, typer.Argument(help="The cluster config.", readable=False)],
    out: Annotated[Path, typer.Option("-o", "--out", help="Output folder; the cluster goes to OUT/<name>/.")] = Path(
        "out"
    ),
    secrets: Annotated[
        Path | None,
        typer.Option(
            "--secrets", help="Secrets bundle (default: <config-stem>.secrets.yaml beside the config).", readable=False
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would be written, with sizes; write nothing.")
    ] = False,
    check: Annotated[
        bool, typer.Option("--check", help="Exit 3 if the files on disk differ from what would be rendered.")
    ] = False,
) -> None:
    """Render per-node cloud-init user-data (and everything else) into OUT/<cluster>/."""

    result = pipeline.render_cluster(config, out_dir=out, secrets_path=secrets, dry_run=dry_run, check=check)
    _report(result, check=check)


def _report(result: pipeline.RenderResult, *, check: bool = False) -> None:
    """Status verbs for every file, then a per-node summary with sizes and the token's lifetime."""
    _print_warnings(result.warnings)
    if result.secrets_created:
        what = "new secrets bundle, mode 0600: cluster CA keys and bootstrap token; keep it safe"
        err(f"create  {result.secrets_path} ({what})")
    for change in result.changes:
        verb = f"would {change.status}" if result.dry_run else change.status
        size = f" ({_human(change.size)})" if change.status != "remove" else ""
        err(f"{verb:>16}  {change.path}{size}")
    if check:
        err(f"{result.out_dir} is up to date")
        return
    err("")
    err(
        f"{'node':<24} {'role':<14} {'action':<19} {'user-data':>10} {'base64':>8}  (Nova limit {NOVA_USER_DATA_LIMIT})"
    )
    for node in result.nodes:
        gz = ", gzipped" if node.gzipped else ""
        keys = "  holds CA keys" if node.holds_private_keys else ""
        err(
            f"{node.name:<24} {node.role:<14} {node.action:<19} {node.user_data_bytes:>10} "
            f"{node.user_data_base64_bytes:>8}{gz}{keys}"
        )
    if result.token is not None:
        err(f"bootstrap token {result.token.token_id}.****: {result.token.expiry()}")


token_app = typer.Typer(help="Manage the bootstrap token joining nodes use.", no_args_is_help=True)
app.add_typer(token_app, name="token")


@token_app.command("rotate")
@handle_errors
def token_rotate(
    config: Annotated[Path, typer.Argument(help="The cluster config.", readable=False)],
    out: Annotated[Path, typer.Option("-o", "--out", help="Output folder, as for render.")] = Path("out"),
    secrets: Annotated[Path | None, typer.Option("--secrets", help="Secrets bundle.", readable=False)] = None,
) -> None:
    """Write a new bootstrap token into the secrets bundle and re-render what uses it (join configs)."""
    rotation = pipeline.rotate_token(config, out_dir=out, secrets_path=secrets)
    err(f"update  {rotation.render.secrets_path} (new bootstrap token for joining nodes)")
    _report(rotation.render)
    err("")
    err("kgen has no access to your cluster, so it cannot register the token. On a control-plane node run:")
    typer.echo(rotation.register_command)


class Accel(str, Enum):
    auto = "auto"
    kvm = "kvm"
    tcg = "tcg"


class BakeOnly(str, Enum):
    openstack = "openstack"
    qemu = "qemu"


@app.command()
@handle_errors
def bake(
    config: Annotated[Path, typer.Argument(help="The cluster config.", readable=False)],
    only: Annotated[BakeOnly | None, typer.Option("--only", help="Bake with one source only.")] = None,
    var_file: Annotated[
        list[Path] | None,
        typer.Option("--var-file", help="A *.pkrvars.hcl file with your site's settings (repeatable).", readable=False),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the exact commands; run nothing.")] = False,
    accel: Annotated[
        Accel, typer.Option("--accel", help="qemu accelerator: kvm, tcg, or auto (KVM when it boots Linux here).")
    ] = Accel.auto,
    out: Annotated[Path, typer.Option("-o", "--out", help="Output folder, as for render.")] = Path("out"),
    secrets: Annotated[Path | None, typer.Option("--secrets", help="Secrets bundle.", readable=False)] = None,
) -> None:
    """Render, then run `packer init` and `packer build` on OUT/<cluster>/packer to bake a golden image."""
    result = pipeline.render_cluster(config, out_dir=out, secrets_path=secrets, dry_run=dry_run)
    _print_warnings(result.warnings)
    which: packer.Only | None = "qemu" if only is BakeOnly.qemu else "openstack" if only is BakeOnly.openstack else None
    chosen: Literal["kvm", "tcg"] | None = "kvm" if accel is Accel.kvm else "tcg" if accel is Accel.tcg else None
    if dry_run:  # the project is not on disk in a dry run, so print the commands instead of running them
        commands = packer.bake_commands(
            result.out_dir, only=which, var_files=var_file or [], accelerator=chosen, say=err
        )
        typer.echo(packer.format_commands(commands), nl=False)
        return
    baked = packer.bake(result.out_dir, only=which, var_files=var_file or [], accelerator=chosen, echo=err)
    if baked.manifest:
        typer.echo(f"packer manifest (image IDs and names): {baked.manifest}")


class VmNetwork(str, Enum):
    none = "none"
    user = "user"


@app.command("vm")
@handle_errors
def vm_command(
    config: Annotated[Path, typer.Argument(help="The cluster config.", readable=False)],
    node: Annotated[str, typer.Argument(help="The node to boot, e.g. master-0.")],
    image: Annotated[Path, typer.Option("--image", help="Base disk: a qcow2 or raw cloud image (left untouched).")],
    accel: Annotated[Accel, typer.Option("--accel", help="kvm, tcg, or auto (KVM when it works).")] = Accel.auto,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds before giving up on the guest.")] = 900.0,
    keep: Annotated[bool, typer.Option("--keep", help="Keep the VM's disk (a qcow2 overlay) for inspection.")] = False,
    kernel: Annotated[
        Path | None, typer.Option("--kernel", help="Boot this kernel directly (images without a bootloader).")
    ] = None,
    initrd: Annotated[Path | None, typer.Option("--initrd", help="The initrd for --kernel.")] = None,
    append: Annotated[str | None, typer.Option("--append", help="Kernel command line for --kernel.")] = None,
    memory: Annotated[int, typer.Option("--memory", help="Guest memory in MiB.")] = 2048,
    cpus: Annotated[int, typer.Option("--cpus", help="Guest CPUs.")] = 2,
    workdir: Annotated[
        Path | None, typer.Option("--workdir", help="Where the overlay, seed and serial log go.")
    ] = None,
    network: Annotated[
        VmNetwork,
        typer.Option("--network", help="none (default): no network at all; user: qemu's NAT, for install mode."),
    ] = VmNetwork.none,
    out: Annotated[Path, typer.Option("-o", "--out", help="Output folder, as for render.")] = Path("out"),
    secrets: Annotated[Path | None, typer.Option("--secrets", help="Secrets bundle.", readable=False)] = None,
) -> None:
    """Boot one rendered node locally in qemu with its NoCloud seed, with no outside network, and report
    cloud-init's result, the bootstrap marker and the end of the bootstrap log."""
    result = pipeline.render_cluster(config, out_dir=out, secrets_path=secrets)
    _print_warnings(result.warnings)
    names = [n.name for n in result.nodes]
    if node not in names:
        raise UserError(f"cluster {result.cluster!r} has no node {node!r}; its nodes are: {', '.join(names)}")
    node_dir = result.out_dir / "nodes" / node
    err(f"rendered {node_dir}")
    work = workdir or Path(tempfile.mkdtemp(prefix=f"kgen-vm-{node}-"))
    work.mkdir(parents=True, exist_ok=True)
    run = vm.run_vm(
        user_data=node_dir / "user-data",
        meta_data=node_dir / "meta-data",
        image=image,
        workdir=work,
        accel=accel.value,
        timeout=timeout,
        keep=keep,
        kernel=kernel,
        initrd=initrd,
        append=append,
        memory_mb=memory,
        cpus=cpus,
        network=network.value,
        progress=lambda line: err(f"  [vm] {line}"),
    )
    report = run.report
    typer.echo(f"serial log: {run.serial_log}")
    if run.disk is not None:
        typer.echo(f"kept disk: {run.disk}")
    if report is None:
        typer.echo("no report from the guest" + (f" within {timeout:.0f}s" if run.timed_out else ""))
        raise typer.Exit(EXIT_INVALID)
    typer.echo(f"cloud-init status: {report.cloud_init_status}")
    for error in report.cloud_init_errors:
        typer.echo(f"cloud-init error: {error}")
    if report.success_marker:
        typer.echo(f"success marker: {report.success_marker.strip()}")
    if report.failure_marker:
        typer.echo("failure marker:\n" + report.failure_marker.rstrip())
    if report.bootstrap_log_tail:
        typer.echo("last lines of /var/log/kgen-bootstrap.log:")
        for line in report.bootstrap_log_tail[-15:]:
            typer.echo(f"  {line}")
    typer.echo(f"{'ok' if run.ok else 'FAILED'} after {run.seconds:.0f}s")
    if not run.ok:
        raise typer.Exit(EXIT_INVALID)


@app.command("join-command")
@handle_errors
def join_command(
    config: Annotated[Path, typer.Argument(help="The cluster config.", readable=False)],
    secrets: Annotated[Path | None, typer.Option("--secrets", help="Secrets bundle.", readable=False)] = None,
) -> None:
    """Print `kubeadm join <endpoint> --token … --discovery-token-ca-cert-hash sha256:…` for adding a node by hand."""
    typer.echo(pipeline.join_command(config, secrets_path=secrets))


@app.command()
@handle_errors
def schema() -> None:
    """Print the cluster config's JSON Schema."""
    sys.stdout.write((schemas_dir() / "cluster.schema.json").read_text(encoding="utf-8"))


def run() -> None:
    app()
