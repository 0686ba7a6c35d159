"""The OpenStack launch kit's ``replace.sh NODE``: the image roll for workers (issue 14). It drains a
worker, deletes its server, and creates a new one from the kit's image (``spec.openstack.image``, a newly
baked golden image) on the node's existing port with the same arguments launch.sh uses."""

from __future__ import annotations

from generator import __version__, templating
from generator.emit.openstack_cli import server_create
from generator.emit.openstack_kit import Kit


def replace_script(kit: Kit) -> str:
    ports = {p.node: p.name for p in kit.ports}
    workers = [(s.name, ports[s.name], server_create(kit, s)) for s in kit.servers if s.role == "worker"]
    control_planes = [s.name for s in kit.servers if s.role != "worker"]
    return templating.render(
        "openstack/replace.sh.j2", kgen_version=__version__, kit=kit, workers=workers, control_planes=control_planes
    )
