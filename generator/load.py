"""Stage 1: read a YAML file and remember the line of every key and item, so later stages can say
``cluster.yaml:12: spec.nodes[2].role: ...``."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

from generator.document import (
    ECHO_LIMIT,
    Document,
    KeyPath,
    describe,
    format_path,
    non_ascii_hint,
    shorten,
)
from generator.errors import ConfigInvalid, Problem
from generator.yamlsyntax import character_problems, position, syntax_problem

# The document and the message helpers live in generator.document; stages import them from here too.
__all__ = ["ECHO_LIMIT", "Document", "KeyPath", "describe", "format_path", "load", "non_ascii_hint", "parse", "shorten"]


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The safe loader (libyaml's when present: it keeps line marks and is much faster)."""


# --- limits -------------------------------------------------------------------------------------------
# A cluster config is small and written by hand: a few hundred values, a few levels deep. Aliases let a
# 1 KB file stand for a billion values ("billion laughs"); every later stage walks the expanded tree, so
# the expansion is measured on the node graph, before anything is constructed or walked, and refused
# far above any real config but far below what would hurt.
MAX_EXPANDED_VALUES = 50_000  # values aliases may add on top of the file's own
MAX_DEPTH = 40
MAX_ALIASED_CHARACTERS = 1_000_000  # characters aliases may add on top of the file's own
MAX_NUMBER_LENGTH = 30  # no kgen setting takes a longer number (and int() refuses > 4300 digits)

TAG = "tag:yaml.org,2002:"
STR, INT, FLOAT, BOOL, NULL = (TAG + t for t in ("str", "int", "float", "bool", "null"))
MAP, SEQ, MERGE, TIMESTAMP = (TAG + t for t in ("map", "seq", "merge", "timestamp"))
DECIMAL = re.compile(r"-?(0|[1-9][0-9]*)")


def _children(node: yaml.Node, path: KeyPath) -> Iterator[tuple[yaml.Node, KeyPath]]:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            part = str(key.value) if isinstance(key, yaml.ScalarNode) else "?"
            yield key, (*path, part)
            yield value, (*path, part)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield item, (*path, index)


def _within_limits_as_a_tree(root: yaml.Node, text_length: int) -> bool:
    """Whether the graph is a plain tree (no node reached twice, so no alias is used) within the depth
    and character limits: the common case, which then needs none of :func:`_check_expansion`'s sizes
    and paths. False means "not known": the full check decides, and names the place."""
    seen: set[int] = set()
    characters = 0
    stack: list[tuple[yaml.Node, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if id(node) in seen or depth > MAX_DEPTH:
            return False
        seen.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            characters += len(node.value)
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack.append((key, depth + 1))
                stack.append((value, depth + 1))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, depth + 1) for item in node.value)
    # In a tree each node's values are its own subtree's nodes, all seen, so the values limit holds;
    # every node's characters are at most the whole tree's.
    return characters <= text_length + MAX_ALIASED_CHARACTERS


def _check_expansion(root: yaml.Node, file: str, text_length: int) -> None:
    """Refuse a recursive alias, and a document whose aliases expand it past the limits, looking at
    each node of the graph once (a depth-first walk without recursion, sizes memoised)."""
    if _within_limits_as_a_tree(root, text_length):
        return
    sizes: dict[int, tuple[int, int, int]] = {}  # id(node) -> (values, characters, depth), expanded
    open_nodes = {id(root)}
    stack: list[tuple[yaml.Node, KeyPath, Iterator[tuple[yaml.Node, KeyPath]]]] = [(root, (), _children(root, ()))]
    max_characters = text_length + MAX_ALIASED_CHARACTERS

    def refuse(node: yaml.Node, path: KeyPath, message: str) -> ConfigInvalid:
        mark = node.start_mark
        return ConfigInvalid([Problem(file, mark.line + 1, format_path(path), message, column=mark.column + 1)])

    while stack:
        node, path, children = stack[-1]
        for child, child_path in children:
            if id(child) in sizes:
                continue
            if id(child) in open_nodes:
                raise refuse(
                    child,
                    child_path,
                    "a recursive alias: this alias refers to a node that contains it, so it never ends",
                )
            open_nodes.add(id(child))
            stack.append((child, child_path, _children(child, child_path)))
            break
        else:
            stack.pop()
            open_nodes.discard(id(node))
            values, characters, depth = 1, len(node.value) if isinstance(node, yaml.ScalarNode) else 0, 0
            for child, _ in _children(node, path):
                child_values, child_characters, child_depth = sizes[id(child)]
                values, characters, depth = (
                    values + child_values,
                    characters + child_characters,
                    max(depth, child_depth),
                )
            sizes[id(node)] = (values, characters, depth + 1)
            # Every node seen so far bounds the distinct nodes below this one: what exceeds them came
            # from aliases. A long plain list is left to the schema, which names the setting.
            if values > len(sizes) + MAX_EXPANDED_VALUES:
                raise refuse(
                    node,
                    path,
                    f"its aliases expand it by more than {MAX_EXPANDED_VALUES} values (a 'billion laughs' "
                    "document?); a cluster config is far smaller, so kgen refuses it",
                )
            if characters > max_characters:
                raise refuse(
                    node,
                    path,
                    f"with its aliases this expands to more than {max_characters} characters; kgen refuses it",
                )
            if depth + 1 > MAX_DEPTH:
                raise refuse(node, path, f"nested more than {MAX_DEPTH} levels deep; kgen refuses it")


def _tag_name(tag: str) -> str:
    return "!!" + tag.removeprefix(TAG) if tag.startswith(TAG) else tag


class _Walker:
    """Walks the node graph as YAML will construct it (merge keys applied, aliases expanded; bounded by
    :func:`_check_expansion`), recording each key path's line and every value YAML 1.1 would read
    differently from how it looks. ``secret``: never echo a value (a secrets bundle)."""

    def __init__(self, file: str, loader: Any, *, secret: bool) -> None:
        self.file = file
        self.loader = loader
        self.secret = secret
        self.lines: dict[KeyPath, int] = {}
        self.problems: list[Problem] = []
        self.seen: set[int] = set()  # nodes already checked (an aliased node is reported once)
        self.merged: list[tuple[yaml.MappingNode, list[tuple[yaml.Node, yaml.Node]]]] = []

    def problem(self, node: yaml.Node, path: KeyPath, message: str) -> None:
        mark = node.start_mark
        self.problems.append(Problem(self.file, mark.line + 1, format_path(path), message, column=mark.column + 1))

    def echo(self, text: str) -> str:
        return "this value" if self.secret else shorten(text)

    def walk(self, node: yaml.Node, path: KeyPath) -> None:
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode) and node.tag == MAP:
            first_visit = id(node) not in self.seen
            entries = self.entries(node, path)
            if first_visit and any(k.tag == MERGE for k, _ in node.value):
                self.merged.append((node, [(k, v) for _, k, v in entries]))
            for key, key_node, value_node in entries:
                child = (*path, key)
                self.lines[child] = key_node.start_mark.line + 1
                self.walk(value_node, child)
        elif isinstance(node, yaml.SequenceNode) and node.tag == SEQ:
            for index, item in enumerate(node.value):
                self.walk(item, (*path, index))
        elif id(node) not in self.seen:
            self.seen.add(id(node))
            message = self.scalar_message(node, path)
            if message:
                self.problem(node, path, message)

    def apply_merges(self) -> None:
        """Replace each mapping that has ``<<`` by the keys it stands for, so the constructor has no
        merge left to do. PyYAML 6.0.4's ``flatten_mapping`` tells merged keys apart by ``id()`` of the
        key string, so with two sources holding equal but distinct key strings the later source wins,
        against the merge spec (yaml/constructor.py, SafeConstructor.flatten_mapping)."""
        for node, pairs in self.merged:
            node.value = pairs

    def entries(self, node: yaml.MappingNode, path: KeyPath) -> list[tuple[str, yaml.Node, yaml.Node]]:
        """The mapping's keys as YAML constructs them: its own keys first (a repeated one is an error,
        as YAML would silently keep the last), then those of each ``<<`` merge source not already
        present, earlier sources first (https://yaml.org/type/merge.html)."""
        own: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        merges: list[tuple[yaml.Node, yaml.Node]] = []
        first_visit = id(node) not in self.seen
        self.seen.add(id(node))
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag == MERGE:
                merges.append((key_node, value_node))
                continue
            key = self.key(key_node, path, report=first_visit)
            if key is None:
                continue
            if key in own:
                if first_visit:
                    self.problem(key_node, (*path, key), "duplicate key; YAML would silently keep only the last one")
                continue
            own[key] = (key_node, value_node)
        if len(merges) > 1 and first_visit:
            self.problem(merges[1][0], (*path, "<<"), "duplicate key; YAML would silently keep only the last one")
        out: list[tuple[str, yaml.Node, yaml.Node]] = []  # merged keys first, as PyYAML orders them
        present = set(own)
        for key_node, value_node in merges[:1]:
            sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
            mappings = [s for s in sources if isinstance(s, yaml.MappingNode) and s.tag == MAP]
            if len(mappings) != len(sources):
                if first_visit:
                    self.problem(key_node, (*path, "<<"), "'<<' merges a mapping (such as *defaults) or a list of them")
                continue
            for source in mappings:
                for key, k, v in self.entries(source, path):
                    if key not in present:
                        present.add(key)
                        out.append((key, k, v))
        return out + [(key, k, v) for key, (k, v) in own.items()]

    def key(self, node: yaml.Node, path: KeyPath, *, report: bool) -> str | None:
        if isinstance(node, yaml.ScalarNode) and node.tag == STR:
            return str(node.value)
        if report:
            if isinstance(node, yaml.ScalarNode):
                read_as = self.read_as(node)
                text = shorten(node.value)
                self.problem(
                    node,
                    (*path, str(node.value)),
                    f"YAML 1.1 reads the key {text} as {read_as}; keys must be strings: quote it ({text})",
                )
            else:
                kind = "list" if isinstance(node, yaml.SequenceNode) else "mapping"
                self.problem(node, (*path, "?"), f"a key must be a string, not a {kind}")
        return None

    def read_as(self, node: yaml.ScalarNode) -> str:
        """What YAML 1.1 makes of a scalar, in words."""
        text = str(node.value)
        if _malformed(node, self.loader):
            return f"a malformed {_tag_name(node.tag)} value"
        if node.tag in (INT, FLOAT) and len(text) > MAX_NUMBER_LENGTH:
            return f"a {len(text)}-character number"
        readers: dict[str, Callable[[], str]] = {
            BOOL: lambda: f"the boolean {str(self.loader.construct_yaml_bool(node)).lower()}",
            NULL: lambda: "null (no value)",
            TIMESTAMP: lambda: "a date and time" if len(text) > len("2024-01-01") else "a date",
            INT: lambda: f"the {_int_kind(text)}number {self.loader.construct_yaml_int(node)}",
            FLOAT: lambda: f"the number {self.loader.construct_yaml_float(node)!r}",
        }
        reader = readers.get(node.tag)
        return reader() if reader else f"a {_tag_name(node.tag)} value"

    def scalar_message(self, node: yaml.Node, path: KeyPath) -> str | None:
        """Why YAML 1.1's reading of this value is not what the user wrote, or None if it is."""
        if isinstance(node, yaml.ScalarNode) and _malformed(node, self.loader):
            return f"{self.echo(str(node.value))} is not a valid {_tag_name(node.tag)} value"
        if isinstance(node, yaml.ScalarNode) and _as_written(node, self.loader):
            return None
        if not isinstance(node, yaml.ScalarNode) or node.tag not in (BOOL, INT, FLOAT, TIMESTAMP):
            return (
                f"the tag {_tag_name(node.tag)} makes a value kgen cannot use; write a plain string, number, "
                "true/false, list or mapping"
            )
        text = str(node.value)
        shown = self.echo(text)
        if node.tag in (INT, FLOAT) and len(text) > MAX_NUMBER_LENGTH:
            return f"{shown} is a {len(text)}-character number; no kgen setting takes one that long"
        quote = "quote it" if self.secret else f"quote it ({shown})"
        if node.tag == BOOL:
            advice = f"write true or false, or {quote} for text"
        elif node.tag == INT:
            advice = f"write numbers in decimal ({self.loader.construct_yaml_int(node)}), or {quote}"
        elif path and path[-1] == "version":
            advice = quote.replace("it", "the version", 1)
        else:
            advice = quote
        return f"YAML 1.1 reads {shown} as {self.read_as(node)}; {advice}"


def _int_kind(text: str) -> str:
    digits = text.lstrip("+-")
    if ":" in digits:
        return "sexagesimal (base 60) "
    if digits.startswith(("0x", "0b")):
        return "hexadecimal " if digits[1] == "x" else "binary "
    return "octal " if digits.startswith("0") and digits != "0" else ""


def _malformed(node: yaml.ScalarNode, loader: Any) -> bool:
    """An explicit tag on text that is not of that type (``!!int x``, ``!!bool maybe``): PyYAML's
    constructors would raise anything from ValueError to AttributeError on it."""
    return node.tag in (INT, FLOAT, BOOL, TIMESTAMP, NULL) and (
        loader.resolve(yaml.ScalarNode, node.value, (True, False)) != node.tag
    )


def _as_written(node: yaml.ScalarNode, loader: Any) -> bool:
    """Whether YAML 1.1 reads the scalar as what it looks like in JSON terms: a string, null, true or
    false spelled so, a decimal integer, or a number that prints back as written."""
    text = str(node.value)
    if node.tag in (STR, NULL):
        return True
    if node.tag == BOOL:
        return text.lower() in ("true", "false")
    if node.tag not in (INT, FLOAT) or len(text) > MAX_NUMBER_LENGTH:
        return False
    if node.tag == INT:
        return DECIMAL.fullmatch(text) is not None
    return repr(loader.construct_yaml_float(node)) == text


def parse(text: str, file: str, *, secret: bool = False) -> Document:
    """Parse one YAML document; raise :class:`ConfigInvalid` with located problems on bad YAML, on a
    document aliases would blow up, and on values YAML 1.1 reads differently from how they look
    (``on:`` as true, ``010`` as 8, ``1.30`` as 1.3, dates, ``!!binary``). ``secret``: the document
    holds secrets, so no message echoes a value."""
    problems = character_problems(text, file)
    if problems:
        raise ConfigInvalid(problems)
    loader = _Loader(text)
    try:
        try:
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            raise ConfigInvalid([syntax_problem(file, text, exc)]) from None
        except yaml.YAMLError as exc:
            raise ConfigInvalid([Problem(file, None, "", f"invalid YAML: {' '.join(str(exc).split())}")]) from None
        if node is None:
            raise ConfigInvalid([Problem(file, 1, "", "the file is empty; expected a mapping")])
        _check_expansion(node, file, len(text))
        walker = _Walker(file, loader, secret=secret)
        walker.walk(node, ())
        if walker.problems:
            raise ConfigInvalid(walker.problems)
        walker.apply_merges()
        try:
            data = loader.construct_document(node)
        except yaml.MarkedYAMLError as exc:
            raise ConfigInvalid([syntax_problem(file, text, exc)]) from None
    finally:
        loader.dispose()
    return Document(file=file, data=data, lines=walker.lines)


def load(path: Path, *, what: str = "a cluster YAML file", secret: bool = False) -> Document:
    """Read ``path`` (UTF-8) and parse it. ``what`` names the file expected there, for messages."""
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigInvalid([Problem(file, None, "", "no such file")]) from None
    except IsADirectoryError:
        raise ConfigInvalid([Problem(file, None, "", f"is a directory, expected {what}")]) from None
    except UnicodeDecodeError as exc:
        line, column = position(
            exc.object.decode("utf-8", "replace"), len(exc.object[: exc.start].decode("utf-8", "replace"))
        )
        problem = Problem(file, line, "", f"not UTF-8 text ({exc.reason})", column=column)
        raise ConfigInvalid([problem]) from None
    except OSError as exc:
        raise ConfigInvalid([Problem(file, None, "", f"cannot read: {exc.strerror or exc}")]) from None
    return parse(text, file, secret=secret)
