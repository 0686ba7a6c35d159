"""The YAML dumper's shortcuts give exactly the text of a plain dump: the whole-string literal-block
test agrees with the per-line one, and a long string repeated between documents (spliced in from its
first emission) comes out as the emitter writes it in place."""

from __future__ import annotations

import random

import pytest
import yaml

from generator import yamldump

SCRIPT = "#!/bin/bash\nset -euo pipefail\n" + "".join(f"echo step {i}\n" for i in range(200))


def plain(data: object) -> str:
    text: str = yaml.dump(data, Dumper=yamldump._Dumper, **yamldump._OPTIONS)
    return text


def per_line(value: str) -> bool:
    lines = value.split("\n")
    return len(lines) > 1 and all(line == line.rstrip(" ") and line.isprintable() for line in lines)


def test_literal_test_agrees_with_the_per_line_rule() -> None:
    alphabet = ["a", " ", "\n", "\t", "\r", "\x7f", "\x00", "é", "\u2028", "\x85", "\xa0", "\ufeff", "\x0b"]
    rng = random.Random(12)
    for _ in range(20000):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))
        assert yamldump._literal_ok(value) == per_line(value), repr(value)


@pytest.mark.parametrize(
    "value",
    [
        SCRIPT,
        SCRIPT.rstrip("\n"),  # |- (strip chomping)
        SCRIPT + "\n\n",  # |+ (keep chomping): never spliced
        "  indented first line\n" + SCRIPT,  # needs an indentation indicator
        "\n" + SCRIPT,
        SCRIPT + "trailing space \n",  # not a literal block: quoted, never spliced
        SCRIPT.replace("step", "étape ☃"),
        SCRIPT + "\tx\n",
        "kgen-yaml-splice-0-x\n" + SCRIPT,  # holds a placeholder itself
    ],
)
def test_repeated_long_strings_dump_as_in_place(value: str) -> None:
    docs = [
        {"hostname": f"n{i}", "write_files": [{"path": "/a", "content": value}, {"path": "/b", "content": value}]}
        for i in range(3)
    ] + [
        {"nested": {"list": [[value, {"deep": value}]], "last": value}},
        {"write_files": [{"content": value, "path": "/c"}], "runcmd": [["x"]]},
        {"top": value},
    ]
    for _ in range(2):  # the first round sees each string once, the second reuses the emitted blocks
        for doc in docs:
            assert yamldump.dump(doc) == plain(doc)


def test_a_repeated_script_is_spliced_not_re_emitted(monkeypatch: pytest.MonkeyPatch) -> None:
    doc = {"write_files": [{"path": "/a", "content": SCRIPT + "# unique to this test\n"}]}
    yamldump.dump(doc)
    emitted: list[object] = []
    real = yamldump._dump

    def recording(data: object) -> str:
        emitted.append(data)
        return real(data)

    monkeypatch.setattr(yamldump, "_dump", recording)
    assert yamldump.dump(doc) == plain(doc)  # second sighting: the block is made once and spliced
    assert yamldump.dump(doc) == plain(doc)  # third: reused as it is
    placeholders = [d for d in emitted if "kgen-yaml-splice-0-x" in str(d)]
    assert len(placeholders) == 2  # only the two documents with placeholders, never the script again in place
    assert str(emitted).count("unique to this test") == 1  # the one minimal document that made the block
