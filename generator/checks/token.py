"""The bootstrap token."""

from __future__ import annotations

from collections.abc import Iterator

from generator.errors import Problem
from generator.load import KeyPath
from generator.normalize import Normalized
from generator.rawconfig import lookup


def check_token(n: Normalized) -> Iterator[Problem]:
    doc = n.doc
    path: KeyPath = ("spec", "bootstrapToken", "ttl")
    if lookup(doc.data, *path) == "0":
        yield doc.problem(
            path,
            "ttl 0 makes the bootstrap token never expire: anyone who reads a worker's user-data can join "
            "nodes to the cluster until you delete the token (kubeadm token delete)",
            severity="warning",
        )
