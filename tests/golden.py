"""Golden files: rendered output pinned under tests/golden/, each distinct file stored once.

Regenerate every golden with one command (it runs every test that calls :func:`check_golden`, the
Packer goldens included, then stores the tree compactly and leaves no stale file behind)::

    KGEN_UPDATE_GOLDEN=1 python3 tools/dev.py test -m golden

and review the diff. How a golden is stored (the comparison is always byte-for-byte against the
expanded content):

* a file whose bytes equal another golden's holds one line, ``kgen-golden: same as NAME``;
* in a user-data golden, a ``write_files`` content block whose text equals another golden (a node's
  ``bootstrap.sh``, ``kubeadm.yaml``, a ``prepare/`` or ``packer/`` script) holds one line,
  ``<kgen-golden: NAME>``, at the block's indentation. A script, or a block several user-data files
  hold, that no other golden holds is moved to ``files/<case>/<node>/<guest path>`` (named after its
  first user) and referred to the same way;
* a Heat MIME file's base64 part holds ``<kgen-golden: gzip+base64 of NAME>``;
* in nodes.json, a node's user-data byte counts (derived from its user-data golden) are stored as
  ``<kgen-golden: user-data sizes of NAME>``;
* a SHA-256 (64 lowercase hex digits) that is the digest of another golden's bytes, wherever it stands
  in a line, is stored as ``<kgen-golden-sha256: NAME>``: a golden image's manifest, its self-check and
  every first-boot script pin the configure script's digest (``configureSha256``).

So a script shared by many nodes and cases is stored once, and a one-line template change touches one
file per distinct script (and no file that only pins its digest). Which file is the canonical copy is
decided when the goldens are written (:func:`compact`): the first name in sorted order among the equal
ones.
"""

from __future__ import annotations

import base64
import collections
import functools
import gzip
import hashlib
import os
import re
import shutil
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

GOLDEN = Path(__file__).resolve().parent / "golden"
SAME_AS = b"kgen-golden: same as "
FILES = "files"
_MARK = re.compile(
    rb"^(?P<indent> *)<kgen-golden: (?P<how>gzip\+base64 of |user-data sizes of )?(?P<name>[^>\n]+)>\n", re.MULTILINE
)
_BLOCK_HEADER = re.compile(r"^(?P<indent> *)content: \|\n$")
_PATH = re.compile(r"^(?:- | *)path: (?P<path>\S+)\n$")
_DIGEST = re.compile(rb"<kgen-golden-sha256: (?P<name>[^>\n]+)>")
_HEX64 = re.compile(rb"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])")
_NODE_SIZES = re.compile(
    rb'(?P<head>"name": "(?P<node>[^"]+)",\n(?:.*\n)*?)(?P<indent> *)"bytes": \d+,\n *"base64Bytes": \d+,\n'
)
_BASE64_PART = re.compile(rb"(Content-Transfer-Encoding: base64\n[^\n]*\n\n)(?P<body>[A-Za-z0-9+/=\n]+?)\n(?=--)")


def updating() -> bool:
    return os.environ.get("KGEN_UPDATE_GOLDEN") == "1"


# --- reading: a stored golden back to the exact bytes it pins ----------------------------------------


def stored_names() -> list[str]:
    return sorted(p.relative_to(GOLDEN).as_posix() for p in GOLDEN.rglob("*") if p.is_file())


def references(name: str) -> list[str]:
    """The goldens that ``name``'s stored form points to (directly)."""
    stored = (GOLDEN / name).read_bytes()
    if stored.startswith(SAME_AS):
        return [stored[len(SAME_AS) :].decode().strip()]
    return [m["name"].decode() for pattern in (_MARK, _DIGEST) for m in pattern.finditer(stored)]


def resolve(name: str, _depth: int = 0) -> bytes:
    """The exact bytes golden ``name`` pins."""
    assert _depth < 8, f"golden reference loop at {name}"
    stored = (GOLDEN / name).read_bytes()
    if stored.startswith(SAME_AS):
        return resolve(stored[len(SAME_AS) :].decode().strip(), _depth + 1)

    def expand(match: re.Match[bytes]) -> bytes:
        target = match["name"].decode()
        content = resolve(target, _depth + 1)
        if match["how"] == b"gzip+base64 of ":
            return _mime_base64(gzip.compress(content, compresslevel=9, mtime=0)) + b"\n"
        if match["how"] == b"user-data sizes of ":
            return _sizes(target, content, match["indent"])
        return _literal_body(content, match["indent"])

    def digest(match: re.Match[bytes]) -> bytes:
        return hashlib.sha256(resolve(match["name"].decode(), _depth + 1)).hexdigest().encode()

    return _MARK.sub(expand, _DIGEST.sub(digest, stored))


def _literal_body(content: bytes, indent: bytes) -> bytes:
    """A YAML literal block's lines for ``content`` (blank lines carry no indentation, as PyYAML writes)."""
    return b"".join(indent + line if line != b"\n" else line for line in content.splitlines(keepends=True))


def _sizes(name: str, content: bytes, indent: bytes) -> bytes:
    """nodes.json's size lines for a node's user-data (generator.cloudinit: gzip level 9, mtime 0)."""
    if name.endswith(".decompressed"):
        content = gzip.compress(content, compresslevel=9, mtime=0)
    size = len(content)
    return b'%s"bytes": %d,\n%s"base64Bytes": %d,\n' % (indent, size, indent, 4 * ((size + 2) // 3))


def _mime_base64(content: bytes) -> bytes:
    """As generator.openstack.gzip_as_mime wraps it."""
    return "\n".join(textwrap.wrap(base64.b64encode(content).decode("ascii"), 76)).encode()


# --- the checks the tests call ----------------------------------------------------------------------


def check_golden(name: str, content: bytes) -> None:
    path = GOLDEN / name
    if updating():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        return
    assert path.is_file(), f"no golden file {path}; run with KGEN_UPDATE_GOLDEN=1 to create it"
    expected = resolve(name)
    if content != expected:
        refs = references(name)
        via = f" (its stored form refers to {', '.join(refs)})" if refs else ""
        raise AssertionError(f"{name} differs from its golden file{via}; if intended, rerun with KGEN_UPDATE_GOLDEN=1")


def check_no_stale_golden(prefix: str, produced: set[str]) -> None:
    """Every golden file under ``prefix`` is still produced; in update mode stale ones are deleted."""
    root = GOLDEN / prefix
    existing = {p.relative_to(GOLDEN).as_posix() for p in root.rglob("*") if p.is_file()} if root.is_dir() else set()
    stale = existing - produced
    if updating():
        for name in stale:
            (GOLDEN / name).unlink()
        return
    assert not stale, f"golden files no longer produced: {sorted(stale)}"


# --- writing: expand before an update run, store compactly after it ---------------------------------


def expand_all() -> None:
    """Every golden back to its plain bytes (update mode, before the tests write theirs)."""
    plain = {name: resolve(name) for name in stored_names()}
    for name, content in plain.items():
        (GOLDEN / name).write_bytes(content)
    shutil.rmtree(GOLDEN / FILES, ignore_errors=True)


@dataclass
class _Block:
    start: int  # first body line (index into the file's lines)
    end: int  # one past the last body line
    indent: str
    guest_path: str
    content: bytes


def _literal_blocks(text: str) -> Iterator[_Block]:
    """The write_files ``content: |`` blocks of a user-data file whose text round-trips exactly."""
    lines = text.splitlines(keepends=True)
    guest_path = ""
    i = 0
    while i < len(lines):
        if path := _PATH.match(lines[i]):
            guest_path = path["path"]
        header = _BLOCK_HEADER.match(lines[i])
        i += 1
        if not header or not guest_path:
            continue
        indent = header["indent"] + "  "
        start = i
        while i < len(lines) and (lines[i].startswith(indent) or lines[i] == "\n"):
            i += 1
        while i > start and lines[i - 1] == "\n":  # clip chomping: trailing blank lines are not content
            i -= 1
        body = "".join(lines[start:i])
        content = "".join(line.removeprefix(indent) for line in lines[start:i]).encode()
        if i > start and _literal_body(content, indent.encode()) == body.encode():
            yield _Block(start, i, indent, guest_path, content)


def _is_user_data(name: str) -> bool:
    return name.endswith(("/user-data", "/user-data.decompressed")) and name.startswith("render/")


def compact() -> None:
    """Store the (plain) golden tree compactly: see the module docstring."""
    shutil.rmtree(GOLDEN / FILES, ignore_errors=True)
    plain = {name: (GOLDEN / name).read_bytes() for name in stored_names()}
    canonical: dict[bytes, str] = {}
    for name in sorted(plain):
        canonical.setdefault(plain[name], name)
    embedded = collections.Counter(
        block.content for name in plain if _is_user_data(name) for block in _literal_blocks(plain[name].decode())
    )
    shared = {content for content, count in embedded.items() if count > 1 or content.startswith(b"#!")}
    stored: dict[str, bytes] = {}
    for name in sorted(plain):
        content = plain[name]
        if canonical[content] != name:
            stored[name] = SAME_AS + canonical[content].encode() + b"\n"
        elif _is_user_data(name):
            stored[name] = _skeleton(name, content, canonical, stored, shared)
        elif name.startswith("render/") and name.endswith("/nodes.json"):
            stored[name] = _NODE_SIZES.sub(functools.partial(_sizes_mark, name, plain=plain), content)
        elif name.endswith(".mime"):
            stored[name] = _BASE64_PART.sub(lambda m: _mime_mark(m, canonical, plain), content)
        else:
            stored[name] = content
    by_digest = {hashlib.sha256(content).hexdigest().encode(): name for content, name in canonical.items()}
    for name, content in stored.items():
        if not content.startswith(SAME_AS):
            stored[name] = _HEX64.sub(functools.partial(_digest_mark, by_digest=by_digest, name=name), content)
    for name, content in stored.items():
        path = GOLDEN / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    for name, content in stored.items():  # the stored tree must pin exactly what the tests wrote
        assert resolve(name) == plain.get(name, content), f"golden store does not round-trip {name}"


def _skeleton(
    name: str, content: bytes, canonical: dict[bytes, str], stored: dict[str, bytes], shared: set[bytes]
) -> bytes:
    lines = content.decode().splitlines(keepends=True)
    node = name.removeprefix("render/").rsplit("/", 1)[0].replace("/nodes/", "/")
    for block in reversed(list(_literal_blocks(content.decode()))):
        target = canonical.get(block.content)
        if target is None and block.content not in shared:
            continue  # used once and not a script: stays inline
        if target is None:
            target = f"{FILES}/{node}{block.guest_path}"
            canonical[block.content] = target
            stored[target] = block.content
        lines[block.start : block.end] = [f"{block.indent}<kgen-golden: {target}>\n"]
    return "".join(lines).encode()


def _sizes_mark(name: str, match: re.Match[bytes], *, plain: dict[str, bytes]) -> bytes:
    """The size lines of one node in nodes.json, as a reference to its user-data golden if they agree."""
    base = f"{name.removesuffix('nodes.json')}nodes/{match['node'].decode()}/user-data"
    for target in (base, base + ".decompressed"):
        if target in plain and match[0].endswith(_sizes(target, plain[target], match["indent"])):
            return match["head"] + match["indent"] + f"<kgen-golden: user-data sizes of {target}>\n".encode()
    return match[0]


def _mime_mark(match: re.Match[bytes], canonical: dict[bytes, str], plain: dict[str, bytes]) -> bytes:
    packed = base64.b64decode(match["body"])
    target = canonical.get(gzip.decompress(packed)) if packed[:2] == b"\x1f\x8b" else None
    if target is None or _mime_base64(gzip.compress(plain[target], compresslevel=9, mtime=0)) != match["body"]:
        return match[0]
    return match[1] + f"<kgen-golden: gzip+base64 of {target}>\n".encode()


def _digest_mark(match: re.Match[bytes], *, by_digest: dict[bytes, str], name: str) -> bytes:
    """A SHA-256 that is another golden's digest, as a reference to that golden."""
    target = by_digest.get(match[0])
    return match[0] if target is None or target == name else f"<kgen-golden-sha256: {target}>".encode()
