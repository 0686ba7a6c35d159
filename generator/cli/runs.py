"""The commands that write more than a render or run tools: ``bake``, ``vm``, ``restore`` and
``upgrade``."""

# No `from __future__ import annotations` here: typer would evaluate every string annotation on each
# run (generator.cli, "Start-up cost").

from enum import Enum
from pathlib import Path
from typing import Annotated, Literal

import typer

from generator import api
from generator.cli.common import (
    ConfigArg,
    LegacyOutOpt,
    LegacyOutputOpt,
    OutDirOpt,
    OutputOpt,
    QuietOpt,
    SecretsOpt,
    app,
    format_and_folder,
    handle_errors,
)
from generator.errors import EXIT_INVALID
from generator.reporters import TextReporter, reporter_for


class Accel(str, Enum):
    auto = "auto"
    kvm = "kvm"
    tcg = "tcg"


class BakeOnly(str, Enum):
    openstack = "openstack"
    qemu = "qemu"


class VmNetwork(str, Enum):
    none = "none"
    user = "user"


@app.command(short_help="Render, then bake a golden image with packer.")
@handle_errors
def bake(
    config: ConfigArg,
    only: Annotated[BakeOnly | None, typer.Option("--only", help="Bake with one source only.")] = None,
    var_file: Annotated[
        list[Path] | None,
        typer.Option(
            "--var-file",
            metavar="FILE",
            help="A *.pkrvars.hcl file with your site's settings (repeatable).",
            readable=False,
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the exact commands; run nothing.")] = False,
    accel: Annotated[
        Accel, typer.Option("--accel", help="qemu accelerator: kvm, tcg, or auto (KVM when it boots Linux here).")
    ] = Accel.auto,
    out_dir: OutDirOpt = None,
    output: OutputOpt = None,
    secrets: SecretsOpt = None,
    legacy_out: LegacyOutOpt = None,
) -> None:
    """Render, then run `packer init` and `packer build` on DIR/<cluster>/packer to bake a golden image."""
    fmt, folder = format_and_folder(output, out_dir, legacy_out, formats=("text", "json"))
    reporter = reporter_for(fmt)
    which: Literal["openstack", "qemu"] | None = (
        "qemu" if only is BakeOnly.qemu else "openstack" if only is BakeOnly.openstack else None
    )
    chosen: Literal["kvm", "tcg"] | None = "kvm" if accel is Accel.kvm else "tcg" if accel is Accel.tcg else None
    outcome = api.bake(
        config,
        out_dir=folder,
        secrets_path=secrets,
        only=which,
        var_files=var_file or [],
        accelerator=chosen,
        dry_run=dry_run,
        listener=reporter,
    )
    reporter.baked(outcome)


@app.command("vm", short_help="Boot one rendered node in a local qemu VM and report its first boot.")
@handle_errors
def vm_command(
    config: ConfigArg,
    node: Annotated[str, typer.Argument(metavar="NODE", help="The node to boot, e.g. master-0.")],
    image: Annotated[
        Path,
        typer.Option("--image", metavar="FILE", help="Base disk: a qcow2 or raw cloud image (left untouched)."),
    ],
    accel: Annotated[Accel, typer.Option("--accel", help="kvm, tcg, or auto (KVM when it works).")] = Accel.auto,
    timeout: Annotated[
        float, typer.Option("--timeout", metavar="SECONDS", help="Seconds before giving up on the guest.")
    ] = 900.0,
    keep: Annotated[bool, typer.Option("--keep", help="Keep the VM's disk (a qcow2 overlay) for inspection.")] = False,
    kernel: Annotated[
        Path | None,
        typer.Option("--kernel", metavar="FILE", help="Boot this kernel directly (images without a bootloader)."),
    ] = None,
    initrd: Annotated[Path | None, typer.Option("--initrd", metavar="FILE", help="The initrd for --kernel.")] = None,
    append: Annotated[
        str | None, typer.Option("--append", metavar="CMDLINE", help="Kernel command line for --kernel.")
    ] = None,
    memory: Annotated[int, typer.Option("--memory", metavar="MIB", help="Guest memory in MiB.")] = 2048,
    cpus: Annotated[int, typer.Option("--cpus", metavar="N", help="Guest CPUs.")] = 2,
    workdir: Annotated[
        Path | None, typer.Option("--workdir", metavar="DIR", help="Where the overlay, seed and serial log go.")
    ] = None,
    network: Annotated[
        VmNetwork,
        typer.Option("--network", help="none (default): no network at all; user: qemu's NAT, for install mode."),
    ] = VmNetwork.none,
    out_dir: OutDirOpt = None,
    output: OutputOpt = None,
    secrets: SecretsOpt = None,
    legacy_out: LegacyOutOpt = None,
) -> None:
    """Boot one rendered node locally in qemu with its NoCloud seed, with no outside network, and report
    cloud-init's result, the bootstrap marker and the end of the bootstrap log."""
    fmt, folder = format_and_folder(output, out_dir, legacy_out, formats=("text", "json"))
    reporter = reporter_for(fmt)
    outcome = api.vm(
        config,
        node,
        image=image,
        out_dir=folder,
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


@app.command(short_help="Render the first control plane's user-data in etcd restore mode.")
@handle_errors
def restore(
    config: ConfigArg,
    snapshot: Annotated[
        str,
        typer.Option(
            "--snapshot",
            metavar="URL|PATH",
            help="The etcd snapshot: an https URL (a Swift temp URL) or an absolute path on the node (a volume).",
        ),
    ],
    sha256: Annotated[
        str | None,
        typer.Option("--sha256", metavar="HEX", help="The snapshot's sha256; the node refuses any other file."),
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "-d",
            "--out-dir",
            metavar="DIR",
            help="Output folder; restore mode goes to DIR/<cluster>.restore/<node>/ [default: out].",
        ),
    ] = None,
    secrets: SecretsOpt = None,
    quiet: QuietOpt = False,
    output: LegacyOutputOpt = None,
    legacy_out: LegacyOutOpt = None,
) -> None:
    """Render the first control-plane node's user-data in restore mode: its first boot restores etcd from
    SNAPSHOT, then runs kubeadm init with the cluster's CAs (every rendered join still matches)."""
    _, folder = format_and_folder(output, out_dir, legacy_out, formats=())
    result = api.restore(config, snapshot=snapshot, sha256=sha256, out_dir=folder, secrets_path=secrets)
    TextReporter(quiet=quiet).restored(result, sha256_given=sha256 is not None)


@app.command(short_help="Render the upgrade kit: per-node scripts and upgrade.sh.")
@handle_errors
def upgrade(
    config: Annotated[
        Path,
        typer.Argument(
            metavar="CONFIG", help="The cluster config, with the new spec.kubernetes.version.", readable=False
        ),
    ],
    out_dir: OutDirOpt = None,
    from_version: Annotated[
        str | None,
        typer.Option(
            "--from",
            metavar="VERSION",
            help="The version the cluster runs (default: kubernetesVersion in DIR/<cluster>/nodes.json).",
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would be written; write nothing.")] = False,
    quiet: QuietOpt = False,
    output: LegacyOutputOpt = None,
    legacy_out: LegacyOutOpt = None,
) -> None:
    """Render the upgrade kit DIR/<cluster>/upgrade/<from>-to-<to>/: per-node scripts and upgrade.sh, which
    upgrades the running cluster over SSH in kubeadm's order."""
    _, folder = format_and_folder(output, out_dir, legacy_out, formats=())
    result = api.upgrade(config, out_dir=folder, from_version=from_version, dry_run=dry_run)
    TextReporter(quiet=quiet).upgraded(result, config)
