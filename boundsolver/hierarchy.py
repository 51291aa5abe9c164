"""The exact joint bound of a multi-level hierarchy, by exhaustive enumeration (the reference).

A mapping of an Einsum onto a hierarchy (arch.py) is a :class:`~boundsolver.nest.Nest` with one
storage boundary per on-chip level, outermost first: every rank's tile at each level divides the
one above, each segment of loops between two levels runs in its own order, and every tensor is
stored at each level that keeps it (the others bypass it). ``nest.evaluate_levels`` costs it in
Python integers. The objective is lexicographic: least backing-store traffic, then least traffic
into the next level inwards, and so on, with every fixed level's capacity respected and the swept
level's occupancy as the curve's x axis.

Unlike reading the one-buffer curve at each level's capacity (the Orojenesis paper's reading,
valid but possibly loose), one mapping has to attain every level's value at once. This module
enumerates every such nest (small problems only), the reference; ``levels.py`` is the exact MILP
of the same bound for problems of any size (``method="milp"``; "auto" enumerates where that is
small). Spatial fanout (``instances > 1``) is not modelled yet and is refused.
"""

from __future__ import annotations

import math
import time
from itertools import permutations, product

import pandas as pd

from .arch import Arch, ArchError
from .cost import divisors, op_intensity
from .einsum import Einsum
from .errors import EnumerationTooLarge
from .nest import LevelCost, Nest, evaluate_levels

LIMIT = 300_000  # nests evaluated in Python: about half a minute


def check(problem: Einsum, arch: Arch) -> None:
    """Refuse what the hierarchy model does not cover yet, naming the level."""
    for lv in arch.on_chip:
        if lv.instances > 1:
            raise ArchError(f"level {lv.name!r} of {arch.name} has {lv.instances} instances: "
                            "spatial fanout is not modelled yet (temporal hierarchies only)")
    for T in problem.tensors:
        if not any(lv.keeps_tensor(problem, T) for lv in arch.on_chip):
            raise ArchError(f"no on-chip level of {arch.name} keeps {T.name}; every tensor needs "
                            "a level to be read from (the MACs read no backing store directly)")


def _chains(n: int, k: int) -> list[tuple[int, ...]]:
    """Every tile sequence over k boundaries: divisors of n, each dividing the one above."""
    chains = [(t,) for t in divisors(n)]
    for _ in range(k - 1):
        chains = [c + (t,) for c in chains for t in divisors(c[-1])]
    return chains


def nests(problem: Einsum, arch: Arch, limit: int = LIMIT):
    """Every nest of ``problem`` on ``arch``'s on-chip levels (perfect factors)."""
    k = len(arch.on_chip)
    ranks = list(problem.ranks)
    storage = tuple((T.name, b) for T in problem.tensors
                    for b, lv in enumerate(arch.on_chip, start=1) if lv.keeps_tensor(problem, T))
    chains = [_chains(problem.size[d], k) for d in ranks]
    work = 0
    for combo in product(*chains):
        levels = [{d: combo[i][b] for i, d in enumerate(ranks)} for b in range(k)]
        tops = [problem.size] + levels
        looping = [[d for d in ranks if tops[s][d] > levels[s][d]] for s in range(k)]
        work += math.prod(math.factorial(len(x)) for x in looping)
        if work > limit:
            raise EnumerationTooLarge(f"enumerating {problem.name or problem} on {arch.name} "
                                      f"needs over {limit:,} nests; only small problems")
        frozen = tuple(tuple(lv.items()) for lv in levels)
        for orders in product(*(permutations(x) for x in looping)):
            yield Nest(frozen, tuple(orders), storage)


def fits(cost: LevelCost, arch: Arch) -> bool:
    """Every level with a fixed capacity holds its tiles."""
    return all(lv.capacity is None or occ <= lv.capacity
               for lv, occ in zip(arch.on_chip, cost.occupancy))


def frontier_points(problem: Einsum, arch: Arch, limit: int = LIMIT) -> list[tuple[Nest, LevelCost]]:
    """The staircase over the swept level's occupancy: each point's objective vector is
    lexicographically below that of every point of smaller or equal occupancy. Without a
    swept level, the one lexicographically least point."""
    check(problem, arch)
    swept = next((b for b, lv in enumerate(arch.on_chip) if lv.sweep), None)
    best: dict[int, tuple[tuple[int, ...], Nest, LevelCost]] = {}
    for nest in nests(problem, arch, limit):
        cost = evaluate_levels(problem, nest)
        if not fits(cost, arch):
            continue
        x = cost.occupancy[swept] if swept is not None else 0
        if x not in best or cost.key < best[x][0]:
            best[x] = (cost.key, nest, cost)
    out, record = [], None
    for x in sorted(best):
        key, nest, cost = best[x]
        if record is None or key < record:
            out.append((nest, cost))
            record = key
    return out


def work(problem: Einsum, arch: Arch, limit: int = LIMIT) -> int:
    """The nests ``nests`` would evaluate, counted up to just past ``limit`` (cheap)."""
    k = len(arch.on_chip)
    ranks = list(problem.ranks)
    total = 0
    for combo in product(*(_chains(problem.size[d], k) for d in ranks)):
        tops = [problem.size] + [{d: combo[i][b] for i, d in enumerate(ranks)} for b in range(k)]
        total += math.prod(math.factorial(sum(tops[s][d] > tops[s + 1][d] for d in ranks))
                           for s in range(k))
        if total > limit:
            break
    return total


def frame(problem: Einsum, arch: Arch, points: list[tuple[Nest, LevelCost]],
          capacities: list[int] | None = None, seconds: float = 0.0,
          method: str = "enumeration", solver: str | None = None) -> pd.DataFrame:
    """Rows in words: ``occupancy`` (the swept level's), ``accesses`` (the backing store's),
    ``occupancy_<level>`` and ``accesses_<level>`` (into that level from its parent) for every
    on-chip level, and the mapping as a readable multi-level nest."""
    swept = next((b for b, lv in enumerate(arch.on_chip) if lv.sweep), None)

    def row(nest: Nest, cost: LevelCost) -> dict:
        r = {"occupancy": cost.occupancy[swept] if swept is not None else None,
             "accesses": cost.dram, "status": "optimal",
             "op_intensity": op_intensity(problem, cost.dram)}
        for lv, occ, acc in zip(arch.on_chip, cost.occupancy, cost.accesses):
            r[f"occupancy_{lv.name}"] = occ
            r[f"accesses_{lv.name}"] = acc
        r["mapping"] = nest.describe(problem)
        return r

    if capacities is None:
        rows = [row(n, c) for n, c in points]
    else:
        rows = []
        for cap in capacities:
            fit = [(n, c) for n, c in points if swept is None or c.occupancy[swept] <= cap]
            rows.append({"capacity": cap} | (row(*fit[-1]) if fit else {"status": "infeasible"}))
    df = pd.DataFrame(rows)
    for c in df.columns:
        if c == "capacity" or c.startswith(("occupancy", "accesses")):
            df[c] = df[c].astype("Int64")
    df.attrs |= {"problem": str(problem), "name": problem.name, "unit": "words",
                 "arch": arch.name, "levels": [lv.name for lv in arch.levels],
                 "method": method, "seconds": seconds,
                 "objective": "lexicographic: backing-store traffic, then each level inwards"}
    if solver is not None:
        df.attrs["solver"] = solver
    return df


METHODS = ("milp", "enumerate", "auto")


def solve(problem: Einsum, arch: Arch, capacities: list[int] | None = None,
          limit: int = LIMIT, method: str | None = None, solver: str = "highs") -> pd.DataFrame:
    """The joint frontier (``capacities=None``) or its value at each capacity of the swept level.

    ``method``: "enumerate" (this module), "milp" (levels.py) or "auto" (the default:
    enumeration where it evaluates at most ``limit`` nests, else the MILP)."""
    method = "auto" if method is None else method
    if method not in METHODS:
        raise ArchError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    check(problem, arch)
    if method == "auto":
        method = "enumerate" if work(problem, arch, limit) <= limit else "milp"
    began = time.perf_counter()
    if method == "enumerate":
        points = frontier_points(problem, arch, limit)
        return frame(problem, arch, points, capacities, time.perf_counter() - began)
    from .levels import LevelSolver

    ls = LevelSolver(problem, arch, solver)
    points = [(p.nest, p.cost) for p in milp_points(ls, capacities)]
    return frame(problem, arch, points, capacities, time.perf_counter() - began, "milp", ls.solver)


def milp_points(ls, capacities: list[int] | None = None) -> list:
    """The MILP's staircase points (``LevelSolver.walk``), or with ``capacities`` the points
    answering them: a point solved at capacity S with swept occupancy o answers all of [o, S]."""
    if capacities is None or ls.swept is None:
        return ls.walk()
    found: dict[int, object] = {}
    covered: list[tuple[int, int]] = []
    for cap in sorted(set(capacities), reverse=True):
        if any(lo <= cap <= hi for lo, hi in covered):
            continue
        point = ls.joint(cap)
        if point is None:
            break  # smaller capacities are infeasible too
        occ = point.values[ls.swept]
        found[occ] = point
        covered.append((occ, cap))
    return [found[o] for o in sorted(found)]
