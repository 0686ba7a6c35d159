"""The container runtimes: one module each (``containerd``, ``crio``) behind one interface
(:class:`generator.runtimes.base.RuntimePlugin`), plus a template piece per runtime
(``templates/runtimes/<name>/``). The socket and repositories are the version table's (``runtimes``)."""

from __future__ import annotations

from generator import discovery
from generator.runtimes.base import RuntimeConfig, RuntimePlugin

__all__ = ["PLUGINS", "RuntimeConfig", "RuntimePlugin", "plugin"]


PLUGINS: dict[str, RuntimePlugin] = {p.name: p for p in discovery.plugins(__name__, __path__)}


def plugin(name: str) -> RuntimePlugin:
    try:
        return PLUGINS[name]
    except KeyError:
        known = ", ".join(sorted(PLUGINS))
        raise KeyError(f"container runtime {name!r} has no module under generator/runtimes/ (known: {known})") from None
