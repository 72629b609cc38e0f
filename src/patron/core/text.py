"""What text may hold, wherever it enters: every request schema's text fields (the types below),
the path, query string and Idempotency-Key header of every request (patron.middleware), console
forms (patron.console.web.posted_form, the schemas the forms fill, the sign-in page), upload file
names (patron.core.uploads) and imported cells (patron.core.tabular).

Refused, with a 422 naming the field (a row error in an import):
- control characters, `control_character`: C0 (U+0000-U+001F), DEL and C1 (U+007F-U+009F).
  Multi-line text keeps tab, line feed and carriage return; single-line text refuses them, and the
  line and paragraph separators U+2028/U+2029 too. PostgreSQL cannot store NUL at all; the others
  break lines, logs and exports.
- bidirectional overrides and isolates, `bidi_override`: U+202A-U+202E and U+2066-U+2069. They
  make text display in another order than it is stored, so that one name can pass for another.
  They are refused rather than stripped: what is stored is what the caller sent.

Names are trimmed of whitespace and zero-width characters (U+200B-U+200D, U+2060, U+FEFF) at both
ends, and a name with nothing left is refused as blank, `missing`. Zero-width characters inside a
name stay: they join letters in some scripts and emoji."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator
from pydantic_core import PydanticCustomError

from patron.core.reasons import Reason

_BIDI = "\u202a-\u202e\u2066-\u2069"
_SINGLE_LINE_REFUSED = re.compile(f"[\x00-\x1f\x7f-\x9f\u2028\u2029{_BIDI}]")
_CONTROL = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"  # all but tab and line breaks
_MULTI_LINE_REFUSED = re.compile(f"[{_CONTROL}{_BIDI}]")
_UNSTORABLE = re.compile(f"[{_CONTROL}]")
_BIDI_CHARACTER = re.compile(f"[{_BIDI}]")
_LINE_BREAKS = "\t\n\r\u2028\u2029"
ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"
_EDGES = re.compile(f"^[\\s{ZERO_WIDTH}]+|[\\s{ZERO_WIDTH}]+$")


@dataclass(frozen=True)
class Refusal:
    code: Reason
    message: str


def refusal(value: str, *, multiline: bool = False) -> Refusal | None:
    """Why `value` cannot be taken as text, or None when it can."""
    found = (_MULTI_LINE_REFUSED if multiline else _SINGLE_LINE_REFUSED).search(value)
    if found is None:
        return None
    where = f"U+{ord(found.group()):04X} at character {found.start() + 1}"
    if _BIDI_CHARACTER.match(found.group()):
        return Refusal(Reason.bidi_override, f"contains a bidirectional override ({where})")
    if found.group() in _LINE_BREAKS:
        return Refusal(
            Reason.control_character, f"contains a tab or line break ({where}) in single-line text"
        )
    return Refusal(Reason.control_character, f"contains a control character ({where})")


def storable(value: str) -> bool:
    """Whether any text field at all may hold `value`: no control character but tab and line
    breaks (which only multi-line text takes)."""
    return _UNSTORABLE.search(value) is None


def first_refused(fields: Iterable[tuple[str, str]]) -> tuple[str, Refusal] | None:
    """The first (name, refusal) among named single-line values."""
    for name, value in fields:
        if (found := refusal(value)) is not None:
            return name, found
    return None


def trim(value: str) -> str:
    """`value` without whitespace and zero-width characters at either end."""
    value = value.strip()
    if value and (value[0] in ZERO_WIDTH or value[-1] in ZERO_WIDTH):
        return _EDGES.sub("", value)
    return value


# --- the schema types --------------------------------------------------------------------------


def _refused(found: Refusal) -> PydanticCustomError:
    return PydanticCustomError(found.code.value, found.message)


def single_line(value: object) -> object:
    if isinstance(value, str) and (found := refusal(value)):
        raise _refused(found)
    return value


def multi_line(value: object) -> object:
    if isinstance(value, str) and (found := refusal(value, multiline=True)):
        raise _refused(found)
    return value


def any_text(value: object) -> object:
    """Any JSON value whose strings, at any depth, are multi-line text and whose keys are
    single-line."""
    if isinstance(value, str):
        return multi_line(value)
    if isinstance(value, list):
        for item in value:
            any_text(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            single_line(key)
            any_text(item)
    return value


def _trimmed(value: str | None) -> str | None:
    return None if value is None else trim(value)


def _named(value: str | None) -> str | None:
    name = _trimmed(value)
    if name == "":
        raise PydanticCustomError(Reason.missing.value, "is blank")
    return name


@dataclass(frozen=True)
class Unchecked:
    """Marks a text field exempt from the checks, saying why."""

    why: str


# The checks that make a schema field's text safe: tests/core/test_text_input.py fails on a
# request schema with a text field that has none of them.
TEXT_CHECKS = frozenset({single_line, multi_line, any_text})

SingleLine = Annotated[str, BeforeValidator(single_line)]
MultiLine = Annotated[str, BeforeValidator(multi_line)]
# A label that may be empty, trimmed like a name.
Label = Annotated[str, BeforeValidator(single_line), AfterValidator(_trimmed)]
Name = Annotated[str, BeforeValidator(single_line), AfterValidator(_named)]
AnyText = Annotated[Any, BeforeValidator(any_text)]
# The optional forms, for fields a PATCH may leave out: written `Annotated[str | None, ...]` and
# not `SingleLine | None`, so that a field's length limits stay pydantic's own string checks.
SingleLineOrNone = Annotated[str | None, BeforeValidator(single_line)]
LabelOrNone = Annotated[str | None, BeforeValidator(single_line), AfterValidator(_trimmed)]
NameOrNone = Annotated[str | None, BeforeValidator(single_line), AfterValidator(_named)]
# A password given to sign in is only compared with a hash: any character may be sent, so a
# password set before these rules still signs in.
Secret = Annotated[str, Unchecked("compared with a hash, never stored, searched or shown")]
