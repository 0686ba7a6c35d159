"""The secrets bundle: cluster CAs, service-account keys, bootstrap token and certificate key.

Generated once with ``cryptography`` (never by shelling out), stored next to the config as
``<config-stem>.secrets.yaml`` with mode 0600, and reused by every later render. Nothing here ever
puts a secret value into an error message.
"""

from __future__ import annotations

import datetime
import errno
import hashlib
import re
import secrets as pysecrets
import stat
from dataclasses import replace
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import NameOID

from generator import yamldump
from generator.errors import ConfigInvalid, Problem, UserError
from generator.load import load
from generator.records import record

API_VERSION = "kgen.dev/v1alpha1"
TOKEN_PATTERN = re.compile(r"^[a-z0-9]{6}\.[a-z0-9]{16}$")
TOKEN_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"  # noqa: S105 - an alphabet, not a password
CERTIFICATE_KEY_PATTERN = re.compile(r"^[0-9a-f]{64}$")
# kubeadm's defaults: RSA-2048 keys, CA certificates valid for 10 years (caCertificateValidityPeriod).
RSA_KEY_SIZE = 2048
CA_VALIDITY = datetime.timedelta(days=3650)


@record
class CertificateAuthority:
    """A CA certificate and its private key."""

    certificate: str  # PEM
    key: str  # PEM, PKCS#1 like kubeadm writes


@record
class SecretsBundle:
    """The cluster's secrets: CA keys, the bootstrap token and the certificate key."""

    cluster: str
    bootstrap_token: str
    certificate_key: str
    ca: CertificateAuthority
    etcd_ca: CertificateAuthority
    front_proxy_ca: CertificateAuthority
    service_account_key: str  # PEM private key
    service_account_pub: str  # PEM public key
    # The token `kubeadm init` registered, kept when `kgen token rotate` gives joining nodes a new one,
    # so the first control-plane node's user-data does not change.
    init_bootstrap_token: str | None = None
    # When kgen generated the current token (UTC, ISO 8601); shown in the render summary, never rendered.
    token_generated_at: str | None = None

    @property
    def ca_cert_hash(self) -> str:
        return ca_cert_hash(self.ca.certificate)

    @property
    def token_id(self) -> str:
        return self.bootstrap_token.split(".", 1)[0]

    @property
    def init_token(self) -> str:
        return self.init_bootstrap_token or self.bootstrap_token

    def to_yaml(self) -> str:
        header = (
            f"# kgen secrets bundle for cluster {self.cluster!r}.\n"
            "# It holds the cluster's CA private keys and bootstrap token: keep it out of version control,\n"
            "# readable only by you (mode 0600), and back it up; losing it means re-keying the cluster.\n"
        )
        tokens: dict[str, str] = {"bootstrapToken": self.bootstrap_token}
        if self.token_generated_at:
            tokens["bootstrapTokenGeneratedAt"] = self.token_generated_at
        if self.init_bootstrap_token:
            tokens["initBootstrapToken"] = self.init_bootstrap_token
        return header + yamldump.dump(
            {
                "apiVersion": API_VERSION,
                "kind": "Secrets",
                "cluster": self.cluster,
                **tokens,
                "certificateKey": self.certificate_key,
                "ca": _ca_data(self.ca),
                "etcdCA": _ca_data(self.etcd_ca),
                "frontProxyCA": _ca_data(self.front_proxy_ca),
                "serviceAccount": {"privateKey": self.service_account_key, "publicKey": self.service_account_pub},
            }
        )

    def rotated(self, token: str, now: datetime.datetime | None = None) -> SecretsBundle:
        """A bundle whose joining nodes use ``token``; the init token stays what kubeadm init registered."""
        return replace(
            self, bootstrap_token=token, init_bootstrap_token=self.init_token, token_generated_at=_stamp(now)
        )


def _ca_data(ca: CertificateAuthority) -> dict[str, str]:
    return {"certificate": ca.certificate, "key": ca.key}


def ca_cert_hash(certificate_pem: str) -> str:
    """kubeadm's discovery hash: ``sha256:`` + hex SHA-256 of the CA certificate's DER
    SubjectPublicKeyInfo (the value of ``--discovery-token-ca-cert-hash``)."""
    cert = x509.load_pem_x509_certificate(certificate_pem.encode())
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(spki).hexdigest()


def generate_token() -> str:
    choose = pysecrets.choice
    return "".join(choose(TOKEN_ALPHABET) for _ in range(6)) + "." + "".join(choose(TOKEN_ALPHABET) for _ in range(16))


def _rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_SIZE)


def _key_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode()


def generate_ca(common_name: str, now: datetime.datetime | None = None) -> CertificateAuthority:
    """A self-signed CA like the one ``kubeadm init phase certs ca`` creates."""
    now = now or datetime.datetime.now(datetime.UTC)
    key = _rsa_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    return CertificateAuthority(certificate=cert.public_bytes(serialization.Encoding.PEM).decode(), key=_key_pem(key))


def _stamp(now: datetime.datetime | None = None) -> str:
    return (now or datetime.datetime.now(datetime.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")


def generate(cluster: str) -> SecretsBundle:
    sa_key = _rsa_key()
    return SecretsBundle(
        cluster=cluster,
        bootstrap_token=generate_token(),
        token_generated_at=_stamp(),
        certificate_key=pysecrets.token_hex(32),
        ca=generate_ca("kubernetes"),
        etcd_ca=generate_ca("etcd-ca"),
        front_proxy_ca=generate_ca("front-proxy-ca"),
        service_account_key=_key_pem(sa_key),
        service_account_pub=sa_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode(),
    )


def default_path(config_path: Path) -> Path:
    return config_path.with_name(f"{config_path.stem}.secrets.yaml")


def bundle_exists(path: Path) -> bool:
    """Whether a bundle is at ``path``; False only when nothing at all is there.

    A symlink whose target is missing (a bundle kept in a vault that is not mounted) or that loops is
    an error, never "no bundle": treating it as absent would generate a new CA and silently re-key
    the cluster. Anything but a regular file (a folder, a FIFO) is refused too."""
    try:
        st = path.stat()
    except FileNotFoundError:
        if path.is_symlink():
            raise UserError(
                f"the secrets bundle {path} is a symlink to {path.readlink()}, which does not exist "
                "(is the volume holding it mounted?); kgen will not create a new bundle through it: "
                "restore the target, or remove the symlink to start a new cluster with new keys"
            ) from None
        return False
    except OSError as exc:  # ELOOP, EACCES, ENOTDIR ...
        if exc.errno == errno.ELOOP:
            raise UserError(f"the secrets bundle {path} is a symlink loop; point it at the real bundle") from None
        raise UserError(f"cannot read the secrets bundle {path}: {exc.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        raise ConfigInvalid([Problem(str(path), None, "", "is a directory, expected a secrets bundle file")])
    if not stat.S_ISREG(st.st_mode):
        raise UserError(f"the secrets bundle {path} is not a regular file")
    return True


def permission_warning(path: Path) -> Problem | None:
    """A warning when the bundle is readable or writable by anyone but its owner.

    ssh refuses a private key file that others can read (sshkey_perm_ok); kgen warns instead of
    refusing, because it only reads the bundle and a refusal would block a render that changes no
    key. The warning says how to fix it; every bundle kgen writes is 0600."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if not mode & 0o077:
        return None
    return Problem(
        file=str(path),
        line=None,
        path="",
        message=(
            f"permissions {mode:04o} are too open: the bundle holds the cluster's CA private keys and "
            f"bootstrap token; run `chmod 600 {path}`"
        ),
        severity="warning",
    )


def load_bundle(path: Path, *, cluster: str) -> SecretsBundle:
    """Read and check a bundle. Problems name the key, never the secret value."""
    doc = load(path, what="a secrets bundle file", secret=True)
    data: Any = doc.data
    problems: list[Problem] = []

    def need(keys: tuple[str, ...], check: str) -> str:
        value: Any = data
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        if not isinstance(value, str) or not value.strip():
            problems.append(doc.problem(keys, "missing or not a string"))
            return ""
        error = _check_value(check, value)
        if error:
            problems.append(doc.problem(keys, error))
        return value

    if not isinstance(data, dict) or data.get("kind") != "Secrets" or data.get("apiVersion") != API_VERSION:
        raise ConfigInvalid(
            [doc.problem((), f"not a kgen secrets bundle (expected apiVersion {API_VERSION}, kind Secrets)")]
        )
    if data.get("cluster") != cluster:
        raise ConfigInvalid(
            [doc.problem(("cluster",), f"this bundle belongs to cluster {data.get('cluster')!r}, not {cluster!r}")]
        )
    bundle = SecretsBundle(
        cluster=cluster,
        bootstrap_token=need(("bootstrapToken",), "token"),
        certificate_key=need(("certificateKey",), "certificate-key"),
        ca=CertificateAuthority(need(("ca", "certificate"), "certificate"), need(("ca", "key"), "key")),
        etcd_ca=CertificateAuthority(need(("etcdCA", "certificate"), "certificate"), need(("etcdCA", "key"), "key")),
        front_proxy_ca=CertificateAuthority(
            need(("frontProxyCA", "certificate"), "certificate"), need(("frontProxyCA", "key"), "key")
        ),
        service_account_key=need(("serviceAccount", "privateKey"), "key"),
        service_account_pub=need(("serviceAccount", "publicKey"), "public-key"),
        init_bootstrap_token=need(("initBootstrapToken",), "token") if "initBootstrapToken" in data else None,
        token_generated_at=str(data["bootstrapTokenGeneratedAt"]) if "bootstrapTokenGeneratedAt" in data else None,
    )
    if not problems:
        for label, ca in (("ca", bundle.ca), ("etcdCA", bundle.etcd_ca), ("frontProxyCA", bundle.front_proxy_ca)):
            if not _pair_matches(ca):
                problems.append(doc.problem((label, "key"), "the private key does not belong to the certificate"))
    if problems:
        raise ConfigInvalid(problems)
    return bundle


def _check_value(check: str, value: str) -> str | None:
    if check == "token":
        return None if TOKEN_PATTERN.fullmatch(value) else "not a bootstrap token of the form [a-z0-9]{6}.[a-z0-9]{16}"
    if check == "certificate-key":
        return None if CERTIFICATE_KEY_PATTERN.fullmatch(value) else "not 64 lowercase hex characters"
    if check == "certificate":
        return _ca_certificate_error(value)
    try:
        if check == "key":
            _load_key(value)
        elif check == "public-key":
            serialization.load_pem_public_key(value.encode())
    except (ValueError, TypeError):
        return f"not a valid PEM {check.replace('-', ' ')}"
    return None


def _ca_certificate_error(pem: str) -> str | None:  # noqa: PLR0911 - one return per broken part
    """What is wrong with a CA certificate, naming the part that is broken, or None.

    The order matters: a byte flipped inside the public key still parses as some other key, and only
    the self-signature (what `openssl verify -check_ss_sig` checks) tells that the certificate itself
    is damaged rather than the private key beside it being the wrong one."""
    try:
        cert = x509.load_pem_x509_certificate(pem.encode())
    except ValueError:
        return "not a valid PEM certificate"
    try:
        cert.public_key()
    except (ValueError, UnsupportedAlgorithm):
        return "the certificate is damaged: its public key (subjectPublicKeyInfo) cannot be read"
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return "the certificate is not a CA certificate (it has no basicConstraints extension)"
    except ValueError:
        return "the certificate is damaged: its extensions cannot be read"
    if not constraints.ca:
        return "the certificate is not a CA certificate"
    try:
        cert.verify_directly_issued_by(cert)
    except InvalidSignature:
        return (
            "the certificate is damaged or was altered: its self-signature does not verify "
            "(openssl verify -check_ss_sig fails it too)"
        )
    except (ValueError, TypeError):
        return "the certificate is not a self-signed CA certificate (its issuer is not its subject)"
    return None


def _load_key(pem: str) -> PrivateKeyTypes:
    # kgen never signs with these keys; it hands them to kubeadm and checks each CA key against its
    # certificate. OpenSSL's RSA consistency check costs ~35 ms a key on every render, so skip it.
    return serialization.load_pem_private_key(pem.encode(), password=None, unsafe_skip_rsa_key_validation=True)


def _pair_matches(ca: CertificateAuthority) -> bool:
    cert = x509.load_pem_x509_certificate(ca.certificate.encode())
    key = _load_key(ca.key)
    fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return bool(cert.public_key().public_bytes(*fmt) == key.public_key().public_bytes(*fmt))
