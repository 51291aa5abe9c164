"""Spatial fanout in hierarchy nests: ``cost.evaluate_levels`` (closed form) against
``spatial_sim.simulate_levels``, which runs the nest instance by instance (tests/spatial_sim.py)."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from spatial_sim import simulate_copies, simulate_levels

import boundsolver as bs
from boundsolver.model.cost import Copies, LevelCost, Nest, evaluate_levels
from boundsolver.model.mapspace import divisors

HAS_SPATIAL = "spatial" in Nest.__dataclass_fields__
needs_spatial = pytest.mark.skipif(not HAS_SPATIAL, reason="Nest has no spatial field yet")


def make_nest(levels, orders, storage, spatial=()) -> Nest:
    """A Nest, with ``spatial`` only where the field exists (before it, only ``spatial=()``)."""
    if HAS_SPATIAL:
        return Nest(levels, orders, storage, spatial=spatial)
    assert not spatial
    return Nest(levels, orders, storage)


# Worked example: GEMM 4x4x4, L2 (one instance) keeps A, B, Z whole; L1 has 4 instances
# (n split 2, k split 2 at L1), global L1 tile {m:1, k:2, n:4}, so per instance {m:1, k:1, n:2}.
# Segment 1 loops k (2 trips, stride 2) outside m (4 trips): 8 steps (ik, im); instance
# (sn, sk) holds A[im, 2ik+sk], B[2ik+sk, 2sn:2sn+2], Z[im, 2sn:2sn+2].
# L2 from DRAM: A 16, B 16, Z filled 16, first reads elided, written 16 -> 16.  dram = 48.
# L1 from L2, footprints A 1, B 2, Z 2 (occupancy 5):
#   A changes every step; its tile ignores sn, so with multicast the two n-instances share one
#     delivery: 8 steps * 2 tiles * 1 = 16; without, 8 * 4 * 1 = 32.
#   B changes with ik only and every instance holds its own tile: 2 * 4 * 2 = 16 either way.
#   Z changes every step (m inner) and ignores sk: the k-instances compute partial sums of the
#     same tile. Multicast (parent reduces): fills 8 * 2 * 2 = 32, 8 distinct tiles (4 m x 2 n)
#     first-read elided, reads 32 - 16 = 16, writes 32 -> 48. Without: every instance writes its
#     partial sums back, 8 * 4 * 2 = 64; of the two k-instances sharing a tile one reads the
#     running sum back and the other starts from zero: reads 16 as with multicast -> 80.
#   L1 total: multicast 16 + 16 + 48 = 80 (what the unsplit nest moves), without 32 + 16 + 80 = 128.
P = bs.gemm(4, 4, 4)
LEVELS = ((("m", 4), ("k", 4), ("n", 4)), (("m", 1), ("k", 2), ("n", 4)))
ORDERS = (("m", "k", "n"), ("k", "m"))
KEEP_ALL = tuple((T, b) for T in "ABZ" for b in (1, 2))
SPLIT = ((), (("n", 2), ("k", 2)))
WORKED = {True: LevelCost((48, 5), (48, 80), 48), False: LevelCost((48, 5), (48, 128), 48)}


@pytest.mark.parametrize("multicast", [True, False])
def test_worked_example_simulated(multicast):
    flags = (True, multicast)
    assert simulate_levels(P, make_nest(LEVELS, ORDERS, KEEP_ALL), flags, spatial=SPLIT) == WORKED[multicast]


def test_worked_example_without_spatial():
    """The same nest unsplit: L1 holds the global tile {m:1,k:2,n:4}: A 2, B 8, Z 4 words."""
    nest = make_nest(LEVELS, ORDERS, KEEP_ALL)
    assert simulate_levels(P, nest) == evaluate_levels(P, nest) == LevelCost((48, 14), (48, 80), 48)


def test_bypass_feeds_from_dram():
    """B kept at L1 only: its fills come from the backing store; dram counts them (16), L2 not."""
    storage = tuple(c for c in KEEP_ALL if c != ("B", 1))
    cost = simulate_levels(P, make_nest(LEVELS, ORDERS, storage), (True, False), spatial=SPLIT)
    assert cost == LevelCost((32, 5), (32, 128), 48)


@needs_spatial
@pytest.mark.parametrize("multicast", [True, False])
def test_worked_example_evaluated(multicast):
    nest = make_nest(LEVELS, ORDERS, KEEP_ALL, SPLIT)
    assert evaluate_levels(P, nest, multicast=(True, multicast)) == WORKED[multicast]
    if multicast:  # the evaluator's default: every parent multicasts
        assert evaluate_levels(P, nest) == WORKED[True]


def draw_problem(draw, sizes, max_macs: int) -> bs.Einsum:
    """A GEMM, or a 4-rank Einsum with a batch rank one input ignores, of at most
    ``max_macs`` multiply-adds."""
    text = draw(st.sampled_from(["Z[m,n] += A[m,k] * B[k,n]", "Z[h,m,n] += A[m,k] * B[h,k,n]"]))
    names = sorted(set(re.findall(r"[a-z]", text)))
    dims = [draw(st.sampled_from(sizes)) for _ in names]
    while math.prod(dims) > max_macs:
        dims[dims.index(max(dims))] //= 2
    return bs.einsum(text, **dict(zip(names, dims)))


def draw_tiles(draw, p, k: int) -> list[dict[str, int]]:
    """Global tiles at boundaries 0..k, each dividing the one above."""
    tops = [p.size]
    for _ in range(k):
        tops.append({d: draw(st.sampled_from(divisors(tops[-1][d]))) for d in p.ranks})
    return tops


def draw_split(draw, ranks, inner: dict[str, int], spread: dict[str, int], fanout: int):
    """One fanout's factors, at most ``fanout`` instances, every rank's splits so far
    (``spread``, updated) dividing its innermost global tile."""
    level, budget = [], fanout
    for d in ranks:
        f = draw(st.sampled_from([f for f in divisors(inner[d] // spread[d]) if f <= budget]))
        if f > 1:
            level.append((d, f))
            spread[d] *= f
            budget //= f
    return tuple(level)


@st.composite
def nests(draw, spatial: bool, fanout: int = 4, max_macs: int = 128):
    """A small GEMM (or a 4-rank Einsum with a batch rank one input ignores), 2-3 on-chip levels,
    divisor chains of global tiles, spatial factors that keep every per-instance tile whole (their
    product per rank divides the innermost global tile) and at most ``fanout`` instances per
    parent, random orders, keep sets and multicast flags."""
    p = draw_problem(draw, [1, 2, 4, 6, 8], max_macs)
    ranks, L = p.ranks, draw(st.integers(2, 3))
    tops = draw_tiles(draw, p, L)
    spread = dict.fromkeys(ranks, 1)
    fans = [draw_split(draw, ranks, tops[L], spread, fanout) for _ in range(L if spatial else 0)]
    orders = tuple(tuple(draw(st.permutations(ranks))) for _ in range(L))
    storage = tuple((T.name, b) for T in p.tensors
                    for b in sorted(draw(st.sets(st.integers(1, L), min_size=1))))
    flags = tuple(draw(st.lists(st.booleans(), min_size=L, max_size=L)))
    levels = tuple(tuple(t.items()) for t in tops[1:])
    return p, make_nest(levels, orders, storage, tuple(fans)), flags


@settings(max_examples=60, deadline=None)
@given(nests(spatial=False))
def test_no_spatial_matches_evaluator(case):
    p, nest, flags = case
    assert simulate_levels(p, nest, flags) == evaluate_levels(p, nest)


@needs_spatial
@settings(max_examples=60, deadline=None)
@given(nests(spatial=True))
def test_spatial_matches_evaluator(case):
    p, nest, flags = case
    assert evaluate_levels(p, nest, multicast=flags) == simulate_levels(p, nest, flags)


@st.composite
def per_tensor_nests(draw, fanout: int = 4, max_macs: int = 64):
    """Per-tensor placement within two levels with fanout: K boundaries, level 2's fanout loop
    right above boundary ``pos`` (level 1's above boundary 1); every level-1 copy above ``pos``,
    every level-2 copy at or below it, each tensor kept by a random nonempty set of levels."""
    p = draw_problem(draw, [1, 2, 4], max_macs)
    ranks, K = p.ranks, draw(st.integers(2, 4))
    pos = draw(st.integers(2, K))
    tops = draw_tiles(draw, p, K)
    spatial, spread = [()] * K, dict.fromkeys(ranks, 1)
    for b in (1, pos):
        spatial[b - 1] = draw_split(draw, ranks, tops[K], spread, fanout)
    storage, where = [], []
    for T in p.tensors:
        for lv in sorted(draw(st.sets(st.integers(1, 2), min_size=1))):
            lo, hi = (1, pos - 1) if lv == 1 else (pos, K)
            storage.append((T.name, draw(st.integers(lo, hi))))
            where.append(lv)
    orders = tuple(tuple(draw(st.permutations(ranks))) for _ in range(K))
    flags = tuple(draw(st.lists(st.booleans(), min_size=2, max_size=2)))
    nest = Nest(tuple(tuple(t.items()) for t in tops[1:]), orders, tuple(storage), tuple(spatial))
    return p, nest, tuple(where), (1, pos), flags


@needs_spatial
@settings(max_examples=60, deadline=None)
@given(per_tensor_nests())
def test_per_tensor_copies_with_fanout_match_the_simulator(case):
    """Per-tensor placement and spatial fanout on one nest (nest.Copies.fanout_at)."""
    p, nest, where, at, flags = case
    copies = Copies(where, ("L2", "L1"), at)
    assert evaluate_levels(p, nest, copies, multicast=flags) == simulate_copies(
        p, nest, where, 2, at, flags)


def test_uniform_copies_with_fanout_agree_both_ways():
    """The worked example through Copies (fanout_at = each level's own boundary) and through
    both simulators: one model, whichever way it is described."""
    nest = make_nest(LEVELS, ORDERS, KEEP_ALL, SPLIT)
    where = tuple(b for _, b in KEEP_ALL)
    for mc in (True, False):
        flags = (True, mc)
        got = evaluate_levels(P, nest, Copies(where, ("L2", "L1"), (1, 2)), multicast=flags)
        assert got == simulate_copies(P, nest, where, 2, (1, 2), flags) == WORKED[mc]
