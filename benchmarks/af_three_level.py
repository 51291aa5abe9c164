"""AccelForge: one matmul or conv on a three-level arch (DRAM, L2, L1 of fixed size), DRAM energy
far above L2's so that its mapper minimises DRAM traffic first, then L2<->L1 traffic; L2's usage
swept.

    accelforge.sh python benchmarks/af_three_level.py M K N L1_WORDS OUT_DIR
    accelforge.sh python benchmarks/af_three_level.py --workload conv1d [--param C=8 ...] L1_WORDS OUT_DIR
    accelforge.sh python benchmarks/af_three_level.py --imperfect M K N L1_WORDS OUT_DIR

``--imperfect``: the mapper also explores imperfect temporal loops (its
``explore_imperfect_temporal_loops``: only a rank's outermost loop may factor imperfectly, as
in our ``factors="imperfect"``); the file tag then ends in ``_imperfect``.

Writes OUT_DIR/accelforge_three_level_{TAG}_L1_{L1}.csv (TAG: MxKxN, or conv1d_C8_K8_P8 from the
parameters of data/accelforge_conv1d.yaml): per Pareto mapping, L2 words used, DRAM words moved, L2
words moved (reads + writes, 8-bit words), L1 words used, every level's read/write actions per
tensor in words (LEVEL_TENSOR_read/write) and the mapping in our names (af_common.py); and a .json
beside it with the workload, its parameters, L1's size, the point count and the mapper's seconds.
Runs in AccelForge's own venv.
"""
import argparse
import os
import tempfile
import time
from pathlib import Path

import accelforge as af
from af_common import action_words, add_cli, nest_text, workload, write_meta

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("sizes", nargs="*", type=int, help="M K N (a GEMM; K == N)")
ap.add_argument("l1", type=int, help="L1 words")
ap.add_argument("out", type=Path)
add_cli(ap)
ap.add_argument("--imperfect", action="store_true", help="explore imperfect temporal loops")
args = ap.parse_args()
load, params, tensor, rank, tag = workload(args)
tag += "_imperfect" if args.imperfect else ""
out = args.out.resolve()
arch = Path(__file__).resolve().with_name("data") / "accelforge_three_level.yaml"
os.chdir(tempfile.mkdtemp())  # AccelForge drops a mapping.svg into the working directory
spec = af.Spec.from_yaml(str(arch), load, jinja_parse_data=params | {"L1_BITS": 8 * args.l1})
spec.mapper.metrics = af.Metrics.ENERGY | af.Metrics.RESOURCE_USAGE
if args.imperfect:
    spec.mapper.explore_imperfect_temporal_loops = True
af.set_n_parallel_jobs(2)
t = time.time()
res = spec.map_workload_to_arch()
elapsed = time.time() - t
size = {lv: spec.arch.find(lv).size for lv in ("L2", "L1")}
usage = res.resource_usage(list_if_one_mapping=True)
mapping_col = next(c for c in res.data.columns
                   if c.endswith("<SEP>mapping") and not c.startswith("Total"))
levels = ["MainMemory", "L2", "L1"]
rows = []
for i in range(len(res.data)):
    row = res.data.iloc[i]
    words = action_words(row, levels, tensor)
    total = {lv: sum(v for k, v in words.items() if k.startswith(f"{lv}_")) for lv in levels}
    rows.append([round(usage["L2"][i] * size["L2"] / 8), total["MainMemory"], total["L2"],
                 round(usage["L1"][i] * size["L1"] / 8), *words.values(),
                 nest_text(row[mapping_col], tensor, rank)])
    cols = list(words)
rows.sort(key=lambda r: (r[0], r[1], r[2]))
name = f"accelforge_three_level_{tag}_L1_{args.l1}"
with open(out / f"{name}.csv", "w") as f:
    f.write(",".join(["l2_words", "dram_words", "l2_moved_words", "l1_words", *cols, "mapping"])
            + "\n")
    for r in rows:
        f.write(",".join(map(str, r)) + "\n")
write_meta(out / f"{name}.csv", workload=args.workload, params=params, arch="accelforge_three_level.yaml",
           l1_words=args.l1, points=len(rows), mapper_seconds=round(elapsed, 1),
           imperfect_temporal=args.imperfect,
           accelforge="1.0.467")
print(f"mapped in {elapsed:.1f} s, {len(rows)} Pareto mappings; wrote {out / name}.csv")
