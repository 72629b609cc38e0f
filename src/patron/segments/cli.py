"""`patron segments`: saved segments at a glance, counting a rule, refreshing saved segments and
exporting one's members to a file."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from patron.core import clock, db, export
from patron.core.actor import SYSTEM, Actor, Role
from patron.core.export import Cell
from patron.segments import rules, service
from patron.segments.errors import InvalidRule

app = typer.Typer(help="Segments (人群).", no_args_is_help=True)
out = Console()
err = Console(stderr=True)
# Whoever runs the CLI reaches the database anyway; the export still masks PII unless asked.
MASKED = Actor(kind="system", id=None, name="cli", role=Role.hq_marketing, store_ids=None)


def _moment(value: str) -> datetime:
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


class FileFormat(StrEnum):
    csv = "csv"
    xlsx = "xlsx"


def _now(now: str | None) -> datetime:
    return _moment(now) if now else clock.now()


def _invalid(error: InvalidRule, text: str) -> typer.Exit:
    err.print(f"[red]invalid_rule:[/red] {error.detail}")
    line = text.splitlines()[error.line - 1] if 0 < error.line <= len(text.splitlines()) else ""
    err.print(f"  {line}", markup=False, highlight=False)
    err.print("  " + " " * (error.column - 1) + "^", markup=False, highlight=False)
    if error.expected:
        err.print("expected: " + ", ".join(error.expected), markup=False, highlight=False)
    return typer.Exit(1)


@app.command("list")
def list_segments() -> None:
    """Each saved segment: its count at the last refresh, when, and its rule."""
    with db.transaction(read_only=True) as session:
        found = service.all_segments(session)
        table = Table("id", "name", "members", "refreshed", "rule")
        table.columns[4].overflow = "fold"
        for segment in found:
            table.add_row(
                str(segment.id),
                segment.name,
                "" if segment.member_count is None else str(segment.member_count),
                segment.refreshed_at.isoformat() if segment.refreshed_at else "never",
                segment.rule,
            )
    out.print(table)


@app.command("count")
def count(
    rule: Annotated[str, typer.Argument(help="A rule, e.g. 'lifecycle = \"dormant\"'.")],
    now: NowOption = None,
) -> None:
    """How many members the rule matches (chain-wide)."""
    try:
        parsed = rules.parse(rule)
    except InvalidRule as error:
        raise _invalid(error, rule) from error
    with db.transaction(read_only=True) as session:
        total = service.count(session, SYSTEM, parsed, _now(now))
    typer.echo(total)


@app.command("refresh")
def refresh(
    segment_id: Annotated[
        int | None, typer.Argument(help="A segment's id (default: every segment).")
    ] = None,
    now: NowOption = None,
) -> None:
    """Count saved segments now (or --now): a point of their count history each."""
    moment = _now(now)
    with db.transaction() as session:
        if segment_id is None:
            report = service.refresh_all(session, moment)
            out.print(f"{report.refreshed} segments refreshed at {moment.isoformat()}")
            for name in report.failed:
                err.print(f"[red]not refreshed[/red] (rule no longer parses): {name}")
            failed = bool(report.failed)
        else:
            segment = service.get_segment(session, segment_id)
            total = service.refresh(session, segment, moment)
            out.print(f"{segment.name}: {total} members at {moment.isoformat()}")
            failed = False
    if failed:
        raise typer.Exit(1)


@app.command("export")
def export_members(
    segment_id: Annotated[int, typer.Argument(help="The segment's id (`patron segments list`).")],
    file_format: Annotated[FileFormat, typer.Option("--format", help="csv or xlsx.")],
    output: Annotated[Path, typer.Option("--out", dir_okay=False, help="The file to write.")],
    full_pii: Annotated[
        bool, typer.Option("--full-pii", help="Names, mobiles, birthdays and emails in clear.")
    ] = False,
    now: NowOption = None,
) -> None:
    """The segment's members now as a CSV or .xlsx file, PII masked unless --full-pii."""
    actor = SYSTEM if full_pii else MASKED
    chosen = export.Format(file_format.value)
    with db.transaction() as session:  # the export is audited
        rows = service.export_rows(session, actor, segment_id, _now(now), chosen.value)
        counted = _Counted(rows)
        segment = service.get_segment(session, segment_id)
        spool = export.spooled(chosen, service.EXPORT_COLUMNS, counted, segment.name)
        with spool, output.open("wb") as target:
            while chunk := spool.read(export.CHUNK):
                target.write(chunk)
    out.print(f"wrote {counted.rows} members to {output}")


class _Counted:
    """The rows, counted as they are read."""

    def __init__(self, rows: Iterable[tuple[Cell, ...]]) -> None:
        self._rows = rows
        self.rows = 0

    def __iter__(self) -> Iterator[tuple[Cell, ...]]:
        for row in self._rows:
            self.rows += 1
            yield row
