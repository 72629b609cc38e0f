"""`patron journeys`: the journeys at a glance, and walking the due entries by hand."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from patron.core import clock, db
from patron.journeys import runner, service, triggers

app = typer.Typer(help="Journeys (营销自动化).", no_args_is_help=True)
out = Console()


def _moment(value: str | None) -> datetime:
    if value is None:
        return clock.now()
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not an ISO 8601 time") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=clock.business_tz())


NowOption = Annotated[
    str | None,
    typer.Option(
        "--now",
        help="As if it were this time (ISO 8601; without an offset, in the business timezone).",
    ),
]


@app.command("list")
def list_journeys() -> None:
    """Each journey: status, version, trigger, and its entries by status."""
    table = Table("id", "name", "status", "version", "trigger", "active", "converted", "done")
    with db.transaction(read_only=True) as session:
        page = service.list_journeys(session, None, 200)
        for journey in page.items:
            version = service.current_version(session, journey)
            counts = service.flow(session, journey.id).entries
            table.add_row(
                str(journey.id),
                journey.name,
                journey.status,
                str(journey.current_version),
                version.trigger["event"],
                str(counts["active"]),
                str(counts["converted"]),
                str(counts["done"]),
            )
    out.print(table)


@app.command("advance")
def advance(
    now: NowOption = None,
    dated: Annotated[
        bool, typer.Option("--dated", help="First enter the members whose date came (daily job).")
    ] = False,
) -> None:
    """Walk every due entry now (or --now), a batch per transaction, until none is due."""
    moment = _moment(now)
    if dated:
        with db.transaction() as session:
            entered = triggers.enter_dated(session, moment)
        out.print(f"{sum(entered.values())} members entered {len(entered)} journeys")
    total = runner.Advanced()
    while True:
        with db.transaction() as session:
            done = runner.advance(session, moment)
        total.entries += done.entries
        total.steps += done.steps
        total.ended += done.ended
        if done.entries < runner.BATCH:
            break
    out.print(f"{total.entries} entries advanced, {total.steps} steps, {total.ended} ended")
