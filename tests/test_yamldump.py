"""The YAML dumper's shortcuts give exactly the text of a plain dump: the whole-string literal-block
test agrees with the per-line one, and a long string repeated between documents (spliced in from its
first emission) comes out as the emitter writes it in place."""

from __future__ import annotations

import random
from collections import OrderedDict
from typing import Any

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
        "kgen-yaml-splice-x\n" + SCRIPT,  # holds a placeholder itself
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


def random_long_string(rng: random.Random) -> str:
    """Over the splice threshold, lines of characters that matter to YAML (indicators, quotes, spaces
    inside and at the ends, empty lines), in any order."""
    pieces = ["a", "b", " ", "#", ":", "- ", "'", '"', "|", ">", "&x", "*y", "!t", "%", "@", "`", "---", "..."]
    pieces += ["{", "]"]
    lines = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 12))) for _ in range(rng.randint(150, 300))]
    if rng.random() < 0.7:  # mostly strings that make a literal block
        lines = [line.rstrip(" ") for line in lines]
    return "\n".join(lines) + rng.choice(["", "\n", "\n\n", " "])


def test_long_strings_written_directly_match_the_emitter() -> None:
    rng, written = random.Random(7), 0
    for i in range(300):
        value = random_long_string(rng)
        doc = {"hostname": f"n{i}", "write_files": [{"path": "/a", "content": value}], "nested": {"x": [[value]]}}
        assert yamldump.dump(doc) == plain(doc), repr(value[:200])
        written += yamldump._simple(value)
    assert written > 50  # most took the direct way


def test_a_unique_script_is_written_not_emitted(monkeypatch: pytest.MonkeyPatch) -> None:
    doc = {"write_files": [{"path": "/a", "content": SCRIPT + "# only here\n"}]}
    yamldump.dump(doc)  # learns the layout at this place
    emitted: list[object] = []
    real = yamldump._dump

    def recording(data: object) -> str:
        emitted.append(data)
        return real(data)

    monkeypatch.setattr(yamldump, "_dump", recording)
    for n in range(3):
        other = {"write_files": [{"path": "/a", "content": SCRIPT + f"# unique {n}\n"}]}
        assert yamldump.dump(other) == plain(other)
    assert "unique" not in str(emitted)  # only the documents with placeholders went through the emitter


def test_a_repeated_script_is_spliced_not_re_emitted(monkeypatch: pytest.MonkeyPatch) -> None:
    # Non-ASCII: not written directly, so the block is taken from the emitter once and reused.
    doc = {"write_files": [{"path": "/a", "content": SCRIPT + "# unique to this test ☃\n"}]}
    forget_sightings(monkeypatch)
    yamldump.dump(doc)  # first sighting: emitted in place
    emitted = recording(monkeypatch)
    assert yamldump.dump(doc) == plain(doc)  # second sighting: the block is made once and spliced
    assert yamldump.dump(doc) == plain(doc)  # third: the block and the skeleton reused as they are
    assert str(emitted).count("unique to this test") == 1  # the one minimal document that made the block
    assert len([d for d in emitted if "kgen-yaml-splice-x" in str(d)]) == 1  # the skeleton, dumped once


def forget_sightings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start from no sightings: yamldump counts them per process, so another test's documents dumped
    earlier in the same worker (such as the "# unique {n}" scripts above) would count as earlier ones."""
    for memo in ("_seen", "_blocks", "_skeletons"):
        monkeypatch.setattr(yamldump, memo, OrderedDict())


def recording(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every document the emitter sees from now on."""
    emitted: list[object] = []
    real = yamldump._dump

    def record(data: object) -> str:
        emitted.append(data)
        return real(data)

    monkeypatch.setattr(yamldump, "_dump", record)
    return emitted


def test_documents_alike_share_one_skeleton(monkeypatch: pytest.MonkeyPatch) -> None:
    def doc(i: int) -> dict[str, object]:
        return {
            "hostname": f"node-{i}",
            "users": [{"name": "admin", "groups": ["a", "b"], "lock_passwd": True}],
            "write_files": [{"path": f"/etc/{i}", "content": SCRIPT + f"# {i}\n", "permissions": "0600"}],
            "ip": f"10.0.{i}.1",
        }

    yamldump.dump(doc(0))
    emitted = recording(monkeypatch)
    for i in range(1, 50):
        assert yamldump.dump(doc(i)) == plain(doc(i))
    assert emitted == []


PLAIN_LOOKALIKES = ["yes", "No", "on", "OFF", "true", "null", "Null", "1e3", "0x1f", "0o17", "1_000", ".inf", "-.5"]
PLAIN_LOOKALIKES += ["2001-12-14", "12.5", "010", "0b101", ".nan", "y", "n", "a.b", "/x/y", "a-b_c", "-a", ".a", "0"]


def test_short_strings_spliced_as_plain_scalars_match_the_emitter() -> None:
    pieces = ["a", "Z", "0", "9", ".", "-", "_", "/", "e", "x", "1"]
    rng = random.Random(3)
    values = PLAIN_LOOKALIKES + ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 8))) for _ in range(3000)]
    values += ["a" * 199, "a" * 200, "a" * 201, "a" * 1100]
    for value in values:
        doc = {"k": value, "seq": [value, {"deep": [value]}], "script": SCRIPT}
        assert yamldump.dump(doc) == plain(doc), repr(value)


def test_streams_dumped_document_by_document_match_the_emitter() -> None:
    values: list[object] = [SCRIPT, SCRIPT + "\n", "x", "", "yes", 3, None, {}, [], {"a": SCRIPT + "\n\n"}]
    values.append(["é\n" * 600])
    rng = random.Random(5)
    for _ in range(300):
        docs: list[object] = []
        for _ in range(rng.randint(1, 4)):
            shape = rng.choice(["map", "seq", "root"])
            value = rng.choice(values)
            docs.append({"kind": "K", "v": value} if shape == "map" else [value, "b"] if shape == "seq" else value)
        expected: str = yaml.dump_all(docs, Dumper=yamldump._Dumper, explicit_start=True, **yamldump._OPTIONS)
        assert yamldump.dump_all(docs) == expected, repr(docs)[:300]


def test_parts_join_to_the_dump_and_share_recurring_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    forget_sightings(monkeypatch)
    shared_script = SCRIPT + "# shared by every document here\n"

    def doc(i: int) -> dict[str, object]:
        return {
            "hostname": f"node-{i}",
            "write_files": [
                {"path": "/a", "content": shared_script},
                {"path": "/b", "content": SCRIPT + f"# unique {i}\n"},
                {"path": "/c", "content": shared_script.replace("shared", "also shared")},
            ],
        }

    blocks: list[list[str]] = []
    for i in range(5):
        parts = yamldump.dump_parts(doc(i))
        assert "".join(parts) == plain(doc(i)) == yamldump.dump(doc(i))
        blocks.append(parts[1::2])
    # From the second sighting on, both shared scripts are parts of their own, the same objects each time.
    assert len(blocks[1]) == 2
    assert all(a is b for later in blocks[2:] for a, b in zip(blocks[1], later, strict=True))
    assert all("unique" not in block for block in blocks[1])


def test_recurring_entries_dump_as_the_emitter_writes_them() -> None:
    # The same mapping holding a recurring block at another place, beside other values, or with one
    # value changed: each dumps as the emitter writes it, whole and in parts.
    block = SCRIPT + "# recurring entry\n"
    entry = {"path": "/etc/x", "owner": "root:root", "content": block, "permissions": "0600"}
    docs: list[Any] = [
        {"hostname": "a", "write_files": [entry, {**entry, "path": "/etc/y"}]},
        {"write_files": [{**entry, "owner": "yes"}, entry], "runcmd": [["x"]]},
        {"other": [entry], "write_files": [entry]},
        {"write_files": [{**entry, "content": block.replace("recurring", "changed")}, entry]},
        [entry, {"nested": entry}],
    ]
    for _ in range(3):
        for doc in docs:
            assert yamldump.dump(doc) == plain(doc)
            assert "".join(yamldump.dump_parts(doc)) == plain(doc)
