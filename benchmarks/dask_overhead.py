"""Benchmark: every ResNet-50 layer's frontier, serially, on a local process pool, and on Dask.

    python benchmarks/dask_overhead.py [--workers 2] [--out benchmarks/results/dask_overhead.csv]
                                       [--methods milp auto] [names...]

The layers (batch 1, torchvision's ResNet-50 v1.5: the stride sits in the 3x3 convs and the 1x1
downsamples; each distinct shape once) are built by hand with ``bs.conv``/``bs.gemm`` below. Their
frontiers are solved by ``bs.solve_curves`` (per ``--methods``: ``milp``, the default of
``solve_curves``, where conv1 alone takes most of the time; ``auto``, enumeration here, where
every layer takes under a second and start-up dominates) three ways, every time with no cache:

* ``serial``: one problem after another in this process,
* ``process_pool``: a ``concurrent.futures.ProcessPoolExecutor`` of ``--workers`` processes,
* ``dask``: a ``distributed.LocalCluster`` of ``--workers`` worker processes (one thread each),
  through ``Client.get_executor()``.

Per way: ``startup_s`` (starting the pool or cluster, and shutting it down; a process pool
starts its processes at the first submit, inside ``solve_s``), ``solve_s`` (the ``solve_curves``
call), ``total_s``, ``speedup`` (serial total / total), ``overhead`` (total /
process-pool total: what Dask costs over a plain pool) and ``same_frames`` (every frame equal to
the serial one, timing columns aside). All timings of one table come from one run on one machine.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd
from common import report

import boundsolver as bs
from boundsolver.curves.methods import METHODS

# name: (R=S, P=Q output size, C, K, stride); the fully connected layer is a GEMM.
CONVS = {
    "conv1_7x7/2": (7, 112, 3, 64, 2),
    "l1_1x1_64_64": (1, 56, 64, 64, 1),
    "l1_3x3_64_64": (3, 56, 64, 64, 1),
    "l1_1x1_64_256": (1, 56, 64, 256, 1),  # also the first downsample
    "l1_1x1_256_64": (1, 56, 256, 64, 1),
    "l2_1x1_256_128": (1, 56, 256, 128, 1),
    "l2_3x3_128_128/2": (3, 28, 128, 128, 2),
    "l2_1x1_128_512": (1, 28, 128, 512, 1),
    "l2_down_1x1_256_512/2": (1, 28, 256, 512, 2),
    "l2_1x1_512_128": (1, 28, 512, 128, 1),
    "l2_3x3_128_128": (3, 28, 128, 128, 1),
    "l3_1x1_512_256": (1, 28, 512, 256, 1),
    "l3_3x3_256_256/2": (3, 14, 256, 256, 2),
    "l3_1x1_256_1024": (1, 14, 256, 1024, 1),
    "l3_down_1x1_512_1024/2": (1, 14, 512, 1024, 2),
    "l3_1x1_1024_256": (1, 14, 1024, 256, 1),
    "l3_3x3_256_256": (3, 14, 256, 256, 1),
    "l4_1x1_1024_512": (1, 14, 1024, 512, 1),
    "l4_3x3_512_512/2": (3, 7, 512, 512, 2),
    "l4_1x1_512_2048": (1, 7, 512, 2048, 1),
    "l4_down_1x1_1024_2048/2": (1, 7, 1024, 2048, 2),
    "l4_1x1_2048_512": (1, 7, 2048, 512, 1),
    "l4_3x3_512_512": (3, 7, 512, 512, 1),
}


def layers() -> dict[str, bs.Einsum]:
    out = {name: bs.conv(R=r, S=r, P=p, Q=p, C=c, K=k, Wstride=s, Hstride=s)
           for name, (r, p, c, k, s) in CONVS.items()}
    out["fc_2048_1000"] = bs.gemm(1, 2048, 1000)
    return out


def same(frames: list[pd.DataFrame], serial: list[pd.DataFrame]) -> bool:
    try:
        for got, want in zip(frames, serial, strict=True):
            pd.testing.assert_frame_equal(got.drop(columns=["solve_seconds"]),
                                          want.drop(columns=["solve_seconds"]))
    except AssertionError:
        return False
    return True


def measure(chosen: dict[str, bs.Einsum], method: str, workers: int) -> list[dict]:
    problems = list(chosen.values())
    kw = dict(cache=False, progress=False, method=method)

    t0 = time.perf_counter()
    serial = []
    for name, p in chosen.items():
        t = time.perf_counter()
        serial += bs.solve_curves([p], **kw)  # one problem: solved in this process
        print(f"{method:5s} {name:26s} {len(serial[-1]):3d} breakpoints "
              f"{time.perf_counter() - t:7.2f} s", flush=True)
    serial_s = time.perf_counter() - t0
    rows = [dict(method=method, way="serial", workers=1, layers=len(problems), startup_s=0.0,
                 solve_s=serial_s, total_s=serial_s, same_frames=True)]

    t0 = time.perf_counter()
    pool = ProcessPoolExecutor(workers)
    t1 = time.perf_counter()
    frames = bs.solve_curves(problems, executor=pool, **kw)
    t2 = time.perf_counter()
    pool.shutdown()
    t3 = time.perf_counter()
    rows.append(dict(method=method, way="process_pool", workers=workers, layers=len(problems),
                     startup_s=(t1 - t0) + (t3 - t2), solve_s=t2 - t1, total_s=t3 - t0,
                     same_frames=same(frames, serial)))

    from distributed import Client, LocalCluster

    # Worker processes import this checkout's package even when it is not installed.
    root = str(Path(bs.__file__).resolve().parents[1])
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    t0 = time.perf_counter()
    cluster = LocalCluster(n_workers=workers, processes=True, threads_per_worker=1,
                           dashboard_address=None, silence_logs=logging.ERROR)
    client = Client(cluster)
    t1 = time.perf_counter()
    frames = bs.solve_curves(problems, executor=client.get_executor(), **kw)
    t2 = time.perf_counter()
    client.close()
    cluster.close()
    t3 = time.perf_counter()
    rows.append(dict(method=method, way="dask_local_cluster", workers=workers, layers=len(problems),
                     startup_s=(t1 - t0) + (t3 - t2), solve_s=t2 - t1, total_s=t3 - t0,
                     same_frames=same(frames, serial)))

    pool_total = rows[1]["total_s"]
    for row in rows:
        row["speedup"] = serial_s / row["total_s"]
        row["overhead"] = row["total_s"] / pool_total
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help="layer names (default: all)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--methods", nargs="+", default=["milp", "auto"],
                    choices=METHODS)
    ap.add_argument("--out", type=Path,
                    default=Path(__file__).parent / "results" / "dask_overhead.csv")
    args = ap.parse_args()
    chosen = {n: p for n, p in layers().items() if not args.names or n in args.names}
    rows = []
    for method in args.methods:
        rows += measure(chosen, method, args.workers)
    report(rows, args.out)


if __name__ == "__main__":
    main()
