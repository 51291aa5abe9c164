"""Exact fused frontiers on a memory hierarchy (docs/fusion.md, "On hierarchies").

The mapspace is :mod:`fusion_levels`': fused loop trees whose stored tensors live in the outer
(swept) level, each leaf running a multi-level nest of its sub-problem. The objective is the joint
bound's (docs/hierarchy.md): least DRAM traffic at each capacity of the outer level, then least
traffic into each inner level in turn, a lexicographic key.

The dynamic program is :class:`fused.TreeSearch` itself, given this module's leaves
(:class:`LeafCurves`: their ``stairs``, ``floor``, ``refine``) and arithmetic (:class:`Lex`);
what they change, both exact:

* keys are vectors (DRAM, then each inner level) compared lexicographically. A node's children
  run one after another with every level to themselves, so their keys add; a lexicographic
  minimum of a sum of independent terms is the sum of their minima, adding a constant vector or
  multiplying by a positive count keeps the order, so the staircase arithmetic carries over
  (a breakpoint is where the key falls lexicographically).
* values are totals over the whole run rather than per invocation: an inner copy of an output is
  read back all but the first time *over the run*, which is not a multiple of a leaf's
  invocations; a node's invocations are fixed by its tiles (every loop above cuts a rank), so the
  total is known where the leaf is costed.

A leaf's curve is the single-Einsum joint staircase of its sub-problem on its leaf arch
(:func:`fusion_levels.leaf_arch`: resident tensors in a tree level above the outer level,
streamed ones through it), from the joint bound's enumerators or MILPs (joint.py), re-costed in
integers. Its resident tensors' tree-level copies sit whole above every loop at every point of
that staircase (the first key component counts their fills, and moving the loops above them
below them changes nothing else), so subtracting them, a constant, keeps each point optimal.
Every reported point's schedule is rebuilt and re-costed by :func:`fusion_levels.evaluate`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from ..errors import ArchError, BoundsolverError, EnumerationTooLarge, SolverError
from ..model import fusion, fusion_levels
from ..model.arch import Arch, Level
from ..model.cost import check_size
from ..model.fusion import Schedule
from ..model.fusion_levels import LevelMapping, invocations, leaf_arch, leaf_traffic
from ..model.mapspace import Mapspace
from ..model.workload import Workload
from ..reference import levelnest
from ..reference.hierarchy import LIMIT, frontier_points, per_tensor_points, work
from . import fused
from .fused_leaves import Canon, LeafStore, canonical, identity
from .joint import hierarchy_mapspace
from .methods import DEFAULT, check_method

# ------------------------------------------------------------------------ lexicographic staircases


@dataclass(frozen=True)
class Stairs:
    """Breakpoints (occupancy ascending, key strictly falling lexicographically), each key a
    row (DRAM, then traffic into each inner level), and what attains each."""

    occ: np.ndarray
    key: np.ndarray  # (points, components) int64
    tag: np.ndarray

    def at(self, capacity) -> np.ndarray:
        """Index of the breakpoint that answers each capacity (-1: infeasible)."""
        return np.searchsorted(self.occ, capacity, side="right") - 1

    def retagged(self, tags) -> "Stairs":
        return Stairs(self.occ, self.key, np.asarray(tags, np.int64))


def _rank(key: np.ndarray) -> np.ndarray:
    """Each row's rank in lexicographic order (equal rows, equal ranks): a lexsort of the
    columns, first column most significant (several times faster than ``np.unique`` over
    rows, which views each row as one structured value)."""
    order = np.lexsort(key.T[::-1])
    ranked = key[order]
    step = np.ones(len(key), np.int64)
    step[0] = 0
    if len(key) > 1:
        step[1:] = np.any(ranked[1:] != ranked[:-1], axis=1)
    out = np.empty(len(key), np.int64)
    out[order] = np.cumsum(step)
    return out


def stairs(occ, key, tag) -> Stairs:
    """The lexicographic Pareto staircase of arbitrary points."""
    occ = np.asarray(occ, dtype=np.int64)
    key = np.asarray(key, dtype=np.int64).reshape(len(occ), -1)
    tag = np.asarray(tag, dtype=np.int64)
    rank = _rank(key)
    order = np.lexsort((rank, occ))
    occ, key, tag, rank = occ[order], key[order], tag[order], rank[order]
    best = np.minimum.accumulate(rank)
    keep = np.ones(len(rank), dtype=bool)
    keep[1:] = rank[1:] < best[:-1]
    return Stairs(occ[keep], key[keep], tag[keep])


def plus_shifted(a: Stairs, shift: int, b: Stairs, tag: int) -> Stairs:
    """``a`` (occupancy raised by ``shift``) then ``b``: keys add at every capacity. A sum of two
    lexicographically falling staircases falls, so its breakpoints are where it changes."""
    a_occ = a.occ + shift
    if len(b.occ) == 1 and b.occ[0] == 0 and a_occ[0] >= 0 and not b.key.any():
        return Stairs(a_occ, a.key, np.full(len(a_occ), tag))  # b is ZERO (a last child)
    caps = np.union1d(a_occ, b.occ)
    caps = caps[caps >= max(a_occ[0], b.occ[0])]
    key = a.key[np.searchsorted(a_occ, caps, side="right") - 1] + b.key[b.at(caps)]
    keep = np.ones(len(caps), bool)
    keep[1:] = np.any(key[1:] != key[:-1], axis=1)
    return Stairs(caps[keep], key[keep], np.full(int(keep.sum()), tag))


def merge(parts: list) -> Stairs | None:
    parts = [p for p in parts if p is not None]
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    return stairs(np.concatenate([p.occ for p in parts]), np.concatenate([p.key for p in parts]),
                  np.concatenate([p.tag for p in parts]))


def shifted(st: Stairs, const: np.ndarray, scale: int, tag) -> Stairs:
    """``const + scale * st`` (the order is kept), every point tagged ``tag``."""
    return Stairs(st.occ, const + scale * st.key, np.full(len(st.occ), tag))


class Lex:
    """:class:`fused.TreeSearch`'s staircase arithmetic over keys of ``k`` components (DRAM,
    then each inner level) compared lexicographically; :class:`fused.Scalar`'s operations."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.ZERO = Stairs(np.zeros(1, np.int64), np.zeros((1, k), np.int64),
                           np.zeros(1, np.int64))

    plus_shifted = staticmethod(plus_shifted)
    merge = staticmethod(merge)

    def shifted(self, st: Stairs, const, scale: int, tag) -> Stairs:
        """``const`` (on DRAM; or a whole key vector) plus ``scale * st``, every point tagged
        ``tag``."""
        if np.ndim(const):
            return shifted(st, const, scale, tag)
        vec = np.zeros(self.k, np.int64)
        vec[0] = const
        return shifted(st, vec, scale, tag)

    @staticmethod
    def added(st: Stairs, vec: np.ndarray) -> Stairs:
        """``st`` with the key vector ``vec`` added to every point (its order kept)."""
        return Stairs(st.occ, st.key + vec, st.tag)

    @staticmethod
    def raised(st: Stairs, g: int, tag) -> Stairs:
        return Stairs(st.occ + g, st.key, np.full(len(st.occ), tag))

    def lifted(self, st: Stairs, g: int, const, scale: int, tag) -> Stairs:
        """``shifted(raised(st, g), const, scale)`` (:meth:`fused.Scalar.lifted`)."""
        return self.shifted(self.raised(st, g, tag), const, scale, tag)

    @staticmethod
    def covers(best: Stairs, occ: int, acc: int, inner: tuple) -> bool:
        """Whether ``best`` is lexicographically at or below ``(acc, *inner)`` at ``occ``."""
        i = int(best.at(occ))
        return i >= 0 and tuple(best.key[i].tolist()) <= (acc, *inner)

    @staticmethod
    def frozen(st: Stairs) -> Stairs:
        return st


# ----------------------------------------------------------------------------------- leaf curves

@dataclass
class LeafCurves:
    """Each leaf's staircase over the outer level's occupancy, with total keys; each distinct
    leaf (sub-problem on its leaf arch, revisited or not) traced once by the joint bound's
    solvers, in its canonical form (``canonical``: leaves equal up to renaming share one,
    :mod:`fused_leaves`; else each leaf is its own). ``store``: a
    :class:`fused_leaves.LeafStore` that keeps the lazy leaves' exact samples across runs."""

    arch: Arch
    mapspace: Mapspace
    method: str = DEFAULT
    solver: str = "highs"
    traced: dict = field(default_factory=dict)
    seconds: float = 0.0
    lazy: dict = field(default_factory=dict)
    solves: int = 0
    canonical: bool = True
    store: object = None
    loaded: int = 0

    def __post_init__(self) -> None:
        self.tight_check = False  # PlacedSearch's DRAM front relies on tight lazy bounds
        self.one_buffer = fused.Curves(self.mapspace, self.method, self.solver)
        self._canons: dict = {}
        self._floors: dict = {}
        self._leaves: dict = {}
        self._texts: dict = {}
        self._one: dict = {}
        self._enums: dict = {}  # per-tensor leaves: canonical key -> enumerated points or None
        self.keys = Lex(len(self.arch.on_chip))  # DRAM, then every inner level

    # -- the leaves of a TreeSearch on the hierarchy (fused.TreeSearch's docstring) ------------
    # Values are totals over the run (the module's docstring). TreeSearch.floor's word per
    # streamed tensor is no bound here: a leaf may stream a tensor past the outer level into
    # an inner one, taking no word of it; the inner levels' floors (:meth:`floor`) are used.
    totals = True
    word_floor = False

    def stairs(self, search: fused.TreeSearch, x: int, sizes: dict, R: frozenset,
               placed: tuple = (), free: tuple | None = None):
        """The leaf's staircase in totals (exact, or as known where ``search.lazy``), each point
        tagged by a leaf record (its mapping) or a bound record (its lazy state); and the lazy
        state it depends on while not exact (None once it is). ``placed``: the resident tensors
        the tree holds in inner levels, ``((tensor, level name), ...)``; ``free``: each inner
        level's room the tree's tiles leave the leaf (None: all of it); a leaf left no room in
        a level it needs has no staircase (None)."""
        w = search.workload
        if placed or free is not None:
            _, sub, res, _, r = self._leaf(w, x, sizes, R)
            try:
                leaf_arch(self.arch, sub, res, r > 1, placed, free)
            except ArchError:
                return None, None
        if not search.lazy:
            st, maps = self.curve(w, x, sizes, R, placed, free)
            info, lazy = [("map", m) for m in maps], None
        else:
            st, info, exact = self.lazy_curve(w, x, sizes, R, placed, free)
            lazy = None if exact else self.state(w, x, sizes, R, placed, free).key
        if st is None:
            return None, lazy
        name = w.einsums[x].name
        tags = [search.record(("leaf", name, info[t][1]) if info[t][0] == "map"
                              else ("bound", info[t][1])) for t in st.tag.tolist()]
        return st.retagged(tags), lazy

    @staticmethod
    def leaf_node(search: fused.TreeSearch, rec: tuple, S: tuple) -> fusion.Leaf:
        return fusion.Leaf(rec[1], rec[2])

    def floor(self, search: fused.TreeSearch, x: int, y: int, S: tuple) -> tuple[int, ...]:
        """A lower bound on the traffic into each inner level of Einsums ``x..y`` run under
        loops leaving tiles ``S``: inner levels start empty at every leaf invocation, so each
        invocation moves every word of each tensor a level keeps into it at least once (an
        output: written back at least once); deeper loops only add invocations of smaller
        tiles, never fewer words in all. (Cached here per workload: one LeafCurves serves a
        search and its renamed searches, whose Einsums and tiles ``S`` mean other ranks.)"""
        key = ("floor", id(search.workload), x, y, S)
        if key not in self._floors:
            inner = self.arch.on_chip[1:]
            runs, sizes = search.runs(S), search.sizes(S)
            out = [0] * len(inner)
            for e in search.workload.einsums[x:y + 1]:
                sub = fusion.sub_problem(e, sizes)
                for c, lv in enumerate(inner):
                    out[c] += runs * sum(sub.tensor_size(T) for T in sub.tensors
                                         if lv.keeps_tensor(e, T))
            self._floors[key] = tuple(out)
        return self._floors[key]

    def canon(self, sub, res: frozenset, revisited: bool, placed: tuple = (),
              free: tuple | None = None) -> Canon:
        """The leaf's canonical form (its own names where ``canonical`` is off); its leaf arch
        carries the tree levels of ``placed`` and the room ``free`` (the canonical key is the
        arch's full text, so leaves with other placements or room never share one)."""
        key = (self._text(sub), sub.sizes, res, revisited, placed, free)
        if key not in self._canons:
            larch = leaf_arch(self.arch, sub, res, revisited, placed, free)
            form = (canonical if self.canonical else identity)(sub, larch, res)
            self._canons[key] = replace(form, key=json.dumps([form.key, revisited]))
        return self._canons[key]

    def curve(self, workload: Workload, x: int, tiles: dict[str, int], R: frozenset,
              placed: tuple = (), free: tuple | None = None):
        """The leaf's exact staircase in totals, each point's mapping beside it."""
        e, sub, res, n, r = self._leaf(workload, x, tiles, R)
        canon = self.canon(sub, res, r > 1, placed, free)
        maps = [canon.to_original(m) for m in self.points(canon)]
        occ, keys = self._totals(e, sub, res, n, r, maps, placed)
        if not occ:  # no nest of the leaf fits the inner levels
            return None, maps
        return stairs(occ, keys, np.arange(len(occ))), maps

    def _leaf(self, workload: Workload, x: int, tiles: dict[str, int], R: frozenset):
        """Einsum ``x``, its sub-problem under ``tiles``, its resident tensors, invocations and
        revisits (cached: a leaf's staircase, state and canonical form all ask)."""
        e = workload.einsums[x]
        key = (id(workload), x, tuple(tiles[r] for r in e.size), R)
        if key not in self._leaves:
            sub = fusion.sub_problem(e, tiles)
            res = frozenset(T.name for T in sub.tensors if T.name in R)
            self._leaves[key] = (e, sub, res, *invocations(workload, e, tiles))
            self._texts[id(sub)] = (sub, str(sub))
        return self._leaves[key]

    def _totals(self, e, sub, res, n: int, r: int, maps: list, placed: tuple = ()
                ) -> tuple[list, np.ndarray]:
        """Each mapping's outer-level occupancy and key in totals over the leaf's ``n``
        invocations (the output's partial sums read back all but the first time, over the run)."""
        whole, tile = e.tensor_size(e.output), sub.tensor_size(sub.output)
        occ, keys = [], []
        for m in maps:
            lt = leaf_traffic(self.arch, sub, res, r > 1, m, placed)
            dram = sum(v * (2 if T == sub.output.name else 1) for T, v in lt.dram)
            inner = [n * w + a * (n * tile - whole) for w, a in zip(lt.inner, lt.out_above)]
            occ.append(lt.occupancy[0])
            keys.append([n * dram, *inner])
        return occ, np.array(keys, dtype=np.int64).reshape(len(occ), len(self.arch.on_chip))

    # ------------------------------------------------------------------ lazy leaves (bounds)
    def state(self, workload: Workload, x: int, tiles: dict[str, int], R: frozenset,
              placed: tuple = (), free: tuple | None = None) -> "Lazy":
        """What is known of one leaf (its canonical form): its lower-bound staircase at first,
        exact points as they are asked for (:meth:`refine`), in the canonical names."""
        e, sub, res, n, r = self._leaf(workload, x, tiles, R)
        canon = self.canon(sub, res, r > 1, placed, free)
        if canon.key not in self.lazy:
            larch = leaf_arch(self.arch, sub, res, r > 1, placed, free)
            lz = Lazy(canon.key, canon, r > 1, self._bound(e, sub, res, n, r, larch),
                      tight=leaf_tight(larch, sub))
            if self.store is not None:
                self.loaded += self.store.load(lz)
                if lz.full is not None:  # a staircase an earlier run enumerated
                    self.traced.setdefault(canon.key, lz.full)
                if lz.declined:  # not enumerated again: walked by the MILP (refine)
                    self._enums.setdefault(canon.key, None)
            self.lazy[canon.key] = lz
        lz = self.lazy[canon.key]
        if lz.full is None and canon.key in self.traced:
            lz.full = self.traced[canon.key]
        return lz

    def lazy_curve(self, workload: Workload, x: int, tiles: dict[str, int], R: frozenset,
                   placed: tuple = (), free: tuple | None = None):
        """The leaf's staircase as known now, in totals: exact where traced or sampled, else a
        lower bound (docs/fusion.md, "Lazy leaves"); each point's tag indexes ``info``:
        ``("map", mapping)`` (exact, in the leaf's own names) or ``("bound", state key)``. The
        per-invocation keys of a leaf are the same for every workload position and every
        renaming, so totals are computed here."""
        e, sub, res, n, r = self._leaf(workload, x, tiles, R)
        lz = self.state(workload, x, tiles, R, placed, free)
        lb_occ, lb_key = lz.bound
        lb_key = lb_key(n, e.tensor_size(e.output))
        if lz.full is not None:
            st, maps = self.curve(workload, x, tiles, R, placed, free)
            if self.tight_check and lz.tight:
                _check_tight(lz.key, lb_occ, lb_key[:, 0], [(st.occ, st.key[:, 0], None)])
            return st, [("map", m) for m in maps], True
        canon = self.canon(sub, res, r > 1, placed, free)
        samples = [(o, c, canon.to_original(m)) for o, c, m in lz.samples]
        occ, keys = self._totals(e, sub, res, n, r, [m for _, _, m in samples], placed)
        if self.tight_check and lz.tight and samples:  # loose samples too: at o <= c the
            # least DRAM at o is the sample's (it fits at o, and least DRAM falls with capacity)
            _check_tight(lz.key, lb_occ, lb_key[:, 0],
                         [(np.array([o]), keys[j:j + 1, 0], c)
                          for j, (o, (_, c, _)) in enumerate(zip(occ, samples))])
        return _estimate(lb_occ, lb_key, samples, occ, keys, lz.dead, lz.key,
                         frozenset(lz.loose)) + (False,)

    def _bound(self, e, sub, res, n: int, r: int, larch: Arch):
        """A lower bound on the leaf's staircase, per invocation (occupancy) and as a function
        of the invocations (key, in totals): DRAM is at least the one-buffer curve of the leaf's
        streamed tensors at the same outer occupancy (the leaf's outer-level copies are a
        one-buffer mapping of it, :mod:`fused`'s leaf), and each inner level receives every word
        of each tensor it keeps at least once per invocation (inner levels start empty), and,
        with uniform placement, an output copy there reads its partial sums back at least once
        on every visit but the first over the run. The inner levels are the leaf arch's
        (``larch``): a tensor the tree holds in an inner level has no copy of the leaf's there
        or above it."""
        c = self._one_buffer_curve(sub, res)
        extra = 0 if sub.output.name in res else sub.tensor_size(sub.output)
        per = np.asarray(c.acc, dtype=np.int64) + extra
        inner = larch.on_chip[fusion_levels.tree_levels(larch) + 1:]
        words = [sum(sub.tensor_size(T) for T in sub.tensors if lv.keeps_tensor(sub, T))
                 for lv in inner]
        holds = [lv.keeps_tensor(sub, sub.output) and self.mapspace.placement != "per_tensor"
                 for lv in inner]
        tile = sub.tensor_size(sub.output)

        def key(n: int, whole_of: int) -> np.ndarray:
            floors = [n * w + (n * tile - whole_of if h else 0) for w, h in zip(words, holds)]
            out = np.empty((len(per), 1 + len(inner)), np.int64)
            out[:, 0] = n * per
            out[:, 1:] = floors
            return out
        return np.asarray(c.occ, dtype=np.int64), key

    def _one_buffer_curve(self, sub, res: frozenset):
        """The one-buffer curve of the leaf's streamed tensors, traced for its canonical form
        on one buffer (renamed sub-problems have the same curve); cached by the sub-problem,
        which leaves with other placements or rooms share."""
        key = (self._text(sub), sub.sizes, res)
        if key not in self._one:
            if self.canonical:
                form = canonical(sub, Arch("one", 8, (Level("DRAM"), Level("L", sweep=True))),
                                 res)
                sub, res = form.problem, form.resident
            self._one[key] = self.one_buffer.curve(sub, sub.size, res)
        return self._one[key]

    def _text(self, sub) -> str:
        """``str(sub)``, as :meth:`_leaf` kept it where it made ``sub``."""
        known = self._texts.get(id(sub))
        return known[1] if known is not None and known[0] is sub else str(sub)

    def refine(self, lz: "Lazy", capacity: int) -> bool:
        """Make the leaf exact at outer occupancy ``capacity``: the whole staircase where it is
        enumerated, else joint solves walking down from the next known breakpoint above (or the
        whole streamed tiles, past which nothing changes) until a sample covers ``capacity``,
        exact from that point's occupancy up to ``capacity``, and settled. False if nothing was
        learnt (it was known and settled already).

        Every solve asks for *any* point of the least key (``least_occupancy=False``): the
        stage that minimises the occupancy among the points of that key cost more than the
        rest of a solve on a100 attention's leaves (189 class MILPs against 102 for a 5-solve
        walk). A sample is *loose* (``Lazy.loose``) until the solve just below its occupancy
        ``o`` settles it: the least key at capacity ``o - 1`` differs from its key (or nothing
        fits there), so no point of its key has occupancy below ``o``, which is what "of least
        occupancy" means. The walk's next solve is that solve, so only the sample that ends a
        walk costs one more (:meth:`_settle`); a loose sample's key bounds the capacities below
        it without the step up that a settled one gives (:func:`_estimate`)."""
        if lz.full is not None or capacity <= lz.dead:
            return False
        if any(o <= capacity <= c for o, c, _ in lz.samples) and self._settle(lz, capacity) is None:
            return False
        began = time.perf_counter()
        try:
            if self._enumerated(lz.canon):
                lz.full = self.points(lz.canon)
                if self.store is not None:
                    self.store.save(lz)
                return True
            lz.declined = self._enums.get(lz.canon.key, ()) is None
            if lz.solver is None:
                lz.solver = self._solver(lz.canon)
            top = sum(lz.sub.tensor_size(T) for T in lz.sub.tensors if T.name not in lz.res)
            while True:
                if any(o <= capacity <= c for o, c, _ in lz.samples):
                    at = self._settle(lz, capacity)
                    if at is None:
                        break
                else:
                    # each solve finds a breakpoint, so a leaf costs at most its eager walk,
                    # and never creeps up one word at a time
                    above = [o for o, _, _ in lz.samples if o > capacity]
                    at = min(max(capacity, min(above) - 1 if above else top), top)
                if not self._solve_at(lz, at, top):
                    break
            if self.store is not None:
                self.store.save(lz)
            return True
        finally:
            self.seconds += time.perf_counter() - began

    def _solve_at(self, lz: "Lazy", at: int, top: int) -> bool:
        """One joint solve of the leaf at capacity ``at`` (any point of the least key), kept as
        a loose sample; every loose sample whose occupancy less one it covers with another key
        is settled, and every one at or just above a capacity found infeasible. False when
        nothing fits at ``at``."""
        point = lz.solver.joint(at, least_occupancy=False)
        self.solves += 1
        if point is None:
            lz.dead = max(lz.dead, at)
            for o, c in [s for s in lz.loose if s[0] - 1 <= lz.dead]:
                del lz.loose[(o, c)]
            return False
        self._check_resident(lz.sub, lz.canon.arch, [point.cost])
        names = tuple(lv.name for lv in lz.solver.arch.on_chip)
        m = LevelMapping(point.nest, point.copies, names)
        o = int(point.values[lz.solver.swept])
        c = EVER if at >= top else at
        key = tuple(int(v) for v in point.cost.key)
        for s, k in list(lz.loose.items()):
            if o <= s[0] - 1 <= c and k != key:
                del lz.loose[s]
        lz.samples.append((o, c, m))
        if o > 0:
            lz.loose[(o, c)] = key
        return True

    @staticmethod
    def _settle(lz: "Lazy", capacity: int) -> int | None:
        """The capacity whose solve settles the samples that answer ``capacity``, or None if
        they are settled: from the sample covering it, down through loose samples each followed,
        just below its occupancy, by a loose sample of the same key; the occupancy less one of
        the last loose one with no sample just below it. A loose sample with a sample of another
        key just below it (made earlier, so not compared when it came) is settled on the way."""
        s = next((o, c) for o, c, _ in lz.samples if o <= capacity <= c)
        while s in lz.loose:
            below = next(((o, c) for o, c, _ in lz.samples if o <= s[0] - 1 <= c), None)
            if below is None:
                return s[0] - 1
            if below not in lz.loose or lz.loose[below] != lz.loose[s]:
                if below in lz.loose:
                    del lz.loose[s]  # another key just below: s is where its key starts
                return None  # (a settled sample below: its own rule bounds what lies below)
            s = below
        return None

    def _enumerated(self, canon: Canon) -> bool:
        """Whether :meth:`_trace` enumerates this leaf. Per-tensor placement's enumerators
        say so only by trying (:meth:`_per_tensor_enumerated`, kept): a leaf they decline is
        walked lazily by the MILP like a uniform one (before, every such leaf was traced whole,
        its least-occupancy stage included, at every breakpoint)."""
        if self.method == "milp":
            return False
        if self.method == "enumerate":
            return True
        if self.mapspace.placement == "per_tensor":
            return self._per_tensor_enumerated(canon) is not None
        return work(canon.problem, _below_tree(canon.arch), LIMIT) <= LIMIT

    def _per_tensor_enumerated(self, canon: Canon) -> list | None:
        """The per-tensor staircase of the canonical leaf by enumeration (``method`` "auto":
        levelnest.py where it applies, else the depth-first enumerator within
        ``AUTO_PER_TENSOR`` nodes, not tried where :func:`joint.per_tensor_nodes_floor`
        already exceeds them, as in ``joint.solve``; "enumerate": the depth-first enumerator
        without that budget), or None where it declines; tried once per canonical leaf."""
        from .joint import AUTO_PER_TENSOR, per_tensor_nodes_floor

        if canon.key not in self._enums:
            sub, larch = canon.problem, canon.arch
            check_size(sub)
            points = None
            if self.method == "auto":
                found = levelnest.frontier(sub, larch)
                points = None if found is None else list(found)
            if points is None and self.method != "milp":
                limit = AUTO_PER_TENSOR if self.method == "auto" else 10**9
                if self.method != "auto" or per_tensor_nodes_floor(sub, larch, False,
                                                                    limit) <= limit:
                    try:
                        points = list(per_tensor_points(sub, larch, limit))
                    except EnumerationTooLarge:
                        if self.method == "enumerate":
                            raise
            self._enums[canon.key] = points
        return self._enums[canon.key]

    def _solver(self, canon: Canon):
        from .joint import LevelSolver, PlacementSolver

        check_size(canon.problem)
        if self.mapspace.placement != "per_tensor":
            return LevelSolver(canon.problem, canon.arch, self.solver)
        solver = PlacementSolver(canon.problem, canon.arch, self.solver)
        solver.relax = True  # floors from the leaf arch without its registers (joint.py)
        return solver

    def _check_resident(self, sub, larch: Arch, costs: list) -> None:
        """Every point fills each tree level exactly once (its capacity: the resident tiles
        whole), as the subtracted constant assumes."""
        held = [lv.capacity for lv in larch.on_chip[:fusion_levels.tree_levels(larch)]]
        if any(list(c.accesses[:len(held)]) != held for c in costs):
            raise SolverError(f"a staircase point of {sub} moves its resident tensors into "
                              f"a tree level more than once; the leaf curve would be wrong")

    def points(self, canon: Canon) -> list[LevelMapping]:
        """The canonical leaf's exact staircase (canonical names), traced once."""
        if canon.key not in self.traced:
            began = time.perf_counter()
            self.traced[canon.key] = self._trace(canon)
            self.seconds += time.perf_counter() - began
        return self.traced[canon.key]

    def _trace(self, canon: Canon) -> list[LevelMapping]:
        """The joint staircase of the leaf on its arch (joint.solve's routing: enumeration where
        small, else the MILP), each point checked to hold its resident tiles whole."""
        from .joint import LevelSolver, PlacementSolver

        sub, larch = canon.problem, canon.arch
        names = tuple(lv.name for lv in larch.on_chip)
        check_size(sub)
        points = None
        if self.mapspace.placement == "per_tensor":
            if self.method != "milp":
                points = self._per_tensor_enumerated(canon)
            if points is None:
                points = [(p.nest, p.cost, p.copies)
                          for p in PlacementSolver(sub, larch, self.solver).walk()]
        else:
            method = self.method
            if method == "auto":
                method = "enumerate" if work(sub, _below_tree(larch), LIMIT) <= LIMIT else "milp"
            if method == "enumerate":
                points = [(nest, c, None) for nest, c in _tree_whole_points(sub, larch)]
            else:
                points = [(p.nest, p.cost, None) for p in LevelSolver(sub, larch, self.solver).walk()]
        self._check_resident(sub, larch, [c for _, c, _ in points])
        return [LevelMapping(nest, cp, names) for nest, _, cp in points]


EVER = 2**62  # a sample's capacity past the whole streamed tiles: exact at every larger one


@dataclass(eq=False)
class Lazy:
    """One leaf's knowledge (:meth:`LeafCurves.state`): a lower-bound staircase (outer
    occupancy per invocation; key in totals as a function of the invocations and the whole
    output's size), exact samples ``(occupancy, capacity, mapping)`` (the joint bound's point at
    ``capacity``, of least occupancy), the largest capacity found infeasible, and the whole
    exact staircase once traced."""

    key: str
    canon: Canon
    revisited: bool
    bound: tuple
    samples: list = field(default_factory=list)
    dead: int = -1
    full: list | None = None
    solver: object = None
    loose: dict = field(default_factory=dict)  # (occupancy, capacity) -> key: not yet settled
    tight: bool = False  # leaf_tight: its lower bound is exact in DRAM
    declined: bool = False  # the per-tensor enumerator declined it (walked by the MILP)

    @property
    def sub(self):
        return self.canon.problem

    @property
    def res(self) -> frozenset:
        return self.canon.resident


def leaf_tight(larch: Arch, sub) -> bool:
    """Whether each inner level of a leaf arch below its outer level holds a word of every
    tensor of ``sub`` it keeps: then every outer-level tiling (with the loops above it) of the
    leaf is a nest of it, its inner levels at tiles of one element, so the leaf's least DRAM at
    each outer occupancy is the one-buffer curve of its streamed tensors, which its lazy lower
    bound (:meth:`LeafCurves._bound`) has as its DRAM column: the bound is exact in DRAM
    (PlacedSearch, Theorem 2)."""
    inner = larch.on_chip[fusion_levels.tree_levels(larch) + 1:]
    return all(lv.capacity is None or lv.capacity >= sum(
        1 for T in sub.tensors if lv.keeps_tensor(sub, T)) for lv in inner)


def dram_tight(workload: Workload, arch: Arch) -> bool:
    """:func:`leaf_tight` for every leaf of ``workload`` without placements (their leaf arch's
    inner levels are ``arch``'s, and a leaf has its Einsum's tensors)."""
    return all(lv.capacity is None or lv.capacity >= sum(
        1 for T in e.tensors if lv.keeps_tensor(e, T))
        for e in workload.einsums for lv in arch.on_chip[1:])


def _check_tight(key, lb_occ: np.ndarray, lb_dram: np.ndarray, exact: list) -> None:
    """Every exact part ``(occupancies, DRAM, capacity)`` of a :func:`leaf_tight` leaf has the
    lower bound's DRAM and feasibility at each of its occupancies (and, a sample, at its
    capacity; a whole staircase, at the bound's breakpoints too): SolverError otherwise, since
    PlacedSearch's DRAM front would then rest on a wrong column."""
    def at(occ, col, o):
        i = int(np.searchsorted(occ, o, side="right")) - 1
        return None if i < 0 else int(col[i])
    for occ, dram, cap in exact:
        points = set(occ.tolist())
        if cap is None:
            points |= {int(o) for o in lb_occ}
        elif cap < EVER:
            points.add(int(cap))
        for o in points:
            got = at(occ, dram, o) if cap is None else int(dram[0])
            if got != at(lb_occ, lb_dram, o):
                raise SolverError(f"leaf {key}: its exact DRAM {got} at outer occupancy {o} is "
                                  f"not its lower bound's {at(lb_occ, lb_dram, o)}; the "
                                  f"inner-placement search's DRAM front assumed they agree")


def _lex_max(a: tuple | None, b: tuple | None) -> tuple | None:
    if a is None:
        return b
    return a if b is None or a >= b else b


def _estimate(lb_occ: np.ndarray, lb_key: np.ndarray, samples: list, occ: list,
              keys: np.ndarray, dead: int, state_key, loose: frozenset = frozenset()
              ) -> tuple[Stairs, list]:
    """The leaf's staircase as known: at outer occupancy ``o`` the key is exact (a sample's)
    where a sample covers ``o`` (its occupancy <= o <= its capacity), else a lower bound:
    the larger of the bound staircase's and, for each sample whose capacity is at least ``o``,
    its key (the staircase falls) or, below the sample's occupancy, the next key above its key
    (the sample is of least occupancy among the points attaining the least key at its
    capacity, so every point below it is lexicographically worse), or its key itself for a
    sample in ``loose`` (``(occupancy, capacity)``: not known to be of least occupancy; the
    staircase falls, so no capacity below has a smaller key). Infeasible at or below
    ``dead``. Raises when a bound lies above an exact point (a wrong bound)."""
    cands = {int(o) for o in lb_occ} | {int(o) for o in occ}
    cands |= {c + 1 for _, c, _ in samples if c < EVER}
    lo = max(int(lb_occ[0]), dead + 1) if len(lb_occ) else dead + 1
    out_occ, out_key, out_tag, info = [], [], [], []
    for o in sorted(c for c in cands if c >= lo):
        i = int(np.searchsorted(lb_occ, o, side="right")) - 1
        if i < 0:
            continue
        lb = tuple(int(v) for v in lb_key[i])
        est, exact = lb, None
        for j, (o_j, c, _) in enumerate(samples):
            k = tuple(int(v) for v in keys[j])
            if occ[j] <= o <= c:
                if k < lb or (exact is not None and exact[1] != k):
                    raise SolverError(f"leaf {state_key}: an exact point {k} at outer "
                                      f"occupancy {o} lies below a bound {lb} or another "
                                      f"exact point; the lazy leaf curve would be wrong")
                exact = (j, k)
            elif c >= o:
                step = o < occ[j] and (o_j, c) not in loose
                est = _lex_max(est, k[:-1] + (k[-1] + 1,) if step else k)
        if exact is not None:
            info.append(("map", samples[exact[0]][2]))
            est = exact[1]
        else:
            info.append(("bound", state_key))
        out_occ.append(o)
        out_key.append(est)
        out_tag.append(len(info) - 1)
    if not out_occ:
        return None, info
    return stairs(out_occ, np.array(out_key, np.int64), out_tag), info


def _below_tree(larch: Arch) -> Arch:
    """A leaf arch without its tree levels (the leaf arch itself when nothing is resident)."""
    t = fusion_levels.tree_levels(larch)
    if not t:
        return larch
    return Arch(larch.name, larch.word_bits, (larch.levels[0], *larch.levels[1 + t:]))


def best_per_occupancy(sub, larch: Arch) -> dict:
    """Per outer occupancy, the lexicographically least ``(key, nest, cost)`` over the uniform
    nests of the leaf arch whose tree-level tiles are whole (:func:`_tree_whole_points`)."""
    from ..model.cost import Nest, evaluate_levels
    from ..reference.hierarchy import fits, nests

    base = _below_tree(larch)
    swept = larch.swept_index
    whole = tuple(sub.sizes)
    t = fusion_levels.tree_levels(larch)
    top = tuple((T, i) for i, lv in enumerate(larch.on_chip[:t], 1) for T in lv.keeps)
    best: dict = {}
    for nest in nests(sub, base, 10**9):
        if base is larch:
            full = nest
        else:  # every tree level whole on top, outermost first
            storage = top + tuple((T, b + t) for T, b in nest.storage)
            spatial = ((),) * t + nest.spatial if nest.spatial else ()
            full = Nest((whole,) * t + nest.levels, ((),) * t + nest.orders, storage, spatial)
        cost = evaluate_levels(sub, full, multicast=larch.multicast)
        if not fits(cost, larch):
            continue
        x = cost.occupancy[swept]
        if x not in best or cost.key < best[x][0]:
            best[x] = (cost.key, full, cost)
    return best


def _tree_whole_points(sub, larch: Arch) -> list:
    """The joint staircase of a leaf over the uniform nests whose tree-level tiles are whole
    (no loop above the tree level): every nest of the arch below the tree level, the tree level
    put on top. As exact as enumerating every nest of the leaf arch: loops above the tree level
    can move below it without raising any copy's fills (a loop over a rank the tree level also
    loops over below merges into that one, which only drops refetches of tensors without that
    rank; the others keep their order), the outer and inner tiles stay, and the tree level's
    fills fall to one per word. ``tests/test_fusion_levels.py`` checks it against the brute
    force over every nest."""
    from ..reference.hierarchy import lex_staircase

    if _below_tree(larch) is larch:
        return frontier_points(sub, larch, 10**9)
    best = best_per_occupancy(sub, larch)
    return [item for _, _, item in
            lex_staircase([(x, key, (full, cost)) for x, (key, full, cost) in best.items()])]


# ------------------------------------------------------------------ tree tiles in inner levels


@dataclass
class PlacedSearch(fused.TreeSearch):
    """:class:`fused.TreeSearch` over trees whose stored tensors may also live in an inner level
    (``Node.at``; docs/fusion.md, "Tree tiles in inner levels"). The search is the base one:
    its methods take the placements as parameters (``W``, ``F``, ``KA``; none is the trivial
    case) and ask this class's hooks (:meth:`assign`, :meth:`placed_const`,
    :meth:`placed_edge`, :meth:`room`, :meth:`floors`, :meth:`on_front`, :meth:`off_front`)
    for what placements add, all exact:

    * *the option*: wherever a node keeps a set ``K`` (:meth:`loop`, :meth:`segment`) every
      assignment of a level to each of its tensors, and wherever a node's body stores
      intermediates (:meth:`body`: those whose users all lie under the node) every assignment
      to each of them: the outer level only, or any inner level keeping the tensor for every
      Einsum under the node that uses it and with room for its tile;
    * *its constant*: a tensor placed in level ``l`` moves into ``l`` exactly its DRAM words
      (an input's fills; an output's writes and read-backs: ``2 w - |T|`` with ``w`` writes, so
      ``|T|`` less than its DRAM constant counts); an exported intermediate placed in ``l`` is
      written back once (``|X|`` words); an intermediate otherwise moves nothing into ``l``;
    * *state*: the placed resident tensors ``W`` (``(tensor, level index)``) and each inner
      level's room ``F`` the tree's live tiles leave, in every memo key; a child gets ``F``
      less the node's placed tiles live while it runs (a child with less than nothing left is
      infeasible), a leaf its leaf arch with ``W``'s tree levels and room ``F``;
    * *floors*: the loop skip keeps its DRAM and outer-occupancy bounds (placement changes
      neither) and adds one per inner level (:meth:`floors`: fixed tensors' leaf copies, the
      deepest level's moved tensors, and under a leaf-only body every leaf copy), checked at
      the default option's breakpoints on the DRAM front only (:meth:`reaching`);
    * *room*: a child left less room in a level than one word per leaf copy it must hold
      there is infeasible and not tried (:meth:`need`, :meth:`fits`).
    * *dominance*: a tensor's placements in the outer level only or above a level where the
      room cannot bind (and, below fanout, no level's room can) are not tried: the deeper
      placement is at least as good in every component (:meth:`settled`; ``dominance=False``
      tries them all).

    The lifting rule and leaf-only bodies by content (docs/fusion.md, "States that are one
    state") are not used here; the node's loop-rank flag is dropped as in the base search, and
    a child over a run that is not bridged is not tried (:meth:`fused.TreeSearch.bridged`: the
    split siblings keep the same placements, and store a subset of what the merged node does in
    every level, so they leave each child at least its room).

    *The DRAM front* (:meth:`on_front`, :meth:`off_front`; docs/fusion.md, "Tree tiles in
    inner levels"). ``base``, the search without placements over the same leaves, gives each
    state's least DRAM at every outer occupancy; a placed state keeps only the points that
    attain it, and a kept set whose default body cannot attain it anywhere is not tried.

    *Theorem 1 (placements never change the DRAM column)*, where :func:`dram_tight` holds
    (each inner level holds a word of each tensor it keeps for each Einsum). A placement changes
    no node's DRAM constant and no outer shift (the outer level stays inclusive), and a placed
    leaf's outer-level tiles with the loops above them, every inner level at tiles of one
    element, are a nest of the same leaf unplaced (it fits: the condition) with the same outer
    occupancy and DRAM words. So every placed tree has an unplaced twin of the same outer
    occupancy and DRAM, and placed DRAM is never below the default's, at every state; "no
    placement" is among the options, so at ``W = ()``, ``F`` whole, the DRAM columns are equal.
    (Without the condition it can fail: a tensor placed in a deeper level has no copy in a
    small one above it, so a placed leaf may fit where no unplaced one does. There the filter
    is off and the search is as before.)

    *Theorem 2 (only the DRAM front is needed).* Let ``T*`` be a lexicographically least
    placed tree at capacity ``c``; its DRAM is the default's least at ``c`` (Theorem 1). Every
    subtree ``t`` of ``T*`` (a leaf, a loop child, a node's body, a segment) attains, at its own
    outer occupancy ``o``, the least DRAM of the unplaced trees of its state: else the unplaced
    twin of ``T*`` with ``t`` replaced by such a tree at occupancy ``<= o`` and less DRAM is a
    default tree at capacity ``c`` (occupancy is monotone in each part, DRAM additive) with less
    DRAM than the least. So dropping every point of a placed state's staircase whose DRAM is
    above the default state's at its occupancy keeps, by induction over the tree, a point at or
    below every subtree of ``T*`` (a point composed from such points has DRAM at most the
    default's at the subtree's occupancy, hence at its own smaller one: it is kept). With lazy
    leaves the placed points are lower bounds, and the induction holds with "at or below ``T*``'s
    exact subtree": the filter needs the default's DRAM column *exact*, which it is eagerly, and
    lazily too under the same condition: every leaf's lower bound is then exact in DRAM (its DRAM
    column is the one-buffer curve of the streamed tensors, attained by the unit-tile extension
    above; :func:`_check_tight` re-checks it on every leaf made exact). A kept set ``K`` is skipped when the
    default loop with ``K`` (its DRAM, a lower bound on every placement of ``K``: Theorem 1) is
    above the default state's DRAM at each of its breakpoints, so at every occupancy.
    """

    front: bool | None = None  # the DRAM-front filter (None: wherever it is exact)
    dominance: bool = True  # placements dominated by a deeper one are not tried (settled)
    placing = True

    def own_rules(self) -> dict:
        """:meth:`fused.TreeSearch.like` with this search's placement rules (a renamed search
        has its own ``base`` over its workload: its DRAM front is its own workload's)."""
        return {"front": self.front, "dominance": self.dominance}

    def __post_init__(self) -> None:
        super().__post_init__()
        arch = self.curves.arch
        self.inner = arch.on_chip[1:]
        self.caps = tuple(lv.capacity for lv in self.inner)
        self.k = len(arch.on_chip)
        self._levels: dict = {}
        self._build_at: list = []
        # the default search over the same leaves: each state's exact DRAM column (Theorem 2)
        self.base = fused.TreeSearch(self.workload, self.curves, self.max_depth, self.split,
                                     share=self.share, lazy=self.lazy)
        if self.front is None:
            self.front = dram_tight(self.workload, arch)
        self.curves.tight_check = self.front and self.lazy
        self._segments: dict = {}
        self._rooms: dict = {}
        self.dropped = 0     # points off the DRAM front
        self.off = 0         # kept sets skipped: their default loop never reaches the front
        self.dominated = 0   # placements not tried: a deeper one dominates them (settled)

    # -- the DRAM front (Theorem 2) ------------------------------------------------------------
    def on_front(self, st, ds):
        """``st`` (a placed state's staircase) without the points whose DRAM is above ``ds``'s
        (the default state's) at their occupancy. A point below it, or where ``ds`` has none,
        contradicts Theorem 1: SolverError, never a silent curve."""
        if st is None or not self.front:
            return st
        i = np.full(len(st.occ), -1) if ds is None else ds.at(st.occ)
        least = np.where(i >= 0, ds.key[np.maximum(i, 0), 0] if ds is not None else 0, -1)
        if np.any((i < 0) | (st.key[:, 0] < least)):
            raise SolverError(f"a placed staircase lies below the default search's DRAM "
                              f"column ({st.key[:, 0].tolist()} at {st.occ.tolist()}); "
                              f"placements never lower DRAM")
        keep = st.key[:, 0] == least
        if keep.all():
            return st
        self.dropped += int((~keep).sum())
        if not keep.any():
            return None
        return Stairs(st.occ[keep], st.key[keep], st.tag[keep])

    def off_front(self, lb, const: int, ds) -> bool:
        """Whether the default option ``const + lb`` (a lower bound in DRAM on each placement of
        the option) is above ``ds``'s DRAM at each of its breakpoints: then at every occupancy
        (``ds`` never rises), and no placement of it attains the front."""
        return self.front and not self.reaching(lb, const, ds)

    def reaching(self, lb, const: int, ds) -> list[tuple[int, int]]:
        """The breakpoints ``(occupancy, DRAM)`` of the default option ``const + lb`` whose DRAM
        is the default state's ``ds`` at their occupancy: the only ones behind which a placed
        point of the option can be kept (:meth:`on_front`). A placed point of the option at
        occupancy ``p`` has DRAM at least ``const + lb`` at ``p`` (Theorem 1), the value of the
        last breakpoint ``(o, d)`` at or below ``p``; if ``d`` is above ``ds`` at ``o``, it is
        above ``ds`` at ``p`` too (``ds`` never rises), and the point is dropped. So the loop
        skip (:meth:`fused.TreeSearch.loop`) need only cover these; none: the option is off the
        front (:meth:`off_front`)."""
        if lb is None:
            return []  # no default tree of the option: no placed one (Theorem 1)
        i = ds.at(lb.occ)
        dram = const + lb.key[:, 0]
        on = (i >= 0) & (dram <= ds.key[np.maximum(i, 0), 0])
        return list(zip(lb.occ[on].tolist(), dram[on].tolist()))

    def room(self, x: int, y: int, S: tuple, F: tuple, W: tuple = ()) -> tuple:
        """``F`` with each level's room that cannot bind under Einsums ``x..y`` (tiles ``S``;
        ``W``: the resident tensors' levels) restored to the level's capacity, so that states
        differing only there are one state. Exact: at any time each tensor has at most one
        copy in a level (a tree tile placed there has no leaf copy at or above it; a tensor is
        stored by one node), of at most its tile under ``S``; a level ``l`` holds a copy of
        ``T`` only if it keeps ``T`` for one of the Einsums (a leaf's copy; a node places a
        tensor only where every user keeps it), and none of a resident tensor placed at ``l``
        or deeper (the tree holds it, its room already taken out of ``F``; no node below
        stores it again, and leaves keep no copy at or above its level). So a subtree never
        holds more than the sum ``U_l`` of the other tensors' tiles in level ``l`` (per
        instance, too); where ``F[l] >= U_l`` the room, and the capacity (at least ``F[l]``),
        never bind, and the subtree's mapspace and costs are the same."""
        if F == self.caps:
            return F
        key = (x, y, S, F, W)
        if key not in self._rooms:
            self._rooms[key] = tuple(c if f is not None and f >= u else f
                                     for f, c, u in zip(F, self.caps, self.use(x, y, S, W)))
        return self._rooms[key]

    def use(self, x: int, y: int, S: tuple, W: tuple) -> tuple[int, ...]:
        """Per inner level ``l``, the most words a subtree over Einsums ``x..y`` (tiles ``S``,
        resident tensors placed as ``W``) ever holds in ``l`` beside its ancestors' placed
        tiles: the sum of the tiles of its tensors that may have a copy there (:meth:`room`'s
        argument: at most one copy per tensor, no larger than its tile; none of a resident
        tensor placed at ``l`` or deeper)."""
        key = ("use", x, y, S, W)
        if key not in self._rooms:
            span = tuple(range(x, y + 1))
            deep = dict(W)
            self._rooms[key] = tuple(sum(self.fp(T, span, S) for T in self.run(x, y)[1]
                                         if deep.get(T, 0) < l and l in self.holds(T, span))
                                     for l in range(1, self.k))
        return self._rooms[key]

    def holds(self, T: str, span: tuple) -> frozenset:
        """The inner levels (indices into ``on_chip``) that keep ``T`` for some Einsum of
        ``span`` that uses it: the only ones that may ever hold a copy of it there."""
        key = ("holds", T, span)
        if key not in self._levels:
            es = [self.workload.einsums[i] for i in span]
            self._levels[key] = frozenset(
                l for l, lv in enumerate(self.inner, 1)
                if any(lv.keeps_tensor(e, t) for e in es for t in e.tensors if t.name == T))
        return self._levels[key]

    def default_segment(self, i: int, j: int):
        if (i, j) not in self._segments:
            self._segments[(i, j)] = self.base.segment(i, j)
        return self._segments[(i, j)]

    # -- options ---------------------------------------------------------------------------
    def levels(self, T: str, span: tuple) -> tuple[int, ...]:
        """The inner levels (indices into ``on_chip``) that keep ``T`` for every Einsum of
        ``span`` that uses it (``fusion_levels.check_placement``)."""
        key = (T, span)
        if key not in self._levels:
            es = [self.workload.einsums[i] for i in span]
            users = [e for e in es if any(t.name == T for t in e.tensors)]
            self._levels[key] = tuple(l for l, lv in enumerate(self.inner, 1)
                                      if all(lv.keeps_tensor(e, e.tensor(T)) for e in users))
        return self._levels[key]

    def assign(self, tensors, span: tuple, S: tuple, F: tuple, W: tuple = ()) -> list[tuple]:
        """Every placement of ``tensors`` (stored at a node over ``span``, tiles ``S``, the
        resident tensors placed as ``W``) that is not dominated (:meth:`settled`): per tensor
        the outer level only or an inner level with room ``F`` for its tile; each as the sorted
        ``((tensor, level index), ...)`` of the inner ones."""
        out = [()]
        free = self.settled(span[0], span[-1], S, F, W) if self.dominance else ()
        for T in tensors:
            tile = self.fp(T, span, S)
            opts = [l for l in self.levels(T, span) if F[l - 1] is None or tile <= F[l - 1]]
            deepest = max((l for l in opts if l in free), default=0)
            if deepest:  # the outer level only, or a level above ``deepest``: dominated
                self.dominated += len(out) * (1 + sum(1 for l in opts if l < deepest))
                out = [a + ((T, l),) for a in out for l in opts if l >= deepest]
            else:
                out = [a + ((T, l),) for a in out for l in opts] + out
        return [tuple(sorted(a)) for a in out]

    def settled(self, x: int, y: int, S: tuple, F: tuple, W: tuple) -> frozenset:
        """The inner levels ``l`` (indices into ``on_chip``) where placing a tensor stored at a
        node over Einsums ``x..y`` (tiles ``S``, room ``F``, resident placements ``W``)
        dominates keeping it in the outer level only or in any level above ``l``: with uniform
        placement, where ``F[l]`` is at least :meth:`use` (the room can never bind in ``l``,
        whatever the subtree places there) and, if a level down to ``l`` has fanout, so is
        every level's room from the first such level down.

        *Dominance.* Take a tree ``t0`` where the node stores ``T`` in the outer level only or
        in a level ``q < l`` (``l`` keeps ``T`` for every user: :meth:`levels`), and ``t1`` the
        same tree with ``T`` in ``l``, each nest of a leaf using ``T`` the same with the copies
        of ``T`` at or above ``l`` dropped (``q``'s tree copy, if any, too) and its fanout at
        the levels down to ``l`` dropped (the one-instance rule, :func:`fusion_levels.leaf_arch`:
        those levels get one instance; the deeper ones keep their fanout relative to ``l``).
        Nests hold global tiles (:class:`cost.Nest`): the temporal loops and every copy's
        fills are the same, and a fanout only multiplies a copy's traffic by its replicas
        (:func:`cost.replicas`, a product of fanout factors, each at least 1, that fewer
        fanouts never raise) and divides its instance tiles. Outer level and DRAM: the outer
        copy is inclusive and has no fanout above it: the same tiles and words. Levels below
        ``l``: the same copies of ``T``, filled as often (from the tree copy instead of
        ``l``'s), replicated no more. Levels above ``l``: ``t1`` holds and moves no word of
        ``T`` there. Level ``l``: ``t1`` moves into ``l`` the node's DRAM words of ``T`` (a
        kept tensor: its tile per iteration of the node where the loop indexes it, else per
        invocation; an output its writes and as many read-backs less ``|T|``), an
        intermediate nothing, or ``|X|`` written back once if exported; in ``t0`` every
        element of each such tile enters ``l`` at least once per node iteration (with uniform
        placement every leaf using ``T`` keeps a copy in ``l``, and the leaves under an
        iteration touch the whole tile), an output's copies write back at least as many words
        and read back all but the first time over the run, and an exported intermediate's
        writer copy writes back every word: at least as much. Every other tensor's copies are
        the same, replicated no more. Capacity: ``l`` never binds in either tree (``use``
        counts ``T``'s tile and every copy the subtree may hold there at once, in each
        instance; a deeper node's tiles are no larger), nor does any level whose instance
        tiles grow when fanout is dropped (the condition), and the levels above ``l`` hold
        less in ``t1``; the output's revisit restriction on fanout, set down to the last level
        holding a copy that feeds another, reaches no deeper in ``t1`` (its copies are a
        suffix of ``t0``'s). So ``t1``'s key is at most ``t0``'s at every component, at the
        same outer occupancy, and ``t1`` is among the options: every option of ``T`` above the
        deepest such ``l`` of its own options is dropped (the other tensors' options are kept:
        the argument holds whatever they are). With per-tensor placement a leaf may bypass
        ``l``, so ``t0`` may move less into it: no level is settled."""
        key = ("settled", x, y, S, F, W)
        if key not in self._rooms:
            out = frozenset()
            if self.curves.mapspace.placement != "per_tensor":
                use = self.use(x, y, S, W)
                loose = [f is None or f >= u for f, u in zip(F, use)]
                single = 0  # the inner levels down to which every level has one instance
                while single < self.k - 1 and self.inner[single].instances == 1:
                    single += 1
                fanned = all(loose[single:])  # every level from the first with fanout down
                out = frozenset(l for l in range(1, self.k)
                                if loose[l - 1] and (l <= single or fanned))
            self._rooms[key] = out
        return self._rooms[key]

    def placed_const(self, const: int, K: tuple, KA: tuple, tiles: dict, n: int, r, unit: int,
                     moved: dict) -> np.ndarray:
        """The node's key constant: ``const`` on DRAM, and the words its placed kept tensors
        move into their inner levels (as into L2)."""
        vec = np.zeros(self.k, np.int64)
        vec[0] = const
        w = self.workload
        for T, l in KA:
            wt, ranks = moved[T][0], moved[T][1]
            vec[l] += unit * wt * tiles[T] * (n if r is None or r in ranks else 1)
            if wt == 2:  # an output's first read is elided once over the run
                vec[l] -= w.tensor_size(T)
        return vec

    def placed_edge(self, seg, span: tuple, S: tuple, x: int, y: int, stored: tuple,
                    Rc: frozenset, where: dict, F: tuple, IA: tuple):
        """What a node over ``span`` (its tensors' levels ``where``; ``IA``: its intermediates')
        leaves its child ``x..y``: the placements of the child's resident tensors, each inner
        level's room less the node's placed tiles live while it runs (None: less than nothing
        left), and the words the child moves into inner levels on the node's behalf (an
        exported intermediate placed here is written back once, by its writer; None: none)."""
        room = list(F)
        vec = None
        ctx = self.context(*seg)
        for T in stored:
            l = where.get(T, 0)
            if not l:
                continue
            if room[l - 1] is not None:
                room[l - 1] -= self.fp(T, span, S)
                if room[l - 1] < 0:
                    return None, None, None
            if T in ctx.exported and x <= ctx.users[T][0] <= y and (T, l) in IA:
                if vec is None:
                    vec = np.zeros(self.k, np.int64)
                vec[l] += self.workload.tensor_size(T)
        Wc = tuple(sorted((T, where[T]) for T in Rc if where.get(T, 0)))
        if not self.fits(x, y, Rc, Wc, room):
            return None, None, None
        return Wc, tuple(room), vec

    def fits(self, x: int, y: int, R: frozenset, W: tuple, room) -> bool:
        """Whether ``room`` is at least :meth:`need` in every inner level (else no tree of
        the child fits)."""
        return all(f is None or f >= u for f, u in zip(room, self.need(x, y, R, W)))

    def need(self, x: int, y: int, R: frozenset, W: tuple) -> tuple[int, ...]:
        """Per inner level, words that every tree over Einsums ``x..y`` (``R`` resident from
        above, placed as ``W``) takes of the room its ancestors leave it, while some leaf
        runs: a child left less is infeasible (:meth:`placed_edge`). With uniform placement a
        leaf holds a copy of at least one word (per instance) of each tensor a level ``l``
        keeps for it at ``l``, except a tensor the tree holds at ``l`` or deeper (no copy at or
        above it, :func:`fusion_levels.leaf_arch`); a resident tensor is held where ``W``
        says (at ``l``: its tile is out of the room already); any other may be stored by a
        deeper node, placed at ``l`` (its tile, at least a word, out of the room while the
        leaf runs) or deeper (nothing at ``l``), only in a level keeping it for the leaf. So
        leaf ``i`` takes at least one word at ``l`` per tensor ``l`` keeps for it that is
        neither resident and held at ``l`` or deeper, nor non-resident with a deeper level
        keeping it for ``i``. With per-tensor placement (a leaf may skip a level): nothing."""
        key = ("need", x, y, R & self.run(x, y)[1], W)
        if key not in self._levels:
            out = [0] * (self.k - 1)
            if self.curves.mapspace.placement != "per_tensor":
                held = dict(W)
                for i in range(x, y + 1):
                    e = self.workload.einsums[i]
                    for l, lv in enumerate(self.inner, 1):
                        out[l - 1] = max(out[l - 1], sum(
                            1 for T in e.tensors if lv.keeps_tensor(e, T)
                            and not (held.get(T.name, 0) >= l if T.name in R
                                     else any(m > l for m in self.levels(T.name, (i,))))))
            self._levels[key] = tuple(out)
        return self._levels[key]

    def leaf_placement(self, W: tuple, F: tuple) -> tuple:
        """``curves.stairs``'s ``placed`` (level names) and ``free`` (None: every level's
        whole room) for a leaf with placements ``W`` and room ``F``."""
        names = [lv.name for lv in self.curves.arch.on_chip]
        return tuple((T, names[l]) for T, l in W), None if F == self.caps else F

    def floors(self, seg, x, y, S, R, K, W, KA, runs: int, moved: dict,
               leaves: bool = False, F: tuple | None = None) -> np.ndarray:
        """Lower bounds on the traffic into each inner level of a loop node's body over Einsums
        ``x..y`` (``runs`` invocations, tiles ``S``; ``R`` resident from above, ``W`` placed;
        ``K`` kept by the node, ``KA`` placed), besides the node's own placement constant:

        * a tensor fixed for the whole body (resident from above, or kept here) that a level
          ``l`` keeps for a leaf and that is placed above ``l`` or nowhere is filled into
          ``l`` at every invocation of that leaf, its whole tile under ``S`` over the leaf's
          invocations under one body invocation (inner levels start empty at each leaf
          invocation, and deeper loops only add invocations of smaller tiles): no deeper node
          can store it again, so nothing spares it;
        * the deepest inner level receives every moved tensor not kept here that it keeps for
          all its users at least once per body invocation (placed there by a deeper node, its
          DRAM words; placed above or nowhere, its leaves fill it; nothing lies deeper); one
          that is written, with uniform placement, twice less its size (placed there, its DRAM
          words are its writes, at least one per word of its tile per body invocation, and as
          many read-backs less ``|T|``; else each leaf copy there writes its partial sums back
          as often and reads them back all but the first time over the run);
        * anything else may be placed deeper by a deeper node, bypassing ``l``: 0.

        (Intermediates are never moved, so none is counted in the second rule.)

        ``leaves``: the body's children are its leaves (it is at ``max_depth``), so no deeper
        node stores anything and the first rule holds for every tensor of each leaf: a moved
        tensor not kept here is streamed by the leaves, which copy it into every level keeping
        it; an intermediate the node stores may be placed in a level ``q`` of
        :meth:`levels` with room ``F`` for its tile (the body's choice, :meth:`assign` on the
        body's room; ``F`` None: any), so only levels below the deepest such ``q`` count it
        (placed at ``q``, the leaves copy it into levels below ``q``; placed nowhere, into
        all). A leaf's copy of its output also reads the partial sums back all but the first
        time over the run, with uniform placement (the lazy bound's rule, docs/fusion.md)."""
        key = ("floors", self.signature(seg, x, y), x, y, S, R & self.run(x, y)[1], K, W, KA,
               runs, leaves, F)  # (``moved`` is fixed by the signature, the run and R)
        if key not in self._levels:
            self._levels[key] = self._floors(x, y, S, R, K, W, KA, runs, moved, leaves, F)
        return self._levels[key]

    def _floors(self, x, y, S, R, K, W, KA, runs: int, moved: dict, leaves: bool,
                F: tuple | None) -> np.ndarray:
        where = dict(W) | dict(KA)
        fixed = (R & self.run(x, y)[1]) | frozenset(K)
        out = np.zeros(self.k, np.int64)
        sp = tuple(range(x, y + 1))
        uniform = self.curves.mapspace.placement != "per_tensor"
        room = None  # the body's room, where an intermediate's options ask for it
        for i in range(x, y + 1):
            e = self.workload.einsums[i]
            for T in e.tensors:
                if T.name in fixed:
                    p = where.get(T.name, 0)
                elif not leaves:
                    continue
                elif T.name in moved:
                    p = 0
                else:  # an intermediate this node stores, placed by the body
                    if room is None:
                        room = F if F is None else self.room(
                            x, y, S, F, tuple(sorted(a for a in W if a[0] in R)))
                    p = max((q for q in self.levels(T.name, sp) if room is None
                             or room[q - 1] is None or self.fp(T.name, sp, S) <= room[q - 1]),
                            default=0)
                words = None
                for l in range(p + 1, self.k):
                    if self.inner[l - 1].keeps_tensor(e, T):
                        if words is None:
                            words = runs * self.fp(T.name, (i,), S)
                            if T.name == e.output.name and uniform:  # partial sums read back
                                words += words - self.workload.tensor_size(T.name)
                        out[l] += words
        if not leaves:  # (with leaves, the first rule counts these per leaf already)
            for T, (wt, _, _, agree) in moved.items():
                if T not in K and agree and self.k - 1 in self.levels(T, sp):
                    words = runs * self.fp(T, sp, S)
                    if wt == 2 and uniform:
                        words += words - self.workload.tensor_size(T)
                    out[self.k - 1] += words
        return out[1:]


# ------------------------------------------------------------------------------------ workloads

@dataclass
class HierSolution:
    workload: Workload
    arch: Arch
    frontier: Stairs
    search: fused.TreeSearch
    seconds: float = 0.0

    def schedule(self, capacity: int) -> Schedule:
        i = int(self.frontier.at(capacity))
        if i < 0:
            raise BoundsolverError(f"capacity {capacity} is below the least occupancy")
        return Schedule(tuple(self.search.build(self.frontier, int(self.frontier.occ[i]))))

    def key(self, capacity: int) -> tuple[int, ...]:
        return tuple(int(v) for v in self.frontier.key[self.frontier.at(capacity)])


def solve_workload(workload: Workload, arch: Arch, fusion_on: bool = True,
                   mapspace: Mapspace | str | None = None, method: str = DEFAULT,
                   solver: str = "highs", max_depth: int = 3,
                   split_ranks: bool = False, capacities: list[int] | None = None,
                   lazy: bool = True, cache=None, canonical: bool = True,
                   inner_storage: bool | None = None,
                   translate: bool | None = None) -> HierSolution:
    """The exact lexicographic frontier over fused schedules on ``arch`` (or unfused ones:
    every Einsum alone, its own segment): every run of Einsums as a segment, combined with the
    best cuts of the same run. With ``capacities`` the frontier is exact at those capacities
    (elsewhere it may be a lower bound); without, at every breakpoint. ``mapspace`` None: the
    hierarchy's default (:func:`joint.hierarchy_mapspace`, per-tensor), as ``bs.*`` use.

    ``lazy`` (docs/fusion.md, "Lazy leaves"): leaves start as lower bounds and are made exact
    only where the best trees at the capacities asked for use them, and the search is repeated
    (reusing every memo entry that no refined leaf entered) until those trees use exact leaves
    only. The search over bounds is a lower bound at every capacity, and a tree of exact leaves
    attaining it is optimal.

    ``canonical``: leaves equal up to renaming share one staircase (:mod:`fused_leaves`).
    ``cache`` (lazy only): a :class:`cache.Cache`, or True for the default one, that keeps
    every lazy leaf's exact samples across runs; None or False: none.
    ``inner_storage``: the tree's stored tensors may also live in inner levels
    (:class:`PlacedSearch`; docs/fusion.md, "Tree tiles in inner levels"). None (the default):
    on wherever ``arch`` has a level inside the outer one, because a real mapping keeping a
    tile there across leaf invocations (FlashAttention's running output) beats the curve
    without them; True: on, refused on an arch with no inner level; False: the older, smaller
    mapspace (every tree tensor in the outer level), cheaper on tiny cases.
    ``translate``: each segment also tries its translated loops, as on one buffer
    (:meth:`fused.TreeSearch.with_translations`; docs/fusion.md, "Translated loops"): None (the
    default) wherever they are modelled (:func:`translations_modelled`), True there (refused
    elsewhere), False the mapspace without them."""
    method = check_method(method)
    fused.check_translate(translate)
    modelled = translations_modelled(arch)
    if translate and fusion_on and not modelled:
        raise BoundsolverError(f"translate=True: translated loops are modelled on hierarchies "
                               f"whose levels may split any rank across instances, not on "
                               f"{arch.name} (a level names spatial_ranks, and a renamed rank "
                               f"would lose or gain its splits); translate=None searches them "
                               f"where modelled")
    translate = bool(fusion_on and (modelled if translate is None else translate))
    fusion_levels.check_arch(workload, arch)
    if isinstance(max_depth, bool) or not isinstance(max_depth, int) or max_depth < 0:
        raise BoundsolverError(f"max_depth (loops nested in a fused tree) must be an integer >= 0, "
                               f"got {max_depth!r}")
    for e in workload.einsums:
        check_size(e)
    began = time.perf_counter()
    ms = hierarchy_mapspace(mapspace)
    curves = LeafCurves(arch, ms, method, solver, canonical=canonical,
                        store=_store(cache, lazy, arch, ms, method, solver))
    kind = PlacedSearch if _inner_storage(inner_storage, arch) else fused.TreeSearch
    search = kind(workload, curves, max_depth if fusion_on else 0, split_ranks, lazy=lazy,
                  translate=translate)
    front = search.solve(fusion_on, capacities)
    if front is None:
        raise BoundsolverError(f"no schedule of {workload.name or 'the workload'} fits the fixed "
                               f"levels of {arch.name}")
    return HierSolution(workload, arch, front, search, time.perf_counter() - began)


def translations_modelled(arch: Arch) -> bool:
    """Whether translated loops are modelled on ``arch``: a translated tree costs what the
    renamed workload's untranslated tree does (:func:`fusion_levels.evaluate` cuts in each
    Einsum the rank a loop binds there), and its leaves are their renamed leaves as long as no
    level's mapspace depends on rank names: no level names ``spatial_ranks`` (a leaf arch's own
    restriction, to output ranks where revisited, is the sub-problem's, renamed with it)."""
    return all(lv.spatial_ranks is None for lv in arch.on_chip)


def _inner_storage(inner_storage: bool | None, arch: Arch) -> bool:
    """Whether the search places tree tensors in inner levels: None (the default) means
    wherever ``arch`` has an inner level; True where it has none is refused, never ignored."""
    if inner_storage is not None and not isinstance(inner_storage, bool):
        raise BoundsolverError(f"inner_storage must be None, True or False, got {inner_storage!r}")
    inner = len(arch.on_chip) >= 2
    if inner_storage and not inner:
        raise BoundsolverError(f"inner_storage places tree tiles in inner levels; {arch.name} "
                               f"has none below {arch.on_chip[0].name}")
    return inner if inner_storage is None else inner_storage


def _store(cache, lazy: bool, arch: Arch, mapspace: Mapspace, method: str, solver: str):
    """The leaf store ``cache`` asks for (None: none); refused for the eager search, which
    keeps no samples."""
    if cache is None or cache is False:
        return None
    if not lazy:
        raise BoundsolverError("cache keeps lazy leaves' samples: it does not apply to "
                               "lazy=False (leaves traced whole)")
    from .cache import Cache

    if cache is True:
        cache = Cache()
    if not isinstance(cache, Cache):
        raise BoundsolverError(f"cache must be True, False, None or a bs.Cache, got {cache!r}")
    return LeafStore(cache, arch, mapspace, method, solver)


def _row(sol: HierSolution, capacity: int) -> dict:
    """The verified row answering ``capacity``: the schedule rebuilt and re-costed in integers
    must reproduce the claimed key and fit every level."""
    w, arch = sol.workload, sol.arch
    schedule = sol.schedule(capacity)
    cost = fusion_levels.evaluate(w, schedule, arch)
    claimed = sol.key(capacity)
    got = (cost.dram, *cost.accesses[1:])
    fixed = [lv.capacity for lv in arch.on_chip]
    over = [lv.name for lv, o, c in zip(arch.on_chip, cost.occupancy, [capacity] + fixed[1:])
            if c is not None and o > c]
    if got != claimed or over:
        raise SolverError(f"the schedule behind {claimed} at capacity {capacity} of "
                          f"{w.name} on {arch.name} evaluates to {got}, occupancy "
                          f"{cost.occupancy}: {schedule.describe(w)}")
    ops = sum(2 * e.macs - e.tensor_size(e.output) for e in w.einsums)
    row = {"occupancy": cost.occupancy[0], "accesses": cost.dram, "status": "optimal",
           "op_intensity": ops / cost.dram, "fused": schedule.fused,
           "segments": " | ".join("+".join(s.einsums()) for s in schedule.segments)}
    for lv, occ, acc in zip(arch.on_chip, cost.occupancy, cost.accesses):
        row[f"occupancy_{lv.name}"] = occ
        row[f"accesses_{lv.name}"] = acc
    row |= {f"reads_{n}": v for n, v in cost.reads}
    row |= {f"writes_{n}": v for n, v in cost.writes}
    for n, sub, m in fusion.leaves(w, schedule):
        row[f"mapping_{n}"] = m.describe(sub)
    row["schedule"] = schedule.describe(w)
    row["tree"] = fusion_levels.tree(w, schedule, arch)
    return row


def _frame(sol: HierSolution, rows: list[dict], fusion_on: bool, mapspace) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    for c in df.columns:
        if c == "capacity" or c.startswith(("occupancy", "accesses", "reads_", "writes_")):
            df[c] = df[c].astype("Int64")
    w, arch = sol.workload, sol.arch
    df.attrs |= {"problem": str(w), "name": w.name, "unit": "words", "arch": arch.name,
                 "levels": [lv.name for lv in arch.levels], "fusion": fusion_on,
                 "mapspace": str(hierarchy_mapspace(mapspace)), "seconds": sol.seconds,
                 "traced": len(sol.search.curves.traced),
                 "trace_seconds": sol.search.curves.seconds, "structures": sol.search.nodes,
                 "leaf_solves": sol.search.curves.solves, "rounds": sol.search.rounds,
                 "samples_loaded": sol.search.curves.loaded,
                 "inner_storage": isinstance(sol.search, PlacedSearch),
                 "translate": sol.search.translate,
                 "objective": "lexicographic: backing-store traffic, then each level inwards; "
                              "fused loop trees in the outer level (docs/fusion.md)"}
    return df


def workload_frontier(workload: Workload, arch: Arch, fusion_on: bool = True, solver="highs",
                      mapspace=None, method: str = DEFAULT, max_depth: int = 3,
                      inner_storage: bool | None = None,
                      translate: bool | None = None) -> pd.DataFrame:
    """Every breakpoint of the lexicographic staircase over the outer level's capacity
    (``inner_storage``, ``translate``: :func:`solve_workload`'s)."""
    sol = solve_workload(workload, arch, fusion_on, mapspace, method, solver, max_depth,
                         inner_storage=inner_storage, translate=translate)
    rows = [_row(sol, int(o)) for o in sol.frontier.occ]
    return _frame(sol, rows, fusion_on, mapspace)


def workload_curve(workload: Workload, arch: Arch, capacities: list[int], fusion_on: bool = True,
                   solver="highs", mapspace=None, method: str = DEFAULT,
                   max_depth: int = 3, lazy: bool = True, cache=None,
                   inner_storage: bool | None = None,
                   translate: bool | None = None) -> pd.DataFrame:
    """The least key at each capacity of the outer level; ``infeasible`` below the least
    occupancy (``lazy``, ``cache``, ``inner_storage``, ``translate``: :func:`solve_workload`'s)."""
    sol = solve_workload(workload, arch, fusion_on, mapspace, method, solver, max_depth,
                         capacities=capacities, lazy=lazy, cache=cache,
                         inner_storage=inner_storage, translate=translate)
    rows = [{"capacity": c} | (_row(sol, c) if sol.frontier.at(c) >= 0
                               else {"status": "infeasible"}) for c in capacities]
    df = _frame(sol, rows, fusion_on, mapspace)
    return df[["capacity"] + [c for c in df.columns if c != "capacity"]]


def solve(workload: Workload, arch: Arch, capacities: list[int] | None = None,
          method: str = DEFAULT, solver: str = "highs", mapspace=None,
          max_depth: int = 3, inner_storage: bool | None = None,
          translate: bool | None = None) -> pd.DataFrame:
    """The fused frontier (``capacities=None``) or curve on ``arch`` (solve.py's entry)."""
    if capacities is None:
        return workload_frontier(workload, arch, True, solver, mapspace, method, max_depth,
                                 inner_storage, translate)
    return workload_curve(workload, arch, capacities, True, solver, mapspace, method, max_depth,
                          inner_storage=inner_storage, translate=translate)


__all__ = ["solve", "HierSolution", "LeafCurves", "Stairs", "solve_workload",
           "workload_curve", "workload_frontier"]
