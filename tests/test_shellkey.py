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
    # A call's literal words, quoted or bare, with or without spaces; their number stays.
    (f"{HEAD}{FETCH}fetch CNI 'calico v3.31.3'\n", f"{HEAD}{FETCH}fetch CNI none\n"),
    (f'{HEAD}{FETCH}fetch "exactly the 10 images" x\n', f"{HEAD}{FETCH}fetch 'the \"9\" images' ''\n"),
    # The image check of the first-boot scripts: a literal pattern, then a call.
    (
        f"{HEAD}{FETCH}content=$(cat /etc/os-release)\n"
        f'[[ "${{content}}" == *\'"os": "debian-12"\'* ]] || fetch OS debian-12\n',
        f"{HEAD}{FETCH}content=$(cat /etc/os-release)\n"
        f'[[ "${{content}}" == *\'"cni": "calico v3.31.3"\'* ]] || fetch CNI \'calico v3.31.3\'\n',
    ),
    # Loop words (two or more) and array elements (one or more), of any number.
    (
        f'{HEAD}for spec in 6443/tcp 10250/tcp; do\n  echo "${{spec%/*}}"\ndone\n',
        f'{HEAD}for spec in 6443/tcp 2379-2380/tcp 8472/udp; do\n  echo "${{spec%/*}}"\ndone\n',
    ),
    (f'{HEAD}readonly A=(a.tgz)\necho "${{A[@]}}"\n', f'{HEAD}readonly A=(b.yml c.yml)\necho "${{A[@]}}"\n'),
    (f'{HEAD}readonly A=(\n  a:1\n)\necho "${{A[@]}}"\n', f'{HEAD}readonly A=(\n  b:2\n  c:3\n)\necho "${{A[@]}}"\n'),
    # A run of comment lines is one comment line, also after a line continuation.
    (f"{HEAD}# one\ntrue\n", f"{HEAD}# one\n# two\n#\ntrue\n"),
    (f"{HEAD}echo a \\\n  # c\n  -b\n", f"{HEAD}echo a \\\n  # c\n  # d\n  -b\n"),
    # A finding elsewhere is found in both.
    (f"{HEAD}{FETCH}fetch a 'b c'\necho $1\n", f"{HEAD}{FETCH}fetch d e\necho $1\n"),
]
# Pairs the real shellcheck tells apart (the code it finds in the first): the limits of each blanking.
SHELLCHECK_APART = [
    ((f'{HEAD}for x in a; do\n  echo "$x"\ndone\n', f'{HEAD}for x in a b; do\n  echo "$x"\ndone\n'), "SC2043"),
    ((f'{HEAD}for x in a, b; do\n  echo "$x"\ndone\n', f'{HEAD}for x in a b; do\n  echo "$x"\ndone\n'), "SC2258"),
    ((f"{HEAD}{FETCH}fetch '$x' y\n", f"{HEAD}{FETCH}fetch 'x' y\n"), "SC2016"),
    ((f"{HEAD}{FETCH}fetch '~/x' y\n", f"{HEAD}{FETCH}fetch '/x' y\n"), "SC2088"),
    ((f'{HEAD}{FETCH}fetch "~/x" y\n', f'{HEAD}{FETCH}fetch "/x" y\n'), "SC2088"),
    ((f'{HEAD}readonly A=(a, b)\necho "${{A[@]}}"\n', f'{HEAD}readonly A=(a b)\necho "${{A[@]}}"\n'), "SC2054"),
    ((f"{HEAD}printf '%s\n# %s\n' a\n", f"{HEAD}printf '%s\n# x\n' a\n"), "SC2183"),
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
    # ShellCheck reads the command a function named run runs (bats; ASTLib.hs getCommandNameAndToken).
    (f'{HEAD}run() {{ "$@"; }}\nrun rm -rf /usr\n', f'{HEAD}run() {{ "$@"; }}\nrun echo -rf /usr\n'),
    *(pair for pair, _ in SHELLCHECK_APART),
]


@pytest.mark.parametrize(("one", "other"), SAME)
def test_value_only_variants_share_a_key(one: str, other: str) -> None:
    assert one != other
    assert shellcheck_key(one) == shellcheck_key(other)


@pytest.mark.parametrize(("one", "other"), APART)
def test_other_differences_keep_scripts_apart(one: str, other: str) -> None:
    assert shellcheck_key(one) != shellcheck_key(other)


def _shellcheck(text: str, path: Path) -> subprocess.CompletedProcess[str]:
    """The real shellcheck (the session's arguments, gcc format) on ``text``, written to ``path``."""
    tool = require_tool("shellcheck", reason="Debian package shellcheck")
    path.write_text(text, encoding="utf-8")
    return subprocess.run(
        [tool, *SHELLCHECK_ARGS, "--format=gcc", str(path)], capture_output=True, text=True, check=False
    )


def test_shellcheck_gives_variants_of_one_key_the_same_verdict(tmp_path: Path) -> None:
    """The real shellcheck: each SAME pair gets the same exit code and the same findings (by code: a run
    of comment lines made one moves the lines after it), so checking one of them speaks for the other."""
    verdicts = []
    for i, pair in enumerate(SAME):
        for j, text in enumerate(pair):
            result = _shellcheck(text, tmp_path / f"{i}-{j}.sh")
            verdicts.append((result.returncode, sorted(line.rsplit("[", 1)[-1] for line in result.stdout.splitlines())))
    assert verdicts[0::2] == verdicts[1::2]


@pytest.mark.parametrize(("pair", "code"), SHELLCHECK_APART, ids=[code for _, code in SHELLCHECK_APART])
def test_shellcheck_tells_apart_what_the_key_keeps_apart(pair: tuple[str, str], code: str, tmp_path: Path) -> None:
    """The real shellcheck finds ``code`` in the first script and nothing in the second: the limits of the
    blanking rules are where shellcheck's verdict changes."""
    assert shellcheck_key(pair[0]) != shellcheck_key(pair[1])
    found = [_shellcheck(text, tmp_path / f"{i}.sh").stdout for i, text in enumerate(pair)]
    assert f"[{code}]" in found[0], found[0]
    assert found[1] == "", found[1]
