"""HiGHS statuses that are no answer (Unknown, Solve error, ...) are retried, never a crash.

The real cases are the sub-problems the fused GPT-3 6.7B frontier (tokens=256 and 1024,
mapspace per_tensor/perfect) traces: the scalar output resident, two inputs streaming. HiGHS 1.16
ended the LP relaxation of one of their per-tensor nest classes, re-solved from the basis of the
previous question, with "Solve error" or "Unknown", and pareto_frontier raised a SolverError.
The FFN's sub-problems showed the same, and an LP relaxation called infeasible that is not.
"""

from __future__ import annotations

import logging
import math
import subprocess
import sys
from types import SimpleNamespace

import highspy
import pytest
from helpers import points

import boundsolver as bs
from boundsolver.curves.points import PointSolver
from boundsolver.milp import solvers
from boundsolver.milp.solvers import CbcBackend, HighsBackend
from boundsolver.model.einsum import Einsum, Tensor
from boundsolver.model.results import Status
from boundsolver.reference.enumerate import enumerate_frontier

PER_TENSOR = "per_tensor/perfect"
FAIL = [highspy.HighsModelStatus.kUnknown, highspy.HighsModelStatus.kSolveError,
        highspy.HighsModelStatus.kNotset]


def resident_output(text: str, **sizes: int) -> Einsum:
    """The sub-problem fused.py traces when the output stays resident: ``O[]`` and its inputs."""
    e = bs.einsum(text, **sizes)
    return Einsum(Tensor("O", ()), e.inputs, e.sizes, "reduced")


# (Einsum, sizes, rank r, input X): the staircase is (t + 2, 1 + |X| + |Y| * N_r / t) for
# t = 1, 2, 4, ..., N_r: X is read once, the other input Y once per tile t of X's rank r.
# CBC traces the same frontiers (solver="cbc", 7-17 s each, so not run here).
FAILED = [
    # GPT-3 tokens=256, FFA: class 17's LP bound at capacity 3, "Solve error".
    ("O[m] += A0[m,g] * A1[g,c]", dict(m=256, g=4096, c=16384), "m", "A0"),
    # GPT-3 tokens=1024, Z/K/V/Q: class 4's LP bound on occupancy with accesses <= 8388609, "Unknown".
    ("O[m] += A0[m,d] * A1[h,e,d]", dict(m=1024, d=4096, h=8, e=128), "m", "A0"),
    # GPT-3 tokens=1024, AV: class 4's LP bound on occupancy, accesses <= 37748737, "Unknown".
    ("O[m] += A0[m,p,h] * A1[p,h,f]", dict(m=1024, p=1024, h=32, f=128), "f", "A1"),
    # GPT-3 tokens=1024, FFA: class 4's LP bound on occupancy, accesses <= 71303169, "Unknown".
    ("O[m] += A0[m,g] * A1[g,c]", dict(m=1024, g=4096, c=16384), "m", "A0"),
]


def _expected(problem: Einsum, rank: str, whole: str) -> list[tuple[int, int]]:
    size = {T.name: problem.tensor_size(T) for T in problem.inputs}
    other = next(name for name in size if name != whole)
    n = problem.size[rank]
    return [(t + 2, 1 + size[whole] + size[other] * n // t) for t in (2 ** k for k in range(20))
            if t <= n]


@pytest.mark.parametrize("text,sizes,rank,whole", FAILED, ids=[f"{t} {s}" for t, s, _, _ in FAILED])
def test_failing_fused_subproblems_solve(text, sizes, rank, whole):
    problem = resident_output(text, **sizes)
    frontier = bs.pareto_frontier(problem, mapspace=PER_TENSOR, method="milp")
    assert (frontier["status"] == "optimal").all()
    assert points(frontier) == _expected(problem, rank, whole)


def test_failing_subproblem_matches_cbc():
    problem = resident_output(FAILED[0][0], **FAILED[0][1])
    highs = bs.solve_curve(problem, [10], mapspace=PER_TENSOR, method="milp")
    cbc = bs.solve_curve(problem, [10], solver="cbc", mapspace=PER_TENSOR, method="milp")
    assert highs["accesses"].tolist() == cbc["accesses"].tolist() == [2148532225]


def test_lp_bound_on_a_boundary_is_not_infeasible():
    """FFN's first GEMM streaming, least occupancy at accesses 150994945: HiGHS 1.16 called the LP
    relaxation of one nest class infeasible (CBC: feasible, 150994944 scaled words), and for three
    others no attempt answered. None of that may prune a class or raise."""
    problem = resident_output("O[m] += A0[m,d] * A1[d,c]", m=32768, d=4096, c=4096)
    ps = PointSolver(problem, mapspace=PER_TENSOR)
    traffic = 150994945
    limits = {"occupancy": math.inf, "accesses": traffic}
    bounds = [ps._relaxation(c, "occupancy", limits) for c in range(len(ps.classes))]
    boundary = next(c for c in range(len(ps.classes)) if "storage A0 at 1, A1 at 1, O at 2; loop orders "
                    "c,d,m / c,d,m;" in ps._question(c, "occupancy", limits))
    assert bounds[boundary] < math.inf
    answer = ps.min_occupancy(traffic)
    assert answer.status is Status.OPTIMAL and answer.point.cost.occupancy == 4098  # CBC's too


# ------------------------------------------------------------------------- simulated failures

def _failing(monkeypatch, fails):
    """Make ``HighsBackend._run`` report the statuses ``fails(i)`` gives for its i-th call
    (None: really run)."""
    real = HighsBackend._run
    calls = []

    def run(self, h):
        calls.append(len(calls))
        status = fails(len(calls) - 1)
        return real(self, h) if status is None else status

    monkeypatch.setattr(HighsBackend, "_run", run)
    return calls


def _milp(problem=None, mapspace=PER_TENSOR):
    ps = PointSolver(problem or bs.gemm(4, 6, 2), mapspace=mapspace)
    return ps.forms[-1]


def test_retry_after_unknown_and_solve_error(monkeypatch, caplog):
    form = _milp()
    cost = form.scaled("accesses")
    reference = HighsBackend(form.m).solve(cost, {}, None)
    calls = _failing(monkeypatch, lambda i: FAIL[i] if i < 2 else None)
    with caplog.at_level(logging.DEBUG, logger="boundsolver.milp.solvers"):
        out = HighsBackend(form.m).solve(cost, {}, None)
    assert len(calls) == 3
    assert out.status is Status.OPTIMAL and out.objective == reference.objective
    assert out.failed == ("HiGHS: Unknown", "HiGHS, presolve off: Solve error")
    assert "solved by attempt 'HiGHS, cold start'" in caplog.text


def test_ladder_ends_with_cbc(monkeypatch):
    form = _milp()
    cost = form.scaled("accesses")
    reference = HighsBackend(form.m).solve(cost, {}, None)
    _failing(monkeypatch, lambda i: FAIL[i % 3])
    out = HighsBackend(form.m).solve(cost, {}, None)
    assert out.status is Status.OPTIMAL and out.objective == pytest.approx(reference.objective)
    assert [f.split(":")[0] for f in out.failed] == [
        "HiGHS", "HiGHS, presolve off", "HiGHS, cold start", "HiGHS, primal simplex", "fresh HiGHS"]


def test_lp_ladder_tries_interior_point(monkeypatch):
    lp = _milp().m.relaxed()
    _failing(monkeypatch, lambda i: FAIL[0] if i < 4 else None)
    out = HighsBackend(lp, fallback=False).solve({}, {}, None)
    assert out.status is Status.OPTIMAL
    assert out.failed[-1].startswith("HiGHS, primal simplex") and len(out.failed) == 4


@pytest.mark.parametrize("mapspace", ["uniform/perfect", PER_TENSOR])
def test_frontier_exact_when_every_first_attempt_fails(monkeypatch, mapspace):
    problem = bs.gemm(4, 6, 2)
    expected = points(enumerate_frontier(problem, mapspace=mapspace))
    _failing(monkeypatch, lambda i: FAIL[i % 3] if i % 2 == 0 else None)
    assert points(bs.pareto_frontier(problem, mapspace=mapspace, method="milp")) == expected


@pytest.mark.parametrize("mapspace", ["uniform/perfect", PER_TENSOR])
def test_error_names_the_subproblem_when_every_attempt_fails(monkeypatch, mapspace):
    _failing(monkeypatch, lambda i: FAIL[i % 3])

    def cbc_fails(self, cost, bounds, time_limit, cuts=()):
        raise bs.SolverError("CBC ended with status Not Solved")

    monkeypatch.setattr(CbcBackend, "solve", cbc_fails)
    problem = resident_output("O[m] += A0[m,g] * A1[g,c]", m=4, g=2, c=8)
    with pytest.raises(bs.SolverError) as info:
        bs.pareto_frontier(problem, mapspace=mapspace, method="milp")
    message = str(info.value)
    assert "O[] += A0[m,g] * A1[g,c] (m=4, g=2, c=8)" in message
    assert f"mapspace {mapspace}" in message and "class " in message
    assert "least accesses with no limit" in message
    for attempt in ("HiGHS:", "presolve", "cold start:", "primal simplex:", "fresh HiGHS:",
                    "CBC: CBC ended with status Not Solved"):
        assert attempt in message
    assert all(status in message for status in ("Unknown", "Solve error", "Not Set"))
    assert ("storage" in message) == (mapspace == PER_TENSOR)


def test_time_limit_while_retrying(monkeypatch):
    form = _milp()
    _failing(monkeypatch, lambda i: FAIL[0])
    clock = iter(range(0, 1000, 10))  # every reading of the clock: 10 s later
    monkeypatch.setattr(solvers, "time", SimpleNamespace(perf_counter=lambda: next(clock)))
    out = HighsBackend(form.m).solve(form.scaled("accesses"), {}, 25)
    assert out.status is Status.TIME_LIMIT and out.x is None
    assert out.failed == ("HiGHS: Unknown",)


def test_highs_prints_nothing():
    code = ("import boundsolver as bs; "
            "bs.pareto_frontier(bs.gemm(2, 3, 2), mapspace='per_tensor/perfect'); "
            "bs.pareto_frontier(bs.gemm(2, 3, 2))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout == "" and "HiGHS" not in run.stderr
