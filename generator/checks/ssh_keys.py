"""The admin user's SSH public keys: each must be a key sshd can read, not a placeholder.

An OpenSSH public key line is ``TYPE BASE64 [COMMENT]``; the base64 text is the key blob, whose first
field is the same TYPE again as an SSH string (a 4-byte big-endian length, then the bytes; RFC 4253
section 6.6). sshd refuses a line whose blob does not decode or names another type
(openssh-portable sshkey.c, sshkey_read(): "key type mismatch"), so such a key would silently lock the
admin out of every node. The schema's pattern checks the line's shape; this check decodes it."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator

from generator.errors import Problem
from generator.load import KeyPath
from generator.normalize import Normalized
from generator.rawconfig import lookup

# The plain (not certificate) key types of OpenSSH's table, openssh-portable sshkey.c `keytypes[]`
# (the entries with cert = 0 and sigonly = 0). ssh-dss is still listed there but OpenSSH 9.8 disabled
# DSA by default; the schema pattern accepts the same names.
KEY_TYPES = frozenset(
    {
        "ssh-ed25519",
        "sk-ssh-ed25519@openssh.com",
        "ssh-rsa",
        "ssh-dss",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "sk-ecdsa-sha2-nistp256@openssh.com",
    }
)

# The stand-in key of `kgen init`'s example (templates/cluster.yaml): valid-looking on purpose, so a
# user sees where a key goes, and refused here so nobody boots nodes nobody can log in to.
PLACEHOLDER_MARK = "ReplaceWithYourOwnPublicKey"


def key_problem(line: str) -> str | None:
    """Why ``line`` is not a usable OpenSSH public key, or None. A line of the wrong shape or type is
    left to the schema's pattern (None here, so it is reported once)."""
    fields = line.split()
    if len(fields) < 2 or fields[0] not in KEY_TYPES:
        return None
    key_type, text = fields[0], fields[1]
    if PLACEHOLDER_MARK in text:
        return (
            "this is the placeholder key from `kgen init`; put a real public key here (the line in your "
            "~/.ssh/id_ed25519.pub; make one with ssh-keygen -t ed25519)"
        )
    return _blob_problem(key_type, text)


def _blob_problem(key_type: str, text: str) -> str | None:
    try:
        blob = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return "the key part is not valid base64 (cut short, or edited?); paste the whole line of your .pub file"
    if len(blob) < 4:
        return "the key part is too short to be a key; paste the whole line of your .pub file"
    length = int.from_bytes(blob[:4], "big")
    inner = blob[4 : 4 + length]
    if len(inner) != length or inner.decode("ascii", "replace") != key_type:
        shown = repr(inner[:40].decode("ascii", "replace")) if len(inner) == length else "unreadable"
        return (
            f"the line says {key_type} but its key part is {shown}; sshd refuses such a line "
            "(paste the whole line of your .pub file unchanged)"
        )
    if len(blob) == 4 + length:
        return "the key part names its type but holds no key; paste the whole line of your .pub file"
    return None


def check_ssh_keys(n: Normalized) -> Iterator[Problem]:
    doc = n.doc
    keys = lookup(doc.data, "spec", "admin", "sshAuthorizedKeys")
    if not isinstance(keys, list):
        return
    for index, line in enumerate(keys):
        if not isinstance(line, str):
            continue
        message = key_problem(line)
        if message is not None:
            path: KeyPath = ("spec", "admin", "sshAuthorizedKeys", index)
            yield doc.problem(path, message)
