"""The public API's contract: columns, statuses, and clear errors for bad input."""

import math

import pandas as pd
import pytest

import boundsolver as bs
from boundsolver import BoundsolverError, SolverError


def test_curve_columns_and_units():
    p = bs.bmm(4, 4, 4, 2)
    curve = bs.solve_curve(p, [8, 100])
    for col in ["capacity", "occupancy", "accesses", "status", "op_intensity", "reads_A", "reads_B",
                "reads_Z", "writes_Z", "tile_h", "tile_m", "tile_k", "tile_n", "loop_order",
                "solve_seconds"]:
        assert col in curve.columns
    assert curve.attrs["unit"] == "words"
    row = curve.iloc[1]
    assert row.reads_A + row.reads_B + row.reads_Z + row.writes_Z == row.accesses
    assert math.isclose(row.op_intensity, (2 * p.macs - 2 * 4 * 4) / row.accesses)


def test_infeasible_capacity_is_a_status_not_a_crash():
    curve = bs.solve_curve(bs.gemm(8, 8, 8), [1, 2, 3])
    assert list(curve["status"]) == ["infeasible", "infeasible", "optimal"]
    assert curve["accesses"].isna().tolist() == [True, True, False]


def test_time_limit_is_reported_never_passed_off_as_exact():
    p = bs.conv(R=3, S=3, P=16, Q=16, C=64, K=64)
    curve = bs.solve_curve(p, [2000], time_limit=1e-3)
    row = curve.iloc[0]
    if row.status == "time_limit":
        assert pd.isna(row.accesses)
        assert row.best_bound > 0
    else:  # a fast machine: then it must be the exact value
        assert row.status == "optimal"


def test_capacities_are_floored_to_words_and_order_is_kept():
    curve = bs.solve_curve(bs.gemm(4, 4, 4), [40.9, 3, 12.5])
    assert list(curve["capacity"]) == [40, 3, 12]


@pytest.mark.parametrize("caps,message", [
    ([0], "capacity must be a positive number of words, got 0"),
    ([-5], "got -5"),
    ([math.inf], "got inf"),
    ([0.5], "below one word"),
    ("100", "capacities must be a sequence of numbers"),
    ([True], "got True"),
])
def test_bad_capacities(caps, message):
    with pytest.raises(BoundsolverError, match=message):
        bs.solve_curve(bs.gemm(2, 2, 2), caps)


def test_unknown_solver_names_the_choices():
    with pytest.raises(SolverError, match="unknown solver 'gurobi'; choose one of: highs, cbc"):
        bs.solve_curve(bs.gemm(2, 2, 2), [10], solver="gurobi")
    with pytest.raises(SolverError, match="unknown solver"):
        bs.pareto_frontier(bs.gemm(2, 2, 2), solver="glpk")


def test_not_an_einsum():
    with pytest.raises(bs.EinsumError, match="expected an Einsum"):
        bs.solve_curve("Z[m,n] += A[m,k] * B[k,n]", [10])


def test_errors_are_value_errors_for_callers_that_catch_broadly():
    assert issubclass(bs.EinsumError, ValueError)
    assert issubclass(bs.EinsumError, BoundsolverError)


def test_enumeration_refuses_huge_mapspaces():
    with pytest.raises(bs.EnumerationTooLarge, match="use the MILP"):
        bs.enumerate_frontier(bs.conv(R=3, S=3, P=256, Q=256, C=256, K=256, N=16), limit=10**6)
