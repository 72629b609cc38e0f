"""`patron regions`: group stores into regions (区域) and list them."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from patron.core import db
from patron.core.actor import SYSTEM
from patron.stores import regions
from patron.stores import service as stores
from patron.stores.schemas import RegionCreate

app = typer.Typer(help="Regions (区域): groups of stores.", no_args_is_help=True)
out = Console()


@app.command("create")
def create(
    code: Annotated[str, typer.Option(help="e.g. EAST")],
    name: Annotated[str, typer.Option(help="e.g. 华东区")],
) -> None:
    """Create an empty region; `assign` puts stores in it."""
    with db.transaction() as session:
        region = regions.create_region(session, SYSTEM, RegionCreate(code=code, name=name))
        out.print(f"created region {region.code} {region.name} (id {region.id})", highlight=False)


@app.command("assign")
def assign(
    region: Annotated[str, typer.Argument(help="The region's code.")],
    store: Annotated[list[str], typer.Option("--store", help="Store code; repeat for more.")],
) -> None:
    """Put these stores in the region (its other stores stay); a store in another region
    moves here."""
    with db.transaction() as session:
        found = regions.find_region(session, SYSTEM, region)
        store_ids = stores.ids_for_codes(session, store)
        regions.set_stores(session, SYSTEM, found.id, [*found.store_ids, *store_ids])
        codes = stores.codes_by_id(session, found.store_ids)
        out.print(f"{found.code}: {', '.join(sorted(codes.values()))}", highlight=False)


@app.command("list")
def list_regions() -> None:
    """Each region with its stores."""
    with db.transaction(read_only=True) as session:
        found = regions.list_regions(session, SYSTEM)
        codes = stores.codes_by_id(session, {i for r in found for i in r.store_ids})
        table = Table("id", "code", "name", "stores")
        table.columns[3].overflow = "fold"
        for region in found:
            names = sorted(codes[i] for i in region.store_ids)
            table.add_row(str(region.id), region.code, region.name, " ".join(names))
    out.print(table)
