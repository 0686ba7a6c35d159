"""The lowest supported Python is stated once per place and the same everywhere: pyproject.toml's
requires-python, the README, tools/dev.py's check (one clear line on an older Python) and the version
.ci/run insists on. And tools/dev.py installs kgen once, then reuses the venv until pyproject.toml changes."""

from __future__ import annotations

import importlib.util
import re
import shutil
import sys
import tomllib
import venv
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import REPO


def _dev(repo: Path | None = None) -> ModuleType:
    spec = importlib.util.spec_from_file_location("kgen_dev_tool", REPO / "tools" / "dev.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if repo is not None:
        setattr(module, "REPO", repo)  # noqa: B010 - a module loaded from a file path: mypy cannot see it
        setattr(module, "VENV", repo / ".venv")  # noqa: B010
    return module


def test_minimum_python_is_the_same_everywhere() -> None:
    requires = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["requires-python"]
    match = re.fullmatch(r">=(\d+)\.(\d+)", requires)
    assert match, requires
    minimum = (int(match[1]), int(match[2]))
    assert minimum == _dev().MIN_PYTHON
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    stated = re.search(r"You need Python (\d+)\.(\d+) or newer", readme)
    assert stated and (int(stated[1]), int(stated[2])) == minimum
    assert f'requires-python = "{requires}"' in readme
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert f"sys.version_info[:2] == ({minimum[0]}, {minimum[1]})" in ci  # CI runs the lowest version


def test_an_older_python_gets_one_clear_line() -> None:
    dev = _dev()
    with pytest.raises(SystemExit) as exc:
        dev.check_python((3, 10, 12))
    message = str(exc.value.code)
    assert "\n" not in message
    assert message.startswith("kgen needs Python >= 3.11 (this python3 is 3.10.12)")
    assert "uv python install 3.11" in message
    dev.check_python((3, 11, 2))  # no exit


def test_install_once_then_reuse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy(REPO / "pyproject.toml", repo / "pyproject.toml")
    _venv(repo / ".venv")  # an existing venv of the Python running the tests
    dev = _dev(repo)
    installs: list[tuple[str, ...]] = []
    monkeypatch.setattr(dev, "sh", lambda *cmd, **_: installs.append(cmd))

    dev.ensure_venv("")
    assert any("-e" in cmd for cmd in installs)
    count = len(installs)
    dev.ensure_venv("")
    assert len(installs) == count, "a second run reinstalled"

    dev.ensure_venv("[dev]")  # more extras: install them
    assert len(installs) > count
    count = len(installs)
    dev.ensure_venv("")  # [dev] includes everything
    dev.ensure_venv("[dev]")
    assert len(installs) == count

    with (repo / "pyproject.toml").open("a", encoding="utf-8") as f:
        f.write("\n# a changed dependency list\n")
    dev.ensure_venv("")
    assert len(installs) > count, "a changed pyproject.toml did not reinstall"


def _venv(folder: Path, **changes: str) -> None:
    """A venv made by the Python running the tests, with the real pyvenv.cfg ``venv`` writes for it and
    ``changes`` made to that file's values (``version``, ``executable``)."""
    venv.EnvBuilder(with_pip=False).create(folder)
    cfg = folder / "pyvenv.cfg"
    lines = cfg.read_text(encoding="utf-8").splitlines()
    for key, value in changes.items():
        assert any(line.startswith(f"{key} = ") for line in lines), (key, lines)
        lines = [f"{key} = {value}" if line.startswith(f"{key} = ") else line for line in lines]
    cfg.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")


@pytest.mark.parametrize(
    ("changes", "made_again"),
    [
        ({}, False),
        # The same path, another patch release: the copy in the venv predates an upgrade of the interpreter.
        ({"version": f"{sys.version_info.major}.{sys.version_info.minor}.{sys.version_info.micro + 1}"}, True),
        ({"executable": "/opt/other/bin/python3.11"}, True),  # another interpreter (another pyenv version)
        (None, True),  # no pyvenv.cfg: not a venv this script can use
    ],
    ids=["this-python", "another-patch-release", "other-interpreter", "no-pyvenv-cfg"],
)
def test_a_venv_of_another_python_is_made_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, changes: dict[str, str] | None, made_again: bool
) -> None:
    """A venv keeps the interpreter that made it: installing into one made by another python3 would
    leave that one running it, with a stamp naming this one (so the next run of either installs again)."""
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy(REPO / "pyproject.toml", repo / "pyproject.toml")
    _venv(repo / ".venv", **(changes or {}))
    if changes is None:
        (repo / ".venv" / "pyvenv.cfg").unlink()
    dev = _dev(repo)
    monkeypatch.setattr(dev, "sh", lambda *cmd, **_: None)
    dev.stamp_path("[dev]").write_text(dev.install_stamp("[dev]") + "\n", encoding="utf-8")  # installed
    made: list[Path] = []

    class Builder:
        def __init__(self, *, with_pip: bool, clear: bool) -> None:
            assert with_pip and clear

        def create(self, folder: Path) -> None:
            made.append(folder)

    monkeypatch.setattr(dev.venv, "EnvBuilder", Builder)
    assert dev.ensure_venv("[dev]") == repo / ".venv" / "bin"
    assert made == ([repo / ".venv"] if made_again else [])


def test_the_venv_this_script_runs_in_is_its_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`.venv/bin/python tools/dev.py ...` must not clear the venv it runs from (its own sys.executable
    is the venv's copy, not the interpreter pyvenv.cfg names)."""
    dev = _dev(tmp_path)
    _venv(tmp_path / ".venv", version="3.0.0", executable="/nowhere/python3")
    monkeypatch.setattr(dev.sys, "prefix", str(tmp_path / ".venv"))
    assert dev.made_by_this_python(tmp_path / ".venv")


def _mounts(tmp_path: Path, folder: Path, fstype: str) -> Path:
    mounts = tmp_path / "mounts"
    mounts.write_text(f"proc /proc proc rw 0 0\n{fstype} {folder} {fstype} rw,relatime 0 0\n", encoding="utf-8")
    return mounts


@pytest.mark.parametrize(
    ("fstype", "min_free", "chosen"),
    [
        ("tmpfs", 0, True),  # a tmpfs with room: the tests' temp folder
        ("ext4", 0, False),  # a disk
        ("tmpfs", 1 << 62, False),  # too little room
    ],
)
def test_ram_temp_dir_takes_only_a_tmpfs_with_room(tmp_path: Path, fstype: str, min_free: int, chosen: bool) -> None:
    folder = tmp_path / "shm"
    folder.mkdir()
    got = _dev().ram_temp_dir(str(folder), _mounts(tmp_path, folder, fstype), min_free)
    assert got == (str(folder) if chosen else None)


def test_ram_temp_dir_without_the_folder_or_mount_table_is_none(tmp_path: Path) -> None:
    dev = _dev()
    missing = tmp_path / "gone"
    assert dev.ram_temp_dir(str(missing), _mounts(tmp_path, missing, "tmpfs"), 0) is None
    assert dev.ram_temp_dir(str(tmp_path), tmp_path / "no-mounts", 0) is None


def test_suite_env_keeps_a_tmpdir_the_user_set(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    dev = _dev()
    monkeypatch.setattr(dev, "ram_temp_dir", lambda: "/dev/shm")
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    env = dev.suite_env()
    assert env["TMPDIR"] == str(tmp_path) and "PYTHONDONTWRITEBYTECODE" not in env
    monkeypatch.delenv("TMPDIR")
    assert dev.suite_env()["TMPDIR"] == "/dev/shm"
    monkeypatch.setattr(dev, "ram_temp_dir", lambda: None)
    assert "TMPDIR" not in dev.suite_env()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        pytest.param([], ["-n", "auto", "--dist", "loadgroup"], id="none"),
        pytest.param(["-m", "not boot"], ["-n", "auto", "--dist", "loadgroup", "-m", "not boot"], id="marker"),
        # Another worker count keeps the boot tests' group (one VM at a time).
        pytest.param(["-n", "4"], ["--dist", "loadgroup", "-n", "4"], id="workers"),
        pytest.param(["-n0"], ["--dist", "loadgroup", "-n0"], id="serial"),
        pytest.param(["--numprocesses=2"], ["--dist", "loadgroup", "--numprocesses=2"], id="long-workers"),
        # The caller's own mode, or no xdist at all, is left alone.
        pytest.param(["--dist", "load"], ["-n", "auto", "--dist", "load"], id="dist"),
        pytest.param(["--dist=each", "-n", "2"], ["--dist=each", "-n", "2"], id="dist-and-workers"),
        pytest.param(["-p", "no:xdist"], ["-p", "no:xdist"], id="no-xdist"),
        pytest.param(["-pno:xdist", "-x"], ["-pno:xdist", "-x"], id="no-xdist-joined"),
    ],
)
def test_the_suite_runs_under_xdist_with_the_boot_group(given: list[str], expected: list[str]) -> None:
    assert _dev().with_xdist(given) == expected
