"""FlashAttention's HBM traffic against the exact fused bound (docs/fusion.md, "FlashAttention on GPUs").

Attention as GPT-3 6.7B has it (32 heads, head dimension 128), in fp16 words (FlashAttention's
type): ``S[m,p,h] += Q[m,h,e] * K[p,h,e]`` then ``O[m,h,f] += S[m,p,h] * V[p,h,f]`` (the softmax is
elementwise here, as in the packaged problems; FlashAttention's running max and sum add 2 words per
query row, counted in its formulas below). Two levels: HBM and one on-chip buffer whose capacity is
one of the GPU's on-chip levels (one SM's shared memory: any kernel whose reuse goes through
private per-SM buffers moves at least the bound at that capacity, since running the SMs' work one
after another on one SM is a schedule with the same traffic; or the L2). For each sequence length
and capacity the table gives the fused and unfused bounds and FlashAttention's traffic:

* ``fa1``: Algorithm 1 of Dao et al. 2022 as written, block sizes ``Bc = ceil(M/4d)``,
  ``Br = min(Bc, d)`` for an on-chip size of M words: O, l, m initialised in HBM
  (``Nd + 2N``), K and V read once (``2Nd``), and per outer iteration (``Tc = ceil(N/Bc)``) Q and O
  read, O written (``3Nd``), l and m read and written (``4N``); per head.
* ``fa2``: FlashAttention-2's forward loop order (Q blocks outer, K/V blocks inner) with
  ``Br = 128`` query rows per thread block, its choice for d = 128 on A100/H100: Q read and O
  written once (``2Nd``), the log-sum-exp written (``N``), K and V read once per query block
  (``2Nd * ceil(N/Br)``); per head. Its tiles (Q, and double-buffered K and V blocks of 64 rows)
  fit every shared memory listed.

Run: ``python benchmarks/flash_attention.py [--tokens 4096 16384]``. Writes
benchmarks/results/flash_attention.csv. ``--paper``: the bound at the shapes of the paper's measured
traffic instead (:func:`paper`; benchmarks/results/flash_attention_paper.csv).
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

from common import report

import boundsolver as bs
from boundsolver.curves import fused

HEADS, D = 32, 128
WORD = 2  # bytes per fp16 word
CAPACITIES = {  # on-chip bytes -> fp16 words
    "a100 SMEM (164 KiB/SM)": 164 * 1024 // WORD,
    "h100 SMEM (228 KiB/SM)": 228 * 1024 // WORD,
    "a100 L2 (40 MiB)": 40 * 2**20 // WORD,
    "h100 L2 (50 MiB)": 50 * 2**20 // WORD,
}


def attention(tokens: int) -> bs.Workload:
    return bs.workload(["S[m,p,h] += Q[m,h,e] * K[p,h,e]", "O[m,h,f] += S[m,p,h] * V[p,h,f]"],
                       name=f"attention_{tokens}", word_bits=16, m=tokens, p=tokens, h=HEADS, e=D, f=D)


def fa1(n: int, d: int, m: int) -> int:
    """HBM words of FlashAttention's Algorithm 1 for all heads at on-chip size ``m`` words."""
    bc = math.ceil(m / (4 * d))
    tc = math.ceil(n / bc)
    return HEADS * (n * d + 2 * n + 2 * n * d + tc * (3 * n * d + 4 * n))


def fa2(n: int, d: int, br: int = 128) -> int:
    """HBM words of FlashAttention-2's forward pass (query blocks of ``br`` rows), all heads."""
    return HEADS * (2 * n * d + n + 2 * n * d * math.ceil(n / br))


def paper(out: Path) -> None:
    """The shapes of Dao et al. 2022's measured HBM traffic (Figure 2 left: forward plus backward
    of GPT-2 medium on an A100, 1024 tokens, head dimension 64, 16 heads, batch 64; 4.4 GB for
    FlashAttention, 40.3 GB for standard attention). The forward pass's fused and unfused bounds
    at one A100 SM's shared memory (batch x heads as one rank: both are independent), each tree
    re-costed in integers, and the backward pass's compulsory traffic (Q, K, V, O, dO and the
    log-sum-exp read, dQ, dK, dV written: every algorithm moves at least that; its Einsums are
    not modelled here). Two kernels, so their bounds add."""
    n, d, bh = 1024, 64, 16 * 64
    w = bs.workload(["S[m,p,h] += Q[m,h,e] * K[p,h,e]", "O[m,h,f] += S[m,p,h] * V[p,h,f]"],
                    name="attention_gpt2_medium", word_bits=16, m=n, p=n, h=bh, e=d, f=d)
    cap = CAPACITIES["a100 SMEM (164 KiB/SM)"]
    began = time.process_time()
    sols = {on: fused.solve_workload(w, on) for on in (True, False)}
    fwd, unfused = sols[True].value(cap), sols[False].value(cap)
    cost = bs.model.fusion.evaluate(w, sols[True].schedule(cap))
    assert cost.accesses == fwd and cost.occupancy <= cap
    bwd = 8 * n * d * bh + n * bh
    row = {"words": cap, "fwd_fused_bound": fwd, "fwd_unfused_bound": unfused,
           "bwd_compulsory": bwd, "bound_GB": (fwd + bwd) * WORD / 1e9,
           "paper_flash_GB": 4.4, "paper/bound": 4.4e9 / ((fwd + bwd) * WORD),
           "paper_standard_GB": 40.3, "fwd_unfused_GB": unfused * WORD / 1e9,
           "cpu_s": time.process_time() - began}
    print(sols[True].schedule(cap).tree(w))
    report([row], out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, nargs="+", default=[4096, 16384])
    ap.add_argument("--paper", action="store_true",
                    help="only the shapes of the paper's measured traffic (paper())")
    args = ap.parse_args()
    if args.paper:
        return paper(Path(__file__).parent / "results" / "flash_attention_paper.csv")
    rows = []
    for n in args.tokens:
        w = attention(n)
        sols = {}
        for on in (True, False):
            began = time.perf_counter()
            sols[on] = fused.solve_workload(w, on)
            sols[on].seconds = time.perf_counter() - began
        for label, cap in CAPACITIES.items():
            bound, unfused = sols[True].value(cap), sols[False].value(cap)
            schedule = sols[True].schedule(cap)
            cost = bs.model.fusion.evaluate(w, schedule)  # re-costed in integers
            assert cost.accesses == bound and cost.occupancy <= cap
            f1, f2 = fa1(n, D, cap), fa2(n, D)
            rows.append({"tokens": n, "capacity": label, "words": cap, "fused_bound": bound,
                         "unfused_bound": unfused, "unfused/fused": unfused / bound,
                         "fa1": f1, "fa1/bound": f1 / bound, "fa2": f2, "fa2/bound": f2 / bound,
                         "bound_GB": bound * WORD / 1e9, "fa2_GB": f2 * WORD / 1e9,
                         "fused_s": sols[True].seconds, "unfused_s": sols[False].seconds,
                         "tree": schedule.describe(w)})
            print({k: v for k, v in rows[-1].items() if k != "tree"}, flush=True)
            print(schedule.tree(w), flush=True)
    report([{k: v for k, v in r.items() if k != "tree"} for r in rows],
           Path(__file__).parent / "results" / "flash_attention.csv")


if __name__ == "__main__":
    main()
