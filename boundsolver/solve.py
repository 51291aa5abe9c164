"""Solving: exact curve points, ``solve_curve`` over capacities, and the Pareto frontier walk.

Every point is verified: the solver must prove optimality (gap 0), and the decoded mapping,
re-evaluated in Python integers by ``cost.evaluate``, must reproduce the solver's value.
"""

from __future__ import annotations

import logging
import math
import numbers
import time
from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

from . import nest as nests
from .cost import Cost, Mapping, check_size, evaluate
from .einsum import Einsum
from .errors import BoundsolverError, EinsumError, EnumerationTooLarge, SolverError
from .formulation import Formulation, distinct_classes, looping_ranks, order_classes
from .nest import Mapspace, Nest, mapspace_of
from .placement import NestFormulation, nest_classes
from .results import Status, frame, point_row
from .solvers import HighsBackend, Outcome, backend, solver_name
from .workload import Workload

# Relative allowance for LP tolerances when an LP relaxation bound prunes an order class.
RELAXATION_SLACK = 1e-7
# Relative difference allowed between the solver's float objective and the exact integer value.
OBJECTIVE_RTOL = 1e-9
# Solutions cut off (no_good) in one question before giving up: each is a distinct combination
# of values that meets a limit only within the solver's tolerances, and there are few.
MAX_CUTS = 100

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Point:
    """A verified mapping and its cost, found by the solve of order class ``cls``."""

    mapping: Mapping | Nest
    cost: Cost
    cls: int


@dataclass(frozen=True)
class Answer:
    """One curve point: exact (``point`` set, status optimal), infeasible, or cut by a time limit."""

    status: Status
    point: Point | None
    seconds: float
    bound: float | None = None  # time limit only: the best proven lower bound

    def row(self, problem: Einsum) -> dict:
        row: dict = {"status": self.status.value, "solve_seconds": self.seconds}
        if self.status is Status.OPTIMAL:
            return row | point_row(problem, self.point.mapping, self.point.cost)
        if self.status is Status.TIME_LIMIT:
            row["best_bound"] = self.bound
            row["incumbent"] = self.point.cost.accesses if self.point else None
        return row


class PointSolver:
    """The MILPs of one problem, one per order class, answering the ε-constraint questions.

    The least accesses at capacity S is the least over order classes. Classes are solved in order
    of their lower bounds, each with the incumbent as a cut-off, and a class whose bound reaches
    the incumbent is skipped. Bounds carry over to smaller capacities (a class's least accesses
    only grows as S shrinks), so a sweep downwards solves few classes per point.
    """

    def __init__(self, problem: Einsum, solver: str = "highs", time_limit: float | None = None,
                 threads: int = 1, mapspace: Mapspace | str | None = None):
        if not isinstance(problem, Einsum):
            raise EinsumError(f"expected an Einsum (bs.gemm, bs.conv, bs.einsum, ...), got "
                              f"{type(problem).__name__}")
        if time_limit is not None and (isinstance(time_limit, bool) or not (
                isinstance(time_limit, numbers.Real) and time_limit > 0)):
            raise SolverError(f"time_limit must be a positive number of seconds, got {time_limit!r}")
        start = time.perf_counter()
        check_size(problem)
        self.problem = problem
        self.solver = solver_name(solver)
        self.time_limit = time_limit
        self.threads = threads
        self.mapspace = mapspace_of(mapspace)
        ranks = looping_ranks(problem)
        if self.mapspace.is_orojenesis:
            self.classes = distinct_classes(problem, ranks, order_classes(problem, ranks))
            self.forms = [Formulation(problem, c, ranks) for c in self.classes]
        else:
            self.classes = nest_classes(problem, ranks, self.mapspace)
            self.forms = [NestFormulation(problem, c, self.mapspace, ranks) for c in self.classes]
        self._backends: dict[int, object] = {}
        self._relaxations: dict[int, object] = {}
        self.known: list[Point] = []
        # Per class: (lower bound on least accesses, the capacity up to which it holds).
        self._lower = [(0.0, math.inf)] * len(self.classes)
        self.build_seconds = time.perf_counter() - start

    def evaluate(self, mapping: Mapping | Nest) -> Cost:
        """The cost model of the mapspace, in Python integers."""
        if isinstance(mapping, Nest):
            return nests.evaluate(self.problem, mapping, imperfect=self.mapspace.factors == "imperfect")
        return evaluate(self.problem, mapping)

    def lower(self, c: int, capacity: float) -> float:
        bound, upto = self._lower[c]
        return bound if capacity <= upto else 0.0

    def _backend(self, c: int):
        if c not in self._backends:
            self._backends[c] = backend(self.solver, self.forms[c].m, self.threads)
        return self._backends[c]

    def _relaxation(self, c: int, objective: str, capacity: float, traffic: float) -> float:
        """A lower bound on ``objective`` for class ``c`` from its LP relaxation (inf: infeasible).

        Re-solved from the previous basis, so a bound costs well under a millisecond. Only with
        HiGHS: CBC runs as a subprocess per solve, where an LP costs about as much as the MILP.
        """
        if self.solver != "highs":
            return -math.inf
        if c not in self._relaxations:
            # No CBC at the end of its ladder: a bound only prunes, and the MILP can do without.
            self._relaxations[c] = HighsBackend(self.forms[c].m.relaxed(), self.threads,
                                                fallback=False)
        bounds = self._bounds(c, capacity, traffic)
        out = self._relax(c, objective, capacity, traffic, bounds)
        if out is not None and out.status is Status.INFEASIBLE:
            # HiGHS 1.16 has declared infeasible an LP that is feasible only on the boundary of
            # these rows (FFN's O[] += A0[m,d] * A1[d,c], m=32768, d=c=4096: CBC solves it). Both
            # rows are integer on integer points: half a unit more loses none of them. An LP still
            # infeasible then prunes the class; a feasible one gives a (valid, weaker) bound.
            out = self._relax(c, objective, capacity, traffic,
                              {row: (lo, hi + 0.5) for row, (lo, hi) in bounds.items()})
        if out is None:
            return -math.inf
        if out.status is Status.INFEASIBLE:
            return math.inf
        if out.objective is None:
            return -math.inf
        # The MILP's optimum is an integer in scaled units; allow for the LP's tolerances.
        value = out.objective - RELAXATION_SLACK * max(1.0, abs(out.objective))
        return self.forms[c].unscale(objective, math.ceil(value))

    def _relax(self, c: int, objective: str, capacity: float, traffic: float, bounds: dict):
        """The LP relaxation's outcome under ``bounds``; None if HiGHS gives no answer."""
        try:
            out = self._relaxations[c].solve(self.forms[c].scaled(objective), bounds, None)
        except SolverError as err:
            log.debug("no LP bound for %s: %s", self._question(c, objective, capacity, traffic), err)
            return None
        if out.failed:
            log.debug("LP bound for %s: solved after %s",
                      self._question(c, objective, capacity, traffic), "; ".join(out.failed))
        return out

    def _bounds(self, c: int, capacity: float, traffic: float) -> dict:
        f = self.forms[c]
        return {f.capacity_row: (-math.inf, f.row_bound("occupancy", capacity)
                                 if math.isfinite(capacity) else math.inf),
                f.traffic_row: (-math.inf, f.row_bound("accesses", traffic)
                                if math.isfinite(traffic) else math.inf)}

    def _best_known(self, key, feasible) -> Point | None:
        return min((p for p in self.known if feasible(p.cost)), key=key, default=None)

    def min_accesses(self, capacity: float = math.inf) -> Answer:
        """Least accesses with occupancy <= capacity."""
        began = time.perf_counter()
        inc = self._best_known(lambda p: (p.cost.accesses, p.cost.occupancy),
                               lambda cost: cost.occupancy <= capacity)
        for c in range(len(self.classes)):
            if inc is None or self.lower(c, capacity) < inc.cost.accesses:
                bound = self._relaxation(c, "accesses", capacity, math.inf)
                self._lower[c] = (max(bound, self.lower(c, capacity)), capacity)
        open_bounds: list[float] = []
        for c in sorted(range(len(self.classes)), key=lambda c: self.lower(c, capacity)):
            if self.lower(c, capacity) == math.inf or (
                    inc is not None and self.lower(c, capacity) >= inc.cost.accesses):
                continue
            cutoff = inc.cost.accesses - 1 if inc is not None else math.inf
            out, point, value = self._solve(c, "accesses", capacity, cutoff, began)
            if out.status is Status.OPTIMAL:
                if inc is None or point.cost.accesses < inc.cost.accesses:
                    inc = point
                self._lower[c] = (value, capacity)
            elif out.status is Status.INFEASIBLE:
                self._lower[c] = (cutoff + 1, capacity)
            else:
                bound = self.lower(c, capacity)
                if out.bound is not None:
                    bound = max(bound, self.forms[c].unscale("accesses", out.bound))
                open_bounds.append(bound)
                if point is not None and (inc is None or point.cost.accesses < inc.cost.accesses):
                    inc = point
        seconds = time.perf_counter() - began
        if inc is not None and all(b >= inc.cost.accesses for b in open_bounds):
            return Answer(Status.OPTIMAL, inc, seconds)
        if open_bounds:
            best = min(open_bounds + ([inc.cost.accesses] if inc else []))
            return Answer(Status.TIME_LIMIT, inc, seconds, math.ceil(best))
        return Answer(Status.INFEASIBLE, None, seconds)

    def min_occupancy(self, traffic: int, capacity: float = math.inf) -> Answer:
        """Least occupancy with accesses <= traffic, where ``traffic`` is the least accesses at
        ``capacity``: only classes whose bound there is at most ``traffic`` can attain it."""
        began = time.perf_counter()
        inc = self._best_known(lambda p: (p.cost.occupancy, p.cost.accesses),
                               lambda cost: cost.accesses <= traffic)
        candidates = []
        for c in range(len(self.classes)):
            if self.lower(c, capacity) > traffic:
                continue
            bound = self._relaxation(c, "occupancy", capacity, traffic)
            if inc is None or bound < inc.cost.occupancy:
                candidates.append((bound, c))
        timed_out = False
        for bound, c in sorted(candidates):
            cap = inc.cost.occupancy - 1 if inc is not None else capacity
            if bound > cap:
                continue
            out, point, _ = self._solve(c, "occupancy", cap, traffic, began)
            if out.status is Status.OPTIMAL:
                inc = point
            elif out.status is Status.TIME_LIMIT:
                timed_out = True
        seconds = time.perf_counter() - began
        if timed_out:
            return Answer(Status.TIME_LIMIT, inc, seconds)
        return Answer(Status.OPTIMAL if inc else Status.INFEASIBLE, inc, seconds)

    def _solve(self, c: int, objective: str, capacity: float, traffic: float,
               began: float) -> tuple:
        """Solve class ``c``: ``objective`` with occupancy <= capacity and accesses <= traffic;
        returns (outcome, verified point or None, its exact objective value or None).

        The solver works in floating point; every decision is made on the decoded mapping in
        integers. A solution that meets a limit only within the solver's tolerances is cut off
        (``no_good``) and the class solved again. Where the objective is too large for the
        solver to compare exactly (``float_error``), an optimum is proved by asking for any
        point at least one unit better: the solver's "infeasible" is then the proof, since a
        point that meets the limits exactly meets them within any tolerance.
        """
        f = self.forms[c]
        limits = {"occupancy": capacity, "accesses": traffic}
        prove = f.float_error(objective) >= 0.5
        cuts: list = []
        best: tuple | None = None  # (outcome, point, value): a candidate being proved optimal
        for _ in range(MAX_CUTS):
            out = self._run(c, None if best else objective, limits, cuts, began)
            if out.status is Status.INFEASIBLE or out.x is None:
                if best is not None and out.status is Status.INFEASIBLE:
                    return best
                if best is not None:  # time limit while proving: the candidate is an incumbent
                    return Outcome(Status.TIME_LIMIT, None, None, None, out.seconds), best[1], None
                return out, None, None
            mapping = f.decode(out.x)
            cost = self.evaluate(mapping)
            formula = dict(zip(("occupancy", "accesses"), f.value(mapping)))
            if cost.occupancy > formula["occupancy"] or cost.accesses > formula["accesses"]:
                question = self._question(c, objective, capacity, traffic)
                raise SolverError(
                    f"the mapping {mapping.describe(self.problem)} of {question}"
                    f" costs occupancy {cost.occupancy}, accesses {cost.accesses} under the cost "
                    f"model, above its class formula {formula}; refusing to report it")
            over = [o for o in ("occupancy", "accesses") if formula[o] > limits[o]]
            if over:  # within the solver's tolerances only
                log.info("%s: cut off %s, which meets the %s limit only within the solver's "
                         "tolerances (%d > %d)", self._question(c, objective, capacity, traffic),
                         mapping.describe(self.problem), over[0], formula[over[0]],
                         limits[over[0]])
                cuts.append(f.no_good(over[0], out.x))
                continue
            point = Point(mapping, cost, c)
            value = formula[objective]
            if out.status is Status.TIME_LIMIT:
                return out, point, None
            if best is not None or prove:
                log.info("%s: %s %d found; asking for any point below it (the objective is "
                         "too large for the solver to compare exactly)",
                         self._question(c, objective, capacity, traffic), objective, value)
                self.known.append(point)
                best = (out, point, value)
                limits[objective] = value - 1
                continue
            self._check_claim(c, objective, out, value)
            self.known.append(point)
            return out, point, value
        raise SolverError(f"{self.solver} kept returning points that break the limits of "
                          f"{self._question(c, objective, capacity, traffic)} (only within its "
                          f"tolerances) after {MAX_CUTS} cuts; no exact answer")

    def _run(self, c: int, objective: str | None, limits: dict, cuts: list, began: float):
        """One backend solve of class ``c``: minimise ``objective`` (None: any feasible point)."""
        f = self.forms[c]
        remaining = None
        if self.time_limit is not None:
            remaining = max(self.time_limit - (time.perf_counter() - began), 1e-3)
        goal = f.scaled(objective) if objective else {}
        what = objective or "any point"
        try:
            out = self._backend(c).solve(goal, self._bounds(c, limits["occupancy"],
                                                            limits["accesses"]), remaining, cuts)
        except SolverError as err:
            raise SolverError(f"could not solve {self._question(c, what, **limits)}"
                              f" with {self.solver}: {err}") from err
        if out.failed:
            log.debug("%s: solved after %s", self._question(c, what, **limits),
                      "; ".join(out.failed))
        return out

    def _check_claim(self, c: int, objective: str, out, value: int) -> None:
        check_claim(self.forms[c], objective, out, value, self.solver,
                    f"{self.problem.name or self.problem}'s mapping under its order class")

    def _question(self, c: int, objective: str, occupancy: float, accesses: float) -> str:
        """The sub-problem of a solve in words: the Einsum, the class, the question."""
        p = self.problem
        sizes = ", ".join(f"{r}={n}" for r, n in p.sizes)
        cls = self.classes[c]
        if hasattr(cls, "groups"):
            names = [T.name for T in p.tensors]
            where = ", ".join(f"{names[i]} at {b}" for b, g in enumerate(cls.groups) for i in g)
            orders = " / ".join(",".join(s.order) for s in cls.segments)
            what = f"nest class {c} of {len(self.classes)}: storage {where}; loop orders {orders or '-'}"
        else:
            what = f"order class {c} of {len(self.classes)}: loop order {','.join(cls.order) or '-'}"
        limits = [f"occupancy <= {int(occupancy)}" if math.isfinite(occupancy) else "",
                  f"accesses <= {int(accesses)}" if math.isfinite(accesses) else ""]
        limit = " and ".join(x for x in limits if x) or "no limit"
        goal = objective if objective == "any point" else f"least {objective}"
        return (f"{p.name + ': ' if p.name else ''}{p} ({sizes}), mapspace {self.mapspace}, "
                f"{what}; {goal} with {limit}")


def check_claim(form, objective: str, out, value: int, solver: str, what: str) -> None:
    """The solver's objective and bound must match the exact ``value`` of ``what`` (the
    objective is small enough for floating point to compare it exactly: ``float_error`` below
    one half; larger ones are proved by a further solve instead)."""
    claimed, scale = form.unscale(objective, out.objective), form.scales[objective]
    if abs(value - claimed) > 0.5 * scale + OBJECTIVE_RTOL * abs(value):
        raise SolverError(f"{solver} reported {objective} {claimed:.6g} but {what} evaluates to "
                          f"{value}; refusing to report an unverified point")
    if out.bound is not None and abs(form.unscale(objective, out.bound) - claimed) >= scale:
        raise SolverError(f"{solver} claimed optimality with a gap ({out.bound} vs "
                          f"{out.objective}, scaled units)")


def _capacity(c: object) -> int:
    if isinstance(c, bool) or not isinstance(c, numbers.Real) or not math.isfinite(c) or c <= 0:
        raise BoundsolverError(f"capacity must be a positive number of words, got {c!r}")
    if c < 1:
        raise BoundsolverError(f"capacity {c!r} is below one word")
    return int(math.floor(c))


def solve_curve(problem: Einsum | Workload, capacities: Iterable[float], solver: str = "highs",
                time_limit: float | None = None, progress: bool = False,
                mapspace: Mapspace | str | None = None, fusion: bool | None = None,
                method: str | None = None, max_depth: int = 3, arch=None) -> pd.DataFrame:
    """Least accesses at each capacity (words), one row per capacity in the given order.

    ``arch`` (an :class:`Arch` or a name in ``arch/``): a hierarchy of several levels gives the
    exact joint bound over the swept level's capacity (hierarchy.py; rows carry
    ``occupancy_<level>`` and ``accesses_<level>``); the paper's one-buffer machine changes nothing.

    ``method``: "milp" (the default for an Einsum: one integer program per question),
    "enumerate" (the exhaustive reference, vectorised) or "auto" (enumeration where its
    estimated work is small, else the MILP; the default for workloads). Every point of either
    is rebuilt as a mapping and re-costed in Python integers.

    For a :class:`Workload`, ``fusion=True`` (the default) searches fused mappings (loop trees
    with up to ``max_depth`` nested loops, each over a different rank) and ``fusion=False`` runs
    every Einsum alone (docs/fusion.md); ``method`` says how per-Einsum curves are traced.
    Workloads default to per-tensor placement inside each Einsum (``mapspace="uniform/perfect"``:
    the Orojenesis inner mapspace).

    Capacities are floored to whole words. A capacity below the smallest possible occupancy gives a
    row with status ``infeasible``; a solve cut by ``time_limit`` (seconds per capacity) gives a row
    with status ``time_limit``, its best bound and incumbent. A point solved at capacity S with
    occupancy o answers every capacity in [o, S] exactly (the curve is a staircase).
    """
    if isinstance(capacities, (str, bytes)) or not isinstance(capacities, Iterable):
        raise BoundsolverError(f"capacities must be a sequence of numbers, got {capacities!r}")
    caps = [_capacity(c) for c in capacities]
    hierarchy = _hierarchy(problem, arch, method, mapspace, fusion)
    if hierarchy is not None:
        return hierarchy(problem, _arch(arch), caps, method=method, solver=solver)
    if _is_workload(problem, fusion, time_limit):
        from .fused import workload_curve

        return workload_curve(problem, caps, fusion is not False, solver, mapspace,
                              method or "auto", max_depth)
    if choose_method(problem, mapspace, method) == "enumerate":
        frame_ = _enumerated(problem, mapspace, caps, method == "auto")
        if frame_ is not None:
            return frame_
    start = time.perf_counter()
    ps = PointSolver(problem, solver, time_limit, mapspace=mapspace)
    results: dict[int, dict] = {}
    covered: list[tuple[int, int, dict]] = []  # (occupancy, capacity, row): exact on the interval
    bar = _progress(len(set(caps)), progress, problem)
    for cap in sorted(set(caps), reverse=True):
        row = next((r for lo, hi, r in covered if lo <= cap <= hi), None)
        if row is None:
            answer = ps.min_accesses(cap)
            row = answer.row(problem)
            if answer.status is Status.OPTIMAL:
                covered.append((answer.point.cost.occupancy, cap, row))
        results[cap] = row
        bar.update()
    bar.close()
    rows = [{"capacity": c} | results[c] for c in caps]
    return frame(problem, rows, capacity=True, method="milp", solver=ps.solver,
                 mapspace=str(ps.mapspace),
                 build_seconds=ps.build_seconds, seconds=time.perf_counter() - start)


def pareto_frontier(problem: Einsum | Workload, solver: str = "highs",
                    time_limit: float | None = None, progress: bool = False,
                    mapspace: Mapspace | str | None = None, fusion: bool | None = None,
                    method: str | None = None, max_depth: int = 3, arch=None) -> pd.DataFrame:
    """Every breakpoint of the staircase, traced by the MILP (ε-constraint walk).

    A :class:`Workload` gives its fused (``fusion=True``, the default) or unfused frontier, each
    breakpoint with its schedule and every Einsum's mapping (see :func:`solve_curve`).

    From the largest capacity down: least accesses A under capacity S, then least occupancy o with
    accesses <= A gives the breakpoint (o, A); continue with S = o - 1 until infeasible. Rows are
    in increasing occupancy. A time limit ends the walk with a ``time_limit`` row.
    """
    hierarchy = _hierarchy(problem, arch, method, mapspace, fusion)
    if hierarchy is not None:
        return hierarchy(problem, _arch(arch), method=method, solver=solver)
    if _is_workload(problem, fusion, time_limit):
        from .fused import workload_frontier

        return workload_frontier(problem, fusion is not False, solver, mapspace,
                                 method or "auto", max_depth)
    if choose_method(problem, mapspace, method) == "enumerate":
        frame_ = _enumerated(problem, mapspace, None, method == "auto")
        if frame_ is not None:
            return frame_
    start = time.perf_counter()
    ps = PointSolver(problem, solver, time_limit, mapspace=mapspace)
    bar = _progress(None, progress, problem)
    rows = [a.row(problem) for a in walk(ps, bar.update)]
    bar.close()
    return frame(problem, rows, capacity=False, method="milp", solver=ps.solver,
                 mapspace=str(ps.mapspace),
                 build_seconds=ps.build_seconds, seconds=time.perf_counter() - start)


METHODS = ("milp", "enumerate", "auto")
# Estimated enumeration steps (enumerate._work: tilings x 2^ranks x ranks) up to which "auto"
# (and method="enumerate") enumerates the Orojenesis mapspace: about 15 s of numpy work and a
# few hundred MB, still faster than the MILP's 16 capacities there (benchmarks/scaling.py:
# GEMM 55440^3, 4.1e7 steps, 14 s against 28 s).
AUTO_ENUMERATION = 50_000_000


def choose_method(problem: Einsum, mapspace, method: str | None) -> str:
    """"milp" or "enumerate" for one Einsum: ``method``, or for "auto" the enumerator where it
    covers the mapspace within ``AUTO_ENUMERATION`` estimated steps."""
    method = "milp" if method is None else method
    if method not in METHODS:
        raise BoundsolverError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if method != "auto":
        return method
    from . import fastnest
    from .enumerate import _work

    space = mapspace_of(mapspace)
    if space.is_orojenesis:
        return "enumerate" if _work(problem) <= AUTO_ENUMERATION else "milp"
    # fastnest bounds its own work (and the caller falls back to the MILP where it refuses).
    return "enumerate" if fastnest.applies(problem, space) else "milp"


def _enumerated(problem: Einsum, mapspace, caps: list[int] | None,
                optional: bool) -> pd.DataFrame | None:
    """The frontier by enumeration, or with ``caps`` its value at each capacity (a staircase
    answers every capacity: the last breakpoint at or below it). ``optional`` ("auto"): None
    where the enumerator refuses the problem as too large, so that the MILP takes it."""
    from .enumerate import frontier_points

    check_size(problem)
    space = mapspace_of(mapspace)
    start = time.perf_counter()
    try:
        points = frontier_points(problem, space, limit=AUTO_ENUMERATION) if space.is_orojenesis \
            else frontier_points(problem, space)
    except EnumerationTooLarge:
        if optional:
            return None
        raise
    elapsed = time.perf_counter() - start
    attrs = dict(method="enumeration", mapspace=str(space), seconds=elapsed)
    if caps is None:
        rows = [point_row(problem, m, c) | {"solve_seconds": elapsed / len(points)}
                for m, c in points]
        return frame(problem, rows, capacity=False, **attrs)
    rows = []
    for cap in caps:
        fit = [(m, c) for m, c in points if c.occupancy <= cap]
        row = point_row(problem, *fit[-1]) if fit else {"status": Status.INFEASIBLE.value}
        rows.append({"capacity": cap, "solve_seconds": elapsed / len(caps)} | row)
    return frame(problem, rows, capacity=True, **attrs)


def _arch(arch):
    from .arch import Arch
    from .specs import load_arch

    return arch if isinstance(arch, Arch) or arch is None else load_arch(arch)


def _hierarchy(problem, arch, method, mapspace, fusion=None):
    """hierarchy.solve with the mapspace's placement where ``arch`` has more than one buffer
    level (or bypass, or fanout); None for the paper's machine, whose curves are today's, bit
    for bit. Its joint bound is enumerated (small problems) or solved by the multi-level MILP
    (levels.py);
    ``mapspace="per_tensor/perfect"`` places each copy at its own depth within its level
    (hierarchy.per_tensor_points, enumerated only: the MILP refuses it). A workload runs its
    Einsums one after another (``fusion=False``; fused mappings on hierarchies are refused)."""
    arch = _arch(arch)
    if arch is None or arch.is_single_buffer:
        return None
    space = mapspace_of(mapspace)
    if space.factors != "perfect":
        raise BoundsolverError(
            f"{arch.name} has several levels: its joint bound covers perfect factors (uniform "
            "or per_tensor placement within each level); richer inner mapspaces are not "
            "modelled on hierarchies yet")
    from functools import partial

    from . import hierarchy

    if isinstance(problem, Workload):
        if fusion:
            raise BoundsolverError(
                f"fused mappings on a multi-level architecture ({arch.name}) are not modelled "
                "yet; pass fusion=False (each Einsum alone on the hierarchy, summed)")
        return partial(hierarchy.solve_workload, placement=space.placement)
    # per_tensor: each copy at its own depth within its level (enumerated only, so far).
    return partial(hierarchy.solve, placement=space.placement)


def _is_workload(problem, fusion, time_limit) -> bool:
    if not isinstance(problem, Workload):
        if fusion is not None:
            raise BoundsolverError("fusion= applies to workloads (bs.workload, load_problem of a "
                                   "workload file), not to a single Einsum")
        return False
    if time_limit is not None:
        raise BoundsolverError("time_limit is not supported for workloads: their curves are "
                               "always solved to optimality")
    return True


def walk(ps: PointSolver, step=lambda: None) -> list[Answer]:
    """The ε-constraint walk of :func:`pareto_frontier`: its answers in increasing occupancy, the
    first of them a ``time_limit`` answer if a limit cut the walk."""
    answers: list[Answer] = []
    capacity: float = math.inf
    while True:
        first = ps.min_accesses(capacity)
        if first.status is not Status.OPTIMAL:
            if first.status is Status.TIME_LIMIT:
                answers.append(first)  # say so, never guess the rest
            break
        second = ps.min_occupancy(first.point.cost.accesses, capacity)
        if second.status is not Status.OPTIMAL:
            answers.append(Answer(Status.TIME_LIMIT, first.point, second.seconds,
                                  first.point.cost.accesses))
            break
        answers.append(Answer(second.status, second.point, second.seconds + first.seconds))
        capacity = second.point.cost.occupancy - 1
        step()
    return answers[::-1]


def _progress(total: int | None, enabled: bool, problem: Einsum):
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not enabled, desc=problem.name or "curve", unit="pt",
                leave=False)
