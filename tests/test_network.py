"""boundsolver.report.network and ``boundsolver network``: per-layer bounds of an ONNX model.

A small model built with onnx.helper (two identical 3x3 convs with a Relu between them, then
Flatten and a Gemm): MACs and tensor sizes against a count written here from the shapes, the
identical convs solved once, each layer's traffic against ``bs.solve_curve`` of the layer built
by hand, the unfused network curve against the sum of the layers, and the CLI end to end.
"""

import pandas as pd
import pytest

import boundsolver as bs
from boundsolver.cli import main
from boundsolver.curves import batch
from boundsolver.report.network import canonical, network_curves, network_frontier, network_table

onnx = pytest.importorskip("onnx")
np = pytest.importorskip("numpy")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

C, H, J = 8, 8, 10
CAPS = [64, 700, 4096, 1 << 20]
MAPSPACE = "per_tensor/perfect"  # what network_table and the workload's curves default to


def small_model():
    w = lambda name, shape: numpy_helper.from_array(np.zeros(shape, np.float32), name)  # noqa: E731
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"], name="conv_a", kernel_shape=[3, 3],
                         pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu"),
        helper.make_node("Conv", ["r1", "w2"], ["c2"], name="conv_b", kernel_shape=[3, 3],
                         pads=[1, 1, 1, 1]),
        helper.make_node("Flatten", ["c2"], ["f"], name="flatten", axis=1),
        helper.make_node("Gemm", ["f", "wf"], ["y"], name="fc"),
    ]
    graph = helper.make_graph(
        nodes, "small", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, C, H, H])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, J])],
        [w("w1", [C, C, 3, 3]), w("w2", [C, C, 3, 3]), w("wf", [C * H * H, J])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.fixture(scope="module")
def workload():
    return bs.from_onnx(small_model())


@pytest.fixture(scope="module")
def table(workload):
    return network_table(workload, CAPS, cache=False, progress=False)


def test_rows_macs_and_sizes(table):
    assert list(table["layer"]) == ["conv_a", "relu", "conv_b", "fc"]
    assert list(table["kind"]) == ["mac", "pass", "mac", "mac"]
    conv_macs = C * C * 3 * 3 * H * H
    assert list(table["macs"]) == [conv_macs, 0, conv_macs, C * H * H * J]
    padded, weights, out = C * (H + 2) ** 2, C * C * 9, C * H * H
    for i in (0, 2):
        row = table.iloc[i]
        sizes = sorted(int(s.rsplit(":", 1)[1]) for s in row["tensors"].split(", "))
        assert sizes == sorted([padded, weights, out])
        assert row["input_words"] == padded + weights and row["output_words"] == out
        assert row["algorithmic_minimum"] == padded + weights + out
        assert row["padding_words"] == C * ((H + 2) ** 2 - H * H)
    fc = table.iloc[3]
    assert fc["input_words"] == C * H * H + C * H * H * J and fc["output_words"] == J
    assert table.iloc[1]["op_intensity_at_4096"] == 0.0  # a pass has no MACs


def test_identical_layers_solved_once(workload, monkeypatch):
    calls = []
    real = batch.solve_one

    def counting(problem, *args, **kwargs):
        calls.append(str(problem))
        return real(problem, *args, **kwargs)

    monkeypatch.setattr(batch, "solve_one", counting)
    t = network_table(workload, CAPS, cache=False, progress=False)
    assert len(calls) == 3 == t.attrs["distinct"]  # conv_a = conv_b, relu, fc
    assert t.loc[2, "solved_as"] == "conv_a"
    cols = [c for c in t.columns if c.startswith(("accesses_at_", "op_intensity_at_"))]
    assert t.loc[0, cols].equals(t.loc[2, cols])
    a, b = workload["conv_a"], workload["conv_b"]
    assert str(a) != str(b) and canonical(a) == canonical(b)


def test_traffic_equals_layers_built_by_hand(table):
    conv = bs.einsum("O[k,q,p] += I[c,q+s,p+r] * W[k,c,s,r]", k=C, c=C, q=H, p=H, s=3, r=3)
    fc = bs.einsum("Y[j] += A[i] * B[i,j]", i=C * H * H, j=J)
    relu = bs.einsum("O[k,q,p] += I[k,q,p]", k=C, q=H, p=H)
    for i, e in [(0, conv), (1, relu), (2, conv), (3, fc)]:
        curve = bs.solve_curve(e, CAPS, mapspace=MAPSPACE, method="auto")
        for c, status, acc in zip(CAPS, curve["status"], curve["accesses"]):
            got = table.loc[i, f"accesses_at_{c}"]
            if status == "infeasible":
                assert np.isnan(got)
            else:
                assert got == acc, (table.loc[i, "layer"], c)
    front = bs.pareto_frontier(conv, mapspace=MAPSPACE, method="auto")
    assert table.loc[0, "max_effectual_buffer"] == bs.max_effectual_buffer(front)


def test_unfused_curve_is_the_sum_of_the_layers(workload, table):
    unfused = bs.solve_curve(workload, CAPS, fusion=False)  # the workload's own unfused curve
    ours = network_curves(workload, CAPS, table=table)[False]
    assert list(ours["status"]) == list(unfused["status"])
    ok = unfused["status"] == "optimal"
    assert (ours.loc[ok, "accesses"] == unfused.loc[ok, "accesses"]).all()
    assert np.allclose(ours.loc[ok, "op_intensity"], unfused.loc[ok, "op_intensity"])
    front = network_frontier(table)  # the unfused staircase, every breakpoint
    whole = bs.pareto_frontier(workload, fusion=False)
    assert list(front["occupancy"]) == list(whole["occupancy"])
    assert list(front["accesses"]) == list(whole["accesses"])
    fused = network_curves(workload, CAPS, fusion=True, table=table)[True]
    read = network_curves(workload, CAPS, fusion=True, table=table,
                          fused_frontier=bs.pareto_frontier(workload, fusion=True))[True]
    assert list(read["status"]) == list(fused["status"])
    assert (read.loc[ok, "accesses"] == fused.loc[ok, "accesses"]).all()
    assert (fused.loc[ok, "accesses"] <= ours.loc[ok, "accesses"]).all()
    for c, status, acc in zip(CAPS, unfused["status"], unfused["accesses"]):
        layers = table[f"accesses_at_{c}"]
        if status == "infeasible":
            assert layers.isna().any()
        else:
            assert acc == layers.sum()


def test_cli_end_to_end(tmp_path, capsys):
    path = tmp_path / "small.onnx"
    onnx.save(small_model(), path)
    out, png = tmp_path / "net.csv", tmp_path / "net.png"
    rc = main(["network", str(path), "--capacities", "700,4096", "--fusion", "--no-cache",
               "--quiet", "--csv", str(out), "--plot", str(png)])
    assert rc == 0
    t = pd.read_csv(out)
    assert len(t) == 4 and {"accesses_at_700", "op_intensity_at_4096"} <= set(t.columns)
    curve = pd.read_csv(tmp_path / "net_curve.csv")
    assert list(curve["capacity"]) == [700, 4096]
    assert (curve["accesses_fused"] <= curve["accesses_unfused"]).all()
    assert png.stat().st_size > 0
    rc = main(["network", str(path), "--capacities", "4096", "--no-cache"])
    assert rc == 0 and "conv_b" in capsys.readouterr().out


def test_cli_bad_input(tmp_path, capsys):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    assert main(["network", str(bad), "--no-cache", "-q"]) == 2
    err = capsys.readouterr().err
    assert "OnnxError" in err and "Traceback" not in err
    assert main(["network", str(tmp_path / "missing.onnx"), "-q"]) == 2
    assert main(["network", str(bad), "--capacities", "0", "-q"]) == 2
