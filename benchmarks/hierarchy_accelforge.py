"""Benchmark: the three-level joint bound against AccelForge's three-level mappings.

    python benchmarks/hierarchy_accelforge.py [--out benchmarks/results/hierarchy_accelforge.csv]

AccelForge's Pareto mappings come from ``benchmarks/af_three_level.py`` (run in its venv:
``accelforge.sh python benchmarks/af_three_level.py 16 16 16 64 OUT``): DRAM -> L2 (usage swept)
-> L1 (64 words) -> MAC, every tensor kept everywhere, DRAM energy 10^6 x L2's so DRAM traffic is
minimised first. For each AccelForge point (L2 words, DRAM words) we read four curves at its
L2 size: our joint bound with uniform placement within each level and with per-tensor placement
(hierarchy.py), the one-buffer Orojenesis curve and the one-buffer per-tensor curve. A point
below a curve is a real mapping that curve's mapspace misses. For the joint bounds the points
are also compared on the whole lexicographic key (DRAM, then L2 <-> L1). GEMM 16^3 needs
``--per-tensor-limit 400000000`` (55 minutes) for the per-tensor joint bound.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
from common import lookup, report

import boundsolver as bs
from boundsolver.curves import joint
from boundsolver.model.arch import Arch, Level

DATA = Path(__file__).parent / "data"


CASES = [((16, 16, 16), 64), ((4, 4, 4), 8), ((8, 4, 4), 8)]  # (M, K, K), L1 words


def lexicographic(front: pd.DataFrame, af: pd.DataFrame) -> dict:
    """AccelForge's points against a joint bound's lexicographic key (DRAM, then L2 <-> L1).
    AccelForge reports L2's actions (reads + writes); every word crossing either boundary
    touches L2 once, so its L2 <-> L1 traffic is its L2 words moved less its DRAM words."""
    if "accesses_L1" not in front:
        return {}
    keys = [(int(o), (int(a), int(b))) for o, a, b in
            zip(front["occupancy"], front["accesses"], front["accesses_L1"])]
    counts = {"af_below_key": 0, "af_tied_key": 0, "af_above_key": 0}
    for x, d, moved in zip(af["l2_words"], af["dram_words"], af["l2_moved_words"]):
        ours = min((k for o, k in keys if o <= x), default=None)
        theirs = (int(d), int(moved) - int(d))
        side = "tied" if ours == theirs else "below" if ours is None or theirs < ours else "above"
        counts[f"af_{side}_key"] += 1
    return counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path,
                    default=Path(__file__).parent / "results" / "hierarchy_accelforge.csv")
    ap.add_argument("--per-tensor-limit", type=int, default=None,
                    help="search nodes for the per-tensor joint bound (GEMM 16^3 needs about "
                         "4e8: 55 minutes on 2 shared cores; the default refuses it)")
    args = ap.parse_args()
    rows = []
    for (m, k, n), l1 in CASES:
        p = bs.gemm(m, k, n)
        af = pd.read_csv(DATA / f"accelforge_three_level_{m}x{k}x{n}_L1_{l1}.csv")
        arch = Arch("three_level", 8, (Level("DRAM"), Level("L2", sweep=True), Level("L1", l1)))
        curves = {
            "joint uniform-per-level (hierarchy.py)":
                lambda: bs.pareto_frontier(p, arch=arch, method="enumerate"),
            "joint per-tensor (hierarchy.per_tensor_points)":
                lambda: joint.solve(p, arch, limit=args.per_tensor_limit,
                                        method="enumerate", placement="per_tensor"),
            "one-buffer uniform/perfect": lambda: bs.pareto_frontier(p, method="enumerate"),
            "one-buffer per_tensor/perfect":
                lambda: bs.pareto_frontier(p, mapspace="per_tensor/perfect", method="enumerate")}
        for name, run in curves.items():
            began = time.perf_counter()
            row = {"gemm": f"{m}x{k}x{n}", "L1": l1, "curve": name, "af_points": len(af)}
            try:
                front = run()
            except bs.EnumerationTooLarge:
                rows.append(row | {"af_below_curve": None,
                                   "example (L2 words, AF DRAM, ours)": "too large to enumerate",
                                   "seconds": time.perf_counter() - began})
                continue
            seconds = time.perf_counter() - began
            ours = [lookup(front, int(c)) for c in af["l2_words"]]
            below = [(c, d, o) for c, d, o in zip(af["l2_words"], af["dram_words"], ours)
                     if o is None or d < o]
            rows.append(row | {"af_below_curve": len(below),
                               "example (L2 words, AF DRAM, ours)": below[0] if below else "",
                               **lexicographic(front, af), "seconds": seconds})
    report(rows, args.out)


if __name__ == "__main__":
    main()
