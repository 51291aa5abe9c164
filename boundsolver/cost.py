"""The one place that evaluates a concrete mapping, in Python integers (model.md, Timeloop semantics).

A mapping splits every rank ``d`` as ``N_d = f_d * t_d`` (``t_d`` the buffer tile) and orders the
outer loops. Only loops with ``f_d > 1`` matter; the rest may appear anywhere or not at all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .einsum import Einsum, Tensor
from .errors import EinsumError


@dataclass(frozen=True, slots=True)
class Mapping:
    """Tile size per rank and the outer loop order (outermost first)."""

    tiles: tuple[tuple[str, int], ...]
    order: tuple[str, ...]

    @property
    def tile(self) -> dict[str, int]:
        return dict(self.tiles)

    def loops(self, problem: Einsum) -> tuple[str, ...]:
        """The outer loops that matter: those with more than one iteration, outermost first."""
        t = self.tile
        return tuple(d for d in self.order if problem.size[d] // t[d] > 1)

    def describe(self, problem: Einsum) -> str:
        """A readable loop nest, e.g. ``for n in [0,4): for m in [0,2): buffer{m:2048,k:4096,n:1024}``."""
        t = self.tile
        outer = " ".join(f"for {d} in [0,{problem.size[d] // t[d]}):" for d in self.loops(problem))
        inner = ",".join(f"{d}:{t[d]}" for d in problem.ranks)
        return f"{outer} buffer{{{inner}}}".strip()


@dataclass(frozen=True, slots=True)
class Cost:
    """Occupancy and backing-store traffic of one mapping, in words."""

    occupancy: int
    accesses: int
    reads: tuple[tuple[str, int], ...]
    writes: tuple[tuple[str, int], ...]


def check_mapping(problem: Einsum, mapping: Mapping) -> None:
    t = mapping.tile
    for d, n in problem.sizes:
        if d not in t:
            raise EinsumError(f"mapping has no tile size for rank {d!r}")
        if not isinstance(t[d], int) or t[d] < 1 or n % t[d]:
            raise EinsumError(f"tile {t[d]!r} of rank {d!r} does not divide its size {n}")
    extra = set(t) - set(problem.ranks)
    if extra:
        raise EinsumError(f"mapping has tiles for unknown ranks {sorted(extra)}")
    if len(set(mapping.order)) != len(mapping.order) or not set(mapping.order) <= set(problem.ranks):
        raise EinsumError(f"loop order {mapping.order} must name distinct ranks of the problem")
    missing = [d for d, n in problem.sizes if n // t[d] > 1 and d not in mapping.order]
    if missing:
        raise EinsumError(f"loop order {mapping.order} lacks ranks with several tiles: {missing}")


def moved(problem: Einsum, tensor: Tensor, mapping: Mapping) -> int:
    """Words of ``tensor`` moved between backing store and buffer (model.md, 'Accesses')."""
    t = mapping.tile
    f = {d: n // t[d] for d, n in problem.sizes}
    tile = tensor.footprint(t)
    loops = mapping.loops(problem)
    relevant = [i for i, d in enumerate(loops) if d in tensor.ranks]
    if not relevant:
        return tile
    j = relevant[-1]
    above = math.prod(f[d] for d in loops[:j])
    rank = loops[j]
    axis = tensor.axis_of(rank)
    ext = axis.extent(t)
    # Consecutive tiles along a sliding axis overlap; only the new part is fetched.
    delta = tile // ext * min(axis.coef(rank) * t[rank], ext)
    return above * (tile + (f[rank] - 1) * delta)


def evaluate(problem: Einsum, mapping: Mapping, check: bool = True) -> Cost:
    """Occupancy and accesses of ``mapping``; the output uses first-read elision."""
    if check:
        check_mapping(problem, mapping)
    t = mapping.tile
    return assemble(problem, lambda T: moved(problem, T, mapping),
                    sum(tensor.footprint(t) for tensor in problem.tensors))


def assemble(problem: Einsum, moved_of, occupancy: int) -> Cost:
    """A Cost from each tensor's moved words: inputs are read, the output is written back every
    time and read back all but the first time (first-read elision)."""
    reads = [(T.name, moved_of(T)) for T in problem.inputs]
    out = problem.output
    m_out = moved_of(out)
    reads.append((out.name, m_out - problem.tensor_size(out)))
    writes = [(out.name, m_out)]
    accesses = sum(v for _, v in reads) + m_out
    return Cost(occupancy, accesses, tuple(reads), tuple(writes))


def algorithmic_minimum(problem: Einsum) -> int:
    """Sum of all tensor sizes: every tensor touched exactly once."""
    return sum(problem.tensor_size(t) for t in problem.tensors)


def op_intensity(problem: Einsum, accesses: float) -> float:
    """Operational intensity as Timeloop reports it: (2*MACs - |O|) / accesses, ops per word."""
    return (2 * problem.macs - problem.tensor_size(problem.output)) / accesses


INT64_MAX = 2**63 - 1


def smallest_buffer_traffic(problem: Einsum) -> int:
    """Least accesses with every tile a single element (the smallest buffer: one word a
    tensor), over all loop orders: the largest traffic on the curve."""
    from .enumerate import best_order  # the order DP lives with the enumerator

    tiles = dict.fromkeys(problem.ranks, 1)
    return evaluate(problem, Mapping(tuple(tiles.items()), best_order(problem, tiles))).accesses


def check_size(problem: Einsum) -> None:
    """Refuse, before any solve, a problem whose traffic does not fit in a signed 64-bit
    integer: the solvers and the vectorised enumerators compute in int64 and float64, and
    past this limit no tolerance scaling keeps their comparisons exact."""
    top = smallest_buffer_traffic(problem)
    if top > INT64_MAX:
        raise EinsumError(
            f"{problem.name or problem} is too large to solve exactly: its traffic at the "
            f"smallest buffer is {top:,} words (about 2^{top.bit_length() - 1}), over the signed "
            f"64-bit limit of {INT64_MAX:,}; exact curves need sizes whose traffic fits in "
            "int64 (e.g. a GEMM needs 2*M*K*N + M*N < 2^63)")


def divisors(n: int) -> list[int]:
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    return sorted(set(small + [n // d for d in small]))
