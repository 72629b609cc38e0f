from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.audit.models import AuditEntry
from patron.core import clock
from patron.core.actor import SYSTEM, Actor, Role
from patron.core.errors import Forbidden
from patron.core.reasons import Reason
from patron.coupons import codes, gifting, issuing, templates
from patron.coupons.errors import TemplateExpired, TemplateNotActive
from patron.coupons.models import Coupon, CouponStatus, IssueSource
from tests.factories import issue_coupon, make_coupon_template, make_member, make_store

T0 = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)  # Monday, noon in Shanghai


@pytest.fixture(autouse=True)
def _clock() -> object:
    with clock.frozen(T0):
        yield


def issue(session: Session, template_id: int, member_ids: list[int], **kw: object) -> object:
    kw.setdefault("source", IssueSource.manual)
    return issuing.issue_coupons(session, SYSTEM, template_id, member_ids, **kw)  # type: ignore[arg-type]


def test_factory_issues_an_available_coupon_valid_thirty_days_counting_today(
    session: Session,
) -> None:
    template = make_coupon_template(session)
    member = make_member(session)
    coupon = issue_coupon(session, template, member)
    assert coupon.status == CouponStatus.available
    assert coupon.member_id == member.id
    assert coupon.issue_day == date(2026, 3, 2)
    assert coupon.valid_from == T0
    # the 30th day counting Monday 2 March is Tuesday 31 March, 23:59:59 in Shanghai
    assert coupon.valid_until == datetime(2026, 3, 31, 15, 59, 59, tzinfo=UTC)
    assert codes.looks_like_code(coupon.code)
    assert template.issued_count == 1


def test_refusals_name_each_member_and_why_and_the_rest_are_issued(session: Session) -> None:
    template = make_coupon_template(session, total_stock=3, per_member_limit=2)
    a, b, c = (make_member(session) for _ in range(3))
    result = issue(session, template.id, [a.id, 999_999, a.id, a.id, b.id, c.id])
    assert [(r.index, r.member_id, r.code) for r in result.refused] == [
        (1, 999_999, Reason.member_not_found),
        (3, a.id, Reason.limit_reached),
        (5, c.id, Reason.out_of_stock),
    ]
    assert [i.member_id for i in result.issued] == [a.id, a.id, b.id]
    assert template.issued_count == 3
    assert session.scalar(select(Coupon.member_id).where(Coupon.member_id == c.id)) is None


def test_per_member_limit_counts_earlier_issues_but_not_void_coupons(session: Session) -> None:
    template = make_coupon_template(session, per_member_limit=1)
    member = make_member(session)
    first = issue_coupon(session, template, member)
    assert issue(session, template.id, [member.id]).refused[0].code == Reason.limit_reached
    first.status = CouponStatus.void.value
    session.flush()
    assert len(issue(session, template.id, [member.id]).issued) == 1


def test_a_coupon_given_away_counts_for_the_member_it_was_issued_to(session: Session) -> None:
    """Limit 1: A gives theirs to B; A is still at the limit, and B may have their own."""
    template = make_coupon_template(session, per_member_limit=1, transferable=True)
    giver, receiver = make_member(session), make_member(session)
    given = issue_coupon(session, template, giver)
    gifting.transfer_coupon(session, SYSTEM, given.code, receiver.id)
    result = issue(session, template.id, [giver.id, receiver.id])
    assert [(r.member_id, r.code) for r in result.refused] == [(giver.id, Reason.limit_reached)]
    assert [c.member_id for c in result.issued] == [receiver.id]


def test_per_day_limit_counts_the_business_day(session: Session) -> None:
    template = make_coupon_template(session, per_day_limit=1)
    member = make_member(session)
    issue_coupon(session, template, member)
    with clock.frozen(datetime(2026, 3, 2, 15, 59, tzinfo=UTC)):  # 23:59 the same day
        assert issue(session, template.id, [member.id]).refused[0].code == Reason.limit_reached
    with clock.frozen(datetime(2026, 3, 2, 16, 0, tzinfo=UTC)):  # midnight in Shanghai
        assert len(issue(session, template.id, [member.id]).issued) == 1


def test_only_an_active_template_issues(session: Session) -> None:
    member = make_member(session)
    draft = make_coupon_template(session, status="draft")
    with pytest.raises(TemplateNotActive):
        issue(session, draft.id, [member.id])
    paused = make_coupon_template(session)
    templates.update_template(session, SYSTEM, paused.id, {"status": "paused"})
    with pytest.raises(TemplateNotActive):
        issue(session, paused.id, [member.id])


def test_a_template_whose_fixed_dates_are_over_issues_nothing(session: Session) -> None:
    template = make_coupon_template(
        session,
        valid_days=None,
        valid_from=datetime(2026, 1, 1, tzinfo=UTC),
        valid_until=datetime(2026, 2, 1, tzinfo=UTC),
    )
    with pytest.raises(TemplateExpired):
        issue(session, template.id, [make_member(session).id])


def test_fixed_dates_are_the_coupons_validity(session: Session) -> None:
    start, end = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)
    template = make_coupon_template(session, valid_days=None, valid_from=start, valid_until=end)
    coupon = issue_coupon(session, template, make_member(session))
    assert (coupon.valid_from, coupon.valid_until) == (start, end)


def test_one_audit_entry_per_issue_call(session: Session) -> None:
    template = make_coupon_template(session)
    members = [make_member(session).id for _ in range(3)]
    issue(session, template.id, members, source=IssueSource.campaign, source_ref="C-7")
    entries = session.scalars(
        select(AuditEntry).where(
            AuditEntry.action == "coupon.issue", AuditEntry.entity_id == str(template.id)
        )
    ).all()
    assert len(entries) == 1
    assert entries[0].after == {
        "issued": 3,
        "refused": 0,
        "source": "campaign",
        "source_ref": "C-7",
    }
    sources = session.scalars(select(Coupon.source).where(Coupon.template_id == template.id))
    assert set(sources) == {"campaign"}


def test_a_store_manager_issues_to_the_members_of_their_stores_only(session: Session) -> None:
    mine, other = make_store(session), make_store(session)
    template = make_coupon_template(session)
    ours, theirs = make_member(session, store=mine), make_member(session, store=other)
    manager = Actor("staff", 1, "店长", Role.store_manager, frozenset({mine.id}))
    result = issuing.issue_coupons(
        session,
        manager,
        template.id,
        [ours.id, theirs.id],
        source=IssueSource.manual,
        store_id=mine.id,
    )
    assert [i.member_id for i in result.issued] == [ours.id]
    assert [(r.member_id, r.code) for r in result.refused] == [(theirs.id, Reason.member_not_found)]


def test_a_cashier_may_not_issue_by_hand(session: Session) -> None:
    template = make_coupon_template(session)
    cashier = Actor("staff", 1, "收银", Role.cashier, None)
    with pytest.raises(Forbidden):
        issuing.issue_coupons(
            session, cashier, template.id, [make_member(session).id], source=IssueSource.manual
        )


def test_a_code_drawn_twice_is_drawn_again(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    template = make_coupon_template(session)
    taken = issue_coupon(session, template, make_member(session)).code
    draws = iter([[taken], ["ZZZZZZZZZZZZZZZZ"]])
    monkeypatch.setattr(codes, "new_codes", lambda count: next(draws))
    coupon = issue_coupon(session, template, make_member(session))
    assert coupon.code == "ZZZZZZZZZZZZZZZZ"
    assert template.issued_count == 2
