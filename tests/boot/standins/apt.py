#!/usr/bin/python3
# KGEN TEST STAND-IN — not the real apt-get / apt-mark
"""A stand-in for ``apt-get`` and ``apt-mark`` (installed under both names) for kgen's upgrade tests.

It keeps what apt keeps for the packages of pkgs.k8s.io: the installed versions
(/var/lib/kgen-standin/packages.json), the holds (/var/lib/kgen-standin/holds.json) and the package
index ``apt-get update`` read (/var/lib/kgen-standin/apt-index.json). Strict where kgen's scripts rely on it:

- pkgs.k8s.io has one repository per minor, so ``update`` indexes the minor that
  /etc/apt/sources.list.d/kubernetes.list names, and ``install kubeadm=1.34.3-*`` finds the version only
  when that index is v1.34 (apt: "E: Version '1.34.3-*' for 'kubeadm' was not found",
  apt-private/private-cacheset.cc);
- a held package does not change without --allow-change-held-packages (apt: "E: Held packages were
  changed and -y was used without --allow-change-held-packages.", apt-private/private-install.cc);
- an unknown option fails (apt's command-line parser, apt-pkg/contrib/cmndline.cc).

Each install, hold and unhold is also appended to the shared cluster state's events when the upgrade
tests share one (/var/lib/kgen-standin-cluster/state.json), so a test sees the order across nodes.
``KGEN_STANDIN_ROOT`` (environment) prefixes every path.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import sys
from pathlib import Path

# typing is imported only for the type checker: each call is a new process, and importing typing is ~8 ms
# of a ~40 ms call (the annotations are strings: from __future__ import annotations).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

KUBERNETES_PACKAGES = ("kubeadm", "kubelet", "kubectl")
APT_GET_OPTIONS = {"-y", "-q", "-qq", "--yes", "--quiet", "--no-install-recommends", "--allow-change-held-packages"}


def at(path: str) -> Path:
    return Path(os.environ.get("KGEN_STANDIN_ROOT", "/")) / path.lstrip("/")


def load(name: str, default: Any) -> Any:
    try:
        return json.loads(at(f"/var/lib/kgen-standin/{name}").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return default


def save(name: str, data: Any) -> None:
    path = at(f"/var/lib/kgen-standin/{name}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def node_name() -> str:
    try:
        for line in at("/etc/kgen-standin.env").read_text(encoding="utf-8").splitlines():
            if line.startswith("STANDIN_NODE_NAME="):
                return line.split("=", 1)[1].strip()
    except OSError:
        pass
    return os.uname().nodename


def event(text: str) -> None:
    path = at("/var/lib/kgen-standin-cluster/state.json")
    if not path.is_file():
        return
    with path.with_name("state.lock").open("a", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        state = json.loads(path.read_text(encoding="utf-8"))
        state["events"].append({"node": node_name(), "event": text})
        path.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def fail(message: str) -> int:
    print(f"E: {message}", file=sys.stderr)
    return 100


def parse_apt_get(args: list[str]) -> tuple[list[str], set[str]] | str:
    """(operation and packages, options), or the error apt prints."""
    words: list[str] = []
    options: set[str] = set()
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "-o":  # -o Key=Value, a configuration item
            i += 2
            continue
        if arg.startswith("-"):
            if arg not in APT_GET_OPTIONS:
                return f"Command line option '{arg}' is not understood in combination with the other options."
            options.add(arg)
        else:
            words.append(arg)
        i += 1
    return words, options


def apt_get(args: list[str]) -> int:
    parsed = parse_apt_get(args)
    if isinstance(parsed, str):
        return fail(parsed)
    words, options = parsed
    if not words:
        return fail("no operation")
    if words[0] == "update":
        text = at("/etc/apt/sources.list.d/kubernetes.list").read_text(encoding="utf-8")
        match = re.search(r"https://pkgs\.k8s\.io/core:/stable:/v(\d+\.\d+)/deb/", text)
        save("apt-index.json", {"kubernetes": match.group(1) if match else None})
        print("Reading package lists... Done")
        return 0
    if words[0] != "install":
        return fail(f"Invalid operation {words[0]}")
    if "-y" not in options and "--yes" not in options:
        return fail("non-interactive stand-in: pass -y")
    return install(words[1:], options)


def install(specs: list[str], options: set[str]) -> int:
    index = load("apt-index.json", {})
    installed = load("packages.json", {})
    holds = set(load("holds.json", []))
    changes: dict[str, str] = {}
    for spec in specs:
        name, _, wanted = spec.partition("=")
        if name not in KUBERNETES_PACKAGES:
            continue  # other packages are not modelled
        upstream = wanted.removesuffix("-*")
        minor = ".".join(upstream.split(".")[:2])
        if not wanted.endswith("-*") or index.get("kubernetes") != minor:
            return fail(f"Version '{wanted}' for '{name}' was not found")
        if installed.get(name) != upstream:
            changes[name] = upstream
    if any(name in holds for name in changes) and "--allow-change-held-packages" not in options:
        return fail("Held packages were changed and -y was used without --allow-change-held-packages.")
    installed.update(changes)
    save("packages.json", installed)
    for name, upstream in sorted(changes.items()):
        print(f"Setting up {name} ({upstream}-1.1) ...")
        event(f"install {name} {upstream}")
    return 0


def apt_mark(args: list[str]) -> int:
    if not args or args[0] not in ("hold", "unhold"):
        return fail(f"Invalid operation {args[0] if args else ''}")
    holds = set(load("holds.json", []))
    for name in args[1:]:
        if args[0] == "hold":
            print(f"{name} set on hold." if name not in holds else f"{name} was already set on hold.")
            holds.add(name)
        else:
            print(f"Canceled hold on {name}." if name in holds else f"{name} was already not on hold.")
            holds.discard(name)
        event(f"{args[0]} {name}")
    save("holds.json", sorted(holds))
    return 0


def main(argv: list[str]) -> int:
    tool = Path(argv[0]).name
    return apt_mark(argv[1:]) if tool == "apt-mark" else apt_get(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
