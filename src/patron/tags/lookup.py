"""Members named in a list (pasted, or a file's column): by member id, mobile, card number or
member code, through the members domain's lookups. A member the caller may not read (a
store-scoped caller and a member of another store it never served) is not found, as by id."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from patron.core.actor import Actor
from patron.core.ids import parse_row_id
from patron.members import codes, identities, registry, visibility
from patron.members.errors import MemberCodeInvalid
from patron.members.models import IdentityType, Member, MemberStatus
from patron.members.schemas import normalize_mobile

ASCII_DIGITS = re.compile(r"[0-9]+")
PREFIXES = ("id", "mobile", "card", "code")
CODE_LENGTH = codes.CODE_ID_DIGITS + codes.CODE_DIGITS
LOOKUP_BATCH = 5000


@dataclass(frozen=True)
class Ref:
    """One reference read: what it names (id, mobile, card, code) and the value."""

    kind: str
    value: str


def read_ref(raw: str) -> Ref:
    """`id:42`, `mobile:13800000000`, `card:C001`, `code:…` say what they are; without a
    prefix, 18 digits are a member code, a China mainland mobile is a mobile, up to ten digits
    a member id (or, when no member has that id, a card number), anything else a card number."""
    text = raw.strip()
    head, sep, rest = text.partition(":")
    if sep and head.strip().lower() in PREFIXES:
        return Ref(head.strip().lower(), rest.strip())
    if ASCII_DIGITS.fullmatch(text) and len(text) == CODE_LENGTH:
        return Ref("code", text)
    if ASCII_DIGITS.fullmatch(text) and len(text) <= codes.CODE_ID_DIGITS:
        return Ref("id", text)
    try:
        return Ref("mobile", normalize_mobile(text))
    except ValueError:
        return Ref("card", text)


def resolve(session: Session, actor: Actor, raws: Sequence[str]) -> list[int | None]:
    """The active member each reference names, in the caller's sight, else None; in the order
    given. A few queries whatever the length of the list."""
    refs = [read_ref(raw) for raw in raws]
    found: list[int | None] = [None] * len(refs)
    by_id = {r.value: parse_row_id(r.value) for r in refs if r.kind == "id"}
    members = registry.members_by_id(session, by_id.values())
    # An id nobody has may be a card number of digits.
    cards = {r.value for r in refs if r.kind == "card"}
    cards |= {value for value, i in by_id.items() if i is None or i not in members}
    card_ids = _in_batches(
        lambda batch: identities.ids_by_identity(session, IdentityType.card_no, batch), cards
    )
    mobile_ids = _in_batches(
        lambda batch: registry.ids_by_mobile(session, batch),
        {r.value for r in refs if r.kind == "mobile"},
    )
    members |= registry.members_by_id(session, [*card_ids.values(), *mobile_ids.values()])
    for index, ref in enumerate(refs):
        member: Member | None = None
        if ref.kind == "id":
            member_id = by_id[ref.value]
            member = members.get(member_id) if member_id is not None else None
            if member is None and ref.value in card_ids:
                member = members.get(card_ids[ref.value])
        elif ref.kind == "card" and ref.value in card_ids:
            member = members.get(card_ids[ref.value])
        elif ref.kind == "mobile" and ref.value in mobile_ids:
            member = members.get(mobile_ids[ref.value])
        elif ref.kind == "code":
            member = _by_code(session, ref.value)
        member = registry.follow_merges(session, member)
        if member is not None and member.status == MemberStatus.active:
            found[index] = member.id if _sees(session, actor, member) else None
    return found


def _in_batches(lookup: Callable[[list[str]], dict[str, int]], values: set[str]) -> dict[str, int]:
    ordered = sorted(values)
    result: dict[str, int] = {}
    for start in range(0, len(ordered), LOOKUP_BATCH):
        result |= lookup(ordered[start : start + LOOKUP_BATCH])
    return result


def _by_code(session: Session, code: str) -> Member | None:
    try:
        return codes.resolve_code(session, code)
    except MemberCodeInvalid:
        return None


def _sees(session: Session, actor: Actor, member: Member) -> bool:
    return registry.visible(actor, member) or visibility.readable(session, actor, member)
