"""Turn a cluster plan into the output tree, as bytes in memory. Pure: the same config, secrets and kgen
version give byte-identical output (no timestamps, stable order, gzip mtime 0)."""

from __future__ import annotations

from generator import __version__, etcd_restore, guest, layout, templating, yamldump
from generator.emit import cloudinit, packer
from generator.emit.index import NodeSummary, index
from generator.guest import BOOTSTRAP_PATH, KUBEADM_CONFIG_PATH, GuestFile
from generator.plan import ClusterPlan, NodePlan
from generator.records import record
from generator.tree import PUBLIC_MODE, SECRET_MODE, OutputFile

__all__ = ["NodeSummary", "RenderedCluster", "render_cluster"]


@record
class RenderedCluster:
    name: str
    files: dict[str, OutputFile]  # path relative to DIR/<cluster>/ -> content
    nodes: tuple[NodeSummary, ...]


def bootstrap_script(plan: ClusterPlan, node_plan: NodePlan) -> str:
    return templating.render(
        "bootstrap.sh.j2",
        kgen_version=__version__,
        cluster=plan.cluster,
        node=node_plan.node,
        action=node_plan.action,
        join_delay_seconds=node_plan.join_delay_seconds,
        kube_vip=(
            {
                "MANIFEST_PATH": guest.KUBE_VIP_MANIFEST,
                "STAGED_INIT": guest.KUBE_VIP_STAGED_INIT,
                "STAGED": guest.KUBE_VIP_STAGED,
            }
            if node_plan.kube_vip_files
            else None
        ),
        etcd_backup_commands=[list(c) for c in node_plan.etcd_backup_commands],
        certs_renewal_commands=[list(c) for c in node_plan.certs_renewal_commands],
        cloud_provider_kubectl=[list(c) for c in node_plan.cloud_provider_kubectl],
        cloud_provider_downloads=list(node_plan.cloud_provider_downloads),
        cni=node_plan.cni,
        rendered_cni_dir=guest.CNI_RENDERED_DIR,
        paths={"kubeadm_config": KUBEADM_CONFIG_PATH, "pki": guest.PKI_DIR, "kgen_pki": guest.KGEN_PKI_DIR},
        shared_pki=[(f.name, f.permissions) for f in node_plan.shared_pki],
        phases=list(node_plan.phases),
        image_guard=list(node_plan.image_guard),
        # kgen restore: the restore step before kubeadm init, in restore mode only
        etcd_restore=(
            {"script": etcd_restore.RESTORE_SCRIPT, "ignore_preflight": etcd_restore.IGNORE_PREFLIGHT}
            if node_plan.etcd_restore is not None
            else None
        ),
    )


def guest_files(plan: ClusterPlan, node_plan: NodePlan) -> tuple[list[GuestFile], str, str]:
    """Every file the node's user-data writes, the bootstrap script's text and the kubeadm config."""
    script = bootstrap_script(plan, node_plan)
    kubeadm_yaml = yamldump.dump_all(node_plan.kubeadm_documents)
    files = [
        *node_plan.pki,
        GuestFile(KUBEADM_CONFIG_PATH, kubeadm_yaml, "0600", secret=True),
        *node_plan.kube_vip_files,
        *(GuestFile(p.path, p.script, "0700") for p in node_plan.phases),
        *node_plan.cni_files,
        *node_plan.addon_files,
        *node_plan.restore_files,
        GuestFile(BOOTSTRAP_PATH, script, "0700"),
    ]
    return files, script, kubeadm_yaml


def _encoded(parts: list[str], shared: dict[str, bytes]) -> tuple[bytes, ...]:
    """The parts of :func:`generator.yamldump.dump_parts` as UTF-8, each shared block (odd-numbered)
    encoded once per render and the same bytes object in every node's user-data."""
    out: list[bytes] = []
    for i, part in enumerate(parts):
        if i % 2:
            data = shared.get(part)
            if data is None:
                data = shared[part] = part.encode("utf-8")
            out.append(data)
        elif part:
            out.append(part.encode("utf-8"))
    return tuple(out)


def render_node(
    plan: ClusterPlan, node_plan: NodePlan, shared: dict[str, bytes] | None = None
) -> tuple[dict[str, OutputFile], NodeSummary, cloudinit.EncodedUserData]:
    """One node's files. ``shared`` holds the encoded blocks its user-data shares with other nodes'
    (a render of thousands of nodes keeps one copy of each: see :func:`_encoded`)."""
    cluster, node = plan.cluster, node_plan.node
    files, script, kubeadm_yaml = guest_files(plan, node_plan)
    banner = (
        f"kgen {__version__}: {node_plan.action} node {node.name} ({node.role}) of cluster {cluster.name}, "
        f"Kubernetes v{cluster.kubernetes_version}, image mode {cluster.image_mode}.\n"
        + (
            "Holds the cluster CA private keys: treat this file like the keys themselves."
            if node_plan.holds_private_keys
            else "Holds the bootstrap token (no private keys)."
        )
    )
    parts = cloudinit.dump_parts(cloudinit.cloud_config(cluster, node, files, [[BOOTSTRAP_PATH]]), banner)
    encoded = cloudinit.encode_parts(_encoded(parts, {} if shared is None else shared), node=node.name)
    out = {
        layout.user_data(node.name): OutputFile(encoded.parts, SECRET_MODE),
        layout.meta_data(node.name): OutputFile(cloudinit.meta_data(cluster, node).encode(), PUBLIC_MODE),
        layout.kubeadm_config(node.name): OutputFile(kubeadm_yaml.encode(), SECRET_MODE),
        layout.bootstrap_script(node.name): OutputFile(script.encode(), PUBLIC_MODE),
    }
    summary = NodeSummary(
        name=node.name,
        role=node.role,
        action=node_plan.action,
        ip=node.ip,
        user_data_bytes=encoded.size,
        user_data_base64_bytes=encoded.base64_size,
        gzipped=encoded.gzipped,
        holds_private_keys=node_plan.holds_private_keys,
    )
    return out, summary, encoded


def render_cluster(plan: ClusterPlan) -> RenderedCluster:
    files: dict[str, OutputFile] = {}
    summaries: list[NodeSummary] = []
    user_data: dict[str, cloudinit.EncodedUserData] = {}
    shared: dict[str, bytes] = {}
    for node_plan in plan.nodes:
        node_files, summary, encoded = render_node(plan, node_plan, shared)
        files.update(node_files)
        summaries.append(summary)
        user_data[node_plan.node.name] = encoded
    files[layout.INDEX] = OutputFile(index(plan, summaries).encode(), PUBLIC_MODE)
    files.update(packer.packer_files(plan.cluster, plan.prep))
    if plan.cluster.openstack is not None:
        from generator.emit import openstack  # noqa: PLC0415 - for speed: most clusters have no OpenStack kit

        files.update(openstack.openstack_files(plan.cluster, plan.cluster.openstack, user_data))
    return RenderedCluster(name=plan.cluster.name, files=dict(sorted(files.items())), nodes=tuple(summaries))
