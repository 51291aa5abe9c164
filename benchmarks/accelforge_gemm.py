"""Benchmark: GEMM 1000^3 against AccelForge, perfect and imperfect factors (per-tensor placement).

    python benchmarks/accelforge_gemm.py [--milp] [--stored] [--accelforge PATH]
                                         [--out benchmarks/results/accelforge_gemm.csv]

By default AccelForge runs in this same run, on the same machine: ``benchmarks/af_gemm.py`` in its
own venv through ``accelforge.sh python`` (``--accelforge``; default ``$ACCELFORGE_SH`` or
``../shared/tools/accelforge.sh`` beside the repository), one mode after the other, and its time
is the mapper's own (``map_workload_to_arch``, without the venv's start-up and imports). With
``--stored`` (no AccelForge at hand) the points and times saved in
``benchmarks/data/accelforge_gemm1000_*.csv`` are read instead (measured on another day: the
speedup is then only indicative).

Ours is timed as a user calls it, with no ``method`` (the default, "auto"), and with ``--milp``
also by the MILP (minutes). For each of AccelForge's points we read our exact curve at its
buffer size: ours must be at or below it (a lower traffic at the same capacity means
AccelForge's mapspace or search missed a mapping; a higher one would mean ours is wrong).
AccelForge's per-tensor placement is our ``per_tensor`` mapspace. ``speedup``: AccelForge's
seconds over ours (the issue's target for per_tensor/imperfect by default: at least 100).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path

import pandas as pd
from common import lookup, report

import boundsolver as bs

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
ACCELFORGE_SH = Path(os.environ.get("ACCELFORGE_SH", HERE.parent.parent / "shared" / "tools"
                                    / "accelforge.sh"))


def accelforge(mode: str, script: Path) -> tuple[pd.DataFrame, float]:
    """AccelForge's Pareto points for ``mode`` and its mapper's seconds, run now."""
    with tempfile.TemporaryDirectory() as out:
        # run there: AccelForge drops a mapping.svg into its working directory
        done = subprocess.run([str(Path(script).resolve()), "python", str(HERE / "af_gemm.py"), mode, out],
                              capture_output=True, text=True, check=False, cwd=out)
        found = re.search(r"mapped in ([0-9.]+) s", done.stdout)
        if done.returncode or not found:
            raise SystemExit(f"AccelForge ({script}) failed for {mode}:\n{done.stdout}\n"
                             f"{done.stderr[-2000:]}")
        return pd.read_csv(Path(out) / f"gemm1000_{mode}.csv"), float(found.group(1))


def stored(mode: str) -> tuple[pd.DataFrame, float]:
    times = pd.read_csv(DATA / "accelforge_gemm1000_times.csv").set_index("mode")
    return pd.read_csv(DATA / f"accelforge_gemm1000_{mode}.csv"), float(times.loc[mode, "seconds"])


def ours(p: bs.Einsum, space: str, method: str | None) -> tuple[pd.DataFrame, float]:
    """Our frontier as a user asks for it (no ``method``: the default) and its wall time."""
    opts = {} if method is None else {"method": method}
    began = time.perf_counter()
    front = bs.pareto_frontier(p, mapspace=space, **opts)
    return front, time.perf_counter() - began


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--milp", action="store_true", help="also time the MILP frontier (minutes)")
    ap.add_argument("--stored", action="store_true",
                    help="read AccelForge's saved points and times instead of running it")
    ap.add_argument("--accelforge", type=Path, default=ACCELFORGE_SH,
                    help="accelforge.sh (its 'python' command runs a script in its venv)")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "accelforge_gemm.csv")
    args = ap.parse_args()
    p = bs.gemm(1000, 1000, 1000)
    rows = []
    for mode in ("perfect", "imperfect"):
        space = f"per_tensor/{mode}"
        af, af_seconds = stored(mode) if args.stored else accelforge(mode, args.accelforge)
        print(f"  AccelForge {mode}: {af_seconds:.1f} s, {len(af)} points", flush=True)
        for method in [None] + (["milp"] if args.milp else []):
            front, seconds = ours(p, space, method)
            mine = [lookup(front, int(c)) for c in af["buffer_words"]]
            ratio = [a / o for a, o in zip(af["dram_words"], mine)]
            rows.append({"mapspace": space, "call": method or "default",
                         "method": front.attrs["method"], "seconds": seconds,
                         "breakpoints": len(front), "accelforge_s": af_seconds,
                         "accelforge_timed": "stored" if args.stored else "this run",
                         "speedup": af_seconds / seconds, "af_points": len(af),
                         "at_or_below": sum(o <= a for o, a in zip(mine, af["dram_words"])),
                         "strictly_below": sum(o < a for o, a in zip(mine, af["dram_words"])),
                         "max_af_over_ours": max(ratio)})
            print(f"  {space} {method or 'default'}: {seconds:.3f} s "
                  f"({rows[-1]['speedup']:.0f}x AccelForge)", flush=True)
    report(rows, args.out)


if __name__ == "__main__":
    main()
