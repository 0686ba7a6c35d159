"""Kgen issue 10, defect 5: pods must not reach the cloud metadata service (169.254.169.254), which
serves a node's user-data (CA keys, bootstrap token) for the server's whole life.

The configure phase loads an nftables table of kgen's own that drops forwarded traffic to it. These
tests check that every node of every valid example gets it, that the real ``nft`` accepts the rules,
that the rules drop a pod's packets routed through a node while the node's own processes still reach
the service (network namespaces built here, nothing leaves the machine), and that the configure step
is idempotent when run twice in the bootstrap sandbox."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from generator import prepare, templating
from tests.conftest import Rendered, parse_yaml, require_tool, valid_cases, validators_required
from tests.matrix import cluster_for
from tests.sandbox import STANDIN_BIN, Sandbox

HEREDOC = re.compile(r"write_file \"\$\{rules\}\" 0644 <<'KGEN_EOF'\n(.*?)KGEN_EOF\n", re.DOTALL)


def require_root(reason: str) -> None:
    if os.geteuid() != 0:
        if validators_required():
            pytest.fail(f"{reason} needs root (KGEN_REQUIRE_VALIDATORS=1)")
        pytest.skip(f"{reason} needs root")


def configure_script_of(rendered: Rendered, node: str) -> str:
    for entry in rendered.user_data(node)["write_files"]:
        if entry["path"] == prepare.CONFIGURE_PATH:
            content: str = entry["content"]
            return content
    raise AssertionError(f"{node}: no {prepare.CONFIGURE_PATH} in its user-data")


# --- Present for every node, both roles, every CNI -----------------------------------------------------


def test_every_node_of_every_example_blocks_the_metadata_service(rendered_valid: dict[str, Rendered]) -> None:
    ruleset = prepare.metadata_ruleset()
    seen_cni: set[str] = set()
    seen_roles: set[str] = set()
    for case in valid_cases():
        rendered = rendered_valid[case.name]
        cni = parse_yaml((case / "cluster.yaml").read_text(encoding="utf-8"))["spec"].get("cni", {})
        seen_cni.add(cni.get("plugin", "calico"))
        for summary in rendered.result.nodes:
            seen_roles.add(summary.role)
            script = configure_script_of(rendered, summary.name)
            # The rules, byte for byte, and the step run for any role (in the cluster-wide part, which a
            # golden image's bake ran) before forwarding is on.
            assert HEREDOC.findall(script) == [ruleset], f"{case.name}/{summary.name}"
            assert prepare.metadata_unit() in script
            calls = [line.strip() for line in script.splitlines() if re.fullmatch(r"(  )?[a-z_]+", line)]
            assert "block_metadata_from_pods" in calls, f"{case.name}/{summary.name}"
            assert calls.index("block_metadata_from_pods") < calls.index("sysctls")
            bootstrap = (rendered.root / "nodes" / summary.name / "bootstrap.sh").read_text(encoding="utf-8")
            assert "\n  run_configure_phase\n" in bootstrap, f"{case.name}/{summary.name} never runs configure"
    assert seen_cni >= {"calico", "cilium", "flannel", "none"}
    assert seen_roles == {"control-plane", "worker"}


def test_the_rules_drop_only_forwarded_traffic_to_the_metadata_address() -> None:
    ruleset = prepare.metadata_ruleset()
    assert "table inet kgen_metadata {" in ruleset
    assert "type filter hook forward priority filter - 10; policy accept;" in ruleset
    rules = [line.strip() for line in ruleset.splitlines() if line.strip().startswith("ip ")]
    assert rules == ["ip daddr 169.254.169.254 counter drop"]
    assert "hook output" not in ruleset and "hook input" not in ruleset
    assert "flush ruleset" not in ruleset  # never touches other tables


def test_cilium_keeps_legacy_host_routing(rendered_valid: dict[str, Rendered]) -> None:
    """eBPF host routing would bypass netfilter in the host namespace, and with it the forward-hook drop."""
    path = "/etc/kgen/cni/cilium-values.yaml"
    rendered = rendered_valid["pools-labels-taints-cilium"]
    for summary in rendered.result.nodes:
        for entry in rendered.user_data(summary.name)["write_files"]:
            if entry["path"] == path:
                values = parse_yaml(entry["content"])
                assert values["bpf"]["hostLegacyRouting"] is True
                assert values["kubeProxyReplacement"] is False
                return
    raise AssertionError(f"no {path} in any node's user-data")


def test_unit_loads_the_rules_early_and_is_enabled_for_boot() -> None:
    unit = prepare.metadata_unit()
    assert f"ExecStart=/usr/sbin/nft -f {prepare.METADATA_RULES_PATH}\n" in unit
    assert "DefaultDependencies=no\n" in unit and "WantedBy=sysinit.target\n" in unit
    before = next(line for line in unit.splitlines() if line.startswith("Before="))
    assert {"kubelet.service", "containerd.service", "crio.service", "network-pre.target"} <= set(
        before.removeprefix("Before=").split()
    )
    after = next(line for line in unit.splitlines() if line.startswith("After="))
    assert {"nftables.service", "firewalld.service"} <= set(after.removeprefix("After=").split())


def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    tool = require_tool("systemd-analyze", reason="Debian package systemd")
    unit = tmp_path / prepare.METADATA_UNIT
    unit.write_text(prepare.metadata_unit(), encoding="utf-8")
    result = subprocess.run([tool, "verify", str(unit)], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and result.stderr == "", result.stderr


# --- The real nft ---------------------------------------------------------------------------------------


def test_rules_pass_nft_check(tmp_path: Path) -> None:
    nft = require_tool("nft", reason="Debian package nftables")
    unshare = require_tool("unshare", reason="util-linux")
    require_root("nft -c in a private network namespace")
    rules = tmp_path / "metadata-block.nft"
    rules.write_text(prepare.metadata_ruleset(), encoding="utf-8")
    # Twice in one namespace: the second load replaces the table (the delete needs it present).
    script = f'set -e; {nft} -c -f "$1"; {nft} -f "$1"; {nft} -f "$1"; {nft} list ruleset'
    result = subprocess.run(
        [unshare, "--net", "bash", "-c", script, "check", str(rules)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("table inet kgen_metadata") == 1
    assert result.stdout.count("drop") == 1


# --- Pod traffic dropped, the node's own traffic passes ------------------------------------------------------

LISTENER = r"""
import socket, sys
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind((sys.argv[1], int(sys.argv[2])))
server.listen(16)
print("ready", flush=True)
while True:
    conn, peer = server.accept()
    print(peer[0], flush=True)
    conn.sendall(b"user-data\n")
    conn.close()
"""
CLIENT = r"""
import socket, sys
try:
    with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3])) as conn:
        print(conn.recv(64).decode().strip())
except TimeoutError:
    print("timeout")
except OSError as error:
    print(f"error {error.errno}")
"""
POD_IP = "10.244.1.2"
NODE_UPLINK = "10.99.0.1"
SERVICE_IP = "10.96.0.10"  # a ClusterIP the node DNATs to the metadata service, as kube-proxy would
PORT = "80"


class Namespaces:
    """pod --veth-- node --veth-- cloud. The cloud namespace holds 169.254.169.254 and a listener, like the
    metadata proxy behind a real node's uplink; the node routes pod traffic to it (forward hook) and
    reaches it itself (output hook)."""

    def __init__(self, ip: str, prefix: str) -> None:
        self.ip = ip
        self.pod, self.node, self.cloud = (f"{prefix}-{name}" for name in ("pod", "node", "cloud"))

    def run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([self.ip, *argv], capture_output=True, text=True, check=False)
        assert result.returncode == 0, f"ip {' '.join(argv)}: {result.stderr}"
        return result

    def exec(self, ns: str, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([self.ip, "netns", "exec", ns, *argv], capture_output=True, text=True, check=False)

    def create(self) -> None:
        for ns in (self.pod, self.node, self.cloud):
            self.run("netns", "add", ns)
            self.run("-n", ns, "link", "set", "lo", "up")
        self.run("-n", self.node, "link", "add", "pod0", "type", "veth", "peer", "name", "eth0", "netns", self.pod)
        self.run("-n", self.node, "link", "add", "up0", "type", "veth", "peer", "name", "eth0", "netns", self.cloud)
        self.run("-n", self.pod, "addr", "add", f"{POD_IP}/24", "dev", "eth0")
        self.run("-n", self.node, "addr", "add", "10.244.1.1/24", "dev", "pod0")
        self.run("-n", self.node, "addr", "add", f"{NODE_UPLINK}/24", "dev", "up0")
        self.run("-n", self.cloud, "addr", "add", "10.99.0.2/24", "dev", "eth0")
        self.run("-n", self.cloud, "addr", "add", f"{prepare.METADATA_ADDRESS}/32", "dev", "lo")
        for ns, dev in ((self.pod, "eth0"), (self.node, "pod0"), (self.node, "up0"), (self.cloud, "eth0")):
            self.run("-n", ns, "link", "set", dev, "up")
        self.run("-n", self.pod, "route", "add", "default", "via", "10.244.1.1")
        self.run("-n", self.cloud, "route", "add", "default", "via", NODE_UPLINK)
        self.run("-n", self.node, "route", "add", f"{prepare.METADATA_ADDRESS}/32", "via", "10.99.0.2")
        result = self.exec(self.node, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
        assert result.returncode == 0, result.stderr

    def delete(self) -> None:
        for ns in (self.pod, self.node, self.cloud):
            subprocess.run([self.ip, "netns", "del", ns], capture_output=True, check=False)

    def connect(self, ns: str, address: str, timeout: float = 5.0) -> str:
        result = self.exec(ns, sys.executable, "-c", CLIENT, address, PORT, str(timeout))
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()


@pytest.fixture
def namespaces() -> Iterator[Namespaces]:
    require_root("building network namespaces")
    ip = require_tool("ip", reason="Debian package iproute2")
    require_tool("nft", reason="Debian package nftables")
    spaces = Namespaces(ip, f"kgen-md{os.getpid()}")
    try:
        spaces.create()
        yield spaces
    finally:
        spaces.delete()


def test_pod_traffic_is_dropped_and_the_node_keeps_access(namespaces: Namespaces, tmp_path: Path) -> None:
    ns = namespaces
    rules = tmp_path / "metadata-block.nft"
    rules.write_text(prepare.metadata_ruleset(), encoding="utf-8")
    # kube-proxy's part in the test: a Service IP DNATed (prerouting) to the metadata service.
    dnat = tmp_path / "service.nft"
    dnat.write_text(
        "table ip test_service {\n"
        "\tchain prerouting {\n"
        "\t\ttype nat hook prerouting priority dstnat; policy accept;\n"
        f"\t\tip daddr {SERVICE_IP} tcp dport {PORT} dnat to {prepare.METADATA_ADDRESS}:{PORT}\n"
        "\t}\n}\n",
        encoding="utf-8",
    )
    assert ns.exec(ns.node, "nft", "-f", str(dnat)).returncode == 0
    listener = subprocess.Popen(
        [ns.ip, "netns", "exec", ns.cloud, sys.executable, "-c", LISTENER, prepare.METADATA_ADDRESS, PORT],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert listener.stdout is not None
        assert listener.stdout.readline().strip() == "ready"
        # Without the rules, the pod reads the user-data, directly and through the Service: the
        # topology routes pod traffic through the node, so what follows is the rules' doing.
        assert ns.connect(ns.pod, prepare.METADATA_ADDRESS) == "user-data"
        assert ns.connect(ns.pod, SERVICE_IP) == "user-data"

        loaded = ns.exec(ns.node, "nft", "-f", str(rules))
        assert loaded.returncode == 0, loaded.stderr
        # A dropped SYN gets no answer at all; an unblocked one is answered within milliseconds on these
        # veths (the 5 s above is a margin for a busy machine). The drop rule's counter below and the
        # listener's log prove the drop itself, so the client waits 1 s for an answer, not 3.
        assert ns.connect(ns.pod, prepare.METADATA_ADDRESS, timeout=1) == "timeout"
        assert ns.connect(ns.pod, SERVICE_IP, timeout=1) == "timeout"
        # The node itself (cloud-init, the kubelet, host-network pods) still gets through.
        assert ns.connect(ns.node, prepare.METADATA_ADDRESS) == "user-data"

        listing = ns.exec(ns.node, "nft", "-j", "list", "table", "inet", prepare.METADATA_TABLE)
        assert listing.returncode == 0, listing.stderr
        counters = [
            expr["counter"]
            for item in json.loads(listing.stdout)["nftables"]
            if "rule" in item
            for expr in item["rule"]["expr"]
            if "counter" in expr
        ]
        assert len(counters) == 1 and counters[0]["packets"] >= 2  # at least one SYN per blocked attempt
    finally:
        listener.kill()
        out, _ = listener.communicate()
    # Who reached the listener: the pod twice before the rules, the node once after; never the pod after.
    assert out.split() == [POD_IP, POD_IP, NODE_UPLINK]


# --- The configure step, run twice in the sandbox ---------------------------------------------------------

# Strict where the step relies on it (systemd's systemctl(1): "is-enabled" prints the state and exits
# non-zero unless enabled; "is-active" exits non-zero unless active, printing nothing with --quiet;
# "enable" and "start" fail for a unit file that does not exist; "start" of a oneshot unit runs its
# ExecStart= and fails when that fails).
SYSTEMCTL = """#!/bin/bash
# TEST STAND-IN for systemctl: daemon-reload, is-enabled, enable, is-active --quiet and start, with
# state under /var/lib.
set -euo pipefail
echo "systemctl $*" >> /var/lib/standin-calls.log
enabled=/var/lib/standin-systemctl.enabled
active=/var/lib/standin-systemctl.active
touch "$enabled" "$active"
verb=$1
[[ "$verb" == daemon-reload ]] && exit 0
if [[ "$verb" == is-active ]]; then
  [[ "${2:-}" == --quiet ]] || { echo "systemctl stand-in: only is-active --quiet" >&2; exit 1; }
  grep -qx "$3" "$active"
  exit
fi
unit=$2
file=/etc/systemd/system/$unit
if [[ ! -f "$file" ]]; then
  echo "Failed to $verb unit: Unit file $unit does not exist." >&2
  exit 1
fi
case "$verb" in
  enable) grep -qx "$unit" "$enabled" || echo "$unit" >> "$enabled" ;;
  is-enabled)
    if grep -qx "$unit" "$enabled"; then echo enabled; exit 0; fi
    echo disabled
    exit 1
    ;;
  start)
    grep -qx "$unit" "$active" && exit 0
    $(sed -n 's/^ExecStart=//p' "$file")
    echo "$unit" >> "$active"
    ;;
  *) echo "systemctl stand-in: unsupported: $*" >&2; exit 1 ;;
esac
"""
STEP = "/usr/local/sbin/kgen-metadata-step"


def step_script() -> str:
    """The configure phase's metadata step alone: the same templates configure.sh includes."""
    template = templating.environment().from_string(
        "#!/usr/bin/env bash\nset -euo pipefail\n"
        '{% set log_tag = "kgen-configure" %}{% include "prepare/_common.sh.j2" %}\n'
        '{% include "prepare/_metadata_block.sh.j2" %}\nblock_metadata_from_pods\n'
    )
    return template.render(metadata=prepare.metadata_block())


def test_step_is_the_one_in_configure_sh() -> None:
    function = templating.render("prepare/_metadata_block.sh.j2", metadata=prepare.metadata_block())
    assert function in step_script()
    for os_name in ("debian-12", "rocky-9"):
        assert function in prepare.configure_script(cluster_for(os_name, "1.34.3"))


def test_configure_step_applies_the_block_idempotently(tmp_path: Path) -> None:
    require_tool("nft", reason="Debian package nftables")
    box = Sandbox.create(tmp_path)
    box.write(f"{STANDIN_BIN}/systemctl", SYSTEMCTL, 0o755)
    box.write(STEP, step_script(), 0o755)
    marker = "=== run"
    # One network namespace for all runs: a second run finds the table; after a flush (as
    # nftables.service's start does), a third run loads it again without rewriting anything.
    result = box.run(
        [
            "bash",
            "-c",
            f'set -e; for i in 1 2; do echo "{marker} $i" >&2; {STEP}; done; nft flush ruleset; '
            f'echo "{marker} 3" >&2; {STEP}; nft list ruleset',
        ]
    )
    assert result.returncode == 0, result.stderr
    first, second, third = result.stderr.split(marker)[1:]
    rules, unit = prepare.METADATA_RULES_PATH, prepare.METADATA_UNIT_PATH
    assert f"wrote {rules}" in first and f"wrote {unit}" in first
    assert f"enabled {prepare.METADATA_UNIT}" in first and f"loaded {rules}" in first
    assert f"started {prepare.METADATA_UNIT}" in first
    assert f"unchanged {rules}" in second and f"unchanged {unit}" in second
    for verb in ("wrote", "enabled", "loaded", "started"):
        assert verb not in second
    assert "wrote" not in third and "started" not in third and f"loaded {rules}" in third
    assert result.stdout.count("table inet kgen_metadata") == 1
    assert box.read(rules) == prepare.metadata_ruleset()
    assert box.read(unit) == prepare.metadata_unit()
    assert box.path(rules).stat().st_mode & 0o777 == 0o644
    calls = box.read("/var/lib/standin-calls.log").splitlines()
    assert calls.count("systemctl daemon-reload") == 1
    assert calls.count(f"systemctl enable {prepare.METADATA_UNIT}") == 1
    assert calls.count(f"systemctl start {prepare.METADATA_UNIT}") == 1
    assert box.read("/var/lib/standin-systemctl.enabled").split() == [prepare.METADATA_UNIT]
    assert box.read("/var/lib/standin-systemctl.active").split() == [prepare.METADATA_UNIT]
