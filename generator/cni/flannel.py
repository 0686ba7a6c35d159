"""Flannel: the upstream manifest, then its ConfigMap rendered with the cluster's pod subnet."""

from __future__ import annotations

import json
from typing import Any

from generator import yamldump
from generator.cni.base import CniPlugin
from generator.model import Cluster
from generator.versions import CniRelease


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


def rendered(cluster: Cluster, release: CniRelease) -> tuple[tuple[str, str], ...]:
    return (("kube-flannel-cfg.yaml", yamldump.dump_all(flannel_resources(cluster))),)


PLUGIN = CniPlugin(name="flannel", rendered=rendered)
