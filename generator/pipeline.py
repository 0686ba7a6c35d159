"""kgen's public API: the pipeline load -> validate -> model -> plan -> render -> write, as a few
functions with keyword-only options. The CLI is a thin shell over these."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from generator import model, plan, render, secrets, write
from generator.errors import ConfigInvalid, DriftFound, Problem, UserError, errors_only
from generator.load import load
from generator.validate import validate


@dataclass(frozen=True)
class Loaded:
    cluster: model.Cluster
    warnings: list[Problem]


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
    notes: list[str] = field(default_factory=list)


def check_config(config_path: Path) -> list[Problem]:
    """Every problem in the config (errors and warnings); raises only for unreadable/unparsable files."""
    return validate(load(config_path))


def load_cluster(config_path: Path) -> Loaded:
    doc = load(config_path)
    problems = validate(doc)
    if errors_only(problems):
        raise ConfigInvalid(problems)
    return Loaded(cluster=model.build(doc), warnings=[p for p in problems if p.severity == "warning"])


def load_secrets(config_path: Path, cluster: model.Cluster, secrets_path: Path | None) -> secrets.SecretsBundle:
    path = secrets_path or secrets.default_path(config_path)
    if not path.exists():
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
    created = not bundle_path.exists()
    if created and (check or secrets_path is not None):
        raise UserError(f"no secrets bundle at {bundle_path}; run `kgen render {config_path}` first to generate one")
    bundle = secrets.generate(cluster.name) if created else secrets.load_bundle(bundle_path, cluster=cluster.name)
    rendered = render.render_cluster(plan.plan(cluster, bundle))
    root = out_dir / cluster.name
    if dry_run or check:
        changes = write.diff_tree(rendered.files, root)
        if check and any(c.status != "identical" for c in changes):
            drift = [f"{c.status}: {c.path}" for c in changes if c.status != "identical"]
            raise DriftFound(f"{root} differs from what kgen would render:\n" + "\n".join(drift))
    else:
        if created:
            write.write_secret_file(bundle_path, bundle.to_yaml())
        changes = write.write_tree(rendered.files, root)
    return RenderResult(
        cluster=cluster.name,
        out_dir=root,
        changes=changes,
        nodes=rendered.nodes,
        warnings=loaded.warnings,
        secrets_path=bundle_path,
        secrets_created=created and not dry_run,
        dry_run=dry_run,
    )


def join_command(config_path: Path, *, secrets_path: Path | None = None) -> str:
    cluster = load_cluster(config_path).cluster
    bundle = load_secrets(config_path, cluster, secrets_path)
    return (
        f"kubeadm join {cluster.endpoint} --token {bundle.bootstrap_token} "
        f"--discovery-token-ca-cert-hash {bundle.ca_cert_hash}"
    )
