from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.orm import Session

from patron.core.actor import SYSTEM, Actor, Role
from patron.core.errors import Forbidden, InvalidInput
from patron.coupons import templates
from patron.coupons.errors import StatusChangeRefused, TemplateLocked
from patron.coupons.models import TemplateStatus
from tests.factories import make_coupon_template


def refusal(error: InvalidInput) -> tuple[str, str]:
    [entry] = error.extra["errors"]
    return entry["field"], entry["code"]


@pytest.mark.parametrize(
    ("fields", "field", "code"),
    [
        ({"amount": None}, "amount", "needed_for_type"),
        (
            {"type": "percent_off", "amount": None, "percent_off": 15},
            "max_discount",
            "needed_for_type",
        ),
        ({"type": "percent_off", "percent_off": 15, "max_discount": 500}, "amount", "not_for_type"),
        ({"type": "gift", "amount": None}, "gift_sku", "needed_for_type"),
        ({"gift_sku": "SKU-1"}, "gift_sku", "not_for_type"),
        ({"valid_from": datetime(2026, 1, 1, tzinfo=UTC)}, "valid_days", "validity_conflict"),
        ({"valid_days": None}, "valid_from", "validity_missing"),
        (
            {
                "valid_days": None,
                "valid_from": datetime(2026, 2, 1, tzinfo=UTC),
                "valid_until": datetime(2026, 1, 1, tzinfo=UTC),
            },
            "valid_until",
            "dates_reversed",
        ),
        ({"scope": {"store_ids": [999_999]}}, "scope.store_ids", "unknown_store"),
    ],
)
def test_each_type_takes_its_own_values_and_one_kind_of_validity(
    session: Session, fields: dict[str, Any], field: str, code: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        make_coupon_template(session, **fields)
    assert refusal(caught.value) == (field, code)


@pytest.mark.parametrize(
    "fields",
    [
        {"threshold": 0},
        {"type": "percent_off", "amount": None, "percent_off": 15, "max_discount": 3000},
        {"type": "voucher", "threshold": 0, "amount": 500},
        {"type": "gift", "amount": None, "gift_sku": "SKU-9"},
        {"type": "shipping", "threshold": 0, "amount": 1000},
    ],
)
def test_every_type_is_made(session: Session, fields: dict[str, Any]) -> None:
    template = make_coupon_template(session, **fields)
    assert template.id
    assert template.status == TemplateStatus.active


def test_created_as_draft_unless_active_is_asked(session: Session) -> None:
    template = make_coupon_template(session, status="draft")
    assert template.status == TemplateStatus.draft
    assert template.created_by == SYSTEM.name


def test_a_draft_changes_anything(session: Session) -> None:
    template = make_coupon_template(session, status="draft")
    templates.update_template(session, SYSTEM, template.id, {"amount": 3000, "threshold": 0})
    assert (template.amount, template.threshold) == (3000, 0)


def test_a_live_template_keeps_its_value_scope_and_validity(session: Session) -> None:
    template = make_coupon_template(session, total_stock=100)
    for changes in ({"amount": 3000}, {"scope": {"skus": ["A"]}}, {"valid_days": 7}):
        with pytest.raises(TemplateLocked):
            templates.update_template(session, SYSTEM, template.id, changes)
    with pytest.raises(TemplateLocked):
        templates.update_template(session, SYSTEM, template.id, {"total_stock": 50})
    templates.update_template(
        session,
        SYSTEM,
        template.id,
        {"name": "新名字", "description": "说明", "total_stock": 200, "amount": 2000},
    )
    assert (template.name, template.total_stock, template.amount) == ("新名字", 200, 2000)


def test_statuses_move_and_ended_is_final(session: Session) -> None:
    template = make_coupon_template(session)
    for status in ("paused", "active", "paused", "ended"):
        templates.update_template(session, SYSTEM, template.id, {"status": status})
        assert template.status == status
    with pytest.raises(StatusChangeRefused):
        templates.update_template(session, SYSTEM, template.id, {"status": "active"})
    with pytest.raises(StatusChangeRefused):
        templates.update_template(session, SYSTEM, template.id, {"name": "x"})


def test_a_live_template_never_becomes_a_draft(session: Session) -> None:
    template = make_coupon_template(session)
    with pytest.raises(StatusChangeRefused):
        templates.update_template(session, SYSTEM, template.id, {"status": "draft"})


def test_a_live_template_without_a_stock_limit_keeps_none(session: Session) -> None:
    template = make_coupon_template(session)
    with pytest.raises(TemplateLocked):
        templates.update_template(session, SYSTEM, template.id, {"total_stock": 10})


def test_only_hq_marketing_and_admins_design_templates(session: Session) -> None:
    manager = Actor("staff", 1, "店长", Role.store_manager, frozenset({1}))
    with pytest.raises(Forbidden):
        templates.create_template(
            session, manager, {"name": "x", "type": "voucher", "amount": 1, "valid_days": 1}
        )
