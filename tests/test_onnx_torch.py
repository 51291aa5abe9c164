"""Graphs that torch.onnx really exports (tests/data/onnx_torch, made by make.py there with torch
2.14.1: the TorchScript exporter at opset 17, ``.ts17``, and the dynamo exporter at opset 18,
``.dy18``; weights stripped to their shapes). torch is not needed here.

Their MACs are compared with an independent count: torch's own
``torch.utils.flop_counter.FlopCounterMode`` on the same modules (MACs = FLOPs / 2), per aten op,
recorded below. And the rules these graphs needed (shape arithmetic folded, stripped weights)
each get a small graph built with onnx.helper and counted by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

import boundsolver as bs

onnx = pytest.importorskip("onnx")
np = pytest.importorskip("numpy")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

DATA = Path(__file__).parent / "data" / "onnx_torch"
OPSET = [helper.make_opsetid("", 17)]

# MACs per aten op from FlopCounterMode (FLOPs / 2), batch 1, the same modules and inputs as
# make.py exports; produced by
#   /tmp/torch-venv/bin/python tests/data/onnx_torch/make.py --flops
# (torch 2.14.1, CPU; the MHA fast path off and SDPA on its math backend, so that attention's
# two matmuls are counted as bmm: the fused kernels count 0). convolution: Conv; addmm/mm:
# Linear (a Gemm or a MatMul with a weight); bmm: attention's QKᵀ and AV (both operands computed).
TORCH_MACS = {
    "resnet18": {"convolution": 1_813_561_344, "linear": 512_000},
    "mobilenet_v2": {"convolution": 299_494_272, "linear": 1_280_000},
    "vit_b_16": {"convolution": 115_605_504, "linear": 16_732_895_232, "bmm": 715_327_488},
    "encoder_small": {"linear": 524_288, "bmm": 32_768},
    "encoder_base": {"linear": 905_969_664, "bmm": 25_165_824},
    "gpt2_block": {"linear": 905_969_664, "bmm": 25_165_824},
    "sdpa_causal": {"linear": 262_144, "bmm": 32_768},     # is_causal: the full QKᵀ, both
    "llama_block": {"linear": 22_548_578_304, "bmm": 1_073_741_824},
    "tcn": {"convolution": 50_331_648, "linear": 32_768_000},
    "gpt2_tiny_dynamic": {"linear": 786_432, "bmm": 32_768},          # at batch 1, seq 16
}
# exported with symbolic dims (dynamic_axes; dynamo's dynamic_shapes names only seq)
DIMS = {"gpt2_tiny_dynamic.ts17.onnx": {"batch": 1, "seq": 16},
        "gpt2_tiny_dynamic.dy18.onnx": {"seq": 16}}
FILES = sorted(p.name for p in DATA.glob("*.onnx"))


def test_every_model_is_there_from_both_exporters():
    assert FILES == sorted(f"{m}.{e}.onnx" for m in TORCH_MACS for e in ("ts17", "dy18"))


def _weights(path: Path, w) -> set[str]:
    """Workload tensors that hold an initializer or a Constant's value (a layer's weight)."""
    m = onnx.load(str(path))
    names = dict(w.tensor_names)
    consts = [i.name for i in m.graph.initializer]
    consts += [o for n in m.graph.node if n.op_type == "Constant" for o in n.output]
    return {names[c] for c in consts if c in names}


def _by_op(path: Path) -> dict[str, int]:
    """Our MACs split as FlopCounterMode splits them."""
    w = bs.from_onnx(path, **DIMS.get(path.name, {}))
    weights = _weights(path, w)
    out: dict[str, int] = {}
    for lay in w.layers:
        if lay.kind != "mac":
            assert lay.macs == 0
            continue
        if lay.op_type == "Conv":
            key = "convolution"
        else:
            key = "linear" if {t.name for t in w[lay.einsum].inputs} & weights else "bmm"
        out[key] = out.get(key, 0) + lay.macs
    return out


@pytest.mark.parametrize("name", FILES)
def test_torch_export_loads_with_torchs_mac_count(name):
    w = bs.from_onnx(DATA / name, **DIMS.get(name, {}))          # no skip_unsupported
    assert not [s for s in w.skipped if not s.reason.startswith("folded")]
    model = name.split(".")[0]
    assert w.macs == sum(TORCH_MACS[model].values())
    assert _by_op(DATA / name) == TORCH_MACS[model]


@pytest.mark.parametrize("name", sorted(DIMS))
def test_dynamic_seq_is_fixed_by_dims_and_named_when_not(name):
    """The causal mask sliced to [:seq, :seq] (a Slice whose ends come from Shape) resolves once
    seq is fixed. At seq 32, by hand (d 64, 4 heads of 16): linear 32·(64·192 + 64·64 +
    2·64·256) = 1,572,864, attention 2·4·32·32·16 = 131,072."""
    with pytest.raises(bs.OnnxError, match=r"unresolved shape .*fix it with from_onnx\(.*seq=N"):
        bs.from_onnx(DATA / name)
    dims = dict(DIMS[name], seq=32)
    assert bs.from_onnx(DATA / name, **dims).macs == 1_572_864 + 131_072


@pytest.mark.parametrize("exporter", ["ts17", "dy18"])
def test_encoder_layer_selects_q_k_v_from_the_packed_projection(exporter):
    """nn.TransformerEncoderLayer projects Q, K, V in one matmul and Gathers each out of it."""
    w = bs.from_onnx(DATA / f"encoder_base.{exporter}.onnx")
    gathers = [p for p in w.parts if p.op_type == "Gather"]
    assert len(gathers) == 3 and len({p.inputs for p in gathers}) == 1
    qkv = gathers[0].inputs[0]
    writer = next(e for e in w.einsums if e.output.name == qkv)
    assert writer.tensor_size(writer.output) == 128 * 3 * 768
    sizes = {o: next(e.tensor_size(t) for e in w.einsums for t in e.inputs if t.name == o)
             for p in gathers for o in p.outputs}
    assert list(sizes.values()) == [128 * 768] * 3                 # each part: S·D words


@pytest.mark.parametrize("exporter", ["ts17", "dy18"])
def test_llama_grouped_query_k_and_v_are_read_once_per_kv_head(exporter):
    """repeat_interleave of 4 kv-heads to 32 heads is a Tile (TorchScript) or an Expand (dynamo):
    a broadcast read, so QKᵀ reads K's 4·512·64 words, not 32·512·64."""
    w = bs.from_onnx(DATA / f"llama_block.{exporter}.onnx")
    attn = [lay for lay in w.layers if lay.kind == "mac" and lay.macs == 32 * 512 * 512 * 64]
    assert len(attn) == 2                                          # QKᵀ and AV
    reads = [sorted(w[lay.einsum].tensor_size(t) for t in w[lay.einsum].inputs) for lay in attn]
    assert reads == [[4 * 512 * 64, 32 * 512 * 64], [4 * 512 * 64, 32 * 512 * 512]]
    renamed = {op for _, op in w.renamed}
    assert ("Tile" if exporter == "ts17" else "Expand") in renamed


def _frontier(problem):
    f = bs.pareto_frontier(problem)
    return list(zip(f.occupancy.tolist(), f.accesses.tolist()))


def _attention(path: Path, **dims):
    """The two MAC layers with no weight operand, in graph order: QKᵀ, then AV."""
    w = bs.from_onnx(path, **dims)
    weights = _weights(path, w)
    return w, [w[lay.einsum] for lay in w.layers if lay.kind == "mac"
               and not {t.name for t in w[lay.einsum].inputs} & weights]


@pytest.mark.parametrize("name", ["encoder_small.ts17", "encoder_small.dy18",
                                  "sdpa_causal.ts17", "sdpa_causal.dy18"])
def test_exported_attention_frontiers_equal_bmm(name):
    """However each exporter writes attention (MHA's Gather of a packed projection, or a
    Split and SDPA decomposed with a causal mask), QKᵀ and AV are per-head matmuls of 4 heads
    of 16 over 16 tokens: the frontiers of bs.bmm built by hand."""
    _, (qk, av) = _attention(DATA / f"{name}.onnx")
    assert _frontier(qk) == _frontier(bs.bmm(16, 16, 16, 4))
    assert _frontier(av) == _frontier(bs.bmm(16, 16, 16, 4))


@pytest.mark.parametrize("exporter", ["ts17", "dy18"])
def test_exported_grouped_query_attention_frontier_equals_gbmm(exporter):
    """The Llama block's QKᵀ: 32 query heads on 4 kv-heads, 512 tokens, head size 64."""
    _, (qk, _) = _attention(DATA / f"llama_block.{exporter}.onnx")
    assert _frontier(qk) == _frontier(bs.gbmm(512, 64, 512, 32, 4))


# --------------------------------------------------------------- the rules, counted by hand

def _io(name, shape, dtype=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, dtype, shape)


def _ints(name, values):
    return numpy_helper.from_array(np.array(values, np.int64), name)


def _mha_reshape_model(S=4, D=8):
    """The TorchScript exporter's reshape of a packed projection [S, 3D] (here a Relu's output,
    whose shape the graph does not declare) into [S, 3, D]
    (nn.MultiheadAttention's ``unflatten(-1, (3, D))``): the target is Shape[:a] ++ [3, D] ++
    Shape[a+1:] with the axis a = Mod(-1, 2) = 1, then a MatMul with a [D, 5] weight."""
    n = helper.make_node
    nodes = [
        n("Relu", ["x0"], ["x"], name="relu"),
        n("Shape", ["x"], ["shp"], name="shape"),
        n("Mod", ["minus1", "two"], ["dim"], name="mod"),
        n("Reshape", ["dim", "one1"], ["dim1"], name="dim1"),
        n("Slice", ["shp", "zero1", "dim1"], ["head"], name="head"),
        n("Add", ["dim", "one"], ["dimp1"], name="plus1"),
        n("Reshape", ["dimp1", "one1"], ["dimp1_1"], name="dimp1_1"),
        n("Slice", ["shp", "dimp1_1", "big"], ["tail"], name="tail"),
        n("Concat", ["head", "three_d", "tail"], ["target"], name="cat", axis=0),
        n("Reshape", ["x", "target"], ["x3"], name="unflatten"),
        n("MatMul", ["x3", "w"], ["y"], name="proj"),
    ]
    inits = [_ints("minus1", -1), _ints("two", 2), _ints("one", 1), _ints("one1", [1]),
             _ints("zero1", [0]), _ints("big", [2**63 - 1]), _ints("three_d", [3, D]),
             numpy_helper.from_array(np.zeros((D, 5), np.float32), "w")]
    g = helper.make_graph(nodes, "g", [_io("x0", [S, 3 * D])], [_io("y", [S, 3, 5])], inits)
    return helper.make_model(g, opset_imports=OPSET)


def test_shape_arithmetic_onnx_cannot_propagate_is_folded():
    """ONNX's data propagation stops at Mod and at a Slice whose ends are computed, so the
    Reshape's output has no shape there; folded by onnx.reference, it is [S, 3, D]: a renaming,
    and the MatMul has S·3·D·5 MACs (4·3·8·5 = 480) reading x's S·3D words."""
    m = _mha_reshape_model()
    inferred = onnx.shape_inference.infer_shapes(m, data_prop=True)
    x3 = [v.type.tensor_type for v in inferred.graph.value_info if v.name == "x3"]
    assert not x3 or not x3[0].HasField("shape") or not all(
        d.HasField("dim_value") for d in x3[0].shape.dim)
    w = bs.from_onnx(m)
    assert w.names == ("relu", "proj") and w.macs == 480
    e = w["proj"]
    assert {t.name: e.tensor_size(t) for t in e.tensors} == {"x": 96, "w": 40, "y": 60}
    assert w.renamed == (("unflatten", "Reshape"),)
    assert [(s.node, s.op_type) for s in w.skipped] == [
        ("shape", "Shape"), ("mod", "Mod"), ("dim1", "Reshape"), ("head", "Slice"),
        ("plus1", "Add"), ("dimp1_1", "Reshape"), ("tail", "Slice"), ("cat", "Concat")]
    assert all(s.reason.startswith("folded") for s in w.skipped)


def test_shape_of_a_value_no_shape_is_declared_for_is_folded():
    """Reshape(r, Mod(Concat(Shape(r)[0:1], [3, 8]), 100)) with r = Relu(x), whose shape the
    graph does not declare: nothing folds until shape inference has sized r, so it runs first.
    The target is [4, 3, 8]; the MatMul with a [8, 5] weight has 4·3·8·5 = 480 MACs."""
    n = helper.make_node
    nodes = [n("Relu", ["x"], ["r"], name="relu"),
             n("Shape", ["r"], ["shp"], name="shape"),
             n("Slice", ["shp", "zero1", "one1"], ["rows"], name="rows"),
             n("Concat", ["rows", "three_d"], ["cat"], name="cat", axis=0),
             n("Mod", ["cat", "hundred"], ["target"], name="mod"),
             n("Reshape", ["r", "target"], ["r3"], name="unflatten"),
             n("MatMul", ["r3", "w"], ["y"], name="proj")]
    inits = [_ints("zero1", [0]), _ints("one1", [1]), _ints("three_d", [3, 8]),
             _ints("hundred", 100), numpy_helper.from_array(np.zeros((8, 5), np.float32), "w")]
    g = helper.make_graph(nodes, "g", [_io("x", [4, 24])], [_io("y", [4, 3, 5])], inits)
    w = bs.from_onnx(helper.make_model(g, opset_imports=OPSET))
    assert w.names == ("relu", "proj") and w.macs == 480
    assert {t.name: w["proj"].tensor_size(t) for t in w["proj"].tensors} == {
        "r": 96, "w": 40, "y": 60}


def test_expand_shape_from_where_is_folded():
    """ViT's ``class_token.expand(n, -1, -1)`` as TorchScript writes it: Expand's shape is
    Where(Equal([1,-1,-1], -1·ones(3)), ones(3), [1,-1,-1]) = [1, 1, 1]; the token [1, 1, D] is
    then concatenated with the patches [1, P, D]: one part of (1 + P)·D words."""
    D, P = 8, 3
    n = helper.make_node
    ones = helper.make_tensor("v", TensorProto.INT64, [1], [1])
    nodes = [
        n("ConstantOfShape", ["three"], ["ones"], name="ones", value=ones),
        n("Mul", ["ones", "minus1"], ["neg"], name="neg"),
        n("Equal", ["pattern", "neg"], ["eq"], name="eq"),
        n("Where", ["eq", "ones", "pattern"], ["shape"], name="where"),
        n("Expand", ["cls", "shape"], ["tok"], name="expand"),
        n("Concat", ["tok", "patches"], ["seq"], name="cat", axis=1),
        n("Relu", ["seq"], ["y"], name="relu"),
    ]
    inits = [_ints("three", [3]), _ints("minus1", -1), _ints("pattern", [1, -1, -1]),
             numpy_helper.from_array(np.zeros((1, 1, D), np.float32), "cls")]
    g = helper.make_graph(nodes, "g", [_io("patches", [1, P, D])], [_io("y", [1, 1 + P, D])],
                          inits)
    m = helper.make_model(g, opset_imports=OPSET)
    w = bs.from_onnx(m)
    assert w.names == ("relu",)
    e = w["relu"]
    assert {t.name: e.tensor_size(t) for t in e.tensors} == {"seq": 32, "y": 32}
    assert [(p.node, p.outputs, p.inputs) for p in w.parts] == [("cat", ("seq",),
                                                                 ("tok", "patches"))]


def test_pad_amounts_computed_from_constants_are_folded():
    """F.pad(x, (2, 0)) as TorchScript writes it: the pads come from ConstantOfShape, Concat,
    Reshape, Slice, Transpose, Cast, and Pad's output shape is unknown without them. Folded,
    it is [C, 2 + L] with 2·C zeros (C = 4, L = 6: 8 padding words)."""
    C, L = 4, 6
    n = helper.make_node
    zero = helper.make_tensor("v", TensorProto.INT64, [1], [0])
    nodes = [
        n("ConstantOfShape", ["four"], ["zeros"], name="zeros", value=zero),
        n("Concat", ["two_zero", "zeros"], ["flat"], name="flat", axis=0),
        n("Reshape", ["flat", "m1_2"], ["pairs"], name="pairs"),
        n("Slice", ["pairs", "m1", "minf", "zero1", "m1"], ["rev"], name="rev"),
        n("Transpose", ["rev"], ["tr"], name="tr", perm=[1, 0]),
        n("Reshape", ["tr", "m1"], ["pads"], name="padsflat"),
        n("Cast", ["pads"], ["pads64"], name="cast", to=TensorProto.INT64),
        n("Pad", ["x", "pads64"], ["xp"], name="pad", mode="constant"),
        n("Relu", ["xp"], ["y"], name="relu"),
    ]
    inits = [_ints("four", [4]), _ints("two_zero", [2, 0]), _ints("m1_2", [-1, 2]),
             _ints("m1", [-1]), _ints("minf", [-2**63 + 1]), _ints("zero1", [0])]
    g = helper.make_graph(nodes, "g", [_io("x", [1, C, L])], [_io("y", [1, C, L + 2])], inits)
    m = helper.make_model(g, opset_imports=OPSET)
    w = bs.from_onnx(m)
    assert [(p.node, p.op_type, p.padding_words) for p in w.parts] == [("pad", "Pad", 2 * C)]
    e = w["relu"]
    assert {t.name: e.tensor_size(t) for t in e.tensors} == {"xp": C * (L + 2), "y": C * (L + 2)}


def _linear_model(data: bool):
    """y = x·W + b with W [16, 300] (4,800 elements, over the 4,096 kept in the graph) and b
    [300], their data present or stripped (dims kept, no values)."""
    W = numpy_helper.from_array(np.ones((16, 300), np.float32), "W")
    b = numpy_helper.from_array(np.ones(300, np.float32), "b")
    if not data:
        for t in (W, b):
            t.ClearField("raw_data")
            t.ClearField("float_data")
    nodes = [helper.make_node("Gemm", ["x", "W", "b"], ["y"], name="fc")]
    g = helper.make_graph(nodes, "g", [_io("x", [2, 16])], [_io("y", [2, 300])], [W, b])
    return helper.make_model(g, opset_imports=OPSET)


def test_stripped_weights_load_as_their_shapes():
    """The importer reads a weight's shape, never its values: a model whose initializers are
    stripped (onnx's checker rejects it) gives the same workload as the full one. MACs 2·16·300
    = 9,600; the bias pass reads b's 300 words."""
    stripped = _linear_model(data=False)
    with pytest.raises(onnx.checker.ValidationError):
        onnx.checker.check_model(stripped)
    full, bare = bs.from_onnx(_linear_model(data=True)), bs.from_onnx(stripped)
    assert str(full) == str(bare) and full.macs == bare.macs == 2 * 16 * 300
    assert {t.name: bare["fc_bias"].tensor_size(t) for t in bare["fc_bias"].tensors} == {
        "y_mac": 600, "b": 300, "y": 600}
    assert bare.inputs == full.inputs and "W" in bare.inputs


def test_a_weight_transposed_by_a_node_is_still_a_weight():
    """A node computing on a weight (a Transpose of a 4,800-element initializer, which the
    importer keeps out of shape inference) is folded, and its output read as a weight."""
    W = numpy_helper.from_array(np.ones((300, 16), np.float32), "Wt")
    nodes = [helper.make_node("Transpose", ["Wt"], ["W"], name="tr", perm=[1, 0]),
             helper.make_node("MatMul", ["x", "W"], ["y"], name="mm")]
    g = helper.make_graph(nodes, "g", [_io("x", [2, 16])], [_io("y", [2, 300])], [W])
    w = bs.from_onnx(helper.make_model(g, opset_imports=OPSET))
    assert w.names == ("mm",) and w.macs == 9600
    assert [(s.node, s.op_type) for s in w.skipped] == [("tr", "Transpose")]
    assert {t.name: w["mm"].tensor_size(t) for t in w["mm"].tensors} == {
        "x": 32, "W": 4800, "y": 600}


def test_a_shape_computed_at_run_time_is_an_error_without_a_bogus_hint():
    """Expand to a shape given as a graph input: no fold can know it. ONNX names the unknown
    dims unk__0, unk__1; the error must not tell the user to fix those by name (dims= cannot:
    they are no symbolic dims of the model)."""
    nodes = [helper.make_node("Expand", ["x", "shape"], ["big"], name="expand"),
             helper.make_node("Relu", ["big"], ["y"], name="relu")]
    g = helper.make_graph(nodes, "g", [_io("x", [1, 4]), _io("shape", [2], TensorProto.INT64)],
                          [_io("y", ["a", "b"])], [])
    m = helper.make_model(g, opset_imports=OPSET)
    with pytest.raises(bs.OnnxError, match="unresolved shape") as err:
        bs.from_onnx(m)
    assert "unk__" not in str(err.value).split(";")[-1]
    assert "could not resolve it" in str(err.value)
