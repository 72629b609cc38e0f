"""`patron webhooks list` and `patron webhooks redeliver`, on an SQLite file."""

from __future__ import annotations

import pytest

from patron.core import db
from patron.webhooks import tasks as webhook_tasks
from patron.webhooks.models import WebhookDelivery
from patron.webhooks.tasks import enqueue as real_enqueue
from tests.cli.test_cli import cli_database, invoke  # noqa: F401 (a fixture)
from tests.conftest import TEST_SECRET
from tests.webhooks.conftest import Receiver
from tests.webhooks.helpers import endpoint


@pytest.mark.usefixtures("cli_database")
def test_redeliver_sends_the_failed_deliveries_again(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATRON_SECRET_KEY", TEST_SECRET)
    monkeypatch.setattr(webhook_tasks, "enqueue", real_enqueue)  # the CLI sends at once
    invoke("db", "upgrade")
    with db.transaction() as session:
        hook = endpoint(session, receiver.url)
        for n, status in enumerate(["failed", "succeeded", "failed"], start=1):
            session.add(
                WebhookDelivery(
                    endpoint_id=hook.id,
                    event_id=n,
                    event_type="order.completed",
                    payload={"id": f"evt_{n}", "type": "order.completed", "data": {}},
                    status=status,
                    attempts=9,
                    error="HTTP 500",
                )
            )
    listed = " ".join(invoke("webhooks", "list").split())
    assert "enabled │ 0 │ 1 │ 2" in listed  # pending, succeeded, failed
    out = invoke("webhooks", "redeliver", str(hook.id))
    assert "2 failed deliveries sent again: 2 succeeded" in " ".join(out.split())
    assert sorted(r.headers["webhook-id"] for r in receiver.requests) == ["evt_1", "evt_3"]
