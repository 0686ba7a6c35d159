"""The information commands as API functions: versions, images, ports, the join command and the
mirror script. Kept apart from :mod:`generator.api.cluster` so that `kgen render` imports none of
:mod:`generator.info` and :mod:`generator.mirror`."""

from __future__ import annotations

from pathlib import Path

from generator import info, mirror
from generator.api.cluster import Listener, Silent, load_cluster, load_secrets
from generator.errors import UserError


def join_command(config_path: Path, *, secrets_path: Path | None = None) -> str:
    return join(config_path, secrets_path=secrets_path).command


def join(config_path: Path, *, secrets_path: Path | None = None, control_plane: bool = False) -> info.JoinCommand:
    """The ``kubeadm join`` line for adding a node by hand (``control_plane``: a control-plane node,
    with a note on the shared PKI it needs first; :func:`generator.info.join_command`)."""
    cluster = load_cluster(config_path).cluster
    bundle = load_secrets(config_path, cluster, secrets_path)
    return info.join_command(cluster, bundle, control_plane=control_plane)


def versions() -> info.VersionsReport:
    """The supported Kubernetes minors and what kgen pins for each (the version table)."""
    return info.versions_report()


def images(config_path: Path, *, listener: Listener | None = None) -> info.ImagesReport:
    """Every image the cluster's first boots ask for: the table the bake pre-pulls (the list to mirror).
    The config's warnings go to ``listener``."""
    loaded = load_cluster(config_path)
    (listener or Silent()).warnings(loaded.warnings)
    return info.images_report(loaded.cluster)


def ports(config_path: Path, *, listener: Listener | None = None) -> info.PortsReport:
    """The inbound ports each role needs, merged as the rendered configure phase opens them. The
    config's warnings go to ``listener``."""
    loaded = load_cluster(config_path)
    (listener or Silent()).warnings(loaded.warnings)
    return info.ports_report(loaded.cluster)


def mirror_script(config_path: Path, registry: str) -> str:
    """``kgen images --mirror-script``: a bash script of ``skopeo copy`` lines that fills ``registry``
    with the images the cluster needs."""
    cluster = load_cluster(config_path).cluster
    if (problem := mirror.registry_problem(registry)) is not None:
        raise UserError(f"--mirror-script: {problem}")
    return mirror.mirror_script(cluster, registry)
