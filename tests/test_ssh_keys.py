"""spec.admin.sshAuthorizedKeys: real keys of every common type pass; a placeholder, text that is not
base64 and a blob of another type are refused, as ssh-keygen refuses them."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from typer.testing import CliRunner

from generator.checks.ssh_keys import key_problem
from generator.cli import app
from generator.resources import templates_dir
from tests.conftest import EXAMPLES, parse_yaml, require_tool

runner = CliRunner()

# The key every example uses: the public half of an Ed25519 key whose private bytes are
# sha256("kgen test key"), so it is a real key anyone can re-derive and nobody holds by accident.
TEST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICI5zLJe2KhGeYsJMQVpDpi+Qq7ergFfjAdCFqt/tfyL"


def _openssh(public: object) -> str:
    encoded = public.public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return str(encoded.decode("ascii"))


def _real_keys() -> list[str]:
    seed = hashlib.sha256(b"kgen test key").digest()
    return [
        _openssh(ed25519.Ed25519PrivateKey.from_private_bytes(seed).public_key()),
        _openssh(rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()),
        *(_openssh(ec.generate_private_key(c).public_key()) for c in (ec.SECP256R1(), ec.SECP384R1(), ec.SECP521R1())),
    ]


def test_the_examples_key_is_the_derived_real_key() -> None:
    assert _real_keys()[0] == TEST_KEY


@pytest.mark.parametrize("key", _real_keys(), ids=lambda k: k.split()[0])
def test_real_keys_pass(key: str) -> None:
    assert key_problem(key) is None
    assert key_problem(key + " someone@example.com") is None


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("ssh-ed25519 notakey", "not valid base64"),
        (TEST_KEY[:-1], "not valid base64"),
        (TEST_KEY.replace("ssh-ed25519", "ssh-rsa"), "the line says ssh-rsa but its key part is 'ssh-ed25519'"),
        ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5", "holds no key"),
        ("ssh-ed25519 AAAA", "too short"),
        ("ssh-ed25519 AA==", "too short"),
    ],
)
def test_broken_keys_are_refused(key: str, expected: str) -> None:
    problem = key_problem(key)
    assert problem is not None and expected in problem, problem


def test_the_init_placeholder_is_refused_with_a_way_out(tmp_path: Path) -> None:
    text = (templates_dir() / "cluster.yaml").read_text(encoding="utf-8")
    keys = parse_yaml(text)["spec"]["admin"]["sshAuthorizedKeys"]
    assert keys and all("put a real public key" in (key_problem(k) or "") for k in keys)
    config = tmp_path / "cluster.yaml"
    assert runner.invoke(app, ["init", str(config)]).exit_code == 0
    result = runner.invoke(app, ["validate", str(config)])
    assert result.exit_code == 1
    assert "spec.admin.sshAuthorizedKeys[0]: this is the placeholder key from `kgen init`" in result.output
    config.write_text(config.read_text(encoding="utf-8").replace(keys[0], TEST_KEY), encoding="utf-8")
    result = runner.invoke(app, ["validate", str(config)])
    assert result.exit_code == 0, result.output


def _keys_in(case: Path) -> list[str]:
    keys = parse_yaml(case.read_text(encoding="utf-8"))["spec"]["admin"]["sshAuthorizedKeys"]
    return [" ".join(str(k).split()[:2]) for k in keys]


def _ssh_keygen_reads(key: str, tmp_path: Path) -> bool:
    path = tmp_path / "key.pub"
    path.write_text(key + "\n", encoding="utf-8")
    done = subprocess.run([require_tool("ssh-keygen"), "-l", "-f", str(path)], capture_output=True, check=False)
    return done.returncode == 0


def test_ssh_keygen_agrees(tmp_path: Path) -> None:
    """The real reader: every key in the valid examples is one ssh-keygen reads; each refused example
    key is one it refuses."""
    valid = {k for case in (EXAMPLES / "valid").glob("*/cluster.yaml") for k in _keys_in(case)}
    assert TEST_KEY in valid
    for key in sorted(valid):
        assert _ssh_keygen_reads(key, tmp_path), key
    for case in ("ssh-key-placeholder", "ssh-key-not-base64", "ssh-key-type-mismatch"):
        (key,) = _keys_in(EXAMPLES / "invalid" / case / "cluster.yaml")
        assert not _ssh_keygen_reads(key, tmp_path), key
