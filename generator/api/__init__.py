"""kgen's public API: the pipeline load -> normalize -> validate -> model -> plan -> emit -> write, and the runners
after it (``bake``, ``vm``), as a few functions with keyword-only options that return results. The CLI
is a thin shell over these: it parses arguments and hands the results to a reporter.

Long-running functions tell a :class:`Listener` what happens while they run (render warnings first,
then progress lines); the result they return holds the rest.

Each name is imported from its module on first use (:func:`__getattr__`), so a command imports only
the modules it calls: `kgen render` never imports the upgrade kit, the runners or the information
commands (issue 12: rendering the example costs at most 1.5x a bare import of kgen's dependencies).
This is for speed only; no module here imports another lazily to break a cycle."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the same names, for type checkers and import-linter; bound lazily at run time
    from generator.api.cluster import (
        Listener,
        Loaded,
        RenderResult,
        Rotation,
        Silent,
        TokenInfo,
        check_config,
        load_cluster,
        load_secrets,
        render_cluster,
        render_located,
        rotate_token,
    )
    from generator.api.example import InitAnswers, write_example
    from generator.api.operations import (
        KubeconfigResult,
        RestoreResult,
        UpgradeResult,
        admin_kubeconfig,
        check_certificates,
        default_kubeconfig_path,
        restore,
        upgrade,
    )
    from generator.api.reports import images, join, join_command, mirror_script, ports, versions
    from generator.api.runs import BakeOutcome, VmOutcome, bake, vm

# Which module defines each public name.
_MODULES = {
    "cluster": (
        "Listener",
        "Loaded",
        "RenderResult",
        "Rotation",
        "Silent",
        "TokenInfo",
        "check_config",
        "load_cluster",
        "load_secrets",
        "render_cluster",
        "render_located",
        "rotate_token",
    ),
    "example": ("InitAnswers", "write_example"),
    "operations": (
        "KubeconfigResult",
        "RestoreResult",
        "UpgradeResult",
        "admin_kubeconfig",
        "check_certificates",
        "default_kubeconfig_path",
        "restore",
        "upgrade",
    ),
    "reports": ("images", "join", "join_command", "mirror_script", "ports", "versions"),
    "runs": ("BakeOutcome", "VmOutcome", "bake", "vm"),
}
_HOME = {name: module for module, names in _MODULES.items() for name in names}

__all__ = [
    "BakeOutcome",
    "InitAnswers",
    "KubeconfigResult",
    "Listener",
    "Loaded",
    "RenderResult",
    "RestoreResult",
    "Rotation",
    "Silent",
    "TokenInfo",
    "UpgradeResult",
    "VmOutcome",
    "admin_kubeconfig",
    "bake",
    "check_certificates",
    "check_config",
    "default_kubeconfig_path",
    "images",
    "join",
    "join_command",
    "load_cluster",
    "load_secrets",
    "mirror_script",
    "ports",
    "render_cluster",
    "render_located",
    "restore",
    "rotate_token",
    "upgrade",
    "versions",
    "vm",
    "write_example",
]


if not TYPE_CHECKING:  # type checkers see the imports above (and so flag a misspelt name)

    def __getattr__(name: str) -> Any:
        """Import the module that defines ``name`` (once; the name is then bound here)."""
        module = _HOME.get(name)
        if module is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
        globals()[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted([*globals(), *_HOME])
