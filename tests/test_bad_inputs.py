"""Every bad or extreme input gets a clear error (a BoundsolverError naming the problem) or the
right answer, quickly: issue 21 items 4-6 as regression tests, then hostile inputs through the
API and the command line. Each case is fast (no solve takes more than a fraction of a second);
those that used to hang run under a deadline, so a regression fails instead of hanging.
"""

from __future__ import annotations

import ast
import signal
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

import boundsolver as bs
import boundsolver.errors as errors
from boundsolver.cli import integer, main, problems_from
from boundsolver.model.mapspace import divisors, tile_sizes
from boundsolver.model.symbolic import prime_exponents

MERSENNE_61 = 2**61 - 1  # a prime inside the int64 limit: trial division took hours


@contextmanager
def deadline(seconds: int):
    """Fail (instead of hanging the suite) if the block runs longer than ``seconds``."""
    def expired(*_):
        raise TimeoutError(f"took more than {seconds} s")

    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def cli(argv: list[str], capsys) -> tuple[int, str, str]:
    rc = main(argv)
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return rc, out.out, out.err


# ------------------------------------------------------------------- item 4: silently wrong input

def test_sizes_never_pass_through_float(capsys):
    """2**53 + 1 is not a float: it must reach the model as itself."""
    n = 2**53 + 1
    (p,) = problems_from(["gemm", str(n), "1", "1"], [])
    assert p.size["m"] == n
    rc, out, _ = cli(["curve", "gemm", str(n), "1", "1", "-q", "--no-cache", "--csv", "-"], capsys)
    header, row = out.splitlines()[:2]
    values = dict(zip(header.split(","), row.split(",")))
    # K = N = 1: A (M words) is read once whatever the tiling, Z written once: M + 1 + M.
    assert rc == 0 and int(values["reads_A"]) == n and int(values["accesses"]) == 2 * n + 1


@pytest.mark.parametrize("text,value", [("4096", 4096), ("1e3", 1000), ("4096.0", 4096),
                                        ("9007199254740993", 2**53 + 1), ("1_024", 1024),
                                        ("1e30", 10**30)])
def test_command_line_integers_are_exact(text, value):
    assert integer(text) == value


@pytest.mark.parametrize("text", ["2.5", "nan", "inf", "-4", "0", "", "x", "1e99999999999",
                                  "9" * 200])
def test_command_line_non_integers_refused(text):
    with pytest.raises(bs.BoundsolverError, match="expected a positive integer"):
        integer(text)


@pytest.mark.parametrize("value,expected", [
    (np.int64(8), 8), (np.uint16(8), 8), (np.int32(8), 8), (8.0, 8), (1e3, 1000)])
def test_api_sizes_accept_any_integer(value, expected):
    assert bs.einsum("Z[m] += A[m]", m=value).size["m"] == expected
    assert type(bs.gemm(value, 2, 2).size["m"]) is int
    assert bs.conv(R=3, P=value, Wstride=value if expected < 4 else 1).size["p"] == expected
    assert bs.Level("L", value).capacity == expected
    assert bs.workload(["Z[m] += A[m]"], "w", value, m=value).word_bits == expected


def test_numpy_tiles_cost_as_python_ints():
    p = bs.gemm(4, 4, 4)
    ref = bs.evaluate(p, bs.Mapping((("m", 2), ("k", 4), ("n", 1)), ("n", "m")))
    got = bs.evaluate(p, bs.Mapping((("m", np.int64(2)), ("k", np.uint8(4)), ("n", 1.0)),
                                    ("n", "m")))
    assert got == ref and all(type(v) is int for _, v in bs.Mapping((("m", np.int32(2)),),
                                                                    ()).tiles)
    with pytest.raises(bs.EinsumError, match="tile 2.5 of rank 'm' must be a positive integer"):
        bs.evaluate(p, bs.Mapping((("m", 2.5), ("k", 4), ("n", 4)), ("m",)))


@pytest.mark.parametrize("value", [2.5, 1e30, float("nan"), float("inf"), "8", None, True, -1, 0])
def test_api_sizes_refuse_non_integers(value):
    with pytest.raises(bs.EinsumError, match="must be a positive integer"):
        bs.einsum("Z[m] += A[m]", m=value)


def test_keeps_an_unknown_tensor_names_level_and_tensor():
    arch = bs.Arch("t", 8, (bs.Level("DRAM"), bs.Level("L2", sweep=True),
                            bs.Level("L1", 64, keeps=("Q",))))
    with pytest.raises(bs.ArchError, match=r"level 'L1' keeps 'Q', which is no tensor of "
                                           r"gemm_4x4x4 \(tensors: A, B, Z\)"):
        bs.pareto_frontier(bs.gemm(4, 4, 4), arch=arch)


def test_keeps_an_unknown_tensor_from_a_file(tmp_path, capsys):
    path = tmp_path / "arch.yaml"
    path.write_text("word_bits: 8\nlevels:\n  - {name: DRAM}\n  - {name: L2, capacity: sweep}\n"
                    "  - {name: L1, capacity: 64, keeps: [A, Q]}\n")
    rc, _, err = cli(["curve", "gemm", "4", "4", "4", "--arch", str(path), "-q"], capsys)
    assert rc == 2 and "ArchError" in err and "level 'L1' keeps 'Q'" in err


@pytest.mark.parametrize("argv,message", [
    (["conv", "--R", "3", "--R", "5"], "conv option 'R' given twice (3 and 5)"),
    (["gemm", "4", "4", "4", "--M", "5"], "M given both as a size and as an option"),
    (["einsum", "Z[m] += A[m]", "m=4", "m=8"], "rank size 'm' given twice"),
    (["ffn", "--tokens", "4", "--tokens=8"], "workload parameter 'tokens' given twice"),
    (["gemm", "4", "4", "4", "--method", "milp", "--method", "enumerate"], "--method given twice"),
    (["gemm", "4", "4", "4", "--arch", "three_level", "--level-size", "L1=4", "--level-size",
      "L1=8"], "--level-size L1 given twice"),
    (["gemm", "4", "4", "4", "-c", "10", "-c", "20"], "--capacities/-c given twice"),
])
def test_repeated_options_refused(argv, message, capsys):
    rc, _, err = cli(["curve", *argv, "-q"], capsys)
    assert rc == 2 and message in err


# --------------------------------------------------------------------- item 5: hangs, tracebacks

def test_large_prime_sizes_factorise_fast():
    with deadline(10):
        assert divisors(MERSENNE_61) == [1, MERSENNE_61]
        assert prime_exponents(MERSENNE_61 * 2) == {2: 1, MERSENNE_61: 1}
        assert prime_exponents(2**62) == {2: 62}
        assert len(divisors(2**40 * 3**10)) == 41 * 11


def test_large_prime_rank_solves(capsys):
    with deadline(60):
        rc, out, _ = cli(["curve", "gemm", str(MERSENNE_61), "1", "1", "-q", "--no-cache",
                          "--csv", "-"], capsys)
    assert rc == 0 and out.splitlines()[1].split(",")[1] == str(2 * MERSENNE_61 + 1)


def test_imperfect_tile_sizes_are_every_ceiling_and_bounded():
    for n in (1, 2, 17, 100, 997, 1000):  # against the definition, written out
        assert tile_sizes(n, True) == tuple(sorted({-(-n // c) for c in range(1, n + 1)}))
    with deadline(5), pytest.raises(bs.EnumerationTooLarge, match="imperfect tile sizes"):
        tile_sizes(MERSENNE_61, True)


def test_huge_workload_refused_before_factorising_naming_the_einsum(capsys):
    with deadline(30):
        rc, _, err = cli(["curve", "ffn", "--tokens", "1e30", "-q"], capsys)
    assert rc == 2 and "FFA is too large" in err and "reduced" not in err


@pytest.mark.parametrize("argv,message", [
    (["--range", "10", "100", "1000000000"], "--range COUNT 1,000,000,000 is over the limit"),
    (["-c", str(2**63)], "over the signed 64-bit limit"),
    (["-c", "1e400"], "expected a capacity"),
    (["--csv", "/nonexistent-folder/x.csv"], "no folder /nonexistent-folder"),
    (["--plot", "curve.xyz"], "unknown image format 'xyz'"),
    (["--plot", "curve"], "unknown image format '(no extension)'"),
])
def test_outputs_and_capacities_checked_before_solving(argv, message, capsys, monkeypatch):
    from boundsolver.curves import batch, solve

    def never(*_, **__):
        raise AssertionError("solved before checking the command line")

    for module, name in ((batch, "solve_curves"), (solve, "pareto_frontier"),
                         (solve, "solve_curve")):
        monkeypatch.setattr(module, name, never)
    rc, _, err = cli(["curve", "gemm", "4", "4", "4", "-q", *argv], capsys)
    assert rc == 2 and message in err


def test_range_is_exact_at_both_ends(capsys):
    rc, out, _ = cli(["curve", "gemm", "4", "4", "4", "--range", "10", "11", "100", "-q",
                      "--no-cache", "--csv", "-"], capsys)
    assert rc == 0 and [int(r.split(",")[0]) for r in out.splitlines()[1:]] == [10, 11]


BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi"))


@pytest.mark.parametrize("text", [BOMB, "a: &a [1, *a]\n"])
def test_yaml_alias_bombs_refused_briefly(text, tmp_path, capsys):
    path = tmp_path / "bomb.yaml"
    path.write_text(text)
    assert len(text) < 500
    for load in (bs.load_problems, bs.load_arch):
        with deadline(10), pytest.raises(bs.SpecError, match="aliases") as err:
            load(path)
        assert len(str(err.value)) < 500
    rc, _, err = cli(["curve", str(path)], capsys)
    assert rc == 2 and len(err) < 500


def test_few_yaml_aliases_still_read(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text("sizes: &s {m: 4, k: 4, n: 4}\nproblems:\n"
                    "  - {name: a, einsum: 'Z[m,n] += A[m,k] * B[k,n]', sizes: *s}\n"
                    "  - {name: b, einsum: 'Z[m,n] += A[m,k] * B[k,n]', sizes: *s}\n")
    assert [p.size["m"] for p in bs.load_problems(path)] == [4, 4]


def test_long_messages_are_cut():
    err = bs.BoundsolverError("x" * 10**6)
    assert len(str(err)) < errors.MAX_MESSAGE + 300 and "1,000,000 characters" in str(err)


def test_workload_sizes_are_arithmetic_not_code(tmp_path):
    """Sizes were sympify'd, which evals text: a file could run code."""
    marker = tmp_path / "ran"
    path = tmp_path / "evil.yaml"
    path.write_text(f"params: {{t: 4}}\nsizes: {{m: \"__import__('pathlib').Path('{marker}')"
                    f".touch()\", k: t}}\nworkload:\n  - Z[m] += A[m,k]\n")
    with pytest.raises(bs.SpecError, match="is not an integer or integer arithmetic"):
        bs.load_problems(path)
    assert not marker.exists()
    path.write_text("params: {t: 4}\nsizes: {m: t * 2 + 1, k: t // 2, n: 1.0e+3}\n"
                    "workload:\n  - Z[m,n] += A[m,k] * B[k,n]\n")
    (w,) = bs.load_problems(path)
    assert (w.size["m"], w.size["k"], w.size["n"]) == (9, 2, 1000)
    path.write_text("params: {t: 4}\nsizes: {m: t / 3}\nworkload:\n  - Z[m] += A[m]\n")
    with pytest.raises(bs.SpecError, match="4/3 is not an integer"):
        bs.load_problems(path)


# ------------------------------------------------------------------- item 6: misleading messages

ACCELFORGE = """workload:
  rank_sizes: {M: {{ M }}, K: 8}
  bits_per_value: {All: 8}
  einsums:
    - name: mm
      tensor_accesses:
        - {name: A, projection: [m, k]}
        - {name: Z, projection: [m], output: true}
"""


@pytest.mark.parametrize("head,line", [("{% set M = M | default(64)\n", 1), ("{{ M\n", 1),
                                       ("{% set M = 64 %}\n{# note\n", 2)])
def test_unclosed_jinja_tag_is_a_malformed_template(head, line, tmp_path):
    path = tmp_path / "af.yaml"
    path.write_text(head + ACCELFORGE)
    with pytest.raises(bs.SpecError, match=rf"line {line}: malformed Jinja template"):
        bs.load_problems(path)
    path.write_text("{% set M = M | default(64) %}\n" + ACCELFORGE)
    assert bs.load_problem(path, M=np.int64(16)).size["m"] == 16


@pytest.mark.parametrize("word,suggestion", [("gemmm", "did you mean gemm?"),
                                             ("conb", "did you mean conv?"),
                                             ("fnn", "did you mean ffn?"),
                                             ("zzzzzz", "(kinds: gemm, bmm, gbmm, conv, einsum")])
def test_unknown_problem_suggests_the_nearest(word, suggestion, capsys):
    rc, _, err = cli(["curve", word, "64", "64", "64", "-q"], capsys)
    assert rc == 2 and f"unknown problem '{word}'" in err and suggestion in err


def test_errors_live_in_errors_py():
    from boundsolver.io.onnx import OnnxError
    from boundsolver.model.arch import ArchError
    from boundsolver.reference.sampling import SamplingError

    assert (ArchError, OnnxError, SamplingError) == (errors.ArchError, errors.OnnxError,
                                                     errors.SamplingError)
    stray = []
    for path in Path(bs.__file__).parent.rglob("*.py"):
        if path.name == "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and node.name.endswith(("Error", "TooLarge")):
                stray.append(f"{path.name}: {node.name}")
    assert not stray


# ---------------------------------------------------------------------------------- ONNX inputs

onnx = pytest.importorskip("onnx")


def matmul_model(tmp_path: Path, rows, name: str) -> Path:
    from onnx import TensorProto, helper, numpy_helper

    nodes = [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")]
    graph = helper.make_graph(
        nodes, "m", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [rows, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [rows, 3])],
        [numpy_helper.from_array(np.zeros((4, 3), np.float32), "w")])
    path = tmp_path / name
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


@pytest.mark.parametrize("dims,message", [
    ("batch=1e30", "over ONNX's signed 64-bit limit"),
    ("batch=4,batch=8", "dimension 'batch' given twice"),
    ("batch=0", "expected a positive integer for dimension 'batch'"),
    ("nope=4", "no symbolic dimension named 'nope'"),
])
def test_network_dims(dims, message, tmp_path, capsys):
    path = matmul_model(tmp_path, "batch", "sym.onnx")
    rc, _, err = cli(["network", str(path), "--dims", dims, "--no-cache", "-q"], capsys)
    assert rc == 2 and message in err


def test_network_zero_dimension_is_called_zero(tmp_path):
    path = matmul_model(tmp_path, 0, "zero.onnx")
    with pytest.raises(bs.OnnxError, match="has a zero dimension"):
        bs.from_onnx(path)


def test_network_shares_the_curve_options(tmp_path, capsys):
    path = matmul_model(tmp_path, "batch", "sym.onnx")
    base = ["network", str(path), "--dims", "batch=4", "-q", "--csv", "-"]
    rc, spaced, _ = cli([*base, "-c", "5", "100", "--cache-dir", str(tmp_path / "c")], capsys)
    assert rc == 0
    rc, commas, _ = cli([*base, "-c", "5,100", "--mapspace", "per_tensor/perfect",
                         "--cache-dir", str(tmp_path / "c"), "--force-rerun"], capsys)
    assert rc == 0 and spaced == commas and (tmp_path / "c" / "results.sqlite").is_file()
    rc, _, err = cli([*base, "--placement", "uniform", "--mapspace", "per_tensor/perfect"],
                     capsys)
    assert rc == 2 and "--placement uniform disagrees with --mapspace" in err


# ------------------------------------------------------------------------ hostile API inputs

G = bs.gemm(4, 4, 4)


@pytest.mark.parametrize("call,error,message", [
    (lambda: bs.einsum(""), bs.EinsumError, "non-empty string"),
    (lambda: bs.einsum(None), bs.EinsumError, "non-empty string"),
    (lambda: bs.einsum("Z[μ] += A[μ]", μ=4), bs.EinsumError, "unexpected character"),
    (lambda: bs.einsum("Z[m] += A[m+m]", m=4), bs.EinsumError, "a rank appears twice"),
    (lambda: bs.einsum("Z[m] += A[m,m]", m=4), bs.EinsumError, "appears more than once"),
    (lambda: bs.einsum("Z[p] += A[0*p+r] * W[r]", p=4, r=2), bs.EinsumError, "coefficients"),
    (lambda: bs.einsum("Z[p] += A[" + "9" * 5000 + "*p+r] * W[r]", p=4, r=2), bs.EinsumError,
     "below 10\\*\\*18"),
    (lambda: bs.einsum("Z[] += A[m]", m=4), bs.EinsumError, "expected a rank name"),
    (lambda: bs.einsum("Z += A[m]", m=4), bs.EinsumError, "expected '\\['"),
    (lambda: bs.einsum("Z[m] += A[m] *", m=4), bs.EinsumError, "found the end"),
    (lambda: bs.einsum("Z[m] += A[m]", m=4, x=2), bs.EinsumError, "size given for rank 'x'"),
    (lambda: bs.gemm(None, 4, 4), bs.EinsumError, "got None"),
    (lambda: bs.conv(R=3, Wstride=0), bs.EinsumError, "Wstride must be a positive integer"),
    (lambda: bs.gbmm(4, 4, 4, H=2, G=4), bs.EinsumError, "G must divide H"),
    (lambda: bs.pareto_frontier(bs.gemm(10**30, 1, 1)), bs.EinsumError, "too large"),
    (lambda: bs.solve_curve(G, [float("nan")]), bs.BoundsolverError, "capacity"),
    (lambda: bs.solve_curve(G, [-5]), bs.BoundsolverError, "capacity"),
    (lambda: bs.solve_curve(G, "100"), bs.BoundsolverError, "sequence of numbers"),
    (lambda: bs.solve_curve(G, [2**63]), bs.BoundsolverError, "over the signed 64-bit limit"),
    (lambda: bs.solve_curves([G], [float("nan")], progress=False), bs.BoundsolverError,
     "got nan"),
    (lambda: bs.solve_curves([G], [0.5], progress=False), bs.BoundsolverError, "below one word"),
    (lambda: bs.solve_curves([G], [2**70], progress=False), bs.BoundsolverError, "64-bit"),
    (lambda: bs.pareto_frontier(G, method="x"), bs.BoundsolverError, "method"),
    (lambda: bs.pareto_frontier(G, mapspace="a/b"), bs.BoundsolverError, "placement"),
    (lambda: bs.pareto_frontier(G, mapspace=3), bs.BoundsolverError, "mapspace"),
    (lambda: bs.pareto_frontier(G, solver="x"), bs.SolverError, "unknown solver"),
    (lambda: bs.pareto_frontier(G, time_limit=float("nan")), bs.BoundsolverError, "time_limit"),
    (lambda: bs.Level("L", -1), bs.ArchError, "capacity must be a positive integer"),
    (lambda: bs.Level("L", 2**63), bs.ArchError, "over the signed 64-bit limit"),
    (lambda: bs.Level("L", 4, keeps="A"), bs.ArchError, "keeps must be"),
    (lambda: bs.Level("", 4), bs.ArchError, "name"),
    (lambda: bs.Arch("x", 0), bs.ArchError, "word_bits must be a positive integer"),
    (lambda: bs.Arch("x", 8, "levels"), bs.ArchError, "levels must be a sequence"),
    (lambda: bs.load_arch("three_level", L1=float("nan")), bs.SpecError, "got nan"),
    (lambda: bs.load_arch("three_level", L1=2**70), bs.SpecError, "three_level.yaml"),
    (lambda: bs.load_problem("ffn", tokens=2.5), bs.SpecError, "got 2.5"),
    (lambda: bs.workload([]), bs.EinsumError, "at least one Einsum"),
    (lambda: bs.workload("Z[m] += A[m]", m=4), bs.EinsumError, "list of Einsums"),
    (lambda: bs.from_onnx("/nonexistent.onnx"), bs.OnnxError, "no ONNX file"),
    (lambda: bs.from_onnx(b"garbage"), bs.OnnxError, "not an ONNX model"),
])
def test_hostile_api_inputs(call, error, message):
    with deadline(30), pytest.raises(error, match=message):
        call()


# ----------------------------------------------------------------- hostile command-line inputs

@pytest.mark.parametrize("argv,message", [
    (["curve", ""], "unknown problem ''"),
    (["curve", "gemm"], "gemm needs M, K, N"),
    (["curve", "gemm", "4", "4", "4", "-c", "abc"], "expected a capacity"),
    (["curve", "gemm", "4", "4", "4", "-c", ","], "names no capacity"),
    (["curve", "gemm", "4", "4", "4", "-c", "-5"], "expected a capacity"),
    (["curve", "gemm", "4", "4", "4", "--range", "100", "10", "5"], "LO < HI"),
    (["curve", "gemm", "4", "4", "4", "--time-limit", "nan"], "positive number of seconds"),
    (["curve", "gemm", "4", "4", "4", "--max-depth", "3"], "--max-depth applies to --fusion"),
    (["curve", "ffn", "--fusion", "--max-depth", "-1"], "--max-depth"),
    (["curve", "gemm", "4", "4", "4", "--mapspace", "foo"], "placement/factors"),
    (["curve", "gemm", "4", "4", "4", "--unit", "bytes"], "--unit applies to --plot"),
    (["curve", "gemm", "4", "4", "4", "--csv", "/"], "is a folder"),
    (["curve", "gemm", "4", "4", "4", "--arch", "three_level", "--level-size", "L1"],
     "NAME=WORDS"),
    (["curve", "gemm", "4", "4", "4", "--arch", "three_level", "--time-limit", "5"],
     "--time-limit does not apply to a hierarchy"),
    (["curve", "gemm", "4", "4", "4", "--arch", "three_level", "--cache-dir", "/tmp"],
     "--cache-dir does not apply to a hierarchy"),
    (["curve", "ffn", "--tokens", "64", "--time-limit", "5"], "does not apply to workloads"),
    (["curve", "ffn", "--tokens", "64", "--force-rerun"], "does not apply to workloads"),
    (["curve", "ffn", "--tokens", "0"], "for workload parameter 'tokens', got '0'"),
    (["curve", "ffn", "--tokens", "1.5"], "got '1.5'"),
    (["curve", "ffn", "--nope", "4"], "has no parameter 'nope'"),
    (["curve", "ffn", "extra"], "unexpected arguments after ffn"),
    (["curve", "einsum"], "einsum needs a string"),
    (["curve", "einsum", "Z[m] += A[m]", "m="], "for rank size 'm', got ''"),
    (["curve", "einsum", "Z[m] += A[m]", "m=4", "--fusion"], "--fusion applies to workloads"),
    (["curve", "gemm", "4", "4", "4", "--cache-dir", "/dev/null"], "is not a folder"),
    (["curve", "gemm", "4", "4", "4", "--no-cache", "--force-rerun"], "--no-cache contradicts"),
    (["curve", "conv", "--R", "3", "3"], "expected --NAME VALUE"),
    (["curve", "gemm", "4", "4", "4", "--enumerate", "--method", "milp"], "disagree"),
    (["network", "/nonexistent.onnx"], "no such file"),
    (["network", "x.onnx", "--foo"], "unknown options --foo"),
    (["reproduce", "--capacities", "5"], "unknown options --capacities"),
    (["reproduce", "--no-cache", "--cache-dir", "/tmp"], "--no-cache contradicts"),
    (["reproduce", "--out", "/dev/null"], "is a file"),
])
def test_hostile_command_lines(argv, message, capsys):
    with deadline(30):
        rc, _, err = cli([*argv, "-q"] if argv[0] != "reproduce" else argv, capsys)
    assert rc == 2 and message in err and err.count("\n") == 1


def test_evaluate_refuses_what_is_not_a_mapping():
    with pytest.raises(bs.EinsumError, match="Mapping or a Nest"):
        bs.evaluate(bs.gemm(4, 4, 4), "junk")
    with pytest.raises(bs.EinsumError, match="one Einsum"):
        bs.evaluate("junk", bs.Mapping({"m": 1, "k": 1, "n": 1}, ("m", "k", "n")))


def test_a_directory_is_named_as_one(tmp_path):
    with pytest.raises(bs.SpecError, match="is a directory"):
        bs.load_problem(str(tmp_path))
