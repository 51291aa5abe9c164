"""Benchmark: the per-tensor joint bound on temporal hierarchies, vectorised enumerator vs the MILP.

    python benchmarks/levels_enum.py [--milp-sizes 3] [--out benchmarks/results/levels_enum.csv]

Per case, ``joint.solve(..., placement="per_tensor")`` with ``method="auto"`` (which takes
reference/levelnest.py, the vectorised enumerator: one frontier answers every capacity) and
``method="milp"`` (placement.py's MILP, capacity by capacity; at most ``--milp-sizes`` of the
case's capacities, largest first, so its per-capacity time is what compares), in the same run.
Both must agree on every key column where both answered. With ``--direct``, also
``levelnest.frontier`` and the depth-first ``hierarchy.per_tensor_points`` called directly (the
whole frontier; "declined" / "too large" where they give up), e.g. for the convs, where
``--skip-auto`` leaves out ``joint.solve`` (the MILP behind "auto" can take hours on ResNet).
One run, one machine (2 shared cores: read the load beside the times).

With ``--resnet``, instead, ResNet-50-size convs (``RESNET``): levelnest.frontier of this
checkout (the whole staircase, read at each capacity), the same of another checkout
(``--old``, e.g. main before the reductions, in a fresh process with only that package on the
path), and the placement MILP under ``--milp-limit`` seconds at the largest capacity (its
status, value and proven bound beside levelnest's value there).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from common import report

import boundsolver as bs
from boundsolver.curves import joint
from boundsolver.errors import EnumerationTooLarge
from boundsolver.model.arch import Arch, Level
from boundsolver.reference import levelnest
from boundsolver.reference.hierarchy import per_tensor_points

DATA = Path(__file__).parent / "data"


def three(l1: int) -> Arch:
    return Arch("three_level", 8, (Level("DRAM"), Level("L2", sweep=True), Level("L1", l1)))


def four(l2: int, l1: int) -> Arch:
    return Arch("four_level", 8, (Level("DRAM"), Level("L3", sweep=True), Level("L2", l2),
                                  Level("L1", l1)))


def af_sizes(n: int) -> list[int]:
    """The distinct L2 sizes of AccelForge's three-level GEMM n^3 file (L1 = 64 words)."""
    af = pd.read_csv(DATA / f"accelforge_three_level_{n}x{n}x{n}_L1_64.csv")
    return sorted(set(af["l2_words"].tolist()))


def spatial(l1: int, multicast: bool) -> Arch:
    """AccelForge's spatial arch: DRAM -> L2 (swept) -> four L1 instances."""
    return Arch("af_spatial", 8, (Level("DRAM"), Level("L2", sweep=True),
                                  Level("L1", l1, instances=4, multicast=multicast)))


def af_spatial_sizes(n: int, l1: int, unicast: bool) -> list[int]:
    tag = "_unicast" if unicast else ""
    af = pd.read_csv(DATA / f"accelforge_spatial_{n}x{n}x{n}_L1_{l1}{tag}.csv")
    return sorted(set(af["l2_words"].tolist()))


CASES = [  # (name, problem, arch, capacities: None = the whole frontier)
    ("GEMM 8x4x6, L1=8, frontier", bs.gemm(8, 4, 6), three(8), None),
    ("GEMM 16^3, L1=64, AF sizes", bs.gemm(16, 16, 16), three(64), af_sizes(16)),
    ("GEMM 64^3, L1=64, AF sizes", bs.gemm(64, 64, 64), three(64), af_sizes(64)),
    ("GEMM 256^3, L1=64, AF sizes", bs.gemm(256, 256, 256), three(64), af_sizes(256)),
    ("GEMM 4096^3, L1=4096", bs.gemm(4096, 4096, 4096), three(4096), [2**22, 2**17]),
    ("GEMM 4^3, 4 levels L2=16 L1=4, frontier", bs.gemm(4, 4, 4), four(16, 4), None),
    ("spatial GEMM 32^3, 4 PEs L1=16, multicast, AF sizes", bs.gemm(32, 32, 32),
     spatial(16, True), af_spatial_sizes(32, 16, False)),
    ("spatial GEMM 32^3, 4 PEs L1=16, unicast, AF sizes", bs.gemm(32, 32, 32),
     spatial(16, False), af_spatial_sizes(32, 16, True)),
    ("spatial GEMM 256^3, 4 PEs L1=16, unicast, AF sizes", bs.gemm(256, 256, 256),
     spatial(16, False), af_spatial_sizes(256, 16, True)),
    ("simba GEMM 64^3, Fig. 24b sizes", bs.gemm(64, 64, 64), bs.load_arch("simba"),
     [128, 1024, 8192, 65536, 524288]),
    ("simba GEMM 256^3, Fig. 24b sizes", bs.gemm(256, 256, 256), bs.load_arch("simba"),
     [128, 1024, 8192, 65536, 524288]),
    ("simba GEMM 4096^3, Fig. 24b sizes", bs.gemm(4096, 4096, 4096), bs.load_arch("simba"),
     [128, 1024, 8192, 65536, 524288]),
    ("conv1d R=3 P=4 C=K=2, L1=8", bs.conv(R=3, P=4, C=2, K=2), three(8), [6, 12, 24]),
    ("conv1d R=3 P=8 C=K=8, L1=64", bs.conv(R=3, P=8, C=8, K=8), three(64), [96, 384, 1536]),
    ("ResNet conv 3x3 C=K=64 P=Q=14, L1=64", bs.conv(R=3, S=3, P=14, Q=14, C=64, K=64), three(64),
     [4096, 32768]),
]


def conv_sizes() -> list[int]:
    """AccelForge-like L2 sizes for the convs: those of its three-level GEMM 256^3 file."""
    return af_sizes(256)


RESNET = [  # (name, conv sizes, arch name, L2 capacities)
    ("ResNet-50 conv2_x 1x1 C=64 K=256 P=Q=56, L1=64", dict(R=1, S=1, P=56, Q=56, C=64, K=256),
     "three", conv_sizes()),
    ("ResNet 3x3 C=K=64 P=Q=14, L1=64", dict(R=3, S=3, P=14, Q=14, C=64, K=64), "three",
     conv_sizes()),
    ("ResNet-50 conv2_x 3x3 C=K=64 P=Q=56, L1=64", dict(R=3, S=3, P=56, Q=56, C=64, K=64),
     "three", conv_sizes()),
    ("ResNet-50 conv2_x 1x1 on a100", dict(R=1, S=1, P=56, Q=56, C=64, K=256), "a100",
     [2**16, 2**20, 2**23]),
    ("ResNet-50 conv2_x 3x3 on a100", dict(R=3, S=3, P=56, Q=56, C=64, K=64), "a100",
     [2**16, 2**20, 2**23]),
    ("ResNet-50 conv2_x 3x3 on simba", dict(R=3, S=3, P=56, Q=56, C=64, K=64), "simba",
     [128, 1024, 8192, 65536, 524288]),
    # the other ResNet-50 shapes on three levels (torchvision v1.5: the first block of conv3_x
    # to conv5_x has its stride 2 in the 3x3 conv)
    ("ResNet-50 conv3_x 3x3 C=K=128 P=Q=28, L1=64", dict(R=3, S=3, P=28, Q=28, C=128, K=128),
     "three", conv_sizes()),
    ("ResNet-50 conv3_x 3x3 stride 2, L1=64", dict(R=3, S=3, P=28, Q=28, C=128, K=128,
                                                  Wstride=2, Hstride=2), "three", conv_sizes()),
    ("ResNet-50 conv4_x 3x3 C=K=256 P=Q=14, L1=64", dict(R=3, S=3, P=14, Q=14, C=256, K=256),
     "three", conv_sizes()),
    ("ResNet-50 conv4_x 3x3 stride 2, L1=64", dict(R=3, S=3, P=14, Q=14, C=256, K=256,
                                                  Wstride=2, Hstride=2), "three", conv_sizes()),
    ("ResNet-50 conv5_x 3x3 C=K=512 P=Q=7, L1=64", dict(R=3, S=3, P=7, Q=7, C=512, K=512),
     "three", conv_sizes()),
    ("ResNet-50 conv5_x 3x3 stride 2, L1=64", dict(R=3, S=3, P=7, Q=7, C=512, K=512,
                                                  Wstride=2, Hstride=2), "three", conv_sizes()),
    ("ResNet-50 conv3_x 1x1 C=128 K=512 P=Q=28, L1=64", dict(R=1, S=1, P=28, Q=28, C=128, K=512),
     "three", conv_sizes()),
    ("ResNet-50 conv5_x 1x1 C=512 K=2048 P=Q=7, L1=64", dict(R=1, S=1, P=7, Q=7, C=512, K=2048),
     "three", conv_sizes()),
]


def resnet_arch(name: str) -> Arch:
    return three(64) if name == "three" else bs.load_arch(name)


_OLD = """
import json, sys, time
import boundsolver as bs
from boundsolver.model.arch import Arch, Level
from boundsolver.reference import levelnest
sizes, arch = json.loads(sys.argv[1]), sys.argv[2]
arch = (Arch("three_level", 8, (Level("DRAM"), Level("L2", sweep=True), Level("L1", 64)))
        if arch == "three" else bs.load_arch(arch))
began = time.perf_counter()
got = levelnest.frontier(bs.conv(**sizes), arch)
top = float(sys.argv[3]) if len(sys.argv) > 3 else None
key = None if got is None or top is None else \
    min(c.key for _, c, _ in got if c.occupancy[arch.swept_index] <= top)
print(json.dumps({"s": time.perf_counter() - began, "points": None if got is None else len(got),
                  "package": bs.__file__, "key": key}))
"""


def old_levelnest(checkout: Path, sizes: dict, arch: str, limit: float, top: int | None = None,
                  tag: str = "old") -> dict:
    """levelnest.frontier of another checkout, in a fresh process run from an empty folder
    (so that only that checkout's package is on the path); with ``top``, its key at that
    capacity too."""
    env = dict(os.environ, PYTHONPATH=str(checkout.resolve()))
    with tempfile.TemporaryDirectory() as empty:
        try:
            out = subprocess.run([sys.executable, "-c", _OLD, json.dumps(sizes), arch]
                                 + ([] if top is None else [str(top)]), cwd=empty,
                                 env=env, capture_output=True, text=True, timeout=limit)
        except subprocess.TimeoutExpired:
            return {f"{tag}_s": limit, tag: "timed out"}
    if out.returncode:
        return {tag: "failed: " + out.stderr.strip().splitlines()[-1]}
    got = json.loads(out.stdout)
    row = {f"{tag}_s": got["s"], tag: "declined" if got["points"] is None else
           f"{got['points']} points", f"{tag}_package": got["package"]}
    if got.get("key") is not None:
        row[f"{tag}_key_at_largest"] = tuple(got["key"])
    return row


def resnet(args) -> list[dict]:
    rows = []
    for name, sizes, arch_name, caps in [RESNET[i] for i in args.resnet_cases]:
        p, arch = bs.conv(**sizes), resnet_arch(arch_name)
        row = {"case": name, "capacities": len(caps), "load": os.getloadavg()[0]}
        top = max(caps)
        if args.new_limit:  # this checkout in a fresh process too, under a time limit
            row |= old_levelnest(Path(__file__).parents[1], sizes, arch_name, args.new_limit,
                                 top, "new")
            new = None
        else:
            began = time.perf_counter()
            new = levelnest.frontier(p, arch)
            row |= {"new_s": time.perf_counter() - began,
                    "new": "declined" if new is None else f"{len(new)} points"}
        if args.old:
            row |= old_levelnest(args.old, sizes, arch_name, args.old_limit, top)
        if new is not None:
            x = arch.swept_index
            row["new_key_at_largest"] = min(c.key for _, c, _ in new if c.occupancy[x] <= top)
        if args.milp_limit:
            began = time.perf_counter()
            milp = joint.solve(p, arch, [top], method="milp", placement="per_tensor",
                               time_limit=args.milp_limit).iloc[0]
            cols = ["accesses"] + [f"accesses_{lv.name}" for lv in arch.on_chip]
            key = tuple(int(milp[c]) for c in cols) if all(c in milp for c in cols) else None
            row |= {"milp_s": time.perf_counter() - began, "milp_status": milp["status"],
                    "milp_key": key, "milp_bound_of": milp.get("bound_of"),
                    "milp_bound": milp.get("best_bound")}
        row["load_after"] = os.getloadavg()[0]
        rows.append(row)
        print(f"  {row}", flush=True)
    return rows


def direct(p, arch) -> dict:
    """levelnest and the depth-first enumerator on the whole frontier, timed, and whether they
    agree where both answered."""
    began = time.perf_counter()
    new = levelnest.frontier(p, arch)
    row = {"levelnest_s": time.perf_counter() - began,
           "levelnest": "declined" if new is None else f"{len(new)} points"}
    began = time.perf_counter()
    try:
        old = per_tensor_points(p, arch)
    except EnumerationTooLarge:
        old = None
    row |= {"depth_first_s": time.perf_counter() - began,
            "depth_first": "too large" if old is None else f"{len(old)} points"}
    if new is not None and old is not None:
        x = arch.swept_index
        row["direct_agree"] = [(c.occupancy[x], c.key) for _, c, _ in new] == \
            [(c.occupancy[x], c.key) for _, c, _ in old]
    return row


def key(df: pd.DataFrame, arch: Arch) -> list[tuple]:
    cols = ["accesses"] + [f"accesses_{lv.name}" for lv in arch.on_chip]
    return [tuple(int(v) for v in r) for r in df[cols].values.tolist()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--milp-sizes", type=int, default=3,
                    help="capacities the MILP solves per case (largest first); 0: skip it")
    ap.add_argument("--cases", type=int, nargs="+", default=list(range(len(CASES))))
    ap.add_argument("--direct", action="store_true",
                    help="also time levelnest.frontier and per_tensor_points directly")
    ap.add_argument("--skip-auto", action="store_true", help="leave out joint.solve (auto)")
    ap.add_argument("--out", type=Path,
                    default=Path(__file__).parent / "results" / "levels_enum.csv")
    ap.add_argument("--resnet", action="store_true", help="the ResNet-size convs instead")
    ap.add_argument("--resnet-cases", type=int, nargs="+", default=list(range(len(RESNET))))
    ap.add_argument("--old", type=Path, help="another checkout whose levelnest to time beside")
    ap.add_argument("--old-limit", type=float, default=600, help="seconds for --old's run")
    ap.add_argument("--new-limit", type=float, default=0,
                    help="run this checkout's levelnest in a fresh process under this limit")
    ap.add_argument("--milp-limit", type=float, default=60,
                    help="seconds for the MILP at the largest capacity (--resnet); 0: skip it")
    args = ap.parse_args()
    if args.resnet:
        out = args.out.with_name("levels_enum_resnet.csv") if args.out.name == "levels_enum.csv" \
            else args.out
        report(resnet(args), out)
        return
    rows = []
    for name, p, arch, caps in [CASES[i] for i in args.cases]:
        row = {"case": name, "load": os.getloadavg()[0]}
        if args.direct:
            row |= direct(p, arch)
        if args.skip_auto:
            rows.append(row)
            print(f"  {row}", flush=True)
            continue
        began = time.perf_counter()
        fast = joint.solve(p, arch, caps, placement="per_tensor")
        t_fast = time.perf_counter() - began
        row |= {"capacities": len(caps) if caps else len(fast),
                "auto_method": fast.attrs["method"], "auto_s": t_fast}
        if args.milp_sizes:
            sub = None if caps is None else sorted(caps, reverse=True)[:args.milp_sizes]
            began = time.perf_counter()
            milp = joint.solve(p, arch, sub, method="milp", placement="per_tensor")
            t_milp = time.perf_counter() - began
            n = len(sub) if sub else len(milp)
            mine = fast if caps is None else fast.set_index("capacity").loc[sub].reset_index()
            row |= {"milp_capacities": n, "milp_s": t_milp, "milp_s_per_capacity": t_milp / n,
                    "agree": key(mine, arch) == key(milp, arch)}
        rows.append(row)
        print(f"  {name}: auto {t_fast:.2f} s" + (f", milp {row['milp_s']:.1f} s"
                                                   if args.milp_sizes else ""), flush=True)
    report(rows, args.out)


if __name__ == "__main__":
    main()
