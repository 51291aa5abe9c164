"""Benchmark: ResNet-50's stride-2 convs on `a100` / `h100`, the default (per-tensor) joint bound
through ``bs.solve_curve`` at L2 = 2^16, 2^20, 2^23 words, this checkout against another
(``--old``, e.g. main before strided windows in the decomposition).

    python benchmarks/strided_gpu.py --old /work/main [--old-cases 0 1] [--old-archs a100]
                                     [--out benchmarks/results/strided_gpu.csv]

Per conv and arch: ``bs.solve_curve(conv, [2**16, 2**20, 2**23], arch=...)`` with the library's
defaults (``method="auto"``, ``joint.DEFAULT_TIME_LIMIT`` per capacity where it takes the MILP),
in a fresh process run from an empty folder with one checkout on the path and a cold cache;
seconds, the rows' statuses and keys (DRAM, then each on-chip level), and whether the keys
agree where both are ``optimal``. ``--old-cases`` / ``--old-archs``: which the other checkout
runs (its MILP takes up to 60 s a size there). One run, one machine: the load (``uptime``) is
in each row (2 shared cores).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
from pathlib import Path

from common import report, run_fresh

# (label, conv sizes): the first 3x3 of conv3_x..conv5_x (stride on the 3x3, torchvision's
# ResNet-50 v1.5) and each stage's 1x1 stride-2 downsample
CONVS = [("conv3_x 3x3 s2 C=K=128 P=Q=28", dict(R=3, S=3, P=28, Q=28, C=128, K=128)),
         ("conv3_x 1x1 s2 C=256 K=512 P=Q=28", dict(P=28, Q=28, C=256, K=512)),
         ("conv4_x 3x3 s2 C=K=256 P=Q=14", dict(R=3, S=3, P=14, Q=14, C=256, K=256)),
         ("conv4_x 1x1 s2 C=512 K=1024 P=Q=14", dict(P=14, Q=14, C=512, K=1024)),
         ("conv5_x 3x3 s2 C=K=512 P=Q=7", dict(R=3, S=3, P=7, Q=7, C=512, K=512)),
         ("conv5_x 1x1 s2 C=1024 K=2048 P=Q=7", dict(P=7, Q=7, C=1024, K=2048))]
CAPS = [2**16, 2**20, 2**23]

_RUN = """
import json, sys, time
import boundsolver as bs
sizes, arch, caps = json.loads(sys.argv[1])
arch = bs.load_arch(arch)
began = time.perf_counter()
c = bs.solve_curve(bs.conv(**sizes, Wstride=2, Hstride=2), caps, arch=arch)
cols = ["accesses"] + [f"accesses_{lv.name}" for lv in arch.on_chip]
keys = [[int(r[k]) for k in cols] if all(r[k] == r[k] for k in cols) else None
        for _, r in c.iterrows()]
print(json.dumps({"s": time.perf_counter() - began, "status": [str(s) for s in c["status"]],
                  "keys": keys, "package": bs.__file__}))
"""


def load() -> float:
    return os.getloadavg()[0]


def run(checkout: Path, args: list, limit: float) -> dict:
    """One solve_curve in a fresh process from an empty folder (only ``checkout`` on the path,
    a cold cache of its own; ``common.run_fresh``)."""
    return run_fresh(checkout, _RUN, args, limit)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", type=Path, required=True)
    ap.add_argument("--archs", nargs="+", default=["a100", "h100"])
    ap.add_argument("--cases", nargs="+", type=int, default=list(range(len(CONVS))))
    ap.add_argument("--old-cases", nargs="+", type=int, default=[0, 1])
    ap.add_argument("--old-archs", nargs="+", default=["a100"])
    ap.add_argument("--out", type=Path,
                    default=Path(__file__).parent / "results" / "strided_gpu.csv")
    args = ap.parse_args()
    here = Path(__file__).resolve().parent.parent
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here,
                            capture_output=True, text=True).stdout.strip()
    rows = []
    for arch in args.archs:
        for k in args.cases:
            label, sizes = CONVS[k]
            before = load()
            new = run(here, [sizes, arch, CAPS], 900)
            row = {"new_commit": commit, "case": label, "arch": arch, "load": round(before, 2),
                   "new_s": None if new["s"] is None else round(new["s"], 1),
                   "new_status": "/".join(new["status"])}
            if arch in args.old_archs and k in args.old_cases:
                old = run(args.old, [sizes, arch, CAPS], 900)
                row |= {"old_s": None if old["s"] is None else round(old["s"], 1),
                        "old_status": "/".join(old["status"]), "old_keys": json.dumps(old["keys"]),
                        "agree": all(a == b for a, b, sa, sb in zip(
                            new["keys"] or [], old["keys"] or [], new["status"], old["status"])
                            if sa == sb == "optimal")}
            row |= {"new_keys": json.dumps(new["keys"]), "load_after": round(load(), 2)}
            rows.append(row)
            print(row, flush=True)
    report(rows, args.out)


if __name__ == "__main__":
    main()
