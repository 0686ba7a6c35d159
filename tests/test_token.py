"""`kgen token rotate`: a new token for joining nodes, nothing else changes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from generator import secrets
from generator.cli import app
from tests.conftest import EXAMPLES, parse_yaml_all, write_bundle

runner = CliRunner()


def snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_rotate_changes_only_join_configs(tmp_path: Path) -> None:
    config = tmp_path / "cluster.yaml"
    shutil.copy(EXAMPLES / "valid" / "ha-three-control-planes" / "cluster.yaml", config)
    bundle_path = write_bundle(config, tmp_path)
    out = tmp_path / "out"
    assert runner.invoke(app, ["render", str(config), "-d", str(out), "--secrets", str(bundle_path)]).exit_code == 0
    before = snapshot(out / "demo")
    old = secrets.load_bundle(bundle_path, cluster="demo")

    result = runner.invoke(app, ["token", "rotate", str(config), "-d", str(out), "--secrets", str(bundle_path)])
    assert result.exit_code == 0, result.output
    new = secrets.load_bundle(bundle_path, cluster="demo")
    assert new.bootstrap_token != old.bootstrap_token
    assert new.init_token == old.bootstrap_token
    assert new.ca_cert_hash == old.ca_cert_hash
    assert (new.ca, new.etcd_ca, new.front_proxy_ca, new.service_account_key) == (
        old.ca,
        old.etcd_ca,
        old.front_proxy_ca,
        old.service_account_key,
    )
    assert f"kubeadm token create {new.bootstrap_token} --ttl 24h0m0s" in result.output
    assert "kgen has no access to your cluster" in result.output

    after = snapshot(out / "demo")
    changed = sorted(name for name in after if after[name] != before.get(name))
    joiners = ["cp-1", "cp-2", *(f"worker-{i}" for i in range(5))]
    # nodes.json records each user-data's size, which a gzipped user-data with a new (random) token may
    # change or not: it may differ, in the sizes only.
    assert [name for name in changed if name != "nodes.json"] == sorted(
        f"nodes/{n}/{f}" for n in joiners for f in ("kubeadm.yaml", "user-data")
    )

    def without_sizes(raw: bytes) -> object:
        index = json.loads(raw)
        for node in index["nodes"]:
            del node["userData"]
        return index

    assert without_sizes(after["nodes.json"]) == without_sizes(before["nodes.json"])
    assert set(after) == set(before)
    for node in joiners:
        (join,) = parse_yaml_all((out / "demo" / "nodes" / node / "kubeadm.yaml").read_text(encoding="utf-8"))
        assert join["discovery"]["bootstrapToken"]["token"] == new.bootstrap_token
        assert join["discovery"]["bootstrapToken"]["caCertHashes"] == [old.ca_cert_hash]
    init = next(parse_yaml_all((out / "demo" / "nodes" / "cp-0" / "kubeadm.yaml").read_text(encoding="utf-8")))
    assert init["bootstrapTokens"][0]["token"] == old.bootstrap_token

    join_command = runner.invoke(app, ["join-command", str(config), "--secrets", str(bundle_path)])
    assert f"--token {new.bootstrap_token} " in join_command.output
    assert (
        runner.invoke(app, ["render", str(config), "-d", str(out), "--secrets", str(bundle_path), "--check"]).exit_code
        == 0
    )


def test_render_summary_states_token_lifetime(tmp_path: Path) -> None:
    config = tmp_path / "cluster.yaml"
    shutil.copy(EXAMPLES / "valid" / "runbook-single-control-plane" / "cluster.yaml", config)
    bundle_path = write_bundle(config, tmp_path)
    result = runner.invoke(app, ["render", str(config), "-d", str(tmp_path / "out"), "--secrets", str(bundle_path)])
    token_id = secrets.load_bundle(bundle_path, cluster="demo").token_id
    assert f"bootstrap token {token_id}.****: valid for 24h0m0s after `kubeadm init` ran" in result.output
    bundle = secrets.load_bundle(bundle_path, cluster="demo")
    assert bundle.bootstrap_token.split(".")[1] not in result.output
