"""``method=`` for single Einsums: the MILP and the enumerator answer the same questions alike."""

from __future__ import annotations

import logging

import pytest
from helpers import points

import boundsolver as bs
from boundsolver.cli import main
from boundsolver.curves.points import AUTO_ENUMERATION, choose_method

CASES = [(bs.gemm(12, 18, 8), None), (bs.conv(R=3, S=3, P=4, Q=4, C=4, K=8), None),
         (bs.gemm(16, 12, 10), "per_tensor/perfect")]


@pytest.mark.parametrize("problem,mapspace", CASES)
def test_frontier_by_each_method(problem, mapspace):
    milp = bs.pareto_frontier(problem, mapspace=mapspace, method="milp")
    enum = bs.pareto_frontier(problem, mapspace=mapspace, method="enumerate")
    assert points(milp) == points(enum)
    assert enum.attrs["method"] == "enumeration" and milp.attrs["method"] == "milp"
    # Every enumerated row is a mapping that the cost model reproduces.
    assert (enum["status"] == "optimal").all() and enum["mapping"].notna().all()


@pytest.mark.parametrize("problem,mapspace", CASES)
@pytest.mark.parametrize("method", ["enumerate", "auto"])
def test_curve_by_each_method(problem, mapspace, method):
    caps = [1, 2, 3, 7, 50, 333, 10**6]
    milp = bs.solve_curve(problem, caps, mapspace=mapspace, method="milp")
    other = bs.solve_curve(problem, caps, mapspace=mapspace, method=method)
    assert other["capacity"].tolist() == caps
    assert other["status"].tolist() == milp["status"].tolist()
    assert other["accesses"].tolist() == milp["accesses"].tolist()


def test_auto_chooses_by_estimated_work():
    assert choose_method(bs.gemm(64, 64, 64), None, "auto") == "enumerate"
    # 720720 has 240 divisors: 240^3 tilings x 8 orders x 3 is far past the limit.
    huge = bs.gemm(720720, 720720, 720720)
    assert 240**3 * 8 * 3 > AUTO_ENUMERATION
    assert choose_method(huge, None, "auto") == "milp"
    assert choose_method(bs.gemm(64, 64, 64), None, None) == "enumerate"  # the default: auto
    with pytest.raises(bs.BoundsolverError, match="method must be one of"):
        bs.pareto_frontier(bs.gemm(4, 4, 4), method="simplex")


def test_cli_method_and_verbosity(capsys, caplog):
    assert main(["curve", "gemm", "8", "8", "8", "--method", "enumerate", "-q", "--csv", "-"]) == 0
    enum = capsys.readouterr().out
    assert main(["curve", "gemm", "8", "8", "8", "--method", "milp", "-q", "--csv", "-"]) == 0
    milp = capsys.readouterr().out
    assert enum.splitlines()[1].split(",")[:2] == milp.splitlines()[1].split(",")[:2]
    # Quiet by default: no solver banner or log on the terminal.
    assert main(["curve", "gemm", "8", "8", "8", "-c", "20", "--method", "milp"]) == 0
    out = capsys.readouterr()
    assert "HiGHS" not in out.out + out.err and "Copyright" not in out.out + out.err
    with caplog.at_level(logging.DEBUG, logger="boundsolver"):
        assert main(["curve", "gemm", "8", "8", "8", "-c", "20", "-vv", "-q", "--method", "milp"]) == 0
    assert main(["curve", "gemm", "8", "8", "8", "--enumerate", "--method", "milp"]) == 2
