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
from generator.runtimes.base import pieces as runtime_pieces

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
        row = versions.runtime_table(name)
        assert str(row["socket"]).startswith("unix:///"), name
        assert row["label"] and row["service"], f"versions.yaml runtimes.{name} needs a label and a service"
        assert row["versions"] in ("kubernetes-minor", "kubernetes-row"), name


def os_families() -> tuple[str, ...]:
    return tuple(sorted({row.family for row in tables.os_table().values()}))


def missing_runtime_pieces(name: str) -> list[str]:
    return [p for p in runtime_pieces(name, os_families()) if not (templates_dir() / p).is_file()]


def test_every_runtime_has_its_pieces() -> None:
    """A runtime module without its template folder, or without a piece some OS family needs, is caught
    here rather than by a render that fails for that family only."""
    missing = {name: missing_runtime_pieces(name) for name in runtimes.PLUGINS}
    missing = {name: pieces for name, pieces in missing.items() if pieces}
    assert not missing, (
        "runtime modules without their template pieces (templates/): "
        + "; ".join(f"{name}: {', '.join(pieces)}" for name, pieces in sorted(missing.items()))
        + ". Each runtime's folder templates/runtimes/<name>/ holds the pieces listed in "
        "generator/runtimes/base.py for every OS family of generator/data/os.yaml (docs/CONTRIBUTING.md)"
    )


def test_a_runtime_without_its_pieces_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    # The check above must fail for a module whose folder is missing a family's piece.
    monkeypatch.setattr(tables, "os_table", lambda: {"x": type("Row", (), {"family": "suse"})()})
    assert missing_runtime_pieces("containerd") == [
        "runtimes/containerd/install-suse.sh.j2",
        "runtimes/containerd/upgrade-suse.sh.j2",
    ]
    assert "runtimes/wasm/configure.sh.j2" in missing_runtime_pieces("wasm")


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
                if concrete.startswith("templates/runtimes/"):  # a folder: the pieces every family needs
                    assert concrete.endswith("/") and (ROOT / concrete).is_dir(), concrete
                    assert not missing_runtime_pieces(name), (concrete, missing_runtime_pieces(name))
