"""Fused Einsum chains (docs/fusion.md): the exact fused and unfused frontiers of a workload."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import boundsolver as bs
from boundsolver import fused, fusion
from boundsolver.cost import Mapping
from boundsolver.enumerate import enumerate_workload
from boundsolver.errors import EinsumError
from boundsolver.specs import SpecError

CHAINS = {
    "ffn": (["Y[m,c] += X[m,d] * A[d,c]", "Z[m,j] += Y[m,c] * B[c,j]"], "mdcj"),
    "attention": (["S[m,p] += Q[m,e] * K[p,e]", "Z[m,f] += S[m,p] * V[p,f]"], "mpef"),
    "k_by_p": (["K[m,e] += I[m,d] * W[e,d]", "S[m,p] += Q[m,e] * K[p,e]"], "medp"),
    "shared_input": (["U[m,h] += I[m,d] * A[h,d]", "V[m,h] += I[m,d] * B[h,d]"], "mhd"),
    "softmax": (["Y[m,c] += X[m,d] * A[d,c]", "S[m,c] = Y[m,c]", "Z[m,j] += S[m,c] * B[c,j]"],
                "mdcj"),
}


@st.composite
def chains(draw, sizes=(1, 2, 4)):
    name = draw(st.sampled_from(sorted(CHAINS)))
    texts, ranks = CHAINS[name]
    size = {r: draw(st.sampled_from(sizes)) for r in ranks}
    if "p" in size:
        size["p"] = size["m"]  # K[m,e] is read as K[p,e]: one shape
    return bs.workload(texts, name=name, **size)


def frontier(sol: fused.Solution) -> list[tuple[int, int]]:
    return list(zip(sol.frontier.occ.tolist(), sol.frontier.acc.tolist()))


def reference(w: bs.Workload, fusion_on: bool) -> list[tuple[int, int]]:
    return [(o, a) for o, a, _ in enumerate_workload(w, fusion_on)]


def value_at(points: list[tuple[int, int]], capacity: int) -> float:
    return min((a for o, a in points if o <= capacity), default=np.inf)


# ---------------------------------------------------------------------------------- the reference

@settings(max_examples=30, deadline=None)
@given(chains(), st.booleans())
def test_milp_frontier_equals_enumeration(w, fusion_on):
    """The per-Einsum-curve DP traced by the MILP equals brute force over whole schedules."""
    sol = fused.solve_workload(w, fusion_on, method="milp")
    assert frontier(sol) == reference(w, fusion_on)
    for occ, acc in frontier(sol):  # every breakpoint's schedule reproduces it in integers
        cost = fusion.evaluate(w, sol.schedule(occ))
        assert (cost.occupancy, cost.accesses) == (occ, acc)


@pytest.mark.parametrize("name", ["ffn", "attention", "softmax"])
def test_cbc_frontier_equals_enumeration(name):
    texts, ranks = CHAINS[name]
    w = bs.workload(texts, **{r: (2 if r in "dejp" else 4) for r in ranks} | {"p": 4, "m": 4}
                    if "p" in ranks else {r: (2 if r in "dej" else 4) for r in ranks})
    assert frontier(fused.solve_workload(w, True, method="milp", solver="cbc")) == reference(w, True)


def test_pruned_reference_equals_unpruned():
    """The reference keeps only Pareto-optimal parts; on a tiny chain, all combinations agree."""
    w = bs.workload(CHAINS["ffn"][0], m=2, d=2, c=2, j=2)
    full = [(o, a) for o, a, _ in enumerate_workload(w, True, prune=False)]
    assert full == reference(w, True)


@settings(max_examples=20, deadline=None)
@given(chains(sizes=(1, 2, 3, 4, 6)))
def test_fused_properties(w):
    """Fusion only adds mappings; with room for everything only the workload's inputs and outputs
    move; unfused, every Einsum's own minimum; single-Einsum curves for segments of one."""
    fz = frontier(fused.solve_workload(w, True, method="enumerate"))
    un = frontier(fused.solve_workload(w, False, method="enumerate"))
    for cap, _ in fz + un:
        assert value_at(fz, cap) <= value_at(un, cap)
    assert fz[-1][1] == w.algorithmic_minimum
    assert un[-1][1] == w.unfused_minimum


def test_unfused_is_the_sum_of_single_einsum_curves():
    w = bs.load_problem("attention", tokens=64)
    un = frontier(fused.solve_workload(w, False))
    singles = [bs.pareto_frontier(e) for e in w.einsums]
    for cap, acc in un:
        assert acc == sum(value_at(list(zip(df.occupancy, df.accesses)), cap) for df in singles)


def test_single_einsum_workload_is_its_curve():
    g = bs.gemm(64, 32, 16)
    df = bs.pareto_frontier(bs.workload([g]))
    ref = bs.pareto_frontier(g)
    assert list(df.accesses) == list(ref.accesses) and list(df.occupancy) == list(ref.occupancy)


def test_per_tensor_inner_mapspace_milp_equals_enumeration():
    w = bs.workload(CHAINS["ffn"][0], m=4, d=2, c=4, j=2)
    a = fused.solve_workload(w, True, "per_tensor/perfect", method="milp")
    b = fused.solve_workload(w, True, "per_tensor/perfect", method="enumerate")
    assert frontier(a) == frontier(b)
    base = frontier(fused.solve_workload(w, True))
    for cap, _ in frontier(a):
        assert value_at(frontier(a), cap) <= value_at(base, cap)


# --------------------------------------------------------------------------- hand-derived numbers

def test_worked_example_tiled_fusion():
    """docs/fusion.md: Y[m,c] = X[m,d] W1[d,c], Z[m,j] = Y[m,c] W2[c,j], m=8, d=4, c=16, j=4,
    with a shared loop over m in tiles of 2, W1 and W2 kept whole, X and Z streamed."""
    w = bs.workload(CHAINS["ffn"][0], m=8, d=4, c=16, j=4)
    inner = (Mapping((("m", 2), ("d", 4), ("c", 1)), ("c",)),
             Mapping((("m", 2), ("c", 1), ("j", 4)), ("c",)))
    seg = bs.Segment(("Y", "Z"), (("m", 2),), (("A", 0), ("B", 0)), inner)
    cost = fusion.evaluate(w, bs.Schedule((seg,)))
    # Reads: A and B once (64 each); X once (32, its tile is the whole m-slice, read per m tile);
    # Z written once (32). Held: A + B = 128; live Y tile 2x16 = 32; Y's step streams X 2x4 and
    # Z's step streams Z 2x4 -> the larger is 8. Occupancy 128 + 32 + 8 = 168.
    assert cost.accesses == 64 + 64 + 32 + 32
    assert cost.occupancy == 128 + 32 + 8


def test_reduction_shared_loop_keeps_the_output():
    """Sharing the loop over c, which Z reduces: Z accumulates in the buffer (kept), X is kept
    across it; weights are read once per m tile."""
    w = bs.workload(CHAINS["ffn"][0], m=8, d=4, c=16, j=4)
    inner = (Mapping((("m", 2), ("d", 4), ("c", 4)), ()), Mapping((("m", 2), ("c", 4), ("j", 4)), ()))
    seg = bs.Segment(("Y", "Z"), (("m", 2), ("c", 4)), (("X", 1), ("B", 2)), inner)
    with pytest.raises(EinsumError, match="must be kept"):
        fusion.evaluate(w, bs.Schedule((seg,)))
    seg = bs.Segment(("Y", "Z"), (("m", 2), ("c", 4)), (("X", 1), ("Z", 1)), inner)
    cost = fusion.evaluate(w, bs.Schedule((seg,)))
    # X 32 once; Z 32 written once; A (64) and B (64) streamed once per m tile (4 tiles).
    assert cost.accesses == 32 + 32 + 4 * 64 + 4 * 64
    # held X 2x4 + Z 2x4; live Y 2x4; the larger step streams A 4x4 or B 4x4 = 16.
    assert cost.occupancy == 8 + 8 + 8 + 16


def test_ffn_of_the_paper():
    """Orojenesis FFN (2-byte words): no gain below about 10 MB, up to 3.7x above 256 MB, and a
    fused minimum of W1 + W2 + the first input + the last output."""
    w = bs.load_problem("ffn")
    fz, un = (fused.solve_workload(w, f) for f in (True, False))
    caps = np.union1d(fz.frontier.occ, un.frontier.occ)
    ratio = un.frontier.acc[un.frontier.at(caps)] / fz.frontier.acc[fz.frontier.at(caps)]
    mb = caps * 2 / 1e6
    assert ratio[mb < 10].max() == 1.0
    assert round(ratio[mb >= 256].max(), 1) == 3.7
    assert fz.frontier.acc[-1] == 2 * 4096 * 16384 + 2 * 32768 * 4096


def test_gpt3_layer_minima_match_accelforge():
    """AccelForge's GPT-3 6.7B layer at 8192 tokens: fused bottoms out at 268.4 M words (six
    weights, the layer input and output), unfused at 9.53 G words."""
    w = bs.load_problem("gpt3_6.7b")
    weights = 4 * 32 * 128 * 4096 + 2 * 4096 * 16384
    assert w.algorithmic_minimum == weights + 2 * 8192 * 4096 == 268_435_456
    fz = fused.solve_workload(w, True)
    un = fused.solve_workload(w, False)
    assert fz.frontier.acc[-1] == 268_435_456
    assert round(un.frontier.acc[-1] / 1e9, 2) == 9.53
    caps = np.union1d(fz.frontier.occ, un.frontier.occ)
    assert (fz.frontier.acc[fz.frontier.at(caps)] <= un.frontier.acc[un.frontier.at(caps)]).all()


# ------------------------------------------------------------------------------------ the API

def test_api_frames():
    w = bs.load_problem("ffn", tokens=256)
    df = bs.pareto_frontier(w)
    assert df.attrs["fusion"] and df["status"].eq("optimal").all()
    assert df["accesses"].is_monotonic_decreasing and df["occupancy"].is_monotonic_increasing
    assert df["fused"].iloc[-1] and df["segments"].iloc[-1] == "FFA+FFB"
    assert {"mapping_FFA", "mapping_FFB", "schedule", "reads_W1"} <= set(df.columns)
    curve = bs.solve_curve(w, [1, 10**4, 10**9], fusion=False)
    assert list(curve.status) == ["infeasible", "optimal", "optimal"]
    assert curve.accesses.iloc[-1] == w.unfused_minimum


def test_errors_are_clear():
    with pytest.raises(EinsumError, match="reads Y before"):
        bs.workload(["Z[m] += Y[m] * B[m]", "Y[m] += X[m] * A[m]"], m=2)
    with pytest.raises(EinsumError, match="has shape"):
        bs.workload([bs.einsum("Y[m] += X[m] * A[m]", "Y", m=2),
                     bs.einsum("Z[n] += Y[n] * B[n]", "Z", n=3)])
    with pytest.raises(EinsumError, match="written by both"):
        bs.workload([bs.einsum("Y[m] += X[m] * A[m]", "one", m=2),
                     bs.einsum("Y[m] += X[m] * B[m]", "two", m=2)])
    with pytest.raises(EinsumError, match="has no size"):
        bs.workload(["Y[m] += X[m] * A[q]"], m=2)
    with pytest.raises(bs.BoundsolverError, match="applies to workloads"):
        bs.pareto_frontier(bs.gemm(4, 4, 4), fusion=True)
    with pytest.raises(SpecError, match="no parameter 'token'"):
        bs.load_problem("gpt3_6.7b", token=4)
    w = bs.workload(CHAINS["k_by_p"][0], m=4, e=2, d=2, p=4)
    seg = bs.Segment(("K", "S"), (("m", 2),), (), ())
    with pytest.raises(EinsumError, match="cannot share a loop over 'm'"):
        fusion.check_segment(w, seg)


def test_load_problem_params():
    w = bs.load_problem("gpt3_6.7b", tokens=512)
    assert w["QK"].size["p"] == 512 and w["FFA"].size["c"] == 16384
    assert w.intermediates == ("V", "K", "Q", "QK", "QK_softmax", "AV", "Z", "FFA")
    assert w.inputs == ("I", "WV", "WK", "WQ", "WZ", "WFFA", "WFFB") and w.outputs == ("FFB",)
