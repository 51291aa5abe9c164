"""AccelForge: one matmul on a three-level arch (DRAM, L2, L1 of fixed size), DRAM energy far above
L2's so that its mapper minimises DRAM traffic first, then L2<->L1 traffic; L2's usage swept.

    accelforge.sh python benchmarks/af_three_level.py M K N L1_WORDS OUT_DIR

Writes OUT_DIR/three_level_{M}x{K}x{N}_L1_{L1}.csv: per Pareto mapping, L2 words used, DRAM words
moved and L2 words moved (reads + writes, 8-bit words). Runs in AccelForge's own venv.
"""
import sys
import time
from pathlib import Path

import accelforge as af

M, K, N, L1 = map(int, sys.argv[1:5])
out = Path(sys.argv[5]).resolve()
arch = Path(__file__).with_name("data") / "accelforge_three_level.yaml"
spec = af.Spec.from_yaml(str(arch), af.examples.workloads.matmuls,
                         jinja_parse_data={"N_EINSUMS": 1, "M": M, "KN": K, "L1_BITS": 8 * L1})
assert K == N, "the example workload has KN for both"
spec.mapper.metrics = af.Metrics.ENERGY | af.Metrics.RESOURCE_USAGE
af.set_n_parallel_jobs(2)
t = time.time()
res = spec.map_workload_to_arch()
elapsed = time.time() - t
size = spec.arch.find("L2").size
usage = res.resource_usage()["L2"]
cols = res.data.columns
def words(level, i):
    return sum(float(res.data.iloc[i][c]) for c in cols
               if f"<SEP>action<SEP>{level}<SEP>" in c) / 8
tag = f"three_level_{M}x{K}x{N}_L1_{L1}"
with open(out / f"{tag}.csv", "w") as f:
    f.write("l2_words,dram_words,l2_moved_words\n")
    for i in sorted(range(len(usage)), key=lambda i: usage[i]):
        f.write(f"{round(usage[i] * size / 8)},{round(words('MainMemory', i))},{round(words('L2', i))}\n")
print(f"mapped in {elapsed:.1f} s, {len(usage)} Pareto mappings; wrote {out / tag}.csv")
