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

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from patron.core import events
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
from patron.messages import service as messages
from patron.messages.kinds import Channel
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


@dataclass
class Advanced:
    entries: int = 0  # entries taken
    steps: int = 0  # steps run
    ended: int = 0  # entries that reached an exit or the end


@dataclass
class _Walk:
    session: Session
    entry: JourneyEntry
    version: JourneyVersion
    journey_version: int
    now: Any
    runs: list[dict[str, Any]]
    no_marketing: bool = False

    def record(self, key: str, outcome: str) -> None:
        self.runs.append(
            {
                "entry_id": self.entry.id,
                "version_id": self.version.id,
                "step_key": key,
                "outcome": outcome[:OUTCOME_LENGTH],
                "ran_at": self.now,
            }
        )


def due(session: Session, now: Any, limit: int) -> list[JourneyEntry]:
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


def advance(session: Session, now: Any, limit: int = BATCH) -> Advanced:
    """Walk up to `limit` due entries (oldest wake first) in the caller's transaction."""
    entries = due(session, now, limit)
    report = Advanced(entries=len(entries))
    if not entries:
        return report
    version_ids = {entry.version_id for entry in entries}
    versions = {
        v.id: v
        for v in session.scalars(select(JourneyVersion).where(JourneyVersion.id.in_(version_ids)))
    }
    runs: list[dict[str, Any]] = []
    unwilling = members.without_marketing(session, {entry.member_id for entry in entries})
    for entry in entries:
        version = versions[entry.version_id]
        walk = _Walk(session, entry, version, version.version, now, runs)
        walk.no_marketing = entry.member_id in unwilling
        if _walk(walk):
            report.ended += 1
    report.steps = len(runs)
    session.flush()
    if runs:
        insert_rows(session, RUNS, runs)
    return report


def _walk(walk: _Walk) -> bool:
    """Walk the entry from its step; whether it ended."""
    entry, steps = walk.entry, definitions.by_key(walk.version.steps)
    nexts = definitions.following(walk.version.steps)
    key = entry.step_key
    if key is None or key not in steps:
        return _end(walk, EntryStatus.exited)
    if steps[key]["type"] == "wait":  # woken: the wait is over
        walk.record(key, "done")
        key = nexts[key]
    for _ in range(MAX_STEPS):
        if key is None:
            return _end(walk, EntryStatus.done)
        step = steps[key]
        kind = step["type"]
        if kind == "wait":
            entry.step_key, entry.wake_at = key, definitions.wait_until(step, walk.now)
            return False
        if kind == "exit":
            walk.record(key, "done")
            return _end(walk, EntryStatus.done)
        if kind == "action":
            walk.record(key, _act(walk, step))
            key = nexts[key]
        else:
            holds = _holds(walk, step["rule"])
            walk.record(key, "yes" if holds else "no")
            if kind == "branch":
                key = step["yes"] if holds else step["no"]
            elif holds:
                key = nexts[key]
            else:
                return _end(walk, EntryStatus.done)
    entry.step_key, entry.wake_at = key, walk.now  # the rest next run
    return False


def _end(walk: _Walk, status: EntryStatus) -> bool:
    entry = walk.entry
    entry.status, entry.step_key, entry.wake_at, entry.ended_at = (
        status.value,
        None,
        None,
        walk.now,
    )
    return True


def _holds(walk: _Walk, rule: str) -> bool:
    """The segment rule matches the member now."""
    members = segments.member_ids(walk.session, JOURNEYS, rule, walk.now)
    return walk.session.scalar(members.where(Member.id == walk.entry.member_id)) is not None


def _act(walk: _Walk, step: definitions.StepDict) -> str:
    """Take the action for the member (not for the control group); its outcome. An action the
    member cannot take (a coupon out of stock, a tag gone) is recorded and the walk goes on."""
    if walk.entry.in_control:
        return "control"
    if walk.no_marketing:
        return "skipped:no_marketing"
    try:
        with walk.session.begin_nested():
            return ACTIONS[step["action"]](walk, step)
    except PatronError as exc:
        return f"failed:{exc.code}"


def _ref(walk: _Walk, step: definitions.StepDict) -> str:
    return f"journey:{walk.entry.id}:{step['key']}"


def _issue_coupon(walk: _Walk, step: definitions.StepDict) -> str:
    result = issue_coupons(
        walk.session,
        JOURNEYS,
        step["template_id"],
        [walk.entry.member_id],
        source=IssueSource.journey,
        source_ref=f"journey:{walk.entry.journey_id}",
    )
    return f"skipped:{result.refused[0].code}" if result.refused else "done"


def _grant_points(walk: _Walk, step: definitions.StepDict) -> str:
    grants.grant_points(
        walk.session,
        JOURNEYS,
        walk.entry.member_id,
        step["points"],
        reason=step["reason"],
        store_id=None,
        source_ref=_ref(walk, step),
    )
    return "done"


def _send_message(walk: _Walk, step: definitions.StepDict) -> str:
    message = messages.send(
        walk.session,
        channel=Channel(step["channel"]),
        template_code=step["template"],
        member_id=walk.entry.member_id,
        source=f"journey:{walk.entry.journey_id}",
        dedupe_key=_ref(walk, step),
    )
    return f"skipped:{message.reason}" if message.reason else message.status


def _tag(walk: _Walk, step: definitions.StepDict) -> str:
    tag = tags.find_tag(walk.session, step["tag"])
    if tag is None:
        return "skipped:unknown_tag"
    if step["action"] == "tag_add":
        tags.tag_member(walk.session, JOURNEYS, walk.entry.member_id, tag)
    else:
        tags.untag_member(walk.session, JOURNEYS, walk.entry.member_id, tag.id)
    return "done"


def _webhook(walk: _Walk, step: definitions.StepDict) -> str:
    entry = walk.entry
    action = JourneyAction(
        entry.journey_id,
        walk.journey_version,
        entry.id,
        entry.member_id,
        step["key"],
        step.get("data", {}),
    )
    events.publish(walk.session, JOURNEY_ACTION, entry.id, action)
    return "done"


ACTIONS: dict[str, Callable[[_Walk, definitions.StepDict], str]] = {
    "issue_coupon": _issue_coupon,
    "grant_points": _grant_points,
    "send_message": _send_message,
    "tag_add": _tag,
    "tag_remove": _tag,
    "webhook": _webhook,
}
