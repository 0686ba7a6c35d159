"""The ``kgen bake`` runner: ``packer init`` and ``packer build`` on the project :mod:`generator.packer`
rendered, with the qemu accelerator chosen by the KVM probe (:mod:`generator.runners.kvmprobe`)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

from generator.emit.packer import PACKER_FOLDER, REQUIRED_PACKER
from generator.errors import UserError
from generator.records import record
from generator.runners.kvmprobe import probe_kvm

PACKER_INSTALL_HINT = (
    "install HashiCorp's Packer 1.10 or newer (https://developer.hashicorp.com/packer/install: the "
    "apt/dnf repository or the zip from releases.hashicorp.com). Debian's packer package (1.6.6) is too "
    "old to build, but it is fine for `packer fmt` and `packer validate -syntax-only` without plugins.pkr.hcl"
)
Only = Literal["openstack", "qemu"]


@record
class BakePaths:
    """Where a bake of ``DIR/<cluster>`` works: ``DIR/<cluster>-bake/`` beside the rendered folder,
    because a re-render replaces ``DIR/<cluster>/`` as a whole."""

    project: Path
    work: Path

    @property
    def ssh_key(self) -> Path:
        return self.work / "build-key"

    @property
    def qemu_output(self) -> Path:
        return self.work / "output-qemu"

    @property
    def manifest(self) -> Path:
        return self.work / "packer-manifest.json"


def bake_paths(out_dir: Path) -> BakePaths:
    """``out_dir`` is the rendered cluster folder (``RenderResult.out_dir``, ``DIR/<cluster>``)."""
    return BakePaths(project=out_dir / PACKER_FOLDER, work=out_dir.parent / f"{out_dir.name}-bake")


def choose_accelerator(say: Callable[[str], None] = lambda _line: None) -> Literal["kvm", "tcg"]:
    """The qemu_accelerator for a bake: kvm only when KVM is proven to boot a Linux kernel here (an
    openable /dev/kvm is not enough: nested KVM often aborts or hangs in early boot), the same probe as
    `kgen vm`; says which and why."""
    verdict = probe_kvm()
    say(f"qemu accelerator: {verdict.line()}")
    return verdict.accel


def bake_commands(
    out_dir: Path,
    *,
    only: Only | None = None,
    var_files: Sequence[Path] = (),
    accelerator: Literal["kvm", "tcg"] | None = None,
    say: Callable[[str], None] = lambda _line: None,
) -> list[list[str]]:
    """The exact commands ``kgen bake`` runs, in order. A qemu build first makes a throwaway SSH key
    for the build user (the seed puts its public half on the build VM; sysprep removes it), and runs
    with ``qemu_accelerator=tcg`` where KVM cannot boot Linux (:func:`choose_accelerator`; ``accelerator``
    overrides that)."""
    paths = bake_paths(out_dir)
    project = str(paths.project)
    commands: list[list[str]] = []
    qemu = only in (None, "qemu")
    if qemu:
        commands.append(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "kgen-bake", "-f", str(paths.ssh_key)])
    commands.append(["packer", "init", project])
    build = ["packer", "build"]
    if only is not None:
        build.append(f"-only={only}.*")
    build += [f"-var=manifest_output={paths.manifest}"]
    if qemu:
        accel = accelerator or choose_accelerator(say)
        build += [
            f"-var=qemu_ssh_private_key_file={paths.ssh_key}",
            f"-var=qemu_output_directory={paths.qemu_output}",
            f"-var=qemu_accelerator={accel}",
        ]
    build += [f"-var-file={path}" for path in var_files]
    build.append(project)
    commands.append(build)
    return commands


def format_commands(commands: Sequence[Sequence[str]]) -> str:
    """The commands as shell lines, for ``--dry-run``."""
    return "".join(shlex.join(command) + "\n" for command in commands)


_VERSION_RE = re.compile(r"(\d+)\.(\d+)\.(\d+)")


def packer_version(packer: str) -> tuple[int, int, int]:
    try:
        proc = subprocess.run([packer, "version"], capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UserError(f"cannot run {packer} version: {exc}") from None
    match = _VERSION_RE.search(proc.stdout)
    if proc.returncode != 0 or match is None:
        detail = (proc.stdout + proc.stderr).strip()[:300]
        raise UserError(
            f"cannot tell the version of {packer} (`packer version` said: {detail!r}); {PACKER_INSTALL_HINT}"
        )
    major, minor, patch = (int(g) for g in match.groups())
    return major, minor, patch


def check_tools(*, only: Only | None = None, which: Callable[[str], str | None] = shutil.which) -> str:
    """The packer to run; a :class:`UserError` naming what to install when something is missing."""
    packer = which("packer")
    if packer is None:
        raise UserError(f"packer is not installed (not found on PATH): {PACKER_INSTALL_HINT}")
    version = packer_version(packer)
    if version < REQUIRED_PACKER:
        found = ".".join(str(n) for n in version)
        raise UserError(
            f"packer {found} at {packer} is too old: kgen's Packer project needs Packer 1.10 or newer "
            f"(packer init and required_plugins); {PACKER_INSTALL_HINT}"
        )
    if only in (None, "qemu"):
        missing = []
        if which("qemu-system-x86_64") is None:
            missing.append("qemu-system-x86_64 (Debian/Ubuntu package qemu-system-x86, Fedora/EL qemu-kvm)")
        if not any(which(tool) for tool in ("xorriso", "mkisofs", "genisoimage")):
            missing.append("xorriso, mkisofs or genisoimage for the NoCloud seed (package xorriso)")
        if which("ssh-keygen") is None:
            missing.append("ssh-keygen for the build user's throwaway key (package openssh-client)")
        if missing:
            raise UserError("a qemu bake needs " + "; ".join(missing) + " (or bake with --only openstack)")
    return packer


@record
class BakeResult:
    commands: list[list[str]]
    manifest: Path | None  # Packer's manifest post-processor output (image IDs and names), if written


def bake(
    out_dir: Path,
    *,
    only: Only | None = None,
    var_files: Sequence[Path] = (),
    accelerator: Literal["kvm", "tcg"] | None = None,
    dry_run: bool = False,
    echo: Callable[[str], None] = lambda _line: None,
    run: Callable[[list[str]], int] | None = None,
) -> BakeResult:
    """Run ``packer init`` and ``packer build`` on the project rendered in ``out_dir`` (``DIR/<cluster>``).

    ``dry_run`` only returns the commands. Otherwise checks that packer (1.10+) and, for qemu, the
    qemu tools are there, runs the commands with their output going to the terminal, and removes the
    throwaway build key afterwards. Raises :class:`UserError` for a missing or old packer, a missing
    project, or a failed command."""
    for path in var_files:
        if not path.is_file():
            raise UserError(f"variables file not found: {path}")
    paths = bake_paths(out_dir)
    if not (paths.project / "build.pkr.hcl").is_file():
        raise UserError(f"no Packer project in {paths.project}: run `kgen render` first")
    commands = bake_commands(out_dir, only=only, var_files=var_files, accelerator=accelerator, say=echo)
    if dry_run:
        return BakeResult(commands=commands, manifest=None)
    packer = check_tools(only=only)
    runner = run or _run
    paths.work.mkdir(parents=True, exist_ok=True)
    try:
        for command in commands:
            if command[0] == "ssh-keygen":  # it would ask before overwriting a key left by a killed bake
                _remove_key(paths)
            argv = [packer, *command[1:]] if command[0] == "packer" else command
            echo(f"$ {shlex.join(command)}")
            code = runner(argv)
            if code != 0:
                raise UserError(f"`{shlex.join(command)}` failed (exit {code}); see its output above")
    finally:
        _remove_key(paths)
    return BakeResult(commands=commands, manifest=paths.manifest if paths.manifest.is_file() else None)


def _remove_key(paths: BakePaths) -> None:
    paths.ssh_key.unlink(missing_ok=True)
    Path(f"{paths.ssh_key}.pub").unlink(missing_ok=True)


def _run(argv: list[str]) -> int:
    try:
        return subprocess.run(argv, check=False).returncode
    except OSError as exc:
        raise UserError(f"cannot run {argv[0]}: {exc}") from None
