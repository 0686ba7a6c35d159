"""Upgrades: ``kgen upgrade CONFIG`` renders a kit that moves a running cluster from the version it was
last rendered at to the one the config names now, with kubeadm's own procedure.

The kit (``OUT/<cluster>/upgrade/<from>-to-<to>/``):

- ``nodes/<node>.sh``: one script per node, run as root over SSH, in two phases. ``kubeadm``: switch the
  pkgs.k8s.io repository to the new minor, unhold/install/re-hold kubeadm, then ``kubeadm upgrade plan``
  and ``kubeadm upgrade apply vX.Y.Z --yes`` on the first control plane or ``kubeadm upgrade node`` on
  every other node. ``kubelet`` (on the drained node): the runtime's pause image when the version table
  says it changed, kubelet and kubectl, a daemon-reload and a kubelet restart. Both phases are idempotent.
- ``etcd-snapshot.sh``: a snapshot on the first control plane before anything changes.
- ``upgrade.sh``: the driver, run on the operator's machine.

The order is kubeadm's (kubernetes.io "Upgrading kubeadm clusters"; cmd/kubeadm/app/cmd/upgrade/apply.go
upgrades the cluster config and the first control plane, cmd/kubeadm/app/cmd/upgrade/node.go reads the
kubernetesVersion that apply wrote to the kubeadm-config ConfigMap and upgrades the node to it).

The version checks mirror kubeadm's skew policy (cmd/kubeadm/app/phases/upgrade/policy.go,
EnforceVersionPolicies: MaximumAllowedMinorVersionUpgradeSkew = 1, "kubeadm can upgrade only 1 minor
version at a time"). kgen is stricter on the way down: kubeadm allows a downgrade of one minor
(MaximumAllowedMinorVersionDowngradeSkew), but etcd's data cannot be downgraded with it, so kgen refuses
every downgrade and points at restoring a snapshot instead."""

from __future__ import annotations

import json
from pathlib import Path

from generator import __version__, prepare, runtimes, templating
from generator.errors import Problem, UserError
from generator.etcd_backup import BACKUP_SCRIPT, ETCD_CA, ETCD_CLIENT_CERT, ETCD_CLIENT_KEY, ETCD_ENDPOINT, SERVICE
from generator.load import Document, KeyPath
from generator.model import Cluster, Node
from generator.records import record
from generator.tree import PUBLIC_MODE, OutputFile
from generator.versions import KubernetesRelease, Version, kubernetes_release, supported_minors

VERSION_PATH: KeyPath = ("spec", "kubernetes", "version")
EXECUTABLE_MODE = 0o755
# kubeadm's admin kubeconfig (cmd/kubeadm/app/constants/constants.go AdminKubeConfigFileName), on every
# control plane kubeadm set up; the driver runs kubectl there, so the operator needs no kubeconfig.
ADMIN_KUBECONFIG = "/etc/kubernetes/admin.conf"
KUBE_APISERVER_MANIFEST = "/etc/kubernetes/manifests/kube-apiserver.yaml"
# Where the snapshot goes when the backup timer is off: etcd's own hostPath volume is the one folder both
# the etcd container and the host see (kubeadm's etcd static pod mounts /var/lib/etcd and
# /etc/kubernetes/pki/etcd, cmd/kubeadm/app/phases/etcd/local.go GetEtcdPodSpec).
POD_SNAPSHOT_NAME = "kgen-pre-upgrade.db"
SNAPSHOT_DIR = "/var/lib/kgen/upgrade-snapshots"


def kit_dir(from_version: Version, to_version: Version) -> str:
    return f"upgrade/{from_version}-to-{to_version}"


# --- the starting version ----------------------------------------------------------------------------


def starting_version(root: Path, override: str | None) -> tuple[Version, str]:
    """The version the cluster runs now and where it came from: ``--from``, else the
    ``kubernetesVersion`` of the last render's nodes.json under ``root`` (OUT/<cluster>)."""
    if override is not None:
        try:
            return Version.parse(override), "--from"
        except ValueError:
            raise UserError(f"--from {override!r}: expected a Kubernetes version such as 1.33.7") from None
    index = root / "nodes.json"
    try:
        data = json.loads(index.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(
            f"no {index}: kgen reads the cluster's current version from the last render; "
            "pass --from VERSION, or --out-dir with the folder you rendered into"
        ) from None
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read {index}: {exc}") from None
    text = data.get("kubernetesVersion") if isinstance(data, dict) else None
    try:
        return Version.parse(str(text)), str(index)
    except ValueError:
        raise UserError(f"{index}: no kubernetesVersion such as 1.33.7 in it (found {text!r})") from None


# --- validation --------------------------------------------------------------------------------------

SKEW_RULE = (
    "kubeadm upgrades one minor version at a time (cmd/kubeadm/app/phases/upgrade/policy.go: "
    '"kubeadm can upgrade only 1 minor version at a time")'
)


def check_versions(doc: Document, from_version: Version, source: str) -> list[Problem]:
    """The upgrade's own problems, at ``spec.kubernetes.version``: a skipped minor, a downgrade, a target
    or a starting version outside the version table. The target is read from the raw config, so these
    are reported next to the config's other problems."""
    raw = doc.data.get("spec", {}).get("kubernetes", {}).get("version") if isinstance(doc.data, dict) else None
    try:
        to_version = Version.parse(str(raw))
    except ValueError:
        return []  # reported by validate
    minors = supported_minors()
    table = f"kgen's version table holds {minors[0]} to {minors[-1]}"
    problems: list[Problem] = []
    was = f"the cluster runs {from_version} ({source})"
    if to_version.minor_key not in minors:
        reachable = [
            m for m in (from_version.minor_key, f"{from_version.major}.{from_version.minor + 1}") if m in minors
        ]
        step = f"the next step kgen knows is {' or '.join(m + '.x' for m in reachable)}" if reachable else "none is"
        problems.append(
            doc.problem(
                VERSION_PATH,
                f"cannot upgrade to {to_version}: Kubernetes {to_version.minor_key} is outside the version table "
                f"({table}); {was}, and {SKEW_RULE}, so {step}",
            )
        )
    if from_version.minor_key not in minors:
        problems.append(
            doc.problem(
                VERSION_PATH,
                f"{was}, which is outside the version table ({table}); upgrade it with the kgen release that "
                "rendered it, or pass --from with the version it runs",
            )
        )
    if to_version < from_version:
        problems.append(
            doc.problem(
                VERSION_PATH,
                f"cannot downgrade from {from_version} to {to_version}: kgen only upgrades. kubeadm's policy "
                "allows at most 1 minor version down (policy.go MaximumAllowedMinorVersionDowngradeSkew) and "
                "never downgrades etcd's data; to go back, restore the etcd snapshot taken before the upgrade",
            )
        )
    elif to_version.major != from_version.major or to_version.minor > from_version.minor + 1:
        skipped = ", ".join(f"{from_version.major}.{m}" for m in range(from_version.minor + 1, to_version.minor))
        problems.append(
            doc.problem(
                VERSION_PATH,
                f"cannot upgrade from {from_version} to {to_version}: that skips Kubernetes {skipped or 'a major'}; "
                f"{SKEW_RULE}, so upgrade to {from_version.major}.{from_version.minor + 1}.x first, then again",
            )
        )
    return problems


# --- the kit -----------------------------------------------------------------------------------------


@record
class NodeStep:
    node: Node
    address: str  # the node's IP from the config, or its name for nodes without one (pool workers)
    action: str  # "apply" on the first control plane, "node" everywhere else


@record
class UpgradeKit:
    cluster: Cluster
    from_version: Version
    to_version: Version
    directory: str  # relative to OUT/<cluster>/
    files: dict[str, OutputFile]  # relative to the kit's own folder, OUT/<cluster>/<directory>/

    @property
    def pause_changes(self) -> bool:
        return pause_changes(self.from_version, self.cluster.kubernetes)


def pause_changes(from_version: Version, to: KubernetesRelease) -> bool:
    return kubernetes_release(from_version.minor_key).pause_image != to.pause_image


def steps(cluster: Cluster) -> list[NodeStep]:
    first = cluster.first_control_plane
    return [NodeStep(node=n, address=n.ip or n.name, action="apply" if n == first else "node") for n in cluster.nodes]


def node_script(cluster: Cluster, from_version: Version, step: NodeStep) -> str:
    plugin = runtimes.plugin(cluster.runtime.name)
    return templating.render(
        f"upgrade/node-{cluster.os_family}.sh.j2",
        kgen_version=__version__,
        cluster=cluster,
        node=step.node,
        action=step.action,
        from_version=str(from_version),
        to_version=str(cluster.kubernetes_version),
        minor=cluster.kubernetes.minor,
        runtime=cluster.runtime,
        pause_changes=pause_changes(from_version, cluster.kubernetes),
        minor_changes=from_version.minor_key != cluster.kubernetes.minor,
        from_pause=kubernetes_release(from_version.minor_key).pause_image,
        # the runtime's pieces (generator/runtimes/base.py) and its files as the configure phase writes them
        runtime_upgrade=plugin.piece(f"upgrade-{cluster.os_family}.sh.j2"),
        runtime_pause=plugin.piece("pause.sh.j2"),
        runtime_plugin=plugin.configure(cluster),
        admin_kubeconfig=ADMIN_KUBECONFIG,
        apiserver_manifest=KUBE_APISERVER_MANIFEST,
        repos=prepare.repositories(cluster),  # the package repositories, or their mirrors
    )


def snapshot_script(cluster: Cluster, from_version: Version) -> str:
    return templating.render(
        "upgrade/etcd-snapshot.sh.j2",
        kgen_version=__version__,
        cluster=cluster,
        node=cluster.first_control_plane,
        from_version=str(from_version),
        to_version=str(cluster.kubernetes_version),
        backup=cluster.etcd_backup,
        backup_service=SERVICE,
        backup_script=BACKUP_SCRIPT,
        endpoint=ETCD_ENDPOINT,
        ca=ETCD_CA,
        cert=ETCD_CLIENT_CERT,
        key=ETCD_CLIENT_KEY,
        pod_snapshot=f"/var/lib/etcd/{POD_SNAPSHOT_NAME}",
        snapshot_dir=SNAPSHOT_DIR,
    )


def driver_script(cluster: Cluster, from_version: Version) -> str:
    all_steps = steps(cluster)
    return templating.render(
        "upgrade/upgrade.sh.j2",
        kgen_version=__version__,
        cluster=cluster,
        from_version=str(from_version),
        to_version=str(cluster.kubernetes_version),
        first=all_steps[0],
        control_planes=[s for s in all_steps[1:] if s.node.is_control_plane],
        workers=[s for s in all_steps if not s.node.is_control_plane],
        steps=all_steps,
        admin_user=cluster.admin_user,
        admin_kubeconfig=ADMIN_KUBECONFIG,
        backup=cluster.etcd_backup,
        pause_changes=pause_changes(from_version, cluster.kubernetes),
    )


def kit(cluster: Cluster, from_version: Version) -> UpgradeKit:
    """The upgrade kit's files, keyed by path under its folder. Pure: same inputs, same bytes."""
    directory = kit_dir(from_version, cluster.kubernetes_version)
    files = {
        "upgrade.sh": OutputFile(driver_script(cluster, from_version).encode(), EXECUTABLE_MODE),
        "etcd-snapshot.sh": OutputFile(snapshot_script(cluster, from_version).encode(), PUBLIC_MODE),
    }
    for step in steps(cluster):
        files[f"nodes/{step.node.name}.sh"] = OutputFile(node_script(cluster, from_version, step).encode(), PUBLIC_MODE)
    return UpgradeKit(
        cluster=cluster,
        from_version=from_version,
        to_version=cluster.kubernetes_version,
        directory=directory,
        files=dict(sorted(files.items())),
    )
