"""The vectorised per-tensor enumerator of temporal hierarchies (reference/levelnest.py) against
independent references: the per-tensor depth-first enumerator (hierarchy.per_tensor_points,
checked against a brute force in test_hierarchy_per_tensor.py) on GEMMs with 3 and 4 levels,
bypass, perfect and imperfect factors; the per-tensor placement MILP (placement.py, which reads
neither enumerator); never above the uniform joint bound; the one-buffer per-tensor curve (the
one-buffer MILP) in the DRAM column where the inner level is unconstrained; AccelForge's
three-level mappings (benchmarks/data) never below it on DRAM nor on the whole key. And that
``method="auto"`` takes it, and falls back where it does not apply (fanout, sliding windows)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import boundsolver as bs
from boundsolver.curves import joint
from boundsolver.model.arch import Arch, Level
from boundsolver.model.cost import check_level_tiles, evaluate_levels
from boundsolver.reference import levelnest
from boundsolver.reference.hierarchy import frontier_points, per_tensor_points
from helpers import KEEPS, covered, fanout, four, same_rows, three

DATA = Path(__file__).parents[1] / "benchmarks" / "data"


def stairs(points, arch):
    x = arch.swept_index
    return [(c.occupancy[x] if x is not None else 0, c.key) for _, c, *_ in points]


def same_as_reference(problem, arch, imperfect=False):
    got = levelnest.frontier(problem, arch, imperfect)
    assert got is not None
    ref = per_tensor_points(problem, arch, imperfect=imperfect)
    assert stairs(got, arch) == stairs(ref, arch)
    for nest, cost, copies in got:  # each point a legal nest the cost model reproduces
        check_level_tiles(problem, nest, "imperfect" if imperfect else "perfect")
        assert evaluate_levels(problem, nest, copies, arch.multicast) == cost
    return got


@settings(max_examples=12, deadline=None)
@given(st.sampled_from([1, 2, 4, 6]), st.sampled_from([1, 2, 3]), st.sampled_from([2, 4]),
       st.integers(2, 8), st.sampled_from(KEEPS), st.sampled_from(KEEPS))
def test_three_levels_equal_the_per_tensor_enumerator(m, k, n, l1, keeps_l2, keeps_l1):
    p, arch = bs.gemm(m, k, n), three(l1, keeps_l2, keeps_l1)
    assume(covered(p, arch))
    same_as_reference(p, arch)


@settings(max_examples=8, deadline=None)
@given(st.sampled_from([3, 5, 6]), st.sampled_from([1, 3]), st.sampled_from([2, 5]),
       st.integers(3, 9), st.sampled_from(KEEPS[:3]))
def test_imperfect_factors_equal_the_per_tensor_enumerator(m, k, n, l1, keeps_l1):
    p, arch = bs.gemm(m, k, n), three(l1, keeps_l1=keeps_l1)
    assume(covered(p, arch))
    same_as_reference(p, arch, imperfect=True)


@pytest.mark.parametrize("problem,arch", [
    (bs.gemm(2, 2, 2), four(6, 3)),
    (bs.gemm(4, 2, 2), four(8, 3, keeps_l1=("inputs",))),
    (bs.gemm(2, 2, 4), four(6, 2, keeps_l2=("output",))),
    (bs.gemm(8, 4, 6), three(8)),  # issue 20's slow case: ~100 s by the MILP
    (bs.einsum("Z[m,n] += A[m,k,c] * B[k,c,n]", m=2, k=2, c=3, n=2), three(6)),  # merged ranks
])
def test_four_levels_and_more_equal_the_per_tensor_enumerator(problem, arch):
    same_as_reference(problem, arch)


@settings(max_examples=10, deadline=None)
@given(st.sampled_from([1, 2, 4]), st.sampled_from([1, 2]), st.sampled_from([2, 4]),
       st.integers(2, 4), st.sampled_from([(1, 2), (2, 1), (2, 2)]), st.booleans(), st.booleans(),
       st.sampled_from(KEEPS[:3]), st.sampled_from([None, ("n",), ("m", "k")]))
def test_spatial_fanout_equals_the_per_tensor_enumerator(m, k, n, l1, fans, mc2, mc1, keeps_l1,
                                                         ranks):
    """Fanout at either level or both, multicast or not, splits restricted or not, bypass."""
    outer, inner = fans
    p = bs.gemm(m, k, n)
    arch = fanout(l1, outer, inner, ranks, mc2, mc1, keeps_l1)
    assume(covered(p, arch))
    same_as_reference(p, arch)


@pytest.mark.parametrize("problem,arch", [
    (bs.gemm(2, 2, 2), fanout(3, 1, 2, None, True, False)),
    (bs.gemm(4, 2, 2), three(3)),
    (bs.gemm(4, 4, 2), three(4, keeps_l1=("inputs",))),
    (bs.gemm(2, 2, 2), Arch("t4", 8, (Level("DRAM"), Level("L3", sweep=True), Level("L2", 6),
                                      Level("L1", 3)))),
])
def test_equals_the_placement_milp(problem, arch):
    got = levelnest.frontier(problem, arch)
    milp = joint.solve(problem, arch, method="milp", placement="per_tensor")
    cols = ["occupancy", "accesses"] + [f"accesses_{lv.name}" for lv in arch.on_chip]
    assert [(o, k) for o, k in stairs(got, arch)] == \
        [(r[0], tuple(r[1:])) for r in milp[cols].values.tolist()]


def test_simba_equals_the_placement_milp():
    """``simba``: five on-chip levels, two fanouts (16 PEs, multicast; 64 registers per PE),
    weights bypassing the global buffer, every other tensor bypassing some level: the same rows
    as placement.py's MILP at three global-buffer sizes (every row proven there)."""
    p, arch, caps = bs.gemm(16, 16, 16), bs.load_arch("simba"), [64, 256, 1024]
    milp = joint.solve(p, arch, caps, method="milp", placement="per_tensor")
    auto = joint.solve(p, arch, caps, placement="per_tensor")
    assert auto.attrs["method"] == "enumeration" and (milp["status"] == "optimal").all()
    cols = ["accesses"] + [f"accesses_{lv.name}" for lv in arch.on_chip]
    assert auto[cols].values.tolist() == milp[cols].values.tolist()


def test_never_above_uniform_and_below_it_somewhere():
    """At every swept occupancy of the uniform staircase, the per-tensor key is at or below
    the uniform one (uniform nests are per-tensor nests), and strictly below somewhere."""
    p, arch = bs.gemm(8, 4, 4), three(6)
    per = stairs(levelnest.frontier(p, arch), arch)
    uni = stairs(frontier_points(p, arch), arch)

    def at(st_, x):
        return min((k for o, k in st_ if o <= x), default=None)

    assert all(at(per, x) <= k for x, k in uni)
    assert any(at(per, x) < k for x, k in uni)


def test_unconstrained_inner_level_gives_the_one_buffer_per_tensor_curve():
    """L1 large enough for anything: the DRAM column is the one-buffer per-tensor curve (the
    one-buffer MILP), since the L2 copies alone form a one-buffer nest and L1 can copy them."""
    p = bs.gemm(4, 2, 4)
    caps = [3, 5, 9, 20]
    got = stairs(levelnest.frontier(p, three(10**6)), three(10**6))
    one = bs.solve_curve(p, caps, mapspace="per_tensor/perfect", method="milp")
    assert [min(k[0] for o, k in got if o <= c) for c in caps] == one["accesses"].tolist()


def test_a_hand_counted_point():
    """GEMM 2x2x2, L2 and L1 of 3 words each keeping everything: at 3 words every copy holds one
    element (every tile 1, all three ranks loop). Z stationary (k innermost) reads A and B once
    per n or m tile (8 each) and writes Z once (4): 20. Any other order leaves some input's
    innermost relevant loop below the third rank's loop and Z refetched: A or B once (4) but the
    other 8 and Z 2 x 8 - 4 = 12, i.e. 24. L1's copies hold the same one-element tiles under the
    same loops: 20 again. Key (20, 20, 20)."""
    p = bs.gemm(2, 2, 2)
    got = dict(stairs(levelnest.frontier(p, three(3)), three(3)))
    assert got[3] == (20, 20, 20)


def test_auto_takes_it_and_falls_back_where_it_does_not_apply():
    p, arch = bs.gemm(8, 4, 6), three(8)
    df = joint.solve(p, arch, placement="per_tensor")
    assert df.attrs["method"] == "enumeration" and df.attrs["mapspace"] == "per_tensor/perfect"
    assert df.attrs["seconds"] < 30
    # sliding windows too; fanout with imperfect factors is not covered here (None): "auto"
    # takes the other methods
    conv = bs.conv(R=2, P=2, C=1, K=2)
    ref = per_tensor_points(conv, three(3))
    got = joint.solve(conv, three(3), placement="per_tensor")
    assert got.attrs["method"] == "enumeration"
    assert got["accesses"].tolist() == [c.dram for _, c, _ in ref]
    assert levelnest.frontier(bs.gemm(2, 2, 2), fanout(3, 1, 2), imperfect=True) is None


def _af_gemm_files():
    return sorted(p for p in DATA.glob("accelforge_*_L1_*.csv")
                  if p.name.startswith(("accelforge_three_level_", "accelforge_spatial_"))
                  and "conv" not in p.name and "_eval_" not in p.name and "_nests_" not in p.name)


@pytest.mark.parametrize("path", _af_gemm_files(), ids=lambda p: p.stem)
def test_no_accelforge_mapping_below(path):
    """AccelForge's Pareto mappings (DRAM weighted first; three-level: L1 fixed; spatial: four
    L1 instances below L2, with or without multicast): none below our per-tensor bound on DRAM
    nor on the whole key (DRAM, into L2 = DRAM, into L1 = L2's actions less DRAM's), at every L2
    size they used; and some tie it."""
    m, k, n, l1 = _sizes(path.stem)
    p = bs.gemm(m, k, n)
    imperfect = "_imperfect" in path.name
    if "_spatial_" in path.name:
        arch = Arch("af_spatial", 8, (Level("DRAM"), Level("L2", sweep=True),
                                      Level("L1", l1, instances=4,
                                            multicast="_unicast" not in path.name)))
    else:
        arch = Arch("af_three_level", 8, (Level("DRAM"), Level("L2", sweep=True),
                                          Level("L1", l1)))
    ours = stairs(levelnest.frontier(p, arch, imperfect), arch)
    af = pd.read_csv(path)
    if "l2_moved_words" in af:
        into_l1 = af["l2_moved_words"] - af["dram_words"]
    else:
        into_l1 = sum(af[f"L2_{T}_{a}"] - af[f"MainMemory_{T}_{a}"] for T in "ABZ"
                      for a in ("read", "write"))
    theirs = [(int(c), (int(d), int(d), int(x)))
              for c, d, x in zip(af["l2_words"], af["dram_words"], into_l1)]
    bound = {c: min(k for o, k in ours if o <= c) for c, _ in theirs}
    assert not [(c, t, bound[c]) for c, t in theirs if t[0] < bound[c][0] or t < bound[c]]
    assert any(t == bound[c] for c, t in theirs)


def _sizes(stem: str) -> tuple[int, int, int, int]:
    """(M, K, N, L1) from accelforge_{three_level,spatial}_MxKxN[_imperfect]_L1_W[_unicast]."""
    m, k, n = map(int, re.search(r"_(\d+)x(\d+)x(\d+)_", stem).groups())
    return m, k, n, int(re.search(r"_L1_(\d+)", stem).group(1))


# ------------------------------------------------------------------ sliding windows (convs)

@settings(max_examples=6, deadline=None)
@given(st.sampled_from([1, 2]), st.sampled_from([1, 2]), st.sampled_from([2, 4]),
       st.sampled_from([2, 3]), st.sampled_from([(1, 1), (2, 1), (1, 2)]), st.integers(2, 8),
       st.sampled_from(KEEPS), st.sampled_from(KEEPS))
def test_one_d_convs_equal_the_per_tensor_enumerator(k, c, p, r, coefs, l1, keeps_l2, keeps_l1):
    """1-D convs, strided or dilated, three levels with bypass: the depth-first enumerator
    (which costs every nest by ``moved_at``'s sliding rule, not by window tables)."""
    stride, dilation = coefs
    conv = bs.conv(R=r, P=p, C=c, K=k, Wstride=stride, Wdilation=dilation)
    arch = three(l1, keeps_l2, keeps_l1)
    assume(covered(conv, arch))
    same_as_reference(conv, arch)


@settings(max_examples=3, deadline=None)
@given(st.sampled_from([(2, 2, 2, 2), (2, 1, 2, 2), (3, 2, 1, 1)]), st.sampled_from([1, 2]),
       st.integers(4, 12), st.sampled_from(KEEPS[:3]))
def test_two_d_convs_equal_the_per_tensor_enumerator(sizes, k, l1, keeps_l1):
    r, s, p, q = sizes
    conv = bs.conv(R=r, S=s, P=p, Q=q, K=k)
    arch = three(l1, keeps_l1=keeps_l1)
    assume(covered(conv, arch))
    same_as_reference(conv, arch)


def test_a_conv_on_four_levels_equals_the_per_tensor_enumerator(monkeypatch):
    """Four levels (33,102 classes visited: declined by default, WINDOW_PLAN_LIMIT, where the
    depth-first enumerator is faster), a strided window, L2 bypassed by the weights."""
    conv, arch = bs.conv(R=3, P=2, K=2, Wstride=2), four(8, 3, keeps_l2=("output", "input"))
    assert levelnest.frontier(conv, arch) is None  # declined
    monkeypatch.setattr(levelnest, "WINDOW_PLAN_LIMIT", 10**6)
    same_as_reference(conv, arch)


def test_a_conv_with_l1_keeping_only_inputs_equals_the_per_tensor_enumerator():
    same_as_reference(bs.conv(R=2, P=4, C=2, K=2), three(5, keeps_l1=("inputs",)))


@settings(max_examples=5, deadline=None)
@given(st.sampled_from([(2, 1, 2, 2), (2, 2, 2, 2), (1, 2, 2, 3)]),
       st.sampled_from([(1, 2), (2, 1), (2, 2)]), st.booleans(), st.booleans(),
       st.integers(2, 4), st.sampled_from(KEEPS[:3]))
def test_convs_with_fanout_equal_the_placement_milp(sizes, fans, mc2, mc1, l1, keeps_l1):
    """Fanout splits K or C (never P or R, the window's ranks), multicast or not, bypass:
    against the placement MILP."""
    k, c, p, r = sizes
    conv = bs.conv(R=r, P=p, C=c, K=k)
    outer, inner = fans
    arch = fanout(l1, outer, inner, None, mc2, mc1, keeps_l1)
    assume(covered(conv, arch))
    got = levelnest.frontier(conv, arch)
    milp = joint.solve(conv, arch, method="milp", placement="per_tensor")
    cols = ["occupancy", "accesses"] + [f"accesses_{lv.name}" for lv in arch.on_chip]
    rows = milp[cols].values.tolist() if len(milp) else []  # nothing fits: no rows, no columns
    assert stairs(got, arch) == [(r[0], tuple(r[1:])) for r in rows]
    for nest, cost, copies in got:
        assert evaluate_levels(conv, nest, copies, arch.multicast) == cost


@pytest.mark.parametrize("problem,l1", [(bs.conv(R=2, P=3, C=3, K=1), 4),
                                        (bs.conv(R=3, P=2, C=1, K=5), 6)])
def test_convs_with_imperfect_factors_equal_the_per_tensor_enumerator(problem, l1):
    """Imperfect factors on the plain ranks (C, K); the window's ranks stay perfect."""
    same_as_reference(problem, three(l1), imperfect=True)


@pytest.mark.parametrize("problem,arch", [
    (bs.conv(R=2, P=2, C=1, K=2), three(3)),
    (bs.conv(R=3, P=2, C=2, K=1), three(5, keeps_l1=("inputs",))),
])
def test_convs_equal_the_placement_milp(problem, arch):
    got = levelnest.frontier(problem, arch)
    milp = joint.solve(problem, arch, method="milp", placement="per_tensor")
    cols = ["occupancy", "accesses"] + [f"accesses_{lv.name}" for lv in arch.on_chip]
    assert [(o, k) for o, k in stairs(got, arch)] == \
        [(r[0], tuple(r[1:])) for r in milp[cols].values.tolist()]


def test_a_hand_counted_conv_point():
    """``O[p] += I[p+r] * W[r]``, P = R = 2, L2 and L1 of 3 words keeping everything. At 3
    words every copy holds one element (all tiles 1; a 2-word tile of I with one each of W and
    O is 4). Order r outside p: W is read once per r (2), O's element changes with p under r:
    written 4 times, read back 4 - 2 = 2 (6); I's window at (p, r) is p + r: one new element per
    step (the sweep along p, restarted by r: 2 + 2 = 4). 12 in all. Order p outside r: O read
    and written once (2); W once per p, r (4); I one new element per r step, restarted per p
    (4): 10. Both levels hold the same one-element tiles: key (10, 10, 10)."""
    conv = bs.workload(["O[p] += I[p+r] * W[r]"], p=2, r=2).einsums[0]
    got = dict(stairs(levelnest.frontier(conv, three(3)), three(3)))
    assert got[3] == (10, 10, 10)


@settings(max_examples=8, deadline=None)
@given(st.sampled_from([(2, 1, 2, 2), (2, 2, 2, 2), (1, 2, 2, 3), (1, 2, 2, 2)]),
       st.sampled_from([(1, 2), (2, 1), (2, 2)]), st.booleans(), st.booleans(),
       st.integers(2, 4), st.sampled_from(KEEPS))
def test_one_d_convs_with_fanout_equal_the_per_tensor_enumerator(sizes, fans, mc2, mc1, l1,
                                                                 keeps_l1):
    """Sliding windows under fanout, multicast or not, bypass: levelnest and the depth-first
    enumerator (which once missed points here and tripped its own re-costing check: its
    incremental count of a copy with no relevant loop above, hierarchy.per_tensor_points)."""
    k, c, p, r = sizes
    conv = bs.conv(R=r, P=p, C=c, K=k)
    arch = fanout(l1, *fans, None, mc2, mc1, keeps_l1)
    assume(covered(conv, arch))
    same_as_reference(conv, arch)


@settings(max_examples=4, deadline=None)
@given(st.sampled_from([(2, 1, 2, 2, 2, 1), (2, 2, 1, 2, 1, 2), (1, 2, 2, 1, 2, 2)]),
       st.sampled_from([(1, 2), (2, 2)]), st.booleans(), st.booleans(),
       st.sampled_from([("output",), ("inputs",), ("weight", "output")]))
def test_two_d_convs_with_fanout_equal_the_per_tensor_enumerator(sizes, fans, mc2, mc1, keeps_l1):
    """2-D windows under fanout (cases where the enumerator used to trip its check)."""
    r, s, p, q, k, c = sizes
    conv = bs.conv(R=r, S=s, P=p, Q=q, K=k, C=c)
    arch = fanout(4, *fans, None, mc2, mc1, keeps_l1)
    assume(covered(conv, arch))
    same_as_reference(conv, arch)


def test_a_hand_counted_conv_point_under_fanout(monkeypatch):
    """``O[k,p] += I[c,p+r] * W[k,c,r]``, K = 1, C = 2, P = 2, R = 3, on DRAM -> L2 x2
    (multicast) -> L1 x4 (2 words, no multicast, keeping only O). At 5 words of L2: loops c
    then r, each step holding I's window {p:2} (2), one W (1) and the whole O (2). I: per c,
    the window slides along r (2 + 1 + 1 = 4, one row), 8 in all; W once (6); O above every
    loop over its ranks, so written once and never read back (2): DRAM 16, into L2 16. O's L1
    copy, below L1's (idle) fanout, is filled once from O's L2 copy: 2 writes, 0 reads.
    Nothing at 5 words does better, as levelnest, the depth-first enumerator and the MILP
    all say (the depth-first one used to count O's L1 copy once per c: (16, 16, 4)); and
    "auto" with levelnest declined answers from that enumerator, equal to the MILP."""
    p = bs.workload(["O[k,p] += I[c,p+r] * W[k,c,r]"], k=1, c=2, p=2, r=3).einsums[0]
    arch = fanout(2, 2, 2, None, True, False, ("output",))
    got = same_as_reference(p, arch)
    assert dict(stairs(got, arch))[5] == (16, 16, 2)
    milp = joint.solve(p, arch, method="milp", placement="per_tensor")
    monkeypatch.setattr(levelnest, "frontier", lambda *a, **k: None)
    enumerated = bs.pareto_frontier(p, arch=arch, mapspace="per_tensor/perfect")
    assert enumerated.attrs["method"] == "enumeration"
    same_rows(milp, enumerated, arch)


# ------------------------------------------------------------------ reductions (ResNet-size convs)

@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.integers(1, 4), min_size=3, max_size=3), min_size=1, max_size=40),
       st.lists(st.booleans(), min_size=3, max_size=3), st.sampled_from([1, 2, 3, 128]))
def test_pareto_keeps_exactly_the_undominated_rows(rows, exact, block):
    """``_pareto`` against the definition, pair by pair in Python: a row goes iff another is at
    most it everywhere, equal on the exact columns, and below it somewhere or an equal row
    listed before it; with blocks of 1 to 3 rows too (each block tested against the rows kept
    from earlier blocks and against itself)."""
    import numpy as np

    m = np.array(rows, np.int64)
    ex = np.array(exact)

    def beats(j, i):
        a, b = rows[j], rows[i]
        if any(x > y for x, y in zip(a, b)) or any(e and x != y for e, x, y in zip(exact, a, b)):
            return False
        return a != b or j < i

    want = [i for i in range(len(rows)) if not any(beats(j, i) for j in range(len(rows)) if j != i)]
    was = levelnest.PARETO_BLOCK
    levelnest.PARETO_BLOCK = block
    try:
        assert levelnest._pareto(m, ex).tolist() == want
    finally:
        levelnest.PARETO_BLOCK = was


def _unreduced(monkeypatch):
    """levelnest with every table kept whole: no undominated-row or capacity reduction, no
    seeds, no outer test (what it was before them)."""
    monkeypatch.setattr(levelnest, "_reduced", lambda mats, fits, memo, rows=None, among=None:
                        [__import__("numpy").arange(len(m)) for m in mats])
    monkeypatch.setattr(levelnest, "_seeds", lambda *a: [])
    monkeypatch.setattr(levelnest, "_symmetries", lambda *a: ())


@pytest.mark.parametrize("problem,arch", [
    (bs.conv(R=3, P=6, C=4, K=4), three(12)),
    (bs.conv(R=3, P=4, C=2, K=2, Wstride=2), three(6, keeps_l1=("input", "output"))),
    (bs.gemm(8, 6, 4), three(10)),
    (bs.conv(R=2, S=2, P=2, Q=2, C=2, K=2), three(8)),  # P <-> Q, R <-> S: one class per orbit
    (bs.gemm(4, 4, 4), fanout(4, 2, 2, None, True, False)),
])
def test_the_reductions_change_no_point(problem, arch, monkeypatch):
    """Where the depth-first enumerator is too slow to compare (a 1-D conv, P = 6, C = K = 4): the
    staircase with the tables reduced and the seeds' outer test equals the one from the whole
    tables, point by point; every point re-costed. (2-D convs: the Hypothesis test above, against
    the depth-first enumerator, runs the reductions too.)"""
    monkeypatch.setattr(levelnest, "WINDOW_PLAN_LIMIT", levelnest.LARGE_WINDOW_PLAN_LIMIT)
    got = levelnest.frontier(problem, arch)
    for nest, cost, copies in got:
        check_level_tiles(problem, nest)
        assert evaluate_levels(problem, nest, copies, arch.multicast) == cost
    _unreduced(monkeypatch)
    assert stairs(got, arch) == stairs(levelnest.frontier(problem, arch, limit=10**12), arch)


def test_seeds_are_real_nests_at_the_one_buffer_traffic():
    """Each seed is a legal nest that fits L1 and is re-costed by evaluate_levels, its DRAM
    traffic and L2 occupancy those of a point of the one-buffer per-tensor curve (fastnest, which
    reads nothing of levelnest); no seeds where the swept level is not every tensor's outermost
    copy or a level fans out."""
    from boundsolver.reference import fastnest

    conv = bs.conv(R=3, P=4, C=2, K=2)
    arch = three(6)
    frame = levelnest._frame(conv, arch, False)
    seeds = levelnest._seeds(conv, arch, frame, False)
    one = {(c.occupancy, c.accesses) for _, c in fastnest.frontier(conv, "per_tensor/perfect")}
    assert seeds and len(seeds) == len(one)
    for x, cost, (nest, copies) in seeds:
        check_level_tiles(conv, nest)
        assert evaluate_levels(conv, nest, copies, arch.multicast) == cost
        assert (x, cost.dram) in one and cost.occupancy[1] <= 6
    bypass = three(6, keeps_l2=("input", "output"))
    assert levelnest._seeds(conv, bypass, levelnest._frame(conv, bypass, False), False) == []
    spread = fanout(4, 2, 2)
    assert levelnest._seeds(conv, spread, levelnest._frame(conv, spread, False), False) == []


def test_a_pointwise_resnet_conv_is_answered():
    """ResNet-50's 1x1 conv of conv2_x (C = 64, K = 256, P = Q = 56) on three levels with a
    64-word L1: answered (it was over the work limit before the reductions); its DRAM column is
    the one-buffer per-tensor curve (fastnest), since L1 can hold a unit tile of each tensor."""
    from boundsolver.reference import fastnest

    conv, arch = bs.conv(R=1, S=1, P=56, Q=56, C=64, K=256), three(64)
    got = levelnest.frontier(conv, arch)
    assert got is not None
    one = fastnest.frontier(conv, "per_tensor/perfect")
    for x, key in stairs(got, arch):
        assert key[0] == min(c.accesses for _, c in one if c.occupancy <= x)


def test_symmetries_rename_only_what_maps_every_tensor_onto_itself():
    """A 2-D conv with P = Q and R = S has one renaming (P <-> Q with R <-> S), a GEMM none (its
    m <-> n swaps A and B), a conv with P != Q or a different stride per axis none, and none is
    used under fanout; with it the plan holds fewer classes, and the staircase is unchanged
    against the per-tensor enumerator (which reads no symmetry)."""
    def syms(problem, arch):
        return levelnest._symmetries(problem, levelnest._frame(problem, arch, False))

    conv = bs.conv(R=2, S=2, P=2, Q=2, K=2)
    assert [dict(s) for s in syms(conv, three(6))] == [
        {"p": "q", "q": "p", "r": "s", "s": "r", "k": "k"}]
    assert syms(bs.gemm(4, 4, 4), three(6)) == ()
    assert syms(bs.conv(R=2, S=2, P=2, Q=4, K=2), three(6)) == ()
    assert syms(bs.conv(R=2, S=2, P=4, Q=4, K=2, Hstride=2), three(6)) == ()
    assert syms(conv, fanout(4, 2, 2)) == ()
    frame = levelnest._frame(conv, three(6), False)
    both = levelnest._plan(frame, levelnest.LARGE_WINDOW_PLAN_LIMIT, levelnest.PLAN_WORK_LIMIT)
    half = levelnest._plan(frame, levelnest.LARGE_WINDOW_PLAN_LIMIT, levelnest.PLAN_WORK_LIMIT,
                           syms(conv, three(6)))
    assert len(half) < len(both)
    same_as_reference(conv, three(6))


@pytest.mark.parametrize("problem,l1", [(bs.gemm(4, 2, 6), 5), (bs.conv(R=3, P=4, C=2, K=2), 8)])
def test_level_floors_are_the_one_buffer_traffic_at_the_inner_capacity(problem, l1):
    """``_level_floors``: a fixed level keeping every tensor (no fanout) moves at least the
    one-buffer per-tensor curve's least traffic at its capacity, at every point of the
    depth-first enumerator's staircase (which reads no floor); where L2 holds everything (the
    last point) the floor is attained; none for a level with bypass or under fanout."""
    arch = three(l1)
    frame = levelnest._frame(problem, arch, False)
    floor = levelnest._level_floors(problem, arch, frame, False)
    assert floor[0] == floor[1] == 0 and floor[2] > 0
    ref = stairs(per_tensor_points(problem, arch), arch)
    assert all(key[2] >= floor[2] for _, key in ref) and ref[-1][1][2] == floor[2]
    bypass = three(l1, keeps_l1=("inputs",))
    assert not levelnest._level_floors(problem, bypass, levelnest._frame(problem, bypass, False),
                                       False).any()
    spread = fanout(4, 2, 2)
    assert not levelnest._level_floors(problem, spread, levelnest._frame(problem, spread, False),
                                       False).any()


# ------------------------------------------------------------------ class dominance, kept combinations

@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.tuples(st.integers(0, 2), st.integers(-3, 3)), min_size=3, max_size=3),
                min_size=1, max_size=12))
def test_order_vectors_order_exactly_the_class_dominance(rows):
    """``_order_vectors``: vector b at most vector a componentwise iff, term by term, b's entry
    is kind 0 (the constant 1) or of a's kind with a value at most a's (the definition
    ``_undominated`` reads), pair by pair in Python."""
    import numpy as np

    e = np.array(rows, np.int64)
    vec = levelnest._order_vectors(e[..., 0], e[..., 1])

    def below(b, a):
        return all(kb == 0 or (kb == ka and vb <= va) for (kb, vb), (ka, va) in zip(rows[b], rows[a]))

    for a in range(len(rows)):
        for b in range(len(rows)):
            assert bool((vec[b] <= vec[a]).all()) == below(b, a), (rows[b], rows[a])


def test_undominated_classes_are_exactly_the_definitions(monkeypatch):
    """``_undominated`` on every class of a small 1-D conv, a GEMM and a GEMM under fanout: a
    class goes iff another with the same free tiles is at most it in every term (the entries'
    definition, pair by pair, broadcast in numpy), one of each group of equal classes kept."""
    import numpy as np

    keep = levelnest._undominated
    for problem, arch in [(bs.conv(R=2, P=2, C=1, K=1), three(6)), (bs.gemm(2, 2, 2), three(4)),
                          (bs.gemm(2, 2, 2), fanout(4, 2, 2))]:
        frame = levelnest._frame(problem, arch, False)
        monkeypatch.setattr(levelnest, "_undominated", lambda classes: classes)
        every = list(levelnest._plan.__wrapped__(frame, levelnest.LARGE_WINDOW_PLAN_LIMIT,
                                                 levelnest.PLAN_WORK_LIMIT))
        monkeypatch.setattr(levelnest, "_undominated", keep)
        ids: dict = {}
        e = np.array([c.entries(ids) for c in every], np.int64)
        kind, value = e[..., 0], e[..., 1]
        free = np.array([hash(c.free) for c in every])
        below = ((kind[:, None] == 0) | ((kind[:, None] == kind[None, :])
                                         & (value[:, None] <= value[None, :]))).all(axis=2)
        below &= free[:, None] == free[None, :]  # below[b, a]: class b at most class a
        np.fill_diagonal(below, False)
        # a goes for b at most it and not equal, or for an equal one (one of each kept)
        strict = below & ~below.T
        equal_first = below & below.T & (np.arange(len(every))[:, None] < np.arange(len(every)))
        beaten = (strict | equal_first).any(axis=0)
        kept = {id(c) for c in keep(every)}
        assert [id(c) not in kept for c in every] == beaten.tolist()
        assert beaten.any()


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(1, 4), min_size=2, max_size=3), st.data())
def test_search_confined_to_kept_combinations_costs_exactly_them(sizes, data):
    """``_Combos.prefixes`` with ``_search``: the row combinations the search costs (every one
    passing here) are exactly those whose projections form a kept combination, brute force,
    and ``prefixes`` counts them; rows of a projection no kept combination uses are left out."""
    import itertools

    import numpy as np

    projs = [data.draw(st.lists(st.integers(0, 2), min_size=n, max_size=n)) for n in sizes]
    kept = data.draw(st.lists(st.tuples(*(st.integers(0, 2) for _ in sizes)), min_size=1,
                              max_size=8, unique=True))
    combos = levelnest._Combos(tuple(np.array(p, np.int64) for p in projs),
                               np.array(kept, np.int64).reshape(len(kept), len(sizes)))
    got = combos.prefixes([np.arange(n) for n in sizes])
    want = {rows for rows in itertools.product(*(range(n) for n in sizes))
            if tuple(p[r] for p, r in zip(projs, rows)) in set(kept)}
    if got is None:  # some unit keeps no row: no combination at all
        assert not want
        return
    rows, allow, count = got
    assert count == len(want)
    for u, (p, r) in enumerate(zip(projs, rows)):  # left out: the rows of unused projections
        assert r.tolist() == [i for i in range(len(p)) if any(p[i] == k[u] for k in kept)]
    mats = [np.ones((len(r), 1), np.int64) for r in rows]
    seen = []

    class Stairs:
        def merge(self, x, keys, tag):
            seen.extend(tag[:, 1].tolist())

    def alive(p, final):
        return np.ones(len(p), bool), np.zeros(len(p), np.int64), np.zeros((len(p), 1), np.int64)

    levelnest._search(mats, levelnest._floors(mats, np.ones((1, 1), np.int64)),
                      np.zeros(1, np.int64), alive, Stairs(), 0, allow=allow)
    costed = {tuple(int(r[j]) for r, j in zip(rows, np.unravel_index(f, [len(r) for r in rows])))
              for f in seen}
    assert len(seen) == len(costed) and costed == want


@settings(max_examples=8, deadline=None)
@given(st.sampled_from([(bs.gemm(4, 2, 3), "three", 6), (bs.gemm(2, 3, 4), "three", 8),
                        (bs.gemm(2, 2, 2), "four", 3), (bs.conv(R=2, P=2, C=1, K=1), "three", 6),
                        (bs.gemm(2, 2, 2), "fanout", 4), (bs.gemm(2, 2, 2), "unicast", 4)]),
       st.sampled_from(KEEPS))
def test_kept_combinations_change_no_point(case, keeps_l1):
    """The search confined to the outer test's kept combinations (``COMBO_LIMIT`` > 0) against
    the search over every row product (``COMBO_LIMIT = 0``) and the depth-first enumerator, on
    GEMMs and convs, 3 and 4 levels, L1 bypass, fanout with and without multicast (no outer
    test there: the same search)."""
    problem, kind, l1 = case
    arch = {"three": lambda: three(l1, keeps_l1=keeps_l1),
            "four": lambda: four(8, l1, keeps_l1=keeps_l1),
            "fanout": lambda: fanout(l1, 2, 2, keeps_l1=keeps_l1),
            "unicast": lambda: fanout(l1, 2, 2, None, False, False, keeps_l1=keeps_l1)}[kind]()
    assume(covered(problem, arch))
    was = levelnest.WINDOW_PLAN_LIMIT
    levelnest.WINDOW_PLAN_LIMIT = levelnest.LARGE_WINDOW_PLAN_LIMIT
    try:
        on = same_as_reference(problem, arch)
        levelnest.COMBO_LIMIT, limit = 0, levelnest.COMBO_LIMIT
        try:
            off = levelnest.frontier(problem, arch)
        finally:
            levelnest.COMBO_LIMIT = limit
    finally:
        levelnest.WINDOW_PLAN_LIMIT = was
    assert stairs(on, arch) == stairs(off, arch)


def test_kept_combinations_confine_the_search_and_change_no_point(monkeypatch):
    """On a GEMM 4x2x6 (three levels, L1 = 6) the kept combinations leave fewer row
    combinations to cost than the product of the units' kept rows (so the on = off checks
    above exercise the rule), and the staircase is the depth-first enumerator's."""
    import math

    counts = []
    prefixes = levelnest._Combos.prefixes

    def count(self, rows):
        got = prefixes(self, rows)
        if got is not None:
            counts.append((got[2], math.prod(len(r) for r in got[0])))
        return got

    monkeypatch.setattr(levelnest._Combos, "prefixes", count)
    same_as_reference(bs.gemm(4, 2, 6), three(6))
    assert counts and sum(c for c, _ in counts) < sum(p for _, p in counts)


def test_a_problem_with_nothing_to_tile_is_declined_and_answered_elsewhere():
    """GEMM 1x1x1 has no rank to tile: levelnest has no units to combine (it raised IndexError
    from its walk) and declines; the default route answers from another method. Counted by
    hand: one word each of A and B read, one of Z written; `three_level`'s L2 keeps all three."""
    p = bs.gemm(1, 1, 1)
    assert levelnest.frontier(p, bs.load_arch("three_level")) is None
    row = bs.pareto_frontier(p, arch=bs.load_arch("three_level")).iloc[0]
    assert (row["occupancy"], row["accesses"], row["status"]) == (3, 3, "optimal")
