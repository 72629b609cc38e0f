"""The segment rule language: its grammar, the typed tree a rule parses into, and the way back
to text.

    tier in ("gold", "diamond") and spent(category="母婴", days=90) >= 50000 and not tag("投诉")

A rule is a condition on one member: fields of the member and their profile compared with
literals, functions of their behaviour, joined by `and`, `or`, `not` and parentheses. Literals
are integers (money in fen) and double-quoted strings (any Unicode, JSON escapes). Names, their
arguments and the types of what is compared are checked here, so a rule that parses compiles
(patron.segments.compiler). `str(rule)` prints a rule back: `parse(str(rule)) == rule`.

Missing values (no purchase yet, no home store) follow two-valued logic: a comparison with a
missing value is false, and `not` turns false into true."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from typing import Literal as Lit

from lark import Lark, Token, Tree, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput

from patron.core import text as core_text
from patron.core.errors import PatronError

Value = int | str
# Integers beyond this (about 10^15 fen: ten trillion yuan) are refused: every value fits a
# 64-bit column on both databases after the compiler's +1 steps.
MAX_INTEGER = 10**15
MAX_RULE_LENGTH = 10_000
MAX_LIST = 1000
MAX_DAYS = 36_500
# How deep `not`, parentheses and alternating `and`/`or` may nest (SQLite's parser has a
# bounded stack).
MAX_DEPTH = 40

COMPARISONS = ("=", "!=", "<", "<=", ">", ">=")


class InvalidRule(PatronError):
    """A rule that does not parse or does not type-check: where (line and column, from 1) and
    what was expected there."""

    status = 422
    code = "invalid_rule"
    title = "Invalid rule"

    def __init__(self, message: str, line: int, column: int, expected: list[str]) -> None:
        super().__init__(
            f"line {line}, column {column}: {message}",
            line=line,
            column=column,
            expected=expected,
        )
        self.line, self.column, self.expected, self.message = line, column, expected, message


# --- the tree --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pos:
    line: int
    column: int


def _pos() -> Pos | None:
    return field(default=None, compare=False, repr=False, kw_only=True)


@dataclass(frozen=True)
class Field:
    name: str
    pos: Pos | None = _pos()

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Call:
    """A function call; `args` hold every argument given, by name, in the function's order."""

    name: str
    args: tuple[tuple[str, Value], ...]
    pos: Pos | None = _pos()

    def arg(self, name: str) -> Value | None:
        return dict(self.args).get(name)

    def __str__(self) -> str:
        spec = FUNCTIONS[self.name]
        if spec.positional and len(self.args) == 1:
            return f"{self.name}({literal(self.args[0][1])})"
        inner = ", ".join(f"{k}={literal(v)}" for k, v in self.args)
        return f"{self.name}({inner})"


Operand = Field | Call


@dataclass(frozen=True)
class Compare:
    operand: Operand
    op: str  # one of COMPARISONS
    value: Value
    pos: Pos | None = _pos()

    def __str__(self) -> str:
        return f"{self.operand} {self.op} {literal(self.value)}"


@dataclass(frozen=True)
class In:
    operand: Operand
    values: tuple[Value, ...]
    negated: bool = False
    pos: Pos | None = _pos()

    def __str__(self) -> str:
        items = ", ".join(literal(v) for v in self.values)
        return f"{self.operand} {'not in' if self.negated else 'in'} ({items})"


@dataclass(frozen=True)
class Between:
    operand: Operand
    low: int
    high: int
    pos: Pos | None = _pos()

    def __str__(self) -> str:
        return f"{self.operand} between {self.low} and {self.high}"


@dataclass(frozen=True)
class Not:
    operand: Rule
    pos: Pos | None = _pos()

    def __str__(self) -> str:
        inner = self.operand
        text = str(inner)
        return f"not ({text})" if isinstance(inner, And | Or) else f"not {text}"


@dataclass(frozen=True)
class And:
    left: Rule
    right: Rule
    pos: Pos | None = _pos()

    def __str__(self) -> str:
        return f"{_wrap(self.left, (Or,))} and {_wrap(self.right, (Or, And))}"


@dataclass(frozen=True)
class Or:
    left: Rule
    right: Rule
    pos: Pos | None = _pos()

    def __str__(self) -> str:
        return f"{self.left} or {_wrap(self.right, (Or,))}"


Rule = And | Or | Not | Compare | In | Between | Call


def _wrap(rule: Rule, weaker: tuple[type, ...]) -> str:
    return f"({rule})" if isinstance(rule, weaker) else str(rule)


def literal(value: Value) -> str:
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def unparse(rule: Rule) -> str:
    return str(rule)


# --- names and types -------------------------------------------------------------------------

Kind = Lit["int", "str", "any"]


class RfmClass(StrEnum):
    important_value = "important_value"
    important_develop = "important_develop"
    important_retain = "important_retain"
    important_winback = "important_winback"
    general_value = "general_value"
    general_develop = "general_develop"
    general_retain = "general_retain"
    general_winback = "general_winback"


class Lifecycle(StrEnum):
    prospect = "prospect"
    new = "new"
    active = "active"
    at_risk = "at_risk"
    dormant = "dormant"
    churned = "churned"


MEMBER_CHANNELS = ("store", "online", "mini_program", "import")
ORDER_CHANNELS = ("pos", "online_mall", "mini_program", "delivery")
CONSENT_CHANNELS = ("sms", "email", "wechat")
COUPON_STATUSES = ("available", "redeemed", "expired", "void")


@dataclass(frozen=True)
class FieldSpec:
    kind: Kind
    choices: tuple[str, ...] | None = None  # the values a text field takes, when known
    ranked: bool = False  # text whose values have an order: tiers, by their rank


FIELDS: dict[str, FieldSpec] = {
    "recency_days": FieldSpec("int"),
    "frequency": FieldSpec("int"),
    "monetary": FieldSpec("int"),
    "aov": FieldSpec("int"),
    "rfm_class": FieldSpec("str", tuple(c.value for c in RfmClass)),
    "lifecycle": FieldSpec("str", tuple(c.value for c in Lifecycle)),
    "clv_365": FieldSpec("int"),
    "tier": FieldSpec("str", ranked=True),
    "points": FieldSpec("int"),
    "stored_value": FieldSpec("int"),
    "registered_days": FieldSpec("int"),
    "birthday_month": FieldSpec("int"),
    "store": FieldSpec("str"),
    "guide": FieldSpec("str"),
    "channel": FieldSpec("str", MEMBER_CHANNELS),
}


@dataclass(frozen=True)
class Param:
    name: str
    kind: Lit["int", "str"]
    required: bool = False
    choices: tuple[str, ...] | None = None


@dataclass(frozen=True)
class FunctionSpec:
    params: tuple[Param, ...]
    returns: Lit["bool", "int", "any"]
    positional: bool = False  # one argument, given without its name


FUNCTIONS: dict[str, FunctionSpec] = {
    "attr": FunctionSpec((Param("code", "str", True),), "any", positional=True),
    "tag": FunctionSpec((Param("name", "str", True),), "bool", positional=True),
    "consent": FunctionSpec(
        (Param("channel", "str", True, CONSENT_CHANNELS),), "bool", positional=True
    ),
    "spent": FunctionSpec(
        (
            Param("days", "int"),
            Param("category", "str"),
            Param("store", "str"),
            Param("channel", "str", choices=ORDER_CHANNELS),
        ),
        "int",
    ),
    "orders": FunctionSpec(
        (
            Param("days", "int"),
            Param("category", "str"),
            Param("store", "str"),
            Param("channel", "str", choices=ORDER_CHANNELS),
        ),
        "int",
    ),
    "bought": FunctionSpec((Param("sku", "str", True), Param("days", "int")), "bool"),
    "coupon": FunctionSpec(
        (Param("template", "str", True), Param("status", "str", choices=COUPON_STATUSES)),
        "bool",
    ),
}


def make_call(function: str, args: dict[str, Value], pos: Pos | None = None) -> Call:
    """A call with its arguments in the function's order (what `parse` makes)."""
    spec = FUNCTIONS[function]
    ordered = tuple((p.name, args[p.name]) for p in spec.params if p.name in args)
    return Call(function, ordered, pos=pos)


def operand_kind(operand: Operand) -> Kind:
    if isinstance(operand, Field):
        return FIELDS[operand.name].kind
    returns = FUNCTIONS[operand.name].returns
    return "any" if returns == "any" else "int"


def choices_of(operand: Operand) -> tuple[str, ...] | None:
    return FIELDS[operand.name].choices if isinstance(operand, Field) else None


# --- the grammar -----------------------------------------------------------------------------

GRAMMAR = r"""
start: disj

?disj: conj
     | disj OR conj -> or_
?conj: neg
     | conj AND neg -> and_
?neg: NOT neg -> not_
    | atom
?atom: LPAR disj RPAR -> group
     | call
     | operand COMPARE value -> compare
     | operand IN LPAR values RPAR -> in_
     | operand NOT IN LPAR values RPAR -> not_in
     | operand BETWEEN value AND value -> between

operand: NAME | call
call: NAME LPAR [args] RPAR
args: arg (COMMA arg)*
arg: value -> positional
   | NAME EQUAL value -> named
values: value (COMMA value)*
value: STRING | INT

AND.2: /and\b/i
OR.2: /or\b/i
NOT.2: /not\b/i
IN.2: /in\b/i
BETWEEN.2: /between\b/i
NAME: /[a-z_][a-z0-9_]*/i
STRING: /"(?:[^"\\\x00-\x1f]|\\["\\\/bfnrt]|\\u[0-9a-fA-F]{4})*"/
INT: /-?[0-9]+/
COMPARE: "!=" | "<=" | ">=" | "=" | "<" | ">"
EQUAL: "="
LPAR: "("
RPAR: ")"
COMMA: ","

%import common.WS
%ignore WS
"""

# What each terminal is called in an error's `expected`.
READABLE = {
    "AND": "and",
    "OR": "or",
    "NOT": "not",
    "IN": "in",
    "BETWEEN": "between",
    "NAME": "a field or function name",
    "STRING": "a string",
    "INT": "an integer",
    "COMPARE": "a comparison (=, !=, <, <=, >, >=)",
    "EQUAL": "=",
    "LPAR": "(",
    "RPAR": ")",
    "COMMA": ",",
    "$END": "the end of the rule",
}


@cache
def _parser() -> Lark:
    return Lark(GRAMMAR, parser="lalr", propagate_positions=True, maybe_placeholders=False)


def parse(source: str) -> Rule:
    """The rule's tree; InvalidRule (line, column, expected) when it does not parse or check."""
    if len(source) > MAX_RULE_LENGTH:
        raise InvalidRule(
            f"a rule is at most {MAX_RULE_LENGTH} characters", 1, 1, ["a shorter rule"]
        )
    try:
        tree = _parser().parse(source)
    except UnexpectedInput as exc:
        raise _syntax_error(source, exc) from None
    return _Builder().rule(tree.children[0])


def _syntax_error(text: str, exc: UnexpectedInput) -> InvalidRule:
    if isinstance(exc, UnexpectedEOF):
        lines = text.split("\n")
        line, column = len(lines), len(lines[-1]) + 1
        return InvalidRule("the rule ends too early", line, column, _expected(exc.expected))
    line, column = max(exc.line, 1), max(exc.column, 1)
    if isinstance(exc, UnexpectedCharacters):
        allowed = exc.allowed or set()
        at = exc.pos_in_stream or 0
        found = text[at] if at < len(text) else ""
        what = "an unterminated string" if found == '"' else f"unexpected character {found!r}"
        return InvalidRule(what, line, column, _expected(allowed))
    token = getattr(exc, "token", None)
    expected = _expected(getattr(exc, "expected", None) or set())
    if token is None or token.type == "$END":
        lines = text.split("\n")
        return InvalidRule("the rule ends too early", len(lines), len(lines[-1]) + 1, expected)
    return InvalidRule(f"unexpected {str(token)!r}", line, column, expected)


def _expected(names: object) -> list[str]:
    found = {READABLE.get(str(n), str(n).lower()) for n in names}  # type: ignore[attr-defined]
    return sorted(found)


def _at(item: Tree | Token) -> Pos:
    if isinstance(item, Token):
        return Pos(item.line or 1, item.column or 1)
    meta = item.meta
    return Pos(getattr(meta, "line", 1), getattr(meta, "column", 1))


def _fail(pos: Pos, message: str, expected: list[str]) -> InvalidRule:
    return InvalidRule(message, pos.line, pos.column, expected)


class _Builder:
    """Lark's tree to the typed one, checking names and types on the way."""

    def rule(self, tree: Tree | Token, depth: int = 0, outer: str = "") -> Rule:
        """`depth` counts the changes of operator on the way down (a chain of `or`s is one)."""
        assert isinstance(tree, Tree)
        pos = _at(tree)
        kind = tree.data
        kids = tree.children
        if kind != outer or kind == "not_":
            depth += 1
        if depth > MAX_DEPTH:
            raise _fail(pos, f"a rule nests at most {MAX_DEPTH} deep", ["a simpler rule"])
        if kind == "or_":
            return Or(self.rule(kids[0], depth, kind), self.rule(kids[2], depth, kind), pos=pos)
        if kind == "and_":
            return And(self.rule(kids[0], depth, kind), self.rule(kids[2], depth, kind), pos=pos)
        if kind == "not_":
            return Not(self.rule(kids[1], depth, kind), pos=pos)
        if kind == "group":
            return self.rule(kids[1], depth, kind)
        if kind == "call":
            call = self.call(tree)
            if FUNCTIONS[call.name].returns != "bool":
                end = Pos(tree.meta.end_line, tree.meta.end_column)
                raise _fail(
                    end,
                    f"{call.name}(...) is a value: compare it",
                    ["a comparison (=, !=, <, <=, >, >=)", "in", "not in", "between"],
                )
            return call
        operand = self.operand(kids[0])
        if kind == "compare":
            op = str(kids[1])
            value = self.value(kids[2])
            self.check(operand, value, _at(kids[2]), ordering=op not in ("=", "!="))
            return Compare(operand, op, value, pos=pos)
        if kind in ("in_", "not_in"):
            values_tree = kids[-2]
            assert isinstance(values_tree, Tree)
            values = []
            for item in values_tree.children:
                if isinstance(item, Tree):
                    value = self.value(item)
                    self.check(operand, value, _at(item), ordering=False)
                    values.append(value)
            if len(values) > MAX_LIST:
                raise _fail(pos, f"a list holds at most {MAX_LIST} values", ["a shorter list"])
            return In(operand, tuple(values), kind == "not_in", pos=pos)
        assert kind == "between"
        low, high = self.value(kids[2]), self.value(kids[4])
        for item, value in ((kids[2], low), (kids[4], high)):
            if not isinstance(value, int) or operand_kind(operand) == "str":
                raise _fail(_at(item), "between takes integers, on a number", ["an integer"])
            self.check(operand, value, _at(item), ordering=True)
        assert isinstance(low, int)
        assert isinstance(high, int)
        return Between(operand, low, high, pos=pos)

    def operand(self, tree: Tree | Token) -> Operand:
        assert isinstance(tree, Tree)
        inner = tree.children[0]
        if isinstance(inner, Token):
            name = str(inner)
            if name not in FIELDS:
                hint = (
                    " (a function: add its arguments in parentheses)" if name in FUNCTIONS else ""
                )
                raise _fail(_at(inner), f"unknown field {name!r}{hint}", sorted(FIELDS))
            return Field(name, pos=_at(inner))
        call = self.call(inner)
        if FUNCTIONS[call.name].returns == "bool":
            raise _fail(
                call.pos or _at(inner),
                f"{call.name}(...) is a condition: use it without a comparison",
                ["and", "or", ")", "the end of the rule"],
            )
        return call

    def call(self, tree: Tree) -> Call:
        name_token = tree.children[0]
        name = str(name_token)
        pos = _at(name_token)
        spec = FUNCTIONS.get(name)
        if spec is None:
            hint = " (a field: compare it without parentheses)" if name in FIELDS else ""
            raise _fail(pos, f"unknown function {name!r}{hint}", sorted(FUNCTIONS))
        given: dict[str, Value] = {}
        args = next((c for c in tree.children if isinstance(c, Tree) and c.data == "args"), None)
        params = {p.name: p for p in spec.params}
        expected_names = [f"{p.name}=" for p in spec.params]
        for index, arg in enumerate(args.children if args else []):
            if not isinstance(arg, Tree):
                continue
            if arg.data == "positional":
                if not spec.positional or index > 0:
                    raise _fail(_at(arg), f"{name}(...) takes named arguments", expected_names)
                param = spec.params[0]
                value_tree = arg.children[0]
            else:
                key = str(arg.children[0])
                param = params.get(key)  # type: ignore[assignment]
                if param is None:
                    raise _fail(
                        _at(arg.children[0]),
                        f"{name}(...) has no argument {key!r}",
                        expected_names,
                    )
                value_tree = arg.children[2]
            if param.name in given:
                raise _fail(_at(arg), f"argument {param.name!r} given twice", expected_names)
            assert isinstance(value_tree, Tree)
            value = self.value(value_tree)
            at = _at(value_tree)
            if param.kind == "int":
                if not isinstance(value, int):
                    raise _fail(at, f"{param.name} is an integer", ["an integer"])
                if param.name == "days" and not 1 <= value <= MAX_DAYS:
                    raise _fail(at, f"days is from 1 to {MAX_DAYS}", ["an integer"])
            else:
                if not isinstance(value, str):
                    raise _fail(at, f"{param.name} is a string", ["a string"])
                if param.choices is not None and value not in param.choices:
                    raise _fail(at, f"unknown {param.name} {value!r}", list(param.choices))
            given[param.name] = value
        for param in spec.params:
            if param.required and param.name not in given:
                raise _fail(pos, f"{name}(...) needs {param.name}", [f"{param.name}="])
        return make_call(name, given, pos)

    def value(self, tree: Tree | Token) -> Value:
        token = tree.children[0] if isinstance(tree, Tree) else tree
        assert isinstance(token, Token)
        if token.type == "INT":
            number = int(str(token))
            if abs(number) > MAX_INTEGER:
                raise _fail(_at(token), "integer out of range", [f"an integer up to {MAX_INTEGER}"])
            return number
        try:
            decoded = json.loads(str(token))
        except ValueError:
            raise _fail(_at(token), "invalid string", ["a string"]) from None
        assert isinstance(decoded, str)
        if any(0xD800 <= ord(c) <= 0xDFFF for c in decoded):
            raise _fail(_at(token), "a string holds a lone surrogate", ["a string"])
        if not core_text.storable(decoded):
            raise _fail(_at(token), "a string holds a control character", ["a string"])
        return decoded

    def check(self, operand: Operand, value: Value, at: Pos, *, ordering: bool) -> None:
        kind = operand_kind(operand)
        if kind == "int" and not isinstance(value, int):
            raise _fail(at, f"{_name(operand)} is a number", ["an integer"])
        if kind == "str" and not isinstance(value, str):
            raise _fail(at, f"{_name(operand)} is text", ["a string"])
        ranked = isinstance(operand, Field) and FIELDS[operand.name].ranked
        if ordering and kind == "str" and not ranked:
            raise _fail(at, f"{_name(operand)} compares with = != in only", ["=", "!=", "in"])
        if ordering and kind == "any" and not isinstance(value, str):
            raise _fail(at, "attr(...) orders by text only (dates)", ["a string"])
        choices = choices_of(operand)
        if choices is not None and isinstance(value, str) and value not in choices:
            raise _fail(at, f"unknown {_name(operand)} {value!r}", list(choices))


def _name(operand: Operand) -> str:
    return operand.name if isinstance(operand, Field) else f"{operand.name}(...)"
