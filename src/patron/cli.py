"""The `patron` command line."""

from __future__ import annotations

import socket
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from sqlalchemy.exc import OperationalError, ProgrammingError
from typer.core import TyperGroup

from patron import domains
from patron.campaigns import cli as campaigns_cli
from patron.core import clock, crypto, db, migrate
from patron.core.actor import SYSTEM, Role
from patron.core.errors import PatronError
from patron.core.logging import configure_logging
from patron.core.settings import ConfigurationError, get_settings
from patron.imports.models import ImportKind
from patron.journeys import cli as journeys_cli
from patron.profiles import cli as profiles_cli
from patron.reports import cli as reports_cli
from patron.segments import cli as segments_cli
from patron.stores import cli as regions_cli
from patron.tags import cli as tags_cli
from patron.webhooks import cli as webhooks_cli

out = Console()
err = Console(stderr=True)


class PatronGroup(TyperGroup):
    """Where every command's errors become a message and an exit code, not a traceback:
    unusable settings exit 2; refused input, a refusal by Patron and database trouble
    (unreachable, not migrated) exit 1."""

    def invoke(self, ctx: Any) -> Any:  # click's Context, which typer vendors
        try:
            return super().invoke(ctx)
        except ConfigurationError as exc:
            err.print(f"[red]configuration error:[/red] {exc}")
            raise typer.Exit(2) from exc
        except ValidationError as exc:
            for problem in exc.errors():
                field = ".".join(map(str, problem["loc"])) or "input"
                err.print(f"[red]invalid {field}:[/red] {problem['msg']}")
            raise typer.Exit(1) from exc
        except PatronError as exc:
            err.print(f"[red]{exc.code}:[/red] {exc.detail}")
            raise typer.Exit(1) from exc
        except (OperationalError, ProgrammingError) as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            err.print(f"[red]database error:[/red] {reason}")
            err.print("Is PATRON_DATABASE_URL right, and has `patron db upgrade` run?")
            raise typer.Exit(1) from exc


app = typer.Typer(
    cls=PatronGroup,
    help="Patron: membership and loyalty platform (会员管理与营销系统).",
    no_args_is_help=True,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
user_app = typer.Typer(help="Staff users.", no_args_is_help=True)
apikey_app = typer.Typer(help="API keys for integrations.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
import_app = typer.Typer(help="Import data from CSV or Excel files.", no_args_is_help=True)
points_app = typer.Typer(help="Points ledger.", no_args_is_help=True)
jobs_app = typer.Typer(help="Scheduled work.", no_args_is_help=True)
coupons_app = typer.Typer(help="Coupons.", no_args_is_help=True)
app.add_typer(points_app, name="points")
app.add_typer(coupons_app, name="coupons")
stored_value_app = typer.Typer(help="Stored value (储值).", no_args_is_help=True)
app.add_typer(stored_value_app, name="stored-value")
checkout_app = typer.Typer(help="Checkout (收银).", no_args_is_help=True)
app.add_typer(checkout_app, name="checkout")
app.add_typer(jobs_app, name="jobs")
app.add_typer(apikey_app, name="apikey")
app.add_typer(import_app, name="import")
app.add_typer(webhooks_cli.app, name="webhooks")
app.add_typer(profiles_cli.app, name="profiles")
app.add_typer(reports_cli.app, name="reports")
app.add_typer(tags_cli.app, name="tags")
app.add_typer(regions_cli.app, name="regions")
app.add_typer(segments_cli.app, name="segments")
app.add_typer(campaigns_cli.app, name="campaigns")
app.add_typer(journeys_cli.app, name="journeys")


def iso_time(value: str) -> datetime:
    """Every form `datetime.fromisoformat` reads, fractional seconds included."""
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not an ISO 8601 time") from exc


NowOption = Annotated[
    datetime | None,
    typer.Option(
        "--now",
        help="Run as if it were this time (ISO 8601; without an offset, in the business timezone).",
        parser=iso_time,
    ),
]


@app.callback()
def main(now: NowOption = None) -> None:
    domains.load()
    settings = get_settings()
    crypto.configure(settings.secret_key)
    clock.set_business_timezone(settings.timezone)
    if now is not None:
        clock.set_now(now if now.tzinfo else now.replace(tzinfo=settings.tz))


def refused_rows(count: int) -> None:
    """Rows a file could not load: exit 1, so scripts and cron jobs notice."""
    if count:
        raise typer.Exit(1)


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    engine = db.get_engine()
    migrate.upgrade(engine, revision)
    out.print(f"database at {migrate.current_revision(engine)}")


def listening_socket(host: str, port: int) -> socket.socket:
    """The server's TCP socket, made with IPPROTO_TCP and TCP_NODELAY. Uvicorn's own (for
    `--workers`) is made with proto 0, so asyncio never sets TCP_NODELAY on the connections it
    accepts and each response waits ~40 ms for the client's delayed ACK (Kludex/uvicorn#3149)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # inherited by accepted sockets
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


@app.command()
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = typer.Option(1, min=1, help="Worker processes."),
    reload: bool = False,
    background: Annotated[
        bool | None,
        typer.Option(
            "--background/--no-background",
            help="Run the task consumer, the schedule and the loops in this process "
            "(default: when no PATRON_REDIS_URL is set; with Redis, `patron worker` does).",
        ),
    ] = None,
    task_workers: int = typer.Option(2, min=1, help="Task consumer threads (with --background)."),
) -> None:
    """Run the HTTP server (API, console), and without Redis the background work too."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from patron.core import tasks
    from patron.schedule.background import Background

    settings = get_settings()
    configure_logging(settings.log_level)
    tasks.configure(settings)
    base = f"http://{host}:{port}"
    out.print(f"Patron on {base}/console/  (API {base}/api/v1, env {settings.env})")
    # Here, in the process that supervises the HTTP workers (spawned, they start no threads of
    # this one), so the consumer and the schedule run once however many workers serve.
    hosted = None
    if background if background is not None else not settings.redis_url:
        hosted = Background(workers=task_workers, schedule=True).start()
        out.print(f"background: {task_workers} task workers, the schedule and its loops")
    options: dict[str, Any] = {
        "factory": True,
        "log_level": settings.log_level.lower(),
        "access_log": False,
    }
    try:
        if reload:
            uvicorn.run("patron.serving:create_app", host=host, port=port, reload=True, **options)
            return
        from patron.serving import RecyclingProtocol

        config = uvicorn.Config(
            "patron.serving:create_app", workers=workers, http=RecyclingProtocol, **options
        )
        sock = listening_socket(host, port)
        if workers > 1:
            Multiprocess(config, sockets=[sock]).run()
        else:
            uvicorn.Server(config).run(sockets=[sock])
    finally:
        if hosted is not None:
            hosted.stop()


@app.command()
def worker(
    workers: int = typer.Option(2, min=1, help="Task consumer threads."),
    schedule: bool = typer.Option(
        False,
        "--schedule/--no-schedule",
        help="Also run the schedule (the minute tick) and the loops: in exactly one process.",
    ),
) -> None:
    """Consume the task queue (Redis with PATRON_REDIS_URL, else SQLite in the data dir) until
    SIGINT or SIGTERM; running tasks finish first."""
    import signal
    import threading

    from patron.core import tasks
    from patron.schedule.background import Background

    settings = get_settings()
    configure_logging(settings.log_level)
    tasks.configure(settings)
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    storage = "Redis" if settings.redis_url else f"SQLite in {settings.data_dir}"
    hosted = Background(workers=workers, schedule=schedule).start()
    out.print(
        f"worker: {workers} task workers on {storage}, schedule {'on' if schedule else 'off'}"
    )
    try:
        while not stopping.wait(1.0):
            pass
    finally:
        out.print("worker: stopping (running tasks finish first)")
        hosted.stop()


@user_app.command("create")
def user_create(
    username: Annotated[str, typer.Option(help="Login name.")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    role: Annotated[Role, typer.Option(help="One of the staff roles.")],
    store: Annotated[
        list[str] | None,
        typer.Option("--store", help="Store code; repeat for more. None: all stores."),
    ] = None,
    region: Annotated[
        list[str] | None,
        typer.Option("--region", help="A regional manager's region code; repeat for more."),
    ] = None,
    display_name: str = "",
) -> None:
    """Create a staff user. Without --store the user covers all stores; a regional manager
    covers the stores of their --region(s) instead."""
    from patron.staff import service as staff
    from patron.staff.schemas import StaffCreate
    from patron.stores import regions
    from patron.stores import service as stores

    with db.transaction() as session:
        store_ids = stores.ids_for_codes(session, store or [])
        region_ids = regions.ids_for_codes(session, region or [])
        by_region = role is Role.regional_manager
        user = staff.create_staff(
            session,
            SYSTEM,
            StaffCreate(
                username=username,
                password=password,
                display_name=display_name,
                role=role,
                all_stores=not store_ids and not by_region,
                store_ids=store_ids,
                region_ids=region_ids,
            ),
        )
        out.print(f"created {user.role} {user.username} (id {user.id})")


@apikey_app.command("create")
def apikey_create(
    name: Annotated[str, typer.Option(help="Who uses the key, e.g. 'POS 上海'.")],
    store: Annotated[
        list[str] | None,
        typer.Option("--store", help="Store code; repeat for more. None: all stores."),
    ] = None,
) -> None:
    """Create an API key and print it once."""
    from patron.apikeys import service as apikeys
    from patron.apikeys.schemas import ApiKeyCreate
    from patron.stores import service as stores

    with db.transaction() as session:
        store_ids = stores.ids_for_codes(session, store or [])
        created = apikeys.create_key(
            session,
            SYSTEM,
            ApiKeyCreate(name=name, all_stores=not store_ids, store_ids=store_ids),
        )
    out.print(f"API key {created.api_key.id} ({name}); store it now, it is not shown again:")
    print(created.key)


def run_import(kind: ImportKind, file: Path, dry_run: bool, publish_events: bool = False) -> Any:
    """Run an import in the foreground, through the same batched runner (and import record) as
    the server's; the report, or the refusal raised for the group's handler."""
    from patron.core.batches import committed
    from patron.imports import runner, service

    sessions = db.session_factory()
    upload = runner.Upload(kind, file.read_bytes(), file.name, dry_run, publish_events)
    with Progress(console=err) as progress:
        task = progress.add_task(f"{kind} {file.name}", total=None)

        def moved(rows_done: int, rows_total: int) -> None:
            progress.update(task, completed=rows_done, total=rows_total)

        import_id = runner.accept(sessions, upload, SYSTEM)
        try:
            finished = runner.run(sessions, import_id, upload, SYSTEM, get_settings(), None, moved)
        except KeyboardInterrupt:
            with committed(sessions) as session:
                service.interrupt(session, import_id)
            err.print(f"interrupted: run `patron import {kind} {file}` again to finish it")
            raise typer.Exit(130) from None
    if finished.error is not None:
        raise finished.error
    if finished.record.report is None:  # an unexpected error, in the log above
        problem = finished.record.problem or {}
        err.print(f"[red]{problem.get('code')}:[/red] {problem.get('detail')}")
        raise typer.Exit(1)
    return finished.record.report


def print_errors(errors: Iterable[dict[str, Any]]) -> None:
    listed = list(errors)
    for row_error in listed[:50]:
        err.print(f"row {row_error['row']}: {row_error['field']}: {row_error['reason']}")
    if len(listed) > 50:
        err.print(f"... and {len(listed) - 50} more errors")


@import_app.command("members")
def import_members(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV or .xlsx")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check every row, write nothing.")
    ] = False,
) -> None:
    """Import members; re-running the same file changes nothing."""
    report = run_import(ImportKind.members, file, dry_run)
    print_errors(report["errors"])
    out.print(
        f"{'dry run' if dry_run else 'imported'}: {report['rows']} rows, "
        f"{report['created']} created, {report['updated']} updated, "
        f"{report['skipped']} unchanged, {len(report['errors'])} errors"
    )
    refused_rows(len(report["errors"]))


@import_app.command("products")
def import_products(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV or .xlsx")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check every row, write nothing.")
    ] = False,
) -> None:
    """Import products by sku (prices in yuan); re-running the same file changes nothing."""
    report = run_import(ImportKind.products, file, dry_run)
    print_errors(report["errors"])
    out.print(
        f"{'dry run' if dry_run else 'imported'}: {report['rows']} rows, "
        f"{report['created']} created, {report['updated']} updated, "
        f"{report['skipped']} unchanged, {len(report['errors'])} errors"
    )
    refused_rows(len(report["errors"]))


@import_app.command("orders")
def import_orders(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV or .xlsx")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check every row, write nothing.")
    ] = False,
    publish_events: Annotated[
        bool, typer.Option("--publish-events", help="Publish order.completed (earns points).")
    ] = False,
) -> None:
    """Import order history, one row per line; idempotent by store and order number, committed
    in batches (a run stopped midway is finished by running it again)."""
    report = run_import(ImportKind.orders, file, dry_run, publish_events)
    print_errors(report["errors"])
    out.print(
        f"{'dry run' if dry_run else 'imported'}: {report['rows']} rows, "
        f"{report['orders']} orders, {report['created']} created, "
        f"{report['skipped']} already there, {report['lines']} lines, "
        f"{len(report['errors'])} errors"
    )
    refused_rows(len(report["errors"]))


@points_app.command("verify")
def points_verify() -> None:
    """Report every member whose cached points disagree with their lots or their ledger."""
    from patron.points import queries as points_queries

    with db.transaction(read_only=True) as session:
        mismatches = points_queries.verify(session)
    for m in mismatches:
        err.print(
            f"member {m.member_id}: cached available/pending/debt {m.cached}, "
            f"lots available/pending {m.from_lots}, ledger sum {m.ledger}"
        )
    if mismatches:
        raise typer.Exit(1)
    out.print("points ledger consistent: every cached balance matches its lots and entries")


@stored_value_app.command("verify")
def stored_value_verify() -> None:
    """Report every member whose cached principal and bonus disagree with their ledger."""
    from patron.stored_value import ledger

    with db.transaction(read_only=True) as session:
        mismatches = ledger.verify(session)
    for m in mismatches:
        err.print(
            f"member {m.member_id}: cached principal/bonus {m.cached}, ledger sums {m.ledger}"
        )
    if mismatches:
        raise typer.Exit(1)
    out.print("stored-value ledger consistent: every account matches its entries")


def iso_day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from exc


class FileFormat(StrEnum):
    csv = "csv"
    xlsx = "xlsx"


FormatOption = Annotated[
    FileFormat | None,
    typer.Option(
        "--format", help="Write the rows as a file (default: from --output's suffix, else csv)."
    ),
]
OutputOption = Annotated[
    Path | None,
    typer.Option("--output", dir_okay=False, help="Write the file here (CSV: else to stdout)."),
]


@stored_value_app.command("settlement")
def stored_value_settlement(
    first: Annotated[
        date, typer.Option("--from", parser=iso_day, help="First business day included.")
    ],
    last: Annotated[date, typer.Option("--to", parser=iso_day, help="Last business day included.")],
    store: Annotated[
        str | None,
        typer.Option("--store", help="A store's id, or hq: the entries behind its figures."),
    ] = None,
    file_format: FormatOption = None,
    output: OutputOption = None,
) -> None:
    """Cross-store settlement (跨店结算): principal recharged, refunded, spent and adjusted per
    store, and net = what the store owes HQ."""
    from patron.stored_value import reports

    chosen = None
    if store is not None:
        if store != reports.HQ and not store.isdigit():
            raise typer.BadParameter(
                f"{store!r} is neither a store id nor hq", param_hint="--store"
            )
        chosen = reports.StoreRef(None if store == reports.HQ else int(store))
    with db.transaction(read_only=True) as session:
        report = reports.settlement(session, SYSTEM, reports.Period(first, last), chosen)
        header: Sequence[str]
        if report.entries is not None:
            header, rows = reports.ENTRY_COLUMNS, list(reports.entry_rows(report.entries))
        else:
            header, rows = reports.SETTLEMENT_COLUMNS, list(reports.settlement_rows(report))
    _table_or_file(f"settlement {first} – {last}", header, rows, file_format, output)


@stored_value_app.command("liability")
def stored_value_liability(file_format: FormatOption = None, output: OutputOption = None) -> None:
    """Principal and bonus members hold now, by the store of the recharges it remains of."""
    from patron.stored_value import reports

    with db.transaction(read_only=True) as session:
        rows = list(reports.liability_rows(reports.liability(session, SYSTEM)))
    _table_or_file("liability", reports.LIABILITY_COLUMNS, rows, file_format, output)


def _table_or_file(
    title: str,
    header: Sequence[str],
    rows: list[tuple[Any, ...]],
    file_format: FileFormat | None,
    output: Path | None,
) -> None:
    """The rows as a table on the terminal, or as a CSV or .xlsx file (CSV may go to stdout)."""
    from patron.core import export

    if file_format is None and output is None:
        table = Table(title=title)
        for column in header:
            table.add_column(column, justify="right" if column in AMOUNTS else "left")
        for row in rows:
            table.add_row(*("" if cell is None else str(cell) for cell in row))
        out.print(table)
        return
    chosen = export.Format(
        file_format or ("xlsx" if output and output.suffix == ".xlsx" else "csv")
    )
    if output is None and chosen is export.Format.xlsx:
        raise typer.BadParameter("an .xlsx file needs --output", param_hint="--format")
    with export.spooled(chosen, header, rows, title) as spool:
        content = spool.read()
    if output is None:
        typer.echo(content.decode("utf-8-sig"), nl=False)
    else:
        output.write_bytes(content)
        out.print(f"wrote {len(rows)} rows to {output}")


AMOUNTS = frozenset(
    {"recharged", "refunded", "spent", "adjusted", "net", "principal", "bonus", "member_id"}
)


@coupons_app.command("issue")
def coupons_issue(
    template: Annotated[int, typer.Argument(help="The template's id.")],
    file: Annotated[
        Path,
        typer.Argument(
            exists=True, dir_okay=False, help="CSV or .xlsx with a member_id or a mobile column"
        ),
    ],
) -> None:
    """Issue one coupon of TEMPLATE to each row of FILE (source `upload`), in one transaction;
    the refused rows are listed, and make the exit status 1."""
    from patron.coupons import recipients

    with db.transaction() as session:
        result = recipients.issue_from_file(session, SYSTEM, template, file.read_bytes(), file.name)
    for refusal in result.refused[:50]:
        who = refusal.mobile or refusal.member_id or "-"
        err.print(f"row {refusal.row}: {who}: {refusal.code.value}")
    if len(result.refused) > 50:
        err.print(f"... and {len(result.refused) - 50} more refused")
    out.print(
        f"issued {result.issued:,} coupons of template {template}, {len(result.refused):,} refused"
    )
    refused_rows(len(result.refused))


@checkout_app.command("quote")
def checkout_quote(
    file: Annotated[
        Path,
        typer.Option(
            "--file", exists=True, dir_okay=False, help="The basket: a quote request as JSON."
        ),
    ],
) -> None:
    """Price a basket as POST /api/v1/checkout/quote does and print the quote (as JSON); the
    quote is kept for a commit until it expires."""
    from patron.checkout import service as checkout
    from patron.checkout.schemas import QuoteRequest

    data = QuoteRequest.model_validate_json(file.read_bytes())
    with db.transaction() as session:
        quoted = checkout.quote(session, SYSTEM, data)
    typer.echo(quoted.model_dump_json(indent=2))


@jobs_app.command("run")
def jobs_run(
    names: Annotated[
        list[str] | None, typer.Argument(help="Jobs to run (default: all, in order).")
    ] = None,
    now: NowOption = None,
) -> None:
    """Run scheduled jobs now, as of now (or --now), each with a run record: all of them in
    order (see `patron jobs list`), or the named ones."""
    from patron.schedule import runner
    from patron.schedule import service as schedule
    from patron.schedule.errors import JobFailed

    if now is not None:  # `patron jobs run --now …`, as well as `patron --now … jobs run`
        clock.set_now(now if now.tzinfo else now.replace(tzinfo=clock.business_tz()))
    chosen = [schedule.get_job(name) for name in names or []] or schedule.jobs()
    moment = clock.now()
    out.print(f"jobs at {moment.isoformat()}")
    failed = False
    for job in chosen:
        try:
            run = runner.run_job(job.name, moment, actor=SYSTEM)  # audited, as by hand
        except JobFailed as exc:
            err.print(f"[red]{job.name} failed:[/red] {exc.run.error}")
            failed = True
            continue
        if run is not None:
            out.print(f"{job.name}: {run.summary}", highlight=False)
    if failed:
        raise typer.Exit(1)


@jobs_app.command("list")
def jobs_list() -> None:
    """Each job: its cadence (business time zone), its last run, status and summary."""
    from patron.schedule import service as schedule

    with db.transaction(read_only=True) as session:
        last = schedule.last_runs(session)
    table = Table("job", "cadence", "last run", "trigger", "status", "summary")
    for job in schedule.jobs():
        run = last.get(job.name)
        table.add_row(
            job.name,
            job.cadence.label,
            run.started_at.astimezone(clock.business_tz()).strftime("%Y-%m-%d %H:%M")
            if run
            else "never",
            run.trigger if run else "",
            run.status if run else "",
            (run.error or run.summary) if run else "",
        )
    out.print(table)


@app.command()
def demo(
    if_empty: bool = typer.Option(False, "--if-empty", help="Load only into an empty database."),
    members: int = typer.Option(20_000, min=0, help="How many demo members."),
    orders: bool = typer.Option(True, help="Generate two years of order history."),
    seed: int = typer.Option(2026, help="Random seed: the same seed gives the same data."),
) -> None:
    """Load the demo brand: stores, staff of every role, members."""
    from patron.demo import brand, history, loyalty, people
    from patron.demo import stored_value as demo_stored_value
    from patron.members import registry
    from patron.orders import service as orders_service

    refreshed = False
    with db.transaction() as session:
        loaded = brand.load(session, only_if_empty=if_empty)
    with db.transaction() as session:
        if members and not (if_empty and registry.count_members(session)):
            report = people.load(session, members, seed)
            out.print(f"demo members: {report.created} created, {report.skipped} already there")
    with db.transaction() as session:
        if orders and not (if_empty and orders_service.count_orders(session)):
            made = history.load(session, seed)
            out.print(f"demo orders: {made.created:,} orders with {made.lines:,} lines")
            from patron.demo import tiers as demo_tiers

            out.print(f"demo tiers: {demo_tiers.load(session)}")
            earned = loyalty.load(session, seed)
            out.print(
                f"demo points: {earned.earned:,} earned, {earned.burns:,} members spent some, "
                f"{earned.expired:,} expired"
            )
            from patron.demo import mall as demo_mall

            redeemed = demo_mall.load(session, seed)
            out.print("demo mall: " + ", ".join(f"{k} {v:,}" for k, v in redeemed.items()))
            refunded = demo_stored_value.refund_orders(session, seed)
            out.print(f"demo stored value: {demo_stored_value.summary(session, refunded)}")
            from patron.demo import check_ins as demo_check_ins

            out.print(f"demo check-ins: {demo_check_ins.load(session, seed)}")
            from patron.demo import referrals as demo_referrals

            invited = demo_referrals.load(session, seed)
            out.print("demo referrals: " + ", ".join(f"{k} {v}" for k, v in invited.items()))
            refreshed = True
    if refreshed:  # the console's member pages show profiles from the start
        from patron.profiles import service as profiles

        with db.transaction() as session:
            profiled = profiles.refresh(session, clock.now())
        clv = "CLV fitted" if profiled.fit else f"no CLV: {profiled.clv_skipped}"
        out.print(f"demo profiles: {profiled.members:,} members, {clv}")
    with db.transaction() as session:  # after the profiles their rules read
        from patron.demo import segments as demo_segments

        counted = demo_segments.load(session)
        out.print("demo segments: " + ", ".join(f"{k} {v:,}" for k, v in counted.items()))
    with db.transaction() as session:  # after the segments a campaign may name
        from patron.demo import campaigns as demo_campaigns

        loaded_campaigns = demo_campaigns.load(session, seed)
        out.print("demo campaigns: " + ", ".join(f"{k} ({v})" for k, v in loaded_campaigns.items()))
    with db.transaction() as session:  # after the segments: a journey's rules read profiles too
        from patron.demo import journeys as demo_journeys

        entered = demo_journeys.load(session)
        out.print("demo journeys: " + ", ".join(f"{k} {v:,}" for k, v in entered.items()))
    if refreshed:  # after everything that writes orders and ledgers: dashboards show it all
        from patron.reports import facts

        with db.transaction() as session:
            days = facts.refresh(session, clock.now())
        out.print(f"demo facts: {days:,} business days")
    if not loaded:
        out.print("demo brand already present; nothing loaded")
    brand.print_logins(out)
    with db.transaction() as session:
        from patron.members import registry

        first = registry.first_active_mobile(session)
    brand.print_member_login(out, first, "http://127.0.0.1:8000")
