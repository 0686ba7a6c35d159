"""kgen as users get it: `pip install .` (not editable) into a fresh venv, run from another directory.
This proves the templates and schemas ship inside the wheel.

The console script runs where the check is about the installed entry point or the process (--version,
init, render, render --check's exit code, shell completion, a failing validate without a traceback,
the deprecated -o DIR); the other commands run in one process of the venv (tests/installed_driver.py),
which imports the installed ``generator.cli.app`` and drives it with typer's CliRunner: one Python start
and one import of kgen instead of one per command (issue 12: the fast tier's CPU)."""

from __future__ import annotations

import json
import os
import shutil
import site
import stat
import subprocess
import sys
import sysconfig
import venv
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.machinery import PathFinder
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.conftest import REPO
from tests.test_ssh_keys import TEST_KEY

DRIVER = Path(__file__).with_name("installed_driver.py")


# One xdist worker runs this module, so the module-scoped install below happens once per session, not
# once in every worker that picks up one of its tests.
pytestmark = pytest.mark.xdist_group("installed-wheel")


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    env_dir = tmp_path_factory.mktemp("venv")
    # The venv sees the site-packages of the interpreter running the tests (a .pth file lists them, after
    # the venv's own), so kgen's dependencies are the ones already installed there and pip installs only
    # kgen itself: the wheel built from the checkout by the build backend, not editable. (The editable
    # kgen such a site-packages may hold is not importable: its own .pth is not processed from a listed
    # folder, and pip leaves it alone as outside the venv.) The venv gets no pip of its own (ensurepip
    # costs ~4 s): the test's pip installs into it with --python, which runs that same pip under the
    # venv's interpreter, so the wheel is built and installed exactly as `venv/bin/pip install .` would.
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    deps = site.getsitepackages()
    purelib = Path(sysconfig.get_path("purelib", "venv", {"base": str(env_dir), "platbase": str(env_dir)}))
    assert purelib.is_dir(), purelib
    (purelib / "_kgen_test_deps.pth").write_text("".join(f"{folder}\n" for folder in deps), encoding="utf-8")
    # With hatchling (the [build-system] backend, in the test extra) among those, pip builds the wheel with
    # it instead of filling an isolated build environment from the index. --no-compile: the runs below
    # compile what they import.
    isolation = ["--no-build-isolation"] if PathFinder.find_spec("hatchling", deps) else []
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run(
        [*pip, "--no-compile", *isolation, str(REPO)],
        check=True,
        cwd=tmp_path_factory.mktemp("elsewhere"),
        env=outside_env(),
    )
    return env_dir / "bin"


@dataclass(frozen=True)
class Done:
    """One command's exit code and output, from the console script or the driver."""

    returncode: int
    stdout: str
    stderr: str


@dataclass(frozen=True)
class Driven:
    """What one driver process answered: where ``generator`` and its schemas came from, and each
    command's result, by its arguments."""

    generator: str
    schemas: Path
    results: dict[tuple[str, ...], Done]


@dataclass(frozen=True)
class Project:
    """A folder where the installed kgen ran `init` (with a usable key) and then `render`, and the
    driver then ran the commands of the two tests below."""

    folder: Path
    init: Done
    render: Done
    driven: Driven | None


PROJECT_COMMANDS = (
    ("validate", "cluster.yaml"),
    ("kubeconfig", "cluster.yaml", "--ttl", "1h"),
    ("schema",),
    ("versions", "-o", "json"),
    ("images", "cluster.yaml", "-o", "json"),
    ("ports", "cluster.yaml", "-o", "json"),
    ("validate", "cluster.yaml", "-o", "json"),
    ("versions",),
    ("images", "cluster.yaml"),
    ("ports", "cluster.yaml"),
    ("join-command", "cluster.yaml", "--control-plane"),
)


@pytest.fixture(scope="module")
def project(installed: Path, tmp_path_factory: pytest.TempPathFactory) -> Project:
    """Shared by the tests below, which only read what init and render wrote (the kubeconfig command
    adds a kubeconfig next to them), so init, render and the driver run once for the module."""
    folder = tmp_path_factory.mktemp("project")
    key = folder / "id_ed25519.pub"  # the example's placeholder key fails validation on purpose
    key.write_text(TEST_KEY + "\n", encoding="utf-8")
    init = run(installed, "init", "cluster.yaml", "--ssh-key", str(key), cwd=folder)
    if init.returncode != 0:
        return Project(folder, init, init, None)
    render = run(installed, "render", "cluster.yaml", cwd=folder)
    return Project(folder, init, render, drive(installed, PROJECT_COMMANDS, cwd=folder))


def outside_env(bindir: Path | None = None) -> dict[str, str]:
    """The environment without the checkout on PYTHONPATH (as a developer's shell may have it), and with
    bytecode caching on: pip installs with --no-compile, so the first run compiles what kgen imports
    into the (throwaway) venv and the later runs load that, even where PYTHONDONTWRITEBYTECODE is set."""
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONDONTWRITEBYTECODE"}}
    if bindir is not None:
        env["PATH"] = f"{bindir}{os.pathsep}{env.get('PATH', '')}"
    return env


def run(bindir: Path, *args: str, cwd: Path) -> Done:
    """The installed console script, as a process of its own."""
    done = subprocess.run(
        [str(bindir / "kgen"), *args], capture_output=True, text=True, cwd=cwd, env=outside_env(bindir), check=False
    )
    return Done(done.returncode, done.stdout, done.stderr)


def drive(bindir: Path, commands: Iterable[tuple[str, ...]], *, cwd: Path) -> Driven:
    """The commands in one process of the venv's Python (tests/installed_driver.py), in order, in cwd."""
    commands = list(commands)
    answer_file = cwd.parent / f"{cwd.name}-driven.json"
    subprocess.run(
        [str(bindir / "python"), "-I", str(DRIVER), json.dumps(commands), str(answer_file)],
        cwd=cwd,
        env=outside_env(bindir),
        check=True,
    )
    answer: dict[str, Any] = json.loads(answer_file.read_text(encoding="utf-8"))
    assert str(REPO) not in answer["generator"], f"imported from the checkout, not the wheel: {answer['generator']}"
    done = [Done(r["code"], r["stdout"], r["stderr"]) for r in answer["results"]]
    return Driven(answer["generator"], Path(answer["schemas"]), dict(zip(commands, done, strict=True)))


def test_installed_kgen_works_from_any_directory(installed: Path, project: Project) -> None:
    tmp_path = project.folder
    version = run(installed, "--version", cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("kgen ")
    assert project.init.returncode == 0, project.init.stderr
    assert project.driven is not None
    assert str(REPO) not in project.driven.generator, f"imported from the checkout, not the wheel: {project.driven}"
    driven = project.driven.results
    assert driven["validate", "cluster.yaml"].returncode == 0
    assert project.render.returncode == 0, project.render.stderr
    assert (tmp_path / "out" / "demo" / "nodes" / "master-0" / "user-data").is_file()
    assert (tmp_path / "cluster.secrets.yaml").is_file()
    assert run(installed, "render", "cluster.yaml", "--check", cwd=tmp_path).returncode == 0
    kubeconfig = driven["kubeconfig", "cluster.yaml", "--ttl", "1h"]
    assert kubeconfig.returncode == 0, kubeconfig.stderr
    assert stat.S_IMODE((tmp_path / "demo.kubeconfig").stat().st_mode) == 0o600
    assert driven["schema",].stdout.startswith("{")
    bad = run(installed, "validate", "missing.yaml", cwd=tmp_path)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr + bad.stdout


def test_installed_info_commands(project: Project) -> None:
    """versions, images, ports and join-command --control-plane from the wheel (data files and schemas
    included), each output checked against its schema where it has one."""
    assert project.init.returncode == 0, project.init.stderr
    assert project.driven is not None
    schemas = project.driven.schemas
    assert str(REPO) not in str(schemas)
    driven = project.driven.results
    for args, schema in (
        (("versions", "-o", "json"), "kgen-versions.schema.json"),
        (("images", "cluster.yaml", "-o", "json"), "kgen-images.schema.json"),
        (("ports", "cluster.yaml", "-o", "json"), "kgen-ports.schema.json"),
        (("validate", "cluster.yaml", "-o", "json"), "kgen-validate.schema.json"),
    ):
        done = driven[args]
        assert done.returncode == 0, done.stderr
        jsonschema.validate(json.loads(done.stdout), json.loads((schemas / schema).read_text(encoding="utf-8")))
    versions = driven["versions",]
    assert versions.returncode == 0 and "KUBEADM API" in versions.stdout
    images = driven["images", "cluster.yaml"]
    assert images.returncode == 0 and "registry.k8s.io/pause:" in images.stdout
    ports = driven["ports", "cluster.yaml"]
    assert ports.returncode == 0 and "etcd server client API" in ports.stdout
    assert project.render.returncode == 0, project.render.stderr
    join = driven["join-command", "cluster.yaml", "--control-plane"]
    assert join.returncode == 0, join.stderr
    assert join.stdout.startswith("kubeadm join ") and join.stdout.rstrip().endswith(" --control-plane")
    assert "/etc/kubernetes/pki/" in join.stderr and "PRIVATE KEY" not in join.stdout + join.stderr


def test_installed_cli_shape(installed: Path, tmp_path: Path) -> None:
    """Issue 13's CLI shape from the wheel: init with flags, -d/-o (and the deprecated -o DIR), render
    -o json, --check --diff, the pre-commit hook's entry on several files, help without type leaks and
    shell completion."""
    pub = tmp_path / "id.pub"
    pub.write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOo2Jm0vYb1Q1xk0b5KHb0rYxV0oK5jv9Zt0pR3xq7N9 me@x\n")
    init = run(
        installed,
        "init",
        "cluster.yaml",
        "--name",
        "lab",
        "--control-planes",
        "3",
        "--endpoint",
        "api.lab.example:6443",
        "--ssh-key",
        str(pub),
        cwd=tmp_path,
    )
    assert init.returncode == 0, init.stderr
    old = run(installed, "render", "cluster.yaml", "-o", "out", "-q", cwd=tmp_path)
    assert old.returncode == 0 and "deprecated" in old.stderr and "create  out/" not in old.stderr  # -q
    meta = tmp_path / "out" / "lab" / "nodes" / "master-0" / "meta-data"
    meta.write_text("edited: true\n", encoding="utf-8")
    shutil.copy(tmp_path / "cluster.yaml", tmp_path / "cluster-b.yaml")
    (tmp_path / "cluster-c.yaml").write_text("kind: Cluster\n", encoding="utf-8")
    dry_args = ("render", "cluster.yaml", "-d", "out", "-o", "json", "--dry-run")
    diff_args = ("render", "cluster.yaml", "-d", "out", "--check", "--diff")
    driven = drive(
        installed,
        (
            dry_args,
            diff_args,
            ("validate", "cluster.yaml", "cluster-b.yaml"),
            ("validate", "cluster.yaml", "cluster-c.yaml"),
            ("render", "--help"),
        ),
        cwd=tmp_path,
    ).results
    schemas = json.loads((REPO / "schemas" / "kgen-render.schema.json").read_text(encoding="utf-8"))
    dry = driven[dry_args]
    assert dry.returncode == 0, dry.stderr
    jsonschema.validate(json.loads(dry.stdout), schemas)
    diff = driven[diff_args]
    assert diff.returncode == 3 and "--- a/nodes/master-0/meta-data" in diff.stdout and "-edited: true" in diff.stdout
    assert driven["validate", "cluster.yaml", "cluster-b.yaml"].returncode == 0
    assert driven["validate", "cluster.yaml", "cluster-c.yaml"].returncode == 1
    helped = driven["render", "--help"]
    assert helped.returncode == 0 and "Usage: kgen render [OPTIONS] CONFIG" in helped.stdout
    assert "<path>" not in helped.stdout and "{CONFIG}" not in helped.stdout
    env = outside_env()
    env["_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION"] = "1"
    completion = subprocess.run(
        [str(installed / "kgen"), "--show-completion", "bash"], capture_output=True, text=True, env=env, check=False
    )
    assert completion.returncode == 0 and "complete -o default -F _kgen_completion kgen" in completion.stdout
