"""The OpenStack launch kit under ``DIR/<cluster>/openstack/`` (the emitter; the kit as data is
:mod:`generator.emit.openstack_kit`, the CLI commands :mod:`generator.emit.openstack_cli`, the Heat
template :mod:`generator.emit.heat`).

One :class:`Kit` (security groups and their rules, ports, servers, the API load balancer) is computed
from the cluster config and the port table (``data/ports.yaml`` by role, the CNI row's ``ports``),
then emitted three ways:
``launch.sh`` and ``teardown.sh`` (the ``openstack`` CLI, idempotent, ``--dry-run``) and ``stack.yaml``
(a Heat template, built as data and dumped with the one YAML dumper). Every command is an argument
list here and reaches the scripts through ``shquote``; positional values follow ``--``, which ends the
options for argparse (the CLI is cliff: the app's ``parse_known_args`` leaves ``--`` and what follows it to
the command's parser), so no value can be read as an option.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping

from generator import __version__, layout, templating, yamldump
from generator.emit import cloudinit
from generator.emit.heat import heat_template, heat_user_data_path
from generator.emit.openstack_cli import load_balancer_steps, port_create, rule_create, server_create
from generator.emit.openstack_kit import Kit, kit, security_groups, security_rules
from generator.emit.openstack_replace import replace_script
from generator.errors import RenderError
from generator.model import Cluster, OpenStack
from generator.tree import EXECUTABLE_MODE, PUBLIC_MODE, SECRET_MODE, OutputFile

KIT_DIR = layout.OPENSTACK_DIR

__all__ = [
    "KIT_DIR",
    "Kit",
    "cloud_conf_template",
    "gzip_as_mime",
    "heat_template",
    "heat_user_data_path",
    "kit",
    "launch_script",
    "load_balancer_steps",
    "openstack_files",
    "port_create",
    "rule_create",
    "security_groups",
    "security_rules",
    "server_create",
    "teardown_script",
]


def launch_script(kit: Kit) -> str:
    return templating.render(
        "openstack/launch.sh.j2",
        kgen_version=__version__,
        kit=kit,
        group_steps=[
            (
                name,
                ["openstack", "security", "group", "show", "--", name],
                ["openstack", "security", "group", "create", "--description", description, "--", name],
            )
            for name, description in kit.groups
        ],
        rule_commands=[rule_create(r) for r in kit.rules],
        lb_steps=load_balancer_steps(kit.load_balancer) if kit.load_balancer else [],
        port_steps=[(p.name, ["openstack", "port", "show", "--", p.name], port_create(kit, p)) for p in kit.ports],
        server_commands=[(s.name, server_create(kit, s)) for s in kit.servers],
    )


def teardown_script(kit: Kit) -> str:
    return templating.render("openstack/teardown.sh.j2", kgen_version=__version__, kit=kit)


def cloud_conf_template(cluster: Cluster, kit: OpenStack) -> str:
    return templating.render("openstack/cloud.conf.j2", kgen_version=__version__, cluster=cluster, kit=kit)


def gzip_as_mime(content: bytes, node: str) -> bytes:
    """A gzipped user-data wrapped as one base64 MIME part, for Heat. The heat client reads get_file
    content as text and base64-encodes anything that is not UTF-8 (python-heatclient
    ``read_url_content``), which would hand cloud-init base64 instead of gzip. cloud-init unpacks a
    part of type application/gzip (cloudinit/user_data.py, DECOMP_TYPES)."""
    boundary = "kgen-user-data"
    # base64 in lines of 76 characters (RFC 2045), without a line break after the last one.
    body = base64.encodebytes(content).decode("ascii").rstrip("\n")
    text = (
        f'Content-Type: multipart/mixed; boundary="{boundary}"\n'
        "MIME-Version: 1.0\n"
        "\n"
        f"--{boundary}\n"
        "Content-Type: application/gzip\n"
        "Content-Transfer-Encoding: base64\n"
        'Content-Disposition: attachment; filename="user-data.gz"\n'
        "\n"
        f"{body}\n"
        f"--{boundary}--\n"
    ).encode("ascii")
    size = cloudinit.base64_size(len(text))
    if size > cloudinit.NOVA_USER_DATA_LIMIT:
        raise RenderError(
            f"user-data for node {node!r} is gzipped; wrapped for Heat it takes {size} bytes of base64, over "
            f"OpenStack Nova's limit of {cloudinit.NOVA_USER_DATA_LIMIT}. launch.sh passes it unwrapped.",
            node=node,
        )
    return text


def openstack_files(
    cluster: Cluster, settings: OpenStack, user_data: Mapping[str, cloudinit.EncodedUserData]
) -> dict[str, OutputFile]:
    """The kit's files, keyed by path under ``DIR/<cluster>/``. Pure: the same inputs give the same bytes.
    ``user_data`` is each node's encoded user-data (the cloud-init emitter's), wrapped for Heat when gzipped."""
    the_kit = kit(cluster, settings, {name: encoded.gzipped for name, encoded in user_data.items()})
    files = {
        f"{KIT_DIR}/launch.sh": OutputFile(launch_script(the_kit).encode(), EXECUTABLE_MODE),
        f"{KIT_DIR}/teardown.sh": OutputFile(teardown_script(the_kit).encode(), EXECUTABLE_MODE),
        f"{KIT_DIR}/stack.yaml": OutputFile(yamldump.dump(heat_template(the_kit)).encode(), PUBLIC_MODE),
        # replace.sh NODE: the image roll for workers (kgen upgrade)
        f"{KIT_DIR}/replace.sh": OutputFile(replace_script(the_kit).encode(), EXECUTABLE_MODE),
    }
    for server in the_kit.servers:
        if server.gzipped_user_data:
            content = user_data[server.name].content
            # The wrapper holds the same secrets as the user-data itself.
            files[f"{KIT_DIR}/{heat_user_data_path(server)}"] = OutputFile(
                gzip_as_mime(content, server.name), SECRET_MODE
            )
    if settings.cloud_provider:
        files[f"{KIT_DIR}/cloud.conf.template"] = OutputFile(
            cloud_conf_template(cluster, settings).encode(), PUBLIC_MODE
        )
    return dict(sorted(files.items()))
