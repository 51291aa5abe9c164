"""The per-tensor solver's backing-store floors (docs/hierarchy.md, "Per-tensor placement ...
Floors"), against the per-tensor enumerator (hierarchy.per_tensor_points) and the one-buffer
MILP, neither of which reads fastnest:

* where level 1 holds every tensor first, the joint bound's DRAM traffic *is* the one-buffer
  per-tensor curve at level 1's capacity (inner levels holding a word of each tensor);
* where a tensor bypasses level 1 it is not: the joint bound moves less (the bypassing tensor
  is held by another level's capacity), and the floor is ``fastnest.least`` with one budget per
  outermost level, which equals the joint DRAM traffic where every copy is an outermost one;
* with fanout at level 1 the floor (capacity times instances) stays below the joint bound.
"""

from __future__ import annotations

import math

import pytest

import boundsolver as bs
from boundsolver.curves import joint
from boundsolver.model.arch import Arch, Level
from boundsolver.reference import fastnest
from boundsolver.reference.hierarchy import per_tensor_points


def dram_at(points, cap: int) -> float:
    """The joint bound's DRAM traffic at swept capacity ``cap`` from an enumerated staircase."""
    return min((c.dram for _, c, _ in points if c.occupancy[0] <= cap), default=math.inf)


def bypass(l1: int) -> Arch:
    """A and Z first (and only) in the swept L2; B bypasses it, held by L1 alone."""
    return Arch("bypass", 8, (Level("DRAM"), Level("L2", sweep=True, keeps=("input", "output")),
                              Level("L1", l1, keeps=("weight",))))


@pytest.mark.parametrize("m, k, n", [(4, 2, 4), (4, 4, 2), (2, 4, 4)])
def test_one_group_is_the_one_buffer_per_tensor_curve(m, k, n):
    p = bs.gemm(m, k, n)
    caps = [3, 5, 9, 20]
    one = bs.solve_curve(p, caps, mapspace="per_tensor/perfect", method="milp")
    for cap, want in zip(caps, one["accesses"]):
        nest, cost = fastnest.least(p, {"A+B+Z": cap})
        assert cost.accesses == int(want)
        assert cost.occupancy <= cap


@pytest.mark.parametrize("m, k, n, l1", [(4, 2, 4, 2), (4, 4, 2, 4), (2, 4, 4, 8), (4, 4, 4, 4)])
def test_budgets_equal_the_joint_bound_where_every_copy_is_outermost(m, k, n, l1):
    """Each tensor has one copy (A, Z in L2, B in L1): the joint bound's DRAM traffic is the
    least one-buffer per-tensor traffic under the two budgets, by the enumerator."""
    p, arch = bs.gemm(m, k, n), bypass(l1)
    points = per_tensor_points(p, arch)
    for cap in [2, 3, 4, 6, 10, 40]:
        got = fastnest.least(p, {"A+Z": cap, "B": l1})
        assert (got[1].accesses if got else math.inf) == dram_at(points, cap), cap



def test_budgets_in_small_blocks_give_the_same_nests(monkeypatch):
    """least() costs its combinations in blocks of at most CHUNK: blocks of 5 give the same
    least traffic under every budget as one block."""
    p = bs.gemm(4, 4, 2)
    budgets = [{"A+Z": cap, "B": l1} for cap in (2, 4, 10) for l1 in (2, 8)]
    whole = [fastnest.least(p, b) for b in budgets]
    monkeypatch.setattr(fastnest, "CHUNK", 5)
    small = [fastnest.least(p, b) for b in budgets]
    assert [g and g[1].accesses for g in small] == [g and g[1].accesses for g in whole]
    assert any(g for g in whole)

def test_bypass_beats_the_one_buffer_curve_keep_all_equals_it():
    """The condition matters: with B bypassing L2 the joint DRAM traffic at L2 = S lies below
    the one-buffer per-tensor curve at S (that curve would be no floor); with every tensor kept
    in L2 first and an L1 holding a word of each, it equals the curve."""
    p = bs.gemm(4, 4, 4)
    caps = [3, 5, 8, 12]
    one = dict(zip(caps, bs.solve_curve(p, caps, mapspace="per_tensor/perfect",
                                        method="milp")["accesses"].astype(int)))
    below = per_tensor_points(p, bypass(16))
    assert all(dram_at(below, c) < one[c] for c in caps)
    kept = per_tensor_points(p, Arch("t3", 8, (Level("DRAM"), Level("L2", sweep=True),
                                               Level("L1", 3))))
    assert [dram_at(kept, c) for c in caps] == [one[c] for c in caps]


@pytest.mark.parametrize("outer, mc", [(2, True), (2, False), (4, True)])
def test_fanout_at_level_one_floor_is_below_the_joint_bound(outer, mc):
    p = bs.gemm(4, 2, 4)
    arch = Arch("sp", 8, (Level("DRAM"), Level("L2", sweep=True, instances=outer, multicast=mc),
                          Level("L1", 4, instances=outer)))
    points = per_tensor_points(p, arch)
    ls = joint.PlacementSolver(p, arch)
    assert not ls._first_holds_all()
    tight = 0
    for cap in [2, 3, 4, 6, 12]:
        floor = ls._one_buffer_floor({"occupancy:L2": cap})
        assert math.isfinite(floor)
        assert floor <= dram_at(points, cap)
        tight += floor == dram_at(points, cap)
    assert tight  # and not vacuous


def test_budgets_name_every_tensor_once():
    with pytest.raises(ValueError, match="every tensor"):
        fastnest.least(bs.gemm(4, 4, 4), {"A+Z": 8})


def test_a_stage_past_its_time_stops_before_the_next_class_with_a_valid_bound():
    """The uniform solver checks the capacity's clock before building or solving each class:
    with the time already up it raises OutOfTime at once, its bound no more than the exact
    answer (from a solver without a limit)."""
    import time

    p = bs.gemm(8, 4, 4)
    arch = Arch("t3", 8, (Level("DRAM"), Level("L2", sweep=True), Level("L1", 4)))
    exact = joint.LevelSolver(p, arch).minimise("dram", {"occupancy:L2": 10})
    ls = joint.LevelSolver(p, arch, time_limit=5)
    ls.start_clock(time.perf_counter() - 1)
    with pytest.raises(joint.OutOfTime) as stop:
        ls.minimise("dram", {"occupancy:L2": 10})
    assert stop.value.bound <= exact.values["dram"]


def test_a_cut_capacity_takes_the_best_mapping_met_at_any_capacity():
    """joint.better_incumbent: a time-limit point whose incumbent is beaten by a mapping met
    at another capacity (fitting this one, attaining its proven stages) takes that mapping,
    and its bound is capped at it; one with the best incumbent already is left alone."""
    p = bs.gemm(8, 4, 4)
    arch = Arch("t3", 8, (Level("DRAM"), Level("L2", sweep=True), Level("L1", 4)))
    ls = joint.PlacementSolver(p, arch)
    best = ls.joint(40, least_occupancy=False)
    stage = "accesses:L1"
    worse = [q for q in ls.known if q.values["dram"] == best.values["dram"]
             and q.values[stage] > best.values[stage] and q.values["occupancy:L2"] <= 40]
    assert worse  # the constructed DRAM candidate (one-word L1 tiles) moves more into L1
    w = worse[0]
    cut = joint.LevelPoint(w.nest, w.cost, w.values, w.cls, w.copies, "time_limit",
                           (stage, w.values[stage]))
    got = joint.better_incumbent(ls, 40, cut)
    assert got.status == "time_limit" and got.values[stage] == best.values[stage]
    assert got.bound == (stage, best.values[stage])
    assert joint.better_incumbent(ls, 40, got) is got
