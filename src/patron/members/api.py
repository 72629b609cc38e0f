from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query
from sqlalchemy.orm import Session

from patron.core.actor import Actor
from patron.core.errors import InvalidInput, NotFound
from patron.core.moments import Moment
from patron.core.openapi import errors
from patron.core.pagination import Page
from patron.core.reasons import Reason
from patron.deps import ActorDep, OneHopRouter, SessionDep, WriteSessionDep, require
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
    visibility,
)
from patron.members import codes as member_codes
from patron.members import merge as member_merge
from patron.members.errors import (
    AttributeExists,
    AttributeNotFound,
    IdentityTaken,
    MemberCodeInvalid,
    MemberExists,
    MemberNotActive,
    MemberNotFound,
)
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

router = OneHopRouter(tags=["members"])
Registrar = Annotated[Actor, Depends(require(permissions.WRITE))]
GuideAssigner = Annotated[Actor, Depends(require(permissions.ASSIGN_GUIDES))]
Merger = Annotated[Actor, Depends(require(permissions.MERGE))]
Exporter = Annotated[Actor, Depends(require(permissions.EXPORT))]
Eraser = Annotated[Actor, Depends(require(permissions.ERASE))]
Programmer = Annotated[Actor, Depends(require(permissions.EDIT_ATTRIBUTES))]


@router.post(
    "/members",
    response_model=MemberOut,
    status_code=201,
    responses=errors(MemberExists, IdentityTaken),
)
def register_member(data: MemberCreate, session: SessionDep, actor: Registrar) -> MemberOut:
    return _shown(session, actor, registration.register_member(session, actor, data))


@router.get("/members", response_model=Page[MemberSummary])
def list_members(
    session: WriteSessionDep,
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
    """An exact lookup by an identity (`mobile`, `card_no`, `openid`, `unionid`, `external_id`
    with `issuer`) searches the whole chain; one that finds a member is audited (hence a writing
    transaction) and lets the caller read that member by id for 24 hours. Without one, the list
    holds the members registered in the caller's stores."""
    lookup = _identity_lookup(session, actor, mobile, card_no, openid, unionid, external_id, issuer)
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
    session: Session,
    actor: Actor,
    mobile: str | None,
    card_no: str | None,
    openid: str | None,
    unionid: str | None,
    external_id: str | None,
    issuer: str,
) -> list[Member] | None:
    """Exact lookups by an identity search the whole chain: the POS must find any member."""
    if mobile is not None:
        try:
            kind, value = visibility.LookupKind.mobile, normalize_mobile(mobile)
        except ValueError as exc:
            raise InvalidInput("mobile", str(exc), code=Reason.not_a_mobile) from exc
    elif card_no is not None:
        kind, value = visibility.LookupKind.card_no, card_no
    elif openid is not None:
        kind, value = visibility.LookupKind.wechat_openid, openid
    elif unionid is not None:
        kind, value = visibility.LookupKind.wechat_unionid, unionid
    elif external_id is not None:
        kind, value = visibility.LookupKind.external_id, external_id
    else:
        return None
    found = visibility.look_up(session, actor, kind, value, issuer)
    return [found] if found is not None else []


@router.get("/members/{member_id}", response_model=MemberOut, responses=errors(MemberNotFound))
def get_member(member_id: int, session: WriteSessionDep, actor: ActorDep) -> MemberOut:
    """Writes the audit row of the PII reveal, so it runs in a writing transaction."""
    return _shown(session, actor, visibility.get_member(session, actor, member_id))


@router.patch(
    "/members/{member_id}",
    response_model=MemberOut,
    responses=errors(MemberNotFound, MemberNotActive, MemberExists),
)
def update_member(
    member_id: int, data: MemberUpdate, session: SessionDep, actor: Registrar
) -> MemberOut:
    return _shown(session, actor, registration.update_member(session, actor, member_id, data))


@router.post(
    "/members/{member_id}/identities",
    response_model=IdentityOut,
    status_code=201,
    responses=errors(MemberNotFound, MemberNotActive, IdentityTaken),
)
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


@router.delete(
    "/members/{member_id}/identities/{identity_id}",
    status_code=204,
    responses=errors(MemberNotFound, NotFound, MemberNotActive),
)
def remove_identity(
    member_id: int, identity_id: int, session: SessionDep, actor: Registrar
) -> None:
    identities.remove_identity(session, actor, member_id, identity_id)


@router.post(
    "/members/{member_id}/code",
    response_model=MemberCodeOut,
    responses=errors(MemberNotFound, MemberNotActive),
)
def issue_member_code(member_id: int, session: SessionDep, actor: ActorDep) -> MemberCodeOut:
    return member_codes.issue_code(session, actor, member_id)


@router.get(
    "/member-codes/{code}", response_model=MemberSummary, responses=errors(MemberCodeInvalid)
)
def resolve_member_code(code: str, session: WriteSessionDep, actor: ActorDep) -> MemberSummary:
    """The member a member code (会员码) names: a lookup like one by mobile, audited (hence a
    writing transaction), that lets the caller read the member by id for 24 hours."""
    member = visibility.look_up(session, actor, visibility.LookupKind.member_code, code)
    if member is None:
        raise MemberCodeInvalid()
    return presenters.summary(member)


@router.put(
    "/members/{member_id}/consents",
    response_model=list[ConsentOut],
    responses=errors(MemberNotFound, MemberNotActive),
)
def set_consent(
    member_id: int, data: ConsentIn, session: SessionDep, actor: Registrar
) -> list[ConsentOut]:
    consents.set_consent(session, actor, member_id, data.channel, data.granted, data.source)
    return presenters.consents_out(session, registry.get_member(session, actor, member_id).id)


@router.get(
    "/members/{member_id}/consents/history",
    response_model=list[ConsentOut],
    responses=errors(MemberNotFound),
)
def consent_history(member_id: int, session: SessionDep, actor: ActorDep) -> list[ConsentOut]:
    member = visibility.get_member(session, actor, member_id)
    return [presenters.consent_out(e) for e in consents.consent_history(session, member.id)]


@router.put(
    "/members/{member_id}/guide",
    response_model=MemberSummary,
    responses=errors(MemberNotFound, MemberNotActive),
)
def reassign_guide(
    member_id: int,
    data: GuideChange,
    session: SessionDep,
    actor: GuideAssigner,
) -> MemberSummary:
    return presenters.summary(
        guides.reassign_guide(session, actor, member_id, data.guide_id, data.reason)
    )


@router.get(
    "/members/{member_id}/guide-history",
    response_model=list[GuideAssignmentOut],
    responses=errors(MemberNotFound),
)
def guide_history(member_id: int, session: SessionDep, actor: ActorDep) -> list[GuideAssignmentOut]:
    member = visibility.get_member(session, actor, member_id)
    return [GuideAssignmentOut.model_validate(g) for g in guides.guide_history(session, member.id)]


@router.get(
    "/members/{member_id}/timeline",
    response_model=list[TimelineEventOut],
    responses=errors(MemberNotFound),
)
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


@router.post(
    "/members/merge",
    response_model=MemberOut,
    responses=errors(MemberNotFound, MemberNotActive),
)
def merge_members(data: MergeRequest, session: SessionDep, actor: Merger) -> MemberOut:
    target = member_merge.merge_members(session, actor, data.source_id, data.target_id)
    return _shown(session, actor, target)


@router.get("/members/{member_id}/export", responses=errors(MemberNotFound))
def export_member(member_id: int, session: WriteSessionDep, actor: Exporter) -> dict[str, Any]:
    return privacy.export_member(session, actor, member_id)


@router.post(
    "/members/{member_id}/erase", response_model=MemberSummary, responses=errors(MemberNotFound)
)
def erase_member(
    member_id: int, session: SessionDep, actor: Eraser, data: EraseRequest | None = None
) -> MemberSummary:
    """The body is optional: without one (and without a Content-Type) the default reason holds."""
    reason = (data or EraseRequest()).reason
    return presenters.summary(privacy.erase_member(session, actor, member_id, reason))


@router.get("/member-attributes", response_model=list[AttributeOut])
def list_attributes(session: SessionDep, actor: ActorDep) -> list[AttributeOut]:
    return [presenters.attribute_out(d) for d in attributes.list_attributes(session)]


@router.post(
    "/member-attributes",
    response_model=AttributeOut,
    status_code=201,
    responses=errors(AttributeExists),
)
def create_attribute(data: AttributeCreate, session: SessionDep, actor: Programmer) -> AttributeOut:
    return presenters.attribute_out(attributes.create_attribute(session, actor, data))


@router.patch(
    "/member-attributes/{attribute_id}",
    response_model=AttributeOut,
    responses=errors(AttributeNotFound),
)
def update_attribute(
    attribute_id: int, data: AttributeUpdate, session: SessionDep, actor: Programmer
) -> AttributeOut:
    return presenters.attribute_out(attributes.update_attribute(session, actor, attribute_id, data))


def _shown(session: Session, actor: Actor, member: Member) -> MemberOut:
    """The member as this caller may see them; a PII reveal is audited."""
    return presenters.present(session, member, privacy.reveal_pii(session, actor, member))
