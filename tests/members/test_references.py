"""Member references resolved in bulk: what each reference reads as, the member it names (a
merged member's survivor) and why none: not found (or out of the caller's sight), not active."""

from __future__ import annotations

from sqlalchemy.orm import Session

from patron.core.actor import SYSTEM, Actor, Role
from patron.members import codes, identities, merge, privacy
from patron.members.models import IdentityType
from patron.members.references import (
    NOT_ACTIVE,
    NOT_FOUND,
    Reference,
    Resolved,
    read_reference,
    resolve_references,
)
from patron.members.schemas import IdentityIn
from tests.factories import make_member, make_store


def test_a_reference_says_what_it_is_or_is_read_by_its_shape() -> None:
    assert read_reference(" id:42 ") == Reference("id", "42")
    assert read_reference("Card: C001") == Reference("card", "C001")
    assert read_reference("42") == Reference("id", "42")
    assert read_reference("13800000000") == Reference("mobile", "+8613800000000")
    assert read_reference("1" * codes.CODE_ID_DIGITS + "2" * codes.CODE_DIGITS).kind == "code"
    assert read_reference("C001") == Reference("card", "C001")


def test_each_reference_names_an_active_member_or_a_refusal(session: Session) -> None:
    store = make_store(session)
    by_id, by_mobile, by_card, by_code, merged, survivor, erased = (
        make_member(session, store) for _ in range(7)
    )
    identities.add_identity(
        session, SYSTEM, by_card, IdentityIn(type=IdentityType.card_no, value="8800123")
    )
    code = codes.issue_code(session, SYSTEM, by_code.id).code
    merge.merge_members(session, SYSTEM, merged.id, survivor.id)
    privacy.erase_member(session, SYSTEM, erased.id, "PIPL request")
    refs = [
        str(by_id.id),
        (by_mobile.mobile or "")[3:],
        "8800123",
        code,
        f"id:{merged.id}",
        str(erased.id),
        "card:nobody",
        "999999",
    ]
    assert resolve_references(session, SYSTEM, refs) == [
        Resolved(by_id.id),
        Resolved(by_mobile.id),
        Resolved(by_card.id),
        Resolved(by_code.id),
        Resolved(survivor.id),
        NOT_ACTIVE,
        NOT_FOUND,
        NOT_FOUND,
    ]


def test_a_member_out_of_the_callers_sight_is_not_found_whatever_their_status(
    session: Session,
) -> None:
    mine, theirs = make_store(session), make_store(session)
    member, other, gone = (make_member(session, s) for s in (mine, theirs, theirs))
    privacy.erase_member(session, SYSTEM, gone.id, "PIPL request")
    manager = Actor(
        kind="staff", id=7, name="m", role=Role.store_manager, store_ids=frozenset({mine.id})
    )
    refs = [str(member.id), str(other.id), other.mobile or "", str(gone.id)]
    assert resolve_references(session, manager, refs) == [
        Resolved(member.id),
        NOT_FOUND,
        NOT_FOUND,
        NOT_FOUND,
    ]
