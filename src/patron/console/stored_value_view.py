"""How the stored-value screens say things: a package as 充500送50, amounts in yuan with their
sign, and the statement's lines with their store, operator and the documents behind them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from patron.console.coupon_view import short_yuan
from patron.console.i18n import Translator, has_key
from patron.console.message_ids import N_
from patron.core import clock
from patron.core.actor import Actor
from patron.stored_value.models import RechargePackage, StoredValueEntry

# Ids built from a value: the statement's kinds, the payment methods of a recharge, the
# packages' statuses; and the refusals form_errors finds by their code.
BUILT_IDS = (
    N_("sv.kind.recharge"),
    N_("sv.kind.bonus"),
    N_("sv.kind.spend"),
    N_("sv.kind.spend_reversal"),
    N_("sv.kind.refund"),
    N_("sv.kind.adjust"),
    N_("sv.kind.merge_in"),
    N_("sv.kind.merge_out"),
    N_("sv.method.cash"),
    N_("sv.method.bank_card"),
    N_("sv.method.wechat_pay"),
    N_("sv.method.alipay"),
    N_("sv.method.other"),
    N_("sv.package_status.active"),
    N_("sv.package_status.inactive"),
    N_("flash.sv_package_active"),
    N_("flash.sv_package_inactive"),
    N_("error.balance_cap_exceeded"),
    N_("error.real_name_required"),
    N_("error.package_not_found"),
    N_("error.package_coupons_unavailable"),
    N_("error.package_not_available"),
    N_("error.package_limit_reached"),
    N_("error.nothing_to_refund"),
    N_("error.insufficient_balance"),
    # The reasons stored value added (patron.core.reasons), said beside a field.
    N_("error.zero_adjustment"),
    N_("error.code_or_password"),
    N_("error.verification_without_stored_value"),
    N_("error.verifications_differ"),
    N_("error.stored_value_needs_member"),
    N_("error.password_too_simple"),
)


def package_face(package: RechargePackage, t: Translator) -> str:
    """充500送50 (Pay ¥500, get ¥50 free); a package without bonus is 充500."""
    pay = short_yuan(package.pay, t)
    if not package.bonus:
        return t("sv.package.face_plain", pay=pay)
    return t("sv.package.face", pay=pay, bonus=short_yuan(package.bonus, t))


def last_day(until: datetime | None) -> datetime | None:
    """The last day a package sells: its end is the start of the day after (exclusive)."""
    return until - timedelta(seconds=1) if until else None


def signed_yuan(fen: int, t: Translator) -> str:
    return f"+{t.yuan(fen)}" if fen > 0 else t.yuan(fen)


def kind_label(kind: str, t: Translator) -> str:
    key = f"sv.kind.{kind}"
    return t(key) if has_key(key) else kind


@dataclass(frozen=True)
class EntryRow:
    entry: StoredValueEntry
    kind: str
    principal: str
    bonus: str
    total: str
    store_code: str | None
    # The documents behind the movement: order (with a link where the viewer may open it),
    # recharge, count card, the other member of a merge.
    order_label: str | None = None
    order_url: str | None = None
    references: list[str] = field(default_factory=list)


def entry_rows(
    entries: Sequence[StoredValueEntry],
    t: Translator,
    actor: Actor,
    store_codes: Mapping[int, str],
    orders: Mapping[int, str],
) -> list[EntryRow]:
    return [_entry_row(e, t, actor, store_codes, orders) for e in entries]


def _entry_row(
    entry: StoredValueEntry,
    t: Translator,
    actor: Actor,
    store_codes: Mapping[int, str],
    orders: Mapping[int, str],
) -> EntryRow:
    order_label = order_url = None
    if entry.order_id is not None:
        order_label = orders.get(entry.order_id, f"#{entry.order_id}")
        if actor.sees_store(entry.store_id):
            order_url = f"/console/orders/{entry.order_id}"
    references = []
    if entry.recharge_id is not None:
        references.append(t("sv.ref.recharge", id=entry.recharge_id))
    if entry.refund_id is not None:
        references.append(t("sv.ref.refund", id=entry.refund_id))
    if entry.count_card_id is not None:
        references.append(t("sv.ref.count_card", id=entry.count_card_id))
    if entry.merge_partner_id is not None:
        references.append(t("sv.ref.merge", id=entry.merge_partner_id))
    if entry.reason:
        references.append(entry.reason)
    return EntryRow(
        entry=entry,
        kind=kind_label(entry.kind, t),
        principal=signed_yuan(entry.principal, t),
        bonus=signed_yuan(entry.bonus, t),
        total=signed_yuan(entry.principal + entry.bonus, t),
        store_code=store_codes.get(entry.store_id) if entry.store_id is not None else None,
        order_label=order_label,
        order_url=order_url,
        references=references,
    )


def in_cooling_off(created_at: datetime, days: int) -> bool:
    """Whether to offer the cooling-off refund: the service decides, this only hides the
    button once the setting's days are over."""
    return clock.now() < created_at + timedelta(days=days)
