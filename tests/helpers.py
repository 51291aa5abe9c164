"""Independent references for the tests: a brute force over every mapping, frontier lookups."""

from __future__ import annotations

import math
from itertools import permutations, product

import boundsolver as bs
from boundsolver.cost import divisors


def brute_frontier(problem: bs.Einsum) -> list[tuple[int, int]]:
    """The staircase by evaluating every tiling under every order of the looping ranks."""
    ranks = problem.ranks
    points = {}
    for tiles in product(*(divisors(problem.size[d]) for d in ranks)):
        tile = dict(zip(ranks, tiles))
        looping = [d for d in ranks if problem.size[d] // tile[d] > 1]
        best = min(bs.evaluate(problem, bs.Mapping(tuple(tile.items()), order)).accesses
                   for order in permutations(looping))
        occ = sum(t.footprint(tile) for t in problem.tensors)
        points[occ] = min(points.get(occ, math.inf), best)
    stairs, low = [], math.inf
    for occ in sorted(points):
        if points[occ] < low:
            stairs.append((occ, points[occ]))
            low = points[occ]
    return stairs


def mapspace(problem: bs.Einsum) -> int:
    looping = [d for d, n in problem.sizes if n > 1]
    return math.prod(len(divisors(problem.size[d])) for d in looping) * math.factorial(len(looping))


def points(frame) -> list[tuple[int, int]]:
    return [(int(o), int(a)) for o, a in zip(frame["occupancy"], frame["accesses"])]


def lookup(stairs: list[tuple[int, int]], capacity: int) -> int | None:
    """Least accesses at ``capacity`` on a staircase; None below its first occupancy."""
    fit = [a for o, a in stairs if o <= capacity]
    return min(fit) if fit else None


def touched(problem: bs.Einsum, tensor) -> int:
    """Words of ``tensor`` that some iteration really reads (a strided window may skip some)."""
    count = 1
    for axis in tensor.axes:
        values = {0}
        for term in axis.terms:
            values = {v + term.coef * i for v in values for i in range(problem.size[term.rank])}
        count *= len(values)
    return count
