"""Networks from ONNX: ``from_onnx(model, **dims)`` reads a graph into a :class:`Workload`.

Shapes come from ONNX shape inference (``dims`` fixes symbolic dimensions first), run on the
graph with its weights set aside as shapes and its shape arithmetic folded (io/onnx_fold.py). Conv, Gemm and
MatMul become Einsums with MACs; element-wise ops, reductions, pooling, Softmax and
normalisations become *passes*: Einsums that move data but whose MACs are recorded as 0 in
:attr:`OnnxWorkload.layers` (an Einsum's own ``macs`` is its iteration count, which for a pass is
not a MAC). Reshape, Transpose, Flatten, Squeeze and Unsqueeze become rank renamings of the tensor
they read, with no Einsum. docs/onnx.md gives every rule and why.

How ranks are found: every axis of every stored tensor is a *dim* object. An Einsum's index ties
one dim of each operand together (its *class*); a Reshape that splits a dim splits every dim of
its class, so a projection that a later Reshape cuts into heads writes its output with a head
rank and a per-head rank. Rank names are chosen at the end: a reader reuses the rank names its
producer wrote (so loops can be fused over them), with a fresh name where two indices of one
Einsum would clash (QKᵀ's two token ranks).
"""

from __future__ import annotations

import math
import re
import warnings
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import OnnxError
from ..model.cost import INT64_MAX
from ..model.einsum import Axis, Einsum, Tensor, Term, positive_int
from ..model.workload import Workload


@dataclass(frozen=True)
class Layer:
    """One Einsum of the workload and the ONNX node it came from.

    ``macs`` are multiply-accumulates (0 for a pass: it moves data, an Einsum's own ``macs``
    counts its iterations); ``padding_words`` are the zeros of a padded input counted as data.
    """

    einsum: str
    node: str
    op_type: str
    kind: str  # "mac", "pass" (element-wise), "reduction" (statistics, pooling)
    macs: int
    padding_words: int = 0


@dataclass(frozen=True)
class Skipped:
    """A node left out (``skip_unsupported=True``) or folded (it computes constants or shapes)."""

    node: str
    op_type: str
    reason: str


@dataclass(frozen=True)
class Part:
    """A node whose outputs are parts or unions of parts of its inputs' data (Concat, Split,
    Slice, Gather, Pad): no Einsum; each output is a tensor of its own in the backing store,
    which its inputs' producers write and its readers read. ``padding_words``: a Pad's zeros."""

    node: str
    op_type: str
    outputs: tuple[str, ...]
    inputs: tuple[str, ...]
    padding_words: int = 0


@dataclass(frozen=True)
class OnnxWorkload(Workload):
    """A :class:`Workload` read from ONNX, with what each Einsum came from.

    ``macs`` counts only true MACs (Conv, Gemm, MatMul); ``layers`` one entry per Einsum;
    ``renamed`` the (node, op_type) pairs read as rank renamings; ``skipped`` nodes left out or
    folded; ``tensor_names`` maps every ONNX value name to the workload tensor holding its data;
    ``parts`` the nodes whose outputs are parts or unions of parts (:class:`Part`).
    """

    layers: tuple[Layer, ...] = ()
    renamed: tuple[tuple[str, str], ...] = ()
    skipped: tuple[Skipped, ...] = ()
    tensor_names: tuple[tuple[str, str], ...] = ()
    parts: tuple[Part, ...] = ()

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    def layer(self, name: str) -> Layer:
        """The layer of an Einsum name or an ONNX node name (its main Einsum)."""
        for lay in self.layers:
            if lay.einsum == name:
                return lay
        for lay in reversed(self.layers):
            if lay.node == name:
                return lay
        raise OnnxError(f"no Einsum or node named {name!r} in {self.name!r}")

    def tensor_of(self, value: str) -> str:
        """The workload tensor holding ONNX value ``value`` (renamings map to what they rename)."""
        names = dict(self.tensor_names)
        if value not in names:
            raise OnnxError(f"no ONNX value named {value!r} in {self.name!r}")
        return names[value]


# ------------------------------------------------------------------------------ dims and classes

class _Dim:
    """One axis of one stored tensor (or a part of it after a split)."""

    __slots__ = ("size", "cls", "children")

    def __init__(self, size: int):
        self.size = size
        self.cls = _Class(self)
        self.children: tuple[_Dim, ...] = ()


class _Class:
    """Dims that must split alike because one Einsum index runs over all of them."""

    __slots__ = ("members",)

    def __init__(self, dim: _Dim):
        self.members = [dim]


def _leaves(dims) -> list[_Dim]:
    out: list[_Dim] = []
    for d in dims:
        out += _leaves(d.children) if d.children else [d]
    return out


def _merge(a: _Dim, b: _Dim) -> None:
    if a.cls is b.cls:
        return
    big, small = (a.cls, b.cls) if len(a.cls.members) >= len(b.cls.members) else (b.cls, a.cls)
    for m in small.members:
        m.cls = big
    big.members += small.members


def _split(d: _Dim, outer: int) -> None:
    """Split every dim of ``d``'s class into (outer, rest), row-major, children classed alike."""
    members = list(d.cls.members)
    for m in members:
        m.children = (_Dim(outer), _Dim(m.size // outer))
    for j in range(2):
        for m in members[1:]:
            _merge(members[0].children[j], m.children[j])


def _unify(g1, g2, where: str) -> None:
    """Make two groups of dims (one index seen through two operands) split alike, leaf by leaf."""
    a, b = deque(_leaves(g1)), deque(_leaves(g2))
    while a and b:
        x, y = a.popleft(), b.popleft()
        if x.size == y.size:
            _merge(x, y)
            continue
        if x.size > y.size:
            x, y, a, b = y, x, b, a
        if y.size % x.size:
            raise OnnxError(f"{where}: dims of sizes {x.size} and {y.size} cannot be matched "
                            "rank by rank (a Reshape mixes them)")
        _split(y, x.size)
        _merge(x, y.children[0])
        b.appendleft(y.children[1])
    if a or b:
        raise OnnxError(f"{where}: operand sizes {_size(g1)} and {_size(g2)} differ")


def _matchable(g1, g2) -> bool:
    """Whether :func:`_unify` can match two groups of dims (sizes only, no side effects)."""
    a, b = [d.size for d in _leaves(g1)], [d.size for d in _leaves(g2)]
    while a and b:
        x, y = a.pop(0), b.pop(0)
        if x == y:
            continue
        if x > y:
            x, y, a, b = y, x, b, a
        if y % x:
            return False
        b.insert(0, y // x)
    return not a and not b


def _size(group) -> int:
    return math.prod(d.size for d in group)


# ------------------------------------------------------------------------------- the graph state

@dataclass
class _Value:
    """An ONNX value: the stored tensor holding its data and, per ONNX dim, the dims it spans."""

    base: str
    groups: tuple[tuple[_Dim, ...], ...]
    shape: tuple[int, ...]
    constant: bool = False


@dataclass(eq=False)
class _Index:
    """One index of one Einsum; it becomes one rank per leaf of ``group`` (none if size 1)."""

    letter: str
    group: tuple[_Dim, ...]


@dataclass(frozen=True)
class _Win:
    """A sliding-window axis ``coef*index + ...`` (each index a single rank)."""

    terms: tuple[tuple[int, _Index], ...]


@dataclass
class _Operand:
    """A tensor an Einsum reads or writes. ``axes``: per ONNX dim, the indices it concatenates
    (row-major) or a window. ``fixed``: a fresh (padded) tensor's axes, its own layout."""

    name: str
    layout: tuple[tuple[_Dim, ...], ...]
    view: tuple[tuple[_Dim, ...], ...]
    axes: tuple[object, ...]
    fixed: bool = False


@dataclass
class _Pending:
    name: str
    node: str
    op_type: str
    kind: str
    macs: int
    output: _Operand
    inputs: list[_Operand]
    padding_words: int = 0


@dataclass
class _State:
    values: dict[str, _Value] = field(default_factory=dict)
    stored: dict[str, _Value] = field(default_factory=dict)       # tensor name -> its writer's view
    pending: list[_Pending] = field(default_factory=list)
    renamed: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    einsum_names: set[str] = field(default_factory=set)
    taken: set[str] = field(default_factory=set)
    padded: dict[tuple, str] = field(default_factory=dict)
    constants: dict[str, int] = field(default_factory=dict)       # value -> element count
    ints: dict[str, list[int]] = field(default_factory=dict)      # small integer constants
    consumed: set[str] = field(default_factory=set)               # values a node or the graph reads
    parts: list[Part] = field(default_factory=list)
    origin: dict[str, str] = field(default_factory=dict)         # folded node -> its op type
    computed: set[str] | None = None     # fold_batchnorm: the values a node computes, else None


_IDENT = re.compile(r"[^A-Za-z0-9_]")


def _clean(name: str, taken: set[str], fallback: str) -> str:
    """An identifier for an ONNX name (``/layer1/conv/Conv_output_0`` -> ``layer1_conv_...``),
    unique among ``taken``, so that every Einsum prints as a string ``bs.einsum`` reads back."""
    base = _IDENT.sub("_", name).strip("_") or fallback
    if not (base[0].isalpha() or base[0] == "_"):
        base = f"t_{base}"
    out, i = base, 2
    while out in taken:
        out, i = f"{base}_{i}", i + 1
    taken.add(out)
    return out


# -------------------------------------------------------------------------------- entry point

def from_onnx(model, *, skip_unsupported: bool = False, name: str = "",
              word_bits: int | None = None, fold_batchnorm: bool = True,
              **dims: int) -> OnnxWorkload:
    """A workload from an ONNX model (a path, bytes or ``onnx.ModelProto``).

    ``dims`` fix symbolic dimensions by name (``batch=1, seq=128``). Unsupported nodes raise an
    :class:`OnnxError` listing every one by name and op type; with ``skip_unsupported=True`` they
    are left out (their outputs become inputs read from DRAM), warned about, and listed in
    ``skipped``. ``word_bits`` defaults to the first graph input's element width.
    ``fold_batchnorm`` (default True): inference BatchNormalization is folded as compilers
    fold it, into the Conv or Gemm before it (its weights and one bias vector), or else into
    one scale and one shift per channel (docs/onnx.md, "BatchNormalization folded"); False
    reads its four parameter vectors as the graph writes them.
    """
    if not isinstance(fold_batchnorm, bool):
        raise OnnxError(f"fold_batchnorm must be True or False, got {fold_batchnorm!r}")
    try:
        import onnx
    except ImportError as err:  # pragma: no cover - the extra is missing
        raise OnnxError("from_onnx needs the onnx package: pip install 'boundsolver[onnx]'") from err
    proto = _load(onnx, model)
    _fix_dims(proto, dims)
    weights = _skeleton(onnx, proto)
    _check_supported(proto.graph, skip_unsupported, weights)
    from .onnx_fold import fold_shapes  # shape arithmetic evaluated: see its docstring
    origin = fold_shapes(onnx, proto, lambda g: _folded(g, weights))
    proto = _infer(onnx, proto, dims)
    graph = proto.graph
    shapes = _shapes(graph)
    constant = _folded(graph, weights)
    computed = {o for j, n in enumerate(graph.node) if j not in constant for o in n.output if o}
    st = _State(origin=origin, computed=computed if fold_batchnorm else None)
    if fold_batchnorm:
        from .onnx_fold import fold_batchnorm as fold_bn
        for bn, layer in fold_bn(onnx, proto, shapes, computed):
            st.skipped.append(Skipped(
                _node_name(bn), "BatchNormalization", f"folded into {_node_name(layer)!r} "
                f"({layer.op_type}): its scale, shift, mean and variance make that layer's "
                "weights and bias at compile time"))
        shapes = _shapes(graph)
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 13)
    st.consumed = {i for n in graph.node for i in n.input if i} | {o.name for o in graph.output}
    _read_constants(onnx, graph, st, weights)
    for value in [*graph.input, *graph.initializer]:
        if value.name not in st.values and value.name in shapes:
            shape = shapes[value.name]
            if all(isinstance(d, int) and d > 0 for d in shape):
                _base(st, value.name, shape, constant=value.name in st.constants)
    folded = _folded(graph, weights)
    for j, node in enumerate(graph.node):
        _node(onnx, node, st, shapes, opset, j in folded)
    if not st.pending:
        raise OnnxError("the model has no node that reads or writes data (nothing to bound)")
    return _finish(st, name or graph.name or "onnx", word_bits or _bits(onnx, graph))


def _load(onnx, model):
    if isinstance(model, onnx.ModelProto):
        proto = onnx.ModelProto()
        proto.CopyFrom(model)
        return proto
    where = "the bytes given" if isinstance(model, (bytes, bytearray)) else repr(str(model))
    try:
        if isinstance(model, (bytes, bytearray)):
            proto = onnx.load_model_from_string(bytes(model))
        else:
            proto = onnx.load(str(Path(model)))
    except FileNotFoundError:
        raise OnnxError(f"no ONNX file {str(model)!r}") from None
    except Exception as err:  # noqa: BLE001 - protobuf's DecodeError and friends
        raise OnnxError(f"{where}: not an ONNX model ({type(err).__name__}: {err})") from None
    if not proto.graph.node:
        raise OnnxError(f"{where}: not an ONNX model, or an empty one (the graph has no nodes)")
    return proto


def _skeleton(onnx, proto, largest: int = 4096) -> dict[str, int]:
    """Move every initializer of more than ``largest`` elements (a weight, not a shape), and
    every one without data, out of the graph into a graph input of the same type and shape;
    returns {name: element count}.

    The importer needs a weight's shape only, never its values. Without the values, ONNX's
    checker and shape inference (which serialise the model on every call) run on a model of a
    few kilobytes: a ViT-B/16 of 86 M weights took 7 s there, and a model whose weights are
    stripped (dims kept, data removed, to share its structure) is accepted."""
    graph = proto.graph
    moved = {t.name: t for t in graph.initializer
             if math.prod(t.dims) > largest or not _has_data(t)}
    if not moved:
        return {}
    keep = [t for t in graph.initializer if t.name not in moved]
    del graph.initializer[:]
    graph.initializer.extend(keep)
    declared = {vi.name: vi for vi in graph.input}
    for name, t in moved.items():
        vi = declared.get(name)
        if vi is None:
            vi = graph.input.add()
            vi.name = name
        vi.type.tensor_type.elem_type = t.data_type
        vi.type.tensor_type.ClearField("shape")
        for n in t.dims:
            vi.type.tensor_type.shape.dim.add().dim_value = n
    return {name: math.prod(t.dims) for name, t in moved.items()}


def _has_data(t) -> bool:
    """Whether an initializer carries its values (a stripped one keeps only its dims)."""
    return math.prod(t.dims) == 0 or t.data_location == t.EXTERNAL or any(
        len(getattr(t, f)) for f in ("raw_data", "float_data", "int32_data", "int64_data",
                                     "double_data", "uint64_data", "string_data"))


def _fix_dims(proto, dims: dict[str, int]) -> None:
    """Replace the symbolic dims named in ``dims`` by their values, everywhere they appear."""
    dims = {k: positive_int(v, f"dimension {k!r}", OnnxError) for k, v in dims.items()}
    for k, v in dims.items():
        if v > INT64_MAX:  # an ONNX dim is an int64 (protobuf raises a bare ValueError)
            raise OnnxError(f"dimension {k!r} = {v:,} is over ONNX's signed 64-bit limit "
                            f"({INT64_MAX:,})")
    found: set[str] = set()
    g = proto.graph
    for vi in [*g.input, *g.output, *g.value_info]:
        for d in vi.type.tensor_type.shape.dim:
            if d.HasField("dim_param"):
                found.add(d.dim_param)
                if d.dim_param in dims:
                    d.dim_value = dims[d.dim_param]
    unknown = sorted(set(dims) - found)
    if unknown:
        raise OnnxError(f"no symbolic dimension named {', '.join(map(repr, unknown))} in the model "
                        f"(its symbolic dimensions: {', '.join(sorted(found)) or 'none'})")


def _infer(onnx, proto, dims: dict | None = None):
    """Check the model and infer every shape, strictly: a shape mismatch is an error there.
    onnx reports one line per failing node; the error joins them into one line, and names the
    dims given, the usual cause (a sequence longer than the model was exported for)."""
    try:
        onnx.checker.check_model(proto)
        return onnx.shape_inference.infer_shapes(proto, strict_mode=True, data_prop=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as err:
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        given = ", ".join(f"{k}={v}" for k, v in (dims or {}).items())
        raise OnnxError("ONNX check or shape inference failed"
                        + (f" with {given} (does the model take these sizes?)" if given else "")
                        + f": {'; '.join(lines)}") from None


def _shapes(graph) -> dict[str, tuple]:
    """Every value's shape; an unresolved dim is its symbolic name (a string) or None."""
    out: dict[str, tuple] = {}
    for vi in [*graph.input, *graph.value_info, *graph.output]:
        t = vi.type.tensor_type
        if t.HasField("shape"):
            out[vi.name] = tuple(d.dim_value if d.HasField("dim_value") else
                                 (d.dim_param or None) for d in t.shape.dim)
    for init in graph.initializer:
        out[init.name] = tuple(init.dims)
    return out


def _read_constants(onnx, graph, st: _State, weights: dict[str, int]) -> None:
    """Initializers (and the weights :func:`_skeleton` moved out) and Constant outputs: element
    counts, and the values of small integer ones (reduction axes given as inputs)."""
    st.constants.update(weights)
    tensors = [(i.name, i) for i in graph.initializer]
    for node in graph.node:
        if node.op_type == "Constant":
            attr = {a.name: a for a in node.attribute}
            if "value" in attr:
                tensors.append((node.output[0], attr["value"].t))
            else:
                st.constants[node.output[0]] = 1
    for name, t in tensors:
        st.constants[name] = math.prod(t.dims)
        if t.data_type in (onnx.TensorProto.INT64, onnx.TensorProto.INT32) and math.prod(t.dims) < 64:
            st.ints[name] = [int(v) for v in onnx.numpy_helper.to_array(t).reshape(-1)]


def _bits(onnx, graph) -> int:
    for vi in graph.input:
        try:
            return onnx.helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type).itemsize * 8
        except Exception:  # noqa: BLE001 - an unknown element type: the package default
            continue
    return 8


def _node_name(node) -> str:
    return node.name or f"{node.op_type}_{node.output[0] if node.output else ''}"


def _where(node) -> str:
    return f"node {_node_name(node)!r} ({node.op_type})"


def _concrete(node, shapes, value: str) -> tuple[int, ...]:
    s = shapes.get(value)
    if s is None:
        raise OnnxError(f"{_where(node)}: shape inference gave no shape for {value!r}")
    if any(isinstance(d, int) and d == 0 for d in s):
        raise OnnxError(f"{_where(node)}: value {value!r} has a zero dimension (shape "
                        f"{list(s)}): an empty tensor has nothing to bound")
    if not all(isinstance(d, int) and d > 0 for d in s):
        # "unk__0": a name ONNX's shape inference made up for a dim it could not compute, not
        # a symbolic dim of the model's inputs that dims= could fix
        sym = [d for d in s if isinstance(d, str) and not d.startswith("unk__")]
        hint = (f"; fix it with from_onnx(..., {', '.join(f'{d}=N' for d in sym)})" if sym else
                "; shape inference could not resolve it (it depends on values computed at run "
                "time)")
        raise OnnxError(f"{_where(node)}: value {value!r} has unresolved shape "
                        f"{[d if d else '?' for d in s]}{hint}")
    return tuple(s)


def _base(st: _State, value: str, shape, constant=False, groups=None, label="") -> _Value:
    """A stored tensor named after ``value`` (or ``label``): one dim per ONNX dim of size > 1 (a
    size-1 dim has no rank, so broadcasting and Squeeze/Unsqueeze need none)."""
    tname = _clean(label or value, st.taken, "t")
    if groups is None:
        groups = tuple(() if n == 1 else (_Dim(n),) for n in shape)
    v = _Value(tname, groups, tuple(shape), constant)
    st.values[value] = v
    st.stored[tname] = v
    return v


# ------------------------------------------------------------------------------- op dispatch

MAC_OPS = ("Conv", "Gemm", "MatMul")
ELEMENTWISE = {"Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "Relu", "LeakyRelu", "PRelu", "Sigmoid",
               "Tanh", "Gelu", "Erf", "Exp", "Log", "Neg", "Abs", "Clip", "HardSigmoid",
               "HardSwish", "Softplus", "Cast", "Reciprocal", "Max", "Min", "Sum", "Mean",
               "Where", "Elu", "Selu", "Mish", "BatchNormalization", "Floor", "Ceil", "Sign",
               "Sin", "Cos", "Tan", "Round", "Mod", "Equal", "Less", "Greater", "LessOrEqual",
               "GreaterOrEqual", "Not", "And", "Or", "Xor", "IsNaN", "IsInf", "Softsign",
               "ThresholdedRelu", "Celu", "Trilu"}
NORMALISING = {"Softmax", "LogSoftmax", "LayerNormalization", "InstanceNormalization",
               "RMSNormalization"}
REDUCING = {"ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceL2", "ReduceSumSquare",
            "GlobalAveragePool", "GlobalMaxPool"}
POOLING = {"MaxPool", "AveragePool"}
RENAMING = {"Reshape", "Transpose", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout"}
FOLDED = {"Constant", "Shape", "Size", "ConstantOfShape", "Range"}
PARTS = {"Concat", "Split", "Slice", "Gather", "Pad"}
BROADCASTS = {"Expand", "Tile"}
OTHER = {"LRN", "Resize", "Upsample", "Einsum"}
SUPPORTED = frozenset({*MAC_OPS, *ELEMENTWISE, *NORMALISING, *REDUCING, *POOLING, *RENAMING,
                       *FOLDED, *PARTS, *BROADCASTS, *OTHER})


def _supported(node) -> bool:
    return node.op_type in SUPPORTED and node.domain in ("", "ai.onnx")


def _folded(graph, weights=()) -> set[int]:
    """Indices of the nodes that compute only constants or shapes: Constant, Shape, and any node
    (of any op type: Gather, Concat on shapes) whose inputs are all such values or initializers
    (``weights``: the initializers :func:`_skeleton` moved out)."""
    known = {i.name for i in graph.initializer} | set(weights)
    out = set()
    for j, node in enumerate(graph.node):
        ins = [i for i in node.input if i]
        if node.op_type in FOLDED or (ins and all(i in known for i in ins)):
            out.add(j)
            known |= {o for o in node.output if o}
    return out


def _check_supported(graph, skip: bool, weights=()) -> None:
    folded = _folded(graph, weights)
    bad = [(_node_name(n), n.op_type) for j, n in enumerate(graph.node)
           if j not in folded and not _supported(n)]
    if bad and not skip:
        listed = "; ".join(f"{name!r} ({op})" for name, op in bad)
        raise OnnxError(f"{len(bad)} unsupported node(s): {listed}. Supported op types: "
                        f"{', '.join(sorted(SUPPORTED))}. Pass skip_unsupported=True to leave "
                        "them out (their outputs are then read from DRAM; the result lists them)")


def _node(onnx, node, st: _State, shapes, opset, folded: bool) -> None:
    op, nname = node.op_type, _node_name(node)
    if folded:
        st.skipped.append(Skipped(nname, st.origin.get(nname, op),
                                  "folded: it computes constants or shapes only"))
        for out in node.output:
            shape = shapes.get(out)
            if out and shape is not None and all(isinstance(d, int) and d > 0 for d in shape):
                st.constants[out] = math.prod(shape)     # a layer that reads it reads a weight
                _base(st, out, shape, constant=True)
        return
    if not _supported(node):
        st.skipped.append(Skipped(nname, op, "unsupported op type: left out, its outputs read "
                                             "from DRAM"))
        warnings.warn(f"from_onnx: left out {_where(node)} (unsupported); its outputs are read "
                      "from DRAM", stacklevel=3)
        for out in node.output:
            if out and out in shapes:    # else a reader says the shape is unknown
                _base(st, out, _concrete(node, shapes, out))
        return
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    ctx = _Ctx(node, nname, st, shapes, attrs, opset)
    from . import onnx_ops  # it builds on this module's classes
    if op in PARTS:
        onnx_ops.part(ctx)
    elif op in BROADCASTS:
        onnx_ops.broadcast(ctx)
    elif op == "LRN":
        onnx_ops.lrn(ctx)
    elif op in ("Resize", "Upsample"):
        onnx_ops.resize(ctx)
    elif op == "Einsum":
        onnx_ops.einsum_node(ctx)
    elif op in RENAMING:
        _rename(ctx)
    elif op == "Conv":
        _conv(ctx, pooling=False)
    elif op in POOLING:
        _conv(ctx, pooling=True)
    elif op in ("MatMul", "Gemm"):
        _matmul(ctx)
    elif op in ELEMENTWISE:
        _elementwise(ctx)
    elif op in REDUCING:
        _reduce(ctx)
    else:
        _normalise(ctx)


@dataclass
class _Ctx:
    node: object
    name: str
    st: _State
    shapes: dict
    attrs: dict
    opset: int

    @property
    def where(self) -> str:
        return f"node {self.name!r} ({self.node.op_type})"

    def shape(self, value: str) -> tuple[int, ...]:
        return _concrete(self.node, self.shapes, value)

    def unused(self, j: int) -> bool:
        """Output ``j`` is absent or read by nothing (Dropout's mask, MaxPool's indices)."""
        outs = self.node.output
        return len(outs) <= j or not outs[j] or outs[j] not in self.st.consumed

    def extra_outputs_unused(self) -> bool:
        return all(self.unused(j) for j in range(1, len(self.node.output)))

    def has(self, i: int) -> bool:
        return len(self.node.input) > i and bool(self.node.input[i])

    def value(self, i: int) -> _Value:
        name = self.node.input[i]
        shape = self.shape(name)
        if name not in self.st.values:
            raise OnnxError(f"{self.where}: input {name!r} is not a tensor the loader knows (a "
                            "graph input, an initializer or an earlier node's output)")
        v = self.st.values[name]
        if v.shape != shape:
            raise OnnxError(f"{self.where}: input {name!r} has shape {list(v.shape)} but the "
                            f"graph says {list(shape)}")
        return v

    def scalar_constant(self, i: int) -> bool:
        """A one-element constant (a scale, an epsilon, an exponent): an immediate operand,
        not a tensor read from DRAM."""
        return self.st.constants.get(self.node.input[i]) == 1

    def read(self, i: int, axes) -> _Operand:
        """Input ``i`` read through ``axes`` (per ONNX dim: a tuple of indices, or a window)."""
        v = self.value(i)
        if len(axes) != len(v.groups):
            raise OnnxError(f"{self.where}: input {self.node.input[i]!r} has {len(v.groups)} "
                            f"dims, the op reads {len(axes)}")
        plain = [(grp, _concat(ax)) for ax, grp in zip(axes, v.groups) if not isinstance(ax, _Win)]
        if not all(_matchable(a, b) for a, b in plain):
            v = self._reordered(i)
            plain = [(grp, _concat(ax)) for ax, grp in zip(axes, v.groups)
                     if not isinstance(ax, _Win)]
        for grp, dims in plain:
            _unify(grp, dims, self.where)
        stored = self.st.stored[v.base]
        return _Operand(v.base, stored.groups, v.groups, tuple(axes))

    def _reordered(self, i: int) -> _Value:
        """Input ``i`` where this op cannot read its dims rank by rank (a channel shuffle
        followed by a grouped conv: the groups mix the shuffled channels): the data really moves,
        so the op reads a tensor of its own, ``<value>_reordered``, from the backing store (a
        :class:`Part` of op type "Reorder")."""
        name = self.node.input[i]
        key = f"{name}\0reordered"
        if key not in self.st.values:
            v = self.st.values[name]
            _base(self.st, key, v.shape, label=name + "_reordered")
            self.st.parts.append(Part(self.name, "Reorder", (self.st.values[key].base,),
                                      (v.base,)))
        return self.st.values[key]

    def write(self, out_dims, kind: str, macs: int, inputs: list[_Operand], suffix: str = "",
              padding_words: int = 0, einsum_suffix: str | None = None) -> _Operand:
        """An Einsum writing the node's output (or ``<output><suffix>``, a tensor of its own)
        with, per ONNX dim, the indices ``out_dims`` gives. The Einsum is named after the node
        plus ``einsum_suffix`` (default: ``suffix``)."""
        value = self.node.output[0]
        sizes = [_size(_concat(ax)) for ax in out_dims]
        if not suffix and tuple(sizes) != self.shape(value):
            raise OnnxError(f"{self.where}: output {value!r} has shape {list(self.shape(value))} "
                            f"but the op implies {sizes}")
        groups = tuple(tuple(_Dim(d.size) for d in _leaves(_concat(ax))) for ax in out_dims)
        for ax, g in zip(out_dims, groups):
            _unify(_concat(ax), g, self.where)
        key = f"{value}\0{suffix}" if suffix else value   # a key no exporter writes
        v = _base(self.st, key, sizes, groups=groups, label=value + suffix)
        out = _Operand(v.base, groups, groups, tuple(out_dims))
        ename = _clean(self.name + (suffix if einsum_suffix is None else einsum_suffix),
                       self.st.einsum_names, "einsum")
        self.st.pending.append(_Pending(ename, self.name, self.node.op_type, kind, macs, out,
                                        _dedupe(inputs, self.where), padding_words))
        return out


def _concat(ax) -> tuple[_Dim, ...]:
    return tuple(d for ix in ax for d in ix.group)


def _ix(group, letter: str) -> _Index:
    return _Index(letter, tuple(group))


def _dedupe(ops: list[_Operand], where: str) -> list[_Operand]:
    """One operand per tensor: ``Mul(x, x)`` reads x once. A tensor read through two different
    index patterns (``MatMul(x, Transpose(x))``) has no Einsum (tensor names are unique in one)."""
    seen: dict[str, _Operand] = {}
    for o in ops:
        if o.name in seen and _pattern(seen[o.name]) != _pattern(o):
            raise OnnxError(f"{where}: reads tensor {o.name} twice through different dims; an "
                            "Einsum reads each tensor once")
        seen.setdefault(o.name, o)
    return list(seen.values())


def _pattern(op: _Operand) -> tuple:
    return tuple(tuple(id(ix) for ix in ax if ix.group) if not isinstance(ax, _Win) else
                 tuple((c, id(ix)) for c, ix in ax.terms) for ax in op.axes) + (
        tuple(tuple(id(d) for d in g) for g in op.view),)


# ----------------------------------------------------------------------------------- renamings

def _rename(ctx: _Ctx) -> None:
    """Reshape, Transpose, Flatten, Squeeze, Unsqueeze, Identity, Dropout (inference): the output
    is the input's data seen through other dims, so no Einsum and no traffic."""
    node, op = ctx.node, ctx.node.op_type
    v = ctx.value(0)
    out_shape = ctx.shape(node.output[0])
    if op == "Dropout" and not ctx.extra_outputs_unused():
        raise OnnxError(f"{ctx.where}: the dropout mask output is read by a node; only "
                        "inference (an unused mask) is supported")
    if op == "Transpose":
        perm = ctx.attrs.get("perm", list(range(len(v.groups)))[::-1])
        groups = tuple(v.groups[p] for p in perm)
    else:
        groups = _regroup(ctx, v.groups, out_shape)
    if tuple(_size(g) for g in groups) != tuple(out_shape):
        raise OnnxError(f"{ctx.where}: output shape {list(out_shape)} is not the input "
                        f"{list(v.shape)} renamed")
    ctx.st.values[node.output[0]] = _Value(v.base, groups, out_shape, v.constant)
    if v.constant:
        ctx.st.constants[node.output[0]] = ctx.st.constants.get(node.input[0], 1)
    ctx.st.renamed.append((ctx.name, op))


def _regroup(ctx: _Ctx, groups, shape) -> tuple[tuple[_Dim, ...], ...]:
    """Cut the input's dims, in row-major order, into the output's dims, splitting a dim where
    an output dim ends inside it; an error where the cut is not a renaming."""
    seq = deque(_leaves([d for g in groups for d in g]))
    out = []
    for n in shape:
        take: list[_Dim] = []
        need = n
        while need > 1:
            d = seq.popleft() if seq else None
            if d is not None and need % d.size == 0:
                take.append(d)
                need //= d.size
            elif d is not None and d.size % need == 0:
                _split(d, need)
                take.append(d.children[0])
                seq.appendleft(d.children[1])
                need = 1
            else:
                raise OnnxError(f"{ctx.where}: reshaping {[_size(g) for g in groups]} into "
                                f"{list(shape)} is not a renaming of ranks (a dim of {n} would "
                                "straddle input dims that do not divide it)")
        out.append(tuple(take))
    if seq:
        raise OnnxError(f"{ctx.where}: cannot reshape {[_size(g) for g in groups]} into "
                        f"{list(shape)}")
    return tuple(out)


# ------------------------------------------------------------------------------- MatMul, Gemm

def _matmul(ctx: _Ctx) -> None:
    """MatMul (numpy semantics: batch dims broadcast, 1-D operands promoted) and Gemm (transA,
    transB; its bias C is read as a further input; alpha and beta are immediates)."""
    node = ctx.node
    a, b = ctx.value(0), ctx.value(1)
    sa, sb = list(a.shape), list(b.shape)
    ta = node.op_type == "Gemm" and ctx.attrs.get("transA", 0)
    tb = node.op_type == "Gemm" and ctx.attrs.get("transB", 0)
    if ta:
        sa = sa[::-1]
    if tb:
        sb = sb[::-1]
    va, vb = len(sa) == 1, len(sb) == 1
    sa, sb = ([1, *sa] if va else sa), ([*sb, 1] if vb else sb)
    if sa[-1] != sb[-2]:
        raise OnnxError(f"{ctx.where}: contraction sizes differ: {list(a.shape)} times "
                        f"{list(b.shape)}")
    ga = list(a.groups[::-1] if ta else a.groups)
    gb = list(b.groups[::-1] if tb else b.groups)
    ga, gb = ([(), *ga] if va else ga), ([*gb, ()] if vb else gb)
    m, k, n = _ix(ga[-2], "m"), _ix(ga[-1], "k"), _ix(gb[-1], "n")
    per_a, per_b, batch = _broadcast(ctx, [ga[:-2], gb[:-2]], [sa[:-2], sb[:-2]], "b")
    ax_a = [*[(ix,) for ix in per_a], (m,), (k,)][1 if va else 0:]
    ax_b = [*[(ix,) for ix in per_b], (k,), (n,)][:-1 if vb else None]
    if ta:
        ax_a = ax_a[::-1]
    if tb:
        ax_b = ax_b[::-1]
    inputs = [ctx.read(0, ax_a), ctx.read(1, ax_b)]
    out_dims = [*[(ix,) for ix in batch], *([] if va else [(m,)]), *([] if vb else [(n,)])]
    macs = math.prod(_size(_concat(ax)) for ax in out_dims) * _size(k.group)
    if node.op_type == "Gemm" and ctx.has(2) and not ctx.scalar_constant(2):
        acc = ctx.write(out_dims, "mac", macs, inputs, suffix="_mac", einsum_suffix="")
        _add_bias(ctx, acc, out_dims, _broadcast_read(ctx, 2, out_dims))
        return
    ctx.write(out_dims, "mac", macs, inputs)


def _add_bias(ctx: _Ctx, acc: _Operand, out_dims, bias: _Operand) -> None:
    """A bias (Conv's B, Gemm's C) as an addition, not a third factor of every MAC: the MAC
    Einsum writes ``<output>_mac`` and a pass ``<node>_bias`` adds the bias, read once per
    output element, writing the node's output (docs/onnx.md, "Biases")."""
    inputs = [_Operand(acc.name, acc.layout, acc.view, acc.axes), bias]
    ctx.write(out_dims, "pass", 0, inputs, einsum_suffix="_bias")


def _broadcast(ctx: _Ctx, groups, shapes, letter: str):
    """Numpy broadcasting of trailing-aligned dims: one index per output dim; an operand whose
    dim is 1 reads it through an empty index (no rank)."""
    rank = max((len(s) for s in shapes), default=0)
    per_op: list[list[_Index]] = [[] for _ in shapes]
    out = []
    for j in range(rank):
        col = [(i, g[j - rank + len(g)], s[j - rank + len(s)])
               for i, (g, s) in enumerate(zip(groups, shapes)) if j - rank + len(s) >= 0]
        if len({s for _, _, s in col if s != 1}) > 1:
            raise OnnxError(f"{ctx.where}: shapes {[list(s) for s in shapes]} do not broadcast")
        real = [g for _, g, s in col if s != 1]
        ix = _ix(real[0] if real else (), letter)
        out.append(ix)
        for i, _g, s in col:
            per_op[i].append(ix if s != 1 else _ix((), letter))
    return (*per_op, out)


def _broadcast_read(ctx: _Ctx, i: int, out_dims) -> _Operand:
    """Input ``i`` broadcast against the output's dims (trailing-aligned)."""
    v = ctx.value(i)
    if len(v.shape) > len(out_dims):
        raise OnnxError(f"{ctx.where}: input {ctx.node.input[i]!r} of shape {list(v.shape)} "
                        "does not broadcast to the output")
    tail = out_dims[len(out_dims) - len(v.shape):]
    axes = []
    for s, ax in zip(v.shape, tail):
        if s != 1 and s != _size(_concat(ax)):
            raise OnnxError(f"{ctx.where}: input {ctx.node.input[i]!r} of shape {list(v.shape)} "
                            "does not broadcast to the output")
        axes.append(ax if s != 1 else ())
    return ctx.read(i, axes)


# ------------------------------------------------------------------------------ Conv, pooling

def _conv(ctx: _Ctx, pooling: bool) -> None:
    """Conv (strides, dilations, pads or auto_pad, groups) and MaxPool/AveragePool (a pass):
    ``O[n,g,k,q,p] += I[n,g,c, Hs*q + Hd*s, Ws*p + Wd*r] * W[g,k,c,s,r]``. Where the windows
    span more or less than the input (padding, or rows a stride never reaches) the conv reads a
    tensor of the windows' extent, ``<input>_padded`` (``_window`` without padding): padding
    zeros count as data, rows no window reaches are not read."""
    node = ctx.node
    x = ctx.value(0)
    xs, os = list(x.shape), ctx.shape(node.output[0])
    nsp = len(xs) - 2
    if nsp < 1:
        raise OnnxError(f"{ctx.where}: input of shape {xs} has no spatial dims")
    if pooling:
        kernel, groups, cout = list(ctx.attrs["kernel_shape"]), 1, xs[1]
        if ctx.attrs.get("ceil_mode", 0) or not ctx.extra_outputs_unused():
            raise OnnxError(f"{ctx.where}: ceil_mode and pooling indices are not supported")
    else:
        ws = ctx.shape(node.input[1])
        kernel, groups, cout = list(ctx.attrs.get("kernel_shape", ws[2:])), ctx.attrs.get("group", 1), ws[0]
        if xs[1] != ws[1] * groups or cout % groups:
            raise OnnxError(f"{ctx.where}: input channels {xs[1]} and weight shape {ws} do not "
                            f"fit group={groups}")
    strides = list(ctx.attrs.get("strides", [1] * nsp))
    dil = list(ctx.attrs.get("dilations", [1] * nsp))
    pads = _pads(ctx, xs[2:], os[2:], kernel, strides, dil)
    letters = (("q", "p"), ("s", "r")) if nsp == 2 else (("q",) * nsp, ("r",) * nsp)
    q = [_ix(() if o == 1 else (_Dim(o),), letters[0][j]) for j, o in enumerate(os[2:])]
    r = [_ix(() if k == 1 else (_Dim(k),), letters[1][j]) for j, k in enumerate(kernel)]
    n = _ix(x.groups[0], "n")
    if pooling:
        chan_in = chan_out = (_ix(x.groups[1], "c"),)
        cin = ()
    else:
        g, cin, k = _channels(xs[1], groups, cout)
        chan_in, chan_out, cin = (*g, *cin), (*g, *k), cin
    spans = [(o - 1) * s + (kk - 1) * d + 1 for o, kk, s, d in zip(os[2:], kernel, strides, dil)]
    windows: list[object] = [_Win(tuple((c, ix) for c, ix in ((s, qq), (d, rr)) if ix.group))
                             for s, d, qq, rr in zip(strides, dil, q, r)]
    for j in range(nsp):  # a 1-wide, stride-1, unpadded window is the input's own dim
        if kernel[j] == 1 and strides[j] == 1 and pads[j] == (0, 0):
            q[j].group = x.groups[2 + j]
            windows[j] = (q[j],)
    inp, pad_words = _window_input(ctx, x, [(n,), chan_in, *windows], spans, pads)
    inputs = [inp]
    if not pooling:
        inputs.append(ctx.read(1, [chan_out, cin, *[(ix,) for ix in r]]))
    out_dims = [(n,), chan_out, *[(ix,) for ix in q]]
    macs = 0 if pooling else math.prod(_size(ix.group) for ix in (n, *chan_out, *cin, *q, *r))
    if not pooling and ctx.has(2) and not ctx.scalar_constant(2):
        acc = ctx.write(out_dims, "mac", macs, inputs, suffix="_mac", einsum_suffix="",
                        padding_words=pad_words)
        _add_bias(ctx, acc, out_dims, ctx.read(2, [chan_out]))
        return
    ctx.write(out_dims, "reduction" if pooling else "mac", macs, inputs, padding_words=pad_words)


def _channels(cin: int, groups: int, cout: int):
    """Index tuples (g,), (c,), (k,): a group rank only where group > 1, no rank of size 1."""
    def one(size, letter):
        return (_ix(() if size == 1 else (_Dim(size),), letter),)
    g = one(groups, "g") if groups > 1 else ()
    return g, one(cin // groups, "c"), one(cout // groups, "k")


def _pads(ctx: _Ctx, ins, outs, kernel, strides, dil) -> list[tuple[int, int]]:
    """Begin/end padding per spatial dim (pads or auto_pad), checked against the inferred size."""
    auto = ctx.attrs.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    nsp = len(ins)
    pads = list(ctx.attrs.get("pads", [0] * 2 * nsp))
    out = []
    for j in range(nsp):
        span = (kernel[j] - 1) * dil[j] + 1
        if auto in ("SAME_UPPER", "SAME_LOWER"):
            total = max((outs[j] - 1) * strides[j] + span - ins[j], 0)
            small = total // 2
            pb, pe = (small, total - small) if auto == "SAME_UPPER" else (total - small, small)
        elif auto == "VALID":
            pb = pe = 0
        else:
            pb, pe = pads[j], pads[j + nsp]
        expect = (ins[j] + pb + pe - span) // strides[j] + 1
        if expect != outs[j]:
            raise OnnxError(f"{ctx.where}: output size {outs[j]} does not follow from input "
                            f"{ins[j]}, kernel {kernel[j]}, stride {strides[j]}, dilation "
                            f"{dil[j]}, pads ({pb}, {pe}) (expected {expect})")
        out.append((pb, pe))
    return out


def _window_input(ctx: _Ctx, x: _Value, axes, spans, pads) -> tuple[_Operand, int]:
    """The input where its windows span it exactly; else a fresh tensor ``<input>_padded`` (or
    ``_window``) of the windows' extent (n, channels, windows), padding zeros counted as data.
    It is read from DRAM: a workload gives a tensor one shape, so it cannot be the input itself."""
    xs = x.shape
    if all(pb == 0 and span == size for (pb, _), span, size in zip(pads, spans, xs[2:])):
        for ax, grp in zip(axes[2:], x.groups[2:]):
            if isinstance(ax, _Win) and len(_leaves(grp)) > 1:
                raise OnnxError(f"{ctx.where}: a spatial dim of the input was merged from "
                                "several dims by a Reshape; a window cannot slide over it")
        return ctx.read(0, axes), 0
    for ax, grp in zip(axes, x.groups):
        if not isinstance(ax, _Win):
            _unify(grp, _concat(ax), ctx.where)
    real = math.prod(max(0, min(size, span - pb) - max(0, -pb))
                     for (pb, _), span, size in zip(pads, spans, xs[2:]))
    pad_words = xs[0] * xs[1] * (math.prod(spans) - real)
    key = (ctx.node.input[0], tuple(xs[:2]), tuple(spans), tuple(pads))
    if key not in ctx.st.padded:
        suffix = "_padded" if any(pb or pe for pb, pe in pads) else "_window"
        ctx.st.padded[key] = _clean(ctx.node.input[0] + suffix, ctx.st.taken, "t")
    return _Operand(ctx.st.padded[key], (), (), tuple(axes), fixed=True), pad_words


# ------------------------------------------------------------------------- passes: no MACs

def _elementwise(ctx: _Ctx) -> None:
    """Element-wise ops (numpy broadcasting) and inference BatchNormalization: one pass that
    reads every input that is not a one-element constant and writes the output. A
    BatchNormalization left after :func:`~.onnx_fold.fold_batchnorm` whose four parameters are
    parameters reads two vectors (``fold_batchnorm``): ``a = scale / sqrt(var + eps)`` and ``B -
    mean*a``, computed at compile time, in the scale's and the shift's place."""
    node = ctx.node
    if node.op_type == "BatchNormalization":
        if len(node.output) > 1 and any(node.output[1:]):
            raise OnnxError(f"{ctx.where}: training-mode BatchNormalization is not supported")
        x = ctx.value(0)
        idx = [(_ix(g, "d"),) for g in x.groups]
        inputs = [ctx.read(0, idx)]
        computed = ctx.st.computed
        folds = computed is not None and not any(v in computed for v in node.input[1:5])
        inputs += [ctx.read(i, [idx[1]]) for i in range(1, 3 if folds else len(node.input))
                   if ctx.has(i) and not ctx.scalar_constant(i)]
        ctx.write(idx, "pass", 0, inputs)
        return
    used = [i for i in range(len(node.input)) if ctx.has(i) and not ctx.scalar_constant(i)]
    if not used:
        raise OnnxError(f"{ctx.where}: every input is a one-element constant")
    vals = [ctx.value(i) for i in used]
    *per_op, out = _broadcast(ctx, [v.groups for v in vals], [v.shape for v in vals], "d")
    inputs = [ctx.read(i, [(ix,) for ix in axes]) for i, axes in zip(used, per_op)]
    ctx.write([(ix,) for ix in out], "pass", 0, inputs)


def _reduce(ctx: _Ctx) -> None:
    """ReduceMean/Sum/Max/..., GlobalAveragePool/GlobalMaxPool: a pass reading the input and
    writing its kept dims."""
    x = ctx.value(0)
    rank = len(x.shape)
    if ctx.node.op_type.startswith("Global"):
        axes, keep = list(range(2, rank)), 1
    else:
        axes = ctx.attrs.get("axes")
        if axes is None and ctx.has(1):
            if ctx.node.input[1] not in ctx.st.ints:
                raise OnnxError(f"{ctx.where}: reduction axes must be a constant")
            axes = ctx.st.ints[ctx.node.input[1]]
        if not axes and ctx.attrs.get("noop_with_empty_axes", 0):
            raise OnnxError(f"{ctx.where}: an empty reduction (noop_with_empty_axes) is not "
                            "supported")
        axes = sorted(a % rank for a in axes) if axes else list(range(rank))
        keep = ctx.attrs.get("keepdims", 1)
    idx = [(_ix(g, "d"),) for g in x.groups]
    out = [() if j in axes else ix for j, ix in enumerate(idx) if keep or j not in axes]
    ctx.write(out, "reduction", 0, [ctx.read(0, idx)])


def _normalise(ctx: _Ctx) -> None:
    """Softmax, LogSoftmax, LayerNormalization, InstanceNormalization: a statistics pass
    (``<output>_stats`` over the kept dims, reading the input) and a pass reading the input, the
    statistics and any scale and bias, writing the output. Two passes because each output
    element needs its whole row's statistics: a buffer that cannot hold a row reads it twice."""
    node, op = ctx.node, ctx.node.op_type
    if not ctx.extra_outputs_unused():
        raise OnnxError(f"{ctx.where}: only the first output is supported (another is read)")
    x = ctx.value(0)
    rank = len(x.shape)
    if op in ("Softmax", "LogSoftmax"):
        axis = ctx.attrs.get("axis", -1 if ctx.opset >= 13 else 1) % rank
        axes = [axis] if ctx.opset >= 13 else list(range(axis, rank))
    elif op in ("LayerNormalization", "RMSNormalization"):
        axes = list(range(ctx.attrs.get("axis", -1) % rank, rank))
    else:
        axes = list(range(2, rank))
    idx = [(_ix(g, "d"),) for g in x.groups]
    kept = [ix for j, ix in enumerate(idx) if j not in axes]
    stats = ctx.write(kept, "reduction", 0, [ctx.read(0, idx)], suffix="_stats")
    inputs = [ctx.read(0, idx), _Operand(stats.name, stats.layout, stats.view, stats.axes)]
    for i in range(1, len(node.input)):
        if ctx.has(i) and not ctx.scalar_constant(i):
            inputs.append(ctx.read(i, [idx[1]]) if op == "InstanceNormalization"
                          else _broadcast_read(ctx, i, idx))
    ctx.write(idx, "pass", 0, inputs)


# ------------------------------------------------------------------------------ finishing

def _finish(st: _State, name: str, word_bits: int) -> OnnxWorkload:
    """Expand every index into one rank per leaf dim, name the ranks, build the Einsums.

    A rank takes the name its tensor's writer gave that axis, else the name of its dim's class
    (the dims one index ties together anywhere: Q's and K's head dims), unless another rank of
    the same Einsum has it; else a fresh name from the index's letter. So writer and readers
    share rank names wherever they can, and fused loops can run over them (docs/fusion.md)."""
    labels: dict[int, str] = {}       # id(leaf dim) or id(its class) -> rank name
    used: set[str] = set()
    einsums, layers = [], []
    for p in st.pending:
        names: dict[tuple[int, int], str] = {}
        keys = [lk for op in (*p.inputs, p.output) for lk in _leaf_keys(op, p)]
        for by_class in (False, True):
            for leaf, key in keys:
                lab = labels.get(id(leaf.cls) if by_class else id(leaf))
                if key not in names and lab and lab not in names.values():
                    names[key] = lab
        sizes: dict[str, int] = {}
        inputs = tuple(_tensor(op, p, names, labels, used, sizes) for op in p.inputs)
        output = _tensor(p.output, p, names, labels, used, sizes)
        order = list(dict.fromkeys(r for t in (*inputs, output) for r in t.ranks))
        einsums.append(Einsum(output, inputs, tuple((r, sizes[r]) for r in order), p.name))
        layers.append(Layer(p.name, p.node, p.op_type, p.kind, p.macs, p.padding_words))
    read = {t.name for e in einsums for t in e.tensors}
    tensors = tuple((k, v.base) for k, v in st.values.items()
                    if "\0" not in k and (not v.constant or v.base in read))
    # what a part or a padded (window) copy reads is read from the backing store: written back
    # even where every Einsum reading it is fused with its producer
    copied = {s for part in st.parts for s in part.inputs}
    copied |= {st.values[key[0]].base for key in st.padded if key[0] in st.values}
    produced = {e.output.name for e in einsums}
    return OnnxWorkload(tuple(einsums), name, word_bits, stored=tuple(sorted(copied & produced)),
                        layers=tuple(layers), renamed=tuple(st.renamed),
                        skipped=tuple(st.skipped), tensor_names=tensors, parts=tuple(st.parts))


def _keys(ax) -> list[tuple[int, int]]:
    return [(id(ix), j) for ix in ax for j in range(len(_leaves(ix.group)))]


def _leaf_keys(op: _Operand, p: _Pending):
    """(stored leaf dim, rank key) for every plain axis of an operand, checked leaf by leaf."""
    if op.fixed:
        return
    for ax, grp in zip(op.axes, op.view):
        if isinstance(ax, _Win):
            continue
        leaves, keys = _leaves(grp), _keys(ax)
        if [d.size for d in leaves] != [d.size for ix in ax for d in _leaves(ix.group)]:
            raise OnnxError(f"node {p.node!r} ({p.op_type}): operand {op.name} has dims "
                            f"{[d.size for d in leaves]} where its index has "
                            f"{[d.size for ix in ax for d in _leaves(ix.group)]}")
        yield from zip(leaves, keys)


def _tensor(op: _Operand, p: _Pending, names, labels, used, sizes) -> Tensor:
    """The Einsum tensor of an operand: its stored axes, in stored order, each named."""
    def rank(key, size, letter) -> str:
        if key not in names:
            cand, i = letter, 1
            while cand in used or cand in names.values():
                cand, i = f"{letter}{i}", i + 1
            names[key] = cand
        used.add(names[key])
        sizes[names[key]] = size
        return names[key]

    def plain(ax) -> list[Axis]:
        return [Axis((Term(rank((id(ix), j), d.size, ix.letter)),))
                for ix in ax for j, d in enumerate(_leaves(ix.group))]

    def window(w: _Win) -> Axis | None:
        """A window's axis; an index split into several ranks (LRN's channels, cut into groups
        by a grouped conv) contributes each, with its row-major stride as coefficient."""
        terms = []
        for c, ix in w.terms:
            leaves = _leaves(ix.group)
            for j, d in enumerate(leaves):
                stride = math.prod(e.size for e in leaves[j + 1:])
                terms.append(Term(rank((id(ix), j), d.size, ix.letter), c * stride))
        return Axis(tuple(terms)) if terms else None

    if op.fixed:
        axes = []
        for ax in op.axes:
            axes += [a for a in [window(ax)] if a] if isinstance(ax, _Win) else plain(ax)
        return Tensor(op.name, tuple(axes))
    where: dict[int, Axis] = {}
    for ax, grp in zip(op.axes, op.view):
        leaves = _leaves(grp)
        if isinstance(ax, _Win):
            axis = window(ax)
            if axis is None and not leaves:
                continue
            if axis is None or len(leaves) != 1 or axis.extent(sizes) != leaves[0].size:
                raise OnnxError(f"node {p.node!r} ({p.op_type}): the windows do not span the "
                                f"input dim of {[d.size for d in leaves]}")
            where[id(leaves[0])] = axis
            continue
        for leaf, axis in zip(leaves, plain(ax)):
            labels.setdefault(id(leaf), axis.terms[0].rank)
            labels.setdefault(id(leaf.cls), axis.terms[0].rank)
            where[id(leaf)] = axis
    stored = _leaves([d for g in op.layout for d in g])
    missing = [d.size for d in stored if id(d) not in where]
    if missing:
        raise OnnxError(f"node {p.node!r} ({p.op_type}): dims {missing} of {op.name} are read by "
                        "no index")
    return Tensor(op.name, tuple(where[id(d)] for d in stored))
