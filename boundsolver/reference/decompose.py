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

Scope (else :func:`applies` names why not and the MILP answers alone): plain ranks or sliding
windows, strided and dilated too (never split: their fills by ``moved_at``'s rule in closed
form, footprints by ``Tensor.footprint``, a re-fetch moving at least the elements a window
touches, ``lower.touched_in``; docs/hierarchy.md, "Sliding windows", "Strided windows" and
"The outer search with windows"), each rank at most once per tensor,
perfect factors; level 1 one instance keeping
every tensor; level 2 a fanout keeping every tensor; no further fanout below it, and every
deeper level holds one word of each tensor it keeps.

:class:`Bypass` covers archs where one tensor B bypasses level 1 (``simba``'s weights) and the
levels of level 2's instances each keep one tensor (docs/hierarchy.md, "Bypass at level 1"):
every copy below the split is either *whole* (filled as a copy at the outer part's bottom, its
slice fitting its level) or *tiled* (every outer loop of the ranks it lacks re-fetches it), so
the backing store's and level 1's least traffic are exact (B at its least under each outer
part, a mapping built to attain it), and the group's levels and the level below them get
floors, met by built mappings where the stages end without a solve. Sliding windows, strided
and dilated too, may sit in level 1's tensors: a conv's input, on ``simba`` (docs/hierarchy.md,
"Strided windows in the bypass").
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from ..errors import SolverError
from ..model.arch import Arch
from ..model.cost import Copies, Nest, evaluate_levels, moved_at
from ..model.einsum import Einsum
from ..model.lower import distinct_sums, touched_in
from ..model.mapspace import divisors
from .fastnest import least_by_whole

NODE_LIMIT = 2_000_000  # outer-part search nodes before giving up (a100 GEMM 4096^3: <= 0.4 M)
BUDGET_SHARE = 0.5  # of the time left to a deadline, what Stage.least may spend before declining


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
                deadline: float | None = None, take=None) -> dict[tuple, Outer] | None:
    """The signatures ``(tile, fills)`` of the canonical outer parts moving exactly ``dram``
    words from the backing store with level-1 footprints summing to at most ``capacity``, one
    outer part each, at least every one no other with the same tile beats on every tensor's
    fills (a search state another with no more cost, occupancy and running fills dominates is
    dropped: docs/hierarchy.md, "The outer search with windows"); None past ``node_limit``
    search nodes or ``deadline`` (``time.perf_counter()``).

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
    every loop so far of other ranks re-fetches it, each time at least the elements it touches
    (``lower.touched_in``: its size, less a strided window's holes).

    ``take`` (branch and bound, :meth:`Stage.least`): called with each new outer part, returns
    an upper bound on the traffic into level 2 worth reaching; a branch is pruned where
    ``sum of weight x (least fills at the outer part's bottom) - |Z|`` exceeds it (each level-2
    copy sits at or below the bottom, where fills only grow inwards, and moves at least its
    fills, the output twice less its size: ``cost.copy_words``)."""
    size = problem.size
    N = {d: n for d, n in problem.sizes if n > 1}
    ts = problem.tensors
    n = len(ts)
    rel = [frozenset(d for d in T.ranks if d in N) for T in ts]
    whole = [problem.tensor_size(T) for T in ts]
    windowed = [i for i, T in enumerate(ts) if not all(a.is_plain for a in T.axes)]
    # the words a copy moves at least per re-fetch: a plain tensor its size; a windowed one the
    # elements its windows touch (a strided window's tiles skip its holes: docs/hierarchy.md)
    base = [touched_in(T, size) if i in windowed else whole[i] for i, T in enumerate(ts)]
    out = ts.index(problem.output)
    weight = [2 if i == out else 1 for i in range(n)]
    z = whole[out]
    axes = [_axes(T) for T in ts]
    every_rank = tuple(N)
    relevant = {d: tuple(d in rel[i] for i in range(n)) for d in N}
    steps = {d: {t: divisors(t)[1:] for t in divisors(N[d])} for d in N}
    found: dict[tuple, Outer] = {}
    seen: dict = {}  # state -> the (cost, occupancy, cur, every) vectors met there
    upper = [math.inf]
    feet: dict = {}
    nodes = 0

    def foot(i: int, tile: dict) -> int:
        key = (i, tuple(tile.values()))
        if key not in feet:
            feet[key] = _footprint(axes[i], tile)
        return feet[key]

    def fills(i: int, tile: dict, cur: tuple, inner: tuple) -> int:
        """Tensor i's fills at a copy right below the loops so far (``cost.moved_at``)."""
        if i not in windowed:
            return cur[i]
        return _window_fills_at(axes[i], size, tile, cur[i] // base[i], inner[i])

    # cur[i]: base[i] times the loops of other ranks above its innermost loop of its own (its
    # fills if stored here, a plain tensor); every[i]: times every loop of other ranks so far
    # (a lower bound on its fills once a loop of its own follows, windows included:
    # docs/hierarchy.md, "The outer search with windows" (iii)); inner[i]: that innermost loop (rank, trips, trips
    # of its rank above it), None before one
    def visit(loops: list, seg: frozenset, tile: dict, placed: dict, cost: int, occ: int,
              cur: tuple, every: tuple, inner: tuple):
        nonlocal nodes
        last = relevant[loops[-1][0]] if loops else (True,) * n
        unplaced = [i for i in range(n) if i not in placed]
        # dominance: the same state with no more cost, occupancy or fills has every
        # completion this one has, at no more traffic and fills (undominated drops the rest)
        key = (seg, tuple(tile.values()), tuple(placed), tuple(inner[i] for i in windowed),
               tuple(last[i] for i in unplaced))
        vec = (cost, occ) + cur + every
        kept = seen.get(key)
        if kept is None:
            seen[key] = [vec]
        elif any(all(a <= b for a, b in zip(v, vec)) for v in kept):
            return
        else:
            kept.append(vec)
        nodes += 1
        if nodes > node_limit or (deadline is not None and nodes % 1024 == 1
                                  and time.perf_counter() > deadline):
            raise _TooMany
        here = {}
        for i in unplaced:
            if last[i] and foot(i, tile) <= capacity - occ:
                here[i] = fills(i, tile, cur, inner)
        least = cost + sum(weight[i] * (min(here[i], every[i]) if i in here else every[i])
                           for i in unplaced)
        if least - z > dram or occ + len(unplaced) > capacity:
            return
        if take is not None and upper[0] < math.inf and sum(
                weight[i] * min(here[i] if i in here else fills(i, tile, cur, inner), every[i])
                for i in range(n)) - z > upper[0]:
            return
        order = list(here)
        for mask in range(1, 1 << len(order)):
            chosen = [order[b] for b in range(len(order)) if mask >> b & 1]
            cost2 = cost + sum(weight[i] * here[i] for i in chosen)
            occ2 = occ + sum(foot(i, tile) for i in chosen)
            if occ2 > capacity:
                continue
            placed2 = placed | {i: len(loops) for i in chosen}
            if len(placed2) < n:
                visit(loops, frozenset(), tile, dict(sorted(placed2.items())), cost2, occ2,
                      cur, every, inner)
            elif cost2 - z == dram:
                bottom = tuple(fills(i, tile, cur, inner) for i in range(n))
                sig = (tuple((d, tile.get(d, size[d])) for d in problem.ranks), bottom)
                if sig not in found:
                    found[sig] = Outer(tuple(loops), tuple(placed2[i] for i in range(n)),
                                       sig[0], sig[1])
                    if take is not None:
                        upper[0] = take(found[sig])
        for d in every_rank:
            if d in seg:
                continue
            r = relevant[d]
            cur2 = tuple(e if m else c for e, c, m in zip(every, cur, r))
            seg2 = seg | {d}
            # the child's least traffic before it is visited: an unplaced tensor lacking d is
            # re-fetched by it (every x f), one with d moves at least its size (a plain one
            # its every); growing in f, so the first f past ``dram`` ends the loop
            fixed = cost - z + sum(weight[i] * (every[i] if i not in windowed else base[i])
                                   for i in unplaced if r[i])
            spread = sum(weight[i] * every[i] for i in unplaced if not r[i])
            for f in steps[d][tile[d]]:
                if fixed + spread * f > dram:
                    break
                every2 = tuple(e if m else e * f for e, m in zip(every, r))
                j = (d, f, size[d] // tile[d])
                inner2 = tuple(j if m else k for k, m in zip(inner, r))
                visit(loops + [(d, f)], seg2, tile | {d: tile[d] // f}, placed, cost, occ,
                      cur2, every2, inner2)

    try:
        visit([], frozenset(), dict(N), {}, 0, 0, tuple(base), tuple(base), (None,) * n)
    except _TooMany:
        return None
    return found


def _axes(tensor) -> tuple:
    """A tensor's axes for :func:`_window_fills_at`: ``(rank, None)`` plain, ``(None,
    ((rank, coef), ...))`` a sliding window (strides and dilations as coefficients)."""
    return tuple((a.terms[0].rank, None) if a.is_plain
                 else (None, tuple((t.rank, t.coef) for t in a.terms)) for a in tensor.axes)


def _footprint(axes: tuple, tile: dict) -> int:
    """``Tensor.footprint`` from :func:`_axes` (a rank absent from ``tile``: extent 1; a
    window's extent is its bounding box, holes included, as the cost model holds it)."""
    return math.prod(tile.get(r, 1) if r is not None
                     else sum(c * (tile.get(d, 1) - 1) for d, c in w) + 1 for r, w in axes)


def _window_fills_at(axes: tuple, size: dict, tile: dict, count: int, inner) -> int:
    """``cost.moved_at``'s fills of a tensor (``axes``: :func:`_axes`) at a copy right below an
    outer part's loops so far, each rank looped at most once per segment: ``count`` re-fetches
    by the loops of other ranks above its innermost loop of its own ``inner = (rank j, trips
    f_j, trips of j's rank above it)`` (None: no such loop, the whole tensor once, its
    bounding box), ``tile`` the tiles there. Per axis as moved_at: a plain one its whole
    extent; a window (coefficients c: stride, dilation) its tiles' count times ``ext = sum
    c (u - 1) + 1`` over its ranks' tiles u, or, where j is one of its ranks, the tiles of its
    other ranks times ``outer * (ext + (f_j - 1) min(c_j u_j, ext))`` (a step of j moves the
    window by ``c_j u_j``: consecutive tiles overlap only where that is less than ``ext``;
    ``outer``: j's rank's trips above j's segment, which with one loop of a rank per segment
    are its trips above j)."""
    if inner is None:
        return _footprint(axes, size)
    j, fj, outer = inner
    for r, w in axes:
        if r is not None:
            count *= size[r]
            continue
        u = {d: tile.get(d, 1) for d, _ in w}
        ext = sum(c * (u[d] - 1) for d, c in w) + 1
        tiles = math.prod(size[d] // u[d] for d, _ in w if d != j)
        cj = next((c for d, c in w if d == j), None)
        count *= tiles * (ext if cj is None else outer * (ext + (fj - 1) * min(cj * u[j], ext)))
    return count


def _outer_boundaries(problem: Einsum, o: Outer) -> tuple[list, list, list, list, dict, int]:
    """An outer part's boundaries as nest pieces, one per distinct level-1 copy position
    (a bypassing tensor's ``-1`` holds none): each boundary's tile and the segment's loop
    order above it, the level-1 copies ``(tensor, boundary)`` with their levels, the tile at
    the deepest copy, and how many of ``o.loops`` lie above it (Stage and Bypass both build
    their whole nests from this)."""
    levels, orders, storage, where = [], [], [], []
    tile, seg, done = dict(problem.size), [], 0
    for pos in sorted({a for a in o.at if a >= 0}):
        for d, f in o.loops[done:pos]:
            tile[d] //= f
            seg.append(d)
        done = pos
        levels.append(tuple(tile.items()))
        orders.append(tuple(seg))
        seg = []
        for i, T in enumerate(problem.tensors):
            if o.at[i] == pos:
                storage.append((T.name, len(levels)))
                where.append(1)
    return levels, orders, storage, where, tile, done


class _TooMany(Exception):
    pass


class _Declined(Exception):
    """A slice enumeration declined (no exact answer)."""


class _Enough(Exception):
    """The incumbent attains the known floor."""


def _window_fills(problem: Einsum, loops: list, placed: dict, which: list) -> dict:
    """The fills of the windowed tensors ``which`` at a copy right below ``loops`` (the outer
    part so far, its boundaries at the placed copies): ``cost.moved_at`` on that partial nest
    (a window's fills depend on its segments' tiles, not only on trips)."""
    tile, levels, orders, done = dict(problem.size), [], [], 0
    for pos in sorted(set(placed.values())) + [len(loops)]:
        seg = []
        for d, f in loops[done:pos]:
            tile[d] //= f
            seg.append(d)
        done = pos
        if pos == len(loops) and levels and not seg and pos in placed.values():
            continue  # (the bottom is a placed copy's boundary)
        levels.append(tuple(tile.items()))
        orders.append(tuple(seg))
    nest = Nest(tuple(levels), tuple(orders), ())
    return {i: moved_at(problem, problem.tensors[i], nest, len(levels)) for i in which}


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
        self.node_limit = NODE_LIMIT

    def least(self, capacity: int, dram: int, floor: float = -math.inf,
              deadline: float | None = None) -> Inner | None:
        """The lexicographically least (traffic into level 2, :attr:`Inner.mirrored`) over the
        per-tensor mappings moving ``dram`` words from the backing store (its least) with level
        1 holding at most ``capacity`` words, with a mapping attaining it; None where an
        enumeration declines, ``deadline`` (``time.perf_counter()``) passes or no mapping
        exists. ``floor``: a known lower bound on the traffic (the search stops at a mapping
        attaining it with nothing ``mirrored``). Of the time left to ``deadline`` it spends at
        most :data:`BUDGET_SHARE` (the caller's MILP answers alone with the rest), of search
        nodes at most :attr:`node_limit`.

        Branch and bound: each outer part the search finds is costed at once (its slice
        problems, :meth:`_group`), and the incumbent's traffic prunes the search
        (:func:`outer_parts`' ``take``); an outer part is dropped only where no completion can
        move less into level 2 (ties kept for ``mirrored``).

        ``mirrored`` is what the next stage needs (:attr:`next_exact`): level 3's copies at
        level 2's boundaries receive, per tensor, its level-2 fills times the split's factors
        over ranks it lacks (``cost.replicas``: level 2's copy is their source), the output's
        partial sums written back by every one of them; that exceeds level 2's traffic by a
        sum over the tensors of a non-negative weight times their fills (less a constant for
        the output), so it is a second linear objective over the same mappings."""
        if deadline is not None:  # the work budget: the MILP keeps the rest of the time
            now = time.perf_counter()
            deadline = now + BUDGET_SHARE * max(0.0, deadline - now)
        best: Inner | None = None

        def take(o: Outer) -> float:
            # branch and bound: each outer part as the search finds it; the incumbent's
            # traffic prunes the rest (outer_parts' ``take``)
            nonlocal best
            found = self._group(o.tile, [o], best)
            if found is _DECLINED:
                raise _Declined
            if found is not None and (best is None or (found.value, found.mirrored)
                                      < (best.value, best.mirrored)):
                best = found
            if best is not None and best.value <= floor and not best.mirrored:
                raise _Enough
            return math.inf if best is None else best.value

        try:
            if outer_parts(self.problem, capacity, dram, self.node_limit,
                           deadline, take) is None:
                return None
        except _Declined:
            return None
        except _Enough:
            pass
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
            words = [p.tensors[i].footprint(dict(sizes)) for i in range(n)]
            # a tiled copy moves at least the slice's touched elements (a strided window's
            # tiles skip its holes), a whole one takes its footprint
            least = [touched_in(p.tensors[i], dict(sizes)) for i in range(n)]
            fits = [m for m in range(1 << n) if sum(words[i] for i in range(n) if m >> i & 1)
                    + sum(1 for i in range(n) if not m >> i & 1) <= self.capacity]
            out.append(_Split(tuple(sorted(split.items())), np.array(per, dtype=object),
                              np.array(extra, dtype=object), sizes,
                              tuple(x // g for x in a), tuple(x // h for x in b), g, h,
                              (r[z] - 1) * self._zsize,
                              tuple(a[i] * least[i] for i in range(n)), tuple(fits)))
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
        levels, orders, storage, where, tile, done = _outer_boundaries(p, o)
        seg = []
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


# ------------------------------------------------------------------ bypass at level 1 (simba)

def bypass_applies(problem: Einsum, arch: Arch) -> str | None:
    """None where :class:`Bypass` is exact for ``problem`` on ``arch``, else why not
    (docs/hierarchy.md, "Bypass at level 1"): plain ranks, each once per tensor; level 1 one
    instance keeping every tensor but exactly one (the *bypassing* tensor B); level 2 a fanout
    whose parent multicasts, and with it the levels of the same instances below it (the
    *group*) each keeping at most one tensor at a fixed capacity, every tensor kept by exactly
    one of them; every deeper level holding a word of each tensor it keeps. Sliding windows
    only in tensors level 1 keeps (a conv's input), none in B or in what the level below the
    group keeps (strided and dilated ones too: docs/hierarchy.md, "Strided windows")."""
    if any(len(set(T.ranks)) != len(T.ranks) for T in problem.tensors):
        return "a rank indexing two axes of one tensor"
    levels, fan = arch.on_chip, arch.fanouts
    if len(levels) < 2:
        return "fewer than two on-chip levels"
    if fan[0] != 1 or fan[1] == 1:
        return "the first fanout is not exactly at level 2"
    if not arch.multicast[1]:
        return "level 1 does not multicast to level 2"
    names = {T.name for T in problem.tensors}
    if len(names - _kept(problem, levels[0])) != 1:
        return "not exactly one tensor bypasses level 1"
    group = _group(arch)
    plain = set(names - _kept(problem, levels[0]))
    if group[-1] < len(levels):
        plain |= _kept(problem, levels[group[-1]])
    if any(not a.is_plain for T in problem.tensors if T.name in plain for a in T.axes):
        return "a sliding-window axis in the bypassing tensor or the level below the group"
    held: dict[str, int] = {}
    for lv in group:
        kept = _kept(problem, levels[lv - 1])
        if len(kept) > 1:
            return f"level {levels[lv - 1].name} keeps more than one tensor"
        if kept and levels[lv - 1].capacity is None:
            return f"level {levels[lv - 1].name}'s capacity is swept"
        for T in kept:
            held[T] = held.get(T, 0) + 1
    if any(held.get(T, 0) != 1 for T in names):
        return "a tensor is not kept by exactly one level of the fanout group"
    for lv in levels[group[-1]:]:
        if lv.capacity is None or lv.capacity < len(_kept(problem, lv)):
            return f"level {lv.name} cannot hold a word of each tensor it keeps"
    return None


def _group(arch: Arch) -> list[int]:
    """Level 2 and the levels right below it with no fanout of their own (1-based)."""
    fan, out = arch.fanouts, [2]
    while out[-1] < len(fan) and fan[out[-1]] == 1:
        out.append(out[-1] + 1)
    return out


@dataclass(frozen=True)
class Candidate:
    """An outer part attaining the least (DRAM, level 1) traffic with a split of its
    innermost tile: per group level (in order) the least its tensor can move into it under
    them (``floors``, :meth:`Bypass.least`) and which tensors' slices fit whole (``whole``)."""

    outer: Outer
    split: tuple[tuple[str, int], ...]
    floors: tuple[int, ...]
    whole: tuple[bool, ...]
    deep: float = -math.inf  # the floor of the level below the group (Bypass.deep), if any
    lanes: tuple[tuple[str, int], ...] | None = None  # its split holding its slice whole


@dataclass(frozen=True)
class Solved:
    """The least DRAM traffic ``dram`` and then traffic into level 1 ``first`` with level 1
    holding at most the capacity asked, and every outer part and split attaining both."""

    dram: int
    first: int
    candidates: tuple[Candidate, ...]


class Bypass:
    """The stages of the backing store, level 1 and the group's levels on an arch where one
    tensor B bypasses level 1 (:func:`bypass_applies` must hold; docs/hierarchy.md, "Bypass
    at level 1"): exact values of the first two, floors of the group's, and mappings built
    from the candidates, re-costed by ``cost.evaluate_levels``."""

    def __init__(self, problem: Einsum, arch: Arch):
        why = bypass_applies(problem, arch)
        if why is not None:
            raise ValueError(f"the bypass decomposition does not apply: {why}")
        self.problem, self.arch = problem, arch
        ts = problem.tensors
        first = _kept(problem, arch.on_chip[0])
        self.b = next(i for i, T in enumerate(ts) if T.name not in first)
        self.group = _group(arch)
        # per group level with a tensor: (level, tensor index, capacity)
        self.slots = []
        for lv in self.group:
            level = arch.on_chip[lv - 1]
            for i, T in enumerate(ts):
                if level.keeps_tensor(problem, T):
                    self.slots.append((lv, i, level.capacity))
        self._rel = [frozenset(T.ranks) for T in ts]
        self._z = ts.index(problem.output)
        self._solved: dict = {}
        self._windowed = [not all(a.is_plain for a in T.axes) for T in ts]
        # windows with a stride or dilation: tiling one can move fewer words than its
        # bounding box (holes), so their fills need not grow inwards (docs/hierarchy.md,
        # "Strided windows" (d)); their bounds count the elements they touch instead
        self._strided = [any(t.coef != 1 for a in T.axes for t in a.terms) for T in ts]
        self._windowed_ranks = {t.rank for T in ts for a in T.axes if not a.is_plain
                                for t in a.terms}
        # the level right below the group, where it keeps one tensor (simba's registers)
        self.deep = None
        below = self.group[-1] + 1
        if below <= len(arch.on_chip):
            kept = [i for i, T in enumerate(ts)
                    if arch.on_chip[below - 1].keeps_tensor(problem, T)]
            if len(kept) == 1:
                self.deep = (below, kept[0], arch.on_chip[below - 1].capacity)

    def _words(self, i: int, tile: dict, split: dict | None = None) -> int:
        """Tensor ``i``'s footprint in one instance's tile (``tile`` over ``split``)."""
        split = split or {}
        return self.problem.tensors[i].footprint(
            {d: tile[d] // split.get(d, 1) for d in self.problem.ranks})

    def _weight(self, i: int) -> int:
        return 2 if i == self._z else 1

    def _tiled(self, i: int, tile: dict, fills: int) -> int:
        """A lower bound on the fills of tensor ``i``'s copy below an inner loop j of its
        ranks, with ``tile`` the outer part's innermost tile (``fills``: its fills at the
        outer part's bottom, which fills only exceed inwards, but for a strided window). Every
        loop of the outer part is above j, so every one of another rank re-fetches it; a plain
        axis moves its whole extent; a sliding one moves, per tile of its ranks at the outer
        part's bottom (``u``), at least the elements its window touches there (the inner
        tiles' bounding boxes, which ``moved_at`` counts, cover them; ``lower.touched_in``'s
        count, ``(sum of c (u - 1)) + 1`` with unit coefficients), times their count. A
        strided window's fills at the bottom are no bound (tiling it can skip its holes:
        docs/hierarchy.md, "Strided windows" (d))."""
        p = self.problem
        size = p.size
        words = 1
        for a in p.tensors[i].axes:
            if a.is_plain:
                words *= size[a.terms[0].rank]
            else:
                terms = tuple((t.rank, t.coef) for t in a.terms)
                words *= distinct_sums(terms, tile) * math.prod(
                    size[t.rank] // tile[t.rank] for t in a.terms)
        words *= math.prod(size[d] // tile[d] for d in p.ranks if d not in self._rel[i])
        return words if self._strided[i] else max(fills, words)

    def _cost(self, i: int, fills: int) -> int:
        return self._weight(i) * fills - (self.problem.tensor_size(self.problem.output)
                                          if i == self._z else 0)

    def _splits(self, tile: dict) -> list[tuple[dict, tuple[bool, ...]]]:
        """Every split level 2 allows of ``tile`` with, per slot, whether its tensor's slice
        fits its level whole (cached: outer parts share tiles)."""
        key = tuple(tile[d] for d in self.problem.ranks)
        cache = self.__dict__.setdefault("_split_cache", {})
        if key not in cache:
            out = []
            for split in self.arch.split_options(self.problem, 2, extent=tile):
                words = [self._words(i, tile, split) for _, i, _ in self.slots]
                out.append((split, tuple(w <= c for w, (_, _, c) in zip(words, self.slots))))
            cache[key] = out
        return cache[key]

    def _bypass_cost(self, tile: dict, fills: tuple) -> int:
        """B's least cost under an outer part (innermost tile ``tile``, fills at its bottom
        ``fills``): whole (its fills at the bottom) where some split makes its slice fit, else
        tiled (every loop of other ranks re-fetches it)."""
        b = self.b
        slot = next(k for k, (_, i, _) in enumerate(self.slots) if i == b)
        if any(fit[slot] for _, fit in self._splits(tile)):
            return self._cost(b, fills[b])
        return self._cost(b, self._tiled(b, tile, fills[b]))

    def _deep(self, o: Outer, tile: dict, split: dict) -> tuple:
        """The floor of the level below the group (keeping one tensor R, filled from R's group
        copy) under an outer part and a split, and a split of that level holding R's slice
        whole (None: none does, or it is no cheaper). Its copy is filled ``above`` times over
        (level 2's split of ranks R lacks: ``cost.replicas``, the source's replicas; a
        non-multicast parent only adds) and, as a group copy: whole (no inner loop of R's
        ranks above it) its fills are R's at the outer part's bottom and its slice, split
        across this level's instances, must fit; else every loop of other ranks of the outer
        part re-fetches it."""
        if self.deep is None:
            return -math.inf, None
        lv, i, cap = self.deep
        above = math.prod(v for d, v in split.items() if d not in self._rel[i])
        tiled = self._tiled(i, tile, o.fills[i])
        if o.fills[i] < tiled:
            sigma = {d: tile[d] // split.get(d, 1) for d in self.problem.ranks}
            mine = [d for d in self.arch.splits(self.problem, lv) if d in self._rel[i]]
            for lanes in self.arch.split_options(self.problem, lv, extent=sigma, ranks=mine):
                if math.prod(sigma[d] // lanes.get(d, 1) for d in self._rel[i]) <= cap:
                    return above * self._cost(i, o.fills[i]), tuple(sorted(lanes.items()))
        return above * self._cost(i, tiled), None

    def least(self, capacity: int, upper: tuple = (math.inf, math.inf),
              node_limit: int = NODE_LIMIT, deadline: float | None = None) -> Solved | None:
        """The least (DRAM traffic, traffic into level 1) with level 1 holding at most
        ``capacity`` words, and the candidates attaining it; None past ``node_limit``,
        ``deadline`` or where no mapping exists below ``upper`` (a key known attained)."""
        key = (capacity, upper)
        if key not in self._solved:
            self._solved[key] = self._least(capacity, upper, node_limit, deadline)
        return self._solved[key]

    def _least(self, capacity, upper, node_limit, deadline) -> Solved | None:
        found = self._outer(capacity, upper, node_limit, deadline)
        if found is None:
            return None
        best, outers = found
        if best is None:
            return None
        cands = []
        for o in outers:
            tile = dict(o.tile)
            bcost = self._bypass_cost(tile, o.fills)
            for split, fit in self._splits(tile):
                floors, whole, ok = [], [], True
                for k, (_, i, _) in enumerate(self.slots):
                    w = fit[k]
                    tiled = self._tiled(i, tile, o.fills[i])
                    # (whole: its fills at the bottom, or, a strided window, a tiled copy's
                    # least where that is below them)
                    value = self._cost(i, min(o.fills[i], tiled) if w else tiled)
                    if i == self.b and value != bcost:
                        ok = False
                    floors.append(value)
                    whole.append(w)
                if ok:
                    deep, lanes = self._deep(o, tile, split)
                    cands.append(Candidate(o, tuple(sorted(split.items())), tuple(floors),
                                           tuple(whole), deep, lanes))
        cands.sort(key=lambda c: c.floors)
        return Solved(best[0], best[1], tuple(cands))

    def _outer(self, capacity: int, upper: tuple, node_limit: int, deadline):
        """Depth-first over canonical outer parts of level 1's tensors (as :func:`outer_parts`;
        B is never placed, its fills at the bottom tracked), pruned by the lexicographic
        (DRAM, level 1) lower bound against the best found; (best key, outer parts) or None."""
        p = self.problem
        size = p.size
        N = {d: n for d, n in p.sizes if n > 1}
        ts = p.tensors
        n = len(ts)
        rel = [frozenset(d for d in T.ranks if d in N) for T in ts]
        whole = [p.tensor_size(T) for T in ts]
        weight = [self._weight(i) for i in range(n)]
        b = self.b
        z = whole[self._z]
        za = 0 if self._z == b else z
        zb = z if self._z == b else 0
        placeable = [i for i in range(n) if i != b]
        state = {"best": upper, "found": {}, "nodes": 0}

        windowed = [i for i in range(n) if self._windowed[i]]
        strided = self._strided
        base = [touched_in(T, size) if strided[i] else whole[i] for i, T in enumerate(ts)]

        def foot(i, tile):
            return ts[i].footprint(tile | {d: 1 for d in size if d not in N})

        def visit(loops, seg, tile, placed, cost, occ, cur, every):
            state["nodes"] += 1
            nodes = state["nodes"]
            if nodes > node_limit or (deadline is not None and not nodes % 4096
                                      and time.perf_counter() > deadline):
                raise _TooMany
            if windowed:  # their fills here by the cost model; with unit coefficients no
                # cheaper bound below; a strided window's bound stays its touched elements
                # times every loop of other ranks so far (tiling can skip its holes:
                # docs/hierarchy.md, "Strided windows" (d))
                here_fills = self._window_fills(loops, placed, windowed)
                cur = tuple(here_fills.get(i, c) for i, c in enumerate(cur))
                every = tuple(e if strided[i] else here_fills.get(i, e)
                              for i, e in enumerate(every))
            unplaced = [i for i in placeable if i not in placed]
            last = loops[-1][0] if loops else None
            here = [i for i in unplaced if (last is None or last in rel[i] or windowed)
                    and foot(i, tile) <= capacity - occ]
            low1 = cost + sum(weight[i] * (min(cur[i], every[i]) if i in here else every[i])
                              for i in unplaced) - za
            low0 = low1 + weight[b] * cur[b] - zb
            best = state["best"]
            if low0 > best[0] or (low0 >= best[0] and low1 > best[1]) \
                    or occ + len(unplaced) > capacity:
                return
            for mask in range(1, 1 << len(here)):
                chosen = [here[k] for k in range(len(here)) if mask >> k & 1]
                cost2 = cost + sum(weight[i] * cur[i] for i in chosen)
                occ2 = occ + sum(foot(i, tile) for i in chosen)
                if occ2 > capacity:
                    continue
                placed2 = placed | {i: len(loops) for i in chosen}
                if len(placed2) < len(placeable):
                    visit(loops, frozenset(), tile, placed2, cost2, occ2, cur, every)
                    continue
                t = tuple((d, tile.get(d, size[d])) for d in p.ranks)
                key = (cost2 - za + self._bypass_cost(dict(t), cur), cost2 - za)
                if key > state["best"]:
                    continue
                if key < state["best"]:
                    state["best"], state["found"] = key, {}
                sig = (t, cur)
                if sig not in state["found"]:
                    state["found"][sig] = Outer(
                        tuple(loops), tuple(placed2.get(i, -1) for i in range(n)), t, cur)
            for d in N:
                if d in seg:
                    continue
                for f in divisors(tile[d])[1:]:
                    cur2 = tuple(every[i] if d in rel[i] else cur[i] for i in range(n))
                    every2 = tuple(every[i] if d in rel[i] else every[i] * f for i in range(n))
                    visit(loops + [(d, f)], seg | {d}, tile | {d: tile[d] // f}, placed, cost,
                          occ, cur2, every2)

        try:
            visit([], frozenset(), dict(N), {}, 0, 0, tuple(whole), tuple(base))
        except _TooMany:
            return None
        self.nodes = state["nodes"]
        if not state["found"]:
            return None, []
        return state["best"], list(state["found"].values())

    def chain(self, cand: Candidate, perm: tuple[str, ...], first: tuple | None = None
              ) -> tuple[Nest, Copies]:
        """Another whole nest of a candidate: below its innermost tile (level 2's split above
        it; ``first``: a loop cutting one rank to an instance tile first) one loop per rank of
        ``perm`` down to a word per instance, every group copy at the
        outermost boundary where its tile fits its level, the deep level's copy at the
        outermost one at or below its group copy where it fits, every deeper copy last (no
        split of the deeper fanouts). Any nest is an upper bound; :meth:`mapping` and these
        together often attain the floors."""
        p = self.problem
        ranks = p.ranks
        s = {d: 1 for d in ranks} | dict(cand.split)
        names = tuple(lv.name for lv in self.arch.on_chip)
        levels, orders, storage, where, tile = _outer_boundaries(self.problem, cand.outer)[:5]
        fan = len(levels) + 1
        cur = dict(tile)
        levels.append(tuple(cur.items()))
        orders.append(())
        if first is not None:
            d, v = first
            cur[d] = v * s[d]
            levels.append(tuple(cur.items()))
            orders.append((d,))
        for d in perm:
            if cur[d] > s[d]:
                cur[d] = s[d]
                levels.append(tuple(cur.items()))
                orders.append((d,))
        chain = levels[fan - 1:]

        def first(i: int, cap: int, start: int = 0) -> int:
            return next(j for j in range(start, len(chain)) if j == len(chain) - 1 or
                        self._words(i, dict(chain[j]), s) <= cap)

        at = {}
        for lv, i, cap in self.slots:
            at[i] = first(i, cap)
            storage.append((p.tensors[i].name, fan + at[i]))
            where.append(lv)
        for lv in range(self.group[-1] + 1, len(names) + 1):
            level = self.arch.on_chip[lv - 1]
            for i, T in enumerate(p.tensors):
                if level.keeps_tensor(p, T):
                    j = (first(i, level.capacity, at[i]) if self.deep and lv == self.deep[0]
                         else len(chain) - 1)
                    storage.append((T.name, fan + j))
                    where.append(lv)
        spatial = [()] * len(levels)
        spatial[fan - 1] = cand.split
        fanout_at = tuple(fan if lv == 2 else 0 for lv in range(1, len(names) + 1))
        return (Nest(tuple(levels), tuple(orders), tuple(storage), tuple(spatial)),
                Copies(tuple(where), names, fanout_at))

    def ideal(self, solved: Solved) -> tuple:
        """The key every stage's floor would give, each with the earlier ones as limits: no
        mapping is below it lexicographically, and one attaining it proves every stage."""
        key, done = [solved.dram, solved.first], {}
        for lv in self.group:
            done[lv] = self.floor(solved, lv, done)
            key.append(done[lv])
        if self.deep is not None:
            key.append(self.deep_floor(solved, done))
        return tuple(key)

    def built(self, solved: Solved, limit: int = 64, budget: int = 4096) -> list:
        """Mappings of up to ``limit`` candidates whose floors may meet :meth:`ideal`'s key
        (:meth:`_may_meet`), then the ``limit`` of least floors, each re-costed in integers
        (nest, copies, cost): :meth:`mapping` (checked by :meth:`verified`) and the
        :meth:`chain` nests in every order of the ranks that loop below the split, those that
        keep the least (DRAM, level 1) traffic (a chain's B copy need not be its least); then,
        for candidates whose floors are :meth:`ideal`'s, chains with a first cut over a rank
        the deep tensor lacks (the coupled floor's shape); at most ``budget`` nests a pass,
        and none after one attains :meth:`ideal` (nothing is below it). Only mappings within
        every fixed capacity are kept (a chain's or a stationary copy may overflow a level below
        the group; such a one, however low its key, is no mapping of the arch and ends nothing)."""
        from itertools import permutations

        out = []
        mc = self.arch.multicast
        ideal = self.ideal(solved)

        def admit(built) -> bool:
            """Keeps ``built`` (nest, copies, cost) if it fits; whether it attains the ideal."""
            if not all(lv.capacity is None or occ <= lv.capacity
                       for lv, occ in zip(self.arch.on_chip, built[2].occupancy)):
                return False
            out.append(built)
            return built[2].key[:len(ideal)] == ideal

        def keep(nest, copies) -> bool:
            cost = evaluate_levels(self.problem, nest, copies, multicast=mc)
            if (cost.dram, cost.accesses[0]) == (solved.dram, solved.first):
                return admit((nest, copies, cost))
            return False

        def moving(cand) -> tuple[dict, list]:
            sigma = {d: v // dict(cand.split).get(d, 1) for d, v in cand.outer.tile}
            return sigma, [d for d in self.problem.ranks if sigma[d] > 1]

        tried = 0
        # candidates that may meet the ideal key first (their nests are the ones that can
        # end every stage; on conv3_x 3x3 at 512 KB the one splitting C sat past the budget)
        meet = [c for c in solved.candidates if self._may_meet(c, ideal)][:limit]
        first = {id(c) for c in meet}
        for cand in meet + [c for c in solved.candidates[:limit] if id(c) not in first]:
            if admit(self.verified(solved, cand)):
                return out
            for perm in permutations(moving(cand)[1]):
                tried += 1
                if keep(*self.chain(cand, perm)):
                    return out
                if tried > budget:
                    break
            if tried > budget:
                break
        tried = 0
        r = self.deep[1] if self.deep is not None else None
        for cand in meet:  # the coupled floor's chains, for the same candidates
            sigma, loops = moving(cand)
            # the coupled floor's shape: a cut over a rank R lacks, R's ranks, the others
            mine = [d for d in loops if d in self._rel[r]]
            rest = [d for d in loops if d not in self._rel[r]]
            orders = [a + b for a in permutations(mine) for b in permutations(rest)]
            for first in [(d, v) for d in rest for v in divisors(sigma[d])[1:-1][::-1]]:
                for perm in orders:
                    tried += 1
                    if keep(*self.chain(cand, perm, first)) or tried > 2 * budget:
                        return out
        return out

    def _may_meet(self, cand: Candidate, ideal: tuple) -> bool:
        """Whether a candidate's floors are the ideal key's (so one of its nests may attain
        it), with a deep level below the group."""
        if self.deep is None or cand.floors != ideal[2:2 + len(self.slots)]:
            return False
        limits = {lv: f for (lv, _, _), f in zip(self.slots, cand.floors)}
        return self._coupled(cand, limits) == ideal[-1]

    def _window_fills(self, loops: list, placed: dict, which: list) -> dict:
        return _window_fills(self.problem, loops, placed, which)

    def mapping(self, cand: Candidate) -> tuple[Nest, Copies]:
        """A whole per-tensor nest of a candidate: the outer part's boundaries (level 1's
        copies), a boundary of its innermost tile right below level 2's split holding the
        group copies whose slices fit whole; then, if some do not, the first of them (B
        first) *stationary*: loops over its ranks down to a word per instance, its copy, the
        other ranks' loops; a last boundary of a word per instance holding every other copy
        (the other tiled group copies and every deeper level's)."""
        p, o = self.problem, cand.outer
        ranks = p.ranks
        s = {d: 1 for d in ranks} | dict(cand.split)
        names = tuple(lv.name for lv in self.arch.on_chip)
        levels, orders, storage, where, tile = _outer_boundaries(p, o)[:5]
        fan = len(levels) + 1
        levels.append(tuple(tile.items()))
        orders.append(())
        tiled = []
        for (lv, i, _), w in zip(self.slots, cand.whole):
            if w:
                storage.append((p.tensors[i].name, fan))
                where.append(lv)
            else:
                tiled.append((lv, i))
        tiled.sort(key=lambda e: e[1] != self.b)
        lanes = {} if cand.lanes is None else dict(cand.lanes)
        deep_at = 0
        if tiled:
            lv, i = tiled.pop(0)
            self._stationary(levels, orders, tile, s, i, self.arch.on_chip[lv - 1].capacity)
            storage.append((p.tensors[i].name, len(levels)))
            where.append(lv)
        elif self.deep is not None:  # the group whole: the deep level's copy at its floor
            lv, i, _ = self.deep
            if cand.lanes is not None:
                levels.append(tuple(tile.items()))
                orders.append(())
                deep_at = len(levels)
            else:
                self._stationary(levels, orders, tile, s, i, self.deep[2])
            storage.append((p.tensors[i].name, len(levels)))
            where.append(lv)
        last = len(levels) + 1
        levels.append(tuple((d, s[d] * lanes.get(d, 1)) for d in ranks))
        orders.append(tuple(ranks))
        for lv, i in tiled:
            storage.append((p.tensors[i].name, last))
            where.append(lv)
        for lv in range(self.group[-1] + 1, len(names) + 1):
            for T in p.tensors:
                if (self.arch.on_chip[lv - 1].keeps_tensor(p, T) and (T.name, lv) not in
                        {(n, w) for (n, _), w in zip(storage, where)}):
                    storage.append((T.name, last))
                    where.append(lv)
        spatial = [()] * len(levels)
        spatial[fan - 1] = cand.split
        if deep_at:
            spatial[deep_at - 1] = cand.lanes
        fanout_at = tuple(fan if lv == 2 else deep_at if self.deep and lv == self.deep[0]
                          else 0 for lv in range(1, len(names) + 1))
        nest = Nest(tuple(levels), tuple(orders), tuple(storage), tuple(spatial))
        return nest, Copies(tuple(where), names, fanout_at)

    def _stationary(self, levels: list, orders: list, tile: dict, s: dict, i: int,
                    cap: int) -> None:
        """Append a segment of loops over tensor ``i``'s ranks and the boundary below it where
        its tile first fits ``cap`` words per instance: plain ranks first, each cut to the
        largest tile that fits or to a word per instance (a copy there moves the least a
        tiled copy can: only the outer part's loops of other ranks re-fetch it, and a window
        left whole moves each element once per such iteration)."""
        p = self.problem
        t = dict(tile)
        mine = sorted((d for d in p.ranks if d in self._rel[i] and tile[d] > s[d]),
                      key=lambda d: d in self._windowed_ranks)
        order = []
        for d in mine:
            if self._words(i, t, s) <= cap:
                break
            order.append(d)
            for v in divisors(tile[d] // s[d])[::-1]:  # instance tiles, largest first
                t[d] = v * s[d]
                if self._words(i, t, s) <= cap:
                    break
        levels.append(tuple(t.items()))
        orders.append(tuple(order))

    def deep_floor(self, solved: Solved, limits: dict) -> float:
        """A lower bound on the traffic into the level below the group at the least (DRAM,
        level 1) with every group level's traffic at most ``limits`` (level -> words)."""
        ok = [self._coupled(c, limits) for c in solved.candidates
              if all(f <= limits.get(lv, math.inf) for f, (lv, _, _) in zip(c.floors, self.slots))]
        return min(ok) if ok else -math.inf

    def _coupled(self, cand: Candidate, limits: dict) -> float:
        """The deep level's floor under a candidate, raised where a group tensor X pins it
        (docs/hierarchy.md, "Bypass at level 1"): X plain, tiled (its slice does not fit), at
        its floor (``limits``), holding every rank R lacks (U), and no split of the deep level
        fitting R's slice of the ranks X lacks. Then no loop of a rank X lacks sits below the
        outer part above X's innermost loop of its own ranks, so (whether R's innermost loop
        of its ranks, l, lies below X's copy or above it) every loop over U above X's copy lies
        above l and re-fetches R, and X's tile holds the rest of U: R's tiled fills are at
        least its least times ceil(sigma_U / X's capacity)."""
        if self.deep is None:
            return -math.inf
        lv, r, cap = self.deep
        o, split = cand.outer, dict(cand.split)
        tile = dict(o.tile)
        sigma = {d: tile[d] // split.get(d, 1) for d in self.problem.ranks}
        above = math.prod(v for d, v in split.items() if d not in self._rel[r])
        whole = (above * self._cost(r, o.fills[r]) if self._lanes_fit(lv, sigma, self._rel[r], cap)
                 else math.inf)
        lacks = [d for d in self.problem.ranks if d not in self._rel[r] and sigma[d] > 1]
        factor = 1
        for k, (lx, x, cx) in enumerate(self.slots):
            if (x == r or self._windowed[x] or cand.whole[k] or limits.get(lx) != cand.floors[k]
                    or not set(lacks) <= self._rel[x]):
                continue
            if self._lanes_fit(lv, sigma, self._rel[r] - self._rel[x], cap):
                continue
            factor = max(factor, -(-math.prod(sigma[d] for d in lacks) // cx))
        factor = max(factor, self._paired(cand, limits, sigma))
        fills = max(o.fills[r], factor * self._tiled(r, tile, 0))
        return min(whole, above * self._cost(r, fills))

    def _paired(self, cand: Candidate, limits: dict, sigma: dict) -> int:
        """A factor on the deep tensor R's tiled floor from two group tensors X and Y at their
        floors together (docs/hierarchy.md, "Bypass at level 1", *Paired*): the least, over
        the two ways X's and Y's copies can sit, of the loops over U (the ranks R lacks) that
        must lie above R's innermost loop of its own ranks above its copy, l (1: none known).

        Where it applies: X and Y distinct group tensors other than R, both tiled (slices too
        large to be whole) and at their floors (``limits``), Y plain; every rank of U (those
        with a slice above 1, as all rank sets here) in both; every rank of R that X lacks (A)
        in Y; no rank of R in both X and Y. G: the ranks X holds and Y lacks.

        Proof. At its floor a tensor T has, among the loops below the outer part above its
        copy, no loop of a rank it lacks above a loop of its own ranks (that loop of f > 1
        trips would re-fetch T's tiles f times: plain, as ``_coupled``; a window, each pass
        of the loop moving at least the elements the computations below it touch, so f times
        the touched count the floor is, :meth:`_tiled`). Call it (F_T).
        (1) Some loop g of a rank of G lies above X's copy. By (F_X) every loop of A above
        X's copy lies below g. By (F_Y) every loop of Y's ranks above Y's copy lies above any
        G loop above Y's copy (G: ranks Y lacks); A is in Y. If Y's copy is above X's, its A
        loops are above X's copy, so below g, and g lies above Y's copy (then they are above
        g) or between the copies (then they are above g too): none. If Y's copy is below
        X's, g is above Y's copy, so its A loops lie above g, yet those above X's copy lie
        below g and those between the copies below g too: none. So Y's tile holds its whole
        slice of A, sigma_A, and its tile over U, u, has footprint(sigma_A, u) <= c_Y: the
        loops over U above Y's copy have at least sigma_U / u trips. They lie above l: if l
        is below Y's copy, trivially; else l is a loop of R above Y's copy, not of A (none
        there), so of a rank Y lacks (R meets Y only in A), and (F_Y) puts every loop of Y's
        ranks above Y's copy, U's among them, above it.
        (2) No loop of G lies above X's copy: X's tile holds sigma_G, its tile over U, u, has
        footprint(sigma_G, u) <= c_X, and the loops over U above X's copy have at least
        sigma_U / u trips. They lie above l: if l is above X's copy it is a loop of R there,
        not of G (none), and R meets X only in G (no rank of R in both), so of A, which (F_X)
        puts below every loop of X's ranks above X's copy.
        Each loop over U above l re-fetches R (R lacks it), so R's tiled fills are at least
        the smaller factor times its least (:meth:`_tiled`), as ``_coupled``'s. Footprints
        are the tensors' own (``Tensor.footprint``, monotone in every extent) with every
        other rank at 1; a way in which no tile fits cannot occur (no factor from it)."""
        lv, r, cap = self.deep
        moving = {d for d in self.problem.ranks if sigma[d] > 1}
        rel = [s & moving for s in self._rel]
        u = moving - rel[r]
        best = 1
        for kx, (lx, x, cx) in enumerate(self.slots):
            for ky, (ly, y, cy) in enumerate(self.slots):
                if (len({x, y, r}) < 3 or self._windowed[y] or cand.whole[kx]
                        or cand.whole[ky] or limits.get(lx) != cand.floors[kx]
                        or limits.get(ly) != cand.floors[ky] or not u <= rel[x] & rel[y]):
                    continue
                a, g = rel[r] - rel[x], rel[x] - rel[y]
                if not a <= rel[y] or rel[r] & rel[x] & rel[y]:
                    continue
                ways = [self._trips_over(x, {d: sigma[d] for d in g}, u, sigma, cx)]
                if g:
                    ways.append(self._trips_over(y, {d: sigma[d] for d in a}, u, sigma, cy))
                least = min(ways)
                if math.isfinite(least):
                    best = max(best, least)
        return best

    def _trips_over(self, i: int, fixed: dict, u: set, sigma: dict, cap: int) -> float:
        """The least trips of loops over ``u`` above tensor ``i``'s copy when its tile holds
        ``fixed`` and must fit ``cap`` words: min over tiles of ``u`` dividing ``sigma`` whose
        footprint (every other rank at 1) fits of sigma_u / tile_u; inf where none fits."""
        from itertools import product

        ranks = sorted(u)
        total = math.prod(sigma[d] for d in ranks)
        best = math.inf
        for tile in product(*(divisors(sigma[d]) for d in ranks)):
            ext = {d: 1 for d in self.problem.ranks} | fixed | dict(zip(ranks, tile))
            if self.problem.tensors[i].footprint(ext) <= cap:
                best = min(best, total // math.prod(tile))
        return best

    def _lanes_fit(self, lv: int, sigma: dict, ranks, cap: int) -> bool:
        """Whether some split level ``lv`` allows of ``sigma`` leaves at most ``cap`` words of
        ``ranks`` per instance."""
        mine = [d for d in self.arch.splits(self.problem, lv) if d in ranks]
        return any(math.prod(sigma[d] // lanes.get(d, 1) for d in ranks) <= cap
                   for lanes in self.arch.split_options(self.problem, lv, extent=sigma,
                                                        ranks=mine))

    def verified(self, solved: Solved, cand: Candidate, built=None):
        """A candidate's mapping (``built``: another of its nests) re-costed in integers; a
        backing-store or level-1 traffic other than the computed least is a bug in this
        module and raises."""
        nest, copies = self.mapping(cand) if built is None else built
        cost = evaluate_levels(self.problem, nest, copies, multicast=self.arch.multicast)
        if (cost.dram, cost.accesses[0]) != (solved.dram, solved.first):
            raise SolverError(f"the bypass decomposition's mapping "
                              f"{nest.describe(self.problem, copies)} moves "
                              f"{(cost.dram, cost.accesses[0])} words from the backing store "
                              f"and into level 1, not the {(solved.dram, solved.first)} computed")
        return nest, copies, cost

    def floor(self, solved: Solved, lv: int, limits: dict) -> float:
        """A lower bound on the traffic into group level ``lv`` at the least (DRAM, level 1),
        with the earlier group levels' traffic at most ``limits`` (level -> words): the least,
        over the candidates meeting those limits with their own floors, of its floor."""
        k = next((k for k, (l, _, _) in enumerate(self.slots) if l == lv), None)
        if k is None:
            return -math.inf
        ok = [c.floors[k] for c in solved.candidates
              if all(c.floors[j] <= limits.get(self.slots[j][0], math.inf) for j in range(k))]
        return min(ok) if ok else -math.inf
