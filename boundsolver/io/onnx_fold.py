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
