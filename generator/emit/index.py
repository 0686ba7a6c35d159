"""``nodes.json``: a machine-readable index of the render, for scripts and other tools (no secret values)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from generator import __version__
from generator.emit.cloudinit import NOVA_USER_DATA_LIMIT
from generator.plan import ClusterPlan


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


def index(plan: ClusterPlan, summaries: Sequence[NodeSummary]) -> str:
    cluster = plan.cluster
    data = {
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
                    "novaLimit": NOVA_USER_DATA_LIMIT,
                    "gzipped": s.gzipped,
                },
                "holdsPrivateKeys": s.holds_private_keys,
            }
            for s in summaries
        ],
    }
    return json.dumps(data, indent=2) + "\n"
