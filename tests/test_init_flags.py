"""``kgen init`` with flags (issue 13): the common answers as flags, comments kept, values emitted by
the YAML dumper (never templated), every result passing ``kgen validate``; without flags the example
stays byte-identical."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from typer.testing import CliRunner

from generator.cli import app
from generator.resources import templates_dir
from tests.conftest import parse_yaml

runner = CliRunner()
TEMPLATE = (templates_dir() / "cluster.yaml").read_text(encoding="utf-8").replace("{schema}", "cluster.schema.json")
COMMENTS = [line.strip() for line in TEMPLATE.splitlines() if line.strip().startswith("#")]


def _key_files(tmp_path: Path) -> tuple[Path, Path, str]:
    private = ed25519.Ed25519PrivateKey.generate()
    public = private.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    pub = tmp_path / "id_ed25519.pub"
    pub.write_text(public.decode() + " me@laptop\n", encoding="utf-8")
    key = tmp_path / "id_ed25519"
    key.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        )
    )
    return pub, key, public.decode() + " me@laptop"


def test_without_flags_the_example_is_unchanged(tmp_path: Path) -> None:
    result = runner.invoke(app, ["init", str(tmp_path / "cluster.yaml")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "cluster.yaml").read_text(encoding="utf-8") == TEMPLATE


# Each case: flags, then what the written config must say (key path -> value).
CASES: dict[str, tuple[list[str], dict[str, Any]]] = {
    "name-only": (["--name", "prod-eu1"], {"metadata.name": "prod-eu1"}),
    "ha-dns-endpoint": (
        ["--control-planes", "3", "--workers", "2", "--endpoint", "k8s-api.example.com:6443"],
        {"spec.controlPlane.endpoint": "k8s-api.example.com:6443", "nodes": (3, 2)},
    ),
    "single-ip-endpoint": (
        ["--endpoint", "10.0.0.5:6443"],
        {"spec.controlPlane.endpoint": "10.0.0.5:6443", "spec.nodes.0.ip": "10.0.0.5", "nodes": (1, 1)},
    ),
    "control-plane-only": (["--workers", "0"], {"nodes": (1, 0)}),
    "rocky-crio-flannel": (
        ["--os", "rocky-9", "--runtime", "cri-o", "--cni", "flannel", "--kubernetes-version", "1.31.4"],
        {"spec.os": "rocky-9", "spec.runtime.name": "cri-o", "spec.cni.plugin": "flannel"},
    ),
    "debian-cilium-golden": (
        ["--os", "debian-12", "--cni", "cilium", "--image-mode", "golden", "--name", "lab"],
        {"spec.os": "debian-12", "spec.cni.plugin": "cilium", "spec.image.mode": "golden"},
    ),
    "minor-that-yaml-reads-as-a-number": (
        ["--kubernetes-version", "1.30.0"],
        {"spec.kubernetes.version": "1.30.0"},
    ),
    "everything": (
        [
            *("--name", "all", "--endpoint", "api.all.example:6443", "--kubernetes-version", "1.33.2"),
            *("--control-planes", "5", "--workers", "7", "--os", "almalinux-9", "--cni", "none"),
            *("--runtime", "containerd", "--image-mode", "install"),
        ],
        {"metadata.name": "all", "spec.runtime.name": "containerd", "nodes": (5, 7)},
    ),
}


def _get(data: Any, path: str) -> Any:
    for part in path.split("."):
        data = data[int(part)] if isinstance(data, list) else data[part]
    return data


@pytest.mark.parametrize("case", sorted(CASES))
def test_flags_give_a_valid_commented_config(tmp_path: Path, case: str) -> None:
    flags, expected = CASES[case]
    pub, _, key = _key_files(tmp_path)
    config = tmp_path / "cluster.yaml"
    result = runner.invoke(app, ["init", str(config), *flags, "--ssh-key", str(pub)])
    assert result.exit_code == 0, result.output
    validated = runner.invoke(app, ["validate", str(config)])
    assert validated.exit_code == 0, validated.output
    text = config.read_text(encoding="utf-8")
    data = parse_yaml(text)
    assert data["spec"]["admin"]["sshAuthorizedKeys"] == [key]
    for path, value in expected.items():
        if path == "nodes":
            roles = [n["role"] for n in data["spec"]["nodes"]]
            assert (roles.count("control-plane"), roles.count("worker")) == value
            assert len({n["name"] for n in data["spec"]["nodes"]}) == len(roles)
        else:
            assert _get(data, path) == value, path
    # The comments stay: all but the key's "replace me" hint (a key was given) and, with --runtime,
    # the commented-out runtime block, which became real keys.
    gone = {"# Replace with your own public key."}
    if "--runtime" in flags:
        gone |= {c for c in COMMENTS if c.startswith(("# runtime:", "#   name: containerd"))}
    kept = [line.strip() for line in text.splitlines() if line.strip().startswith("#")]
    assert [c for c in COMMENTS if c not in gone] == kept
    assert "# a DNS-1123 label; also the output folder name" in text


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--name", 'evil: "x'),
        ("--name", "null"),  # valid names YAML would read as something else: quoted by the dumper
        ("--name", "true"),
        ("--name", "1e3"),
        ("--endpoint", "[fd00::10]:6443"),
        ("--name", "a\nb: c"),
        ("--endpoint", "x: y # z"),
        ("--endpoint", "'quoted' \"both\":6443"),
        ("--kubernetes-version", "1.30: {x: y}"),
        ("--os", "ubuntu-24.04 # comment"),
        ("--cni", "[calico]"),
        ("--runtime", "&anchor containerd"),
        ("--image-mode", "*alias"),
    ],
)
def test_hostile_values_are_refused_or_emitted_verbatim(tmp_path: Path, flag: str, value: str) -> None:
    config = tmp_path / "cluster.yaml"
    pub, _, _ = _key_files(tmp_path)  # a real key: the example's placeholder fails validation on purpose
    result = runner.invoke(app, ["init", str(config), flag, value, "--ssh-key", str(pub)])
    assert "Traceback" not in result.output
    if result.exit_code != 0:  # refused: one located problem or a one-line reason, nothing written
        assert result.exit_code == 1 and not config.exists(), result.output
        return
    # Accepted: the YAML holds exactly the string given, as data (no extra keys, anchors or comments).
    data = parse_yaml(config.read_text(encoding="utf-8"))
    where = {
        "--name": "metadata.name",
        "--endpoint": "spec.controlPlane.endpoint",
        "--kubernetes-version": "spec.kubernetes.version",
        "--os": "spec.os",
        "--cni": "spec.cni.plugin",
        "--runtime": "spec.runtime.name",
        "--image-mode": "spec.image.mode",
    }[flag]
    assert _get(data, where) == value
    assert runner.invoke(app, ["validate", str(config)]).exit_code == 0


def test_hostile_values_are_refused_with_the_problem(tmp_path: Path) -> None:
    config = tmp_path / "cluster.yaml"
    result = runner.invoke(app, ["init", str(config), "--name", 'evil: "x', "--os", "windows"])
    assert result.exit_code == 1 and not config.exists()
    assert "metadata.name: 'evil: \"x' is not a valid cluster name" in result.output
    assert "spec.os: 'windows' is not one of" in result.output


def test_ssh_key_must_be_one_public_key(tmp_path: Path) -> None:
    _, private, _ = _key_files(tmp_path)
    result = runner.invoke(app, ["init", str(tmp_path / "cluster.yaml"), "--ssh-key", str(private)])
    assert result.exit_code == 1 and "is a private key; pass the public one" in result.output
    assert "PRIVATE" not in result.output.replace("is a private key", "")
    assert not (tmp_path / "cluster.yaml").exists()
    empty = tmp_path / "empty.pub"
    empty.write_text("# nothing\n", encoding="utf-8")
    result = runner.invoke(app, ["init", str(tmp_path / "cluster.yaml"), "--ssh-key", str(empty)])
    assert result.exit_code == 1 and "holds 0 keys" in result.output
    missing = runner.invoke(app, ["init", str(tmp_path / "cluster.yaml"), "--ssh-key", str(tmp_path / "nope.pub")])
    assert missing.exit_code == 1 and "cannot read --ssh-key" in missing.output
