"""Real networks through ``from_onnx``: load time, the per-layer table, the fused network curve.

    python benchmarks/onnx_models.py               # the nine zoo graphs' tables, fused curves
    python benchmarks/onnx_models.py --quick       # tables only (no fused curves)
    python benchmarks/onnx_models.py --only resnet18,bert_layer
    python benchmarks/onnx_models.py --torch --fused resnet18.ts17,tcn.dy18   # torch exports

Models: the onnx package's nine model-zoo graphs (``onnx/backend/test/data/light``), and three
built here with ``onnx.helper`` the way exporters shape them (no torch needed):

* ``resnet18``: torchvision's ResNet-18 with BatchNorm folded, every conv with a bias;
* ``bert_layer``: ``nn.TransformerEncoderLayer`` (BERT-base, 128 tokens): one packed QKV
  MatMul plus bias, Reshape/Transpose and a Gather per Q, K, V, scaled softmax attention,
  out-projection, residual, LayerNormalization, GELU FFN, LayerNormalization;
* ``llama_block``: a TinyLlama-1.1B decoder block (512 tokens): RMSNorm written out (Pow,
  ReduceMean, Add, Sqrt, Div, Mul), q/k/v projections, rotary embeddings (Slice, Neg, Concat,
  Mul, Add), grouped-query K and V (Unsqueeze, Expand, Reshape), causal mask, SwiGLU MLP.

Each measurement runs in a fresh process (no solver cache: ``cache=False``) under a time limit.
Columns: ``einsums``, ``macs``, ``load_s``, ``table_s`` (``network_table``, the default method),
``distinct`` (layers solved), ``fused_s`` (``pareto_frontier(w, fusion=True)``), ``fused_points``
and the least traffic unfused and fused (words). Writes benchmarks/results/onnx_models.csv.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from common import report

ZOO = ["bvlc_alexnet", "densenet121", "inception_v1", "inception_v2", "resnet50", "shufflenet",
       "squeezenet", "vgg19", "zfnet512"]
BUILT = ["resnet18", "bert_layer", "llama_block"]
FUSED = ["resnet18", "resnet50", "bert_layer", "llama_block"]
LIMIT = 600


# ------------------------------------------------------------------------------ builders

def _h():
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    return np, onnx, TensorProto, helper, numpy_helper


class _Graph:
    """A tiny graph builder: ``g.op("Conv", [...], kernel_shape=...)`` returns the output name."""

    def __init__(self):
        self.np, self.onnx, self.TP, self.helper, self.nh = _h()
        self.nodes, self.inits, self.n = [], [], 0

    def w(self, shape, name=None):
        name = name or f"w{len(self.inits)}"
        self.inits.append(self.nh.from_array(self.np.zeros(shape, self.np.float32), name))
        return name

    def ints(self, values):
        name = f"c{len(self.inits)}"
        self.inits.append(self.nh.from_array(self.np.array(values, self.np.int64), name))
        return name

    def scalar(self, v):
        name = f"s{len(self.inits)}"
        self.inits.append(self.nh.from_array(self.np.array(v, self.np.float32), name))
        return name

    def op(self, op, inputs, name=None, n_out=1, **attrs):
        self.n += 1
        name = name or f"{op.lower()}{self.n}"
        outs = [f"{name}_out{j}" if n_out > 1 else f"{name}_out" for j in range(n_out)]
        self.nodes.append(self.helper.make_node(op, inputs, outs, name=name, **attrs))
        return outs if n_out > 1 else outs[0]

    def model(self, inp, shape, out, out_shape, opset=17):
        h = self.helper
        graph = h.make_graph(self.nodes, "g", [h.make_tensor_value_info(inp, self.TP.FLOAT, shape)],
                             [h.make_tensor_value_info(out, self.TP.FLOAT, out_shape)], self.inits)
        return h.make_model(graph, opset_imports=[h.make_opsetid("", opset)])


def resnet18(batch=1):
    g = _Graph()

    def conv(x, cin, cout, k, s, name):
        return g.op("Conv", [x, g.w([cout, cin, k, k]), g.w([cout])], name, kernel_shape=[k, k],
                    strides=[s, s], pads=[k // 2] * 4)

    x = g.op("Relu", [conv("x", 3, 64, 7, 2, "conv1")])
    x = g.op("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    cin = 64
    for stage, cout in enumerate([64, 128, 256, 512], 1):
        for block in range(2):
            s = 2 if stage > 1 and block == 0 else 1
            p = f"layer{stage}_{block}"
            y = g.op("Relu", [conv(x, cin, cout, 3, s, f"{p}_conv1")])
            y = conv(y, cout, cout, 3, 1, f"{p}_conv2")
            short = conv(x, cin, cout, 1, s, f"{p}_down") if (s != 1 or cin != cout) else x
            x = g.op("Relu", [g.op("Add", [y, short])])
            cin = cout
    x = g.op("Flatten", [g.op("GlobalAveragePool", [x])])
    y = g.op("Gemm", [x, g.w([1000, 512]), g.w([1000])], "fc", transB=1)
    return g.model("x", [batch, 3, 224, 224], y, [batch, 1000])


def bert_layer(S=128, D=768, H=12, F=3072):
    g = _Graph()
    dh = D // H
    qkv = g.op("Add", [g.op("MatMul", ["x", g.w([D, 3 * D])], "in_proj"), g.w([3 * D])])
    qkv = g.op("Reshape", [qkv, g.ints([S, 3, H, dh])])
    qkv = g.op("Transpose", [qkv], perm=[1, 2, 0, 3])                  # [3, H, S, dh]
    q, k, v = (g.op("Gather", [qkv, g.ints(j)], f"gather_{t}", axis=0) for j, t in enumerate("qkv"))
    s = g.op("MatMul", [q, g.op("Transpose", [k], perm=[0, 2, 1])], "qk")
    p = g.op("Softmax", [g.op("Div", [s, g.scalar(dh ** 0.5)])], "softmax", axis=-1)
    a = g.op("Reshape", [g.op("Transpose", [g.op("MatMul", [p, v], "av")], perm=[1, 0, 2]),
                         g.ints([S, D])])
    o = g.op("Add", [g.op("MatMul", [a, g.w([D, D])], "out_proj"), g.w([D])])
    x = g.op("LayerNormalization", [g.op("Add", [o, "x"]), g.w([D]), g.w([D])], "ln1", axis=-1)
    f = g.op("Gelu", [g.op("Add", [g.op("MatMul", [x, g.w([D, F])], "ffn1"), g.w([F])])])
    f = g.op("Add", [g.op("MatMul", [f, g.w([F, D])], "ffn2"), g.w([D])])
    y = g.op("LayerNormalization", [g.op("Add", [f, x]), g.w([D]), g.w([D])], "ln2", axis=-1)
    return g.model("x", [S, D], y, [S, D], opset=20)


def llama_block(S=512, D=2048, H=32, KV=4, F=5632):
    g = _Graph()
    dh = D // H

    def rmsnorm(x, name):
        ms = g.op("ReduceMean", [g.op("Pow", [x, g.scalar(2.0)]), g.ints([-1])], f"{name}_mean")
        r = g.op("Sqrt", [g.op("Add", [ms, g.scalar(1e-5)])])
        return g.op("Mul", [g.op("Div", [x, r]), g.w([D])], f"{name}_scale")

    def heads(x, n):                                                   # [S, n*dh] -> [n, S, dh]
        return g.op("Transpose", [g.op("Reshape", [x, g.ints([S, n, dh])])], perm=[1, 0, 2])

    def rotary(x, n, name):
        x1 = g.op("Slice", [x, g.ints([0]), g.ints([dh // 2]), g.ints([-1])], f"{name}_lo")
        x2 = g.op("Slice", [x, g.ints([dh // 2]), g.ints([dh]), g.ints([-1])], f"{name}_hi")
        rot = g.op("Concat", [g.op("Neg", [x2]), x1], f"{name}_cat", axis=-1)
        return g.op("Add", [g.op("Mul", [x, cos]), g.op("Mul", [rot, sin])], f"{name}_rope")

    def repeat(x):                                                     # GQA: [KV,S,dh] -> [H,S,dh]
        x = g.op("Unsqueeze", [x, g.ints([1])])
        x = g.op("Expand", [x, g.ints([KV, H // KV, S, dh])])
        return g.op("Reshape", [x, g.ints([H, S, dh])])

    cos, sin = g.w([S, dh], "cos"), g.w([S, dh], "sin")
    h = rmsnorm("x", "attn_norm")
    q = rotary(heads(g.op("MatMul", [h, g.w([D, D])], "q_proj"), H), H, "q")
    k = rotary(heads(g.op("MatMul", [h, g.w([D, KV * dh])], "k_proj"), KV), KV, "k")
    v = heads(g.op("MatMul", [h, g.w([D, KV * dh])], "v_proj"), KV)
    s = g.op("MatMul", [q, g.op("Transpose", [repeat(k)], perm=[0, 2, 1])], "qk")
    s = g.op("Add", [g.op("Div", [s, g.scalar(dh ** 0.5)]), g.w([S, S], "causal_mask")])
    p = g.op("Softmax", [s], "softmax", axis=-1)
    a = g.op("MatMul", [p, repeat(v)], "av")
    a = g.op("Reshape", [g.op("Transpose", [a], perm=[1, 0, 2]), g.ints([S, D])])
    x = g.op("Add", [g.op("MatMul", [a, g.w([D, D])], "o_proj"), "x"], "residual1")
    h = rmsnorm(x, "mlp_norm")
    gate = g.op("MatMul", [h, g.w([D, F])], "gate_proj")
    silu = g.op("Mul", [gate, g.op("Sigmoid", [gate])], "silu")
    up = g.op("MatMul", [h, g.w([D, F])], "up_proj")
    y = g.op("MatMul", [g.op("Mul", [silu, up]), g.w([F, D])], "down_proj")
    y = g.op("Add", [y, x], "residual2")
    return g.model("x", [S, D], y, [S, D], opset=18)


TORCH = Path(__file__).resolve().parent.parent / "tests" / "data" / "onnx_torch"


def load(name: str):
    import onnx

    if (TORCH / f"{name}.onnx").exists():    # a torch export (tests/data/onnx_torch/README.md)
        return str(TORCH / f"{name}.onnx")
    if name in ZOO:
        return str(Path(onnx.__file__).parent / "backend/test/data/light" / f"light_{name}.onnx")
    return globals()[name]()


# ---------------------------------------------------------------------------- measuring

CHILD = """
import json, sys, time
sys.path.insert(0, {here!r})
import boundsolver as bs
from boundsolver.report.network import network_table
from onnx_models import load
name, what = json.loads(sys.argv[1])
t = time.perf_counter()
w = bs.from_onnx(load(name))
out = {{"einsums": len(w.einsums), "macs": w.macs, "load_s": time.perf_counter() - t}}
if what == "table":
    t = time.perf_counter()
    tab = network_table(w, cache=False, progress=False)
    out |= {{"table_s": time.perf_counter() - t, "distinct": int(tab.attrs["distinct"]),
            "unfused_min": int(tab["algorithmic_minimum"].sum())}}
else:
    t = time.perf_counter()
    f = bs.pareto_frontier(w, fusion=True)
    out |= {{"fused_s": time.perf_counter() - t, "fused_points": len(f),
            "fused_min": int(f.accesses.min())}}
print(json.dumps(out))
"""


def measure(name: str, what: str, limit: int) -> dict:
    code = CHILD.format(here=str(Path(__file__).parent))
    try:
        out = subprocess.run([sys.executable, "-c", code, json.dumps([name, what])],
                             capture_output=True, text=True, timeout=limit)
    except subprocess.TimeoutExpired:
        return {f"{'table' if what == 'table' else 'fused'}_s": f">{limit}"}
    if out.returncode:
        return {"error": out.stderr.strip().splitlines()[-1][:120]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="per-layer tables only")
    ap.add_argument("--only", default="", help="comma-separated model names")
    ap.add_argument("--limit", type=int, default=LIMIT, help="seconds per measurement")
    ap.add_argument("--torch", action="store_true",
                    help="the torch exports in tests/data/onnx_torch instead (onnx_torch.csv)")
    ap.add_argument("--fused", default="", help="comma-separated models to fuse (default: "
                    f"{','.join(FUSED)})")
    args = ap.parse_args()
    default = sorted(p.name[:-5] for p in TORCH.glob("*.onnx")) if args.torch else [*ZOO, *BUILT]
    names = args.only.split(",") if args.only else default
    fused = args.fused.split(",") if args.fused else FUSED
    rows = []
    for name in names:
        row = {"model": name} | measure(name, "table", args.limit)
        if not args.quick and name in fused:
            row |= measure(name, "fused", args.limit)
        rows.append(row)
        print(row, flush=True)
    csv = "onnx_torch.csv" if args.torch else "onnx_models.csv"
    report(rows, Path(__file__).parent / "results" / csv)


if __name__ == "__main__":
    main()
