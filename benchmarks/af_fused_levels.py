"""AccelForge: a fused two-Einsum chain (FFN pair or attention) on the three-level arch
(data/accelforge_three_level.yaml: DRAM -> L2 (usage swept) -> L1 of fixed size -> MAC, DRAM
energy 10^6 x L2's so its mapper minimises DRAM traffic first, then L2's actions), with
MainMemory keeping every tensor but the intermediate (which it may keep), as AccelForge's fused
GPT-3 runs do (../shared/tools/af_gpt3.py). Run in AccelForge's venv:

    accelforge.sh python benchmarks/af_fused_levels.py ffn M K N O L1_WORDS OUT_DIR
    accelforge.sh python benchmarks/af_fused_levels.py attention M P E F L1_WORDS OUT_DIR

The chains are data/accelforge_fused_chain.yaml (our names: ffn ``Z[m,n] += X[m,k]*A[k,n]``,
``Y[m,o] += Z[m,n]*B[n,o]``; attention ``S[m,p] += Q[m,e]*K[p,e]``, ``O[m,f] += S[m,p]*V[p,f]``).
Writes OUT_DIR/accelforge_fused_levels_{CHAIN}_{sizes}_L1_{L1}.csv, one row per Pareto mapping:
L2 words used, DRAM words moved, L2 words moved (reads + writes), L1 words used, every level's
read/write actions per tensor in words (LEVEL_TENSOR_read/write, summed over the Einsums), and
each Einsum's mapping (``Einsum: nodes``; ``X@MainMemory``/``X@L2``/``X@L1`` storage nodes,
``m:2`` a temporal loop leaving tile 2, outermost first), and a .json beside it with the chain,
its sizes, L1's size, the point count and the mapper's seconds.
"""
import argparse
import os
import tempfile
import time
from pathlib import Path

import accelforge as af
from af_common import action_words, write_meta

RANKS = {"ffn": "MKNO", "attention": "MPEF"}
EINSUMS = {"ffn": ["Z[m,n] += X[m,k] * A[k,n]", "Y[m,o] += Z[m,n] * B[n,o]"],
           "attention": ["S[m,p] += Q[m,e] * K[p,e]", "O[m,f] += S[m,p] * V[p,f]"]}

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("chain", choices=sorted(RANKS))
ap.add_argument("sizes", nargs=4, type=int)
ap.add_argument("l1", type=int, help="L1 words")
ap.add_argument("out", type=Path)
ap.add_argument("--jobs", type=int, default=1, help="AccelForge's parallel jobs")
args = ap.parse_args()
params = dict(zip(RANKS[args.chain], args.sizes))
out = args.out.resolve()
data = Path(__file__).resolve().with_name("data")
os.chdir(tempfile.mkdtemp())  # AccelForge drops a mapping.svg into the working directory
spec = af.Spec.from_yaml(str(data / "accelforge_three_level.yaml"),
                         str(data / "accelforge_fused_chain.yaml"),
                         jinja_parse_data=params | {"CHAIN": args.chain, "L1_BITS": 8 * args.l1})
spec.mapper.metrics = af.Metrics.ENERGY | af.Metrics.RESOURCE_USAGE
mm = spec.arch.find("MainMemory")
mm.tensors.keep, mm.tensors.may_keep = "~Intermediates", "All"
af.set_n_parallel_jobs(args.jobs)
t = time.time()
res = spec.map_workload_to_arch()
elapsed = time.time() - t


def nest(mapping) -> str:
    parts = []
    for node in mapping.nodes:
        kind = type(node).__name__
        if kind == "Storage":
            parts += [f"{t}@{node.component}" for t in node.tensors]
        elif kind in ("Temporal", "Spatial"):
            parts.append(f"{'S-' if kind == 'Spatial' else ''}{node.rank_variable}:"
                         f"{int(node.tile_shape)}")
    return " ".join(parts)


size = {lv: spec.arch.find(lv).size for lv in ("L2", "L1")}
usage = res.resource_usage(list_if_one_mapping=True)
maps = [c for c in res.data.columns if c.endswith("<SEP>mapping") and not c.startswith("Total")]
levels = ["MainMemory", "L2", "L1"]
rows, cols = [], None
for i in range(len(res.data)):
    row = res.data.iloc[i]
    words = action_words(row, levels, {})
    if cols is None:
        cols = list(words)
    assert list(words) == cols, "every mapping has the same action columns"
    total = {lv: sum(v for k, v in words.items() if k.startswith(f"{lv}_")) for lv in levels}
    text = " | ".join(f"{c.split('<SEP>')[0]}: {nest(row[c])}" for c in maps)
    rows.append([round(usage["L2"][i] * size["L2"] / 8), total["MainMemory"], total["L2"],
                 round(usage["L1"][i] * size["L1"] / 8), *words.values(), f'"{text}"'])
rows.sort(key=lambda r: (r[0], r[1], r[2]))
name = (f"accelforge_fused_levels_{args.chain}_"
        + "x".join(map(str, args.sizes)) + f"_L1_{args.l1}")
with open(out / f"{name}.csv", "w") as f:
    f.write(",".join(["l2_words", "dram_words", "l2_moved_words", "l1_words", *cols, "mapping"])
            + "\n")
    for r in rows:
        f.write(",".join(map(str, r)) + "\n")
write_meta(out / f"{name}.csv", chain=args.chain, einsums=EINSUMS[args.chain], params=params,
           arch="accelforge_three_level.yaml", l1_words=args.l1, points=len(rows),
           mapper_seconds=round(elapsed, 1), jobs=args.jobs, accelforge="1.0.467")
print(f"mapped in {elapsed:.1f} s, {len(rows)} Pareto mappings; wrote {out / name}.csv")
