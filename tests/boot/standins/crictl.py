#!/usr/bin/python3
# KGEN TEST STAND-IN — not the real crictl
"""A stand-in for crictl that also plays the kubelet's part for static pods.

The kubelet runs one container per static pod manifest in /etc/kubernetes/manifests, stops it when
the manifest leaves the folder and starts a new one (with a new ID) when it comes back
(pkg/kubelet/config/file.go in kubernetes/kubernetes). The stand-in applies that rule each time it is
asked, so a script that moves a manifest away and back sees the container stop and a new one start.

Only ``crictl ps`` is implemented, with the flags kgen's scripts use, parsed as strictly as crictl's
(urfave/cli: an unknown flag is an error): ``--name`` is a regular expression matched against the
container name, ``--state`` one of created|running|exited|unknown (case-insensitive),
``--quiet``/``-q`` prints full container IDs one a line, ``--all``/``-a`` includes exited ones
(kubernetes-sigs/cri-tools cmd/crictl/container.go, ListContainers and the ``ps`` flags).
Every call and every start/stop is recorded in /var/lib/kgen-standin/calls.jsonl.
``KGEN_STANDIN_ROOT`` (environment) prefixes every path.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import time
from pathlib import Path

# typing is imported only for the type checker: each call is a new process, and importing typing is ~8 ms
# of a ~40 ms call (the annotations are strings: from __future__ import annotations).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MANIFESTS_DIR = "/etc/kubernetes/manifests"
# The static pods kubeadm writes; each pod's container is named after the component
# (cmd/kubeadm/app/phases/controlplane/manifests.go, cmd/kubeadm/app/phases/etcd/local.go).
STATIC_PODS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
STATES = ("created", "running", "exited", "unknown")


class UsageError(Exception):
    pass


def at(path: str) -> Path:
    return Path(os.environ.get("KGEN_STANDIN_ROOT", "/")) / path.lstrip("/")


def state_dir() -> Path:
    path = at("/var/lib/kgen-standin")
    path.mkdir(parents=True, exist_ok=True)
    return path


def record(entry: dict[str, Any]) -> None:
    with (state_dir() / "calls.jsonl").open("a", encoding="utf-8") as f:
        f.write(json.dumps({**entry, "time": time.time()}) + "\n")


def load_containers() -> dict[str, Any]:
    path = state_dir() / "crictl-containers.json"
    if path.exists():
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return data
    return {"next": 1, "containers": []}


def sync_kubelet() -> list[dict[str, Any]]:
    """The kubelet's side: a running container for each manifest present, none for a missing one."""
    data = load_containers()
    containers: list[dict[str, Any]] = data["containers"]
    for name in STATIC_PODS:
        present = at(f"{MANIFESTS_DIR}/{name}.yaml").is_file()
        running = [c for c in containers if c["name"] == name and c["state"] == "running"]
        if present and not running:
            cid = hashlib.sha256(f"{name}-{data['next']}".encode()).hexdigest()
            data["next"] += 1
            containers.append({"id": cid, "name": name, "state": "running"})
            record({"tool": "kubelet", "event": "start", "name": name, "id": cid})
        elif not present:
            for c in running:
                c["state"] = "exited"
                record({"tool": "kubelet", "event": "stop", "name": name, "id": c["id"]})
    (state_dir() / "crictl-containers.json").write_text(json.dumps(data) + "\n", encoding="utf-8")
    return containers


def parse_ps(args: list[str]) -> dict[str, Any]:
    opts: dict[str, Any] = {"name": None, "state": None, "quiet": False, "all": False}
    i = 0
    while i < len(args):
        arg = args[i]
        key, eq, inline = arg.partition("=")
        if key in ("--name", "--state"):
            if not eq:
                if i + 1 >= len(args):
                    raise UsageError(f"flag needs an argument: {key}")
                i += 1
                inline = args[i]
            opts[key[2:]] = inline
        elif arg in ("-q", "--quiet"):
            opts["quiet"] = True
        elif arg in ("-a", "--all"):
            opts["all"] = True
        elif arg.startswith("-"):
            raise UsageError(f"flag provided but not defined: {key}")
        else:
            raise UsageError(f"crictl ps takes no arguments, got {arg!r}")
        i += 1
    if opts["state"] is not None and opts["state"].lower() not in STATES:
        raise UsageError(f"unsupported state: {opts['state']!r}")
    return opts


def cmd_ps(args: list[str]) -> int:
    opts = parse_ps(args)
    containers = sync_kubelet()
    shown = []
    for c in containers:
        if opts["state"] is not None:
            if c["state"] != opts["state"].lower():
                continue
        elif not opts["all"] and c["state"] != "running":
            continue
        if opts["name"] is not None and not re.search(opts["name"], c["name"]):
            continue
        shown.append(c)
    if opts["quiet"]:
        for c in shown:
            print(c["id"])
    else:
        print(f"{'CONTAINER':<15}{'STATE':<20}{'NAME':<25}")
        for c in shown:
            print(f"{c['id'][:13]:<15}{c['state'].upper():<20}{c['name']:<25}")
    return 0


def main(argv: list[str]) -> int:
    args = argv[1:]
    rc = 1
    try:
        if args[:1] == ["ps"]:
            rc = cmd_ps(args[1:])
        else:
            raise UsageError(f"kgen stand-in: crictl {' '.join(args[:1])} is not implemented")
    except UsageError as exc:
        print(f"Incorrect Usage: {exc}", file=sys.stderr)
        rc = 1
    record({"tool": "crictl", "argv": args, "rc": rc})
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv))
