"""``openstack/stack.yaml``: a Heat (HOT) template for the same resources launch.sh creates, built as
data; :mod:`generator.yamldump` writes it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from generator import __version__, layout
from generator.emit.openstack_kit import LB_ALGORITHM, MONITOR, ApiLoadBalancer, Kit, Port, Rule, Server
from generator.model import OpenStack


def heat_user_data_path(server: Server) -> str:
    """Where stack.yaml's get_file finds the node's user-data, relative to the openstack/ folder."""
    if server.gzipped_user_data:
        return f"heat/{server.name}.user-data.mime"
    return f"../{layout.user_data(server.name)}"


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
                # heat/engine/resources/openstack/octavia/listener.py: allowed_cidrs, since Heat 14.0.0
                **({"allowed_cidrs": list(lb.allowed_cidrs)} if lb.allowed_cidrs else {}),
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
