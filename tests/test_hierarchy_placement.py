"""The per-tensor hierarchy MILP (milp/placement.py, joint.PlacementSolver) against the per-tensor
enumerator (hierarchy.per_tensor_points, itself checked against a brute force in
test_hierarchy_per_tensor.py): the same staircase, exactly, on tiny GEMMs and a conv, three and
four levels, bypass, fanout with and without multicast, HiGHS and CBC. Then the bounds it must
respect, from independent curves: never above the uniform joint bound, never below each
level's one-buffer per-tensor curve (solved by the one-buffer MILP, not the fast enumerator the
solver's floors read), equal to it on DRAM with an unconstrained inner level."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import boundsolver as bs
from boundsolver.curves import joint
from boundsolver.model.arch import Arch, Level
from boundsolver.model.cost import evaluate_levels
from boundsolver.reference import levelnest
from helpers import KEEPS, covered, fanout, key_columns, same_rows, three


def milp(problem, arch, caps=None, solver="highs"):
    if caps is None:
        return bs.pareto_frontier(problem, arch=arch, mapspace="per_tensor/perfect",
                                  method="milp", solver=solver)
    return bs.solve_curve(problem, caps, arch=arch, mapspace="per_tensor/perfect",
                          method="milp", solver=solver)


def same(problem, arch, solver="highs"):
    ref = joint.solve(problem, arch, method="enumerate", placement="per_tensor")
    got = milp(problem, arch, solver=solver)
    assert got.attrs["method"] == "milp" and got.attrs["mapspace"] == "per_tensor/perfect"
    same_rows(ref, got, arch)


@settings(max_examples=10, deadline=None)
@given(st.sampled_from([1, 2, 4]), st.sampled_from([1, 2]), st.sampled_from([2]),
       st.integers(2, 5), st.sampled_from(KEEPS), st.sampled_from(KEEPS))
def test_three_levels_gemm(m, k, n, l1, keeps_l2, keeps_l1):
    p = bs.gemm(m, k, n)
    arch = three(l1, keeps_l2, keeps_l1)
    assume(covered(p, arch))
    same(p, arch)


@pytest.mark.parametrize("problem,arch,solver", [
    (bs.gemm(2, 2, 2), Arch("t4", 8, (Level("DRAM"), Level("L3", sweep=True), Level("L2", 6),
                                      Level("L1", 3))), "highs"),
    (bs.gemm(4, 2, 2), three(4, keeps_l1=("inputs",)), "highs"),
    (bs.conv(R=2, P=2, C=1, K=2), three(3), "highs"),
    (bs.gemm(2, 2, 2), fanout(3, 1, 2, None, True, True), "highs"),
    (bs.gemm(2, 2, 2), fanout(3, 1, 2, None, True, False), "highs"),
    (bs.gemm(2, 2, 2), three(3), "cbc"),
])
def test_equals_the_enumerator(problem, arch, solver):
    same(problem, arch, solver)


def test_rows_re_evaluate_and_fit():
    """Every row's mapping is a per-tensor nest whose cost the cost model reproduces."""
    from boundsolver.curves.joint import PlacementSolver

    p, arch = bs.gemm(4, 2, 2), three(3)
    ls = PlacementSolver(p, arch)
    for point in ls.walk():
        cost = evaluate_levels(p, point.nest, point.copies, arch.multicast)
        assert cost == point.cost and cost.occupancy[1] <= 3


def key(row, arch) -> tuple[int, ...]:
    return tuple(int(row[c]) for c in key_columns(arch)[1:])


def test_never_above_uniform_never_below_one_buffer_curves():
    p, arch = bs.gemm(4, 4, 2), three(4)
    caps = [4, 7, 12, 40]
    per = milp(p, arch, caps)
    uni = bs.solve_curve(p, caps, arch=arch, method="milp", mapspace="uniform/perfect")
    one = bs.solve_curve(p, caps + [4], mapspace="per_tensor/perfect", method="milp")
    at = dict(zip(caps + [4], one["accesses"]))
    l1 = at[4]  # the one-buffer per-tensor curve at L1's 4 words
    for cap, a, b in zip(caps, per.itertuples(), uni.itertuples()):
        assert a.status == "optimal"
        assert key(a._asdict(), arch) <= key(b._asdict(), arch)
        assert a.accesses >= at[cap] and a.accesses_L1 >= l1
    assert any(key(a._asdict(), arch) < key(b._asdict(), arch)
               for a, b in zip(per.itertuples(), uni.itertuples()))


def test_unconstrained_inner_level_gives_the_one_buffer_per_tensor_curve():
    p = bs.gemm(4, 2, 4)
    caps = [3, 5, 9, 20]
    per = milp(p, three(10**6), caps)
    one = bs.solve_curve(p, caps, mapspace="per_tensor/perfect", method="milp")
    assert per["accesses"].tolist() == one["accesses"].tolist()


@settings(max_examples=4, deadline=None)
@given(st.sampled_from([1, 2]), st.sampled_from([1, 2]), st.sampled_from([2, 4]),
       st.integers(2, 4), st.sampled_from([(1, 2), (2, 1)]), st.booleans(), st.booleans(),
       st.sampled_from(KEEPS[:3]), st.sampled_from([None, ("n",)]))
def test_spatial_fanout(m, k, n, l1, fans, mc2, mc1, keeps_l1, ranks):
    """Fanout at either level, multicast or not, splits restricted or not, with bypass."""
    outer, inner = fans
    p = bs.gemm(m, k, n)
    arch = fanout(l1, outer, inner, ranks, mc2, mc1, keeps_l1)
    assume(covered(p, arch))
    same(p, arch)


def test_a_time_limit_gives_proven_stages_a_bound_and_an_incumbent():
    """A time limit too short to prove the inner stage: the row says ``time_limit``, every
    column before ``bound_of`` equals the exact answer (the unlimited MILP, which equals the
    enumerator above), and the exact value
    of ``bound_of`` lies between ``best_bound`` and the incumbent, which is a real mapping."""
    p, arch = bs.gemm(8, 8, 8), three(8)
    caps = [40, 24]
    exact = bs.solve_curve(p, caps, arch=arch, mapspace="per_tensor/perfect", method="milp")
    cut = bs.solve_curve(p, caps, arch=arch, mapspace="per_tensor/perfect", method="milp",
                         time_limit=1e-3)
    cols = key_columns(arch)[1:]
    for (_, e), (_, c) in zip(exact.iterrows(), cut.iterrows()):
        if c["status"] == "optimal":
            assert [c[k] for k in cols] == [e[k] for k in cols]
            continue
        assert c["status"] == "time_limit"
        stage = cols.index(c["bound_of"])
        assert [c[k] for k in cols[:stage]] == [e[k] for k in cols[:stage]]
        assert c["best_bound"] <= e[c["bound_of"]]
        if not pd.isna(c["incumbent"]):
            assert e[c["bound_of"]] <= c["incumbent"] == c[c["bound_of"]]
    assert (cut["status"] == "time_limit").any()  # the limit bit somewhere
    with pytest.raises(bs.BoundsolverError, match="frontier is a walk"):
        bs.pareto_frontier(p, arch=arch, time_limit=5)
    with pytest.raises(bs.BoundsolverError, match="positive number of seconds"):
        bs.solve_curve(p, caps, arch=arch, time_limit=-1)


def test_a_time_limit_under_auto_takes_the_exact_enumerator_where_it_applies(monkeypatch):
    """"auto" with a time limit on per-tensor placement answers from levelnest.py where it
    applies (exact, its work bounded): every row optimal and equal to the unlimited MILP, even
    with a limit far too short for the MILP (sliding windows too); where it does not apply
    (here: a conv whose classes are over its work limit) the MILP runs under the limit."""
    p, arch = bs.gemm(8, 8, 8), three(8)
    caps = [40, 24]
    exact = bs.solve_curve(p, caps, arch=arch, mapspace="per_tensor/perfect", method="milp")
    fast = bs.solve_curve(p, caps, arch=arch, mapspace="per_tensor/perfect", time_limit=1e-3)
    assert (fast["status"] == "optimal").all()
    same_rows(exact, fast, arch)
    conv = bs.workload(["O[p] += I[p+r] * W[r]"], p=4, r=3).einsums[0]
    exact = bs.solve_curve(conv, [3], arch=arch, mapspace="per_tensor/perfect", method="milp")
    fast = bs.solve_curve(conv, [3], arch=arch, mapspace="per_tensor/perfect", time_limit=1e-3)
    assert fast.attrs["method"] == "enumeration" and (fast["status"] == "optimal").all()
    same_rows(exact, fast, arch)
    monkeypatch.setattr(levelnest, "PLAN_WORK_LIMIT", 0)
    levelnest._plan.cache_clear()
    try:
        cut = bs.solve_curve(conv, [3], arch=arch, mapspace="per_tensor/perfect", time_limit=1e-3)
    finally:
        levelnest._plan.cache_clear()  # its refusal under the patched limit must not stay
    assert cut.attrs["method"] == "milp"


def test_cli_time_limit_on_a_hierarchy(capsys):
    """``--time-limit`` applies to a hierarchy's bound at given capacities: a cut capacity is
    printed with the column it left unproven and its bound, and the exit status says so."""
    from boundsolver.cli import main

    argv = ["curve", "gemm", "16", "16", "16", "--arch", "three_level", "--level-size", "L1=64",
            "--mapspace", "per_tensor/perfect", "-c", "145", "--time-limit", "0.001",
            "--method", "milp"]
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert "time_limit" in out and "accesses_L1" in out and "best_bound" in out


def test_a_time_limit_on_a_workload_sums_proven_stages_and_bounds():
    """Unfused on a hierarchy with a time limit: where some Einsum was cut, the row's columns
    before ``bound_of`` equal the exact sums, ``best_bound`` is at most the exact sum of
    ``bound_of`` and the incumbent at least it."""
    w = bs.workload(["Y[m,n] += X[m,k] * W1[k,n]", "Z[m,p] += Y[m,n] * W2[n,p]"],
                    m=8, k=8, n=4, p=8)
    arch, caps = three(8), [40, 24]
    exact = bs.solve_curve(w, caps, arch=arch, mapspace="per_tensor/perfect", method="milp")
    cut = bs.solve_curve(w, caps, arch=arch, mapspace="per_tensor/perfect", method="milp",
                         time_limit=1e-3)
    cols = key_columns(arch)[1:]
    assert (cut["status"] == "time_limit").any()
    for (_, e), (_, c) in zip(exact.iterrows(), cut.iterrows()):
        if c["status"] == "optimal":
            assert [c[k] for k in cols] == [e[k] for k in cols]
            continue
        stage = cols.index(c["bound_of"])
        assert [c[k] for k in cols[:stage]] == [e[k] for k in cols[:stage]]
        assert c["best_bound"] <= e[c["bound_of"]]
        if not pd.isna(c["incumbent"]):
            assert e[c["bound_of"]] <= c["incumbent"] == c[c["bound_of"]]


@pytest.mark.parametrize("kw, l1", [(dict(R=1, P=4, C=4, K=1, Wstride=2), 3),
                                    (dict(R=1, P=4, C=2, K=2, Wstride=2), 4),
                                    (dict(R=2, P=3, C=2, K=1, Wstride=3), 3)])
def test_the_enumerator_sees_a_strided_windows_holes(kw, l1):
    """A copy of an input with holes (1x1 stride 2; R = 2 at stride 3) moves fewer words than
    its extent when its loops step over the holes, so the enumerator's cut may not take |T| as
    the least a copy moves: its staircase equals levelnest's (another search), and at full size
    DRAM is the compulsory touched input + |W| + |O| (K=1, C=4, P=4: 4 x 4 + 4 + 4 = 24). With
    |T| the first case lost DRAM 28 at L2 occupancy 4 (it reported 32 at 5)."""
    from boundsolver.reference import levelnest
    from boundsolver.reference.hierarchy import per_tensor_points

    conv = bs.conv(**kw)
    arch = bs.load_arch("three_level", L1=l1)
    x = arch.swept_index
    ours = [(c.occupancy[x], c.key) for _, c, _ in per_tensor_points(conv, arch)]
    theirs = levelnest.frontier(conv, arch)
    assert theirs is not None
    assert ours == [(c.occupancy[x], c.key) for _, c, _ in theirs]
    if kw["C"] == 4:
        assert (4, (28, 28, 52)) in ours and ours[-1][1][0] == 24
