"""The Packer HCL2 project ``kgen render`` writes under ``DIR/<cluster>/packer/`` (``kgen bake`` runs it:
:mod:`generator.runners.bake`).

The project bakes the node-preparation scripts (:mod:`generator.prepare`, rendered once in the plan)
into an image, byte for byte: ``scripts/node-install.sh`` and ``scripts/node-configure.sh`` are the very
scripts an ``install``-mode node runs at first boot. Then it pre-pulls every image a first boot needs,
records them in ``/etc/kgen/image.json``, proves the image with a self-check, sysprep, and the
self-check again. The base image per OS is the OS table's (``data/os.yaml``), the plugin pins the
version table's.

Everything but ``plugins.pkr.hcl`` stays within what Debian's Packer 1.6.6 understands (no ``data``
blocks, no ``templatefile()``/``base64gzip()``, no singular ``local`` blocks), so ``packer fmt`` and
``packer validate -syntax-only`` work with it; building needs Packer 1.10+ for ``packer init``.
"""

from __future__ import annotations

from functools import cache

from generator import __version__, etcd_backup, images, layout, prepare, runtimes, templating
from generator.model import Cluster
from generator.plan import ClusterPrep, prepare_cluster
from generator.resources import packer_dir
from generator.tables import os_release, packer_pins
from generator.tree import EXECUTABLE_MODE, PUBLIC_MODE, OutputFile
from generator.versions import ManifestFile

PACKER_FOLDER = layout.PACKER_DIR
EXAMPLE_VARS = layout.PACKER_EXAMPLE_VARS
REQUIRED_PACKER = packer_pins().required_version
# Plugin pins: versions.yaml `packer`.
PLUGINS: dict[str, tuple[str, str]] = {name: (version, source) for name, version, source in packer_pins().plugins}
BUILD_USER = "kgen-build"  # the qemu seed's build user (packer/qemu/user-data)


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
    return list(images.kubeadm_images(cluster))


def baked_images(cluster: Cluster) -> list[str]:
    """Every image the bake pre-pulls, as the CRI lists them, sorted: exactly what the self-check
    expects in ``crictl images`` and what ``/etc/kgen/image.json`` records (:mod:`generator.images`)."""
    return list(images.first_boot_images(cluster).all)


def cni_manifest_paths(cluster: Cluster, prep: ClusterPrep | None = None) -> list[str]:
    return [m.path for m in cni_manifest_files(cluster, prep)]


def cni_manifest_files(cluster: Cluster, prep: ClusterPrep | None = None) -> list[ManifestFile]:
    """The CNI's pinned downloads and where the install phase puts them (the bake checks them again)."""
    cni = (prep or prepare_cluster(cluster)).cni
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
    return runtimes.plugin(cluster.runtime.name).package


def _cni_label(cluster: Cluster) -> str:
    return f"{cluster.cni.plugin} {cluster.cni.version}" if cluster.cni.version else "none"


# --------------------------------------------------------------------------------------------------
# The bake's own scripts.


def one_line(value: object) -> str:
    """A value for a comment (shell or HCL): whitespace, newlines included, collapsed to single spaces,
    so no value can end a comment line early. Values in code go through shquote/hcl_string instead."""
    return " ".join(str(value).split())


def _script_context(cluster: Cluster, prep: ClusterPrep | None = None) -> dict[str, object]:
    prep = prep or prepare_cluster(cluster)
    first_boot = prep.images  # the one image table: pre-pull, self-check, image.json
    return {
        "one_line": one_line,
        "kgen_version": __version__,
        "cluster": cluster,
        "runtime": cluster.runtime,
        "runtime_package": _runtime_package(cluster),
        # every runtime's self-check branch: the script picks the image's on the node (RUNTIME)
        "runtime_checks": [(name, p.piece("self-check.sh.j2")) for name, p in sorted(runtimes.PLUGINS.items())],
        "cni_label": _cni_label(cluster),
        "control_plane_images": sorted(normalize_image(i) for i in first_boot.kubeadm),
        "other_images": list(first_boot.others),
        "expected_images": list(first_boot.all),
        "cni_manifests": cni_manifest_paths(cluster, prep),
        "cni_manifest_files": cni_manifest_files(cluster, prep),
        "image_manifest_path": prepare.IMAGE_MANIFEST,
        "image_manifest": prepare.image_manifest(cluster, list(first_boot.all), prep.scripts.configure),
        "build_user": BUILD_USER,
        "proxy_dropin": BAKE_PROXY_DROPIN,
        "metadata": prepare.metadata_block(),
    }


def self_check_script(cluster: Cluster, prep: ClusterPrep | None = None) -> str:
    """The bake's self-check: ``self-check.sh --before-sysprep`` and, after sysprep, ``self-check.sh``."""
    return templating.render("prepare/self-check.sh.j2", **_script_context(cluster, prep))


def sysprep_script(cluster: Cluster, prep: ClusterPrep | None = None) -> str:
    return templating.render("prepare/sysprep.sh.j2", **_script_context(cluster, prep))


def pre_pull_script(cluster: Cluster, prep: ClusterPrep | None = None) -> str:
    return templating.render("packer/pre-pull.sh.j2", **_script_context(cluster, prep))


def cni_manifests_script(cluster: Cluster, prep: ClusterPrep | None = None) -> str:
    return templating.render("packer/cni-manifests.sh.j2", **_script_context(cluster, prep))


def image_manifest_script(cluster: Cluster, prep: ClusterPrep | None = None) -> str:
    return templating.render("packer/image-manifest.sh.j2", **_script_context(cluster, prep))


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


def _hcl_context(cluster: Cluster, prep: ClusterPrep) -> dict[str, object]:
    base = os_release(cluster.os).base_image
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
        "images_count": len(prep.images.all),
    }


def packer_files(cluster: Cluster, prep: ClusterPrep | None = None) -> dict[str, OutputFile]:
    """The Packer project for ``cluster``, keyed by path relative to ``DIR/<cluster>/`` (all under
    ``packer/``). Pure and deterministic: the same cluster gives the same bytes. ``prep`` is the plan's
    (the preparation scripts are the very text a node's user-data carries)."""
    prep = prep or prepare_cluster(cluster)
    hcl = _hcl_context(cluster, prep)
    files: dict[str, OutputFile] = dict(shared_files())
    for name in ("plugins", "variables", "sources", "build"):
        text = templating.render(f"packer/{name}.pkr.hcl.j2", **hcl)
        files[f"{PACKER_FOLDER}/{name}.pkr.hcl"] = OutputFile(text.encode(), PUBLIC_MODE)
    example = templating.render("packer/example.pkrvars.hcl.j2", **hcl)
    files[EXAMPLE_VARS] = OutputFile(example.encode(), PUBLIC_MODE)
    scripts = {
        "install": prep.scripts.install,
        "etcd-tools": etcd_backup.tools_script(cluster),
        "configure": prep.scripts.configure,
        "pre-pull": pre_pull_script(cluster, prep),
        "cni-manifests": cni_manifests_script(cluster, prep),
        "image-manifest": image_manifest_script(cluster, prep),
        "self-check": self_check_script(cluster, prep),
        "sysprep": sysprep_script(cluster, prep),
    }
    for key, text in scripts.items():
        files[f"{PACKER_FOLDER}/{SCRIPTS[key]}"] = OutputFile(text.encode(), EXECUTABLE_MODE)
    return dict(sorted(files.items()))
