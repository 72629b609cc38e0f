from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query, Response

from patron.core import clock, export
from patron.core.actor import Actor
from patron.core.moments import Day
from patron.core.openapi import errors
from patron.core.pagination import Page, paginate
from patron.count_cards.errors import ProductNotActive
from patron.deps import ActorDep, IdempotentDep, OneHopRouter, SessionDep, require
from patron.members import errors as member_errors
from patron.members import visibility
from patron.stored_value import (
    adjustments,
    packages,
    payments,
    permissions,
    queries,
    recharges,
    reports,
)
from patron.stored_value.errors import (
    BalanceCapExceeded,
    CoolingOffOver,
    InsufficientBalance,
    MemberCodeUsed,
    NothingToRefund,
    NotHomeStore,
    PackageLimitReached,
    PackageNotAvailable,
    PackageNotFound,
    RealNameRequired,
    RechargeNotFound,
    RechargeRefunded,
    RechargeUsed,
    StoredValueLocked,
    VerificationFailed,
    VerificationRequired,
)
from patron.stored_value.models import StoredValueEntry
from patron.stored_value.schemas import (
    AccountRefundIn,
    BalanceOut,
    EntryOut,
    FiguresOut,
    HoldingOut,
    LiabilityOut,
    LiabilityRowOut,
    PackageIn,
    PackageOut,
    PackageUpdate,
    PaymentPasswordIn,
    RechargeIn,
    RechargeOut,
    SettlementEntryOut,
    SettlementOut,
    SettlementRowOut,
    StoredValueAdjustmentIn,
)

router = OneHopRouter(tags=["stored value"])
Marketing = Annotated[Actor, Depends(require(permissions.EDIT_PACKAGES))]
Till = Annotated[Actor, Depends(require(permissions.RECHARGE))]
Finance = Annotated[Actor, Depends(require(permissions.REFUND_ACCOUNT))]
Refunder = Annotated[Actor, Depends(require(permissions.REFUND_RECHARGE))]


@router.get("/stored-value/packages", response_model=list[PackageOut])
def list_packages(session: SessionDep, actor: ActorDep) -> list[PackageOut]:
    """Every role sees the packages: the till offers them."""
    return [PackageOut.model_validate(p) for p in packages.list_packages(session)]


@router.post("/stored-value/packages", response_model=PackageOut, status_code=201)
def create_package(data: PackageIn, session: SessionDep, actor: Marketing) -> PackageOut:
    values = data.model_dump()
    return PackageOut.model_validate(packages.save_package(session, actor, values))


@router.get(
    "/stored-value/packages/{package_id}",
    response_model=PackageOut,
    responses=errors(PackageNotFound),
)
def get_package(package_id: int, session: SessionDep, actor: ActorDep) -> PackageOut:
    return PackageOut.model_validate(packages.get_package(session, package_id))


@router.patch(
    "/stored-value/packages/{package_id}",
    response_model=PackageOut,
    responses=errors(PackageNotFound),
)
def update_package(
    package_id: int, data: PackageUpdate, session: SessionDep, actor: Marketing
) -> PackageOut:
    values = data.model_dump(exclude_unset=True)
    return PackageOut.model_validate(packages.save_package(session, actor, values, package_id))


@router.get(
    "/members/{member_id}/stored-value",
    response_model=BalanceOut,
    responses=errors(member_errors.MemberNotFound),
)
def member_balance(member_id: int, session: SessionDep, actor: ActorDep) -> BalanceOut:
    member = visibility.get_member(session, actor, member_id)
    held = queries.balance(session, member.id)
    return BalanceOut(
        member_id=member.id,
        principal=held.principal,
        bonus=held.bonus,
        balance=held.total,
        has_password=held.has_password,
        locked_until=held.locked_until,
    )


@router.get(
    "/members/{member_id}/stored-value/entries",
    response_model=Page[EntryOut],
    responses=errors(member_errors.MemberNotFound),
)
def member_entries(
    member_id: int,
    session: SessionDep,
    actor: ActorDep,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[EntryOut]:
    member = visibility.get_member(session, actor, member_id)
    page = paginate(
        session,
        queries.entries(member.id),
        StoredValueEntry.id,
        cursor,
        limit,
    )
    return Page(
        items=[EntryOut.model_validate(e) for e in page.items], next_cursor=page.next_cursor
    )


@router.post(
    "/members/{member_id}/stored-value/recharges",
    response_model=RechargeOut,
    status_code=201,
    responses=errors(
        member_errors.MemberNotFound,
        member_errors.MemberNotActive,
        PackageNotFound,
        PackageNotAvailable,
        PackageLimitReached,
        BalanceCapExceeded,
        RealNameRequired,
        ProductNotActive,
    ),
)
def recharge(
    member_id: int, data: RechargeIn, session: SessionDep, actor: Till, once: IdempotentDep
) -> Response:
    def work() -> RechargeOut:
        member = visibility.get_active_member(session, actor, member_id)
        real_name = (
            recharges.RealName(data.real_name.name, data.real_name.id_number)
            if data.real_name
            else None
        )
        record = recharges.recharge(
            session,
            actor,
            member.id,
            data.store_id,
            recharges.Payment(data.payment.method.value, data.payment.reference),
            amount=data.amount,
            package_id=data.package_id,
            real_name=real_name,
        )
        return RechargeOut.model_validate(record)

    return once(actor, data, work)


@router.post(
    "/stored-value/recharges/{recharge_id}/refund",
    response_model=RechargeOut,
    responses=errors(RechargeNotFound, RechargeRefunded, RechargeUsed, CoolingOffOver),
)
def refund_recharge(recharge_id: int, session: SessionDep, actor: Refunder) -> RechargeOut:
    """Cooling-off: the whole recharge back, its bonus taken back, if none of it was used."""
    return RechargeOut.model_validate(recharges.refund_recharge(session, actor, recharge_id))


@router.post(
    "/members/{member_id}/stored-value/refund",
    response_model=EntryOut,
    responses=errors(member_errors.MemberNotFound, NothingToRefund),
)
def refund_account(
    member_id: int, data: AccountRefundIn, session: SessionDep, actor: Finance
) -> EntryOut:
    """Pay out the remaining principal; the bonus lapses."""
    member = visibility.get_member(session, actor, member_id)
    entry = recharges.refund_account(session, actor, member.id, data.store_id, data.reason)
    return EntryOut.model_validate(entry)


# Settlement, liability and manual adjustments.

FiguresReader = Annotated[Actor, Depends(require(permissions.VIEW_FIGURES))]
Adjuster = Annotated[Actor, Depends(require(permissions.ADJUST))]
FILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {media: {} for media in export.MEDIA_TYPES.values()},
        "description": "JSON, or with `format` the same rows as a CSV or .xlsx file",
    }
}


@router.get("/stored-value/settlement", response_model=SettlementOut, responses=FILE_RESPONSES)
def settlement(
    session: SessionDep,
    actor: FiguresReader,
    first: Annotated[Day, Query(alias="from", description="first business day included")],
    last: Annotated[Day, Query(alias="to", description="last business day included")],
    store_id: Annotated[
        str | None,
        Query(
            pattern=r"^(hq|[1-9][0-9]{0,8})$",  # a row id (below 2³¹), or hq
            description="a store's id, or `hq`: that row alone, with the entries behind it",
        ),
    ] = None,
    file_format: Annotated[export.Format | None, Query(alias="format")] = None,
) -> SettlementOut | Response:
    """Principal recharged, refunded, spent and adjusted per store; net = what the store owes
    HQ (negative: HQ owes the store)."""
    store = (
        None if store_id is None else reports.StoreRef(None if store_id == "hq" else int(store_id))
    )
    report = reports.settlement(session, actor, reports.Period(first, last), store)
    if file_format is not None:
        name = f"stored-value-settlement-{first:%Y%m%d}-{last:%Y%m%d}"
        if report.entries is not None:
            return export.download(
                file_format,
                f"{name}-{store_id}",
                reports.ENTRY_COLUMNS,
                reports.entry_rows(report.entries),
            )
        return export.download(
            file_format, name, reports.SETTLEMENT_COLUMNS, reports.settlement_rows(report)
        )
    return _settlement_out(report)


@router.get("/stored-value/liability", response_model=LiabilityOut, responses=FILE_RESPONSES)
def liability(
    session: SessionDep,
    actor: FiguresReader,
    file_format: Annotated[export.Format | None, Query(alias="format")] = None,
) -> LiabilityOut | Response:
    """Principal and bonus members hold now, by the store of the recharges it remains of."""
    report = reports.liability(session, actor)
    if file_format is not None:
        stamp = clock.now().astimezone(clock.business_tz()).strftime("%Y%m%d-%H%M")
        return export.download(
            file_format,
            f"stored-value-liability-{stamp}",
            reports.LIABILITY_COLUMNS,
            reports.liability_rows(report),
        )
    return _liability_out(report)


@router.post(
    "/members/{member_id}/stored-value/adjustments",
    response_model=EntryOut,
    status_code=201,
    responses=errors(
        member_errors.MemberNotFound,
        member_errors.MemberNotActive,
        InsufficientBalance,
        BalanceCapExceeded,
    ),
)
def adjust(
    member_id: int,
    data: StoredValueAdjustmentIn,
    session: SessionDep,
    actor: Adjuster,
    once: IdempotentDep,
) -> Response:
    """Correct a member's principal or bonus by hand (signed fen), with a reason; audited."""

    def work() -> EntryOut:
        member = visibility.get_active_member(session, actor, member_id)
        entry = adjustments.adjust(
            session, actor, member.id, data.store_id, data.principal, data.bonus, data.reason
        )
        return EntryOut.model_validate(entry)

    return once(actor, data, work)


def _settlement_out(report: reports.Settlement) -> SettlementOut:
    return SettlementOut(
        from_=report.period.first,
        to=report.period.last,
        rows=[
            SettlementRowOut(
                store_id=r.store_id,
                store_code=r.store_code,
                store_name=r.store_name,
                **_figures(r.figures).model_dump(),
            )
            for r in report.rows
        ],
        totals=_figures(report.totals),
        entries=None
        if report.entries is None
        else [SettlementEntryOut.model_validate(e) for e in report.entries],
    )


def _figures(figures: reports.Figures) -> FiguresOut:
    return FiguresOut(
        recharged=figures.recharged,
        refunded=figures.refunded,
        spent=figures.spent,
        adjusted=figures.adjusted,
        net=figures.net,
    )


def _liability_out(report: reports.Liability) -> LiabilityOut:
    return LiabilityOut(
        rows=[
            LiabilityRowOut(
                store_id=r.store_id,
                store_code=r.store_code,
                store_name=r.store_name,
                **_holding(r.holding).model_dump(),
            )
            for r in report.rows
        ],
        unattributed=_holding(report.unattributed),
        totals=_holding(report.totals),
    )


def _holding(holding: reports.Holding) -> HoldingOut:
    return HoldingOut(
        principal=holding.principal, bonus=holding.bonus, balance=holding.principal + holding.bonus
    )


# --- payment password ---------------------------------------------------------------------------

PasswordSetter = Annotated[Actor, Depends(require(permissions.SET_PASSWORD))]


@router.put(
    "/members/{member_id}/stored-value/password",
    status_code=204,
    responses=errors(
        member_errors.MemberNotFound,
        member_errors.MemberNotActive,
        NotHomeStore,
        VerificationRequired,
        VerificationFailed,
        MemberCodeUsed,
        StoredValueLocked,
    ),
)
def set_payment_password(
    member_id: int, data: PaymentPasswordIn, session: SessionDep, actor: PasswordSetter
) -> Response:
    """Set or replace the member's 6-digit payment password at their home store or HQ, the
    member typing it; replacing one needs the old password or the member code (a wrong one
    counts toward the lock-out). It clears a lock-out; an hq_admin resets a locked account
    without proof."""
    member = visibility.get_active_member(session, actor, member_id)
    proof = data.verification
    given = payments.Verification(proof.member_code, proof.password) if proof else None
    payments.set_password(session, actor, member.id, data.password, given)
    return Response(status_code=204)
