"""kgen as users get it: `pip install .` (not editable) into a fresh venv, run from another directory.
This proves the templates and schemas ship inside the wheel."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.conftest import REPO


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


def test_installed_kgen_works_from_any_directory(installed: Path, tmp_path: Path) -> None:
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
    assert run(installed, "init", "cluster.yaml", cwd=tmp_path).returncode == 0
    assert run(installed, "validate", "cluster.yaml", cwd=tmp_path).returncode == 0
    render = run(installed, "render", "cluster.yaml", cwd=tmp_path)
    assert render.returncode == 0, render.stderr
    assert (tmp_path / "out" / "demo" / "nodes" / "master-0" / "user-data").is_file()
    assert (tmp_path / "cluster.secrets.yaml").is_file()
    assert run(installed, "render", "cluster.yaml", "--check", cwd=tmp_path).returncode == 0
    assert run(installed, "schema", cwd=tmp_path).stdout.startswith("{")
    bad = run(installed, "validate", "missing.yaml", cwd=tmp_path)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr + bad.stdout
