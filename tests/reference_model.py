"""model.md's closed form for one Orojenesis mapping, kept apart from the package as the
independent reference for ``cost.evaluate`` (which costs a Mapping as a one-boundary nest through
the same core as every other nest; test_model.py checks the two agree).

Written from model.md, "Accesses": L is the outer loops with more than one iteration, outermost
first, and j the innermost of them over a rank of the tensor. None: the tensor is moved once.
Else ``moved = (prod of f above j) * (tile + (f_j - 1) * delta)``, delta the whole tile except
along a sliding axis that j advances, where consecutive tiles overlap and only the new part is
fetched. Inputs are read ``moved`` words; the output is written ``moved`` and read back
``moved - |O|`` (first-read elision).
"""

from __future__ import annotations

import math

from boundsolver.model.einsum import Einsum, Tensor


def moved(problem: Einsum, tensor: Tensor, tiles: dict[str, int], order: tuple[str, ...]) -> int:
    """Words of ``tensor`` moved between backing store and buffer (model.md, 'Accesses')."""
    f = {d: n // tiles[d] for d, n in problem.sizes}
    tile = tensor.footprint(tiles)
    loops = [d for d in order if f[d] > 1]
    relevant = [i for i, d in enumerate(loops) if d in tensor.ranks]
    if not relevant:
        return tile
    j = relevant[-1]
    above = math.prod(f[d] for d in loops[:j])
    rank = loops[j]
    axis = tensor.axis_of(rank)
    ext = axis.extent(tiles)
    # Consecutive tiles along a sliding axis overlap; only the new part is fetched.
    delta = tile // ext * min(axis.coef(rank) * tiles[rank], ext)
    return above * (tile + (f[rank] - 1) * delta)


def cost(problem: Einsum, tiles: dict[str, int], order: tuple[str, ...]
         ) -> tuple[int, int, dict[str, int], dict[str, int]]:
    """(occupancy, accesses, reads per tensor, writes per tensor) of one mapping."""
    occupancy = sum(T.footprint(tiles) for T in problem.tensors)
    reads = {T.name: moved(problem, T, tiles, order) for T in problem.inputs}
    out = problem.output
    written = moved(problem, out, tiles, order)
    reads[out.name] = written - problem.tensor_size(out)
    writes = {out.name: written}
    return occupancy, sum(reads.values()) + written, reads, writes
