"""Any size exact: problems whose traffic fits in int64 are solved exactly, larger ones refused.

References independent of the MILP: the two ends of a GEMM's curve in closed form, and the
vectorised enumerator (which computes in Python integers past int64's range) in between.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import lookup, points

import boundsolver as bs
from boundsolver.cli import main
from boundsolver.model.cost import INT64_MAX


def gemm_ends(M: int, K: int, N: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """(occupancy, accesses) where the curve starts and where it first reaches its minimum.

    Three words (one element of each operand) and the reduction innermost: A and B are read
    once per MAC and Z written once per element, 2MKN + MN. The minimum MK + KN + MN (each
    tensor touched once) is first reached by holding the smallest operand X x Y whole with one
    row of each other tensor: XY + X + Y words."""
    X, Y = min((M, K), (K, N), (M, N), key=lambda s: s[0] * s[1])
    return (3, 2 * M * K * N + M * N), (X * Y + X + Y, M * K + K * N + M * N)


@pytest.mark.parametrize("dims", [(65536, 65536, 65536), (131072, 131072, 131072),
                                  (131072, 4096, 4096)])
def test_huge_gemm_frontier_is_exact(dims):
    p = bs.gemm(*dims)
    front = points(bs.pareto_frontier(p, method="milp"))
    first, last = gemm_ends(*dims)
    assert front[0] == first
    assert front[-1] == last
    assert front == points(bs.enumerate_frontier(p))


def test_huge_gemm_curve_at_capacities():
    p = bs.gemm(131072, 131072, 131072)
    ref = points(bs.enumerate_frontier(p))
    caps = np.unique(np.geomspace(3, 2 * ref[-1][0], 16).astype(int)).tolist()
    curve = bs.solve_curve(p, caps, method="milp")
    assert curve["accesses"].astype(int).tolist() == [lookup(ref, c) for c in caps]


def test_ill_scaled_rows_are_solved_exactly():
    """Sizes with few shared factors give rows with coefficients near 1e12 and no common
    divisor; with tolerances of 1e-9 HiGHS and CBC both called a feasible class infeasible
    here and a breakpoint went missing (before rows were scaled by powers of two)."""
    p = bs.gemm(1062882, 390625, 823543)
    assert points(bs.pareto_frontier(p, method="milp")) == points(bs.enumerate_frontier(p))


def test_past_int64_is_refused_before_solving():
    big = bs.gemm(99999999999, 99999999999, 99999999999)
    for call in (lambda: bs.pareto_frontier(big), lambda: bs.solve_curve(big, [100])):
        with pytest.raises(bs.EinsumError, match="signed 64-bit limit"):
            call()
    # Just past the limit: 2 * M * K * N + M * N = 2**63 + 2**41 words at the smallest buffer.
    with pytest.raises(bs.EinsumError, match=f"{INT64_MAX:,}"):
        bs.pareto_frontier(bs.gemm(2**21, 2**21, 2**20))
    # Just below it: solved (the minimum is reached, checked by the closed form).
    M = K = N = 2**20
    assert 2 * M * K * N + M * N <= INT64_MAX
    front = points(bs.pareto_frontier(bs.gemm(M, K, N), method="milp"))
    assert (front[0], front[-1]) == gemm_ends(M, K, N)


def test_cli_refuses_clearly(capsys):
    assert main(["curve", "gemm", "99999999999", "99999999999", "99999999999", "-q"]) == 2
    err = capsys.readouterr().err
    assert "EinsumError" in err and "64-bit" in err and "Traceback" not in err
