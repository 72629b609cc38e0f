"""`profiles refresh` over a million members and ten million orders on PostgreSQL (issue 17):
the whole refresh in one transaction, as `patron profiles refresh` runs it, with the CLV fit
timed apart and the memory of this process and of the PostgreSQL backend.

Targets: refresh ≤ 60 s (stretch 10 s); CLV fit ≤ 10 s; this process's peak RSS < 2 GB.

The data is bench/_profiles_data.py's (generated in a child process the first time, then kept in
`patron_bench_profiles`; --fresh generates it again).

.venv/bin/python bench/profiles_refresh.py [--members 1000000] [--orders 10000000] [--fresh]
    [--statements 0.2]  # print each statement slower than this many seconds (0: none)
    [--explain]         # EXPLAIN (ANALYZE, BUFFERS) of each slow statement, afterwards (those
                        # reading the refresh's temporary tables cannot be: for them run with
                        # PGOPTIONS="-c session_preload_libraries=auto_explain
                        # -c auto_explain.log_min_duration=5000 -c auto_explain.log_analyze=on"
                        # and read the plans in the server's log)
    [--cli]             # also time `patron profiles refresh --now ...` as a child process
    [--runs 1]
"""

from __future__ import annotations

import argparse
import functools
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _profiles_data as data
from sqlalchemy import Engine, event, text
from sqlalchemy.orm import Session

from patron.core import clock, db

TARGET = 60.0
STRETCH = 10.0
CLV_TARGET = 10.0
MEMORY_TARGET_MB = 2048
CLV_FUNCTIONS = (
    "fit_bgnbd",
    "fit_gamma_gamma",
    "probability_alive",
    "expected_purchases",
    "expected_spend",
)


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def backend_pid(session: Session) -> int | None:
    pid = int(session.execute(text("SELECT pg_backend_pid()")).scalar_one())
    return pid if Path(f"/proc/{pid}/status").exists() else None


def cpu_seconds(pid: int | None) -> float:
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_mb(pid: int | None, field: str = "VmHWM") -> float:
    """A process's peak resident set (VmHWM) in MB; for a PostgreSQL backend it includes the
    shared buffers it touched."""
    if pid is None:
        return 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


class ClvTimer:
    """Time spent in patron.profiles.clv's functions (the service imports the module and calls
    its attributes, so wrapping them here counts every call)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        try:
            from patron.profiles import clv
        except ImportError:
            return
        for name in CLV_FUNCTIONS:
            if hasattr(clv, name):
                setattr(clv, name, self._wrap(name, getattr(clv, name)))

    def _wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started

        return timed

    @property
    def fit(self) -> float:
        return self.seconds.get("fit_bgnbd", 0.0) + self.seconds.get("fit_gamma_gamma", 0.0)

    @property
    def total(self) -> float:
        return sum(self.seconds.values())


class Statements:
    """Each statement's wall time and the backend's CPU time; the slow ones kept for EXPLAIN."""

    def __init__(self, engine: Engine, threshold: float) -> None:
        self.threshold = threshold
        self.pid: int | None = None
        self.rows: list[tuple[float, float, str, Any]] = []
        self.total = 0.0
        self._started: dict[int, tuple[float, float]] = {}
        event.listen(engine, "before_cursor_execute", self.before)
        event.listen(engine, "after_cursor_execute", self.after)

    def before(self, conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        self._started[id(cursor)] = (time.perf_counter(), cpu_seconds(self.pid))

    def after(self, conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        wall, cpu = self._started.pop(id(cursor), (time.perf_counter(), 0.0))
        took = time.perf_counter() - wall
        self.total += took
        if took >= self.threshold:
            self.rows.append((took, cpu_seconds(self.pid) - cpu, statement, params))


def run_once(engine: Engine, args: argparse.Namespace, statements: Statements) -> dict[str, Any]:
    from patron.profiles import service

    clv_timer = ClvTimer()
    before_rss = rss_mb()
    # The state a nightly refresh finds: last night's deleted profiles vacuumed by autovacuum in
    # the day between (back to back, each run's dead rows and their index entries would slow the
    # next one's insert: its unique key checks visit them).
    vacuum = time.perf_counter()
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM member_profiles"))
    print(
        f"  (VACUUM member_profiles before the run, untimed: {time.perf_counter() - vacuum:.1f}s)"
    )
    with engine.connect() as conn:
        temp_before = conn.execute(
            text("SELECT temp_bytes FROM pg_stat_database WHERE datname = current_database()")
        ).scalar_one()
    statements.rows.clear()
    statements.total = 0.0
    started = time.perf_counter()
    with db.transaction() as session:
        pid = backend_pid(session)
        statements.pid = pid
        work_mem = session.execute(text("SHOW work_mem")).scalar_one()
        cpu = cpu_seconds(pid)
        report = service.refresh(session, data.NOW)
        cpu = cpu_seconds(pid) - cpu
        backend_peak = peak_mb(pid)
        work_mem_after = session.execute(text("SHOW work_mem")).scalar_one()
    took = time.perf_counter() - started
    with engine.connect() as conn:
        temp_after = conn.execute(
            text("SELECT temp_bytes FROM pg_stat_database WHERE datname = current_database()")
        ).scalar_one()
        profiles = conn.execute(text("SELECT count(*) FROM member_profiles")).scalar_one()
    return {
        "seconds": took,
        "report": report,
        "clv": clv_timer,
        "backend_cpu": cpu,
        "backend_peak": backend_peak,
        "rss_before": before_rss,
        "rss_peak": rss_mb(),
        "temp_mb": (temp_after - temp_before) / 2**20,
        "work_mem": work_mem if work_mem == work_mem_after else f"{work_mem} → {work_mem_after}",
        "profiles": profiles,
        "sql": statements.total,
    }


def verdict(value: float, target: float, below: bool = True) -> str:
    met = value <= target if below else value >= target
    return f"{'meets' if met else 'MISSES'} (×{value / target:.2f} of the target)"


def explain(engine: Engine, rows: list[tuple[float, float, str, Any]]) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) of the slow SELECTs and INSERT ... SELECTs, in a transaction
    rolled back (the temporary tables they read are gone by now, so those are skipped)."""
    for took, _, statement, params in rows:
        head = " ".join(statement.split())[:60]
        with engine.connect() as conn:
            try:
                raw = conn.connection.dbapi_connection
                assert raw is not None
                cur = raw.cursor()
                cur.execute("SET jit = off")
                cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, params)
                plan = "\n".join(r[0] for r in cur.fetchall())
                cur.close()
                print(f"\n--- {took:.2f}s {head}\n{plan}")
            except Exception as exc:  # noqa: BLE001 - a statement on a temp table is skipped
                print(f"\n--- {took:.2f}s {head}: not explained ({type(exc).__name__})")
            finally:
                conn.rollback()


def run_cli(info: data.Generated) -> tuple[float, float]:
    """`patron profiles refresh --now ...` as a child process: (wall seconds, peak RSS MB)."""
    patron = Path(sys.executable).with_name("patron")
    env = {**os.environ, "PATRON_DATABASE_URL": info.url}
    started = time.perf_counter()
    child = subprocess.Popen(
        [str(patron), "profiles", "refresh", "--now", data.NOW.isoformat()],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert child.stdout is not None
    output = child.stdout.read().decode()
    _, status, usage = os.wait4(child.pid, 0)
    took = time.perf_counter() - started
    if status != 0:
        print(output)
        raise SystemExit(f"patron profiles refresh failed ({status})")
    print("  " + "\n  ".join(output.strip().splitlines()[-1:]))
    return took, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--fresh", action="store_true")
    parser.add_argument("--database", default=data.DATABASE)
    parser.add_argument("--statements", type=float, default=0.2)
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--cli", action="store_true")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    if not data.postgres_reachable():
        raise SystemExit(f"PostgreSQL not reachable at {data.POSTGRES_ADMIN_URL}")
    info = data.ensure_apart(args.members, args.orders, args.seed, args.fresh, args.database)
    engine = data.connect(info)
    clock.set_now(data.NOW)
    statements = Statements(engine, args.statements if args.statements > 0 else float("inf"))
    print(
        f"profiles refresh: {info.members:,} members, {info.orders:,} orders, {info.lines:,} "
        f"lines, now = {data.NOW.isoformat()}; process RSS before {rss_mb():.0f} MB"
    )
    missed = False
    result: dict[str, Any] = {}
    for run in range(1, args.runs + 1):
        result = run_once(engine, args, statements)
        report, clv_timer = result["report"], result["clv"]
        seconds = result["seconds"]
        print(f"run {run}:")
        for took, cpu, statement, _ in statements.rows:
            print(
                f"  {took:7.2f}s wall {cpu:6.2f}s backend cpu  {' '.join(statement.split())[:90]}"
            )
        print(
            f"  refresh {seconds:.1f}s: {verdict(seconds, TARGET)} of {TARGET:.0f}s; stretch "
            f"{STRETCH:.0f}s {'met' if seconds <= STRETCH else 'not met'}"
        )
        print(
            f"  {result['profiles']:,} profiles, {report.buyers:,} buyers, {report.scored:,} "
            f"RFM-scored; SQL {result['sql']:.1f}s (backend CPU {result['backend_cpu']:.1f}s), "
            f"Python and the rest {seconds - result['sql']:.1f}s"
        )
        if report.fit is None:
            print(f"  CLV not fitted: {report.clv_skipped}")
            missed = True
        else:
            p = {**report.fit.params, **report.fit.spend_params}
            shown = ", ".join(f"{k}={v:.4g}" for k, v in p.items())
            print(
                f"  CLV fit {clv_timer.fit:.2f}s (BG/NBD {clv_timer.seconds.get('fit_bgnbd', 0):.2f}s"
                f", Gamma-Gamma {clv_timer.seconds.get('fit_gamma_gamma', 0):.2f}s) on "
                f"{report.fit.customers:,} customers: {verdict(clv_timer.fit, CLV_TARGET)} of "
                f"{CLV_TARGET:.0f}s; scoring {clv_timer.total - clv_timer.fit:.2f}s; {shown}"
            )
        print(
            f"  this process peak RSS {result['rss_peak']:.0f} MB (before the refresh "
            f"{result['rss_before']:.0f} MB): {verdict(result['rss_peak'], MEMORY_TARGET_MB)} of "
            f"{MEMORY_TARGET_MB} MB; PostgreSQL backend peak RSS {result['backend_peak']:.0f} MB "
            f"(shared buffers it touched included), work_mem {result['work_mem']}, temp files "
            f"{result['temp_mb']:.0f} MB"
        )
        missed |= seconds > TARGET or clv_timer.fit > CLV_TARGET
        missed |= result["rss_peak"] > MEMORY_TARGET_MB
    if args.explain:
        explain(engine, statements.rows)
    if args.cli:
        took, peak = run_cli(info)
        print(
            f"patron profiles refresh (child process): {took:.1f}s, peak RSS {peak:.0f} MB: "
            f"{verdict(took, TARGET)}"
        )
        missed |= took > TARGET or peak > MEMORY_TARGET_MB
    if missed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
