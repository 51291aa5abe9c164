"""Exact fused and unfused frontiers of a workload (docs/fusion.md, 'Solving').

A segment is a loop tree (:mod:`fusion`). What a subtree costs depends only on its run of
Einsums, the tiles its ancestors leave and which tensors are resident for it; what its parent
stores while it runs only raises its occupancy. So the best way to run a run of Einsums as the
children of one node is a dynamic program over where each child ends, in exact staircase
arithmetic over the per-Einsum curves of the leaves' *reduced* sub-problems (resident tensors
left out), each traced once per distinct shape by enumeration or the MILP. The workload's curve
is the best cut into segments. Every reported point's tree is rebuilt and re-costed in integers.
"""

from __future__ import annotations

import gc
import math
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from functools import cached_property, partial
from bisect import bisect_left, bisect_right
from itertools import accumulate, chain, combinations, permutations
from operator import itemgetter
from typing import NamedTuple
from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import BoundsolverError, EnumerationTooLarge, SolverError
from ..model import fusion
from ..model.cost import Mapping, Nest, check_size
from ..model.einsum import Axis, Einsum, Tensor, Term
from ..model.fusion import Schedule, expand, reduced, subsets, whole_mapping
from ..model.mapspace import Mapspace, divisors, mapspace_of, tile_sizes
from ..model.workload import Workload
from ..reference.fastnest import staircase
from .fused_leaves import rename_nest
from .methods import DEFAULT, check_method, choose_method, enumeration
from .points import PointSolver, walk


# ------------------------------------------------------------------------------------- staircases

@dataclass(frozen=True)
class Staircase:
    """Breakpoints (occupancy ascending, accesses strictly descending) and what attains each."""

    occ: np.ndarray
    acc: np.ndarray
    tag: np.ndarray  # an index into the owner's list of provenances

    def at(self, capacity) -> np.ndarray:
        """Index of the breakpoint that answers each capacity (-1: infeasible)."""
        return self.occ.searchsorted(capacity, side="right") - 1


# ---------------------------------------------------------------------------- per-Einsum curves

@dataclass(frozen=True)
class Curve:
    """One Einsum's streamed (occupancy, traffic) staircase for one set of tiles and resident set;
    the sub-problem, and the mapping of it behind a point, are built only when asked for (most
    points of most leaves never reach a reported breakpoint). ``traced`` is the staircase of
    the traced problem: the reduced problem renamed by ``ranks`` and ``tensors`` (its names to
    the reduced problem's; None: traced under the reduced problem's own names)."""

    occ: np.ndarray
    acc: np.ndarray
    traced: "_Traced | None"
    einsum: Einsum
    tiles: dict
    names: dict
    ranks: dict | None = None
    tensors: dict | None = None

    @cached_property
    def sub(self) -> Einsum:
        return fusion.sub_problem(self.einsum, self.tiles)

    def mapping(self, i: int) -> Mapping | Nest:
        if self.traced is None:
            return whole_mapping(self.sub)
        m = self.traced.mapping(i)
        if self.ranks is not None:
            m = _renamed(m, self.ranks, self.tensors)
        return expand(m, self.sub, self.names)


def _renamed(m: Mapping | Nest, ranks: dict, tensors: dict) -> Mapping | Nest:
    """A mapping of one problem as the same mapping of the problem under other names."""
    if isinstance(m, Mapping):
        return Mapping(tuple((ranks[d], v) for d, v in m.tiles), tuple(ranks[d] for d in m.order))
    if isinstance(m, Nest):
        return rename_nest(m, ranks, tensors)
    return replace(m, nest=rename_nest(m.nest, ranks, tensors))  # a hierarchy's LevelMapping


class _Traced(NamedTuple):
    """A traced problem's staircase: occupancies and accesses (ints, occupancy ascending) and
    the mapping behind each point, built (and re-costed) only when a tree is rebuilt through it:
    ``points`` holds them where the tracer built them all, else ``fast`` (a
    :class:`fastnest.Staircase`) builds one when asked."""

    occ: list
    acc: list
    points: list | None = None
    fast: object = None

    def mapping(self, i: int) -> Mapping | Nest:
        return self.points[i][0] if self.points is not None else self.fast.point(i)[0]


def _points(points: list) -> _Traced:
    """A staircase whose tracer built every point's mapping and cost."""
    return _Traced([c.occupancy for _, c in points], [c.accesses for _, c in points], points)


class _Shape(NamedTuple):
    """What a leaf's reduced problem is, apart from its sizes (one per Einsum and resident set):
    its text, the ranks whose tiles are its sizes (in its order), the renaming of its tensors
    back to the Einsum's, and its stand-in words (:func:`fusion.reduced`)."""

    text: str
    ranks: tuple
    names: dict
    dummies: int
    # canonical_key's inputs and output, and the reduced problem's rank order where a tile cuts
    # a rank of the Einsum and where none does (fusion.sub_problem orders ranks by first
    # appearance when it cuts); None where the form is not shared (a window, ``renamed`` off)
    form: tuple | None = None


def canonical_form(red: Einsum) -> tuple | None:
    """The canonical form of a reduced problem up to the names of its ranks and the order of its
    inputs and of each tensor's axes: ``(key, problem, ranks, tensors)``, the problem built from
    the key alone (tensors ``T0..`` and ``O``, ranks ``r0..``), and the renamings of its ranks
    and tensors into ``red``'s. None where an axis is not a plain rank (a window keeps its own
    names).

    Why it is exact: on one buffer a mapping's occupancy and traffic depend on the sizes of the
    ranks, which ranks each tensor uses, and which tensor is the output (tile footprints are
    products over a tensor's axes, in any order); the renaming maps ``red`` onto the canonical
    problem preserving all three, so it maps ``red``'s mapspace onto the canonical one cost for
    cost, and the two staircases are equal. Equal keys build equal canonical problems, so one
    trace serves every reduced problem with that key (the same canonical form as
    :func:`fused_leaves.canonical`'s on one buffer, without building an arch per form)."""
    if not all(a.is_plain for T in red.tensors for a in T.axes):
        return None
    key, names, rorder = canonical_key(tuple((T.name, T.ranks) for T in red.inputs),
                                       (red.output.name, red.output.ranks), red.sizes)
    return key, canonical_problem(key), *canonical_names(names, rorder)


def canonical_key(inputs: tuple, output: tuple, sizes) -> tuple:
    """:func:`canonical_form`'s key from what it depends on alone: the inputs and the output as
    ``(name, ranks)`` (in the problem's order) and the sizes ``(rank, n)`` (in the problem's
    order: ties between interchangeable ranks keep it); with the tensors' names in the
    canonical order and the ranks in theirs. No Einsum is built (the search asks for a key
    per leaf shape and tile, and traces only the new ones)."""
    best = None
    seen = set()  # orders of inputs that use the same ranks give the same key: the first kept
    kinds = [frozenset(T[1]) for T in inputs]
    for order in permutations(range(len(inputs))):
        kind = tuple([kinds[i] for i in order])
        if kind in seen:
            continue
        seen.add(kind)
        ts = [inputs[i] for i in order] + [output]
        sets = [set(T[1]) for T in ts]
        sig = {d: (n, tuple(d in s for s in sets)) for d, n in sizes}
        rorder = sorted(sig, key=sig.__getitem__)
        idx = {d: i for i, d in enumerate(rorder)}
        key = (tuple(tuple(sorted(idx[r] for r in s)) for s in sets),
               tuple(sig[d][0] for d in rorder))
        if best is None or key < best[0]:
            best = (key, [T[0] for T in ts], rorder)
    return best


def without_unit_ranks(inputs: tuple, output: tuple, sizes: list) -> tuple:
    """:func:`canonical_key`'s inputs less the ranks of size 1 (a leaf whose tile of a rank is
    1), unless every rank has size 1: so leaves that differ only by such ranks share a trace.

    Why it is exact: a rank of size 1 has one tile and one iteration, so it multiplies every
    footprint and every count of reloads by 1, and where its (one-iteration) loop stands in a
    nest changes no cost; the problem without it has the same mappings, each with the same
    occupancy and traffic, and so the same staircase. A traced mapping, renamed back, lacks the
    rank: :func:`fusion.expand` gives it its size in the sub-problem, its tile, 1."""
    if all(n > 1 for _, n in sizes) or all(n == 1 for _, n in sizes):
        return inputs, output, sizes
    unit = {r for r, n in sizes if n == 1}
    drop = lambda ranks: tuple(r for r in ranks if r not in unit)  # noqa: E731
    return (tuple((T, drop(ranks)) for T, ranks in inputs), (output[0], drop(output[1])),
            [(r, n) for r, n in sizes if n > 1])


def canonical_problem(key: tuple) -> Einsum:
    """The canonical problem of a key (tensors ``T0..`` and ``O``, ranks ``r0..``)."""
    axes, sizes = key
    names = [f"T{k}" for k in range(len(axes) - 1)] + ["O"]
    tensors = [Tensor(n, tuple(Axis((Term(f"r{i}"),)) for i in ax)) for n, ax in zip(names, axes)]
    return Einsum(tensors[-1], tuple(tensors[:-1]),
                  tuple((f"r{i}", n) for i, n in enumerate(sizes)), "leaf")


def canonical_names(names: list, rorder: list) -> tuple[dict, dict]:
    """The renamings of a canonical problem's ranks and tensors into the problem's."""
    canon = [f"T{k}" for k in range(len(names) - 1)] + ["O"]
    return {f"r{i}": d for i, d in enumerate(rorder)}, dict(zip(canon, names))


@dataclass
class Curves:
    """Per-Einsum curves, each reduced shape traced once (by the MILP or by enumeration).

    A leaf's reduced problem is fixed by its Einsum, the resident tensors and the tiles of the
    ranks it keeps: its key is built from those (:class:`_Shape`, once per Einsum and resident
    set) without building the sub-problem. With ``renamed`` (the default), reduced problems that
    differ only by names and orders share the trace of their canonical form
    (:func:`canonical_form`), its mappings renamed back when a tree is rebuilt;
    ``renamed=False`` (tests) traces each reduced problem itself."""

    mapspace: Mapspace
    method: str = DEFAULT
    solver: str = "highs"
    traced: dict = field(default_factory=dict)  # the traced problems' staircases, by key
    seconds: float = 0.0
    renamed: bool = True
    # Ranks of size 1 left out of the traced problem (:func:`without_unit_ranks`); off only in
    # the tests that check it changes no curve.
    unit_ranks: bool = True
    _shapes: dict = field(default_factory=dict)
    _keys: dict = field(default_factory=dict)  # reduced problem -> (staircase, renamings, occ, acc)

    def curve(self, e: Einsum, tiles: dict[str, int], resident: frozenset[str]) -> Curve:
        shape = self._shape(e, resident)
        if shape is None:
            return Curve(np.zeros(1, np.int64), np.zeros(1, np.int64), None, e, tiles, {})
        key = (shape.text, tuple([(r, tiles[r]) for r in shape.ranks]), shape.dummies)
        try:
            traced, ranks, tensors, occ, acc = self._keys[key]
        except KeyError:
            if shape.form is None:
                red, _, _ = reduced(fusion.sub_problem(e, tiles), resident)
                traced, ranks, tensors = self._traced(red)
            else:
                traced, ranks, tensors = self._canonical(e, tiles, shape.form)
            occ = np.array(traced.occ, dtype=np.int64) - shape.dummies
            acc = np.array(traced.acc, dtype=np.int64) - shape.dummies
            self._keys[key] = traced, ranks, tensors, occ, acc
        return Curve(occ, acc, traced, e, tiles, shape.names, ranks, tensors)

    def _canonical(self, e: Einsum, tiles: dict, form: tuple) -> tuple:
        """:meth:`_traced` of the reduced problem of ``e`` under ``tiles`` without building it:
        its canonical key from the shape's ``form`` and the tiles (the reduced problem has the
        shape's tensors, and the tiles as its sizes in the order ``sub_problem`` gives them:
        the same key and renamings as :func:`canonical_form` of it)."""
        inputs, output, cut_order, whole_order = form
        order = cut_order if any(tiles[r] != n for r, n in e.sizes) else whole_order
        sizes = [(r, tiles[r]) for r in order]
        if self.unit_ranks:
            inputs, output, sizes = without_unit_ranks(inputs, output, sizes)
        key, names, rorder = canonical_key(inputs, output, sizes)
        if key not in self.traced:
            self._timed(key, canonical_problem(key))
        return (self.traced[key], *canonical_names(names, rorder))

    def _shape(self, e: Einsum, resident: frozenset) -> _Shape | None:
        """``e``'s reduced shape with ``resident`` (None: nothing streams), by identity of
        ``e`` (kept alive beside its entry, so that its id is not reused)."""
        try:
            held, shape = self._shapes[(id(e), resident)]
            if held is e:
                return shape
        except KeyError:
            pass
        red, names, dummies = reduced(e, resident)
        shape = None if red is None else _Shape(str(red), red.ranks, names, dummies,
                                                self._form(e, red))
        self._shapes[(id(e), resident)] = (e, shape)
        return shape

    def _form(self, e: Einsum, red: Einsum) -> tuple | None:
        """:attr:`_Shape.form` of ``e``'s reduced problem ``red`` (at ``e``'s sizes)."""
        if not self.renamed or not all(a.is_plain for T in red.tensors for a in T.axes):
            return None
        used = set(red.ranks)
        first = list(dict.fromkeys(r for T in e.tensors for r in T.ranks))
        return (tuple((T.name, T.ranks) for T in red.inputs), (red.output.name, red.output.ranks),
                tuple(r for r in first if r in used), tuple(r for r in e.ranks if r in used))

    def _traced(self, red: Einsum) -> tuple:
        """The staircase of ``red``, and the renamings of the traced problem's ranks and tensors
        into ``red``'s (None: ``red`` itself was traced)."""
        form = canonical_form(red) if self.renamed else None
        if form is None:
            key = (str(red), red.sizes)
            if key not in self.traced:
                self._timed(key, red)
            return self.traced[key], None, None
        key, problem, ranks, tensors = form
        if key not in self.traced:
            self._timed(key, problem)
        return self.traced[key], ranks, tensors

    def _timed(self, key, problem: Einsum) -> None:
        began = time.perf_counter()
        self.traced[key] = self._trace(problem)
        self.seconds += time.perf_counter() - began

    def _trace(self, problem: Einsum) -> _Traced:
        """The sub-problem's staircase by the method :func:`choose_method` picks for it (the
        same choice as a single Einsum's: methods.py); where the nest mapspaces' fast path
        enumerates it, its mappings are built only when asked for."""
        if choose_method(problem, self.mapspace, self.method) == "enumerate":
            if not self.mapspace.is_orojenesis:
                fast = staircase(problem, self.mapspace)
                if fast is not None:
                    return _Traced(fast.occ, fast.acc, None, fast)
            try:
                return _points(enumeration(problem, self.mapspace))
            except EnumerationTooLarge:
                if self.method == "enumerate":
                    raise
        from ..model.results import Status

        answers = walk(PointSolver(problem, self.solver, mapspace=self.mapspace))
        if any(a.status is not Status.OPTIMAL for a in answers):
            raise SolverError(f"the frontier of {problem} did not solve to optimality")
        return _points([(a.point.mapping, a.point.cost) for a in answers])

    # -- the leaves of a TreeSearch on one buffer ------------------------------------------------
    # Values are per invocation (a loop node multiplies its body by its iterations); a leaf is
    # always exact (no lazy state); each streamed tensor takes a word of the one buffer and moves
    # at least once, so TreeSearch.floor is a bound.
    totals = False
    word_floor = True

    @property
    def keys(self) -> "Scalar":
        return SCALAR

    def stairs(self, search: "TreeSearch", x: int, sizes: dict, R: frozenset):
        """Einsum ``x``'s curve under the tiles ``sizes`` with ``R`` resident, each point tagged
        by a leaf record (rebuilt by :meth:`leaf_node`); no lazy leaf it depends on."""
        e = search.workload.einsums[x]
        c = self.curve(e, sizes, R)
        extra = 0 if e.output.name in R else e.output.footprint(sizes)  # count 2 x moved
        tags = [search.record(("leaf", x, R, i)) for i in range(len(c.occ))]
        return Stairs(c.occ.tolist(), (c.acc + extra).tolist(), tags), None

    def leaf_node(self, search: "TreeSearch", rec: tuple, S: tuple) -> fusion.Leaf:
        _, x, R, k = rec
        e = search.workload.einsums[x]
        return fusion.Leaf(e.name, self.curve(e, search.sizes(S), R).mapping(k))

    def floor(self, search: "TreeSearch", x: int, y: int, S: tuple) -> tuple:
        """Lower bounds on the key components after the first (none on one buffer)."""
        return ()


# ------------------------------------------------------------------------------------ loop trees

class Stairs(NamedTuple):
    """A staircase inside the search: breakpoints (occupancy ascending, accesses strictly
    descending) and their provenance tags, as Python lists of ints. Most have one to a dozen
    points, where list arithmetic is several times faster than numpy's per-call overhead; the
    workload's frontier is handed out as a :class:`Staircase`. Never mutated once built."""

    occ: list
    acc: list
    tag: list

    def at(self, capacity: int) -> int:
        """Index of the breakpoint that answers ``capacity`` (-1: infeasible)."""
        return bisect_right(self.occ, capacity) - 1

    def frozen(self) -> Staircase:
        return Staircase(*(np.array(x, dtype=np.int64) for x in self))

    def retagged(self, tags: list) -> "Stairs":
        return Stairs(self.occ, self.acc, tags)


ZERO = Stairs([0], [0], [0])
INF = float("inf")


def plus_shifted(a: Stairs, shift: int, b: Stairs, tag: int) -> Stairs:
    """``a`` (its occupancy raised by ``shift``) then ``b``, one after the other: each has the whole
    buffer, so values add at every capacity. A walk over the union of the two staircases'
    capacities from the first at which both are feasible; a sum of two staircases never rises, so
    a capacity is a breakpoint where the sum drops."""
    if len(a.occ) + len(b.occ) > LONG:
        return _plus_shifted_np(a, shift, b, tag)
    ao, aa, bo, ba = [o + shift for o in a.occ], a.acc, b.occ, b.acc
    c = max(ao[0], bo[0])
    i, j = bisect_right(ao, c) - 1, bisect_right(bo, c) - 1
    la, lb = len(ao) - 1, len(bo) - 1
    occ, acc = [c], [aa[i] + ba[j]]
    while i < la or j < lb:
        na = ao[i + 1] if i < la else INF
        nb = bo[j + 1] if j < lb else INF
        c = na if na < nb else nb
        if na == c:
            i += 1
        if nb == c:
            j += 1
        v = aa[i] + ba[j]
        if v < acc[-1]:
            occ.append(c)
            acc.append(v)
    return Stairs(occ, acc, [tag] * len(occ))


def merge(parts: list) -> Stairs | None:
    """The Pareto staircase of the union of ``parts`` (a point ties with an equal one before it
    in ``parts``' order: the earlier one is kept)."""
    parts = [p for p in parts if p is not None]
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    if sum(len(p.occ) for p in parts) > LONG // 2:
        return _merge_np(parts)
    pts = []  # in parts' order, then a stable sort: ties keep it
    for p in parts:
        pts += zip(p.occ, p.acc, p.tag)
    pts.sort(key=_occ_acc)
    occ, acc, tag = [pts[0][0]], [pts[0][1]], [pts[0][2]]
    for o, v, t in pts:
        if v < acc[-1]:  # never at an occupancy already kept: ties sort by accesses
            occ.append(o)
            acc.append(v)
            tag.append(t)
    return Stairs(occ, acc, tag)


_occ_acc = itemgetter(0, 1)
# Above this many points in all, numpy's vector operations beat the list walks (about 2x at
# 500 points; the lists are 5x faster at 2): the cut DP of a network sums staircases of hundreds.
LONG = 48


def _plus_shifted_np(a: Stairs, shift: int, b: Stairs, tag: int) -> Stairs:
    """:func:`plus_shifted` on long staircases: the sum at every capacity of either."""
    ao = np.asarray(a.occ, np.int64) + shift
    bo, aa, ba = (np.asarray(x, np.int64) for x in (b.occ, a.acc, b.acc))
    caps = np.concatenate((ao, bo))
    caps.sort()
    caps = caps[caps.searchsorted(max(ao[0], bo[0])):]
    acc = aa[ao.searchsorted(caps, "right") - 1] + ba[bo.searchsorted(caps, "right") - 1]
    keep = np.empty(len(caps), bool)  # a repeated capacity, or a flat step, is dropped
    keep[0] = True
    np.less(acc[1:], acc[:-1], out=keep[1:])
    occ = caps[keep].tolist()
    return Stairs(occ, acc[keep].tolist(), [tag] * len(occ))


def _merge_np(parts: list) -> Stairs:
    """:func:`merge` on long staircases (a stable sort: ties keep ``parts``' order)."""
    # one array per field from the parts' lists chained (not an array per part: a loop node
    # merges one part per kept set, a thousand on a ResNet bottleneck's row loop)
    occ, acc, tag = (np.array(list(chain.from_iterable([getattr(p, f) for p in parts])),
                              np.int64) for f in ("occ", "acc", "tag"))
    order = np.lexsort((acc, occ))
    occ, acc, tag = occ[order], acc[order], tag[order]
    best = np.minimum.accumulate(acc)
    keep = np.empty(len(acc), dtype=bool)
    keep[0] = True
    np.less(acc[1:], best[:-1], out=keep[1:])
    return Stairs(occ[keep].tolist(), acc[keep].tolist(), tag[keep].tolist())


class Scalar:
    """The staircase arithmetic of :class:`TreeSearch` on one buffer (keys of one component,
    :class:`Stairs` of lists: the hot path of real workloads); :mod:`fused_levels` has the
    lexicographic one for hierarchies, with the same operations."""

    ZERO = ZERO
    plus_shifted = staticmethod(plus_shifted)
    merge = staticmethod(merge)

    @staticmethod
    def shifted(st: Stairs, const: int, scale: int, tag: int) -> Stairs:
        """``const + scale * st`` (the order is kept), every point tagged ``tag``."""
        return Stairs(st.occ, [const + scale * v for v in st.acc], [tag] * len(st.occ))

    @staticmethod
    def raised(st: Stairs, g: int, tag: int) -> Stairs:
        """``st`` with every occupancy raised by ``g``, every point tagged ``tag``."""
        return Stairs([o + g for o in st.occ], st.acc, [tag] * len(st.occ))

    @staticmethod
    def lifted(st: Stairs, g: int, const: int, scale: int, tag: int) -> Stairs:
        """``shifted(raised(st, g), const, scale)`` in one pass: a loop node's curve over a
        lifted body (:meth:`TreeSearch.loop`)."""
        return Stairs([o + g for o in st.occ], [const + scale * v for v in st.acc],
                      [tag] * len(st.occ))

    @staticmethod
    def covers(best: Stairs, occ: int, acc: int, inner: tuple) -> bool:
        """Whether ``best`` is at or below the key (``acc``) at occupancy ``occ``: then an option
        whose lower bounds these are is skipped (counted)."""
        i = bisect_right(best.occ, occ) - 1
        return i >= 0 and best.acc[i] <= acc

    @staticmethod
    def frozen(st: Stairs) -> Staircase:
        return st.frozen()


SCALAR = Scalar()


@dataclass
class TreeSearch:
    """The exact frontier over loop trees (docs/fusion.md, 'Solving'), by dynamic programming.

    ``body(a..b)`` is the best way to run Einsums ``a..b`` as the children of one node: a cut into
    consecutive children, each a leaf (its Einsum's curve under the node's tiles) or a loop node
    over the run. What a child costs depends only on its run, the tiles above it and which tensors
    are resident for it, and what the node stores that is live during the child (intermediates
    crossing the child's edges, kept tensors) only raises the child's occupancy by a constant. So
    a child's curve is shifted and added to the best curve of the children after it: exact
    staircase arithmetic, memoised by (run, tiles, resident tensors). A loop node whose lower
    bounds (kept tiles; kept traffic plus every streamed tensor moved once per iteration) are
    already matched by the options seen for the same child is skipped: exact, it cannot lower
    the curve anywhere.

    One search serves one buffer and hierarchies (docs/fusion.md, 'On hierarchies'). What
    differs is supplied by ``curves``, the leaves: ``keys``, the staircase arithmetic
    (:class:`Scalar` on one buffer; the lexicographic :class:`fused_levels.Lex` over the key
    vector DRAM, then each inner level); ``totals`` (values are totals over the run, not per
    invocation: a hierarchy's leaf reads an output back a number of times that is no multiple of
    its invocations); ``stairs``/``leaf_node``, a leaf's staircase and the leaf behind a point;
    ``floor``, lower bounds on the key components past the first; ``word_floor``, whether
    :meth:`floor`'s word-per-tensor bound holds; and, for ``lazy`` leaves (bounds made exact only
    where a best tree uses them), ``lazy`` and ``refine``. Memo entries record the lazy leaves
    they read (:meth:`store`), and :meth:`solve` repeats the search until the trees behind the
    capacities asked for use exact leaves only.
    """

    workload: Workload
    curves: object  # Curves (one buffer) or fused_levels.LeafCurves
    max_depth: int = 3
    split: bool = False  # may a rank loop at several depths of one path
    prov: list = field(default_factory=list)
    memo: dict = field(default_factory=dict)
    contexts: dict = field(default_factory=dict)
    nodes: int = 0
    skipped: int = 0
    # The exact state-sharing rules of docs/fusion.md, 'Solving' (lifted kept tensors, runs no
    # open rank may enclose); off only in the tests that check they change no curve.
    share: bool = True
    lazy: bool = False
    rounds: int = 0
    deps: dict = field(default_factory=dict)    # memo key -> lazy leaves it read
    # Wall-clock seconds the search may take (None: no limit); past it, ``child`` raises
    # SolverError naming how far the search got (never a partial curve as if it were exact).
    time_limit: float | None = None
    # Memo keys hold the segment's view of a node less its resident tensors (:meth:`view`); off
    # only in the tests that check it changes no staircase.
    local_keys: bool = True
    users: dict = field(default_factory=dict)   # lazy leaf -> memo keys that read it
    # Segments equal up to renaming solved once (:meth:`segment_once`); off only in the tests
    # that check it changes no curve.
    repeats: bool = True
    reused: int = 0  # segments answered by renaming an equal one's staircase
    # Memo entries and records no later segment reads are dropped (:meth:`forget`); off only
    # in the tests that check it changes no curve.
    forgetting: bool = True
    lifts: int = 0  # bodies answered as a lifted body (:meth:`lifted`)
    # Options of a segment's whole-run loop whose lower bounds the workload's curve from
    # shorter first segments already beats are skipped (:meth:`segment_beaten`); off only in
    # the tests that check it changes no curve.
    incumbent: bool = True
    beaten: int = 0  # loop options skipped by the incumbent
    # Whether shared loops take imperfect tiles (:meth:`peeled`); None: as the leaves' mapspace
    # (``*/imperfect``). False with imperfect leaves is the mapspace before imperfect shared
    # tiles (benchmarks/fused_imperfect.py compares the two).
    shared_imperfect: bool | None = None

    # States equal up to a rank symmetry of their segment (a square image's rows and columns)
    # share one entry (:meth:`mirrored`); off only in the tests that check it changes no curve.
    mirrors: bool = True
    mirrored_states: int = 0  # body and child states answered by their mirror image

    # Each segment also tries every set of its intermediates through the backing store
    # (docs/fusion.md, "An intermediate through DRAM inside a segment"; :meth:`segment`), each
    # solved by a search over the renamed workload (:meth:`spilled`). Off by default.
    spill: bool = False
    # The workload whose loop rule the loops obey (None: ``workload``): a spilled search's is
    # the original, since renaming a spilled intermediate must not free a loop from it.
    rule: Workload | None = None
    # Whether a loop option not under the incumbent bar is also checked against its
    # :meth:`floor` (the Einsum-by-Einsum bound) where the cheap bound did not skip it. Off: on
    # ResNet-50's first bottleneck the check skipped 1,212 of 301k options at 27% of the CPU
    # time (docs/fusion.md, 'Solving': per-option work). Skipping or not changes no point.
    option_floor: bool = False
    # Each segment also tries its translated loops (docs/fusion.md, 'Translated loops'): the
    # untranslated trees of the workload with the segment's Einsums' ranks renamed
    # (:func:`translations`), each solved by that workload's search (:meth:`translated`) and
    # rebuilt with ``via`` (:meth:`untranslated`). Perfect shared tiles, no spill; on one
    # buffer and on hierarchies (each renamed search of this one's kind, :meth:`like`).
    translate: bool = False
    # Stop with SolverError where the machine's available memory falls below its reserve
    # (:meth:`check_memory`, once per ``memory_mask + 1`` memo entries made: reading
    # /proc/meminfo takes about 20 us; ResNet-50's 56x56 stage makes some 4,000 entries a
    # second and grows by 20 MB).
    memory_mask = 1023
    # Loop nodes with lifted kept sets take :meth:`_loop_lifting` (the same options, keys and
    # curves, less work per kept set); off only in the tests that check it changes nothing.
    kept_parts = True

    def __post_init__(self) -> None:
        self.keys = self.curves.keys
        self.totals = self.curves.totals
        self._stack: list[set] = []  # the lazy leaves read by each memo entry being made
        self.pending: set = set()    # (lazy leaf, capacity) a rebuilt tree used as a bound
        self.prov.append(("end",))  # ZERO's tag: the empty run of children
        self.ranks = tuple(self.workload.size)
        self.position = {r: i for i, r in enumerate(self.ranks)}
        self._dicts: dict = {}
        self._fp: dict = {}
        self._held: dict = {}
        self._least: dict = {}
        self._least_pre: dict = {}
        self._edges: dict = {}
        self._edge_pre: dict = {}
        self._tensors: dict = {}
        self._sig: dict = {}
        self._allowed: dict = {}
        self._moved: dict = {}
        self._loopable: dict = {}
        self._open: dict = {}
        self._runs: dict = {}
        self._used: dict = {}
        self._invocations: dict = {}
        self._bridged: dict = {}
        self._kept_sets: dict = {}  # a node's candidates -> its kept sets (kept_sets)
        self._parts: dict = {}  # (candidates, which are lifted) -> _kept_parts
        self._lift_views: dict = {}  # (resident set, lifted set, signature) -> (Rp, view)
        self._proj: dict = {}  # (a, b) -> (the tiles a run keeps, its tensors): project
        # One object per distinct projected tile tuple, resident set and view, shared by every
        # memo key holding it (:meth:`project`, :meth:`view`): ResNet-50's Einsums 30..36 made
        # 728,605 such frozensets, 1,405 distinct, 263 MB of its 1.37 GB.
        self._interned: dict = {}
        self._began = time.perf_counter()
        self._made = 0  # memo entries made (the memory guard looks every 1,024)
        self.solved = 0  # segments solved so far (reported by a time limit)
        self._twins = twin_classes(self.workload)
        self._forms: dict = {}  # a segment's canonical form -> (first, its staircase, renamings)
        self._swept = 1 << 60  # the reach of the last sweep (:meth:`forget`)
        self.full = tuple(self.workload.size[r] for r in self.ranks)
        # With per-tensor inner mappings a leaf can hold any of its tensors whole, so a tensor one
        # child alone uses is better kept in that child (same tile and traffic, shorter life);
        # with the Orojenesis inner mapspace every keep is tried.
        self.push_down = self.curves.mapspace.placement == "per_tensor"
        # ``*/imperfect``: shared loops take imperfect tiles too, the partial last iteration
        # peeled (:meth:`peeled`); one buffer only (hierarchies refuse imperfect workloads).
        self.imperfect = (self.curves.mapspace.factors == "imperfect"
                          if self.shared_imperfect is None else self.shared_imperfect)
        if self.imperfect and (self.totals or self.placing or self.keys is not SCALAR):
            raise BoundsolverError("imperfect shared tiles are searched on one buffer only")
        if self.imperfect and self.spill:
            raise BoundsolverError("intermediates through the backing store inside a segment "
                                   "(spill) are searched with perfect shared tiles only")
        self._bar = None    # (i, j, incumbent, least traffic after j) while segment i..j is barred
        self._bar_const = 0  # the barred segment root's constant traffic for its kept set
        self._bar_shift = 0  # what the barred root stores while its whole-run child runs
        self._form_of: dict = {}   # (i, j) -> segment_form
        self._repeated: dict = {}  # a segment form -> how many segments to solve have it
        self._sigma = rank_mirror(self.workload)  # candidate rank involution (rank_mirror)
        self._mirror: dict = {}    # segment -> (positions permuted, renaming) or None
        self._spilled: dict = {}   # a set of spilled intermediates -> its search
        self._translated: dict = {}  # a renaming of some Einsums' ranks -> its search
        if self.translate and (self.imperfect or self.spill):
            raise BoundsolverError("translated loops are searched with perfect shared tiles and "
                                   "without spill (fusion.evaluate refuses via with rest or dram)")
        self._rule_ctx: dict = {}  # (i, j) -> the rule workload's context of segment i..j
        self._translations_of: dict = {}  # (i, j) -> translations (:meth:`translations`)
        self._boxed: dict = {}  # (kind, key) -> tags of records boxing that search's staircases
        self._asks: dict | None = None  # a renaming -> {start: its furthest end} (count_asks)
        self._reach: dict = {}  # a renaming -> how far the segments left asking it reach

    def record(self, rec) -> int:
        self.prov.append(rec)
        return len(self.prov) - 1

    def keep(self, st, recs: list):
        """``st`` with its local tags (indices into ``recs``) turned into provenance records, made
        only for the alternatives that survive on the staircase."""
        if st is None:
            return None
        tags = st.tag
        if len(recs) == 1:
            return st.retagged([self.record(recs[0])] * len(tags))
        ids: dict[int, int] = {}
        for t in tags:  # records in the order of first appearance along the staircase
            if t not in ids:
                ids[t] = self.record(recs[t])
        return st.retagged([ids[t] for t in tags])

    # -- inner placements: none here, the trivial case (fused_levels.PlacedSearch has them) ---
    placing = False  # whether stored tensors may live in inner levels
    front = False    # whether the DRAM front of a companion default search (``base``) filters
    caps = None      # each inner level's capacity: the room a segment root starts with

    def assign(self, tensors, span: tuple, S: tuple, F, W: tuple = ()) -> list[tuple]:
        """Every placement of ``tensors`` stored at a node: only "no inner placement"."""
        return [()]

    def placed_const(self, const, K: tuple, KA: tuple, tiles, n: int, r, unit: int, moved):
        """A node's constant with its placed kept tensors' inner traffic: ``const`` itself."""
        return const

    def on_front(self, st, ds):
        """``st`` filtered by the DRAM front ``ds``: unfiltered."""
        return st

    # -- the memo, and the lazy leaves each entry read ---------------------------------------

    def recall(self, key):
        """``memo[key]``; the entry being made reads the lazy leaves this one read."""
        if self._stack:
            deps = self.deps.get(key)
            if deps:
                self._stack[-1] |= deps
        return self.memo[key]

    def enter(self) -> None:
        """A memo entry starts being made (lazy leaves only: its reads are gathered)."""
        if self.lazy:
            self._stack.append(set())

    def store(self, key, out):
        """``memo[key] = out``, recording the lazy leaves it read (:meth:`invalidate`)."""
        self.memo[key] = out
        if self.lazy:
            deps = self._stack.pop()
            if deps:
                self.deps[key] = deps
                for d in deps:
                    self.users.setdefault(d, set()).add(key)
                if self._stack:
                    self._stack[-1] |= deps
        self._made += 1
        if not self._made & self.memory_mask:
            self.check_memory()
        return out

    def invalidate(self, state_key) -> None:
        """Forget every memo entry made from the lazy leaf ``state_key`` (the renamed
        searches' too: they share the leaves)."""
        for k in self.users.pop(state_key, ()):
            self.memo.pop(k, None)
            self.deps.pop(k, None)
        for sub in self._translated.values():
            sub.invalidate(state_key)

    def runs(self, S: tuple) -> int:
        """Invocations of a node whose loops above leave tiles ``S``."""
        try:
            return self._invocations[S]
        except KeyError:
            out = self._invocations[S] = math.prod(n // s for n, s in zip(self.full, S))
            return out

    def context(self, i: int, j: int) -> fusion.Context:
        if (i, j) not in self.contexts:
            self.contexts[(i, j)] = fusion.Context(self.workload, self.workload.names[i:j + 1])
        return self.contexts[(i, j)]

    def run(self, a: int, b: int) -> tuple[tuple[int, ...], frozenset]:
        """Positions (in ``S``) of the ranks Einsums ``a..b`` use, and the tensors they use: what
        a subtree over them costs depends on nothing else of the tiles and the resident set, so
        memo keys keep only these."""
        if (a, b) not in self._runs:
            es = self.workload.einsums[a:b + 1]
            self._runs[(a, b)] = (tuple(sorted({self.position[r] for e in es for r in e.size})),
                                  frozenset(T.name for e in es for T in e.tensors))
        return self._runs[(a, b)]

    def projector(self, a: int, b: int) -> tuple:
        """(the getter of the tiles a run over Einsums ``a..b`` keeps, its tensors), made once
        per run (:meth:`run`)."""
        try:
            return self._proj[(a, b)]
        except KeyError:
            idx, names = self.run(a, b)
            get = itemgetter(*idx) if len(idx) > 1 else (lambda S, idx=idx: tuple(S[k] for k in idx))
            out = self._proj[(a, b)] = get, names
            return out

    def project(self, a: int, b: int, S: tuple, R: frozenset) -> tuple[tuple, frozenset]:
        """The tiles and resident tensors a subtree over Einsums ``a..b`` depends on
        (:meth:`run`), by one getter per run: asked for by every memo lookup."""
        get, names = self.projector(a, b)
        intern = self._interned
        Sp, Rp = get(S), R & names
        return intern.setdefault(Sp, Sp), intern.setdefault(Rp, Rp)

    def sizes(self, S: tuple) -> dict:
        if S not in self._dicts:
            self._dicts[S] = dict(zip(self.ranks, S))
        return self._dicts[S]

    def cut(self, S: tuple, r: str, t: int) -> tuple:
        k = self.position[r]
        return S[:k] + (t,) + S[k + 1:]

    def tensor(self, T: str, span: tuple[int, ...]) -> Tensor:
        """``T`` as the Einsums ``span`` index it: its writer if there, else its first reader."""
        key = (T, span)
        if key not in self._tensors:
            self._tensors[key] = fusion.indexing(self.workload, T, span)
        return self._tensors[key]

    def fp(self, T: str, span: tuple[int, ...], S: tuple) -> int:
        """Footprint of ``T`` (as ``span`` indexes it) under the tiles ``S``."""
        key = (T, span, S)
        try:
            return self._fp[key]
        except KeyError:
            out = self._fp[key] = self.tensor(T, span).footprint(self.sizes(S))
            return out

    def held(self, stored: tuple[str, ...], span: tuple[int, ...], S: tuple) -> int:
        """The words of the tiles ``stored`` (as ``span``, a run of consecutive Einsums, indexes
        them) under the tiles ``S``: a child's shift, asked for by many parents with the same
        tiles (keyed by the run's ends: a long span's tuple is slow to hash)."""
        key = (stored, span[0], span[-1], S)
        try:
            return self._held[key]
        except KeyError:
            out = self._held[key] = sum(self.fp(T, span, S) for T in stored)
            return out

    def signature(self, seg, x: int, y: int) -> frozenset:
        """What the segment means to Einsums ``x..y``: which of their tensors go to the backing
        store. With the resident set, this fixes everything a node over ``x..y`` costs, so the
        memo is shared between segments."""
        key = (seg, x, y)
        if key not in self._sig:
            ctx = self.context(*seg)
            self._sig[key] = frozenset(T for T in ctx.moved if any(x <= i <= y for i in ctx.users[T]))
        return self._sig[key]

    def view(self, seg, a: int, b: int, R: frozenset) -> frozenset:
        """What the segment means to a node over Einsums ``a..b`` with ``R`` resident (``R`` cut
        to their tensors), as its memo keys hold it: the :meth:`signature` less ``R`` (with
        ``local_keys`` off, the whole signature). Nodes of different segments that agree on
        this, the run, the tiles and ``R`` are one entry (a node of ``V K Q QK`` over ``K Q``
        and one of ``K Q QK`` over the same, whether ``QK`` is written back or read by a
        softmax in the segment: resident either way).

        Why it is exact. Invariant: a segment intermediate that a node's Einsums use and that
        is not resident for the node has all its users under the node (true at the root, which
        holds them all; a child's resident set holds every intermediate crossing its edges,
        :meth:`edge`, and a lifted body's only grows). Everything the search reads from the
        segment about a node's tensors then depends on them only through the view: a resident
        tensor costs the node nothing but a place in ``R``, and where the search asks of one
        (:meth:`edge`: is it resident for a child) the answer is whether the child uses it;
        of a tensor not in ``R``, whether it is moved (the view) or an intermediate (not in the
        view), whether it is written back (moved and made by one of the Einsums: a moved
        tensor made in the segment has its writer as its only user there), its users, ranks
        and axes under the node (the Einsums' own), which intermediates lie wholly under a
        child (:meth:`allowed`: by the invariant, those not resident and not moved) and which
        are stored by the node (:meth:`_spans`: the same). So two such nodes run the same
        search, over children that agree in the same way, and have the same staircase; what
        differs between the segments (exported intermediates, the root's kept tensors) is
        added at the segment root, outside the memo. The edge and traffic caches keep the
        whole signature (the same answers, cached once more)."""
        sig = self.signature(seg, a, b)
        if not (self.local_keys and R):
            return sig
        out = sig - R
        return self._interned.setdefault(out, out)

    # -- the pieces -----------------------------------------------------------------------------

    def segment_root(self, i: int, j: int) -> tuple:
        """What a segment root over Einsums ``i..j`` starts from: the tensors it moves, those it
        may keep (read by several of its Einsums, or any with ``push_down`` off) and its
        constant traffic (exported intermediates written and read back, less the outputs'
        elided first reads)."""
        ctx = self.context(i, j)
        w = self.workload
        moved = self.moved_in((i, j), i, j, frozenset())
        cands = [T for T, (_, _, u, agree) in moved.items()
                 if agree and (len(u) > 1 or not self.push_down)] if j > i else []
        base = sum(2 * w.tensor_size(X) for X in ctx.exported) - sum(w.tensor_size(T) for T in ctx.written)
        return moved, cands, base

    def segment(self, i: int, j: int):
        """Segment ``i..j``'s staircase: its loop trees (:meth:`trees`) and, with ``spill``, those
        with any nonempty set ``S`` of its intermediates through the backing store, each the
        same segment of the workload in which its readers of ``S`` read ``X__dram``
        (:func:`fusion.spilled`), solved under the original loop rule by that workload's search.

        Why it is exact: the renamed segment's trees are this segment's trees with ``S`` spilled
        (the same nodes, leaves and kept sets, ``X`` kept over its writer and ``X__dram`` over
        its readers), and :func:`fusion.evaluate_segment` costs a root with ``dram = S`` as the
        renamed segment; the loop rule is the original's, so the trees are the same set. One
        search per ``S`` serves every segment holding ``S``'s writers and readers: renaming
        every reader of ``S`` in the workload changes no other segment's costs (a reader in a
        later segment reads ``X`` from the backing store either way). A spilled set with an
        intermediate not of this segment is never asked for here."""
        st = self.trees(i, j)
        if self.translate:
            return self.with_translations(i, j, st)
        mids = sorted(self.context(i, j).intermediates) if self.spill else []
        if not mids:
            return st
        parts = [st]
        for S in fusion.subsets(mids)[1:]:
            sub = self.spilled(S)
            got = sub.trees(i, j)
            if got is not None:
                parts.append(self.keys.shifted(got, 0, 1, self.boxed("spilled", S, got)))
        return self.keys.merge(parts)

    def spilled(self, S: tuple[str, ...]) -> "TreeSearch":
        """The search over the workload with the intermediates ``S`` read back from the backing
        store (every reader of ``X`` in ``S`` reads ``X__dram``), under this one's loop rule,
        sharing its leaf curves."""
        if S not in self._spilled:
            w = self.workload
            self._spilled[S] = TreeSearch(
                fusion.spilled(w, w.names, S), self.curves, self.max_depth, self.split,
                share=self.share, local_keys=self.local_keys, repeats=False, forgetting=False,
                incumbent=False, rule=w, mirrors=False)  # a mirror of the renamed
            # workload need not be one of the rule's (X and X__dram may permute apart)
        return self._spilled[S]

    def with_translations(self, i: int, j: int, st):
        """Segment ``i..j``'s staircase ``st`` merged with those of its renamings
        (:func:`translations`), each the untranslated trees of the renamed workload's segment.

        Why it is exact over the translated trees in which each Einsum's rank is stepped under
        one name along its whole path (the mapspace, docs/fusion.md): such a tree is, with each
        loop's ``via`` dropped and each Einsum's ranks renamed to the names its loops step them
        under, an untranslated tree of the renamed workload, of the same cost (the evaluator
        cuts in each Einsum the rank a loop binds there, and nothing else of it depends on
        names); and back, every tree of a renamed workload whose moved tensors are read through
        equal axes only where the original reads them so (:func:`translations` keeps only such
        renamings) is a translated tree of the original, the same cost. A segment's trees and
        costs depend on its Einsums alone (the later ones only through which tensors they
        read), so one search per renaming serves every segment holding its Einsums. A barred
        segment (:meth:`segment_beaten`) bars its renamings' root options too: the bar is a
        property of the workload's curve, not of the tree's names."""
        parts = [st]
        for sigma in self.translations(i, j):
            sub = self.translated(sigma)
            sub._bar = self._bar
            try:
                got = sub.trees(i, j)
            finally:
                sub._bar = None
            if got is not None:
                parts.append(self.keys.shifted(got, 0, 1, self.boxed("translated", sigma, got)))
        return self.keys.merge(parts)

    def translations(self, i: int, j: int) -> list[tuple]:
        """:func:`translations` of segment ``i..j``, computed once (:meth:`count_asks` asks
        for every segment before the search does)."""
        try:
            return self._translations_of[(i, j)]
        except KeyError:
            out = self._translations_of[(i, j)] = translations(self.workload, i, j)
            return out

    def boxed(self, kind: str, key, got) -> int:
        """A record ``(kind, key, (got,))`` of a renamed search's staircase (``translated``:
        ``key`` its renaming; ``spilled``: its spilled set), and its tag. Boxed, so that
        :meth:`collect` does not read ``got``'s tags, which index that search's provenance, as
        this one's; indexed by search, so that a sweep of that search keeps what they reach
        (:meth:`sweep`)."""
        tag = self.record((kind, key, (got,)))
        self._boxed.setdefault((kind, key), []).append(tag)
        return tag

    def translated(self, sigma: tuple) -> "TreeSearch":
        """The search over the workload with ranks renamed by ``sigma``, sharing the leaf curves
        (its own memo: renamed states never meet this search's keys)."""
        if sigma not in self._translated:
            self._translated[sigma] = self.like(fusion.renamed_ranks(self.workload, sigma))
            self._translated[sigma]._began = self._began  # one clock for the whole search
        return self._translated[sigma]

    def like(self, workload: Workload) -> "TreeSearch":
        """A search of this one's kind and rules over ``workload`` (a renaming of this one's
        ranks), sharing the leaf curves; it neither forgets nor reuses equal segments (its
        memo lives as long as the solve). Its shared tiles are this one's (perfect where this
        one's are, whatever the leaves' factors), and a hierarchy's search (``fused_levels``)
        adds its placement rules (:meth:`own_rules`)."""
        return type(self)(workload, self.curves, self.max_depth, self.split, share=self.share,
                          local_keys=self.local_keys, repeats=False, forgetting=False,
                          incumbent=self.incumbent, mirrors=self.mirrors,
                          time_limit=self.time_limit, lazy=self.lazy,
                          shared_imperfect=self.imperfect, option_floor=self.option_floor,
                          **self.own_rules())

    def own_rules(self) -> dict:
        """The rules a kind of search adds to this one's, for :meth:`like` (none here)."""
        return {}

    def untranslated(self, node, sigma: tuple):
        """A tree of the renamed workload (``sigma``) as the translated tree of this one: each
        leaf's mapping in its Einsum's own names, and each loop over ``r`` with ``via`` naming
        the Einsums under it whose rank renamed to ``r`` was another."""
        back = {e: _Names({n: r for r, n in m}) for e, m in sigma}
        if isinstance(node, fusion.Leaf):
            return fusion.Leaf(node.einsum, _renamed(node.mapping, back.get(node.einsum, _Names()),
                                                     _Names()))
        via = () if node.rank is None else tuple(
            (e, back[e][node.rank]) for e in node.einsums()
            if e in back and back[e][node.rank] != node.rank)
        return replace(node, children=tuple(self.untranslated(c, sigma) for c in node.children),
                       via=via)

    def trees(self, i: int, j: int):
        """A segment root: no loop; it may keep tensors that several of its Einsums read, each
        where :meth:`assign` allows (the outer level only, without inner placements)."""
        w = self.workload
        S, F = self.full, self.caps
        moved, cands, base = self.segment_root(i, j)
        sp = tuple(range(i, j + 1))
        ds = self.default_segment(i, j) if self.front else None
        parts = []
        for K in self.kept_sets(cands):
            const = base + sum(moved[T][0] * w.tensor_size(T) for T in K)
            if self.front and self.off_front(
                    self.base.body((i, j), i, j, S, frozenset(), K, None, 0), const, ds):
                self.off += 1
                continue
            self._bar_const = const  # read by a barred segment's bar (_covered)
            tiles = {T: w.tensor_size(T) for T in K} if self.placing else None
            for KA in self.assign(K, sp, S, F):
                body = self.body((i, j), i, j, S, frozenset(), K, None, 0,
                                 *(((), F, KA) if self.placing else ()))
                if body is None:
                    continue
                rec = ("root", K, body) + ((KA, (i, j)) if self.placing else ())
                parts.append(self.keys.shifted(
                    body, self.placed_const(const, K, KA, tiles, 1, None, 1, moved), 1,
                    self.record(rec)))
        self.solved += 1
        return self.on_front(self.keys.merge(parts), ds)

    def body(self, seg, a: int, b: int, S: tuple, R: frozenset, K: tuple, rank, depth: int,
             W: tuple = (), F: tuple | None = None, KA: tuple = ()):
        """Einsums ``a..b`` as the children of one node that keeps ``K`` and loops over ``rank``
        (``R`` resident from above). ``W``, ``F``, ``KA``: the inner placements of the resident
        tensors and of ``K``, and each inner level's room (:class:`fused_levels.PlacedSearch`;
        without placements none, the trivial case); with them every placement of the
        intermediates the node stores is tried (:meth:`children`)."""
        # The node's own loop only matters to the tensors it keeps; and a node that keeps nothing
        # gains nothing from a child looping over the same rank across all of its run (the two
        # loops are one loop with the inner tile).
        if K and rank is not None and not self.split and self.share and not self.placing:
            G = tuple(T for T in K if not self._kept(seg, a, b, T, rank)[3])
            if G:
                return self.lifted(seg, a, b, S, R, K, rank, depth, G)
        # without splits no child could loop over the node's rank anyway: one memo entry
        same = None if K or (not self.split and self.share) else rank
        rank, loop = (rank if K else None), rank
        Sp, Rp = self.project(a, b, S, R)
        # ``same`` (the parent's rank the whole-run child avoids) shapes the value, so it is in
        # the key wherever it is set (with ``split_ranks`` and nothing kept)
        key = ("body", self.view(seg, a, b, Rp), a, b, Sp, Rp, K, rank, depth,
               *(() if same is None or rank is not None else (same,)))
        if self.placing:
            W = tuple(sorted(p for p in W if p[0] in Rp))
            F = self.room(a, b, S, F, W)
            key += (W, F, KA)
        barred = self._barred(a, b, depth)
        if barred:
            key += ("barred",)
        if key in self.memo:
            return self.recall(key)
        mirror = self.mirror_of(seg, Sp, a, b) if not barred else None
        if mirror is not None:
            pos, sigma = mirror
            return self.mirrored(key, sigma, _permuted(S, pos), self.body(
                seg, a, b, _permuted(S, pos), R, K, sigma.get(loop, loop), depth))
        self.enter()
        if not self.placing:
            if depth >= self.max_depth:  # no loop below: the children are the leaves, one by one
                return self.store(key, self.leaves(seg, a, b, S, R, K, rank))
            return self.store(key, self.children(seg, a, b, S, R, K, rank, same, depth))
        parts, recs = [], []
        for IA in self.assign([X for X, _, _ in self._spans(seg, a, b, R)[1]],
                              tuple(range(a, b + 1)), S, F, W):
            st = self.children(seg, a, b, S, R, K, rank, same, depth, W, F, KA, IA)
            if st is not None:
                parts.append(st.retagged(np.full(len(st.occ), len(recs))))
                recs.append(("placed", IA, st))
        out = self.keep(self.keys.merge(parts), recs)
        if self.front:
            out = self.on_front(out, self.base.body(seg, a, b, S, R, K, loop, depth))
        return self.store(key, out)

    def children(self, seg, a: int, b: int, S: tuple, R: frozenset, K: tuple, rank, same,
                 depth: int, W: tuple = (), F: tuple | None = None, KA: tuple = (),
                 IA: tuple = ()):
        """The body's dynamic program over where each child ends; with placements each child
        is given the placements and room the node leaves it (:meth:`placed_edge`, ``IA``: the
        node's intermediates' levels)."""
        span = tuple(range(a, b + 1))
        keys = self.keys
        table = self.edges(seg, a, b, R, K, rank)
        barred = self._barred(a, b, depth)  # the whole-run child reads the root's stored words
        where = dict(W) | dict(KA) | dict(IA) if self.placing else None
        tail = {b + 1: keys.ZERO}
        for x in range(b, a - 1, -1):
            parts, recs = [], []
            for y in range(x, b + 1):
                rest = tail[y + 1]
                if y > x and (depth >= self.max_depth or not self.enclosable(seg, x, y, S)):
                    break  # a run no loop may enclose stays so when it grows (network scale)
                if rest is None:
                    continue
                stored, Rc = self.edge(seg, a, b, x, y, R, K, rank, table)
                if y > x and self.share and not self.bridged(x, y, Rc):
                    continue  # split into sibling loops, it costs no more (bridged())
                if barred and (x, y) == (a, b):
                    self._bar_shift = self.held(stored, span, S)
                placed, vec = (), None
                if where is not None:
                    Wc, room, vec = self.placed_edge(seg, span, S, x, y, stored, Rc, where, F, IA)
                    if room is None:
                        continue
                    placed = (Wc, room)
                child = self.child(seg, x, y, S, Rc, depth, same if (x, y) == (a, b) else None,
                                   *placed)
                if child is None:
                    continue
                shift = self.held(stored, span, S)
                st = keys.plus_shifted(child, shift, rest, len(recs))
                parts.append(st if vec is None else keys.added(st, vec))
                recs.append(("plus", child, shift, rest))
            tail[x] = self.keep(keys.merge(parts), recs)
        return tail[a]

    def leaves(self, seg, a: int, b: int, S: tuple, R: frozenset, K: tuple, rank):
        """A body with no loop below: its leaves one by one, each raised by what the node stores
        while it runs. Its curve is fixed by each leaf's key (as :meth:`leaf` keys it) and shift,
        so bodies that agree on those (other kept sets, tiles or resident tensors that no leaf
        sees) are one memo entry; it records the lazy leaves it read, as every entry does."""
        span = tuple(range(a, b + 1))
        steps = []  # (Einsum, shift, its resident tensors, the tiles its leaf depends on)
        table = self.edges(seg, a, b, R, K, rank)
        for x in range(b, a - 1, -1):
            stored, Rc = self.edge(seg, a, b, x, x, R, K, rank, table)
            Rx = Rc & self.run(x, x)[1]
            Rx = self._interned.setdefault(Rx, Rx)
            steps.append((x, self.held(stored, span, S), Rx,
                          tuple(S[k] for k in self.used(x, Rx))))
        if self.share:
            key = ("leaves", *steps)
            if key in self.memo:
                return self.recall(key)
            self.enter()
        keys = self.keys
        rest = keys.ZERO
        for x, shift, Rx, tiles in steps:  # each step's leaf computed once, from its key
            child = self.leaf(x, S, Rx, tiles)
            if child is None:  # no nest of the leaf fits the fixed inner levels
                rest = None
                break
            rest = keys.plus_shifted(child, shift, rest, self.record(("plus", child, shift, rest)))
        return self.store(key, rest) if self.share else rest

    def lifted(self, seg, a: int, b: int, S: tuple, R: frozenset, K: tuple, rank, depth: int,
               G: tuple) -> Stairs | None:
        """The body of a loop node that keeps ``G``, tensors its loop does not index, as the body
        with ``G`` resident from above, every point raised by their tiles (docs/fusion.md,
        'Solving': such a tile is stored beside every child and is resident for the children
        that use it, just as a tensor an ancestor keeps, which the node does not store). Bodies
        that differ only in which level keeps such a tensor are one memo entry. Without
        ``split_ranks`` the node's loop rank is cut below it, so no child could loop over it
        whether or not the node keeps anything.

        The raised staircase itself is not memoised: its key (the loop node's child, rank,
        tile and kept set) is asked for once (the child that tries the loop is memoised; on
        ResNet-50's last stage not one of 809,340 such entries was read again, and they held
        most of the memory), while the body under it, shared by every kept set that lifts to
        the same resident set, is. Raising again is a pass over the points. Lazy leaves: the
        body's reads reach the entry being made through :meth:`recall`/:meth:`store`."""
        self.lifts += 1
        rest = tuple(T for T in K if T not in G)
        inner = self.body(seg, a, b, S, R | frozenset(G), rest, rank, depth)
        if inner is None:
            return None
        g = self.held(G, tuple(range(a, b + 1)), S)
        return self.keys.raised(inner, g, self.record(("plus", inner, g, self.keys.ZERO)))

    def edges(self, seg, a, b, R, K, rank) -> dict:
        """:meth:`edge`'s answers for the node over ``a..b``, by child ``(x, y)`` (a body asks
        for every child of its run: the node's part of the key is built once)."""
        key = (self.signature(seg, a, b), a, b, R & self.run(a, b)[1], K, rank)
        try:
            return self._edges[key]
        except KeyError:
            out = self._edges[key] = {}
            return out

    def edge(self, seg, a, b, x, y, R, K, rank, table: dict | None = None
             ) -> tuple[tuple[str, ...], frozenset]:
        """What the node over ``a..b`` stores that is live while its child ``x..y`` runs, and the
        tensors resident for that child (``table``: the node's :meth:`edges`, where the caller
        has it)."""
        if table is None:
            table = self.edges(seg, a, b, R, K, rank)
        try:
            return table[(x, y)]
        except KeyError:
            pass
        _, inner, near = self._spans(seg, a, b, R)
        # Intermediates whose writer and readers all lie under the node but not under this child
        # (the others are resident from above, or stored inside the child), live while it runs:
        # users are positions, so "all under the child" is lo >= x and hi <= y (fusion.live_during).
        stored = [X for X, lo, hi in inner if not (lo >= x and hi <= y) and lo <= y and hi >= x]
        for T in K:
            lo, hi, _, indexed = self._kept(seg, a, b, T, rank)
            if not indexed or (lo <= y and hi >= x):
                stored.append(T)
        resident = frozenset(T for T, (lo, hi, pos, inter) in near
                             if lo <= y and hi >= x and pos[bisect_left(pos, x)] <= y
                             and (T in R or T in K or (inter and not (lo >= x and hi <= y))))
        table[(x, y)] = out = (tuple(stored), resident)
        return out

    def _spans(self, seg, a: int, b: int, R: frozenset):
        """Per tensor of the segment: (first user, last user, users, whether an intermediate);
        the intermediates not in ``R`` whose users all lie in ``a..b``, in name order; and the
        first part's items of the tensors some Einsum of ``a..b`` uses (the only ones that can
        be resident for a child of the node: :meth:`edge` asks for a user inside the child)."""
        key = (seg, a, b, R)
        if key not in self._edge_pre:
            ctx = self.context(*seg)
            if seg not in self._edge_pre:
                self._edge_pre[seg] = {T: (min(u), max(u), (*sorted(u), 1 << 60),
                                           T in ctx.intermediates) for T, u in ctx.users.items()}
            spans = self._edge_pre[seg]
            inner = [(X, spans[X][0], spans[X][1]) for X in sorted(ctx.intermediates)
                     if X not in R and spans[X][0] >= a and spans[X][1] <= b]
            near = [(T, v) for T, v in spans.items()
                    if v[2][bisect_left(v[2], a)] <= b]
            self._edge_pre[key] = (spans, inner, near)
        return self._edge_pre[key]

    def _kept(self, seg, a: int, b: int, T: str, rank):
        """A kept tensor's first and last user under the node ``a..b`` and whether the node's
        loop indexes it (fusion.live_during: a tile the loop does not step through stays)."""
        key = (seg, a, b, T, rank)
        if key not in self._edge_pre:
            ctx = self.context(*seg)
            node = tuple(range(a, b + 1))
            used = [i for i in ctx.users[T] if a <= i <= b]
            indexed = rank is None or rank in ctx.tensor(T, node).ranks
            self._edge_pre[key] = (min(used), max(used), None, indexed)
        return self._edge_pre[key]

    def child(self, seg, x: int, y: int, S: tuple, R: frozenset, depth: int, avoid: str | None = None,
              W: tuple = (), F: tuple | None = None):
        Sp, Rp = self.project(x, y, S, R)
        key = ("child", self.view(seg, x, y, Rp), x, y, Sp, Rp, depth, avoid)
        if self.placing:
            F = self.room(x, y, S, F, W)
            key += (W, F)
        barred = self._barred(x, y, depth)
        if barred:
            key += ("barred",)
        if key in self.memo:
            return self.recall(key)
        mirror = self.mirror_of(seg, Sp, x, y) if not barred else None
        if mirror is not None:
            pos, sigma = mirror
            return self.mirrored(key, sigma, _permuted(S, pos), self.child(
                seg, x, y, _permuted(S, pos), R, depth, sigma.get(avoid, avoid)))
        if self.time_limit is not None and time.perf_counter() - self._began > self.time_limit:
            self.out_of_time()
        self.enter()
        ds = self.base.child(seg, x, y, S, R, depth, avoid) if self.front else None
        placed = (W, F) if self.placing else ()  # without placements, the calls as they were
        if x == y:
            out = self.leaf(x, S, R, *((None, *placed) if placed else ()))
        elif depth >= self.max_depth:
            out = None
        else:
            out = None
            sizes = self.sizes(S)
            for r, t in self.loop_options(seg, x, y, S, avoid):
                if sizes[r] % t:  # an imperfect tile (one buffer: never with placements)
                    out = self.keys.merge([out, self.peeled(seg, x, y, S, r, t, R, depth, out)])
                    continue
                out = self.keys.merge([out, self.loop(seg, x, y, S, r, t, R, depth, out,
                                                      *((*placed, ds) if placed else ()))])
        return self.store(key, self.on_front(out, ds))

    def mirror_of(self, seg, Sp: tuple, a: int, b: int):
        """``(positions, renaming)`` where the state of a node over ``a..b`` with projected
        tiles ``Sp`` is answered by its mirror image (:meth:`mirrored`): the segment has a rank
        symmetry that moves the run's tiles and the image's tiles come first; else None."""
        if not self.mirrors or self.placing or self.lazy or self.keys is not SCALAR:
            return None
        key = (seg, a, b)
        try:
            m = self._mirror[key]
        except KeyError:
            m = self._mirror[key] = self._run_mirror(seg, a, b)
        if m is None:
            return None
        q, pos, sigma = m
        return (pos, sigma) if tuple([Sp[k] for k in q]) < Sp else None

    def _run_mirror(self, seg, a: int, b: int):
        """The segment's rank symmetry as it acts on the run ``a..b``'s projected tiles: the
        permutation of their positions, of all positions, and the renaming (None: none moves
        a tile of the run)."""
        if seg not in self._mirror:
            i, j = seg
            sigma = mirror_on(self.workload.einsums[i:j + 1], self._sigma)
            self._mirror[seg] = None if sigma is None else (
                tuple(self.position[sigma.get(r, r)] for r in self.ranks), sigma)
        whole = self._mirror[seg]
        if whole is None:
            return None
        pos, sigma = whole
        idx = self.run(a, b)[0]
        q = tuple(idx.index(pos[k]) for k in idx)
        return None if q == tuple(range(len(idx))) else (q, pos, sigma)

    def mirrored(self, key, sigma: dict, image_S: tuple, st):
        """The staircase of a state whose mirror image (tiles ``image_S``) has ``st``: equal,
        point for point, each point's tree the image's renamed by ``sigma``; memoised under the
        state's own ``key``.

        Why it is exact: ``sigma`` (:func:`mirror_on`) maps every Einsum of the segment onto
        itself, each tensor's axes permuted the same way wherever it is used. Renaming the ranks
        of a tree by ``sigma`` (loop ranks, each leaf's tiles and loop order) then maps the trees
        of a node with tiles ``S`` onto those of the node with tiles ``sigma(S)`` (ranks and
        tiles swapped together), with the same resident and kept tensors: every footprint is a
        product over a tensor's axes and every loop's iterations a ratio of one rank's size and
        tile, both unchanged, and what may loop where (:func:`fusion.loop_allowed`) is a fact
        about the segment's structure, which ``sigma`` keeps. So the two staircases are equal,
        and a tree of the image renamed back is a tree of the state at the same point."""
        self.mirrored_states += 1
        if st is not None:
            tag = self.record(("mirror", st, image_S, sigma))
            st = st.retagged([tag] * len(st.occ))
        self.memo[key] = st
        return st

    def loop_options(self, seg, x: int, y: int, S: tuple, avoid: str | None) -> list:
        """The loops a node over Einsums ``x..y`` with tiles ``S`` may take: (rank, tile) for
        every rank of the span with more than one tile left, but ``avoid`` (the parent's rank),
        split only where allowed, each tile a proper divisor (``*/imperfect``: each of
        ``tile_sizes``, the smallest tile for each number of iterations, as single Einsums
        take them). Fewest iterations first: their curves reach low traffic early, so the
        lower bounds of the many-iteration options after them are matched sooner."""
        span = tuple(range(x, y + 1))
        sizes = self.sizes(S)
        ranks = sorted({r for i in span for r in self.workload.einsums[i].size})
        full = self.workload.size
        tiles = partial(tile_sizes, imperfect=True) if self.imperfect else divisors
        options = [(r, t) for r in ranks if sizes[r] > 1 and r != avoid
                   and (self.split or sizes[r] == full[r])
                   and self.allowed(seg, span, r) for t in tiles(sizes[r])[:-1]]
        return sorted(options, key=lambda o: -(-sizes[o[0]] // o[1]))

    def kept_sets(self, cands: list[str]) -> list[tuple]:
        """The kept sets a node tries out of its candidates ``cands``: every subset, except that
        of *twins* (inputs that the same Einsums read through the same axes, like the four
        vectors of a folded BatchNorm or LayerNorm's scale and shift) only the first ``k`` of
        those in ``cands`` are kept, for each ``k``. Exact: twins differ only by name, so
        swapping two of them throughout maps a tree to a tree of the same occupancy and
        traffic, and a permutation of the twins among ``cands`` (the twins neither resident
        nor kept above: ``cands`` holds the node's non-resident candidates, the same set for
        every kept set tried) leaves everything above the node as it is and maps any ``k`` of
        them onto the first ``k``."""
        if not self.share or len(cands) < 2:
            return subsets(cands)
        key = tuple(cands)
        try:
            return self._kept_sets[key]
        except KeyError:
            out = self._kept_sets[key] = self._twin_subsets(cands)
            return out

    def _twin_subsets(self, cands: list[str]) -> list[tuple]:
        """:meth:`kept_sets` of ``cands`` (at least two), made once per candidate list."""
        before = {}  # each twin among cands -> its twins earlier in cands
        for k, T in enumerate(cands):
            c = self._twins.get(T)
            if c is not None:
                earlier = tuple(U for U in cands[:k] if self._twins.get(U) == c)
                if earlier:
                    before[T] = earlier
        if not before:
            return subsets(cands)
        return [K for K in subsets(cands)
                if all(U in K for T in K if T in before for U in before[T])]

    def out_of_time(self):
        self.stopped(f"did not finish in its time limit of {self.time_limit:g} s",
                     "raise the limit, lower max_depth, or solve it unfused")

    def check_memory(self) -> None:
        """Stop, naming how far the search got, where the machine's available memory has fallen
        below its reserve (:func:`memory_left`): a search that cannot finish in memory says so
        instead of being killed by the kernel (one process) or breaking its pool (workers)."""
        left = memory_left()
        if left is None or left[0] >= left[2]:
            return
        available, total, reserve = left
        self.stopped(f"stopped with {_gb(available)} of the machine's {_gb(total)} memory left "
                     f"(its reserve: {_gb(reserve)}), this process holding {_gb(_peak_rss())} "
                     f"at most", "free memory, lower max_depth, or solve it unfused")

    def stopped(self, why: str, advice: str):
        """SolverError: the search stopped (``why``), how far it got, and no curve."""
        w = self.workload
        total = sum(len(connected_runs(w, i, len(w.einsums))) for i in range(len(w.einsums)))
        raise SolverError(
            f"the fused frontier of {w.name or 'the workload'} {why} ({self.solved} of {total} "
            f"segments solved, {len(self.memo):,} states): no curve is reported, since a partial "
            f"search proves nothing; {advice}")

    def bridged(self, x: int, y: int, R: frozenset) -> bool:
        """Whether every cut inside Einsums ``x..y`` is bridged by a tensor used on both sides
        of it that is not resident for the run (``R``). A loop child over a run that is not is
        never tried: where only resident tensors (or none) cross a cut at ``m``, the loop node
        over ``x..y`` (rank ``r``, tile ``t``, kept set ``K``) costs no less than two sibling
        loop nodes over ``x..m`` and ``m+1..y`` with the same rank and tile, keeping the parts
        of ``K`` each half uses (a kept tensor used on both sides would bridge the cut), and the
        body DP tries those siblings at the same depth. Proof, by induction on the depth left:
        a child of the node's body that spans the cut is itself such a run (its resident set
        holds ``R``'s tensors it uses), so it is no better than its split, and the body is its
        left children then its right ones. Each child sees the same tiles and the same resident
        tensors in both forms (a tensor kept for the other half is not one of its tensors; a
        resident intermediate is resident for both), so it has the same curve; the kept
        tensors' traffic is a sum over tensors, the same; and a sibling's node stores a subset
        of what the merged node stores while each child runs (the other half's kept tiles are
        gone, and no intermediate inside ``x..y`` crosses the cut), as its parent does while
        each sibling runs (an intermediate live while one sibling runs is live while the
        merged child does). So the split's traffic is the same and its occupancy no larger, on
        one buffer and on every level of a hierarchy (each leaf's own key is unchanged).
        :func:`connected_runs` is the same rule at the segment root, where nothing is
        resident."""
        key = (x, y, R & self.run(x, y)[1])
        if key not in self._bridged:
            self._bridged[key] = bridged(self.workload.einsums[x:y + 1], key[2])
        return self._bridged[key]

    def enclosable(self, seg, x: int, y: int, S: tuple) -> bool:
        """Whether any loop may enclose Einsums ``x..y`` under the tiles ``S``: a rank the run
        allows, still over 1, and (unless ranks split) not yet looped over above. A loop allowed
        over a run is allowed over each run inside it (every Einsum has its rank, and an
        intermediate written and read inside the shorter run is so inside the longer one, with at
        least the same readers to align), so a run that no loop
        may enclose stays so when it grows, and the search over longer children stops there."""
        key = (seg, x, y, self.open_ranks(S) if self.share else frozenset(self.ranks))
        if key not in self._loopable:
            span = tuple(range(x, y + 1))
            ranks = {r for i in span for r in self.workload.einsums[i].size} & key[3]
            self._loopable[key] = any(self.allowed(seg, span, r) for r in ranks)
        return self._loopable[key]

    def open_ranks(self, S: tuple) -> frozenset:
        """The ranks a loop may still step through under the tiles ``S`` (child's options)."""
        if S not in self._open:
            full = self.workload.size
            self._open[S] = frozenset(r for r, t in zip(self.ranks, S)
                                      if t > 1 and (self.split or t == full[r]))
        return self._open[S]

    def allowed(self, seg, span: tuple[int, ...], r: str) -> bool:
        """Whether a loop over ``r`` may enclose Einsums ``span`` (sizes aside: a rank of size 1
        never loops)."""
        key = (seg, span, r)
        if key not in self._allowed:
            if self.rule is None:
                w, ctx = self.workload, self.context(*seg)
            else:
                w = self.rule
                if seg not in self._rule_ctx:
                    self._rule_ctx[seg] = fusion.Context(w, w.names[seg[0]:seg[1] + 1])
                ctx = self._rule_ctx[seg]
            self._allowed[key] = fusion.loop_allowed(w, ctx, span, r, self.workload.size)
        return self._allowed[key]

    def leaf(self, x: int, S: tuple, R: frozenset, tiles: tuple | None = None,
             W: tuple = (), F: tuple | None = None):
        """Einsum ``x``'s curve under the tiles ``S`` with ``R`` resident (``curves.stairs``),
        keyed by what it depends on (:meth:`used`: ``tiles``, where the caller has them, with
        ``R`` already cut to the Einsum's tensors); None where no nest of it fits. With
        placements, ``W`` and ``F`` (:meth:`body`) shape its leaf arch."""
        if tiles is None:
            R = R & self.run(x, x)[1]
            R = self._interned.setdefault(R, R)
            tiles = tuple(S[k] for k in self.used(x, R))
        key = ("leaf", x, R, tiles)
        placed = ()
        if self.placing:
            W = tuple(p for p in W if p[0] in R)
            F = self.room(x, x, S, F, W)
            key += (W, F)
            placed = self.leaf_placement(W, F)
        if key in self.memo:
            return self.recall(key)
        self.enter()
        out, lazy = self.curves.stairs(self, x, self.sizes(S), R, *placed)
        if lazy is not None:  # a lazy leaf not yet exact: the entry depends on it
            self._stack[-1].add(lazy)
        if self.front and (W or F != self.caps):
            out = self.on_front(out, self.base.leaf(x, S, R))
        return self.store(key, out)

    def used(self, x: int, R: frozenset) -> tuple[int, ...]:
        """Positions of the ranks Einsum ``x``'s leaf depends on: those its non-resident
        tensors use (``reduced``) where values are per invocation; with totals, every rank of
        the Einsum (its invocations are the product of their loops' iterations)."""
        if (x, R) not in self._used:
            e = self.workload.einsums[x]
            ranks = e.size if self.totals else {r for T in e.tensors if T.name not in R
                                                for r in T.ranks}
            self._used[(x, R)] = tuple(sorted({self.position[r] for r in ranks}))
        return self._used[(x, R)]

    def loop(self, seg, x, y, S, r, t, R, depth, best, W: tuple = (), F: tuple | None = None,
             ds=None):
        """A loop node over ``r`` in tiles of ``t`` enclosing Einsums ``x..y``; it may keep
        tensors its loop does not index (they stay across iterations) or that several of its
        Einsums use. Per invocation its key is ``const + n * body``; in totals (``unit``
        invocations of the node) ``unit * const + body``. An option is skipped when the best
        seen so far is at or below its lower bounds (lexicographically on hierarchies: every key
        the option can reach is componentwise above them, so lexicographically too).

        With placements (``W``, ``F``: :meth:`body`; ``ds``: the default child's staircase,
        the DRAM front) every placement of each kept set is tried, a kept set off the front is
        not (:class:`fused_levels.PlacedSearch`, Theorem 2), and a placement is skipped where
        ``best`` (the options seen for the same child, this loop's included) is at or below its
        bounds (:meth:`floors`) at each breakpoint of its default loop's DRAM column that
        reaches the front (:meth:`reaching`; none: the kept set is off it)."""
        sp = tuple(range(x, y + 1))
        n = self.sizes(S)[r] // t
        unit, scale = (self.runs(S), 1) if self.totals else (1, n)
        below = self.cut(S, r, t)
        moved = self.moved_in(seg, x, y, R)
        cands = [T for T, (w, ranks, live, agree) in moved.items()
                 if agree and (r not in ranks or len(live) > 1 or not self.push_down)]
        streamed = {T: w * self.fp(T, sp, below) for T, (w, _, _, _) in moved.items()}
        floor = sum(streamed.values())
        placing = self.placing
        inner = self.curves.floor(self, x, y, below) if best is not None and not placing else ()
        covers, word_floor = self.keys.covers, self.curves.word_floor
        barred = self._barred(x, y, depth)
        bounded = best is not None or placing or barred
        # per candidate, once for all its kept sets: its tile, its traffic as kept, the first
        # and last Einsum its tile is live for, and whether it is lifted (body(): the loop does
        # not index it); the kept sets' sums of these are what each option costs to set up
        terms = {T: self._kept_term(seg, x, y, sp, below, r, n, moved, T) for T in cands}
        if self.kept_parts and not self.split and self.share and not placing and not self.front:
            return self._loop_lifting(seg, x, y, S, r, t, R, depth, best, sp, n, unit, scale,
                                      below, cands, streamed, floor, inner, barred, terms)
        table = None  # floor_table, made when a kept set first needs floor()
        parts, recs = [], []
        for K in self.kept_sets(cands):
            const = sum([terms[T][1] for T in K])
            reach = None  # the default option's breakpoints on the DRAM front (PlacedSearch)
            if self.front:
                reach = self.reaching(self.base.body(seg, x, y, below, R, K, r, depth + 1),
                                      unit * const, ds)
                if not reach:
                    self.off += 1
                    continue
            if bounded:  # lower bounds: kept tiles live at once; everything else moved once
                occ = _most_live([terms[T] for T in K])
                acc = unit * (const + n * (floor - sum([streamed[T] for T in K])))
            if (best is not None or barred) and not placing:
                if self._covered(best, occ, acc, inner, barred):  # the cheap bound: no floor
                    continue
                if word_floor and (barred or self.option_floor):
                    if table is None:  # once for all kept sets
                        table = self.floor_table(seg, x, y, below, R, r,
                                                 depth + 1 >= self.max_depth, cands)
                    lo_occ, lo_acc = self.floor(seg, x, y, below, R, K, r,
                                                depth + 1 >= self.max_depth, table)
                    if self._covered(best, max(occ, lo_occ),
                                     max(acc, unit * (const + n * lo_acc)), inner, barred):
                        continue
            if placing:  # the option's (occupancy, DRAM) bounds, along its default DRAM
                # column where it reaches the front (the rest is dropped anyway: reaching)
                points = [(occ, acc)] if reach is None else [
                    (max(occ, o), max(acc, d)) for o, d in reach]
            tiles = {T: terms[T][0] for T in K} if placing else None
            for KA in self.assign(K, sp, below, F, W):
                c = self.placed_const(unit * const, K, KA, tiles, n, r, unit, moved)
                if placing and best is not None:
                    lo = tuple(self.floors(seg, x, y, below, R, K, W, KA, unit * n, moved,
                                           depth + 1 >= self.max_depth, F) + c[1:])
                    if all(covers(best, o, a, lo) for o, a in points):
                        self.skipped += 1
                        continue
                body = self.body(seg, x, y, below, R, K, r, depth + 1,
                                 *((W, F, KA) if placing else ()))
                if body is None:
                    continue
                self.nodes += 1
                part = self.keys.shifted(body, c, scale, len(recs))
                parts.append(part)
                recs.append(("loop", r, t, K, body) + ((KA, seg) if placing else ()))
                if placing:
                    best = part if best is None else self.keys.merge([best, part])
        return self.keep(self.keys.merge(parts), recs)

    def _loop_lifting(self, seg, x, y, S, r, t, R, depth, best, sp, n, unit, scale, below,
                      cands, streamed, floor, inner, barred, terms):
        """:meth:`loop` where its lifted kept tensors are lifted (no split ranks, no
        placements): the same options, bounds, bodies and records, with what every kept set
        shares worked out once. A kept set ``K`` is its lifted part ``G`` (tensors the loop
        does not index: live over the whole run, so the most live at once is their tiles'
        sum plus the most of the rest live at once, :func:`_most_live`) and the rest ``I``;
        its body is the body with ``G`` resident (:meth:`lifted`), looked up under the key
        :meth:`body` makes for it (its tiles, run and rank fixed by the loop; only the
        resident set and its view vary), every point raised by ``G``'s tiles. Which of a
        candidate list's kept sets are ``G`` and ``I`` depends only on which candidates the
        loop indexes (:meth:`_kept_parts`, once per such pattern)."""
        keys, memo, intern = self.keys, self.memo, self._interned
        covers_bound = best is not None or barred
        word_floor = self.curves.word_floor and (barred or self.option_floor)
        leaves_below = depth + 1 >= self.max_depth
        get, names = self.projector(x, y)
        Sp = get(below)
        Sp = intern.setdefault(Sp, Sp)
        R0 = R & names
        sig = self.signature(seg, x, y)
        local = self.local_keys
        views = self._lift_views
        info = [terms[T] for T in cands]
        cost = [k[1] for k in info]
        tile = [k[0] for k in info]
        moved = [streamed[T] for T in cands]
        table = None
        parts, recs = [], []
        for K, ids, G, I, Gs, lift, rest in self._kept_parts(tuple(cands),
                                                             tuple([k[4] for k in info])):
            const = sum([cost[i] for i in ids])
            g = sum([tile[i] for i in lift])
            if covers_bound:  # loop()'s bounds: kept tiles live at once; the rest moved once
                occ = g + _most_live([info[i] for i in rest]) if rest else g
                acc = unit * (const + n * (floor - sum([moved[i] for i in ids])))
                if self._covered(best, occ, acc, inner, barred):
                    continue
                if word_floor:
                    if table is None:
                        table = self.floor_table(seg, x, y, below, R, r, leaves_below, cands)
                    lo_occ, lo_acc = self.floor(seg, x, y, below, R, K, r, leaves_below, table)
                    if self._covered(best, max(occ, lo_occ),
                                     max(acc, unit * (const + n * lo_acc)), inner, barred):
                        continue
            c = unit * const
            if not G:
                body = self.body(seg, x, y, below, R, K, r, depth + 1)
                if body is None:
                    continue
                self.nodes += 1
                parts.append(keys.shifted(body, c, scale, len(recs)))
                recs.append(("loop", r, t, K, body))
                continue
            self.lifts += 1
            # body()'s key for (R | G, I), as it makes it (no bar below the root body)
            try:
                Rp, view = views[(R0, Gs, sig)]
            except KeyError:
                Rp = R0 | Gs
                Rp = intern.setdefault(Rp, Rp)
                view = sig - Rp if local else sig
                view = intern.setdefault(view, view)
                views[(R0, Gs, sig)] = Rp, view
            key = ("body", view, x, y, Sp, Rp, I, r if I else None, depth + 1)
            if key in memo:
                lifted = self.recall(key)
            else:
                lifted = self.body(seg, x, y, below, R | Gs, I, r, depth + 1)
            if lifted is None:
                continue
            self.nodes += 1
            parts.append(keys.lifted(lifted, g, c, scale, len(recs)))
            recs.append(("lifted", r, t, K, lifted, g))
        return self.keep(keys.merge(parts), recs)

    def _kept_parts(self, cands: tuple, lifted: tuple) -> list:
        """Per kept set of ``cands`` (:meth:`kept_sets`, in its order), where ``lifted`` flags
        the candidates the loop does not index: ``(K, the positions of its tensors in
        cands, G, I, G as a frozenset, the positions of G, the positions of I)``."""
        key = (cands, lifted)
        try:
            return self._parts[key]
        except KeyError:
            pass
        pos = {T: i for i, T in enumerate(cands)}
        out = []
        for K in self.kept_sets(list(cands)):
            ids = tuple([pos[T] for T in K])
            G = tuple([T for T in K if lifted[pos[T]]])
            I = tuple([T for T in K if not lifted[pos[T]]])
            out.append((K, ids, G, I, frozenset(G), tuple([pos[T] for T in G]),
                        tuple([pos[T] for T in I])))
        self._parts[key] = out
        return out

    def peeled(self, seg, x, y, S, r, t, R, depth, best):
        """A loop node over ``r`` in an imperfect tile ``t`` (``*/imperfect``, one buffer):
        ``full = N // t`` iterations of a body under tile ``t``, then one partial iteration of
        the remainder ``N % t``, which runs its own body (fusion.Node.rest) under the same kept
        set. Its curve is ``const + full * body(t) ⊕ body(N % t)``: the two phases run one
        after the other, each with the whole buffer (what the node and its ancestors store
        beside them is in each body's shifts and the parent's), so occupancy is the larger of
        the two and traffic the sum, and each phase's children are chosen independently, so
        the minimum is taken per phase, exactly. A kept tensor moves its tile per full
        iteration and its partial tile once if the loop indexes it, else its tile once. An
        option is skipped as in :meth:`loop`, on bounds that add the two phases' floors."""
        sp = tuple(range(x, y + 1))
        full, part = divmod(self.sizes(S)[r], t)
        below, last = self.cut(S, r, t), self.cut(S, r, part)
        moved = self.moved_in(seg, x, y, R)
        cands = [T for T, (w, ranks, live, agree) in moved.items()
                 if agree and (r not in ranks or len(live) > 1 or not self.push_down)]
        streamed = {T: w * (full * self.fp(T, sp, below) + self.fp(T, sp, last))
                    for T, (w, _, _, _) in moved.items()}
        floor = sum(streamed.values())
        barred = self._barred(x, y, depth)
        leaves = depth + 1 >= self.max_depth
        tables = None
        parts, recs = [], []
        for K in self.kept_sets(cands):
            tiles = {T: self.fp(T, sp, below) for T in K}
            const = sum(moved[T][0] * (full * tiles[T] + self.fp(T, sp, last)
                                       if r in moved[T][1] else tiles[T]) for T in K)
            if best is not None or barred:  # as loop(): kept tiles at once, the rest once each
                occ = max(sum(v for T, v in tiles.items()
                              if r not in moved[T][1] or moved[T][2][0] <= e <= moved[T][2][-1])
                          for e in sp) if K else 0
                acc = const + floor - sum(streamed[T] for T in K)
                if self._covered(best, occ, acc, (), barred):
                    continue
                if tables is None:  # floor_table's, once for all kept sets
                    tables = (self.floor_table(seg, x, y, below, R, r, leaves, cands),
                              self.floor_table(seg, x, y, last, R, r, leaves, cands))
                lo_occ, lo_acc = self.floor(seg, x, y, below, R, K, r, leaves, tables[0])
                lp_occ, lp_acc = self.floor(seg, x, y, last, R, K, r, leaves, tables[1])
                if self._covered(best, max(occ, lo_occ, lp_occ),
                                 max(acc, const + full * lo_acc + lp_acc), (), barred):
                    continue
            body = self.body(seg, x, y, below, R, K, r, depth + 1)
            tail = None if body is None else self.body(seg, x, y, last, R, K, r, depth + 1)
            if tail is None:
                continue
            self.nodes += 1
            k = len(recs)
            parts.append(self.keys.plus_shifted(self.keys.shifted(body, const, full, k), 0,
                                                tail, k))
            recs.append(("peeled", r, t, K, body, tail))
        return self.keep(self.keys.merge(parts), recs)

    def _kept_term(self, seg, x: int, y: int, sp: tuple, S: tuple, r: str, n: int, moved: dict,
                   T: str) -> tuple:
        """What keeping ``T`` adds to a loop node over ``x..y`` (rank ``r``, ``n`` iterations,
        tiles ``S`` below it): its tile; its traffic (moved once per iteration where the loop
        indexes it, else once); the first and last of the Einsums its tile is live for (all of
        them where the loop does not index it: the tile stays across iterations); and whether
        :meth:`body` lifts it (:meth:`_kept`: the loop does not index it)."""
        w, ranks, users, _ = moved[T]
        tile = self.fp(T, sp, S)
        indexed = r in ranks
        lo, hi = (users[0], users[-1]) if indexed else (x, y)
        return tile, w * tile * (n if indexed else 1), lo, hi, not self._kept(seg, x, y, T, r)[3]

    def _covered(self, best, occ: int, acc: int, inner: tuple, barred: bool) -> bool:
        """Whether a loop option whose lower bounds are ``occ`` and ``acc`` is skipped: the
        options seen for the same child cover them, or (``barred``: the option belongs to the
        whole-run loop of a barred segment) the workload's curve from shorter first segments
        does (:meth:`segment_beaten`). Counted in ``skipped``, the latter in ``beaten`` too."""
        if best is not None and self.keys.covers(best, occ, acc, inner):
            self.skipped += 1
            return True
        if barred:
            _, _, inc, after = self._bar
            k = bisect_right(inc.occ, occ + self._bar_shift) - 1
            if k >= 0 and inc.acc[k] <= acc + self._bar_const + after:
                self.skipped += 1
                self.beaten += 1
                return True
        return False

    def form(self, i: int, j: int) -> tuple:
        """:func:`segment_form` of segment ``i..j``, computed once."""
        try:
            return self._form_of[(i, j)]
        except KeyError:
            out = self._form_of[(i, j)] = segment_form(self.workload, i, j)
            return out

    def count_forms(self, ends: list) -> None:
        """How many of the segments to be solved share each form (:meth:`segment_beaten` bars
        only a segment no other one equals, so that equal segments still share one exact
        staircase, :meth:`segment_once`)."""
        self._repeated = {}
        if self.repeats and self.incumbent and self.keys is SCALAR:
            for i, js in enumerate(ends):
                for j in js:
                    key = self.form(i, j)[0]
                    self._repeated[key] = self._repeated.get(key, 0) + 1

    def _barred(self, a: int, b: int, depth: int) -> bool:
        """Whether a node over ``a..b`` at ``depth`` is the root body or the whole-run child of
        the segment being solved under a bar (:meth:`segment_beaten`): its memo entries are
        keyed apart, since what it holds is exact only where the bar allows."""
        bar = self._bar
        return bar is not None and depth == 0 and a == bar[0] and b == bar[1]

    def segment_beaten(self, i: int, j: int, incumbent, after):
        """Segment ``i..j``'s staircase as :meth:`segment_once` gives it, less points that cannot
        reach the workload's curve: ``incumbent`` is the staircase of the cuts of ``i..`` with
        a shorter first segment, ``after`` the best cut of ``j+1..``. Every point of the
        segment enters the workload's curve only as ``plus_shifted(segment, 0, after)``: at an
        occupancy no less than its own and with traffic no less than its own plus the least
        traffic of ``after`` (its last point). A loop option of the segment's whole-run child
        (the loop node over all of ``i..j`` under the root) has lower bounds ``(o, a)`` on
        every point of its staircase (:meth:`loop`); through the root that keeps ``K``, a point
        becomes one of the segment at occupancy ``o`` plus what the root stores beside the
        child and traffic ``a`` plus the root's constant. Where ``incumbent`` is at or below
        that at that occupancy, every point the option could give is matched or beaten by a
        point already in the workload's curve (earlier in its merge, so ties keep that one),
        and the option is skipped: the workload's curve is the same breakpoint by breakpoint.
        The segment's own staircase is not (so it is neither memoised under the shared keys
        nor handed to equal segments: :meth:`_barred`); one buffer, eager leaves only."""
        if (incumbent is None or after is None or not self.incumbent or self.lazy
                or self.keys is not SCALAR):
            return self.segment_once(i, j)
        if self.repeats and self._repeated.get(self.form(i, j)[0], 0) > 1:
            return self.segment_once(i, j)  # solved exactly once, for every equal segment
        self._bar = (i, j, incumbent, after.acc[-1])
        try:
            return self.segment(i, j)
        finally:
            self._bar = None

    def floor(self, seg, x: int, y: int, S: tuple, R: frozenset, K: tuple, rank, leaves: bool,
              table: tuple | None = None) -> tuple[int, int]:
        """Lower bounds on the occupancy and traffic of a body over Einsums ``x..y`` (tiles
        ``S``, ``R`` resident above, ``K`` kept by its node, which loops over ``rank``), from each
        Einsum's least occupancy (a word per tensor it buffers) and least traffic (each tensor
        it moves, once), without tracing any curve.

        With ``leaves`` (no depth left) the children are the leaves themselves: each leaf runs
        beside what the node stores while it runs, and streams what is not resident for it.
        Otherwise deeper loops may keep tensors for several leaves at once, and may store an
        intermediate in a smaller tile than this node would: so only the node's kept tiles are
        counted live, a tensor several of the Einsums use counts as resident for each of them,
        and it moves, at least once, on its own. Both are read off :meth:`floor_table`
        (``table``, where the caller has it for all the node's kept sets): the bound with
        nothing kept, plus a column per kept tensor."""
        if table is None:
            table = self.floor_table(seg, x, y, S, R, rank, leaves, K)
        base_occ, base_acc, per = table
        terms = [per[T] for T in K]
        occ = max(map(sum, zip(base_occ, *[t[0] for t in terms])))
        return occ, base_acc - sum([t[1] for t in terms])

    def floor_table(self, seg, x: int, y: int, S: tuple, R: frozenset, rank, leaves: bool,
                    cands) -> tuple:
        """:meth:`floor`'s bounds for every kept set of a node at once: ``(occ, acc, per)``, the
        bound's per-Einsum occupancy and its traffic with nothing kept, and per tensor ``T``
        the node may keep (``cands``, moved tensors), what keeping it adds to each Einsum's
        occupancy and to the traffic.

        Why it is the same bound. With ``K`` kept, the bound is, per Einsum ``e``, the words
        stored at ``e`` plus :meth:`least` of ``e`` with a set ``common(K)`` resident, and its
        traffic each Einsum's least traffic plus, below the leaves, one move of each tensor
        of ``shared(K)``. With ``leaves``, what the node stores while the leaf ``e`` runs and
        what is resident for it are :meth:`edge`'s: the intermediates live across ``e`` and
        the kept tiles live at ``e``; ``R``'s tensors, the kept ones and the intermediates
        crossing the leaf that ``e`` uses. Below the leaves, the kept tiles live at ``e``, and
        ``common(K) = R | K | shared(K) | intermediates`` with ``shared(K)`` the moved tensors
        several of the Einsums use, less ``K``. :meth:`least` is a sum over the Einsum's
        tensors not resident (a word each, and each tile moved once, an output's twice). A
        moved tensor is not in ``R`` nor an intermediate, so keeping ``T`` adds ``T``'s tile at
        each Einsum it is live at (``edge``'s rule with ``leaves``, ``loop``'s below, the two
        the same), and makes ``T`` resident for the Einsums that use it, which takes out of
        their :meth:`least` what ``T`` adds there (below the leaves a tensor several Einsums
        use is resident already, so keeping it only takes its one move out of the traffic).
        Each is a sum over ``K``. So :meth:`floor` adds, per kept tensor, its column to the
        empty set's, and gets the same two numbers as summing Einsum by Einsum
        (tests/test_fused_speed.py checks it against that sum)."""
        span = tuple(range(x, y + 1))
        moved = self.moved_in(seg, x, y, R)
        if leaves:
            edges = self.edges(seg, x, y, R, (), None)
            held, resident = [], []
            for e in span:
                stored, Rc = self.edge(seg, x, y, e, e, R, (), None, edges)
                held.append(self.held(stored, span, S))
                resident.append(Rc)
            acc = 0
        else:
            ctx = self.context(*seg)
            shared = [T for T, (_, _, users, _) in moved.items() if len(users) > 1]
            common = R | frozenset(shared) | ctx.intermediates
            held, resident = [0] * len(span), [common] * len(span)
            acc = sum(moved[T][0] * self.fp(T, span, S) for T in shared)
        occ, least = [], []
        for e in span:
            lo_occ, lo_acc = self.least(e, S, resident[e - x])
            occ.append(held[e - x] + lo_occ)
            least.append(lo_acc)
        acc += sum(least)
        per = {}
        for T in cands:
            w, _, users, _ = moved[T]
            lo, hi, _, indexed = self._kept(seg, x, y, T, rank)
            tile = self.fp(T, span, S)
            col = [tile if not indexed or lo <= e <= hi else 0 for e in span]
            if not leaves and len(users) > 1:
                per[T] = (col, w * tile)
                continue
            saved = 0
            for e in users:  # what each user's least() sheds with T resident too
                lo_occ, lo_acc = self.least(e, S, resident[e - x] | {T})
                col[e - x] -= occ[e - x] - held[e - x] - lo_occ
                saved += least[e - x] - lo_acc
            per[T] = (col, saved)
        return occ, acc, per

    def least(self, x: int, S: tuple, R: frozenset) -> tuple[int, int]:
        """Einsum ``x``'s least occupancy and least traffic under tiles ``S`` with ``R``
        resident: a word per tensor it buffers, and every tensor it moves once (an output counts
        twice, as :meth:`leaf` does), the last and first points of its curve or below them."""
        try:
            R, idx = self._least_pre[(x, R)]
        except KeyError:
            Rx = R & self.run(x, x)[1]
            R, idx = self._least_pre[(x, R)] = (Rx, self.used(x, Rx))
        key = (x, R, tuple([S[k] for k in idx]))
        try:
            return self._least[key]
        except KeyError:
            sizes = self.sizes(S)
            e = self.workload.einsums[x]
            streamed = [T for T in e.tensors if T.name not in R]
            out = self._least[key] = (len(streamed), sum(
                T.footprint(sizes) * (2 if T.name == e.output.name else 1) for T in streamed))
            return out

    def moved_in(self, seg, x: int, y: int, R: frozenset) -> dict:
        """The tensors Einsums ``x..y`` move to or from the backing store and that nothing above
        keeps: (words per word moved, ranks, which of ``x..y`` use it, read through one set of
        axes there)."""
        key = (self.signature(seg, x, y), x, y, R & self.run(x, y)[1])
        if key not in self._moved:
            ctx = self.context(*seg)
            sp = tuple(range(x, y + 1))
            out = {}
            for T in sorted(ctx.moved):
                u = tuple(i for i in ctx.users[T] if x <= i <= y)
                if u and T not in R:
                    out[T] = (_weight(ctx, T), frozenset(self.tensor(T, sp).ranks), u,
                              ctx.axes_agree(T, u))
            self._moved[key] = out
        return self._moved[key]

    # -- rebuilding the tree behind a point -----------------------------------------------------

    def build(self, st, capacity: int, S: tuple | None = None) -> list:
        """The loop tree behind the point of ``st`` that answers ``capacity``, under tiles ``S``
        (the whole workload's sizes at a segment). A lazy leaf's point that is only a bound is
        left out of the tree and noted in ``pending`` with the capacity the tree gives it."""
        if S is None:
            S = self.full
        i = int(st.at(capacity))
        if i < 0:
            raise BoundsolverError(f"capacity {capacity} is below the least occupancy")
        rec = self.prov[int(st.tag[i])]
        kind = rec[0]
        if kind == "leaf":
            return [self.curves.leaf_node(self, rec, S)]
        if kind == "bound":
            self.pending.add((rec[1], int(capacity)))
            return []
        if kind == "plus":
            _, child, shift, rest = rec
            return self.build(child, capacity - shift, S) + self.build(rest, capacity, S)
        if kind == "end":
            return []
        if kind == "loop":
            _, r, t, K, body, *at = rec
            return [self.node(r, t, K, body, capacity, self.cut(S, r, t), at)]
        if kind == "lifted":  # a loop node whose body is ``inner`` raised by ``g`` (loop())
            _, r, t, K, inner, g = rec
            return [self.node(r, t, K, inner, capacity - g, self.cut(S, r, t), [])]
        if kind == "peeled":  # an imperfect tile: both phases at the capacity (their sum)
            _, r, t, K, body, tail = rec
            node = self.node(r, t, K, body, capacity, self.cut(S, r, t), [])
            last = self.cut(S, r, S[self.position[r]] % t)
            return [replace(node, rest=tuple(self.build(tail, capacity, last)))]
        if kind == "root":
            _, K, body, *at = rec
            return [self.node(None, 0, K, body, capacity, S, at)]
        if kind == "placed":  # the intermediates' levels, for the node being rebuilt
            self._build_at[-1].extend(rec[1])
            return self.build(rec[2], capacity, S)
        if kind == "cut":
            _, left, right = rec
            return self.build(left, capacity, S) + self.build(right, capacity, S)
        if kind == "spilled":
            _, spilled, (st,) = rec
            return [replace(root, dram=spilled) for root in self.spilled(spilled).build(st, capacity)]
        if kind == "translated":  # the renamed search's lazy bounds are this one's to refine
            _, sigma, (st,) = rec
            sub = self.translated(sigma)
            roots = sub.build(st, capacity)
            self.pending |= sub.pending
            sub.pending = set()
            return [self.untranslated(root, sigma) for root in roots]
        if kind == "renamed":
            _, st, offset, ranks, tensors = rec
            return [self.renamed(node, offset, ranks, tensors)
                    for node in self.build(st, capacity, S)]
        if kind == "mirror":  # the image's tree (under its tiles), its ranks renamed back
            _, st, image_S, sigma = rec
            return [self.renamed(node, 0, _Names(sigma), _Names())
                    for node in self.build(st, capacity, image_S)]
        raise AssertionError(kind)

    def node(self, r, t: int, K: tuple, body, capacity: int, S: tuple, at: list) -> fusion.Node:
        """A loop node (or a segment root, ``r`` None) and its children rebuilt; ``at`` (with
        placements) holds its kept tensors' levels and its segment, and the levels of the
        intermediates it stores come from the ``placed`` records under it."""
        if not at:
            return fusion.Node(r, t, tuple(K), tuple(self.build(body, capacity, S)))
        KA, seg = at
        self._build_at.append([])
        node = fusion.Node(r, t, tuple(K), tuple(self.build(body, capacity, S)))
        ia = self._build_at.pop()
        names = [lv.name for lv in self.curves.arch.on_chip]
        here = set(fusion.stored_here(self.context(*seg), node, frozenset()))
        return replace(node, at=tuple([(T, names[l]) for T, l in KA]
                                      + [(X, names[l]) for X, l in ia if X in here]))

    def segment_once(self, i: int, j: int):
        """The staircase of segment ``i..j``, solved only if no segment equal to it up to the
        names of its tensors and ranks (:func:`segment_form`) was solved before; else that
        segment's staircase, each point's tree renamed (docs/fusion.md, 'Repeated blocks').

        Why it is exact: a segment's trees and their costs depend on its Einsums (which tensor
        each reads and writes, through which axes, the ranks' sizes), on which of its tensors
        are written back (its outputs, and intermediates read after it or stored) and on the
        tensors' sizes, and on nothing else of the workload; names enter only as labels. Equal
        forms state all of these equal under the renaming of one segment's tensors and ranks
        onto the other's, which maps every loop tree of one (loop ranks, kept tensors, each
        leaf's mapping) onto a loop tree of the other of the same occupancy and traffic, both
        ways. So the two segments' exact staircases are equal, and the tree behind a point of
        one, renamed, is a tree behind the same point of the other. On one buffer only (a
        hierarchy's leaves carry level mappings that this renaming does not cover)."""
        if not (self.repeats and self.keys is SCALAR) or self.spill:
            return self.segment(i, j)
        key, ranks, tensors = self.form(i, j)
        if key not in self._forms:
            self._forms[key] = (i, self.segment(i, j), ranks, tensors)
            return self._forms[key][1]
        first, st, ranks0, tensors0 = self._forms[key]
        self.solved += 1
        self.reused += 1
        if st is None:
            return None
        tag = self.record(("renamed", st, i - first, {ranks0[c]: ranks[c] for c in ranks},
                           {tensors0[c]: tensors[c] for c in tensors}))
        return st.retagged([tag] * len(st.occ))

    def renamed(self, node, offset: int, ranks: dict, tensors: dict):
        """A tree of one segment as the tree of an equal segment ``offset`` Einsums later,
        renamed by ``ranks`` and ``tensors`` (:meth:`segment_once`)."""
        if isinstance(node, fusion.Leaf):
            w = self.workload
            name = w.einsums[w.names.index(node.einsum) + offset].name
            return fusion.Leaf(name, _renamed(node.mapping, ranks, tensors))
        return fusion.Node(None if node.rank is None else ranks[node.rank], node.tile,
                           tuple(tensors[T] for T in node.keep),
                           tuple(self.renamed(c, offset, ranks, tensors) for c in node.children),
                           tuple((tensors[T], at) for T, at in node.at),
                           tuple((self._shifted_name(e, offset), ranks[r]) for e, r in node.via),
                           rest=tuple(self.renamed(c, offset, ranks, tensors) for c in node.rest))

    def _shifted_name(self, einsum: str, offset: int) -> str:
        """The Einsum ``offset`` places after ``einsum`` in the workload."""
        w = self.workload
        return w.names[w.names.index(einsum) + offset]


    # -- the workload ------------------------------------------------------------------------

    def whole(self, fusion_on: bool):
        """The workload's staircase: the best cut of its Einsums into segments. The best cut of
        Einsums ``i..`` is its first segment ``i..j``, then the best cut of ``j+1..`` (a suffix
        DP: quadratic in the number of Einsums where every run's best cut would be cubic; the
        same staircase, since max/+ are monotone and Pareto merging distributes)."""
        keys, workload = self.keys, self.workload
        n = len(workload.einsums)
        longest = n if fusion_on else 1
        rest: dict = {n: keys.ZERO}
        ends = [connected_runs(workload, i, min(n, i + longest)) for i in range(n)]
        reach = list(accumulate((e[-1] for e in ends), max, initial=-1))  # reach[i]: of i' < i
        self.count_forms(ends)
        self.count_asks(ends)
        for i in range(n - 1, -1, -1):
            parts, incumbent = [], None
            for j in ends[i]:
                after = rest[j + 1]
                first = self.segment_beaten(i, j, incumbent, after)
                if first is None or after is None:
                    continue
                parts.append(keys.plus_shifted(first, 0, after, self.record(("cut", first, after))))
                incumbent = keys.merge([incumbent, parts[-1]])
            rest[i] = keys.merge(parts)
            if i:
                self.forget(reach[i], rest, i)
        return rest[0]

    # Memo entries past which a sweep runs (:meth:`forget`); tests lower it to sweep every step.
    SWEEP = 200_000

    def forget(self, last: int, rest: dict, start: int | None = None) -> None:
        """Drop what no segment still to be solved can read: every segment left starts before
        the one just finished (``start``) and ends at ``last`` or before, so a memo entry (or an
        edge) over a run ending after ``last`` is never read again, nor ``rest`` past
        ``last + 1``; then the provenance records that nothing kept reaches (:meth:`collect`).
        A sweep runs where the reach has dropped since the last one (at the border of a
        connected region; within one, every start reaches its end and nothing dies) and the
        memos hold ``SWEEP`` entries together; it sweeps the searches this one asks for a
        segment's renamed trees too (:meth:`sweep`). A translated search is also swept past
        the reach of the segments left that ask for it (:meth:`retire`): within one region,
        most renamings are asked by the segments of one or a few starts. Exact: what is
        dropped is never asked for again, and a record a kept staircase reaches is kept. One
        buffer, eager leaves only (lazy leaves invalidate memo entries by their own
        bookkeeping)."""
        if not (self.forgetting and self.keys is SCALAR) or self.lazy:
            return
        for k in [k for k in rest if k > last + 1 and k != len(self.workload.einsums)]:
            del rest[k]
        if start is not None:
            self.retire(start)
        if last >= self._swept or self.entries() < self.SWEEP:
            return  # nothing new is past reach (runs reach as far as at the last sweep)
        self.sweep(last, list(rest.values()))

    def entries(self) -> int:
        """Memo entries held by this search and the renamed searches it asks (:meth:`forget`)."""
        return len(self.memo) + sum(len(sub.memo) for _, _, sub in self.renamings())

    def renamings(self):
        """``(kind, key, search)`` for each search this one's records reach into: its
        translated (:meth:`translated`) and spilled (:meth:`spilled`) searches."""
        for kind, subs in (("translated", self._translated), ("spilled", self._spilled)):
            for key, sub in subs.items():
                yield kind, key, sub

    def count_asks(self, ends: list) -> None:
        """Which segments to be solved (``ends``, by start) ask each renaming's search for
        their translated trees: per renaming, per start, the furthest end (:meth:`retire`).
        More than are asked (a segment equal to one solved is renamed instead,
        :meth:`segment_once`), never fewer."""
        self._asks = None
        if not (self.translate and self.forgetting and self.keys is SCALAR) or self.lazy:
            return
        asks: dict = {}
        for i, js in enumerate(ends):
            for j in js:
                for sigma in self.translations(i, j):
                    far = asks.setdefault(sigma, {})
                    far[i] = max(far.get(i, -1), j)
        self._asks = asks
        self._reach = {sigma: max(far.values()) for sigma, far in asks.items()}

    def retire(self, start: int) -> None:
        """After the segments starting at ``start``: each translated search swept past the
        furthest end of the segments still to be solved (starting before ``start``) that ask
        for it, where that dropped; -1 where none does: its whole memo goes, and only the
        records this one's boxed staircases reach stay, for rebuilding trees. Exact by
        :meth:`forget`'s argument: a translated search is asked only by
        :meth:`with_translations`, for a segment :meth:`count_asks` counted, and each memo
        entry it reads covers a run inside that segment."""
        if self._asks is None:
            return
        for sigma, sub in self._translated.items():
            far = self._asks.get(sigma, {})
            reach = max([j for i, j in far.items() if i < start], default=-1)
            if reach < self._reach.get(sigma, 1 << 60):
                self._reach[sigma] = reach
                sub.sweep(reach, self.boxes("translated", sigma))

    def boxes(self, kind: str, key) -> list:
        """The staircases of ``kind``'s search ``key`` that this one's records not freed box
        (:meth:`boxed`): the roots that search keeps besides its memo."""
        tags = self._boxed.get((kind, key), [])
        tags[:] = [t for t in tags if self.prov[t] is not None]
        return [self.prov[t][2][0] for t in tags]

    def sweep(self, last: int, roots: list) -> None:
        """:meth:`forget`'s sweep past ``last``, keeping ``roots``, the memo and the equal
        segments' staircases (:meth:`segment_once`); then each renamed search's, its roots
        the staircases this one's surviving records box for it (:meth:`boxes`: their tags
        index that search's provenance, never this one's). A renamed search is asked only
        from :meth:`segment`, for the segment being solved, and every memo entry it makes
        covers a run inside that segment, so :meth:`forget`'s argument holds for it unchanged
        (a translated search only as far as its own reach, :meth:`retire`)."""
        self.memo = {k: v for k, v in self.memo.items() if _run_end(k) <= last}
        self._edges = {k: v for k, v in self._edges.items() if k[2] <= last}
        self.collect([*self.memo.values(), *roots, *(f[1] for f in self._forms.values())])
        self._swept = last
        reach = self._reach if self._asks is not None else {}
        for kind, key, sub in self.renamings():
            far = min(last, reach.get(key, last)) if kind == "translated" else last
            sub.sweep(far, self.boxes(kind, key))

    def release(self, roots: list) -> None:
        """After the solve: the memo and the per-state tables dropped, and the provenance
        records that no staircase in ``roots`` (the frontier whose trees are still to be
        rebuilt) reaches freed, here and in the renamed searches (their roots the staircases
        this one's records box). Why: the search pauses the cyclic collector (``_no_cyclic_gc``);
        once it runs again, each collection of the oldest generation walks every object still
        alive, and a solved search holds millions (ResNet-50's Einsums 30..35: 3.9 million, a
        full collection 3.0 CPU s, and a caller's next 3 million small lists 5.3 s where 1.2 s
        is usual). Rebuilding a tree (:meth:`build`) reads the records alone. One buffer (as
        :meth:`forget`: :meth:`collect` follows :class:`Stairs`; a hierarchy's are
        ``fused_levels``'s); elsewhere nothing is dropped."""
        if self.keys is not SCALAR:
            return
        self.memo, self.deps, self.users = {}, {}, {}
        self._edges, self._edge_pre, self._moved, self._forms = {}, {}, {}, {}
        self._least, self._least_pre, self._held, self._fp = {}, {}, {}, {}
        self._parts, self._lift_views = {}, {}
        self.collect(roots)
        for kind, key, sub in self.renamings():
            sub.release(self.boxes(kind, key))

    def collect(self, roots: list) -> None:
        """Free the provenance records that no staircase in ``roots`` reaches through its tags
        and the staircases its records hold (their slots stay, as None, so tags keep their
        meaning)."""
        live = bytearray(len(self.prov))
        live[0] = 1  # ZERO's tag
        seen: set = set()
        stack = [st for st in roots if st is not None]
        while stack:
            st = stack.pop()
            if id(st) in seen:
                continue
            seen.add(id(st))
            for t in st.tag:
                if not live[t]:
                    live[t] = 1
                    stack.extend(x for x in self.prov[t] if isinstance(x, Stairs))
        prov = self.prov
        for k, alive in enumerate(live):
            if not alive:
                prov[k] = None

    def solve(self, fusion_on: bool, capacities: list[int] | None = None):
        """The workload's staircase, exact at ``capacities`` (None: every breakpoint). With lazy
        leaves the search is a lower bound at every capacity; the trees behind the capacities
        asked for are rebuilt, each lazy leaf point they use that is only a bound is made exact
        at the capacity the tree gives it (``curves.refine``), the memo entries that read it are
        dropped, and the search repeats until those trees use exact leaves only: then their keys
        are real trees' and lower bounds, so optimal (docs/fusion.md, 'Lazy leaves')."""
        while True:
            with _no_cyclic_gc():
                front = self.whole(fusion_on)
            if not self.lazy or front is None:
                return front
            self.pending = set()
            caps = front.occ if capacities is None else [c for c in capacities if front.at(c) >= 0]
            for c in caps:
                self.build(front, int(front.occ[front.at(c)]))
            if not self.pending:
                return front
            self.rounds += 1
            progress = False
            for state_key, cap in sorted(self.pending, key=repr):
                progress |= self.curves.refine(self.curves.lazy[state_key], cap)
                self.invalidate(state_key)
            if not progress:
                raise SolverError(f"the lazy leaves of {self.workload.name or 'the workload'} "
                                  f"learnt nothing in a round: a leaf's bound excludes its exact "
                                  f"point")


@contextmanager
def _no_cyclic_gc():
    """Python's cyclic garbage collector paused (and restored after, as it was). The search
    makes millions of tuples, lists and staircases that live until a region is forgotten, and
    almost no reference cycles (refcounting frees everything else): every collection of the
    oldest generation walks that whole heap for nothing, about a quarter of the search's time
    on ResNet-50's last bottleneck. No value depends on it."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def memory_left() -> tuple[int, int, int] | None:
    """The machine's available and total memory in bytes (Linux's ``/proc/meminfo``: what can
    be allocated without swapping) and the reserve a fused search leaves it: a sixteenth of
    the total, at least 256 MiB. None where the kernel does not say (no guard there)."""
    try:
        with open("/proc/meminfo", "rb") as f:
            info = f.read()
    except OSError:
        return None
    fields = {}
    for line in info.splitlines():
        name, _, rest = line.partition(b":")
        if name in (b"MemAvailable", b"MemTotal"):
            fields[name] = int(rest.split()[0]) * 1024
    if len(fields) < 2:
        return None
    total = fields[b"MemTotal"]
    return fields[b"MemAvailable"], total, max(256 << 20, total // 16)


def _peak_rss() -> int:
    """This process's peak resident memory in bytes (0 where unknown)."""
    try:
        import resource
    except ImportError:
        return 0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def _gb(n: int) -> str:
    return f"{n / 2**30:.2f} GB"


def _most_live(terms: list) -> int:
    """The most words of kept tiles live at once (:meth:`TreeSearch._kept_term`'s tile, first
    and last Einsum): the most at some tile's first Einsum, since every tile live at an Einsum
    ``e`` is live at the latest first Einsum among them (it starts no later and ends at ``e``
    or after); 0 for none."""
    return max([sum([t[0] for t in terms if t[2] <= s[2] <= t[3]]) for s in terms], default=0)

# ---------------------------------------------------------------------------- rank symmetries

class _Names(dict):
    """A renaming that leaves every name it does not list as it is."""

    def __missing__(self, name):
        return name


def _permuted(S: tuple, pos: tuple) -> tuple:
    """Tiles ``S`` moved by a rank symmetry: rank ``k`` takes the tile of rank ``pos[k]``."""
    return tuple([S[k] for k in pos])


def _axes(T: Tensor, sigma: dict) -> list[tuple]:
    """``T``'s axes, each as its sorted terms, the ranks renamed by ``sigma``."""
    return [tuple(sorted((sigma.get(t.rank, t.rank), t.coef) for t in a.terms)) for a in T.axes]


def is_symmetry(einsums, sigma: dict) -> bool:
    """Whether the rank renaming ``sigma`` (an involution) maps each of ``einsums`` onto
    itself: every rank to a rank of the Einsum of the same size, and each tensor's renamed
    axes onto its own axes by one permutation, the same in every Einsum that uses the tensor
    (so a tensor keeps its shape and its footprint under any tiles renamed alike)."""
    perms: dict = {}
    for e in einsums:
        size = e.size
        if any(size.get(sigma.get(r, r)) != n for r, n in e.sizes):
            return False
        for T in e.tensors:
            axes = _axes(T, {})
            where = {ax: k for k, ax in enumerate(axes)}
            if len(where) < len(axes):
                return False  # two equal axes: the permutation is not unique
            perm = tuple(where.get(ax, -1) for ax in _axes(T, sigma))
            if -1 in perm or perms.setdefault(T.name, perm) != perm:
                return False
    return True


def _symmetries(e: Einsum, limit: int = 256) -> list[dict]:
    """The rank involutions of ``e`` made of swaps of equal-sized ranks that are symmetries of
    ``e`` (:func:`is_symmetry`), trying at most ``limit`` (an Einsum with many equal sizes is
    left without)."""
    ranks = e.ranks
    pairs = [(r, q) for k, r in enumerate(ranks) for q in ranks[k + 1:] if e.size[r] == e.size[q]]
    out, tried = [], 0

    def grow(start: int, sigma: dict) -> None:
        nonlocal tried
        for k in range(start, len(pairs)):
            r, q = pairs[k]
            if r in sigma or q in sigma or tried >= limit:
                continue
            tried += 1
            grown = sigma | {r: q, q: r}
            if is_symmetry([e], grown):
                out.append(grown)
            grow(k + 1, grown)

    grow(0, {})
    return out


def rank_mirror(workload: Workload) -> dict:
    """A candidate rank symmetry of the workload: swaps of ranks found in its Einsums' own
    symmetries (:func:`_symmetries`: a square image's rows and columns, with a square
    kernel's), those found in the most Einsums first, each rank in one swap at most (an
    elementwise Einsum over equal sizes swaps any two of its ranks). It is only a candidate:
    each segment keeps the swaps inside it only where they are a symmetry of all its Einsums
    (:func:`mirror_on`)."""
    votes: dict = {}
    for e in workload.einsums:
        for pair in {(r, q) for sigma in _symmetries(e) for r, q in sigma.items() if r < q}:
            votes[pair] = votes.get(pair, 0) + 1
    out: dict = {}
    for r, q in sorted(votes, key=lambda pair: (-votes[pair], pair)):
        if r not in out and q not in out:
            out |= {r: q, q: r}
    return out


def mirror_on(einsums, sigma: dict) -> dict | None:
    """``sigma``'s swaps between ranks of ``einsums``, where they are a symmetry of every one
    of them (:func:`is_symmetry`); None where there are none or they are not."""
    ranks = {r for e in einsums for r in e.size}
    own = {r: q for r, q in sigma.items() if r in ranks and q in ranks}
    return own if own and is_symmetry(einsums, own) else None


def bridged(einsums, R: frozenset) -> bool:
    """Whether every cut between consecutive ``einsums`` is bridged by a tensor not in ``R``
    that Einsums on both sides of it use (:meth:`TreeSearch.bridged`)."""
    last: dict[str, int] = {}
    for k, e in enumerate(einsums):
        for T in e.tensors:
            if T.name not in R:
                last[T.name] = k
    reach = -1  # the last user of a tensor that the Einsums before the cut use
    for k, e in enumerate(einsums[:-1]):
        reach = max(reach, max((last[T.name] for T in e.tensors if T.name not in R), default=-1))
        if reach <= k:
            return False
    return True


def twin_classes(workload: Workload) -> dict[str, tuple]:
    """Inputs of ``workload`` that share their class with another (:meth:`TreeSearch.kept_sets`):
    the same users, reading them through the same axes (as text, so the same footprint under
    every tile)."""
    made = {e.output.name for e in workload.einsums}
    seen: dict[str, list] = {}
    for i, e in enumerate(workload.einsums):
        for T in e.inputs:
            if T.name not in made:
                seen.setdefault(T.name, []).append((i, ",".join(str(a) for a in T.axes)))
    counts: dict[tuple, int] = {}
    for T, users in seen.items():
        seen[T] = tuple(users)
        counts[seen[T]] = counts.get(seen[T], 0) + 1
    return {T: c for T, c in seen.items() if counts[c] > 1 and T not in workload.stored}


def _weight(ctx: fusion.Context, T: str) -> int:
    """Words of traffic per word moved: an output is written and read back (elision at the end)."""
    return 2 if T in ctx.written else 1


# ------------------------------------------------------------------------------------- workloads

WORKLOAD_MAPSPACE = Mapspace("per_tensor", "perfect")


def workload_mapspace(mapspace: Mapspace | str | None) -> Mapspace:
    """Workloads default to per-tensor placement inside each Einsum (AccelForge's semantics);
    ``mapspace="uniform/perfect"`` gives the Orojenesis inner mapspace."""
    return WORKLOAD_MAPSPACE if mapspace is None else mapspace_of(mapspace)


@dataclass
class Solution:
    """The frontier of a workload and how to rebuild the schedule behind each breakpoint: by
    ``search`` (one process), or, with the workload's connected regions solved apart
    (:func:`solve_regions`), by the regions' ``parts``, each holding its own breakpoints' trees."""

    workload: Workload
    frontier: Staircase
    search: TreeSearch | None
    seconds: float = 0.0
    traced: int = 0  # distinct per-Einsum curves traced
    trace_seconds: float = 0.0
    parts: tuple = ()  # Region results, in the workload's order, where regions were solved apart

    @property
    def structures(self) -> int:
        return self.search.nodes if self.search is not None else sum(p.nodes for p in self.parts)

    def schedule(self, capacity: int) -> Schedule:
        i = int(self.frontier.at(capacity))
        if i < 0:
            raise BoundsolverError(f"capacity {capacity} is below the least occupancy")
        c = int(self.frontier.occ[i])
        if self.parts:  # each region's tree at the capacity (solve_regions: why it is exact)
            return Schedule(tuple(root for part in self.parts for root in part.roots(c)))
        return Schedule(tuple(self.search.build(self.frontier, c)))

    def value(self, capacity: int) -> int:
        return int(self.frontier.acc[self.frontier.at(capacity)])

    def release(self) -> None:
        """Before the frontier's trees are rebuilt: the search lets go of all else
        (:meth:`TreeSearch.release`; regions solved apart hold their trees already)."""
        if self.search is not None:
            self.search.release([self.frontier])


def solve_workload(workload: Workload, fusion_on: bool, mapspace: Mapspace | str | None = None,
                   method: str = DEFAULT, solver: str = "highs", max_depth: int = 3,
                   split_ranks: bool = False, time_limit: float | None = None,
                   shared_imperfect: bool | None = None, spill: bool = False,
                   workers: int | None = None, translate: bool | None = None
                   ) -> Solution:
    """The exact frontier: every run of Einsums is solved as a segment (a loop tree), shortest
    first, and combined with the best cuts of the same run into segments. ``time_limit``
    (wall-clock seconds, fused only): past it, SolverError says how far the search got.
    ``shared_imperfect``: whether shared loops take imperfect tiles (None: with ``*/imperfect``
    leaves; False with them gives the mapspace before imperfect shared tiles). ``spill``: a
    segment may also send any set of its intermediates through the backing store
    (docs/fusion.md, "An intermediate through DRAM inside a segment"; exponential in the
    number of a segment's intermediates). ``workers`` (fused only): at most this many processes
    solve the workload's connected regions apart (:func:`solve_regions`; 1: one process);
    None picks (:func:`default_workers`). The curve is the same either way. ``translate``:
    each segment also tries its translated loops (docs/fusion.md, 'Translated loops';
    :func:`translations`); modelled with perfect shared tiles and without ``spill`` only:
    True searches them (refusing the rest), None (the default: a translated tree is a real
    mapping, up to 1.67x below the untranslated curve on small chains, so the default curve
    holds them) searches them where modelled and not otherwise, False never (the mapspace
    before translated loops; cheaper: LLaMA's block 2.8x less CPU, docs/fusion.md)."""
    method = check_method(method)
    check_translate(translate)
    if time_limit is not None and (isinstance(time_limit, bool) or not isinstance(
            time_limit, (int, float)) or not time_limit > 0):
        raise BoundsolverError(f"time_limit must be a positive number of seconds, got "
                               f"{time_limit!r}")
    if isinstance(max_depth, bool) or not isinstance(max_depth, int) or max_depth < 0:
        raise BoundsolverError(f"max_depth (loops nested in a fused tree) must be an integer >= 0, "
                               f"got {max_depth!r}")
    check_workers(workers, fusion_on)
    for e in workload.einsums:  # before any factorising, naming the Einsum (not "reduced")
        check_size(e)
    spans = regions(workload) if fusion_on else []
    n = default_workers(workload, spans) if workers is None else min(workers, len(spans))
    if n > 1:
        opts = dict(mapspace=mapspace, method=method, solver=solver, max_depth=max_depth,
                    split_ranks=split_ranks, shared_imperfect=shared_imperfect, spill=spill,
                    translate=translate)
        return solve_regions(workload, spans, n, time_limit, opts)
    began = time.perf_counter()
    ms = workload_mapspace(mapspace)
    modelled = not spill and not (ms.factors == "imperfect" and shared_imperfect is not False)
    if translate and fusion_on and not modelled:
        why = ("spill=True" if spill else f"{ms}'s imperfect shared tiles (shared_imperfect="
               "False or a perfect mapspace gives perfect ones)")
        raise BoundsolverError(f"translate=True: translated loops are modelled with perfect shared "
                               f"tiles and without spill, not with {why}; translate=None "
                               f"searches them where modelled")
    translate = modelled if translate is None else translate
    curves = Curves(ms, method, solver)
    search = TreeSearch(workload, curves, max_depth if fusion_on else 0, split_ranks,
                        time_limit=time_limit, shared_imperfect=shared_imperfect,
                        spill=spill and fusion_on, translate=translate and fusion_on)
    front = search.solve(fusion_on)
    front = None if front is None else front.frozen()
    return Solution(workload, front, search, time.perf_counter() - began,
                    len(curves.traced), curves.seconds)


# ------------------------------------------------------------------------- regions, in parallel

def check_translate(translate) -> None:
    """``translate`` is None (translated loops where modelled), True or False."""
    if translate is not None and not isinstance(translate, bool):
        raise BoundsolverError(f"translate (translated loops in fused trees) must be True, False "
                               f"or None (where modelled), got {translate!r}")


def check_workers(workers, fusion_on: bool) -> None:
    """``workers`` is None or a positive integer, and only for a fused search (an unfused one
    solves each Einsum alone, in seconds: there is nothing to spread)."""
    if workers is None:
        return
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise BoundsolverError(f"workers (processes solving a workload's connected regions) must "
                               f"be an integer >= 1, got {workers!r}")
    if not fusion_on and workers != 1:
        raise BoundsolverError("workers applies to a fused search (fusion=True): an unfused "
                               "workload solves each Einsum alone, in one process")


def regions(workload: Workload) -> list[tuple[int, int]]:
    """The workload's connected regions, ``(first, last)`` Einsums: maximal runs in which every
    cut is bridged by a tensor used on both sides of it. Their borders are the cuts no tensor of
    the workload bridges (``connected_runs`` from a region's first Einsum: its last run ends
    at the region's last Einsum, since a tensor bridging a cut inside the region and used past
    its end would bridge the border too)."""
    n, out, a = len(workload.einsums), [], 0
    while a < n:
        b = connected_runs(workload, a, n)[-1]
        out.append((a, b))
        a = b + 1
    return out


def region_workload(workload: Workload, first: int, last: int) -> Workload:
    """Einsums ``first..last`` (a connected region) as a workload of their own: the same
    tensors, sizes and stored tensors (every tensor of a region is used in it alone)."""
    made = {e.output.name for e in workload.einsums[first:last + 1]}
    return Workload(workload.einsums[first:last + 1],
                    f"{workload.name or 'workload'} (Einsums {first}..{last})",
                    workload.word_bits, tuple(T for T in workload.stored if T in made))


# Regions of fewer Einsums than this are not worth a worker of their own by default: they solve
# in well under a second, less than the leaf curves a worker traces again for itself. A pool
# starts in about 0.2 s (fork); ResNet-18's four regions of 13-16 Einsums in two workers take
# its whole frontier (solve and every row re-costed) from 22.6 to 19.3 CPU s (each region's
# trees are built once per region breakpoint, not once per workload breakpoint).
PARALLEL_EINSUMS = 12


def default_workers(workload: Workload, spans: list) -> int:
    """How many processes solve ``workload``'s regions by default: one per region with at least
    :data:`PARALLEL_EINSUMS` Einsums, at most the CPUs this process may use; 1 (no pool)
    unless that makes two or more, or where this process is a daemon (a multiprocessing pool's
    worker, which may not start processes)."""
    import multiprocessing

    big = sum(1 for a, b in spans if b - a + 1 >= PARALLEL_EINSUMS)
    if big < 2 or multiprocessing.current_process().daemon:
        return 1
    return min(big, _cpus())


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class Region:
    """One connected region's result from its worker: its staircase and, for each breakpoint,
    the segments (loop-tree roots) behind it, so that the parent rebuilds a schedule without the
    worker's search (its memo and provenance never leave the worker)."""

    first: int
    last: int
    frontier: Staircase | None
    trees: tuple  # trees[k]: the roots behind breakpoint k
    nodes: int = 0
    traced: frozenset = frozenset()  # the keys of the leaf curves it traced
    trace_seconds: float = 0.0

    def roots(self, capacity: int) -> tuple:
        """The region's segments at ``capacity``: those of its breakpoint answering it."""
        return self.trees[int(self.frontier.at(capacity))]


def solve_region(workload: Workload, first: int, last: int, deadline: float | None,
                 opts: dict) -> Region:
    """Region ``first..last`` of ``workload`` solved as a workload of its own in one process
    (a pool worker), within what is left of the wall-clock ``deadline`` (``time.time()``)."""
    limit = None if deadline is None else deadline - time.time()
    if limit is not None and limit <= 0:
        raise SolverError(f"{workload.name or 'the workload'}'s Einsums {first}..{last} were not "
                          f"started before the time limit")
    sol = solve_workload(region_workload(workload, first, last), True, time_limit=limit,
                         workers=1, **opts)
    sol.release()
    front = sol.frontier
    trees = () if front is None else tuple(sol.schedule(int(o)).segments for o in front.occ)
    return Region(first, last, front, trees, sol.structures, frozenset(sol.search.curves.traced),
                  sol.trace_seconds)


def solve_regions(workload: Workload, spans: list, workers: int, time_limit: float | None,
                  opts: dict) -> Solution:
    """The fused frontier with each connected region (:func:`regions`) solved by
    :func:`solve_region` in a pool of ``workers`` processes, the largest regions first, and
    the regions' staircases added up (:func:`plus_shifted`, no shift).

    Why it is exact. No segment crosses a region's border (:func:`connected_runs`), so the
    suffix DP of :meth:`TreeSearch.whole` over Einsums ``a..`` of a region ``a..b`` is the
    region's own DP (its cuts ending at ``b``, ``rest[b + 1]`` as the empty run) plus
    ``rest[b + 1]``: ``plus_shifted`` adds value functions (the occupancy of a cut is its
    segments' most, its traffic their sum), merging takes their minimum, and ``+`` distributes
    over ``min``; a staircase is the unique list of the points where its value function drops,
    so equal functions are equal staircases, breakpoint by breakpoint. A region's segments cost
    the same in the region alone (:func:`region_workload`) as in the workload: a segment's
    trees and costs depend on its Einsums, the tensors' sizes, and which of its tensors are
    written back (read after it, or ``stored``), and every tensor of a region is used in that
    region only (else it bridges the border), so the region's own workload reads and stores
    them alike; the region's search (its incumbent bar, forgetting, repeats) is exact for its
    own curve. A region of one Einsum is its unfused staircase. The tree behind the whole
    curve's point at capacity ``c`` is each region's tree at ``c``, one after another: their
    occupancies are at most ``c`` and their traffics add to the curve's value (``_row``
    re-costs it in integers). What differs from one process: a leaf shape or segment that two
    regions share is traced or solved in each (only the curve is promised equal, not which of
    two equal trees a tie picks), and each worker holds its own memo (peak memory: the sum of
    the regions running at once). ``time_limit`` is one wall-clock deadline for all: a region
    starting later has what is left; past it SolverError, and the pool is stopped."""
    from .batch import _ignore_interrupts, _stop

    began = time.perf_counter()
    deadline = None if time_limit is None else time.time() + time_limit
    order = sorted(range(len(spans)), key=lambda k: spans[k][0] - spans[k][1])  # largest first
    pool = ProcessPoolExecutor(max_workers=workers, initializer=_ignore_interrupts)
    try:
        futures = [pool.submit(solve_region, workload, *spans[k], deadline, opts) for k in order]
        parts = sorted((f.result() for f in futures), key=lambda r: r.first)
    except BaseException as err:
        _stop(pool)
        if isinstance(err, SolverError) and time_limit is not None:
            raise SolverError(f"the fused frontier of {workload.name or 'the workload'} did not "
                              f"finish in its time limit of {time_limit:g} s, solved region by "
                              f"region in {workers} processes ({err}): no curve is reported"
                              ) from err
        if isinstance(err, BrokenProcessPool):  # a worker killed (by the kernel: memory)
            name = workload.name or "the workload"
            raise SolverError(
                f"a worker process solving the fused frontier of {name} was killed, most "
                f"likely for memory (the regions running at once hold a memo each): no curve "
                f"is reported; workers=1 solves the regions one after another") from err
        raise
    pool.shutdown()
    front = ZERO
    for part in parts:
        if part.frontier is None:
            front = None
            break
        f = part.frontier
        front = plus_shifted(front, 0, Stairs(f.occ.tolist(), f.acc.tolist(), f.tag.tolist()), 0)
    traced = frozenset().union(*(p.traced for p in parts))
    return Solution(workload, None if front is None else front.frozen(), None,
                    time.perf_counter() - began, len(traced),
                    sum(p.trace_seconds for p in parts), tuple(parts))


def _run_end(key: tuple) -> int:
    """The last Einsum of the run a memo entry covers (-1: a kind this does not know, kept)."""
    kind = key[0]
    if kind in ("body", "child"):  # lifted staircases are not memoised (TreeSearch.lifted)
        return key[3]
    if kind == "leaves":
        return key[1][0]  # steps run from the body's last Einsum down
    if kind == "leaf":
        return key[1]
    return -1


def segment_form(workload: Workload, i: int, j: int) -> tuple:
    """Segment ``i..j`` up to the names of its tensors and ranks: ``(key, ranks, tensors)``,
    the key its Einsums' text with every tensor and rank renamed in order of first appearance
    (``T0..``, ``r0..``; axes, coefficients and sizes kept), each tensor's size and whether it
    is written back past the segment (read after it, or stored), and the renamings from the
    canonical names to the segment's. Equal keys: the renamings compose into a map of one
    segment onto the other that keeps everything its trees cost (:meth:`TreeSearch.
    segment_once`)."""
    ctx = fusion.Context(workload, workload.names[i:j + 1])
    ranks: dict[str, str] = {}
    tensors: dict[str, str] = {}
    parts = []
    for e in workload.einsums[i:j + 1]:
        text = []
        for T in e.tensors:
            name = tensors.setdefault(T.name, f"T{len(tensors)}")
            text.append((name, tuple(tuple((ranks.setdefault(t.rank, f"r{len(ranks)}"), t.coef)
                                           for t in a.terms) for a in T.axes)))
        for r, _ in e.sizes:  # a rank no tensor uses (a reduction over nothing) still counts
            ranks.setdefault(r, f"r{len(ranks)}")
        parts.append((tuple(text), tuple(sorted((ranks[r], n) for r, n in e.sizes))))
    flags = tuple(sorted((c, workload.tensor_size(T), T in ctx.exported, T in workload.stored)
                         for T, c in tensors.items()))
    return ((tuple(parts), flags), {c: r for r, c in ranks.items()},
            {c: T for T, c in tensors.items()})


def translations(workload: Workload, i: int, j: int) -> list[tuple]:
    """The renamings of segment ``i..j``'s Einsums' ranks whose untranslated trees are its
    translated trees (docs/fusion.md, 'Translated loops'), the identity left out: each
    ``((einsum, ((rank, new name), ...)), ...)`` for :func:`fusion.renamed_ranks`.

    The segment's intermediates link ranks: a writer's rank on a plain axis of an intermediate
    and the rank a reader in the segment indexes that axis with, plainly. Each *link
    component* is named by its rank in the last Einsum of the segment that has one (the
    reader's name: ``K``'s producer's ``m`` is ``QK``'s key ``p``). An Einsum whose ranks
    differ from their components' names, and take distinct ones, may be *matched*: renamed to
    them. Matchable Einsums that an intermediate passes between (writer and reader) form one
    *block*, matched together (renaming one alone would break the alignment they already
    have: a rotary chain ``k_proj -> mul -> k_rope -> qk`` is one block, not 2^3 choices). The
    renamings are every nonempty set of blocks matched, the others left as they are; one is
    dropped where it would read a moved tensor through equal axes in two
    Einsums that read it through different ones (the renamed workload could keep it there,
    where the original refuses the keep, :func:`fusion.keep_agrees`), and where it equals
    another, or the identity, up to a renaming of all the segment's ranks
    (:func:`segment_form`). A component's ranks are one size (an intermediate's axes have one
    extent), so every renamed workload is a workload."""
    es = workload.einsums[i:j + 1]
    ctx = fusion.Context(workload, workload.names[i:j + 1])
    comp = _link_components(workload, ctx, i, j)
    name = {comp[(k, r)]: r for k in range(i, j + 1) for r in workload.einsums[k].ranks}
    matched = {}
    for k, e in enumerate(es, i):
        m = {r: name[comp[(k, r)]] for r in e.ranks}
        if any(m[r] != r for r in m) and len(set(m.values())) == len(m):
            matched[k] = (e.name, tuple((r, n) for r, n in m.items() if n != r))
    if not matched:
        return []
    seen = {segment_form(workload, i, j)[0]}
    out = []
    for blocks in subsets(_blocks(workload, ctx, sorted(matched)))[1:]:
        sigma = tuple(matched[k] for k in sorted(k for b in blocks for k in b))
        w2 = fusion.renamed_ranks(workload, sigma)
        key = segment_form(w2, i, j)[0]
        if key in seen or not _reads_faithfully(workload, w2, ctx):
            continue
        seen.add(key)
        out.append(sigma)
    return out


def _blocks(workload: Workload, ctx: fusion.Context, ks: list[int]) -> list[tuple[int, ...]]:
    """The Einsums at positions ``ks`` grouped into blocks: joined where an intermediate of the
    segment (``ctx``) passes from one to another (:func:`translations`)."""
    inside = set(ks)
    root = _components(ks, [(workload.producer[X], k) for X in ctx.intermediates
                            for k in ctx.users[X] if workload.producer[X] in inside and k in inside])
    groups: dict[int, list[int]] = {}
    for k in ks:
        groups.setdefault(root[k], []).append(k)
    return [tuple(g) for g in groups.values()]


def _link_components(workload: Workload, ctx: fusion.Context, i: int, j: int) -> dict:
    """Each ``(Einsum position, rank)`` of segment ``i..j`` (``ctx``) with its link component
    (:func:`translations`), as a representative ``(position, rank)``."""
    links = []
    for X in ctx.intermediates:
        w = workload.producer[X]
        for k in ctx.users[X]:
            for a, b in zip(workload.einsums[w].output.axes, workload.einsums[k].tensor(X).axes):
                if k != w and a.is_plain and b.is_plain:
                    links.append(((w, a.ranks[0]), (k, b.ranks[0])))
    return _components([(k, r) for k in range(i, j + 1) for r in workload.einsums[k].ranks], links)


def _components(items: list, links: list) -> dict:
    """Each item with a representative of its connected component under ``links`` (pairs of
    items): a union-find, for :func:`_blocks` and :func:`_link_components`."""
    parent = {x: x for x in items}

    def root(x):
        while parent[x] != x:
            x = parent[x]
        return x
    for a, b in links:
        parent[root(a)] = root(b)
    return {x: root(x) for x in parent}


def _reads_faithfully(workload: Workload, renamed: Workload, ctx: fusion.Context) -> bool:
    """Whether every two of the segment's Einsums that read a moved tensor through equal axes in
    ``renamed`` read it through equal axes in ``workload`` too (:func:`translations`)."""
    for T in ctx.moved:
        users = ctx.users[T]
        for u, v in combinations(users, 2):
            if (renamed.einsums[u].tensor(T).axes == renamed.einsums[v].tensor(T).axes
                    and workload.einsums[u].tensor(T).axes != workload.einsums[v].tensor(T).axes):
                return False
    return True


def connected_runs(workload: Workload, i: int, end: int) -> list[int]:
    """The ``j < end`` for which Einsums ``i..j`` are *connected*: every cut between two of them
    is bridged by a tensor used on both sides. A segment over a run with an unbridged cut is
    dominated by the two segments either side of it, so it is never solved: the halves share no
    tensor, so each kept tensor, intermediate and write-back is the same in the two segments,
    and a node (or loop) over both halves holds one half's tensors while the other runs, where
    two segments each have the whole buffer. Networks (a padded conv reads its own input copy,
    docs/onnx.md) fall apart into such runs."""
    users: dict[str, list[int]] = {}
    for k, e in enumerate(workload.einsums[i:end], i):
        for T in e.tensors:
            users.setdefault(T.name, []).append(k)
    out, uncovered = [i], []          # uncovered: cuts m (between m and m+1) not yet bridged
    for j in range(i + 1, end):
        uncovered.append(j - 1)
        first = min((u[0] for u in (users[T.name] for T in workload.einsums[j].tensors)
                     if u[0] < j), default=None)
        if first is not None:         # users of one tensor in first..j bridge cuts first..j-1
            while uncovered and uncovered[-1] >= first:
                uncovered.pop()
        if not uncovered:
            out.append(j)
    return out


# ------------------------------------------------------------------------------------ result tables

def _row(workload: Workload, sol: Solution, capacity: int, imperfect: bool) -> dict:
    """The verified row of the breakpoint answering ``capacity``: the schedule is rebuilt and
    re-evaluated in integers; it must reproduce the frontier's value."""
    schedule = sol.schedule(capacity)
    cost = fusion.evaluate(workload, schedule, imperfect=imperfect)
    claimed = sol.value(capacity)
    if cost.accesses != claimed or cost.occupancy > capacity:
        raise SolverError(f"the schedule behind {claimed} accesses at capacity {capacity} of "
                          f"{workload.name} evaluates to occupancy {cost.occupancy}, accesses "
                          f"{cost.accesses}: {schedule.describe(workload)}")
    ops = sum(2 * e.macs - e.tensor_size(e.output) for e in workload.einsums)
    row = {"occupancy": cost.occupancy, "accesses": cost.accesses, "status": "optimal",
           "op_intensity": ops / cost.accesses, "macs_per_word": workload.macs / cost.accesses,
           "fused": schedule.fused,
           "segments": " | ".join("+".join(s.einsums()) for s in schedule.segments),
           "schedule": schedule.describe(workload), "tree": schedule.tree(workload)}
    row |= {f"reads_{n}": v for n, v in cost.reads}
    row |= {f"writes_{n}": v for n, v in cost.writes}
    for n, sub, m in fusion.leaves(workload, schedule):
        row[f"mapping_{n}"] = m.describe(sub)
    return row


def _frame(workload: Workload, sol: Solution, rows: list[dict], fusion_on: bool, mapspace,
           capacity: bool):
    import pandas as pd

    tensors = [*workload.inputs, *workload.intermediates, *workload.outputs]
    cols = (["capacity"] if capacity else []) + [
        "occupancy", "accesses", "status", "op_intensity", "macs_per_word", "fused", "segments"]
    cols += [f"reads_{t}" for t in tensors] + [f"writes_{t}" for t in (*workload.intermediates,
                                                                       *workload.outputs)]
    cols += [f"mapping_{n}" for n in workload.names] + ["schedule", "tree"]
    df = pd.DataFrame([{c: r.get(c) for c in cols} for r in rows], columns=cols)
    for c in cols:
        if c.startswith(("reads_", "writes_")):  # a tensor a schedule never moves: 0 words
            df[c] = df[c].fillna(0).astype("Int64")
        elif c in ("capacity", "occupancy", "accesses"):
            df[c] = df[c].astype("Int64")
    df.attrs |= {"problem": str(workload), "name": workload.name, "unit": "words",
                 "word_bits": workload.word_bits, "fusion": fusion_on, "mapspace": str(mapspace),
                 "algorithmic_minimum": workload.algorithmic_minimum if fusion_on
                 else workload.unfused_minimum,
                 "macs": workload.macs, "seconds": sol.seconds, "structures": sol.structures,
                 "traced": sol.traced, "trace_seconds": sol.trace_seconds,
                 "op_intensity": "sum over Einsums of (2*MACs - |O|) / accesses, ops per word"}
    return df


def workload_frontier(workload: Workload, fusion_on: bool = True, solver: str = "highs",
                      mapspace: Mapspace | str | None = None, method: str = DEFAULT,
                      max_depth: int = 3, time_limit: float | None = None,
                      workers: int | None = None, translate: bool | None = None):
    """Every breakpoint of the workload's fused (or unfused) staircase, with its schedule
    (``translate``: :func:`solve_workload`'s; None, translated loops where modelled)."""
    ms = workload_mapspace(mapspace)
    sol = solve_workload(workload, fusion_on, ms, method, solver, max_depth,
                         time_limit=time_limit, workers=workers, translate=translate)
    sol.release()  # only the frontier's trees are rebuilt from here on
    imperfect = ms.factors == "imperfect"
    rows = [_row(workload, sol, int(o), imperfect) for o in sol.frontier.occ]
    return _frame(workload, sol, rows, fusion_on, ms, capacity=False)


def workload_curve(workload: Workload, capacities: list[int], fusion_on: bool = True,
                   solver: str = "highs", mapspace: Mapspace | str | None = None,
                   method: str = DEFAULT, max_depth: int = 3, time_limit: float | None = None,
                   workers: int | None = None, translate: bool | None = None):
    """Least accesses at each capacity; ``infeasible`` below the least occupancy
    (``translate``: :func:`solve_workload`'s)."""
    ms = workload_mapspace(mapspace)
    sol = solve_workload(workload, fusion_on, ms, method, solver, max_depth,
                         time_limit=time_limit, workers=workers, translate=translate)
    sol.release()  # only the frontier's trees are rebuilt from here on
    imperfect = ms.factors == "imperfect"
    rows = []
    for c in capacities:
        if sol.frontier.at(c) < 0:
            rows.append({"capacity": c, "status": "infeasible"})
        else:
            rows.append({"capacity": c} | _row(workload, sol, c, imperfect))
    return _frame(workload, sol, rows, fusion_on, ms, capacity=True)
