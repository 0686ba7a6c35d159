"""Calico through the Tigera operator: the operator's CRDs and manifest, then an Installation and an
APIServer rendered from the config."""

from __future__ import annotations

from typing import Any

from generator import yamldump
from generator.cni.base import CniPlugin
from generator.model import Cluster
from generator.versions import CniRelease


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


def rendered(cluster: Cluster, release: CniRelease) -> tuple[tuple[str, str], ...]:
    return (("custom-resources.yaml", yamldump.dump_all(calico_resources(cluster, release))),)


PLUGIN = CniPlugin(name="calico", rendered=rendered, images=calico_images)
