"""Plugin packages (``generator.cni``, ``generator.runtimes``) find their modules here: every module of
the package but ``base`` is a plugin and defines ``PLUGIN``, so adding a module is registering it
(docs/CONTRIBUTING.md)."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable
from typing import Any


def plugins(package: str, path: Iterable[str]) -> list[Any]:
    """The ``PLUGIN`` of each module of ``package`` (whose ``__path__`` is ``path``), by module name."""
    modules = sorted(m.name for m in pkgutil.iter_modules(list(path)) if m.name != "base")
    return [importlib.import_module(f"{package}.{name}").PLUGIN for name in modules]
