"""Benchmark: the three-level joint bound against AccelForge's three-level mappings.

    python benchmarks/hierarchy_accelforge.py [--out benchmarks/results/hierarchy_accelforge.csv]

AccelForge's Pareto mappings come from ``benchmarks/af_three_level.py`` (run in its venv:
``accelforge.sh python benchmarks/af_three_level.py 16 16 16 64 OUT``): DRAM -> L2 (usage swept)
-> L1 (64 words) -> MAC, every tensor kept everywhere, DRAM energy 10^6 x L2's so DRAM traffic is
minimised first. For each AccelForge point (L2 words, DRAM words) we read four curves at its
L2 size: our joint bound with uniform placement within each level and with per-tensor placement
(hierarchy.py), the one-buffer Orojenesis curve and the one-buffer per-tensor curve. A point
below a curve is a real mapping that curve's mapspace misses. GEMM 16^3 is too large for the
per-tensor enumerator; 4x4x4 and 8x4x4 (L1 = 8 words) are compared in full.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
from common import lookup, report

import boundsolver as bs
from boundsolver.arch import Arch, Level

DATA = Path(__file__).parent / "data"


CASES = [((16, 16, 16), 64), ((4, 4, 4), 8), ((8, 4, 4), 8)]  # (M, K, K), L1 words


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path,
                    default=Path(__file__).parent / "results" / "hierarchy_accelforge.csv")
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
                lambda: bs.pareto_frontier(p, arch=arch, mapspace="per_tensor/perfect",
                                           method="enumerate"),
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
                               "seconds": seconds})
    report(rows, args.out)


if __name__ == "__main__":
    main()
