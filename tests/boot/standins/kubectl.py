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
import sys
import time
from pathlib import Path

# typing is imported only for the type checker: each call is a new process, and importing typing is ~8 ms
# of a ~40 ms call (the annotations are strings: from __future__ import annotations).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
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
    import socket  # noqa: PLC0415 - only `get node` with no name needs it; each call is a new process

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


# --- the shared cluster of the upgrade tests (issue 14) ------------------------------------------------
# When /var/lib/kgen-standin-cluster/state.json exists (the upgrade tests share one between the node
# sandboxes; see the kubeadm stand-in), kubectl answers from it for what kgen's upgrade driver asks:
# `get --raw /readyz`, `get node NAME -o jsonpath=...` (kubelet version, Ready), `drain` and `uncordon`.
CLUSTER_STATE = "/var/lib/kgen-standin-cluster/state.json"
# kubectl drain's flags (k8s.io/kubectl/pkg/cmd/drain/drain.go NewCmdDrain); with a value unless boolean.
DRAIN_FLAGS = {"--ignore-daemonsets": False, "--delete-emptydir-data": False, "--force": False,
               "--disable-eviction": False, "--timeout": True, "--grace-period": True, "--pod-selector": True,
               "--selector": True, "-l": True, "--skip-wait-for-delete-timeout": True, "--dry-run": True,
               "--chunk-size": True}  # fmt: skip
# The jsonpath expressions the stand-in evaluates on a Node.
NODE_JSONPATHS: dict[str, Callable[[dict[str, Any]], str]] = {
    "{.status.nodeInfo.kubeletVersion}": lambda n: n["kubeletVersion"],
    '{.status.conditions[?(@.type=="Ready")].status}': lambda n: "True" if n["ready"] else "False",
    "{.spec.unschedulable}": lambda n: "true" if n["unschedulable"] else "",
}


def update_cluster(change: Any) -> Any:
    import fcntl  # noqa: PLC0415 - only the cluster mode needs it

    path = at(CLUSTER_STATE)
    with path.with_name("state.lock").open("a", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        state = json.loads(path.read_text(encoding="utf-8"))
        result = change(state)
        path.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return result


def without_kubeconfig(args: list[str]) -> list[str]:
    out, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg == "--kubeconfig":
            skip = True
        elif not arg.startswith("--kubeconfig="):
            out.append(arg)
    return out


def node_or_fail(state: dict[str, Any], name: str) -> dict[str, Any]:
    node: dict[str, Any] | None = state["nodes"].get(name)
    if node is None:
        raise SystemExit(f'Error from server (NotFound): nodes "{name}" not found')
    return node


def cluster_get(args: list[str]) -> int:
    if args[:1] == ["--raw"] or (args and args[0].startswith("--raw=")):
        path = args[1] if args[0] == "--raw" and len(args) > 1 else args[0].split("=", 1)[-1]
        if path != "/readyz":
            raise SystemExit(f"kgen stand-in: unsupported --raw path {path}")
        ready = update_cluster(lambda s: s.get("apiserverReady", True))
        if not ready:
            raise SystemExit("Error from server (InternalError): an error on the server has prevented the request")
        print("ok", end="")
        return 0
    if len(args) == 4 and args[0] in ("node", "nodes", "no") and args[2] == "-o" and args[3].startswith("jsonpath="):
        expression = args[3].split("=", 1)[1]
        if expression not in NODE_JSONPATHS:
            raise SystemExit(f"kgen stand-in: unsupported jsonpath {expression}")
        node = update_cluster(lambda s: node_or_fail(s, args[1]))
        print(NODE_JSONPATHS[expression](node), end="")
        return 0
    raise SystemExit(f"kgen stand-in: unsupported get {' '.join(args)}")


def cluster_drain(args: list[str]) -> int:
    names, i = [], 0
    flags: dict[str, str] = {}
    while i < len(args):
        arg = args[i]
        if arg.startswith("-"):
            name, _, value = arg.partition("=")
            if name not in DRAIN_FLAGS:
                raise SystemExit(f"error: unknown flag: {name}")  # cobra
            if DRAIN_FLAGS[name] and not value:
                i += 1
                value = args[i] if i < len(args) else ""
            flags[name] = value
        else:
            names.append(arg)
        i += 1
    if len(names) != 1:
        raise SystemExit("error: USAGE: drain NODE [flags]")
    # Every node runs DaemonSet pods (kube-proxy, the CNI's agent); drain refuses them without
    # --ignore-daemonsets (k8s.io/kubectl/pkg/drain/filters.go daemonSetFilter).
    if "--ignore-daemonsets" not in flags:
        raise SystemExit(
            f"error: unable to drain node {names[0]!r} due to error: cannot delete DaemonSet-managed Pods "
            "(use --ignore-daemonsets to ignore)"
        )

    def drain(state: dict[str, Any]) -> None:
        node = node_or_fail(state, names[0])
        # Pods with emptyDir volumes (localStorageFilter) block a drain without --delete-emptydir-data.
        if node.get("emptyDirPods") and "--delete-emptydir-data" not in flags:
            raise SystemExit("error: cannot delete Pods with local storage (use --delete-emptydir-data to override)")
        node["unschedulable"] = True
        state["events"].append({"node": names[0], "event": "drain", "timeout": flags.get("--timeout")})

    update_cluster(drain)
    print(f"node/{names[0]} drained")
    return 0


def cluster_uncordon(args: list[str]) -> int:
    if len(args) != 1 or args[0].startswith("-"):
        raise SystemExit(f"kgen stand-in: unsupported uncordon {' '.join(args)}")

    def uncordon(state: dict[str, Any]) -> None:
        node_or_fail(state, args[0])["unschedulable"] = False
        state["events"].append({"node": args[0], "event": "uncordon"})

    update_cluster(uncordon)
    print(f"node/{args[0]} uncordoned")
    return 0


def cluster_main(args: list[str]) -> int | None:
    """The upgrade driver's commands against the shared cluster; None for anything else."""
    words = without_kubeconfig(args)
    command = words[0] if words else ""
    handlers = {"get": cluster_get, "drain": cluster_drain, "uncordon": cluster_uncordon}
    if command not in handlers:
        return None
    log({"argv": args, "rc": 0})
    return handlers[command](words[1:])


def main(argv: list[str]) -> int:
    args = argv[1:]
    ver = version(load_env())
    kubeconfig = option(args, "--kubeconfig")
    if kubeconfig and not Path(kubeconfig).exists():
        log({"argv": args, "rc": 1})
        print(f"error: stat {kubeconfig}: no such file or directory", file=sys.stderr)
        return 1
    if at(CLUSTER_STATE).is_file():  # issue 14: the upgrade tests' shared cluster
        handled = cluster_main(args)
        if handled is not None:
            return handled
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
