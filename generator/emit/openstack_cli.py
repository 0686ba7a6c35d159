"""The ``openstack`` CLI commands launch.sh runs, as argument lists (shared by launch.sh and the tests,
which replace ``openstack`` with a recorder). Positional values follow ``--``, which ends the options for
argparse (the CLI is cliff: the app's ``parse_known_args`` leaves ``--`` and what follows it to the
command's parser), so no value can be read as an option."""

from __future__ import annotations

from generator import layout
from generator.emit.openstack_kit import LB_ALGORITHM, MONITOR, ApiLoadBalancer, Kit, Port, Rule, Server


def rule_create(rule: Rule) -> list[str]:
    argv = ["openstack", "security", "group", "rule", "create", "--ingress", "--ethertype", "IPv4"]
    argv += ["--protocol", rule.protocol]
    if rule.port_min is not None:
        argv += ["--dst-port", f"{rule.port_min}:{rule.port_max}"]
    if rule.remote_group is not None:
        argv += ["--remote-group", rule.remote_group]
    if rule.remote_ip is not None:
        argv += ["--remote-ip", rule.remote_ip]
    return [*argv, "--description", rule.description, "--", rule.group]


def port_create(kit: Kit, port: Port) -> list[str]:
    argv = ["openstack", "port", "create", "--network", kit.settings.network]
    if port.fixed_ip is not None:
        subnet = f"subnet={kit.settings.subnet}," if kit.settings.subnet else ""
        argv += ["--fixed-ip", f"{subnet}ip-address={port.fixed_ip}"]
    for address in port.allowed_addresses:
        argv += ["--allowed-address", f"ip-address={address}"]
    argv += ["--security-group", port.security_group]
    return [*argv, "--description", f"kgen: node {port.node} of cluster {kit.cluster}", "--", port.name]


def server_create(kit: Kit, server: Server) -> list[str]:
    """``--user-data`` is a placeholder path, replaced by the script with the node's file."""
    argv = ["openstack", "server", "create", "--image", kit.settings.image, "--flavor", server.flavor]
    if kit.settings.key_name:
        argv += ["--key-name", kit.settings.key_name]
    if kit.settings.config_drive:
        argv += ["--config-drive", "true"]
    argv += ["--port", server.port, "--user-data", layout.user_data(server.name)]
    argv += ["--property", f"kgen-cluster={kit.cluster}", "--property", f"kgen-role={server.role}"]
    return [*argv, "--", server.name]


def load_balancer_steps(lb: ApiLoadBalancer) -> list[tuple[str, list[str], list[str]]]:
    """(what, show, create) for the load balancer and its parts, in creation order. Every create waits
    until Octavia reports the load balancer ACTIVE again: it refuses changes while one is pending."""
    vip = ["--vip-address", lb.vip_address] if lb.vip_address else []
    lb_create = ["openstack", "loadbalancer", "create", "--name", lb.name, "--vip-subnet-id", lb.subnet, *vip]
    steps = [
        (
            f"load balancer {lb.name}",
            ["openstack", "loadbalancer", "show", "--", lb.name],
            [*lb_create, "--description", "kgen: Kubernetes API", "--wait"],
        ),
        (
            f"listener {lb.listener}",
            ["openstack", "loadbalancer", "listener", "show", "--", lb.listener],
            [
                *("openstack", "loadbalancer", "listener", "create", "--name", lb.listener),
                *("--protocol", "TCP", "--protocol-port", str(lb.port)),
                # python-octaviaclient octaviaclient/osc/v2/listener.py CreateListener: --allowed-cidr,
                # repeatable (Octavia API listener allowed_cidrs)
                *(arg for cidr in lb.allowed_cidrs for arg in ("--allowed-cidr", cidr)),
                *("--wait", "--", lb.name),
            ],
        ),
        (
            f"pool {lb.pool}",
            ["openstack", "loadbalancer", "pool", "show", "--", lb.pool],
            [
                *("openstack", "loadbalancer", "pool", "create", "--name", lb.pool, "--lb-algorithm", LB_ALGORITHM),
                *("--listener", lb.listener, "--protocol", "TCP", "--wait"),
            ],
        ),
        (
            f"health monitor {lb.monitor}",
            ["openstack", "loadbalancer", "healthmonitor", "show", "--", lb.monitor],
            [
                *("openstack", "loadbalancer", "healthmonitor", "create", "--name", lb.monitor, "--type", "TCP"),
                *("--delay", str(MONITOR["delay"]), "--timeout", str(MONITOR["timeout"])),
                *("--max-retries", str(MONITOR["max_retries"]), "--wait", "--", lb.pool),
            ],
        ),
    ]
    for name, address in lb.members:
        steps.append(
            (
                f"pool member {name}",
                ["openstack", "loadbalancer", "member", "show", "--", lb.pool, name],
                [
                    *("openstack", "loadbalancer", "member", "create", "--name", name, "--address", address),
                    *("--protocol-port", str(lb.port), "--subnet-id", lb.subnet, "--wait", "--", lb.pool),
                ],
            )
        )
    return steps
