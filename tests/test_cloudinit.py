"""cloud-init user-data: valid for Debian's cloud-init (the real validator) and the newest upstream
schema, private keys only on control-plane nodes, modes right, and within Nova's size limit."""

from __future__ import annotations

import base64
import copy
import gzip
import json
import secrets as pysecrets
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from generator.cli import app
from generator.emit import cloudinit
from tests.conftest import (
    SHARED,
    Rendered,
    cloud_init_schema,
    load_user_data,
    parse_yaml,
    render_config,
    valid_cases,
    write_bundle,
)
from tests.matrix import base_config

PRIVATE_KEY_MARK = "PRIVATE KEY"


def all_user_data(rendered_valid: dict[str, Rendered]) -> list[tuple[str, bytes]]:
    return [
        (f"{case}/{node.name}", (r.root / "nodes" / node.name / "user-data").read_bytes())
        for case, r in rendered_valid.items()
        for node in r.result.nodes
    ]


def test_debian_cloud_init_accepts_every_user_data(rendered_valid: dict[str, Rendered], tmp_path: Path) -> None:
    cloud_init_schema(dict(all_user_data(rendered_valid)), tmp_path)


def test_newest_upstream_schema_accepts_every_user_data(rendered_valid: dict[str, Rendered]) -> None:
    schema_path = SHARED / "reference" / "cloud-init-schema-latest.json"
    if not schema_path.is_file():
        pytest.skip(f"{schema_path} is not present (it lives in the shared folder, not in the project)")
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    validator = jsonschema.Draft4Validator(schema)
    for name, content in all_user_data(rendered_valid):
        errors = [e.message for e in validator.iter_errors(load_user_data(content))]
        assert not errors, f"{name}: {errors}"


@pytest.mark.parametrize("case", valid_cases(), ids=lambda p: p.name)
def test_private_keys_only_on_control_planes(case: Path, rendered_valid: dict[str, Rendered]) -> None:
    rendered = rendered_valid[case.name]
    for node in rendered.result.nodes:
        raw = (rendered.root / "nodes" / node.name / "user-data").read_bytes()
        text = json.dumps(load_user_data(raw))
        files = {f["path"]: f for f in load_user_data(raw)["write_files"]}
        # cloud-init never writes into kubeadm's certificates folder: kubeadm reset empties it, so the
        # shared PKI lives in kgen's folder and the first-boot script copies it over.
        assert not any(p.startswith("/etc/kubernetes/pki/") for p in files)
        if node.role == "worker":
            assert PRIVATE_KEY_MARK not in text, f"worker {node.name} user-data holds a private key"
            assert not any(p.startswith("/etc/kgen/pki/") for p in files)
            assert not node.holds_private_keys
        else:
            assert node.holds_private_keys
            for path in ("ca.key", "etcd/ca.key", "front-proxy-ca.key", "sa.key"):
                entry = files[f"/etc/kgen/pki/{path}"]
                assert entry["permissions"] == "0600" and PRIVATE_KEY_MARK in entry["content"]
            for path in ("ca.crt", "etcd/ca.crt", "front-proxy-ca.crt", "sa.pub"):
                assert files[f"/etc/kgen/pki/{path}"]["permissions"] == "0644"
        assert files["/etc/kgen/kubeadm.yaml"]["permissions"] == "0600"
        assert files["/usr/local/sbin/kgen-bootstrap"]["permissions"] == "0700"


def test_user_data_shape(rendered_valid: dict[str, Rendered]) -> None:
    rendered = rendered_valid["runbook-single-control-plane"]
    raw = (rendered.root / "nodes" / "worker-0" / "user-data").read_bytes()
    assert raw.startswith(b"#cloud-config\n")
    data = load_user_data(raw)
    assert data["hostname"] == "worker-0"
    assert data["users"][0]["name"] == "kadmin"
    assert data["users"][0]["ssh_authorized_keys"][0].startswith("ssh-ed25519 ")
    assert data["runcmd"] == [["/usr/local/sbin/kgen-bootstrap"]]
    meta = parse_yaml((rendered.root / "nodes" / "worker-0" / "meta-data").read_text(encoding="utf-8"))
    assert meta == {"instance-id": "kgen-demo-worker-0", "local-hostname": "worker-0"}


def test_every_file_in_user_data_is_a_readable_block(rendered_valid: dict[str, Rendered]) -> None:
    """Scripts, manifests and keys stay literal blocks a reviewer can read: a tab or other control
    character would make the dumper fall back to one double-quoted line of escapes."""
    for name, raw in all_user_data(rendered_valid):
        text = (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode("utf-8")
        data = load_user_data(raw)
        for entry in data["write_files"]:
            if "\n" in entry["content"].rstrip("\n"):
                assert f"path: {entry['path']}\n" in text
                block = text.split(f"path: {entry['path']}\n", 1)[1]
                content_line = next(line for line in block.splitlines() if line.lstrip().startswith("content:"))
                assert content_line.strip() == "content: |", (name, entry["path"], content_line[:80])


def _config_with_keys(tmp_path: Path, keys: list[str]) -> Path:
    data: dict[str, Any] = copy.deepcopy(base_config())
    data["spec"]["admin"]["sshAuthorizedKeys"] = keys
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _key(n: int) -> str:
    blob = base64.b64encode(b"\x00\x00\x00\x0bssh-ed25519" + pysecrets.token_bytes(n)).decode()
    return f"ssh-ed25519 {blob} user{n}@example.com"


def test_large_user_data_is_gzipped_and_still_valid(tmp_path: Path) -> None:
    # Compressible padding: the same key repeated pushes the control plane past 49,149 raw bytes.
    keys = [_key(32)] * 200
    rendered = render_config(_config_with_keys(tmp_path, keys), tmp_path)
    master = next(n for n in rendered.result.nodes if n.name == "master-0")
    assert master.gzipped
    assert master.user_data_base64_bytes <= cloudinit.NOVA_USER_DATA_LIMIT
    raw = (rendered.root / "nodes" / "master-0" / "user-data").read_bytes()
    assert raw[:2] == b"\x1f\x8b"
    assert len(base64.b64encode(raw)) <= 65535
    assert load_user_data(raw)["users"][0]["ssh_authorized_keys"] == keys
    cloud_init_schema({"master-0": raw}, tmp_path / "schema")


def test_user_data_too_large_even_gzipped_is_an_error(tmp_path: Path) -> None:
    keys = [_key(600) for _ in range(200)]  # random, so gzip cannot save it
    config = _config_with_keys(tmp_path, keys)
    bundle = write_bundle(config, tmp_path)
    result = CliRunner().invoke(app, ["render", str(config), "-d", str(tmp_path / "out"), "--secrets", str(bundle)])
    assert result.exit_code == 1
    assert "user-data for node 'master-0'" in result.output
    assert "over OpenStack Nova's limit of 65535 bytes of base64" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_encode_is_deterministic() -> None:
    text = "#cloud-config\n" + "x: " + "y" * 60000 + "\n"
    first = cloudinit.encode(text, node="n")
    assert first.gzipped
    assert cloudinit.encode(text, node="n").content == first.content
