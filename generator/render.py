"""Stage 5: turn a cluster plan into the output tree, as bytes in memory. Pure: the same config,
secrets and kgen version give byte-identical output (no timestamps, stable order, gzip mtime 0)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from generator import (
    __version__,
    certs,
    cloudinit,
    etcd_backup,
    etcd_restore,
    kubevip,
    openstack,
    packer,
    prepare,
    templating,
    yamldump,
)
from generator.cni import RENDERED_DIR
from generator.plan import KGEN_PKI_DIR, PKI_DIR, ClusterPlan, GuestFile, NodePlan
from generator.tree import PUBLIC_MODE, SECRET_MODE, OutputFile

KUBEADM_CONFIG_PATH = "/etc/kgen/kubeadm.yaml"
BOOTSTRAP_PATH = "/usr/local/sbin/kgen-bootstrap"


@dataclass(frozen=True)
class NodeSummary:
    name: str
    role: str
    action: str
    ip: str | None
    user_data_bytes: int
    user_data_base64_bytes: int
    gzipped: bool
    holds_private_keys: bool


@dataclass(frozen=True)
class RenderedCluster:
    name: str
    files: dict[str, OutputFile]  # path relative to DIR/<cluster>/ -> content
    nodes: tuple[NodeSummary, ...]


def bootstrap_script(plan: ClusterPlan, node_plan: NodePlan, phases: list[prepare.Phase]) -> str:
    cluster = plan.cluster
    return templating.render(
        "bootstrap.sh.j2",
        kgen_version=__version__,
        cluster=cluster,
        node=node_plan.node,
        action=node_plan.action,
        join_delay_seconds=node_plan.join_delay_seconds,
        kube_vip=kubevip if node_plan.kube_vip_files else None,
        etcd_backup_commands=etcd_backup.enable_commands(cluster.etcd_backup, node_plan.node),
        certs_renewal_commands=certs.enable_commands(cluster.certificate_renewal, node_plan.node),
        cloud_provider_kubectl=(
            openstack.cloud_provider_kubectl_args(cluster, cluster.openstack) if node_plan.action == "init" else []
        ),
        cloud_provider_downloads=(
            openstack.cloud_provider_downloads(cluster, cluster.openstack) if node_plan.action == "init" else []
        ),
        cni=node_plan.cni,
        rendered_cni_dir=RENDERED_DIR,
        paths={"kubeadm_config": KUBEADM_CONFIG_PATH, "pki": PKI_DIR, "kgen_pki": KGEN_PKI_DIR},
        shared_pki=[(f.name, f.permissions) for f in node_plan.shared_pki],
        phases=phases,
        image_guard=prepare.image_guard(cluster),
        # hook (issue 14, kgen restore): the restore step before kubeadm init, in restore mode only
        etcd_restore=(
            {"script": etcd_restore.RESTORE_SCRIPT, "ignore_preflight": etcd_restore.IGNORE_PREFLIGHT}
            if node_plan.etcd_restore is not None
            else None
        ),
    )


def guest_files(
    plan: ClusterPlan, node_plan: NodePlan, phases: list[prepare.Phase]
) -> tuple[list[GuestFile], str, str]:
    """Every file the node's user-data writes, the bootstrap script's text and the kubeadm config."""
    script = bootstrap_script(plan, node_plan, phases)
    kubeadm_yaml = yamldump.dump_all(node_plan.kubeadm_documents)
    files = [
        *node_plan.pki,
        GuestFile(KUBEADM_CONFIG_PATH, kubeadm_yaml, "0600", secret=True),
        *node_plan.kube_vip_files,
        *(GuestFile(p.path, p.script, "0700") for p in phases),
    ]
    if node_plan.cni is not None:
        files.extend(GuestFile(f"{RENDERED_DIR}/{name}", text, "0644") for name, text in node_plan.cni.rendered)
    files.extend(etcd_backup.guest_files(plan.cluster, plan.cluster.etcd_backup, node_plan.node))
    files.extend(certs.guest_files(plan.cluster, plan.cluster.certificate_renewal, node_plan.node))
    files.extend(openstack.cloud_provider_guest_files(plan.cluster, plan.cluster.openstack, node_plan.node))
    if node_plan.etcd_restore is not None:  # hook (issue 14, kgen restore)
        files.extend(etcd_restore.guest_files(plan.cluster, node_plan.node, node_plan.etcd_restore))
    files.append(GuestFile(BOOTSTRAP_PATH, script, "0700"))
    return files, script, kubeadm_yaml


def render_node(
    plan: ClusterPlan, node_plan: NodePlan, phases: list[prepare.Phase]
) -> tuple[dict[str, OutputFile], NodeSummary]:
    cluster, node = plan.cluster, node_plan.node
    files, script, kubeadm_yaml = guest_files(plan, node_plan, phases)
    banner = (
        f"kgen {__version__}: {node_plan.action} node {node.name} ({node.role}) of cluster {cluster.name}, "
        f"Kubernetes v{cluster.kubernetes_version}, image mode {cluster.image_mode}.\n"
        + (
            "Holds the cluster CA private keys: treat this file like the keys themselves."
            if node_plan.holds_private_keys
            else "Holds the bootstrap token (no private keys)."
        )
    )
    text = cloudinit.dump(cloudinit.cloud_config(cluster, node, files, [[BOOTSTRAP_PATH]]), banner)
    encoded = cloudinit.encode(text, node=node.name)
    prefix = f"nodes/{node.name}"
    out = {
        f"{prefix}/user-data": OutputFile(encoded.content, SECRET_MODE),
        f"{prefix}/meta-data": OutputFile(cloudinit.meta_data(cluster, node).encode(), PUBLIC_MODE),
        f"{prefix}/kubeadm.yaml": OutputFile(kubeadm_yaml.encode(), SECRET_MODE),
        f"{prefix}/bootstrap.sh": OutputFile(script.encode(), PUBLIC_MODE),
    }
    summary = NodeSummary(
        name=node.name,
        role=node.role,
        action=node_plan.action,
        ip=node.ip,
        user_data_bytes=len(encoded.content),
        user_data_base64_bytes=encoded.base64_size,
        gzipped=encoded.gzipped,
        holds_private_keys=node_plan.holds_private_keys,
    )
    return out, summary


def render_cluster(plan: ClusterPlan) -> RenderedCluster:
    files: dict[str, OutputFile] = {}
    summaries: list[NodeSummary] = []
    phases = prepare.phases(plan.cluster)
    for node_plan in plan.nodes:
        node_files, summary = render_node(plan, node_plan, phases)
        files.update(node_files)
        summaries.append(summary)
    files["nodes.json"] = OutputFile(_index(plan, summaries).encode(), PUBLIC_MODE)
    files.update(packer.packer_files(plan.cluster))
    if plan.cluster.openstack is not None:
        files.update(openstack.openstack_files(plan.cluster, plan.cluster.openstack, summaries, files))
    return RenderedCluster(name=plan.cluster.name, files=dict(sorted(files.items())), nodes=tuple(summaries))


def _index(plan: ClusterPlan, summaries: list[NodeSummary]) -> str:
    """A machine-readable index of the render, for scripts and other tools (no secret values)."""
    cluster = plan.cluster
    index = {
        "kgenVersion": __version__,
        "cluster": cluster.name,
        "kubernetesVersion": str(cluster.kubernetes_version),
        "controlPlaneEndpoint": cluster.endpoint,
        "imageMode": cluster.image_mode,
        "os": cluster.os,
        "cni": {"plugin": cluster.cni.plugin, "version": cluster.cni.version},
        "caCertHash": plan.secrets.ca_cert_hash,
        "nodes": [
            {
                "name": s.name,
                "role": s.role,
                "action": s.action,
                "ip": s.ip,
                "userData": {
                    "bytes": s.user_data_bytes,
                    "base64Bytes": s.user_data_base64_bytes,
                    "novaLimit": cloudinit.NOVA_USER_DATA_LIMIT,
                    "gzipped": s.gzipped,
                },
                "holdsPrivateKeys": s.holds_private_keys,
            }
            for s in summaries
        ],
    }
    return json.dumps(index, indent=2) + "\n"
