"""kube-vip as a static pod on every control-plane node, for sites without a load balancer
(``controlPlane.loadBalancer: kube-vip``). The manifest is emitted from data."""

from __future__ import annotations

from typing import Any

from generator import guest, yamldump
from generator.model import Cluster
from generator.versions import table

MANIFEST_PATH = guest.KUBE_VIP_MANIFEST
# Staged copies the first-boot script moves into place: kubeadm join refuses a non-empty manifests
# folder, and the first node must run kube-vip with super-admin.conf while kubeadm init runs.
STAGED_INIT = guest.KUBE_VIP_STAGED_INIT
STAGED = guest.KUBE_VIP_STAGED


def image() -> str:
    image_ref: str = table()["addons"]["kube-vip"]["image"]
    return image_ref


def manifest(cluster: Cluster, *, kubeconfig: str) -> dict[str, Any]:
    # Every name below is one kube-vip v1.1.2 reads (pkg/kubevip/config_envvar.go, read in
    # pkg/kubevip/config_environment.go). vip_subnet is the VIP's prefix length without a slash: what
    # kube-vip's own `manifest pod` writes (cmd/kube-vip.go GenerateCidrRange: 32 for IPv4).
    # vip_nodename comes from the downward API, as in kube-vip's generator
    # (pkg/kubevip/config_generator.go generatePodSpec: fieldRef spec.nodeName); the leader lease
    # names its holder after it.
    env: list[dict[str, Any]] = [
        {"name": "vip_arp", "value": "true"},
        {"name": "port", "value": str(cluster.endpoint_port)},
        {"name": "vip_nodename", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "address", "value": cluster.endpoint_host},
        {"name": "vip_subnet", "value": "32"},
        {"name": "cp_enable", "value": "true"},
        {"name": "cp_namespace", "value": "kube-system"},
        {"name": "vip_leaderelection", "value": "true"},
        {"name": "vip_leasename", "value": "plndr-cp-lock"},
        {"name": "vip_leaseduration", "value": "5"},
        {"name": "vip_renewdeadline", "value": "3"},
        {"name": "vip_retryperiod", "value": "1"},
    ]
    if cluster.kube_vip_interface:
        env.insert(1, {"name": "vip_interface", "value": cluster.kube_vip_interface})
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "kube-vip", "namespace": "kube-system"},
        "spec": {
            "containers": [
                {
                    "name": "kube-vip",
                    "image": image(),
                    "imagePullPolicy": "IfNotPresent",
                    "args": ["manager"],
                    "env": env,
                    "securityContext": {"capabilities": {"add": ["NET_ADMIN", "NET_RAW"]}},
                    "volumeMounts": [{"name": "kubeconfig", "mountPath": "/etc/kubernetes/admin.conf"}],
                }
            ],
            "hostAliases": [{"ip": "127.0.0.1", "hostnames": ["kubernetes"]}],
            "hostNetwork": True,
            "volumes": [{"name": "kubeconfig", "hostPath": {"path": kubeconfig, "type": "FileOrCreate"}}],
        },
    }


def staged_manifests(cluster: Cluster) -> dict[str, str]:
    """Staged path -> manifest YAML: the init variant (super-admin.conf) and the steady one (admin.conf)."""
    return {
        STAGED_INIT: yamldump.dump(manifest(cluster, kubeconfig="/etc/kubernetes/super-admin.conf")),
        STAGED: yamldump.dump(manifest(cluster, kubeconfig="/etc/kubernetes/admin.conf")),
    }
