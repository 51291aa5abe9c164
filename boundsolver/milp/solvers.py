"""MILP backends behind one interface: the model is passed once, then re-solved with new bounds.

Every backend solves to a relative and absolute gap of 0 with tight tolerances; objectives are
scaled by the gcd of their integer coefficients so that values stay small (model.md: coefficients
span 1 to 1e12, and HiGHS's default 1e-4 gap has returned wrong points on GEMM 4096^3).
"""

from __future__ import annotations

import contextlib
import decimal
import functools
import logging
import math
import re
import sys
import time
import warnings
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..errors import SolverError
from ..model.results import Status
from .formulation import INTEGRALITY, Milp

TOLERANCE = INTEGRALITY

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """What a backend returns: status, solution vector, objective and best bound (scaled units)."""

    status: Status
    x: np.ndarray | None
    objective: float | None
    bound: float | None
    seconds: float
    # The attempts that failed before this answer, each "how: status" (HiGHS's retry ladder).
    failed: tuple[str, ...] = ()


SCALE_BITS = 20  # rows and objectives reach a solver with coefficients below 2**SCALE_BITS


class Scaled:
    """The model as a solver sees it: each row and the objective divided by a power of two so
    their coefficients stay below ``2**SCALE_BITS``, and every inequality rounded outwards.

    The model's rows hold integers up to about 2**63 (traffic of large problems); a solver
    computing in float64 with absolute tolerances of 1e-9 declares such rows infeasible when
    they are not (HiGHS and CBC both did, on GEMM 1062882x390625x823543). Dividing by a power
    of two loses no bit; where a coefficient still cannot be held exactly (past 2**53, or past
    ``digits`` significant decimal digits for a solver read from a text file) it is rounded
    towards zero and the bound away from it, so a row admits every point that meets it
    exactly. What else it admits, the tracer (tracer.py) cuts off in integers.
    """

    def __init__(self, milp: Milp, digits: int | None = None):
        self.digits = digits
        self.shift = [_shift(coefs.values()) for _name, coefs, _lo, _hi in milp.rows]
        self.rows = []
        for (name, coefs, lo, hi), k in zip(milp.rows, self.shift):
            exact = lo == hi
            if exact and k:
                raise SolverError(f"equality row {name} has coefficients too large to scale")
            self.rows.append((name, {i: self.value(c, k, up=c < 0) for i, c in coefs.items()},
                              *self.bounds(len(self.rows), lo, hi)))

    def value(self, v, k: int, up: bool) -> float:
        """``v / 2**k`` as a float (with ``digits``: a decimal), rounded up or down."""
        if not math.isfinite(v):
            return v
        if self.digits is None and (type(v) is float or (type(v) is int and abs(v) <= 2**53)):
            # exact: v is a float already, and dividing by a power of two only moves the
            # exponent while the result stays normal (the Fraction path's answer, ~30x faster:
            # building the MILPs of fused leaves spent a quarter of their time here)
            f = math.ldexp(float(v), -k)
            if f == 0.0 == v or abs(f) >= sys.float_info.min:
                return f
        q = Fraction(v) / (1 << k)
        if self.digits is not None:
            with decimal.localcontext() as ctx:
                ctx.prec = self.digits
                ctx.rounding = decimal.ROUND_CEILING if up else decimal.ROUND_FLOOR
                q = Fraction(decimal.Decimal(q.numerator) / decimal.Decimal(q.denominator))
        f = float(q)
        if up and f < q:
            f = math.nextafter(f, math.inf)
        elif not up and f > q:
            f = math.nextafter(f, -math.inf)
        return f

    def bounds(self, row: int, lo: float, hi: float) -> tuple[float, float]:
        k = self.shift[row]
        return self.value(lo, k, up=False), self.value(hi, k, up=True)

    @staticmethod
    def objective(cost: dict[int, float]) -> tuple[dict[int, float], int]:
        """The objective divided by ``2**k`` (returned): values stay near ``2**SCALE_BITS``."""
        k = _shift(cost.values())
        return {i: math.ldexp(float(v), -k) for i, v in cost.items()}, k


def _shift(coefs) -> int:
    top = max((abs(c) for c in coefs), default=0)
    return max(0, int(top).bit_length() - SCALE_BITS)


class _Unsolved(Exception):
    """One attempt of the retry ladder ended without an answer; the message is its status."""


@functools.cache
def _quiet_highs():
    """A subclass of ``highspy.Highs`` that never prints, not even the banner.

    highspy prints "Running HiGHS ... Copyright" when its constructor installs its callbacks
    (``enableCallbacks``), before any option could be set on the object; this class turns the
    output off just before that.
    """
    import highspy

    class QuietHighs(highspy.Highs):
        def enableCallbacks(self):
            self.setOptionValue("output_flag", False)
            super().enableCallbacks()

    return QuietHighs


class HighsBackend:
    """HiGHS in-process through highspy; the model is built once and only bounds change.

    HiGHS 1.16 sometimes ends a re-solve with a status that is no answer (``Solve error``,
    ``Unknown``: seen on the LP relaxations of per-tensor nest classes, re-solved from the basis
    of the previous question). ``solve`` then climbs a ladder of other ways: presolve toggled, a
    cold start (no basis), the primal simplex, the interior point method (LPs), a fresh HiGHS
    object, and finally CBC (``fallback``). Every answer is judged as before: only optimal,
    infeasible and time limit count. A ``SolverError`` lists the statuses seen when all fail.
    """

    name = "highs"

    def __init__(self, milp: Milp, threads: int = 1, fallback: bool = True):
        import highspy

        self._hs = highspy
        self.milp, self.threads, self.fallback = milp, threads, fallback
        self.n = len(milp.names)
        self.is_lp = not any(milp.integer)
        self.presolve = milp.presolve
        self.heuristics = milp.heuristics
        self.view = Scaled(milp)
        self._cost = np.zeros(self.n)
        self._cost_shift = 0
        self._row_bounds: dict[int, tuple[float, float]] = {}  # every row bound changed so far
        self._cuts: tuple = ()  # the current solve's extra rows
        self._cbc = None
        self.h = self._build()

    def _build(self):
        """A HiGHS object holding the model, with the configured options (and no output)."""
        hs = self._hs
        milp, n = self.milp, self.n
        h = _quiet_highs()()
        h.setOptionValue("output_flag", False)  # again, should a later highspy not call the hook
        for opt, val in (("mip_rel_gap", 0.0), ("mip_abs_gap", 0.0), ("random_seed", 0),
                         ("mip_feasibility_tolerance", TOLERANCE),
                         ("primal_feasibility_tolerance", TOLERANCE), ("threads", self.threads),
                         # These models are small and their LP nearly integral: presolve and
                         # primal heuristics cost more than they save (measured, benchmarks/).
                         ("presolve", "on" if self.presolve else "off"),
                         ("mip_heuristic_run_feasibility_jump", False),
                         ("mip_heuristic_run_rens", False), ("mip_heuristic_run_rins", False),
                         ("mip_heuristic_run_root_reduced_cost", False),
                         ("mip_heuristic_run_shifting", False),
                         ("mip_heuristic_run_zi_round", False)):
            if self.heuristics and opt.startswith("mip_heuristic_run_"):
                continue  # models whose feasible points are hard to find keep HiGHS's defaults
            h.setOptionValue(opt, val)
        inf = hs.kHighsInf
        h.addVars(n, np.array(milp.lower, float), np.array(milp.upper, float))
        ints = np.array([i for i in range(n) if milp.integer[i]], dtype=np.int32)
        if len(ints):
            h.changeColsIntegrality(len(ints), ints,
                                    np.array([hs.HighsVarType.kInteger] * len(ints)))
        for _name, coefs, lo, hi in self.view.rows:
            idx = np.array(list(coefs), dtype=np.int32)
            h.addRow(max(lo, -inf), min(hi, inf), len(idx), idx,
                     np.array(list(coefs.values()), dtype=float))
        return h

    def _load(self, h) -> None:
        """Put the current objective, every changed row bound and this solve's cuts into ``h``."""
        inf = self._hs.kHighsInf
        h.changeColsCost(self.n, np.arange(self.n, dtype=np.int32), self._cost)
        for row, (lo, hi) in self._row_bounds.items():
            lo, hi = self.view.bounds(row, lo, hi)
            h.changeRowBounds(row, max(lo, -inf), min(hi, inf))
        for coefs, hi in self._cuts:
            idx = np.array(list(coefs), dtype=np.int32)
            h.addRow(-inf, hi, len(idx), idx, np.array(list(coefs.values()), dtype=float))

    def solve(self, cost: dict[int, float], bounds: dict[int, tuple[float, float]],
              time_limit: float | None, cuts: tuple = ()) -> Outcome:
        """Minimise ``cost`` under the changed row ``bounds`` and, for this solve only, the
        extra rows ``cuts`` (each ``(coefficients, upper bound)``)."""
        self._cost = np.zeros(self.n)
        scaled, self._cost_shift = Scaled.objective(cost)
        for i, v in scaled.items():
            self._cost[i] = v
        self._row_bounds.update(bounds)
        self._cuts = tuple(cuts)
        self._load(self.h)
        try:
            return self._solve(time_limit)
        finally:
            if self._cuts:
                base = len(self.milp.rows)
                self.h.deleteRows(len(self._cuts), np.arange(base, base + len(self._cuts),
                                                             dtype=np.int32))
                self._cuts = ()

    def _solve(self, time_limit: float | None) -> Outcome:
        began = time.perf_counter()
        failed: list[str] = []
        for how, attempt in self._ladder():
            remaining = None
            if time_limit:
                remaining = time_limit - (time.perf_counter() - began)
                if remaining <= 0:
                    log.debug("HiGHS: time limit reached while retrying after %s", failed)
                    return Outcome(Status.TIME_LIMIT, None, None, None,
                                   time.perf_counter() - began, tuple(failed))
            try:
                out = attempt(remaining)
            except _Unsolved as why:
                failed.append(f"{how}: {why}")
                log.debug("HiGHS attempt %r ended without an answer: %s", how, why)
                continue
            if failed:
                log.debug("solved by attempt %r (%s) after %s", how, out.status.value,
                          "; ".join(failed))
            return Outcome(out.status, out.x, out.objective, out.bound,
                           time.perf_counter() - began, tuple(failed))
        raise SolverError("no attempt gave an answer: " + "; ".join(failed))

    def _ladder(self):
        """(how, attempt) in the order tried; an attempt returns an Outcome or raises _Unsolved."""
        other = "off" if self.presolve else "on"
        yield "HiGHS", lambda t: self._attempt(self.h, t, {})
        yield f"HiGHS, presolve {other}", lambda t: self._attempt(self.h, t, {"presolve": other})
        yield "HiGHS, cold start", lambda t: self._attempt(self.h, t, {}, cold=True)
        yield "HiGHS, primal simplex", lambda t: self._attempt(self.h, t, {"simplex_strategy": 4},
                                                               cold=True)
        if self.is_lp:
            yield "HiGHS, interior point", lambda t: self._attempt(self.h, t, {"solver": "ipm"},
                                                                   cold=True)
        yield "fresh HiGHS", self._fresh
        if self.fallback:
            yield "CBC", self._with_cbc

    def _fresh(self, time_limit: float | None) -> Outcome:
        """A new HiGHS object, which then replaces the old one (whatever state that was in)."""
        try:
            h = self._build()
            self._load(h)
        except Exception as err:  # noqa: BLE001 - no new object: the ladder goes on
            raise _Unsolved(f"{type(err).__name__}: {err}") from None
        self.h = h
        return self._attempt(h, time_limit, {})

    def _with_cbc(self, time_limit: float | None) -> Outcome:
        try:
            if self._cbc is None:
                self._cbc = CbcBackend(self.milp, self.threads)
            cost = {i: math.ldexp(v, self._cost_shift) for i, v in enumerate(self._cost)}
            return self._cbc.solve(cost, self._row_bounds, time_limit, self._cuts)
        except SolverError as err:
            raise _Unsolved(str(err)) from None

    def _run(self, h):
        """Run HiGHS on ``h``; its model status (the seam the tests use to simulate failures)."""
        h.run()
        return h.getModelStatus()

    def _attempt(self, h, time_limit: float | None, options: dict, cold: bool = False) -> Outcome:
        """One HiGHS run with ``options`` changed for it (then restored), from no basis if cold."""
        hs = self._hs
        saved = {opt: h.getOptionValue(opt)[1] for opt in options}
        for opt, val in options.items():
            h.setOptionValue(opt, val)
        h.setOptionValue("time_limit", float(time_limit) if time_limit else hs.kHighsInf)
        if cold:
            h.clearSolver()
        began = time.perf_counter()
        try:
            status = self._run(h)
        except Exception as err:  # noqa: BLE001 - any crash of one attempt: try the next
            raise _Unsolved(f"{type(err).__name__}: {err}") from None
        finally:
            for opt, val in saved.items():
                h.setOptionValue(opt, val)
        seconds = time.perf_counter() - began
        info = h.getInfo()
        has_x = info.primal_solution_status == 2  # kSolutionStatusFeasible
        x = np.array(h.getSolution().col_value) if has_x else None
        # Back to the caller's units (the objective was divided by 2**shift: exact).
        obj = math.ldexp(info.objective_function_value, self._cost_shift) if has_x else None
        bound = (math.ldexp(info.mip_dual_bound, self._cost_shift)
                 if math.isfinite(info.mip_dual_bound) else None)
        if status == hs.HighsModelStatus.kOptimal and has_x:
            return Outcome(Status.OPTIMAL, x, obj, bound, seconds)
        if status == hs.HighsModelStatus.kInfeasible:
            return Outcome(Status.INFEASIBLE, None, None, None, seconds)
        if status in (hs.HighsModelStatus.kTimeLimit, hs.HighsModelStatus.kInterrupt):
            return Outcome(Status.TIME_LIMIT, x, obj, bound, seconds)
        what = h.modelStatusToString(status)
        if status == hs.HighsModelStatus.kOptimal:
            what += " without a feasible solution"
        raise _Unsolved(what)


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
        # PuLP writes numbers with 13 significant digits ("% .12e" in its MPS writer).
        self.view = Scaled(milp, digits=13)
        self.rows = []
        for k, (name, coefs, lo, hi) in enumerate(self.view.rows):
            expr = pulp.LpAffineExpression([(self.vars[i], c) for i, c in coefs.items()])
            self.rows.append((f"r{k}_{_safe(name)}", expr, lo, hi))

    def solve(self, cost: dict[int, float], bounds: dict[int, tuple[float, float]],
              time_limit: float | None, cuts: tuple = ()) -> Outcome:
        with _quiet_pulp():
            return self._solve(cost, bounds, time_limit, cuts)

    def _solve(self, cost, bounds, time_limit, cuts) -> Outcome:
        pulp = self._pulp
        prob = pulp.LpProblem("boundsolver", pulp.LpMinimize)
        cost, shift = Scaled.objective(cost)
        prob += pulp.LpAffineExpression([(self.vars[i], v) for i, v in cost.items()])
        for k, (coefs, hi) in enumerate(cuts):
            expr = pulp.LpAffineExpression([(self.vars[i], c) for i, c in coefs.items()])
            prob += pulp.LpConstraint(expr, pulp.LpConstraintLE, f"cut{k}", hi)
        for k, (name, expr, lo, hi) in enumerate(self.rows):
            if k in bounds:
                lo, hi = self.view.bounds(k, *bounds[k])
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
            obj = math.ldexp(float(pulp.value(prob.objective) or 0.0), shift)
            return Outcome(Status.OPTIMAL, x, obj, obj, seconds)
        if prob.sol_status == pulp.LpSolutionIntegerFeasible:
            obj = math.ldexp(float(pulp.value(prob.objective) or 0.0), shift)
            return Outcome(Status.TIME_LIMIT, x, obj, None, seconds)
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
