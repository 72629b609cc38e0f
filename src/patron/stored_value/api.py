from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Response
from sqlalchemy import select

from patron.core.actor import Actor
from patron.core.openapi import errors
from patron.core.pagination import Page, paginate
from patron.count_cards.errors import ProductNotActive
from patron.deps import ActorDep, IdempotentDep, OneHopRouter, SessionDep, require
from patron.members import errors as member_errors
from patron.members import visibility
from patron.stored_value import packages, payments, permissions, recharges
from patron.stored_value.errors import (
    BalanceCapExceeded,
    CoolingOffOver,
    NothingToRefund,
    PackageLimitReached,
    PackageNotAvailable,
    PackageNotFound,
    RealNameRequired,
    RechargeNotFound,
    RechargeRefunded,
    RechargeUsed,
)
from patron.stored_value.models import StoredValueAccount, StoredValueEntry
from patron.stored_value.schemas import (
    AccountRefundIn,
    BalanceOut,
    EntryOut,
    PackageIn,
    PackageOut,
    PackageUpdate,
    PaymentPasswordIn,
    RechargeIn,
    RechargeOut,
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
    account = session.get(StoredValueAccount, member.id)
    principal, bonus = (account.principal, account.bonus) if account else (0, 0)
    return BalanceOut(
        member_id=member.id,
        principal=principal,
        bonus=bonus,
        balance=principal + bonus,
        has_password=account is not None and account.password_hash is not None,
        locked_until=payments.locked_until(account),
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
        select(StoredValueEntry).where(StoredValueEntry.member_id == member.id),
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


# --- payment password ---------------------------------------------------------------------------

PasswordSetter = Annotated[Actor, Depends(require(permissions.SET_PASSWORD))]


@router.put(
    "/members/{member_id}/stored-value/password",
    status_code=204,
    responses=errors(member_errors.MemberNotFound, member_errors.MemberNotActive),
)
def set_payment_password(
    member_id: int, data: PaymentPasswordIn, session: SessionDep, actor: PasswordSetter
) -> Response:
    """Set or replace the member's 6-digit payment password at the till, the member typing it;
    it clears a lock-out."""
    member = visibility.get_active_member(session, actor, member_id)
    payments.set_password(session, actor, member.id, data.password)
    return Response(status_code=204)
