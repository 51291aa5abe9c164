"""Benchmark: MILP frontier, solve_curve at 32 log-spaced capacities, and enumeration, per problem.

    python benchmarks/run.py [--solver highs|cbc] [--out benchmarks/results/bench.csv] [names...]

Prints a table and writes CSV. All timings of one table come from one run on one machine; compare
ratios within a table, not across machines.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from common import lookup, report

import boundsolver as bs

PROBLEMS = {
    "gemm_4096^3": lambda: bs.gemm(4096, 4096, 4096),
    "gemm_16384x1024x1024": lambda: bs.gemm(16384, 1024, 1024),
    "conv3x3_P16_C64": lambda: bs.conv(R=3, S=3, P=16, Q=16, C=64, K=64),
    "conv3x3_stride2": lambda: bs.conv(R=3, S=3, P=16, Q=16, C=64, K=64, Wstride=2, Hstride=2),
    "bmm_H8_K512": lambda: bs.bmm(4096, 512, 4096, H=8),
    "gbmm_H32_G4": lambda: bs.gbmm(4096, 128, 4096, H=32, G=4),
}


def measure(name: str, problem: bs.Einsum, solver: str) -> dict:
    t0 = time.perf_counter()
    ref = bs.enumerate_frontier(problem)
    t_enum = time.perf_counter() - t0

    t0 = time.perf_counter()
    front = bs.pareto_frontier(problem, solver=solver, method="milp")
    t_front = time.perf_counter() - t0

    caps = np.unique(np.geomspace(3, 2 * int(ref["occupancy"].max()), 32).astype(int)).tolist()
    t0 = time.perf_counter()
    curve = bs.solve_curve(problem, caps, solver=solver, method="milp")
    t_curve = time.perf_counter() - t0

    same_front = (front["occupancy"].tolist() == ref["occupancy"].tolist()
                  and front["accesses"].tolist() == ref["accesses"].tolist())
    same_curve = all((lookup(ref, c) is None and s == "infeasible") or a == lookup(ref, c)
                     for c, a, s in zip(curve["capacity"], curve["accesses"], curve["status"]))
    return {"problem": name, "solver": solver, "breakpoints": len(front),
            "frontier_s": t_front, "frontier_build_s": front.attrs["build_seconds"],
            "curve32_s": t_curve, "enumeration_s": t_enum,
            "frontier_vs_enum": t_front / t_enum, "agree": same_front and same_curve}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help=f"subset of: {', '.join(PROBLEMS)}")
    ap.add_argument("--solver", default="highs")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "bench.csv")
    args = ap.parse_args()
    rows = []
    for name in args.names or PROBLEMS:
        rows.append(measure(name, PROBLEMS[name](), args.solver))
        print(f"  {name}: done", flush=True)
    report(rows, args.out)


if __name__ == "__main__":
    main()
