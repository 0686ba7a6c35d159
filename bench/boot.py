"""Boot-to-kubeadm figures for a golden-mode control-plane node under qemu (figures, not a test).

    sudo python3 bench/boot.py [--accel tcg|kvm|auto]

Boots the Debian test image (tests/boot/baseimage.py; built on first use, needs root) twice:
once with an empty ``#cloud-config`` (the floor: what booting and cloud-init cost by themselves) and
once with kgen's rendered control-plane user-data (golden mode; kubeadm, kubelet and kubectl are the
test image's stand-ins). Prints seconds from qemu start to cloud-init's final stage and to the
``kubeadm init`` call, from the final stage to ``kubeadm init``, and the ratio to the floor."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from generator import secrets  # noqa: E402
from generator.api import render_cluster  # noqa: E402
from generator.runners.qemu import run_vm  # noqa: E402
from tests.boot.baseimage import BaseImage, ensure_base_image  # noqa: E402
from tests.boot.test_nodes import cluster_config, golden_test_disk  # noqa: E402


class Clock:
    """Host-side times (seconds since qemu was started) of the first progress line matching each mark."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.marks: dict[str, float] = {}

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
    return clock


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accel", default="tcg", choices=["tcg", "kvm", "auto"])
    options = parser.parse_args()
    base = ensure_base_image(log=lambda line: print(f"baseimage: {line}", file=sys.stderr))
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

    print(f"accelerator: {options.accel}")
    print(f"{'':40} {'floor':>8} {'golden CP':>10}")
    print(f"{'qemu start -> cloud-init final stage (s)':40} {fmt(floor, 'final'):>8} {fmt(golden, 'final'):>10}")
    print(f"{'qemu start -> kubeadm init call (s)':40} {'':>8} {fmt(golden, 'kubeadm-init'):>10}")
    if "final" in golden.marks and "kubeadm-init" in golden.marks:
        gap = golden.marks["kubeadm-init"] - golden.marks["final"]
        print(f"{'final stage -> kubeadm init call (s)':40} {'':>8} {gap:10.1f}")
    print(f"{'qemu start -> guest report (s)':40} {fmt(floor, 'report'):>8} {fmt(golden, 'report'):>10}")
    if "final" in floor.marks and "kubeadm-init" in golden.marks:
        ratio = golden.marks["kubeadm-init"] / floor.marks["final"]
        print(f"ratio: (start -> kubeadm init, golden) / (start -> final stage, empty cloud-config) = {ratio:.2f}")


if __name__ == "__main__":
    main()
