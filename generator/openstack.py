"""The OpenStack launch kit under ``DIR/<cluster>/openstack/``, and the optional external OpenStack
cloud provider.

One :class:`Kit` (security groups and their rules, ports, servers, the API load balancer) is computed
from the cluster config and the port table (``data/ports.yaml``), then emitted three ways:
``launch.sh`` and ``teardown.sh`` (the ``openstack`` CLI, idempotent, ``--dry-run``) and ``stack.yaml``
(a Heat template, built as data and dumped with the one YAML dumper). Every command is an argument
list here and reaches the scripts through ``shquote``; positional values follow ``--``, which ends the
options for argparse (the CLI is cliff: the app's ``parse_known_args`` leaves ``--`` and what follows it to
the command's parser), so no value can be read as an option.

This module imports no pipeline stage at module level (``GuestFile`` and ``cloudinit`` are imported
where they are used), so :mod:`generator.model` can import :class:`OpenStack` and :func:`settings`
without an import cycle."""

from __future__ import annotations

import base64
import json
import posixpath
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from generator import __version__, mirrors, templating, versions, yamldump
from generator.resources import load_data
from generator.tree import EXECUTABLE_MODE, PUBLIC_MODE, SECRET_MODE, OutputFile
from generator.versions import Download, ManifestFile

if TYPE_CHECKING:
    from generator.model import Cluster, Node
    from generator.plan import GuestFile
    from generator.render import NodeSummary

KIT_DIR = "openstack"
ANYWHERE = "0.0.0.0/0"
# Neutron takes IP protocol numbers where it has no name; the port table says `ipencap` (firewalld's
# name for IP-in-IP, IP protocol 4).
NEUTRON_PROTOCOLS = {"tcp": "tcp", "udp": "udp", "ipencap": "4"}
# The API load balancer's health monitor and algorithm: the values Cluster API's OpenStack provider
# uses (pkg/cloud/services/loadbalancer/loadbalancer.go), minus max-retries-down, which Heat lacks.
MONITOR = {"delay": 10, "timeout": 5, "max_retries": 5}
LB_ALGORITHM = "ROUND_ROBIN"
STORAGE_CLASS_PATH = "/etc/kgen/openstack/cinder-storageclass.yaml"
CLOUD_PROVIDER_MANIFEST_DIR = "/etc/kgen/openstack/manifests"
# Calico modes that route pod traffic between nodes of one subnet unencapsulated (projectcalico/calico
# calico/networking/vxlan-ipip.md, "Cross subnet": encapsulation only for traffic that crosses a subnet
# boundary; None: never). Neutron's port security drops a packet whose source is not the port's fixed IP or an allowed
# address pair (kubernetes-sigs/kubespray docs/openstack.md), and the kit puts every node in one
# subnet. Allowed address pairs for the pod subnet would pass pod-to-pod traffic, but not traffic a
# node sends to a pod on another node (the API server calling a webhook or metrics-server, a NodePort
# forwarded after SNAT): its source is the node and its port the pod's, which a security group can only
# admit by opening every port between the groups. Always-encapsulated traffic is node-to-node on one
# port (UDP 4789 or IP protocol 4), so on OpenStack the Calico pool always encapsulates.
UNENCAPSULATED_CALICO_MODES = ("VXLANCrossSubnet", "IPIPCrossSubnet", "None")
OPENSTACK_CALICO_ENCAPSULATION = "VXLAN"


# --- settings ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadBalancer:
    enabled: bool
    vip_address: str | None
    subnet: str | None


@dataclass(frozen=True)
class OpenStack:
    """``spec.openstack``, defaults applied (the defaults live in the schema)."""

    image: str
    flavor: str
    network: str
    control_plane_flavor: str | None = None
    subnet: str | None = None
    key_name: str | None = None
    config_drive: bool = False
    floating_ip_network: str | None = None
    security_group_prefix: str | None = None
    ssh_allowed_cidr: str | None = None
    load_balancer: LoadBalancer = field(default_factory=lambda: LoadBalancer(False, None, None))
    cloud_provider: bool = False

    def prefix(self, cluster: Cluster) -> str:
        return self.security_group_prefix or cluster.name

    def flavor_for(self, node: Node) -> str:
        return (self.control_plane_flavor or self.flavor) if node.is_control_plane else self.flavor

    @property
    def load_balancer_subnet(self) -> str | None:
        return self.load_balancer.subnet or self.subnet


def calico_encapsulation(configured: str, *, explicit: bool, openstack: bool) -> str:
    """The Calico pool's encapsulation: the configured one, except that a cluster with an OpenStack kit
    that leaves ``cni.calico.encapsulation`` unset gets :data:`OPENSTACK_CALICO_ENCAPSULATION` instead
    of the schema's cross-subnet default (an explicit unencapsulated mode is a validation error there)."""
    if openstack and not explicit and configured in UNENCAPSULATED_CALICO_MODES:
        return OPENSTACK_CALICO_ENCAPSULATION
    return configured


def settings(spec: Mapping[str, Any]) -> OpenStack | None:
    """``spec.openstack`` from a spec that :func:`generator.validate.with_defaults` filled in; None when
    the config has no ``openstack`` section (no kit is rendered)."""
    raw = spec.get("openstack")
    if raw is None:
        return None
    lb = raw["loadBalancer"]
    return OpenStack(
        image=raw["image"],
        flavor=raw["flavor"],
        network=raw["network"],
        control_plane_flavor=raw.get("controlPlaneFlavor"),
        subnet=raw.get("subnet"),
        key_name=raw.get("keyName"),
        config_drive=bool(raw["configDrive"]),
        floating_ip_network=raw.get("floatingIpNetwork"),
        security_group_prefix=raw.get("securityGroupPrefix"),
        ssh_allowed_cidr=raw.get("sshAllowedCidr"),
        load_balancer=LoadBalancer(
            enabled=bool(lb["enabled"]), vip_address=lb.get("vipAddress"), subnet=lb.get("subnet")
        ),
        cloud_provider=bool(raw["cloudProvider"]["enabled"]),
    )


# --- the kit as data -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """One ingress rule. ``port_min``/``port_max`` are None for a protocol without ports (IP-in-IP)."""

    group: str
    protocol: str
    port_min: int | None
    port_max: int | None
    remote_group: str | None
    remote_ip: str | None
    description: str


@dataclass(frozen=True)
class Port:
    name: str
    node: str
    security_group: str
    fixed_ip: str | None
    allowed_addresses: tuple[str, ...]


@dataclass(frozen=True)
class Server:
    name: str
    role: str
    flavor: str
    port: str
    gzipped_user_data: bool


@dataclass(frozen=True)
class ApiLoadBalancer:
    name: str
    listener: str
    pool: str
    monitor: str
    subnet: str
    vip_address: str | None
    port: int
    members: tuple[tuple[str, str], ...]  # (member name, address)
    floating_ip_network: str | None


@dataclass(frozen=True)
class Kit:
    cluster: str
    prefix: str
    settings: OpenStack
    groups: tuple[tuple[str, str], ...]  # (name, description)
    rules: tuple[Rule, ...]
    ports: tuple[Port, ...]
    servers: tuple[Server, ...]
    load_balancer: ApiLoadBalancer | None


def _port_range(text: str | None) -> tuple[int | None, int | None]:
    if text is None:
        return None, None
    low, _, high = str(text).partition("-")
    return int(low), int(high or low)


def security_groups(cluster: Cluster, kit: OpenStack) -> dict[str, str]:
    """Role -> security group name."""
    prefix = kit.prefix(cluster)
    return {"control-plane": f"{prefix}-control-plane", "worker": f"{prefix}-worker"}


def security_rules(cluster: Cluster, kit: OpenStack) -> list[Rule]:
    """The port table (``data/ports.yaml``) turned into ingress rules: each role's ports on its group,
    the CNI's ports on both, open to the cluster's own nodes (both groups), except the ports marked
    ``from: control-plane`` (etcd, the scheduler, the controller manager), which only the control-plane
    group reaches. Two additions the table cannot say: the API server port from anywhere (clients, and a
    load balancer's health checks, come from outside the node groups), and SSH from ``sshAllowedCidr``
    when set."""
    table = load_data("ports.yaml")
    groups = security_groups(cluster, kit)
    rules: list[Rule] = []
    for role, group in groups.items():
        for row in [*table["roles"][role], *table["cni"][cluster.cni.plugin]]:
            port_min, port_max = _port_range(row.get("port"))
            remotes = [groups[row["from"]]] if "from" in row else list(groups.values())
            for remote in remotes:
                rules.append(
                    Rule(
                        group=group,
                        protocol=NEUTRON_PROTOCOLS[row["protocol"]],
                        port_min=port_min,
                        port_max=port_max,
                        remote_group=remote,
                        remote_ip=None,
                        description=f"{row['purpose']} (kgen)",
                    )
                )
    api = cluster.endpoint_port
    rules.append(
        Rule(groups["control-plane"], "tcp", api, api, None, ANYWHERE, "Kubernetes API server from anywhere (kgen)")
    )
    if kit.ssh_allowed_cidr:
        rules.extend(Rule(group, "tcp", 22, 22, None, kit.ssh_allowed_cidr, "SSH (kgen)") for group in groups.values())
    unique: dict[tuple[Any, ...], Rule] = {}
    for rule in rules:  # Neutron refuses a duplicate rule; the first description wins
        key = (rule.group, rule.protocol, rule.port_min, rule.port_max, rule.remote_group, rule.remote_ip)
        unique.setdefault(key, rule)
    return list(unique.values())


def kit(cluster: Cluster, settings: OpenStack, node_summaries: Sequence[NodeSummary]) -> Kit:
    prefix = settings.prefix(cluster)
    groups = security_groups(cluster, settings)
    gzipped = {s.name: s.gzipped for s in node_summaries}
    # kube-vip moves the endpoint IP between control-plane nodes; Neutron's port security drops traffic
    # for an address a port does not own unless it is an allowed address pair.
    vip_pairs = (cluster.endpoint_host,) if cluster.load_balancer == "kube-vip" else ()
    ports = tuple(
        Port(
            name=f"{prefix}-{node.name}",
            node=node.name,
            security_group=groups[node.role],
            fixed_ip=node.ip,
            allowed_addresses=vip_pairs if node.is_control_plane else (),
        )
        for node in cluster.nodes
    )
    servers = tuple(
        Server(
            name=node.name,
            role=node.role,
            flavor=settings.flavor_for(node),
            port=f"{prefix}-{node.name}",
            gzipped_user_data=gzipped.get(node.name, False),
        )
        for node in cluster.nodes
    )
    lb: ApiLoadBalancer | None = None
    if settings.load_balancer.enabled:
        subnet = settings.load_balancer_subnet
        if subnet is None:  # validate_openstack reports it; keep the model honest
            raise ValueError("openstack.loadBalancer needs a subnet")
        lb = ApiLoadBalancer(
            name=f"{prefix}-api",
            listener=f"{prefix}-api-{cluster.endpoint_port}",
            pool=f"{prefix}-api-pool",
            monitor=f"{prefix}-api-monitor",
            subnet=subnet,
            vip_address=settings.load_balancer.vip_address,
            port=cluster.endpoint_port,
            members=tuple((f"{prefix}-{n.name}", n.ip) for n in cluster.control_planes if n.ip),
            floating_ip_network=settings.floating_ip_network,
        )
    return Kit(
        cluster=cluster.name,
        prefix=prefix,
        settings=settings,
        groups=(
            (groups["control-plane"], f"kgen: control-plane nodes of cluster {cluster.name}"),
            (groups["worker"], f"kgen: worker nodes of cluster {cluster.name}"),
        ),
        rules=tuple(security_rules(cluster, settings)),
        ports=ports,
        servers=servers,
        load_balancer=lb,
    )


# --- openstack CLI commands ------------------------------------------------------------------------------
# Argument lists, shared by launch.sh, teardown.sh and the tests (which replace `openstack` with a recorder).


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
    argv += ["--port", server.port, "--user-data", f"nodes/{server.name}/user-data"]
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
                *("--protocol", "TCP", "--protocol-port", str(lb.port), "--wait", "--", lb.name),
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


# --- files ---------------------------------------------------------------------------------------------


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


def heat_user_data_path(server: Server) -> str:
    """Where stack.yaml's get_file finds the node's user-data, relative to the openstack/ folder."""
    if server.gzipped_user_data:
        return f"heat/{server.name}.user-data.mime"
    return f"../nodes/{server.name}/user-data"


def gzip_as_mime(content: bytes, node: str) -> bytes:
    """A gzipped user-data wrapped as one base64 MIME part, for Heat. The heat client reads get_file
    content as text and base64-encodes anything that is not UTF-8 (python-heatclient
    ``read_url_content``), which would hand cloud-init base64 instead of gzip. cloud-init unpacks a
    part of type application/gzip (cloudinit/user_data.py, DECOMP_TYPES)."""
    from generator import cloudinit  # noqa: PLC0415 - see the module docstring
    from generator.errors import RenderError  # noqa: PLC0415

    boundary = "kgen-user-data"
    body = "\n".join(textwrap.wrap(base64.b64encode(content).decode("ascii"), 76))
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


def _param(name: str) -> dict[str, str]:
    return {"get_param": name}


def _resource(name: str) -> dict[str, str]:
    return {"get_resource": name}


def _heat_parameters(s: OpenStack) -> dict[str, Any]:
    parameters: dict[str, Any] = {
        "image": {"type": "string", "default": s.image, "description": "Glance image for every node"},
        "flavor": {"type": "string", "default": s.flavor, "description": "Flavor for worker nodes"},
        "control_plane_flavor": {
            "type": "string",
            "default": s.control_plane_flavor or s.flavor,
            "description": "Flavor for control-plane nodes",
        },
        "network": {"type": "string", "default": s.network, "description": "Network for every node's port"},
    }
    if s.key_name:
        parameters["key_name"] = {"type": "string", "default": s.key_name, "description": "Nova key pair"}
    if s.subnet:
        parameters["subnet"] = {"type": "string", "default": s.subnet, "description": "Subnet of the fixed IPs"}
    return parameters


def _heat_rule(rule: Rule, group_ids: Mapping[str, str]) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "security_group": _resource(group_ids[rule.group]),
        "direction": "ingress",
        "ethertype": "IPv4",
        "protocol": rule.protocol,
    }
    if rule.port_min is not None:
        properties["port_range_min"] = rule.port_min
        properties["port_range_max"] = rule.port_max
    if rule.remote_group is not None:
        properties["remote_group"] = _resource(group_ids[rule.remote_group])
    if rule.remote_ip is not None:
        properties["remote_ip_prefix"] = rule.remote_ip
    properties["description"] = rule.description
    return {"type": "OS::Neutron::SecurityGroupRule", "properties": properties}


def _heat_load_balancer(lb: ApiLoadBalancer, prefix: str) -> dict[str, Any]:
    lb_properties: dict[str, Any] = {"name": lb.name, "vip_subnet": lb.subnet, "description": "kgen: Kubernetes API"}
    if lb.vip_address:
        lb_properties["vip_address"] = lb.vip_address
    resources: dict[str, Any] = {
        "api-loadbalancer": {"type": "OS::Octavia::LoadBalancer", "properties": lb_properties},
        "api-listener": {
            "type": "OS::Octavia::Listener",
            "properties": {
                "name": lb.listener,
                "loadbalancer": _resource("api-loadbalancer"),
                "protocol": "TCP",
                "protocol_port": lb.port,
            },
        },
        "api-pool": {
            "type": "OS::Octavia::Pool",
            "properties": {
                "name": lb.pool,
                "listener": _resource("api-listener"),
                "lb_algorithm": LB_ALGORITHM,
                "protocol": "TCP",
            },
        },
        "api-monitor": {
            "type": "OS::Octavia::HealthMonitor",
            "properties": {"pool": _resource("api-pool"), "type": "TCP", **MONITOR},
        },
    }
    for name, address in lb.members:
        resources[f"api-member-{name.removeprefix(prefix + '-')}"] = {
            "type": "OS::Octavia::PoolMember",
            "properties": {
                "pool": _resource("api-pool"),
                "address": address,
                "protocol_port": lb.port,
                "subnet": lb.subnet,
            },
        }
    if lb.floating_ip_network:
        resources["api-floating-ip"] = {
            "type": "OS::Neutron::FloatingIP",
            "properties": {
                "floating_network": lb.floating_ip_network,
                "port_id": {"get_attr": ["api-loadbalancer", "vip_port_id"]},
            },
        }
    return resources


def _heat_port(port: Port, s: OpenStack, group_ids: Mapping[str, str]) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "name": port.name,
        "network": _param("network"),
        "security_groups": [_resource(group_ids[port.security_group])],
    }
    if port.fixed_ip is not None:
        fixed: dict[str, Any] = {"ip_address": port.fixed_ip}
        if s.subnet:
            fixed = {"subnet": _param("subnet"), **fixed}
        properties["fixed_ips"] = [fixed]
    if port.allowed_addresses:
        properties["allowed_address_pairs"] = [{"ip_address": a} for a in port.allowed_addresses]
    return {"type": "OS::Neutron::Port", "properties": properties}


def _heat_server(server: Server, kit: Kit) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "name": server.name,
        "image": _param("image"),
        "flavor": _param("control_plane_flavor" if server.role == "control-plane" else "flavor"),
    }
    if kit.settings.key_name:
        properties["key_name"] = _param("key_name")
    properties |= {
        "config_drive": kit.settings.config_drive,
        "networks": [{"port": _resource(f"port-{server.name}")}],
        "user_data_format": "RAW",
        "user_data": {"get_file": heat_user_data_path(server)},
        "metadata": {"kgen-cluster": kit.cluster, "kgen-role": server.role},
    }
    return {"type": "OS::Nova::Server", "properties": properties}


def _heat_outputs(lb: ApiLoadBalancer | None) -> dict[str, Any]:
    if lb is None:
        return {}
    outputs: dict[str, Any] = {
        "api_vip_address": {
            "description": "The API load balancer's VIP: controlPlane.endpoint must reach it",
            "value": {"get_attr": ["api-loadbalancer", "vip_address"]},
        }
    }
    if lb.floating_ip_network:
        outputs["api_floating_ip"] = {
            "description": "The floating IP of the API load balancer",
            "value": {"get_attr": ["api-floating-ip", "floating_ip_address"]},
        }
    return outputs


def heat_template(kit: Kit) -> dict[str, Any]:
    """A HOT template for the same resources launch.sh creates. Built as data; ``yamldump`` writes it."""
    group_ids = {name: f"secgroup-{name.removeprefix(kit.prefix + '-')}" for name, _ in kit.groups}
    resources: dict[str, Any] = {
        group_ids[name]: {"type": "OS::Neutron::SecurityGroup", "properties": {"name": name, "description": text}}
        for name, text in kit.groups
    }
    # Separate rule resources: the two groups refer to each other, which inline rules cannot express.
    resources |= {f"rule-{i:03d}": _heat_rule(rule, group_ids) for i, rule in enumerate(kit.rules, start=1)}
    if kit.load_balancer is not None:
        resources |= _heat_load_balancer(kit.load_balancer, kit.prefix)
    resources |= {f"port-{p.node}": _heat_port(p, kit.settings, group_ids) for p in kit.ports}
    resources |= {f"server-{s.name}": _heat_server(s, kit) for s in kit.servers}
    what = "servers, ports, security groups" + (" and the API load balancer" if kit.load_balancer else "")
    template: dict[str, Any] = {
        "heat_template_version": "2018-08-31",
        "description": (
            f"kgen {__version__}: {what} of Kubernetes cluster {kit.cluster}. "
            f"Create it from this folder: openstack stack create -t stack.yaml {kit.prefix}"
        ),
        "parameters": _heat_parameters(kit.settings),
        "resources": resources,
    }
    outputs = _heat_outputs(kit.load_balancer)
    if outputs:
        template["outputs"] = outputs
    return template


def openstack_files(
    cluster: Cluster,
    settings: OpenStack,
    node_summaries: Sequence[NodeSummary],
    rendered: Mapping[str, OutputFile],
) -> dict[str, OutputFile]:
    """The kit's files, keyed by path under ``DIR/<cluster>/``. Pure: the same inputs give the same bytes.
    ``rendered`` is the tree rendered so far; the user-data of gzipped nodes is read from it."""
    the_kit = kit(cluster, settings, node_summaries)
    files = {
        f"{KIT_DIR}/launch.sh": OutputFile(launch_script(the_kit).encode(), EXECUTABLE_MODE),
        f"{KIT_DIR}/teardown.sh": OutputFile(teardown_script(the_kit).encode(), EXECUTABLE_MODE),
        f"{KIT_DIR}/stack.yaml": OutputFile(yamldump.dump(heat_template(the_kit)).encode(), PUBLIC_MODE),
    }
    # hook (issue 14, upgrades): replace.sh NODE, the image roll for workers.
    from generator.openstack_replace import replace_script  # noqa: PLC0415 - openstack_replace imports this module

    files[f"{KIT_DIR}/replace.sh"] = OutputFile(replace_script(the_kit).encode(), EXECUTABLE_MODE)
    for server in the_kit.servers:
        if server.gzipped_user_data:
            content = rendered[f"nodes/{server.name}/user-data"].content
            # The wrapper holds the same secrets as the user-data itself.
            files[f"{KIT_DIR}/{heat_user_data_path(server)}"] = OutputFile(
                gzip_as_mime(content, server.name), SECRET_MODE
            )
    if settings.cloud_provider:
        files[f"{KIT_DIR}/cloud.conf.template"] = OutputFile(
            cloud_conf_template(cluster, settings).encode(), PUBLIC_MODE
        )
    return dict(sorted(files.items()))


# --- the external cloud provider -------------------------------------------------------------------------


@dataclass(frozen=True)
class CloudProviderRelease:
    release: str
    manifests: tuple[Download, ...]  # pinned, in apply order
    images: tuple[tuple[str, str, str], ...]  # (workload, container, image with tag)
    sidecar_images: tuple[str, ...]  # every other image the release's manifests name
    always_pulled: tuple[tuple[str, str], ...]  # (workload, container) with imagePullPolicy Always upstream

    def all_images(self) -> tuple[str, ...]:
        """Every image the cloud provider's pods ask for, once each, in table order."""
        return tuple(dict.fromkeys([*(image for _, _, image in self.images), *self.sidecar_images]))


def cloud_provider_release(cluster: Cluster) -> CloudProviderRelease:
    entry = versions.table()["openstackCloudProvider"]
    release = str(entry["releases"][cluster.kubernetes.minor])
    base = str(entry["manifestBase"]).format(release=release)
    digests = entry["manifestSha256"][release]
    return CloudProviderRelease(
        release=release,
        manifests=tuple(Download.of({"url": base + path, "sha256": digests[path]}) for path in entry["manifests"]),
        images=tuple((i["workload"], i["container"], f"{i['image']}:{release}") for i in entry["images"]),
        sidecar_images=tuple(str(i) for i in entry["sidecarImages"][release]),
        always_pulled=tuple((str(i["workload"]), str(i["container"])) for i in entry["alwaysPulled"]),
    )


def if_not_present_patch(container: str) -> str:
    """A strategic-merge patch giving one container of a workload's pod template imagePullPolicy
    IfNotPresent (containers merge by name), so a pre-pulled image is used as it is."""
    patch = {"spec": {"template": {"spec": {"containers": [{"name": container, "imagePullPolicy": "IfNotPresent"}]}}}}
    return json.dumps(patch, separators=(",", ":"), sort_keys=True)


def kubelet_extra_args(settings: OpenStack | None) -> dict[str, str]:
    """Extra kubelet flags for every node's nodeRegistration.kubeletExtraArgs."""
    if settings is None or not settings.cloud_provider:
        return {}
    return {"cloud-provider": "external"}


def storage_class() -> dict[str, Any]:
    """The default StorageClass for Cinder volumes (cinder-csi's provisioner name)."""
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {
            "name": "cinder",
            "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
        },
        "provisioner": "cinder.csi.openstack.org",
        "reclaimPolicy": "Delete",
        "allowVolumeExpansion": True,
        "volumeBindingMode": "WaitForFirstConsumer",
    }


def cloud_provider_guest_files(cluster: Cluster, settings: OpenStack | None, node: Node) -> list[GuestFile]:
    """Files the first control-plane node needs to install the cloud provider. No credentials: those
    reach the cluster only as the cloud-config Secret the admin creates (README)."""
    from generator.plan import GuestFile  # noqa: PLC0415 - see the module docstring

    if settings is None or not settings.cloud_provider or node != cluster.first_control_plane:
        return []
    return [GuestFile(STORAGE_CLASS_PATH, yamldump.dump(storage_class()), "0644")]


def cloud_provider_downloads(cluster: Cluster, settings: OpenStack | None) -> list[ManifestFile]:
    """The release's manifests, which the first control-plane node downloads to files and checks against
    their pinned SHA-256 before it applies them."""
    if settings is None or not settings.cloud_provider:
        return []
    # hook (issue 15): the download mirror serves the same pinned files (file names from the upstream URL)
    manifests = tuple(mirrors.download(cluster.mirrors, d) for d in cloud_provider_release(cluster).manifests)
    names = [f"{i:02d}-{posixpath.basename(d.url)}" for i, d in enumerate(manifests)]
    return [
        ManifestFile(d.url, d.sha256, posixpath.join(CLOUD_PROVIDER_MANIFEST_DIR, name))
        for d, name in zip(manifests, names, strict=True)
    ]


def cloud_provider_kubectl_args(cluster: Cluster, settings: OpenStack | None) -> list[list[str]]:
    """kubectl argument lists (without ``kubectl``) the first control-plane node runs after the CNI:
    the pinned manifests (the files ``cloud_provider_downloads`` fetched and checked), each image pinned
    to the release tag, and the StorageClass."""
    if settings is None or not settings.cloud_provider:
        return []
    release = cloud_provider_release(cluster)
    commands = [["apply", "-f", m.path] for m in cloud_provider_downloads(cluster, settings)]
    commands += [["set", "image", "-n", "kube-system", w, f"{c}={image}"] for w, c, image in release.images]
    commands += [
        ["patch", "-n", "kube-system", w, "--type=strategic", "-p", if_not_present_patch(c)]
        for w, c in release.always_pulled
    ]
    commands.append(["apply", "-f", STORAGE_CLASS_PATH])
    return commands
