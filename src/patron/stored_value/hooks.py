"""Stored value in other domains' work: a merge moves the balance to the survivor; erasure
keeps the ledger (the member row is anonymised) and wipes the real-name details of recharges;
the PIPL export lists the account and its recharges."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from patron.members import merge as member_merge
from patron.members import privacy
from patron.members.models import Member
from patron.stored_value.ledger import lock_accounts, post
from patron.stored_value.models import EntryKind, Recharge, StoredValueAccount


@member_merge.on_merge.register("stored_value")
def _merge_balance(session: Session, source: Member, target: Member) -> None:
    accounts = lock_accounts(session, [source.id, target.id])
    moving = accounts[source.id]
    principal, bonus = moving.principal, moving.bonus
    if not principal and not bonus:
        return
    common: dict[str, Any] = {"store_id": None, "operator": "system"}
    post(
        session,
        moving,
        EntryKind.merge_out,
        -principal,
        -bonus,
        merge_partner_id=target.id,
        reason=f"merged into member {target.id}",
        **common,
    )
    post(
        session,
        accounts[target.id],
        EntryKind.merge_in,
        principal,
        bonus,
        merge_partner_id=source.id,
        reason=f"merged from member {source.id}",
        **common,
    )


@privacy.on_erase.register("stored_value")
def _erase_real_names(session: Session, member: Member) -> None:
    session.execute(
        update(Recharge)
        .where(Recharge.member_id == member.id)
        .values(real_name=None, id_number=None)
    )


@privacy.export_sections.register("stored_value")
def _export(session: Session, member: Member) -> dict[str, Any]:
    account = session.get(StoredValueAccount, member.id)
    recharges = session.scalars(
        select(Recharge).where(Recharge.member_id == member.id).order_by(Recharge.id)
    )
    return {
        "principal": account.principal if account else 0,
        "bonus": account.bonus if account else 0,
        "recharges": [
            {
                "id": r.id,
                "principal": r.principal,
                "bonus": r.bonus,
                "status": r.status,
                "created_at": r.created_at.isoformat(),
            }
            for r in recharges
        ],
    }
