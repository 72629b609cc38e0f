from __future__ import annotations

import json
import socket
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from standardwebhooks.webhooks import Webhook

from patron.core import clock
from patron.core.settings import Settings
from patron.webhooks import delivery, jobs, relay, service, urls
from patron.webhooks.delivery import GIVE_UP_AFTER, next_attempt
from patron.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from tests.webhooks.conftest import Receiver
from tests.webhooks.helpers import endpoint, outbox

TIMEOUT = 2.0


def _relayed(session: Session, n: int = 1) -> list[int]:
    outbox(session, n=n)
    return relay.relay_round(session, clock.now()).delivery_ids


def _run(session: Session, ids: list[int], allow_private: bool = True) -> list[delivery.Outcome]:
    """One delivery task, in the test's transaction."""
    taken = delivery.take(session, ids, clock.now(), TIMEOUT)
    outcomes = delivery.send(taken, TIMEOUT, allow_private)
    delivery.record(session, outcomes, clock.now())
    session.expire_all()
    return outcomes


def test_a_simulated_clock_records_the_attempt_but_signs_at_the_wall_time(
    session: Session, receiver: Receiver
) -> None:
    simulated = datetime(2025, 1, 1, tzinfo=UTC)  # a `--now` run, far from the real time
    clock.set_now(simulated)
    hook = endpoint(session, receiver.url)
    [delivery_id] = _relayed(session)
    [outcome] = _run(session, [delivery_id])
    [request] = receiver.requests
    Webhook(hook.secret).verify(request.body, request.headers)  # within its 5-minute tolerance
    assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 60
    assert outcome.at == simulated
    assert _get(session, delivery_id).last_attempt_at == simulated


def _get(session: Session, delivery_id: int) -> WebhookDelivery:
    found = session.get(WebhookDelivery, delivery_id)
    assert found is not None
    return found


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_delivery_is_signed_after_standard_webhooks_and_succeeds(
    session: Session, receiver: Receiver
) -> None:
    hook = endpoint(session, receiver.url)
    [delivery_id] = _relayed(session)
    [outcome] = _run(session, [delivery_id])
    assert outcome.succeeded
    [request] = receiver.requests
    body = Webhook(hook.secret).verify(request.body, request.headers)
    assert body["id"] == request.headers["webhook-id"]
    assert body["type"] == "order.completed"
    assert body["data"] == {"order_id": 0}
    assert request.headers["content-type"] == "application/json"
    with pytest.raises(Exception, match="signature"):
        Webhook(service.new_secret()).verify(request.body, request.headers)
    sent = _get(session, delivery_id)
    assert (sent.status, sent.attempts, sent.response_code) == ("succeeded", 1, 200)
    assert sent.delivered_at is not None
    assert sent.next_attempt_at is None
    attempts = session.scalars(select(WebhookAttempt)).all()
    assert [(a.delivery_id, a.response_code) for a in attempts] == [(delivery_id, 200)]


def test_a_failure_is_retried_after_about_5_seconds(session: Session, receiver: Receiver) -> None:
    receiver.status = 503
    hook = endpoint(session, receiver.url)
    [delivery_id] = _relayed(session)
    now = clock.now()
    clock.set_now(now)
    _run(session, [delivery_id])
    failed = _get(session, delivery_id)
    assert (failed.status, failed.attempts, failed.response_code) == ("pending", 1, 503)
    assert failed.error.startswith("HTTP 503")
    assert failed.next_attempt_at is not None
    assert timedelta(seconds=4) <= failed.next_attempt_at - now <= timedelta(seconds=6)
    session.refresh(hook)
    assert hook.failing_since == now
    # Not due yet: a task that comes early takes nothing.
    assert delivery.take(session, [delivery_id], now, TIMEOUT) == []
    clock.set_now(now + timedelta(seconds=7))
    receiver.status = 200
    _run(session, [delivery_id])
    assert _get(session, delivery_id).status == "succeeded"
    assert [r.headers["webhook-id"] for r in receiver.requests] == [f"evt_{failed.event_id}"] * 2
    session.refresh(hook)
    assert hook.failing_since is None


def test_the_retry_schedule() -> None:
    first = datetime(2026, 1, 1, tzinfo=clock.now().tzinfo)
    now, failures, delays = first, 0, []
    while True:
        failures += 1
        at = next_attempt(failures, first, now, rand=lambda: 0.5)
        if at is None:
            break
        delays.append((at - now).total_seconds())
        now = at
    hours = 3600
    assert delays[:6] == [5, 30, 120, 600, hours, 6 * hours]
    assert delays[6:8] == [24 * hours, 24 * hours]
    assert now == first + GIVE_UP_AFTER  # the last attempt at 3 days, then `failed`
    assert failures == len(delays) + 1
    low = next_attempt(1, first, first, rand=lambda: 0.0)
    high = next_attempt(1, first, first, rand=lambda: 0.999)
    assert low is not None
    assert high is not None
    assert 4 <= (low - first).total_seconds() < 5 < (high - first).total_seconds() <= 6


def test_taking_leases_so_a_lost_task_is_swept_once_the_lease_passes(
    session: Session, queued: list[int]
) -> None:
    endpoint(session)
    [delivery_id] = _relayed(session)
    now = clock.now()
    clock.set_now(now)
    [taken] = delivery.take(session, [delivery_id], now, TIMEOUT)
    leased = _get(session, delivery_id).next_attempt_at
    assert leased is not None
    assert leased > now + timedelta(seconds=TIMEOUT)
    # The worker dies here: nothing recorded. Another task takes nothing while the lease holds.
    assert delivery.take(session, [delivery_id], now + timedelta(seconds=1), TIMEOUT) == []
    assert jobs.sweep_job(session, now + timedelta(seconds=1)) == "0 deliveries queued again"
    later = leased + delivery.SWEEP_GRACE
    assert jobs.sweep_job(session, later) == "1 deliveries queued again"
    session.commit()
    assert queued == [delivery_id]
    assert [t.id for t in delivery.take(session, [delivery_id], later, TIMEOUT)] == [taken.id]


def test_an_endpoint_that_does_not_answer_is_not_tried_again_in_the_batch(
    session: Session,
) -> None:
    endpoint(session, f"http://127.0.0.1:{_closed_port()}/hook")
    ids = _relayed(session, n=3)
    outcomes = _run(session, ids)
    assert [o.sent for o in outcomes] == [True, False, False]
    assert outcomes[0].error.startswith("ConnectionRefusedError")
    rows = [_get(session, i) for i in ids]
    assert [r.attempts for r in rows] == [1, 0, 0]
    assert {r.next_attempt_at for r in rows} == {rows[0].next_attempt_at}
    assert len(session.scalars(select(WebhookAttempt)).all()) == 1


def test_internal_urls_are_refused_at_delivery_too(session: Session, receiver: Receiver) -> None:
    endpoint(session, receiver.url)
    [delivery_id] = _relayed(session)
    [outcome] = _run(session, [delivery_id], allow_private=False)
    assert outcome.error.startswith("refused: the host 127.0.0.1 resolves to an internal")
    assert receiver.requests == []
    assert _get(session, delivery_id).status == "pending"


def test_retries_end_after_3_days_and_an_endpoint_failing_3_days_is_disabled(
    session: Session, receiver: Receiver
) -> None:
    receiver.status = 500
    start = clock.now()
    clock.set_now(start)
    hook = endpoint(session, receiver.url)
    [old] = _relayed(session)
    _run(session, [old])
    clock.set_now(start + GIVE_UP_AFTER + timedelta(seconds=1))
    [new] = _relayed(session)
    due = _get(session, old)
    due.next_attempt_at = clock.now()
    session.flush()
    _run(session, [old, new])
    assert _get(session, old).status == "failed"  # its 3 days are over
    assert _get(session, new).status == "pending"
    session.refresh(hook)
    assert (hook.enabled, hook.disabled_reason) == (False, "failing")
    assert [e.id for e in service.disabled_for_failures(session)] == [hook.id]
    # What was still pending is failed when its time comes; the relay skips the endpoint.
    retry = _get(session, new)
    assert retry.next_attempt_at is not None
    clock.set_now(retry.next_attempt_at)
    _run(session, [new])
    assert (_get(session, new).status, _get(session, new).error) == (
        "failed",
        "the webhook is disabled",
    )
    assert _relayed(session) == []


def test_a_success_on_any_delivery_clears_the_failing(session: Session, receiver: Receiver) -> None:
    hook = endpoint(session, receiver.url)
    hook.failing_since = clock.now() - timedelta(days=2)
    session.flush()
    _run(session, _relayed(session))
    session.refresh(hook)
    assert hook.failing_since is None
    assert session.get(WebhookEndpoint, hook.id) is not None


def test_the_body_sent_is_the_stored_envelope(session: Session, receiver: Receiver) -> None:
    endpoint(session, receiver.url)
    [delivery_id] = _relayed(session)
    _run(session, [delivery_id])
    assert json.loads(receiver.requests[0].body) == _get(session, delivery_id).payload


def _one_shot_server(answer: bool) -> tuple[socket.socket, int]:
    """A server answering each connection's first request (or never), then closing it without
    saying so: an idle keep-alive connection the receiver dropped."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                if answer:
                    conn.sendall(b"HTTP/1.1 204 No Content\r\n\r\n")
                else:
                    time.sleep(1)

    threading.Thread(target=serve, daemon=True).start()
    return server, int(server.getsockname()[1])


def test_a_connection_closed_while_idle_is_opened_again() -> None:
    server, port = _one_shot_server(answer=True)
    with server:
        via = delivery.Sender(timeout=2)
        url = f"http://127.0.0.1:{port}/hook"
        assert via.post(url, b"{}", {})[0] == 204
        time.sleep(0.05)  # the server has closed the connection we keep
        assert via.post(url, b"{}", {})[0] == 204
        via.close()


def test_a_receiver_that_does_not_answer_times_out() -> None:
    server, port = _one_shot_server(answer=False)
    with server:
        via = delivery.Sender(timeout=0.2)
        with pytest.raises(TimeoutError):
            via.post(f"http://127.0.0.1:{port}/hook", b"{}", {})


def test_finished_deliveries_are_pruned_after_the_retention(
    session: Session, receiver: Receiver, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jobs, "get_settings", lambda: settings)
    endpoint(session, receiver.url)
    ids = _relayed(session, n=2)
    _run(session, ids[:1])  # one succeeded, one still pending
    later = clock.now() + timedelta(days=31)
    assert delivery.prune(session, later, timedelta(days=30)) == 1
    session.expire_all()
    assert session.scalars(select(WebhookDelivery.id)).all() == ids[1:]
    assert session.scalars(select(WebhookAttempt)).all() == []
    assert jobs.prune_job(session, later) == "0 deliveries pruned"


def test_a_delivery_connects_to_the_address_checked_not_a_second_lookup(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = receiver.url.split(":")[2].split("/")[0]
    url = f"http://hooks.example.invalid:{port}/hook"
    via = delivery.Sender(timeout=2)
    assert via.post(url, b"{}", {}, address="127.0.0.1")[0] == 200
    assert receiver.requests[0].headers["host"] == f"hooks.example.invalid:{port}"
    via.close()

    def answers(address: str) -> object:
        return lambda *args, **kwargs: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, 80))]

    monkeypatch.setattr(socket, "getaddrinfo", answers("93.184.215.14"))
    assert urls.resolve("https://hooks.example.com/x", False) == (None, "93.184.215.14")
    assert urls.resolve("https://hooks.example.com/x", True) == (None, None)
    monkeypatch.setattr(socket, "getaddrinfo", answers("10.0.0.7"))
    problem, address = urls.resolve("https://hooks.example.com/x", False)
    assert problem == "the host hooks.example.com resolves to an internal address (10.0.0.7)"
    assert address is None


def test_a_delivery_never_tried_for_its_endpoint_fails_after_its_3_days(
    session: Session,
) -> None:
    endpoint(session, f"http://127.0.0.1:{_closed_port()}/hook")
    start = clock.now()
    clock.set_now(start)
    first, second = _relayed(session, n=2)
    clock.set_now(start + GIVE_UP_AFTER)
    for delivery_id in (first, second):
        _get(session, delivery_id).next_attempt_at = clock.now()
    session.flush()
    outcomes = _run(session, [first, second])
    assert [o.sent for o in outcomes] == [True, False]
    assert [_get(session, i).status for i in (first, second)] == ["failed", "failed"]
