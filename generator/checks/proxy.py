"""``spec.proxy`` and ``spec.mirrors``. The schema gives their shape; the URLs are checked here, so that a
URL carrying a password is refused without being echoed (a schema message repeats the value)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlsplit

from generator.errors import Problem
from generator.load import Document, KeyPath, shorten
from generator.mirrors import MIRROR_URL
from generator.normalize import Normalized
from generator.proxy import PROXY_URL, no_proxy_problem
from generator.rawconfig import lookup

PROXY_FORM = "http://HOST[:PORT] or https://HOST[:PORT], such as http://proxy.example.com:3128"
MIRROR_FORM = "an http:// or https:// URL: scheme, host, optional port and path (no query or fragment)"


def url_problem(value: str, pattern: re.Pattern[str], form: str) -> str | None:
    """Why ``value`` is not a proxy or mirror URL of the form ``pattern``, or None. A value with a user
    or password is never repeated in the message."""
    scheme, sep, rest = value.partition("://")
    if "@" in (rest.split("/", 1)[0] if sep else value):
        return (
            "carries a user name or password (not repeated here); kgen refuses credentials in the config, "
            "which reaches the nodes as user-data and world-readable files: let the proxy or mirror admit "
            "the nodes by address instead"
        )
    if not sep:
        # The value is repeated unquoted only when short and printable without spaces: a problem is one
        # line, and a value with a line break or control character, or a long one, is only echoed quoted
        # and shortened.
        plain = value.isprintable() and not any(c.isspace() for c in value) and repr(value) == shorten(value)
        advice = f"write it as http://{value} (or https://)" if plain else "start it with http:// or https://"
        return f"{shorten(value)} has no scheme; {advice}"
    if scheme not in ("http", "https"):
        return f"{shorten(value)} must be {form}, not {shorten(scheme + '://')}"
    if not pattern.fullmatch(value):
        return f"{shorten(value)} must be {form}"
    try:
        urlsplit(value).port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as exc:
        return f"{shorten(value)} has an invalid port ({exc})"
    return None


def _urls(doc: Document) -> list[tuple[KeyPath, str, re.Pattern[str], str]]:
    out: list[tuple[KeyPath, str, re.Pattern[str], str]] = []
    for key in ("httpProxy", "httpsProxy"):
        value = lookup(doc.data, "spec", "proxy", key)
        if isinstance(value, str) and value:
            out.append((("spec", "proxy", key), value, PROXY_URL, PROXY_FORM))
    downloads = lookup(doc.data, "spec", "mirrors", "downloads")
    if isinstance(downloads, str) and downloads:
        out.append((("spec", "mirrors", "downloads"), downloads, MIRROR_URL, MIRROR_FORM))
    packages = lookup(doc.data, "spec", "mirrors", "packages")
    for name, entry in packages.items() if isinstance(packages, dict) else []:
        for key in ("url", "keyUrl"):
            value = entry.get(key) if isinstance(entry, dict) else None
            if isinstance(value, str) and value:
                out.append((("spec", "mirrors", "packages", str(name), key), value, MIRROR_URL, MIRROR_FORM))
    return out


def check_urls(n: Normalized) -> Iterator[Problem]:
    doc = n.doc
    for path, value, pattern, form in _urls(doc):
        problem = url_problem(value, pattern, form)
        if problem is not None:
            yield doc.problem(path, problem)


def check_no_proxy(n: Normalized) -> Iterator[Problem]:
    """Every noProxy entry is a host name, an IP address, a .domain or a CIDR."""
    doc = n.doc
    entries = lookup(doc.data, "spec", "proxy", "noProxy")
    for i, entry in enumerate(entries if isinstance(entries, list) else []):
        if not isinstance(entry, str) or not entry:
            continue  # the schema reported it
        problem = no_proxy_problem(entry)
        if problem is not None:
            yield doc.problem(("spec", "proxy", "noProxy", i), f"{shorten(entry)} {problem}")


def check_proxy_set(n: Normalized) -> Iterator[Problem]:
    """A proxy section names at least one proxy: noProxy alone would do nothing."""
    doc = n.doc
    proxy = lookup(doc.data, "spec", "proxy")
    if isinstance(proxy, dict) and not proxy.get("httpProxy") and not proxy.get("httpsProxy"):
        yield doc.problem(("spec", "proxy"), "sets neither httpProxy nor httpsProxy; give one, or remove spec.proxy")


def check_mirror_keys(n: Normalized) -> Iterator[Problem]:
    """A signing key fetched over plain http can be swapped on the way, and then apt and dnf would
    trust whatever the swapper signed: warn (the packages themselves may come over http, as Debian's
    own mirrors serve them, because the key checks them)."""
    doc = n.doc
    packages = lookup(doc.data, "spec", "mirrors", "packages")
    for name, entry in sorted(packages.items() if isinstance(packages, dict) else []):
        if not isinstance(entry, dict):
            continue
        key, url = entry.get("keyUrl"), entry.get("url")
        source, path = (key, "keyUrl") if isinstance(key, str) else (url, "url")
        if isinstance(source, str) and source.startswith("http://"):
            yield doc.problem(
                ("spec", "mirrors", "packages", name, path),
                "the repository's signing key would be downloaded over plain http, where it can be replaced on "
                "the way; serve the key over https (keyUrl: https://...)",
                severity="warning",
            )
