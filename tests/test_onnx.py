"""bs.from_onnx: ONNX graphs built with onnx.helper (no downloads) read into workloads.

Every layer's MACs and tensor sizes are checked against a count written here from the shapes,
and every MAC layer's frontier against the one of the same layer built by hand (bs.conv,
bs.gemm, bs.bmm, bs.einsum). docs/onnx.md states the rules these tests hold the loader to.
"""

import subprocess
import sys

import pytest

import boundsolver as bs

onnx = pytest.importorskip("onnx")
np = pytest.importorskip("numpy")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

OPSET = [helper.make_opsetid("", 17)]


def weight(name, shape):
    return numpy_helper.from_array(np.zeros(shape, np.float32), name)


def ints(name, values):
    return numpy_helper.from_array(np.array(values, np.int64), name)


def model(nodes, inputs, outputs, inits, opset=OPSET):
    graph = helper.make_graph(nodes, "g", inputs, outputs, inits)
    return helper.make_model(graph, opset_imports=opset)


def io(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def bottleneck(C=16, H=8, mid=8, batch="N"):
    """ResNet bottleneck: 1x1 conv, 3x3 conv stride 2 pad 1, 1x1 conv, a strided 1x1
    projection shortcut, Relu, Add residual."""
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", kernel_shape=[1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2"], ["c2"], name="conv2", kernel_shape=[3, 3],
                         strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        helper.make_node("Conv", ["r2", "w3"], ["c3"], name="conv3", kernel_shape=[1, 1]),
        helper.make_node("Conv", ["x", "wd"], ["ds"], name="down", kernel_shape=[1, 1],
                         strides=[2, 2]),
        helper.make_node("Add", ["c3", "ds"], ["s"], name="add"),
        helper.make_node("Relu", ["s"], ["y"], name="relu3"),
    ]
    inits = [weight("w1", [mid, C, 1, 1]), weight("b1", [mid]), weight("w2", [mid, mid, 3, 3]),
             weight("w3", [2 * C, mid, 1, 1]), weight("wd", [2 * C, C, 1, 1])]
    return model(nodes, [io("x", [batch, C, H, H])], [io("y", [batch, 2 * C, H // 2, H // 2])],
                 inits)


def transformer(S=8, D=16, H=2, F=32):
    """Attention and an FFN layer: Q/K/V projections, Reshape and Transpose to heads, QKᵀ
    (K transposed by the Transpose), a scale, Softmax, AV, heads merged back, output projection,
    residual Add, LayerNormalization, a Gemm with transB, Relu."""
    nodes = []
    for t in "qkv":
        nodes += [helper.make_node("MatMul", ["x", f"w{t}"], [f"{t}p"], name=f"proj_{t}"),
                  helper.make_node("Reshape", [f"{t}p", "heads"], [f"{t}r"], name=f"split_{t}")]
    nodes += [
        helper.make_node("Transpose", ["qr"], ["qt"], name="tq", perm=[0, 2, 1, 3]),
        helper.make_node("Transpose", ["kr"], ["kt"], name="tk", perm=[0, 2, 3, 1]),
        helper.make_node("Transpose", ["vr"], ["vt"], name="tv", perm=[0, 2, 1, 3]),
        helper.make_node("MatMul", ["qt", "kt"], ["qk"], name="qk"),
        helper.make_node("Div", ["qk", "sqrt_d"], ["qks"], name="scale"),
        helper.make_node("Softmax", ["qks"], ["p"], name="softmax", axis=-1),
        helper.make_node("MatMul", ["p", "vt"], ["av"], name="av"),
        helper.make_node("Transpose", ["av"], ["avt"], name="tav", perm=[0, 2, 1, 3]),
        helper.make_node("Reshape", ["avt", "merge"], ["avm"], name="merge_heads"),
        helper.make_node("MatMul", ["avm", "wo"], ["o"], name="out_proj"),
        helper.make_node("Add", ["o", "x"], ["res"], name="residual"),
        helper.make_node("LayerNormalization", ["res", "gamma", "beta"], ["ln"], name="ln"),
        helper.make_node("Flatten", ["ln"], ["tokens"], name="flat", axis=2),
        helper.make_node("Gemm", ["tokens", "w1"], ["ff"], name="ffn1", transB=1),
        helper.make_node("Relu", ["ff"], ["y"], name="relu"),
    ]
    inits = [weight("wq", [D, D]), weight("wk", [D, D]), weight("wv", [D, D]),
             weight("wo", [D, D]), weight("w1", [F, D]), weight("gamma", [D]),
             weight("beta", [D]), numpy_helper.from_array(np.array(2.0, np.float32), "sqrt_d"),
             ints("heads", [0, 0, H, D // H]), ints("merge", [0, 0, D])]
    return model(nodes, [io("x", ["batch", "seq", D])], [io("y", ["tokens", F])], inits)


def frontier(problem):
    f = bs.pareto_frontier(problem)
    return list(zip(f.occupancy.tolist(), f.accesses.tolist()))


def sizes(einsum):
    return {T.name: einsum.tensor_size(T) for T in einsum.tensors}


# ---------------------------------------------------------------------------- ResNet bottleneck

def test_bottleneck_macs_and_tensor_sizes():
    w = bs.from_onnx(bottleneck(), N=1)
    assert isinstance(w, bs.Workload) and isinstance(w, bs.OnnxWorkload)
    assert w.names == ("conv1", "conv1_bias", "relu1", "conv2", "relu2", "conv3", "down", "add",
                       "relu3")
    # independent count: MACs = N*K*Ho*Wo*C*kh*kw
    macs = {"conv1": 8 * 8 * 8 * 16, "conv2": 8 * 4 * 4 * 8 * 9, "conv3": 32 * 4 * 4 * 8,
            "down": 32 * 4 * 4 * 16}
    for name, n in macs.items():
        assert w.layer(name).macs == n and w.layer(name).kind == "mac"
        assert w[name].macs == n
    for name in ("conv1_bias", "relu1", "relu2", "add", "relu3"):
        assert w.layer(name).macs == 0 and w.layer(name).kind == "pass"
    assert w.macs == sum(macs.values())
    # the bias is an addition after the MACs, not a third factor of them
    assert sizes(w["conv1"]) == {"x": 16 * 64, "w1": 8 * 16, "c1_mac": 8 * 64}
    assert sizes(w["conv1_bias"]) == {"c1_mac": 8 * 64, "b1": 8, "c1": 8 * 64}
    # conv2 reads the padded input's windowed extent, (4-1)*2 + 3 = 9 rows and columns
    assert sizes(w["conv2"]) == {"r1_padded": 8 * 81, "w2": 8 * 8 * 9, "c2": 8 * 16}
    assert w.layer("conv2").padding_words == 8 * (81 - 64)
    # the strided 1x1 shortcut never reads the last row and column: 7x7 of 8x8, no padding
    assert sizes(w["down"]) == {"x_window": 16 * 49, "wd": 32 * 16, "ds": 32 * 16}
    assert w.layer("down").padding_words == 0
    assert sizes(w["add"]) == {"c3": 512, "ds": 512, "s": 512}
    assert sizes(w["relu1"]) == {"c1": 512, "r1": 512}
    assert w.inputs == ("x", "w1", "b1", "r1_padded", "w2", "w3", "x_window", "wd")
    assert w.intermediates[0] == "c1_mac"
    assert w.outputs == ("r1", "y")


def test_bottleneck_frontiers_equal_hand_built_convs():
    w = bs.from_onnx(bottleneck(), N=1)
    assert frontier(w["conv2"]) == frontier(bs.conv(R=3, S=3, P=4, Q=4, C=8, K=8, Wstride=2,
                                                    Hstride=2))
    assert frontier(w["conv3"]) == frontier(bs.conv(P=4, Q=4, C=8, K=32))
    assert frontier(w["down"]) == frontier(bs.conv(P=4, Q=4, C=16, K=32, Wstride=2, Hstride=2))
    assert frontier(w["conv1"]) == frontier(bs.conv(P=8, Q=8, C=16, K=8))
    bias = bs.einsum("O[k,q,p] += A[k,q,p] * B[k]", k=8, q=8, p=8)
    assert frontier(w["conv1_bias"]) == frontier(bias)


def test_resnet18_conv_with_bias_is_two_operands_and_an_addition():
    """torchvision's ResNet-18 exported with BatchNorm folded: every conv has a bias. The MAC
    Einsum keeps two operands (its frontier is the bias-free conv's) and the bias is a pass read
    once per output element; the bias adds no MAC."""
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], name="layer1_conv1",
                              kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["y"], name="relu")]
    C, H = 64, 14                      # layer1's 3x3 conv, spatial size cut to keep it quick
    m = model(nodes, [io("x", [1, C, H, H])], [io("y", [1, C, H, H])],
              [weight("w", [C, C, 3, 3]), weight("b", [C])])
    w = bs.from_onnx(m)
    assert w.names == ("layer1_conv1", "layer1_conv1_bias", "relu")
    assert w.macs == C * C * H * H * 9 and w.layer("layer1_conv1_bias").macs == 0
    assert len(w["layer1_conv1"].inputs) == 2
    hand = bs.conv(R=3, S=3, P=H, Q=H, C=C, K=C)
    assert frontier(w["layer1_conv1"]) == frontier(hand)
    assert frontier(w["layer1_conv1_bias"]) == frontier(
        bs.einsum("O[k,q,p] += A[k,q,p] * B[k]", k=C, q=H, p=H))
    assert sizes(w["layer1_conv1_bias"]) == {"c_mac": C * H * H, "b": C, "c": C * H * H}


def test_chain_links_producers_to_consumers_and_fuses():
    w = bs.from_onnx(bottleneck(), N=2)
    assert set(w.intermediates) >= {"c1", "c2", "r2", "c3", "ds", "s"}
    # a reader reuses its writer's rank names, so loops can be fused over them
    assert w["relu1"].output.ranks == w["conv1"].output.ranks
    assert w["down"].output.ranks == w["conv3"].output.ranks == w["add"].output.ranks
    fused = bs.pareto_frontier(w, fusion=True)
    unfused = bs.pareto_frontier(w, fusion=False)
    assert fused.accesses.min() < unfused.accesses.min()
    best = fused.iloc[-1]
    assert best.writes_c1 == best.writes_s == 0      # intermediates stay on chip
    assert best.writes_r1 == w.tensor_size("r1")     # the padded conv reads its own copy


def test_grouped_and_depthwise_conv():
    nodes = [helper.make_node("Conv", ["x", "wg"], ["g"], name="grouped", kernel_shape=[3, 3],
                              pads=[1, 1, 1, 1], group=2),
             helper.make_node("Conv", ["g", "wd"], ["y"], name="depthwise", kernel_shape=[3, 3],
                              group=8, dilations=[2, 2])]
    m = model(nodes, [io("x", [1, 4, 6, 6])], [io("y", [1, 8, 2, 2])],
              [weight("wg", [8, 2, 3, 3]), weight("wd", [8, 1, 3, 3])])
    w = bs.from_onnx(m)
    assert w.layer("grouped").macs == 8 * 6 * 6 * 2 * 9          # K * P * Q * C/G * R * S
    assert w.layer("depthwise").macs == 8 * 2 * 2 * 9
    assert sizes(w["grouped"]) == {"x_padded": 4 * 64, "wg": 8 * 2 * 9, "g": 8 * 36}
    assert sizes(w["depthwise"]) == {"g": 8 * 36, "wd": 8 * 9, "y": 8 * 4}
    hand = bs.einsum("O[g,k,q,p] += I[g,c,q+s,p+r] * W[g,k,c,s,r]",
                     g=2, k=4, c=2, q=6, p=6, s=3, r=3)
    assert frontier(w["grouped"]) == frontier(hand)
    # the grouped conv writes its output with a group rank: the depthwise conv reads it by group
    assert len(w["grouped"].output.axes) == 4 and "g" in w["grouped"].ranks


# --------------------------------------------------------------------------- transformer block

def test_transformer_macs_sizes_and_renamings():
    S, D, H, F = 8, 16, 2, 32
    dh = D // H
    w = bs.from_onnx(transformer(S, D, H, F), batch=1, seq=S)
    macs = {"proj_q": S * D * D, "proj_k": S * D * D, "proj_v": S * D * D,
            "qk": H * S * S * dh, "av": H * S * S * dh, "out_proj": S * D * D, "ffn1": S * D * F}
    for name, n in macs.items():
        assert w.layer(name).macs == n, name
    assert w.macs == sum(macs.values())
    passes = {"scale": "pass", "softmax_stats": "reduction", "softmax": "pass",
              "residual": "pass", "ln_stats": "reduction", "ln": "pass", "relu": "pass"}
    for name, kind in passes.items():
        assert (w.layer(name).kind, w.layer(name).macs) == (kind, 0)
    assert w.layer("softmax").node == "softmax" and w.layer("softmax_stats").node == "softmax"
    assert sizes(w["qk"]) == {"qp": S * D, "kp": S * D, "qk": H * S * S}
    assert sizes(w["softmax"]) == {"qks": H * S * S, "p_stats": H * S, "p": H * S * S}
    assert sizes(w["ln"]) == {"res": S * D, "ln_stats": S, "gamma": D, "beta": D, "ln": S * D}
    assert sizes(w["ffn1"]) == {"ln": S * D, "w1": F * D, "ff": S * F}
    assert sizes(w["scale"]) == {"qk": H * S * S, "qks": H * S * S}   # the scalar is an immediate
    assert {op for _, op in w.renamed} == {"Reshape", "Transpose", "Flatten"}
    assert len(w.renamed) == 9
    # renamings are not Einsums; their values map to the tensor they rename
    assert w.tensor_of("kt") == "kp" and w.tensor_of("avm") == "av" and w.tensor_of("tokens") == "ln"
    # the projection writes heads: Q[m, h, e] with the head split made by the Reshape
    assert [a.extent(w["proj_q"].size) for a in w["proj_q"].output.axes] == [S, H, dh]
    # QKᵀ's two token ranks get different names though both come from x's token axis
    assert len(set(w["qk"].output.ranks)) == 3
    # writers and readers share rank names: Q, K, V are written with one head rank, and QKᵀ
    # and AV read K and V through the names their projections wrote (fusable over heads)
    head = w["proj_q"].output.ranks[1]
    assert w["proj_k"].output.ranks[1] == w["proj_v"].output.ranks[1] == head
    assert w["qk"].tensor("kp").ranks[1] == w["av"].tensor("vp").ranks[1] == head
    assert w["softmax"].output.ranks == w["qk"].output.ranks


def test_transformer_frontiers_equal_hand_built():
    S, D, H, F = 8, 16, 2, 32
    w = bs.from_onnx(transformer(S, D, H, F), batch=1, seq=S)
    assert frontier(w["qk"]) == frontier(bs.bmm(S, D // H, S, H))
    assert frontier(w["av"]) == frontier(bs.bmm(S, S, D // H, H))
    assert frontier(w["ffn1"]) == frontier(bs.gemm(S, D, F))
    assert frontier(w["proj_q"]) == frontier(bs.einsum("Z[m,h,e] += A[m,d] * B[d,h,e]",
                                                       m=S, d=D, h=H, e=D // H))
    assert frontier(w["out_proj"]) == frontier(bs.einsum("Z[m,g] += A[h,m,e] * B[h,e,g]",
                                                         m=S, h=H, e=D // H, g=D))


def test_einsums_print_as_strings_einsum_reads_back():
    w = bs.from_onnx(transformer(), batch=1, seq=8)
    for e in w.einsums:
        again = bs.einsum(str(e), e.name, **e.size)
        assert again.size == e.size and str(again) == str(e)


def test_batched_matmul_broadcasts():
    nodes = [helper.make_node("MatMul", ["a", "b"], ["y"], name="bmm")]
    m = model(nodes, [io("a", [3, 4, 5, 6]), io("b", [4, 6, 7])], [io("y", [3, 4, 5, 7])], [])
    w = bs.from_onnx(m)
    assert w.macs == 3 * 4 * 5 * 6 * 7
    assert sizes(w["bmm"]) == {"a": 3 * 4 * 5 * 6, "b": 4 * 6 * 7, "y": 3 * 4 * 5 * 7}


# --------------------------------------------------------------------------------- bad input

def test_symbolic_dims_resolved_by_dims_or_named_in_the_error():
    assert bs.from_onnx(bottleneck(), N=2).layer("conv1").macs == 2 * 8 * 8 * 8 * 16
    with pytest.raises(bs.OnnxError, match=r"node 'conv1' \(Conv\).*'N'.*N=N"):
        bs.from_onnx(bottleneck())
    with pytest.raises(bs.OnnxError, match=r"no symbolic dimension named 'batch'.*N"):
        bs.from_onnx(bottleneck(), batch=1)


def test_corrupt_file_and_bytes(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07this is not a protobuf\xff\xff\xff")
    with pytest.raises(bs.OnnxError, match="not an ONNX model"):
        bs.from_onnx(bad)
    with pytest.raises(bs.OnnxError, match="not an ONNX model"):
        bs.from_onnx(b"\x00\x01garbage")
    with pytest.raises(bs.OnnxError, match="no ONNX file"):
        bs.from_onnx(tmp_path / "missing.onnx")
    good = tmp_path / "good.onnx"
    onnx.save(bottleneck(), good)
    assert bs.from_onnx(good, N=1).macs == bs.from_onnx(bottleneck(), N=1).macs
    assert bs.from_onnx(bottleneck().SerializeToString(), N=1).names[0] == "conv1"


def unknown_ops():
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="r0"),
             helper.make_node("TopK", ["r", "k"], ["t", "i"], name="topk1", axis=-1),
             helper.make_node("Foo", ["t"], ["f"], name="foo1", domain="my.ops"),
             helper.make_node("Relu", ["f"], ["y"], name="r1")]
    m = model(nodes, [io("x", [4, 8])], [io("y", [4, 2])], [ints("k", [2])],
              opset=[*OPSET, helper.make_opsetid("my.ops", 1)])
    m.graph.value_info.append(io("f", [4, 2]))   # no shape inference for a custom op
    return m


def test_unknown_op_listed_by_name_and_type():
    with pytest.raises(bs.OnnxError, match=r"2 unsupported node\(s\): 'topk1' \(TopK\); "
                                           r"'foo1' \(Foo\)"):
        bs.from_onnx(unknown_ops())


def test_unknown_op_skipped_only_when_asked_and_reported():
    with pytest.warns(UserWarning) as warned:
        w = bs.from_onnx(unknown_ops(), skip_unsupported=True)
    assert ["topk1" in str(r.message) for r in warned] == [True, False]
    assert "foo1" in str(warned[1].message)
    assert [(s.node, s.op_type) for s in w.skipped] == [("topk1", "TopK"), ("foo1", "Foo")]
    assert w.names == ("r0", "r1")
    assert w.inputs == ("x", "f")          # the skipped node's output is read from DRAM
    assert w.tensor_size("f") == 4 * 2


def test_shape_mismatch_names_the_node():
    nodes = [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm_bad")]
    m = model(nodes, [io("x", [4, 8])], [io("y", [4, 5])], [weight("w", [6, 5])])
    with pytest.raises(bs.OnnxError, match="MatMul, node name: mm_bad"):
        bs.from_onnx(m)
    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], name="conv_bad", kernel_shape=[3, 3])]
    m = model(nodes, [io("x", [1, 4, 6, 6])], [io("y", [1, 8, 4, 4])], [weight("w", [8, 3, 3, 3])])
    with pytest.raises(bs.OnnxError, match="conv_bad"):
        bs.from_onnx(m)


def test_reshape_that_is_not_a_renaming_is_an_error():
    nodes = [helper.make_node("Reshape", ["x", "s"], ["r"], name="mix"),
             helper.make_node("Relu", ["r"], ["y"], name="relu")]
    m = model(nodes, [io("x", [6, 4])], [io("y", [4, 6])], [ints("s", [4, 6])])
    with pytest.raises(bs.OnnxError, match=r"node 'mix' \(Reshape\).*not a renaming"):
        bs.from_onnx(m)


def test_import_boundsolver_does_not_import_onnx():
    code = "import sys, boundsolver; print('onnx' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_pooling_and_reductions_are_passes():
    nodes = [helper.make_node("MaxPool", ["x"], ["m"], name="pool", kernel_shape=[2, 2],
                              strides=[2, 2]),
             helper.make_node("ReduceMean", ["m"], ["y"], name="mean", axes=[2, 3], keepdims=0)]
    m = model(nodes, [io("x", [1, 4, 8, 8])], [io("y", [1, 4])], [],
              opset=[helper.make_opsetid("", 13)])
    w = bs.from_onnx(m)
    assert w.macs == 0 and {lay.kind for lay in w.layers} == {"reduction"}
    assert sizes(w["pool"]) == {"x": 4 * 64, "m": 4 * 16}
    assert sizes(w["mean"]) == {"m": 4 * 16, "y": 4}


def test_more_shapes_of_the_same_ops():
    """Gemm with transA and a bias, MatMul with a 1-D operand, Mul(x, x), a SAME-padded conv
    (auto_pad), Flatten into a Gemm; a tensor read twice through different dims is an error."""
    nodes = [helper.make_node("Gemm", ["a", "b", "c"], ["g"], name="gemm", transA=1),
             helper.make_node("MatMul", ["g", "v"], ["mv"], name="matvec"),
             helper.make_node("Mul", ["mv", "mv"], ["sq"], name="square")]
    m = model(nodes, [io("a", [5, 3])], [io("sq", [3])],
              [weight("b", [5, 4]), weight("c", [4]), weight("v", [4])])
    w = bs.from_onnx(m)
    assert (w.layer("gemm").macs, w.layer("matvec").macs, w.layer("square").macs) == (60, 12, 0)
    assert sizes(w["gemm"]) == {"a": 15, "b": 20, "g_mac": 12}
    assert sizes(w["gemm_bias"]) == {"g_mac": 12, "c": 4, "g": 12}
    assert w.layer("gemm_bias").macs == 0
    assert sizes(w["square"]) == {"mv": 3, "sq": 3}
    assert frontier(w["gemm"]) == frontier(bs.einsum("Z[m,n] += A[k,m] * B[k,n]", m=3, k=5, n=4))
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="same", kernel_shape=[3, 3],
                              strides=[2, 2], auto_pad="SAME_UPPER"),
             helper.make_node("Flatten", ["c"], ["f"], name="flat", axis=1),
             helper.make_node("Gemm", ["f", "fc"], ["y"], name="fc", transB=1)]
    m = model(nodes, [io("x", [1, 2, 7, 7])], [io("y", [1, 10])],
              [weight("w", [4, 2, 3, 3]), weight("fc", [10, 64])])
    w = bs.from_onnx(m)
    assert w.layer("same").macs == 4 * 4 * 4 * 2 * 9 and w.layer("fc").macs == 64 * 10
    assert sizes(w["same"])["x_padded"] == 2 * 9 * 9       # (4-1)*2 + 3 = 9: one zero each side
    assert w.layer("same").padding_words == 2 * (81 - 49)
    assert w.renamed == (("flat", "Flatten"),)
    nodes = [helper.make_node("Transpose", ["x"], ["xt"], name="t"),
             helper.make_node("MatMul", ["x", "xt"], ["y"], name="gram")]
    m = model(nodes, [io("x", [3, 4])], [io("y", [3, 3])], [])
    with pytest.raises(bs.OnnxError, match=r"node 'gram' \(MatMul\): reads tensor x twice"):
        bs.from_onnx(m)


def test_mul_add_normalisation_node_by_node():
    """An RMSNorm as an exporter writes it (opset 18: ReduceMean's axes are an input)."""
    S, D = 8, 16
    nodes = [helper.make_node("Pow", ["x", "two"], ["sq"], name="pow"),
             helper.make_node("ReduceMean", ["sq", "last"], ["ms"], name="mean", keepdims=1),
             helper.make_node("Add", ["ms", "eps"], ["mse"], name="add_eps"),
             helper.make_node("Sqrt", ["mse"], ["rms"], name="sqrt"),
             helper.make_node("Div", ["x", "rms"], ["xn"], name="div"),
             helper.make_node("Mul", ["xn", "gamma"], ["y"], name="scale")]
    inits = [numpy_helper.from_array(np.array(2.0, np.float32), "two"), ints("last", [-1]),
             numpy_helper.from_array(np.array(1e-6, np.float32), "eps"), weight("gamma", [D])]
    m = model(nodes, [io("x", [S, D])], [io("y", [S, D])], inits,
              opset=[helper.make_opsetid("", 18)])
    w = bs.from_onnx(m)
    assert w.macs == 0
    assert [lay.kind for lay in w.layers] == ["pass", "reduction", "pass", "pass", "pass", "pass"]
    assert sizes(w["mean"]) == {"sq": S * D, "ms": S}
    assert sizes(w["add_eps"]) == {"ms": S, "mse": S}           # eps is an immediate
    assert sizes(w["div"]) == {"x": S * D, "rms": S, "xn": S * D}
    assert sizes(w["scale"]) == {"xn": S * D, "gamma": D, "y": S * D}
    assert w.intermediates == ("sq", "ms", "mse", "rms", "xn")


def test_shape_computations_are_folded_and_listed():
    """A Reshape whose target comes from Shape -> Gather -> Concat (an older torch export):
    those nodes compute shapes only, so they are folded (listed in skipped), not unsupported."""
    nodes = [helper.make_node("Shape", ["x"], ["shp"], name="shape"),
             helper.make_node("Gather", ["shp", "zero"], ["b"], name="batch", axis=0),
             helper.make_node("Unsqueeze", ["b", "axes0"], ["b1"], name="unsq"),
             helper.make_node("Concat", ["b1", "minus1"], ["target"], name="cat", axis=0),
             helper.make_node("Reshape", ["x", "target"], ["flat"], name="flatten"),
             helper.make_node("MatMul", ["flat", "w"], ["y"], name="fc")]
    inits = [ints("zero", 0), ints("axes0", [0]), ints("minus1", [-1]), weight("w", [12, 5])]
    m = model(nodes, [io("x", [2, 3, 4])], [io("y", [2, 5])], inits)
    w = bs.from_onnx(m)
    assert w.names == ("fc",) and w.macs == 2 * 12 * 5
    assert [(s.node, s.reason.split(":")[0]) for s in w.skipped] == [
        ("shape", "folded"), ("batch", "folded"), ("unsq", "folded"), ("cat", "folded")]
    assert w.renamed == (("flatten", "Reshape"),)
    assert sizes(w["fc"]) == {"x": 24, "w": 60, "y": 10}


def test_grouped_query_attention_broadcast_equals_gbmm():
    """K shared by the R query heads of each of G groups: a size-1 dim broadcast by MatMul is a
    rank K does not have, as in bs.gbmm."""
    G, R, S, E = 2, 2, 4, 4
    nodes = [helper.make_node("MatMul", ["q", "kt"], ["s"], name="qk_gqa")]
    m = model(nodes, [io("q", [G, R, S, E]), io("kt", [G, 1, E, S])], [io("s", [G, R, S, S])], [])
    w = bs.from_onnx(m)
    assert w.macs == G * R * S * S * E
    assert sizes(w["qk_gqa"]) == {"q": G * R * S * E, "kt": G * E * S, "s": G * R * S * S}
    assert frontier(w["qk_gqa"]) == frontier(bs.gbmm(S, E, S, G * R, G))
