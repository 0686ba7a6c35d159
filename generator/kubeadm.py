"""kubeadm, kubelet and kube-proxy documents, built as data with the field names each API version
requires (kubeadm.k8s.io/v1beta3 for 1.30, v1beta4 for 1.31 and later; reference:
https://kubernetes.io/docs/reference/config-api/kubeadm-config.v1beta4/)."""

from __future__ import annotations

from typing import Any

from generator import cloud_provider
from generator.model import Cluster, Node, go_duration
from generator.secrets import SecretsBundle

KUBELET_API = "kubelet.config.k8s.io/v1beta1"
KUBE_PROXY_API = "kubeproxy.config.k8s.io/v1alpha1"
TOKEN_GROUPS = ["system:bootstrappers:kubeadm:default-node-token"]
TOKEN_USAGES = ["signing", "authentication"]


def _extra_args(cluster: Cluster, args: dict[str, str]) -> Any:
    """v1beta3 takes a map; v1beta4 a list of {name, value} (kubernetes/kubernetes#125029)."""
    if cluster.kubernetes.kubeadm_v1beta4:
        return [{"name": name, "value": value} for name, value in sorted(args.items())]
    return dict(sorted(args.items()))


def node_registration(cluster: Cluster, node: Node) -> dict[str, Any]:
    kubelet_args: dict[str, str] = {}
    if node.ip:
        kubelet_args["node-ip"] = node.ip
    if node.labels:
        kubelet_args["node-labels"] = ",".join(f"{k}={v}" for k, v in node.labels)
    kubelet_args |= cloud_provider.kubelet_extra_args(cluster.openstack)
    registration: dict[str, Any] = {"name": node.name, "criSocket": cluster.cri_socket}
    if cluster.image_mode == "golden":
        # The bake pre-pulled every image kubeadm needs, and a golden first boot touches no network:
        # kubeadm's ImagePullCheck skips every image with policy Never instead of asking a registry
        # (RunPullImagesCheck in cmd/kubeadm/app/preflight/checks.go). A missing image then fails
        # clearly on the node rather than waiting on a registry that may be out of reach.
        registration["imagePullPolicy"] = "Never"
    if kubelet_args:
        registration["kubeletExtraArgs"] = _extra_args(cluster, kubelet_args)
    if node.taints is not None:
        # An explicit list (even empty) replaces kubeadm's default control-plane taint.
        registration["taints"] = [
            {"key": t.key, **({"value": t.value} if t.value is not None else {}), "effect": t.effect}
            for t in node.taints
        ]
    return registration


def _api_endpoint(cluster: Cluster, node: Node) -> dict[str, Any]:
    if node.ip is None:
        raise ValueError(f"node {node.name} has no IP")
    return {"advertiseAddress": node.ip, "bindPort": cluster.endpoint_port}


def init_configuration(cluster: Cluster, node: Node, secrets: SecretsBundle) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "apiVersion": cluster.kubernetes.kubeadm_api_version,
        "kind": "InitConfiguration",
        "bootstrapTokens": [
            {
                "token": secrets.init_token,
                "description": f"kgen bootstrap token for cluster {cluster.name}",
                "ttl": go_duration(cluster.token_ttl_seconds),
                "usages": TOKEN_USAGES,
                "groups": TOKEN_GROUPS,
            }
        ],
        "nodeRegistration": node_registration(cluster, node),
    }
    if node.ip:
        doc["localAPIEndpoint"] = _api_endpoint(cluster, node)
    return doc


def cert_sans(cluster: Cluster) -> list[str]:
    sans = [cluster.endpoint_host, *(n.ip for n in cluster.control_planes if n.ip), *cluster.extra_cert_sans]
    return list(dict.fromkeys(sans))


def cluster_configuration(cluster: Cluster) -> dict[str, Any]:
    return {
        "apiVersion": cluster.kubernetes.kubeadm_api_version,
        "kind": "ClusterConfiguration",
        "clusterName": cluster.name,
        "kubernetesVersion": f"v{cluster.kubernetes_version}",
        "controlPlaneEndpoint": cluster.endpoint,
        "networking": {
            "podSubnet": cluster.pod_subnet,
            "serviceSubnet": cluster.service_subnet,
            "dnsDomain": cluster.dns_domain,
        },
        "apiServer": {"certSANs": cert_sans(cluster)},
    }


def kubelet_configuration() -> dict[str, Any]:
    # kubeadm defaults to systemd since 1.22, but say it: containerd runs with SystemdCgroup = true (CRI-O
    # with cgroup_manager = "systemd") and the two must match (https://kubernetes.io/docs/setup/production-environment/container-runtimes/).
    return {"apiVersion": KUBELET_API, "kind": "KubeletConfiguration", "cgroupDriver": "systemd"}


def kube_proxy_configuration(cluster: Cluster) -> dict[str, Any]:
    return {
        "apiVersion": KUBE_PROXY_API,
        "kind": "KubeProxyConfiguration",
        "mode": cluster.proxy_mode,
        "clusterCIDR": cluster.pod_subnet,
    }


def join_configuration(cluster: Cluster, node: Node, secrets: SecretsBundle) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "apiVersion": cluster.kubernetes.kubeadm_api_version,
        "kind": "JoinConfiguration",
        "discovery": {
            "bootstrapToken": {
                "apiServerEndpoint": cluster.endpoint,
                "token": secrets.bootstrap_token,
                "caCertHashes": [secrets.ca_cert_hash],
            }
        },
        "nodeRegistration": node_registration(cluster, node),
    }
    if node.is_control_plane:
        # The shared CAs and keys arrive in user-data (no --upload-certs two-hour window), so no
        # certificateKey is needed; kubeadm signs this node's certificates from them.
        doc["controlPlane"] = {"localAPIEndpoint": _api_endpoint(cluster, node)} if node.ip else {}
    return doc


def documents(cluster: Cluster, node: Node, secrets: SecretsBundle) -> list[dict[str, Any]]:
    """The kubeadm config file for ``node``: init documents for the first control-plane node, a
    JoinConfiguration for every other node."""
    if node == cluster.first_control_plane:
        return [
            init_configuration(cluster, node, secrets),
            cluster_configuration(cluster),
            kubelet_configuration(),
            kube_proxy_configuration(cluster),
        ]
    return [join_configuration(cluster, node, secrets)]
