"""The render's per-node table (``generator.text_tables.node_summary_lines``): one row per node, and one
row per run of more than FOLD_AFTER alike, consecutively numbered nodes (a worker pool)."""

from __future__ import annotations

import pytest

from generator.emit.index import NodeSummary
from generator.text_tables import FOLD_AFTER, node_summary_lines
from tests.conftest import REPO

HEADER = "node                     role           action               user-data   base64  (Nova limit 65535)"


def node(
    name: str, size: int = 30000, *, action: str = "join", role: str = "worker", keys: bool = False
) -> NodeSummary:
    return NodeSummary(
        name=name,
        role=role,
        action=action,
        ip=None,
        user_data_bytes=size,
        user_data_base64_bytes=size * 4 // 3,
        gzipped=False,
        holds_private_keys=keys,
    )


def pool(prefix: str, numbers: range) -> list[NodeSummary]:
    return [node(f"{prefix}-{n}", 30000 + n) for n in numbers]


CP = node("cp-0", 27000, action="init", role="control-plane", keys=True)
CASES = {
    # name: (nodes, the first column of each row after the header)
    "two nodes, as before": ([CP, node("worker-0")], ["cp-0", "worker-0"]),
    "a pool of FOLD_AFTER is listed": (pool("w", range(FOLD_AFTER)), [f"w-{n}" for n in range(FOLD_AFTER)]),
    "a pool of one more is folded": (pool("w", range(FOLD_AFTER + 1)), [f"w-0..{FOLD_AFTER}"]),
    "pools side by side fold apart": (
        [CP, *pool("a", range(12)), *pool("b", range(3, 40))],
        ["cp-0", "a-0..11", "b-3..39"],
    ),
    "a gap splits the run": (
        pool("w", range(6)) + pool("w", range(7, 13)),
        [f"w-{n}" for n in (*range(6), *range(7, 13))],
    ),
    "another action splits the run": (
        [*pool("w", range(12)), node("w-12", action="join control-plane"), *pool("w", range(13, 30))],
        ["w-0..11", "w-12", "w-13..29"],
    ),
    "leading zeros are names, not numbers": (
        [node(f"n-{n:02d}") for n in range(12)],
        [f"n-{n:02d}" for n in range(12)],
    ),
}


@pytest.mark.parametrize(("nodes", "first_column"), CASES.values(), ids=CASES.keys())
def test_rows_and_folds(nodes: list[NodeSummary], first_column: list[str]) -> None:
    lines = node_summary_lines(nodes)
    assert lines[0] == HEADER
    assert [line.split()[0] for line in lines[1:]] == first_column


def test_a_folded_row_shows_the_count_and_the_largest_sizes() -> None:
    nodes = pool("pool0", range(20))
    nodes[7] = node("pool0-7", 33901)  # the largest, mid-pool
    (_, row) = node_summary_lines(nodes)
    assert row == (
        "pool0-0..19              worker         join                     33901    45201  (20 nodes; the largest sizes)"
    )


def test_a_single_node_row_is_the_table_kgen_printed_before() -> None:
    (_, row) = node_summary_lines([CP])
    assert row == "cp-0                     control-plane  init                     27000    36000  holds CA keys"


def test_the_readme_gives_the_fold_size() -> None:
    readme = " ".join((REPO / "README.md").read_text(encoding="utf-8").split())
    assert f"The node summary lists a run of more than {FOLD_AFTER} alike nodes" in readme
