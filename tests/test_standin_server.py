"""The stand-in fork server (tests/standin_server.py with tests/standin_client.c) runs a script in a sandbox
exactly as ``/usr/bin/python3 -S`` does: a probe reports what a script can see of its process, and the probe
run through the server must report the same as the probe run by python3 itself, in every way it ends."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import require_tool
from tests.sandbox import SERVER_CLIENT, STANDIN_BIN, Sandbox, standin_server

PROBE = r"""
# What a script sees of its process (tests/test_standin_server.py).
import json, os, signal, sys
first_globals = {k: type(v).__name__ for k, v in globals().items()}
def streams():
    out = {}
    for name in ("stdin", "stdout", "stderr"):
        s = getattr(sys, name)
        out[name] = [repr(s), s.encoding, s.errors, s.line_buffering, s.write_through, s.mode, s.newlines,
                     type(s.buffer).__name__, type(s.buffer.raw).__name__, s.buffer.raw.name, s.buffer.raw.closefd,
                     s.isatty(), s.fileno(), getattr(sys, "__" + name + "__") is s]
    return out
mountinfo = [" ".join(line.split()[3:5]) for line in open("/proc/self/mountinfo")]
report = {
    "globals": first_globals, "file": __file__, "name": __name__, "doc": __doc__,
    "argv": sys.argv, "orig_argv": sys.orig_argv, "path": sys.path, "flags": repr(sys.flags),
    "executable": sys.executable, "environ": list(os.environ.items()), "cwd": os.getcwd(),
    "umask": os.umask(0o22), "ids": [os.getuid(), os.getgid(), os.geteuid(), os.getegid(), os.getgroups()],
    "streams": streams(), "signals": {int(s): repr(signal.getsignal(s)) for s in signal.valid_signals()
                                      if s not in (signal.SIGKILL, signal.SIGSTOP)},
    "blocked": sorted(int(s) for s in signal.pthread_sigmask(signal.SIG_BLOCK, [])),
    "root": sorted(os.listdir("/")), "mountinfo": mountinfo,
    "namespaces": {ns: os.stat(f"/proc/self/ns/{ns}").st_ino for ns in ("mnt", "net", "pid", "user")},
    "stdin": sys.stdin.read(), "main_is_module": sys.modules["__main__"].__dict__ is globals(),
}
print(json.dumps(report), end="")
how = sys.argv[1] if len(sys.argv) > 1 else ""
if how == "exit-text":
    sys.exit("stand-in: this went wrong")
if how == "exit-3":
    sys.exit(3)
if how == "raise":
    def fails():
        raise ValueError("bad input")
    fails()
"""


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Sandbox:
    sandbox = Sandbox.create(tmp_path_factory.mktemp("server"))  # skips (or fails) unless root
    require_tool("cc", reason="the stand-in server's client is C (without it the launchers run python3)")
    assert standin_server() is not None
    sandbox.install_standin("kubectl")  # links the server's socket and client into the sandbox
    for option, suffix in ((" -S", ""), ("", "-site")):
        sandbox.write(f"{STANDIN_BIN}/probe-python{suffix}", f"#!/usr/bin/python3{option}" + PROBE, 0o755)
        sandbox.write(f"{STANDIN_BIN}/probe-served{suffix}", f"#!{SERVER_CLIENT}{option}" + PROBE, 0o755)
    return sandbox


def run(box: Sandbox, name: str, *args: str, cwd: str = "/tmp") -> subprocess.CompletedProcess[str]:
    script = 'cd "$1"; shift; umask 0027; trap "" HUP; exec "$@" <<<"the input"'
    env = {"KUBECONFIG": "/etc/kubernetes/admin.conf", "EMPTY": ""}
    return subprocess.run(
        box.command(["bash", "-c", script, "run", cwd, name, *args], env=env),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


@pytest.mark.parametrize("site", ["", "-site"], ids=["python3 -S", "python3"])
@pytest.mark.parametrize("how", ["", "exit-text", "exit-3", "raise"])
def test_a_served_script_sees_and_ends_as_under_python3(box: Sandbox, how: str, site: str) -> None:
    direct = run(box, f"probe-python{site}", how, "a b", "")
    served = run(box, f"probe-served{site}", how, "a b", "")
    assert served.returncode == direct.returncode == {"": 0, "exit-text": 1, "exit-3": 3, "raise": 1}[how]
    assert served.stderr == direct.stderr.replace("/probe-python", "/probe-served")
    assert (
        served.stderr
        == {
            "": "",
            "exit-text": "stand-in: this went wrong\n",
            "exit-3": "",
            "raise": (
                "Traceback (most recent call last):\n"
                f'  File "{STANDIN_BIN}/probe-served{site}", line 35, in <module>\n    fails()\n'
                f'  File "{STANDIN_BIN}/probe-served{site}", line 34, in fails\n    raise ValueError("bad input")\n'
                "ValueError: bad input\n"
            ),
        }[how]
    )
    seen, expected = json.loads(served.stdout), json.loads(direct.stdout)
    options = [] if site else ["-S"]
    assert expected["orig_argv"] == ["/usr/bin/python3", *options, f"{STANDIN_BIN}/probe-python{site}", how, "a b", ""]
    assert ("/usr/lib/python3/dist-packages" in expected["path"]) == bool(site)
    expected["orig_argv"][-4] = expected["argv"][0] = expected["file"] = f"{STANDIN_BIN}/probe-served{site}"
    for key in ("mountinfo", "namespaces"):  # each sandbox command mounts its own tree in new namespaces
        assert len(seen.pop(key)) == len(expected.pop(key))
    assert seen == expected


def test_a_served_script_runs_in_the_callers_cwd_and_namespaces(box: Sandbox) -> None:
    script = (
        'cd /var; echo "$(stat -L -c %i /proc/self/ns/mnt) $(stat -L -c %i /proc/self/ns/net)"; probe-served </dev/null'
    )
    result = subprocess.run(
        box.command(["bash", "-c", script]), capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    mnt, net = (int(x) for x in result.stdout.split("\n", 1)[0].split())
    report = json.loads(result.stdout.split("\n", 1)[1])
    assert report["namespaces"]["mnt"] == mnt and report["namespaces"]["net"] == net
    assert report["cwd"] == "/var" and report["stdin"] == ""
    assert "kgen-standin-server" not in " ".join(report["root"])


def test_served_stand_ins_share_no_server_state(box: Sandbox) -> None:
    """Two calls in a row: the second sees nothing the first changed in its own process."""
    script = "probe-served x; echo; probe-served y; true"  # (a last command would be exec-ed: SHLVL 0)
    result = subprocess.run(
        box.command(["bash", "-c", script], env={"ONE": "1"}),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert first["argv"][1:] == ["x"] and second["argv"][1:] == ["y"]
    assert ["ONE", "1"] in first["environ"] and first["environ"] == second["environ"]


def test_the_server_socket_lives_beside_the_stand_ins(box: Sandbox) -> None:
    assert box.exists(SERVER_CLIENT)
    assert Path(box.path(SERVER_CLIENT)).stat().st_nlink >= 2  # hard-linked, not copied per sandbox
