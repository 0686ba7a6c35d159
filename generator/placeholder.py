"""A stand-in secrets bundle with the shape of a real one and no key material, so `kgen validate`
can render a config in memory and report what `kgen render` would refuse (a user-data over Nova's
limit) without a bundle and without spending a second on RSA key generation.

Every value has the length of the largest a real bundle holds (RSA-2048 keys in PKCS#1, kgen's CA
certificates, a SHA-256 hash) and is pseudo-random, so it compresses like real keys do: gzip finds
nothing to squeeze in either. A real bundle's keys can be up to 8 bytes shorter (DER integers drop
leading zero bytes), so at the very edge of the limit validate errs on the side of refusing."""

from __future__ import annotations

import base64
import random

from generator import secrets
from generator.records import record

# DER sizes of the largest values generate() makes (measured over repeated runs): an RSA-2048 private
# key in PKCS#1, its SubjectPublicKeyInfo, and the three CA certificates (a 20-byte serial at most).
PRIVATE_KEY_DER = 1193
PUBLIC_KEY_DER = 294
CERTIFICATE_DER = {"kubernetes": 767, "etcd-ca": 761, "front-proxy-ca": 775}


@record
class PlaceholderBundle(secrets.SecretsBundle):
    """A bundle of the real sizes with no real key in it."""

    hash_hex: str = ""

    @property
    def ca_cert_hash(self) -> str:  # the certificate is not a parsable one; the hash has the real length
        return "sha256:" + self.hash_hex


def _pem(label: str, rng: random.Random, size: int) -> str:
    text = base64.b64encode(rng.randbytes(size)).decode("ascii")
    body = "".join(text[i : i + 64] + "\n" for i in range(0, len(text), 64))
    return f"-----BEGIN {label}-----\n{body}-----END {label}-----\n"


def bundle(cluster: str) -> secrets.SecretsBundle:
    rng = random.Random(cluster)  # noqa: S311 - filler with the statistics of key material, not a secret

    def ca(name: str) -> secrets.CertificateAuthority:
        return secrets.CertificateAuthority(
            certificate=_pem("CERTIFICATE", rng, CERTIFICATE_DER[name]),
            key=_pem("RSA PRIVATE KEY", rng, PRIVATE_KEY_DER),
        )

    def chars(n: int, alphabet: str) -> str:
        return "".join(rng.choice(alphabet) for _ in range(n))

    return PlaceholderBundle(
        cluster=cluster,
        bootstrap_token=chars(6, secrets.TOKEN_ALPHABET) + "." + chars(16, secrets.TOKEN_ALPHABET),
        certificate_key=chars(64, "0123456789abcdef"),
        ca=ca("kubernetes"),
        etcd_ca=ca("etcd-ca"),
        front_proxy_ca=ca("front-proxy-ca"),
        service_account_key=_pem("RSA PRIVATE KEY", rng, PRIVATE_KEY_DER),
        service_account_pub=_pem("PUBLIC KEY", rng, PUBLIC_KEY_DER),
        hash_hex=chars(64, "0123456789abcdef"),
    )
