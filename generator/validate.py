"""Stage 3: check a loaded cluster config against its JSON Schema, then run the semantic checks
(:mod:`generator.checks`) on the normalized config. Every problem is collected and returned; nothing is
raised for bad input."""

from __future__ import annotations

import difflib
import functools
import json
import re
from collections.abc import Iterator
from typing import Any

import jsonschema

from generator.checks import CHECKS
from generator.checks.registries import multiline_allowed
from generator.errors import Problem
from generator.load import ECHO_LIMIT, Document, KeyPath, describe, format_path, non_ascii_hint, shorten
from generator.normalize import CLUSTER_SCHEMA, Normalized, normalize
from generator.resources import load_schema
from generator.versions import retired_choice, retired_os


def validate(doc: Document, normalized: Normalized | None = None) -> list[Problem]:
    """All problems in ``doc``: schema violations, then the semantic checks (:mod:`generator.checks`)
    on the normalized config (``normalized``, or :func:`generator.normalize.normalize` of ``doc``).
    Warnings included."""
    problems = list(control_character_problems(doc))
    problems.extend(schema_problems(doc))
    if isinstance(doc.data, dict):
        n = normalized if normalized is not None else normalize(doc)
        for check in CHECKS:
            problems.extend(check(n))
    return sorted(set(problems), key=lambda p: p.sort_key)


# --- control characters -----------------------------------------------------------------------------
# No value kgen reads may carry a newline, tab or other control character: JSON Schema patterns end
# in `$`, which also matches before a final newline, and a newline in a name would end a comment line
# in a generated script. One check, before everything else, covers keys and values alike.


def control_character_problems(doc: Document) -> Iterator[Problem]:
    def walk(value: Any, path: KeyPath) -> Iterator[Problem]:
        if isinstance(value, dict):
            for key, item in value.items():
                child = (*path, str(key))
                if isinstance(key, str) and not key.isprintable():
                    yield doc.problem(child, "the key contains a control character (newline, tab, ...)")
                yield from walk(item, child)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                yield from walk(item, (*path, index))
        elif isinstance(value, str) and not value.isprintable():
            # PEM certificates (spec.trustedCAs, a mirror's ca) are multi-line; only their newlines pass
            if multiline_allowed(path) and value.replace("\n", "").isprintable():
                return
            yield doc.problem(path, f"{shorten(value)} contains a control character (newline, tab, ...)")

    yield from walk(doc.data, ())


# --- schema -----------------------------------------------------------------------------------------


_DRAFT_ITEMS = jsonschema.Draft202012Validator.VALIDATORS["items"]


def _items_within_max_items(
    validator: Any, items: Any, instance: Any, schema: dict[str, Any]
) -> Iterator[jsonschema.ValidationError]:
    """The ``items`` keyword, except on an array already longer than its ``maxItems``: that length is the
    problem to report (``maxItems`` does), and checking each of, say, 70,000 elements first only delays
    the answer by seconds."""
    if isinstance(instance, list) and len(instance) > schema.get("maxItems", len(instance)):
        return
    yield from _DRAFT_ITEMS(validator, items, instance, schema)


_Validator = jsonschema.validators.extend(  # type: ignore[no-untyped-call]  # (untyped in types-jsonschema)
    jsonschema.Draft202012Validator, {"items": _items_within_max_items}
)


@functools.cache
def _cluster_validator() -> Any:
    """The cluster schema's validator, built once: a validator is immutable and keeps no state between
    ``iter_errors`` calls, and building one (reading and parsing the schema) costs more than a check."""
    return _Validator(load_schema(CLUSTER_SCHEMA))


def schema_problems(doc: Document) -> Iterator[Problem]:
    validator = _cluster_validator()
    for error in validator.iter_errors(doc.data):
        yield from _problems_from_schema_error(doc, error)


def _problems_from_schema_error(doc: Document, error: jsonschema.ValidationError) -> Iterator[Problem]:
    path: KeyPath = tuple(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = sorted(schema.get("properties", {}))
        # str(): YAML can make keys of other types (1:, ~:, yes:), which neither sort with strings nor print
        for key in sorted({str(k) for k in error.instance} - set(known)):
            hint = difflib.get_close_matches(key, known, n=1)
            suggestion = f"; did you mean {hint[0]!r}?" if hint else f"; expected one of {known}"
            yield doc.problem((*path, key), f"unknown key {shorten(key)}{suggestion}")
        return
    if path == ("spec", "os") and error.validator == "enum" and isinstance(error.instance, str):
        retired = retired_os(error.instance)
        if retired is not None:
            replacement = " or ".join(retired["replacement"])
            yield doc.problem(
                path,
                f"{error.instance} reached end of life on {retired['endOfLife']} and gets no containerd or "
                f"Kubernetes packages any more; use {replacement} instead",
            )
            return
    if error.validator == "enum" and isinstance(error.instance, str):
        retired = retired_choice(format_path(path), error.instance)
        if retired is not None:
            yield doc.problem(path, f"{error.instance!r}: {retired['reason']}; {retired['advice']}")
            return
    if error.validator == "required":
        missing = re.fullmatch(r"'([^']+)' is a required property", error.message)
        if missing:
            yield doc.problem(path, f"missing required key {missing.group(1)!r}")
            return
    if error.validator == "const":
        yield doc.problem(path, f"must be {error.validator_value!r}, not {describe(error.instance)}")
        return
    if "propertyNames" in error.relative_schema_path and isinstance(error.instance, str):
        path = (*path, error.instance)
    yield doc.problem(path, _schema_message(error, schema.get("x-message")))


def _schema_message(error: jsonschema.ValidationError, custom: str | None) -> str:
    """The message for one schema error, echoing the value short (a 10 MB value is cut to its start and
    length), saying how to write a number or boolean where text is expected, and naming a non-ASCII
    character in text that has to match a pattern (a Cyrillic look-alike letter is otherwise invisible)."""
    instance = error.instance
    if custom:
        short = isinstance(instance, str) and len(instance) <= ECHO_LIMIT
        message = f"{json.dumps(instance) if short else describe(instance)} {custom}"
    else:
        # jsonschema's own messages start with repr(instance), which can be any size
        shown = repr(instance)
        message = error.message if len(shown) <= ECHO_LIMIT else error.message.replace(shown, describe(instance), 1)
    if (
        error.validator == "type"
        and isinstance(instance, bool | int | float)
        and "string" in str(error.validator_value)
    ):
        message += f"; quote it ({str(instance).lower() if isinstance(instance, bool) else instance!r}) for text"
    elif isinstance(instance, str) and error.validator in ("pattern", "format", "enum", "propertyNames"):
        message += non_ascii_hint(instance)
    return message
