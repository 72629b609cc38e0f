"""`patron webhooks`: the endpoints at a glance, and sending an endpoint's failed deliveries
again after an outage (at once, in this process)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

from patron.core import db
from patron.core.actor import SYSTEM
from patron.core.errors import PatronError
from patron.webhooks import service
from patron.webhooks.models import WebhookDelivery, WebhookEndpoint

app = typer.Typer(help="Webhooks.", no_args_is_help=True)
out = Console()


@app.command("list")
def list_webhooks() -> None:
    """Each endpoint with its state and its deliveries by status."""
    with db.transaction(read_only=True) as session:
        endpoints = session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)).all()
        counts = {
            (endpoint_id, status): count
            for endpoint_id, status, count in session.execute(
                select(WebhookDelivery.endpoint_id, WebhookDelivery.status, func.count()).group_by(
                    WebhookDelivery.endpoint_id, WebhookDelivery.status
                )
            )
        }
    table = Table("id", "url", "events", "state", "pending", "succeeded", "failed")
    table.columns[1].overflow = "fold"
    for endpoint in endpoints:
        state = "enabled" if endpoint.enabled else f"disabled {endpoint.disabled_reason}".strip()
        if endpoint.enabled and endpoint.failing_since:
            state += f", failing since {endpoint.failing_since.isoformat()}"
        table.add_row(
            str(endpoint.id),
            endpoint.url,
            ", ".join(endpoint.event_types),
            state,
            *(str(counts.get((endpoint.id, s), 0)) for s in ("pending", "succeeded", "failed")),
        )
    out.print(table)


@app.command("redeliver")
def redeliver(
    webhook_id: Annotated[int, typer.Argument(help="The endpoint's id (`patron webhooks list`).")],
) -> None:
    """Send the endpoint's failed deliveries again, now."""
    try:
        with db.transaction() as session:
            ids = service.retry_failed(session, SYSTEM, webhook_id)
    except PatronError as error:
        out.print(f"[red]{error.code}[/red]: {error.detail}")
        raise typer.Exit(1) from error
    with db.transaction(read_only=True) as session:
        statuses = dict(
            session.execute(
                select(WebhookDelivery.status, func.count())
                .where(WebhookDelivery.id.in_(ids or [0]))
                .group_by(WebhookDelivery.status)
            ).all()
        )
    out.print(
        f"{len(ids)} failed deliveries sent again: {statuses.get('succeeded', 0)} succeeded,"
        f" {statuses.get('pending', 0)} to retry, {statuses.get('failed', 0)} failed"
    )
