"""The multi-level MILP (levels.py) against the enumerated joint bound (hierarchy.py): the same
staircase, exactly, on small GEMMs and convs, three and four levels, with bypass."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import boundsolver as bs
from boundsolver.curves import joint
from boundsolver.model.arch import Arch, Level
from boundsolver.reference import hierarchy
from helpers import KEEPS, covered, fanout, four, same_rows, three


def same(problem, arch, solver="highs"):
    ref = joint.solve(problem, arch, method="enumerate", placement="uniform")
    got = bs.pareto_frontier(problem, arch=arch, method="milp", solver=solver, mapspace="uniform/perfect")
    assert got.attrs["method"] == "milp"
    same_rows(ref, got, arch)
    return ref, got


@settings(max_examples=25, deadline=None)
@given(st.sampled_from([2, 4, 6, 8]), st.sampled_from([2, 3, 4]), st.sampled_from([2, 4, 6]),
       st.integers(3, 24), st.sampled_from(KEEPS), st.sampled_from(KEEPS))
def test_three_levels_gemm(m, k, n, l1, keeps_l2, keeps_l1):
    p = bs.gemm(m, k, n)
    arch = three(l1, keeps_l2, keeps_l1)
    assume(covered(p, arch))
    same(p, arch)


@settings(max_examples=8, deadline=None)
@given(st.sampled_from([2, 4]), st.sampled_from([2, 4]), st.sampled_from([2, 3]),
       st.integers(4, 12), st.integers(2, 6), st.sampled_from(KEEPS[:3]),
       st.sampled_from(KEEPS[:3]))
def test_four_levels_gemm(m, k, n, l2, l1, keeps_l2, keeps_l1):
    p = bs.gemm(m, k, n)
    arch = four(l2, l1, keeps_l2, keeps_l1)
    assume(covered(p, arch))
    same(p, arch)


@settings(max_examples=12, deadline=None)
@given(st.sampled_from([2, 4]), st.sampled_from([2, 4]), st.sampled_from([2, 4, 6]),
       st.integers(2, 8), st.sampled_from([1, 2]), st.sampled_from([2, 4]),
       st.sampled_from([None, ("k",), ("m", "n")]), st.booleans(), st.booleans(),
       st.sampled_from(KEEPS), st.sampled_from(["highs", "cbc"]))
def test_spatial_fanout(m, k, n, l1, outer, inner, ranks, mc2, mc1, keeps_l1, solver):
    """Fanout at either level (L2 ``outer`` instances, L1 ``outer * inner``), multicast or not,
    splits restricted to some ranks or not, with bypass, both solvers."""
    p = bs.gemm(m, k, n)
    arch = fanout(l1, outer, inner, ranks, mc2, mc1, keeps_l1)
    assume(covered(p, arch))
    same(p, arch, solver)


@pytest.mark.parametrize("problem,arch", [
    (bs.conv(R=3, P=4, C=2, K=2), three(6)),
    (bs.conv(R=2, P=4, C=2, K=2), three(5, keeps_l1=("inputs",))),
    (bs.conv(R=2, P=4, C=2, K=2), Arch("sp", 8, (Level("DRAM"), Level("L2", sweep=True),
                                                 Level("L1", 4, instances=4, multicast=False)))),
])
def test_convs(problem, arch):
    same(problem, arch)


def test_the_worked_example_and_curves():
    """docs/hierarchy.md's mappings that do not compose, by the MILP; solve_curve's staircase."""
    p, arch = bs.gemm(8, 8, 4), three(8)
    caps = [6, 14, 30, 56, 500]
    ref = joint.solve(p, arch, caps, method="enumerate", placement="uniform")
    got = bs.solve_curve(p, caps, arch=arch, method="milp", mapspace="uniform/perfect")
    cols = ["capacity", "accesses", "accesses_L2", "accesses_L1", "status"]
    assert got[cols].astype(str).values.tolist() == ref[cols].astype(str).values.tolist()
    # the MILP's mapping need not have the staircase's least occupancy, but it fits
    fits = got.dropna(subset=["occupancy"])
    assert (fits["occupancy"] <= fits["capacity"]).all()
    assert (fits["occupancy"] >= ref.dropna(subset=["occupancy"])["occupancy"]).all()
    assert got.loc[got.capacity == 14, ["accesses", "accesses_L1"]].values.tolist() == [[224, 672]]


@pytest.mark.parametrize("problem,arch", [(bs.gemm(4, 4, 2), three(5)),
                                          (bs.gemm(4, 2, 4), three(4, keeps_l1=("inputs",)))])
def test_cbc(problem, arch):
    same(problem, arch, solver="cbc")


def test_auto_and_refusals():
    p = bs.gemm(4, 4, 4)
    auto = bs.pareto_frontier(p, arch=three(8))
    assert auto.attrs["method"] == "enumeration"  # small: enumerated, as before
    idle = Arch("i", 8, (Level("DRAM"), Level("L2", sweep=True),
                         Level("X", 4, instances=2, keeps=("none",)),
                         Level("L1", 8, instances=2)))
    with pytest.raises(bs.BoundsolverError, match="have fanout but keep no tensor"):
        bs.pareto_frontier(p, arch=idle, method="enumerate", mapspace="per_tensor/perfect")
    with pytest.raises(bs.BoundsolverError, match="imperfect factors on hierarchies apply to a"):
        bs.pareto_frontier(bs.Workload((p,)), arch=three(8), method="milp",
                           mapspace="per_tensor/imperfect")


@settings(max_examples=10, deadline=None)
@given(st.sampled_from([2, 4]), st.sampled_from([2, 4]), st.sampled_from([2, 4, 6]),
       st.integers(3, 10), st.sampled_from([2, 4]), st.sampled_from([None, ("k",), ("m", "n")]))
def test_instance_floor_is_below_every_mapping(m, k, n, l1, fan, ranks):
    """LevelSolver.instance_floor (which ends a stage when attained) never exceeds the least
    traffic into the level over every mapping that fits it, by brute force."""
    from boundsolver.curves.joint import LevelSolver
    from boundsolver.model.cost import evaluate_levels

    p = bs.gemm(m, k, n)
    arch = Arch("f", 8, (Level("DRAM"), Level("L2", sweep=True),
                         Level("L1", l1, instances=fan, spatial_ranks=ranks, multicast=False)))
    floor = LevelSolver(p, arch).instance_floor(2, l1)
    costs = [evaluate_levels(p, nest, multicast=arch.multicast)
             for nest in hierarchy.nests(p, arch)]
    least = min((c.accesses[1] for c in costs if c.occupancy[1] <= l1), default=None)
    if least is None:
        assert floor == float("inf") or floor == -float("inf")
    else:
        assert floor <= least
