"""AccelForge: one matmul on DRAM -> L2 (usage swept) -> 4 PEs (spatial, any rank) -> L1 per PE
(fixed size) -> MAC, every tensor kept everywhere (benchmarks/data/accelforge_spatial.yaml).
DRAM energy 10^6 x L2's, so the mapper minimises DRAM traffic first, then L2 actions.

    accelforge.sh python benchmarks/af_spatial.py M K N L1_WORDS All|Nothing OUT_DIR [NESTS_CSV]

All|Nothing: the PE fanout's ``may_reuse`` (All: L2 multicasts to the PEs and reduces their
partial sums; Nothing: unicast). Writes OUT_DIR/accelforge_spatial_{M}x{K}x{N}_L1_{L1}[_unicast].csv:
per Pareto mapping, L2 and L1 words used (L1: one PE), DRAM words moved, every level's
read/write actions per tensor in words (columns LEVEL_TENSOR_read/write) and the mapping, in
our names (A[m,k] B[k,n] Z[m,n]): ``A@L2`` a storage node, ``m:2`` a temporal loop leaving
tile 2, ``S-n:1`` a spatial loop over the PEs leaving tile 1 per PE. With NESTS_CSV (a
``mapping`` column in that notation, written by ``spatial_accelforge.py --nests``) it evaluates
those mappings (``Spec.evaluate_mapping``) instead, writing accelforge_spatial_eval_*.csv.
Runs in AccelForge's venv; the mapper is not deterministic (reruns give a few points more or less).
"""
import csv
import os
import sys
import tempfile
import time
from pathlib import Path

import accelforge as af

M, K, N, L1 = map(int, sys.argv[1:5])
reuse, out = sys.argv[5], Path(sys.argv[6]).resolve()
assert K == N, "the example workload has KN for both"
assert reuse in ("All", "Nothing")
TENSOR = {"T0": "A", "W0": "B", "T1": "Z"}  # Matmul0: T1[m,n1] += T0[m,n0] * W0[n0,n1]
RANK = {"m": "m", "n0": "k", "n1": "n"}
arch = Path(__file__).resolve().with_name("data") / "accelforge_spatial.yaml"
params = {"N_EINSUMS": 1, "M": M, "KN": K, "L1_BITS": 8 * L1, "MAY_REUSE": reuse}
nests = [r["mapping"] for r in csv.DictReader(open(sys.argv[7]))] if len(sys.argv) > 7 else None
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
    spec = af.Spec.from_yaml(str(arch), af.examples.workloads.matmuls, *extra,
                             jinja_parse_data=params)
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


def nest(mapping) -> str:
    parts = []
    for node in mapping.nodes:
        kind = type(node).__name__
        if kind == "Storage" and node.component != "MainMemory":
            parts += [f"{TENSOR[t]}@{node.component}" for t in node.tensors]
        elif kind in ("Temporal", "Spatial"):
            parts.append(f"{'S-' if kind == 'Spatial' else ''}"
                         f"{RANK[node.rank_variable]}:{int(node.tile_shape)}")
    return " ".join(parts)


levels = ("MainMemory", "L2", "L1")
acts = [f"{lv}_{TENSOR[t]}_{a}" for lv in levels for t in ("T0", "W0", "T1") for a in ("read", "write")]
tag = (f"accelforge_spatial_{'eval_' if nests else ''}{M}x{K}x{N}_L1_{L1}"
       + ("_unicast" if reuse == "Nothing" else ""))
rows = []
for j, (res, i) in enumerate(results):
    row, usage = res.data.iloc[i], res.resource_usage(list_if_one_mapping=True)
    words = {a: round(float(row[f"Matmul0<SEP>action<SEP>{a.split('_')[0]}<SEP>"
                                f"{[t for t, n in TENSOR.items() if n == a.split('_')[1]][0]}"
                                f"<SEP>{a.split('_')[2]}"]) / 8) for a in acts}
    dram = sum(v for a, v in words.items() if a.startswith("MainMemory"))
    l2 = round(usage["L2"][i] * size["L2"] / 8)
    l1 = round(usage["L1"][i] * size["L1"] / 8)
    pes = round(float(row.get("Matmul0<SEP>usage<SEP>spatial<SEP>PE<SEP>X", 0)) * 4)
    rows.append([l2, l1, dram, pes, *words.values(),
                 nests[j] if nests else nest(row["Matmul0<SEP>mapping"])])
rows.sort(key=lambda r: (r[0], r[2]))
with open(out / f"{tag}.csv", "w") as f:
    f.write(",".join(["l2_words", "l1_words", "dram_words", "pes_used", *acts, "mapping"]) + "\n")
    for r in rows:
        f.write(",".join(map(str, r[:-1])) + f",{r[-1]}\n")
print(f"{'evaluated' if nests else 'mapped'} in {elapsed:.1f} s, {len(rows)} mappings; "
      f"wrote {out / tag}.csv")
