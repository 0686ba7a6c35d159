"""``kgen init`` with answers: the commented example config (templates/cluster.yaml) with some values
replaced, comments kept.

Nothing is string-templated: the template is composed with PyYAML, which marks where each value's
text starts and ends; each answer is dumped by :mod:`generator.yamldump` (so a hostile name with
``: `` or quotes comes out quoted) and spliced over exactly that span. The result is parsed again and
must equal the template's data with the answers applied, or nothing is written. Without answers the
template's text is returned untouched (today's example, byte for byte). :func:`write_example` writes
it (and the schema beside it)."""

from __future__ import annotations

import dataclasses
import ipaddress
from pathlib import Path
from typing import Any

import yaml

from generator.errors import ConfigInvalid, UserError, errors_only
from generator.load import parse
from generator.normalize import normalize
from generator.records import record
from generator.resources import schemas_dir, templates_dir
from generator.validate import validate
from generator.yamldump import dump

# The template's commented-out runtime block; --runtime turns it into a real key.
_RUNTIME_COMMENT = "  # runtime:\n  #   name: containerd "
_KEY_HINT = "      # Replace with your own public key.\n"


@record
class InitAnswers:
    """What ``kgen init`` may be told with flags; None keeps the example's value."""

    name: str | None = None
    endpoint: str | None = None
    kubernetes_version: str | None = None
    control_planes: int | None = None
    workers: int | None = None
    os: str | None = None
    cni: str | None = None
    runtime: str | None = None
    image_mode: str | None = None
    ssh_key: str | None = None  # the public key's text (one line)

    def given(self) -> bool:
        return any(value is not None for value in dataclasses.astuple(self))


def _scalar(value: Any) -> str:
    """``value`` as the YAML dumper writes it after ``key: `` (quoted where YAML needs it); one line."""
    text = dump({"k": value})
    if not text.startswith("k: ") or text.count("\n") != 1:
        raise UserError(f"{value!r}: must be one line")
    return text[len("k: ") : -1]


def _aligned(template: str, node: yaml.Node, replacement: str) -> tuple[int, int, str]:
    """Replace a scalar's text; a comment after it on the line stays in its column where it fits,
    always with at least one space before its ``#`` (``x# y`` would be part of the value)."""
    start, end = node.start_mark.index, node.end_mark.index
    line_end = template.find("\n", end)
    rest = template[end:line_end]
    if rest.strip().startswith("#"):
        spaces = len(rest) - len(rest.lstrip(" "))
        width = end - start + spaces
        return start, end + spaces, replacement + " " * max(1, width - len(replacement))
    return start, end, replacement


def _child(node: yaml.Node, key: str) -> yaml.Node:
    if not isinstance(node, yaml.MappingNode):
        raise TypeError(f"the example template has no mapping at {key}")
    found: yaml.Node = next(v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == key)
    return found


def _find(root: yaml.Node, path: str) -> yaml.Node:
    node = root
    for key in path.split("."):
        node = _child(node, key)
    return node


def _nodes(answers: InitAnswers, data: dict[str, Any]) -> list[dict[str, Any]]:
    """The node list for --control-planes/--workers, named as in the example (master-N, worker-N)."""
    example = data["spec"]["nodes"]
    first_cp = next(n for n in example if n["role"] == "control-plane")
    first_worker = next(n for n in example if n["role"] == "worker")
    planes = answers.control_planes if answers.control_planes is not None else 1
    workers = answers.workers if answers.workers is not None else 1
    if planes < 1 or workers < 0:
        raise UserError("--control-planes must be at least 1 and --workers at least 0")
    nodes: list[dict[str, Any]] = []
    for i in range(planes):
        node: dict[str, Any] = {"name": f"master-{i}", "role": "control-plane"}
        # One control plane: it is the endpoint, as in the runbook (an IP endpoint is its address).
        host = data["spec"]["controlPlane"]["endpoint"].rpartition(":")[0].strip("[]")
        if planes == 1 and _is_ip(host):
            node["ip"] = host
        elif planes == 1 and answers.endpoint is None:
            node["ip"] = first_cp["ip"]
        nodes.append(node)
    nodes.extend({**first_worker, "name": f"worker-{i}"} for i in range(workers))
    return nodes


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _end(node: yaml.Node) -> int:
    """Where a node's own text ends: a block collection's end mark lies past the comments after it."""
    if isinstance(node, yaml.ScalarNode) or not node.value:
        return int(node.end_mark.index)
    last = node.value[-1]
    return _end(last[1] if isinstance(node, yaml.MappingNode) else last)


def _block(value: Any, column: int) -> str:
    """A block collection dumped at ``column`` (its first line goes where the old one started)."""
    lines = dump(value).splitlines()
    return "\n".join([lines[0], *(" " * column + line for line in lines[1:])])


def example_text(template: str, answers: InitAnswers) -> str:
    """The template with ``answers`` applied (see the module docstring)."""
    if not answers.given():
        return template
    data: dict[str, Any] = yaml.safe_load(template)
    root = yaml.compose(template)
    if root is None:
        raise TypeError("the example template is empty")
    spec = data["spec"]
    scalars = {
        "metadata.name": answers.name,
        "spec.kubernetes.version": answers.kubernetes_version,
        "spec.controlPlane.endpoint": answers.endpoint,
        "spec.cni.plugin": answers.cni,
        "spec.os": answers.os,
        "spec.image.mode": answers.image_mode,
    }
    edits: list[tuple[int, int, str]] = []
    for path, value in scalars.items():
        if value is None:
            continue
        *parents, key = path.split(".")
        holder = data
        for parent in parents:
            holder = holder[parent]
        holder[key] = value
        edits.append(_aligned(template, _find(root, path), _scalar(value)))
    if answers.ssh_key is not None:
        keys = _find(root, "spec.admin.sshAuthorizedKeys")
        if not isinstance(keys, yaml.SequenceNode) or len(keys.value) != 1:
            raise TypeError("the example template must hold one SSH key")
        item = keys.value[0]
        edits.append((item.start_mark.index, item.end_mark.index, _scalar(answers.ssh_key)))
        spec["admin"]["sshAuthorizedKeys"] = [answers.ssh_key]
        hint = template.index(_KEY_HINT)
        edits.append((hint, hint + len(_KEY_HINT), ""))
    if answers.control_planes is not None or answers.workers is not None or answers.endpoint is not None:
        spec["nodes"] = _nodes(answers, data)
        seq = _find(root, "spec.nodes")
        edits.append((seq.start_mark.index, _end(seq), _block(spec["nodes"], seq.start_mark.column)))
    if answers.runtime is not None:
        start = template.index(_RUNTIME_COMMENT)
        edits.append((start, start + len(_RUNTIME_COMMENT), f"  runtime:\n    name: {_scalar(answers.runtime)} "))
        spec["runtime"] = {"name": answers.runtime}
    text = template
    for start, end, replacement in sorted(edits, reverse=True):
        text = text[:start] + replacement + text[end:]
    if yaml.safe_load(text) != data:  # the splice must say exactly what the data says
        raise UserError("kgen init could not place these values in the example; please report this")
    return text


def write_example(path: Path, *, force: bool = False, answers: InitAnswers | None = None) -> list[tuple[str, Path]]:
    """Write the commented example config (the runbook's cluster) and its JSON Schema beside it, so
    the `# yaml-language-server: $schema=` line works offline. Returns (status verb, path) pairs.

    ``answers`` (``kgen init --name ...``) replace the example's values, comments kept
    (:func:`generator.api.example.example_text`); the result must pass validation, or nothing is
    written. The example's placeholder SSH key is left for the user to replace unless one is given."""
    if path.exists() and not force:
        raise UserError(f"{path} already exists; use --force to overwrite it")
    schema_path = path.with_name("cluster.schema.json")
    example = (templates_dir() / "cluster.yaml").read_text(encoding="utf-8").replace("{schema}", schema_path.name)
    if answers is not None and answers.given():
        example = example_text(example, answers)
        doc = parse(example, str(path))
        problems = errors_only(validate(doc, normalize(doc)))
        if answers.ssh_key is None:
            problems = [p for p in problems if not p.path.startswith("spec.admin.sshAuthorizedKeys")]
        if problems:
            raise ConfigInvalid(problems)
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
