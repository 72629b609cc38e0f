from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query, Response
from pydantic import BaseModel, ConfigDict

from patron.core import export
from patron.core.actor import Actor
from patron.core.moments import Day
from patron.core.openapi import errors
from patron.deps import OneHopRouter, SessionDep, require
from patron.orders.models import OrderChannel
from patron.reports import catalog, permissions  # noqa: F401 - catalog declares the reports
from patron.reports.query import period_of, report_query
from patron.reports.registry import (
    ReportNotFound,
    as_json,
    export_name,
    export_sheets,
    export_table,
    get,
    readable_by,
    run,
)
from patron.stores.service import RegionNotFound, StoreNotFound

router = OneHopRouter(tags=["reports"])
Reader = Annotated[Actor, Depends(require(permissions.VIEW))]


class ReportListed(BaseModel):
    name: str
    title: str
    description: str


class ReportOut(BaseModel):
    """The report's headline figures at the top level (money in fen, shares 0–1), its tables
    as rows, and with `compare` the previous period's figures and the relative change."""

    model_config = ConfigDict(extra="allow")

    report: str
    tables: dict[str, list[dict[str, Any]]]
    previous: dict[str, Any] | None
    change: dict[str, float | None] | None


@router.get("/reports", response_model=list[ReportListed])
def list_reports(actor: Reader) -> list[ReportListed]:
    """The reports the caller may read."""
    return [
        ReportListed(name=r.name, title=r.title, description=r.description)
        for r in readable_by(actor)
    ]


@router.get(
    "/reports/{name}",
    response_model=ReportOut,
    responses={
        200: {
            "content": {media: {} for media in export.MEDIA_TYPES.values()},
            "description": "JSON; with `format=csv` one `table` as CSV, with `format=xlsx` the "
            "summary and every table as sheets of one workbook",
        },
        **errors(ReportNotFound, StoreNotFound, RegionNotFound),
    },
)
def read_report(
    session: SessionDep,
    actor: Reader,
    name: str,
    first: Annotated[
        Day | None, Query(alias="from", description="first business day; default 30 days ago")
    ] = None,
    last: Annotated[Day | None, Query(alias="to", description="last business day")] = None,
    store_id: Annotated[int | None, Query(description="one store")] = None,
    region_id: Annotated[int | None, Query(description="the stores of one region")] = None,
    channel: Annotated[OrderChannel | None, Query(description="orders of one channel")] = None,
    compare: Annotated[bool, Query(description="also the period just before")] = False,
    file_format: Annotated[export.Format | None, Query(alias="format")] = None,
    table: Annotated[
        str | None, Query(description="with `format=csv`: the table (default: the first)")
    ] = None,
) -> ReportOut | Response:
    """One report (`GET /reports` lists them), scoped to the caller's stores."""
    report = get(name)
    query = report_query(
        session,
        actor,
        period_of(first, last),
        store_id=store_id,
        region_id=region_id,
        channel=channel.value if channel else None,
        compare=compare,
    )
    answer = run(session, actor, report, query)
    if file_format is None:
        return ReportOut.model_validate(as_json(answer))
    filename = export_name(answer)
    if file_format is export.Format.xlsx:
        return export.download_workbook(filename, export_sheets(answer))
    chosen = export_table(answer, table)
    return export.download(file_format, f"{filename}-{chosen.name}", chosen.columns, chosen.rows)
