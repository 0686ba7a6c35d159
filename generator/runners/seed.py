"""The NoCloud seed a ``kgen vm`` boot starts from, and the checks on what goes into it: the disk
image (qcow2 or raw, readable by qemu-img) and the user-data (it must leave the reporting vendor-data
of :mod:`generator.runners.vm_report` in effect)."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import yaml

from generator.errors import KgenError

__all__ = ["QEMU_IMG", "VmError", "build_seed", "check_user_data", "image_format", "require"]

QEMU_IMG = "qemu-img"


class VmError(KgenError):
    """The VM could not be run: a missing tool, a bad image or option. Says what to do about it."""


def build_seed(user_data: Path, meta_data: Path, dest: Path, *, vendor_data: Path | None = None) -> Path:
    """Write a NoCloud seed image (ISO 9660 labelled ``cidata``) to ``dest`` and return ``dest``.

    Uses cloud-localds, genisoimage or xorriso, the first one installed that works.
    """
    sources = {"user-data": user_data, "meta-data": meta_data}
    if vendor_data is not None:
        sources["vendor-data"] = vendor_data
    for name, path in sources.items():
        if not path.is_file():
            raise VmError(f"{name} file not found: {path}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="kgen-seed-") as tmp:
        staging = Path(tmp)
        for name, path in sources.items():
            shutil.copyfile(path, staging / name)
        files = [str(staging / name) for name in sources]
        attempts: list[list[str]] = []
        if shutil.which("cloud-localds"):
            cmd = ["cloud-localds"]
            if vendor_data is not None:
                cmd += ["--vendor-data", str(staging / "vendor-data")]
            attempts.append([*cmd, str(dest), str(staging / "user-data"), str(staging / "meta-data")])
        iso_args = ["-output", str(dest), "-volid", "cidata", "-joliet", "-rock", "-quiet", *files]
        if shutil.which("genisoimage"):
            attempts.append(["genisoimage", *iso_args])
        if shutil.which("xorriso"):
            attempts.append(["xorriso", "-as", "mkisofs", *iso_args])
        if not attempts:
            raise VmError(
                "no tool to build a NoCloud seed image: install one of the Debian packages "
                "cloud-image-utils (cloud-localds), genisoimage or xorriso"
            )
        for cmd in attempts:
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if proc.returncode == 0 and dest.is_file():
                return dest
            failures.append(f"{cmd[0]} exited {proc.returncode}: {proc.stderr.strip()[-500:]}")
    raise VmError("could not build the NoCloud seed image:\n" + "\n".join(failures))


def require(tool: str, package: str) -> str:
    found = shutil.which(tool)
    if found is None:
        raise VmError(f"{tool} not found: install the Debian package {package}")
    return found


def image_format(image: Path) -> str:
    if not image.is_file():
        raise VmError(f"disk image not found: {image}")
    qemu_img = require(QEMU_IMG, "qemu-utils")
    proc = subprocess.run([qemu_img, "info", "--output=json", str(image)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise VmError(f"cannot read disk image {image}: {proc.stderr.strip()}")
    try:
        info = json.loads(proc.stdout)
    except ValueError as exc:
        raise VmError(f"cannot read disk image {image}: qemu-img gave no JSON") from exc
    fmt = str(info.get("format", ""))
    if fmt not in ("qcow2", "raw"):
        raise VmError(f"disk image {image} is {fmt or 'of an unknown format'}; use a qcow2 or raw image")
    if fmt == "raw" and int(info.get("virtual-size", 0)) < 1 << 20:
        raise VmError(f"disk image {image} is too small to be a bootable disk")
    return fmt


def check_user_data(user_data: Path) -> None:
    """The vendor-data that makes the guest report must not be overridden by the user-data."""
    try:
        content = user_data.read_bytes()
    except OSError as exc:
        raise VmError(f"cannot read user-data {user_data}: {exc}") from exc
    if content[:2] == b"\x1f\x8b":  # cloud-init takes gzipped user-data as well
        try:
            content = gzip.decompress(content)
        except (OSError, EOFError):
            return
    text = content.decode("utf-8", errors="replace")
    if not text.startswith("#cloud-config"):
        return
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        return  # booting invalid user-data is a fair test: cloud-init reports it
    if not isinstance(doc, dict):
        return
    for key, why in (
        ("bootcmd", "it replaces the vendor-data bootcmd that installs the report unit"),
        ("power_state", "it powers the VM off before the report is printed"),
    ):
        if key in doc:
            raise VmError(f"{user_data}: user-data sets {key}, which kgen vm cannot boot: {why}")
    vendor = doc.get("vendor_data")
    if isinstance(vendor, dict) and vendor.get("enabled") in (False, "false", "False"):
        raise VmError(f"{user_data}: user-data disables vendor-data, which kgen vm needs to get a report")
