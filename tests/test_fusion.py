"""Fused Einsum chains (docs/fusion.md): loop trees, their cost model, the exact DP and its checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import boundsolver as bs
from boundsolver.curves import fused
from boundsolver.errors import EinsumError
from boundsolver.io.specs import SpecError
from boundsolver.model import fusion
from boundsolver.model.cost import Mapping
from boundsolver.model.fusion import Leaf, Node, Schedule
from boundsolver.reference.enumerate import enumerate_workload

DATA = Path(__file__).parent / "data"
CHAINS = {
    "ffn": (["Y[m,c] += X[m,d] * A[d,c]", "Z[m,j] += Y[m,c] * B[c,j]"], "mdcj"),
    "attention": (["S[m,p] += Q[m,e] * K[p,e]", "Z[m,f] += S[m,p] * V[p,f]"], "mpef"),
    "k_by_p": (["K[m,e] += I[m,d] * W[e,d]", "S[m,p] += Q[m,e] * K[p,e]"], "medp"),
    "shared_input": (["U[m,h] += I[m,d] * A[h,d]", "V[m,h] += I[m,d] * B[h,d]"], "mhd"),
    "softmax": (["Y[m,c] += X[m,d] * A[d,c]", "S[m,c] = Y[m,c]", "Z[m,j] += S[m,c] * B[c,j]"],
                "mdcj"),
}
UNIFORM = "uniform/perfect"
PER_TENSOR = "per_tensor/perfect"


@st.composite
def chains(draw, sizes=(1, 2, 4), names=None):
    name = draw(st.sampled_from(names or sorted(CHAINS)))
    texts, ranks = CHAINS[name]
    size = {r: draw(st.sampled_from(sizes)) for r in ranks}
    if "p" in size:
        size["p"] = size["m"]  # K[m,e] is read as K[p,e]: one shape
    return bs.workload(texts, name=name, **size)


def frontier(sol: fused.Solution) -> list[tuple[int, int]]:
    return list(zip(sol.frontier.occ.tolist(), sol.frontier.acc.tolist()))


def reference(w: bs.Workload, fusion_on: bool, mapspace=UNIFORM, depth: int = 2,
              split: bool = False) -> list[tuple[int, int]]:
    return [(o, a) for o, a, _ in enumerate_workload(w, fusion_on, mapspace, max_depth=depth,
                                                     split_ranks=split)]


def value_at(points, capacity: int) -> float:
    return min((a for o, a in points if o <= capacity), default=np.inf)


def reproduces(w: bs.Workload, sol: fused.Solution) -> None:
    for occ, acc in frontier(sol):  # every breakpoint's schedule reproduces it in integers
        cost = fusion.evaluate(w, sol.schedule(occ))
        assert (cost.occupancy, cost.accesses) == (occ, acc)


# ---------------------------------------------------------------------------------- the reference

@settings(max_examples=25, deadline=None)
@given(chains(), st.booleans(), st.sampled_from(["milp", "enumerate"]))
def test_dp_equals_brute_force_one_level(w, fusion_on, method):
    """The DP over per-Einsum curves equals brute force over every loop tree (one loop level,
    Orojenesis leaves), and every breakpoint's tree reproduces its point (untranslated trees:
    translated ones are checked in test_fused_translate.py)."""
    sol = fused.solve_workload(w, fusion_on, UNIFORM, method=method, max_depth=1,
                               translate=False)
    assert frontier(sol) == reference(w, fusion_on, depth=1)
    reproduces(w, sol)


@settings(max_examples=10, deadline=None)
@given(chains(sizes=(1, 2, 3)), st.booleans())
def test_dp_equals_brute_force_nested_loops(w, split):
    """Two nested loop levels (a tensor may sit between them; with ``split`` a rank may loop at
    both)."""
    sol = fused.solve_workload(w, True, UNIFORM, method="enumerate", max_depth=2, split_ranks=split,
                               translate=False)
    assert frontier(sol) == reference(w, True, depth=2, split=split)
    reproduces(w, sol)


def test_dp_equals_brute_force_three_levels():
    w = bs.workload(CHAINS["attention"][0], m=2, p=2, e=2, f=2)
    sol = fused.solve_workload(w, True, PER_TENSOR, max_depth=3)
    assert frontier(sol) == reference(w, True, PER_TENSOR, depth=3)
    reproduces(w, sol)


@pytest.mark.parametrize("name,size", [
    ("ffn", dict(m=4, d=2, c=4, j=2)), ("shared_input", dict(m=4, h=2, d=2)),
    ("attention", dict(m=4, p=4, e=2, f=2)), ("softmax", dict(m=2, d=2, c=2, j=2))])
def test_per_tensor_dp_equals_brute_force(name, size):
    """With per-tensor leaves (the default) the DP keeps only the tensors a leaf cannot hold
    itself; brute force keeps any set anywhere, and the curves agree."""
    w = bs.workload(CHAINS[name][0], **size)
    sol = fused.solve_workload(w, True, max_depth=2, split_ranks=True)
    assert frontier(sol) == reference(w, True, PER_TENSOR, depth=2, split=True)
    reproduces(w, sol)


@pytest.mark.parametrize("name", ["ffn", "attention", "softmax"])
def test_cbc_equals_brute_force(name):
    texts, ranks = CHAINS[name]
    size = {r: (2 if r in "dejf" else 4) for r in ranks}
    w = bs.workload(texts, **size)
    sol = fused.solve_workload(w, True, UNIFORM, method="milp", solver="cbc", max_depth=1)
    assert frontier(sol) == reference(w, True, depth=1)


def test_per_tensor_milp_equals_enumeration_inside_the_dp():
    w = bs.workload(CHAINS["ffn"][0], m=4, d=2, c=4, j=2)
    a = fused.solve_workload(w, True, PER_TENSOR, method="milp")
    b = fused.solve_workload(w, True, PER_TENSOR, method="enumerate")
    assert frontier(a) == frontier(b)
    base = frontier(fused.solve_workload(w, True, UNIFORM))
    for cap, _ in frontier(a):
        assert value_at(frontier(a), cap) <= value_at(base, cap)


def test_pruned_reference_equals_unpruned():
    """The reference keeps only Pareto-optimal parts; on a tiny chain, all combinations agree."""
    w = bs.workload(CHAINS["ffn"][0], m=2, d=2, c=2, j=1)
    full = [(o, a) for o, a, _ in enumerate_workload(w, True, UNIFORM, max_depth=1, prune=False)]
    assert full == reference(w, True, depth=1)


# ------------------------------------------------------------------------------------ properties

@settings(max_examples=15, deadline=None)
@given(chains(sizes=(1, 2, 3, 4, 6)))
def test_fused_properties(w):
    """Fusion only adds mappings; with room for everything only the workload's inputs and outputs
    move; unfused, every Einsum's own minimum; deeper trees only add mappings."""
    fz = frontier(fused.solve_workload(w, True))
    un = frontier(fused.solve_workload(w, False))
    shallow = frontier(fused.solve_workload(w, True, max_depth=1))
    for cap, _ in fz + un + shallow:
        assert value_at(fz, cap) <= value_at(shallow, cap) <= value_at(un, cap)
    assert fz[-1][1] == w.algorithmic_minimum
    assert un[-1][1] == w.unfused_minimum


@pytest.mark.parametrize("mapspace", [UNIFORM, PER_TENSOR])
def test_unfused_is_the_sum_of_single_einsum_curves(mapspace):
    w = bs.load_problem("attention", tokens=64)
    un = frontier(fused.solve_workload(w, False, mapspace))
    singles = [bs.pareto_frontier(e, mapspace=mapspace) for e in w.einsums]
    for cap, acc in un:
        assert acc == sum(value_at(list(zip(df.occupancy, df.accesses)), cap) for df in singles)


@pytest.mark.parametrize("mapspace", [UNIFORM, PER_TENSOR])
def test_single_einsum_workload_is_its_curve(mapspace):
    g = bs.gemm(64, 32, 16)
    df = bs.pareto_frontier(bs.workload([g]), mapspace=mapspace)
    ref = bs.pareto_frontier(g, mapspace=mapspace)
    assert list(df.accesses) == list(ref.accesses) and list(df.occupancy) == list(ref.occupancy)


@pytest.fixture(scope="module")
def gpt3_512():
    """Two loop levels keep the suite quick (the default three take about two minutes here)."""
    w = bs.load_problem("gpt3_6.7b", tokens=512)
    return w, fused.solve_workload(w, True, max_depth=2)


@pytest.mark.parametrize("name", ["ffn", "attention", "gpt3_6.7b"])
def test_at_or_below_the_previous_release(name, gpt3_512):
    """The loop-tree mapspace contains the previous release's (one shared loop nest per segment,
    Orojenesis leaves): its curve, saved from that release, is never below today's."""
    if name == "gpt3_6.7b":
        w, sol = gpt3_512
        tag = "gpt3_6.7b_tokens512"
    else:
        w, tag = bs.load_problem(name), name
        sol = fused.solve_workload(w, True)
    old = pd.read_csv(DATA / f"v1_{tag}_fused.csv")
    new = frontier(sol)
    for cap, acc in zip(old.occupancy, old.accesses):
        assert value_at(new, cap) <= acc


# --------------------------------------------------------------------------- hand-derived numbers

def test_worked_example_tiled_fusion():
    """docs/fusion.md: Y[m,c] = X[m,d] A[d,c], Z[m,j] = Y[m,c] B[c,j], m=8, d=4, c=16, j=4,
    with a shared loop over m in tiles of 2, A and B kept whole, X and Z streamed."""
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


def test_worked_example_reduction_loop_streams_partial_sums():
    """Sharing the loop over c, which Z reduces: Z either stays in the buffer (kept below m) or
    its partial sums go back to the backing store and are read back (first-read elision)."""
    w = bs.workload(CHAINS["ffn"][0], m=8, d=4, c=16, j=4)
    inner = (Mapping((("m", 2), ("d", 4), ("c", 4)), ()), Mapping((("m", 2), ("c", 4), ("j", 4)), ()))
    seg = bs.Segment(("Y", "Z"), (("m", 2), ("c", 4)), (("X", 1), ("Z", 1)), inner)
    cost = fusion.evaluate(w, bs.Schedule((seg,)))
    # X 32 once; Z 32 written once; A (64) and B (64) streamed once per m tile (4 tiles).
    assert cost.accesses == 32 + 32 + 4 * 64 + 4 * 64
    # held X 2x4 + Z 2x4; live Y 2x4; the larger step streams A 4x4 or B 4x4 = 16.
    assert cost.occupancy == 8 + 8 + 8 + 16
    seg = bs.Segment(("Y", "Z"), (("m", 2), ("c", 4)), (("X", 1),), inner)
    cost = fusion.evaluate(w, bs.Schedule((seg,)))
    # Z streamed: each of its 16 (m, c) iterations writes its 2x4 tile (128 words) and all but
    # the first visit of each element read it back (128 - 32 = 96).
    assert dict(cost.writes)["Z"] == 128 and dict(cost.reads)["Z"] == 96
    assert cost.occupancy == 8 + 8 + 16 + 8  # X held, Y live, Z streams B (16) and its tile (8)


def test_worked_example_loop_tree():
    """docs/fusion.md: a tree the one-nest segments cannot express. Y and Z share a loop over c
    (Z accumulating in the buffer), U reads Z whole at the root; X stays across the c loop."""
    w = bs.workload(["Y[m,c] += X[m,d] * A[d,c]", "Z[m,j] += Y[m,c] * B[c,j]",
                     "U[m,k] += Z[m,j] * C[j,k]"], m=2, d=2, c=8, j=2, k=2)
    whole = {n: Mapping(tuple((r, 1 if r == "c" else s) for r, s in w[n].sizes), ()) for n in w.names}
    tree = Node(None, 0, (), (Node("c", 1, ("X",), (Leaf("Y", whole["Y"]), Leaf("Z", whole["Z"]))),
                              Leaf("U", Mapping(w["U"].sizes, ()))))
    cost = fusion.evaluate(w, Schedule((tree,)))
    # Every input read once, U written once: X 4 + A 16 + B 16 + C 4 + U 4.
    assert cost.accesses == 44 == w.algorithmic_minimum
    # Z (4, at the root) lives from the c loop to U; X (4) and Y's tile (2) at the c node;
    # Y streams A's 2x1 tile, Z B's 1x2 tile, U streams C (4) and U (4).
    assert cost.occupancy == max(4 + 4 + 2 + 2, 4 + 4 + 2 + 2, 4 + 4 + 4) == 12
    sol = fused.solve_workload(w, True)
    assert sol.value(12) <= 44
    with pytest.raises(EinsumError, match="cannot enclose"):
        bad = Node(None, 0, (), (Node("c", 1, (), (Leaf("Y", whole["Y"]), Leaf("Z", whole["Z"]),
                                                    Leaf("U", whole["U"]))),))
        fusion.evaluate(w, Schedule((bad,)))


def test_ffn_of_the_paper():
    """Orojenesis FFN (2-byte words), Orojenesis leaves: up to 3.7x above 256 MB, and a fused
    minimum of W1 + W2 + the first input + the last output. Below 10 MB, where the paper's tiled
    fusion gains nothing, a loop tree does (docs/fusion.md, worked example 3): shared loops over c
    then m keep a 2048x2048 tile of FFA on chip while FFB's partial sums go back to DRAM."""
    w = bs.load_problem("ffn")
    fz, un = (fused.solve_workload(w, f, UNIFORM) for f in (True, False))
    caps = np.union1d(fz.frontier.occ, un.frontier.occ)
    ratio = un.frontier.acc[un.frontier.at(caps)] / fz.frontier.acc[fz.frontier.at(caps)]
    mb = caps * 2 / 1e6
    assert ratio.min() >= 1.0
    assert round(ratio[mb >= 256].max(), 1) == 3.7
    assert fz.frontier.acc[-1] == 2 * 4096 * 16384 + 2 * 32768 * 4096
    m, d, c, j = 32768, 4096, 16384, 4096
    tree = Node(None, 0, (), (Node("c", 2048, (), (Node("m", 2048, (), (
        Leaf("FFA", Mapping((("m", 1), ("d", 1), ("c", 2048)), ("d", "m"))),
        Leaf("FFB", Mapping((("m", 1), ("c", 2048), ("j", 1)), ("j", "m"))))),)),))
    cost = fusion.evaluate(w, Schedule((tree,)))
    # 8 c tiles x 16 m tiles: X read once per c tile, W1 and W2 once per m tile, FFB's tile
    # written every iteration (8 times in all) and read back all but the first time.
    assert cost.accesses == 8 * m * d + 16 * d * c + 16 * c * j + (8 + 7) * m * j
    assert cost.occupancy == 2048 * 2048 + 1 + 2048  # FFA's tile, X's word, W1's column
    assert fz.value(cost.occupancy) <= cost.accesses < un.value(cost.occupancy)


def test_gpt3_layer_minima_match_accelforge():
    """AccelForge's GPT-3 6.7B layer at 8192 tokens: fused bottoms out at 268.4 M words (six
    weights, the layer input and output), unfused at 9.53 G words."""
    w = bs.load_problem("gpt3_6.7b")
    weights = 4 * 32 * 128 * 4096 + 2 * 4096 * 16384
    assert w.algorithmic_minimum == weights + 2 * 8192 * 4096 == 268_435_456
    un = fused.solve_workload(w, False)
    assert round(un.frontier.acc[-1] / 1e9, 2) == 9.53


GPT3_TEXTS = ["V[m,h,e] += I[m,d] * WV[h,e,d]", "K[m,h,e] += I[m,d] * WK[h,e,d]",
              "Q[m,h,e] += I[m,d] * WQ[h,e,d]", "QK[m,p,h] += Q[m,h,e] * K[p,h,e]",
              "QK_softmax[m,p,h] = QK[m,p,h]", "AV[m,h,f] += QK_softmax[m,p,h] * V[p,h,f]",
              "Z[m,g] += AV[m,h,f] * WZ[h,f,g]", "FFA[m,c] += Z[m,g] * WFFA[g,c]",
              "FFB[m,j] += FFA[m,c] * WFFB[c,j]"]


def test_accelforge_small_gpt3_only_its_non_causal_point_is_below():
    """AccelForge's fused Pareto points for a small layer with GPT-3 6.7B's 8192-token proportions
    (benchmarks/af_gpt3_small.py; its words): our curve is at or below all of them but one,
    (72, 4608). There AccelForge runs V and K inside the same loop over query rows as QK and AV,
    writing K and V to DRAM and reading all 16 key rows of them in the loop's first iteration,
    when only 4 exist (docs/fusion.md, 'Against AccelForge'). A tree with that loop is refused:
    K, written by rows m and read by rows p, is not aligned on m. One more word reaches 4480."""
    af = pd.read_csv(Path(__file__).parents[1] / "benchmarks" / "data" / "accelforge_gpt3_small_fused.csv")
    w = bs.workload(GPT3_TEXTS, m=16, p=16, h=2, e=4, f=4, d=8, g=8, j=8, c=32)
    ours = frontier(fused.solve_workload(w, True))
    above = [(o, a) for o, a in zip(af.buffer_words, af.dram_words) if value_at(ours, o) > a]
    assert above == [(72, 4608)]
    assert value_at(ours, 73) == 4480 < 4608
    tiles = dict(w.size) | {"m": 4}
    loop = Node("m", 4, (), tuple(Leaf(e.name, fusion.whole_mapping(fusion.sub_problem(e, tiles)))
                                  for e in w.einsums))
    with pytest.raises(EinsumError, match="aligned"):
        fusion.evaluate(w, Schedule((Node(None, 0, (), (loop,)),)))


def test_gpt3_fused_minimum_at_accelforge_capacity(gpt3_512):
    """512 tokens: AccelForge reaches the fused minimum (205,520,896 words) with 4,390,914 words
    of buffer: I whole, then per head V, K and Q. Two loop levels reach it within 1,024 words
    of that (a third level, for QK's rows, closes the gap: docs/fusion.md)."""
    w, sol = gpt3_512
    assert sol.frontier.acc[-1] == w.algorithmic_minimum == 205_520_896
    assert sol.frontier.occ[-1] <= 4_390_914 + 1024
    reproduces(w, sol)


# ------------------------------------------------------------------------------------ the API

def test_api_frames():
    w = bs.load_problem("ffn", tokens=256)
    df = bs.pareto_frontier(w)
    assert df.attrs["fusion"] and df["status"].eq("optimal").all()
    assert df.attrs["mapspace"] == PER_TENSOR
    assert df["accesses"].is_monotonic_decreasing and df["occupancy"].is_monotonic_increasing
    assert df["fused"].iloc[-1] and df["segments"].iloc[-1] == "FFA+FFB"
    assert {"mapping_FFA", "mapping_FFB", "schedule", "tree", "reads_W1"} <= set(df.columns)
    assert "for " in df["tree"].iloc[-1] or "[" in df["tree"].iloc[-1]
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
    whole = {n: Mapping(w[n].sizes, ()) for n in w.names}
    tree = Node(None, 0, (), (Node("m", 2, (), (Leaf("K", whole["K"]), Leaf("S", whole["S"]))),))
    with pytest.raises(EinsumError, match="cannot enclose"):  # K is written by m, read by p
        fusion.evaluate(w, Schedule((tree,)))
    tree = Node(None, 0, ("W",), (Leaf("K", whole["K"]), Leaf("S", whole["S"])))
    with pytest.raises(EinsumError, match="kept twice"):
        fusion.evaluate(w, Schedule((Node(None, 0, ("W",), (Node("e", 1, ("W",), tree.children),)),)))
    with pytest.raises(bs.BoundsolverError, match="max_depth"):
        fused.solve_workload(w, True, max_depth=-1)


def test_load_problem_params():
    w = bs.load_problem("gpt3_6.7b", tokens=512)
    assert w["QK"].size["p"] == 512 and w["FFA"].size["c"] == 16384
    assert w.intermediates == ("V", "K", "Q", "QK", "QK_softmax", "AV", "Z", "FFA")
    assert w.inputs == ("I", "WV", "WK", "WQ", "WZ", "WFFA", "WFFB") and w.outputs == ("FFB",)
