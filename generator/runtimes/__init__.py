"""The container runtimes: one module each (``containerd``, ``crio``) behind one interface
(:class:`generator.runtimes.base.RuntimePlugin`), plus a template piece per runtime
(``templates/runtimes/<name>/``). The socket and repositories are the version table's (``runtimes``)."""

from __future__ import annotations

import importlib
import pkgutil

from generator.runtimes.base import RuntimeConfig, RuntimePlugin

__all__ = ["PLUGINS", "RuntimeConfig", "RuntimePlugin", "plugin"]


def _discover() -> dict[str, RuntimePlugin]:
    """Every module of this package but ``base`` is a runtime and defines ``PLUGIN``: adding a module is
    registering it (docs/CONTRIBUTING.md)."""
    found: dict[str, RuntimePlugin] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name != "base":
            module_plugin: RuntimePlugin = importlib.import_module(f"{__name__}.{info.name}").PLUGIN
            found[module_plugin.name] = module_plugin
    return found


PLUGINS: dict[str, RuntimePlugin] = _discover()


def plugin(name: str) -> RuntimePlugin:
    try:
        return PLUGINS[name]
    except KeyError:
        known = ", ".join(sorted(PLUGINS))
        raise KeyError(f"container runtime {name!r} has no module under generator/runtimes/ (known: {known})") from None
