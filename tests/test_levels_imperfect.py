"""Imperfect factors on hierarchies (docs/hierarchy.md, "Imperfect factors"): each rank's
outermost split may leave a partial last tile, deeper tiles divide it. The MILPs (levels.py,
placement.py) against the brute-force references (hierarchy.py), the bound against the perfect
one and the one-buffer imperfect curve, and hand counts."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import boundsolver as bs
from boundsolver.curves import joint
from boundsolver.model.arch import Arch, Level
from boundsolver.model.cost import Nest, check_level_tiles, evaluate_levels
from boundsolver.reference import hierarchy
from helpers import KEEPS, covered, fanout, four, key_columns, same_rows, three

SIZES = [2, 3, 5, 6, 7]  # primes and sizes with few divisors: imperfect tiles matter


def same(problem, arch, solver="highs", placement="uniform"):
    """The MILP's staircase equals the brute force's, and every MILP point is an imperfect
    nest of the stated mapspace, re-costed to its row."""
    ref = joint.solve(problem, arch, method="enumerate", factors="imperfect",
                      placement=placement)
    got = joint.solve(problem, arch, method="milp", factors="imperfect", solver=solver,
                      placement=placement)
    assert got.attrs["method"] == "milp"
    same_rows(ref, got, arch)
    return ref, got


def stairs(front, arch, column="accesses"):
    """(swept occupancy, key) pairs of a hierarchy staircase."""
    keys = key_columns(arch)[1:]
    return [(int(r["occupancy"]), tuple(int(r[k]) for k in keys)) for _, r in front.iterrows()]


def at(points, capacity):
    """The least key among staircase points fitting ``capacity`` (None: none fits)."""
    fit = [k for o, k in points if o <= capacity]
    return min(fit) if fit else None


# ------------------------------------------------------------------------- MILP = brute force

@settings(max_examples=20, deadline=None)
@given(st.sampled_from(SIZES), st.sampled_from(SIZES[:3]), st.sampled_from(SIZES),
       st.integers(3, 16), st.sampled_from(KEEPS), st.sampled_from(KEEPS))
def test_three_levels_gemm(m, k, n, l1, keeps_l2, keeps_l1):
    p = bs.gemm(m, k, n)
    arch = three(l1, keeps_l2, keeps_l1)
    assume(covered(p, arch))
    same(p, arch)


@settings(max_examples=6, deadline=None)
@given(st.sampled_from([2, 3, 5]), st.sampled_from([2, 3]), st.sampled_from([3, 5]),
       st.integers(4, 12), st.integers(3, 6), st.sampled_from(KEEPS[:3]))
def test_four_levels_gemm(m, k, n, l2, l1, keeps_l1):
    p = bs.gemm(m, k, n)
    arch = four(l2, l1, keeps_l1=keeps_l1)
    assume(covered(p, arch))
    same(p, arch)


@settings(max_examples=8, deadline=None)
@given(st.sampled_from([2, 3]), st.sampled_from([2, 3]), st.sampled_from([4, 5]),
       st.integers(3, 8), st.sampled_from([1, 2]), st.sampled_from([2, 3]),
       st.sampled_from([None, ("k",), ("m", "n")]), st.booleans(), st.booleans(),
       st.sampled_from(KEEPS[:3]), st.sampled_from(["highs", "cbc"]))
def test_spatial_fanout(m, k, n, l1, outer, inner, ranks, mc2, mc1, keeps_l1, solver):
    """Fanout at either level, multicast or not, with bypass, both solvers: spatial factors
    divide their rank and the innermost global tile, which may itself be imperfect."""
    p = bs.gemm(m, k, n)
    arch = fanout(l1, outer, inner, ranks, mc2, mc1, keeps_l1)
    assume(covered(p, arch))
    same(p, arch, solver)


@pytest.mark.parametrize("problem,arch", [
    (bs.conv(R=3, P=4, C=3, K=5), three(8)),  # the window's ranks stay perfect
    (bs.conv(R=2, P=3, C=5, K=3), three(6, keeps_l1=("inputs",))),
])
def test_convs(problem, arch):
    same(problem, arch)


@pytest.mark.parametrize("problem,arch", [(bs.gemm(5, 2, 3), three(5)),
                                          (bs.gemm(3, 2, 5), three(4, keeps_l1=("inputs",)))])
def test_cbc(problem, arch):
    same(problem, arch, solver="cbc")


@pytest.mark.parametrize("problem,arch", [
    (bs.gemm(3, 2, 3), three(6)),
    (bs.gemm(5, 2, 2), three(4, keeps_l1=("inputs",))),
])
def test_per_tensor_milp_equals_enumeration(problem, arch):
    same(problem, arch, placement="per_tensor")


# ------------------------------------------------------------------ against other bounds

@settings(max_examples=10, deadline=None)
@given(st.sampled_from(SIZES), st.sampled_from(SIZES[:3]), st.sampled_from(SIZES),
       st.integers(3, 12), st.sampled_from(KEEPS[:3]), st.sampled_from(["uniform", "per_tensor"]))
def test_imperfect_is_never_above_perfect(m, k, n, l1, keeps_l1, placement):
    """Every perfect nest is an imperfect one: at every capacity the imperfect key is at most
    the perfect one (enumerated, both placements)."""
    p = bs.gemm(m, k, n)
    arch = three(l1, keeps_l1=keeps_l1)
    assume(covered(p, arch))
    if placement == "per_tensor":
        assume(m * k * n <= 45)
    perfect = stairs(joint.solve(p, arch, method="enumerate", placement=placement), arch)
    imperfect = stairs(joint.solve(p, arch, method="enumerate", placement=placement,
                                   factors="imperfect"), arch)
    for capacity in sorted({o for o, _ in perfect + imperfect}):
        a, b = at(imperfect, capacity), at(perfect, capacity)
        assert b is None or (a is not None and a <= b)


@pytest.mark.parametrize("problem,placement", [
    (bs.gemm(5, 3, 7), "uniform"), (bs.gemm(7, 7, 3), "uniform"),
    (bs.conv(R=3, P=5, C=3, K=2), "uniform"), (bs.gemm(3, 2, 5), "per_tensor"),
])
def test_unconstrained_inner_level_gives_the_one_buffer_imperfect_curve(problem, placement):
    """With an L1 that holds everything, the DRAM column at every L2 capacity is the one-buffer
    curve of the same imperfect mapspace (fastnest.py, an independent enumerator)."""
    arch = three(10**6)
    method = "milp" if placement == "uniform" else "enumerate"
    front = joint.solve(problem, arch, method=method, factors="imperfect", placement=placement)
    one = bs.pareto_frontier(problem, mapspace=f"{placement}/imperfect", method="enumerate")
    one_pts = list(zip(one["occupancy"].astype(int), one["accesses"].astype(int)))
    ours = list(zip(front["occupancy"].astype(int), front["accesses"].astype(int)))
    for capacity in sorted({o for o, _ in one_pts + ours}):
        a = min((v for o, v in ours if o <= capacity), default=None)
        b = min((v for o, v in one_pts if o <= capacity), default=None)
        assert a == b, capacity


def test_a_prime_rank_beats_perfect_factors_by_hand():
    """``Z[m] += A[m,k] * B[k]`` with M = K = 3, L2 at 5 words, L1 unconstrained. Perfect tiles
    are 1 or 3: (m, k) = (1, 1) is the only one within 5 words (3 words; (3, 1) and (1, 3) need
    7), least DRAM traffic with m outermost: A 9, B re-fetched per m, 3 x 3 = 9, Z written once,
    3: 21. Imperfect tiles add 2 (tiles 2 and 1); within 5 words also (2, 1) and (1, 2), 5 words
    each. (2, 1), m outermost: A 9, B once per m tile, 2 x 3 = 6, Z 3: 18 (k outermost: Z is
    re-fetched per k, 2 x 3 x 3 - 3 = 15, total 27). (1, 2): m outermost, B 3 x 3 = 9, total 21;
    k outermost, Z 2 x (2 x 3) - 3 = 9, total 21. So 18 against 21."""
    p = bs.gemm(3, 3, 1)
    arch = three(10**6)
    for method in ("enumerate", "milp"):
        perfect = joint.solve(p, arch, [5], method=method, placement="uniform")
        imperfect = joint.solve(p, arch, [5], method=method, factors="imperfect", placement="uniform")
        assert perfect["accesses"].tolist() == [21]
        assert imperfect["accesses"].tolist() == [18]
    curve = bs.solve_curve(p, [5], arch=arch, mapspace="uniform/imperfect", method="milp")
    assert curve["accesses"].tolist() == [18]
    assert curve.attrs["mapspace"] == "uniform/imperfect"


# ------------------------------------------------------------------------------ hand counts

def test_a_partial_tile_on_two_levels_by_hand():
    """``Z[m] += A[m,k] * B[k]``, M = K = 3:
    ``for m in [0,2): [A@L2{m:2,k:3}] [B@L2{k:3}] [Z@L2{m:2}] for m in [0,2): for k in [0,3):
    [A@L1{m:1,k:1}] [B@L1{k:1}] [Z@L1{m:1}]`` (L2's m tiles 2 and 1; in the partial one the
    inner m loop runs once). Into L2: A 9 (its j is m, nothing above), B whole once 3, Z written
    once 3: 15 (= DRAM). Into L1: A 9; B's j is k with both m loops above it: one fetch of B per
    distinct m element, 3 x 3 = 9 (run literally: 3 + 3 for the full tile, 3 for the partial);
    Z's j is the inner m loop, k below it: written 3 times, never read back: 3. 21 in all.
    Occupancy: L2 6 + 3 + 2 = 11, L1 3."""
    p = bs.gemm(3, 3, 1)
    nest = Nest(((("m", 2), ("k", 3), ("n", 1)), (("m", 1), ("k", 1), ("n", 1))),
                (("m",), ("m", "k")), (("A", 1), ("A", 2), ("B", 1), ("B", 2), ("Z", 1), ("Z", 2)))
    check_level_tiles(p, nest, "imperfect")
    cost = evaluate_levels(p, nest)
    assert (cost.occupancy, cost.accesses, cost.dram) == ((11, 3), (15, 21), 15)
    with pytest.raises(bs.BoundsolverError, match="must divide the tile 3 above"):
        check_level_tiles(p, nest, "perfect")


def test_only_the_outermost_split_is_imperfect():
    """A rank's first split may be any size, at any boundary; a second split must divide."""
    p = bs.gemm(5, 3, 1)
    first_at_two = Nest(((("m", 5), ("k", 1), ("n", 1)), (("m", 2), ("k", 1), ("n", 1))),
                        (("k",), ("m",)), (("A", 1), ("A", 2), ("B", 1), ("B", 2), ("Z", 1),
                                           ("Z", 2)))
    check_level_tiles(p, first_at_two, "imperfect")
    second = Nest(((("m", 4), ("k", 3), ("n", 1)), (("m", 3), ("k", 3), ("n", 1))),
                  (("m",), ("m",)), (("A", 1), ("A", 2), ("B", 1), ("B", 2), ("Z", 1), ("Z", 2)))
    with pytest.raises(bs.BoundsolverError, match="only the outermost split"):
        check_level_tiles(p, second, "imperfect")
    window = bs.conv(R=3, P=5, C=2, K=2)
    tiles = dict(window.size) | {"p": 2}
    bad = Nest((tuple(tiles.items()),), (("p",),), tuple((T.name, 1) for T in window.tensors))
    with pytest.raises(bs.BoundsolverError, match="sliding window"):
        check_level_tiles(window, bad, "imperfect")


def test_every_enumerated_nest_is_in_the_mapspace():
    p = bs.gemm(5, 3, 7)
    for nest, cost in hierarchy.frontier_points(p, three(8), imperfect=True):
        check_level_tiles(p, nest, "imperfect")
        assert evaluate_levels(p, nest) == cost


# ------------------------------------------------------------------------- floors and API

@settings(max_examples=8, deadline=None)
@given(st.sampled_from([2, 3, 5]), st.sampled_from([2, 3]), st.sampled_from([2, 4, 6]),
       st.integers(3, 10), st.sampled_from([2, 3]), st.sampled_from([None, ("k",), ("m", "n")]))
def test_instance_floor_is_below_every_imperfect_mapping(m, k, n, l1, fan, ranks):
    """The per-instance floor read from the imperfect one-buffer staircase of each slice never
    exceeds the least traffic into the level over every imperfect mapping that fits it."""
    from boundsolver.curves.joint import LevelSolver

    p = bs.gemm(m, k, n)
    arch = Arch("f", 8, (Level("DRAM"), Level("L2", sweep=True),
                         Level("L1", l1, instances=fan, spatial_ranks=ranks, multicast=False)))
    floor = LevelSolver(p, arch, factors="imperfect").instance_floor(2, l1)
    costs = [evaluate_levels(p, nest, multicast=arch.multicast)
             for nest in hierarchy.nests(p, arch, imperfect=True)]
    least = min((c.accesses[1] for c in costs if c.occupancy[1] <= l1), default=None)
    if least is None:
        assert floor in (float("inf"), -float("inf"))
    else:
        assert floor <= least


def test_a_perfect_instance_floor_is_no_floor_for_imperfect_mappings():
    """GEMM 5x3x6, L1 of 8 words on 3 instances splitting m or n, no multicast: by brute force
    the least traffic into L1 is 135 over perfect nests and 129 over imperfect ones; the floor
    read from perfect slices (135) would cut off the imperfect optimum, the imperfect one is
    below it."""
    from boundsolver.curves.joint import LevelSolver

    p = bs.gemm(5, 3, 6)
    arch = Arch("f", 8, (Level("DRAM"), Level("L2", sweep=True),
                         Level("L1", 8, instances=3, spatial_ranks=("m", "n"), multicast=False)))
    least = {}
    for imperfect in (False, True):
        costs = [evaluate_levels(p, nest, multicast=arch.multicast)
                 for nest in hierarchy.nests(p, arch, imperfect=imperfect)]
        least[imperfect] = min(c.accesses[1] for c in costs if c.occupancy[1] <= 8)
    assert least == {False: 135, True: 129}
    assert LevelSolver(p, arch).instance_floor(2, 8) == 135
    assert LevelSolver(p, arch, factors="imperfect").instance_floor(2, 8) <= 129


def test_dram_floor_reads_the_imperfect_staircase():
    """The backing store's floor at L2 = 5 words is the imperfect one-buffer curve's 18 (the
    hand count above), not the perfect curve's 21, which imperfect nests beat."""
    from boundsolver.curves.joint import LevelSolver, PlacementSolver

    p = bs.gemm(3, 3, 1)
    arch = three(10**6)
    assert LevelSolver(p, arch).floor(0, {"occupancy:L2": 5}) == 21
    assert LevelSolver(p, arch, factors="imperfect").floor(0, {"occupancy:L2": 5}) == 18
    assert PlacementSolver(p, arch, factors="imperfect").floor(0, {"occupancy:L2": 5}) <= 18


def test_api_and_cli(tmp_path):
    p = bs.gemm(5, 3, 7)
    arch = three(8)
    got = bs.pareto_frontier(p, arch=arch, mapspace="uniform/imperfect")
    ref = joint.solve(p, arch, method="enumerate", factors="imperfect", placement="uniform")
    assert got[key_columns(arch)].values.tolist() == ref[key_columns(arch)].values.tolist()
    assert got.attrs["mapspace"] == "uniform/imperfect"
    with pytest.raises(bs.BoundsolverError, match="factors must be"):
        joint.solve(p, arch, factors="sloppy")
    from boundsolver.cli import main

    out = tmp_path / "c.csv"
    assert main(["curve", "gemm", "5", "3", "7", "--arch", "three_level", "--level-size",
                 "L1=8", "--factors", "imperfect", "--placement", "uniform", "--csv", str(out),
                 "-q"]) == 0
    import pandas as pd

    cli = pd.read_csv(out)
    assert cli[key_columns(arch)].values.tolist() == ref[key_columns(arch)].values.tolist()


def test_accelforge_imperfect_mappings_are_not_below_the_dram_bound():
    """AccelForge 1.0.467 with imperfect temporal loops on its three-level arch (GEMM 6x10x10,
    L1 = 16 words; benchmarks/af_three_level.py --imperfect): 264 Pareto mappings. None moves
    less DRAM traffic than the per-tensor imperfect bound's DRAM column at its L2 usage (the
    one-buffer per-tensor imperfect curve at L2's size: the backing store's floor, attained where
    L1 holds a word of each tensor, docs/hierarchy.md), while 29 beat the perfect one."""
    from pathlib import Path

    import pandas as pd

    data = Path(__file__).parent.parent / "benchmarks" / "data"
    af = pd.read_csv(data / "accelforge_three_level_6x10x10_imperfect_L1_16.csv")
    p = bs.gemm(6, 10, 10)
    below = {}
    for factors in ("perfect", "imperfect"):
        one = bs.pareto_frontier(p, mapspace=f"per_tensor/{factors}", method="enumerate")
        pts = list(zip(one["occupancy"].astype(int), one["accesses"].astype(int)))
        below[factors] = sum(int(r.dram_words) < min(v for o, v in pts if o <= r.l2_words)
                             for r in af.itertuples())
    assert len(af) == 264 and below == {"perfect": 29, "imperfect": 0}
    floor = joint.PlacementSolver(p, three(16), factors="imperfect")
    for r in af.itertuples():
        assert floor.floor(0, {"occupancy:L2": int(r.l2_words)}) <= r.dram_words
