"""kgen as users get it: `pip install .` (not editable) into a fresh venv, run from another directory.
This proves the templates and schemas ship inside the wheel."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import venv
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import pytest

from tests.conftest import REPO
from tests.test_ssh_keys import TEST_KEY


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    env_dir = tmp_path_factory.mktemp("venv")
    # System site packages provide the dependencies that are already installed, so this needs no
    # more from PyPI than the build backend. The venv gets no pip of its own (ensurepip costs ~4 s):
    # the test's pip installs into it with --python, which runs that same pip under the venv's
    # interpreter, so the wheel is built and installed exactly as `venv/bin/pip install .` would.
    venv.EnvBuilder(with_pip=False, system_site_packages=True).create(env_dir)
    python = env_dir / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", str(python)]
    subprocess.run(
        [*pip, "install", "--quiet", "--disable-pip-version-check", str(REPO)],
        check=True,
        cwd=tmp_path_factory.mktemp("elsewhere"),
        env=outside_env(),
    )
    return env_dir / "bin"


@dataclass(frozen=True)
class Project:
    """A folder where the installed kgen ran `init` (with a usable key) and then `render`."""

    folder: Path
    init: subprocess.CompletedProcess[str]
    render: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def project(installed: Path, tmp_path_factory: pytest.TempPathFactory) -> Project:
    """Shared by the tests below, which only read what init and render wrote (test_installed_kgen_works_
    from_any_directory adds a kubeconfig next to them), so init and render run once for the module."""
    folder = tmp_path_factory.mktemp("project")
    key = folder / "id_ed25519.pub"  # the example's placeholder key fails validation on purpose
    key.write_text(TEST_KEY + "\n", encoding="utf-8")
    init = run(installed, "init", "cluster.yaml", "--ssh-key", str(key), cwd=folder)
    render = run(installed, "render", "cluster.yaml", cwd=folder) if init.returncode == 0 else init
    return Project(folder, init, render)


def outside_env(bindir: Path | None = None) -> dict[str, str]:
    """The environment without the checkout on PYTHONPATH (as a developer's shell may have it)."""
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH"}}
    if bindir is not None:
        env["PATH"] = f"{bindir}{os.pathsep}{env.get('PATH', '')}"
    return env


def run(bindir: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(bindir / "kgen"), *args], capture_output=True, text=True, cwd=cwd, env=outside_env(bindir), check=False
    )


def test_installed_kgen_works_from_any_directory(installed: Path, project: Project) -> None:
    tmp_path = project.folder
    version = run(installed, "--version", cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("kgen ")
    where = subprocess.run(
        [str(installed / "python"), "-c", "import generator, sys; print(generator.__file__)"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=outside_env(),
        check=True,
    ).stdout
    assert str(REPO) not in where, f"imported from the checkout, not the wheel: {where}"
    assert project.init.returncode == 0, project.init.stderr
    assert run(installed, "validate", "cluster.yaml", cwd=tmp_path).returncode == 0
    assert project.render.returncode == 0, project.render.stderr
    assert (tmp_path / "out" / "demo" / "nodes" / "master-0" / "user-data").is_file()
    assert (tmp_path / "cluster.secrets.yaml").is_file()
    assert run(installed, "render", "cluster.yaml", "--check", cwd=tmp_path).returncode == 0
    kubeconfig = run(installed, "kubeconfig", "cluster.yaml", "--ttl", "1h", cwd=tmp_path)
    assert kubeconfig.returncode == 0, kubeconfig.stderr
    assert stat.S_IMODE((tmp_path / "demo.kubeconfig").stat().st_mode) == 0o600
    assert run(installed, "schema", cwd=tmp_path).stdout.startswith("{")
    bad = run(installed, "validate", "missing.yaml", cwd=tmp_path)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr + bad.stdout


def test_installed_info_commands(installed: Path, project: Project) -> None:
    """versions, images, ports and join-command --control-plane from the wheel (data files and schemas
    included), each output checked against its schema where it has one."""
    tmp_path = project.folder
    schemas = Path(
        subprocess.run(
            [str(installed / "python"), "-c", "from generator.resources import schemas_dir; print(schemas_dir())"],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
            check=True,
        ).stdout.strip()
    )
    assert str(REPO) not in str(schemas)
    assert project.init.returncode == 0, project.init.stderr
    for args, schema in (
        (("versions", "-o", "json"), "kgen-versions.schema.json"),
        (("images", "cluster.yaml", "-o", "json"), "kgen-images.schema.json"),
        (("ports", "cluster.yaml", "-o", "json"), "kgen-ports.schema.json"),
        (("validate", "cluster.yaml", "-o", "json"), "kgen-validate.schema.json"),
    ):
        done = run(installed, *args, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        jsonschema.validate(json.loads(done.stdout), json.loads((schemas / schema).read_text(encoding="utf-8")))
    versions = run(installed, "versions", cwd=tmp_path)
    assert versions.returncode == 0 and "KUBEADM API" in versions.stdout
    images = run(installed, "images", "cluster.yaml", cwd=tmp_path)
    assert images.returncode == 0 and "registry.k8s.io/pause:" in images.stdout
    ports = run(installed, "ports", "cluster.yaml", cwd=tmp_path)
    assert ports.returncode == 0 and "etcd server client API" in ports.stdout
    assert project.render.returncode == 0, project.render.stderr
    join = run(installed, "join-command", "cluster.yaml", "--control-plane", cwd=tmp_path)
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
    schemas = json.loads((REPO / "schemas" / "kgen-render.schema.json").read_text(encoding="utf-8"))
    dry = run(installed, "render", "cluster.yaml", "-d", "out", "-o", "json", "--dry-run", cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    jsonschema.validate(json.loads(dry.stdout), schemas)
    old = run(installed, "render", "cluster.yaml", "-o", "out", "-q", cwd=tmp_path)
    assert old.returncode == 0 and "deprecated" in old.stderr and "create  out/" not in old.stderr  # -q
    meta = tmp_path / "out" / "lab" / "nodes" / "master-0" / "meta-data"
    meta.write_text("edited: true\n", encoding="utf-8")
    diff = run(installed, "render", "cluster.yaml", "-d", "out", "--check", "--diff", cwd=tmp_path)
    assert diff.returncode == 3 and "--- a/nodes/master-0/meta-data" in diff.stdout and "-edited: true" in diff.stdout
    shutil.copy(tmp_path / "cluster.yaml", tmp_path / "cluster-b.yaml")
    assert run(installed, "validate", "cluster.yaml", "cluster-b.yaml", cwd=tmp_path).returncode == 0
    (tmp_path / "cluster-c.yaml").write_text("kind: Cluster\n", encoding="utf-8")
    assert run(installed, "validate", "cluster.yaml", "cluster-c.yaml", cwd=tmp_path).returncode == 1
    helped = run(installed, "render", "--help", cwd=tmp_path)
    assert helped.returncode == 0 and "Usage: kgen render [OPTIONS] CONFIG" in helped.stdout
    assert "<path>" not in helped.stdout and "{CONFIG}" not in helped.stdout
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION"] = "1"
    completion = subprocess.run(
        [str(installed / "kgen"), "--show-completion", "bash"], capture_output=True, text=True, env=env, check=False
    )
    assert completion.returncode == 0 and "complete -o default -F _kgen_completion kgen" in completion.stdout
