"""Webhooks in Debian's chromium against a real server: an HQ admin adds a webhook pointing to a
local receiver and copies its secret; an order is recorded, the relay and a delivery run (as the
worker would), and the delivery log shows the event delivered; the receiver verifies it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect
from standardwebhooks.webhooks import Webhook

from patron.core import clock
from patron.core.actor import SYSTEM, Role
from patron.orders import service as orders
from patron.orders.schemas import OrderCreate
from patron.webhooks import delivery, relay
from tests.browser import ConsoleServer, StaffLogin, console_server, require_chromium
from tests.browser import log_in as sign_in
from tests.webhooks.conftest import Receiver

require_chromium()

pytestmark = pytest.mark.browser

ADMIN = "admin.li"
PASSWORD = "admin-password-16"
STORE = "SH001"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleServer]:
    with console_server(
        tmp_path_factory.mktemp("console-webhooks"),
        {STORE: "上海南京西路店"},
        [StaffLogin(ADMIN, PASSWORD, Role.hq_admin)],
    ) as running:
        yield running


def record_order(server: ConsoleServer, external_id: str = "POS-HOOK-1") -> None:
    body = {
        "external_id": external_id,
        "store_id": server.store(STORE),
        "channel": "pos",
        "occurred_at": clock.now().isoformat(),
        "items": [
            {"sku": "SKU-1", "name": "羊绒围巾", "quantity": 1, "unit_price": 12800, "paid": 12800}
        ],
        "payments": [{"method": "wechat_pay", "amount": 12800}],
    }
    with server.sessions.begin() as session:
        orders.create_order(session, SYSTEM, OrderCreate.model_validate(body))


def relay_and_deliver(server: ConsoleServer) -> None:
    """What the worker does: one relay round, then its deliveries."""
    with server.sessions.begin() as session:
        ids = relay.relay_round(session, clock.now()).delivery_ids
    with server.sessions.begin() as session:
        taken = delivery.take(session, ids, clock.now(), 5.0)
    outcomes = delivery.send(taken, 5.0, allow_private=True)
    with server.sessions.begin() as session:
        delivery.record(session, outcomes, clock.now())


def test_an_admin_adds_a_webhook_and_sees_a_delivery(
    page: Page, server: ConsoleServer, receiver: Receiver
) -> None:
    sign_in(page, ADMIN, PASSWORD)
    page.get_by_role("link", name="Webhook", exact=True).click()
    page.get_by_role("link", name="新建 Webhook").click()
    page.locator("input[name=url]").fill(receiver.url)
    page.locator("input[name=description]").fill("ERP")
    expect(page.locator("input[name=event_types][value='*']")).to_be_checked()
    page.get_by_role("button", name="创建").click()
    expect(page.get_by_role("heading", name="Webhook 已创建")).to_be_visible()
    secret = page.locator("#webhook-secret").inner_text()
    assert secret.startswith("whsec_")

    record_order(server)
    relay_and_deliver(server)

    page.get_by_role("link", name="推送记录").click()
    row = page.locator("tbody tr").first
    expect(row).to_contain_text("order.completed")
    expect(row).to_contain_text("已送达")
    expect(row).to_contain_text("200")
    [request] = receiver.requests
    body = Webhook(secret).verify(request.body, request.headers)
    assert body["type"] == "order.completed"
    expect(row).to_contain_text(body["id"])

    page.goto("/console/webhooks")
    expect(page.get_by_role("cell", name=receiver.url)).to_be_visible()
    expect(page.locator("body")).not_to_contain_text("whsec_")


def test_the_same_in_english(page: Page, server: ConsoleServer, receiver: Receiver) -> None:
    sign_in(page, ADMIN, PASSWORD)
    page.get_by_role("link", name="English").click()
    page.get_by_role("link", name="Webhooks", exact=True).click()
    page.get_by_role("link", name="New webhook").click()
    page.locator("input[name=url]").fill(receiver.url)
    page.locator("input[name=description]").fill("Mall")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("heading", name="Webhook created")).to_be_visible()
    assert page.locator("#webhook-secret").inner_text().startswith("whsec_")

    record_order(server, "POS-HOOK-EN")
    relay_and_deliver(server)

    page.get_by_role("link", name="Deliveries").click()
    row = page.locator("tbody tr").first
    expect(row).to_contain_text("order.completed")
    expect(row).to_contain_text("Delivered")
