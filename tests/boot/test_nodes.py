"""kgen's rendered user-data on a real kernel.

A golden-mode control-plane node and a worker boot in qemu (TCG) from the Debian test image, whose
kubeadm, kubelet and kubectl are clearly named stand-ins (pkgs.k8s.io is out of reach here);
everything else is real: the kernel, systemd, cloud-init, containerd, kgen's configure phase and
first-boot script. The configure phase also runs twice on its own, to prove a second run changes
nothing. Each boot takes about a minute under TCG; all are marked ``boot``. When one fails, the
serial console and the guest's bootstrap log are attached to the report (tests/boot/conftest.py)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from generator import model, prepare, secrets
from generator.cli import app
from generator.load import load
from generator.runners.boot_timeline import boot_timeline
from generator.runners.qemu import run_vm
from generator.runners.vm_report import VmReport, parse_report
from generator.runtimes import containerd
from tests.boot.bake import baked_disk
from tests.boot.baseimage import BaseImage
from tests.boot.conftest import register_workdir
from tests.boot.guestdisk import GuestDisk
from tests.conftest import EXAMPLES, stand_in_cni_manifests, write_bundle

BOOT_TIMEOUT = 600.0
PKI = "/etc/kubernetes/pki"
KGEN_PKI = "/etc/kgen/pki"


def cluster_config(tmp: Path, **bootstrap: int) -> Path:
    data: dict[str, Any] = yaml.safe_load(
        (EXAMPLES / "valid" / "runbook-single-control-plane" / "cluster.yaml").read_text(encoding="utf-8")
    )
    data["spec"]["kubernetes"]["version"] = "1.31.14"
    data["spec"]["image"] = {"mode": "golden"}
    data["spec"]["bootstrap"] = {"endpointWaitSeconds": 20, "nodeReadyTimeoutSeconds": 60, **bootstrap}
    config = tmp / "cluster.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return config


def golden_test_disk(
    base: BaseImage, config: Path, tmp: Path, cni_manifests: dict[str, str] | None = None
) -> GuestDisk:
    """A copy of the test image baked for this cluster: the bake's configure step really ran on it
    (tests/boot/bake.py), then the manifest a kgen bake writes (the stand-ins take the place of the
    packages a bake installs), the stand-ins' version, and the CNI manifests the bake keeps (stand-ins
    whose digests the test pins, see stand_in_cni_manifests)."""
    cluster = model.build(load(config))
    disk = GuestDisk.copy_of(baked_disk(base, cluster), tmp / "golden.raw")
    disk.write(prepare.IMAGE_MANIFEST, prepare.image_manifest(cluster, images=[]), tmp)
    for path, content in (cni_manifests or {}).items():
        disk.write(path, content, tmp)
    disk.write("/etc/kgen-standin.env", f"STANDIN_VERSION=v{cluster.kubernetes_version}\n", tmp)
    return disk


def save_guest_log(report: VmReport | None, workdir: Path) -> None:
    if report is not None:
        (workdir / "guest-bootstrap.log").write_text("\n".join(report.bootstrap_log_tail) + "\n", encoding="utf-8")


@dataclass
class ControlPlaneBoot:
    exit_code: int
    output: str
    workdir: Path
    disk: Path
    rendered: Path
    bundle: secrets.SecretsBundle
    tmp: Path

    @property
    def report(self) -> VmReport:
        report = parse_report((self.workdir / "serial.log").read_text(encoding="utf-8", errors="replace"))
        assert report is not None, self.output
        return report

    def guest(self) -> GuestDisk:
        return GuestDisk.from_overlay(self.disk, self.tmp / "after.raw")


@pytest.fixture(scope="module")
def control_plane(base_image: BaseImage, tmp_path_factory: pytest.TempPathFactory) -> ControlPlaneBoot:
    """The control-plane node, booted once through `kgen vm` (as a user would), its disk kept."""
    tmp = tmp_path_factory.mktemp("control-plane")
    config = cluster_config(tmp)
    bundle = write_bundle(config, tmp)
    with pytest.MonkeyPatch.context() as patch:
        # The node checks the baked manifests against their pins; the real files cannot be read here.
        disk = golden_test_disk(base_image, config, tmp, stand_in_cni_manifests(patch, "calico"))
        workdir = tmp / "vm"
        args = ["vm", str(config), "master-0", "--image", str(disk.raw), "--kernel", str(base_image.kernel)]
        args += ["--initrd", str(base_image.initrd), "--accel", "tcg", "--timeout", str(BOOT_TIMEOUT), "--keep"]
        args += ["--workdir", str(workdir), "-d", str(tmp / "out"), "--secrets", str(bundle)]
        result = CliRunner().invoke(app, args)
    kept = next((line.split(": ", 1)[1] for line in result.output.splitlines() if line.startswith("kept disk: ")), "")
    boot = ControlPlaneBoot(
        exit_code=result.exit_code,
        output=result.output,
        workdir=workdir,
        disk=Path(kept),
        rendered=tmp / "out" / "demo" / "nodes" / "master-0",
        bundle=secrets.load_bundle(bundle, cluster="demo"),
        tmp=tmp,
    )
    save_guest_log(parse_report((workdir / "serial.log").read_text(encoding="utf-8", errors="replace")), workdir)
    return boot


@pytest.mark.boot
def test_control_plane_node_comes_up(control_plane: ControlPlaneBoot, request: pytest.FixtureRequest) -> None:
    register_workdir(request, control_plane.workdir)
    assert control_plane.exit_code == 0, control_plane.output
    assert "cloud-init status: done" in control_plane.output
    # `kgen vm` showed progress: boot, each cloud-init stage, the bootstrap steps.
    for stage in (
        "booting",
        "cloud-init: init-local",
        "cloud-init: modules:final",
        "kgen-bootstrap: step: kubeadm init",
    ):
        assert stage in control_plane.output, stage
    report = control_plane.report
    assert report.cloud_init_status == "done"
    assert report.cloud_init_errors == []
    assert report.success_marker is not None and "bootstrapped (init)" in report.success_marker
    assert report.failure_marker is None
    log = "\n".join(report.bootstrap_log_tail)
    assert "preflight passed" in log

    # A golden first boot: no NIC at all (qemu -nic none), only the configure phase's per-node part
    # (the bake did the rest: nothing written, loaded, enabled or restarted), no image pulled.
    facts = report.facts
    assert [line.split(":")[1].strip() for line in facts["network-links"].splitlines()] == ["lo"]
    head = facts["bootstrap-log-head"]
    assert "kgen-configure: the image's cluster-wide configuration is in effect" in head
    assert "configure phase done (role control-plane, per-node part only)" in head
    configure_lines = [line for line in head.splitlines() if " kgen-configure: " in line]
    for word in ("wrote ", "restarted ", "loaded ", "enabled ", "masked "):
        assert not any(word in line for line in configure_lines), (word, configure_lines)
    pulls = [
        json.loads(line) for line in control_plane.guest().read("/var/lib/kgen-standin/image-pulls.jsonl").splitlines()
    ]
    assert [(pull["kind"], pull["policy"], pull["pulled"]) for pull in pulls] == [("InitConfiguration", "Never", [])]
    timeline = boot_timeline(report)
    assert "modules-final" in timeline.stages
    assert timeline.final_to("kgen-bootstrap", "step: kubeadm init") is not None

    # The configure phase really applied (in the bake, and in effect at this boot).
    assert "overlay" in facts["lsmod"] and "br_netfilter" in facts["lsmod"]
    for key in ("net.ipv4.ip_forward", "net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables"):
        assert facts[key].strip() == "1", key
    assert facts["swapon"].strip() == ""
    assert facts["containerd-active"].strip() == "active"
    assert "SystemdCgroup = true" in facts["containerd-config"]
    assert 'sandbox_image = "registry.k8s.io/pause:3.10"' in facts["containerd-config"]
    assert facts["kubelet-enabled"].strip() == "enabled"
    # Pods are cut off from the metadata service (issue 10, defect 5).
    assert "ip daddr 169.254.169.254 counter packets" in facts["metadata-block"]
    assert facts["metadata-block-enabled"].strip() == "enabled"

    guest = control_plane.guest()
    bundle = control_plane.bundle
    # PKI in place, with its modes; ca.crt is the bundle's (kubeadm used kgen's CA). cloud-init wrote
    # kgen's copy to a root-only folder; the first-boot script restored it into kubeadm's.
    assert guest.read(f"{PKI}/ca.crt") == bundle.ca.certificate
    for name in ("ca.key", "etcd/ca.key", "front-proxy-ca.key", "sa.key"):
        assert guest.mode(f"{PKI}/{name}") == 0o600, name
        assert guest.mode(f"{KGEN_PKI}/{name}") == 0o600, name
        assert guest.read(f"{PKI}/{name}") == guest.read(f"{KGEN_PKI}/{name}"), name
    for name in ("ca.crt", "etcd/ca.crt", "front-proxy-ca.crt", "sa.pub"):
        assert guest.mode(f"{PKI}/{name}") == 0o644, name
        assert guest.read(f"{PKI}/{name}") == guest.read(f"{KGEN_PKI}/{name}"), name
    for folder in (KGEN_PKI, f"{KGEN_PKI}/etcd"):
        assert guest.mode(folder) == 0o700, folder
    # kubeadm init's success was recorded after it exited 0; no unfinished attempt is left.
    assert guest.read("/var/lib/kgen/kubeadm-init-succeeded").startswith("kubeadm init succeeded at ")
    assert not guest.exists("/var/lib/kgen/kubeadm-attempted")
    assert guest.mode("/etc/kgen/kubeadm.yaml") == 0o600
    # kubeadm init was called with exactly the rendered config.
    calls = [json.loads(line)["argv"] for line in guest.read("/var/lib/kgen-standin/calls.jsonl").splitlines()]
    assert ["init", "--config", "/etc/kgen/kubeadm.yaml", "--skip-token-print"] in calls
    rendered = (control_plane.rendered / "kubeadm.yaml").read_text(encoding="utf-8")
    assert guest.read("/var/lib/kgen-standin/init/config.yaml") == rendered
    # The admin kubeconfig, for root and for the admin user.
    admin = guest.read("/etc/kubernetes/admin.conf")
    assert guest.read("/root/.kube/config") == admin
    assert guest.read("/home/kadmin/.kube/config") == admin
    assert guest.mode("/home/kadmin/.kube/config") == 0o600
    assert guest.owner("/home/kadmin/.kube/config")[0] != 0
    # The CNI was applied: the pinned manifests, then the resources rendered with the pod CIDR.
    kubectl_log = guest.read("/var/lib/kgen-standin/kubectl.log")
    assert "tigera-operator.yaml" in kubectl_log and "/etc/kgen/cni/custom-resources.yaml" in kubectl_log
    assert "cidr: 192.168.0.0/16" in guest.read("/etc/kgen/cni/custom-resources.yaml")
    assert guest.read("/var/lib/kgen/bootstrap-success") == report.success_marker


@pytest.mark.boot
def test_control_plane_reboot_does_nothing(
    control_plane: ControlPlaneBoot, base_image: BaseImage, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Booting the same disk again: the success marker is there, so the first-boot script does nothing."""
    workdir = tmp_path / "vm"
    register_workdir(request, workdir)
    before = control_plane.guest().read("/var/lib/kgen-standin/calls.jsonl")
    result = run_vm(
        user_data=control_plane.rendered / "user-data",
        meta_data=control_plane.rendered / "meta-data",
        image=control_plane.disk,
        workdir=workdir,
        kernel=base_image.kernel,
        initrd=base_image.initrd,
        accel="tcg",
        timeout=BOOT_TIMEOUT,
        keep=True,
    )
    save_guest_log(result.report, workdir)
    assert result.report is not None
    assert result.report.cloud_init_status == "done"
    assert result.ok
    assert result.disk is not None
    after = GuestDisk.from_overlay(result.disk, tmp_path / "again.raw")
    assert after.read("/var/lib/kgen-standin/calls.jsonl") == before  # kubeadm was not called again


@pytest.mark.boot
def test_worker_with_unreachable_control_plane_fails_clearly(
    base_image: BaseImage, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    workdir = tmp_path / "vm"
    register_workdir(request, workdir)
    config = cluster_config(tmp_path)
    bundle = write_bundle(config, tmp_path)
    disk = golden_test_disk(base_image, config, tmp_path)
    out = tmp_path / "out"
    rendered = CliRunner().invoke(app, ["render", str(config), "-d", str(out), "--secrets", str(bundle)])
    assert rendered.exit_code == 0, rendered.output
    node = out / "demo" / "nodes" / "worker-0"
    result = run_vm(
        user_data=node / "user-data",
        meta_data=node / "meta-data",
        image=disk.raw,
        workdir=workdir,
        kernel=base_image.kernel,
        initrd=base_image.initrd,
        accel="tcg",
        timeout=BOOT_TIMEOUT,
    )
    save_guest_log(result.report, workdir)
    report = result.report
    assert report is not None
    assert not result.ok
    assert result.disk is None and not list(workdir.glob("*.qcow2")), "without keep the overlay is deleted"
    assert report.cloud_init_status == "error"
    assert any("runcmd" in error for error in report.cloud_init_errors), report.cloud_init_errors
    assert report.success_marker is None
    assert report.failure_marker is not None
    assert "https://10.10.10.238:6443/readyz did not answer within 20s" in report.failure_marker


CONFIGURED_FILES = [
    "/etc/modules-load.d/kgen-kubernetes.conf",
    "/etc/sysctl.d/99-kgen-kubernetes.conf",
    "/etc/containerd/config.toml",
    "/etc/crictl.yaml",
    prepare.METADATA_RULES_PATH,
    prepare.METADATA_UNIT_PATH,
    "/etc/fstab",
]


@pytest.mark.boot
def test_configure_phase_applies_and_a_second_run_changes_nothing(
    base_image: BaseImage, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    workdir = tmp_path / "vm"
    register_workdir(request, workdir)
    cluster = model.build(load(cluster_config(tmp_path)))
    script = prepare.configure_script(cluster)
    files = " ".join(CONFIGURED_FILES)
    collect = "/var/lib/kgen-vm/collect"
    configure = f"{prepare.CONFIGURE_PATH} worker"
    runcmd = []
    for run in (1, 2):
        runcmd.append(["sh", "-c", f"{configure} > {collect}/run{run}.log 2>&1; echo $? > {collect}/run{run}.rc"])
        runcmd.append(["sh", "-c", f"(stat -c '%n %a %U %Y' {files} && sha256sum {files}) > {collect}/after{run}"])
    document = {
        "write_files": [{"path": prepare.CONFIGURE_PATH, "permissions": "0700", "content": script}],
        "runcmd": runcmd,
    }
    user_data = tmp_path / "user-data"
    user_data.write_text("#cloud-config\n" + yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    meta_data = tmp_path / "meta-data"
    meta_data.write_text("instance-id: kgen-configure-twice\nlocal-hostname: configure\n", encoding="utf-8")
    result = run_vm(
        user_data=user_data,
        meta_data=meta_data,
        image=base_image.disk,
        workdir=workdir,
        kernel=base_image.kernel,
        initrd=base_image.initrd,
        accel="tcg",
        timeout=BOOT_TIMEOUT,
        keep=True,
    )
    report = result.report
    assert report is not None
    facts = report.facts
    assert facts["run1.rc"].strip() == "0", facts["run1.log"]
    assert facts["run2.rc"].strip() == "0", facts["run2.log"]
    assert "wrote /etc/containerd/config.toml" in facts["run1.log"]
    assert "restarted containerd" in facts["run1.log"]
    # The second run rewrote nothing, restarted nothing.
    assert facts["after1"] == facts["after2"]
    assert "wrote " not in facts["run2.log"] and "restarted" not in facts["run2.log"]
    assert "loaded kernel module" not in facts["run2.log"]
    assert facts["run2.log"].count("unchanged ") == 6
    assert f"loaded {prepare.METADATA_RULES_PATH}" in facts["run1.log"]
    assert "loaded " not in facts["run2.log"] and "enabled " not in facts["run2.log"]
    # Files with the right content and modes.
    assert result.disk is not None
    guest = GuestDisk.from_overlay(result.disk, tmp_path / "after.raw")
    assert guest.read("/etc/containerd/config.toml") == containerd.containerd_config(cluster, 1)
    assert guest.read("/etc/crictl.yaml") == prepare.crictl_config(cluster)
    assert "overlay\nbr_netfilter\n" in guest.read("/etc/modules-load.d/kgen-kubernetes.conf")
    for path in CONFIGURED_FILES[:6]:
        assert guest.mode(path) == 0o644, path
    assert hashlib.sha256(guest.read("/etc/containerd/config.toml").encode()).hexdigest() in facts["after2"]
    assert facts["containerd-active"].strip() == "active"
    assert "SystemdCgroup = true" in facts["containerd-config"]
    assert facts["kubelet-enabled"].strip() == "enabled"
    assert facts["swapon"].strip() == ""
