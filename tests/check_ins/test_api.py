from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from patron.core import clock
from patron.core.actor import Role
from patron.core.settings import Settings
from tests.check_ins.helpers import at_business, check_in_entries, member_headers
from tests.factories import make_member, make_staff, make_store, staff_headers

DAY = date(2026, 3, 10)
PROGRAM = {
    "enabled": True,
    "points_per_day": 3,
    "cycle_days": 7,
    "streak_bonuses": {"2": 5},
}


@pytest.fixture(autouse=True)
def _now() -> None:
    clock.set_now(at_business(DAY, 23, 59))


def headers(session: Session, settings: Settings, role: Role) -> dict[str, str]:
    return staff_headers(make_staff(session, role), settings)


def test_hq_sets_the_program_and_staff_read_it(
    client: TestClient, session: Session, settings: Settings
) -> None:
    cashier = headers(session, settings, Role.cashier)
    shown = client.get("/api/v1/check-in-program", headers=cashier)
    assert shown.status_code == 200, shown.text
    assert shown.json() == {
        "enabled": True,
        "points_per_day": 5,
        "cycle_days": 7,
        "streak_bonuses": {},
    }
    assert client.put("/api/v1/check-in-program", json=PROGRAM, headers=cashier).status_code == 403
    marketing = headers(session, settings, Role.hq_marketing)
    saved = client.put("/api/v1/check-in-program", json=PROGRAM, headers=marketing)
    assert saved.status_code == 200, saved.text
    assert saved.json() == PROGRAM
    assert client.get("/api/v1/check-in-program", headers=cashier).json() == PROGRAM


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"cycle_days": 14}, "not_a_choice"),
        ({"streak_bonuses": {"8": 1}}, "bonus_day_outside_cycle"),
        ({"streak_bonuses": {"0": 1}}, "unknown_field"),
        ({"streak_bonuses": {"x": 1}}, "unknown_field"),
        ({"cycle_days": 30, "streak_bonuses": {"31": 1}}, "unknown_field"),
        ({"streak_bonuses": {"3": 0}}, None),
        ({"points_per_day": -1}, None),
    ],
)
def test_a_wrong_program_is_refused(
    client: TestClient,
    session: Session,
    settings: Settings,
    change: dict[str, object],
    code: str | None,
) -> None:
    admin = headers(session, settings, Role.hq_admin)
    refused = client.put("/api/v1/check-in-program", json=PROGRAM | change, headers=admin)
    assert refused.status_code == 422, refused.text
    if code:
        assert refused.json()["errors"][0]["code"] == code


def test_a_member_checks_in_once_a_business_day(
    client: TestClient, session: Session, settings: Settings
) -> None:
    admin = headers(session, settings, Role.hq_admin)
    client.put("/api/v1/check-in-program", json=PROGRAM, headers=admin)
    member = make_member(session)
    mine = member_headers(settings.secret_key, member.id, "k1")
    first = client.post("/api/v1/me/check-ins", headers=mine)
    assert first.status_code == 201, first.text
    body = first.json()
    assert (body["business_day"], body["streak"], body["points"], body["bonus"]) == (
        "2026-03-10",
        1,
        3,
        0,
    )
    assert body["tomorrow"] == {
        "business_day": "2026-03-11",
        "streak": 2,
        "points": 3,
        "bonus": 5,
        "total": 8,
    }
    # A retry with the same key replays the answer; a new key is refused.
    replay = client.post("/api/v1/me/check-ins", headers=mine)
    assert replay.status_code == 200
    assert replay.json() == body
    again = client.post(
        "/api/v1/me/check-ins", headers=member_headers(settings.secret_key, member.id, "k2")
    )
    assert again.status_code == 409
    assert again.json()["code"] == "already_checked_in"
    # Midnight in Shanghai: a new day.
    clock.set_now(at_business(DAY + timedelta(days=1), 0, 0))
    second = client.post(
        "/api/v1/me/check-ins", headers=member_headers(settings.secret_key, member.id, "k3")
    )
    assert second.status_code == 201, second.text
    assert second.json()["total"] == 8
    assert [e.points for e in check_in_entries(session, member.id)] == [3, 8]
    calendar = client.get(
        "/api/v1/me/check-ins", headers=member_headers(settings.secret_key, member.id)
    )
    assert calendar.status_code == 200, calendar.text
    shown = calendar.json()
    assert shown["month"] == "2026-03"
    assert shown["checked_in_today"] is True
    assert shown["current_streak"] == 2
    assert [d["business_day"] for d in shown["days"]] == ["2026-03-10", "2026-03-11"]
    assert shown["next_check_in"]["business_day"] == "2026-03-12"
    february = client.get(
        "/api/v1/me/check-ins?month=2026-02",
        headers=member_headers(settings.secret_key, member.id),
    )
    assert february.json()["days"] == []
    bad = client.get(
        "/api/v1/me/check-ins?month=2026-13",
        headers=member_headers(settings.secret_key, member.id),
    )
    assert bad.status_code == 422


def test_staff_tokens_cannot_check_in_and_members_cannot_read_staff_routes(
    client: TestClient, session: Session, settings: Settings
) -> None:
    member = make_member(session)
    admin = headers(session, settings, Role.hq_admin) | {"Idempotency-Key": "s1"}
    assert client.post("/api/v1/me/check-ins", headers=admin).status_code == 401
    assert client.post("/api/v1/me/check-ins").status_code == 401
    mine = member_headers(settings.secret_key, member.id)
    assert client.get("/api/v1/check-in-program", headers=mine).status_code == 401
    assert client.get(f"/api/v1/members/{member.id}/check-ins", headers=mine).status_code == 401


def test_a_check_in_needs_an_idempotency_key(
    client: TestClient, session: Session, settings: Settings
) -> None:
    member = make_member(session)
    answer = client.post(
        "/api/v1/me/check-ins", headers=member_headers(settings.secret_key, member.id)
    )
    assert answer.status_code in (400, 422), answer.text
    assert check_in_entries(session, member.id) == []


def test_staff_read_a_members_check_ins_within_their_stores(
    client: TestClient, session: Session, settings: Settings
) -> None:
    mine, other = make_store(session), make_store(session)
    member = make_member(session, mine)
    client.post("/api/v1/me/check-ins", headers=member_headers(settings.secret_key, member.id, "a"))
    cashier = staff_headers(make_staff(session, Role.cashier, [mine]), settings)
    listed = client.get(f"/api/v1/members/{member.id}/check-ins", headers=cashier)
    assert listed.status_code == 200, listed.text
    assert [c["business_day"] for c in listed.json()["items"]] == ["2026-03-10"]
    elsewhere = staff_headers(make_staff(session, Role.cashier, [other]), settings)
    assert (
        client.get(f"/api/v1/members/{member.id}/check-ins", headers=elsewhere).status_code == 404
    )


def test_the_report_counts_days_members_points_and_streaks(
    client: TestClient, session: Session, settings: Settings
) -> None:
    admin = headers(session, settings, Role.hq_admin)
    client.put("/api/v1/check-in-program", json=PROGRAM, headers=admin)
    store, other = make_store(session), make_store(session)
    first, second = make_member(session, store), make_member(session, other)
    n = 0
    for offset in (0, 1):
        clock.set_now(at_business(DAY + timedelta(days=offset), 12))
        for member in (first, second) if offset == 0 else (first,):
            n += 1
            client.post(
                "/api/v1/me/check-ins",
                headers=member_headers(settings.secret_key, member.id, f"r{n}"),
            )
    admin = headers(session, settings, Role.hq_admin)  # a token of the clock's time
    url = "/api/v1/check-ins/report?from=2026-03-01&to=2026-03-31"
    shown = client.get(url, headers=admin)
    assert shown.status_code == 200, shown.text
    body = shown.json()
    assert (body["check_ins"], body["members"], body["points"]) == (3, 2, 3 + 3 + 8)
    assert body["days"] == [
        {"business_day": "2026-03-10", "check_ins": 2, "points": 6, "bonus": 0},
        {"business_day": "2026-03-11", "check_ins": 1, "points": 8, "bonus": 5},
    ]
    assert body["streaks"] == [{"streak": 1, "check_ins": 2}, {"streak": 2, "check_ins": 1}]
    manager = staff_headers(make_staff(session, Role.store_manager, [other]), settings)
    assert client.get(url, headers=manager).json()["check_ins"] == 1
    cashier = headers(session, settings, Role.cashier)
    assert client.get(url, headers=cashier).status_code == 403
    exported = client.get(url + "&format=csv", headers=admin)
    assert exported.status_code == 200
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert rows == [
        ["business_day", "check_ins", "points", "bonus"],
        ["2026-03-10", "2", "6", "0"],
        ["2026-03-11", "1", "8", "5"],
    ]
    streaks = client.get(url + "&format=xlsx&table=streaks", headers=admin)
    assert streaks.status_code == 200
    assert streaks.content[:2] == b"PK"
    reversed_ = client.get("/api/v1/check-ins/report?from=2026-03-31&to=2026-03-01", headers=admin)
    assert reversed_.status_code == 422
