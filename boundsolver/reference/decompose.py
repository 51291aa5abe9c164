"""The per-tensor joint bound's first inner stage by decomposition at a fanout
(docs/hierarchy.md, "The inner stage by decomposition").

Where level 1 (one instance) and level 2 (a fanout) keep every tensor, every copy of level 1
sits above level 2's fanout and every copy of level 2 below it (``Copies.fanout_at``). A
per-tensor mapping is then an *outer part* O, the loops above the deepest level-1 copy with
the level-1 copies (a one-buffer per-tensor nest: it alone sets the backing store's traffic and
level 1's occupancy), and an *inner part*, the loops, split and copies below, which runs on O's
innermost tile ``t``. With O fixed, the traffic into level 2 is a one-buffer per-tensor
problem of one instance's slice ``t / s`` (``s``: the split) in level 2's capacity, each
tensor weighted twice: a copy below an inner loop of its own ranks is filled ``W x`` its fills
in the slice times the split's factors (``W``: how many tiles ``t`` the problem has), a copy
with no such loop (its whole slice) as often as O's loops change its tile, ``F_O(T)``. So

    least traffic into level 2 = min over the outer parts O attaining the earlier stages
                                 of min over splits s of the weighted slice problem,

and the slice problem depends on O only through its *signature* ``(t, F_O(T) per tensor)``.
:func:`outer_parts` lists the signatures of the outer parts attaining a given backing-store
traffic in a given capacity (a depth-first search over canonical nests, pruned by that
traffic); :func:`fastnest.least_by_whole` solves the slice problem exactly; :func:`stage`
takes the least and builds the whole mapping, re-costed by ``cost.evaluate_levels``.

Scope (else :func:`applies` names why not and the MILP answers alone): plain ranks (no sliding
windows), each rank at most once per tensor, perfect factors; level 1 one instance keeping
every tensor; level 2 a fanout keeping every tensor; no further fanout below it, and every
deeper level holds one word of each tensor it keeps.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from ..errors import SolverError
from ..model.arch import Arch
from ..model.cost import Copies, Nest, evaluate_levels
from ..model.einsum import Einsum
from ..model.mapspace import divisors
from .fastnest import least_by_whole

NODE_LIMIT = 2_000_000  # outer-part search nodes before giving up (a100 GEMM 4096^3: <= 0.4 M)


@dataclass(frozen=True)
class Outer:
    """An outer part: its loops ``(rank, trips)`` outermost first, each tensor's level-1 copy
    position (how many of the loops lie above it), its innermost tile ``tile`` and each
    tensor's fills at its bottom ``fills`` (``F_O(T)``, moved_at's count over its loops)."""

    loops: tuple[tuple[str, int], ...]
    at: tuple[int, ...]
    tile: tuple[tuple[str, int], ...]
    fills: tuple[int, ...]


def applies(problem: Einsum, arch: Arch) -> str | None:
    """None where :class:`Stage` is exact for ``problem`` on ``arch``, else why not."""
    if any(not a.is_plain for T in problem.tensors for a in T.axes):
        return "a sliding-window axis"
    if any(len(set(T.ranks)) != len(T.ranks) for T in problem.tensors):
        return "a rank indexing two axes of one tensor"
    levels = arch.on_chip
    if len(levels) < 2:
        return "fewer than two on-chip levels"
    fan = arch.fanouts
    if fan[0] != 1 or fan[1] == 1 or any(f != 1 for f in fan[2:]):
        return "the fanout is not exactly at level 2"
    names = {T.name for T in problem.tensors}
    for i, lv in enumerate(levels):
        kept = _kept(problem, lv)
        if i < 2 and kept != names:
            return f"level {lv.name} does not keep every tensor"
        if i >= 2 and (lv.capacity is None or lv.capacity < len(kept)):
            return f"level {lv.name} cannot hold a word of each tensor it keeps"
    if levels[1].capacity is None:
        return "level 2's capacity is swept"
    return None


def _kept(problem: Einsum, level) -> set[str]:
    return {T.name for T in problem.tensors if level.keeps_tensor(problem, T)}


def outer_parts(problem: Einsum, capacity: int, dram: int, node_limit: int = NODE_LIMIT,
                deadline: float | None = None) -> dict[tuple, Outer] | None:
    """The signatures ``(tile, fills)`` of the canonical outer parts moving exactly ``dram``
    words from the backing store with level-1 footprints summing to at most ``capacity``, one
    outer part each; None past ``node_limit`` search nodes or ``deadline``
    (``time.perf_counter()``).

    Canonical (every mapping's outer part can be made one without changing the real nest or
    raising any traffic, docs/hierarchy.md): a segment (the loops between two boundaries
    holding copies) runs each rank at most once (two loops of a rank merged into the outer one
    only move tensors' innermost relevant loops up), and every copy sits right below a loop of
    its own ranks or above every loop (moving a copy up past a loop of ranks it lacks changes
    neither its footprint nor its fills). The search adds loops and places copies outermost
    first and prunes a branch whose least reachable backing-store traffic exceeds ``dram``:
    placed copies' fills are fixed; an unplaced tensor's fills only grow as loops are added,
    and one that cannot be stored here (its tile does not fit what is left of ``capacity``,
    or the last loop is not of its ranks) will sit below a loop of its ranks still to come, so
    every loop so far of other ranks re-fetches it."""
    size = problem.size
    N = {d: n for d, n in problem.sizes if n > 1}
    ts = problem.tensors
    rel = [frozenset(d for d in T.ranks if d in N) for T in ts]
    whole = [problem.tensor_size(T) for T in ts]
    out = ts.index(problem.output)
    weight = [2 if i == out else 1 for i in range(len(ts))]
    z = whole[out]
    found: dict[tuple, Outer] = {}
    nodes = 0

    n = len(ts)

    def foot(i: int, tile: dict) -> int:
        return math.prod(tile[d] for d in rel[i])

    # cur[i]: tensor i's fills if stored here (its words times the loops of other ranks above
    # its innermost loop of its own); every[i]: times every loop of other ranks so far (its
    # fills once a loop of its own follows)
    def visit(loops: list, seg: frozenset, tile: dict, placed: dict, cost: int, occ: int,
              cur: tuple, every: tuple):
        nonlocal nodes
        nodes += 1
        if nodes > node_limit or (deadline is not None and not nodes % 4096
                                  and time.perf_counter() > deadline):
            raise _TooMany
        unplaced = [i for i in range(n) if i not in placed]
        last = loops[-1][0] if loops else None
        here = [i for i in unplaced if (last is None or last in rel[i])
                and foot(i, tile) <= capacity - occ]
        least = cost + sum(weight[i] * (cur[i] if i in here else every[i]) for i in unplaced)
        if least - z > dram or occ + len(unplaced) > capacity:
            return
        for mask in range(1, 1 << len(here)):
            chosen = [here[b] for b in range(len(here)) if mask >> b & 1]
            cost2 = cost + sum(weight[i] * cur[i] for i in chosen)
            occ2 = occ + sum(foot(i, tile) for i in chosen)
            if occ2 > capacity:
                continue
            placed2 = placed | {i: len(loops) for i in chosen}
            if len(placed2) < n:
                visit(loops, frozenset(), tile, placed2, cost2, occ2, cur, every)
            elif cost2 - z == dram:
                sig = (tuple((d, tile.get(d, size[d])) for d in problem.ranks), cur)
                if sig not in found:
                    found[sig] = Outer(tuple(loops), tuple(placed2[i] for i in range(n)),
                                       sig[0], sig[1])
        for d in N:
            if d in seg:
                continue
            for f in divisors(tile[d])[1:]:
                cur2 = tuple(every[i] if d in rel[i] else cur[i] for i in range(n))
                every2 = tuple(every[i] if d in rel[i] else every[i] * f for i in range(n))
                visit(loops + [(d, f)], seg | {d}, tile | {d: tile[d] // f}, placed, cost, occ,
                      cur2, every2)

    try:
        visit([], frozenset(), dict(N), {}, 0, 0, tuple(whole), tuple(whole))
    except _TooMany:
        return None
    return found


class _TooMany(Exception):
    pass


_DECLINED = object()


def undominated(outers) -> list[Outer]:
    """The outer parts no other with the same innermost tile beats on every tensor's fills:
    the slice problem is the same for both, and its value does not decrease as any ``F_O(T)``
    grows (a whole copy's cost is proportional to it, a tiled copy's does not read it)."""
    by: dict[tuple, list[Outer]] = {}
    for o in outers:
        by.setdefault(o.tile, []).append(o)
    kept = []
    for group in by.values():
        for o in group:
            if not any(q is not o and all(a <= b for a, b in zip(q.fills, o.fills))
                       and (q.fills != o.fills or id(q) < id(o)) for q in group):
                kept.append(o)
    return kept


@dataclass(frozen=True)
class _Split:
    """A split of an innermost tile and its costing: per tensor the weight of its whole cost
    (``per``) and of its extra traffic into level 3 when mirrored (``extra``), the slice, the
    slice problem's weights (``move``, ``tie``, divided by ``g``, ``h``), the output's constant
    in level 3's extra (``shared_z``), each tensor's cost filled once (``once``) and the sets
    of whole tensors that fit (bit masks)."""

    split: tuple
    per: object
    extra: object
    sizes: tuple
    move: tuple
    tie: tuple
    g: int
    h: int
    shared_z: int
    once: tuple
    fits: tuple


@dataclass(frozen=True)
class Inner:
    """A mapping of least traffic into level 2 (``value``): its outer part, the split and the
    slice's one-buffer nest (per instance). ``mirrored``: what level 3 receives beyond
    ``value`` when its copies mirror level 2's (:meth:`Stage.least`)."""

    value: int
    mirrored: int
    outer: Outer
    split: tuple[tuple[str, int], ...]
    nest: Nest


class Stage:
    """The first inner stage of one problem on one arch (:func:`applies` must hold), the slice
    problems cached across outer parts and capacities."""

    def __init__(self, problem: Einsum, arch: Arch):
        why = applies(problem, arch)
        if why is not None:
            raise ValueError(f"decomposition does not apply: {why}")
        self.problem, self.arch = problem, arch
        self.capacity = arch.on_chip[1].capacity
        self.multicast = arch.multicast[1]
        self._rel = [frozenset(T.ranks) for T in problem.tensors]
        self._z = problem.tensors.index(problem.output)
        self._zsize = problem.tensor_size(problem.output)
        self._slices: dict = {}
        self._splits_of: dict = {}

    def least(self, capacity: int, dram: int, floor: float = -math.inf,
              deadline: float | None = None) -> Inner | None:
        """The lexicographically least (traffic into level 2, :attr:`Inner.mirrored`) over the
        per-tensor mappings moving ``dram`` words from the backing store (its least) with level
        1 holding at most ``capacity`` words, with a mapping attaining it; None where an
        enumeration declines, ``deadline`` (``time.perf_counter()``) passes or no mapping
        exists. ``floor``: a known lower bound on the traffic (the search stops at a mapping
        attaining it with nothing ``mirrored``).

        ``mirrored`` is what the next stage needs (:attr:`next_exact`): level 3's copies at
        level 2's boundaries receive, per tensor, its level-2 fills times the split's factors
        over ranks it lacks (``cost.replicas``: level 2's copy is their source), the output's
        partial sums written back by every one of them; that exceeds level 2's traffic by a
        sum over the tensors of a non-negative weight times their fills (less a constant for
        the output), so it is a second linear objective over the same mappings."""
        outers = outer_parts(self.problem, capacity, dram, deadline=deadline)
        if outers is None:
            return None
        groups: dict[tuple, list[Outer]] = {}
        for o in undominated(outers.values()):
            groups.setdefault(o.tile, []).append(o)
        best: Inner | None = None
        # tiles whose outer parts move least first: a low incumbent early
        for tile, group in sorted(groups.items(), key=lambda g: min(sum(o.fills) for o in g[1])):
            if deadline is not None and time.perf_counter() > deadline:
                return None
            found = self._group(tile, group, best)
            if found is _DECLINED:
                return None
            if found is not None and (best is None or (found.value, found.mirrored)
                                      < (best.value, best.mirrored)):
                best = found
            if best is not None and best.value <= floor and not best.mirrored:
                break
        return best

    def _group(self, tile: tuple, group: list[Outer], best: Inner | None):
        """The lexicographically least mapping whose outer part is one of ``group`` (all with
        innermost tile ``tile``), if it is at most ``best``'s traffic; None if none is,
        _DECLINED where a slice enumeration declines. Every split is tried: a lower bound
        (:meth:`_below`) skips a split for the outer parts it cannot serve below ``best``."""
        zsize = self._zsize
        F = np.array([o.fills for o in group], dtype=object)  # Python ints: exact
        cap = math.inf if best is None else best.value
        top = None if best is None else (best.value, best.mirrored)
        out = None
        for sp in self._split_data(tile):
            whole_cost = F * sp.per
            keep = np.flatnonzero(self._below(sp, whole_cost) - zsize <= cap)
            if not len(keep):
                continue
            table = self._slice(sp.sizes, sp.move, sp.tie)
            if table is None:
                return _DECLINED  # no exact answer
            whole_extra = F * sp.extra
            for flags, (value, second, nest) in table.items():
                mask = np.array(flags, dtype=bool)
                total = sp.g * value + whole_cost[keep][:, mask].sum(axis=1) - zsize
                more = sp.h * second + whole_extra[keep][:, mask].sum(axis=1) - sp.shared_z
                for j in range(len(keep)):
                    key = (int(total[j]), int(more[j]))
                    if key[0] <= cap and (top is None or key < top):
                        top = key
                        out = Inner(key[0], key[1], group[keep[j]], sp.split, nest)
                        cap = key[0]
        return out

    def _split_data(self, tile: tuple) -> list[_Split]:
        """Every split of an outer part's innermost tile with what costing it needs (cached:
        outer parts and capacities share tiles)."""
        if tile in self._splits_of:
            return self._splits_of[tile]
        p = self.problem
        ranks, rel, n, z = p.ranks, self._rel, len(self._rel), self._z
        t = dict(tile)
        W = math.prod(p.size[d] // t[d] for d in ranks)
        out = []
        for split in self.arch.split_options(p, 2, extent=t):
            s = {d: split.get(d, 1) for d in ranks}
            r = [math.prod(s[d] for d in ranks if d not in rel[i]) for i in range(n)]
            u = [1 if self.multicast else x for x in r]
            # the output's partial sums: written by every writer, read back once (cost.py)
            per = [u[i] + (1 if i == z else 0) for i in range(n)]
            # level 3 mirroring level 2: r times the fills (the output: 2r, less r |Z|)
            extra = [(2 * r[i] if i == z else r[i]) - per[i] for i in range(n)]
            tiles = [W * math.prod(s[d] for d in rel[i]) for i in range(n)]  # global per fill
            a = [per[i] * tiles[i] for i in range(n)]
            b = [extra[i] * tiles[i] for i in range(n)]
            g, h = math.gcd(*a), math.gcd(*b) or 1
            sizes = tuple((d, t[d] // s[d]) for d in ranks)
            words = [math.prod(t[d] // s[d] for d in rel[i]) for i in range(n)]
            fits = [m for m in range(1 << n) if sum(words[i] for i in range(n) if m >> i & 1)
                    + sum(1 for i in range(n) if not m >> i & 1) <= self.capacity]
            out.append(_Split(tuple(sorted(split.items())), np.array(per, dtype=object),
                              np.array(extra, dtype=object), sizes,
                              tuple(x // g for x in a), tuple(x // h for x in b), g, h,
                              (r[z] - 1) * self._zsize,
                              tuple(a[i] * words[i] for i in range(n)), tuple(fits)))
        self._splits_of[tile] = out
        return out

    def _below(self, sp: _Split, whole_cost) -> np.ndarray:
        """Per outer part (rows of ``whole_cost``), a lower bound on the slice problem's cost
        before the output's constant: over the sets of tensors whose whole slices fit the
        capacity together (one word for each other), each whole one at its whole cost and
        every other filled at least once (its slice's words times its weight)."""
        n = whole_cost.shape[1]
        best = None
        for mask in sp.fits:
            value = sum(whole_cost[:, i] if mask >> i & 1 else sp.once[i] for i in range(n))
            best = value if best is None else np.minimum(best, value)
        return np.full(len(whole_cost), math.inf, dtype=object) if best is None else best

    def _slice(self, sizes: tuple, move: tuple, tie: tuple):
        key = (sizes, move, tie)
        if key not in self._slices:
            sub = self.problem.with_sizes(**dict(sizes))
            self._slices[key] = least_by_whole(sub, self.capacity, move, tie)
        return self._slices[key]

    @property
    def next_exact(self) -> bool:
        """Whether the next stage (traffic into level 3) is exactly level 2's least plus the
        least :attr:`Inner.mirrored`: level 3 keeps every tensor, has no fanout of its own and
        at least level 2's capacity. Proof (docs/hierarchy.md): with level 2's copies fixed, a
        tensor's level-3 copy sits at or below its level-2 copy, so its fills are at least
        level 2's (they only grow inwards) and its traffic, increasing in them, at least the
        mirrored copy's; the mirror fits (one instance's tiles, as level 2's, in at least
        level 2's capacity)."""
        levels = self.arch.on_chip
        names = {T.name for T in self.problem.tensors}
        return (len(levels) >= 3 and _kept(self.problem, levels[2]) == names
                and levels[2].capacity is not None and levels[2].capacity >= self.capacity)

    def mapping(self, inner: Inner, mirror: bool = False) -> tuple[Nest, Copies]:
        """The whole per-tensor nest of an :class:`Inner`: the outer part's boundaries (one per
        distinct copy position), a boundary holding its innermost tile with the split right
        above it, the slice nest's boundaries as global tiles (times the split), and a last
        boundary of one word per instance holding every deeper level's copies (``mirror``:
        level 3's at level 2's boundaries)."""
        p, o = self.problem, inner.outer
        ranks = p.ranks
        s = {d: 1 for d in ranks} | dict(inner.split)
        names = tuple(lv.name for lv in self.arch.on_chip)
        levels, orders, storage, where = [], [], [], []
        tile, seg, done = dict(p.size), [], 0
        positions = sorted(set(o.at))
        for pos in positions:  # the outer part, a boundary per copy position
            for d, f in o.loops[done:pos]:
                tile[d] //= f
                seg.append(d)
            done = pos
            levels.append(tuple(tile.items()))
            orders.append(tuple(seg))
            seg = []
            for i, T in enumerate(p.tensors):
                if o.at[i] == pos:
                    storage.append((T.name, len(levels)))
                    where.append(1)
        for d, f in o.loops[done:]:  # (none: the deepest copy ends the outer part)
            tile[d] //= f
            seg.append(d)
        fan = len(levels) + 1  # the boundary right below level 2's fanout: tile t
        levels.append(tuple(tile.items()))
        orders.append(tuple(seg))
        spatial = [()] * (len(levels) - 1) + [tuple((d, v) for d, v in inner.split)]
        sub = inner.nest  # one instance's slice: its boundary b is global boundary fan + b
        for b, lv in enumerate(sub.levels):
            levels.append(tuple((d, v * s[d]) for d, v in lv))
            orders.append(tuple(sub.orders[b]))
            spatial.append(())
        for name, b in sub.storage:
            storage.append((name, fan + b))
            where.append(2)
            if mirror:
                storage.append((name, fan + b))
                where.append(3)
        last = len(levels) + 1  # one word per instance: every deeper level's copies
        levels.append(tuple((d, s[d]) for d in ranks))
        orders.append(tuple(ranks))
        spatial.append(())
        for lv in range(4 if mirror else 3, len(names) + 1):
            for T in sorted(_kept(p, self.arch.on_chip[lv - 1])):
                storage.append((T, last))
                where.append(lv)
        fanout_at = tuple(fan if lv == 2 else 0 for lv in range(1, len(names) + 1))
        nest = Nest(tuple(levels), tuple(orders), tuple(storage), tuple(spatial))
        return nest, Copies(tuple(where), names, fanout_at)

    def verified(self, inner: Inner, mirror: bool = False):
        """The mapping of ``inner`` (``mirror``: level 3 mirroring level 2) re-costed in
        integers; a cost other than the computed one is a bug in this module and raises."""
        nest, copies = self.mapping(inner, mirror)
        cost = evaluate_levels(self.problem, nest, copies, multicast=self.arch.multicast)
        want = [inner.value] + ([inner.value + inner.mirrored] if mirror else [])
        if list(cost.accesses[1:1 + len(want)]) != want:
            raise SolverError(f"the decomposed stage's mapping {nest.describe(self.problem, copies)}"
                              f" moves {cost.accesses[1:1 + len(want)]} words into levels 2.., "
                              f"not the {want} computed")
        return nest, copies, cost
