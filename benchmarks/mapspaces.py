"""Benchmark the extended mapspaces (docs/mapspaces.md) against a base mapspace, per problem.

    python benchmarks/mapspaces.py [--out benchmarks/results/mapspaces.csv] [names...]

For each case: MILP frontier time and breakpoints of the richer mapspace and of its base, the
smallest buffer reaching the algorithmic minimum in each, and the largest traffic ratio
base / richer over all capacities. All timings of one table come from one run on one machine.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
from common import lookup, report

import boundsolver as bs

CASES = {  # name: (problem, richer mapspace, base mapspace)
    "gemm_4096^3 per_tensor": (lambda: bs.gemm(4096, 4096, 4096), "per_tensor/perfect", "uniform/perfect"),
    "gemm_16384x1024x1024 per_tensor": (lambda: bs.gemm(16384, 1024, 1024), "per_tensor/perfect",
                                        "uniform/perfect"),
    "conv3x3_P16_C64 per_tensor": (lambda: bs.conv(R=3, S=3, P=16, Q=16, C=64, K=64),
                                   "per_tensor/perfect", "uniform/perfect"),
    "gemm_1000^3 uniform imperfect": (lambda: bs.gemm(1000, 1000, 1000), "uniform/imperfect",
                                      "uniform/perfect"),
    "gemm_1000^3 per_tensor imperfect": (lambda: bs.gemm(1000, 1000, 1000), "per_tensor/imperfect",
                                         "per_tensor/perfect"),
}


def frontier(problem: bs.Einsum, mapspace: str) -> tuple[pd.DataFrame, float]:
    t0 = time.perf_counter()
    front = bs.pareto_frontier(problem, mapspace=mapspace, method="milp")
    return front, time.perf_counter() - t0


def measure(name: str) -> dict:
    make, rich_space, base_space = CASES[name]
    problem = make()
    rich, t_rich = frontier(problem, rich_space)
    base, t_base = frontier(problem, base_space)
    caps = sorted(set(rich["occupancy"]) | set(base["occupancy"]))
    ratios = [lookup(base, c) / lookup(rich, c) for c in caps if lookup(base, c) is not None]
    return {"case": name, "mapspace": rich_space, "seconds": t_rich, "breakpoints": len(rich),
            "base": base_space, "base_seconds": t_base, "base_breakpoints": len(base),
            "min_words_at_alg_min": int(rich["occupancy"].iloc[-1]),
            "base_min_words_at_alg_min": int(base["occupancy"].iloc[-1]),
            "max_traffic_ratio": max(ratios),
            "at_capacity": caps[max(range(len(ratios)), key=ratios.__getitem__)]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help=f"subset of: {', '.join(CASES)}")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "mapspaces.csv")
    args = ap.parse_args()
    rows = []
    for name in args.names or CASES:
        rows.append(measure(name))
        print(f"  {name}: done", flush=True)
    report(rows, args.out)


if __name__ == "__main__":
    main()
