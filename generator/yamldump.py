"""The one YAML dumper for everything kgen emits (cloud-config, kubeadm documents, secrets, CNI
resources). Documents are built as data and dumped here; nothing is YAML by string templating."""

from __future__ import annotations

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
    (C-speed str methods): a per-line check in Python was a third of the dump time of a big render."""
    return "\n" in value and " \n" not in value and not value.endswith(" ") and value.replace("\n", "").isprintable()


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


# --- Reusing the emitted form of long strings that repeat between documents -------------------------
# Every node's cloud-config carries the same preparation scripts; emitting them again for each of
# thousands of nodes was most of a big render. A literal block's text depends only on the string and
# where it sits (the keys and sequence levels above it), so a string seen before at the same place is
# emitted once in a minimal document and spliced in: the document is dumped with a plain placeholder
# there instead, which is then replaced by the block. The seam is the same for both (the emitter ends a
# plain scalar and a literal block so the next line starts alike), checked on the minimal documents;
# anything unexpected falls back to a plain dump. Output is byte-identical either way
# (tests/test_yamldump.py compares them).
_Path = tuple[str | None, ...]  # mapping keys; None for a sequence item (its index does not matter)
_SPLICE_MIN = 1024  # shorter strings are cheaper to emit than to look up
_MEMO_SIZE = 64
_PLACEHOLDER = "kgen-yaml-splice-"
_seen: OrderedDict[tuple[_Path, str], None] = OrderedDict()
_blocks: OrderedDict[tuple[_Path, str], str | None] = OrderedDict()


def _remember(memo: OrderedDict[tuple[_Path, str], Any], key: tuple[_Path, str], value: Any) -> None:
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


def _substitute(data: Any, path: _Path, splices: dict[str, str]) -> Any:
    """``data`` with each long string seen before at the same place replaced by a placeholder;
    ``splices`` gets placeholder -> block."""
    if isinstance(data, dict) and all(isinstance(k, str) for k in data):
        return {k: _substitute(v, (*path, k), splices) for k, v in data.items()}
    if isinstance(data, list):
        return [_substitute(v, (*path, None), splices) for v in data]
    block = _known_block(path, data) if isinstance(data, str) and len(data) >= _SPLICE_MIN else None
    if block is None:
        return data
    placeholder = f"{_PLACEHOLDER}{len(splices)}-x"
    splices[placeholder] = block
    return placeholder


def _known_block(path: _Path, value: str) -> str | None:
    key = (path, value)
    if key not in _blocks:
        if key not in _seen:  # the first time, remember it and emit it in place
            _remember(_seen, key, None)
            return None
        _remember(_blocks, key, _block(path, value))
    return _blocks[key]


def dump(data: Any) -> str:
    splices: dict[str, str] = {}
    substituted = _substitute(data, (), splices)
    if not splices:
        return _dump(data)
    text = _dump(substituted)
    # Each placeholder must be there exactly once as a plain scalar ending its line (a string in the
    # data could contain one by accident); otherwise dump the data as it is.
    if any(text.count(token) != 1 or f" {token}\n" not in text for token in splices):
        return _dump(data)
    for token, block in splices.items():
        text = text.replace(f" {token}\n", f" {block}\n")
    return text


def dump_all(documents: Iterable[Any]) -> str:
    text: str = yaml.dump_all(documents, Dumper=_Dumper, explicit_start=True, **_OPTIONS)
    return text
