"""The per-node ``#cloud-config`` document, built as data and dumped with the one YAML dumper, and
its encoding for OpenStack Nova (65535 bytes of base64 at most; gzip when needed)."""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from typing import Any

from generator import yamldump
from generator.errors import RenderError
from generator.guest import GuestFile
from generator.model import Cluster, Node

# nova/api/openstack/compute/schemas/servers.py: user_data is base64 with maxLength 65535.
NOVA_USER_DATA_LIMIT = 65535


class EncodedUserData:
    """A node's user-data as Nova gets it; plain user-data is kept in the parts it was encoded from
    (see :class:`generator.tree.OutputFile`)."""

    __slots__ = ("gzipped", "parts", "raw_size", "size")
    parts: tuple[bytes, ...]
    gzipped: bool
    raw_size: int
    size: int  # len(content)

    def __init__(self, content: bytes | tuple[bytes, ...], gzipped: bool, raw_size: int) -> None:
        parts = (content,) if isinstance(content, bytes) else content
        for name, value in (("parts", parts), ("gzipped", gzipped), ("raw_size", raw_size)):
            object.__setattr__(self, name, value)
        object.__setattr__(self, "size", sum(map(len, parts)))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r}")  # immutable, as a frozen dataclass

    @property
    def content(self) -> bytes:
        return self.parts[0] if len(self.parts) == 1 else b"".join(self.parts)

    @property
    def base64_size(self) -> int:
        return base64_size(self.size)


def base64_size(n: int) -> int:
    return 4 * ((n + 2) // 3)


def cloud_config(
    cluster: Cluster, node: Node, files: Sequence[GuestFile], runcmd: Sequence[Sequence[str]]
) -> dict[str, Any]:
    admin = {
        "name": cluster.admin_user,
        "gecos": f"kgen admin for cluster {cluster.name}",
        "shell": "/bin/bash",
        "sudo": "ALL=(ALL) NOPASSWD:ALL",
        "lock_passwd": True,
        "ssh_authorized_keys": list(cluster.ssh_authorized_keys),
    }
    return {
        "hostname": node.name,
        "preserve_hostname": False,
        # Map the hostname to 127.0.1.1 so kubeadm's preflight can resolve it.
        "manage_etc_hosts": "localhost",
        "users": [*default_user(cluster), admin],
        "ssh_pwauth": False,
        "disable_root": True,
        "write_files": [
            {"path": f.path, "owner": "root:root", "permissions": f.permissions, "content": f.content} for f in files
        ],
        "runcmd": [list(cmd) for cmd in runcmd],
    }


def default_user(cluster: Cluster) -> list[str]:
    """``["default"]`` when ``openstack.keyName`` is set, else nothing. cloud-init installs the key pair
    Nova hands out only on the image's default user (cloudinit/config/cc_ssh.py: the metadata's public
    keys go to ``ug_util.extract_default(users)``, and to root behind disable_root's "login as NONE"
    prefix when there is none), and an explicit ``users:`` list without ``default`` creates no default
    user. So a key name without it logs nobody in. Without a key name the default user is left out: it
    would be one more passwordless-sudo account (the distro's cloud.cfg default_user) with no key."""
    if cluster.openstack is not None and cluster.openstack.key_name:
        return ["default"]
    return []


def dump(document: dict[str, Any], banner: str) -> str:
    return "".join(dump_parts(document, banner))


def dump_parts(document: dict[str, Any], banner: str) -> list[str]:
    """:func:`dump` in parts, as :func:`generator.yamldump.dump_parts` gives them."""
    parts = yamldump.dump_parts(document)
    parts[0] = "#cloud-config\n" + "".join(f"# {line}\n" for line in banner.splitlines()) + parts[0]
    return parts


def encode(text: str, *, node: str) -> EncodedUserData:
    """Plain when it fits Nova's limit, else gzip (cloud-init decompresses it, cloud-init docs
    "gzip compressed content"); a clear error when even that does not fit."""
    return encode_parts((text.encode("utf-8"),), node=node)


def encode_parts(parts: tuple[bytes, ...], *, node: str) -> EncodedUserData:
    """:func:`encode` for the UTF-8 text given in parts; plain user-data keeps them."""
    size = sum(map(len, parts))
    if base64_size(size) <= NOVA_USER_DATA_LIMIT:
        return EncodedUserData(parts, gzipped=False, raw_size=size)
    raw = b"".join(parts)
    packed = gzip.compress(raw, compresslevel=9, mtime=0)
    if base64_size(len(packed)) <= NOVA_USER_DATA_LIMIT:
        return EncodedUserData(packed, gzipped=True, raw_size=len(raw))
    raise RenderError(
        f"user-data for node {node!r} is {len(raw)} bytes ({base64_size(len(packed))} bytes of base64 even "
        f"gzipped), over OpenStack Nova's limit of {NOVA_USER_DATA_LIMIT} bytes of base64",
        node=node,
    )


def meta_data(cluster: Cluster, node: Node) -> str:
    """NoCloud meta-data, so the node folder can seed a local VM (`kgen vm`, cloud-localds)."""
    return yamldump.dump({"instance-id": f"kgen-{cluster.name}-{node.name}", "local-hostname": node.name})
