"""The interface every CNI plugin module implements, and what the plan gets from it: the assets of one
cluster's CNI (pinned downloads, resources rendered from the config, images, ports, the template piece
with its apply steps)."""

from __future__ import annotations

import posixpath
from collections.abc import Callable

from generator import guest, mirrors
from generator.model import Cluster
from generator.records import record
from generator.tables import PortRow, cni_ports
from generator.versions import CniRelease, Download, ManifestFile

IMAGE_MANIFEST_DIR = guest.CNI_IMAGE_MANIFEST_DIR
RENDERED_DIR = guest.CNI_RENDERED_DIR


@record
class CniAssets:
    """What a CNI plugin puts on a node: upstream downloads and rendered manifests."""

    plugin: str
    version: str
    downloads: tuple[Download, ...]
    # (file name, content) rendered for this cluster, applied after the upstream manifests.
    rendered: tuple[tuple[str, str], ...]
    images: tuple[str, ...]
    ports: tuple[PortRow, ...] = ()
    # The first-boot script's apply steps: templates/cni/apply-<plugin>.sh.j2, included by bootstrap.sh.j2.
    apply_template: str = ""

    @property
    def image_dir(self) -> str:
        return posixpath.join(IMAGE_MANIFEST_DIR, self.plugin, self.version)

    def manifest_files(self) -> list[ManifestFile]:
        """Each upstream manifest (the chart for cilium) in apply order, with its place on the node: the
        install phase and the bake download it there, checked against the pinned SHA-256."""
        return [
            ManifestFile(d.url, d.sha256, posixpath.join(self.image_dir, f"{i:02d}-{posixpath.basename(d.url)}"))
            for i, d in enumerate(self.downloads)
        ]


@record
class CniPlugin:
    """One CNI: a module under ``generator/cni/`` defines ``PLUGIN`` with these, and a row under ``cni``
    in ``data/versions.yaml`` pins its release (and its ports)."""

    name: str
    # Resources rendered from the config, (file name, YAML), applied after the upstream manifests.
    rendered: Callable[[Cluster, CniRelease], tuple[tuple[str, str], ...]]
    # The pinned downloads (manifests, or a chart) in apply order.
    downloads: Callable[[CniRelease], tuple[Download, ...]] = lambda release: release.manifests
    # The images a first boot pulls.
    images: Callable[[CniRelease], tuple[str, ...]] = lambda release: release.images

    def assets(self, cluster: Cluster, release: CniRelease) -> CniAssets:
        return CniAssets(
            plugin=self.name,
            version=release.version,
            # the download mirror (spec.mirrors.downloads) serves the same pinned files
            downloads=tuple(mirrors.download(cluster.mirrors, d) for d in self.downloads(release)),
            rendered=self.rendered(cluster, release),
            images=self.images(release),
            ports=cni_ports(self.name),
            apply_template=f"cni/apply-{self.name}.sh.j2",
        )
