#!/usr/bin/env python3
# KGEN TEST STAND-IN — not the real ssh
"""A stand-in for ``ssh`` for kgen's upgrade driver: it runs the remote command in the node's sandbox
(tests/sandbox.py) instead of on a remote machine, with this process's stdin, stdout and stderr.

Strict about what the driver relies on (ssh(1), OpenSSH ssh.c's getopt loop): ``-o Key=Value`` for
BatchMode (must be yes: the driver never prompts) and ConnectTimeout (a number), ``--`` to end the
options, then ``user@host`` and the command words, which ssh joins with spaces into one command line for
the remote shell. Any other option fails with exit code 255, like ssh's own errors. The host must be one
the map names ("Could not resolve hostname" otherwise) and the user the node's admin user ("Permission
denied (publickey)" otherwise).

The map is a JSON file named by KGEN_SSH_STANDIN_MAP: {host: {"user": admin user, "argv": the host
command that enters the node's sandbox (tests/sandbox.py Sandbox.command) with the word COMMAND where the
remote command line goes}}. Each call is appended to KGEN_SSH_STANDIN_LOG when set.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

PLACEHOLDER = "__KGEN_SSH_COMMAND__"
OPTIONS = {"BatchMode", "ConnectTimeout"}


def refuse(message: str) -> int:
    print(message, file=sys.stderr)
    return 255


def parse_options(args: list[str]) -> int | str:
    """The index of the destination, or the error ssh prints."""
    i = 0
    while i < len(args) and args[i].startswith("-"):
        if args[i] == "--":
            return i + 1
        if args[i] != "-o" or i + 1 >= len(args):
            return f"unknown option -- {args[i].lstrip('-')[:1]}\nusage: ssh [-o option] destination [command]"
        key, _, value = args[i + 1].partition("=")
        if key not in OPTIONS:
            return f"command-line line 0: Bad configuration option: {key.lower()}"
        if key == "BatchMode" and value != "yes":
            return "kgen stand-in: the driver must use BatchMode=yes"
        if key == "ConnectTimeout" and not value.isdigit():
            return f"command-line line 0: invalid time value {value!r}"
        i += 2
    return i


def main(args: list[str]) -> int:
    i = parse_options(args)
    if isinstance(i, str):
        return refuse(i)
    if i >= len(args):
        return refuse("usage: ssh [-o option] destination [command]")
    destination, words = args[i], args[i + 1 :]
    user, _, host = destination.rpartition("@")
    nodes = json.loads(Path(os.environ["KGEN_SSH_STANDIN_MAP"]).read_text(encoding="utf-8"))
    if host not in nodes:
        return refuse(f"ssh: Could not resolve hostname {host}: Name or service not known")
    node = nodes[host]
    if user != node["user"]:
        return refuse(f"{user}@{host}: Permission denied (publickey).")
    if not words:
        return refuse("kgen stand-in: an interactive session was asked for")
    command = " ".join(words)
    log = os.environ.get("KGEN_SSH_STANDIN_LOG")
    if log:
        with Path(log).open("a", encoding="utf-8") as fh:
            fh.write(json.dumps({"host": host, "user": user, "options": args[:i], "command": command}) + "\n")
    # The remote shell runs the command line (the stand-in's remote shell is bash).
    argv = [arg.replace(PLACEHOLDER, shlex.quote(command)) for arg in node["argv"]]
    return subprocess.run(argv, check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
