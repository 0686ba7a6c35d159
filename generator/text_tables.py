"""Plain-text tables the text reporter prints: the information commands' (``kgen versions``,
``kgen ports``) and the render's node summary."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from generator import __version__
from generator.emit.cloudinit import NOVA_USER_DATA_LIMIT

if TYPE_CHECKING:  # `kgen render` prints through the reporters, which need not import generator.info
    from generator.emit.index import NodeSummary
    from generator.info import PortsReport, VersionsReport

# The render's node summary lists a run of more nodes than this (a worker pool: pool-0, pool-1, ...,
# alike but for their names and sizes) as one row, so a 5,000-node render prints a row per pool.
FOLD_AFTER = 10
_NUMBERED = re.compile(r"(.+)-(0|[1-9][0-9]*)")


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "") -> list[str]:
    """Left-aligned columns, two spaces apart, no trailing blanks."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    return [
        (indent + "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True))).rstrip()
        for row in (headers, *rows)
    ]


def image_tag(image: str) -> tuple[str, str]:
    """``registry.k8s.io/etcd:3.5.15-0`` -> (``registry.k8s.io/etcd``, ``3.5.15-0``)."""
    repository, _, tag = image.rpartition(":")
    return repository, tag


def source_nodes(source: str | None) -> str:
    return f"{source} nodes" if source else "cluster nodes"


def versions_listed_lines(report: VersionsReport) -> list[str]:
    """One row per Kubernetes minor (image tags, CNI versions), then what the columns abbreviate."""
    lines: list[str] = []
    plugins = [c.release.plugin for c in report.cni]
    headers = ["KUBERNETES", "LATEST PATCH", "KUBEADM API", "PAUSE", "ETCD", "COREDNS", "CONTAINERD", "CRI-O"]
    headers += [p.upper() for p in plugins] + ["OPENSTACK CCM"]
    rows = []
    repositories: dict[str, None] = {}
    untested = False
    for m in report.minors:
        r = m.release
        tags = []
        for image in (r.pause_image, r.etcd_image, r.coredns_image):
            repository, tag = image_tag(image)
            repositories[repository] = None
            tags.append(tag)
        cni = []
        for pin in m.cni:
            cni.append(pin.version + ("" if pin.tested else "*"))
            untested = untested or not pin.tested
        api_group, _, api_version = r.kubeadm_api_version.rpartition("/")
        rows.append(
            [
                r.minor,
                str(r.latest_patch),
                api_version,
                *tags,
                r.containerd_package,
                f"v{m.crio_stream}",
                *cni,
                m.openstack_cloud_provider or "-",
            ]
        )
    lines.append(f"Kubernetes versions kgen {__version__} supports, and what it pins for each:")
    lines.append("")
    for line in table(headers, rows):
        lines.append(line)
    lines.append("")
    if untested:
        lines.append("* not listed as tested with that Kubernetes minor (kgen warns when a config uses it)")
    lines.append(f"KUBEADM API: {api_group}/<version>, the kubeadm config API kgen writes")
    lines.append(f"PAUSE, ETCD, COREDNS: tags of {', '.join(repositories)} (kubeadm's images)")
    lines.append("CONTAINERD: the containerd.io package kgen installs; containerd's own minimum per minor:")
    for line in table(
        ["", "", ""],
        [
            [
                m.release.minor,
                f"config version {m.release.containerd_config_version}",
                "minimum " + ", ".join(m.release.containerd_minimums),
            ]
            for m in report.minors
        ],
        indent="  ",
    )[1:]:
        lines.append(line)
    lines.append("CRI-O: the package stream a cri-o runtime installs; OPENSTACK CCM: the cloud provider release")
    etcd = sorted({m.etcd_tools for m in report.minors if m.etcd_tools})
    lines.append(f"etcd backups: etcdctl and etcdutl of the etcd version above ({', '.join(etcd)})")
    for c in report.cni:
        doc = c.to_json()
        extra = [f"operator {doc['operatorImage']}"] if "operatorImage" in doc else []
        extra += [f"Helm chart, helm {doc['helm']}"] if "helm" in doc else []
        tested = ", ".join(doc["kubernetes"]) or "any"
        lines.append(f"{c.release.plugin} {c.release.version}: tested with {tested}" + "".join(f"; {e}" for e in extra))
    for name, image in report.addons.items():
        lines.append(f"{name}: {image}")
    return lines


def ports_listed_lines(report: PortsReport) -> list[str]:
    lines: list[str] = []
    lines.append(
        f"Inbound ports for cluster {report.cluster} (CNI {report.cni}), as each node's firewalld step opens them:"
    )
    for role, rules in report.roles.items():
        lines.append("")
        lines.append(role)
        rows = [[r.port or "-", r.protocol, source_nodes(r.source), r.purpose] for r in rules]
        for line in table(["PORT", "PROTOCOL", "FROM", "PURPOSE"], rows, indent="  "):
            lines.append(line)
    lines.append("")
    lines.append(
        "FROM: which nodes must reach it; kgen's OpenStack kit opens each port to those nodes' security "
        "groups, and the API server port to clients too"
    )
    return lines


def node_summary_lines(nodes: Sequence[NodeSummary]) -> list[str]:
    """The render's per-node table: role, first-boot action and user-data sizes against Nova's limit.

    A run of more than :data:`FOLD_AFTER` nodes named ``NAME-<n>``, ``NAME-<n+1>``, ... that agree on
    role, action, compression and CA keys is one row, ``NAME-<first>..<last>``, with the run's largest
    sizes (the ones to hold against the limit)."""
    lines = [
        f"{'node':<24} {'role':<14} {'action':<19} {'user-data':>10} {'base64':>8}  (Nova limit {NOVA_USER_DATA_LIMIT})"
    ]
    for run in _runs(nodes):
        if len(run) > FOLD_AFTER:
            name = f"{run[0].name}..{run[-1].name.rpartition('-')[2]}"
            lines.append(_row(name, run, f"  ({len(run)} nodes; the largest sizes)"))
        else:
            lines.extend(_row(node.name, [node]) for node in run)
    return lines


def _row(name: str, run: Sequence[NodeSummary], note: str = "") -> str:
    """One row: ``name``, what the run's nodes share, and their largest sizes."""
    first = run[0]
    gz = ", gzipped" if first.gzipped else ""
    keys = "  holds CA keys" if first.holds_private_keys else ""
    return (
        f"{name:<24} {first.role:<14} {first.action:<19} {max(n.user_data_bytes for n in run):>10} "
        f"{max(n.user_data_base64_bytes for n in run):>8}{gz}{keys}{note}"
    )


def _runs(nodes: Sequence[NodeSummary]) -> list[list[NodeSummary]]:
    """The nodes in order, in runs of alike nodes numbered one after another (NAME-<n>, NAME-<n+1>, ...);
    a node outside such a run is a run of one. Each name is matched once."""
    runs: list[list[NodeSummary]] = []
    previous: tuple[str, int, tuple[str, str, bool, bool]] | None = None
    for node in nodes:
        numbered = _NUMBERED.fullmatch(node.name)
        alike = (node.role, node.action, node.gzipped, node.holds_private_keys)
        place = (numbered[1], int(numbered[2]), alike) if numbered else None
        if runs and place and previous == (place[0], place[1] - 1, alike):
            runs[-1].append(node)
        else:
            runs.append([node])
        previous = place
    return runs
