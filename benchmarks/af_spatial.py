"""AccelForge: one matmul or conv on DRAM -> L2 (usage swept) -> 4 PEs (spatial) -> L1 per PE
(fixed size) -> MAC, every tensor kept everywhere (benchmarks/data/accelforge_spatial.yaml).
DRAM energy 10^6 x L2's, so the mapper minimises DRAM traffic first, then L2 actions.

    accelforge.sh python benchmarks/af_spatial.py M K N L1_WORDS All|Nothing OUT_DIR [--nests CSV]
    accelforge.sh python benchmarks/af_spatial.py --workload conv1d [--param C=8 ...]
        L1_WORDS All|Nothing OUT_DIR

All|Nothing: the PE fanout's ``may_reuse`` (All: L2 multicasts to the PEs and reduces their
partial sums; Nothing: unicast). Writes OUT_DIR/accelforge_spatial_{TAG}_L1_{L1}[_unicast].csv
(TAG: MxKxN, or conv1d_C8_K8_P8 from data/accelforge_conv1d.yaml's parameters): per Pareto mapping,
L2 and L1 words used (L1: one PE), DRAM words moved, every level's read/write actions per tensor
in words (columns LEVEL_TENSOR_read/write) and the mapping, in our names (af_common.py), and a
.json beside it (workload, parameters, L1, points, seconds). The PEs split any rank of a GEMM; of
a conv only c and k (boundsolver never splits a sliding-window rank, so the two mapspaces match).
With ``--nests CSV`` (a GEMM; a ``mapping`` column in that notation, written by
``spatial_accelforge.py --nests``) it evaluates those mappings (``Spec.evaluate_mapping``) instead,
writing accelforge_spatial_eval_*.csv. Runs in AccelForge's venv; the mapper is not deterministic
(reruns give a few points more or less).
"""
import argparse
import csv
import os
import tempfile
import time
from pathlib import Path

import accelforge as af
from af_common import action_words, add_cli, nest_text, workload, write_meta

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("sizes", nargs="*", type=int, help="M K N (a GEMM; K == N)")
ap.add_argument("l1", type=int, help="L1 words per PE")
ap.add_argument("reuse", choices=("All", "Nothing"))
ap.add_argument("out", type=Path)
ap.add_argument("--nests", type=Path, help="evaluate these mappings instead of mapping")
add_cli(ap)
args = ap.parse_args()
load, params, TENSOR, RANK, tag = workload(args)
L1, reuse, out = args.l1, args.reuse, args.out.resolve()
arch = Path(__file__).resolve().with_name("data") / "accelforge_spatial.yaml"
params = params | {"L1_BITS": 8 * L1, "MAY_REUSE": reuse}
if args.workload != "gemm":
    params["SPATIAL_FIXED"] = "~(c | k)"  # loops over any other rank variable: bound 1
nests = [r["mapping"] for r in csv.DictReader(open(args.nests))] if args.nests else None
if nests and args.workload != "gemm":
    raise SystemExit("--nests evaluates GEMM mappings only")
os.chdir(tempfile.mkdtemp())  # AccelForge drops a mapping.svg into the working directory


def mapping_yaml(text: str) -> str:
    """An AccelForge mapping from our notation; every rank must end at tile 1."""
    inv_t, inv_r = {v: k for k, v in TENSOR.items()}, {v: k for k, v in RANK.items()}
    nodes = [f"- !Storage {{tensors: [{t}], component: MainMemory}}" for t in TENSOR]
    for tok in text.split():
        if "@" in tok:
            t, lv = tok.split("@")
            nodes.append(f"- !Storage {{tensors: [{inv_t[t]}], component: {lv}}}")
        else:
            d, tile = tok.removeprefix("S-").split(":")
            kind = "Spatial" if tok.startswith("S-") else "Temporal"
            extra = ", name: X, component: PE" if kind == "Spatial" else ""
            nodes.append(f"- !{kind} {{rank_variable: {inv_r[d]}, tile_shape: {tile}{extra}}}")
    nodes.append("- !Compute {einsum: Matmul0, component: MAC}")
    return "mapping:\n  nodes:\n" + "".join(f"  {n}\n" for n in nodes)


def run(text: str | None):
    extra = []
    if text is not None:
        f = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
        f.write(mapping_yaml(text))
        f.close()
        extra = [f.name]
    spec = af.Spec.from_yaml(str(arch), load, *extra, jinja_parse_data=params)
    spec.mapper.metrics = af.Metrics.ENERGY | af.Metrics.RESOURCE_USAGE
    if text is None:
        return spec, spec.map_workload_to_arch()
    spec.model.metrics = spec.mapper.metrics | af.Metrics.ACTIONS
    return spec, spec.evaluate_mapping()


af.set_n_parallel_jobs(2)
t = time.time()
if nests is None:
    spec, res = run(None)
    results = [(res, i) for i in range(len(res.data))]
else:
    results = []
    for text in nests:
        spec, res = run(text)
        results.append((res, 0))
elapsed = time.time() - t
size = {lv: spec.arch.find(lv).size for lv in ("L2", "L1")}
levels = ["MainMemory", "L2", "L1"]
tag = (f"accelforge_spatial_{'eval_' if nests else ''}{tag}_L1_{L1}"
       + ("_unicast" if reuse == "Nothing" else ""))
rows = []
for j, (res, i) in enumerate(results):
    row, usage = res.data.iloc[i], res.resource_usage(list_if_one_mapping=True)
    mapping_col = next(c for c in res.data.columns
                       if c.endswith("<SEP>mapping") and not c.startswith("Total"))
    einsum = mapping_col.split("<SEP>")[0]
    words = action_words(row, levels, TENSOR)
    dram = sum(v for a, v in words.items() if a.startswith("MainMemory"))
    l2 = round(usage["L2"][i] * size["L2"] / 8)
    l1 = round(usage["L1"][i] * size["L1"] / 8)
    pes = round(float(row.get(f"{einsum}<SEP>usage<SEP>spatial<SEP>PE<SEP>X", 0)) * 4)
    rows.append([l2, l1, dram, pes, *words.values(),
                 nests[j] if nests else nest_text(row[mapping_col], TENSOR, RANK)])
    acts = list(words)
rows.sort(key=lambda r: (r[0], r[2]))
with open(out / f"{tag}.csv", "w") as f:
    f.write(",".join(["l2_words", "l1_words", "dram_words", "pes_used", *acts, "mapping"]) + "\n")
    for r in rows:
        f.write(",".join(map(str, r[:-1])) + f",{r[-1]}\n")
write_meta(out / f"{tag}.csv", workload=args.workload, params=params, arch="accelforge_spatial.yaml",
           l1_words=L1, points=len(rows), mapper_seconds=round(elapsed, 1), accelforge="1.0.467")
print(f"{'evaluated' if nests else 'mapped'} in {elapsed:.1f} s, {len(rows)} mappings; "
      f"wrote {out / tag}.csv")
