"""AccelForge: one 1000^3 matmul on its snowcat arch, perfect or imperfect temporal loops."""
import sys, time
from pathlib import Path
import accelforge as af
mode, out = sys.argv[1], Path(sys.argv[2]).resolve()
spec = af.Spec.from_yaml(af.examples.arches.snowcat, af.examples.workloads.matmuls,
                         jinja_parse_data={"N_EINSUMS": 1, "M": 1000, "KN": 1000})
spec.mapper.metrics = af.Metrics.ENERGY | af.Metrics.RESOURCE_USAGE
spec.mapper.explore_imperfect_temporal_loops = (mode == "imperfect")
af.set_n_parallel_jobs(2)
spec.arch.find("MainMemory").tensors.keep = "All"
t = time.time()
res = spec.map_workload_to_arch()
el = time.time() - t
size = spec.arch.find("GlobalBuffer").size
usage = res.resource_usage()["GlobalBuffer"]
energy = list(res.data["Total<SEP>energy"])
order = sorted(range(len(energy)), key=lambda i: usage[i])
with open(out / f"gemm1000_{mode}.csv", "w") as f:
    f.write("buffer_words,dram_words\n")
    for i in order:
        f.write(f"{round(usage[i] * size / 8)},{round(energy[i] / 8)}\n")
print(f"{mode}: mapped in {el:.1f} s, {len(res.data)} Pareto mappings")
