import pandas as pd
import pytest

import boundsolver as bs
from boundsolver.cli import main
from boundsolver.io.specs import SpecError, load_arch, load_problem, load_problems


def test_curve_gemm_frontier_csv_and_plot(tmp_path):
    csv, png = tmp_path / "g.csv", tmp_path / "g.png"
    assert main(["curve", "gemm", "8", "4", "2", "--csv", str(csv), "--plot", str(png), "-q"]) == 0
    table = pd.read_csv(csv)
    ref = bs.enumerate_frontier(bs.gemm(8, 4, 2))
    assert list(table["accesses"]) == list(ref["accesses"])
    assert png.stat().st_size > 0


def test_curve_per_tensor_imperfect_matches_enumeration(tmp_path):
    csv, ref = tmp_path / "milp.csv", tmp_path / "enum.csv"
    flags = ["--placement", "per_tensor", "--factors", "imperfect", "-q"]
    assert main(["curve", "gemm", "6", "5", "3", *flags, "--csv", str(csv)]) == 0
    assert main(["curve", "gemm", "6", "5", "3", *flags, "--enumerate", "--csv", str(ref)]) == 0
    milp, enum = pd.read_csv(csv), pd.read_csv(ref)
    assert list(milp["accesses"]) == list(enum["accesses"]) and len(milp) > 1
    assert milp["mapping"].str.contains(r"\[Z\{").all()


def test_curve_conv_options_and_range(capsys):
    assert main(["curve", "conv", "--R", "3", "--P", "8", "--C", "2", "--K", "4",
                 "--range", "10", "1000", "5", "--csv", "-", "-q"]) == 0
    table = pd.read_csv(__import__("io").StringIO(capsys.readouterr().out))
    assert list(table["capacity"]) == [10, 31, 100, 316, 1000]
    p = bs.conv(R=3, P=8, C=2, K=4)
    assert list(table["accesses"]) == list(bs.solve_curve(p, [10, 31, 100, 316, 1000])["accesses"])


def test_curve_einsum_and_named_problem(capsys):
    assert main(["curve", "einsum", "O[p] += I[2*p+r] * W[r]", "p=8", "r=3", "-c", "3", "100"]) == 0
    out = capsys.readouterr().out
    assert "optimal" in out and "O[p] += I[2*p+r] * W[r]" in out
    assert main(["curve", "timeloop_conv3x3", "-c", "50000", "--csv", "-", "-q"]) == 0


@pytest.mark.parametrize("argv,message", [
    (["gemm", "4", "4", "4", "4"], "gemm takes 3 sizes"),
    (["gemm", "4", "x", "4"], "expected a positive integer for K, got 'x'"),
    (["conv", "--Z", "3"], "conv has no argument 'Z'"),
    (["gemm", "4", "4"], "gemm needs N"),
    (["nofile"], "unknown problem 'nofile' (kinds: gemm, bmm, gbmm, conv, einsum"),
    (["gemm", "4", "4", "4", "-c", "0"], "expected a capacity: a positive whole number of words, got '0'"),
    (["gemm", "4", "4", "4", "--solver", "gurobi"], "unknown solver 'gurobi'"),
    (["einsum", "Z[m,n] += A[m,k] * B[k,n", "m=2", "k=2", "n=2"], "expected ',' or ']'"),
])
def test_bad_command_lines_exit_2_with_one_clear_line(argv, message, capsys):
    assert main(["curve", *argv, "-q"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_yaml_problems_and_arch(tmp_path):
    assert [p.name for p in load_problems("fig12_convs")][:2] == ["conv1x1", "conv3x3"]
    assert len(load_problems("fig11_gemms")) == 27
    assert load_problem("timeloop_conv3x3").size["k"] == 64
    assert load_arch("snowcat").word_bits == 8
    bad = tmp_path / "bad.yaml"
    bad.write_text("problems:\n  - name: x\n    sizes: {m: 2}\n")
    with pytest.raises(SpecError, match="problem 1 \\('x'\\) needs exactly one of gemm, bmm"):
        load_problems(bad)
    bad.write_text("problems:\n  - name: y\n    einsum: 'Z[m] += A[m]'\n")
    with pytest.raises(SpecError, match="an einsum needs 'sizes'"):
        load_problems(bad)
    bad.write_text("name: a\nlevels: []\n")
    with pytest.raises(SpecError, match="needs 'word_bits'"):
        load_arch(bad)


def test_curve_cache_options(tmp_path, capsys):
    """curve reads and writes the cache as network and reproduce do (--cache-dir, --force-rerun,
    --no-cache), and the answer does not depend on where it came from."""
    folder = tmp_path / "cache"
    argv = ["curve", "gemm", "8", "4", "2", "-q", "--csv", "-"]
    assert main([*argv, "--cache-dir", str(folder)]) == 0
    first = capsys.readouterr().out
    assert (folder / "results.sqlite").is_file()
    assert main([*argv, "--cache-dir", str(folder), "--force-rerun"]) == 0
    assert main([*argv, "--cache-dir", str(folder)]) == 0
    assert main([*argv, "--no-cache"]) == 0
    runs = capsys.readouterr().out.split("occupancy,")[1:]
    strip = [[row.split(",")[:3] for row in run.splitlines()[1:]] for run in [first, *runs]]
    assert len(strip) == 4 and all(s == strip[0] for s in strip)
    ref = bs.enumerate_frontier(bs.gemm(8, 4, 2))
    assert [int(r[1]) for r in strip[0]] == list(ref["accesses"])


def test_ctrl_c_is_a_message_and_status_130_not_a_traceback(monkeypatch, capsys):
    """Ctrl-C during a solve (KeyboardInterrupt raised wherever the solver is) ends the CLI
    with the shell's status for SIGINT and one line, not a traceback from inside HiGHS."""
    import boundsolver.cli as cli

    def interrupted(*_):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_curve", interrupted)
    assert main(["curve", "gemm", "8", "8", "8"]) == 130
    assert capsys.readouterr().err.strip() == "boundsolver: interrupted"
