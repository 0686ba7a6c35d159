"""`kgen kubeconfig`: an admin kubeconfig signed offline with the bundle's cluster CA, checked by real
tools (`openssl verify`, `kubectl config view --raw`) and through the CLI in-process."""

from __future__ import annotations

import base64
import dataclasses
import datetime
import json
import os
import shutil
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from typer.testing import CliRunner, Result

from generator import api, kubeconfig, secrets
from generator.cli import app
from generator.errors import UserError
from tests.conftest import EXAMPLES, fixture_bundle, parse_yaml, require_tool, write_bundle

runner = CliRunner()
EXAMPLE = EXAMPLES / "valid" / "runbook-single-control-plane" / "cluster.yaml"
SERVER = "https://10.10.10.238:6443"  # the example's spec.controlPlane.endpoint


@dataclasses.dataclass(frozen=True)
class Setup:
    config: Path
    bundle: Path
    out: Path  # where the kubeconfig goes

    def args(self, *extra: str) -> list[str]:
        return ["kubeconfig", str(self.config), "--secrets", str(self.bundle), str(self.out), *extra]


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    config = tmp_path / "cluster.yaml"
    shutil.copy(EXAMPLE, config)
    return Setup(config=config, bundle=write_bundle(config, tmp_path), out=tmp_path / "demo.kubeconfig")


def _run(args: list[str]) -> Result:
    return runner.invoke(app, args)


def _doc(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = parse_yaml(path.read_text(encoding="utf-8"))
    return data


def _client_cert(doc: dict[str, Any]) -> x509.Certificate:
    return x509.load_pem_x509_certificate(base64.b64decode(doc["users"][0]["user"]["client-certificate-data"]))


def _pem_bodies(*pems: str) -> list[str]:
    """Each base64 line of the PEM blocks (their secret content), to look for in output."""
    return [line for pem in pems for line in pem.splitlines() if line and not line.startswith("-----")]


# --- The credential: subject, validity, usages, file mode -----------------------------------------------

CASES = [
    # (extra arguments, CN, O values, ttl)
    ([], "kgen-admin", ["kubeadm:cluster-admins"], datetime.timedelta(hours=24)),
    (["--user", "alice", "--ttl", "30m"], "alice", ["kubeadm:cluster-admins"], datetime.timedelta(minutes=30)),
    (["--group", "platform", "--ttl", "7d"], "kgen-admin", ["platform"], datetime.timedelta(days=7)),
    (
        ["--user", "bob", "--group", "a", "--group", "b", "--ttl", "1h30m"],
        "bob",
        ["a", "b"],
        datetime.timedelta(minutes=90),
    ),
]


@pytest.mark.parametrize(("extra", "cn", "orgs", "ttl"), CASES, ids=["default", "user", "group", "two-groups"])
def test_certificate_subject_validity_usages_and_mode(
    setup: Setup, extra: list[str], cn: str, orgs: list[str], ttl: datetime.timedelta
) -> None:
    before = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    result = _run(setup.args(*extra))
    after = datetime.datetime.now(datetime.UTC)
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(setup.out.stat().st_mode) == 0o600
    assert f"create  {setup.out}" in result.stderr
    doc = _doc(setup.out)
    cert = _client_cert(doc)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == cn
    assert [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == orgs
    assert cert.issuer == x509.load_pem_x509_certificate(fixture_bundle().ca.certificate.encode()).subject
    # Valid for --ttl from the moment it was signed, backdated by kubeadm's 5 minutes for clock skew.
    assert before + ttl <= cert.not_valid_after_utc <= after + ttl
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == ttl + kubeconfig.BACKDATE
    assert cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.CLIENT_AUTH]
    )
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.key_encipherment and not usage.key_cert_sign
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    key = serialization.load_pem_private_key(base64.b64decode(doc["users"][0]["user"]["client-key-data"]), None)
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048  # kubeadm's default for an RSA CA
    assert doc["current-context"] == f"{cn}@demo"
    assert doc["contexts"] == [{"name": f"{cn}@demo", "context": {"cluster": "demo", "user": cn}}]
    assert doc["clusters"][0]["name"] == "demo"
    assert doc["clusters"][0]["cluster"]["server"] == SERVER
    ca_data = base64.b64decode(doc["clusters"][0]["cluster"]["certificate-authority-data"]).decode()
    assert ca_data == fixture_bundle().ca.certificate


def test_each_credential_is_new(setup: Setup) -> None:
    """Unlike render output, a kubeconfig is a fresh credential: new key, random serial."""
    first = _run(setup.args())
    assert first.exit_code == 0, first.output
    one = _doc(setup.out)
    assert _run(setup.args("--force")).exit_code == 0
    two = _doc(setup.out)
    assert _client_cert(one).serial_number != _client_cert(two).serial_number
    assert one["users"][0]["user"]["client-key-data"] != two["users"][0]["user"]["client-key-data"]


def test_openssl_verifies_the_client_certificate_against_the_bundle_ca(setup: Setup, tmp_path: Path) -> None:
    openssl = require_tool("openssl")
    assert _run(setup.args("--ttl", "2h")).exit_code == 0
    cert = tmp_path / "client.crt"
    cert.write_bytes(base64.b64decode(_doc(setup.out)["users"][0]["user"]["client-certificate-data"]))
    ca = tmp_path / "ca.crt"
    ca.write_text(secrets.load_bundle(setup.bundle, cluster="demo").ca.certificate, encoding="utf-8")
    verified = subprocess.run(
        [openssl, "verify", "-CAfile", str(ca), "-purpose", "sslclient", str(cert)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert verified.returncode == 0 and verified.stdout.strip() == f"{cert}: OK", verified.stdout + verified.stderr
    # A certificate from another CA must fail the same check (the test can tell good from bad).
    other = tmp_path / "other-ca.crt"
    other.write_text(secrets.generate_ca("kubernetes").certificate, encoding="utf-8")
    wrong = subprocess.run([openssl, "verify", "-CAfile", str(other), str(cert)], capture_output=True, check=False)
    assert wrong.returncode != 0


def _kubectl_view(kubectl: str, path: Path) -> dict[str, Any]:
    env = {**os.environ, "KUBECONFIG": str(path), "HOME": str(path.parent)}
    view = subprocess.run(
        [kubectl, "config", "view", "--raw", "-o", "json"], capture_output=True, text=True, env=env, check=False
    )
    assert view.returncode == 0, view.stderr
    data: dict[str, Any] = json.loads(view.stdout)
    return data


def test_kubectl_reads_it(setup: Setup) -> None:
    kubectl = require_tool("kubectl", reason="Debian package kubernetes-client")
    assert _run(setup.args("--user", "alice")).exit_code == 0
    view = _kubectl_view(kubectl, setup.out)
    ours = _doc(setup.out)
    assert view["current-context"] == "alice@demo"
    assert view["clusters"] == [{"name": "demo", "cluster": ours["clusters"][0]["cluster"]}]
    assert view["users"] == [{"name": "alice", "user": ours["users"][0]["user"]}]
    assert view["contexts"] == [{"name": "alice@demo", "context": {"cluster": "demo", "user": "alice"}}]


def test_dash_prints_it_for_a_pipe_and_writes_nothing(setup: Setup, tmp_path: Path) -> None:
    kubectl = require_tool("kubectl", reason="Debian package kubernetes-client")
    result = _run(["kubeconfig", str(setup.config), "--secrets", str(setup.bundle), "-"])
    assert result.exit_code == 0, result.output
    assert not list(tmp_path.glob("*.kubeconfig"))
    piped = tmp_path / "piped"
    piped.write_text(result.stdout, encoding="utf-8")
    assert _kubectl_view(kubectl, piped)["current-context"] == "kgen-admin@demo"
    assert "create" not in result.stderr


def test_default_output_is_cluster_kubeconfig_in_the_current_folder(
    setup: Setup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    result = _run(["kubeconfig", str(setup.config), "--secrets", str(setup.bundle)])
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE((here / "demo.kubeconfig").stat().st_mode) == 0o600


def test_ecdsa_ca_gives_an_ecdsa_p256_key(setup: Setup) -> None:
    """A cluster whose CA is ECDSA (kubeadm's encryptionAlgorithm ECDSA-P256) gets a P-256 client key,
    whose KeyUsage has no keyEncipherment (RSA key transport only)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    ca = secrets.CertificateAuthority(
        certificate=cert.public_bytes(serialization.Encoding.PEM).decode(),
        key=key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        ).decode(),
    )
    setup.bundle.write_text(dataclasses.replace(fixture_bundle(), ca=ca).to_yaml(), encoding="utf-8")
    result = _run(setup.args())
    assert result.exit_code == 0, result.output
    doc = _doc(setup.out)
    client = serialization.load_pem_private_key(base64.b64decode(doc["users"][0]["user"]["client-key-data"]), None)
    assert isinstance(client, ec.EllipticCurvePrivateKey) and client.curve.name == "secp256r1"
    usage = _client_cert(doc).extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and not usage.key_encipherment
    _client_cert(doc).verify_directly_issued_by(cert)
    assert "ECDSA-P256" in result.stderr


# --- Refusals: one line, exit 1, nothing written ---------------------------------------------------------


def _one_line_error(result: Result) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_refuses_to_overwrite_without_force(setup: Setup) -> None:
    setup.out.write_text("mine\n", encoding="utf-8")
    setup.out.chmod(0o644)
    line = _one_line_error(_run(setup.args()))
    assert line == f"kgen: {setup.out} already exists; use --force to replace it"
    assert setup.out.read_text(encoding="utf-8") == "mine\n"
    forced = _run(setup.args("--force"))
    assert forced.exit_code == 0, forced.output
    assert f"replace  {setup.out}" in forced.stderr
    assert stat.S_IMODE(setup.out.stat().st_mode) == 0o600  # the new file, not the old mode
    assert _doc(setup.out)["kind"] == "Config"


def test_refuses_a_dangling_symlink_without_force(setup: Setup, tmp_path: Path) -> None:
    setup.out.symlink_to(tmp_path / "gone")
    assert "already exists" in _one_line_error(_run(setup.args()))
    assert not (tmp_path / "gone").exists()


def test_write_private_file_never_replaces_a_file_that_appears_meanwhile(tmp_path: Path) -> None:
    """The no-clobber path ends in a hard link, which fails on an existing name (no check-then-write race)."""
    from generator import write  # noqa: PLC0415 - only this test uses the helper directly

    target = tmp_path / "k"
    assert write.write_private_file(write.SecretFile(target, "one\n"), overwrite=False) == "create"
    with pytest.raises(UserError, match="already exists"):
        write.write_private_file(write.SecretFile(target, "two\n"), overwrite=False)
    assert target.read_text(encoding="utf-8") == "one\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k"]  # no staging file left behind


BAD_TTLS = [
    ("5x", "is not a duration"),
    ("", "is not a duration"),
    ("1.5h", "is not a duration"),
    ("-1h", "is not a duration"),
    ("h", "is not a duration"),
    ("24", "is not a duration"),
    ("0h", "is zero"),
    ("366d", "longer than 365d"),
]


@pytest.mark.parametrize(("ttl", "message"), BAD_TTLS, ids=[t or "empty" for t, _ in BAD_TTLS])
def test_bad_ttl(setup: Setup, ttl: str, message: str) -> None:
    line = _one_line_error(_run(setup.args("--ttl", ttl)))
    assert line.startswith(f"kgen: --ttl {ttl!r} ") and message in line
    assert not setup.out.exists()


@pytest.mark.parametrize(("text", "seconds"), [("30m", 1800), ("12h", 43200), ("7d", 604800), ("1h30m", 5400)])
def test_parse_ttl(text: str, seconds: int) -> None:
    assert kubeconfig.parse_ttl(text).total_seconds() == seconds


def test_ttl_may_not_outlive_the_ca(setup: Setup) -> None:
    ca_end = x509.load_pem_x509_certificate(fixture_bundle().ca.certificate.encode()).not_valid_after_utc
    with pytest.raises(UserError, match="would outlive the cluster CA, which expires on"):
        api.admin_kubeconfig(
            setup.config,
            secrets_path=setup.bundle,
            output=setup.out,
            ttl="2h",
            now=ca_end - datetime.timedelta(hours=1),
        )
    with pytest.raises(UserError, match="expired on"):
        api.admin_kubeconfig(setup.config, secrets_path=setup.bundle, output=setup.out, now=ca_end)
    assert not setup.out.exists()


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [("--user", "", "non-empty"), ("--user", "x" * 65, "at most 64"), ("--group", "a\nb", "printable")],
)
def test_bad_names(setup: Setup, option: str, value: str, message: str) -> None:
    assert message in _one_line_error(_run(setup.args(option, value)))
    assert not setup.out.exists()


def _bundle_data(bundle: Path) -> dict[str, Any]:
    data: dict[str, Any] = parse_yaml(bundle.read_text(encoding="utf-8"))
    return data


def _drop_ca(data: dict[str, Any]) -> None:
    data.pop("ca")


def _damage_ca_key(data: dict[str, Any]) -> None:
    data["ca"]["key"] = "garbage"


def _swap_ca_key(data: dict[str, Any]) -> None:
    data["ca"]["key"] = secrets.generate_ca("x").key


BROKEN_BUNDLES: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "no-ca": (_drop_ca, ": ca.certificate: missing or not a string"),
    "ca-key-damaged": (_damage_ca_key, ": ca.key: not a valid PEM key"),
    "ca-key-of-another-ca": (
        _swap_ca_key,
        ": ca.key: the private key does not belong to the certificate",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN_BUNDLES))
def test_bad_secrets_bundle(setup: Setup, case: str) -> None:
    change, message = BROKEN_BUNDLES[case]
    data = _bundle_data(setup.bundle)
    change(data)
    setup.bundle.write_text(yaml.safe_dump(data), encoding="utf-8")
    result = _run(setup.args())
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert message in result.stderr and result.stderr.startswith(str(setup.bundle))
    assert not setup.out.exists()


def test_missing_bundle(setup: Setup) -> None:
    setup.bundle.unlink()
    line = _one_line_error(_run(setup.args()))
    assert line.startswith(f"kgen: no secrets bundle at {setup.bundle}; run `kgen render")
    assert not setup.out.exists()


# --- No key material in what kgen prints -----------------------------------------------------------------


def test_no_secret_in_stdout_or_stderr(setup: Setup) -> None:
    result = _run(setup.args("--group", "system:masters", "--ttl", "1h"))
    assert result.exit_code == 0, result.output
    user = _doc(setup.out)["users"][0]["user"]
    key_pem = base64.b64decode(user["client-key-data"]).decode()
    cert_pem = base64.b64decode(user["client-certificate-data"]).decode()
    bundle = fixture_bundle()
    printed = result.stdout + result.stderr
    assert "warning: group system:masters bypasses RBAC" in result.stderr
    assert result.stdout == ""
    for secret in [user["client-key-data"], user["client-certificate-data"], bundle.bootstrap_token]:
        assert secret not in printed
    for line in _pem_bodies(key_pem, cert_pem, bundle.ca.key, bundle.service_account_key):
        assert line not in printed
    # ... nor in the refusals that name the file.
    again = _run(setup.args())
    assert all(line not in again.stderr for line in _pem_bodies(key_pem))
