"""The one place that evaluates a concrete mapping, in Python integers.

**The one mapping model.** A mapping is a loop nest (:class:`Nest`). Storage *boundaries*
``b = 1..k`` cut it into segments: segment ``s`` loops over every rank from its tile at boundary
``s`` down to its tile at boundary ``s + 1``, in an order of its own, and boundary 0 is the whole
problem above every loop. Every tensor keeps a copy at one or more boundaries (per-tensor storage
points); :class:`Copies` says which on-chip level each copy belongs to, and ``Nest.spatial`` puts a
level's fanout (a parallel loop over its instances) above a boundary. Each mapping the package
reasons about is such a nest:

- the Orojenesis mapping (:class:`Mapping`, model.md) is a one-boundary nest, every tensor stored
  at boundary 1 of one buffer (:meth:`Mapping.nest`);
- per-tensor placement and imperfect factorization (docs/mapspaces.md) are nests of one on-chip
  level, each tensor's copy at its own boundary (0: the whole tensor, fetched once);
- a hierarchy (docs/hierarchy.md) is a nest with a copy per level that keeps a tensor, the levels'
  fanouts at boundaries.

One core, :func:`traffic`, costs all of them: every copy's fills from its source (the nearest outer
copy, or the backing store) by one rule for every boundary (:func:`moved_at`), its repetition
across instances (:func:`replicas`), the output's write-backs and read-backs (first-read elision),
and every level's occupancy. :func:`evaluate` (one buffer: :class:`Cost`) and
:func:`evaluate_levels` (a hierarchy: :class:`LevelCost`) only sum its copies differently, so the
one-buffer curve, the extended mapspaces and the hierarchies cannot drift apart. The solvers and
enumerators re-cost every point they report through it. model.md's closed form for one Mapping is
not used here: the tests keep it (tests/reference_model.py) as the independent reference.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from functools import cache
from typing import NamedTuple

from ..errors import EinsumError
from .einsum import Einsum, Tensor, whole
from .mapspace import windowed_ranks

# ------------------------------------------------------------------------------------ mapspaces


# ------------------------------------------------------------------------------------- mappings

def _int_tiles(tiles):
    """Tile sizes of any integer type (numpy's too) as Python ints: costs are exact integer
    arithmetic, which int64 would overflow silently. Anything else is left for the checks to
    name (check_mapping, check_nest)."""
    try:
        if all(type(v) is int for _, v in tiles):
            return tiles
        return tuple((d, v if whole(v) is None else whole(v)) for d, v in tiles)
    except (TypeError, ValueError):
        return tiles


@dataclass(frozen=True, slots=True)
class Mapping:
    """Tile size per rank and the outer loop order (outermost first): the Orojenesis mapspace
    (model.md), one buffer holding every tensor's tile. Only loops with more than one iteration
    matter; the rest may appear anywhere or not at all. It is the one-boundary :class:`Nest`
    :meth:`nest`, and is costed as that nest."""

    tiles: tuple[tuple[str, int], ...]
    order: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "tiles", _int_tiles(self.tiles))

    @property
    def tile(self) -> dict[str, int]:
        return dict(self.tiles)

    def loops(self, problem: Einsum) -> tuple[str, ...]:
        """The outer loops that matter: those with more than one iteration, outermost first."""
        t = self.tile
        return tuple(d for d in self.order if problem.size[d] // t[d] > 1)

    def nest(self, problem: Einsum) -> Nest:
        """The same mapping as a nest: one boundary with these tiles under this order, every
        tensor stored there."""
        return Nest((self.tiles,), (self.order,), tuple((T.name, 1) for T in problem.tensors))

    def describe(self, problem: Einsum) -> str:
        """A readable loop nest, e.g. ``for n in [0,4): for m in [0,2): buffer{m:2048,k:4096,n:1024}``."""
        t = self.tile
        outer = " ".join(f"for {d} in [0,{problem.size[d] // t[d]}):" for d in self.loops(problem))
        inner = ",".join(f"{d}:{t[d]}" for d in problem.ranks)
        return f"{outer} buffer{{{inner}}}".strip()


@dataclass(frozen=True, slots=True)
class Nest:
    """Tiles at each storage boundary, the loop order of each segment, each tensor's boundary.

    Rank ``d``'s tile at boundary ``b`` is ``levels[b-1][d]`` (boundary 0: the rank size);
    segment ``s`` loops over ``d`` from its tile at ``s`` down to its tile at ``s + 1`` in the
    order ``orders[s]``. Loops below the deepest storage point change nothing and are left
    implicit. ``storage`` holds ``(tensor, boundary)`` per stored copy: once per tensor for one
    buffer, once per level that keeps it for a hierarchy (:class:`Copies`).

    Tiles are nested on aligned grids: a tile of ``d`` at a deeper boundary divides the one above
    it, except that the outermost tile of a rank may leave a partial last tile (imperfect
    factorization). Partial tiles move only real data, and the number of distinct boundary-``b``
    tiles of ``d`` is ``ceil(N_d / levels[b-1][d])``.

    ``spatial`` (hierarchies with fanout, docs/hierarchy.md): per boundary ``b``, the factors
    ``(rank, s)`` by which level ``b``'s instances split the tile, a parallel loop at the bottom
    of segment ``b - 1``; ``()``: no fanout. ``levels`` then hold *global* tiles, the extent
    every instance of level ``b`` covers together (so the temporal loops and ``moved_at`` read
    them unchanged); one instance holds :meth:`instance_tile`."""

    levels: tuple[tuple[tuple[str, int], ...], ...]
    orders: tuple[tuple[str, ...], ...]
    storage: tuple[tuple[str, int], ...]
    spatial: tuple[tuple[tuple[str, int], ...], ...] = ()

    def __post_init__(self) -> None:
        if not all(type(v) is int for level in self.levels for _, v in level):
            object.__setattr__(self, "levels", tuple(_int_tiles(lv) for lv in self.levels))

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


@cache
def _one_buffer(copies: int) -> Copies:
    """Every copy in the one on-chip level of a one-buffer nest (model.md's architecture)."""
    return Copies((1,) * copies, ("buffer",))


# ----------------------------------------------------------------------------------------- costs

@dataclass(frozen=True, slots=True)
class Cost:
    """Occupancy and backing-store traffic of one mapping, in words."""

    occupancy: int
    accesses: int
    reads: tuple[tuple[str, int], ...]
    writes: tuple[tuple[str, int], ...]


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


class CopyTraffic(NamedTuple):
    """One stored copy's cost: ``reads`` words filled into it from its source copy (level
    ``source``; 0: the backing store), ``writes`` words written back to it (the output's partial
    sums; 0 for inputs), ``occupancy`` the footprint one instance holds."""

    tensor: str
    level: int
    boundary: int
    source: int
    occupancy: int
    reads: int
    writes: int


class Traffic(NamedTuple):
    """What :func:`traffic` computes: every stored copy (by tensor in ``problem.tensors`` order,
    each tensor's outermost copy first) and every level's occupancy."""

    copies: tuple[CopyTraffic, ...]
    occupancy: tuple[int, ...]


# ---------------------------------------------------------------------------------------- checks

def check_mapping(problem: Einsum, mapping: Mapping) -> None:
    t = mapping.tile
    for d, n in problem.sizes:
        if d not in t:
            raise EinsumError(f"mapping has no tile size for rank {d!r}")
        if not isinstance(t[d], int) or t[d] < 1:
            raise EinsumError(f"tile {t[d]!r} of rank {d!r} must be a positive integer")
        if n % t[d]:
            raise EinsumError(f"tile {t[d]!r} of rank {d!r} does not divide its size {n}")
    extra = set(t) - set(problem.ranks)
    if extra:
        raise EinsumError(f"mapping has tiles for unknown ranks {sorted(extra)}")
    if len(set(mapping.order)) != len(mapping.order) or not set(mapping.order) <= set(problem.ranks):
        raise EinsumError(f"loop order {mapping.order} must name distinct ranks of the problem")
    missing = [d for d, n in problem.sizes if n // t[d] > 1 and d not in mapping.order]
    if missing:
        raise EinsumError(f"loop order {mapping.order} lacks ranks with several tiles: {missing}")


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


def check_level_tiles(problem: Einsum, nest: Nest, factors: str = "perfect") -> None:
    """A hierarchy nest's tiles belong to the factor rule ``factors`` (docs/hierarchy.md,
    "Imperfect factors"): every tile is a whole number in [1, the tile above]; with ``"perfect"``
    each divides the tile above (the rank size at boundary 0); with ``"imperfect"`` a rank's
    *outermost split* (its first boundary whose tile is below the rank size) may leave a partial
    last tile, and every deeper tile divides the one above it, so the grids of every boundary
    stay aligned and rank d has ``ceil(N_d / tile)`` distinct tiles at each. Ranks of sliding
    windows stay perfect."""
    if factors not in ("perfect", "imperfect"):
        raise EinsumError(f"factors must be 'perfect' or 'imperfect', got {factors!r}")
    windowed = windowed_ranks(problem)
    size = problem.size
    for b, level in enumerate(nest.levels, start=1):
        tile = dict(level)
        for d, n in size.items():
            t, above = tile.get(d), nest.tile(problem, b - 1).get(d)
            if not isinstance(t, int) or above is None or not 1 <= t <= above:
                raise EinsumError(f"tile {t!r} of rank {d!r} at boundary {b} must be a whole "
                                  f"number in [1,{above}]")
            first = above == n and factors == "imperfect" and d not in windowed
            if above % t and not first:
                why = (" (rank of a sliding window)" if d in windowed and factors == "imperfect"
                       else "" if factors == "perfect" else
                       f" (only the outermost split of a rank may be imperfect; {d!r} is "
                       "already split above)")
                raise EinsumError(f"tile {t} of rank {d!r} at boundary {b} must divide the tile "
                                  f"{above} above it{why}")


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


# ------------------------------------------------------------------------------------------ core

class _Shape(NamedTuple):
    """What the core reads of a tensor, computed once per tensor object: its ranks, and per axis
    the rank of a plain axis (``terms`` None) or a sliding axis' ``(rank, coef)`` terms."""

    ranks: frozenset[str]
    axes: tuple[tuple[str | None, tuple[tuple[str, int], ...] | None], ...]

    def footprint(self, tiles: dict[str, int]) -> int:
        """``Tensor.footprint``: the product of the axes' extents."""
        words = 1
        for plain, terms in self.axes:
            if plain is not None:
                words *= tiles[plain]
            else:
                words *= sum(c * (tiles[d] - 1) for d, c in terms) + 1
        return words


_SHAPES: dict[int, tuple[Tensor, _Shape]] = {}
_SIZES: dict[int, tuple[Einsum, dict[str, int]]] = {}


def _shape(tensor: Tensor) -> _Shape:
    hit = _SHAPES.get(id(tensor))
    if hit is not None and hit[0] is tensor:
        return hit[1]
    if len(_SHAPES) > 4096:
        _SHAPES.clear()
    axes = tuple((a.terms[0].rank, None) if a.is_plain
                 else (None, tuple((t.rank, t.coef) for t in a.terms)) for a in tensor.axes)
    shape = _Shape(frozenset(tensor.ranks), axes)
    _SHAPES[id(tensor)] = (tensor, shape)
    return shape


def _size(problem: Einsum) -> dict[str, int]:
    """``problem.size``, built once per problem object (read only)."""
    hit = _SIZES.get(id(problem))
    if hit is not None and hit[0] is problem:
        return hit[1]
    if len(_SIZES) > 4096:
        _SIZES.clear()
    size = problem.size
    _SIZES[id(problem)] = (problem, size)
    return size


class _Walk:
    """A nest's tiles at every boundary and its iterating loops, outermost first, computed once
    for all the copies costed on it (``upto``: only the boundaries ``0..upto``)."""

    __slots__ = ("size", "tiles", "loops", "ends")

    def __init__(self, problem: Einsum, nest: Nest, upto: int | None = None):
        self.size = size = _size(problem)
        depth = len(nest.levels) if upto is None else upto
        self.tiles = tiles = [size]
        self.loops = loops = []  # (segment, rank, trips)
        self.ends = ends = [0]  # loops[:ends[b]] are the loops above boundary b
        for s in range(depth):
            above, below = tiles[s], dict(nest.levels[s])
            tiles.append(below)
            for d in nest.orders[s]:
                n = -(-above[d] // below[d])
                if n > 1:
                    loops.append((s, d, n))
            ends.append(len(loops))

    def fills(self, shape: _Shape, b: int) -> int:
        """Words of a tensor filled into its copy at boundary ``b`` (see :func:`moved_at`)."""
        ranks = shape.ranks
        loops = self.loops
        i = self.ends[b] - 1
        while i >= 0 and loops[i][1] not in ranks:
            i -= 1
        size = self.size
        if i < 0:
            return shape.footprint(size)  # the whole tensor (as swept), once
        sj, j, fj = loops[i]
        tiles = self.tiles
        t = tiles[b]
        # Irrelevant loops above j: as many re-fetches as distinct tiles they step through.
        deepest = {d: s for s, d, _ in loops[:i]}
        count = math.prod(-(-size[d] // tiles[s + 1][d])
                          for d, s in deepest.items() if d not in ranks)
        outer = size[j] // tiles[sj][j]  # loops of j's rank above j
        for plain, terms in shape.axes:
            if plain is not None:
                count *= size[plain]  # every element of the axis, partial tiles included
                continue
            ext = sum(c * (t[d] - 1) for d, c in terms) + 1
            tiles_ = math.prod(size[d] // t[d] for d, _ in terms if d != j)
            coef = next((c for d, c in terms if d == j), None)
            if coef is None:  # every tile of the axis fetched whole
                count *= ext * tiles_
                continue
            # Consecutive tiles along a sliding axis overlap; only the new part is fetched.
            count *= tiles_ * outer * (ext + (fj - 1) * min(coef * t[j], ext))
        return count


def moved_at(problem: Einsum, tensor: Tensor, nest: Nest, b: int) -> int:
    """Words of ``tensor`` filled into its copy stored at boundary ``b``: how often that tile
    changes over the loops above ``b``, whichever level supplies it (so one rule serves the
    backing store's boundary and every inner level of a hierarchy; docs/mapspaces.md).

    Let j be the innermost loop above ``b`` over a rank of the tensor. None: the tensor is
    stored whole and moved once. Else every loop above j over a rank the tensor does not use
    re-fetches it once per distinct tile it steps through, and below them each axis moves all of
    its data, except that along a sliding axis that j advances consecutive tiles overlap and only
    the new part is fetched."""
    return _Walk(problem, nest, b).fills(_shape(tensor), b)


def moved(problem: Einsum, tensor: Tensor, nest: Nest | Mapping) -> int:
    """Words of ``tensor`` moved between the backing store and its one stored copy (a
    one-buffer nest or a Mapping): :func:`moved_at` at its storage point."""
    if isinstance(nest, Mapping):
        nest = nest.nest(problem)
    return moved_at(problem, tensor, nest, dict(nest.storage)[tensor.name])


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


def _reads_writes(output: bool, fills: int, above: int, unicast: int, whole: int
                  ) -> tuple[int, int]:
    """A copy's (reads, writes) with its source from its fills and :func:`replicas`. An input is
    read on every fill by every replica. The output's partial sums are written back on every
    fill by every writer and read back all but the first time (first-read elision, at every
    boundary as at the backing store's); an instance that shares a partial-sum tile with others
    under a non-multicast parent is one of several writers, but only one of them needs to read
    the running sum back (the others start from zero), so its reads repeat only across the
    source's replicas."""
    if output:
        return above * (fills - whole), above * fills * unicast
    return above * unicast * fills, 0


def copy_words(problem: Einsum, tensor: Tensor, nest: Nest, source: int, b: int,
               multicast: tuple[bool, ...] | None = None, boundary: int | None = None,
               fanouts: list[dict[str, int]] | None = None) -> int:
    """Words between a copy of level ``b`` and its source copy of level ``source``, reads plus
    writes (as :func:`traffic` counts them): its fills (``moved_at`` at its ``boundary``,
    default ``b``, over the global tiles) times its :func:`replicas`, the output's written back
    as often and read back all but the first time."""
    m = moved_at(problem, tensor, nest, b if boundary is None else boundary)
    above, unicast = replicas(tensor, nest, source, b, multicast, fanouts)
    reads, writes = _reads_writes(tensor is problem.output, m, above, unicast,
                                  problem.tensor_size(tensor))
    return reads + writes


def _check_copies(name: str, mine: list[tuple[int, int]], k: int, depth: int, outermost: int
                  ) -> None:
    """A tensor's copies, (level, boundary) sorted: at least one, at distinct levels in 1..k,
    at boundaries in outermost..depth that never decrease inwards."""
    if not mine or mine[0][1] < outermost:
        whose = "a hierarchy's nest" if outermost else "a nest"
        raise EinsumError(f"{whose} stores every tensor at boundaries {outermost}..{depth}; "
                          f"{name} is stored at {[b for _, b in mine] or 'none'}")
    if any(not 1 <= lv <= k for lv, _ in mine) or len({lv for lv, _ in mine}) < len(mine):
        raise EinsumError(f"{name}'s copies must sit at distinct levels in 1..{k}, got "
                          f"{[lv for lv, _ in mine]}")
    if any(b > depth for _, b in mine) or any(b1 > b2 for (_, b1), (_, b2) in zip(mine, mine[1:])):
        raise EinsumError(f"{name}'s copies must sit at boundaries in {outermost}..{depth}, "
                          f"never above an outer level's copy; got {mine} (level, boundary)")


def traffic(problem: Einsum, nest: Nest, copies: Copies | None = None,
            multicast: tuple[bool, ...] | None = None, outermost: int = 0) -> Traffic:
    """The one evaluation core: every stored copy's reads and writes and every level's occupancy.

    ``copies`` says which on-chip level each entry of ``nest.storage`` belongs to (None: boundary
    ``b`` is level ``b``); ``multicast[l - 1]``: whether level ``l``'s parent multicasts (None:
    all do). A tensor's copies, outermost level first, are each filled from the one before (the
    first from the backing store): :func:`moved_at` its boundary over the global tiles, repeated
    by :func:`replicas`, split into reads and writes by the first-read elision rule. A level's
    occupancy is the footprint of one instance's tiles of the copies it holds. ``outermost`` is
    the least boundary a copy may take (a hierarchy: 1; one buffer: 0, a whole tensor above
    every loop)."""
    level, k = _copies(nest, copies)
    depth = len(nest.levels)
    check_spatial(problem, nest)
    fanouts = _fanouts(nest, copies, level, k)
    fanned = any(fanouts)
    walk = _Walk(problem, nest)
    held: dict[str, list[tuple[int, int]]] = {}
    for (name, b), lv in zip(nest.storage, level):
        held.setdefault(name, []).append((lv, b))
    occupancy = [0] * k
    out = []
    output = problem.output
    for T in problem.tensors:
        mine = held.get(T.name, [])
        if len(mine) > 1:
            mine.sort()
        if not (len(mine) == 1 and outermost <= mine[0][1] <= depth and 1 <= mine[0][0] <= k):
            _check_copies(T.name, mine, k, depth, outermost)
        shape = _shape(T)
        is_out = T is output
        whole = shape.footprint(walk.size) if is_out else 0
        source = 0
        for lv, b in mine:
            above, unicast = (replicas(T, nest, source, lv, multicast, fanouts) if fanned
                              else (1, 1))
            reads, writes = _reads_writes(is_out, walk.fills(shape, b), above, unicast, whole)
            occ = shape.footprint(nest.instance_tile(problem, b) if nest.spatial else walk.tiles[b])
            occupancy[lv - 1] += occ
            out.append(CopyTraffic(T.name, lv, b, source, occ, reads, writes))
            source = lv
    return Traffic(tuple(out), tuple(occupancy))


# ----------------------------------------------------------------------------------------- views

def evaluate(problem: Einsum, mapping: Mapping | Nest, check: bool = True,
             imperfect: bool = True) -> Cost:
    """Occupancy and backing-store traffic of a one-buffer mapping: a :class:`Mapping` (the
    Orojenesis mapspace) or a :class:`Nest` with one copy per tensor, at its own boundary
    (``imperfect``: whether the nest's outermost tiles may leave partial tiles). The one level
    of :func:`traffic` holds every copy; the output uses first-read elision (model.md)."""
    if not isinstance(problem, Einsum):
        raise EinsumError(f"evaluate costs one Einsum, got {type(problem).__name__}")
    if isinstance(mapping, Mapping):
        if check:
            check_mapping(problem, mapping)
        nest = mapping.nest(problem)
    elif not isinstance(mapping, Nest):
        raise EinsumError(f"evaluate takes a Mapping or a Nest, got {type(mapping).__name__} "
                          f"{str(mapping)[:80]!r}")
    else:
        nest = mapping
        if check:
            check_nest(problem, nest, imperfect)
        if nest.spatial:  # one buffer, one instance (model.md): only factors of 1 mean that
            if any(s != 1 for split in nest.spatial for _, s in split):
                raise EinsumError("one buffer has no spatial fanout: cost a nest with fanout "
                                  "on a hierarchy (evaluate_levels)")
            nest = Nest(nest.levels, nest.orders, nest.storage)
    return _cost(problem, traffic(problem, nest, _one_buffer(len(nest.storage))))


def _cost(problem: Einsum, result: Traffic) -> Cost:
    """The one-buffer view: the backing store's reads of every tensor (inputs, then the output)
    and writes of the output, from each tensor's outermost copy."""
    first = [c for c in result.copies if c.source == 0]
    reads = tuple((c.tensor, c.reads) for c in first)
    writes = tuple((c.tensor, c.writes) for c in first if c.tensor == problem.output.name)
    accesses = sum(v for _, v in reads) + sum(v for _, v in writes)
    return Cost(result.occupancy[0], accesses, reads, writes)


def evaluate_levels(problem: Einsum, nest: Nest, copies: Copies | None = None,
                    multicast: tuple[bool, ...] | None = None) -> LevelCost:
    """Per-level occupancy and traffic of a nest whose tensors may be stored at several
    boundaries, one copy per level keeping them (a hierarchy): :func:`traffic` summed per level.
    ``copies`` says which level each copy belongs to (None: boundary ``b`` is level ``b``);
    ``multicast[l - 1]``: whether level ``l``'s parent multicasts (None: all do). A level's
    traffic is the reads and writes of its copies with their sources; the backing store's is
    that of every tensor's outermost copy. Every tensor is kept on chip below the backing store
    (boundaries 1 and deeper): boundary 0 has no level of its own here."""
    result = traffic(problem, nest, copies, multicast, outermost=1)
    accesses = [0] * len(result.occupancy)
    dram = 0
    for c in result.copies:
        words = c.reads + c.writes
        accesses[c.level - 1] += words
        if c.source == 0:
            dram += words
    return LevelCost(result.occupancy, tuple(accesses), dram)


# -------------------------------------------------------------------------------------- problems

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


def _resized(problem: Einsum, sizes: tuple[tuple[str, int], ...]) -> Einsum:
    """``problem`` with other sizes for the same ranks, not validated again: best_order's
    sub-problems (each size the rank's own or its tile: a positive integer) are 2^ranks per
    tiling, and validating each took longer than costing it (the enumerator's main cost)."""
    sub = copy.copy(problem)
    object.__setattr__(sub, "sizes", sizes)
    return sub


def best_order(problem: Einsum, tiles: dict[str, int]) -> tuple[str, ...]:
    """An order minimising accesses for one tiling: a DP over the set of innermost loops placed
    so far, with back-pointers. A partial order is scored as the nest of the sub-problem in
    which only its loops iterate (every other rank held at its tile): the tensors it already
    fixes (those it has a relevant loop for) cost the same up to one factor common to every order
    of that set, the product of the loops still to come above; the others cost a constant. So the
    order of a set that scores least is the best completion of it."""
    mapping_ranks = [d for d, n in problem.sizes if n // tiles[d] > 1]
    mapping_tiles = tuple(tiles.items())
    best: dict[frozenset, tuple[int, tuple[str, ...]]] = {frozenset(): (0, ())}
    subs: dict[frozenset, Einsum] = {}
    for size in range(len(mapping_ranks)):
        for placed, (_c, inner) in [(k, v) for k, v in best.items() if len(k) == size]:
            for d in mapping_ranks:
                if d in placed:
                    continue
                key = placed | {d}
                if key not in subs:
                    subs[key] = _resized(problem, tuple((r, n if r in key else tiles[r])
                                                        for r, n in problem.sizes))
                sub = subs[key]
                order = (d, *inner)
                cand = evaluate(sub, Mapping(mapping_tiles, order), check=False)
                if key not in best or cand.accesses < best[key][0]:
                    best[key] = (cand.accesses, order)
    return best[frozenset(mapping_ranks)][1]
