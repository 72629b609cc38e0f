"""Tags and members' tags. Reading needs signing in only; tagging a member, tagging many and
managing tags need the permissions of `patron.tags.permissions`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, File, Query, Response, UploadFile

from patron.core.actor import Actor
from patron.core.openapi import errors
from patron.core.pagination import Page
from patron.core.tabular import FileLimits
from patron.core.uploads import PayloadTooLarge, read_capped
from patron.deps import ActorDep, OneHopRouter, SessionDep, SettingsDep, require
from patron.members import visibility
from patron.members.errors import MemberNotActive, MemberNotFound
from patron.segments.rules import InvalidRule
from patron.tags import permissions, rules, service
from patron.tags.errors import NotARuleTag, RuleTagIsComputed, TagNameTaken, TagNotFound
from patron.tags.models import TagKind
from patron.tags.schemas import (
    BulkMembers,
    BulkResult,
    ImportResult,
    MemberTagAdded,
    MemberTagIn,
    MemberTagOut,
    TagCreate,
    TagOut,
    TagUpdate,
)

router = OneHopRouter(tags=["tags"])
FILE_HELP = "CSV (UTF-8 or GB18030) or .xlsx with a header row"


@router.get("/tags", response_model=Page[TagOut])
def list_tags(
    session: SessionDep,
    actor: ActorDep,
    kind: TagKind | None = None,
    q: Annotated[str | None, Query(max_length=64)] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[TagOut]:
    page = service.list_tags(session, service.TagFilter(kind=kind, q=q), cursor, limit)
    return Page(items=[TagOut.model_validate(t) for t in page.items], next_cursor=page.next_cursor)


@router.post(
    "/tags", response_model=TagOut, status_code=201, responses=errors(TagNameTaken, InvalidRule)
)
def create_tag(
    data: TagCreate,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(permissions.MANAGE))],
) -> TagOut:
    """A manual or a rule tag; a rule tag's members are computed at once."""
    tag = service.create_tag(session, actor, data)
    if tag.kind == TagKind.rule:
        rules.refresh(session, actor, tag)
    return TagOut.model_validate(tag)


@router.get("/tags/{tag_id}", response_model=TagOut, responses=errors(TagNotFound))
def get_tag(tag_id: int, session: SessionDep, actor: ActorDep) -> TagOut:
    return TagOut.model_validate(service.get_tag(session, tag_id))


@router.patch("/tags/{tag_id}", response_model=TagOut, responses=errors(TagNotFound, TagNameTaken))
def update_tag(
    tag_id: int,
    data: TagUpdate,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(permissions.MANAGE))],
) -> TagOut:
    """A rule tag whose rule changed is refreshed at once."""
    before = service.get_tag(session, tag_id).rule
    tag = service.update_tag(session, actor, tag_id, data)
    if tag.kind == TagKind.rule and tag.rule != before:
        rules.refresh(session, actor, tag)
    return TagOut.model_validate(tag)


@router.post(
    "/tags/{tag_id}/refresh",
    response_model=TagOut,
    responses=errors(TagNotFound, NotARuleTag),
)
def refresh_tag(
    tag_id: int,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(permissions.MANAGE))],
) -> TagOut:
    """Apply a rule tag's rule now: members it no longer selects lose the tag, new ones gain it."""
    tag = service.get_tag(session, tag_id)
    rules.refresh(session, actor, tag)
    return TagOut.model_validate(tag)


@router.post(
    "/tags/{tag_id}/members",
    response_model=BulkResult,
    responses=errors(TagNotFound, RuleTagIsComputed),
)
def add_members(
    tag_id: int,
    data: BulkMembers,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(permissions.BULK))],
) -> BulkResult:
    """Tag the listed members; per entry `added`, `already` or `not_found`."""
    return service.add_members(session, actor, tag_id, data.members)


@router.post(
    "/tags/{tag_id}/members/remove",
    response_model=BulkResult,
    responses=errors(TagNotFound, RuleTagIsComputed),
)
def remove_members(
    tag_id: int,
    data: BulkMembers,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(permissions.BULK))],
) -> BulkResult:
    """Untag the listed members; per entry `removed`, `absent` or `not_found`."""
    return service.remove_members(session, actor, tag_id, data.members)


@router.post(
    "/tags/{tag_id}/members/upload",
    response_model=ImportResult,
    responses=errors(TagNotFound, RuleTagIsComputed, PayloadTooLarge),
)
def upload_members(
    tag_id: int,
    session: SessionDep,
    settings: SettingsDep,
    actor: Annotated[Actor, Depends(require(permissions.BULK))],
    file: Annotated[UploadFile, File(description=f"{FILE_HELP}: a `member` column")],
) -> ImportResult:
    """Tag the members of a file's `member` column (a `tag` column, where given, wins)."""
    tag = service.get_tag(session, tag_id)
    content = read_capped(file, settings)
    name = file.filename or "tags.csv"
    limits = FileLimits.of(settings)
    return service.import_file(session, actor, content, name, tag=tag, limits=limits)


@router.post("/tag-imports", response_model=ImportResult, responses=errors(PayloadTooLarge))
def import_tags(
    session: SessionDep,
    settings: SettingsDep,
    actor: Annotated[Actor, Depends(require(permissions.BULK))],
    file: Annotated[UploadFile, File(description=f"{FILE_HELP}: `member` and `tag` columns")],
) -> ImportResult:
    """Tag members from a file of (member, tag) rows; unknown tags are created as `imported`."""
    content = read_capped(file, settings)
    name = file.filename or "tags.csv"
    return service.import_file(session, actor, content, name, limits=FileLimits.of(settings))


@router.get(
    "/members/{member_id}/tags",
    response_model=list[MemberTagOut],
    responses=errors(MemberNotFound),
)
def member_tags(member_id: int, session: SessionDep, actor: ActorDep) -> list[MemberTagOut]:
    member = visibility.get_member(session, actor, member_id)
    return service.member_tags(session, member.id)


@router.post(
    "/members/{member_id}/tags",
    response_model=MemberTagAdded,
    responses={
        **errors(MemberNotFound, TagNotFound, MemberNotActive, RuleTagIsComputed, TagNameTaken),
        201: {"description": "Added: the member did not have the tag.", "model": MemberTagAdded},
    },
)
def tag_member(
    member_id: int,
    data: MemberTagIn,
    response: Response,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(permissions.TAG_MEMBERS))],
) -> MemberTagAdded:
    """Tag the member, by the tag's name or id: 201 when added, 200 when the member had it. A
    name no tag has creates a manual tag for the roles that manage tags (else 404)."""
    visibility.get_member(session, actor, member_id)  # 404 before a tag is created
    tag = service.tag_by_ref(session, actor, data.tag, data.tag_id)
    out, added = service.tag_member(session, actor, member_id, tag)
    response.status_code = 201 if added else 200
    return MemberTagAdded(**out.model_dump(), added=added)


@router.delete(
    "/members/{member_id}/tags/{tag_id}",
    status_code=204,
    responses=errors(MemberNotFound, TagNotFound, RuleTagIsComputed),
)
def untag_member(
    member_id: int,
    tag_id: int,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(permissions.TAG_MEMBERS))],
) -> Response:
    """Remove the tag from the member; 204 whether or not the member had it."""
    service.untag_member(session, actor, member_id, tag_id)
    return Response(status_code=204)
