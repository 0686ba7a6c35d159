"""The external OpenStack cloud provider (``openstack.cloudProvider.enabled``): the pinned release for the
Kubernetes minor, the files and kubectl steps the first control-plane node runs, and the kubelet flag
every node gets. A feature module at the plan level: it imports the model and the foundation only."""

from __future__ import annotations

import json
import posixpath
from typing import Any

from generator import guest, mirrors, versions, yamldump
from generator.guest import GuestFile
from generator.model import Cluster, Node, OpenStack
from generator.records import record
from generator.versions import Download, ManifestFile

STORAGE_CLASS_PATH = guest.OPENSTACK_STORAGE_CLASS
CLOUD_PROVIDER_MANIFEST_DIR = guest.OPENSTACK_MANIFEST_DIR


@record
class CloudProviderRelease:
    """One pinned cloud provider release: its manifests and images."""

    release: str
    manifests: tuple[Download, ...]  # pinned, in apply order
    images: tuple[tuple[str, str, str], ...]  # (workload, container, image with tag)
    sidecar_images: tuple[str, ...]  # every other image the release's manifests name
    always_pulled: tuple[tuple[str, str], ...]  # (workload, container) with imagePullPolicy Always upstream

    def all_images(self) -> tuple[str, ...]:
        """Every image the cloud provider's pods ask for, once each, in table order."""
        return tuple(dict.fromkeys([*(image for _, _, image in self.images), *self.sidecar_images]))


def cloud_provider_release(cluster: Cluster) -> CloudProviderRelease:
    entry = versions.table()["openstackCloudProvider"]
    release = str(entry["releases"][cluster.kubernetes.minor])
    base = str(entry["manifestBase"]).format(release=release)
    digests = entry["manifestSha256"][release]
    return CloudProviderRelease(
        release=release,
        manifests=tuple(Download.of({"url": base + path, "sha256": digests[path]}) for path in entry["manifests"]),
        images=tuple((i["workload"], i["container"], f"{i['image']}:{release}") for i in entry["images"]),
        sidecar_images=tuple(str(i) for i in entry["sidecarImages"][release]),
        always_pulled=tuple((str(i["workload"]), str(i["container"])) for i in entry["alwaysPulled"]),
    )


def if_not_present_patch(container: str) -> str:
    """A strategic-merge patch giving one container of a workload's pod template imagePullPolicy
    IfNotPresent (containers merge by name), so a pre-pulled image is used as it is."""
    patch = {"spec": {"template": {"spec": {"containers": [{"name": container, "imagePullPolicy": "IfNotPresent"}]}}}}
    return json.dumps(patch, separators=(",", ":"), sort_keys=True)


def kubelet_extra_args(settings: OpenStack | None) -> dict[str, str]:
    """Extra kubelet flags for every node's nodeRegistration.kubeletExtraArgs."""
    if settings is None or not settings.cloud_provider:
        return {}
    return {"cloud-provider": "external"}


def storage_class() -> dict[str, Any]:
    """The default StorageClass for Cinder volumes (cinder-csi's provisioner name)."""
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {
            "name": "cinder",
            "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
        },
        "provisioner": "cinder.csi.openstack.org",
        "reclaimPolicy": "Delete",
        "allowVolumeExpansion": True,
        "volumeBindingMode": "WaitForFirstConsumer",
    }


def cloud_provider_guest_files(cluster: Cluster, settings: OpenStack | None, node: Node) -> list[GuestFile]:
    """Files the first control-plane node needs to install the cloud provider. No credentials: those
    reach the cluster only as the cloud-config Secret the admin creates (README)."""
    if settings is None or not settings.cloud_provider or node != cluster.first_control_plane:
        return []
    return [GuestFile(STORAGE_CLASS_PATH, yamldump.dump(storage_class()), "0644")]


def cloud_provider_downloads(cluster: Cluster, settings: OpenStack | None) -> list[ManifestFile]:
    """The release's manifests, which the first control-plane node downloads to files and checks against
    their pinned SHA-256 before it applies them."""
    if settings is None or not settings.cloud_provider:
        return []
    # the download mirror (spec.mirrors.downloads) serves the same pinned files (names from the upstream URL)
    manifests = tuple(mirrors.download(cluster.mirrors, d) for d in cloud_provider_release(cluster).manifests)
    names = [f"{i:02d}-{posixpath.basename(d.url)}" for i, d in enumerate(manifests)]
    return [
        ManifestFile(d.url, d.sha256, posixpath.join(CLOUD_PROVIDER_MANIFEST_DIR, name))
        for d, name in zip(manifests, names, strict=True)
    ]


def cloud_provider_kubectl_args(cluster: Cluster, settings: OpenStack | None) -> list[list[str]]:
    """kubectl argument lists (without ``kubectl``) the first control-plane node runs after the CNI:
    the pinned manifests (the files ``cloud_provider_downloads`` fetched and checked), each image pinned
    to the release tag, and the StorageClass."""
    if settings is None or not settings.cloud_provider:
        return []
    release = cloud_provider_release(cluster)
    commands = [["apply", "-f", m.path] for m in cloud_provider_downloads(cluster, settings)]
    commands += [["set", "image", "-n", "kube-system", w, f"{c}={image}"] for w, c, image in release.images]
    commands += [
        ["patch", "-n", "kube-system", w, "--type=strategic", "-p", if_not_present_patch(c)]
        for w, c in release.always_pulled
    ]
    commands.append(["apply", "-f", STORAGE_CLASS_PATH])
    return commands
