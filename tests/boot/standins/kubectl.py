#!/usr/bin/python3
# KGEN TEST STAND-IN — not the real kubectl
"""A stand-in for kubectl in kgen's boot-test image: there is no cluster behind it.

``apply``/``create -f X`` record the call (and the content of local files, or of stdin for ``-f -``) in
/var/lib/kgen-standin/kubectl.log (one JSON object a line); ``get nodes`` and
``wait --for=condition=Ready node/...`` report this node Ready; ``version`` prints STANDIN_VERSION
from /etc/kgen-standin.env (default v1.31.4); everything else is recorded and exits 0.
A ``--kubeconfig`` that does not exist fails as it would with the real kubectl.
``KGEN_STANDIN_ROOT`` (environment) prefixes every path, for running it outside the test image.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

DEFAULT_VERSION = "v1.31.4"
KUSTOMIZE_VERSION = "v5.4.2"
MAX_RECORDED = 262144


def at(path: str) -> Path:
    return Path(os.environ.get("KGEN_STANDIN_ROOT", "/")) / path.lstrip("/")


def load_env() -> dict[str, str]:
    env: dict[str, str] = {}
    try:
        text = at("/etc/kgen-standin.env").read_text(encoding="utf-8")
    except OSError:
        return env
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        env[key.strip().removeprefix("export ").strip()] = value.strip().strip("'\"")
    return env


def version(env: dict[str, str]) -> str:
    value = env.get("STANDIN_VERSION") or DEFAULT_VERSION
    return value if value.startswith("v") else "v" + value


def option(args: list[str], *names: str) -> str | None:
    """The value of the last of ``names`` (``-o json``, ``-ojson``, ``--output=json``)."""
    found = None
    for i, arg in enumerate(args):
        for name in names:
            if arg == name and i + 1 < len(args):
                found = args[i + 1]
            elif name.startswith("--") and arg.startswith(name + "="):
                found = arg.split("=", 1)[1]
            elif not name.startswith("--") and arg.startswith(name) and len(arg) > len(name):
                found = arg[len(name) :].lstrip("=")
    return found


def options(args: list[str], *names: str) -> list[str]:
    values = []
    for i, arg in enumerate(args):
        if arg in names and i + 1 < len(args):
            values.append(args[i + 1])
        for name in names:
            if name.startswith("--") and arg.startswith(name + "="):
                values.append(arg.split("=", 1)[1])
    return values


def positionals(args: list[str]) -> list[str]:
    takes_value = {"-o", "--output", "-n", "--namespace", "-f", "--filename", "-l", "--selector",
                   "--kubeconfig", "--context", "--for", "--timeout", "-p", "--patch", "--type"}  # fmt: skip
    result, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg in takes_value:
            skip = True
        elif not arg.startswith("-"):
            result.append(arg)
    return result


def log(entry: dict[str, Any]) -> None:
    state = at("/var/lib/kgen-standin")
    try:
        state.mkdir(parents=True, exist_ok=True)
        with (state / "kubectl.log").open("a", encoding="utf-8") as f:
            f.write(json.dumps({"time": time.time(), **entry}) + "\n")
    except OSError:
        pass


def read_source(source: str) -> dict[str, Any]:
    if source == "-":
        return {"file": "-", "content": sys.stdin.read()[:MAX_RECORDED]}
    if "://" in source:
        return {"file": source, "remote": True}
    path = Path(source)
    if path.is_dir():
        return {"file": source, "files": sorted(str(p) for p in path.iterdir())}
    try:
        return {"file": source, "content": path.read_text(encoding="utf-8", errors="replace")[:MAX_RECORDED]}
    except OSError as exc:
        raise SystemExit(f'error: the path "{source}" does not exist ({exc.strerror})') from exc


def node_object(name: str, ver: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "status": {
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
            "nodeInfo": {"kubeletVersion": ver},
        },
    }


def cmd_get(args: list[str], ver: str) -> int:
    words = positionals(args)
    resource = words[0] if words else ""
    if resource not in ("node", "nodes", "no") and not resource.startswith("node/"):
        return 0
    names = [resource.split("/", 1)[1]] if resource.startswith("node/") else words[1:] or [socket.gethostname()]
    output = option(args, "-o", "--output") or ""
    if output.startswith("jsonpath"):
        path = output.split("=", 1)[-1]
        values = [n if "metadata.name" in path else "True" for n in names]
        print(" ".join(values), end="")
    elif output == "name":
        print("\n".join(f"node/{n}" for n in names))
    elif output == "json":
        objects = [node_object(n, ver) for n in names]
        doc = objects[0] if len(objects) == 1 and resource != "nodes" else {"kind": "List", "items": objects}
        print(json.dumps(doc, indent=2))
    else:
        print(f"{'NAME':<24}STATUS   ROLES           AGE   VERSION")
        for n in names:
            print(f"{n:<24}Ready    control-plane   1m    {ver}")
    return 0


def cmd_version(args: list[str], ver: str) -> int:
    parts = ver.lstrip("v").split(".")
    info = {"major": parts[0], "minor": parts[1] if len(parts) > 1 else "0", "gitVersion": ver,
            "gitCommit": "kgen-standin", "platform": "linux/amd64"}  # fmt: skip
    client_only = "--client" in args or "--client=true" in args
    doc: dict[str, Any] = {"clientVersion": info, "kustomizeVersion": KUSTOMIZE_VERSION}
    if not client_only:
        doc["serverVersion"] = info
    output = option(args, "-o", "--output")
    if output == "json":
        print(json.dumps(doc, indent=2))
    elif output == "yaml":
        for key, value in doc.items():
            if isinstance(value, dict):
                print(f"{key}:")
                for k, v in value.items():
                    print(f"  {k}: {json.dumps(v)}")
            else:
                print(f"{key}: {value}")
    else:
        print(f"Client Version: {ver}\nKustomize Version: {KUSTOMIZE_VERSION}")
        if not client_only:
            print(f"Server Version: {ver}")
    return 0


def main(argv: list[str]) -> int:
    args = argv[1:]
    ver = version(load_env())
    kubeconfig = option(args, "--kubeconfig")
    if kubeconfig and not Path(kubeconfig).exists():
        log({"argv": args, "rc": 1})
        print(f"error: stat {kubeconfig}: no such file or directory", file=sys.stderr)
        return 1
    words = positionals(args)
    command = words[0] if words else ""
    if command in ("apply", "create") and options(args, "-f", "--filename"):
        sources = [read_source(s) for s in options(args, "-f", "--filename")]
        log({"argv": args, "rc": 0, "sources": sources})
        for source in sources:
            print(f"{source['file']} {'configured' if command == 'apply' else 'created'} (kgen stand-in)")
        return 0
    log({"argv": args, "rc": 0})
    if command == "version":
        return cmd_version(args, ver)
    if command == "get":
        return cmd_get(args[args.index("get") + 1 :], ver)
    if command == "wait":
        for target in words[1:]:
            print(f"{target} condition met")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
