from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Query, UploadFile
from pydantic import AwareDatetime

from patron.core.actor import Actor, Role
from patron.core.errors import InvalidInput
from patron.core.pagination import Page
from patron.core.reasons import Reason
from patron.deps import ActorDep, SessionDep, require
from patron.members import importer, service
from patron.members.models import Channel, ConsentChannel, IdentityType, MemberStatus
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
    ImportReport,
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
Registrar = Annotated[
    Actor,
    Depends(
        require(
            Role.hq_admin,
            Role.hq_marketing,
            Role.store_manager,
            Role.cashier,
            Role.guide,
            Role.integration,
        )
    ),
]
Admin = Annotated[Actor, Depends(require(Role.hq_admin))]
Programmer = Annotated[Actor, Depends(require(Role.hq_admin, Role.hq_marketing))]
Importer = Annotated[Actor, Depends(require(Role.hq_admin, Role.store_manager))]
MAX_IMPORT_BYTES = 50 * 1024 * 1024


@router.post("/members", response_model=MemberOut, status_code=201)
def register_member(data: MemberCreate, session: SessionDep, actor: Registrar) -> MemberOut:
    return service.present(session, actor, service.register_member(session, actor, data))


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
    registered_from: AwareDatetime | None = None,
    registered_to: AwareDatetime | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[MemberSummary]:
    lookup = _identity_lookup(session, mobile, card_no, openid, unionid, external_id, issuer)
    if lookup is not None:
        return Page(items=[service.summary(m) for m in lookup], next_cursor=None)
    filters = service.MemberFilter(
        q=q,
        store_id=store_id,
        guide_id=guide_id,
        channel=channel.value if channel else None,
        registered_from=registered_from,
        registered_to=registered_to,
        status=status,
    )
    page = service.list_members(session, actor, filters, cursor, limit)
    return Page(items=[service.summary(m) for m in page.items], next_cursor=page.next_cursor)


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
            found = service.find_by_mobile(session, normalize_mobile(mobile))
        except ValueError as exc:
            raise InvalidInput("mobile", str(exc), code=Reason.not_a_mobile) from exc
    elif card_no is not None:
        found = service.find_by_identity(session, IdentityType.card_no, card_no)
    elif openid is not None:
        found = service.find_by_identity(session, IdentityType.wechat_openid, openid)
    elif unionid is not None:
        found = service.find_by_identity(session, IdentityType.wechat_unionid, unionid)
    elif external_id is not None:
        found = service.find_by_identity(session, IdentityType.external_id, external_id, issuer)
    else:
        return None
    return [found] if found is not None and found.status == MemberStatus.active else []


@router.get("/members/{member_id}", response_model=MemberOut)
def get_member(member_id: int, session: SessionDep, actor: ActorDep) -> MemberOut:
    return service.present(session, actor, service.get_member(session, actor, member_id))


@router.patch("/members/{member_id}", response_model=MemberOut)
def update_member(
    member_id: int, data: MemberUpdate, session: SessionDep, actor: Registrar
) -> MemberOut:
    return service.present(session, actor, service.update_member(session, actor, member_id, data))


@router.post("/members/{member_id}/identities", response_model=IdentityOut, status_code=201)
def add_identity(
    member_id: int, data: IdentityIn, session: SessionDep, actor: Registrar
) -> IdentityOut:
    member = service.get_active_member(session, actor, member_id)
    row = service.add_identity(session, actor, member, data)
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
    service.remove_identity(session, actor, member_id, identity_id)


@router.post("/members/{member_id}/code", response_model=MemberCodeOut)
def issue_member_code(member_id: int, session: SessionDep, actor: ActorDep) -> MemberCodeOut:
    return service.issue_code(session, actor, member_id)


@router.get("/member-codes/{code}", response_model=MemberSummary)
def resolve_member_code(code: str, session: SessionDep, actor: ActorDep) -> MemberSummary:
    return service.summary(service.resolve_code(session, code))


@router.put("/members/{member_id}/consents", response_model=list[ConsentOut])
def set_consent(
    member_id: int, data: ConsentIn, session: SessionDep, actor: Registrar
) -> list[ConsentOut]:
    service.set_consent(session, actor, member_id, data.channel, data.granted, data.source)
    return service.present(session, actor, service.get_member(session, actor, member_id)).consents


@router.get("/members/{member_id}/consents/history", response_model=list[ConsentOut])
def consent_history(member_id: int, session: SessionDep, actor: ActorDep) -> list[ConsentOut]:
    member = service.get_member(session, actor, member_id)
    return [
        ConsentOut(
            channel=ConsentChannel(e.channel),
            granted=e.granted,
            source=e.source,
            recorded_at=e.recorded_at,
        )
        for e in service.consent_history(session, member.id)
    ]


@router.put("/members/{member_id}/guide", response_model=MemberSummary)
def reassign_guide(
    member_id: int,
    data: GuideChange,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(Role.hq_admin, Role.store_manager))],
) -> MemberSummary:
    return service.summary(
        service.reassign_guide(session, actor, member_id, data.guide_id, data.reason)
    )


@router.get("/members/{member_id}/guide-history", response_model=list[GuideAssignmentOut])
def guide_history(member_id: int, session: SessionDep, actor: ActorDep) -> list[GuideAssignmentOut]:
    member = service.get_member(session, actor, member_id)
    return [GuideAssignmentOut.model_validate(g) for g in service.guide_history(session, member.id)]


@router.get("/members/{member_id}/timeline", response_model=list[TimelineEventOut])
def member_timeline(
    member_id: int,
    session: SessionDep,
    actor: ActorDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[TimelineEventOut]:
    return [
        TimelineEventOut(at=e.at, kind=e.kind, summary=e.summary, data=e.data)
        for e in service.timeline(session, actor, member_id, limit)
    ]


@router.post("/members/merge", response_model=MemberOut)
def merge_members(data: MergeRequest, session: SessionDep, actor: Admin) -> MemberOut:
    target = service.merge_members(session, actor, data.source_id, data.target_id)
    return service.present(session, actor, target)


@router.get("/members/{member_id}/export")
def export_member(member_id: int, session: SessionDep, actor: Admin) -> dict[str, Any]:
    return service.export_member(session, actor, member_id)


@router.post("/members/{member_id}/erase", response_model=MemberSummary)
def erase_member(
    member_id: int, data: EraseRequest, session: SessionDep, actor: Admin
) -> MemberSummary:
    return service.summary(service.erase_member(session, actor, member_id, data.reason))


@router.get("/member-attributes", response_model=list[AttributeOut])
def list_attributes(session: SessionDep, actor: ActorDep) -> list[AttributeOut]:
    return [service.attribute_out(d) for d in service.list_attributes(session)]


@router.post("/member-attributes", response_model=AttributeOut, status_code=201)
def create_attribute(data: AttributeCreate, session: SessionDep, actor: Programmer) -> AttributeOut:
    return service.attribute_out(service.create_attribute(session, actor, data))


@router.patch("/member-attributes/{attribute_id}", response_model=AttributeOut)
def update_attribute(
    attribute_id: int, data: AttributeUpdate, session: SessionDep, actor: Programmer
) -> AttributeOut:
    return service.attribute_out(service.update_attribute(session, actor, attribute_id, data))


@router.post("/imports/members", response_model=ImportReport)
def import_members(
    session: SessionDep,
    actor: Importer,
    file: Annotated[
        UploadFile, File(description="CSV (UTF-8 or GB18030) or .xlsx with a header row")
    ],
    dry_run: bool = True,
) -> ImportReport:
    content = file.file.read(MAX_IMPORT_BYTES + 1)
    if len(content) > MAX_IMPORT_BYTES:
        raise InvalidInput(
            "file",
            "larger than 50 MB; split it or use `patron import members`",
            code=Reason.file_too_large,
        )
    rows = importer.read_rows(content, file.filename or "upload.csv")
    return importer.import_members(session, actor, rows, dry_run=dry_run)
