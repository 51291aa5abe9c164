"""ONNX ops that move parts of tensors (Concat, Split, Slice, Gather, Pad), broadcasts (Expand,
Tile), LRN, Resize, Einsum nodes, unused outputs, shape arithmetic, and the onnx package's nine
model-zoo graphs. Counts are written by hand or computed here from the graph, not by the
importer."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest

import boundsolver as bs

onnx = pytest.importorskip("onnx")
np = pytest.importorskip("numpy")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

OPSET = [helper.make_opsetid("", 17)]
ZOO = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"
MODELS = ["bvlc_alexnet", "densenet121", "inception_v1", "inception_v2", "resnet50",
          "shufflenet", "squeezenet", "vgg19", "zfnet512"]


def weight(name, shape):
    return numpy_helper.from_array(np.zeros(shape, np.float32), name)


def ints(name, values):
    return numpy_helper.from_array(np.array(values, np.int64), name)


def model(nodes, inputs, outputs, inits, opset=OPSET):
    return helper.make_model(helper.make_graph(nodes, "g", inputs, outputs, inits),
                             opset_imports=opset)


def io(name, shape, dtype=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, dtype, shape)


def frontier(problem):
    f = bs.pareto_frontier(problem)
    return list(zip(f.occupancy.tolist(), f.accesses.tolist()))


def sizes(einsum):
    return {T.name: einsum.tensor_size(T) for T in einsum.tensors}


# ------------------------------------------------------------------------- the model zoo

def independent_macs(path: Path) -> int:
    """MACs of Conv and Gemm nodes from ONNX's own shape inference and the nodes' attributes:
    Conv: every output element times C/group times the kernel; Gemm: M·N·K."""
    m = onnx.shape_inference.infer_shapes(onnx.load(str(path)))
    shape = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
             for v in [*m.graph.input, *m.graph.value_info, *m.graph.output]}
    total = 0
    for n in m.graph.node:
        attr = {a.name: helper.get_attribute_value(a) for a in n.attribute}
        if n.op_type == "Conv":
            cin = shape[n.input[0]][1]
            total += (math.prod(shape[n.output[0]]) * cin // attr.get("group", 1)
                      * math.prod(attr["kernel_shape"]))
        elif n.op_type == "Gemm":
            a = shape[n.input[0]]
            total += math.prod(shape[n.output[0]]) * (a[0] if attr.get("transA") else a[1])
        else:
            assert n.op_type != "MatMul"
    return total


@pytest.mark.parametrize("name", MODELS)
def test_zoo_graph_loads_with_exact_macs(name):
    path = ZOO / f"light_{name}.onnx"
    w = bs.from_onnx(path)            # no skip_unsupported
    assert not [s for s in w.skipped if not s.reason.startswith("folded")]
    assert w.macs == independent_macs(path)
    assert all((lay.macs > 0) == (lay.kind == "mac") for lay in w.layers)
    if name == "resnet50":
        assert w.macs == 4_089_184_256     # the published 4.1 GMACs (convs and the FC layer)


# ----------------------------------------------------------------------- parts: Concat

def test_concat_parts_written_and_the_union_read_from_the_backing_store():
    """Two 1x1 convs write a and b; their channel Concat is read by a third conv."""
    H, C, A, B, K = 4, 8, 6, 10, 5
    nodes = [helper.make_node("Conv", ["x", "wa"], ["a"], name="ca", kernel_shape=[1, 1]),
             helper.make_node("Conv", ["x", "wb"], ["b"], name="cb", kernel_shape=[1, 1]),
             helper.make_node("Concat", ["a", "b"], ["ab"], name="cat", axis=1),
             helper.make_node("Conv", ["ab", "wk"], ["y"], name="ck", kernel_shape=[1, 1])]
    m = model(nodes, [io("x", [1, C, H, H])], [io("y", [1, K, H, H])],
              [weight("wa", [A, C, 1, 1]), weight("wb", [B, C, 1, 1]),
               weight("wk", [K, A + B, 1, 1])])
    w = bs.from_onnx(m)
    assert w.names == ("ca", "cb", "ck")
    assert w.macs == H * H * C * (A + B) + H * H * (A + B) * K
    assert [(p.node, p.op_type, p.outputs, p.inputs) for p in w.parts] == [
        ("cat", "Concat", ("ab",), ("a", "b"))]
    assert set(w.outputs) >= {"a", "b"} and "ab" in w.inputs
    assert sizes(w["ck"]) == {"ab": (A + B) * H * H, "wk": K * (A + B), "y": K * H * H}
    assert frontier(w["ck"]) == frontier(bs.conv(P=H, Q=H, C=A + B, K=K))
    assert w.tensor_of("ab") == "ab"


def test_a_tensor_a_part_reads_is_written_back_even_when_fused():
    """``a`` feeds a Concat (read from the backing store) and a conv that may share its fused
    segment: the fused curve must still write ``a`` back once. Hand count with everything on
    chip: the inputs x, wa, wc, ab, wk read once, the outputs c and y written once, and a
    written once although an Einsum of its segment reads it."""
    H, C, A, K = 2, 2, 2, 2
    nodes = [helper.make_node("Conv", ["x", "wa"], ["a"], name="ca", kernel_shape=[1, 1]),
             helper.make_node("Conv", ["a", "wc"], ["c"], name="cc", kernel_shape=[1, 1]),
             helper.make_node("Concat", ["a", "x"], ["ab"], name="cat", axis=1),
             helper.make_node("Conv", ["ab", "wk"], ["y"], name="ck", kernel_shape=[1, 1])]
    m = model(nodes, [io("x", [1, C, H, H])], [io("c", [1, K, H, H]), io("y", [1, K, H, H])],
              [weight("wa", [A, C, 1, 1]), weight("wc", [K, A, 1, 1]),
               weight("wk", [K, A + C, 1, 1])])
    w = bs.from_onnx(m)
    assert w.stored == ("a",) and "a" not in w.outputs  # cc reads a: an intermediate
    words = {"x": C * H * H, "wa": A * C, "wc": K * A, "ab": (A + C) * H * H, "wk": K * (A + C),
             "c": K * H * H, "y": K * H * H, "a": A * H * H}
    assert w.algorithmic_minimum == sum(words.values())
    fused = bs.pareto_frontier(w, fusion=True)
    assert int(fused["accesses"].min()) == sum(words.values())
    # without the mark, fusing ca with cc keeps a on chip and the curve omits its write-back
    bare = dataclasses.replace(w, stored=())
    assert int(bs.pareto_frontier(bare, fusion=True)["accesses"].min()) == (
        sum(words.values()) - words["a"])


# ----------------------------------------------------------- Split, Gather: packed QKV

def packed_attention(split: bool, S=8, D=8):
    """One packed projection [S, 3D], then Q, K, V by a Split, or by a Reshape to [S, 3, D]
    and a Gather with a constant index per part; QKᵀ and AV."""
    nodes = [helper.make_node("MatMul", ["x", "wqkv"], ["qkv"], name="proj")]
    if split:
        nodes.append(helper.make_node("Split", ["qkv", "parts"], ["q", "k", "v"], name="split",
                                      axis=1))
        inits = [ints("parts", [D, D, D])]
    else:
        nodes.append(helper.make_node("Reshape", ["qkv", "s3"], ["qkv3"], name="heads"))
        nodes += [helper.make_node("Gather", ["qkv3", f"i{j}"], [t], name=f"g{t}", axis=1)
                  for j, t in enumerate("qkv")]
        inits = [ints("s3", [S, 3, D])] + [ints(f"i{j}", j) for j in range(3)]
    nodes += [helper.make_node("Transpose", ["k"], ["kt"], name="tk"),
              helper.make_node("MatMul", ["q", "kt"], ["s"], name="qk"),
              helper.make_node("Softmax", ["s"], ["p"], name="softmax", axis=-1),
              helper.make_node("MatMul", ["p", "v"], ["y"], name="av")]
    return model(nodes, [io("x", [S, D])], [io("y", [S, D])],
                 [weight("wqkv", [D, 3 * D]), *inits])


@pytest.mark.parametrize("split", [True, False])
def test_packed_qkv_split_or_gathered(split):
    S, D = 8, 8
    w = bs.from_onnx(packed_attention(split, S, D))
    assert w.macs == S * D * 3 * D + S * S * D + S * S * D
    part = w.parts if split else w.parts[:1]
    assert part[0].op_type == ("Split" if split else "Gather")
    assert part[0].inputs == ("qkv",)
    assert len(w.parts) == (1 if split else 3)
    assert sizes(w["proj"]) == {"x": S * D, "wqkv": 3 * D * D, "qkv": 3 * S * D}
    assert sizes(w["qk"]) == {"q": S * D, "k": S * D, "s": S * S}
    assert frontier(w["qk"]) == frontier(bs.einsum("Z[m,n] += A[m,e] * B[n,e]", m=S, n=S, e=D))
    assert frontier(w["av"]) == frontier(bs.einsum("Z[m,e] += A[m,n] * B[n,e]", m=S, n=S, e=D))


# ------------------------------------------------------------ Slice and Concat: rotary

def test_rotary_slices_and_concat():
    """rotate_half as exporters write it: two Slices, Neg, Concat, then x*cos + rot*sin."""
    S, D = 8, 16
    nodes = [helper.make_node("Slice", ["x", "z", "h", "last"], ["x1"], name="s1"),
             helper.make_node("Slice", ["x", "h", "e", "last"], ["x2"], name="s2"),
             helper.make_node("Neg", ["x2"], ["nx2"], name="neg"),
             helper.make_node("Concat", ["nx2", "x1"], ["rot"], name="cat", axis=-1),
             helper.make_node("Mul", ["x", "cos"], ["xc"], name="mulc"),
             helper.make_node("Mul", ["rot", "sin"], ["rs"], name="muls"),
             helper.make_node("Add", ["xc", "rs"], ["y"], name="add")]
    inits = [ints("z", [0]), ints("h", [D // 2]), ints("e", [D]), ints("last", [1]),
             weight("cos", [S, D]), weight("sin", [S, D])]
    w = bs.from_onnx(model(nodes, [io("x", [S, D])], [io("y", [S, D])], inits))
    assert w.names == ("neg", "mulc", "muls", "add") and w.macs == 0
    assert [(p.op_type, p.outputs, p.inputs) for p in w.parts] == [
        ("Slice", ("x1",), ("x",)), ("Slice", ("x2",), ("x",)), ("Concat", ("rot",), ("nx2", "x1"))]
    assert sizes(w["neg"]) == {"x2": S * D // 2, "nx2": S * D // 2}
    assert sizes(w["muls"]) == {"rot": S * D, "sin": S * D, "rs": S * D}
    assert "nx2" in w.outputs      # a part is written to the backing store


def test_embedding_gather_reads_the_selected_rows():
    V, S, D, F = 1000, 8, 16, 32
    nodes = [helper.make_node("Gather", ["table", "ids"], ["emb"], name="embed", axis=0),
             helper.make_node("MatMul", ["emb", "w"], ["y"], name="fc")]
    m = model(nodes, [io("ids", [S], TensorProto.INT64)], [io("y", [S, F])],
              [weight("table", [V, D]), weight("w", [D, F])])
    w = bs.from_onnx(m)
    assert w.macs == S * D * F
    assert w.parts[0].op_type == "Gather" and w.parts[0].inputs == ("ids",)
    assert sizes(w["fc"]) == {"emb": S * D, "w": D * F, "y": S * F}   # S rows, not V


def test_data_dependent_gather_is_an_error():
    nodes = [helper.make_node("Gather", ["x", "ids"], ["g"], name="gat", axis=0),
             helper.make_node("Relu", ["g"], ["y"], name="relu")]
    m = model(nodes, [io("x", [6, 4]), io("ids", [3], TensorProto.INT64)], [io("y", [3, 4])], [])
    with pytest.raises(bs.OnnxError, match=r"node 'gat' \(Gather\).*data-dependent"):
        bs.from_onnx(m)


def test_pad_is_a_part_with_its_zeros_counted():
    nodes = [helper.make_node("Pad", ["x", "pads"], ["xp"], name="pad"),
             helper.make_node("Conv", ["xp", "w"], ["y"], name="conv", kernel_shape=[3, 3])]
    m = model(nodes, [io("x", [1, 2, 6, 6])], [io("y", [1, 4, 6, 6])],
              [ints("pads", [0, 0, 1, 1, 0, 0, 1, 1]), weight("w", [4, 2, 3, 3])])
    w = bs.from_onnx(m)
    assert w.parts[0].padding_words == 2 * (64 - 36)
    assert sizes(w["conv"]) == {"xp": 2 * 64, "w": 4 * 2 * 9, "y": 4 * 36}
    assert frontier(w["conv"]) == frontier(bs.conv(R=3, S=3, P=6, Q=6, C=2, K=4))


# ------------------------------------------------------------------ broadcasts: GQA

@pytest.mark.parametrize("op", ["Expand", "Tile"])
def test_grouped_query_heads_expanded_are_read_once(op):
    """K of G kv-heads repeated R times (Unsqueeze, Expand or Tile, Reshape), as exporters
    write grouped-query attention: QKᵀ equals bs.gbmm, K read once per group, never copied."""
    G, R, S, E = 2, 3, 4, 4
    rep = ([G, R, S, E], "shape") if op == "Expand" else ([1, R, 1, 1], "shape")
    nodes = [helper.make_node("Unsqueeze", ["k", "ax1"], ["k1"], name="unsq"),
             helper.make_node(op, ["k1", "shape"], ["kr"], name="rep"),
             helper.make_node("Reshape", ["kr", "heads"], ["kh"], name="merge"),
             helper.make_node("Transpose", ["kh"], ["kt"], name="tk", perm=[0, 2, 1]),
             helper.make_node("MatMul", ["q", "kt"], ["s"], name="qk")]
    m = model(nodes, [io("q", [G * R, S, E]), io("k", [G, S, E])], [io("s", [G * R, S, S])],
              [ints("ax1", [1]), ints(rep[1], rep[0]), ints("heads", [G * R, S, E])])
    w = bs.from_onnx(m)
    assert w.names == ("qk",) and w.macs == G * R * S * S * E
    assert (("rep", op) in w.renamed)
    assert sizes(w["qk"]) == {"q": G * R * S * E, "k": G * S * E, "s": G * R * S * S}
    assert frontier(w["qk"]) == frontier(bs.gbmm(S, E, S, G * R, G))


# ------------------------------------------------------------------- LRN, Resize, Einsum

def test_lrn_is_a_window_over_channels():
    C, H, n = 6, 4, 5
    nodes = [helper.make_node("LRN", ["x"], ["y"], name="lrn", size=n)]
    w = bs.from_onnx(model(nodes, [io("x", [1, C, H, H])], [io("y", [1, C, H, H])], []))
    assert w.macs == 0 and w.layer("lrn").kind == "pass"
    assert sizes(w["lrn"]) == {"x_padded": (C + n - 1) * H * H, "y": C * H * H}
    assert w.layer("lrn").padding_words == (n - 1) * H * H
    hand = bs.einsum("Y[c,q,p] += X[c+t,q,p]", c=C, t=n, q=H, p=H)
    assert frontier(w["lrn"]) == frontier(hand)


def test_resize_nearest_upsampling():
    nodes = [helper.make_node("Resize", ["x", "", "scales"], ["y"], name="up", mode="nearest")]
    m = model(nodes, [io("x", [1, 3, 4, 4])], [io("y", [1, 3, 8, 8])],
              [numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")])
    w = bs.from_onnx(m)
    assert sizes(w["up"]) == {"x": 3 * 16, "y": 3 * 64} and w.macs == 0
    out, ins = bs.model.einsum.parse("Y[c,h,i,v,j] += X[c,h,v]")  # i, j: output-only ranks
    hand = bs.model.einsum.Einsum(out, ins, (("c", 3), ("h", 4), ("i", 2), ("v", 4), ("j", 2)))
    assert frontier(w["up"]) == frontier(hand)
    nodes = [helper.make_node("Resize", ["x", "", "scales"], ["y"], name="up", mode="linear")]
    m = model(nodes, [io("x", [1, 3, 4, 4])], [io("y", [1, 3, 8, 8])],
              [numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")])
    with pytest.raises(bs.OnnxError, match=r"node 'up' \(Resize\): only nearest"):
        bs.from_onnx(m)


def test_einsum_node():
    Hh, S, E = 2, 4, 8
    nodes = [helper.make_node("Einsum", ["q", "k"], ["s"], name="qk",
                              equation="hqd,hkd->hqk"),
             helper.make_node("Einsum", ["s"], ["r"], name="rowsum", equation="hqk->hq")]
    m = model(nodes, [io("q", [Hh, S, E]), io("k", [Hh, S, E])], [io("r", [Hh, S])], [])
    w = bs.from_onnx(m)
    assert w.layer("qk").macs == Hh * S * S * E and w.macs == Hh * S * S * E
    assert w.layer("rowsum").kind == "reduction"
    assert frontier(w["qk"]) == frontier(bs.bmm(S, E, S, Hh))
    bad = [helper.make_node("Einsum", ["q", "k"], ["s"], name="ell", equation="...d,...d->...")]
    m = model(bad, [io("q", [Hh, S, E]), io("k", [Hh, S, E])], [io("s", [Hh, S])], [])
    with pytest.raises(bs.OnnxError, match=r"node 'ell' \(Einsum\).*ellipsis"):
        bs.from_onnx(m)


# ------------------------------------------------------ unused outputs, shape arithmetic

def test_dropout_mask_unused_is_fine_read_is_an_error():
    nodes = [helper.make_node("Dropout", ["x"], ["d", "mask"], name="drop"),
             helper.make_node("Relu", ["d"], ["y"], name="relu")]
    w = bs.from_onnx(model(nodes, [io("x", [4, 4])], [io("y", [4, 4])], []))
    assert w.renamed == (("drop", "Dropout"),) and w.names == ("relu",)
    nodes.append(helper.make_node("Cast", ["mask"], ["mf"], name="cast", to=TensorProto.FLOAT))
    m = model(nodes, [io("x", [4, 4])], [io("y", [4, 4]), io("mf", [4, 4])], [])
    with pytest.raises(bs.OnnxError, match=r"node 'drop' \(Dropout\): the dropout mask"):
        bs.from_onnx(m)


def test_range_and_constant_of_shape_fold():
    """A causal mask built from Shape, Range, ConstantOfShape and Trilu computes constants
    only: folded; the Where that applies it to the scores is a pass."""
    S = 4
    nodes = [helper.make_node("Shape", ["x"], ["shp"], name="shape"),
             helper.make_node("ConstantOfShape", ["shp"], ["ones"], name="cos",
                              value=numpy_helper.from_array(np.array([1.0], np.float32))),
             helper.make_node("Trilu", ["ones"], ["tri"], name="tri", upper=0),
             helper.make_node("Cast", ["tri"], ["mask"], name="cast", to=TensorProto.BOOL),
             helper.make_node("Range", ["zero", "four", "one"], ["pos"], name="range"),
             helper.make_node("Where", ["mask", "x", "ninf"], ["y"], name="apply")]
    inits = [numpy_helper.from_array(np.array(v, np.int64), n)
             for n, v in (("zero", 0), ("four", S), ("one", 1))]
    inits.append(numpy_helper.from_array(np.array(-1e9, np.float32), "ninf"))
    m = model(nodes, [io("x", [S, S])], [io("y", [S, S]), io("pos", [S], TensorProto.INT64)],
              inits)
    w = bs.from_onnx(m)
    assert w.names == ("apply",)
    assert {s.node for s in w.skipped} == {"shape", "cos", "tri", "cast", "range"}
    assert sizes(w["apply"]) == {"mask": S * S, "x": S * S, "y": S * S}


def test_channel_shuffle_then_grouped_conv_reads_a_reordered_copy():
    """ShuffleNet: Reshape to (g, c/g), Transpose, Reshape back mixes channels; a grouped conv
    after it cannot read them rank by rank, so it reads a reordered tensor of its own."""
    C, G, H = 6, 2, 4       # channels (2, 3) shuffled to (3, 2): 2 and 3 do not match
    nodes = [helper.make_node("Reshape", ["x", "s5"], ["x5"], name="r1"),
             helper.make_node("Transpose", ["x5"], ["x5t"], name="t", perm=[0, 2, 1, 3, 4]),
             helper.make_node("Reshape", ["x5t", "s4"], ["xs"], name="r2"),
             helper.make_node("Conv", ["xs", "w"], ["y"], name="gconv", kernel_shape=[1, 1],
                              group=G)]
    pre = [helper.make_node("Relu", ["x0"], ["x"], name="relu")]
    m = model(pre + nodes, [io("x0", [1, C, H, H])], [io("y", [1, C, H, H])],
              [ints("s5", [1, G, C // G, H, H]), ints("s4", [1, C, H, H]),
               weight("w", [C, C // G, 1, 1])])
    w = bs.from_onnx(m)
    assert w.layer("gconv").macs == C * (C // G) * H * H
    assert [(p.op_type, p.inputs) for p in w.parts] == [("Reorder", ("x",))]
    assert sizes(w["gconv"]) == {"xs_reordered": C * H * H, "w": C * C // G, "y": C * H * H}


# ------------------------------------------- exporter-shaped BERT layer and Llama block

def _benchmark_builders():
    import importlib.util
    path = Path(__file__).parent.parent / "benchmarks" / "onnx_models.py"
    spec = importlib.util.spec_from_file_location("onnx_models_bench", path)
    mod = importlib.util.module_from_spec(spec)
    import sys
    sys.path.insert(0, str(path.parent))      # it imports benchmarks/common.py
    try:
        spec.loader.exec_module(mod)
    finally:
        sys.path.remove(str(path.parent))
    return mod


def test_bert_layer_and_llama_block_as_exporters_shape_them():
    """benchmarks/onnx_models.py's graphs (packed QKV + Gather; rotary Slice/Concat, GQA
    Expand, RMSNorm written out): MACs counted by hand, projection by projection."""
    m = _benchmark_builders()
    S, D, F = 128, 768, 3072
    bert = bs.from_onnx(m.bert_layer(S=S, D=D, H=12, F=F))
    assert bert.macs == S * D * 3 * D + 2 * S * S * D + S * D * D + 2 * S * D * F
    assert [p.op_type for p in bert.parts] == ["Gather"] * 3
    S, D, H, KV, F = 64, 256, 8, 2, 512
    dh = D // H
    llama = bs.from_onnx(m.llama_block(S=S, D=D, H=H, KV=KV, F=F))
    assert llama.macs == (2 * S * D * D + 2 * S * D * KV * dh + 2 * H * S * S * dh
                          + 3 * S * D * F)
    assert sorted({p.op_type for p in llama.parts}) == ["Concat", "Slice"]
    # K is read by QKᵀ once per kv-head: KV·S·dh words, not H·S·dh
    assert sizes(llama["qk"])["k_rope_out"] == KV * S * dh
    resnet = bs.from_onnx(m.resnet18())
    assert resnet.macs == 1_814_073_344     # torchvision's ResNet-18: 1.81 GMACs
