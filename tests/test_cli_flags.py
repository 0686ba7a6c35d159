"""One meaning per flag (issue 13): -o/--output is a format, -d/--out-dir the folder (the old folder
spellings still work for one release, with a deprecation line); render -o json; -q/--quiet;
render --check --diff, which never shows a secret file's content."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from generator.cli import app
from generator.resources import schemas_dir
from tests.conftest import EXAMPLES, parse_yaml, write_bundle

runner = CliRunner()
EXAMPLE = EXAMPLES / "valid" / "runbook-single-control-plane" / "cluster.yaml"
DEPRECATED = "is deprecated and goes away in the next release"


def _setup(tmp_path: Path) -> tuple[Path, Path]:
    config = tmp_path / "cluster.yaml"
    shutil.copy(EXAMPLE, config)
    return config, write_bundle(config, tmp_path)


def _render_schema() -> dict[str, object]:
    schema: dict[str, object] = json.loads((schemas_dir() / "kgen-render.schema.json").read_text(encoding="utf-8"))
    return schema


@pytest.mark.parametrize(
    ("spelling", "warned"),
    [(["-d"], False), (["--out-dir"], False), (["-o"], True), (["--out"], True)],
)
def test_output_folder_spellings(tmp_path: Path, spelling: list[str], warned: bool) -> None:
    config, bundle = _setup(tmp_path)
    out = tmp_path / "elsewhere"
    result = runner.invoke(app, ["render", str(config), "--secrets", str(bundle), *spelling, str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "demo" / "nodes" / "master-0" / "user-data").is_file()
    assert (DEPRECATED in result.stderr) is warned
    if warned:  # one line, naming the new flag
        [line] = [line for line in result.stderr.splitlines() if DEPRECATED in line]
        assert "-d/--out-dir DIR" in line


def test_a_format_name_is_always_the_format_and_the_folder_is_given_once(tmp_path: Path) -> None:
    config, bundle = _setup(tmp_path)
    base = ["render", str(config), "--secrets", str(bundle), "--dry-run"]
    # -o json is the format even where -o used to be the folder; no folder called "json" appears.
    result = runner.invoke(app, [*base, "-d", str(tmp_path / "out"), "-o", "json"], catch_exceptions=False)
    assert result.exit_code == 0 and DEPRECATED not in result.stderr
    assert json.loads(result.stdout)["dry_run"] is True
    both = runner.invoke(app, [*base, "-d", str(tmp_path / "a"), "--out", str(tmp_path / "b")])
    assert both.exit_code == 2 and "give the output folder once" in both.stderr
    # Commands without JSON output refuse -o json as a usage error instead of writing to ./json.
    restore = runner.invoke(app, ["restore", str(config), "--snapshot", "/var/snap.db", "-o", "json"])
    assert restore.exit_code == 2 and "formats: none" in restore.stderr
    assert not Path("json").exists()
    assert runner.invoke(app, ["versions", "-o", "xml"]).exit_code == 2


def test_render_json_and_dry_run_json_match_the_schema(tmp_path: Path) -> None:
    config, bundle = _setup(tmp_path)
    args = ["render", str(config), "--secrets", str(bundle), "-d", str(tmp_path / "out"), "-o", "json"]
    for extra, status in (["--dry-run"], "create"), ([], "create"), ([], "identical"):
        result = runner.invoke(app, [*args, *extra])
        assert result.exit_code == 0, result.output
        doc = json.loads(result.stdout)  # stdout is the document alone; verbs stay off stdout
        jsonschema.validate(doc, _render_schema())
        assert doc["dry_run"] is bool(extra)
        assert {c["status"] for c in doc["changes"]} == {status}
        assert "BEGIN" not in result.output


def test_quiet_drops_the_per_file_verbs_only(tmp_path: Path) -> None:
    config, bundle = _setup(tmp_path)
    args = ["render", str(config), "--secrets", str(bundle), "-d", str(tmp_path / "out")]
    loud, quiet = runner.invoke(app, args), runner.invoke(app, [*args, "-q"])
    assert loud.exit_code == quiet.exit_code == 0
    assert "create  " in loud.stderr and "create" not in quiet.stderr
    assert "master-0" in quiet.stderr and "bootstrap token" in quiet.stderr  # the summary stays
    again = runner.invoke(app, [*args, "--quiet"])
    assert again.exit_code == 0 and "identical" not in again.stderr
    rotate = runner.invoke(app, ["token", "rotate", *args[1:], "-q"])
    assert rotate.exit_code == 0, rotate.output
    # Only the bundle's own line is left: the re-rendered join configs get no verb.
    assert [line for line in rotate.stderr.splitlines() if "update  " in line] == [
        f"update  {bundle} (new bootstrap token for joining nodes)"
    ]


def _secret_strings(bundle: Path) -> list[str]:
    """Every line of every value in the bundle long enough to be a secret (PEM lines, the token)."""
    found: list[str] = []

    def walk(value: object) -> None:
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, str):
            found.extend(line for line in value.splitlines() if len(line) >= 16 and "-----" not in line)

    walk(parse_yaml(bundle.read_text(encoding="utf-8")))
    return found


def test_check_diff_shows_text_changes_and_never_a_secret(tmp_path: Path) -> None:
    config, bundle = _setup(tmp_path)
    out = tmp_path / "out"
    args = ["render", str(config), "--secrets", str(bundle), "-d", str(out)]
    assert runner.invoke(app, args).exit_code == 0
    root = out / "demo"
    clean = runner.invoke(app, [*args, "--check", "--diff"])
    assert (clean.exit_code, clean.stdout) == (0, "")
    node = root / "nodes" / "master-0"
    (node / "user-data").write_bytes((node / "user-data").read_bytes() + b"# SECRET-EDIT\n")  # 0600
    (node / "meta-data").write_text("instance-id: hand-edited\n", encoding="utf-8")  # 0644: shown
    leaked_key = root / "stray.pem"  # a stray 0644 file holding a key: removed, never shown
    leaked_key.write_text("-----BEGIN PRIVATE KEY-----\nSTRAYKEYBODY\n-----END PRIVATE KEY-----\n", encoding="utf-8")
    leaked_key.chmod(0o644)
    secret_stray = root / "stray.secret"
    secret_stray.write_text("STRAYSECRET\n", encoding="utf-8")
    secret_stray.chmod(0o600)
    target = tmp_path / "outside.txt"  # a symlink on disk is never followed
    target.write_text("OUTSIDE-CONTENT\n", encoding="utf-8")
    nodes_json = root / "nodes.json"
    nodes_json.unlink()
    nodes_json.symlink_to(target)
    (node / "kubeadm.yaml").unlink()  # 0600, would be created: not shown either

    result = runner.invoke(app, [*args, "--check", "--diff"])
    assert result.exit_code == 3, result.output
    diff = result.stdout
    assert "--- a/nodes/master-0/meta-data\n+++ b/nodes/master-0/meta-data\n" in diff
    assert "-instance-id: hand-edited\n" in diff and "\n+instance-id: " in diff
    assert "update nodes/master-0/user-data: a secret or binary file, content not shown\n" in diff
    assert "create nodes/master-0/kubeadm.yaml: a secret or binary file, content not shown\n" in diff
    assert "remove stray.pem: a secret or binary file, content not shown\n" in diff
    assert "remove stray.secret: a secret or binary file, content not shown\n" in diff
    assert "nodes.json: a symlink on disk, content not shown\n" in diff
    for secret in ["SECRET-EDIT", "STRAYKEYBODY", "STRAYSECRET", "OUTSIDE-CONTENT", *_secret_strings(bundle)]:
        assert secret not in result.output, secret
    # The drift lines still go to stderr, as with --check alone; nothing was written.
    assert f"update: {node / 'meta-data'}" in result.stderr
    assert (node / "meta-data").read_text(encoding="utf-8") == "instance-id: hand-edited\n"
    # --diff alone implies --check.
    assert runner.invoke(app, [*args, "--diff"]).exit_code == 3


def test_validate_json_takes_one_file(tmp_path: Path) -> None:
    config, _ = _setup(tmp_path)
    result = runner.invoke(app, ["validate", str(config), str(config), "-o", "json"])
    assert result.exit_code == 2 and "-o json takes one file" in result.stderr
