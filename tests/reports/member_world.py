"""Generated members and purchases for the member reports' tests, held both in the database
(members through the registration service, their day facts and profiles as rows) and as pandas
frames the tests compute the expected figures from, independently of the reports' SQL."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy.orm import Session

from patron.core import clock
from patron.core.actor import Role
from patron.members.models import MemberStatus
from patron.profiles.models import MemberProfile
from patron.profiles.scoring import Lifecycle, RfmClass
from patron.reports.facts import link_member_days
from patron.reports.models import MemberDayFacts
from patron.stores.models import Store
from tests.factories import make_member, make_staff, make_store

SHANGHAI = timedelta(hours=8)
START = datetime(2024, 11, 1, tzinfo=UTC)
TODAY = date(2026, 1, 15)
NOW = datetime(2026, 1, 15, 4, tzinfo=UTC)
REGISTRATION_CHANNELS = ("store", "online", "mini_program")
ORDER_CHANNELS = ("pos", "online_mall", "mini_program")


@dataclass
class World:
    stores: list[Store]
    members: pd.DataFrame  # id, registered_day, channel, store_id, guide_id, status
    facts: pd.DataFrame  # day, member_id, store_id, channel, orders, net_sales
    profiles: pd.DataFrame  # member_id, rfm_class, lifecycle


def build_world(session: Session, seed: int = 7, members: int = 70) -> World:
    rng = random.Random(seed)
    stores = [make_store(session) for _ in range(3)]
    guides = {s.id: make_staff(session, Role.guide, [s]) for s in stores}
    people: list[dict[str, Any]] = []
    for n in range(members):
        # Registered at any minute of 14 months, so that some fall across midnight in Shanghai
        # while still the day before in UTC.
        at = START + timedelta(minutes=rng.randrange(14 * 30 * 24 * 60))
        store = rng.choice([*stores, None])
        guide = guides[store.id] if store is not None and rng.random() < 0.6 else None
        with clock.frozen(at):
            member = make_member(
                session,
                store,
                channel=rng.choice(REGISTRATION_CHANNELS),
                guide_id=guide.id if guide else None,
            )
        if n % 23 == 5:
            member.status = MemberStatus.merged.value
        people.append(
            {
                "id": member.id,
                "registered_day": (at + SHANGHAI).date(),
                "channel": member.channel,
                "store_id": member.store_id,
                "guide_id": member.opening_guide_id,
                "status": member.status,
            }
        )
    facts = _purchases(rng, people, [s.id for s in stores])
    session.add_all(MemberDayFacts(**row) for row in facts)
    session.flush()
    link_member_days(session)
    profiles = _profiles(rng, people)
    session.add_all(MemberProfile(**row) for row in profiles)
    session.flush()
    return World(
        stores,
        pd.DataFrame(people),
        pd.DataFrame(facts),
        pd.DataFrame(profiles, columns=["member_id", "rfm_class", "lifecycle"]),
    )


def _purchases(
    rng: random.Random, people: list[dict[str, Any]], store_ids: list[int]
) -> list[dict[str, Any]]:
    """Per member 0–12 purchase days after registering (a few the same day or before it),
    each in one or two stores and channels; sales heavy-tailed so that the 80/20 bites."""
    rows: dict[tuple[date, int, int, str], dict[str, Any]] = {}
    for person in people:
        registered = person["registered_day"]
        scale = rng.lognormvariate(9, 1.2)
        for _ in range(rng.choice([0, 0, 1, 1, 2, 3, 5, 8, 12])):
            day = registered + timedelta(days=rng.choice([-3, 0, 1, 5, 20, 29, 31, 45]))
            day += timedelta(days=int(rng.expovariate(1 / 60)))
            if day >= TODAY:
                continue
            for _ in range(rng.choice([1, 1, 1, 2])):
                key = (day, int(person["id"]), rng.choice(store_ids), rng.choice(ORDER_CHANNELS))
                row = rows.setdefault(
                    key,
                    {
                        "day": key[0],
                        "member_id": key[1],
                        "store_id": key[2],
                        "channel": key[3],
                        "orders": 0,
                        "net_sales": 0,
                    },
                )
                row["orders"] += 1
                row["net_sales"] += int(scale * rng.random())
    return list(rows.values())


def _profiles(rng: random.Random, people: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Most active members have a profile with a lifecycle stage, some an RFM class."""
    rows = []
    for person in people:
        if person["status"] != MemberStatus.active.value or rng.random() < 0.15:
            continue
        scored = rng.random() < 0.7
        rows.append(
            {
                "member_id": person["id"],
                "rfm_class": rng.choice(list(RfmClass)).value if scored else None,
                "lifecycle": rng.choice(list(Lifecycle)).value,
            }
        )
    return rows
