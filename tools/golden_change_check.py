#!/usr/bin/env python3
"""Shows how many golden files one template change touches (issue 12's acceptance: a one-line change to
the configure template changes at most as many golden files as there are distinct configure scripts).

In a temporary copy of the checkout it changes one line of templates/prepare/configure.sh.j2, runs the
golden tests (they must fail), regenerates every golden (``KGEN_UPDATE_GOLDEN=1 ... -m golden``) and
compares the stored tree with the original. Run with the venv's Python:

    .venv/bin/python tools/golden_change_check.py
"""

from __future__ import annotations

import filecmp
import importlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TEMPLATE = Path("templates/prepare/configure.sh.j2")
COPY = (
    "generator",
    "templates",
    "schemas",
    "packer",
    "tests",
    "examples",
    "docs",
    "tools",
    "pyproject.toml",
    "README.md",
)


def changed_files(before: Path, after: Path) -> list[str]:
    names = {p.relative_to(before).as_posix() for p in before.rglob("*") if p.is_file()}
    names |= {p.relative_to(after).as_posix() for p in after.rglob("*") if p.is_file()}
    return sorted(
        n
        for n in names
        if not (before / n).is_file()
        or not (after / n).is_file()
        or not filecmp.cmp(before / n, after / n, shallow=False)
    )


def pytest(root: Path, *args: str, update: bool = False) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KGEN_UPDATE_GOLDEN": "1" if update else "0", "PYTHONPATH": str(root)}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "golden", *args]
    return subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, check=False)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="kgen-golden-change-") as tmp:
        root = Path(tmp)
        for name in COPY:
            source = REPO / name
            if source.is_dir():
                shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(source, root / name)
        template = root / TEMPLATE
        lines = template.read_text(encoding="utf-8").splitlines(keepends=True)
        index = next(i for i, line in enumerate(lines) if line.startswith("# ") and i > 0)
        lines[index] = lines[index].rstrip("\n") + " (one-line change)\n"
        template.write_text("".join(lines), encoding="utf-8")
        print(f"changed {TEMPLATE}:{index + 1}: {lines[index].strip()}")

        check = pytest(root)
        failed = re.findall(r"^FAILED (\S+)", check.stdout, flags=re.MULTILINE)
        print(f"golden tests before regenerating: exit {check.returncode}, {len(failed)} failed")
        for test in failed:
            print(f"  FAILED {test}")
        update = pytest(root, update=True)
        if update.returncode != 0:
            print(update.stdout[-3000:], update.stderr[-3000:])
            return 1
        changed = changed_files(REPO / "tests" / "golden", root / "tests" / "golden")

        sys.path.insert(0, str(REPO))
        golden = importlib.import_module("tests.golden")

        golden.GOLDEN = root / "tests" / "golden"  # type: ignore[attr-defined]
        configure = {golden.resolve(name) for name in golden.stored_names() if name.endswith("/node-configure.sh")}
        print(f"golden files changed: {len(changed)}; distinct configure scripts: {len(configure)}")
        for name in changed:
            print(f"  {name}")
        ok = check.returncode != 0 and 0 < len(changed) <= len(configure)
        print("OK" if ok else "NOT OK: more golden files changed than there are distinct configure scripts")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
