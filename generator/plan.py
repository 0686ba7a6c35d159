"""Stage 5: decide what each node gets and what runs there (files, preparation phases, kubeadm
documents, CNI, add-on steps); the emitters only format this. The first control-plane node inits; the
other control-plane nodes join as control planes and get the shared CAs; workers join with the token and CA hash only.

The shared CAs land in kgen's own root-only folder, not in /etc/kubernetes/pki: ``kubeadm reset``
empties the certificates folder (cmd/kubeadm/app/cmd/phases/reset/cleanupnode.go, resetConfigDir),
and the first-boot script resets between attempts. It copies kgen's set into kubeadm's folder before
every ``kubeadm init`` / ``kubeadm join``, so a retry still has the cluster's own CAs."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from generator import certs, cloud_provider, etcd_backup, etcd_restore, images, kubeadm, kubevip, prepare
from generator import cni as cni_assets
from generator.etcd_restore import EtcdRestore
from generator.guest import KGEN_PKI_DIR, GuestFile
from generator.model import Cluster, Node
from generator.records import record
from generator.secrets import SecretsBundle
from generator.versions import ManifestFile

Action = Literal["init", "join-control-plane", "join"]


@record
class SharedPkiFile:
    """One file of the shared PKI: its name under both folders and its mode in kubeadm's folder."""

    name: str  # relative to PKI_DIR and KGEN_PKI_DIR, e.g. "etcd/ca.key"
    permissions: str
    content: str
    secret: bool

    @property
    def guest_file(self) -> GuestFile:
        return GuestFile(f"{KGEN_PKI_DIR}/{self.name}", self.content, self.permissions, secret=self.secret)


@record
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
    phases: tuple[prepare.Phase, ...] = ()
    # Files of the add-ons: the etcd backups and certificate renewal (control planes), the cloud provider
    # (first control plane).
    addon_files: tuple[GuestFile, ...] = ()
    etcd_backup_commands: tuple[tuple[str, ...], ...] = ()
    certs_renewal_commands: tuple[tuple[str, ...], ...] = ()
    cloud_provider_kubectl: tuple[tuple[str, ...], ...] = ()
    cloud_provider_downloads: tuple[ManifestFile, ...] = ()
    image_guard: tuple[prepare.GuardField, ...] = ()
    # Set only by :func:`with_restore` (kgen restore) on the first control plane.
    etcd_restore: EtcdRestore | None = None
    restore_files: tuple[GuestFile, ...] = ()

    @property
    def cni_files(self) -> tuple[GuestFile, ...]:
        if self.cni is None:
            return ()
        return tuple(GuestFile(f"{cni_assets.RENDERED_DIR}/{name}", text, "0644") for name, text in self.cni.rendered)

    @property
    def pki(self) -> tuple[GuestFile, ...]:
        """What cloud-init writes: kgen's copy of the shared PKI (control-plane nodes only)."""
        return tuple(f.guest_file for f in self.shared_pki)

    @property
    def holds_private_keys(self) -> bool:
        return any(f.secret for f in self.shared_pki)


@record
class ClusterPrep:
    """What every node and the golden image share, computed once per cluster: the CNI's assets, the
    two preparation scripts, the first-boot image table."""

    cluster: Cluster
    cni: cni_assets.CniAssets | None
    scripts: prepare.Scripts
    phases: tuple[prepare.Phase, ...]
    images: images.FirstBootImages
    # What a golden first boot checks in /etc/kgen/image.json (empty in install mode); the same on every node.
    image_guard: tuple[prepare.GuardField, ...]


def prepare_cluster(cluster: Cluster) -> ClusterPrep:
    cni = cni_assets.assets(cluster)
    scripts = prepare.scripts(cluster, cni)
    return ClusterPrep(
        cluster=cluster,
        cni=cni,
        scripts=scripts,
        phases=tuple(prepare.phases(cluster, scripts)),
        images=images.first_boot_images(cluster, cni),
        image_guard=tuple(prepare.image_guard(cluster, scripts.configure)),
    )


@record
class ClusterPlan:
    cluster: Cluster
    secrets: SecretsBundle
    nodes: tuple[NodePlan, ...]
    prep: ClusterPrep


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


def node_plan(cluster: Cluster, node: Node, secrets: SecretsBundle, prep: ClusterPrep | None = None) -> NodePlan:
    prep = prep if prep is not None else prepare_cluster(cluster)
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
        cni=prep.cni if first else None,
        join_delay_seconds=delay,
        kube_vip_files=kube_vip_files(cluster) if node.is_control_plane else (),
        phases=prep.phases,
        addon_files=(
            *etcd_backup.guest_files(cluster, cluster.etcd_backup, node),
            *certs.guest_files(cluster, cluster.certificate_renewal, node),
            *cloud_provider.cloud_provider_guest_files(cluster, cluster.openstack, node),
        ),
        etcd_backup_commands=tuple(tuple(c) for c in etcd_backup.enable_commands(cluster.etcd_backup, node)),
        certs_renewal_commands=tuple(tuple(c) for c in certs.enable_commands(cluster.certificate_renewal, node)),
        cloud_provider_kubectl=tuple(
            tuple(c) for c in (cloud_provider.cloud_provider_kubectl_args(cluster, cluster.openstack) if first else [])
        ),
        cloud_provider_downloads=tuple(
            cloud_provider.cloud_provider_downloads(cluster, cluster.openstack) if first else []
        ),
        image_guard=prep.image_guard,
    )


def with_restore(cluster: Cluster, node_plan: NodePlan, request: EtcdRestore) -> NodePlan:
    """The first control plane's plan in restore mode (``kgen restore``): the restore step runs right
    before ``kubeadm init``, and its files follow the add-ons'."""
    return dataclasses.replace(
        node_plan,
        etcd_restore=request,
        restore_files=tuple(etcd_restore.guest_files(cluster, node_plan.node, request)),
    )


def kube_vip_files(cluster: Cluster) -> tuple[GuestFile, ...]:
    if cluster.load_balancer != "kube-vip":
        return ()
    return tuple(GuestFile(path, text, "0644") for path, text in kubevip.staged_manifests(cluster).items())


def plan(cluster: Cluster, secrets: SecretsBundle) -> ClusterPlan:
    prep = prepare_cluster(cluster)
    return ClusterPlan(
        cluster=cluster,
        secrets=secrets,
        nodes=tuple(node_plan(cluster, node, secrets, prep) for node in cluster.nodes),
        prep=prep,
    )
