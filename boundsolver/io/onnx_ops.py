"""ONNX ops beyond layers and passes: tensors read or written in parts, broadcasts, windows over
channels, upsampling, Einsum nodes. docs/onnx.md gives every rule with a worked example.

* **Parts** (Concat, Split, Slice, Gather, Pad): the output is a part of its input's data, or a
  union of parts. A workload tensor has one writer and one shape, so such an output is a tensor
  of its own, stored in the backing store: its inputs' producers write them there and its readers
  read it from there, exactly the words a part or union holds. No Einsum, no MAC.
* **Broadcasts** (Expand, Tile): renamings with *virtual* dims, dims a reader indexes but the
  stored tensor does not have, so a repeated tensor is read once per repetition's tile, never
  copied (grouped-query heads).
* **Windowed passes** (LRN): a window over channels, ``Y[n,c,h,w] += X_padded[n,c+t,h,w]``.
* **Resize** (nearest, integer upsampling), **Einsum** nodes.
"""

from __future__ import annotations

import math
import re

from ..errors import OnnxError
from .onnx import (
    Part,
    _base,
    _clean,
    _concat,
    _Ctx,
    _Dim,
    _ix,
    _Operand,
    _size,
    _unify,
    _Value,
    _Win,
)


def part(ctx: _Ctx) -> None:
    """Concat, Split, Slice, Gather, Pad: every output a tensor of its own in the backing store.

    A Slice, Pad or Gather that keeps the whole input (an exporter's no-op) is a renaming."""
    node, op = ctx.node, ctx.node.op_type
    ins = [ctx.value(i) for i in range(len(node.input)) if ctx.has(i) and _is_data(ctx, i)]
    if op == "Gather" and len(ins) == 2:
        raise OnnxError(f"{ctx.where}: both the data and the indices are computed tensors; a "
                        "data-dependent gather has no static footprint")
    outs = [o for o in node.output if o]
    if op in ("Slice", "Pad") and len(ins) == 1 and ctx.shape(outs[0]) == ins[0].shape:
        v = ins[0]
        ctx.st.values[outs[0]] = _Value(v.base, v.groups, v.shape, v.constant)
        ctx.st.renamed.append((ctx.name, op))
        return
    if op == "Pad":
        mode = ctx.attrs.get("mode", b"constant")
        mode = mode.decode() if isinstance(mode, bytes) else mode
        if mode != "constant":
            raise OnnxError(f"{ctx.where}: Pad mode {mode!r}: only constant padding is supported")
    padding = 0
    if op == "Pad":
        padding = math.prod(ctx.shape(outs[0])) - _clipped(ctx, ins[0].shape, ctx.shape(outs[0]))
    names = []
    for o in outs:
        _base(ctx.st, o, ctx.shape(o))
        names.append(ctx.st.values[o].base)
    sources = tuple(v.base for v in ins)
    ctx.st.parts.append(Part(ctx.name, op, tuple(names), sources, padding))


def _is_data(ctx: _Ctx, i: int) -> bool:
    """An input that holds data (not a shape, axes, starts, or a pad amount)."""
    op = ctx.node.op_type
    if op in ("Slice", "Pad", "Split") and i > 0:
        return False
    if op == "Gather" and i == 1:
        return ctx.node.input[1] not in ctx.st.constants
    if op == "Gather" and i == 0:
        return ctx.node.input[0] not in ctx.st.constants or (
            ctx.node.input[1] in ctx.st.constants)
    return True


def _clipped(ctx: _Ctx, ins, outs) -> int:
    """Words of a Pad's output that come from its input (negative pads crop)."""
    pads = None
    if ctx.has(1):
        pads = ctx.st.ints.get(ctx.node.input[1])
    if pads is None:
        pads = ctx.attrs.get("pads")
    if pads is None or len(pads) != 2 * len(ins) or ctx.has(3):
        # pads on some axes only, or not a constant: the input's words bound the real ones
        return min(math.prod(ins), math.prod(outs))
    rank = len(ins)
    return math.prod(n + min(pads[j], 0) + min(pads[j + rank], 0) for j, n in enumerate(ins))


def broadcast(ctx: _Ctx) -> None:
    """Expand (numpy broadcasting to a shape) and Tile (repetition): the output is the input
    seen through extra *virtual* dims, which no stored tensor has. A reader indexes them, so its
    loops run over every repetition, but the input's footprint does not grow with them: it is
    read, never copied."""
    node, op = ctx.node, ctx.node.op_type
    v = ctx.value(0)
    out = ctx.shape(node.output[0])
    if op == "Expand":
        if len(out) < len(v.shape):
            raise OnnxError(f"{ctx.where}: output {list(out)} has fewer dims than the input")
        lead = len(out) - len(v.shape)
        groups = [() if n == 1 else (_Dim(n),) for n in out[:lead]]
        for n, s, g in zip(out[lead:], v.shape, v.groups):
            if s == n:
                groups.append(g)
            elif s == 1:
                groups.append((_Dim(n),))
            else:
                raise OnnxError(f"{ctx.where}: input {list(v.shape)} does not broadcast to "
                                f"{list(out)}")
    else:
        groups = []
        for n, s, g in zip(out, v.shape, v.groups):
            if n % s:
                raise OnnxError(f"{ctx.where}: output {list(out)} is not the input {list(v.shape)}"
                                " repeated")
            groups.append(((_Dim(n // s),) if n > s else ()) + tuple(g))
    ctx.st.values[node.output[0]] = _Value(v.base, tuple(groups), tuple(out), v.constant)
    if v.constant:
        ctx.st.constants[node.output[0]] = ctx.st.constants.get(node.input[0], 1)
    ctx.st.renamed.append((ctx.name, op))


def lrn(ctx: _Ctx) -> None:
    """LRN: each output reads a window of ``size`` channels around its own,
    ``Y[n,c,h,w] += X_padded[n, c+t, h, w]``, over the input padded by ``(size-1)//2`` channels
    before and ``size//2`` after (zeros counted as data, as a padded conv's)."""
    x = ctx.value(0)
    size = ctx.attrs.get("size")
    if not isinstance(size, int) or size < 1 or len(x.shape) < 2:
        raise OnnxError(f"{ctx.where}: LRN needs a positive size and a channel dim")
    idx = [(_ix(g, "d"),) for g in x.groups]
    chan = _ix(() if x.shape[1] == 1 else (_Dim(x.shape[1]),), "c")
    idx[1] = (chan,)
    if size == 1:
        ctx.write(idx, "pass", 0, [ctx.read(0, idx)])
        return
    t = _ix((_Dim(size),), "t")
    axes = list(idx)
    axes[1] = _Win(tuple((1, ix) for ix in (chan, t) if ix.group))
    rest = [g for j, g in enumerate(x.groups) if j != 1]
    for ax, g in zip([a for j, a in enumerate(idx) if j != 1], rest):
        _unify(g, _concat(ax), ctx.where)
    key = (ctx.node.input[0], "lrn", size)
    if key not in ctx.st.padded:
        ctx.st.padded[key] = _clean(ctx.node.input[0] + "_padded", ctx.st.taken, "t")
    padded = _Operand(ctx.st.padded[key], (), (), tuple(axes), fixed=True)
    pad_words = math.prod(x.shape) // x.shape[1] * (size - 1)
    ctx.write(idx, "pass", 0, [padded], padding_words=pad_words)


def resize(ctx: _Ctx) -> None:
    """Resize/Upsample, nearest, by integer factors: output ``h*k + i`` reads input ``h``, so
    each upsampled axis is the input's index and a new inner index ``i`` the input lacks (a
    broadcast read): ``Y[n,c,h,i,w,j] += X[n,c,h,w]``."""
    mode = ctx.attrs.get("mode", b"nearest")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    x = ctx.value(0)
    out = ctx.shape(ctx.node.output[0])
    if mode != "nearest" or any(o % s for o, s in zip(out, x.shape)):
        raise OnnxError(f"{ctx.where}: only nearest upsampling by integer factors is supported "
                        f"(mode {mode!r}, {list(x.shape)} -> {list(out)})")
    idx, out_dims = [], []
    for s, o, g in zip(x.shape, out, x.groups):
        ix = _ix(g, "d")
        idx.append((ix,))
        out_dims.append((ix,) if o == s else (ix, _ix((_Dim(o // s),), "u")))
    ctx.write(out_dims, "pass", 0, [ctx.read(0, idx)])


_TERM = re.compile(r"^[A-Za-z]*$")


def einsum_node(ctx: _Ctx) -> None:
    """An ONNX Einsum node: one index per letter. With two or more operands every iteration is
    a multiply-accumulate (MACs: the product of every letter's size); one operand is a pass (a
    transpose) or a reduction (a letter the output drops)."""
    eq = ctx.attrs.get("equation", b"")
    eq = (eq.decode() if isinstance(eq, bytes) else eq).replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    n_in = sum(1 for i in range(len(ctx.node.input)) if ctx.has(i))
    if "." in eq or len(terms) != n_in or not all(_TERM.match(t) for t in (*terms, rhs)):
        raise OnnxError(f"{ctx.where}: equation {eq!r}: only explicit letters are supported (no "
                        "ellipsis), one term per input")
    if not arrow:
        rhs = "".join(sorted(c for c in set(lhs) if lhs.count(c) == 1 and c != ","))
    vals = [ctx.value(i) for i in range(n_in)]
    index: dict[str, object] = {}
    for t, v in zip(terms, vals):
        if len(t) != len(v.shape) or len(set(t)) != len(t):
            raise OnnxError(f"{ctx.where}: term {t!r} does not fit an input of shape "
                            f"{list(v.shape)} (a repeated letter, a diagonal, is not supported)")
        for c, n, g in zip(t, v.shape, v.groups):
            if n != 1 and c not in index:
                index[c] = _ix(g, c)
    for c in {*"".join(terms), *rhs}:
        index.setdefault(c, _ix((), c))
    inputs = [ctx.read(i, [((_ix((), c),) if n == 1 else (index[c],)) for c, n in zip(t, v.shape)])
              for i, (t, v) in enumerate(zip(terms, vals))]
    out_dims = [(index[c],) for c in rhs]
    full = math.prod(_size(ix.group) for ix in index.values())
    if n_in > 1:
        ctx.write(out_dims, "mac", full, inputs)
    else:
        kind = "reduction" if set(terms[0]) - set(rhs) else "pass"
        ctx.write(out_dims, kind, 0, inputs)
