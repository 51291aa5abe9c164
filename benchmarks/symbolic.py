"""What the symbolic model costs: building the MILPs from it, and writing it out.

    python benchmarks/symbolic.py [--out benchmarks/results/symbolic.csv] [--frontier] [cases...]

Per problem and mapspace: the classes the MILP solves; the time to build their formulations the
first time in this process (milp/formulation.py, its factors from model/symbolic.py's Terms,
which are then cached per problem) and the best of three later builds; the time to write every
class out as sympy expressions (``bs.expressions``, best of three); with ``--frontier`` the
MILP's whole Pareto frontier (``method="milp"``). All numbers of one table come from one run on
one machine.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from common import report

import boundsolver as bs
from boundsolver.milp.formulation import Formulation, NestFormulation
from boundsolver.model.mapspace import (
    Mapspace,
    distinct_classes,
    looping_ranks,
    mapspace_of,
    nest_classes,
    order_classes,
)
from boundsolver.model.symbolic import terms_of

CASES = {
    "gemm_4096^3": (lambda: bs.gemm(4096, 4096, 4096), "uniform/perfect"),
    "gemm_4096^3 per_tensor": (lambda: bs.gemm(4096, 4096, 4096), "per_tensor/perfect"),
    "gemm_1000^3 per_tensor imperfect": (lambda: bs.gemm(1000, 1000, 1000), "per_tensor/imperfect"),
    "conv3x3_P16_C64": (lambda: bs.conv(R=3, S=3, P=16, Q=16, C=64, K=64), "uniform/perfect"),
    "conv7x7_P112_stride2": (lambda: bs.conv(R=7, S=7, P=112, Q=112, C=3, K=64, Wstride=2,
                                             Hstride=2), "uniform/perfect"),
}


def formulations(problem: bs.Einsum, space: Mapspace) -> list:
    ranks = looping_ranks(problem)
    if space.is_orojenesis:
        return [Formulation(problem, c, ranks)
                for c in distinct_classes(problem, ranks, order_classes(problem, ranks))]
    return [NestFormulation(problem, c, space, ranks) for c in nest_classes(problem, ranks, space)]


def best_of(runs: int, fn) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def measure(name: str, frontier: bool) -> dict:
    make, mapspace = CASES[name]
    problem, space = make(), mapspace_of(mapspace)
    terms_of.cache_clear()
    first = best_of(1, lambda: formulations(problem, space))
    row = {"case": name, "mapspace": mapspace, "classes": len(formulations(problem, space)),
           "build_first_s": first, "build_best_s": best_of(3, lambda: formulations(problem, space)),
           "expressions_s": best_of(3, lambda: bs.expressions(problem, mapspace=space))}
    if frontier:
        t0 = time.perf_counter()
        front = bs.pareto_frontier(problem, mapspace=space, method="milp")
        row |= {"frontier_s": time.perf_counter() - t0, "breakpoints": len(front)}
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/symbolic.csv"))
    parser.add_argument("--frontier", action="store_true", help="also time the MILP frontier")
    parser.add_argument("names", nargs="*", help=f"cases (default all): {list(CASES)}")
    args = parser.parse_args()
    unknown = [n for n in args.names if n not in CASES]
    if unknown:
        parser.error(f"unknown cases {unknown}; choose from {list(CASES)}")
    formulations(bs.conv(R=3, P=4, C=2), mapspace_of(None))  # first use of sympy: its caches
    report([measure(n, args.frontier) for n in args.names or list(CASES)], args.out)


if __name__ == "__main__":
    main()
