"""The hierarchy figures' six solves of ``boundsolver reproduce`` (GEMM 4096³ on ``simba``,
``a100`` and ``h100``; uniform and per-tensor placement at the figures' capacities), solved
apart (``solve_curve`` once per mapspace, as before ``joint.solve_pair``) and together
(``solve_pair``: per-tensor keys floor the uniform stages, or uniform points seed the per-tensor
MILP), one after the other in this process, with wall and CPU seconds and a check that both give
the same key at every capacity.

    python benchmarks/reproduce_pair.py [--archs simba a100 h100] [--out results/x.csv]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from common import report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archs", nargs="+", default=["simba", "a100", "h100"])
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/reproduce_pair.csv"))
    args = ap.parse_args()
    from boundsolver.curves.joint import solve_pair
    from boundsolver.curves.solve import solve_curve
    from boundsolver.io.specs import load_arch, load_problems
    from boundsolver.report import reproduce

    problem = load_problems("fig24a_gemm4096")[0]
    caps = dict(reproduce._LevelSolves(problem, False).tasks)
    limit = reproduce.PER_TENSOR_SECONDS
    rows = []
    for name in args.archs:
        arch = load_arch(name)
        load = os.getloadavg()[0]
        began, used = time.perf_counter(), time.process_time()
        apart = (solve_curve(problem, caps[name], arch=arch, mapspace="uniform/perfect"),
                 solve_curve(problem, caps[name], arch=arch, mapspace="per_tensor/perfect",
                             time_limit=limit))
        wall, cpu = time.perf_counter() - began, time.process_time() - used
        began, used = time.perf_counter(), time.process_time()
        together = solve_pair(problem, arch, caps[name], limit)
        wall2, cpu2 = time.perf_counter() - began, time.process_time() - used
        cols = ["status", "accesses"] + [f"accesses_{lv.name}" for lv in arch.on_chip]
        same = all(a[cols].astype(str).values.tolist() == b[cols].astype(str).values.tolist()
                   for a, b in zip(apart, together))
        proven = [int((d["status"] == "optimal").sum()) for d in together]
        rows.append({"arch": name, "capacities": len(caps[name]), "apart_wall_s": round(wall, 1),
                     "apart_cpu_s": round(cpu, 1), "pair_wall_s": round(wall2, 1),
                     "pair_cpu_s": round(cpu2, 1), "same_keys": same,
                     "pair_proven_uniform_per_tensor": f"{proven[0]}+{proven[1]}",
                     "load_1min_start": load, "load_1min_end": os.getloadavg()[0]})
    report(rows, args.out)


if __name__ == "__main__":
    main()
