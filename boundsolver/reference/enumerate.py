"""The exhaustive reference: every perfect tiling, the best loop order of each by dynamic programming.

For a fixed tiling, the cost of an order only depends, for each tensor, on its innermost relevant loop
``j`` and the set of loops above it. Building the order from the innermost loop outwards, a tensor's
cost is fixed the moment its first relevant rank is placed, so a DP over the set of placed ranks finds
the best of all orders exactly. Ranks of size 1 never loop and are left out. The DP runs vectorised
over all tilings at once; the frontier's mappings are then rebuilt and re-checked with ``cost.evaluate``.
"""

from __future__ import annotations

import math
import time
from functools import cache
from itertools import permutations, product

import numpy as np
import pandas as pd

from ..errors import EnumerationTooLarge
from ..model.cost import Cost, Mapping, Nest, best_order, evaluate, moved
from ..model.einsum import Einsum, Tensor
from ..model.mapspace import Mapspace, divisors, mapspace_of, storage_groups, tile_sizes, windowed_ranks
from ..model.results import frame, point_row, staircase
from . import fastnest

DEFAULT_LIMIT = 20_000_000  # tilings x 2^ranks x ranks: a few seconds of numpy work
NEST_LIMIT = 200_000  # tilings x segments, evaluated in Python: up to a minute


def mapspace_size(problem: Einsum) -> int:
    """Number of (tiling, order of looping ranks) pairs, an upper bound on distinct mappings."""
    ranks = [d for d, n in problem.sizes if n > 1]
    return math.prod(len(divisors(problem.size[d])) for d in ranks) * math.factorial(len(ranks))


def tiling_count(problem: Einsum) -> int:
    """How many perfect tilings the Orojenesis enumerator visits (one tile per looping rank)."""
    return math.prod(len(divisors(n)) for _, n in problem.sizes if n > 1)


def _work(problem: Einsum) -> int:
    ranks = [d for d, n in problem.sizes if n > 1]
    return tiling_count(problem) * (2 ** len(ranks)) * max(len(ranks), 1)


def _window_sweep(problem: Einsum, tensor: Tensor, rank: str, t: dict, f: dict):
    """``tile + (f_j - 1) * delta``: what one full sweep of loop ``rank`` moves (model.md)."""
    tile = math.prod(a.extent(t) for a in tensor.axes)
    axis = tensor.axis_of(rank)
    ext = axis.extent(t)
    delta = tile // ext * np.minimum(axis.coef(rank) * t[rank], ext)
    return tile + (f[rank] - 1) * delta


def _tilings(problem: Einsum, ranks: list[str], dtype) -> tuple[dict, dict]:
    grids = np.meshgrid(*[np.array(divisors(problem.size[d]), dtype=dtype) for d in ranks],
                        indexing="ij")
    t = {d: g.ravel() for d, g in zip(ranks, grids)}
    for d, n in problem.sizes:
        if n == 1:
            t[d] = np.ones(1, dtype=dtype)
    f = {d: problem.size[d] // t[d] for d in problem.ranks}
    return t, f


def best_accesses(problem: Einsum, limit: int = DEFAULT_LIMIT):
    """For every perfect tiling: (tiles, occupancy, least accesses over all loop orders)."""
    if _work(problem) > limit:
        raise EnumerationTooLarge(
            f"enumerating {problem.name or problem} needs about {_work(problem):.3g} steps, over the "
            f"limit of {limit:.3g}; use the MILP (solve_curve / pareto_frontier) or raise limit=")
    ranks = [d for d, n in problem.sizes if n > 1]
    bound = sum(2 * problem.tensor_size(T) for T in problem.tensors) * problem.macs
    dtype = np.int64 if bound < 2**62 else object  # Python ints past int64: slow but exact
    t, f = _tilings(problem, ranks, dtype)
    n_tilings = len(next(iter(t.values()))) if ranks else 1
    weight = {T.name: 2 if T is problem.output else 1 for T in problem.tensors}
    occupancy = sum(math.prod(a.extent(t) for a in T.axes) for T in problem.tensors)
    occupancy = np.broadcast_to(occupancy, (n_tilings,))
    relevant = {T.name: [d for d in ranks if d in T.ranks] for T in problem.tensors}
    base = sum(weight[T.name] * problem.tensor_size(T) for T in problem.tensors
               if not relevant[T.name])
    sweep = {(T.name, d): weight[T.name] * _window_sweep(problem, T, d, t, f)
             for T in problem.tensors for d in relevant[T.name]}
    full = (1 << len(ranks)) - 1
    above = {}  # product of f over the ranks *not* in mask
    for mask in range(full + 1):
        above[mask] = math.prod((f[d] for i, d in enumerate(ranks) if not mask >> i & 1),
                                start=np.ones(n_tilings, dtype=dtype))
    best: dict[int, np.ndarray] = {0: np.full(n_tilings, base, dtype=dtype)}
    for mask in range(full + 1):  # masks in increasing order: every subset before its supersets
        if mask not in best:
            continue
        for i, d in enumerate(ranks):
            if mask >> i & 1:
                continue
            new = mask | 1 << i
            cost = best[mask].copy()
            for T in problem.tensors:
                rel = relevant[T.name]
                if d in rel and not any(mask >> ranks.index(e) & 1 for e in rel):
                    cost = cost + above[new] * sweep[(T.name, d)]
            best[new] = cost if new not in best else np.minimum(best[new], cost)
    accesses = best[full] - problem.tensor_size(problem.output)
    return ranks, t, occupancy, accesses


def enumerate_frontier(problem: Einsum, limit: int = DEFAULT_LIMIT,
                       mapspace: Mapspace | str | None = None) -> pd.DataFrame:
    """Every breakpoint of the staircase, by exhaustive enumeration (the reference).

    The Orojenesis mapspace (default) is enumerated vectorised; the extended mapspaces by the
    vectorised class enumeration of fastnest.py, or where it refuses by the nest enumerator
    (:func:`enumerate_nests`, small problems); see :func:`frontier_points` for ``limit``.
    """
    mapspace = mapspace_of(mapspace)
    start = time.perf_counter()
    rows = [point_row(problem, mapping, cost)
            for mapping, cost in frontier_points(problem, mapspace, limit)]
    elapsed = time.perf_counter() - start
    for r in rows:
        r["solve_seconds"] = elapsed / max(len(rows), 1)
    extra = {} if mapspace.is_orojenesis else {"mapspace": str(mapspace)}
    return frame(problem, rows, capacity=False, method="enumeration", seconds=elapsed, **extra)


def _staircase(occupancy: np.ndarray, accesses: np.ndarray) -> list[int]:
    """:func:`results.staircase` of the tilings' points, vectorised where they are int64 (a
    large GEMM has millions of tilings: sorting them as Python tuples took a quarter of the
    enumeration). Both sorts are stable, so equal points keep the first tiling alike."""
    if occupancy.dtype == object or accesses.dtype == object:
        return staircase(list(zip(occupancy.tolist(), accesses.tolist())))
    order = np.lexsort((accesses, occupancy))
    acc = accesses[order]
    keep = np.ones(len(order), dtype=bool)
    keep[1:] = acc[1:] < np.minimum.accumulate(acc)[:-1]
    return order[keep].tolist()


def _frontier(problem: Einsum, limit: int = DEFAULT_LIMIT) -> list[tuple[Mapping, Cost]]:
    ranks, t, occupancy, accesses = best_accesses(problem, limit)
    occupancy = np.asarray(occupancy)
    points = list(zip(occupancy.tolist(), accesses.tolist()))
    out = []
    for i in _staircase(occupancy, np.asarray(accesses)):
        tiles = {d: int(t[d][i]) if d in ranks else 1 for d in problem.ranks}
        mapping = Mapping(tuple(tiles.items()), best_order(problem, tiles))
        cost = evaluate(problem, mapping)
        if (cost.occupancy, cost.accesses) != points[i]:
            raise AssertionError(f"enumerator disagrees with cost model at {mapping}: "
                                 f"{points[i]} vs {(cost.occupancy, cost.accesses)}")
        out.append((mapping, cost))
    return out


def frontier_points(problem: Einsum, mapspace: Mapspace | str | None = None,
                    limit: int = DEFAULT_LIMIT) -> list[tuple[Mapping | Nest, Cost]]:
    """The staircase's mappings and costs, by enumeration, in increasing occupancy.

    The extended mapspaces take the vectorised class enumeration of fastnest.py (milliseconds
    for GEMMs and convolutions); where it refuses (int64 overflow, too much work) the nest
    enumerator below. An explicit ``limit`` bounds the mapspace in the nest enumerator's steps
    whichever enumerator runs, so that callers choosing small problems by it (the tests' MILP
    references) keep choosing the same ones.
    """
    mapspace = mapspace_of(mapspace)
    if mapspace.is_orojenesis:
        return _frontier(problem, limit)
    if limit != DEFAULT_LIMIT:
        _check_nest_work(problem, mapspace, limit)
    points = fastnest.frontier(problem, mapspace)
    if points is not None:
        return points
    return _nest_frontier(problem, mapspace, NEST_LIMIT if limit == DEFAULT_LIMIT else limit)


def mapping_cloud(problem: Einsum, limit: int = 200_000) -> pd.DataFrame:
    """Every mapping (tiling x order of its looping ranks) as (occupancy, accesses), deduplicated."""
    from itertools import permutations, product

    size = mapspace_size(problem)
    if size > limit:
        raise EnumerationTooLarge(f"{problem.name or problem} has {size:.3g} "
                                  f"mappings, over the cloud limit of {limit:.3g}")
    ranks = problem.ranks
    seen = set()
    for tiles in product(*(divisors(problem.size[d]) for d in ranks)):
        tile = tuple(zip(ranks, tiles))
        looping = [d for d, t in tile if problem.size[d] // t > 1]
        for order in permutations(looping):
            cost = evaluate(problem, Mapping(tile, order), check=False)
            seen.add((cost.occupancy, cost.accesses))
    return pd.DataFrame(sorted(seen), columns=["occupancy", "accesses"])


# ------------------------------------------------------------------------------ extended mapspaces

def _chains(n: int, imperfect: bool, k: int) -> list[tuple[int, ...]]:
    """Tile sequences over boundaries 1..k: candidate sizes, each deeper one dividing the one above."""
    sizes = tile_sizes(n, imperfect)
    chains = [(t,) for t in sizes]
    for _ in range(k - 1):
        chains = [c + (t,) for c in chains for t in sizes if c[-1] % t == 0]
    return chains


def enumerate_nests(problem: Einsum, mapspace: Mapspace, limit: int = NEST_LIMIT) -> pd.DataFrame:
    """Every breakpoint over the nests of an extended mapspace (docs/mapspaces.md), exhaustively.

    For every storage grouping and every nested tiling, each segment's loop order is the best of
    all permutations of its iterating ranks for the tensors stored right below it. Nests in which
    such a tensor has no iterating relevant loop in that segment are skipped: the same tensor
    stored one group higher gives the same cost and is enumerated there.
    """
    start = time.perf_counter()
    rows = [point_row(problem, nest, cost) for nest, cost in _nest_frontier(problem, mapspace, limit)]
    elapsed = time.perf_counter() - start
    for r in rows:
        r["solve_seconds"] = elapsed / max(len(rows), 1)
    return frame(problem, rows, capacity=False, method="enumeration", seconds=elapsed,
                 mapspace=str(mapspace))


@cache
def _chain_count(n: int, imperfect: bool, k: int) -> int:
    """``len(_chains(n, imperfect, k))`` without listing them."""
    sizes = tile_sizes(n, imperfect)
    ends = dict.fromkeys(sizes, 1)
    for _ in range(k - 1):
        ends = {t: sum(c for u, c in ends.items() if u % t == 0) for t in sizes}
    return sum(ends.values())


def _check_nest_work(problem: Einsum, mapspace: Mapspace, limit: int) -> None:
    """Raises where the nest enumerator would refuse ``limit`` (its count of steps)."""
    imperfect = mapspace.factors == "imperfect"
    windowed = windowed_ranks(problem)
    ranks = [d for d, n in problem.sizes if n > 1]
    work = 0
    for groups in storage_groups(len(problem.tensors), mapspace.placement == "per_tensor"):
        k = len(groups) - 1
        work += math.prod(_chain_count(problem.size[d], imperfect and d not in windowed, k)
                          for d in ranks) * max(k, 1)
    if work > limit:
        raise EnumerationTooLarge(f"enumerating the {mapspace} mapspace of {problem.name or problem} "
                                  f"needs about {work:.3g} steps, over the limit of {limit:.3g}")


def _nest_frontier(problem: Einsum, mapspace: Mapspace, limit: int) -> list[tuple[Nest, Cost]]:
    imperfect = mapspace.factors == "imperfect"
    windowed = windowed_ranks(problem)
    ranks = [d for d, n in problem.sizes if n > 1]
    size = problem.size
    tensors = problem.tensors
    work, plans = 0, []
    for groups in storage_groups(len(tensors), mapspace.placement == "per_tensor"):
        k = len(groups) - 1
        chains = [_chains(size[d], imperfect and d not in windowed, k) for d in ranks]
        count = math.prod(len(c) for c in chains) * max(k, 1)
        work += count
        plans.append((groups, chains))
    if work > limit:
        raise EnumerationTooLarge(f"enumerating the {mapspace} mapspace of {problem.name or problem} "
                                  f"needs about {work:.3g} steps, over the limit of {limit:.3g}")
    points: dict[tuple[int, int], Nest] = {}
    for groups, chains in plans:
        k = len(groups) - 1
        storage = tuple((T.name, next(b for b, g in enumerate(groups) if i in g))
                        for i, T in enumerate(tensors))
        for combo in product(*chains):
            levels = tuple(tuple((d, combo[ranks.index(d)][b] if d in ranks else 1)
                                 for d in problem.ranks) for b in range(k))
            nest = _best_orders(problem, groups, levels, storage, canonical=k > 1 or bool(groups[0]))
            if nest is None:
                continue
            cost = evaluate(problem, nest, check=False)
            key = (cost.occupancy, cost.accesses)
            points.setdefault(key, nest)
    keys = list(points)
    return [(points[keys[i]], evaluate(problem, points[keys[i]], imperfect=imperfect))
            for i in staircase(keys)]


def _best_orders(problem: Einsum, groups, levels, storage, canonical: bool) -> Nest | None:
    """The nest with each segment ordered best for its group; None if ``canonical`` is asked for
    and some tensor has no iterating relevant loop right above it."""
    size = problem.size
    orders: list[tuple[str, ...]] = [()] * len(levels)
    for s in range(len(levels)):
        above = size if s == 0 else dict(levels[s - 1])
        below = dict(levels[s])
        looping = [d for d in problem.ranks if below[d] < above[d]]
        group = [problem.tensors[i] for i in groups[s + 1]]
        if canonical and any(not any(d in T.ranks for d in looping) for T in group):
            return None
        best = None
        for order in permutations(looping):
            orders[s] = order
            nest = Nest(levels, tuple(orders), storage)
            cost = sum(moved(problem, T, nest) * (2 if T is problem.output else 1) for T in group)
            if best is None or cost < best[0]:
                best = (cost, order)
        orders[s] = best[1]
    return Nest(levels, tuple(orders), storage)


# -------------------------------------------------------------------------------------- workloads

def enumerate_workload(workload, fusion: bool = True, mapspace=None, max_depth: int = 3,
                       limit: int = 2_000_000, prune: bool = True, split_ranks: bool = False):
    """Every breakpoint of a workload's fused (or unfused) staircase by brute force over loop
    trees (the reference for :mod:`fused`; small workloads only). See :mod:`treeref`."""
    from .treeref import enumerate_workload as brute

    return brute(workload, fusion, mapspace, max_depth, limit, prune, split_ranks)
