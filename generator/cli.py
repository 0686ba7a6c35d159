"""The ``kgen`` command line: a thin shell over :mod:`generator.api`. It parses arguments, calls the API
and hands the results to a reporter (:mod:`generator.reporters`); it orchestrates nothing itself.

Exit codes (one map, :func:`exit_code_for`): 0 ok, 1 invalid input or user error, 2 usage,
3 drift found by ``render --check``. A user's mistake never shows a traceback. ``certs check`` exits 0
when every CA is valid for more than the warning window and when one expires within it (the
warning is printed, and is ``"status": "warning"`` in ``-o json``), and 1 when a CA has expired."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Annotated, Literal, ParamSpec, TypeVar

import typer

from generator import __version__, api, kubeconfig
from generator.errors import EXIT_INVALID, ConfigInvalid, DriftFound, KgenError, one_line
from generator.reporters import TextReporter, err, reporter_for
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


# Arguments and options several commands share, declared once.
ConfigArg = Annotated[Path, typer.Argument(help="The cluster config.", readable=False)]
OutOpt = Annotated[Path, typer.Option("-o", "--out", help="Output folder, as for render.")]
SecretsOpt = Annotated[Path | None, typer.Option("--secrets", help="Secrets bundle.", readable=False)]


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


@app.command()
@handle_errors
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the example config.")] = Path("cluster.yaml"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented example cluster.yaml (and its JSON Schema beside it, for editors)."""
    TextReporter().written(api.write_example(path, force=force))
    err(f"next: edit {path}, then run `kgen validate {path}` and `kgen render {path}`")


@app.command()
@handle_errors
def validate(
    config: ConfigArg,
    output: Annotated[OutputFormat, typer.Option("-o", "--output", help="text or json.")] = OutputFormat.text,
) -> None:
    """Check a cluster config; print every problem at once as FILE:LINE: key.path: message."""
    try:
        problems = api.check_config(config)
    except ConfigInvalid as exc:  # unreadable or unparsable: the same report shape
        problems = exc.problems
    reporter_for(output.value).validated(config, problems)
    if any(p.severity == "error" for p in problems):
        raise typer.Exit(EXIT_INVALID)


@app.command()
@handle_errors
def render(
    config: ConfigArg,
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
    result = api.render_cluster(config, out_dir=out, secrets_path=secrets, dry_run=dry_run, check=check)
    TextReporter().rendered(result, check=check)


token_app = typer.Typer(help="Manage the bootstrap token joining nodes use.", no_args_is_help=True)
app.add_typer(token_app, name="token")


@token_app.command("rotate")
@handle_errors
def token_rotate(config: ConfigArg, out: OutOpt = Path("out"), secrets: SecretsOpt = None) -> None:
    """Write a new bootstrap token into the secrets bundle and re-render what uses it (join configs)."""
    TextReporter().rotated(api.rotate_token(config, out_dir=out, secrets_path=secrets))


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
    config: ConfigArg,
    only: Annotated[BakeOnly | None, typer.Option("--only", help="Bake with one source only.")] = None,
    var_file: Annotated[
        list[Path] | None,
        typer.Option("--var-file", help="A *.pkrvars.hcl file with your site's settings (repeatable).", readable=False),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the exact commands; run nothing.")] = False,
    accel: Annotated[
        Accel, typer.Option("--accel", help="qemu accelerator: kvm, tcg, or auto (KVM when it boots Linux here).")
    ] = Accel.auto,
    out: OutOpt = Path("out"),
    secrets: SecretsOpt = None,
) -> None:
    """Render, then run `packer init` and `packer build` on OUT/<cluster>/packer to bake a golden image."""
    reporter = TextReporter()
    which: Literal["openstack", "qemu"] | None = (
        "qemu" if only is BakeOnly.qemu else "openstack" if only is BakeOnly.openstack else None
    )
    chosen: Literal["kvm", "tcg"] | None = "kvm" if accel is Accel.kvm else "tcg" if accel is Accel.tcg else None
    outcome = api.bake(
        config,
        out_dir=out,
        secrets_path=secrets,
        only=which,
        var_files=var_file or [],
        accelerator=chosen,
        dry_run=dry_run,
        listener=reporter,
    )
    reporter.baked(outcome)


class VmNetwork(str, Enum):
    none = "none"
    user = "user"


@app.command("vm")
@handle_errors
def vm_command(
    config: ConfigArg,
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
    out: OutOpt = Path("out"),
    secrets: SecretsOpt = None,
) -> None:
    """Boot one rendered node locally in qemu with its NoCloud seed, with no outside network, and report
    cloud-init's result, the bootstrap marker and the end of the bootstrap log."""
    reporter = TextReporter()
    outcome = api.vm(
        config,
        node,
        image=image,
        out_dir=out,
        secrets_path=secrets,
        workdir=workdir,
        accel=accel.value,
        timeout=timeout,
        keep=keep,
        kernel=kernel,
        initrd=initrd,
        append=append,
        memory_mb=memory,
        cpus=cpus,
        network=network.value,
        listener=reporter,
    )
    reporter.booted(outcome)
    if not outcome.ok:
        raise typer.Exit(EXIT_INVALID)


# --- hook (issue 14): kgen restore --------------------------------------------------------------------
@app.command()
@handle_errors
def restore(
    config: ConfigArg,
    snapshot: Annotated[
        str,
        typer.Option(
            "--snapshot",
            help="The etcd snapshot: an https URL (a Swift temp URL) or an absolute path on the node (a volume).",
        ),
    ],
    sha256: Annotated[
        str | None, typer.Option("--sha256", help="The snapshot's sha256; the node refuses any other file.")
    ] = None,
    out: Annotated[
        Path, typer.Option("-o", "--out", help="Output folder; restore mode goes to OUT/<cluster>.restore/<node>/.")
    ] = Path("out"),
    secrets: SecretsOpt = None,
) -> None:
    """Render the first control-plane node's user-data in restore mode: its first boot restores etcd from
    SNAPSHOT, then runs kubeadm init with the cluster's CAs (every rendered join still matches)."""
    result = api.restore(config, snapshot=snapshot, sha256=sha256, out_dir=out, secrets_path=secrets)
    TextReporter().restored(result, sha256_given=sha256 is not None)


@app.command("join-command")
@handle_errors
def join_command(
    config: ConfigArg,
    secrets: SecretsOpt = None,
    control_plane: Annotated[
        bool,
        typer.Option("--control-plane", help="For a control-plane node: adds --control-plane; says what PKI it needs."),
    ] = False,
) -> None:
    """Print `kubeadm join <endpoint> --token … --discovery-token-ca-cert-hash sha256:…` for adding a node by hand."""
    joined = api.join(config, secrets_path=secrets, control_plane=control_plane)
    typer.echo(joined.command)
    if joined.note:
        err(f"note: {joined.note}")


# --- hook (issue 13, info commands): versions, images, ports ------------------------------------------

OutputOpt = Annotated[OutputFormat, typer.Option("-o", "--output", help="text or json.")]


@app.command()
@handle_errors
def versions(output: OutputOpt = OutputFormat.text) -> None:
    """List the supported Kubernetes versions and what kgen pins for each (kubeadm API, images, runtimes, CNIs)."""
    reporter_for(output.value).versions_listed(api.versions())


@app.command()
@handle_errors
def images(
    config: ConfigArg,
    output: OutputOpt = OutputFormat.text,
    mirror_script: Annotated[
        str | None,
        typer.Option(
            "--mirror-script",
            metavar="REGISTRY",
            help="Print a bash script of `skopeo copy` commands that fills REGISTRY with these images instead.",
        ),
    ] = None,
) -> None:
    """List every container image the cluster's first boots pull (kubeadm's, the CNI's, add-ons'), to mirror."""
    if mirror_script is not None:
        typer.echo(api.mirror_script(config, mirror_script), nl=False)
        return
    reporter = reporter_for(output.value)
    reporter.images_listed(api.images(config, listener=reporter))


@app.command()
@handle_errors
def ports(config: ConfigArg, output: OutputOpt = OutputFormat.text) -> None:
    """List the inbound ports each node role needs (Kubernetes' and the CNI's), as the nodes' firewall opens them."""
    reporter = reporter_for(output.value)
    reporter.ports_listed(api.ports(config, listener=reporter))


# --- hook (issue 14, upgrades): `kgen upgrade` -------------------------------------------------------


@app.command()
@handle_errors
def upgrade(
    config: Annotated[
        Path, typer.Argument(help="The cluster config, with the new spec.kubernetes.version.", readable=False)
    ],
    out: OutOpt = Path("out"),
    from_version: Annotated[
        str | None,
        typer.Option(
            "--from", help="The version the cluster runs (default: kubernetesVersion in OUT/<cluster>/nodes.json)."
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would be written; write nothing.")] = False,
) -> None:
    """Render the upgrade kit OUT/<cluster>/upgrade/<from>-to-<to>/: per-node scripts and upgrade.sh, which
    upgrades the running cluster over SSH in kubeadm's order."""
    result = api.upgrade(config, out_dir=out, from_version=from_version, dry_run=dry_run)
    TextReporter().upgraded(result, config)


# --- hook (issue 13): `kgen kubeconfig` ------------------------------------------------------------------


@app.command("kubeconfig")
@handle_errors
def kubeconfig_command(
    config: ConfigArg,
    output: Annotated[
        str | None,
        typer.Option(
            "-o",
            "--output",
            metavar="FILE",
            help="Where to write it (mode 0600); - prints it. Default: ./<cluster>.kubeconfig.",
        ),
    ] = None,
    user: Annotated[
        str, typer.Option("--user", metavar="NAME", help="The certificate's CN: the user name RBAC and audit logs see.")
    ] = kubeconfig.DEFAULT_USER,
    group: Annotated[
        list[str] | None,
        typer.Option(
            "--group",
            metavar="NAME",
            help=f"The certificate's O: an RBAC group (repeatable). Default: {kubeconfig.DEFAULT_GROUP}.",
        ),
    ] = None,
    ttl: Annotated[
        str,
        typer.Option(
            "--ttl", metavar="DURATION", help="How long it is valid: 30m, 12h, 7d (at most 365d and the CA's life)."
        ),
    ] = kubeconfig.DEFAULT_TTL,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
    secrets: SecretsOpt = None,
) -> None:
    """Sign an admin kubeconfig with the cluster CA.

    Writes a kubeconfig for the cluster's API endpoint with a client certificate signed offline with the
    CA in the secrets bundle, so nobody has to copy admin.conf from a control-plane node."""
    to_stdout = output == "-"
    result = api.admin_kubeconfig(
        config,
        secrets_path=secrets,
        output=Path(output) if output is not None and not to_stdout else None,
        to_stdout=to_stdout,
        user=user,
        groups=group or [kubeconfig.DEFAULT_GROUP],
        ttl=ttl,
        force=force,
    )
    TextReporter().kubeconfig_written(result)


@app.command()
@handle_errors
def schema() -> None:
    """Print the cluster config's JSON Schema."""
    sys.stdout.write((schemas_dir() / "cluster.schema.json").read_text(encoding="utf-8"))


# --- kgen-certs (issue 14): `kgen certs check` ----------------------------------------------------------

certs_app = typer.Typer(help="Certificates: when the cluster's CAs expire.", no_args_is_help=True)
app.add_typer(certs_app, name="certs")


@certs_app.command("check")
@handle_errors
def certs_check(
    config: ConfigArg,
    secrets: Annotated[
        Path | None,
        typer.Option(
            "--secrets", help="Secrets bundle (default: <config-stem>.secrets.yaml beside the config).", readable=False
        ),
    ] = None,
    output: Annotated[OutputFormat, typer.Option("-o", "--output", help="text or json.")] = OutputFormat.text,
    warn_days: Annotated[
        int, typer.Option("--warn-days", min=1, max=3650, help="Warn when a CA expires within this many days.")
    ] = 90,
) -> None:
    """Report when each CA in the secrets bundle expires (cluster, etcd and front-proxy CA) and that the
    service-account key has no expiry. Warns within --warn-days (exit 0); exits 1 if a CA has expired."""
    report = api.check_certificates(config, secrets_path=secrets, warn_days=warn_days)
    reporter_for(output.value).certs_checked(report)
    if report.status == "expired":
        raise typer.Exit(EXIT_INVALID)


def run() -> None:
    app()
