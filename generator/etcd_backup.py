"""Scheduled etcd snapshots on control-plane nodes: a oneshot service and its timer, the backup script,
and the script that installs the pinned etcdctl and etcdutl.

Where etcdctl comes from: a pinned etcd release download, checked with sha256 before it is unpacked
(``etcdTools`` in the version table), fetched by ``kgen-etcd-tools`` (the service's ExecStartPre, so a
golden image that already holds the tools skips it, and a failed download is retried at the next run
instead of failing the node's bootstrap). Not the etcd image's binary: registry.k8s.io/etcd carries etcd
and etcdctl only, and etcd 3.6 removed ``etcdctl snapshot status`` and ``snapshot restore``, so checking
a snapshot and restoring one need etcdutl; copying a binary out of an image also needs a
runtime-specific tool (``ctr`` has no CRI-O counterpart), and a restore runs while etcd is stopped.

A feature module at the plan level: it imports the model and the foundation only; the plan asks it for
each node's files and commands (the settings, :class:`generator.model.EtcdBackup`, are the model's)."""

from __future__ import annotations

from generator import __version__, guest, mirrors, templating, versions
from generator.guest import GuestFile
from generator.model import Cluster, Node
from generator.records import record
from generator.settings import EtcdBackup

SERVICE = guest.ETCD_BACKUP_SERVICE
TIMER = guest.ETCD_BACKUP_TIMER
UNIT_DIR = guest.UNIT_DIR
BACKUP_SCRIPT = guest.ETCD_BACKUP_SCRIPT
TOOLS_SCRIPT = guest.ETCD_TOOLS_SCRIPT
TOOLS_ROOT = guest.ETCD_TOOLS_ROOT
TOOLS_LINK_DIR = guest.ETCD_TOOLS_LINK_DIR

# kubeadm's names: cmd/kubeadm/app/constants/constants.go (EtcdCACertName "etcd/ca.crt",
# EtcdHealthcheckClientCertName "etcd/healthcheck-client.crt", EtcdHealthcheckClientKeyName
# "etcd/healthcheck-client.key", EtcdListenClientPort 2379). etcd runs without etcd auth, so any client
# certificate signed by the etcd CA may take a snapshot.
ETCD_PKI_DIR = "/etc/kubernetes/pki/etcd"
ETCD_CA = f"{ETCD_PKI_DIR}/ca.crt"
ETCD_CLIENT_CERT = f"{ETCD_PKI_DIR}/healthcheck-client.crt"
ETCD_CLIENT_KEY = f"{ETCD_PKI_DIR}/healthcheck-client.key"
ETCD_ENDPOINT = "https://127.0.0.1:2379"
# The longest a snapshot save may take before the script stops it: etcdctl has no limit of its own
# (etcd-io/etcd#10298). Generous for a large database; an unreachable member fails the health check,
# which runs first, within a minute.
SAVE_TIMEOUT_SECONDS = 600
# etcdctl's own bounds on the health check that runs before the save: --dial-timeout and
# --command-timeout (seconds). A stopped member fails the check after the command timeout; `timeout`
# stops the check after HEALTH_TIMEOUT_SECONDS even if etcdctl ignores its own bounds.
DIAL_TIMEOUT_SECONDS = 5
COMMAND_TIMEOUT_SECONDS = 15
HEALTH_TIMEOUT_SECONDS = 30
# Only a node that runs an etcd member (a kubeadm control-plane node with stacked etcd) backs up.
ETCD_MANIFEST = "/etc/kubernetes/manifests/etcd.yaml"


# rclone's limits for the remote copy: connect and idle-I/O timeouts inside rclone, and `timeout` around
# every rclone call, so a storage endpoint that stops answering fails the run instead of holding it.
RCLONE_TIMEOUT_SECONDS = 1800


@record
class EtcdTools:
    """The etcd release whose etcdctl and etcdutl the backup uses: the version kubeadm runs."""

    version: str
    url: str
    sha256: str

    @property
    def archive_dir(self) -> str:
        """The top folder inside the release archive."""
        return f"etcd-v{self.version}-linux-amd64"


def needs_rclone(backup: EtcdBackup) -> bool:
    """Whether nodes need rclone: the install phase adds the distribution's package (and so a golden
    image holds it)."""
    return backup.enabled and backup.remote is not None


def etcd_version(etcd_image: str) -> str:
    """``registry.k8s.io/etcd:3.5.24-0`` -> ``3.5.24`` (the image tag's ``-N`` is the image revision)."""
    tag = etcd_image.rsplit(":", 1)[1]
    return tag.split("-", 1)[0]


def etcd_tools(cluster: Cluster) -> EtcdTools:
    version = etcd_version(cluster.kubernetes.etcd_image)
    entry = versions.table()["etcdTools"][version]
    # hook (issue 15): the download mirror serves the same pinned archive
    return EtcdTools(
        version=version, url=mirrors.download_url(cluster.mirrors, str(entry["url"])), sha256=str(entry["sha256"])
    )


def tools_dir(tools: EtcdTools) -> str:
    return f"{TOOLS_ROOT}/v{tools.version}"


def backup_script(
    cluster: Cluster,
    backup: EtcdBackup,
    node: Node,
    *,
    tools: EtcdTools | None = None,
    tools_path: str | None = None,
    pki_dir: str = ETCD_PKI_DIR,
    endpoint: str = ETCD_ENDPOINT,
    save_timeout: int = SAVE_TIMEOUT_SECONDS,
    dial_timeout: int = DIAL_TIMEOUT_SECONDS,
    command_timeout: int = COMMAND_TIMEOUT_SECONDS,
    health_timeout: int = HEALTH_TIMEOUT_SECONDS,
) -> str:
    """The script the service runs. ``tools_path``, ``pki_dir``, ``endpoint`` and the timeouts (seconds)
    exist for tests."""
    tools = tools or etcd_tools(cluster)
    return templating.render(
        "etcd-backup/kgen-etcd-backup.sh.j2",
        kgen_version=__version__,
        cluster_name=cluster.name,
        node_name=node.name,
        backup=backup,
        tools=tools,
        tools_dir=tools_path or tools_dir(tools),
        tools_script=TOOLS_SCRIPT,
        endpoint=endpoint,
        save_timeout=save_timeout,
        dial_timeout=dial_timeout,
        command_timeout=command_timeout,
        health_timeout=health_timeout,
        remote=backup.remote,
        rclone_timeout=RCLONE_TIMEOUT_SECONDS,
        ca=f"{pki_dir}/ca.crt",
        cert=f"{pki_dir}/healthcheck-client.crt",
        key=f"{pki_dir}/healthcheck-client.key",
        proxy=cluster.proxy,  # hook (issue 15): rclone through spec.proxy
    )


def tools_script(
    cluster: Cluster,
    *,
    tools: EtcdTools | None = None,
    tools_path: str | None = None,
    link_dir: str = TOOLS_LINK_DIR,
) -> str:
    """The installer for etcdctl and etcdutl. Run at boot by the service's ExecStartPre; a golden-image
    bake can run it too, so nodes never download at boot. ``tools_path`` and ``link_dir`` exist for tests."""
    tools = tools or etcd_tools(cluster)
    return templating.render(
        "etcd-backup/kgen-etcd-tools.sh.j2",
        kgen_version=__version__,
        tools=tools,
        tools_dir=tools_path or tools_dir(tools),
        link_dir=link_dir,
        proxy=cluster.proxy,  # hook (issue 15): curl through spec.proxy
    )


def service_unit(cluster: Cluster, backup: EtcdBackup, node: Node) -> str:
    return templating.render(
        "etcd-backup/kgen-etcd-backup.service.j2",
        kgen_version=__version__,
        description=templating.unit_text(f"kgen: etcd snapshot of node {node.name} (cluster {cluster.name})"),
        directory=templating.unit_text(backup.directory),
        etcd_manifest=ETCD_MANIFEST,
        tools_script=TOOLS_SCRIPT,
        backup_script=BACKUP_SCRIPT,
    )


def timer_unit(cluster: Cluster, backup: EtcdBackup) -> str:
    return templating.render(
        "etcd-backup/kgen-etcd-backup.timer.j2",
        kgen_version=__version__,
        description=templating.unit_text(f"kgen: scheduled etcd snapshots (cluster {cluster.name})"),
        schedule=templating.unit_text(backup.schedule),
        service=SERVICE,
    )


def guest_files(cluster: Cluster, backup: EtcdBackup, node: Node) -> list[GuestFile]:
    """What a control-plane node's user-data writes for the backups; nothing when they are disabled or
    ``node`` is a worker. The first-boot script then runs :func:`enable_commands`."""
    if not backup.enabled or not node.is_control_plane:
        return []
    return [
        GuestFile(TOOLS_SCRIPT, tools_script(cluster), "0700"),
        GuestFile(BACKUP_SCRIPT, backup_script(cluster, backup, node), "0700"),
        GuestFile(f"{UNIT_DIR}/{SERVICE}", service_unit(cluster, backup, node), "0644"),
        GuestFile(f"{UNIT_DIR}/{TIMER}", timer_unit(cluster, backup), "0644"),
    ]


def enable_commands(backup: EtcdBackup, node: Node) -> list[list[str]]:
    """Commands (argv lists) the first-boot script runs on a control-plane node once kubeadm init or
    join succeeded. Starting the timer does not take a snapshot; the first comes at the next scheduled
    time (``systemctl start kgen-etcd-backup.service`` takes one now)."""
    if not backup.enabled or not node.is_control_plane:
        return []
    return [["systemctl", "daemon-reload"], ["systemctl", "enable", "--now", TIMER]]
