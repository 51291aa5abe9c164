"""The exact MILP of the Orojenesis mapspace, generated from the symbolic per-axis factors.

Loop orders enter through *order classes*. For a tensor T, an order matters only through its
innermost relevant loop ``j`` (for sliding windows) and the set of irrelevant loops above ``j``
(each multiplies T's traffic by its trip count; symbolic.py). Distinct such tuples over all
permutations are few (3 for a GEMM, 10 undominated for a 3x3 conv), so the MILP picks one class by a
one-hot ``order_class[c]`` and keeps, per class, disaggregated copies of the tile choices that drive
traffic (a convex-hull formulation of the disjunction; its LP bound is far tighter than pairwise
order binaries with AND-linearised refetch factors). Loops of one iteration are treated as real
loops: that only over-estimates traffic, and placing them outermost is exact, so minima are
unchanged.

Every product of integers chosen by one-hots (a footprint, a tensor's traffic) is a one-hot
``value[v]`` over its attainable values, linked by one integer equality per prime: the exponents of
the chosen value equal the sum of the exponents of the chosen factors. No logarithms, no big-M.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import combinations, product

import numpy as np

from .cost import Mapping, divisors
from .einsum import Einsum, Tensor
from .errors import SolverError
from .symbolic import Symbolic, prime_exponents

MAX_VALUES = 20_000  # attainable values of one product before the formulation refuses


@dataclass(frozen=True)
class OrderClass:
    """What an outer loop order means for traffic, with one order (outermost first) realising it.

    ``innermost[i]`` is tensor i's innermost relevant loop where its sliding windows need it (else
    None); ``refetched[i]`` the irrelevant loops above that loop.
    """

    order: tuple[str, ...]
    innermost: tuple[str | None, ...]
    refetched: tuple[frozenset[str], ...]

    def dominates(self, other: OrderClass) -> bool:
        return (self.innermost == other.innermost
                and all(a <= b for a, b in zip(self.refetched, other.refetched)))


def order_classes(problem: Einsum, ranks: list[str]) -> list[OrderClass]:
    """All undominated order classes, built by placing loops from the innermost outwards."""
    tensors = problem.tensors
    relevant = [{d for d in ranks if d in T.ranks} for T in tensors]
    windowed = [_windowed(T, ranks) for T in tensors]
    states: dict[tuple, tuple[str, ...]] = {(frozenset(), (None,) * len(tensors)): ()}
    for _ in ranks:
        nxt: dict[tuple, tuple[str, ...]] = {}
        for (placed, key), inner in states.items():
            for d in ranks:
                if d in placed:
                    continue
                new = list(key)
                for i, rel in enumerate(relevant):
                    if key[i] is None and d in rel:  # d is tensor i's innermost relevant loop
                        above = frozenset(e for e in ranks if e not in rel and e not in placed)
                        new[i] = (d if windowed[i] else None, above)
                nxt.setdefault((placed | {d}, tuple(new)), (d, *inner))
        states = nxt
    classes = []
    for (_, key), order in states.items():
        key = [k if k is not None else (None, frozenset()) for k in key]
        classes.append(OrderClass(order, tuple(k[0] for k in key), tuple(k[1] for k in key)))
    classes.sort(key=lambda c: (sum(map(len, c.refetched)), c.order))
    return [c for c in classes if not any(o is not c and o.dominates(c) and
                                          (not c.dominates(o) or classes.index(o) < classes.index(c))
                                          for o in classes)]


def _windowed(tensor: Tensor, ranks: list[str]) -> bool:
    """Whether some axis of the tensor has several looping ranks (a sliding window)."""
    return any(sum(d in ranks for d in a.ranks) >= 2 for a in tensor.axes)


@dataclass
class Linear:
    """A linear expression: integer coefficients by variable index, plus a constant."""

    coefs: dict[int, int] = field(default_factory=dict)
    const: int = 0

    def add(self, other: Linear, scale: int = 1) -> Linear:
        for i, c in other.coefs.items():
            self.coefs[i] = self.coefs.get(i, 0) + scale * c
        self.const += scale * other.const
        return self


@dataclass
class Milp:
    """Solver-neutral MILP data: variables and named rows."""

    names: list[str] = field(default_factory=list)
    lower: list[float] = field(default_factory=list)
    upper: list[float] = field(default_factory=list)
    integer: list[bool] = field(default_factory=list)
    rows: list[tuple[str, dict[int, int], float, float]] = field(default_factory=list)

    def var(self, name: str, lower: float = 0, upper: float = 1, integer: bool = True) -> int:
        self.names.append(name)
        self.lower.append(lower)
        self.upper.append(upper)
        self.integer.append(integer)
        return len(self.names) - 1

    def row(self, name: str, coefs: dict[int, int], lower: float, upper: float) -> int:
        self.rows.append((name, {i: c for i, c in coefs.items() if c}, lower, upper))
        return len(self.rows) - 1


# A selector: (variable, tiles) pairs of which exactly `one` holds, `one` a variable or None (=1).
Selector = list[tuple[int, dict[str, int]]]


class Formulation:
    """The MILP of one Einsum; ``decode`` turns a solution vector back into a mapping."""

    def __init__(self, problem: Einsum):
        self.problem = problem
        self.sym = Symbolic(problem)
        self.m = Milp()
        self.ranks = [d for d, n in problem.sizes if n > 1]
        self.tile = {d: {t: self.m.var(f"tile[{d},{t}]") for t in divisors(problem.size[d])}
                     for d in self.ranks}
        for d in self.ranks:
            self.m.row(f"tile_choice[{d}]", dict.fromkeys(self.tile[d].values(), 1), 1, 1)
        self.classes = order_classes(problem, self.ranks)
        self.pick = [self.m.var(f"order_class[{','.join(c.order)}]") for c in self.classes]
        self.m.row("order_class_choice", dict.fromkeys(self.pick, 1), 1, 1)
        self._shares: dict[int, list[int]] = {}
        self._tile_copies: dict[tuple[str, int], Selector] = {}
        occupancy, accesses = Linear(), Linear()
        for i, tensor in enumerate(problem.tensors):
            axes = [self._axis_selector(tensor, k) for k in range(len(tensor.axes))]
            occupancy.add(self._footprint(tensor, axes))
            weight = 2 if tensor is problem.output else 1
            for c, cls in enumerate(self.classes):
                accesses.add(self._moved(tensor, i, c, cls, axes), weight)
        accesses.const -= problem.tensor_size(problem.output)
        self._share_rows()
        self.occupancy, self.accesses = occupancy, accesses
        # Both objectives are integer combinations; dividing by their gcd keeps values small.
        self.occupancy_scale = math.gcd(*occupancy.coefs.values()) or 1
        self.accesses_scale = math.gcd(*accesses.coefs.values()) or 1
        self.capacity_row = self.m.row("capacity", self.scaled("occupancy"), -math.inf, math.inf)
        self.traffic_row = self.m.row("traffic_cap", self.scaled("accesses"), -math.inf, math.inf)

    # ----------------------------------------------------------------------------- objectives
    def _objective(self, objective: str) -> tuple[Linear, int]:
        if objective == "occupancy":
            return self.occupancy, self.occupancy_scale
        return self.accesses, self.accesses_scale

    def scaled(self, objective: str) -> dict[int, int]:
        """Coefficients of ``objective`` ("occupancy" or "accesses") divided by their gcd."""
        lin, g = self._objective(objective)
        return {i: c // g for i, c in lin.coefs.items()}

    def unscale(self, objective: str, value: float) -> float:
        lin, g = self._objective(objective)
        return value * g + lin.const

    def row_bound(self, objective: str, limit: int) -> float:
        """Upper bound of the scaled row that keeps ``objective <= limit`` (exact on integers)."""
        lin, g = self._objective(objective)
        return (limit - lin.const) // g

    # ----------------------------------------------------------------------------- selectors
    def _axis_selector(self, tensor: Tensor, k: int) -> Selector:
        """Variables choosing an axis's tiles; several looping ranks get a joint one-hot."""
        ranks = [d for d in tensor.axes[k].ranks if d in self.tile]
        if len(ranks) < 2:
            return [(v, {d: t}) for d in ranks for t, v in self.tile[d].items()]
        name = f"{tensor.name}.{k}"
        sel = [(self.m.var(f"combo[{name},{'x'.join(map(str, c))}]"), dict(zip(ranks, c)))
               for c in product(*(self.tile[d] for d in ranks))]
        self.m.row(f"axis_combo[{name}]", {v: 1 for v, _ in sel}, 1, 1)
        for d in ranks:
            for t, y in self.tile[d].items():
                coefs = {v: 1 for v, tiles in sel if tiles[d] == t} | {y: -1}
                self.m.row(f"axis_marginal[{name},{d},{t}]", coefs, 0, 0)
        return sel

    def _copy(self, sel: Selector, c: int, label: str) -> Selector:
        """The share of a selector inside order class ``c`` (disaggregation: sums to the class pick)."""
        out = [(self.m.var(f"{self.m.names[v]}@{c}", integer=False), tiles) for v, tiles in sel]
        self.m.row(f"class_share[{label}@{c}]", {v: 1 for v, _ in out} | {self.pick[c]: -1}, 0, 0)
        for (v, _), (vc, _) in zip(sel, out):
            self._shares.setdefault(v, []).append(vc)
        return out

    def _share_rows(self) -> None:
        """Class copies of a choice add up to at most the choice itself."""
        for v, copies in self._shares.items():
            self.m.row(f"class_split[{self.m.names[v]}]", dict.fromkeys(copies, 1) | {v: -1},
                       -math.inf, 0)

    def _class_tile(self, d: str, c: int) -> Selector:
        if (d, c) not in self._tile_copies:
            sel = [(v, {d: t}) for t, v in self.tile[d].items()]
            self._tile_copies[d, c] = self._copy(sel, c, f"tile[{d}]")
        return self._tile_copies[d, c]

    def _values(self, expr, sel: Selector) -> list[int]:
        ranks = sorted({d for _, tiles in sel for d in tiles})
        arrays = {d: np.array([tiles[d] for _, tiles in sel], dtype=object) for d in ranks}
        return [int(v) for v in self.sym.evaluate(expr, arrays)]

    # ----------------------------------------------------------------------------- terms
    def _footprint(self, tensor: Tensor, axes: list[Selector]) -> Linear:
        """Footprint through a joint one-hot over the tensor's tiles (linear, LP-tight)."""
        live = [(k, sel) for k, sel in enumerate(axes) if sel]
        const = math.prod(int(self.sym.evaluate(self.sym.extent(a), {})[0])
                          for a, sel in zip(tensor.axes, axes) if not sel)
        if len(live) == 1:
            k, sel = live[0]
            vals = self._values(self.sym.extent(tensor.axes[k]), sel)
            return Linear({v: const * x for (v, _), x in zip(sel, vals)})
        if not live:
            return Linear({}, const)
        joint = []
        for combo in product(*(sel for _, sel in live)):
            tiles = {d: t for _, tl in combo for d, t in tl.items()}
            v = self.m.var(f"tensor_tiles[{tensor.name},{'x'.join(map(str, tiles.values()))}]",
                           integer=False)
            joint.append((v, combo, tiles))
        for k, sel in live:
            for var, _ in sel:
                members = {v: 1 for v, combo, _ in joint if any(c[0] == var for c in combo)}
                self.m.row(f"tensor_marginal[{tensor.name},{self.m.names[var]}]",
                           members | {var: -1}, 0, 0)
        expr = self.sym.footprint(tensor)
        ranks = sorted({d for _, _, t in joint for d in t})
        arrays = {d: np.array([t[d] for _, _, t in joint], dtype=object) for d in ranks}
        vals = [int(x) for x in self.sym.evaluate(expr, arrays)]
        return Linear({v: x for (v, _, _), x in zip(joint, vals)})

    def _moved(self, tensor: Tensor, i: int, c: int, cls: OrderClass, axes) -> Linear:
        """Traffic of ``tensor`` if order class ``c`` is picked (0 otherwise)."""
        factors = []
        for d in sorted(cls.refetched[i]):
            sel = self._class_tile(d, c)
            factors.append([(v, self.problem.size[d] // tiles[d]) for v, tiles in sel])
        j = cls.innermost[i]
        for k, (axis, sel) in enumerate(zip(tensor.axes, axes)):
            # One looping rank: refetching and sweeping the axis move the same words.
            expr = self.sym.sweep(axis, j) if j in axis.ranks else self.sym.refetch(axis)
            if not sel:
                factors.append([(None, int(self.sym.evaluate(expr, {})[0]))])
                continue
            values = self._values(expr, sel)
            if len(set(values)) == 1:
                factors.append([(None, values[0])])
                continue
            share = self._copy(sel, c, f"{tensor.name}.{k}") if len(
                {d for _, t in sel for d in t}) > 1 else self._class_tile(next(iter(sel[0][1])), c)
            factors.append(list(zip((v for v, _ in share), values)))
        return self._product(f"moved[{tensor.name}@{c}]", factors, self.pick[c])

    # ----------------------------------------------------------------------------- products
    def _product(self, name: str, factors: list[list[tuple[int | None, int]]],
                 one: int | None) -> Linear:
        """Linear expression of the product of the factors' chosen values.

        Each factor is (variable, value) pairs of which exactly ``one`` holds (``one`` a binary
        variable, or None for the constant 1); a (None, v) factor is the constant v.
        """
        const, live = 1, []
        for fac in factors:
            if fac[0][0] is None:
                const *= fac[0][1]
            else:
                live.append(fac)
        if not live:
            return Linear({one: const}) if one is not None else Linear({}, const)
        if len(live) == 1:
            return Linear({v: const * val for v, val in live[0]})
        values = {1}
        for fac in live:
            values = {a * b for a in values for _, b in fac}
            if len(values) > MAX_VALUES:
                raise SolverError(f"{name} of {self.problem.name or self.problem} has over "
                                  f"{MAX_VALUES} attainable values; the problem is too large "
                                  "for this formulation")
        z = {v: self.m.var(f"{name}.value[{v}]") for v in sorted(values)}
        self.m.row(f"{name}.choice", dict.fromkeys(z.values(), 1) | (
            {one: -1} if one is not None else {}), 0 if one is not None else 1,
            0 if one is not None else 1)
        expo = {v: prime_exponents(v) for v in values | {b for fac in live for _, b in fac}}
        for p in sorted({p for e in expo.values() for p in e}):
            coefs = {zv: expo[v].get(p, 0) for v, zv in z.items()}
            for fac in live:
                for var, val in fac:
                    if expo[val].get(p, 0):
                        coefs[var] = coefs.get(var, 0) - expo[val][p]
            self.m.row(f"{name}.exponent[{p}]", coefs, 0, 0)
        return Linear({zv: const * v for v, zv in z.items()})

    # ----------------------------------------------------------------------------- decoding
    def decode(self, x) -> Mapping:
        """The mapping of a solution vector: chosen tiles and the picked class's loop order."""
        tiles = {d: 1 for d in self.problem.ranks}
        for d in self.ranks:
            tiles[d] = max(self.tile[d], key=lambda t: x[self.tile[d][t]])
        cls = self.classes[max(range(len(self.classes)), key=lambda c: x[self.pick[c]])]
        return Mapping(tuple(tiles.items()), cls.order)
