"""The OpenStack launch kit as data: one :class:`Kit` (security groups and their rules, ports, servers,
the API load balancer) computed from the cluster and the merged port table (:func:`generator.tables.ports_by_role`).
:mod:`generator.emit.openstack` emits it as ``launch.sh``, ``teardown.sh`` and ``stack.yaml``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from generator.model import Cluster, OpenStack
from generator.records import record
from generator.tables import ports_by_role

KIT_DIR = "openstack"
ANYWHERE = "0.0.0.0/0"
# Neutron takes IP protocol numbers where it has no name; the port table says `ipencap` (firewalld's
# name for IP-in-IP, IP protocol 4).
NEUTRON_PROTOCOLS = {"tcp": "tcp", "udp": "udp", "ipencap": "4"}
# The API load balancer's health monitor and algorithm: the values Cluster API's OpenStack provider
# uses (pkg/cloud/services/loadbalancer/loadbalancer.go), minus max-retries-down, which Heat lacks.
MONITOR = {"delay": 10, "timeout": 5, "max_retries": 5}
LB_ALGORITHM = "ROUND_ROBIN"


@record
class Rule:
    """One ingress rule. ``port_min``/``port_max`` are None for a protocol without ports (IP-in-IP)."""

    group: str
    protocol: str
    port_min: int | None
    port_max: int | None
    remote_group: str | None
    remote_ip: str | None
    description: str


@record
class Port:
    name: str
    node: str
    security_group: str
    fixed_ip: str | None
    allowed_addresses: tuple[str, ...]


@record
class Server:
    name: str
    role: str
    flavor: str
    port: str
    gzipped_user_data: bool


@record
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
    allowed_cidrs: tuple[str, ...] = ()  # the listener's allowed_cidrs; empty: any source


@record
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


def api_sources(kit: OpenStack) -> tuple[str, ...]:
    """Who may reach the API port from outside the node groups: ``openstack.apiAllowedCidrs``, and with
    the load balancer also the node subnet (Octavia's amphorae forward from there, and the nodes reach
    the API through the VIP, which the listener's allowed CIDRs also filter); () when unrestricted."""
    cidrs = list(kit.api_allowed_cidrs)
    if cidrs and kit.load_balancer.enabled and kit.node_subnet and kit.node_subnet not in cidrs:
        cidrs.append(kit.node_subnet)
    return tuple(cidrs)


def security_rules(cluster: Cluster, kit: OpenStack) -> list[Rule]:
    """The port table (``data/ports.yaml`` by role, the CNI row's ``ports``) turned into ingress rules:
    each role's ports on its group,
    the CNI's ports on both, open to the cluster's own nodes (both groups), except the ports marked
    ``from: control-plane`` (etcd, the scheduler, the controller manager), which only the control-plane
    group reaches. Two additions the table cannot say: the API server port from :func:`api_sources`, or
    anywhere when unrestricted (clients, and a load balancer's health checks, come from outside the node
    groups), and SSH from ``sshAllowedCidr``
    when set."""
    merged = ports_by_role(cluster.cni.plugin)
    groups = security_groups(cluster, kit)
    rules: list[Rule] = []
    for role, group in groups.items():
        for row in merged[role]:
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
    for cidr in api_sources(kit) or (ANYWHERE,):
        where = "anywhere" if cidr == ANYWHERE else cidr
        rules.append(
            Rule(groups["control-plane"], "tcp", api, api, None, cidr, f"Kubernetes API server from {where} (kgen)")
        )
    if kit.ssh_allowed_cidr:
        rules.extend(Rule(group, "tcp", 22, 22, None, kit.ssh_allowed_cidr, "SSH (kgen)") for group in groups.values())
    unique: dict[tuple[Any, ...], Rule] = {}
    for rule in rules:  # Neutron refuses a duplicate rule; the first description wins
        key = (rule.group, rule.protocol, rule.port_min, rule.port_max, rule.remote_group, rule.remote_ip)
        unique.setdefault(key, rule)
    return list(unique.values())


def kit(cluster: Cluster, settings: OpenStack, gzipped: Mapping[str, bool]) -> Kit:
    """``gzipped``: node name -> whether its user-data is gzipped (the cloud-init emitter decides)."""
    prefix = settings.prefix(cluster)
    groups = security_groups(cluster, settings)
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
            allowed_cidrs=api_sources(settings),
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
