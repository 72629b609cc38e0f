"""`patron campaigns`: campaigns at a glance, a campaign's preview, launching one and running
the launch job (start due campaigns, treat running ones) in the foreground."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from patron.campaigns import jobs, service
from patron.core import clock, db
from patron.core.actor import SYSTEM
from patron.core.errors import PatronError
from patron.segments.cli import NowOption, _now

app = typer.Typer(help="Campaigns (营销活动).", no_args_is_help=True)
out = Console()
err = Console(stderr=True)


@app.command("list")
def list_campaigns() -> None:
    """Each campaign: status, audience and control sizes, schedule."""
    with db.transaction(read_only=True) as session:
        table = Table("id", "name", "status", "audience", "control", "schedule_at", "launched_at")
        for c in service.all_campaigns(session):
            table.add_row(
                str(c.id),
                c.name,
                c.status,
                "" if c.audience_size is None else str(c.audience_size),
                "" if c.control_size is None else str(c.control_size),
                c.schedule_at.isoformat() if c.schedule_at else "",
                c.launched_at.isoformat() if c.launched_at else "",
            )
    out.print(table)


@app.command("preview")
def preview(
    campaign_id: Annotated[int, typer.Argument(help="The campaign's id.")],
    now: NowOption = None,
) -> None:
    """Audience, control, expected cost and skipped members of a campaign (its own seed)."""
    with _at(now), db.transaction(read_only=True) as session:
        try:
            found = service.preview_campaign(session, SYSTEM, campaign_id)
        except PatronError as error:
            err.print(f"[red]{error.code}:[/red] {error.detail}")
            raise typer.Exit(1) from error
    out.print_json(found.model_dump_json())


def _at(now: str | None) -> AbstractContextManager[object]:
    """The clock at --now when given (the treatment's times too), else running."""
    return clock.frozen(_now(now)) if now else nullcontext()


@app.command("launch")
def launch_campaign(
    campaign_id: Annotated[int, typer.Argument(help="The campaign's id.")],
    now: NowOption = None,
) -> None:
    """Launch a draft: scheduled if its time is ahead, else frozen and treated in the
    foreground (the queue runs in this process)."""
    with _at(now):
        try:
            with db.transaction() as session:
                status = service.launch(session, SYSTEM, campaign_id).status
        except PatronError as error:
            err.print(f"[red]{error.code}:[/red] {error.detail}")
            raise typer.Exit(1) from error
        with db.transaction(read_only=True) as session:
            campaign = service.get_campaign(session, campaign_id)
            out.print(f"campaign {campaign_id}: {status} -> {campaign.status}")


@app.command("run")
def run(now: NowOption = None) -> None:
    """The launch job once: start the scheduled campaigns due (at --now), then treat every
    running one to its end, in the foreground."""
    with _at(now), db.transaction() as session:
        summary = jobs.scheduled(session, clock.now())
    out.print(summary)
