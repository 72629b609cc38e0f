"""Members named in a list (pasted, or a file's column) by member id, mobile, card number or
member code, resolved in bulk for tools that act on many members (a tag's list, a campaign's):
per reference the active member it names (a merged member's survivor), or why none. A member
the caller may not read (a store-scoped caller and a member of another store it never served)
is not found, as by id."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

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
MAX_MERGE_DEPTH = 20


@dataclass(frozen=True)
class Reference:
    """One reference read: what it names (id, mobile, card, code) and the value."""

    kind: str
    value: str


class Refusal(StrEnum):
    # Nobody by that reference, or a member the caller may not read.
    not_found = "not_found"
    # A member the caller may read who is not active (erased, or merged into one who is).
    not_active = "not_active"


@dataclass(frozen=True)
class Resolved:
    """What one reference names: an active member's id, or why none."""

    member_id: int | None = None
    refusal: Refusal | None = None


NOT_FOUND = Resolved(refusal=Refusal.not_found)
NOT_ACTIVE = Resolved(refusal=Refusal.not_active)


def read_reference(raw: str) -> Reference:
    """`id:42`, `mobile:13800000000`, `card:C001`, `code:…` say what they are; without a
    prefix, 18 digits are a member code, a China mainland mobile is a mobile, up to ten digits
    a member id (or, when no member has that id, a card number), anything else a card number."""
    text = raw.strip()
    head, sep, rest = text.partition(":")
    if sep and head.strip().lower() in PREFIXES:
        return Reference(head.strip().lower(), rest.strip())
    if ASCII_DIGITS.fullmatch(text) and len(text) == CODE_LENGTH:
        return Reference("code", text)
    if ASCII_DIGITS.fullmatch(text) and len(text) <= codes.CODE_ID_DIGITS:
        return Reference("id", text)
    try:
        return Reference("mobile", normalize_mobile(text))
    except ValueError:
        return Reference("card", text)


def resolve_references(session: Session, actor: Actor, refs: Sequence[str]) -> list[Resolved]:
    """Per reference, in the order given, the active member it names in the caller's sight, or
    the refusal. A few queries whatever the length of the list (no member loaded whole but for
    one named by code, and a store-scoped caller's members of other stores, checked one by
    one)."""
    named, known = _named(session, [read_reference(raw) for raw in refs])
    known |= _standings(session, [i for i in named if i is not None and i not in known])
    survivors = _survivors(session, known)
    sight: dict[int, bool] = {}
    resolved: list[Resolved] = []
    for member_id in named:
        standing = known.get(survivors.get(member_id, -1)) if member_id is not None else None
        if standing is not None and standing.id not in sight:
            sight[standing.id] = _sees(session, actor, standing)
        if standing is None or not sight[standing.id]:
            resolved.append(NOT_FOUND)
        elif standing.status != MemberStatus.active:
            resolved.append(NOT_ACTIVE)
        else:
            resolved.append(Resolved(standing.id))
    return resolved


def _named(
    session: Session, refs: list[Reference]
) -> tuple[list[int | None], dict[int, registry.Standing]]:
    """The member each reference names, before merges, and the standings read on the way."""
    by_id = {r.value: parse_row_id(r.value) for r in refs if r.kind == "id"}
    known = _standings(session, [i for i in by_id.values() if i is not None])
    # An id nobody has may be a card number of digits.
    cards = {r.value for r in refs if r.kind == "card"}
    cards |= {value for value, i in by_id.items() if i is None or i not in known}
    card_ids = _in_batches(
        lambda batch: identities.ids_by_identity(session, IdentityType.card_no, batch), cards
    )
    mobile_ids = _in_batches(
        lambda batch: registry.ids_by_mobile(session, batch),
        {r.value for r in refs if r.kind == "mobile"},
    )
    known |= _standings(session, [*card_ids.values(), *mobile_ids.values()])
    named: list[int | None] = []
    for ref in refs:
        if ref.kind == "id":
            member_id = by_id[ref.value]
            named.append(member_id if member_id in known else card_ids.get(ref.value))
        elif ref.kind == "card":
            named.append(card_ids.get(ref.value))
        elif ref.kind == "mobile":
            named.append(mobile_ids.get(ref.value))
        else:
            named.append(_by_code(session, ref.value))
    return named, known


def _standings(session: Session, member_ids: list[int]) -> dict[int, registry.Standing]:
    ids = sorted(set(member_ids))
    found: dict[int, registry.Standing] = {}
    for start in range(0, len(ids), LOOKUP_BATCH):
        found |= registry.standings(session, ids[start : start + LOOKUP_BATCH])
    return found


def _survivors(session: Session, known: dict[int, registry.Standing]) -> dict[int, int]:
    """Each known member's survivor (itself unless merged), merges at any depth; `known` grows
    by the survivors it had not seen."""
    for _ in range(MAX_MERGE_DEPTH):
        missing = [
            s.merged_into_id
            for s in known.values()
            if s.merged_into_id is not None and s.merged_into_id not in known
        ]
        if not missing:
            break
        known |= _standings(session, missing)
    survivors = {}
    for member_id in known:
        owner, seen = member_id, set()
        while (
            (into := known[owner].merged_into_id) is not None
            and into in known
            and owner not in seen
        ):
            seen.add(owner)
            owner = into
        survivors[member_id] = owner
    return survivors


def _in_batches(lookup: Callable[[list[str]], dict[str, int]], values: set[str]) -> dict[str, int]:
    ordered = sorted(values)
    result: dict[str, int] = {}
    for start in range(0, len(ordered), LOOKUP_BATCH):
        result |= lookup(ordered[start : start + LOOKUP_BATCH])
    return result


def _by_code(session: Session, code: str) -> int | None:
    try:
        return codes.resolve_code(session, code).id
    except MemberCodeInvalid:
        return None


def _sees(session: Session, actor: Actor, standing: registry.Standing) -> bool:
    if actor.store_ids is None or standing.store_id in actor.store_ids:
        return True
    member = session.get(Member, standing.id)
    return member is not None and visibility.readable(session, actor, member)
