"""The GPU worked example (docs/fusion.md, "FlashAttention on GPUs", "On the hierarchy"):
attention on ``a100`` and ``h100`` as hierarchies, fused against unfused, against FlashAttention.

    python benchmarks/gpu_attention.py [--tokens 4096 16384] [--archs a100 h100] [--budget 900]
        [--mapspace per_tensor/perfect] [--cache] [--out CSV]

Attention as GPT-3 6.7B has it (32 heads, d = 128; the packaged ``attention`` problem), the
hierarchy DRAM -> L2 (swept) -> shared memory (per SM) -> registers. For each sequence length and
arch, in a fresh process with a wall-clock budget: the fused loop-tree bound
(``fused_levels.workload_curve``, lazy leaves) and the unfused one (every Einsum alone, its
joint bound) at the L2's real capacity and at 1 MiB of L2, every point's tree re-costed in
integers, the two-level fused curve at the same capacities (the hierarchy's DRAM column:
docs/fusion.md), and FlashAttention-2's global-memory traffic (``flash_attention.fa2``: its forward
loop with 128-row query blocks; every word it moves between L2 and the SMs) beside the bound's
DRAM and shared-memory columns, and FlashAttention-2's loop as a fused tree on the same arch
(:func:`fa2_tree`, costed by ``fusion_levels.evaluate``): an attainable mapping, so wherever its
L2 occupancy fits, the bound's key (DRAM, then into SMEM, then into RF) is at most its key (the
script fails otherwise). Prints each fused tree with every tensor's level; writes
benchmarks/results/gpu_attention.csv. Counts are elements (one word each).
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
from flash_attention import D, fa2

import boundsolver as bs
from boundsolver.curves import fused
from boundsolver.model import fusion, fusion_levels
from boundsolver.model.fusion import Leaf, Node, Schedule
from boundsolver.model.fusion_levels import LevelMapping, invocations, leaf_arch

L2_WORDS = {"a100": 40 * 2**20 // 4, "h100": 50 * 2**20 // 4}  # fp32 words, as the archs count
SMALL_L2 = 2**20 // 4  # 1 MiB

CHILD = """
import json, sys, time
import boundsolver as bs
from boundsolver.curves import fused_levels
arch_name, tokens, caps, mapspace, cache = json.loads(sys.argv[1])
w = bs.load_problem("attention", tokens=tokens)
arch = bs.load_arch(arch_name)
out = {}
for fused in (True, False):  # the fused bound first: the one the budget is for
    t, cpu = time.perf_counter(), time.process_time()
    df = fused_levels.workload_curve(w, arch, caps, fusion_on=fused, mapspace=mapspace,
                                     cache=cache or None)
    keep = [c for c in df.columns if c == "capacity" or c == "tree" or c == "segments"
            or c.startswith(("occupancy", "accesses"))]
    out["fused" if fused else "unfused"] = {
        "seconds": time.perf_counter() - t, "cpu_s": time.process_time() - cpu,
        "leaf_solves": int(df.attrs["leaf_solves"]), "rounds": int(df.attrs["rounds"]),
        "rows": df[keep].astype(str).to_dict("records")}
    print(json.dumps(out), flush=True)
"""



def fa2_tree(w, arch, br: int = 128, bc: int = 64) -> Schedule:
    """FlashAttention-2's forward loop as a fused tree on the hierarchy: per head (its K and V
    kept in L2), query blocks of ``br`` rows (Q kept in SMEM, the running output AV in
    registers), key blocks of ``bc`` (the score block QK in registers); each leaf holds its tiles
    whole at every level. Its traffic into SMEM is FlashAttention-2's global-memory traffic
    (``fa2``) less the output and log-sum-exp writes, which leave from the registers."""
    tiles = w.size | {"h": 1, "m": br, "p": bc}
    where = {"Q": "SMEM", "AV": "RF", "QK": "RF"}
    kids = []
    for e in w.einsums:
        sub = fusion.sub_problem(e, tiles)
        res = frozenset(T.name for T in sub.tensors if T.name in {"Q", "K", "V", "AV", "QK"})
        inner = tuple((T.name, where[T.name]) for T in sub.tensors if T.name in where)
        _, r = invocations(w, e, tiles)
        kids.append(Leaf(e.name, LevelMapping.whole(sub, leaf_arch(arch, sub, res, r > 1, inner))))
    keys = Node("p", bc, (), tuple(kids), at=(("QK", "RF"),))
    queries = Node("m", br, ("Q", "AV"), (keys,), at=(("Q", "SMEM"), ("AV", "RF")))
    return Schedule((Node(None, 0, (), (Node("h", 1, ("K", "V"), (queries,)),)),))


def run(arch: str, tokens: int, caps: list[int], budget: int, mapspace: str,
        cache: bool = False) -> dict:
    """Both bounds, or what finished when the budget ran out (the fused one runs first)."""
    began = time.perf_counter()
    try:
        spec = json.dumps([arch, tokens, caps, mapspace, cache])
        proc = subprocess.run([sys.executable, "-c", CHILD, spec],
                              capture_output=True, text=True, timeout=budget, env=os.environ)
        lines, err = proc.stdout.strip().splitlines(), proc.stderr
        if proc.returncode:
            print(err[-3000:], file=sys.stderr)
    except subprocess.TimeoutExpired as stop:
        out = stop.stdout.decode() if isinstance(stop.stdout, bytes) else (stop.stdout or "")
        lines = out.strip().splitlines()
    got = json.loads(lines[-1]) if lines else {}
    got["wall"] = time.perf_counter() - began
    return got


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, nargs="+", default=[4096, 16384])
    ap.add_argument("--archs", nargs="+", default=["a100", "h100"], choices=sorted(L2_WORDS))
    ap.add_argument("--budget", type=int, default=900, help="seconds per (tokens, arch)")
    ap.add_argument("--mapspace", default="per_tensor/perfect",
                    help="leaves' mapspace, the default one unless given (both curves use it)")
    ap.add_argument("--no-real-l2", dest="real_l2", action="store_false",
                    help="only 1 MiB of L2 (the real size's search meets larger leaves)")
    ap.add_argument("--cache", action="store_true",
                    help="keep solved leaves on disk (BOUNDSOLVER_CACHE_DIR: MILP walks' "
                         "samples, enumerated staircases, the enumerator's refusals), so a run "
                         "stopped by its budget is resumed by the next one")
    ap.add_argument("--out", type=Path,
                    default=Path(__file__).parent / "results" / "gpu_attention.csv")
    args = ap.parse_args()
    table, wrong = [], []
    for n in args.tokens:
        # the hierarchy's fused DRAM column is the two-level fused curve (docs/fusion.md, "On
        # the hierarchy"): every two-level schedule runs with inner tiles of one element
        began = time.perf_counter()
        cpu = time.process_time()
        two = fused.solve_workload(bs.load_problem("attention", tokens=n), True, args.mapspace)
        two_s, two_cpu = time.perf_counter() - began, time.process_time() - cpu
        for arch in args.archs:
            caps = [SMALL_L2, L2_WORDS[arch]][:2 if args.real_l2 else 1]
            got = run(arch, n, caps, args.budget, args.mapspace, args.cache)
            flash = fa2(n, D)
            w, a = bs.load_problem("attention", tokens=n), bs.load_arch(arch)
            tree = fusion_levels.evaluate(w, fa2_tree(w, a), a)
            for i, cap in enumerate(caps):
                row = {"tokens": n, "arch": arch, "l2_words": cap, "load": os.getloadavg()[0],
                       "wall_s": round(got["wall"], 1), "fa2": flash,
                       "mapspace": args.mapspace, "dram_bound": two.value(cap),
                       "two_level_s": round(two_s, 1), "two_level_cpu_s": round(two_cpu, 1),
                       "fa2/dram_bound": flash / two.value(cap),
                       "fa2_tree_occupancy": tree.occupancy[0], "fa2_tree_dram": tree.dram,
                       "fa2_tree_smem": tree.accesses[1], "fa2_tree_rf": tree.accesses[2]}
                for kind in ("unfused", "fused"):
                    if kind not in got:
                        row[f"{kind}_s"] = f">{args.budget} (unfinished)"
                        continue
                    r = got[kind]["rows"][i]
                    row[f"{kind}_s"] = round(got[kind]["seconds"], 1)
                    row[f"{kind}_cpu_s"] = round(got[kind]["cpu_s"], 1)
                    row[f"{kind}_leaf_solves"] = got[kind]["leaf_solves"]
                    for col in sorted(c for c in r if c.startswith(("accesses", "occupancy"))):
                        row[f"{kind}_{col}"] = int(r[col]) if r[col] not in ("<NA>", "nan") \
                            else None
                    if kind == "fused":
                        row["fa2/fused_dram"] = flash / row["fused_accesses"]
                        row["fa2/fused_smem"] = flash / row["fused_accesses_SMEM"]
                        row["fused_dram==two_level"] = row["fused_accesses"] == row["dram_bound"]
                        if not row["fused_dram==two_level"]:
                            wrong.append((n, arch, cap, "DRAM column"))
                        key = [row[f"fused_accesses{c}"] for c in ("", "_SMEM", "_RF")]
                        fa2_key = [tree.dram, *tree.accesses[1:]]
                        row["fa2_tree/fused_smem"] = tree.accesses[1] / row["fused_accesses_SMEM"]
                        if tree.occupancy[0] <= cap and key > fa2_key:
                            wrong.append((n, arch, cap, "above FlashAttention-2's tree"))
                        print(f"--- {arch}, {n} tokens, L2 {cap:,} words: fused tree\n{r['tree']}")
                if "unfused" in got:
                    row["unfused/dram_bound"] = row["unfused_accesses"] / row["dram_bound"]
                table.append(row)
                print({k: v for k, v in row.items()}, flush=True)
    report(table, args.out)
    if wrong:  # after the CSV is written, so the rows stay to be read
        raise AssertionError(f"the fused rows are wrong at {wrong} (DRAM column: not the "
                             "two-level curve's; above FA2's tree: not a bound on an "
                             "attainable mapping)")


if __name__ == "__main__":
    main()
