"""The one MILP generator: the exact MILP of one class of loop nests, for every mapspace.

A mapping is a loop nest with storage boundaries (docs/mapspaces.md): every looping rank has a
tile at each boundary ``1..k``, each segment of loops runs in its own order, and each tensor is
stored at one boundary (``0``: whole, above every loop). A *nest class* (:class:`NestClass`) fixes
which tensors share which boundary and, per segment, an order class; :class:`NestFormulation` is
the MILP of one class. The mapspaces are sets of classes and constraints on that one MILP:

* **Orojenesis** (model.md; :class:`Formulation`): one boundary holding every tensor, perfect
  factors. Its classes are ``((), all tensors)`` with one order class each; ``decode`` gives the
  ``cost.Mapping`` the one-boundary nest stands for. This is the hot path of every curve: with
  one boundary and perfect factors the generator emits only the exponents, the joint tiles of
  sliding axes and the products below (no count, nesting or choice variables).
* **Per-tensor placement**: every grouping of the tensors into boundaries (``mapspace.storage_groups``).
* **Imperfect factors**: a rank's tile at each boundary is a one-hot over ``ceil(N/c)`` sizes.
* **Multi-level hierarchies** (levels.py's ``LevelFormulation``, a subclass): one boundary per
  level, a tensor stored at several, and a choice per copy of where its innermost relevant loop
  sits.

*Order classes.* For tensor T a segment's order matters only through T's innermost relevant loop
``j`` (for sliding windows) and the set of irrelevant loops above ``j``, each of which multiplies
T's traffic by its trip count (symbolic.py). Such classes are few (3 for a GEMM, 10 undominated
for a 3x3 conv). The tracer (tracer.py) takes the minimum over classes, pruning classes by
bounds. Loops of one iteration count as real loops: that only over-estimates traffic, and
putting them outermost is exact, so minima are unchanged.

*Tiles* of a perfect rank are integer prime exponents per boundary (``t = prod p**exp[p]``),
nested by divisibility; an imperfect rank picks each boundary's tile from a binary one-hot, its
exponents tied to it so that deeper tiles still divide the outer one. An axis that is not a plain
rank (a sliding window, a stride) gets a binary one-hot over its ranks' joint tiles, tied to the
exponents.

*Terms.* Within a class every term is a product of tile factors: the footprint of a tensor of
group ``s`` is its tile at boundary ``s``; the traffic of one with plain axes is
``|T| * prod_e count(e, s-1+a_e)`` over the ranks ``e`` it does not use, where
``count(e, b) = ceil(N_e / tile(e, b))`` (``count(e, 0) = 1``) and ``a_e`` says whether ``e``'s
loop in segment ``s-1`` lies above the tensor's innermost relevant loop (sliding axes:
symbolic.py's sweep, one level up). With one boundary this is model.md's formula. The factors
come from model/symbolic.py's ``Terms``, as sympy expressions (a tile, a count, a constant, or a
sliding window's extent, sweep or re-fetch over its joint tiles); the generator encodes each one,
a window by its exact value at each joint tile, so the MILP is built from the expressions
``bs.expressions`` shows. ``value`` restates the formulas numerically, a second derivation that
every decoded point is checked against.

*Products* (a footprint, a traffic term) are one-hots ``value[v]`` over their attainable values,
linked by one equality per prime: the exponents of the chosen value equal the sum of the exponents
of the chosen factors; a product of exactly two one-hot factors is a one-hot over their pairs. No
logarithms, no big-M, all coefficients small integers.

*Tightness.* With the class fixed, footprints and traffic are convex functions of the exponents (a
geometric program); the value one-hots give its piecewise-linear relaxation, which is nearly
integral. The value one-hots are binary: continuous ones would be exact too (``v`` is convex in its
exponents, so the cheapest mix at integer exponents is the exact value), but HiGHS 1.15 declared
such models infeasible where they were not (BMM H=128 at 12 words); binary ones are also faster on
convolutions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from itertools import product

from ..errors import SolverError
from ..model.cost import Mapping, Nest
from ..model.einsum import Axis, Einsum, Tensor
from ..model.mapspace import (
    Mapspace,
    NestClass,
    OrderClass,
    divisors,
    looping_ranks,
    tile_sizes,
    uniform_class,
    windowed_ranks,
)
from ..model.symbolic import SymFactor, prime_exponents, terms_of

MAX_VALUES = 20_000  # attainable values of one product before the formulation refuses
INTEGRALITY = 1e-9  # the integrality tolerance the backends use (solvers.TOLERANCE)


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
    presolve: bool = False  # ask the solver to presolve (helps the deeper nest models)
    heuristics: bool = False  # let HiGHS run its primal heuristics (per-tensor hierarchies)

    def var(self, name: str, lower: float = 0, upper: float = 1, integer: bool = True) -> int:
        self.names.append(name)
        self.lower.append(lower)
        self.upper.append(upper)
        self.integer.append(integer)
        return len(self.names) - 1

    def row(self, name: str, coefs: dict[int, int], lower: float, upper: float) -> int:
        self.rows.append((name, {i: c for i, c in coefs.items() if c}, lower, upper))
        return len(self.rows) - 1

    def relaxed(self) -> Milp:
        """The LP relaxation: the same model with every variable continuous."""
        return Milp(self.names, self.lower, self.upper, [False] * len(self.names), self.rows)


# A factor of a product: ("exp", {var: coef by prime}, values, const-by-prime) for exponent-linear
# factors, ("sel", [(var, value)]) for one-hot selectors, ("const", value).
Factor = tuple


class ProductModel:
    """A MILP whose objectives are sums of products of tile factors, each with one bounded row.

    Subclasses build their objectives (``Linear``) with ``_product`` and then call ``_finish``
    (the two objectives "occupancy" and "accesses" of one buffer) or ``_finish_named`` (any
    named ones, e.g. ``occupancy:L2``, ``accesses:L1``, ``dram`` of a hierarchy). Every
    objective can be minimised and every one bounded above through its row.
    """

    def __init__(self, problem: Einsum):
        self.problem = problem
        self.m = Milp()
        self.m.var("one", 1, 1, integer=False)  # keeps a problem without looping ranks non-empty
        self.objectives: dict[str, Linear] = {}
        self.scales: dict[str, int] = {}
        self.rows: dict[str, int] = {}

    def _finish(self, occupancy: Linear, accesses: Linear) -> None:
        accesses.const -= self.problem.tensor_size(self.problem.output)
        self._finish_named({"occupancy": occupancy, "accesses": accesses},
                           {"occupancy": "capacity", "accesses": "traffic_cap"})
        self.occupancy, self.accesses = occupancy, accesses
        self.occupancy_scale = self.scales["occupancy"]
        self.accesses_scale = self.scales["accesses"]
        self.capacity_row = self.rows["occupancy"]
        self.traffic_row = self.rows["accesses"]

    def _finish_named(self, objectives: dict[str, Linear], row_names: dict | None = None) -> None:
        """Record the objectives and give each a row (unbounded until a question bounds it)."""
        for name, lin in objectives.items():
            self.objectives[name] = lin
            # Every objective is an integer combination; dividing by its gcd keeps values small.
            self.scales[name] = math.gcd(*lin.coefs.values()) or 1
            row = (row_names or {}).get(name, f"bound[{name}]")
            self.rows[name] = self.m.row(row, self.scaled(name), -math.inf, math.inf)

    # ----------------------------------------------------------------------------- objectives
    def _objective(self, objective: str) -> tuple[Linear, int]:
        return self.objectives[objective], self.scales[objective]

    def scaled(self, objective: str) -> dict[int, int]:
        """Coefficients of ``objective`` (e.g. "occupancy", "accesses") divided by their gcd."""
        lin, g = self._objective(objective)
        return {i: c // g for i, c in lin.coefs.items()}

    def unscale(self, objective: str, value: float) -> float:
        lin, g = self._objective(objective)
        return value * g + lin.const

    def row_bound(self, objective: str, limit: int) -> float:
        """Upper bound of the scaled row that keeps ``objective <= limit`` (exact on integers).

        Past 2**53 a float cannot hold every integer: the bound is rounded up, never down, so
        the row never cuts off a point that meets the limit (what it lets in is cut off exactly,
        see ``no_good``)."""
        lin, g = self._objective(objective)
        bound = (limit - lin.const) // g
        as_float = float(bound)
        return as_float if as_float >= bound else math.nextafter(as_float, math.inf)

    def float_error(self, objective: str) -> float:
        """How far, in scaled units, the solver's floating-point view of ``objective`` may stray
        from its exact value: every binary may sit up to the integrality tolerance off 0 or 1
        and every coefficient carries a rounding error. Below one half, the solver's comparisons
        of this objective are exact; above, the tracer proves optima by a further solve."""
        total = sum(abs(c) for c in self.scaled(objective).values())
        return total * (2 * INTEGRALITY + 2.0**-52)

    def no_good(self, objective: str, x) -> tuple[dict[int, int], float]:
        """A row excluding every solution whose ``objective`` value the solution ``x`` chose.

        ``objective`` is a sum of products, each a one-hot over its values: the binaries at one
        in ``x`` fix the value, so ``sum(chosen) <= len(chosen) - 1`` removes exactly the
        points with that combination (which all have the same value)."""
        lin, _ = self._objective(objective)
        chosen = [i for i in lin.coefs if x[i] > 0.5]
        return dict.fromkeys(chosen, 1), len(chosen) - 1

    # ----------------------------------------------------------------------------- products
    def _tie(self, name: str, sel, exp: dict) -> None:
        """The selector's tiles carry the given exponents (one row per tile key and prime)."""
        for d in dict.fromkeys(d for _, tiles in sel for d in tiles):  # a fixed order of rows
            for p, x in exp[d].items():
                coefs = {v: prime_exponents(tiles[d]).get(p, 0) for v, tiles in sel} | {x: -1}
                self.m.row(f"{name}:{d},{p}", coefs, 0, 0)

    def _attainable(self, name: str, live: list[Factor], start: int = 1) -> set[int]:
        """Every value ``start`` times the product of the factors can take (MAX_VALUES at most)."""
        values = {start}
        for f in live:
            vals = {val for _, val in f[1]} if f[0] == "sel" else set(f[2])
            values = {a * b for a in values for b in vals}
            if len(values) > MAX_VALUES:
                raise SolverError(f"{name} of {self.problem.name or self.problem} has over "
                                  f"{MAX_VALUES} attainable values; the problem is too large "
                                  "for this formulation")
        return values

    def _product(self, name: str, factors: list[Factor]) -> Linear:
        """Linear expression equal to the product of the factors."""
        const = math.prod(f[1] for f in factors if f[0] == "const")
        live = [f for f in factors if f[0] != "const"]
        if not live:
            return Linear({}, const)
        if len(live) == 1 and live[0][0] == "sel":
            return Linear({v: const * val for v, val in live[0][1]})
        if len(live) == 2 and all(f[0] == "sel" for f in live):
            return self._pair(name, live[0][1], live[1][1], const)
        values = self._attainable(name, live)
        z = {v: self.m.var(f"{name}.value[{v}]") for v in sorted(values)}
        self.m.row(f"{name}.choice", dict.fromkeys(z.values(), 1), 1, 1)
        chosen = {val for f in live if f[0] == "sel" for _, val in f[1]}
        expo = {v: prime_exponents(v) for v in values | chosen}
        for p in sorted({p for e in expo.values() for p in e}):
            coefs = {zv: expo[v].get(p, 0) for v, zv in z.items()}
            const_exp = 0
            for f in live:
                if f[0] == "sel":
                    for var, val in f[1]:
                        coefs[var] = coefs.get(var, 0) - expo[val].get(p, 0)
                else:
                    for var, sign in f[1].get(p, {}).items():
                        coefs[var] = coefs.get(var, 0) - sign
                    const_exp += f[3].get(p, 0)
            self.m.row(f"{name}.exponent[{p}]", coefs, const_exp, const_exp)
        return Linear({zv: const * v for v, zv in z.items()})


    def _pair(self, name: str, first, second, const: int) -> Linear:
        """Product of two one-hot selectors: a one-hot over their pairs with both marginals."""
        z = {(a, b): self.m.var(f"{name}.pair[{a},{b}]") for a, _ in first for b, _ in second}
        for a, _ in first:
            self.m.row(f"{name}.first[{a}]", {z[a, b]: 1 for b, _ in second} | {a: -1}, 0, 0)
        for b, _ in second:
            self.m.row(f"{name}.second[{b}]", {z[a, b]: 1 for a, _ in first} | {b: -1}, 0, 0)
        return Linear({z[a, b]: const * u * w for a, u in first for b, w in second})


class NestFormulation(ProductModel):
    """The MILP of one nest class; ``decode`` turns a solution into a :class:`Nest`."""

    # Imperfect factors: only the tiles at boundary 1 may be imperfect (one buffer,
    # docs/mapspaces.md), or each rank's outermost split at any boundary (hierarchies,
    # docs/hierarchy.md; levels.py sets it).
    first_split = False

    def __init__(self, problem: Einsum, cls: NestClass, mapspace: Mapspace,
                 ranks: list[str] | None = None):
        super().__init__(problem)
        self.cls = cls
        self._setup(cls.depth, mapspace, ranks)
        if mapspace.is_orojenesis:
            # The Orojenesis models are small and their LP nearly integral: presolve costs more
            # than it saves there (measured, benchmarks/; solvers.HighsBackend).
            self.m.presolve = False
        # Tile variables before products: the joint tiles of every stored sliding axis.
        for i, tensor in enumerate(problem.tensors):
            b = cls.group_of(i)[0]
            for axis in tensor.axes:
                if b and not axis.is_plain and (keys := self.terms.keys(axis, b)):
                    self._combo(keys)
        occupancy, accesses = Linear(), Linear()
        for i, tensor in enumerate(problem.tensors):
            b, pos = cls.group_of(i)
            occupancy.add(self._footprint(tensor, b))
            accesses.add(self._moved(tensor, b, pos), 2 if tensor is problem.output else 1)
        self._finish(occupancy, accesses)

    # ----------------------------------------------------------------------------- tiles
    def _setup(self, k: int, mapspace: Mapspace, ranks: list[str] | None) -> None:
        """Tile variables of every looping rank at boundaries 1..k (shared with hierarchies)."""
        problem = self.problem
        self.ranks = ranks if ranks is not None else looping_ranks(problem)
        windowed = windowed_ranks(problem)
        self.imperfect = {d for d in self.ranks
                          if mapspace.factors == "imperfect" and d not in windowed}
        # Measured (benchmarks/): presolve makes the per-tensor 4096^3 GEMM frontier 6x faster
        # and the imperfect-factor models 3-7x slower.
        self.m.presolve = not self.imperfect
        self.k = k
        self.exp: dict[tuple[str, int], dict[int, int]] = {}
        self.pick: dict[tuple[str, int], list[tuple[int, int]]] = {}
        for d in self.ranks:
            self._tiles(d)
        self._combos: dict[tuple, list] = {}
        # what each product multiplies (model/symbolic.py), shared by the problem's classes
        self.terms = terms_of(problem, tuple(self.ranks), frozenset(self.imperfect), k)

    def _tiles(self, d: str) -> None:
        """Variables of rank ``d``'s tile at each boundary 1..k, deeper tiles dividing outer ones."""
        n = self.problem.size[d]
        sizes = tile_sizes(n, d in self.imperfect)
        primes = sorted({p for u in sizes for p in prime_exponents(u)})
        if d in self.imperfect and self.k == 1 and not self.first_split:
            primes = []  # nothing to nest: the one-hot alone is the tile
        top = {p: max(prime_exponents(u).get(p, 0) for u in sizes) for p in primes}
        for b in range(1, self.k + 1):
            self.exp[d, b] = {p: self.m.var(f"exp[{d},{b},{p}]", 0, top[p]) for p in primes}
            if d in self.imperfect:
                sel = [(self.m.var(f"tile[{d},{b},{u}]"), {(d, b): u}) for u in sizes]
                self.m.row(f"tile_choice[{d},{b}]", {v: 1 for v, _ in sel}, 1, 1)
                self._tie(f"tile_tie[{d},{b}]", sel, self.exp)
                self.pick[d, b] = [(v, t[d, b]) for v, t in sel]
            if b > 1:  # aligned grids: a deeper tile divides the one above
                # (hierarchies, ``first_split``: unless the one above is the whole rank, so
                # that a rank's outermost split may be imperfect at any boundary)
                whole = (next(v for v, u in self.pick[d, b - 1] if u == n)
                         if self.first_split and d in self.imperfect else None)
                for p in primes:
                    coefs = {self.exp[d, b][p]: 1, self.exp[d, b - 1][p]: -1}
                    if whole is not None:
                        coefs[whole] = -top[p]
                    self.m.row(f"nested[{d},{b},{p}]", coefs, -math.inf, 0)

    def _tile(self, d: str, b: int) -> Factor:
        n = self.problem.size[d]
        if b == 0 or d not in self.ranks:
            return ("const", n)
        if d in self.imperfect:
            return ("sel", self.pick[d, b])
        return ("exp", {p: {x: 1} for p, x in self.exp[d, b].items()}, divisors(n), {})

    def _count(self, d: str, b: int) -> Factor:
        """Number of distinct level-``b`` tiles of rank ``d``: ``ceil(N_d / tile)``."""
        n = self.problem.size[d]
        if b == 0 or d not in self.ranks:
            return ("const", 1)
        if d in self.imperfect:
            return ("sel", [(v, -(-n // u)) for v, u in self.pick[d, b]])
        return ("exp", {p: {x: -1} for p, x in self.exp[d, b].items()}, divisors(n),
                prime_exponents(n))

    def _combo(self, keys: tuple[tuple[str, int], ...]) -> list[tuple[int, dict]]:
        """Binary one-hot over joint tiles of perfect (rank, boundary) keys, tied to exponents."""
        if keys not in self._combos:
            choices = [divisors(self.problem.size[d]) for d, _ in keys]
            sel = []
            for c in product(*choices):
                tiles = dict(zip(keys, c))
                if any(e == d and h < b and u % t
                       for (d, b), t in tiles.items() for (e, h), u in tiles.items()):
                    continue  # violates nesting (any two boundaries: a hierarchy's pinned copy
                    # reads j's tile at g - 1 < b - 1; the exponents rule such entries out)
                name = ",".join(f"{d}{b}={t}" for (d, b), t in tiles.items())
                sel.append((self.m.var(f"combo[{name}]"), tiles))
            tag = ";".join(f"{d}{b}" for d, b in keys)
            self.m.row(f"combo_choice[{tag}]", {v: 1 for v, _ in sel}, 1, 1)
            self._tie(f"combo_tie[{tag}]", sel, self.exp)
            self._combos[keys] = sel
        return self._combos[keys]

    def _factor(self, term: SymFactor) -> Factor:
        """The encoding of one factor of a symbolic product (model/symbolic.py's Terms)."""
        if term.kind == "const":
            return ("const", int(term.expr))
        if term.kind == "tile":
            return self._tile(*term.keys[0])
        if term.kind == "count":
            return self._count(*term.keys[0])
        sel = self._combo(term.keys)  # a sliding window: its value at each joint tile
        values = self.terms.values(term, [tiles for _, tiles in sel])
        if len(set(values)) == 1:  # e.g. a window swept whole (a 1x1 conv's p+r)
            return ("const", values[0])
        return ("sel", [(v, val) for (v, _), val in zip(sel, values)])

    # ----------------------------------------------------------------------------- terms
    def _footprint(self, tensor: Tensor, b: int) -> Linear:
        factors = [self._factor(f) for f in self.terms.footprint(tensor, b)]
        return self._product(f"footprint[{tensor.name}]", factors)

    def _moved(self, tensor: Tensor, b: int, pos: int) -> Linear:
        if b == 0:  # stored whole above every loop: fetched once
            return Linear({}, self.problem.tensor_size(tensor))
        factors = self._traffic_factors(tensor, self.cls.segments[b - 1], pos, b, b)
        return self._product(f"moved[{tensor.name}]", factors)

    def _traffic_factors(self, tensor: Tensor, oc: OrderClass, pos: int, g: int,
                         b: int) -> list[Factor]:
        """The factors of a copy's fills when its innermost relevant loop lies in segment
        ``g - 1`` (symbolic.py's ``Terms.traffic``, each factor encoded)."""
        return [self._factor(f) for f in self.terms.traffic(tensor, oc, pos, g, b)]

    def _refetch(self, axis: Axis):
        size = self.problem.size
        return lambda t, _: axis.extent(t) * math.prod(size[d] // t[d] for d in axis.ranks)

    def _sweep(self, axis: Axis, j: str):
        """Loops of ``j``'s rank above ``j`` re-fetch; ``j`` slides (model.md's delta)."""
        size = self.problem.size

        def value(t, above):
            above = size[j] if above is None else above
            ext = axis.extent(t)
            others = math.prod(size[d] // t[d] for d in axis.ranks if d != j)
            return others * (size[j] // above) * (ext + (above // t[j] - 1) * min(axis.coef(j) * t[j], ext))
        return value

    # ----------------------------------------------------------------------------- decoding
    def decode(self, x) -> Nest:
        """The nest of a solution vector: tiles per level, each segment's class order."""
        levels = []
        for b in range(1, self.k + 1):
            tiles = {d: 1 for d in self.problem.ranks}
            for d in self.ranks:
                if d in self.imperfect:
                    tiles[d] = next(u for v, u in self.pick[d, b] if x[v] > 0.5)
                else:
                    tiles[d] = math.prod(p ** round(x[v]) for p, v in self.exp[d, b].items())
            levels.append(tuple(tiles.items()))
        storage = tuple((T.name, self.cls.group_of(i)[0]) for i, T in enumerate(self.problem.tensors))
        return Nest(tuple(levels), tuple(c.order for c in self.cls.segments), storage)

    @cached_property
    def _terms(self) -> list:
        return [(self.cls.group_of(i), T) for i, T in enumerate(self.problem.tensors)]

    def value(self, nest: Nest) -> tuple[int, int]:
        """Occupancy and accesses of ``nest``'s tiles under this class's formula, in integers."""
        size = self.problem.size
        occupancy = accesses = 0
        for (b, pos), T in self._terms:
            t = nest.tile(self.problem, b)
            occupancy += T.footprint(t)
            if b == 0:
                m = self.problem.tensor_size(T)
            else:
                oc = self.cls.segments[b - 1]
                m = 1
                for e in self.ranks:
                    if e not in T.ranks:
                        level = b if e in oc.refetched[pos] else b - 1
                        m *= -(-size[e] // nest.tile(self.problem, level)[e])
                j = oc.innermost[pos]
                for a in T.axes:
                    if a.is_plain:
                        m *= size[a.ranks[0]]
                    elif j in a.ranks:
                        m *= self._sweep(a, j)(t, nest.tile(self.problem, b - 1)[j])
                    else:
                        m *= self._refetch(a)(t, None)
            accesses += 2 * m - self.problem.tensor_size(T) if T is self.problem.output else m
        return occupancy, accesses


class Formulation(NestFormulation):
    """The Orojenesis mapspace's MILP of one order class: the nest MILP of the class with one
    boundary holding every tensor, perfect factors and ``cls`` as its one segment's order.
    ``decode`` gives the ``cost.Mapping`` (tiles, order) the one-boundary nest stands for, and
    ``value`` costs such a mapping under the class's formula (model.md's, loops of one
    iteration counted where the class puts them)."""

    def __init__(self, problem: Einsum, cls: OrderClass, ranks: list[str] | None = None):
        self.order_class = cls
        super().__init__(problem, uniform_class(problem, cls), Mapspace(), ranks)

    def decode(self, x) -> Mapping:
        """The mapping of a solution vector: tiles from the exponents, the class's order."""
        return Mapping(super().decode(x).levels[0], self.order_class.order)

    def value(self, mapping: Mapping) -> tuple[int, int]:
        """Occupancy and accesses of ``mapping``'s tiles under this class's formula, in integers."""
        return super().value(self.nest_of(mapping))

    def nest_of(self, mapping: Mapping) -> Nest:
        """The one-boundary nest of ``mapping``, every tensor stored at the boundary."""
        return Nest((mapping.tiles,), (self.order_class.order,),
                    tuple((T.name, 1) for T in self.problem.tensors))


