"""Checks for ``spec.proxy`` and ``spec.mirrors`` the schema cannot express (issue 15). The schema holds
the URL patterns; :mod:`generator.validate` lists :data:`CHECKS` among its semantic checks."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from generator.errors import Problem
from generator.load import Document, shorten
from generator.proxy import no_proxy_problem
from generator.rawconfig import lookup


def check_no_proxy(doc: Document) -> Iterator[Problem]:
    """Every noProxy entry is a host name, an IP address, a .domain or a CIDR."""
    entries = lookup(doc.data, "spec", "proxy", "noProxy")
    for i, entry in enumerate(entries if isinstance(entries, list) else []):
        if not isinstance(entry, str) or not entry:
            continue  # the schema reported it
        problem = no_proxy_problem(entry)
        if problem is not None:
            yield doc.problem(("spec", "proxy", "noProxy", i), f"{shorten(entry)} {problem}")


def check_proxy_set(doc: Document) -> Iterator[Problem]:
    """A proxy section names at least one proxy: noProxy alone would do nothing."""
    proxy = lookup(doc.data, "spec", "proxy")
    if isinstance(proxy, dict) and not proxy.get("httpProxy") and not proxy.get("httpsProxy"):
        yield doc.problem(("spec", "proxy"), "sets neither httpProxy nor httpsProxy; give one, or remove spec.proxy")


def check_mirror_keys(doc: Document) -> Iterator[Problem]:
    """A signing key fetched over plain http can be swapped on the way, and then apt and dnf would
    trust whatever the swapper signed: warn (the packages themselves may come over http, as Debian's
    own mirrors serve them, because the key checks them)."""
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


CHECKS: tuple[Callable[[Document], Iterator[Problem]], ...] = (check_no_proxy, check_proxy_set, check_mirror_keys)
