"""Golden images: the Packer HCL2 project ``kgen render`` writes under ``DIR/<cluster>/packer/``, and the
``kgen bake`` engine that runs it.

The project bakes the node-preparation scripts (:mod:`generator.prepare`) into an image, byte for
byte: ``scripts/node-install.sh`` and ``scripts/node-configure.sh`` are the very scripts an
``install``-mode node runs at first boot. Then it pre-pulls every image a first boot needs, records
them in ``/etc/kgen/image.json``, proves the image with a self-check, sysprep, and the self-check again.

Everything but ``plugins.pkr.hcl`` stays within what Debian's Packer 1.6.6 understands (no ``data``
blocks, no ``templatefile()``/``base64gzip()``, no singular ``local`` blocks), so ``packer fmt`` and
``packer validate -syntax-only`` work with it; building needs Packer 1.10+ for ``packer init``.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

from generator import __version__, etcd_backup, images, prepare, templating
from generator.cni import assets
from generator.errors import UserError
from generator.kvmprobe import probe_kvm
from generator.model import Cluster
from generator.resources import packer_dir
from generator.tree import EXECUTABLE_MODE, PUBLIC_MODE, OutputFile
from generator.versions import ManifestFile

PACKER_FOLDER = "packer"
EXAMPLE_VARS = f"{PACKER_FOLDER}/example.pkrvars.hcl"
REQUIRED_PACKER = (1, 10, 0)
# Plugin pins (the fact sheet, section 8: latest tags v1.1.4 of both).
PLUGINS: dict[str, tuple[str, str]] = {
    "openstack": (">= 1.1.2", "github.com/hashicorp/openstack"),
    "qemu": (">= 1.1.0", "github.com/hashicorp/qemu"),
}
BUILD_USER = "kgen-build"  # the qemu seed's build user (packer/qemu/user-data)
PACKER_INSTALL_HINT = (
    "install HashiCorp's Packer 1.10 or newer (https://developer.hashicorp.com/packer/install: the "
    "apt/dnf repository or the zip from releases.hashicorp.com). Debian's packer package (1.6.6) is too "
    "old to build, but it is fine for `packer fmt` and `packer validate -syntax-only` without plugins.pkr.hcl"
)
Only = Literal["openstack", "qemu"]


@dataclass(frozen=True)
class BaseImage:
    """What the bake starts from, per OS: the Glance image name users usually have (an example for the
    ``*.pkrvars.hcl``), the cloud image's default user, and the upstream cloud image for qemu."""

    glance_name_example: str
    ssh_username: str
    qemu_url: str
    qemu_checksum: str
    os_distro: str  # the Glance os_distro property (https://docs.openstack.org/glance/latest/admin/useful-image-properties.html)
    os_version: str


# Upstream "generic cloud" images with cloud-init; the checksum files are read by Packer ("file:").
# Sources: cloud-images.ubuntu.com/<codename>/current/, cloud.debian.org/images/cloud/bookworm/latest/,
# dl.rockylinux.org/pub/rocky/9/images/x86_64/, repo.almalinux.org/almalinux/9/cloud/x86_64/images/.
# The default users are those the images' cloud.cfg creates (ubuntu, debian, rocky, almalinux).
BASE_IMAGES: dict[str, BaseImage] = {
    "ubuntu-22.04": BaseImage(
        glance_name_example="ubuntu-22.04-server-cloudimg-amd64",
        ssh_username="ubuntu",
        qemu_url="https://cloud-images.ubuntu.com/jammy/current/jammy-server-cloudimg-amd64.img",
        qemu_checksum="file:https://cloud-images.ubuntu.com/jammy/current/SHA256SUMS",
        os_distro="ubuntu",
        os_version="22.04",
    ),
    "ubuntu-24.04": BaseImage(
        glance_name_example="ubuntu-24.04-server-cloudimg-amd64",
        ssh_username="ubuntu",
        qemu_url="https://cloud-images.ubuntu.com/noble/current/noble-server-cloudimg-amd64.img",
        qemu_checksum="file:https://cloud-images.ubuntu.com/noble/current/SHA256SUMS",
        os_distro="ubuntu",
        os_version="24.04",
    ),
    "debian-12": BaseImage(
        glance_name_example="debian-12-genericcloud-amd64",
        ssh_username="debian",
        qemu_url="https://cloud.debian.org/images/cloud/bookworm/latest/debian-12-genericcloud-amd64.qcow2",
        qemu_checksum="file:https://cloud.debian.org/images/cloud/bookworm/latest/SHA512SUMS",
        os_distro="debian",
        os_version="12",
    ),
    "rocky-9": BaseImage(
        glance_name_example="Rocky-9-GenericCloud-Base",
        ssh_username="rocky",
        qemu_url="https://dl.rockylinux.org/pub/rocky/9/images/x86_64/Rocky-9-GenericCloud-Base.latest.x86_64.qcow2",
        qemu_checksum=(
            "file:https://dl.rockylinux.org/pub/rocky/9/images/x86_64/Rocky-9-GenericCloud-Base.latest.x86_64.qcow2.CHECKSUM"
        ),
        os_distro="rocky",
        os_version="9",
    ),
    "almalinux-9": BaseImage(
        glance_name_example="AlmaLinux-9-GenericCloud",
        ssh_username="almalinux",
        qemu_url="https://repo.almalinux.org/almalinux/9/cloud/x86_64/images/AlmaLinux-9-GenericCloud-latest.x86_64.qcow2",
        qemu_checksum="file:https://repo.almalinux.org/almalinux/9/cloud/x86_64/images/CHECKSUM",
        os_distro="almalinux",
        os_version="9",
    ),
}

# Where the rendered scripts go inside the project, and the guest paths the self-check verifies.
SCRIPTS = {
    "install": "scripts/node-install.sh",
    "etcd-tools": "scripts/etcd-tools.sh",
    "configure": "scripts/node-configure.sh",
    "pre-pull": "scripts/pre-pull.sh",
    "cni-manifests": "scripts/cni-manifests.sh",
    "image-manifest": "scripts/image-manifest.sh",
    "self-check": "scripts/self-check.sh",
    "sysprep": "scripts/sysprep.sh",
}
BAKE_PROXY_DROPIN = "90-kgen-bake-proxy.conf"  # the runtime's proxy during pre-pull; sysprep removes it
normalize_image = images.normalize_image


# --------------------------------------------------------------------------------------------------
# What the image holds.


def control_plane_images(cluster: Cluster) -> list[str]:
    """What ``kubeadm config images list --kubernetes-version v<exact>`` prints for this version, from
    the version table (the self-check compares the two on the baked image)."""
    return list(images.first_boot_images(cluster).kubeadm)


def baked_images(cluster: Cluster) -> list[str]:
    """Every image the bake pre-pulls, as the CRI lists them, sorted: exactly what the self-check
    expects in ``crictl images`` and what ``/etc/kgen/image.json`` records (:mod:`generator.images`)."""
    return list(images.first_boot_images(cluster).all)


def cni_manifest_paths(cluster: Cluster) -> list[str]:
    return [m.path for m in cni_manifest_files(cluster)]


def cni_manifest_files(cluster: Cluster) -> list[ManifestFile]:
    """The CNI's pinned downloads and where the install phase puts them (the bake checks them again)."""
    cni = assets(cluster)
    return cni.manifest_files() if cni else []


def image_name(cluster: Cluster) -> str:
    """The default image name: OS, Kubernetes version and CNI, e.g. ``kgen-debian-12-k8s-1.31.14-calico``."""
    return f"kgen-{cluster.os}-k8s-{cluster.kubernetes_version}-{cluster.cni.plugin}"


def image_tags(cluster: Cluster) -> list[str]:
    tags = [
        "kgen",
        cluster.os,
        f"kubernetes-{cluster.kubernetes_version}",
        f"{cluster.runtime.name}-{cluster.runtime.version}",
    ]
    if cluster.cni.version:
        tags.append(f"{cluster.cni.plugin}-{cluster.cni.version}")
    return tags


def _runtime_package(cluster: Cluster) -> str:
    return "cri-o" if cluster.runtime.name == "cri-o" else "containerd.io"


def _cni_label(cluster: Cluster) -> str:
    return f"{cluster.cni.plugin} {cluster.cni.version}" if cluster.cni.version else "none"


# --------------------------------------------------------------------------------------------------
# The bake's own scripts.


def one_line(value: object) -> str:
    """A value for a comment (shell or HCL): whitespace, newlines included, collapsed to single spaces,
    so no value can end a comment line early. Values in code go through shquote/hcl_string instead."""
    return " ".join(str(value).split())


def _script_context(cluster: Cluster) -> dict[str, object]:
    first_boot = images.first_boot_images(cluster)  # the one image table: pre-pull, self-check, image.json
    return {
        "one_line": one_line,
        "kgen_version": __version__,
        "cluster": cluster,
        "runtime": cluster.runtime,
        "runtime_package": _runtime_package(cluster),
        "cni_label": _cni_label(cluster),
        "control_plane_images": sorted(normalize_image(i) for i in first_boot.kubeadm),
        "other_images": list(first_boot.others),
        "expected_images": list(first_boot.all),
        "cni_manifests": cni_manifest_paths(cluster),
        "cni_manifest_files": cni_manifest_files(cluster),
        "image_manifest_path": prepare.IMAGE_MANIFEST,
        "image_manifest": prepare.image_manifest(cluster, list(first_boot.all)),
        "build_user": BUILD_USER,
        "proxy_dropin": BAKE_PROXY_DROPIN,
        "metadata": prepare.metadata_block(),
    }


def self_check_script(cluster: Cluster) -> str:
    """The bake's self-check: ``self-check.sh --before-sysprep`` and, after sysprep, ``self-check.sh``."""
    return templating.render("prepare/self-check.sh.j2", **_script_context(cluster))


def sysprep_script(cluster: Cluster) -> str:
    return templating.render("prepare/sysprep.sh.j2", **_script_context(cluster))


def pre_pull_script(cluster: Cluster) -> str:
    return templating.render("packer/pre-pull.sh.j2", **_script_context(cluster))


def cni_manifests_script(cluster: Cluster) -> str:
    return templating.render("packer/cni-manifests.sh.j2", **_script_context(cluster))


def image_manifest_script(cluster: Cluster) -> str:
    return templating.render("packer/image-manifest.sh.j2", **_script_context(cluster))


# --------------------------------------------------------------------------------------------------
# The project.


@cache
def shared_files() -> tuple[tuple[str, OutputFile], ...]:
    """The static parts from the repository's top-level ``packer/`` folder (its own README.md, which
    describes the folder to kgen developers, is not copied). Scripts keep their executable bit."""
    root = packer_dir()
    out: list[tuple[str, OutputFile]] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if rel == "README.md" or "__pycache__" in path.parts:
            continue
        mode = EXECUTABLE_MODE if path.suffix == ".sh" else PUBLIC_MODE
        out.append((f"{PACKER_FOLDER}/{rel}", OutputFile(path.read_bytes(), mode)))
    return tuple(out)


def _hcl_context(cluster: Cluster) -> dict[str, object]:
    base = BASE_IMAGES[cluster.os]
    return {
        "one_line": one_line,
        "kgen_version": __version__,
        "cluster": cluster,
        "base": base,
        "runtime": cluster.runtime,
        "cni_label": _cni_label(cluster),
        "image_name": image_name(cluster),
        "image_tags": image_tags(cluster),
        "plugins": PLUGINS,
        "required_packer": ".".join(str(n) for n in REQUIRED_PACKER),
        "scripts": SCRIPTS,
        "build_user": BUILD_USER,
        "images_count": len(baked_images(cluster)),
    }


def packer_files(cluster: Cluster) -> dict[str, OutputFile]:
    """The Packer project for ``cluster``, keyed by path relative to ``DIR/<cluster>/`` (all under
    ``packer/``). Pure and deterministic: the same cluster gives the same bytes."""
    hcl = _hcl_context(cluster)
    files: dict[str, OutputFile] = dict(shared_files())
    for name in ("plugins", "variables", "sources", "build"):
        text = templating.render(f"packer/{name}.pkr.hcl.j2", **hcl)
        files[f"{PACKER_FOLDER}/{name}.pkr.hcl"] = OutputFile(text.encode(), PUBLIC_MODE)
    example = templating.render("packer/example.pkrvars.hcl.j2", **hcl)
    files[EXAMPLE_VARS] = OutputFile(example.encode(), PUBLIC_MODE)
    scripts = {
        "install": prepare.install_script(cluster),
        "etcd-tools": etcd_backup.tools_script(cluster),
        "configure": prepare.configure_script(cluster),
        "pre-pull": pre_pull_script(cluster),
        "cni-manifests": cni_manifests_script(cluster),
        "image-manifest": image_manifest_script(cluster),
        "self-check": self_check_script(cluster),
        "sysprep": sysprep_script(cluster),
    }
    for key, text in scripts.items():
        files[f"{PACKER_FOLDER}/{SCRIPTS[key]}"] = OutputFile(text.encode(), EXECUTABLE_MODE)
    return dict(sorted(files.items()))


# --------------------------------------------------------------------------------------------------
# kgen bake: packer init + packer build in the rendered folder.


@dataclass(frozen=True)
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


@dataclass(frozen=True)
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
