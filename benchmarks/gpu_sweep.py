"""Benchmark: every distinct ResNet-50 conv and BERT-base GEMM on `a100` / `h100` through the
default ``bs.solve_curve`` (per-tensor mapspace, ``method="auto"``) at a few L2 sizes: the
status of each row and the seconds, this checkout against another (``--old``) in the same run.

    python benchmarks/gpu_sweep.py [--old /work/main] [--quick] [--archs a100 h100]
                                   [--only conv223 conv380] [--out benchmarks/results/gpu_sweep.csv]

The layers are read from the ONNX graphs the other benchmarks build (``resnet50.py``'s
torchvision ResNet-50 v1.5 at batch 1, ``onnx_models.bert_layer``: BERT-base, 128 tokens) by
``bs.from_onnx``; a layer whose Einsum equals an earlier one up to rank and tensor names is
solved once (the first name is kept). Each (layer, arch, checkout) runs
``bs.solve_curve(einsum, CAPS, arch=arch)`` in a fresh process from an empty folder with a
cold cache of its own; a run past ``--kill`` seconds is reported as ``killed``. ``--quick``:
three L2 sizes and the stride-2 layers only. The load (``uptime``) is in each row (2 shared
cores); compare seconds only within one run.

The closing list names every row that is not ``optimal`` at every size or took over 10 s.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import re
import subprocess
import sys
from pathlib import Path

from common import report, run_fresh

import boundsolver as bs

CAPS = [2**16, 2**18, 2**20, 2**23]
QUICK_CAPS = [2**16, 2**20, 2**23]
SLOW = 10.0

_RUN = """
import json, pickle, sys, time
import boundsolver as bs
path, arch, caps = json.loads(sys.argv[1])
with open(path, "rb") as f:
    einsum = pickle.load(f)
arch = bs.load_arch(arch)
began = time.perf_counter()
c = bs.solve_curve(einsum, caps, arch=arch)
cols = ["accesses"] + [f"accesses_{lv.name}" for lv in arch.on_chip]
keys = [[int(r[k]) for k in cols] if all(r[k] == r[k] for k in cols) else None
        for _, r in c.iterrows()]
print(json.dumps({"s": time.perf_counter() - began, "status": [str(s) for s in c["status"]],
                  "keys": keys}))
"""


def canonical(einsum) -> str:
    """The Einsum's text with tensor names dropped and ranks renamed by first appearance,
    sizes attached: equal for layers that differ only in names."""
    text = str(einsum)
    text = re.sub(r"\b[A-Za-z_][A-Za-z0-9_]*\[", "[", text)
    names: dict[str, str] = {}

    def rename(m):
        d = m.group(0)
        names.setdefault(d, f"d{len(names)}:{einsum.size[d]}")
        return names[d]

    return re.sub(r"\b[A-Za-z_][A-Za-z0-9_]*\b",
                  lambda m: rename(m) if m.group(0) in einsum.size else m.group(0), text)


def layers() -> list[tuple[str, object]]:
    """(model:layer, Einsum) for each distinct MAC layer of ResNet-50 and a BERT-base layer."""
    sys.path.insert(0, str(Path(__file__).parent))
    from onnx_models import bert_layer
    from resnet50 import resnet50
    out, seen = [], set()
    for model, graph in (("resnet50", resnet50()), ("bert", bert_layer())):
        w = bs.from_onnx(graph)
        by_name = {e.name: e for e in w.einsums}
        for layer in w.layers:
            if layer.kind != "mac":
                continue
            e = by_name[layer.einsum]
            key = canonical(e)
            if key not in seen:
                seen.add(key)
                out.append((f"{model}:{layer.einsum}", e))
    return out


def strided(einsum) -> bool:
    return "2*" in str(einsum)


def load() -> float:
    return os.getloadavg()[0]


def run(checkout: Path, einsum, arch: str, caps: list[int], limit: float) -> dict:
    """One solve_curve in a fresh process from an empty folder (only ``checkout`` on the path,
    a cold cache of its own; ``common.run_fresh``)."""
    def prepare(folder: Path) -> list:
        path = folder / "einsum.pickle"
        path.write_bytes(pickle.dumps(einsum))
        return [str(path), arch, caps]

    return run_fresh(checkout, _RUN, None, limit, prepare)


def summary(res: dict) -> tuple[str, float | None]:
    ok = sum(s == "optimal" for s in res["status"])
    return f"{ok}/{len(res['status'])}", None if res["s"] is None else round(res["s"], 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", type=Path, help="another checkout to time in the same run")
    ap.add_argument("--archs", nargs="+", default=["a100", "h100"])
    ap.add_argument("--only", nargs="+", help="layer names (e.g. conv223 ffn1)")
    ap.add_argument("--quick", action="store_true",
                    help="three L2 sizes, the stride-2 layers only")
    ap.add_argument("--kill", type=float, default=600.0, help="seconds before a run is killed")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    caps = QUICK_CAPS if args.quick else CAPS
    here = Path(__file__).resolve().parent.parent
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here,
                            capture_output=True, text=True).stdout.strip()
    todo = [(n, e) for n, e in layers()
            if (not args.quick or strided(e))
            and (not args.only or n.split(":")[1] in args.only)]
    rows = []
    for arch in args.archs:
        for name, e in todo:
            row = {"commit": commit, "layer": name, "sizes": dict(e.size).__repr__(),
                   "arch": arch, "load": round(load(), 2)}
            new = run(here, e, arch, caps, args.kill)
            row["optimal"], row["s"] = summary(new)
            row["status"] = "/".join(new["status"])
            if args.old:
                old = run(args.old, e, arch, caps, args.kill)
                row["old_optimal"], row["old_s"] = summary(old)
                row["agree"] = all(a == b for a, b, sa, sb in zip(
                    new["keys"] or [], old["keys"] or [], new["status"], old["status"])
                    if sa == sb == "optimal")
            row["keys"] = json.dumps(new["keys"])
            row["load_after"] = round(load(), 2)
            rows.append(row)
            print({k: v for k, v in row.items() if k != "keys"}, flush=True)
    out = args.out or here / "benchmarks" / "results" / (
        "gpu_sweep_quick.csv" if args.quick else "gpu_sweep.csv")
    report(rows, out)
    flagged = [r for r in rows if r["optimal"].split("/")[0] != r["optimal"].split("/")[1]
               or r["s"] is None or r["s"] > SLOW]
    print(f"\nnot optimal everywhere or over {SLOW:.0f} s: {len(flagged)} of {len(rows)}")
    for r in flagged:
        print(f"  {r['layer']:18s} {r['arch']:5s} {r['optimal']:5s} {r['s']} s  {r['status']}")


if __name__ == "__main__":
    main()
