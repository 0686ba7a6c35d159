"""``kgen restore``: the first control-plane node's user-data in restore mode.

The node boots as usual, but right before ``kubeadm init`` its first-boot script runs
``kgen-etcd-restore`` (:data:`RESTORE_SCRIPT`): it fetches the snapshot (an https URL such as a Swift
temp URL, or a path on the node such as an attached volume), verifies it (sha256 when given, then
``etcdutl snapshot status``) and restores it with ``etcdutl snapshot restore`` into /var/lib/etcd as
this node's member. ``kubeadm init`` then runs with the cluster's CAs from the secrets bundle (as in a
normal render), skipping only the preflight check that refuses a non-empty etcd data directory. The
CA stays the bundle's, so every join rendered by ``kgen render`` still matches its pinned CA hash.

The member's name and peer URL are those kubeadm's etcd static pod uses (getEtcdCommand in
cmd/kubeadm/app/phases/etcd/local.go, v1.33): ``--name`` is the node name and the peer URL is
``https://<localAPIEndpoint.advertiseAddress>:2380`` (etcdutil.GetPeerURL, EtcdListenPeerPort in
cmd/kubeadm/app/constants/constants.go); the data dir is etcd.local.dataDir, /var/lib/etcd by default.

It builds on :mod:`generator.etcd_backup` (the pinned etcd tools), so it sits one layer above the
feature modules, beside :mod:`generator.prepare`; the plan asks it for the restore step's files."""

from __future__ import annotations

import re

from generator import __version__, etcd_backup, guest, templating
from generator.errors import UserError
from generator.guest import GuestFile
from generator.model import Cluster, Node
from generator.records import record

RESTORE_SCRIPT = guest.ETCD_RESTORE_SCRIPT
# etcd.local.dataDir's default: DefaultEtcdDataDir in cmd/kubeadm/app/apis/kubeadm/v1beta4/defaults.go
# (kgen's ClusterConfiguration does not set etcd.local.dataDir).
ETCD_DATA_DIR = "/var/lib/etcd"
WORK_DIR = guest.ETCD_RESTORE_WORK_DIR
ETCD_PEER_PORT = 2380  # EtcdListenPeerPort, cmd/kubeadm/app/constants/constants.go
# DirAvailableCheck{Path: cfg.Etcd.Local.DataDir} in RunInitNodeChecks; its Name() is
# "DirAvailable-" + the path with "/" replaced by "-" (cmd/kubeadm/app/preflight/checks.go).
IGNORE_PREFLIGHT = "DirAvailable-" + ETCD_DATA_DIR.replace("/", "-")
# Where `kgen restore` writes: beside the cluster's folder, which `kgen render` replaces as a whole.
# A cluster name is a DNS-1123 label, so "<cluster>.restore" never names another cluster's folder.
OUTPUT_SUFFIX = ".restore"

_SHA256 = re.compile(r"[0-9a-f]{64}")
_URL = re.compile(r"https://[A-Za-z0-9.-]+(:[0-9]{1,5})?/[\x21-\x7e]*")
_PATH = re.compile(r"/[\x21-\x7e]*")


@record
class EtcdRestore:
    """What ``kgen restore`` was asked for: the snapshot's source and, optionally, its sha256."""

    source: str  # an https URL or an absolute path on the node
    sha256: str | None = None


def request(source: str, sha256: str | None) -> EtcdRestore:
    """Check ``kgen restore``'s arguments; raises :class:`UserError` with the fix."""
    if _URL.fullmatch(source) is None and _PATH.fullmatch(source) is None:
        raise UserError(
            "--snapshot must be an https URL (a Swift temp URL, a presigned S3 URL) or an absolute path on the "
            f"node (an attached volume), without spaces; got {source[:80]!r}"
        )
    if _PATH.fullmatch(source) and "/../" in source + "/":
        raise UserError("--snapshot must be a plain absolute path (no '..')")
    digest = None
    if sha256 is not None:
        digest = sha256.strip().lower().removeprefix("sha256:")
        if _SHA256.fullmatch(digest) is None:
            raise UserError(f"--sha256 must be 64 hexadecimal digits (sha256sum's output); got {sha256[:80]!r}")
    return EtcdRestore(source=source, sha256=digest)


def peer_url(node: Node) -> str:
    """``https://<ip>:2380`` (an IPv6 address in brackets, as net.JoinHostPort writes it)."""
    if node.ip is None:
        raise UserError(
            f"kgen restore needs the IP of node {node.name}: the restored etcd member's peer URL is "
            "https://<ip>:2380, the address kubeadm's etcd static pod advertises; set the node's ip"
        )
    host = f"[{node.ip}]" if ":" in node.ip else node.ip
    return f"https://{host}:{ETCD_PEER_PORT}"


def restore_script(
    cluster: Cluster,
    node: Node,
    restore: EtcdRestore,
    *,
    tools: etcd_backup.EtcdTools | None = None,
    tools_path: str | None = None,
    data_dir: str = ETCD_DATA_DIR,
    work_dir: str = WORK_DIR,
) -> str:
    """The restore step's script. ``tools_path``, ``data_dir`` and ``work_dir`` exist for tests."""
    tools = tools or etcd_backup.etcd_tools(cluster)
    return templating.render(
        "etcd-backup/kgen-etcd-restore.sh.j2",
        kgen_version=__version__,
        cluster_name=cluster.name,
        node_name=node.name,
        peer_url=peer_url(node),
        source=restore.source,
        sha256=restore.sha256 or "",
        data_dir=data_dir,
        work_dir=work_dir,
        tools=tools,
        tools_dir=tools_path or etcd_backup.tools_dir(tools),
        tools_script=etcd_backup.TOOLS_SCRIPT,
        proxy=cluster.proxy,  # hook (issue 15): curl through spec.proxy
    )


def guest_files(cluster: Cluster, node: Node, restore: EtcdRestore) -> list[GuestFile]:
    """The restore script, and etcdutl's installer (which a node whose backups are disabled lacks).
    A golden image holds etcdutl already; the installer is then a no-op."""
    files = [GuestFile(RESTORE_SCRIPT, restore_script(cluster, node, restore), "0700")]
    if not etcd_backup.guest_files(cluster, cluster.etcd_backup, node):
        files.insert(0, GuestFile(etcd_backup.TOOLS_SCRIPT, etcd_backup.tools_script(cluster), "0700"))
    return files
