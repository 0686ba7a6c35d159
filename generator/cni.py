"""What kgen knows about each CNI: the pinned upstream manifests (from the version table), and the
resources kgen renders from the cluster config (pod CIDR and friends), emitted as data."""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass
from typing import Any

from generator import mirrors, yamldump
from generator.model import Cluster
from generator.versions import CniRelease, Download, ManifestFile

# Where a golden image keeps the downloaded upstream manifests (the bake's install phase writes them),
# and where user-data puts the resources rendered for this cluster.
IMAGE_MANIFEST_DIR = "/opt/kgen/cni"
RENDERED_DIR = "/etc/kgen/cni"


@dataclass(frozen=True)
class CniAssets:
    plugin: str
    version: str
    downloads: tuple[Download, ...]
    # (file name, content) rendered for this cluster, applied after the upstream manifests.
    rendered: tuple[tuple[str, str], ...]
    images: tuple[str, ...]

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


def calico_images(release: CniRelease) -> tuple[str, ...]:
    """What a Calico first boot pulls, from the version table: the operator image (tigera-operator.yaml
    names it), then each component the operator deploys for kgen's resources, named the way
    tigera/operator v1.40.3 pkg/components/references.go GetReference names it with spec.registry set and
    no imagePath, imagePrefix or ImageSet: ``<registry><component>:<version>`` (the registry gets a
    trailing "/" when it lacks one)."""
    registry = str(release.extra["registry"])
    registry = registry if registry.endswith("/") else registry + "/"
    components = [f"{registry}{name}:{release.version}" for name in release.extra["components"]]
    return (str(release.extra["operatorImage"]), *components)


def calico_dataplane(cluster: Cluster) -> str:
    """Felix's Linux dataplane, matched to kube-proxy's mode. tigera/operator v1.40.3 defaults
    spec.calicoNetwork.linuxDataplane to Iptables (pkg/controller/installation/core_controller.go
    fillDefaults) and then sets FelixConfiguration nftablesMode Disabled for any dataplane but Nftables
    and BPF (setNftablesMode, api/v1 InstallationSpec.IsNftables), so with kube-proxy in nftables mode
    Felix would program iptables beside kube-proxy's nftables rules unless the Installation says Nftables."""
    return "Nftables" if cluster.proxy_mode == "nftables" else "Iptables"


def calico_resources(cluster: Cluster, release: CniRelease) -> list[dict[str, Any]]:
    # The operator's Installation; its pool "cannot be modified post-install", so it is rendered from
    # the config (https://docs.tigera.io/calico/latest/networking/ipam/initial-ippool). spec.registry is
    # the version table's, the same the pre-pulled image names are made from (calico_images).
    installation = {
        "apiVersion": "operator.tigera.io/v1",
        "kind": "Installation",
        "metadata": {"name": "default"},
        "spec": {
            "registry": str(release.extra["registry"]),
            "calicoNetwork": {
                "linuxDataplane": calico_dataplane(cluster),
                "ipPools": [
                    {
                        "name": "default-ipv4-ippool",
                        "blockSize": 26,
                        "cidr": cluster.cni.calico_pool_cidr,
                        "encapsulation": cluster.cni.calico_encapsulation,
                        "natOutgoing": "Enabled",
                        "nodeSelector": "all()",
                    }
                ],
            },
        },
    }
    api_server = {
        "apiVersion": "operator.tigera.io/v1",
        "kind": "APIServer",
        "metadata": {"name": "default"},
        "spec": {},
    }
    return [installation, api_server]


def flannel_resources(cluster: Cluster) -> list[dict[str, Any]]:
    # The upstream manifest hard-codes 10.244.0.0/16; this ConfigMap replaces its net-conf.json with
    # the cluster's pod subnet (flannel README: "If you use custom podCIDR ... modify the network").
    cni_conf = {
        "name": "cbr0",
        "cniVersion": "0.3.1",
        "plugins": [
            {"type": "flannel", "delegate": {"hairpinMode": True, "isDefaultGateway": True}},
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }
    net_conf = {"Network": cluster.pod_subnet, "EnableNFTables": False, "Backend": {"Type": "vxlan"}}
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "kube-flannel-cfg",
                "namespace": "kube-flannel",
                "labels": {"app": "flannel", "k8s-app": "flannel", "tier": "node"},
            },
            "data": {
                "cni-conf.json": json.dumps(cni_conf, indent=2) + "\n",
                "net-conf.json": json.dumps(net_conf, indent=2) + "\n",
            },
        }
    ]


def cilium_values(cluster: Cluster) -> dict[str, Any]:
    # The default cluster-pool IPAM ignores kubeadm's podSubnet; kubernetes mode uses each node's
    # spec.podCIDR, which kubeadm allocates from podSubnet (https://docs.cilium.io/en/stable/network/concepts/ipam/).
    # useDigest false for the three images the chart deploys with these values: with the chart's default
    # (true) it asks for <repository>:<tag>@<digest>, which is not the name a golden image pre-pulled
    # (versions.yaml cni.cilium.images holds <repository>:<tag>).
    # Legacy host routing, pinned: pod traffic then leaves through the host stack, where the configure
    # phase's nftables forward-hook drop keeps pods away from the metadata service. eBPF host routing
    # "will also bypass netfilter in the host namespace" (cilium/cilium install/kubernetes/cilium/values.yaml,
    # bpf.hostLegacyRouting); it needs eBPF kube-proxy replacement and eBPF masquerading
    # (Documentation/operations/performance/tuning.rst, "eBPF Host-Routing"), so it is off with these
    # values anyway, and the pin keeps it off should either be turned on.
    return {
        "ipam": {"mode": "kubernetes"},
        "operator": {"replicas": 1, "image": {"useDigest": False}},
        "kubeProxyReplacement": False,
        "bpf": {"hostLegacyRouting": True},
        "image": {"useDigest": False},
        "envoy": {"image": {"useDigest": False}},
    }


def assets(cluster: Cluster) -> CniAssets | None:
    release = cluster.cni.release
    if release is None:
        return None
    rendered: list[tuple[str, str]]
    if cluster.cni.plugin == "calico":
        rendered = [("custom-resources.yaml", yamldump.dump_all(calico_resources(cluster, release)))]
    elif cluster.cni.plugin == "flannel":
        rendered = [("kube-flannel-cfg.yaml", yamldump.dump_all(flannel_resources(cluster)))]
    else:
        rendered = [("cilium-values.yaml", yamldump.dump(cilium_values(cluster)))]
    downloads = release.manifests
    if cluster.cni.plugin == "cilium":
        downloads = (Download.of(release.extra["chart"]),)
    # hook (issue 15): the download mirror serves the same pinned files
    downloads = tuple(mirrors.download(cluster.mirrors, d) for d in downloads)
    return CniAssets(
        plugin=cluster.cni.plugin,
        version=release.version,
        downloads=downloads,
        rendered=tuple(rendered),
        images=calico_images(release) if cluster.cni.plugin == "calico" else release.images,
    )
