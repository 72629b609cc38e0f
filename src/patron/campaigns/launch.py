"""Launching a campaign: its audience frozen in one statement, then its treatment in batches,
both on the task queue (`run`), never in the request that launched it.

`freeze` records the rule the audience is drawn with and inserts every member of it into
`campaign_members` with one INSERT … SELECT, the control group drawn in SQL by a seeded hash of
the member's id (`control_draw`: the same on both databases, so a draw can be repeated and
checked from the recorded seed; no member list ever passes through Python). The insert and the
sizes it sets (`audience_size`, which says "frozen") commit together under the campaign's row
lock: a crash before the commit leaves nothing frozen, one after it is never frozen again.

`treat_batch` takes the next BATCH untreated members of the treated group in id order and does
every action for them in ONE transaction with their `treated_at`: a crash loses the batch whole
(nothing of it written) and the next run resumes with it, so no member is treated twice or
missed. The campaign's row lock serialises runners. Budgets are kept per batch from the units
already spent; whatever an action does not do is counted by reason in `campaign_outcomes`.
On PostgreSQL a campaign without budgets is first treated in lanes (`Lane`), side by side."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Table,
    case,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from patron.audit import service as audit
from patron.campaigns.models import (
    Campaign,
    CampaignMember,
    CampaignOutcome,
    CampaignStatus,
)
from patron.core import bulk, clock, db, tasks
from patron.core.actor import SYSTEM, Actor, Role
from patron.core.batches import committed
from patron.core.db import insert_or_skip
from patron.coupons import issuing
from patron.coupons.errors import TemplateExpired, TemplateNotActive
from patron.coupons.models import IssueSource
from patron.members import contacts
from patron.messages import bulk as messages
from patron.messages.kinds import Channel, Status
from patron.points import grants
from patron.segments import service as segments
from patron.segments.errors import InvalidRule

MEMBERS = cast(Table, CampaignMember.__table__)
OUTCOMES = cast(Table, CampaignOutcome.__table__)
BATCH = 10_000  # as coupons.issuing batches
MAX_SEED = 2**62
LANES = 2  # the queue's task treats a campaign without budgets in this many lanes
RUNNER_LOCKS = 0x43414D50  # the campaign runner locks' first key: "CAMP"
# The draw's hash works modulo this prime (2^31 - 1): every product stays below 2^62, inside
# a 64-bit integer on PostgreSQL and SQLite alike.
PRIME = 2_147_483_647
DONE = "done"
REACHED = (Status.queued.value, Status.deferred.value)
Sessions = Callable[[], Session]
log = logging.getLogger(__name__)


def control_draw(member_id: Any, seed: int, percent: int) -> ColumnElement[bool]:
    """Whether the member falls in the control group of `percent`%: a hash of (seed, member id)
    in integer arithmetic (two multiply-add and two squaring rounds modulo PRIME), its last four
    digits below percent × 100. Deterministic for a seed; `draw` is the same in Python."""
    low, high = seed % PRIME, (seed // PRIME) % PRIME
    x = (sql_cast(member_id, BigInteger) % PRIME * 48271 + low) % PRIME
    x = (x * x + 12345) % PRIME
    x = (x * 69621 + high) % PRIME
    x = (x * x + 1) % PRIME
    return cast(ColumnElement[bool], x % 10000 < percent * 100)


def draw(member_id: int, seed: int, percent: int) -> bool:
    """`control_draw` for one member, in Python (a check of the recorded draw)."""
    low, high = seed % PRIME, (seed // PRIME) % PRIME
    x = (member_id % PRIME * 48271 + low) % PRIME
    x = (x * x + 12345) % PRIME
    x = (x * 69621 + high) % PRIME
    x = (x * x + 1) % PRIME
    return x % 10000 < percent * 100


def reference(campaign_id: int) -> str:
    """The reference a campaign writes on what it gives (its coupons' `source_ref`, its points
    grants' and messages' source, its actor's name): `campaign:<id>`. The one place it is built;
    the report finds the campaign's coupons by it."""
    return f"campaign:{campaign_id}"


def as_int(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return case((condition, 1), else_=0)


def start(session: Session, campaign: Campaign, now: datetime) -> None:
    """Set the campaign running now; its audience is frozen by its treatment's task (`run`)."""
    campaign.status = CampaignStatus.running.value
    campaign.launched_at = now
    session.flush()


def freeze(session: Session, campaign_id: int) -> None:
    """Freeze the audience of a running campaign not frozen yet (else nothing: another runner
    holds it, or it is frozen, or it is not running): the rule recorded, every member it
    matches (chain-wide) inserted with their draw, the sizes counted, in this transaction. A
    campaign whose segment's rule no longer parses is cancelled (nothing frozen)."""
    campaign = _locked(session, campaign_id)
    if campaign is None or campaign.audience_size is not None:
        return
    now = clock.now()
    try:
        with session.begin_nested():
            _insert_audience(session, campaign, now)
    except InvalidRule as exc:  # its segment's rule changed since and no longer parses
        log.warning("campaign %s not started: %s", campaign.id, exc.detail)
        campaign.status, campaign.cancelled_at = CampaignStatus.cancelled.value, now
    session.flush()
    audit.record(
        session,
        SYSTEM,
        "campaign.start",
        "campaign",
        campaign.id,
        after={
            "status": campaign.status,
            "audience_size": campaign.audience_size,
            "control_size": campaign.control_size,
        },
    )


def _insert_audience(session: Session, campaign: Campaign, now: datetime) -> None:
    rule = campaign.rule
    if rule is None and campaign.segment_id is not None:
        rule = segments.get_segment(session, campaign.segment_id).rule
    if rule is not None:  # None: its segment was deleted since, nobody to draw
        audience = segments.member_ids(session, SYSTEM, rule, now).subquery()
        member = audience.c[0]
        drawn = control_draw(member, campaign.seed, campaign.control_percent)
        session.execute(
            insert(MEMBERS).from_select(
                ["campaign_id", "member_id", "in_control"],
                select(literal(campaign.id, Integer), member, drawn),
            )
        )
    total, control = session.execute(
        select(func.count(), func.coalesce(func.sum(as_int(MEMBERS.c.in_control)), 0)).where(
            MEMBERS.c.campaign_id == campaign.id
        )
    ).one()
    campaign.launched_rule = rule
    campaign.audience_size, campaign.control_size = int(total), int(control)
    session.flush()


def _locked(session: Session, campaign_id: int, lane: Lane | None = None) -> Campaign | None:
    """The campaign, row-locked, when it is running and no other runner holds it (in a lane:
    the row in share mode, which the other lanes hold too)."""
    campaign = session.scalar(
        select(Campaign)
        .where(Campaign.id == campaign_id)
        .with_for_update(read=lane is not None, skip_locked=True)
        .execution_options(populate_existing=True)
    )
    if campaign is None or campaign.status != CampaignStatus.running.value:
        return None
    return campaign


def queue(session: Session, campaign_id: int) -> None:
    """Treat the campaign on the task queue once this transaction has committed."""
    from patron.campaigns import jobs

    tasks.after_commit(session, lambda: jobs.treat(campaign_id))


def run(
    campaign_id: int,
    sessions: Sessions | None = None,
    batches: int | None = None,
    lanes: int = 1,
) -> int:
    """Freeze the campaign's audience if it is not yet (a transaction of its own), then treat it
    batch after batch, each committed on its own, until it is done (or cancelled, or `batches`
    have run); how many batches were committed.

    `lanes` > 1 (PostgreSQL, sessions on connections of their own, a campaign without budgets):
    that many threads, each with its own connection, first treat the members whose id falls
    in their lane (`Lane`), so that one batch's Python work overlaps another's database work;
    then the campaign is finished as with one lane (any member a lane left, then `done`). Such
    a runner is the campaign's only one (`_sole_runner`); another started meanwhile (the
    minute job's resume) returns at once, 0."""
    make = sessions or db.session_factory()
    with committed(make) as session:
        freeze(session, campaign_id)
        engine = _lanes_engine(session, campaign_id) if lanes > 1 else None
    if engine is None:
        return _in_turn(make, campaign_id, batches)
    with _sole_runner(engine, campaign_id) as sole:
        if not sole:
            return 0
        return _in_turn(make, campaign_id, batches, done=_in_lanes(make, campaign_id, lanes))


def _in_turn(
    make: Sessions,
    campaign_id: int,
    batches: int | None = None,
    done: int = 0,
    lane: Lane | None = None,
) -> int:
    """Batch after batch of the untreated members (of `lane`, else any), to the end (or
    `batches` in all); the batches committed, counting on from `done`."""
    last = 0
    while batches is None or done < batches:
        with committed(make) as session:
            treated = treat_batch(session, campaign_id, after=last, lane=lane)
        if treated is None:
            break
        done, last = done + 1, treated
    return done


@contextmanager
def _sole_runner(engine: Engine, campaign_id: int) -> Iterator[bool]:
    """Whether this runner holds the campaign's runner lock: a session-level advisory lock on a
    connection of its own, outside any transaction, held while the block runs (a runner that
    dies loses its connection and the lock with it). Without it, the minute job's resume of a
    campaign being treated in lanes would take the campaign's row between two lane batches and
    treat the rest in turn, and a second runner's lanes would take members of the first's."""
    key = (sql_cast(RUNNER_LOCKS, Integer), sql_cast(campaign_id, Integer))
    with engine.connect() as connection:
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        held = bool(connection.scalar(select(func.pg_try_advisory_lock(*key))))
        try:
            yield held
        finally:
            if held:
                connection.scalar(select(func.pg_advisory_unlock(*key)))


@dataclass(frozen=True)
class Lane:
    """The members of one of `count` lanes: those whose id is `index` modulo `count`."""

    index: int
    count: int


def _lanes_engine(session: Session, campaign_id: int) -> Engine | None:
    """The engine lanes may treat the campaign on, or None: budgets are kept by one batch at a
    time (each counts what the batches before it spent), SQLite writes one transaction at a
    time, and each lane needs a connection of its own (sessions bound to one connection, a
    caller's transaction, cannot run side by side)."""
    campaign = session.get(Campaign, campaign_id)
    bind = session.get_bind()
    if (
        not isinstance(bind, Engine)
        or bind.dialect.name != "postgresql"
        or campaign is None
        or campaign.budget_coupons is not None
        or campaign.budget_points is not None
        or campaign.budget_messages is not None
    ):
        return None
    return bind


def _in_lanes(make: Sessions, campaign_id: int, lanes: int) -> int:
    """Every lane treated by a thread of its own; the batches committed."""

    def treat_lane(lane: Lane) -> int:
        return _in_turn(make, campaign_id, lane=lane)

    with ThreadPoolExecutor(lanes, thread_name_prefix=f"campaign-{campaign_id}") as pool:
        return sum(pool.map(treat_lane, [Lane(k, lanes) for k in range(lanes)]))


@dataclass
class _Tally:
    """A batch's outcomes: (action index, outcome) -> [members, units]."""

    counts: dict[tuple[int, str], list[int]] = field(default_factory=dict)

    def add(self, index: int, outcome: str, members: int, units: int = 0) -> None:
        if members:
            found = self.counts.setdefault((index, outcome), [0, 0])
            found[0] += members
            found[1] += units


def treat_batch(
    session: Session, campaign_id: int, after: int = 0, lane: Lane | None = None
) -> int | None:
    """Treat the next batch of the campaign's untreated members (of ids above `after`: a runner
    passes the last it treated, every member up to it being treated, so that no batch scans
    the ones before again) in this transaction; the batch's last member id, or None when there
    is nothing to do (another runner holds the campaign, it is not running, or it has just
    finished, or its audience is not frozen yet).

    A lane's batch takes only the lane's members and holds the campaign's row in share mode
    (the other lanes' batches run beside it; a runner of all members waits for them); it
    never finishes the campaign."""
    campaign = _locked(session, campaign_id, lane)
    if campaign is None or campaign.audience_size is None:
        return None
    now = clock.now()
    untreated = [
        MEMBERS.c.campaign_id == campaign_id,
        MEMBERS.c.in_control.is_(False),
        MEMBERS.c.member_id > after,
        MEMBERS.c.treated_at.is_(None),
    ]
    if lane is not None:
        untreated.append(MEMBERS.c.member_id % lane.count == lane.index)
    member_ids = list(
        session.scalars(
            select(MEMBERS.c.member_id).where(*untreated).order_by(MEMBERS.c.member_id).limit(BATCH)
        )
    )
    if not member_ids and after:  # done, unless a member below `after` is untreated still
        return treat_batch(session, campaign_id, lane=lane)
    if not member_ids and lane is not None:
        return None
    if not member_ids:
        campaign.status = CampaignStatus.done.value
        campaign.finished_at = now
        session.flush()
        return None
    tally = _Tally()
    treatment = _Treatment(session, campaign, tally)
    skipped = treatment.skipped(member_ids)
    # Marked before the actions (one transaction all the same): the update is done before the
    # coupons take the template's row, which another lane's batch waits for.
    _mark_treated(session, campaign_id, member_ids, skipped, now)
    treatment.act(member_ids, skipped)
    _record(session, campaign_id, tally)
    return member_ids[-1]


def _mark_treated(
    session: Session,
    campaign_id: int,
    member_ids: list[int],
    skipped: dict[int, str],
    now: datetime,
) -> None:
    """The batch's members treated now (those skipped whole, with why): the batch's end."""
    ours = MEMBERS.c.campaign_id == campaign_id
    session.execute(
        update(MEMBERS)
        .where(ours, bulk.any_of(session, CampaignMember.member_id, member_ids))
        .values(treated_at=now)
    )
    for reason in set(skipped.values()):
        whose = [m for m, why in skipped.items() if why == reason]
        session.execute(
            update(MEMBERS)
            .where(ours, bulk.any_of(session, CampaignMember.member_id, whose))
            .values(skip_reason=reason)
        )


def _record(session: Session, campaign_id: int, tally: _Tally) -> None:
    if not tally.counts:
        return
    rows = [
        {
            "campaign_id": campaign_id,
            "action_index": index,
            "outcome": outcome,
            "members": members,
            "units": units,
        }
        for (index, outcome), (members, units) in sorted(tally.counts.items())
    ]
    statement = insert_or_skip(session, OUTCOMES)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["campaign_id", "action_index", "outcome"],
            set_={
                "members": OUTCOMES.c.members + statement.excluded.members,
                "units": OUTCOMES.c.units + statement.excluded.units,
            },
        ),
        rows,
    )


def spent(session: Session, campaign: Campaign) -> Counter[str]:
    """The units each budget has paid so far (coupons issued, points granted, messages
    written to go)."""
    kinds = {"issue_coupon": "coupons", "grant_points": "points", "send_message": "messages"}
    used: Counter[str] = Counter()
    rows = session.execute(
        select(OUTCOMES.c.action_index, OUTCOMES.c.units).where(
            OUTCOMES.c.campaign_id == campaign.id, OUTCOMES.c.outcome == DONE
        )
    )
    for index, units in rows:
        used[kinds[campaign.actions[index]["type"]]] += int(units)
    return used


class _Treatment:
    """One batch's actions, in the campaign's order, for the members not skipped whole."""

    def __init__(self, session: Session, campaign: Campaign, tally: _Tally) -> None:
        self.session, self.campaign, self.tally = session, campaign, tally
        self.actor = Actor(
            kind="system",
            id=None,
            name=reference(campaign.id),
            role=Role.hq_admin,
            store_ids=None,
        )
        self.source_ref = reference(campaign.id)
        self.spent = spent(session, campaign)
        self.budgets = {
            "coupons": campaign.budget_coupons,
            "points": campaign.budget_points,
            "messages": campaign.budget_messages,
        }
        self.contacts: dict[int, contacts.Contact] = {}

    def skipped(self, member_ids: list[int]) -> dict[int, str]:
        """The batch's members skipped whole (gone, or refusing marketing), with why; their
        contacts kept for the messages."""
        states = contacts.contacts_of(self.session, member_ids, self._contact_fields())
        self.contacts = states
        return {
            m: "member_inactive" if m not in states else "no_marketing"
            for m in member_ids
            if m not in states or states[m].no_marketing
        }

    def act(self, member_ids: list[int], skipped: dict[int, str]) -> None:
        """Every action for the batch's members not skipped."""
        eligible = [m for m in member_ids if m not in skipped]
        actions = list(enumerate(self.campaign.actions))
        # Coupons last: issuing holds the template's row to the commit, and another lane's
        # batch meanwhile does everything else.
        for index, action in sorted(actions, key=lambda a: a[1]["type"] == "issue_coupon"):
            for reason, count in Counter(skipped.values()).items():
                self.tally.add(index, reason, count)
            self._act(index, action, eligible)

    def _contact_fields(self) -> set[str]:
        """What the campaign's messages read of each member's contact: read once a batch."""
        fields: set[str] = set()
        for action in self.campaign.actions:
            if action["type"] == "send_message":
                fields |= messages.contact_fields(Channel(action["channel"]))
        return fields

    def _act(self, index: int, action: dict[str, Any], members: list[int]) -> None:
        kind = action["type"]
        if kind == "issue_coupon":
            self._within_budget(index, "coupons", 1, members, self._coupons(action))
        elif kind == "grant_points":
            points = int(action["points"])
            self._within_budget(index, "points", points, members, self._points(action))
        else:
            self._within_budget(index, "messages", 1, members, self._messages(action))

    def _within_budget(
        self,
        index: int,
        budget: str,
        unit: int,
        members: list[int],
        act: Callable[[list[int]], dict[int, str]],
    ) -> None:
        """`act` on the members (each answering `done` or why not), in slices the budget left
        can pay if all of them were done; once it is spent, the rest are skipped as `budget`."""
        limit = self.budgets[budget]
        start = 0
        while start < len(members):
            left = None if limit is None else (limit - self.spent[budget]) // unit
            if left is not None and left <= 0:
                self.tally.add(index, "budget", len(members) - start)
                return
            end = len(members) if left is None else min(len(members), start + left)
            answered = act(members[start:end])
            counted = Counter(answered.values())
            for outcome, count in counted.items():
                self.tally.add(index, outcome, count, count * unit if outcome == DONE else 0)
            self.spent[budget] += counted[DONE] * unit
            start = end

    def _coupons(self, action: dict[str, Any]) -> Callable[[list[int]], dict[int, str]]:
        def issue(members: list[int]) -> dict[int, str]:
            try:
                result = issuing.issue_coupons(
                    self.session,
                    self.actor,
                    int(action["template_id"]),
                    members,
                    source=IssueSource.campaign,
                    source_ref=self.source_ref,
                )
            except (TemplateNotActive, TemplateExpired) as exc:
                return dict.fromkeys(members, exc.code)
            answered = dict.fromkeys(members, DONE)
            answered.update({r.member_id: r.code.value for r in result.refused})
            return answered

        return issue

    def _points(self, action: dict[str, Any]) -> Callable[[list[int]], dict[int, str]]:
        def grant(members: list[int]) -> dict[int, str]:
            refused = grants.grant_points_many(
                self.session,
                self.actor,
                members,
                int(action["points"]),
                reason=str(action["reason"]),
                source_ref=self.source_ref,
            )
            return {m: refused[m].value if m in refused else DONE for m in members}

        return grant

    def _messages(self, action: dict[str, Any]) -> Callable[[list[int]], dict[int, str]]:
        def send(members: list[int]) -> dict[int, str]:
            answered = messages.send_many(
                self.session,
                channel=Channel(action["channel"]),
                template_code=str(action["template"]),
                member_ids=members,
                source=self.source_ref,
                known=self.contacts,
            )
            return {m: DONE if o in REACHED else o for m, o in answered.items()}

        return send


def due(session: Session, now: datetime) -> Sequence[Campaign]:
    """Scheduled campaigns whose time has come."""
    return session.scalars(
        select(Campaign)
        .where(
            Campaign.status == CampaignStatus.scheduled.value,
            or_(Campaign.schedule_at.is_(None), Campaign.schedule_at <= now),
        )
        .order_by(Campaign.id)
        .with_for_update(skip_locked=True)
    ).all()


def running_ids(session: Session) -> list[int]:
    return list(
        session.scalars(
            select(Campaign.id)
            .where(Campaign.status == CampaignStatus.running.value)
            .order_by(Campaign.id)
        )
    )
