"""Rendering is a pure function of (config, secrets, kgen version), and writes are atomic."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from generator import api, placeholder, plan, secrets, write
from generator.cli import app
from generator.emit import render
from generator.emit.cloudinit import NOVA_USER_DATA_LIMIT
from generator.emit.index import NodeSummary, index
from generator.errors import ConfigInvalid, RenderError, UserError
from generator.tree import OutputFile
from tests.conftest import EXAMPLES, YAML_DUMPER, fixture_bundle, read_yaml, render_config, valid_cases
from tests.disk import snapshot

runner = CliRunner()


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("case", valid_cases(), ids=lambda p: p.name)
def test_two_renders_are_byte_identical(case: Path, tmp_path: Path) -> None:
    first = render_config(case / "cluster.yaml", tmp_path / "a")
    second = render_config(case / "cluster.yaml", tmp_path / "b")
    assert tree(first.root) == tree(second.root)


def test_output_has_no_timestamps(tmp_path: Path) -> None:
    rendered = render_config(EXAMPLES / "valid" / "runbook-single-control-plane" / "cluster.yaml", tmp_path)
    for rel, content in tree(rendered.root).items():
        assert b"2026-" not in content and b"2025-" not in content, rel


def test_failed_write_leaves_previous_output_untouched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "cluster.yaml"
    shutil.copy(EXAMPLES / "valid" / "runbook-single-control-plane" / "cluster.yaml", config)
    rendered = render_config(config, tmp_path)
    before = tree(rendered.root)

    def broken(*args: object, **kwargs: object) -> None:
        raise RenderError("simulated failure while rendering")

    monkeypatch.setattr(render, "render_cluster", broken)
    config.write_text(config.read_text(encoding="utf-8").replace("24h", "12h"), encoding="utf-8")
    with pytest.raises(ConfigInvalid, match="simulated failure"):
        api.render_cluster(config, out_dir=tmp_path / "out", secrets_path=tmp_path / "cluster.secrets.yaml")
    assert tree(rendered.root) == before


def test_write_tree_swaps_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "demo"
    write.write_tree({"a": OutputFile(b"1", 0o644)}, root)
    calls = {"n": 0}
    real_open = os.open

    def failing_open(path: str, flags: int, mode: int = 0o777, **kwargs: int) -> int:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(28, "No space left on device")
        fd: int = real_open(path, flags, mode, **kwargs)
        return fd

    monkeypatch.setattr(os, "open", failing_open)
    with pytest.raises(UserError, match="No space left"):
        write.write_tree({"a": OutputFile(b"2", 0o644), "b": OutputFile(b"3", 0o600)}, root)
    assert tree(root) == {"a": b"1"}
    assert [p.name for p in tmp_path.iterdir()] == ["demo"]  # no staging leftovers


# --- what render refuses, validate reports ---------------------------------------------------------------

OVER_NOVA_LIMIT = EXAMPLES / "invalid" / "user-data-over-nova-limit" / "cluster.yaml"


def test_validate_and_render_refuse_user_data_over_nova_limit_alike(tmp_path: Path) -> None:
    config = tmp_path / "cluster.yaml"
    shutil.copy(OVER_NOVA_LIMIT, config)
    validated = runner.invoke(app, ["validate", str(config)])
    assert validated.exit_code == 1
    (line,) = validated.output.splitlines()
    assert line.startswith(f"{config}:") and "spec.nodes[0]: user-data for node 'master-0' is" in line
    assert "over OpenStack Nova's limit of 65535 bytes of base64" in line
    before = snapshot(tmp_path)
    rendered = runner.invoke(app, ["render", str(config), "-d", str(tmp_path / "out")])
    assert rendered.exit_code == 1
    assert "Traceback" not in rendered.output
    (render_line,) = rendered.output.splitlines()
    location = line.split(" user-data ", 1)[0]  # file:line: key.path: -- the sizes differ with the real keys
    assert render_line.startswith(location + " user-data for node 'master-0' is")
    assert snapshot(tmp_path) == before  # no bundle, no output


def test_placeholder_bundle_is_at_least_as_large_as_a_real_one() -> None:
    """validate sizes user-data with the placeholder: no real bundle may be larger, field by field."""
    real, stand_in = secrets.generate("demo"), placeholder.bundle("demo")
    for field in ("bootstrap_token", "certificate_key", "service_account_key", "service_account_pub"):
        assert len(getattr(stand_in, field)) >= len(getattr(real, field)), field
    for ca in ("ca", "etcd_ca", "front_proxy_ca"):
        for part in ("certificate", "key"):
            assert len(getattr(getattr(stand_in, ca), part)) >= len(getattr(getattr(real, ca), part)), (ca, part)
    assert len(stand_in.ca_cert_hash) == len(real.ca_cert_hash)


def _with_cert_sans(tmp_path: Path, sans: list[str]) -> Path:
    data = read_yaml(EXAMPLES / "valid" / "runbook-single-control-plane" / "cluster.yaml")
    data["spec"]["controlPlane"]["certSANs"] = []
    # libyaml's emitter, and the list's nodes made here: PyYAML's representer takes seconds over 70,000
    # items. The text is what yaml.dump(data, Dumper=YAML_DUMPER) writes with the SANs in the list.
    node = YAML_DUMPER(io.StringIO()).represent_data(data)
    spec = next(value for key, value in node.value if key.value == "spec")
    control_plane = next(value for key, value in spec.value if key.value == "controlPlane")
    cert_sans = next(value for key, value in control_plane.value if key.value == "certSANs")
    cert_sans.value = [yaml.ScalarNode("tag:yaml.org,2002:str", san) for san in sans]
    config = tmp_path / "cluster.yaml"
    config.write_text(yaml.serialize(node, Dumper=YAML_DUMPER), encoding="utf-8")
    return config


def test_seventy_thousand_cert_sans_are_refused_by_validate(tmp_path: Path) -> None:
    config = _with_cert_sans(tmp_path, [f"api-{i}.example.com" for i in range(70_000)])
    result = runner.invoke(app, ["validate", str(config)])
    assert result.exit_code == 1
    (line,) = result.output.splitlines()
    assert re.match(rf"{re.escape(str(config))}:\d+: spec\.controlPlane\.certSANs: .* is too long$", line)


def test_the_most_cert_sans_the_schema_allows_render(tmp_path: Path) -> None:
    config = _with_cert_sans(tmp_path, [f"api-{i}.example.com" for i in range(256)])
    assert runner.invoke(app, ["validate", str(config)]).exit_code == 0
    result = runner.invoke(app, ["render", str(config), "-d", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output


def test_nodes_index_is_what_json_dumps_writes() -> None:
    """index() writes the node list from a pattern; the text must be json.dumps(..., indent=2)'s."""
    cluster = api.load_cluster(EXAMPLES / "valid" / "runbook-single-control-plane" / "cluster.yaml").cluster
    the_plan = plan.plan(cluster, fixture_bundle(cluster.name))
    odd = ["n-0", 'quote"back\\slash', "tab\tnew\nline", "é☃\U0001f600", "\x00\x1f\x7f", ""]
    summaries = [
        NodeSummary(name, role, action, ip, size, size * 4 // 3, gzipped, keys)
        for i, name in enumerate(odd)
        for role, action, ip, size, gzipped, keys in [
            ("control-plane", "init", None, 0, False, True),
            ("worker", "join", f"10.0.0.{i}", 65535 * i, True, False),
        ]
    ]
    for nodes in ([], summaries[:1], summaries):
        data = json.loads(index(the_plan, []))
        data["nodes"] = [
            {
                "name": s.name,
                "role": s.role,
                "action": s.action,
                "ip": s.ip,
                "userData": {
                    "bytes": s.user_data_bytes,
                    "base64Bytes": s.user_data_base64_bytes,
                    "novaLimit": NOVA_USER_DATA_LIMIT,
                    "gzipped": s.gzipped,
                },
                "holdsPrivateKeys": s.holds_private_keys,
            }
            for s in nodes
        ]
        assert index(the_plan, nodes) == json.dumps(data, indent=2) + "\n"
