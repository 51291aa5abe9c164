"""Benchmark: the joint bound on hierarchies, uniform/per-tensor placement x perfect/imperfect factors.

    python benchmarks/levels_imperfect.py [--cases three a100] [--time-limit 30]
                                          [--out benchmarks/results/levels_imperfect.csv]

Cases: ``three``, a three-level GEMM 24x40x56 (DRAM -> L2 swept -> L1 of 64 words, the packaged
``three_level`` arch; sizes that are not powers of two, so imperfect tiles matter) at L2 sizes
4,544 (every tensor), 1,024 and 256 words; ``a100``, GEMM 4096^3 on ``a100`` at L2 sizes 2^22
and 2^20. Each mapspace runs ``solve_curve`` with ``method="milp"`` and ``--time-limit`` seconds
per capacity: a capacity the limit cuts is a ``time_limit`` row (its proven lower bound beside
the best point found), counted apart from the proven ones. One run per row, all rows in one
process on one machine, so the ratios between mapspaces are what to read; the load
(``os.getloadavg``) is printed beside each row.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from common import report

import boundsolver as bs

SPACES = ["uniform/perfect", "uniform/imperfect", "per_tensor/perfect", "per_tensor/imperfect"]


def cases(names: list[str]):
    if "three" in names:
        yield "three-level GEMM 24x40x56, L1=64", bs.gemm(24, 40, 56), \
            bs.load_arch("three_level", L1=64), [4544, 1024, 256]
    if "a100" in names:
        yield "a100 GEMM 4096^3", bs.gemm(4096, 4096, 4096), bs.load_arch("a100"), \
            [2**22, 2**20]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", nargs="+", default=["three", "a100"], choices=["three", "a100"])
    ap.add_argument("--mapspaces", nargs="+", default=SPACES, choices=SPACES)
    ap.add_argument("--time-limit", type=float, default=30.0)
    ap.add_argument("--out", type=Path,
                    default=Path(__file__).parent / "results" / "levels_imperfect.csv")
    args = ap.parse_args()
    rows = []
    for name, problem, arch, caps in cases(args.cases):
        for space in args.mapspaces:
            began = time.perf_counter()
            curve = bs.solve_curve(problem, caps, arch=arch, method="milp", mapspace=space,
                                   time_limit=args.time_limit)
            seconds = time.perf_counter() - began
            inner = [c for c in curve.columns if c.startswith("accesses_")]
            status = curve["status"].tolist()

            def words(column):
                return "; ".join("-" if v != v else f"{int(v):,}" for v in curve[column])

            bounds = curve["best_bound"] if "best_bound" in curve else [float("nan")] * len(curve)
            rows.append({
                "case": name, "mapspace": space, "L2 sizes": "; ".join(f"{c:,}" for c in caps),
                "seconds": seconds, "proven": status.count("optimal"),
                "time_limit": status.count("time_limit"),
                "dram": words("accesses"), "innermost": words(inner[-1]),
                "bound_of": "; ".join(str(v) for v in curve.get("bound_of", [""] * len(curve))),
                "best_bound": "; ".join("-" if b != b else f"{int(b):,}" for b in bounds),
                "load": f"{os.getloadavg()[0]:.1f}"})
            print(f"  {name}, {space}: {seconds:.1f} s, {status}", flush=True)
    report(rows, args.out)


if __name__ == "__main__":
    main()
