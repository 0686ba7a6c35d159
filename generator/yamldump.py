"""The one YAML dumper for everything kgen emits (cloud-config, kubeadm documents, secrets, CNI
resources). Documents are built as data and dumped here; nothing is YAML by string templating."""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

import yaml

# libyaml's emitter is some 20x faster than PyYAML's pure-Python one on large literal blocks (PEM
# files, scripts); PyYAML wheels ship it. Both emit the same text for what kgen dumps.
_Base: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

_OPTIONS: dict[str, Any] = {"sort_keys": False, "default_flow_style": False, "allow_unicode": True, "width": 1000}


_MAP, _SEQ = "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"


class _Dumper(_Base):  # type: ignore[valid-type,misc]
    """Block style, multi-line strings as literal blocks, no aliases, stable output."""

    def ignore_aliases(self, data: Any) -> bool:
        return True

    def represent_data(self, data: Any) -> yaml.Node:
        # Plain dicts, lists and strings (nearly every value kgen dumps) go straight to the nodes
        # PyYAML's representers would build for them with aliases off and default_flow_style=False;
        # its generic path (alias bookkeeping, type lookup per value) was a large share of a big
        # render. Anything else takes that generic path.
        kind = type(data)
        if kind is str:
            return _represent_str(self, data)
        if kind is dict:
            pairs = [(self.represent_data(k), self.represent_data(v)) for k, v in data.items()]
            return yaml.MappingNode(_MAP, pairs, flow_style=False)
        if kind is list:
            return yaml.SequenceNode(_SEQ, [self.represent_data(item) for item in data], flow_style=False)
        node: yaml.Node = super().represent_data(data)
        return node

    def resolve(self, kind: type[yaml.Node], value: Any, implicit: Any) -> str:
        # The tag a scalar resolves to depends on its text alone (kgen adds no path resolvers), and
        # the same keys and short values recur in every node's documents: remember short ones.
        if kind is not yaml.ScalarNode or len(value) > _RESOLVE_MAX:
            tag: str = super().resolve(kind, value, implicit)
            return tag
        key = (value, implicit)
        tag = _resolved.get(key) or super().resolve(kind, value, implicit)
        if len(_resolved) >= _RESOLVE_MEMO:
            _resolved.clear()
        _resolved[key] = tag
        return tag


_RESOLVE_MAX = 200
_RESOLVE_MEMO = 4096
_resolved: dict[tuple[str, Any], str] = {}


def _literal_ok(value: str) -> bool:
    """Whether every line is printable and has no trailing space, tested on the whole string at once
    (C-speed str methods): a per-line check in Python was a third of the dump time of a big render.
    ASCII text is tested as bytes (deleting the printable ones leaves nothing), many times faster than
    str.isprintable's per-character Unicode lookup."""
    if "\n" not in value or " \n" in value or value.endswith(" "):
        return False
    if value.isascii():
        return not value.encode("ascii").translate(None, _PRINTABLE_ASCII)
    return value.replace("\n", "").isprintable()


_PRINTABLE_ASCII = bytes(range(0x20, 0x7F)) + b"\n"


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # Literal blocks keep PEM blocks and scripts readable in the output. Strings with characters a
    # literal block cannot carry (trailing spaces, tabs after newlines, control characters) fall back
    # to PyYAML's own quoting, which always round-trips.
    if _literal_ok(value):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _represent_str)


def _dump(data: Any) -> str:
    text: str = yaml.dump(data, Dumper=_Dumper, **_OPTIONS)
    return text


# --- Dumping thousands of like documents ------------------------------------------------------------
# A big render dumps one cloud-config (and kubeadm documents, meta-data) per node, alike but for a few
# values (the node's name and address, its bootstrap script) and the same long preparation scripts.
# Emitting each in full was most of a big render, so a document is dumped as a skeleton with a plain
# placeholder for every string whose emitted text is known without the emitter, and the texts are
# spliced in. Those strings are:
# - plain scalars: short strings of safe characters that resolve to a string (so the emitter writes
#   them as they are);
# - literal blocks: written directly for the plainest kind (see _literal), else taken once from the
#   emitter for a long string seen before at the same place (the keys and sequence levels above it).
# The skeletons of nodes alike are then the same data, so each is dumped once and kept. The seam is the
# same for a placeholder and its text (the emitter ends a plain scalar and a literal block so the next
# line starts alike), checked on minimal documents; anything unexpected falls back to a plain dump.
# Output is byte-identical either way (tests/test_yamldump.py compares them).
_Path = tuple[str | None, ...]  # mapping keys; None for a sequence item (its index does not matter)
_SPLICE_MIN = 1024  # shorter strings that are not written directly are cheaper to emit than to look up
_MEMO_SIZE = 64
_PLACEHOLDER = "kgen-yaml-splice-"
# Every placeholder is the same text: the skeleton's placeholders come in the order their texts were
# collected (the emitter writes mappings and sequences in order, as _substitute walks them).
_TOKEN = _PLACEHOLDER + "x"
_SEAM = f" {_TOKEN}\n"
_seen: OrderedDict[tuple[_Path, int], None] = OrderedDict()
_blocks: OrderedDict[tuple[_Path, str], str | None] = OrderedDict()


def _remember(memo: OrderedDict[Any, Any], key: Any, value: Any) -> None:
    memo[key] = value
    if len(memo) > _MEMO_SIZE:
        memo.popitem(last=False)


def _nest(path: _Path, leaf: str) -> Any:
    value: Any = leaf
    for key in reversed(path):
        value = [value] if key is None else {key: value}
    return value


def _block(path: _Path, value: str) -> str | None:
    """The text the emitter writes for ``value`` at ``path`` in place of a plain placeholder, or None
    when it is not a literal block that can be spliced."""
    if value.endswith("\n\n"):  # keep chomping (|+) may make the emitter end the document with `...`
        return None
    plain, literal = _dump(_nest(path, _PLACEHOLDER)), _dump(_nest(path, value))
    start = plain.find(_PLACEHOLDER)
    head, tail = plain[:start], plain[start + len(_PLACEHOLDER) :]
    if start < 0 or not literal.startswith(head) or not literal.endswith(tail):
        return None
    block = literal[len(head) : len(literal) - len(tail)]
    return block if block.startswith("|") else None


# Letters, digits and `._/-`, not starting with `.` or `-` (`---`, `...`, `- `): libyaml's scalar
# analysis (src/emitter.c: yaml_emitter_analyze_scalar) finds no indicator, space or special character
# in them, so it writes a plain scalar whenever the text resolves to a string. Long ones stay in place.
_PLAIN_TEXT = re.compile(r"[A-Za-z0-9/][A-Za-z0-9._/-]{0,199}")
_RESOLVER = yaml.resolver.Resolver()
_LEAVES = (str, int, float, bool, type(None))


def _plain(value: str) -> bool:
    known = _plains.get(value)
    if known is not None:
        return known
    tag = _RESOLVER.resolve(yaml.ScalarNode, value, (True, False)) if _PLAIN_TEXT.fullmatch(value) else None  # type: ignore[no-untyped-call]
    if len(_plains) >= _RESOLVE_MEMO:
        _plains.clear()
    _plains[value] = ok = tag == "tag:yaml.org,2002:str"
    return ok


_plains: dict[str, bool] = {}


class _Splices:
    def __init__(self) -> None:
        self.texts: list[str] = []
        self.shared: set[int] = set()  # which texts are long blocks kept in _blocks (see dump_parts)
        self.exact = True  # whether repr() of the skeleton tells it apart (builtin values only)

    def add(self, text: str) -> str:
        self.texts.append(text)
        return _TOKEN


def _substitute(data: Any, path: _Path, splices: _Splices) -> Any:
    """``data`` with each string whose emitted text is known replaced by a placeholder; ``splices``
    gets the texts, in placeholder order."""
    kind = type(data)
    if kind is dict and set(map(type, data)) <= _STR:
        out = {}
        for k, v in data.items():
            # Short strings and scalars (most values) are handled here as _leaf would, without a call.
            child = type(v)
            if child is str and "\n" not in v:
                plain = _plains.get(v)
                out[k] = splices.add(v) if (_plain(v) if plain is None else plain) else v
            elif child in _SCALARS:
                out[k] = v
            else:
                out[k] = _substitute(v, (*path, k), splices)
        return out
    if kind is list:
        item_path = (*path, None)
        return [
            (splices.add(v) if _plain(v) else v)
            if type(v) is str and "\n" not in v
            else _substitute(v, item_path, splices)
            for v in data
        ]
    if kind is str:
        return _leaf(data, path, splices)
    if kind not in _LEAVES:
        splices.exact = False
    return data


_STR = frozenset({str})
_SCALARS = frozenset({int, float, bool, type(None)})


def _leaf(data: str, path: _Path, splices: _Splices) -> str:
    if "\n" not in data:
        return splices.add(data) if _plain(data) else data
    text = _known_block(path, data)
    if text is None:
        return data
    if len(text) >= _SHARE_MIN and _blocks.get((path, data)) is text:
        splices.shared.add(len(splices.texts))
    return splices.add(text)


def _known_block(path: _Path, value: str) -> str | None:
    key = (path, value)
    if key in _blocks:
        _blocks.move_to_end(key)  # least recently used goes first: unique strings do not push out shared ones
        return _blocks[key]
    # Seen before at this place: worth keeping. Only a hash is kept of a string seen once (most are
    # unique to one document), so it is freed with its document.
    seen = (path, hash(value))
    again = seen in _seen
    if not again:
        _remember(_seen, seen, None)
    layout = _layout(path, value[-1] == "\n") if _simple(value) else None
    if layout is not None:
        block: str | None = _literal(layout, value)
    elif len(value) < _SPLICE_MIN or not again:  # the first time, emit it in place
        return None
    else:
        block = _block(path, value)
    if again:
        _remember(_blocks, key, block)
    return block


# --- Writing a literal block directly --------------------------------------------------------------
# A string unique to one document (a node's bootstrap script) is never seen twice, yet emitting it is
# the larger part of dumping that document. For the plainest kind of literal block the emitter's text
# is simple: the header (`|`, or `|-` without a final newline) and then each line, indented, with
# empty lines left empty (libyaml src/emitter.c: yaml_emitter_write_literal_scalar and
# yaml_emitter_write_indent). Such a block is written here, with the header and indentation the
# emitter uses at that place read off a probe dumped there once, and checked against it. Anything
# else (non-ASCII text, which libyaml judges printable by its own table; a first line starting with a
# space or an empty line, which needs an indentation indicator; keep chomping) goes the way above.
_PROBE = "kgen\n\nprobe"
_layouts: dict[tuple[_Path, bool], tuple[str, str] | None] = {}


def _simple(value: str) -> bool:
    return value.isascii() and value[:1] not in ("", " ", "\n") and not value.endswith("\n\n") and _literal_ok(value)


def _layout(path: _Path, newline: bool) -> tuple[str, str] | None:
    """The header and indentation of a literal block at ``path`` (ending in a newline or not), or None
    when the probe does not come out as the expected plain literal block."""
    key = (path, newline)
    if key not in _layouts:
        probe = _PROBE + "\n" if newline else _PROBE
        block = _block(path, probe)
        lines = block.split("\n") if block is not None else []
        found = (lines[0], lines[1][: -len("kgen")]) if len(lines) == 4 else None
        _layouts[key] = found if found is not None and _literal(found, probe) == block else None
    return _layouts[key]


def _literal(layout: tuple[str, str], value: str) -> str:
    header, indent = layout
    body = "\n" + (value[:-1] if value.endswith("\n") else value)
    # Empty lines carry no indentation. No line of the value ends in a space, so indentation followed
    # by a newline is an empty line's.
    return header + body.replace("\n", "\n" + indent).replace(indent + "\n", "\n")


# A dumped skeleton is kept cut at its placeholders: the text before the first, between each two and
# after the last, each with the seam (the space before a placeholder, the newline after it).
_skeletons: OrderedDict[str, tuple[str, ...] | None] = OrderedDict()


def _skeleton(substituted: Any, splices: _Splices) -> tuple[str, ...] | None:
    """The dumped skeleton, kept for the next document alike; None when the placeholders are not
    there exactly once each as a plain scalar ending its line (a string in the data could hold one)."""
    key = repr(substituted) if splices.exact else None
    if key is not None and key in _skeletons:
        _skeletons.move_to_end(key)
        return _skeletons[key]
    text = _dump(substituted)
    cuts = None
    if text.count(_TOKEN) == len(splices.texts) == text.count(_SEAM):
        pieces = text.split(_SEAM)
        cuts = (pieces[0] + " ", *(f"\n{p} " for p in pieces[1:-1]), "\n" + pieces[-1])
    if key is not None:
        _remember(_skeletons, key, cuts)
    return cuts


# Long literal blocks that recur across documents (the preparation scripts every node writes) are kept
# apart by dump_parts, as the one str object _blocks holds, so a caller keeping thousands of documents
# can hold their bytes once. Shorter ones go with the text around them.
_SHARE_MIN = 512


def _pieces(data: Any) -> tuple[list[str], set[int]]:
    """The dumped text in pieces (joined, they are ``_dump(data)``) and the indexes of the pieces that
    are shared blocks."""
    splices = _Splices()
    substituted = _substitute(data, (), splices)
    cuts = _skeleton(substituted, splices) if splices.texts else None
    if cuts is None:
        return [_dump(data)], set()
    shared = splices.shared
    pieces = [cuts[0]]
    at: set[int] = set()
    for n, (text, segment) in enumerate(zip(splices.texts, cuts[1:], strict=True)):
        if n in shared:
            at.add(len(pieces))
        pieces.append(text)
        pieces.append(segment)
    return pieces, at


def dump(data: Any) -> str:
    return "".join(_pieces(data)[0])


def dump_parts(data: Any) -> list[str]:
    """``dump(data)`` in parts whose concatenation is that text: every odd-numbered part is a long
    literal block recurring across documents, the same str object each time it recurs while it stays
    in the memo; the even-numbered parts are the text between (an empty one between two blocks)."""
    pieces, shared = _pieces(data)
    parts: list[str] = []
    run: list[str] = []
    for i, piece in enumerate(pieces):
        if i in shared:
            parts += ["".join(run), piece]
            run = []
        else:
            run.append(piece)
    parts.append("".join(run))
    return parts


def dump_all(documents: Iterable[Any]) -> str:
    # A stream of block collections is each document after `---`, as dump() writes it on its own, unless
    # a document ends open (`...`, after a keep-chomping block): then the emitter writes the stream.
    docs = list(documents)
    if all(type(d) in (dict, list) and d for d in docs):
        texts = [dump(d) for d in docs]
        if not any(t.endswith("...\n") for t in texts):
            return "".join(f"---\n{t}" for t in texts)
    text: str = yaml.dump_all(docs, Dumper=_Dumper, explicit_start=True, **_OPTIONS)
    return text
