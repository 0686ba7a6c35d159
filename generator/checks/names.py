"""Names and labels: DNS-1123 names, unique node names, labels the kubelet may set."""

from __future__ import annotations

import re
from collections.abc import Iterator

from generator.errors import Problem
from generator.load import KeyPath, format_path, non_ascii_hint
from generator.normalize import Normalized
from generator.rawconfig import lookup, mappings

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


DNS1123_HINT = "lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters"


# NodeRestriction lets a kubelet set labels under these kubernetes.io prefixes only.
# https://kubernetes.io/docs/reference/access-authn-authz/admission-controllers/#noderestriction
ALLOWED_KUBERNETES_LABEL_PREFIXES = ("kubelet.kubernetes.io/", "node.kubernetes.io/")


ALLOWED_KUBERNETES_LABELS = {
    "kubernetes.io/hostname",
    "kubernetes.io/arch",
    "kubernetes.io/os",
    "beta.kubernetes.io/instance-type",
    "node.kubernetes.io/instance-type",
    "failure-domain.beta.kubernetes.io/region",
    "failure-domain.beta.kubernetes.io/zone",
    "topology.kubernetes.io/region",
    "topology.kubernetes.io/zone",
}


def check_names(n: Normalized) -> Iterator[Problem]:
    doc = n.doc
    name = lookup(doc.data, "metadata", "name")
    if isinstance(name, str) and not DNS1123_LABEL.fullmatch(name):
        message = f"{name!r} is not a valid cluster name: use {DNS1123_HINT}{non_ascii_hint(name)}"
        yield doc.problem(("metadata", "name"), message)
    for i, pool in mappings(doc.data, "spec", "workerPools"):
        pool_name = pool.get("name")
        if isinstance(pool_name, str) and not DNS1123_LABEL.fullmatch(pool_name):
            yield doc.problem(
                ("spec", "workerPools", i, "name"), f"{pool_name!r} is not a valid pool name: use {DNS1123_HINT}"
            )
    seen: dict[str, KeyPath] = {}
    for path, node_name, _, _ in n.node_rows:
        key_path = (*path, "name")
        if path[1] == "nodes" and not DNS1123_LABEL.fullmatch(node_name):
            message = f"{node_name!r} is not a valid node name: use {DNS1123_HINT}{non_ascii_hint(node_name)}"
            yield doc.problem(key_path, message)
        elif path[1] == "workerPools" and len(node_name) > 63:
            yield doc.problem(key_path, f"pool node name {node_name!r} is longer than 63 characters")
        if node_name in seen:
            yield doc.problem(key_path, f"node name {node_name!r} is already used at {format_path(seen[node_name])}")
        else:
            seen[node_name] = path


def check_labels(n: Normalized) -> Iterator[Problem]:
    doc = n.doc
    holders = [("spec", "nodes", i) for i, _ in mappings(doc.data, "spec", "nodes")]
    holders += [("spec", "workerPools", i) for i, _ in mappings(doc.data, "spec", "workerPools")]
    for holder in holders:
        labels = lookup(doc.data, *holder, "labels")
        if not isinstance(labels, dict):
            continue
        for key in labels:
            if not isinstance(key, str) or "/" not in key:
                continue
            prefix = key.split("/", 1)[0]
            restricted = prefix.endswith(("kubernetes.io", "k8s.io"))
            if (
                restricted
                and key not in ALLOWED_KUBERNETES_LABELS
                and not key.startswith(ALLOWED_KUBERNETES_LABEL_PREFIXES)
            ):
                yield doc.problem(
                    (*holder, "labels", key),
                    f"the kubelet may not set {key!r} (NodeRestriction admission); use a label under "
                    "node.kubernetes.io/ or your own prefix, or label the node with kubectl after it joins",
                )
