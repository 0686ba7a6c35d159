"""CRI-O as the container runtime: the drop-in, the kubeadm socket, and the golden-image guard."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from generator import prepare
from generator.plan import plan
from generator.runtimes import crio
from tests.conftest import Rendered, fixture_bundle
from tests.matrix import OS_NAMES, VERSIONS, cluster_for
from tests.test_bootstrap import prepare_node, render_case
from tests.test_kubeadm import check_document

CRIO_SOCKET = "unix:///var/run/crio/crio.sock"


@pytest.mark.parametrize("version", VERSIONS)
def test_crio_dropin_has_exact_keys(version: str) -> None:
    cluster = cluster_for("rocky-9", version, runtime="cri-o")
    assert tomllib.loads(crio.crio_dropin(cluster)) == {
        "crio": {"runtime": {"cgroup_manager": "systemd"}, "image": {"pause_image": cluster.kubernetes.pause_image}}
    }
    script = prepare.configure_script(cluster)
    assert crio.crio_dropin(cluster) in script
    assert crio.CRIO_DROPIN_PATH == "/etc/crio/crio.conf.d/10-kgen.conf"
    assert "runtime-endpoint: unix:///var/run/crio/crio.sock" in script
    assert "SystemdCgroup" not in script


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("os_name", OS_NAMES)
def test_kubeadm_documents_carry_the_crio_socket(os_name: str, version: str) -> None:
    cluster = cluster_for(os_name, version, runtime="cri-o")
    for node_plan in plan(cluster, fixture_bundle()).nodes:
        for doc in node_plan.kubeadm_documents:
            check_document(doc)
            if doc["kind"] in {"InitConfiguration", "JoinConfiguration"}:
                assert doc["nodeRegistration"]["criSocket"] == CRIO_SOCKET


def test_crio_version_follows_kubernetes() -> None:
    cluster = cluster_for("debian-12", "1.32.11", runtime="cri-o")
    assert cluster.runtime.version == "1.32"
    assert (
        cluster.runtime.repository("deb") == "https://download.opensuse.org/repositories/isv:/cri-o:/stable:/v1.32/deb/"
    )


def test_rendered_crio_node_checks_crio_in_preflight(rendered_valid: dict[str, Rendered]) -> None:
    rendered = rendered_valid["crio-rocky-9"]
    script = (rendered.root / "nodes" / "master-0" / "bootstrap.sh").read_text(encoding="utf-8")
    assert "systemctl is-active --quiet crio" in script
    assert "'CRI-O is not active (systemctl status crio)'" in script
    assert "containerd" not in script


def test_containerd_image_refused_by_a_crio_config(tmp_path: Path) -> None:
    rendered = render_case(tmp_path, runtime="cri-o")
    box = prepare_node(tmp_path, rendered, "worker-0", curl_failures=0)
    manifest = json.loads(box.read(prepare.IMAGE_MANIFEST))
    assert manifest["runtime"] == "cri-o"
    manifest.update(runtime="containerd", runtimeVersion="2.1.5")  # what a containerd image records
    box.write(prepare.IMAGE_MANIFEST, json.dumps(manifest))
    result = box.run(["/usr/local/sbin/kgen-bootstrap"])
    assert result.returncode != 0
    failure = box.read("/var/lib/kgen/bootstrap-failure")
    assert (
        "the image was baked for container runtime containerd, but the cluster config wants container runtime cri-o"
        in failure
    )
    assert not box.exists("/var/lib/kgen/bootstrap-success")
    calls = box.read("/var/lib/standin-calls.log") if box.exists("/var/lib/standin-calls.log") else ""
    assert "configure" not in calls  # the guard runs before anything touches the node
