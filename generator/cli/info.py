"""The commands that answer questions about a cluster or about kgen: ``versions``, ``images``,
``ports``, ``join-command``, ``kubeconfig`` and ``certs check``."""

# No `from __future__ import annotations` here: typer would evaluate every string annotation on each
# run (generator.cli, "Start-up cost").

from pathlib import Path
from typing import Annotated

import typer

from generator import api, kubeconfig
from generator.cli.common import ConfigArg, KgenTyper, OutputOpt, SecretsOpt, app, handle_errors, output_format
from generator.errors import EXIT_INVALID
from generator.reporters import TextReporter, err, reporter_for


@app.command(short_help="List the supported Kubernetes versions and what kgen pins for each.")
@handle_errors
def versions(output: OutputOpt = None) -> None:
    """List the supported Kubernetes versions and what kgen pins for each (kubeadm API, images, runtimes, CNIs)."""
    fmt = output_format(output)
    reporter_for(fmt).versions_listed(api.versions())


@app.command(short_help="List every container image the cluster's first boots pull.")
@handle_errors
def images(
    config: ConfigArg,
    output: OutputOpt = None,
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
    fmt = output_format(output)
    reporter = reporter_for(fmt)
    reporter.images_listed(api.images(config, listener=reporter))


@app.command(short_help="List the inbound ports each node role needs.")
@handle_errors
def ports(config: ConfigArg, output: OutputOpt = None) -> None:
    """List the inbound ports each node role needs (Kubernetes' and the CNI's), as the nodes' firewall opens them."""
    fmt = output_format(output)
    reporter = reporter_for(fmt)
    reporter.ports_listed(api.ports(config, listener=reporter))


@app.command("join-command", short_help="Print the kubeadm join command for adding a node by hand.")
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


@app.command("kubeconfig", short_help="Sign an admin kubeconfig with the cluster CA.")
@handle_errors
def kubeconfig_command(
    config: ConfigArg,
    path: Annotated[
        str | None,
        typer.Argument(
            metavar="PATH",
            help="Where to write it (mode 0600); - prints it. Default: ./<cluster>.kubeconfig.",
            show_default=False,
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
    CA in the secrets bundle, so nobody has to copy admin.conf from a control-plane node. PATH works as
    in `talosctl kubeconfig [local-path]`."""
    to_stdout = path == "-"
    result = api.admin_kubeconfig(
        config,
        secrets_path=secrets,
        output=Path(path) if path is not None and not to_stdout else None,
        to_stdout=to_stdout,
        user=user,
        groups=group or [kubeconfig.DEFAULT_GROUP],
        ttl=ttl,
        force=force,
    )
    TextReporter().kubeconfig_written(result)


certs_app = KgenTyper(help="Certificates: when the cluster's CAs expire.", no_args_is_help=True)
app.add_typer(certs_app, name="certs")


@certs_app.command("check", short_help="Report when each CA in the secrets bundle expires.")
@handle_errors
def certs_check(
    config: ConfigArg,
    secrets: SecretsOpt = None,
    output: OutputOpt = None,
    warn_days: Annotated[
        int,
        typer.Option(
            "--warn-days", metavar="DAYS", min=1, max=3650, help="Warn when a CA expires within this many days."
        ),
    ] = 90,
) -> None:
    """Report when each CA in the secrets bundle expires (cluster, etcd and front-proxy CA) and that the
    service-account key has no expiry. Warns within --warn-days (exit 0); exits 1 if a CA has expired."""
    fmt = output_format(output)
    report = api.check_certificates(config, secrets_path=secrets, warn_days=warn_days)
    reporter_for(fmt).certs_checked(report)
    if report.status == "expired":
        raise typer.Exit(EXIT_INVALID)
