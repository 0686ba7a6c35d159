"""A render that fails writes nothing: every output target and the secrets path are checked first,
the bundle is written in the same all-or-nothing step as the tree, and a failure leaves every byte
on disk as it was (paths, types, modes, contents, symlink targets), with no staging folder behind.
A bundle path that is a dangling symlink or a loop is an error, never "no bundle yet"."""

from __future__ import annotations

import os
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from generator import secrets
from generator.cli import app
from tests.conftest import EXAMPLES, REPO, require_tool, validators_required, write_bundle
from tests.disk import snapshot

runner = CliRunner()
EXAMPLE = EXAMPLES / "valid" / "runbook-single-control-plane" / "cluster.yaml"


def _config(tmp_path: Path, *, bundle: bool) -> Path:
    config = tmp_path / "cluster.yaml"
    shutil.copy(EXAMPLE, config)
    if bundle:
        write_bundle(config, tmp_path).chmod(0o600)
    return config


def _refused(tmp_path: Path, args: list[str], *needles: str) -> None:
    before = snapshot(tmp_path)
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in result.output
    assert snapshot(tmp_path) == before


# --- output targets ------------------------------------------------------------------------------------


@pytest.mark.parametrize("bundle", [False, True], ids=["new-bundle", "existing-bundle"])
def test_out_is_a_file(tmp_path: Path, bundle: bool) -> None:
    config = _config(tmp_path, bundle=bundle)
    (tmp_path / "out").write_text("not a folder\n", encoding="utf-8")
    _refused(tmp_path, ["render", str(config), "-d", str(tmp_path / "out")], "is not a folder")
    assert not (tmp_path / "cluster.secrets.yaml").exists() or bundle


@pytest.mark.parametrize("bundle", [False, True], ids=["new-bundle", "existing-bundle"])
def test_out_below_a_file(tmp_path: Path, bundle: bool) -> None:
    config = _config(tmp_path, bundle=bundle)
    (tmp_path / "file").write_text("x\n", encoding="utf-8")
    _refused(tmp_path, ["render", str(config), "-d", str(tmp_path / "file" / "out")], "is not a folder")


@pytest.mark.parametrize("bundle", [False, True], ids=["new-bundle", "existing-bundle"])
def test_cluster_folder_is_a_file(tmp_path: Path, bundle: bool) -> None:
    config = _config(tmp_path, bundle=bundle)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "demo").write_text("precious\n", encoding="utf-8")
    _refused(tmp_path, ["render", str(config), "-d", str(tmp_path / "out")], "exists and is not a folder")
    assert not (tmp_path / "cluster.secrets.yaml").exists() or bundle


@pytest.mark.parametrize("target", ["folder", "dangling"])
def test_cluster_folder_is_a_symlink(tmp_path: Path, target: str) -> None:
    config = _config(tmp_path, bundle=False)
    (tmp_path / "out").mkdir()
    elsewhere = tmp_path / "elsewhere"
    if target == "folder":
        elsewhere.mkdir()
        (elsewhere / "keep.txt").write_text("keep\n", encoding="utf-8")
    (tmp_path / "out" / "demo").symlink_to(elsewhere)
    for extra in ([], ["--dry-run"]):
        _refused(tmp_path, ["render", str(config), "-d", str(tmp_path / "out"), *extra], "is a symlink")
    assert not (tmp_path / "cluster.secrets.yaml").exists()


@pytest.mark.parametrize("dry_run", [False, True], ids=["render", "dry-run"])
@pytest.mark.parametrize("target", ["out-is-a-file", "cluster-folder-is-a-symlink", "out-below-a-file"])
def test_a_target_refusal_comes_before_any_key_is_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str, dry_run: bool
) -> None:
    """A first render refuses a bad output folder before it makes the bundle's keys (RSA: 0.2-0.5 s)."""
    config = _config(tmp_path, bundle=False)
    out = tmp_path / "out"
    if target == "out-is-a-file":
        out.write_text("not a folder\n", encoding="utf-8")
    elif target == "cluster-folder-is-a-symlink":
        out.mkdir()
        (out / "demo").symlink_to(tmp_path)
    else:
        (tmp_path / "file").write_text("x\n", encoding="utf-8")
        out = tmp_path / "file" / "out"

    def no_keys(*_: object, **__: object) -> None:
        raise AssertionError("keys made for a render that is refused")

    monkeypatch.setattr(secrets, "generate", no_keys)
    _refused(tmp_path, ["render", str(config), "-d", str(out), *(["--dry-run"] if dry_run else [])], "kgen: ")


def test_successful_render_leaves_no_staging_or_old_folders(tmp_path: Path) -> None:
    config = _config(tmp_path, bundle=False)
    out = tmp_path / "out"
    assert runner.invoke(app, ["render", str(config), "-d", str(out)]).exit_code == 0
    config.write_text(config.read_text(encoding="utf-8").replace("24h", "12h"), encoding="utf-8")
    assert runner.invoke(app, ["render", str(config), "-d", str(out)]).exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == ["demo"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cluster.secrets.yaml", "cluster.yaml", "out"]


# --- unwritable targets: a read-only bind mount (tests run as root, and root ignores mode bits) ----------


def _read_only_render(tmp_path: Path, read_only: Path, config: Path) -> subprocess.CompletedProcess[str]:
    """``kgen render`` in a private mount namespace where ``read_only`` is a read-only bind mount."""
    unshare = require_tool("unshare", reason="Debian package util-linux")
    if os.geteuid() != 0:
        if validators_required():
            pytest.fail("read-only bind mounts need root (KGEN_REQUIRE_VALIDATORS=1)")
        pytest.skip("read-only bind mounts need root")
    ro = shlex.quote(str(read_only))
    kgen = shlex.join([sys.executable, "-m", "generator", "render", str(config), "-d", str(tmp_path / "out")])
    script = f"mount --bind {ro} {ro} && mount -o remount,ro,bind {ro} && exec {kgen}"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [unshare, "--mount", "--propagation", "private", "sh", "-c", script],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )


def _assert_refused_read_only(tmp_path: Path, read_only: Path, config: Path) -> None:
    before = snapshot(tmp_path)
    result = _read_only_render(tmp_path, read_only, config)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "read-only file system" in result.stderr
    assert snapshot(tmp_path) == before


def test_cluster_folder_unwritable(tmp_path: Path) -> None:
    config = _config(tmp_path, bundle=True)
    assert runner.invoke(app, ["render", str(config), "-d", str(tmp_path / "out")]).exit_code == 0
    config.write_text(config.read_text(encoding="utf-8").replace("24h", "12h"), encoding="utf-8")
    _assert_refused_read_only(tmp_path, tmp_path / "out" / "demo", config)


def test_out_unwritable_creates_no_bundle(tmp_path: Path) -> None:
    config = _config(tmp_path, bundle=False)
    (tmp_path / "out").mkdir()
    _assert_refused_read_only(tmp_path, tmp_path / "out", config)
    assert not (tmp_path / "cluster.secrets.yaml").exists()


def test_bundle_folder_unwritable_writes_no_tree(tmp_path: Path) -> None:
    conf_dir = tmp_path / "conf"
    conf_dir.mkdir()
    config = _config(conf_dir, bundle=False)
    _assert_refused_read_only(tmp_path, conf_dir, config)
    assert not (tmp_path / "out").exists()


# --- the secrets path ------------------------------------------------------------------------------------


def test_dangling_bundle_symlink_is_not_a_missing_bundle(tmp_path: Path) -> None:
    config = _config(tmp_path, bundle=False)
    (tmp_path / "cluster.secrets.yaml").symlink_to(tmp_path / "vault" / "cluster.secrets.yaml")
    for command in ("render", "join-command"):
        args = [command, str(config)] + (["-d", str(tmp_path / "out")] if command == "render" else [])
        _refused(tmp_path, args, "is a symlink to", "which does not exist")
    _refused(tmp_path, ["token", "rotate", str(config), "-d", str(tmp_path / "out")], "which does not exist")


def test_bundle_symlink_loop(tmp_path: Path) -> None:
    config = _config(tmp_path, bundle=False)
    (tmp_path / "cluster.secrets.yaml").symlink_to(tmp_path / "loop")
    (tmp_path / "loop").symlink_to(tmp_path / "cluster.secrets.yaml")
    _refused(tmp_path, ["render", str(config), "-d", str(tmp_path / "out")], "symlink loop")


def test_bundle_path_is_a_folder(tmp_path: Path) -> None:
    config = _config(tmp_path, bundle=False)
    (tmp_path / "cluster.secrets.yaml").mkdir()
    _refused(
        tmp_path, ["render", str(config), "-d", str(tmp_path / "out")], "is a directory, expected a secrets bundle file"
    )


def test_bundle_symlink_to_a_real_bundle_is_used_and_kept(tmp_path: Path) -> None:
    config = _config(tmp_path, bundle=True)
    vault = tmp_path / "vault"
    vault.mkdir()
    (tmp_path / "cluster.secrets.yaml").rename(vault / "cluster.secrets.yaml")
    (tmp_path / "cluster.secrets.yaml").symlink_to(vault / "cluster.secrets.yaml")
    before = (vault / "cluster.secrets.yaml").read_bytes()
    assert runner.invoke(app, ["render", str(config), "-d", str(tmp_path / "out")]).exit_code == 0
    assert (vault / "cluster.secrets.yaml").read_bytes() == before
    rotated = runner.invoke(app, ["token", "rotate", str(config), "-d", str(tmp_path / "out")])
    assert rotated.exit_code == 0, rotated.output
    assert (tmp_path / "cluster.secrets.yaml").is_symlink()  # written through the link, not replaced
    assert (vault / "cluster.secrets.yaml").read_bytes() != before
    assert stat.S_IMODE((vault / "cluster.secrets.yaml").stat().st_mode) == 0o600
    assert sorted(p.name for p in vault.iterdir()) == ["cluster.secrets.yaml"]


def test_world_readable_bundle_is_used_with_a_warning(tmp_path: Path) -> None:
    """Documented choice: kgen warns (ssh would refuse) and says how to fix it; the bundle is untouched."""
    config = _config(tmp_path, bundle=True)
    bundle = tmp_path / "cluster.secrets.yaml"
    bundle.chmod(0o644)
    before = snapshot(tmp_path)
    result = runner.invoke(app, ["render", str(config), "-d", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert f"{bundle}: warning: permissions 0644 are too open" in result.output
    assert f"chmod 600 {bundle}" in result.output
    after = snapshot(tmp_path)
    assert {k: v for k, v in after.items() if not k.startswith("out")} == before
    bundle.chmod(0o600)
    quiet = runner.invoke(app, ["render", str(config), "-d", str(tmp_path / "out")])
    assert "too open" not in quiet.output
