"""Benchmark: GEMM 1000^3 against AccelForge, perfect and imperfect factors (per-tensor placement).

    python benchmarks/accelforge_gemm.py [--milp] [--out benchmarks/results/accelforge_gemm.csv]

AccelForge's Pareto points and times come from ``benchmarks/af_gemm.py`` run in its own venv
(``../shared/tools/accelforge.sh python benchmarks/af_gemm.py imperfect OUT``) on the same
machine, saved in ``benchmarks/data/accelforge_gemm1000_*.csv``. For each of its points we read
our exact curve at its buffer size: ours must be at or below it (a lower traffic at the same
capacity means AccelForge's mapspace or search missed a mapping; a higher one would mean ours is
wrong). AccelForge's per-tensor placement is our ``per_tensor`` mapspace.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
from common import lookup, report

import boundsolver as bs

DATA = Path(__file__).parent / "data"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--milp", action="store_true", help="also time the MILP frontier (minutes)")
    ap.add_argument("--out", type=Path,
                    default=Path(__file__).parent / "results" / "accelforge_gemm.csv")
    args = ap.parse_args()
    p = bs.gemm(1000, 1000, 1000)
    times = pd.read_csv(DATA / "accelforge_gemm1000_times.csv").set_index("mode")
    rows = []
    for mode in ("perfect", "imperfect"):
        af = pd.read_csv(DATA / f"accelforge_gemm1000_{mode}.csv")
        space = f"per_tensor/{mode}"
        methods = ["auto"] + (["milp"] if args.milp else [])
        for method in methods:
            began = time.perf_counter()
            front = bs.pareto_frontier(p, mapspace=space, method=method)
            seconds = time.perf_counter() - began
            ours = [lookup(front, int(c)) for c in af["buffer_words"]]
            ratio = [a / o for a, o in zip(af["dram_words"], ours)]
            rows.append({"mapspace": space, "method": front.attrs["method"], "seconds": seconds,
                         "breakpoints": len(front), "accelforge_s": times.loc[mode, "seconds"],
                         "speedup": times.loc[mode, "seconds"] / seconds,
                         "af_points": len(af),
                         "at_or_below": sum(o <= a for o, a in zip(ours, af["dram_words"])),
                         "strictly_below": sum(o < a for o, a in zip(ours, af["dram_words"])),
                         "max_af_over_ours": max(ratio)})
            print(f"  {space} {method}: {seconds:.2f} s", flush=True)
    report(rows, args.out)


if __name__ == "__main__":
    main()
