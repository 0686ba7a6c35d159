"""The variation points agree with each other: the OS table, the CNI and runtime rows of the version
table, their plugin modules and template pieces, the schema's enums, and the contributor guide's lists
(docs/CONTRIBUTING.md)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from generator import cni, runtimes, tables, versions
from generator.resources import load_data, load_schema, templates_dir

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "CONTRIBUTING.md"


def spec_property(*keys: str) -> Any:
    node: Any = load_schema("cluster.schema.json")["properties"]["spec"]
    for key in keys:
        node = node["properties"][key]
    return node


def test_schema_os_enum_is_the_os_table() -> None:
    assert spec_property("os")["enum"] == list(tables.os_table())


def test_every_os_row_is_complete() -> None:
    for name, row in tables.os_table().items():
        assert row.family in ("debian", "rhel"), name
        assert (templates_dir() / f"prepare/install-{row.family}.sh.j2").is_file(), name
        assert row.base_image.qemu_url.startswith("https://"), name
        assert row.base_image.ssh_username, name


def test_every_cni_row_has_its_module() -> None:
    missing = [name for name in versions.table()["cni"] if name not in cni.PLUGINS]
    assert not missing, (
        f"versions.yaml has CNI rows without a plugin module: {missing}; add generator/cni/<name>.py with "
        "PLUGIN = CniPlugin(...) and list it in generator/cni/__init__.py PLUGINS (docs/CONTRIBUTING.md)"
    )
    orphans = [name for name in cni.PLUGINS if name not in versions.table()["cni"]]
    assert not orphans, f"CNI modules without a row under cni in versions.yaml: {orphans}"


def test_schema_cni_enum_is_the_cni_table() -> None:
    assert spec_property("cni", "plugin")["enum"] == [*sorted(cni.PLUGINS), "none"]


def test_every_cni_plugin_has_its_pieces() -> None:
    rows = load_data("versions.yaml")["cni"]
    for name in cni.PLUGINS:
        assert (templates_dir() / f"cni/apply-{name}.sh.j2").is_file(), name
        assert "ports" in rows[name], f"versions.yaml cni.{name} has no ports (an empty list if it needs none)"


def test_an_unknown_cni_is_an_error_not_another_plugin() -> None:
    with pytest.raises(cni.UnknownPlugin, match=r"'weave' has no module under generator/cni/"):
        cni.plugin("weave")


def test_runtimes_agree() -> None:
    assert spec_property("runtime", "name")["enum"] == sorted(runtimes.PLUGINS)
    assert sorted(versions.table()["runtimes"]) == sorted(runtimes.PLUGINS)
    for name in runtimes.PLUGINS:
        assert (templates_dir() / f"runtimes/{name}/configure.sh.j2").is_file(), name
        assert str(versions.runtime_table(name)["socket"]).startswith("unix:///"), name


def test_schema_names_the_supported_kubernetes_minors() -> None:
    minors = versions.supported_minors()
    description = spec_property("kubernetes", "version")["description"]
    assert f"{minors[0]}.x to {minors[-1]}.x" in description


def guide_lists() -> dict[str, list[str]]:
    text = GUIDE.read_text(encoding="utf-8")
    lists = {}
    for kind, body in re.findall(r"<!-- files:(\w+) -->\n(.*?)<!-- end -->", text, re.S):
        lists[kind] = [re.match(r"\d+\. `([^`]+)`", line).group(1) for line in body.splitlines() if line]  # type: ignore[union-attr]
    return lists


def test_the_guide_lists_at_most_four_files_each() -> None:
    lists = guide_lists()
    assert sorted(lists) == ["cni", "kubernetes", "os", "runtime"]
    for kind, files in lists.items():
        assert 1 <= len(files) <= 4, (kind, files)


def test_the_guide_names_files_that_exist() -> None:
    examples = {"cni": sorted(cni.PLUGINS), "runtime": sorted(runtimes.PLUGINS), "os": [], "kubernetes": []}
    for kind, files in guide_lists().items():
        for path in files:
            if "<case>" in path:
                assert (ROOT / path.split("<case>")[0]).is_dir(), path
                continue
            names = examples[kind] if "<name>" in path else [""]
            for name in names:
                concrete = path.replace("<name>", name)
                if concrete.startswith("generator/runtimes/"):
                    concrete = concrete.replace("cri-o", "crio")  # a module name cannot hold '-'

                assert (ROOT / concrete).exists(), f"docs/CONTRIBUTING.md names {concrete}, which does not exist"
