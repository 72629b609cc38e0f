from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session

from patron.campaigns import jobs, launch
from patron.core import clock
from patron.core.actor import SYSTEM
from patron.coupons.models import CouponTemplate
from patron.members import registration
from patron.members.models import Member
from patron.members.schemas import MemberUpdate
from patron.messages import channels, tasks
from patron.messages.kinds import Channel, Purpose
from patron.messages.models import MessageTemplate
from tests.factories import make_coupon_template, make_member, make_store

# 10:00 in Shanghai: outside the default quiet hours (21:00-09:00).
DAYTIME = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)
EVERYONE = "registered_days >= 0"


@pytest.fixture(autouse=True)
def _daytime() -> None:
    clock.set_now(DAYTIME)


@pytest.fixture(autouse=True)
def _deliveries_in_test_transaction(
    sessions: Callable[[], Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The delivery task (immediate mode) opens its transaction on the test's connection."""

    @contextmanager
    def transaction() -> Iterator[Session]:
        with sessions() as session:
            yield session
            session.commit()

    monkeypatch.setattr(tasks, "transaction", transaction)
    # The treatment task (immediate mode) commits its batches on the test's connection too.
    monkeypatch.setattr(jobs, "treat", lambda campaign_id: launch.run(campaign_id, sessions))


@dataclass
class World:
    members: list[Member]
    consenting: list[int]  # SMS consent
    refusing: list[int]  # no_marketing (with SMS consent)
    coupons: CouponTemplate


def build(session: Session, count: int = 40) -> World:
    """`count` members: every fourth without SMS consent, two who refuse marketing; the SMS
    channel on, a marketing SMS template `promo`, an active coupon template."""
    for channel in Channel:
        channels.put(session, SYSTEM, channel, "log", True, {"inbound_token": "in-token-1"})
    session.add(
        MessageTemplate(
            code="promo",
            channel=Channel.sms.value,
            purpose=Purpose.marketing.value,
            body="{{ name }}，会员日满100减20",
        )
    )
    store = make_store(session)
    members = [
        make_member(session, store, name=f"会员{i}", consents={"sms": i % 4 != 0})
        for i in range(count)
    ]
    refusing = [members[1].id, members[2].id]
    for member_id in refusing:
        registration.update_member(session, SYSTEM, member_id, MemberUpdate(no_marketing=True))
    consenting = [m.id for i, m in enumerate(members) if i % 4 != 0]
    return World(members, consenting, refusing, make_coupon_template(session))


def actions(world: World, points: int | None = None) -> list[dict[str, object]]:
    found: list[dict[str, object]] = [
        {"type": "issue_coupon", "template_id": world.coupons.id},
        {"type": "send_message", "channel": "sms", "template": "promo"},
    ]
    if points:
        found.append({"type": "grant_points", "points": points, "reason": "会员日"})
    return found
