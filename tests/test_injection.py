"""Hostile values in every free-text field of the config: quotes, command substitutions, newlines,
backslashes, unicode. For each (field, payload) kgen must either

(a) reject the config cleanly: exit 1, no traceback, one ``FILE:LINE: <key path>: ...`` line per problem
    and one of them naming the field, nothing written; or
(b) render it safely: every user-data, kubeadm.yaml and meta-data parses as YAML and carries the value
    exactly where it belongs; every script in the user-data passes ``bash -n`` and shellcheck; and
    running the ``readonly NAME=...`` definitions of each script for real (bash, a scratch working
    directory, a PATH that holds only ``touch``) runs nothing, creates no CANARY file, and yields the
    exact raw values.

Every payload here is outside the documented syntax of every field except the comment of an ssh key,
which is free text up to the end of the line. So for all other fields (b) also means a validation
gap, reported as :class:`ValidationGap` after the safety checks pass.

Known kgen bugs are strict xfails, each limited to the exception class the bug raises, so any other
failure in those cases still fails the test and a fix turns them into XPASS (a failure) to remove.

Outcome when written: the ssh key comment accepts every payload without an embedded newline and
renders it safely. Every other field rejects every payload except a trailing newline, which all
pattern- or DNS-checked fields accept (see KNOWN_BUGS); cni version, node ip and podSubnet reject all.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import re
import shlex
import shutil
import subprocess
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from generator import secrets
from generator.api import check_config
from generator.cli import app
from generator.errors import ConfigInvalid
from generator.load import format_path
from tests.conftest import YAML_DUMPER, fixture_bundle, parse_yaml, parse_yaml_all, shellcheck, user_data_scripts

RUNNER = CliRunner()
CANARY = "CANARY"
SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICI5zLJe2KhGeYsJMQVpDpi+Qq7ergFfjAdCFqt/tfyL"
BOOTSTRAP = "/usr/local/sbin/kgen-bootstrap"

PAYLOADS: dict[str, str] = {
    "single-quote": "'",
    "double-quote": '"',
    "command-substitution": f"$(touch {CANARY})",
    "backticks": f"`touch {CANARY}`",
    "quote-breakout": f"'$(touch {CANARY})'",
    "ifs": "${IFS}",
    "trailing-newline": "\n",
    "newline-command": f"\ntouch {CANARY}\n#",
    "semicolon-rm": "; rm -rf /",
    "backslash": "\\",
    "umlaut": "ü",
    "eszett": "ß",
    "cjk": "日本",
    "rtl-mark": "\u200f",
    "emoji": "🚀",
    "line-separator": "\u2028",
}


def base_config() -> dict[str, Any]:
    """A valid config that uses every free-text field once."""
    return {
        "apiVersion": "kgen.dev/v1alpha1",
        "kind": "Cluster",
        "metadata": {"name": "demo"},
        "spec": {
            "kubernetes": {"version": "1.34.3"},
            "controlPlane": {
                "endpoint": "k8s-api.example.com:6443",
                "certSANs": ["10.0.0.100", "api.internal.example.com"],
            },
            "os": "ubuntu-24.04",
            "image": {"mode": "golden"},
            "bootstrapToken": {"ttl": "24h"},
            "admin": {"user": "kadmin", "sshAuthorizedKeys": [f"{SSH_KEY} tester@example.com"]},
            "networking": {"podSubnet": "192.168.0.0/16", "dnsDomain": "cluster.local"},
            "cni": {"plugin": "calico", "version": "v3.31.3"},
            "nodes": [
                {
                    "name": "cp",
                    "role": "control-plane",
                    "ip": "10.0.0.10",
                    "labels": {"example.com/tier": "control"},
                    "taints": [{"key": "example.com/dedicated", "value": "cp", "effect": "NoSchedule"}],
                }
            ],
            "workerPools": [
                {
                    "name": "pool",
                    "count": 1,
                    "labels": {"node.kubernetes.io/pool": "a"},
                    "taints": [{"key": "example.com/pool", "value": "a", "effect": "PreferNoSchedule"}],
                }
            ],
        },
    }


# --- rendered output ---------------------------------------------------------------------------------


@dataclasses.dataclass
class NodeOutput:
    user_data: dict[str, Any]
    kubeadm: list[dict[str, Any]]
    scripts: dict[str, str]  # guest path -> text
    values: dict[str, str]  # bootstrap's readonly NAME -> value, as bash sees it

    def document(self, kind: str) -> dict[str, Any]:
        docs = [d for d in self.kubeadm if d.get("kind") == kind]
        assert len(docs) == 1, f"{kind} in {[d.get('kind') for d in self.kubeadm]}"
        return docs[0]

    @property
    def registration(self) -> dict[str, Any]:
        kind = (
            "InitConfiguration" if any(d["kind"] == "InitConfiguration" for d in self.kubeadm) else "JoinConfiguration"
        )
        registration: dict[str, Any] = self.document(kind)["nodeRegistration"]
        return registration

    def labels(self) -> list[str]:
        args = self.registration.get("kubeletExtraArgs", [])
        values = [a["value"] for a in args if a["name"] == "node-labels"]
        return values[0].split(",") if values else []


Output = dict[str, NodeOutput]  # node name -> output
Expectation = Callable[[Output, str], None]


def the_control_plane(out: Output) -> NodeOutput:
    nodes = [n for n in out.values() if any(d["kind"] == "ClusterConfiguration" for d in n.kubeadm)]
    assert len(nodes) == 1
    return nodes[0]


def the_worker(out: Output) -> NodeOutput:
    nodes = [n for n in out.values() if n.values["NODE_ROLE"] == "worker"]
    assert len(nodes) == 1
    return nodes[0]


# --- fields ------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Field:
    """A free-text field: how to put a payload into it, the key path kgen reports it under, and where a
    successful render must carry the value."""

    name: str
    apply: Callable[[dict[str, Any], str], str]  # (config, payload) -> the hostile value it set
    key_path: Callable[[str], str]  # hostile value -> key path as kgen prints it
    expect: Expectation
    free_text: bool = False  # True: any payload without a line break is legal

    def allows(self, payload: str) -> bool:
        return self.free_text and not set(payload) & {"\n", "\r"}


def _set(*path: str | int, base: str) -> Callable[[dict[str, Any], str], str]:
    def apply(config: dict[str, Any], payload: str) -> str:
        parent: Any = config
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = value = base + payload
        return value

    return apply


def _rename_label(holder: tuple[str, int], key: str) -> Callable[[dict[str, Any], str], str]:
    def apply(config: dict[str, Any], payload: str) -> str:
        labels = config["spec"][holder[0]][holder[1]]["labels"]
        labels[key + payload] = labels.pop(key)
        return key + payload

    return apply


def _fixed(path: str) -> Callable[[str], str]:
    return lambda _value: path


def expect_cluster_name(out: Output, value: str) -> None:
    for node in out.values():
        assert node.values["CLUSTER_NAME"] == value
        assert node.user_data["users"][0]["gecos"] == f"kgen admin for cluster {value}"
    assert the_control_plane(out).document("ClusterConfiguration")["clusterName"] == value


def expect_node_name(out: Output, value: str) -> None:
    node = out[value]
    assert node.user_data["hostname"] == value
    assert node.registration["name"] == value
    assert node.values["NODE_NAME"] == value


def expect_pool_name(out: Output, value: str) -> None:
    expect_node_name(out, f"{value}-0")


def expect_endpoint(out: Output, value: str) -> None:
    for node in out.values():
        assert node.values["API_ENDPOINT"] == value
    assert the_control_plane(out).document("ClusterConfiguration")["controlPlaneEndpoint"] == value
    discovery = the_worker(out).document("JoinConfiguration")["discovery"]["bootstrapToken"]
    assert discovery["apiServerEndpoint"] == value


def expect_cert_san(out: Output, value: str) -> None:
    assert value in the_control_plane(out).document("ClusterConfiguration")["apiServer"]["certSANs"]


def expect_dns_domain(out: Output, value: str) -> None:
    assert the_control_plane(out).document("ClusterConfiguration")["networking"]["dnsDomain"] == value


def expect_label(pick: Callable[[Output], NodeOutput], key: str | None, value: str | None) -> Expectation:
    """The label (key=value) with the hostile value in place of whichever of them is None."""

    def check(out: Output, hostile: str) -> None:
        label = f"{hostile if key is None else key}={hostile if value is None else value}"
        assert label in pick(out).labels()

    return check


def expect_taint(pick: Callable[[Output], NodeOutput], key: str | None, value: str | None) -> Expectation:
    def check(out: Output, hostile: str) -> None:
        taint = {"key": hostile if key is None else key, "value": hostile if value is None else value}
        assert any({k: t.get(k) for k in ("key", "value")} == taint for t in pick(out).registration["taints"])

    return check


def expect_admin_user(out: Output, value: str) -> None:
    for node in out.values():
        assert node.user_data["users"][0]["name"] == value
        assert node.values["ADMIN_USER"] == value


def expect_ssh_key(out: Output, value: str) -> None:
    for node in out.values():
        assert node.user_data["users"][0]["ssh_authorized_keys"] == [value]


def expect_ttl(go_duration: str) -> Expectation:
    def check(out: Output, value: str) -> None:
        token = the_control_plane(out).document("InitConfiguration")["bootstrapTokens"][0]
        assert token["ttl"] == go_duration, f"{value!r} -> {token['ttl']!r}"

    return check


def expect_nothing(out: Output, value: str) -> None:
    """Only the pinned value is legal here; a render with anything else is a validation gap."""


FIELDS = [
    Field("metadata.name", _set("metadata", "name", base="demo"), _fixed("metadata.name"), expect_cluster_name),
    Field(
        "node name",
        _set("spec", "nodes", 0, "name", base="cp"),
        _fixed("spec.nodes[0].name"),
        expect_node_name,
    ),
    Field(
        "endpoint host",
        lambda c, p: _set("spec", "controlPlane", "endpoint", base="k8s-api.example.com")(c, p + ":6443"),
        _fixed("spec.controlPlane.endpoint"),
        expect_endpoint,
    ),
    Field(
        "certSANs[0]",
        _set("spec", "controlPlane", "certSANs", 0, base="10.0.0.100"),
        _fixed("spec.controlPlane.certSANs[0]"),
        expect_cert_san,
    ),
    Field(
        "certSANs[1]",
        _set("spec", "controlPlane", "certSANs", 1, base="api.internal.example.com"),
        _fixed("spec.controlPlane.certSANs[1]"),
        expect_cert_san,
    ),
    Field(
        "dnsDomain",
        _set("spec", "networking", "dnsDomain", base="cluster.local"),
        _fixed("spec.networking.dnsDomain"),
        expect_dns_domain,
    ),
    Field(
        "node label value",
        _set("spec", "nodes", 0, "labels", "example.com/tier", base="control"),
        _fixed("spec.nodes[0].labels.example.com/tier"),
        expect_label(the_control_plane, "example.com/tier", None),
    ),
    Field(
        "node label key",
        _rename_label(("nodes", 0), "example.com/tier"),
        lambda key: format_path(("spec", "nodes", 0, "labels", key)),
        expect_label(the_control_plane, None, "control"),
    ),
    Field(
        "pool label value",
        _set("spec", "workerPools", 0, "labels", "node.kubernetes.io/pool", base="a"),
        _fixed("spec.workerPools[0].labels.node.kubernetes.io/pool"),
        expect_label(the_worker, "node.kubernetes.io/pool", None),
    ),
    Field(
        "pool label key",
        _rename_label(("workerPools", 0), "node.kubernetes.io/pool"),
        lambda key: format_path(("spec", "workerPools", 0, "labels", key)),
        expect_label(the_worker, None, "a"),
    ),
    Field(
        "node taint key",
        _set("spec", "nodes", 0, "taints", 0, "key", base="example.com/dedicated"),
        _fixed("spec.nodes[0].taints[0].key"),
        expect_taint(the_control_plane, None, "cp"),
    ),
    Field(
        "node taint value",
        _set("spec", "nodes", 0, "taints", 0, "value", base="cp"),
        _fixed("spec.nodes[0].taints[0].value"),
        expect_taint(the_control_plane, "example.com/dedicated", None),
    ),
    Field(
        "pool taint key",
        _set("spec", "workerPools", 0, "taints", 0, "key", base="example.com/pool"),
        _fixed("spec.workerPools[0].taints[0].key"),
        expect_taint(the_worker, None, "a"),
    ),
    Field(
        "pool taint value",
        _set("spec", "workerPools", 0, "taints", 0, "value", base="a"),
        _fixed("spec.workerPools[0].taints[0].value"),
        expect_taint(the_worker, "example.com/pool", None),
    ),
    Field("admin user", _set("spec", "admin", "user", base="kadmin"), _fixed("spec.admin.user"), expect_admin_user),
    Field(
        "ssh key comment",
        _set("spec", "admin", "sshAuthorizedKeys", 0, base=f"{SSH_KEY} tester@example.com"),
        _fixed("spec.admin.sshAuthorizedKeys[0]"),
        expect_ssh_key,
        free_text=True,
    ),
    Field(
        "pool name",
        _set("spec", "workerPools", 0, "name", base="pool"),
        _fixed("spec.workerPools[0].name"),
        expect_pool_name,
    ),
    Field("cni version", _set("spec", "cni", "version", base="v3.31.3"), _fixed("spec.cni.version"), expect_nothing),
    # Not free text, but strings users type:
    Field(
        "kubernetes version",
        _set("spec", "kubernetes", "version", base="1.34.3"),
        _fixed("spec.kubernetes.version"),
        expect_nothing,
    ),
    Field("node ip", _set("spec", "nodes", 0, "ip", base="10.0.0.10"), _fixed("spec.nodes[0].ip"), expect_nothing),
    Field(
        "token ttl",
        _set("spec", "bootstrapToken", "ttl", base="24h"),
        _fixed("spec.bootstrapToken.ttl"),
        expect_ttl("24h0m0s"),
    ),
    Field(
        "token ttl 0",
        _set("spec", "bootstrapToken", "ttl", base="0"),
        _fixed("spec.bootstrapToken.ttl"),
        expect_ttl("0s"),
    ),
    Field(
        "podSubnet",
        _set("spec", "networking", "podSubnet", base="192.168.0.0/16"),
        _fixed("spec.networking.podSubnet"),
        expect_nothing,
    ),
]

# --- failure kinds, so the known-bug xfails below match one way of failing only -----------------------


class KgenCrash(AssertionError):
    """kgen raised an unexpected exception (a traceback for the user)."""


class MultiLineProblem(AssertionError):
    """A rejection printed a line that is neither ``FILE:LINE: ...`` nor ``kgen: ...``."""


class BrokenScript(AssertionError):
    """A rendered script fails bash -n or shellcheck."""


class ValidationGap(AssertionError):
    """A value outside the field's documented syntax was accepted (safely)."""


# field name -> payload id -> (failure kind, reason): strict xfails for kgen bugs still open. The ones
# this test found (trailing newlines passing `$`-anchored patterns, a newline in a label key splitting
# a problem line) are fixed, so the table is empty; keep the mechanism for the next one.
KNOWN_BUGS: dict[str, dict[str, tuple[type[AssertionError], str]]] = {}


def cases() -> Iterator[Any]:
    for field in FIELDS:
        for payload_id, payload in PAYLOADS.items():
            known = KNOWN_BUGS.get(field.name, {}).get(payload_id)
            marks = [pytest.mark.xfail(raises=known[0], reason=known[1], strict=True)] if known else []
            yield pytest.param(field, payload, id=f"{field.name}-{payload_id}", marks=marks)


# --- helpers -------------------------------------------------------------------------------------------


@functools.cache
def _fixture() -> secrets.SecretsBundle:
    return fixture_bundle("demo")


def bundle_text(cluster: str) -> str:
    return dataclasses.replace(_fixture(), cluster=cluster).to_yaml()


def invoke(args: list[str], config_text: str) -> tuple[int, str]:
    result = RUNNER.invoke(app, args)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        trace = "".join(traceback.format_exception(result.exception))
        raise KgenCrash(f"kgen {args[0]} crashed:\n{trace}\nconfig:\n{config_text}")
    if "Traceback" in result.output:
        raise KgenCrash(result.output)
    assert result.exit_code in (0, 1), f"kgen {args[0]}: exit {result.exit_code}\n{result.output}"
    return result.exit_code, result.output


LINE_NUMBER = re.compile(r"\d+: ")


def located(line: str, config: Path) -> str | None:
    """What follows ``FILE:LINE: `` when ``line`` starts so for ``config``, else None. (A prefix test, not
    one regex per config path: compiling a new pattern for every case's temp path cost more than the
    checks.)"""
    prefix = f"{config}:"
    if not line.startswith(prefix):
        return None
    number = LINE_NUMBER.match(line, len(prefix))
    return line[number.end() :] if number else None


def check_problem_lines(output: str, config: Path) -> list[str]:
    """Every non-empty line is FILE:LINE: ... for this config, or kgen: ... (split on \\n only: a U+2028
    inside a message is not a line break on a terminal)."""
    lines = [line for line in output.split("\n") if line.strip()]
    if not lines:
        raise MultiLineProblem("exit 1 without a message")
    for line in lines:
        if not (located(line, config) is not None or line.startswith("kgen: ")):
            raise MultiLineProblem(f"not FILE:LINE: ... or kgen: ... -> {line!r}\nfull output:\n{output}")
    return lines


def decode(content: bytes) -> str:
    if content[:2] == b"\x1f\x8b":
        content = gzip.decompress(content)
    return content.decode("utf-8")


_checked_scripts: set[str] = set()  # sha256 of scripts that passed bash -n and shellcheck


def check_scripts(scripts: dict[str, str], workdir: Path) -> None:
    """bash -n and shellcheck on every script not already checked in this session (shellcheck through
    the shared helper, which remembers passes across xdist workers)."""
    todo = {hashlib.sha256(t.encode()).hexdigest(): (name, t) for name, t in scripts.items()}
    todo = {sha: v for sha, v in todo.items() if sha not in _checked_scripts}
    if not todo:
        return
    workdir.mkdir()
    for i, (name, text) in enumerate(todo.values()):
        path = workdir / f"{i:03d}-{Path(name).name}.sh"
        path.write_text(text, encoding="utf-8")
        syntax = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True, check=False)
        if syntax.returncode != 0:
            raise BrokenScript(f"bash -n {name}:\n{syntax.stderr}")
    try:
        shellcheck(dict(todo.values()), workdir / "shellcheck")
    except AssertionError as exc:
        raise BrokenScript(f"shellcheck:\n{exc}") from exc
    _checked_scripts.update(todo)


READONLY = re.compile(r"^readonly ([A-Za-z_][A-Za-z0-9_]*)=(.*)$")


@functools.lru_cache(maxsize=1024)  # most scripts recur unchanged across the cases
def definitions(script: str) -> tuple[tuple[str, str], ...]:
    """(name, statement) for each top-level ``readonly NAME=...`` of ``script``; a statement spans lines
    while its quoting is open (a quoted value with a newline)."""
    lines = script.split("\n")
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(lines):
        match = READONLY.match(lines[i])
        if not match:
            i += 1
            continue
        statement, end = lines[i], i
        while True:
            try:
                shlex.split(statement)
                break
            except ValueError:
                end += 1
                assert end < len(lines) and end - i <= 3, f"unterminated quoting: {statement!r}"
                statement += "\n" + lines[end]
        out.append((match[1], statement))
        i = end + 1
    return tuple(out)


def literal(word: str) -> str | None:
    """The value of ``word`` when it is exactly kgen's ``shlex.quote(value)``, else None."""
    try:
        tokens = shlex.split(word)
    except ValueError:
        return None
    return tokens[0] if len(tokens) == 1 and shlex.quote(tokens[0]) == word else None


def run_definitions(statements: tuple[tuple[str, str], ...], sandbox: Path) -> dict[str, str]:
    """Run a script's readonly definitions (:func:`definitions`) under bash in ``sandbox``: cwd an empty
    folder, PATH a folder with only ``touch`` (so an injected ``touch CANARY`` would show and an
    injected ``rm`` cannot run). Return each variable's value as bash holds it; assert nothing was
    created and every quoted literal came out exactly."""
    assert statements, "no readonly definitions"
    bash = shutil.which("bash")
    touch = shutil.which("touch")
    assert bash and touch
    bin_dir, cwd = sandbox / "bin", sandbox / "cwd"
    bin_dir.mkdir(parents=True)
    cwd.mkdir()
    (bin_dir / "touch").symlink_to(touch)
    names = " ".join(name for name, _ in statements)
    program = "\n".join(s for _, s in statements) + f'\nfor n in {names}; do printf "%s=%s\\0" "$n" "${{!n}}"; done\n'
    result = subprocess.run(
        [bash, "--norc", "--noprofile", "-c", program],
        cwd=cwd,
        env={"PATH": str(bin_dir), "HOME": str(cwd)},
        capture_output=True,
        check=False,
    )
    created = sorted(p.name for p in sandbox.rglob("*") if p.parent != bin_dir and p not in (bin_dir, cwd))
    assert not created, f"running the definitions created {created}:\n{program}"
    assert result.returncode == 0, result.stderr.decode("utf-8", "replace")
    assert result.stderr == b"", result.stderr.decode("utf-8", "replace")
    values = dict(item.split("=", 1) for item in result.stdout.decode("utf-8").split("\0") if item)
    for name, statement in statements:
        expected = literal(statement.split("=", 1)[1])
        if expected is not None:
            assert values[name] == expected, f"{name}: bash holds {values[name]!r}, kgen quoted {expected!r}"
    return values


def check_render(out_root: Path, sandbox: Path) -> Output:
    """Parse and check everything rendered; return each node's parsed output."""
    clusters = list(out_root.iterdir())
    assert len(clusters) == 1, clusters
    nodes: Output = {}
    scripts: dict[str, str] = {}
    for node_dir in sorted(p for p in (clusters[0] / "nodes").iterdir() if p.is_dir()):
        text = decode((node_dir / "user-data").read_bytes())
        assert text.startswith("#cloud-config\n")
        user_data = parse_yaml(text)
        kubeadm = list(parse_yaml_all((node_dir / "kubeadm.yaml").read_text(encoding="utf-8")))
        meta = parse_yaml((node_dir / "meta-data").read_text(encoding="utf-8"))
        assert meta["local-hostname"] == node_dir.name == user_data["hostname"]
        node_scripts = dict(user_data_scripts(user_data))
        assert node_scripts[BOOTSTRAP] == (node_dir / "bootstrap.sh").read_text(encoding="utf-8")
        kubeadm_file = [f for f in user_data["write_files"] if f["path"] == "/etc/kgen/kubeadm.yaml"]
        assert list(parse_yaml_all(kubeadm_file[0]["content"])) == kubeadm
        values: dict[str, str] = {}
        for i, (path, script) in enumerate(sorted(node_scripts.items())):
            scripts[f"{node_dir.name}{path}"] = script
            statements = definitions(script)
            if statements:
                script_values = run_definitions(statements, sandbox / f"{node_dir.name}-{i}")
                if path == BOOTSTRAP:
                    values = script_values
        assert values, "bootstrap.sh has no definitions"
        nodes[node_dir.name] = NodeOutput(user_data, kubeadm, node_scripts, values)
    check_scripts(scripts, sandbox / "scripts")
    return nodes


# --- the tests ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("field", "payload"), list(cases()))
def test_hostile_value_is_rejected_or_rendered_safely(field: Field, payload: str, tmp_path: Path) -> None:
    doc = base_config()
    value = field.apply(doc, payload)
    text = yaml.dump(doc, Dumper=YAML_DUMPER, sort_keys=False, allow_unicode=True)
    assert parse_yaml(text) == doc, "the payload must survive YAML"
    config = tmp_path / "cluster.yaml"
    config.write_text(text, encoding="utf-8")
    bundle = tmp_path / "bundle.secrets.yaml"
    bundle.write_text(bundle_text(doc["metadata"]["name"]), encoding="utf-8")
    out = tmp_path / "out"

    validate_code, validate_output = invoke(["validate", str(config)], text)
    render_code, render_output = invoke(["render", str(config), "-d", str(out), "--secrets", str(bundle)], text)
    assert validate_code == render_code, f"validate exit {validate_code}, render exit {render_code}"
    assert not secrets.default_path(config).exists(), "kgen wrote a secrets bundle beside the config"

    if render_code == 1:  # (a) a clean rejection that names the field
        assert not out.exists(), "a rejected config wrote output"
        for output in (validate_output, render_output):
            lines = check_problem_lines(output, config)
            named = f"{field.key_path(value)}: "
            assert any((located(line, config) or "").startswith(named) for line in lines), (
                f"no problem names {field.key_path(value)!r}:\n{output}"
            )
        return

    # (b) a safe render
    rendered = check_render(out, tmp_path / "sandbox")
    field.expect(rendered, value)
    if not field.allows(payload):
        raise ValidationGap(f"{field.name}: {value!r} is outside the field's syntax, and kgen accepted it")


@pytest.mark.parametrize("field", FIELDS, ids=lambda f: f.name)
def test_base_config_renders_every_field(field: Field, tmp_path: Path) -> None:
    """The hostile cases mean something only if the base config renders and each field carries its
    base value where :attr:`Field.expect` looks (the empty payload)."""
    doc = base_config()
    value = field.apply(doc, "")
    config = tmp_path / "cluster.yaml"
    config.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    try:
        problems = [p for p in check_config(config) if p.severity == "error"]
    except ConfigInvalid as exc:
        problems = list(exc.problems)
    assert problems == []
    bundle = tmp_path / "bundle.secrets.yaml"
    bundle.write_text(bundle_text(doc["metadata"]["name"]), encoding="utf-8")
    code, output = invoke(["render", str(config), "-d", str(tmp_path / "out"), "--secrets", str(bundle)], "")
    assert code == 0, output
    field.expect(check_render(tmp_path / "out", tmp_path / "sandbox"), value)
