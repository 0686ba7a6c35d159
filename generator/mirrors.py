"""``spec.mirrors``: package-repository mirrors and a download mirror, for clusters that cannot (or
should not) reach the upstream servers.

Package repositories (``spec.mirrors.packages.<kubernetes|docker|crio>``): ``url`` replaces the upstream
repository's scheme and host (``https://pkgs.k8s.io``, ``https://download.docker.com``,
``https://download.opensuse.org``); the path after it stays the same, so one mirror entry serves every
Kubernetes minor. The signing key: ``keyUrl`` when given (a mirror that re-signs, or the upstream key
itself), otherwise the upstream key's path on the mirror. apt and dnf check every package against
that key, as without a mirror.

Downloads (``spec.mirrors.downloads``, a URL prefix): every pinned download (CNI manifests, the cilium
chart, helm, the etcd tools, the OpenStack cloud provider's manifests) is fetched from
``<prefix>/<upstream host><upstream path>``, so one mirror holds files from several upstream hosts
without clashes, in the layout ``wget --force-directories`` (or ``wget -x``) produces (unverified: that
kubespray's ``files_repo`` uses the same host-first layout). The pinned SHA-256
stays with each file: a mirror cannot serve anything but the pinned bytes.

The upstream repository addresses live in the version table (``packageRepositories`` and, for CRI-O,
``runtimes.cri-o``); this module is the one place that turns them into the URLs the scripts use."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from generator.records import record
from generator.versions import Download, ManifestFile

# An http(s) URL without user, query or fragment: what a mirror address may be. The characters allowed
# in the path are the unreserved ones plus ':' (pkgs.k8s.io's paths use it), '/', '%' and '~'.
MIRROR_URL = re.compile(
    r"^https?://(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
    r"|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?(?:/[A-Za-z0-9._~:%+-]*)*$"
)
PACKAGE_MIRRORS = ("kubernetes", "docker", "crio")


@record
class PackageMirror:
    """A package repository mirror (spec.mirrors.packages): its URL and signing key URL."""

    url: str  # without a trailing slash
    key_url: str | None


@record
class Mirrors:
    """Where nodes fetch packages and downloads instead of upstream (spec.mirrors)."""

    packages: tuple[tuple[str, PackageMirror], ...] = ()  # (kubernetes|docker|crio, mirror)
    downloads: str | None = None  # URL prefix without a trailing slash

    def package(self, name: str) -> PackageMirror | None:
        return dict(self.packages).get(name)


NO_MIRRORS = Mirrors()


@record
class Repository:
    """A package repository as the node's apt source or dnf .repo file names it."""

    url: str
    key_url: str


def settings(spec: Mapping[str, Any]) -> Mirrors:
    raw = spec.get("mirrors")
    if not isinstance(raw, Mapping):
        return NO_MIRRORS
    packages = raw.get("packages") or {}
    out = []
    for name in PACKAGE_MIRRORS:
        entry = packages.get(name)
        if isinstance(entry, Mapping):
            key = entry.get("keyUrl")
            out.append((name, PackageMirror(url=str(entry["url"]).rstrip("/"), key_url=str(key) if key else None)))
    downloads = raw.get("downloads")
    return Mirrors(packages=tuple(out), downloads=str(downloads).rstrip("/") if downloads else None)


def _origin_swapped(url: str, base: str) -> str:
    """``url`` with its scheme and host replaced by ``base`` (which may carry a path prefix)."""
    parts = urlsplit(url)
    rest = url[len(f"{parts.scheme}://{parts.netloc}") :]
    return base + rest


def download_url(mirrors: Mirrors, url: str) -> str:
    """Where a pinned download is fetched from: ``url`` itself, or ``<prefix>/<host><path>`` on the
    download mirror."""
    if mirrors.downloads is None:
        return url
    parts = urlsplit(url)
    return f"{mirrors.downloads}/{parts.netloc}{url[len(f'{parts.scheme}://{parts.netloc}') :]}"


def download(mirrors: Mirrors, item: Download) -> Download:
    """The same pinned file (same SHA-256) from the download mirror, if there is one."""
    return Download(download_url(mirrors, item.url), item.sha256)


def manifest_file(mirrors: Mirrors, item: ManifestFile) -> ManifestFile:
    return ManifestFile(download_url(mirrors, item.url), item.sha256, item.path)


def repository(mirrors: Mirrors, name: str, url: str, key_url: str) -> Repository:
    """The upstream repository ``url`` with its signing key, or its mirror."""
    mirror = mirrors.package(name)
    if mirror is None:
        return Repository(url, key_url)
    return Repository(_origin_swapped(url, mirror.url), mirror.key_url or _origin_swapped(key_url, mirror.url))
