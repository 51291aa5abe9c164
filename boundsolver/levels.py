"""The exact MILP of a hierarchy's joint bound (perfect factors, spatial fanout).

A mapping onto on-chip levels 1..L is a :class:`~boundsolver.nest.Nest` with boundary ``b`` =
level ``b``; segment ``s`` (loops between boundaries ``s`` and ``s + 1``) runs in its own order and
every tensor is stored at each level that keeps it. ``nest.moved_at`` fills T's copy at ``b`` once
per change of its tile over the loops above ``b``: with ``j`` T's innermost *iterating* relevant
loop above ``b`` and ``s_j`` its segment,

    moved_at(T, b) = F(T, s_j + 1),   F(T, g) = |T| x prod_{e not in T} count(e, g - 1 + a_e)
                                       (sliding axes: placement.py's sweep with j's tile at g - 1)

where ``a_e`` says whether e's loop in segment ``g - 1`` lies above ``j``, and ``F(T, 0) = |T|`` (no
relevant loop above ``b``: T's tile at ``b`` is the whole tensor). This is placement.py's traffic
of a tensor of group ``g``, with T's tiles at ``b`` equal to those at ``g`` (no relevant loop
iterates in segments ``g..b-1``). ``F`` does not depend on ``b``: a copy below an outer copy with
the same tiles is filled as often (the pinned case); with bypass ``s_j`` may lie above the nearest
outer level keeping T, so the choice below ranges over every boundary, not only that level.

**The encoding.** A class fixes an order class (formulation.py) per segment, over the tensors kept
at or below it. For each stored copy (T, b) a binary one-hot ``y[g]``, ``g = 0..b``, chooses where
its ``j`` sits; choosing ``g`` pins T's tiles (``exp[d,g] = exp[d,b]``, ``= N_d`` for ``g = 0``,
through ``exp[d,g] - exp[d,b] <= top (1 - sum_{g' <= g} y[g'])``, small coefficients) and the
copy's traffic is ``F(T, g)``: per ``g`` a value one-hot summing to ``y[g]``, its exponents equal
to the factors' exponents multiplied by ``y[g]`` (products of a binary and a bounded integer,
linearised exactly: McCormick rows are exact at integer points).

**Why the least value over classes and choices is exact.** (1) Every feasible choice
over-estimates: pins hold, so no relevant loop iterates in segments ``g..b-1``, i.e. ``g >= s_j + 1``
(or ``g = 0`` and nothing relevant iterates); for ``g > s_j + 1``, ``F(T, g) >= |T| prod count(e, g - 1)
>= |T| prod count(e, s_j + 1) >= F(T, s_j + 1)`` (counts grow inwards); for ``g = s_j + 1``, the
class's innermost relevant loop may be a loop that runs once, which is below the real ``j`` and
only adds refetching loops. (2) Some class and choice is exact for every copy at once: order each
segment with its loops of one iteration outermost (its order class, or one dominating it, is
enumerated) and choose ``g = s_j + 1`` per copy. Occupancies are exact (tiles only). So for any
limits, the solver's least formula value equals the least true value; and a point minimising a
lexicographic vector of formulas that are each at least the true value has true value equal to
it (the first differing component would make the true vector lexicographically smaller). Every
point is re-costed by ``nest.evaluate_levels`` in integers, and a mismatch is an error.

**Spatial fanout** (docs/hierarchy.md). The tiles above are *global* (all instances of a level
together), so the temporal argument is unchanged. Each level with fanout has prime exponents per
rank it may split (their product a value one-hot at most the fanout); an instance's tile is the
global one less every fanout at or above it (footprints, capacities); a copy's traffic gains the
factors ``nest.replicas`` counts, which do not depend on the class or the choice.

**Solving less.** Classes that agree on the segments an objective and its limits read pose the
same question (other segments constrain no tile), so one of them is solved for all
(``LevelSolver.groups``); and once the traffic into a level is fixed, a level inside it that keeps
the same tensors moves at least as much (``LevelSolver.floor``), so a point attaining that ends
its stage.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from itertools import product

from .arch import Arch
from .cost import check_size, divisors
from .einsum import Einsum, Tensor, einsum
from .errors import BoundsolverError, SolverError
from .formulation import Factor, Linear, OrderClass, ProductModel, looping_ranks, order_classes
from .nest import LevelCost, Mapspace, Nest, evaluate_levels, replicas
from .placement import NestFormulation
from .symbolic import prime_exponents
from .tracer import ClassSolver

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LevelClass:
    """Per segment: the tensors (indices) whose traffic its order may decide, and their class."""

    tensors: tuple[tuple[int, ...], ...]
    segments: tuple[OrderClass, ...]


def kept(problem: Einsum, arch: Arch) -> list[list[int]]:
    """Per tensor, the boundaries (on-chip levels, 1 = outermost) that store it."""
    return [[b for b, lv in enumerate(arch.on_chip, start=1) if lv.keeps_tensor(problem, T)]
            for T in problem.tensors]


def level_classes(problem: Einsum, arch: Arch, ranks: list[str]) -> list[LevelClass]:
    """Every combination of undominated order classes of the segments. Segment ``s`` matters only
    to copies whose innermost relevant loop lies in it: tensors kept at some level below it."""
    where = kept(problem, arch)
    groups = tuple(tuple(i for i, bs in enumerate(where) if bs and bs[-1] > s)
                   for s in range(len(arch.on_chip)))
    options = [order_classes(problem, ranks, tuple(problem.tensors[i] for i in g)) for g in groups]
    return [LevelClass(groups, segs) for segs in product(*options)]


def objective_names(arch: Arch) -> list[str]:
    names = [lv.name for lv in arch.on_chip]
    return (["dram"] + [f"accesses:{n}" for n in names] + [f"occupancy:{n}" for n in names])


def named_values(arch: Arch, cost: LevelCost) -> dict[str, int]:
    """A LevelCost under the objectives' names."""
    out = {"dram": cost.dram}
    for lv, occ, acc in zip(arch.on_chip, cost.occupancy, cost.accesses):
        out[f"occupancy:{lv.name}"] = occ
        out[f"accesses:{lv.name}"] = acc
    return out


class LevelFormulation(NestFormulation):
    """The MILP of one :class:`LevelClass`: tiles per level, a choice per stored copy, and the
    objectives ``dram``, ``accesses:<level>`` and ``occupancy:<level>``."""

    def __init__(self, problem: Einsum, arch: Arch, cls: LevelClass, ranks: list[str]):
        ProductModel.__init__(self, problem)
        self.arch, self.cls = arch, cls
        self._setup(len(arch.on_chip), Mapspace(), ranks)
        self.stored = kept(problem, arch)
        self.sp: dict[tuple[str, int], dict[int, int]] = {}
        self._fanout()
        self._gates: dict[tuple[int, int], int] = {}
        self.choice: dict[tuple[int, int], list[tuple[int, int]]] = {}
        names = [lv.name for lv in arch.on_chip]
        occ = {n: Linear() for n in names}
        acc = {n: Linear() for n in names}
        dram = Linear()
        for i, T in enumerate(problem.tensors):
            for b in self.stored[i]:
                occ[names[b - 1]].add(self._footprint(T, b))
                above, unicast = self._replication(i, T, b)
                words = self._copy(i, T, b, above + unicast)
                if T is problem.output:  # written back as often, read back all but once
                    reads = self._copy(i, T, b, above, "reads") if unicast else words
                    words = Linear().add(words).add(reads)
                    rep = self._product(f"replicas[{T.name},{b}]", above)
                    words.add(rep, -problem.tensor_size(T))
                acc[names[b - 1]].add(words)
                if b == self.stored[i][0]:
                    dram.add(words)
        self._finish_named({"dram": dram} | {f"accesses:{n}": acc[n] for n in names}
                           | {f"occupancy:{n}": occ[n] for n in names})

    # ----------------------------------------------------------------------------- fanout
    def _fanout(self) -> None:
        """Spatial factors of each level with fanout (prime exponents per split rank), their
        product at most the fanout (a value one-hot over the products it may take), and every
        instance's innermost tile whole: the global tiles (``exp``) stay the temporal nest."""
        for b in range(1, len(self.arch.on_chip) + 1):
            split = [d for d in self.arch.splits(self.problem, b) if d in self.ranks]
            if not split:
                continue
            for d in split:
                top = prime_exponents(self.problem.size[d])
                self.sp[d, b] = {p: self.m.var(f"spatial[{d},{b},{p}]", 0, e)
                                 for p, e in top.items()}
            values = {math.prod(o.values())
                      for o in self.arch.split_options(self.problem, b, ranks=split)}
            z = {v: self.m.var(f"fanout[{b}].value[{v}]") for v in sorted(values)}
            self.m.row(f"fanout[{b}].choice", dict.fromkeys(z.values(), 1), 1, 1)
            for p in sorted({p for d in split for p in self.sp[d, b]}):
                coefs = {zv: prime_exponents(v).get(p, 0) for v, zv in z.items()}
                for d in split:
                    if p in self.sp[d, b]:
                        coefs[self.sp[d, b][p]] = -1
                self.m.row(f"fanout[{b}].exponent[{p}]", coefs, 0, 0)
        for d in self.ranks:
            for p, x in self.exp[d, self.k].items():
                coefs = {v[p]: 1 for (e, _), v in self.sp.items() if e == d and p in v}
                if coefs:
                    self.m.row(f"whole[{d},{p}]", coefs | {x: -1}, -math.inf, 0)

    def _tile(self, d: str, b: int) -> Factor:
        """One instance's tile: the global tile's exponents less every fanout's at or above."""
        factor = super()._tile(d, b)
        splits = [v for (e, level), v in self.sp.items() if e == d and level <= b]
        if factor[0] != "exp" or not splits:
            return factor
        exps = {p: dict(by) for p, by in factor[1].items()}
        for v in splits:
            for p, x in v.items():
                exps.setdefault(p, {})[x] = -1
        return ("exp", exps, factor[2], factor[3])

    def _replication(self, i: int, T: Tensor, b: int) -> tuple[list[Factor], list[Factor]]:
        """The factors of ``nest.replicas``: fanouts of ranks T does not use at or above its
        source copy, and those below it whose parent does not multicast."""
        stored = self.stored[i]
        source = stored[stored.index(b) - 1] if stored.index(b) else 0
        above: list[Factor] = []
        unicast: list[Factor] = []
        for (d, level), v in sorted(self.sp.items()):
            if d in T.ranks or level > b:
                continue
            if level > source and self.arch.on_chip[level - 1].multicast:
                continue
            values = [s for s in divisors(self.problem.size[d]) if s <= self.arch.fanouts[level - 1]]
            (above if level <= source else unicast).append(
                ("exp", {p: {x: 1} for p, x in v.items()}, values, {}))
        return above, unicast

    # ----------------------------------------------------------------------------- choices
    def _copy(self, i: int, T: Tensor, b: int, rep: list[Factor], tag: str = "moved") -> Linear:
        """Traffic of T's copy at ``b``: ``F(T, g)`` for the chosen ``g``, with its pins."""
        if (i, b) in self.choice:  # a second product over the same choice (the output's reads)
            ys = self.choice[i, b]
            return self._chosen(f"{tag}[{T.name},{b}]",
                                [(y, self._option(i, T, b, g) + rep) for g, y in ys])
        ys = [(g, self.m.var(f"where[{T.name},{b},{g}]")) for g in range(b + 1)]
        self.m.row(f"where_choice[{T.name},{b}]", {y: 1 for _, y in ys}, 1, 1)
        self.choice[i, b] = ys
        for d in dict.fromkeys(T.ranks):
            if d not in self.ranks:
                continue
            top = prime_exponents(self.problem.size[d])
            for g in range(b):
                for p, x in self.exp[d, b].items():
                    coefs = {y: top[p] for h, y in ys if h <= g} | {x: -1}
                    if g == 0:  # the whole tensor: exp[d,b] >= top * y[0]
                        self.m.row(f"pin[{T.name},{b},{g},{d},{p}]", coefs, -math.inf, 0)
                    else:  # exp[d,g] - exp[d,b] <= top * (1 - sum_{h <= g} y[h])
                        coefs[self.exp[d, g][p]] = 1
                        self.m.row(f"pin[{T.name},{b},{g},{d},{p}]", coefs, -math.inf, top[p])
        options = [(y, self._option(i, T, b, g) + rep) for g, y in ys]
        return self._chosen(f"{tag}[{T.name},{b}]", options)

    def _option(self, i: int, T: Tensor, b: int, g: int) -> list[Factor]:
        """The factors of ``F(T, g)``, T's tiles read at ``b`` (equal to ``g``'s when chosen)."""
        if g == 0:
            return [("const", self.problem.tensor_size(T))]
        return self._traffic_factors(T, self.cls.segments[g - 1],
                                     self.cls.tensors[g - 1].index(i), g, b)

    def _gate(self, y: int, x: int) -> int:
        """A variable equal to ``y * x`` (y binary, x an integer in [0, U]) at integer points."""
        if (y, x) not in self._gates:
            top = self.m.upper[x]
            u = self.m.var(f"gate[{y},{x}]", 0, top, integer=False)
            self.m.row(f"gate_y[{u}]", {u: 1, y: -top}, -math.inf, 0)
            self.m.row(f"gate_x[{u}]", {u: 1, x: -1}, -math.inf, 0)
            self.m.row(f"gate_both[{u}]", {x: 1, u: -1, y: top}, -math.inf, top)
            self._gates[y, x] = u
        return self._gates[y, x]

    def _chosen(self, name: str, options: list[tuple[int, list[Factor]]]) -> Linear:
        """``sum_g y[g] * prod(factors of g)``: per option a value one-hot summing to ``y[g]``
        whose exponents equal the option's factors' exponents gated by ``y[g]``."""
        out = Linear()
        for y, factors in options:
            const = math.prod(f[1] for f in factors if f[0] == "const")
            live = [f for f in factors if f[0] != "const"]
            values = self._attainable(name, live, const)
            z = {v: self.m.var(f"{name}.{y}.value[{v}]") for v in sorted(values)}
            self.m.row(f"{name}.{y}.choice", dict.fromkeys(z.values(), 1) | {y: -1}, 0, 0)
            rows: dict[int, dict[int, int]] = {}

            def add(p: int, var: int, c: int, rows=rows) -> None:
                if c:
                    row = rows.setdefault(p, {})
                    row[var] = row.get(var, 0) + c

            for v, zv in z.items():
                for p, e in prime_exponents(v).items():
                    add(p, zv, e)
            for p, e in prime_exponents(const).items():
                add(p, y, -e)
            for f in live:
                if f[0] == "sel":
                    gated = [(self._gate(y, var), val) for var, val in f[1]]
                    self.m.row(f"{name}.{y}.sel", dict.fromkeys((w for w, _ in gated), 1) | {y: -1},
                               0, 0)
                    for w, val in gated:
                        for p, e in prime_exponents(val).items():
                            add(p, w, -e)
                else:
                    for p, by_var in f[1].items():
                        for var, c in by_var.items():
                            add(p, self._gate(y, var), -c)
                    for p, e in f[3].items():
                        add(p, y, -e)
            for p, coefs in sorted(rows.items()):
                self.m.row(f"{name}.{y}.exponent[{p}]", coefs, 0, 0)
            out.add(Linear({zv: v for v, zv in z.items()}))
        return out

    # ----------------------------------------------------------------------------- decoding
    def decode(self, x) -> tuple[Nest, dict[tuple[int, int], int]]:
        """The nest of a solution (tiles per level, each segment's class order, every copy) and
        each copy's chosen ``g``."""
        levels = []
        for b in range(1, self.k + 1):
            tiles = {d: 1 for d in self.problem.ranks}
            for d in self.ranks:
                tiles[d] = math.prod(p ** round(x[v]) for p, v in self.exp[d, b].items())
            levels.append(tuple(tiles.items()))
        storage = tuple((T.name, b) for i, T in enumerate(self.problem.tensors)
                        for b in self.stored[i])
        spatial = ()
        if self.sp:
            spatial = tuple(tuple((d, s) for d in self.problem.ranks if (d, b) in self.sp
                                  and (s := math.prod(p ** round(x[v]) for p, v
                                                      in self.sp[d, b].items())) > 1)
                            for b in range(1, self.k + 1))
        nest = Nest(tuple(levels), tuple(c.order for c in self.cls.segments), storage, spatial)
        chosen = {key: next(g for g, y in ys if x[y] > 0.5) for key, ys in self.choice.items()}
        return nest, chosen

    def value(self, nest: Nest, chosen: dict) -> dict[str, int]:
        """Every objective of ``nest`` under this class's formulas and ``chosen``, in integers."""
        p = self.problem
        names = [lv.name for lv in self.arch.on_chip]
        out = dict.fromkeys(self.objectives, 0)
        for i, T in enumerate(p.tensors):
            for b in self.stored[i]:
                g = chosen[i, b]
                pinned = p.size if g == 0 else nest.tile(p, g)
                if any(pinned[d] != nest.tile(p, b)[d] for d in T.ranks):
                    raise SolverError(f"a solution of {p} breaks the pin of {T.name} at level "
                                      f"{b} to boundary {g}; refusing it")
                m = self._option_value(nest, i, T, b, g)
                k = self.stored[i].index(b)
                above, unicast = replicas(T, nest, self.stored[i][k - 1] if k else 0, b,
                                          self.arch.multicast)
                if T is p.output:
                    words = above * (m * unicast + m - p.tensor_size(T))
                else:
                    words = above * unicast * m
                out[f"occupancy:{names[b - 1]}"] += T.footprint(nest.instance_tile(p, b))
                out[f"accesses:{names[b - 1]}"] += words
                if b == self.stored[i][0]:
                    out["dram"] += words
        return out

    def _option_value(self, nest: Nest, i: int, T: Tensor, b: int, g: int) -> int:
        p, size = self.problem, self.problem.size
        if g == 0:
            return p.tensor_size(T)
        oc = self.cls.segments[g - 1]
        pos = self.cls.tensors[g - 1].index(i)
        t = nest.tile(p, b)
        m = 1
        for e in self.ranks:
            if e not in T.ranks:
                m *= -(-size[e] // nest.tile(p, g if e in oc.refetched[pos] else g - 1)[e])
        j = oc.innermost[pos]
        for a in T.axes:
            if a.is_plain:
                m *= size[a.ranks[0]]
            elif j in a.ranks:
                m *= self._sweep(a, j)(t, nest.tile(p, g - 1)[j])
            else:
                m *= self._refetch(a)(t, None)
        return m


def _as_input(problem: Einsum) -> Einsum:
    """``problem`` with its output read as an input (counted by its fills, no write-back) and
    a fresh one-word output: its one-buffer traffic is the original's inputs plus the output's
    fills, plus 2 words (the new output and its one-word operand), in 2 more words of buffer."""
    text = " * ".join(str(T) for T in (*problem.inputs, problem.output))
    u, y, v = "u_", "Y_", "U_"
    return einsum(f"{y}[{u}] += {text} * {v}[{u}]", **dict(problem.sizes), **{u: 1})


@dataclass(frozen=True)
class LevelPoint:
    """A verified nest, its exact cost and the solve (class) that found it."""

    nest: Nest
    cost: LevelCost
    values: dict
    cls: int


class LevelSolver(ClassSolver):
    """The MILPs of one problem on one hierarchy, one per :class:`LevelClass`, answering "least
    ``objective`` with these objectives at most these limits" exactly (``minimise``), the
    lexicographic joint bound at a capacity of the swept level (``joint``) and its staircase
    (``walk``). The tracer (tracer.py, as for ``points.PointSolver``) solves each class:
    classes are solved in order of their lower bounds (LP relaxations, and earlier answers under
    looser limits), skipped when a bound reaches the incumbent; every point is re-costed in
    integers; solutions that meet a limit only within the solver's tolerances are cut off; large
    objectives are proved by a further solve. Every question is answered (no time limit)."""

    partial = False
    kept_bounds = 30  # questions under many limits: keep the latest few per class

    def __init__(self, problem: Einsum, arch: Arch, solver: str = "highs", threads: int = 1):
        from .hierarchy import check

        check(problem, arch)
        check_size(problem)
        start = time.perf_counter()
        self.arch = arch
        ranks = looping_ranks(problem)
        super().__init__(problem, level_classes(problem, arch, ranks), solver, threads)
        self.ranks = ranks
        self.stored = kept(problem, arch)
        names = [lv.name for lv in arch.on_chip]
        self.key = ["dram"] + [f"accesses:{n}" for n in names]  # LevelCost.key's order
        self.swept = next((f"occupancy:{lv.name}" for lv in arch.on_chip if lv.sweep), None)
        self.fixed = {f"occupancy:{lv.name}": lv.capacity for lv in arch.on_chip
                      if lv.capacity is not None}
        self._floors: dict = {}
        self._curves: dict = {}
        self.build_seconds = time.perf_counter() - start

    def _make_form(self, c: int) -> LevelFormulation:
        """Built when first needed (a conv has 1,000 classes): grouped and pruned ones never are."""
        return LevelFormulation(self.problem, self.arch, self.classes[c], self.ranks)

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
        """The best of :meth:`monotone_floor`, for a level of fixed capacity
        :meth:`instance_floor`, and every word of each tensor the level keeps entering it once
        (``b = 0``: the algorithmic minimum), which tiny levels such as registers often attain."""
        once = sum(self.problem.tensor_size(T) for i, T in enumerate(self.problem.tensors)
                   if b == 0 or b in self.stored[i])
        best = max(once, self.monotone_floor(b, limits))
        if b >= 1:
            lv = self.arch.on_chip[b - 1]
            cap = lv.capacity if lv.capacity is not None else limits.get(f"occupancy:{lv.name}")
            if cap is not None and lv.capacity is not None:
                best = max(best, self.instance_floor(b, cap))
        return best

    def monotone_floor(self, b: int, limits: dict) -> float:
        """A lower bound on the traffic into level ``b`` (1 = outermost; 0: the backing store's,
        see :meth:`_one_buffer_floor`) once the traffic into level ``b - 1`` is fixed at its least
        value ``limits[accesses:<b-1>]``: where both
        levels keep the same tensors, every copy at ``b`` moves at least as much as the copy at
        ``b - 1`` it is filled from (fills only grow inwards, and so does the repetition across
        instances: nest.replicas), so the traffic into ``b`` is at least that into ``b - 1``."""
        names = [lv.name for lv in self.arch.on_chip]
        if b == 0:
            return self._one_buffer_floor(limits)
        if b < 2 or f"accesses:{names[b - 2]}" not in limits:
            return -math.inf
        stored = self.stored
        if any((b in s) != (b - 1 in s) for s in stored):
            return -math.inf
        return limits[f"accesses:{names[b - 2]}"]

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
        from .enumerate import frontier_points
        from .errors import EnumerationTooLarge

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
        for split in splits:  # no slice moves less than its tensors once: order by that
            sub = self.problem.with_sizes(**{d: n // split.get(d, 1)
                                             for d, n in self.problem.sizes})
            n = math.prod(split.values())
            ranked.append((n * sum(sub.tensor_size(T) for T in sub.tensors), n, split, sub))
        ranked.sort(key=lambda e: e[0])
        best = math.inf
        try:
            for least, n, split, sub in ranked:
                if least >= best:
                    break
                reduced = any(v > 1 and d not in out_ranks for d, v in split.items())
                best = min(best, n * self._curve_at(sub, capacity, reduced, frontier_points))
        except EnumerationTooLarge:
            return -math.inf
        return best

    def _curve_at(self, sub: Einsum, capacity: float, reduced: bool, frontier_points) -> float:
        """The one-buffer curve of a slice at ``capacity`` (inf if nothing fits), each slice's
        staircase enumerated once; ``reduced``: with its output read as an input
        (:func:`_as_input`, read back to the slice's terms)."""
        key = (sub.sizes, reduced)
        if key not in self._curves:
            problem = _as_input(sub) if reduced else sub
            self._curves[key] = [(c.occupancy, c.accesses) for _, c in frontier_points(problem)]
        extra = 2 if reduced else 0
        fit = [a for o, a in self._curves[key] if o <= capacity + extra]
        return min(fit) - extra if fit else math.inf

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
                front = frontier(self.problem, method="auto")
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
            _, point, value = self._solve(groups[g][0], objective, limits | {objective: min(
                cutoff, limits.get(objective, math.inf))})
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
                lows[g] = max(lows[g], self._relaxation(group[0], objective, limits))
                record(group, lows[g])
        for g in sorted(lows, key=lows.get):
            if lows[g] < best():
                attempt(g)
        return inc

    def joint(self, capacity: float = math.inf, least_occupancy: bool = True
              ) -> LevelPoint | None:
        """The lexicographic joint bound with the swept level at most ``capacity``: least DRAM
        traffic, then least traffic into each level inwards; among the points attaining it, one
        of least swept occupancy (its staircase point), or with ``least_occupancy=False`` any
        (the bound at one capacity needs no staircase point, and that last stage costs a solve
        per class; measured on GEMM 4096^3 on a100, a least occupancy within the class that
        found the point saved no time either)."""
        limits = {self.swept: capacity} if self.swept else {}
        point = None
        for b, name in enumerate(self.key):  # b: the level the traffic enters (0: backing store)
            if point is not None and b >= 2:
                self._mirror(point, b)
            point = self.minimise(name, limits, self.floor(b, limits))
            if point is None:
                return None
            limits[name] = point.values[name]
        if self.swept and least_occupancy:
            point = self.minimise(self.swept, limits)
            if point is None:
                raise SolverError(f"{self.problem}: the point of least {self.key[-1]} vanished "
                                  "when its occupancy was minimised")
        return point

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
        cost = evaluate_levels(self.problem, nest, multicast=self.arch.multicast)
        exact = named_values(self.arch, cost)
        return LevelPoint(nest, cost, exact, c), exact, self.form(c).value(nest, chosen)

    def _describe(self, point: LevelPoint) -> str:
        return f"nest {point.nest.describe(self.problem)}"

    def _subject(self, c: int, objective: str) -> str:
        return f"the nest of {self._question(c, objective, {})} under its class"

    def _question(self, c: int, objective: str, limits: dict) -> str:
        p = self.problem
        sizes = ", ".join(f"{r}={n}" for r, n in p.sizes)
        orders = " / ".join(",".join(s.order) for s in self.classes[c].segments)
        limit = " and ".join(f"{n} <= {int(v)}" for n, v in limits.items()
                             if math.isfinite(v)) or "no limit"
        return (f"{p.name + ': ' if p.name else ''}{p} ({sizes}) on {self.arch.name}, class "
                f"{c} of {len(self.classes)} (segment orders {orders}); least {objective} "
                f"with {limit}")
