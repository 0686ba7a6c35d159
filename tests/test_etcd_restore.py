"""`kgen restore`: the first control plane's user-data in restore mode. It is valid cloud-config
(Debian's `cloud-init schema`), its scripts pass shellcheck, it carries the same kubeadm config (and so
the same versions) and the same CA as the normal render, so every rendered join still matches. Its
first-boot script runs for real in the bootstrap sandbox (tests/sandbox.py): the restore step puts a
real etcd snapshot into /var/lib/etcd (etcd 3.4's etcdctl behind the labelled etcdutl shim of
tests/test_etcd_real.py), then `kubeadm init` (the stand-in, whose preflight refuses a non-empty
/var/lib/etcd as upstream's does) runs with the existing data dir and kgen's CA."""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from generator import api, etcd_backup, etcd_restore, model, secrets
from generator.cli import app
from generator.load import load
from tests.conftest import (
    EXAMPLES,
    Rendered,
    cloud_init_schema,
    load_user_data,
    parse_yaml,
    parse_yaml_all,
    render_config,
    require_tool,
    shellcheck,
    stand_in_cni_manifests,
    user_data_scripts,
    valid_cases,
    write_bundle,
)
from tests.sandbox import Sandbox
from tests.test_bootstrap import (
    assert_cluster_ca_in_place,
    kubeadm_calls,
    kubeadm_verbs,
    pinned_ca_hashes,
    prepare_node,
    render_case,
)
from tests.test_etcd_real import ETCDUTL_SHIM, Etcd, etcd_pki

SHA = "5f" * 32
URL = "https://swift.example.com/v1/AUTH_ops/etcd-backups/etcd-snapshot-cp-0-20260101T000000Z.db?temp_url_sig=x"


def restore(rendered: Rendered, snapshot: str, sha256: str | None) -> api.RestoreResult:
    config = rendered.root.parent.parent / "cluster.yaml"
    bundle = rendered.root.parent.parent / "cluster.secrets.yaml"
    return api.restore(config, snapshot=snapshot, sha256=sha256, out_dir=rendered.root.parent, secrets_path=bundle)


def restore_user_data(result: api.RestoreResult) -> dict[str, Any]:
    return load_user_data((result.out_dir / result.node.name / "user-data").read_bytes())


def test_restore_renders_the_first_control_plane_in_restore_mode(tmp_path: Path) -> None:
    rendered = render_case(tmp_path, mode="install")
    result = restore(rendered, URL, SHA)
    assert result.out_dir == rendered.root.parent / "demo.restore"
    node = result.node
    assert (node.name, node.action) == ("cp-0", "init")
    assert sorted(p.name for p in (result.out_dir / "cp-0").iterdir()) == [
        "bootstrap.sh",
        "kubeadm.yaml",
        "meta-data",
        "user-data",
    ]
    assert (result.out_dir / "cp-0" / "user-data").stat().st_mode & 0o777 == 0o600
    normal, restored = rendered.user_data("cp-0"), restore_user_data(result)
    files = {f["path"]: f for f in restored["write_files"]}
    normal_files = {f["path"]: f for f in normal["write_files"]}
    # Everything of the normal render is there unchanged, except the first-boot script; the restore
    # step is added. The same kubeadm config, so the same versions and the same CA files.
    assert set(files) - set(normal_files) == {etcd_restore.RESTORE_SCRIPT}
    for path, entry in normal_files.items():
        if path != "/usr/local/sbin/kgen-bootstrap":
            assert files[path] == entry, path
    assert (result.out_dir / "cp-0" / "kubeadm.yaml").read_text() == (
        rendered.root / "nodes/cp-0/kubeadm.yaml"
    ).read_text()
    script = files[etcd_restore.RESTORE_SCRIPT]["content"]
    assert "readonly NODE_NAME=cp-0\n" in script
    assert "readonly PEER_URL=https://10.0.0.10:2380\n" in script
    assert f"readonly SNAPSHOT_SHA256={SHA}\n" in script
    assert "readonly DATA_DIR=/var/lib/etcd\n" in script
    bootstrap = files["/usr/local/sbin/kgen-bootstrap"]["content"]
    assert (
        "    restore_etcd_data\n    # --skip-token-print keeps the bootstrap token out of the logs.\n"
        '    kubeadm init --config "${KUBEADM_CONFIG}" --skip-token-print '
        "--ignore-preflight-errors=DirAvailable--var-lib-etcd >>"
    ) in bootstrap
    # The joins rendered by `kgen render` pin this user-data's CA.
    ca = files["/etc/kgen/pki/ca.crt"]["content"]
    assert {h for pins in pinned_ca_hashes(rendered).values() for h in pins} == {secrets.ca_cert_hash(ca)}
    # The normal output is untouched: a render --check still finds no drift.
    config = rendered.root.parent.parent / "cluster.yaml"
    bundle = rendered.root.parent.parent / "cluster.secrets.yaml"
    api.render_cluster(config, out_dir=rendered.root.parent, secrets_path=bundle, check=True)
    # Deterministic: the same request gives the same bytes.
    before = (result.out_dir / "cp-0" / "user-data").read_bytes()
    again = restore(rendered, URL, SHA)
    assert all(c.status == "identical" for c in again.changes)
    assert (again.out_dir / "cp-0" / "user-data").read_bytes() == before


@pytest.mark.parametrize("case", valid_cases(), ids=lambda p: p.name)
def test_restore_user_data_passes_cloud_init_schema_and_shellcheck(
    case: Path, rendered_valid: dict[str, Rendered], tmp_path: Path
) -> None:
    """The normal render to compare with is the session's render of the example with the same fixture
    secrets (conftest ``rendered_valid``), not a second render of the same config."""
    config = case / "cluster.yaml"
    cluster = model.build(load(config))
    if cluster.first_control_plane.ip is None:
        pytest.skip("kgen restore needs the first control plane's IP")
    bundle = write_bundle(config, tmp_path)
    result = api.restore(
        config,
        snapshot="/mnt/etcd-backups/etcd-snapshot-cp-0-20260101T000000Z.db",
        sha256=SHA,
        out_dir=tmp_path / "out",
        secrets_path=bundle,
    )
    content = (result.out_dir / result.node.name / "user-data").read_bytes()
    cloud_init_schema({f"{result.node.name}/user-data": content}, tmp_path / "schema")
    user_data = load_user_data(content)
    # The version checks: the first-boot script checks the same Kubernetes version, and the kubeadm
    # config (kubernetesVersion, API version) is the normal render's.
    files = {f["path"]: f["content"] for f in user_data["write_files"]}
    assert f"readonly KUBERNETES_VERSION={cluster.kubernetes_version}\n" in files["/usr/local/sbin/kgen-bootstrap"]
    assert rendered_valid[case.name].result.nodes[0].name == result.node.name
    docs = list(parse_yaml_all(files["/etc/kgen/kubeadm.yaml"]))
    assert {d["kind"]: d.get("kubernetesVersion") for d in docs}["ClusterConfiguration"] == (
        f"v{cluster.kubernetes_version}"
    )
    assert all(d["apiVersion"] == cluster.kubernetes.kubeadm_api_version for d in docs[:2])
    scripts = dict(user_data_scripts(user_data))
    for guest, text in scripts.items():
        assert "\nset -euo pipefail\n" in text, guest
    assert any(s.endswith("kgen-etcd-restore") for s in scripts)
    assert any(s.endswith("kgen-etcd-tools") for s in scripts)
    shellcheck(scripts, tmp_path / "shellcheck")


def test_restore_without_backups_still_installs_etcdutl(tmp_path: Path) -> None:
    data: dict[str, Any] = parse_yaml(
        (EXAMPLES / "valid" / "runbook-single-control-plane" / "cluster.yaml").read_text()
    )
    data = copy.deepcopy(data)
    data["spec"]["etcdBackup"] = {"enabled": False}
    config = tmp_path / "cluster.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    rendered = render_config(config, tmp_path)
    assert model.build(load(config)).first_control_plane.ip is not None
    result = restore(rendered, URL, None)
    paths = [f["path"] for f in restore_user_data(result)["write_files"]]
    assert etcd_backup.TOOLS_SCRIPT in paths and etcd_restore.RESTORE_SCRIPT in paths
    assert etcd_backup.BACKUP_SCRIPT not in paths


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--snapshot", "http://example.com/snap.db"], "--snapshot must be an https URL"),
        (["--snapshot", "snap.db"], "--snapshot must be an https URL"),
        (["--snapshot", "/mnt/a b.db"], "--snapshot must be an https URL"),
        (["--snapshot", "/mnt/../etc/shadow"], "no '..'"),
        (["--snapshot", "/mnt/snap.db", "--sha256", "abc"], "--sha256 must be 64 hexadecimal digits"),
    ],
)
def test_cli_refuses_bad_arguments(tmp_path: Path, args: list[str], message: str) -> None:
    rendered = render_case(tmp_path)
    config = rendered.root.parent.parent / "cluster.yaml"
    out = rendered.root.parent
    result = CliRunner().invoke(app, ["restore", str(config), "-d", str(out), *args])
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (out / "demo.restore").exists()


def test_cli_needs_the_existing_bundle_and_the_node_ip(tmp_path: Path) -> None:
    data: dict[str, Any] = parse_yaml((EXAMPLES / "valid" / "ha-three-control-planes" / "cluster.yaml").read_text())
    config = tmp_path / "cluster.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    result = CliRunner().invoke(app, ["restore", str(config), "--snapshot", URL, "-d", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "no secrets bundle" in result.output  # restore never mints a new CA
    assert not (tmp_path / "out").exists()
    rendered = render_config(config, tmp_path)
    del data["spec"]["nodes"][0]["ip"]
    config.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    result = CliRunner().invoke(
        app,
        [
            "restore",
            str(config),
            "--snapshot",
            URL,
            "--secrets",
            str(tmp_path / "cluster.secrets.yaml"),
            "-d",
            str(rendered.root.parent),
        ],
    )
    assert result.exit_code == 1, result.output
    assert "kgen restore needs the IP of node cp-0" in result.output


def test_cli_prints_where_the_user_data_went(tmp_path: Path) -> None:
    rendered = render_case(tmp_path)
    config = rendered.root.parent.parent / "cluster.yaml"
    result = CliRunner().invoke(
        app,
        [
            "restore",
            str(config),
            "--snapshot",
            URL,
            "--sha256",
            SHA.upper(),
            "--secrets",
            str(tmp_path / "cluster.secrets.yaml"),
            "-d",
            str(rendered.root.parent),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "create  " in result.output and "demo.restore/cp-0/user-data" in result.output
    assert "temp_url_sig" not in result.output
    user_data = load_user_data((rendered.root.parent / "demo.restore/cp-0/user-data").read_bytes())
    [script] = [f["content"] for f in user_data["write_files"] if f["path"] == etcd_restore.RESTORE_SCRIPT]
    assert f"readonly SNAPSHOT_SHA256={SHA}\n" in script  # --sha256 is normalised to lower case


# --- the restore path in the bootstrap sandbox ----------------------------------------------------------


@pytest.fixture(scope="module")
def real_snapshot(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A real etcd 3.4 snapshot holding one key, taken with etcdctl; once for the module (the tests
    only read it)."""
    tmp_path = tmp_path_factory.mktemp("real-snapshot")
    binary = require_tool("etcd", reason="Debian package etcd-server")
    etcdctl = require_tool("etcdctl", reason="Debian package etcd-client")
    pki = etcd_pki(tmp_path / "snapshot-pki")
    etcd = Etcd(binary, etcdctl, pki, tmp_path / "snapshot-etcd", "cp-0", tmp_path / "snapshot-etcd.log")
    snapshot = tmp_path / "etcd-snapshot-cp-0-20260101T000000Z.db"
    try:
        etcd.start()
        etcd.ctl("put", "/registry/kgen/restored", "yes")
        etcd.ctl("snapshot", "save", str(snapshot))
    finally:
        etcd.stop()
    return snapshot, hashlib.sha256(snapshot.read_bytes()).hexdigest()


def restore_box(tmp_path: Path, rendered: Rendered, result: api.RestoreResult, snapshot: Path) -> Sandbox:
    box = prepare_node(tmp_path, rendered, "cp-0", curl_failures=0)
    normal = rendered.user_data("cp-0")["write_files"]
    for entry in restore_user_data(result)["write_files"]:  # what restore mode changes (prepare_node's stand-ins stay)
        if entry not in normal:
            box.write(entry["path"], entry["content"], int(entry["permissions"], 8))
    box.write("/mnt/etcd-backups/" + snapshot.name, snapshot.read_bytes(), 0o600)
    cluster = model.build(load(rendered.root.parent.parent / "cluster.yaml"))
    tools = etcd_backup.tools_dir(etcd_backup.etcd_tools(cluster))
    etcdctl = require_tool("etcdctl", reason="Debian package etcd-client")
    for name in ("etcdctl", "etcdutl"):  # what the golden image holds; etcdutl is the labelled 3.4 shim
        text = f'#!/bin/sh\nexec {etcdctl} "$@"\n' if name == "etcdctl" else ETCDUTL_SHIM.format(etcdctl=etcdctl)
        box.write(f"{tools}/{name}", text, 0o755)
    return box


def test_restore_path_inits_on_the_restored_data_dir_with_the_cluster_ca(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, real_snapshot: tuple[Path, str]
) -> None:
    snapshot, digest = real_snapshot
    manifests = stand_in_cni_manifests(monkeypatch, "calico")
    rendered = render_case(tmp_path, bounds={"nodeReadyTimeoutSeconds": 30})
    result = restore(rendered, f"/mnt/etcd-backups/{snapshot.name}", digest)
    box = restore_box(tmp_path, rendered, result, snapshot)
    for path, content in manifests.items():  # what the bake left in the image
        box.write(path, content)

    run = box.run(["/usr/local/sbin/kgen-bootstrap"])
    log = box.read("/var/log/kgen-bootstrap.log")
    assert run.returncode == 0, log + run.stderr
    assert box.exists("/var/lib/kgen/bootstrap-success")
    init = next(argv for argv in kubeadm_calls(box) if argv[0] == "init")
    assert init == [
        "init",
        "--config",
        "/etc/kgen/kubeadm.yaml",
        "--skip-token-print",
        "--ignore-preflight-errors=DirAvailable--var-lib-etcd",
    ], log + run.stderr
    assert box.exists("/var/lib/kgen/kubeadm-init-succeeded"), log + run.stderr
    order = [line.split("kgen-bootstrap: ", 1)[1] for line in log.splitlines() if "kgen-bootstrap: " in line]
    assert order.index("step: restore etcd data from a snapshot") > order.index("step: kubeadm init")
    assert order.index("step: restore etcd data from a snapshot") < order.index(
        "kubeadm init succeeded (/var/lib/kgen/kubeadm-init-succeeded)"
    )
    assert f"the snapshot's sha256 matches ({digest})" in log
    # kubeadm init ran on the restored data (etcdctl 3.4 wrote member/snap/db; the stand-in only adds a file).
    assert box.path("/var/lib/etcd/member/snap/db").is_file()
    assert box.path("/var/lib/etcd/member/wal").is_dir()
    assert box.path("/var/lib/etcd").stat().st_mode & 0o777 == 0o700
    assert box.read("/var/lib/kgen/etcd-restore/restored").startswith(f"restored /mnt/etcd-backups/{snapshot.name} ")
    # ... with kgen's CA, which every rendered join pins.
    assert_cluster_ca_in_place(box, rendered)


def test_init_without_the_restore_flag_refuses_the_restored_data_dir(tmp_path: Path) -> None:
    """The stand-in's preflight, like upstream's (DirAvailableCheck in cmd/kubeadm/app/preflight/checks.go),
    refuses a non-empty /var/lib/etcd: the normal render's init fails on it."""
    rendered = render_case(tmp_path)
    box = prepare_node(tmp_path, rendered, "cp-0", curl_failures=0)
    box.write("/var/lib/etcd/member/snap/db", b"restored data", 0o600)
    run = box.run(["/usr/local/sbin/kgen-bootstrap"])
    assert run.returncode != 0
    assert kubeadm_verbs(box) == ["init"]
    assert "[ERROR DirAvailable--var-lib-etcd]: /var/lib/etcd is not empty" in box.read("/var/log/kgen-bootstrap.log")


def test_restore_path_stops_before_kubeadm_on_a_bad_snapshot(tmp_path: Path, real_snapshot: tuple[Path, str]) -> None:
    snapshot, _ = real_snapshot
    rendered = render_case(tmp_path)
    result = restore(rendered, f"/mnt/etcd-backups/{snapshot.name}", "00" * 32)
    box = restore_box(tmp_path, rendered, result, snapshot)
    run = box.run(["/usr/local/sbin/kgen-bootstrap"])
    assert run.returncode != 0
    failure = box.read("/var/lib/kgen/bootstrap-failure")
    assert "step: restore etcd data from a snapshot" in failure
    assert "nothing was restored" in box.read("/var/log/kgen-bootstrap.log")
    assert [argv[0] for argv in kubeadm_calls(box) if argv[0] == "init"] == []
    assert not box.exists("/var/lib/etcd/member")
