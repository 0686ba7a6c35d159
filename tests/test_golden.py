"""Golden files pin the rendered output of every valid example (with the fixture secrets), and the
node-preparation scripts for every supported OS at Kubernetes 1.30 and 1.34. Each distinct file is
stored once (tests/golden.py); user-data goldens refer to the scripts they embed by name."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest

from generator import api, prepare
from generator.resources import templates_dir
from tests.conftest import EXAMPLES, Rendered, parse_yaml, valid_cases
from tests.golden import FILES, GOLDEN, check_golden, check_no_stale_golden, references, resolve, stored_names
from tests.matrix import OS_NAMES, RUNTIMES, VERSIONS, cluster_for


@pytest.mark.parametrize("case", valid_cases(), ids=lambda p: p.name)
def test_rendered_tree_matches_golden(case: Path, rendered_valid: dict[str, Rendered]) -> None:
    rendered = rendered_valid[case.name]
    produced: set[str] = set()
    for path in sorted(p for p in rendered.root.rglob("*") if p.is_file()):
        rel = path.relative_to(rendered.root).as_posix()
        content = path.read_bytes()
        if content[:2] == b"\x1f\x8b":  # keep goldens reviewable: store gzipped user-data decompressed
            content = gzip.decompress(content)
            rel += ".decompressed"
        name = f"render/{case.name}/{rel}"
        produced.add(name)
        check_golden(name, content)
    check_no_stale_golden(f"render/{case.name}", produced)


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("os_name", OS_NAMES)
def test_prepare_scripts_match_golden(os_name: str, version: str, runtime: str) -> None:
    cluster = cluster_for(os_name, version, mode="install", runtime=runtime)
    folder = f"prepare/{os_name}-{version}" + ("" if runtime == "containerd" else f"-{runtime}")
    check_golden(f"{folder}/node-install.sh", prepare.install_script(cluster).encode())
    check_golden(f"{folder}/node-configure.sh", prepare.configure_script(cluster).encode())


REFERENCE = re.compile(r"^<kgen-golden: (?P<name>[^>]+)>\n$")


@pytest.mark.parametrize("case", valid_cases(), ids=lambda p: p.name)
def test_embedded_scripts_equal_their_pinned_copies(case: Path, rendered_valid: dict[str, Rendered]) -> None:
    """Each write_files entry a user-data golden stores by reference equals the golden it names."""
    rendered = rendered_valid[case.name]
    checked = 0
    for node_dir in rendered.node_dirs():
        prefix = f"render/{case.name}/nodes/{node_dir.name}/"
        (name,) = (n for n in (prefix + "user-data", prefix + "user-data.decompressed") if (GOLDEN / n).is_file())
        stored = parse_yaml((GOLDEN / name).read_text(encoding="utf-8"))
        if not isinstance(stored, dict):  # the whole file is "same as" another golden
            continue
        actual = {e["path"]: e.get("content", "") for e in rendered.user_data(node_dir.name)["write_files"]}
        for entry in stored.get("write_files", []):
            if reference := REFERENCE.match(entry.get("content", "")):
                pinned = resolve(reference["name"]).decode()
                assert actual[entry["path"]] == pinned, f"{name}: {entry['path']} differs from {reference['name']}"
                checked += 1
    assert checked > 0, "no user-data golden refers to a pinned script"


def test_golden_store_has_no_dangling_or_stale_files() -> None:
    names = stored_names()
    assert {n.split("/", 1)[0] for n in names} <= {"render", "prepare", "packer", "upgrade", "help", FILES}
    referenced = {target for name in names for target in references(name)}
    assert referenced <= set(names), f"references to missing goldens: {sorted(referenced - set(names))}"
    unused = [n for n in names if n.startswith(f"{FILES}/") and n not in referenced]
    assert not unused, f"stored copies nothing refers to: {unused}"
    prepare = {n.split("/")[1] for n in names if n.startswith("prepare/")}
    expected = {
        f"{os_name}-{version}" + ("" if runtime == "containerd" else f"-{runtime}")
        for os_name in OS_NAMES
        for version in VERSIONS
        for runtime in RUNTIMES
    }
    assert prepare == expected, f"stale prepare goldens: {sorted(prepare - expected)}"


def test_examples_folder_is_the_init_template() -> None:
    template = (templates_dir() / "cluster.yaml").read_text(encoding="utf-8")
    example = (EXAMPLES.parent.parent / "examples" / "cluster.yaml").read_text(encoding="utf-8")
    # The bundled example (what `tools/dev.py render` renders) differs only in a real demo key whose
    # private half was thrown away; the init template keeps the placeholder that validation refuses.
    demo = re.search(
        r"      # Replace with your own public key\. This demo key's.*?demo-key-no-private-half\n", example, re.S
    )
    assert demo is not None
    placeholder_line = re.search(
        r"      # Replace with your own public key\.\n      - ssh-ed25519 \S+ you@example\.com\n", template
    )
    assert placeholder_line is not None
    expected = template.replace("{schema}", "../schemas/cluster.schema.json").replace(placeholder_line[0], demo[0])
    assert example == expected
    assert not [
        p for p in api.check_config(EXAMPLES.parent.parent / "examples" / "cluster.yaml") if p.severity == "error"
    ]
