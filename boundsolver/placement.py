"""The exact MILP of the extended mapspaces (per-tensor placement, imperfect factors).

A *nest class* fixes which tensors share a storage boundary (group 0: whole tensors above every
loop; groups 1..k at increasing depth) and, for each segment, the order class (formulation.py) of
the loops just above its group. docs/mapspaces.md shows that this loses nothing: a tensor can
always be stored right below the segment holding its innermost relevant loop, the order of a
segment then only matters to the group below it, and a rank needs at most one loop per segment.

Within a class, every term is a product of tile factors:

* footprint of a tensor of group ``s``: its tiles at boundary ``s``;
* traffic of a tensor of group ``s`` with plain axes: ``|T| * prod_e count(e, s-1+a_e)`` over the
  ranks ``e`` it does not use, where ``count(e, b) = ceil(N_e / tile(e, b))`` is the number of
  distinct level-``b`` tiles and ``a_e`` says whether ``e``'s loop in segment ``s-1`` lies above
  the tensor's innermost relevant loop (sliding axes: symbolic.py's sweep, one level up).

Tiles of a perfect rank are integer prime exponents per level, nested by divisibility; an imperfect
rank picks each level's tile from a binary one-hot over ``ceil(N/c)`` sizes, its exponents tied to
the one-hot so that deeper tiles still divide the outer one. Products are the value one-hots of
``ProductModel``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from itertools import product

from .cost import divisors
from .einsum import Axis, Einsum, Tensor
from .formulation import Factor, Linear, OrderClass, ProductModel, looping_ranks, order_classes
from .nest import Mapspace, Nest, tile_sizes, windowed_ranks
from .symbolic import prime_exponents


@dataclass(frozen=True)
class NestClass:
    """Storage groups (tensor indices; group 0 stored whole) and each segment's order class."""

    groups: tuple[tuple[int, ...], ...]
    segments: tuple[OrderClass, ...]

    @property
    def depth(self) -> int:
        return len(self.segments)

    def group_of(self, i: int) -> tuple[int, int]:
        """(boundary, position in its group) of tensor ``i``."""
        return next((b, g.index(i)) for b, g in enumerate(self.groups) if i in g)


def storage_groups(n: int, per_tensor: bool):
    """Every way to give ``n`` tensors storage boundaries: group 0 (whole) and groups 1..k."""
    if not per_tensor:
        yield ((), tuple(range(n)))
        return
    for level in product(range(n + 1), repeat=n):
        used = sorted(set(level) - {0})
        if used != list(range(1, len(used) + 1)):
            continue
        yield tuple(tuple(i for i in range(n) if level[i] == b) for b in range(len(used) + 1))


def nest_classes(problem: Einsum, ranks: list[str], mapspace: Mapspace) -> list[NestClass]:
    tensors = problem.tensors
    per_group: dict[tuple[int, ...], list[OrderClass]] = {}
    classes = []
    for groups in storage_groups(len(tensors), mapspace.placement == "per_tensor"):
        options = []
        for g in groups[1:]:
            if g not in per_group:
                per_group[g] = order_classes(problem, ranks, tuple(tensors[i] for i in g))
            options.append(per_group[g])
        classes += [NestClass(groups, segs) for segs in product(*options)]
    return classes


class NestFormulation(ProductModel):
    """The MILP of one nest class; ``decode`` turns a solution into a :class:`Nest`."""

    def __init__(self, problem: Einsum, cls: NestClass, mapspace: Mapspace,
                 ranks: list[str] | None = None):
        super().__init__(problem)
        self.cls = cls
        self._setup(cls.depth, mapspace, ranks)
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

    def _tiles(self, d: str) -> None:
        """Variables of rank ``d``'s tile at each boundary 1..k, deeper tiles dividing outer ones."""
        n = self.problem.size[d]
        sizes = tile_sizes(n, d in self.imperfect)
        primes = sorted({p for u in sizes for p in prime_exponents(u)})
        if d in self.imperfect and self.k == 1:
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
                for p in primes:
                    self.m.row(f"nested[{d},{b},{p}]",
                               {self.exp[d, b][p]: 1, self.exp[d, b - 1][p]: -1}, -math.inf, 0)

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
                if any((d, b - 1) in tiles and tiles[d, b - 1] % t for (d, b), t in tiles.items()):
                    continue  # violates nesting
                name = ",".join(f"{d}{b}={t}" for (d, b), t in tiles.items())
                sel.append((self.m.var(f"combo[{name}]"), tiles))
            tag = ";".join(f"{d}{b}" for d, b in keys)
            self.m.row(f"combo_choice[{tag}]", {v: 1 for v, _ in sel}, 1, 1)
            self._tie(f"combo_tie[{tag}]", sel, self.exp)
            self._combos[keys] = sel
        return self._combos[keys]

    def _axis(self, axis: Axis, b: int, value, extra: tuple = ()) -> Factor:
        """A sliding axis's factor: ``value(tiles)`` over the joint tiles of its ranks."""
        keys = tuple((d, b) for d in axis.ranks if d in self.ranks) + extra
        if not keys or b == 0:
            return ("const", value(self.problem.size, self.problem.size[axis.ranks[0]]))
        size = self.problem.size
        out = []
        for v, tiles in self._combo(keys):
            t = size | {d: tiles[d, b] for d, _ in keys if (d, b) in tiles}
            above = tiles.get(extra[0], size[extra[0][0]]) if extra else None
            out.append((v, value(t, above)))
        return ("sel", out)

    # ----------------------------------------------------------------------------- terms
    def _footprint(self, tensor: Tensor, b: int) -> Linear:
        factors = [self._tile(a.ranks[0], b) if a.is_plain else
                   self._axis(a, b, lambda t, _, a=a: a.extent(t)) for a in tensor.axes]
        return self._product(f"footprint[{tensor.name}]", factors)

    def _moved(self, tensor: Tensor, b: int, pos: int) -> Linear:
        if b == 0:  # stored whole above every loop: fetched once
            return Linear({}, self.problem.tensor_size(tensor))
        factors = self._traffic_factors(tensor, self.cls.segments[b - 1], pos, b, b)
        return self._product(f"moved[{tensor.name}]", factors)

    def _traffic_factors(self, tensor: Tensor, oc: OrderClass, pos: int, g: int,
                         b: int) -> list[Factor]:
        """The factors of a copy's fills when its innermost relevant loop lies in segment
        ``g - 1`` (order class ``oc``, the tensor at ``pos`` of its group): the counts of the
        ranks it does not use, then its axes' words, their tiles read at boundary ``b`` (a
        hierarchy's copy pinned to ``g`` reads them at its own boundary)."""
        factors: list[Factor] = [self._count(e, g if e in oc.refetched[pos] else g - 1)
                                 for e in self.ranks if e not in tensor.ranks]
        j = oc.innermost[pos]
        for axis in tensor.axes:
            if axis.is_plain:
                factors.append(("const", self.problem.size[axis.ranks[0]]))
            elif j in axis.ranks:
                extra = ((j, g - 1),) if g > 1 else ()
                factors.append(self._axis(axis, b, self._sweep(axis, j), extra))
            else:
                factors.append(self._axis(axis, b, self._refetch(axis)))
        return factors

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
