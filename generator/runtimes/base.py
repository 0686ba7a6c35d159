"""The interface of a container runtime module: its package, and what the configure phase writes for it
(the template piece ``templates/runtimes/<name>/configure.sh.j2`` and the values it needs)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from generator.model import Cluster


@dataclass(frozen=True)
class RuntimeConfig:
    """What the configure phase's template piece gets: its name and its values."""

    template: str
    values: Mapping[str, Any]


@dataclass(frozen=True)
class RuntimePlugin:
    name: str
    package: str  # the package the install phase installs and the self-check looks for
    service: str
    values: Callable[[Cluster], Mapping[str, Any]]

    def configure(self, cluster: Cluster) -> RuntimeConfig:
        return RuntimeConfig(template=f"runtimes/{self.name}/configure.sh.j2", values=self.values(cluster))
