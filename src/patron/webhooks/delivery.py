"""Delivering: take due deliveries (leasing them), POST them signed after the Standard Webhooks
specification, and record each attempt with the retry it calls for.

A delivery is `pending` until an attempt answers 2xx (`succeeded`) or its retries run out
(`failed`: about 5 s, 30 s, 2 min, 10 min, 1 h, 6 h after the failures, then daily, up to 3 days
after the event was relayed). Taking a delivery leases it: its next attempt moves past the time
its sending may take, so that a worker killed mid-delivery leaves it due again once the lease
passes, for the sweep to queue (at-least-once: the receiver may see its id twice). An endpoint
that has failed every delivery for 3 days is disabled."""

from __future__ import annotations

import http.client
import json
import os
import random
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast
from urllib.parse import urlsplit

from sqlalchemy import Table, bindparam, delete, select, update
from sqlalchemy.orm import Session
from standardwebhooks.webhooks import Webhook

from patron.core import clock, statements
from patron.webhooks import urls
from patron.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint

# Seconds before the attempt after the 1st, 2nd, … failure; then daily, up to GIVE_UP_AFTER.
RETRY_DELAYS = (5, 30, 120, 600, 3600, 6 * 3600)
DAILY = 24 * 3600
JITTER = 0.2  # each delay ± this share, so that retries after an outage do not come together
GIVE_UP_AFTER = timedelta(days=3)  # a delivery's retries; and an endpoint failing this long
LEASE_MARGIN = timedelta(seconds=5)
SWEEP_GRACE = timedelta(seconds=5)  # a due delivery not taken by then is queued again
SWEEP_LIMIT = 5000
DISABLED_FOR_FAILURES = "failing"
ERROR_LENGTH = 500
USER_AGENT = "Patron-Webhooks/1"
RESPONSE_READ = 4096  # bytes of a response read (its start goes to the log on errors)
DELIVERIES = cast(Table, WebhookDelivery.__table__)
ATTEMPTS = cast(Table, WebhookAttempt.__table__)
ENDPOINTS = cast(Table, WebhookEndpoint.__table__)


def next_attempt(
    failures: int, first: datetime, now: datetime, rand: Callable[[], float] = random.random
) -> datetime | None:
    """When to try again after `failures` failed attempts (the last one at `now`) of a delivery
    first tried at `first`; None when its retries are over. The last retry falls at 3 days."""
    base = RETRY_DELAYS[failures - 1] if failures <= len(RETRY_DELAYS) else DAILY
    at = now + timedelta(seconds=base * (1 + JITTER * (2 * rand() - 1)))
    last = first + GIVE_UP_AFTER
    if at <= last:
        return at
    return last if last > now else None


@dataclass(frozen=True)
class Taken:
    id: int
    endpoint_id: int
    url: str
    secret: str
    payload: dict[str, Any]
    attempts: int
    created_at: datetime


@dataclass(frozen=True)
class Outcome:
    delivery: Taken
    at: datetime
    response_code: int | None
    duration_ms: int
    error: str
    sent: bool = True  # False: not tried (its endpoint timed out earlier in the batch)

    @property
    def succeeded(self) -> bool:
        return self.sent and self.response_code is not None and 200 <= self.response_code < 300


def take(session: Session, ids: Sequence[int], now: datetime, timeout: float) -> list[Taken]:
    """The deliveries among `ids` that are due, leased for the time sending them in turn may
    take; those of a disabled endpoint are failed instead."""
    query = (
        select(
            WebhookDelivery.id,
            WebhookDelivery.endpoint_id,
            WebhookDelivery.payload,
            WebhookDelivery.attempts,
            WebhookDelivery.created_at,
            WebhookEndpoint.url,
            WebhookEndpoint.secret,
            WebhookEndpoint.enabled,
        )
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(
            WebhookDelivery.id.in_(list(ids)),
            WebhookDelivery.status == "pending",
            WebhookDelivery.next_attempt_at <= now,
        )
        .order_by(WebhookDelivery.id)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=WebhookDelivery)
    rows = session.execute(query).all()
    taken = [
        Taken(r.id, r.endpoint_id, r.url, r.secret, r.payload, r.attempts, r.created_at)
        for r in rows
        if r.enabled
    ]
    orphans = [r.id for r in rows if not r.enabled]
    if orphans:
        session.execute(
            update(DELIVERIES)
            .where(DELIVERIES.c.id.in_(orphans))
            .values(status="failed", next_attempt_at=None, error="the webhook is disabled")
        )
    if taken:
        step = timedelta(seconds=timeout)
        session.execute(
            update(DELIVERIES)
            .where(DELIVERIES.c.id == bindparam("b_id"))
            .values(next_attempt_at=bindparam("b_lease")),
            [
                {"b_id": t.id, "b_lease": now + step * (i + 1) + LEASE_MARGIN}
                for i, t in enumerate(taken)
            ],
        )
    return taken


class Sender:
    """POSTs over keep-alive connections, one per origin, with the standard library's HTTP
    client: a quarter of httpx's CPU per request (about 120 µs against 350–530 µs to a local
    receiver), which is what delivery throughput is made of. `timeout` bounds each connect and
    read, as httpx's does. A connection the receiver closed while idle is opened again once."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._connections: dict[tuple[str, str, int, str | None], http.client.HTTPConnection] = {}
        self._tls = ssl.create_default_context()

    def post(
        self, url: str, body: bytes, headers: dict[str, str], address: str | None = None
    ) -> tuple[int, str]:
        """The response's status and the start of its body; OSError and HTTPException on
        network and protocol failures. `address`: connect there (the host's address as checked),
        the URL's host still named in Host and TLS."""
        parts = urlsplit(url)
        https = parts.scheme == "https"
        host = parts.hostname or ""
        key = (parts.scheme, host, parts.port or (443 if https else 80), address)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        headers = {"user-agent": USER_AGENT, **headers}
        for fresh in (False, True):
            connection = self._connections.pop(key, None)
            reused = connection is not None and not fresh
            if connection is None or fresh:
                if connection is not None:
                    connection.close()
                connection = self._connect(https, host, key[2], address)
            try:
                connection.request("POST", target, body, headers)
                response = connection.getresponse()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                connection.close()
                if reused:
                    continue  # closed while idle: once more on a new connection
                raise
            except BaseException:
                connection.close()
                raise
            text = response.read(RESPONSE_READ)
            if response.will_close or not response.isclosed():
                connection.close()  # closing, or a body longer than we read
            else:
                self._connections[key] = connection
            return response.status, text.decode("utf-8", "replace")
        raise http.client.RemoteDisconnected("the connection closed")  # pragma: no cover

    def _connect(
        self, https: bool, host: str, port: int, address: str | None
    ) -> http.client.HTTPConnection:
        connection = (
            http.client.HTTPSConnection(host, port, timeout=self.timeout, context=self._tls)
            if https
            else http.client.HTTPConnection(host, port, timeout=self.timeout)
        )
        if address is not None:

            def pinned(target: tuple[str, int], *args: Any) -> socket.socket:
                return socket.create_connection((address, target[1]), *args)

            connection._create_connection = pinned  # type: ignore[attr-defined]  # noqa: SLF001
        return connection

    def close(self) -> None:
        for connection in self._connections.values():
            connection.close()
        self._connections.clear()


_senders: dict[tuple[int, int, float], Sender] = {}


def sender(timeout: float) -> Sender:
    """This thread's sender (keep-alive connections), made after any fork."""
    key = (os.getpid(), threading.get_ident(), timeout)
    found = _senders.get(key)
    if found is None:
        found = _senders[key] = Sender(timeout)
    return found


def body_of(payload: dict[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def signed_headers(secret: str, msg_id: str, body: str) -> dict[str, str]:
    """Standard Webhooks headers for `body`, signed at the real wall time of the attempt."""
    at = clock.wall()
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, at, body),
    }


def send(
    taken: Sequence[Taken], timeout: float, allow_private: bool, via: Sender | None = None
) -> list[Outcome]:
    """POST each delivery in turn. An endpoint that does not answer (network error, timeout) is
    not tried again in this batch: its other deliveries wait for the same retry."""
    via = via or sender(timeout)
    down: set[int] = set()
    checked: dict[str, tuple[str | None, str | None]] = {}
    outcomes: list[Outcome] = []
    for delivery in taken:
        at = clock.now()
        if delivery.endpoint_id in down:
            outcomes.append(Outcome(delivery, at, None, 0, "", sent=False))
            continue
        if delivery.url not in checked:  # once per URL and batch
            checked[delivery.url] = urls.resolve(delivery.url, allow_private)
        problem, address = checked[delivery.url]
        if problem is not None:
            outcomes.append(Outcome(delivery, at, None, 0, f"refused: {problem}"))
            continue
        body = body_of(delivery.payload)
        headers = signed_headers(delivery.secret, str(delivery.payload["id"]), body)
        started = time.perf_counter()
        code: int | None = None
        error = ""
        try:
            code, text = via.post(delivery.url, body.encode(), headers, address)
            if not 200 <= code < 300:
                error = f"HTTP {code}: {text[:200]}"
        except (OSError, http.client.HTTPException) as exc:
            error = f"{type(exc).__name__}: {exc}"
            down.add(delivery.endpoint_id)
        duration = round((time.perf_counter() - started) * 1000)
        outcomes.append(Outcome(delivery, at, code, duration, error[:ERROR_LENGTH]))
    return outcomes


def record(
    session: Session, outcomes: Sequence[Outcome], now: datetime
) -> list[tuple[int, datetime]]:
    """Write the attempts and what they make of their deliveries and endpoints; the retries to
    schedule: (delivery id, when)."""
    retries: list[tuple[int, datetime]] = []
    attempts: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    retry_of_endpoint: dict[int, datetime] = {}
    succeeded: set[int] = set()
    failed_at: dict[int, datetime] = {}
    for outcome in outcomes:
        delivery = outcome.delivery
        if not outcome.sent:
            continue
        attempts.append(
            {
                "delivery_id": delivery.id,
                "attempted_at": outcome.at,
                "response_code": outcome.response_code,
                "duration_ms": outcome.duration_ms,
                "error": outcome.error,
            }
        )
        change = {
            "b_id": delivery.id,
            "attempts": delivery.attempts + 1,
            "last_attempt_at": outcome.at,
            "response_code": outcome.response_code,
            "duration_ms": outcome.duration_ms,
            "error": outcome.error,
        }
        if outcome.succeeded:
            succeeded.add(delivery.endpoint_id)
            change |= {"status": "succeeded", "next_attempt_at": None, "delivered_at": now}
        else:
            failed_at.setdefault(delivery.endpoint_id, outcome.at)
            at = next_attempt(delivery.attempts + 1, delivery.created_at, now)
            change |= {
                "status": "pending" if at else "failed",
                "next_attempt_at": at,
                "delivered_at": None,
            }
            if at is not None:
                retries.append((delivery.id, at))
                retry_of_endpoint.setdefault(delivery.endpoint_id, at)
        changes.append(change)
    statements.insert_rows(session, ATTEMPTS, attempts)
    if changes:
        session.execute(
            update(DELIVERIES).where(DELIVERIES.c.id == bindparam("b_id")),
            changes,
        )
    # Not tried (their endpoint did not answer earlier in the batch): the endpoint's retry, or
    # `failed` once their own 3 days are over, as if tried.
    postponed: list[dict[str, Any]] = []
    over: list[dict[str, Any]] = []
    for outcome in outcomes:
        if outcome.sent:
            continue
        delivery = outcome.delivery
        soon = now + timedelta(seconds=RETRY_DELAYS[0])
        later = retry_of_endpoint.get(delivery.endpoint_id, soon)
        if later > delivery.created_at + GIVE_UP_AFTER:
            over.append({"b_id": delivery.id, "status": "failed", "next_attempt_at": None})
        else:
            postponed.append({"b_id": delivery.id, "next_attempt_at": later})
            retries.append((delivery.id, later))
    for rows in (postponed, over):
        if rows:
            session.execute(update(DELIVERIES).where(DELIVERIES.c.id == bindparam("b_id")), rows)
    _judge_endpoints(session, succeeded, failed_at, now)
    return retries


def _judge_endpoints(
    session: Session, succeeded: set[int], failed_at: dict[int, datetime], now: datetime
) -> None:
    """A success clears an endpoint's failing; failures start it, and 3 days of it disable."""
    if succeeded:
        session.execute(
            update(ENDPOINTS)
            .where(ENDPOINTS.c.id.in_(sorted(succeeded)), ENDPOINTS.c.failing_since.is_not(None))
            .values(failing_since=None)
        )
    failing = {e: at for e, at in failed_at.items() if e not in succeeded}
    if not failing:
        return
    session.execute(
        update(ENDPOINTS)
        .where(ENDPOINTS.c.id == bindparam("b_id"), ENDPOINTS.c.failing_since.is_(None))
        .values(failing_since=bindparam("b_since")),
        [{"b_id": e, "b_since": at} for e, at in sorted(failing.items())],
    )
    session.execute(
        update(ENDPOINTS)
        .where(
            ENDPOINTS.c.id.in_(sorted(failing)),
            ENDPOINTS.c.enabled.is_(True),
            ENDPOINTS.c.failing_since <= now - GIVE_UP_AFTER,
        )
        .values(enabled=False, disabled_reason=DISABLED_FOR_FAILURES, updated_at=now)
    )


def due(session: Session, now: datetime, limit: int = SWEEP_LIMIT) -> list[int]:
    """Pending deliveries whose attempt is past due by the grace: their task was lost (a killed
    worker's lease ran out, a queue restarted) or never queued."""
    return list(
        session.scalars(
            select(WebhookDelivery.id)
            .where(
                WebhookDelivery.status == "pending",
                WebhookDelivery.next_attempt_at <= now - SWEEP_GRACE,
            )
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
            .limit(limit)
        )
    )


def prune(session: Session, now: datetime, retention: timedelta) -> int:
    """Delete finished deliveries (with their attempts) made more than `retention` before `now`;
    pending ones stay. Returns how many went."""
    result = session.execute(
        delete(DELIVERIES).where(
            DELIVERIES.c.status != "pending", DELIVERIES.c.created_at < now - retention
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)
