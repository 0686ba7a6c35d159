#!/usr/bin/env python3
"""Compare two trees from tools/render_examples.py: name each file only one side has, and print the
changed lines of each differing file (gzipped user-data decompressed first), grouped by identical
changes, so a change that touches many files reads as one entry. Prints nothing when the trees are
byte-identical.

    python3 tools/compare_renders.py BEFORE AFTER
"""

from __future__ import annotations

import collections
import difflib
import gzip
import sys
from pathlib import Path


def text_of(path: Path) -> str:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data.decode(errors="replace")


def changed_lines(before: str, after: str) -> str:
    diff = difflib.unified_diff(before.splitlines(), after.splitlines(), n=0, lineterm="")
    lines = [line for line in diff if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    # nodes.json records user-data sizes, which follow any change to a user-data file
    kept = [line for line in lines if '"bytes"' not in line and '"base64Bytes"' not in line]
    return "\n".join(kept) or "(only the user-data sizes in nodes.json)"


def main(before: Path, after: Path) -> None:
    left = {p.relative_to(before) for p in before.rglob("*") if p.is_file()}
    right = {p.relative_to(after) for p in after.rglob("*") if p.is_file()}
    for rel in sorted(left ^ right):
        print("only in", before if rel in left else after, rel)
    groups: dict[str, list[str]] = collections.defaultdict(list)
    for rel in sorted(left & right):
        if (before / rel).read_bytes() == (after / rel).read_bytes():
            continue
        old, new = text_of(before / rel), text_of(after / rel)
        groups["(the same after gunzip)" if old == new else changed_lines(old, new)].append(str(rel))
    for change, files in groups.items():
        print(f"=== {len(files)} file(s), e.g. {files[0]}\n{change[:3000]}\n")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: tools/compare_renders.py BEFORE AFTER")
    main(Path(sys.argv[1]), Path(sys.argv[2]))
