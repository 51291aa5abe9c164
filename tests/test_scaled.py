"""The scaled model's coefficients (milp/solvers.py, ``Scaled.value``): the fast path for
floats and integers a float holds exactly gives the exact rational path's answer."""

from __future__ import annotations

import math
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from boundsolver.milp.solvers import Scaled


def _exact(v, k: int, up: bool) -> float:
    """``v / 2**k`` rounded outwards, by rationals (the path for what a float cannot hold)."""
    q = Fraction(v) / (1 << k)
    f = float(q)
    if up and f < q:
        return math.nextafter(f, math.inf)
    if not up and f > q:
        return math.nextafter(f, -math.inf)
    return f


@given(st.one_of(st.integers(-2**64, 2**64), st.floats(allow_nan=False, allow_infinity=False)),
       st.integers(0, 1100), st.booleans())
def test_fast_coefficients_equal_the_exact_ones(v, k, up):
    s = Scaled.__new__(Scaled)
    s.digits = None
    assert s.value(v, k, up) == _exact(v, k, up)


def test_large_integers_are_still_rounded_outwards():
    s = Scaled.__new__(Scaled)
    s.digits = None
    v = 2**60 + 1  # no float holds it
    assert s.value(v, 0, up=True) > v > s.value(v, 0, up=False)
