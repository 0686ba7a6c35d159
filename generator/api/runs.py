"""The runners: render, then run something on the result (``kgen bake``, ``kgen vm``)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from generator.api.cluster import Listener, RenderResult, Silent, load_cluster, render_cluster
from generator.errors import UserError
from generator.records import record
from generator.runners import bake as bake_runner
from generator.runners import qemu


@record
class BakeOutcome:
    render: RenderResult
    commands: list[list[str]]
    manifest: Path | None  # Packer's manifest (image IDs and names), when a real bake wrote one
    dry_run: bool


def bake(
    config_path: Path,
    *,
    out_dir: Path,
    secrets_path: Path | None = None,
    only: bake_runner.Only | None = None,
    var_files: Sequence[Path] = (),
    accelerator: Literal["kvm", "tcg"] | None = None,
    dry_run: bool = False,
    listener: Listener | None = None,
) -> BakeOutcome:
    """Render, then run ``packer init`` and ``packer build`` on ``out_dir/<cluster>/packer``
    (:mod:`generator.runners.bake`). A dry run writes nothing and only returns the commands (the
    project is not on disk then, so the runner's checks of it are skipped)."""
    hear = listener or Silent()
    result = render_cluster(config_path, out_dir=out_dir, secrets_path=secrets_path, dry_run=dry_run)
    hear.warnings(result.warnings)
    if dry_run:
        commands = bake_runner.bake_commands(
            result.out_dir, only=only, var_files=var_files, accelerator=accelerator, say=hear.progress
        )
        return BakeOutcome(render=result, commands=commands, manifest=None, dry_run=True)
    baked = bake_runner.bake(
        result.out_dir, only=only, var_files=var_files, accelerator=accelerator, echo=hear.progress
    )
    return BakeOutcome(render=result, commands=baked.commands, manifest=baked.manifest, dry_run=False)


@record
class VmOutcome:
    render: RenderResult
    node: str
    node_dir: Path
    run: qemu.VmResult
    timeout: float

    @property
    def ok(self) -> bool:
        return self.run.ok


def vm(
    config_path: Path,
    node: str,
    *,
    image: Path,
    out_dir: Path,
    secrets_path: Path | None = None,
    workdir: Path | None = None,
    accel: str = "auto",
    timeout: float = 900.0,
    keep: bool = False,
    kernel: Path | None = None,
    initrd: Path | None = None,
    append: str | None = None,
    memory_mb: int = 2048,
    cpus: int = 2,
    network: str = "none",
    listener: Listener | None = None,
) -> VmOutcome:
    """Render, then boot ``node`` in a local qemu VM with its NoCloud seed and read the guest's report
    (:func:`generator.runners.qemu.run_vm`). ``workdir`` defaults to a new temporary folder. A guest
    that fails is no error: see ``VmOutcome.ok`` and ``VmOutcome.run.report``."""
    hear = listener or Silent()
    # Every input is checked before anything is written: a render would overwrite hand edits in the
    # output folder, and a boot that cannot work wastes minutes.
    cluster = load_cluster(config_path).cluster
    names = [n.name for n in cluster.nodes]
    if node not in names:
        raise UserError(f"cluster {cluster.name!r} has no node {node!r}; its nodes are: {', '.join(names)}")
    if cluster.image_mode == "install" and network == "none":
        raise UserError(
            f"cluster {cluster.name!r} uses image.mode install: the first boot downloads containerd and the "
            "Kubernetes packages, so the VM needs a network; add --network user (qemu's NAT)"
        )
    qemu.check_inputs(
        image=image, kernel=kernel, initrd=initrd, append=append, memory_mb=memory_mb, cpus=cpus, network=network
    )
    result = render_cluster(config_path, out_dir=out_dir, secrets_path=secrets_path)
    hear.file_verbs(result)
    node_dir = result.out_dir / "nodes" / node
    work = workdir or Path(tempfile.mkdtemp(prefix=f"kgen-vm-{node}-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        run = qemu.run_vm(
            user_data=node_dir / "user-data",
            meta_data=node_dir / "meta-data",
            image=image,
            workdir=work,
            accel=accel,
            timeout=timeout,
            keep=keep,
            kernel=kernel,
            initrd=initrd,
            append=append,
            memory_mb=memory_mb,
            cpus=cpus,
            network=network,
            progress=lambda line: hear.progress(line, source="vm"),
        )
    except BaseException:
        if workdir is None:  # a folder of our own that the caller never learns of: not left behind
            shutil.rmtree(work, ignore_errors=True)
        raise
    return VmOutcome(render=result, node=node, node_dir=node_dir, run=run, timeout=timeout)
