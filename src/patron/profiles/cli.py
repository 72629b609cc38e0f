"""`patron profiles refresh [--now ISO]`: rebuild every profile from the orders before `now`,
in this process, and print what came out."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from patron.core import clock, db
from patron.profiles import service
from patron.profiles.scoring import Lifecycle, RfmClass

app = typer.Typer(help="Member profiles (会员画像).", no_args_is_help=True)
out = Console()


@app.command("refresh")
def refresh(
    now: Annotated[
        str | None,
        typer.Option(
            "--now",
            help="Use only orders before this time (ISO 8601; without an offset, business time).",
        ),
    ] = None,
) -> None:
    """Recompute every member's profile: facts, preferences, RFM, lifecycle and CLV."""
    from patron.cli import iso_time

    moment = clock.now()
    if now is not None:
        parsed = iso_time(now)
        moment = parsed if parsed.tzinfo else parsed.replace(tzinfo=clock.business_tz())
    with db.transaction() as session:
        report = service.refresh(session, moment)
        fit = report.fit
        params = (fit.params, fit.spend_params, fit.customers) if fit is not None else None
    out.print(
        f"profiles at {moment.isoformat()}: {report.members} members, {report.buyers} with a "
        f"purchase, {report.scored} RFM-scored",
        highlight=False,
    )
    table = Table("RFM class", "members")
    for code in RfmClass:
        table.add_row(code.value, str(report.classes.get(code.value, 0)))
    out.print(table)
    table = Table("lifecycle", "members")
    for stage in Lifecycle:
        table.add_row(stage.value, str(report.lifecycle.get(stage.value, 0)))
    out.print(table)
    if params is None:
        out.print(f"CLV: not fitted ({report.clv_skipped})", highlight=False)
    else:
        bgnbd, spend, customers = params
        shown = ", ".join(f"{k}={v:.4g}" for k, v in {**bgnbd, **spend}.items())
        out.print(f"CLV (bgnbd+gamma_gamma, per day, {customers} customers): {shown}")
    out.print(f"{report.seconds:.2f} s")
