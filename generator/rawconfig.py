"""Reading a raw cluster config defensively: the schema may already have reported a wrong type, and a
semantic check must then stay quiet rather than crash. Used by the normalize stage and the checks."""

from __future__ import annotations

from typing import Any

from generator.load import KeyPath


def lookup(data: Any, *keys: str | int, default: Any = None) -> Any:
    for key in keys:
        if isinstance(key, int):
            if not isinstance(data, list) or key >= len(data):
                return default
        elif not isinstance(data, dict) or key not in data:
            return default
        data = data[key]
    return data


def mappings(data: Any, *keys: str) -> list[tuple[int, dict[str, Any]]]:
    value = lookup(data, *keys, default=[])
    if not isinstance(value, list):
        return []
    return [(i, item) for i, item in enumerate(value) if isinstance(item, dict)]


def expanded_nodes(data: Any) -> list[tuple[KeyPath, str, str, Any, str | None]]:
    """(key path, name, role, ip, pool) for every node, pools expanded to ``<pool>-0 … <pool>-N``.
    Called once, by :func:`generator.normalize.normalize`; everything else reads ``Normalized.nodes``."""
    out: list[tuple[KeyPath, str, str, Any, str | None]] = []
    for i, node in mappings(data, "spec", "nodes"):
        name, role = node.get("name"), node.get("role")
        if isinstance(name, str) and isinstance(role, str):
            out.append((("spec", "nodes", i), name, role, node.get("ip"), None))
    for i, pool in mappings(data, "spec", "workerPools"):
        name, count = pool.get("name"), pool.get("count")
        if isinstance(name, str) and isinstance(count, int) and not isinstance(count, bool):
            out.extend((("spec", "workerPools", i), f"{name}-{n}", "worker", None, name) for n in range(max(count, 0)))
    return out
