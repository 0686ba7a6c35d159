"""Stage 1: read a YAML file and remember the line of every key and item, so later stages can say
``cluster.yaml:12: spec.nodes[2].role: ...``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from generator.errors import ConfigInvalid, Problem

KeyPath = tuple[str | int, ...]


def format_path(path: KeyPath) -> str:
    """``("spec", "nodes", 2, "role")`` -> ``spec.nodes[2].role``. A key with characters that would break
    the one-line report (newlines, control characters) is shown JSON-quoted."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        text = part if part.isprintable() else json.dumps(part)
        out += f".{text}" if out else text
    return out


@dataclass
class Document:
    """A parsed YAML document and the 1-based line of each key path in it."""

    file: str
    data: Any
    lines: dict[KeyPath, int] = field(default_factory=dict)

    def line_of(self, path: KeyPath) -> int | None:
        """The line of ``path``, or of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:end]))
            if line is not None:
                return line
        return None

    def problem(self, path: KeyPath, message: str, *, severity: str = "error") -> Problem:
        return Problem(
            file=self.file,
            line=self.line_of(path),
            path=format_path(path),
            message=message,
            severity="warning" if severity == "warning" else "error",
        )


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The safe loader (libyaml's when present: it keeps line marks and is much faster)."""


def _walk(node: yaml.Node, path: KeyPath, lines: dict[KeyPath, int], dupes: list[tuple[KeyPath, int]]) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            child = (*path, key)
            if key in seen:
                dupes.append((child, key_node.start_mark.line + 1))
            seen.add(key)
            lines[child] = key_node.start_mark.line + 1
            _walk(value_node, child, lines, dupes)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), lines, dupes)


def parse(text: str, file: str) -> Document:
    """Parse one YAML document; raise :class:`ConfigInvalid` with a located problem on bad YAML."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise ConfigInvalid([Problem(file, 1, "", "the file is empty; expected a mapping")])
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        message = f"invalid YAML: {exc.problem or exc.context}"
        raise ConfigInvalid([Problem(file, line, "", message)]) from None
    except yaml.YAMLError as exc:
        raise ConfigInvalid([Problem(file, None, "", f"invalid YAML: {exc}")]) from None
    finally:
        loader.dispose()
    lines: dict[KeyPath, int] = {}
    dupes: list[tuple[KeyPath, int]] = []
    _walk(node, (), lines, dupes)
    if dupes:
        raise ConfigInvalid(
            [
                Problem(file, line, format_path(p), "duplicate key; YAML would silently keep only the last one")
                for p, line in dupes
            ]
        )
    return Document(file=file, data=data, lines=lines)


def load(path: Path) -> Document:
    """Read ``path`` (UTF-8) and parse it."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigInvalid([Problem(str(path), None, "", "no such file")]) from None
    except IsADirectoryError:
        raise ConfigInvalid([Problem(str(path), None, "", "is a directory, expected a cluster YAML file")]) from None
    except UnicodeDecodeError as exc:
        raise ConfigInvalid([Problem(str(path), None, "", f"not UTF-8 text ({exc.reason})")]) from None
    except OSError as exc:
        raise ConfigInvalid([Problem(str(path), None, "", f"cannot read: {exc.strerror}")]) from None
    return parse(text, str(path))
