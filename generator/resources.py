"""Where the shipped data lives: inside the wheel, or at the repository's top level in a checkout."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import yaml

_PACKAGE_DIR = Path(__file__).resolve().parent


def _locate(name: str) -> Path:
    """``templates``, ``schemas`` and ``packer`` are top-level folders in the repository and are
    force-included into the package when a wheel is built (see pyproject.toml)."""
    packaged = _PACKAGE_DIR / name
    if packaged.is_dir():
        return packaged
    return _PACKAGE_DIR.parent / name


def templates_dir() -> Path:
    return _locate("templates")


def schemas_dir() -> Path:
    return _locate("schemas")


def packer_dir() -> Path:
    return _locate("packer")


def data_dir() -> Path:
    return _PACKAGE_DIR / "data"


@cache
def load_schema(name: str) -> dict[str, Any]:
    with (schemas_dir() / name).open(encoding="utf-8") as fh:
        schema: dict[str, Any] = json.load(fh)
    return schema


@cache
def load_data(name: str) -> Any:
    with (data_dir() / name).open(encoding="utf-8") as fh:
        return yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 - a safe loader
