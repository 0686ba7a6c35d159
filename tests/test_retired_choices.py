"""Retired choices (versions.yaml retiredChoices): each names a setting with an enum in the schema,
is not one of its values, and has a reason, advice and a source; validate says the reason."""

from __future__ import annotations

import json
from typing import Any

from generator.resources import data_dir, schemas_dir
from generator.versions import table
from tests.conftest import EXAMPLES


def _schema_at(path: str) -> dict[str, Any]:
    node: dict[str, Any] = json.loads((schemas_dir() / "cluster.schema.json").read_text(encoding="utf-8"))
    for key in path.split("."):
        node = node["properties"][key]
    return node


def test_retired_choices_are_not_offered_and_say_why() -> None:
    retired: dict[str, dict[str, dict[str, str]]] = table()["retiredChoices"]
    assert "weave" in retired["spec.cni.plugin"]
    for path, values in retired.items():
        enum = _schema_at(path)["enum"]
        for value, entry in values.items():
            assert value not in enum, (path, value)
            assert entry["reason"] and entry["advice"] and entry["source"], (path, value)
    assert (data_dir() / "versions.yaml").is_file()


def test_weave_example_names_the_alternatives() -> None:
    expected = (EXAMPLES / "invalid" / "cni-weave-archived" / "expected-error.txt").read_text(encoding="utf-8")
    assert "archived upstream" in expected and "flannel" in expected and "calico" in expected
