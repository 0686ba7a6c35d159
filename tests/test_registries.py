"""Registry mirrors and private CAs (issue 15), with the real tools: a pull through Debian's
docker-registry served to Debian's containerd/ctr with kgen's rendered config.toml, certs.d and CA
file; ``containerd config dump`` of the rendered 1.x config; the 2.x layout key by key; and the
mirror-filling script against shellcheck and the bake's pre-pull list. Loopback only."""

from __future__ import annotations

import datetime
import gzip
import hashlib
import io
import ipaddress
import json
import socket
import subprocess
import tarfile
import time
import tomllib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from generator import images, mirror, model, prepare, registries, settings
from generator.emit import packer
from generator.load import load
from generator.runtimes import containerd as containerd_runtime
from generator.validate import validate
from tests.conftest import require_tool, shellcheck

EXAMPLE = Path(__file__).parent / "examples" / "valid" / "registry-mirrors" / "cluster.yaml"
IMAGE = "kgen-mirror-test"
TAG = "1"


def example_cluster() -> model.Cluster:
    return model.build(load(EXAMPLE))


# --- a test CA and a server certificate for 127.0.0.1 ------------------------------------------------


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_pki(folder: Path) -> tuple[str, Path, Path]:
    """(CA PEM, server cert path, server key path)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("kgen test mirror CA"))
        .issuer_name(_name("kgen test mirror CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_path, key_path = folder / "server.crt", folder / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return ca.public_bytes(serialization.Encoding.PEM).decode(), cert_path, key_path


# --- a tiny OCI image layout --------------------------------------------------------------------------


def _blob(layout: Path, data: bytes) -> tuple[str, int]:
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256" / digest).write_bytes(data)
    return f"sha256:{digest}", len(data)


def make_oci_layout(layout: Path) -> None:
    """One layer (a single text file), its config, the manifest and the index (OCI image-spec)."""
    (layout / "blobs" / "sha256").mkdir(parents=True)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        content = b"served by the kgen test mirror\n"
        info = tarfile.TarInfo("hello.txt")
        info.size, info.mode, info.mtime = len(content), 0o644, 0
        tar.addfile(info, io.BytesIO(content))
    diff_id = "sha256:" + hashlib.sha256(raw.getvalue()).hexdigest()
    layer_digest, layer_size = _blob(layout, gzip.compress(raw.getvalue(), mtime=0))
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }
    config_digest, config_size = _blob(layout, json.dumps(config).encode())
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": config_size,
        },
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_digest, "size": layer_size}
        ],
    }
    manifest_digest, manifest_size = _blob(layout, json.dumps(manifest).encode())
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": manifest_digest,
                "size": manifest_size,
                "annotations": {"org.opencontainers.image.ref.name": TAG},
            }
        ],
    }
    (layout / "index.json").write_text(json.dumps(index))
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(check: object, what: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    for _ in range(300):  # a bounded wait for a daemon to come up, not a timing assertion
        if callable(check) and check():
            return
        if proc.poll() is not None:
            pytest.fail(f"{what} exited: {log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.1)
    pytest.fail(f"{what} did not come up: {log.read_text(errors='replace')[-2000:]}")


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def daemons(tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_pull_through_mirror_with_kgen_files(tmp_path: Path, daemons: list[subprocess.Popen[bytes]]) -> None:
    registry_bin = require_tool("docker-registry", reason="Debian package docker-registry")
    skopeo = require_tool("skopeo", reason="Debian package skopeo")
    containerd = require_tool("containerd", reason="Debian package containerd")
    ctr = require_tool("ctr", reason="Debian package containerd")
    unshare = require_tool("unshare", reason="util-linux")
    ca_pem, server_cert, server_key = make_pki(tmp_path)
    port = _free_port()
    endpoint = f"https://127.0.0.1:{port}"

    # kgen's side: the cluster with the test CA in trustedCAs and the mirror for docker.io.
    base = example_cluster()
    cluster = replace(
        base,
        registries=settings.Registries(
            mirrors=(settings.Mirror("docker.io", (endpoint,), ca=None, skip_verify=False),),
            trusted_cas=(ca_pem,),
        ),
    )
    trust = tmp_path / "trust"  # stands for /usr/local/share/ca-certificates on the node
    certs_d = tmp_path / "certs.d"
    for f in registries.trusted_ca_files(cluster.registries, cluster.os_family):
        assert f.path.startswith("/usr/local/share/ca-certificates/")
        trust.mkdir(exist_ok=True)
        (trust / Path(f.path).name).write_text(f.content)
    for f in registries.containerd_files(cluster.registries, cluster.os_family):
        target = certs_d / Path(f.path).relative_to(registries.CERTS_D)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(f.content)
    hosts = tomllib.loads((certs_d / "docker.io" / "hosts.toml").read_text())
    assert hosts["server"] == "https://registry-1.docker.io"
    assert hosts["host"][endpoint]["ca"] == ["/usr/local/share/ca-certificates/kgen-1.crt"]

    # The mirror: Debian's docker-registry on loopback, TLS from the test CA.
    registry_log = tmp_path / "registry.log"
    (tmp_path / "registry.yml").write_text(
        json.dumps(  # YAML is a superset of JSON
            {
                "version": 0.1,
                "log": {"level": "info", "accesslog": {"disabled": False}},
                "storage": {"filesystem": {"rootdirectory": str(tmp_path / "registry-data")}},
                "http": {
                    "addr": f"127.0.0.1:{port}",
                    "tls": {"certificate": str(server_cert), "key": str(server_key)},
                },
            }
        )
    )
    with registry_log.open("wb") as out:
        daemons.append(
            subprocess.Popen([registry_bin, "serve", str(tmp_path / "registry.yml")], stdout=out, stderr=out)
        )
    _wait_for(lambda: _listening(port), "docker-registry", daemons[-1], registry_log)

    # Fill it with a locally built image under the path that stands for docker.io/library/<name>.
    layout = tmp_path / "layout"
    make_oci_layout(layout)
    push_certs = tmp_path / "push-certs"
    push_certs.mkdir()
    (push_certs / "ca.crt").write_text(ca_pem)
    subprocess.run(
        [
            skopeo,
            "copy",
            "--dest-cert-dir",
            str(push_certs),
            f"oci:{layout}:{TAG}",
            f"docker://127.0.0.1:{port}/library/{IMAGE}:{TAG}",
        ],
        check=True,
        capture_output=True,
    )

    # containerd in a private root, state and socket, with kgen's rendered 1.x config.toml, its
    # config_path pointed at the rendered certs.d copy.
    config = tomllib.loads(containerd_runtime.containerd_config(cluster, 1).split("\n", 1)[1])
    assert config["plugins"]["io.containerd.grpc.v1.cri"]["registry"]["config_path"] == registries.CERTS_D
    rendered = containerd_runtime.containerd_config(cluster, 1).replace(
        f'config_path = "{registries.CERTS_D}"', f"config_path = {json.dumps(str(certs_d))}"
    )
    (tmp_path / "config.toml").write_text(rendered)
    sock = tmp_path / "containerd.sock"
    containerd_log = tmp_path / "containerd.log"
    with containerd_log.open("wb") as out:
        daemons.append(
            subprocess.Popen(
                [
                    containerd,
                    "--config",
                    str(tmp_path / "config.toml"),
                    "--root",
                    str(tmp_path / "root"),
                    "--state",
                    str(tmp_path / "state"),
                    "--address",
                    str(sock),
                ],
                stdout=out,
                stderr=out,
            )
        )
    _wait_for(sock.exists, "containerd", daemons[-1], containerd_log)

    # ctr resolves docker.io through the hosts dir and trusts the mirror only through kgen's CA file,
    # seen at the node's path (/usr/local/share/ca-certificates) through a private mount namespace.
    def pull(namespace: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                unshare,
                "--mount",
                "--propagation",
                "private",
                "sh",
                "-c",
                'mount --bind "$1" /usr/local/share/ca-certificates && shift && exec "$@"',
                "sh",
                str(trust),
                ctr,
                "--address",
                str(sock),
                "--namespace",
                namespace,
                "images",
                "pull",
                "--hosts-dir",
                str(certs_d),
                f"docker.io/library/{IMAGE}:{TAG}",
            ],
            check=False,
            capture_output=True,
            text=True,
        )

    pulled = pull("kgen-test")
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    listed = subprocess.run(
        [ctr, "--address", str(sock), "--namespace", "kgen-test", "images", "ls", "-q"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert f"docker.io/library/{IMAGE}:{TAG}" in listed
    log = registry_log.read_text(errors="replace")
    # containerd resolves the tag with HEAD and names the upstream it stands in for (?ns=docker.io)
    assert f"HEAD /v2/library/{IMAGE}/manifests/{TAG}?ns=docker.io" in log, log[-3000:]
    assert f"GET /v2/library/{IMAGE}/blobs/sha256:" in log

    # Without kgen's CA file the same pull fails: the trust really comes from it.
    (trust / "kgen-1.crt").write_text("")
    untrusted = pull("kgen-test-2")
    assert untrusted.returncode != 0


def test_containerd_config_dump_shows_config_path(tmp_path: Path) -> None:
    containerd = require_tool("containerd", reason="Debian package containerd")
    version = subprocess.run([containerd, "--version"], check=True, capture_output=True, text=True).stdout
    assert " 1." in version or " v1." in version, version
    cluster = example_cluster()
    config = tmp_path / "config.toml"
    text = containerd_runtime.containerd_config(cluster, 1)
    # The credentials import exists on a node (the configure phase writes it); here an empty one.
    auth = tmp_path / "auth.toml"
    auth.write_text("version = 2\n")
    config.write_text(text.replace(registries.CONTAINERD_AUTH_PATH, str(auth)))
    dump = subprocess.run(
        [containerd, "--config", str(config), "config", "dump"], check=True, capture_output=True, text=True
    ).stdout
    dumped = tomllib.loads(dump)
    cri = dumped["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["registry"]["config_path"] == "/etc/containerd/certs.d"
    assert cri["sandbox_image"] == cluster.kubernetes.pause_image


def test_containerd_2x_layout_key_by_key() -> None:
    cluster = example_cluster()
    data = tomllib.loads(containerd_runtime.containerd_config(cluster, 2))
    assert data["version"] == 3
    assert data["imports"] == [registries.CONTAINERD_AUTH_PATH]
    images_plugin = data["plugins"]["io.containerd.cri.v1.images"]
    assert images_plugin["registry"] == {"config_path": "/etc/containerd/certs.d"}
    assert images_plugin["pinned_images"] == {"sandbox": cluster.kubernetes.pause_image}
    assert "io.containerd.grpc.v1.cri" not in data["plugins"]


def test_crio_files() -> None:
    cluster = example_cluster()
    files = {f.path: f.content for f in registries.crio_files(cluster.registries)}
    conf = tomllib.loads(files[registries.CRIO_MIRRORS_PATH])
    by_prefix = {r["prefix"]: r for r in conf["registry"]}
    assert by_prefix["registry.k8s.io"]["mirror"] == [
        {"location": "mirror.example.internal:5000", "insecure": False},
        {"location": "mirror-2.example.internal", "insecure": False},
    ]
    auth = tomllib.loads(files[registries.CRIO_AUTH_DROPIN_PATH])
    assert auth == {"crio": {"image": {"global_auth_file": "/etc/kgen/registry-auth.json"}}}
    assert "/etc/containers/certs.d/quay-mirror.example.internal/kgen-ca.crt" in files


def test_configure_phase_and_bake_carry_the_files(tmp_path: Path) -> None:
    cluster = example_cluster()
    script = prepare.configure_script(cluster)
    assert "update-ca-certificates" in script
    assert "/etc/containerd/certs.d/docker.io/hosts.toml" in script
    bake = packer.packer_files(cluster)
    assert bake[f"{packer.PACKER_FOLDER}/{packer.SCRIPTS['configure']}"].content == script.encode()
    shellcheck({"node-configure.sh": script}, tmp_path)


def test_mirror_script_shellcheck_and_prepull_list(tmp_path: Path) -> None:
    cluster = example_cluster()
    script = mirror.mirror_script(cluster, "mirror.example.internal:5000")
    shellcheck({"mirror.sh": script}, tmp_path)
    lines = [line.split() for line in script.splitlines() if line.startswith("skopeo copy")]
    sources = [words[3].removeprefix("docker://") for words in lines]
    assert sources == packer.baked_images(cluster) == list(images.first_boot_images(cluster).all)
    assert ("docker://mirror.example.internal:5000/coredns/coredns:v1.12.1") in {w[4] for w in lines}
    assert script.startswith("#!/usr/bin/env bash\n") and "set -euo pipefail\n" in script


def test_skip_verify_is_warned_about_not_refused(tmp_path: Path) -> None:
    """skipVerify is possible (a lab mirror with a self-signed certificate) but warned about, at its key,
    and the mirror then carries ``skip_verify = true`` (containerd) / ``insecure = true`` (CRI-O)."""
    text = EXAMPLE.read_text(encoding="utf-8")
    marker = "      registry.k8s.io:\n        endpoints:\n"
    assert marker in text
    config = tmp_path / "cluster.yaml"
    config.write_text(
        text.replace(marker, "      registry.k8s.io:\n        skipVerify: true\n        endpoints:\n"), "utf-8"
    )
    problems = validate(load(config))
    assert [(p.severity, p.path) for p in problems] == [
        ("warning", "spec.registries.mirrors.registry.k8s.io.skipVerify")
    ]
    assert "TLS verification is off" in problems[0].message
    cluster = model.build(load(config))
    (mirror_entry,) = [m for m in cluster.registries.mirrors if m.registry == "registry.k8s.io"]
    hosts = tomllib.loads(registries.hosts_toml(mirror_entry, []).split("\n", 1)[1])
    assert all(host["skip_verify"] is True for host in hosts["host"].values())
    crio = tomllib.loads(registries.crio_mirrors_conf(cluster.registries).split("\n", 1)[1])
    (table,) = [t for t in crio["registry"] if t["prefix"] == "registry.k8s.io"]
    assert all(m["insecure"] is True for m in table["mirror"])
