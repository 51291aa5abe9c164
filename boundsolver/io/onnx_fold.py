"""Constant folding of an ONNX graph's shape arithmetic, before shape inference.

Exporters compute a Reshape's target, a Pad's amounts or an Expand's shape from ``Shape`` nodes
through Gather, Slice, Concat, Mod, Where, Cast... ONNX's data propagation follows only a few of
those ops (it gives up at Mod, at a Slice whose ends are computed, at Where), and then the
Reshape's output has no shape and the graph cannot be read. So every node whose inputs are all
known (initializers, Constant outputs, ``Shape`` of a value of known shape, or earlier folded
outputs) and small is evaluated here by ONNX's own reference implementation
(``onnx.reference``), and replaced by a Constant node holding its value; shape inference then
sees constants. Shapes known only after a fold (a ``Shape`` of a Reshape's output) come from
running shape inference again, until nothing more folds. docs/onnx.md, "Shape arithmetic".
"""

from __future__ import annotations

import math

SMALL = 4096          # inputs up to this many elements are evaluated (shape vectors, not weights)
LARGEST = 1 << 22     # outputs above this many elements stay nodes (shape inference sizes them)
RANDOM = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Bernoulli",
          "Multinomial"}


def fold_shapes(onnx, proto, foldable) -> dict[str, str]:
    """Replace, in place, the nodes of ``proto`` whose value can be computed now by Constant
    nodes of that value (same node name, same outputs). ``foldable(graph)`` gives the indices
    of the nodes that compute constants or shapes only. Returns {node name: its op type} for
    every node replaced, so that the importer reports what the node was."""
    graph = proto.graph
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 13)
    values = {t.name: onnx.numpy_helper.to_array(t) for t in graph.initializer
              if math.prod(t.dims) <= SMALL}
    replaced: dict[str, str] = {}
    shapes = _declared(graph)
    if any(n.op_type in ("Shape", "Size") and n.input[0] not in shapes for n in graph.node):
        shapes = _inferred(onnx, proto) or shapes     # a Shape of an intermediate value
    while True:
        changed = _fold_pass(onnx, graph, foldable(graph), values, shapes, opset, replaced)
        if not changed:
            return replaced
        shapes = _inferred(onnx, proto)
        if shapes is None:
            return replaced


def _inferred(onnx, proto) -> dict[str, tuple] | None:
    """The known shapes after (lenient) shape inference; None where it fails."""
    try:
        return _declared(onnx.shape_inference.infer_shapes(proto, data_prop=True).graph)
    except Exception:  # noqa: BLE001 - the strict inference afterwards names the problem
        return None


def _declared(graph) -> dict[str, tuple]:
    """Shapes that are fully known (every dim a value) from inputs, value_info and outputs."""
    out = {}
    for vi in [*graph.input, *graph.value_info, *graph.output]:
        t = vi.type.tensor_type
        if t.HasField("shape") and all(d.HasField("dim_value") for d in t.shape.dim):
            out[vi.name] = tuple(d.dim_value for d in t.shape.dim)
    for t in graph.initializer:
        out[t.name] = tuple(t.dims)
    return out


def _fold_pass(onnx, graph, folded, values, shapes, opset, replaced) -> bool:
    """Evaluate, in graph order, every foldable node whose inputs are known; a non-Constant one
    becomes a Constant node per output. Returns whether any node was replaced."""
    nodes, changed = [], False
    for j, node in enumerate(graph.node):
        outs = [o for o in node.output if o]
        result = None
        if j in folded and not all(o in values for o in outs):
            result = _evaluate(onnx, node, values, shapes, opset)
        if result is None:
            nodes.append(node)
            continue
        values.update(zip(outs, result))
        if node.op_type == "Constant":
            nodes.append(node)
            continue
        name = node.name or f"{node.op_type}_{node.output[0]}"
        for k, (o, v) in enumerate(zip(outs, result)):
            cname = name if k == 0 else f"{name}_{k}"
            nodes.append(onnx.helper.make_node("Constant", [], [o], name=cname,
                                               value=onnx.numpy_helper.from_array(v, o)))
            replaced[cname] = node.op_type
        changed = True
    if changed:
        del graph.node[:]
        graph.node.extend(nodes)
    return changed


def _evaluate(onnx, node, values, shapes, opset):
    """The values of a node's outputs, or None where they cannot (or should not) be computed."""
    import numpy as np

    if node.domain not in ("", "ai.onnx") or node.op_type in RANDOM or any(
            a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
            for a in node.attribute):
        return None
    if node.op_type in ("Shape", "Size"):
        shape = shapes.get(node.input[0])
        if shape is None:
            return None
        if node.op_type == "Size":
            return [np.array(math.prod(shape), np.int64)]
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        start, end = attrs.get("start", 0), attrs.get("end", len(shape))
        return [np.array(shape[start:end], np.int64)]
    ins = [i for i in node.input if i]
    if not all(i in values for i in ins) or any(values[i].size > SMALL for i in ins):
        return None
    if any(math.prod(shapes.get(o, ())) > LARGEST for o in node.output if o):
        return None
    from onnx.reference import ReferenceEvaluator

    try:
        ref = ReferenceEvaluator(node, opsets={"": opset})
        feeds = {i: values[i] for i in ins}
        result = ref.run(None, feeds)
    except Exception:  # noqa: BLE001 - left as a node; shape inference and the importer judge it
        return None
    if any(np.asarray(r).size > LARGEST for r in result):
        return None
    return [np.asarray(r) for r in result]


# ------------------------------------------------------------------- BatchNormalization folded

FOLDS_INTO = ("Conv", "Gemm")   # MAC layers whose weights and bias absorb a following BatchNorm


def fold_batchnorm(onnx, proto, shapes, computed: set[str]) -> list[tuple[object, object]]:
    """Fold, in place, every inference BatchNormalization that directly follows a Conv (or a
    2-D Gemm) into that layer, as ONNX Runtime's basic graph optimizer and the TorchScript
    exporter do: ``y = a*(W*x + c) + b'`` with ``a = scale / sqrt(var + eps)`` and ``b' = B -
    mean*a`` is the layer with weights ``a*W`` and bias ``a*(c - mean) + B``, computed at
    compile time, so the data moved at run time is the layer's input, its (rescaled) weights,
    one bias vector and the output. The layer then writes the BatchNorm's output; the BatchNorm
    node is removed.

    Folded only where that is what a compiler can do: the layer's output is read by this
    BatchNorm alone (and is not a graph output), its weights by this layer alone, and neither
    the weights, the layer's bias nor the BatchNorm's four parameters are ``computed`` by a node
    of the graph (initializers, constants and graph inputs are parameters: weight-stripped
    graphs give their weights as inputs). The new bias is a graph input ``<B>_folded`` of the BatchNorm's channel
    count. Returns the (BatchNorm, layer) node pairs folded."""
    graph = proto.graph
    readers: dict[str, int] = {}
    for node in graph.node:
        for i in node.input:
            readers[i] = readers.get(i, 0) + 1
    outputs = {o.name for o in graph.output}
    producer = {o: node for node in graph.node for o in node.output if o}
    taken = {v for node in graph.node for v in [*node.input, *node.output]} | {
        i.name for i in [*graph.input, *graph.initializer]}
    dtype = {i.name: i.type.tensor_type.elem_type for i in graph.input}
    dtype |= {t.name: t.data_type for t in graph.initializer}
    folded, gone = [], set()
    for bn in graph.node:
        layer = _foldable(bn, producer, readers, outputs, shapes, computed)
        if layer is None:
            continue
        name = bn.input[2] + "_folded"
        while name in taken:
            name += "_"
        taken.add(name)
        graph.input.append(onnx.helper.make_tensor_value_info(
            name, dtype.get(bn.input[2], onnx.TensorProto.FLOAT), [shapes[bn.input[1]][0]]))
        x, w = layer.input[0], layer.input[1]
        del layer.input[:]
        layer.input.extend([x, w, name])
        layer.output[0] = bn.output[0]
        folded.append((bn, layer))
        gone.add(id(bn))
    if folded:
        kept = [node for node in graph.node if id(node) not in gone]
        del graph.node[:]
        graph.node.extend(kept)
    return folded


def _foldable(bn, producer, readers, outputs, shapes, computed):
    """The Conv or Gemm node ``bn`` folds into (see :func:`fold_batchnorm`), or None."""
    if bn.op_type != "BatchNormalization" or bn.domain not in ("", "ai.onnx"):
        return None
    if any(bn.output[1:]) or any(a.name == "training_mode" and a.i for a in bn.attribute):
        return None                       # training mode: the importer refuses it
    params = list(bn.input[1:5])
    layer = producer.get(bn.input[0])
    if (len(params) != 4 or not all(params) or layer is None or layer.op_type not in FOLDS_INTO
            or layer.domain not in ("", "ai.onnx")):
        return None
    out, w = layer.output[0], layer.input[1]
    if readers.get(out) != 1 or out in outputs or readers.get(w) != 1:
        return None
    if any(v in computed for v in [*params, w, *layer.input[2:3]]):
        return None                       # a weight, bias or parameter computed at run time
    if layer.op_type == "Gemm" and len(shapes.get(out, ())) != 2:
        return None                       # BatchNorm's channels are a 2-D Gemm's columns
    channels = shapes.get(out, (None, None))[1:2]
    if not channels or any(shapes.get(v) != channels for v in params):
        return None                       # one value per output channel, or not a plain fold
    return layer
