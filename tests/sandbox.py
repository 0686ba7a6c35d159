"""A throwaway root for running kgen's first-boot script for real under bash, on the host.

The sandbox is a private mount and network namespace (``unshare``) chrooted into a fresh directory:
the host's /usr is bind-mounted read-only, /etc is an overlay of the host's /etc (read-only below,
the sandbox's own ``etc-upper`` folder above: what the script writes or changes there lands in that
folder, and the host's /etc is never touched), and everything the script writes
(/var/lib/kgen, /var/log, /etc/kubernetes, ...) lands in the throwaway tree; /sys holds only a
fake product_uuid. Tools the script calls
can be replaced by putting stand-ins first on PATH (``/opt/standins/bin``); the Python ones run through a
session-wide fork server (tests/standin_server.py) when a C compiler is there for its client. Needs root."""

from __future__ import annotations

import atexit
import functools
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import REPO, validators_required

STANDINS = REPO / "tests" / "boot" / "standins"
STANDIN_BIN = "/opt/standins/bin"
# The sandbox's /etc overlay: its upper folder, beside the root's other folders. Each command mounts the
# overlay with a work folder of its own (see Sandbox.command).
ETC_UPPER = "etc-upper"
WORK_NAME = "@work@"  # in Sandbox.command's fstab: the name of the command's own work folder
STANDIN_LIB = "/opt/standins/lib"
# The sandbox's interpreter: /usr is the host's, and the stand-ins' shebang is #!/usr/bin/python3.
GUEST_PYTHON = "/usr/bin/python3"

# Compiles a stand-in's source (argv[1]) as a script named argv[2] and writes the marshalled code object to
# stdout: what ``python3 script`` compiles on every run (the same flags: dont_inherit, no -O), done once.
_COMPILE = (
    "import marshal, sys\n"
    "source = open(sys.argv[1], encoding='utf-8').read()\n"
    "sys.stdout.buffer.write(marshal.dumps(compile(source, sys.argv[2], 'exec', dont_inherit=True)))\n"
)


@functools.cache
def compiled_standin(name: str, python: str = GUEST_PYTHON) -> bytes:
    """tests/boot/standins/<name>.py compiled by ``python`` (marshal data is per interpreter version), once
    per test session; its code names /opt/standins/lib/<name>.py, where the sandbox keeps the source for
    tracebacks."""
    source = STANDINS / f"{name}.py"
    argv = [python, "-I", "-c", _COMPILE, str(source), f"{STANDIN_LIB}/{name}.py"]
    return subprocess.run(argv, capture_output=True, check=True).stdout


# The stand-ins that import more than the standard library (kubeadm.py: yaml, jsonschema); the others run
# with -S (no site: ~4 ms of each call), which changes only sys.path's site-packages they never import from.
SITE_STANDINS = frozenset({"kubeadm"})


def standin_launcher(code: str, *, site: bool = True) -> str:
    """A script that runs the compiled stand-in at ``code`` as itself. The stand-ins run hundreds of times
    per test session, and a script run as __main__ is compiled on every run (kubeadm.py: ~15 ms of its
    ~55 ms); executing the code object in this script's own namespace keeps everything the stand-in can
    see identical: __name__ == "__main__", __file__ and sys.argv[0] (apt.py picks apt-get or apt-mark
    by it, curl.py finds crictl next to itself), sys.path, the interpreter and its flags. Only the two
    names below are extra in its globals. ``site=False`` adds -S (see SITE_STANDINS)."""
    return (
        f"#!/usr/bin/python3{'' if site else ' -S'}\n"
        "# KGEN TEST STAND-IN launcher (tests/sandbox.py): runs a compiled tests/boot/standins/*.py as itself.\n"
        "import marshal\n\n"
        f"with open({code!r}, 'rb') as _standin:\n"
        "    _standin = marshal.loads(_standin.read())\n"
        "exec(_standin)\n"
    )


# tests/standin_server.py and its client (tests/standin_client.c, the launchers' interpreter line): where the
# sandbox finds them.
SERVER_SOCKET = f"{STANDIN_LIB}/standin-server.sock"  # for python3 -S
SITE_SERVER_SOCKET = f"{STANDIN_LIB}/standin-site-server.sock"  # for python3 with site (SITE_STANDINS)
SERVER_CLIENT = f"{STANDIN_LIB}/standin-client"
SERVER_SCRIPT = f"{STANDIN_LIB}/standin_server.py"


@dataclass(frozen=True)
class StandinServer:
    sockets: dict[str, Path]  # guest path (SERVER_SOCKET, SITE_SERVER_SOCKET): the socket a server listens on
    client: Path  # the compiled client


@functools.cache
def standin_server() -> StandinServer | None:
    """The session's stand-in fork servers (tests/standin_server.py), started once per test process, or None
    when they cannot run here (no C compiler, not root, no guest interpreter): the launchers then start
    /usr/bin/python3 themselves, as the client does whenever a server declines a call. The server for
    python3 -S runs on the host (with -S, nothing it imports differs from the sandbox's); the one with site
    runs in a sandbox of its own, where site finds what it finds in every sandbox (/usr/local is the
    sandbox's own, /etc the host's under an overlay, HOME /root)."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None or os.geteuid() != 0 or not Path(GUEST_PYTHON).is_file():
        return None
    folder = Path(tempfile.mkdtemp(prefix="kgen-standin-server-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    client = folder / "standin-client"
    source = REPO / "tests" / "standin_client.c"
    if subprocess.run([compiler, "-O2", "-o", str(client), str(source)], capture_output=True, check=False).returncode:
        return None
    site_box = Sandbox.create(folder / "site-server", standins=False)
    site_box.write(SERVER_SCRIPT, (REPO / "tests" / "standin_server.py").read_bytes())
    sockets = {SERVER_SOCKET: folder / "server.sock", SITE_SERVER_SOCKET: folder / "site-server.sock"}
    for guest, path in sockets.items():
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(path))
        listener.listen(64)
        alive_r, alive_w = os.pipe()  # a server ends when this process closes alive_w (it exits, even killed)
        fds = [str(listener.fileno()), str(alive_r)]
        if guest == SERVER_SOCKET:
            env = {"LANG": "C.UTF-8", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}  # the sandbox's locale
            argv = [GUEST_PYTHON, "-S", str(REPO / "tests" / "standin_server.py"), *fds]
        else:
            argv, env = site_box.command([GUEST_PYTHON, SERVER_SCRIPT, *fds]), None
        server = subprocess.Popen(
            argv,
            pass_fds=(listener.fileno(), alive_r),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(alive_r)
        listener.close()
        atexit.register(_stop_server, server, alive_w)
    return StandinServer(sockets, client)


def _stop_server(server: subprocess.Popen[bytes], alive: int) -> None:
    os.close(alive)
    server.wait()


@functools.cache
def _host_standins() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="kgen-standins-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


@functools.cache
def host_standin(name: str) -> list[str]:
    """The command running tests/boot/standins/<name>.py on the host with the tests' interpreter, for the
    tests that run a stand-in outside any sandbox (``KGEN_STANDIN_ROOT``): a launcher (standin_launcher)
    of its code compiled once per session. Its __file__, sys.argv[0] and sys.path[0] name the launcher
    rather than the source; kubeadm.py, the one run this way, uses none of them (it reads argv[1:] and
    imports only the standard library, yaml and jsonschema)."""
    folder = _host_standins()
    code = folder / f"{name}.code"
    argv = [sys.executable, "-I", "-c", _COMPILE, str(STANDINS / f"{name}.py"), str(STANDINS / f"{name}.py")]
    code.write_bytes(subprocess.run(argv, capture_output=True, check=True).stdout)
    launcher = folder / name
    launcher.write_text(standin_launcher(str(code)), encoding="utf-8")
    return [sys.executable, str(launcher)]


def run_host_kubeadm(
    root: Path, *args: str, stdin: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """The kubeadm stand-in run on the host (:func:`host_standin`) with its state under ``root``
    (``KGEN_STANDIN_ROOT``: the caller writes ``root/etc/kgen-standin.env`` and whatever else it needs)."""
    return subprocess.run(
        [*host_standin("kubeadm"), *args],
        input=stdin,
        env={**os.environ, "KGEN_STANDIN_ROOT": str(root)},
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


def require_sandbox() -> None:
    missing = [tool for tool in ("unshare", "chroot", "mount") if shutil.which(tool) is None]
    reason = f"needs root and util-linux ({', '.join(missing) or 'present'})"
    if os.geteuid() != 0 or missing:
        if validators_required():
            pytest.fail(f"the bootstrap sandbox {reason} (KGEN_REQUIRE_VALIDATORS=1)")
        pytest.skip(f"the bootstrap sandbox {reason}")


def _fstab_word(word: str) -> str:
    """``word`` as one field of an fstab line: libmount unmangles the octal escapes of a backslash, space,
    tab and newline (util-linux libmount/src/tab_parse.c, unmangle_string)."""
    for char in "\\ \t\n":
        word = word.replace(char, f"\\{ord(char):03o}")
    return word


@dataclass
class Sandbox:
    root: Path
    # (host folder, guest path) pairs bind-mounted read-write: state several sandboxes share, such as the
    # upgrade tests' model of the cluster.
    binds: list[tuple[Path, str]] = field(default_factory=list)

    @classmethod
    def create(cls, base: Path, *, admin_user: str = "kadmin", standins: bool = True) -> Sandbox:
        require_sandbox()
        root = base / "root"
        for name in ("bin", "sbin", "lib", "lib64"):
            if Path(f"/{name}").is_symlink():
                (root).mkdir(parents=True, exist_ok=True)
                (root / name).symlink_to(Path(f"/{name}").readlink())
        for directory in (
            "usr",
            "usr-local",
            "proc",
            "sys",
            "dev",
            "tmp",
            "run",
            "var/lib",
            "var/log",
            "root",
            "opt/standins/bin",
        ):
            (root / directory).mkdir(parents=True, exist_ok=True)
        (root / "tmp").chmod(0o1777)
        # /etc: an overlay mounted by each command (see command()), not a copy: the sandbox tests create
        # dozens of roots, and a copy of the host's /etc is ~1,300 files to write and later delete.
        for directory in (ETC_UPPER, "etc"):
            (root / directory).mkdir()
        home = root / "home" / admin_user
        home.mkdir(parents=True)
        for name, line in (
            ("passwd", f"{admin_user}:x:1500:1500:kgen admin:/home/{admin_user}:/bin/bash\n"),
            ("group", f"{admin_user}:x:1500:\n"),
        ):
            shutil.copy2(f"/etc/{name}", root / ETC_UPPER / name)  # the overlay's copy-up, done here
            with (root / ETC_UPPER / name).open("a", encoding="utf-8") as fh:
                fh.write(line)
        os.chown(home, 1500, 1500)
        box = cls(root)
        box.command_folders.mkdir()
        # /sys is not the host's: the script reads only the machine's product_uuid from it.
        box.write("/sys/class/dmi/id/product_uuid", "4c4c4544-0000-1000-8000-000000000001\n", 0o444)
        for name in ("kubeadm", "kubelet", "kubectl") if standins else ():
            box.install_standin(name)
        return box

    @property
    def command_folders(self) -> Path:
        """The folder beside the root (the guest does not see it) where each run of a command makes its /etc
        overlay's work folder, with its fstab beside it (see command())."""
        return self.root.with_name(f"{self.root.name}.commands")

    def install_standin(self, name: str, guest: str | None = None) -> None:
        """Install tests/boot/standins/<name>.py as ``guest`` (default /opt/standins/bin/<name>): a
        launcher running the stand-in's code compiled once per session (see standin_launcher), through the
        session's fork servers when there are (see standin_server)."""
        code = f"{STANDIN_LIB}/{name}.code"
        if not self.exists(code):
            self.write(f"{STANDIN_LIB}/{name}.py", (STANDINS / f"{name}.py").read_bytes())
            self.write(code, compiled_standin(name))
        launcher = standin_launcher(code, site=name in SITE_STANDINS)
        if self._link_server():
            launcher = launcher.replace("#!/usr/bin/python3", f"#!{SERVER_CLIENT}", 1)
        self.write(guest or f"{STANDIN_BIN}/{name}", launcher, 0o755)

    def install_python(self, guest: str, script: str) -> None:
        """Install a test's own Python stand-in ``script`` (its first line ``#!/usr/bin/python3 -S``) as
        ``guest``, run through the session's stand-in server like install_standin's launchers."""
        shebang = "#!/usr/bin/python3 -S\n"
        assert script.startswith(shebang), "a test stand-in for the server runs python3 -S"
        if self._link_server():
            script = f"#!{SERVER_CLIENT} -S\n" + script.removeprefix(shebang)
        self.write(guest, script, 0o755)

    def _link_server(self) -> bool:
        """Whether the sandbox reaches the session's stand-in server: its socket and client hard-linked into
        /opt/standins/lib (a socket is found by its inode, from any root and namespace)."""
        server = standin_server()
        if server is None:
            return False
        if self.exists(SERVER_CLIENT):
            return True
        self.path(STANDIN_LIB).mkdir(parents=True, exist_ok=True)
        links = {SERVER_CLIENT: server.client, **server.sockets}
        try:
            for guest, host in links.items():
                os.link(host, self.path(guest))
        except OSError:  # another filesystem: the launchers run python3 themselves
            for guest in links:
                self.path(guest).unlink(missing_ok=True)
            return False
        return True

    def path(self, guest: str) -> Path:
        """Where ``guest`` lives on the host, to read or write. /usr is the host's, read-only; /usr/local
        is the sandbox's own, mounted over it; /etc is the overlay's upper folder, which holds every file
        written or changed in the sandbox's /etc (files it only reads from the host's /etc are not there)."""
        if guest.startswith("/usr/local/"):
            return self.root / "usr-local" / guest.removeprefix("/usr/local/")
        if guest == "/etc" or guest.startswith("/etc/"):
            return self.root / ETC_UPPER / guest.removeprefix("/etc").lstrip("/")
        return self.root / guest.lstrip("/")

    def write(self, guest: str, content: str | bytes, mode: int = 0o644) -> None:
        target = self.path(guest)
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            content = content.encode("utf-8")
        target.write_bytes(content)
        target.chmod(mode)

    def read(self, guest: str) -> str:
        return self.path(guest).read_text(encoding="utf-8")

    def exists(self, guest: str) -> bool:
        path = self.path(guest)
        if path.is_char_device() and path.lstat().st_rdev == 0:
            return False  # an overlay whiteout: the sandbox deleted a file of the host's /etc
        return path.exists()

    def command(self, argv: list[str], *, env: dict[str, str] | None = None) -> list[str]:
        """The host command that runs ``argv`` inside the sandbox as root, with PATH starting at the
        stand-ins (stdin, stdout and stderr are the caller's)."""
        path = f"{STANDIN_BIN}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        variables = {"PATH": path, "HOME": "/root", "LANG": "C.UTF-8", **(env or {})}
        inner = " ".join(
            ["env", "-i", *(shlex.quote(f"{k}={v}") for k, v in variables.items()), *map(shlex.quote, argv)]
        )
        root = str(self.root)
        # The /etc overlay's work folder is made anew each time the command runs, by the command itself (a
        # caller may run one command line many times at once: the upgrade tests' ssh stand-in does, for a
        # batch of workers draining through one kubectl node). overlayfs empties the work folder when it
        # mounts (fs/overlayfs/super.c, ovl_workdir_create: an existing "work" is cleaned up and made anew),
        # so a shared one fails a mount now and then ("upper fs needs to support d_type", then EINVAL or
        # ENOENT). Sharing the upper folder is allowed (the kernel warns that it is in use).
        folders = str(self.command_folders)
        # The mounts, as an fstab that one ``mount -a`` mounts in order: one mount(8) process rather than one
        # per mount (each is ~2 ms of CPU, and the sandbox tests enter sandboxes hundreds of times). The
        # options are the ones the command line spelled (``--rbind -o ro`` is ``rbind,ro``). unshare(1) makes
        # the new mount namespace's propagation private itself (its --propagation default: private).
        # WORK_NAME stands for the work folder's name, which mktemp picks from letters and digits.
        mounts = [
            ("/usr", f"{root}/usr", "none", "rbind,ro"),
            (
                "overlay",
                f"{root}/etc",
                "overlay",
                f"lowerdir=/etc,upperdir={root}/{ETC_UPPER},workdir={folders}/{WORK_NAME}",
            ),
            (f"{root}/usr-local", f"{root}/usr/local", "none", "bind"),
            ("proc", f"{root}/proc", "proc", "defaults"),
            ("/dev", f"{root}/dev", "none", "rbind"),
        ]
        for host, guest in self.binds:
            target = self.path(guest)
            target.mkdir(parents=True, exist_ok=True)
            mounts.append((str(host), str(target), "none", "bind"))
        head, tail = "".join(" ".join(map(_fstab_word, entry)) + " 0 0\n" for entry in mounts).split(WORK_NAME)
        # The fstab goes beside the work folder (libmount cannot parse one from a pipe), written by bash's
        # own printf: mktemp is the only process this adds.
        script = f"""
set -e
work=$(mktemp -d {shlex.quote(folders)}/XXXXXXXXXX)
printf '%s' {shlex.quote(head)} "${{work##*/}}" {shlex.quote(tail)} > "$work.fstab"
mount -a -T "$work.fstab"
# A fresh network namespace: no route anywhere, and its own sysctls.
echo 1 > /proc/sys/net/ipv4/ip_forward
exec chroot {shlex.quote(root)} {inner}
"""
        return ["unshare", "--mount", "--net", "--fork", "bash", "-c", script]

    def run(
        self, argv: list[str], *, timeout: float = 120, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` inside the sandbox as root, with PATH starting at the stand-ins."""
        return subprocess.run(
            self.command(argv, env=env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
