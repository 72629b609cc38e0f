"""The mall on the member's page through the test client: the items the member's points cover
come first and highlighted; an item is redeemed once per form (a double tap replays), with a
pick-up store or an address; a refusal says why on the item's page."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.console.web import LANG_COOKIE
from patron.core.security import form_token, issue_member_token
from patron.core.settings import Settings
from patron.mall.models import MallRedemption
from patron.member_page.web import CSRF_FIELD, MEMBER_COOKIE
from patron.members.models import Member
from tests.factories import make_member, make_store
from tests.mall.helpers import available, give, make_item


@pytest.fixture
def member(session: Session) -> Member:
    found = make_member(session, make_store(session))
    give(session, found.id, 1000)
    return found


def signed_in(client: TestClient, settings: Settings, member_id: int, lang: str = "zh") -> str:
    token = issue_member_token(settings.secret_key, member_id, timedelta(hours=1)).token
    client.cookies.set(MEMBER_COOKIE, token, path="/")
    client.cookies.set(LANG_COOKIE, lang, path="/")
    return form_token(settings.secret_key, token)


def form_key(html: str) -> str:
    found = re.search(r'name="form_key" value="([^"]+)"', html)
    assert found
    return found[1]


def test_a_member_sees_what_they_can_afford_first_and_redeems_once(
    client: TestClient, session: Session, settings: Settings, member: Member
) -> None:
    dear = make_item(session, name="电饭煲", name_en="Rice cooker", points_price=5000)
    cup = make_item(session, name="保温杯", name_en="Thermos", fulfilment=["delivery"])
    csrf = signed_in(client, settings, member.id, "en")
    page = client.get("/m/mall")
    assert page.status_code == 200
    assert page.text.index("Thermos") < page.text.index("Rice cooker")
    assert f'class="mall-card affordable" href="/m/mall/{cup.id}"' in page.text
    assert f'class="mall-card out" href="/m/mall/{dear.id}"' in page.text
    detail = client.get(f"/m/mall/{cup.id}")
    key = form_key(detail.text)
    body = {
        CSRF_FIELD: csrf,
        "form_key": key,
        "fulfilment": "delivery",
        "recipient_name": "Zhang San",
        "recipient_mobile": "13800000000",
        "address": "1 Nanjing West Road",
    }
    first = client.post(f"/m/mall/{cup.id}/redeem", data=body, follow_redirects=False)
    assert first.status_code == 303
    again = client.post(f"/m/mall/{cup.id}/redeem", data=body, follow_redirects=False)
    assert again.headers["location"] == first.headers["location"]
    assert session.scalar(select(func.count()).select_from(MallRedemption)) == 1
    assert available(session, member.id) == 500
    mine = client.get(first.headers["location"])
    assert "Redeemed!" in mine.text
    assert "Thermos" in mine.text or "保温杯" in mine.text
    missing = client.post(
        f"/m/mall/{cup.id}/redeem",
        data={**body, "form_key": "k2", "address": ""},
    )
    assert missing.status_code == 422
    assert 'data-testid="mall-error"' in missing.text


def test_a_refusal_is_shown_in_the_members_language(
    client: TestClient, session: Session, settings: Settings, member: Member
) -> None:
    cup = make_item(session, fulfilment=["pickup"], stock=0)
    store = make_store(session)
    csrf = signed_in(client, settings, member.id, "zh")
    body = {CSRF_FIELD: csrf, "form_key": "k1", "fulfilment": "pickup", "store_id": store.id}
    refused = client.post(f"/m/mall/{cup.id}/redeem", data=body)
    assert refused.status_code == 409
    assert "库存" in refused.text or "兑" in refused.text


def test_the_mall_needs_a_signed_in_member(client: TestClient) -> None:
    response = client.get("/m/mall", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/m/login")
