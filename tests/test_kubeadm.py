"""kubeadm documents: the right API version per Kubernetes minor, field names checked against the
project's kubeadm/kubelet/kube-proxy schemas (additionalProperties: false), and the right documents
for each role."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from generator import kubeadm
from generator.plan import plan
from generator.resources import schemas_dir
from tests.conftest import Rendered, fixture_bundle, parse_yaml_all, valid_cases
from tests.matrix import cluster_for


@cache
def schemas_by_kind() -> dict[tuple[str, str], dict[str, Any]]:
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for path in schemas_dir().glob("*.schema.json"):
        schema = json.loads(path.read_text(encoding="utf-8"))
        if "x-kgen-kind" in schema:
            out[(schema["x-kgen-apiVersion"], schema["x-kgen-kind"])] = schema
    return out


@cache
def validator_for(api_version: str, kind: str) -> jsonschema.protocols.Validator:
    """The validator of the schema for ``kind``, made as ``jsonschema.validate`` makes it (the schema
    checked against its metaschema first), once per process: that check was most of this module's CPU."""
    schema = schemas_by_kind().get((api_version, kind))
    assert schema is not None, f"no schema for {api_version} {kind}"
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=jsonschema.FormatChecker())


def check_document(doc: dict[str, Any]) -> None:
    """``jsonschema.validate(doc, schema)``: raises the best-matching error, as it does."""
    error = jsonschema.exceptions.best_match(validator_for(doc["apiVersion"], doc["kind"]).iter_errors(doc))
    if error is not None:
        raise error


def kubeadm_documents(rendered: Rendered, node: str) -> list[dict[str, Any]]:
    text = (rendered.root / "nodes" / node / "kubeadm.yaml").read_text(encoding="utf-8")
    return [d for d in parse_yaml_all(text) if d]


@pytest.mark.parametrize("case", valid_cases(), ids=lambda p: p.name)
def test_every_document_matches_its_schema(case: Path, rendered_valid: dict[str, Rendered]) -> None:
    rendered = rendered_valid[case.name]
    for node in rendered.result.nodes:
        docs = kubeadm_documents(rendered, node.name)
        for doc in docs:
            check_document(doc)
        # The file in user-data is the same file.
        user_data = rendered.user_data(node.name)
        embedded = next(f["content"] for f in user_data["write_files"] if f["path"] == "/etc/kgen/kubeadm.yaml")
        assert [d for d in parse_yaml_all(embedded) if d] == docs


def test_schemas_reject_a_misspelt_field() -> None:
    doc = {
        "apiVersion": "kubeadm.k8s.io/v1beta4",
        "kind": "ClusterConfiguration",
        "clusterName": "demo",
        "kubernetesVersion": "v1.31.4",
        "controlPlaneEndpoint": "10.0.0.1:6443",
        "networking": {"podSubnet": "192.168.0.0/16", "serviceSubnet": "10.96.0.0/12", "dnsDomain": "cluster.local"},
        "apiServer": {"certSans": ["x"]},
    }
    with pytest.raises(jsonschema.ValidationError, match="certSans"):
        check_document(doc)


@pytest.mark.parametrize(
    ("version", "api", "v1beta4"),
    [
        ("1.30.14", "kubeadm.k8s.io/v1beta3", False),
        ("1.31.14", "kubeadm.k8s.io/v1beta4", True),
        ("1.32.11", "kubeadm.k8s.io/v1beta4", True),
        ("1.33.7", "kubeadm.k8s.io/v1beta4", True),
        ("1.34.3", "kubeadm.k8s.io/v1beta4", True),
    ],
)
def test_api_version_and_extra_args_shape(version: str, api: str, v1beta4: bool) -> None:
    cluster = cluster_for("ubuntu-24.04", version)
    cluster_plan = plan(cluster, fixture_bundle())
    init_docs = cluster_plan.nodes[0].kubeadm_documents
    assert [d["kind"] for d in init_docs] == [
        "InitConfiguration",
        "ClusterConfiguration",
        "KubeletConfiguration",
        "KubeProxyConfiguration",
    ]
    assert init_docs[0]["apiVersion"] == api and init_docs[1]["apiVersion"] == api
    args = init_docs[0]["nodeRegistration"]["kubeletExtraArgs"]
    if v1beta4:
        assert args == [{"name": "node-ip", "value": "10.10.10.238"}]
    else:
        assert args == {"node-ip": "10.10.10.238"}
    for doc in init_docs:
        check_document(doc)
    join = cluster_plan.nodes[1].kubeadm_documents
    assert [d["kind"] for d in join] == ["JoinConfiguration"]
    assert join[0]["apiVersion"] == api
    assert init_docs[2]["apiVersion"] == kubeadm.KUBELET_API


def test_init_configuration_content(rendered_valid: dict[str, Rendered]) -> None:
    rendered = rendered_valid["runbook-single-control-plane"]
    init, cluster, kubelet, proxy = kubeadm_documents(rendered, "master-0")
    token = init["bootstrapTokens"][0]
    assert token["ttl"] == "24h0m0s"
    assert token["groups"] == ["system:bootstrappers:kubeadm:default-node-token"]
    assert init["nodeRegistration"]["criSocket"] == "unix:///var/run/containerd/containerd.sock"
    assert init["nodeRegistration"]["name"] == "master-0"
    assert "taints" not in init["nodeRegistration"]  # kubeadm's default control-plane taint applies
    assert init["localAPIEndpoint"] == {"advertiseAddress": "10.10.10.238", "bindPort": 6443}
    assert cluster["kubernetesVersion"] == "v1.34.3"
    assert cluster["controlPlaneEndpoint"] == "10.10.10.238:6443"
    assert cluster["networking"] == {
        "podSubnet": "192.168.0.0/16",
        "serviceSubnet": "10.96.0.0/12",
        "dnsDomain": "cluster.local",
    }
    assert "10.10.10.238" in cluster["apiServer"]["certSANs"]
    assert kubelet["cgroupDriver"] == "systemd"
    assert proxy["mode"] == "iptables"


def test_join_configuration_content(rendered_valid: dict[str, Rendered]) -> None:
    rendered = rendered_valid["runbook-single-control-plane"]
    (join,) = kubeadm_documents(rendered, "worker-0")
    bundle = fixture_bundle()
    assert join["discovery"]["bootstrapToken"] == {
        "apiServerEndpoint": "10.10.10.238:6443",
        "token": bundle.bootstrap_token,
        "caCertHashes": [bundle.ca_cert_hash],
    }
    assert "controlPlane" not in join


def test_control_plane_join_and_untainted_control_plane(rendered_valid: dict[str, Rendered]) -> None:
    rendered = rendered_valid["ha-three-control-planes"]
    for name in ("cp-1", "cp-2"):
        (join,) = kubeadm_documents(rendered, name)
        assert join["controlPlane"]["localAPIEndpoint"]["advertiseAddress"] in {"10.0.0.11", "10.0.0.12"}
    cluster = kubeadm_documents(rendered, "cp-0")[1]
    assert cluster["apiServer"]["certSANs"] == [
        "k8s-api.example.com",
        "10.0.0.10",
        "10.0.0.11",
        "10.0.0.12",
        "10.0.0.100",
        "api.internal.example.com",
    ]
    single = rendered_valid["pools-labels-taints-cilium"]
    init = kubeadm_documents(single, "cp")[0]
    assert init["nodeRegistration"]["taints"] == []
    (pool_join,) = kubeadm_documents(single, "pool-a-2")
    registration = pool_join["nodeRegistration"]
    assert registration["taints"] == [{"key": "example.com/dedicated", "value": "batch", "effect": "NoSchedule"}]
    assert {"name": "node-labels", "value": "example.com/tier=batch,node.kubernetes.io/pool=a"} in registration[
        "kubeletExtraArgs"
    ]
