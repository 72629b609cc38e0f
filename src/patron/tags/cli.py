"""`patron tags`: the tags at a glance, and refreshing rule tags by hand (as of --now)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from patron.core import clock, db
from patron.core.actor import SYSTEM
from patron.tags import rules, service
from patron.tags.errors import TagNotFound
from patron.tags.models import Tag

app = typer.Typer(help="Member tags (标签).", no_args_is_help=True)
out = Console()


def _iso(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not an ISO 8601 time") from exc


@app.command("list")
def list_tags() -> None:
    """Each tag with its kind, member count and (rule tags) last refresh."""
    with db.transaction(read_only=True) as session:
        tags = session.scalars(select(Tag).order_by(Tag.name)).all()
    table = Table("id", "name", "kind", "members", "refreshed at", "rule")
    table.columns[5].overflow = "fold"
    for tag in tags:
        refreshed = tag.refreshed_at.astimezone(clock.business_tz()) if tag.refreshed_at else None
        table.add_row(
            str(tag.id),
            tag.name,
            tag.kind,
            str(tag.member_count),
            refreshed.strftime("%Y-%m-%d %H:%M") if refreshed else "",
            tag.rule or "",
        )
    out.print(table)


@app.command("refresh")
def refresh(
    name: Annotated[
        str | None, typer.Argument(help="The rule tag's name (default: every rule tag).")
    ] = None,
    now: Annotated[
        datetime | None,
        typer.Option(
            "--now",
            help="Apply the rules as of this time (ISO 8601; without an offset, in the business"
            " timezone).",
            parser=_iso,
        ),
    ] = None,
) -> None:
    """Recompute rule tags from their rules, now (or as of --now)."""
    if now is not None:
        clock.set_now(now if now.tzinfo else now.replace(tzinfo=clock.business_tz()))
    moment = clock.now()
    with db.transaction() as session:
        if name is None:
            done = rules.refresh_all(session, moment)
        else:
            tag = service.find_tag(session, name.strip())
            if tag is None:
                raise TagNotFound(f"no tag named {name!r}")
            done = [rules.refresh(session, SYSTEM, tag, moment)]
    for result in done:
        out.print(
            f"{result.tag}: {result.member_count} members (+{result.added}, -{result.removed})",
            highlight=False,
        )
