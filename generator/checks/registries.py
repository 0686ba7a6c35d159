"""``spec.registries`` and ``spec.trustedCAs``: mirror URLs, PEM certificates, and no inline credentials."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509

from generator.errors import Problem
from generator.load import Document, KeyPath
from generator.normalize import Normalized
from generator.rawconfig import lookup

# Keys a user might put credentials under, refused anywhere under spec.registries.
CREDENTIAL_KEYS = ("auth", "username", "password", "identityToken", "token", "credentials")
_PEM_CERT = re.compile(r"-----BEGIN CERTIFICATE-----\r?\n.+?\r?\n-----END CERTIFICATE-----", re.DOTALL)


def pem_problem(text: str) -> str | None:
    """None when ``text`` is one or more PEM certificates that parse, else what is wrong."""
    blocks = _PEM_CERT.findall(text)
    if not blocks or _PEM_CERT.sub("", text).strip():
        return "must be PEM: one or more '-----BEGIN CERTIFICATE-----' blocks and nothing else"
    for block in blocks:
        try:
            x509.load_pem_x509_certificate(block.encode())
        except ValueError as exc:
            return f"is not a valid PEM certificate ({exc})"
    return None


def multiline_allowed(path: KeyPath) -> bool:
    """The values that are PEM text and may hold newlines: spec.trustedCAs[i], a mirror's ca."""
    return (len(path) == 3 and path[:2] == ("spec", "trustedCAs")) or (
        len(path) == 5 and path[:3] == ("spec", "registries", "mirrors") and path[4] == "ca"
    )


def check_registries(n: Normalized) -> Iterator[Problem]:
    doc = n.doc
    registries = lookup(doc.data, "spec", "registries")
    if isinstance(registries, dict):
        yield from _credential_problems(doc, registries)
        mirrors = registries.get("mirrors")
        for name, mirror in (mirrors or {}).items() if isinstance(mirrors, dict) else ():
            if not isinstance(mirror, dict):
                continue
            path: KeyPath = ("spec", "registries", "mirrors", name)
            for i, endpoint in enumerate(mirror.get("endpoints") or ()):
                if isinstance(endpoint, str):
                    parts = urlsplit(endpoint)
                    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
                        yield doc.problem(
                            (*path, "endpoints", i),
                            f"{endpoint!r} must be an http:// or https:// URL such as https://mirror.example.com:5000",
                        )
            ca = mirror.get("ca")
            if isinstance(ca, str) and (message := pem_problem(ca)):
                yield doc.problem((*path, "ca"), message)
            if mirror.get("skipVerify") is True:
                yield doc.problem(
                    (*path, "skipVerify"),
                    "TLS verification is off for these mirrors: anyone on the path can serve the nodes "
                    "any image; give the mirror's CA with 'ca' or spec.trustedCAs instead",
                    severity="warning",
                )
    cas = lookup(doc.data, "spec", "trustedCAs")
    for i, ca in enumerate(cas if isinstance(cas, list) else ()):
        if isinstance(ca, str) and (message := pem_problem(ca)):
            yield doc.problem(("spec", "trustedCAs", i), message)


def _credential_problems(doc: Document, registries: dict[Any, Any]) -> Iterator[Problem]:
    """Credential keys on spec.registries or on a mirror (the schema lets them through so that this
    one message, which never echoes the value, is what the user sees)."""
    holders: list[tuple[KeyPath, Any]] = [(("spec", "registries"), registries)]
    mirrors = registries.get("mirrors")
    if isinstance(mirrors, dict):
        holders += [(("spec", "registries", "mirrors", name), m) for name, m in mirrors.items()]
    for path, holder in holders:
        for key in holder if isinstance(holder, dict) else ():
            if key in CREDENTIAL_KEYS:
                yield doc.problem(
                    (*path, key),
                    "registry credentials are not accepted in the config (it ends up in user-data); put them "
                    "in a root-only file on the nodes and name it in spec.registries.credentialsFile",
                )
