"""One Einsum on one buffer: exact curve points (:class:`PointSolver`), the Pareto walk, and the
Einsum's curve and frontier by the MILP or by enumeration (:func:`choose_method`).

Every point is verified: the solver must prove optimality (gap 0), and the decoded mapping,
re-evaluated in Python integers by ``cost.evaluate`` (a Mapping or a Nest alike), must
reproduce the solver's value. The class-solving loop is the tracer's
(tracer.py); this module supplies the one-buffer questions. Workloads (fused.py) trace each
Einsum's sub-problems with it; solve.py routes the public entry points here.
"""

from __future__ import annotations

import math
import numbers
import time
from dataclasses import dataclass

import pandas as pd

from ..errors import BoundsolverError, EinsumError, EnumerationTooLarge, SolverError
from ..milp.formulation import Formulation, NestFormulation
from ..milp.solvers import solver_name
from ..milp.tracer import ClassSolver
from ..model.cost import Cost, Mapping, Nest, check_size, evaluate
from ..model.einsum import Einsum
from ..model.mapspace import (
    Mapspace,
    distinct_classes,
    looping_ranks,
    mapspace_of,
    nest_classes,
    order_classes,
)
from ..model.results import Status, frame, point_row
from .methods import AUTO_ENUMERATION, METHODS, choose_method, enumeration  # noqa: F401 (home: methods.py)


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


def check_time_limit(time_limit: object) -> None:
    """None or a positive number of seconds (``math.inf`` too); NaN, 0, -1, "5" refused."""
    if time_limit is not None and (isinstance(time_limit, bool) or not (
            isinstance(time_limit, numbers.Real) and time_limit > 0)):
        raise SolverError(f"time_limit must be a positive number of seconds, got {time_limit!r}")


class PointSolver(ClassSolver):
    """The MILPs of one problem, one per order class, answering the ε-constraint questions.

    The least accesses at capacity S is the least over order classes. Classes are solved in order
    of their lower bounds, each with the incumbent as a cut-off, and a class whose bound reaches
    the incumbent is skipped. Bounds carry over to smaller capacities (a class's least accesses
    only grows as S shrinks), so a sweep downwards solves few classes per point. Questions name
    the limits ``occupancy`` (the capacity) and ``accesses`` (the traffic); a time limit ends a
    question with the incumbent and the best bound.
    """

    partial = True
    kept_bounds = 0  # a sweep runs downwards: the newest bound holds at every smaller capacity
    no_bound = 0.0  # accesses are never negative

    def __init__(self, problem: Einsum, solver: str = "highs", time_limit: float | None = None,
                 threads: int = 1, mapspace: Mapspace | str | None = None):
        if not isinstance(problem, Einsum):
            raise EinsumError(f"expected an Einsum (bs.gemm, bs.conv, bs.einsum, ...), got "
                              f"{type(problem).__name__}")
        check_time_limit(time_limit)
        start = time.perf_counter()
        check_size(problem)
        solver = solver_name(solver)
        self.mapspace = mapspace_of(mapspace)
        ranks = looping_ranks(problem)
        if self.mapspace.is_orojenesis:
            classes = distinct_classes(problem, ranks, order_classes(problem, ranks))
            self.forms = [Formulation(problem, c, ranks) for c in classes]
        else:
            classes = nest_classes(problem, ranks, self.mapspace)
            self.forms = [NestFormulation(problem, c, self.mapspace, ranks) for c in classes]
        super().__init__(problem, classes, solver, threads, time_limit)
        self._forms = dict(enumerate(self.forms))
        self.build_seconds = time.perf_counter() - start

    def evaluate(self, mapping: Mapping | Nest) -> Cost:
        """The cost model of the mapspace, in Python integers."""
        if isinstance(mapping, Nest):
            return evaluate(self.problem, mapping, imperfect=self.mapspace.factors == "imperfect")
        return evaluate(self.problem, mapping)

    def _best_known(self, key, feasible) -> Point | None:
        return min((p for p in self.known if feasible(p.cost)), key=key, default=None)

    def min_accesses(self, capacity: float = math.inf) -> Answer:
        """Least accesses with occupancy <= capacity."""
        began = time.perf_counter()
        inc = self._best_known(lambda p: (p.cost.accesses, p.cost.occupancy),
                               lambda cost: cost.occupancy <= capacity)
        at = {"occupancy": capacity}  # where the accesses bounds hold

        def lower(c: int) -> float:
            return self.lower(c, "accesses", at)

        for c in range(len(self.classes)):
            if inc is None or lower(c) < inc.cost.accesses:
                bound = self._relaxation(c, "accesses", {"occupancy": capacity, "accesses": math.inf})
                self._record(c, "accesses", at, max(bound, lower(c)))
        open_bounds: list[float] = []
        for c in sorted(range(len(self.classes)), key=lower):
            if lower(c) == math.inf or (inc is not None and lower(c) >= inc.cost.accesses):
                continue
            cutoff = inc.cost.accesses - 1 if inc is not None else math.inf
            out, point, value = self._solve(c, "accesses",
                                            {"occupancy": capacity, "accesses": cutoff}, began)
            if out.status is Status.OPTIMAL:
                if inc is None or point.cost.accesses < inc.cost.accesses:
                    inc = point
                self._record(c, "accesses", at, value)
            elif out.status is Status.INFEASIBLE:
                self._record(c, "accesses", at, cutoff + 1)
            else:
                bound = lower(c)
                if out.bound is not None:
                    bound = max(bound, self.form(c).unscale("accesses", out.bound))
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
        at = {"occupancy": capacity}
        candidates = []
        for c in range(len(self.classes)):
            if self.lower(c, "accesses", at) > traffic:
                continue
            bound = self._relaxation(c, "occupancy", {"occupancy": capacity, "accesses": traffic})
            if inc is None or bound < inc.cost.occupancy:
                candidates.append((bound, c))
        timed_out = False
        for bound, c in sorted(candidates):
            cap = inc.cost.occupancy - 1 if inc is not None else capacity
            if bound > cap:
                continue
            out, point, _ = self._solve(c, "occupancy", {"occupancy": cap, "accesses": traffic},
                                        began)
            if out.status is Status.OPTIMAL:
                inc = point
            elif out.status is Status.TIME_LIMIT:
                timed_out = True
        seconds = time.perf_counter() - began
        if timed_out:
            return Answer(Status.TIME_LIMIT, inc, seconds)
        return Answer(Status.OPTIMAL if inc else Status.INFEASIBLE, inc, seconds)

    # ----------------------------------------------------------------------------- the tracer's hooks
    def _costed(self, c: int, x) -> tuple:
        mapping = self.forms[c].decode(x)
        cost = self.evaluate(mapping)
        formula = dict(zip(("occupancy", "accesses"), self.forms[c].value(mapping)))
        return (Point(mapping, cost, c), {"occupancy": cost.occupancy, "accesses": cost.accesses},
                formula)

    def _describe(self, point: Point) -> str:
        return f"mapping {point.mapping.describe(self.problem)}"

    def _subject(self, c: int, objective: str) -> str:
        return f"{self.problem.name or self.problem}'s mapping under its order class"

    def _question(self, c: int, objective: str, limits: dict) -> str:
        """The sub-problem of a solve in words: the Einsum, the class, the question."""
        cls = self.classes[c]
        if hasattr(cls, "groups"):
            names = [T.name for T in self.problem.tensors]
            where = ", ".join(f"{names[i]} at {b}" for b, g in enumerate(cls.groups) for i in g)
            orders = " / ".join(",".join(s.order) for s in cls.segments)
            what = f"nest class {c} of {len(self.classes)}: storage {where}; loop orders {orders or '-'}"
        else:
            what = f"order class {c} of {len(self.classes)}: loop order {','.join(cls.order) or '-'}"
        limit = self._limit_words(limits, ("occupancy", "accesses"))
        goal = objective if objective == "any point" else f"least {objective}"
        return f"{self._problem_words()}, mapspace {self.mapspace}, {what}; {goal} with {limit}"


def walk(ps: PointSolver, step=lambda: None) -> list[Answer]:
    """The ε-constraint walk of :func:`frontier`: its answers in increasing occupancy, the
    first of them a ``time_limit`` answer if a limit cut the walk.

    From the largest capacity down: least accesses A under capacity S, then least occupancy o
    with accesses <= A gives the breakpoint (o, A); continue with S = o - 1 until infeasible."""
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


# ------------------------------------------------------------------------------------ one Einsum
def _by_enumeration(problem: Einsum, mapspace, caps: list[int] | None, method: str | None,
                    time_limit: float | None, progress: bool) -> pd.DataFrame | None:
    """The enumerator's table where the method picks it (None: the MILP's turn, also where
    "auto" finds the enumerator refusing the problem as too large). Enumeration cannot stop at
    a time limit: it refuses one."""
    if choose_method(problem, mapspace, method, time_limit,
                     None if caps is None else len(caps)) != "enumerate":
        return None
    if time_limit is not None:
        raise BoundsolverError("time_limit applies to the MILP (method='milp' or 'auto'); "
                               "enumeration always runs to the end")
    bar = _progress(1, progress, problem)  # one step: the enumeration
    out = enumerated(problem, mapspace, caps, method in (None, "auto"))
    if out is not None:
        bar.update()
    bar.close()
    return out


def curve(problem: Einsum, caps: list[int], solver: str = "highs",
          time_limit: float | None = None, progress: bool = False,
          mapspace: Mapspace | str | None = None, method: str = "auto") -> pd.DataFrame:
    """Least accesses at each capacity (whole words), one row per capacity in the given order:
    one Einsum, one buffer (``solve.solve_curve`` for an Einsum on the paper's machine)."""
    by_enumeration = _by_enumeration(problem, mapspace, caps, method, time_limit, progress)
    if by_enumeration is not None:
        return by_enumeration
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


def frontier(problem: Einsum, solver: str = "highs", time_limit: float | None = None,
             progress: bool = False, mapspace: Mapspace | str | None = None,
             method: str = "auto") -> pd.DataFrame:
    """Every breakpoint of one Einsum's staircase on one buffer, in increasing occupancy
    (``solve.pareto_frontier`` for an Einsum on the paper's machine)."""
    by_enumeration = _by_enumeration(problem, mapspace, None, method, time_limit, progress)
    if by_enumeration is not None:
        return by_enumeration
    start = time.perf_counter()
    ps = PointSolver(problem, solver, time_limit, mapspace=mapspace)
    bar = _progress(None, progress, problem)
    rows = [a.row(problem) for a in walk(ps, bar.update)]
    bar.close()
    return frame(problem, rows, capacity=False, method="milp", solver=ps.solver,
                 mapspace=str(ps.mapspace),
                 build_seconds=ps.build_seconds, seconds=time.perf_counter() - start)


def enumerated(problem: Einsum, mapspace, caps: list[int] | None,
               optional: bool) -> pd.DataFrame | None:
    """The frontier by enumeration, or with ``caps`` its value at each capacity (a staircase
    answers every capacity: the last breakpoint at or below it). ``optional`` ("auto"): None
    where the enumerator refuses the problem as too large, so that the MILP takes it."""
    check_size(problem)
    space = mapspace_of(mapspace)
    start = time.perf_counter()
    try:
        points = enumeration(problem, space)
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


def _progress(total: int | None, enabled: bool, problem: Einsum):
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not enabled, desc=problem.name or "curve", unit="pt",
                leave=False)
