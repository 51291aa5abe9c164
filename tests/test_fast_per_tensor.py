"""The fast per_tensor/perfect frontier (fastnest.py) against the nest enumerator and the MILP."""

from __future__ import annotations

import math
import time

import pytest
from helpers import check_nest_points, lookup, points
from hypothesis import given, settings
from hypothesis import strategies as st

import boundsolver as bs
from boundsolver.model.einsum import Axis, Einsum, Tensor, Term
from boundsolver.model.mapspace import Mapspace, storage_groups
from boundsolver.reference import fastnest
from boundsolver.reference.enumerate import _chains, _nest_frontier, frontier_points

PER_TENSOR = Mapspace("per_tensor", "perfect")
SIZES = st.sampled_from([1, 2, 3, 4, 6, 8])


def plain(out: tuple[str, ...], ins: list[tuple[str, ...]], sizes: dict[str, int]) -> Einsum:
    """An Einsum of plain axes, built directly (as fused.reduced does): zero-axis tensors and output
    ranks no input uses are allowed."""
    def tensor(name, ranks):
        return Tensor(name, tuple(Axis((Term(d),)) for d in ranks))
    used = [d for d in sizes if d in out or any(d in t for t in ins)]
    return Einsum(tensor("O", out), tuple(tensor(f"A{i}", t) for i, t in enumerate(ins)),
                  tuple((d, sizes[d]) for d in used), "plain")


def reference_work(problem: Einsum) -> int:
    """Steps of the nest enumerator (enumerate._nest_frontier) on the per-tensor mapspace."""
    ranks = [d for d, n in problem.sizes if n > 1]
    return sum(math.prod(len(_chains(problem.size[d], False, len(g) - 1)) for d in ranks)
               * max(len(g) - 1, 1) for g in storage_groups(len(problem.tensors), True))


@st.composite
def plain_einsums(draw, budget: int = 600):
    """GEMMs, BMMs and random Einsums of 1-4 ranks with 1-3 inputs, any tensor possibly zero-axis,
    shrunk until the nest enumerator stays quick."""
    kind = draw(st.sampled_from(["gemm", "bmm", "random", "random"]))
    if kind == "gemm":
        problem = bs.gemm(draw(SIZES), draw(SIZES), draw(SIZES))
    elif kind == "bmm":
        problem = bs.bmm(*(draw(st.sampled_from([1, 2, 3, 4])) for _ in range(4)))
    else:
        ranks = [f"r{i}" for i in range(draw(st.integers(1, 4)))]
        subset = st.lists(st.sampled_from(ranks), max_size=len(ranks), unique=True)
        ins = [draw(subset) for _ in range(draw(st.integers(1, 3)))]
        out = draw(subset)
        for d in ranks:
            if not any(d in t for t in (out, *ins)):
                (ins[draw(st.integers(0, len(ins) - 1))] if ins else out).append(d)
        problem = plain(tuple(out), [tuple(t) for t in ins], {d: draw(SIZES) for d in ranks})
    while reference_work(problem) > budget and max(problem.size.values()) > 1:
        big = max(problem.ranks, key=problem.size.get)
        problem = Einsum(problem.output, problem.inputs,
                         tuple((d, n // 2 if d == big else n) for d, n in problem.sizes), problem.name)
    return problem


def staircase(pairs) -> list[tuple[int, int]]:
    return [(c.occupancy, c.accesses) for _, c in pairs]


@settings(max_examples=60, deadline=None)
@given(plain_einsums(budget=5000))
def test_fast_frontier_equals_the_nest_enumerator(problem):
    fast = fastnest.frontier(problem)
    assert fast is not None
    check_nest_points(problem, PER_TENSOR, fast)
    assert staircase(fast) == staircase(_nest_frontier(problem, PER_TENSOR, 10**6))


@settings(max_examples=8, deadline=None)
@given(plain_einsums(budget=1000))
def test_fast_frontier_equals_the_milp_on_random_einsums(problem):
    fast = staircase(frontier_points(problem, "per_tensor/perfect"))
    assert fast == points(bs.pareto_frontier(problem, mapspace="per_tensor/perfect", method="milp"))


MID = [bs.gemm(256, 64, 128), bs.gemm(8, 512, 2048),
       plain(("m", "h", "e"), [("m", "d"), ("h", "e", "d")], {"m": 64, "d": 128, "h": 4, "e": 32}),
       plain(("m", "n"), [("m", "k")], {"m": 1024, "n": 256, "k": 64}),
       plain((), [("m", "k"), ("k", "n")], {"m": 128, "n": 512, "k": 64}),
       plain(("m", "n"), [()], {"m": 64, "n": 32})]


@pytest.mark.parametrize("problem", MID, ids=lambda p: f"{p}{[n for _, n in p.sizes]}")
def test_fast_frontier_equals_the_milp(problem):
    fast = frontier_points(problem, "per_tensor/perfect")
    check_nest_points(problem, PER_TENSOR, fast)
    assert staircase(fast) == points(bs.pareto_frontier(problem, mapspace="per_tensor/perfect",
                                                        method="milp"))


def test_merged_ranks_split_back_exactly(monkeypatch):
    """h and e index the same tensors: they are costed as one rank of size 12 and split back prime
    by prime (6 = 2 * 3, 2); in blocks of 5 combinations the staircase is the same."""
    problem = plain(("m", "h", "e"), [("m", "d"), ("h", "e", "d")], {"m": 3, "d": 2, "h": 2, "e": 6})
    fast = fastnest.frontier(problem)
    check_nest_points(problem, PER_TENSOR, fast)
    assert staircase(fast) == staircase(_nest_frontier(problem, PER_TENSOR, 10**6))
    monkeypatch.setattr(fastnest, "CHUNK", 5)
    assert staircase(fastnest.frontier(problem)) == staircase(fast)


def test_large_gemms_are_fast_and_exact_at_the_ends():
    """gemm(8192, 4096, 16384) was far over the nest enumerator's limit; now milliseconds. Its
    staircase ends at the algorithmic minimum (occupancy: everything but the largest tensor plus
    what the MILP finds) and starts at 4 words (docs/mapspaces.md)."""
    for problem in (bs.gemm(8192, 4096, 128), bs.gemm(8192, 4096, 16384)):
        start = time.perf_counter()
        fast = frontier_points(problem, "per_tensor/perfect")
        assert time.perf_counter() - start < 2.0  # about 10 ms; generous on a loaded machine
        check_nest_points(problem, PER_TENSOR, fast)
        assert fast[-1][1].accesses == sum(problem.tensor_size(T) for T in problem.tensors)
        assert fast[0][1].occupancy == 3


def test_gemm_4096_reaches_the_minimum_at_accelforges_buffer():
    """As test_mapspaces' MILP version: the minimum at 16,781,313 words, 4 words give the uniform
    5-word value, the 3-word closed form (docs/mapspaces.md §4)."""
    g = bs.gemm(4096, 4096, 4096)
    stairs = staircase(frontier_points(g, "per_tensor/perfect"))
    assert stairs[-1] == (4096**2 + 4096 + 1, 3 * 4096**2)
    assert lookup(stairs, 4) == 103_095_992_320 == 3 * 4096**3 // 2 + 4096**2
    assert lookup(stairs, 3) == 2 * 4096**3 + 4096**2
    uniform = staircase(frontier_points(g))
    assert lookup(stairs, 4) == lookup(uniform, 5) < lookup(uniform, 4)
    assert all(lookup(stairs, o) <= a for o, a in uniform)


def test_fast_path_covers_windows_and_imperfect_factors():
    conv = bs.conv(R=2, P=3, C=2, K=2)
    assert fastnest.applies(conv, PER_TENSOR)
    assert fastnest.applies(bs.gemm(4, 4, 4), Mapspace("per_tensor", "imperfect"))
    assert not fastnest.applies(bs.gemm(4, 4, 4), Mapspace())  # enumerate._frontier's
    assert staircase(frontier_points(conv, PER_TENSOR)) == staircase(_nest_frontier(conv, PER_TENSOR, 10**6))
