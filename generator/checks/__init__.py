"""The semantic checks: the rules a schema cannot express, one small module per concern. Each check
takes the normalized config (:class:`generator.normalize.Normalized`), reads it defensively (the schema
may already have reported a wrong type) and yields problems at the key paths they concern.

Adding a check: write it in the module of its concern (or a new one) and list it in :data:`CHECKS`."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from generator.checks import (
    certificates,
    control_plane,
    endpoint,
    etcd_backup,
    names,
    networks,
    openstack,
    proxy,
    registries,
    scale,
    ssh_keys,
    token,
    versions,
)
from generator.errors import Problem
from generator.normalize import Normalized

Check = Callable[[Normalized], Iterator[Problem]]

CHECKS: tuple[Check, ...] = (
    control_plane.check_control_plane,
    control_plane.check_kube_vip,
    names.check_names,
    networks.check_networks,
    networks.check_node_ips,
    endpoint.check_endpoint,
    versions.check_kubernetes_version,
    versions.check_runtime,
    token.check_token,
    etcd_backup.check_etcd_backup_schedule,
    certificates.check_schedule,
    names.check_labels,
    registries.check_registries,
    ssh_keys.check_ssh_keys,
    openstack.check_openstack_load_balancer,
    openstack.check_openstack_values,
    openstack.check_openstack_api_cidrs,
    openstack.check_openstack_calico,
    etcd_backup.check_etcd_backup,
    scale.check_node_count,
    proxy.check_urls,
    proxy.check_no_proxy,
    proxy.check_proxy_set,
    proxy.check_mirror_keys,
)
