"""An admin kubeconfig signed offline with the cluster CA from the secrets bundle (``kgen kubeconfig``).

Pure: this module builds the client certificate, its key and the kubeconfig document in memory; the
API writes them. kubeadm writes the same kind of file as ``/etc/kubernetes/admin.conf`` on each
control-plane node; kgen holds the CA, so it can sign one without anyone logging in to a node.

Upstream facts (kubernetes/kubernetes, cmd/kubeadm/app; checked in the stored copy of the repository,
introduced in v1.29 by kubernetes/kubernetes#121305, KEP-4214, so in force for kgen's 1.30-1.34):

* ``constants/constants.go``: ``ClusterAdminsGroupAndClusterRoleBinding = "kubeadm:cluster-admins"``,
  "the name of the Group used for kubeadm generated cluster admin credentials and the name of the
  ClusterRoleBinding that binds the same Group to the "cluster-admin" built-in ClusterRole";
  ``SystemPrivilegedGroup = "system:masters"``; ``CertificateValidityPeriod = 365 days``;
  ``CertificateBackdate = 5 minutes``.
* ``phases/kubeconfig/kubeconfig.go`` (``getKubeConfigSpecsBase``): ``admin.conf`` is client
  ``kubernetes-admin`` in Organization ``kubeadm:cluster-admins`` and ``super-admin.conf`` is client
  ``kubernetes-super-admin`` in ``system:masters``, both pointing at the controlPlaneEndpoint;
  ``EnsureAdminClusterRoleBindingImpl`` creates the ClusterRoleBinding ``kubeadm:cluster-admins``
  (roleRef ClusterRole ``cluster-admin``, subject Group ``kubeadm:cluster-admins``) during init.
* ``util/pkiutil/pki_helpers.go``: client keys are RSA-2048 unless ``encryptionAlgorithm`` says
  ECDSA-P256 (``GeneratePrivateKey``); client certificates carry ExtKeyUsage clientAuth.
* ``util/kubeconfig/kubeconfig.go`` (``CreateBasic``/``CreateWithCerts``): one cluster named after the
  cluster, one user named after the client, and the context ``<user>@<cluster>``.

The certificate's serial and key are random: a kubeconfig is a new credential each time, unlike the
rendered output, which is byte-identical for the same config and secrets."""

from __future__ import annotations

import base64
import datetime
import re
from collections.abc import Sequence
from dataclasses import field

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from generator import yamldump
from generator.errors import UserError
from generator.records import record
from generator.secrets import RSA_KEY_SIZE, CertificateAuthority

DEFAULT_USER = "kgen-admin"
DEFAULT_GROUP = "kubeadm:cluster-admins"  # constants.ClusterAdminsGroupAndClusterRoleBinding
SUPER_USER_GROUP = "system:masters"  # constants.SystemPrivilegedGroup: bypasses RBAC, cannot be revoked
DEFAULT_TTL = "24h"
# kubeadm's own admin.conf certificate lives a year (CertificateValidityPeriod); a kgen credential
# may not live longer, nor outlive the CA that signed it.
MAX_TTL = datetime.timedelta(days=365)
BACKDATE = datetime.timedelta(minutes=5)  # CertificateBackdate: tolerate a client clock slightly behind
# X.509's upper bound for a CommonName and an Organization (RFC 5280, ub-common-name, ub-organization-name).
NAME_MAX = 64

_TTL_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_TTL_PATTERN = re.compile(r"(?:[0-9]+[smhd])+")
_TTL_PART = re.compile(r"([0-9]+)([smhd])")


def parse_ttl(text: str) -> datetime.timedelta:
    """``30m``, ``12h``, ``7d``, ``1h30m`` -> a duration; a UserError naming the option otherwise."""
    if not _TTL_PATTERN.fullmatch(text):
        raise UserError(
            f"--ttl {text!r} is not a duration: use whole numbers with s, m, h or d, e.g. 30m, 12h, 7d or 1h30m"
        )
    seconds = sum(int(n) * _TTL_UNITS[unit] for n, unit in _TTL_PART.findall(text))
    if seconds == 0:
        raise UserError(f"--ttl {text!r} is zero; a credential must be valid for some time, e.g. 1h")
    if seconds > MAX_TTL.total_seconds():
        raise UserError(
            f"--ttl {text!r} is longer than {MAX_TTL.days}d, the most kgen signs (kubeadm's own admin.conf "
            "lives 365 days); a client certificate cannot be revoked, so keep it short"
        )
    return datetime.timedelta(seconds=seconds)


def _check_name(option: str, value: str) -> None:
    if not value.strip() or not value.isprintable() or value != value.strip():
        raise UserError(f"{option} {value!r}: must be a non-empty printable name without leading or trailing spaces")
    if len(value) > NAME_MAX:
        raise UserError(f"{option} {value!r}: at most {NAME_MAX} characters fit in a certificate subject")


@record
class AdminKubeconfig:
    """The kubeconfig text (it holds a private key: never print it into a log) and what it says."""

    cluster: str
    server: str
    user: str
    groups: tuple[str, ...]
    context: str
    not_before: datetime.datetime
    not_after: datetime.datetime
    serial: int
    key_type: str  # "RSA-2048" or "ECDSA-P256"
    text: str = field(repr=False)


def server_url(host: str, port: int) -> str:
    return f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"


def _client_key(ca_key: object) -> tuple[rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, str]:
    """A new key of the kind kubeadm would make for this cluster: ECDSA P-256 under an ECDSA CA
    (encryptionAlgorithm ECDSA-P256), else RSA-2048 (kubeadm's default, and what kgen's CAs are)."""
    if isinstance(ca_key, ec.EllipticCurvePrivateKey):
        return ec.generate_private_key(ec.SECP256R1()), "ECDSA-P256"
    return rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_SIZE), f"RSA-{RSA_KEY_SIZE}"


def build(
    *,
    cluster: str,
    host: str,
    port: int,
    ca: CertificateAuthority,
    user: str,
    groups: Sequence[str],
    ttl: datetime.timedelta,
    now: datetime.datetime | None = None,
) -> AdminKubeconfig:
    """Sign a client certificate for ``user`` in ``groups`` with the cluster CA, valid from a few minutes
    before ``now`` for ``ttl``, and wrap it in a kubeconfig for ``https://host:port``."""
    _check_name("--user", user)
    for group in groups:
        _check_name("--group", group)
    now = now or datetime.datetime.now(datetime.UTC)
    try:
        ca_cert = x509.load_pem_x509_certificate(ca.certificate.encode())
        ca_key = serialization.load_pem_private_key(ca.key.encode(), password=None)
    except (ValueError, TypeError):  # the bundle loader checked both; never echo the PEM
        raise UserError("the secrets bundle's cluster CA (ca.certificate / ca.key) cannot be read") from None
    if not isinstance(ca_key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise UserError("the secrets bundle's cluster CA key is neither RSA nor ECDSA; kgen cannot sign with it")
    not_after = now + ttl
    ca_end = ca_cert.not_valid_after_utc
    if ca_end <= now:
        raise UserError(f"the cluster CA expired on {stamp(ca_end)}; rotate the CA before signing credentials")
    if not_after > ca_end:
        left = ca_end - now
        raise UserError(
            f"--ttl would outlive the cluster CA, which expires on {stamp(ca_end)} "
            f"(in {left.days}d {left.seconds // 3600}h); choose a shorter --ttl"
        )
    key, key_type = _client_key(ca_key)
    names = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in groups]
    subject = x509.Name([*names, x509.NameAttribute(NameOID.COMMON_NAME, user)])
    rsa_key = isinstance(key, rsa.RSAPrivateKey)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())  # random on purpose: a new credential each time
        .not_valid_before(max(now - BACKDATE, ca_cert.not_valid_before_utc))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                # RSA key transport only; meaningless for an ECDSA key (RFC 5480 section 3).
                key_encipherment=rsa_key,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    cert = builder.sign(ca_key, hashes.SHA256())
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    # PKCS#1 / SEC 1 ("RSA PRIVATE KEY" / "EC PRIVATE KEY"), as kubeadm's keyutil.MarshalPrivateKeyToPEM writes.
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    context = f"{user}@{cluster}"
    server = server_url(host, port)
    ca_data = _b64(ca.certificate.encode())
    client = {"client-certificate-data": _b64(cert_pem), "client-key-data": _b64(key_pem)}
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster, "cluster": {"certificate-authority-data": ca_data, "server": server}}],
        "contexts": [{"name": context, "context": {"cluster": cluster, "user": user}}],
        "current-context": context,
        "preferences": {},
        "users": [{"name": user, "user": client}],
    }
    return AdminKubeconfig(
        cluster=cluster,
        server=server,
        user=user,
        groups=tuple(groups),
        context=context,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        serial=cert.serial_number,
        key_type=key_type,
        text=yamldump.dump(document),
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def stamp(when: datetime.datetime) -> str:
    """A UTC time as kgen shows it (ISO 8601, seconds, ``Z``)."""
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")
