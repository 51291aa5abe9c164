"""Benchmark: the lazy leaves' joint solves on a GPU hierarchy, old against new in one run.

    python benchmarks/fused_leaves.py --old-tree DIR [--archs a100 h100] [--tokens 4096]
                                      [--capacities 16] [--budget 1500]
                                      [--mapspace uniform/perfect] [--only new]

The packaged attention at ``--tokens`` on each arch, fused (``fused_levels.workload_curve``,
``--mapspace``: uniform/perfect, or per_tensor/perfect, the default of ``solve_curve``; lazy
leaves, no leaf cache), at ``--capacities`` L2 capacities log-spaced over
the two-level fused frontier's range (computed once, in this process). Two fresh processes run
side by side, the search of ``--old-tree`` (a folder holding another checkout's ``boundsolver``
package) and this checkout's, so both see the same machine load; each reports its wall and CPU
seconds, its leaf solves and the seconds in them. Every capacity's row (occupancy and traffic of
every level) is compared breakpoint by breakpoint: the table says whether the keys (capacity,
outer occupancy, every level's traffic) are the same and in how many rows anything differs (the
inner levels' occupancies are not objectives: ties). Writes benchmarks/results/fused_leaves.csv
and every row of both to benchmarks/results/fused_leaves_rows.csv.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from common import report

import boundsolver as bs
from boundsolver.curves import fused

CHILD = """
import json, os, sys, time
import boundsolver as bs
from boundsolver.curves import fused_levels
print("boundsolver from", bs.__file__, file=sys.stderr)
arch_name, tokens, caps, mapspace = json.loads(sys.argv[1])
w = bs.load_problem("attention", tokens=tokens)
t, c = time.perf_counter(), time.process_time()
df = fused_levels.workload_curve(w, bs.load_arch(arch_name), caps, mapspace=mapspace)
keep = [k for k in df.columns if k == "capacity" or k.startswith(("occupancy", "accesses"))]
print(json.dumps({"wall": time.perf_counter() - t, "cpu": time.process_time() - c,
                  "solves": int(df.attrs["leaf_solves"]), "rounds": int(df.attrs["rounds"]),
                  "optimal": int((df["status"] == "optimal").sum()),
                  "trace": df.attrs["trace_seconds"], "load": os.getloadavg()[0],
                  "rows": df[keep].astype(str).to_dict("records"), "package": bs.__file__}))
"""


def start(tree: Path, arch: str, tokens: int, caps: list[int], mapspace: str
          ) -> subprocess.Popen:
    """A child running the search of the package in ``tree``. It runs in ``tree`` with only
    ``tree`` on PYTHONPATH: ``python -c`` puts its working folder first on ``sys.path``, so a
    child started from another checkout imported that checkout's package, whatever PYTHONPATH
    said (the old column then timed the new code)."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    args = json.dumps([arch, tokens, caps, mapspace])
    return subprocess.Popen([sys.executable, "-c", CHILD, args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=tree)


def check_package(got: dict, tree: Path) -> None:
    """Refuse a child's answer unless it imported ``tree``'s own package (not the installed
    one, nor the checkout the script was started from)."""
    where = Path(got["package"]).resolve()
    if not where.is_relative_to((tree / "boundsolver").resolve()):
        raise SystemExit(f"a child meant to run {tree} imported boundsolver from {where}")


def finish(proc: subprocess.Popen, budget: float) -> dict | None:
    try:
        out, err = proc.communicate(timeout=budget)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return None
    if proc.returncode:
        print(err[-3000:], file=sys.stderr)
        return None
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old-tree", type=Path, required=True)
    ap.add_argument("--archs", nargs="+", default=["a100"])
    ap.add_argument("--tokens", type=int, nargs="+", default=[4096])
    ap.add_argument("--capacities", type=int, default=16)
    ap.add_argument("--budget", type=float, default=1500, help="seconds per pair of runs")
    ap.add_argument("--mapspace", default="uniform/perfect",
                    choices=["uniform/perfect", "per_tensor/perfect"])
    ap.add_argument("--only", choices=["old", "new"], default=None,
                    help="run one side only (the other is reported as not run)")
    ap.add_argument("--out", type=Path,
                    default=Path(__file__).parent / "results" / "fused_leaves.csv")
    args = ap.parse_args()
    args.old_tree = args.old_tree.resolve()
    if not (args.old_tree / "boundsolver").is_dir():
        ap.error("--old-tree must be a folder holding a boundsolver package")
    new_tree = Path(__file__).resolve().parent.parent
    table, rows = [], []
    for n in args.tokens:
        two = fused.solve_workload(bs.load_problem("attention", tokens=n), True, "uniform/perfect")
        lo, hi = int(two.frontier.occ[0]), int(two.frontier.occ[-1])
        caps = sorted(set(np.geomspace(lo, hi, args.capacities).astype(int).tolist()))
        for arch in args.archs:
            began = time.perf_counter()
            trees = {"old": args.old_tree, "new": new_tree}
            procs = {k: start(t, arch, n, caps, args.mapspace) for k, t in trees.items()
                     if args.only in (None, k)}
            got = {k: finish(p, args.budget - (time.perf_counter() - began))
                   for k, p in procs.items()}
            for k, tree in trees.items():
                if got.get(k):
                    check_package(got[k], tree)
                    print(f"{k}: boundsolver from {got[k]['package']}", flush=True)
            same = inner = None
            if got.get("old") and got.get("new"):
                # the objective (every level's traffic) and the outer occupancy must agree; the
                # inner levels' occupancies are not objectives (ties between optimal leaf nests)
                a, b = ([{c: v for c, v in r.items() if not c.startswith("occupancy_")}
                         for r in got[k]["rows"]] for k in ("old", "new"))
                same = a == b
                inner = sum(x != y for x, y in zip(got["old"]["rows"], got["new"]["rows"]))
            rows += [{"tokens": n, "arch": arch, "mapspace": args.mapspace, "version": k} | r
                     for k, g in got.items() if g for r in g["rows"]]
            for k, g in got.items():
                row = {"tokens": n, "arch": arch, "mapspace": args.mapspace,
                       "capacities": len(caps), "version": k}
                if g is None:
                    row["wall_s"] = f">{args.budget} (unfinished)"
                else:
                    row |= {"wall_s": round(g["wall"], 1), "cpu_s": round(g["cpu"], 1),
                            "leaf_solves": g["solves"], "leaf_s": round(g["trace"], 1),
                            "rounds": g["rounds"], "optimal_rows": g["optimal"],
                            "load": round(g["load"], 2),
                            "same_keys": same, "rows_differing": inner}
                table.append(row)
                print(row, flush=True)
    report(table, args.out)
    if rows:
        report(rows, args.out.with_name(args.out.stem + "_rows.csv"))


if __name__ == "__main__":
    main()
