"""The golden-image Packer project (``generator.packer``): it parses, Debian's Packer 1.6.6 formats and
checks it, its scripts pass shellcheck, it holds no credentials, its install/configure provisioners
are the node-preparation scripts byte for byte, and ``kgen bake`` checks its tools. The self-check,
sysprep and the golden-mode version guard run for real in one VM boot (``boot`` marker, at the end)."""

from __future__ import annotations

import base64
import contextlib
import copy
import dataclasses
import functools
import hashlib
import io
import itertools
import json
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml

from generator import api, etcd_backup, images, kubevip, model, prepare
from generator.emit import packer as emit_packer
from generator.errors import UserError
from generator.load import load
from generator.model import Cluster, Runtime
from generator.runners import bake as bake_runner
from generator.runners.qemu import VmResult, run_vm
from generator.tables import os_release
from generator.tree import EXECUTABLE_MODE
from tests import validated
from tests.boot.baseimage import BaseImage, BaseImageError, ensure_base_image
from tests.boot.conftest import missing_boot_prerequisites, skip_or_fail
from tests.conftest import (
    EXAMPLES,
    REPO,
    Rendered,
    cloud_init_schema,
    parse_yaml,
    render_config,
    require_tool,
    shellcheck,
)
from tests.golden import check_golden, check_no_stale_golden
from tests.matrix import OS_NAMES, VERSIONS, base_config, cluster_for

# (os, Kubernetes version, CNI, runtime): every OS, both ends of the version range, every CNI and runtime.
CASES = [
    ("ubuntu-22.04", "1.30.14", "calico", "containerd"),
    ("ubuntu-24.04", "1.34.3", "cilium", "containerd"),
    ("debian-12", "1.31.14", "flannel", "containerd"),
    ("rocky-9", "1.30.14", "flannel", "cri-o"),
    ("almalinux-9", "1.34.3", "none", "cri-o"),
]
GOLDEN_CASES = [("debian-12", "1.34.3", "calico", "containerd"), ("rocky-9", "1.30.14", "flannel", "cri-o")]
HCL_FILES = ["plugins.pkr.hcl", "variables.pkr.hcl", "sources.pkr.hcl", "build.pkr.hcl"]
BAKE_SCRIPTS = ["pre-pull", "cni-manifests", "image-manifest", "self-check", "sysprep"]


def case_id(case: tuple[str, str, str, str]) -> str:
    return "-".join(case)


def cluster_of(case: tuple[str, str, str, str]) -> Cluster:
    os_name, version, cni, runtime = case
    return cluster_for(os_name, version, mode="golden", cni=cni, runtime=runtime)


def write_project(cluster: Cluster, dest: Path) -> Path:
    """The project as ``kgen render`` writes it; returns the ``packer/`` folder."""
    for rel, out in emit_packer.packer_files(cluster).items():
        path = dest / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(out.content)
        path.chmod(out.mode)
    return dest / emit_packer.PACKER_FOLDER


def plain(value: Any) -> Any:
    """python-hcl2's output without its quoting and bookkeeping (8.x keeps string quotes and marks blocks)."""
    if isinstance(value, dict):
        return {plain(k): plain(v) for k, v in value.items() if k not in ("__is_block__", "__comments__")}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return json.loads(value)
    return value


@functools.lru_cache(maxsize=256)
def _parsed_hcl(text: str) -> dict[str, Any]:
    data: dict[str, Any] = plain(hcl2.loads(text))
    return data


def parse_hcl(path: Path) -> dict[str, Any]:
    """python-hcl2's parse of the file. The parse depends only on the text, and the tests here parse the
    same files (the five projects' variables and sources, the identical plugins file) again and again, so
    each distinct text is parsed once per process; every caller gets its own copy."""
    return copy.deepcopy(_parsed_hcl(path.read_text(encoding="utf-8")))


def variables(project: Path) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for entry in parse_hcl(project / "variables.pkr.hcl")["variable"]:
        out.update(entry)
    return out


# Session scope for one module's read-only fixture: see tests/schedule.py on module scope.
@pytest.fixture(scope="session")
def projects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return {case_id(c): write_project(cluster_of(c), tmp_path_factory.mktemp(case_id(c))) for c in CASES}


# --- The project parses, and Debian's Packer 1.6.6 formats and checks it. -----------------------------


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_every_hcl_file_parses_with_python_hcl2(case: tuple[str, str, str, str], projects: dict[str, Path]) -> None:
    project = projects[case_id(case)]
    found = sorted(p.name for p in project.glob("*.pkr.hcl"))
    assert found == sorted(HCL_FILES)
    for path in [*project.glob("*.pkr.hcl"), *project.glob("*.pkrvars.hcl")]:
        assert parse_hcl(path), path.name


def test_plugins_file_pins_packer_1_10_and_both_plugins(projects: dict[str, Path]) -> None:
    block = parse_hcl(next(iter(projects.values())) / "plugins.pkr.hcl")["packer"][0]
    assert block["required_version"] == ">= 1.10.0"
    plugins = block["required_plugins"][0]
    assert plugins["openstack"]["source"] == "github.com/hashicorp/openstack"
    assert plugins["qemu"]["source"] == "github.com/hashicorp/qemu"


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_only_plugins_file_needs_a_packer_newer_than_1_6_6(
    case: tuple[str, str, str, str], projects: dict[str, Path]
) -> None:
    """The reference sheet's list of what Packer 1.6.6 lacks: none of it outside plugins.pkr.hcl."""
    project = projects[case_id(case)]
    for path in [p for p in project.glob("*.pkr*.hcl") if p.name != "plugins.pkr.hcl"]:
        text = path.read_text(encoding="utf-8")
        for pattern in (r"^\s*data\s+\"", r"^\s*local\s+\"", r"templatefile\(", r"base64gzip\(", r"required_plugins"):
            assert not re.search(pattern, text, re.M), f"{path.name}: {pattern}"


def packer_fmt_check(projects: dict[str, Path], workdir: Path) -> None:
    """`packer fmt -check -diff` passes every project folder: one run over the projects whose files have
    not passed in this session (tests/validated.py, across xdist workers). fmt checks each HCL file of the
    folder it is given on its own (only the file's extension picks the language), so the projects' files
    go into one folder, each name prefixed with its project's number: one Packer start instead of one a
    project, and exit 0 there only if every file of every project is formatted."""
    tool = require_tool("packer", reason="Debian package packer")
    items: dict[str, list[Path]] = {}
    for _, project in sorted(projects.items()):
        files = sorted(p for p in project.iterdir() if p.is_file())
        parts = [part for f in files for part in (f.name, f.read_bytes())]
        items.setdefault(validated.key("packer fmt -check -diff", tool, *parts), files)

    runs = itertools.count()  # a fresh folder per call: checked_once calls again for a key retried here

    def check(todo: dict[str, list[Path]]) -> None:
        folder = workdir / f"packer-fmt-{next(runs)}"
        folder.mkdir(parents=True)
        for i, files in enumerate(todo.values()):
            for path in files:
                shutil.copyfile(path, folder / f"{i:02d}-{path.name}")
        result = subprocess.run(
            [tool, "fmt", "-check", "-diff", str(folder)], capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, result.stdout + result.stderr

    validated.checked_once(items, check)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_debian_packer_fmt_check_passes(
    case: tuple[str, str, str, str], projects: dict[str, Path], tmp_path: Path
) -> None:
    # Every case's project in one run first; if that fails, nothing is remembered and each case's own
    # run below reports its own verdict, as when every case ran fmt on its own.
    with contextlib.suppress(AssertionError):
        packer_fmt_check(projects, tmp_path / "all")
    packer_fmt_check({case_id(case): projects[case_id(case)]}, tmp_path / "own")


def without_plugins(project: Path, dest: Path) -> Path:
    copy = dest / "packer-1.6"
    shutil.copytree(project, copy)
    (copy / "plugins.pkr.hcl").unlink()
    return copy


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_debian_packer_validate_syntax_only_passes_without_plugins_file(
    case: tuple[str, str, str, str], projects: dict[str, Path], tmp_path: Path
) -> None:
    tool = require_tool("packer", reason="Debian package packer")
    copy = without_plugins(projects[case_id(case)], tmp_path)
    result = subprocess.run([tool, "validate", "-syntax-only", str(copy)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_debian_packer_fully_validates_both_sources(projects: dict[str, Path], tmp_path: Path) -> None:
    """Beyond syntax: Packer 1.6.6's built-in qemu builder accepts the qemu source as it is (only the
    checksum file, which needs the network, is swapped for none), and its openstack builder accepts
    every openstack field, stopping only at authentication, which must come from the environment."""
    tool = require_tool("packer", reason="Debian package packer")
    copy = without_plugins(projects[case_id(CASES[2])], tmp_path)
    keygen = require_tool("ssh-keygen", reason="Debian package openssh-client")
    key = tmp_path / "build-key"
    subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    qemu = subprocess.run(
        [tool, "validate", "-only=qemu.node", f"-var=qemu_ssh_private_key_file={key}",
         "-var=qemu_base_image_checksum=none", f"-var=qemu_output_directory={tmp_path / 'out'}", str(copy)],
        capture_output=True, text=True, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert qemu.returncode == 0, qemu.stdout + qemu.stderr
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "OS_AUTH_URL": "http://127.0.0.1:9/v3"}
    openstack = subprocess.run(
        [tool, "validate", "-only=openstack.node", "-var=flavor=m1.small", "-var=source_image_name=base", str(copy)],
        capture_output=True, text=True, check=False, env=env, cwd=tmp_path,
    )  # fmt: skip
    output = openstack.stdout + openstack.stderr
    assert openstack.returncode != 0
    assert "password" in output.lower() or "auth" in output.lower(), output
    assert "Unsupported argument" not in output and "not expected here" not in output, output


def test_pinned_variables_reject_other_values(projects: dict[str, Path], tmp_path: Path) -> None:
    tool = require_tool("packer", reason="Debian package packer")
    copy = without_plugins(projects[case_id(CASES[2])], tmp_path)
    result = subprocess.run(
        [tool, "validate", "-only=qemu.node", "-var=kubernetes_version=1.31.13", "-var=qemu_accelerator=hax",
         str(copy)],
        capture_output=True, text=True, check=False, cwd=tmp_path,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "rendered for kubernetes_version = 1.31.14" in " ".join(output.split())
    assert "qemu_accelerator must be one of: kvm, tcg" in " ".join(output.split())


# --- Variables, sources, provisioners. -------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_variable_defaults_come_from_the_cluster_config(
    case: tuple[str, str, str, str], projects: dict[str, Path]
) -> None:
    cluster = cluster_of(case)
    found = variables(projects[case_id(case)])
    assert found["os"]["default"] == cluster.os
    assert found["kubernetes_version"]["default"] == str(cluster.kubernetes_version)
    assert found["container_runtime"]["default"] == cluster.runtime.name
    assert found["container_runtime_version"]["default"] == cluster.runtime.version
    assert found["cni"]["default"] == (f"{cluster.cni.plugin} {cluster.cni.version}" if cluster.cni.version else "none")
    name = found["image_name"]["default"]
    assert cluster.os in name and str(cluster.kubernetes_version) in name
    base = os_release(cluster.os).base_image
    assert found["qemu_base_image_url"]["default"] == base.qemu_url
    assert found["qemu_base_image_checksum"]["default"] == base.qemu_checksum
    assert found["ssh_username"]["default"] == base.ssh_username
    for knob in (
        "source_image_name", "source_image_filter_name", "source_image_filter_most_recent", "flavor", "networks",
        "floating_ip_network", "security_groups", "use_blockstorage_volume", "volume_size", "volume_type",
        "image_visibility", "image_tags", "qemu_accelerator", "qemu_disk_size", "qemu_format",
    ):  # fmt: skip
        assert knob in found, knob
    for name, spec in found.items():
        assert spec.get("type"), f"{name} has no type"
        assert spec.get("description"), f"{name} has no description"


def test_sensitive_variables_are_marked(projects: dict[str, Path]) -> None:
    found = variables(next(iter(projects.values())))
    sensitive = {name for name, spec in found.items() if spec.get("sensitive") is True}
    assert sensitive == {"http_proxy", "https_proxy"}
    for name in found:
        if re.search(r"password|secret|token|credential", name) or (name.endswith("_proxy") and name != "no_proxy"):
            assert name in sensitive, name


AUTH_ARGUMENTS = {
    "identity_endpoint", "username", "user_id", "password", "token", "tenant_id", "tenant_name", "domain_id",
    "domain_name", "user_domain_name", "project_domain_name", "application_credential_id",
    "application_credential_name", "application_credential_secret", "ssh_password",
}  # fmt: skip
CREDENTIAL_PATTERNS = [
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----",
    r"OS_PASSWORD\s*=",
    r"OS_APPLICATION_CREDENTIAL_SECRET\s*=",
    r"(?i)\bpassword\s*=\s*\"[^\"]",
    r"(?i)\bsecret\s*=\s*\"[^\"]",
    r"\b[a-z0-9]{6}\.[a-z0-9]{16}\b",  # a kubeadm bootstrap token
    r"(?i)https?://[^/\s:@\"]+:[^/\s@\"]+@",  # a URL with user:password
]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_no_credentials_in_the_project(case: tuple[str, str, str, str], projects: dict[str, Path]) -> None:
    project = projects[case_id(case)]
    for path in sorted(p for p in project.rglob("*") if p.is_file()):
        text = path.read_text(encoding="utf-8")
        for pattern in CREDENTIAL_PATTERNS:
            assert not re.search(pattern, text), f"{path.relative_to(project)}: {pattern}"
    sources = parse_hcl(project / "sources.pkr.hcl")["source"]
    openstack = next(s["openstack"]["node"] for s in sources if "openstack" in s)
    assert not AUTH_ARGUMENTS & set(openstack), "OpenStack credentials must come from OS_* or clouds.yaml"
    qemu = next(s["qemu"]["node"] for s in sources if "qemu" in s)
    assert "ssh_password" not in qemu
    assert qemu["ssh_private_key_file"] == "${var.qemu_ssh_private_key_file}"
    assert variables(project)["qemu_ssh_private_key_file"]["default"] == ""


def test_qemu_source_boots_the_cloud_image_with_a_nocloud_seed(projects: dict[str, Path]) -> None:
    project = projects[case_id(CASES[0])]
    sources = parse_hcl(project / "sources.pkr.hcl")["source"]
    qemu = next(s["qemu"]["node"] for s in sources if "qemu" in s)
    assert qemu["disk_image"] is True
    assert qemu["cd_label"] == "cidata"
    assert qemu["cd_files"][:2] == ["${path.root}/qemu/user-data", "${path.root}/qemu/meta-data"]
    assert qemu["accelerator"] == "${var.qemu_accelerator}"
    seed = (project / "qemu" / "user-data").read_text(encoding="utf-8")
    assert seed.startswith("#cloud-config\n")
    assert emit_packer.BUILD_USER in seed and "/run/kgen-seed/*.pub" in seed
    for key in ("passwd:", "plain_text_passwd", "hashed_passwd", "chpasswd", "ssh_pwauth: true"):
        assert key not in seed, f"no password for the build user: {key}"
    assert "ssh_pwauth: false" in seed


def test_qemu_seed_passes_cloud_init_schema(projects: dict[str, Path], tmp_path: Path) -> None:
    seed = next(iter(projects.values())) / "qemu" / "user-data"
    cloud_init_schema({"qemu/user-data": seed.read_bytes()}, tmp_path)


def provisioners(project: Path) -> list[dict[str, Any]]:
    build = parse_hcl(project / "build.pkr.hcl")["build"][0]
    return [p["shell"] for p in build["provisioner"]]


def test_provisioners_run_in_the_issue_order(projects: dict[str, Path]) -> None:
    project = projects[case_id(CASES[0])]
    scripts = [p["script"].removeprefix("${path.root}/") for p in provisioners(project)]
    assert scripts == [
        "scripts/wait-for-cloud-init.sh",
        emit_packer.SCRIPTS["install"],
        emit_packer.SCRIPTS["etcd-tools"],
        emit_packer.SCRIPTS["configure"],
        emit_packer.SCRIPTS["pre-pull"],
        emit_packer.SCRIPTS["cni-manifests"],
        emit_packer.SCRIPTS["image-manifest"],
        emit_packer.SCRIPTS["self-check"],
        emit_packer.SCRIPTS["sysprep"],
        emit_packer.SCRIPTS["self-check"],
    ]
    for path in scripts:
        assert (project / path).is_file(), path
    steps = provisioners(project)
    etcd_tools = (project / emit_packer.SCRIPTS["etcd-tools"]).read_text(encoding="utf-8")
    assert etcd_tools == etcd_backup.tools_script(cluster_of(CASES[0])), "the bake installs the backup tools"
    assert steps[3]["execute_command"].endswith("' image"), "configure runs for the role image"
    assert steps[7]["execute_command"].endswith("' --before-sysprep")
    assert steps[9]["execute_command"] == "${local.execute}", "the last self-check runs every check"
    build = parse_hcl(project / "build.pkr.hcl")["build"][0]
    assert build["sources"] == ["source.openstack.node", "source.qemu.node"]
    manifest = build["post-processor"][0]["manifest"]
    assert manifest["output"] == "${var.manifest_output}"


# --- The provisioner scripts ARE the node-preparation scripts. -----------------------------------------


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_install_and_configure_provisioners_are_the_node_preparation_scripts(case: tuple[str, str, str, str]) -> None:
    cluster = cluster_of(case)
    files = emit_packer.packer_files(cluster)
    assert files[f"packer/{emit_packer.SCRIPTS['install']}"].content == prepare.install_script(cluster).encode()
    assert files[f"packer/{emit_packer.SCRIPTS['configure']}"].content == prepare.configure_script(cluster).encode()


@pytest.fixture(scope="module")
def install_mode_render(tmp_path_factory: pytest.TempPathFactory) -> tuple[Rendered, Cluster]:
    config = EXAMPLES / "valid" / "k8s-1-30-install-ubuntu-22-04" / "cluster.yaml"
    rendered = render_config(config, tmp_path_factory.mktemp("install-mode"))
    return rendered, api.load_cluster(config).cluster


def test_provisioner_scripts_are_the_bytes_an_install_mode_node_runs(
    install_mode_render: tuple[Rendered, Cluster], tmp_path: Path
) -> None:
    """The same bytes as the scripts an install-mode node's user-data writes and runs, and the bake
    references exactly those rendered files."""
    rendered, cluster = install_mode_render
    assert cluster.image_mode == "install"
    project = write_project(cluster, tmp_path)
    for node_dir in rendered.node_dirs():
        written = {e["path"]: e["content"] for e in rendered.user_data(node_dir.name)["write_files"]}
        assert (project / emit_packer.SCRIPTS["install"]).read_bytes() == written[prepare.INSTALL_PATH].encode()
        assert (project / emit_packer.SCRIPTS["configure"]).read_bytes() == written[prepare.CONFIGURE_PATH].encode()
    referenced = {p["script"].removeprefix("${path.root}/") for p in provisioners(project)}
    assert {emit_packer.SCRIPTS["install"], emit_packer.SCRIPTS["configure"]} <= referenced


# --- Scripts. ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("os_name", OS_NAMES)
@pytest.mark.parametrize(("cni", "runtime"), [("calico", "containerd"), ("cilium", "containerd"), ("flannel", "cri-o")])
def test_bake_scripts_pass_shellcheck(os_name: str, version: str, cni: str, runtime: str, tmp_path: Path) -> None:
    cluster = cluster_for(os_name, version, mode="golden", cni=cni, runtime=runtime)
    files = emit_packer.packer_files(cluster)
    scripts = {}
    for key in BAKE_SCRIPTS:
        text = files[f"packer/{emit_packer.SCRIPTS[key]}"].content.decode()
        assert "\nset -euo pipefail\n" in text, key
        scripts[f"{key}.sh"] = text
    scripts["wait-for-cloud-init.sh"] = files["packer/scripts/wait-for-cloud-init.sh"].content.decode()
    shellcheck(scripts, tmp_path)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_self_check_expects_kubeadms_images_and_the_cni_images(case: tuple[str, str, str, str]) -> None:
    cluster = cluster_of(case)
    script = emit_packer.self_check_script(cluster)
    release = cluster.kubernetes
    version = f"v{cluster.kubernetes_version}"
    expected = {
        *(f"registry.k8s.io/{c}:{version}" for c in ("kube-apiserver", "kube-controller-manager", "kube-scheduler")),
        f"registry.k8s.io/kube-proxy:{version}",
        release.pause_image,
        release.etcd_image,
        release.coredns_image,
        *(emit_packer.normalize_image(i) for i in images.cni_images(cluster)),
    }
    assert set(emit_packer.baked_images(cluster)) == expected
    for image in expected:
        assert f"\n  {image}\n" in script, image
    manifest = json.loads(prepare.image_manifest(cluster, emit_packer.baked_images(cluster)))
    assert manifest["images"] == emit_packer.baked_images(cluster)
    assert manifest["kubernetesVersion"] == str(cluster.kubernetes_version)
    assert prepare.image_manifest(cluster, emit_packer.baked_images(cluster)) in emit_packer.image_manifest_script(
        cluster
    )


def test_image_references_are_normalized_like_the_cri_lists_them() -> None:
    assert emit_packer.normalize_image("busybox:1.36") == "docker.io/library/busybox:1.36"
    assert emit_packer.normalize_image("calico/node:v3") == "docker.io/calico/node:v3"
    assert emit_packer.normalize_image("quay.io/cilium/cilium:v1") == "quay.io/cilium/cilium:v1"
    assert emit_packer.normalize_image("localhost/x:1") == "localhost/x:1"
    assert emit_packer.normalize_image("registry:5000/x:1") == "registry:5000/x:1"


def test_values_in_comments_cannot_end_the_comment(tmp_path: Path) -> None:
    """Validation lets a trailing newline through pattern-checked fields (see tests/test_injection.py);
    in a comment it would start a new line of HCL or shell. Comments get values on one line."""
    cluster = cluster_of(CASES[0])
    hostile = dataclasses.replace(
        cluster,
        name="demo\n$(touch CANARY)",
        runtime=dataclasses.replace(cluster.runtime, version="2.1.5\nrm -rf /"),
    )
    project = write_project(hostile, tmp_path)
    for path in project.glob("*.pkr*.hcl"):
        assert parse_hcl(path), path.name
    # (node-install.sh and node-configure.sh are generator/prepare.py's, tested with it.)
    for path in [project / emit_packer.SCRIPTS[key] for key in BAKE_SCRIPTS]:
        lines = path.read_text(encoding="utf-8").splitlines()
        header = lines[: lines.index("set -euo pipefail")]
        assert all(line.startswith("#") for line in header), f"{path.name}: {header}"
        result = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stderr
    assert emit_packer.one_line("a\n b\t c\n") == "a b c"


# --- The API the render and the CLI use. ---------------------------------------------------------------


def test_packer_files_are_pure_and_deterministic() -> None:
    """Speed is measured by bench/, not asserted here."""
    cluster = cluster_of(CASES[0])
    first = emit_packer.packer_files(cluster)
    assert emit_packer.packer_files(cluster) == first
    assert all(rel.startswith("packer/") for rel in first)
    assert emit_packer.EXAMPLE_VARS in first
    assert "packer/README.md" not in first, "the shared folder's own README is not copied"
    assert first["packer/scripts/wait-for-cloud-init.sh"].mode == EXECUTABLE_MODE
    assert first[f"packer/{emit_packer.SCRIPTS['self-check']}"].mode == EXECUTABLE_MODE


@pytest.mark.parametrize("case", GOLDEN_CASES, ids=case_id)
def test_project_matches_golden(case: tuple[str, str, str, str]) -> None:
    """Everything kgen renders for the bake, the node-preparation scripts included: where one equals a
    prepare/ golden it is stored as a reference to it (tests/golden.py), and where it does not (another
    CNI than the prepare matrix's) it is pinned here, as are the scripts that pin its SHA-256."""
    files = emit_packer.packer_files(cluster_of(case))
    prefix = f"packer/{case_id(case)}"
    produced = set()
    for rel, out in files.items():
        name = f"{prefix}/{rel.removeprefix('packer/')}"
        produced.add(name)
        check_golden(name, out.content)
    check_no_stale_golden(prefix, produced)


# --- The CI recipe for users (docs/). --------------------------------------------------------------------


def test_github_actions_example_runs_the_rendered_project(projects: dict[str, Path]) -> None:
    """The documented workflow parses, runs packer init/validate/build -only=qemu.* on the rendered
    folder, uploads an artifact, and every -var it sets is a variable the project declares."""
    workflow = parse_yaml((REPO / "docs" / "github-actions-bake.yml").read_text(encoding="utf-8"))
    steps = workflow["jobs"]["bake"]["steps"]
    runs = "\n".join(step.get("run", "") for step in steps)
    assert 'packer init "out/$CLUSTER/packer"' in runs
    assert "packer validate -only='qemu.*'" in runs
    assert "packer build -only='qemu.*'" in runs
    assert "qemu_accelerator=$ACCEL" in runs and "ACCEL=tcg" in runs
    assert any(str(step.get("uses", "")).startswith("actions/upload-artifact@") for step in steps)
    declared = set(variables(next(iter(projects.values()))))
    used = set(re.findall(r'-var "([a-z_]+)=', runs))
    assert used and used <= declared, used - declared
    guide = (REPO / "docs" / "bake-in-ci.md").read_text(encoding="utf-8")
    assert "KVM or TCG" in guide and "github-actions-bake.yml" in guide


# --- kgen bake. --------------------------------------------------------------------------------------------


def test_bake_commands(tmp_path: Path) -> None:
    out = tmp_path / "out" / "demo"
    work = tmp_path / "out" / "demo-bake"
    project = str(out / "packer")
    assert bake_runner.bake_commands(out, only="openstack") == [
        ["packer", "init", project],
        ["packer", "build", "-only=openstack.*", f"-var=manifest_output={work}/packer-manifest.json", project],
    ]
    site = tmp_path / "site.pkrvars.hcl"
    commands = bake_runner.bake_commands(out, only="qemu", var_files=[site], accelerator="tcg")
    assert commands[0] == ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "kgen-bake", "-f", f"{work}/build-key"]
    assert commands[1] == ["packer", "init", project]
    assert commands[2] == [
        "packer", "build", "-only=qemu.*", f"-var=manifest_output={work}/packer-manifest.json",
        f"-var=qemu_ssh_private_key_file={work}/build-key", f"-var=qemu_output_directory={work}/output-qemu",
        "-var=qemu_accelerator=tcg", f"-var-file={site}", project,
    ]  # fmt: skip
    both = bake_runner.bake_commands(out, accelerator="kvm")
    assert both[2][:2] == ["packer", "build"] and not any(a.startswith("-only") for a in both[2])
    text = bake_runner.format_commands(commands)
    assert "ssh-keygen -q -t ed25519 -N '' -C kgen-bake" in text and "'-only=qemu.*'" in text


def fake_packer(bin_dir: Path, version: str) -> None:
    bin_dir.mkdir(parents=True, exist_ok=True)
    tool = bin_dir / "packer"
    tool.write_text(f"#!/bin/sh\nif [ \"$1\" = version ]; then echo 'Packer v{version}'; fi\n", encoding="utf-8")
    tool.chmod(0o755)


def rendered_project(tmp_path: Path) -> Path:
    out = tmp_path / "out" / "demo"
    write_project(cluster_of(CASES[0]), out)
    return out


def test_bake_stops_when_packer_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = rendered_project(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(UserError, match=r"packer is not installed.*HashiCorp's Packer 1\.10 or newer"):
        bake_runner.bake(out, only="openstack")


def test_bake_stops_on_debians_packer_1_6_6(tmp_path: Path) -> None:
    """The real Debian packer: too old to build, and the message says what to install instead."""
    require_tool("packer", reason="Debian package packer")
    out = rendered_project(tmp_path)
    with pytest.raises(UserError) as caught:
        bake_runner.bake(out, only="openstack")
    message = str(caught.value)
    assert re.search(r"packer 1\.\d+\.\d+ at \S+ is too old", message), message
    assert "1.10 or newer" in message and "developer.hashicorp.com/packer/install" in message
    assert "packer validate -syntax-only" in message


def test_bake_runs_init_then_build_and_removes_the_build_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require_tool("ssh-keygen", reason="Debian package openssh-client")
    for tool in ("qemu-system-x86_64", "genisoimage"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    out = rendered_project(tmp_path)
    bin_dir = tmp_path / "bin"
    fake_packer(bin_dir, "1.11.2")
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/local/bin:/usr/bin:/bin")
    calls: list[list[str]] = []
    key_seen: list[bool] = []

    def run(argv: list[str]) -> int:
        calls.append(argv)
        if argv[0] == "ssh-keygen":
            return subprocess.run(argv, check=False, capture_output=True).returncode
        key_seen.append((tmp_path / "out" / "demo-bake" / "build-key.pub").is_file())
        return 0

    lines: list[str] = []
    result = bake_runner.bake(out, only="qemu", accelerator="tcg", run=run, echo=lines.append)
    assert [c[0] for c in calls] == ["ssh-keygen", str(bin_dir / "packer"), str(bin_dir / "packer")]
    assert calls[1][1:] == ["init", str(out / "packer")]
    assert calls[2][1:3] == ["build", "-only=qemu.*"]
    assert key_seen == [True, True], "the key exists while packer runs"
    assert not (tmp_path / "out" / "demo-bake" / "build-key").exists(), "the throwaway key is removed"
    assert lines[0].startswith("$ ssh-keygen")
    assert result.manifest is None

    def failing(argv: list[str]) -> int:
        return 0 if argv[0] == "ssh-keygen" or argv[1] == "init" else 2

    with pytest.raises(UserError, match=r"packer build .* failed \(exit 2\)"):
        bake_runner.bake(out, only="openstack", run=failing)


def test_bake_dry_run_and_missing_inputs(tmp_path: Path) -> None:
    out = rendered_project(tmp_path)
    result = bake_runner.bake(out, only="openstack", dry_run=True)
    assert result.commands == bake_runner.bake_commands(out, only="openstack")
    with pytest.raises(UserError, match="run `kgen render` first"):
        bake_runner.bake(tmp_path / "out" / "other", dry_run=True)
    with pytest.raises(UserError, match="variables file not found"):
        bake_runner.bake(out, var_files=[tmp_path / "missing.pkrvars.hcl"], dry_run=True)


# --- The self-check, sysprep and the golden-mode guard on a real kernel (one boot). -------------------
#
# The Debian 12 test image (tests/boot/baseimage.py) stands in for a baked image: real systemd,
# containerd 1.6, cloud-init and dpkg, with kubeadm/kubelet/kubectl stand-ins. In the guest the test
# runs the rendered configure phase (role image), records stand-in dpkg packages for kubeadm, kubelet,
# kubectl and containerd.io (package records only, no files: the binaries are the stand-ins), imports
# the expected images into containerd's k8s.io store under their real names, places the CNI
# manifests the install phase would have downloaded, and runs the rendered image-manifest script.
# Then the self-check runs once where it must pass and once per failure it must catch, sysprep runs,
# and the final self-check runs once passing and once with host keys. The first-boot script of a
# golden-mode node runs against a mismatched image.json before all that. Every run's exit code and
# output land in /var/lib/kgen-vm/collect/, which the VM reports back.

VM_TIMEOUT = 1200.0
GUEST_DIR = "/usr/local/lib/kgen-test"
COLLECT = "/var/lib/kgen-vm/collect"
VM_KUBERNETES = "1.30.14"  # the stand-in kubeadm lists the same images as kgen's table for 1.30
VM_CONTAINERD = "1.6.20"  # what the test image's Debian containerd package is
WRONG_KUBERNETES = "1.30.13"
EXTRA_IMAGE = "docker.io/library/busybox:kgen-extra"

CRICTL_STANDIN = '''#!/usr/bin/python3
# KGEN TEST STAND-IN - not the real crictl
"""`crictl images` for kgen's boot tests (cri-tools is not packaged for Debian 12): lists the images in
the real containerd's k8s.io namespace (through ctr) in crictl's IMAGE/TAG/IMAGE ID/SIZE table.
Nothing else is implemented."""
import subprocess
import sys

if sys.argv[1:] != ["images"]:
    print("kgen stand-in crictl: only `crictl images` is implemented", file=sys.stderr)
    sys.exit(1)
refs = subprocess.run(["ctr", "-n", "k8s.io", "images", "ls", "-q"], capture_output=True, text=True, check=True)
print("%-60s %-24s %-16s %s" % ("IMAGE", "TAG", "IMAGE ID", "SIZE"))
for ref in sorted(set(refs.stdout.split())):
    if ref.startswith("sha256:") or "@" in ref:
        continue
    repo, _, tag = ref.rpartition(":")
    print("%-60s %-24s %-16s %s" % (repo, tag, "0123456789ab", "1kB"))
'''


def vm_cluster() -> Cluster:
    """The cluster the stand-in image was 'baked' for: its containerd is Debian's 1.6.20 package."""
    cluster = cluster_for("debian-12", VM_KUBERNETES, mode="golden", cni="flannel")
    return dataclasses.replace(
        cluster, runtime=Runtime(name="containerd", version=VM_CONTAINERD, socket=cluster.cri_socket)
    )


def docker_archive(tags: list[str]) -> bytes:
    """A minimal image (one tiny layer) in `docker save` format, under every name in ``tags``."""

    def tar_bytes(members: list[tuple[str, bytes]]) -> bytes:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
            for name, data in members:
                info = tarfile.TarInfo(name)
                info.size, info.mtime, info.mode = len(data), 0, 0o644
                tar.addfile(info, io.BytesIO(data))
        return buffer.getvalue()

    layer = tar_bytes([("kgen-test-image", b"kgen test image\\n")])
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]},
        }
    ).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps([{"Config": config_name, "RepoTags": tags, "Layers": ["layer/layer.tar"]}]).encode()
    return tar_bytes([(config_name, config), ("layer/layer.tar", layer), ("manifest.json", manifest)])


def golden_bootstrap_script(tmp: Path) -> str:
    """The first-boot script of a golden-mode worker of a cluster that wants Kubernetes 1.30.14."""
    data = base_config()
    data["spec"].update(
        {
            "os": "debian-12",
            "kubernetes": {"version": VM_KUBERNETES},
            "image": {"mode": "golden"},
            "cni": {"plugin": "flannel"},
        }
    )
    config = tmp / "cluster.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    rendered = render_config(config, tmp / "render")
    return (rendered.root / "nodes" / "worker-0" / "bootstrap.sh").read_text(encoding="utf-8")


def driver_script(cluster: Cluster) -> str:
    q = shlex.quote
    manifests = " ".join(q(p) for p in emit_packer.cni_manifest_paths(cluster))
    kube_deb = f"{VM_KUBERNETES}-1.1"
    etcd = cluster.kubernetes.etcd_image
    return f"""#!/bin/bash
# kgen test driver (not shipped): prepares the stand-in image like a bake, then runs the self-check,
# sysprep and the golden-mode guard, recording each run in {COLLECT}/NAME.rc and NAME.out.
set -uo pipefail
T={GUEST_DIR}
C={COLLECT}
run() {{
  local name=$1
  shift
  "$@" >"$C/$name.out" 2>&1
  echo $? >"$C/$name.rc"
}}
make_deb() {{
  local dir=$T/debs/$1_$2
  mkdir -p "$dir/DEBIAN"
  printf 'Package: %s\\nVersion: %s\\nArchitecture: all\\n' "$1" "$2" >"$dir/DEBIAN/control"
  printf 'Maintainer: kgen tests <kgen@example.invalid>\\n' >>"$dir/DEBIAN/control"
  printf 'Description: KGEN TEST STAND-IN package record (no files)\\n' >>"$dir/DEBIAN/control"
  dpkg-deb --build "$dir" "$dir.deb" >/dev/null
  dpkg --force-hold --force-downgrade -i "$dir.deb" >/dev/null
  echo "$1 hold" | dpkg --set-selections
}}
standin_version() {{
  echo "STANDIN_VERSION=v$1" >/etc/kgen-standin.env
}}

# The golden-mode guard: an image.json for another Kubernetes version.
install -D -m 0644 $T/wrong-image.json /etc/kgen/image.json
run guard bash $T/bootstrap.sh
cp /var/lib/kgen/bootstrap-failure "$C/guard.marker" 2>/dev/null
rm -f /etc/kgen/image.json

# Prepared like a bake: configure phase, packages, images, CNI manifests, image.json.
standin_version {VM_KUBERNETES}
run configure bash $T/node-configure.sh image
for pkg in kubeadm kubelet kubectl; do make_deb "$pkg" {kube_deb}; done
make_deb containerd.io {VM_CONTAINERD}-1
run import ctr -n k8s.io images import $T/images.tar
for manifest in {manifests}; do
  install -D -m 0644 /dev/null "$manifest"
  echo "# placeholder for $manifest" >"$manifest"
done
run cni-manifests bash $T/cni-manifests.sh
run image-manifest bash $T/image-manifest.sh

run pass-before-sysprep bash $T/self-check.sh --before-sysprep
run machine-id bash $T/self-check.sh

standin_version {WRONG_KUBERNETES}
run wrong-version bash $T/self-check.sh --before-sysprep
standin_version {VM_KUBERNETES}

make_deb kubeadm {WRONG_KUBERNETES}-1.1
run wrong-package bash $T/self-check.sh --before-sysprep
make_deb kubeadm {kube_deb}

ctr -n k8s.io images rm {q(etcd)} >/dev/null
run missing-image bash $T/self-check.sh --before-sysprep
ctr -n k8s.io images import $T/images.tar >/dev/null

ctr -n k8s.io images import $T/extra.tar >/dev/null
run extra-image bash $T/self-check.sh --before-sysprep
ctr -n k8s.io images rm {q(EXTRA_IMAGE)} >/dev/null

sed -i 's/SystemdCgroup = true/SystemdCgroup = false/' /etc/containerd/config.toml
systemctl restart containerd
run systemd-cgroup-false bash $T/self-check.sh --before-sysprep
run configure-again bash $T/node-configure.sh image
run pass-restored bash $T/self-check.sh --before-sysprep

# Sysprep, as the build user kgen-build would run it through sudo, on an image with host keys and keys,
# once cloud-init is done (as in a bake, where the first provisioner waits for it).
cloud-init status --wait >/dev/null 2>&1
useradd --create-home kgen-build
install -d -m 0700 -o kgen-build /home/kgen-build/.ssh
echo 'ssh-ed25519 AAAA kgen-test-build-key' >/home/kgen-build/.ssh/authorized_keys
install -d -m 0755 /etc/ssh
for type in rsa ecdsa ed25519; do
  echo key >/etc/ssh/ssh_host_${{type}}_key
  echo pub >/etc/ssh/ssh_host_${{type}}_key.pub
done
run sysprep env SUDO_USER=kgen-build bash $T/sysprep.sh
run pass-final env SUDO_USER=kgen-build bash $T/self-check.sh
echo key >/etc/ssh/ssh_host_ed25519_key
run host-keys env SUDO_USER=kgen-build bash $T/self-check.sh
rm -f /etc/ssh/ssh_host_ed25519_key
printf 'done\n' >"$C/driver.done"
"""


def self_check_user_data(cluster: Cluster, tmp: Path) -> str:
    files = emit_packer.packer_files(cluster)
    wrong = cluster_for("debian-12", WRONG_KUBERNETES, mode="golden", cni="flannel")
    entries: list[dict[str, Any]] = [
        {"path": "/usr/local/bin/crictl", "permissions": "0755", "content": CRICTL_STANDIN},
        {"path": f"{GUEST_DIR}/driver.sh", "permissions": "0755", "content": driver_script(cluster)},
        {"path": f"{GUEST_DIR}/bootstrap.sh", "permissions": "0700", "content": golden_bootstrap_script(tmp)},
        {
            "path": f"{GUEST_DIR}/wrong-image.json",
            "content": prepare.image_manifest(wrong, emit_packer.baked_images(wrong)),
        },
    ]
    for key in ("configure", "cni-manifests", "image-manifest", "self-check", "sysprep"):
        rel = emit_packer.SCRIPTS[key]
        content = files[f"packer/{rel}"].content.decode()
        if key == "cni-manifests":
            # The driver's placeholders stand in for the real manifests (not readable here), so the step
            # checks them against their own digests instead of the version table's pins.
            for m in emit_packer.cni_manifest_files(cluster):
                placeholder = f"# placeholder for {m.path}\n".encode()
                content = content.replace(m.sha256, hashlib.sha256(placeholder).hexdigest())
        entries.append({"path": f"{GUEST_DIR}/{Path(rel).name}", "permissions": "0755", "content": content})
    for name, tags in (("images.tar", emit_packer.baked_images(cluster)), ("extra.tar", [EXTRA_IMAGE])):
        data = base64.b64encode(docker_archive(tags)).decode()
        entries.append({"path": f"{GUEST_DIR}/{name}", "encoding": "b64", "content": data})
    # A queued oneshot unit rather than runcmd: the driver runs sysprep, whose `cloud-init clean` must not
    # pull the state from under a running cloud-init; the VM's reporter waits for the job to finish.
    driver = [
        "systemd-run",
        "--no-block",
        "--unit=kgen-test-driver",
        "-p",
        "Type=oneshot",
        "bash",
        f"{GUEST_DIR}/driver.sh",
    ]
    document = {"write_files": entries, "runcmd": [driver]}
    return "#cloud-config\n" + yaml.safe_dump(document, sort_keys=False, width=1 << 20)


@pytest.fixture(scope="module")
def baked_vm(tmp_path_factory: pytest.TempPathFactory) -> tuple[VmResult, dict[str, str]]:
    reason = missing_boot_prerequisites()
    if reason is not None:
        skip_or_fail(reason)
    try:
        base: BaseImage = ensure_base_image(log=lambda line: print(f"baseimage: {line}", file=sys.stderr))
    except BaseImageError as exc:
        pytest.fail(f"cannot build the boot-test base image: {exc}")
    tmp = tmp_path_factory.mktemp("bake-checks")
    user_data = tmp / "user-data"
    user_data.write_text(self_check_user_data(vm_cluster(), tmp), encoding="utf-8")
    meta_data = tmp / "meta-data"
    meta_data.write_text("instance-id: kgen-bake-checks\nlocal-hostname: bake-checks\n", encoding="utf-8")
    result = run_vm(
        user_data=user_data,
        meta_data=meta_data,
        image=base.disk,
        workdir=tmp / "vm",
        kernel=base.kernel,
        initrd=base.initrd,
        accel="tcg",  # pinned: a test must not depend on which accelerator the host offers
        timeout=VM_TIMEOUT,
    )
    serial = result.serial_log.read_text(encoding="utf-8", errors="replace").splitlines()
    context = "serial console (end):\n" + "\n".join(serial[-80:])
    assert result.report is not None, context
    facts = result.report.facts
    assert facts.get("driver.done", "").strip() == "done", context + "\nfacts: " + ", ".join(sorted(facts))
    return result, facts


def run_of(facts: dict[str, str], name: str) -> tuple[int, str]:
    return int(facts[f"{name}.rc"].strip()), facts[f"{name}.out"]


def fail_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("FAIL")]


@pytest.mark.boot
def test_self_check_passes_on_a_prepared_image(baked_vm: tuple[VmResult, dict[str, str]]) -> None:
    _, facts = baked_vm
    for step in ("configure", "import", "cni-manifests", "image-manifest"):
        code, output = run_of(facts, step)
        assert code == 0, f"{step}: {output}"
    for name in ("pass-before-sysprep", "pass-restored"):
        code, output = run_of(facts, name)
        assert code == 0, output
        assert fail_lines(output) == []
        assert "self-check: all checks passed" in output
        assert (
            f"ok    crictl images lists exactly the {len(emit_packer.baked_images(vm_cluster()))} pre-pulled images"
            in output
        )
        assert "ok    containerd runs runc with SystemdCgroup = true" in output
        assert f"ok    package kubeadm: {VM_KUBERNETES}-1.1 (held)" in output
        assert (
            "image hygiene (SSH host keys, machine-id, cloud-init state, build key) is checked after sysprep" in output
        )


@pytest.mark.boot
@pytest.mark.parametrize(
    ("run", "expected"),
    [
        (
            "wrong-version",
            [
                f"kubeadm version is 'v{WRONG_KUBERNETES}', expected 'v{VM_KUBERNETES}'",
                f"kubelet version is 'Kubernetes v{WRONG_KUBERNETES}', expected 'Kubernetes v{VM_KUBERNETES}'",
                f"kubectl version is 'v{WRONG_KUBERNETES}', expected 'v{VM_KUBERNETES}'",
            ],
        ),
        ("wrong-package", [f"package kubeadm is {WRONG_KUBERNETES}-1.1, expected {VM_KUBERNETES}"]),
        (
            "missing-image",
            ["images missing from crictl images (a first boot would need a registry): registry.k8s.io/etcd:"],
        ),
        ("extra-image", [f"images in crictl images that the bake did not pre-pull: {EXTRA_IMAGE}"]),
        ("systemd-cgroup-false", ["containerd config dump does not have SystemdCgroup = true"]),
        # The full check before sysprep: everything sysprep is there for.
        (
            "machine-id",
            [
                "/etc/machine-id is not empty",
                "cloud-init state is left in /var/lib/cloud",
                "the build's SSH keys are left (they would open every node): /root/.ssh/authorized_keys",
            ],
        ),
        ("host-keys", ["SSH host keys are present (every node would share them): /etc/ssh/ssh_host_ed25519_key"]),
    ],
)
def test_self_check_catches(run: str, expected: list[str], baked_vm: tuple[VmResult, dict[str, str]]) -> None:
    _, facts = baked_vm
    code, output = run_of(facts, run)
    assert code == 1, output
    failures = fail_lines(output)
    for message in expected:
        assert any(message in line for line in failures), f"{message!r} not in:\n{output}"
    unexplained = [line for line in failures if not any(message in line for message in expected)]
    assert unexplained == [], output
    assert "this image must not be used" in output


@pytest.mark.boot
def test_sysprep_leaves_an_image_the_final_self_check_passes(baked_vm: tuple[VmResult, dict[str, str]]) -> None:
    _, facts = baked_vm
    code, output = run_of(facts, "sysprep")
    assert code == 0, output
    for step in ("cleaned cloud-init state", "emptied /etc/machine-id", "removed the SSH host keys",
                 "removed /home/kgen-build/.ssh/authorized_keys", "cleaned the package caches", "cleared the logs",
                 "cleared /tmp and /var/tmp", "sysprep done"):  # fmt: skip
        assert step in output, step
    code, output = run_of(facts, "pass-final")
    assert code == 0, output
    for check in ("ok    no SSH host keys", "ok    machine-id is empty", "ok    no cloud-init state",
                  "ok    no build user SSH keys", "self-check: all checks passed"):  # fmt: skip
        assert check in output, check
    code, output = run_of(facts, "configure-again")
    assert code == 0 and "restarted containerd" in output, output


@pytest.mark.boot
def test_golden_mode_first_boot_refuses_a_mismatched_image(baked_vm: tuple[VmResult, dict[str, str]]) -> None:
    _, facts = baked_vm
    code, output = run_of(facts, "guard")
    message = (
        f"the image was baked for Kubernetes {WRONG_KUBERNETES}, but the cluster config wants Kubernetes "
        f"{VM_KUBERNETES}; bake a matching image (kgen bake) or change the config"
    )
    assert code != 0, output
    assert message in output
    marker = facts["guard.marker"]
    assert "step: check the golden image" in marker
    assert message in marker
    assert "kubeadm" not in output.lower().replace("kgen bake", ""), "nothing ran after the guard"


def test_addon_images_are_baked_when_the_config_turns_them_on() -> None:
    config = EXAMPLES / "valid" / "kube-vip-ha" / "cluster.yaml"
    cluster = model.build(load(config))
    assert emit_packer.normalize_image(kubevip.image()) in emit_packer.baked_images(cluster)
    plain = model.build(load(EXAMPLES / "valid" / "runbook-single-control-plane" / "cluster.yaml"))
    assert not any("kube-vip" in image for image in emit_packer.baked_images(plain))
