"""``bake`` as an API function: it tells its listener what happens in order and returns the rest; the
text and JSON reporters format the same outcome."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from generator import api
from generator.errors import Problem, UserError
from generator.reporters import JsonReporter, TextReporter, reporter_for
from tests.conftest import EXAMPLES, write_bundle


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def warnings(self, problems: Sequence[Problem]) -> None:
        self.events += [("warning", str(p)) for p in problems]

    def progress(self, line: str, *, source: str = "") -> None:
        self.events.append(("progress" + (f":{source}" if source else ""), line))


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
