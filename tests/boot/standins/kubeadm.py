#!/usr/bin/python3
# KGEN TEST STAND-IN — not the real kubeadm
"""A stand-in for kubeadm in kgen's boot-test image (the real one cannot be downloaded there).

It checks what kgen's bootstrap hands to kubeadm the way kubeadm would look at it first — the
config documents, their kinds and (when schemas are installed) their fields, and flags mixed with
``--config`` — records every call, and creates the files a bootstrap reads afterwards. It runs no
cluster.

Steered by ``/etc/kgen-standin.env`` (KEY=VALUE lines):
  STANDIN_VERSION=v1.31.4     version reported by ``kubeadm version``
  STANDIN_JOIN_FAILURES=N     the first N joins fail like a control-plane join racing etcd
  STANDIN_STRICT_FLAGS=0      do not reject flags that real kubeadm refuses to mix with --config
Records go to /var/lib/kgen-standin/ (calls.jsonl, init/ and join/ with config.yaml and args.json).
``KGEN_STANDIN_ROOT`` (environment) prefixes every path, for running it outside the test image.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

DEFAULT_VERSION = "v1.31.4"
JOIN_ETCD_ERROR = (
    "error execution phase control-plane-join/etcd: error creating local etcd static pod manifest "
    "file: etcdserver: can only promote a learner member which is in sync with leader"
)
KUBEADM_VERSIONS = ("kubeadm.k8s.io/v1beta3", "kubeadm.k8s.io/v1beta4")
KNOWN_KINDS = {
    **{(v, k): k for v in KUBEADM_VERSIONS for k in ("InitConfiguration", "ClusterConfiguration")},
    **{(v, "JoinConfiguration"): "JoinConfiguration" for v in KUBEADM_VERSIONS},
    ("kubelet.config.k8s.io/v1beta1", "KubeletConfiguration"): "KubeletConfiguration",
    ("kubeproxy.config.k8s.io/v1alpha1", "KubeProxyConfiguration"): "KubeProxyConfiguration",
}
# kubeadm's isAllowedFlag(): the flags that may appear next to --config (plus every --skip-*).
MIXABLE_FLAGS = frozenset(
    {
        "config",
        "ignore-preflight-errors",
        "dry-run",
        "kubeconfig",
        "node-name",
        "kubeconfig-dir",
        "upload-certs",
        "print-manifest",
        "allow-experimental-api",
        "apply-manifest",
        "print-join-command",
        "rootfs",
        "v",
        "log-file",
        "yes",
    }
)
# Images per minor version as kubeadm lists them (etcd, coredns, pause); newer minors use the last.
IMAGE_TAGS = {
    29: ("3.5.16-0", "v1.11.1", "3.9"),
    30: ("3.5.15-0", "v1.11.3", "3.9"),
    31: ("3.5.15-0", "v1.11.3", "3.10"),
    32: ("3.5.16-0", "v1.11.3", "3.10"),
    33: ("3.5.21-0", "v1.12.0", "3.10"),
}
CONTROL_PLANE_FILES = (
    "admin.conf",
    "super-admin.conf",
    "kubelet.conf",
    "bootstrap-kubelet.conf",
    "controller-manager.conf",
    "scheduler.conf",
)
DUMMY_TOKEN = "abcdef.0123456789abcdef"  # noqa: S105 - a dummy, like the docs' example


class StandinError(Exception):
    pass


def root() -> Path:
    return Path(os.environ.get("KGEN_STANDIN_ROOT", "/"))


def at(path: str) -> Path:
    return root() / path.lstrip("/")


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
        key = key.strip().removeprefix("export ").strip()
        env[key] = value.strip().strip("'\"")
    return env


def version(env: dict[str, str]) -> str:
    value = env.get("STANDIN_VERSION") or DEFAULT_VERSION
    return value if value.startswith("v") else "v" + value


def minor_of(ver: str) -> int:
    try:
        return int(ver.lstrip("v").split(".")[1])
    except (IndexError, ValueError):
        return 0


def state_dir() -> Path:
    path = at("/var/lib/kgen-standin")
    path.mkdir(parents=True, exist_ok=True)
    return path


def record(argv: list[str], rc: int, **extra: Any) -> None:
    entry = {"tool": "kubeadm", "argv": argv, "rc": rc, "time": time.time(), **extra}
    with (state_dir() / "calls.jsonl").open("a", encoding="utf-8") as f:
        f.write(json.dumps(entry) + "\n")


def flag_value(args: list[str], name: str) -> str | None:
    for i, arg in enumerate(args):
        if arg == f"--{name}" and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(f"--{name}="):
            return arg.split("=", 1)[1]
    return None


def has_flag(args: list[str], *names: str) -> bool:
    return any(arg in names or arg.split("=", 1)[0] in names for arg in args)


def flag_names(args: list[str]) -> list[str]:
    names = []
    for arg in args:
        if arg.startswith("-") and arg not in ("-", "--"):
            names.append(arg.lstrip("-").split("=", 1)[0])
    return names


def load_documents(path: Path) -> list[dict[str, Any]]:
    import yaml  # noqa: PLC0415 - only init/join need it

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise StandinError(f"unable to read config from {str(path)!r}: {exc}") from exc
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise StandinError(f"{path}: invalid YAML: {exc}") from exc
    if not docs:
        raise StandinError(f"{path}: no configuration documents")
    for n, doc in enumerate(docs, 1):
        if not isinstance(doc, dict):
            raise StandinError(f"{path}: document {n} is not a mapping")
    return docs


def schema_files() -> list[tuple[Path, dict[str, Any]]]:
    found = []
    for path in sorted(at("/etc/kgen-standin/schemas").glob("*.json")):
        try:
            schema = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise StandinError(f"stand-in schema {path} is unreadable: {exc}") from exc
        if isinstance(schema, dict):
            found.append((path, schema))
    return found


def schema_for(api_version: str, kind: str, schemas: list[tuple[Path, dict[str, Any]]]) -> Any:
    for _path, schema in schemas:
        if schema.get("x-kgen-apiVersion") == api_version and schema.get("x-kgen-kind") == kind:
            return schema
        if schema.get("kgenKind") in (f"{api_version}/{kind}", f"{api_version}, Kind={kind}"):
            return schema
    return None


def validate_schema(doc: dict[str, Any], schema: Any, where: str) -> list[str]:
    import jsonschema  # noqa: PLC0415

    cls = jsonschema.validators.validator_for(schema)
    validator = cls(schema)
    problems = []
    for error in sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path)):
        path = ".".join(str(p) for p in error.absolute_path) or "(document)"
        problems.append(f"{where}: {path}: {error.message}")
    return problems


def check_documents(command: str, path: Path, docs: list[dict[str, Any]], ver: str) -> list[str]:
    problems: list[str] = []
    schemas = schema_files()
    kinds: list[str] = []
    for n, doc in enumerate(docs, 1):
        where = f"{path} document {n}"
        api_version, kind = str(doc.get("apiVersion", "")), str(doc.get("kind", ""))
        if not api_version or not kind:
            problems.append(f"{where}: apiVersion and kind are required")
            continue
        if (api_version, kind) not in KNOWN_KINDS:
            problems.append(f'{where}: unknown or unsupported apiVersion/kind "{api_version}, Kind={kind}"')
            continue
        if api_version == "kubeadm.k8s.io/v1beta4" and minor_of(ver) < 31:
            problems.append(f"{where}: {api_version} needs kubeadm v1.31 or newer (this is {ver})")
        kinds.append(kind)
        schema = schema_for(api_version, kind, schemas)
        if schema is not None:
            problems.extend(validate_schema(doc, schema, where))
    for kind in set(kinds):
        if kinds.count(kind) > 1:
            problems.append(f"{path}: more than one {kind}")
    if command == "join" and "JoinConfiguration" not in kinds:
        problems.append(f"{path}: kubeadm join --config needs a JoinConfiguration")
    if command == "init" and "JoinConfiguration" in kinds:
        problems.append(f"{path}: kubeadm init does not take a JoinConfiguration")
    return problems


def endpoint_of(docs: list[dict[str, Any]], kind: str) -> str:
    for doc in docs:
        if doc.get("kind") == "ClusterConfiguration" and doc.get("controlPlaneEndpoint"):
            return str(doc["controlPlaneEndpoint"])
    for doc in docs:
        if doc.get("kind") == kind == "InitConfiguration":
            api = doc.get("localAPIEndpoint") or {}
            if api.get("advertiseAddress"):
                return f"{api['advertiseAddress']}:{api.get('bindPort', 6443)}"
        if doc.get("kind") == kind == "JoinConfiguration":
            token = (doc.get("discovery") or {}).get("bootstrapToken") or {}
            if token.get("apiServerEndpoint"):
                return str(token["apiServerEndpoint"])
    return "127.0.0.1:6443"


def server_url(endpoint: str) -> str:
    host = endpoint
    if host.count(":") > 1 and not host.startswith("["):
        host = f"[{host}]:6443"  # a bare IPv6 address
    elif ":" not in host.rsplit("]", 1)[-1]:
        host = f"{host}:6443"
    return f"https://{host}"


def make_ca(pki: Path) -> bytes:
    """A real self-signed CA when openssl is there (bootstraps hash it for discovery), else a dummy."""
    pki.mkdir(parents=True, exist_ok=True)
    crt, key = pki / "ca.crt", pki / "ca.key"
    if not crt.exists() and shutil.which("openssl"):
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", str(key), "-out", str(crt), "-days", "3650", "-subj", "/CN=kubernetes"],
            capture_output=True, check=False, timeout=60,
        )  # fmt: skip
    if crt.exists():
        return crt.read_bytes()
    return b"-----BEGIN CERTIFICATE-----\nKGEN-STANDIN-DUMMY\n-----END CERTIFICATE-----\n"


def write_kubeconfig(path: Path, server: str, user: str, ca: bytes) -> None:
    import yaml  # noqa: PLC0415

    dummy = base64.b64encode(b"kgen stand-in dummy credential\n").decode()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "kubernetes",
                "cluster": {"server": server, "certificate-authority-data": base64.b64encode(ca).decode()},
            }
        ],
        "contexts": [{"name": f"{user}@kubernetes", "context": {"cluster": "kubernetes", "user": user}}],
        "current-context": f"{user}@kubernetes",
        "preferences": {},
        "users": [{"name": user, "user": {"client-certificate-data": dummy, "client-key-data": dummy}}],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    path.chmod(0o600)


def kubelet_files(docs: list[dict[str, Any]]) -> None:
    import yaml  # noqa: PLC0415

    kubelet_dir = at("/var/lib/kubelet")
    kubelet_dir.mkdir(parents=True, exist_ok=True)
    config = next((d for d in docs if d.get("kind") == "KubeletConfiguration"), None)
    if config is None:
        config = {"apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration"}
    (kubelet_dir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    (kubelet_dir / "kubeadm-flags.env").write_text('KUBELET_KUBEADM_ARGS=""\n', encoding="utf-8")
    if root() == Path("/") and Path("/run/systemd/system").is_dir():
        subprocess.run(["systemctl", "restart", "--no-block", "kubelet"], capture_output=True, check=False, timeout=30)


def save_call(command: str, args: list[str], config: Path | None) -> None:
    out = state_dir() / command
    out.mkdir(parents=True, exist_ok=True)
    if config is not None:
        shutil.copyfile(config, out / "config.yaml")
    (out / "args.json").write_text(json.dumps(args) + "\n", encoding="utf-8")


def cmd_init_join(command: str, args: list[str], env: dict[str, str]) -> int:
    ver = version(env)
    config_arg = flag_value(args, "config")
    config = Path(config_arg) if config_arg else None
    if config is not None and env.get("STANDIN_STRICT_FLAGS", "1") != "0":
        mixed = [f for f in flag_names(args) if f not in MIXABLE_FLAGS and not f.startswith("skip-")]
        if mixed:
            raise StandinError(f"can not mix '--config' with arguments [{' '.join(mixed)}]")
    docs = load_documents(config) if config is not None else []
    if config is not None:
        problems = check_documents(command, config, docs, ver)
        if problems:
            raise StandinError("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))
    save_call(command, args, config)
    if command == "join":
        attempts_file = state_dir() / "join-attempts"
        attempts = int(attempts_file.read_text() or 0) if attempts_file.exists() else 0
        attempts += 1
        attempts_file.write_text(f"{attempts}\n")
        if attempts <= int(env.get("STANDIN_JOIN_FAILURES") or 0):
            print(f"[preflight] Running pre-flight checks (kgen stand-in, join attempt {attempts})")
            print(JOIN_ETCD_ERROR, file=sys.stderr)
            print("To see the stack trace of this error execute with --v=5 or higher", file=sys.stderr)
            return 1
    kubernetes = at("/etc/kubernetes")
    (kubernetes / "manifests").mkdir(parents=True, exist_ok=True)
    server = server_url(endpoint_of(docs, "InitConfiguration" if command == "init" else "JoinConfiguration"))
    join_cp = command == "join" and any(
        d.get("kind") == "JoinConfiguration" and d.get("controlPlane") is not None for d in docs
    )
    if command == "init" or join_cp or has_flag(args, "--control-plane"):
        ca = make_ca(kubernetes / "pki")
        write_kubeconfig(kubernetes / "admin.conf", server, "kubernetes-admin", ca)
        write_kubeconfig(kubernetes / "kubelet.conf", server, f"system:node:{socket.gethostname()}", ca)
    else:
        ca = b"-----BEGIN CERTIFICATE-----\nKGEN-STANDIN-DUMMY\n-----END CERTIFICATE-----\n"
        write_kubeconfig(kubernetes / "kubelet.conf", server, f"system:node:{socket.gethostname()}", ca)
    kubelet_files(docs)
    if command == "init":
        print("Your Kubernetes control-plane has initialized successfully! (kgen stand-in)")
    else:
        print("This node has joined the cluster. (kgen stand-in)")
    return 0


def cmd_reset(args: list[str]) -> int:
    if not has_flag(args, "-f", "--force"):
        print("[reset] Are you sure you want to proceed? [y/N]: ", end="")
        answer = sys.stdin.readline().strip().lower() if not sys.stdin.isatty() else ""
        if answer not in ("y", "yes"):
            print("\naborted reset operation", file=sys.stderr)
            return 1
    kubernetes = at("/etc/kubernetes")
    for name in CONTROL_PLANE_FILES:
        (kubernetes / name).unlink(missing_ok=True)
    shutil.rmtree(kubernetes / "pki", ignore_errors=True)
    manifests = kubernetes / "manifests"
    if manifests.is_dir():
        for item in manifests.iterdir():
            item.unlink(missing_ok=True)
    for name in ("config.yaml", "kubeadm-flags.env"):
        at("/var/lib/kubelet").joinpath(name).unlink(missing_ok=True)
    print("[reset] kgen stand-in: removed the files init/join created")
    return 0


def images(args: list[str], env: dict[str, str]) -> list[str]:
    ver = flag_value(args, "kubernetes-version") or version(env)
    repo = flag_value(args, "image-repository") or "registry.k8s.io"
    config = flag_value(args, "config")
    if config:
        for doc in load_documents(Path(config)):
            if doc.get("kind") == "ClusterConfiguration":
                ver = str(doc.get("kubernetesVersion") or ver)
                repo = str(doc.get("imageRepository") or repo)
    ver = ver if ver.startswith("v") else "v" + ver
    minor = minor_of(ver)
    etcd, coredns, pause = IMAGE_TAGS.get(minor) or IMAGE_TAGS[min(max(IMAGE_TAGS), max(minor, 29))]
    names = ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy"]
    return [
        *(f"{repo}/{name}:{ver}" for name in names),
        f"{repo}/coredns/coredns:{coredns}",
        f"{repo}/pause:{pause}",
        f"{repo}/etcd:{etcd}",
    ]


def cmd_version(args: list[str], env: dict[str, str]) -> int:
    ver = version(env)
    output = flag_value(args, "output") or flag_value(args, "o")
    if output is None:
        for i, arg in enumerate(args):
            if arg == "-o" and i + 1 < len(args):
                output = args[i + 1]
            elif arg.startswith("-o") and len(arg) > 2:
                output = arg[2:].lstrip("=")
    info = {
        "major": ver.lstrip("v").split(".")[0],
        "minor": str(minor_of(ver)),
        "gitVersion": ver,
        "gitCommit": "kgen-standin",
        "gitTreeState": "clean",
        "buildDate": "2024-01-01T00:00:00Z",
        "goVersion": "go1.22.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    }
    if output == "short":
        print(ver)
    elif output == "json":
        print(json.dumps({"clientVersion": info}, indent=2))
    elif output == "yaml":
        print("clientVersion:\n" + "".join(f"  {k}: {json.dumps(v)}\n" for k, v in info.items()), end="")
    else:
        fields = ", ".join(f'{k[0].upper() + k[1:]}:"{v}"' for k, v in info.items())
        print(f"kubeadm version: &version.Info{{{fields}}}")
    return 0


def cmd_token_create(rest: list[str]) -> int:
    if has_flag(rest, "--print-join-command"):
        ca_hash = hashlib.sha256(make_ca(at("/etc/kubernetes/pki"))).hexdigest()
        endpoint = "127.0.0.1:6443"
        admin = at("/etc/kubernetes/admin.conf")
        if admin.exists():
            for line in admin.read_text(encoding="utf-8").splitlines():
                if line.strip().startswith("server:"):
                    endpoint = line.split("https://", 1)[-1].strip()
        print(f"kubeadm join {endpoint} --token {DUMMY_TOKEN} --discovery-token-ca-cert-hash sha256:{ca_hash}")
    else:
        print(DUMMY_TOKEN)
    return 0


def dispatch(args: list[str], env: dict[str, str]) -> int:
    command = args[0] if args else ""
    rest = args[1:]
    if command == "version":
        return cmd_version(rest, env)
    if command in ("init", "join") and not (rest and rest[0] == "phase"):
        return cmd_init_join(command, rest, env)
    if command == "reset":
        return cmd_reset(rest)
    return cmd_other(command, rest, env)


def cmd_other(command: str, rest: list[str], env: dict[str, str]) -> int:
    """Image lists, tokens and certificate keys; anything else is only recorded."""
    if command == "config" and rest[:2] == ["images", "list"]:
        print("\n".join(images(rest[2:], env)))
        return 0
    if command == "token" and rest[:1] == ["create"]:
        return cmd_token_create(rest)
    if (command == "init" and rest[:2] == ["phase", "upload-certs"]) or (
        command == "certs" and rest[:1] == ["certificate-key"]
    ):
        print(hashlib.sha256(f"kgen-standin-{time.time()}".encode()).hexdigest())
        return 0
    return 0


def main(argv: list[str]) -> int:
    args = argv[1:]
    env = load_env()
    try:
        rc = dispatch(args, env)
    except StandinError as exc:
        print(f"error: {exc}", file=sys.stderr)
        rc = 1
    try:
        record(args, rc)
    except OSError as exc:
        print(f"kgen stand-in: cannot record the call: {exc}", file=sys.stderr)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv))
