"""Manual adjustments: HQ finance corrects a member's principal or bonus, with a reason, the
store it is booked to (None: HQ) and an audit entry. Settlement counts the principal part as
the store's `adjusted`."""

from __future__ import annotations

from sqlalchemy.orm import Session

from patron.audit import service as audit
from patron.core.actor import Actor
from patron.core.errors import InvalidInput
from patron.core.reasons import Reason
from patron.core.settings import get_settings
from patron.stored_value.errors import BalanceCapExceeded, InsufficientBalance
from patron.stored_value.ledger import lock_accounts, post
from patron.stored_value.models import EntryKind, StoredValueEntry
from patron.stored_value.permissions import ADJUST
from patron.stored_value.recharges import check_store


def adjust(
    session: Session,
    actor: Actor,
    member_id: int,
    store_id: int | None,
    principal: int,
    bonus: int,
    reason: str,
) -> StoredValueEntry:
    """Move principal and bonus (signed fen) of an active member by hand (a merged or erased
    member's balance leaves only by an account refund). Refused with nothing written: 409
    insufficient_balance when either part would fall below zero, 409 balance_cap_exceeded when
    an adjustment that adds to the balance would take it over the cap."""
    ADJUST.check(actor)
    if not principal and not bonus:
        raise InvalidInput("principal", "adjusts nothing", code=Reason.zero_adjustment)
    check_store(session, actor, store_id)
    account = lock_accounts(session, [member_id], active=True)[member_id]
    before = (account.principal, account.bonus)
    if account.principal + principal < 0 or account.bonus + bonus < 0:
        raise InsufficientBalance(
            f"member {member_id} holds principal {account.principal} and bonus {account.bonus} fen",
            balance=account.principal + account.bonus,
        )
    balance, cap = account.principal + account.bonus, get_settings().stored_value_cap
    if principal + bonus > 0 and balance + principal + bonus > cap:
        raise BalanceCapExceeded(
            f"member {member_id} holds {balance} fen; the cap is {cap}", balance=balance, cap=cap
        )
    entry = post(
        session,
        account,
        EntryKind.adjust,
        principal,
        bonus,
        store_id=store_id,
        operator=actor.name,
        reason=reason,
    )
    audit.record(
        session,
        actor,
        "stored_value.adjust",
        "member",
        member_id,
        store_id=store_id,
        before={"principal": before[0], "bonus": before[1]},
        after={
            "principal": account.principal,
            "bonus": account.bonus,
            "entry_id": entry.id,
            "reason": reason,
        },
    )
    return entry
