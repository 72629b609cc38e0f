from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from patron.core.actor import Actor
from patron.core.errors import InvalidInput
from patron.core.moments import Moment
from patron.core.pagination import Page
from patron.core.reasons import Reason
from patron.deps import ActorDep, SessionDep, WriteSessionDep, require
from patron.members import (
    attributes,
    consents,
    guides,
    identities,
    permissions,
    presenters,
    privacy,
    registration,
    registry,
    timeline,
)
from patron.members import codes as member_codes
from patron.members import merge as member_merge
from patron.members.models import Channel, IdentityType, Member, MemberStatus
from patron.members.schemas import (
    AttributeCreate,
    AttributeOut,
    AttributeUpdate,
    ConsentIn,
    ConsentOut,
    EraseRequest,
    GuideAssignmentOut,
    GuideChange,
    IdentityIn,
    IdentityOut,
    MemberCodeOut,
    MemberCreate,
    MemberOut,
    MemberSummary,
    MemberUpdate,
    MergeRequest,
    TimelineEventOut,
    normalize_mobile,
)

router = APIRouter(tags=["members"])
Registrar = Annotated[Actor, Depends(require(permissions.WRITE))]
GuideAssigner = Annotated[Actor, Depends(require(permissions.ASSIGN_GUIDES))]
Merger = Annotated[Actor, Depends(require(permissions.MERGE))]
Exporter = Annotated[Actor, Depends(require(permissions.EXPORT))]
Eraser = Annotated[Actor, Depends(require(permissions.ERASE))]
Programmer = Annotated[Actor, Depends(require(permissions.EDIT_ATTRIBUTES))]


@router.post("/members", response_model=MemberOut, status_code=201)
def register_member(data: MemberCreate, session: SessionDep, actor: Registrar) -> MemberOut:
    return _shown(session, actor, registration.register_member(session, actor, data))


@router.get("/members", response_model=Page[MemberSummary])
def list_members(
    session: SessionDep,
    actor: ActorDep,
    mobile: str | None = None,
    card_no: str | None = None,
    openid: str | None = None,
    unionid: str | None = None,
    external_id: str | None = None,
    issuer: str = "",
    q: Annotated[str | None, Query(max_length=50, description="name prefix")] = None,
    store_id: int | None = None,
    guide_id: int | None = None,
    channel: Channel | None = None,
    status: MemberStatus | None = MemberStatus.active,
    registered_from: Moment | None = None,
    registered_to: Moment | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[MemberSummary]:
    lookup = _identity_lookup(session, mobile, card_no, openid, unionid, external_id, issuer)
    if lookup is not None:
        return Page(items=[presenters.summary(m) for m in lookup], next_cursor=None)
    filters = registry.MemberFilter(
        q=q,
        store_id=store_id,
        guide_id=guide_id,
        channel=channel.value if channel else None,
        registered_from=registered_from,
        registered_to=registered_to,
        status=status,
    )
    page = registry.list_members(session, actor, filters, cursor, limit)
    return Page(items=[presenters.summary(m) for m in page.items], next_cursor=page.next_cursor)


def _identity_lookup(
    session: Any,
    mobile: str | None,
    card_no: str | None,
    openid: str | None,
    unionid: str | None,
    external_id: str | None,
    issuer: str,
) -> list[Any] | None:
    """Exact lookups by an identity search the whole chain: the POS must find any member."""
    if mobile is not None:
        try:
            found = registry.find_by_mobile(session, normalize_mobile(mobile))
        except ValueError as exc:
            raise InvalidInput("mobile", str(exc), code=Reason.not_a_mobile) from exc
    elif card_no is not None:
        found = identities.find_by_identity(session, IdentityType.card_no, card_no)
    elif openid is not None:
        found = identities.find_by_identity(session, IdentityType.wechat_openid, openid)
    elif unionid is not None:
        found = identities.find_by_identity(session, IdentityType.wechat_unionid, unionid)
    elif external_id is not None:
        found = identities.find_by_identity(session, IdentityType.external_id, external_id, issuer)
    else:
        return None
    return [found] if found is not None and found.status == MemberStatus.active else []


@router.get("/members/{member_id}", response_model=MemberOut)
def get_member(member_id: int, session: WriteSessionDep, actor: ActorDep) -> MemberOut:
    """Writes the audit row of the PII reveal, so it runs in a writing transaction."""
    return _shown(session, actor, registry.get_member(session, actor, member_id))


@router.patch("/members/{member_id}", response_model=MemberOut)
def update_member(
    member_id: int, data: MemberUpdate, session: SessionDep, actor: Registrar
) -> MemberOut:
    return _shown(session, actor, registration.update_member(session, actor, member_id, data))


@router.post("/members/{member_id}/identities", response_model=IdentityOut, status_code=201)
def add_identity(
    member_id: int, data: IdentityIn, session: SessionDep, actor: Registrar
) -> IdentityOut:
    member = registry.get_active_member(session, actor, member_id)
    row = identities.add_identity(session, actor, member, data)
    return IdentityOut(
        id=row.id,
        type=IdentityType(row.type),
        issuer=row.issuer,
        value=row.value,
        created_at=row.created_at,
    )


@router.delete("/members/{member_id}/identities/{identity_id}", status_code=204)
def remove_identity(
    member_id: int, identity_id: int, session: SessionDep, actor: Registrar
) -> None:
    identities.remove_identity(session, actor, member_id, identity_id)


@router.post("/members/{member_id}/code", response_model=MemberCodeOut)
def issue_member_code(member_id: int, session: SessionDep, actor: ActorDep) -> MemberCodeOut:
    return member_codes.issue_code(session, actor, member_id)


@router.get("/member-codes/{code}", response_model=MemberSummary)
def resolve_member_code(code: str, session: SessionDep, actor: ActorDep) -> MemberSummary:
    return presenters.summary(member_codes.resolve_code(session, code))


@router.put("/members/{member_id}/consents", response_model=list[ConsentOut])
def set_consent(
    member_id: int, data: ConsentIn, session: SessionDep, actor: Registrar
) -> list[ConsentOut]:
    consents.set_consent(session, actor, member_id, data.channel, data.granted, data.source)
    return presenters.consents_out(session, registry.get_member(session, actor, member_id).id)


@router.get("/members/{member_id}/consents/history", response_model=list[ConsentOut])
def consent_history(member_id: int, session: SessionDep, actor: ActorDep) -> list[ConsentOut]:
    member = registry.get_member(session, actor, member_id)
    return [presenters.consent_out(e) for e in consents.consent_history(session, member.id)]


@router.put("/members/{member_id}/guide", response_model=MemberSummary)
def reassign_guide(
    member_id: int,
    data: GuideChange,
    session: SessionDep,
    actor: GuideAssigner,
) -> MemberSummary:
    return presenters.summary(
        guides.reassign_guide(session, actor, member_id, data.guide_id, data.reason)
    )


@router.get("/members/{member_id}/guide-history", response_model=list[GuideAssignmentOut])
def guide_history(member_id: int, session: SessionDep, actor: ActorDep) -> list[GuideAssignmentOut]:
    member = registry.get_member(session, actor, member_id)
    return [GuideAssignmentOut.model_validate(g) for g in guides.guide_history(session, member.id)]


@router.get("/members/{member_id}/timeline", response_model=list[TimelineEventOut])
def member_timeline(
    member_id: int,
    session: SessionDep,
    actor: ActorDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[TimelineEventOut]:
    return [
        TimelineEventOut(at=e.at, kind=e.kind, summary=e.summary, data=e.data)
        for e in timeline.timeline(session, actor, member_id, limit)
    ]


@router.post("/members/merge", response_model=MemberOut)
def merge_members(data: MergeRequest, session: SessionDep, actor: Merger) -> MemberOut:
    target = member_merge.merge_members(session, actor, data.source_id, data.target_id)
    return _shown(session, actor, target)


@router.get("/members/{member_id}/export")
def export_member(member_id: int, session: WriteSessionDep, actor: Exporter) -> dict[str, Any]:
    return privacy.export_member(session, actor, member_id)


@router.post("/members/{member_id}/erase", response_model=MemberSummary)
def erase_member(
    member_id: int, session: SessionDep, actor: Eraser, data: EraseRequest | None = None
) -> MemberSummary:
    """The body is optional: without one (and without a Content-Type) the default reason holds."""
    reason = (data or EraseRequest()).reason
    return presenters.summary(privacy.erase_member(session, actor, member_id, reason))


@router.get("/member-attributes", response_model=list[AttributeOut])
def list_attributes(session: SessionDep, actor: ActorDep) -> list[AttributeOut]:
    return [presenters.attribute_out(d) for d in attributes.list_attributes(session)]


@router.post("/member-attributes", response_model=AttributeOut, status_code=201)
def create_attribute(data: AttributeCreate, session: SessionDep, actor: Programmer) -> AttributeOut:
    return presenters.attribute_out(attributes.create_attribute(session, actor, data))


@router.patch("/member-attributes/{attribute_id}", response_model=AttributeOut)
def update_attribute(
    attribute_id: int, data: AttributeUpdate, session: SessionDep, actor: Programmer
) -> AttributeOut:
    return presenters.attribute_out(attributes.update_attribute(session, actor, attribute_id, data))


def _shown(session: Session, actor: Actor, member: Member) -> MemberOut:
    """The member as this caller may see them; a PII reveal is audited."""
    return presenters.present(session, member, privacy.reveal_pii(session, actor, member))
