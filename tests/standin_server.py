"""A fork server for the sandbox's Python stand-ins (``/usr/bin/python3 -S standin_server.py SOCKET_FD PIPE_FD``).

The sandbox tests call the stand-ins hundreds of times, and each call used to be a new ``python3 -S``: ~10 ms
to start the interpreter and ~25 ms to import json, re, pathlib, ... before the stand-in did ~5 ms of work.
This server starts the same interpreter (the host's /usr/bin/python3 is the sandbox's: /usr is bind-mounted)
with the same flags once, imports those modules once, and forks a child per call (tests/standin_client.c is
the launchers' interpreter line). The child makes itself the process ``python3 -S SCRIPT ARGS`` would have
been: the caller's mount and network namespaces, root and cwd, environment, umask, ignored and blocked
signals, stdin/stdout/stderr (recreated the way CPython's create_stdio does), sys.argv, sys.orig_argv,
sys.path[0] and a fresh ``__main__``; it compiles SCRIPT and runs it, and the interpreter's own exit path
(SystemExit, atexit, flushing) ends it. An uncaught exception is printed without this file's frame.

It declines (the client then execs /usr/bin/python3 itself) when the call could start differently: a caller
that is not root, a PYTHON* variable, a locale or TZ (with site: HOME) other than the server's, other
namespaces (user, pid, uts, ipc, cgroup, time) than the server's, or other interpreter options than the
server's own (-S, or none for the server with site, which tests/sandbox.py starts in a sandbox of its own).
What differs in every case: the child's parent is this server (no stand-in reads its parent), it has no file
descriptors beyond 0-2 (bash passes none to the stand-ins), sys.modules holds the modules imported here, and
string hashing shares one seed."""

from __future__ import annotations

import contextlib
import ctypes
import fcntl  # noqa: F401 - this and the others marked so: what the stand-ins import, imported once here
import gc
import hashlib  # noqa: F401
import importlib.util  # noqa: F401
import io
import json  # noqa: F401
import os
import pathlib  # noqa: F401
import re  # noqa: F401
import selectors
import signal
import socket
import struct
import sys
import time  # noqa: F401
import types
from importlib.machinery import SourceFileLoader

if not sys.flags.no_site:  # kubeadm.py imports these where it uses them
    with contextlib.suppress(ImportError):
        import jsonschema  # noqa: F401
        import yaml  # noqa: F401

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

PYTHON = "/usr/bin/python3"
NAMESPACES_ENTERED = ("net", "mnt")  # the order matters: the mount namespace last (setns(2))
NAMESPACES_SHARED = ("user", "pid", "uts", "ipc", "cgroup", "time")
_libc = ctypes.CDLL(None, use_errno=True)


# What the interpreter's start reads from the environment besides PYTHON* (CPython: the locale; site: the
# user site under HOME, and distutils-precedence.pth SETUPTOOLS_USE_DISTUTILS): a call whose values differ
# from the server's is declined.
STARTUP_VARIABLES = ("LANG", "LANGUAGE", "TZ")
SITE_STARTUP_VARIABLES = ("HOME", "SETUPTOOLS_USE_DISTUTILS")


def options() -> list[str]:
    """The interpreter options before the script: the ones this server was started with."""
    return ["-S"] if sys.flags.no_site else []


def declines(peer: int, uid: int, gid: int, words: list[str], env: dict[str, str]) -> bool:
    prefix = options()
    if uid != 0 or gid != 0 or os.getuid() != 0 or len(words) <= len(prefix) or words[: len(prefix)] != prefix:
        return True
    if words[len(prefix)].startswith("-") or any(key.startswith("PYTHON") for key in env):
        return True
    names = (*STARTUP_VARIABLES, *(() if sys.flags.no_site else SITE_STARTUP_VARIABLES))
    keys = {k for k in (*env, *os.environ) if k.startswith("LC_") or k in names}
    if any(env.get(k) != os.environ.get(k) for k in keys):
        return True
    try:
        mine = {ns: os.stat(f"/proc/self/ns/{ns}").st_ino for ns in NAMESPACES_SHARED}  # noqa: PTH116
        theirs = {ns: os.stat(f"/proc/{peer}/ns/{ns}").st_ino for ns in mine}  # noqa: PTH116
    except OSError:
        return True
    return mine != theirs


def stdio(fd: int, write: bool, started: Any) -> io.TextIOWrapper:
    """Python/pylifecycle.c create_stdio (3.11) for a buffered run, with the encoding and errors of
    ``started``, the server's own stream (its interpreter started under the same locale and flags)."""
    buffer: Any = open(fd, "wb" if write else "rb", -1, None, None, None, False)  # noqa: SIM115
    buffer.raw.name = started.buffer.raw.name
    line_buffering = buffer.raw.isatty() or fd == 2
    stream = io.TextIOWrapper(buffer, started.encoding, started.errors, "\n", line_buffering, False)
    stream.mode = "w" if write else "r"  # type: ignore[misc]
    return stream


def become(peer: int, fds: list[int], payload: list[str]) -> tuple[types.CodeType, dict[str, Any]]:
    """In the forked child: turn into the caller's ``python3 -S SCRIPT ARGS``; the code and globals to run."""
    mask, ignored, blocked, count = int(payload[0], 8), int(payload[1], 16), int(payload[2], 16), int(payload[3])
    words, environ = payload[4 : 4 + count], payload[4 + count :]
    root = os.open(f"/proc/{peer}/root", os.O_RDONLY | os.O_DIRECTORY)
    cwd = os.open(f"/proc/{peer}/cwd", os.O_RDONLY | os.O_DIRECTORY)
    for ns in NAMESPACES_ENTERED:
        handle = os.open(f"/proc/{peer}/ns/{ns}", os.O_RDONLY)
        if _libc.setns(handle, 0) != 0:
            raise OSError(ctypes.get_errno(), f"setns {ns}")
        os.close(handle)
    os.fchdir(root)
    os.chroot(".")
    os.fchdir(cwd)
    os.close(root)
    os.close(cwd)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.umask(mask)
    for sig in range(1, signal.NSIG):
        if sig in (signal.SIGKILL, signal.SIGSTOP):
            continue
        # A new python3 keeps what it inherits ignored, ignores SIGPIPE and SIGXFSZ itself and handles SIGINT
        # when it is not ignored; the server's only other handler is SIGCHLD's.
        if ignored >> (sig - 1) & 1:
            signal.signal(sig, signal.SIG_IGN)
        elif sig == signal.SIGCHLD:
            signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, {s for s in range(1, 65) if blocked >> (s - 1) & 1})
    os.environ.clear()
    for entry in environ:
        key, _, value = entry.partition("=")
        os.environ[key] = value
    sys.stdin = sys.__stdin__ = stdio(0, False, sys.__stdin__)  # type: ignore[misc]
    sys.stdout = sys.__stdout__ = stdio(1, True, sys.__stdout__)  # type: ignore[misc]
    sys.stderr = sys.__stderr__ = stdio(2, True, sys.__stderr__)  # type: ignore[misc]
    script, args = words[len(options())], words[len(options()) + 1 :]
    sys.argv = [script, *args]
    sys.orig_argv = [PYTHON, *words]
    sys.path[0] = os.path.dirname(os.path.realpath(script))  # noqa: PTH120 - what CPython computes, in str
    with open(script, "rb") as fh:  # noqa: PTH123
        source = fh.read()
    main = types.ModuleType("__main__")
    namespace = main.__dict__
    namespace.update(__loader__=SourceFileLoader("__main__", script), __spec__=None, __annotations__={})
    namespace.update(__builtins__=__builtins__, __file__=script, __cached__=None)
    sys.modules["__main__"] = main
    return compile(source, script, "exec", dont_inherit=True), namespace


def serve(listening: int, parent: int) -> tuple[types.CodeType, dict[str, Any]]:  # noqa: PLR0912
    """Accept calls on the socket ``listening`` until the pipe from the tests (fd ``parent``) closes; returns
    only in a forked child."""
    listener = socket.socket(fileno=listening)  # bound and listening: the tests' process made it
    # What is imported now stays out of the children's garbage collections: a collection touches every object
    # it tracks, and each touched page of this process is copied into the child (copy-on-write).
    gc.freeze()
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, "accept")
    selector.register(wake_r, selectors.EVENT_READ, "reap")
    selector.register(parent, selectors.EVENT_READ, "parent")
    children: dict[int, socket.socket] = {}
    while True:
        for key, _ in selector.select():
            if key.data == "parent":
                for conn in children.values():
                    conn.close()
                sys.exit(0)
            if key.data == "reap":
                os.read(wake_r, 512)
                while children:
                    pid, status = os.waitpid(-1, os.WNOHANG)
                    if pid == 0:
                        break
                    client = children.pop(pid, None)
                    if client is not None:
                        selector.unregister(client)
                        with contextlib.suppress(OSError):
                            client.sendall(struct.pack("=i", status))
                        client.close()
                continue
            if isinstance(key.data, int):  # the client hung up before its child ended: it was killed
                client = children.pop(key.data)
                selector.unregister(client)
                client.close()
                os.kill(key.data, signal.SIGKILL)
                continue
            conn, _ = listener.accept()
            call = receive(conn)
            if call is None:
                conn.close()
                continue
            peer, fds, payload, decline = call
            if decline:
                conn.sendall(b"F")
                conn.close()
                for fd in fds:
                    os.close(fd)
                continue
            pid = os.fork()
            if pid == 0:
                signal.set_wakeup_fd(-1)
                selector.close()
                for sock in (listener, conn, *children.values()):
                    sock.close()
                for fd in (wake_r, wake_w, parent):
                    os.close(fd)
                try:
                    return become(peer, fds, payload)
                except BaseException:  # the caller sees why, then nothing runs
                    import traceback  # noqa: PLC0415

                    traceback.print_exc()
                    os._exit(127)
            for fd in fds:
                os.close(fd)
            conn.sendall(b"P" + struct.pack("=i", pid))
            children[pid] = conn
            selector.register(conn, selectors.EVENT_READ, pid)


def receive(conn: socket.socket) -> tuple[int, list[int], list[str], bool] | None:
    """One call: the client's pid, its stdin/stdout/stderr, the payload words and whether to decline."""
    try:
        data, ancdata, _, _ = conn.recvmsg(4, socket.CMSG_SPACE(3 * 4))
        fds: list[int] = []
        for level, kind, fd_data in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.extend(struct.unpack(f"={len(fd_data) // 4}i", fd_data[: len(fd_data) // 4 * 4]))
        (size,) = struct.unpack("=I", data)
        raw = b""
        while len(raw) < size:
            chunk = conn.recv(size - len(raw))
            if not chunk:
                return None
            raw += chunk
        pid, uid, gid = struct.unpack("=3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
    except (OSError, struct.error):
        return None
    payload = [os.fsdecode(word) for word in raw.split(b"\0")[:-1]]
    count = int(payload[3])
    words = payload[4 : 4 + count]
    env = dict(entry.partition("=")[::2] for entry in payload[4 + count :])
    return pid, fds, payload, len(fds) != 3 or declines(pid, uid, gid, words, env)


def run() -> None:
    code, namespace = serve(int(sys.argv[1]), int(sys.argv[2]))
    try:
        exec(code, namespace)  # noqa: S102 - the stand-in script, as python3 would run it
    except SystemExit:
        raise
    except BaseException as exc:  # printed the way the interpreter prints it, without this frame
        tb = exc.__traceback__.tb_next if exc.__traceback__ else None
        sys.last_type, sys.last_value, sys.last_traceback = type(exc), exc, tb
        sys.excepthook(type(exc), exc.with_traceback(tb), tb)
        if isinstance(exc, KeyboardInterrupt):
            sys.stdout.flush()
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGINT)
        raise SystemExit(1) from None


if __name__ == "__main__":
    run()
