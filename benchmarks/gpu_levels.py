"""Benchmark: GEMM 4096^3 on the GPU hierarchies (packaged archs a100, h100), 32 L2 capacities.

    python benchmarks/gpu_levels.py [--archs a100 h100] [--count 32] [--out benchmarks/results/gpu_levels.csv]

DRAM -> L2 (swept) -> shared memory per SM (fixed, 108 or 132 SMs, no multicast from L2) ->
registers, fp32 words; the exact joint bound by the multi-level MILP at ``count`` log-spaced L2
capacities from 64 Ki words (256 KiB) to twice the algorithmic minimum's buffer. Prints the time
and writes every capacity's row (DRAM and L2 -> SMEM traffic, as multiples of the algorithmic
minimum too). One run, one machine.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from common import report

import boundsolver as bs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archs", nargs="+", default=["a100", "h100"])
    ap.add_argument("--count", type=int, default=32)
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--out", type=Path,
                    default=Path(__file__).parent / "results" / "gpu_levels.csv")
    args = ap.parse_args()
    n = args.size
    p = bs.gemm(n, n, n)
    minimum = sum(p.tensor_size(T) for T in p.tensors)
    caps = np.unique(np.geomspace(65536, 2 * (n * n + 2 * n), args.count).astype(int)).tolist()
    rows, times = [], []
    for name in args.archs:
        arch = bs.load_arch(name)
        began = time.perf_counter()
        curve = bs.solve_curve(p, caps, arch=arch, method="milp")
        seconds = time.perf_counter() - began
        times.append({"arch": name, "capacities": len(caps), "seconds": round(seconds, 1)})
        for _, r in curve.iterrows():
            rows.append({"arch": name, "L2_words": int(r["capacity"]),
                         "dram": int(r["accesses"]), "l2_to_smem": int(r["accesses_SMEM"]),
                         "dram_ratio": round(int(r["accesses"]) / minimum, 3),
                         "smem_ratio": round(int(r["accesses_SMEM"]) / minimum, 3),
                         "occupancy_SMEM": int(r["occupancy_SMEM"])})
        print(f"  {name}: {len(caps)} capacities in {seconds:.1f} s", flush=True)
    report(times, args.out.with_name(args.out.stem + "_times.csv"))
    report(rows, args.out)


if __name__ == "__main__":
    main()
