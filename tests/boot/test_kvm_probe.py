"""The KVM probe on this host with a real Linux kernel (the unit tests use fake qemu executables).

The kernel is the boot-test base image's when it is cached, else the host's ``/boot/vmlinuz-*``, else
Debian's ``linux-image-amd64`` kernel unpacked (``apt-get download`` + ``dpkg-deb -x``, nothing
installed) into ``~/.cache/kgen/probe-kernel/``. No assertion depends on which accelerator the host
offers: the verdict is checked against a second, independent boot.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from generator.runners import kvmprobe
from tests.boot.baseimage import cached_base_image, default_cache_dir
from tests.boot.conftest import skip_or_fail
from tests.conftest import require_tool


def _debian_kernel(cache: Path) -> Path:
    found = sorted(cache.glob("root/boot/vmlinuz-*"))
    if found:
        return found[-1]
    require_tool("apt-get", reason="to download a Debian kernel for the probe")
    require_tool("dpkg-deb", reason="to unpack the Debian kernel package")
    depends = subprocess.run(
        ["apt-cache", "depends", "linux-image-amd64"], capture_output=True, text=True, check=False
    ).stdout
    match = re.search(r"Depends: (linux-image-\S+-amd64)", depends)
    if match is None:
        skip_or_fail(f"apt-cache knows no linux-image-amd64 kernel package: {depends.strip()[:200]}")
        raise AssertionError  # unreachable: skip_or_fail raises
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        got = subprocess.run(
            ["apt-get", "download", match.group(1)], cwd=tmp, capture_output=True, text=True, check=False
        )
        debs = list(Path(tmp).glob("*.deb"))
        if got.returncode != 0 or not debs:
            skip_or_fail(f"apt-get download {match.group(1)} failed: {got.stderr.strip()[-300:]}")
        unpacked = Path(tmp) / "root"
        subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(unpacked)], check=True)
        for extra in ("lib", "usr"):  # only the kernel image is needed
            subprocess.run(["rm", "-rf", str(unpacked / extra)], check=True)
        unpacked.rename(cache / "root")
    return sorted(cache.glob("root/boot/vmlinuz-*"))[-1]


@pytest.fixture(scope="module")
def real_kernel() -> Path:
    require_tool("qemu-system-x86_64", reason="the probe runs qemu")
    base = cached_base_image()
    if base is not None:
        return base.kernel
    host = kvmprobe.probe_kernel()
    if host is not None and "KGEN_KVM_PROBE_KERNEL" not in os.environ:
        return host
    return _debian_kernel(default_cache_dir() / "probe-kernel")


@pytest.mark.boot
def test_the_marker_is_seen_when_a_real_kernel_boots(real_kernel: Path) -> None:
    # Under TCG (which works on every host) the real kernel prints the line the probe waits for.
    qemu = require_tool("qemu-system-x86_64")
    assert kvmprobe._boot(qemu, real_kernel, 300.0, ("-accel", "tcg", "-cpu", "max")) is None


@pytest.mark.boot
def test_real_probe_on_this_host(real_kernel: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kvmprobe, "_VERDICTS", {})
    started = time.monotonic()
    verdict = kvmprobe.probe_kvm(real_kernel, cache_dir=tmp_path)
    seconds = time.monotonic() - started
    print(f"\nkvm probe on this host ({seconds:.1f}s): {verdict.line()}", file=sys.stderr)
    qemu = require_tool("qemu-system-x86_64")
    # A second boot, with no cache, must agree: kvm only where KVM really boots this kernel.
    again = kvmprobe._boot(qemu, real_kernel, 30.0) if Path(kvmprobe.kvm_device()).exists() else "no device"
    assert verdict.usable == (again is None), (verdict.line(), again)
    if not verdict.usable:
        assert verdict.line().startswith("using tcg (software emulation, several times slower): ")


@pytest.mark.boot
def test_real_probe_without_a_kvm_device(real_kernel: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kvmprobe, "_VERDICTS", {})
    monkeypatch.setenv("KGEN_KVM_DEVICE", str(tmp_path / "kvm"))
    verdict = kvmprobe.probe_kvm(real_kernel, cache_dir=tmp_path)
    assert verdict.accel == "tcg"
    assert f"{tmp_path}/kvm is missing or not usable by this user" in verdict.reason
