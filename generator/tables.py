"""The data tables that are not version facts: the OS table (``data/os.yaml``), the port table
(``data/ports.yaml`` by role plus the CNI row's ``ports``, merged per role once here) and the Packer
plugin pins (``versions.yaml`` ``packer``). Each row is parsed into a typed value once."""

from __future__ import annotations

from functools import cache
from typing import Any, Literal

from generator.records import record
from generator.resources import load_data
from generator.versions import table as version_table

Family = Literal["debian", "rhel"]


@record
class BaseImage:
    """What the bake starts from: the Glance image name users usually have (an example for the
    ``*.pkrvars.hcl``), the cloud image's default user, and the upstream cloud image for qemu."""

    glance_name_example: str
    ssh_username: str
    qemu_url: str
    qemu_checksum: str
    os_distro: str  # the Glance os_distro property
    os_version: str


@record
class OsRelease:
    """One row of the OS table. Both package families get the same steps; only the package commands
    differ."""

    name: str
    family: Family
    docker_distro: str  # the path under download.docker.com/linux/
    codename: str  # the apt suite, or the RHEL major
    base_image: BaseImage


@cache
def os_table() -> dict[str, OsRelease]:
    data: dict[str, Any] = load_data("os.yaml")
    out: dict[str, OsRelease] = {}
    for name, row in data["releases"].items():
        base = row["baseImage"]
        out[name] = OsRelease(
            name=name,
            family=row["family"],
            docker_distro=str(row["dockerDistro"]),
            codename=str(row["codename"]),
            base_image=BaseImage(
                glance_name_example=str(base["glanceNameExample"]),
                ssh_username=str(row["sshUser"]),
                qemu_url=str(base["qemuUrl"]),
                qemu_checksum=str(base["qemuChecksum"]),
                os_distro=str(base["osDistro"]),
                os_version=str(base["osVersion"]),
            ),
        )
    return out


def os_release(name: str) -> OsRelease:
    return os_table()[name]


@record
class PackerPins:
    """The Packer version kgen requires and the plugins it pins."""

    required_version: tuple[int, ...]
    plugins: tuple[tuple[str, str, str], ...]  # (name, version constraint, source)


@cache
def packer_pins() -> PackerPins:
    entry = version_table()["packer"]
    return PackerPins(
        required_version=tuple(int(p) for p in str(entry["requiredVersion"]).split(".")),
        plugins=tuple((name, str(p["version"]), str(p["source"])) for name, p in entry["plugins"].items()),
    )


PortRow = dict[str, str]
ROLES = ("control-plane", "worker")


def cni_ports(plugin: str) -> tuple[PortRow, ...]:
    """The ports a CNI's own traffic needs on every node (its row's ``ports`` in ``versions.yaml``)."""
    row = load_data("versions.yaml")["cni"].get(plugin, {})
    return tuple(row.get("ports", ()))


@cache
def ports_by_role(plugin: str) -> dict[str, tuple[PortRow, ...]]:
    """The port table merged once: each role's own rows, then the CNI's. The configure phase's firewall
    and the OpenStack kit's security groups both read this."""
    roles = load_data("ports.yaml")["roles"]
    return {role: (*roles[role], *cni_ports(plugin)) for role in ROLES}
