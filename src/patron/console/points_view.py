"""The points ledger in the console's words: signed amounts, entry kinds and reasons, and rules
said as an operator would say them ("×2 on Saturdays and Sundays in SH001")."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from patron.console.i18n import Translator, has_key, num
from patron.core.actor import Actor
from patron.points.models import EntryKind, PointsEntry, PointsRule, RuleEffect

WEEKDAYS = tuple(range(1, 8))  # ISO: 1 = Monday … 7 = Sunday
BIRTHDAY_CHOICES = ("day", "month")
# The service's notes that say nothing the entry's kind does not already say.
SYSTEM_REASONS = ("expired", "order refunded")


def signed(points: int) -> str:
    """+200, -500: a change of balance as the ledger shows it."""
    return f"+{num(points)}" if points > 0 else num(points)


def factor_text(amount: int) -> str:
    """A multiplier in hundredths as typed: 200 → "2", 150 → "1.5"."""
    return f"{Decimal(amount) / 100:f}"


def kind_label(kind: str, t: Translator) -> str:
    key = f"points.kind.{kind}"
    return t(key) if has_key(key) else kind


def reason_text(
    kind: str, reason: str, merge_partner_id: int | None, debt_paid: int, t: Translator
) -> str:
    """An entry's reason in the console's language, from the entry's columns: the other member
    of a merge, the points that paid off debt, else the reason a person gave."""
    if kind == EntryKind.merge_out and merge_partner_id is not None:
        return t("points.reason.merged_into", id=merge_partner_id)
    if kind == EntryKind.merge_in and merge_partner_id is not None:
        return t("points.reason.merged_from", id=merge_partner_id)
    if debt_paid:
        return t("points.reason.paid_debt", points=num(debt_paid))
    return "" if reason in SYSTEM_REASONS else reason


def entry_reason(entry: PointsEntry, t: Translator) -> str:
    return reason_text(entry.kind, entry.reason, entry.merge_partner_id, entry.debt_paid, t)


# --- ledger entries ---------------------------------------------------------------------------


@dataclass(frozen=True)
class EntryRow:
    entry: PointsEntry
    kind: str
    points: str
    reason: str
    # The rules an earning fired, and what a refund could not give back.
    details: list[str] = field(default_factory=list)
    store_code: str | None = None
    order_label: str | None = None
    # Where the order opens, when the viewer's stores include it.
    order_url: str | None = None


def entry_rows(
    entries: Sequence[PointsEntry],
    t: Translator,
    actor: Actor,
    store_codes: Mapping[int, str],
    orders: Mapping[int, str],
) -> list[EntryRow]:
    return [_entry_row(e, t, actor, store_codes, orders) for e in entries]


def _entry_row(
    entry: PointsEntry,
    t: Translator,
    actor: Actor,
    store_codes: Mapping[int, str],
    orders: Mapping[int, str],
) -> EntryRow:
    details = []
    if entry.kind == EntryKind.earn and entry.rules:
        details.append(" + ".join(_fired(part, t) for part in entry.rules))
    if entry.lapsed:
        details.append(t("points.lapsed", points=num(entry.lapsed)))
    order_label = url = None
    if entry.order_id is not None:
        order_label = orders.get(entry.order_id, f"#{entry.order_id}")
        if actor.sees_store(entry.store_id):
            url = f"/console/orders/{entry.order_id}"
    code = store_codes.get(entry.store_id) if entry.store_id is not None else None
    return EntryRow(
        entry=entry,
        kind=kind_label(entry.kind, t),
        points=signed(entry.points),
        reason=entry_reason(entry, t),
        details=details,
        store_code=code,
        order_label=order_label,
        order_url=url,
    )


def _fired(part: Mapping[str, Any], t: Translator) -> str:
    name = t("points.base") if part.get("rule_id") is None else str(part.get("name", ""))
    return f"{name} {num(int(part.get('points', 0)))}"


# --- rules ------------------------------------------------------------------------------------


def effect_text(rule: PointsRule, t: Translator) -> str:
    if rule.effect == RuleEffect.multiply:
        return t("rule.effect_text.multiply", factor=factor_text(rule.amount))
    return t(f"rule.effect_text.{rule.effect}", points=num(rule.amount))


def caps_text(rule: PointsRule, t: Translator) -> list[str]:
    caps = []
    if rule.cap_per_order is not None:
        caps.append(t("rule.cap_order_text", points=num(rule.cap_per_order)))
    if rule.cap_per_member_day is not None:
        caps.append(t("rule.cap_day_text", points=num(rule.cap_per_member_day)))
    return caps


def weekday_names(days: Iterable[int], t: Translator) -> str:
    return t("list.sep").join(t(f"weekday.{d}") for d in sorted(days) if d in WEEKDAYS)


def conditions_text(
    conditions: Mapping[str, Any],
    t: Translator,
    store_codes: Mapping[int, str],
    category_names: Mapping[int, str],
) -> list[str]:
    """When a rule applies, one phrase per condition; "every order" when it has none."""
    sep = t("list.sep")

    def listed(values: Iterable[Any], names: Mapping[Any, str] | None = None) -> str:
        return sep.join(names.get(v, f"#{v}") if names is not None else str(v) for v in values)

    parts = []
    if conditions.get("store_ids"):
        parts.append(t("rule.cond.stores", list=listed(conditions["store_ids"], store_codes)))
    if conditions.get("channels"):
        channels = {c: t(f"order_channel.{c}") for c in conditions["channels"]}
        parts.append(t("rule.cond.channels", list=listed(conditions["channels"], channels)))
    if conditions.get("weekdays"):
        parts.append(t("rule.cond.weekdays", list=weekday_names(conditions["weekdays"], t)))
    start, end = conditions.get("date_from"), conditions.get("date_to")
    if start and end:
        parts.append(t("rule.cond.dates", start=start, end=end))
    elif start:
        parts.append(t("rule.cond.date_from", start=start))
    elif end:
        parts.append(t("rule.cond.date_to", end=end))
    if conditions.get("birthday") in BIRTHDAY_CHOICES:
        parts.append(t(f"rule.cond.birthday.{conditions['birthday']}"))
    if conditions.get("category_ids"):
        categories = listed(conditions["category_ids"], category_names)
        parts.append(t("rule.cond.categories", list=categories))
    if conditions.get("skus"):
        parts.append(t("rule.cond.skus", list=listed(conditions["skus"])))
    if conditions.get("product_ids"):
        products = sep.join(f"#{p}" for p in conditions["product_ids"])
        parts.append(t("rule.cond.products", list=products))
    if conditions.get("attributes"):
        pairs = sep.join(f"{k} = {v}" for k, v in conditions["attributes"].items())
        parts.append(t("rule.cond.attributes", list=pairs))
    return parts or [t("rule.cond.any")]
