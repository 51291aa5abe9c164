"""The exact MILP of the Orojenesis mapspace, generated from the symbolic per-axis factors.

*Tiles* are integer prime exponents ``exp[d,p]`` (``t_d = prod p**exp[d,p]``); an axis that is not a
plain rank (a sliding window, a stride) also gets a binary one-hot ``combo`` over its ranks' tiles,
tied to the exponents.

*Loop orders* enter through order classes. For tensor T an order matters only through its innermost
relevant loop ``j`` (for sliding windows) and the set of irrelevant loops above ``j``, each of which
multiplies T's traffic by its trip count (symbolic.py). Such classes are few (3 for a GEMM, 10
undominated for a 3x3 conv). One ``Formulation`` is the MILP of one class; ``solve.py`` takes the
minimum over classes, pruning classes by bounds. Loops of one iteration count as real loops: that
only over-estimates traffic, and putting them outermost is exact, so minima are unchanged.

*Products* (a footprint, a traffic term) are one-hots ``value[v]`` over their attainable values,
linked by one equality per prime: the exponents of the chosen value equal the sum of the exponents
of the chosen factors. No logarithms, no big-M, all coefficients small integers.

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
from itertools import permutations, product

from .cost import Mapping, divisors
from .einsum import Axis, Einsum, Tensor
from .errors import SolverError
from .symbolic import Symbolic, prime_exponents

MAX_VALUES = 20_000  # attainable values of one product before the formulation refuses
INTEGRALITY = 1e-9  # the integrality tolerance the backends use (solvers.TOLERANCE)


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


def order_classes(problem: Einsum, ranks: list[str],
                  tensors: tuple[Tensor, ...] | None = None) -> list[OrderClass]:
    """All undominated order classes, built by placing loops from the innermost outwards.

    ``tensors``: the tensors whose traffic the order decides (default all of the problem's).
    """
    tensors = problem.tensors if tensors is None else tensors
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


def symmetries(problem: Einsum, ranks: list[str], limit: int = 5040) -> list[tuple[dict, tuple]]:
    """Rank renamings that map the Einsum onto itself, each with the tensor permutation it induces.

    A renaming may only swap looping ranks of equal size; it must send the output to the output and
    the inputs onto the inputs, axis for axis up to order (footprints and traffic ignore axis
    order). Such a renaming maps every mapping to one of equal cost. Skipped (identity only) when
    the candidates exceed ``limit``.
    """
    groups: dict[int, list[str]] = {}
    for d in ranks:
        groups.setdefault(problem.size[d], []).append(d)
    if math.prod(math.factorial(len(g)) for g in groups.values()) > limit:
        return [({d: d for d in ranks}, tuple(range(len(problem.tensors))))]

    def signature(tensor: Tensor, sigma: dict[str, str]) -> tuple:
        return tuple(sorted(tuple(sorted((t.coef, sigma.get(t.rank, t.rank)) for t in a.terms))
                            for a in tensor.axes))

    tensors = problem.tensors
    targets = [signature(T, {}) for T in tensors]
    out = len(tensors) - 1
    found = []
    for perms in product(*(permutations(g) for g in groups.values())):
        sigma = {d: e for g, p in zip(groups.values(), perms) for d, e in zip(g, p)}
        pi: list[int] = []
        for i, T in enumerate(tensors):
            sig = signature(T, sigma)
            choices = [j for j in range(len(tensors)) if targets[j] == sig and j not in pi
                       and (j == out) == (i == out)]
            if not choices:
                break
            pi.append(choices[0])
        else:
            found.append((sigma, tuple(pi)))
    return found


def distinct_classes(problem: Einsum, ranks: list[str], classes: list[OrderClass]) -> list[OrderClass]:
    """One class per orbit under the Einsum's symmetries: the others have the same optimum."""
    def key(c: OrderClass) -> tuple:
        return (c.innermost, c.refetched)

    def image(c: OrderClass, sigma: dict, pi: tuple) -> tuple:
        innermost: list = [None] * len(pi)
        refetched: list = [frozenset()] * len(pi)
        for i, j in enumerate(pi):
            innermost[j] = sigma.get(c.innermost[i]) if c.innermost[i] else None
            refetched[j] = frozenset(sigma[d] for d in c.refetched[i])
        return (tuple(innermost), tuple(refetched))

    maps = symmetries(problem, ranks)
    kept: list[OrderClass] = []
    seen: set = set()
    for c in classes:
        if key(c) in seen:
            continue
        kept.append(c)
        seen |= {image(c, sigma, pi) for sigma, pi in maps}
    return kept


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
    presolve: bool = False  # ask the solver to presolve (helps the deeper nest models)

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
        of this objective are exact; above, ``solve.py`` proves optima by a further solve."""
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
        for d in {d for _, tiles in sel for d in tiles}:
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


class Formulation(ProductModel):
    """The MILP of one Einsum under one order class; ``decode`` turns a solution into a mapping."""

    def __init__(self, problem: Einsum, cls: OrderClass, ranks: list[str] | None = None):
        super().__init__(problem)
        self.cls = cls
        self.sym = Symbolic(problem)
        self.ranks = ranks if ranks is not None else looping_ranks(problem)
        self.primes = {d: prime_exponents(problem.size[d]) for d in self.ranks}
        self.exp = {d: {p: self.m.var(f"exp[{d},{p}]", 0, e) for p, e in self.primes[d].items()}
                    for d in self.ranks}
        self.combo = {(T.name, k): self._combo(T, k) for T in problem.tensors
                      for k, a in enumerate(T.axes) if self._needs_combo(a)}
        occupancy, accesses = Linear(), Linear()
        for i, tensor in enumerate(problem.tensors):
            occupancy.add(self._footprint(tensor))
            accesses.add(self._moved(tensor, i), 2 if tensor is problem.output else 1)
        self._finish(occupancy, accesses)

    # ----------------------------------------------------------------------------- tiles
    def _needs_combo(self, axis: Axis) -> bool:
        return not axis.is_plain and any(d in self.exp for d in axis.ranks)

    def _combo(self, tensor: Tensor, k: int) -> list[tuple[int, dict[str, int]]]:
        """Binary one-hot over the tiles of a non-plain axis, tied to the rank exponents."""
        ranks = [d for d in tensor.axes[k].ranks if d in self.exp]
        name = f"{tensor.name}.{k}"
        sel = [(self.m.var(f"combo[{name},{'x'.join(map(str, c))}]"), dict(zip(ranks, c)))
               for c in product(*(divisors(self.problem.size[d]) for d in ranks))]
        self.m.row(f"combo_choice[{name}]", {v: 1 for v, _ in sel}, 1, 1)
        self._tie(f"combo_tiles[{name}]", sel, self.exp)
        return sel

    def _values(self, expr, sel) -> list[int]:
        ranks = sorted({d for _, tiles in sel for d in tiles})
        arrays = {d: [tiles[d] for _, tiles in sel] for d in ranks}
        return [int(v) for v in self.sym.evaluate(expr, arrays)]

    # ----------------------------------------------------------------------------- terms
    def _axis_factor(self, tensor: Tensor, k: int, expr, refetch: bool) -> Factor:
        """The factor an axis contributes: a constant, its rank's exponents, or its combo."""
        axis = tensor.axes[k]
        live = [d for d in axis.ranks if d in self.exp]
        if not live:
            return ("const", int(self.sym.evaluate(expr, {})[0]))
        if (tensor.name, k) in self.combo:
            sel = self.combo[tensor.name, k]
            values = self._values(expr, sel)
            if len(set(values)) == 1:
                return ("const", values[0])
            return ("sel", [(v, val) for (v, _), val in zip(sel, values)])
        d = live[0]
        if refetch:  # a plain axis re-walked whole moves all of its rank
            return ("const", self.problem.size[d])
        return ("exp", {p: {x: 1} for p, x in self.exp[d].items()}, divisors(self.problem.size[d]),
                {})

    def _footprint(self, tensor: Tensor) -> Linear:
        factors = [self._axis_factor(tensor, k, self.sym.extent(a), False)
                   for k, a in enumerate(tensor.axes)]
        return self._product(f"footprint[{tensor.name}]", factors)

    def _moved(self, tensor: Tensor, i: int) -> Linear:
        """Traffic of ``tensor`` under this order class (symbolic.py's factorisation)."""
        factors: list[Factor] = []
        for d in sorted(self.cls.refetched[i]):
            # f_d = N_d / t_d: exponent e_p(N_d) - exp[d,p]
            factors.append(("exp", {p: {x: -1} for p, x in self.exp[d].items()},
                            divisors(self.problem.size[d]), dict(self.primes[d])))
        j = self.cls.innermost[i]
        for k, axis in enumerate(tensor.axes):
            # One looping rank: refetching and sweeping the axis move the same words.
            expr = self.sym.sweep(axis, j) if j in axis.ranks else self.sym.refetch(axis)
            factors.append(self._axis_factor(tensor, k, expr, True))
        return self._product(f"moved[{tensor.name}]", factors)

    @cached_property
    def _formula(self) -> tuple:
        idle = tuple(d for d in self.problem.ranks if d not in self.cls.order)
        order = idle + self.cls.order  # ranks that never loop: outermost, where they are free
        return self.sym.occupancy(), self.sym.accesses(order)

    def value(self, mapping: Mapping) -> tuple[int, int]:
        """Occupancy and accesses of ``mapping``'s tiles under this class's formula, in integers."""
        return tuple(int(self.sym.evaluate(e, mapping.tile)[0]) for e in self._formula)

    # ----------------------------------------------------------------------------- decoding
    def decode(self, x) -> Mapping:
        """The mapping of a solution vector: tiles from the exponents, the class's order."""
        tiles = {d: 1 for d in self.problem.ranks}
        for d, by_p in self.exp.items():
            tiles[d] = math.prod(p ** round(x[v]) for p, v in by_p.items())
        return Mapping(tuple(tiles.items()), self.cls.order)


def looping_ranks(problem: Einsum) -> list[str]:
    """Ranks that can iterate (size above one); the others never enter the model."""
    return [d for d, n in problem.sizes if n > 1]
