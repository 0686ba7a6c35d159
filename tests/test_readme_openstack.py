"""README check: every `openstack server create` / `openstack port create` the README shows uses only
options those commands have, and the quickstart points to the kit's launch.sh before the first one.

The option lists are taken from python-openstackclient's source (tag 10.2.1-32-g5b7da4b49, commit
5b7da4b49fd4cbc69bdfd86438dcc14e9894219a): openstackclient/compute/v2/server.py, CreateServer.get_parser,
and the --nic keys of NICAction there (net-id, port-id, v4-fixed-ip, v6-fixed-ip, tag, auto, none);
openstackclient/network/v2/port.py, CreatePort.get_parser and _add_updatable_args (plus the --tag/--no-tag
and --project-domain options its shared helpers add). `--port-fixed-ip` is in neither."""

from __future__ import annotations

import re
import shlex

from tests.conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")

SERVER_CREATE = frozenset(
    [
        "--auto-network",
        "--availability-zone",
        "--block-device",
        "--block-device-mapping",
        "--boot-from-volume",
        "--config-drive",
        "--delete-on-termination",
        "--description",
        "--ephemeral",
        "--file",
        "--flavor",
        "--hint",
        "--host",
        "--hostname",
        "--hypervisor-hostname",
        "--image",
        "--image-property",
        "--key-name",
        "--max",
        "--min",
        "--network",
        "--nic",
        "--no-config-drive",
        "--no-network",
        "--no-security-group",
        "--password",
        "--port",
        "--property",
        "--security-group",
        "--server-group",
        "--snapshot",
        "--swap",
        "--tag",
        "--trusted-image-cert",
        "--use-config-drive",
        "--user-data",
        "--volume",
        "--wait",
    ]
)
NIC_KEYS = frozenset({"net-id", "port-id", "v4-fixed-ip", "v6-fixed-ip", "tag", "auto", "none"})
PORT_CREATE = frozenset(
    [
        "--allowed-address",
        "--binding-profile",
        "--description",
        "--device",
        "--device-owner",
        "--device-profile",
        "--disable",
        "--disable-port-security",
        "--disable-uplink-status-propagation",
        "--dns-domain",
        "--dns-name",
        "--enable",
        "--enable-port-security",
        "--enable-uplink-status-propagation",
        "--extra-dhcp-option",
        "--fixed-ip",
        "--hardware-offload-type",
        "--hint",
        "--host",
        "--mac-address",
        "--network",
        "--no-fixed-ip",
        "--no-security-group",
        "--not-trusted",
        "--numa-policy-legacy",
        "--numa-policy-preferred",
        "--numa-policy-required",
        "--numa-policy-socket",
        "--project",
        "--project-domain",
        "--pvlan-community",
        "--pvlan-type",
        "--qos-policy",
        "--security-group",
        "--trusted",
        "--vnic-type",
        "--tag",
        "--no-tag",
    ]
)
COMMANDS = {"server create": SERVER_CREATE, "port create": PORT_CREATE}


def _commands() -> list[tuple[str, list[str]]]:
    """Every `openstack server|port create ...` in the README (code blocks with their continuation
    lines joined, and inline code), as (subcommand, words)."""
    text = README.replace("\\\n", " ")
    found: list[tuple[str, list[str]]] = []
    for match in re.finditer(r"openstack (server create|port create)([^\n`]*)", text):
        words = shlex.split(match.group(2).split("#", 1)[0])
        found.append((match.group(1), words))
    return found


def test_openstack_create_lines_use_real_options() -> None:
    commands = _commands()
    assert sum(1 for sub, _ in commands if sub == "server create") >= 2
    for sub, words in commands:
        for index, word in enumerate(words):
            if word.startswith("--"):
                option = word.split("=", 1)[0]
                assert option in COMMANDS[sub], f"openstack {sub} has no option {option}: {' '.join(words)}"
            if word == "--nic":
                keys = {part.split("=", 1)[0] for part in words[index + 1].split(",")}
                assert keys <= NIC_KEYS, f"--nic keys {sorted(keys - NIC_KEYS)} unknown: {' '.join(words)}"


def test_quickstart_points_to_launch_sh_first() -> None:
    section = README[README.index("## Quickstart on OpenStack") :]
    assert section.index("launch.sh") < section.index("openstack server create")
    assert "(#launching-on-openstack)" in section
    assert "## Launching on OpenStack" in README
