"""kgen's etcd backup and restore scripts against a real etcd: Debian's etcd-server and etcd-client
(etcd 3.4) on loopback, with TLS certificates signed by the fixture bundle's etcd CA, as kubeadm's
would be.

- With the member stopped, the backup script ends by itself with a failure (guarded by `timeout 90`),
  leaves no temporary file and deletes no snapshot (etcd-io/etcd#10298: `etcdctl snapshot save` alone
  would wait forever).
- A round trip: a key is written, the backup script snapshots it, the restore step
  (kgen-etcd-restore, as `kgen restore` renders it) restores the snapshot into a fresh data directory,
  etcd starts on it and the key reads back; the member carries the node's name and peer URL.

ETCDUTL SHIM: Debian ships etcd 3.4, which has no etcdutl. The scripts' etcdutl calls (`snapshot
status` and `snapshot restore`, same arguments and flags in 3.4's etcdctl) go to a labelled stand-in
that runs `ETCDCTL_API=3 etcdctl "$@"`. The production scripts use the pinned etcdutl release."""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from generator import etcd_backup, etcd_restore, model
from generator.etcd_backup import EtcdTools
from generator.load import Document
from generator.settings import EtcdBackup
from tests.conftest import EXAMPLES, fixture_bundle, parse_yaml, require_tool

EXAMPLE = EXAMPLES / "valid" / "openstack-ha-kit" / "cluster.yaml"

ETCDUTL_SHIM = """#!/bin/sh
# TEST SHIM, not kgen's: Debian ships etcd 3.4, which has no etcdutl. etcdctl 3.4's `snapshot status`
# and `snapshot restore` take the same arguments and flags as etcdutl's, so the scripts' etcdutl calls
# are mapped to them here.
exec env ETCDCTL_API=3 {etcdctl} "$@"
"""


def cluster() -> model.Cluster:
    data = parse_yaml(EXAMPLE.read_text(encoding="utf-8"))
    return model.build(Document(file="cluster.yaml", data=data))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def etcd_pki(folder: Path) -> Path:
    """kubeadm's etcd file names (cmd/kubeadm/app/constants/constants.go), signed by the fixture
    bundle's etcd CA: server (127.0.0.1), and the healthcheck client the backup uses."""
    bundle = fixture_bundle("demo")
    ca_cert = x509.load_pem_x509_certificate(bundle.etcd_ca.certificate.encode())
    ca_key = serialization.load_pem_private_key(bundle.etcd_ca.key.encode(), password=None)
    folder.mkdir(parents=True)
    (folder / "ca.crt").write_bytes(_pem(ca_cert))
    now = datetime.datetime.now(datetime.UTC)
    for name, usage, sans in (
        ("server", ExtendedKeyUsageOID.SERVER_AUTH, [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
        ("healthcheck-client", ExtendedKeyUsageOID.CLIENT_AUTH, []),
    ):
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"kgen-test-{name}")]))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
        (folder / f"{name}.crt").write_bytes(_pem(cert))
        (folder / f"{name}.key").write_bytes(_key_pem(key))
        (folder / f"{name}.key").chmod(0o600)
    return folder


@dataclass
class Etcd:
    """One etcd 3.4 member on loopback, TLS for clients (client certificates required)."""

    binary: str
    etcdctl: str
    pki: Path
    data_dir: Path
    name: str
    log: Path
    client_port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"https://127.0.0.1:{self.client_port}"

    def start(self, *, restored: bool = False) -> None:
        self.client_port, peer_port = free_port(), free_port()
        peer = f"http://127.0.0.1:{peer_port}"
        argv = [
            self.binary,
            f"--name={self.name}",
            f"--data-dir={self.data_dir}",
            f"--listen-client-urls={self.endpoint}",
            f"--advertise-client-urls={self.endpoint}",
            f"--listen-peer-urls={peer}",
            f"--cert-file={self.pki}/server.crt",
            f"--key-file={self.pki}/server.key",
            f"--trusted-ca-file={self.pki}/ca.crt",
            "--client-cert-auth=true",
            "--listen-metrics-urls=",
        ]
        if not restored:  # a restored data dir already holds its membership
            argv += [f"--initial-advertise-peer-urls={peer}", f"--initial-cluster={self.name}={peer}"]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        for _ in range(150):  # bounded wait for the member to answer (not a timing assertion)
            if self.process.poll() is not None:
                pytest.fail(f"etcd exited with {self.process.returncode}:\n{self.log.read_text()[-3000:]}")
            if self.ctl("endpoint", "health", check=False).returncode == 0:
                return
            time.sleep(0.2)
        pytest.fail(f"etcd did not become healthy:\n{self.log.read_text()[-3000:]}")

    def ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [
                self.etcdctl,
                f"--endpoints={self.endpoint}",
                f"--cacert={self.pki}/ca.crt",
                f"--cert={self.pki}/healthcheck-client.crt",
                f"--key={self.pki}/healthcheck-client.key",
                "--dial-timeout=2s",
                "--command-timeout=5s",
                *args,
            ],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "ETCDCTL_API": "3"},
            timeout=30,
        )
        if check:
            assert result.returncode == 0, result.stdout + result.stderr
        return result

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=20)
        self.process = None


@dataclass
class Setup:
    tmp: Path
    pki: Path
    tools: Path
    etcd: Etcd
    backups: Path
    node: str

    def backup_script(
        self,
        keep: int = 3,
        *,
        dial_timeout: int = etcd_backup.DIAL_TIMEOUT_SECONDS,
        command_timeout: int = etcd_backup.COMMAND_TIMEOUT_SECONDS,
    ) -> Path:
        c = cluster()
        node = c.first_control_plane
        settings = EtcdBackup(True, "daily", str(self.backups), keep)
        script = self.tmp / "kgen-etcd-backup"
        script.write_text(
            etcd_backup.backup_script(
                c,
                settings,
                node,
                tools_path=str(self.tools),
                pki_dir=str(self.pki),
                endpoint=self.etcd.endpoint,
                dial_timeout=dial_timeout,
                command_timeout=command_timeout,
            ),
            encoding="utf-8",
        )
        return script

    def snapshots(self) -> list[Path]:
        return sorted(p for p in self.backups.iterdir() if p.name.startswith(f"etcd-snapshot-{self.node}-"))


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    binary = require_tool("etcd", reason="Debian package etcd-server")
    etcdctl = require_tool("etcdctl", reason="Debian package etcd-client")
    require_tool("timeout", reason="coreutils")
    pki = etcd_pki(tmp_path / "pki")
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "etcdctl").symlink_to(etcdctl)
    (tools / "etcdutl").write_text(ETCDUTL_SHIM.format(etcdctl=etcdctl), encoding="utf-8")
    (tools / "etcdutl").chmod(0o755)
    node = cluster().first_control_plane.name
    etcd = Etcd(binary, etcdctl, pki, tmp_path / "etcd-data", node, tmp_path / "etcd.log")
    try:
        yield Setup(tmp_path, pki, tools, etcd, tmp_path / "backups", node)
    finally:
        etcd.stop()


def run(argv: list[str]) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)
    return result, time.monotonic() - started


def test_backup_fails_on_its_own_when_the_member_is_stopped(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    setup.etcd.start()
    # etcdctl's own bounds on the health check, shorter than the defaults (5 s dial, 15 s command) so the
    # stopped member's failure comes within seconds; `timeout` around the check stays the default 30 s.
    script = setup.backup_script(keep=3, dial_timeout=2, command_timeout=3)
    first, _ = run(["bash", str(script)])
    assert first.returncode == 0, first.stderr
    setup.backups.chmod(0o700)
    for day in range(1, 5):  # older snapshots that a failed run must not touch
        (setup.backups / f"etcd-snapshot-{setup.node}-202001{day:02d}T000000Z.db").write_text("old\n")
    before = {p.name: p.read_bytes() for p in setup.backups.iterdir()}
    setup.etcd.stop()

    result, seconds = run(["timeout", "90", "bash", str(script)])
    with capsys.disabled():
        print(f"\n[measured] the backup script failed after {seconds:.1f}s with the member stopped")
    assert result.returncode == 1, result.stderr  # its own failure, not timeout's 124
    assert "FAILED: the etcd member at https://127.0.0.1:" in result.stderr
    assert "is unreachable or unhealthy" in result.stderr
    after = {p.name: p.read_bytes() for p in setup.backups.iterdir()}
    assert after == before
    assert not [p for p in setup.backups.iterdir() if p.name.startswith(".tmp-") or p.name.endswith(".part")]


def test_round_trip_backup_then_restore_into_a_fresh_data_dir(setup: Setup) -> None:
    setup.etcd.start()
    setup.etcd.ctl("put", "/kgen/round-trip", "restored value")
    backup, _ = run(["bash", str(setup.backup_script())])
    assert backup.returncode == 0, backup.stderr
    assert "TOTAL KEYS" in backup.stderr  # etcdutl (the shim) checked it
    [snapshot] = setup.snapshots()
    setup.etcd.stop()

    c = cluster()
    node = c.first_control_plane
    digest = hashlib.sha256(snapshot.read_bytes()).hexdigest()
    restored_dir = setup.tmp / "restored" / "etcd"
    restored_dir.parent.mkdir()
    version = etcd_backup.etcd_tools(c).version
    script = setup.tmp / "kgen-etcd-restore"
    script.write_text(
        etcd_restore.restore_script(
            c,
            node,
            etcd_restore.request(str(snapshot), digest),
            tools=EtcdTools(version=version, url="https://example.invalid/unused", sha256="0" * 64),
            tools_path=str(setup.tools),
            data_dir=str(restored_dir),
            work_dir=str(setup.tmp / "work"),
        ),
        encoding="utf-8",
    )
    restore, _ = run(["bash", str(script)])
    assert restore.returncode == 0, restore.stderr
    assert f"the snapshot's sha256 matches ({digest})" in restore.stderr
    assert (restored_dir / "member" / "snap" / "db").is_file()
    assert restored_dir.stat().st_mode & 0o777 == 0o700
    assert not (setup.tmp / "restored" / "etcd.kgen-restore").exists()
    assert snapshot.is_file()  # the source is only read

    fresh = Etcd(setup.etcd.binary, setup.etcd.etcdctl, setup.pki, restored_dir, node.name, setup.tmp / "etcd2.log")
    try:
        fresh.start(restored=True)
        got = fresh.ctl("get", "/kgen/round-trip", "--print-value-only")
        assert got.stdout.strip() == "restored value"
        members = fresh.ctl("member", "list").stdout
        # kubeadm's member name and peer URL (cmd/kubeadm/app/phases/etcd/local.go): node name, https://<ip>:2380
        assert f", {node.name}, https://{node.ip}:2380," in members, members
    finally:
        fresh.stop()


def test_restore_refuses_a_snapshot_with_another_sha256(setup: Setup) -> None:
    setup.etcd.start()
    backup, _ = run(["bash", str(setup.backup_script())])
    assert backup.returncode == 0, backup.stderr
    [snapshot] = setup.snapshots()
    setup.etcd.stop()
    c = cluster()
    data_dir = setup.tmp / "data" / "etcd"
    script = setup.tmp / "kgen-etcd-restore"
    script.write_text(
        etcd_restore.restore_script(
            c,
            c.first_control_plane,
            etcd_restore.request(str(snapshot), "ab" * 32),
            tools_path=str(setup.tools),
            data_dir=str(data_dir),
            work_dir=str(setup.tmp / "work"),
        ),
        encoding="utf-8",
    )
    result, _ = run(["bash", str(script)])
    assert result.returncode == 1
    assert f"not the expected {'ab' * 32}; nothing was restored" in result.stderr
    assert not data_dir.exists()
    # A file that is not a snapshot fails etcdutl's integrity check, with no sha256 given.
    bogus = setup.tmp / "bogus.db"
    bogus.write_bytes(b"not an etcd snapshot\n" * 100)
    script.write_text(
        etcd_restore.restore_script(
            c,
            c.first_control_plane,
            etcd_restore.request(str(bogus), None),
            tools_path=str(setup.tools),
            data_dir=str(data_dir),
            work_dir=str(setup.tmp / "work"),
        ),
        encoding="utf-8",
    )
    result, _ = run(["bash", str(script)])
    assert result.returncode == 1
    assert "etcdutl snapshot status rejected the snapshot" in result.stderr
    assert not data_dir.exists()
