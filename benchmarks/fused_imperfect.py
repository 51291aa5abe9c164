"""Benchmark: how much imperfect shared tiles lower the exact fused curve (docs/fusion.md,
"Imperfect shared tiles").

    python benchmarks/fused_imperfect.py [--brute] [--depth 2] [--csv PATH]

For small chains (FFN, attention, a GPT-3 layer at tiny sizes, sizes with few divisors), the
fused per-tensor curve three ways: ``per_tensor/perfect`` (the default mapspace),
``per_tensor/imperfect`` leaves under perfect shared tiles (the mapspace before this option,
``shared_imperfect=False``) and ``per_tensor/imperfect`` with imperfect shared tiles (now what
the mapspace means). At every breakpoint of either imperfect curve the ratio of the value
without imperfect shared tiles to the value with them: the table gives the largest and where.
``--brute`` also runs the brute force (reference/treeref.py) on the cases marked small and
checks it equals the search. Every breakpoint of the new curve is re-costed by
``fusion.evaluate``. Writes benchmarks/results/fused_imperfect.csv (or ``--csv``).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from common import report

import boundsolver as bs
from boundsolver.curves import fused
from boundsolver.model import fusion
from boundsolver.reference.treeref import enumerate_workload

FFN = ["Y[m,c] += X[m,d] * A[d,c]", "Z[m,j] += Y[m,c] * B[c,j]"]
ATTENTION = ["S[m,p] += Q[m,e] * K[p,e]", "Z[m,f] += S[m,p] * V[p,f]"]
GPT3 = ["V[m,h,e] += I[m,d] * WV[h,e,d]", "K[m,h,e] += I[m,d] * WK[h,e,d]",
        "Q[m,h,e] += I[m,d] * WQ[h,e,d]", "QK[m,p,h] += Q[m,h,e] * K[p,h,e]",
        "QK_softmax[m,p,h] = QK[m,p,h]", "AV[m,h,f] += QK_softmax[m,p,h] * V[p,h,f]",
        "Z[m,g] += AV[m,h,f] * WZ[h,f,g]", "FFA[m,c] += Z[m,g] * WFFA[g,c]",
        "FFB[m,j] += FFA[m,c] * WFFB[c,j]"]

# (name, texts, sizes, small enough for the brute force)
CASES = [
    ("ffn 5,2,3,2", FFN, dict(m=5, d=2, c=3, j=2), True),
    ("attention 3,3,2,1", ATTENTION, dict(m=3, p=3, e=2, f=1), True),
    ("ffn 7,5,11,3", FFN, dict(m=7, d=5, c=11, j=3), False),
    ("ffn 6,4,9,4", FFN, dict(m=6, d=4, c=9, j=4), False),
    ("ffn 16,8,24,8", FFN, dict(m=16, d=8, c=24, j=8), False),
    ("attention 7,7,5,5", ATTENTION, dict(m=7, p=7, e=5, f=5), False),
    ("attention 12,12,4,4", ATTENTION, dict(m=12, p=12, e=4, f=4), False),
    ("gpt3 m=p=5 h=2 e=f=3 d=g=j=6 c=7", GPT3,
     dict(m=5, p=5, h=2, e=3, f=3, d=6, g=6, j=6, c=7), False),
]


def points(sol) -> list[tuple[int, int]]:
    return list(zip(sol.frontier.occ.tolist(), sol.frontier.acc.tolist()))


def value(pts, capacity: int):
    return min((a for o, a in pts if o <= capacity), default=None)


def solve(w, mapspace, shared, depth):
    began = time.process_time()
    sol = fused.solve_workload(w, True, mapspace, max_depth=depth, shared_imperfect=shared,
                               translate=False)  # imperfect tiles alone (and the brute force's)
    return sol, time.process_time() - began


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--brute", action="store_true")
    ap.add_argument("--depth", type=int, default=2)
    ap.add_argument("--csv", type=Path,
                    default=Path(__file__).parent / "results" / "fused_imperfect.csv")
    args = ap.parse_args()
    rows = []
    for name, texts, sizes, small in CASES:
        w = bs.workload(texts, **sizes)
        perfect, t_p = solve(w, "per_tensor/perfect", None, args.depth)
        old, t_o = solve(w, "per_tensor/imperfect", False, args.depth)
        new, t_n = solve(w, "per_tensor/imperfect", None, args.depth)
        p_pts, o_pts, n_pts = points(perfect), points(old), points(new)
        for occ, acc in n_pts:  # every breakpoint re-costed in integers
            cost = fusion.evaluate(w, new.schedule(occ), imperfect=True)
            assert (cost.occupancy, cost.accesses) == (occ, acc), (name, occ, acc, cost)
        caps = sorted({o for o, _ in o_pts + n_pts})
        ratios = [(value(o_pts, c) / value(n_pts, c), c) for c in caps
                  if value(o_pts, c) is not None]
        worst, at = max(ratios)
        lower = sum(1 for r, _ in ratios if r > 1)
        row = {"case": name, "perfect_pts": len(p_pts), "old_pts": len(o_pts),
               "new_pts": len(n_pts), "caps_lower": f"{lower}/{len(ratios)}",
               "max_ratio": worst, "at_capacity": at, "old_there": value(o_pts, at),
               "new_there": value(n_pts, at), "perfect_there": value(p_pts, at),
               "cpu_perfect": t_p, "cpu_old": t_o, "cpu_new": t_n}
        if args.brute and small:
            began = time.process_time()
            ref = [(o, a) for o, a, _ in enumerate_workload(w, True, "per_tensor/imperfect",
                                                            max_depth=args.depth)]
            row["brute_equal"] = ref == n_pts
            row["cpu_brute"] = time.process_time() - began
        rows.append(row)
        print(row, flush=True)
    print(f"load average {os.getloadavg()[0]:.1f}")
    report(rows, args.csv)


if __name__ == "__main__":
    main()
