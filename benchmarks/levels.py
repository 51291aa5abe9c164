"""Benchmark: the joint multi-level bound against the number of levels (GEMM, 16 capacities).

    python benchmarks/levels.py [--size 4096] [--mapspaces uniform per_tensor] [--capacities 16]
                                [--out benchmarks/results/levels.csv]

DRAM -> L2 (swept) -> L1 -> L1i ...: every inner level a quarter of the one above it (from
L1 = 4096 words), every tensor kept everywhere. Two levels is the one-buffer machine (the
package's single-Einsum MILP); three and more go through levels.py's MILP. 16 log-spaced L2
capacities from 1,024 words to twice the algorithmic minimum's buffer (``--capacities``: the first
N of them, largest first). ``--mapspaces``: uniform placement within each level (levels.py,
Timeloop's) and/or per-tensor placement (placement.py, AccelForge's). One run, one machine.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from common import report

import boundsolver as bs
from boundsolver.model.arch import Arch, Level


def arch(levels: int) -> Arch:
    inner = [Level(f"L1{'i' * (i - 1)}", 4096 // 4 ** (i - 1)) for i in range(1, levels - 1)]
    return Arch(f"{levels}_levels", 8, (Level("DRAM"), Level("L2", sweep=True), *inner))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--levels", type=int, nargs="+", default=[2, 3, 4])
    ap.add_argument("--mapspaces", nargs="+", default=["uniform"],
                    choices=["uniform", "per_tensor"])
    ap.add_argument("--capacities", type=int, default=16)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "levels.csv")
    args = ap.parse_args()
    n = args.size
    p = bs.gemm(n, n, n)
    caps = np.unique(np.geomspace(1024, 2 * (n * n + 2 * n), 16).astype(int)).tolist()
    caps = sorted(caps, reverse=True)[:args.capacities]
    rows = []
    for levels, space in [(lv, s) for lv in args.levels for s in args.mapspaces]:
        a = arch(levels)
        began = time.perf_counter()
        curve = bs.solve_curve(p, caps, arch=a, method="milp", mapspace=f"{space}/perfect")
        seconds = time.perf_counter() - began
        inner = [c for c in curve.columns if c.startswith("accesses_")]
        rows.append({"levels": levels, "mapspace": space,
                     "on_chip": ", ".join(f"{lv.name}={lv.capacity or 'sweep'}"
                                          for lv in a.on_chip),
                     "capacities": len(caps), "seconds": seconds,
                     "feasible": int((curve["status"] == "optimal").sum()),
                     "dram_at_largest": int(curve["accesses"].iloc[-1]),
                     "innermost_at_largest": int(curve[inner[-1]].iloc[-1]) if inner else None})
        print(f"  {levels} levels, {space}: {seconds:.1f} s", flush=True)
    report(rows, args.out)


if __name__ == "__main__":
    main()
