"""Where a YAML file is broken and why, in words: a character YAML does not allow, and a syntax error
located at its cause (the opening quote of a quote never closed, not the end of the file where the
parser gave up), with a hint for the usual slips."""

from __future__ import annotations

import re

import yaml

from generator.document import char_name
from generator.errors import Problem

# Every character YAML allows in a stream (YAML 1.1 section 5.1, c-printable); anything else is
# refused by the reader with an offset but no line, so kgen finds it first.
NOT_YAML = re.compile("[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def position(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of ``offset`` in ``text``."""
    line_start = text.rfind("\n", 0, offset) + 1
    return text.count("\n", 0, offset) + 1, offset - line_start + 1


def character_problems(text: str, file: str) -> list[Problem]:
    problems: list[Problem] = []
    for match in NOT_YAML.finditer(text):
        line, column = position(text, match.start())
        message = f"invalid YAML: the character {char_name(match.group())} is not allowed in a YAML file"
        problems.append(Problem(file, line, "", message, column=column))
        if len(problems) == 10:
            break
    return problems


def syntax_problem(file: str, text: str, exc: yaml.MarkedYAMLError) -> Problem:
    """A parse error at the line and column of its cause, with a hint for the usual causes.

    PyYAML gives two marks: ``problem_mark``, where it noticed (often the end of the file), and
    ``context_mark``, where the construct it was reading began. For a construct left open (a quote, a
    ``[`` or ``{``, a key without ``:``) the start is the cause; otherwise the problem mark is."""
    what = exc.problem or exc.context or "not valid YAML"
    mark, what = _cause(text, exc, what)
    if mark is None:
        return Problem(file, None, "", f"invalid YAML: {what}")
    return Problem(file, mark.line + 1, "", f"invalid YAML: {what}{_hint(text, mark, what)}", column=mark.column + 1)


def _cause(text: str, exc: yaml.MarkedYAMLError, what: str) -> tuple[yaml.Mark | None, str]:
    context, start, end = exc.context or "", exc.context_mark, exc.problem_mark
    if start is not None and "while scanning a quoted scalar" in context:
        quote = _char_at(text, start)
        return start, f"a quoted value starts here and its closing {quote} is missing"
    if start is not None and "while scanning a simple key" in context:
        return start, "this line has no ':' (expected 'key: value', or '- item' in a list)"
    if start is not None and end is not None and end.line > start.line and "flow" in context:
        opening = _char_at(text, start)
        closing = {"[": "]", "{": "}"}.get(opening, "")
        return start, f"the {opening} that starts here is never closed with {closing} ({what})"
    quoted = _quoted_scalar_before(text, end) if end is not None and "while parsing" in context else None
    if quoted is not None:
        quote = _char_at(text, quoted.start_mark)
        return quoted.start_mark, (
            f"the quoted value that starts here runs on to line {quoted.end_mark.line + 1}: "
            f"a closing {quote} missing on this line?"
        )
    return end or start, what


def _char_at(text: str, mark: yaml.Mark) -> str:
    lines = text.splitlines()
    source = lines[mark.line] if mark.line < len(lines) else ""
    return source[mark.column] if mark.column < len(source) else ""


def _quoted_scalar_before(text: str, mark: yaml.Mark) -> yaml.ScalarToken | None:
    """The token before the one the parser choked on, when it is a quoted value spanning lines: an
    unclosed quote that a quote further down closed (the parser then fails on what follows it)."""
    previous: yaml.Token | None = None
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            if token.start_mark.index >= mark.index:
                break
            previous = token
    except yaml.YAMLError:
        pass
    if (
        isinstance(previous, yaml.ScalarToken)
        and previous.style in ('"', "'")
        and previous.end_mark.line > previous.start_mark.line
    ):
        return previous
    return None


def _hint(text: str, mark: yaml.Mark, what: str) -> str:
    lines = text.splitlines()
    source = lines[mark.line] if mark.line < len(lines) else ""
    char = _char_at(text, mark)
    if char == "\t" or (not char.strip() and "\t" in source[: mark.column + 1]):
        spaces_only = "YAML indents with spaces only"
        return f"; {spaces_only}" if "tab" in what else f"; a tab character: {spaces_only}"
    if char in ("@", "`") and "cannot start any token" in what:
        return f"; a value starting with {char} must be quoted"
    if "mapping values are not allowed" in what:
        return "; a ': ' inside an unquoted value? quote the value"
    if "found undefined alias" in what:
        return "; an alias (*name) needs an anchor (&name) earlier in the file"
    return ""
