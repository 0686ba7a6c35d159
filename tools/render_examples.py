#!/usr/bin/env python3
"""Render every valid example (tests/examples/valid/*) with the test fixture secrets into OUT, using the
checkout this script sits in. With tools/compare_renders.py this shows whether a change alters what kgen
renders: run it at two commits and compare the trees.

    .venv/bin/python tools/render_examples.py /tmp/before     # at the old commit
    .venv/bin/python tools/render_examples.py /tmp/after      # at the new one
    python3 tools/compare_renders.py /tmp/before /tmp/after

The checkout's own ``generator`` is imported (this script puts the checkout first on sys.path), so
one venv serves both commits.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from generator import api  # noqa: E402
from tests.conftest import EXAMPLES, write_bundle  # noqa: E402


def main(out: Path) -> None:
    shutil.rmtree(out, ignore_errors=True)
    work = out / "_work"
    for case in sorted((EXAMPLES / "valid").iterdir()):
        folder = work / case.name
        folder.mkdir(parents=True)
        config = folder / "cluster.yaml"
        shutil.copy(case / "cluster.yaml", config)
        api.render_cluster(config, out_dir=out / case.name, secrets_path=write_bundle(config, folder))
    shutil.rmtree(work)
    print(f"rendered {len(list(out.iterdir()))} examples into {out}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: tools/render_examples.py OUT")
    main(Path(sys.argv[1]))
