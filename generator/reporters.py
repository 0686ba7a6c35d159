"""How the CLI shows results: one reporter per output format, behind one :class:`Reporter` protocol.

Results (a validation, a render's per-file verbs and node summary, a bake, a VM boot) go to a
reporter's methods; it decides the words. Problems, progress and per-file verbs go to stderr, the
data a command answers with goes to stdout. :class:`TextReporter` is what every command prints
today; :class:`JsonReporter` prints one JSON document per result on stdout instead (``validate
-o json``), with warnings and progress kept as text on stderr."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import typer

from generator.emit.cloudinit import NOVA_USER_DATA_LIMIT
from generator.errors import Problem, display_file
from generator.guest import BOOTSTRAP_LOG
from generator.kubeconfig import SUPER_USER_GROUP, stamp
from generator.text_tables import node_summary_lines, ports_listed_lines, versions_listed_lines

if TYPE_CHECKING:  # result types only: a reporter imports none of the modules that make them
    from generator.api import (
        BakeOutcome,
        KubeconfigResult,
        RenderResult,
        RestoreResult,
        Rotation,
        UpgradeResult,
        VmOutcome,
    )
    from generator.certs import BundleReport
    from generator.info import ImagesReport, PortsReport, VersionsReport
    from generator.write import FileChange

__all__ = ["JsonReporter", "Reporter", "TextReporter", "reporter_for"]


def out(message: str, *, nl: bool = True) -> None:
    typer.echo(message, nl=nl)


def err(message: str) -> None:
    typer.echo(message, err=True)


def _human(size: int) -> str:
    return f"{size} B" if size < 1024 else f"{size / 1024:.1f} KiB"


class Reporter(Protocol):
    def warnings(self, problems: Sequence[Problem]) -> None: ...
    def progress(self, line: str, *, source: str = "") -> None: ...
    def file_verbs(self, result: RenderResult) -> None: ...
    def validated(self, config: Path, problems: Sequence[Problem]) -> None: ...
    def written(self, changes: Sequence[tuple[str, Path]]) -> None: ...
    def rendered(self, result: RenderResult, *, check: bool = False) -> None: ...
    def rotated(self, rotation: Rotation) -> None: ...
    def baked(self, outcome: BakeOutcome) -> None: ...
    def booted(self, outcome: VmOutcome) -> None: ...
    def restored(self, result: RestoreResult, *, sha256_given: bool) -> None: ...
    def upgraded(self, result: UpgradeResult, config: Path) -> None: ...
    def certs_checked(self, report: BundleReport) -> None: ...
    def versions_listed(self, report: VersionsReport) -> None: ...
    def images_listed(self, report: ImagesReport) -> None: ...
    def ports_listed(self, report: PortsReport) -> None: ...
    def kubeconfig_written(self, result: KubeconfigResult) -> None: ...


class _Stderr:
    """Warnings and progress: text on stderr, whatever the format (``quiet``: no per-file verbs)."""

    def __init__(self, *, quiet: bool = False) -> None:
        self.quiet = quiet

    def warnings(self, problems: Sequence[Problem]) -> None:
        for problem in problems:
            err(str(problem))

    def progress(self, line: str, *, source: str = "") -> None:
        err(f"  [{source}] {line}" if source else line)

    def written(self, changes: Sequence[tuple[str, Path]]) -> None:
        for verb, path in changes:
            err(f"{verb}  {path}")

    def file_verbs(self, result: RenderResult) -> None:
        self.warnings(result.warnings)
        if result.secrets_created:
            what = "new secrets bundle, mode 0600: cluster CA keys and bootstrap token; keep it safe"
            err(f"create  {result.secrets_path} ({what})")
        if result.secrets_would_create:
            what = "no bundle yet: a real render creates one, with the cluster CA keys and a bootstrap token"
            err(f"{'would create':>16}  {result.secrets_path} ({what})")
        self.change_verbs(result.changes, dry_run=result.dry_run)

    def change_verbs(self, changes: Sequence[FileChange], *, dry_run: bool = False) -> None:
        lines = []  # one write: a render of thousands of nodes prints tens of thousands of lines
        for change in [] if self.quiet else changes:
            verb = f"would {change.status}" if dry_run else change.status
            size = f" ({_human(change.size)})" if change.status != "remove" else ""
            lines.append(f"{verb:>16}  {change.path}{size}")
        if lines:
            err("\n".join(lines))

    def restored(self, result: RestoreResult, *, sha256_given: bool) -> None:
        self.warnings(result.warnings)
        self.change_verbs(result.changes)
        node = result.node
        err("")
        err(
            f"restore mode for {node.name} ({node.action}): user-data {node.user_data_bytes} bytes, "
            f"{node.user_data_base64_bytes} base64 (Nova limit {NOVA_USER_DATA_LIMIT})"
        )
        if not sha256_given:
            err("no --sha256: the node checks the snapshot's integrity (etcdutl snapshot status) but not its origin")
        err(
            f"next: boot {node.name} (same IP {node.ip}) from {result.out_dir / node.name / 'user-data'}; then the "
            "other control planes and the workers from their usual user-data (README: etcd backups and restore)"
        )

    def upgraded(self, result: UpgradeResult, config: Path) -> None:
        self.warnings(result.warnings)
        self.change_verbs(result.changes, dry_run=result.dry_run)
        err(f"upgrade {result.from_version} -> {result.to_version} (starting version from {result.from_source})")
        if not result.dry_run:
            err(f"next: {result.kit_dir / 'upgrade.sh'} --dry-run, then without --dry-run; then `kgen render {config}`")

    def kubeconfig_written(self, result: KubeconfigResult) -> None:
        """The file's verb and what the credential is, on stderr; the kubeconfig itself on stdout only
        when asked for (``-o -``). Never the key or the certificate."""
        self.warnings(result.warnings)
        cred = result.credential
        if result.path is None:
            out(cred.text, nl=False)
        else:
            err(f"{result.status}  {result.path} (admin kubeconfig, mode 0600: holds a client key; keep it safe)")
        err(
            f"cluster {cred.cluster} at {cred.server}: user {cred.user}, groups {', '.join(cred.groups)}, "
            f"{cred.key_type}, valid until {stamp(cred.not_after)}; a client certificate cannot be revoked"
        )
        if SUPER_USER_GROUP in cred.groups:
            err(
                f"warning: group {SUPER_USER_GROUP} bypasses RBAC, so no binding can take this credential's rights "
                "away before it expires; use it for break-glass only"
            )
        if result.path is not None:
            err(f"next: KUBECONFIG={result.path} kubectl get nodes")


class TextReporter(_Stderr):
    def certs_checked(self, report: BundleReport) -> None:
        for line in report.lines():
            out(line)

    # --- hook (issue 13, info commands) ---

    def versions_listed(self, report: VersionsReport) -> None:
        """One row per Kubernetes minor (image tags, CNI versions), then what the columns abbreviate."""
        for line in versions_listed_lines(report):
            out(line)

    def images_listed(self, report: ImagesReport) -> None:
        """The images on stdout, one a line (ready for a mirroring loop); a count on stderr."""
        for image in report.all:
            out(image)
        counts = ", ".join(f"{len(refs)} {name}" for name, refs in report.groups.items())
        err(
            f"{len(report.all)} images for cluster {report.cluster} (Kubernetes {report.kubernetes_version}, "
            f"CNI {report.cni}: {counts}); a golden image holds exactly these"
        )

    def ports_listed(self, report: PortsReport) -> None:
        for line in ports_listed_lines(report):
            out(line)

    def validated(self, config: Path, problems: Sequence[Problem]) -> None:
        for problem in problems:
            out(str(problem))
        if not any(p.severity == "error" for p in problems):
            out(f"{display_file(str(config))}: valid" + (f" ({len(problems)} warning(s))" if problems else ""))

    def rendered(self, result: RenderResult, *, check: bool = False) -> None:
        """Status verbs for every file, then a per-node summary with sizes and the token's lifetime."""
        self.file_verbs(result)
        if check:
            err(f"{result.out_dir} is up to date")
            return
        err("")
        err("\n".join(node_summary_lines(result.nodes)))
        if result.token is not None:
            err(f"bootstrap token {result.token.token_id}.****: {result.token.expiry()}")
        elif result.secrets_would_create:
            err("bootstrap token: made with the secrets bundle when you render without --dry-run")

    def rotated(self, rotation: Rotation) -> None:
        err(f"update  {rotation.render.secrets_path} (new bootstrap token for joining nodes)")
        self.rendered(rotation.render)
        err("")
        err("kgen has no access to your cluster, so it cannot register the token. On a control-plane node run:")
        out(rotation.register_command)

    def baked(self, outcome: BakeOutcome) -> None:
        if outcome.dry_run:  # the commands, as shell lines
            from generator.runners.bake import format_commands  # noqa: PLC0415 - only `kgen bake` needs it

            out(format_commands(outcome.commands), nl=False)
        elif outcome.manifest:
            out(f"packer manifest (image IDs and names): {outcome.manifest}")

    def booted(self, outcome: VmOutcome) -> None:
        run, report = outcome.run, outcome.run.report
        out(f"serial log: {run.serial_log}")
        if run.disk is not None:
            out(f"kept disk: {run.disk}")
        if report is None:
            out("no report from the guest" + (f" within {outcome.timeout:.0f}s" if run.timed_out else ""))
            return
        out(f"cloud-init status: {report.cloud_init_status}")
        for error in report.cloud_init_errors:
            out(f"cloud-init error: {error}")
        if report.success_marker:
            out(f"success marker: {report.success_marker.strip()}")
        if report.failure_marker:
            out("failure marker:\n" + report.failure_marker.rstrip())
        if report.bootstrap_log_tail:
            out(f"last lines of {BOOTSTRAP_LOG}:")
            for line in report.bootstrap_log_tail[-15:]:
                out(f"  {line}")
        out(f"{'ok' if run.ok else 'FAILED'} after {run.seconds:.0f}s")


class JsonReporter(_Stderr):
    def certs_checked(self, report: BundleReport) -> None:
        self._doc(report.to_json())

    def versions_listed(self, report: VersionsReport) -> None:
        self._doc(report.to_json())

    def images_listed(self, report: ImagesReport) -> None:
        self._doc(report.to_json())

    def ports_listed(self, report: PortsReport) -> None:
        self._doc(report.to_json())

    """One JSON document per result on stdout (indented, keys in a fixed order)."""

    @staticmethod
    def _doc(doc: dict[str, Any]) -> None:
        out(json.dumps(doc, indent=2))

    def validated(self, config: Path, problems: Sequence[Problem]) -> None:
        errors = [p for p in problems if p.severity == "error"]
        self._doc({"file": str(config), "valid": not errors, "problems": [p.to_json() for p in problems]})

    def _render_doc(self, result: RenderResult) -> dict[str, Any]:
        return {
            "cluster": result.cluster,
            "out_dir": str(result.out_dir),
            "dry_run": result.dry_run,
            "secrets": {
                "path": str(result.secrets_path),
                "created": result.secrets_created,
                "would_create": result.secrets_would_create,
            },
            "warnings": [p.to_json() for p in result.warnings],
            "changes": [{"status": c.status, "path": str(c.path), "size": c.size} for c in result.changes],
            "nodes": [
                {
                    "name": n.name,
                    "role": n.role,
                    "action": n.action,
                    "user_data_bytes": n.user_data_bytes,
                    "user_data_base64_bytes": n.user_data_base64_bytes,
                    "gzipped": n.gzipped,
                    "holds_private_keys": n.holds_private_keys,
                }
                for n in result.nodes
            ],
        }

    def rendered(self, result: RenderResult, *, check: bool = False) -> None:
        self._doc(self._render_doc(result))

    def rotated(self, rotation: Rotation) -> None:
        self._doc({"render": self._render_doc(rotation.render), "register_command": rotation.register_command})

    def baked(self, outcome: BakeOutcome) -> None:
        manifest = str(outcome.manifest) if outcome.manifest else None
        self._doc({"dry_run": outcome.dry_run, "commands": outcome.commands, "manifest": manifest})

    def booted(self, outcome: VmOutcome) -> None:
        run, report = outcome.run, outcome.run.report
        self._doc(
            {
                "node": outcome.node,
                "ok": run.ok,
                "timed_out": run.timed_out,
                "seconds": round(run.seconds, 1),
                "serial_log": str(run.serial_log),
                "disk": str(run.disk) if run.disk is not None else None,
                "report": None if report is None else dataclasses.asdict(report),
            }
        )


def reporter_for(output: str, *, quiet: bool = False) -> Reporter:
    """The reporter for an output format name (``text`` or ``json``)."""
    return JsonReporter(quiet=quiet) if output == "json" else TextReporter(quiet=quiet)
