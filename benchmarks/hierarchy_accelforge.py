"""Benchmark: the three-level joint bound against AccelForge's three-level mappings.

    python benchmarks/hierarchy_accelforge.py [--out benchmarks/results/hierarchy_accelforge.csv]

AccelForge's Pareto mappings come from ``benchmarks/af_three_level.py`` (run in its venv:
``accelforge.sh python benchmarks/af_three_level.py 16 16 16 64 OUT``): DRAM -> L2 (usage swept)
-> L1 (64 words) -> MAC, every tensor kept everywhere, DRAM energy 10^6 x L2's so DRAM traffic is
minimised first. For each AccelForge point (L2 words, DRAM words) we read three curves at its
L2 size: our joint bound (uniform placement within each level, hierarchy.py), the one-buffer
Orojenesis curve and the one-buffer per-tensor curve. A point below a curve is a real mapping
that curve's mapspace misses.
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path,
                    default=Path(__file__).parent / "results" / "hierarchy_accelforge.csv")
    args = ap.parse_args()
    p, l1 = bs.gemm(16, 16, 16), 64
    af = pd.read_csv(DATA / "accelforge_three_level_16x16x16_L1_64.csv")
    arch = Arch("three_level", 8, (Level("DRAM"), Level("L2", sweep=True), Level("L1", l1)))
    began = time.perf_counter()
    joint = bs.pareto_frontier(p, arch=arch)
    seconds = time.perf_counter() - began
    curves = {"joint uniform-per-level (hierarchy.py)": joint,
              "one-buffer uniform/perfect": bs.pareto_frontier(p, method="enumerate"),
              "one-buffer per_tensor/perfect": bs.pareto_frontier(p, mapspace="per_tensor/perfect",
                                                                  method="enumerate")}
    rows = []
    for name, front in curves.items():
        ours = [lookup(front, int(c)) for c in af["l2_words"]]
        below = [(c, d, o) for c, d, o in zip(af["l2_words"], af["dram_words"], ours)
                 if o is None or d < o]
        rows.append({"curve": name, "af_points": len(af), "af_below_curve": len(below),
                     "example (L2 words, AF DRAM, ours)": below[0] if below else "",
                     "seconds": seconds if name.startswith("joint") else None})
    report(rows, args.out)


if __name__ == "__main__":
    main()
