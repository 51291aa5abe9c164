"""Benchmark: the joint multi-level bound's time against levels, problem size and mapspace.

    python benchmarks/levels.py [--cases gemm_a100 three_level_256 ...] [--time-limit 30]
                                [--out benchmarks/results/levels.csv]

Every case runs twice on one machine in one run: the default mapspace (no ``mapspace=``:
per-tensor placement within every level, ``joint.DEFAULT_MAPSPACE``) and
``mapspace="uniform/perfect"`` (Timeloop's), both with ``method="auto"`` (the default), each
through ``bs.solve_curve`` at the case's capacities:

* ``gemm_a100``: GEMM 4096^3 on ``a100`` (DRAM -> L2 swept -> SMEM x108 -> RF), 32 L2 sizes from
  64 Ki words to twice the algorithmic minimum (benchmarks/gpu_levels.py's);
* ``three_level_256``: GEMM 256^3 on AccelForge's three-level arch (L1 = 64 words) at the L2
  sizes of its run (benchmarks/data/accelforge_three_level_256x256x256_L1_64.csv);
* ``simba_conv2_x``: ResNet-50 conv2_x 3x3 (C = K = 64, P = Q = 56) on ``simba`` at Fig. 24b's
  five global-buffer sizes (uniform with ``--time-limit``: its MILP proves no size in minutes);
* ``bert_simba`` / ``bert_a100``: a BERT-base layer's GEMMs (128 tokens: 128x768x768 for Q, K,
  V and the output projection, 128x768x3072 for the FFN) at Fig. 24b's sizes / 8 L2 sizes;
* ``conv2_x_a100``: ResNet-50 conv2_x 1x1 (C = 64, K = 256) and 3x3 on ``a100``, 3 L2 sizes,
  both mapspaces with ``--time-limit`` seconds per capacity.

Where no limit is given the per-tensor default is the library's (``joint.DEFAULT_TIME_LIMIT``
per capacity where "auto" takes the MILP). A row per case and mapspace: levels, MACs,
capacities, seconds, how many rows are ``optimal`` / ``time_limit`` / ``infeasible``, the
method, and for the default how many capacities it is strictly below uniform (lexicographic
key). Prints the table, writes the CSV.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from common import report

import boundsolver as bs
from boundsolver.report.reproduce import _fig24b_words

DATA = Path(__file__).parent / "data"


def gpu_caps(problem, count: int) -> list[int]:
    top = 2 * sum(problem.tensor_size(T) for T in problem.tensors)
    return np.unique(np.geomspace(65536, top, count).astype(int)).tolist()


def af_caps() -> list[int]:
    frame = pd.read_csv(DATA / "accelforge_three_level_256x256x256_L1_64.csv", comment="#")
    return sorted({int(x) for x in frame["l2_words"]})


def cases(limit: float) -> dict:
    """name -> [(label, problem, arch, capacities, time limit or None for both mapspaces)]"""
    simba = bs.load_arch("simba")
    fig24b = _fig24b_words(simba, quick=False)[1]
    conv3 = bs.conv(R=3, S=3, P=56, Q=56, C=64, K=64)
    conv1 = bs.conv(P=56, Q=56, C=64, K=256)
    qkv, ffn = bs.gemm(128, 768, 768), bs.gemm(128, 768, 3072)
    gemm = bs.gemm(4096, 4096, 4096)
    a100 = bs.load_arch("a100")
    three = bs.load_arch("three_level", L1=64)  # AccelForge's run: DRAM, L2 swept, L1 64 words
    return {
        "gemm_a100": [("GEMM 4096^3", gemm, a100, gpu_caps(gemm, 32), None)],
        "three_level_256": [("GEMM 256^3", bs.gemm(256, 256, 256), three, af_caps(), None)],
        "simba_conv2_x": [("ResNet-50 conv2_x 3x3", conv3, simba, fig24b, {"uniform": limit})],
        "bert_simba": [("BERT 128x768x768", qkv, simba, fig24b, None),
                       ("BERT 128x768x3072", ffn, simba, fig24b, None)],
        "bert_a100": [("BERT 128x768x768", qkv, a100, gpu_caps(qkv, 8), None),
                      ("BERT 128x768x3072", ffn, a100, gpu_caps(ffn, 8), None)],
        "conv2_x_a100": [("ResNet-50 conv2_x 1x1", conv1, a100, gpu_caps(conv1, 3),
                          {"uniform": limit, "default": limit}),
                         ("ResNet-50 conv2_x 3x3", conv3, a100, gpu_caps(conv3, 3),
                          {"uniform": limit, "default": limit})],
    }


def key(row, cols) -> tuple | None:
    return None if row["status"] != "optimal" else tuple(int(row[c]) for c in cols)


def run(label, problem, arch, caps, limits) -> list[dict]:
    out, curves = [], {}
    for space in ("default", "uniform"):
        limit = (limits or {}).get(space)
        kwargs = ({} if space == "default" else {"mapspace": "uniform/perfect"}) | (
            {} if limit is None else {"time_limit": limit})
        began = time.perf_counter()
        curve = bs.solve_curve(problem, caps, arch=arch, **kwargs)
        seconds = time.perf_counter() - began
        curves[space] = curve
        status = curve["status"].value_counts()
        out.append({"case": label, "arch": arch.name, "levels": len(arch.levels),
                    "macs": problem.macs if hasattr(problem, "macs") else None,
                    "mapspace": curve.attrs["mapspace"] + (" (default)" if space == "default"
                                                           else ""),
                    "method": curve.attrs.get("method"), "time_limit": limit,
                    "capacities": len(caps), "seconds": round(seconds, 1),
                    "optimal": int(status.get("optimal", 0)),
                    "time_limit_rows": int(status.get("time_limit", 0)),
                    "infeasible": int(status.get("infeasible", 0))})
        print(f"  {label} on {arch.name}, {curve.attrs['mapspace']}: {seconds:.1f} s", flush=True)
    cols = ["accesses"] + [f"accesses_{lv.name}" for lv in arch.on_chip]
    pairs = [(key(d, cols), key(u, cols)) for (_, d), (_, u) in
             zip(curves["default"].iterrows(), curves["uniform"].iterrows())]
    out[0]["below_uniform"] = sum(1 for d, u in pairs if d and u and d < u)
    out[0]["above_uniform"] = sum(1 for d, u in pairs if d and u and d > u)  # must be 0
    return out


def main() -> None:
    names = list(cases(30.0))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", nargs="+", default=names, choices=names)
    ap.add_argument("--time-limit", type=float, default=30.0,
                    help="seconds per capacity where a case names a limit")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "levels.csv")
    args = ap.parse_args()
    table = cases(args.time_limit)
    rows = []
    for name in args.cases:
        for label, problem, arch, caps, limits in table[name]:
            rows.extend(run(label, problem, arch, caps, limits))
    report(rows, args.out)


if __name__ == "__main__":
    main()
