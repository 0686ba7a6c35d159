"""Every file a node or the bake downloads is pinned: the version table gives each URL a SHA-256, the
rendered scripts fetch only through ``fetch_pinned`` (temporary file, ``sha256sum -c``, then the local
file), and that helper, run for real with curl on file:// URLs, keeps a good file and refuses a bad one."""

from __future__ import annotations

import hashlib
import re
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from generator import prepare, versions
from generator.cni import assets
from generator.emit import packer as emit_packer
from generator.load import load
from generator.model import build
from tests.conftest import Rendered, require_tool, user_data_scripts, valid_cases
from tests.matrix import cluster_for

HEX64 = re.compile(r"[0-9a-f]{64}")
# A command position: line start, after ;, &, |, (, !, or after if/until/while/then/do/else.
CURL = re.compile(r"(?:^|[;&|(!]|\b(?:if|until|while|then|do|else)\b)\s*(?:!\s*)?(curl|wget)\s")

# Package repositories, not files: apt and dnf check every package against the repository's signature.
REPOSITORY_KEYS = ("runtimes", "packageRepositories")


def walk(node: Any, path: str = "", parent: Any = None) -> Iterator[tuple[str, Any, Any]]:
    """(dotted path, value, the mapping holding it) for every scalar in the table, skipping `source` texts."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("source", "sha256Source"):
                continue
            child = f"{path}.{key}" if path else str(key)
            if isinstance(value, (dict, list)):
                yield from walk(value, child)
            else:
                yield child, value, node
    elif isinstance(node, list):
        for i, value in enumerate(node):
            if isinstance(value, (dict, list)):
                yield from walk(value, f"{path}[{i}]")
            else:
                yield f"{path}[{i}]", value, node


def test_every_url_in_the_version_table_has_a_pinned_sha256() -> None:
    table = versions.table()
    urls = [(p, v, parent) for p, v, parent in walk(table) if isinstance(v, str) and "://" in v]
    unpinned = []
    for path, url, entry in urls:
        if path.startswith(REPOSITORY_KEYS):
            continue
        if path == "openstackCloudProvider.manifestBase":
            continue  # checked per release below
        assert path.endswith(".url"), f"{path}: a download URL must sit in a {{url, sha256}} mapping"
        if not (url.startswith("https://") and HEX64.fullmatch(str(entry.get("sha256", "")))):
            unpinned.append(path)
    assert unpinned == []
    assert len(urls) >= 6  # calico x2, cilium chart, helm, flannel, etcd tools...

    cloud = table["openstackCloudProvider"]
    for minor, release in cloud["releases"].items():
        digests = cloud["manifestSha256"][release]
        assert sorted(digests) == sorted(cloud["manifests"]), minor
        assert all(HEX64.fullmatch(d) for d in digests.values()), minor


def test_download_rejects_a_pin_that_is_not_https_or_64_hex() -> None:
    good = "a" * 64
    assert versions.Download.of({"url": "https://example.invalid/x", "sha256": good}).sha256 == good
    for bad in ({"url": "http://example.invalid/x", "sha256": good}, {"url": "https://x", "sha256": "A" * 64}):
        with pytest.raises(ValueError, match="64-hex sha256"):
            versions.Download.of(bad)


# --- the rendered scripts ----------------------------------------------------------------------------------


def script_texts(case: Path, rendered: Rendered) -> dict[str, str]:
    """Every shell script kgen renders for the example: user-data scripts, files in the output folder,
    and the Packer project's scripts (rendered for every example, so install-phase downloads are seen)."""
    scripts: dict[str, str] = {}
    for node_dir in rendered.node_dirs():
        for path, text in user_data_scripts(rendered.user_data(node_dir.name)):
            scripts[f"{node_dir.name}:{path}"] = text
    for file in sorted(rendered.root.rglob("*")):
        if file.is_file():
            data = file.read_bytes()
            if data.startswith(b"#!"):
                scripts[str(file.relative_to(rendered.root))] = data.decode("utf-8")
    cluster = build(load(case / "cluster.yaml"))
    for rel, out in emit_packer.packer_files(cluster).items():
        if out.content.startswith(b"#!"):
            scripts[f"packer-project:{rel}"] = out.content.decode("utf-8")
    return scripts


def function_spans(text: str) -> list[tuple[str, int, int]]:
    """(name, first line, last line) of every top-level shell function."""
    lines = text.splitlines()
    spans = []
    for i, line in enumerate(lines):
        match = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)\(\) \{$", line)
        if match:
            end = next(j for j in range(i + 1, len(lines)) if lines[j] == "}")
            spans.append((match.group(1), i, end))
    return spans


def classify_downloads(text: str) -> list[str]:
    """Problems: curl/wget calls that are neither the pinned helper nor a non-download."""
    lines = text.splitlines()
    spans = function_spans(text)
    problems = []
    for i, line in enumerate(lines):
        code = line.split(" #", 1)[0]
        if code.lstrip().startswith("#") or not CURL.search(code):
            continue
        function = next((name for name, start, end in spans if start < i <= end), "")
        following = "\n".join(lines[i : i + 4])
        if function == "fetch_pinned":
            continue  # the helper itself
        if "--output /dev/null" in following:
            continue  # a probe (the API server's /readyz), nothing is kept
        if "ARCHIVE_SHA256" in following and "sha256sum --check" in following:
            continue  # kgen-etcd-tools: its own pinned download, checked before it is unpacked
        if function == "fetch_key":
            # Signing keys of the package repositories: trust anchors for apt's signature checks,
            # not pinned (reported as not done).
            continue
        problems.append(f"line {i + 1} ({function or 'top level'}): {line.strip()}")
    return problems


@pytest.mark.parametrize("case", valid_cases(), ids=lambda p: p.name)
def test_every_rendered_download_goes_through_fetch_pinned(case: Path, rendered_valid: dict[str, Rendered]) -> None:
    scripts = script_texts(case, rendered_valid[case.name])
    calls = 0
    for name, text in scripts.items():
        assert classify_downloads(text) == [], name
        # Nothing is applied or installed straight from a URL.
        assert not re.search(r"(apply|create|install)\b[^\n]*\s-f\s+['\"]?https?://", text), name
        assert not re.search(r"helm\s+(upgrade|install)[^\n]*https?://", text), name
        for line in text.splitlines():
            words = line.split()
            if words[:1] == ["fetch_pinned"]:
                url, digest, dest = shlex.split(line.strip())[1:4]
                assert url.startswith("https://"), (name, line)
                assert HEX64.fullmatch(digest), (name, line)
                assert dest.startswith(("/", "${dir}/")), (name, line)
                calls += 1
    cluster = build(load(case / "cluster.yaml"))
    if cluster.cni.plugin != "none":
        assert calls > 0


def test_classifier_catches_a_bare_curl() -> None:
    assert classify_downloads("main() {\n  curl -fsSL -o /tmp/x https://example.invalid/x\n}\n") != []
    assert classify_downloads("x=$(curl -fsSL https://example.invalid/x)\n") != []
    assert classify_downloads("if ! wget https://example.invalid/x; then exit 1; fi\n") != []
    assert classify_downloads("  dnf install -y curl ca-certificates\n") == []


# --- fetch_pinned, run for real -----------------------------------------------------------------------


def harness(tmp_path: Path) -> Path:
    """The fetch_pinned function exactly as the install phase renders it, with the phase's log/die."""
    text = prepare.install_script(cluster_for("debian-12", "1.34.3", cni="calico"))
    start = text.index("fetch_pinned() {")
    body = text[start : text.index("\n}\n", start) + 3]
    script = tmp_path / "fetch.sh"
    script.write_text(
        "#!/usr/bin/env bash\nset -euo pipefail\n"
        "log() { printf 'log: %s\\n' \"$*\" >&2; }\n"
        "die() { printf 'ERROR: %s\\n' \"$*\" >&2; exit 1; }\n" + body + 'fetch_pinned "$1" "$2" "$3"\n',
        encoding="utf-8",
    )
    return script


def fetch(script: Path, url: str, digest: str, dest: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(script), url, digest, str(dest)], capture_output=True, text=True, check=False)


@pytest.fixture
def served(tmp_path: Path) -> tuple[Path, str]:
    require_tool("curl", reason="Debian package curl")
    source = tmp_path / "upstream" / "manifest.yaml"
    source.parent.mkdir()
    source.write_bytes(b"kind: ConfigMap\n")
    return source, hashlib.sha256(source.read_bytes()).hexdigest()


def test_fetch_pinned_keeps_a_download_with_the_pinned_sha256(tmp_path: Path, served: tuple[Path, str]) -> None:
    source, digest = served
    dest_dir = tmp_path / "node"
    dest_dir.mkdir()
    dest = dest_dir / "01-manifest.yaml"
    result = fetch(harness(tmp_path), source.as_uri(), digest, dest)
    assert result.returncode == 0, result.stderr
    assert dest.read_bytes() == source.read_bytes()
    assert [p.name for p in dest_dir.iterdir()] == [dest.name]

    source.unlink()  # already there with the right digest: no download
    again = fetch(harness(tmp_path), source.as_uri(), digest, dest)
    assert again.returncode == 0, again.stderr
    assert "has the pinned sha256" in again.stderr


def test_fetch_pinned_refuses_another_sha256_and_leaves_nothing(tmp_path: Path, served: tuple[Path, str]) -> None:
    source, digest = served
    dest_dir = tmp_path / "node"
    dest_dir.mkdir()
    dest = dest_dir / "01-manifest.yaml"
    wrong = "0" * 64
    result = fetch(harness(tmp_path), source.as_uri(), wrong, dest)
    assert result.returncode == 1
    assert (
        f"ERROR: {source.as_uri()} does not have the pinned sha256: expected {wrong}, got {digest}; "
        "the download was discarded"
    ) in result.stderr
    assert list(dest_dir.iterdir()) == []  # no DEST, no partial file


def test_fetch_pinned_replaces_a_file_with_another_sha256(tmp_path: Path, served: tuple[Path, str]) -> None:
    source, digest = served
    dest = tmp_path / "01-manifest.yaml"
    dest.write_bytes(b"tampered\n")
    result = fetch(harness(tmp_path), source.as_uri(), digest, dest)
    assert result.returncode == 0, result.stderr
    assert "does not have the pinned sha256" in result.stderr and "downloading it again" in result.stderr
    assert dest.read_bytes() == source.read_bytes()


def test_fetch_pinned_reports_a_failed_download_and_leaves_nothing(tmp_path: Path) -> None:
    require_tool("curl", reason="Debian package curl")
    dest_dir = tmp_path / "node"
    dest_dir.mkdir()
    missing = (tmp_path / "nowhere.yaml").as_uri()
    result = fetch(harness(tmp_path), missing, "0" * 64, dest_dir / "x.yaml")
    assert result.returncode == 1
    assert f"ERROR: could not download {missing}" in result.stderr
    assert list(dest_dir.iterdir()) == []


# --- the bake's CNI manifest step ------------------------------------------------------------------------


def test_bake_step_checks_each_manifest_against_its_pin(tmp_path: Path) -> None:
    cluster = cluster_for("debian-12", "1.34.3", mode="golden", cni="calico")
    cni = assets(cluster)
    assert cni is not None
    text = emit_packer.cni_manifests_script(cluster)
    # Stand-in files under a temporary folder, with the script's pins replaced by their digests.
    text = text.replace(cni.image_dir, str(tmp_path / "cni"))
    (tmp_path / "cni").mkdir()
    for m in cni.manifest_files():
        content = f"# stand-in for {m.url}\n".encode()
        Path(m.path.replace(cni.image_dir, str(tmp_path / "cni"))).write_bytes(content)
        assert m.sha256 in text
        text = text.replace(m.sha256, hashlib.sha256(content).hexdigest())
    script = tmp_path / "cni-manifests.sh"
    script.write_text(text, encoding="utf-8")
    good = subprocess.run(["bash", str(script)], capture_output=True, text=True, check=False)
    assert good.returncode == 0, good.stderr
    assert good.stderr.count("kept ") == len(cni.manifest_files())

    first = cni.manifest_files()[0]
    Path(first.path.replace(cni.image_dir, str(tmp_path / "cni"))).write_bytes(b"tampered\n")
    bad = subprocess.run(["bash", str(script)], capture_output=True, text=True, check=False)
    assert bad.returncode == 1
    assert f"(from {first.url}) does not have the pinned sha256" in bad.stderr
    assert hashlib.sha256(b"tampered\n").hexdigest() in bad.stderr
