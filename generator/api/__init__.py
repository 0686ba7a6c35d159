"""kgen's public API: the pipeline load -> normalize -> validate -> model -> plan -> emit -> write, and the runners
after it (``bake``, ``vm``), as a few functions with keyword-only options that return results. The CLI
is a thin shell over these: it parses arguments and hands the results to a reporter.

Long-running functions tell a :class:`Listener` what happens while they run (render warnings first,
then progress lines); the result they return holds the rest."""

from __future__ import annotations

from generator.api.cluster import (
    Listener,
    Loaded,
    RenderResult,
    Rotation,
    Silent,
    TokenInfo,
    check_config,
    images,
    join,
    join_command,
    load_cluster,
    load_secrets,
    mirror_script,
    ports,
    render_cluster,
    render_located,
    rotate_token,
    versions,
    write_example,
)
from generator.api.example import InitAnswers
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
from generator.api.runs import (
    BakeOutcome,
    VmOutcome,
    bake,
    vm,
)

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
