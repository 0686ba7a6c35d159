"""Golden files pin the rendered output of every valid example (with the fixture secrets), and the
node-preparation scripts for every supported OS at Kubernetes 1.30 and 1.34."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from generator import prepare
from generator.resources import templates_dir
from tests.conftest import EXAMPLES, Rendered, valid_cases
from tests.golden import check_golden, check_no_stale_golden
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


def test_examples_folder_is_the_init_template() -> None:
    template = (templates_dir() / "cluster.yaml").read_text(encoding="utf-8")
    example = (EXAMPLES.parent.parent / "examples" / "cluster.yaml").read_text(encoding="utf-8")
    assert example == template.replace("{schema}", "../schemas/cluster.schema.json")
