"""Moving members through their journeys: `journeys.advance` (every minute) takes the entries
that are due (at a step, or at a wait that is over) of running journeys and walks each until it
reaches a wait, an exit or the end.

Each entry's position is in its row (step_key, wake_at), and a batch's steps, the actions they
took (coupons, points, messages, tags, events) and the new positions commit together in the
job's one transaction: a run that dies rolls back whole, and the next run does that work once.
On PostgreSQL the due entries are locked (SKIP LOCKED), so two runners never take the same one.

Members in the control group walk the same steps (their waits, conditions and branches) but
no action reaches them: the step records `control`. Nor does any reach a member who asked for
no marketing (`skipped:no_marketing`); consent, frequency caps and quiet hours of a message are
the message service's to apply (`skipped:<reason>`, or `deferred`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from patron.core import bulk, events
from patron.core.actor import Actor, Role
from patron.core.errors import PatronError
from patron.core.statements import insert_rows
from patron.coupons.issuing import issue_coupons
from patron.coupons.models import IssueSource
from patron.journeys import definitions
from patron.journeys.events import JOURNEY_ACTION, JourneyAction
from patron.journeys.models import (
    EntryStatus,
    Journey,
    JourneyEntry,
    JourneyStatus,
    JourneyStepRun,
    JourneyVersion,
)
from patron.members import queries as members
from patron.members.models import Member
from patron.messages import bulk as bulk_messages
from patron.messages import service as messages
from patron.messages.kinds import Channel, Purpose, Status
from patron.points import grants
from patron.segments import service as segments
from patron.tags import service as tags

# Who the journeys' actions are audited as.
JOURNEYS = Actor(kind="system", id=None, name="journeys", role=Role.hq_admin, store_ids=None)
BATCH = 500
OUTCOME_LENGTH = 32
# A walk stops after this many steps in one go (a loop always passes a wait: `definitions`).
MAX_STEPS = 100
RUNS = cast(Table, JourneyStepRun.__table__)
# A message's outcomes that reach the member: sent soon, or held for the quiet hours' end.
REACHED = (Status.queued.value, Status.deferred.value)


@dataclass
class Advanced:
    entries: int = 0  # entries taken
    steps: int = 0  # steps run
    ended: int = 0  # entries that reached an exit or the end


@dataclass(eq=False)
class _Walk:
    """One entry on its way through a batch: the step it is at (`key`, None: the end)."""

    entry: JourneyEntry
    version: JourneyVersion
    key: str | None
    no_marketing: bool
    ended: bool = False

    @cached_property
    def steps(self) -> dict[str, definitions.StepDict]:
        return definitions.by_key(self.version.steps)


@dataclass
class _Batch:
    session: Session
    now: datetime
    runs: list[dict[str, Any]] = field(default_factory=list)

    def record(self, walk: _Walk, key: str, outcome: str) -> None:
        self.runs.append(
            {
                "entry_id": walk.entry.id,
                "version_id": walk.version.id,
                "step_key": key,
                "outcome": outcome[:OUTCOME_LENGTH],
                "ran_at": self.now,
            }
        )

    def end(self, walk: _Walk, status: EntryStatus) -> None:
        entry = walk.entry
        entry.status, entry.ended_at = status.value, self.now
        entry.step_key = entry.wake_at = None
        walk.ended = True

    def park(self, walk: _Walk, key: str, wake_at: datetime) -> None:
        walk.entry.step_key, walk.entry.wake_at = key, wake_at


def due(session: Session, now: datetime, limit: int) -> list[JourneyEntry]:
    query = (
        select(JourneyEntry)
        .join(Journey, Journey.id == JourneyEntry.journey_id)
        .where(
            JourneyEntry.status == EntryStatus.active.value,
            JourneyEntry.wake_at <= now,
            Journey.status == JourneyStatus.active.value,
        )
        .order_by(JourneyEntry.wake_at, JourneyEntry.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(of=JourneyEntry, skip_locked=True)
    return list(session.scalars(query))


def advance(session: Session, now: datetime, limit: int = BATCH) -> Advanced:
    """Walk up to `limit` due entries (oldest wake first) in the caller's transaction. The
    batch moves a step at a time: the entries at the same step of the same version take it
    together (a rule evaluated once for all of them, a coupon issued to all in one call)."""
    entries = due(session, now, limit)
    if not entries:
        return Advanced()
    version_ids = {entry.version_id for entry in entries}
    versions = {
        v.id: v
        for v in session.scalars(select(JourneyVersion).where(JourneyVersion.id.in_(version_ids)))
    }
    unwilling = members.without_marketing(session, {entry.member_id for entry in entries})
    batch = _Batch(session, now)
    walks = [
        _Walk(e, versions[e.version_id], e.step_key, e.member_id in unwilling) for e in entries
    ]
    with events.batched(session):
        _walk_all(batch, walks)
    session.flush()
    insert_rows(session, RUNS, batch.runs)
    return Advanced(len(entries), len(batch.runs), sum(w.ended for w in walks))


def _walk_all(batch: _Batch, walks: list[_Walk]) -> None:
    for walk in walks:  # woken: a wait is over
        steps = walk.steps
        if walk.key is None or walk.key not in steps:
            batch.end(walk, EntryStatus.exited)
        elif steps[walk.key]["type"] == "wait":
            batch.record(walk, walk.key, "done")
            walk.key = definitions.following(walk.version.steps)[walk.key]
    live = [w for w in walks if not w.ended]
    for _ in range(MAX_STEPS):
        groups: dict[tuple[int, str], list[_Walk]] = defaultdict(list)
        for walk in live:
            if _settled(batch, walk):
                continue
            assert walk.key is not None
            groups[(walk.version.id, walk.key)].append(walk)
        if not groups:
            return
        for group in groups.values():
            _take(batch, group)
        live = [w for group in groups.values() for w in group if not w.ended]
    for walk in live:  # the rest next run (a loop always passes a wait: `definitions`)
        if walk.key is not None:
            batch.park(walk, walk.key, batch.now)


def _settled(batch: _Batch, walk: _Walk) -> bool:
    """Steps an entry takes alone: the end, an exit, a wait (parked until it is over)."""
    if walk.key is None:
        batch.end(walk, EntryStatus.done)
        return True
    step = walk.steps[walk.key]
    if step["type"] == "wait":
        batch.park(walk, walk.key, definitions.wait_until(step, batch.now))
        return True
    if step["type"] == "exit":
        batch.record(walk, walk.key, "done")
        batch.end(walk, EntryStatus.done)
        return True
    return False


def _take(batch: _Batch, group: list[_Walk]) -> None:
    """The entries at one step (an action, a condition or a branch) take it together."""
    key = group[0].key
    assert key is not None
    step = group[0].steps[key]
    after = definitions.following(group[0].version.steps)[key]
    if step["type"] == "action":
        for walk, outcome in _act(batch, group, step).items():
            batch.record(walk, key, outcome)
            walk.key = after
        return
    holding = _holding(batch, step["rule"], [w.entry.member_id for w in group])
    for walk in group:
        holds = walk.entry.member_id in holding
        batch.record(walk, key, "yes" if holds else "no")
        if step["type"] == "branch":
            walk.key = step["yes"] if holds else step["no"]
        elif holds:
            walk.key = after
        else:
            batch.end(walk, EntryStatus.done)


def _holding(batch: _Batch, rule: str, member_ids: list[int]) -> set[int]:
    """Which of the members the segment rule matches now: one query for them all."""
    matched = segments.member_ids(batch.session, JOURNEYS, rule, batch.now)
    chosen = matched.where(bulk.any_of(batch.session, Member.id, sorted(set(member_ids))))
    return set(batch.session.scalars(chosen))


def _act(batch: _Batch, group: list[_Walk], step: definitions.StepDict) -> dict[_Walk, str]:
    """Take the action for the members of the group it reaches: not the control group, not a
    member who asked for no marketing. An action a member cannot take (a coupon out of stock,
    a tag gone) is recorded and the walk goes on. All at once where the action has a bulk
    form; when that fails as a whole, one member at a time, so one member's refusal does not
    hold back the others."""
    outcomes = {
        w: "control" if w.entry.in_control else "skipped:no_marketing"
        for w in group
        if w.entry.in_control or w.no_marketing
    }
    reached = [w for w in group if w not in outcomes]
    if not reached:
        return outcomes
    many = MANY.get(step["action"])
    if many is not None:
        try:
            with batch.session.begin_nested():
                return outcomes | many(batch, reached, step)
        except PatronError:
            pass  # one at a time below: each member's own outcome
    for walk in reached:
        try:
            with batch.session.begin_nested():
                outcomes[walk] = ONE[step["action"]](batch, walk, step)
        except PatronError as exc:
            outcomes[walk] = f"failed:{exc.code}"
    return outcomes


def _ref(walk: _Walk, step: definitions.StepDict) -> str:
    return f"journey:{walk.entry.journey_id}:{step['key']}"


def _layers(walks: list[_Walk]) -> list[list[_Walk]]:
    """The walks in layers naming each member once (a member may be in a journey twice, by
    entries of different occasions): the bulk calls take each member once."""
    layers: list[list[_Walk]] = []
    seen: dict[int, int] = defaultdict(int)
    for walk in walks:
        depth = seen[walk.entry.member_id]
        seen[walk.entry.member_id] += 1
        if depth == len(layers):
            layers.append([])
        layers[depth].append(walk)
    return layers


def _issue_coupons(
    batch: _Batch, walks: list[_Walk], step: definitions.StepDict
) -> dict[_Walk, str]:
    result = issue_coupons(
        batch.session,
        JOURNEYS,
        step["template_id"],
        [w.entry.member_id for w in walks],
        source=IssueSource.journey,
        source_ref=f"journey:{walks[0].entry.journey_id}",
    )
    refused = {r.index: f"skipped:{r.code}" for r in result.refused}
    return {walk: refused.get(index, "done") for index, walk in enumerate(walks)}


def _issue_coupon(batch: _Batch, walk: _Walk, step: definitions.StepDict) -> str:
    return _issue_coupons(batch, [walk], step)[walk]


def _grant_points(batch: _Batch, walk: _Walk, step: definitions.StepDict) -> str:
    grants.grant_points(
        batch.session,
        JOURNEYS,
        walk.entry.member_id,
        step["points"],
        reason=step["reason"],
        store_id=None,
        source_ref=_ref(walk, step),
    )
    return "done"


def _grant_points_many(
    batch: _Batch, walks: list[_Walk], step: definitions.StepDict
) -> dict[_Walk, str]:
    outcomes: dict[_Walk, str] = {}
    for layer in _layers(walks):
        refused = grants.grant_points_many(
            batch.session,
            JOURNEYS,
            [w.entry.member_id for w in layer],
            step["points"],
            reason=step["reason"],
            source_ref=_ref(layer[0], step),
        )
        for walk in layer:
            reason = refused.get(walk.entry.member_id)
            outcomes[walk] = f"failed:{reason.value}" if reason else "done"
    return outcomes


def _send_message(batch: _Batch, walk: _Walk, step: definitions.StepDict) -> str:
    message = messages.send(
        batch.session,
        channel=Channel(step["channel"]),
        template_code=step["template"],
        member_id=walk.entry.member_id,
        source=f"journey:{walk.entry.journey_id}",
    )
    return f"skipped:{message.reason}" if message.reason else message.status


def _send_messages(
    batch: _Batch, walks: list[_Walk], step: definitions.StepDict
) -> dict[_Walk, str]:
    """Marketing messages in bulk (`send_many` applies `send`'s rules for marketing); a
    transactional template's messages one at a time, as `send` decides them."""
    channel = Channel(step["channel"])
    template = messages.get_template(batch.session, step["template"], channel)
    if template.purpose != Purpose.marketing.value:
        return {walk: _send_message(batch, walk, step) for walk in walks}
    outcomes: dict[_Walk, str] = {}
    for layer in _layers(walks):
        sent = bulk_messages.send_many(
            batch.session,
            channel=channel,
            template_code=step["template"],
            member_ids=[w.entry.member_id for w in layer],
            source=f"journey:{layer[0].entry.journey_id}",
        )
        for walk in layer:
            outcome = sent[walk.entry.member_id]
            outcomes[walk] = outcome if outcome in REACHED else f"skipped:{outcome}"
    return outcomes


def _tag_many(batch: _Batch, walks: list[_Walk], step: definitions.StepDict) -> dict[_Walk, str]:
    tag = tags.find_tag(batch.session, step["tag"])
    if tag is None:
        return dict.fromkeys(walks, "skipped:unknown_tag")
    change = tags.add_members if step["action"] == "tag_add" else tags.remove_members
    result = change(batch.session, JOURNEYS, tag.id, [str(w.entry.member_id) for w in walks])
    return {
        walk: "skipped:not_found" if line.status == "not_found" else "done"
        for walk, line in zip(walks, result.results, strict=True)
    }


def _tag(batch: _Batch, walk: _Walk, step: definitions.StepDict) -> str:
    return _tag_many(batch, [walk], step)[walk]


def _webhook(batch: _Batch, walk: _Walk, step: definitions.StepDict) -> str:
    entry = walk.entry
    action = JourneyAction(
        entry.journey_id,
        walk.version.version,
        entry.id,
        entry.member_id,
        step["key"],
        step.get("data", {}),
    )
    events.publish(batch.session, JOURNEY_ACTION, entry.id, action)
    return "done"


One = Callable[[_Batch, _Walk, definitions.StepDict], str]
Many = Callable[[_Batch, list[_Walk], definitions.StepDict], dict[_Walk, str]]
ONE: dict[str, One] = {
    "issue_coupon": _issue_coupon,
    "grant_points": _grant_points,
    "send_message": _send_message,
    "tag_add": _tag,
    "tag_remove": _tag,
    "webhook": _webhook,
}
MANY: dict[str, Many] = {
    "issue_coupon": _issue_coupons,
    "grant_points": _grant_points_many,
    "send_message": _send_messages,
    "tag_add": _tag_many,
    "tag_remove": _tag_many,
}
