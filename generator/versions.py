"""The version table (``data/versions.yaml``): every version fact in one place, read by the model and
the templates. Each entry in the file says where its values come from."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from generator.records import record
from generator.resources import load_data


@dataclass(frozen=True, order=True)
class Version:
    """A Kubernetes version, major.minor.patch; ordered as numbers."""

    major: int
    minor: int
    patch: int

    @classmethod
    def parse(cls, text: str) -> Version:
        parts = text.lstrip("v").split(".")
        if len(parts) != 3 or not all(p.isdigit() for p in parts):
            raise ValueError(f"not a MAJOR.MINOR.PATCH version: {text!r}")
        return cls(int(parts[0]), int(parts[1]), int(parts[2]))

    @property
    def minor_key(self) -> str:
        return f"{self.major}.{self.minor}"

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


@record
class KubernetesRelease:
    """What kgen knows about one Kubernetes minor."""

    minor: str
    latest_patch: Version
    kubeadm_api_version: str
    pause_image: str
    etcd_image: str
    coredns_image: str
    containerd_package: str
    containerd_minimums: tuple[str, ...]
    containerd_config_version: int

    @property
    def kubeadm_v1beta4(self) -> bool:
        return self.kubeadm_api_version.endswith("/v1beta4")


SHA256_RE = re.compile(r"[0-9a-f]{64}")


@record
class Download:
    """A file a node or the bake downloads: its URL and the SHA-256 it must have before it is used."""

    url: str
    sha256: str

    @classmethod
    def of(cls, entry: dict[str, Any]) -> Download:
        url, sha256 = str(entry["url"]), str(entry["sha256"])
        if not url.startswith("https://") or not SHA256_RE.fullmatch(sha256):
            raise ValueError(f"version table: {url!r} needs an https URL and a 64-hex sha256, got {sha256!r}")
        return cls(url, sha256)


@record
class ManifestFile:
    """A pinned download and the path the node keeps it at (an upstream manifest, the cilium chart)."""

    url: str
    sha256: str
    path: str


@record
class CniRelease:
    """One pinned CNI release from the version table: its manifests, images and Kubernetes minors."""

    plugin: str
    version: str
    manifests: tuple[Download, ...]
    images: tuple[str, ...]
    kubernetes_minors: tuple[str, ...]
    extra: dict[str, Any]


@cache
def table() -> dict[str, Any]:
    data: dict[str, Any] = load_data("versions.yaml")
    return data


def supported_minors() -> list[str]:
    return sorted(table()["kubernetes"], key=lambda m: tuple(int(x) for x in m.split(".")))


def kubernetes_release(minor: str) -> KubernetesRelease:
    entry = table()["kubernetes"][minor]
    images = entry["images"]
    containerd = entry["containerd"]
    return KubernetesRelease(
        minor=minor,
        latest_patch=Version.parse(entry["latestPatch"]),
        kubeadm_api_version=entry["kubeadmAPIVersion"],
        pause_image=images["pause"],
        etcd_image=images["etcd"],
        coredns_image=images["coredns"],
        containerd_package=str(containerd["package"]),
        containerd_minimums=tuple(str(v) for v in containerd["minimum"]),
        containerd_config_version=int(containerd["configVersion"]),
    )


def cni_release(plugin: str) -> CniRelease:
    entry = dict(table()["cni"][plugin])
    known = {"version", "manifests", "images", "kubernetes", "ports", "source", "sha256Source"}
    return CniRelease(
        plugin=plugin,
        version=str(entry["version"]),
        manifests=tuple(Download.of(m) for m in entry.get("manifests", ())),
        images=tuple(entry.get("images", ())),
        kubernetes_minors=tuple(str(m) for m in entry.get("kubernetes", ())),
        extra={k: v for k, v in entry.items() if k not in known},
    )


def runtime_table(name: str) -> dict[str, Any]:
    entry: dict[str, Any] = table()["runtimes"][name]
    return entry


def retired_os(name: str) -> dict[str, Any] | None:
    entry: dict[str, Any] | None = table().get("retiredOS", {}).get(name)
    return entry


def retired_choice(path: str, value: str) -> dict[str, Any] | None:
    """Why ``value`` is no choice for the setting at ``path`` (``reason``, ``advice``), or None."""
    entry: dict[str, Any] | None = table().get("retiredChoices", {}).get(path, {}).get(value)
    return entry
