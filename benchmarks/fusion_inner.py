"""Benchmark: tree tiles in inner levels (docs/fusion.md, "Tree tiles in inner levels").

    python benchmarks/fusion_inner.py [--cases three_level a100_like fa2_tiny]
    python benchmarks/fusion_inner.py --search [small fa2_tiny a100_small a100_4096]
                                      [--budget 900] [--capacities 2]

For small attention (``S[m,p] += Q[m,e]*K[p,e]``, ``Z[m,f] += S[m,p]*V[p,f]``) on small
hierarchies, the brute force over fused loop trees (``reference/treeref_levels.py``) without and
with the choice of an inner level for every tensor the tree stores (``inner_storage``): the
joint key (DRAM, then the traffic into each inner level) at every capacity of the outer level
where either staircase has a breakpoint, and each run's seconds. ``fa2_tiny`` adds
FlashAttention-2's loop on the same shapes (query blocks of 2 rows, key blocks of 2; its
hand-counted key, tests/test_fusion_inner.py) and whether each staircase is at or below it at
its L2 occupancy. Writes benchmarks/results/fusion_inner.csv. One run each, one machine.

``--search``: the fused search (``fused_levels.workload_curve``, lazy leaves, uniform
placement) without and with ``inner_storage`` (fused_levels.PlacedSearch), each in a fresh
process with a wall-clock budget, one after the other in the same run, at ``--capacities`` L2
capacities spread geometrically over the two-level fused curve's breakpoints (all breakpoints of
the search for the small cases): seconds, leaf solves, and the key at each capacity. Writes
benchmarks/results/fusion_inner_search.csv.
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

import boundsolver as bs
from boundsolver.model.arch import Arch, Level
from boundsolver.reference.treeref_levels import enumerate_workload

ATTENTION = ["S[m,p] += Q[m,e] * K[p,e]", "Z[m,f] += S[m,p] * V[p,f]"]
CASES = {
    # the packaged three_level (DRAM -> L2, swept -> L1 -> MAC), L1 of 6 words
    "three_level": (dict(m=2, p=2, e=2, f=2), lambda: bs.load_arch("three_level", L1=6), None),
    # a100's shape in miniature: SMEM per SM (2 SMs, unicast from L2), registers per SM
    "a100_like": (dict(m=2, p=2, e=2, f=2),
                  lambda: Arch("a100_like", 32, (Level("DRAM"), Level("L2", sweep=True),
                                                 Level("SMEM", 8, instances=2, multicast=False),
                                                 Level("RF", 4, instances=2))), None),
    # FlashAttention-2's loop counted by hand (test_flash_attention_2_counted_by_hand):
    # L2 occupancy 16, key (DRAM 48, SMEM 48)
    "fa2_tiny": (dict(m=4, p=4, e=2, f=2),
                 lambda: bs.load_arch("three_level", L1=16), (16, (48, 48))),
}


def _at(points, capacity):
    best = [k for o, k, _ in points if o <= capacity]
    return best[-1] if best else None


def run(name: str) -> list[dict]:
    sizes, make, fa2 = CASES[name]
    w = bs.workload(ATTENTION, **sizes)
    arch = make()
    runs = {}
    for inner in (False, True):
        t = time.perf_counter()
        pts = enumerate_workload(w, arch, True, max_depth=2, inner_storage=inner, limit=10**9)
        runs[inner] = (pts, time.perf_counter() - t)
        print(f"{name}: inner_storage={inner}: {runs[inner][1]:.1f} s, load "
              f"{os.getloadavg()[0]:.1f}", flush=True)
    caps = sorted({o for pts, _ in runs.values() for o, _, _ in pts})
    if fa2:
        caps = sorted(set(caps) | {fa2[0]})
    rows = []
    for c in caps:
        old, new = _at(runs[False][0], c), _at(runs[True][0], c)
        row = dict(case=name, sizes=",".join(f"{k}={v}" for k, v in sizes.items()), capacity=c,
                   key_before=str(old), key_with_inner=str(new),
                   inner1_ratio=(new[1] / old[1] if old and old[1] else None),
                   s_before=runs[False][1], s_with_inner=runs[True][1])
        if fa2 and c == fa2[0]:
            row["fa2_key"] = str(fa2[1])
            row["fa2_covered_before"] = old is not None and old <= fa2[1]
            row["fa2_covered_with_inner"] = new is not None and new <= fa2[1]
        rows.append(row)
    return rows


HEADS = ["QK[m,p,h] += Q[m,h,e] * K[p,h,e]", "AV[m,h,f] += QK[m,p,h] * V[p,h,f]"]
SEARCH = {  # (texts, or None for the packaged attention; sizes; arch; arch sizes)
    "small": (ATTENTION, dict(m=4, p=4, e=2, f=2), "three_level", {"L1": 16}),
    "heads": (HEADS, dict(m=4, p=4, h=2, e=2, f=2), "three_level", {"L1": 16}),
    "a100_small": (HEADS, dict(m=4, p=4, h=1, e=4, f=4), "a100", {}),
    "a100_4096": (None, dict(tokens=4096), "a100", {}),
}

CHILD = """
import json, sys, time
import numpy as np
import boundsolver as bs
from boundsolver.curves import fused, fused_levels
texts, sizes, arch_name, arch_sizes, inner, n = json.loads(sys.argv[1])
w = bs.load_problem("attention", **sizes) if texts is None else bs.workload(texts, **sizes)
arch = bs.load_arch(arch_name, **arch_sizes)
if n:
    two = fused.solve_workload(w, True, "uniform/perfect")
    lo, hi = int(two.frontier.occ[0]), int(two.frontier.occ[-1])
    caps = sorted(set(np.geomspace(lo, hi, n + 2).astype(int).tolist()[1:-1]))
else:
    caps = None
t = time.perf_counter()
if caps is None:
    df = fused_levels.workload_frontier(w, arch, mapspace="uniform/perfect", max_depth=2,
                                        inner_storage=inner)
    caps = df["occupancy"].tolist()
else:
    df = fused_levels.workload_curve(w, arch, caps, mapspace="uniform/perfect",
                                     inner_storage=inner)
levels = [c for c in df.columns if c.startswith("accesses_")][1:]
print(json.dumps({"seconds": time.perf_counter() - t, "leaf_solves": df.attrs["leaf_solves"],
                  "traced": df.attrs["traced"], "caps": [int(c) for c in caps],
                  "keys": [[int(r["accesses"]), *[int(r[c]) for c in levels]]
                           for _, r in df.iterrows()]}))
"""


def search(name: str, budget: int, n: int) -> list[dict]:
    """The search without and with inner placements, each in a fresh process."""
    texts, sizes, arch, arch_sizes = SEARCH[name]
    out = {}
    for inner in (False, True):
        began = time.perf_counter()
        try:
            proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps(
                [texts, sizes, arch, arch_sizes, inner, n if texts is None else 0])],
                capture_output=True, text=True, check=True, timeout=budget)
            out[inner] = json.loads(proc.stdout.strip().splitlines()[-1])
        except subprocess.TimeoutExpired:
            out[inner] = {"seconds": None, "caps": [], "keys": []}
        print(f"{name}: inner_storage={inner}: {out[inner]['seconds']} s "
              f"(wall {time.perf_counter() - began:.0f} s), load {os.getloadavg()[0]:.1f}",
              flush=True)
    old, new = out[False], out[True]
    keys_old = dict(zip(old["caps"], old["keys"]))
    keys_new = dict(zip(new["caps"], new["keys"]))
    rows = []
    for c in sorted(set(keys_old) | set(keys_new)):
        rows.append(dict(case=name, capacity=c, key_before=str(keys_old.get(c)),
                         key_with_inner=str(keys_new.get(c)), s_before=old["seconds"],
                         s_with_inner=new["seconds"],
                         solves_before=old.get("leaf_solves"),
                         solves_with_inner=new.get("leaf_solves"),
                         load=round(os.getloadavg()[0], 1)))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", nargs="*", default=list(CASES))
    ap.add_argument("--search", nargs="*", default=None,
                    help="time the fused search without and with inner placements instead")
    ap.add_argument("--budget", type=int, default=900, help="seconds per search run")
    ap.add_argument("--capacities", type=int, default=2,
                    help="L2 capacities of a100_4096 (spread over the two-level curve)")
    args = ap.parse_args()
    if args.search is not None:
        rows = [r for name in (args.search or list(SEARCH))
                for r in search(name, args.budget, args.capacities)]
        report(rows, Path(__file__).parent / "results" / "fusion_inner_search.csv")
        return
    rows = [r for name in args.cases for r in run(name)]
    report(rows, Path(__file__).parent / "results" / "fusion_inner.csv")


if __name__ == "__main__":
    main()
