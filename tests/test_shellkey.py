"""tests/shellkey.py: scripts share a shellcheck key only when they differ in literals shellcheck does
not look into, and the real shellcheck agrees on every pair of variants these cases hold equal."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import SHELLCHECK_ARGS, require_tool
from tests.shellkey import shellcheck_key

HEAD = "#!/usr/bin/env bash\nset -euo pipefail\n"
FETCH = 'fetch() {\n  printf "%s %s\\n" "$1" "$2"\n}\n'

# Pairs that must share a key: the same template with other values.
SAME = [
    (f'{HEAD}# node cp-0\nreadonly NODE=cp-0\necho "$NODE"\n', f'{HEAD}# node w1\nreadonly NODE=w1\necho "$NODE"\n'),
    (f'{HEAD}readonly V=1.30.14\necho "$V"\n', f'{HEAD}readonly V=pwd\necho "$V"\n'),
    (f"{HEAD}{FETCH}fetch https://a/1.30 abc123\n", f"{HEAD}{FETCH}fetch https://b/1.34 def456\n"),
    (f"{HEAD}cat <<'EOF'\nversion 1\n$x `y`\nEOF\n", f"{HEAD}cat <<'EOF'\nversion 2\n$z\nEOF\n"),
    (f'{HEAD}cat <<-"EOF"\n\tone\n\tEOF\n', f'{HEAD}cat <<-"EOF"\n\ttwo\n\tEOF\n'),
]
# Pairs that must not: shellcheck may (and for some, does) answer differently.
APART = [
    (f"{HEAD}readonly V=a\necho $V\n", f"{HEAD}readonly V='a b'\necho $V\n"),  # SC2086 needs the space
    (f'{HEAD}V=a\necho "$V"\n', f'{HEAD}V=pwd\necho "$V"\n'),  # SC2209 on a bare assignment
    (f"{HEAD}readonly V=a\n", f"{HEAD}readonly V=$HOME\n"),  # an expansion is not a literal
    (f"{HEAD}cat <<EOF\none\nEOF\n", f"{HEAD}cat <<EOF\n$x\nEOF\n"),  # an unquoted body is parsed
    (f"{HEAD}cat <<'EOF'\none\nEOF\n", f"{HEAD}cat <<'EOF'\n EOF\nEOF\n"),  # SC1041 looks for the token
    (f"{HEAD}# one\ntrue\n", f"{HEAD}# shellcheck disable=SC2034\ntrue\n"),  # a directive
    (f"{HEAD}if true; then\n  true\nfi\n", f"{HEAD}if true; then\n  :\nfi\n"),  # code
]


@pytest.mark.parametrize(("one", "other"), SAME)
def test_value_only_variants_share_a_key(one: str, other: str) -> None:
    assert one != other
    assert shellcheck_key(one) == shellcheck_key(other)


@pytest.mark.parametrize(("one", "other"), APART)
def test_other_differences_keep_scripts_apart(one: str, other: str) -> None:
    assert shellcheck_key(one) != shellcheck_key(other)


def test_shellcheck_gives_variants_of_one_key_the_same_verdict(tmp_path: Path) -> None:
    """The real shellcheck: each SAME pair gets the same exit code and the same findings (by code and
    line), so checking one of them speaks for the other."""
    tool = require_tool("shellcheck", reason="Debian package shellcheck")
    files = []
    for i, (one, other) in enumerate(SAME):
        for j, text in enumerate((one, other)):
            path = tmp_path / f"{i}-{j}.sh"
            path.write_text(text, encoding="utf-8")
            files.append(path)
    verdicts = []
    for path in files:
        result = subprocess.run(
            [tool, *SHELLCHECK_ARGS, "--format=gcc", str(path)], capture_output=True, text=True, check=False
        )
        findings = sorted(line.split(":", 1)[1] for line in result.stdout.splitlines())
        verdicts.append((result.returncode, [f.split(":", 2)[0] + f.rsplit("[", 1)[-1] for f in findings]))
    assert verdicts[0::2] == verdicts[1::2]
