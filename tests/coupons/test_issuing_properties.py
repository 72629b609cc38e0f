"""Whatever the list asked for, an issue keeps its quotas and accounts for every entry."""

from __future__ import annotations

from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.core.actor import SYSTEM
from patron.core.reasons import Reason
from patron.coupons import issuing
from patron.coupons.models import Coupon, IssueSource
from tests.factories import make_coupon_template, make_member

UNKNOWN = 2_000_000_000


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    picks=st.lists(st.integers(min_value=0, max_value=4), max_size=25),
    stock=st.none() | st.integers(min_value=1, max_value=20),
    limit=st.none() | st.integers(min_value=1, max_value=3),
    day_limit=st.none() | st.integers(min_value=1, max_value=3),
    earlier=st.integers(min_value=0, max_value=5),
)
def test_an_issue_keeps_stock_and_limits_and_answers_every_entry(
    session: Session,
    picks: list[int],
    stock: int | None,
    limit: int | None,
    day_limit: int | None,
    earlier: int,
) -> None:
    members = [make_member(session).id for _ in range(4)] + [UNKNOWN]
    template = make_coupon_template(
        session, total_stock=stock, per_member_limit=limit, per_day_limit=day_limit
    )
    first = issuing.issue_coupons(
        session, SYSTEM, template.id, members[:1] * earlier, source=IssueSource.manual
    )
    asked = [members[p] for p in picks]
    result = issuing.issue_coupons(session, SYSTEM, template.id, asked, source=IssueSource.manual)

    issued_at = {i for i, _ in enumerate(asked)} - {r.index for r in result.refused}
    assert [asked[i] for i in sorted(issued_at)] == [c.member_id for c in result.issued]
    assert all(asked[r.index] == r.member_id for r in result.refused)
    held = Counter(c.member_id for c in first.issued + result.issued)
    cap = min(x for x in (limit, day_limit, len(asked) + earlier) if x is not None)
    assert all(count <= cap for count in held.values())
    total = sum(held.values())
    rows = session.scalar(
        select(func.count()).select_from(Coupon).where(Coupon.template_id == template.id)
    )
    assert rows == total == template.issued_count
    assert stock is None or total <= stock
    for refusal in result.refused:
        if refusal.member_id == UNKNOWN:
            assert refusal.code is Reason.member_not_found
        elif refusal.code is Reason.out_of_stock:
            assert total == stock
        else:
            assert refusal.code is Reason.limit_reached
            assert held[refusal.member_id] == cap
    assert len({c.code for c in result.issued}) == len(result.issued)
