"""Times at the edge of the calendar have no UTC equivalent: every route that takes a time answers
422 `out_of_range` naming the field, never a 500 from an overflow."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from patron.core.actor import Role
from patron.core.settings import Settings
from tests.factories import make_member, make_staff, make_store, staff_headers

EARLIEST = "0001-01-01T00:00:00+14:00"
LATEST = "9999-12-31T23:59:59-14:00"


@pytest.mark.parametrize("moment", [EARLIEST, LATEST])
@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/v1/orders?since={}", "since"),
        ("/api/v1/orders?until={}", "until"),
        ("/api/v1/members?registered_from={}", "registered_from"),
        ("/api/v1/members?registered_to={}", "registered_to"),
        ("/api/v1/audit?since={}", "since"),
        ("/api/v1/audit?until={}", "until"),
    ],
)
def test_list_filters_refuse_times_without_a_utc_equivalent(
    client: TestClient, session: Session, settings: Settings, path: str, field: str, moment: str
) -> None:
    admin = make_staff(session, Role.hq_admin)
    response = client.get(
        path.format(moment.replace("+", "%2B")), headers=staff_headers(admin, settings)
    )
    assert response.status_code == 422, response.text
    assert [(e["field"], e["code"]) for e in response.json()["errors"]] == [(field, "out_of_range")]


@pytest.mark.parametrize("moment", [EARLIEST, LATEST])
def test_the_points_preview_refuses_a_time_without_a_utc_equivalent(
    client: TestClient, session: Session, settings: Settings, moment: str
) -> None:
    store = make_store(session)
    member = make_member(session, store)
    admin = make_staff(session, Role.hq_admin)
    body = {
        "member_id": member.id,
        "store_id": store.id,
        "occurred_at": moment,
        "items": [{"sku": "A1", "name": "面霜", "quantity": 1, "unit_price": 1000, "paid": 1000}],
    }
    response = client.post(
        "/api/v1/points/preview", json=body, headers=staff_headers(admin, settings)
    )
    assert response.status_code == 422, response.text
    assert [(e["field"], e["code"]) for e in response.json()["errors"]] == [
        ("occurred_at", "out_of_range")
    ]
