"""Build and cache the Debian 12 disk image that boot tests run kgen's user-data on.

No cloud image can be downloaded here, so the image is built from Debian packages with debootstrap
(see shared/reference/boot-test-notes.md): a raw ext4 root filesystem booted straight from its
kernel and initrd (no bootloader), with cloud-init, containerd and the kubeadm/kubelet/kubectl
stand-ins from ``tests/boot/standins/``.

The result is cached in ``~/.cache/kgen/base-<hash>/``; the hash covers the package list, the build
steps' version and every stand-in file, so changing any of them builds a new image. A build runs in a
temporary folder renamed into place at the end, under a lock, so an interrupted build leaves no
broken cache. Building needs root (debootstrap, chroot, mount).

    python3 -m tests.boot.baseimage [--cache-dir DIR]     # build (if needed) and print the paths
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

SUITE = "bookworm"
PACKAGES = (
    "systemd",
    "systemd-sysv",
    "udev",
    "linux-image-amd64",
    "cloud-init",
    "containerd",
    "iproute2",
    "nftables",  # the configure phase blocks the metadata service for pods with nft
    "kmod",
    "procps",
    "ca-certificates",
    "sudo",
    "curl",
    "openssl",
    "locales",
    "python3-yaml",
    "python3-jsonschema",
)
# Bump when the build steps below change in a way that changes the image.
BUILD_STEPS_VERSION = 1
DISK_SIZE = "4G"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
STANDINS = Path(__file__).resolve().parent / "standins"
# stand-in file -> where it goes in the image, and its mode
STANDIN_INSTALL = {
    "kubeadm.py": ("/usr/bin/kubeadm", 0o755),
    "kubelet.py": ("/usr/bin/kubelet", 0o755),
    "kubectl.py": ("/usr/bin/kubectl", 0o755),
    "kubelet.service": ("/usr/lib/systemd/system/kubelet.service", 0o644),
    "10-kubeadm.conf": ("/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf", 0o644),
}
CHROOT_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LC_ALL": "C",
    "DEBIAN_FRONTEND": "noninteractive",
    "HOME": "/root",
}
REQUIRED_TOOLS = {
    "debootstrap": "debootstrap",
    "mkfs.ext4": "e2fsprogs",
    "chroot": "coreutils",
    "mount": "mount",
    "umount": "mount",
}


class BaseImageError(Exception):
    """The base image cannot be built; the message says why and what to do."""


@dataclass(frozen=True)
class BaseImage:
    disk: Path  # raw ext4 root filesystem (sparse, 4 GiB)
    kernel: Path
    initrd: Path


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kgen"


def image_key() -> str:
    """Hash of everything that goes into the image."""
    standins = {}
    for path in sorted(p for p in STANDINS.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        standins[path.relative_to(STANDINS).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    material = {
        "suite": SUITE,
        "packages": sorted(PACKAGES),
        "steps": BUILD_STEPS_VERSION,
        "disk_size": DISK_SIZE,
        "standins": standins,
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:16]


def _image_in(folder: Path) -> BaseImage:
    return BaseImage(disk=folder / "disk.img", kernel=folder / "vmlinuz", initrd=folder / "initrd.img")


def cached_base_image(cache_dir: Path | None = None) -> BaseImage | None:
    """The cached image for the current inputs, or None when it has not been built."""
    folder = (cache_dir or default_cache_dir()) / f"base-{image_key()}"
    image = _image_in(folder)
    complete = (folder / "manifest.json").is_file()
    if complete and all(p.is_file() for p in (image.disk, image.kernel, image.initrd)):
        return image
    return None


def ensure_base_image(cache_dir: Path | None = None, *, log: Callable[[str], None] | None = None) -> BaseImage:
    """The cached base image, built first if needed (which needs root and a few minutes)."""
    cache_dir = (cache_dir or default_cache_dir()).resolve()
    cached = cached_base_image(cache_dir)
    if cached is not None:
        return cached
    say: Callable[[str], None] = log or (lambda _line: None)
    _check_can_build()
    cache_dir.mkdir(parents=True, exist_ok=True)
    key = image_key()
    with _locked(cache_dir / f"base-{key}.lock"):
        cached = cached_base_image(cache_dir)  # built by someone else while we waited
        if cached is not None:
            return cached
        for stale in cache_dir.glob(f".base-{key}.tmp-*"):
            _remove_tree(stale)
        final = cache_dir / f"base-{key}"
        if final.exists():
            _remove_tree(final)  # incomplete: no manifest
        tmp = cache_dir / f".base-{key}.tmp-{os.getpid()}"
        tmp.mkdir()
        try:
            _build(tmp, cache_dir, say)
        except BaseException:
            with contextlib.suppress(OSError):
                shutil.copyfile(tmp / "build.log", cache_dir / f"base-{key}.failed.log")
            _remove_tree(tmp)
            raise
        tmp.rename(final)
        (cache_dir / f"base-{key}.failed.log").unlink(missing_ok=True)
    say(f"base image ready in {final}")
    return _image_in(final)


def _check_can_build() -> None:
    if os.geteuid() != 0:
        raise BaseImageError(
            "building the boot-test base image needs root (debootstrap, chroot and mount): "
            "run as root, e.g. `sudo python3 -m tests.boot.baseimage`"
        )
    missing = sorted({pkg for tool, pkg in REQUIRED_TOOLS.items() if shutil.which(tool) is None})
    if missing:
        raise BaseImageError(f"building the base image needs the Debian packages: {' '.join(missing)}")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _mounts_under(path: Path) -> list[str]:
    prefix = str(path.resolve())
    found = []
    with Path("/proc/self/mountinfo").open(encoding="utf-8") as f:
        for line in f:
            mount_point = line.split()[4].replace("\\040", " ")
            if mount_point == prefix or mount_point.startswith(prefix + "/"):
                found.append(mount_point)
    return found


def _remove_tree(path: Path) -> None:
    """Remove a build folder, never following a mount that a killed build left behind."""
    for mount_point in sorted(_mounts_under(path), key=len, reverse=True):
        subprocess.run(["umount", "-l", mount_point], check=False, capture_output=True)
    if _mounts_under(path):
        raise BaseImageError(f"{path} still has mounts under it; unmount them and remove it by hand")
    shutil.rmtree(path, ignore_errors=True)


def debian_mirror() -> str:
    """The host's Debian mirror (deb822 sources first, then sources.list), or deb.debian.org."""
    override = os.environ.get("KGEN_DEBIAN_MIRROR")
    if override:
        return override
    sources = Path("/etc/apt/sources.list.d/debian.sources")
    if sources.is_file():
        for stanza in re.split(r"\n\s*\n", sources.read_text(encoding="utf-8")):
            fields = {}
            for line in stanza.splitlines():
                if ":" in line and not line.lstrip().startswith("#"):
                    name, value = line.split(":", 1)
                    fields[name.strip().lower()] = value.split()
            if "deb" in fields.get("types", []) and SUITE in fields.get("suites", []) and fields.get("uris"):
                return fields["uris"][0]
    legacy = Path("/etc/apt/sources.list")
    if legacy.is_file():
        for line in legacy.read_text(encoding="utf-8").splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[0] == "deb" and parts[2] == SUITE:
                return parts[1]
    return DEFAULT_MIRROR


class _Builder:
    def __init__(self, tmp: Path, say: Callable[[str], None]) -> None:
        self.tmp = tmp
        self.root = tmp / "root"
        self.log_path = tmp / "build.log"
        self.say = say

    def run(self, argv: list[str], *, step: str, check: bool = True, timeout: float = 1800) -> int:
        with self.log_path.open("ab") as log:
            log.write(f"\n$ {' '.join(argv)}\n".encode())
            log.flush()
            try:
                proc = subprocess.run(
                    argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    env=CHROOT_ENV, timeout=timeout, check=False,
                )  # fmt: skip
            except subprocess.TimeoutExpired as exc:
                raise BaseImageError(f"{step}: timed out after {timeout:.0f}s{self._tail()}") from exc
        if check and proc.returncode != 0:
            raise BaseImageError(f"{step}: `{argv[0]}` exited {proc.returncode}{self._tail()}")
        return proc.returncode

    def chroot(self, *argv: str, step: str) -> None:
        self.run(["chroot", str(self.root), *argv], step=step)

    def _tail(self) -> str:
        try:
            lines = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-25:]
        except OSError:
            return ""
        return "\n--- build log tail ---\n" + "\n".join(lines)

    def write(self, path: str, text: str, mode: int = 0o644) -> None:
        dest = self.root / path.lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(text, encoding="utf-8")
        dest.chmod(mode)


def _build(tmp: Path, cache_dir: Path, say: Callable[[str], None]) -> None:
    b = _Builder(tmp, say)
    root = b.root
    started = time.monotonic()
    mirror = debian_mirror()
    debs = cache_dir / "debs"
    debs.mkdir(exist_ok=True)

    say(f"debootstrap {SUITE} from {mirror} (a few minutes)")
    # debootstrap ends with errors here: its resolver misses python3-cryptography's virtual dependency
    # python3-cffi-backend-api-*. The apt-get -f install below repairs that, then dpkg --audit checks.
    b.run(
        ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", f"--cache-dir={debs}",
         SUITE, str(root), mirror],
        step="debootstrap", check=False,
    )  # fmt: skip
    if not (root / "usr/bin/apt-get").is_file() or not (root / "var/lib/dpkg/status").is_file():
        raise BaseImageError(f"debootstrap did not produce a usable root{b._tail()}")

    say("repairing packages (apt-get -f install python3-cffi-backend)")
    sources_dir = root / "etc/apt/sources.list.d"
    host_sources = Path("/etc/apt/sources.list.d/debian.sources")
    if host_sources.is_file():
        shutil.copyfile(host_sources, sources_dir / "debian.sources")
        (root / "etc/apt/sources.list").unlink(missing_ok=True)
    elif Path("/etc/apt/sources.list").is_file():
        shutil.copyfile("/etc/apt/sources.list", root / "etc/apt/sources.list")
    if Path("/etc/resolv.conf").exists():
        (root / "etc/resolv.conf").unlink(missing_ok=True)
        shutil.copyfile("/etc/resolv.conf", root / "etc/resolv.conf")
    proc_dir = root / "proc"
    proc_dir.mkdir(exist_ok=True)
    b.run(["mount", "--bind", "/proc", str(proc_dir)], step="mount /proc")
    try:
        b.chroot("apt-get", "update", "-q", step="apt-get update in the image")
        b.chroot("apt-get", "-f", "install", "-y", "-q", "python3-cffi-backend", step="apt-get -f install")
        b.chroot("apt-get", "clean", step="apt-get clean")
        with b.log_path.open("ab") as log:
            audit = subprocess.run(
                ["chroot", str(root), "dpkg", "--audit"], capture_output=True, env=CHROOT_ENV, check=False
            )
            log.write(audit.stdout + audit.stderr)
        if audit.stdout.strip():
            raise BaseImageError(f"packages still broken after the repair:\n{audit.stdout.decode()}")
    finally:
        subprocess.run(["umount", str(proc_dir)], check=False, capture_output=True)
    shutil.rmtree(root / "var/lib/apt/lists", ignore_errors=True)
    (root / "var/lib/apt/lists/partial").mkdir(parents=True, exist_ok=True)
    (root / "etc/resolv.conf").write_text("", encoding="utf-8")

    say("configuring the image")
    locale_gen = root / "etc/locale.gen"
    text = locale_gen.read_text(encoding="utf-8") if locale_gen.exists() else ""
    text = re.sub(r"^#\s*(en_US\.UTF-8 UTF-8)", r"\1", text, flags=re.M)
    if "\nen_US.UTF-8 UTF-8" not in "\n" + text:
        text += "en_US.UTF-8 UTF-8\n"
    locale_gen.write_text(text, encoding="utf-8")
    b.chroot("locale-gen", step="locale-gen")
    # cloud-init's locale module regenerates locales at every first boot (about 10 s under TCG)
    # unless the default locale is already set.
    b.write("/etc/default/locale", "LANG=en_US.UTF-8\n")
    mask = root / "etc/systemd/system/systemd-networkd-wait-online.service"
    mask.unlink(missing_ok=True)
    mask.symlink_to("/dev/null")  # no network in the VM: it would block the boot for 2 minutes
    b.write("/etc/fstab", "/dev/vda / ext4 defaults 0 1\n")
    b.write("/etc/cloud/cloud.cfg.d/90-kgen-datasource.cfg", "datasource_list: [ NoCloud, None ]\n")
    b.write("/etc/hostname", "localhost\n")
    b.write("/etc/machine-id", "")  # generated at first boot, so two VMs never share one
    (root / "var/lib/dbus/machine-id").unlink(missing_ok=True)
    for name, (dest, mode) in STANDIN_INSTALL.items():
        b.write(dest, (STANDINS / name).read_text(encoding="utf-8"), mode)

    kernels = sorted((root / "boot").glob("vmlinuz-*"))
    initrds = sorted((root / "boot").glob("initrd.img-*"))
    if len(kernels) != 1 or len(initrds) != 1:
        raise BaseImageError(f"expected one kernel and one initrd in the image, found {kernels} {initrds}")
    shutil.copyfile(kernels[0], tmp / "vmlinuz")
    shutil.copyfile(initrds[0], tmp / "initrd.img")
    cloud_init = subprocess.run(
        ["chroot", str(root), "dpkg-query", "-W", "-f=${Package} ${Version}\n", "cloud-init", "containerd"],
        capture_output=True, text=True, env=CHROOT_ENV, check=False,
    )  # fmt: skip

    say(f"making the {DISK_SIZE} ext4 disk")
    disk = tmp / "disk.img"
    b.run(["truncate", "-s", DISK_SIZE, str(disk)], step="truncate")
    b.run(["mkfs.ext4", "-q", "-F", "-L", "kgen-root", "-d", str(root), str(disk)], step="mkfs.ext4")
    _remove_tree(root)
    manifest = {
        "key": image_key(),
        "suite": SUITE,
        "packages": list(PACKAGES),
        "build_steps_version": BUILD_STEPS_VERSION,
        "mirror": mirror,
        "kernel": kernels[0].name.removeprefix("vmlinuz-"),
        "versions": cloud_init.stdout.splitlines(),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "build_seconds": round(time.monotonic() - started, 1),
    }
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    say(f"built in {manifest['build_seconds']}s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m tests.boot.baseimage", description=__doc__.split("\n")[0])
    parser.add_argument("--cache-dir", type=Path, default=None, help="default: ~/.cache/kgen")
    args = parser.parse_args(argv)
    try:
        image = ensure_base_image(args.cache_dir, log=lambda line: print(f"baseimage: {line}", file=sys.stderr))
    except BaseImageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"disk={image.disk}\nkernel={image.kernel}\ninitrd={image.initrd}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
