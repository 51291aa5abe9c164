"""The tracer: the one loop that solves a mapspace's class MILPs exactly, for every mapspace.

A mapspace's mappings fall into classes, each with one MILP whose formulas are exact or
over-estimates that some class attains (formulation.py: the loop-order classes of one buffer;
formulation.py: nest classes of per-tensor placement; levels.py: per-segment classes of a
hierarchy). The answer to a question ("least ``objective`` with these named objectives at most
these limits") is the least over classes. Getting it exactly and fast is the same work for
every mapspace, so it is written once, here (:class:`ClassSolver`), and every fix to it (a
HiGHS status that is no answer, a solution inside the tolerances only) holds everywhere:

* one backend per class, built on first solve and then re-solved with new row bounds only;
* lower bounds per class from its LP relaxation, re-solved from the previous basis, with a
  half-unit recheck where HiGHS calls a boundary-feasible LP infeasible; and bounds found under
  looser limits carried over to tighter ones (a minimum only grows as limits tighten);
* the solve loop: solve, decode and re-cost the solution in Python integers, cut off solutions
  that meet a limit only within the solver's tolerances (``no_good``, at most ``MAX_CUTS``), and
  prove optima too large for floating point by a feasibility solve one unit below;
* :func:`check_claim` (the solver's value and bound against the exact one) and every error
  naming its sub-problem in words.

Its users supply what differs: the classes and their forms, how a decoded solution is costed in
integers, the question in words, and three settings (``partial``, ``kept_bounds``,
``no_bound``). Objectives and limits are named as the forms' rows are: ``"occupancy"`` and
``"accesses"`` for one buffer; ``"dram"``, ``"accesses:<level>"`` and ``"occupancy:<level>"``
for a hierarchy. The users:

* ``points.PointSolver``: one Einsum on one buffer (curve points, the Pareto walk, time limits);
  workloads (fused.py) reuse it for every Einsum's sub-problems;
* ``joint.LevelSolver``: one Einsum on a hierarchy (the lexicographic joint bound).

This module imports only the model and the MILP layers (never points, levels, fused, solve).
"""

from __future__ import annotations

import logging
import math
import time

from ..errors import SolverError
from ..model.results import Status
from .solvers import HighsBackend, Outcome, backend, solver_name

# Relative allowance for LP tolerances when an LP relaxation bound prunes a class.
RELAXATION_SLACK = 1e-7
# Relative difference allowed between the solver's float objective and the exact integer value.
OBJECTIVE_RTOL = 1e-9
# Solutions cut off (no_good) in one question before giving up: each is a distinct combination
# of values that meets a limit only within the solver's tolerances, and there are few.
MAX_CUTS = 100

log = logging.getLogger(__name__)


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


class ClassSolver:
    """The class MILPs of one problem, answering "least ``objective`` with every named objective
    at most its limit in ``limits``" class by class (:meth:`_solve`), with lower bounds per class
    (:meth:`lower`, :meth:`_relaxation`) to solve few of them.

    Subclasses set ``classes`` and supply :meth:`_make_form` (or fill ``_forms`` up front),
    :meth:`_costed`, :meth:`_describe`, :meth:`_subject` and :meth:`_question`.
    """

    # Whether a solve may end without an answer (a time limit): it then returns the outcome and
    # any incumbent, which the caller reports as such; otherwise that is an error.
    partial = True
    # Bounds kept per class besides the newest (lower): a one-buffer sweep runs downwards, where
    # the newest holds at every smaller capacity; a hierarchy asks under many limits.
    kept_bounds = 0
    # lower()'s value where no bound is known.
    no_bound = -math.inf

    def __init__(self, problem, classes: list, solver: str = "highs", threads: int = 1,
                 time_limit: float | None = None):
        self.problem = problem
        self.classes = classes
        self.solver = solver_name(solver)
        self.threads = threads
        self.time_limit = time_limit
        self.began: float | None = None  # when the question under way began (its time limit's start)
        self.known: list = []  # every verified point met so far
        self._forms: dict[int, object] = {}
        self._backends: dict[int, object] = {}
        self._relaxations: dict[int, object] = {}
        # Per class: (objective, limits, lower bound on its least value under those limits).
        self._lower: list[list] = [[] for _ in classes]

    # ----------------------------------------------------------------------------- what subclasses give
    def _make_form(self, c: int):
        """Class ``c``'s MILP (a ProductModel with ``decode`` and ``value``)."""
        raise NotImplementedError

    def _costed(self, c: int, x) -> tuple:
        """(point, exact values, formula values) of solution ``x`` of class ``c``: the decoded
        point, its objectives by the cost model and by the class's formulas, in integers."""
        raise NotImplementedError

    def _describe(self, point) -> str:
        raise NotImplementedError

    def _subject(self, c: int, objective: str) -> str:
        """What ``check_claim`` names when the solver's value is wrong."""
        raise NotImplementedError

    def _question(self, c: int, objective: str, limits: dict) -> str:
        """The sub-problem in words: the problem, the class, the question (built from
        :meth:`_problem_words` and :meth:`_limit_words`)."""
        raise NotImplementedError

    def _problem_words(self) -> str:
        """The problem as errors name it: its name, its Einsum and its rank sizes."""
        p = self.problem
        sizes = ", ".join(f"{r}={n}" for r, n in p.sizes)
        return f"{p.name + ': ' if p.name else ''}{p} ({sizes})"

    @staticmethod
    def _limit_words(limits: dict, names) -> str:
        """The finite limits among ``names`` (in that order) in words, or "no limit"."""
        parts = [f"{n} <= {int(limits[n])}" for n in names
                 if n in limits and math.isfinite(limits[n])]
        return " and ".join(parts) or "no limit"

    # ----------------------------------------------------------------------------- forms, backends
    def form(self, c: int):
        """Class ``c``'s MILP, built when first needed (pruned classes never are)."""
        f = self._forms.get(c)
        if f is None:
            f = self._forms[c] = self._make_form(c)
        return f

    def _backend(self, c: int):
        if c not in self._backends:
            self._backends[c] = backend(self.solver, self.form(c).m, self.threads)
        return self._backends[c]

    def _row_bounds(self, c: int, limits: dict) -> dict:
        f = self.form(c)
        return {row: (-math.inf, f.row_bound(n, limits[n])
                      if math.isfinite(limits.get(n, math.inf)) else math.inf)
                for n, row in f.rows.items()}

    # ----------------------------------------------------------------------------- bounds
    def lower(self, c: int, objective: str, limits: dict) -> float:
        """The best bound known on class ``c``'s least ``objective`` under ``limits``: one
        found under looser limits holds (fewer points, a larger minimum). inf where a bound on
        another objective, found under looser limits, exceeds that objective's limit (after the
        least DRAM traffic, only the classes that can attain it are searched further)."""
        best = None
        for o, lim, bound in self._lower[c]:
            if all(limits.get(n, math.inf) <= v for n, v in lim.items()):
                if o == objective:
                    best = bound if best is None else max(best, bound)
                elif bound > limits.get(o, math.inf):
                    return math.inf
        return self.no_bound if best is None else best

    def _record(self, c: int, objective: str, limits: dict, bound: float) -> None:
        kept = self._lower[c][-self.kept_bounds:] if self.kept_bounds else []
        self._lower[c] = [e for e in kept if not (e[0] == objective and e[1] == limits)]
        self._lower[c].append((objective, dict(limits), bound))

    def _relaxation(self, c: int, objective: str, limits: dict) -> float:
        """A lower bound on ``objective`` for class ``c`` from its LP relaxation (inf: infeasible).

        Re-solved from the previous basis, so a bound costs well under a millisecond. Only with
        HiGHS: CBC runs as a subprocess per solve, where an LP costs about as much as the MILP.
        """
        if self.solver != "highs":
            return -math.inf
        if c not in self._relaxations:
            # No CBC at the end of its ladder: a bound only prunes, and the MILP can do without.
            self._relaxations[c] = HighsBackend(self.form(c).m.relaxed(), self.threads,
                                                fallback=False)
        bounds = self._row_bounds(c, limits)
        out = self._relax(c, objective, limits, bounds)
        if out is not None and out.status is Status.INFEASIBLE:
            # HiGHS 1.16 has declared infeasible an LP that is feasible only on the boundary of
            # these rows (FFN's O[] += A0[m,d] * A1[d,c], m=32768, d=c=4096: CBC solves it). Rows
            # are integer on integer points: half a unit more loses none of them. An LP still
            # infeasible then prunes the class; a feasible one gives a (valid, weaker) bound.
            out = self._relax(c, objective, limits,
                              {row: (lo, hi + 0.5) for row, (lo, hi) in bounds.items()})
        if out is None:
            return -math.inf
        if out.status is Status.INFEASIBLE:
            return math.inf
        if out.objective is None:
            return -math.inf
        # The MILP's optimum is an integer in scaled units; allow for the LP's tolerances.
        value = out.objective - RELAXATION_SLACK * max(1.0, abs(out.objective))
        return self.form(c).unscale(objective, math.ceil(value))

    def _relax(self, c: int, objective: str, limits: dict, bounds: dict):
        """The LP relaxation's outcome under ``bounds``; None if HiGHS gives no answer."""
        try:
            out = self._relaxations[c].solve(self.form(c).scaled(objective), bounds, None)
        except SolverError as err:
            log.debug("no LP bound for %s: %s", self._question(c, objective, limits), err)
            return None
        if out.failed:
            log.debug("LP bound for %s: solved after %s", self._question(c, objective, limits),
                      "; ".join(out.failed))
        return out

    # ----------------------------------------------------------------------------- one class
    def _solve(self, c: int, objective: str, limits: dict, began: float | None = None) -> tuple:
        """Solve class ``c``: least ``objective`` with every objective in ``limits`` at most its
        limit; returns (outcome, verified point or None, its exact objective value or None).
        ``began``: when the question began (its time limit counts from there).

        The solver works in floating point; every decision is made on the decoded point in
        integers. A solution that meets a limit only within the solver's tolerances is cut off
        (``no_good``) and the class solved again. Where the objective is too large for the
        solver to compare exactly (``float_error``), an optimum is proved by asking for any
        point at least one unit better: the solver's "infeasible" is then the proof, since a
        point that meets the limits exactly meets them within any tolerance.
        """
        f = self.form(c)
        asked, limits = limits, dict(limits)
        prove = f.float_error(objective) >= 0.5
        cuts: list = []
        best: tuple | None = None  # (outcome, point, value): a candidate being proved optimal
        for _ in range(MAX_CUTS):
            out = self._run(c, None if best else objective, limits, cuts, began)
            if out.status is Status.INFEASIBLE:
                return best if best is not None else (out, None, None)
            if not self.partial and (out.status is not Status.OPTIMAL or out.x is None):
                raise SolverError(f"{self.solver} gave no answer ({out.status.value}) to "
                                  f"{self._question(c, objective, limits)}")
            if out.x is None:
                if best is not None:  # time limit while proving: the candidate is an incumbent
                    return Outcome(Status.TIME_LIMIT, None, None, None, out.seconds), best[1], None
                return out, None, None
            point, exact, formula = self._costed(c, out.x)
            if any(exact[n] > formula[n] for n in formula):
                costs = ", ".join(f"{n} {v}" for n, v in exact.items())
                raise SolverError(
                    f"the {self._describe(point)} of {self._question(c, objective, asked)} costs "
                    f"{costs} under the cost model, above its class formula {formula}; refusing "
                    "to report it")
            over = [n for n, v in limits.items() if formula[n] > v]
            if over:  # within the solver's tolerances only
                if log.isEnabledFor(logging.INFO):
                    log.info("%s: cut off the %s, which meets the %s limit only within the "
                             "solver's tolerances (%d > %d)", self._question(c, objective, asked),
                             self._describe(point), over[0], formula[over[0]], limits[over[0]])
                cuts.append(f.no_good(over[0], out.x))
                continue
            value = formula[objective]
            if out.status is Status.TIME_LIMIT:
                return out, point, None
            if best is not None or prove:
                if log.isEnabledFor(logging.INFO):
                    log.info("%s: %s %d found; asking for any point below it (the objective is "
                             "too large for the solver to compare exactly)",
                             self._question(c, objective, asked), objective, value)
                self.known.append(point)
                best = (out, point, value)
                limits[objective] = value - 1
                continue
            self._check_claim(c, objective, out, value)
            self.known.append(point)
            return out, point, value
        raise SolverError(f"{self.solver} kept returning points that break the limits of "
                          f"{self._question(c, objective, asked)} (only within its "
                          f"tolerances) after {MAX_CUTS} cuts; no exact answer")

    def _run(self, c: int, objective: str | None, limits: dict, cuts: list,
             began: float | None = None) -> Outcome:
        """One backend solve of class ``c``: minimise ``objective`` (None: any feasible point)."""
        remaining = None
        if self.time_limit is not None:
            start = began if began is not None else self.began
            remaining = max(self.time_limit - (time.perf_counter() - start), 1e-3)
        goal = self.form(c).scaled(objective) if objective else {}
        what = objective or "any point"
        try:
            out = self._backend(c).solve(goal, self._row_bounds(c, limits), remaining, cuts)
        except SolverError as err:
            raise SolverError(f"could not solve {self._question(c, what, limits)}"
                              f" with {self.solver}: {err}") from err
        if out.failed:
            log.debug("%s: solved after %s", self._question(c, what, limits), "; ".join(out.failed))
        return out

    def _check_claim(self, c: int, objective: str, out, value: int) -> None:
        check_claim(self.form(c), objective, out, value, self.solver, self._subject(c, objective))
