"""Shared test helpers: paths, the fixture secrets bundle, rendering into a temp folder, and the
rule for system validators (skip locally with a reason, fail when KGEN_REQUIRE_VALIDATORS=1)."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import os
import posixpath
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
import typer.main
import typer.testing
import yaml

from generator import api, cni, secrets, versions
from tests import golden, markers

REPO = Path(__file__).resolve().parent.parent
TESTS = REPO / "tests"
EXAMPLES = TESTS / "examples"
FIXTURE_SECRETS = TESTS / "fixtures" / "demo.secrets.yaml"
SHARED = REPO.parent / "shared"


def _controller(config: pytest.Config) -> bool:
    return not hasattr(config, "workerinput")  # the main process, not an xdist worker


def pytest_configure(config: pytest.Config) -> None:
    if golden.updating() and _controller(config):
        golden.expand_all()  # the tests write plain files; pytest_unconfigure stores them compactly


def pytest_unconfigure(config: pytest.Config) -> None:
    if golden.updating() and _controller(config):
        golden.compact()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    markers.apply(items)


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


def fixture_bundle(cluster: str = "demo") -> secrets.SecretsBundle:
    bundle = secrets.load_bundle(FIXTURE_SECRETS, cluster="demo")
    return dataclasses.replace(bundle, cluster=cluster)


def write_bundle(config: Path, dest_dir: Path) -> Path:
    """A copy of the fixture bundle for the cluster in ``config``, so renders are reproducible."""
    name = yaml.safe_load(config.read_text(encoding="utf-8"))["metadata"]["name"]
    path = dest_dir / f"{config.stem}.secrets.yaml"
    path.write_text(fixture_bundle(name).to_yaml(), encoding="utf-8")
    path.chmod(0o600)
    return path


_SHELLCHECKED: set[str] = set()  # sha256 of script texts that passed shellcheck in this process


def shellcheck(scripts: dict[str, str], workdir: Path) -> None:
    """One shellcheck run (bash, every severity) over every script not already passed in this process.

    Scripts are checked by content: identical texts from many nodes or cases are checked once."""
    tool = require_tool("shellcheck", reason="Debian package shellcheck")
    todo = {hashlib.sha256(text.encode()).hexdigest(): (name, text) for name, text in sorted(scripts.items())}
    todo = {sha: item for sha, item in todo.items() if sha not in _SHELLCHECKED}
    if not todo:
        return
    workdir.mkdir(parents=True, exist_ok=True)
    files = []
    for i, (name, text) in enumerate(todo.values()):
        path = workdir / f"{i:03d}-{Path(name).name}"
        path.write_text(text, encoding="utf-8")
        files.append(str(path))
    result = subprocess.run(
        [tool, "--shell=bash", "--severity=style", *files], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    _SHELLCHECKED.update(todo)


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
    data: dict[str, Any] = yaml.safe_load(text)
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
