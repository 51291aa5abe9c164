"""The extended mapspaces: per-tensor placement and imperfect factors (docs/mapspaces.md)."""

from __future__ import annotations

import math
import random

import pytest
from helpers import general_nests, lookup, points, simulate, staircase_of
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import general_einsums

import boundsolver as bs
from boundsolver.model import cost as nests
from boundsolver.model.cost import Nest
from boundsolver.model.mapspace import Mapspace, divisors, tile_sizes
from boundsolver.reference.enumerate import enumerate_frontier

EXTENDED = ["per_tensor/perfect", "uniform/imperfect", "per_tensor/imperfect"]
TINY = st.sampled_from([1, 2, 3, 4, 5, 6])


@st.composite
def small_problems(draw):
    kind = draw(st.sampled_from(["gemm", "bmm", "conv", "general"]))
    if kind == "gemm":
        return bs.gemm(draw(TINY), draw(TINY), draw(TINY))
    if kind == "bmm":
        return bs.bmm(*(draw(st.sampled_from([1, 2, 3])) for _ in range(4)))
    if kind == "conv":
        return bs.conv(R=draw(st.integers(1, 3)), P=draw(st.sampled_from([1, 2, 3, 4])),
                       C=draw(st.sampled_from([1, 2])), K=draw(st.sampled_from([1, 2, 3])),
                       Wstride=draw(st.integers(1, 2)), Wdilation=draw(st.integers(1, 2)))
    return draw(general_einsums(max_macs=100))


def _enumerated(problem, mapspace):
    """The reference staircase, or None where the mapspace is too large to enumerate quickly."""
    try:
        return points(enumerate_frontier(problem, limit=50_000, mapspace=mapspace))
    except bs.EnumerationTooLarge:
        return None


@settings(max_examples=60, deadline=None)
@given(small_problems(), st.sampled_from(EXTENDED))
def test_milp_matches_enumeration(problem, mapspace):
    expected = _enumerated(problem, mapspace)
    if expected is not None:
        assert points(bs.pareto_frontier(problem, mapspace=mapspace, method="milp")) == expected


@pytest.mark.parametrize("problem", [bs.gemm(3, 4, 2), bs.bmm(2, 2, 3, 2), bs.conv(R=2, P=3, C=2, K=2)],
                         ids=lambda p: p.name)
@pytest.mark.parametrize("mapspace", EXTENDED)
def test_cbc_matches_enumeration(problem, mapspace):
    expected = points(enumerate_frontier(problem, mapspace=mapspace))
    assert points(bs.pareto_frontier(problem, solver="cbc", mapspace=mapspace, method="milp")) == expected


@settings(max_examples=40, deadline=None)
@given(small_problems(), st.sampled_from(EXTENDED), st.data())
def test_richer_mapspaces_never_above_orojenesis(problem, mapspace, data):
    rich = _enumerated(problem, mapspace)
    if rich is None:
        return
    base = points(enumerate_frontier(problem))
    for cap in {o for o, _ in base} | {o for o, _ in rich} | {data.draw(st.integers(1, 400))}:
        b, r = lookup(base, cap), lookup(rich, cap)
        assert b is None or (r is not None and r <= b)
    assert rich[-1][1] <= base[-1][1] and rich[0][0] <= base[0][0]


def test_uniform_perfect_nests_are_the_orojenesis_model():
    rng = random.Random(7)
    for problem in [bs.gemm(4, 6, 8), bs.bmm(2, 4, 3, 2),
                    bs.conv(R=3, S=2, P=4, Q=2, C=2, K=4, Wstride=2, Hdilation=2)]:
        for _ in range(200):
            t = {d: rng.choice(divisors(n)) for d, n in problem.sizes}
            order = list(problem.ranks)
            rng.shuffle(order)
            want = bs.evaluate(problem, bs.Mapping(tuple(t.items()), tuple(order)))
            nest = Nest((tuple(t.items()),), (tuple(order),), tuple((T.name, 1) for T in problem.tensors))
            got = nests.evaluate(problem, nest)
            assert (got.occupancy, got.accesses) == (want.occupancy, want.accesses)


@pytest.mark.parametrize("problem,imperfect", [
    (bs.gemm(2, 2, 4), False), (bs.gemm(4, 2, 3), False), (bs.gemm(3, 2, 3), True),
    (bs.bmm(2, 2, 2, 3), True), (bs.gemm(5, 2, 2), True)], ids=lambda x: getattr(x, "name", str(x)))
def test_canonical_nests_lose_nothing(problem, imperfect):
    """Every loop nest (a rank looping several times, tensors stored at any depth), run literally,
    gives no point below the canonical enumerator's staircase, and the staircases coincide."""
    cands = {d: tile_sizes(n, imperfect) for d, n in problem.sizes}
    brute = staircase_of(simulate(problem, loops, where) for loops, where in general_nests(problem, cands))
    mapspace = Mapspace("per_tensor", "imperfect" if imperfect else "perfect")
    assert points(enumerate_frontier(problem, mapspace=mapspace)) == brute


@pytest.mark.parametrize("imperfect", [False, True])
def test_nest_model_matches_simulation(imperfect):
    """The closed-form nest cost equals running the nest (perfect factors) or bounds it from above
    (imperfect: where a partial tile leaves the innermost relevant loop one iteration, running the
    nest keeps a tile that the model re-fetches; docs/mapspaces.md)."""
    rng = random.Random(3)
    problem = bs.gemm(5, 4, 6)
    for _ in range(600):
        k = rng.randint(1, 3)
        levels, above = [], dict(problem.size)
        for b in range(k):
            tiles = {}
            for d, n in problem.sizes:
                options = [t for t in tile_sizes(n, imperfect)
                           if t <= above[d] and (b == 0 or above[d] % t == 0)]
                tiles[d] = rng.choice(options)
            levels.append(tuple(tiles.items()))
            above = tiles
        orders = tuple(tuple(rng.sample(problem.ranks, 3)) for _ in range(k))
        storage = {T.name: rng.randint(0, k) for T in problem.tensors}
        nest = Nest(tuple(levels), orders, tuple(storage.items()))
        loops = []
        for s, order in enumerate(orders):
            below = dict(levels[s])
            prev = problem.size if s == 0 else dict(levels[s - 1])
            loops += [(d, below[d]) for d in order if below[d] < prev[d]]
        depth = {T: sum(1 for s in range(b) for d in orders[s]
                        if dict(levels[s])[d] < (problem.size if s == 0 else dict(levels[s - 1]))[d])
                 for T, b in storage.items()}
        got = nests.evaluate(problem, nest)
        occupancy, accesses = simulate(problem, loops, depth)
        assert got.occupancy == occupancy
        assert got.accesses == accesses if not imperfect else got.accesses >= accesses


def test_gemm_4096_per_tensor_reaches_the_minimum_at_accelforges_buffer():
    """AccelForge: the algorithmic minimum at 16,781,313 words (one row of A, all of B, one Z
    element) where the uniform mapspace needs 16,785,408; 4 words give the uniform 5-word value."""
    g = bs.gemm(4096, 4096, 4096)
    frontier = bs.pareto_frontier(g, mapspace="per_tensor/perfect")
    last = frontier.iloc[-1]
    assert last["accesses"] == 3 * 4096**2
    assert last["occupancy"] == 4096**2 + 4096 + 1
    uniform = points(bs.pareto_frontier(g))
    stairs = points(frontier)
    assert lookup(stairs, 4) == lookup(uniform, 5) < lookup(uniform, 4)
    assert lookup(stairs, 3) == 2 * 4096**3 + 4096**2  # the 3-word closed form is unchanged
    for occ, acc in stairs:  # red-blue pebbling (K >= max(M, N) here)
        assert acc >= max(3 * 4096**2, 2 * 4096**3 / math.sqrt(occ) + 4096**2)
    assert all(lookup(stairs, o) <= a for o, a in uniform)


@settings(max_examples=25, deadline=None)
@given(TINY, TINY, st.sampled_from([4, 6, 8, 9, 12]), st.sampled_from(EXTENDED))
def test_gemm_never_below_pebbling(m, n, k, mapspace):
    if k < max(m, n):
        return
    problem = bs.gemm(m, k, n)
    for occ, acc in points(bs.pareto_frontier(problem, mapspace=mapspace)):
        assert acc >= max(m * k + k * n + m * n, 2 * m * n * k / math.sqrt(occ) + m * n) - 1e-9


def test_decoded_nest_reevaluates_to_its_point():
    problem = bs.gemm(12, 10, 9)
    ps = bs.PointSolver(problem, mapspace="per_tensor/imperfect")
    for cap in (3, 7, 20, 60, 200):
        answer = ps.min_accesses(cap)
        nest = answer.point.mapping
        assert isinstance(nest, Nest)
        cost = nests.evaluate(problem, nest)
        assert (cost.occupancy, cost.accesses) == (answer.point.cost.occupancy, answer.point.cost.accesses)
        assert cost.occupancy <= cap


def test_solve_curve_on_extended_mapspace_matches_enumeration():
    problem = bs.gemm(7, 5, 9)
    stairs = points(enumerate_frontier(problem, mapspace="per_tensor/imperfect"))
    caps = [3, 4, 5, 9, 17, 40, 80, 200]
    curve = bs.solve_curve(problem, caps, mapspace=Mapspace("per_tensor", "imperfect"), method="milp")
    assert list(curve["accesses"]) == [lookup(stairs, c) for c in caps]
    assert curve.attrs["mapspace"] == "per_tensor/imperfect"
    assert "for " in curve["mapping"].iloc[0] and "[Z" in curve["mapping"].iloc[0]


def test_bad_mapspace_is_a_clear_error():
    with pytest.raises(bs.BoundsolverError, match="placement must be one of"):
        Mapspace(placement="tree")
    with pytest.raises(bs.BoundsolverError, match="placement/factors"):
        bs.pareto_frontier(bs.gemm(2, 2, 2), mapspace="fancy")
    with pytest.raises(bs.EinsumError, match="must divide"):
        conv = bs.conv(R=2, P=3)
        tiles = tuple((d, 2 if d == "p" else 1) for d in conv.ranks)
        nests.evaluate(conv, Nest((tiles,), (conv.ranks,), (("I", 1), ("W", 1), ("O", 1))))
