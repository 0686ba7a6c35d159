"""The day-2 operations after a render: an admin kubeconfig, the certificates' expiry, the upgrade kit
and the etcd restore."""

from __future__ import annotations

import datetime
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from generator import certs, etcd_restore, kubeconfig, layout, model, plan, secrets, write
from generator import upgrade as upgrade_kit
from generator.api.cluster import checked, load_cluster, load_secrets
from generator.emit import render
from generator.errors import ConfigInvalid, Problem, RenderError, UserError, errors_only
from generator.records import record

# --- hook (issue 13): `kgen kubeconfig` ------------------------------------------------------------------


@record
class KubeconfigResult:
    credential: kubeconfig.AdminKubeconfig
    path: Path | None  # None: the caller prints ``credential.text`` (``-o -``)
    status: Literal["create", "replace", "print"]
    warnings: list[Problem]


def default_kubeconfig_path(cluster_name: str) -> Path:
    """``./<cluster>.kubeconfig`` in the current folder."""
    return Path(f"{cluster_name}.kubeconfig")


def admin_kubeconfig(
    config_path: Path,
    *,
    secrets_path: Path | None = None,
    output: Path | None = None,
    to_stdout: bool = False,
    user: str = kubeconfig.DEFAULT_USER,
    groups: Sequence[str] = (kubeconfig.DEFAULT_GROUP,),
    ttl: str = kubeconfig.DEFAULT_TTL,
    force: bool = False,
    now: datetime.datetime | None = None,
) -> KubeconfigResult:
    """Sign an admin client certificate with the cluster CA in the secrets bundle (which must exist) and
    write a kubeconfig for the controlPlane endpoint to ``output`` (default ``./<cluster>.kubeconfig``),
    mode 0600; ``to_stdout`` returns it for the caller to print instead. Everything is checked before
    anything is written; an existing file is replaced only with ``force``."""
    validity = kubeconfig.parse_ttl(ttl)
    loaded = load_cluster(config_path)
    cluster = loaded.cluster
    path = None if to_stdout else (output or default_kubeconfig_path(cluster.name))
    if path is not None and not force and os.path.lexists(path):
        raise UserError(f"{path} already exists; use --force to replace it")
    bundle = load_secrets(config_path, cluster, secrets_path)
    bundle_path = secrets_path or secrets.default_path(config_path)
    warnings = list(loaded.warnings)
    permissions = secrets.permission_warning(bundle_path)
    warnings.extend([permissions] if permissions else [])
    credential = kubeconfig.build(
        cluster=cluster.name,
        host=cluster.endpoint_host,
        port=cluster.endpoint_port,
        ca=bundle.ca,
        user=user,
        groups=groups,
        ttl=validity,
        now=now,
    )
    if path is None:
        return KubeconfigResult(credential=credential, path=None, status="print", warnings=warnings)
    status = write.write_private_file(write.SecretFile(path, credential.text), overwrite=force)
    return KubeconfigResult(credential=credential, path=path, status=status, warnings=warnings)


# --- kgen-certs (issue 14): `kgen certs check` ----------------------------------------------------------


def check_certificates(
    config_path: Path,
    *,
    secrets_path: Path | None = None,
    now: datetime.datetime | None = None,
    warn_days: int = certs.CA_WARN_DAYS,
) -> certs.BundleReport:
    """When each CA in the cluster's secrets bundle expires (and that the service-account key does not).
    The bundle is found like `kgen render` finds it; it must exist."""
    cluster = load_cluster(config_path).cluster
    path = secrets_path or secrets.default_path(config_path)
    bundle = load_secrets(config_path, cluster, secrets_path)
    return certs.check_bundle(bundle, secrets_path=str(path), now=now, warn_days=warn_days)


# --- hook (issue 14, upgrades): `kgen upgrade` -------------------------------------------------------


@dataclass
class UpgradeResult:
    cluster: str
    out_dir: Path  # OUT/<cluster>
    kit_dir: Path  # OUT/<cluster>/upgrade/<from>-to-<to>
    from_version: str
    from_source: str
    to_version: str
    changes: list[write.FileChange]
    warnings: list[Problem]
    dry_run: bool


def upgrade(
    config_path: Path, *, out_dir: Path, from_version: str | None = None, dry_run: bool = False
) -> UpgradeResult:
    """Render the upgrade kit from the version the cluster runs (``from_version``, else the last render's
    nodes.json under ``out_dir/<cluster>/``) to the config's version into
    ``out_dir/<cluster>/upgrade/<from>-to-<to>/``. The config's problems and the upgrade's (a skipped
    minor, a downgrade, a version outside the table) are reported together; nothing is written then."""
    normalized, problems = checked(config_path)
    doc = normalized.doc
    name = doc.data.get("metadata", {}).get("name") if isinstance(doc.data, dict) else None
    if not isinstance(name, str) or errors_only([p for p in problems if p.path.startswith("metadata")]):
        raise ConfigInvalid(problems)
    try:
        start, source = upgrade_kit.starting_version(out_dir / name, from_version)
    except UserError:
        if errors_only(problems):  # the config's own problems first
            raise ConfigInvalid(problems) from None
        raise
    problems.extend(upgrade_kit.check_versions(doc, start, source))
    if errors_only(problems):
        raise ConfigInvalid(problems)
    cluster = model.build(normalized)
    if start == cluster.kubernetes_version:
        raise UserError(
            f"nothing to upgrade: the cluster runs {start} ({source}), the version the config names; "
            "if you rendered the new version already, pass --from with the version the cluster runs"
        )
    the_kit = upgrade_kit.kit(cluster, start)
    root = out_dir / cluster.name
    # The kit's own folder is written (atomically, like a render) and nothing else under OUT/<cluster>/.
    kit_root = root / the_kit.directory
    if dry_run:
        write.check_targets(kit_root, writable=False)
        changes = write.diff_tree(the_kit.files, kit_root)
    else:
        changes = write.write_tree(the_kit.files, kit_root)
    return UpgradeResult(
        cluster=cluster.name,
        out_dir=root,
        kit_dir=kit_root,
        from_version=str(start),
        from_source=source,
        to_version=str(cluster.kubernetes_version),
        changes=changes,
        warnings=[p for p in problems if p.severity == "warning"],
        dry_run=dry_run,
    )


# --- hook (issue 14): kgen restore --------------------------------------------------------------------


@dataclass
class RestoreResult:
    cluster: str
    node: render.NodeSummary
    out_dir: Path  # OUT/<cluster>.restore
    changes: list[write.FileChange]
    warnings: list[Problem]


def restore(
    config_path: Path,
    *,
    snapshot: str,
    sha256: str | None = None,
    out_dir: Path,
    secrets_path: Path | None = None,
) -> RestoreResult:
    """Render the first control-plane node's user-data in restore mode into
    ``out_dir/<cluster>.restore/<node>/``: its first boot restores etcd from ``snapshot`` right before
    ``kubeadm init``. Needs the existing secrets bundle (the same CAs, so every rendered join still
    matches the CA hash); never creates one."""
    request = etcd_restore.request(snapshot, sha256)
    loaded = load_cluster(config_path)
    cluster = loaded.cluster
    bundle = load_secrets(config_path, cluster, secrets_path)
    first = cluster.first_control_plane
    etcd_restore.peer_url(first)  # refuses a node without an IP before anything is rendered
    cluster_plan = plan.plan(cluster, bundle)
    node_plan = next(p for p in cluster_plan.nodes if p.node == first)
    restored = plan.with_restore(cluster, node_plan, request)
    try:
        node_files, summary, _ = render.render_node(cluster_plan, restored)
    except RenderError as exc:
        raise ConfigInvalid([loaded.doc.problem(loaded.normalized.node_path(exc.node), str(exc))]) from None
    prefix = layout.node_dir(first.name) + "/"
    files = {f"{first.name}/{rel.removeprefix(prefix)}": out for rel, out in node_files.items()}
    root = out_dir / f"{cluster.name}{etcd_restore.OUTPUT_SUFFIX}"
    changes = write.write_tree(dict(sorted(files.items())), root)
    return RestoreResult(cluster=cluster.name, node=summary, out_dir=root, changes=changes, warnings=loaded.warnings)
