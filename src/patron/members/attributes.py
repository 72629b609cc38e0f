"""Custom member attributes: their definitions and each member's values."""

from __future__ import annotations

import json
import math
from datetime import date
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from patron.audit import service as audit
from patron.core.actor import Actor
from patron.core.db import unique_or
from patron.core.errors import InvalidInput
from patron.core.reasons import Reason
from patron.members.errors import AttributeExists, AttributeNotFound
from patron.members.models import (
    AttributeDefinition,
    AttributeType,
    Member,
    MemberAttributeValue,
)
from patron.members.schemas import (
    AttributeCreate,
    AttributeUpdate,
)

TEXT_ATTRIBUTE_MAX = 500


def list_attributes(session: Session, active_only: bool = False) -> list[AttributeDefinition]:
    query = select(AttributeDefinition).order_by(AttributeDefinition.id)
    if active_only:
        query = query.where(AttributeDefinition.is_active.is_(True))
    return list(session.scalars(query))


def _check_options(kind: AttributeType, options: list[str]) -> None:
    is_choice = kind.is_choice
    if is_choice and not options:
        raise InvalidInput(
            "options", "a choice attribute needs options", code=Reason.options_required
        )
    if not is_choice and options:
        raise InvalidInput(
            "options", "only choice attributes take options", code=Reason.options_not_allowed
        )
    if len(set(options)) != len(options):
        raise InvalidInput("options", "options repeat", code=Reason.options_repeat)


def create_attribute(session: Session, actor: Actor, data: AttributeCreate) -> AttributeDefinition:
    _check_options(data.type, data.options)
    definition = AttributeDefinition(
        code=data.code,
        label=data.label,
        type=data.type.value,
        options=json.dumps(data.options, ensure_ascii=False),
        required=data.required,
        is_pii=data.is_pii,
    )
    taken = AttributeExists(f"attribute {data.code} exists", field="code")
    with unique_or(session, {"uq_member_attribute_definitions_code": taken}):
        session.add(definition)
    audit.record(
        session,
        actor,
        "member_attribute.create",
        "member_attribute",
        definition.id,
        after=data.model_dump(mode="json"),
    )
    return definition


def get_attribute(session: Session, attribute_id: int) -> AttributeDefinition:
    definition = session.get(AttributeDefinition, attribute_id)
    if definition is None:
        raise AttributeNotFound(f"no attribute {attribute_id}")
    return definition


def _audited(definition: AttributeDefinition) -> dict[str, Any]:
    """What an attribute update's audit compares: the definition as the API shows it."""
    fields = ("id", "code", "label", "type", "required", "is_pii", "is_active")
    return {f: getattr(definition, f) for f in fields} | {"options": json.loads(definition.options)}


def update_attribute(
    session: Session, actor: Actor, attribute_id: int, data: AttributeUpdate
) -> AttributeDefinition:
    definition = get_attribute(session, attribute_id)
    before = _audited(definition)
    if data.options is not None:
        _check_options(AttributeType(definition.type), data.options)
        definition.options = json.dumps(data.options, ensure_ascii=False)
    for field in ("label", "required", "is_active"):
        value = getattr(data, field)
        if value is not None:
            setattr(definition, field, value)
    session.flush()
    old, new = audit.changed_fields(before, _audited(definition))
    audit.record(
        session,
        actor,
        "member_attribute.update",
        "member_attribute",
        definition.id,
        before=old,
        after=new,
    )
    return definition


def _parse_attribute(definition: AttributeDefinition, raw: Any) -> Any:
    field = f"attributes.{definition.code}"
    kind = AttributeType(definition.type)
    options = json.loads(definition.options)
    if kind is AttributeType.text:
        if not isinstance(raw, str) or len(raw) > TEXT_ATTRIBUTE_MAX:
            raise InvalidInput(
                field,
                f"must be text of at most {TEXT_ATTRIBUTE_MAX} characters",
                code=Reason.too_long,
            )
        return raw
    if kind is AttributeType.number:
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise InvalidInput(field, "must be a number", code=Reason.not_a_number)
        if isinstance(raw, float) and not math.isfinite(raw):
            raise InvalidInput(field, "must be a finite number", code=Reason.not_a_number)
        return raw
    if kind is AttributeType.date:
        try:
            return date.fromisoformat(str(raw)).isoformat()
        except ValueError as exc:
            raise InvalidInput(
                field, "must be a date (YYYY-MM-DD)", code=Reason.not_a_date
            ) from exc
    if kind is AttributeType.single_choice:
        if raw not in options:
            raise InvalidInput(
                field, f"must be one of {', '.join(options)}", code=Reason.not_a_choice
            )
        return raw
    if not isinstance(raw, list) or any(item not in options for item in raw):
        raise InvalidInput(
            field, f"must be a list drawn from {', '.join(options)}", code=Reason.not_a_choice
        )
    return list(dict.fromkeys(raw))


def set_attributes(
    session: Session, member: Member, values: dict[str, Any], enforce_required: bool
) -> None:
    """Validate and store attribute values; None removes a value."""
    definitions = {d.code: d for d in list_attributes(session, active_only=True)}
    for code in values:
        if code not in definitions:
            raise InvalidInput(
                f"attributes.{code}", "no such member attribute", code=Reason.unknown_attribute
            )
    current = {
        row.attribute_id: row
        for row in session.scalars(
            select(MemberAttributeValue).where(MemberAttributeValue.member_id == member.id)
        )
    }
    for code, raw in values.items():
        definition = definitions[code]
        row = current.get(definition.id)
        if raw is None or raw == "" or raw == []:
            if row is not None:
                session.delete(row)
                del current[definition.id]
            continue
        encoded = json.dumps(_parse_attribute(definition, raw), ensure_ascii=False)
        if row is None:
            row = MemberAttributeValue(member_id=member.id, attribute_id=definition.id)
            session.add(row)
            current[definition.id] = row
        row.value, row.secret_value = (None, encoded) if definition.is_pii else (encoded, None)
    if enforce_required:
        for definition in definitions.values():
            if definition.required and definition.id not in current:
                raise InvalidInput(
                    f"attributes.{definition.code}",
                    f"{definition.label} is required",
                    code=Reason.missing,
                )
    session.flush()


def attributes_of(session: Session, member_id: int) -> dict[str, tuple[AttributeDefinition, Any]]:
    rows = session.execute(
        select(AttributeDefinition, MemberAttributeValue)
        .join(MemberAttributeValue, MemberAttributeValue.attribute_id == AttributeDefinition.id)
        .where(MemberAttributeValue.member_id == member_id)
        .order_by(AttributeDefinition.id)
    )
    return {
        definition.code: (definition, json.loads(value.secret_value or value.value or "null"))
        for definition, value in rows
    }


def readable_values(code: str) -> Select[int, str | None]:
    """(member_id, value) of the attribute with that code, as JSON text (`json.dumps`, not
    ASCII-escaped); none for a PII attribute, whose values are encrypted (segment rules)."""
    definitions = select(AttributeDefinition.id).where(
        AttributeDefinition.code == code, AttributeDefinition.is_pii.is_(False)
    )
    return select(MemberAttributeValue.member_id, MemberAttributeValue.value).where(
        MemberAttributeValue.attribute_id.in_(definitions.scalar_subquery()),
        MemberAttributeValue.value.is_not(None),
    )
