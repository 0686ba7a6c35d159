"""The one Jinja environment. Jinja renders shell scripts and HCL text only (YAML is emitted from
data); every value reaches a script through an explicit quoting filter."""

from __future__ import annotations

import json
import shlex
from functools import cache
from typing import Any

import jinja2

from generator import guest
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


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters["shquote"] = shquote
    env.filters["shint"] = shint
    env.filters["hcl_string"] = hcl_string
    # On-node paths, named once (generator/guest.py): templates write {{ guest.BOOTSTRAP_LOG }}.
    env.globals["guest"] = guest
    return env


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)
