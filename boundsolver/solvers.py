"""MILP backends behind one interface: the model is passed once, then re-solved with new bounds.

Every backend solves to a relative and absolute gap of 0 with tight tolerances; objectives are
scaled by the gcd of their integer coefficients so that values stay small (model.md: coefficients
span 1 to 1e12, and HiGHS's default 1e-4 gap has returned wrong points on GEMM 4096^3).
"""

from __future__ import annotations

import contextlib
import math
import re
import time
import warnings
from dataclasses import dataclass

import numpy as np

from .errors import SolverError
from .formulation import Milp
from .results import Status

TOLERANCE = 1e-9


@dataclass(frozen=True)
class Outcome:
    """What a backend returns: status, solution vector, objective and best bound (scaled units)."""

    status: Status
    x: np.ndarray | None
    objective: float | None
    bound: float | None
    seconds: float


class HighsBackend:
    """HiGHS in-process through highspy; the model is built once and only bounds change."""

    name = "highs"

    def __init__(self, milp: Milp, threads: int = 1):
        import highspy

        self._hs = highspy
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        for opt, val in (("mip_rel_gap", 0.0), ("mip_abs_gap", 0.0), ("random_seed", 0),
                         ("mip_feasibility_tolerance", TOLERANCE),
                         ("primal_feasibility_tolerance", TOLERANCE), ("threads", threads),
                         # These models are small and their LP nearly integral: presolve and
                         # primal heuristics cost more than they save (measured, benchmarks/).
                         ("presolve", "off"), ("mip_heuristic_run_feasibility_jump", False),
                         ("mip_heuristic_run_rens", False), ("mip_heuristic_run_rins", False),
                         ("mip_heuristic_run_root_reduced_cost", False),
                         ("mip_heuristic_run_shifting", False),
                         ("mip_heuristic_run_zi_round", False)):
            h.setOptionValue(opt, val)
        self.presolve = milp.presolve
        if milp.presolve:
            h.setOptionValue("presolve", "on")
        n = len(milp.names)
        inf = highspy.kHighsInf
        h.addVars(n, np.array(milp.lower, float), np.array(milp.upper, float))
        ints = np.array([i for i in range(n) if milp.integer[i]], dtype=np.int32)
        if len(ints):
            h.changeColsIntegrality(len(ints), ints,
                                    np.array([highspy.HighsVarType.kInteger] * len(ints)))
        for _name, coefs, lo, hi in milp.rows:
            idx = np.array(list(coefs), dtype=np.int32)
            h.addRow(max(lo, -inf), min(hi, inf), len(idx), idx,
                     np.array(list(coefs.values()), dtype=float))
        self.h, self.n = h, n

    def solve(self, cost: dict[int, float], bounds: dict[int, tuple[float, float]],
              time_limit: float | None) -> Outcome:
        h, hs = self.h, self._hs
        c = np.zeros(self.n)
        for i, v in cost.items():
            c[i] = v
        h.changeColsCost(self.n, np.arange(self.n, dtype=np.int32), c)
        for row, (lo, hi) in bounds.items():
            h.changeRowBounds(row, max(lo, -hs.kHighsInf), min(hi, hs.kHighsInf))
        h.setOptionValue("time_limit", float(time_limit) if time_limit else hs.kHighsInf)
        began = time.perf_counter()
        h.run()
        status = h.getModelStatus()
        if status == hs.HighsModelStatus.kSolveError and self.presolve:
            # HiGHS 1.x presolve occasionally fails on these models (a small stride-2 conv):
            # solve that one again without it.
            h.setOptionValue("presolve", "off")
            h.run()
            h.setOptionValue("presolve", "on")
            status = h.getModelStatus()
        seconds = time.perf_counter() - began
        info = h.getInfo()
        has_x = info.primal_solution_status == 2  # kSolutionStatusFeasible
        x = np.array(h.getSolution().col_value) if has_x else None
        obj = info.objective_function_value if has_x else None
        bound = info.mip_dual_bound if math.isfinite(info.mip_dual_bound) else None
        if status == hs.HighsModelStatus.kOptimal:
            return Outcome(Status.OPTIMAL, x, obj, bound, seconds)
        if status == hs.HighsModelStatus.kInfeasible:
            return Outcome(Status.INFEASIBLE, None, None, None, seconds)
        if status in (hs.HighsModelStatus.kTimeLimit, hs.HighsModelStatus.kInterrupt):
            return Outcome(Status.TIME_LIMIT, x, obj, bound, seconds)
        raise SolverError(f"HiGHS ended with status {h.modelStatusToString(status)}")


class CbcBackend:
    """CBC, the binary bundled with PuLP 3.x, run as a subprocess per solve."""

    name = "cbc"

    def __init__(self, milp: Milp, threads: int = 1):
        with _quiet_pulp():
            self._build(milp, threads)

    def _build(self, milp: Milp, threads: int) -> None:
        import pulp

        self._pulp = pulp
        cbc = pulp.PULP_CBC_CMD(msg=False)
        if not cbc.available():
            raise SolverError("CBC is not available: PuLP 3.x bundles it (pip install 'pulp<3.4'); "
                              "or use solver='highs'")
        self.threads = threads
        self.vars = [pulp.LpVariable(f"x{i}_{_safe(milp.names[i])}", lo, hi,
                                     cat=pulp.LpInteger if milp.integer[i] else pulp.LpContinuous)
                     for i, (lo, hi) in enumerate(zip(milp.lower, milp.upper))]
        self.rows = []
        for k, (name, coefs, lo, hi) in enumerate(milp.rows):
            expr = pulp.LpAffineExpression([(self.vars[i], c) for i, c in coefs.items()])
            self.rows.append((f"r{k}_{_safe(name)}", expr, lo, hi))

    def solve(self, cost: dict[int, float], bounds: dict[int, tuple[float, float]],
              time_limit: float | None) -> Outcome:
        with _quiet_pulp():
            return self._solve(cost, bounds, time_limit)

    def _solve(self, cost, bounds, time_limit) -> Outcome:
        pulp = self._pulp
        prob = pulp.LpProblem("boundsolver", pulp.LpMinimize)
        prob += pulp.LpAffineExpression([(self.vars[i], v) for i, v in cost.items()])
        for k, (name, expr, lo, hi) in enumerate(self.rows):
            lo, hi = bounds.get(k, (lo, hi))
            if lo == hi:
                prob += pulp.LpConstraint(expr, pulp.LpConstraintEQ, name, lo)
                continue
            if math.isfinite(lo):
                prob += pulp.LpConstraint(expr, pulp.LpConstraintGE, name + "_lo", lo)
            if math.isfinite(hi):
                prob += pulp.LpConstraint(expr, pulp.LpConstraintLE, name + "_hi", hi)
        cmd = pulp.PULP_CBC_CMD(msg=False, gapRel=0, gapAbs=0, threads=self.threads,
                                timeLimit=time_limit,
                                options=[f"primalTolerance {TOLERANCE}",
                                         f"integerTolerance {TOLERANCE}"])
        start = time.perf_counter()
        try:
            prob.solve(cmd)
        except pulp.PulpSolverError as err:
            raise SolverError(f"CBC failed to run: {err}") from None
        seconds = time.perf_counter() - start
        x = np.array([v.varValue if v.varValue is not None else 0.0 for v in self.vars])
        if prob.status == pulp.LpStatusInfeasible:
            return Outcome(Status.INFEASIBLE, None, None, None, seconds)
        if prob.status == pulp.LpStatusOptimal and prob.sol_status == pulp.LpSolutionOptimal:
            obj = float(pulp.value(prob.objective) or 0.0)
            return Outcome(Status.OPTIMAL, x, obj, obj, seconds)
        if prob.sol_status == pulp.LpSolutionIntegerFeasible:
            return Outcome(Status.TIME_LIMIT, x, float(pulp.value(prob.objective) or 0.0), None,
                           seconds)
        if time_limit and prob.status == pulp.LpStatusNotSolved:
            return Outcome(Status.TIME_LIMIT, None, None, None, seconds)
        raise SolverError(f"CBC ended with status {pulp.LpStatus[prob.status]}")


@contextlib.contextmanager
def _quiet_pulp():
    """PuLP 3.x announces its 4.0 API on every call; users of boundsolver cannot act on that."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"pulp(\.|$)")
        yield


def _safe(name: str) -> str:
    """CBC's file formats want plain names; the index prefix keeps them unique."""
    return re.sub(r"\W", "_", name)[:40]


SOLVERS = {"highs": HighsBackend, "cbc": CbcBackend}


def solver_name(name: object) -> str:
    """``name`` as a key of ``SOLVERS``, or a clear error naming the choices."""
    if not isinstance(name, str) or name.lower() not in SOLVERS:
        raise SolverError(f"unknown solver {name!r}; choose one of: {', '.join(SOLVERS)}")
    return name.lower()


def backend(name: str, milp: Milp, threads: int = 1):
    """Instantiate the backend called ``name`` (see ``SOLVERS``)."""
    return SOLVERS[solver_name(name)](milp, threads)
