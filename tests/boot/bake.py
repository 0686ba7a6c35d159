"""A baked test image: the boot-test base image after the bake's configure step, for real.

A Packer bake runs ``node-configure.sh image`` on the image (templates/packer/build.pkr.hcl.j2) and a
golden node's first boot then runs only the per-node part. So the golden-mode boot tests need a disk
on which the cluster-wide part really ran: this boots the base image once (qemu, no NIC) with
user-data that runs the rendered configure script with the role ``image``, and keeps the disk. The
node boots that follow use their own instance-id, so cloud-init runs their user-data as on a fresh
instance (what the bake's sysprep, ``cloud-init clean``, brings about). The result is cached next to
the base image, keyed by the base image and the configure script's SHA-256 (one baked disk kept)."""

from __future__ import annotations

import fcntl
import hashlib
import subprocess
from pathlib import Path

import yaml

from generator import prepare
from generator.model import Cluster
from generator.runners.qemu import run_vm
from generator.runners.vm_report import COLLECT_DIR
from tests.boot.baseimage import BaseImage

BAKE_TIMEOUT = 600.0


class BakeError(Exception):
    pass


def bake_user_data(configure: str) -> str:
    run = f"{prepare.CONFIGURE_PATH} image > {COLLECT_DIR}/bake.log 2>&1; echo $? > {COLLECT_DIR}/bake.rc"
    document = {
        "write_files": [{"path": prepare.CONFIGURE_PATH, "permissions": "0700", "content": configure}],
        "runcmd": [["sh", "-c", run]],
    }
    return "#cloud-config\n" + yaml.safe_dump(document, sort_keys=False)


def baked_disk(base: BaseImage, cluster: Cluster) -> Path:
    """A raw disk: the base image after ``node-configure.sh image`` for this cluster (cached)."""
    configure = prepare.configure_script(cluster)
    folder = base.disk.parent
    key = hashlib.sha256(f"{folder.name}\n{prepare.configure_digest(configure)}".encode()).hexdigest()[:16]
    target = folder / f"baked-{key}.raw"
    with (folder / "baked.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.exists():
            return target
        work = folder / f".bake-{key}"
        subprocess.run(["rm", "-rf", str(work)], check=True)
        work.mkdir()
        (work / "user-data").write_text(bake_user_data(configure), encoding="utf-8")
        (work / "meta-data").write_text("instance-id: kgen-test-bake\nlocal-hostname: bake\n", encoding="utf-8")
        result = run_vm(
            user_data=work / "user-data",
            meta_data=work / "meta-data",
            image=base.disk,
            workdir=work / "vm",
            kernel=base.kernel,
            initrd=base.initrd,
            accel="tcg",
            timeout=BAKE_TIMEOUT,
            keep=True,
        )
        facts = result.report.facts if result.report is not None else {}
        if result.disk is None or facts.get("bake.rc", "").strip() != "0":
            raise BakeError(f"the test bake failed (serial log {result.serial_log}):\n{facts.get('bake.log', '')}")
        partial = work / "baked.raw"
        subprocess.run(["qemu-img", "convert", "-O", "raw", str(result.disk), str(partial)], check=True)
        for stale in folder.glob("baked-*.raw"):
            stale.unlink()
        partial.rename(target)
        subprocess.run(["rm", "-rf", str(work)], check=True)
        return target
