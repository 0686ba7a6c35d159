"""Which rendered scripts one shellcheck run speaks for: :func:`shellcheck_key`.

kgen renders the same templates with different values (a node's name, a Kubernetes version, a pinned
SHA-256, a CNI's manifest URLs), so most of the scripts the tests bring differ only in literal values.
:func:`shellcheck_key` blanks exactly the literals no shellcheck rule looks into; two scripts with the
same key differ only there, so shellcheck's verdict on one is its verdict on the other, and a test
session checks one script per key (tests/conftest.py ``shellcheck``, tests/test_property.py). Every
structural difference (a template branch, an extra function, an expansion, an odd character) keeps
scripts apart.

A *literal word* below is a shell word that expands to itself and holds nothing shellcheck reads:

* bare: letters, digits and ``._:/@%+=,-`` (what kgen's ``shquote``, i.e. ``shlex.quote``, leaves
  unquoted), or ``''``;
* single-quoted: printable ASCII without ``'``, ``\\``, ``$`` and backquote (SC2016 looks for ``$`` and
  backquotes in single quotes, SC1003 for a backslash, SC1110/SC1111 for non-ASCII quotes);
* double-quoted: the same without ``"`` and ``!``, so nothing in it expands.

A quoted literal word does not start with ``~`` (SC2088, checkTildeInQuotes, reads the first
characters of a word that starts with quotes).

What is blanked, and why shellcheck 0.9.0 (Debian 12) does not look into it (paths under src/ShellCheck/
of koalaman/shellcheck at v0.9.0):

* whole comment lines without a directive (``shellcheck``) and without ``$``, backquote, backslash or
  ``%``: in code a comment; inside a heredoc or a quoted string the same text is a plain literal, since
  nothing in it expands (``%``: it could be a printf format's line, whose specifiers SC2182/SC2183
  count). A run of such lines becomes one line: a comment's length is nothing to shellcheck, and one
  comment line stands where a run stood (after a line continuation, for instance, SC1143);
* the value of ``readonly NAME=<value>`` when the value is one bare literal word. No whitespace or glob
  character, so the variable's "spacefulness" that SC2086 tracks is the same; the literal-looking checks
  on assignments (SC2209 ``var=pwd``, SC2100 ``i=i+1``) apply to bare assignments only, not to
  ``readonly``'s arguments (Analytics.hs, checkAssignAteCommand and checkWrongArithmeticAssignment match
  ``T_SimpleCommand _ [T_Assignment ...]``, the assignment prefix of a command);
* the elements of ``readonly NAME=(...)``, on one line or one per line, when every element is a bare
  literal word without ``=`` or ``,`` (SC2191 and SC2054 look for those): they become one element. The
  elements' values and their number are nothing to shellcheck; no whitespace or glob character keeps
  them unspaceful;
* the arguments of a call to one of the script's own functions when every argument is a literal word
  (``fetch_pinned URL SHA256 PATH``, ``image_mismatch CNI cni 'calico v3.31.3'``); their number stays,
  for SC2119/SC2120. ShellCheck carries no value from a call's arguments into the function's ``$1``...
  (only assignments, reads and loops feed its data flow: AnalyzerLib.hs, getModifiedVariables), so the
  values are nothing to it. Not for a function named like a command ShellCheck treats by name
  (:data:`NAMED_BY_SHELLCHECK`);
* the same call after ``[[ "${VAR}" == *'<text>'* ]] ||``, and the single-quoted ``<text>``, a literal:
  the pattern's other side is a variable, so no comparison of constants (SC2050, SC2193, SC2268)
  applies, and SC2053 looks only at unquoted expansions on the right;
* the words of ``for NAME in W1 W2 ...; do`` when there are at least two and each is a bare literal word
  without ``,``: they become two. Analytics.hs checkForInQuoted reads a single word (SC2041-SC2043) and
  trailing commas (SC2258); the loop variable's value comes from the words (AnalyzerLib.hs,
  ``SourceFrom words``), unspaceful before and after;
* the body lines of a quoted heredoc (``<<'EOF'``, ``<<-"EOF"``): shellcheck keeps a quoted body as one
  ``T_Literal`` and parses nothing in it (Parser.hs, ``parseHereData Quoted``); a body line that
  contains the end token in any casing stays, since SC1041-SC1043 look for it there.
"""

from __future__ import annotations

import functools
import re

# The characters of a bare literal word (what shlex.quote leaves bare). No space: shellcheck's verdict
# can depend on one (an unquoted $B with B='a b' is SC2086). Loop words leave out ``,`` (SC2258), array
# elements ``,`` and ``=`` too (SC2054, SC2191).
_ELEMENT_CHARS = "-A-Za-z0-9._:/@%+"  # the leading - is itself, so more can follow
_LOOP_WORD_CHARS = _ELEMENT_CHARS + "="
_BARE_CHARS = _LOOP_WORD_CHARS + ","
BORING = re.compile(rf"[{_BARE_CHARS}]*\Z")
READONLY = re.compile(r"^(\s*readonly [A-Za-z_][A-Za-z0-9_]*=)(.*)$")
FUNCTION = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\(\)\s*\{", re.MULTILINE)
QUOTED_HEREDOC = re.compile(r"<<(-?)\s*(['\"])([A-Za-z_][A-Za-z0-9_]*)\2")
# A literal word (module docstring): bare, or quoted printable ASCII in which nothing expands.
_SINGLE = r"'(?!~)[ -#%&(-\[\]-_a-~]*'"  # printable ASCII but ' \ $ `
_WORD = rf"(?:[{_BARE_CHARS}]+|" + _SINGLE + r"|\"(?!~)[ #%-\[\]-_a-~]*\")"  # double-quoted: but ! " $ \ `
CALL = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)((?: " + _WORD + r")+)\Z")
ARGUMENT = re.compile(" " + _WORD)
CONDITION = re.compile(r"(\[\[ \"\$\{[A-Za-z_][A-Za-z0-9_]*\}\" == \*)" + _SINGLE + r"(\* \]\] \|\| )(.*)\Z")
_LOOP_WORD = rf"[{_LOOP_WORD_CHARS}]+"
FOR_IN = re.compile(rf"(\s*for [A-Za-z_][A-Za-z0-9_]* in ){_LOOP_WORD}(?: {_LOOP_WORD})+(; do)\Z")
_ELEMENT = rf"[{_ELEMENT_CHARS}]+"
ARRAY = re.compile(r"(\s*readonly [A-Za-z_][A-Za-z0-9_]*=\()" + _ELEMENT + r"(?: " + _ELEMENT + r")*\)\Z")
ARRAY_START = re.compile(r"\s*readonly [A-Za-z_][A-Za-z0-9_]*=\(\Z")
ELEMENT_LINE = re.compile(r"\s+" + _ELEMENT + r"\Z")
# Command names ShellCheck 0.9.0 checks by name or sees through: Checks/Commands.hs (commandChecks'
# Exactly/Basename names), ASTLib.hs getCommandNameAndToken (busybox, builtin, command, run, exec), and
# the names Analytics.hs matches commands and their arguments against. A function of the script with one
# of these names keeps its calls as they are.
NAMED_BY_SHELLCHECK = frozenset(
    (  # noqa: SIM905 (one word list reads better than 62 lines)
        ". alias awk basename busybox builtin cat cd chmod command cp cut du echo egrep eval exec exit export "
        "expr fgrep find getopts git grep let ln local ls mapfile mkdir mv perl pgrep popd printf ps pushd read "
        "return rm run sed seq set sort sponge ssh su sudo tempfile test time tr trap true unset wc which "
        "xargs zgrep"
    ).split()
)


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


def _blank_call(text: str, functions: set[str]) -> str | None:
    """``name x x`` for a call of one of the script's own functions with literal words only."""
    match = CALL.match(text)
    if match is None or match.group(1) not in functions or match.group(1) in NAMED_BY_SHELLCHECK:
        return None
    return match.group(1) + " x" * len(ARGUMENT.findall(match.group(2)))


def _blank_code(line: str, functions: set[str]) -> str:
    """A line of code with the literals of the module docstring's one-line forms blanked."""
    stripped = line.lstrip()
    indent = line[: len(line) - len(stripped)]
    match = READONLY.match(line)
    if match and _literal_word(match.group(2)):
        return match.group(1) + "x"
    call = _blank_call(stripped, functions)
    if call is not None:
        return indent + call
    match = CONDITION.match(stripped)
    if match and (call := _blank_call(match.group(3), functions)) is not None:
        return indent + match.group(1) + "'x'" + match.group(2) + call
    match = FOR_IN.match(line) or ARRAY.match(line)
    if match:
        return match.group(1) + ("x x" + match.group(2) if match.re is FOR_IN else "x)")
    return line


@functools.lru_cache(maxsize=4096)  # the same scripts reach it from many tests of one process
def shellcheck_key(script: str) -> str:
    """The script with the literals described in the module docstring blanked. Two scripts with the
    same key differ only in such literals, which no shellcheck rule looks into, so a shellcheck of
    either covers both."""
    functions = set(FUNCTION.findall(script))
    out: list[str] = []
    heredoc: tuple[str, bool] | None = None
    array = False
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
        if i > 0 and stripped.startswith("#") and "shellcheck" not in stripped and not set(stripped) & set("$`\\%"):
            if out[-1] != "#":
                out.append("#")
            continue
        if array and ELEMENT_LINE.match(line):
            if out[-1] != "  x":
                out.append("  x")
            continue
        array = ARRAY_START.match(line) is not None
        heredoc = _heredoc_end(line)
        out.append(_blank_code(line, functions))
    return "\n".join(out)
