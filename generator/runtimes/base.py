"""The interface of a container runtime module. Everything that differs between runtimes is here or in
the runtime's template folder ``templates/runtimes/<name>/``, whose pieces the family scripts include:

- ``configure.sh.j2``: the configure phase's ``runtime_config()`` (values: :attr:`RuntimePlugin.values`);
- ``install-<family>.sh.j2``: the install phase's sections, selected by ``section``: ``variables``,
  ``repositories`` (inside ``add_repositories()``), ``packages`` (the install line's runtime part, Debian)
  or ``install`` (RHEL), ``hold`` (Debian);
- ``upgrade-<family>.sh.j2``: the upgrade kit's sections: ``variables``, ``functions``, ``kubelet`` (the
  calls of the kubelet phase before the pause image);
- ``pause.sh.j2``: the upgrade kit's ``update_pause_image()`` when the pause image changes;
- ``self-check.sh.j2``: the golden image self-check's sections ``version`` and ``config`` (every
  runtime's, one shell branch each, chosen on the node by ``RUNTIME``).

Its label, systemd service, CRI socket, version rule and per-minor repositories are its row of the
version table (``runtimes.<name>``), which the model reads."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from generator.model import Cluster
from generator.records import record
from generator.registries import NodeFile
from generator.settings import Registries
from generator.tables import Family

# The pieces every runtime folder holds: one each, and the per-family ones once per OS family.
PIECES = ("configure.sh.j2", "pause.sh.j2", "self-check.sh.j2")
FAMILY_PIECES = ("install-{family}.sh.j2", "upgrade-{family}.sh.j2")


@record
class RuntimeConfig:
    """What the configure phase's template piece gets: its name and its values, and whether the
    registry files step calls the piece's ``registry_credentials MAJOR`` (see
    :attr:`RuntimePlugin.credentials_function`)."""

    template: str
    values: Mapping[str, Any]
    credentials_function: bool


@record
class RuntimePlugin:
    """A container runtime: its package, values and repository."""

    name: str
    package: str  # the package the install phase installs and the self-check looks for
    values: Callable[[Cluster], Mapping[str, Any]]  # what its configure and pause pieces write
    # (spec.mirrors.packages name, upstream URL, key URL) of its package repository for "deb" or "rpm"
    repository: Callable[[Cluster, str], tuple[str, str, str]]
    # the files spec.registries and spec.trustedCAs become for this runtime (generator/registries.py)
    registry_files: Callable[[Registries, Family], list[NodeFile]]
    # True when spec.registries.credentialsFile is turned into the runtime's own form on the node by a
    # ``registry_credentials MAJOR`` function its configure piece defines (containerd)
    credentials_function: bool = False

    def configure(self, cluster: Cluster) -> RuntimeConfig:
        return RuntimeConfig(
            template=self.piece("configure.sh.j2"),
            values=self.values(cluster),
            credentials_function=self.credentials_function,
        )

    def piece(self, file: str) -> str:
        """A template piece of this runtime, as the template loader names it."""
        return f"runtimes/{self.name}/{file}"


def pieces(name: str, families: tuple[str, ...]) -> list[str]:
    """Every template piece the runtime ``name`` must have for the OS ``families``."""
    out = [f"runtimes/{name}/{p}" for p in PIECES]
    out += [f"runtimes/{name}/" + p.format(family=f) for f in families for p in FAMILY_PIECES]
    return out
