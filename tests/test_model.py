"""The cost model and the enumerator against closed forms and an independent brute force."""

import math
from itertools import permutations

import pytest
import reference_model
from helpers import brute_frontier, mapspace, points
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from strategies import convs, einsums, gemms

import boundsolver as bs
from boundsolver.model.cost import Copies, LevelCost, best_order, evaluate_levels, traffic
from boundsolver.model.mapspace import divisors
from boundsolver.model.symbolic import Symbolic


def test_gemm_by_hand():
    # M=N=K=2, tiles m=1,k=2,n=1, loops m (outer), n: A's tile stays while n turns (4 words),
    # B is re-read for every m (2 x 4), Z is written once and never read back (first-read elision).
    p = bs.gemm(2, 2, 2)
    cost = bs.evaluate(p, bs.Mapping((("m", 1), ("k", 2), ("n", 1)), ("m", "n")))
    assert cost.occupancy == 2 + 2 + 1
    assert dict(cost.reads) == {"A": 4, "B": 8, "Z": 0}
    assert dict(cost.writes) == {"Z": 4}
    # A loop that only touches B's irrelevant rank leaves B fetched once.
    once = bs.evaluate(p, bs.Mapping((("m", 1), ("k", 2), ("n", 2)), ("m",)))
    assert dict(once.reads)["B"] == 4


def test_sliding_window_delta_by_hand():
    # 1-D conv O[p] += I[p+r] * W[r], P=4, R=3: tile p=1, r=3, loop p: each step fetches one new word.
    p = bs.einsum("O[p] += I[p+r] * W[r]", p=4, r=3)
    cost = bs.evaluate(p, bs.Mapping((("p", 1), ("r", 3)), ("p",)))
    assert dict(cost.reads)["I"] == 3 + 3 * 1
    # stride 2: a window of 3 advances by 2, so two new words per step.
    q = bs.einsum("O[p] += I[2*p+r] * W[r]", p=4, r=3)
    assert dict(bs.evaluate(q, bs.Mapping((("p", 1), ("r", 3)), ("p",))).reads)["I"] == 3 + 3 * 2
    # stride 4 > window: no overlap, every step fetches a whole window (the hole is not fetched).
    s = bs.einsum("O[p] += I[4*p+r] * W[r]", p=4, r=3)
    assert dict(bs.evaluate(s, bs.Mapping((("p", 1), ("r", 3)), ("p",))).reads)["I"] == 4 * 3


@st.composite
def mappings(draw, problems=einsums):
    """A problem (of every kind, sliding windows included) and a random Orojenesis mapping of
    it: a divisor tile per rank, every looping rank in the outer order, and perhaps some ranks
    that do not loop."""
    p = draw(problems)
    tiles = {d: draw(st.sampled_from(divisors(n))) for d, n in p.sizes}
    looping = [d for d, n in p.sizes if n // tiles[d] > 1]
    idle = [d for d in draw(st.lists(st.sampled_from(p.ranks), unique=True)) if d not in looping]
    order = draw(st.permutations(looping + idle))
    return p, tiles, tuple(order)


def as_reference(cost: bs.Cost) -> tuple:
    return cost.occupancy, cost.accesses, dict(cost.reads), dict(cost.writes)


@settings(max_examples=300)
@given(mappings())
def test_evaluate_equals_the_closed_form(case):
    """cost.evaluate (a Mapping costed as a one-boundary nest by the one core) is model.md's
    closed form, written independently in tests/reference_model.py."""
    p, tiles, order = case
    cost = bs.evaluate(p, bs.Mapping(tuple(tiles.items()), order))
    assert as_reference(cost) == reference_model.cost(p, tiles, order)
    assert [name for name, _ in cost.reads] == [T.name for T in p.tensors]
    assert [name for name, _ in cost.writes] == [p.output.name]


@settings(max_examples=150)
@given(mappings(st.one_of(convs(), einsums)))
def test_best_order_is_the_best_of_every_order(case):
    """cost.best_order (a DP scoring partial orders on sub-problems) against every permutation
    of the looping ranks, each costed by the evaluator."""
    p, tiles, _ = case
    looping = [d for d, n in p.sizes if n // tiles[d] > 1]
    assume(len(looping) <= 5)
    t = tuple(tiles.items())
    least = min(bs.evaluate(p, bs.Mapping(t, o)).accesses for o in permutations(looping))
    assert bs.evaluate(p, bs.Mapping(t, best_order(p, tiles))).accesses == least


@given(mappings())
def test_a_mapping_is_its_one_boundary_nest(case):
    p, tiles, order = case
    mapping = bs.Mapping(tuple(tiles.items()), order)
    nest = mapping.nest(p)
    assert bs.evaluate(p, nest) == bs.evaluate(p, mapping)
    level = evaluate_levels(p, nest)
    cost = bs.evaluate(p, mapping)
    assert level == LevelCost((cost.occupancy,), (cost.accesses,), cost.accesses)


@given(gemms())
def test_three_word_gemm_closed_form(p):
    M, K, N = (p.size[d] for d in "mkn")
    assume(min(M, K, N) > 1)  # a rank of size 1 never loops and the form no longer applies
    stairs = bs.enumerate_frontier(p)
    first = stairs.iloc[0]
    assert first.occupancy == 3
    assert first.accesses == 2 * M * K * N + M * N


@given(gemms())
def test_gemm_maximal_effectual_buffer_closed_form(p):
    M, K, N = (p.size[d] for d in "mkn")
    X, Y = sorted([(M, K), (K, N), (M, N)], key=lambda s: s[0] * s[1])[0]
    last = bs.enumerate_frontier(p).iloc[-1]
    assert last.accesses == bs.algorithmic_minimum(p) == M * K + K * N + M * N
    assert last.occupancy == X * Y + X + Y


@settings(max_examples=40)
@given(einsums)
def test_enumerator_equals_brute_force_over_all_orders(p):
    assume(mapspace(p) <= 20_000)
    assert points(bs.enumerate_frontier(p)) == brute_frontier(p)


@given(st.one_of(gemms(), convs()), st.data())
def test_symbolic_traffic_never_under_the_model(p, data):
    """Counting loops of one iteration as real loops can only over-estimate (formulation.py)."""
    ranks = p.ranks
    tiles = {d: data.draw(st.sampled_from(divisors(p.size[d]))) for d in ranks}
    order = data.draw(st.permutations(ranks))
    exact = bs.evaluate(p, bs.Mapping(tuple(tiles.items()), tuple(order))).accesses
    sym = Symbolic(p)
    assert sym.evaluate(sym.accesses(tuple(order)), tiles)[0] >= exact
    looping = [d for d in order if p.size[d] // tiles[d] > 1]
    idle = [d for d in order if d not in looping]
    assert sym.evaluate(sym.accesses(tuple(idle + looping)), tiles)[0] == exact


def test_published_gemm_4096_maximal_effectual_buffer():
    """model.md: 4096^3 reaches the algorithmic minimum at 16,785,408 words (ratio 33.3%)."""
    front = bs.enumerate_frontier(bs.gemm(4096, 4096, 4096))
    last = front.iloc[-1]
    assert last.occupancy == 16_785_408
    assert last.accesses == 3 * 4096 ** 2
    assert math.isclose(last.occupancy / (3 * 4096 ** 2), 1 / 3, rel_tol=1e-3)


def test_one_core_three_views():
    """A per-tensor one-buffer nest (B whole at boundary 0) is one level of the core; a hierarchy
    keeps every tensor below the backing store, and one buffer has no fanout."""
    p = bs.gemm(4, 4, 4)
    tiles = (("m", 1), ("k", 4), ("n", 1))
    nest = bs.Nest((tiles,), (("m", "n"),), (("A", 1), ("B", 0), ("Z", 1)))
    cost = bs.evaluate(p, nest)
    core = traffic(p, nest, Copies((1, 1, 1), ("buffer",)))
    assert cost.occupancy == core.occupancy[0] == 4 + 16 + 1
    assert dict(cost.reads) == {c.tensor: c.reads for c in core.copies} == {"A": 16, "B": 16, "Z": 0}
    assert dict(cost.writes) == {"Z": 16}
    with pytest.raises(bs.EinsumError, match="hierarchy's nest"):
        evaluate_levels(p, nest)
    fanned = bs.Nest((tiles,), (("m", "n"),), (("A", 1), ("B", 1), ("Z", 1)), ((("m", 1),),))
    assert bs.evaluate(p, fanned) == bs.evaluate(p, bs.Mapping(tiles, ("m", "n")))
    with pytest.raises(bs.EinsumError, match="no spatial fanout"):
        bs.evaluate(p, bs.Nest(fanned.levels, fanned.orders, fanned.storage, ((("k", 2),),)))


def test_docs_model_worked_examples():
    """docs/model.md's worked examples, counted there by hand from the rules."""
    gemm = bs.gemm(4, 4, 4)
    cost = bs.evaluate(gemm, bs.Mapping((("m", 2), ("k", 4), ("n", 1)), ("n", "m")))
    assert (cost.occupancy, cost.accesses) == (14, 96)
    assert dict(cost.reads) == {"A": 64, "B": 16, "Z": 0} and dict(cost.writes) == {"Z": 16}
    conv = bs.einsum("O[p] += I[p+r] * W[r]", p=8, r=3)
    cost = bs.evaluate(conv, bs.Mapping((("p", 2), ("r", 3)), ("p",)))
    assert (cost.occupancy, cost.accesses) == (9, 21) == (9, bs.algorithmic_minimum(conv))
    ones = bs.Mapping((("m", 1), ("k", 1), ("n", 1)), ("m", "n", "k"))
    assert bs.evaluate(gemm, ones).accesses == 2 * 4 * 4 * 4 + 4 * 4
