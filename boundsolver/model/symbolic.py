"""Symbolic (sympy) tile-size expressions of an Einsum: the front door to what the MILP minimises.

:func:`expressions` (``bs.expressions``) writes, for a class of the mapspace (an order class of
the Orojenesis mapspace, a nest class of the per-tensor ones), every tensor's footprint, fills,
reads and writes and the total occupancy and accesses, in tile symbols ``t_d`` (``t_d1``,
``t_d2``... per boundary in deeper nests) and size symbols (``M`` for rank ``m``) or numbers.
They are docs/mapspaces.md's class formulas. :class:`Terms` writes each footprint and traffic
product factor by factor (:class:`SymFactor`: a tile, a count, a constant, a sliding window);
:func:`expressions` multiplies the factors out, and milp/formulation.py builds the MILP from the
same factors (hierarchies too), encoding each as a value one-hot (a window by its exact value at
each joint tile). tests/test_symbolic.py checks, at every attainable tile of every class of
several problems, that the expressions, the MILP's own value and ``cost.evaluate`` of the
decoded mapping agree.

:class:`Symbolic` is the older per-order view the model tests use: symbols ``t_d`` (buffer tile)
and ``f_d`` (outer loop bound, ``N_d / t_d``) kept independent, a full loop order instead of a
class. With ``j`` the innermost outer loop relevant to tensor T (model.md), the traffic of T
factorises by axis:

    moved_T = prod(f_d, d irrelevant to T and above j)
              * prod(refetch(b), axes b not containing j) * sweep(a, j),   a the axis of j

where ``refetch(b) = extent(b) * prod(f_d, d in b)`` (every tile of the axis fetched whole) and
``sweep(a, j) = prod(f_d, d in a, d != j) * (extent(a) + (f_j - 1) * Min(coef_j * t_j, extent(a)))``
(consecutive tiles of a sliding window overlap). For a plain axis both equal ``N_d``.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property, lru_cache

import numpy as np
import sympy as sp

from ..errors import BoundsolverError, EinsumError
from .arch import Arch
from .cost import Mapping, Nest
from .einsum import Axis, Einsum, Tensor
from .mapspace import (
    LevelClass,
    Mapspace,
    NestClass,
    OrderClass,
    distinct_classes,
    kept,
    level_classes,
    looping_ranks,
    mapspace_of,
    nest_classes,
    order_classes,
    uniform_class,
    windowed_ranks,
)


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



# ------------------------------------------------------------------------- the front door

SIZES = ("symbols", "numbers")


def _positive(name: str) -> sp.Symbol:
    return sp.Symbol(name, positive=True, integer=True)


@dataclass(frozen=True)
class TensorExpressions:
    """One tensor's terms under a class: the boundary it is stored at (0: whole, above every
    loop), its tile's footprint, the words filled into the buffer, and the backing store's reads
    and writes of it (the output: written on every fill, read back all but the first time)."""

    tensor: str
    boundary: int
    footprint: sp.Expr
    fills: sp.Expr
    reads: sp.Expr
    writes: sp.Expr


@dataclass(frozen=True)
class ClassExpressions:
    """The occupancy and accesses one class's MILP minimises, as sympy expressions in tile sizes.

    ``tiles`` maps each looping rank's tile at each boundary (``(rank, b)``, ``b = 1..depth``) to
    its symbol: ``t_m`` with one boundary, ``t_m1``, ``t_m2``... with several (``t_m1`` the
    outermost). ``sizes`` maps each looping rank to its size symbol (``M`` for rank ``m``); empty
    when the sizes were written as numbers. Ranks of size one never loop and do not appear.
    Counts are ``N/t`` for perfect factors and ``ceiling(N/t)`` for imperfect ones; loops of one
    iteration count where the class puts them (formulation.py: the least value over classes is
    the model's)."""

    problem: Einsum
    mapspace: Mapspace
    nest: NestClass
    tensors: tuple[TensorExpressions, ...]
    occupancy: sp.Expr
    accesses: sp.Expr
    tiles: tuple[tuple[tuple[str, int], sp.Symbol], ...]
    sizes: tuple[tuple[str, sp.Symbol], ...]

    @property
    def order_class(self) -> OrderClass | None:
        """The Orojenesis order class (one boundary holding every tensor), else None."""
        groups = self.nest.groups
        return self.nest.segments[0] if len(groups) == 2 and not groups[0] else None

    @property
    def orders(self) -> tuple[tuple[str, ...], ...]:
        """One loop order per segment (outermost first) that realises the class."""
        return tuple(c.order for c in self.nest.segments)

    def tensor(self, name: str) -> TensorExpressions:
        for t in self.tensors:
            if t.tensor == name:
                return t
        raise EinsumError(f"no tensor named {name!r} in {self.problem}")

    def evaluate(self, tiles: Mapping | Nest | dict) -> dict[str, int]:
        """Every expression at integer tiles, exactly: ``occupancy``, ``accesses`` and
        ``footprint[T]``, ``fills[T]``, ``reads[T]``, ``writes[T]`` per tensor. ``tiles``: a
        Mapping or a Nest of this depth, ``{rank: tile}`` (one boundary) or
        ``{(rank, b): tile}``."""
        subs = {sym: sp.Integer(v) for sym, v in self._tile_values(tiles).items()}
        subs |= {sym: sp.Integer(self.problem.size[d]) for d, sym in self.sizes}
        out = {"occupancy": self.occupancy, "accesses": self.accesses}
        for t in self.tensors:
            for what in ("footprint", "fills", "reads", "writes"):
                out[f"{what}[{t.tensor}]"] = getattr(t, what)
        return {k: _integer(e.xreplace(subs), k) for k, e in out.items()}

    def _tile_values(self, tiles) -> dict[sp.Symbol, int]:
        depth = self.nest.depth
        if isinstance(tiles, Mapping):
            tiles = {(d, 1): t for d, t in tiles.tiles}
        elif isinstance(tiles, Nest):
            tiles = {(d, b): t for b, level in enumerate(tiles.levels, 1) for d, t in level}
        elif isinstance(tiles, dict) and depth == 1:
            tiles = {k if isinstance(k, tuple) else (k, 1): v for k, v in tiles.items()}
        if not isinstance(tiles, dict):
            raise EinsumError(f"tiles must be a Mapping, a Nest or a dict, got {type(tiles).__name__}")
        unknown = [k for k in tiles if not (isinstance(k, tuple) and len(k) == 2
                                            and k[0] in self.problem.ranks and 1 <= k[1] <= depth)]
        if unknown:
            raise EinsumError(f"tiles {unknown} name no rank of {self.problem} at a boundary "
                              f"1..{depth}")
        missing = [f"{d}@{b}" for (d, b), _ in self.tiles if (d, b) not in tiles]
        if missing:
            raise EinsumError(f"no tile given for {', '.join(missing)} (depth {depth} class of "
                              f"{self.problem})")
        for (d, b), _ in self.tiles:
            v = tiles[d, b]
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= self.problem.size[d]:
                raise EinsumError(f"tile of rank {d!r} at boundary {b} must be an integer in "
                                  f"1..{self.problem.size[d]}, got {v!r}")
        return {sym: tiles[key] for key, sym in self.tiles}

    def _rows(self) -> list[tuple]:
        return [(t.tensor, t.boundary, t.footprint, t.fills, t.reads, t.writes) for t in self.tensors]

    def _title(self) -> str:
        where = ", ".join(f"{d}={n}" for d, n in self.problem.sizes)
        orders = " | ".join(" ".join(o) for o in self.orders)
        return f"{self.problem.name or self.problem} ({where}), {self.mapspace}, loops {orders}"

    def __str__(self) -> str:
        head = ("tensor", "stored", "footprint", "fills", "reads", "writes")
        rows = [head] + [tuple(map(str, r)) for r in self._rows()]
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
        return "\n".join([self._title(), *lines, f"occupancy = {self.occupancy}",
                          f"accesses  = {self.accesses}"])

    def _latex_table(self) -> str:
        head = " & ".join(rf"\text{{{h}}}"
                          for h in ("tensor", "stored", "footprint", "fills", "reads", "writes"))
        body = [rf"\text{{{name}}} & {b} & " + " & ".join(sp.latex(e) for e in exprs)
                for name, b, *exprs in self._rows()]
        title = self._title().replace("_", r"\_")
        return (rf"\text{{{title}}}\\ \begin{{array}}{{llllll}} {head} \\ \hline "
                + r" \\ ".join(body) + r" \end{array}\\ "
                + rf"\text{{occupancy}} = {sp.latex(self.occupancy)}\\ "
                + rf"\text{{accesses}} = {sp.latex(self.accesses)}")

    def _repr_latex_(self) -> str:
        return rf"$\begin{{gathered}}{self._latex_table()}\end{{gathered}}$"


@dataclass(frozen=True)
class Expressions:
    """The expressions of every class a mapspace's MILP solves for an Einsum, in its order (on a
    hierarchy: every class and level asked, :class:`LevelExpressions`)."""

    problem: Einsum
    mapspace: Mapspace
    classes: tuple[ClassExpressions | LevelExpressions, ...]

    def __len__(self) -> int:
        return len(self.classes)

    def __iter__(self):
        return iter(self.classes)

    def __getitem__(self, i: int) -> ClassExpressions | LevelExpressions:
        return self.classes[i]

    def __str__(self) -> str:
        return "\n\n".join(f"class {i}: {c}" for i, c in enumerate(self.classes))

    def _repr_latex_(self) -> str:
        parts = [rf"\text{{class {i}: }}{c._latex_table()}" for i, c in enumerate(self.classes)]
        return r"$\begin{gathered}" + r"\\[1ex] ".join(parts) + r"\end{gathered}$"


def expressions(problem: Einsum, order=None, *, mapspace: Mapspace | str | None = None,
                sizes: str = "symbols", arch: Arch | None = None,
                level: str | None = None) -> ClassExpressions | LevelExpressions | Expressions:
    """The footprint and traffic expressions, in tile sizes, that the MILP of a class minimises.

    ``order`` picks the class: a loop order naming every looping rank (``("n", "m", "k")`` or
    ``"n m k"``; the Orojenesis mapspace only), an :class:`OrderClass` or a :class:`NestClass`
    (what ``model.mapspace`` builds and the MILP solves). Without it, every class the mapspace's
    MILP solves is listed (:class:`Expressions`). ``sizes="numbers"`` writes rank sizes as numbers
    instead of symbols. The expressions are the ones the MILP's value one-hots take at every
    attainable tile (tests/test_symbolic.py checks each value).

    ``arch`` (a :class:`~boundsolver.Arch`, e.g. ``bs.load_arch("simba")``) with several on-chip
    levels gives each level's occupancy and the words moved into it under a
    :class:`~boundsolver.model.mapspace.LevelClass` (``order``; default every class the hierarchy
    MILP solves), for ``level`` (a level's name; default every on-chip level):
    :class:`LevelExpressions`. A one-buffer ``arch`` is the model above."""
    if not isinstance(problem, Einsum):
        raise EinsumError(f"expected an Einsum (bs.gemm, bs.conv, bs.einsum, ...), got "
                          f"{type(problem).__name__}")
    if sizes not in SIZES:
        raise BoundsolverError(f"sizes must be one of {SIZES}, got {sizes!r}")
    space = mapspace_of(mapspace)
    ranks = looping_ranks(problem)
    if _hierarchy(arch, level):
        return _level_expressions(problem, order, space, sizes, arch, level)
    if order is None:
        if space.is_orojenesis:
            classes = [uniform_class(problem, c)
                       for c in distinct_classes(problem, ranks, order_classes(problem, ranks))]
        else:
            classes = nest_classes(problem, ranks, space)
        return Expressions(problem, space, tuple(_Builder(problem, c, space, sizes).build()
                                                 for c in classes))
    return _Builder(problem, _nest_class(problem, order, space, ranks), space, sizes).build()


def _hierarchy(arch, level) -> bool:
    """Whether ``arch`` is a hierarchy (several on-chip levels); refuses what does not fit."""
    if arch is None:
        if level is not None:
            raise BoundsolverError(f"level={level!r} names a level of a hierarchy: pass arch= too")
        return False
    if not isinstance(arch, Arch):
        raise BoundsolverError(f"arch must be a bs.Arch (bs.load_arch(name) reads one), got "
                               f"{type(arch).__name__}")
    names = [lv.name for lv in arch.on_chip]
    if level is not None and level not in names:
        raise BoundsolverError(f"{arch.name} has no on-chip level {level!r} (levels: "
                               f"{', '.join(names)})")
    return not arch.is_single_buffer


def _nest_class(problem: Einsum, order, space: Mapspace, ranks: list[str]) -> NestClass:
    """The nest class ``order`` names (see :func:`expressions`)."""
    if isinstance(order, NestClass):
        _check_nest_class(problem, order, space)
        return order
    if isinstance(order, OrderClass):
        cls = order
    elif space.placement == "per_tensor":
        raise BoundsolverError("with per_tensor placement a loop order does not fix the class "
                               "(where each tensor is stored): pass a NestClass, e.g. one of "
                               "bs.expressions(problem, mapspace=...)")
    else:
        cls = class_of_order(problem, _order(problem, order, ranks), ranks)
    if len(cls.innermost) != len(problem.tensors) or set(cls.order) != set(ranks):
        raise BoundsolverError(f"order class {cls.order} is not one of {problem}'s (looping "
                               f"ranks {', '.join(ranks)})")
    return uniform_class(problem, cls)


def _check_nest_class(problem: Einsum, cls: NestClass, space: Mapspace) -> None:
    n = len(problem.tensors)
    if sorted(i for g in cls.groups for i in g) != list(range(n)) or len(cls.groups) != cls.depth + 1:
        raise BoundsolverError(f"nest class {cls} does not group {problem}'s {n} tensors")
    if space.placement == "uniform" and (cls.depth != 1 or cls.groups[0]):
        raise BoundsolverError("a nest class with several boundaries or tensors stored whole "
                               "needs mapspace='per_tensor/...'")


def _order(problem: Einsum, order, ranks: list[str]) -> tuple[str, ...]:
    """A loop order from a tuple or list of rank names, or text (``"n m k"``, ``"n,m,k"``,
    ``"nmk"`` when every rank is one letter). It must name every looping rank once."""
    if isinstance(order, str):
        words = order.replace(",", " ").split()
        if len(words) == 1 and words[0] not in problem.ranks:
            words = list(words[0])
        order = words
    if not isinstance(order, (tuple, list)) or not all(isinstance(d, str) for d in order):
        raise BoundsolverError(f"order must be a loop order (rank names, outermost first), an "
                               f"OrderClass or a NestClass, got {order!r}")
    unknown = [d for d in order if d not in problem.ranks]
    if unknown or len(set(order)) != len(order):
        raise EinsumError(f"loop order {tuple(order)} must name distinct ranks of {problem} "
                          f"(ranks: {', '.join(problem.ranks)})")
    missing = [d for d in ranks if d not in order]
    if missing:
        raise EinsumError(f"loop order {tuple(order)} lacks the looping ranks {', '.join(missing)}")
    return tuple(d for d in order if d in ranks)


def class_of_order(problem: Einsum, order: tuple[str, ...], ranks: list[str]) -> OrderClass:
    """The order class of a full loop order over ``ranks`` (outermost first): per tensor its
    innermost relevant loop (kept where a sliding window needs it) and the irrelevant loops
    above that loop (mapspace.order_classes' key)."""
    innermost, refetched = [], []
    for T in problem.tensors:
        rel = [d for d in order if d in T.ranks]
        windowed = any(sum(d in ranks for d in a.ranks) >= 2 for a in T.axes)
        j = rel[-1] if rel else None
        innermost.append(j if windowed else None)
        above = order[:order.index(j)] if j else ()
        refetched.append(frozenset(d for d in above if d not in T.ranks))
    return OrderClass(tuple(order), tuple(innermost), tuple(refetched))


@dataclass(frozen=True)
class SymFactor:
    """One factor of a footprint or traffic product, as the MILP encodes it: ``const`` (no tile
    in it), the ``tile`` or the ``count`` (number of tiles) of one (rank, boundary), or a
    ``window``: a sliding axis's extent, sweep or re-fetch over the joint tiles ``keys``."""

    kind: str
    expr: sp.Expr
    keys: tuple[tuple[str, int], ...] = ()


class Terms:
    """The footprint and traffic products of an Einsum's tensors, factor by factor, in tile
    symbols: docs/mapspaces.md's class formulas. milp/formulation.py encodes each factor;
    :func:`expressions` multiplies them out.

    ``ranks``: the looping ranks (others have size one); ``imperfect``: the ranks whose tiles
    need not divide their size (counts ``ceiling(N/t)``); ``depth``: the number of boundaries
    (names the symbols); ``symbolic_sizes``: sizes as symbols instead of numbers."""

    def __init__(self, problem: Einsum, ranks: list[str], imperfect: set[str], depth: int,
                 symbolic_sizes: bool = False):
        self.problem, self.ranks, self.imperfect = problem, list(ranks), set(imperfect)
        self.t = {(d, b): _positive(_tile_name(d, b, depth))
                  for d in self.ranks for b in range(1, depth + 1)}
        names = _size_names(self.ranks)
        self.n = {d: _positive(names[d]) if symbolic_sizes else sp.Integer(problem.size[d])
                  for d in self.ranks}
        self._memo: dict = {}  # classes share most factors: each is built and valued once

    def size(self, d: str) -> sp.Expr:
        return self.n.get(d, sp.Integer(1))  # a rank that never loops has size one

    def tile(self, d: str, b: int) -> sp.Expr:
        return self.size(d) if b == 0 or d not in self.ranks else self.t[d, b]

    def count(self, d: str, b: int) -> SymFactor:
        """Number of distinct boundary-``b`` tiles of rank ``d``."""
        if b == 0 or d not in self.ranks:
            return SymFactor("const", sp.Integer(1))
        q = self.size(d) / self.tile(d, b)
        return SymFactor("count", sp.ceiling(q) if d in self.imperfect else q, ((d, b),))

    def extent(self, axis: Axis, b: int) -> sp.Expr:
        return sum((t.coef * (self.tile(t.rank, b) - 1) for t in axis.terms), sp.Integer(1))

    def whole(self, tensor: Tensor) -> sp.Expr:
        return sp.Mul(*(self.extent(a, 0) for a in tensor.axes))

    def _window(self, expr: sp.Expr, keys: tuple[tuple[str, int], ...], b: int) -> SymFactor:
        return SymFactor("window", expr, keys) if keys and b else SymFactor("const", expr)

    def keys(self, axis: Axis, b: int) -> tuple[tuple[str, int], ...]:
        """The (rank, boundary) tiles a sliding axis reads at boundary ``b``."""
        return tuple((d, b) for d in axis.ranks if d in self.ranks)

    def footprint(self, tensor: Tensor, b: int) -> list[SymFactor]:
        """The tile of ``tensor`` at boundary ``b``: one factor per axis."""
        key = ("footprint", tensor, b)
        if key not in self._memo:
            self._memo[key] = self._footprint(tensor, b)
        return self._memo[key]

    def _footprint(self, tensor: Tensor, b: int) -> list[SymFactor]:
        out = []
        for a in tensor.axes:
            d = a.ranks[0]
            if not a.is_plain:
                out.append(self._window(self.extent(a, b), self.keys(a, b), b))
            elif b == 0 or d not in self.ranks:
                out.append(SymFactor("const", self.size(d)))
            else:
                out.append(SymFactor("tile", self.tile(d, b), ((d, b),)))
        return out

    def traffic(self, tensor: Tensor, oc: OrderClass, pos: int, g: int, b: int) -> list[SymFactor]:
        """docs/mapspaces.md's moved_T when T's innermost relevant loop lies in segment ``g - 1``
        (order class ``oc``, T at ``pos`` of its group): the counts of the ranks it does not use
        (a loop above that loop in the segment re-fetches, one below does not), then its axes'
        words, its tiles read at boundary ``b`` (a hierarchy's copy pinned to ``g`` reads them at
        its own boundary; one buffer: ``g = b``)."""
        key = ("traffic", tensor, oc.innermost[pos], oc.refetched[pos], g, b)
        if key not in self._memo:
            self._memo[key] = self._traffic(tensor, oc.innermost[pos], oc.refetched[pos], g, b)
        return self._memo[key]

    def _traffic(self, tensor: Tensor, j: str | None, refetched: frozenset, g: int,
                 b: int) -> list[SymFactor]:
        out = [self.count(e, g if e in refetched else g - 1)
               for e in self.ranks if e not in tensor.ranks]
        for axis in tensor.axes:
            if axis.is_plain:
                out.append(SymFactor("const", self.size(axis.ranks[0])))
            elif j in axis.ranks:
                extra = ((j, g - 1),) if g > 1 else ()
                out.append(self._window(self.sweep(axis, j, g, b), self.keys(axis, b) + extra, b))
            else:
                words = self.extent(axis, b) * sp.Mul(*(self.size(d) / self.tile(d, b)
                                                        for d in axis.ranks))
                out.append(self._window(words, self.keys(axis, b), b))
        return out

    def values(self, factor: SymFactor, choices: list[dict]) -> list[int]:
        """A window factor's exact value at each joint tile choice (``{(rank, b): tile}``)."""
        points = tuple(tuple(tiles[k] for k in factor.keys) for tiles in choices)
        key = ("values", factor, points)
        if key not in self._memo:
            symbols = tuple(self.t[k] for k in factor.keys)
            fn = _compiled(factor.expr, symbols)
            out = []
            for point in points:
                value = Fraction(fn(*point))
                if value.denominator != 1:
                    raise EinsumError(f"{factor.expr} is not an integer at {dict(zip(symbols, point))}")
                out.append(int(value))
            self._memo[key] = out
        return self._memo[key]

    def sweep(self, axis: Axis, j: str, g: int, b: int) -> sp.Expr:
        """A sliding axis swept by ``j``: loops of ``j``'s rank above segment ``g - 1`` re-fetch
        it, consecutive tiles of ``j`` overlap (model.md's delta)."""
        above, tile, ext = self.tile(j, g - 1), self.tile(j, b), self.extent(axis, b)
        others = sp.Mul(*(self.size(d) / self.tile(d, b) for d in axis.ranks if d != j))
        window = sp.Min(axis.coef(j) * tile, ext)
        return others * (self.size(j) / above) * (ext + (above / tile - 1) * window)


@lru_cache(maxsize=64)
def terms_of(problem: Einsum, ranks: tuple[str, ...], imperfect: frozenset[str], depth: int) -> Terms:
    """The (numeric) Terms of a problem, shared by every class's formulation."""
    return Terms(problem, list(ranks), set(imperfect), depth)


@lru_cache(maxsize=4096)
def _compiled(expr: sp.Expr, symbols: tuple[sp.Symbol, ...]):
    """``expr`` as a Python function of ``symbols`` computing exactly on ints and Fractions.

    Not ``sympy.lambdify``: it prints rationals as float divisions and its printers cost a
    tenth of a second to import, more than a whole formulation build of a convolution."""
    at = {s: i for i, s in enumerate(symbols)}
    fn = _closure(expr, at)
    return lambda *values: fn(values)


def _closure(expr: sp.Expr, at: dict):
    if expr.is_Symbol:
        i = at[expr]
        return lambda v: v[i]
    if expr.is_Rational:
        c = int(expr) if expr.is_Integer else Fraction(int(expr.p), int(expr.q))
        return lambda v: c
    parts = [_closure(a, at) for a in expr.args]
    if expr.is_Add:
        return lambda v: sum(f(v) for f in parts)
    if expr.is_Mul:
        return lambda v: math.prod(f(v) for f in parts)
    if expr.is_Pow and expr.exp.is_Integer:
        base, e = parts[0], int(expr.exp)
        return lambda v: Fraction(base(v)) ** e
    known = {sp.Min: min, sp.Max: max, sp.ceiling: lambda q: -(-q.numerator // q.denominator),
             sp.floor: lambda q: q.numerator // q.denominator}
    if expr.func in known:
        op = known[expr.func]
        return lambda v: op(*(Fraction(f(v)) for f in parts))
    raise BoundsolverError(f"cannot evaluate {expr} exactly (unexpected {expr.func.__name__})")


class _Builder:
    """A class's terms multiplied out (:class:`ClassExpressions`)."""

    def __init__(self, problem: Einsum, cls: NestClass, space: Mapspace, sizes: str):
        self.problem, self.cls, self.space = problem, cls, space
        ranks = looping_ranks(problem)
        windowed = windowed_ranks(problem)
        imperfect = {d for d in ranks if space.factors == "imperfect" and d not in windowed}
        self.terms = Terms(problem, ranks, imperfect, cls.depth, sizes == "symbols")
        self.symbolic_sizes = sizes == "symbols"

    def build(self) -> ClassExpressions:
        p, terms = self.problem, self.terms
        out = []
        for i, T in enumerate(p.tensors):
            b, pos = self.cls.group_of(i)
            footprint = sp.Mul(*(f.expr for f in terms.footprint(T, b)))
            if b == 0:
                fills = terms.whole(T)
            else:
                oc = self.cls.segments[b - 1]
                fills = sp.Mul(*(f.expr for f in terms.traffic(T, oc, pos, b, b)))
            if T is p.output:
                reads, writes = fills - terms.whole(T), fills
            else:
                reads, writes = fills, sp.Integer(0)
            out.append(TensorExpressions(T.name, b, footprint, fills, reads, writes))
        occupancy = sp.Add(*(t.footprint for t in out))
        accesses = sp.Add(*(t.reads + t.writes for t in out))
        sizes = tuple(terms.n.items()) if self.symbolic_sizes else ()
        return ClassExpressions(p, self.space, self.cls, tuple(out), occupancy, accesses,
                                tuple(terms.t.items()), sizes)


# ------------------------------------------------------------------------------ hierarchies

@dataclass(frozen=True)
class CopyExpressions:
    """One tensor's copy in a hierarchy level (milp/levels.py): one instance's footprint and the
    words moved into the copy from ``source`` (the nearest outer level keeping the tensor, or
    the backing store), per choice ``g`` of where its innermost relevant loop sits: in segment
    ``g - 1`` (the copy's tiles then equal those at boundary ``g``), or ``g = 0``: no relevant
    loop above it, the whole tensor moved once. Replicas across instances are included."""

    tensor: str
    source: str
    footprint: sp.Expr
    words: tuple[tuple[int, sp.Expr], ...]


@dataclass(frozen=True)
class LevelExpressions:
    """One on-chip level of a hierarchy under one :class:`LevelClass`: its occupancy (one
    instance) and the words moved into it, which the hierarchy MILP bounds and minimises.

    Tiles are global (all instances of a level together): ``t_m2`` is rank m's tile at level 2
    (1 outermost); ``s_m2`` the factor by which level 2's fanout splits m (instance tile
    ``t_m2 / (s_m1 * s_m2)``). ``accesses`` picks each copy's option by its choice symbol ``g_T``
    (a ``Piecewise``); ``sizes`` as in :class:`ClassExpressions`."""

    problem: Einsum
    arch: Arch
    level: str
    cls: LevelClass
    copies: tuple[CopyExpressions, ...]
    occupancy: sp.Expr
    accesses: sp.Expr
    tiles: tuple[tuple[tuple[str, int], sp.Symbol], ...]
    spatial: tuple[tuple[tuple[str, int], sp.Symbol], ...]
    sizes: tuple[tuple[str, sp.Symbol], ...]

    @property
    def orders(self) -> tuple[tuple[str, ...], ...]:
        return tuple(c.order for c in self.cls.segments)

    def copy(self, name: str) -> CopyExpressions:
        for c in self.copies:
            if c.tensor == name:
                return c
        raise EinsumError(f"level {self.level} of {self.arch.name} keeps no tensor {name!r}")

    def evaluate(self, nest: Nest, chosen: dict[str, int]) -> dict[str, int]:
        """Every expression at a hierarchy nest (``Nest``: global tiles per level, fanout
        factors) and each copy's choice ``g`` (``{tensor: g}``): ``occupancy``, ``accesses``,
        ``footprint[T]`` and ``words[T]``."""
        if not isinstance(nest, Nest) or len(nest.levels) != len(self.arch.on_chip):
            raise EinsumError(f"expected a Nest with {len(self.arch.on_chip)} levels of tiles")
        subs = {sym: sp.Integer(dict(nest.levels[b - 1])[d]) for (d, b), sym in self.tiles}
        subs |= {sym: sp.Integer(nest.fanout(b).get(d, 1)) for (d, b), sym in self.spatial}
        subs |= {sym: sp.Integer(self.problem.size[d]) for d, sym in self.sizes}
        out = {"occupancy": _integer(self.occupancy.xreplace(subs), "occupancy")}
        accesses = 0
        for c in self.copies:
            options = dict(c.words)
            g = chosen.get(c.tensor)
            if g not in options:
                raise EinsumError(f"choose where {c.tensor}'s innermost relevant loop sits: g in "
                                  f"{sorted(options)}, got {g!r}")
            out[f"footprint[{c.tensor}]"] = _integer(c.footprint.xreplace(subs), c.tensor)
            out[f"words[{c.tensor}]"] = _integer(options[g].xreplace(subs), c.tensor)
            accesses += out[f"words[{c.tensor}]"]
        out["accesses"] = accesses
        return out

    def _title(self) -> str:
        where = ", ".join(f"{d}={n}" for d, n in self.problem.sizes)
        orders = " | ".join(" ".join(o) for o in self.orders)
        return (f"{self.problem.name or self.problem} ({where}) on {self.arch.name}, level "
                f"{self.level}, loops {orders}")

    def __str__(self) -> str:
        head = ("tensor", "from", "footprint", "g", "words")
        rows = [head]
        for c in self.copies:
            for n, (g, w) in enumerate(c.words):
                rows.append((c.tensor, c.source, str(c.footprint)) if n == 0 else ("", "", ""))
                rows[-1] += (str(g), str(w))
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
        return "\n".join([self._title(), *lines, f"occupancy = {self.occupancy}",
                          f"accesses  = {self.accesses}"])

    def _latex_table(self) -> str:
        head = r"\text{tensor} & \text{from} & \text{footprint} & g & \text{words}"
        body = []
        for c in self.copies:
            for n, (g, w) in enumerate(c.words):
                first = (rf"\text{{{c.tensor}}} & \text{{{c.source}}} & {sp.latex(c.footprint)}"
                         if n == 0 else " & & ")
                body.append(rf"{first} & {g} & {sp.latex(w)}")
        title = self._title().replace("_", r"\_")
        return (rf"\text{{{title}}}\\ \begin{{array}}{{lllll}} {head} \\ \hline "
                + r" \\ ".join(body) + r" \end{array}\\ "
                + rf"\text{{occupancy}} = {sp.latex(self.occupancy)}")

    def _repr_latex_(self) -> str:
        return rf"$\begin{{gathered}}{self._latex_table()}\end{{gathered}}$"


def _level_expressions(problem: Einsum, order, space: Mapspace, sizes: str, arch: Arch,
                       level: str | None) -> LevelExpressions | Expressions:
    if not space.is_orojenesis:
        raise BoundsolverError(f"{arch.name} has several levels: its expressions cover uniform "
                               "placement with perfect factors (the joint bound solves "
                               f"{space} too, but its expressions are not listed), not {space}")
    ranks = looping_ranks(problem)
    classes = level_classes(problem, arch, ranks)
    if order is not None:
        if not isinstance(order, LevelClass) or order.tensors != classes[0].tensors or len(
                order.segments) != len(arch.on_chip):
            raise BoundsolverError(f"on {arch.name}, order must be one of its LevelClasses "
                                   "(bs.expressions(problem, arch=arch) lists them), got "
                                   f"{order!r}")
        classes = [order]
    names = [lv.name for lv in arch.on_chip]
    levels = [names.index(level) + 1] if level is not None else range(1, len(names) + 1)
    out = tuple(_LevelBuilder(problem, arch, c, sizes).build(b) for c in classes for b in levels)
    return out[0] if len(out) == 1 else Expressions(problem, space, out)


class _LevelBuilder:
    """milp/levels.py's objectives of one level, from the same Terms as the MILP."""

    def __init__(self, problem: Einsum, arch: Arch, cls: LevelClass, sizes: str):
        self.problem, self.arch, self.cls = problem, arch, cls
        self.ranks = looping_ranks(problem)
        k = len(arch.on_chip)
        self.terms = Terms(problem, self.ranks, set(), k, sizes == "symbols")
        self.sizes = tuple(self.terms.n.items()) if sizes == "symbols" else ()
        self.spatial = {(d, b): _positive(_tile_name(d, b, 2).replace("t_", "s_", 1))
                        for b in range(1, k + 1) for d in arch.splits(problem, b) if d in self.ranks}
        self.stored = kept(problem, arch)

    def footprint(self, tensor: Tensor, b: int) -> sp.Expr:
        """One instance's tile: the global tile over every fanout at or above ``b``."""
        out = sp.Integer(1)
        for f in self.terms.footprint(tensor, b):
            if f.kind == "tile":
                d = f.keys[0][0]
                out *= f.expr / sp.Mul(*(s for (e, h), s in self.spatial.items() if e == d and h <= b))
            else:
                out *= f.expr
        return out

    def replicas(self, tensor: Tensor, source: int, b: int) -> tuple[sp.Expr, sp.Expr]:
        """``cost.replicas``: fanouts of ranks the tensor does not use at or above its source
        copy, and those below it whose parent does not multicast."""
        above = unicast = sp.Integer(1)
        for (d, h), s in self.spatial.items():
            if d in tensor.ranks or h > b:
                continue
            if h <= source:
                above *= s
            elif not self.arch.on_chip[h - 1].multicast:
                unicast *= s
        return above, unicast

    def words(self, i: int, tensor: Tensor, b: int, g: int) -> sp.Expr:
        """Fills of the copy when its innermost relevant loop lies in segment ``g - 1``."""
        if g == 0:
            return self.terms.whole(tensor)
        pos = self.cls.tensors[g - 1].index(i)
        return sp.Mul(*(f.expr for f in self.terms.traffic(tensor, self.cls.segments[g - 1],
                                                           pos, g, b)))

    def build(self, b: int) -> LevelExpressions:
        p, names = self.problem, [lv.name for lv in self.arch.on_chip]
        copies, occupancy, accesses = [], sp.Integer(0), sp.Integer(0)
        for i, T in enumerate(p.tensors):
            if b not in self.stored[i]:
                continue
            k = self.stored[i].index(b)
            source = self.stored[i][k - 1] if k else 0
            above, unicast = self.replicas(T, source, b)
            options = []
            for g in range(b + 1):
                fills = self.words(i, T, b, g)
                words = above * unicast * fills
                if T is p.output:  # written back as often, read back all but once
                    words += above * fills - above * self.terms.whole(T)
                options.append((g, words))
            footprint = self.footprint(T, b)
            copies.append(CopyExpressions(T.name, names[source - 1] if source else
                                          self.arch.backing_store, footprint, tuple(options)))
            occupancy += footprint
            choice = sp.Symbol(f"g_{T.name}", integer=True, nonnegative=True)
            accesses += sp.Piecewise(*((w, sp.Eq(choice, g)) for g, w in options[:-1]),
                                     (options[-1][1], True))
        return LevelExpressions(p, self.arch, names[b - 1], self.cls, tuple(copies), occupancy,
                                accesses, tuple(self.terms.t.items()), tuple(self.spatial.items()),
                                self.sizes)


def _tile_name(d: str, b: int, depth: int) -> str:
    if depth == 1:
        return f"t_{d}"
    return f"t_{d}_{b}" if d[-1].isdigit() else f"t_{d}{b}"


def _size_names(ranks: list[str]) -> dict[str, str]:
    """``M`` for rank ``m`` where that names no other rank's size, else ``N_m``."""
    upper = {d: d.upper() for d in ranks}
    if len(set(upper.values())) == len(ranks) and not any(u.startswith("t_") for u in upper.values()):
        return upper
    return {d: f"N_{d}" for d in ranks}


def _integer(value: sp.Expr, what: str) -> int:
    if not value.is_Integer:
        raise EinsumError(f"{what} is not an integer at these tiles ({value}): a perfect-factor "
                          "tile must divide its rank")
    return int(value)
