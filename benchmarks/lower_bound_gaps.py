"""Benchmark: how far the attainable curves sit above the any-schedule floor (docs/lower_bounds.md).

    python benchmarks/lower_bound_gaps.py [--fig11] [--out benchmarks/results/lower_bound_gaps.csv]

Part 1: GEMM 4096^3 at every power of two from 2^8 to 2^24 words: the attainable accesses (the
Orojenesis mapspace, enumerated), the floor, which argument gave it, accesses / floor, and
COSMA's 2MNK/sqrt(S) + MN for comparison. Part 2: every problem of the paper's figures (Fig. 11's
27 GEMMs with --fig11): the largest and the geometric-mean accesses / floor over 12 breakpoints
spread along its frontier, and the seconds the floors took.
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fig11", action="store_true", help="also Fig. 11's 27 GEMMs")
    ap.add_argument("--out", type=Path,
                    default=Path(__file__).parent / "results" / "lower_bound_gaps.csv")
    args = ap.parse_args()
    report(gemm_table(), args.out.with_name(args.out.stem + "_gemm4096.csv"))
    report(figure_rows(FIGURES + (["fig11_gemms"] if args.fig11 else [])), args.out)


if __name__ == "__main__":
    main()
