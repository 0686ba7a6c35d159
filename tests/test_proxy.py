"""Restricted networks (issue 15): ``spec.proxy`` with kgen's computed NO_PROXY, and ``spec.mirrors``.

The computed NO_PROXY is pinned for the valid example; the systemd drop-ins pass ``systemd-analyze
verify``; the apt and dnf proxy settings are checked by content, and the dnf edit runs for real; the
install phase runs under bash in the bootstrap sandbox, where the curl stand-in records the proxy
variables it was given and serves the download mirror, so the pinned SHA-256 is seen to still apply."""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator import etcd_backup, mirrors, prepare, proxy, templating
from generator.checks.proxy import PROXY_FORM, url_problem
from generator.cni import assets
from generator.document import ECHO_LIMIT
from generator.load import Document, load
from generator.model import Cluster, build
from generator.versions import Download
from tests.conftest import REPO, parse_yaml, require_tool, shellcheck, stand_in_cni_manifests
from tests.sandbox import STANDINS, Sandbox
from tests.test_install_rhel import sandbox_with

EXAMPLE = REPO / "tests" / "examples" / "valid" / "proxy-mirrors-install" / "cluster.yaml"

# The NO_PROXY the example's nodes get, pinned: localhost, loopback, the node subnet, the pod and service
# subnets, the endpoint's host, the in-cluster names, the metadata service, then the user's additions in
# their order (the repeated localhost once).
EXAMPLE_NO_PROXY = (
    "localhost,127.0.0.0/8,10.10.10.0/24,192.168.0.0/16,10.96.0.0/12,api.demo.example.com,.svc,.cluster.local,"
    "169.254.169.254,.corp.example.com,registry.example.com,172.16.0.0/12"
)
PROXY_URL = "http://proxy.example.com:3128"
PROXY_VARIABLES = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy")


def example_data() -> dict[str, Any]:
    data: dict[str, Any] = parse_yaml(EXAMPLE.read_text(encoding="utf-8"))
    return data


def cluster_from(data: dict[str, Any], tmp_path: Path) -> Cluster:
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    doc: Document = load(path)
    return build(doc)


# --- NO_PROXY ---------------------------------------------------------------------------------------------


def test_example_no_proxy_is_pinned(tmp_path: Path) -> None:
    cluster = build(load(EXAMPLE))
    assert cluster.proxy is not None
    assert ",".join(cluster.proxy.no_proxy) == EXAMPLE_NO_PROXY
    assert dict(proxy.environment(cluster.proxy)) == {
        "HTTP_PROXY": PROXY_URL,
        "http_proxy": PROXY_URL,
        "HTTPS_PROXY": PROXY_URL,
        "https_proxy": PROXY_URL,
        "NO_PROXY": EXAMPLE_NO_PROXY,
        "no_proxy": EXAMPLE_NO_PROXY,
    }


def test_no_proxy_lists_every_node_ip_without_a_node_subnet(tmp_path: Path) -> None:
    data = example_data()
    del data["spec"]["networking"]["nodeSubnet"]
    data["spec"]["proxy"]["noProxy"] = ["10.10.10.239"]  # a node's IP again: listed once, in its first place
    cluster = cluster_from(data, tmp_path)
    assert cluster.proxy is not None
    assert cluster.proxy.no_proxy == (
        "localhost",
        "127.0.0.0/8",
        "10.10.10.238",
        "10.10.10.239",
        "192.168.0.0/16",
        "10.96.0.0/12",
        "api.demo.example.com",
        ".svc",
        ".cluster.local",
        "169.254.169.254",
    )


def test_compute_no_proxy_is_deterministic_and_follows_the_dns_domain() -> None:
    kwargs: dict[str, Any] = {
        "node_subnet": None,
        "node_ips": ["10.0.0.5"],
        "pod_subnet": "10.244.0.0/16",
        "service_subnet": "10.96.0.0/12",
        "endpoint_host": "10.0.0.5",
        "dns_domain": "k8s.internal",
        "extra": [".svc", "example.org"],
    }
    first = proxy.compute_no_proxy(**kwargs)
    assert first == proxy.compute_no_proxy(**copy.deepcopy(kwargs))
    assert first == (
        "localhost",
        "127.0.0.0/8",
        "10.0.0.5",
        "10.244.0.0/16",
        "10.96.0.0/12",
        ".svc",
        ".k8s.internal",
        "169.254.169.254",
        "example.org",
    )


@pytest.mark.parametrize("entry", ["registry.example.com", ".example.com", "10.1.2.3", "10.0.0.0/8", "fd00::/8"])
def test_no_proxy_entries_accepted(entry: str) -> None:
    assert proxy.no_proxy_problem(entry) is None


@pytest.mark.parametrize(
    ("entry", "fragment"),
    [
        ("http://registry.example.com", "is a URL"),
        ("10.0.0.1/8", "is not a CIDR"),
        ("..example.com", "is not a domain"),
        ("*.example.com", "write .example.com"),
        ("Registry_1", "is neither a host name"),
        ("host:5000", "is neither a host name"),
    ],
)
def test_no_proxy_entries_refused(entry: str, fragment: str) -> None:
    problem = proxy.no_proxy_problem(entry)
    assert problem is not None and fragment in problem


def test_proxy_absent_renders_nothing() -> None:
    from tests.matrix import cluster_for  # noqa: PLC0415

    cluster = cluster_for("ubuntu-24.04", "1.34.3")
    assert cluster.proxy is None
    for text in (prepare.install_script(cluster), prepare.configure_script(cluster)):
        for marker in ("package_manager_proxy", "proxy_dropins", "export HTTP_PROXY", "kgen-http-proxy"):
            assert marker not in text


# --- systemd drop-ins ---------------------------------------------------------------------------------


def dropins(cluster: Cluster) -> dict[str, str]:
    context = proxy.script_context(cluster.proxy, cluster.runtime.service)
    return dict(context["proxy_dropins"])


def test_dropins_for_the_runtime_and_the_kubelet(tmp_path: Path) -> None:
    cluster = build(load(EXAMPLE))
    files = dropins(cluster)
    assert sorted(files) == [
        "/etc/systemd/system/containerd.service.d/50-kgen-http-proxy.conf",
        "/etc/systemd/system/kubelet.service.d/50-kgen-http-proxy.conf",
    ]
    text = next(iter(files.values()))
    assert f'Environment="NO_PROXY={EXAMPLE_NO_PROXY}"\n' in text
    assert f'Environment="https_proxy={PROXY_URL}"\n' in text
    data = example_data()
    data["spec"]["runtime"] = {"name": "cri-o"}
    assert "/etc/systemd/system/crio.service.d/50-kgen-http-proxy.conf" in dropins(cluster_from(data, tmp_path))


def test_environment_values_are_escaped_for_systemd() -> None:
    assert proxy.systemd_quote("NO_PROXY=a%b") == '"NO_PROXY=a%%b"'
    assert proxy.systemd_quote('X=a"b\\c') == '"X=a\\"b\\\\c"'


def verify_units(tool: str, root: Path, units: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool, "verify", f"--root={root}", *units], capture_output=True, text=True, check=False)


def test_dropins_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    tool = require_tool("systemd-analyze", reason="Debian package systemd")
    system = next((p for p in (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system")) if p.is_dir()), None)
    if system is None or not (system / "containerd.service").is_file():
        pytest.skip("needs the host's systemd units and containerd.service (Debian package containerd)")
    cluster = build(load(EXAMPLE))
    root = tmp_path / "root"
    shutil.copytree(system, root / "usr" / "lib" / "systemd" / "system", symlinks=True)
    (root / "usr" / "lib" / "systemd" / "system" / "kubelet.service").write_text(
        (STANDINS / "kubelet.service").read_text(encoding="utf-8"), encoding="utf-8"
    )
    for binary in ("usr/bin/kubelet", "usr/bin/containerd", "usr/sbin/modprobe", "sbin/modprobe"):
        path = root / binary
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("#!/bin/sh\n", encoding="utf-8")
        path.chmod(0o755)
    for guest, text in dropins(cluster).items():
        target = root / guest.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    units = ["containerd.service", "kubelet.service"]
    result = verify_units(tool, root, units)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "50-kgen-http-proxy.conf" not in result.stderr, result.stderr
    # The check has teeth: an unbalanced quote in the same drop-in is reported.
    broken = root / "etc/systemd/system/kubelet.service.d/50-kgen-http-proxy.conf"
    broken.write_text('[Service]\nEnvironment="HTTP_PROXY=http://x\n', encoding="utf-8")
    assert "50-kgen-http-proxy.conf" in verify_units(tool, root, units).stderr


# --- apt and dnf -----------------------------------------------------------------------------------------


def test_apt_proxy_file(tmp_path: Path) -> None:
    cluster = build(load(EXAMPLE))
    assert cluster.proxy is not None
    assert proxy.apt_conf(cluster.proxy).splitlines()[1:] == [
        f'Acquire::http::Proxy "{PROXY_URL}";',
        f'Acquire::https::Proxy "{PROXY_URL}";',
    ]
    data = example_data()
    del data["spec"]["proxy"]["httpProxy"]
    only_https = cluster_from(data, tmp_path).proxy
    assert only_https is not None
    assert proxy.apt_conf(only_https).splitlines()[1:] == [f'Acquire::https::Proxy "{PROXY_URL}";']
    # The install phase writes it before it adds the repositories, and the configure phase keeps it.
    install = prepare.install_script(cluster)
    assert "write_file /etc/apt/apt.conf.d/90kgen-proxy 0644" in install
    assert install.index("\npackage_manager_proxy\n") < install.index("\nadd_repositories\n")
    # the configure phase calls both in its cluster-wide part (the bake runs it; install mode too)
    assert "\n  package_manager_proxy\n  proxy_dropins\n" in prepare.configure_script(cluster)


def dnf_harness(tmp_path: Path, cluster: Cluster, conf: Path) -> Path:
    """The rendered package_manager_proxy for a RHEL-family node, pointed at ``conf``."""
    common = templating.render("prepare/_common.sh.j2", log_tag="kgen-test")
    context = {**proxy.script_context(cluster.proxy, cluster.runtime.service), "proxy_dnf_path": str(conf)}
    function = templating.render("prepare/_proxy_files.sh.j2", cluster=cluster, **context)
    script = tmp_path / "dnf-proxy.sh"
    script.write_text(f"set -euo pipefail\n{common}\n{function}\npackage_manager_proxy\n", encoding="utf-8")
    return script


@pytest.mark.parametrize(
    ("before", "after"),
    [
        # EL9's own dnf.conf, plus an earlier proxy line in [main] and one in a repository section.
        (
            "[main]\ngpgcheck=1\nproxy=http://old.example.com:8080\ninstallonly_limit=3\n\n[local]\nproxy=_none_\n",
            f"[main]\nproxy={PROXY_URL}\ngpgcheck=1\ninstallonly_limit=3\n\n[local]\nproxy=_none_\n",
        ),
        ("# no main section\n", f"# no main section\n[main]\nproxy={PROXY_URL}\n"),
        (None, f"[main]\nproxy={PROXY_URL}\n"),
    ],
)
def test_dnf_proxy_in_main(tmp_path: Path, before: str | None, after: str) -> None:
    data = example_data()
    data["spec"]["os"] = "rocky-9"
    data["spec"]["proxy"]["httpsProxy"] = PROXY_URL
    data["spec"]["proxy"]["httpProxy"] = "http://plain.example.com:3128"  # dnf takes httpsProxy
    cluster = cluster_from(data, tmp_path)
    conf = tmp_path / "etc" / "dnf.conf"
    if before is not None:
        conf.parent.mkdir(parents=True)
        conf.write_text(before, encoding="utf-8")
    script = dnf_harness(tmp_path, cluster, conf)
    first = subprocess.run(["bash", str(script)], capture_output=True, text=True, check=False)
    assert first.returncode == 0, first.stderr
    assert conf.read_text(encoding="utf-8") == after
    again = subprocess.run(["bash", str(script)], capture_output=True, text=True, check=False)
    assert again.returncode == 0 and "unchanged" in again.stderr  # idempotent


# --- mirrors ---------------------------------------------------------------------------------------------


def test_download_mirror_changes_only_the_url_prefix() -> None:
    pinned = Download("https://github.com/etcd-io/etcd/releases/download/v3.6.5/etcd.tar.gz", "a" * 64)
    mirrored = mirrors.download(mirrors.Mirrors(downloads="http://files.internal:8080/kgen"), pinned)
    assert mirrored == Download(
        "http://files.internal:8080/kgen/github.com/etcd-io/etcd/releases/download/v3.6.5/etcd.tar.gz", "a" * 64
    )
    assert mirrors.download(mirrors.NO_MIRRORS, pinned) == pinned


def test_example_downloads_come_from_the_mirror_with_the_same_pins() -> None:
    cluster = build(load(EXAMPLE))
    plain = build(load(EXAMPLE))
    object.__setattr__(plain, "mirrors", mirrors.NO_MIRRORS)
    ours, theirs = assets(cluster), assets(plain)
    assert ours is not None and theirs is not None
    for mirrored, upstream in zip(ours.manifest_files(), theirs.manifest_files(), strict=True):
        assert mirrored.sha256 == upstream.sha256 and mirrored.path == upstream.path
        assert mirrored.url == "https://files.example.com/kgen/" + upstream.url.removeprefix("https://")
    tools = etcd_backup.etcd_tools(cluster)
    assert tools.url == "https://files.example.com/kgen/" + etcd_backup.etcd_tools(plain).url.removeprefix("https://")
    assert tools.sha256 == etcd_backup.etcd_tools(plain).sha256
    assert f"readonly ARCHIVE_URL={tools.url}\n" in etcd_backup.tools_script(cluster)


def test_package_mirrors_keep_the_upstream_path(tmp_path: Path) -> None:
    repos = prepare.repositories(build(load(EXAMPLE)))
    assert repos.kubernetes == mirrors.Repository(
        "https://mirror.example.com/pkgs-k8s/core:/stable:/v1.34/deb/",
        "https://mirror.example.com/pkgs-k8s/core:/stable:/v1.34/deb/Release.key",
    )
    assert repos.runtime == mirrors.Repository(
        "https://mirror.example.com/docker/linux/ubuntu", "https://mirror.example.com/keys/docker.asc"
    )
    data = example_data()
    data["spec"]["os"] = "rocky-9"
    data["spec"]["runtime"] = {"name": "cri-o"}
    data["spec"]["mirrors"]["packages"]["crio"] = {"url": "https://mirror.example.com/opensuse/"}
    rpm = prepare.repositories(cluster_from(data, tmp_path))
    assert rpm.runtime == mirrors.Repository(
        "https://mirror.example.com/opensuse/repositories/isv:/cri-o:/stable:/v1.34/rpm/",
        "https://mirror.example.com/opensuse/repositories/isv:/cri-o:/stable:/v1.34/rpm/repodata/repomd.xml.key",
    )
    # Without mirrors: the upstream addresses of the version table.
    del data["spec"]["mirrors"]
    upstream = prepare.repositories(cluster_from(data, tmp_path))
    assert upstream.kubernetes.url == "https://pkgs.k8s.io/core:/stable:/v1.34/rpm/"
    assert upstream.runtime.key_url.startswith("https://download.opensuse.org/repositories/isv:/cri-o:/stable:/v1.34/")


def test_scripts_with_proxy_and_mirrors_pass_shellcheck(tmp_path: Path) -> None:
    scripts: dict[str, str] = {}
    for os_name in ("ubuntu-24.04", "rocky-9"):
        data = example_data()
        data["spec"]["os"] = os_name
        cluster = cluster_from(data, tmp_path)
        node = cluster.first_control_plane
        scripts[f"{os_name}-install.sh"] = prepare.install_script(cluster)
        scripts[f"{os_name}-configure.sh"] = prepare.configure_script(cluster)
        scripts[f"{os_name}-etcd-tools.sh"] = etcd_backup.tools_script(cluster)
        scripts[f"{os_name}-etcd-backup.sh"] = etcd_backup.backup_script(cluster, cluster.etcd_backup, node)
    shellcheck(scripts, tmp_path / "shellcheck")


# --- the install phase in the sandbox ----------------------------------------------------------------------


def sandbox_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, tamper: bool = False
) -> tuple[Sandbox, subprocess.CompletedProcess[str], Cluster]:
    stand_ins = stand_in_cni_manifests(monkeypatch, "calico")
    data = example_data()
    data["spec"]["os"] = "rocky-9"
    del data["spec"]["etcdBackup"]  # rclone comes from EPEL: not this test's subject
    cluster = cluster_from(data, tmp_path)
    cni = assets(cluster)
    assert cni is not None
    box = sandbox_with(tmp_path / "box", ["curl-minimal"])
    box.install_standin("curl")
    box.write("/etc/dnf/dnf.conf", "[main]\ngpgcheck=1\n")
    for m in cni.manifest_files():
        served = "/var/lib/kgen-standin/www/" + m.url.removeprefix("https://")
        content = stand_ins[m.path]
        box.write(served, content + ("tampered\n" if tamper else ""))
    box.write(prepare.INSTALL_PATH, prepare.install_script(cluster), 0o755)
    return box, box.run([prepare.INSTALL_PATH]), cluster


def curl_calls(box: Sandbox) -> list[dict[str, Any]]:
    path = box.path("/var/lib/kgen-standin/calls.jsonl")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if '"curl"' in line]


def test_install_phase_exports_the_proxy_to_curl_and_uses_the_mirror(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    box, result, cluster = sandbox_install(tmp_path, monkeypatch)
    assert result.returncode == 0, result.stderr
    calls = curl_calls(box)
    assert [c["argv"][-1] for c in calls] == [m.url for m in assets(cluster).manifest_files()]  # type: ignore[union-attr]
    for call in calls:
        assert call["argv"][-1].startswith("https://files.example.com/kgen/raw.githubusercontent.com/")
        assert call["env"] == {
            "http_proxy": PROXY_URL,
            "HTTP_PROXY": PROXY_URL,
            "https_proxy": PROXY_URL,
            "HTTPS_PROXY": PROXY_URL,
            "no_proxy": EXAMPLE_NO_PROXY,
            "NO_PROXY": EXAMPLE_NO_PROXY,
        }
    for m in assets(cluster).manifest_files():  # type: ignore[union-attr]
        assert hashlib.sha256(box.path(m.path).read_bytes()).hexdigest() == m.sha256
    assert box.read("/etc/dnf/dnf.conf") == f"[main]\nproxy={PROXY_URL}\ngpgcheck=1\n"
    repo = box.read("/etc/yum.repos.d/kubernetes.repo")
    assert "baseurl=https://mirror.example.com/pkgs-k8s/core:/stable:/v1.34/rpm/\n" in repo
    assert "gpgkey=https://mirror.example.com/pkgs-k8s/core:/stable:/v1.34/rpm/repodata/repomd.xml.key\n" in repo


def test_a_proxy_in_the_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The bake passes its own proxy (perhaps with a password, as PKR_VAR_https_proxy): kept as it is."""
    box, _, cluster = sandbox_install(tmp_path, monkeypatch)
    (box.path("/var/lib/kgen-standin/calls.jsonl")).unlink()
    for m in assets(cluster).manifest_files():  # type: ignore[union-attr]
        box.path(m.path).unlink()
    bake = "http://bake:secret@proxy.example.com:3128"
    result = box.run([prepare.INSTALL_PATH], env={"https_proxy": bake, "no_proxy": "localhost"})
    assert result.returncode == 0, result.stderr
    env = curl_calls(box)[0]["env"]
    assert env["https_proxy"] == bake and env["no_proxy"] == "localhost" and env["HTTP_PROXY"] is None


def test_the_pinned_sha256_still_applies_to_the_mirror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    box, result, cluster = sandbox_install(tmp_path, monkeypatch, tamper=True)
    assert result.returncode == 1
    first = assets(cluster).manifest_files()[0]  # type: ignore[union-attr]
    assert f"ERROR: {first.url} does not have the pinned sha256: expected {first.sha256}" in result.stderr
    assert not box.exists(first.path)


@pytest.mark.parametrize(
    ("value", "suggestion"),
    [
        ("proxy.example.com:3128", "write it as http://proxy.example.com:3128 (or https://)"),
        ("proxy\nexample:3128", "start it with http:// or https://"),  # found by the property test in CI
        ("p\x85roxy", "start it with http:// or https://"),
        ("proxy example", "start it with http:// or https://"),
        ("p" * 10 * ECHO_LIMIT, "start it with http:// or https://"),
    ],
    ids=["plain", "newline", "control-character", "space", "long"],
)
def test_a_url_without_scheme_is_named_on_one_short_line(value: str, suggestion: str) -> None:
    """The suggestion repeats the value unquoted only when it is short and printable without spaces:
    a problem is one line, and a long value is echoed once, shortened."""
    message = url_problem(value, proxy.PROXY_URL, PROXY_FORM)
    assert message is not None and message.endswith(suggestion), message
    assert message.isprintable(), message
    assert len(message) < 3 * ECHO_LIMIT, len(message)
