"""Stage 4: decide what each node gets. The first control-plane node inits; the other control-plane
nodes join as control planes and get the shared CAs; workers join with the token and CA hash only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from generator import cni as cni_assets
from generator import kubeadm, kubevip
from generator.model import Cluster, Node
from generator.secrets import SecretsBundle

Action = Literal["init", "join-control-plane", "join"]

PKI_DIR = "/etc/kubernetes/pki"


@dataclass(frozen=True)
class GuestFile:
    """A file cloud-init writes on the node."""

    path: str
    content: str
    permissions: str  # octal string, as cloud-init's write_files wants it
    secret: bool = False


@dataclass(frozen=True)
class NodePlan:
    node: Node
    action: Action
    kubeadm_documents: tuple[dict[str, Any], ...]
    pki: tuple[GuestFile, ...]
    cni: cni_assets.CniAssets | None
    # Seconds to wait before the first join attempt: extra control-plane nodes go one after another.
    join_delay_seconds: int = 0
    # Staged kube-vip static-pod manifests (control-plane nodes with loadBalancer: kube-vip).
    kube_vip_files: tuple[GuestFile, ...] = ()

    @property
    def holds_private_keys(self) -> bool:
        return any(f.secret for f in self.pki)


@dataclass(frozen=True)
class ClusterPlan:
    cluster: Cluster
    secrets: SecretsBundle
    nodes: tuple[NodePlan, ...]


def shared_pki(secrets: SecretsBundle) -> tuple[GuestFile, ...]:
    """The CAs and service-account keys every control-plane node must share. kubeadm uses files that
    already exist instead of generating them (kubeadm-certs.md, "custom certificates")."""
    return (
        GuestFile(f"{PKI_DIR}/ca.crt", secrets.ca.certificate, "0644"),
        GuestFile(f"{PKI_DIR}/ca.key", secrets.ca.key, "0600", secret=True),
        GuestFile(f"{PKI_DIR}/etcd/ca.crt", secrets.etcd_ca.certificate, "0644"),
        GuestFile(f"{PKI_DIR}/etcd/ca.key", secrets.etcd_ca.key, "0600", secret=True),
        GuestFile(f"{PKI_DIR}/front-proxy-ca.crt", secrets.front_proxy_ca.certificate, "0644"),
        GuestFile(f"{PKI_DIR}/front-proxy-ca.key", secrets.front_proxy_ca.key, "0600", secret=True),
        GuestFile(f"{PKI_DIR}/sa.pub", secrets.service_account_pub, "0644"),
        GuestFile(f"{PKI_DIR}/sa.key", secrets.service_account_key, "0600", secret=True),
    )


def node_plan(cluster: Cluster, node: Node, secrets: SecretsBundle) -> NodePlan:
    first = node == cluster.first_control_plane
    action: Action = "init" if first else ("join-control-plane" if node.is_control_plane else "join")
    delay = 0
    if action == "join-control-plane":  # the second control-plane node waits 1x the stagger, the third 2x, ...
        delay = cluster.control_planes.index(node) * cluster.bounds.control_plane_join_stagger_seconds
    return NodePlan(
        node=node,
        action=action,
        kubeadm_documents=tuple(kubeadm.documents(cluster, node, secrets)),
        pki=shared_pki(secrets) if node.is_control_plane else (),
        cni=cni_assets.assets(cluster) if first else None,
        join_delay_seconds=delay,
        kube_vip_files=kube_vip_files(cluster) if node.is_control_plane else (),
    )


def kube_vip_files(cluster: Cluster) -> tuple[GuestFile, ...]:
    if cluster.load_balancer != "kube-vip":
        return ()
    return tuple(GuestFile(path, text, "0644") for path, text in kubevip.staged_manifests(cluster).items())


def plan(cluster: Cluster, secrets: SecretsBundle) -> ClusterPlan:
    return ClusterPlan(
        cluster=cluster,
        secrets=secrets,
        nodes=tuple(node_plan(cluster, node, secrets) for node in cluster.nodes),
    )
