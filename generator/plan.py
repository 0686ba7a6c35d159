"""Stage 4: decide what each node gets. The first control-plane node inits; the other control-plane
nodes join as control planes and get the shared CAs; workers join with the token and CA hash only.

The shared CAs land in kgen's own root-only folder, not in /etc/kubernetes/pki: ``kubeadm reset``
empties the certificates folder (cmd/kubeadm/app/cmd/phases/reset/cleanupnode.go, resetConfigDir),
and the first-boot script resets between attempts. It copies kgen's set into kubeadm's folder before
every ``kubeadm init`` / ``kubeadm join``, so a retry still has the cluster's own CAs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from generator import cni as cni_assets
from generator import kubeadm, kubevip
from generator.etcd_restore import EtcdRestore
from generator.model import Cluster, Node
from generator.secrets import SecretsBundle

Action = Literal["init", "join-control-plane", "join"]

# kubeadm's certificates folder (ClusterConfiguration.certificatesDir, the default).
PKI_DIR = "/etc/kubernetes/pki"
# kgen's copy of the shared PKI, outside anything kubeadm reset cleans; the script keeps it 0700.
KGEN_PKI_DIR = "/etc/kgen/pki"


@dataclass(frozen=True)
class GuestFile:
    """A file cloud-init writes on the node."""

    path: str
    content: str
    permissions: str  # octal string, as cloud-init's write_files wants it
    secret: bool = False


@dataclass(frozen=True)
class SharedPkiFile:
    """One file of the shared PKI: its name under both folders and its mode in kubeadm's folder."""

    name: str  # relative to PKI_DIR and KGEN_PKI_DIR, e.g. "etcd/ca.key"
    permissions: str
    content: str
    secret: bool

    @property
    def guest_file(self) -> GuestFile:
        return GuestFile(f"{KGEN_PKI_DIR}/{self.name}", self.content, self.permissions, secret=self.secret)


@dataclass(frozen=True)
class NodePlan:
    node: Node
    action: Action
    kubeadm_documents: tuple[dict[str, Any], ...]
    shared_pki: tuple[SharedPkiFile, ...]
    cni: cni_assets.CniAssets | None
    # Seconds to wait before the first join attempt: extra control-plane nodes go one after another.
    join_delay_seconds: int = 0
    # Staged kube-vip static-pod manifests (control-plane nodes with loadBalancer: kube-vip).
    kube_vip_files: tuple[GuestFile, ...] = ()
    # --- hook (issue 14, kgen restore): set only by pipeline.restore on the first control plane ---
    etcd_restore: EtcdRestore | None = None

    @property
    def pki(self) -> tuple[GuestFile, ...]:
        """What cloud-init writes: kgen's copy of the shared PKI (control-plane nodes only)."""
        return tuple(f.guest_file for f in self.shared_pki)

    @property
    def holds_private_keys(self) -> bool:
        return any(f.secret for f in self.shared_pki)


@dataclass(frozen=True)
class ClusterPlan:
    cluster: Cluster
    secrets: SecretsBundle
    nodes: tuple[NodePlan, ...]


def shared_pki(secrets: SecretsBundle) -> tuple[SharedPkiFile, ...]:
    """The CAs and service-account keys every control-plane node must share: the set kubeadm's join
    preflight wants when there is no certificateKey (certs.SharedCertificateExists in
    cmd/kubeadm/app/phases/certs/certs.go). kubeadm init uses files that already exist instead of
    generating them (kubeadm-certs.md, "custom certificates")."""
    return (
        SharedPkiFile("ca.crt", "0644", secrets.ca.certificate, secret=False),
        SharedPkiFile("ca.key", "0600", secrets.ca.key, secret=True),
        SharedPkiFile("etcd/ca.crt", "0644", secrets.etcd_ca.certificate, secret=False),
        SharedPkiFile("etcd/ca.key", "0600", secrets.etcd_ca.key, secret=True),
        SharedPkiFile("front-proxy-ca.crt", "0644", secrets.front_proxy_ca.certificate, secret=False),
        SharedPkiFile("front-proxy-ca.key", "0600", secrets.front_proxy_ca.key, secret=True),
        SharedPkiFile("sa.pub", "0644", secrets.service_account_pub, secret=False),
        SharedPkiFile("sa.key", "0600", secrets.service_account_key, secret=True),
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
        shared_pki=shared_pki(secrets) if node.is_control_plane else (),
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
