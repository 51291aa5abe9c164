"""Benchmark: fused loop trees on hierarchies (docs/fusion.md, "On hierarchies"), 16 L2 capacities.

    python benchmarks/fusion_levels.py [--budget 600] [--cases small a100_small a100]
                                       [--modes eager lazy old warm] [--old-tree DIR]

Each case runs in a fresh process with a wall-clock budget: the attention chain
(``QK[m,p,h] += Q[m,h,e]*K[p,h,e]``, ``AV[m,h,f] += QK[m,p,h]*V[p,h,f]``) at small sizes on the
packaged ``three_level`` arch and on ``a100``, and the packaged attention at 4096 tokens on
``a100`` (the issue's target: under 3 minutes). Prints seconds, the leaf curves traced (and
their share of the time), the DRAM and inner traffic at the smallest and largest feasible
capacity, and the two-level fused curve's time for the same workload; writes benchmarks/results/fusion_levels.csv and every
capacity's row to benchmarks/results/fusion_levels_rows.csv. One run each, one machine.

Modes: ``eager`` (every leaf traced whole), ``lazy`` (the default search, leaves canonicalised),
``old`` (the lazy search of another checkout, ``--old-tree DIR`` holding its ``boundsolver``
package: the baseline in the same run) and ``warm`` (lazy with the leaf samples read from a
results cache that a first, cold run in the same child filled; the cold run's time is reported
as ``cold_s``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from itertools import product
from pathlib import Path

from common import report

ATTENTION = ["QK[m,p,h] += Q[m,h,e] * K[p,h,e]", "AV[m,h,f] += QK[m,p,h] * V[p,h,f]"]
CASES = {
    "small": [("three_level", {"L1": 16}, {"m": 4, "p": 4, "h": 2, "e": 2, "f": 2}),
              ("three_level", {"L1": 16}, {"m": 8, "p": 8, "h": 1, "e": 2, "f": 2}),
              ("three_level", {"L1": 64}, {"m": 8, "p": 8, "h": 2, "e": 4, "f": 4})],
    "a100_small": [("a100", {}, {"m": 4, "p": 4, "h": 1, "e": 4, "f": 4})],
    "a100": [("a100", {}, {"tokens": 4096})],
    "h100": [("h100", {}, {"tokens": 4096})],
}

CHILD = """
import json, sys, time
import numpy as np
import boundsolver as bs
from boundsolver.curves import fused, fused_levels
arch_name, arch_sizes, sizes, texts, mode = json.loads(sys.argv[1])
lazy = mode != "eager"
w = (bs.load_problem("attention", **sizes) if "tokens" in sizes
     else bs.workload(texts, name="attention", **sizes))
arch = bs.load_arch(arch_name, **arch_sizes)
t = time.perf_counter()
two = fused.solve_workload(w, True, "uniform/perfect")
lo, hi = int(two.frontier.occ[0]), int(two.frontier.occ[-1])
caps = sorted(set(np.geomspace(lo, hi, 16).astype(int).tolist()))
print("two", time.perf_counter() - t, len(caps), file=sys.stderr, flush=True)
class Counted(fused_levels.LeafCurves):  # progress, to say how far an unfinished run got
    def points(self, *args):
        out = super().points(*args)
        print("traced", len(self.traced), self.seconds, file=sys.stderr, flush=True)
        return out
fused_levels.LeafCurves = Counted
extra, cold = {}, None
if mode == "warm":
    import tempfile
    extra = {"cache": bs.Cache(tempfile.mkdtemp() + "/leaves.sqlite")}
    t = time.perf_counter()
    fused_levels.workload_curve(w, arch, caps, mapspace="uniform/perfect", **extra)
    cold = time.perf_counter() - t
t = time.perf_counter()
df = fused_levels.workload_curve(w, arch, caps, mapspace="uniform/perfect", lazy=lazy, **extra)
print(json.dumps({"seconds": time.perf_counter() - t, "finished": True, "cold": cold,
                  "traced": df.attrs["traced"], "trace_seconds": df.attrs["trace_seconds"],
                  "leaf_solves": df.attrs["leaf_solves"], "rounds": df.attrs["rounds"],
                  "rows": df.drop(columns=["tree", "schedule"]).astype(str).to_dict("records")}))
"""


def run(case: tuple, budget: int, mode: str, old_tree: Path | None) -> dict:
    """The case's result, or how far it got when it ran out of ``budget`` seconds (killed: a
    MILP inside HiGHS does not stop for a signal)."""
    arch, arch_sizes, sizes = case
    env = dict(os.environ)
    if mode == "old":
        env["PYTHONPATH"] = str(old_tree)
        mode = "lazy"
    began = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-c", CHILD,
                               json.dumps([arch, arch_sizes, sizes, ATTENTION, mode])],
                              capture_output=True, text=True, check=True, timeout=budget,
                              env=env)
        got, err = json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr
    except subprocess.TimeoutExpired as stop:
        err = stop.stderr.decode() if isinstance(stop.stderr, bytes) else (stop.stderr or "")
        got = {"finished": False, "seconds": time.perf_counter() - began, "traced": 0,
               "trace_seconds": 0.0}
    lines = [line.split() for line in err.splitlines()]
    two = next((line for line in lines if line[:1] == ["two"]), None)
    got |= {"two_level_seconds": float(two[1]) if two else None,
            "capacities": int(two[2]) if two else None}
    if not got["finished"]:
        last = next((line for line in reversed(lines) if line[:1] == ["traced"]), None)
        if last:
            got |= {"traced": int(last[1]), "trace_seconds": float(last[2])}
        if two:
            got["seconds"] -= float(two[1])
    return got


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=int, default=600,
                    help="seconds per case, the two-level curve's included")
    ap.add_argument("--cases", nargs="+", default=["small", "a100_small", "a100"],
                    choices=sorted(CASES))
    ap.add_argument("--modes", nargs="+", default=["eager", "lazy"],
                    choices=["eager", "lazy", "old", "warm"],
                    help="leaf curves traced whole (eager), lazy leaves, the lazy search of "
                         "--old-tree, or lazy with leaf samples from a cache a cold run filled")
    ap.add_argument("--old-tree", type=Path,
                    help="a folder holding another checkout's boundsolver package (mode old)")
    ap.add_argument("--out", type=Path,
                    default=Path(__file__).parent / "results" / "fusion_levels.csv")
    args = ap.parse_args()
    if "old" in args.modes and (args.old_tree is None
                                or not (args.old_tree / "boundsolver").is_dir()):
        ap.error("mode old needs --old-tree DIR, a folder holding a boundsolver package")
    table, rows, first = [], [], {}
    for group in args.cases:
        for (arch, arch_sizes, sizes), mode in product(CASES[group], args.modes):
            got = run((arch, arch_sizes, sizes), args.budget, mode, args.old_tree)
            label = ",".join(f"{k}={v}" for k, v in (sizes | arch_sizes).items())
            two = got["two_level_seconds"]
            entry = {"arch": arch, "sizes": label, "leaves": mode,
                     "capacities": got["capacities"],
                     "two_level_s": round(two, 1) if two is not None else "unfinished",
                     "seconds": round(got["seconds"], 1) if got["finished"] else
                     f">{args.budget} (unfinished)", "traced": got["traced"],
                     "trace_s": round(got["trace_seconds"], 1),
                     "leaf_solves": got.get("leaf_solves", ""), "rounds": got.get("rounds", ""),
                     "cold_s": round(got["cold"], 1) if got.get("cold") else "",
                     "load": os.getloadavg()[0]}
            if got["finished"]:
                feasible = [r for r in got["rows"] if r["status"] == "optimal"]
                inner = [c for c in feasible[0] if c.startswith("accesses_")][1:]
                entry |= {"dram_small": feasible[0]["accesses"],
                          "inner_small": "/".join(feasible[0][c] for c in inner),
                          "dram_large": feasible[-1]["accesses"],
                          "inner_large": "/".join(feasible[-1][c] for c in inner)}
                rows += [{"arch": arch, "sizes": label, "leaves": mode} | r for r in got["rows"]]
                # the objective (every level's traffic) and the outer occupancy; the inner
                # levels' occupancies are not objectives (ties between optimal leaf nests)
                keys = [{c: v for c, v in r.items() if c in ("capacity", "occupancy")
                         or c.startswith("accesses")} for r in got["rows"]]
                inner = [{c: v for c, v in r.items() if c.startswith("occupancy_")}
                         for r in got["rows"]]
                first.setdefault(label, (mode, keys, inner))
                was, keys0, inner0 = first[label]
                entry["same_rows_as"] = f"{was}: {keys0 == keys}" if was != mode else ""
                entry["inner_occupancy_differs"] = sum(a != b for a, b in zip(inner0, inner))
            table.append(entry)
            print(entry, flush=True)
    report(table, args.out)
    if rows:
        report(rows, args.out.with_name(args.out.stem + "_rows.csv"))


if __name__ == "__main__":
    main()
