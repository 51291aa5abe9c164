"""AccelForge workload files load with ``bs.load_problem`` (boundsolver.io.accelforge).

The counts checked here are AccelForge's own (tests/data/accelforge_counts.json, written by
tests/data/accelforge_counts.py under AccelForge 1.0.467; AccelForge is not a test dependency).
"""

import json
from pathlib import Path

import pytest

import boundsolver as bs
from boundsolver.cli import main
from boundsolver.io.specs import SpecError

DATA = Path(__file__).parent / "data"
AF = DATA / "accelforge"
COUNTS = json.loads((DATA / "accelforge_counts.json").read_text())
# Where boundsolver's count differs from AccelForge's on purpose: overlapping strided windows (3*p + 2*r)
# leave holes that AccelForge does not count and boundsolver's bounding box does.
BOUNDING_BOX = {("strided.yaml", "J"): 14}


@pytest.mark.parametrize("case", COUNTS, ids=lambda c: f"{c['file']}{c['params'] or ''}")
def test_macs_and_tensor_sizes_match_accelforge(case):
    p = bs.load_problem(AF / case["file"], **case["params"])
    einsums = p.einsums if isinstance(p, bs.Workload) else (p,)
    assert {e.name: e.macs for e in einsums} == case["einsums"]
    assert p.macs == sum(case["einsums"].values())
    size = p.tensor_size if isinstance(p, bs.Workload) else (lambda t: p.tensor_size(p.tensor(t)))
    name = Path(case["file"]).name
    assert {t: size(t) for t in case["tensors"]} == {
        t: BOUNDING_BOX.get((name, t), n) for t, n in case["tensors"].items()}


def test_one_einsum_is_an_einsum_several_a_workload_with_word_bits():
    gemm = bs.load_problem("accelforge_gemm", M=8)
    assert isinstance(gemm, bs.Einsum) and gemm.name == "C"
    assert str(gemm) == "C[m,n] += A[m,k] * B[k,n]" and gemm.size == {"m": 8, "n": 4096, "k": 4096}
    w = bs.load_problem(AF / "features.yaml")
    assert isinstance(w, bs.Workload) and w.name == "features" and w.word_bits == 16
    assert w.names == ("Conv", "Y")
    # dict projection with a strided window, rank P of O read through the variable q
    assert str(w["Conv"]) == "O[k,p] += I[c,2*p+r] * W[c,r,k]"
    assert str(w["Y"]) == "Y[k,q] += O[k,q] * V[q]"
    # k: the least of K (16) and iteration_space_shape (6); C: 2*2; P from the Jinja default
    assert w.size == {"c": 4, "p": 8, "r": 3, "k": 6, "q": 8}
    assert w.intermediates == ("O",)
    assert bs.load_problem(AF / "matvecs.yaml").word_bits == 8
    s = bs.load_problem(AF / "strided.yaml")
    # 4*p + r (r < 3) has holes but no overlap: one axis per variable; 2*p is p; 3*p + 2*r
    # overlaps and has holes: kept, its bounding box counted
    assert str(s) == "O: O[p] += I[p,r] * W[r] * X[p]; Z: Z[p] += J[3*p+2*r] * O[p] * W[r]"


def test_rank_variables_are_our_ranks_and_ranks_only_size_them():
    w = bs.load_problem(AF / "gpt3_6.7B.yaml", N_TOKENS=64)
    # K[b, M: p, h, e]: rank M of K read with the variable p; V[b, M: p, h, E: f]
    assert str(w["QK"]) == "QK[b,m,p,h] += Q[b,m,h,e] * K[b,p,h,e]"
    assert str(w["AV"]) == "AV[b,m,h,f] += QK_softmax[b,m,p,h] * V[b,p,h,f]"
    assert w.size["m"] == w.size["p"] == 64 and w.size["b"] == 1
    # the copy I = I_in stays an Einsum, one compute per element, as AccelForge counts it
    assert str(w["I"]) == "I[b,m,d] += I_in[b,m,d]" and w.inputs[0] == "I_in"
    # the same layer as the packaged gpt3_6.7b (which starts at I) plus the copy
    ours = bs.load_problem("gpt3_6.7b", tokens=64)
    assert w.macs == ours.macs + w["I"].macs
    assert w.algorithmic_minimum == ours.algorithmic_minimum


def test_loaded_problems_solve_like_the_same_problem_written_by_hand():
    p = bs.load_problem("accelforge_gemm", M=8)
    small = bs.einsum("C[m,n] += A[m,k] * B[k,n]", "C", m=8, n=4, k=2)
    loaded = p.with_sizes(m=8, n=4, k=2)
    assert list(bs.pareto_frontier(loaded)["accesses"]) == list(
        bs.enumerate_frontier(small)["accesses"])
    w = bs.load_problem(AF / "matvecs.yaml")
    hand = bs.workload(["Y[ny] += A[na] * B[na,ny]", "Z[nz] += Y[ny] * C[ny,nz]"],
                       na=4, ny=3, nz=4)
    got, ref = (bs.pareto_frontier(x, fusion=True) for x in (w, hand))
    assert list(got["accesses"]) == list(ref["accesses"])


def test_cli_passes_jinja_variables(capsys):
    assert main(["curve", "accelforge_gemm", "--M", "64", "-c", "1000000", "--csv", "-",
                 "-q"]) == 0
    assert "optimal" in capsys.readouterr().out


# ------------------------------------------------------------------------------------ Jinja

def test_jinja_defaults_parameters_and_arithmetic():
    assert bs.load_problem(AF / "gpt3_6.7B.yaml").size["m"] == 8192
    w = bs.load_problem(AF / "features.yaml", P=4)
    assert w.size["p"] == 4 and w.size["k"] == 6
    assert bs.load_problems(AF / "resnet18.yaml", BATCH_SIZE=3)[0].size["n"] == 3


@pytest.mark.parametrize("text,params,message", [
    ("workload:\n  rank_sizes: {M: '{{ M }}'}\n", {}, r"line 2: Jinja variable 'M' is not given "
     r"and has no default: pass it, e.g. load_problem\(path, M=...\)"),
    ("workload:\n  rank_sizes: {M: {{ M }}}\n", {"M": 4, "N": 2},
     r"has no Jinja variable 'N' \(variables: M\)"),
    ("workload:\n{% for i in range(2) %}\n{% endfor %}\n", {},
     r"line 2: Jinja tag \{% for i in range\(2\) %\} is not supported"),
    ("workload:\n  rank_sizes: {M: {{ M | int }}}\n", {"M": 2},
     r"line 2: Jinja filter in \{\{ M \| int \}\} is not supported"),
    ("workload:\n  rank_sizes: {M: {{ M }\n", {}, r"line 2: unclosed Jinja tag '\{\{'"),
    ("workload:\n  rank_sizes: {M: {{ __import__('os') }}}\n", {}, "is not an integer expression"),
    ("problems:\n  - {name: x, gemm: {M: {{ M }}, K: 2, N: 2}}\n", {"M": 2},
     "Jinja templates are read only in AccelForge workload files"),
    ("workload:\n  rank_sizes: {M: 2}\n  bits_per_value: {All: 8}\n  einsums: ['Z[m] = A[m]']\n",
     {"M": 2}, r"has no Jinja variable 'M' \(variables: none\)"),
])
def test_jinja_errors_name_the_file_line_and_variable(tmp_path, text, params, message):
    path = tmp_path / "af.yaml"
    path.write_text(text)
    with pytest.raises(SpecError, match=message) as err:
        bs.load_problem(path, **params)
    assert str(path) in str(err.value)


# -------------------------------------------------------------------------------- bad input

HEAD = "workload:\n  rank_sizes: {M: 4, K: 2, N: 3}\n  bits_per_value: {All: 8}\n  einsums:\n"


@pytest.mark.parametrize("body,message", [
    ("  - 'C[m, n] = A[m, k] * B[k, j]'\n",
     r"einsum 'C': rank variable 'j' has no size: it indexes no sized rank alone \(give the rank "
     r"it indexes a size in rank_sizes, e.g. J: 128\)"),
    ("  - 'C[m, n] = A[m, k] * B[k, n'\n", r"einsum 'C': Einsum .*: unexpected '\['"),
    ("  - 'C[m, n] = A[m, k] * B'\n", r"einsum.*'C'.*unexpected 'B' on the right"),
    ("  - 'C[m, n] == A[m, k]'\n", "needs exactly one '='"),
    ("  - 'C[m, N] = A[m, k] * B[k, N]'\n", r"'N': rank variables are lower case \(m\); rank "
     "names are upper case"),
    ("  - 'C[m, n] = A[m, K: k - 1] * B[k, n]'\n", r"einsum 'C'.*K: projection 'k - 1': "
     "subtraction"),
    ("  - 'C[m, n] = A[m, K: k + 1] * B[k, n]'\n", "constant offset"),
    ("  - 'C[m, n] = A[m, K: 2k] * B[k, n]'\n", "'2k' is not a term"),
    ("  - {name: E, tensor_accesses: [{name: A, projection: [m]}]}\n",
     "einsum 'E': boundsolver's Einsums write exactly one tensor; this one writes none"),
    ("  - {name: E, tensor_accesses: [{name: A, projection: [m]}, {name: B, projection: [m],"
     " output: true}, {name: C, projection: [m], output: true}]}\n",
     "write exactly one tensor; this one writes B, C"),
    ("  - {name: E, tensor_accesses: [{name: A, projection: [m], shape: 1}]}\n",
     r"einsum 'E'.tensor_accesses\[0\]: unknown key 'shape'"),
    ("  - {name: E, tensor_accesses: [{name: A, projection: {m: m}}]}\n",
     "'m' is not a rank name: ranks are upper case"),
    ("  - {einsum: 'C[m] = A[m]', tensor_accesses: [{name: B, bits_per_value: 8}]}\n",
     r"einsum 'C'.tensor_accesses: tensor 'B' is not in"),
    ("  - {einsum: 'C[m] = A[m]', tensor_accesses: [{name: A, projection: [m]}]}\n",
     "projection is already set by the Einsum string"),
    ("  - {einsum: 'C[m] = A[m]', tensor_accesses: [{name: A, bits_per_value: 16}]}\n",
     r"bits_per_value gives tensors different widths \(8 in bits_per_value\[All\], 16 in C's A\)"),
    ("  - {einsum: 'C[m] = A[m]', n_instances: 4}\n", "einsum 'C': n_instances 4 is not supported"),
    ("  - {einsum: 'C[m] = A[m]', iteration_space_shape: ['0 <= m < k']}\n",
     r"einsum 'C': iteration_space_shape: '0 <= m < k': 'm < k' must bound one rank variable"),
    ("  - {einsum: 'C[m] = A[m]', iteration_space_shape: ['1 <= m < 3']}\n",
     r"rank variable 'm' starts at 1"),
    ("  - {einsum: 'C[m] = A[m]', iteration_space_shape: ['0 <= x < 3']}\n",
     "bounds 'x', which no tensor of this Einsum uses"),
    ("  - {einsum: 'C[m] = A[m]', shape: 1}\n", r"einsums\[0\]: unknown key 'shape'"),
    ("  - 'C[m, n] = A[m]'\n", r"einsum 'C' \(C\[m,n\] \+= A\[m\]\): rank 'n' appears in output"),
    ("  - 'C[m] = A[m] * A[K: k]'\n", "tensor A is read at two different indices"),
    ("  - 'C[m] = A[m]'\n  - 'C[m] = B[m]'\n", "einsum 'C': two Einsums are named 'C'"),
    ("  - 'C[m] = A[m]'\n  - 'D[m] = E[m]'\n  - 'E[n] = C[n]'\n",
     "rank 'n' has size 3 in E but 4 in .*|D reads E before"),
])
def test_bad_input_names_the_file_einsum_and_key(tmp_path, body, message):
    path = tmp_path / "af.yaml"
    path.write_text(HEAD + body)
    with pytest.raises(SpecError, match=message) as err:
        bs.load_problem(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("text,message", [
    ("workload:\n  rank_sizes: {m: 4}\n  einsums: ['C[m] = A[m]']\n",
     r"workload.rank_sizes: 'm' is not a rank name: ranks are upper case"),
    ("workload:\n  rank_sizes: {M: four}\n  einsums: ['C[m] = A[m]']\n",
     r"workload.rank_sizes.M: 'four' is not an integer"),
    ("workload:\n  rank_sizes: {M: 0}\n  einsums: ['C[m] = A[m]']\n", "size must be positive"),
    ("workload:\n  rank_sizes: {M: 4}\n  einsums: ['C[m] = A[m]']\n",
     "einsum 'C': tensor A has no bits_per_value"),
    ("workload:\n  rank_sizes: {M: 4}\n  bits_per_value: {All: 8}\n  shape: {}\n"
     "  einsums: ['C[m] = A[m]']\n", r"workload: unknown key 'shape'"),
    ("workload:\n  rank_sizes: {M: 4}\n  bits_per_value: {All: 8}\n  einsums: []\n",
     "einsums must be a non-empty list"),
    ("workload:\n  iteration_space_shape: {M: '0 <= M < 4'}\n  bits_per_value: {All: 8}\n"
     "  einsums: ['C[m] = A[m]']\n", "key 'M' must be a rank variable"),
    ("workload:\n  rank_sizes: {M: 4}\n  bits_per_value: {All: 8}\n  n_instances: 2\n"
     "  einsums: ['C[m] = A[m]']\n", "workload: n_instances 2 is not supported"),
    ("workload:\n  rank_sizes: {M: 4}\n  bits_per_value: {All: 8}\n"
     "  einsums: ['C[m] = A[m]']\nextra: 1\n", "unknown top-level key 'extra'"),
])
def test_bad_workload_keys(tmp_path, text, message):
    path = tmp_path / "af.yaml"
    path.write_text(text)
    with pytest.raises(SpecError, match=message) as err:
        bs.load_problem(path)
    assert str(path) in str(err.value)


def test_clipped_sliding_window_is_refused_with_the_size_it_needs():
    # AccelForge's mobilenet_28: TA0's rank P0 (28) read by p1 + r0 (p1 < 28, r0 < 3): AccelForge
    # skips the out-of-range points, a non-box iteration space (1,259,712 computes, not 1,354,752)
    with pytest.raises(SpecError, match=r"mobilenet_28.yaml: einsum 'Depthwise0': tensor TA0's "
                       r"rank P0 \(size 28\) is indexed by p1\+r0, which reaches 29.*give P0 size "
                       "30 or more"):
        bs.load_problem(AF / "mobilenet_28.yaml")


def test_our_own_formats_are_unchanged():
    assert isinstance(bs.load_problem("gpt3_6.7b"), bs.Workload)
    assert bs.load_problem("timeloop_conv3x3").size["k"] == 64
    with pytest.raises(SpecError, match="no parameter 'N_TOKENS'"):
        bs.load_problem("gpt3_6.7b", N_TOKENS=4)
