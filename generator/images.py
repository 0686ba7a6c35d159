"""The one table of images a node's first boot asks for: kubeadm's (from the version table, per minor),
the CNI's (what its manifests, chart or operator deploy for the resources kgen renders) and the add-ons'
(kube-vip, the OpenStack cloud provider with its CSI sidecars).

The golden-image bake pre-pulls exactly these (``scripts/pre-pull.sh``), records them in
``/etc/kgen/image.json`` and its self-check expects exactly these in ``crictl images``; nothing else
keeps its own list."""

from __future__ import annotations

from generator import cloud_provider, kubevip
from generator.cni import CniAssets, assets
from generator.model import Cluster
from generator.records import record

DEFAULT_REGISTRY = "docker.io"
# kubeadm's own images besides coredns, pause and etcd: registry.k8s.io/<name>:v<exact version>
# (kubernetes/kubernetes cmd/kubeadm/app/images/images.go GetKubernetesImage, with the default
# imageRepository registry.k8s.io from cmd/kubeadm/app/constants/constants.go).
KUBEADM_COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy")
KUBEADM_REGISTRY = "registry.k8s.io"


def normalize_image(ref: str) -> str:
    """An image reference as the CRI lists it: ``calico/node:v1`` -> ``docker.io/calico/node:v1``,
    ``busybox:1`` -> ``docker.io/library/busybox:1`` (the Docker reference rules)."""
    first, _, rest = ref.partition("/")
    if not rest:
        return f"{DEFAULT_REGISTRY}/library/{ref}"
    if "." in first or ":" in first or first == "localhost":
        return ref
    return f"{DEFAULT_REGISTRY}/{ref}"


@record
class FirstBootImages:
    """The images a node pulls on its first boot, by origin."""

    kubeadm: tuple[str, ...]  # what `kubeadm config images list --kubernetes-version v<exact>` prints
    cni: tuple[str, ...]
    addons: tuple[str, ...]

    @property
    def others(self) -> tuple[str, ...]:
        """The CNI's and the add-ons' images, as the CRI lists them, once each, in table order: what the
        bake pulls with crictl (kubeadm pulls its own)."""
        return tuple(dict.fromkeys(normalize_image(i) for i in (*self.cni, *self.addons)))

    @property
    def all(self) -> tuple[str, ...]:
        """Every image, as the CRI lists them, sorted: what a golden image holds."""
        return tuple(sorted({normalize_image(i) for i in (*self.kubeadm, *self.cni, *self.addons)}))


def kubeadm_images(cluster: Cluster) -> tuple[str, ...]:
    version = f"v{cluster.kubernetes_version}"
    release = cluster.kubernetes
    return (
        *(f"{KUBEADM_REGISTRY}/{name}:{version}" for name in KUBEADM_COMPONENTS),
        release.coredns_image,
        release.pause_image,
        release.etcd_image,
    )


def cni_images(cluster: Cluster, cni: CniAssets | None = None) -> tuple[str, ...]:
    cni = cni if cni is not None else assets(cluster)
    return cni.images if cni else ()


def addon_images(cluster: Cluster) -> tuple[str, ...]:
    """Images of the add-ons the config turns on: kube-vip, the OpenStack cloud provider."""
    images: list[str] = [kubevip.image()] if cluster.load_balancer == "kube-vip" else []
    if cluster.openstack is not None and cluster.openstack.cloud_provider:
        images.extend(cloud_provider.cloud_provider_release(cluster).all_images())
    return tuple(images)


def first_boot_images(cluster: Cluster, cni: CniAssets | None = None) -> FirstBootImages:
    return FirstBootImages(kubeadm=kubeadm_images(cluster), cni=cni_images(cluster, cni), addons=addon_images(cluster))
