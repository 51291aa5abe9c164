"""Benchmark: GEMM 4096^3 on the GPU hierarchies (packaged archs a100, h100), 32 L2 capacities.

    python benchmarks/gpu_levels.py [--archs a100 h100] [--count 32] [--mapspaces uniform per_tensor]
                                    [--time-limit 20] [--out benchmarks/results/gpu_levels.csv]

DRAM -> L2 (swept) -> shared memory per SM (fixed, 108 or 132 SMs, no multicast from L2) ->
registers, fp32 words; the exact joint bound by the multi-level MILP at ``count`` log-spaced L2
capacities from 64 Ki words (256 KiB) to twice the algorithmic minimum's buffer. Prints the time
and writes every capacity's row (DRAM and L2 -> SMEM traffic, as multiples of the algorithmic
minimum too). ``--mapspaces``: uniform placement within each level (levels.py, run to the end)
and/or per-tensor placement (placement.py) with ``--time-limit`` seconds per capacity (a capacity it
cuts is a ``time_limit`` row: its proven columns, ``bound_of``, ``best_bound``);
``per_tensor_milp`` is per-tensor placement with the fanout stage's decomposition switched off
(``PlacementSolver.decompose = False``: the MILP alone, as before it), to compare in one run.
One run, one machine.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from common import report

import boundsolver as bs
from boundsolver.curves import joint


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archs", nargs="+", default=["a100", "h100"])
    ap.add_argument("--count", type=int, default=32)
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--mapspaces", nargs="+", default=["uniform"], choices=["uniform", "per_tensor", "per_tensor_milp"])
    ap.add_argument("--time-limit", type=float, default=20.0,
                    help="seconds per capacity for per-tensor placement")
    ap.add_argument("--out", type=Path,
                    default=Path(__file__).parent / "results" / "gpu_levels.csv")
    args = ap.parse_args()
    n = args.size
    p = bs.gemm(n, n, n)
    minimum = sum(p.tensor_size(T) for T in p.tensors)
    caps = np.unique(np.geomspace(65536, 2 * (n * n + 2 * n), args.count).astype(int)).tolist()
    rows, times = [], []
    for name, space in [(a, s) for a in args.archs for s in args.mapspaces]:
        arch = bs.load_arch(name)
        limit = args.time_limit if space.startswith("per_tensor") else None
        joint.PlacementSolver.decompose = space != "per_tensor_milp"
        began = time.perf_counter()
        curve = bs.solve_curve(p, caps, arch=arch, method="milp",
                               mapspace=f"{space.removesuffix('_milp')}/perfect", time_limit=limit)
        seconds = time.perf_counter() - began
        joint.PlacementSolver.decompose = True
        cut = curve[curve["status"] == "time_limit"]
        times.append({"arch": name, "mapspace": space, "time_limit": limit,
                      "capacities": len(caps), "proven": len(caps) - len(cut),
                      "seconds": round(seconds, 1)})
        for _, r in curve.iterrows():
            limited = r["status"] == "time_limit"
            rows.append({"arch": name, "mapspace": space, "status": r["status"],
                         "bound_of": r["bound_of"] if limited else None,
                         "best_bound": int(r["best_bound"]) if limited else None,
                         "L2_words": int(r["capacity"]),
                         "dram": int(r["accesses"]), "l2_to_smem": int(r["accesses_SMEM"]),
                         "dram_ratio": round(int(r["accesses"]) / minimum, 3),
                         "smem_ratio": round(int(r["accesses_SMEM"]) / minimum, 3),
                         "occupancy_SMEM": int(r["occupancy_SMEM"])})
        print(f"  {name}, {space}: {len(caps)} capacities ({len(cut)} cut by the time limit) in "
              f"{seconds:.1f} s", flush=True)
    report(times, args.out.with_name(args.out.stem + "_times.csv"))
    report(rows, args.out)


if __name__ == "__main__":
    main()
