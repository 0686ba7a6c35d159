"""The settings of the add-ons (etcd backups, certificate renewal, registry mirrors and trusted CAs) as
typed values, built from the normalized spec (defaults filled in). A part of the model
(:class:`generator.model.Cluster` holds them), kept apart so each stays small; the feature modules
render from them."""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from typing import Any

from generator import guest
from generator.records import record

# Where the upstream registry serves when it is not https://<name> (containerd docs/hosts.md, "server").
UPSTREAM_SERVER = {"docker.io": "https://registry-1.docker.io"}
# Where a mirror's own CA goes on the node.
REGISTRY_CA_DIR = guest.REGISTRY_CA_DIR


# Where rclone reads the remote's credentials on a node unless spec.etcdBackup.remote.rcloneConfig says.
DEFAULT_RCLONE_CONFIG = "/etc/kgen/rclone.conf"


@record
class EtcdRemote:
    """``spec.etcdBackup.remote``: where rclone copies each snapshot, and the root-only config file with
    the remote's credentials (on the node; kgen never reads or writes it)."""

    target: str  # "<remote>:<container or bucket>[/folder...]", no trailing slash
    rclone_config: str = DEFAULT_RCLONE_CONFIG


@record
class EtcdBackup:
    """``spec.etcdBackup``, defaults applied (the defaults live in the schema)."""

    enabled: bool
    schedule: str  # a systemd OnCalendar expression
    directory: str
    keep: int
    remote: EtcdRemote | None = None


def etcd_backup_settings(spec: Mapping[str, Any]) -> EtcdBackup:
    """``spec.etcdBackup`` from a normalized spec (defaults filled in)."""
    raw = spec["etcdBackup"]
    remote = raw.get("remote")
    return EtcdBackup(
        enabled=bool(raw["enabled"]),
        schedule=str(raw["schedule"]),
        directory=posixpath.normpath(str(raw["directory"])),
        keep=int(raw["keep"]),
        remote=(
            EtcdRemote(
                target=str(remote["target"]),
                rclone_config=posixpath.normpath(str(remote.get("rcloneConfig", DEFAULT_RCLONE_CONFIG))),
            )
            if isinstance(remote, Mapping)
            else None
        ),
    )


@record
class CertificateRenewal:
    """``spec.certificates``, defaults applied (the defaults live in the schema)."""

    auto_renew: bool
    renew_before_days: int
    schedule: str  # a systemd OnCalendar expression


DEFAULT_RENEWAL = CertificateRenewal(auto_renew=True, renew_before_days=30, schedule="*-*-* 03:30:00")


def certificate_renewal_settings(spec: Mapping[str, Any]) -> CertificateRenewal:
    """``spec.certificates`` from a normalized spec (defaults filled in)."""
    raw = spec["certificates"]
    return CertificateRenewal(
        auto_renew=bool(raw["autoRenew"]),
        renew_before_days=int(raw["renewBeforeDays"]),
        schedule=str(raw["schedule"]),
    )


@record
class Mirror:
    """A registry mirror for one upstream registry (spec.registries.mirrors)."""

    registry: str  # the upstream name as in image references: docker.io, registry.k8s.io, ...
    endpoints: tuple[str, ...]  # tried in order
    ca: str | None  # PEM
    skip_verify: bool

    @property
    def server(self) -> str:
        return UPSTREAM_SERVER.get(self.registry, f"https://{self.registry}")

    @property
    def ca_path(self) -> str:
        return f"{REGISTRY_CA_DIR}/{self.registry}/ca.crt"


@record
class Registries:
    """Registry mirrors, the credentials file and the trusted CAs (spec.registries)."""

    mirrors: tuple[Mirror, ...] = ()
    credentials_file: str | None = None
    trusted_cas: tuple[str, ...] = ()  # PEM, in config order

    @property
    def active(self) -> bool:
        return bool(self.mirrors or self.trusted_cas or self.credentials_file)


NO_REGISTRIES = Registries()


def registries_settings(spec: Mapping[str, Any]) -> Registries:
    raw = spec.get("registries") or {}
    mirrors = tuple(
        Mirror(
            registry=name,
            endpoints=tuple(m["endpoints"]),
            ca=m.get("ca"),
            skip_verify=bool(m.get("skipVerify", False)),
        )
        for name, m in sorted((raw.get("mirrors") or {}).items())
    )
    return Registries(
        mirrors=mirrors,
        credentials_file=raw.get("credentialsFile"),
        trusted_cas=tuple(spec.get("trustedCAs") or ()),
    )
