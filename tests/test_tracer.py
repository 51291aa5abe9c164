"""The tracer (milp/tracer.py): one class-solving loop for one buffer (points.PointSolver) and for
hierarchies (joint.LevelSolver); that it sits below its users is test_layout.py's check."""

from __future__ import annotations

import math

import pytest

import boundsolver as bs
from boundsolver.curves.joint import LevelSolver
from boundsolver.curves.points import PointSolver
from boundsolver.milp import solvers
from boundsolver.milp.solvers import Outcome
from boundsolver.milp.tracer import ClassSolver
from boundsolver.model.arch import Arch, Level
from boundsolver.model.results import Status


@pytest.mark.parametrize("cls", [PointSolver, LevelSolver])
def test_one_loop_for_every_mapspace(cls):
    assert issubclass(cls, ClassSolver)
    shared = ("_solve", "_run", "_relaxation", "_relax", "lower", "_record", "_row_bounds",
              "_backend", "_check_claim", "form")
    assert not [name for name in shared if name in vars(cls)]
    assert bs.PointSolver is PointSolver


def test_bounds_carry_to_smaller_capacities_only():
    ps = PointSolver(bs.gemm(8, 8, 8))
    answer = ps.min_accesses(40)
    c, least = answer.point.cls, answer.point.cost.accesses
    assert ps.lower(c, "accesses", {"occupancy": 40}) == least
    assert ps.lower(c, "accesses", {"occupancy": 20}) == least  # fewer mappings, no less
    assert ps.lower(c, "accesses", {"occupancy": 80}) == ps.no_bound == 0


@pytest.fixture
def unanswered(monkeypatch):
    """Every MILP solve ends at a time limit without a point; LP relaxations still answer."""
    real = solvers.HighsBackend.solve

    def solve(self, cost, bounds, time_limit, cuts=()):
        if self.is_lp:
            return real(self, cost, bounds, time_limit, cuts)
        return Outcome(Status.TIME_LIMIT, None, None, None, 0.0)

    monkeypatch.setattr(solvers.HighsBackend, "solve", solve)


def test_a_time_limit_is_an_answer_for_one_buffer(unanswered):
    answer = PointSolver(bs.gemm(8, 8, 8), time_limit=60).min_accesses(40)
    assert answer.status is Status.TIME_LIMIT and answer.point is None
    assert 0 < answer.bound < math.inf


def test_a_hierarchy_question_must_be_answered(unanswered):
    arch = Arch("t3", 8, (Level("DRAM"), Level("L2", sweep=True), Level("L1", 8)))
    ls = LevelSolver(bs.gemm(8, 8, 8), arch)
    with pytest.raises(bs.SolverError, match=r"gave no answer \(time_limit\) to .* least dram"):
        ls.minimise("dram", {"occupancy:L2": 100})
