"""ResNet-50 at batch 1 (224x224): every layer's frontier from an empty cache, serially.

The model is built here with onnx.helper (no download), as torchvision's ResNet-50 v1.5 is laid
out: a 7x7 stride-2 conv, BatchNormalization, Relu, a 3x3 stride-2 MaxPool, 16 bottlenecks
(1x1, 3x3 with the stride, 1x1, each followed by BatchNormalization, a strided 1x1 projection
with BatchNormalization on the first block of each stage, Add, Relu), GlobalAveragePool,
Flatten and a 2048x1000 Gemm: 53 convs + 1 fc. BatchNormalization, Relu, Add and the pools are
passes (no MACs; one breakpoint each). bs.from_onnx reads it; ``network_table`` traces every
distinct layer's frontier (identical layers once) with ``cache=False``, one after another.

    python benchmarks/resnet50.py          # writes benchmarks/results/resnet50.csv
    python benchmarks/resnet50.py --mapspace uniform/perfect   # the Orojenesis mapspace
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from common import report
from onnx import TensorProto, helper, numpy_helper

import boundsolver as bs
from boundsolver.curves.methods import DEFAULT, METHODS
from boundsolver.report.network import network_table

CAPS = [1024, 16384, 262144, 4194304]


def resnet50(batch: int = 1, image: int = 224):
    nodes, inits = [], []
    count = {"n": 0}

    def fresh(prefix):
        count["n"] += 1
        return f"{prefix}{count['n']}"

    def conv(x, cin, cout, k, stride=1, pad=0, relu=True):
        w, y = fresh("w"), fresh("conv")
        inits.append(numpy_helper.from_array(np.zeros((cout, cin, k, k), np.float32), w))
        nodes.append(helper.make_node("Conv", [x, w], [y], name=y, kernel_shape=[k, k],
                                      strides=[stride] * 2, pads=[pad] * 4))
        names = [fresh(f"bn_{n}") for n in ("scale", "bias", "mean", "var")]
        inits.extend(numpy_helper.from_array(np.ones(cout, np.float32), n) for n in names)
        z = fresh("bn")
        nodes.append(helper.make_node("BatchNormalization", [y, *names], [z], name=z))
        if not relu:
            return z
        r = fresh("relu")
        nodes.append(helper.make_node("Relu", [z], [r], name=r))
        return r

    x = conv("image", 3, 64, 7, stride=2, pad=3)
    pooled = fresh("maxpool")
    nodes.append(helper.make_node("MaxPool", [x], [pooled], name=pooled, kernel_shape=[3, 3],
                                  strides=[2, 2], pads=[1, 1, 1, 1]))
    x, cin = pooled, 64
    for width, blocks, stride in [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)]:
        for i in range(blocks):
            s = stride if i == 0 else 1
            y = conv(x, cin, width, 1)
            y = conv(y, width, width, 3, stride=s, pad=1)
            y = conv(y, width, 4 * width, 1, relu=False)
            short = conv(x, cin, 4 * width, 1, stride=s, relu=False) if i == 0 else x
            added, out = fresh("add"), fresh("relu")
            nodes.append(helper.make_node("Add", [y, short], [added], name=added))
            nodes.append(helper.make_node("Relu", [added], [out], name=out))
            x, cin = out, 4 * width
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["gap"], name="avgpool"))
    nodes.append(helper.make_node("Flatten", ["gap"], ["flat"], name="flatten", axis=1))
    inits += [numpy_helper.from_array(np.zeros((1000, 2048), np.float32), "fc_w"),
              numpy_helper.from_array(np.zeros(1000, np.float32), "fc_b")]
    nodes.append(helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["logits"], name="fc",
                                  transB=1))
    graph = helper.make_graph(
        nodes, "resnet50",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [batch, 3, image, image])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, 1000])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mapspace", nargs="+", default=["per_tensor/perfect", "uniform/perfect"],
                    help="each layer's inner mapspace; one row each (default: the workloads' "
                         "per_tensor/perfect, then the Orojenesis uniform/perfect)")
    ap.add_argument("--method", default=DEFAULT, choices=METHODS)
    args = ap.parse_args()
    began = time.perf_counter()
    w = bs.from_onnx(resnet50())
    load = time.perf_counter() - began
    rows = []
    for space in args.mapspace:
        table = network_table(w, CAPS, mapspace=space, method=args.method, cache=False,
                              parallel=False, progress=False)
        seconds = table.attrs["layer_seconds"]
        kind = table.set_index("layer")["kind"]
        mac = table[table["kind"] == "mac"]
        slow = sorted(seconds.items(), key=lambda kv: -kv[1])
        print(f"{space}: slowest distinct layers")
        for name, s in slow[:5]:
            row = table[table["layer"] == name].iloc[0]
            print(f"  {name:8s} {row['op_type']:18s} {s:6.2f} s  {row['shape']}  "
                  f"({row['breakpoints']} breakpoints)")
        rows.append({"model": "resnet50 b1 224", "mapspace": space, "method": args.method,
                     "layers": len(table), "mac_layers": len(mac),
                     "distinct": table.attrs["distinct"],
                     "distinct_mac": mac["solved_as"].nunique(), "macs": int(w.macs),
                     "load_s": load, "seconds": table.attrs["seconds"],
                     "max_layer_s": slow[0][1], "max_layer": slow[0][0],
                     "mac_layers_s": sum(s for n, s in seconds.items() if kind[n] == "mac")})
    report(rows, Path(__file__).parent / "results" / "resnet50.csv")

if __name__ == "__main__":
    main()
