"""The extended mapspaces: per-tensor buffer placement and imperfect factorization (docs/mapspaces.md).

A :class:`Nest` is one loop nest over tiles in which every tensor has its own storage point. Storage
points split the nest into *segments*: tensors of group ``b`` (``b = 1..k``) are stored right below
segment ``b - 1``; group 0 holds whole tensors stored above every loop. Rank ``d``'s tile at boundary
``b`` is ``levels[b-1][d]``; segment ``s`` loops over rank ``d`` from tile ``levels[s-1][d]`` (or the
rank size) down to ``levels[s][d]``. Loops below the deepest storage point change nothing and are
left implicit.

Tiles are nested on aligned grids: a tile of ``d`` at a deeper boundary divides the one above it,
except that the outermost tile of a rank may leave a partial last tile (imperfect factorization).
Partial tiles move only real data, and the number of distinct level-``b`` tiles of ``d`` is
``ceil(N_d / levels[b-1][d])``. :func:`evaluate` is the cost model of these nests in Python integers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

from .cost import Cost, assemble, divisors
from .einsum import Einsum, Tensor
from .errors import BoundsolverError, EinsumError

PLACEMENTS = ("uniform", "per_tensor")
FACTORS = ("perfect", "imperfect")


@dataclass(frozen=True)
class Mapspace:
    """Which mappings a curve ranges over. The default is the Orojenesis mapspace (model.md).

    ``placement="per_tensor"``: every tensor's tile may sit at its own depth of the loop nest
    (LoopTree / AccelForge). ``factors="imperfect"``: tile sizes need not divide the rank size;
    ranks that index a sliding window keep perfect factors.
    """

    placement: str = "uniform"
    factors: str = "perfect"

    def __post_init__(self) -> None:
        if self.placement not in PLACEMENTS:
            raise BoundsolverError(f"placement must be one of {PLACEMENTS}, got {self.placement!r}")
        if self.factors not in FACTORS:
            raise BoundsolverError(f"factors must be one of {FACTORS}, got {self.factors!r}")

    @property
    def is_orojenesis(self) -> bool:
        return self == Mapspace()

    def __str__(self) -> str:
        return f"{self.placement}/{self.factors}"


def mapspace_of(value: Mapspace | str | None) -> Mapspace:
    """A Mapspace from a Mapspace, None (the default) or ``"per_tensor/imperfect"``-style text."""
    if value is None:
        return Mapspace()
    if isinstance(value, Mapspace):
        return value
    if isinstance(value, str):
        parts = value.split("/")
        if len(parts) == 2:
            return Mapspace(*parts)
    raise BoundsolverError(f"mapspace must be a bs.Mapspace or 'placement/factors' text "
                           f"(e.g. 'per_tensor/imperfect'), got {value!r}")


@cache
def tile_sizes(n: int, imperfect: bool) -> tuple[int, ...]:
    """Candidate tile sizes of a rank of size ``n``: its divisors, or with imperfect factors every
    smallest tile for its number of tiles, ``ceil(n / c)`` (about ``2 * sqrt(n)`` values)."""
    if not imperfect:
        return tuple(divisors(n))
    return tuple(sorted({-(-n // c) for c in range(1, n + 1)}))


def windowed_ranks(problem: Einsum) -> set[str]:
    """Ranks that appear in an axis that is not plain: they keep perfect factors."""
    return {d for T in problem.tensors for a in T.axes if not a.is_plain for d in a.ranks}


@dataclass(frozen=True, slots=True)
class Nest:
    """Tiles at each storage boundary, the loop order of each segment, each tensor's boundary.

    ``spatial`` (hierarchies with fanout, docs/hierarchy.md): per boundary ``b``, the factors
    ``(rank, s)`` by which level ``b``'s instances split the tile, a parallel loop at the bottom
    of segment ``b - 1``; ``()``: no fanout. ``levels`` then hold *global* tiles, the extent
    every instance of level ``b`` covers together (so the temporal loops and ``moved_at`` read
    them unchanged); one instance holds :meth:`instance_tile`."""

    levels: tuple[tuple[tuple[str, int], ...], ...]
    orders: tuple[tuple[str, ...], ...]
    storage: tuple[tuple[str, int], ...]
    spatial: tuple[tuple[tuple[str, int], ...], ...] = ()

    @property
    def tiles(self) -> tuple[tuple[str, int], ...]:
        """The tiles at the deepest storage boundary (what the MAC works through)."""
        return self.levels[-1] if self.levels else ()

    def tile(self, problem: Einsum, b: int) -> dict[str, int]:
        """Tile of every rank at boundary ``b`` (0: the whole rank)."""
        return problem.size if b == 0 else dict(self.levels[b - 1])

    def fanout(self, b: int) -> dict[str, int]:
        """The spatial factors of level ``b``'s fanout (boundary ``b``; empty without)."""
        return dict(self.spatial[b - 1]) if self.spatial and b >= 1 else {}

    def instance_tile(self, problem: Einsum, b: int) -> dict[str, int]:
        """The tile one instance of boundary ``b``'s level holds: the global tile divided by
        every fanout at or above ``b``."""
        tile = dict(self.tile(problem, b))
        for level in range(1, b + 1):
            for d, s in self.fanout(level).items():
                tile[d] //= s
        return tile

    def segment(self, problem: Einsum, s: int) -> list[tuple[str, int]]:
        """The loops of segment ``s`` that iterate: (rank, trip count), outermost first."""
        above, below = self.tile(problem, s), self.tile(problem, s + 1)
        loops = [(d, -(-above[d] // below[d])) for d in self.orders[s]]
        return [(d, n) for d, n in loops if n > 1]

    def loops(self, problem: Einsum) -> tuple[str, ...]:
        return tuple(d for s in range(len(self.levels)) for d, _ in self.segment(problem, s))

    def describe(self, problem: Einsum, copies: Copies | None = None) -> str:
        """A readable loop nest with storage points, e.g.
        ``[B] for m in [0,4096): [A{m:1,k:4096}] for n in [0,4096): [Z{m:1,n:1}]`` (``[B]``: whole).
        With ``copies`` (a hierarchy nest), each copy names its level: ``[A@L2{m:1,k:16}]``."""
        tag = {}
        if copies is not None:
            for (name, b), lv in zip(self.storage, copies.level):
                tag.setdefault((name, b), []).append(copies.names[lv - 1])
        stored = set(self.storage)  # a tensor of a hierarchy is stored at several boundaries
        parts = []
        for b in range(len(self.levels) + 1):
            if b > 0:
                parts += [f"for {d} in [0,{n}):" for d, n in self.segment(problem, b - 1)]
                parts += [f"parfor {d} in [0,{n}):" for d, n in self.fanout(b).items() if n > 1]
            tile = self.instance_tile(problem, b)
            for T in problem.tensors:
                if (T.name, b) in stored:
                    shown = ",".join(f"{d}:{tile[d]}" for d in T.ranks)
                    for at in tag.get((T.name, b), [""]):
                        name = f"{T.name}@{at}" if at else T.name
                        parts.append(f"[{name}{{{shown}}}]" if b else f"[{name}]")
        return " ".join(parts)


def check_nest(problem: Einsum, nest: Nest, imperfect: bool = True) -> None:
    size = problem.size
    where = dict(nest.storage)
    if set(where) != {T.name for T in problem.tensors}:
        raise EinsumError(f"nest must place every tensor of {problem} exactly once, got {where}")
    k = len(nest.levels)
    if len(nest.orders) != k or any(not 0 <= b <= k for b in where.values()):
        raise EinsumError(f"nest with {k} levels needs {k} segment orders and boundaries in [0,{k}]")
    windowed = windowed_ranks(problem)
    for b, level in enumerate(nest.levels, start=1):
        tile = dict(level)
        if set(tile) != set(problem.ranks):
            raise EinsumError(f"level {b} of the nest must give a tile for every rank")
        for d, t in tile.items():
            above = nest.tile(problem, b - 1)[d]
            if not isinstance(t, int) or not 1 <= t <= above:
                raise EinsumError(f"tile {t!r} of rank {d!r} at level {b} must be in [1,{above}]")
            perfect_only = b > 1 or d in windowed or not imperfect
            if perfect_only and above % t:
                raise EinsumError(f"tile {t} of rank {d!r} at level {b} must divide {above}"
                                  + (" (rank of a sliding window)" if d in windowed and b == 1 else ""))
        order = nest.orders[b - 1]
        if len(set(order)) != len(order) or not set(order) <= set(size):
            raise EinsumError(f"segment {b - 1} order {order} must name distinct ranks")
        missing = [d for d in size if d not in order and nest.tile(problem, b - 1)[d] > tile[d]]
        if missing:
            raise EinsumError(f"segment {b - 1} order {order} lacks ranks that iterate there: {missing}")


def moved(problem: Einsum, tensor: Tensor, nest: Nest) -> int:
    """Words of ``tensor`` moved between backing store and buffer (docs/mapspaces.md)."""
    return moved_at(problem, tensor, nest, dict(nest.storage)[tensor.name])


def moved_at(problem: Einsum, tensor: Tensor, nest: Nest, b: int) -> int:
    """Words of ``tensor`` filled into its copy stored at boundary ``b``: how often that tile
    changes over the loops above ``b``, whichever level supplies it (so one rule serves the
    backing store's boundary and every inner level of a hierarchy)."""
    size = problem.size
    above = [(s, d, n) for s in range(b) for d, n in nest.segment(problem, s)]
    relevant = [i for i, (_, d, _) in enumerate(above) if d in tensor.ranks]
    if not relevant:
        return problem.tensor_size(tensor)
    i = relevant[-1]
    sj, j, fj = above[i]
    t = nest.tile(problem, b)
    # Irrelevant loops above j: as many re-fetches as distinct tiles they step through.
    deepest = {d: s for s, d, _ in above[:i]}
    count = math.prod(-(-size[d] // nest.tile(problem, s + 1)[d])
                      for d, s in deepest.items() if d not in tensor.ranks)
    for axis in tensor.axes:
        if axis.is_plain:
            count *= size[axis.ranks[0]]  # every element of the axis, partial tiles included
            continue
        ext = axis.extent(t)
        tiles = math.prod(size[d] // t[d] for d in axis.ranks if d != j)
        if j not in axis.ranks:  # every tile of the axis fetched whole
            count *= ext * tiles
            continue
        outer = size[j] // nest.tile(problem, sj)[j]  # loops of j's rank above j
        # Consecutive tiles along a sliding axis overlap; only the new part is fetched.
        count *= tiles * outer * (ext + (fj - 1) * min(axis.coef(j) * t[j], ext))
    return count


def evaluate(problem: Einsum, nest: Nest, check: bool = True, imperfect: bool = True) -> Cost:
    """Occupancy and accesses of a nest; the output uses first-read elision (as in model.md)."""
    if check:
        check_nest(problem, nest, imperfect)
    where = dict(nest.storage)
    occupancy = sum(T.footprint(nest.tile(problem, where[T.name])) for T in problem.tensors)
    return assemble(problem, lambda T: moved(problem, T, nest), occupancy)


# ------------------------------------------------------------------------------ hierarchies

@dataclass(frozen=True, slots=True)
class Copies:
    """Which on-chip level each stored copy of a hierarchy nest belongs to.

    ``level[i]`` is the on-chip level (1: the outermost after the backing store) of the copy
    ``nest.storage[i] = (tensor, boundary)``; ``names`` are every on-chip level's name, outermost
    first (``len(names)`` levels, one perhaps holding nothing). A tensor has at most one copy per
    level, and its copies' boundaries never decrease inwards (an inner copy is never above an
    outer one); copies of different tensors are unconstrained (per-tensor placement within each
    level). Without it (``copies=None``) boundary ``b`` is level ``b``: uniform placement, one
    boundary per level, as the MILP (levels.py) and the uniform enumerator build them.

    ``fanout_at`` (with spatial fanout): per level, the boundary right below its fanout loop
    (``nest.spatial`` is indexed by boundary; 0: the level has none): every copy of an outer
    level sits above it and every copy of this level or an inner one at or below it. None: level
    ``l``'s fanout is at boundary ``l`` (uniform placement)."""

    level: tuple[int, ...]
    names: tuple[str, ...]
    fanout_at: tuple[int, ...] | None = None

    @classmethod
    def uniform(cls, nest: Nest, names: tuple[str, ...]) -> Copies:
        """Boundary ``b`` is level ``b`` (a nest with one boundary per on-chip level)."""
        return cls(tuple(b for _, b in nest.storage), tuple(names))


@dataclass(frozen=True)
class LevelCost:
    """A nest's cost on a hierarchy of on-chip levels, outermost first: each level's occupancy
    (words per instance: the footprints of the copies it holds), the words moved into its copies
    from the nearest outer copy of each tensor (the backing store for the outermost), and the
    backing store's traffic."""

    occupancy: tuple[int, ...]
    accesses: tuple[int, ...]
    dram: int

    @property
    def key(self) -> tuple[int, ...]:
        """The lexicographic objective: backing-store traffic, then the traffic into each level
        from the outermost inwards (into the first level it repeats the backing store's unless
        that level is bypassed by some tensor; either way it is then well defined)."""
        return (self.dram, *self.accesses)


def _copies(nest: Nest, copies: Copies | None) -> tuple[tuple[int, ...], int]:
    """Each copy's level, parallel to ``nest.storage``, and the number of levels."""
    if copies is None:
        return tuple(b for _, b in nest.storage), len(nest.levels)
    if len(copies.level) != len(nest.storage):
        raise EinsumError(f"copies give {len(copies.level)} levels for {len(nest.storage)} "
                          "stored copies; give one level per entry of nest.storage")
    return copies.level, len(copies.names)


def storage_points(nest: Nest, name: str, copies: Copies | None = None) -> list[int]:
    """The boundaries at which tensor ``name`` is stored, its outermost level's copy first."""
    level, _ = _copies(nest, copies)
    return [b for _, b in sorted((lv, b) for (n, b), lv in zip(nest.storage, level) if n == name)]


def replicas(tensor: Tensor, nest: Nest, source: int, b: int,
             multicast: tuple[bool, ...] | None = None,
             fanouts: list[dict[str, int]] | None = None) -> tuple[int, int]:
    """How often a copy's traffic repeats across instances beyond the distinct data
    (docs/hierarchy.md, "Spatial fanout"), for the copy of level ``b`` filled from
    ``tensor``'s copy of level ``source`` (0: the backing store), as two factors over the
    fanouts that split ranks the tensor does not use: those of levels at or above ``source``
    replicate the source (each replica fills its own subtree); those of levels in
    ``(source, b]`` whose parent does not multicast deliver the same data to each instance
    separately (a multicast parent delivers it, and reduces partial sums, once). ``fanouts``:
    each level's splits (default: ``nest.fanout(level)``, uniform placement)."""
    above = unicast = 1
    for level in range(1, b + 1):
        mc = multicast is None or multicast[level - 1]
        split = fanouts[level - 1] if fanouts is not None else nest.fanout(level)
        for d, s in split.items():
            if d in tensor.ranks:
                continue
            if level <= source:
                above *= s
            elif not mc:
                unicast *= s
    return above, unicast


def copy_words(problem: Einsum, tensor: Tensor, nest: Nest, source: int, b: int,
               multicast: tuple[bool, ...] | None = None, boundary: int | None = None,
               fanouts: list[dict[str, int]] | None = None) -> int:
    """Words between a copy of level ``b`` and its source copy of level ``source``: its fills
    (``moved_at`` at its ``boundary``, default ``b``, over the global tiles) times its
    :func:`replicas`. The output's copies are
    written back as often; they are read back all but the first time, and an instance that
    shares a partial-sum tile with others under a non-multicast parent is one of several
    writers but only one of them needs to read the running sum back (the others start from
    zero), so its reads repeat only across the source's replicas."""
    m = moved_at(problem, tensor, nest, b if boundary is None else boundary)
    above, unicast = replicas(tensor, nest, source, b, multicast, fanouts)
    if tensor is problem.output:
        return above * (m * unicast + m - problem.tensor_size(tensor))
    return above * unicast * m


def _fanouts(nest: Nest, copies: Copies | None, level: tuple[int, ...], k: int
             ) -> list[dict[str, int]]:
    """Each level's splits, from where ``copies.fanout_at`` puts its fanout loop (uniform:
    level ``l``'s at boundary ``l``), after checking that no copy sits on the wrong side of a
    fanout and that every split belongs to a level."""
    if copies is None or not nest.spatial:
        return [nest.fanout(lv) for lv in range(1, k + 1)]
    at = copies.fanout_at
    if at is None or len(at) != k:
        raise EinsumError(f"a nest with spatial fanout and per-tensor copies needs "
                          f"Copies.fanout_at: one boundary per level ({k}), got {at}")
    claimed = {b for b in at if b and nest.fanout(b)}
    stray = [b for b in range(1, len(nest.levels) + 1) if nest.fanout(b) and b not in claimed]
    used = [b for b in at if b and nest.fanout(b)]
    if stray or len(set(used)) < len(used):
        raise EinsumError(f"every spatial split must be one level's fanout (fanout_at={at}); "
                          f"boundaries {stray or 'shared'} are not")
    for lv in range(1, k + 1):
        if not at[lv - 1] or not nest.fanout(at[lv - 1]):
            continue
        wrong = [(lv2, b) for (_, b), lv2 in zip(nest.storage, level)
                 if (lv2 < lv and b >= at[lv - 1]) or (lv2 >= lv and b < at[lv - 1])]
        if wrong:
            raise EinsumError(f"level {lv}'s fanout sits above boundary {at[lv - 1]}: copies of "
                              f"outer levels must sit above it and its own and inner ones below; "
                              f"copies (level, boundary) {wrong} do not")
    return [nest.fanout(at[lv - 1]) if at[lv - 1] else {} for lv in range(1, k + 1)]


def check_spatial(problem: Einsum, nest: Nest) -> None:
    """A fanout gives one factor per boundary and keeps every instance's tile whole."""
    if not nest.spatial:
        return
    if len(nest.spatial) != len(nest.levels):
        raise EinsumError(f"a nest with {len(nest.levels)} boundaries needs as many spatial "
                          f"entries (or none), got {len(nest.spatial)}")
    windowed = windowed_ranks(problem)
    for b in range(1, len(nest.levels) + 1):
        for d, s in nest.fanout(b).items():
            if d not in problem.size or not isinstance(s, int) or s < 1:
                raise EinsumError(f"spatial factor {s!r} of rank {d!r} at level {b} must be a "
                                  "positive whole number of a rank of the problem")
            if d in windowed and s > 1:
                raise EinsumError(f"rank {d!r} indexes a sliding window: spatial fanout does not "
                                  "split it (not modelled)")
    inner = nest.instance_tile(problem, len(nest.levels))
    cover = {d: math.prod(nest.fanout(b).get(d, 1) for b in range(1, len(nest.levels) + 1))
             for d in problem.size}
    bad = [d for d in problem.size if inner[d] * cover[d] != nest.tile(problem, len(nest.levels))[d]]
    if bad:
        raise EinsumError(f"the fanouts of {', '.join(bad)} do not divide their innermost "
                          "global tile: every instance must hold a whole tile")


def evaluate_levels(problem: Einsum, nest: Nest, copies: Copies | None = None,
                    multicast: tuple[bool, ...] | None = None) -> LevelCost:
    """Per-level occupancy and traffic of a nest whose tensors may be stored at several
    boundaries, one copy per level keeping them (a hierarchy). ``copies`` says which level each
    copy belongs to (None: boundary ``b`` is level ``b``). A level's occupancy is the footprint of
    its copies' tiles (one instance's); each copy moves :func:`copy_words`: filled ``moved_at``
    its boundary times over the global tiles, repeated across instances (``multicast[l - 1]``:
    whether level ``l``'s parent multicasts; None: all do); the output's copies are written back
    as often and read back all but the first time (first-read elision at every boundary, as at
    the backing store's). A tensor's outermost copy is the one the backing store fills."""
    level, k = _copies(nest, copies)
    depth = len(nest.levels)
    check_spatial(problem, nest)
    fanouts = _fanouts(nest, copies, level, k)
    occupancy, accesses, dram = [0] * k, [0] * k, 0
    for T in problem.tensors:
        mine = sorted((lv, b) for (n, b), lv in zip(nest.storage, level) if n == T.name)
        if not mine or mine[0][1] < 1:
            raise EinsumError(f"a hierarchy's nest stores every tensor at boundaries 1..{depth}; "
                              f"{T.name} is stored at {[b for _, b in mine] or 'none'}")
        if any(not 1 <= lv <= k for lv, _ in mine) or len({lv for lv, _ in mine}) < len(mine):
            raise EinsumError(f"{T.name}'s copies must sit at distinct levels in 1..{k}, got "
                              f"{[lv for lv, _ in mine]}")
        if any(b > depth for _, b in mine) or any(b1 > b2 for (_, b1), (_, b2) in zip(mine, mine[1:])):
            raise EinsumError(f"{T.name}'s copies must sit at boundaries in 1..{depth}, never "
                              f"above an outer level's copy; got {mine} (level, boundary)")
        for i, (lv, b) in enumerate(mine):
            words = copy_words(problem, T, nest, mine[i - 1][0] if i else 0, lv, multicast, b,
                               fanouts)
            occupancy[lv - 1] += T.footprint(nest.instance_tile(problem, b))
            accesses[lv - 1] += words
            if i == 0:
                dram += words
    return LevelCost(tuple(occupancy), tuple(accesses), dram)
