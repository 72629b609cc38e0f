"""Members: the list with search and filters, registration and editing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from patron.console.choices import guide_suggestions, store_options
from patron.console.forms import NO_ERRORS, FormErrors, day_start, parse_enum, parse_id
from patron.console.member_forms import (
    attribute_field,
    field_errors,
    guide_by_username,
    member_errors,
    parse_attributes,
    read_attributes,
    shown_attribute,
)
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
    t_for,
    text,
)
from patron.core import clock
from patron.core.actor import Actor, Role
from patron.core.errors import InvalidInput, NotFound, PatronError
from patron.deps import WriteSessionDep
from patron.members import attributes as member_attributes
from patron.members import permissions as member_policy
from patron.members import presenters, privacy, registration, registry, visibility
from patron.members.errors import MemberExists
from patron.members.models import (
    Channel,
    ConsentChannel,
    Gender,
    Member,
    MemberStatus,
)
from patron.members.schemas import (
    AttributeOut,
    MemberCreate,
    MemberOut,
    MemberSummary,
    MemberUpdate,
    normalize_mobile,
)
from patron.staff import service as staff
from patron.stores import service as stores

router = APIRouter(prefix="/members")
PAGE_SIZE = 20
LIST_URL = f"{PREFIX}/members"
# Import is the importer's channel; a person registers in a store, online or in the mini program.
FORM_CHANNELS = (Channel.store, Channel.online, Channel.mini_program)
# The PII fields a masked viewer leaves empty to keep.
PII_FIELDS = ("mobile", "name", "birthday", "email")


def member_url(member_id: int) -> str:
    return f"{LIST_URL}/{member_id}"


def get_member(session: Session, actor: Actor, member_id: int) -> Member:
    """A member of the viewer's stores, to change (or for HQ, to erase or merge)."""
    with error_page_on(NotFound):
        member = registry.get_member(session, actor, member_id)
    return member


def get_readable_member(session: Session, actor: Actor, member_id: int) -> Member:
    """A member the viewer may read by id: of their stores, served there, or found by them
    through a lookup (`members.visibility`)."""
    with error_page_on(NotFound):
        member = visibility.get_member(session, actor, member_id)
    return member


def get_active_member(session: Session, actor: Actor, member_id: int) -> Member:
    member = get_member(session, actor, member_id)
    if member.status != MemberStatus.active:
        raise ErrorPage(409, "error.member_not_active")
    return member


def active_definitions(session: Session) -> list[AttributeOut]:
    return [
        presenters.attribute_out(d)
        for d in member_attributes.list_attributes(session, active_only=True)
    ]


# --- list -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemberRow:
    member: MemberSummary
    store_code: str | None
    store_name: str | None
    guide: str | None


@router.get("")
def member_list(
    request: Request,
    session: WriteSessionDep,
    actor: ConsoleActorDep,
    q: str = "",
    store: str = "",
    guide: str = "",
    channel: str = "",
    registered_from: Annotated[str, Query(alias="from")] = "",
    registered_to: Annotated[str, Query(alias="to")] = "",
    cursor: str = "",
) -> HTMLResponse:
    """A search by mobile or card is an identity lookup, audited: a writing transaction."""
    options = store_options(session, actor)
    search = q.strip()[:50]
    guide_name = guide.strip()
    guide_id = guide_by_username(session, guide_name) if guide_name else None
    channel_filter = parse_enum(Channel, channel)
    filters = registry.MemberFilter(
        store_id=parse_id(store),
        # An unknown guide matches nobody: no staff user has id 0.
        guide_id=(guide_id or 0) if guide_name else None,
        channel=channel_filter.value if channel_filter else None,
        registered_from=day_start(registered_from),
        registered_to=day_start(registered_to, days=1),
    )
    exact, found = _lookup(session, actor, search)
    next_url = None
    if exact:
        members = [found] if found is not None and _matches(found, filters) else []
    else:
        filters.q = search or None
        with error_page_on(InvalidInput):
            page = registry.list_members(session, actor, filters, cursor or None, PAGE_SIZE)
        members = list(page.items)
        next_url = next_page_url(request, page.next_cursor)
    return render(
        request,
        "members/list.html",
        rows=_rows(session, actor, members, {s.id: s.name for s in options}),
        exact=exact,
        filters={
            "q": q,
            "store": store,
            "guide": guide,
            "channel": channel,
            "from": registered_from,
            "to": registered_to,
        },
        guide_unknown=bool(guide_name) and guide_id is None,
        store_options=options,
        guide_options=guide_suggestions(session, actor),
        channels=list(Channel),
        next_url=next_url,
        first_url=first_page_url(request),
    )


def _lookup(session: Session, actor: Actor, search: str) -> tuple[bool, Member | None]:
    """(whether the search is an exact lookup, the active member it finds).

    A mainland mobile is looked up by mobile, an alphanumeric card number by card; anything
    else, or a card number nobody holds, is a name prefix. Like the API's lookups by identity,
    these search the whole chain, so that a member registered elsewhere is found (and may then
    be opened by the viewer).
    """
    if not search:
        return False, None
    try:
        mobile = normalize_mobile(search)
    except ValueError:
        pass
    else:
        return True, visibility.look_up(session, actor, visibility.LookupKind.mobile, mobile)
    if search.isascii() and search.isalnum():
        found = visibility.look_up(session, actor, visibility.LookupKind.card_no, search)
        if found is not None:
            return True, found
    return False, None


def _matches(member: Member, filters: registry.MemberFilter) -> bool:
    """Whether a member found by an exact lookup passes the other filters of the list."""
    return (
        filters.store_id in (None, member.store_id)
        and filters.guide_id in (None, member.guide_id)
        and filters.channel in (None, member.channel)
        and (filters.registered_from is None or member.registered_at >= filters.registered_from)
        and (filters.registered_to is None or member.registered_at < filters.registered_to)
    )


def _rows(
    session: Session, actor: Actor, members: list[Member], store_names: dict[int, str]
) -> list[MemberRow]:
    codes = stores.codes_by_id(session, {m.store_id for m in members if m.store_id})
    guides = staff.usernames_by_id(session, [m.guide_id for m in members if m.guide_id])
    return [
        MemberRow(
            member=presenters.summary(member),
            store_code=codes.get(member.store_id) if member.store_id else None,
            store_name=store_names.get(member.store_id) if member.store_id else None,
            guide=guides.get(member.guide_id) if member.guide_id else None,
        )
        for member in members
    ]


# --- registration -----------------------------------------------------------------------------


@router.get("/new")
def member_new(request: Request, session: Tx, actor: ConsoleActorDep) -> HTMLResponse:
    require_console(actor, member_policy.WRITE)
    options = store_options(session, actor)
    definitions = active_definitions(session)
    values: dict[str, Any] = {
        "gender": Gender.unknown.value,
        "channel": Channel.store.value,
        "store_id": str(options[0].id) if len(options) == 1 else "",
        "guide": actor.name if actor.has_role(Role.guide) else "",
        "consents": [],
    }
    values |= {attribute_field(d.code): shown_attribute(d, None) for d in definitions}
    return _new_form(request, session, actor, definitions, values, NO_ERRORS)


@router.post("/new")
def member_create(
    request: Request, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    require_console(actor, member_policy.WRITE)
    t = t_for(request)
    definitions = active_definitions(session)
    values = _profile_values(form) | read_attributes(form, definitions)
    values |= {
        "store_id": text(form, "store_id"),
        "guide": text(form, "guide"),
        "channel": text(form, "channel"),
        "consents": [v for v in form.getlist("consents") if isinstance(v, str)],
    }
    attributes, problems = parse_attributes(values, definitions, t)
    guide_id = guide_by_username(session, values["guide"]) if values["guide"] else None
    if values["guide"] and guide_id is None:
        problems["guide"] = t("reason.guide")
    payload = {
        "mobile": values["mobile"],
        "name": values["name"],
        "gender": values["gender"] or Gender.unknown.value,
        "birthday": values["birthday"] or None,
        "email": values["email"] or None,
        "store_id": values["store_id"] or None,
        "guide_id": guide_id,
        "channel": values["channel"] or Channel.store.value,
        "consents": {channel: True for channel in values["consents"]},
        "attributes": {code: value for code, value in attributes.items() if value is not None},
    }
    existing: int | None = None
    try:
        data = MemberCreate.model_validate(payload)
        if problems:
            raise _Refused(field_errors(problems, t))
        with attempt(session):
            member = registration.register_member(session, actor, data)
    except MemberExists as error:
        existing = error.extra.get("member_id")
        errors = field_errors({"mobile": t("error.member_exists")}, t, status=409)
    except (ValidationError, PatronError) as error:
        errors = member_errors(error, t, problems)
    except _Refused as refused:
        errors = refused.errors
    else:
        return redirect(member_url(member.id), "flash.member_registered", name=str(member.id))
    return _new_form(request, session, actor, definitions, values, errors, existing)


class _Refused(Exception):
    """Inputs refused before the service was asked."""

    def __init__(self, errors: FormErrors) -> None:
        super().__init__(errors.message)
        self.errors = errors


def _profile_values(form: FormData) -> dict[str, Any]:
    return {name: text(form, name) for name in ("mobile", "name", "gender", "birthday", "email")}


def _new_form(
    request: Request,
    session: Session,
    actor: Actor,
    definitions: list[AttributeOut],
    values: dict[str, Any],
    errors: FormErrors,
    existing: int | None = None,
) -> HTMLResponse:
    return render(
        request,
        "members/form.html",
        status=errors.status,
        member=None,
        values=values,
        errors=errors,
        existing=existing,
        definitions=definitions,
        placeholders={},
        genders=list(Gender),
        channels=FORM_CHANNELS,
        consent_channels=list(ConsentChannel),
        store_options=store_options(session, actor),
        guide_options=guide_suggestions(session, actor),
        today=clock.today().isoformat(),
    )


# --- editing ----------------------------------------------------------------------------------


@router.get("/{member_id:int}/edit")
def member_edit(
    request: Request, member_id: int, session: WriteSessionDep, actor: ConsoleActorDep
) -> HTMLResponse:
    require_console(actor, member_policy.WRITE)
    member = get_active_member(session, actor, member_id)
    shown = presenters.present(session, member, privacy.reveal_pii(session, actor, member))
    definitions = active_definitions(session)
    values: dict[str, Any] = {"gender": shown.gender.value, "no_marketing": shown.no_marketing}
    for name in PII_FIELDS:
        values[name] = "" if shown.pii_masked else (getattr(shown, name) or "")
    for d in definitions:
        value = shown.attributes.get(d.code)
        values[attribute_field(d.code)] = shown_attribute(
            d, None if d.is_pii and shown.pii_masked else value
        )
    return _edit_form(request, member, shown, definitions, values, NO_ERRORS)


@router.post("/{member_id:int}/edit")
def member_update(
    request: Request, member_id: int, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    require_console(actor, member_policy.WRITE)
    t = t_for(request)
    member = get_active_member(session, actor, member_id)
    full = privacy.may_see_pii(actor, member)
    definitions = active_definitions(session)
    values = _profile_values(form) | read_attributes(form, definitions)
    values["no_marketing"] = form.get("no_marketing") is not None
    attributes, problems = parse_attributes(values, definitions, t)
    changes = _changes(member, values, full)
    if values["no_marketing"] != member.no_marketing:
        changes["no_marketing"] = values["no_marketing"]
    current = {
        code: value
        for code, (_, value) in member_attributes.attributes_of(session, member.id).items()
    }
    changed_attributes = {
        d.code: attributes[d.code]
        for d in definitions
        if d.code in attributes
        and not (d.is_pii and not full and attributes[d.code] is None)
        and attributes[d.code] != current.get(d.code)
    }
    if changed_attributes:
        changes["attributes"] = changed_attributes
    try:
        data = MemberUpdate.model_validate(changes)
        if problems:
            raise _Refused(field_errors(problems, t))
        if changes:
            with attempt(session):
                registration.update_member(session, actor, member_id, data)
    except MemberExists:
        errors = field_errors({"mobile": t("error.member_exists")}, t, status=409)
    except (ValidationError, PatronError) as error:
        errors = member_errors(error, t, problems)
    except _Refused as refused:
        errors = refused.errors
    else:
        return redirect(member_url(member_id), "flash.member_updated", name=str(member_id))
    shown = presenters.present(session, member, privacy.reveal_pii(session, actor, member))
    return _edit_form(request, member, shown, definitions, values, errors)


def _changes(member: Member, values: dict[str, Any], full: bool) -> dict[str, Any]:
    """The profile fields that differ; a masked viewer leaves PII empty to keep it."""
    changes: dict[str, Any] = {}
    if values["gender"] and values["gender"] != member.gender:
        changes["gender"] = values["gender"]
    current = {
        "mobile": member.mobile,
        "name": member.name,
        "birthday": member.birthday,
        "email": member.email,
    }
    for name in PII_FIELDS:
        value = values[name]
        if not value and not full:
            continue
        if name == "mobile":
            try:
                same = normalize_mobile(value) == current["mobile"]
            except ValueError:
                same = False
        elif name == "email":
            same = (value.lower() or None) == current["email"]
        else:
            same = (value or None) == current[name]
        if not same:
            changes[name] = value or None
    return changes


def _edit_form(
    request: Request,
    member: Member,
    shown: MemberOut,
    definitions: list[AttributeOut],
    values: dict[str, Any],
    errors: FormErrors,
) -> HTMLResponse:
    placeholders: dict[str, str] = {}
    if shown.pii_masked:
        for name in PII_FIELDS:
            placeholders[name] = str(getattr(shown, name) or "")
        for d in definitions:
            if d.is_pii and shown.attributes.get(d.code) is not None:
                placeholders[attribute_field(d.code)] = str(shown.attributes[d.code])
    return render(
        request,
        "members/form.html",
        status=errors.status,
        member=member,
        shown=shown,
        values=values,
        errors=errors,
        existing=None,
        definitions=definitions,
        placeholders=placeholders,
        genders=list(Gender),
        today=clock.today().isoformat(),
    )
