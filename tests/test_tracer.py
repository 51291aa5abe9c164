"""The tracer (tracer.py): one class-solving loop for one buffer (points.PointSolver) and for
hierarchies (levels.LevelSolver), below every module that routes questions to them."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import pytest

import boundsolver as bs
from boundsolver import solvers
from boundsolver.arch import Arch, Level
from boundsolver.levels import LevelSolver
from boundsolver.points import PointSolver
from boundsolver.results import Status
from boundsolver.solvers import Outcome
from boundsolver.tracer import ClassSolver

PACKAGE = Path(bs.__file__).parent
# What the tracer may build on: the model and the MILP layers.
BELOW_TRACER = {"einsum", "cost", "nest", "formulation", "placement", "solvers", "results",
                "symbolic", "errors"}


def imports(module: str) -> list[tuple[str, bool]]:
    """(imported module of the package, at the top level?) for every import in ``module``."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    top = {id(node) for node in tree.body}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            names = [node.module] if node.module else [a.name for a in node.names]
            out += [(name.split(".")[0], id(node) in top) for name in names]
    return out


def test_the_tracer_sits_below_every_user():
    assert {m for m, _ in imports("tracer")} <= BELOW_TRACER
    for module in ("points", "levels", "fused", "hierarchy", "tracer"):
        assert "solve" not in {m for m, _ in imports(module)}, module
    assert ("points", True) in imports("fused")  # no import loop left to defer
    assert ("fused", True) in imports("solve")


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
