"""Concurrent issues of one template on PostgreSQL: the stock and the per-member and per-day
limits hold, however many issue at once; a merge and an issue to its source never leave a coupon
on the merged member."""

from __future__ import annotations

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import sessionmaker

from patron.core.actor import SYSTEM
from patron.coupons import issuing
from patron.coupons.models import Coupon, CouponTemplate, IssueSource
from patron.members import merge as member_merge
from tests.concurrency.test_races import race
from tests.factories import make_coupon_template, make_member


def _issued(factory: sessionmaker, template_id: int) -> tuple[int, int]:  # type: ignore[type-arg]
    with factory() as session:
        rows = session.scalar(
            select(func.count()).select_from(Coupon).where(Coupon.template_id == template_id)
        )
        template = session.get(CouponTemplate, template_id)
        assert template is not None
        return rows or 0, template.issued_count


def test_twenty_issues_to_one_member_with_a_limit_of_one_give_one(pg_engine: Engine) -> None:
    factory = sessionmaker(pg_engine, expire_on_commit=False)
    with factory.begin() as session:
        template_id = make_coupon_template(session, per_member_limit=1).id
        member_id = make_member(session).id

    def attempt(_: int) -> int:
        with factory.begin() as session:
            result = issuing.issue_coupons(
                session, SYSTEM, template_id, [member_id], source=IssueSource.manual
            )
            return len(result.issued)

    results = race(20, attempt)
    assert sorted(results) == [0] * 19 + [1], results
    assert _issued(factory, template_id) == (1, 1)


def test_a_stock_of_fifty_issues_fifty_to_a_hundred_at_once(pg_engine: Engine) -> None:
    factory = sessionmaker(pg_engine, expire_on_commit=False)
    with factory.begin() as session:
        template_id = make_coupon_template(session, total_stock=50, per_day_limit=1).id
        members = [make_member(session).id for _ in range(100)]

    def attempt(n: int) -> int:
        with factory.begin() as session:
            result = issuing.issue_coupons(
                session, SYSTEM, template_id, [members[n]], source=IssueSource.claim
            )
            return len(result.issued)

    results = race(100, attempt)
    assert all(isinstance(r, int) for r in results), results
    assert sum(results) == 50
    assert _issued(factory, template_id) == (50, 50)


def test_an_issue_racing_a_merge_never_lands_on_the_merged_member(pg_engine: Engine) -> None:
    factory = sessionmaker(pg_engine, expire_on_commit=False)
    with factory.begin() as session:
        template_id = make_coupon_template(session).id
        pairs = [(make_member(session).id, make_member(session).id) for _ in range(10)]

    def attempt(n: int) -> object:
        source, target = pairs[n // 2]
        with factory.begin() as session:
            if n % 2:
                return member_merge.merge_members(session, SYSTEM, source, target).id
            return len(
                issuing.issue_coupons(
                    session, SYSTEM, template_id, [source], source=IssueSource.manual
                ).issued
            )

    results = race(20, attempt)
    assert not [r for r in results if isinstance(r, Exception)], results
    sources = [source for source, _ in pairs]
    with factory() as session:
        stranded = session.scalar(
            select(func.count()).select_from(Coupon).where(Coupon.member_id.in_(sources))
        )
    assert stranded == 0
