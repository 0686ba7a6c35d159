"""The OpenStack launch kit and the external cloud provider.

launch.sh and teardown.sh pass shellcheck and run for real under bash with `openstack` replaced on PATH
by a recorder that answers lookups from a scripted cloud state: the exact command sequence for the
three-control-plane, five-worker example, idempotent skipping on a second run and on a half-built
cluster, and the failures that must stop the script before it creates anything. stack.yaml parses as
YAML with the expected resource types and references, and a gzipped user-data reaches cloud-init
through Heat's get_file intact (checked with Debian's cloud-init)."""

from __future__ import annotations

import copy
import dataclasses
import email
import gzip
import json
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from generator import cloud_provider, model
from generator.checks import CHECKS
from generator.cli import app
from generator.cni import calico, cilium
from generator.emit import cloudinit
from generator.emit import openstack as emit_openstack
from generator.emit.cloudinit import EncodedUserData
from generator.load import Document
from generator.normalize import normalize, with_defaults
from generator.resources import load_data
from generator.tables import cni_ports
from generator.tree import EXECUTABLE_MODE, SECRET_MODE, OutputFile
from generator.validate import validate
from generator.versions import kubernetes_release, supported_minors
from tests.conftest import (
    EXAMPLES,
    Rendered,
    cloud_init_schema,
    load_user_data,
    parse_yaml,
    read_yaml,
    render_config,
    require_tool,
    shellcheck,
)

EXAMPLE = EXAMPLES / "valid" / "openstack-ha-kit" / "cluster.yaml"
CP = "prod-control-plane"
WORKER = "prod-worker"
CONTROL_PLANES = ["cp-0", "cp-1", "cp-2"]
WORKERS = ["worker-0", "worker-1", "worker-2", "pool-0", "pool-1"]
FIXED_IPS = {
    "cp-0": "10.0.0.10",
    "cp-1": "10.0.0.11",
    "cp-2": "10.0.0.12",
    "worker-0": "10.0.0.20",
    "worker-1": "10.0.0.21",
    "worker-2": "10.0.0.22",
}


def example_data() -> dict[str, Any]:
    data: dict[str, Any] = read_yaml(EXAMPLE)
    return data


def build(data: dict[str, Any]) -> tuple[model.Cluster, model.OpenStack]:
    cluster = model.build(Document(file="cluster.yaml", data=data))
    settings = model.openstack_settings(with_defaults(data)["spec"])
    assert settings is not None
    return cluster, settings


def problems(data: dict[str, Any], severity: str = "error") -> list[str]:
    doc = Document(file="cluster.yaml", data=with_defaults(data))
    return [f"{p.path}: {p.message}" for check in CHECKS for p in check(normalize(doc)) if p.severity == severity]


def write_kit(rendered: Rendered, data: dict[str, Any] | None = None) -> Path:
    """The kit in the rendered tree: render.py's output once it writes the kit, else written here."""
    root = rendered.root
    if not (root / "openstack" / "launch.sh").is_file():
        cluster, settings = build(data or example_data())
        tree = {
            p.relative_to(root).as_posix(): OutputFile(p.read_bytes(), 0o600) for p in root.rglob("*") if p.is_file()
        }
        for rel, output in emit_openstack.openstack_files(
            cluster,
            settings,
            {
                n.name: EncodedUserData(tree[f"nodes/{n.name}/user-data"].content, n.gzipped, 0)
                for n in rendered.result.nodes
            },
        ).items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(output.content)
            path.chmod(output.mode)
    return root / "openstack"


# Session scope for one module's read-only fixture: see tests/schedule.py on module scope.
@pytest.fixture(scope="session")
def kit_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_kit(render_config(EXAMPLE, tmp_path_factory.mktemp("openstack-ha-kit")))


# --- settings and checks ---------------------------------------------------------------------------------


def test_settings_from_the_example() -> None:
    _, settings = build(example_data())
    assert settings == model.OpenStack(
        image="kgen-ubuntu-24.04-k8s-1.33.7",
        flavor="m1.large",
        network="k8s-net",
        control_plane_flavor="m1.xlarge",
        subnet="k8s-subnet",
        key_name="ops",
        config_drive=True,
        floating_ip_network="public",
        security_group_prefix=None,
        ssh_allowed_cidr="10.0.0.0/24",
        node_subnet="10.0.0.0/24",
        load_balancer=model.LoadBalancer(enabled=True, vip_address="10.0.0.100", subnet=None),
        cloud_provider=True,
    )


def test_no_section_no_kit_and_schema_defaults() -> None:
    data = example_data()
    del data["spec"]["openstack"]
    assert model.openstack_settings(with_defaults(data)["spec"]) is None
    assert cloud_provider.kubelet_extra_args(None) == {}
    data = example_data()
    data["spec"]["openstack"] = {"image": "i", "flavor": "f", "network": "n"}
    _, settings = build(data)
    assert settings == model.OpenStack(image="i", flavor="f", network="n", node_subnet="10.0.0.0/24")


def test_example_is_valid_and_clean() -> None:
    found = validate(Document(file="cluster.yaml", data=example_data()))
    assert [p for p in found if p.severity == "error"] == []
    assert problems(example_data()) == []
    assert problems(example_data(), "warning") == []


def edit(change: dict[str, Any], *, delete: tuple[str, ...] = ()) -> dict[str, Any]:
    data = example_data()
    lb = data["spec"]["openstack"]["loadBalancer"]
    for key in delete:
        lb.pop(key, None)
        data["spec"]["openstack"].pop(key, None)
    for dotted, value in change.items():
        target = data["spec"]
        *parents, last = dotted.split(".")
        for part in parents:
            target = target[part]
        target[last] = value
    return data


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (edit({}, delete=("vipAddress",)), "spec.openstack.loadBalancer: the endpoint is the address 10.0.0.100"),
        (edit({"openstack.loadBalancer.vipAddress": "10.0.0.99"}), "is not the endpoint's address 10.0.0.100"),
        (edit({"openstack.loadBalancer.vipAddress": "10.0.0.300"}), "'10.0.0.300' is not an IPv4 address"),
        (edit({}, delete=("subnet",)), "the load balancer's VIP needs a subnet"),
        (
            edit(
                {
                    "controlPlane.endpoint": "k8s-api.example.com:6443",
                    "nodes": [{"name": "cp-0", "role": "control-plane"}],
                }
            ),
            "control-plane node 'cp-0' needs a fixed ip",
        ),
        (edit({"controlPlane.loadBalancer": "kube-vip"}), "controlPlane.loadBalancer is kube-vip"),
        (edit({"openstack.loadBalancer.enabled": False}), "the floating IP goes on the API load balancer's VIP"),
        (edit({"openstack.subnet": "a,b"}), "contains ',' or '='"),
        (edit({"openstack.sshAllowedCidr": "10.0.0.1/24"}), "is not a valid CIDR"),
        (
            edit({"controlPlane.endpoint": "10.0.1.5:6443", "openstack.loadBalancer.vipAddress": "10.0.1.5"}),
            "the VIP 10.0.1.5 is outside the node subnet 10.0.0.0/24",
        ),
    ],
)
def test_openstack_checks(data: dict[str, Any], expected: str) -> None:
    found = problems(data)
    assert any(expected in p for p in found), found


def test_several_control_planes_without_a_load_balancer_warn() -> None:
    data = edit({"openstack.loadBalancer.enabled": False}, delete=("floatingIpNetwork",))
    assert problems(data) == []
    assert any("the launch kit creates no load balancer" in p for p in problems(data, "warning"))


def test_schema_keeps_unknown_keys_out() -> None:
    data = example_data()
    data["spec"]["openstack"]["loadBalancer"]["vipAdress"] = "10.0.0.100"
    found = validate(Document(file="cluster.yaml", data=data))
    assert any("unknown key 'vipAdress'; did you mean 'vipAddress'?" in p.message for p in found)


# --- security rules from the port table --------------------------------------------------------------------


def rules_for(cni: str) -> set[tuple[str, str, str | None, str | None, str | None]]:
    data = example_data()
    data["spec"]["cni"] = {"plugin": cni}
    cluster, settings = build(data)
    return {
        (r.group, r.protocol, f"{r.port_min}:{r.port_max}" if r.port_min else None, r.remote_group, r.remote_ip)
        for r in emit_openstack.security_rules(cluster, settings)
    }


@pytest.mark.parametrize("cni", ["calico", "cilium", "flannel", "none"])
def test_every_row_of_the_port_table_is_a_rule_between_the_node_groups(cni: str) -> None:
    rules = rules_for(cni)
    table = load_data("ports.yaml")
    for role, group in (("control-plane", CP), ("worker", WORKER)):
        for row in [*table["roles"][role], *cni_ports(cni)]:
            protocol = {"tcp": "tcp", "udp": "udp", "ipencap": "4"}[row["protocol"]]
            port = row.get("port")
            ports = None if port is None else (port.replace("-", ":") if "-" in port else f"{port}:{port}")
            for remote in (CP,) if row.get("from") == "control-plane" else (CP, WORKER):
                assert (group, protocol, ports, remote, None) in rules, (group, row)


def test_calico_rules_include_bgp_ip_in_ip_and_vxlan() -> None:
    rules = rules_for("calico")
    for group in (CP, WORKER):
        assert (group, "tcp", "179:179", CP, None) in rules
        assert (group, "4", None, WORKER, None) in rules  # IP-in-IP is IP protocol 4
        assert (group, "udp", "4789:4789", CP, None) in rules
    assert (WORKER, "tcp", "30000:32767", CP, None) in rules
    assert (WORKER, "udp", "30000:32767", WORKER, None) in rules
    assert (CP, "tcp", "6443:6443", None, "0.0.0.0/0") in rules
    assert (CP, "tcp", "22:22", None, "10.0.0.0/24") in rules
    assert (WORKER, "tcp", "22:22", None, "10.0.0.0/24") in rules
    assert not any(r[4] == "0.0.0.0/0" and r[2] != "6443:6443" for r in rules)


def test_cilium_rules_include_vxlan_and_health() -> None:
    rules = rules_for("cilium")
    assert (WORKER, "udp", "8472:8472", CP, None) in rules
    assert (CP, "tcp", "4240:4240", WORKER, None) in rules


def test_calico_on_openstack_always_encapsulates() -> None:

    def pool_encapsulation(data: dict[str, Any]) -> str:
        cluster = model.build(Document(file="cluster.yaml", data=data))
        assert cluster.cni.release is not None
        installation = calico.calico_resources(cluster, cluster.cni.release)[0]
        mode: str = installation["spec"]["calicoNetwork"]["ipPools"][0]["encapsulation"]
        assert mode == cluster.cni.calico_encapsulation
        return mode

    # Left unset, the schema's default (VXLANCrossSubnet) would send same-subnet pod traffic bare,
    # with a pod IP as source, which Neutron's port security drops: the kit gets always-on VXLAN.
    data = example_data()
    del data["spec"]["cni"]["calico"]
    assert pool_encapsulation(data) == "VXLAN"
    assert pool_encapsulation(example_data()) == "IPIP"  # an explicit always-encapsulated mode stays
    without_kit = example_data()
    del without_kit["spec"]["cni"]["calico"], without_kit["spec"]["openstack"]
    assert pool_encapsulation(without_kit) == "VXLANCrossSubnet"  # no kit: the schema's default
    # The encapsulated traffic is node to node, which the groups admit between all nodes.
    rules = rules_for("calico")
    for group in (CP, WORKER):
        for remote in (CP, WORKER):
            assert (group, "udp", "4789:4789", remote, None) in rules
            assert (group, "4", None, remote, None) in rules
    # Flannel's VXLAN and Cilium's default tunnel (kgen sets no routingMode) likewise: UDP 8472.
    assert cilium.cilium_values(build(example_data())[0]).get("routingMode") is None
    for plugin in ("flannel", "cilium"):
        rules = rules_for(plugin)
        assert all((g, "udp", "8472:8472", r, None) in rules for g in (CP, WORKER) for r in (CP, WORKER))


CONTROL_PLANE_ONLY_PORTS = {2379, 2380, 10257, 10259}  # etcd, kube-controller-manager, kube-scheduler


def opened_ports(port_min: int | None, port_max: int | None) -> set[int]:
    return set(range(port_min, port_max + 1)) if port_min is not None and port_max is not None else set()


def test_workers_cannot_reach_etcd_or_the_control_plane_components(kit_dir: Path, kit_dry_run: DryRun) -> None:
    # The Heat template: every rule on the control-plane group that admits the worker group.
    stack = parse_yaml((kit_dir / "stack.yaml").read_text(encoding="utf-8"))
    rules = [r["properties"] for r in stack["resources"].values() if r["type"] == "OS::Neutron::SecurityGroupRule"]
    cp_ref, worker_ref = {"get_resource": "secgroup-control-plane"}, {"get_resource": "secgroup-worker"}
    worker_to_cp: set[int] = set()
    cp_to_cp: set[int] = set()
    for rule in rules:
        if rule["security_group"] != cp_ref or rule.get("protocol") != "tcp":
            continue
        ports = opened_ports(rule.get("port_range_min"), rule.get("port_range_max"))
        if rule.get("remote_group") == worker_ref or ("remote_ip_prefix" in rule and rule["port_range_min"] != 6443):
            worker_to_cp |= ports
        if rule.get("remote_group") == cp_ref:
            cp_to_cp |= ports
    assert not worker_to_cp & CONTROL_PLANE_ONLY_PORTS, sorted(worker_to_cp & CONTROL_PLANE_ONLY_PORTS)
    assert cp_to_cp >= CONTROL_PLANE_ONLY_PORTS  # the control planes still reach each other's etcd
    assert 10250 in worker_to_cp  # and the kubelet stays open between all nodes
    # launch.sh: the same rules, as the openstack CLI receives them.
    result, _ = kit_dry_run("launch.sh")
    assert result.returncode == 0, result.stderr
    for argv in (shlex.split(line) for line in result.stdout.splitlines()):
        if argv[:5] != ["openstack", "security", "group", "rule", "create"] or argv[-1] != CP:
            continue
        if "--remote-group" in argv and argv[argv.index("--remote-group") + 1] == WORKER and "--dst-port" in argv:
            low, _, high = argv[argv.index("--dst-port") + 1].partition(":")
            assert not opened_ports(int(low), int(high)) & CONTROL_PLANE_ONLY_PORTS, argv


# --- launch.sh and teardown.sh under shellcheck -----------------------------------------------------------


def kube_vip_data() -> dict[str, Any]:
    data = edit({"controlPlane.loadBalancer": "kube-vip", "openstack.loadBalancer.enabled": False})
    data["spec"]["openstack"].pop("floatingIpNetwork")
    data["spec"]["openstack"]["loadBalancer"].pop("vipAddress")
    return data


VARIANTS: dict[str, Callable[[], dict[str, Any]]] = {
    "example": example_data,
    "kube-vip": kube_vip_data,
    "minimal": lambda: edit(
        {"openstack": {"image": "img", "flavor": "f", "network": "n"}, "cni": {"plugin": "cilium"}},
    ),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_scripts_pass_shellcheck(variant: str, tmp_path: Path) -> None:
    cluster, settings = build(VARIANTS[variant]())
    kit = emit_openstack.kit(cluster, settings, {})
    scripts = {"launch.sh": emit_openstack.launch_script(kit), "teardown.sh": emit_openstack.teardown_script(kit)}
    for text in scripts.values():
        assert text.startswith("#!/usr/bin/env bash\n")
        assert "\nset -euo pipefail\n" in text
    shellcheck(scripts, tmp_path)


def test_kube_vip_control_plane_ports_may_carry_the_vip() -> None:
    cluster, settings = build(kube_vip_data())
    kit = emit_openstack.kit(cluster, settings, {})
    ports = {p.node: p for p in kit.ports}
    assert ports["cp-1"].allowed_addresses == ("10.0.0.100",)
    assert ports["worker-0"].allowed_addresses == ()
    assert "--allowed-address" in emit_openstack.port_create(kit, ports["cp-1"])
    assert kit.load_balancer is None


# Every environment variable kube-vip v1.1.2 reads: the constants in pkg/kubevip/config_envvar.go that
# pkg/kubevip/config_environment.go passes to os.Getenv (the ones kgen could plausibly set).
KUBE_VIP_ENV_NAMES = {
    *("vip_arp", "vip_arpRate", "vip_leaderelection", "vip_leasename", "vip_leaseduration", "vip_renewdeadline"),
    *("vip_retryperiod", "vip_loglevel", "vip_interface", "vip_subnet", "vip_address", "address", "port"),
    *("vip_nodename", "vip_singlenode", "vip_startleader", "cp_enable", "cp_namespace", "cp_detect"),
    *("kubernetes_addr", "svc_enable", "svc_election", "svc_leasename", "lb_enable", "lb_port", "prometheus_server"),
}


def test_kube_vip_env_names_are_the_ones_kube_vip_reads() -> None:
    from generator import kubevip  # noqa: PLC0415 - only this test needs it

    cluster, _ = build(kube_vip_data())
    env = kubevip.manifest(cluster, kubeconfig="/etc/kubernetes/admin.conf")["spec"]["containers"][0]["env"]
    names = [e["name"] for e in env]
    assert set(names) <= KUBE_VIP_ENV_NAMES, set(names) - KUBE_VIP_ENV_NAMES
    assert len(names) == len(set(names))
    by_name = {e["name"]: e for e in env}
    assert "vip_cidr" not in by_name  # kube-vip reads vip_subnet; vip_cidr was silently ignored
    assert by_name["vip_subnet"] == {"name": "vip_subnet", "value": "32"}
    assert by_name["address"]["value"] == "10.0.0.100"
    assert by_name["vip_nodename"] == {
        "name": "vip_nodename",
        "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}},
    }


# --- launch.sh with a recorder for `openstack` ------------------------------------------------------------

# A bash script, not Python: a launch calls it about a hundred times, and bash starts in a millisecond.
# Its state is a folder of line files Cloud.run writes (existing: "kind:name" lines; errors: prefix<TAB>
# message lines, checked in order; properties: name<TAB>value lines; rules_exist: present or not). Each
# call is recorded as its argument count and its arguments, NUL-terminated, so any argument reads back.
FAKE_OPENSTACK = r"""#!/bin/bash
# Stand-in for the openstack CLI: records every call and answers lookups from a scripted cloud state.
set -f
{ printf '%s\0' "$#"; (($# == 0)) || printf '%s\0' "$@"; } >>"${OS_RECORD}"
declare -A existing=() properties=()
while IFS= read -r entry; do existing["${entry}"]=1; done <"${OS_STATE}/existing"
line="$*"
while IFS=$'\t' read -r prefix message; do
  if [[ "${line}" == "${prefix}"* ]]; then printf '%s\n' "${message}" >&2; exit 1; fi
done <"${OS_STATE}/errors"
verbs=()
for arg in "$@"; do [[ "${arg}" == -* ]] || verbs+=("${arg}"); done
args=("$@")
verbs_start() {  # whether the words that are not options begin with these
  local i=0 word
  for word in "$@"; do
    if [[ "${verbs[i]-}" != "${word}" || i -ge ${#verbs[@]} ]]; then return 1; fi
    i=$((i + 1))
  done
}
for ((i = 0; i < $#; i++)); do
  if [[ "${args[i]}" == -c ]]; then
    column="${args[i + 1]}"
    if verbs_start server show; then
      name="${args[-1]}"
      if [[ -z "${existing["server:${name}"]:-}" ]]; then
        printf '%s\n' "No server with a name or ID of '${name}' exists." >&2
        exit 1
      fi
      while IFS=$'\t' read -r server value; do properties["${server}"]="${value}"; done <"${OS_STATE}/properties"
      printf '%s\n' "${properties["${name}"]-kgen-cluster='prod', kgen-role='node'}"
    elif [[ "${column}" == vip_port_id ]]; then
      echo vip-port-1
    elif [[ "${column}" == vip_address ]]; then
      echo 10.0.0.100
    elif verbs_start floating ip list && [[ -n "${existing["floating ip"]:-}" ]]; then
      if [[ "${column}" != ID ]]; then echo 203.0.113.10; else echo fip-1; fi
    fi
    exit 0
  fi
done
if verbs_start security group rule create; then
  if [[ -e "${OS_STATE}/rules_exist" ]]; then
    echo "ConflictException: 409: Security group rule already exists. Rule id is 5." >&2
    exit 1
  fi
  exit 0
fi
for ((i = 0; i < ${#verbs[@]}; i++)); do
  if [[ "${verbs[i]}" == show ]]; then
    kind="${verbs[*]:0:i}"
    name="${verbs[-1]}"
    key="${kind#"loadbalancer "}"
    if [[ -n "${existing["${key}:${name}"]:-}" ]]; then echo "id ${name}"; exit 0; fi
    if [[ "${kind}" == loadbalancer* ]]; then printf '%s\n' "Unable to locate ${name} in ${key}s" >&2; exit 1; fi
    # The network commands of the newer CLI put cliff's prefix before the message.
    title=""
    for word in ${kind}; do
      word="${word,,}"
      title+="${word^}"
    done
    message="No ${title} found for ${name}"
    if [[ "${kind}" == port ]]; then message="Error while executing command: ${message}"; fi
    printf '%s\n' "${message}" >&2
    exit 1
  fi
done
exit 0
"""


def write_lines(path: Path, lines: list[str]) -> None:
    """One entry a line for the fake's `read`: an entry holding a newline would split in two."""
    assert not any("\n" in line for line in lines), lines
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")


def recorded_calls(record: bytes) -> list[list[str]]:
    """The fake's record: per call, its argument count then its arguments, each NUL-terminated."""
    fields = record.decode("utf-8").split("\0")
    assert fields.pop() == "", "the record ends with a NUL"
    calls: list[list[str]] = []
    while fields:
        count = int(fields.pop(0))
        calls.append(fields[:count])
        del fields[:count]
    return calls


@dataclasses.dataclass
class Cloud:
    """A scripted cloud for one script run."""

    tmp: Path
    existing: list[str] = dataclasses.field(default_factory=list)
    errors: dict[str, str] = dataclasses.field(default_factory=dict)
    properties: dict[str, str] = dataclasses.field(default_factory=dict)
    rules_exist: bool = False

    def run(self, script: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], list[list[str]]]:
        bin_dir = self.tmp / "bin"
        bin_dir.mkdir(exist_ok=True)
        fake = bin_dir / "openstack"
        fake.write_text(FAKE_OPENSTACK, encoding="utf-8")
        fake.chmod(0o755)
        record, state = self.tmp / "record", self.tmp / "state"
        record.write_bytes(b"")
        if state.exists():
            shutil.rmtree(state)
        state.mkdir()
        write_lines(state / "existing", self.existing)
        write_lines(state / "errors", [f"{prefix}\t{message}" for prefix, message in self.errors.items()])
        write_lines(state / "properties", [f"{name}\t{value}" for name, value in self.properties.items()])
        if self.rules_exist:
            (state / "rules_exist").write_text("", encoding="utf-8")
        env = {
            **os.environ,
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "OS_RECORD": str(record),
            "OS_STATE": str(state),
        }
        result = subprocess.run(["bash", str(script), *args], capture_output=True, text=True, check=False, env=env)
        calls = recorded_calls(record.read_bytes())
        return result, [["openstack", *c] for c in calls]


DryRun = Callable[[str], tuple[subprocess.CompletedProcess[str], list[list[str]]]]


@pytest.fixture(scope="module")
def kit_dry_run(kit_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> DryRun:
    """``Cloud(tmp).run(kit_dir / script, "--dry-run")`` on an empty cloud, run once per script for the
    module: several tests read the same dry run (the kit's, with nothing in the cloud, prints the same
    commands and calls nothing; only the log's timestamps on stderr differ between runs)."""
    done: dict[str, tuple[subprocess.CompletedProcess[str], list[list[str]]]] = {}

    def run(script: str) -> tuple[subprocess.CompletedProcess[str], list[list[str]]]:
        if script not in done:
            done[script] = Cloud(tmp_path_factory.mktemp("dry-run")).run(kit_dir / script, "--dry-run")
        return done[script]

    return run


def group_commands() -> list[list[str]]:
    out: list[list[str]] = []
    for group, role in ((CP, "control-plane"), (WORKER, "worker")):
        out.append(["openstack", "security", "group", "show", "--", group])
        out.append(
            [
                *("openstack", "security", "group", "create", "--description", f"kgen: {role} nodes of cluster prod"),
                *("--", group),
            ]
        )
    return out


def rule_commands() -> list[list[str]]:
    """What the port table asks for, written out independently of the generator."""
    table = load_data("ports.yaml")
    out: list[list[str]] = []
    for group, role in ((CP, "control-plane"), (WORKER, "worker")):
        for row in [*table["roles"][role], *cni_ports("calico")]:
            protocol = {"tcp": "tcp", "udp": "udp", "ipencap": "4"}[row["protocol"]]
            port = row.get("port")
            ports = [] if port is None else ["--dst-port", port.replace("-", ":") if "-" in port else f"{port}:{port}"]
            for remote in (CP,) if row.get("from") == "control-plane" else (CP, WORKER):
                out.append(
                    [
                        "openstack",
                        "security",
                        "group",
                        "rule",
                        "create",
                        "--ingress",
                        "--ethertype",
                        "IPv4",
                        "--protocol",
                        protocol,
                        *ports,
                        "--remote-group",
                        remote,
                        "--description",
                        f"{row['purpose']} (kgen)",
                        "--",
                        group,
                    ]
                )
    rule = ["openstack", "security", "group", "rule", "create", "--ingress", "--ethertype", "IPv4", "--protocol", "tcp"]
    out.append(
        [
            *rule,
            "--dst-port",
            "6443:6443",
            "--remote-ip",
            "0.0.0.0/0",
            "--description",
            "Kubernetes API server from anywhere (kgen)",
            "--",
            CP,
        ]
    )
    for group in (CP, WORKER):
        out.append(
            [*rule, "--dst-port", "22:22", "--remote-ip", "10.0.0.0/24", "--description", "SSH (kgen)", "--", group]
        )
    return out


LB = "prod-api"
POOL = "prod-api-pool"


def load_balancer_commands() -> list[list[str]]:
    lb = ["openstack", "loadbalancer"]
    out = [
        [*lb, "show", "--", LB],
        [
            *lb,
            "create",
            "--name",
            LB,
            "--vip-subnet-id",
            "k8s-subnet",
            "--vip-address",
            "10.0.0.100",
            "--description",
            "kgen: Kubernetes API",
            "--wait",
        ],
        [*lb, "listener", "show", "--", "prod-api-6443"],
        [
            *lb,
            "listener",
            "create",
            "--name",
            "prod-api-6443",
            "--protocol",
            "TCP",
            "--protocol-port",
            "6443",
            "--wait",
            "--",
            LB,
        ],
        [*lb, "pool", "show", "--", POOL],
        [
            *lb,
            "pool",
            "create",
            "--name",
            POOL,
            "--lb-algorithm",
            "ROUND_ROBIN",
            "--listener",
            "prod-api-6443",
            "--protocol",
            "TCP",
            "--wait",
        ],
        [*lb, "healthmonitor", "show", "--", "prod-api-monitor"],
        [
            *lb,
            "healthmonitor",
            "create",
            "--name",
            "prod-api-monitor",
            "--type",
            "TCP",
            "--delay",
            "10",
            "--timeout",
            "5",
            "--max-retries",
            "5",
            "--wait",
            "--",
            POOL,
        ],
    ]
    for node in CONTROL_PLANES:
        out.append([*lb, "member", "show", "--", POOL, f"prod-{node}"])
        out.append(
            [
                *lb,
                "member",
                "create",
                "--name",
                f"prod-{node}",
                "--address",
                FIXED_IPS[node],
                "--protocol-port",
                "6443",
                "--subnet-id",
                "k8s-subnet",
                "--wait",
                "--",
                POOL,
            ]
        )
    return out


def floating_ip_commands(*, attached: bool) -> list[list[str]]:
    out = [
        ["openstack", "loadbalancer", "show", "-f", "value", "-c", "vip_port_id", "--", LB],
        ["openstack", "floating", "ip", "list", "--port", "vip-port-1", "-f", "value", "-c", "Floating IP Address"],
    ]
    if not attached:
        out.append(
            [
                "openstack",
                "floating",
                "ip",
                "create",
                "--port",
                "vip-port-1",
                "--description",
                "kgen: Kubernetes API of cluster prod",
                "--",
                "public",
            ]
        )
    return out


def port_create(node: str) -> list[str]:
    fixed = ["--fixed-ip", f"subnet=k8s-subnet,ip-address={FIXED_IPS[node]}"] if node in FIXED_IPS else []
    group = CP if node in CONTROL_PLANES else WORKER
    return [
        "openstack",
        "port",
        "create",
        "--network",
        "k8s-net",
        *fixed,
        "--security-group",
        group,
        "--description",
        f"kgen: node {node} of cluster prod",
        "--",
        f"prod-{node}",
    ]


def server_create(node: str, cluster_dir: Path) -> list[str]:
    control_plane = node in CONTROL_PLANES
    return [
        *("openstack", "server", "create", "--image", "kgen-ubuntu-24.04-k8s-1.33.7"),
        *("--flavor", "m1.xlarge" if control_plane else "m1.large", "--key-name", "ops", "--config-drive", "true"),
        *("--port", f"prod-{node}", "--user-data", str(cluster_dir / "nodes" / node / "user-data")),
        *(
            "--property",
            "kgen-cluster=prod",
            "--property",
            f"kgen-role={'control-plane' if control_plane else 'worker'}",
        ),
        "--",
        node,
    ]


def server_show(node: str) -> list[str]:
    return ["openstack", "server", "show", "-f", "value", "-c", "properties", "--", node]


SUMMARY = [["openstack", "loadbalancer", "show", "-f", "value", "-c", "vip_address", "--", LB]]
NODES = CONTROL_PLANES + WORKERS


def test_launch_on_an_empty_project_runs_the_exact_sequence(kit_dir: Path, tmp_path: Path) -> None:
    result, calls = Cloud(tmp_path).run(kit_dir / "launch.sh")
    assert result.returncode == 0, result.stderr
    cluster_dir = kit_dir.parent.resolve()
    expected = [
        *group_commands(),
        *rule_commands(),
        *load_balancer_commands(),
        *floating_ip_commands(attached=False),
        *[c for n in NODES for c in (["openstack", "port", "show", "--", f"prod-{n}"], port_create(n))],
        *[c for n in NODES for c in (server_show(n), server_create(n, cluster_dir))],
        *SUMMARY,
    ]
    assert calls == expected


def test_launch_again_creates_nothing(kit_dir: Path, tmp_path: Path) -> None:
    existing = [f"security group:{CP}", f"security group:{WORKER}", f"loadbalancer:{LB}", "listener:prod-api-6443"]
    existing += [f"pool:{POOL}", "healthmonitor:prod-api-monitor", "floating ip"]
    existing += [f"member:prod-{n}" for n in CONTROL_PLANES] + [f"port:prod-{n}" for n in NODES]
    existing += [f"server:{n}" for n in NODES]
    result, calls = Cloud(tmp_path, existing=existing, rules_exist=True).run(kit_dir / "launch.sh")
    assert result.returncode == 0, result.stderr
    creates = [c for c in calls if "create" in c]
    assert creates == rule_commands()  # rules have no names: Neutron answers "already exists" and they are kept
    assert f"security group rules: 0 added, {len(rule_commands())} already there" in result.stderr
    expected = [
        *[c for c in group_commands() if "show" in c],
        *rule_commands(),
        *[c for c in load_balancer_commands() if "show" in c],
        *floating_ip_commands(attached=True),
        *[["openstack", "port", "show", "--", f"prod-{n}"] for n in NODES],
        *[server_show(n) for n in NODES],
        *SUMMARY,
    ]
    assert calls == expected
    assert "server cp-0 exists; kept" in result.stderr


def test_launch_completes_a_half_built_cluster(kit_dir: Path, tmp_path: Path) -> None:
    existing = [f"security group:{CP}", f"security group:{WORKER}", f"loadbalancer:{LB}", "listener:prod-api-6443"]
    existing += ["port:prod-cp-0", "port:prod-cp-1", "server:cp-0"]
    result, calls = Cloud(tmp_path, existing=existing).run(kit_dir / "launch.sh")
    assert result.returncode == 0, result.stderr
    creates = [c for c in calls if "create" in c and c[:5] != ["openstack", "security", "group", "rule", "create"]]
    cluster_dir = kit_dir.parent.resolve()
    assert creates == [
        *[c for c in load_balancer_commands() if "create" in c][2:],  # pool, monitor, members
        floating_ip_commands(attached=False)[-1],
        *[port_create(n) for n in NODES if n not in ("cp-0", "cp-1")],
        *[server_create(n, cluster_dir) for n in NODES if n != "cp-0"],
    ]


def test_an_ambiguous_lookup_stops_before_any_duplicate(kit_dir: Path, tmp_path: Path) -> None:
    errors = {"port show -- prod-worker-1": "More than one Port exists with the name 'prod-worker-1'."}
    result, calls = Cloud(tmp_path, errors=errors).run(kit_dir / "launch.sh")
    assert result.returncode == 1
    assert "More than one Port exists" in result.stderr
    assert calls[-1] == ["openstack", "port", "show", "--", "prod-worker-1"]
    assert not any(c[:3] == ["openstack", "server", "create"] for c in calls)


def test_missing_credentials_stop_at_the_first_lookup(kit_dir: Path, tmp_path: Path) -> None:
    errors = {"security group show": "Missing value auth-url required for auth plugin password"}
    result, calls = Cloud(tmp_path, errors=errors).run(kit_dir / "launch.sh")
    assert result.returncode == 1
    assert calls == [["openstack", "security", "group", "show", "--", CP]]


def test_a_server_of_another_cluster_is_never_taken_over(kit_dir: Path, tmp_path: Path) -> None:
    cloud = Cloud(tmp_path, existing=["server:worker-0"], properties={"worker-0": "{'kgen-cluster': 'staging'}"})
    result, calls = cloud.run(kit_dir / "launch.sh")
    assert result.returncode == 1
    assert "a server named worker-0 exists but is not a node of cluster prod" in result.stderr
    assert calls[-1] == server_show("worker-0")
    # the newer CLI's dict format is recognised as ours too
    cloud = Cloud(tmp_path, existing=[f"server:{n}" for n in NODES], properties={"cp-0": "{'kgen-cluster': 'prod'}"})
    result, _ = cloud.run(kit_dir / "launch.sh")
    assert result.returncode == 0, result.stderr


def test_launch_refuses_to_run_before_render(kit_dir: Path, tmp_path: Path) -> None:
    kit_copy = tmp_path / "cluster" / "openstack"
    kit_copy.mkdir(parents=True)
    (kit_copy / "launch.sh").write_bytes((kit_dir / "launch.sh").read_bytes())
    result, calls = Cloud(tmp_path).run(kit_copy / "launch.sh")
    assert result.returncode == 1
    assert "render the cluster first" in result.stderr
    assert calls == []


def test_dry_run_prints_the_commands_and_calls_nothing(kit_dir: Path, kit_dry_run: DryRun) -> None:
    result, calls = kit_dry_run("launch.sh")
    assert result.returncode == 0, result.stderr
    assert calls == []
    printed = [shlex.split(line) for line in result.stdout.splitlines()]
    cluster_dir = kit_dir.parent.resolve()
    fip = floating_ip_commands(attached=False)
    expected = [
        *[c for c in group_commands() if "create" in c],
        *rule_commands(),
        *[c for c in load_balancer_commands() if "create" in c],
        fip[0],
        [*fip[2][:5], "<vip_port_id>", *fip[2][6:]],
        *[port_create(n) for n in NODES],
        *[server_create(n, cluster_dir) for n in NODES],
    ]
    assert printed == expected


def test_unknown_option_is_a_usage_error(kit_dir: Path, tmp_path: Path) -> None:
    result, calls = Cloud(tmp_path).run(kit_dir / "launch.sh", "--force")
    assert result.returncode == 2
    assert calls == []


def test_values_reach_the_cli_as_single_words(tmp_path: Path) -> None:
    data = example_data()
    hostile = "img'; touch pwned; echo '$(id)`id`\"x"
    data["spec"]["openstack"]["image"] = hostile
    config = tmp_path / "cluster.yaml"
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    kit = write_kit(render_config(config, tmp_path / "render"), data)
    result, _ = Cloud(tmp_path).run(kit / "launch.sh", "--dry-run")
    assert result.returncode == 0, result.stderr
    servers = [shlex.split(line) for line in result.stdout.splitlines() if line.startswith("openstack server create")]
    assert len(servers) == len(NODES)
    assert all(s[s.index("--image") + 1] == hostile for s in servers)
    assert not (kit / "pwned").exists()
    assert not Path("pwned").exists()
    stack = parse_yaml((kit / "stack.yaml").read_text(encoding="utf-8"))
    assert stack["parameters"]["image"]["default"] == hostile


# Every openstack.* value that reaches the openstack CLI, written out here rather than taken from the
# generator: each as an option-like value must be refused before anything is written.
CLI_FIELDS = [
    "openstack.image",
    "openstack.flavor",
    "openstack.controlPlaneFlavor",
    "openstack.network",
    "openstack.subnet",
    "openstack.keyName",
    "openstack.floatingIpNetwork",
    "openstack.securityGroupPrefix",
    "openstack.sshAllowedCidr",
    "openstack.loadBalancer.subnet",
    "openstack.loadBalancer.vipAddress",
]
OPTION_LIKE = "--os-cloud=evil"


def test_option_like_values_are_refused_in_every_cli_field(tmp_path: Path) -> None:
    data = edit(dict.fromkeys(CLI_FIELDS, OPTION_LIKE))
    found = validate(Document(file="cluster.yaml", data=data))
    errors = {p.path for p in found if p.severity == "error"}
    assert {f"spec.{field}" for field in CLI_FIELDS} <= errors, sorted(errors)
    config = tmp_path / "cluster.yaml"
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    result = CliRunner().invoke(app, ["render", str(config), "-d", str(tmp_path / "out")])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()
    for field in CLI_FIELDS:  # one at a time too: no field hides behind another's problem
        single = [p.path for p in validate(Document(file="cluster.yaml", data=edit({field: OPTION_LIKE})))]
        assert f"spec.{field}" in single, (field, single)


def test_positional_values_follow_double_dash(kit_dry_run: DryRun) -> None:
    """Every name the kit passes as a positional argument comes after `--`, so even a value that starts
    with '-' (had validation let it through) would reach the command as a name, not as an option."""
    names = {CP, WORKER, LB, POOL, "prod-api-6443", "prod-api-monitor", "public", "<floating_ip_id>"}
    names |= set(NODES) | {f"prod-{n}" for n in NODES}
    seen = 0
    for script in ("launch.sh", "teardown.sh"):
        result, _ = kit_dry_run(script)
        assert result.returncode == 0, result.stderr
        for argv in (shlex.split(line) for line in result.stdout.splitlines()):
            for i, arg in enumerate(argv):
                option_value = i > 0 and argv[i - 1].startswith("-") and argv[i - 1] != "--"
                if arg in names and not option_value:  # a positional argument
                    assert "--" in argv[:i], argv
                    seen += 1
    assert seen > 40
    # With the check bypassed, a floating network named like an option still ends up after `--`.
    cluster, settings = build(example_data())
    evil = dataclasses.replace(settings, floating_ip_network=OPTION_LIKE)
    text = emit_openstack.launch_script(emit_openstack.kit(cluster, evil, {}))
    assert f"-- {OPTION_LIKE}" in text
    assert all(line.split(OPTION_LIKE)[0].rstrip().endswith("--") for line in text.splitlines() if OPTION_LIKE in line)


# --- teardown.sh ---------------------------------------------------------------------------------------------


def teardown_commands(*, dry_run: bool) -> list[list[str]]:
    fip = (
        ["openstack", "floating", "ip", "delete", "--", "<floating_ip_id>"]
        if dry_run
        else ["openstack", "floating", "ip", "delete", "--", "fip-1"]
    )
    return [
        *[["openstack", "server", "delete", "--wait", "--", n] for n in NODES],
        *[["openstack", "port", "delete", "--", f"prod-{n}"] for n in NODES],
        ["openstack", "loadbalancer", "show", "-f", "value", "-c", "vip_port_id", "--", LB],
        fip,
        ["openstack", "loadbalancer", "delete", "--cascade", "--wait", "--", LB],
        *[["openstack", "security", "group", "delete", "--", g] for g in (CP, WORKER)],
    ]


def test_teardown_needs_yes(kit_dir: Path, tmp_path: Path) -> None:
    result, calls = Cloud(tmp_path).run(kit_dir / "teardown.sh")
    assert result.returncode == 2
    assert calls == []


def test_teardown_dry_run(kit_dry_run: DryRun) -> None:
    result, calls = kit_dry_run("teardown.sh")
    assert result.returncode == 0, result.stderr
    assert calls == []
    assert [shlex.split(line) for line in result.stdout.splitlines()] == teardown_commands(dry_run=True)


def test_teardown_deletes_only_what_is_ours_and_there(kit_dir: Path, tmp_path: Path) -> None:
    existing = [f"server:{n}" for n in NODES] + [f"port:prod-{n}" for n in NODES]
    existing += [f"loadbalancer:{LB}", "floating ip", f"security group:{CP}", f"security group:{WORKER}"]
    result, calls = Cloud(tmp_path, existing=existing).run(kit_dir / "teardown.sh", "--yes")
    assert result.returncode == 0, result.stderr
    deletes = [c for c in calls if "delete" in c]
    assert deletes == [c for c in teardown_commands(dry_run=False) if "delete" in c]
    # Nothing there: nothing deleted, still success.
    result, calls = Cloud(tmp_path).run(kit_dir / "teardown.sh", "--yes")
    assert result.returncode == 0, result.stderr
    assert not [c for c in calls if "delete" in c]
    # Someone else's server with a node's name stops the teardown before it deletes anything.
    cloud = Cloud(tmp_path, existing=["server:cp-0"], properties={"cp-0": "kgen-cluster='other'"})
    result, calls = cloud.run(kit_dir / "teardown.sh", "--yes")
    assert result.returncode == 1
    assert not [c for c in calls if "delete" in c]


# --- stack.yaml ----------------------------------------------------------------------------------------------


GZIP_MAGIC = b"\x1f\x8b"


def mime_payload(content: bytes) -> bytes:
    """The application/gzip part of a Heat user-data wrapper, decoded."""
    parts = [p for p in email.message_from_bytes(content).walk() if p.get_content_type() == "application/gzip"]
    assert len(parts) == 1
    payload = parts[0].get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload


def references(value: Any, kind: str) -> list[Any]:
    if isinstance(value, dict):
        found = [value[kind]] if kind in value else []
        return found + [r for v in value.values() for r in references(v, kind)]
    if isinstance(value, list):
        return [r for v in value for r in references(v, kind)]
    return []


def test_heat_template_parses_with_the_expected_resources(kit_dir: Path) -> None:
    stack = parse_yaml((kit_dir / "stack.yaml").read_text(encoding="utf-8"))
    assert stack["heat_template_version"] == "2018-08-31"
    resources = stack["resources"]
    types: dict[str, int] = {}
    for resource in resources.values():
        types[resource["type"]] = types.get(resource["type"], 0) + 1
    assert types == {
        "OS::Neutron::SecurityGroup": 2,
        "OS::Neutron::SecurityGroupRule": len(rule_commands()),
        "OS::Octavia::LoadBalancer": 1,
        "OS::Octavia::Listener": 1,
        "OS::Octavia::Pool": 1,
        "OS::Octavia::HealthMonitor": 1,
        "OS::Octavia::PoolMember": 3,
        "OS::Neutron::FloatingIP": 1,
        "OS::Neutron::Port": 8,
        "OS::Nova::Server": 8,
    }
    assert set(references(stack, "get_resource")) <= set(resources)
    assert set(references(stack, "get_param")) <= set(stack["parameters"])
    assert {r[0] for r in references(stack, "get_attr")} <= set(resources)
    for node in NODES:
        server = resources[f"server-{node}"]["properties"]
        assert server["name"] == node
        assert server["user_data_format"] == "RAW"
        assert server["config_drive"] is True
        user_data = kit_dir.parent / "nodes" / node / "user-data"
        source = kit_dir / server["user_data"]["get_file"]
        if user_data.read_bytes()[:2] == GZIP_MAGIC:  # Heat gets the wrapper, which holds the same bytes
            assert source == kit_dir / "heat" / f"{node}.user-data.mime"
            assert mime_payload(source.read_bytes()) == user_data.read_bytes()
        else:
            assert source.resolve() == user_data.resolve()
        port = resources[f"port-{node}"]["properties"]
        if node in FIXED_IPS:
            assert port["fixed_ips"] == [{"subnet": {"get_param": "subnet"}, "ip_address": FIXED_IPS[node]}]
        else:
            assert "fixed_ips" not in port
    members = sorted(r["properties"]["address"] for r in resources.values() if r["type"] == "OS::Octavia::PoolMember")
    assert members == [FIXED_IPS[n] for n in CONTROL_PLANES]
    assert resources["api-loadbalancer"]["properties"]["vip_address"] == "10.0.0.100"
    protocols = {
        r["properties"]["protocol"] for r in resources.values() if r["type"] == "OS::Neutron::SecurityGroupRule"
    }
    assert protocols == {"tcp", "udp", "4"}


def test_user_data_fits_nova_and_the_kit_is_deterministic(kit_dir: Path, tmp_path: Path) -> None:
    rendered = render_config(EXAMPLE, tmp_path)
    for node in rendered.result.nodes:
        assert node.user_data_base64_bytes <= cloudinit.NOVA_USER_DATA_LIMIT
    again = write_kit(rendered)
    for name in ("launch.sh", "teardown.sh", "stack.yaml", "cloud.conf.template"):
        assert (again / name).read_bytes() == (kit_dir / name).read_bytes()
    assert (kit_dir / "launch.sh").stat().st_mode & 0o777 == EXECUTABLE_MODE


CLOUD_INIT_READER = """
import sys
from cloudinit import helpers
from cloudinit.user_data import UserDataProcessor

message = UserDataProcessor(helpers.Paths({})).process(open(sys.argv[1], "rb").read())
for part in message.walk():
    if part.get_content_type() == "text/cloud-config":
        sys.stdout.write(part.get_payload(decode=True).decode("utf-8"))
"""


def test_gzipped_user_data_reaches_cloud_init_through_heat(kit_dir: Path, tmp_path: Path) -> None:
    cloud_config = (kit_dir.parent / "nodes" / "cp-0" / "user-data").read_bytes()
    if cloud_config[:2] == GZIP_MAGIC:
        cloud_config = gzip.decompress(cloud_config)
    assert cloud_config.startswith(b"#cloud-config\n")
    packed = gzip.compress(cloud_config, mtime=0)
    cluster, settings = build(example_data())
    rendered = render_config(EXAMPLE, tmp_path / "render")
    assert rendered.result.nodes
    files = emit_openstack.openstack_files(
        cluster, settings, {"cp-0": EncodedUserData(packed, True, len(cloud_config))}
    )
    wrapper = files["openstack/heat/cp-0.user-data.mime"]
    assert wrapper.mode == SECRET_MODE
    wrapper.content.decode("ascii")  # text: the heat client passes it through unchanged
    stack = parse_yaml(files["openstack/stack.yaml"].content)
    assert stack["resources"]["server-cp-0"]["properties"]["user_data"] == {"get_file": "heat/cp-0.user-data.mime"}
    assert stack["resources"]["server-cp-1"]["properties"]["user_data"] == {"get_file": "../nodes/cp-1/user-data"}
    assert gzip.decompress(mime_payload(wrapper.content)) == cloud_config
    require_tool("cloud-init", reason="Debian package cloud-init")
    mime = tmp_path / "user-data.mime"
    mime.write_bytes(wrapper.content)
    result = subprocess.run(
        ["/usr/bin/python3", "-c", CLOUD_INIT_READER, str(mime)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == cloud_config.decode("utf-8")


# --- the Nova key pair --------------------------------------------------------------------------------------

# Debian's cloud-init decides who gets Nova's key: cc_ssh.py gives the metadata's public keys to the user
# ug_util.extract_default() returns, and to root only behind disable_root's "login as NONE" prefix.
DEFAULT_USER_READER = """
import json, sys
from cloudinit import helpers
from cloudinit.distros import fetch, ug_util

for path in sys.argv[1:]:  # one document a file; one answer a line, in order
    cfg = json.load(open(path, encoding="utf-8"))
    # Ubuntu's /etc/cloud/cloud.cfg system_info.default_user (the distro default the image ships)
    distro = fetch("ubuntu")("ubuntu", {"default_user": {"name": "ubuntu", "sudo": ["ALL=(ALL) NOPASSWD:ALL"]}},
                             helpers.Paths({}))
    users, _ = ug_util.normalize_users_groups(cfg, distro)
    print(json.dumps(ug_util.extract_default(users)[0]))
"""


def test_key_name_gives_the_default_user_the_nova_key(kit_dir: Path, tmp_path: Path) -> None:
    user_data = load_user_data((kit_dir.parent / "nodes" / "worker-0" / "user-data").read_bytes())
    assert user_data["users"][0] == "default"  # openstack.keyName is set in the example
    assert user_data["users"][1]["name"] == "kadmin"
    data = example_data()
    del data["spec"]["openstack"]["keyName"]
    cluster, _ = build(data)
    no_key = cloudinit.cloud_config(cluster, cluster.nodes[0], [], [["true"]])
    del no_key["write_files"]  # empty here; the schema wants at least one entry
    assert [u for u in no_key["users"] if u == "default"] == []
    documents = {"with-key": user_data, "without-key": no_key}
    cloud_init_schema({name: "#cloud-config\n" + yaml.safe_dump(d) for name, d in documents.items()}, tmp_path)
    paths = []
    for name, document in documents.items():
        paths.append(tmp_path / f"{name}.json")
        paths[-1].write_text(json.dumps(document), encoding="utf-8")
    # One cloud-init import for both documents; each gets its own distro, as in a process of its own.
    result = subprocess.run(
        ["/usr/bin/python3", "-c", DEFAULT_USER_READER, *map(str, paths)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    answers = result.stdout.splitlines()
    assert len(answers) == len(documents), result.stdout
    for name, answer in zip(documents, answers, strict=True):
        assert json.loads(answer) == ("ubuntu" if name == "with-key" else None), name


# --- the external cloud provider ----------------------------------------------------------------------------


@pytest.mark.parametrize("minor", supported_minors())
def test_cloud_provider_manifests_and_images_are_pinned(minor: str) -> None:
    data = example_data()
    data["spec"]["kubernetes"]["version"] = str(kubernetes_release(minor).latest_patch)
    cluster, settings = build(data)
    release = cloud_provider.cloud_provider_release(cluster)
    assert release.release.startswith(f"v{minor}.")
    args = cloud_provider.cloud_provider_kubectl_args(cluster, settings)
    downloads = cloud_provider.cloud_provider_downloads(cluster, settings)
    assert len(downloads) == 8
    assert all(
        d.url.startswith(
            f"https://raw.githubusercontent.com/kubernetes/cloud-provider-openstack/{release.release}/manifests/"
        )
        and re.fullmatch("[0-9a-f]{64}", d.sha256)
        and d.path.startswith(cloud_provider.CLOUD_PROVIDER_MANIFEST_DIR + "/")
        for d in downloads
    )
    # kubectl applies the downloaded, checked files, in the table's order, never a URL.
    assert [a[2] for a in args if a[:2] == ["apply", "-f"]][:8] == [d.path for d in downloads]
    assert not any("://" in word for a in args for word in a)
    images = [a[-1].split("=", 1)[1] for a in args if "set" in a]
    assert images == [
        f"registry.k8s.io/provider-os/openstack-cloud-controller-manager:{release.release}",
        f"registry.k8s.io/provider-os/cinder-csi-plugin:{release.release}",
        f"registry.k8s.io/provider-os/cinder-csi-plugin:{release.release}",
    ]
    assert args[-1] == ["apply", "-f", cloud_provider.STORAGE_CLASS_PATH]


def test_cloud_provider_kubelet_args_and_files() -> None:
    cluster, settings = build(example_data())
    assert cloud_provider.kubelet_extra_args(settings) == {"cloud-provider": "external"}
    files = cloud_provider.cloud_provider_guest_files(cluster, settings, cluster.first_control_plane)
    assert [(f.path, f.permissions, f.secret) for f in files] == [(cloud_provider.STORAGE_CLASS_PATH, "0644", False)]
    assert parse_yaml(files[0].content)["provisioner"] == "cinder.csi.openstack.org"
    assert cloud_provider.cloud_provider_guest_files(cluster, settings, cluster.control_planes[1]) == []
    off = dataclasses.replace(settings, cloud_provider=False)
    assert cloud_provider.kubelet_extra_args(off) == {}
    assert cloud_provider.cloud_provider_kubectl_args(cluster, off) == []
    assert cloud_provider.cloud_provider_guest_files(cluster, off, cluster.first_control_plane) == []


def test_cloud_conf_is_a_template_without_credentials(kit_dir: Path) -> None:
    text = (kit_dir / "cloud.conf.template").read_text(encoding="utf-8")
    assert "application-credential-secret = REPLACE_WITH_APPLICATION_CREDENTIAL_SECRET" in text
    assert "kubectl -n kube-system create secret generic cloud-config --from-file=cloud.conf=./cloud.conf" in text
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = (s.strip() for s in line.partition("="))
            if "secret" in key or "password" in key or key.endswith("-id"):
                assert value.startswith("REPLACE_WITH_"), line


def test_no_kit_and_no_cloud_conf_without_the_section(tmp_path: Path) -> None:
    data = copy.deepcopy(example_data())
    data["spec"]["openstack"]["cloudProvider"]["enabled"] = False
    cluster, settings = build(data)
    files = emit_openstack.openstack_files(cluster, settings, {})
    assert sorted(files) == [
        "openstack/launch.sh",
        "openstack/replace.sh",
        "openstack/stack.yaml",
        "openstack/teardown.sh",
    ]
