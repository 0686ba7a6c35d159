#!/usr/bin/python3
# KGEN TEST STAND-IN — not the real kubeadm
"""A stand-in for kubeadm in kgen's boot-test image (the real one cannot be downloaded there).

It checks what kgen's bootstrap hands to kubeadm the way kubeadm would look at it first — the
config documents, their kinds and (when schemas are installed) their fields, and flags mixed with
``--config`` — records every call, and creates the files a bootstrap reads afterwards. It runs no
cluster.

It also keeps the node state kubeadm keeps, the way kubeadm does: init and join write certificates,
kubeconfigs, static-pod manifests and etcd data in upstream's phase order (so a failure part-way leaves
what upstream leaves), their preflight refuses that leftover state, ``reset -f`` removes it, a
control-plane join without a certificateKey needs the shared CAs in /etc/kubernetes/pki, ``init``
mints a CA only when none is there, and token discovery checks the cluster CA against caCertHashes.

Steered by ``/etc/kgen-standin.env`` (KEY=VALUE lines):
  STANDIN_VERSION=v1.31.4     version reported by ``kubeadm version``
  STANDIN_JOIN_FAILURES=N     the first N joins fail like a control-plane join racing etcd
  STANDIN_INIT_FAIL_AFTER_MANIFESTS=N
                              the first N inits fail in wait-control-plane, after writing certs,
                              kubeconfigs and manifests
  STANDIN_CLUSTER_CA=PATH     the cluster CA "at the endpoint": joins check its public-key hash
                              against discovery.bootstrapToken.caCertHashes (unset: not checked)
  STANDIN_STRICT_FLAGS=0      do not reject flags that real kubeadm refuses to mix with --config
  STANDIN_CERT_EXPIRES_IN_DAYS=apiserver=10,admin.conf=5
                              ``certs check-expiration``: these certificates expire in N days
                              (until ``certs renew`` renews them); others 365 days after their file
                              was written (kubeadm's CertificateValidityPeriod)
  STANDIN_CERTS_RENEW_FAIL=1  ``certs renew`` fails like a renewal whose CA key cannot be loaded
Records go to /var/lib/kgen-standin/ (calls.jsonl, init/ and join/ with config.yaml and args.json).
``KGEN_STANDIN_ROOT`` (environment) prefixes every path, for running it outside the test image.
"""

from __future__ import annotations

# base64, hashlib, shutil, socket and subprocess are imported where used: each call is a new process, and
# most subcommands need none of them (~10 ms of a ~40 ms call; the sandbox tests make hundreds of calls).
import json
import os
import sys
import time
from pathlib import Path

# typing is imported only for the type checker: each call is a new process, and importing typing is ~8 ms
# of a ~40 ms call (the annotations are strings: from __future__ import annotations).
TYPE_CHECKING = False
if TYPE_CHECKING:
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
# The kubeconfig files kubeadm reset deletes: resetConfigDir() in
# cmd/kubeadm/app/cmd/phases/reset/cleanupnode.go (super-admin.conf since v1.29).
CONTROL_PLANE_FILES = (
    "admin.conf",
    "super-admin.conf",
    "kubelet.conf",
    "bootstrap-kubelet.conf",
    "controller-manager.conf",
    "scheduler.conf",
)
PKI_DIR = "/etc/kubernetes/pki"  # ClusterConfiguration.certificatesDir default
MANIFESTS_DIR = "/etc/kubernetes/manifests"
ETCD_DATA_DIR = "/var/lib/etcd"  # etcd.local.dataDir default
KUBELET_DIR = "/var/lib/kubelet"
# The static pods kubeadm writes; init's preflight refuses each that exists (FileAvailableCheck in
# RunInitNodeChecks, cmd/kubeadm/app/preflight/checks.go).
STATIC_PODS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd")
# Files that must be equal on every control-plane node, checked by a control-plane join without a
# certificateKey: (what kubeadm calls it, files) after SharedCertificateExists in
# cmd/kubeadm/app/phases/certs/certs.go.
SHARED_CAS = (("CA", "ca"), ("front-proxy CA", "front-proxy-ca"), ("etcd CA", "etcd/ca"))
# Certificates kubeadm signs with those CAs on each control-plane node (kubeadm-certs.md); the
# stand-in writes placeholders so the certificates folder looks like kubeadm's.
LEAF_CERTS = (
    "apiserver",
    "apiserver-kubelet-client",
    "apiserver-etcd-client",
    "front-proxy-client",
    "etcd/server",
    "etcd/peer",
    "etcd/healthcheck-client",
)
NOT_READY_TO_JOIN = """One or more conditions for hosting a new control plane instance is not satisfied.

{error}

Please ensure that:
* The cluster has a stable controlPlaneEndpoint address.
* The certificates that must be shared among control plane instances are provided.
"""
DUMMY_TOKEN = "abcdef.0123456789abcdef"  # noqa: S105 - a dummy, like the docs' example


class StandinError(Exception):
    pass


class PhaseError(StandinError):
    """A failure inside a kubeadm workflow phase, printed like kubeadm's workflow runner does
    (cmd/kubeadm/app/cmd/phases/workflow/runner.go: "error execution phase <name>: <err>")."""

    def __init__(self, phase: str, message: str) -> None:
        super().__init__(f"error execution phase {phase}: {message}")


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
    for doc in docs:
        token = (doc.get("discovery") or {}).get("bootstrapToken") if doc.get("kind") == "JoinConfiguration" else None
        # ValidateDiscoveryBootstrapToken in cmd/kubeadm/app/apis/kubeadm/validation/validation.go
        if isinstance(token, dict) and not token.get("caCertHashes") and not token.get("unsafeSkipCAVerification"):
            problems.append(
                f'{path}: discovery.bootstrapToken.caCertHashes: Invalid value: "": using token-based discovery '
                "without caCertHashes can be unsafe. Set unsafeSkipCAVerification as true in your kubeadm config "
                "file or pass --discovery-token-unsafe-skip-ca-verification flag to continue"
            )
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


def openssl(*args: str, stdin: bytes | None = None) -> bytes:
    import shutil  # noqa: PLC0415 - see the note at the imports
    import subprocess  # noqa: PLC0415 - see the note at the imports

    if shutil.which("openssl") is None:
        raise StandinError("the kgen stand-in needs openssl for certificates")
    result = subprocess.run(["openssl", *args], input=stdin, capture_output=True, check=False, timeout=60)
    if result.returncode != 0:
        raise StandinError(f"openssl {args[0]} failed: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout


def spki_hash(certificate: bytes) -> str:
    """kubeadm's pin: sha256 of the certificate's DER SubjectPublicKeyInfo
    (pubkeypin.Hash in cmd/kubeadm/app/util/pubkeypin/pubkeypin.go)."""
    pem = openssl("x509", "-noout", "-pubkey", stdin=certificate)
    der = openssl("pkey", "-pubin", "-outform", "DER", stdin=pem)
    import hashlib  # noqa: PLC0415 - see the note at the imports

    return "sha256:" + hashlib.sha256(der).hexdigest()


def ensure_ca(pki: Path, base: str, common_name: str) -> bytes:
    """The certs phase: an existing CA is used as it is ("Using existing ... certificate authority"),
    a missing one is generated (runCAPhase in cmd/kubeadm/app/cmd/phases/init/certs.go)."""
    crt, key = pki / f"{base}.crt", pki / f"{base}.key"
    if crt.exists():
        print(f"[certs] Using existing {base} certificate authority")
        return crt.read_bytes()
    print(f"[certs] Generating {base.replace('/', '-')} certificate and key")
    crt.parent.mkdir(parents=True, exist_ok=True)
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", str(key), "-out", str(crt), "-days", "3650", "-subj", f"/CN={common_name}")  # fmt: skip
    key.chmod(0o600)
    return crt.read_bytes()


def ensure_service_account_key(pki: Path) -> None:
    """sa.key/sa.pub are kept when they exist (CreateServiceAccountKeyAndPublicKeyFiles in
    cmd/kubeadm/app/phases/certs/certs.go)."""
    key, pub = pki / "sa.key", pki / "sa.pub"
    if key.exists() and pub.exists():
        print('[certs] Using the existing "sa" key')
        return
    print('[certs] Generating "sa" key and public key')
    openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(key))
    key.chmod(0o600)
    pub.write_bytes(openssl("pkey", "-in", str(key), "-pubout"))


def write_leaf_certs(pki: Path) -> None:
    for base in LEAF_CERTS:
        for ext, mode in (("crt", 0o644), ("key", 0o600)):
            path = pki / f"{base}.{ext}"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"# kgen stand-in placeholder for {base}.{ext}\n", encoding="utf-8")
            path.chmod(mode)


def write_kubeconfig(path: Path, server: str, user: str, ca: bytes) -> None:
    import base64  # noqa: PLC0415 - see the note at the imports

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


def write_static_pods(names: tuple[str, ...]) -> None:
    manifests = at(MANIFESTS_DIR)
    manifests.mkdir(parents=True, exist_ok=True)
    for name in names:
        pod = f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: kube-system\n# kgen stand-in\n"
        (manifests / f"{name}.yaml").write_text(pod, encoding="utf-8")
        (manifests / f"{name}.yaml").chmod(0o600)
    if "etcd" in names:
        # etcd starts from its manifest and writes its data dir (the local etcd phase creates it 0700).
        member = at(ETCD_DATA_DIR) / "member"
        member.mkdir(parents=True, exist_ok=True)
        at(ETCD_DATA_DIR).chmod(0o700)
        (member / "kgen-standin").write_text("stand-in etcd data\n", encoding="utf-8")


def kubelet_files(docs: list[dict[str, Any]]) -> None:
    import yaml  # noqa: PLC0415

    kubelet_dir = at(KUBELET_DIR)
    kubelet_dir.mkdir(parents=True, exist_ok=True)
    config = next((d for d in docs if d.get("kind") == "KubeletConfiguration"), None)
    if config is None:
        config = {"apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration"}
    (kubelet_dir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    (kubelet_dir / "kubeadm-flags.env").write_text('KUBELET_KUBEADM_ARGS=""\n', encoding="utf-8")
    if root() == Path("/") and Path("/run/systemd/system").is_dir():
        import subprocess  # noqa: PLC0415 - see the note at the imports

        subprocess.run(["systemctl", "restart", "--no-block", "kubelet"], capture_output=True, check=False, timeout=30)


def save_call(command: str, args: list[str], config: Path | None) -> None:
    out = state_dir() / command
    out.mkdir(parents=True, exist_ok=True)
    if config is not None:
        import shutil  # noqa: PLC0415 - see the note at the imports

        shutil.copyfile(config, out / "config.yaml")
    (out / "args.json").write_text(json.dumps(args) + "\n", encoding="utf-8")


def count_attempt(name: str) -> int:
    path = state_dir() / name
    attempts = (int(path.read_text() or 0) if path.exists() else 0) + 1
    path.write_text(f"{attempts}\n")
    return attempts


def ignored(args: list[str]) -> set[str]:
    value = flag_value(args, "ignore-preflight-errors") or ""
    return {v.strip().lower() for v in value.split(",") if v.strip()}


def run_checks(checks: list[tuple[str, str | None]], args: list[str]) -> None:
    """kubeadm's RunChecks (cmd/kubeadm/app/preflight/checks.go): every failed check is listed, then
    preflight fails as a whole unless the check is in --ignore-preflight-errors."""
    skip = ignored(args)
    errors = [
        f"\t[ERROR {name}]: {problem}\n"
        for name, problem in checks
        if problem is not None and "all" not in skip and name.lower() not in skip
    ]
    if errors:
        raise PhaseError(
            "preflight",
            "[preflight] Some fatal errors occurred:\n" + "".join(errors) + "[preflight] If you know what you "
            "are doing, you can make a check non-fatal with `--ignore-preflight-errors=...`",
        )


def file_available(path: str) -> tuple[str, str | None]:
    """FileAvailableCheck: the file must not exist yet."""
    return "FileAvailable-" + path.replace("/", "-"), (f"{path} already exists" if at(path).exists() else None)


def dir_available(path: str) -> tuple[str, str | None]:
    """DirAvailableCheck: the folder must be missing or empty."""
    full = at(path)
    busy = full.is_dir() and any(full.iterdir())
    return "DirAvailable-" + path.replace("/", "-"), (f"{path} is not empty" if busy else None)


def init_node_checks() -> list[tuple[str, str | None]]:
    """The file checks of RunInitNodeChecks (cmd/kubeadm/app/preflight/checks.go), also run by a
    control-plane join: no static-pod manifest of kubeadm's may exist, the etcd data dir is empty."""
    checks = [file_available(f"{MANIFESTS_DIR}/{name}.yaml") for name in STATIC_PODS]
    checks.append(dir_available(ETCD_DATA_DIR))
    return checks


def shared_certificates_problems() -> list[str]:
    """SharedCertificateExists (cmd/kubeadm/app/phases/certs/certs.go): each CA certificate must load
    (validateCACert: "failure loading certificate for <CA>"), and sa.key with sa.pub
    (validatePrivatePublicKey). A missing CA key is only a warning upstream ("assuming external key")."""
    problems = []
    pki = at(PKI_DIR)
    for ux_name, base in SHARED_CAS[:1]:
        problems.extend(ca_problem(pki, ux_name, base))
    for name in ("sa.key", "sa.pub"):
        if not (pki / name).is_file():
            kind = "private key" if name.endswith(".key") else "public key"
            path = f"{PKI_DIR}/{name}"
            problems.append(
                f"failure loading key for service account: couldn't load the {kind} file {path}: "
                f"open {path}: no such file or directory"
            )
            break
    for ux_name, base in SHARED_CAS[1:]:
        problems.extend(ca_problem(pki, ux_name, base))
    return problems


def ca_problem(pki: Path, ux_name: str, base: str) -> list[str]:
    crt = pki / f"{base}.crt"
    path = f"{PKI_DIR}/{base}.crt"
    if not crt.is_file():
        return [f"failure loading certificate for {ux_name}: couldn't load the certificate file {path}: "
                f"open {path}: no such file or directory"]  # fmt: skip
    if b"-----BEGIN CERTIFICATE-----" not in crt.read_bytes():
        return [f"failure loading certificate for {ux_name}: couldn't load the certificate file {path}: "
                "data does not contain any valid RSA or ECDSA certificates"]  # fmt: skip
    if not (pki / f"{base}.key").is_file():
        print(f"W0000 assuming external key for {ux_name}: couldn't load the private key file", file=sys.stderr)
    return []


def aggregate(problems: list[str]) -> str:
    """utilerrors.NewAggregate: one error as it is, several as "[a, b]"."""
    return problems[0] if len(problems) == 1 else "[" + ", ".join(problems) + "]"


def discovery(docs: list[dict[str, Any]], env: dict[str, str]) -> bytes | None:
    """Token discovery (cmd/kubeadm/app/discovery/token/token.go, validateClusterCA): the CA the
    cluster-info ConfigMap carries must match one of caCertHashes, else "none of the public keys
    ... are pinned". There is no API server here: STANDIN_CLUSTER_CA names the file standing for the
    CA at the endpoint; without it discovery is not simulated. Returns the cluster CA."""
    path = env.get("STANDIN_CLUSTER_CA")
    if not path:
        return None
    try:
        cluster_ca = at(path).read_bytes()
    except OSError as exc:
        raise StandinError(f"stand-in: STANDIN_CLUSTER_CA={path} is unreadable: {exc}") from exc
    join = next((d for d in docs if d.get("kind") == "JoinConfiguration"), {})
    token = (join.get("discovery") or {}).get("bootstrapToken") or {}
    pins = {str(h).lower().removeprefix("sha256:") for h in token.get("caCertHashes") or []}
    if not pins:
        return cluster_ca  # unsafeSkipCAVerification (validation refused the config otherwise)
    actual = spki_hash(cluster_ca)
    if actual.removeprefix("sha256:") not in pins:
        raise PhaseError(
            "preflight",
            "couldn't validate the identity of the API Server: cluster CA found in cluster-info ConfigMap "
            f'is invalid: none of the public keys "{actual}" are pinned',
        )
    return cluster_ca


def parse_config(command: str, args: list[str], env: dict[str, str]) -> list[dict[str, Any]]:
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
    return docs


def cmd_init(args: list[str], env: dict[str, str]) -> int:
    """kubeadm init's phases in upstream's order (newCmdInit in cmd/kubeadm/app/cmd/init.go): preflight,
    certs, kubeconfig, etcd, control-plane, kubelet-start, wait-control-plane, ..."""
    docs = parse_config("init", args, env)
    print("[preflight] Running pre-flight checks (kgen stand-in)")
    run_checks(init_node_checks(), args)
    pull_images_check("InitConfiguration", docs, args, env)  # runPreflight, phases/init/preflight.go
    pki = at(PKI_DIR)
    ca = ensure_ca(pki, "ca", "kubernetes")
    ensure_ca(pki, "front-proxy-ca", "front-proxy-ca")
    ensure_ca(pki, "etcd/ca", "etcd-ca")
    ensure_service_account_key(pki)
    write_leaf_certs(pki)
    kubernetes = at("/etc/kubernetes")
    server = server_url(endpoint_of(docs, "InitConfiguration"))
    for name in ("admin.conf", "super-admin.conf", "controller-manager.conf", "scheduler.conf"):
        write_kubeconfig(kubernetes / name, server, f"kgen-standin-{name.removesuffix('.conf')}", ca)
    import socket  # noqa: PLC0415 - see the note at the imports

    write_kubeconfig(kubernetes / "kubelet.conf", server, f"system:node:{socket.gethostname()}", ca)
    write_static_pods(("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"))
    kubelet_files(docs)
    if count_attempt("init-attempts") <= int(env.get("STANDIN_INIT_FAIL_AFTER_MANIFESTS") or 0):
        print(f"[wait-control-plane] Waiting for the kubelet to boot up the static Pods in {MANIFESTS_DIR}")
        # handleError in cmd/kubeadm/app/cmd/phases/init/waitcontrolplane.go
        raise PhaseError("wait-control-plane", "could not initialize a Kubernetes cluster")
    print("Your Kubernetes control-plane has initialized successfully! (kgen stand-in)")
    return 0


def cmd_join(args: list[str], env: dict[str, str]) -> int:
    """kubeadm join's phases (newCmdJoin in cmd/kubeadm/app/cmd/join.go): preflight (node checks,
    discovery, the control-plane checks of cmd/kubeadm/app/cmd/phases/join/preflight.go),
    control-plane-prepare, kubelet-start, control-plane-join (etcd, ...)."""
    docs = parse_config("join", args, env)
    join = next((d for d in docs if d.get("kind") == "JoinConfiguration"), {})
    control_plane = join.get("controlPlane") is not None or has_flag(args, "--control-plane")
    print("[preflight] Running pre-flight checks (kgen stand-in)")
    # RunJoinNodeChecks in cmd/kubeadm/app/preflight/checks.go; ca.crt only for a worker.
    checks = [
        dir_available(MANIFESTS_DIR),
        file_available("/etc/kubernetes/kubelet.conf"),
        file_available("/etc/kubernetes/bootstrap-kubelet.conf"),
    ]
    if not control_plane:
        checks.append(file_available(f"{PKI_DIR}/ca.crt"))
    run_checks(checks, args)
    cluster_ca = discovery(docs, env)
    kubernetes, pki = at("/etc/kubernetes"), at(PKI_DIR)
    server = server_url(endpoint_of(docs, "JoinConfiguration"))
    import socket  # noqa: PLC0415 - see the note at the imports

    node_user = f"system:node:{socket.gethostname()}"
    if control_plane:
        # checkIfReadyForAdditionalControlPlane: without a certificateKey the shared certificates must
        # be on disk already (kgen never uploads certificates).
        has_key = bool(flag_value(args, "certificate-key") or (join.get("controlPlane") or {}).get("certificateKey"))
        problems = [] if has_key else shared_certificates_problems()
        if problems:
            raise PhaseError("preflight", NOT_READY_TO_JOIN.format(error=aggregate(problems)))
        run_checks(init_node_checks(), args)
        pull_images_check("JoinConfiguration", docs, args, env)  # runPreflight, phases/join/preflight.go
        # control-plane-prepare: certs, kubeconfig, control-plane manifests.
        ca = (pki / "ca.crt").read_bytes()
        write_leaf_certs(pki)
        for name in ("admin.conf", "controller-manager.conf", "scheduler.conf"):
            write_kubeconfig(kubernetes / name, server, f"kgen-standin-{name.removesuffix('.conf')}", ca)
        write_static_pods(("kube-apiserver", "kube-controller-manager", "kube-scheduler"))
    else:
        ca = cluster_ca or b"-----BEGIN CERTIFICATE-----\nKGEN-STANDIN-DUMMY\n-----END CERTIFICATE-----\n"
        pki.mkdir(parents=True, exist_ok=True)
        (pki / "ca.crt").write_bytes(ca)
    # kubelet-start: the TLS bootstrap leaves kubelet.conf.
    write_kubeconfig(kubernetes / "kubelet.conf", server, node_user, ca)
    kubelet_files(docs)
    if control_plane:
        write_static_pods(("etcd",))  # control-plane-join/etcd adds the member, then promotes it
    if count_attempt("join-attempts") <= int(env.get("STANDIN_JOIN_FAILURES") or 0):
        print(JOIN_ETCD_ERROR, file=sys.stderr)
        print("To see the stack trace of this error execute with --v=5 or higher", file=sys.stderr)
        return 1
    print("This node has joined the cluster. (kgen stand-in)")
    return 0


def clean_dir(path: Path) -> None:
    """CleanDir in cmd/kubeadm/app/cmd/phases/reset/cleanupnode.go: the contents go, the folder stays."""
    if not path.is_dir():
        return
    for item in path.iterdir():
        if item.is_dir() and not item.is_symlink():
            import shutil  # noqa: PLC0415 - see the note at the imports

            shutil.rmtree(item)
        else:
            item.unlink()


def cmd_reset(args: list[str]) -> int:
    if not has_flag(args, "-f", "--force"):
        print("[reset] Are you sure you want to proceed? [y/N]: ", end="")
        answer = sys.stdin.readline().strip().lower() if not sys.stdin.isatty() else ""
        if answer not in ("y", "yes"):
            print("\naborted reset operation", file=sys.stderr)
            return 1
    # remove-etcd-member (cmd/kubeadm/app/cmd/phases/reset/removeetcdmember.go): the etcd data dir
    # (from etcd.yaml, else the default /var/lib/etcd) is emptied.
    clean_dir(at(ETCD_DATA_DIR))
    # cleanup-node (cmd/kubeadm/app/cmd/phases/reset/cleanupnode.go): the contents of the manifests
    # folder, of /var/lib/kubelet (after unmounting what is mounted there) and of the certificates
    # folder go; then resetConfigDir deletes the kubeconfig files.
    for directory in (MANIFESTS_DIR, KUBELET_DIR, PKI_DIR):
        clean_dir(at(directory))
    for name in CONTROL_PLANE_FILES:
        at("/etc/kubernetes").joinpath(name).unlink(missing_ok=True)
    print(f"[reset] Deleting contents of directories: [{MANIFESTS_DIR} {KUBELET_DIR} {PKI_DIR}] (kgen stand-in)")
    return 0


def runtime_images() -> set[str] | None:
    """The images the node's container runtime holds, as the CRI's ImageStatus sees them: containerd's
    namespace k8s.io (the CRI plugin's). None when there is no runtime to ask (outside the test image)."""
    import shutil  # noqa: PLC0415 - see the note at the imports
    import subprocess  # noqa: PLC0415 - see the note at the imports

    ctr = shutil.which("ctr")
    if ctr is None or "KGEN_STANDIN_ROOT" in os.environ:
        return None
    result = subprocess.run([ctr, "-n", "k8s.io", "images", "ls", "-q"], capture_output=True, text=True, check=False)
    return set(result.stdout.split()) if result.returncode == 0 else None


def has_network() -> bool:
    """Whether the node has any network interface besides loopback (a pull needs one)."""
    net = Path("/sys/class/net")
    return any(link.name != "lo" for link in net.iterdir()) if net.is_dir() else True


def pull_images_check(kind: str, docs: list[dict[str, Any]], args: list[str], env: dict[str, str]) -> None:
    """kubeadm's ImagePullCheck (cmd/kubeadm/app/preflight/checks.go, RunPullImagesCheck, v1.29+):
    policy Never skips every image; IfNotPresent pulls the images the runtime lacks; Always pulls all.
    The policy is nodeRegistration.imagePullPolicy, defaulted to IfNotPresent (SetDefaults_NodeRegistration
    in cmd/kubeadm/app/apis/kubeadm/v1beta4/defaults.go). The stand-in cannot pull: a pull on a node
    without a network interface fails as upstream's would, and every pull is recorded in
    /var/lib/kgen-standin/image-pulls.jsonl, so a test can prove that none happened."""
    doc = next((d for d in docs if d.get("kind") == kind), {})
    policy = str((doc.get("nodeRegistration") or {}).get("imagePullPolicy") or "IfNotPresent")
    wanted = images(args, env)
    pulled: list[str] = []
    problems: list[tuple[str, str | None]] = []
    if policy not in ("Never", "IfNotPresent", "Always"):
        problems.append(("ImagePull", f"unsupported pull policy {policy!r}"))
    elif policy != "Never":
        print("[preflight] Pulling images required for setting up a Kubernetes cluster")
        present = runtime_images() if policy == "IfNotPresent" else set()
        for image in wanted:
            if present is not None and image in present:
                continue
            pulled.append(image)
            if not has_network():
                problems.append(
                    ("ImagePull", f"failed to pull image {image}: dial tcp: connect: network is unreachable")
                )
    entry = {"kind": kind, "policy": policy, "images": wanted, "pulled": pulled, "time": time.time()}
    with (state_dir() / "image-pulls.jsonl").open("a", encoding="utf-8") as f:
        f.write(json.dumps(entry) + "\n")
    run_checks(problems, args)


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
        # The join command pins the CA's public key (pubkeypin.Hash), like kubeadm's.
        ca_path = at(f"{PKI_DIR}/ca.crt")
        if not ca_path.is_file():
            raise StandinError(f"couldn't load the certificate file {PKI_DIR}/ca.crt: no such file or directory")
        ca_hash = spki_hash(ca_path.read_bytes()).removeprefix("sha256:")
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


# --- kubeadm upgrade plan|apply|node (issue 14) ----------------------------------------------------------
# The cluster these commands act on is a JSON file that every node's sandbox shares (the upgrade tests
# bind-mount one folder into each): {"version": the kubernetesVersion in the kubeadm-config ConfigMap,
# "nodes": {name: {"kubeletVersion", "ready", "unschedulable"}}, "events": [...]}. The kubeadm binary's own
# version is the kubeadm package the apt stand-in installed (/var/lib/kgen-standin/packages.json), else
# STANDIN_VERSION. Steered by /etc/kgen-standin.env:
#   STANDIN_NODE_NAME=NAME          this node's name in the cluster state (default: the hostname)
#   STANDIN_UPGRADE_FAILURES=N      the first N `upgrade apply|node` calls fail (a failure part-way)
CLUSTER_STATE = "/var/lib/kgen-standin-cluster/state.json"
PACKAGES = "/var/lib/kgen-standin/packages.json"
# The flags each command takes (anything else is cobra's "unknown flag"): cmd/kubeadm/app/cmd/upgrade/
# plan.go, apply.go (addApplyFlags) and node.go (addUpgradeNodeFlags), plus the shared
# options.AddConfigFlag / AddIgnorePreflightErrorsFlag / AddKubeConfigFlag and the global -v.
UPGRADE_FLAGS = {
    "plan": {"config", "kubeconfig", "ignore-preflight-errors", "v", "print-config", "output", "o",
             "allow-experimental-upgrades", "allow-release-candidate-upgrades", "show-managed-fields"},
    "apply": {"config", "kubeconfig", "ignore-preflight-errors", "v", "print-config", "yes", "y", "force", "f",
              "dry-run", "etcd-upgrade", "certificate-renewal", "patches", "allow-experimental-upgrades",
              "allow-release-candidate-upgrades", "skip-phases"},
    "node": {"config", "kubeconfig", "ignore-preflight-errors", "v", "dry-run", "etcd-upgrade",
             "certificate-renewal", "patches", "skip-phases"},
}  # fmt: skip
BOOLEAN_UPGRADE_FLAGS = {
    "yes", "y", "force", "f", "dry-run", "etcd-upgrade", "certificate-renewal", "print-config",
    "allow-experimental-upgrades", "allow-release-candidate-upgrades", "show-managed-fields",
}  # fmt: skip


def node_name(env: dict[str, str]) -> str:
    import socket  # noqa: PLC0415 - see the note at the imports

    return env.get("STANDIN_NODE_NAME") or socket.gethostname()


def kubeadm_binary_version(env: dict[str, str]) -> str:
    try:
        installed = json.loads(at(PACKAGES).read_text(encoding="utf-8")).get("kubeadm")
    except (OSError, ValueError):
        installed = None
    return f"v{installed}" if installed else version(env)


def parse_version(text: str) -> tuple[int, int, int]:
    parts = text.lstrip("v").split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise StandinError(f'couldn\'t parse version "{text}"')  # k8s.io/apimachinery/pkg/util/version
    return int(parts[0]), int(parts[1]), int(parts[2])


def update_cluster(change: Any) -> Any:
    """Read, change and write the shared cluster state under a lock; ``change`` gets the state."""
    import fcntl  # noqa: PLC0415 - only the upgrade commands need it

    path = at(CLUSTER_STATE)
    if not path.is_file():
        raise StandinError("unable to fetch the kubeadm-config ConfigMap: no cluster (stand-in state missing)")
    with path.with_name("state.lock").open("a", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        state = json.loads(path.read_text(encoding="utf-8"))
        result = change(state)
        path.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return result


def upgrade_args(sub: str, args: list[str]) -> list[str]:
    """Positional arguments; an unknown flag fails like cobra ("unknown flag: --x")."""
    words, skip = [], False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg.startswith("-"):
            name = arg.lstrip("-").split("=", 1)[0]
            if name not in UPGRADE_FLAGS[sub]:
                raise StandinError(f"unknown flag: {arg.split('=', 1)[0]}")
            skip = name not in BOOLEAN_UPGRADE_FLAGS and "=" not in arg
            continue
        words.append(arg)
    return words


def version_policy_errors(new: str, cluster: str, kubeadm: str, kubelets: list[str]) -> tuple[list[str], list[str]]:
    """(mandatory, skippable) errors, as EnforceVersionPolicies in cmd/kubeadm/app/phases/upgrade/policy.go
    words them for released versions (no pre-release handling; kgen pins released versions only)."""
    n, c, k = parse_version(new), parse_version(cluster), parse_version(kubeadm)
    mandatory: list[str] = []
    skippable: list[str] = []
    if n[1] > c[1] + 1:  # MaximumAllowedMinorVersionUpgradeSkew = 1
        mandatory.append(
            f'Specified version to upgrade to "{new}" is too high; kubeadm can upgrade only 1 minor version at a time'
        )
    if n[1] < c[1] - 1:  # MaximumAllowedMinorVersionDowngradeSkew = 1
        mandatory.append(
            f'Specified version to downgrade to "{new}" is too low; '
            "kubeadm can downgrade only 1 minor version at a time"
        )
    if k < n:
        if n[1] > k[1]:
            mandatory.append(
                f'Specified version to upgrade to "{new}" is at least one minor release higher than the kubeadm minor '
                f"release ({n[1]} > {k[1]}). Such an upgrade is not supported"
            )
        else:
            skippable.append(
                f'Specified version to upgrade to "{new}" is higher than the kubeadm version "{kubeadm}". Upgrade '
                "kubeadm first using the tool you used to install kubeadm"
            )
    if k[0] > n[0] or k[1] > n[1]:
        skippable.append(f"Kubeadm version {kubeadm} can only be used to upgrade to Kubernetes version {k[0]}.{k[1]}")
    too_old = sorted({v for v in kubelets if n[1] > parse_version(v)[1] + 1})  # MaximumAllowedMinorVersionKubeletSkew
    if too_old:
        skippable.append(f"There are kubelets in this cluster that are too old that have these versions {too_old}")
    return mandatory, skippable


def write_control_plane_manifests(ver: str) -> None:
    """kubeadm writes the control-plane static pods with the new image tags (phases/upgrade/staticpods.go)."""
    manifests = at(MANIFESTS_DIR)
    manifests.mkdir(parents=True, exist_ok=True)
    for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler"):
        pod = (
            f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: kube-system\n"
            f"spec:\n  containers:\n  - name: {name}\n    image: registry.k8s.io/{name}:{ver}\n# kgen stand-in\n"
        )
        (manifests / f"{name}.yaml").write_text(pod, encoding="utf-8")
        (manifests / f"{name}.yaml").chmod(0o600)


def upgrade_failure(env: dict[str, str]) -> None:
    wanted = int(env.get("STANDIN_UPGRADE_FAILURES", "0") or 0)
    if wanted and count_attempt("upgrade-attempts") <= wanted:
        raise PhaseError("control-plane", "the stand-in was told to fail this upgrade (STANDIN_UPGRADE_FAILURES)")


def cmd_upgrade(rest: list[str], env: dict[str, str]) -> int:
    sub = rest[0] if rest else ""
    if sub not in UPGRADE_FLAGS:
        raise StandinError(f'unknown command "{sub}" for "kubeadm upgrade"')
    words = upgrade_args(sub, rest[1:])
    kubeadm = kubeadm_binary_version(env)
    me = node_name(env)
    control_plane = at(f"{MANIFESTS_DIR}/kube-apiserver.yaml").is_file()
    if sub in ("plan", "apply"):
        # plan and apply talk to the cluster with the admin kubeconfig (--kubeconfig default
        # /etc/kubernetes/admin.conf, cmd/kubeadm/app/cmd/upgrade/common.go).
        kubeconfig = flag_value(rest, "kubeconfig") or "/etc/kubernetes/admin.conf"
        if not at(kubeconfig).is_file():
            raise StandinError(f'couldn\'t create a Kubernetes client from file "{kubeconfig}": no such file')
    if sub == "plan":
        cluster = update_cluster(lambda s: s["version"])
        print(f"[upgrade/versions] Cluster version: {cluster}")
        print(f"[upgrade/versions] kubeadm version: {kubeadm}")
        return 0
    if sub == "apply":
        if len(words) != 1:  # apply.go: the version is a required argument unless --config names it
            raise StandinError("missing one or more required arguments. Required arguments: [version]")
        new = words[0] if words[0].startswith("v") else "v" + words[0]
        if not control_plane:
            raise StandinError(f"{MANIFESTS_DIR}/kube-apiserver.yaml: no such file: this is not a control-plane node")
        if not has_flag(rest, "--yes", "-y", "--dry-run"):
            # apply.go asks "[upgrade] Are you sure you want to proceed? [y/N]:" on stdin
            # (cmd/kubeadm/app/util/interactive.go InteractivelyConfirmAction).
            answer = sys.stdin.readline().strip().lower()
            if answer not in ("y", "yes"):
                raise StandinError("won't proceed; the user didn't answer (Y|n) in order to continue")
        force = has_flag(rest, "--force", "-f")

        def apply(state: dict[str, Any]) -> str:
            kubelets = [n["kubeletVersion"] for n in state["nodes"].values()]
            mandatory, skippable = version_policy_errors(new, state["version"], kubeadm, kubelets)
            print(f"[upgrade/versions] Cluster version: {state['version']}")
            print(f"[upgrade/versions] kubeadm version: {kubeadm}")
            # How apply.go / common.go report the policy errors; skippable ones yield to --force.
            if mandatory:
                listed = "".join(f"- {e}\n" for e in mandatory)
                raise StandinError(
                    "[upgrade/version] FATAL: the --version argument is invalid due to these fatal errors:\n\n"
                    f"{listed}\nPlease fix the misalignments highlighted above and try upgrading again"
                )
            if skippable and not force:
                listed = "".join(f"- {e}\n" for e in skippable)
                raise StandinError(
                    "[upgrade/version] FATAL: the --version argument is invalid due to these errors:\n\n"
                    f"{listed}\nCan be bypassed if you pass the --force flag"
                )
            upgrade_failure(env)
            state["version"] = new
            state["events"].append({"node": me, "event": f"kubeadm upgrade apply {new}"})
            return new

        new = update_cluster(apply)
        write_control_plane_manifests(new)
        print(f'[upgrade] SUCCESS! A control plane node of your cluster was upgraded to "{new}".')
        return 0
    # `upgrade node`: node.go reads the kubeadm-config ConfigMap with the kubelet's kubeconfig (default
    # /etc/kubernetes/kubelet.conf) and upgrades this node to its kubernetesVersion: the control plane when
    # kube-apiserver.yaml is here, then the kubelet config.
    kubeconfig = flag_value(rest, "kubeconfig") or "/etc/kubernetes/kubelet.conf"
    if not at(kubeconfig).is_file():
        raise StandinError(f'couldn\'t create a Kubernetes client from file "{kubeconfig}": no such file')
    if words:
        raise StandinError(f'unknown command "{words[0]}" for "kubeadm upgrade node"')

    def node(state: dict[str, Any]) -> str:
        cluster = str(state["version"])
        # KGEN STAND-IN RULE, stricter than upstream: run before `upgrade apply`, upstream re-applies the
        # ConfigMap's old version and leaves the node behind without an error; the stand-in fails loudly
        # instead, so a wrong order in kgen's scripts cannot pass a test.
        if parse_version(kubeadm)[:2] > parse_version(cluster)[:2]:
            raise PhaseError(
                "control-plane" if control_plane else "kubelet-config",
                f"the cluster (kubeadm-config) is at {cluster} and this kubeadm is {kubeadm}: "
                "run 'kubeadm upgrade apply' on the first control-plane node first",
            )
        upgrade_failure(env)
        state["events"].append({"node": me, "event": f"kubeadm upgrade node {cluster}"})
        return cluster

    cluster = update_cluster(node)
    if control_plane:
        write_control_plane_manifests(cluster)
    print("[upgrade] The configuration for this node was successfully upgraded!")
    return 0


def dispatch(args: list[str], env: dict[str, str]) -> int:
    command = args[0] if args else ""
    rest = args[1:]
    handlers: dict[str, Any] = {
        "version": lambda: cmd_version(rest, env),
        "reset": lambda: cmd_reset(rest),
        "upgrade": lambda: cmd_upgrade(rest, env),
    }
    if command in ("init", "join") and not (rest and rest[0] == "phase"):
        handlers[command] = (lambda: cmd_init(rest, env)) if command == "init" else (lambda: cmd_join(rest, env))
    if command in ("certs", "certificates") and rest[:1] in (["check-expiration"], ["renew"]):
        handlers[command] = lambda: cmd_certs(rest, env)
    handler = handlers.get(command)
    return int(handler()) if handler is not None else cmd_other(command, rest, env)


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
        import hashlib  # noqa: PLC0415 - see the note at the imports

        print(hashlib.sha256(f"kgen-standin-{time.time()}".encode()).hexdigest())
        return 0
    return 0


# --- certs check-expiration / certs renew (kgen-certs, issue 14) -------------------------------------------
# The certificates kubeadm's renewal manager handles (cmd/kubeadm/app/phases/certs/renewal/manager.go:
# the certificate tree of cmd/kubeadm/app/phases/certs/certlist.go plus admin.conf, super-admin.conf,
# controller-manager.conf and scheduler.conf; kubelet.conf is left to the kubelet), sorted by name as
# Manager.Certificates() sorts them: (name, signing CA, file, long name used by `renew`).
RENEWABLE_CERTS = (
    ("admin.conf", "ca", "/etc/kubernetes/admin.conf",
     "certificate embedded in the kubeconfig file for the admin to use and for kubeadm itself"),
    ("apiserver", "ca", f"{PKI_DIR}/apiserver.crt", "certificate for serving the Kubernetes API"),
    ("apiserver-etcd-client", "etcd-ca", f"{PKI_DIR}/apiserver-etcd-client.crt",
     "certificate the apiserver uses to access etcd"),
    ("apiserver-kubelet-client", "ca", f"{PKI_DIR}/apiserver-kubelet-client.crt",
     "certificate for the API server to connect to kubelet"),
    ("controller-manager.conf", "ca", "/etc/kubernetes/controller-manager.conf",
     "certificate embedded in the kubeconfig file for the controller manager to use"),
    ("etcd-healthcheck-client", "etcd-ca", f"{PKI_DIR}/etcd/healthcheck-client.crt",
     "certificate for liveness probes to healthcheck etcd"),
    ("etcd-peer", "etcd-ca", f"{PKI_DIR}/etcd/peer.crt", "certificate for etcd nodes to communicate with each other"),
    ("etcd-server", "etcd-ca", f"{PKI_DIR}/etcd/server.crt", "certificate for serving etcd"),
    ("front-proxy-client", "front-proxy-ca", f"{PKI_DIR}/front-proxy-client.crt",
     "certificate for the front proxy client"),
    ("scheduler.conf", "ca", "/etc/kubernetes/scheduler.conf",
     "certificate embedded in the kubeconfig file for the scheduler manager to use"),
    ("super-admin.conf", "ca", "/etc/kubernetes/super-admin.conf",
     "certificate embedded in the kubeconfig file for the super-admin"),
)  # fmt: skip
CA_CERTS = (("ca", f"{PKI_DIR}/ca.crt"), ("etcd-ca", f"{PKI_DIR}/etcd/ca.crt"),
            ("front-proxy-ca", f"{PKI_DIR}/front-proxy-ca.crt"))  # fmt: skip
DAY = 86400
# CertificateValidityPeriod and CACertificateValidityPeriod (cmd/kubeadm/app/constants/constants.go).
LEAF_VALIDITY = 365 * DAY
CA_VALIDITY = 10 * 365 * DAY
# The flags of check-expiration and renew (addExpirationFlags/addRenewFlags in cmd/kubeadm/app/cmd/certs.go,
# plus the global --rootfs and -v); check-expiration also has kubeadm's output flags.
CERTS_VALUE_FLAGS = ("config", "cert-dir", "kubeconfig", "rootfs", "v")
OUTPUT_FORMATS = ("text", "json", "yaml")
# FetchInitConfigurationFromCluster's first line (cmd/kubeadm/app/util/config/cluster.go).
READING_CONFIG = '[{prefix}] Reading configuration from the "kubeadm-config" ConfigMap in namespace "kube-system"...'


def certs_args(args: list[str], *, output: bool, command: str) -> dict[str, str]:
    """Parse like cobra/pflag: unknown flags and positional arguments (cobra.NoArgs) are errors.
    ``-o``/``--output`` (``--experimental-output`` is its older name) came with the output API
    v1alpha3 in v1.30 (kubernetes/kubernetes#123372)."""
    values: dict[str, str] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        name, _, inline = arg.lstrip("-").partition("=")
        if not arg.startswith("-"):
            raise StandinError(f'unknown command "{arg}" for "kubeadm certs {command}"')
        if arg.startswith("-") and not arg.startswith("--") and len(name) > 1 and name[0] == "o":
            name, inline = "o", name[1:].lstrip("=")  # -ojson
        if name in ("o", "output", "experimental-output") and output:
            name = "output"
        elif name not in CERTS_VALUE_FLAGS:
            shown = f"-{name}" if not arg.startswith("--") else f"--{name}"
            kind = "shorthand flag: '" + name + "' in " + shown if not arg.startswith("--") else "flag: " + shown
            raise StandinError(f"unknown {kind}")
        if inline or "=" in arg:
            values[name] = inline
        elif i + 1 < len(args):
            values[name] = args[i + 1]
            i += 1
        else:
            raise StandinError(f"flag needs an argument: {arg}")
        i += 1
    return values


def cert_state() -> dict[str, float]:
    path = state_dir() / "cert-expiry.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def expiry_overrides(env: dict[str, str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in (env.get("STANDIN_CERT_EXPIRES_IN_DAYS") or "").split(","):
        if item.strip():
            name, days = item.split("=", 1)
            out[name.strip()] = float(days)
    return out


def not_after(path: Path, validity: int) -> float:
    """A real PEM certificate's notAfter; for the stand-in's placeholders, the file's time plus
    kubeadm's validity period (the certificate was "signed" when its file was written)."""
    if path.suffix == ".crt" and b"-----BEGIN CERTIFICATE-----" in path.read_bytes():
        end = openssl("x509", "-noout", "-enddate", "-in", str(path)).decode().strip().split("=", 1)[1]
        return time.mktime(time.strptime(end.replace(" GMT", ""), "%b %d %H:%M:%S %Y")) - time.timezone
    return path.stat().st_mtime + validity


def rfc3339(moment: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment))


def expiration_info(env: dict[str, str]) -> dict[str, Any]:
    """fetchCertificateExpirationInfo in cmd/kubeadm/app/cmd/certs.go, as the output API's
    CertificateExpirationInfo (cmd/kubeadm/app/apis/output/v1alpha3/types.go)."""
    now = time.time()
    renewed, overrides = cert_state(), expiry_overrides(env)
    certificates = []
    for name, ca, file, _ in RENEWABLE_CERTS:
        path = at(file)
        if not path.exists():
            certificates.append({"name": name, "expirationDate": None, "residualTime": 0,
                                 "externallyManaged": False, "missing": True})  # fmt: skip
            continue
        end = renewed.get(name) or (
            now + overrides[name] * DAY if name in overrides else not_after(path, LEAF_VALIDITY)
        )
        certificates.append({"name": name, "expirationDate": rfc3339(end), "residualTime": int(end - now),
                             "externallyManaged": False, "caName": ca, "missing": False})  # fmt: skip
    authorities = []
    for name, file in CA_CERTS:
        path = at(file)
        if not path.exists():
            authorities.append({"name": name, "expirationDate": None, "residualTime": 0,
                                "externallyManaged": False, "missing": True})  # fmt: skip
            continue
        end = not_after(path, CA_VALIDITY)
        authorities.append({"name": name, "expirationDate": rfc3339(end), "residualTime": int(end - now),
                            "externallyManaged": False, "missing": False})  # fmt: skip
    return {"kind": "CertificateExpirationInfo", "apiVersion": "output.kubeadm.k8s.io/v1alpha3",
            "certificates": certificates, "certificateAuthorities": authorities}  # fmt: skip


def short_duration(seconds: int) -> str:
    """duration.ShortHumanDuration (k8s.io/apimachinery/pkg/util/duration), as the text printer uses it."""
    if seconds < -1:
        return "<invalid>"
    if seconds < 60:
        return f"{max(seconds, 0)}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 48 * 3600:
        return f"{seconds // 3600}h"
    if seconds < 365 * DAY:
        return f"{seconds // DAY}d"
    return f"{seconds // (365 * DAY)}y"


def print_expiration_text(info: dict[str, Any]) -> None:
    """certTextPrinter.PrintObj in cmd/kubeadm/app/cmd/certs.go (a tabwriter with padding 3)."""

    def table(rows: list[list[str]]) -> None:
        widths = [max(len(r[i]) for r in rows if len(r) > i + 1) + 3 for i in range(len(rows[0]) - 1)]
        for row in rows:
            print("".join(cell.ljust(widths[i]) if i < len(row) - 1 else cell for i, cell in enumerate(row)).rstrip())

    def when(entry: dict[str, Any]) -> str:
        return time.strftime("%b %d, %Y %H:%M UTC", time.strptime(entry["expirationDate"], "%Y-%m-%dT%H:%M:%SZ"))

    rows = [["CERTIFICATE", "EXPIRES", "RESIDUAL TIME", "CERTIFICATE AUTHORITY", "EXTERNALLY MANAGED"]]
    for c in info["certificates"]:
        rows.append([f"!MISSING! {c['name']}", "", "", "", ""] if c["missing"] else
                    [c["name"], when(c), short_duration(c["residualTime"]), c["caName"], "no"])  # fmt: skip
    table(rows)
    print()
    rows = [["CERTIFICATE AUTHORITY", "EXPIRES", "RESIDUAL TIME", "EXTERNALLY MANAGED"]]
    for c in info["certificateAuthorities"]:
        rows.append([f"!MISSING! {c['name']}", "", "", ""] if c["missing"] else
                    [c["name"], when(c), short_duration(c["residualTime"]), "no"])  # fmt: skip
    table(rows)


def renew_certificate(name: str, file: str, long_name: str) -> None:
    """RenewUsingLocalCA: a new certificate with the old one's subject and SANs, valid for a year, written
    over the old file (a kubeconfig keeps its other fields; only its client certificate changes)."""
    path = at(file)
    now = time.time()
    if path.suffix == ".conf":
        import yaml  # noqa: PLC0415

        config = yaml.safe_load(path.read_text(encoding="utf-8"))
        import base64  # noqa: PLC0415 - see the note at the imports

        renewed = base64.b64encode(f"kgen stand-in certificate renewed at {rfc3339(now)}\n".encode()).decode()
        config["users"][0]["user"]["client-certificate-data"] = renewed
        path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    else:
        path.write_text(f"# kgen stand-in placeholder for {file}, renewed at {rfc3339(now)}\n", encoding="utf-8")
    state = cert_state()
    state[name] = now + LEAF_VALIDITY
    (state_dir() / "cert-expiry.json").write_text(json.dumps(state) + "\n", encoding="utf-8")
    print(f"{long_name} renewed")


def cmd_certs(rest: list[str], env: dict[str, str]) -> int:
    """`kubeadm certs check-expiration` and `kubeadm certs renew <name>|all` (cmd/kubeadm/app/cmd/certs.go).
    Without --config both read the ClusterConfiguration from the cluster through admin.conf
    (getInternalCfg), and fall back to the defaults when that fails."""
    sub = rest[0]
    if sub == "check-expiration":
        values = certs_args(rest[1:], output=minor_of(version(env)) >= 30, command=sub)
        fmt = values.get("output", "text")
        if fmt not in OUTPUT_FORMATS:
            raise StandinError(
                "could not construct output printer: unable to match a printer suitable for the output format "
                f'"{fmt}", allowed formats are: json,jsonpath,jsonpath-as-json,jsonpath-file,text,yaml'
            )
        info = expiration_info(env)
        if fmt == "json":  # printers.JSONPrinter: four-space indentation
            print(json.dumps(info, indent=4))
        elif fmt == "yaml":
            import yaml  # noqa: PLC0415

            print(yaml.safe_dump(info, sort_keys=False), end="")
        else:
            print(READING_CONFIG.format(prefix="check-expiration"))
            print()
            print_expiration_text(info)
        return 0
    # renew
    if len(rest) < 2 or rest[1].startswith("-"):
        raise StandinError('"kubeadm certs renew" requires a subcommand: all or the name of a certificate')
    target = rest[1]
    names = [c[0] for c in RENEWABLE_CERTS]
    if target != "all" and target not in names:
        raise StandinError(f'unknown command "{target}" for "kubeadm certs renew"')
    certs_args(rest[2:], output=False, command=f"renew {target}")
    print(READING_CONFIG.format(prefix="renew"))
    print()
    if env.get("STANDIN_CERTS_RENEW_FAIL") == "1":
        raise StandinError(f"failure loading {PKI_DIR}/ca.key: couldn't load the private key file")
    for name, _, file, long_name in RENEWABLE_CERTS:
        if target not in ("all", name):
            continue
        if not at(file).exists():
            print(f"MISSING! {long_name}")
            continue
        renew_certificate(name, file, long_name)
    if target == "all":
        print(
            "\nDone renewing certificates. You must restart the kube-apiserver, kube-controller-manager, "
            "kube-scheduler and etcd, so that they can use the new certificates."
        )
    return 0


def main(argv: list[str]) -> int:
    args = argv[1:]
    env = load_env()
    try:
        rc = dispatch(args, env)
    except PhaseError as exc:
        print(exc, file=sys.stderr)
        print("To see the stack trace of this error execute with --v=5 or higher", file=sys.stderr)
        rc = 1
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
