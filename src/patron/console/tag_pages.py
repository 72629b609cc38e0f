"""Tags (标签): the list with each tag's kind and member count, creating a manual or a rule tag,
a tag's page with its members, a box to paste members into (or a file to upload) to tag or untag
them, and on the member page the member's tags (`members/_tags.html`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from patron.console.forms import NO_ERRORS, FormErrors, form_errors, parse_enum
from patron.console.uploads import UploadRefused, file_error, uploaded_file
from patron.console.web import (
    PREFIX,
    CheckedForm,
    ConsoleActorDep,
    ErrorPage,
    Tx,
    attempt,
    error_page_on,
    first_page_url,
    next_page_url,
    redirect,
    render,
    require_console,
    settings_of,
    t_for,
    text,
)
from patron.core.actor import Actor
from patron.core.errors import InvalidInput, NotFound, PatronError
from patron.core.tabular import FileLimits
from patron.members import registry, visibility
from patron.members.models import Member, MemberStatus
from patron.segments.rules import InvalidRule
from patron.stores import service as stores
from patron.tags import permissions as tag_policy
from patron.tags import rules
from patron.tags import service as tags
from patron.tags.errors import RuleTagIsComputed
from patron.tags.models import Tag, TagKind
from patron.tags.schemas import BULK_MAX, BulkResult, MemberTagOut, TagCreate, TagUpdate

router = APIRouter()
LIST_URL = f"{PREFIX}/tags"
PAGE_SIZE = 50
KINDS = tuple(k.value for k in TagKind)
NEW_KINDS = (TagKind.manual.value, TagKind.rule.value)


def tag_url(tag_id: int) -> str:
    return f"{LIST_URL}/{tag_id}"


# --- the list and creating a tag -------------------------------------------------------------


@router.get("/tags")
def tag_list(
    request: Request,
    session: Tx,
    actor: ConsoleActorDep,
    kind: str = "",
    q: str = "",
    cursor: str = "",
) -> HTMLResponse:
    return _list(request, session, kind, q, cursor, {"kind": TagKind.manual.value}, NO_ERRORS)


@router.post("/tags")
def tag_create(
    request: Request, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    """Create a tag; a rule tag's members are computed at once."""
    require_console(actor, tag_policy.MANAGE)
    values = _values(form)
    try:
        data = TagCreate.model_validate(values | {"rule": values["rule"] or None})
        with attempt(session):
            tag = tags.create_tag(session, actor, data)
            if tag.kind == TagKind.rule:
                _refresh(session, actor, tag)
    except (ValidationError, PatronError) as error:
        return _list(request, session, "", "", "", values, _refused(error, request))
    return redirect(tag_url(tag.id), "flash.tag_created", name=tag.name)


def _list(
    request: Request,
    session: Session,
    kind: str,
    q: str,
    cursor: str,
    values: Mapping[str, object],
    errors: FormErrors,
) -> HTMLResponse:
    chosen = parse_enum(TagKind, kind)
    filters = tags.TagFilter(kind=chosen, q=q.strip()[:64] or None)
    with error_page_on(InvalidInput):
        page = tags.list_tags(session, filters, cursor or None, PAGE_SIZE)
    return render(
        request,
        "tags/list.html",
        status=errors.status,
        tags=page.items,
        kinds=KINDS,
        new_kinds=NEW_KINDS,
        filters={"kind": chosen.value if chosen else "", "q": q},
        values=values,
        errors=errors,
        next_url=next_page_url(request, page.next_cursor),
        first_url=first_page_url(request),
    )


def _values(form: FormData) -> dict[str, Any]:
    return {
        "name": text(form, "name"),
        "kind": text(form, "kind") or TagKind.manual.value,
        "description": text(form, "description"),
        "rule": text(form, "rule"),
    }


# --- one tag -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemberRow:
    member_id: int
    store_code: str | None
    source: str
    added_by: str
    added_at: Any


@dataclass(frozen=True)
class BulkView:
    """What a bulk submission did: counts by status, and each line not done."""

    action: str
    counts: dict[str, int]
    rows: list[Any]
    created: list[str]


@router.get("/tags/{tag_id:int}")
def tag_page(
    request: Request, tag_id: int, session: Tx, actor: ConsoleActorDep, cursor: str = ""
) -> HTMLResponse:
    tag = _get(session, tag_id)
    return _page(request, session, actor, tag, cursor, snapshot_values(tag), NO_ERRORS)


def snapshot_values(tag: Tag) -> dict[str, Any]:
    return {"name": tag.name, "description": tag.description, "rule": tag.rule or ""}


@router.post("/tags/{tag_id:int}/edit")
def tag_edit(
    request: Request, tag_id: int, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    require_console(actor, tag_policy.MANAGE)
    tag = _get(session, tag_id)
    values = {k: v for k, v in _values(form).items() if k != "kind"}
    if tag.kind != TagKind.rule:
        values.pop("rule")
    before = tag.rule
    try:
        data = TagUpdate.model_validate(values)
        with attempt(session):
            tags.update_tag(session, actor, tag.id, data)
            if tag.kind == TagKind.rule and tag.rule != before:
                _refresh(session, actor, tag)
    except (ValidationError, PatronError) as error:
        session.refresh(tag)
        return _page(request, session, actor, tag, "", values, _refused(error, request))
    return redirect(tag_url(tag.id), "flash.tag_saved", name=tag.name)


@router.post("/tags/{tag_id:int}/refresh")
def tag_refresh(tag_id: int, session: Tx, actor: ConsoleActorDep, form: CheckedForm) -> Response:
    require_console(actor, tag_policy.MANAGE)
    tag = _get(session, tag_id)
    with error_page_on(PatronError):
        _refresh(session, actor, tag)
    return redirect(tag_url(tag.id), "flash.tag_refreshed", name=tag.name)


@router.post("/tags/{tag_id:int}/members")
def tag_bulk(
    request: Request, tag_id: int, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    """Tag (or untag) the pasted members, or tag the uploaded file's, and show each line's
    outcome."""
    require_console(actor, tag_policy.BULK)
    t = t_for(request)
    tag = _get(session, tag_id)
    action = "remove" if text(form, "action") == "remove" else "add"
    values = snapshot_values(tag) | {"members": text(form, "members", strip=False)}
    try:
        uploaded = uploaded_file(request, form)
        refs = tags.pasted(str(values["members"]))
        if uploaded is None and not refs:
            raise UploadRefused(file_error(t("tags.bulk.nothing"), t))
        if uploaded is None and len(refs) > BULK_MAX:
            raise UploadRefused(file_error(t("tags.bulk.too_many", count=BULK_MAX), t))
        with attempt(session):
            result: BulkResult
            created: list[str] = []
            if uploaded is not None:
                filename, content = uploaded
                limits = FileLimits.of(settings_of(request))
                imported = tags.import_file(
                    session, actor, content, filename, tag=tag, limits=limits
                )
                result, created, action = imported, imported.created_tags, "file"
            elif action == "remove":
                result = tags.remove_members(session, actor, tag.id, refs)
            else:
                result = tags.add_members(session, actor, tag.id, refs)
    except UploadRefused as refusal:
        return _page(request, session, actor, tag, "", values, refusal.errors)
    except PatronError as error:
        return _page(request, session, actor, tag, "", values, form_errors(error, t))
    session.refresh(tag)
    done = {"added", "removed"}
    view = BulkView(
        action, result.counts, [r for r in result.results if r.status not in done], created
    )
    return _page(request, session, actor, tag, "", snapshot_values(tag), NO_ERRORS, view)


def _refresh(session: Session, actor: Actor, tag: Tag) -> None:
    rules.refresh(session, actor, tag)


def _refused(error: ValidationError | PatronError, request: Request) -> FormErrors:
    """A refused form; an invalid rule beside the rule, where it fails."""
    t = t_for(request)
    if isinstance(error, InvalidRule):
        where = t("tags.rule_error", line=error.line, column=error.column, message=error.message)
        return FormErrors(message=t("error.form"), fields={"rule": where}, status=error.status)
    return form_errors(error, t)


def _get(session: Session, tag_id: int) -> Tag:
    with error_page_on(NotFound):
        tag = tags.get_tag(session, tag_id)
    return tag


def _page(
    request: Request,
    session: Session,
    actor: Actor,
    tag: Tag,
    cursor: str,
    values: Mapping[str, object],
    errors: FormErrors,
    bulk: BulkView | None = None,
) -> HTMLResponse:
    with error_page_on(InvalidInput):
        page = tags.tag_members(session, actor, tag.id, cursor or None, PAGE_SIZE)
    members = registry.members_by_id(session, (row.member_id for row in page.items))
    codes = stores.codes_by_id(session, {m.store_id for m in members.values() if m.store_id})
    rows = [
        MemberRow(
            row.member_id,
            codes.get(members[row.member_id].store_id or 0),
            row.source,
            row.added_by,
            row.added_at,
        )
        for row in page.items
    ]
    return render(
        request,
        "tags/detail.html",
        status=errors.status,
        tag=tag,
        rows=rows,
        values=values,
        errors=errors,
        bulk=bulk,
        next_url=next_page_url(request, page.next_cursor),
        first_url=first_page_url(request),
    )


# --- the member page's tags ------------------------------------------------------------------


@dataclass(frozen=True)
class MemberTags:
    """The member page's tags panel: the member's tags, and the names to suggest."""

    tags: list[MemberTagOut]
    names: list[str]


def member_panel(session: Session, member: Member) -> MemberTags:
    return MemberTags(
        tags.member_tags(session, member.id),
        tags.all_names(session, (TagKind.manual, TagKind.imported)),
    )


def _member_url(member_id: int) -> str:
    return f"{PREFIX}/members/{member_id}"


@router.post("/members/{member_id:int}/tags")
def member_tag_add(
    member_id: int, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    require_console(actor, tag_policy.TAG_MEMBERS)
    member = _taggable(session, actor, member_id)
    back = _member_url(member.id)
    name = text(form, "tag")
    try:
        with attempt(session):
            tag = tags.tag_by_ref(session, actor, name, None)
            tags.tag_member(session, actor, member.id, tag)
    except RuleTagIsComputed:
        return redirect(back, "flash.error.rule_tag_is_computed", name=name)
    except NotFound:
        return redirect(back, "flash.error.tag_not_found", name=name)
    except InvalidInput:
        return redirect(back, "flash.error.tag_name", name=name)
    return redirect(back, "flash.member_tagged", name=tag.name)


@router.post("/members/{member_id:int}/tags/{tag_id:int}/delete")
def member_tag_remove(
    member_id: int, tag_id: int, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    require_console(actor, tag_policy.TAG_MEMBERS)
    member = _taggable(session, actor, member_id)
    tag = _get(session, tag_id)
    back = _member_url(member.id)
    try:
        with attempt(session):
            tags.untag_member(session, actor, member.id, tag.id)
    except RuleTagIsComputed:
        return redirect(back, "flash.error.rule_tag_is_computed", name=tag.name)
    return redirect(back, "flash.member_untagged", name=tag.name)


def _taggable(session: Session, actor: Actor, member_id: int) -> Member:
    with error_page_on(NotFound):
        member = visibility.get_member(session, actor, member_id)
    if member.status != MemberStatus.active:
        raise ErrorPage(409, "error.member_not_active")
    return member
