#!/usr/bin/env python3
"""The README's two commands, for a fresh Debian/Ubuntu machine with python3 (3.11 or newer):

    python3 tools/dev.py render   # render examples/cluster.yaml into out/
    python3 tools/dev.py test     # install the validators and run the whole test suite

Both create ./.venv and install kgen into it once (`python3 tools/dev.py setup` does only that); later
runs reuse it until pyproject.toml changes or another python3 runs them (then the venv is made again).
kgen needs Python >= 3.11 (MIN_PYTHON).
`test` also installs the system validators the tests
use (cloud-init, shellcheck, openssl, containerd, packer, qemu, debootstrap, ...) with apt-get when
run as root or with sudo available; without them those tests skip, with the reason shown.
Extra arguments after `test` go to pytest. Tests run in parallel (pytest-xdist, one worker per core,
one more when ``-m`` leaves out the boot tests, longest tests first: see tests/schedule.py;
``--dist loadgroup``: the boot tests form one group, so one worker runs them one VM at a time); pass
your own ``-n`` (``-n 0`` for a serial run) to change the count: the group stays, unless you pass your
own ``--dist`` or ``-p no:xdist``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV = REPO / ".venv"
# The lowest Python kgen supports: pyproject.toml's requires-python, the README, and .ci/run (which
# runs it, Debian 12's python3) say the same (tests/test_python_version.py).
MIN_PYTHON = (3, 11)
# Debian package -> a command it provides, to see whether it is there.
APT_PACKAGES = {
    "cloud-init": "cloud-init",
    "shellcheck": "shellcheck",
    "openssl": "openssl",
    "containerd": "containerd",
    "packer": "packer",
    "qemu-system-x86": "qemu-system-x86_64",
    "qemu-utils": "qemu-img",
    "debootstrap": "debootstrap",
    "cloud-image-utils": "cloud-localds",
    "e2fsprogs": "mkfs.ext4",
    "genisoimage": "genisoimage",
    "systemd": "systemd-analyze",
    "nftables": "nft",
    "iproute2": "ip",
    "util-linux": "unshare",
    "etcd-server": "etcd",
    "etcd-client": "etcdctl",
    "docker-registry": "docker-registry",  # issue 15: the mirror in tests/test_registries.py
    "skopeo": "skopeo",
    "rclone": "rclone",
    "gcc": "gcc",  # compiles the tests' stand-in client (tests/standin_client.c; without it: python3 per call)
    "kubernetes-client": "kubectl",  # `kgen kubeconfig` tests: `kubectl config view --raw` reads the output
}


def sh(*cmd: str, **kwargs: object) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, **kwargs)  # type: ignore[call-overload]


def as_root(*cmd: str) -> list[str] | None:
    if os.geteuid() == 0:
        return list(cmd)
    if shutil.which("sudo"):
        return ["sudo", *cmd]
    return None


def apt_install(packages: list[str]) -> bool:
    update, install = (
        as_root("apt-get", "update"),
        as_root("apt-get", "install", "-y", "--no-install-recommends", *packages),
    )
    if update is None or install is None or not shutil.which("apt-get"):
        print(f"note: cannot install {' '.join(packages)} (need apt-get and root or sudo)", file=sys.stderr)
        return False
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    sh(*update, env=env)
    sh(*install, env=env)
    return True


def check_python(version: tuple[int, ...] = tuple(sys.version_info[:3])) -> None:
    """Stop with one clear line on a Python older than kgen supports (before pip says it less clearly)."""
    if version[:2] < MIN_PYTHON:
        need = ".".join(map(str, MIN_PYTHON))
        sys.exit(
            f"kgen needs Python >= {need} (this python3 is {'.'.join(map(str, version))}); on Ubuntu 22.04 run "
            f'`uv python install {need}` and then `"$(uv python find {need})" tools/dev.py ...`, '
            f"or install python{need} from the deadsnakes PPA"
        )


def install_stamp(extras: str) -> str:
    """What the installed venv was made from: pyproject.toml (dependencies, entry points), the extras
    and the Python. The install is editable (hatchling puts the repository on sys.path), so edits to
    the package itself need no reinstall."""
    digest = hashlib.sha256((REPO / "pyproject.toml").read_bytes())
    digest.update(f"\0{extras}\0{sys.version}".encode())
    return digest.hexdigest()


def stamp_path(extras: str) -> Path:
    return VENV / f"kgen-install{extras.strip('[]') and '-' + extras.strip('[]')}.stamp"


def installed(extras: str) -> bool:
    """Whether the venv already has kgen installed with ``extras`` (or with [dev], which includes
    everything) from the current pyproject.toml."""
    for candidate in dict.fromkeys((extras, "[dev]")):
        path = stamp_path(candidate)
        if path.is_file() and path.read_text(encoding="utf-8").strip() == install_stamp(candidate):
            return True
    return False


def venv_python(venv_dir: Path) -> tuple[str, str] | None:
    """The (version, interpreter) the venv at ``venv_dir`` runs, as ``venv`` recorded them in its
    pyvenv.cfg (``version`` and ``executable``, Lib/venv/__init__.py), or None without one."""
    try:
        lines = (venv_dir / "pyvenv.cfg").read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    values = {key.strip(): value.strip() for key, sep, value in (line.partition("=") for line in lines) if sep}
    version, executable = values.get("version"), values.get("executable")
    return (version, executable) if version and executable else None


def made_by_this_python(venv_dir: Path) -> bool:
    """Whether the venv at ``venv_dir`` runs the Python running this script. A venv keeps the
    interpreter that made it (a copy of it, here): run with another python3 (another pyenv version,
    Debian's after an upgrade), pip would install into the old one while the install stamp named this
    one, and the next run with the first python3 would install again."""
    if Path(sys.prefix).resolve() == venv_dir.resolve():
        return True  # this script runs in the venv itself
    this = (
        f"{sys.version_info.major}.{sys.version_info.minor}.{sys.version_info.micro}",
        os.path.realpath(sys.executable),
    )
    return venv_python(venv_dir) == this


def make_venv() -> None:
    """A new venv at VENV (whatever was there is cleared) for the Python running this script."""
    try:
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    except (subprocess.CalledProcessError, OSError):
        # Debian and Ubuntu ship ensurepip separately.
        shutil.rmtree(VENV, ignore_errors=True)
        minor = f"{sys.version_info.major}.{sys.version_info.minor}"
        if not apt_install([f"python{minor}-venv"]):
            sys.exit("python3 -m venv does not work here; install the python3-venv package and retry")
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)


def ensure_venv(extras: str) -> Path:
    python = VENV / "bin" / "python"
    ours = python.exists() and made_by_this_python(VENV)
    if ours and installed(extras):
        return VENV / "bin"
    if not ours:
        if python.exists():
            version, executable = venv_python(VENV) or ("?", "an unknown Python")
            print(
                f"tools/dev.py: {VENV} runs Python {version} ({executable}), not this one ({sys.executable});"
                " making it again",
                file=sys.stderr,
            )
        make_venv()
    sh(str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--upgrade", "pip")
    sh(str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-e", f"{REPO}{extras}")
    stamp_path(extras).write_text(install_stamp(extras) + "\n", encoding="utf-8")
    return VENV / "bin"


def render() -> None:
    bindir = ensure_venv("")
    sh(str(bindir / "kgen"), "render", "examples/cluster.yaml", "-d", "out", cwd=REPO)


WORKERS = ["-n", "auto"]
# The boot tests form one xdist group (tests/markers.py): only this mode keeps them on one worker, one VM
# at a time, whatever the worker count.
DISTRIBUTION = ["--dist", "loadgroup"]


def _given(pytest_args: list[str], *options: str) -> bool:
    """Whether the caller passed one of ``options`` (``-n 4``, ``-n4``, ``--dist=load``, ...)."""
    return any(
        arg == option or arg.startswith(option if len(option) == 2 else option + "=")
        for arg in pytest_args
        for option in options
    )


def with_xdist(pytest_args: list[str]) -> list[str]:
    """The pytest arguments with xdist's: ``-n auto`` unless the caller chose a worker count, and
    ``--dist loadgroup`` unless the caller chose a mode or turned xdist off (``-p no:xdist``)."""
    if any(arg in {"no:xdist", "-pno:xdist"} for arg in pytest_args):
        return pytest_args
    workers = [] if _given(pytest_args, "-n", "--numprocesses") else WORKERS
    distribution = [] if _given(pytest_args, "--dist") else DISTRIBUTION
    return [*workers, *distribution, *pytest_args]


def test(pytest_args: list[str]) -> None:
    missing = [package for package, command in APT_PACKAGES.items() if not shutil.which(command)]
    if missing:
        apt_install(missing)
    bindir = ensure_venv("[dev]")
    sh(str(bindir / "python"), "-m", "pytest", *with_xdist(pytest_args), cwd=REPO, env=suite_env())


def suite_env() -> dict[str, str]:
    """The environment for pytest: bytecode caching on even where PYTHONDONTWRITEBYTECODE is set, because
    every xdist worker imports (and pytest assertion-rewrites) all ~55 test modules; with the
    rewritten modules cached in __pycache__ (gitignored) a worker collects in ~1.5 s instead of ~4 s.
    Temporary files go to RAM (:func:`ram_temp_dir`) unless TMPDIR is set."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if not env.get("TMPDIR") and (ram := ram_temp_dir()) is not None:
        env["TMPDIR"] = ram
    return env


# The room a RAM temp folder needs: the fast tier peaks at ~0.2 GB, the boot tests at ~2.6 GB (raw disk
# copies), beside a 2 GiB guest. /dev/shm is half the RAM by default: this asks for a 16 GB machine.
RAM_TEMP_MIN_FREE = 8 << 30


def ram_temp_dir(
    folder: str = "/dev/shm",  # noqa: S108 - only TMPDIR: pytest and mkdtemp make private folders in it
    mounts: Path = Path("/proc/self/mounts"),
    min_free: int = RAM_TEMP_MIN_FREE,
) -> str | None:
    """``folder`` when it is a tmpfs that allows programs and device files and has ``min_free`` bytes free,
    else None (the system's temp folder stays). A run writes ~26,000 files in pytest's temp folders and
    kgen's atomic writes fsync each; on a disk that costs ~4 s of a ~55 s fast tier, in RAM nothing.
    pytest makes its own folder there (pytest-of-USER, mode 0700, checked to be its user's)."""
    try:
        tmpfs = any(
            fields[1] == folder and fields[2] == "tmpfs"
            for fields in (line.split() for line in mounts.read_text(encoding="utf-8").splitlines())
            if len(fields) > 2
        )
        stat = os.statvfs(folder)
    except OSError:
        return None
    usable = not stat.f_flag & (os.ST_RDONLY | os.ST_NOEXEC | os.ST_NODEV) and os.access(folder, os.W_OK | os.X_OK)
    return folder if tmpfs and usable and stat.f_bavail * stat.f_frsize >= min_free else None


def main() -> None:
    try:
        run(sys.argv[1:])
    except subprocess.CalledProcessError as exc:  # the command already said what went wrong
        sys.exit(exc.returncode)


def run(argv: list[str]) -> None:
    check_python()
    if not argv or argv[0] not in {"render", "test", "setup"}:
        sys.exit(__doc__)
    if argv[0] == "render":
        render()
    elif argv[0] == "setup":
        ensure_venv("[dev]")
    else:
        test(argv[1:])


if __name__ == "__main__":
    main()
