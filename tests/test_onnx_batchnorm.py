"""Inference BatchNormalization folded as compilers fold it (docs/onnx.md, "BatchNormalization
folded"): into the Conv or 2-D Gemm before it (the layer's weights and one bias vector), or
else into one scale and one shift per channel; ``fold_batchnorm=False`` reads its four vectors.

Sizes and frontiers are checked against Einsums written here by hand; where the fold must not
apply (the layer's output read twice, shared weights, parameters computed in the graph) the
BatchNorm stays a pass. The fold itself is checked numerically: the folded layer, with weights
and bias computed here from the BatchNorm's parameters, gives ONNX's reference output.
"""

from __future__ import annotations

import pytest

import boundsolver as bs

onnx = pytest.importorskip("onnx")
np = pytest.importorskip("numpy")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

OPSET = [helper.make_opsetid("", 17)]
C, K, H = 3, 4, 5


def arr(name, values):
    return numpy_helper.from_array(np.asarray(values, np.float32), name)


def io(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def bn_params(prefix="bn", k=K, seed=0):
    rng = np.random.default_rng(seed)
    return [arr(f"{prefix}_s", rng.uniform(0.5, 2, k)), arr(f"{prefix}_b", rng.normal(size=k)),
            arr(f"{prefix}_m", rng.normal(size=k)), arr(f"{prefix}_v", rng.uniform(0.5, 2, k))]


def bn(x, y, prefix="bn", name="bn"):
    return helper.make_node("BatchNormalization", [x, f"{prefix}_s", f"{prefix}_b",
                                                   f"{prefix}_m", f"{prefix}_v"], [y], name=name)


def conv_bn(bias=False, relu=True, extra_reader=False):
    """x -> 1x1 Conv (C -> K channels) [+ bias] -> BatchNorm -> Relu -> y."""
    rng = np.random.default_rng(1)
    ins = ["x", "w", "cb"] if bias else ["x", "w"]
    nodes = [helper.make_node("Conv", ins, ["c"], name="conv", kernel_shape=[1, 1]),
             bn("c", "n"),
             helper.make_node("Relu", ["n"], ["y"], name="relu") if relu else
             helper.make_node("Identity", ["n"], ["y"], name="id")]
    outs = [io("y", [1, K, H, H])]
    if extra_reader:
        nodes.append(helper.make_node("Relu", ["c"], ["z"], name="other"))
        outs.append(io("z", [1, K, H, H]))
    inits = [arr("w", rng.normal(size=(K, C, 1, 1))), *bn_params()]
    inits += [arr("cb", rng.normal(size=K))] if bias else []
    graph = helper.make_graph(nodes, "g", [io("x", [1, C, H, H])], outs, inits)
    return helper.make_model(graph, opset_imports=OPSET)


def computed_in_graph(m, value):
    """``m`` with initializer ``value`` replaced by a Relu of a new graph input: a value a node
    of the graph computes at run time, not a parameter."""
    relu = helper.make_node("Relu", [f"{value}_raw"], [value], name=f"{value}_relu")
    m.graph.node.insert(0, relu)
    m.graph.input.append(io(f"{value}_raw", [K]))
    kept = [t for t in m.graph.initializer if t.name != value]
    del m.graph.initializer[:]
    m.graph.initializer.extend(kept)
    return m


def sizes(einsum):
    return {T.name: einsum.tensor_size(T) for T in einsum.tensors}


def frontier(problem):
    f = bs.pareto_frontier(problem)
    return list(zip(f.occupancy.tolist(), f.accesses.tolist()))


def test_conv_batchnorm_is_the_conv_with_one_bias_vector():
    w = bs.from_onnx(conv_bn())
    assert w.names == ("conv", "conv_bias", "relu")
    assert w.macs == K * C * H * H
    assert sizes(w["conv"]) == {"x": C * H * H, "w": K * C, "n_mac": K * H * H}
    assert sizes(w["conv_bias"]) == {"n_mac": K * H * H, "bn_b_folded": K, "n": K * H * H}
    assert frontier(w["conv"]) == frontier(bs.conv(P=H, Q=H, C=C, K=K))
    assert frontier(w["conv_bias"]) == frontier(
        bs.einsum("O[k,q,p] += A[k,q,p] * B[k]", k=K, q=H, p=H))
    assert [(s.node, s.op_type) for s in w.skipped] == [("bn", "BatchNormalization")]
    assert "folded into 'conv' (Conv)" in w.skipped[0].reason
    assert w.inputs == ("x", "w", "bn_b_folded")


def test_conv_bias_and_batchnorm_make_one_bias():
    w = bs.from_onnx(conv_bn(bias=True))
    assert w.names == ("conv", "conv_bias", "relu")
    assert sizes(w["conv_bias"]) == {"n_mac": K * H * H, "bn_b_folded": K, "n": K * H * H}
    assert "cb" not in {t for e in w.einsums for t in sizes(e)}


def test_fold_off_reads_the_four_vectors_as_written():
    w = bs.from_onnx(conv_bn(), fold_batchnorm=False)
    assert w.names == ("conv", "bn", "relu")
    assert sizes(w["bn"]) == {"c": K * H * H, "bn_s": K, "bn_b": K, "bn_m": K, "bn_v": K,
                              "n": K * H * H}
    assert not w.skipped
    with pytest.raises(bs.OnnxError, match="fold_batchnorm must be True or False"):
        bs.from_onnx(conv_bn(), fold_batchnorm="yes")


def test_fused_curve_of_the_folded_chain_equals_the_hand_built_one():
    """The fused frontier of Conv -> BatchNorm -> Relu, folded, is the one of the three Einsums
    written by hand (the conv, a bias addition, the Relu)."""
    w = bs.from_onnx(conv_bn())
    hand = bs.workload([
        "n_mac[k,q,p] += x[c,q,p] * w[k,c]",
        "n[k,q,p] += n_mac[k,q,p] * bias[k]",
        "y[k,q,p] += n[k,q,p]"], word_bits=32, c=C, k=K, q=H, p=H)
    got = bs.pareto_frontier(w, fusion=True)
    want = bs.pareto_frontier(hand, fusion=True)
    assert list(zip(got.occupancy, got.accesses)) == list(zip(want.occupancy, want.accesses))


def test_not_folded_where_a_compiler_could_not():
    # the conv's output is read by another node too: the BatchNorm stays, with two vectors
    w = bs.from_onnx(conv_bn(extra_reader=True))
    assert "bn" in w.names and not [s for s in w.skipped if s.op_type == "BatchNormalization"]
    assert sizes(w["bn"]) == {"c": K * H * H, "bn_s": K, "bn_b": K, "n": K * H * H}
    # a parameter computed in the graph (the variance through a Relu): four vectors, no fold
    w = bs.from_onnx(computed_in_graph(conv_bn(), "bn_v"))
    assert "bn" in w.names and "bn_v" in sizes(w["bn"]) and len(sizes(w["bn"])) == 6


def test_shared_weights_are_not_rescaled():
    rng = np.random.default_rng(2)
    nodes = [helper.make_node("Conv", ["x", "w"], ["c1"], name="conv1", kernel_shape=[1, 1]),
             bn("c1", "y1", "bn1", "bn1"),
             helper.make_node("Conv", ["x", "w"], ["c2"], name="conv2", kernel_shape=[1, 1]),
             bn("c2", "y2", "bn2", "bn2")]
    graph = helper.make_graph(nodes, "g", [io("x", [1, C, H, H])],
                              [io("y1", [1, K, H, H]), io("y2", [1, K, H, H])],
                              [arr("w", rng.normal(size=(K, C, 1, 1))),
                               *bn_params("bn1"), *bn_params("bn2", seed=3)])
    w = bs.from_onnx(helper.make_model(graph, opset_imports=OPSET))
    assert w.names == ("conv1", "bn1", "conv2", "bn2")
    assert sizes(w["bn1"]) == {"c1": K * H * H, "bn1_s": K, "bn1_b": K, "y1": K * H * H}


def test_gemm_batchnorm_folds_into_the_gemm():
    N, D, F = 6, 5, 4
    rng = np.random.default_rng(4)
    nodes = [helper.make_node("Gemm", ["x", "wt"], ["g"], name="fc", transB=1),
             bn("g", "y", "bn", "bn")]
    graph = helper.make_graph(nodes, "g", [io("x", [N, D])], [io("y", [N, F])],
                              [arr("wt", rng.normal(size=(F, D))), *bn_params(k=F)])
    w = bs.from_onnx(helper.make_model(graph, opset_imports=OPSET))
    assert w.names == ("fc", "fc_bias")
    assert w.macs == N * D * F
    assert sizes(w["fc_bias"]) == {"y_mac": N * F, "bn_b_folded": F, "y": N * F}


def test_weight_stripped_graphs_fold_too():
    """Zoo graphs give their weights and BatchNorm parameters as graph inputs: parameters."""
    m = conv_bn()
    params = {"w": [K, C, 1, 1], "bn_s": [K], "bn_b": [K], "bn_m": [K], "bn_v": [K]}
    del m.graph.initializer[:]
    m.graph.input.extend(io(n, s) for n, s in params.items())
    w = bs.from_onnx(m)
    assert w.names == ("conv", "conv_bias", "relu")
    assert sizes(w["conv_bias"])["bn_b_folded"] == K


def test_the_fold_computes_the_same_function():
    """The rewrite's claim, checked with ONNX's reference evaluator: the conv with weights
    ``a*W`` and bias ``a*(c - mean) + B`` (``a = scale/sqrt(var + eps)``) gives the graph's
    output. The folded graph is the importer's rewrite; the values are computed here."""
    from onnx.reference import ReferenceEvaluator

    from boundsolver.io.onnx_fold import fold_batchnorm

    m = conv_bn(bias=True)
    x = np.random.default_rng(5).normal(size=(1, C, H, H)).astype(np.float32)
    want = ReferenceEvaluator(m).run(None, {"x": x})[0]
    vals = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in m.graph.initializer}
    shapes = {t.name: tuple(t.dims) for t in m.graph.initializer}
    shapes |= {v.name: tuple(d.dim_value for d in v.type.tensor_type.shape.dim)
               for v in onnx.shape_inference.infer_shapes(m).graph.value_info}
    folded = fold_batchnorm(onnx, m, shapes, computed={"c", "n", "y"})
    assert [(b.name, lay.name) for b, lay in folded] == [("bn", "conv")]
    a = vals["bn_s"] / np.sqrt(vals["bn_v"] + 1e-5)
    new = {"w": (vals["w"] * a[:, None, None, None]).astype(np.float32),
           "bn_b_folded": (a * (vals["cb"] - vals["bn_m"]) + vals["bn_b"]).astype(np.float32)}
    kept = [t for t in m.graph.initializer if t.name != "w"]
    del m.graph.initializer[:]
    m.graph.initializer.extend([*kept, numpy_helper.from_array(new["w"], "w")])
    got = ReferenceEvaluator(m).run(None, {"x": x, "bn_b_folded": new["bn_b_folded"]})[0]
    assert [n.op_type for n in m.graph.node] == ["Conv", "Relu"]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_zoo_resnet50_folds_every_batchnorm_and_keeps_its_macs():
    from pathlib import Path

    path = Path(onnx.__file__).parent / "backend/test/data/light/light_resnet50.onnx"
    proto = onnx.load(str(path))
    bns = [n for n in proto.graph.node if n.op_type == "BatchNormalization"]
    w = bs.from_onnx(path)
    folded = [s for s in w.skipped if s.op_type == "BatchNormalization"]
    assert len(folded) == len(bns) == 53
    assert w.macs == 4_089_184_256 == bs.from_onnx(path, fold_batchnorm=False).macs
    # each folded BatchNorm is one bias pass: the conv's output and one vector of its channels
    passes = [e for e in w.einsums if any(t.name.endswith("_folded") for t in e.inputs)]
    assert len(passes) == 53
    inferred = onnx.shape_inference.infer_shapes(proto).graph.value_info
    channels = {v.name: v.type.tensor_type.shape.dim[1].dim_value for v in inferred
                if len(v.type.tensor_type.shape.dim) > 1}
    assert all(len(e.inputs) == 2 and e.inputs[1].name.endswith("_folded") for e in passes)
    assert sorted(e.tensor_size(e.inputs[1]) for e in passes) == sorted(
        channels[n.output[0]] for n in bns)


def test_cli_keep_batchnorm(tmp_path, capsys):
    from boundsolver.cli import main

    path = tmp_path / "convbn.onnx"
    onnx.save(conv_bn(), path)
    out = tmp_path / "t.csv"
    assert main(["network", str(path), "-c", "4096", "--no-cache", "-q", "--csv", str(out)]) == 0
    import pandas as pd

    assert not any("bn_m" in e for e in pd.read_csv(out)["einsum"])
    assert main(["network", str(path), "-c", "4096", "--no-cache"]) == 0
    assert ("folded 1 node(s) into the Conv or Gemm before them (--keep-batchnorm reads their "
            "four vectors): BatchNormalization x1") in capsys.readouterr().out
    assert main(["network", str(path), "-c", "4096", "--no-cache", "-q", "--keep-batchnorm",
                 "--csv", str(out)]) == 0
    assert any("bn_m" in e for e in pd.read_csv(out)["einsum"])


def test_zoo_resnet50_reads_three_vectors_less_per_batchnorm_channel():
    """Per layer, every tensor read or written once: folding takes three of each BatchNorm's four
    vectors away. ResNet-50's BatchNorm channels, counted by hand: conv1 64; conv2_x 3·(64 + 64
    + 256) + 256; conv3_x 4·(128 + 128 + 512) + 512; conv4_x 6·(256 + 256 + 1024) + 1024;
    conv5_x 3·(512 + 512 + 2048) + 2048."""
    from pathlib import Path

    path = Path(onnx.__file__).parent / "backend/test/data/light/light_resnet50.onnx"
    channels = (64 + 3 * (64 + 64 + 256) + 256 + 4 * (128 + 128 + 512) + 512
                + 6 * (256 + 256 + 1024) + 1024 + 3 * (512 + 512 + 2048) + 2048)

    def once(w):
        return sum(e.tensor_size(t) for e in w.einsums for t in (*e.inputs, e.output))

    kept, folded = bs.from_onnx(path, fold_batchnorm=False), bs.from_onnx(path)
    assert once(kept) - once(folded) == 3 * channels == 79_680


def test_a_bias_computed_at_run_time_keeps_the_batchnorm():
    w = bs.from_onnx(computed_in_graph(conv_bn(bias=True), "cb"))
    assert "bn" in w.names     # its parameters are parameters: two vectors, as elsewhere
    assert sizes(w["bn"]) == {"c": K * H * H, "bn_s": K, "bn_b": K, "n": K * H * H}


def value_at(front, c):
    """The least traffic of a staircase at capacity ``c`` (None below its least occupancy)."""
    best = [a for o, a in zip(front.occupancy, front.accesses) if o <= c]
    return min(best) if best else None


@pytest.mark.parametrize("fusion", [False, True])
def test_folding_only_lowers_the_curve(fusion):
    """Every mapping of the four-vector graph has a folded twin that keeps the one bias vector
    where the four were kept: no more occupancy, fewer words. So the folded curve is at or
    below the four-vector one at every capacity, and strictly below where everything fits."""
    rng = np.random.default_rng(6)
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c1"], name="conv1", kernel_shape=[1, 1]),
             bn("c1", "n1", "bn1", "bn1"),
             helper.make_node("Relu", ["n1"], ["r1"], name="relu1"),
             helper.make_node("Conv", ["r1", "w2"], ["c2"], name="conv2", kernel_shape=[1, 1]),
             bn("c2", "y", "bn2", "bn2")]
    graph = helper.make_graph(nodes, "g", [io("x", [1, C, 2, 2])], [io("y", [1, C, 2, 2])],
                              [arr("w1", rng.normal(size=(K, C, 1, 1))),
                               arr("w2", rng.normal(size=(C, K, 1, 1))),
                               *bn_params("bn1"), *bn_params("bn2", k=C, seed=7)])
    m = helper.make_model(graph, opset_imports=OPSET)
    folded = bs.pareto_frontier(bs.from_onnx(m), fusion=fusion)
    kept = bs.pareto_frontier(bs.from_onnx(m, fold_batchnorm=False), fusion=fusion)
    caps = sorted({*folded.occupancy.tolist(), *kept.occupancy.tolist()})
    for c in caps:
        low, high = value_at(folded, c), value_at(kept, c)
        assert high is None or (low is not None and low <= high)
    assert value_at(folded, caps[-1]) < value_at(kept, caps[-1])
