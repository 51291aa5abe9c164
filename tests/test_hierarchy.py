"""Multi-level hierarchies (temporal): the exact joint bound by enumeration, checked against the
one-buffer curve, which it must equal where the inner level is unconstrained and never undercut."""

from __future__ import annotations

from helpers import lookup, points
from hypothesis import given, settings
from hypothesis import strategies as st

import boundsolver as bs
from boundsolver.model.arch import Arch, Level


def three(l1: int, keeps_l1=("all",)) -> Arch:
    return Arch("t", 8, (Level("DRAM"), Level("L2", sweep=True), Level("L1", l1, keeps=keeps_l1)))


def test_one_buffer_arch_changes_nothing():
    p = bs.conv(R=3, S=3, P=4, Q=4, C=2, K=4)
    assert points(bs.pareto_frontier(p, arch="snowcat")) == points(bs.pareto_frontier(p))
    caps = [2, 10, 100]
    a = bs.solve_curve(p, caps, arch=bs.load_arch("snowcat"))
    assert a["accesses"].tolist() == bs.solve_curve(p, caps)["accesses"].tolist()


def test_unconstrained_inner_level_gives_the_one_buffer_curve():
    """With L1 large enough for anything, L1 may mirror L2: the backing store's curve over L2's
    occupancy is the one-buffer curve, and L1 costs nothing more."""
    for p in (bs.gemm(8, 4, 6), bs.conv(R=3, P=4, C=2, K=2)):
        front = bs.pareto_frontier(p, arch=three(10**6), mapspace="uniform/perfect")
        ref = points(bs.enumerate_frontier(p))
        assert list(zip(front["occupancy"], front["accesses"])) == ref
        assert (front["accesses_L1"] == front["accesses_L2"]).all()


@settings(max_examples=15, deadline=None)
@given(st.sampled_from([2, 4, 6, 8]), st.sampled_from([2, 3, 4]), st.sampled_from([2, 4, 6]),
       st.integers(3, 40))
def test_joint_bound_never_below_each_level_read_alone(m, k, n, l1):
    """One mapping attains every level's value at once, so each is at least the one-buffer
    curve read at that level's capacity (Orojenesis' reading, valid but possibly loose)."""
    p = bs.gemm(m, k, n)
    ref = points(bs.enumerate_frontier(p))
    front = bs.pareto_frontier(p, arch=three(l1), mapspace="uniform/perfect")
    for occ, dram, into_l1, occ_l1 in zip(front["occupancy"], front["accesses"],
                                          front["accesses_L1"], front["occupancy_L1"]):
        assert dram >= lookup(ref, occ)
        assert occ_l1 <= l1 and into_l1 >= lookup(ref, l1)


def test_mappings_that_do_not_compose():
    """GEMM 8x8x4, L1 = 8 words. Alone, an 8-word buffer reaches 288 words of traffic. With L2
    at 14 words the least DRAM traffic is 224, reached by three L2 mappings only (checked by
    cost.evaluate over all tilings and orders): tiles m2 k1 n4 under loops m, k, or m4 k1 n2
    with k innermost. In each, the k loop (8 trips) lies above every loop that L1's 8 words
    leave inside the L2 tile over Z's ranks (no L1 tile of Z with the whole L2 tile fits), so
    Z's L1 copy is filled 8 x 32 times: 2 x 256 - 32 = 480 words. A and B add at least 192:
    for m2 k1 n4 with L1 tiles m2 k1 n2, A once (64) and B under m's 4 trips (128); for
    m4 k1 n2 with L1 tiles m2 k1 n2, A under n's 2 trips (128) and B under m's 2 (64).
    Smaller L1 tiles only add. So the joint bound at L2 = 14 is 224 into L2 and 672 into L1,
    well above the 288 that reading the one-buffer curve at L1's capacity promises."""
    p = bs.gemm(8, 8, 4)
    assert lookup(points(bs.enumerate_frontier(p)), 8) == 288
    front = bs.solve_curve(p, [14], arch=three(8), mapspace="uniform/perfect")
    assert front["accesses"].tolist() == [224]
    assert front["accesses_L1"].tolist() == [672]


def test_bypass_and_refusals():
    p = bs.gemm(4, 4, 4)
    front = bs.pareto_frontier(p, arch=three(4, keeps_l1=("output",)), mapspace="uniform/perfect")
    assert front["occupancy_L1"].max() <= 4
    ref = points(bs.enumerate_frontier(p))
    assert all(d >= lookup(ref, o) for o, d in zip(front["occupancy"], front["accesses"]))
    uneven = Arch("x", 8, (Level("DRAM"), Level("L2", sweep=True, instances=2),
                           Level("L1", 8, instances=3)))
    for arch, message in ((uneven, "not a multiple of the 2"),
                          (Arch("x", 8, (Level("DRAM"), Level("L2", sweep=True, keeps=("output",)),
                                         Level("L1", 8, keeps=("output",)))), "keeps A")):
        try:
            bs.pareto_frontier(p, arch=arch)
        except bs.BoundsolverError as err:
            assert message in str(err)
        else:
            raise AssertionError("expected a refusal")
    milp = bs.pareto_frontier(p, arch=three(4, keeps_l1=("output",)), method="milp",
                              mapspace="uniform/perfect")
    decided = ["occupancy", "accesses", "accesses_L2", "accesses_L1"]  # LevelCost.key
    assert milp[decided].equals(front[decided])


def test_cli_arch_with_levels(capsys):
    from boundsolver.cli import main

    argv = ["curve", "gemm", "8", "8", "4", "--arch", "three_level", "--level-size", "L1=8",
            "--mapspace", "uniform/perfect"]  # the worked example's mapspace
    assert main([*argv, "-q", "--csv", "-", "--capacities", "14"]) == 0
    out = capsys.readouterr().out.splitlines()
    row = dict(zip(out[0].split(","), out[1].split(",")))
    assert (row["accesses"], row["accesses_L1"]) == ("224", "672")
    assert main(["curve", "gemm", "8", "8", "4", "--arch", "a100", "--level-size", "NOPE=4",
                 "-q"]) == 2
    assert "no level's capacity is named 'NOPE'" in capsys.readouterr().err
    # Per-tensor placement within levels is the cli's default on a hierarchy too, never above
    # the uniform one, which --mapspace uniform/perfect (or --placement uniform) still reaches
    # (GEMM 4x4x4 at L2 = 4: 112 words against uniform placement's 144, docs/hierarchy.md).
    small = ["curve", "gemm", "4", "4", "4", "--arch", "three_level", "--level-size", "L1=8",
             "-q", "--csv", "-", "--capacities", "4"]
    table = {}
    for name, extra in (("default", []), ("per_tensor", ["--placement", "per_tensor"]),
                        ("uniform", ["--mapspace", "uniform/perfect"]),
                        ("placement_uniform", ["--placement", "uniform"])):
        assert main([*small, *extra]) == 0
        out = capsys.readouterr().out.splitlines()
        table[name] = int(dict(zip(out[0].split(","), out[1].split(",")))["accesses"])
    assert table == {"default": 112, "per_tensor": 112, "uniform": 144, "placement_uniform": 144}
    # without -q the table's title names the mapspace it ranged over
    assert main(small[:-5] + ["--capacities", "4"]) == 0
    assert "mapspace per_tensor/perfect" in capsys.readouterr().out
    assert main(small[:-5] + ["--capacities", "4", "--mapspace", "uniform/perfect"]) == 0
    assert "mapspace uniform/perfect" in capsys.readouterr().out


def test_workload_on_a_hierarchy_sums_its_einsums():
    """Unfused: each Einsum alone on the hierarchy; traffic sums, occupancy is the largest, and
    the frontier's every point is the curve at its occupancy. Fusion is refused, clearly."""
    w = bs.workload(["Y[m,n] += X[m,k] * W1[k,n]", "Z[m,p] += Y[m,n] * W2[n,p]"],
                    m=4, k=4, n=2, p=4)
    arch = Arch("t", 8, (Level("DRAM"), Level("L2", sweep=True), Level("L1", 4, instances=2)))
    caps = [3, 6, 10, 40]
    got = bs.solve_curve(w, caps, arch=arch)
    alone = [bs.solve_curve(e, caps, arch=arch) for e in w.einsums]
    for c in ("accesses", "accesses_L2", "accesses_L1"):
        assert got[c].tolist() == [sum(int(a[c][i]) for a in alone) for i in range(len(caps))]
    assert got["occupancy_L1"].tolist() == [max(int(a["occupancy_L1"][i]) for a in alone)
                                            for i in range(len(caps))]
    front = bs.pareto_frontier(w, arch=arch)
    again = bs.solve_curve(w, front["occupancy"].tolist(), arch=arch)
    key = ["accesses", "accesses_L2", "accesses_L1"]
    assert again[key].values.tolist() == front[key].values.tolist()
    swept_inner = Arch("s", 8, (Level("DRAM"), Level("L2", 64), Level("L1", sweep=True)))
    try:  # fused trees live in the outer, swept level (test_fusion_levels.py)
        bs.solve_curve(w, caps, arch=swept_inner, fusion=True)
    except bs.BoundsolverError as err:
        assert "swept one" in str(err)
    else:
        raise AssertionError("expected a refusal")
