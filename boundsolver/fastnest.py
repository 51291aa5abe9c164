"""The exact ``per_tensor/perfect`` frontier of a plain-axis Einsum by vectorised enumeration.

A nest class (placement.py) fixes the storage groups and each segment's order class; within it the
cost of a tiling is the class formula of docs/mapspaces.md §2: a sum of monomials, one footprint and
one traffic term per tensor, each a product of one factor per rank,

* footprint of T (group ``g``): ``tile(d, g)`` for ``d`` in T (group 0: ``N_d``);
* traffic of T: ``N_e / tile(e, b)`` for ``e`` not in T, ``b = g - 1 + [e refetched]`` (1 at ``b = 0``).

The constraints are per rank (a divisibility chain ``N_d >= tile(d, 1) >= ... >= tile(d, k)``), so a
rank's chain only enters through its factor vector. A tile that only appears in footprints is best
as small as the chain lets it be (equal to the next deeper tile that matters, or 1), one that only
appears in traffic terms as large (the next shallower one, or ``N_d``); tiles no term reads are
free. Collapsing those leaves each rank a few free tiles (usually one). Every combination of the
ranks' reduced chains is then costed at once in numpy, class by class, and only what beats the
staircase so far is kept. Before that, per shape (cached):

* ranks indexing the same tensors are one rank of their product size (``_nest`` splits it back);
* tensors without a looping rank (one element) are stored whole: another group gives the same
  footprint and at least as much traffic;
* classes with the same collapsed formula are costed once, and a class whose every term is at
  least another's at every tiling not at all.

Exactness: a class formula never under-estimates the nest it describes (``nest.evaluate``) and is
exact on the classes that attain the optimum, so the least formula value is the mapspace's (the
MILP minimises the same formula over the same classes). Every returned point is re-evaluated by
``nest.evaluate`` in Python integers and must reproduce its (occupancy, accesses).
"""

from __future__ import annotations

import math
from functools import cache
from itertools import combinations_with_replacement, product

import numpy as np

from . import nest as nests
from .cost import Cost, divisors
from .einsum import Einsum
from .formulation import order_classes
from .nest import Mapspace, Nest
from .placement import storage_groups

PER_TENSOR = Mapspace("per_tensor", "perfect")
WORK_LIMIT = 20_000_000  # costed (tiling, class) combinations: about a second of numpy work
CHUNK = 1 << 20  # combinations costed at once (memory: 16 words each per stored tensor)
_TOP, _BOTTOM = -1, -2


def applies(problem: Einsum, mapspace: Mapspace) -> bool:
    """The fast path covers the per-tensor mapspace with perfect factors and plain axes only."""
    return mapspace == PER_TENSOR and all(a.is_plain for T in problem.tensors for a in T.axes)


# ------------------------------------------------------------------------------ the plan of a shape

class _Config:
    """One nest class, collapsed: each tensor's storage boundary and, per rank, its number of free
    tiles and the factor column each term reads from the rank's table (``_table``); term ``2i`` is
    tensor i's footprint, ``2i + 1`` its traffic (a tensor of group 0: ``N`` for each of its ranks
    in the footprint, 1 in the traffic)."""

    __slots__ = ("boundary", "orders", "free", "cols", "where", "key")

    def __init__(self, groups, segments, rels, ranks):
        self.orders = tuple(c.order for c in segments)
        k = len(segments)
        n = len(rels)
        self.boundary = tuple(next(b for b, g in enumerate(groups) if i in g) for i in range(n))
        refetched = {}
        for b, seg in enumerate(segments, start=1):
            for pos, i in enumerate(groups[b]):
                refetched[i] = seg.refetched[pos]
        self.free, self.cols, self.where = [], [], []
        for d in ranks:
            reads = []  # per term: ("tile" | "count" | "one", boundary); boundary 0: the whole rank
            inc, dec = set(), set()
            for i in range(n):
                g = self.boundary[i]
                if d in rels[i]:
                    reads += [("tile", g), ("one", 0)]
                    if g:
                        inc.add(g)
                else:
                    b = g - 1 + (d in refetched[i]) if g else 0
                    reads += [("one", 0), ("count", b) if b else ("one", 0)]
                    if b:
                        dec.add(b)
            L, cols, where = _collapse(frozenset(inc), frozenset(dec), tuple(reads), k)
            self.free.append(L)
            self.cols.append(np.array(cols, dtype=np.intp))
            self.where.append(where)
        # Classes with the same collapsed formula give the same points: one of them is enough.
        self.key = (tuple(self.free), tuple(tuple(c.tolist()) for c in self.cols))


@cache
def _collapse(inc: frozenset[int], dec: frozenset[int], reads: tuple[tuple[str, int], ...], k: int):
    """A rank's free chain variables: boundaries read only by footprints (``inc``) join the next
    deeper boundary read by any term (or the tile 1), those read only by counts (``dec``) the next
    shallower one (or ``N``). Returns the number of free tiles, each term's factor column and, per
    boundary 1..k, the column of its tile (boundaries nothing reads copy the one above)."""
    used = sorted(inc | dec)
    parent = {b: b for b in used} | {_TOP: _TOP, _BOTTOM: _BOTTOM}

    def find(x):
        while parent[x] != x:
            x = parent[x]
        return x

    for idx, b in enumerate(used):
        if b in inc and b not in dec:  # as small as the next tile that matters
            other = used[idx + 1] if idx + 1 < len(used) else _BOTTOM
        elif b in dec and b not in inc:  # as large as the one above
            other = used[idx - 1] if idx else _TOP
        else:
            continue
        x, y = find(b), find(other)
        if x != y:
            parent[max(x, y)] = min(x, y)  # _TOP and _BOTTOM (negative) stay roots
    roots = []
    for b in used:
        r = find(b)
        if r >= 0 and r not in roots:
            roots.append(r)
    free = len(roots)

    def column(b):  # column of boundary b's tile in [N, u_1..u_free, 1]
        r = find(b) if b else _TOP
        return 0 if r == _TOP else free + 1 if r == _BOTTOM else 1 + roots.index(r)

    where, last = [], 0
    for b in range(1, k + 1):
        if b in parent:
            last = column(b)
        where.append(last)
    width = free + 2
    cols = [column(b) if kind == "tile" else width + column(b) if kind == "count" else 2 * width
            for kind, b in reads]
    return free, cols, where


@cache
def _plan(rels: tuple[frozenset[str], ...], ranks: tuple[str, ...]) -> tuple[_Config, ...]:
    """The distinct collapsed nest classes of a shape (which tensor uses which looping rank), the
    ones with most free tiles first (they set a low envelope early)."""
    from .einsum import Axis, Tensor, Term

    tensors = tuple(Tensor(f"T{i}", tuple(Axis((Term(d),)) for d in sorted(r))) for i, r in enumerate(rels))
    per_group = {}
    configs = {}
    for groups in storage_groups(len(rels), True):
        if any(not rels[i] for g in groups[1:] for i in g):
            continue  # a one-element tensor is best stored whole
        options = []
        for g in groups[1:]:
            if g not in per_group:
                per_group[g] = order_classes(None, list(ranks), tuple(tensors[i] for i in g))
            options.append(per_group[g])
        for segs in product(*options):
            cfg = _Config(groups, segs, rels, ranks)
            configs.setdefault(cfg.key, cfg)
    configs = list(configs.values())
    below = _dominance(configs)
    # A class whose every term is at least another's at every tiling adds nothing. A class is only
    # dropped for one kept or not yet visited, so every dropped one has a kept one below it.
    dropped: set[int] = set()
    for x in range(len(configs)):
        if any(y != x and y not in dropped for y in np.flatnonzero(below[:, x])):
            dropped.add(x)
    kept = [c for i, c in enumerate(configs) if i not in dropped]
    return tuple(sorted(kept, key=lambda c: -sum(c.free)))


def _dominance(configs: list[_Config]) -> np.ndarray:
    """``below[y, x]``: every term of class y is at most class x's at every tiling, for classes
    with the same free tiles. Per factor: the tile 1, the count 1 and the constant are 1 (at most
    anything); tiles shrink with the column, counts ``N / tile`` grow."""
    kinds, values = [], []
    for c in configs:
        kind, value = [], []
        for free, cols in zip(c.free, c.cols):
            width = free + 2
            for col in cols.tolist():
                if col in (free + 1, width, 2 * width):
                    kind.append(0)
                    value.append(0)
                elif col < width:
                    kind.append(1)
                    value.append(-col)
                else:
                    kind.append(2)
                    value.append(col - width)
        kinds.append(kind)
        values.append(value)
    kind = np.array(kinds, np.int64).reshape(len(configs), -1)
    value = np.array(values, np.int64).reshape(len(configs), -1)
    same = np.array([[x.free == y.free for x in configs] for y in configs], bool)
    le = (kind[:, None, :] == 0) | ((kind[:, None, :] == kind[None, :, :])
                                   & (value[:, None, :] <= value[None, :, :]))
    return same & le.all(axis=2)


@cache
def _table(n: int, free: int) -> np.ndarray:
    """Every divisibility chain ``n >= u_1 >= ... >= u_free >= 1`` of divisors of n, as rows of
    ``[n, u_1..u_free, 1]`` tiles, ``n / tile`` counts and a constant 1."""
    divs = divisors(n)
    rows = [c[::-1] for c in combinations_with_replacement(divs, free)
            if all(c[i + 1] % c[i] == 0 for i in range(free - 1))]
    tiles = np.array([(n, *r, 1) for r in rows], dtype=np.int64).reshape(len(rows), free + 2)
    table = np.concatenate([tiles, n // tiles, np.ones((len(rows), 1), np.int64)], axis=1)
    table.setflags(write=False)
    return table


# ---------------------------------------------------------------------------------------- frontier

def frontier(problem: Einsum, limit: int = WORK_LIMIT) -> list[tuple[Nest, Cost]] | None:
    """The staircase's nests and costs in increasing occupancy; None where the fast path cannot
    run (an axis is not plain, int64 could overflow, or more than ``limit`` combinations)."""
    if not applies(problem, PER_TENSOR):
        return None
    tensors = problem.tensors
    weight = [2 if T is problem.output else 1 for T in tensors]
    whole = [problem.tensor_size(T) for T in tensors]
    if sum(weight) * (problem.macs + sum(whole)) >= 2**62:
        return None
    # Looping ranks used by the same tensors act as one rank of their product size (below).
    members: dict[frozenset[int], list[str]] = {}
    for d, n in problem.sizes:
        if n > 1:
            members.setdefault(frozenset(i for i, T in enumerate(tensors) if d in T.ranks), []).append(d)
    merged = list(members.values())
    ranks = tuple(g[0] for g in merged)
    size = {g[0]: math.prod(problem.size[d] for d in g) for g in merged}
    rels = tuple(frozenset(g[0] for users, g in members.items() if i in users) for i in range(len(tensors)))
    configs = _plan(rels, ranks)
    tables = [[_table(size[d], L) for d, L in zip(ranks, cfg.free)] for cfg in configs]
    if sum(math.prod(len(t) for t in tabs) for tabs in tables) > limit:
        return None
    coef = np.array([w for i in range(len(tensors)) for w in (1, weight[i] * whole[i])], np.int64)
    # The staircase so far (occupancy up, accesses down) and where each point comes from.
    s_occ = s_acc = np.empty(0, np.int64)
    s_tag = np.empty((0, 2), np.int64)
    for c, (cfg, tabs) in enumerate(zip(configs, tables)):
        for lo, occ, acc in _costs(cfg, tabs, coef, whole[-1]):
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
    out = []
    for i in range(len(s_occ)):
        c, flat = int(s_tag[i, 0]), int(s_tag[i, 1])
        nest = _nest(problem, merged, configs[c], tables[c], flat)
        cost = nests.evaluate(problem, nest, imperfect=False)
        if (cost.occupancy, cost.accesses) != (int(s_occ[i]), int(s_acc[i])):
            raise AssertionError(f"fast per-tensor frontier disagrees with the cost model at "
                                 f"{nest.describe(problem)}: {(int(s_occ[i]), int(s_acc[i]))} vs "
                                 f"{(cost.occupancy, cost.accesses)}")
        out.append((nest, cost))
    return out


def _costs(cfg: _Config, tabs: list[np.ndarray], coef: np.ndarray, out_size: int):
    """(first flat index, occupancy, accesses) of every combination of the ranks' table rows
    (row-major), in blocks of at most CHUNK."""
    shape = [len(t) for t in tabs]
    total = math.prod(shape)
    if total <= CHUNK:
        prod = coef[None, :]
        for tab, cols in zip(tabs[:-1], cfg.cols[:-1]):
            f = tab[:, cols]
            prod = (prod[:, None, :] * f[None, :, :]).reshape(-1, f.shape[1])
        if tabs:  # the last rank: a matrix product per kind of term
            f = tabs[-1][:, cfg.cols[-1]]
            yield 0, (prod[:, 0::2] @ f[:, 0::2].T).ravel(), (prod[:, 1::2] @ f[:, 1::2].T).ravel() - out_size
        else:
            yield 0, prod[:, 0::2].sum(axis=1), prod[:, 1::2].sum(axis=1) - out_size
        return
    for lo in range(0, total, CHUNK):
        idx = np.unravel_index(np.arange(lo, min(lo + CHUNK, total)), shape)
        prod = coef[None, :]
        for tab, cols, i in zip(tabs, cfg.cols, idx):
            prod = prod * tab[i][:, cols]
        yield lo, prod[:, 0::2].sum(axis=1), prod[:, 1::2].sum(axis=1) - out_size


def _nest(problem: Einsum, merged: list[list[str]], cfg: _Config, tabs: list, flat: int) -> Nest:
    """The nest of combination ``flat`` of a class (its ranks' table rows, row-major).

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
    for r, group in enumerate(merged):
        for b in range(k):
            rest = int(tabs[r][idx[r], cfg.where[r][b]])
            for d in group:  # p ** min(v_p(rest), v_p(N_d)) for every prime p
                levels[b][d] = t = math.gcd(rest, problem.size[d])
                rest //= t
    expand = {g[0]: g for g in merged}
    orders = tuple(tuple(d for rep in order for d in expand[rep]) for order in cfg.orders)
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
