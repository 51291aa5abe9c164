"""The exact per-tensor joint frontier of a hierarchy by vectorised enumeration (``method="auto"``).

The mapspace is that of :func:`hierarchy.per_tensor_points` (docs/hierarchy.md, "Per-tensor
placement"): every copy (tensor T, on-chip level l keeping T) sits at its own boundary ``b(T, l)``
of a nest of K >= 1 boundaries, non-decreasing inwards per tensor; perfect factors, or with
``imperfect`` each rank's outermost split of any size; spatial fanout with or without multicast
(perfect factors). The objective is the lexicographic key of ``cost.LevelCost`` (backing-store
traffic, then the traffic into each level, outermost first), over the swept level's occupancy,
every fixed level's capacity respected. This module is fastnest.py's method carried to several
levels:

* **Classes.** A class fixes K, each copy's boundary c (every boundary holds a copy), each
  fanout's boundary ``F`` (right above the first copy of its level or an inner one, below every
  copy of an outer level, one per boundary), each copy's *fill boundary* ``phi`` (c, or for a
  copy right below a fanout any boundary above, not above its outer copy's) and, per segment
  ``s`` (the loops right above boundary s + 1), an undominated order class
  (``mapspace.order_classes``) of the tensors with a copy filling at s + 1.
* **Class formula.** Each copy costs a footprint ``prod_{d in T} tile(d, c) / spread(d, c)``
  (one instance's tile: the splits of the fanouts above c) and fills ``m = |T| prod_{e not in T}
  ceil(N_e / tile(e, phi - 1 + [e refetched]))`` (the tile above segment phi - 1, or at phi
  where e loops above T's innermost relevant loop there); an input moves ``R m`` into its copy,
  the output ``R m + A m - A |Z|`` (first-read elision), with ``A`` the splits of ranks T lacks
  by fanouts at or above its source level and ``R = A U``, ``U`` those between source and copy
  whose parent does not multicast (``cost.replicas``). A level's occupancy and traffic are the
  sums over its copies; the backing store's traffic the sum over each tensor's outermost copy.
* **Tile chains per rank** (``N >= tile(d, 1) >= ... >= tile(d, K) >= S_d``, each dividing the
  one above, the first one below N of any size with imperfect factors; ``S_d`` the product of
  d's splits, so every instance holds whole tiles), with each copy's tiles of its ranks tied
  from its fill boundary to its own (no loop of its ranks between), collapsed as in
  ``fastnest._collapse``: a tile group read only by footprints is set to the next deeper group
  read (or ``S_d``), one read only by counts to the next shallower (or N). Every footprint only
  grows and every count only shrinks in its tile, so the collapsed nest has no component of the
  vector (each level's occupancy, each level's traffic, the backing store's) higher: it is
  matched or beaten on the whole lexicographic key at every capacity. Both moves keep the chain
  rule (a copied tile divides, or is N, or becomes the rank's first split, and stays a multiple
  of ``S_d``).
* **Sliding windows** (convs: ``I[c, q+s, p+r]``, strided, dilated), as fastnest.py: the ranks of
  connected sliding axes form one windowed unit, perfect and never split spatially, whose table
  is the product of its ranks' chains and whose factor per term is computed row by row
  (``fastnest._window_factor``): a copy's footprint is its axes' extents at its boundary c; its
  fills the counts of the unit's ranks it lacks and each sliding axis' sweep ``D_a``, with the
  tiles at its fill boundary phi (equal to c's for its ranks: the tie) and, where its innermost
  relevant loop j slides, j's tile at phi - 1 (the order classes carry j for such tensors). A
  window's tiles stay free in the collapse (neither monotone); j's tile above it is a count
  (a larger one restarts the sweep less often). The fills' constant is the tensor's plain axes.
* **Costing.** Every combination of the ranks' table rows (chain and splits) is costed in numpy,
  one rank after another; a partial product of a term is a lower bound of it (every factor is
  at least 1), so rows whose partial occupancy of a fixed level is over its capacity, whose
  partial split product at a fanout is over it, or whose partial key is already matched by the
  staircase at their partial occupancy, are dropped before the next rank (the output's
  ``- A |Z|`` enters that partial key only where no split can grow ``A``).
* **Dominance.** Classes with the same collapsed formula are costed once; a class whose every
  term is at least another's at every tiling (same free tiles) not at all (each class's
  entries as a vector ordered componentwise exactly as the classes, :func:`_order_vectors`,
  then :func:`_pareto`'s blocks: not every pair in Python).
* **Reduced tables** (what makes a ResNet conv's 1.3·10¹⁰ table rows tractable). Within a
  class each term is ``start`` times one factor per unit, with a non-negative weight in every
  occupancy, split product and key component, except the output's elided read ``- A |Z|``,
  whose factors are replicas. (i) *Undominated rows*: a unit's row whose factor is at least
  another row's in every term, equal in the elided read's, and above it somewhere (or equal,
  listed later) is dropped: swapping it for the other in any combination raises no occupancy,
  no split product and no key component (the output's ``A m - A |Z| = A (m - |Z|)`` with ``A``
  equal and ``m`` no larger), so the staircase is unchanged. This is the collapse done on
  values rather than on the formula's shape: a window tile the collapse must keep free (a
  larger ``t_p`` widens the input's window while its sweep count falls) survives only where
  some term is better for it.
  (ii) *Capacity*: a row whose own factor times every other unit's least factor (column by
  column) already puts a fixed level over capacity or a split product over its fanout is
  dropped (that product is a lower bound of every combination with it); repeated while rows
  go. (iii) *Floors*: the search's partial test multiplies the partial product by the later
  units' least factors, a sharper lower bound than the partial product alone.
* **Seeds and the outer test** (no fanout, every tensor's outermost copy in the swept level:
  three levels keeping everything). The staircase starts with real nests: each point of the
  one-buffer per-tensor staircase (``fastnest.frontier``) with one more boundary of unit tiles
  holding every inner copy, checked by ``check_level_tiles``, re-costed by ``evaluate_levels``
  and kept where it fits every fixed level; it has the one-buffer point's backing-store traffic
  at its swept occupancy. A combination's backing-store traffic and swept occupancy read only
  the *outer* terms (the swept level's footprints, the outermost copies' fills), so each unit's
  rows fall into few distinct outer projections; every combination of projections is costed on
  those terms, and one whose backing-store traffic is above the staircase's first component at
  its occupancy is beaten on the lexicographic key by a point already attained, as is every
  nest projecting onto it. A unit keeps only rows whose projection some surviving combination
  uses (memoised by the projections' content: the staircase only falls, so an earlier verdict
  keeps a superset). Seeds left on the final staircase are returned as they are (real nests).
  On the ResNet 3x3 conv (C = K = 64, P = Q = 14, L1 = 64) (i) and (ii) take the classes' row
  combinations from 1.3·10¹⁰ to 2.8·10⁹ and the outer test to 2.2·10⁸; 6,338 of its 24,273
  classes have no outer combination left.
* **The outer test on the whole key.** Beside the exact outer terms, each projection carries a
  lower bound of every other term (its rows' least factor; the greatest for the output's
  elided read, of negative weight), so a combination of projections bounds every key
  component and every fixed level's occupancy from below; it is dropped where a fixed level is
  over capacity or the bound is not lexicographically below the staircase at its (exact)
  occupancy: a key componentwise at least a bound that is lexicographically at least the
  staircase's key is itself at least that key. It runs first on whole tables (a class it drops
  costs no dominance test; a row whose dominator it drops is beaten too, the staircase being no
  higher at the larger occupancy), then on the reduced rows.
* **Kept combinations.** The outer test keeps, besides each unit's rows, the combinations of
  projections that survive it (up to ``COMBO_LIMIT`` of them); the search then extends a
  partial combination of rows only where its projections are a prefix of a kept combination
  (mixed-radix codes, :class:`_Combos`). A combination of rows whose projections form a dropped
  combination has every key component and fixed occupancy at least that combination's bounds
  (each of its rows' factors is at least its projection's least factor, its outer terms equal
  the projection's), so it is matched or beaten by a point already attained or over a
  capacity: the staircase is unchanged, and the product of the units' kept rows, most of
  whose combinations mix projections of different survivors, is not costed. On ResNet-50's
  conv2_x 3x3 (P = Q = 56) the search costs 2.1·10⁷ combinations instead of 5.9·10⁸, and the
  work counted against ``limit`` is the confined count.
* **Level floors.** A fixed level keeping every tensor, with no fanout, moves at least the
  least one-buffer per-tensor traffic at its capacity (``fastnest.frontier``): deleting the
  other levels' copies leaves a one-buffer per-tensor nest whose occupancy and traffic are
  that level's. The outer test's and the search's partial key bounds are raised to it.
* **Symmetries.** A rank renaming that maps every tensor onto itself (``mapspace.symmetries``;
  a ResNet conv with P = Q and R = S swaps P with Q and R with S) maps each nest to one of equal
  cost on the same copies, so a class and its renamed image have the same staircase: the plan
  keeps one class per orbit (by the signature the formula reads: boundaries, fill
  boundaries, per segment each filling tensor's innermost sliding loop and refetched set).
  None under fanout. On the P = Q = 14 conv: 12,705 classes instead of 24,273.

**The classes cover the canonical nests of** :func:`hierarchy.per_tensor_points` **(plain
axes).** A canonical nest N has K boundaries, each storing a copy (rule 1), copies of a tensor at
non-decreasing boundaries, each fanout right above the first copy of its level or an inner one:
that fixes a class's boundaries and fanout boundaries. Let a copy's fill boundary be the
boundary right below the segment holding its innermost relevant loop j (1 if it has none). By
rule 2 that is its own boundary c, except right below a fanout, where no loop of T's ranks lies
between the two (the tie), and an inner copy's j is never above an outer one's. Extend each
segment's order with its one-trip ranks first. ``moved_at`` counts, per irrelevant rank e
looping above j, ``ceil(N_e / tile)`` with the tile below the deepest segment holding such a
loop: ``tile(e, phi)`` if e loops in segment phi - 1 above j, else ``tile(e, phi - 1)`` (no
deeper e loop above j); an e with no loop above j has no loop above boundary phi - 1 either, so
``tile(e, phi - 1) = N_e`` and its count is 1; a copy with no relevant loop at all has fill
boundary 1, its ranks all first in segment 0 and every count 1. So the formula of the class
with N's boundaries and segment signatures (rule 4, over the copies filling there: for a tensor
with windows, its innermost relevant loop j too, whose tile above is ``tile(j, phi - 1)`` and
whose trips are ``tile(j, phi - 1) / tile(j, phi)``, ``moved_at``'s sweep) equals N's cost
(footprints and replicas are exact), and order classes keep an undominated representative
of each signature (a refetched set inside another's costs no more, term by term). Split
choices: per_tensor_points splits only ranks that copies below use and requires each instance
tile whole; the tables range over every split whose product fits the fanout with the innermost
tile a multiple of it, a superset whose extra nests are real nests too (``evaluate_levels``
costs them). Conversely a formula never under-estimates the nest it is read at (a counted loop
may have one trip: the true innermost relevant loop is then higher and its counted tiles no
smaller; a sweep ``N_j / top (ext + (top / t_j - 1) step)`` with ``step <= ext`` is at most the
``N_j / t_j`` whole windows the formula reads where j has one trip), so the least formula value
is the mapspace's. With the collapse above, the staircase
of formula values is the exact per-tensor staircase; every returned point is re-costed by
``cost.evaluate_levels`` in Python integers (it must reproduce the formula) and checked by
``cost.check_level_tiles``.

Not covered (returns None, so the caller takes the depth-first enumerator or the MILP): an
output with a sliding axis; sliding windows past ``WINDOW_PLAN_LIMIT`` visited classes on a
problem of at most ``SMALL_MACS`` MACs (each class costs a few ms of Python: four levels, a
fourth tensor, where the depth-first enumerator is faster) or ``LARGE_WINDOW_PLAN_LIMIT`` on a
larger one (a ResNet conv on three levels visits 30,242); fanout with imperfect factors; more
than ``PLAN_LIMIT`` classes (four on-chip levels keeping every tensor past tiny sizes,
``a100``/``h100``'s three); more than ``PLAN_WORK_LIMIT`` raw table rows before dominance
(checked while the classes are built, each class's whole orbit counted: ResNet-50's conv2_x
3x3 at P = Q = 56 has 3·10¹¹, conv3_x's 1.2·10¹¹, both answered now; the reductions and the
kept combinations leave about 1/15,000 of them to cost); more than ``limit``
(``WORK_LIMIT``) row combinations of the reduced tables (those of kept combinations where the
outer test runs), counted as the classes are costed; values that could overflow int64.
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
from ..model.mapspace import divisors, order_classes, symmetries, tile_sizes
from . import fastnest as _fastnest
from .fastnest import _ONE as _WINDOW_ONE
from .fastnest import (_collapse, _foot_spec, _move_spec, _shape, _Shape, _Unit, _units,
                       _window_factor, _window_table)

WORK_LIMIT = 500_000_000  # row combinations of the classes' reduced tables, counted as costed
PLAN_LIMIT = 200_000  # classes visited (Python work: about 10 s)
WINDOW_PLAN_LIMIT = 20_000  # classes visited with sliding windows, small problems (see frontier)
LARGE_WINDOW_PLAN_LIMIT = 80_000  # ... past SMALL_MACS, where no other method is faster
SMALL_MACS = 512  # the depth-first enumerator answers a windowed problem this small in seconds
PLAN_WORK_LIMIT = 1_000_000_000_000  # raw table rows of the distinct classes before dominance
CHUNK = 1 << 18  # rows costed at once
COMBO_LIMIT = 1 << 22  # kept combinations of outer projections a class's search is confined to
PARETO_BLOCK = 128  # rows per block of _pareto


# ------------------------------------------------------------------------------ the problem's frame

@dataclass(frozen=True)
class _Fan:
    """A level with fanout: its level (1 = outermost on chip), instances per parent instance,
    the plan ranks it may split, whether its parent multicasts."""

    level: int
    fanout: int
    ranks: frozenset[str]
    multicast: bool


@dataclass(frozen=True)
class _Frame:
    """What the classes depend on: per tensor its plan ranks (representatives of merged units),
    per copy its tensor and level (tensor order, outermost level first), the plan ranks and their
    sizes, the units' ranks, whether factors are imperfect, the most boundaries a canonical nest
    has, and the levels with fanout."""

    rels: tuple[frozenset[str], ...]
    copies: tuple[tuple[int, int], ...]
    ranks: tuple[str, ...]
    sizes: tuple[int, ...]
    units: tuple[tuple[str, ...], ...]
    imperfect: bool
    depth: int
    fans: tuple[_Fan, ...]
    shape: _Shape

    @property
    def parts(self) -> tuple[tuple[tuple[str, ...], bool], ...]:
        """The search's units: a plain (possibly merged) rank, or the plan ranks of connected
        sliding axes (``windowed``: one table of their joint chains)."""
        return self.shape.units

    def sliding(self, t: int) -> frozenset[str]:
        """The plan ranks of tensor ``t``'s sliding axes."""
        return frozenset(d for s, ranks in self.shape.axes[t] if s for d in ranks)


def _frame(problem: Einsum, arch: Arch, imperfect: bool) -> _Frame | None:
    fanned = [lv for lv, f in enumerate(arch.fanouts, start=1) if f > 1]
    if not all(a.is_plain for a in problem.output.axes):
        return None  # the output's first-read elision is costed on plain axes only
    if fanned and imperfect:
        return None
    # with fanout every rank is its own unit (levels may split different ranks); ranks of
    # connected sliding axes form one windowed unit (fastnest's), perfect and never split
    units = _units(problem, imperfect or bool(fanned))
    shape = _shape(problem, units, True)
    rels = tuple(frozenset(d for _, ranks in axes for d in ranks) for axes in shape.axes)
    copies = tuple((t, lv) for t, T in enumerate(problem.tensors)
                   for lv, level in enumerate(arch.on_chip, start=1) if level.keeps_tensor(problem, T))
    if any(not any(lv >= f for _, lv in copies) for f in fanned):
        return None  # a fanout below every copy: per_tensor_points refuses it too
    ranks = shape.ranks
    sizes = tuple(problem.size[d] if u.windowed else math.prod(problem.size[e] for e in u.ranks)
                  for u in units for d in u.plan_ranks)
    expand = tuple(r for u in units for r in (((d,) for d in u.ranks) if u.windowed else [u.ranks]))
    fans = tuple(_Fan(lv, arch.fanouts[lv - 1], frozenset(arch.splits(problem, lv)),
                      arch.multicast[lv - 1]) for lv in fanned)
    # a boundary below the first has a loop above it (a tile strictly shrinks: divided by a prime
    # with perfect factors, at least halved with imperfect ones) or sits right below a fanout
    splits = sum(sum(sympy.factorint(n).values()) if not imperfect else (n - 1).bit_length()
                 for n in sizes)
    return _Frame(rels, copies, ranks, sizes, expand, imperfect, 1 + splits + len(fans), fans,
                  shape)


# ------------------------------------------------------------------------------ classes

def _fan_boundaries(frame: _Frame, boundary: tuple[int, ...]) -> tuple[int, ...] | None:
    """Each fanout's boundary: right above the first copy of its level or an inner one, below
    every copy of the outer levels, one fanout per boundary; None if the copies do not allow it."""
    at = []
    for fan in frame.fans:
        first = min(c for (_, lv), c in zip(frame.copies, boundary) if lv >= fan.level)
        if any(c >= first for (_, lv), c in zip(frame.copies, boundary) if lv < fan.level):
            return None
        if at and first <= at[-1]:
            return None
        at.append(first)
    return tuple(at)


class _Class:
    """One class, collapsed: K, each copy's boundary and fill boundary (the boundary right below
    the segment holding its innermost relevant loop: its own boundary, or higher right below a
    fanout), the fanouts' boundaries, each segment's order (plan ranks), per plan rank its free
    tiles and the table column of its tile at each boundary 1..K, and per rank and term what
    the term reads (:meth:`spec`)."""

    __slots__ = ("k", "boundary", "phi", "fan_at", "orders", "free", "where", "specs", "key")

    def __init__(self, frame: _Frame, k: int, boundary: tuple[int, ...], phi: tuple[int, ...],
                 fan_at: tuple[int, ...], segments):
        self.k, self.boundary, self.phi, self.fan_at = k, boundary, phi, fan_at
        self.orders = tuple(s.order for s in segments)
        rels = frame.rels
        groups = [sorted({frame.copies[i][0] for i, f in enumerate(phi) if f == b})
                  for b in range(1, k + 1)]
        refetched = [{t: seg.refetched[pos] for pos, t in enumerate(g)}
                     for g, seg in zip(groups, segments)]
        innermost = [{t: seg.innermost[pos] for pos, t in enumerate(g)}
                     for g, seg in zip(groups, segments)]
        inc = {d: set() for d in frame.ranks}
        dec = {d: set() for d in frame.ranks}
        ties = {d: [] for d in frame.ranks}
        counted, inner = [], []
        for (t, _), c, f in zip(frame.copies, boundary, phi):
            at = {}
            for d in frame.ranks:
                if d in rels[t]:
                    inc[d].add(c)
                    if f < c:  # no loop of T's ranks between its fill boundary and its own
                        ties[d].append((f, c))
                elif f - 1 + (d in refetched[f - 1][t]):
                    at[d] = f - 1 + (d in refetched[f - 1][t])
                    dec[d].add(at[d])
            counted.append(at)
            sliding = frame.sliding(t)
            for d in sliding:  # a window's extent and sweep: neither monotone in its tiles
                inc[d].add(c)
                dec[d].add(c)
            j = innermost[f - 1][t]
            if j in sliding and f > 1:  # the tile above j: a larger one restarts less often
                dec[j].add(f - 1)
            inner.append(j)
        free, where = [], {}
        for d in frame.ranks:
            n, w = _collapse(frozenset(inc[d]), frozenset(dec[d]), k, True, tuple(sorted(ties[d])))
            free.append(n)
            where[d] = w
        self.free, self.where = tuple(free), where
        reps = _replicas(frame)
        self.specs = tuple(tuple(self._window_specs(frame, unit, counted, inner)) if windowed
                           else tuple(self._specs(frame, unit[0], counted, reps))
                           for unit, windowed in frame.parts)
        self.key = (self.free, self.specs, fan_at)

    def _specs(self, frame: _Frame, d: str, counted: list[dict], reps):
        """Rank ``d``'s factor in every term, as (tile column or None, fans dividing it, count
        column or None, fans multiplying it): per copy its footprint (the instance tile), its
        fills times both replica factors (``nest.replicas``), and for the output its fills and
        its elided first read times the source's replicas; then each fan's split."""
        where = self.where[d]
        last = len(frame.rels) - 1
        for i, ((t, lv), c) in enumerate(zip(frame.copies, self.boundary)):
            mine = d in frame.rels[t]
            above, uni = reps[i]
            if mine:
                yield (where[c - 1], tuple(j for j, b in enumerate(self.fan_at) if b <= c), None, ())
                above = uni = ()
            else:
                yield _ONE
            count = where[counted[i][d] - 1] if d in counted[i] else None
            yield (None, (), count, above + uni)
            if t == last:
                yield (None, (), count, above)
                yield (None, (), None, above)
        for j in range(len(frame.fans)):
            yield (None, (), None, (j,))

    def _window_specs(self, frame: _Frame, unit: tuple[str, ...], counted: list[dict],
                      inner: list):
        """A windowed unit's factor in every term, in :meth:`_specs`' order, as fastnest's
        window specs: a copy's footprint (its axes' extents at its boundary c) and fills (counts
        of the unit's ranks its tensor lacks, each sliding axis' sweep ``D_a`` with the tiles at
        its fill boundary phi, equal to c's, and j's tile at phi - 1); no replica factor and no
        split (sliding ranks are never split)."""
        def col(d, b):
            return 0 if b == 0 else self.where[d][b - 1]

        last = len(frame.rels) - 1
        for i, ((t, _), c, f) in enumerate(zip(frame.copies, self.boundary, self.phi)):
            foot = _foot_spec(frame.shape, t, unit, c, col)
            move = _move_spec(frame.shape, t, unit, f, inner[i], counted[i], col)
            foot, move = (_ONE if x == _WINDOW_ONE else x for x in (foot, move))
            yield foot
            yield move
            if t == last:
                yield move
                yield _ONE
        for _ in frame.fans:
            yield _ONE

    def entries(self, ids: dict) -> list[tuple[int, int]]:
        """Per (rank, term): (kind, value) for the dominance test: kind 0 the constant 1; a tile
        (larger for a smaller value) or a count (larger for a larger value) of one spec shape;
        comparable only within a kind. (The chain's last column is the product of the rank's
        splits, not 1: a tile like any other.)"""
        out = []
        for specs in self.specs:
            for spec in specs:
                if spec == _ONE:
                    out.append((0, 0))
                    continue
                if isinstance(spec[0], str):  # a windowed factor: comparable only when equal
                    out.append((ids.setdefault(spec, len(ids) + 1), 0))
                    continue
                tile, spread, count, mult = spec
                if tile is not None:
                    out.append((ids.setdefault(("tile", spread), len(ids) + 1), -tile))
                else:
                    out.append((ids.setdefault(("count", count is None, mult), len(ids) + 1),
                                count or 0))
        return out


_ONE = (None, (), None, ())


@cache
def _replicas(frame: _Frame) -> tuple[tuple[tuple[int, ...], tuple[int, ...]], ...]:
    """Per copy the fans whose splits of ranks its tensor lacks repeat its traffic
    (``nest.replicas``): those at or above its source level (each replica of the source fills
    its own subtree), and those between its source and it whose parent does not multicast."""
    out = []
    for t, lv in frame.copies:
        src = max((l2 for t2, l2 in frame.copies if t2 == t and l2 < lv), default=0)
        out.append((tuple(j for j, fan in enumerate(frame.fans) if fan.level <= src),
                    tuple(j for j, fan in enumerate(frame.fans)
                          if src < fan.level <= lv and not fan.multicast)))
    return tuple(out)


def _boundaries(frame: _Frame):
    """Every (K, boundary per copy): each tensor's copies at non-decreasing boundaries in 1..K,
    every boundary holding a copy, K at most ``frame.depth``."""
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


def _fills(frame: _Frame, boundary: tuple[int, ...], fan_at: tuple[int, ...]):
    """Every choice of fill boundaries: a copy right below a fanout may have its innermost
    relevant loop in any segment above (its fill boundary at or below its outer copy's);
    every other copy fills at its own boundary."""
    options = []
    for i, ((t, _), c) in enumerate(zip(frame.copies, boundary)):
        options.append(range(1, c + 1) if c in fan_at else (c,))
    for phi in product(*options):
        if all(not (frame.copies[i][0] == frame.copies[i + 1][0] and phi[i] > phi[i + 1])
               for i in range(len(phi) - 1)):
            yield phi


def _symmetries(problem: Einsum, frame: _Frame) -> tuple[tuple[tuple[str, str], ...], ...]:
    """The problem's rank renamings (``mapspace.symmetries``) that map every tensor onto itself,
    as renamings of the frame's plan ranks (a ResNet conv with P = Q and R = S: P <-> Q with
    R <-> S); none with fanout (a fan's splittable ranks need not be symmetric). A renaming maps
    every nest to one of equal cost with each copy on the same tensor and level, so a class and
    its image have the same staircase: :func:`_plan` costs one class per orbit."""
    if frame.fans:
        return ()
    expand = dict(zip(frame.ranks, frame.units))
    size = dict(zip(frame.ranks, frame.sizes))
    out = []
    for sigma, pi in symmetries(problem, list(problem.ranks)):
        if pi != tuple(range(len(problem.tensors))) or all(k == v for k, v in sigma.items()):
            continue
        if all(sigma[d] in expand and size[sigma[d]] == size[d]
               and {sigma[e] for e in expand[d]} == set(expand[sigma[d]]) for d in frame.ranks):
            out.append(tuple((d, sigma[d]) for d in frame.ranks))
    return tuple(out)


def _signature(k: int, boundary: tuple, phi: tuple, segs) -> tuple:
    """What a class's formula reads of its segments (per tensor filling there: its innermost
    relevant loop where it slides, the irrelevant loops refetched above it)."""
    return (k, boundary, phi, tuple((s.innermost, s.refetched) for s in segs))


def _image(sig: tuple, sigma: dict) -> tuple:
    """A signature renamed by ``sigma`` (tensors map onto themselves: same groups)."""
    k, boundary, phi, segs = sig
    return (k, boundary, phi, tuple((tuple(None if j is None else sigma[j] for j in inner),
                                     tuple(frozenset(sigma[d] for d in r) for r in ref))
                                    for inner, ref in segs))


@cache
def _plan(frame: _Frame, limit: int = PLAN_LIMIT, work_limit: int = PLAN_WORK_LIMIT,
          syms: tuple = ()) -> tuple[_Class, ...] | None:
    """The distinct undominated collapsed classes, most free tiles first (they set a low
    staircase early); None past ``limit`` classes. With symmetries (:func:`_symmetries`) one
    class per orbit: a class whose renamed signature was already taken is left out, its image
    having the same staircase (renaming the ranks of every nest of one class gives the nests
    of the other, at equal cost; each class's formula is exact on its canonical nests)."""
    tensors = tuple(Tensor(f"T{i}", tuple(Axis(tuple(Term(d) for d in ranks)) for _, ranks in axes))
                    for i, axes in enumerate(frame.shape.axes))
    per_group: dict = {}
    plans = []
    total = 0
    for k, boundary in _boundaries(frame):
        fan_at = _fan_boundaries(frame, boundary)
        if fan_at is None:
            continue
        for phi in _fills(frame, boundary, fan_at):
            options = []
            for b in range(1, k + 1):
                g = tuple(sorted({frame.copies[i][0] for i, f in enumerate(phi) if f == b}))
                if g not in per_group:
                    per_group[g] = order_classes(None, list(frame.ranks),
                                                 tuple(tensors[i] for i in g))
                options.append(per_group[g])
            total += math.prod(len(o) for o in options)
            if total > limit:
                return None
            plans.append((k, boundary, phi, fan_at, options))
    classes: dict = {}
    work = 0
    sigmas = [dict(s) for s in syms]
    seen: set = set()
    for k, boundary, phi, fan_at, options in plans:
        for segs in product(*options):
            orbit = 1
            if sigmas:
                sig = _signature(k, boundary, phi, segs)
                images = {_image(sig, s) for s in sigmas}
                if images & seen:
                    continue
                seen.add(sig)
                orbit = len(images | {sig})
            cls = _Class(frame, k, boundary, phi, fan_at, segs)
            if cls.key not in classes:
                classes[cls.key] = cls
                # the whole orbit's raw rows: the limit declines what it did without symmetry
                # (past it the reduced search is far over WORK_LIMIT, after minutes, not seconds)
                work += orbit * _rows(frame, cls)
                if work > work_limit:
                    return None
    kept = _undominated(list(classes.values()))
    return tuple(sorted(kept, key=lambda c: -sum(c.free)))


def _rows(frame: _Frame, cls: _Class) -> int:
    """The table-row combinations of a class (as :func:`_tables`, without building them): where
    they are far over ``WORK_LIMIT`` before dominance (a ResNet conv's sliding ranks keep two or
    three free tiles each), :func:`_plan` gives up early rather than after every class."""
    rows, at = 1, 0
    for unit, windowed in frame.parts:
        frees = cls.free[at:at + len(unit)]
        if windowed:
            rows *= math.prod(len(_chains(frame.sizes[frame.ranks.index(d)], f, False))
                              for d, f in zip(unit, frees))
        else:
            fans = tuple(f.fanout if unit[0] in f.ranks else 1 for f in frame.fans)
            rows *= len(_table(frame.sizes[at], frees[0], frame.imperfect, fans))
        at += len(unit)
    return rows


def _undominated(classes: list[_Class]) -> list[_Class]:
    """Drops every class whose every term is at least another's at every tiling (same free
    tiles, so the same tables; the output's elided read, the one term of negative weight, is the
    same in both: its factors are replicas, which no class changes); of equal classes one is
    kept. Per term the entries (kind, value) of :meth:`_Class.entries` are comparable only
    within a kind, kind 0 (the constant 1) below every other: :func:`_order_vectors` maps them
    to vectors ordered componentwise exactly so, and :func:`_pareto` keeps the undominated
    ones (blocks against the front kept so far, not every pair in Python)."""
    by_free: dict[tuple, list[int]] = {}
    for x, c in enumerate(classes):
        by_free.setdefault(c.free, []).append(x)
    kept: list[int] = []
    ids: dict = {}
    for members in by_free.values():
        if len(members) == 1:
            kept += members
            continue
        e = np.array([classes[x].entries(ids) for x in members], np.int64)
        vec = _order_vectors(e[..., 0], e[..., 1])
        kept += [members[i] for i in _pareto(vec, np.zeros(vec.shape[1], bool))]
    return [classes[x] for x in sorted(kept)]


def _order_vectors(kind: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Rows of (kind, value) entries per term, as vectors whose componentwise order is the
    classes' dominance: row b is at most row a in every term iff b's entry is kind 0, or of
    a's kind with a value at most a's. One component per term and non-zero kind k in that
    column: the value where the entry is of kind k, ``-big`` where it is kind 0, ``big``
    otherwise (``big`` above every |value|). Kind 0 below all: its components are all
    ``-big``; an entry of kind k over one of kind 0: its value above ``-big`` in (t, k); kinds
    k and k' both non-zero and different: ``big`` against a value, in both (t, k) and (t, k')
    one way fails; same kind: the values compare in (t, k), ``big`` equals ``big`` elsewhere."""
    big = int(np.abs(value).max(initial=0)) + 1
    cols = []
    for t in range(kind.shape[1]):
        for k in np.unique(kind[:, t]):
            if k == 0:
                continue
            cols.append(np.where(kind[:, t] == k, value[:, t],
                                 np.where(kind[:, t] == 0, -big, big)))
    if not cols:
        return np.zeros((len(kind), 1), np.int64)
    return np.stack(cols, axis=1).astype(np.int64)


# ------------------------------------------------------------------------------ tables

@dataclass(frozen=True, eq=False)
class _Table:
    """A rank's rows: its tile chain ``[N, u_1..u_free, bottom]`` and its split at each fan
    (1 where the fan may not split it); ``bottom`` is the product of the splits (each instance's
    innermost tile 1), and every tile is a multiple of it (perfect factors: each divides the one
    above), so every instance holds whole tiles."""

    tiles: np.ndarray
    splits: np.ndarray

    def __len__(self) -> int:
        return len(self.tiles)


@cache
def _table(n: int, free: int, imperfect: bool, fans: tuple[int, ...]) -> _Table:
    """``fans``: per fan its fanout, or 1 where it may not split this rank."""
    tiles, splits = [], []
    for combo in product(*([v for v in divisors(n) if v <= f] for f in fans)):
        s = math.prod(combo)
        if n % s or any(v > f for v, f in zip(combo, fans)):
            continue
        chains = _chains(n // s, free, imperfect and s == 1)
        tiles.append(chains * s)
        splits.append(np.broadcast_to(np.array(combo, np.int64), (len(chains), len(fans))))
    return _Table(np.concatenate(tiles), np.concatenate(splits))


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


def _tables(problem: Einsum, frame: _Frame, cls: _Class) -> list:
    """Per unit of a class its table: a plain rank's chains and splits (:func:`_table`), or a
    windowed unit's joint chains (``fastnest._window_table``: perfect, never split)."""
    out, at = [], 0
    for unit, windowed in frame.parts:
        frees = cls.free[at:at + len(unit)]
        if windowed:
            out.append(_window_table(tuple((d, problem.size[d]) for d in unit), frees))
        else:
            fans = tuple(f.fanout if unit[0] in f.ranks else 1 for f in frame.fans)
            out.append(_table(frame.sizes[at], frees[0], frame.imperfect, fans))
        at += len(unit)
    return out


def _matrix(problem: Einsum, frame: _Frame, part, tab, specs, factors: dict) -> np.ndarray:
    """A unit's factor of every term (columns) at every row of its table (cached in
    ``factors`` per table and specs: many classes share them)."""
    hit = factors.get((id(tab), specs))
    if hit is not None:
        return hit
    unit, windowed = part
    if not windowed:
        n = frame.sizes[frame.ranks.index(unit[0])]
        factors[id(tab), specs] = out = np.stack([_factor(tab, n, spec) for spec in specs], axis=1)
        return out
    cols = []
    for spec in specs:
        key = (id(tab), spec)  # tables are cached: one object per (sizes, free tiles)
        if spec == _ONE:
            cols.append(np.ones(len(tab), np.int64))
        elif key not in factors:
            factors[key] = _window_factor(problem, _Unit(unit, True, False), tab, spec)
        if spec != _ONE:
            cols.append(factors[key])
    factors[id(tab), specs] = out = np.stack(cols, axis=1)
    return out


def _factor(table: _Table, n: int, spec: tuple) -> np.ndarray:
    """One term's factor from one rank, per table row (see ``_Class._specs``)."""
    tile, spread, count, mult = spec
    value = np.ones(len(table), np.int64)
    if tile is not None:
        value = table.tiles[:, tile] // table.splits[:, list(spread)].prod(axis=1)
    if count is not None:
        value = value * -(-n // table.tiles[:, count])
    if mult:
        value = value * table.splits[:, list(mult)].prod(axis=1)
    return value


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
    """Linear maps from a class's terms to what the search reads: ``start`` each term's
    constant (a copy's fills start at its tensor's size); ``occ`` per level the footprints;
    ``acc`` the key (backing store, then each level); ``low`` a lower bound of the key that
    holds for partial products (the output's elided read, of negative weight, only with its
    fills where no replica factor can grow it); ``fan`` per fan the column of its split."""

    start: np.ndarray
    occ: np.ndarray
    acc: np.ndarray
    low: np.ndarray
    fan: np.ndarray


def _plain_size(problem: Einsum, tensor: Tensor) -> int:
    """A tensor's fills before its units' factors: its plain axes' sizes (and the extent of
    a sliding axis none of whose ranks loops); each looping sliding axis is its unit's factor."""
    size = problem.size
    return math.prod(size[a.ranks[0]] if a.is_plain else
                     1 if any(size[d] > 1 for d in a.ranks) else a.extent(size)
                     for a in tensor.axes)


def _costing(problem: Einsum, frame: _Frame, nl: int) -> _Costing:
    out = len(problem.tensors) - 1
    z = problem.tensor_size(problem.output)
    start, occ, acc, low = [], [], [], []
    seen = set()
    for t, lv in frame.copies:
        first = t not in seen
        seen.add(t)
        size = problem.tensor_size(problem.tensors[t])
        plain = _plain_size(problem, problem.tensors[t])

        def row(weight: int) -> list[int]:
            r = [0] * (nl + 1)
            r[lv] = weight
            if first:  # the tensor's outermost copy: filled from the backing store
                r[0] = weight
            return r

        start += [1, plain]  # a sliding axis' share of the fills: its windowed unit's D_a
        occ += [[int(i == lv - 1) for i in range(nl)], [0] * nl]
        acc += [[0] * (nl + 1), row(1)]
        low += [[0] * (nl + 1), row(1)]
        if t == out:
            src = max((l2 for t2, l2 in frame.copies if t2 == t and l2 < lv), default=0)
            fixed = not any(fan.level <= src and fan.ranks - frame.rels[t] for fan in frame.fans)
            start += [size, 1]
            occ += [[0] * nl, [0] * nl]
            acc += [row(1), row(-z)]
            low += [row(1) if fixed else [0] * (nl + 1), row(-z) if fixed else [0] * (nl + 1)]
    fan = list(range(len(start), len(start) + len(frame.fans)))
    start += [1] * len(frame.fans)
    occ += [[0] * nl] * len(frame.fans)
    acc += [[0] * (nl + 1)] * len(frame.fans)
    low += [[0] * (nl + 1)] * len(frame.fans)
    return _Costing(np.array([start], np.int64), np.array(occ, np.int64).reshape(-1, nl),
                    np.array(acc, np.int64), np.array(low, np.int64), np.array(fan, np.intp))


def frontier(problem: Einsum, arch: Arch, imperfect: bool = False, limit: int = WORK_LIMIT
             ) -> list[tuple[Nest, LevelCost, Copies]] | None:
    """The exact per-tensor staircase (as :func:`hierarchy.per_tensor_points`: occupancy of the
    swept level up, lexicographic key strictly down; without a swept level, the one least point),
    each point's nest re-costed by ``evaluate_levels``; None where this path does not apply
    (a sliding output, too many classes with windows, fanout with imperfect factors, over
    ``limit`` combinations or PLAN_LIMIT classes, int64 overflow)."""
    if all(n == 1 for n in problem.size.values()):
        return None  # nothing to tile: no units to combine (the other routes answer it)
    frame = _frame(problem, arch, imperfect)
    if frame is None or problem.output is not problem.tensors[-1]:
        return None
    # a footprint is at most its tensor, fills at most MACs (plain axes), replicas at most the
    # instances: every sum of a key and every partial product stays below that
    # (a sliding axis moves at most its coefficients' sum times MACs: fastnest's bound)
    spread = max(math.prod(sum(t.coef for t in a.terms) for a in T.axes) for T in problem.tensors)
    if 3 * (len(frame.copies) + 1) * problem.macs * spread * math.prod(arch.fanouts) >= 2**62:
        return None
    # with sliding windows each class costs a few ms of Python (its window factors and
    # reductions): past WINDOW_PLAN_LIMIT visits a small problem (four levels, a fourth tensor)
    # is faster by the depth-first enumerator, so this path declines it; a larger one (a ResNet
    # conv, 30,242 visits on three levels) has nothing faster and may visit more
    windowed = any(w for _, w in frame.parts)
    visits = PLAN_LIMIT if not windowed else \
        WINDOW_PLAN_LIMIT if problem.macs <= SMALL_MACS else LARGE_WINDOW_PLAN_LIMIT
    classes = _plan(frame, visits, PLAN_WORK_LIMIT, _symmetries(problem, frame))
    if classes is None:
        return None
    tables = [_tables(problem, frame, c) for c in classes]
    nl = len(arch.on_chip)
    caps = np.array([lv.capacity if lv.capacity is not None else -1 for lv in arch.on_chip],
                    np.int64)
    fixed = np.flatnonzero(caps >= 0)
    fanouts = np.array([f.fanout for f in frame.fans], np.int64)
    swept = arch.swept_index
    costing = _costing(problem, frame, nl)
    stairs = _Staircase(nl + 1)
    factors: dict = {}

    floor = _level_floors(problem, arch, frame, imperfect)

    def alive(prod: np.ndarray, final: bool) -> tuple:
        occ = prod @ costing.occ
        keys = prod @ (costing.acc if final else costing.low)
        if not final:
            keys = np.maximum(keys, floor)
        x = occ[:, swept] if swept is not None else np.zeros(len(prod), np.int64)
        ok = (occ[:, fixed] <= caps[fixed]).all(axis=1)
        if len(fanouts):
            ok &= (prod[:, costing.fan] <= fanouts).all(axis=1)
        return ok & ~stairs.beaten(x, keys), x, keys

    fits = _Fits.of(costing, caps, fixed, fanouts)
    seeds = _seeds(problem, arch, frame, imperfect)
    if seeds:
        stairs.merge(np.array([x for x, _, _ in seeds], np.int64),
                     np.array([cost.key for _, cost, _ in seeds], np.int64),
                     np.array([[-1, i] for i in range(len(seeds))], np.int64))
    outer = _Outer(costing, swept, fixed, caps, floor) if seeds else None
    kept = []  # per class, per unit the table rows it keeps (None: the class is skipped)
    work = 0
    for c, (cls, tabs) in enumerate(zip(classes, tables)):
        mats = [_matrix(problem, frame, part, tab, specs, factors)
                for part, tab, specs in zip(frame.parts, tabs, cls.specs)]
        rows = combos = allow = None
        if outer is not None:  # first on whole tables: a class it drops costs no _pareto
            got = outer.rows(mats, [np.arange(len(m)) for m in mats], stairs, factors, False)
            if got is None:
                kept.append(None)
                continue
            rows = got[0]
        rows = _reduced(mats, fits, factors, among=rows)
        if rows is not None and outer is not None:
            got = outer.rows(mats, rows, stairs, factors)
            rows, combos = (None, None) if got is None else got
            rows = None if rows is None else _reduced(mats, fits, factors, rows)
        combined = None
        if rows is not None and combos is not None:
            allow = combos.prefixes(rows)
            if allow is not None:
                rows, allow, combined = allow
        kept.append(rows)
        if rows is None:
            continue
        work += math.prod(len(r) for r in rows) if combined is None else combined
        if work > limit:  # bounded work: the caller moves on (the MILP)
            return None
        mats = [m[r] for m, r in zip(mats, rows)]
        _search(mats, _floors(mats, costing.start), np.zeros(1, np.int64), alive, stairs, c,
                allow=allow)
    out = []
    for i in range(len(stairs.x)):
        c, flat = int(stairs.tag[i, 0]), int(stairs.tag[i, 1])
        if c < 0:  # a seed no class matched: a real nest of the mapspace all the same
            _, cost, (nest, copies) = seeds[flat]
            out.append((nest, cost, copies))
            continue
        idx = np.unravel_index(flat, [len(r) for r in kept[c]]) if kept[c] else ()
        nest, copies = _nest(problem, arch, frame, classes[c], tables[c],
                             tuple(int(r[j]) for r, j in zip(kept[c], idx)))
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


def _floors(mats: list[np.ndarray], start: np.ndarray) -> list[np.ndarray]:
    """Per depth i of the search, the least value of every term over the units from i on:
    ``start`` times each later unit's column minimum (``floors[0]`` is the start row itself,
    ``floors[i]`` for i >= 1 multiplies the partial product of units before i). A term is a
    product of one factor per unit, so the partial product times the later units' minima is a
    lower bound of every completion: a sharper test than the partial product alone."""
    out = [np.ones((1, start.shape[1]), np.int64)]
    for m in reversed(mats[1:]):
        out.append(out[-1] * m.min(axis=0)[None, :])
    out.reverse()
    return [start] + out


def _search(mats, floors, flat, alive, stairs, c, prod=None, allow=None, code=None) -> None:
    """Multiply the ranks' factor matrices in one at a time, dropping rows that cannot enter
    the staircase (the partial product times the later units' least factors, ``floors``, is a
    lower bound of every term), in blocks of at most CHUNK rows; merge what survives the last
    into the staircase. With ``allow`` (:meth:`_Combos.prefixes`), a partial combination is
    extended only along a prefix of a combination of projections the outer test kept (``code``
    its prefix's code)."""
    if prod is None:
        prod, floors = floors[0], floors[1:]
        code = np.zeros(1, np.int64)
    m = mats[0] if mats else np.ones((1, prod.shape[1]), np.int64)
    step = max(1, CHUNK // len(m))
    final = len(mats) <= 1
    for s in range(0, len(prod), step):
        p = (prod[s:s + step, None, :] * m[None, :, :]).reshape(-1, m.shape[1])
        f = (flat[s:s + step, None] * len(m) + np.arange(len(m))[None, :]).reshape(-1)
        g = None
        if allow is not None:
            ids, radix, codes = allow
            u = len(ids) - len(mats)
            g = (code[s:s + step, None] * radix[u] + ids[u][None, :]).reshape(-1)
            at = np.minimum(np.searchsorted(codes[u], g), len(codes[u]) - 1)
            ok = codes[u][at] == g
            if not ok.all():
                p, f, g = p[ok], f[ok], g[ok]
            if not len(p):
                continue
        keep, x, keys = alive(p if final else p * floors[0], final)
        if not keep.any():
            continue
        if final:
            stairs.merge(x[keep], keys[keep],
                         np.stack([np.full(int(keep.sum()), c), f[keep]], axis=1))
        else:
            _search(mats[1:], floors[1:], f[keep], alive, stairs, c, p[keep], allow,
                    None if g is None else g[keep])


@dataclass(frozen=True, eq=False)
class _Fits:
    """What a single unit's row must leave room for: ``cols`` the terms that occupy a fixed
    level or are a split, ``occ`` their occupancy of each fixed level (rows: terms), ``caps``
    those capacities, ``fan`` the split columns among ``cols`` with their ``fanouts``;
    ``exact`` marks the terms that must be equal for one row to dominate another (the output's
    elided read, of negative weight)."""

    cols: np.ndarray
    start: np.ndarray
    occ: np.ndarray
    caps: np.ndarray
    fan: np.ndarray
    fanouts: np.ndarray
    exact: np.ndarray

    @classmethod
    def of(cls, costing: _Costing, caps: np.ndarray, fixed: np.ndarray, fanouts: np.ndarray
           ) -> _Fits:
        occ = costing.occ[:, fixed]
        cols = np.union1d(np.flatnonzero((occ != 0).any(axis=1)), costing.fan)
        return cls(cols, costing.start[0, cols], occ[cols], caps[fixed],
                   np.searchsorted(cols, costing.fan), fanouts, (costing.acc < 0).any(axis=1))


def _pareto(m: np.ndarray, exact: np.ndarray) -> np.ndarray:
    """The rows of ``m`` no other row dominates: a row is dropped for another that is at most it
    in every column, equal in the ``exact`` columns, and either below it somewhere or an equal
    row listed earlier. Every term is a product of one factor per unit with a non-negative
    weight (the exact columns aside), so swapping a dominated row for its dominator in any
    combination raises no occupancy, no split product and no component of the key.

    A dominator has a smaller column sum, or is an equal row listed earlier: in the order of
    (sum, index) every dominator comes first, and dominance is transitive, so each block of
    rows in that order is tested against the rows kept so far and against the earlier rows of
    its own block (``n`` times the front, not ``n`` squared)."""
    n = len(m)
    if n <= 1:
        return np.arange(n)
    order = np.lexsort((np.arange(n), m.sum(axis=1)))
    s = m[order]
    e = s[:, exact]
    kept = np.zeros(n, bool)
    step = PARETO_BLOCK  # the block against itself costs step^2, against the front n step
    front = np.zeros(0, np.intp)  # positions in s of the rows kept so far
    for lo in range(0, n, step):
        i = np.arange(lo, min(n, lo + step))
        alive = np.ones(len(i), bool)
        for f0 in range(0, len(front), 8 * step):
            f = front[f0:f0 + 8 * step]
            le = (s[f][:, None, :] <= s[i][None, :, :]).all(axis=2)
            if exact.any():
                le &= (e[f][:, None, :] == e[i][None, :, :]).all(axis=2)
            alive &= ~le.any(axis=0)
        le = (s[i][:, None, :] <= s[i][None, :, :]).all(axis=2)  # le[j, i]: row j at most row i
        if exact.any():
            le &= (e[i][:, None, :] == e[i][None, :, :]).all(axis=2)
        le &= np.arange(len(i))[:, None] < np.arange(len(i))[None, :]
        alive &= ~le.any(axis=0)
        kept[i[alive]] = True
        front = np.concatenate([front, i[alive]])
    return np.sort(order[kept])


@dataclass(frozen=True, eq=False)
class _Combos:
    """The combinations of outer projections a class's outer test keeps (:class:`_Outer`):
    per unit the projection id of each row of its whole matrix (``inv``), and the kept
    combinations (rows of projection ids, one column per unit). Every combination of rows whose
    projections form no kept combination is matched or beaten by a point already attained (its
    key and fixed occupancies are at least its projections' bounds), so the search extends a
    partial combination only along a prefix of a kept one."""

    inv: tuple[np.ndarray, ...]
    kept: np.ndarray

    def prefixes(self, rows: list[np.ndarray]) -> tuple[list[np.ndarray], tuple, int] | None:
        """Per unit its rows among ``rows[u]`` whose projection some kept combination uses,
        what :func:`_search` reads, and how many row combinations it confines the search to.
        What the search reads: per unit each such row's code (its projection's rank
        among the unit's kept ones), the radices, and per depth d the sorted mixed-radix codes
        of the kept combinations' first d + 1 projections. None where codes could overflow."""
        out, ids, radix, cols = [], [], [], []
        for u, r in enumerate(rows):
            uniq = np.unique(self.kept[:, u])
            g = self.inv[u][r]
            pos = np.minimum(np.searchsorted(uniq, g), max(len(uniq) - 1, 0))
            ok = uniq[pos] == g if len(uniq) else np.zeros(len(r), bool)
            out.append(r[ok])
            ids.append(pos[ok])
            radix.append(len(uniq))
            cols.append(np.searchsorted(uniq, self.kept[:, u]))
        if math.prod(radix) >= 2**62 or not all(len(r) for r in out):
            return None
        codes, code = [], np.zeros(len(self.kept), np.int64)
        combined = np.ones(len(self.kept), np.int64)
        for u, col in enumerate(cols):
            code = code * radix[u] + col
            codes.append(np.unique(code))
            combined *= np.bincount(ids[u], minlength=radix[u])[col]
        return out, (ids, radix, codes), int(combined.sum())


class _Outer:
    """The outer test of a class (with seeds: :func:`_seeds`): the backing store's traffic and
    the swept level's occupancy read only the *outer* terms (the swept level's footprints and
    the outermost copies' fills), so each unit's rows fall into few distinct outer projections.
    Every combination of projections is costed on those terms exactly, and on every other term
    by a lower bound: per projection, each term's least factor over the unit's rows with that
    projection (its greatest for the output's elided read, of negative weight), so every
    component of the key and every fixed level's occupancy of a combination is bounded below
    (as in :func:`_floors`). A combination whose bound is over a fixed level's capacity, or
    not below the staircase at its occupancy (lexicographically: a key at least a bound that
    is itself at least the staircase's key is at least that key), is matched or beaten by a
    point already attained, and so is every nest whose rows project onto it. A unit keeps the
    rows whose projection appears in a surviving combination."""

    def __init__(self, costing: _Costing, swept: int, fixed: np.ndarray, caps: np.ndarray,
                 floor: np.ndarray):
        self.cols = np.flatnonzero((costing.occ[:, swept] != 0) | (costing.acc[:, 0] != 0))
        self.neg = (costing.acc < 0).any(axis=1)
        self.start = costing.start
        self.occ = costing.occ[self.cols, swept]
        self.acc = costing.acc[self.cols, 0]
        self.low = costing.low[self.cols, 0]
        self.key = costing.acc
        self.fixed = (costing.occ[:, fixed], caps[fixed])
        self.floor = floor  # per key component, a bound every nest meets (_level_floors)

    def _bounds(self, m: np.ndarray, r: np.ndarray, inv: np.ndarray):
        """Per projection present among rows ``r``: its index and its row of bounds (exact on
        the outer terms, the least factor elsewhere, the greatest on negative terms)."""
        g = inv[r]
        order = np.argsort(g, kind="stable")
        gs = g[order]
        starts = np.flatnonzero(np.r_[True, gs[1:] != gs[:-1]])
        sub = m[r[order]]
        low = np.minimum.reduceat(sub, starts, axis=0)
        if self.neg.any():
            low[:, self.neg] = np.maximum.reduceat(sub[:, self.neg], starts, axis=0)
        return gs[starts], low

    def rows(self, mats: list[np.ndarray], rows: list[np.ndarray], stairs: _Staircase,
             memo: dict, combos: bool = True) -> tuple[list[np.ndarray], _Combos | None] | None:
        """Each unit's rows that some surviving combination uses, and with ``combos`` the
        surviving combinations themselves (:class:`_Combos`; None past ``COMBO_LIMIT`` of them)
        (None: no combination survives, the class is skipped). Projections are memoised per
        matrix, and the walk's verdict per content of the bounds present: the staircase only
        falls, so a verdict reached earlier keeps every combination a later one would."""
        bounds, invs, present = [], [], []
        for m, r in zip(mats, rows):
            key = ("outer", id(m))
            if key not in memo:
                _, inv = np.unique(m[:, self.cols], axis=0, return_inverse=True)
                memo[key] = inv.reshape(-1)
            inv = memo[key]
            if len(r) == len(m):  # the whole table (the first pass): the same for every class
                if ("bounds", id(m)) not in memo:
                    memo["bounds", id(m)] = self._bounds(m, r, inv)
                at, low = memo["bounds", id(m)]
            else:
                at, low = self._bounds(m, r, inv)
            bounds.append(low)
            invs.append(inv)
            present.append(at)
        combos = combos and COMBO_LIMIT > 0
        key = ("walk", combos) + tuple(p.tobytes() for p in bounds)
        if key not in memo:
            outer = [p[:, self.cols] for p in bounds]
            floors = _floors(outer, self.start[:, self.cols])
            used = [np.zeros(len(p), bool) for p in bounds]
            found: list | None = [] if combos else None
            self._walk(outer, bounds, floors[1:], floors[0], np.zeros((1, 0), np.int64),
                       stairs, used, found)
            if found is not None:  # kept in the memo: the narrowest type of the positions
                found = np.concatenate(found) if found else np.zeros((0, len(bounds)), np.int64)
                small = np.int16 if max(len(p) for p in bounds) < 2**15 else np.int32
                found = found.astype(small) if len(found) <= COMBO_LIMIT else None
            memo[key] = None if not all(u.any() for u in used) else (used, found)
        if memo[key] is None:
            return None
        used, found = memo[key]
        out = []
        for r, inv, at, u in zip(rows, invs, present, used):
            keep = np.zeros(int(inv.max()) + 1, bool)
            keep[at[u]] = True  # the projections used, as indices of the matrix's projections
            out.append(r[keep[inv[r]]])
        combos = None if found is None else \
            _Combos(tuple(invs), np.stack([at[found[:, u]] for u, at in enumerate(present)], axis=1))
        return out, combos

    def _walk(self, projs, bounds, floors, prod, idx, stairs, used, combos=None) -> None:
        """Combine the units' projections one at a time (as :func:`_search`), dropping partial
        combinations whose least completion is already beaten on the backing store; at the
        last unit, the whole key's bound against the staircase; mark the projections of the
        survivors in ``used``."""
        m = projs[0]
        step = max(1, CHUNK // len(m))
        final = len(projs) == 1
        for s in range(0, len(prod), step):
            p = (prod[s:s + step, None, :] * m[None, :, :]).reshape(-1, m.shape[1])
            i = np.concatenate([np.repeat(idx[s:s + step], len(m), axis=0),
                                np.tile(np.arange(len(m)), len(idx[s:s + step]))[:, None]], axis=1)
            low = p if final else p * floors[0]
            x = low @ self.occ
            dram = low @ (self.acc if final else self.low)
            at = np.searchsorted(stairs.x, x, side="right") - 1
            ok = (at < 0) | (dram <= stairs.keys[np.maximum(at, 0), 0])
            if final and ok.any():
                i, x = i[ok], x[ok]
                whole = self.start.copy()
                for u, b in enumerate(bounds):
                    whole = whole * b[i[:, u]]
                occ, caps = self.fixed
                keys = np.maximum(whole @ self.key, self.floor)
                ok = (whole @ occ <= caps).all(axis=1) & ~stairs.beaten(x, keys)
                for u in range(i.shape[1]):
                    used[u][i[ok, u]] = True
                if combos is not None:
                    combos.append(i[ok])
            elif not final and ok.any():
                self._walk(projs[1:], bounds, floors[1:], p[ok], i[ok], stairs, used, combos)


def _seeds(problem: Einsum, arch: Arch, frame: _Frame, imperfect: bool) -> list:
    """Real nests that attain the least backing-store traffic at every swept occupancy, to
    seed the staircase (so that :class:`_Outer` can drop classes and rows before their inner
    levels are enumerated): where every tensor's outermost copy is in the swept level and no
    level fans out, a one-buffer per-tensor nest (``fastnest.frontier``, its staircase) with
    every inner copy at one more boundary of unit tiles is a hierarchy nest with the same
    backing-store traffic and swept occupancy. Each is checked by ``check_level_tiles`` (it
    raises on a bug: the whole and unit boundaries keep every tile rule), re-costed by
    ``evaluate_levels`` and kept only if it fits every fixed level; a seed only
    ever prunes what a real nest beats. Returns (swept occupancy, cost, (nest, copies))."""
    swept = arch.swept_index
    if swept is None or frame.fans:
        return []
    first = {}
    for t, lv in frame.copies:
        first.setdefault(t, lv)
    if len(first) != len(problem.tensors) or set(first.values()) != {swept + 1}:
        return []
    one = _fastnest.frontier(problem, "per_tensor/" + ("imperfect" if imperfect else "perfect"))
    if one is None:
        return []
    out = []
    names = tuple(lv.name for lv in arch.on_chip)
    ranks = tuple(problem.ranks)
    for nest1, _ in one:
        k1 = len(nest1.levels)
        levels = ((tuple(problem.sizes),) + nest1.levels
                  + (tuple((d, 1) for d in problem.ranks),))
        orders = (ranks,) + tuple(nest1.orders) + (ranks,)
        outer = {name: b + 1 for name, b in nest1.storage}
        storage = tuple((problem.tensors[t].name,
                         outer[problem.tensors[t].name] if lv == swept + 1 else k1 + 2)
                        for t, lv in frame.copies)
        nest = Nest(levels, orders, storage)
        copies = Copies(tuple(lv for _, lv in frame.copies), names)
        check_level_tiles(problem, nest, "imperfect" if imperfect else "perfect")
        cost = evaluate_levels(problem, nest, copies, arch.multicast)
        if all(lv.capacity is None or used <= lv.capacity
               for lv, used in zip(arch.on_chip, cost.occupancy)):
            out.append((cost.occupancy[swept], cost, (nest, copies)))
    return out


def _level_floors(problem: Einsum, arch: Arch, frame: _Frame, imperfect: bool) -> np.ndarray:
    """Per component of the key, a lower bound that holds for every nest (0 where none is
    known): for a fixed level that keeps every tensor, with no fanout anywhere, the least
    one-buffer per-tensor traffic (``fastnest.frontier``) at that level's capacity. Deleting
    every other level's copies leaves a one-buffer per-tensor nest (the same loops, each tensor
    at that level's boundary) whose occupancy is the level's and whose traffic is the traffic
    into the level (each copy is filled per change of its tile, wherever its source sits), so
    no nest that fits the level moves less into it."""
    out = np.zeros(len(arch.on_chip) + 1, np.int64)
    if frame.fans:
        return out
    one = None
    for lv, level in enumerate(arch.on_chip, start=1):
        keep = {t for t, l in frame.copies if l == lv}
        if level.capacity is None or len(keep) != len(problem.tensors):
            continue
        if one is None:
            one = _fastnest.frontier(problem, "per_tensor/" + ("imperfect" if imperfect
                                                                else "perfect")) or []
        fit = [c.accesses for _, c in one if c.occupancy <= level.capacity]
        if fit:
            out[lv] = min(fit)
    return out


def _reduced(mats: list[np.ndarray], fits: _Fits, memo: dict, rows: list | None = None,
             among: list | None = None) -> list[np.ndarray] | None:
    """Per unit of a class, the rows worth combining (indices into its matrix): undominated
    (:func:`_pareto`, memoised per matrix; with ``among``, those of its rows), and whose own
    factor, with every other unit at its least factor, keeps each fixed level's occupancy
    within capacity and each split product within its fanout (both lower bounds of the
    combination's, as in :func:`_floors`); repeated until nothing more drops, as a unit's least
    factors rise when rows go. None where a unit keeps no row (the class has no nest that fits).

    ``among`` (the rows the outer test keeps of whole tables) is intersected with the
    undominated rows of the whole table: a row whose dominator the outer test dropped is beaten
    too (its occupancies and key are no lower, the staircase no higher at a larger occupancy)."""
    if rows is None:
        rows = []
        for u, m in enumerate(mats):
            key = ("pareto", id(m))
            if key not in memo:
                memo[key] = _pareto(m, fits.exact)
            rows.append(memo[key] if among is None else np.intersect1d(memo[key], among[u]))
            if not len(rows[-1]):
                return None
    rows = list(rows)
    sub = [m[:, fits.cols] for m in mats]
    changed = True
    while changed:
        changed = False
        mins = [m[r].min(axis=0) for m, r in zip(sub, rows)]
        for u, m in enumerate(sub):
            other = fits.start.copy()
            for v, low in enumerate(mins):
                if v != u:
                    other = other * low
            lb = m[rows[u]] * other
            ok = (lb @ fits.occ <= fits.caps).all(axis=1)
            if len(fits.fanouts):
                ok &= (lb[:, fits.fan] <= fits.fanouts).all(axis=1)
            if not ok.all():
                rows[u] = rows[u][ok]
                if not len(rows[u]):
                    return None
                mins[u] = m[rows[u]].min(axis=0)
                changed = True
    return rows


def _nest(problem: Einsum, arch: Arch, frame: _Frame, cls: _Class, tabs: list, idx: tuple
          ) -> tuple[Nest, Copies]:
    """The nest and copies of a class at one row of each unit's table (``idx``). A merged
    rank's tile is split prime by prime (as ``fastnest._nest``)."""
    k = cls.k
    levels = [dict.fromkeys(problem.ranks, 1) for _ in range(k)]
    spatial = [{} for _ in range(k)]
    plain = []
    for x, (unit, windowed) in enumerate(frame.parts):
        if windowed:
            for d in unit:
                for b in range(k):
                    levels[b][d] = int(tabs[x].tiles[d][idx[x], cls.where[d][b]])
        else:
            plain.append((x, unit[0], frame.units[frame.ranks.index(unit[0])]))
    for x, d0, ranks in plain:
        row = idx[x]
        for j, b in enumerate(cls.fan_at):
            v = int(tabs[x].splits[row, j])
            if v > 1:
                spatial[b - 1][d0] = v
        for b in range(k):
            rest = int(tabs[x].tiles[row, cls.where[d0][b]])
            if len(ranks) == 1:
                levels[b][d0] = rest
                continue
            for d in ranks:
                levels[b][d] = t = math.gcd(rest, problem.size[d])
                rest //= t
    expand = dict(zip(frame.ranks, frame.units))
    orders = tuple(tuple(d for rep in order for d in expand[rep]) for order in cls.orders)
    storage = tuple((problem.tensors[t].name, b) for (t, _), b in zip(frame.copies, cls.boundary))
    names = tuple(lv.name for lv in arch.on_chip)
    if frame.fans:
        at = dict(zip((f.level for f in frame.fans), cls.fan_at))
        nest = Nest(tuple(tuple(lv.items()) for lv in levels), orders, storage,
                    tuple(tuple(sp.items()) for sp in spatial))
        copies = Copies(tuple(lv for _, lv in frame.copies), names,
                        tuple(at.get(lv, 0) for lv in range(1, len(names) + 1)))
    else:
        nest = Nest(tuple(tuple(lv.items()) for lv in levels), orders, storage)
        copies = Copies(tuple(lv for _, lv in frame.copies), names)
    return nest, copies
