"""Journeys: their definitions and versions, their status (draft → active ⇄ paused →
archived), the members inside them and the counts of the flow view.

A definition is checked whole before it is kept (`definitions.check`). Changing the definition
of a journey that members have entered writes a new version that new entries take; members
inside finish the version they entered (their entries name it)."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select, tuple_
from sqlalchemy import update as sql_update
from sqlalchemy.orm import Session

from patron.audit import service as audit
from patron.core import clock
from patron.core.actor import Actor
from patron.core.db import unique_or
from patron.core.errors import InvalidInput
from patron.core.pagination import PageResult, paginate
from patron.core.reasons import Reason
from patron.journeys import definitions, permissions
from patron.journeys.errors import (
    JourneyArchived,
    JourneyNameTaken,
    JourneyNotFound,
    JourneyStatusConflict,
)
from patron.journeys.models import (
    EntryStatus,
    Journey,
    JourneyEntry,
    JourneyStatus,
    JourneyStepRun,
    JourneyVersion,
)
from patron.journeys.schemas import (
    Definition,
    EntryOut,
    FlowOut,
    JourneyIn,
    JourneyOut,
    JourneyPatch,
    StepCount,
)

NAME_UNIQUE = "uq_journeys_name"
DEFINITION_FIELDS = ("trigger", "entry_limit", "entry_days", "control_percent", "goal", "steps")


def get_journey(session: Session, journey_id: int) -> Journey:
    journey = session.get(Journey, journey_id)
    if journey is None:
        raise JourneyNotFound(f"no journey {journey_id}")
    return journey


def current_version(session: Session, journey: Journey) -> JourneyVersion:
    return session.scalars(
        select(JourneyVersion).where(
            JourneyVersion.journey_id == journey.id,
            JourneyVersion.version == journey.current_version,
        )
    ).one()


def current_versions(session: Session, journeys: Iterable[Journey]) -> dict[int, JourneyVersion]:
    """Each journey's current version, by journey id: one query for them all (a list page)."""
    wanted = [(j.id, j.current_version) for j in journeys]
    if not wanted:
        return {}
    found = session.scalars(
        select(JourneyVersion).where(
            tuple_(JourneyVersion.journey_id, JourneyVersion.version).in_(wanted)
        )
    )
    return {version.journey_id: version for version in found}


def get_version(session: Session, journey_id: int, number: int) -> JourneyVersion:
    """One version's definition as it was written (an older one still runs for the members who
    entered it). 404 journey_not_found for a journey or version there is not."""
    journey = get_journey(session, journey_id)
    version = session.scalars(
        select(JourneyVersion).where(
            JourneyVersion.journey_id == journey.id, JourneyVersion.version == number
        )
    ).one_or_none()
    if version is None:
        raise JourneyNotFound(f"journey {journey_id} has no version {number}")
    return version


def entry_totals(session: Session, journey_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """Each journey's entries by status over all its versions (members finish the version they
    entered, so the older ones keep counting), `converted` among them: one query for all the
    journeys. A journey without entries counts 0 of each."""
    ids = list(journey_ids)
    if not ids:
        return {}
    totals = {journey_id: dict.fromkeys((s.value for s in EntryStatus), 0) for journey_id in ids}
    rows = session.execute(
        select(JourneyEntry.journey_id, JourneyEntry.status, func.count())
        .where(JourneyEntry.journey_id.in_(ids))
        .group_by(JourneyEntry.journey_id, JourneyEntry.status)
    )
    for journey_id, status, count in rows:
        totals[journey_id][status] = count
    return totals


def list_journeys(
    session: Session, cursor: str | None, limit: int, status: JourneyStatus | None = None
) -> PageResult[Journey]:
    query = select(Journey)
    if status is not None:
        query = query.where(Journey.status == status.value)
    return paginate(session, query, Journey.id, cursor, limit)


def journey_out(session: Session, journey: Journey) -> JourneyOut:
    version = current_version(session, journey)
    return JourneyOut(
        id=journey.id,
        name=journey.name,
        description=journey.description,
        status=journey.status,
        version=version.version,
        trigger=version.trigger,
        entry_limit=version.entry_limit,
        entry_days=version.entry_days,
        control_percent=version.control_percent,
        goal=version.goal,
        steps=version.steps,
        created_by=journey.created_by,
        created_at=journey.created_at,
        updated_at=journey.updated_at,
    )


def _taken(name: str) -> JourneyNameTaken:
    return JourneyNameTaken(f"a journey is named {name}")


def create(session: Session, actor: Actor, data: JourneyIn) -> Journey:
    """A draft journey with its first version (the control group's seed drawn now)."""
    permissions.MANAGE.check(actor)
    definitions.check(session, data)
    journey = Journey(name=data.name, description=data.description, created_by=actor.name)
    with unique_or(session, {NAME_UNIQUE: _taken(data.name)}):
        session.add(journey)
    version = JourneyVersion(
        journey_id=journey.id,
        version=1,
        seed=secrets.randbits(62),
        created_at=clock.now(),
        created_by=actor.name,
        **definitions.stored(data),
    )
    session.add(version)
    session.flush()
    audit.record(
        session,
        actor,
        "journey.create",
        "journey",
        journey.id,
        after={"name": journey.name, **definitions.stored(data)},
    )
    return journey


def update(session: Session, actor: Actor, journey_id: int, data: JourneyPatch) -> Journey:
    """Rename, describe, or change the definition (checked whole: the fields given over the
    current version's). A journey with entries gets a new version; one without is changed in
    place."""
    permissions.MANAGE.check(actor)
    journey = get_journey(session, journey_id)
    if journey.status == JourneyStatus.archived.value:
        raise JourneyArchived(f"journey {journey_id} is archived")
    changes = data.model_dump(mode="json", exclude_unset=True)
    for field in ("name", "description", "trigger", "entry_limit", "control_percent", "steps"):
        if field in changes and changes[field] is None:
            raise InvalidInput(field, "cannot be null", code=Reason.missing)
    if "name" in changes and changes["name"] != journey.name:
        with unique_or(session, {NAME_UNIQUE: _taken(changes["name"])}):
            journey.name = changes["name"]
    journey.description = changes.get("description", journey.description)
    given = {k: v for k, v in changes.items() if k in DEFINITION_FIELDS}
    if given:
        _change_definition(session, actor, journey, given)
    session.flush()
    audit.record(session, actor, "journey.update", "journey", journey.id, after=changes)
    return journey


def _change_definition(
    session: Session, actor: Actor, journey: Journey, given: dict[str, Any]
) -> None:
    version = current_version(session, journey)
    current = {field: getattr(version, field) for field in DEFINITION_FIELDS}
    merged = Definition.model_validate(
        {k: v for k, v in (current | given).items() if v is not None}
    )
    definitions.check(session, merged)
    values = definitions.stored(merged)
    if all(values[k] == current[k] for k in values):
        return
    entered = session.scalar(
        select(JourneyEntry.id).where(JourneyEntry.version_id == version.id).limit(1)
    )
    if entered is None:
        for key, value in values.items():
            setattr(version, key, value)
        return
    journey.current_version = version.version + 1
    session.add(
        JourneyVersion(
            journey_id=journey.id,
            version=journey.current_version,
            seed=version.seed,  # a member stays on their side of the control draw
            created_at=clock.now(),
            created_by=actor.name,
            **values,
        )
    )


MOVES: dict[str, tuple[set[str], JourneyStatus]] = {
    "activate": ({"draft", "paused"}, JourneyStatus.active),
    "pause": ({"active"}, JourneyStatus.paused),
    "archive": ({"draft", "active", "paused"}, JourneyStatus.archived),
}


def move(session: Session, actor: Actor, journey_id: int, name: str) -> Journey:
    """activate (a draft or paused journey: members enter, entries advance), pause (no new
    entries, entries wait), archive (for good: the members inside leave, `exited`). Asking for
    the status the journey has changes nothing."""
    permissions.MANAGE.check(actor)
    journey = get_journey(session, journey_id)
    sources, target = MOVES[name]
    if journey.status == target.value:
        return journey
    if journey.status == JourneyStatus.archived.value:
        raise JourneyArchived(f"journey {journey_id} is archived")
    if journey.status not in sources:
        raise JourneyStatusConflict(f"a {journey.status} journey cannot {name}")
    if target is JourneyStatus.active:  # what it names may have gone since it was saved
        version = current_version(session, journey)
        definitions.check(
            session,
            Definition.model_validate(
                {
                    f: getattr(version, f)
                    for f in DEFINITION_FIELDS
                    if getattr(version, f) is not None
                }
            ),
        )
    before = journey.status
    journey.status = target.value
    if target is JourneyStatus.archived:
        session.execute(
            sql_update(JourneyEntry)
            .where(
                JourneyEntry.journey_id == journey.id,
                JourneyEntry.status == EntryStatus.active.value,
            )
            .values(
                status=EntryStatus.exited.value, ended_at=clock.now(), step_key=None, wake_at=None
            )
            .execution_options(synchronize_session=False)
        )
    session.flush()
    audit.record(
        session,
        actor,
        f"journey.{name}",
        "journey",
        journey.id,
        before={"status": before},
        after={"status": journey.status},
    )
    return journey


def entries(
    session: Session,
    journey_id: int,
    cursor: str | None,
    limit: int,
    status: EntryStatus | None = None,
) -> PageResult[EntryOut]:
    get_journey(session, journey_id)
    query = select(JourneyEntry).where(JourneyEntry.journey_id == journey_id)
    if status is not None:
        query = query.where(JourneyEntry.status == status.value)
    page = paginate(session, query, JourneyEntry.id, cursor, limit)
    numbers = _pairs(
        session.execute(
            select(JourneyVersion.id, JourneyVersion.version).where(
                JourneyVersion.journey_id == journey_id
            )
        )
    )
    return PageResult(
        [
            EntryOut(
                id=e.id,
                member_id=e.member_id,
                version=numbers[e.version_id],
                trigger_ref=e.trigger_ref,
                in_control=e.in_control,
                status=e.status,
                step_key=e.step_key,
                wake_at=e.wake_at,
                entered_at=e.entered_at,
                ended_at=e.ended_at,
            )
            for e in page.items
        ],
        page.next_cursor,
    )


def flow(session: Session, journey_id: int, version_number: int | None = None) -> FlowOut:
    """A version's steps (the current one by default) with, per step, the entries now at it
    and what it did (outcome: count); and the version's entries by status."""
    journey = get_journey(session, journey_id)
    version = get_version(session, journey.id, version_number or journey.current_version)
    waiting = _pairs(
        session.execute(
            select(JourneyEntry.step_key, func.count())
            .where(
                JourneyEntry.version_id == version.id,
                JourneyEntry.status == EntryStatus.active.value,
            )
            .group_by(JourneyEntry.step_key)
        )
    )
    outcomes: dict[str, dict[str, int]] = {}
    for key, outcome, count in session.execute(
        select(JourneyStepRun.step_key, JourneyStepRun.outcome, func.count())
        .where(JourneyStepRun.version_id == version.id)
        .group_by(JourneyStepRun.step_key, JourneyStepRun.outcome)
    ):
        outcomes.setdefault(key, {})[outcome] = count
    statuses = _pairs(
        session.execute(
            select(JourneyEntry.status, func.count())
            .where(JourneyEntry.version_id == version.id)
            .group_by(JourneyEntry.status)
        )
    )
    return FlowOut(
        journey_id=journey.id,
        version=version.version,
        steps=[
            StepCount(
                key=step["key"],
                type=step["type"],
                action=step.get("action"),
                waiting=waiting.get(step["key"], 0),
                outcomes=outcomes.get(step["key"], {}),
            )
            for step in version.steps
        ],
        entries={status.value: statuses.get(status.value, 0) for status in EntryStatus},
    )


def _pairs(rows: Iterable[Any]) -> dict[Any, Any]:
    return {key: value for key, value in rows}
