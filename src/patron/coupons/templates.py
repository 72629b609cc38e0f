"""Coupon templates: what HQ marketing designs, checked per type, and how a template moves from
draft to active, paused and ended. Once a template has been live (active or paused) its value,
scope and validity stay as its coupons were issued: only the status, a higher stock, the name
and the description change."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.audit import service as audit
from patron.core.actor import Actor
from patron.core.errors import InvalidInput
from patron.core.pagination import PageResult, paginate
from patron.core.reasons import Reason
from patron.coupons.errors import StatusChangeRefused, TemplateLocked, TemplateNotFound
from patron.coupons.models import CouponTemplate, CouponType, TemplateStatus
from patron.coupons.permissions import EDIT_TEMPLATES
from patron.coupons.schemas import ScopeIn, TemplateIn
from patron.stores import service as stores

# The fields a template is made of, as TemplateIn names them.
FIELDS = tuple(TemplateIn.model_fields)
# What each type takes beside the threshold; the other value fields stay empty.
TYPE_VALUES: dict[CouponType, tuple[str, ...]] = {
    CouponType.cash_off: ("amount",),
    CouponType.percent_off: ("percent_off", "max_discount"),
    CouponType.voucher: ("amount",),
    CouponType.gift: ("gift_sku",),
    CouponType.shipping: ("amount",),
}
VALUE_FIELDS = ("amount", "percent_off", "max_discount", "gift_sku")
# What a live (active or paused) template may still change.
LIVE_CHANGES = frozenset({"name", "description", "status", "total_stock"})
NOT_NULL = frozenset(
    {
        "name",
        "description",
        "type",
        "status",
        "threshold",
        "scope",
        "stacks_with_tier_discount",
        "stacks_with_points",
        "exclusive",
        "transferable",
        "return_on_refund",
    }
)
MOVES: dict[TemplateStatus, frozenset[TemplateStatus]] = {
    TemplateStatus.draft: frozenset({TemplateStatus.active, TemplateStatus.ended}),
    TemplateStatus.active: frozenset({TemplateStatus.paused, TemplateStatus.ended}),
    TemplateStatus.paused: frozenset({TemplateStatus.active, TemplateStatus.ended}),
    TemplateStatus.ended: frozenset(),
}


def create_template(session: Session, actor: Actor, values: dict[str, Any]) -> CouponTemplate:
    """A new template from TemplateIn's fields (a dump of it, enums or their values): a draft
    unless `status` is active."""
    EDIT_TEMPLATES.check(actor)
    values = TemplateIn.model_validate(values).model_dump(mode="json")
    check_values(session, values)
    template = CouponTemplate(**_stored(values), created_by=actor.name, issued_count=0)
    session.add(template)
    session.flush()
    audit.record(
        session, actor, "coupon.template_create", "coupon_template", template.id, after=values
    )
    return template


def update_template(
    session: Session, actor: Actor, template_id: int, changes: dict[str, Any]
) -> CouponTemplate:
    """Apply `changes` (TemplatePatch's fields that were sent; a null clears an optional value).
    A live template refuses value, scope and validity changes (`template_locked`) and a lower
    stock; an ended one refuses everything; statuses move as MOVES says."""
    EDIT_TEMPLATES.check(actor)
    template = get_template(session, template_id, for_update=True)
    current = template_values(template)
    for field in changes.keys() & NOT_NULL:
        if changes[field] is None:
            raise InvalidInput(field, "cannot be null", code=Reason.missing)
    changes = to_jsonable_python(changes)
    changed = {k: v for k, v in changes.items() if _differs(current.get(k), v)}
    if not changed:
        return template
    status = TemplateStatus(template.status)
    if status is TemplateStatus.ended:
        raise StatusChangeRefused("an ended template is final")
    if status in (TemplateStatus.active, TemplateStatus.paused):
        _check_live_changes(template, changed)
    if "status" in changed and TemplateStatus(changed["status"]) not in MOVES[status]:
        raise StatusChangeRefused(f"a {status} template cannot become {changed['status']}")
    # TemplateIn takes the statuses a template is created with; the move was checked above.
    merged = current | changed | {"status": TemplateStatus.draft.value}
    merged = TemplateIn.model_validate(merged).model_dump(mode="json")
    merged["status"] = changed.get("status", template.status)
    check_values(session, merged)
    for field, value in _stored({k: merged[k] for k in changed}).items():
        setattr(template, field, value)
    session.flush()
    audit.record(
        session,
        actor,
        "coupon.template_update",
        "coupon_template",
        template.id,
        before={k: current.get(k) for k in changed},
        after=changed,
    )
    return template


def _check_live_changes(template: CouponTemplate, changed: dict[str, Any]) -> None:
    locked = sorted(changed.keys() - LIVE_CHANGES)
    if locked:
        raise TemplateLocked(
            f"a {template.status} template keeps its {', '.join(locked)}; "
            "create a new template instead",
            fields=locked,
        )
    if "total_stock" in changed:
        new, old = changed["total_stock"], template.total_stock
        if new is not None and (old is None or new < old):  # None: no limit
            raise TemplateLocked(
                f"a {template.status} template's stock only grows (now {old or 'unlimited'})",
                fields=["total_stock"],
            )


def _differs(current: Any, new: Any) -> bool:
    if isinstance(current, str) and isinstance(new, str):
        try:  # times: the same moment written with another offset is no change
            return datetime.fromisoformat(current) != datetime.fromisoformat(new)
        except ValueError:
            pass
    return bool(current != new)


def check_values(session: Session, values: dict[str, Any]) -> None:
    """The rules across fields, on a TemplateIn dump: each type's value fields, one kind of
    validity, and known stores. (Stock needs no check against the coupons issued: only a live
    template has issued any, and its stock only grows.)"""
    kind = CouponType(values["type"])
    for field in VALUE_FIELDS:
        given = values.get(field) is not None
        if field in TYPE_VALUES[kind] and not given:
            raise InvalidInput(field, f"a {kind} coupon needs {field}", code=Reason.needed_for_type)
        if field not in TYPE_VALUES[kind] and given:
            raise InvalidInput(field, f"a {kind} coupon takes no {field}", code=Reason.not_for_type)
    _check_validity(values)
    scope = values["scope"]
    stores.check_ids_exist(
        session, [*scope["store_ids"], *scope["exclude_store_ids"]], field="scope.store_ids"
    )


def _check_validity(values: dict[str, Any]) -> None:
    start, end, days = values.get("valid_from"), values.get("valid_until"), values.get("valid_days")
    if days is not None and (start is not None or end is not None):
        raise InvalidInput(
            "valid_days",
            "give fixed dates (valid_from, valid_until) or valid_days, not both",
            code=Reason.validity_conflict,
        )
    if days is None and (start is None or end is None):
        raise InvalidInput(
            "valid_from" if start is None else "valid_until",
            "give valid_from and valid_until, or valid_days",
            code=Reason.validity_missing,
        )
    if (
        start is not None
        and end is not None
        and (datetime.fromisoformat(start) >= datetime.fromisoformat(end))
    ):
        raise InvalidInput("valid_until", "must be after valid_from", code=Reason.dates_reversed)


def _stored(values: dict[str, Any]) -> dict[str, Any]:
    """A TemplateIn dump as the columns take it: times as datetimes."""
    stored = dict(values)
    for field in ("valid_from", "valid_until"):
        if isinstance(stored.get(field), str):
            stored[field] = datetime.fromisoformat(stored[field])
    return stored


def template_values(template: CouponTemplate) -> dict[str, Any]:
    """The template's TemplateIn fields, as JSON values."""
    values = {field: getattr(template, field) for field in FIELDS}
    values["scope"] = ScopeIn.model_validate(template.scope or {}).model_dump(mode="json")
    return dict(to_jsonable_python(values))


def get_template(session: Session, template_id: int, *, for_update: bool = False) -> CouponTemplate:
    """A template by id; `for_update` locks its row (issuing holds it: stock and limits)."""
    query = select(CouponTemplate).where(CouponTemplate.id == template_id)
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    template = session.scalar(query)
    if template is None:
        raise TemplateNotFound(f"no coupon template {template_id}")
    return template


def list_templates(
    session: Session, status: TemplateStatus | None, cursor: str | None, limit: int
) -> PageResult[CouponTemplate]:
    """Templates, newest first, optionally of one status."""
    query = select(CouponTemplate)
    if status is not None:
        query = query.where(CouponTemplate.status == status.value)
    return paginate(session, query, CouponTemplate.id, cursor, limit)
