"""``kgen versions``, ``kgen images``, ``kgen ports`` and ``kgen join-command --control-plane``, through the
CLI in-process, and the JSON Schemas under schemas/ for the ``-o json`` output of validate, versions,
images, ports and render --dry-run, each checked against real output.

The expected values are derived here, apart from the code under test: the versions from
``generator/data/versions.yaml`` read as plain YAML, the images from what the rendered bake pre-pulls
(``packer/scripts/pre-pull.sh`` and the self-check's list), the ports from the firewalld step the
rendered configure script runs."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from typer.testing import CliRunner

from generator import api, images
from generator.api.example import InitAnswers
from generator.cli import app
from generator.emit import packer
from generator.reporters import JsonReporter
from generator.resources import data_dir, schemas_dir
from generator.runners.bake import bake_paths
from generator.tables import os_release
from tests.conftest import (
    EXAMPLES,
    REPO,
    GoldenMode,
    fixture_bundle,
    parse_yaml,
    read_yaml,
    render_config,
    valid_cases,
    write_bundle,
)
from tests.test_first_boot_images import kubeadm_wants, shell_array
from tests.test_ssh_keys import TEST_KEY

runner = CliRunner()
EXAMPLE = EXAMPLES / "valid" / "runbook-single-control-plane" / "cluster.yaml"
TABLE: dict[str, Any] = read_yaml(data_dir() / "versions.yaml")
PORTS: dict[str, Any] = read_yaml(data_dir() / "ports.yaml")


def schema(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((schemas_dir() / name).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(loaded)
    return loaded


def conforms(doc: Any, name: str) -> None:
    jsonschema.Draft202012Validator(schema(name), format_checker=jsonschema.FormatChecker()).validate(doc)


def invoke_json(*args: str) -> Any:
    result = runner.invoke(app, [*args, "-o", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# --- kgen versions --------------------------------------------------------------------------------------


def test_versions_json_is_the_version_table() -> None:
    doc = invoke_json("versions")
    conforms(doc, "kgen-versions.schema.json")
    minors = sorted(TABLE["kubernetes"], key=lambda m: tuple(int(x) for x in m.split(".")))
    assert [m["minor"] for m in doc["kubernetes"]] == minors
    for entry in doc["kubernetes"]:
        row = TABLE["kubernetes"][entry["minor"]]
        assert entry["latestPatch"] == row["latestPatch"]
        assert entry["kubeadmAPIVersion"] == row["kubeadmAPIVersion"]
        # kgen writes kubeadm.k8s.io/v1beta3 for 1.30 and v1beta4 from 1.31 (generator/kubeadm.py).
        minor = int(entry["minor"].split(".")[1])
        assert entry["kubeadmAPIVersion"].endswith("/v1beta4" if minor >= 31 else "/v1beta3")
        assert entry["images"] == {k: row["images"][k] for k in ("pause", "etcd", "coredns")}
        assert entry["containerd"] == {
            "package": str(row["containerd"]["package"]),
            "minimum": [str(v) for v in row["containerd"]["minimum"]],
            "configVersion": row["containerd"]["configVersion"],
        }
        assert entry["crio"] == {"stream": entry["minor"]}
        etcd = row["images"]["etcd"].rsplit(":", 1)[1].split("-")[0]
        assert entry["etcdTools"] == etcd and etcd in TABLE["etcdTools"]
        assert entry["cni"] == {
            plugin: {"version": str(c["version"]), "tested": entry["minor"] in c.get("kubernetes", [entry["minor"]])}
            for plugin, c in TABLE["cni"].items()
        }
        assert entry["openstackCloudProvider"] == TABLE["openstackCloudProvider"]["releases"].get(entry["minor"])
    assert [c["plugin"] for c in doc["cni"]] == list(TABLE["cni"])
    for c in doc["cni"]:
        row = TABLE["cni"][c["plugin"]]
        assert (c["version"], c["kubernetes"]) == (row["version"], row["kubernetes"])
        if c["plugin"] == "calico":  # the operator, and <registry><component>:<version> for what it deploys
            components = [f"{row['registry']}{name}:{row['version']}" for name in row["components"]]
            assert c["images"] == [row["operatorImage"], *components]
        else:
            assert c["images"] == row["images"]
        assert c["manifests"] == [m["url"] for m in row.get("manifests", [])]
    assert doc["cni"][0]["operatorImage"] == TABLE["cni"]["calico"]["operatorImage"]
    assert doc["cni"][1]["helm"] == TABLE["cni"]["cilium"]["helm"]["version"]
    assert doc["addons"] == {"kube-vip": TABLE["addons"]["kube-vip"]["image"]}


def test_versions_text_has_a_row_per_minor() -> None:
    result = runner.invoke(app, ["versions"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    for minor, row in TABLE["kubernetes"].items():
        (line,) = [x for x in lines if x.startswith(f"{minor} ")]
        words = line.split()
        assert words[:3] == [minor, row["latestPatch"], row["kubeadmAPIVersion"].rsplit("/", 1)[1]]
        assert words[3:6] == [row["images"][k].rsplit(":", 1)[1] for k in ("pause", "etcd", "coredns")]
        assert words[6] == str(row["containerd"]["package"])
        calico = TABLE["cni"]["calico"]
        assert words[8] == calico["version"] + ("" if minor in calico["kubernetes"] else "*")
        assert f"  {minor}  config version {row['containerd']['configVersion']}  minimum " in result.stdout
    assert "registry.k8s.io/pause, registry.k8s.io/etcd, registry.k8s.io/coredns/coredns" in result.stdout


# --- kgen images and kgen ports: what the rendered bake and configure step use ------------------------------


def firewall_specs(configure: str) -> dict[str, list[str]]:
    """role -> the specs the rendered firewalld step opens (`for spec in '6443/tcp' ...; do`)."""
    found = re.findall(r"^ {4}([a-z-]+)\)\n {6}for spec in (.*); do$", configure, re.MULTILINE)
    return {role: shlex.split(words) for role, words in found}


def spec_of(rule: dict[str, Any]) -> str:
    return f"{rule['port']}/{rule['protocol']}" if rule["port"] is not None else f"protocol:{rule['protocol']}"


@pytest.mark.parametrize("case", valid_cases(), ids=lambda p: p.name)
def test_images_and_ports_are_what_the_render_uses(case: Path, rendered_golden_mode: dict[str, GoldenMode]) -> None:
    golden = rendered_golden_mode[case.name]
    config, rendered = golden.config, golden.rendered
    version = str(parse_yaml(config.read_text(encoding="utf-8"))["spec"]["kubernetes"]["version"])
    scripts = rendered.root / "packer" / "scripts"
    pre_pulled = kubeadm_wants(version) | set(shell_array((scripts / "pre-pull.sh").read_text("utf-8"), "OTHER_IMAGES"))
    expected = shell_array((scripts / "self-check.sh").read_text("utf-8"), "EXPECTED_IMAGES")

    # The original config (install mode or golden) lists the same images: the mode changes who pulls them.
    for source in {config, case / "cluster.yaml"}:
        doc = invoke_json("images", str(source))
        conforms(doc, "kgen-images.schema.json")
        assert doc["images"] == sorted(pre_pulled) == expected
        assert sorted({i for group in doc["groups"].values() for i in group}) == doc["images"]
        assert set(doc["groups"]["kubeadm"]) == {images.normalize_image(i) for i in kubeadm_wants(version)}
        text = runner.invoke(app, ["images", str(source)])
        assert text.exit_code == 0 and text.stdout.splitlines() == doc["images"]
        assert f"{len(doc['images'])} images for cluster {doc['cluster']}" in text.stderr

    ports = invoke_json("ports", str(config))
    conforms(ports, "kgen-ports.schema.json")
    configure = (scripts / "node-configure.sh").read_text(encoding="utf-8")
    assert firewall_specs(configure) == {role: [spec_of(r) for r in rules] for role, rules in ports["roles"].items()}
    plugin = ports["cni"]
    for role, rules in ports["roles"].items():  # ports.yaml: the role's rows, then the CNI's
        rows = [*PORTS["roles"][role], *TABLE["cni"].get(plugin, {}).get("ports", [])]
        assert [(r.get("port"), r["protocol"], r.get("from")) for r in rows] == [
            (r["port"], r["protocol"], r["from"]) for r in rules
        ]


def test_ports_text() -> None:
    result = runner.invoke(app, ["ports", str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    assert "Inbound ports for cluster demo (CNI calico)" in result.stdout
    assert re.search(r"^  2379-2380 +tcp +control-plane nodes +etcd server client API$", result.stdout, re.M)
    assert re.search(r"^  4789 +udp +cluster nodes +VXLAN$", result.stdout, re.M)
    assert re.search(r"^  - +ipencap +cluster nodes", result.stdout, re.M)


def test_images_and_ports_refuse_an_invalid_config(tmp_path: Path) -> None:
    bad = tmp_path / "cluster.yaml"
    bad.write_text(EXAMPLE.read_text(encoding="utf-8").replace("role: worker", "role: boss"), encoding="utf-8")
    for command in ("images", "ports"):
        result = runner.invoke(app, [command, str(bad)])
        assert result.exit_code == 1
        assert "spec.nodes[1].role" in result.stderr and not result.stdout and "Traceback" not in result.output


# --- kgen join-command --control-plane ----------------------------------------------------------------


def test_join_command_for_a_control_plane(tmp_path: Path) -> None:
    bundle_path = write_bundle(EXAMPLE, tmp_path)
    bundle = fixture_bundle()
    result = runner.invoke(app, ["join-command", str(EXAMPLE), "--secrets", str(bundle_path), "--control-plane"])
    assert result.exit_code == 0, result.output
    # kubeadm join's flags: --token, --discovery-token-ca-cert-hash, --control-plane
    # (kubernetes/kubernetes cmd/kubeadm/app/cmd/join.go, addJoinConfigFlags and addJoinOtherFlags).
    assert shlex.split(result.stdout) == [
        "kubeadm",
        "join",
        "10.10.10.238:6443",
        "--token",
        bundle.bootstrap_token,
        "--discovery-token-ca-cert-hash",
        bundle.ca_cert_hash,
        "--control-plane",
    ]
    note = result.stderr
    assert note.startswith("note: ") and note.count("\n") == 1
    # What a control-plane join without --certificate-key needs on disk (the kubeadm stand-in's
    # SharedCertificateExists test names the same files): named, never printed.
    for name in ("ca.crt", "ca.key", "etcd/ca.crt", "etcd/ca.key", "front-proxy-ca.crt", "front-proxy-ca.key"):
        assert name in note
    assert "sa.pub" in note and "sa.key" in note and "/etc/kubernetes/pki/" in note and "/etc/kgen/pki/" in note
    for key in (bundle.ca.key, bundle.etcd_ca.key, bundle.front_proxy_ca.key, bundle.service_account_key):
        body = key.strip().splitlines()[1]
        assert body not in result.output
    assert "PRIVATE KEY" not in result.output and "--certificate-key" not in result.output
    worker = runner.invoke(app, ["join-command", str(EXAMPLE), "--secrets", str(bundle_path)])
    assert worker.exit_code == 0 and not worker.stderr
    assert worker.stdout == result.stdout.replace(" --control-plane", "")


# --- the JSON Schemas of validate and render --dry-run ------------------------------------------------------


def test_validate_json_conforms(tmp_path: Path) -> None:
    conforms(invoke_json("validate", str(EXAMPLE)), "kgen-validate.schema.json")
    for case in sorted((EXAMPLES / "invalid").iterdir())[:8]:
        result = runner.invoke(app, ["validate", str(case / "cluster.yaml"), "-o", "json"])
        assert result.exit_code == 1, case.name
        doc = json.loads(result.stdout)
        conforms(doc, "kgen-validate.schema.json")
        assert doc["valid"] is False
    missing = runner.invoke(app, ["validate", str(tmp_path / "missing.yaml"), "-o", "json"])
    conforms(json.loads(missing.stdout), "kgen-validate.schema.json")
    with pytest.raises(jsonschema.ValidationError):  # valid with an error is a contradiction
        conforms(
            {"file": "x", "valid": True, "problems": [{**json.loads(missing.stdout)["problems"][0]}]},
            "kgen-validate.schema.json",
        )


@pytest.mark.parametrize("with_bundle", [True, False], ids=["bundle", "no-bundle"])
def test_render_dry_run_json_conforms(tmp_path: Path, capsys: pytest.CaptureFixture[str], with_bundle: bool) -> None:
    config = tmp_path / "cluster.yaml"
    config.write_text((EXAMPLES / "valid" / "openstack-ha-kit" / "cluster.yaml").read_text("utf-8"), "utf-8")
    if with_bundle:
        write_bundle(config, tmp_path)
    result = api.render_cluster(config, out_dir=tmp_path / "out", dry_run=True)
    JsonReporter().rendered(result)
    doc = json.loads(capsys.readouterr().out)
    conforms(doc, "kgen-render.schema.json")
    assert doc["dry_run"] is True and doc["secrets"]["created"] is False
    assert {c["status"] for c in doc["changes"]} == {"create"}
    assert not (tmp_path / "out").exists()
    assert {n["action"] for n in doc["nodes"]} == {"init", "join-control-plane", "join"}


# --- the README (rough edge 10): image names and bake paths as kgen makes them, the info commands ---------


def test_readme_image_names_follow_the_naming_scheme(tmp_path: Path) -> None:
    """The README's and docs' image names are what the bake names the `kgen init` example's image
    (packer.image_name, the HCL's image_name default), its qemu disk sits where `kgen bake` puts it, and
    the Glance properties are the OS's."""
    config = tmp_path / "cluster.yaml"
    api.write_example(config, answers=InitAnswers(ssh_key=TEST_KEY))  # the placeholder key does not validate
    cluster = api.load_cluster(config).cluster
    name = packer.image_name(cluster)
    variables = (render_config(config, tmp_path / "r").root / "packer" / "variables.pkr.hcl").read_text("utf-8")
    assert re.search(r'variable "image_name" \{[^}]*default += "' + re.escape(name) + '"', variables)
    base = os_release(cluster.os).base_image
    qemu_disk = bake_paths(Path("out") / cluster.name).qemu_output / f"{name}.qcow2"
    for doc in (REPO / "README.md", REPO / "docs" / "bake-in-ci.md"):
        text = doc.read_text(encoding="utf-8")
        found = re.findall(r"\bkgen-[a-z0-9.]+-[0-9a-z.]+-k8s-[0-9][0-9a-z.-]*", text)
        names = {n.removesuffix(".qcow2") for n in found}
        assert names == {name}, doc.name
        for distro, version in re.findall(r"--property os_distro=(\S+) --property os_version=(\S+)", text):
            assert (distro, version) == (base.os_distro, base.os_version), doc.name
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert f"--file {qemu_disk}" in readme
    assert f"jq -r '.builds[-1].artifact_id' {bake_paths(Path('out') / cluster.name).manifest}" in readme


def test_readme_command_list_names_real_commands_and_options() -> None:
    """Each line of the README's "Using kgen" list is a kgen command with options the CLI has."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = readme.split("## Using kgen", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    block = block.replace("\\\n", " ")  # a command continued on the next line
    commands = [line.split("#", 1)[0].split() for line in block.splitlines() if line.startswith("kgen ")]
    assert {c[1] for c in commands} >= {"versions", "images", "ports", "join-command"}
    for words in commands:
        # kgen's own options (--install-completion) are in the top-level help.
        top = words[1].startswith("--")
        path = [] if top else words[1:3] if words[1] in ("certs", "token") else words[1:2]
        help_text = runner.invoke(app, [*path, "--help"])
        assert help_text.exit_code == 0, words
        for option in (w for w in words if w.startswith("--")):
            assert option in help_text.stdout, (words, option)
    assert "`kgen ports cluster.yaml`" in readme
