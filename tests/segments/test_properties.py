"""Property tests: printed rules parse back to themselves, and random rules compiled to SQL
match exactly the members the Python evaluator picks, on both databases."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from patron.orders import spend
from patron.segments import compiler, rules
from patron.segments.rules import (
    COMPARISONS,
    FIELDS,
    And,
    Between,
    Call,
    Compare,
    Field,
    In,
    Not,
    Or,
    Rule,
    make_call,
)
from tests.segments import evaluator
from tests.segments.world import NOW, STORE_CODES, TAGS, TEMPLATES, build

# Values the generated members hold, and a few they do not, so comparisons go both ways.
INTS = st.one_of(
    st.sampled_from([0, 1, 2, 3, 5, 10, 30, 90, 100, 200, 365, 1000, 5000, 20000, 50000]),
    st.integers(-5, 400),
)
TEXT = {
    "rfm_class": [c.value for c in rules.RfmClass],
    "lifecycle": [c.value for c in rules.Lifecycle],
    "tier": ["normal", "silver", "gold", "diamond", "platinum"],
    "store": [*STORE_CODES, "S9"],
    "guide": ["alice", "bob", "carol"],
    "channel": list(rules.MEMBER_CHANNELS),
}
ODD_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=8)


def _field_compare(name: str) -> st.SearchStrategy[Rule]:
    operand = Field(name)
    if FIELDS[name].kind == "int":
        return st.one_of(
            st.builds(Compare, st.just(operand), st.sampled_from(COMPARISONS), INTS),
            st.builds(
                In,
                st.just(operand),
                st.lists(INTS, min_size=1, max_size=4).map(tuple),
                st.booleans(),
            ),
            st.builds(Between, st.just(operand), INTS, INTS),
        )
    values = st.sampled_from(TEXT[name])
    if name == "tier":
        ordered = st.builds(Compare, st.just(operand), st.sampled_from(COMPARISONS), values)
        return st.one_of(
            ordered,
            st.builds(
                In,
                st.just(operand),
                st.lists(values, min_size=1, max_size=3).map(tuple),
                st.booleans(),
            ),
        )
    return st.one_of(
        st.builds(Compare, st.just(operand), st.sampled_from(["=", "!="]), values),
        st.builds(
            In, st.just(operand), st.lists(values, min_size=1, max_size=3).map(tuple), st.booleans()
        ),
    )


def _window(draw: st.DrawFn, name: str) -> Call:
    args: dict[str, rules.Value] = {}
    if draw(st.booleans()):
        args["days"] = draw(st.sampled_from([1, 7, 30, 90, 180, 365]))
    if draw(st.booleans()):
        args["category"] = draw(st.sampled_from(["母婴", "MILK", "BABY", "护理", "CARE", "无"]))
    if draw(st.booleans()):
        args["store"] = draw(st.sampled_from([*STORE_CODES, "S9"]))
    if draw(st.booleans()):
        args["channel"] = draw(st.sampled_from(["pos", "online_mall", "delivery"]))
    return make_call(name, args)


@st.composite
def _aggregate(draw: st.DrawFn, summed: bool = False) -> Rule:
    """spent/orders compared; `summed`: over all time or the year, with no other filter (what
    the members' spend sums answer)."""
    name = draw(st.sampled_from(["spent", "orders"]))
    if summed:
        call = make_call(name, draw(st.sampled_from([{}, {"days": 365}])))
    else:
        call = _window(draw, name)
    amounts = st.sampled_from([0, 1, 2, 3, 1000, 3000, 5000, 8000, 20000])
    kind = draw(st.integers(0, 2))
    if kind == 0:
        return Compare(call, draw(st.sampled_from(COMPARISONS)), draw(amounts))
    if kind == 1:
        return In(call, tuple(draw(st.lists(amounts, min_size=1, max_size=3))), draw(st.booleans()))
    return Between(call, draw(amounts), draw(amounts))


@st.composite
def _condition(draw: st.DrawFn) -> Rule:
    kind = draw(st.sampled_from(["tag", "consent", "bought", "coupon"]))
    if kind == "tag":
        return make_call("tag", {"name": draw(st.one_of(st.sampled_from(TAGS), ODD_TEXT))})
    if kind == "consent":
        return make_call("consent", {"channel": draw(st.sampled_from(rules.CONSENT_CHANNELS))})
    if kind == "bought":
        args: dict[str, rules.Value] = {"sku": draw(st.sampled_from(["A1", "B1", "C1", "Z9"]))}
        if draw(st.booleans()):
            args["days"] = draw(st.sampled_from([1, 30, 90, 180]))
        return make_call("bought", args)
    args = {"template": draw(st.sampled_from([*TEMPLATES, "无此券"]))}
    if draw(st.booleans()):
        args["status"] = draw(st.sampled_from(rules.COUPON_STATUSES))
    return make_call("coupon", args)


@st.composite
def _attr(draw: st.DrawFn) -> Rule:
    call = make_call(
        "attr", {"code": draw(st.sampled_from(["kids", "baby_birthday", "passport", "x"]))}
    )
    values = st.one_of(st.integers(0, 3), st.sampled_from(["2024-03-01", "2024-07-15", "1"]))
    if draw(st.booleans()):
        return Compare(call, draw(st.sampled_from(["=", "!="])), draw(values))
    if draw(st.booleans()):
        day = draw(st.sampled_from(["2024-03-01", "2024-07-15", "2025"]))
        return Compare(call, draw(st.sampled_from(["<", "<=", ">", ">="])), day)
    return In(call, tuple(draw(st.lists(values, min_size=1, max_size=3))), draw(st.booleans()))


ATOMS = st.one_of(*(_field_compare(name) for name in FIELDS), _aggregate(), _condition(), _attr())
RULES = st.recursive(
    ATOMS,
    lambda inner: st.one_of(
        st.builds(And, inner, inner), st.builds(Or, inner, inner), st.builds(Not, inner)
    ),
    max_leaves=6,
)


@given(RULES)
@settings(max_examples=300)
def test_a_printed_rule_parses_back_to_itself(rule: Rule) -> None:
    assert rules.parse(str(rule)) == rule


@pytest.fixture
def world(session: Session) -> evaluator.World:
    build(session, seed=29, count=40)
    return evaluator.load(session, NOW)


@given(RULES)
@settings(max_examples=120, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_a_compiled_rule_matches_whom_the_evaluator_picks(
    session: Session, world: evaluator.World, rule: Rule
) -> None:
    query = compiler.member_ids(session, rule, NOW).order_by(compiler.Member.id)
    assert list(session.scalars(query)) == world.matching(rule)


@pytest.fixture
def folded_world(session: Session) -> evaluator.World:
    """The world with the members' spend sums folded three days before NOW: counts at NOW read
    the sums and what has changed since."""
    build(session, seed=31, count=40)
    spend.fold(session, NOW - timedelta(days=3))
    return evaluator.load(session, NOW)


@given(_aggregate(summed=True))
@settings(max_examples=80, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_a_compiled_rule_on_the_spend_sums_matches_whom_the_evaluator_picks(
    session: Session, folded_world: evaluator.World, rule: Rule
) -> None:
    query = compiler.member_ids(session, rule, NOW).order_by(compiler.Member.id)
    assert list(session.scalars(query)) == folded_world.matching(rule)
