"""AccelForge's fused GPT-3 6.7B layer at TOKENS tokens with each Pareto mapping's loop nests (run in
AccelForge's venv: ``../shared/tools/accelforge.sh python benchmarks/af_gpt3_mappings.py TOKENS OUT``).

The same run as ../shared/tools/af_gpt3.py (its gpt3_6.7B.yaml on the snowcat arch, MainMemory keeps
~Intermediates and may keep all, 8-bit words), which made benchmarks/data/accelforge_gpt3_T8192_fused.csv,
but it writes, like benchmarks/af_gpt3_small.py, each Pareto row's nests: OUT/gpt3_T{TOKENS}_fused_mappings.json,
a list (by buffer words) of {"buffer_words", "dram_words", "nests": {Einsum: nest}, "dram": {"Einsum:tensor:
read|write": words}}, a nest written as in af_gpt3_small.py (``[Glob:T]`` a GlobalBuffer storage node,
``[Main:T]`` a MainMemory one, ``m:4`` a loop leaving tile 4, outermost first). 8192 tokens: about 16
minutes and 5.5 GB on 2 quiet cores.
"""
import json
import sys
import time
from pathlib import Path

import accelforge as af
from af_common import nest

tokens, out = int(sys.argv[1]), Path(sys.argv[2]).resolve()
out.mkdir(parents=True, exist_ok=True)
spec = af.Spec.from_yaml(af.examples.arches.snowcat, af.examples.workloads.gpt3_6_7B,
                         jinja_parse_data={"N_TOKENS": tokens})
spec.mapper.metrics = af.Metrics.ENERGY | af.Metrics.RESOURCE_USAGE
af.set_n_parallel_jobs(int(sys.argv[3]) if len(sys.argv) > 3 else 2)
mm = spec.arch.find("MainMemory")
mm.tensors.keep, mm.tensors.may_keep = "~Intermediates", "All"
t = time.time()
res = spec.map_workload_to_arch()
print(f"mapped in {time.time() - t:.0f} s, {len(res.data)} Pareto mappings", flush=True)
size = spec.arch.find("GlobalBuffer").size
usage = res.resource_usage()["GlobalBuffer"]
energy = list(res.data["Total<SEP>energy"])  # 1 per DRAM bit read or written
order = sorted(range(len(energy)), key=lambda i: usage[i])


acts = [c for c in res.data.columns if "<SEP>action<SEP>MainMemory<SEP>" in c]
rows = []
for i in order:
    row = res.data.iloc[i]
    rows.append({
        "buffer_words": round(usage[i] * size / 8), "dram_words": round(energy[i] / 8),
        "nests": {c.split("<SEP>")[0]: nest(row[c]) for c in row.index
                  if c.endswith("<SEP>mapping") and not c.startswith("Total")},
        "dram": {c.replace("<SEP>action<SEP>MainMemory<SEP>", ":").replace("<SEP>", ":"): float(row[c]) / 8
                 for c in acts if float(row[c])}})
tag = f"gpt3_T{tokens}_fused"
json.dump(rows, open(out / f"{tag}_mappings.json", "w"), indent=1)
try:  # raw mapping reprs, for anything the short nest leaves out
    with open(out / f"{tag}_mappings_raw.txt", "w") as g:
        for i in order:
            row = res.data.iloc[i]
            g.write(f"=== {round(usage[i] * size / 8)} buffer words, {round(energy[i] / 8)} DRAM words\n")
            for c in row.index:
                if c.endswith("<SEP>mapping") and not c.startswith("Total"):
                    g.write(f"{c.split('<SEP>')[0]}: {row[c]!r}\n")
except Exception as ex:
    print(f"raw reprs not written: {ex}")
print(f"wrote {out / tag}_mappings.json", flush=True)
