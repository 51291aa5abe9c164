"""Benchmark: the joint bound on `simba` at Fig. 24b's five global-buffer sizes, per mapspace.

    python benchmarks/simba_levels.py [--problems gemm conv2_x] [--mapspaces uniform per_tensor]
                                      [--time-limit 30] [--out benchmarks/results/simba_levels.csv]

Fig. 24b's GEMM 4096^3 and ResNet-50's conv2_x (3x3, C = K = 64, P = Q = 56) on `simba`
(weights bypass the global buffer; the global buffer multicasts to 16 PEs), `solve_curve` with
``method="milp"`` at 0.125, 1, 8, 64 and 512 KB of 8-bit words. Per-tensor placement runs with
``--time-limit`` seconds per size (a cut size is a ``time_limit`` row); uniform runs to the end.
Columns: seconds, sizes proven, and the DRAM traffic (proven or the best mapping found) per
size. One run, one machine (2 cores shared here): compare rows of the same run only. Each
row names the boundsolver checkout it imported (``package``): run it with another checkout
first on ``PYTHONPATH`` (and an empty ``BOUNDSOLVER_CACHE_DIR``) to time an older version.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
from common import report

import boundsolver as bs

SIZES = [128, 1024, 8192, 65536, 524288]  # Fig. 24b: 0.125 .. 512 KB of 8-bit words
PROBLEMS = {"gemm": lambda: bs.gemm(4096, 4096, 4096),
            "conv2_x": lambda: bs.conv(R=3, S=3, P=56, Q=56, C=64, K=64)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problems", nargs="+", default=list(PROBLEMS), choices=list(PROBLEMS))
    ap.add_argument("--mapspaces", nargs="+", default=["per_tensor"],
                    choices=["uniform", "per_tensor"])
    ap.add_argument("--time-limit", type=float, default=30.0,
                    help="seconds per size for per-tensor placement")
    ap.add_argument("--out", type=Path,
                    default=Path(__file__).parent / "results" / "simba_levels.csv")
    args = ap.parse_args()
    arch = bs.load_arch("simba")
    rows = []
    for name, space in [(n, s) for n in args.problems for s in args.mapspaces]:
        limit = args.time_limit if space == "per_tensor" else None
        began = time.perf_counter()
        curve = bs.solve_curve(PROBLEMS[name](), SIZES, arch=arch, method="milp",
                               mapspace=f"{space}/perfect", time_limit=limit)
        seconds = time.perf_counter() - began
        proven = int((curve["status"] == "optimal").sum())
        values = curve["accesses"] if "accesses" in curve else [None] * len(curve)
        dram = ["-" if pd.isna(v) else f"{int(v):,}{'' if s == 'optimal' else '?'}"
                for v, s in zip(values, curve["status"])]
        rows.append({"package": str(Path(bs.__file__).parent.parent), "problem": name,
                     "mapspace": space, "time_limit": limit,
                     "seconds": seconds, "proven": f"{proven}/{len(SIZES)}",
                     "dram (? = not proven)": " ".join(dram)})
        print(f"  {name}, {space}: {seconds:.1f} s, {proven}/{len(SIZES)} proven", flush=True)
    report(rows, args.out)


if __name__ == "__main__":
    main()
