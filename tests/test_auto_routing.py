""""auto" on a hierarchy with fanout skips the depth-first per-tensor enumerator where a lower
bound on its search nodes (``joint.per_tensor_nodes_floor``) already exceeds its budget
(issue 20: ResNet-50's strided convs on a100/h100 spent 9-25 s there before the MILP): the
floor is a true lower bound (the enumerator refuses one node below it), small problems keep the
enumerator, and the MILP route it picks gives the enumerator's rows."""

from __future__ import annotations

import pandas as pd
import pytest
from helpers import three

import boundsolver as bs
from boundsolver.curves import joint
from boundsolver.errors import EnumerationTooLarge
from boundsolver.reference import hierarchy


def test_floor_by_hand():
    # gemm 2x2x2 on a100: each rank's first tile is 1 (looping) or 2, so the first boundary has
    # C(3,k) tiles with k looping ranks, each in k! orders (fanout: every order), 1+3+6+6 = 16;
    # L2 (no fixed capacity, above SMEM's fanout) keeps all three tensors: 2^3 - 1 = 7 non-empty
    # sets of copies there. Without fanout the floor is 0 (orders are deduplicated).
    assert joint.per_tensor_nodes_floor(bs.gemm(2, 2, 2), bs.load_arch("a100")) == 16 * 7
    assert joint.per_tensor_nodes_floor(bs.gemm(2, 2, 2), three(8)) == 0


@pytest.mark.parametrize("problem, arch", [
    (bs.gemm(2, 2, 2), "a100"),
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
    floor = joint.per_tensor_nodes_floor(problem, arch)
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
