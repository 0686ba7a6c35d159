"""kgen's public API: the pipeline load -> validate -> model -> plan -> render -> write, and the runners
after it (``bake``, ``vm``), as a few functions with keyword-only options that return results. The CLI
is a thin shell over these: it parses arguments and hands the results to a reporter.

Long-running functions tell a :class:`Listener` what happens while they run (render warnings first,
then progress lines); the result they return holds the rest."""

from __future__ import annotations

import dataclasses
import datetime
import shlex
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from generator import certs, etcd_restore, mirror, model, placeholder, plan, prepare, render, secrets, write
from generator import upgrade as upgrade_kit
from generator.errors import ConfigInvalid, DriftFound, Problem, RenderError, UserError, errors_only
from generator.load import Document, KeyPath, load
from generator.rawconfig import expanded_nodes
from generator.resources import schemas_dir, templates_dir
from generator.runners import bake as bake_runner
from generator.runners import qemu
from generator.validate import validate


class Listener(Protocol):
    """Hears what a long-running API function does while it runs (a CLI reporter is one)."""

    def warnings(self, problems: Sequence[Problem]) -> None: ...

    def progress(self, line: str, *, source: str = "") -> None:
        """One line of progress; ``source`` names the runner it comes from ("vm"), or is empty."""


class Silent:
    """A listener that drops everything."""

    def warnings(self, problems: Sequence[Problem]) -> None:
        pass

    def progress(self, line: str, *, source: str = "") -> None:
        pass


@dataclass(frozen=True)
class Loaded:
    cluster: model.Cluster
    warnings: list[Problem]
    doc: Document


@dataclass
class RenderResult:
    cluster: str
    out_dir: Path
    changes: list[write.FileChange]
    nodes: tuple[render.NodeSummary, ...]
    warnings: list[Problem]
    secrets_path: Path
    secrets_created: bool
    dry_run: bool
    token: TokenInfo | None = None


@dataclass(frozen=True)
class TokenInfo:
    """What the render summary says about the bootstrap token joining nodes use (never its secret)."""

    token_id: str
    ttl: str
    generated_at: str | None
    rotated: bool

    def expiry(self) -> str:
        if self.ttl == "0s":
            return "never expires (ttl 0); delete it with `kubeadm token delete` when all nodes have joined"
        registered = "you ran the printed `kubeadm token create`" if self.rotated else "`kubeadm init` ran"
        made = f", generated {self.generated_at}" if self.generated_at else ""
        return (
            f"valid for {self.ttl} after {registered}{made}; once it has expired, "
            "joining nodes fail: run `kgen token rotate` to add nodes later"
        )


def _token_info(cluster: model.Cluster, bundle: secrets.SecretsBundle) -> TokenInfo:
    return TokenInfo(
        token_id=bundle.token_id,
        ttl=model.go_duration(cluster.token_ttl_seconds),
        generated_at=bundle.token_generated_at,
        rotated=bundle.init_bootstrap_token is not None,
    )


def check_config(config_path: Path) -> list[Problem]:
    """Every problem in the config (errors and warnings); raises only for unreadable/unparsable files.

    A config that passes the checks is also rendered in memory, with a placeholder bundle of real
    size, so whatever `kgen render` would refuse for a reason in the config (a user-data over Nova's
    limit) is reported here too, at the key it concerns."""
    doc = load(config_path)
    problems = validate(doc)
    if errors_only(problems):
        return problems
    cluster = model.build(doc)
    try:
        render_located(doc, cluster, placeholder.bundle(cluster.name))
    except ConfigInvalid as exc:
        problems.extend(exc.problems)
    return problems


def render_located(doc: Document, cluster: model.Cluster, bundle: secrets.SecretsBundle) -> render.RenderedCluster:
    """Render, turning a RenderError into a problem located at the node (or key) it concerns."""
    try:
        return render.render_cluster(plan.plan(cluster, bundle))
    except RenderError as exc:
        path: KeyPath = next((p for p, name, _, _ in expanded_nodes(doc.data) if name == exc.node), ())
        raise ConfigInvalid([doc.problem(path, str(exc))]) from None


def load_cluster(config_path: Path) -> Loaded:
    doc = load(config_path)
    problems = validate(doc)
    if errors_only(problems):
        raise ConfigInvalid(problems)
    return Loaded(cluster=model.build(doc), warnings=[p for p in problems if p.severity == "warning"], doc=doc)


def load_secrets(config_path: Path, cluster: model.Cluster, secrets_path: Path | None) -> secrets.SecretsBundle:
    path = secrets_path or secrets.default_path(config_path)
    if not secrets.bundle_exists(path):
        raise UserError(f"no secrets bundle at {path}; run `kgen render {config_path}` first to generate one")
    return secrets.load_bundle(path, cluster=cluster.name)


def render_cluster(
    config_path: Path,
    *,
    out_dir: Path,
    secrets_path: Path | None = None,
    dry_run: bool = False,
    check: bool = False,
) -> RenderResult:
    """Render every node of the cluster in ``config_path`` into ``out_dir/<cluster>/``.

    The first render generates the secrets bundle (written only after rendering succeeded); later
    renders reuse it. ``dry_run`` and ``check`` write nothing; ``check`` raises DriftFound when the
    files on disk differ from what would be rendered."""
    loaded = load_cluster(config_path)
    cluster = loaded.cluster
    bundle_path = secrets_path or secrets.default_path(config_path)
    # Only a plain render creates the bundle; --check and an explicit --secrets need an existing one.
    created = not secrets.bundle_exists(bundle_path) and not check and secrets_path is None
    bundle = secrets.generate(cluster.name) if created else load_secrets(config_path, cluster, secrets_path)
    return _render_and_write(
        loaded, bundle, bundle_path=bundle_path, out_dir=out_dir, created=created, dry_run=dry_run, check=check
    )


def _render_and_write(
    loaded: Loaded,
    bundle: secrets.SecretsBundle,
    *,
    bundle_path: Path,
    out_dir: Path,
    created: bool,
    dry_run: bool,
    check: bool,
    write_bundle: bool = False,
) -> RenderResult:
    cluster = loaded.cluster
    rendered = render_located(loaded.doc, cluster, bundle)
    root = out_dir / cluster.name
    warnings = list(loaded.warnings)
    if not created and not write_bundle:  # a bundle kgen writes is 0600 again
        permissions = secrets.permission_warning(bundle_path)
        warnings.extend([permissions] if permissions else [])
    if dry_run or check:
        if dry_run:
            write.check_targets(root, writable=False)
        changes = write.diff_tree(rendered.files, root)
        if check and any(c.status != "identical" for c in changes):
            drift = [f"{c.status}: {c.path}" for c in changes if c.status != "identical"]
            raise DriftFound(f"{root} differs from what kgen would render:\n" + "\n".join(drift))
    else:
        # The bundle is written in the same all-or-nothing step as the tree: a render that fails to
        # write leaves no new bundle behind (and so no CA that no output was rendered with).
        secret = write.SecretFile(bundle_path, bundle.to_yaml()) if created or write_bundle else None
        changes = write.write_tree(rendered.files, root, secret=secret)
    return RenderResult(
        cluster=cluster.name,
        out_dir=root,
        changes=changes,
        nodes=rendered.nodes,
        warnings=warnings,
        secrets_path=bundle_path,
        secrets_created=created and not dry_run,
        dry_run=dry_run,
        token=_token_info(cluster, bundle),
    )


@dataclass(frozen=True)
class Rotation:
    render: RenderResult
    register_command: str


def rotate_token(config_path: Path, *, out_dir: Path, secrets_path: Path | None = None) -> Rotation:
    """Give joining nodes a new bootstrap token: write it into the bundle and re-render. Only the
    join configs and the user-data that carries them change; the CA (and so its hash) stays."""
    loaded = load_cluster(config_path)
    cluster = loaded.cluster
    bundle_path = secrets_path or secrets.default_path(config_path)
    old = load_secrets(config_path, cluster, secrets_path)
    new = old.rotated(secrets.generate_token())
    result = _render_and_write(
        loaded,
        new,
        bundle_path=bundle_path,
        out_dir=out_dir,
        created=False,
        dry_run=False,
        check=False,
        write_bundle=True,
    )
    description = shlex.quote(f"kgen bootstrap token for cluster {cluster.name}")
    ttl = model.go_duration(cluster.token_ttl_seconds)
    command = f"kubeadm token create {new.bootstrap_token} --ttl {ttl} --description {description}"
    return Rotation(render=result, register_command=command)


def write_example(path: Path, *, force: bool = False) -> list[tuple[str, Path]]:
    """Write the commented example config (the runbook's cluster) and its JSON Schema beside it, so
    the `# yaml-language-server: $schema=` line works offline. Returns (status verb, path) pairs."""
    if path.exists() and not force:
        raise UserError(f"{path} already exists; use --force to overwrite it")
    schema_path = path.with_name("cluster.schema.json")
    example = (templates_dir() / "cluster.yaml").read_text(encoding="utf-8").replace("{schema}", schema_path.name)
    schema_text = (schemas_dir() / "cluster.schema.json").read_text(encoding="utf-8")
    done: list[tuple[str, Path]] = []
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        for target, text in ((path, example), (schema_path, schema_text)):
            if target.exists() and target.read_text(encoding="utf-8") == text:
                done.append(("identical", target))
                continue
            verb = "update" if target.exists() else "create"
            target.write_text(text, encoding="utf-8")
            done.append((verb, target))
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror}") from None
    return done


def join_command(config_path: Path, *, secrets_path: Path | None = None) -> str:
    cluster = load_cluster(config_path).cluster
    bundle = load_secrets(config_path, cluster, secrets_path)
    return (
        f"kubeadm join {cluster.endpoint} --token {bundle.bootstrap_token} "
        f"--discovery-token-ca-cert-hash {bundle.ca_cert_hash}"
    )


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
    doc = load(config_path)
    problems = validate(doc)
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
    cluster = model.build(doc)
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
    restored = dataclasses.replace(node_plan, etcd_restore=request)
    try:
        node_files, summary = render.render_node(cluster_plan, restored, prepare.phases(cluster))
    except RenderError as exc:
        path: KeyPath = next((p for p, name, _, _ in expanded_nodes(loaded.doc.data) if name == exc.node), ())
        raise ConfigInvalid([loaded.doc.problem(path, str(exc))]) from None
    prefix = f"nodes/{first.name}/"
    files = {f"{first.name}/{rel.removeprefix(prefix)}": out for rel, out in node_files.items()}
    root = out_dir / f"{cluster.name}{etcd_restore.OUTPUT_SUFFIX}"
    changes = write.write_tree(dict(sorted(files.items())), root)
    return RestoreResult(cluster=cluster.name, node=summary, out_dir=root, changes=changes, warnings=loaded.warnings)


# --------------------------------------------------------------------------------------------------
# The runners: render, then run something on the result.


@dataclass(frozen=True)
class BakeOutcome:
    render: RenderResult
    commands: list[list[str]]
    manifest: Path | None  # Packer's manifest (image IDs and names), when a real bake wrote one
    dry_run: bool


def bake(
    config_path: Path,
    *,
    out_dir: Path,
    secrets_path: Path | None = None,
    only: bake_runner.Only | None = None,
    var_files: Sequence[Path] = (),
    accelerator: Literal["kvm", "tcg"] | None = None,
    dry_run: bool = False,
    listener: Listener | None = None,
) -> BakeOutcome:
    """Render, then run ``packer init`` and ``packer build`` on ``out_dir/<cluster>/packer``
    (:mod:`generator.runners.bake`). A dry run writes nothing and only returns the commands (the
    project is not on disk then, so the runner's checks of it are skipped)."""
    hear = listener or Silent()
    result = render_cluster(config_path, out_dir=out_dir, secrets_path=secrets_path, dry_run=dry_run)
    hear.warnings(result.warnings)
    if dry_run:
        commands = bake_runner.bake_commands(
            result.out_dir, only=only, var_files=var_files, accelerator=accelerator, say=hear.progress
        )
        return BakeOutcome(render=result, commands=commands, manifest=None, dry_run=True)
    baked = bake_runner.bake(
        result.out_dir, only=only, var_files=var_files, accelerator=accelerator, echo=hear.progress
    )
    return BakeOutcome(render=result, commands=baked.commands, manifest=baked.manifest, dry_run=False)


@dataclass(frozen=True)
class VmOutcome:
    render: RenderResult
    node: str
    node_dir: Path
    run: qemu.VmResult
    timeout: float

    @property
    def ok(self) -> bool:
        return self.run.ok


def vm(
    config_path: Path,
    node: str,
    *,
    image: Path,
    out_dir: Path,
    secrets_path: Path | None = None,
    workdir: Path | None = None,
    accel: str = "auto",
    timeout: float = 900.0,
    keep: bool = False,
    kernel: Path | None = None,
    initrd: Path | None = None,
    append: str | None = None,
    memory_mb: int = 2048,
    cpus: int = 2,
    network: str = "none",
    listener: Listener | None = None,
) -> VmOutcome:
    """Render, then boot ``node`` in a local qemu VM with its NoCloud seed and read the guest's report
    (:func:`generator.runners.qemu.run_vm`). ``workdir`` defaults to a new temporary folder. A guest
    that fails is no error: see ``VmOutcome.ok`` and ``VmOutcome.run.report``."""
    hear = listener or Silent()
    result = render_cluster(config_path, out_dir=out_dir, secrets_path=secrets_path)
    hear.warnings(result.warnings)
    names = [n.name for n in result.nodes]
    if node not in names:
        raise UserError(f"cluster {result.cluster!r} has no node {node!r}; its nodes are: {', '.join(names)}")
    node_dir = result.out_dir / "nodes" / node
    hear.progress(f"rendered {node_dir}")
    work = workdir or Path(tempfile.mkdtemp(prefix=f"kgen-vm-{node}-"))
    work.mkdir(parents=True, exist_ok=True)
    run = qemu.run_vm(
        user_data=node_dir / "user-data",
        meta_data=node_dir / "meta-data",
        image=image,
        workdir=work,
        accel=accel,
        timeout=timeout,
        keep=keep,
        kernel=kernel,
        initrd=initrd,
        append=append,
        memory_mb=memory_mb,
        cpus=cpus,
        network=network,
        progress=lambda line: hear.progress(line, source="vm"),
    )
    return VmOutcome(render=result, node=node, node_dir=node_dir, run=run, timeout=timeout)


# --- hook (issue 15): `kgen images CONFIG --mirror-script REGISTRY` ------------------------------------------


def mirror_script(config_path: Path, registry: str) -> str:
    """A bash script of ``skopeo copy`` lines that fills ``registry`` with the images the cluster needs."""
    cluster = load_cluster(config_path).cluster
    if (problem := mirror.registry_problem(registry)) is not None:
        raise UserError(f"--mirror-script: {problem}")
    return mirror.mirror_script(cluster, registry)
