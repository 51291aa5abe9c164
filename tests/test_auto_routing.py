""""auto" on a hierarchy with fanout skips the depth-first per-tensor enumerator where a lower
bound on its search nodes (``joint.per_tensor_nodes_floor``) already exceeds its budget
(issue 20: ResNet-50's strided convs on a100/h100 spent 9-25 s there before the MILP): the
floor is a true lower bound (the enumerator refuses one node below it), small problems keep the
enumerator, and the MILP route it picks gives the enumerator's rows. The floor counts the first
boundary's nodes and, on a100/h100-like hierarchies, the second boundary's below first-boundary
nodes that no staircase point can cut (the conv4_x/conv5_x 1x1 stride-2 downsamples: under the
budget at the first boundary alone, far over it with the second)."""

from __future__ import annotations

import pandas as pd
import pytest
from helpers import three

import boundsolver as bs
from boundsolver.curves import joint
from boundsolver.errors import EnumerationTooLarge
from boundsolver.reference import hierarchy


def test_first_boundary_by_hand():
    # gemm 2x2x2 on a100: each rank's first tile is 1 (looping) or 2, so the first boundary has
    # C(3,k) tiles with k looping ranks, each in k! orders (fanout: every order), 1+3+6+6 = 16;
    # L2 (no fixed capacity, above SMEM's fanout) keeps all three tensors: 2^3 - 1 = 7 non-empty
    # sets of copies there. Without fanout the floor is 0 (orders are deduplicated).
    assert joint._first_boundary_nodes(bs.gemm(2, 2, 2), bs.load_arch("a100")) == 16 * 7
    assert joint.per_tensor_nodes_floor(bs.gemm(2, 2, 2), three(8)) == 0


def test_second_boundary_by_hand():
    # gemm 2x2x2 on a100. Its one-buffer per-tensor staircase: 20 at occupancy 3 (every tile a
    # word: output-stationary, A and B refetched per n and m), 16 at 4, 12 (compulsory) from 7
    # (A whole, B's column under n, Z's word under m; 6 words cannot move each tensor once).
    # A first-boundary node: tile t, a non-empty proper set H of L2 copies stored; x = sum of
    # H's footprints + a word per copy left (U); D = H's fills bound (|T| times the looping
    # ranks T lacks, where T has a looping rank; Z: 2m - 4) + 4 per tensor of U. Kept where
    # D < staircase(x). Below it: for each non-empty set S of ranks whole in t (each divides
    # once more: 2 -> 1), |S|! orders times the non-empty subsets of U's copies meeting S.
    # - t whole (0 orders looping, x.1 order): |H| = 1 (x 6, D 12 < 16); U's two tensors meet
    #   every S but one singleton each: 1+3+1 + 2!*3*3 + 3!*3 = 41, three such H: 123.
    # - one looping rank (1 order): D = 12, x <= 6 keeps three singletons and one pair per
    #   rank (m: {A},{B},{Z},{A,Z}: 10+8+10+4; n: 8+10+10+4; k: 10+10+8+4): 3 * 32 = 96.
    # - two looping ranks (2 orders): only the one-word copy alone (x 3, D 12 < 20), the
    #   whole rank meeting both of U's tensors: 3 each, 2 orders, three tiles: 18.
    # - three looping ranks: nothing divides further.
    arch = bs.load_arch("a100")
    assert joint._second_boundary_nodes(bs.gemm(2, 2, 2), arch) == 123 + 96 + 18
    assert joint.per_tensor_nodes_floor(bs.gemm(2, 2, 2), arch) == 16 * 7 + 237
    # imperfect factors and hierarchies without the swept first level: the first boundary only
    assert joint.per_tensor_nodes_floor(bs.gemm(2, 2, 2), arch, imperfect=True) == 16 * 7
    assert joint._second_boundary_nodes(bs.gemm(2, 2, 2), bs.load_arch("simba")) == 0


@pytest.mark.parametrize("arch", ["a100", "h100"])
@pytest.mark.parametrize("sizes", [dict(P=14, Q=14, C=512, K=1024),   # conv4_x downsample
                                   dict(P=7, Q=7, C=1024, K=2048)])   # conv5_x downsample
def test_downsamples_skip_the_enumerator(sizes, arch):
    # the first boundary alone is under the budget (the futile attempt of 6-10 s); with the
    # second the floor is past it, found after a few thousand first tiles
    problem, arch = bs.conv(**sizes, Wstride=2, Hstride=2), bs.load_arch(arch)
    budget = joint.AUTO_PER_TENSOR
    assert joint._first_boundary_nodes(problem, arch) <= budget
    assert joint.per_tensor_nodes_floor(problem, arch, enough=budget) > budget


@pytest.mark.parametrize("problem, arch", [
    (bs.gemm(2, 2, 2), "a100"),
    (bs.gemm(4, 4, 2), "h100"),
    (bs.conv(P=4, Q=2, C=2, K=2, Wstride=2), "a100"),
    (bs.conv(P=4, C=4, K=2, Wstride=2, Hstride=2), "h100"),
    (bs.conv(R=3, P=4, C=4, K=2), "a100"),
    (bs.gemm(2, 2, 2), "simba"),
    (bs.gemm(4, 2, 2), "simba"),
    (bs.conv(R=3, P=4, C=4, K=2), "simba"),
])
def test_floor_is_a_lower_bound(problem, arch):
    arch = bs.load_arch(arch)
    floor = joint.per_tensor_nodes_floor(problem, arch)
    assert floor > 0
    with pytest.raises(EnumerationTooLarge):
        hierarchy.per_tensor_points(problem, arch, floor - 1)
    hierarchy.per_tensor_points(problem, arch, joint.AUTO_PER_TENSOR)  # small: it answers


def test_routing(monkeypatch):
    # imperfect factors with fanout: levelnest declines, so "auto" reaches the enumerator
    problem, arch, caps = bs.gemm(3, 2, 2), bs.load_arch("a100"), [2, 4, 6, 8, 16]
    floor = joint.per_tensor_nodes_floor(problem, arch, imperfect=True)
    calls = []

    def spy(*args, **kwargs):
        calls.append(args[2])
        return hierarchy.per_tensor_points(*args, **kwargs)

    monkeypatch.setattr(joint, "per_tensor_points", spy)
    # the key: the MILP may report a larger swept occupancy of the same key (an equal row)
    cols = ["accesses", "accesses_L2", "accesses_SMEM", "accesses_RF"]

    def solved(limit):
        df = joint.solve(problem, arch, caps, limit=limit, factors="imperfect")
        return [(str(r["status"]), *(None if pd.isna(r[c]) else int(r[c]) for c in cols))
                for _, r in df.iterrows()]

    enumerated = solved(floor)  # at the floor the enumerator is tried (and answers)
    assert calls == [floor]
    assert solved(None) == enumerated and calls == [floor, joint.AUTO_PER_TENSOR]
    assert solved(floor - 1) == enumerated  # the MILP, without the futile attempt
    assert calls == [floor, joint.AUTO_PER_TENSOR]
    # capacity 2 holds no mapping (three tensors need three words); the others are proven
    assert [row[0] for row in enumerated] == ["infeasible"] + ["optimal"] * 4
