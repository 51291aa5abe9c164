"""The exact frontier of the nest mapspaces (docs/mapspaces.md) by vectorised enumeration.

A nest class (model/mapspace.py) fixes the storage groups and each segment's order class; within it the
cost of a tiling is the class formula of docs/mapspaces.md §2: a sum of monomials, one footprint and
one traffic term per tensor, each a product of one factor per *unit* of ranks,

* footprint of T (group ``g``): ``tile(d, g)`` for ``d`` in T (group 0: ``N_d``);
* traffic of T: ``count(e, b) = ceil(N_e / tile(e, b))`` for ``e`` not in T, ``b = g - 1 +
  [e refetched]`` (1 at ``b = 0``);
* a sliding axis (``p + r``, ``2*q + s``): its extent in the footprint and its ``D_a`` (every
  window whole, or the overlapping sweep of T's innermost relevant loop ``j``, restarted by the
  tile of ``j`` above it) in the traffic. Ranks sharing sliding axes form one unit, whose factor
  table lists their joint tile chains and computes these factors row by row.

The constraints are per rank (a chain ``N_d >= tile(d, 1) >= ... >= tile(d, k)`` of candidate
sizes, ``nest.tile_sizes``, each dividing the one above; with imperfect factors the outermost need
not divide ``N_d``), so a unit's chains only enter through its factor vector. A tile that only
appears where a larger one costs more (footprints) is best as small as the chain lets it be (equal
to the next deeper tile that matters, or 1), one that only appears where a larger one costs less
(counts, the tile above a sweep) as large (the next shallower one, or ``N_d`` where the ones below
must divide ``N_d`` anyway, i.e. perfect factors); tiles no term reads are free, and tiles of a
sliding axis stay free. Collapsing those leaves each rank a few free tiles (usually one). Every
combination of the units' chains is then costed at once in numpy, class by class, and only what
beats the staircase so far is kept. Before that, per shape (cached):

* with perfect factors, plain ranks indexing the same tensors are one rank of their product size
  (``_nest`` splits it back);
* tensors without a looping rank (one element) are stored whole in per-tensor nests: another group
  gives the same footprint and at least as much traffic;
* classes with the same collapsed formula are costed once, and a class whose every term is at
  least another's at every tiling not at all.

Exactness: a class formula never under-estimates the nest it describes (``cost.evaluate``: a loop
the class counts may have one iteration, which only removes re-fetches) and is exact on the classes
that attain the optimum, so the least formula value is the mapspace's (the MILP minimises the same
formula over the same classes). Every returned point is re-evaluated by ``cost.evaluate`` in Python
integers and must reproduce its (occupancy, accesses).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from itertools import product

import numpy as np

from ..model.cost import Cost, Nest, evaluate
from ..model.einsum import Axis, Einsum, Tensor, Term
from ..model.mapspace import Mapspace, mapspace_of, order_classes, storage_groups, tile_sizes, windowed_ranks

PER_TENSOR = Mapspace("per_tensor", "perfect")
WORK_LIMIT = 20_000_000  # costed (tiling, class) combinations: about a second of numpy work
PLAN_LIMIT = 200_000  # nest classes a plan may visit (Python work: about a second per 20,000)
CHUNK = 1 << 20  # combinations costed at once (memory: 16 words each per stored tensor)
_TOP, _BOTTOM = -1, -2
_ONE = ("one",)


def applies(problem: Einsum, mapspace: Mapspace) -> bool:
    """Every nest mapspace (per-tensor placement or imperfect factors, sliding windows too): the
    fast path covers them all, in milliseconds for GEMMs and convolutions. The Orojenesis
    mapspace has its own enumerator (enumerate.py). ``frontier`` may still refuse a problem
    whose work or values are too large (it returns None)."""
    return not mapspace.is_orojenesis


# ------------------------------------------------------------------------------ units and shape

@dataclass(frozen=True)
class _Unit:
    """Looping ranks whose tiles come from one factor table: one rank; plain ranks indexing the
    same tensors, merged into one of their product size (perfect factors only: ``ceil`` does not
    split over a product); or the ranks of connected sliding axes (a joint table of their chains,
    ``windowed``). ``imperfect``: the outermost tile may leave a partial tile."""

    ranks: tuple[str, ...]
    windowed: bool
    imperfect: bool

    @property
    def plan_ranks(self) -> tuple[str, ...]:
        """The ranks the plan sees: a merged unit is one rank, a windowed one all of its ranks."""
        return self.ranks if self.windowed else self.ranks[:1]


def _units(problem: Einsum, imperfect: bool) -> list[_Unit]:
    tensors = problem.tensors
    looping = [d for d, n in problem.sizes if n > 1]
    windowed = windowed_ranks(problem)
    # Connected sliding axes: union-find over the looping ranks of each axis that is not plain.
    root = {d: d for d in looping}

    def find(d):
        while root[d] != d:
            d = root[d]
        return d

    for T in tensors:
        for a in T.axes:
            ranks = [d for d in a.ranks if d in root]
            if not a.is_plain:
                for d in ranks[1:]:
                    root[find(d)] = find(ranks[0])
    groups: dict[object, list[str]] = {}
    for d in looping:
        if d in windowed:
            groups.setdefault(("window", find(d)), []).append(d)
        elif imperfect:
            groups.setdefault(("rank", d), []).append(d)
        else:
            groups.setdefault(frozenset(i for i, T in enumerate(tensors) if d in T.ranks), []).append(d)
    return [_Unit(tuple(g), g[0] in windowed, imperfect and g[0] not in windowed)
            for g in groups.values()]


@dataclass(frozen=True)
class _Shape:
    """What a plan depends on: per tensor its axes as (sliding, looping plan ranks); per unit its
    plan ranks and whether it is windowed; ranks with imperfect factors; the placement."""

    axes: tuple[tuple[tuple[bool, tuple[str, ...]], ...], ...]
    units: tuple[tuple[tuple[str, ...], bool], ...]
    imperfect: frozenset[str]
    per_tensor: bool

    @property
    def ranks(self) -> tuple[str, ...]:
        return tuple(d for ranks, _ in self.units for d in ranks)


def _shape(problem: Einsum, units: list[_Unit], per_tensor: bool) -> _Shape:
    rep = {d: u.ranks[0] for u in units if not u.windowed for d in u.ranks}
    rep |= {d: d for u in units if u.windowed for d in u.ranks}
    axes = []
    for T in problem.tensors:
        seen, out = set(), []
        for a in T.axes:
            ranks = tuple(dict.fromkeys(rep[d] for d in a.ranks if d in rep))
            if ranks and not (a.is_plain and ranks[0] in seen):
                out.append((not a.is_plain, ranks))
                seen.update(ranks)
        axes.append(tuple(out))
    return _Shape(tuple(axes), tuple((u.plan_ranks, u.windowed) for u in units),
                  frozenset(u.ranks[0] for u in units if u.imperfect), per_tensor)


# ------------------------------------------------------------------------------ the plan of a shape

class _Config:
    """One nest class, collapsed: each tensor's storage boundary, the segment orders, per plan rank
    its number of free tiles and the table column of its tile at each boundary 1..k, and per unit
    what each term reads. Term ``2i`` is tensor i's footprint, ``2i + 1`` its traffic. A plain
    unit reads columns of its table (``_table``: tiles, counts, a constant 1); a windowed unit
    reads factors computed from its rows (``_window_factor``), described by a spec."""

    __slots__ = ("boundary", "orders", "free", "where", "reads", "key")

    def __init__(self, shape: _Shape, groups, segments):
        self.orders = tuple(c.order for c in segments)
        k = len(segments)
        n = len(shape.axes)
        self.boundary = tuple(next(b for b, g in enumerate(groups) if i in g) for i in range(n))
        info = {}  # tensor: (irrelevant loops above j, j where its sliding windows need it)
        for b, seg in enumerate(segments, start=1):
            for pos, i in enumerate(groups[b]):
                info[i] = (seg.refetched[pos], seg.innermost[pos])
        rels = [{d for _, ranks in axes for d in ranks} for axes in shape.axes]
        ranks = shape.ranks
        inc = {d: set() for d in ranks}  # boundaries where a larger tile costs more
        dec = {d: set() for d in ranks}  # ... where it costs less
        for i, g in enumerate(self.boundary):
            if not g:
                continue
            refetched, j = info[i]
            for d in ranks:
                if d in rels[i]:
                    inc[d].add(g)
                elif g - 1 + (d in refetched):
                    dec[d].add(g - 1 + (d in refetched))
            for sliding, axis in shape.axes[i]:
                if sliding:  # windows: neither monotone in their tiles
                    for d in axis:
                        inc[d].add(g)
                        dec[d].add(g)
                    if j in axis and g > 1:  # the tile above j: a larger one restarts less often
                        dec[j].add(g - 1)
        self.free, self.where = [], {}
        for d in ranks:
            free, where = _collapse(frozenset(inc[d]), frozenset(dec[d]), k, d not in shape.imperfect)
            self.free.append(free)
            self.where[d] = where
        self.free = tuple(self.free)

        def col(d, b):
            return 0 if b == 0 else self.where[d][b - 1]

        self.reads = []
        for unit, windowed in shape.units:
            terms = []
            for i, g in enumerate(self.boundary):
                refetched, j = info.get(i, (frozenset(), None))
                counted = {d: g - 1 + (d in refetched) for d in unit if d not in rels[i]} if g else {}
                if windowed:
                    terms.append(_foot_spec(shape, i, unit, g, col))
                    terms.append(_move_spec(shape, i, unit, g, j, counted, col))
                    continue
                (d,) = unit
                width = self.free[ranks.index(d)] + 2
                terms.append(col(d, g) if d in rels[i] else 2 * width)
                terms.append(width + col(d, counted[d]) if counted.get(d) else 2 * width)
            self.reads.append(tuple(terms) if windowed else np.array(terms, dtype=np.intp))
        # Classes with the same collapsed formula give the same points: one of them is enough.
        self.key = (self.free, tuple(r if isinstance(r, tuple) else tuple(r.tolist()) for r in self.reads))

    def entries(self, shape: _Shape, ids: dict) -> list[tuple[int, int]]:
        """Per (unit, term): (kind, value) for the dominance test. Kind 0: the factor is 1; 1: a
        tile, larger for a smaller value; 2: a count, larger for a larger value; other kinds: a
        windowed factor, comparable only with the same spec."""
        out, at = [], 0
        for (unit, windowed), reads in zip(shape.units, self.reads):
            if windowed:
                out += [(0, 0) if r == _ONE else (ids.setdefault(r, 3 + len(ids)), 0) for r in reads]
                at += len(unit)
                continue
            free = self.free[at]
            width = free + 2
            for c in reads.tolist():
                if c in (free + 1, width, 2 * width):
                    out.append((0, 0))
                elif c < width:
                    out.append((1, -c))
                else:
                    out.append((2, c - width))
            at += 1
        return out


def _foot_spec(shape: _Shape, i: int, unit, g: int, col) -> tuple:
    """Tensor i's footprint factor from a windowed unit: its axes in the unit at boundary g."""
    if not any(set(ranks) & set(unit) for _, ranks in shape.axes[i]):
        return _ONE
    return ("foot", i, tuple(col(d, g) for d in unit))


def _move_spec(shape: _Shape, i: int, unit, g: int, j, counted: dict, col) -> tuple:
    """Tensor i's traffic factor from a windowed unit: counts of the unit's ranks it does not use,
    and ``D_a`` of its sliding axes in the unit (tiles at g; j's tile at g - 1 if j slides)."""
    if not g:
        return _ONE
    counts = tuple(col(d, counted[d]) if counted.get(d) else None for d in unit)
    sliding = {d for s, ranks in shape.axes[i] if s and set(ranks) & set(unit) for d in ranks}
    if not sliding and all(c is None for c in counts):
        return _ONE
    tiles = tuple(col(d, g) if d in sliding else None for d in unit)
    above = col(j, g - 1) if j in sliding else None
    return ("move", i, j if j in sliding else None, tiles, above, counts)


@cache
def _collapse(inc: frozenset[int], dec: frozenset[int], k: int, top: bool = True,
              ties: tuple[tuple[int, int], ...] = ()):
    """A rank's free chain variables: boundaries tied together (``ties``: intervals whose tiles
    are equal, levelnest.py's fanouts) form one group; a group read only where a larger tile
    costs more (``inc``) joins the next deeper group read by any term (or the tile 1, the
    chain's bottom), one read only where it costs less (``dec``) the next shallower one (or
    ``N`` if ``top``: not with imperfect factors, where a tile below ``N`` need not divide it).
    Returns the number of free tiles and, per boundary 1..k, the column of its tile in
    ``[N, u_1..u_free, bottom]``. Boundaries nothing reads copy the one above, or below where
    nothing above is read and ``N`` is not allowed."""
    used = sorted(inc | dec | {b for lo, hi in ties for b in range(lo, hi + 1)})
    parent = {b: b for b in used} | {_TOP: _TOP, _BOTTOM: _BOTTOM}

    def find(x):
        while parent[x] != x:
            x = parent[x]
        return x

    def union(x, y):
        x, y = find(x), find(y)
        if x != y:
            parent[max(x, y)] = min(x, y)  # _TOP and _BOTTOM (negative) stay roots

    for lo, hi in ties:
        for b in range(lo + 1, hi + 1):
            union(lo, b)
    groups: list[list[int]] = []
    for b in used:
        if not groups or find(b) != find(groups[-1][0]):
            groups.append([b])
        else:
            groups[-1].append(b)
    for idx, g in enumerate(groups):
        grows, shrinks = any(b in inc for b in g), any(b in dec for b in g)
        if grows and not shrinks:  # as small as the next group that matters
            union(g[0], groups[idx + 1][0] if idx + 1 < len(groups) else _BOTTOM)
        elif shrinks and not grows and (idx or top):  # as large as the one above
            union(g[0], groups[idx - 1][0] if idx else _TOP)
    roots = []
    for b in used:
        r = find(b)
        if r >= 0 and r not in roots:
            roots.append(r)
    free = len(roots)

    def column(b):
        r = find(b)
        return 0 if r == _TOP else free + 1 if r == _BOTTOM else 1 + roots.index(r)

    where = []
    for b in range(1, k + 1):
        above = [u for u in used if u <= b]
        if above:
            where.append(column(above[-1]))
        else:
            where.append(0 if top or not used else column(used[0]))
    return free, tuple(where)


@cache
def _plan(shape: _Shape, limit: int = PLAN_LIMIT) -> tuple[_Config, ...] | None:
    """The distinct collapsed nest classes of a shape, the ones with most free tiles first (they
    set a low envelope early); None if there are more than ``limit`` classes to visit."""
    full = _plan_classes(shape, limit)
    if full is None:
        return None
    kept = _undominated(shape, full)
    return tuple(sorted(kept, key=lambda c: -sum(c.free)))


def _plan_classes(shape: _Shape, limit: int, by_whole: bool = False) -> list[_Config] | None:
    """Every distinct collapsed class of a shape, before dominance; None past ``limit``.
    ``by_whole`` (:func:`least_by_whole`, which weights a whole tensor apart): two classes are
    the same only if they also store the same tensors whole, and a one-element tensor may be
    stored below boundary 0 (elsewhere it is best stored whole: another group gives the same
    footprint and at least as much traffic)."""
    tensors = tuple(Tensor(f"T{i}", tuple(Axis(tuple(Term(d) for d in ranks)) for _, ranks in axes))
                    for i, axes in enumerate(shape.axes))
    per_group: dict = {}
    plans = []
    for groups in storage_groups(len(tensors), shape.per_tensor):
        if (not by_whole and shape.per_tensor
                and any(not tensors[i].axes for g in groups[1:] for i in g)):
            continue  # a one-element tensor is best stored whole
        options = []
        for g in groups[1:]:
            if g not in per_group:
                per_group[g] = order_classes(None, list(shape.ranks), tuple(tensors[i] for i in g))
            options.append(per_group[g])
        plans.append((groups, options))
    if sum(math.prod(len(o) for o in options) for _, options in plans) > limit:
        return None
    configs: dict = {}
    for groups, options in plans:
        for segs in product(*options):
            cfg = _Config(shape, groups, segs)
            whole = tuple(g == 0 for g in cfg.boundary) if by_whole else ()
            configs.setdefault((cfg.key, whole), cfg)
    return list(configs.values())


def _undominated(shape: _Shape, configs: list[_Config]) -> list[_Config]:
    """Drops every class whose every term is at least another's at every tiling (classes with the
    same free tiles, so the same tables). Per factor: a constant 1 is at most anything; tiles
    shrink with the column, counts ``N / tile`` grow; windowed factors compare only when equal.
    A class is only dropped for one kept or not yet visited, so every dropped one has a kept one
    below it."""
    ids: dict = {}
    by_free: dict[tuple, list[int]] = {}
    for x, c in enumerate(configs):
        by_free.setdefault(c.free, []).append(x)
    dropped: set[int] = set()
    for members in by_free.values():
        if len(members) == 1:
            continue
        e = np.array([configs[x].entries(shape, ids) for x in members], np.int64)
        kind, value = e[..., 0], e[..., 1]
        for a, x in enumerate(members):
            below = ((kind == 0) | ((kind == kind[a]) & (value <= value[a]))).all(axis=1)
            if any(b != a and members[b] not in dropped for b in np.flatnonzero(below)):
                dropped.add(x)
    return [c for x, c in enumerate(configs) if x not in dropped]


# ------------------------------------------------------------------------------ factor tables

@cache
def _chains(n: int, free: int, imperfect: bool) -> np.ndarray:
    """Every chain ``n >= u_1 >= ... >= u_free >= 1`` of candidate tile sizes of n, each dividing
    the one above (``u_1`` need not divide n with imperfect factors), as rows of
    ``[n, u_1..u_free, 1]``."""
    sizes = sorted(tile_sizes(n, imperfect), reverse=True)
    rows = [()]
    for _ in range(free):
        rows = [r + (t,) for r in rows for t in sizes if not r or r[-1] % t == 0]
    tiles = np.array([(n, *r, 1) for r in rows], dtype=np.int64).reshape(len(rows), free + 2)
    tiles.setflags(write=False)
    return tiles


@cache
def _table(n: int, free: int, imperfect: bool) -> np.ndarray:
    """A plain unit's factor table: its chains' tiles, counts ``ceil(n / tile)`` and a constant 1."""
    tiles = _chains(n, free, imperfect)
    table = np.concatenate([tiles, -(-n // tiles), np.ones((len(tiles), 1), np.int64)], axis=1)
    table.setflags(write=False)
    return table


def _window_factor(problem: Einsum, unit: _Unit, table: _WindowTable, spec: tuple) -> np.ndarray:
    """One term's factor from a windowed unit, per row: nest.moved's rule for sliding axes."""
    rows, n_rows = table.tiles, table.rows
    if spec == _ONE:
        return np.ones(n_rows, np.int64)
    size = problem.size
    tensor = problem.tensors[spec[1]]
    mine = [a for a in tensor.axes if set(a.ranks) & set(unit.ranks)]
    if spec[0] == "foot":
        t = size | {d: rows[d][:, c] for d, c in zip(unit.ranks, spec[2])}
        return math.prod((a.extent(t) for a in mine), start=np.ones(n_rows, np.int64))
    _, _, j, cols, above, counts = spec
    value = np.ones(n_rows, np.int64)
    for d, c in zip(unit.ranks, counts):
        if c is not None:
            value = value * (size[d] // rows[d][:, c])
    t = size | {d: rows[d][:, c] for d, c in zip(unit.ranks, cols) if c is not None}
    for a in mine:
        if a.is_plain:
            continue  # N_d: in the coefficient
        ext = a.extent(t)
        tiles = math.prod((size[d] // t[d] for d in a.ranks if d != j), start=np.ones(n_rows, np.int64))
        if j not in a.ranks:  # every tile of the axis fetched whole
            value = value * ext * tiles
            continue
        top = rows[j][:, above]  # j's tile above j: its sweep restarts N_j / top times
        step = np.minimum(a.coef(j) * t[j], ext)  # what each further step of j fetches
        value = value * tiles * (size[j] // top) * (ext + (top // t[j] - 1) * step)
    return value


@dataclass(frozen=True)
class _Prepared:
    """What :func:`frontier` and :func:`least` cost the classes with: the units, the nest
    classes and their factor tables, and per tensor its traffic weight (2 for the output:
    written and read back), whole size and plain-axis size."""

    units: list
    configs: tuple
    tables: list
    weight: list
    whole: list
    plain: list


def _prepared(problem: Einsum, mapspace: Mapspace, limit: int) -> _Prepared | None:
    """The classes and tables of ``mapspace``; None where int64 could overflow, or there are
    more than ``limit`` combinations or PLAN_LIMIT classes."""
    tensors = problem.tensors
    weight = [2 if T is problem.output else 1 for T in tensors]
    whole = [problem.tensor_size(T) for T in tensors]
    # Every factor is at least 1 and a tensor moves at most MACs x (sum of coefficients) per
    # sliding axis (a window's extent is at most its coefficients times its tiles' product).
    spread = [math.prod(sum(t.coef for t in a.terms) for a in T.axes) for T in tensors]
    if sum(w * problem.macs * s + v for w, s, v in zip(weight, spread, whole)) >= 2**62:
        return None
    units = _units(problem, mapspace.factors == "imperfect")
    shape = _shape(problem, units, mapspace.placement == "per_tensor")
    configs = _plan(shape)
    if configs is None:
        return None
    tables = _class_tables(problem, units, configs, limit)
    if tables is None:
        return None
    plain = [math.prod(problem.size[a.ranks[0]] for a in T.axes if a.is_plain) for T in tensors]
    return _Prepared(units, configs, tables, weight, whole, plain)


# ---------------------------------------------------------------------------------------- frontier

def frontier(problem: Einsum, mapspace: Mapspace | str | None = PER_TENSOR,
             limit: int = WORK_LIMIT) -> list[tuple[Nest, Cost]] | None:
    """The staircase's nests and costs in increasing occupancy over the nest mapspace
    ``mapspace`` (uniform placement: one storage group); None where the fast path cannot run
    (int64 could overflow, more than ``limit`` combinations or PLAN_LIMIT classes)."""
    st = staircase(problem, mapspace, limit)
    return None if st is None else [st.point(i) for i in range(len(st.occ))]


@dataclass(frozen=True)
class Staircase:
    """:func:`frontier`'s staircase before any nest is built: its occupancies and accesses
    (Python ints, occupancy ascending) and, by :meth:`point`, the nest behind a breakpoint,
    re-evaluated by the cost model (a caller that needs few of the nests builds only those)."""

    problem: Einsum
    mapspace: Mapspace
    prep: _Prepared
    occ: list
    acc: list
    tag: np.ndarray

    def point(self, i: int) -> tuple[Nest, Cost]:
        c, flat = int(self.tag[i, 0]), int(self.tag[i, 1])
        prep = self.prep
        nest = _nest(self.problem, prep.units, prep.configs[c], prep.tables[c], flat)
        cost = evaluate(self.problem, nest, imperfect=self.mapspace.factors == "imperfect")
        if (cost.occupancy, cost.accesses) != (self.occ[i], self.acc[i]):
            raise AssertionError(f"fast {self.mapspace} frontier disagrees with the cost model at "
                                 f"{nest.describe(self.problem)}: {(self.occ[i], self.acc[i])} "
                                 f"vs {(cost.occupancy, cost.accesses)}")
        return nest, cost


def staircase(problem: Einsum, mapspace: Mapspace | str | None = PER_TENSOR,
              limit: int = WORK_LIMIT) -> Staircase | None:
    """:func:`frontier` without building its nests (:class:`Staircase`)."""
    mapspace = mapspace_of(mapspace)
    imperfect = mapspace.factors == "imperfect"
    prep = _prepared(problem, mapspace, limit)
    if prep is None:
        return None
    units, configs, tables = prep.units, prep.configs, prep.tables
    weight, whole, plain = prep.weight, prep.whole, prep.plain
    factors: dict = {}
    # The staircase so far (occupancy up, accesses down) and where each point comes from.
    s_occ = s_acc = np.empty(0, np.int64)
    s_tag = np.empty((0, 2), np.int64)
    for c, (cfg, tabs) in enumerate(zip(configs, tables)):
        coef = np.array([w for i, g in enumerate(cfg.boundary)
                         for w in (1, weight[i] * (plain[i] if g else whole[i]))], np.int64)
        mats = [_matrix(problem, u, tab, reads, factors)
                for u, tab, reads in zip(units, tabs, cfg.reads)]
        for lo, occ, acc in _costs(mats, coef, whole[-1]):
            if len(s_occ):  # drop what the staircase so far already matches or beats
                at = np.searchsorted(s_occ, occ, side="right") - 1
                bound = np.where(at >= 0, s_acc[np.maximum(at, 0)], np.iinfo(np.int64).max)
                new = np.flatnonzero(acc < bound)
            else:
                new = np.arange(len(occ))
            if not len(new):
                continue
            m_occ = np.concatenate([s_occ, occ[new]])
            m_acc = np.concatenate([s_acc, acc[new]])
            m_tag = np.concatenate([s_tag, np.stack([np.full(len(new), c), lo + new], axis=1)])
            keep = _staircase(m_occ, m_acc)
            s_occ, s_acc, s_tag = m_occ[keep], m_acc[keep], m_tag[keep]
    return Staircase(problem, mapspace, prep, s_occ.tolist(), s_acc.tolist(), s_tag)


def least(problem: Einsum, budgets: dict[str, int], mapspace: Mapspace | str | None = PER_TENSOR,
          limit: int = WORK_LIMIT) -> tuple[Nest, Cost] | None:
    """A nest of least accesses in the nest mapspace ``mapspace`` whose footprints meet
    ``budgets``: per group of tensors (a tensor name, or several joined by ``+``), the most
    words their footprints may hold together; every tensor in exactly one group. None where
    the fast path cannot run (as :func:`frontier`) or nothing fits.

    Why: where a hierarchy's tensors are first stored in different levels (simba's weights
    bypass its global buffer), the outermost copies still form a one-buffer mapping moving the
    backing store's words, but each level bounds only its own tensors' footprints, so one
    staircase over their sum is not the floor. The collapse and class pruning of
    :func:`frontier` hold term by term (no footprint grows, no count grows), so they hold for
    each group's sum: the least formula value under the budgets is the mapspace's, and the
    nest returned is re-evaluated in integers."""
    mapspace = mapspace_of(mapspace)
    imperfect = mapspace.factors == "imperfect"
    tensors = problem.tensors
    names = [T.name for T in tensors]
    groups = [g.split("+") for g in budgets]
    if sorted(n for g in groups for n in g) != sorted(names):
        raise ValueError(f"budgets {budgets} must name every tensor of {problem} once")
    caps = np.array(list(budgets.values()), np.int64)
    prep = _prepared(problem, mapspace, limit)
    if prep is None:
        return None
    units, configs, tables = prep.units, prep.configs, prep.tables
    weight, whole, plain = prep.weight, prep.whole, prep.plain
    member = np.array([[n in g for n in names] for g in groups], np.int64)  # group x tensor
    factors: dict = {}
    best, where = None, None
    for c, (cfg, tabs) in enumerate(zip(configs, tables)):
        coef = np.array([w for i, g in enumerate(cfg.boundary)
                         for w in (1, weight[i] * (plain[i] if g else whole[i]))], np.int64)
        mats = [_matrix(problem, u, tab, reads, factors)
                for u, tab, reads in zip(units, tabs, cfg.reads)]
        for lo, foot, acc in _footprints(coef[None, :], mats, 0, whole[-1]):
            ok = ((foot @ member.T) <= caps).all(axis=1)
            if not ok.any():
                continue
            i = int(np.flatnonzero(ok)[np.argmin(acc[ok])])
            if best is None or acc[i] < best:
                best, where = int(acc[i]), (c, lo + i)
    if best is None:
        return None
    c, flat = where
    nest = _nest(problem, units, configs[c], tables[c], flat)
    cost = evaluate(problem, nest, imperfect=imperfect)
    tiles = dict(nest.storage)
    used = {n: T.footprint(dict(problem.size) if tiles[n] == 0 else dict(nest.levels[tiles[n] - 1]))
            for n, T in zip(names, tensors)}
    if cost.accesses != best or any(sum(used[n] for n in g) > cap
                                    for g, cap in zip(groups, budgets.values())):
        raise AssertionError(f"fast least-traffic nest under {budgets} disagrees with the cost "
                             f"model at {nest.describe(problem)}: {best} vs {cost.accesses}")
    return nest, cost


def _footprints(prod: np.ndarray, mats: list[np.ndarray], lo: int, out_size: int):
    """As :func:`_block` (start with ``coef[None, :]``), with each tensor's footprint (a column
    per tensor) in place of their sum: (first flat index, footprints, accesses)."""
    def finish(prod, mats, lo):
        for f in mats:
            prod = (prod[:, None, :] * f[None, :, :]).reshape(-1, f.shape[1])
        yield lo, prod[:, 0::2], prod[:, 1::2].sum(axis=1) - out_size
    yield from _chunked(prod, mats, lo, finish)


def _class_tables(problem: Einsum, units: list[_Unit], configs, limit: int) -> list | None:
    """Each class's factor tables, one per unit; None past ``limit`` (tiling, class)
    combinations in all."""
    sizes = [math.prod(problem.size[d] for d in u.ranks) for u in units]
    tables = [_tables(problem, units, sizes, cfg) for cfg in configs]
    if sum(math.prod(len(t) for t in tabs) for tabs in tables) > limit:
        return None
    return tables


def _unit_frees(units: list[_Unit], cfg: _Config) -> list[tuple[int, ...]]:
    out, at = [], 0
    for u in units:
        out.append(cfg.free[at:at + len(u.plan_ranks)])
        at += len(u.plan_ranks)
    return out


def _tables(problem: Einsum, units: list[_Unit], sizes: list[int], cfg: _Config) -> list:
    """Per unit of a class: its factor table (plain) or its ranks' tiles per row (windowed)."""
    out = []
    for u, n, frees in zip(units, sizes, _unit_frees(units, cfg)):
        if u.windowed:
            out.append(_window_table(tuple((d, problem.size[d]) for d in u.ranks), frees))
        else:
            out.append(_table(n, frees[0], u.imperfect))
    return out


@dataclass(frozen=True, eq=False)
class _WindowTable:
    """A windowed unit's rows: the product of its ranks' chains (row-major), as each rank's
    tiles ``[N, u.., 1]`` per row."""

    tiles: dict[str, np.ndarray]
    rows: int

    def __len__(self) -> int:
        return self.rows


@cache
def _window_table(sizes: tuple[tuple[str, int], ...], frees: tuple[int, ...]) -> _WindowTable:
    chains = [_chains(n, f, False) for (_, n), f in zip(sizes, frees)]
    idx = np.indices([len(c) for c in chains]).reshape(len(chains), -1)
    return _WindowTable({d: c[i] for (d, _), c, i in zip(sizes, chains, idx)}, idx.shape[1])


def _matrix(problem: Einsum, unit: _Unit, tab, reads, factors: dict) -> np.ndarray:
    """A unit's factor of every term (columns) at every row of its table."""
    if not unit.windowed:
        return tab[:, reads]
    cols = []
    for spec in reads:
        key = (id(tab), spec)  # tables are cached: one object per (sizes, free tiles)
        if key not in factors:
            factors[key] = _window_factor(problem, unit, tab, spec)
        cols.append(factors[key])
    return np.stack(cols, axis=1)


def _costs(mats: list[np.ndarray], coef: np.ndarray, out_size: int):
    """(first flat index, occupancy, accesses) of every combination of the units' table rows
    (row-major), in blocks of at most CHUNK."""
    yield from _block(coef[None, :], mats, 0, out_size)


def _block(prod: np.ndarray, mats: list[np.ndarray], lo: int, out_size: int):
    """The combinations of ``prod``'s rows (partial products of the units before ``mats``,
    row-major) with every row combination of ``mats``, from flat index ``lo``."""
    def finish(prod, mats, lo):
        for f in mats[:-1]:
            prod = (prod[:, None, :] * f[None, :, :]).reshape(-1, f.shape[1])
        if mats:  # the last unit: a matrix product per kind of term
            f = mats[-1]
            occ = (prod[:, 0::2] @ f[:, 0::2].T).ravel()
            yield lo, occ, (prod[:, 1::2] @ f[:, 1::2].T).ravel() - out_size
        else:
            yield lo, prod[:, 0::2].sum(axis=1), prod[:, 1::2].sum(axis=1) - out_size
    yield from _chunked(prod, mats, lo, finish)


def _chunked(prod: np.ndarray, mats: list[np.ndarray], lo: int, finish):
    """``finish(prod, mats, lo)`` over blocks of at most CHUNK combinations: ``prod``'s rows are
    split, or the first unit multiplied in, until a block fits (memory stays bounded)."""
    inner = math.prod(len(m) for m in mats)
    if len(prod) * inner <= CHUNK or not mats:
        yield from finish(prod, mats, lo)
    elif len(prod) > 1:
        step = max(1, CHUNK // inner)
        for s in range(0, len(prod), step):
            yield from _chunked(prod[s:s + step], mats, lo + s * inner, finish)
    else:
        yield from _chunked(prod * mats[0], mats[1:], lo, finish)


def _nest(problem: Einsum, units: list[_Unit], cfg: _Config, tabs: list, flat: int) -> Nest:
    """The nest of combination ``flat`` of a class (its units' table rows, row-major).

    A merged rank's tile is split over its ranks prime by prime, each rank taking as much of the
    prime as its size allows before the next: deeper tiles divide the outer ones rank by rank, so
    the split nest has the merged one's footprints and counts. Its loops sit side by side where
    the merged loop was: no tensor's innermost relevant loop lies between them (they index the
    same tensors), so every tensor's traffic is the merged one's too. Conversely, for any nest two
    such loops of a segment may be moved next to the inner one without raising any traffic, so
    the merged ranks lose nothing.
    """
    idx = np.unravel_index(flat, [len(t) for t in tabs]) if tabs else ()
    k = len(cfg.orders)
    levels = [dict.fromkeys(problem.ranks, 1) for _ in range(k)]
    for u, unit in enumerate(units):
        if unit.windowed:
            for d in unit.ranks:
                for b in range(k):
                    levels[b][d] = int(tabs[u].tiles[d][idx[u], cfg.where[d][b]])
            continue
        where = cfg.where[unit.ranks[0]]
        for b in range(k):
            rest = int(tabs[u][idx[u], where[b]])
            if len(unit.ranks) == 1:
                levels[b][unit.ranks[0]] = rest
                continue
            for d in unit.ranks:  # p ** min(v_p(rest), v_p(N_d)) for every prime p
                levels[b][d] = t = math.gcd(rest, problem.size[d])
                rest //= t
    expand = {u.ranks[0]: u.ranks for u in units if not u.windowed}
    orders = tuple(tuple(d for rep in order for d in expand.get(rep, (rep,))) for order in cfg.orders)
    storage = tuple((T.name, cfg.boundary[i]) for i, T in enumerate(problem.tensors))
    return Nest(tuple(tuple(lv.items()) for lv in levels), orders, storage)


def _staircase(occ: np.ndarray, acc: np.ndarray) -> np.ndarray:
    """Indices of the Pareto staircase (occupancy up, accesses strictly down), as results.staircase."""
    if len(occ) == 1:
        return np.zeros(1, np.intp)
    order = np.lexsort((acc, occ))
    a = acc[order]
    best = np.minimum.accumulate(a)
    keep = np.empty(len(a), bool)
    keep[0] = True
    keep[1:] = a[1:] < best[:-1]
    return order[keep]


# ------------------------------------------------------------------ weighted, by whole tensors

@cache
def _plan_by_whole(shape: _Shape, limit: int = PLAN_LIMIT) -> tuple[_Config, ...] | None:
    """As :func:`_plan`, but a class is only dropped for one that stores the same tensors
    whole (boundary 0): :func:`least_by_whole` weights a whole tensor differently from a tiled
    one, so only classes with the same whole tensors have term-by-term comparable costs."""
    full = _plan_classes(shape, limit, by_whole=True)
    if full is None:
        return None
    by: dict[tuple, list[_Config]] = {}
    for cfg in full:
        by.setdefault(tuple(g == 0 for g in cfg.boundary), []).append(cfg)
    kept = [c for group in by.values() for c in _undominated(shape, group)]
    return tuple(sorted(kept, key=lambda c: -sum(c.free)))


def least_by_whole(problem: Einsum, capacity: int, move: tuple[int, ...],
                   tie: tuple[int, ...] | None = None, limit: int = WORK_LIMIT
                   ) -> dict[tuple[bool, ...], tuple[int, int, Nest]] | None:
    """Per set of tensors stored whole (a tuple of flags, one per tensor), the least
    ``sum(move[i] * fills_i)`` over the tensors *not* stored whole, then the least
    ``sum(tie[i] * fills_i)`` over them (default: none), among per-tensor perfect-factor
    one-buffer nests whose footprints (a whole tensor: its size) sum to at most ``capacity``:
    ``(value, tie value, nest)``; ``fills_i`` is the tensor's words filled
    (:func:`cost.moved_at`). Sets no nest fits are absent; None where the fast path cannot run
    (int64 could overflow, too much work).

    Why per set: the caller (reference/decompose.py) charges a whole tensor a cost of its own
    that is not proportional to its fills, so classes are compared only within a set. A class
    formula is at least the real fills of every nest it describes and exact on one class per
    nest (as :func:`frontier`), so the lexicographic least of the formulas is the real one;
    the collapse of free tiles holds class by class (the costs are still positive combinations
    of the same terms), and a class is dropped only for one no worse in every term. A tiled
    copy whose tile is whole in its ranks is costed by its formula here; the caller's
    whole-tensor set covers that nest. Sliding axes are taken as :func:`frontier` takes them:
    a windowed unit's factor carries the window's part of a tiled tensor's traffic term, whose
    coefficient is then the product of its plain axes' sizes (not the tensor's size).
    """
    tensors = problem.tensors
    tie = tuple(0 for _ in tensors) if tie is None else tie
    for vec in (move, tie):
        if len(vec) != len(tensors) or any(type(m) is not int or m < 0 for m in vec):
            raise ValueError(f"give a non-negative int per tensor of {problem}, got {vec}")
    whole = [problem.tensor_size(T) for T in tensors]
    # a tensor moves at most MACs x (sum of coefficients) per sliding axis (as _prepared)
    spread = [math.prod(sum(t.coef for t in a.terms) for a in T.axes) for T in tensors]
    if sum(max(m, t) * problem.macs * s + w for m, t, s, w
           in zip(move, tie, spread, whole)) >= 2**62:
        return None
    plain = [math.prod(problem.size[a.ranks[0]] for a in T.axes if a.is_plain) for T in tensors]
    units = _units(problem, False)
    shape = _shape(problem, units, True)
    configs = _plan_by_whole(shape)
    if configs is None:
        return None
    tables = _class_tables(problem, units, configs, limit)
    if tables is None:
        return None
    factors: dict = {}
    best: dict[tuple[bool, ...], tuple[int, int, int, int]] = {}
    weights = np.array([move, tie], np.int64).T  # tensor x (move, tie)
    for c, (cfg, tabs) in enumerate(zip(configs, tables)):
        flags = tuple(g == 0 for g in cfg.boundary)
        tiled = np.array([0 if g == 0 else plain[i] for i, g in enumerate(cfg.boundary)], np.int64)
        coef = np.array([w for t in tiled for w in (1, t)], np.int64)
        mats = [_matrix(problem, u, tab, reads, factors)
                for u, tab, reads in zip(units, tabs, cfg.reads)]
        for lo, foot, fills in _per_tensor(coef[None, :], mats, 0):
            ok = np.flatnonzero(foot.sum(axis=1) <= capacity)
            if not len(ok):
                continue
            both = fills[ok] @ weights
            first = both[:, 0].min()
            at = np.flatnonzero(both[:, 0] == first)
            i = at[np.argmin(both[at, 1])]
            key = (int(both[i, 0]), int(both[i, 1]))
            if flags not in best or key < best[flags][:2]:
                best[flags] = (*key, c, lo + int(ok[i]))
    out = {}
    for flags, (value, second, c, flat) in best.items():
        out[flags] = (value, second, _nest(problem, units, configs[c], tables[c], flat))
    return out


def _per_tensor(prod: np.ndarray, mats: list[np.ndarray], lo: int):
    """As :func:`_footprints`, with each tensor's traffic term (a column per tensor) in place
    of their sum: (first flat index, footprints, fills)."""
    def finish(prod, mats, lo):
        for f in mats:
            prod = (prod[:, None, :] * f[None, :, :]).reshape(-1, f.shape[1])
        yield lo, prod[:, 0::2], prod[:, 1::2]
    yield from _chunked(prod, mats, lo, finish)
