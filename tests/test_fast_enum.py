"""The fast nest enumerator (fastnest.py) on imperfect factors, sliding windows and uniform placement,
against the nest enumerator (enumerate._nest_frontier), the Orojenesis enumerator and closed forms."""

from __future__ import annotations

import math

import pytest
from helpers import check_nest_points as check_points
from helpers import lookup
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import convs, general_einsums

import boundsolver as bs
from boundsolver.model.einsum import Einsum
from boundsolver.model.mapspace import Mapspace, storage_groups, windowed_ranks
from boundsolver.reference import fastnest
from boundsolver.reference.enumerate import _chains, _frontier, _nest_frontier, frontier_points

PER_TENSOR = Mapspace("per_tensor", "perfect")
NESTS = [Mapspace(p, f) for p in ("uniform", "per_tensor") for f in ("perfect", "imperfect")]
SIZES = st.sampled_from([1, 2, 3, 4, 5, 6, 7, 9])  # primes and non-divisor tiles for imperfect


def reference_work(problem: Einsum, mapspace: Mapspace) -> int:
    """Steps of the nest enumerator (enumerate._nest_frontier) on ``mapspace``."""
    imperfect = mapspace.factors == "imperfect"
    windowed = windowed_ranks(problem)
    ranks = [d for d, n in problem.sizes if n > 1]
    return sum(math.prod(len(_chains(problem.size[d], imperfect and d not in windowed, len(g) - 1))
                         for d in ranks) * max(len(g) - 1, 1)
               for g in storage_groups(len(problem.tensors), mapspace.placement == "per_tensor"))


@st.composite
def problems(draw, budget: int):
    """GEMMs, BMMs, convolutions (strides, dilations) and general Einsums with sliding axes, halved
    on their largest rank until the nest enumerator stays quick on the drawn mapspace."""
    mapspace = draw(st.sampled_from(NESTS))
    kind = draw(st.sampled_from(["gemm", "bmm", "conv", "conv", "general"]))
    if kind == "gemm":
        problem = bs.gemm(draw(SIZES), draw(SIZES), draw(SIZES))
    elif kind == "bmm":
        problem = bs.bmm(*(draw(st.sampled_from([1, 2, 3, 5])) for _ in range(4)))
    elif kind == "conv":
        problem = draw(convs())
    else:
        problem = draw(general_einsums(max_macs=200))
    while reference_work(problem, mapspace) > budget and max(problem.size.values()) > 1:
        big = max(problem.ranks, key=problem.size.get)
        problem = Einsum(problem.output, problem.inputs,
                         tuple((d, n // 2 if d == big else n) for d, n in problem.sizes), problem.name)
    return problem, mapspace


def stairs(pairs) -> list[tuple[int, int]]:
    return [(c.occupancy, c.accesses) for _, c in pairs]


@settings(max_examples=100, deadline=None)
@given(problems(budget=4000))
def test_fast_frontier_equals_the_nest_enumerator(drawn):
    problem, mapspace = drawn
    fast = fastnest.frontier(problem, mapspace)
    assert fast is not None
    check_points(problem, mapspace, fast)
    assert stairs(fast) == stairs(_nest_frontier(problem, mapspace, 10**6))


FIXED = [(bs.conv(R=3, P=4, C=2, K=2, Wstride=2), "per_tensor/perfect"),
         (bs.conv(R=2, S=2, P=3, Q=2, C=2, K=1, Hdilation=2), "per_tensor/imperfect"),
         (bs.gemm(7, 5, 9), "per_tensor/imperfect"),
         (bs.gemm(5, 7, 6), "uniform/imperfect"),
         (bs.einsum("O[m,p] += A[m,2*p+r] * B[r,k] * C[k]", m=3, p=3, r=2, k=2), "per_tensor/perfect"),
         (bs.einsum("O[a] += A[a,b+c] * B[b,d] * C[c+d]", a=2, b=2, c=2, d=3), "per_tensor/imperfect")]


@pytest.mark.parametrize("problem,mapspace", FIXED, ids=lambda x: getattr(x, "name", x))
def test_fixed_cases_equal_the_nest_enumerator(problem, mapspace):
    mapspace = bs.Mapspace(*mapspace.split("/"))
    fast = frontier_points(problem, mapspace)
    check_points(problem, mapspace, fast)
    assert stairs(fast) == stairs(_nest_frontier(problem, mapspace, 10**6))


def test_uniform_perfect_nests_are_the_orojenesis_frontier():
    """docs/mapspaces.md §1: one storage point, one loop per rank is model.md, windows included."""
    for problem in (bs.conv(R=3, S=3, P=8, Q=4, C=4, K=8, Wstride=2), bs.gemm(12, 18, 8)):
        assert stairs(fastnest.frontier(problem, Mapspace())) == stairs(_frontier(problem))


def test_large_problems_take_the_fast_path():
    """Far over the nest enumerator's limit; the curve ends at the algorithmic minimum and
    imperfect factors are never above perfect ones (docs/mapspaces.md §4: 1000 = 3 x 334)."""
    conv = bs.conv(R=3, S=3, P=16, Q=16, C=64, K=64)
    fast = fastnest.frontier(conv, "per_tensor/perfect")
    check_points(conv, PER_TENSOR, fast)
    assert fast[-1][1].accesses == bs.algorithmic_minimum(conv)
    g = bs.gemm(1000, 1000, 1000)
    imperfect = stairs(fastnest.frontier(g, "per_tensor/imperfect"))
    perfect = stairs(fastnest.frontier(g, "per_tensor/perfect"))
    assert imperfect[-1][1] == perfect[-1][1] == 3 * 1000**2
    assert all(lookup(imperfect, o) <= a for o, a in perfect)
    assert any(lookup(imperfect, o) < a for o, a in perfect)


def test_enumerate_frontier_uses_the_fast_path():
    conv = bs.conv(R=3, S=3, P=16, Q=16, C=64, K=64)
    front = bs.enumerate_frontier(conv, mapspace="per_tensor/perfect")
    assert front.attrs["mapspace"] == "per_tensor/perfect"
    assert list(zip(front["occupancy"], front["accesses"])) == stairs(
        fastnest.frontier(conv, PER_TENSOR))


def test_blocks_split_across_units(monkeypatch):
    """In blocks of 7 combinations (splitting windowed and imperfect units' rows) the staircase
    and its nests are the same."""
    problem, mapspace = bs.conv(R=3, S=2, P=4, Q=2, C=3, K=2, Wstride=2), "per_tensor/imperfect"
    whole = fastnest.frontier(problem, mapspace)
    monkeypatch.setattr(fastnest, "CHUNK", 7)
    assert fastnest.frontier(problem, mapspace) == whole
