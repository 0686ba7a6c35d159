"""For every valid example rendered in golden mode, the images its first boot will ask for equal what the
bake pre-pulls (``packer/scripts/pre-pull.sh``), what the self-check expects in ``crictl images`` and
what ``/etc/kgen/image.json`` records.

What the first boot asks for is derived here, apart from kgen's image table (:mod:`generator.images`),
from what kgen renders for the node (the Calico Installation and APIServer, the Cilium values, the
kube-vip static pod, the cloud provider's kubectl commands) and from the upstream rules and manifests,
written down below with the source each was read from."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest

from generator import images
from tests.conftest import GoldenMode, Rendered, parse_yaml, parse_yaml_all, valid_cases

# --- upstream facts ----------------------------------------------------------------------------------------

# kubeadm: registry.k8s.io/<component>:v<exact version> for its four components, plus the coredns, pause and
# etcd images of the minor (kubernetes/kubernetes cmd/kubeadm/app/images/images.go GetControlPlaneImages;
# the tags per minor are the version table's `kubernetes.<minor>.images`, each with its source).
VERSIONS_YAML = Path(images.__file__).parent / "data" / "versions.yaml"
KUBEADM_COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy")

# projectcalico/calico <tag> manifests/tigera-operator.yaml: the operator Deployment's image, and the Calico
# version that operator deploys (tigera/operator pkg/components/calico.go CalicoRelease at that operator tag).
CALICO_RELEASES = {"v3.31.3": {"operatorImage": "quay.io/tigera/operator:v1.40.3", "components": "v3.31.3"}}
# tigera/operator v1.40.3 pkg/components/images.go: CalicoRegistry, used when spec.registry is empty.
CALICO_DEFAULT_REGISTRY = "quay.io/"

# Cilium chart <version>: image, operator and envoy as the chart names them with useDigest false
# (operator: repository quay.io/cilium/operator plus the "-generic" suffix). Taken from a live chart 1.18.4
# install (cilium status); see versions.yaml cni.cilium.source, which marks this unverified.
CILIUM_CHARTS = {
    "1.18.4": {
        "image": "quay.io/cilium/cilium:v1.18.4",
        "operator": "quay.io/cilium/operator-generic:v1.18.4",
        "envoy": "quay.io/cilium/cilium-envoy:v1.34.10-1762597008-ff7ae7d623be00078865cff1b0672cc5d9bfc6d5",
    }
}

# flannel-io/flannel <tag> Documentation/kube-flannel.yml: every image: line.
FLANNEL_MANIFESTS = {
    "v0.27.4": ["ghcr.io/flannel-io/flannel-cni-plugin:v1.8.0-flannel1", "ghcr.io/flannel-io/flannel:v0.27.4"]
}

# kubernetes/cloud-provider-openstack <tag> manifests/: every image the applied manifests name
# (openstack-cloud-controller-manager-ds.yaml, cinder-csi-controllerplugin.yaml, cinder-csi-nodeplugin.yaml),
# and the containers pulled with imagePullPolicy Always (csi-snapshotter in cinder-csi-controllerplugin.yaml).
_CPO_SIDECARS = {
    "v1.30": ("v4.4.2", "v3.6.2", "v6.3.2", "v1.9.2", "v2.11.0", "v2.9.2"),
    "v1.32": ("v4.7.0", "v5.1.0", "v8.1.0", "v1.12.0", "v2.14.0", "v2.12.0"),
    "v1.34": ("v4.10.0", "v5.3.0", "v8.3.0", "v1.14.0", "v2.17.0", "v2.15.0"),
}
_SIDECAR_NAMES = ("csi-attacher", "csi-provisioner", "csi-snapshotter", "csi-resizer", "livenessprobe")


def _cpo_images(tag: str, sidecars: str) -> list[str]:
    attacher, provisioner, snapshotter, resizer, probe, registrar = _CPO_SIDECARS[sidecars]
    tags = dict(zip(_SIDECAR_NAMES, (attacher, provisioner, snapshotter, resizer, probe), strict=True))
    return [
        f"registry.k8s.io/provider-os/openstack-cloud-controller-manager:{tag}",
        f"registry.k8s.io/provider-os/cinder-csi-plugin:{tag}",
        *(f"registry.k8s.io/sig-storage/{name}:{tag_}" for name, tag_ in tags.items()),
        f"registry.k8s.io/sig-storage/csi-node-driver-registrar:{registrar}",
    ]


CLOUD_PROVIDER_RELEASES = {
    "v1.30.3": _cpo_images("v1.30.3", "v1.30"),
    "v1.31.3": _cpo_images("v1.31.3", "v1.30"),
    "v1.32.1": _cpo_images("v1.32.1", "v1.32"),
    "v1.33.1": _cpo_images("v1.33.1", "v1.32"),
    "v1.34.1": _cpo_images("v1.34.1", "v1.34"),
}
CLOUD_PROVIDER_ALWAYS_PULLED = {("deployment/csi-cinder-controllerplugin", "csi-snapshotter")}


# --- reading what kgen rendered -----------------------------------------------------------------------------


def node_files(rendered: Rendered) -> dict[str, str]:
    """Every file any node's user-data writes, path -> content (the same path has the same content)."""
    out: dict[str, str] = {}
    for node in rendered.node_dirs():
        for entry in rendered.user_data(node.name).get("write_files", []):
            out.setdefault(entry["path"], entry.get("content", ""))
    return out


def bootstrap_commands(files: dict[str, str]) -> Iterator[list[str]]:
    """The first-boot script's one-line kubectl_retry commands, split as the shell would."""
    for line in files.get("/usr/local/sbin/kgen-bootstrap", "").splitlines():
        words = line.strip()
        if words.startswith("kubectl_retry ") and not words.endswith("\\"):
            yield shlex.split(words)[1:]


def shell_array(script: str, name: str) -> list[str]:
    """The words of ``readonly NAME=(...)`` in a rendered script (one line or one word a line)."""
    match = re.search(rf"^readonly {name}=\((.*?)\)$", script, re.MULTILINE | re.DOTALL)
    assert match, f"no {name} array"
    return shlex.split(match.group(1))


# --- what the first boot asks for -----------------------------------------------------------------------------


def kubeadm_wants(version: str) -> set[str]:
    table = parse_yaml(VERSIONS_YAML.read_text(encoding="utf-8"))
    minor = ".".join(version.split(".")[:2])
    tags = table["kubernetes"][minor]["images"]
    return {
        *(f"registry.k8s.io/{name}:v{version}" for name in KUBEADM_COMPONENTS),
        tags["coredns"],
        tags["pause"],
        tags["etcd"],
    }


def calico_wants(files: dict[str, str], urls: list[str]) -> set[str]:
    (tag,) = {m.group(1) for u in urls if (m := re.search(r"projectcalico/calico/(v[^/]+)/manifests/tigera", u))}
    release = CALICO_RELEASES[tag]
    docs = list(parse_yaml_all(files["/etc/kgen/cni/custom-resources.yaml"]))
    kinds = {doc["kind"]: doc for doc in docs}
    spec = kinds["Installation"]["spec"]
    assert spec.get("variant", "Calico") == "Calico"
    for unsupported in ("imagePath", "imagePrefix", "certificateManagement", "fipsMode"):
        assert unsupported not in spec, f"this test does not model Installation.spec.{unsupported}"
    # tigera/operator v1.40.3 pkg/components/references.go GetReference: the default registry when empty,
    # otherwise spec.registry with a trailing "/"; then <image>:<version>.
    registry = spec.get("registry") or CALICO_DEFAULT_REGISTRY
    registry = registry if registry.endswith("/") else registry + "/"
    # pkg/render/node.go (node, ebpf-bootstrap, install-cni for CNI type Calico, flexvol-driver unless
    # FlexVolumePath "None"), typha.go, kubecontrollers, csi.go (unless KubeletVolumePluginPath "None"),
    # apiserver.go with an APIServer, goldmane and whisker only with their resources.
    wanted = ["calico/node", "calico/typha", "calico/kube-controllers"]
    if spec.get("cni", {}).get("type", "Calico") == "Calico":
        wanted.append("calico/cni")
    if spec.get("flexVolumePath") != "None":
        wanted.append("calico/pod2daemon-flexvol")
    if spec.get("kubeletVolumePluginPath") != "None":
        wanted += ["calico/csi", "calico/node-driver-registrar"]
    if "APIServer" in kinds:
        wanted.append("calico/apiserver")
    if "Goldmane" in kinds:
        wanted.append("calico/goldmane")
    if "Whisker" in kinds:
        wanted += ["calico/whisker", "calico/whisker-backend"]
    return {release["operatorImage"], *(f"{registry}{name}:{release['components']}" for name in wanted)}


def cilium_wants(files: dict[str, str], chart_url: str) -> set[str]:
    (version,) = re.findall(r"cilium-(\d+\.\d+\.\d+)\.tgz$", chart_url)
    chart = CILIUM_CHARTS[version]
    values = parse_yaml(files["/etc/kgen/cni/cilium-values.yaml"])
    for key, image in (("image", values.get("image", {})), ("operator.image", values["operator"].get("image", {}))):
        assert image.get("useDigest") is False, f"{key}.useDigest is not false: the chart would ask for a digest"
    out = {chart["image"], chart["operator"]}
    if values.get("envoy", {}).get("enabled", True):
        assert values["envoy"]["image"].get("useDigest") is False, "envoy.image.useDigest is not false"
        out.add(chart["envoy"])
    hubble = values.get("hubble", {})
    assert not hubble.get("relay", {}).get("enabled") and not hubble.get("ui", {}).get("enabled")
    return out


def first_boot_wants(rendered: Rendered, version: str) -> set[str]:
    files = node_files(rendered)
    commands = list(bootstrap_commands(files))
    urls = [word for command in commands for word in command if "https://" in word]
    # Pinned downloads: `fetch_pinned URL SHA256 PATH` names the URL first.
    urls += re.findall(r"fetch_pinned '?(https://[^' ]+)", files.get("/usr/local/sbin/kgen-bootstrap", ""))
    bootstrap = files.get("/usr/local/sbin/kgen-bootstrap", "")
    wanted = kubeadm_wants(version)
    if "/etc/kgen/cni/custom-resources.yaml" in files:
        wanted |= calico_wants(files, urls)
    elif "/etc/kgen/cni/cilium-values.yaml" in files:
        (chart,) = set(re.findall(r"https://\S+/cilium-[0-9.]+\.tgz", bootstrap))
        wanted |= cilium_wants(files, chart)
    elif "/etc/kgen/cni/kube-flannel-cfg.yaml" in files:
        (tag,) = set(re.findall(r"flannel-io/flannel/(v[0-9.]+)/Documentation/kube-flannel\.yml", bootstrap))
        wanted |= set(FLANNEL_MANIFESTS[tag])
    for path in ("/etc/kgen/kube-vip-init.yaml", "/etc/kgen/kube-vip.yaml"):
        if path in files:
            pod = parse_yaml(files[path])
            wanted |= {c["image"] for c in pod["spec"]["containers"]}
    tags = {m.group(1) for u in urls if (m := re.search(r"kubernetes/cloud-provider-openstack/(v[^/]+)/", u))}
    if tags:
        (tag,) = tags
        wanted |= set(CLOUD_PROVIDER_RELEASES[tag])
        # `kubectl set image` replaces what the manifests name; each must be one of the release's images.
        set_images = {c[-1].split("=", 1)[1] for c in commands if c[:2] == ["set", "image"]}
        assert set_images <= set(CLOUD_PROVIDER_RELEASES[tag])
        patched = {
            (c[3], json.loads(c[-1])["spec"]["template"]["spec"]["containers"][0]["name"])
            for c in commands
            if c[:1] == ["patch"] and '"imagePullPolicy":"IfNotPresent"' in c[-1]
        }
        assert patched >= CLOUD_PROVIDER_ALWAYS_PULLED, "a container pulled with Always would skip the baked image"
    return {images.normalize_image(i) for i in wanted}


# --- the test -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", valid_cases(), ids=lambda p: p.name)
def test_first_boot_asks_for_exactly_the_baked_images(case: Path, rendered_golden_mode: dict[str, GoldenMode]) -> None:
    golden = rendered_golden_mode[case.name]
    config, rendered = golden.config, golden.rendered
    version = str(parse_yaml(config.read_text(encoding="utf-8"))["spec"]["kubernetes"]["version"])
    wanted = first_boot_wants(rendered, version)

    scripts = rendered.root / "packer" / "scripts"
    pre_pull = (scripts / "pre-pull.sh").read_text(encoding="utf-8")
    assert f"readonly KUBERNETES_VERSION={version}\n" in pre_pull
    assert 'kubeadm config images pull --kubernetes-version "v${KUBERNETES_VERSION}"' in pre_pull
    pre_pulled = kubeadm_wants(version)  # kubeadm pulls its own list (the self-check compares it to the table)
    pre_pulled |= set(shell_array(pre_pull, "OTHER_IMAGES"))
    assert sorted(pre_pulled) == sorted(wanted)

    self_check = (scripts / "self-check.sh").read_text(encoding="utf-8")
    assert sorted(shell_array(self_check, "EXPECTED_IMAGES")) == sorted(wanted)
    manifest = re.search(r"<<'KGEN_EOF'\n(.*?)KGEN_EOF\n", self_check, re.DOTALL)
    assert manifest
    assert json.loads(manifest.group(1))["images"] == sorted(wanted)
    # Nothing the CRI would list under another name than the one kgen wrote.
    assert all(images.normalize_image(i) == i for i in shell_array(pre_pull, "OTHER_IMAGES"))


def test_calico_dataplane_follows_kube_proxy_mode(rendered_golden_mode: dict[str, GoldenMode]) -> None:
    """Operator v1.40.3 keeps Felix on iptables unless linuxDataplane is Nftables (core_controller.go
    setNftablesMode), so the Installation must say Nftables exactly when kube-proxy runs nftables."""
    for name, golden in rendered_golden_mode.items():
        rendered = golden.rendered
        files = node_files(rendered)
        if "/etc/kgen/cni/custom-resources.yaml" not in files:
            continue
        modes = {
            doc.get("mode")
            for node in rendered.node_dirs()
            for entry in rendered.user_data(node.name).get("write_files", [])
            if entry["path"] == "/etc/kgen/kubeadm.yaml"
            for doc in parse_yaml_all(entry["content"])
            if doc and doc.get("kind") == "KubeProxyConfiguration"
        }
        assert len(modes) == 1, name
        proxy = {"mode": modes.pop()}
        installation = next(parse_yaml_all(files["/etc/kgen/cni/custom-resources.yaml"]))
        dataplane = installation["spec"]["calicoNetwork"]["linuxDataplane"]
        assert dataplane == ("Nftables" if proxy.get("mode") == "nftables" else "Iptables"), name
