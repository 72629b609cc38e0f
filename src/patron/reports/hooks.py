"""The reports' facts in other domains' work: a merge moves the merged member's orders to the
survivor, so both members' daily facts are recomputed (this module loads after
`patron.orders.service` in `patron.domains`: its merge hook has moved the orders by then).
The facts per store and channel count member orders whoever the member is: a merge leaves
them as they are."""

from __future__ import annotations

from sqlalchemy.orm import Session

from patron.core import clock
from patron.members import merge as member_merge
from patron.members.models import Member
from patron.reports import facts


@member_merge.on_merge.register("reports")
def _merge_member_facts(session: Session, source: Member, target: Member) -> None:
    facts.recompute_members(session, (source.id, target.id), clock.now())
