"""``nodes.json``: a machine-readable index of the render, for scripts and other tools (no secret values)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from generator import __version__
from generator.emit.cloudinit import NOVA_USER_DATA_LIMIT
from generator.plan import ClusterPlan
from generator.records import record


@record
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
        "nodes": [],
    }
    head = json.dumps(data, indent=2)
    if not summaries:
        return head + "\n"
    # The node list (the last key) is written from one pattern per node: json.dumps with an indent
    # encodes in Python, and thousands of nodes made it a large part of a big render. The text is
    # what json.dumps(data, indent=2) writes with the list filled in (tests/test_render.py checks).
    nodes = ",\n".join(map(_node, summaries))
    return f'{head[: -len(_EMPTY_NODES)]}"nodes": [\n{nodes}\n  ]\n}}\n'


_EMPTY_NODES = '"nodes": []\n}'
_str = json.encoder.encode_basestring_ascii  # json.dumps's string encoder (ensure_ascii, its default)


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _node(s: NodeSummary) -> str:
    ip = "null" if s.ip is None else _str(s.ip)
    return (
        f'    {{\n      "name": {_str(s.name)},\n      "role": {_str(s.role)},\n      "action": {_str(s.action)},\n'
        f'      "ip": {ip},\n      "userData": {{\n        "bytes": {int(s.user_data_bytes)},\n'
        f'        "base64Bytes": {int(s.user_data_base64_bytes)},\n        "novaLimit": {NOVA_USER_DATA_LIMIT},\n'
        f'        "gzipped": {_bool(s.gzipped)}\n      }},\n'
        f'      "holdsPrivateKeys": {_bool(s.holds_private_keys)}\n    }}'
    )
