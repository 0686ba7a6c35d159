"""Boot-to-kubeadm figures for a golden-mode control-plane node under qemu (figures, not a test).

    sudo python3 bench/boot.py [--accel tcg|kvm|auto]

Boots the Debian test image (tests/boot/baseimage.py; built on first use, needs root) twice, with no
NIC: once with an empty ``#cloud-config`` (the floor: what booting and cloud-init cost by themselves)
and once, from the test image baked for the cluster (tests/boot/bake.py: the bake's configure step
really ran), with kgen's rendered control-plane user-data (golden mode; kubeadm, kubelet and kubectl
are the test image's stand-ins).

The figure is **final stage -> kubeadm init**: from the start of cloud-init's final stage to the
first-boot script's ``step: kubeadm init``, both on the guest's own clock (cloud-init's status.json
and the bootstrap log's millisecond stamps, read from the report), so it does not depend on how
quickly the host read the serial console. The breakdown below it lists every bootstrap and configure
log line up to kubeadm init with the seconds until the next line. Host-side seconds from qemu start
are printed too, with the host's load average (other work on the host slows a TCG guest down).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from generator import secrets  # noqa: E402
from generator.api import render_cluster  # noqa: E402
from generator.runners.boot_timeline import BootTimeline, boot_timeline  # noqa: E402
from generator.runners.qemu import run_vm  # noqa: E402
from tests.boot.baseimage import BaseImage, ensure_base_image  # noqa: E402
from tests.boot.test_nodes import cluster_config, golden_test_disk  # noqa: E402


class Clock:
    """Host-side times (seconds since qemu was started) of the first progress line matching each mark."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.marks: dict[str, float] = {}
        self.timeline: BootTimeline | None = None

    def watcher(self, patterns: dict[str, str]) -> Callable[[str], None]:
        def see(line: str) -> None:
            now = time.monotonic() - self.start
            for name, needle in patterns.items():
                if needle in line and name not in self.marks:
                    self.marks[name] = now

        return see


PATTERNS = {"final": "modules:final", "kubeadm-init": "kgen-bootstrap: step: kubeadm init"}


def boot(base: BaseImage, user_data: Path, meta_data: Path, image: Path, workdir: Path, accel: str) -> Clock:
    clock = Clock()
    result = run_vm(
        user_data=user_data,
        meta_data=meta_data,
        image=image,
        workdir=workdir,
        kernel=base.kernel,
        initrd=base.initrd,
        accel=accel,
        timeout=900,
        progress=clock.watcher(PATTERNS),
    )
    clock.marks["report"] = result.seconds
    if result.report is not None:
        clock.timeline = boot_timeline(result.report)
    return clock


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accel", default="tcg", choices=["tcg", "kvm", "auto"])
    options = parser.parse_args()
    base = ensure_base_image(log=lambda line: print(f"baseimage: {line}", file=sys.stderr))
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="kgen-boot-bench-") as name:
        tmp = Path(name)
        empty = tmp / "empty"
        empty.mkdir()
        (empty / "user-data").write_text("#cloud-config\n", encoding="utf-8")
        (empty / "meta-data").write_text("instance-id: kgen-bench-floor\nlocal-hostname: floor\n", encoding="utf-8")
        floor = boot(base, empty / "user-data", empty / "meta-data", base.disk, tmp / "vm-floor", options.accel)

        config = cluster_config(tmp)
        bundle = tmp / "cluster.secrets.yaml"
        bundle.write_text(secrets.generate("demo").to_yaml(), encoding="utf-8")
        render_cluster(config, out_dir=tmp / "out", secrets_path=bundle)
        node = tmp / "out" / "demo" / "nodes" / "master-0"
        disk = golden_test_disk(base, config, tmp)
        golden = boot(base, node / "user-data", node / "meta-data", disk.raw, tmp / "vm-golden", options.accel)

    def fmt(clock: Clock, mark: str) -> str:
        return f"{clock.marks[mark]:7.1f}" if mark in clock.marks else "    n/a"

    load_after = os.getloadavg()
    print(f"accelerator: {options.accel}; host load average (1/5/15 min) before {load_before}, after {load_after}")
    print(f"{'':40} {'floor':>8} {'golden CP':>10}")
    print(f"{'qemu start -> cloud-init final stage (s)':40} {fmt(floor, 'final'):>8} {fmt(golden, 'final'):>10}")
    print(f"{'qemu start -> kubeadm init call (s)':40} {'':>8} {fmt(golden, 'kubeadm-init'):>10}")
    print(f"{'qemu start -> guest report (s)':40} {fmt(floor, 'report'):>8} {fmt(golden, 'report'):>10}")
    timeline = golden.timeline
    gap = timeline.final_to("kgen-bootstrap", "step: kubeadm init") if timeline is not None else None
    if timeline is None or gap is None:
        print("final stage -> kubeadm init (guest clock): n/a (no report, or no kubeadm init step)")
        return
    print(f"final stage -> kubeadm init (guest clock): {gap:.2f} s")
    print("breakdown (guest clock; seconds after the final stage started, seconds until the next line):")
    for after, until, line in timeline.steps():
        print(f"  {after:7.2f} {until:6.2f}  {line.source}: {line.text}")
        if line.source == "kgen-bootstrap" and "step: kubeadm init" in line.text:
            break


if __name__ == "__main__":
    main()
