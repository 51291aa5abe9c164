"""Benchmark: translated loops on hierarchies (docs/fusion.md, "Translated loops"; issue 23).

    python benchmarks/fusion_levels_translate.py --old-tree /work/main [--cases ...]
                                                 [--budget 900] [--out PATH]

For each case (a workload on a packaged arch, 16 capacities of the outer level spread
geometrically over the two-level fused curve's breakpoints, as benchmarks/fusion_levels.py
picks them), in fresh child processes one after another in one run: the lazy hierarchy search
of ``--old-tree`` (before translated loops on hierarchies), this tree's default
(``translate=None``: translated loops where modelled) and this tree's ``translate=False``.
The old tree's and this tree's default run side by side (one load), then ``translate=False``
where the default's rows have translated loops. Per run: CPU seconds of the solve (time.process_time in the child, rows re-costed included),
peak MB (ru_maxrss) and the DRAM column; per case: whether ``translate=False`` gives the old
rows, at how many capacities the default's DRAM is below the old one, the largest ratio, and
whether the default's DRAM column equals the two-level fused curve (one buffer, translated
loops on) at every capacity. Writes benchmarks/results/fusion_levels_translate.csv.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from common import report

K_PROD = "K[m,e] += I[m,d] * WK[e,d]"
V_PROD = "V[m,f] += I[m,d] * WV[f,d]"
QK = "S[m,p] += Q[m,e] * K[p,e]"
AV = "Z[m,f] += S[m,p] * V[p,f]"
GPT3 = ["V[m,h,e] += I[m,d] * WV[h,e,d]", "K[m,h,e] += I[m,d] * WK[h,e,d]",
        "Q[m,h,e] += I[m,d] * WQ[h,e,d]", "QK[m,p,h] += Q[m,h,e] * K[p,h,e]",
        "QK_softmax[m,p,h] = QK[m,p,h]", "AV[m,h,f] += QK_softmax[m,p,h] * V[p,h,f]"]
CASES = {  # name: (arch, Einsums or a packaged problem, sizes)
    "attention_a100_4096": ("a100", "attention", {"tokens": 4096}),
    "k_by_p_a100": ("a100", [K_PROD, QK], dict(m=4, p=4, e=2, d=2)),
    "k_by_p_8_a100": ("a100", [K_PROD, QK], dict(m=8, p=8, e=2, d=2)),
    "kv_attn_a100": ("a100", [K_PROD, V_PROD, QK, AV], dict(m=2, p=2, e=2, d=2, f=2)),
    "kv_attn_three_level": ("three_level", [K_PROD, V_PROD, QK, AV],
                            dict(m=4, p=4, e=2, d=2, f=2)),
    "k_by_p_a100_512": ("a100", [K_PROD, QK], dict(m=512, p=512, e=64, d=512)),
    "gpt3_qkv_attention_2048_a100": ("a100", GPT3, dict(m=2048, p=2048, h=32, e=128, f=128,
                                                        d=4096)),
    "gpt3_qkv_attention_512_a100": ("a100", GPT3, dict(m=512, p=512, h=32, e=128, f=128,
                                                       d=4096)),
}

CHILD = """
import json, resource, sys, time
import boundsolver as bs
from boundsolver.curves import fused_levels
arch, texts, sizes, caps, translate = json.loads(sys.argv[1])
w = (bs.load_problem(texts, **sizes) if isinstance(texts, str)
     else bs.workload(texts, name="chain", **sizes))
kw = {} if translate == "old" else {"translate": translate}
t = time.process_time()
df = fused_levels.workload_curve(w, bs.load_arch(arch), caps, mapspace="uniform/perfect", **kw)
cpu = time.process_time() - t
print(json.dumps({"cpu": cpu, "mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "dram": [None if r["status"] != "optimal" else int(r["accesses"])
                           for _, r in df.iterrows()],
                  "keys": [[str(v) for c, v in r.items() if c.startswith("accesses")]
                           for _, r in df.iterrows()],
                  "via": int(sum("via" in str(t) for t in df.get("tree", [])))}))
"""


def capacities(w) -> tuple[list[int], list[int]]:
    """16 capacities over the two-level fused curve's breakpoints (fusion_levels.py's), and
    that curve's traffic at each (translated loops on: the default)."""
    import numpy as np

    from boundsolver.curves import fused
    two = fused.solve_workload(w, True, "uniform/perfect")
    lo, hi = int(two.frontier.occ[0]), int(two.frontier.occ[-1])
    caps = sorted(set(np.geomspace(lo, hi, 16).astype(int).tolist()))
    return caps, [two.value(c) for c in caps]


def children(runs: list, arch, texts, sizes, caps, budget: int) -> dict:
    """Each ``(label, tree, translate)`` of ``runs`` in its own child, all side by side (one
    load for all: CPU seconds compare), each stopped past ``budget`` wall seconds."""
    procs = {}
    for label, tree, translate in runs:
        env = dict(os.environ, PYTHONPATH=str(tree))
        procs[label] = subprocess.Popen([sys.executable, "-c", CHILD,
                                         json.dumps([arch, texts, sizes, caps, translate])],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True, env=env)
    out = {}
    for label, proc in procs.items():
        try:
            stdout, stderr = proc.communicate(timeout=budget)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            out[label] = {"cpu": f">{budget} s wall (unfinished)"}
            continue
        out[label] = (json.loads(stdout.strip().splitlines()[-1]) if not proc.returncode
                      else {"cpu": "error: " + stderr.strip().splitlines()[-1][:200]})
    return out


def main() -> None:
    import boundsolver as bs

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old-tree", type=Path, required=True,
                    help="a folder holding the baseline checkout's boundsolver package")
    ap.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    ap.add_argument("--budget", type=int, default=900, help="wall seconds per child")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results"
                    / "fusion_levels_translate.csv")
    args = ap.parse_args()
    here = Path(__file__).resolve().parent.parent
    table = []
    for name in args.cases:
        arch, texts, sizes = CASES[name]
        w = (bs.load_problem(texts, **sizes) if isinstance(texts, str)
             else bs.workload(texts, name="chain", **sizes))
        caps, two = capacities(w)
        runs = children([("old", args.old_tree, "old"), ("new", here, None)], arch, texts, sizes,
                        caps, args.budget)
        if runs["new"].get("via"):  # else translate=False is the default's search
            runs |= children([("new_off", here, False)], arch, texts, sizes, caps, args.budget)
        old, new = runs["old"], runs["new"]
        off = runs.get("new_off", {"cpu": "n/a", "keys": new.get("keys")})
        entry = {"case": name, "arch": arch, "capacities": len(caps),
                 "cpu_old": _round(old["cpu"]), "cpu_new": _round(new["cpu"]),
                 "cpu_new_off": _round(off["cpu"]), "mb_old": _round(old.get("mb")),
                 "mb_new": _round(new.get("mb")), "load": round(os.getloadavg()[0], 1)}
        if "dram" in old and "dram" in new:
            pairs = [(c, a, b) for c, a, b in zip(caps, old["dram"], new["dram"])
                     if a is not None and b is not None]
            lower = [(c, a, b) for c, a, b in pairs if b < a]
            best = max(lower, key=lambda x: x[1] / x[2], default=None)
            entry |= {"off_equals_old": off.get("keys") == old["keys"],
                      "never_above_old": all(b <= a for _, a, b in pairs),
                      "capacities_lower": len(lower),
                      "max_ratio": round(best[1] / best[2], 3) if best else 1.0,
                      "at": f"{best[0]}: {best[1]} -> {best[2]}" if best else "",
                      "rows_with_via": new["via"],
                      "dram_equals_two_level": new["dram"] == two,
                      "old_equals_two_level": old["dram"] == two}
        table.append(entry)
        print(entry, flush=True)
    report(table, args.out)


def _round(v):
    return round(v, 1) if isinstance(v, float) else v


if __name__ == "__main__":
    main()
