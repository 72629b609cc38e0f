"""CLV fit on a million members: BG/NBD and Gamma-Gamma on members generated from known
parameters (whole days, as profiles aggregates them), fit time, rows/s, peak memory, and the
parameters recovered. Exits 1 when both fits together take more than the target (10 s).

.venv/bin/python bench/clv_fit.py [--members 1000000] [--continuous] [--seed 17]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

TARGET_SECONDS = 10.0


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--continuous", action="store_true", help="no flooring to whole days")
    args = parser.parse_args()

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' generator
    from tests.profiles import clv_simulation as sim

    from patron.profiles import clv

    started = time.perf_counter()
    members = sim.simulate(args.members, seed=args.seed, whole_days=not args.continuous)
    generated = time.perf_counter() - started
    repeat = int((members.frequency > 0).sum())
    print(
        f"members {args.members:,} ({repeat:,} with repeat purchases), generated in "
        f"{generated:.2f} s, peak memory so far {peak_mb():.0f} MB"
    )

    wall, cpu = time.perf_counter(), time.process_time()
    purchases = clv.fit_bgnbd(members.frequency, members.recency, members.age)
    bgnbd_wall, bgnbd_cpu = time.perf_counter() - wall, time.process_time() - cpu
    wall, cpu = time.perf_counter(), time.process_time()
    spend = clv.fit_gamma_gamma(members.frequency, members.monetary)
    gg_wall, gg_cpu = time.perf_counter() - wall, time.process_time() - cpu
    wall = time.perf_counter()
    value = clv.expected_purchases(
        purchases, 365, members.frequency, members.recency, members.age
    ) * clv.expected_spend(spend, members.frequency, members.monetary)
    alive = clv.probability_alive(purchases, members.frequency, members.recency, members.age)
    score_wall = time.perf_counter() - wall
    total = bgnbd_wall + gg_wall

    print(f"BG/NBD fit      {bgnbd_wall:6.2f} s wall, {bgnbd_cpu:6.2f} s CPU")
    print(f"Gamma-Gamma fit {gg_wall:6.2f} s wall, {gg_cpu:6.2f} s CPU ({repeat:,} members)")
    print(f"both fits       {total:6.2f} s, {args.members / total:,.0f} members/s")
    print(
        f"scoring (P(alive), 365-day purchases and value) {score_wall:.2f} s, "
        f"mean 365-day value {value.mean() / 100:.2f} yuan, mean P(alive) {alive.mean():.3f}"
    )
    print(f"peak memory     {peak_mb():.0f} MB (the generated members included)")
    rows = [
        ("r", sim.TRUE_R, purchases.r),
        ("alpha", sim.TRUE_ALPHA, purchases.alpha),
        ("a", sim.TRUE_A, purchases.a),
        ("b", sim.TRUE_B, purchases.b),
        ("p", sim.TRUE_P, spend.p),
        ("q", sim.TRUE_Q, spend.q),
        ("gamma", sim.TRUE_GAMMA, spend.gamma),
    ]
    print("parameter      true    fitted   error")
    for name, true, fitted in rows:
        print(f"{name:<6} {true:10.4f} {fitted:9.4f} {100 * (fitted - true) / true:+6.2f} %")
    if total > TARGET_SECONDS:
        print(f"MISSED: {total:.2f} s > {TARGET_SECONDS:.0f} s")
        return 1
    print(f"target met: {total:.2f} s <= {TARGET_SECONDS:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
