"""The rule language: what parses into which tree, and where and why a bad rule fails."""

from __future__ import annotations

import pytest

from patron.segments.rules import (
    And,
    Between,
    Compare,
    Field,
    In,
    InvalidRule,
    Not,
    Or,
    make_call,
    parse,
)

EXAMPLE = (
    'tier in ("gold","diamond") and spent(category="母婴", days=90) >= 50000 and not tag("投诉")'
)


def test_the_issues_example_parses_into_its_tree() -> None:
    rule = parse(EXAMPLE)
    assert rule == And(
        And(
            In(Field("tier"), ("gold", "diamond")),
            Compare(make_call("spent", {"category": "母婴", "days": 90}), ">=", 50000),
        ),
        Not(make_call("tag", {"name": "投诉"})),
    )
    assert str(rule) == (
        'tier in ("gold", "diamond") and spent(days=90, category="母婴") >= 50000'
        ' and not tag("投诉")'
    )


def test_and_binds_tighter_than_or_and_parentheses_group() -> None:
    a, b, c = (Compare(Field("frequency"), "=", n) for n in (1, 2, 3))
    assert parse("frequency = 1 or frequency = 2 and frequency = 3") == Or(a, And(b, c))
    assert parse("(frequency = 1 or frequency = 2) and frequency = 3") == And(Or(a, b), c)
    assert parse("not frequency = 1 and frequency = 2") == And(Not(a), b)
    assert parse("not (frequency = 1 and frequency = 2)") == Not(And(a, b))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("recency_days between 1 and 30", Between(Field("recency_days"), 1, 30)),
        ('lifecycle not in ("churned")', In(Field("lifecycle"), ("churned",), negated=True)),
        ("points > -5", Compare(Field("points"), ">", -5)),
        ('attr("kids") = 2', Compare(make_call("attr", {"code": "kids"}), "=", 2)),
        ('tag("a\\"b\\\\c\\u00e9")', make_call("tag", {"name": 'a"b\\cé'})),
        ('consent("sms")', make_call("consent", {"channel": "sms"})),
        ('bought(days=5, sku="A1")', make_call("bought", {"sku": "A1", "days": 5})),
        ("orders() >= 1", Compare(make_call("orders", {}), ">=", 1)),
        ('tier = "gold" AND NOT tag("x")', None),
    ],
)
def test_rules_parse(text: str, expected: object) -> None:
    rule = parse(text)
    if expected is not None:
        assert rule == expected
    assert parse(str(rule)) == rule


def test_keywords_are_case_insensitive_and_lines_may_break() -> None:
    rule = parse('tier = "gold"\n  AND\n  NOT tag("x")')
    assert rule == And(Compare(Field("tier"), "=", "gold"), Not(make_call("tag", {"name": "x"})))


@pytest.mark.parametrize(
    ("text", "line", "column", "expected"),
    [
        ("", 1, 1, "a field or function name"),
        ("tier = ", 1, 8, "a string"),
        ("tier", 1, 5, "a comparison (=, !=, <, <=, >, >=)"),
        ("frequency > 1 and", 1, 18, "not"),
        ("frequency > 1 @", 1, 15, "and"),
        ('tier = "gold"\nand frequency >', 2, 16, "an integer"),
        ("frequency >= 1 frequency", 1, 16, "and"),
        ("wealth > 1", 1, 1, "frequency"),
        ('"abc', 1, 1, "a field or function name"),
        ('frequency = "x"', 1, 13, "an integer"),
        ("tier = 1", 1, 8, "a string"),
        ('channel > "store"', 1, 11, "="),
        ('lifecycle = "activ"', 1, 13, "active"),
        ('tag("a") = 1', 1, 1, "and"),
        ("spent(days=90)", 1, 15, "a comparison (=, !=, <, <=, >, >=)"),
        ("spent(weeks=3) > 1", 1, 7, "days="),
        ('spent(days="3") > 1', 1, 12, "an integer"),
        ("spent(days=0) > 1", 1, 12, "an integer"),
        ('spent("x") > 1', 1, 7, "days="),
        ("bought(days=3)", 1, 1, "sku="),
        ('coupon(template="W", status="gone")', 1, 29, "available"),
        ('consent("fax")', 1, 9, "sms"),
        ("frequency > 10000000000000000", 1, 13, "an integer up to 1000000000000000"),
        ("nope()", 1, 1, "tag"),
        ('tag("x", "y")', 1, 10, "name="),
        ('frequency between 1 and "z"', 1, 25, "an integer"),
    ],
)
def test_a_bad_rule_says_where_and_what_was_expected(
    text: str, line: int, column: int, expected: str
) -> None:
    with pytest.raises(InvalidRule) as caught:
        parse(text)
    error = caught.value
    assert (error.line, error.column) == (line, column), error.detail
    assert expected in error.expected, error.expected
    assert error.extra == {"line": line, "column": column, "expected": error.expected}


def test_a_rule_has_a_length_limit() -> None:
    with pytest.raises(InvalidRule):
        parse("frequency > 1 or " * 1000 + "frequency > 1")
