"""Solving: exact curve points, ``solve_curve`` over capacities, and the Pareto frontier walk.

Every point is verified: the solver must prove optimality (gap 0), and the decoded mapping,
re-evaluated in Python integers by ``cost.evaluate``, must reproduce the solver's value.
"""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Iterable

import pandas as pd

from .cost import Cost, Mapping, evaluate
from .einsum import Einsum
from .errors import BoundsolverError, EinsumError, SolverError
from .formulation import Formulation
from .results import Status, frame, point_row
from .solvers import SOLVERS, backend


class PointSolver:
    """One problem's MILP, built once, answering the two ε-constraint questions."""

    def __init__(self, problem: Einsum, solver: str = "highs", time_limit: float | None = None,
                 threads: int = 1):
        if not isinstance(problem, Einsum):
            raise EinsumError(f"expected an Einsum (bs.gemm, bs.conv, bs.einsum, ...), got "
                              f"{type(problem).__name__}")
        if not isinstance(solver, str) or solver.lower() not in SOLVERS:
            raise SolverError(f"unknown solver {solver!r}; choose one of: {', '.join(SOLVERS)}")
        if time_limit is not None and not (isinstance(time_limit, numbers.Real) and time_limit > 0):
            raise SolverError(f"time_limit must be a positive number of seconds, got {time_limit!r}")
        start = time.perf_counter()
        self.problem = problem
        self.form = Formulation(problem)
        self.backend = backend(solver, self.form.m, threads)
        self.solver = solver.lower()
        self.time_limit = time_limit
        self.build_seconds = time.perf_counter() - start

    def _run(self, objective: str, capacity: int | None, traffic: int | None, start=None):
        f = self.form
        inf = math.inf
        bounds = {
            f.capacity_row: (-inf, f.row_bound("occupancy", capacity) if capacity is not None
                             else inf),
            f.traffic_row: (-inf, f.row_bound("accesses", traffic) if traffic is not None else inf),
        }
        return self.backend.solve(f.scaled(objective), bounds, self.time_limit, start)

    def min_accesses(self, capacity: int | None) -> tuple[dict, Mapping | None, Cost | None]:
        """Least accesses with occupancy <= capacity."""
        out = self._run("accesses", capacity, None)
        self.last_x = out.x
        return self._finish(out, "accesses", lambda c: capacity is None or c.occupancy <= capacity)

    def min_occupancy(self, traffic: int | None, start=None) -> tuple[dict, Mapping | None,
                                                                      Cost | None]:
        """Least occupancy with accesses <= traffic; ``start`` a feasible solution vector."""
        out = self._run("occupancy", None, traffic, start)
        return self._finish(out, "occupancy", lambda c: traffic is None or c.accesses <= traffic)

    def _finish(self, out, objective: str, feasible):
        row: dict = {"status": out.status.value, "solve_seconds": out.seconds}
        if out.status is Status.INFEASIBLE:
            return row, None, None
        mapping = self.form.decode(out.x) if out.x is not None else None
        cost = evaluate(self.problem, mapping) if mapping is not None else None
        if out.status is Status.TIME_LIMIT:
            if objective == "accesses":
                row["best_bound"] = (self.form.unscale(objective, out.bound)
                                     if out.bound is not None else math.nan)
                row["incumbent"] = cost.accesses if cost and feasible(cost) else None
            return row, None, None
        claimed = self.form.unscale(objective, out.objective)
        got = cost.accesses if objective == "accesses" else cost.occupancy
        if not feasible(cost) or abs(got - claimed) > 0.5:
            raise SolverError(
                f"{self.solver} reported {objective} {claimed:.6g} for {self.problem.name or self.problem}"
                f" but its mapping {mapping.describe(self.problem)} re-evaluates to occupancy "
                f"{cost.occupancy}, accesses {cost.accesses}; refusing to report an unverified point")
        if out.bound is not None and abs(self.form.unscale(objective, out.bound) - claimed) >= (
                self.form.accesses_scale if objective == "accesses" else self.form.occupancy_scale):
            raise SolverError(f"{self.solver} claimed optimality with a gap ({out.bound} vs "
                              f"{out.objective}, scaled units)")
        return row | point_row(self.problem, mapping, cost), mapping, cost


def _capacity(c: object) -> int:
    if isinstance(c, bool) or not isinstance(c, numbers.Real) or not math.isfinite(c) or c <= 0:
        raise BoundsolverError(f"capacity must be a positive number of words, got {c!r}")
    if c < 1:
        raise BoundsolverError(f"capacity {c!r} is below one word")
    return int(math.floor(c))


def solve_curve(problem: Einsum, capacities: Iterable[float], solver: str = "highs",
                time_limit: float | None = None, progress: bool = False) -> pd.DataFrame:
    """Least accesses at each capacity (words), one row per capacity in the given order.

    Capacities are floored to whole words. A capacity below the smallest possible occupancy gives a
    row with status ``infeasible``. A point solved at capacity S with occupancy o also answers every
    capacity in [o, S] exactly (the curve is a staircase), so those are not re-solved.
    """
    if isinstance(capacities, (str, bytes)) or not isinstance(capacities, Iterable):
        raise BoundsolverError(f"capacities must be a sequence of numbers, got {capacities!r}")
    caps = [_capacity(c) for c in capacities]
    ps = PointSolver(problem, solver, time_limit)
    results: dict[int, dict] = {}
    covered: list[tuple[int, int, dict]] = []  # (occupancy, capacity, row) exact for the interval
    bar = _progress(len(set(caps)), progress, problem)
    for cap in sorted(set(caps), reverse=True):
        hit = next((r for lo, hi, r in covered if lo <= cap <= hi), None)
        if hit is None:
            hit, _, cost = ps.min_accesses(cap)
            if cost is not None:
                covered.append((cost.occupancy, cap, hit))
        results[cap] = hit
        bar.update()
    bar.close()
    rows = [{"capacity": c} | results[c] for c in caps]
    return frame(problem, rows, capacity=True, method="milp", solver=ps.solver,
                 build_seconds=ps.build_seconds)


def pareto_frontier(problem: Einsum, solver: str = "highs", time_limit: float | None = None,
                    progress: bool = False) -> pd.DataFrame:
    """Every breakpoint of the staircase, traced by the MILP (ε-constraint walk).

    From the largest capacity down: least accesses A under capacity S, then least occupancy o with
    accesses <= A gives the breakpoint (o, A); continue with S = o - 1 until infeasible.
    """
    start = time.perf_counter()
    ps = PointSolver(problem, solver, time_limit)
    rows: list[dict] = []
    capacity: int | None = None
    bar = _progress(None, progress, problem)
    while True:
        first, _, cost = ps.min_accesses(capacity)
        if cost is None:
            if first["status"] != Status.INFEASIBLE.value:
                rows.append(first)  # a time limit: say so, never guess the rest
            break
        row, _, point = ps.min_occupancy(cost.accesses, start=ps.last_x)
        if point is None:
            rows.append(row)
            break
        row["solve_seconds"] += first["solve_seconds"]
        rows.append(row)
        capacity = point.occupancy - 1
        bar.update()
    bar.close()
    rows.reverse()
    return frame(problem, rows, capacity=False, method="milp", solver=ps.solver,
                 build_seconds=ps.build_seconds, seconds=time.perf_counter() - start)


def _progress(total: int | None, enabled: bool, problem: Einsum):
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not enabled, desc=problem.name or "curve", unit="pt",
                leave=False)
