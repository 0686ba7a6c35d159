"""Test order for pytest-xdist: longest first, so no long test starts near the end of a run.

Under ``--dist loadgroup`` xdist hands out tests in collection order as workers free up; one long test
picked up last stretches the run by its own length while the other worker idles. So the collection is
reordered (stably; every worker computes the same order, which xdist requires):

* tests with a duration in pytest's cache from an earlier run (``.pytest_cache``, key
  :data:`CACHE_KEY`) run longest first;
* tests without one (new tests, or a fresh clone) run before them, by tier: sandbox, then validator,
  then unit tests, in collection order within a tier;
* boot tests keep their order, first (xdist gives their group out first in any case).

A serial run (``-n 0`` or ``-p no:xdist``) keeps the collection order.

The order interleaves modules, and pytest tears a module-scoped fixture down whenever a worker's next
test comes from another module; so a module fixture that is costly to build and that its tests only read
is session-scoped instead (built once per worker; a serial run sees no difference). With module scope,
the generated bundle of tests/test_secrets.py was built 6 times in a run, the Packer projects of
tests/test_packer.py 37 times.

The controller (or the only process, without xdist) records each test's setup + call + teardown time
at the end of the session. The order changes nothing else: tests must not depend on it.

``-n auto`` starts one worker more than there are cores when the ``-m`` expression leaves out the boot
tests: several tests spend seconds waiting on timeouts without using the CPU (an etcd member that is
gone, a KVM probe that hangs, network namespaces), and the extra worker keeps both cores busy meanwhile.
With boot tests in the run the count stays at the cores (a VM needs its core).
"""

from __future__ import annotations

import math
import os

import pytest
from _pytest.mark.expression import Expression  # pytest's own -m parser (no public API for it)

CACHE_KEY = "kgen/durations"
TIER_RANK = {"boot": 0, "sandbox": 1, "validator": 2, "unit": 3}


def _known(config: pytest.Config) -> dict[str, float]:
    cache = getattr(config, "cache", None)  # None with -p no:cacheprovider
    if cache is None:
        return {}
    data = cache.get(CACHE_KEY, {})
    return {k: float(v) for k, v in data.items() if isinstance(v, int | float)} if isinstance(data, dict) else {}


def _tier(item: pytest.Item) -> int:
    return min((TIER_RANK[m.name] for m in item.iter_markers() if m.name in TIER_RANK), default=len(TIER_RANK))


def order(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Reorder ``items`` in place in an xdist worker (a serial run keeps its order): unknown durations
    first (by tier), then the known ones, longest first."""
    if not hasattr(config, "workerinput"):
        return
    known = _known(config)
    position = {item.nodeid: i for i, item in enumerate(items)}

    def key(item: pytest.Item) -> tuple[float, int, int]:
        tier = _tier(item)
        # Boot tests (one xdist group, which xdist hands out first anyway) keep their order.
        duration = math.inf if tier == TIER_RANK["boot"] else known.get(item.nodeid, math.inf)
        return (-duration, tier, position[item.nodeid])

    items.sort(key=key)


class Recorder:
    """Sums each test's phase durations and merges them into the cache when the session ends."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.durations: dict[str, float] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.durations[report.nodeid] = self.durations.get(report.nodeid, 0.0) + report.duration

    def pytest_sessionfinish(self) -> None:
        cache = getattr(self.config, "cache", None)
        if cache is None or not self.durations:
            return
        merged = {**_known(self.config), **{k: round(v, 3) for k, v in self.durations.items()}}
        cache.set(CACHE_KEY, merged)


def register(config: pytest.Config) -> None:
    """Record durations in the controller (or the only process): it sees every worker's reports."""
    if not hasattr(config, "workerinput"):
        config.pluginmanager.register(Recorder(config), "kgen-durations")


def _only_boot(name: str, /, **_: str | int | bool | None) -> bool:
    return name == "boot"


def auto_workers(config: pytest.Config) -> int | None:
    """Workers for ``-n auto``: the cores + 1 when ``-m`` deselects boot tests; else None (xdist's rule:
    the cores, or PYTEST_XDIST_AUTO_NUM_WORKERS)."""
    expression = config.option.markexpr
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS") or not expression:
        return None
    if Expression.compile(expression).evaluate(_only_boot):
        return None  # a test marked only `boot` would run
    return len(os.sched_getaffinity(0)) + 1
