"""The pipeline as API functions: check and render (and re-render with a new token). The example
config is :mod:`generator.api.example`; the information commands (versions, images, ports, the join
command) are :mod:`generator.api.reports`."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from generator import model, placeholder, plan, secrets, write
from generator.emit import render
from generator.errors import ConfigInvalid, DriftFound, Problem, RenderError, UserError, errors_only
from generator.load import Document, load
from generator.normalize import Normalized, normalize
from generator.records import record
from generator.validate import validate


class Listener(Protocol):
    """Hears what a long-running API function does while it runs (a CLI reporter is one)."""

    def warnings(self, problems: Sequence[Problem]) -> None: ...

    def progress(self, line: str, *, source: str = "") -> None:
        """One line of progress; ``source`` names the runner it comes from ("vm"), or is empty."""

    def file_verbs(self, result: RenderResult) -> None:
        """A render's warnings and its per-file verbs (create, update, identical), as `kgen render` shows."""


class Silent:
    """A listener that drops everything."""

    def warnings(self, problems: Sequence[Problem]) -> None:
        pass

    def progress(self, line: str, *, source: str = "") -> None:
        pass

    def file_verbs(self, result: RenderResult) -> None:
        pass


@record
class Loaded:
    """A loaded, validated config: the cluster, its warnings and its document."""

    cluster: model.Cluster
    warnings: list[Problem]
    doc: Document
    normalized: Normalized


@dataclass
class RenderResult:
    """What a render wrote (or would write) and the summary it prints."""

    cluster: str
    out_dir: Path
    changes: list[write.FileChange]
    nodes: tuple[render.NodeSummary, ...]
    warnings: list[Problem]
    secrets_path: Path
    secrets_created: bool
    dry_run: bool
    token: TokenInfo | None = None  # None on a dry run without a bundle: that token would never exist
    secrets_would_create: bool = False  # a dry run without a bundle: a real render creates one


@record
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


def checked(config_path: Path) -> tuple[Normalized, list[Problem]]:
    """Load, normalize (once) and validate a config: the normalized config and every problem in it,
    warnings included. Raises only for unreadable or unparsable files."""
    doc = load(config_path)
    normalized = normalize(doc)
    return normalized, validate(doc, normalized)


def check_config(config_path: Path) -> list[Problem]:
    """Every problem in the config (errors and warnings); raises only for unreadable/unparsable files.

    A config that passes the checks is also rendered in memory, with a placeholder bundle of real
    size, so whatever `kgen render` would refuse for a reason in the config (a user-data over Nova's
    limit) is reported here too, at the key it concerns."""
    normalized, problems = checked(config_path)
    if errors_only(problems):
        return problems
    cluster = model.build(normalized)
    try:
        render_located(normalized, cluster, placeholder.bundle(cluster.name))
    except ConfigInvalid as exc:
        problems.extend(exc.problems)
    return problems


def render_located(
    normalized: Normalized, cluster: model.Cluster, bundle: secrets.SecretsBundle
) -> render.RenderedCluster:
    """Render, turning a RenderError into a problem located at the node (or key) it concerns."""
    try:
        return render.render_cluster(plan.plan(cluster, bundle))
    except RenderError as exc:
        raise ConfigInvalid([normalized.doc.problem(normalized.node_path(exc.node), str(exc))]) from None


def load_cluster(config_path: Path) -> Loaded:
    normalized, problems = checked(config_path)
    if errors_only(problems):
        raise ConfigInvalid(problems)
    warnings = [p for p in problems if p.severity == "warning"]
    return Loaded(cluster=model.build(normalized), warnings=warnings, doc=normalized.doc, normalized=normalized)


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
    diff: bool = False,
) -> RenderResult:
    """Render every node of the cluster in ``config_path`` into ``out_dir/<cluster>/``.

    The first render generates the secrets bundle (written only after rendering succeeded); later
    renders reuse it. ``dry_run`` and ``check`` write nothing; ``check`` raises DriftFound when the
    files on disk differ from what would be rendered (with ``diff``, the exception carries a
    unified diff that never shows a secret file's content: :func:`generator.write.diff_text`)."""
    check = check or diff
    loaded = load_cluster(config_path)
    cluster = loaded.cluster
    bundle_path = secrets_path or secrets.default_path(config_path)
    # Only a plain render creates the bundle; --check and an explicit --secrets need an existing one.
    created = not secrets.bundle_exists(bundle_path) and not check and secrets_path is None
    if created:
        # A refusal the write (or dry run) is sure to give comes before the keys are made: 0.2-0.5 s.
        write.check_targets(out_dir / cluster.name, writable=not dry_run)
    bundle = secrets.generate(cluster.name) if created else load_secrets(config_path, cluster, secrets_path)
    return _render_and_write(
        loaded,
        bundle,
        bundle_path=bundle_path,
        out_dir=out_dir,
        created=created,
        dry_run=dry_run,
        check=check,
        diff=diff,
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
    diff: bool = False,
) -> RenderResult:
    cluster = loaded.cluster
    rendered = render_located(loaded.normalized, cluster, bundle)
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
            patch = write.diff_text(rendered.files, root, changes) if diff else ""
            raise DriftFound(f"{root} differs from what kgen would render:\n" + "\n".join(drift), diff=patch)
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
        token=None if created and dry_run else _token_info(cluster, bundle),
        secrets_would_create=created and dry_run,
    )


@record
class Rotation:
    """A token rotation: the re-render and the command that registers the new token."""

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
