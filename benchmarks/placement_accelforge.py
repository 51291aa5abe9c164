"""Benchmark: AccelForge's three-level and spatial mappings against the per-tensor joint bound.

    python benchmarks/placement_accelforge.py [--data DIR] [--key N]
                                              [--out benchmarks/results/placement_accelforge.csv]

AccelForge's Pareto mappings (``af_three_level.py``: DRAM -> L2 (swept) -> L1 of 64 words;
``af_spatial.py``: DRAM -> L2 (swept) -> 4 PEs with L1 of 16 words each, multicast or not) are
read from ``--data`` (default ``benchmarks/data``; helper runs at larger sizes live next to it).
On these archs every inner level holds a word of each tensor, so the per-tensor joint bound's DRAM
component is the one-buffer per-tensor curve at the L2 size (placement.py's floor, attained by the
constructed candidate; ``PlacementSolver`` checks it per capacity). So the DRAM comparison reads
that curve (fastnest.py, exact, seconds at 256^3) for every AccelForge point, beside the uniform
one-buffer curve. ``--key N``: also solve the whole per-tensor joint key (DRAM, then L2 <-> L1)
by the MILP at the L2 sizes of the first N points of each three-level file (minutes each
beyond 16^3) and count AccelForge points below, tied and above it.
"""

from __future__ import annotations

import argparse
import bisect
import re
import time
from pathlib import Path

import pandas as pd
from common import report

import boundsolver as bs
from boundsolver.curves.joint import PlacementSolver
from boundsolver.model.arch import Arch, Level
from boundsolver.reference.fastnest import frontier as fast


def at(curve: list, x: int) -> int | None:
    """The staircase's least accesses at occupancy ``x`` (None below its first point)."""
    i = bisect.bisect_right([c.occupancy for _, c in curve], x) - 1
    return curve[i][1].accesses if i >= 0 else None


def key_counts(af: pd.DataFrame, n: int, count: int) -> dict:
    """AccelForge's points against the per-tensor joint key (MILP) at their L2 sizes."""
    arch = Arch("af3", 8, (Level("DRAM"), Level("L2", sweep=True), Level("L1", 64)))
    ls = PlacementSolver(bs.gemm(n, n, n), arch)
    out = {"key_points": 0, "af_below_key": 0, "af_tied_key": 0, "af_above_key": 0,
           "key_seconds": 0.0}
    began = time.perf_counter()
    for x, d, moved in list(zip(af["l2_words"], af["dram_words"], af["l2_moved_words"]))[:count]:
        point = ls.joint(int(x), least_occupancy=False)
        ours = (point.cost.dram, point.cost.accesses[1])
        theirs = (int(d), int(moved) - int(d))
        side = "tied" if ours == theirs else "below" if theirs < ours else "above"
        out[f"af_{side}_key"] += 1
        out["key_points"] += 1
    out["key_seconds"] = time.perf_counter() - began
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path(__file__).parent / "data")
    ap.add_argument("--key", type=int, default=0)
    ap.add_argument("--out", type=Path,
                    default=Path(__file__).parent / "results" / "placement_accelforge.csv")
    args = ap.parse_args()
    rows = []
    for path in sorted(args.data.glob("accelforge_*_L1_*.csv")):
        match = re.match(r"accelforge_(three_level|spatial)_(\d+)x(\d+)x(\d+)_L1_\d+", path.stem)
        if not match or "eval" in path.stem or "nests" in path.stem:
            continue
        m, k, n = (int(v) for v in match.groups()[1:])
        af = pd.read_csv(path)
        began = time.perf_counter()
        per = fast(bs.gemm(m, k, n), "per_tensor/perfect")
        uni = fast(bs.gemm(m, k, n), "uniform/perfect")
        seconds = time.perf_counter() - began
        below = tied = below_uniform = 0
        for x, d in zip(af["l2_words"], af["dram_words"]):
            ours, theirs = at(per, int(x)), at(uni, int(x))
            below += ours is None or d < ours
            tied += ours == d
            below_uniform += theirs is None or d < theirs
        row = {"case": path.stem.removeprefix("accelforge_"), "points": len(af),
               "below_per_tensor_dram": below, "tied_per_tensor_dram": tied,
               "below_uniform_one_buffer": below_uniform, "curve_seconds": seconds}
        if args.key and match.group(1) == "three_level" and m == k == n:
            row |= key_counts(af, m, args.key)
        rows.append(row)
        print(f"  {row['case']}: {below} below", flush=True)
    report(rows, args.out)


if __name__ == "__main__":
    main()
