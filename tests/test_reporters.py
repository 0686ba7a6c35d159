"""``bake`` as an API function: it tells its listener what happens in order and returns the rest; the
text and JSON reporters format the same outcome."""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pytest

from generator import api
from generator.errors import KgenError, Problem, UserError
from generator.reporters import JsonReporter, TextReporter, reporter_for
from generator.runners import qemu
from tests.conftest import EXAMPLES, write_bundle


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def warnings(self, problems: Sequence[Problem]) -> None:
        self.events += [("warning", str(p)) for p in problems]

    def progress(self, line: str, *, source: str = "") -> None:
        self.events.append(("progress" + (f":{source}" if source else ""), line))

    def file_verbs(self, result: api.RenderResult) -> None:
        self.events += [("warning", str(p)) for p in result.warnings]
        self.events += [("file", f"{c.status} {c.path}") for c in result.changes]


def test_bake_dry_run_through_the_api(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "cluster.yaml"
    config.write_text(
        (EXAMPLES / "valid" / "runbook-single-control-plane" / "cluster.yaml").read_text(encoding="utf-8"),
        encoding="utf-8",
    )
    bundle = write_bundle(config, tmp_path)
    heard = Recorder()
    outcome = api.bake(
        config, out_dir=tmp_path / "out", secrets_path=bundle, only="openstack", dry_run=True, listener=heard
    )
    assert outcome.dry_run and outcome.manifest is None
    assert [c[:2] for c in outcome.commands] == [["packer", "init"], ["packer", "build"]]
    assert not (tmp_path / "out").exists(), "a dry run writes nothing"
    assert all(kind == "warning" for kind, _ in heard.events)  # openstack only: no accelerator probe

    TextReporter().baked(outcome)
    text = capsys.readouterr().out
    assert text.splitlines()[0].startswith("packer init ")
    JsonReporter().baked(outcome)
    doc = json.loads(capsys.readouterr().out)
    assert doc == {"dry_run": True, "commands": outcome.commands, "manifest": None}


def test_vm_names_the_nodes_when_the_node_is_unknown(tmp_path: Path) -> None:
    config = tmp_path / "cluster.yaml"
    config.write_text(
        (EXAMPLES / "valid" / "runbook-single-control-plane" / "cluster.yaml").read_text(encoding="utf-8"),
        encoding="utf-8",
    )
    bundle = write_bundle(config, tmp_path)
    with pytest.raises(UserError, match=r"has no node 'nosuch'; its nodes are: .*master-0"):
        api.vm(config, "nosuch", image=tmp_path / "disk.img", out_dir=tmp_path / "out", secrets_path=bundle)


def test_reporter_for_each_format() -> None:
    assert isinstance(reporter_for("text"), TextReporter)
    assert isinstance(reporter_for("json"), JsonReporter)


def _vm_config(tmp_path: Path, *, mode: str = "golden") -> tuple[Path, Path]:
    config = tmp_path / "cluster.yaml"
    text = (EXAMPLES / "valid" / "runbook-single-control-plane" / "cluster.yaml").read_text(encoding="utf-8")
    config.write_text(re.sub(r"mode: (golden|install)", f"mode: {mode}", text, count=1), encoding="utf-8")
    return config, write_bundle(config, tmp_path)


def test_vm_in_install_mode_without_network_says_so_before_anything(tmp_path: Path) -> None:
    config, bundle = _vm_config(tmp_path, mode="install")
    image = tmp_path / "disk.img"
    image.write_bytes(b"\0" * (2 << 20))
    with pytest.raises(UserError, match=r"image.mode install: .* needs a network; add --network user"):
        api.vm(config, "master-0", image=image, out_dir=tmp_path / "out", secrets_path=bundle)
    assert not (tmp_path / "out").exists()


def test_vm_with_a_missing_image_writes_nothing(tmp_path: Path) -> None:
    """Issue 13: `kgen vm --image missing.img` re-rendered the output (reverting hand edits) before it
    said the disk was missing. The inputs are checked first now."""
    config, bundle = _vm_config(tmp_path)
    out = tmp_path / "out"
    api.render_cluster(config, out_dir=out, secrets_path=bundle)
    user_data = out / "demo" / "nodes" / "master-0" / "user-data"
    user_data.write_text("#cloud-config\n# a hand edit\n", encoding="utf-8")
    with pytest.raises(KgenError, match="disk image not found"):
        api.vm(config, "master-0", image=tmp_path / "missing.img", out_dir=out, secrets_path=bundle)
    assert user_data.read_text(encoding="utf-8") == "#cloud-config\n# a hand edit\n"


def test_vm_reports_the_per_file_verbs_of_render(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config, bundle = _vm_config(tmp_path)
    image = tmp_path / "disk.img"
    image.write_bytes(b"")
    monkeypatch.setattr(qemu, "check_inputs", lambda **_: "raw")
    monkeypatch.setattr(qemu, "run_vm", lambda **_: "ran")
    heard = Recorder()
    api.vm(
        config,
        "master-0",
        image=image,
        out_dir=tmp_path / "out",
        secrets_path=bundle,
        listener=heard,
        workdir=tmp_path / "vm",
    )
    files = [line for kind, line in heard.events if kind == "file"]
    assert f"create {tmp_path / 'out' / 'demo' / 'nodes' / 'master-0' / 'user-data'}" in files


def test_vm_that_fails_leaves_no_temporary_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without --workdir kgen makes a temporary folder for the overlay, seed and logs; when the run fails
    (here: user-data that would block the report) that folder, which the error does not name, is removed.
    A folder the caller gave is the caller's: it stays."""
    config, bundle = _vm_config(tmp_path)
    image = tmp_path / "disk.img"
    image.write_bytes(b"")
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    monkeypatch.setattr(qemu, "check_inputs", lambda **_: "raw")

    def fails(*, workdir: Path, **_: object) -> None:
        (workdir / "seed.img").write_bytes(b"seed")
        raise qemu.VmError("user-data sets bootcmd")

    monkeypatch.setattr(qemu, "run_vm", fails)
    for workdir in (None, tmp_path / "mine"):
        with pytest.raises(qemu.VmError, match="bootcmd"):
            api.vm(config, "master-0", image=image, out_dir=tmp_path / "out", secrets_path=bundle, workdir=workdir)
    assert list(temp.iterdir()) == []
    assert (tmp_path / "mine" / "seed.img").read_bytes() == b"seed"


def test_dry_run_without_a_bundle_shows_no_token(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 13: a dry run with no secrets bundle showed the id of a token that would never exist."""
    config = tmp_path / "cluster.yaml"
    config.write_text(
        (EXAMPLES / "valid" / "runbook-single-control-plane" / "cluster.yaml").read_text(encoding="utf-8"),
        encoding="utf-8",
    )
    result = api.render_cluster(config, out_dir=tmp_path / "out", dry_run=True)
    assert result.token is None and result.secrets_would_create and not result.secrets_created
    assert not (tmp_path / "cluster.secrets.yaml").exists()
    TextReporter().rendered(result)
    text = capsys.readouterr().err
    assert f"would create  {tmp_path / 'cluster.secrets.yaml'} (no bundle yet" in text
    assert "bootstrap token: made with the secrets bundle when you render without --dry-run" in text
    assert ".****" not in text
    JsonReporter().rendered(result)
    doc = json.loads(capsys.readouterr().out)
    assert doc["secrets"] == {"path": str(tmp_path / "cluster.secrets.yaml"), "created": False, "would_create": True}

    bundle = write_bundle(config, tmp_path)  # with a bundle, the dry run shows its real token
    again = api.render_cluster(config, out_dir=tmp_path / "out", secrets_path=bundle, dry_run=True)
    assert again.token is not None and not again.secrets_would_create
