"""Benchmark: tree tiles in inner levels (docs/fusion.md, "Tree tiles in inner levels").

    python benchmarks/fusion_inner.py [--cases three_level a100_like fa2_tiny]

For small attention (``S[m,p] += Q[m,e]*K[p,e]``, ``Z[m,f] += S[m,p]*V[p,f]``) on small
hierarchies, the brute force over fused loop trees (``reference/treeref_levels.py``) without and
with the choice of an inner level for every tensor the tree stores (``inner_storage``): the
joint key (DRAM, then the traffic into each inner level) at every capacity of the outer level
where either staircase has a breakpoint, and each run's seconds. ``fa2_tiny`` adds
FlashAttention-2's loop on the same shapes (query blocks of 2 rows, key blocks of 2; its
hand-counted key, tests/test_fusion_inner.py) and whether each staircase is at or below it at
its L2 occupancy. Writes benchmarks/results/fusion_inner.csv. One run each, one machine.
"""

from __future__ import annotations

import argparse
import os
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", nargs="*", default=list(CASES))
    args = ap.parse_args()
    rows = [r for name in args.cases for r in run(name)]
    report(rows, Path(__file__).parent / "results" / "fusion_inner.csv")


if __name__ == "__main__":
    main()
