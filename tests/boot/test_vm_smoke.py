"""Unit tests for the ``kgen vm`` report framing (``generator.runners.vm_report``) and qemu command
line. The boots themselves (seed, vendor-data reporter,
serial report, stand-ins, a second boot of the same disk) are exercised by tests/boot/test_nodes.py,
which boots kgen's rendered user-data.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
import yaml

from generator.runners.qemu import VmError, VmResult, _qemu_command, run_vm
from generator.runners.vm_report import REPORT_BEGIN, REPORT_END, parse_report, report_vendor_data
from tests.boot.baseimage import BaseImage

STANDIN_VERSION = "v1.30.6"  # not the stand-ins' default, so the test sees the env file is read
BOOT_TIMEOUT = 600.0

SMOKE_USER_DATA = f"""\
#cloud-config
write_files:
  - path: /etc/kgen-standin.env
    content: |
      STANDIN_VERSION={STANDIN_VERSION}
runcmd:
  - [sh, -c, "echo hi > /var/lib/kgen-vm/collect/hello"]
  - [sh, -c, "kubeadm version -o short > /var/lib/kgen-vm/collect/kubeadm-version 2>&1"]
  - [sh, -c, "kubelet --version > /var/lib/kgen-vm/collect/kubelet-version 2>&1"]
  - [sh, -c, "kubectl version --client -o json > /var/lib/kgen-vm/collect/kubectl-version 2>&1"]
  - [sh, -c, "echo \\"$(date -u +%Y-%m-%dT%H:%M:%SZ) kgen-bootstrap: smoke step\\" > /dev/console"]
  - [sh, -c, "cd /var/lib/kgen-vm/collect && echo $(( $(cat runs 2>/dev/null || echo 0) + 1 )) > runs"]
"""


def boot(
    base_image: BaseImage, workdir: Path, *, image: Path | None = None, keep: bool = False
) -> tuple[VmResult, list[str]]:
    workdir.mkdir(parents=True, exist_ok=True)
    user_data = workdir / "user-data"
    meta_data = workdir / "meta-data"
    user_data.write_text(SMOKE_USER_DATA, encoding="utf-8")
    meta_data.write_text("instance-id: kgen-smoke-1\nlocal-hostname: smoke\n", encoding="utf-8")
    progress: list[str] = []
    result = run_vm(
        user_data=user_data,
        meta_data=meta_data,
        image=image or base_image.disk,
        workdir=workdir,
        kernel=base_image.kernel,
        initrd=base_image.initrd,
        accel="tcg",  # pinned: a test must not depend on which accelerator the host offers
        timeout=BOOT_TIMEOUT,
        keep=keep,
        progress=progress.append,
    )
    return result, progress


def test_report_frame_survives_console_noise() -> None:
    """Not a boot test: the host-side parser keeps the first intact frame (fast, runs everywhere)."""
    payload = json.dumps(
        {"cloud_init": {"status": "done", "errors": []}, "success_marker": "ok\n", "facts": {"hello": "hi\n"}}
    ).encode()
    b64 = base64.b64encode(payload).decode()
    digest = hashlib.sha256(payload).hexdigest()
    lines = [b64[i : i + 20] for i in range(0, len(b64), 20)]
    broken = [REPORT_BEGIN, lines[0] + "[   12.3] kernel noise", *lines[1:], f"{REPORT_END} {digest}"]
    intact = [REPORT_BEGIN, lines[0], "[   12.4] systemd[1]: noise on its own line", *lines[1:]]
    serial = "\r\n".join(["boot noise", *broken, *intact, f"{REPORT_END} {digest}", "reboot: Power down"])
    report = parse_report(serial)
    assert report is not None
    assert report.cloud_init_status == "done"
    assert report.success_marker == "ok\n"
    assert report.facts == {"hello": "hi\n"}
    assert parse_report("\n".join(broken)) is None

    vendor = yaml.safe_load(report_vendor_data())
    assert set(vendor) == {"bootcmd"}
    assert report_vendor_data().startswith("#cloud-config\n")


def test_qemu_command_has_no_network_unless_asked() -> None:
    def command(network: str) -> list[str]:
        return _qemu_command(
            "qemu-system-x86_64", accel="tcg", memory_mb=2048, cpus=2, serial_log=Path("/tmp/serial.log"),
            kernel=None, initrd=None, append=None, drives=[], network=network,
        )  # fmt: skip

    default = command("none")
    assert default[default.index("-nic") + 1] == "none"
    assert "-uuid" in default  # kubeadm needs a product_uuid
    user = command("user")
    assert user[user.index("-nic") + 1] == "user,model=virtio-net-pci"
    with pytest.raises(VmError, match="unknown network"):
        command("bridge")
