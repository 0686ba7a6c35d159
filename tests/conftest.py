"""Shared test helpers: paths, the fixture secrets bundle, rendering into a temp folder, and the
rule for system validators (skip locally with a reason, fail when KGEN_REQUIRE_VALIDATORS=1)."""

from __future__ import annotations

import dataclasses
import gc
import gzip
import hashlib
import json
import os
import posixpath
import re
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest
import typer
import typer.main
import typer.testing
import yaml

from generator import api, cni, secrets, versions
from tests import golden, markers, memo, schedule, shellkey, validated

REPO = Path(__file__).resolve().parent.parent
TESTS = REPO / "tests"
EXAMPLES = TESTS / "examples"
FIXTURE_SECRETS = TESTS / "fixtures" / "demo.secrets.yaml"
SHARED = REPO.parent / "shared"


def _controller(config: pytest.Config) -> bool:
    return not hasattr(config, "workerinput")  # the main process, not an xdist worker


def pytest_configure(config: pytest.Config) -> None:
    schedule.register(config)
    if golden.updating() and _controller(config):
        golden.expand_all()  # the tests write plain files; pytest_unconfigure stores them compactly


def pytest_unconfigure(config: pytest.Config) -> None:
    if golden.updating() and _controller(config):
        golden.compact()


@pytest.hookimpl(optionalhook=True)  # an xdist hook: a run with -p no:xdist does not know it
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    return schedule.auto_workers(config)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    markers.apply(items)
    markers.group_for_xdist(config, items)
    schedule.order(config, items)


# The cyclic garbage collector, tuned for a test process. With the default thresholds a worker ran
# ~1,400 collections, ~14 of them full ones that walk every object the process keeps for its whole life
# (modules, test items, fixtures): ~1.3 s of a worker's ~15 s of CPU. Those objects are frozen after
# collection (gc.freeze: never scanned again, never freed), and a first threshold of 50,000 makes the
# young collections fewer: ~430 collections and ~0.7 s a worker. Garbage without cycles is still freed
# at once by reference counting.
GC_THRESHOLD = (50_000, 20, 20)


def pytest_collection_finish(session: pytest.Session) -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)


@pytest.fixture(autouse=True, scope="session")
def _cli_command_built_once() -> Iterator[None]:
    """CliRunner.invoke has typer build the click command from the app anew on every call (20-70 ms, and
    the suite invokes the CLI ~1,000 times); build it once per app. Click makes a fresh context per
    invocation, so nothing carries over between calls."""
    built: dict[typer.Typer, Any] = {}

    def get_command(app: typer.Typer) -> Any:
        if app not in built:
            built[app] = typer.main.get_command(app)
        return built[app]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(typer.testing, "_get_command", get_command)  # the name CliRunner.invoke calls
        yield


@pytest.fixture(autouse=True, scope="session")
def _identical_checks_done_once() -> Iterator[None]:
    """kgen's config checks and bundle loads memoized on the file's text (see tests/memo.py)."""
    with pytest.MonkeyPatch.context() as patch:
        memo.install(patch)
        yield


def validators_required() -> bool:
    return os.environ.get("KGEN_REQUIRE_VALIDATORS") == "1"


def require_tool(name: str, *, reason: str = "") -> str:
    """The tool's path; skip the test when it is missing, or fail under KGEN_REQUIRE_VALIDATORS=1."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed{': ' + reason if reason else ''}"
        if validators_required():
            pytest.fail(f"{message} (KGEN_REQUIRE_VALIDATORS=1)")
        pytest.skip(message)
    return path


YAML_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


# libyaml's safe dumper when PyYAML has it, for tests that write many configs (a test that checks the
# layout of YAML it wrote keeps yaml.safe_dump).
YAML_DUMPER: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def parse_yaml(text: str | bytes) -> Any:
    """``yaml.safe_load`` with libyaml's safe loader when PyYAML has it: the same data, ~20x faster. The
    tests parse thousands of user-data files, and the pure-Python scanner was half the suite's CPU."""
    return yaml.load(text, Loader=YAML_LOADER)  # noqa: S506 - a SafeLoader (C or Python)


def parse_yaml_all(text: str | bytes) -> Iterator[Any]:
    """``yaml.safe_load_all`` with libyaml's safe loader when PyYAML has it (see :func:`parse_yaml`)."""
    return yaml.load_all(text, Loader=YAML_LOADER)


def read_yaml(path: Path) -> Any:
    """A YAML file, parsed by :func:`parse_yaml`."""
    return parse_yaml(path.read_text(encoding="utf-8"))


def fixture_bundle(cluster: str = "demo") -> secrets.SecretsBundle:
    bundle = secrets.load_bundle(FIXTURE_SECRETS, cluster="demo")
    return dataclasses.replace(bundle, cluster=cluster)


def write_bundle(config: Path, dest_dir: Path) -> Path:
    """A copy of the fixture bundle for the cluster in ``config``, so renders are reproducible."""
    name = parse_yaml(config.read_text(encoding="utf-8"))["metadata"]["name"]
    path = dest_dir / f"{config.stem}.secrets.yaml"
    path.write_text(fixture_bundle(name).to_yaml(), encoding="utf-8")
    path.chmod(0o600)
    return path


@pytest.fixture(autouse=True, scope="session")
def _validator_verdicts_shared(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Validator passes are remembered for the session in one folder every xdist worker sees (the
    parent of a worker's basetemp is the session's temp root); see tests/validated.py."""
    root = tmp_path_factory.getbasetemp()
    validated.use_folder((root.parent if hasattr(request.config, "workerinput") else root) / "validated")


SHELLCHECK_ARGS = ("--shell=bash", "--severity=style")


def shellcheck_verdict_key(tool: str, text: str) -> str:
    """The key shellcheck's verdict on ``text`` is remembered under for the session (tests/validated.py):
    the tool, its arguments and the script's shape (:func:`tests.shellkey.shellcheck_key`)."""
    return validated.key("shellcheck", tool, *SHELLCHECK_ARGS, shellkey.shellcheck_key(text))


def shellcheck(scripts: dict[str, str], workdir: Path) -> None:
    """shellcheck (bash, every severity) passes every script: one run over the scripts not already passed.

    Scripts are checked once per session across xdist workers (tests/validated.py) per
    :func:`tests.shellkey.shellcheck_key`: scripts from many nodes, cases or tests that differ only in
    literal values no shellcheck rule looks into (a node name, a version, a pinned hash, a quoted
    heredoc's body) get shellcheck's verdict on the first of them, the verdict on each of them."""
    tool = require_tool("shellcheck", reason="Debian package shellcheck")
    items: dict[str, tuple[str, str]] = {}
    for name, text in sorted(scripts.items()):
        items.setdefault(shellcheck_verdict_key(tool, text), (name, text))

    def check(todo: dict[str, tuple[str, str]]) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        files = []
        for i, (name, text) in enumerate(todo.values()):
            path = workdir / f"{i:03d}-{Path(name).name}"
            path.write_text(text, encoding="utf-8")
            files.append(str(path))
        result = subprocess.run([tool, *SHELLCHECK_ARGS, *files], capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stdout + result.stderr

    validated.checked_once(items, check)


# Debian's `cloud-init schema --config-file PATH`, for many files in one process: cloudinit/cmd/main.py
# (cloud-init 22.4.2, /usr/lib/python3/dist-packages) hands the `schema` subcommand's arguments to
# cloudinit.config.schema.handle_schema_args, which reads the file (validate_cloudconfig_file: the
# #cloud-config header, YAML, then the schema with strict=True), exits 1 through util.error with the
# problems on stderr, or prints "Valid cloud-config: PATH". Each call here is that function with those
# arguments, its exit code and output captured per file; nothing else of main() applies to `schema`.
# One such process per test process serves every call (one JSON list of paths per line in, one JSON
# verdict map per line out), so the cloud-init import is paid once, not once per calling test.
CLOUD_INIT_SCHEMA_SERVER = r"""
import argparse, contextlib, io, json, sys
from cloudinit.config.schema import handle_schema_args

for line in sys.stdin:
    results = {}
    for path in json.loads(line):
        out, err, code = io.StringIO(), io.StringIO(), 0
        args = argparse.Namespace(config_file=path, system=False, docs=None, annotate=False)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                handle_schema_args("cloudconfig-schema", args)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
        results[path] = [code, out.getvalue(), err.getvalue()]
    sys.stdout.write(json.dumps(results) + "\n")
    sys.stdout.flush()
"""
_schema_servers: dict[tuple[str, ...], tuple[subprocess.Popen[str], IO[bytes]]] = {}


def _schema_verdicts(interpreter: list[str], paths: list[str]) -> dict[str, list[Any]]:
    """The cloud-init schema process's verdicts on ``paths`` (started on first use, again if it died)."""
    server, errors = _schema_servers.get(tuple(interpreter), (None, None))
    if server is None or errors is None or server.poll() is not None:
        errors = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the process; closed with it
        server = subprocess.Popen(
            [*interpreter, "-I", "-c", CLOUD_INIT_SCHEMA_SERVER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
        _schema_servers[tuple(interpreter)] = (server, errors)
    assert server.stdin is not None and server.stdout is not None
    server.stdin.write(json.dumps(paths) + "\n")
    server.stdin.flush()
    line = server.stdout.readline()
    if not line:
        server.wait()
        errors.seek(0)
        detail = errors.read().decode("utf-8", errors="replace")
        raise AssertionError(f"the cloud-init schema process exited {server.returncode}: {detail}")
    verdicts: dict[str, list[Any]] = json.loads(line)
    return verdicts


@pytest.fixture(autouse=True, scope="session")
def _cloud_init_schema_process_closed() -> Iterator[None]:
    """Ends this test process's cloud-init schema process (if it started one) with the session."""
    yield
    for server, errors in _schema_servers.values():
        if server.stdin is not None:
            server.stdin.close()
        server.wait(timeout=30)
        if server.stdout is not None:
            server.stdout.close()
        errors.close()
    _schema_servers.clear()


def cloud_init_schema(user_data: dict[str, bytes | str], workdir: Path) -> None:
    """Debian's `cloud-init schema --config-file` accepts every user-data ({name: content}, gzipped or
    not): exit 0 and "Valid cloud-config". One cloud-init process checks every file not already passed
    in this session (by content, across xdist workers), with the interpreter of the installed tool;
    that process lives for the test session (see CLOUD_INIT_SCHEMA_SERVER)."""
    tool = require_tool("cloud-init", reason="Debian package cloud-init provides `cloud-init schema`")
    shebang = Path(tool).read_bytes().split(b"\n", 1)[0].decode("utf-8", errors="replace")
    assert shebang.startswith("#!"), f"{tool} is not a script; cannot tell which Python runs cloud-init"
    interpreter = shlex.split(shebang[2:])
    items: dict[str, tuple[str, bytes]] = {}
    for name, content in sorted(user_data.items()):
        data = content.encode("utf-8") if isinstance(content, str) else content
        data = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
        items.setdefault(validated.key("cloud-init schema", tool, *interpreter, data), (name, data))

    def check(todo: dict[str, tuple[str, bytes]]) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        names = {}
        for i, (name, data) in enumerate(todo.values()):
            path = workdir / f"{i:03d}-{name.replace('/', '__')}.user-data"
            path.write_bytes(data)
            names[str(path)] = name
        verdicts = _schema_verdicts(interpreter, sorted(names))
        assert sorted(verdicts) == sorted(names)
        failed = {
            names[path]: f"exit {code}: {out}{err}"
            for path, (code, out, err) in verdicts.items()
            if code != 0 or f"Valid cloud-config: {path}" not in out
        }
        assert not failed, f"cloud-init schema rejects: {failed}"

    validated.checked_once(items, check)


@dataclasses.dataclass
class Rendered:
    result: api.RenderResult
    root: Path

    def node_dirs(self) -> list[Path]:
        return sorted(p for p in (self.root / "nodes").iterdir() if p.is_dir())

    def user_data(self, node: str) -> dict[str, Any]:
        return load_user_data((self.root / "nodes" / node / "user-data").read_bytes())


def load_user_data(content: bytes) -> dict[str, Any]:
    if content[:2] == b"\x1f\x8b":
        content = gzip.decompress(content)
    text = content.decode("utf-8")
    assert text.startswith("#cloud-config\n")
    data: dict[str, Any] = parse_yaml(text)
    return data


def render_config(config: Path, out_dir: Path) -> Rendered:
    out_dir.mkdir(parents=True, exist_ok=True)
    bundle = write_bundle(config, out_dir)
    result = api.render_cluster(config, out_dir=out_dir / "out", secrets_path=bundle)
    return Rendered(result=result, root=out_dir / "out" / result.cluster)


def valid_cases() -> list[Path]:
    return sorted(p for p in (EXAMPLES / "valid").iterdir() if (p / "cluster.yaml").is_file())


def invalid_cases() -> list[Path]:
    return sorted(p for p in (EXAMPLES / "invalid").iterdir() if (p / "cluster.yaml").is_file())


@pytest.fixture(scope="session")
def rendered_valid(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Rendered]:
    """Every valid example, rendered once per session with the fixture secrets."""
    out: dict[str, Rendered] = {}
    for case in valid_cases():
        out[case.name] = render_config(case / "cluster.yaml", tmp_path_factory.mktemp(case.name))
    return out


def golden_config(case: Path, tmp_path: Path) -> Path:
    """The example's cluster.yaml, switched to image.mode golden when it is in install mode."""
    text = (case / "cluster.yaml").read_text(encoding="utf-8")
    data = parse_yaml(text)
    if data["spec"]["image"]["mode"] == "golden":
        return case / "cluster.yaml"
    lines = [line for line in text.splitlines() if re.fullmatch(r"\s+mode: install", line)]
    assert len(lines) == 1, f"{case.name}: cannot switch image.mode to golden"
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "cluster.yaml"
    path.write_text(text.replace(lines[0], lines[0].replace("install", "golden")), encoding="utf-8")
    assert parse_yaml(path.read_text(encoding="utf-8"))["spec"]["image"]["mode"] == "golden"
    return path


@dataclasses.dataclass(frozen=True)
class GoldenMode:
    """A valid example in image.mode golden (:func:`golden_config`) and its render."""

    config: Path
    rendered: Rendered


@pytest.fixture(scope="session")
def rendered_golden_mode(
    rendered_valid: dict[str, Rendered], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, GoldenMode]:
    """Every valid example in golden mode, rendered once per session: an example already in golden
    mode is :func:`rendered_valid`'s render, the others are switched and rendered here."""
    out: dict[str, GoldenMode] = {}
    for case in valid_cases():
        folder = tmp_path_factory.mktemp(f"{case.name}-golden")
        config = golden_config(case, folder / "config")
        as_is = config == case / "cluster.yaml"
        rendered = rendered_valid[case.name] if as_is else render_config(config, folder / "render")
        out[case.name] = GoldenMode(config, rendered)
    return out


def user_data_scripts(user_data: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(guest path, text) for every script the user-data writes (anything starting with #!)."""
    for entry in user_data.get("write_files", []):
        content = entry.get("content", "")
        if content.startswith("#!"):
            yield entry["path"], content


def stand_in_cni_manifests(monkeypatch: pytest.MonkeyPatch, plugin: str) -> dict[str, str]:
    """Stand-in upstream manifests of a golden image, for tests that cannot read the real files, with the
    version table's pins set (for the test only) to the stand-ins' digests: {path on the node: content}."""
    release = versions.table()["cni"][plugin]
    files = {}
    for i, entry in enumerate(release["manifests"]):
        content = f"# stand-in for {entry['url']}\n"
        monkeypatch.setitem(entry, "sha256", hashlib.sha256(content.encode()).hexdigest())
        name = f"{i:02d}-{posixpath.basename(entry['url'])}"
        files[posixpath.join(cni.IMAGE_MANIFEST_DIR, plugin, str(release["version"]), name)] = content
    return files
