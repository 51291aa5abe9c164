"""What a new user meets on the command line: every mistake is one line naming the problem (exit
status 2), and a row or a frontier cut by a time limit says so, with its proven bound in full."""

import pandas as pd
import pytest

from boundsolver.cli import main
from boundsolver.curves import joint
from boundsolver.errors import ProofOutOfReach


def _one_line_error(argv, capsys) -> str:
    assert main(argv) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.startswith("boundsolver: error: ") and "\n" not in err, err
    assert "Traceback" not in err and "usage:" not in err
    return err


@pytest.mark.parametrize("argv,message", [
    ([], "the following arguments are required: command (see boundsolver --help)"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    (["curve"], "required: problem (see boundsolver curve --help)"),
    (["curve", "gemm", "4", "4", "4", "--method", "fast"], "argument --method: invalid choice"),
    (["curve", "gemm", "4", "4", "4", "-c"], "--capacities/-c: expected at least one argument"),
    (["curve", "gemm", "4", "4", "4", "--range", "1", "9"], "--range: expected 3 arguments"),
    (["curve", "gemm", "4", "4", "4", "-c", "64", "--frontier"], "not allowed with argument"),
    (["network"], "required: model (see boundsolver network --help)"),
])
def test_usage_errors_are_one_line_not_argparse_usage_blocks(argv, message, capsys):
    assert message in _one_line_error(argv, capsys)


@pytest.mark.parametrize("argv", [["problems", "extra"], ["problems", "--bogus"]])
def test_problems_refuses_what_it_does_not_take(argv, capsys):
    """It listed the problems and exited 0, ignoring the arguments."""
    assert "unknown options" in _one_line_error(argv, capsys)


def test_a_missing_yaml_path_is_no_such_file_not_an_unknown_name(tmp_path, capsys):
    err = _one_line_error(["curve", str(tmp_path / "my_layer.yaml"), "-q"], capsys)
    assert "my_layer.yaml' (does not exist)" in err and "unknown problem" not in err


def test_an_onnx_file_given_to_curve_points_to_network(tmp_path, capsys):
    model = tmp_path / "m.onnx"
    model.write_bytes(b"not onnx")
    assert f"boundsolver network {model}" in _one_line_error(["curve", str(model)], capsys)


def test_network_names_a_folder_and_a_nameless_dimension(tmp_path, capsys):
    assert "is a folder; name an ONNX file" in _one_line_error(["network", str(tmp_path)], capsys)
    model = tmp_path / "m.onnx"
    model.write_bytes(b"")
    err = _one_line_error(["network", str(model), "--dims", "=3"], capsys)
    assert "dimension needs NAME=VALUE, got '=3'" in err


def test_broken_yaml_says_line_and_column_on_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("problem:\n  shape: [\n")  # the flow sequence never closes
    err = _one_line_error(["curve", str(bad)], capsys)
    assert "not valid YAML (line 3, column 1:" in err and "<unicode string>" not in err
    err = _one_line_error(["curve", "gemm", "4", "4", "4", "--arch", str(bad)], capsys)
    assert "not valid YAML (line 3" in err


def _cut_einsum_frame(problems, caps, **_):
    """One proven row and one cut by the time limit, as solve_curves returns them."""
    return [pd.DataFrame({
        "capacity": [100000, 1048576], "occupancy": pd.array([99855, None], "Int64"),
        "accesses": pd.array([838252800, None], "Int64"), "status": ["optimal", "time_limit"],
        "op_intensity": [305.4, float("nan")], "best_bound": [838252800.0, 279417601.0],
        "incumbent": pd.array([838252800, None], "Int64"), "loop_order": ["n,m,k", None],
        "mapping": ["for n in [0,16): ...", None], "solve_seconds": [0.1, 0.3]})]


def test_a_time_limit_row_shows_its_proven_bound_in_full(monkeypatch, capsys):
    """The table hid best_bound for single Einsums; a bound is printed whole, not as 2.794e+08."""
    import boundsolver.curves.batch as batch

    monkeypatch.setattr(batch, "solve_curves", _cut_einsum_frame)
    argv = ["curve", "gemm", "5040", "5040", "5040", "-c", "100000", "1048576",
            "--time-limit", "0.3"]
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert "best_bound" in out and "incumbent" in out and "279417601" in out
    assert "1 of 2 rows stopped at the time limit (status time_limit, not exact)" in out


def test_a_time_limit_row_on_a_hierarchy_names_the_open_column(monkeypatch, capsys):
    import boundsolver.curves.solve as solve

    def cut(problem, caps, **_):
        df = pd.DataFrame({
            "capacity": [65536], "occupancy": [48001], "accesses": [452864],
            "op_intensity": [510.1], "occupancy_L2": [48001], "accesses_L2": [452864],
            "occupancy_L1": [3], "accesses_L1": [231411712], "mapping": ["for q ..."],
            "status": ["time_limit"], "bound_of": ["accesses_L1"], "best_bound": [1792000.0],
            "incumbent": [231411712]})
        df.attrs |= {"seconds": 1.0, "levels": ["DRAM", "L2", "L1"],
                     "mapspace": "per_tensor/perfect"}
        return df

    monkeypatch.setattr(solve, "solve_curve", cut)
    argv = ["curve", "gemm", "8", "8", "8", "--arch", "three_level", "-c", "65536",
            "--time-limit", "1"]
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert "bound_of" in out and "1792000" in out and "1.792e+06" not in out
    assert "accesses_L1 is the value of the mapping found (incumbent)" in out


def test_proof_out_of_reach_speaks_command_line_options(monkeypatch, capsys):
    """The library's advice (time_limit=math.inf, solve_curve(...)) becomes the options a
    command-line user types."""
    import boundsolver.curves.solve as solve

    def out_of_reach(problem, **_):
        raise ProofOutOfReach(f"{problem} on three_level, per_tensor/perfect: the frontier point "
                              "at L2 capacity 274,687 words was not proven within 60 s "
                              f"(accesses_L1 left open). {joint._ASK}")

    monkeypatch.setattr(solve, "pareto_frontier", out_of_reach)
    err = _one_line_error(["curve", "gemm", "8", "8", "8", "--arch", "three_level"], capsys)
    assert "ProofOutOfReach" in err and "274,687 words was not proven within 60 s" in err
    assert "--time-limit inf" in err and "--mapspace uniform/perfect" in err
    assert "solve_curve(" not in err and "math.inf" not in err


def test_onnx_shape_errors_are_one_line_naming_the_dims_given(tmp_path, capsys):
    """onnx reports one line per failing node; the error was several lines."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("X", TensorProto.FLOAT, ["batch", 3])
    z = helper.make_tensor_value_info("Z", TensorProto.FLOAT, ["batch", 6])
    w1 = helper.make_tensor("W1", TensorProto.FLOAT, [4, 5], [0.0] * 20)  # 3 != 4: no product
    w2 = helper.make_tensor("W2", TensorProto.FLOAT, [5, 6], [0.0] * 30)
    graph = helper.make_graph([helper.make_node("MatMul", ["X", "W1"], ["Y"], name="first"),
                               helper.make_node("MatMul", ["Y", "W2"], ["Z"], name="second")],
                              "g", [x], [z], [w1, w2])
    model = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), model)
    err = _one_line_error(["network", str(model), "--dims", "batch=2", "-q"], capsys)
    assert "OnnxError: ONNX check or shape inference failed with batch=2" in err
    assert "node name: first" in err


@pytest.mark.parametrize("flags", [["--enumerate"], ["--method", "enumerate"]])
def test_a_solver_with_enumeration_is_refused_not_ignored(flags, capsys):
    err = _one_line_error(["curve", "gemm", "4", "4", "4", *flags, "--solver", "cbc", "-q"],
                          capsys)
    assert "--solver cbc does not apply to --method enumerate" in err


def test_lower_bound_on_a_hierarchy_plot_says_where_the_floor_is(tmp_path, capsys):
    """The plot drew no floor on a hierarchy and said nothing."""
    png = tmp_path / "h.png"
    argv = ["curve", "gemm", "2", "2", "2", "--arch", "three_level", "--level-size", "L1=4",
            "--lower-bound", "--plot", str(png), "-q"]
    assert main(argv) == 0 and png.stat().st_size > 0
    assert "the floor is drawn for one buffer only" in capsys.readouterr().err


def test_a_cached_answer_does_not_hide_a_bad_solver_or_time_limit(tmp_path, capsys):
    """With the curve in the cache, --solver gurobi exited 0 and time_limit=-1 returned."""
    import boundsolver as bs
    from boundsolver.curves.cache import Cache
    from boundsolver.errors import SolverError

    cache = ["--cache-dir", str(tmp_path), "-q"]
    assert main(["curve", "gemm", "4", "4", "4", *cache]) == 0
    assert (tmp_path / "results.sqlite").is_file()
    err = _one_line_error(["curve", "gemm", "4", "4", "4", "--solver", "gurobi", *cache], capsys)
    assert "unknown solver 'gurobi'" in err
    store = Cache(tmp_path / "results.sqlite")
    for bad in (-1, float("nan"), 0):
        with pytest.raises(SolverError, match="time_limit must be a positive number"):
            bs.solve_curves([bs.gemm(4, 4, 4)], None, cache=store, time_limit=bad)


@pytest.mark.parametrize("argv", [["curve", "gemm", "4", "4", "2", "--no-cache"],
                                  ["curve", "ffn", "--tokens", "2"]])
def test_csv_to_stdout_is_csv_alone_with_the_table_on_stderr(argv, capsys):
    """Without -q the readable table was printed into the same stdout as the CSV."""
    import io

    assert main([*argv, "--csv", "-"]) == 0
    captured = capsys.readouterr()
    table = pd.read_csv(io.StringIO(captured.out))
    assert list(table.columns[:3]) == ["occupancy", "accesses", "status"]
    assert table["accesses"].notna().all() and "occupancy" in captured.err
