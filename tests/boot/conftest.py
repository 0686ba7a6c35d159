"""Fixtures for tests that boot kgen's user-data in a real VM (``@pytest.mark.boot``).

* ``base_image``: the cached Debian 12 test image (built on first use, a few minutes; needs root).
  Missing prerequisites skip the test with a reason, or fail it when KGEN_REQUIRE_VALIDATORS=1.
* ``vm_workdir``: a folder for one test's VM runs (use subfolders for several runs); every
  ``serial.log`` under it is attached to the test's report when the test fails (a "serial console"
  section, last 200 lines), and the folder is recorded as the ``vm_workdir`` property.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Generator
from pathlib import Path

import pytest

from tests.boot.baseimage import BaseImage, BaseImageError, ensure_base_image

SERIAL_TAIL_LINES = 200
_WORKDIRS = pytest.StashKey[list[Path]]()


def _required() -> bool:
    return os.environ.get("KGEN_REQUIRE_VALIDATORS") == "1"


def missing_boot_prerequisites() -> str | None:
    """Why boot tests cannot run on this machine, or None when they can."""
    if os.geteuid() != 0:
        return "boot tests need root (debootstrap, chroot and mount build the test image)"
    for tool, package in (
        ("qemu-system-x86_64", "qemu-system-x86"),
        ("qemu-img", "qemu-utils"),
        ("debootstrap", "debootstrap"),
        ("mkfs.ext4", "e2fsprogs"),
    ):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (Debian package {package})"
    if not any(shutil.which(t) for t in ("cloud-localds", "genisoimage", "xorriso")):
        return "no NoCloud seed tool (Debian package cloud-image-utils, genisoimage or xorriso)"
    return None


def skip_or_fail(reason: str) -> None:
    if _required():
        pytest.fail(f"{reason} (KGEN_REQUIRE_VALIDATORS=1)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def base_image() -> BaseImage:
    reason = missing_boot_prerequisites()
    if reason is not None:
        skip_or_fail(reason)
    try:
        return ensure_base_image(log=lambda line: print(f"baseimage: {line}", file=sys.stderr))
    except BaseImageError as exc:
        pytest.fail(f"cannot build the boot-test base image: {exc}")


@pytest.fixture
def vm_workdir(request: pytest.FixtureRequest, tmp_path: Path) -> Generator[Path, None, None]:
    workdir = tmp_path / "vm"
    workdir.mkdir()
    request.node.stash.setdefault(_WORKDIRS, []).append(workdir)
    request.node.user_properties.append(("vm_workdir", str(workdir)))
    yield workdir


def register_workdir(request: pytest.FixtureRequest, workdir: Path) -> None:
    """Attach this folder's serial logs (and the guest's bootstrap log) to the report if the test fails."""
    request.node.stash.setdefault(_WORKDIRS, []).append(workdir)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:
        for workdir in item.stash.get(_WORKDIRS, []):
            for log in sorted(workdir.rglob("serial.log")):
                lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
                tail = "\n".join(line.rstrip("\r") for line in lines[-SERIAL_TAIL_LINES:])
                report.sections.append((f"serial console ({log}, last {SERIAL_TAIL_LINES} lines)", tail))
            for log in sorted(workdir.rglob("guest-bootstrap.log")):
                text = log.read_text(encoding="utf-8", errors="replace")
                report.sections.append((f"guest /var/log/kgen-bootstrap.log (end, from the report) ({log})", text))
    return report
