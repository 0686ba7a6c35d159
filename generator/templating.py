"""The one Jinja environment. Jinja renders shell scripts and HCL text only (YAML is emitted from
data); every value reaches a script through an explicit quoting filter."""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import shlex
import sys
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import jinja2.bccache

from generator import __version__, guest
from generator.resources import templates_dir


def shquote(value: object) -> str:
    """Quote any value as one shell word."""
    if isinstance(value, bool):
        value = "true" if value else "false"
    return shlex.quote(str(value))


def shint(value: object) -> str:
    """An integer for arithmetic contexts; anything else is a bug and fails the render."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"expected an integer, got {value!r}")
    return str(value)


def hcl_string(value: object) -> str:
    """A double-quoted HCL string literal. JSON escaping is valid HCL, plus ``${`` and ``%{`` escaped
    so values are never interpolated."""
    text = json.dumps(str(value), ensure_ascii=False)
    return text.replace("${", "$${").replace("%{", "%%{")


class _BytecodeCache(jinja2.FileSystemBytecodeCache):
    """Compiled templates kept between runs: compiling them was most of the time of a small render.
    Jinja checks each entry against its template's source (a checksum), so a changed template is
    compiled again; an entry that cannot be read or written is simply compiled (a cache only)."""

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except (OSError, EOFError, ValueError, TypeError, pickle.UnpicklingError):
            bucket.reset()

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        with contextlib.suppress(OSError):
            super().dump_bytecode(bucket)


def bytecode_cache_dir() -> Path | None:
    """A per-user folder keyed by kgen's and Python's versions (marshalled code is Python-specific):
    $XDG_CACHE_HOME/kgen/, else ~/.cache/kgen/. None when it cannot be created."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path("~/.cache").expanduser())
    if not base.is_absolute():  # no usable home (the XDG spec also ignores a relative path)
        return None
    folder = base / "kgen" / f"{__version__}-py{sys.version_info[0]}.{sys.version_info[1]}" / "jinja"
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError:
        return None
    return folder


def unit_text(value: str) -> str:
    """A value inside a systemd unit file: ``%`` starts a specifier there (systemd.unit, "Specifiers")."""
    return value.replace("%", "%%")


@cache
def environment() -> jinja2.Environment:
    folder = bytecode_cache_dir()
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        bytecode_cache=_BytecodeCache(str(folder)) if folder is not None else None,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
        auto_reload=False,  # templates do not change during a run: no stat per get_template
    )
    env.filters["shquote"] = shquote
    env.filters["shint"] = shint
    env.filters["hcl_string"] = hcl_string
    # On-node paths, named once (generator/guest.py): templates write {{ guest.BOOTSTRAP_LOG }}.
    env.globals["guest"] = guest
    return env


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)
