"""Benchmark: every distinct ResNet-50 conv and BERT-base GEMM on `simba` at Fig. 24b's sizes.

    python benchmarks/simba_sweep.py [--quick] [--only conv3_3x3s2 fc ...]
                                     [--out benchmarks/results/simba_sweep.csv]

Issue 20 asks for exact per-tensor bounds at full size on `simba` (weights bypass the global
buffer). Each layer runs the default ``solve_curve`` (per-tensor placement, method "auto", its
default time limit per capacity) at Fig. 24b's five global-buffer sizes (0.125 .. 512 KB of
8-bit words). Rows: the layer, its shape, how many sizes are ``optimal``, the seconds, the
1-minute load average when it ended (``os.getloadavg``, 2 cores shared here: compare rows of
one run only), and for each size not proven its status, the stage left open (``bound_of``),
the proven bound and the best mapping found. ``--quick``: four layers (a 1x1, a 3x3, a strided
3x3, a BERT GEMM). The CSV is rewritten after every layer, so a cut run keeps its rows.

The layers: ResNet-50 v1.5 at batch 1, 224x224 (benchmarks/resnet50.py's model: the 7x7 stem,
the bottlenecks' 1x1 and 3x3 convs with the stride on the 3x3, the strided 1x1 projections,
the fc), each distinct shape once; BERT-base at 128 tokens (benchmarks/levels.py's): the
Q/K/V/output projections 128x768x768, the FFN's 128x768x3072 and 128x3072x768.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import pandas as pd
from common import report

import boundsolver as bs

SIZES = [128, 1024, 8192, 65536, 524288]  # Fig. 24b: 0.125 .. 512 KB of 8-bit words


def _conv(k: int, c: int, m: int, p: int, stride: int = 1):
    return lambda: bs.conv(R=k, S=k, P=p, Q=p, C=c, K=m, Hstride=stride, Wstride=stride)


# name -> (shape, problem); ResNet-50's distinct convs by stage, then its fc and BERT's GEMMs
LAYERS = {
    "conv1_7x7s2": ("7x7/2 C3 K64 P112", _conv(7, 3, 64, 112, 2)),
    "conv2_1x1a": ("1x1 C64 K64 P56", _conv(1, 64, 64, 56)),
    "conv2_3x3": ("3x3 C64 K64 P56", _conv(3, 64, 64, 56)),
    "conv2_1x1b": ("1x1 C64 K256 P56", _conv(1, 64, 256, 56)),
    "conv2_1x1c": ("1x1 C256 K64 P56", _conv(1, 256, 64, 56)),
    "conv3_1x1a0": ("1x1 C256 K128 P56", _conv(1, 256, 128, 56)),
    "conv3_3x3s2": ("3x3/2 C128 K128 P28", _conv(3, 128, 128, 28, 2)),
    "conv3_1x1b": ("1x1 C128 K512 P28", _conv(1, 128, 512, 28)),
    "conv3_projs2": ("1x1/2 C256 K512 P28", _conv(1, 256, 512, 28, 2)),
    "conv3_1x1a": ("1x1 C512 K128 P28", _conv(1, 512, 128, 28)),
    "conv3_3x3": ("3x3 C128 K128 P28", _conv(3, 128, 128, 28)),
    "conv4_1x1a0": ("1x1 C512 K256 P28", _conv(1, 512, 256, 28)),
    "conv4_3x3s2": ("3x3/2 C256 K256 P14", _conv(3, 256, 256, 14, 2)),
    "conv4_1x1b": ("1x1 C256 K1024 P14", _conv(1, 256, 1024, 14)),
    "conv4_projs2": ("1x1/2 C512 K1024 P14", _conv(1, 512, 1024, 14, 2)),
    "conv4_1x1a": ("1x1 C1024 K256 P14", _conv(1, 1024, 256, 14)),
    "conv4_3x3": ("3x3 C256 K256 P14", _conv(3, 256, 256, 14)),
    "conv5_1x1a0": ("1x1 C1024 K512 P14", _conv(1, 1024, 512, 14)),
    "conv5_3x3s2": ("3x3/2 C512 K512 P7", _conv(3, 512, 512, 7, 2)),
    "conv5_1x1b": ("1x1 C512 K2048 P7", _conv(1, 512, 2048, 7)),
    "conv5_projs2": ("1x1/2 C1024 K2048 P7", _conv(1, 1024, 2048, 7, 2)),
    "conv5_1x1a": ("1x1 C2048 K512 P7", _conv(1, 2048, 512, 7)),
    "conv5_3x3": ("3x3 C512 K512 P7", _conv(3, 512, 512, 7)),
    "fc": ("GEMM 1x2048x1000", lambda: bs.gemm(1, 2048, 1000)),
    "bert_qkvo": ("GEMM 128x768x768", lambda: bs.gemm(128, 768, 768)),
    "bert_ffn1": ("GEMM 128x768x3072", lambda: bs.gemm(128, 768, 3072)),
    "bert_ffn2": ("GEMM 128x3072x768", lambda: bs.gemm(128, 3072, 768)),
}
QUICK = ["conv2_1x1a", "conv2_3x3", "conv3_3x3s2", "bert_qkvo"]


def _open(curve: pd.DataFrame) -> str:
    """Each size not proven: size, status, the open stage, its proven bound and best found."""
    out = []
    for _, r in curve.iterrows():
        if r["status"] != "optimal":
            bound, inc = r.get("best_bound"), r.get("incumbent")
            out.append(f"{int(r['capacity'])}: {r['status']} {r.get('bound_of', '')} "
                       f"[{'-' if pd.isna(bound) else f'{int(bound):,}'}, "
                       f"{'-' if pd.isna(inc) else f'{int(inc):,}'}]")
    return "; ".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    which = ap.add_mutually_exclusive_group()
    which.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK)}")
    which.add_argument("--only", nargs="+", choices=list(LAYERS), help="these layers")
    ap.add_argument("--out", type=Path,
                    default=Path(__file__).parent / "results" / "simba_sweep.csv")
    args = ap.parse_args()
    names = args.only or (QUICK if args.quick else list(LAYERS))
    arch = bs.load_arch("simba")
    rows = []
    for name in names:
        shape, make = LAYERS[name]
        began = time.perf_counter()
        curve = bs.solve_curve(make(), SIZES, arch=arch)
        seconds = time.perf_counter() - began
        proven = int((curve["status"] == "optimal").sum())
        rows.append({"layer": name, "shape": shape, "optimal": f"{proven}/{len(SIZES)}",
                     "seconds": seconds, "load": os.getloadavg()[0],
                     "dram": " ".join(f"{int(v):,}" if pd.notna(v) else "-"
                                      for v in curve["accesses"]),
                     "not optimal [bound, best]": _open(curve)})
        print(f"  {name} ({shape}): {proven}/{len(SIZES)} optimal, {seconds:.1f} s", flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame(rows).to_csv(args.out, index=False)
    report(rows, args.out)


if __name__ == "__main__":
    main()
