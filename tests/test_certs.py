"""Certificates: `kgen certs check` on bundles whose CAs are fine, about to expire and expired (its JSON
checked against schemas/kgen-certs-check.schema.json), the renewal timer's files and settings, the units
under `systemd-analyze verify`, the script under shellcheck, and the renewal script run for real in the
sandbox with the kubeadm, crictl and curl stand-ins: what it renews, the restart order, the markers."""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from generator import certs, model, plan, settings
from generator.cli import app
from generator.emit import render
from generator.load import Document
from generator.normalize import with_defaults
from generator.resources import schemas_dir
from generator.secrets import generate_ca
from generator.settings import CertificateRenewal
from generator.validate import validate
from tests.conftest import EXAMPLES, fixture_bundle, parse_yaml, require_tool, shellcheck
from tests.sandbox import Sandbox

runner = CliRunner()
EXAMPLE = EXAMPLES / "valid" / "openstack-ha-kit" / "cluster.yaml"
OUTPUT_SCHEMA = schemas_dir() / "kgen-certs-check.schema.json"
NOW = datetime.datetime.now(datetime.UTC)


def example_data() -> dict[str, Any]:
    data: dict[str, Any] = parse_yaml(EXAMPLE.read_text(encoding="utf-8"))
    return data


def build(data: dict[str, Any]) -> tuple[model.Cluster, CertificateRenewal]:
    cluster = model.build(Document(file="cluster.yaml", data=data))
    return cluster, cluster.certificate_renewal


# --- settings and files ------------------------------------------------------------------------------


def test_defaults_come_from_the_schema() -> None:
    data = example_data()
    data["spec"].pop("certificates", None)
    _, renewal = build(data)
    assert renewal == CertificateRenewal(auto_renew=True, renew_before_days=30, schedule="*-*-* 03:30:00")
    assert renewal == settings.DEFAULT_RENEWAL
    assert settings.certificate_renewal_settings(with_defaults(data)["spec"]) == renewal


def test_files_and_enable_commands_only_for_control_planes() -> None:
    data = example_data()
    data["spec"]["certificates"] = {"renewBeforeDays": 45}
    cluster, renewal = build(data)
    assert renewal.renew_before_days == 45
    first = cluster.first_control_plane
    files = certs.guest_files(cluster, renewal, first)
    assert [(f.path, f.permissions, f.secret) for f in files] == [
        ("/usr/local/sbin/kgen-certs-renew", "0700", False),
        ("/etc/systemd/system/kgen-certs-renew.service", "0644", False),
        ("/etc/systemd/system/kgen-certs-renew.timer", "0644", False),
    ]
    assert "readonly RENEW_BEFORE_DAYS=45\n" in files[0].content
    assert f"readonly READYZ_URL=https://127.0.0.1:{cluster.endpoint_port}/readyz\n" in files[0].content
    assert "readonly COMPONENTS=(kube-apiserver kube-controller-manager kube-scheduler etcd)\n" in files[0].content
    assert certs.enable_commands(renewal, first) == [
        ["systemctl", "daemon-reload"],
        ["systemctl", "enable", "--now", "kgen-certs-renew.timer"],
    ]
    worker = cluster.workers[0]
    assert certs.guest_files(cluster, renewal, worker) == []
    assert certs.enable_commands(renewal, worker) == []
    off = dataclasses.replace(renewal, auto_renew=False)
    assert certs.guest_files(cluster, off, first) == []
    assert certs.enable_commands(off, first) == []


def test_bootstrap_enables_the_timer_on_control_planes_only(tmp_path: Path) -> None:
    cluster, _ = build(example_data())
    cluster_plan = plan.plan(cluster, fixture_bundle(cluster.name))
    for node_plan in cluster_plan.nodes:
        files, script, _ = render.guest_files(cluster_plan, dataclasses.replace(node_plan, phases=()))
        paths = {f.path for f in files}
        if node_plan.node.is_control_plane:
            assert certs.RENEW_SCRIPT in paths
            assert "\n      enable_certificate_renewal\n" in script
            assert "systemctl enable --now kgen-certs-renew.timer" in script
        else:
            assert certs.RENEW_SCRIPT not in paths
            assert "enable_certificate_renewal" not in script


@pytest.mark.parametrize(
    ("certificates", "path", "fragment"),
    [
        ({"renewBeforeDays": 181}, "spec.certificates.renewBeforeDays", "181"),
        ({"renewBeforeDays": 0}, "spec.certificates.renewBeforeDays", "0"),
        ({"schedule": "*-*-* 25:00:00"}, "spec.certificates.schedule", "not a calendar event systemd accepts"),
        ({"schedule": "daily\nExecStart=/bin/sh"}, "spec.certificates.schedule", ""),
        ({"autoRenew": "yes"}, "spec.certificates.autoRenew", ""),
    ],
)
def test_bad_settings_are_refused(certificates: dict[str, Any], path: str, fragment: str) -> None:
    data = example_data()
    data["spec"]["certificates"] = certificates
    found = [p for p in validate(Document(file="cluster.yaml", data=data)) if p.severity == "error"]
    assert any(p.path == path and fragment in p.message for p in found), found


# --- validators --------------------------------------------------------------------------------------


def fake_root(tmp_path: Path, files: list[Any]) -> Path:
    root = tmp_path / "root"
    for f in files:
        target = root / f.path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(f.content, encoding="utf-8")
        target.chmod(int(f.permissions, 8))
    for candidate in (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system")):
        if (candidate / "timers.target").is_file():
            shutil.copytree(candidate, root / "usr" / "lib" / "systemd" / "system", symlinks=True)
            return root
    pytest.skip("no systemd unit folder to verify against")


def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    tool = require_tool("systemd-analyze", reason="Debian package systemd")
    cluster, renewal = build(example_data())
    root = fake_root(tmp_path, certs.guest_files(cluster, renewal, cluster.first_control_plane))
    argv = [tool, "verify", f"--root={root}", certs.SERVICE, certs.TIMER]
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == "", result.stderr
    # The check has teeth: without the script the same units fail.
    (root / certs.RENEW_SCRIPT.lstrip("/")).unlink()
    broken = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert broken.returncode != 0
    assert "kgen-certs-renew" in broken.stderr


def test_script_passes_shellcheck(tmp_path: Path) -> None:
    cluster, renewal = build(example_data())
    script = certs.renew_script(cluster, renewal, cluster.first_control_plane)
    assert "\nset -euo pipefail\n" in script
    shellcheck({"kgen-certs-renew": script}, tmp_path)


# --- kgen certs check --------------------------------------------------------------------------------


def ca_expiring_in(days: int, name: str) -> Any:
    """A CA generated so that it expires ``days`` from now (kgen's CAs are valid for 3650 days)."""
    return generate_ca(name, now=NOW - datetime.timedelta(days=3650 - days))


def setup_config(tmp_path: Path, **cas: Any) -> Path:
    config = tmp_path / "cluster.yaml"
    shutil.copyfile(EXAMPLE, config)
    name = example_data()["metadata"]["name"]
    bundle = dataclasses.replace(fixture_bundle(name), **cas)
    secrets_path = tmp_path / "cluster.secrets.yaml"
    secrets_path.write_text(bundle.to_yaml(), encoding="utf-8")
    secrets_path.chmod(0o600)
    return config


def check_json(config: Path, *args: str) -> tuple[int, dict[str, Any]]:
    result = runner.invoke(app, ["certs", "check", str(config), "-o", "json", *args])
    report: dict[str, Any] = json.loads(result.stdout)
    jsonschema.validate(report, json.loads(OUTPUT_SCHEMA.read_text(encoding="utf-8")))
    return result.exit_code, report


def test_fresh_bundle_is_ok(tmp_path: Path) -> None:
    config = setup_config(
        tmp_path,
        ca=generate_ca("kubernetes"),
        etcd_ca=generate_ca("etcd-ca"),
        front_proxy_ca=generate_ca("front-proxy-ca"),
    )
    code, report = check_json(config)
    assert code == 0
    assert report["status"] == "ok"
    assert report["warnDays"] == 90
    assert report["secrets"] == str(tmp_path / "cluster.secrets.yaml")
    assert [(i["name"], i["bundleKey"], i["status"]) for i in report["items"]] == [
        ("ca", "ca", "ok"),
        ("etcd-ca", "etcdCA", "ok"),
        ("front-proxy-ca", "frontProxyCA", "ok"),
        ("sa", "serviceAccount", "no-expiry"),
    ]
    assert [i["daysLeft"] for i in report["items"][:3]] in ([3649] * 3, [3650] * 3)
    assert report["items"][0]["subject"] == "CN=kubernetes"
    assert report["items"][3]["notAfter"] is None
    text = runner.invoke(app, ["certs", "check", str(config)])
    assert text.exit_code == 0
    assert "sa: service-account signing key is a bare key pair with no expiry date" in text.stdout
    assert "all CAs are valid for more than 90 days" in text.stdout
    assert "PRIVATE KEY" not in text.stdout + json.dumps(report)


def test_a_ca_expiring_within_90_days_warns(tmp_path: Path) -> None:
    config = setup_config(tmp_path, etcd_ca=ca_expiring_in(40, "etcd-ca"))
    code, report = check_json(config)
    assert code == 0  # a warning is not a failure (as for `kgen validate`)
    assert report["status"] == "warning"
    etcd = report["items"][1]
    assert (etcd["name"], etcd["status"]) == ("etcd-ca", "warning")
    assert etcd["daysLeft"] in (39, 40)
    assert [i["status"] for i in report["items"]] == ["ok", "warning", "ok", "no-expiry"]
    text = runner.invoke(app, ["certs", "check", str(config)])
    assert text.exit_code == 0
    assert "warning: the etcd CA (etcd-ca) expires on " in text.stdout
    assert "kubeadm cannot renew a CA" in text.stdout
    assert text.stdout.rstrip().endswith("a CA expires within 90 days")
    # A narrower window does not warn about it.
    code, report = check_json(config, "--warn-days", "30")
    assert (code, report["status"], report["warnDays"]) == (0, "ok", 30)


def test_an_expired_ca_exits_1(tmp_path: Path) -> None:
    config = setup_config(tmp_path, front_proxy_ca=ca_expiring_in(-3, "front-proxy-ca"))
    code, report = check_json(config)
    assert code == 1
    assert report["status"] == "expired"
    assert report["items"][2]["status"] == "expired"
    assert report["items"][2]["daysLeft"] < 0


def test_explicit_secrets_and_missing_bundle(tmp_path: Path) -> None:
    config = setup_config(tmp_path)
    moved = tmp_path / "vault" / "bundle.yaml"
    moved.parent.mkdir()
    (tmp_path / "cluster.secrets.yaml").rename(moved)
    missing = runner.invoke(app, ["certs", "check", str(config)])
    assert missing.exit_code == 1
    assert "no secrets bundle at" in missing.output
    code, report = check_json(config, "--secrets", str(moved))
    assert code == 0
    assert report["secrets"] == str(moved)


# --- the renewal script, run for real in the sandbox ------------------------------------------------------

ADMIN = "kadmin"
COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd")


def kubeconfig(user: str) -> str:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "kubernetes", "cluster": {"server": "https://10.0.0.10:6443"}}],
        "contexts": [{"name": f"{user}@kubernetes", "context": {"cluster": "kubernetes", "user": user}}],
        "current-context": f"{user}@kubernetes",
        "users": [{"name": user, "user": {"client-certificate-data": "b2xk", "client-key-data": "b2xk"}}],
    }
    return yaml.safe_dump(config, sort_keys=False)


def control_plane_box(tmp_path: Path, *, env: str) -> Sandbox:
    """A sandbox laid out like a control-plane node after kubeadm init and kgen's first boot."""
    box = Sandbox.create(tmp_path, admin_user=ADMIN)
    for name in ("crictl", "curl"):
        box.install_standin(name)
    box.write("/etc/kgen-standin.env", f"STANDIN_VERSION=v1.31.4\n{env}")
    bundle = fixture_bundle()
    box.write("/etc/kubernetes/pki/ca.crt", bundle.ca.certificate)
    box.write("/etc/kubernetes/pki/etcd/ca.crt", bundle.etcd_ca.certificate)
    box.write("/etc/kubernetes/pki/front-proxy-ca.crt", bundle.front_proxy_ca.certificate)
    for base in ("apiserver", "apiserver-kubelet-client", "apiserver-etcd-client", "front-proxy-client",
                 "etcd/server", "etcd/peer", "etcd/healthcheck-client"):  # fmt: skip
        box.write(f"/etc/kubernetes/pki/{base}.crt", f"# kgen stand-in placeholder for {base}.crt\n")
    for name in ("admin", "super-admin", "controller-manager", "scheduler"):
        box.write(f"/etc/kubernetes/{name}.conf", kubeconfig(f"kubernetes-{name}"), 0o600)
    for name in COMPONENTS:
        box.write(f"/etc/kubernetes/manifests/{name}.yaml", f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n")
    admin = box.read("/etc/kubernetes/admin.conf")
    box.write("/root/.kube/config", admin, 0o600)
    box.write(f"/home/{ADMIN}/.kube/config", admin, 0o600)
    os.chown(box.path(f"/home/{ADMIN}/.kube"), 1500, 1500)
    os.chown(box.path(f"/home/{ADMIN}/.kube/config"), 1500, 1500)
    cluster, renewal = build(example_data())
    data = example_data()
    data["spec"]["admin"]["user"] = ADMIN
    cluster, renewal = build(data)
    box.write(certs.RENEW_SCRIPT, certs.renew_script(cluster, renewal, cluster.first_control_plane), 0o700)
    return box


def calls(box: Sandbox) -> list[dict[str, Any]]:
    path = box.path("/var/lib/kgen-standin/calls.jsonl")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def kubeadm_calls(box: Sandbox) -> list[list[str]]:
    return [c["argv"] for c in calls(box) if c["tool"] == "kubeadm"]


def test_expiring_certificate_is_renewed_and_pods_restart_one_at_a_time(tmp_path: Path) -> None:
    box = control_plane_box(tmp_path, env="STANDIN_CERT_EXPIRES_IN_DAYS=apiserver=10\n")
    result = box.run([certs.RENEW_SCRIPT])
    assert result.returncode == 0, result.stdout + result.stderr

    assert kubeadm_calls(box) == [
        ["certs", "check-expiration", "-o", "json"],
        ["certs", "renew", "all"],
        ["certs", "check-expiration", "-o", "json"],
    ]
    assert re.search(r"certificate apiserver: expires \S+ \((9|10) days left\): renew\n", result.stderr), result.stderr
    assert "certificate super-admin.conf: expires" in result.stderr  # present here: the first control plane
    # The restart order: each component stops, comes back with a new container, then /readyz answers,
    # before the next one is touched.
    events = [
        (c["event"], c["name"]) if c["tool"] == "kubelet" else ("readyz", c["answer"])
        for c in calls(box)
        if c["tool"] == "kubelet" or c["tool"] == "curl"
    ]
    initial = [e for e in events[:4] if e[0] == "start"]
    assert sorted(name for _, name in initial) == sorted(COMPONENTS)  # the pods running before the run
    expected: list[tuple[str, str]] = []
    for name in COMPONENTS:
        expected += [("stop", name), ("start", name), ("readyz", "ok")]
    assert events[4:] == expected
    for name in COMPONENTS:
        assert box.exists(f"/etc/kubernetes/manifests/{name}.yaml")
    assert not list(box.path("/etc/kubernetes/kgen-parked-manifests").iterdir())
    # The admin kubeconfig copies follow the renewed admin.conf, with their owners kept.
    admin = box.read("/etc/kubernetes/admin.conf")
    assert "renewed at" not in admin  # the client certificate is base64; decode to check
    assert parse_yaml(admin)["users"][0]["user"]["client-certificate-data"] != "b2xk"
    assert box.read("/root/.kube/config") == admin
    assert box.read(f"/home/{ADMIN}/.kube/config") == admin
    assert box.path(f"/home/{ADMIN}/.kube/config").stat().st_uid == 1500
    assert (box.path(f"/home/{ADMIN}/.kube/config").stat().st_mode & 0o777) == 0o600
    marker = box.read(certs.SUCCESS_MARKER)
    assert "result: renewed the kubeadm certificates and restarted kube-apiserver kube-controller-manager" in marker
    assert not box.exists(certs.FAILURE_MARKER)


def test_nothing_expiring_renews_nothing_and_restarts_nothing(tmp_path: Path) -> None:
    box = control_plane_box(tmp_path, env="")
    box.write(certs.FAILURE_MARKER, "an earlier failure\n")
    result = box.run([certs.RENEW_SCRIPT])
    assert result.returncode == 0, result.stdout + result.stderr
    assert kubeadm_calls(box) == [["certs", "check-expiration", "-o", "json"]]
    assert not [c for c in calls(box) if c["tool"] in ("crictl", "curl", "kubelet")]
    assert "nothing renewed" in box.read(certs.SUCCESS_MARKER)
    assert not box.exists(certs.FAILURE_MARKER)


def test_an_edited_admin_copy_is_left_alone(tmp_path: Path) -> None:
    box = control_plane_box(tmp_path, env="STANDIN_CERT_EXPIRES_IN_DAYS=admin.conf=2\n")
    edited = box.read("/root/.kube/config") + "# merged by hand\n"
    box.write("/root/.kube/config", edited, 0o600)
    result = box.run([certs.RENEW_SCRIPT])
    assert result.returncode == 0, result.stdout + result.stderr
    assert box.read("/root/.kube/config") == edited
    assert "/root/.kube/config is missing or differs" in result.stderr
    assert box.read(f"/home/{ADMIN}/.kube/config") == box.read("/etc/kubernetes/admin.conf")


def test_a_failed_renewal_restarts_nothing_and_leaves_the_failure_marker(tmp_path: Path) -> None:
    box = control_plane_box(tmp_path, env="STANDIN_CERT_EXPIRES_IN_DAYS=etcd-peer=1\nSTANDIN_CERTS_RENEW_FAIL=1\n")
    box.write(certs.SUCCESS_MARKER, "an earlier success\n")
    result = box.run([certs.RENEW_SCRIPT])
    assert result.returncode == 1
    assert not [c for c in calls(box) if c["tool"] in ("crictl", "curl")]
    marker = box.read(certs.FAILURE_MARKER)
    assert "step: kubeadm certs renew all\n" in marker
    assert "reason: kubeadm certs renew all failed; no static pod was restarted\n" in marker
    assert not box.exists(certs.SUCCESS_MARKER)


def test_an_interrupted_run_gets_its_manifest_back(tmp_path: Path) -> None:
    box = control_plane_box(tmp_path, env="")
    parked = "/etc/kubernetes/kgen-parked-manifests/kube-scheduler.yaml"
    box.write(parked, box.read("/etc/kubernetes/manifests/kube-scheduler.yaml"), 0o600)
    box.path("/etc/kubernetes/manifests/kube-scheduler.yaml").unlink()
    result = box.run([certs.RENEW_SCRIPT])
    assert result.returncode == 0, result.stdout + result.stderr
    assert box.exists("/etc/kubernetes/manifests/kube-scheduler.yaml")
    assert not box.exists(parked)
    assert "an earlier run was interrupted with kube-scheduler.yaml moved aside" in result.stderr


# --- the kubeadm stand-in's check-expiration follows upstream's output API ---------------------------------


def test_standin_check_expiration_json_and_text(tmp_path: Path) -> None:
    box = control_plane_box(tmp_path, env="STANDIN_CERT_EXPIRES_IN_DAYS=apiserver=10\n")
    box.path("/etc/kubernetes/super-admin.conf").unlink()  # a joined control plane has none
    result = box.run(["kubeadm", "certs", "check-expiration", "-o", "json"])
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert (info["apiVersion"], info["kind"]) == ("output.kubeadm.k8s.io/v1alpha3", "CertificateExpirationInfo")
    names = [c["name"] for c in info["certificates"]]
    assert names == sorted(names)  # Manager.Certificates() sorts by name
    by_name = {c["name"]: c for c in info["certificates"]}
    assert by_name["super-admin.conf"]["missing"] is True
    assert by_name["super-admin.conf"]["expirationDate"] is None
    assert 9 * 86400 < by_name["apiserver"]["residualTime"] <= 10 * 86400
    assert by_name["etcd-peer"]["caName"] == "etcd-ca"
    assert [c["name"] for c in info["certificateAuthorities"]] == ["ca", "etcd-ca", "front-proxy-ca"]
    text = box.run(["kubeadm", "certs", "check-expiration"])
    assert "CERTIFICATE AUTHORITY   EXPIRES" in text.stdout
    assert "!MISSING! super-admin.conf" in text.stdout
    bad = box.run(["kubeadm", "certs", "check-expiration", "--bogus"])
    assert bad.returncode == 1
    assert "unknown flag: --bogus" in bad.stderr
