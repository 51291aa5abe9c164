"""Fused vs unfused frontiers of workloads: seconds, peak memory, breakpoints, minima.

Each frontier runs in a fresh process so that its peak resident memory is its own:

    python benchmarks/fusion.py            # GPT-3 6.7B layer (8192 tokens), paper FFN, attention
    python benchmarks/fusion.py --quick    # small token counts (a smoke test)

Where AccelForge's Pareto points for the same work are in benchmarks/data
(``accelforge_gpt3_T{tokens}_{fused|unfused}.csv``, written by its mapper run through
../shared/tools/accelforge.sh), the table adds our curve divided by AccelForge's at each of its
capacities: the worst and best ratios and how many of its points we are above.
Writes benchmarks/results/fusion.csv.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from common import report

CASES = [("gpt3_6.7b", {}), ("ffn", {}), ("attention", {})]
QUICK = [("gpt3_6.7b", {"tokens": 512}), ("ffn", {"tokens": 1024}), ("attention", {"tokens": 256})]
DATA = Path(__file__).parent / "data"

CHILD = """
import json, resource, sys, time
import boundsolver as bs
name, params, fusion, method, depth = json.loads(sys.argv[1])
w = bs.load_problem(name, **params)
t = time.perf_counter()
df = bs.pareto_frontier(w, fusion=fusion, method=method, max_depth=depth)
seconds = time.perf_counter() - t
print(json.dumps({"seconds": seconds, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "breakpoints": len(df), "minimum": int(df.accesses.min()),
                  "min_occupancy": int(df.occupancy.min()), "traced": df.attrs["traced"],
                  "structures": df.attrs["structures"],
                  "trace_seconds": df.attrs["trace_seconds"],
                  "occ": df.occupancy.astype(int).tolist(), "acc": df.accesses.astype(int).tolist()}))
"""


def run(name: str, params: dict, fusion: bool, method: str, depth: int) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, json.dumps([name, params, fusion, method, depth])],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def versus_accelforge(name: str, params: dict, fusion: bool, ours: dict) -> dict:
    """Our value over AccelForge's at each of its Pareto capacities (words, both 8-bit)."""
    import numpy as np

    if name != "gpt3_6.7b":
        return {}
    path = DATA / f"accelforge_gpt3_T{params.get('tokens', 8192)}_{'fused' if fusion else 'unfused'}.csv"
    if not path.exists():
        return {}
    af = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.int64, ndmin=2)
    i = np.searchsorted(ours["occ"], af[:, 0], "right") - 1
    value = np.where(i >= 0, np.array(ours["acc"])[np.maximum(i, 0)], np.iinfo(np.int64).max)
    ratio = value / af[:, 1]
    return {"af_points": len(af), "af_above": int((ratio > 1).sum()), "af_worst": float(ratio.max()),
            "af_best": float(ratio.min())}


def max_ratio(fused: dict, unfused: dict) -> tuple[float, int]:
    """Largest unfused/fused traffic ratio over capacities, and where it first occurs."""
    import numpy as np

    caps = np.union1d(fused["occ"], unfused["occ"])
    caps = caps[caps >= max(fused["occ"][0], unfused["occ"][0])]

    def at(r):
        return np.array(r["acc"])[np.searchsorted(r["occ"], caps, "right") - 1]

    ratio = at(unfused) / at(fused)
    return float(ratio.max()), int(caps[ratio.argmax()])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--methods", nargs="+", default=["auto"])
    ap.add_argument("--depth", type=int, default=3, help="max_depth of the fused loop trees")
    args = ap.parse_args()
    rows = []
    for name, params in QUICK if args.quick else CASES:
        for method in args.methods:
            un = run(name, params, False, method, args.depth)
            fz = run(name, params, True, method, args.depth)
            ratio, where = max_ratio(fz, un)
            label = name + "".join(f" {k}={v}" for k, v in params.items())
            rows.append({"workload": label, "method": method, "fused_s": fz["seconds"],
                         "unfused_s": un["seconds"], "fused_peak_MB": fz["peak_mb"],
                         "unfused_peak_MB": un["peak_mb"], "fused_bkpts": fz["breakpoints"],
                         "unfused_bkpts": un["breakpoints"], "fused_min": fz["minimum"],
                         "unfused_min": un["minimum"], "max_ratio": ratio, "at_words": where,
                         "curves_traced": fz["traced"], "trace_s": fz["trace_seconds"],
                         "loop_nodes": fz["structures"]}
                        | {f"fused_{k}": v for k, v in versus_accelforge(name, params, True, fz).items()}
                        | {f"unfused_{k}": v for k, v in versus_accelforge(name, params, False, un).items()})
            print(rows[-1], flush=True)
    report(rows, Path(__file__).parent / "results" / "fusion.csv")


if __name__ == "__main__":
    main()
