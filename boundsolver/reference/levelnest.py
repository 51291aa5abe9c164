"""The exact per-tensor joint frontier of a temporal hierarchy by vectorised enumeration.

The mapspace is that of :func:`hierarchy.per_tensor_points` (docs/hierarchy.md, "Per-tensor
placement"): every copy (tensor T, on-chip level l keeping T) sits at its own boundary ``b(T, l)``
of a nest of K >= 1 boundaries, non-decreasing inwards per tensor; perfect factors, or with
``imperfect`` each rank's outermost split of any size. The objective is the lexicographic key of
``cost.LevelCost`` (backing-store traffic, then the traffic into each level, outermost first),
over the swept level's occupancy, every fixed level's capacity respected. This module is
fastnest.py's method carried to several levels:

* **Classes.** A class fixes K, each copy's boundary (every boundary holds a copy) and, per
  segment ``c - 1`` (the loops right above boundary c), an undominated order class
  (``mapspace.order_classes``) of the tensors with a copy at c.
* **Class formula.** Within a class each copy costs a footprint ``prod_{d in T} tile(d, c)`` and
  fills ``|T| prod_{e not in T} ceil(N_e / tile(e, c - 1 + [e refetched]))`` (the tile above
  segment c - 1, or at c where e loops above T's innermost relevant loop in segment c - 1); an
  input moves its fills into its copy, the output twice its fills less its size (first-read
  elision). A level's occupancy and traffic are the sums over its copies; the backing store's
  traffic the sum over each tensor's outermost copy.
* **Tile chains per rank** (``N >= tile(d, 1) >= ... >= tile(d, K) >= 1``, each dividing the one
  above, the first one below N of any size with imperfect factors), collapsed as in
  ``fastnest._collapse``: a tile read only by footprints is set to the next deeper tile read
  (or 1), one read only by counts to the next shallower (or N). Every footprint only grows and
  every count only shrinks in its tile, so the collapsed nest has no component of the vector
  (each level's occupancy, each level's traffic, the backing store's) higher: it is matched or
  beaten on the whole lexicographic key at every capacity. Both moves keep the chain rule (a
  copied tile divides, or is N, or becomes the rank's first split).
* **Costing.** Every combination of the ranks' chains is costed in numpy, one rank after another;
  a partial product of a term is a lower bound of it (every factor is at least 1), so rows whose
  partial occupancy of a fixed level is over its capacity, or whose partial key is already
  matched by the staircase at their partial occupancy, are dropped before the next rank.
* **Dominance.** Classes with the same collapsed formula are costed once; a class whose every
  term is at least another's at every tiling (same free tiles) not at all.

**The classes cover the canonical nests of** :func:`hierarchy.per_tensor_points` **(no fanout,
plain axes).** A canonical nest N has K boundaries, each storing a copy (rule 1), copies of a
tensor at non-decreasing boundaries: that fixes a class's boundaries. By rule 2 every copy at
c >= 2 has its innermost relevant loop j in segment c - 1, and so does a copy at c = 1 if T has
any loop above it (else every count is 1 in both). ``moved_at`` then counts, per irrelevant rank
e looping above j, ``ceil(N_e / tile)`` with the tile below the deepest segment holding such a
loop: that is ``tile(e, c)`` if e loops in segment c - 1 above j, else ``tile(e, c - 1)`` (no
deeper e loop above j, so the tile right above segment c - 1 is the one below e's deepest
loop); an e not looping above j has ``tile(e, c - 1) = N_e`` or loops only below j in segment
c - 1, where ``tile(e, c - 1)`` is again below its deepest loop above j. So the formula of the
class whose segment c - 1 has N's signature (rule 4) equals N's cost, and order classes keep an
undominated representative of each signature (a refetched set contained in another's costs no
more, term by term). Conversely a formula never under-estimates the nest it is read at (a loop
the class counts may have one trip: the true innermost relevant loop is then higher and its
counted tiles no smaller), so the least formula value is the mapspace's. With the collapse
above, the staircase of formula values is the exact per-tensor staircase; every returned point is
re-costed by ``cost.evaluate_levels`` in Python integers (it must reproduce the formula) and
checked by ``cost.check_level_tiles``.

Not covered (returns None, so the caller takes the enumerator or the MILP): spatial fanout,
sliding-window axes, work over ``WORK_LIMIT`` combinations or ``PLAN_LIMIT`` classes, values that
could overflow int64.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from itertools import combinations_with_replacement, product

import numpy as np
import sympy

from ..model.arch import Arch
from ..model.cost import Copies, LevelCost, Nest, check_level_tiles, evaluate_levels
from ..model.einsum import Axis, Einsum, Tensor, Term
from ..model.mapspace import divisors, order_classes, tile_sizes
from .fastnest import _collapse, _units

WORK_LIMIT = 400_000_000  # chain combinations over all classes (before pruning): tens of seconds
PLAN_LIMIT = 200_000  # classes visited (Python work)
CHUNK = 1 << 18  # rows costed at once


# ------------------------------------------------------------------------------ the problem's frame

@dataclass(frozen=True)
class _Frame:
    """What the classes depend on: per tensor its plan ranks (representatives of merged units),
    per copy its tensor and level (tensor order, outermost level first), the plan ranks and their
    sizes, the units' ranks, whether factors are imperfect."""

    rels: tuple[frozenset[str], ...]
    copies: tuple[tuple[int, int], ...]
    ranks: tuple[str, ...]
    sizes: tuple[int, ...]
    units: tuple[tuple[str, ...], ...]
    imperfect: bool
    depth: int


def _frame(problem: Einsum, arch: Arch, imperfect: bool) -> _Frame | None:
    if any(f > 1 for f in arch.fanouts):
        return None
    if any(not a.is_plain for T in problem.tensors for a in T.axes):
        return None
    units = _units(problem, imperfect)
    if any(u.windowed for u in units):
        return None
    rep = {d: u.ranks[0] for u in units for d in u.ranks}
    rels = tuple(frozenset(rep[d] for d in T.ranks if d in rep) for T in problem.tensors)
    copies = tuple((t, lv) for t, T in enumerate(problem.tensors)
                   for lv, level in enumerate(arch.on_chip, start=1) if level.keeps_tensor(problem, T))
    ranks = tuple(u.ranks[0] for u in units)
    sizes = tuple(math.prod(problem.size[d] for d in u.ranks) for u in units)
    # a strict shrink of a tile divides it by a prime (perfect) or at least halves it
    splits = sum(sum(sympy.factorint(n).values()) if not imperfect else (n - 1).bit_length()
                 for n in sizes)
    return _Frame(rels, copies, ranks, sizes, tuple(u.ranks for u in units), imperfect, 1 + splits)


# ------------------------------------------------------------------------------ classes

class _Class:
    """One class, collapsed: K, each copy's boundary, each segment's order (plan ranks), per plan
    rank its number of free tiles and the table column of its tile at each boundary 1..K, and per
    rank the columns each term reads (term ``2i``: copy i's footprint, ``2i + 1``: its fills)."""

    __slots__ = ("k", "boundary", "orders", "free", "where", "reads", "key")

    def __init__(self, frame: _Frame, k: int, boundary: tuple[int, ...], segments):
        self.k, self.boundary = k, boundary
        self.orders = tuple(s.order for s in segments)
        rels = frame.rels
        groups = [sorted({frame.copies[i][0] for i, c in enumerate(boundary) if c == b})
                  for b in range(1, k + 1)]
        refetched = [{t: seg.refetched[pos] for pos, t in enumerate(g)}
                     for g, seg in zip(groups, segments)]
        inc = {d: set() for d in frame.ranks}
        dec = {d: set() for d in frame.ranks}
        counted = []
        for (t, _), c in zip(frame.copies, boundary):
            at = {}
            for d in frame.ranks:
                if d in rels[t]:
                    inc[d].add(c)
                elif c - 1 + (d in refetched[c - 1][t]):
                    at[d] = c - 1 + (d in refetched[c - 1][t])
                    dec[d].add(at[d])
            counted.append(at)
        free, where = [], {}
        for d in frame.ranks:
            f, w = _collapse(frozenset(inc[d]), frozenset(dec[d]), k, True)
            free.append(f)
            where[d] = w
        self.free, self.where = tuple(free), where
        reads = []
        for x, d in enumerate(frame.ranks):
            width = free[x] + 2
            terms = []
            for (t, _), c, at in zip(frame.copies, boundary, counted):
                terms.append(where[d][c - 1] if d in rels[t] else 2 * width)
                terms.append(width + where[d][at[d] - 1] if d in at else 2 * width)
            reads.append(tuple(terms))
        self.reads = tuple(reads)
        self.key = (self.free, self.reads)

    def entries(self) -> list[tuple[int, int]]:
        """Per (rank, term): (kind, value) for the dominance test (as fastnest's ``entries``):
        kind 0 a constant 1; 1 a tile, larger for a smaller value; 2 a count, larger for a
        larger value."""
        out = []
        for free, reads in zip(self.free, self.reads):
            width = free + 2
            for c in reads:
                if c in (free + 1, width, 2 * width):
                    out.append((0, 0))
                elif c < width:
                    out.append((1, -c))
                else:
                    out.append((2, c - width))
        return out


def _boundaries(frame: _Frame):
    """Every (K, boundary per copy): each tensor's copies at non-decreasing boundaries in 1..K,
    every boundary holding a copy, K at most ``frame.depth`` (each boundary below the first has
    a loop in the segment above it: a tile that strictly shrinks)."""
    counts: dict[int, int] = {}
    for t, _ in frame.copies:
        counts[t] = counts.get(t, 0) + 1
    per = list(counts.values())
    left = [sum(per[i:]) for i in range(len(per) + 1)]
    for k in range(1, min(len(frame.copies), frame.depth) + 1):
        seqs = [list(combinations_with_replacement(range(1, k + 1), m)) for m in per]

        def rec(i: int, covered: frozenset, chosen: tuple):
            if i == len(per):
                if len(covered) == k:
                    yield k, chosen
                return
            for seq in seqs[i]:
                now = covered.union(seq)
                if k - len(now) <= left[i + 1]:
                    yield from rec(i + 1, now, chosen + seq)

        yield from rec(0, frozenset(), ())


@cache
def _plan(frame: _Frame, limit: int = PLAN_LIMIT) -> tuple[_Class, ...] | None:
    """The distinct undominated collapsed classes, most free tiles first (they set a low
    staircase early); None past ``limit`` classes."""
    tensors = tuple(Tensor(f"T{i}", tuple(Axis((Term(d),)) for d in sorted(r)))
                    for i, r in enumerate(frame.rels))
    per_group: dict = {}
    plans = []
    total = 0
    for k, boundary in _boundaries(frame):
        options = []
        for b in range(1, k + 1):
            g = tuple(sorted({frame.copies[i][0] for i, c in enumerate(boundary) if c == b}))
            if g not in per_group:
                per_group[g] = order_classes(None, list(frame.ranks), tuple(tensors[i] for i in g))
            options.append(per_group[g])
        total += math.prod(len(o) for o in options)
        if total > limit:
            return None
        plans.append((k, boundary, options))
    classes: dict = {}
    for k, boundary, options in plans:
        for segs in product(*options):
            cls = _Class(frame, k, boundary, segs)
            classes.setdefault(cls.key, cls)
    kept = _undominated(list(classes.values()))
    return tuple(sorted(kept, key=lambda c: -sum(c.free)))


def _undominated(classes: list[_Class]) -> list[_Class]:
    """Drops every class whose every term is at least another's at every tiling (same free
    tiles, so the same tables); only for one kept or not yet visited."""
    by_free: dict[tuple, list[int]] = {}
    for x, c in enumerate(classes):
        by_free.setdefault(c.free, []).append(x)
    dropped: set[int] = set()
    for members in by_free.values():
        if len(members) == 1:
            continue
        e = np.array([classes[x].entries() for x in members], np.int64)
        kind, value = e[..., 0], e[..., 1]
        for a, x in enumerate(members):
            below = ((kind == 0) | ((kind == kind[a]) & (value <= value[a]))).all(axis=1)
            if any(b != a and members[b] not in dropped for b in np.flatnonzero(below)):
                dropped.add(x)
    return [c for x, c in enumerate(classes) if x not in dropped]


# ------------------------------------------------------------------------------ tables

@cache
def _chains(n: int, free: int, imperfect: bool) -> np.ndarray:
    """Every chain ``n >= u_1 >= ... >= u_free >= 1`` of one rank's tiles, rows of
    ``[n, u_1..u_free, 1]``: each divides the one above, except the first below ``n`` (any
    ``tile_sizes`` value with imperfect factors; the hierarchy rule of ``hierarchy._chains``)."""
    def below(last: int) -> tuple[int, ...]:
        return tile_sizes(n, True) if imperfect and last == n else tuple(divisors(last))

    rows = [(n,)]
    for _ in range(free):
        rows = [r + (t,) for r in rows for t in below(r[-1])]
    tiles = np.array([r + (1,) for r in rows], np.int64).reshape(len(rows), free + 2)
    tiles.setflags(write=False)
    return tiles


@cache
def _table(n: int, free: int, imperfect: bool) -> np.ndarray:
    """A rank's factor table: its chains' tiles, counts ``ceil(n / tile)``, a constant 1."""
    tiles = _chains(n, free, imperfect)
    table = np.concatenate([tiles, -(-n // tiles), np.ones((len(tiles), 1), np.int64)], axis=1)
    table.setflags(write=False)
    return table


# ------------------------------------------------------------------------------ the search

def _lex_less(a: list[np.ndarray], b: list[np.ndarray]) -> np.ndarray:
    """Rows where key ``a`` (a list of columns) is lexicographically below ``b``."""
    less = np.zeros(len(a[0]), bool)
    equal = np.ones(len(a[0]), bool)
    for x, y in zip(a, b):
        less |= equal & (x < y)
        equal &= x == y
    return less


class _Staircase:
    """The lexicographic staircase so far: occupancies increasing, keys strictly falling, and
    where each point comes from (class, flat combination index)."""

    def __init__(self, width: int):
        self.x = np.empty(0, np.int64)
        self.keys = np.empty((0, width), np.int64)
        self.tag = np.empty((0, 2), np.int64)

    def beaten(self, x: np.ndarray, keys: np.ndarray) -> np.ndarray:
        """Rows whose key is not below the staircase's at occupancy ``x`` (matched there)."""
        if not len(self.x):
            return np.zeros(len(x), bool)
        at = np.searchsorted(self.x, x, side="right") - 1
        has = at >= 0
        ref = self.keys[np.maximum(at, 0)]
        less = _lex_less(list(keys.T), list(ref.T))
        return has & ~less

    def merge(self, x: np.ndarray, keys: np.ndarray, tag: np.ndarray) -> None:
        x = np.concatenate([self.x, x])
        keys = np.concatenate([self.keys, keys])
        tag = np.concatenate([self.tag, tag])
        order = np.lexsort(tuple(keys.T[::-1]) + (x,))
        x, keys, tag = x[order], keys[order], tag[order]
        # dense lexicographic rank of each key, then a scalar staircase over (x, rank)
        sk = np.lexsort(tuple(keys.T[::-1]))
        step = np.ones(len(sk), np.int64)
        step[1:] = (keys[sk][1:] != keys[sk][:-1]).any(axis=1)
        rank = np.empty(len(sk), np.int64)
        rank[sk] = np.cumsum(step)
        best = np.minimum.accumulate(rank)
        keep = np.empty(len(rank), bool)
        keep[0] = True
        keep[1:] = rank[1:] < best[:-1]
        self.x, self.keys, self.tag = x[keep], keys[keep], tag[keep]


@dataclass(frozen=True)
class _Costing:
    """Linear maps from the terms of a class to what the key reads: per level the footprint
    columns (occupancy) and the fill columns with their weights (traffic), the backing store's
    fill weights, and the constant (the output's ``-|Z|`` per copy)."""

    occ: np.ndarray  # terms x levels
    acc: np.ndarray  # terms x (1 + levels): backing store, then each level
    const: np.ndarray  # 1 + levels


def _costing(problem: Einsum, frame: _Frame, nl: int) -> _Costing:
    nt = 2 * len(frame.copies)
    occ = np.zeros((nt, nl), np.int64)
    acc = np.zeros((nt, nl + 1), np.int64)
    const = np.zeros(nl + 1, np.int64)
    out = len(problem.tensors) - 1
    seen = set()
    for i, (t, lv) in enumerate(frame.copies):
        occ[2 * i, lv - 1] = 1
        w = 2 if t == out else 1
        z = problem.tensor_size(problem.output) if t == out else 0
        acc[2 * i + 1, lv] = w
        const[lv] -= z
        if t not in seen:  # the tensor's outermost copy: filled from the backing store
            seen.add(t)
            acc[2 * i + 1, 0] = w
            const[0] -= z
    return _Costing(occ, acc, const)


def frontier(problem: Einsum, arch: Arch, imperfect: bool = False, limit: int = WORK_LIMIT
             ) -> list[tuple[Nest, LevelCost, Copies]] | None:
    """The exact per-tensor staircase (as :func:`hierarchy.per_tensor_points`: occupancy of the
    swept level up, lexicographic key strictly down; without a swept level, the one least point),
    each point's nest re-costed by ``evaluate_levels``; None where this path does not apply
    (fanout, sliding windows, over ``limit`` combinations or PLAN_LIMIT classes, int64 overflow)."""
    frame = _frame(problem, arch, imperfect)
    if frame is None:
        return None
    if problem.output is not problem.tensors[-1]:
        return None
    # a footprint is at most its tensor, fills at most MACs (plain axes): every sum of a key
    # (weight 2 per copy at most) and every partial product stays below that
    if 2 * (len(frame.copies) + 1) * problem.macs >= 2**62:
        return None
    classes = _plan(frame)
    if classes is None:
        return None
    tables = [[_table(n, f, imperfect) for n, f in zip(frame.sizes, c.free)] for c in classes]
    if sum(math.prod(len(t) for t in tabs) for tabs in tables) > limit:
        return None
    on_chip = arch.on_chip
    nl = len(on_chip)
    caps = np.array([lv.capacity if lv.capacity is not None else -1 for lv in on_chip], np.int64)
    fixed = np.flatnonzero(caps >= 0)
    swept = arch.swept_index
    costing = _costing(problem, frame, nl)
    stairs = _Staircase(nl + 1)
    # each copy's footprint starts at 1, its fills at its tensor's size (times the counts)
    start = np.array([[v for t, _ in frame.copies for v in (1, problem.tensor_size(problem.tensors[t]))]],
                     np.int64)

    def measure(prod: np.ndarray):
        occ = prod @ costing.occ
        keys = prod @ costing.acc + costing.const
        x = occ[:, swept] if swept is not None else np.zeros(len(prod), np.int64)
        return occ, keys, x

    def alive(prod: np.ndarray) -> np.ndarray:
        occ, keys, x = measure(prod)
        ok = (occ[:, fixed] <= caps[fixed]).all(axis=1)
        return ok & ~stairs.beaten(x, keys)

    for c, (cls, tabs) in enumerate(zip(classes, tables)):
        mats = [tab[:, np.array(reads, np.intp)] for tab, reads in zip(tabs, cls.reads)]
        sizes = [len(m) for m in mats]
        _search(mats, start, np.zeros(1, np.int64), alive, measure, stairs, c, sizes)
    out = []
    for i in range(len(stairs.x)):
        c, flat = int(stairs.tag[i, 0]), int(stairs.tag[i, 1])
        nest, copies = _nest(problem, arch, frame, classes[c], tables[c], flat)
        check_level_tiles(problem, nest, "imperfect" if imperfect else "perfect")
        cost = evaluate_levels(problem, nest, copies, arch.multicast)
        key = tuple(int(v) for v in stairs.keys[i])
        x = int(stairs.x[i])
        if cost.key != key or (swept is not None and cost.occupancy[swept] != x):
            raise AssertionError(f"per-tensor level enumerator costed "
                                 f"{nest.describe(problem, copies)} as {key} at {x}, "
                                 f"evaluate_levels says {cost}")
        out.append((nest, cost, copies))
    return out


def _search(mats, prod, flat, alive, measure, stairs, c, sizes) -> None:
    """Multiply the ranks' factor matrices in one at a time, dropping rows that cannot enter
    the staircase (partial products are lower bounds), in blocks of at most CHUNK rows."""
    if not mats:
        occ, keys, x = measure(prod)
        keep = alive(prod)
        if keep.any():
            stairs.merge(x[keep], keys[keep],
                         np.stack([np.full(int(keep.sum()), c), flat[keep]], axis=1))
        return
    m = mats[0]
    step = max(1, CHUNK // len(m))
    for s in range(0, len(prod), step):
        p = (prod[s:s + step, None, :] * m[None, :, :]).reshape(-1, m.shape[1])
        f = (flat[s:s + step, None] * len(m) + np.arange(len(m))[None, :]).reshape(-1)
        if len(mats) > 1:
            keep = alive(p)
            p, f = p[keep], f[keep]
            if not len(p):
                continue
        _search(mats[1:], p, f, alive, measure, stairs, c, sizes)


def _nest(problem: Einsum, arch: Arch, frame: _Frame, cls: _Class, tabs: list, flat: int
          ) -> tuple[Nest, Copies]:
    """The nest and copies of combination ``flat`` of a class (row-major over its ranks'
    tables). A merged rank's tile is split prime by prime (as ``fastnest._nest``)."""
    idx = np.unravel_index(flat, [len(t) for t in tabs]) if tabs else ()
    k = cls.k
    levels = [dict.fromkeys(problem.ranks, 1) for _ in range(k)]
    for x, (d0, ranks) in enumerate(zip(frame.ranks, frame.units)):
        for b in range(k):
            rest = int(tabs[x][idx[x], cls.where[d0][b]])
            if len(ranks) == 1:
                levels[b][d0] = rest
                continue
            for d in ranks:
                levels[b][d] = t = math.gcd(rest, problem.size[d])
                rest //= t
    expand = dict(zip(frame.ranks, frame.units))
    orders = tuple(tuple(d for rep in order for d in expand[rep]) for order in cls.orders)
    storage = tuple((problem.tensors[t].name, b) for (t, _), b in zip(frame.copies, cls.boundary))
    nest = Nest(tuple(tuple(lv.items()) for lv in levels), orders, storage)
    copies = Copies(tuple(lv for _, lv in frame.copies), tuple(lv.name for lv in arch.on_chip))
    return nest, copies
