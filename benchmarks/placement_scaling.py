"""Benchmark: time of the joint bound against levels, problem size and mapspace (GEMM).

    python benchmarks/placement_scaling.py [--cases 0 1 2] [--out benchmarks/results/placement_scaling.csv]

For each case, ``solve_curve`` at a few L2 capacities (largest first, as the staircase is
walked) with ``method="milp"``, uniform placement within each level (levels.py) and per-tensor
placement (placement.py). Columns: the DRAM and innermost traffic at the smallest capacity under
each mapspace, and the seconds. One run, one machine (2 shared cores here).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from common import report

import boundsolver as bs
from boundsolver.model.arch import Arch, Level


def chain(l1: list[int]) -> Arch:
    inner = [Level(f"L1{'i' * i}", c) for i, c in enumerate(l1)]
    return Arch(f"{len(l1) + 2}_levels", 8, (Level("DRAM"), Level("L2", sweep=True), *inner))


CASES = [  # (arch, its name, GEMM size, L2 capacities)
    (chain([64]), "three_level L1=64", 16, [352, 273, 145]),
    (chain([64]), "three_level L1=64", 256, [65536, 4096]),
    (chain([4096]), "three_level L1=4096", 4096, [2**22, 2**17]),
    (chain([4096, 1024]), "4 levels L1=4096,1024", 4096, [2**22]),
    ("a100", "a100", 4096, [2**22]),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, nargs="+", default=list(range(len(CASES))),
                    help="indices into CASES (the four-level and a100 cases take very long)")
    ap.add_argument("--out", type=Path,
                    default=Path(__file__).parent / "results" / "placement_scaling.csv")
    args = ap.parse_args()
    rows = []
    for arch, name, n, caps in [CASES[i] for i in args.cases]:
        for space in ("uniform", "per_tensor"):
            began = time.perf_counter()
            curve = bs.solve_curve(bs.gemm(n, n, n), caps, arch=arch, method="milp",
                                   mapspace=f"{space}/perfect")
            seconds = time.perf_counter() - began
            inner = [c for c in curve.columns if c.startswith("accesses_")][-1]
            rows.append({"arch": name, "gemm": n, "mapspace": space, "capacities": len(caps),
                         "seconds": seconds, "dram_at_smallest": int(curve["accesses"].iloc[-1]),
                         "innermost_at_smallest": int(curve[inner].iloc[-1])})
            print(f"  {name}, {n}^3, {space}: {seconds:.1f} s", flush=True)
    report(rows, args.out)


if __name__ == "__main__":
    main()
