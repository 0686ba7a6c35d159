"""openstack.apiAllowedCidrs: who may reach the API port. The kit's security group allows only those
CIDRs (plus the node subnet with the load balancer) instead of 0.0.0.0/0, launch.sh passes them to the
Octavia listener (--allowed-cidr, python-octaviaclient octaviaclient/osc/v2/listener.py) and stack.yaml
sets the listener's allowed_cidrs (Heat >= 14.0.0, heat/engine/resources/openstack/octavia/listener.py).
Unset, the API stays open to 0.0.0.0/0."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from generator.emit import heat
from generator.emit import openstack as emit_openstack
from generator.emit.openstack_kit import ANYWHERE, Kit
from tests.conftest import shellcheck
from tests.test_openstack import build, edit, problems

CLIENTS = ["203.0.113.0/24", "198.51.100.7/32"]


def _kit(data: dict[str, Any]) -> Kit:
    cluster, settings = build(data)
    return emit_openstack.kit(cluster, settings, {})


def _api_rules(kit: Kit) -> list[str | None]:
    port = 6443
    return [r.remote_ip for r in kit.rules if r.port_min == port and r.remote_group is None]


def test_unset_leaves_the_api_open() -> None:
    kit = _kit(edit({}))
    assert _api_rules(kit) == [ANYWHERE]
    assert kit.load_balancer is not None and kit.load_balancer.allowed_cidrs == ()
    assert "--allowed-cidr" not in emit_openstack.launch_script(kit)
    assert "allowed_cidrs" not in heat.heat_template(kit)["resources"]["api-listener"]["properties"]


def test_restricted_api_in_rules_listener_and_heat(tmp_path: Path) -> None:
    kit = _kit(edit({"openstack.apiAllowedCidrs": CLIENTS}))
    expected = [*CLIENTS, "10.0.0.0/24"]  # the example's networking.nodeSubnet, for the load balancer
    assert _api_rules(kit) == expected
    assert ANYWHERE not in {r.remote_ip for r in kit.rules}
    assert kit.load_balancer is not None and kit.load_balancer.allowed_cidrs == tuple(expected)
    script = emit_openstack.launch_script(kit)
    listener = next(line for line in script.splitlines() if "loadbalancer listener create" in line)
    words = shlex.split(listener)
    assert [words[i + 1] for i, w in enumerate(words) if w == "--allowed-cidr"] == expected
    assert words.index("--allowed-cidr") < words.index("--")  # options before the positional name
    properties = heat.heat_template(kit)["resources"]["api-listener"]["properties"]
    assert properties["allowed_cidrs"] == expected
    shellcheck({"launch.sh": script, "teardown.sh": emit_openstack.teardown_script(kit)}, tmp_path)


def test_kube_vip_restricts_the_security_group_only() -> None:
    data = edit({"controlPlane.loadBalancer": "kube-vip", "openstack.loadBalancer.enabled": False})
    data["spec"]["openstack"].pop("floatingIpNetwork")
    data["spec"]["openstack"]["loadBalancer"].pop("vipAddress")
    data["spec"]["openstack"]["apiAllowedCidrs"] = CLIENTS
    kit = _kit(data)
    assert _api_rules(kit) == CLIENTS  # the nodes reach the API through the node-group rules
    assert kit.load_balancer is None


def test_bad_cidrs_are_refused() -> None:
    found = problems(edit({"openstack.apiAllowedCidrs": ["10.0.0.1/24", "2001:db8::/32", "nope"]}))
    assert any("apiAllowedCidrs[0]: '10.0.0.1/24' is not a valid CIDR" in p for p in found), found
    assert any("apiAllowedCidrs[1]: 2001:db8::/32 is IPv6" in p for p in found), found
    assert any("apiAllowedCidrs[2]: 'nope' is not a valid CIDR" in p for p in found), found
    data = edit({"openstack.apiAllowedCidrs": CLIENTS})
    del data["spec"]["networking"]["nodeSubnet"]
    assert any("restricting the API needs networking.nodeSubnet" in p for p in problems(data))
