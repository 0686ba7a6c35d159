"""Versions against the version table: Kubernetes, the CNI's pin and tested minors, the runtime."""

from __future__ import annotations

from collections.abc import Iterator

from generator.errors import Problem
from generator.load import KeyPath
from generator.normalize import Normalized
from generator.rawconfig import lookup
from generator.versions import Version, cni_release, kubernetes_release, supported_minors, table


def check_kubernetes_version(n: Normalized) -> Iterator[Problem]:
    doc = n.doc
    path: KeyPath = ("spec", "kubernetes", "version")
    version = n.kubernetes_version
    if version is None:
        return  # the schema pattern already reported it
    minors = supported_minors()
    if version.minor_key not in minors:
        yield doc.problem(path, f"Kubernetes {version} is not supported; kgen supports {minors[0]}.x to {minors[-1]}.x")
        return
    release = kubernetes_release(version.minor_key)
    if version > release.latest_patch:
        yield doc.problem(
            path,
            f"{version} is newer than the newest {version.minor_key} patch kgen's version table knows "
            f"({release.latest_patch}); check that the packages exist",
            severity="warning",
        )
    proxy_mode = lookup(doc.data, "spec", "networking", "proxyMode")
    if proxy_mode == "nftables" and version.minor < 31:
        yield doc.problem(
            ("spec", "networking", "proxyMode"),
            f"nftables needs Kubernetes 1.31 or later (it is alpha in {version.minor_key})",
        )
    plugin = lookup(doc.data, "spec", "cni", "plugin")
    if plugin in ("calico", "cilium", "flannel"):
        cni = cni_release(plugin)
        wanted = lookup(doc.data, "spec", "cni", "version")
        if isinstance(wanted, str) and wanted.lstrip("v") != cni.version.lstrip("v"):
            yield doc.problem(
                ("spec", "cni", "version"), f"kgen pins {plugin} {cni.version}; {wanted!r} is not in its version table"
            )
        if cni.kubernetes_minors and version.minor_key not in cni.kubernetes_minors:
            tested = ", ".join(cni.kubernetes_minors)
            yield doc.problem(
                ("spec", "cni", "plugin"),
                f"{plugin} {cni.version} is not listed as tested with Kubernetes {version.minor_key} "
                f"(tested: {tested})",
                severity="warning",
            )


def check_runtime(n: Normalized) -> Iterator[Problem]:
    """The runtime's row (``runtimes.<name>``, key ``versions``) says how its version follows Kubernetes:
    ``kubernetes-minor`` (CRI-O) must be in the Kubernetes minor; ``kubernetes-row`` (containerd) must be
    a pinned patch in a range the Kubernetes row supports."""
    doc = n.doc
    path: KeyPath = ("spec", "runtime", "version")
    wanted, name = lookup(doc.data, *path), lookup(doc.data, "spec", "runtime", "name")
    k8s = n.kubernetes_version
    row = table()["runtimes"].get(name) if isinstance(name, str) else None
    if not isinstance(wanted, str) or k8s is None or row is None:
        return  # a name outside the table is reported by the schema's enum
    try:
        release = kubernetes_release(k8s.minor_key)
    except KeyError:
        return  # reported by the version checks
    parts = wanted.lstrip("v").split(".")
    if len(parts) < 2 or not all(p.isdigit() for p in parts):
        return  # reported by the schema pattern
    minor, label = f"{parts[0]}.{parts[1]}", row["label"]
    if row["versions"] == "kubernetes-minor" and minor != k8s.minor_key:
        yield doc.problem(
            path,
            f"{label} {wanted} does not match Kubernetes {k8s}: {label}'s minor version must equal Kubernetes' "
            f"({k8s.minor_key}); leave version out to follow Kubernetes",
        )
    if row["versions"] == "kubernetes-row":
        if len(parts) != 3:
            yield doc.problem(path, f"{label} {wanted}: pin the patch version, such as {release.containerd_package}")
            return
        version = Version.parse(wanted)
        lines = {Version.parse(m).minor_key: Version.parse(m) for m in release.containerd_minimums}
        floor = lines.get(version.minor_key)
        if floor is None or version < floor:
            supported = ", ".join(f"{m}+" for m in release.containerd_minimums)
            yield doc.problem(
                path, f"{label} {wanted} is not supported with Kubernetes {k8s.minor_key} (supported: {supported})"
            )
