"""Benchmark: how much rank translation through intermediates lowers the exact fused curve
(docs/fusion.md, 'Translated loops'; issue 23).

    python benchmarks/fusion_translate.py [--cases k_by_p kv_attn ...] [--out PATH]

For small chains, the brute force over loop trees (``reference/treeref.py``) without and with
translated loops (``translate=True``: a loop may step through differently named ranks that an
intermediate identifies, ``Node.via``): at every capacity where either staircase has a
breakpoint, both least-traffic values and their ratio; per case the largest ratio and where,
and each run's CPU seconds (time.process_time, one after the other in one process). Chains whose
intermediates are read through the names they are written with (FFN, attention without the
K/V producers) have no translated loop, so their curves are equal by construction; ``ffn`` is
run as the check of that. Writes benchmarks/results/fusion_translate.csv.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from common import report

import boundsolver as bs
from boundsolver.curves.fused import solve_workload
from boundsolver.reference.treeref import enumerate_workload

K_PROD = "K[m,e] += I[m,d] * WK[e,d]"
V_PROD = "V[m,f] += I[m,d] * WV[f,d]"
Q_PROD = "Q[m,e] += I[m,d] * WQ[e,d]"
QK = "S[m,p] += Q[m,e] * K[p,e]"
AV = "Z[m,f] += S[m,p] * V[p,f]"
CASES = {  # name: (Einsums, sizes, inner mapspace, max_depth)
    "k_by_p": ([K_PROD, QK], dict(m=4, p=4, e=2, d=2), "uniform/perfect", 2),
    "k_by_p_d3": ([K_PROD, QK], dict(m=4, p=4, e=2, d=2), "uniform/perfect", 3),
    "k_by_p_pt": ([K_PROD, QK], dict(m=4, p=4, e=2, d=2), "per_tensor/perfect", 2),
    "k_by_p_8": ([K_PROD, QK], dict(m=8, p=8, e=2, d=2), "uniform/perfect", 2),
    "kv_attn": ([K_PROD, V_PROD, QK, AV], dict(m=2, p=2, e=2, d=2, f=2), "uniform/perfect", 2),
    "qkv_attn": ([Q_PROD, K_PROD, V_PROD, QK, AV], dict(m=2, p=2, e=1, d=2, f=1),
                 "uniform/perfect", 2),
    "ffn": (["Y[m,c] += X[m,d] * A[d,c]", "Z[m,j] += Y[m,c] * B[c,j]"],
            dict(m=4, d=2, c=2, j=2), "uniform/perfect", 2),
}


def value(points: list, cap: int) -> int | None:
    return min((a for o, a, _ in points if o <= cap), default=None)


def run(name: str) -> list[dict]:
    texts, sizes, ms, depth = CASES[name]
    w = bs.workload(texts, name=name, **sizes)
    pts, secs = {}, {}
    for tr in (False, True):
        t = time.process_time()
        pts[tr] = enumerate_workload(w, True, ms, max_depth=depth, translate=tr, limit=10**9)
        secs[tr] = time.process_time() - t
    t = time.process_time()  # the solver with the translated loops of its mapspace
    sol = solve_workload(w, True, ms, max_depth=depth, translate=True)
    secs["solver"] = time.process_time() - t
    pts["solver"] = [(int(o), int(a), None) for o, a in zip(sol.frontier.occ, sol.frontier.acc)]
    rows = []
    for cap in sorted({o for p in pts.values() for o, _, _ in p}):
        old, new, got = value(pts[False], cap), value(pts[True], cap), value(pts["solver"], cap)
        rows.append(dict(case=name, mapspace=ms, max_depth=depth, capacity=cap, plain=old,
                         translated=new, ratio=(old / new) if old and new else None,
                         solver=got, solver_over_translated=(got / new) if got and new else None,
                         cpu_plain=round(secs[False], 1), cpu_translated=round(secs[True], 1),
                         cpu_solver=round(secs["solver"], 1)))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", nargs="*", default=list(CASES))
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "fusion_translate.csv"))
    args = ap.parse_args()
    rows = []
    for c in args.cases:
        rows += run(c)
        best = max(rows[-1:] + [r for r in rows if r["case"] == c and r["ratio"]],
                   key=lambda r: r["ratio"] or 0)
        gap = [r for r in rows if r["case"] == c and r["solver"] != r["translated"]]
        print(f"{c}: max ratio {best['ratio']} at capacity {best['capacity']}; the solver "
              f"{'equals the brute force' if not gap else 'is above it at ' + str(len(gap))} "
              f"(load {os.getloadavg()[0]:.1f})", flush=True)
    report(rows, Path(args.out))


if __name__ == "__main__":
    main()
