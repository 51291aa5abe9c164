"""joint.solve_pair (what ``reproduce`` runs for its hierarchy figures): the uniform and the
per-tensor bound at capacities, computed sharing work (per-tensor keys floor the uniform MILP's
stages; or the uniform MILP's points seed the per-tensor MILP), against each mapspace's
enumerator (hierarchy.frontier_points, hierarchy.per_tensor_points), which share neither. On
small problems solve_pair hands both to solve(), so the tests lower ``joint.LIMIT`` to take the
shared routes."""

from __future__ import annotations

import math

import pytest

import boundsolver as bs
from boundsolver.curves import joint
from boundsolver.model.arch import Arch, Level
from boundsolver.reference import levelnest
from helpers import fanout, three

CASES = [
    (bs.gemm(4, 2, 2), three(4)),
    (bs.gemm(4, 2, 4), three(3, keeps_l1=("inputs",))),
    (bs.gemm(4, 4, 2), three(4, keeps_l2=("input", "output"))),  # weights bypass L2 (simba)
    (bs.gemm(2, 2, 2), Arch("t4", 8, (Level("DRAM"), Level("L3", sweep=True), Level("L2", 6),
                                      Level("L1", 3)))),
    (bs.gemm(2, 2, 4), fanout(3, 1, 2, None, True, False)),
    (bs.gemm(4, 2, 2), fanout(3, 1, 2, None, True, True)),
    (bs.conv(R=2, P=2, C=1, K=2), three(3)),
]


def _keys(df, arch) -> list:
    cols = ["accesses"] + [f"accesses_{lv.name}" for lv in arch.on_chip]
    return [r["status"] if r["status"] != "optimal" else tuple(int(r[c]) for c in cols)
            for _, r in df.iterrows()]


def _capacities(ref) -> list[int]:
    """Every staircase occupancy of the enumerated frontier, one word either side, and more."""
    occ = [int(o) for o in ref["occupancy"]]
    return sorted({c for o in occ for c in (o - 1, o, o + 1) if c > 0} | {10 * max(occ)})


@pytest.mark.parametrize("levelnest_answers", [True, False])
@pytest.mark.parametrize("problem,arch", CASES)
def test_both_bounds_equal_the_enumerators(problem, arch, levelnest_answers, monkeypatch):
    caps = _capacities(joint.solve(problem, arch, method="enumerate", placement="uniform"))
    uniform = joint.solve(problem, arch, caps, method="enumerate", placement="uniform")
    per_tensor = joint.solve(problem, arch, caps, method="enumerate", placement="per_tensor")
    assert all(p <= u for p, u in zip(_keys(per_tensor, arch), _keys(uniform, arch))
               if isinstance(u, tuple))  # (lexicographic; per-tensor feasible where uniform is)
    monkeypatch.setattr(joint, "LIMIT", 0)  # the shared routes, not solve()'s enumeration
    if levelnest_answers:
        if levelnest.frontier(problem, arch) is None:
            pytest.skip("levelnest declines this case")
    else:  # the per-tensor MILP seeded by the uniform points
        monkeypatch.setattr(levelnest, "frontier", lambda *a, **k: None)
    got_u, got_pt = joint.solve_pair(problem, arch, caps, time_limit=600.0)
    assert got_u.attrs["method"] == "milp"
    assert got_pt.attrs["mapspace"] == "per_tensor/perfect"
    assert got_pt.attrs["method"] == ("enumeration" if levelnest_answers else "milp")
    assert _keys(got_u, arch) == _keys(uniform, arch)
    assert _keys(got_pt, arch) == _keys(per_tensor, arch)
    assert list(got_u["capacity"]) == caps == list(got_pt["capacity"])


def test_the_uniform_stages_read_the_per_tensor_keys(monkeypatch):
    """Where levelnest answers per-tensor placement, the uniform MILP's stages read its keys as
    floors (a finite key_floor: the DRAM stage's at least), and never end below them."""
    problem, arch = bs.gemm(4, 2, 2), three(4)
    taken = []
    floor = joint.LevelSolver.key_floor

    def spy(self, b, limits):
        out = floor(self, b, limits)
        taken.append(out)
        return out

    monkeypatch.setattr(joint.LevelSolver, "key_floor", spy)
    monkeypatch.setattr(joint, "LIMIT", 0)
    caps = [8, 16, 64]
    got_u, got_pt = joint.solve_pair(problem, arch, caps, time_limit=600.0)
    assert all(p <= u for p, u in zip(_keys(got_pt, arch), _keys(got_u, arch)))
    assert _keys(got_u, arch)[0][0] == 20 == _keys(got_pt, arch)[0][0]  # every word once: 8+4+8
    assert any(math.isfinite(v) for v in taken)


def test_key_floor_reads_the_key_of_the_least_capacity_at_or_above():
    """By the definition: the key given at the least capacity at or above the swept limit,
    component b only where the earlier stages' limits equal the key's components."""
    ls = joint.LevelSolver(bs.gemm(4, 2, 2), three(4))
    swept = ls.swept
    ls.lower_keys = {100: (10, 20), 200: (5, 30)}
    assert ls.key_floor(0, {swept: 50}) == 10
    assert ls.key_floor(0, {swept: 100}) == 10
    assert ls.key_floor(0, {swept: 150}) == 5
    assert ls.key_floor(0, {swept: 201}) == -math.inf  # no key at or above: none
    assert ls.key_floor(1, {swept: 50, "dram": 10}) == 20
    assert ls.key_floor(1, {swept: 50, "dram": 11}) == -math.inf  # earlier stage above the key
    assert ls.key_floor(1, {swept: 50}) == -math.inf
    assert ls.key_floor(0, {}) == -math.inf
