"""The one YAML dumper for everything kgen emits (cloud-config, kubeadm documents, secrets, CNI
resources). Documents are built as data and dumped here; nothing is YAML by string templating."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml

# libyaml's emitter is some 20x faster than PyYAML's pure-Python one on large literal blocks (PEM
# files, scripts); PyYAML wheels ship it. Both emit the same text for what kgen dumps.
_Base: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _Dumper(_Base):  # type: ignore[valid-type,misc]
    """Block style, multi-line strings as literal blocks, no aliases, stable output."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # Literal blocks keep PEM blocks and scripts readable in the output. Strings with characters a
    # literal block cannot carry (trailing spaces, tabs after newlines, control characters) fall back
    # to PyYAML's own quoting, which always round-trips.
    lines = value.split("\n")
    if len(lines) > 1 and all(line == line.rstrip(" ") and line.isprintable() for line in lines):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _represent_str)


def dump(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True, width=1000)


def dump_all(documents: Iterable[Any]) -> str:
    return yaml.dump_all(
        documents,
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=1000,
        explicit_start=True,
    )
