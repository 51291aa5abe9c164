"""AccelForge's fused GPT-3 layer at a small size, with each Pareto mapping's loop nests (run in
AccelForge's venv: ``../shared/tools/accelforge.sh python benchmarks/af_gpt3_small.py OUT``).

The workload is data/accelforge_gpt3_small.yaml (AccelForge's gpt3_6.7B.yaml with every rank size
a parameter) at N_TOKENS=16 H=2 E=4 D=8 C=32: GPT-3 6.7B's proportions at 8192 tokens (m = 2d,
c = 4d, d = h*e), on its snowcat arch as benchmarks/data/accelforge_gpt3_T8192_fused.csv was made
(../shared/tools/af_gpt3.py: MainMemory keeps ~Intermediates and may keep all, 8-bit words). About
14 minutes on 2 shared cores. Writes OUT/accelforge_gpt3_small_fused.csv (buffer words, DRAM
words; data/ holds a copy) and OUT/accelforge_gpt3_small_mappings.txt: per Pareto row, each
Einsum's nest (``[Glob:T]`` a GlobalBuffer storage node, ``[Main:T]`` a MainMemory one, ``m:4`` a
loop leaving tile 4, outermost first), as read in docs/fusion.md, "Against AccelForge".
"""
import sys
import time
from pathlib import Path

import accelforge as af
from af_common import nest

out = Path(sys.argv[1]).resolve()
out.mkdir(parents=True, exist_ok=True)
wl = Path(__file__).resolve().with_name("data") / "accelforge_gpt3_small.yaml"
spec = af.Spec.from_yaml(af.examples.arches.snowcat, str(wl),
                         jinja_parse_data={"N_TOKENS": 16, "H": 2, "E": 4, "D": 8, "C": 32})
spec.mapper.metrics = af.Metrics.ENERGY | af.Metrics.RESOURCE_USAGE
af.set_n_parallel_jobs(1)
mm = spec.arch.find("MainMemory")
mm.tensors.keep, mm.tensors.may_keep = "~Intermediates", "All"
t = time.time()
res = spec.map_workload_to_arch()
print(f"mapped in {time.time() - t:.0f} s")
size = spec.arch.find("GlobalBuffer").size
usage = res.resource_usage()["GlobalBuffer"]
energy = list(res.data["Total<SEP>energy"])  # 1 per DRAM bit read or written
order = sorted(range(len(energy)), key=lambda i: usage[i])


with open(out / "accelforge_gpt3_small_fused.csv", "w") as f, \
        open(out / "accelforge_gpt3_small_mappings.txt", "w") as g:
    f.write("buffer_words,dram_words\n")
    for i in order:
        words, dram = round(usage[i] * size / 8), round(energy[i] / 8)
        f.write(f"{words},{dram}\n")
        g.write(f"=== {words} buffer words, {dram} DRAM words\n")
        row = res.data.iloc[i]
        for c in row.index:
            if c.endswith("<SEP>mapping") and not c.startswith("Total"):
                g.write(f"{c.split('<SEP>')[0]}: {nest(row[c])}\n")
print(f"wrote {out}")
