"""The lowest supported Python is stated once per place and the same everywhere: pyproject.toml's
requires-python, the README, tools/dev.py's check (one clear line on an older Python) and the version
.ci/run insists on. And tools/dev.py installs kgen once, then reuses the venv until pyproject.toml changes."""

from __future__ import annotations

import importlib.util
import re
import shutil
import tomllib
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
    (repo / ".venv" / "bin").mkdir(parents=True)
    (repo / ".venv" / "bin" / "python").touch()  # an existing venv
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
