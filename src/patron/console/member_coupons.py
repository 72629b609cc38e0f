"""The member's coupons on the member page: one page of one status, as cards."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request
from sqlalchemy.orm import Session

from patron.console.coupon_view import CouponFace, Terms, face, scope_store_ids
from patron.console.forms import NO_ERRORS, FormErrors, parse_enum
from patron.console.i18n import Translator
from patron.console.web import ErrorPage, t_for
from patron.core import clock
from patron.core.errors import InvalidInput
from patron.coupons import holding
from patron.coupons.models import Coupon, CouponStatus
from patron.stores import service as stores

MEMBER_COUPONS = 12


@dataclass(frozen=True)
class HeldRow:
    code: str
    status: str
    name: str
    face: CouponFace
    transferable: bool
    issued: str
    # How it ended: redeemed when, voided why.
    note: str


@dataclass(frozen=True)
class HeldCoupons:
    """The member page's coupons: one page of one status, and a refused void or transfer
    (`open` names the form to show again, with what was typed)."""

    status: str
    rows: list[HeldRow]
    next_url: str | None
    statuses: tuple[CouponStatus, ...] = tuple(CouponStatus)
    open: tuple[str, str] | None = None
    values: dict[str, str] = field(default_factory=dict)
    errors: FormErrors = NO_ERRORS
    no_errors: FormErrors = NO_ERRORS


def held_coupons(
    request: Request, session: Session, member_id: int, status: str, cursor: str
) -> HeldCoupons:
    t = t_for(request)
    chosen = parse_enum(CouponStatus, status)
    try:
        page = holding.member_coupons(session, member_id, chosen, cursor or None, MEMBER_COUPONS)
    except InvalidInput as error:
        raise ErrorPage(400) from error
    by_id = holding.templates_of(session, list(page.items))
    codes = stores.codes_by_id(session, scope_store_ids([tp.scope or {} for tp in by_id.values()]))
    now = clock.now()
    rows = []
    for coupon in page.items:
        template = by_id[coupon.template_id]
        terms = Terms.of(template).held(coupon.valid_from, coupon.valid_until)
        rows.append(
            HeldRow(
                code=coupon.code,
                status=holding.status_at(coupon, now).value,
                name=template.name,
                face=face(terms, t, codes),
                transferable=template.transferable,
                issued=t(
                    "coupons.member.issued",
                    at=t.moment(coupon.issued_at),
                    source=t(f"coupon_source.{coupon.source}"),
                ),
                note=_ending(coupon, t),
            )
        )
    return HeldCoupons(
        chosen.value if chosen else "", rows, next_url_for(request, page.next_cursor)
    )


def next_url_for(request: Request, cursor: str | None) -> str | None:
    if cursor is None:
        return None
    url = request.url.include_query_params(coupon_cursor=cursor)
    return f"{url.path}?{url.query}"


def _ending(coupon: Coupon, t: Translator) -> str:
    if coupon.redeemed_at is not None:
        return t(
            "coupons.member.redeemed",
            at=t.moment(coupon.redeemed_at),
            amount=t.yuan(coupon.discount),
        )
    if coupon.voided_at is not None:
        return t("coupons.member.voided", at=t.moment(coupon.voided_at), reason=coupon.void_reason)
    return ""
