"""POST /api/v1/segments/preview: the count and a sample, store scoping, invalid rules, and
injection attempts that only ever get counts or invalid_rule."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from patron.core import clock
from patron.core.actor import Role
from patron.core.settings import Settings
from patron.segments import rules
from patron.stores.models import Store
from tests.factories import make_staff, staff_headers
from tests.segments import evaluator
from tests.segments.world import NOW, build

PREVIEW = "/api/v1/segments/preview"
EXAMPLE = (
    'tier in ("gold","diamond") and spent(category="母婴", days=90) >= 50000 and not tag("投诉")'
)


def _preview(client: TestClient, headers: dict[str, str], rule: str) -> Any:
    with clock.frozen(NOW):
        return client.post(PREVIEW, json={"rule": rule}, headers=headers)


def test_preview_counts_and_samples_in_the_callers_stores(
    client: TestClient, session: Session, settings: Settings
) -> None:
    built = build(session, seed=5, count=30)
    world = evaluator.load(session, NOW)
    hq = staff_headers(make_staff(session, Role.hq_marketing), settings)
    for text in ("frequency >= 0", EXAMPLE, 'not tag("vip") and spent(days=90) > 0'):
        expected = world.matching(rules.parse(text))
        response = _preview(client, hq, text)
        assert response.status_code == 200, response.text
        assert response.json() == {"count": len(expected), "sample": expected[:20]}
    assert len(world.matching(rules.parse("frequency >= 0"))) > 20
    store = session.get(Store, built.stores["S1"])
    assert store is not None
    manager = staff_headers(make_staff(session, Role.store_manager, [store]), settings)
    scoped = world.matching(rules.parse("frequency >= 0"), {"S1"})
    answer = _preview(client, manager, "frequency >= 0").json()
    assert answer == {"count": len(scoped), "sample": scoped[:20]}
    assert 0 < len(scoped) < len(world.matching(rules.parse("frequency >= 0")))


def test_roles_without_marketing_may_not_preview(
    client: TestClient, session: Session, settings: Settings
) -> None:
    for role in (Role.cashier, Role.hq_finance):
        headers = staff_headers(make_staff(session, role), settings)
        assert _preview(client, headers, "frequency > 1").status_code == 403


def test_an_invalid_rule_answers_422_with_where_and_what(
    client: TestClient, session: Session, settings: Settings
) -> None:
    headers = staff_headers(make_staff(session, Role.hq_marketing), settings)
    response = _preview(client, headers, 'tier = "gold"\nand frequency >')
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid_rule"
    assert (body["line"], body["column"]) == (2, 16)
    assert "an integer" in body["expected"]
    assert "line 2, column 16" in body["detail"]


INJECTIONS = [
    "'); drop table members; --",
    'tag("\'); drop table members; --")',
    'tag("x\\" or 1=1")',
    'tag("x") or 1=1',
    "store = \"S1' OR '1'='1\"",
    'attr("kids\' --") = "1; delete from members"',
    'attr("kids") = "\\\\\'"',
    'tier = "gold"; DROP TABLE members',
    'guide = "\\u0000"',
    'spent(category="%", days=90) > 0',
    'bought(sku="A1\' UNION SELECT id FROM staff_users --")',
    'coupon(template="W100\\"); --")',
    "members.id > 0",
    "select(1) > 0",
    "frequency > 1 /* comment */",
    "recency_days > 99999999999",
    "recency_days < -1000000000000000",
    "registered_days between -1000000000000000 and 1000000000000000",
    'tag("😀\\ud83d")',
    'tag("🧪中文\\n\\t") or lifecycle = "prospect"',
    "\\",
    '"',
    "((((((((((frequency > 1))))))))))",
    "not " * 200 + "frequency > 1",
    "not " * 40 + "frequency > 1",
    " or ".join(["frequency > 1"] * 580),
    " and ".join(['not tag("x")'] * 500),
    "(" * 39 + "frequency > 1" + ")" * 39,
    "frequency > 1 and (" * 39 + "frequency > 2" + ")" * 39,
]


@pytest.mark.parametrize("rule", INJECTIONS)
def test_injection_attempts_get_counts_or_invalid_rule(
    client: TestClient, session: Session, settings: Settings, rule: str
) -> None:
    headers = staff_headers(make_staff(session, Role.hq_marketing), settings)
    response = _preview(client, headers, rule)
    status = response.status_code
    body = response.json()
    assert status in (200, 422), response.text
    if status == 200:
        assert set(body) == {"count", "sample"}
    else:
        assert body["code"] in ("invalid_rule", "validation_error")
        text = response.text.lower()
        assert "select " not in text
        assert "sqlalchemy" not in text
