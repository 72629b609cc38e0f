"""An operator's list of mobiles, resolved as the members domain resolves any list of
references (`members.references`): a merged member's number reaches the survivor, an erased
member's is not found, a store-scoped operator reaches no member outside their stores."""

from __future__ import annotations

from sqlalchemy.orm import Session

from patron.core.actor import SYSTEM, Actor, Role
from patron.core.reasons import Reason
from patron.coupons import recipients
from patron.coupons.models import Coupon
from patron.members import merge, privacy
from tests.factories import make_coupon_template, make_member, make_store


def test_mobiles_reach_the_active_members_the_caller_may_read(session: Session) -> None:
    store, other = make_store(session), make_store(session)
    kept = make_member(session, store, mobile="13900004441")
    merged = make_member(session, store, mobile="13900004442")
    survivor = make_member(session, store, mobile="13900004443")
    merge.merge_members(session, SYSTEM, merged.id, survivor.id)
    erased = make_member(session, store, mobile="13900004444")
    privacy.erase_member(session, SYSTEM, erased.id, "asked")
    elsewhere = make_member(session, other, mobile="13900004445")
    template = make_coupon_template(session)
    mobiles = ["139-0000-4441", "13900004442", "13900004444", "13900004445", "12345"]
    manager = Actor(kind="staff", id=1, name="店长", role=Role.store_manager, store_ids=[store.id])

    result = recipients.issue_to_mobiles(session, manager, template.id, mobiles)

    assert result.issued == 2
    holders = {c.member_id for c in session.query(Coupon).filter_by(template_id=template.id)}
    assert holders == {kept.id, survivor.id}
    assert sorted((r.mobile or "", r.code, r.member_id) for r in result.refused) == [
        ("12345", Reason.not_a_mobile, None),
        ("13900004444", Reason.member_not_found, None),
        ("13900004445", Reason.member_not_found, None),  # the member stays unsaid
    ]
    chain_wide = recipients.issue_to_mobiles(session, SYSTEM, template.id, ["13900004445"])
    assert (chain_wide.issued, chain_wide.refused) == (1, [])
    assert elsewhere.id in {
        c.member_id for c in session.query(Coupon).filter_by(template_id=template.id)
    }
