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
name stay: they join letters in some scripts and emoji.

The schema types publish the rule: their JSON schema carries a `pattern` matching exactly the
text they take (`Pattern`), built from the same character classes as `refusal`, so the OpenAPI
document tells a client generated from it what the server refuses."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError
from typing_extensions import TypeAliasType

from patron.core.reasons import Reason

# The rule, written once: each set of characters as the body of a character class, in escapes
# that Python's `re` and ECMA-262 (the dialect of a JSON Schema `pattern`) read alike. The checks
# below and the patterns the OpenAPI document publishes are both built from these, so they cannot
# drift (tests/core/test_text_input.py holds them to each other).
CONTROL = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"  # C0, DEL and C1 but tab and line breaks
LINE_BREAKS = r"\t\n\r\u2028\u2029"
BIDI = r"\u202a-\u202e\u2066-\u2069"
# What str.strip() removes (every character str.isspace() holds), and the zero-width characters.
SPACE = r"\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
ZERO_WIDTH = r"\u200b-\u200d\u2060\ufeff"
MULTI_LINE_REFUSED = CONTROL + BIDI
SINGLE_LINE_REFUSED = CONTROL + LINE_BREAKS + BIDI

# The text each type takes, as JSON Schema patterns.
MULTI_LINE_PATTERN = f"^[^{MULTI_LINE_REFUSED}]*$"
SINGLE_LINE_PATTERN = f"^[^{SINGLE_LINE_REFUSED}]*$"
# Single-line, with at least one character that trimming leaves.
_R = SINGLE_LINE_REFUSED
NAME_PATTERN = f"^[^{_R}]*[^{_R}{SPACE}{ZERO_WIDTH}][^{_R}]*$"

_SINGLE_LINE_REFUSED = re.compile(f"[{SINGLE_LINE_REFUSED}]")
_MULTI_LINE_REFUSED = re.compile(f"[{MULTI_LINE_REFUSED}]")
_UNSTORABLE = re.compile(f"[{CONTROL}]")
_BIDI_CHARACTER = re.compile(f"[{BIDI}]")
_LINE_BREAK = re.compile(f"[{LINE_BREAKS}]")
_ZERO_WIDTH = re.compile(f"[{ZERO_WIDTH}]")
_EDGES = re.compile(f"^[{SPACE}{ZERO_WIDTH}]+|[{SPACE}{ZERO_WIDTH}]+$")


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
    if _LINE_BREAK.match(found.group()):
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
    if value and (_ZERO_WIDTH.match(value[0]) or _ZERO_WIDTH.match(value[-1])):
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


@dataclass(frozen=True)
class Pattern:
    """Publishes a text type's rule in its JSON schema: `regex` (one of the patterns above)
    matches exactly the strings the type's check takes. A field with a pattern of its own keeps
    it, and this one joins it under `allOf`."""

    regex: str

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        for option in schema.get("anyOf", [schema]):
            if option.get("type") == "string":
                add_pattern(option, self.regex)
        return schema


def add_pattern(schema: dict[str, Any], regex: str) -> None:
    """`regex` as a further pattern the strings `schema` describes must match."""
    if schema.get("pattern", regex) == regex:
        schema["pattern"] = regex
    elif {"pattern": regex} not in schema.setdefault("allOf", []):
        schema["allOf"].append({"pattern": regex})


# The checks that make a schema field's text safe: tests/core/test_text_input.py fails on a
# request schema with a text field that has none of them.
TEXT_CHECKS = frozenset({single_line, multi_line, any_text})
_SINGLE = BeforeValidator(single_line)

SingleLine = Annotated[str, _SINGLE, Pattern(SINGLE_LINE_PATTERN)]
MultiLine = Annotated[str, BeforeValidator(multi_line), Pattern(MULTI_LINE_PATTERN)]
# A label that may be empty, trimmed like a name.
Label = Annotated[str, _SINGLE, AfterValidator(_trimmed), Pattern(SINGLE_LINE_PATTERN)]
Name = Annotated[str, _SINGLE, AfterValidator(_named), Pattern(NAME_PATTERN)]


@dataclass(frozen=True)
class _KeysChecked:
    """pydantic states the pattern of a dict's keys as `patternProperties`, which lets a key
    that does not match through unchecked; the key is refused, as `propertyNames` says."""

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        if patterns := schema.pop("patternProperties", None):
            [(pattern, values)] = patterns.items()
            schema["propertyNames"] = {"pattern": pattern}
            schema["additionalProperties"] = values
        return schema


# A dict whose keys are checked text, published so: `Annotated[dict[SingleLine, X], KEYS_CHECKED]`.
KEYS_CHECKED = _KeysChecked()
# What AnyText takes, as its JSON schema says (any_text checks it).
JsonText = TypeAliasType(
    "JsonText",
    "MultiLine | int | float | bool | None | list[JsonText]"
    " | Annotated[dict[SingleLine, JsonText], _KeysChecked()]",
)
AnyText = Annotated[Any, BeforeValidator(any_text, json_schema_input_type=JsonText)]
# An object of any JSON values under single-line keys (custom attributes).
TextMap = Annotated[dict[SingleLine, AnyText], _KeysChecked()]
# The optional forms, for fields a PATCH may leave out (`Annotated[..., NOT_NULL]` where a null is
# refused, patron.core.inputs): written `Annotated[str | None, ...]` and not `SingleLine | None`,
# so that a field's length limits stay pydantic's own string checks, counted before trimming.
SingleLineOrNone = Annotated[str | None, _SINGLE, Pattern(SINGLE_LINE_PATTERN)]
LabelOrNone = Annotated[str | None, _SINGLE, AfterValidator(_trimmed), Pattern(SINGLE_LINE_PATTERN)]
NameOrNone = Annotated[str | None, _SINGLE, AfterValidator(_named), Pattern(NAME_PATTERN)]
# A password given to sign in is only compared with a hash: any character may be sent, so a
# password set before these rules still signs in.
Secret = Annotated[str, Unchecked("compared with a hash, never stored, searched or shown")]
