"""A coupon as the member sees it: its value ("¥20", "8.5折"), when it applies ("满100可用"), how
long it is valid and where. The designer's script (static/coupon-preview.js) draws the same
card from the form with the same words, which `card_words` hands it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from babel.numbers import format_decimal

from patron.console.i18n import Translator, catalog
from patron.coupons.models import CouponTemplate, CouponType
from patron.orders.models import OrderChannel

# The scope's lists, each with its exclusion list, in the order the card names them.
SCOPE_KINDS = ("store_ids", "channels", "category_codes", "skus")
# How the card says each list ("限门店 SH001") and names it in an exclusion ("不含门店 SH001"):
# stores by code, channels by name, the rest as stored.
SCOPE_WORDS = {
    "store_ids": "coupon.scope.stores",
    "channels": "coupon.scope.channels",
    "category_codes": "coupon.scope.categories",
    "skus": "coupon.scope.skus",
}
SCOPE_NAMES = {kind: f"{words}.name" for kind, words in SCOPE_WORDS.items()}


def exclusion(kind: str) -> str:
    return f"exclude_{kind}"


@dataclass(frozen=True)
class Terms:
    """What a card shows of a template, or of a coupon (whose own dates replace the template's
    validity rule)."""

    type: str
    threshold: int = 0
    amount: int | None = None
    percent_off: int | None = None
    max_discount: int | None = None
    gift_sku: str | None = None
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    valid_days: int | None = None
    scope: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, template: CouponTemplate) -> Terms:
        return cls(
            type=template.type,
            threshold=template.threshold or 0,
            amount=template.amount,
            percent_off=template.percent_off,
            max_discount=template.max_discount,
            gift_sku=template.gift_sku,
            valid_from=template.valid_from,
            valid_until=template.valid_until,
            valid_days=template.valid_days,
            scope=template.scope or {},
        )

    def held(self, valid_from: datetime, valid_until: datetime) -> Terms:
        """The terms of a coupon issued with these dates."""
        return Terms(
            self.type,
            self.threshold,
            self.amount,
            self.percent_off,
            self.max_discount,
            self.gift_sku,
            valid_from,
            valid_until,
            None,
            self.scope,
        )


@dataclass(frozen=True)
class CouponFace:
    type: str
    kind: str  # 满减券, 折扣券 ...
    value: str
    conditions: list[str]
    validity: str
    scope: list[str]


def short_yuan(fen: int, t: Translator) -> str:
    """An amount in yuan without needless decimals: 2000 → "20", 1950 → "19.50"."""
    pattern = "#,##0" if fen % 100 == 0 else "#,##0.00"
    return str(format_decimal(Decimal(fen) / 100, pattern, locale=t.locale))


def percent_rate(percent_off: int, lang: str) -> str:
    """Chinese says what is paid (15% off is 8.5折, 20% off is 8折); English what is taken off."""
    if lang != "zh":
        return str(percent_off)
    paid = 100 - percent_off
    return str(paid // 10) if paid % 10 == 0 else f"{paid / 10:.1f}".rstrip("0")


def face(terms: Terms, t: Translator, store_codes: Mapping[int, str]) -> CouponFace:
    return CouponFace(
        type=terms.type,
        kind=t(f"coupon_type.{terms.type}"),
        value=value_text(terms, t),
        conditions=condition_texts(terms, t),
        validity=validity_text(terms, t),
        scope=scope_texts(terms.scope, t, store_codes),
    )


def value_text(terms: Terms, t: Translator) -> str:
    if terms.type == CouponType.percent_off:
        if terms.percent_off is None:
            return "—"
        return t("coupon.value.percent_off", rate=percent_rate(terms.percent_off, t.lang))
    if terms.type == CouponType.gift:
        return t("coupon.value.gift")
    if terms.amount is None:
        return "—"
    return f"¥{short_yuan(terms.amount, t)}"


def condition_texts(terms: Terms, t: Translator) -> list[str]:
    parts = []
    if terms.type == CouponType.gift and terms.gift_sku:
        parts.append(t("coupon.cond.gift", sku=terms.gift_sku))
    if terms.type == CouponType.shipping:
        parts.append(t("coupon.cond.shipping"))
    if terms.threshold > 0:
        parts.append(t("coupon.cond.threshold", amount=short_yuan(terms.threshold, t)))
    elif terms.type != CouponType.gift:
        parts.append(t("coupon.cond.no_threshold"))
    if terms.type == CouponType.percent_off and terms.max_discount:
        parts.append(t("coupon.cond.max_discount", amount=short_yuan(terms.max_discount, t)))
    return parts


def validity_text(terms: Terms, t: Translator) -> str:
    if terms.valid_days is not None:
        return t.ngettext(
            "coupon.valid.days", "coupon.valid.days", terms.valid_days, days=terms.valid_days
        )
    if terms.valid_from and terms.valid_until:
        return t("coupon.valid.dates", start=t.day(terms.valid_from), end=t.day(terms.valid_until))
    if terms.valid_until:
        return t("coupon.valid.until", end=t.day(terms.valid_until))
    return t("coupon.valid.unset")


def scope_texts(
    scope: Mapping[str, Any], t: Translator, store_codes: Mapping[int, str]
) -> list[str]:
    """One phrase per list the scope names ("限门店 SH001、BJ001", "不含品类 GIFT"); "全场通用"
    when it names none."""
    sep = t("list.sep")
    parts = []
    for kind in SCOPE_KINDS:
        for key, words in ((kind, SCOPE_WORDS[kind]), (exclusion(kind), "coupon.scope.except")):
            values = scope.get(key) or []
            if not values:
                continue
            listed = sep.join(_scope_name(kind, v, t, store_codes) for v in values)
            if key == kind:
                parts.append(t(words, list=listed))
            else:
                parts.append(t(words, what=t(SCOPE_NAMES[kind]), list=listed))
    return parts or [t("coupon.scope.all")]


def _scope_name(kind: str, value: Any, t: Translator, store_codes: Mapping[int, str]) -> str:
    if kind == "store_ids":
        return store_codes.get(value, f"#{value}") if isinstance(value, int) else str(value)
    if kind == "channels":
        return t(f"order_channel.{value}")
    return str(value)


def scope_store_ids(scopes: Sequence[Mapping[str, Any]]) -> set[int]:
    """The stores a few scopes name, to look their codes up at once."""
    return {
        i
        for scope in scopes
        for key in ("store_ids", "exclude_store_ids")
        for i in scope.get(key) or ()
        if isinstance(i, int)
    }


def card_words(t: Translator) -> dict[str, Any]:
    """The card's words for the designer's script, placeholders unfilled: it fills them."""
    keys = [
        "coupon.value.percent_off",
        "coupon.value.gift",
        "coupon.cond.gift",
        "coupon.cond.shipping",
        "coupon.cond.threshold",
        "coupon.cond.no_threshold",
        "coupon.cond.max_discount",
        "coupon.valid.dates",
        "coupon.valid.until",
        "coupon.valid.unset",
        "coupon.scope.except",
        "coupon.scope.all",
        "list.sep",
        "coupons.card.unnamed",
        *SCOPE_WORDS.values(),
        *SCOPE_NAMES.values(),
    ]
    keys += [f"coupon_type.{kind}" for kind in CouponType]
    keys += [f"order_channel.{channel}" for channel in OrderChannel]
    messages = catalog(t.lang)
    words: dict[str, Any] = {key: messages.gettext(key) for key in keys}
    # The singular and the plural: the script picks one by the count, as English does.
    words["coupon.valid.days"] = [
        messages.ngettext("coupon.valid.days", "coupon.valid.days", n) for n in (1, 2)
    ]
    return {"lang": t.lang, "locale": "zh-CN" if t.lang == "zh" else "en", "words": words}
