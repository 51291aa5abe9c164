"""Benchmark: the inner-placement search's pruning (docs/fusion.md, "Tree tiles in inner levels").

    python benchmarks/fusion_placed.py [--cases small heads a100_small a100_4096]
                                       [--old PATH] [--budget 900] [--capacities 2]

Per case, each in a fresh process one after the other in the same run: the default fused
search on the hierarchy (``inner_storage=False``), the search with inner placements
(``inner_storage=True``, ``fused_levels.PlacedSearch``) as it is now, and, with ``--old``, the
same with the package found at PATH first on ``sys.path`` (a checkout of the commit before the
pruning, e.g. ``git worktree add /tmp/old e8ae1f1``: "placed before"). Lazy leaves, uniform
placement, ``max_depth=2`` for the small cases (their whole frontier); ``a100_4096`` is the
packaged attention at 4096 tokens on ``a100`` at ``--capacities`` L2 capacities spread
geometrically over the two-level fused curve. Prints seconds, breakpoints, loop nodes and the
machine load; checks that the placed searches agree with each other key for key and with the
default search in DRAM (never above it in any column). Seconds are wall-clock and CPU
(``time.process_time`` of the search, in its process). Writes
benchmarks/results/fusion_placed.csv (``--csv``: elsewhere).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from common import report

HEADS = ["QK[m,p,h] += Q[m,h,e] * K[p,h,e]", "AV[m,h,f] += QK[m,p,h] * V[p,h,f]"]
ATTENTION = ["S[m,p] += Q[m,e] * K[p,e]", "Z[m,f] += S[m,p] * V[p,f]"]
CASES = {  # (texts, or None for the packaged attention; sizes; arch; arch sizes)
    "small": (ATTENTION, dict(m=4, p=4, e=2, f=2), "three_level", {"L1": 16}),
    "heads": (HEADS, dict(m=4, p=4, h=2, e=2, f=2), "three_level", {"L1": 16}),
    "a100_small": (HEADS, dict(m=4, p=4, h=1, e=4, f=4), "a100", {}),
    "a100_4096": (None, dict(tokens=4096), "a100", {}),
}

CHILD = """
import json, sys, time
import numpy as np
texts, sizes, arch_name, arch_sizes, inner, n, path = json.loads(sys.argv[1])
if path:
    sys.path.insert(0, path)
import boundsolver as bs
from boundsolver.curves import fused, fused_levels
w = bs.load_problem("attention", **sizes) if texts is None else bs.workload(texts, **sizes)
arch = bs.load_arch(arch_name, **arch_sizes)
caps = None
if n:
    two = fused.solve_workload(w, True, "uniform/perfect")
    lo, hi = int(two.frontier.occ[0]), int(two.frontier.occ[-1])
    caps = sorted(set(np.geomspace(lo, hi, n + 2).astype(int).tolist()[1:-1]))
t, cpu = time.perf_counter(), time.process_time()
sol = fused_levels.solve_workload(w, arch, True, "uniform/perfect",
                                  max_depth=3 if n else 2, capacities=caps,
                                  inner_storage=inner)
seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
if caps is None:
    caps = sol.frontier.occ.tolist()
keys = [[int(v) for v in sol.frontier.key[sol.frontier.at(c)]] for c in caps]
print(json.dumps({"seconds": seconds, "cpu": cpu, "caps": [int(c) for c in caps], "keys": keys,
                  "points": [[int(o), [int(v) for v in k]] for o, k in
                             zip(sol.frontier.occ, sol.frontier.key)],
                  "nodes": sol.search.nodes, "solves": sol.search.curves.solves}))
"""


def _run(case: str, inner: bool, path: str | None, n: int, budget: int) -> dict:
    texts, sizes, arch, arch_sizes = CASES[case]
    env = dict(os.environ)
    if path:  # the old package first, never the working tree's
        env["PYTHONPATH"] = path
    began = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps(
            [texts, sizes, arch, arch_sizes, inner, n if texts is None else 0, path])],
            capture_output=True, text=True, check=True, timeout=budget, env=env)
        out = json.loads(proc.stdout.strip().splitlines()[-1])
    except subprocess.TimeoutExpired:
        out = {"seconds": None, "cpu": None, "caps": [], "keys": [], "points": [], "nodes": None}
    out["load"] = round(os.getloadavg()[0], 1)
    print(f"{case}: inner_storage={inner}{' (old)' if path else ''}: {out['seconds']} s, "
          f"CPU {out['cpu']} s "
          f"(wall {time.perf_counter() - began:.0f} s), load {out['load']}", flush=True)
    return out


def _at(points: list, c: int):
    best = [k for o, k in points if o <= c]
    return tuple(best[-1]) if best else None


def run(case: str, old: str | None, n: int, budget: int) -> dict:
    default = _run(case, False, None, n, budget)
    new = _run(case, True, None, n, budget)
    before = _run(case, True, old, n, budget) if old else None
    for c, k in zip(new["caps"], new["keys"]):  # DRAM as the default's, never above it
        d = _at(default["points"], c) if default["points"] else None
        if d is not None and (k[0] != d[0] or tuple(k) > d):
            raise AssertionError(f"{case} at {c}: placed {k} against default {d}")
    if before and before["seconds"] is not None and before["points"] != new["points"]:
        raise AssertionError(f"{case}: the pruned search differs from the old one")
    return dict(case=case, breakpoints=len(new["points"]),
                default_breakpoints=len(default["points"]),
                s_default=default["seconds"],
                s_placed_before=before["seconds"] if before else None,
                s_placed_after=new["seconds"],
                cpu_default=default["cpu"],
                cpu_placed_before=before["cpu"] if before else None,
                cpu_placed_after=new["cpu"],
                cpu_ratio_after_to_default=(new["cpu"] / default["cpu"]
                                            if new["cpu"] and default["cpu"] else None),
                nodes_before=before["nodes"] if before else None, nodes_after=new["nodes"],
                ratio_after_to_default=(new["seconds"] / default["seconds"]
                                        if new["seconds"] and default["seconds"] else None),
                load=f"{default['load']}/{before['load'] if before else '-'}/{new['load']}",
                keys=" ".join(f"{c}:{tuple(k)}" for c, k in zip(new["caps"], new["keys"])))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", nargs="*", default=["small", "heads", "a100_small"])
    ap.add_argument("--old", default=None, help="a checkout of the package before the pruning")
    ap.add_argument("--budget", type=int, default=900, help="seconds per search run")
    ap.add_argument("--capacities", type=int, default=2, help="L2 capacities of a100_4096")
    ap.add_argument("--csv", default=str(Path(__file__).parent / "results" / "fusion_placed.csv"))
    args = ap.parse_args()
    rows = [run(c, args.old, args.capacities, args.budget) for c in args.cases]
    report(rows, Path(args.csv))


if __name__ == "__main__":
    main()
