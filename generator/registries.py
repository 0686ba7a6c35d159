"""Restricted networks: registry mirrors (``spec.registries``) and private CAs
(``spec.trustedCAs``), from the config to the files every node and golden image gets.

Image names never change: a node still asks for ``registry.k8s.io/pause:3.10``, and the runtime
sends the request to the mirrors first. So kubeadm's image list, the CNI's manifests and the bake's
pre-pulled images all stay valid.

containerd reads one ``hosts.toml`` per upstream registry under its registry ``config_path``
(containerd docs/hosts.md at v1.6.20 and v2.1.5: the ``config_path`` key sits in
``[plugins."io.containerd.grpc.v1.cri".registry]`` for config version 2 (containerd 1.x) and in
``[plugins."io.containerd.cri.v1.images".registry]`` for version 3 (containerd 2.x)). CRI-O reads
``[[registry]]`` tables with ``[[registry.mirror]]`` from /etc/containers/registries.conf.d/
(containers/image docs/containers-registries.conf.5.md, "NAMESPACED [[registry]] SETTINGS").

Pull credentials never travel in user-data: the config names a root-only file on the node
(``registries.credentialsFile``, Docker ``config.json`` / containers-auth.json format, keyed by
mirror host). CRI-O reads it as ``global_auth_file`` (cri-o docs/crio.conf.5.md, [crio.image]).
containerd's only per-host credential store is the CRI plugin's ``registry.configs."<host>".auth``
(docs/cri/registry.md at v2.1.5: deprecated but kept "until a suitable secret management
alternative is available"; hosts.toml has no credentials); the configure phase turns the file into a
0600 TOML that config.toml ``imports`` (containerd docs/man/containerd-config.toml.5.md, ``imports``).
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlsplit

import tomli_w

from generator import __version__, guest
from generator.records import record
from generator.settings import Mirror, Registries

CERTS_D = guest.CONTAINERD_CERTS_D
CRIO_MIRRORS_PATH = guest.CRIO_MIRRORS_PATH
CRIO_AUTH_DROPIN_PATH = guest.CRIO_REGISTRY_AUTH_DROPIN
# containerd: the CRI registry auth TOML the configure phase writes from credentialsFile (0600).
CONTAINERD_AUTH_PATH = guest.CONTAINERD_REGISTRY_AUTH
# The OS trust stores: update-ca-certificates reads *.crt under /usr/local/share/ca-certificates
# (Debian ca-certificates, man update-ca-certificates); update-ca-trust reads the anchors folder
# (EL ca-certificates, man update-ca-trust).
TRUST_STORE = {
    "debian": ("/usr/local/share/ca-certificates", "update-ca-certificates"),
    "rhel": ("/etc/pki/ca-trust/source/anchors", "update-ca-trust"),
}
# CRI section per containerd major version (docs/hosts.md, "CRI").
CRI_REGISTRY_PLUGIN = {1: "io.containerd.grpc.v1.cri", 2: "io.containerd.cri.v1.images"}


# --- files -------------------------------------------------------------------------------------------


@record
class NodeFile:
    """A file written on the node."""

    path: str
    content: str
    mode: str


def trusted_ca_paths(registries: Registries, os_family: Literal["debian", "rhel"]) -> list[str]:
    folder, _ = TRUST_STORE[os_family]
    return [f"{folder}/kgen-{n}.crt" for n in range(1, len(registries.trusted_cas) + 1)]


def trusted_ca_files(registries: Registries, os_family: Literal["debian", "rhel"]) -> list[NodeFile]:
    paths = trusted_ca_paths(registries, os_family)
    return [NodeFile(p, _pem_text(pem), "0644") for p, pem in zip(paths, registries.trusted_cas, strict=True)]


def _pem_text(pem: str) -> str:
    return pem.strip() + "\n"


def hosts_toml(mirror: Mirror, trusted: list[str]) -> str:
    """``/etc/containerd/certs.d/<registry>/hosts.toml``: the mirrors in order, then ``server`` (the
    upstream) as the fallback (docs/hosts.md: "If all host(s) are tried then server will be used").
    ``ca`` lists the registry's own CA and kgen's trusted CAs; containerd adds them to the system pool."""
    cas = ([mirror.ca_path] if mirror.ca else []) + trusted
    hosts: dict[str, Any] = {}
    for endpoint in mirror.endpoints:
        host: dict[str, Any] = {"capabilities": ["pull", "resolve"]}
        if cas and endpoint.startswith("https://"):
            host["ca"] = cas
        if mirror.skip_verify:
            host["skip_verify"] = True
        hosts[endpoint] = host
    data = {"server": mirror.server, "host": hosts}
    return f"# Written by kgen {__version__}: mirrors of {mirror.registry}. Re-render instead of editing.\n" + (
        tomli_w.dumps(data)
    )


def containerd_files(registries: Registries, os_family: Literal["debian", "rhel"]) -> list[NodeFile]:
    trusted = trusted_ca_paths(registries, os_family)
    out: list[NodeFile] = []
    for mirror in registries.mirrors:
        if mirror.ca:
            out.append(NodeFile(mirror.ca_path, _pem_text(mirror.ca), "0644"))
        out.append(NodeFile(f"{CERTS_D}/{mirror.registry}/hosts.toml", hosts_toml(mirror, trusted), "0644"))
    return out


def _location(endpoint: str) -> str:
    parts = urlsplit(endpoint)
    return parts.netloc + parts.path.rstrip("/")


def crio_mirrors_conf(registries: Registries) -> str:
    """The registries.conf.d drop-in: one ``[[registry]]`` per upstream, its mirrors in order. A mirror
    is ``insecure`` when it is plain http or skipVerify is set (containers-registries.conf.5.md:
    "insecure: true or false. By default, container runtimes require TLS ...")."""
    tables = [
        {
            "prefix": m.registry,
            "location": m.registry,
            "mirror": [
                {"location": _location(e), "insecure": m.skip_verify or e.startswith("http://")} for e in m.endpoints
            ],
        }
        for m in registries.mirrors
    ]
    return f"# Written by kgen {__version__}. Re-render instead of editing.\n" + tomli_w.dumps({"registry": tables})


def crio_files(registries: Registries) -> list[NodeFile]:
    out: list[NodeFile] = []
    if registries.mirrors:
        out.append(NodeFile(CRIO_MIRRORS_PATH, crio_mirrors_conf(registries), "0644"))
    for mirror in registries.mirrors:
        if mirror.ca:  # containers-certs.d(5): *.crt under /etc/containers/certs.d/<host[:port]>/ are CAs
            for endpoint in mirror.endpoints:
                netloc = urlsplit(endpoint).netloc
                out.append(NodeFile(f"/etc/containers/certs.d/{netloc}/kgen-ca.crt", _pem_text(mirror.ca), "0644"))
    if registries.credentials_file:
        text = tomli_w.dumps({"crio": {"image": {"global_auth_file": registries.credentials_file}}})
        out.append(NodeFile(CRIO_AUTH_DROPIN_PATH, f"# Written by kgen {__version__}.\n" + text, "0644"))
    return out


def containerd_registry_section(registries: Registries, major: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """(top-level keys, the CRI registry table) for config.toml: ``config_path`` always (so hosts.toml
    files work), and ``imports`` of the credentials TOML when a credentials file is named."""
    top: dict[str, Any] = {"imports": [CONTAINERD_AUTH_PATH]} if registries.credentials_file else {}
    return top, {"config_path": CERTS_D}


def cri_registry_plugin(major: int) -> str:
    return CRI_REGISTRY_PLUGIN[major]


# --- the configure phase ---------------------------------------------------------------------------------


def configure_context(
    registries: Registries, os_family: Literal["debian", "rhel"], files: list[NodeFile]
) -> dict[str, Any]:
    """What templates/prepare/_registries.sh.j2 needs; ``files`` are the runtime's (its plugin's
    ``registry_files``). Every file is written by the configure phase, so install-mode nodes and golden
    images (the bake runs the same script) get the same bytes."""
    folder, update_command = TRUST_STORE[os_family]
    for f in files:  # the files travel in quoted heredocs: a line equal to the terminator would end one early
        if any(line == "KGEN_EOF" for line in f.content.splitlines()):
            raise ValueError(f"{f.path}: a line equals the heredoc terminator")
    return {
        "active": registries.active,
        "trust_folder": folder,
        "trust_update": update_command,
        "trusted_cas": trusted_ca_files(registries, os_family),
        "files": files,
        "credentials_file": registries.credentials_file,
    }
