"""Benchmark: ResNet-50 conv2_x on `a100` / `h100`, per-tensor joint bound by the placement MILP,
this checkout against another (``--old``, e.g. main before the windowed decomposition).

    python benchmarks/gpu_conv.py --old /work/main [--limit 30] [--extra] [--out ...csv]

Per conv, arch and L2 size: ``joint.solve(..., method="milp", placement="per_tensor",
time_limit=--limit)`` at that one size, in this process (this checkout) and in a fresh process
with only ``--old``'s package on the path; seconds, status and key of each, and whether the keys
agree where both are ``optimal``. One run, one machine: read the load (``uptime``) beside the
times (2 shared cores).
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

from common import report

import boundsolver as bs

CONVS = [("conv2_x 1x1 C=64 K=256 P=Q=56", dict(R=1, S=1, P=56, Q=56, C=64, K=256)),
         ("conv2_x 3x3 C=K=64 P=Q=56", dict(R=3, S=3, P=56, Q=56, C=64, K=64))]
CAPS = [2**16, 2**20, 2**23]
# --extra: the other ResNet-50 shapes (and one stride-2 conv; benchmarks/strided_gpu.py
# measures every stride-2 one through solve_curve's default route)
EXTRA = [("conv3_x 3x3 C=K=128 P=Q=28", dict(R=3, S=3, P=28, Q=28, C=128, K=128)),
         ("conv3_x 1x1 C=128 K=512 P=Q=28", dict(R=1, S=1, P=28, Q=28, C=128, K=512)),
         ("conv4_x 3x3 C=K=256 P=Q=14", dict(R=3, S=3, P=14, Q=14, C=256, K=256)),
         ("conv4_x 1x1 C=256 K=1024 P=Q=14", dict(R=1, S=1, P=14, Q=14, C=256, K=1024)),
         ("conv5_x 3x3 C=K=512 P=Q=7", dict(R=3, S=3, P=7, Q=7, C=512, K=512)),
         ("conv5_x 1x1 C=512 K=2048 P=Q=7", dict(R=1, S=1, P=7, Q=7, C=512, K=2048)),
         ("conv3_x 3x3 stride 2 C=K=128 P=Q=28", dict(R=3, S=3, P=28, Q=28, C=128, K=128,
                                                     Wstride=2, Hstride=2))]

_RUN = """
import json, sys, time
import boundsolver as bs
from boundsolver.curves import joint
sizes, arch, cap, limit = json.loads(sys.argv[1])
arch = bs.load_arch(arch)
began = time.perf_counter()
r = joint.solve(bs.conv(**sizes), arch, [cap], method="milp", placement="per_tensor",
                time_limit=limit).iloc[0]
cols = ["accesses"] + [f"accesses_{lv.name}" for lv in arch.on_chip]
key = [int(r[c]) for c in cols] if all(c in r and r[c] == r[c] for c in cols) else None
print(json.dumps({"s": time.perf_counter() - began, "status": str(r["status"]), "key": key,
                  "package": bs.__file__}))
"""


def run(checkout: Path | None, args: list, limit: float) -> dict:
    """One solve in a fresh process run from an empty folder (only ``checkout`` on the path,
    a cold cache of its own)."""
    with tempfile.TemporaryDirectory() as empty:
        env = dict(os.environ, PYTHONPATH=str(checkout.resolve()) if checkout else "",
                   BOUNDSOLVER_CACHE_DIR=str(Path(empty) / "cache"))
        try:
            out = subprocess.run([sys.executable, "-c", _RUN, json.dumps(args)], cwd=empty,
                                 env=env, capture_output=True, text=True, timeout=limit)
        except subprocess.TimeoutExpired:
            return {"s": limit, "status": "killed", "key": None}
    if out.returncode:
        return {"s": None, "status": "failed: " + out.stderr.strip().splitlines()[-1], "key": None}
    return json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", type=Path, required=True)
    ap.add_argument("--limit", type=float, default=30.0)
    ap.add_argument("--archs", nargs="+", default=["a100", "h100"])
    ap.add_argument("--extra", action="store_true",
                    help="the other ResNet-50 shapes instead, on the first arch at L2 = 2^20")
    ap.add_argument("--caps", nargs="+", type=int, default=CAPS, help="L2 sizes in words")
    ap.add_argument("--only", default="", help="cases whose name contains this")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "gpu_conv.csv")
    a = ap.parse_args()
    here = Path(bs.__file__).resolve().parent.parent
    rows = []
    plan = ([(name, sizes, a.archs[0], 2**20) for name, sizes in EXTRA] if a.extra else
            [(name, sizes, arch, cap) for name, sizes in CONVS for arch in a.archs
             for cap in a.caps])
    plan = [job for job in plan if a.only in job[0]]
    for name, sizes, arch, cap in plan:
        job = [sizes, arch, cap, a.limit]
        row = {"case": name, "arch": arch, "L2": cap, "load": os.getloadavg()[0]}
        new = run(here, job, 20 * a.limit)
        old = run(a.old, job, 20 * a.limit)
        row |= {"new_s": new["s"], "new_status": new["status"],
                "old_s": old["s"], "old_status": old["status"],
                "new_key": new["key"], "old_key": old["key"],
                "agree": (new["key"] == old["key"]) if "optimal" == new["status"]
                == old["status"] else None,
                "load_after": os.getloadavg()[0]}
        rows.append(row)
        print(f"  {row}", flush=True)
    report(rows, a.out)


if __name__ == "__main__":
    began = time.perf_counter()
    main()
    print(f"total {time.perf_counter() - began:.0f} s")
