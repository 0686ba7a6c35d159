"""The CLI, in-process: init, validate, render (--dry-run, --check), schema, --version, exit codes."""

from __future__ import annotations

import datetime
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from generator import __version__
from generator.cli import app
from generator.errors import ConfigInvalid
from generator.load import Document, load, parse
from generator.resources import schemas_dir
from generator.validate import validate
from tests.conftest import EXAMPLES, REPO, parse_yaml, write_bundle

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
    data = parse_yaml(text)
    spec = data["spec"]
    assert spec["nodes"][0] == {"name": "master-0", "role": "control-plane", "ip": "10.10.10.238"}
    assert [n["role"] for n in spec["nodes"]] == ["control-plane", "worker"]
    assert spec["networking"]["podSubnet"] == "192.168.0.0/16"
    assert spec["cni"]["plugin"] == "calico"
    validate = runner.invoke(app, ["validate", str(target)])  # valid but for the placeholder key
    assert validate.exit_code == 1 and validate.output.count("\n") == 1, validate.output
    assert "this is the placeholder key from `kgen init`" in validate.output


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
    data = parse_yaml(EXAMPLE.read_text(encoding="utf-8"))
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
    result = runner.invoke(app, ["render", str(config), "-d", str(tmp_path / "out"), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "would create" in result.output
    assert "nodes/master-0/user-data (" in result.output
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "cluster.secrets.yaml").exists()


def test_render_status_verbs_and_check(tmp_path: Path) -> None:
    config, bundle = _config_copy(tmp_path)
    out = tmp_path / "out"
    args = ["render", str(config), "-d", str(out), "--secrets", str(bundle)]
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
    result = runner.invoke(app, ["render", str(config), "-d", str(tmp_path / "out"), "--check"])
    assert result.exit_code == 1
    assert "no secrets bundle" in result.output


def test_no_traceback_for_unreadable_config(tmp_path: Path) -> None:
    for content in (b"\xff\xfe\x00bad", b"", b"- just\n- a list\n", b"spec: {nodes: 5}\n"):
        config = tmp_path / "c.yaml"
        config.write_bytes(content)
        for command in (["validate", str(config)], ["render", str(config), "-d", str(tmp_path / "o")]):
            result = runner.invoke(app, command)
            assert result.exit_code == 1, (content, command, result.output)
            assert "Traceback" not in result.output
            assert result.exception is None or isinstance(result.exception, SystemExit)


# --- YAML that is hostile or means something else than it looks ----------------------------------------

BILLION_LAUGHS = 'lol0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n' + "".join(
    f"lol{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 10)
)
RECURSIVE_ALIAS = "taints: &t [*t]\n"
# Runs one kgen command as its own child and reports that child's exit code, output and peak RSS: a
# fresh wrapper per case, so RUSAGE_CHILDREN's maximum is that one child's.
MEASURE = """
import json, resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True, text=True, check=False)
peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
print(json.dumps({"code": done.returncode, "out": done.stdout + done.stderr, "peak_kib": peak_kib}))
"""
PEAK_RSS_LIMIT_KIB = 200 * 1024


def _run_measured(*args: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-c", MEASURE, sys.executable, "-m", "generator", *args]
    done = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def _with_worker_extra(tmp_path: Path, name: str, extra: str) -> Path:
    """A copy of the runbook example with ``extra`` (YAML keys) added to its worker node."""
    text = EXAMPLE.read_text(encoding="utf-8")
    indented = "".join(f"    {line}\n" for line in extra.splitlines())
    config = tmp_path / name / "cluster.yaml"
    config.parent.mkdir()
    config.write_text(text.replace("    role: worker\n", "    role: worker\n" + indented), encoding="utf-8")
    return config


@pytest.mark.parametrize(
    ("document", "problem"),
    [(BILLION_LAUGHS, "a 'billion laughs' document"), (RECURSIVE_ALIAS, "a recursive alias")],
    ids=["billion-laughs", "recursive-alias"],
)
def test_alias_bombs_are_refused_cheaply_in_config_and_bundle(tmp_path: Path, document: str, problem: str) -> None:
    in_node = _with_worker_extra(tmp_path, "node", document)
    in_labels = _with_worker_extra(tmp_path, "labels", "labels:\n" + "".join(f"  {x}\n" for x in document.splitlines()))
    config, bundle = _config_copy(tmp_path)  # a valid config; its bundle gets the bomb beside its own keys
    bundle.write_text(bundle.read_text(encoding="utf-8") + document, encoding="utf-8")
    out = tmp_path / "out"
    runs = {
        "config": _run_measured("validate", str(in_node)),
        "label": _run_measured("render", str(in_labels), "-d", str(out)),
        "bundle": _run_measured("render", str(config), "--secrets", str(bundle), "-d", str(out)),
    }
    for where, run in runs.items():
        assert run["code"] == 1, (where, run)
        assert "Traceback" not in run["out"], (where, run["out"])
        lines = run["out"].strip().splitlines()
        assert any(problem in line for line in lines), (where, run["out"])
        assert run["peak_kib"] < PEAK_RSS_LIMIT_KIB, f"{where}: peak RSS {run['peak_kib']} KiB"
    assert not out.exists()


def test_unreadable_config_and_bundle_exit_1_with_the_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """click's Path checks readability itself (exit 2, a usage error) unless told not to; kgen reads the
    file and reports `FILE: cannot read: reason`. Faked, as root can read any file."""
    config, bundle = _config_copy(tmp_path)
    unreadable = {str(config), str(bundle)}
    real_access, real_read_text = os.access, Path.read_text

    def access(path: Any, mode: int, **kwargs: Any) -> bool:
        return False if str(path) in unreadable else real_access(path, mode, **kwargs)

    def read_text(self: Path, *args: Any, **kwargs: Any) -> str:
        if str(self) in unreadable:
            raise PermissionError(13, "Permission denied", str(self))
        return real_read_text(self, *args, **kwargs)

    monkeypatch.setattr(os, "access", access)
    monkeypatch.setattr(Path, "read_text", read_text)
    result = runner.invoke(app, ["validate", str(config)])
    assert (result.exit_code, result.output) == (1, f"{config}: cannot read: Permission denied\n")
    unreadable.discard(str(config))
    result = runner.invoke(app, ["render", str(config), "--secrets", str(bundle), "-d", str(tmp_path / "out")])
    assert (result.exit_code, result.output) == (1, f"{bundle}: cannot read: Permission denied\n")


def test_bundle_path_that_is_a_directory_says_so(tmp_path: Path) -> None:
    config, _ = _config_copy(tmp_path)
    result = runner.invoke(app, ["render", str(config), "--secrets", str(tmp_path), "-d", str(tmp_path / "out")])
    assert (result.exit_code, result.output) == (1, f"{tmp_path}: is a directory, expected a secrets bundle file\n")


def test_file_name_with_a_newline_stays_on_one_line(tmp_path: Path) -> None:
    config = tmp_path / "bad\nname.yaml"
    config.write_text("kind: [\n", encoding="utf-8")
    result = runner.invoke(app, ["validate", str(config)])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1
    assert result.output.startswith(json.dumps(str(config)) + ":2:1: invalid YAML")


def test_a_huge_value_is_echoed_short(tmp_path: Path) -> None:
    huge = "a" * 10 * 1024 * 1024
    for old, new in (("ttl: 24h", f"ttl: {huge}"), ("name: worker-0", f"name: {huge}"), ("ttl: 24h", f"{huge}: 1")):
        config = tmp_path / "cluster.yaml"
        config.write_text(EXAMPLE.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")
        result = runner.invoke(app, ["validate", str(config)])
        assert result.exit_code == 1
        assert len(result.output) < 1000, result.output[:1000]
        if "invalid YAML" not in result.output:  # libyaml refuses a plain key over 1024 characters itself
            assert f"'{'a' * 80}…' ({len(huge)} characters)" in result.output


def test_syntax_errors_name_line_and_column_with_a_hint(tmp_path: Path) -> None:
    config = tmp_path / "cluster.yaml"
    config.write_text("kind: Cluster\nspec:\n  os: debian-12\n\tnodes: []\n", encoding="utf-8")
    result = runner.invoke(app, ["validate", str(config)])
    assert result.exit_code == 1
    assert result.output.startswith(f"{config}:4:1: invalid YAML: ")
    assert "YAML indents with spaces only" in result.output
    config.write_text("kind: Cluster\nmetadata:\n  name: a: b\n", encoding="utf-8")
    result = runner.invoke(app, ["validate", str(config)])
    assert result.output.startswith(f"{config}:3:10: invalid YAML: mapping values are not allowed")
    assert "quote the value" in result.output


def test_merge_keys_override_and_still_catch_duplicates() -> None:
    doc = load(EXAMPLES / "valid" / "merge-keys-override" / "cluster.yaml")
    workers = doc.data["spec"]["nodes"][1:]
    assert workers[1] == {
        "role": "worker",
        "labels": {"node.kubernetes.io/pool": "general"},  # the first merge source wins over the second
        "taints": [],
        "name": "worker-1",  # a key written beside << wins over the merged one
        "ip": "10.10.10.240",
    }
    assert workers[0]["name"] == "worker-0"
    assert doc.line_of(("spec", "nodes", 2, "name")) == 32  # its own line, not the merged one's
    with pytest.raises(ConfigInvalid) as raised:
        parse("base: &b {a: 1}\nx:\n  <<: *b\n  a: 2\n  a: 3\n", "c.yaml")
    assert [str(p) for p in raised.value.problems] == [
        "c.yaml:5:3: x.a: duplicate key; YAML would silently keep only the last one"
    ]


def test_message_builder_survives_values_yaml_makes(tmp_path: Path) -> None:
    """Values only another loader could hand over (kgen's refuses them) still give messages, not crashes."""
    data = parse_yaml(EXAMPLE.read_text(encoding="utf-8"))
    data["spec"]["bootstrapToken"]["ttl"] = b"24h"
    data["spec"]["kubernetes"]["version"] = datetime.date(2024, 1, 1)
    data["spec"]["etcdBackup"] = {"directory": datetime.datetime(2024, 1, 1, 10, 0), "keep": 1.5}
    data["spec"].update({1: "a", "foo": "b", None: "n", False: "x"})
    data["metadata"]["name"] = 13
    problems = {p.path: p.message for p in validate(Document("c.yaml", data))}
    assert problems["spec.bootstrapToken.ttl"].startswith("binary data (3 bytes) must be a duration")
    assert problems["spec.kubernetes.version"].startswith("the date 2024-01-01 must be a Kubernetes version")
    assert problems["spec.etcdBackup.directory"].startswith("the date 2024-01-01T10:00:00 must be an absolute path")
    assert problems["metadata.name"] == "13 is not of type 'string'; quote it (13) for text"
    assert {"spec.1", "spec.foo", "spec.None", "spec.False"} <= set(problems)


def test_bundle_problems_never_echo_values(tmp_path: Path) -> None:
    config, bundle = _config_copy(tmp_path)
    text = bundle.read_text(encoding="utf-8")
    key = parse_yaml(text)["certificateKey"]
    bundle.write_text(text.replace(f"certificateKey: {key}", "certificateKey: 0x5ec2e7"), encoding="utf-8")
    result = runner.invoke(app, ["render", str(config), "--secrets", str(bundle), "-d", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "certificateKey: YAML 1.1 reads this value as" in result.output
    assert "5ec2e7" not in result.output and "6218471" not in result.output
