"""Fused vs unfused frontiers of workloads: seconds, peak memory, breakpoints, minima.

Each frontier runs in a fresh process so that its peak resident memory is its own:

    python benchmarks/fusion.py            # GPT-3 6.7B layer (8192 tokens), paper FFN, attention
    python benchmarks/fusion.py --quick    # small token counts (a smoke test)

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
QUICK = [("gpt3_6.7b", {"tokens": 256}), ("ffn", {"tokens": 1024}), ("attention", {"tokens": 256})]

CHILD = """
import json, resource, sys, time
import boundsolver as bs
name, params, fusion, method = json.loads(sys.argv[1])
w = bs.load_problem(name, **params)
t = time.perf_counter()
df = bs.pareto_frontier(w, fusion=fusion, method=method)
seconds = time.perf_counter() - t
print(json.dumps({"seconds": seconds, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "breakpoints": len(df), "minimum": int(df.accesses.min()),
                  "min_occupancy": int(df.occupancy.min()), "traced": df.attrs["traced"],
                  "structures": df.attrs["structures"], "plans": df.attrs["plans"],
                  "trace_seconds": df.attrs["trace_seconds"],
                  "occ": df.occupancy.astype(int).tolist(), "acc": df.accesses.astype(int).tolist()}))
"""


def run(name: str, params: dict, fusion: bool, method: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, json.dumps([name, params, fusion, method])],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


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
    ap.add_argument("--methods", nargs="+", default=["auto", "milp"])
    args = ap.parse_args()
    rows = []
    for name, params in QUICK if args.quick else CASES:
        for method in args.methods:
            un = run(name, params, False, method)
            fz = run(name, params, True, method)
            ratio, where = max_ratio(fz, un)
            label = name + "".join(f" {k}={v}" for k, v in params.items())
            rows.append({"workload": label, "method": method, "fused_s": fz["seconds"],
                         "unfused_s": un["seconds"], "fused_peak_MB": fz["peak_mb"],
                         "unfused_peak_MB": un["peak_mb"], "fused_bkpts": fz["breakpoints"],
                         "unfused_bkpts": un["breakpoints"], "fused_min": fz["minimum"],
                         "unfused_min": un["minimum"], "max_ratio": ratio, "at_words": where,
                         "curves_traced": fz["traced"], "trace_s": fz["trace_seconds"],
                         "structures": fz["structures"], "plans": fz["plans"]})
            print(rows[-1], flush=True)
    report(rows, Path(__file__).parent / "results" / "fusion.csv")


if __name__ == "__main__":
    main()
