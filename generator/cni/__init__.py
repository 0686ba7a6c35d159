"""The CNI plugins: one module each (``calico``, ``cilium``, ``flannel``) behind one interface
(:class:`generator.cni.base.CniPlugin`), registered by name in :data:`PLUGINS`. Adding one: a module here,
its row under ``cni`` in ``data/versions.yaml`` (with its ports), its apply steps in
``templates/cni/apply-<name>.sh.j2``, its name in the schema enum (docs/CONTRIBUTING.md). A plugin with
no module is an error, never another plugin."""

from __future__ import annotations

from generator import discovery
from generator.cni.base import IMAGE_MANIFEST_DIR, RENDERED_DIR, CniAssets, CniPlugin
from generator.model import Cluster

__all__ = ["IMAGE_MANIFEST_DIR", "PLUGINS", "RENDERED_DIR", "CniAssets", "CniPlugin", "assets", "plugin"]


PLUGINS: dict[str, CniPlugin] = {p.name: p for p in discovery.plugins(__name__, __path__)}


class UnknownPlugin(KeyError):
    pass


def plugin(name: str) -> CniPlugin:
    try:
        return PLUGINS[name]
    except KeyError:
        raise UnknownPlugin(
            f"CNI plugin {name!r} has no module under generator/cni/ (known: {', '.join(sorted(PLUGINS))})"
        ) from None


def assets(cluster: Cluster) -> CniAssets | None:
    """The cluster's CNI assets; None for ``plugin: none``. Called once per cluster, by the plan."""
    release = cluster.cni.release
    if release is None:
        return None
    return plugin(cluster.cni.plugin).assets(cluster, release)
