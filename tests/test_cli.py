"""The CLI, in-process: init, validate, render (--dry-run, --check), schema, --version, exit codes."""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

import yaml
from typer.testing import CliRunner

from generator import __version__
from generator.cli import app
from generator.resources import schemas_dir
from tests.conftest import EXAMPLES, write_bundle

runner = CliRunner()
EXAMPLE = EXAMPLES / "valid" / "runbook-single-control-plane" / "cluster.yaml"


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"kgen {__version__}"


def test_usage_error_exits_2() -> None:
    assert runner.invoke(app, ["render"]).exit_code == 2
    assert runner.invoke(app, ["no-such-command"]).exit_code == 2
    assert runner.invoke(app, ["validate", "x.yaml", "-o", "xml"]).exit_code == 2


def test_init_writes_a_valid_commented_example(tmp_path: Path) -> None:
    target = tmp_path / "cluster.yaml"
    result = runner.invoke(app, ["init", str(target)])
    assert result.exit_code == 0, result.output
    text = target.read_text(encoding="utf-8")
    assert text.startswith("# yaml-language-server: $schema=cluster.schema.json\n")
    assert (tmp_path / "cluster.schema.json").read_text(encoding="utf-8") == (
        schemas_dir() / "cluster.schema.json"
    ).read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    spec = data["spec"]
    assert spec["nodes"][0] == {"name": "master-0", "role": "control-plane", "ip": "10.10.10.238"}
    assert [n["role"] for n in spec["nodes"]] == ["control-plane", "worker"]
    assert spec["networking"]["podSubnet"] == "192.168.0.0/16"
    assert spec["cni"]["plugin"] == "calico"
    validate = runner.invoke(app, ["validate", str(target)])
    assert validate.exit_code == 0, validate.output


def test_init_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    target = tmp_path / "cluster.yaml"
    target.write_text("mine\n", encoding="utf-8")
    result = runner.invoke(app, ["init", str(target)])
    assert result.exit_code == 1
    assert "already exists; use --force" in result.output
    assert target.read_text(encoding="utf-8") == "mine\n"
    assert runner.invoke(app, ["init", str(target), "--force"]).exit_code == 0
    assert target.read_text(encoding="utf-8") != "mine\n"


def test_validate_ok_and_json() -> None:
    result = runner.invoke(app, ["validate", str(EXAMPLE)])
    assert result.exit_code == 0
    assert result.output.strip() == f"{EXAMPLE}: valid"
    as_json = json.loads(runner.invoke(app, ["validate", "-o", "json", str(EXAMPLE)]).output)
    assert as_json == {"file": str(EXAMPLE), "valid": True, "problems": []}


def test_validate_reports_every_problem_at_once(tmp_path: Path) -> None:
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data["spec"]["nodes"][1]["role"] = "boss"
    data["spec"]["networking"] = {"podSubnt": "10.0.0.0/8"}
    data["spec"]["os"] = "centos-7"
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    result = runner.invoke(app, ["validate", str(config)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 3
    assert any("spec.nodes[1].role: 'boss' is not one of" in line for line in lines)
    assert any("spec.networking.podSubnt: unknown key" in line for line in lines)
    assert any("spec.os: centos-7 reached end of life" in line and "rocky-9" in line for line in lines)


def test_validate_missing_file() -> None:
    result = runner.invoke(app, ["validate", "does-not-exist.yaml"])
    assert result.exit_code == 1
    assert result.output.strip() == "does-not-exist.yaml: no such file"


def test_schema_command_prints_the_schema() -> None:
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    assert json.loads(result.output) == json.loads((schemas_dir() / "cluster.schema.json").read_text(encoding="utf-8"))


def _config_copy(tmp_path: Path) -> tuple[Path, Path]:
    config = tmp_path / "cluster.yaml"
    shutil.copy(EXAMPLE, config)
    return config, write_bundle(config, tmp_path)


def test_render_dry_run_writes_nothing(tmp_path: Path) -> None:
    config = tmp_path / "cluster.yaml"
    shutil.copy(EXAMPLE, config)
    result = runner.invoke(app, ["render", str(config), "-o", str(tmp_path / "out"), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "would create" in result.output
    assert "nodes/master-0/user-data (" in result.output
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "cluster.secrets.yaml").exists()


def test_render_status_verbs_and_check(tmp_path: Path) -> None:
    config, bundle = _config_copy(tmp_path)
    out = tmp_path / "out"
    args = ["render", str(config), "-o", str(out), "--secrets", str(bundle)]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "create  " in first.output and "identical" not in first.output
    user_data = out / "demo" / "nodes" / "master-0" / "user-data"
    assert stat.S_IMODE(user_data.stat().st_mode) == 0o600
    assert stat.S_IMODE((out / "demo" / "nodes" / "master-0" / "kubeadm.yaml").stat().st_mode) == 0o600
    assert stat.S_IMODE((out / "demo" / "nodes" / "master-0" / "meta-data").stat().st_mode) == 0o644
    second = runner.invoke(app, args)
    assert "create" not in second.output and "update" not in second.output
    files = [p for p in (out / "demo").rglob("*") if p.is_file()]
    assert second.output.count("identical") == len(files)
    assert runner.invoke(app, [*args[:4], "--secrets", str(bundle), "--check"]).exit_code == 0
    # Drift: a hand edit, a mode change and a stray file are all found, and --check changes nothing.
    user_data.write_bytes(user_data.read_bytes() + b"# edited\n")
    (out / "demo" / "stray.txt").write_text("x", encoding="utf-8")
    check = runner.invoke(app, [*args, "--check"])
    assert check.exit_code == 3
    assert f"update: {user_data}" in check.output and "remove: " in check.output
    assert user_data.read_bytes().endswith(b"# edited\n")
    third = runner.invoke(app, args)
    assert third.exit_code == 0
    assert f"update  {user_data}" in third.output
    assert "remove  " in third.output and not (out / "demo" / "stray.txt").exists()
    assert runner.invoke(app, [*args, "--check"]).exit_code == 0


def test_check_without_bundle_is_a_user_error(tmp_path: Path) -> None:
    config = tmp_path / "cluster.yaml"
    shutil.copy(EXAMPLE, config)
    result = runner.invoke(app, ["render", str(config), "-o", str(tmp_path / "out"), "--check"])
    assert result.exit_code == 1
    assert "no secrets bundle" in result.output


def test_no_traceback_for_unreadable_config(tmp_path: Path) -> None:
    for content in (b"\xff\xfe\x00bad", b"", b"- just\n- a list\n", b"spec: {nodes: 5}\n"):
        config = tmp_path / "c.yaml"
        config.write_bytes(content)
        for command in (["validate", str(config)], ["render", str(config), "-o", str(tmp_path / "o")]):
            result = runner.invoke(app, command)
            assert result.exit_code == 1, (content, command, result.output)
            assert "Traceback" not in result.output
            assert result.exception is None or isinstance(result.exception, SystemExit)
