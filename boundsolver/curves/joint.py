"""The joint bound on a memory hierarchy: least backing-store traffic, then least traffic into
each level inwards, that one mapping attains with every level's capacity respected
(docs/hierarchy.md).

:class:`LevelSolver` answers it by the MILP (levels.py's classes, the tracer's loop, floors from
one-buffer curves and per-instance slices); :func:`solve` routes between it and the enumerators
of hierarchy.py and builds the table; :func:`solve_workload` sums unfused Einsums.
"""

from __future__ import annotations

import logging
import math
import time
from bisect import bisect_right
from itertools import combinations, permutations, product
from dataclasses import dataclass

import pandas as pd

from ..errors import BoundsolverError, EnumerationTooLarge, ProofOutOfReach, SolverError
from ..milp.levels import LevelFormulation, kept, level_classes, named_values
from ..milp.placement import PlacementFormulation
from ..milp.tracer import ClassSolver
from ..model.arch import Arch, ArchError
from ..model.cost import (
    Copies,
    LevelCost,
    Nest,
    check_level_tiles,
    check_size,
    evaluate_levels,
    op_intensity,
)
from ..model.einsum import Einsum, einsum
from ..model.lower import touched
from ..model.mapspace import Mapspace, divisors, looping_ranks, mapspace_of
from ..model.results import Status, level_row
from ..reference.hierarchy import (
    LIMIT,
    PER_TENSOR_LIMIT,
    PLACEMENTS,
    check,
    frontier_points,
    per_tensor_points,
    work,
)
from ..reference import levelnest
from .methods import check_method

log = logging.getLogger(__name__)


def _as_input(problem: Einsum) -> Einsum:
    """``problem`` with its output read as an input (counted by its fills, no write-back) and
    a fresh one-word output: its one-buffer traffic is the original's inputs plus the output's
    fills, plus 2 words (the new output and its one-word operand), in 2 more words of buffer."""
    text = " * ".join(str(T) for T in (*problem.inputs, problem.output))
    u, y, v = "u_", "Y_", "U_"
    return einsum(f"{y}[{u}] += {text} * {v}[{u}]", **dict(problem.sizes), **{u: 1})



@dataclass(frozen=True)
class LevelPoint:
    """A verified nest, its exact cost and the solve (class) that found it. A time limit gives
    ``status="time_limit"``: the key is proven up to the stage ``bound`` names (objective, a
    proven lower bound on it), and the nest (None: no incumbent) is the best one found."""

    nest: Nest | None
    cost: LevelCost | None
    values: dict
    cls: int
    copies: Copies | None = None  # per-tensor placement: each copy's level
    status: str = "optimal"
    bound: tuple[str, float] | None = None


class OutOfTime(Exception):
    """A stage of the joint bound ran out of its time: ``objective``, a proven lower ``bound``
    on its least value, and the best verified point found (None: none)."""

    def __init__(self, objective: str, bound: float, incumbent: LevelPoint | None):
        super().__init__(objective)
        self.objective, self.bound, self.incumbent = objective, bound, incumbent



class LevelSolver(ClassSolver):
    """The MILPs of one problem on one hierarchy, one per :class:`LevelClass`, answering "least
    ``objective`` with these objectives at most these limits" exactly (``minimise``), the
    lexicographic joint bound at a capacity of the swept level (``joint``) and its staircase
    (``walk``). The tracer (tracer.py, as for ``points.PointSolver``) solves each class:
    classes are solved in order of their lower bounds (LP relaxations, and earlier answers under
    looser limits), skipped when a bound reaches the incumbent; every point is re-costed in
    integers; solutions that meet a limit only within the solver's tolerances are cut off; large
    objectives are proved by a further solve. ``time_limit`` (seconds per capacity, all
    stages together): a stage it cuts gives a ``time_limit`` point (:class:`OutOfTime`)."""

    partial = False
    kept_bounds = 30  # questions under many limits: keep the latest few per class

    def __init__(self, problem: Einsum, arch: Arch, solver: str = "highs", threads: int = 1,
                 time_limit: float | None = None, factors: str = "perfect"):
        from ..reference.hierarchy import check

        check(problem, arch)
        if factors not in ("perfect", "imperfect"):
            raise BoundsolverError(f"factors must be 'perfect' or 'imperfect', got {factors!r}")
        self.factors = factors
        check_size(problem)
        start = time.perf_counter()
        self.arch = arch
        ranks = looping_ranks(problem)
        super().__init__(problem, self._level_classes(problem, arch, ranks), solver, threads,
                         time_limit)
        self.partial = time_limit is not None
        self._deadline: float | None = None
        self.ranks = ranks
        self.stored = kept(problem, arch)
        names = [lv.name for lv in arch.on_chip]
        self.key = ["dram"] + [f"accesses:{n}" for n in names]  # LevelCost.key's order
        self.swept = next((f"occupancy:{lv.name}" for lv in arch.on_chip if lv.sweep), None)
        self.fixed = {f"occupancy:{lv.name}": lv.capacity for lv in arch.on_chip
                      if lv.capacity is not None}
        self._floors: dict = {}
        self._curves: dict = {}
        # capacity of the swept level -> a proven lower bound on the joint key there (every
        # mapping of this mapspace that fits has a key at least it): see :meth:`key_floor`
        self.lower_keys: dict[int, tuple[int, ...]] = {}
        self.build_seconds = time.perf_counter() - start

    placement = "uniform"

    @staticmethod
    def _level_classes(problem: Einsum, arch: Arch, ranks: list[str]) -> list:
        return level_classes(problem, arch, ranks)

    def _make_form(self, c: int) -> LevelFormulation:
        """Built when first needed (a conv has 1,000 classes): grouped and pruned ones never are."""
        return LevelFormulation(self.problem, self.arch, self.classes[c], self.ranks,
                                self.factors)

    # ----------------------------------------------------------------------------- questions
    def depth(self, name: str) -> int:
        """How many segments (outermost first) objective ``name``'s formula depends on: the
        traffic into level b reads segments 0..b-1 (a copy at b chooses g <= b), the backing
        store's that into each tensor's outermost copy, occupancies none (tiles only)."""
        if name == "dram":
            return max(b[0] for b in self.stored if b)
        if name.startswith("accesses:"):
            return 1 + [lv.name for lv in self.arch.on_chip].index(name.split(":", 1)[1])
        return 0

    def groups(self, objective: str, limits: dict) -> list[list[int]]:
        """Classes that pose the same question: equal orders on the segments the objective and
        the limited objectives read. Their feasible tiles are the same (other segments' orders
        constrain nothing: every copy may choose its own boundary, g = b, unpinned), so one
        representative's answer is every member's."""
        n = max([self.depth(objective)] + [self.depth(k) for k in limits])
        out: dict[tuple, list[int]] = {}
        for c, cls in enumerate(self.classes):
            out.setdefault(tuple(s.order for s in cls.segments[:n]), []).append(c)
        return list(out.values())

    def floor(self, b: int, limits: dict) -> float:
        """The best of :meth:`monotone_floor`, :meth:`key_floor`, :meth:`outer_floor` from each
        outer level, for a level of fixed capacity :meth:`instance_floor`, and every touched
        word of each tensor the level keeps entering it once (``b = 0``: the algorithmic
        minimum), which tiny levels such as registers often attain. Touched, not ``tensor_size``: a copy of a strided window with holes may skip them
        (a 1x1 stride-2 conv on three_level, L1 = 4: L1 traffic 14, where the sizes' 20 as a
        floor ended the stage at a known point of 20; tests/test_holes.py)."""
        once = sum(touched(self.problem, T) for i, T in enumerate(self.problem.tensors)
                   if b == 0 or b in self.stored[i])
        best = max(once, self.monotone_floor(b, limits), self.key_floor(b, limits))
        for a in range(1, b):
            best = max(best, self.outer_floor(a, b, limits))
        if b >= 1:
            lv = self.arch.on_chip[b - 1]
            cap = lv.capacity if lv.capacity is not None else limits.get(f"occupancy:{lv.name}")
            if cap is not None and lv.capacity is not None:
                best = max(best, self.instance_floor(b, cap))
        return best

    def key_floor(self, b: int, limits: dict) -> float:
        """Stage ``b``'s floor from :attr:`lower_keys` (for uniform placement: the per-tensor
        bound, whose mapspace contains this one). A lower key ``K`` given at a capacity ``c``
        at least the swept limit bounds every mapping that fits the limit (the joint key never
        rises with capacity); a mapping meeting the earlier stages' limits, where those sit at
        ``K``'s values, then equals ``K`` on them (less on the first that differs would put its
        key below ``K``), so it moves at least ``K[b]`` into level ``b``. -inf elsewhere."""
        if self.swept is None or self.swept not in limits:
            return -math.inf
        above = [c for c in self.lower_keys if c >= limits[self.swept]]
        if not above:
            return -math.inf
        key = self.lower_keys[min(above)]
        if any(limits.get(name) != key[i] for i, name in enumerate(self.key[:b])):
            return -math.inf
        return key[b]

    def monotone_floor(self, b: int, limits: dict) -> float:
        """A lower bound on the traffic into level ``b`` (1 = outermost; 0: the backing store's,
        see :meth:`_one_buffer_floor`) once the traffic into level ``b - 1`` is fixed at its least
        value ``limits[accesses:<b-1>]``: where both
        levels keep the same tensors, every copy at ``b`` moves at least as much as the copy at
        ``b - 1`` it is filled from (fills only grow inwards, and so does the repetition across
        instances: nest.replicas), so the traffic into ``b`` is at least that into ``b - 1``.

        With a strided window's holes fills need not grow inwards (a finer tile skips holes: a
        1x1 stride-2 input moves 2P - P/u in tiles of u). Where ``b`` has the instances of
        ``b - 1`` the bound still holds at the least value: were the traffic into ``b`` below,
        moving level ``b - 1``'s copies to level ``b``'s boundaries (tiles no larger, the same
        loops above, no fanout crossed) would move less into ``b - 1`` without changing the
        levels above. Across a fanout that move is not a mapping, so with holes: no floor."""
        names = [lv.name for lv in self.arch.on_chip]
        if b == 0:
            return self._one_buffer_floor(limits)
        if b == 1 and "dram" in limits and all(s and s[0] == 1 for s in self.stored):
            return limits["dram"]  # every tensor enters level 1 from the backing store
        if b < 2 or f"accesses:{names[b - 2]}" not in limits:
            return -math.inf
        stored = self.stored
        if any((b in s) != (b - 1 in s) for s in stored):
            return -math.inf
        p, levels = self.problem, self.arch.on_chip
        if levels[b - 1].instances != levels[b - 2].instances and any(
                touched(p, T) < p.tensor_size(T) for i, T in enumerate(p.tensors) if b in stored[i]):
            return -math.inf
        return limits[f"accesses:{names[b - 2]}"]

    def outer_floor(self, a: int, b: int, limits: dict) -> float:
        """A lower bound on the traffic into level ``b`` from the loops above an outer level
        ``a < b`` of one instance (no fanout at or above it), whose occupancy and traffic the
        limits bound (uniform placement, perfect factors, plain ranks; -inf elsewhere).

        Put a *hypothetical* copy of every tensor level ``b`` keeps at boundary ``a``: with
        ``j`` T's innermost iterating relevant loop above ``a``, it is filled
        ``F(T) = |T| x prod(trips of T's irrelevant loops above j)`` times (milp/levels.py's
        ``F``; an output moves ``2F - |T|``: written back on each fill, read back on all but
        the first). (1) T's real copy at ``b`` moves at least that: its ``j`` is at or below
        this one, and counts only grow inwards (levels.py: ``F(T, g)`` does not depend on the
        copy's boundary and grows with ``g``); replication across instances only adds. So
        the traffic into ``b`` is at least the sum of the hypothetical copies'. (2) Those copies
        cost at least those of a one-buffer (Orojenesis) mapping with the same tiles: merging
        two segments into one loop per rank (the inner segment's iterating ranks innermost in
        its order, the others outside them in the outer segment's order) keeps every tensor's
        ``j`` on the same rank and drops only irrelevant loops above it, so no copy fills more
        (by induction, any number of segments). (3) Level ``a``'s own copies are the
        hypothetical copies of the tensors it keeps: their tiles occupy at most ``a``'s
        capacity (its limit) and their traffic is the traffic into ``a`` (at most its limit),
        and by (2) the one-buffer mapping's are no larger. Hence the least, over one-buffer
        mappings of the problem whose tensors kept at ``a`` occupy at most ``a``'s capacity
        and move at most its limit, of what the tensors kept at ``b`` move, is a floor.

        This is what makes the stage of an inner level dear on a fused leaf (fused_levels.py):
        tensors resident in the tree level skip the outer level, whose small tiles force loops
        above every inner copy of them; counting each of their words once left the SMEM stage
        of a100 attention's leaves 20,480 words below optima of 36,864 to 266,240, so every
        class was solved to prove each value (:meth:`_outer_table`: the mappings, once)."""
        if (self.placement != "uniform" or self.factors != "perfect"
                or any(f != 1 for f in self.arch.fanouts[:a])):
            return -math.inf
        lv = self.arch.on_chip[a - 1]
        cap = lv.capacity if lv.capacity is not None else limits.get(f"occupancy:{lv.name}")
        if cap is None or not math.isfinite(cap):
            return -math.inf
        table = self._outer_table(a, b)
        if table is None:
            return -math.inf
        occ, moved, inner = table
        ok = occ <= cap
        limit = limits.get(f"accesses:{lv.name}")
        if limit is not None and math.isfinite(limit):
            ok &= moved <= limit
        return int(inner[ok].min()) if ok.any() else -math.inf

    OUTER_LIMIT = 400_000  # one-buffer mappings (tilings x orders) :meth:`_outer_table` lists

    def _outer_table(self, a: int, b: int):
        """Every one-buffer mapping of the problem (perfect tiles, every order of its looping
        ranks): the occupancy and traffic of the tensors level ``a`` keeps, and the traffic of
        those level ``b`` keeps, as int64 arrays (None: too many mappings, a sliding window, or
        a value past int64). Listed once per pair of levels."""
        import numpy as np

        key = ("outer", a, b)
        if key in self._floors:
            return self._floors[key]
        self._floors[key] = None
        p = self.problem
        if not all(ax.is_plain for T in p.tensors for ax in T.axes):
            return None
        ranks = [d for d, n in p.sizes if n > 1]
        divs = [divisors(p.size[d]) for d in ranks]
        tilings = math.prod(len(v) for v in divs)
        # a copy moves at most 2 |T| x prod(trips of the ranks T lacks) <= 2 prod(sizes)
        if tilings * math.factorial(len(ranks)) > self.OUTER_LIMIT or (
                2 * len(p.tensors) * math.prod(p.size[d] for d in ranks) >= 2**62):
            return None
        # (reshaped by count: with every rank of size 1 the one tiling has no columns, which
        # reshape(-1, 0) refused, failing the MILP on such a leaf)
        tiles = np.array(list(product(*divs)), dtype=np.int64).reshape(tilings, len(ranks))
        trips = np.array([p.size[d] for d in ranks], dtype=np.int64) // tiles
        at_a = [a in s for s in self.stored]
        at_b = [b in s for s in self.stored]
        occ = np.zeros(len(tiles), np.int64)
        for T, keep in zip(p.tensors, at_a):
            if keep:
                occ += np.prod(tiles[:, [ranks.index(d) for d in T.ranks if d in ranks]],
                               axis=1, dtype=np.int64)
        out = p.output.name
        parts = ([], [], [])
        for order in permutations(range(len(ranks))):
            moved, inner = np.zeros(len(tiles), np.int64), np.zeros(len(tiles), np.int64)
            for T, ka, kb in zip(p.tensors, at_a, at_b):
                if not (ka or kb):
                    continue
                fills = self._fills(T, ranks, order, trips) * p.tensor_size(T)
                cost = 2 * fills - p.tensor_size(T) if T.name == out else fills
                if ka:
                    moved += cost
                if kb:
                    inner += cost
            parts[0].append(occ)
            parts[1].append(moved)
            parts[2].append(inner)
        self._floors[key] = tuple(np.concatenate(x) for x in parts)
        return self._floors[key]

    @staticmethod
    def _fills(T, ranks: list, order: tuple, trips):
        """Per tiling, how many times a one-buffer copy of ``T`` is filled under loops in
        ``order`` (outermost first): the product of the trips of T's irrelevant loops above its
        innermost iterating relevant loop (1 if none iterates)."""
        import numpy as np

        above = np.ones(len(trips), np.int64)
        fills = np.ones(len(trips), np.int64)
        for i in order:
            if ranks[i] in T.ranks:
                fills = np.where(trips[:, i] > 1, above, fills)
            else:
                above = above * trips[:, i]
        return fills

    def instance_floor(self, b: int, capacity: float) -> float:
        """A lower bound on the traffic into level ``b`` that holds at any limits: per instance.

        Where level ``b`` keeps every tensor and no parent between a copy there and its source
        multicasts, the traffic into ``b`` is the sum over its instances of what each moves
        (``nest.replicas``), and each instance runs a one-buffer mapping of its own slice of the
        problem (the rank sizes divided by the splits at or above ``b``) in ``capacity`` words
        (several loops of a rank above one boundary only add fills). So it is at least, over
        every split ``s`` the fanouts allow, ``prod(s)`` times the one-buffer curve of the slice
        at ``capacity``. The output is the one exception: where ``s`` splits a rank the output
        does not use, its instances share partial sums, of which our rule reads back one, so
        the slice's curve is taken with the output counted as its fills only (an input). The
        curves are enumerated once per split (small problems, else no floor)."""
        key = (b, capacity)
        if key not in self._floors:
            self._floors[key] = self._instance_floor(b, capacity)
        return self._floors[key]

    def _instance_floor(self, b: int, capacity: float) -> float:
        stored, fan = self.stored, self.arch.fanouts
        if not math.isfinite(capacity) or any(b not in s for s in stored):
            return -math.inf
        for s in stored:
            source = s[s.index(b) - 1] if s.index(b) else 0
            if any(fan[lv - 1] > 1 and self.arch.on_chip[lv - 1].multicast
                   for lv in range(source + 1, b + 1)):
                return -math.inf
        splits = [{}]
        for lv in range(1, b + 1):
            splits = [{d: a.get(d, 1) * o.get(d, 1) for d in a.keys() | o.keys()}
                      for a in splits for o in self.arch.split_options(self.problem, lv)]
        splits = list({tuple(sorted(s.items())): s for s in splits
                       if all(self.problem.size[d] % v == 0 for d, v in s.items())}.values())
        if len(splits) > 200:
            return -math.inf
        out_ranks = set(self.problem.output.ranks)
        ranked = []
        for split in splits:  # no slice moves less than its touched words once: order by that
            sub = self.problem.with_sizes(**{d: n // split.get(d, 1)
                                             for d, n in self.problem.sizes})
            n = math.prod(split.values())
            ranked.append((n * sum(touched(sub, T) for T in sub.tensors), n, split, sub))
        ranked.sort(key=lambda e: e[0])
        best = math.inf
        try:
            for least, n, split, sub in ranked:
                if least >= best:
                    break
                reduced = any(v > 1 and d not in out_ranks for d, v in split.items())
                best = min(best, n * self._curve_at(sub, capacity, reduced))
        except EnumerationTooLarge:
            return -math.inf
        return best

    def _curve_at(self, sub: Einsum, capacity: float, reduced: bool) -> float:
        """The one-buffer curve of a slice at ``capacity`` (inf if nothing fits), each slice's
        staircase enumerated once; ``reduced``: with its output read as an input
        (:func:`_as_input`, read back to the slice's terms)."""
        key = (sub.sizes, reduced)
        if key not in self._curves:
            problem = _as_input(sub) if reduced else sub
            self._curves[key] = self._slice_curve(problem)
        extra = 2 if reduced else 0
        fit = [a for o, a in self._curves[key] if o <= capacity + extra]
        return min(fit) - extra if fit else math.inf

    def occupancy_floor(self, limits: dict) -> float:
        """The swept level's occupancy is at least the least occupancy on the one-buffer
        staircase (this placement's) at which it moves at most ``limits["dram"]``, where the
        swept level is the outermost and keeps every tensor in one instance: its copies are a
        one-buffer mapping moving the DRAM traffic (:meth:`_one_buffer_floor`'s argument). A
        staircase point attaining it ends the walk's last stage without a solve."""
        first = self.arch.on_chip[0]
        if (self.swept != f"occupancy:{first.name}" or "dram" not in limits
                or self._one_buffer_floor({self.swept: math.inf}) == -math.inf):
            return -math.inf
        fit = [o for o, a in self._one_buffer_pairs() if a <= limits["dram"]]
        return min(fit) if fit else -math.inf

    def _one_buffer_pairs(self) -> list[tuple[int, int]]:
        """The one-buffer staircase :meth:`_one_buffer_floor` reads (after it has been read)."""
        return getattr(self, "_curve", [])

    def _slice_curve(self, problem: Einsum) -> list[tuple[int, int]]:
        """The one-buffer staircase (occupancy, accesses) of a slice in this solver's placement:
        uniform placement within a level is one boundary for every tensor (Orojenesis). With
        imperfect factors, the uniform/imperfect staircase (fastnest.py, exact): an instance's
        global tiles ``u`` (the outermost split of any size, deeper ones dividing it) are the
        slice's tiles ``u / s`` with ``ceil((N/s) / (u/s)) = ceil(N/u)`` tiles per rank, its
        loops merged into one per rank (only fewer fills) an imperfect one-buffer mapping of the
        slice; the perfect staircase would not be a bound."""
        if self.factors == "imperfect":
            from ..reference.fastnest import frontier as fast

            points = fast(problem, "uniform/imperfect")
            if points is None:
                raise EnumerationTooLarge(f"no uniform/imperfect staircase of {problem}")
            return [(c.occupancy, c.accesses) for _, c in points]
        from ..reference.enumerate import frontier_points as one_buffer

        return [(c.occupancy, c.accesses) for _, c in one_buffer(problem)]

    def _one_buffer_floor(self, limits: dict) -> float:
        """The backing store's traffic is at least the one-buffer (Orojenesis) curve at the
        outermost level's capacity when that level keeps every tensor in one instance: the
        nest's loops above it and its tiles are an Orojenesis mapping of that occupancy with the
        same traffic (docs/hierarchy.md). The curve is enumerated once (fast)."""
        first = self.arch.on_chip[0]
        name = f"occupancy:{first.name}"
        cap = limits.get(name, self.fixed.get(name))
        if (self.arch.fanouts[0] != 1 or cap is None
                or any(not s or s[0] != 1 for s in self.stored)):
            return -math.inf
        if not hasattr(self, "_curve"):
            from .points import frontier

            try:
                # imperfect factors: the imperfect staircase (the outermost level's tiles are
                # the outermost split of each rank, of any size: a perfect staircase is no floor)
                front = frontier(self.problem, method="auto",
                                 mapspace=f"{self.placement}/{self.factors}")
                self._curve = list(zip(front["occupancy"].astype(int), front["accesses"].astype(int)))
            except BoundsolverError as err:  # a floor only saves solves: never fail for it
                log.debug("no one-buffer floor for %s: %s", self.problem, err)
                self._curve = []
        fit = [a for o, a in self._curve if o <= cap]
        return min(fit) if fit else -math.inf

    def minimise(self, objective: str, limits: dict, floor: float = -math.inf
                 ) -> LevelPoint | None:
        """A verified point of least ``objective`` with every named objective at most its limit
        (the fixed levels' capacities always apply); None if there is none. ``floor``: a lower
        bound on the answer known to the caller (a point attaining it ends the search)."""
        limits = self.fixed | limits
        fits = [p for p in self.known if all(p.values[n] <= v for n, v in limits.items())]
        inc = min(fits, key=lambda p: p.values[objective], default=None)
        if inc is not None and inc.values[objective] <= floor:
            return inc

        def best() -> float:
            return inc.values[objective] if inc is not None else math.inf

        def record(group: list[int], bound: float) -> None:
            for member in group:
                self._record(member, objective, limits, bound)

        def attempt(g: int) -> None:
            nonlocal inc
            cutoff = best() - 1
            out, point, value = self._solve(groups[g][0], objective, limits | {objective: min(
                cutoff, limits.get(objective, math.inf))})
            if out.status is Status.TIME_LIMIT:
                if point is not None and point.values[objective] < best():
                    inc = point
                stop = lows[g]
                if out.bound is not None:
                    stop = max(stop, self.form(groups[g][0]).unscale(objective, out.bound))
                open_ = [stop] + [v for h, v in lows.items() if h != g]
                raise OutOfTime(objective, min(min(open_), best()), inc)
            if point is None:
                record(groups[g], cutoff + 1)
            else:
                record(groups[g], value)
                if point.values[objective] < best():
                    inc = point

        groups = self.groups(objective, limits)
        lows = {g: max([floor] + [self.lower(c, objective, limits) for c in group])
                for g, group in enumerate(groups)}
        if math.isfinite(floor) and min(lows.values()) < best():
            # a floor to reach: one solve first, which often attains it (no relaxations then)
            first = min(lows, key=lows.get)
            attempt(first)
            lows[first] = math.inf
            if inc is not None and inc.values[objective] <= floor:
                return inc
        for g, group in enumerate(groups):
            if lows[g] < best():
                self._check_clock(objective, lows, best(), inc)
                lows[g] = max(lows[g], self._relaxation(group[0], objective, limits))
                record(group, lows[g])
        for g in sorted(lows, key=lows.get):
            if lows[g] < best():
                self._check_clock(objective, lows, best(), inc)
                attempt(g)
        return inc

    def _check_clock(self, objective: str, lows: dict, best: float, inc) -> None:
        """Stop a stage whose capacity's time is up before building or solving one more class
        (a conv has 1,000: building their models and relaxations alone took 40 s of a 5 s
        limit on simba), with the least of the classes' bounds as its proven bound."""
        if self._deadline is not None and time.perf_counter() >= self._deadline:
            raise OutOfTime(objective, min(min(lows.values()), best), inc)

    def start_clock(self, deadline: float | None = None) -> None:
        """Start a capacity's time (``deadline``: a caller's, shared with it); the tracer's
        solves count their time limit from ``began``."""
        if deadline is None and self.time_limit is not None:
            deadline = time.perf_counter() + self.time_limit
        self._deadline = deadline
        self.began = None if deadline is None else deadline - self.time_limit

    def _limited(self, stop: OutOfTime, limits: dict) -> LevelPoint:
        """The time-limit point of a stage cut short: its best verified point (the incumbent,
        or one met earlier that meets every stage proven so far), with the stage's bound."""
        full = self.fixed | limits
        fits = [p for p in self.known if all(p.values[n] <= v for n, v in full.items())]
        if stop.incumbent is not None:
            fits.append(stop.incumbent)
        inc = min(fits, key=lambda p: p.values[stop.objective], default=None)
        bound = (stop.objective, max(stop.bound, 0))
        if inc is None:
            return LevelPoint(None, None, {}, -1, None, Status.TIME_LIMIT.value, bound)
        return LevelPoint(inc.nest, inc.cost, inc.values, inc.cls, inc.copies,
                          Status.TIME_LIMIT.value, bound)

    def joint(self, capacity: float = math.inf, least_occupancy: bool = True,
              deadline: float | None = None) -> LevelPoint | None:
        """The lexicographic joint bound with the swept level at most ``capacity``: least DRAM
        traffic, then least traffic into each level inwards; among the points attaining it, one
        of least swept occupancy (its staircase point), or with ``least_occupancy=False`` any
        (the bound at one capacity needs no staircase point, and that last stage costs a solve
        per class; measured on GEMM 4096^3 on a100, a least occupancy within the class that
        found the point saved no time either)."""
        self.start_clock(deadline)
        if self.placement == "uniform" and self.factors == "imperfect":
            self._extend(capacity)
            self._perfect(capacity, self._deadline)
        limits = {self.swept: capacity} if self.swept else {}
        point = None
        for b, name in enumerate(self.key):  # b: the level the traffic enters (0: backing store)
            if point is not None and b >= 2:
                self._mirror(point, b)
            try:
                point = self.minimise(name, limits, self.floor(b, limits))
            except OutOfTime as stop:
                return self._limited(stop, limits)
            if point is None:
                return None
            limits[name] = point.values[name]
        if self.swept and least_occupancy:
            point = self.minimise(self.swept, limits, self.occupancy_floor(limits))
            if point is None:
                raise SolverError(f"{self.problem}: the point of least {self.key[-1]} vanished "
                                  "when its occupancy was minimised")
        return point

    def _extend(self, capacity: float) -> None:
        """A candidate attaining the backing store's floor where it applies (imperfect factors,
        whose one-hot tiles leave HiGHS slow to find any point on large problems): the
        one-buffer uniform/imperfect mapping of the outermost level at ``capacity``, every inner
        level's copies below it at tiles of one word, no spatial split (DRAM traffic and outer
        occupancy unchanged). Kept (re-costed) if it fits every level."""
        if self.swept is None or self._one_buffer_floor({self.swept: capacity}) == -math.inf:
            return
        from ..reference.fastnest import frontier as fast

        if not hasattr(self, "_candidates"):
            self._candidates = fast(self.problem, "uniform/imperfect") or []
        fit = [n for n, c in self._candidates if c.occupancy <= capacity]
        if not fit:
            return
        one, ranks = fit[-1], tuple(self.problem.ranks)
        if len(one.levels) != 1 or any(b != 1 for _, b in one.storage):
            return  # (uniform placement: one boundary holding every tensor)
        k = len(self.arch.on_chip)
        levels = (one.levels[0],) + (tuple((d, 1) for d in ranks),) * (k - 1)
        orders = (one.orders[0],) + (ranks,) * (k - 1)
        storage = tuple((T.name, b) for i, T in enumerate(self.problem.tensors)
                        for b in self.stored[i])
        nest = Nest(levels, orders, storage)
        check_level_tiles(self.problem, nest, self.factors)
        cost = evaluate_levels(self.problem, nest, multicast=self.arch.multicast)
        values = named_values(self.arch, cost)
        if all(values[n] <= v for n, v in (self.fixed | {self.swept: capacity}).items()):
            self.known.append(LevelPoint(nest, cost, values, 0))

    def _perfect(self, capacity: float, deadline: float | None = None) -> None:
        """The perfect-factor joint bound's point at ``capacity`` (fast), a candidate for
        imperfect factors: every perfect nest is an imperfect one, so it bounds every stage from
        above and may attain a floor (it shares the capacity's time)."""
        if not hasattr(self, "_perfect_solver"):
            self._perfect_solver = LevelSolver(self.problem, self.arch, self.solver,
                                               self.threads, self.time_limit)
        point = self._perfect_solver.joint(capacity, least_occupancy=False, deadline=deadline)
        if point is None or point.nest is None:  # (cut by the time limit before any point)
            return
        check_level_tiles(self.problem, point.nest, self.factors)
        self.known.append(LevelPoint(point.nest, point.cost, point.values, 0))

    def _mirror(self, point: LevelPoint, b: int) -> None:
        """A candidate for the stage of level ``b``: ``point`` with level ``b`` holding the
        same tiles as level ``b - 1`` (the loops between them move below it), which moves into
        ``b`` exactly what ``b - 1`` receives where both keep the same tensors: often the
        stage's floor, ending it without a solve. Kept (re-costed) only if it fits."""
        stored = self.stored
        if self.arch.fanouts[b - 1] != 1 or any((b in s) != (b - 1 in s) for s in stored):
            return
        nest = point.nest
        levels, orders = list(nest.levels), list(nest.orders)
        levels[b - 1] = levels[b - 2]  # boundary b takes boundary b - 1's tiles
        moved = orders[b - 1]  # segment b - 1 (between them) runs no loop any more
        orders[b - 1] = ()
        if b < len(orders):  # its loops run, outermost, in the segment below b
            orders[b] = tuple(moved) + tuple(d for d in orders[b] if d not in moved)
        mirror = Nest(tuple(levels), tuple(orders), nest.storage, nest.spatial)
        cost = evaluate_levels(self.problem, mirror, multicast=self.arch.multicast)
        values = named_values(self.arch, cost)
        if all(values[n] <= v for n, v in self.fixed.items()):
            self.known.append(LevelPoint(mirror, cost, values, point.cls))

    def walk(self) -> list[LevelPoint]:
        """The staircase over the swept level's occupancy, in increasing occupancy."""
        points, capacity = [], math.inf
        while True:
            point = self.joint(capacity)
            if point is None:
                break
            points.append(point)
            if self.swept is None:
                break
            capacity = point.values[self.swept] - 1
        return points[::-1]

    # ----------------------------------------------------------------------------- the tracer's hooks
    def _costed(self, c: int, x) -> tuple:
        nest, chosen = self.form(c).decode(x)
        check_level_tiles(self.problem, nest, self.factors)  # in the stated mapspace
        cost = evaluate_levels(self.problem, nest, multicast=self.arch.multicast)
        exact = named_values(self.arch, cost)
        return LevelPoint(nest, cost, exact, c), exact, self.form(c).value(nest, chosen)

    def _describe(self, point: LevelPoint) -> str:
        return f"nest {point.nest.describe(self.problem)}"

    def _subject(self, c: int, objective: str) -> str:
        return f"the nest of {self._question(c, objective, {})} under its class"

    def _question(self, c: int, objective: str, limits: dict) -> str:
        orders = " / ".join(",".join(s.order) for s in self.classes[c].segments)
        return (f"{self._problem_words()} on {self.arch.name}, class {c} of {len(self.classes)} "
                f"(segment orders {orders}); least {objective} with "
                f"{self._limit_words(limits, limits)}")


class PlacementSolver(LevelSolver):
    """The joint bound over **per-tensor placement within every level** (placement.py's one
    MILP, every copy's boundary and every segment's order a variable): one class, so the
    tracer's class pruning has nothing to prune; floors and candidates do the work. A known
    point (the constructed DRAM candidate, a mirror, the uniform bound's point) attaining a
    stage's floor ends it without a solve; for the DRAM stage it then asks for any point
    attaining the floor (a feasibility solve, far cheaper than proving an optimum)."""

    placement = "per_tensor"
    seed_uniform = True  # start each capacity from the uniform joint bound's point
    # Seconds the uniform seed may take per capacity without a time limit (with one: half
    # of it): it only supplies a candidate, and it can cost more than the per-tensor stages
    # themselves (simba, GEMM 4096^3, 512 KB: 40 s uniform, about 10 s per-tensor). Cut, it
    # still gives its best verified mapping. (A quarter of a 20 s limit, or 8 s of a 30 s
    # one, left conv2_x on simba with far worse mappings: its 1,000 classes need the time.)
    seed_seconds = 8.0
    # The uniform bound's proven points, where a caller has them (solve_pair): the seed at a
    # capacity is then the least of those that fit, instead of a uniform solve of its own.
    uniform_points: list | None = None

    @staticmethod
    def _level_classes(problem: Einsum, arch: Arch, ranks: list[str]) -> list:
        return [None]

    def _make_form(self, c: int) -> PlacementFormulation:
        return PlacementFormulation(self.problem, self.arch, self.ranks, self.factors)

    def groups(self, objective: str, limits: dict) -> list[list[int]]:
        return [[0]]

    def _slice_curve(self, problem: Einsum) -> list[tuple[int, int]]:
        """Per-tensor placement: each instance's copies of level ``b``, with the temporal loops
        above them (the spatial ones dropped, each split rank relabelled to its slice), are a
        one-buffer *per-tensor* mapping of its slice, so :meth:`instance_floor`'s argument holds
        with the per-tensor staircase (fastnest.py, exact; the uniform one, which per-tensor
        slices can beat, would not be a bound). Declined (no floor) where fastnest declines."""
        from ..reference.fastnest import frontier as fast

        points = fast(problem, f"per_tensor/{self.factors}")
        if points is None:
            raise EnumerationTooLarge(f"no per-tensor staircase of {problem} by enumeration")
        return [(c.occupancy, c.accesses) for _, c in points]

    def _first_holds_all(self) -> bool:
        """Level 1 is one instance and every tensor's first level: its copies are then the
        one-buffer mapping (the staircase floor, its candidate and the occupancy floor)."""
        return self.arch.fanouts[0] == 1 and all(s and s[0] == 1 for s in self.stored)

    def _one_buffer_floor(self, limits: dict) -> float:
        if not self._first_holds_all():
            return self._bypass_floor(limits)
        first = self.arch.on_chip[0]
        cap = limits.get(f"occupancy:{first.name}", self.fixed.get(f"occupancy:{first.name}"))
        if cap is None:
            return -math.inf
        fit = [c.accesses for _, c in self._per_tensor_curve() if c.occupancy <= cap]
        return min(fit) if fit else -math.inf

    def occupancy_floor(self, limits: dict) -> float:
        return super().occupancy_floor(limits) if self._first_holds_all() else -math.inf

    def _bypass_floor(self, limits: dict) -> float:
        """The backing store's traffic where tensors are first stored in different levels
        (simba: weights bypass the global buffer) or the first level has fanout: at least the
        least one-buffer per-tensor traffic whose footprints meet, per level holding some
        tensor's outermost copy, that level's capacity times its instances
        (:func:`fastnest.least`).

        Why it holds: each tensor's outermost copy, with the temporal loops above it, is a
        one-buffer per-tensor mapping of the whole problem over *global* tiles (several loops
        of a rank above a boundary only add fills), filled ``moved_at`` times; the backing
        store sends it that times the replicas, at least 1 (the output: ``up (m uni + m - |Z|)
        >= 2m - |Z|``, one buffer's count). A global tile holds the instance tile times the
        splits of its ranks at or above its level, whose product is at most the level's
        instances (sliding-window ranks are never split), and a level's copies share one
        instance's capacity; so the outermost copies at level l hold at most capacity(l) x
        instances(l) words together. None (no floor) where a capacity is unknown or
        the fast enumerator declines."""
        groups: dict[int, list[str]] = {}
        for i, T in enumerate(self.problem.tensors):
            groups.setdefault(self.stored[i][0], []).append(T.name)
        budgets = {}
        for lv, names in groups.items():
            level = self.arch.on_chip[lv - 1]
            key = f"occupancy:{level.name}"
            cap = limits.get(key, self.fixed.get(key))
            if cap is None:
                return -math.inf
            whole = sum(self.problem.tensor_size(self.problem.tensor(n)) for n in names)
            budgets["+".join(names)] = int(min(cap * level.instances, whole))
        key = tuple(sorted(budgets.items()))
        cache = self.__dict__.setdefault("_bypass", {})
        if key not in cache:
            from ..reference.fastnest import least

            try:
                found = least(self.problem, budgets)
            except BoundsolverError as err:  # a floor only saves solves: never fail for it
                log.debug("no bypass floor for %s: %s", self.problem, err)
                found = None
            cache[key] = -math.inf if found is None else found[1].accesses
        return cache[key]

    def _one_buffer_pairs(self) -> list[tuple[int, int]]:
        return [(c.occupancy, c.accesses) for _, c in self._per_tensor_curve()]

    def _per_tensor_curve(self) -> list:
        """The one-buffer per-tensor staircase (nests and costs; fastnest.py, exact), once;
        empty where the fast enumerator declines (no floor then)."""
        if not hasattr(self, "_pt_curve"):
            from ..reference.fastnest import frontier as fast

            self._pt_curve = fast(self.problem, f"per_tensor/{self.factors}") or []
        return self._pt_curve

    decompose = True  # the fanout level's stage by decomposition where it applies

    def floor(self, b: int, limits: dict) -> float:
        """As :meth:`LevelSolver.floor`, with the stages above the innermost level taken from
        the arch without it (:meth:`_relaxed_floor`); for the stage of level 2 where level 2 is
        a fanout (reference/decompose.py applies), its exact least value (:meth:`_decomposed`),
        and for level 3's stage, where ``Stage.next_exact`` holds, its exact value too."""
        best = max(super().floor(b, limits), self._relaxed_floor(b, limits))
        if self.decompose:
            best = max(best, self._bypassed(b, limits))
        if b == 2 and self.decompose:
            best = max(best, self._decomposed(limits, best))
        if b == 3 and self.decompose:
            second = f"accesses:{self.arch.on_chip[1].name}"
            key = (limits.get("dram"), limits.get(second), limits.get(self.swept))
            best = max(best, self.__dict__.get("_next_floor", {}).get(key, -math.inf))
        return best

    # Floors and seeds from the arch without its innermost level (:meth:`_relaxed`). Off by
    # default: fused_levels.LeafCurves turns it on for its leaves (a100 attention at 4096
    # tokens: 56 CPU s with it on every leaf; unfinished at 130 with it only where the
    # decompositions do not apply); joint.solve's routes (the decompositions tuned on GPU
    # convs and simba) stay as they were, unmeasured with it.
    relax = False

    def _relaxed(self) -> list | None:
        """The exact per-tensor staircase (levelnest.py) of this problem on the arch without
        its innermost level, as ``(swept occupancy, key, nest, copies)`` in increasing
        occupancy; None where it does not apply (imperfect factors, no swept level, the
        swept level innermost, a fanout at the innermost level, :attr:`relax` off) or
        levelnest declines.
        Computed once (on a100 attention's leaves with a tree level: 0.2 s, where their SMEM
        stage took a MILP of seconds per capacity).

        Why its key bounds this problem's (:meth:`_relaxed_floor`): drop every copy at the
        innermost level ``k`` from a nest of this arch. What remains is a nest of the arch
        without ``k`` (every copy at its boundary, each tensor's copies still ordered inwards,
        the fanouts above ``k`` unchanged: ``k`` has none of its own), and every outer copy's
        tile, loops above it and source (its tensor's nearest outer copy) are unchanged, so
        the backing store's traffic and every level's above ``k`` occupancy and traffic are
        unchanged or lower (tests/test_joint_relaxed.py checks it on every enumerated
        staircase nest); the swept level's occupancy is the same. So the least key over the
        smaller arch at a capacity is lexicographically at most this problem's prefix there."""
        if not hasattr(self, "_relaxed_points"):
            self._relaxed_points = None
            arch, k = self.arch, len(self.arch.on_chip)
            # (no rank of size > 1: levelnest.frontier fails with an IndexError there, and a
            # single nest needs no floor)
            if (self.relax and self.factors == "perfect" and self.swept is not None and k >= 2
                    and arch.swept_index < k - 1 and arch.fanouts[-1] == 1
                    and any(n > 1 for _, n in self.problem.sizes)):
                small = Arch(arch.name, arch.word_bits, arch.levels[:-1])
                try:
                    found = levelnest.frontier(self.problem, small)
                except BoundsolverError as err:  # a floor only saves solves: never fail for it
                    log.debug("no relaxed staircase for %s: %s", self.problem, err)
                    found = None
                if found:
                    self._relaxed_points = [
                        (int(named_values(small, c)[self.swept]), tuple(int(v) for v in c.key),
                         nest, copies) for nest, c, copies in found]
        return self._relaxed_points

    def _relaxed_at(self, capacity: float) -> tuple | None:
        """The point of the relaxed staircase at ``capacity`` (the least key among those
        that fit it), or None (none fits, or no relaxed staircase)."""
        points = self._relaxed()
        fit = [pt for pt in points or () if pt[0] <= capacity]
        return fit[-1] if fit else None

    def _relaxed_floor(self, b: int, limits: dict) -> float:
        """Stage ``b``'s floor (``b`` above the innermost level) from the relaxed staircase's
        key ``K`` at the swept limit (:meth:`_relaxed`): a mapping meeting the earlier stages'
        limits, where those sit at ``K``'s values, drops to a mapping of the smaller arch whose
        values there are at most ``K``'s, hence equal (one below would put it lexicographically
        below ``K``, the least), so its own value at ``b`` is at least ``K[b]``. -inf
        elsewhere."""
        if b >= len(self.key) - 1 or self.swept not in limits:
            return -math.inf
        at = self._relaxed_at(limits[self.swept])
        if at is None:
            return -math.inf
        key = at[1]
        if any(limits.get(name) != key[i] for i, name in enumerate(self.key[:b])):
            return -math.inf
        return key[b]

    def _relaxed_candidate(self, capacity: float) -> bool:
        """The relaxed staircase's point at ``capacity`` with the innermost level's copies
        mirroring the level above (same boundaries: it then moves what that level receives,
        :meth:`monotone_floor`), a known point if it fits every level once re-costed; only
        where the innermost level keeps what the level above keeps. Whether one was added."""
        at = self._relaxed_at(capacity)
        k = len(self.arch.on_chip)
        if at is None or any((k in s) != (k - 1 in s) for s in self.stored):
            return False
        _, _, nest, copies = at
        rows = [(name, bd, lv) for (name, bd), lv in zip(nest.storage, copies.level)]
        rows += [(name, bd, k) for name, bd, lv in rows if lv == k - 1]
        order = [T.name for T in self.problem.tensors]
        rows.sort(key=lambda r: (order.index(r[0]), r[2]))
        names = tuple(lv.name for lv in self.arch.on_chip)
        fan = None if copies.fanout_at is None else (*copies.fanout_at, 0)
        full = Nest(nest.levels, nest.orders, tuple((n, bd) for n, bd, _ in rows), nest.spatial)
        where = Copies(tuple(lv for _, _, lv in rows), names, fan)
        cost = evaluate_levels(self.problem, full, where, multicast=self.arch.multicast)
        values = named_values(self.arch, cost)
        if not all(values[n] <= v for n, v in (self.fixed | {self.swept: capacity}).items()):
            return False
        self.known.append(LevelPoint(full, cost, values, 0, where))
        return True

    def _bypassed(self, b: int, limits: dict) -> float:
        """Where one tensor bypasses level 1 (``simba``; reference/decompose.py's
        :class:`Bypass`, docs/hierarchy.md "Bypass at level 1"): the exact least DRAM traffic
        (``b = 0``) and then traffic into level 1, and floors of the group's levels and the
        level below them, each valid once the earlier stages sit at the values in ``limits``
        (-inf where they do not: a floor for other limits is not one). The best mapping built
        from its candidates, re-costed in integers, joins the known points once per capacity
        (it attains these floors where the stages end without a solve). -inf where it does
        not apply, declines or runs past the capacity's time."""
        from ..reference.decompose import Bypass, bypass_applies

        if self.factors != "perfect":
            return -math.inf
        if not hasattr(self, "_bypass_stage"):
            self._bypass_stage = (Bypass(self.problem, self.arch)
                            if bypass_applies(self.problem, self.arch) is None else None)
        bp = self._bypass_stage
        first = self.arch.on_chip[0]
        cap = limits.get(f"occupancy:{first.name}", self.fixed.get(f"occupancy:{first.name}"))
        if bp is None or cap is None:
            return -math.inf
        solved = bp.least(int(min(cap, 2**62)), deadline=self._deadline)
        if solved is None:
            return -math.inf
        if b == 0:
            self._bypass_points(solved, limits)
            return solved.dram
        names = [lv.name for lv in self.arch.on_chip]
        if limits.get("dram") != solved.dram:
            return -math.inf
        if b == 1:
            return solved.first
        if limits.get(f"accesses:{names[0]}") != solved.first:
            return -math.inf
        done = {lv: limits[f"accesses:{names[lv - 1]}"] for lv in bp.group
                if f"accesses:{names[lv - 1]}" in limits}
        if b in bp.group:
            return bp.floor(solved, b, done)
        if bp.deep is not None and b == bp.deep[0] and len(done) == len(bp.group):
            return bp.deep_floor(solved, done)
        return -math.inf

    def _bypass_points(self, solved, limits: dict) -> None:
        """The lexicographically least of the mappings :class:`Bypass` builds from its
        candidates (each re-costed and checked), a known point if it fits the limits (once
        per answer)."""
        seen = self.__dict__.setdefault("_bypass_seen", set())
        if id(solved) in seen:
            return
        seen.add(id(solved))
        full = self.fixed | limits
        built = self._bypass_stage.built(solved)
        if not built:
            return
        best = min(built, key=lambda e: e[2].key)
        values = named_values(self.arch, best[2])
        if all(values[n] <= v for n, v in full.items()):
            self.known.append(LevelPoint(best[0], best[2], values, 0, best[1]))

    def _decomposed(self, limits: dict, floor: float) -> float:
        """The least traffic into level 2 given the backing store's least (``limits["dram"]``),
        by decomposition at level 2's fanout (reference/decompose.py; docs/hierarchy.md, "The
        inner stage by decomposition"); its mapping, re-costed in integers, joins the known
        points, so the stage ends on it without a solve (and, where level 3's stage is exact
        too, the mapping with level 3 mirroring level 2, and that stage's value for
        :meth:`floor`). Skipped (-inf) where a known point already attains ``floor``, or the
        decomposition does not apply, declines or runs past the capacity's time (the MILP then
        answers as without it, its clock already spent)."""
        from ..reference.decompose import Stage, applies

        first, second = self.arch.on_chip[0], self.arch.on_chip[1]
        cap = limits.get(f"occupancy:{first.name}", self.fixed.get(f"occupancy:{first.name}"))
        if self.factors != "perfect" or "dram" not in limits or cap is None:
            return -math.inf
        if not hasattr(self, "_stage"):
            self._stage = Stage(self.problem, self.arch) if applies(
                self.problem, self.arch) is None else None
        if self._stage is None:
            return -math.inf
        name = f"accesses:{second.name}"
        full = self.fixed | limits
        if any(p.values[name] <= floor and all(p.values[n] <= v for n, v in full.items())
               for p in self.known):
            return -math.inf
        inner = self._stage.least(int(min(cap, 2**62)), int(limits["dram"]), floor,
                                  self._deadline)
        if inner is None:  # declined, out of time, or no mapping (the MILP will say so)
            pending = self.__dict__.pop("_seed_pending", None)
            if pending is not None:
                self._uniform(pending)  # the MILP's seed, waited for (_seed_later)
            return -math.inf
        for mirror in (False, True) if self._stage.next_exact else (False,):
            nest, copies, cost = self._stage.verified(inner, mirror)
            values = named_values(self.arch, cost)
            if not all(values[n] <= v for n, v in full.items()):
                raise SolverError(f"the decomposed stage's mapping "
                                  f"{nest.describe(self.problem, copies)} breaks the limits "
                                  f"{full}: {values}")
            self.known.append(LevelPoint(nest, cost, values, 0, copies))
        if self._stage.next_exact:
            key = (limits["dram"], inner.value, limits.get(self.swept))
            self.__dict__.setdefault("_next_floor", {})[key] = inner.value + inner.mirrored
        return inner.value

    def joint(self, capacity: float = math.inf, least_occupancy: bool = True,
              deadline: float | None = None) -> LevelPoint | None:
        self.start_clock(deadline)
        deadline = self._deadline
        self._extend(capacity)
        self._seed_pending = None
        # the relaxed point (:meth:`_relaxed_candidate`) is a better seed than the uniform one
        # (it attains every floor :meth:`_relaxed_floor` gives): seeds never prove, so
        # skipping the uniform solve changes no answer
        if self.swept and self._relaxed_candidate(capacity):
            pass
        elif self.seed_uniform and not (
                self.swept and self.decompose
                and math.isfinite(self._bypassed(0, {self.swept: capacity}))):
            if self._seed_later(capacity):
                self._seed_pending = capacity
            else:
                self._uniform(capacity)
        return super().joint(capacity, least_occupancy, deadline)

    def _seed_later(self, capacity: float) -> bool:
        """Whether the uniform seed waits until the fanout stage's decomposition declines
        (:meth:`_decomposed` runs it then): on a problem with sliding windows (convs) where
        the decomposition applies and the constructed DRAM candidate attains the backing
        store's floor, every stage ends without a solve (the floor's candidate, the
        decomposition's mapping, its mirror), in 0.1-4 s on ResNet-50's layers on ``a100``,
        where the uniform MILP took 10-26 s per capacity only to supply candidates
        (docs/hierarchy.md, "Strided windows"). Only a speed choice: seeds never prove."""
        from ..reference.decompose import Stage, applies

        p = self.problem
        if (not self.decompose or self.factors != "perfect" or self.swept is None
                or all(a.is_plain for T in p.tensors for a in T.axes)):
            return False
        floor = self._one_buffer_floor({self.swept: capacity})
        if not any(pt.values["dram"] <= floor and pt.values[self.swept] <= capacity
                   for pt in self.known):
            return False
        if not hasattr(self, "_stage"):
            self._stage = Stage(p, self.arch) if applies(p, self.arch) is None else None
        return self._stage is not None

    def _extend(self, capacity: float) -> None:
        """A candidate attaining the backing store's floor where it applies: the one-buffer
        per-tensor mapping of the outermost level at ``capacity`` (its copies, a boundary of
        whole tiles first), every inner level's copies right below it at tiles of one word
        (as many words as tensors they keep). Kept (re-costed) if it fits every level."""
        if (self.swept is None or not self._first_holds_all()
                or self._one_buffer_floor({self.swept: capacity}) == -math.inf):
            return
        fit = [n for n, c in self._per_tensor_curve() if c.occupancy <= capacity]
        if not fit:
            return
        one = fit[-1]
        p, ranks = self.problem, list(self.problem.ranks)
        whole = tuple((d, p.size[d]) for d in ranks)
        levels = (whole, *one.levels, tuple((d, 1) for d in ranks))
        orders = ((), *one.orders, tuple(ranks))
        storage, where = [], []
        for T in p.tensors:
            b = dict(one.storage)[T.name]
            for lv in self.stored[p.tensors.index(T)]:
                storage.append((T.name, b + 1 if lv == 1 else len(levels)))
                where.append(lv)
        nest = Nest(levels, orders, tuple(storage))
        copies = Copies(tuple(where), tuple(lv.name for lv in self.arch.on_chip))
        cost = evaluate_levels(p, nest, copies, multicast=self.arch.multicast)
        values = named_values(self.arch, cost)
        if all(values[n] <= v for n, v in (self.fixed | {self.swept: capacity}).items()):
            self.known.append(LevelPoint(nest, cost, values, 0, copies))

    def _mirror(self, point: LevelPoint, b: int) -> None:
        """A candidate for the stage of level ``b`` (without fanout): ``point`` with every copy
        of level ``b`` moved up to its tensor's copy of level ``b - 1``, which it then mirrors
        (same fills, so the traffic into ``b`` of those tensors is that into ``b - 1``: often
        the monotone floor). Copies stay ordered and on the right side of every fanout.
        Kept (re-costed) only if it fits the fixed capacities."""
        if self.arch.fanouts[b - 1] != 1 or point.copies is None:
            return
        nest, copies = point.nest, point.copies
        at = {(name, lv): bd for (name, bd), lv in zip(nest.storage, copies.level)}
        storage = tuple((name, at.get((name, b - 1), bd) if lv == b else bd)
                        for (name, bd), lv in zip(nest.storage, copies.level))
        if storage == nest.storage:
            return
        mirror = Nest(nest.levels, nest.orders, storage, nest.spatial)
        cost = evaluate_levels(self.problem, mirror, copies, multicast=self.arch.multicast)
        values = named_values(self.arch, cost)
        if all(values[n] <= v for n, v in self.fixed.items()):
            self.known.append(LevelPoint(mirror, cost, values, point.cls, copies))

    def _uniform(self, capacity: float) -> None:
        """The uniform joint bound's point at ``capacity`` (levels.py's MILP, usually fast), as
        a per-tensor nest: uniform placement is per-tensor placement, so it bounds every stage
        from above (a cut-off for each solve) and often attains a floor. It gets
        :attr:`seed_seconds`, or half the capacity's time limit; cut short, its
        best verified mapping is the candidate (none: no candidate). Nothing it answers is
        reported as proven: it only supplies mappings. With :attr:`uniform_points` (the
        uniform bound already solved, ``solve_pair``) the least of them that fits instead."""
        if self.uniform_points is not None:
            fit = [p for p in self.uniform_points
                   if self.swept is None or p.values[self.swept] <= capacity
                   and all(p.values[n] <= v for n, v in self.fixed.items())]
            point = min(fit, key=lambda p: p.cost.key, default=None)
        else:
            if not hasattr(self, "_uniform_solver"):
                budget = self.seed_seconds if self.time_limit is None else self.time_limit / 2
                self._uniform_solver = LevelSolver(self.problem, self.arch, self.solver,
                                                   self.threads, budget, self.factors)
            point = self._uniform_solver.joint(capacity, least_occupancy=False)
        if point is None or point.nest is None:  # (cut by the time limit before any point)
            return
        names = tuple(lv.name for lv in self.arch.on_chip)
        fan = tuple(lv if f > 1 else 0 for lv, f in enumerate(self.arch.fanouts, start=1))
        copies = Copies(tuple(bd for _, bd in point.nest.storage), names,
                        fan if point.nest.spatial else None)
        cost = evaluate_levels(self.problem, point.nest, copies, multicast=self.arch.multicast)
        if cost != point.cost:
            raise SolverError(f"the uniform point {point.nest.describe(self.problem)} costs "
                              f"{cost} as a per-tensor nest, {point.cost} as a uniform one")
        self.known.append(LevelPoint(point.nest, cost, point.values, 0, copies))

    def minimise(self, objective: str, limits: dict, floor: float = -math.inf
                 ) -> LevelPoint | None:
        if math.isfinite(floor):
            full = self.fixed | limits
            hit = [p for p in self.known if p.values[objective] <= floor
                   and all(p.values[n] <= v for n, v in full.items())]
            if hit:
                return hit[0]
            # Ask for a point at the DRAM floor only where a candidate of the floor's
            # construction exists (level 1 holding every tensor first): the bypass floor and
            # every tensor moved once are often far below the optimum, and proving no point
            # attains them took HiGHS longer than optimising (conv2_x on simba: no answer in
            # 58 s at 8 KB, where optimising found a mapping).
            # Inner floors are seldom attained, and proving that costs more than optimising
            # saves (measured: GEMM 16^3, L1 = 64: 44 s vs 29 s).
            if objective == "dram" and self._first_holds_all():
                try:
                    point = self._feasible(full | {objective: min(floor, full.get(objective,
                                                                                   math.inf))})
                except OutOfTime:
                    raise OutOfTime(objective, floor, None) from None
                if point is not None:
                    return point
        return super().minimise(objective, limits, floor)

    def _feasible(self, limits: dict) -> LevelPoint | None:
        """Any verified point meeting ``limits`` (None: none exists), cutting off solutions
        that meet a limit only within the solver's tolerances."""
        from ..milp.tracer import MAX_CUTS
        from ..model.results import Status

        cuts: list = []
        for _ in range(MAX_CUTS):
            out = self._run(0, None, limits, cuts)
            if out.status is Status.INFEASIBLE:
                return None
            if out.status is Status.TIME_LIMIT and out.x is None:
                raise OutOfTime("any point", -math.inf, None)
            if out.status is not Status.OPTIMAL or out.x is None:
                raise SolverError(f"{self.solver} gave no answer ({out.status.value}) to "
                                  f"{self._question(0, 'any point', limits)}")
            point, exact, formula = self._costed(0, out.x)
            if any(exact[n] > formula[n] for n in formula):
                raise SolverError(f"the {self._describe(point)} costs {exact} under the cost "
                                  f"model, above its formula {formula}; refusing to report it")
            over = [n for n, v in limits.items() if formula[n] > v]
            if over:
                cuts.append(self.form(0).no_good(over[0], out.x))
                continue
            self.known.append(point)
            return point
        raise SolverError(f"{self.solver} kept returning points that break the limits of "
                          f"{self._question(0, 'any point', limits)} after {MAX_CUTS} cuts")

    def _costed(self, c: int, x) -> tuple:
        form = self.form(c)
        nest, copies, chosen = form.decode(x)
        check_level_tiles(self.problem, nest, self.factors)  # in the stated mapspace
        cost = evaluate_levels(self.problem, nest, copies, multicast=self.arch.multicast)
        exact = named_values(self.arch, cost)
        return LevelPoint(nest, cost, exact, c, copies), exact, form.value(nest, chosen)

    def _describe(self, point: LevelPoint) -> str:
        return f"nest {point.nest.describe(self.problem, point.copies)}"

    def _question(self, c: int, objective: str, limits: dict) -> str:
        return (f"{self._problem_words()} on {self.arch.name}, per-tensor placement; least "
                f"{objective} with {self._limit_words(limits, limits)}")


def frame(problem: Einsum, arch: Arch, points: list[tuple],
          capacities: list[int] | None = None, seconds: float = 0.0,
          method: str = "enumeration", solver: str | None = None,
          limited: dict | None = None) -> pd.DataFrame:
    """Rows in words: ``occupancy`` (the swept level's), ``accesses`` (the backing store's),
    ``occupancy_<level>`` and ``accesses_<level>`` (into that level from its parent) for every
    on-chip level, and the mapping as a readable multi-level nest. ``limited``: capacity ->
    the time-limit point answering it (:func:`limited_row`)."""
    swept = arch.swept_index
    limited = limited or {}

    def row(nest: Nest, cost: LevelCost, copies: Copies | None = None) -> dict:
        return level_row(problem, arch, nest, cost, copies, status="optimal",
                         op_intensity=op_intensity(problem, cost.dram))

    if capacities is None:
        rows = [row(*p) for p in points]
    else:
        rows = []
        for cap in capacities:
            if cap in limited:
                rows.append({"capacity": cap} | limited_row(problem, arch, limited[cap]))
                continue
            # the least key among the points that fit (on a staircase: the last of them)
            fit = [p for p in points if swept is None or p[1].occupancy[swept] <= cap]
            best = min(fit, key=lambda p: (p[1].key, -p[1].occupancy[swept] if swept is not None
                                           else 0), default=None)
            rows.append({"capacity": cap} | (row(*best) if best else {"status": "infeasible"}))
    df = pd.DataFrame(rows)
    for c in df.columns:
        if c == "capacity" or c.startswith(("occupancy", "accesses")):
            df[c] = df[c].astype("Int64")
    df.attrs |= {"problem": str(problem), "name": problem.name, "unit": "words",
                 "arch": arch.name, "levels": [lv.name for lv in arch.levels],
                 "method": method, "seconds": seconds,
                 "objective": "lexicographic: backing-store traffic, then each level inwards"}
    if solver is not None:
        df.attrs["solver"] = solver
    return df



def column(objective: str) -> str:
    """The row column of a solver objective: ``dram`` -> ``accesses``, ``accesses:L1`` ->
    ``accesses_L1``."""
    return "accesses" if objective == "dram" else objective.replace(":", "_")


def limited_row(problem: Einsum, arch: Arch, point: LevelPoint) -> dict:
    """A capacity whose solve a time limit cut: status ``time_limit``, ``bound_of`` the column
    whose least value was being proven (every column of the key before it is proven exact),
    ``best_bound`` a proven lower bound on it, and the incumbent's columns (empty: none)."""
    objective, bound = point.bound
    row = {"status": Status.TIME_LIMIT.value, "bound_of": column(objective),
           "best_bound": float(bound)}
    if point.nest is None:
        return row
    incumbent = level_row(problem, arch, point.nest, point.cost, point.copies,
                          op_intensity=op_intensity(problem, point.cost.dram))
    return incumbent | row | {"incumbent": int(point.values[objective])}


AUTO_PER_TENSOR = 200_000  # per-tensor search nodes "auto" enumerates before taking the MILP

# The mapspace of a hierarchy's bound when the caller names none (the one place that says so):
# per-tensor placement within every level, AccelForge's, whose mappings beat the uniform
# (Timeloop) bound (docs/hierarchy.md), so uniform as a default would not bound them.
DEFAULT_MAPSPACE = Mapspace("per_tensor", "perfect")
# Seconds per capacity the per-tensor MILP gets where "auto" takes it and the caller gives no
# time limit (None): levelnest and the depth-first enumerator have bounded work, the MILP has
# none (a four-level GEMM 64^3 ran 14 minutes on one capacity), so unlimited it could run for
# hours unannounced. A capacity it cuts is a ``time_limit`` row with its proven bound; a
# frontier walk it cuts raises ProofOutOfReach. ``time_limit=math.inf`` waits for every proof.
DEFAULT_TIME_LIMIT = 60.0
DEFAULT_WALK_LIMIT = 600.0  # seconds for a whole frontier walk under the default limit


def per_tensor_nodes_floor(problem: Einsum, arch: Arch, imperfect: bool = False,
                           enough: int | None = None) -> int:
    """A lower bound on the search nodes :func:`per_tensor_points` visits, in microseconds, so
    that "auto" takes the MILP at once where the enumerator would only spend its
    :data:`AUTO_PER_TENSOR` nodes (6-25 s) before refusing (ResNet-50's strided convs on
    ``a100``/``h100``: the 3x3 ones by the first boundary alone, floors of 0.8-9.5 million;
    the 1x1 downsamples of conv4_x/conv5_x, 0.17 and 0.10 million there, by the second). Past
    the budget the route is the same as after that refusal, so no result changes; 0 where it
    does not apply (no fanout). ``enough``: stop counting once the floor is past it.

    The first boundary's nodes (:func:`_first_boundary_nodes`) plus, with perfect factors,
    those of the second boundary below first-boundary nodes that no cut can prune
    (:func:`_second_boundary_nodes`)."""
    first = _first_boundary_nodes(problem, arch)
    if not first or imperfect or (enough is not None and first > enough):
        return first
    return first + _second_boundary_nodes(problem, arch, None if enough is None
                                          else enough - first)


def _first_boundary_nodes(problem: Einsum, arch: Arch) -> int:
    """The nodes at the first boundary, all visited (no staircase point exists yet to
    prune them): with fanout the search takes every order of the looping ranks (rule 4 is
    dropped), so each first tile with k looping ranks (``divisors``: with imperfect factors a
    rank's first tiles are more) gives k! nodes per set of copies stored there; counted are the
    non-empty sets whose copies all sit at levels above the first fanout with no fixed
    capacity (never cut). The polynomial prod_d (1 + (D_d - 1) x) sums the tiles by k."""
    fanned = [lv for lv, f in enumerate(arch.fanouts, start=1) if f > 1]
    levels = arch.on_chip
    if not fanned or any(not any(levels[lv - 1].keeps_tensor(problem, T)
                                 for T in problem.tensors) for lv in fanned):
        return 0  # no fanout (orders deduplicated), or the enumerator's own refusal
    stored = 1
    for T in problem.tensors:
        keeps = [lv for lv, level in enumerate(levels, start=1) if level.keeps_tensor(problem, T)]
        free = 0
        while (free < len(keeps) and keeps[free] < fanned[0]
               and levels[keeps[free] - 1].capacity is None):
            free += 1
        stored *= free + 1
    live = {d for T in problem.tensors for d in T.ranks}
    by_k = [1]  # first tiles by their number of looping ranks
    for d in problem.ranks:
        k = len(divisors(problem.size[d])) - 1 if d in live else 0
        by_k = [a + k * b for a, b in zip(by_k + [0], [0] + by_k)]
    return (stored - 1) * sum(n * math.factorial(k) for k, n in enumerate(by_k))


def _second_boundary_nodes(problem: Einsum, arch: Arch, enough: int | None = None) -> int:
    """Nodes at the second boundary that :func:`per_tensor_points` surely visits (perfect
    factors), on a hierarchy whose first on-chip level is the swept one, one instance
    without fanout and without a fixed capacity, keeping every tensor, with the first fanout
    right below it (``a100``, ``h100``); 0 elsewhere.

    A first-boundary node stores a non-empty set H of the tensors' first-level copies under a
    tile t and an order. Where some copy is left (U, the other tensors, non-empty), the
    search goes on at the second boundary unless ``hopeless`` cuts it there, comparing with
    the staircase so far: its occupancy of the first level at least x = sum_{T in H}
    |T(t)| + |U| (a word per copy left) and its key at least (D, ...), D the backing store's
    traffic to H's copies plus ``touched`` for each tensor in U. Every leaf at occupancy
    x' <= x moves at least the one-buffer per-tensor staircase's least traffic at x from the
    backing store (its first-level copies are such a mapping: the argument of
    ``PlacementSolver._one_buffer_floor``), so where an upper bound on D over the orders is
    below that, no staircase point cuts the node (its key is lexicographically larger).
    Upper bounds on a copy's fills: its tensor times the trips of the looping ranks it lacks
    (plain axes), else its footprint times every looping rank's trips; the output's traffic
    is 2m - |Z|.

    Below such a node the second boundary has no cut: the tile s divides t, ranks S looping
    (s_d < t_d, S non-empty, each used by a tensor with a copy left), with |S|! orders and a
    non-empty set of the copies left in U whose tensor has a rank in S (rule 2; the first level has no capacity to cut, and no
    fanout is placed before every first-level copy is). Summed over tiles s by the sets S:
    prod_{d in S} (D(t_d) - 1) |S|! (2^{#U meeting S} - 1)."""
    from ..model.lower import touched_in
    from ..reference.fastnest import staircase

    levels = arch.on_chip
    fanned = [lv for lv, f in enumerate(arch.fanouts, start=1) if f > 1]
    tensors = problem.tensors
    first = levels[0]
    if (not fanned or fanned[0] != 2 or arch.swept_index != 0 or first.capacity is not None
            or first.instances != 1 or arch.fanouts[0] != 1
            or not all(first.keeps_tensor(problem, T) for T in tensors)):
        return 0
    try:
        stair = staircase(problem, "per_tensor/perfect")
    except BoundsolverError as err:  # a floor only saves a futile attempt: never fail for it
        log.debug("no second-boundary floor for %s: %s", problem, err)
        return 0
    if stair is None:
        return 0
    occs, accs = [int(v) for v in stair.occ], [int(v) for v in stair.acc]
    size = dict(problem.size)
    ranks = [d for d in problem.ranks if any(d in T.ranks for T in tensors)]
    n = len(tensors)
    least = [touched_in(T, size) for T in tensors]
    whole = [problem.tensor_size(T) for T in tensors]
    uses = [frozenset(T.ranks) for T in tensors]
    plain = [all(a.is_plain for a in T.axes) for T in tensors]
    out = next(i for i, T in enumerate(tensors) if T is problem.output)
    more = [any(lv.keeps_tensor(problem, T) for lv in levels[1:]) for T in tensors]
    below: dict[tuple, int] = {}

    def second(counts: tuple[int, ...], left: frozenset) -> int:
        """Second-boundary nodes below one first-boundary node (tile divisor counts)."""
        key = (counts, left)
        if key not in below:
            total = 0
            for k in range(1, len(ranks) + 1):
                for S in combinations(range(len(ranks)), k):
                    ways = math.prod(counts[i] - 1 for i in S)
                    if ways:
                        met = sum(1 for t in left if uses[t] & {ranks[i] for i in S})
                        total += ways * math.factorial(k) * (2 ** met - 1)
            below[key] = total
        return below[key]

    found = 0
    for combo in product(*(divisors(size[d]) for d in ranks)):
        tile = dict(zip(ranks, combo))
        trips = {d: size[d] // tile[d] for d in ranks}
        looping = [d for d in ranks if trips[d] > 1]
        foot = [T.footprint(tile) for T in tensors]
        fills = []
        for t in range(n):
            if plain[t]:
                m = whole[t] * math.prod(trips[d] for d in looping if d not in uses[t]) \
                    if any(d in uses[t] for d in looping) else whole[t]
            else:
                m = foot[t] * math.prod(trips.values())
            fills.append(2 * m - whole[t] if t == out else m)
        orders = math.factorial(len(looping))
        ndiv = [len(divisors(tile[d])) for d in ranks]
        for held in range(1, 2 ** n - 1):  # H non-empty, U non-empty
            x = sum(foot[t] if held >> t & 1 else 1 for t in range(n))
            dram = sum(fills[t] if held >> t & 1 else least[t] for t in range(n))
            i = bisect_right(occs, x)
            if i and accs[i - 1] <= dram:
                continue  # a staircase point might cut it
            left = frozenset(t for t in range(n) if not held >> t & 1)
            live = set().union(*(uses[t] for t in range(n) if t in left or more[t]))
            counts = tuple(c if d in live else 1 for c, d in zip(ndiv, ranks))
            found += orders * second(counts, left)
            if enough is not None and found > enough:
                return found
    return found


def hierarchy_mapspace(mapspace: Mapspace | str | None) -> Mapspace:
    """The mapspace a hierarchy's bound ranges over: the one named, else
    :data:`DEFAULT_MAPSPACE` (per-tensor placement)."""
    return DEFAULT_MAPSPACE if mapspace is None else mapspace_of(mapspace)


def solve(problem: Einsum, arch: Arch, capacities: list[int] | None = None,
          limit: int | None = None, method: str | None = None, solver: str = "highs",
          placement: str | None = None, time_limit: float | None = None,
          factors: str = "perfect") -> pd.DataFrame:
    """The joint frontier (``capacities=None``) or its value at each capacity of the swept level.

    ``factors="imperfect"``: each rank's outermost split may leave a partial last tile
    (docs/hierarchy.md, "Imperfect factors"), in every method.

    ``placement``: None is :data:`DEFAULT_MAPSPACE`'s (per-tensor).

    ``time_limit``: seconds per capacity for the MILP (so "auto" with a time limit is the
    MILP, as for one Einsum, except that per-tensor placement first takes levelnest.py's
    exact enumerator where it applies, whose work is bounded); a capacity it cuts gives a ``time_limit`` row
    (:func:`limited_row`). Refused for the frontier, whose walk needs every point proven, and
    for enumeration. None: none, except where "auto" takes the per-tensor MILP (the
    enumerators declined): :data:`DEFAULT_TIME_LIMIT` per capacity, and on the frontier each
    point proven within it and the walk within :data:`DEFAULT_WALK_LIMIT`, else
    :class:`ProofOutOfReach` (:func:`proven_walk`). ``math.inf``: no limit anywhere; an
    explicit ``method="milp"`` without a limit runs to the end too (the caller chose it).

    ``method``: "enumerate" (this module), "milp" (levels.py) or "auto" (the default:
    enumeration where it evaluates at most ``limit`` nests, else the MILP).
    ``placement="per_tensor"``: each copy at its own boundary within its level, enumerated
    (:func:`per_tensor_points`) or by placement.py's MILP (:class:`PlacementSolver`); "auto"
    takes the vectorised enumerator (levelnest.py) where it applies (plain and sliding axes,
    fanout with perfect factors, bounded work), else enumerates where that takes at most
    ``AUTO_PER_TENSOR`` search nodes (a few seconds; not tried where
    :func:`per_tensor_nodes_floor` already exceeds them), else solves the MILP."""
    method = check_method(method)
    placement = DEFAULT_MAPSPACE.placement if placement is None else placement
    auto = method == "auto"  # the route chosen here: the default limit guards it
    unlimited = time_limit == math.inf
    time_limit = None if unlimited else time_limit
    if placement not in PLACEMENTS:
        raise ArchError(f"placement must be one of {', '.join(PLACEMENTS)}, got {placement!r}")
    if factors not in ("perfect", "imperfect"):
        raise BoundsolverError(f"factors must be 'perfect' or 'imperfect', got {factors!r}")
    imperfect = factors == "imperfect"
    space = f"{placement}/{factors}"
    check(problem, arch)
    if time_limit is not None:
        _check_time_limit(time_limit, capacities, method)
        if not (placement == "per_tensor" and method == "auto"):
            method = "milp"  # as for one Einsum: a time limit asks for the MILP
    if placement == "per_tensor":
        if method == "auto":
            began = time.perf_counter()
            # the vectorised enumerator (levelnest.py) where it applies, in milliseconds to
            # seconds (its work is bounded): exact, so it answers within a time limit too
            points = levelnest.frontier(problem, arch, imperfect)
            if points is not None:
                df = frame(problem, arch, points, capacities, time.perf_counter() - began)
                df.attrs["mapspace"] = space
                return df
            if time_limit is not None:
                method = "milp"
        if method == "auto":
            budget = AUTO_PER_TENSOR if limit is None else limit
            points = None  # the MILP where the enumerator surely refuses, or refused
            if per_tensor_nodes_floor(problem, arch, imperfect, budget) <= budget:
                try:
                    began = time.perf_counter()
                    points = per_tensor_points(problem, arch, budget, imperfect)
                except EnumerationTooLarge:
                    pass
            if points is None:
                method = "milp"
            else:
                df = frame(problem, arch, points, capacities, time.perf_counter() - began)
                df.attrs["mapspace"] = space
                return df
        if method == "milp":
            began = time.perf_counter()
            default = auto and time_limit is None and not unlimited
            ls = PlacementSolver(problem, arch, solver, factors=factors,
                                 time_limit=DEFAULT_TIME_LIMIT if default else time_limit)
            if default and capacities is None:
                found = proven_walk(ls, DEFAULT_TIME_LIMIT, DEFAULT_WALK_LIMIT)
                limited = {}
            else:
                found, limited = milp_points(ls, capacities)
            points = [(p.nest, p.cost, p.copies) for p in found]
            df = frame(problem, arch, points, capacities, time.perf_counter() - began, "milp",
                       ls.solver, limited)
            df.attrs["mapspace"] = space
            return df
        began = time.perf_counter()
        points = per_tensor_points(problem, arch, PER_TENSOR_LIMIT if limit is None else limit,
                                   imperfect)
        df = frame(problem, arch, points, capacities, time.perf_counter() - began)
        df.attrs["mapspace"] = space
        return df
    limit = LIMIT if limit is None else limit
    if method == "auto":
        method = "enumerate" if work(problem, arch, limit, imperfect) <= limit else "milp"
    began = time.perf_counter()
    if method == "enumerate":
        points = frontier_points(problem, arch, limit, imperfect)
        df = frame(problem, arch, points, capacities, time.perf_counter() - began)
    else:
        ls = LevelSolver(problem, arch, solver, time_limit=time_limit, factors=factors)
        found, limited = milp_points(ls, capacities)
        points = [(p.nest, p.cost) for p in found]
        df = frame(problem, arch, points, capacities, time.perf_counter() - began, "milp",
                   ls.solver, limited)
    df.attrs["mapspace"] = space
    return df


def proven_walk(ls: LevelSolver, seconds: float, total: float | None = None
                ) -> list[LevelPoint]:
    """``ls.walk()`` (``ls`` built with ``time_limit=seconds``) with every point's key proven
    within ``seconds`` and the whole walk within ``total``: the next capacity is the last
    point's occupancy less one, so an unproven point can be neither skipped nor reported; it
    raises :class:`ProofOutOfReach`, naming the capacity and the stage left open, instead of
    running unannounced for hours.

    A point's least occupancy is tried in the time left (:func:`_least_occupancy`); where it
    is cut the walk goes on from the mapping found, which attains the proven key: the next
    solve then finds the same key at a smaller occupancy (and replaces the point) or a
    different one, which proves that no mapping of the key fits below, so the last point of
    each key has its least occupancy, as in :func:`milp_points`."""
    end = None if total is None else time.perf_counter() + total
    found: list[LevelPoint] = []
    capacity = math.inf
    while True:
        deadline = time.perf_counter() + seconds
        if end is not None:
            if time.perf_counter() >= end:
                raise _out_of_reach(ls, capacity, total, "the walk", points=len(found))
            deadline = min(deadline, end)
        point = ls.joint(capacity, least_occupancy=False, deadline=deadline)
        if point is None:
            break
        if point.status != Status.OPTIMAL.value:
            raise _out_of_reach(ls, capacity, seconds, point.bound[0], point)
        point = _least_occupancy(ls, capacity, point)
        if found and found[-1].cost.key == point.cost.key:
            found[-1] = point  # the same key at a smaller occupancy
        else:
            found.append(point)
        if ls.swept is None:
            break
        capacity = point.values[ls.swept] - 1
    return found[::-1]


def _least_occupancy(ls: LevelSolver, capacity: float, point: LevelPoint) -> LevelPoint:
    """The point of least swept occupancy attaining ``point``'s proven key, within the
    capacity's time left; cut, the best mapping met (any attains the key: its values are at
    most the proven minima)."""
    if ls.swept is None:
        return point
    limits = {ls.swept: capacity} | {n: point.values[n] for n in ls.key}
    try:
        best = ls.minimise(ls.swept, limits, ls.occupancy_floor(limits))
    except OutOfTime as stop:
        best = stop.incumbent
    if best is None or best.values[ls.swept] >= point.values[ls.swept]:
        return point
    return best


def _out_of_reach(ls: LevelSolver, capacity: float, seconds: float, objective: str,
                  point: LevelPoint | None = None, points: int | None = None) -> ProofOutOfReach:
    level = ls.swept.split(":")[1] if ls.swept else "the"
    where = "unbounded" if capacity == math.inf else f"{int(capacity):,} words"
    if points is not None:  # the walk's whole time
        return ProofOutOfReach(
            f"{ls.problem} on {ls.arch.name}, {ls.placement}/{ls.factors}: the frontier walk "
            f"proved {points} points in {seconds:g} s and stopped at {level} capacity {where}. "
            + _ASK)
    proven = ""
    if point is not None and point.nest is not None:
        done = ls.key[:ls.key.index(objective)] if objective in ls.key else []
        proven = "".join(f"; {column(n)} proven {point.values[n]:,}" for n in done)
        proven += (f"; {column(objective)} in [{math.ceil(point.bound[1]):,}, "
                   f"{point.values[objective]:,}]")
    return ProofOutOfReach(
        f"{ls.problem} on {ls.arch.name}, {ls.placement}/{ls.factors}: the frontier point at "
        f"{level} capacity {where} was not proven within {seconds:g} s ({column(objective)} "
        f"left open{proven}). " + _ASK)


_ASK = ("Ask solve_curve(problem, capacities, arch=...) for the bound at chosen capacities (a "
        "capacity not proven in time is a 'time_limit' row with a proven lower bound and the "
        "best mapping found; time_limit=S sets its seconds), pass time_limit=math.inf to wait "
        "for every proof, or mapspace='uniform/perfect' for Timeloop's mapspace (uniform "
        "placement within each level)")


def solve_pair(problem: Einsum, arch: Arch, capacities: list[int],
               time_limit: float | None = None, solver: str = "highs"
               ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The bound at ``capacities`` over uniform placement (to the end) and over per-tensor
    placement (``time_limit`` seconds per capacity), the same tables as :func:`solve` gives for
    each (``placement="uniform"``, and ``"per_tensor"`` with the time limit), perfect factors,
    computed sharing work between the two. Per-tensor placement contains uniform placement, so:

    * where levelnest.py answers per-tensor placement (exact, seconds), its keys floor every
      stage of the uniform MILP (:meth:`LevelSolver.key_floor`): where the two bounds agree,
      a stage ends at the first point attaining its floor (on ``simba``'s GEMM 4096³ they
      agree at every size);
    * otherwise the uniform MILP runs first and its proven points are the per-tensor MILP's
      seeds (:attr:`PlacementSolver.uniform_points`), which it would otherwise solve again
      at every capacity (on ``a100``, 13.5 of its 16 CPU seconds).

    Small problems, which :func:`solve` enumerates, are solved by it, one after the other."""
    check(problem, arch)
    if time_limit is not None:
        _check_time_limit(time_limit, capacities, "auto")

    def alone() -> pd.DataFrame:
        return solve(problem, arch, capacities, solver=solver, placement="per_tensor",
                     time_limit=time_limit)

    if work(problem, arch, LIMIT, False) <= LIMIT:
        return solve(problem, arch, capacities, solver=solver, placement="uniform"), alone()
    began = time.perf_counter()
    points = levelnest.frontier(problem, arch, False)
    uniform = LevelSolver(problem, arch, solver)
    if points is not None:
        pt = frame(problem, arch, points, capacities, time.perf_counter() - began)
        pt.attrs["mapspace"] = "per_tensor/perfect"
        uniform.lower_keys = _lower_keys(pt, arch)
        return _milp_frame(uniform, capacities), pt
    out = _milp_frame(uniform, capacities)
    if time_limit is None:  # solve() enumerates first where that is small: its route
        return out, alone()
    began = time.perf_counter()
    ps = PlacementSolver(problem, arch, solver, time_limit=time_limit)
    ps.uniform_points = list(uniform.known)
    found, limited = milp_points(ps, capacities)
    pt = frame(problem, arch, [(p.nest, p.cost, p.copies) for p in found], capacities,
               time.perf_counter() - began, "milp", ps.solver, limited)
    pt.attrs["mapspace"] = "per_tensor/perfect"
    return out, pt


def _milp_frame(ls: LevelSolver, capacities: list[int]) -> pd.DataFrame:
    """:func:`solve`'s uniform MILP table (every capacity to the end)."""
    began = time.perf_counter()
    found, limited = milp_points(ls, capacities)
    return frame(ls.problem, ls.arch, [(p.nest, p.cost) for p in found], capacities,
                 time.perf_counter() - began + ls.build_seconds, "milp", ls.solver, limited)


def _lower_keys(front: pd.DataFrame, arch: Arch) -> dict[int, tuple[int, ...]]:
    """capacity -> the joint key of each proven row of a table (:func:`frame`'s columns)."""
    cols = _key_columns(arch)
    return {int(r["capacity"]): tuple(int(r[c]) for c in cols)
            for _, r in front.iterrows() if r["status"] == Status.OPTIMAL.value}


def _check_time_limit(time_limit, capacities, method: str) -> None:
    if isinstance(time_limit, bool) or not (isinstance(time_limit, (int, float))
                                            and time_limit > 0 and math.isfinite(time_limit)):
        raise BoundsolverError(f"time_limit must be a positive number of seconds, got "
                               f"{time_limit!r}")
    if capacities is None:
        raise BoundsolverError("time_limit applies to a hierarchy's bound at given capacities "
                               "(solve_curve): its frontier is a walk of proven points")
    if method == "enumerate":
        raise BoundsolverError("time_limit applies to the MILP (method='milp' or 'auto'); "
                               "enumeration always runs to the end")



def milp_points(ls, capacities: list[int] | None = None) -> tuple[list, dict]:
    """The MILP's staircase points (``LevelSolver.walk``), or with ``capacities`` the points
    answering them: a point solved at capacity S with swept occupancy o answers all of [o, S]
    (the least value is non-increasing in S and the point fits every capacity from o). Its
    occupancy is not minimised (a solve per class saved), so o may lie above the staircase's.
    Also the capacities a time limit cut, each with its time-limit point (it answers only
    itself)."""
    limited: dict = {}
    if capacities is None or ls.swept is None:
        return ls.walk(), limited
    found: dict[int, object] = {}
    covered: list[tuple[int, int]] = []
    above = None  # the key at the smallest capacity solved so far
    for cap in sorted(set(capacities), reverse=True):
        if any(lo <= cap <= hi for lo, hi in covered):
            continue
        # a point met on the way that fits and attains the key above is optimal here too
        fit = [p for p in ls.known if all(p.values[n] <= v for n, v in ls.fixed.items())
               and p.values[ls.swept] <= cap]
        known = min(fit, key=lambda p: p.cost.key, default=None)
        if above is not None and known is not None and known.cost.key == above:
            found[known.values[ls.swept]] = known
            covered.append((known.values[ls.swept], cap))
            continue
        point = ls.joint(cap, least_occupancy=False)
        if point is None:
            break  # smaller capacities are infeasible too
        if point.status != Status.OPTIMAL.value:  # cut by the time limit: this capacity only
            limited[cap] = point
            continue
        occ = point.values[ls.swept]
        found[occ] = point
        covered.append((occ, cap))
        above = point.cost.key
    limited = {cap: better_incumbent(ls, cap, point) for cap, point in limited.items()}
    return [found[o] for o in sorted(found)], limited


def better_incumbent(ls, cap: float, point: LevelPoint) -> LevelPoint:
    """A time-limit point at capacity ``cap`` with the best verified mapping met at *any*
    capacity that fits it and attains its proven stages (those before ``point.bound``'s
    objective: their values are the minima, so a mapping meeting them equals them), if that
    beats its incumbent; the bound is capped at the new incumbent. Capacities are solved
    largest first, so a smaller one cut later often finds the better mapping (``a100`` at 8.2 M
    words: 69 G words into SMEM as found there, 0.96 G as found at 6.7 M)."""
    objective, bound = point.bound
    if objective not in ls.key:
        return point
    proven = ls.key[:ls.key.index(objective)]
    if point.nest is None and proven:
        return point  # the proven values are not known without a mapping
    fit = [q for q in ls.known if q.values[ls.swept] <= cap
           and all(q.values[n] <= v for n, v in ls.fixed.items())
           and all(q.values[n] == point.values[n] for n in proven)]
    best = min(fit, key=lambda q: q.values[objective], default=None)
    if best is None or (point.nest is not None
                        and best.values[objective] >= point.values[objective]):
        return point
    return LevelPoint(best.nest, best.cost, best.values, best.cls, best.copies,
                      Status.TIME_LIMIT.value, (objective, min(bound, best.values[objective])))



def solve_workload(workload, arch: Arch, capacities: list[int] | None = None,
                   method: str | None = None, solver: str = "highs",
                   placement: str | None = None, time_limit: float | None = None) -> pd.DataFrame:
    """A workload's joint bound on a hierarchy, its Einsums run one after another (unfused):
    each has every level to itself, so at a capacity the traffic across every boundary is the
    sum of the Einsums' and each level's occupancy the largest of theirs. The lexicographic
    objective survives the sum: a sum of independent terms is least in its first component only
    if every term is, and so on inwards. Without ``capacities``, the staircase of the sum over
    the union of the Einsums' breakpoints. Identical Einsums are solved once. ``placement``
    and ``time_limit`` as in :func:`solve`."""
    began = time.perf_counter()
    solved: dict = {}
    frames = []
    for e in workload.einsums:
        key = (str(e), e.sizes)
        if key not in solved:
            solved[key] = solve(e, arch, capacities, method=method, solver=solver,
                                placement=placement, time_limit=time_limit)
        frames.append(solved[key])
    names = [e.name or f"E{i}" for i, e in enumerate(workload.einsums)]
    swept = next((lv.name for lv in arch.on_chip if lv.sweep), None)
    if capacities is not None:
        rows = [_sum_rows([f.iloc[i] for f in frames], names, arch) | {"capacity": cap}
                for i, cap in enumerate(capacities)]
    else:
        xs = sorted({int(x) for f in frames for x in f["occupancy"].dropna()}) or [0]
        rows, record = [], None
        for x in xs:
            picked = [_least_at(f, x, arch) for f in frames]
            if any(p is None for p in picked):
                continue
            row = _sum_rows(picked, names, arch)
            key = tuple(row[c] for c in _key_columns(arch))
            if record is None or key < record:
                rows.append(row)
                record = key
    df = pd.DataFrame(rows)
    first = ["capacity"] if capacities is not None else []
    df = df[first + [c for c in df.columns if c not in first]]
    for c in df.columns:
        if c == "capacity" or c.startswith(("occupancy", "accesses")):
            df[c] = df[c].astype("Int64")
    df.attrs |= {"problem": workload.name or "workload", "name": workload.name, "unit": "words",
                 "arch": arch.name, "levels": [lv.name for lv in arch.levels], "fusion": False,
                 "method": frames[0].attrs.get("method") if frames else method,
                 "mapspace": frames[0].attrs.get("mapspace") if frames else None,
                 "seconds": time.perf_counter() - began, "swept": swept,
                 "objective": "lexicographic: backing-store traffic, then each level inwards; "
                              "Einsums unfused (each alone on the hierarchy)"}
    return df



def _key_columns(arch: Arch) -> list[str]:
    return ["accesses"] + [f"accesses_{lv.name}" for lv in arch.on_chip]



def _least_at(front: pd.DataFrame, x: int, arch: Arch):
    """The row of least key among a staircase's points that fit occupancy ``x``."""
    fit = front[front["occupancy"].fillna(0) <= x] if "occupancy" in front else front
    if fit.empty:
        return None
    cols = _key_columns(arch)
    return min((r for _, r in fit.iterrows()), key=lambda r: tuple(int(r[c]) for c in cols))



def _sum_limited(rows: list, names: list[str], arch: Arch) -> dict:
    """The sum where a time limit cut some Einsum: the key is proven up to the earliest stage
    any Einsum left open (``bound_of``); its bound is the sum of every Einsum's bound there
    (an exact value where that Einsum proved it); the incumbent is the sum of the incumbents,
    where every Einsum has one."""
    keys = _key_columns(arch)
    open_ = [keys.index(r["bound_of"]) for r in rows if r.get("status") == "time_limit"]
    stage = keys[min(open_)]
    bound = sum(float(r["best_bound"]) if r.get("status") == "time_limit" and
                r["bound_of"] == stage else float(r[stage]) for r in rows)
    out: dict = {"status": "time_limit", "bound_of": stage, "best_bound": bound}
    if any(pd.isna(r.get(stage)) for r in rows):
        return out
    summed = _summed(rows, names)
    return summed | out | {"incumbent": summed[stage]}


def _sum_rows(rows: list, names: list[str], arch: Arch) -> dict:
    """One row of the unfused workload from each Einsum's row at the same capacity."""
    if any(r.get("status") == "infeasible" for r in rows):
        return {"status": "infeasible"}
    if any(r.get("status") == "time_limit" for r in rows):
        return _sum_limited(rows, names, arch)
    return {"status": "optimal"} | _summed(rows, names)


def _summed(rows: list, names: list[str]) -> dict:
    """Each level's occupancy the largest of the Einsums', its traffic their sum, and every
    Einsum's mapping."""
    out: dict = {}
    occ = [c for c in rows[0].index if c.startswith("occupancy")]
    acc = [c for c in rows[0].index if c.startswith("accesses")]
    for c in occ:
        values = [r[c] for r in rows if pd.notna(r[c])]
        out[c] = max(int(v) for v in values) if values else None
    for c in acc:
        out[c] = sum(int(r[c]) for r in rows)
    out["mapping"] = " ; ".join(f"{n}: {r['mapping']}" for n, r in zip(names, rows))
    return out
