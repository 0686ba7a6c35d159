"""Property test: for any config the schema admits, `kgen render` either succeeds with user-data that
cloud-init's own schema and shellcheck accept, or fails cleanly (exit 1, one located line per
problem, nothing written). Never a crash, never another exit code.

Configs come from hypothesis-jsonschema in two ways:

* pure ``from_schema`` draws of the whole cluster schema (sizes capped). Nearly all of them fail the
  semantic checks, so they exercise the error path;
* a valid example config with some parts replaced by schema-generated sub-objects (``spec.networking``,
  ``spec.cni``, ``spec.nodes`` ...). Most replacements come from a copy of the part's schema whose
  free-text leaves are narrowed to plausible values (CIDRs, DNS names, short labels), so that a good
  share of the examples render; a few come from the part's raw schema.

Checking each example with the system validators would be slow (one cloud-init process costs ~0.4 s),
so each example only records its rendered user-data. The test checks all of it at the end: Debian's
`cloud-init schema` over every user-data file (in the worker's one cloud-init process, see
:func:`tests.conftest.cloud_init_schema`), one ``bash -n`` per distinct script, and shellcheck over one
script per group of scripts that differ only in shell-literal values (see
:func:`tests.shellkey.shellcheck_key`), in a few parallel shellcheck processes.

``KGEN_PROPERTY_EXAMPLES`` sets the number of examples; CI (``.ci/run``) uses 300, drawn afresh on every
run. Without it a run takes 20 examples in hypothesis' fixed (derandomized) sequence: a quick local run
that repeats exactly, so its share of rendered examples cannot swing below the floor by chance.

A second test, the mutation mode, splices YAML-typed odd values and keys into valid examples (see
:func:`test_mutated_yaml_gives_clean_problems_or_success`; ``KGEN_PROPERTY_MUTATIONS``, default 200;
CI uses 1000).
"""

from __future__ import annotations

import collections
import copy
import dataclasses
import functools
import gzip
import hashlib
import itertools
import json
import os
import re
import shutil
import subprocess
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema
from typer.testing import CliRunner

from generator import secrets
from generator.cli import app
from generator.versions import kubernetes_release, supported_minors
from tests import validated
from tests.conftest import (
    REPO,
    SHELLCHECK_ARGS,
    YAML_DUMPER,
    cloud_init_schema,
    fixture_bundle,
    parse_yaml,
    read_yaml,
    require_tool,
    shellcheck_verdict_key,
    user_data_scripts,
    valid_cases,
)
from tests.shellkey import shellcheck_key

MAX_EXAMPLES = int(os.environ.get("KGEN_PROPERTY_EXAMPLES", "20"))
DERANDOMIZE = "KGEN_PROPERTY_EXAMPLES" not in os.environ
MIN_RENDERED_SHARE = 0.2

SCHEMA: dict[str, Any] = json.loads((REPO / "schemas" / "cluster.schema.json").read_text(encoding="utf-8"))
BASES: list[dict[str, Any]] = [read_yaml(case / "cluster.yaml") for case in valid_cases()]
RUNNER = CliRunner()
PROBLEM_LINE = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): \S")

# --- schemas ----------------------------------------------------------------------------------------


def spec_schema(key: str) -> dict[str, Any]:
    schema: dict[str, Any] = copy.deepcopy(SCHEMA["properties"]["spec"]["properties"][key])
    return schema


def capped(schema: dict[str, Any]) -> dict[str, Any]:
    """The cluster schema with array and map sizes capped, so a draw renders in a fraction of a second
    (a pool may have up to 1000 nodes). Nothing else changes."""
    out = copy.deepcopy(schema)
    spec = out["properties"]["spec"]["properties"]
    spec["nodes"]["maxItems"] = 3
    spec["workerPools"]["maxItems"] = 3
    spec["workerPools"]["items"]["properties"]["count"]["maximum"] = 3
    spec["controlPlane"]["properties"]["certSANs"]["maxItems"] = 3
    spec["admin"]["properties"]["sshAuthorizedKeys"]["maxItems"] = 2
    for holder in (spec["nodes"]["items"], spec["workerPools"]["items"]):
        holder["properties"]["labels"]["maxProperties"] = 2
        holder["properties"]["taints"]["maxItems"] = 2
    return out


RAW = capped(SCHEMA)
RAW_SPEC = RAW["properties"]["spec"]["properties"]

# Narrowed leaves. Patterns end in \Z: with $, Python's re (and so hypothesis) also admits a trailing
# newline, which kgen mishandles (see KNOWN_BUGS).
DNS_LABEL = r"^[a-z]([a-z0-9-]{0,4}[a-z0-9])?\Z"
LABEL_KEY = r"^(example\.com/|node\.kubernetes\.io/)?[a-z][a-z0-9]{0,4}\Z"
TAINT_KEY = r"^(example\.com/)?[a-z][a-z0-9]{0,4}\Z"
LABEL_VALUE = r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,4}[A-Za-z0-9])?)?\Z"
NODE_IPS = ["10.0.0.10", "10.0.0.11", "10.0.0.12", "10.0.0.13"]
ENDPOINTS = ["k8s-api.example.com:6443", "10.0.0.100:6443", "10.0.0.10:6443", "api.internal.example.com:443"]
CERT_SANS = ["10.0.0.100", "api.internal.example.com", "*.apps.example.com", "192.0.2.1", "k8s-api.example.com"]
POD_SUBNETS = ["192.168.0.0/16", "172.16.0.0/16", "10.244.0.0/16"]
SERVICE_SUBNETS = ["10.96.0.0/12", "172.20.0.0/16"]
NODE_SUBNETS = ["10.0.0.0/24", "10.0.0.0/16"]
CALICO_POOLS = ["192.168.0.0/16", "192.168.128.0/17", "172.16.128.0/17", "10.244.0.0/17"]
CNI_VERSIONS = {"calico": ["v3.31.3", "3.31.3"], "cilium": ["1.18.4", "v1.18.4"], "flannel": ["v0.27.4", "0.27.4"]}


def kubernetes_versions() -> list[str]:
    """Every patch of every supported minor up to the newest known one (plus one newer, a warning),
    with and without the ``v`` prefix."""
    out: list[str] = []
    for minor in supported_minors():
        latest = kubernetes_release(minor).latest_patch
        for patch in range(latest.patch + 2):
            out += [f"{minor}.{patch}", f"v{minor}.{patch}"]
    return out


def tight_labels_and_taints(holder: dict[str, Any]) -> None:
    props = holder["properties"]
    props["labels"] = {
        "type": "object",
        "maxProperties": 2,
        "propertyNames": {"pattern": LABEL_KEY},
        "additionalProperties": {"type": "string", "pattern": LABEL_VALUE},
    }
    taint = props["taints"]["items"]
    taint["properties"]["key"] = {"type": "string", "pattern": TAINT_KEY}
    taint["properties"]["value"] = {"type": "string", "pattern": LABEL_VALUE}
    props["taints"]["maxItems"] = 2


def tight_node(role: str | None = None) -> dict[str, Any]:
    node: dict[str, Any] = spec_schema("nodes")["items"]
    node["properties"]["name"] = {"type": "string", "pattern": DNS_LABEL}
    node["properties"]["ip"] = {"enum": NODE_IPS}
    if role is not None:
        node["properties"]["role"] = {"const": role}
    tight_labels_and_taints(node)
    return node


def tight_pools() -> dict[str, Any]:
    pools = spec_schema("workerPools")
    pools["maxItems"] = 3
    item = pools["items"]
    item["properties"]["name"] = {"type": "string", "pattern": DNS_LABEL}
    item["properties"]["count"]["maximum"] = 3
    tight_labels_and_taints(item)
    return pools


def tight_control_plane() -> dict[str, Any]:
    cp = spec_schema("controlPlane")
    cp["properties"]["endpoint"] = {"enum": ENDPOINTS}
    cp["properties"]["certSANs"] = {"type": "array", "maxItems": 3, "items": {"enum": CERT_SANS}}
    return cp


def tight_networking() -> dict[str, Any]:
    net = spec_schema("networking")
    props = net["properties"]
    props["podSubnet"] = {"enum": POD_SUBNETS}
    props["serviceSubnet"] = {"enum": SERVICE_SUBNETS}
    props["nodeSubnet"] = {"enum": NODE_SUBNETS}
    props["dnsDomain"] = {"type": "string", "pattern": r"^[a-z]{1,5}(\.[a-z]{1,5}){0,2}\Z"}
    return net


def tight_admin() -> dict[str, Any]:
    """Real keys only: a pattern draw is almost never a key that decodes (generator/checks/ssh_keys.py)."""
    admin = spec_schema("admin")
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICI5zLJe2KhGeYsJMQVpDpi+Qq7ergFfjAdCFqt/tfyL"  # tests/test_ssh_keys.py
    admin["properties"]["sshAuthorizedKeys"] = {
        "type": "array",
        "minItems": 1,
        "maxItems": 2,
        "items": {"enum": [key, f"{key} tester@example.com"]},
    }
    return admin


def tight_cni(plugin: str) -> dict[str, Any]:
    cni = spec_schema("cni")
    props = cni["properties"]
    props["plugin"] = {"const": plugin}
    cni["required"] = ["plugin"]
    props["version"] = {"enum": CNI_VERSIONS.get(plugin, ["1.0.0"])}
    if plugin == "calico":
        props["calico"]["properties"]["ipPoolCIDR"] = {"enum": CALICO_POOLS}
    else:
        del props["calico"]
    return cni


# --- strategies -------------------------------------------------------------------------------------


def nodes_strategy() -> st.SearchStrategy[list[dict[str, Any]]]:
    """At least one control-plane node first (a cluster needs one), then up to two of any role."""
    first = from_schema(tight_node("control-plane"))
    rest = from_schema({"type": "array", "maxItems": 2, "items": tight_node()})
    return st.builds(lambda a, b: [a, *b], first, rest)


@dataclasses.dataclass(frozen=True)
class Overlay:
    path: tuple[str, ...]
    tight: st.SearchStrategy[Any]
    raw: st.SearchStrategy[Any]
    optional: bool


@functools.cache
def overlays() -> tuple[Overlay, ...]:
    """The overlays, built on first use: hypothesis-jsonschema's strategies cost seconds to build
    (character tables), which every xdist worker would otherwise pay while collecting this module."""
    return (
        Overlay(
            ("metadata", "name"),
            from_schema({"type": "string", "pattern": DNS_LABEL}),
            # The schema's own (any non-empty string), or not a string at all.
            st.one_of(from_schema(RAW["properties"]["metadata"]["properties"]["name"]), from_schema({})),
            optional=False,
        ),
        Overlay(
            ("spec", "kubernetes", "version"),
            st.sampled_from(kubernetes_versions()),
            from_schema(RAW_SPEC["kubernetes"]["properties"]["version"]),
            optional=False,
        ),
        Overlay(
            ("spec", "controlPlane"), from_schema(tight_control_plane()), from_schema(RAW_SPEC["controlPlane"]), False
        ),
        Overlay(("spec", "networking"), from_schema(tight_networking()), from_schema(RAW_SPEC["networking"]), True),
        Overlay(
            ("spec", "cni"),
            st.one_of([from_schema(tight_cni(p)) for p in ("calico", "cilium", "flannel", "none")]),
            from_schema(RAW_SPEC["cni"]),
            optional=True,
        ),
        Overlay(("spec", "os"), from_schema(RAW_SPEC["os"]), from_schema(RAW_SPEC["os"]), True),
        Overlay(("spec", "image"), from_schema(RAW_SPEC["image"]), from_schema(RAW_SPEC["image"]), True),
        Overlay(
            ("spec", "bootstrapToken"),
            from_schema(RAW_SPEC["bootstrapToken"]),
            from_schema(RAW_SPEC["bootstrapToken"]),
            False,
        ),
        Overlay(("spec", "admin"), from_schema(tight_admin()), from_schema(RAW_SPEC["admin"]), False),
        Overlay(("spec", "nodes"), nodes_strategy(), from_schema(RAW_SPEC["nodes"]), False),
        Overlay(("spec", "workerPools"), from_schema(tight_pools()), from_schema(RAW_SPEC["workerPools"]), True),
        Overlay(("spec", "bootstrap"), from_schema(RAW_SPEC["bootstrap"]), from_schema(RAW_SPEC["bootstrap"]), True),
    )


@st.composite
def overlaid_configs(draw: st.DrawFn) -> dict[str, Any]:
    """A valid example with each part kept (47.5%), replaced by a narrowed schema draw (45%), dropped
    when optional (5%, else narrowed), or replaced by a raw schema draw (2.5%). Shrinks towards "kept"."""
    doc: dict[str, Any] = copy.deepcopy(draw(st.sampled_from(BASES)))
    for overlay in overlays():
        mode = draw(st.integers(0, 39))
        if mode <= 18:
            continue
        parent = doc
        for key in overlay.path[:-1]:
            parent = parent[key]
        if mode in (37, 38) and overlay.optional:
            parent.pop(overlay.path[-1], None)
        else:
            parent[overlay.path[-1]] = draw(overlay.raw if mode == 39 else overlay.tight)
    return doc


@functools.cache
def raw_configs() -> st.SearchStrategy[Any]:
    """The whole (capped) cluster schema's strategy, built once: hypothesis-jsonschema takes ~0.5 s to
    build it, and a fresh one per draw is the same strategy."""
    return from_schema(RAW)


@st.composite
def configs(draw: st.DrawFn) -> dict[str, Any]:
    """A quarter pure schema draws, three quarters overlaid examples."""
    if draw(st.integers(0, 3)) == 3:
        raw = draw(raw_configs())
        assert isinstance(raw, dict)
        return raw
    return draw(overlaid_configs())


# Inputs that hit a kgen bug already pinned by a strict xfail in test_injection.py are skipped here, so
# this test keeps looking for new ones. Empty: the bugs it was created for are fixed.
KNOWN_BUGS: dict[str, Callable[[dict[str, Any]], bool]] = {}

# --- fast secrets -----------------------------------------------------------------------------------


@functools.cache
def _fixture() -> secrets.SecretsBundle:
    return fixture_bundle("demo")


@functools.cache
def bundle_text(cluster: str) -> str:
    return dataclasses.replace(_fixture(), cluster=cluster).to_yaml()


# --- one example ------------------------------------------------------------------------------------


@dataclasses.dataclass
class Script:
    text: str
    origin: str  # "<config file>: <node>:<guest path>"


@dataclasses.dataclass
class Collected:
    """What the examples rendered, deduplicated, for the validators at the end."""

    calls: int = 0
    rendered: int = 0
    rejected: int = 0
    configs: dict[str, str] = dataclasses.field(default_factory=dict)  # config id -> YAML text
    user_data: dict[str, tuple[str, str]] = dataclasses.field(default_factory=dict)  # sha -> (text, origin)
    scripts: dict[str, Script] = dataclasses.field(default_factory=dict)  # sha -> script
    shellcheck_groups: dict[str, Script] = dataclasses.field(default_factory=dict)  # normalized sha -> first


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def decode_user_data(content: bytes) -> str:
    if content[:2] == b"\x1f\x8b":
        content = gzip.decompress(content)
    text = content.decode("utf-8")
    assert text.startswith("#cloud-config\n")
    return text


def check_failure_output(output: str, config: Path) -> None:
    lines = [line for line in output.split("\n") if line.strip()]  # a U+2028 in a message is no line break
    assert lines, "exit 1 without a message"
    for line in lines:
        match = PROBLEM_LINE.match(line)
        assert line.startswith("kgen: ") or (match and match["file"] == str(config)), (
            f"not FILE:LINE: ... or kgen: ... -> {line!r}\n{output}"
        )


def run_example(doc: dict[str, Any], workdir: Path, collected: Collected) -> None:
    """Render ``doc`` through the CLI in-process and check the outcome; keep the user-data."""
    collected.calls += 1
    workdir.mkdir(parents=True)
    config = workdir / "cluster.yaml"
    text = yaml.dump(doc, Dumper=YAML_DUMPER, sort_keys=False, allow_unicode=True)
    config.write_text(text, encoding="utf-8")
    out = workdir / "out"
    args = ["render", str(config), "-d", str(out)]
    metadata = doc.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    if isinstance(name, str):
        bundle = workdir / "cluster.secrets.yaml"
        bundle.write_text(bundle_text(name), encoding="utf-8")
        bundle.chmod(0o600)
        args += ["--secrets", str(bundle)]
    default_bundle = secrets.default_path(config)
    bundle_existed = default_bundle.exists()

    result = RUNNER.invoke(app, args)

    if result.exception is not None and not isinstance(result.exception, SystemExit):
        trace = "".join(traceback.format_exception(result.exception))
        pytest.fail(f"kgen crashed on this config:\n{text}\n{trace}")
    assert result.exit_code in (0, 1), f"exit {result.exit_code}\n{result.output}\nconfig:\n{text}"
    assert "Traceback" not in result.output, result.output
    if result.exit_code == 1:
        collected.rejected += 1
        check_failure_output(result.output, config)
        assert not out.exists(), f"a failed render wrote {out}"
        assert default_bundle.exists() == bundle_existed, "a failed render wrote a secrets bundle"
        return

    collected.rendered += 1
    config_id = f"config-{collected.calls:04d}"
    collected.configs[config_id] = text
    roots = list(out.iterdir())
    assert len(roots) == 1, roots
    node_dirs = sorted(p for p in (roots[0] / "nodes").iterdir() if p.is_dir())
    assert node_dirs, "a rendered cluster has nodes"
    for node_dir in node_dirs:
        user_data = decode_user_data((node_dir / "user-data").read_bytes())
        origin = f"{config_id}: {node_dir.name}"
        collected.user_data.setdefault(_sha(user_data), (user_data, origin))
        parsed = parse_yaml(user_data)
        assert isinstance(parsed, dict), origin
        scripts = list(user_data_scripts(parsed))
        assert any(path == "/usr/local/sbin/kgen-bootstrap" for path, _ in scripts), origin
        for path, script in scripts:
            entry = Script(script, f"{origin}:{path}")
            collected.scripts.setdefault(_sha(script), entry)
            collected.shellcheck_groups.setdefault(_sha(shellcheck_key(script)), entry)
    shutil.rmtree(workdir)


# --- the validators, once for the whole run ------------------------------------------------------------


def _explain(origins: list[str], collected: Collected) -> str:
    """The config behind each failing file, for the assertion message."""
    ids = sorted({origin.split(":", 1)[0] for origin in origins})[:3]
    return "\n".join(f"--- {i}:\n{collected.configs.get(i, '?')}" for i in ids)


def validate_with_cloud_init(collected: Collected, workdir: Path) -> None:
    """Debian's `cloud-init schema` accepts every collected user-data (tests.conftest.cloud_init_schema:
    the worker's one cloud-init process), with the configs behind any it rejects."""
    by_origin: dict[str, bytes | str] = {origin: text for text, origin in collected.user_data.values()}
    try:
        cloud_init_schema(by_origin, workdir)
    except AssertionError as exc:
        failed = [origin for origin in by_origin if repr(origin) in str(exc)]
        raise AssertionError(f"{exc}\n" + _explain(failed, collected)) from None


def _write_scripts(scripts: list[Script], workdir: Path) -> dict[str, Script]:
    workdir.mkdir(parents=True)
    paths: dict[str, Script] = {}
    for i, script in enumerate(scripts):
        path = workdir / f"{i:05d}-{Path(script.origin.rsplit(':', 1)[-1]).name}.sh"
        path.write_text(script.text, encoding="utf-8")
        paths[str(path)] = script
    return paths


def check_bash_syntax(collected: Collected, workdir: Path) -> None:
    paths = _write_scripts(list(collected.scripts.values()), workdir)
    loop = 'for f in "$@"; do bash -n "$f" 2>&1 || printf "FAILED %s\\n" "$f"; done'
    result = subprocess.run(["bash", "-c", loop, "bash", *paths], capture_output=True, text=True, check=False)
    failed = [
        paths[line.removeprefix("FAILED ")].origin for line in result.stdout.splitlines() if line.startswith("FAILED ")
    ]
    assert not failed, f"bash -n fails: {failed}\n{result.stdout}\n" + _explain(failed, collected)


def check_shellcheck(tool: str, collected: Collected, workdir: Path) -> None:
    """shellcheck over one script per shape, in a few parallel processes. A shape that already passed in
    this session (here or in :func:`tests.conftest.shellcheck`, in any xdist worker: the same key) is not
    checked again."""
    groups = {shellcheck_verdict_key(tool, script.text): script for script in collected.shellcheck_groups.values()}
    runs = itertools.count()  # a fresh folder per call: checked_once may call again for a retried key

    def check(todo: dict[str, Script]) -> None:
        paths = _write_scripts(list(todo.values()), workdir / f"run-{next(runs)}")
        files = sorted(paths)
        jobs = max(1, min(os.cpu_count() or 1, 4, len(files)))
        chunks = [files[i::jobs] for i in range(jobs)]
        procs = [
            subprocess.Popen(
                [tool, *SHELLCHECK_ARGS, "--format=gcc", *chunk],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for chunk in chunks
            if chunk
        ]
        outputs = [(proc.communicate()[0], proc.returncode) for proc in procs]
        report = "".join(out for out, code in outputs if code != 0)
        failed = sorted({paths[f].origin for f in files if f in report})
        assert all(code == 0 for _, code in outputs), f"shellcheck:\n{report}\n{failed}\n" + _explain(failed, collected)

    validated.checked_once(groups, check)


# --- the test -----------------------------------------------------------------------------------------


def test_render_is_clean_rejection_or_valid_user_data(tmp_path: Path) -> None:
    shellcheck = require_tool("shellcheck", reason="Debian package shellcheck")
    require_tool("cloud-init", reason="Debian package cloud-init provides `cloud-init schema`")  # before the work
    collected = Collected()

    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=DERANDOMIZE,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )
    @given(doc=configs())
    def render_one(doc: dict[str, Any]) -> None:
        assume(not any(hits(doc) for hits in KNOWN_BUGS.values()))
        text = yaml.dump(doc, Dumper=YAML_DUMPER, sort_keys=False, allow_unicode=True)
        assume(parse_yaml(text) == doc)  # only configs YAML can carry unchanged
        run_example(doc, tmp_path / "examples" / f"{collected.calls:05d}", collected)

    render_one()

    print(
        f"\nkgen property: {collected.calls} examples, {collected.rendered} rendered, {collected.rejected} rejected; "
        f"{len(collected.user_data)} user-data files, {len(collected.scripts)} distinct scripts, "
        f"{len(collected.shellcheck_groups)} shellcheck groups"
    )
    assert collected.calls >= 1
    share = collected.rendered / collected.calls
    assert share >= MIN_RENDERED_SHARE, (
        f"only {collected.rendered} of {collected.calls} examples rendered; the strategies exercise "
        "little beyond the error path"
    )
    assert collected.rejected > 0, "no example exercised the error path"
    validate_with_cloud_init(collected, tmp_path / "cloud-init")
    check_bash_syntax(collected, tmp_path / "bash-n")
    check_shellcheck(shellcheck, collected, tmp_path / "shellcheck")


# --- mutation mode: YAML-typed odd values and keys in valid configs ----------------------------------------
# YAML 1.1 turns plain-looking text into dates, bytes, octal numbers, booleans and shared or self-
# referring nodes; the schema-driven draws above never produce them, since they start from JSON data.
# Here a valid example gets a few raw YAML snippets spliced in at random places (values, keys, list
# items, anchors on existing keys, merges), and validate/render must answer each with clean problems
# or success: never a traceback. ``KGEN_PROPERTY_MUTATIONS`` sets the count (default 200; CI: 1000).

MUTATION_EXAMPLES = int(os.environ.get("KGEN_PROPERTY_MUTATIONS", "200"))
ANCHORS = ("m0", "m1", "m2")
MUTATION_COMMANDS = ("render", "render", "validate", "validate-json")
ODD_VALUES = [
    *("2024-01-01", "2024-01-01 10:00:00", "2001-12-14t21:59:43.10-05:00", "!!timestamp 2024-01-01"),
    *("!!binary MjRo", "!!binary", "!!binary '!!'"),
    *("010", "0o17", "0x1F", "0b101", "1:30", "-1:30:00", "1_000", "+12", "0", "-0", "12"),
    *("1.30", "1.3", "1e3", "6.8523015e+5", ".inf", "-.Inf", ".nan", "190:20:30.15", "1.5"),
    "9" * 5000,
    "0x" + "f" * 5000,
    "1." + "0" * 400,
    *("yes", "No", "on", "OFF", "y", "n", "true", "False", "~", "null", "", "''"),
    *("!!str 010", "!!int '12'", "!!int 'x'", "!!float 1e400", "!!float 'nope'", "!!bool yes", "!!null ''"),
    *("!!set {a, b}", "!!omap [a: 1, b: 2]", "!!pairs [a: 1]", "!!map [a]", "!!seq {a: 1}", "!!str [a]"),
    *("!local thing", "!!python/name:os.system", "!<tag:example.com,2024:x> y", "!!merge x", "!!value x"),
    *("*m0", "*m1", "*m2", "[*m0, *m1]", "{<<: *m0, name: x}", "{<<: [*m0, *m1], a: b}", "[*m0, *m0, *m0]"),
    *("&r [*r]", "&s {a: *s}", "&t {<<: *t}", "{? [a, b] : c}", "{? {a: b} : c}", "{1: a, foo: b}"),
    *("{~: n, yes: x, on: y}", "{2024-01-01: a, 1.5: b}", "[1, 2.5, true, null, 2024-01-01]"),
    *('"\\x00"', '"\\t tab"', '"a\\nb"', '"\\u0430dmin"', "m\u0430ster-0", '"\\ud800"', "'a' 'b'"),
    "x" * 20_000,
]
ODD_KEYS = [
    *("1", "on", "yes", "Off", "~", "null", "''", "2024-01-01", "0x10", "010", "1.5", "1:30", "true"),
    *("!!binary MjRo", "!!str 1", "!!int 5", "'<<'", "<<", "*m0", "&k key", "!!set {a}", "[a, b]"),
    *("name", "role", "labels", "ip", "version", "apiVersion", "spec", '"tab\\tkey"', "k\u0430y"),
]
SENTINEL = re.compile(r"\bzzodd(?P<kind>[kv])(?P<n>\d+)zz\b")
ANCHORABLE = re.compile(r"^(?P<lead>\s*(?:- )*[A-Za-z][\w./-]*:)(?P<rest>(?: .*)?)$")


def _containers(value: Any, out: list[dict[str, Any] | list[Any]]) -> list[dict[str, Any] | list[Any]]:
    if isinstance(value, dict):
        out.append(value)
        for item in value.values():
            _containers(item, out)
    elif isinstance(value, list):
        out.append(value)
        for item in value:
            _containers(item, out)
    return out


@st.composite
def mutated_configs(draw: st.DrawFn) -> tuple[str, str, bool]:
    """YAML text of a valid example with up to 4 odd snippets spliced in (and up to 3 anchors added);
    the kgen command to run on it; and whether to give the bundle a recursive alias too."""
    doc = copy.deepcopy(draw(st.sampled_from(BASES)))
    snippets: list[str] = []

    def sentinel(kind: str, text: str) -> str:
        snippets.append(text)
        return f"zzodd{kind}{len(snippets) - 1}zz"

    for _ in range(draw(st.integers(0, 4))):
        containers = _containers(doc, [])
        target = containers[draw(st.integers(0, len(containers) - 1))]
        value = sentinel("v", draw(st.sampled_from(ODD_VALUES)))
        if isinstance(target, list):
            index = draw(st.integers(0, len(target)))
            replace = draw(st.booleans()) and index < len(target)
            if replace:
                target[index] = value
            else:
                target.insert(index, value)
            continue
        strings = sorted(k for k, v in target.items() if isinstance(v, str))
        how = draw(st.sampled_from(["retag", "replace", "add"] if strings else ["add"]))
        if how == "retag":  # the same string, tagged !!str: must change nothing
            key = draw(st.sampled_from(strings))
            snippets[-1] = f"!!str {json.dumps(target[key])}"
            target[key] = value
        elif how == "replace":
            target[draw(st.sampled_from(sorted(target)))] = value
        else:
            target[sentinel("k", draw(st.sampled_from(ODD_KEYS)))] = value
    text = yaml.dump(doc, Dumper=YAML_DUMPER, sort_keys=False, allow_unicode=True, width=1 << 20)
    lines = text.splitlines()
    for anchor in ANCHORS:  # anchors on existing keys, for the aliases and merges above
        candidates = [i for i, line in enumerate(lines) if ANCHORABLE.match(line) and "&" not in line]
        wanted = draw(st.booleans())
        if candidates and wanted:
            i = draw(st.sampled_from(candidates))
            match = ANCHORABLE.match(lines[i])
            assert match
            lines[i] = f"{match['lead']} &{anchor}{match['rest']}"
    text = "\n".join(lines) + "\n"
    text = SENTINEL.sub(lambda m: snippets[int(m["n"])], text)
    return text, draw(st.sampled_from(MUTATION_COMMANDS)), draw(st.integers(0, 9)) == 0


def run_mutated(text: str, command: str, odd_bundle: bool, workdir: Path, outcomes: dict[str, int]) -> None:
    """One kgen command in-process: exit 0 or 1 with located one-line problems only, nothing written."""
    workdir.mkdir(exist_ok=True)  # one folder for every example: nothing is written into it but the inputs
    config = workdir / "cluster.yaml"
    config.write_text(text, encoding="utf-8")
    bundle = workdir / "cluster.secrets.yaml"
    bundle_yaml = bundle_text("demo")
    if odd_bundle:  # the bundle goes through the same loader: a recursive alias in it
        bundle_yaml = bundle_yaml.replace("kind: Secrets\n", "kind: Secrets\nextra: &r [*r]\n", 1)
    bundle.write_text(bundle_yaml, encoding="utf-8")
    commands = {
        "validate": ["validate", str(config)],
        "validate-json": ["validate", "-o", "json", str(config)],
        "render": ["render", str(config), "--secrets", str(bundle), "--dry-run", "-d", str(workdir / "out")],
    }
    for args in [commands[command]]:
        result = RUNNER.invoke(app, args)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            trace = "".join(traceback.format_exception(result.exception))
            pytest.fail(f"kgen {args[0]} crashed on:\n{text}\n{trace}")
        assert result.exit_code in (0, 1), f"exit {result.exit_code}\n{result.output}\nconfig:\n{text}"
        assert "Traceback" not in result.output, result.output
        if command == "validate-json":
            report = json.loads(result.output)
            assert report["valid"] is (result.exit_code == 0), result.output
        elif result.exit_code == 1:
            for line in filter(str.strip, result.output.split("\n")):
                located = MUTATION_PROBLEM.match(line)
                assert line.startswith("kgen: ") or (located and located["file"] in (str(config), str(bundle))), (
                    f"not FILE:LINE: ... or kgen: ... -> {line!r}\nconfig:\n{text}"
                )
        outcomes[f"{command} exit {result.exit_code}"] += 1
    assert not (workdir / "out").exists()


MUTATION_PROBLEM = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+)(:\d+)?: \S")


def test_mutated_yaml_gives_clean_problems_or_success(tmp_path: Path) -> None:
    # (CliRunner.invoke builds the click command once per session: conftest._cli_command_built_once.)
    outcomes: collections.Counter[str] = collections.Counter()

    @settings(
        max_examples=MUTATION_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(example=mutated_configs())
    def mutate_one(example: tuple[str, str, bool]) -> None:
        run_mutated(*example, tmp_path / "example", outcomes)

    mutate_one()
    print(f"\nkgen mutation: {dict(sorted(outcomes.items()))}")
    assert outcomes["render exit 1"] > 0, "no mutation was refused"
    assert outcomes["render exit 0"] > 0, "no mutation was accepted: the snippets only test the error path"
