"""The secrets bundle: generated with cryptography, stored 0600, reused, never leaked; the CA hash
agrees with the openssl CLI's documented recipe."""

from __future__ import annotations

import base64
import re
import stat
import subprocess
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from typer.testing import CliRunner

from generator import secrets
from generator.cli import app
from generator.errors import ConfigInvalid
from tests.conftest import EXAMPLES, FIXTURE_SECRETS, fixture_bundle, parse_yaml, require_tool

runner = CliRunner()
EXAMPLE = EXAMPLES / "valid" / "runbook-single-control-plane" / "cluster.yaml"


# Session scope for one module's read-only fixture: see tests/schedule.py on module scope.
@pytest.fixture(scope="session")
def bundle() -> secrets.SecretsBundle:
    return secrets.generate("demo")


def test_generated_bundle_formats(bundle: secrets.SecretsBundle) -> None:
    assert re.fullmatch(r"[a-z0-9]{6}\.[a-z0-9]{16}", bundle.bootstrap_token)
    assert re.fullmatch(r"[0-9a-f]{64}", bundle.certificate_key)
    for ca, cn in ((bundle.ca, "kubernetes"), (bundle.etcd_ca, "etcd-ca"), (bundle.front_proxy_ca, "front-proxy-ca")):
        cert = x509.load_pem_x509_certificate(ca.certificate.encode())
        assert cert.subject.rfc4514_string() == f"CN={cn}"
        assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        assert "PRIVATE KEY" in ca.key
    assert bundle.service_account_pub.startswith("-----BEGIN PUBLIC KEY-----")
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", bundle.ca_cert_hash)


def test_tokens_are_random() -> None:
    assert len({secrets.generate_token() for _ in range(50)}) == 50


def test_bundle_round_trips(bundle: secrets.SecretsBundle, tmp_path: Path) -> None:
    path = tmp_path / "c.secrets.yaml"
    path.write_text(bundle.to_yaml(), encoding="utf-8")
    assert secrets.load_bundle(path, cluster="demo") == bundle


@pytest.mark.parametrize("which", ["ca", "etcd_ca", "front_proxy_ca"])
def test_ca_hash_matches_openssl(which: str, bundle: secrets.SecretsBundle, tmp_path: Path) -> None:
    openssl = require_tool("openssl", reason="Debian package openssl")
    ca = getattr(bundle, which)
    cert = tmp_path / "ca.crt"
    cert.write_text(ca.certificate, encoding="utf-8")
    # The recipe from the kubeadm join docs.
    pubkey = subprocess.run([openssl, "x509", "-pubkey", "-noout", "-in", str(cert)], capture_output=True, check=True)
    der = subprocess.run(
        [openssl, "rsa", "-pubin", "-outform", "der"], input=pubkey.stdout, capture_output=True, check=True
    )
    digest = subprocess.run([openssl, "dgst", "-sha256", "-hex"], input=der.stdout, capture_output=True, check=True)
    hex_digest = digest.stdout.decode().strip().split()[-1]
    assert secrets.ca_cert_hash(ca.certificate) == f"sha256:{hex_digest}"


def test_openssl_verifies_the_ca_key_pair(bundle: secrets.SecretsBundle, tmp_path: Path) -> None:
    openssl = require_tool("openssl", reason="Debian package openssl")
    (tmp_path / "ca.crt").write_text(bundle.ca.certificate, encoding="utf-8")
    (tmp_path / "ca.key").write_text(bundle.ca.key, encoding="utf-8")
    cert_pub = subprocess.run(
        [openssl, "x509", "-pubkey", "-noout", "-in", str(tmp_path / "ca.crt")], capture_output=True, check=True
    ).stdout
    key_pub = subprocess.run(
        [openssl, "pkey", "-pubout", "-in", str(tmp_path / "ca.key")], capture_output=True, check=True
    ).stdout
    assert cert_pub == key_pub
    text = subprocess.run(
        [openssl, "x509", "-noout", "-text", "-in", str(tmp_path / "ca.crt")],
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    assert "CA:TRUE" in text and "Certificate Sign" in text


def test_first_render_creates_bundle_0600_and_reuses_it(tmp_path: Path) -> None:
    config = tmp_path / "cluster.yaml"
    config.write_text(EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    first = runner.invoke(app, ["render", str(config), "-d", str(tmp_path / "out")])
    assert first.exit_code == 0, first.output
    bundle_path = tmp_path / "cluster.secrets.yaml"
    assert f"create  {bundle_path}" in first.output
    assert stat.S_IMODE(bundle_path.stat().st_mode) == 0o600
    before = bundle_path.read_bytes()
    second = runner.invoke(app, ["render", str(config), "-d", str(tmp_path / "out")])
    assert second.exit_code == 0
    assert bundle_path.read_bytes() == before
    assert "new secrets bundle" not in second.output
    token = parse_yaml(before)["bootstrapToken"]
    for output in (first.output, second.output):
        assert token not in output


def test_secrets_option_points_elsewhere_and_must_exist(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.yaml"
    result = runner.invoke(app, ["render", str(EXAMPLE), "-d", str(tmp_path / "out"), "--secrets", str(missing)])
    assert result.exit_code == 1
    assert "no secrets bundle" in result.output
    assert not (tmp_path / "out").exists()


def test_bad_bundle_errors_never_show_secret_values(tmp_path: Path) -> None:
    good = fixture_bundle()
    data = parse_yaml(good.to_yaml())
    data["bootstrapToken"] = "NOT-A-TOKEN-but-secret-ish"
    data["ca"]["key"] = good.etcd_ca.key  # a key that does not belong to the certificate
    path = tmp_path / "bad.secrets.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ConfigInvalid) as info:
        secrets.load_bundle(path, cluster="demo")
    messages = "\n".join(str(p) for p in info.value.problems)
    assert "bootstrapToken: not a bootstrap token" in messages
    assert "NOT-A-TOKEN" not in messages
    data["bootstrapToken"] = good.bootstrap_token
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ConfigInvalid) as info:
        secrets.load_bundle(path, cluster="demo")
    messages = "\n".join(str(p) for p in info.value.problems)
    assert "ca.key: the private key does not belong to the certificate" in messages
    assert "PRIVATE KEY" not in messages
    result = runner.invoke(app, ["render", str(EXAMPLE), "-d", str(tmp_path / "out"), "--secrets", str(path)])
    assert result.exit_code == 1
    assert "PRIVATE KEY" not in result.output and good.bootstrap_token not in result.output


def test_bundle_for_another_cluster_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.secrets.yaml"
    path.write_text(fixture_bundle("other").to_yaml(), encoding="utf-8")
    with pytest.raises(ConfigInvalid, match="belongs to cluster 'other'"):
        secrets.load_bundle(path, cluster="demo")


def test_join_command(tmp_path: Path) -> None:
    bundle_path = tmp_path / "s.yaml"
    bundle_path.write_text(fixture_bundle().to_yaml(), encoding="utf-8")
    result = runner.invoke(app, ["join-command", str(EXAMPLE), "--secrets", str(bundle_path)])
    assert result.exit_code == 0
    bundle = fixture_bundle()
    assert result.output.strip() == (
        f"kubeadm join 10.10.10.238:6443 --token {bundle.bootstrap_token} "
        f"--discovery-token-ca-cert-hash {bundle.ca_cert_hash}"
    )


def _flip_certificate_byte(pem: str, where: str) -> str:
    """The CA certificate with one bit flipped in its public key's modulus or in its signature."""
    cert = x509.load_pem_x509_certificate(pem.encode())
    der = bytearray(cert.public_bytes(serialization.Encoding.DER))
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    offset = bytes(der).find(spki) + 40 if where == "public-key" else len(der) - 10
    der[offset] ^= 0x01
    text = base64.b64encode(bytes(der)).decode()
    body = "\n".join(text[i : i + 64] for i in range(0, len(text), 64))
    return f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"


@pytest.mark.parametrize("where", ["public-key", "signature"])
def test_corrupted_ca_certificate_is_blamed_on_the_certificate(where: str, tmp_path: Path) -> None:
    openssl = require_tool("openssl", reason="Debian package openssl")
    data = parse_yaml(fixture_bundle().to_yaml())
    data["etcdCA"]["certificate"] = _flip_certificate_byte(data["etcdCA"]["certificate"], where)
    cert = tmp_path / "ca.crt"
    cert.write_text(data["etcdCA"]["certificate"], encoding="utf-8")
    verify = [openssl, "verify", "-check_ss_sig", "-CAfile", str(cert), str(cert)]
    assert subprocess.run(verify, capture_output=True, check=False).returncode != 0  # openssl agrees it is broken
    path = tmp_path / "bad.secrets.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ConfigInvalid) as info:
        secrets.load_bundle(path, cluster="demo")
    messages = [str(p) for p in info.value.problems]
    assert len(messages) == 1, messages
    assert messages[0].startswith(f"{path}:")
    assert (
        "etcdCA.certificate: the certificate is damaged or was altered: its self-signature does not verify"
        in (messages[0])
    )
    assert "private key" not in messages[0]


def test_intact_ca_certificate_passes_openssl_and_kgen(tmp_path: Path) -> None:
    openssl = require_tool("openssl", reason="Debian package openssl")
    cert = tmp_path / "ca.crt"
    cert.write_text(fixture_bundle().etcd_ca.certificate, encoding="utf-8")
    verify = [openssl, "verify", "-check_ss_sig", "-CAfile", str(cert), str(cert)]
    assert subprocess.run(verify, capture_output=True, check=False).returncode == 0
    assert secrets.load_bundle(FIXTURE_SECRETS, cluster="demo").etcd_ca.certificate == cert.read_text(encoding="utf-8")
