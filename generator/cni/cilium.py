"""Cilium: the pinned Helm chart, installed with helm and the values rendered from the config."""

from __future__ import annotations

from typing import Any

from generator import yamldump
from generator.cni.base import CniPlugin
from generator.model import Cluster
from generator.versions import CniRelease, Download


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


def rendered(cluster: Cluster, release: CniRelease) -> tuple[tuple[str, str], ...]:
    return (("cilium-values.yaml", yamldump.dump(cilium_values(cluster))),)


def downloads(release: CniRelease) -> tuple[Download, ...]:
    return (Download.of(release.extra["chart"]),)


PLUGIN = CniPlugin(name="cilium", rendered=rendered, downloads=downloads)
