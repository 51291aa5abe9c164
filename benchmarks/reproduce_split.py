"""Where ``boundsolver reproduce`` spends its time, from an empty cache: one-buffer solves (the
nine figures' curves), the hierarchy figures' uniform and per-tensor solves, sampling Simba
mappings, the Fig. 24b checks and table, and drawing (figures and their files).

    python benchmarks/reproduce_split.py [--quick] [--label new] [--out results/x.csv]
        [--figures DIR] [--level-workers N]

Run it once per version of the package (``PYTHONPATH=<checkout>``) on the same machine, at the
same load, and compare. Each part is timed by wrapping its function in reproduce.py (or
sampling.sample); the hierarchy solves' seconds are the figures' own columns
(``bound_s_all_sizes`` ...), which since the solves run in a pool beside the drawing and
sampling overlap the other parts: the parts then add up to more than the wall time, and on a
loaded machine a part's wall seconds include waiting for the pool's processes (its CPU seconds
in this process, beside, do not). ``cpu total`` is the CPU seconds of this process and every
process it started and waited for (the pools' workers), from ``getrusage``. ``--figures DIR``
keeps the figures and their data (to compare two versions' CSVs); ``--level-workers N`` sets the
hierarchy pool's processes (``reproduce._LevelSolves.workers``).
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import pandas as pd
from common import report

PARTS = {"one-buffer solves": ["solve_curves"],
         "plots": ["_fig01", "_accesses_and_oi", "_fig11", "_fig24a", "_plot_fig24b",
                   "_plot_gpu"],
         "checks and table": ["_check_above", "_fig24b_table"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--label", default="")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/reproduce_split.csv"))
    ap.add_argument("--figures", type=Path, default=None)
    ap.add_argument("--level-workers", type=int, default=None)
    args = ap.parse_args()
    import boundsolver
    from boundsolver.curves.cache import Cache
    from boundsolver.reference import sampling
    from boundsolver.report import reproduce

    spent: dict[str, float] = dict.fromkeys(PARTS, 0.0) | {"sampling": 0.0}
    cpu: dict[str, float] = dict(spent)

    def timed(part, fn):
        def wrapper(*a, **k):
            began, used = time.perf_counter(), time.process_time()
            try:
                return fn(*a, **k)
            finally:
                spent[part] += time.perf_counter() - began
                cpu[part] += time.process_time() - used
        return wrapper

    for part, names in PARTS.items():
        for name in names:
            setattr(reproduce, name, timed(part, getattr(reproduce, name)))
    sampling.sample = timed("sampling", sampling.sample)
    if args.level_workers is not None:
        if not hasattr(reproduce._LevelSolves, "workers"):
            raise SystemExit(f"{boundsolver.__file__}: its reproduce has no --level-workers")
        reproduce._LevelSolves.workers = args.level_workers
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        figs = args.figures or Path(tmp) / "figs"
        began, used = time.perf_counter(), _cpu()
        reproduce.run(figs, cache=Cache(Path(tmp) / "c.sqlite"), progress=False,
                      quick=args.quick)
        wall, used = time.perf_counter() - began, _cpu() - used
        simba = pd.read_csv(figs / "fig24b_simba.csv")
        all_gpus = pd.read_csv(figs / "fig_gpu_levels.csv")
    gpus = all_gpus.drop_duplicates("gpu")
    uniform = simba["bound_s_all_sizes"].iloc[0] + gpus["solve_s_all_capacities"].sum()
    per_tensor = simba["pt_bound_s_all_sizes"].iloc[0] + gpus["pt_solve_s_all_capacities"].sum()
    parts = spent | {"hierarchy uniform solves": uniform,
                     "hierarchy per-tensor solves": per_tensor, "wall total": wall}
    # the per-tensor solves have a wall-clock limit per capacity: how many rows it left proven
    statuses = pd.concat([simba["pt_status"], all_gpus["pt_status"]])
    proven = f"{int((statuses == 'optimal').sum())} of {len(statuses)}"
    rows = [{"label": args.label, "package": str(Path(boundsolver.__file__).parents[1]),
             "part": k, "seconds": round(v, 1),
             "cpu_s_this_process": round(cpu[k], 1) if k in cpu else None,
             "cpu_s_all_processes": round(used, 1) if k == "wall total" else None,
             "proven": proven if k == "hierarchy per-tensor solves" else "",
             "load_1min_start": load, "load_1min_end": os.getloadavg()[0]}
            for k, v in parts.items()]
    report(rows, args.out)


def _cpu() -> float:
    """CPU seconds of this process and of its children that have ended (the pools')."""
    own, kids = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


if __name__ == "__main__":
    main()
