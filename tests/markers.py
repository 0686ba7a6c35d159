"""Test tiers as pytest markers (registered in pyproject.toml), applied at collection so new tests get
them without a decorator.

* ``boot``: boots a VM in qemu. Marked by hand (``@pytest.mark.boot``) or by using the ``base_image``
  fixture. All boot tests share one xdist group, so two VMs never run at once.
* ``sandbox``: runs kgen's scripts for real in the bootstrap sandbox (``tests.sandbox``: unshare + chroot).
* ``validator``: calls a system tool through ``tests.conftest.require_tool`` (cloud-init, shellcheck,
  packer, openssl, containerd, nft, systemd-analyze, ...).
* ``unit``: none of the above; pure Python, milliseconds to a second.

Each test gets exactly one tier, the most demanding that applies (boot > sandbox > validator > unit),
so ``-m unit``, ``-m validator``, ``-m sandbox`` and ``-m boot`` split the suite. A test's tier comes
from the names the code of the test function and of every fixture it uses refers to (their code
objects' ``co_names``, nested functions and lambdas included), and, transitively, of the helper
functions they call that are defined under ``tests/``: a call to
``require_tool`` makes it a validator test, a call to ``require_sandbox`` (``Sandbox.create`` does) a
sandbox test. A call to ``check_golden`` adds the ``golden`` marker (not a tier): ``-m golden`` selects
every test that pins output, which is how all goldens are regenerated. So a new test that calls an
existing helper is marked like the helper's other users.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from types import CodeType
from typing import Any

import pytest
from _pytest.nodeid import coerce_node_id

TESTS = Path(__file__).resolve().parent

TIER_ORDER = ("boot", "sandbox", "validator")
BOOT_FIXTURES = frozenset({"base_image"})
BOOT_GROUP = "boot"

# The entry points that decide a tier; anything else defined under tests/ is followed.
_LEAVES = {"require_tool": "validator", "require_sandbox": "sandbox", "check_golden": "golden"}


@functools.cache
def _source_in_tests(source: str) -> bool:
    return Path(source).resolve().is_relative_to(TESTS)


def _defined_in_tests(obj: object) -> bool:
    code = getattr(obj, "__code__", None)
    if isinstance(code, CodeType):  # a function: where its code was compiled
        return _source_in_tests(code.co_filename)
    try:
        source = inspect.getsourcefile(obj)  # type: ignore[arg-type]
    except TypeError:
        return False
    return source is not None and _source_in_tests(source)


def _callables(obj: Any) -> list[Callable[..., Any]]:
    """The functions whose source belongs to ``obj``: itself, or a class's methods."""
    if inspect.isclass(obj):
        return [member for member in vars(obj).values() if inspect.isfunction(inspect.unwrap(member))]
    if inspect.isfunction(obj) or inspect.ismethod(obj):
        return [obj]
    return []


def _names(code: CodeType) -> set[str]:
    """The global and attribute names ``code`` refers to, with those of the functions, lambdas and
    comprehensions defined inside it. Reading code objects instead of source text is what keeps
    marking ~1,500 tests cheap: no tokenizing, and names in strings or comments do not count."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, CodeType):
            names |= _names(const)
    return names


@functools.cache
def _direct(func: Callable[..., Any]) -> tuple[frozenset[str], tuple[Callable[..., Any], ...]]:
    """The tiers ``func`` names itself, and the functions under tests/ it refers to."""
    code = getattr(func, "__code__", None)
    if not isinstance(code, CodeType):
        return frozenset(), ()
    namespace: dict[str, Any] = getattr(func, "__globals__", {})
    tiers: set[str] = set()
    callees: list[Callable[..., Any]] = []
    for name in sorted(_names(code)):
        if name in _LEAVES:
            tiers.add(_LEAVES[name])
        elif (target := namespace.get(name)) is not None and _defined_in_tests(target):
            callees.extend(inspect.unwrap(callee) for callee in _callables(target))
    return frozenset(tiers), tuple(callees)


def _tiers_of(func: Callable[..., Any]) -> set[str]:
    tiers: set[str] = set()
    seen: set[Callable[..., Any]] = set()
    todo = [inspect.unwrap(func)]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        direct, callees = _direct(current)
        tiers |= direct
        todo.extend(callees)
    return tiers


def _fixture_funcs(item: pytest.Item) -> list[Callable[..., Any]]:
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return []
    return [
        fixturedef.func
        for name in item.fixturenames  # type: ignore[attr-defined]
        for fixturedef in info.name2fixturedefs.get(name, ())
    ]


def tiers(item: pytest.Item) -> set[str]:
    """The automatic tier markers for one collected test."""
    found: set[str] = set()
    if item.get_closest_marker("boot") or BOOT_FIXTURES & set(getattr(item, "fixturenames", ())):
        found.add("boot")
    funcs = _fixture_funcs(item)
    if isinstance(item, pytest.Function):
        funcs.append(item.function)
    for func in funcs:
        if _defined_in_tests(func):
            found |= _tiers_of(func)
    extra = found & {"golden"}
    for tier in TIER_ORDER:  # one tier per test: the most demanding one
        if tier in found:
            return {tier} | extra
    return {"unit"} | extra


def apply(items: list[pytest.Item]) -> None:
    for item in items:
        for tier in tiers(item) - {m.name for m in item.iter_markers()}:
            item.add_marker(getattr(pytest.mark, tier))
        if item.get_closest_marker("boot") and not item.get_closest_marker("xdist_group"):
            # One group: under ``--dist loadgroup`` every boot test runs on the same worker, one VM at a time.
            item.add_marker(pytest.mark.xdist_group(BOOT_GROUP))


def group_for_xdist(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Put each test with an ``xdist_group`` marker into its group under ``--dist loadgroup``.

    pytest-xdist 3.8 does this in the worker by appending ``@<group>`` to ``Node._nodeid``
    (xdist/remote.py, ``WorkerInteractor.pytest_collection_modifyitems``), and its scheduler sends
    every test whose node id ends in the same ``@<group>`` to one worker. pytest 9 no longer reads
    ``_nodeid`` (``Node.nodeid`` is ``str(Node._id)``), so the suffix is lost and the boot tests ran on
    both workers, two VMs at once. This appends the same suffix through ``_id``."""
    if not getattr(config.option, "loadgroup", False):
        return
    for item in items:
        mark = item.get_closest_marker("xdist_group")
        if mark is None or "@" in item.nodeid or not hasattr(item, "_id"):
            continue
        name = mark.args[0] if mark.args else mark.kwargs.get("name", "default")
        item._id = coerce_node_id(f"{item.nodeid}@{name}")
