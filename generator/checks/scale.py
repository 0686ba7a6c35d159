"""The cluster-size limit: at most :data:`MAX_NODES` nodes in total, listed nodes plus every worker
pool's count. The schema states it (``spec.nodes`` maxItems, each pool's ``count`` maximum); this
check covers what the schema cannot add up."""

from __future__ import annotations

from collections.abc import Iterator

from generator.errors import Problem
from generator.normalize import Normalized
from generator.rawconfig import lookup, mappings
from generator.resources import load_schema

# Kubernetes is built and tested for clusters of up to 5,000 nodes ("Considerations for large
# clusters", https://kubernetes.io/docs/setup/best-practices/cluster-large/). The schema holds the
# number; the check reads it from there, so the two cannot disagree.
MAX_NODES: int = load_schema("cluster.schema.json")["properties"]["spec"]["properties"]["nodes"]["maxItems"]


def check_node_count(n: Normalized) -> Iterator[Problem]:
    doc = n.doc
    nodes = lookup(doc.data, "spec", "nodes")
    total = len(nodes) if isinstance(nodes, list) else 0
    for i, pool in mappings(doc.data, "spec", "workerPools"):
        count = pool.get("count")
        if not isinstance(count, int) or isinstance(count, bool) or count <= 0:
            continue
        total += count
        if total > MAX_NODES:  # reported at the pool that crosses the limit
            yield doc.problem(
                ("spec", "workerPools", i, "count"),
                f"this pool brings the cluster to {total} nodes (listed nodes plus pool counts so far); "
                f"kgen renders at most {MAX_NODES}, the largest cluster Kubernetes supports",
            )
            return
