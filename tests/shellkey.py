"""Which rendered scripts one shellcheck run speaks for: :func:`shellcheck_key`.

kgen renders the same templates with different values (a node's name, a Kubernetes version, a pinned
SHA-256, a CNI's manifest URLs), so most of the scripts the tests bring differ only in literal values.
:func:`shellcheck_key` blanks exactly the literals no shellcheck rule looks into; two scripts with the
same key differ only there, so shellcheck's verdict on one is its verdict on the other, and a test
session checks one script per key (tests/conftest.py ``shellcheck``, tests/test_property.py). Every
structural difference (a template branch, an extra function, an expansion, an odd character) keeps
scripts apart.

What is blanked, and why shellcheck 0.9.0 (Debian 12) does not look into it:

* whole comment lines without a directive (``shellcheck``) and without ``$``, backquote or backslash:
  in code a comment; inside a heredoc or a quoted string the same text is a plain literal, since nothing
  in it expands;
* the value of ``readonly NAME=<value>`` when the value is one shell-quoted literal (kgen's ``shquote``)
  made of letters, digits and ``._:/@%+=,-``. No whitespace or glob character, so the variable's
  "spacefulness" that SC2086 tracks is the same; the literal-looking checks on assignments
  (SC2209 ``var=pwd``, SC2100 ``i=i+1``) apply to bare assignments only, not to ``readonly``'s
  arguments (src/ShellCheck/Analytics.hs, checkAssignAteCommand and checkWrongArithmeticAssignment
  match ``T_SimpleCommand _ [T_Assignment ...]``, the assignment prefix of a command);
* the arguments of a call to one of the script's own functions when every argument is such a literal
  (``fetch_pinned URL SHA256 PATH``): literal words without whitespace or glob characters;
* the body lines of a quoted heredoc (``<<'EOF'``, ``<<-"EOF"``): shellcheck keeps a quoted body as one
  ``T_Literal`` and parses nothing in it (src/ShellCheck/Parser.hs, ``parseHereData Quoted``); a body
  line that contains the end token in any casing stays, since SC1041-SC1043 look for it there.
"""

from __future__ import annotations

import functools
import re

# No space: shellcheck's verdict can depend on one (an unquoted $B with B='a b' is SC2086).
BORING = re.compile(r"[A-Za-z0-9._:/@%+=,-]*\Z")
READONLY = re.compile(r"^(\s*readonly [A-Za-z_][A-Za-z0-9_]*=)(.*)$")
FUNCTION = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\(\)\s*\{", re.MULTILINE)
QUOTED_HEREDOC = re.compile(r"<<(-?)\s*(['\"])([A-Za-z_][A-Za-z0-9_]*)\2")


def _literal_word(word: str) -> bool:
    """Whether ``word`` is exactly ``shlex.quote(value)`` (kgen's shquote) of a value matching
    :data:`BORING`. shlex.quote leaves such a value bare (every BORING character is in its safe set)
    unless it is empty, which it writes as ``''``; so these are the words, and no shell parsing is
    needed to tell them (shlex over every candidate line was most of this module's cost)."""
    return word == "''" or (word != "" and BORING.match(word) is not None)


def _heredoc_end(line: str) -> tuple[str, bool] | None:
    """(end token, tabs stripped) when ``line`` starts exactly one heredoc and it is quoted."""
    if line.count("<<") != 1 or "<<<" in line:
        return None
    match = QUOTED_HEREDOC.search(line)
    return (match.group(3), match.group(1) == "-") if match else None


@functools.lru_cache(maxsize=4096)  # the same scripts reach it from many tests of one process
def shellcheck_key(script: str) -> str:
    """The script with the literals described in the module docstring blanked. Two scripts with the
    same key differ only in such literals, which no shellcheck rule looks into, so a shellcheck of
    either covers both."""
    functions = set(FUNCTION.findall(script))
    out: list[str] = []
    heredoc: tuple[str, bool] | None = None
    for i, line in enumerate(script.split("\n")):
        if heredoc is not None:
            token, tabs = heredoc
            if (line.lstrip("\t") if tabs else line) == token:
                heredoc = None
                out.append(line)
            elif token.lower() in line.lower():
                out.append(line)
            else:
                out.append("x")
            continue
        stripped = line.strip()
        if i > 0 and stripped.startswith("#") and "shellcheck" not in stripped and not set(stripped) & set("$`\\"):
            out.append("#")
            continue
        heredoc = _heredoc_end(line)
        match = READONLY.match(line)
        if match and _literal_word(match.group(2)):
            out.append(match.group(1) + "x")
            continue
        # A call: the function's name, then literal words, each one space apart, exactly as kgen's
        # shquote writes them (:func:`_literal_word`).
        words = stripped.split(" ")
        if len(words) >= 2 and words[0] in functions and all(map(_literal_word, words)):
            indent = line[: len(line) - len(line.lstrip())]
            out.append(indent + words[0] + " x" * (len(words) - 1))
            continue
        out.append(line)
    return "\n".join(out)
