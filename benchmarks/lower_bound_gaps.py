"""Benchmark: how far the attainable curves sit above the any-schedule floor (docs/lower_bounds.md).

    python benchmarks/lower_bound_gaps.py [--fig11] [--out benchmarks/results/lower_bound_gaps.csv]

Part 1: GEMM 4096^3 at every power of two from 2^8 to 2^24 words: the attainable accesses (the
Orojenesis mapspace, enumerated), the floor, which argument gave it, accesses / floor, and
COSMA's 2MNK/sqrt(S) + MN for comparison. Part 2: every problem of the paper's figures (Fig. 11's
27 GEMMs with --fig11): the largest and the geometric-mean accesses / floor over 12 breakpoints
spread along its frontier, and the seconds the floors took. Part 3: what ``lower_bound=True``
costs beside the frontier it annotates (GEMM 4096^3, the convolution R=S=3, P=Q=56, C=K=64,
attention at 1024 tokens): the frontier's seconds, the floor's at every breakpoint with the
per-Einsum caches cleared (cold) and kept (warm); the least of three runs each.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from common import lookup, report

import boundsolver as bs
from boundsolver.report.metrics import floor_gap, pebbling_bound

FIGURES = ["fig01_gemm", "fig10_gemms", "fig12_convs", "fig13_bmm_heads", "fig14_gbmm_groups"]


def gemm_table() -> list[dict]:
    p = bs.gemm(4096, 4096, 4096)
    front = bs.enumerate_frontier(p)
    caps = [2 ** k for k in range(8, 25)]
    start = time.perf_counter()
    floor = bs.lower_bound(p, caps)
    seconds = (time.perf_counter() - start) / len(caps)
    rows = []
    for S, lb, by in zip(caps, floor["lower_bound"], floor["bound_by"]):
        acc = lookup(front, S)
        rows.append({"problem": p.name, "capacity": S, "attainable": acc, "floor": int(lb),
                     "bound_by": by, "gap": acc / int(lb),
                     "cosma": float(pebbling_bound(4096, 4096, 4096, S)),
                     "seconds": seconds})
    return rows


def figure_rows(names: list[str]) -> list[dict]:
    rows = []
    for name in names:
        for p in bs.load_problems(name):
            front = bs.enumerate_frontier(p)
            start = time.perf_counter()
            gaps = floor_gap(p, front)
            rows.append({"figure": name, "problem": p.name, "breakpoints": len(front)} | gaps
                        | {"seconds": time.perf_counter() - start})
            print(rows[-1], flush=True)
    return rows


def cost_rows() -> list[dict]:
    from boundsolver.model import lower

    caches = (lower.systems, lower._all_covers, lower._pruned, lower._table, lower._fibres,
              lower._chain_table)
    problems = [bs.gemm(4096, 4096, 4096), bs.conv(R=3, S=3, P=56, Q=56, C=64, K=64),
                bs.load_problem("attention", tokens=1024)]
    rows = []
    for p in problems:
        front, t_front, t_cold, t_warm = None, [], [], []
        for _ in range(3):
            start = time.perf_counter()
            front = bs.pareto_frontier(p)
            t_front.append(time.perf_counter() - start)
            for cache in caches:
                cache.cache_clear()
            start = time.perf_counter()
            bs.with_lower_bound(front, p)
            t_cold.append(time.perf_counter() - start)
            start = time.perf_counter()
            bs.with_lower_bound(front, p)
            t_warm.append(time.perf_counter() - start)
        rows.append({"problem": p.name, "breakpoints": len(front), "frontier_s": min(t_front),
                     "floor_cold_s": min(t_cold), "floor_warm_s": min(t_warm)})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fig11", action="store_true", help="also Fig. 11's 27 GEMMs")
    ap.add_argument("--out", type=Path,
                    default=Path(__file__).parent / "results" / "lower_bound_gaps.csv")
    args = ap.parse_args()
    report(gemm_table(), args.out.with_name(args.out.stem + "_gemm4096.csv"))
    report(figure_rows(FIGURES + (["fig11_gemms"] if args.fig11 else [])), args.out)
    report(cost_rows(), args.out.with_name(args.out.stem + "_cost.csv"))


if __name__ == "__main__":
    main()
