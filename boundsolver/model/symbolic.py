"""Symbolic (sympy) tile-size expressions of an Einsum: footprints and traffic per tensor.

Symbols ``t_d`` (buffer tile) and ``f_d`` (outer loop bound, ``N_d / t_d``) are kept independent so
that every expression is a polynomial (with ``Min``) and evaluates exactly on integers.

With ``j`` the innermost outer loop relevant to tensor T (model.md), the traffic of T factorises by axis:

    moved_T = prod(f_d, d irrelevant to T and above j)
              * prod(refetch(b), axes b not containing j) * sweep(a, j),   a the axis of j

where ``refetch(b) = extent(b) * prod(f_d, d in b)`` (every tile of the axis fetched whole) and
``sweep(a, j) = prod(f_d, d in a, d != j) * (extent(a) + (f_j - 1) * Min(coef_j * t_j, extent(a)))``
(consecutive tiles of a sliding window overlap). For a plain axis both equal ``N_d``. The MILP is
generated from these per-axis factors.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cached_property

import numpy as np
import sympy as sp

from .einsum import Axis, Einsum, Tensor


class Symbolic:
    """Tile-size expressions of one Einsum."""

    def __init__(self, problem: Einsum):
        self.problem = problem
        self.t = {d: sp.Symbol(f"t_{d}", positive=True, integer=True) for d in problem.ranks}
        self.f = {d: sp.Symbol(f"f_{d}", positive=True, integer=True) for d in problem.ranks}
        self._compiled: dict = {}

    def extent(self, axis: Axis) -> sp.Expr:
        return sum((term.coef * (self.t[term.rank] - 1) for term in axis.terms), sp.Integer(1))

    def footprint(self, tensor: Tensor) -> sp.Expr:
        return sp.Mul(*(self.extent(a) for a in tensor.axes))

    def refetch(self, axis: Axis) -> sp.Expr:
        return self.extent(axis) * sp.Mul(*(self.f[d] for d in axis.ranks))

    def sweep(self, axis: Axis, j: str) -> sp.Expr:
        ext = self.extent(axis)
        window = sp.Min(axis.coef(j) * self.t[j], ext)
        others = sp.Mul(*(self.f[d] for d in axis.ranks if d != j))
        return others * (ext + (self.f[j] - 1) * window)

    def moved(self, tensor: Tensor, j: str | None, above: Iterable[str]) -> sp.Expr:
        """Traffic of ``tensor`` when ``j`` is its innermost relevant loop and ``above`` the loops over it.

        ``j=None``: no relevant loop iterates, the tile is fetched once.
        """
        if j is None:
            return self.footprint(tensor)
        a = tensor.axis_of(j)
        irrelevant = sp.Mul(*(self.f[d] for d in above if d not in tensor.ranks))
        rest = sp.Mul(*(self.refetch(b) for b in tensor.axes if b is not a))
        return irrelevant * rest * self.sweep(a, j)

    def accesses(self, order: tuple[str, ...]) -> sp.Expr:
        """Total accesses for a full loop order (outermost first, every rank present).

        Loops with ``f = 1`` count as ordinary loops here; this over-estimates unless they are
        outermost, so the minimum over orders is the model's (see formulation.py).
        """
        total = sp.Integer(0)
        for tensor in self.problem.tensors:
            rel = [d for d in order if d in tensor.ranks]
            j = rel[-1] if rel else None
            above = order[: order.index(j)] if j else ()
            m = self.moved(tensor, j, above)
            total += 2 * m - self.problem.tensor_size(tensor) if tensor is self.problem.output else m
        return total

    def occupancy(self) -> sp.Expr:
        return sum((self.footprint(T) for T in self.problem.tensors), sp.Integer(0))

    @cached_property
    def _symbols(self) -> tuple[sp.Symbol, ...]:
        return (*self.t.values(), *self.f.values())

    def evaluate(self, expr: sp.Expr, tiles: dict[str, np.ndarray | int]) -> np.ndarray:
        """Evaluate ``expr`` exactly on integer tile sizes (arrays broadcast)."""
        fn = self._compiled.get(expr)
        if fn is None:
            fn = self._compiled[expr] = sp.lambdify(self._symbols, expr,
                                                    modules=[{"Min": np.minimum}, "numpy"])
        size = self.problem.size
        args = [np.asarray(tiles.get(d, 1), dtype=object) for d in self.problem.ranks]
        args += [np.asarray(size[d], dtype=object) // np.asarray(tiles.get(d, 1), dtype=object)
                 for d in self.problem.ranks]
        shape = np.broadcast(*args).shape
        return np.broadcast_to(np.asarray(fn(*args), dtype=object), shape).reshape(-1)


def prime_exponents(n: int) -> dict[int, int]:
    """Prime factorisation of a positive integer, by sympy's ``factorint`` (Pollard rho, p-1 and
    friends: fast for any size within int64, where trial division took hours on a large prime)."""
    return {int(p): int(e) for p, e in sp.factorint(int(n)).items()}

