"""What AccelForge computes for the workload files of tests/data/accelforge/: every Einsum's
number of computes (MACs) and every tensor's size, written to tests/data/accelforge_counts.json
for tests/test_specs_accelforge.py (AccelForge itself is not a test dependency).

Regenerate (AccelForge 1.0.467 in its own venv, see ../shared/tools/accelforge.sh):

    bash /work/shared/tools/accelforge.sh python tests/data/accelforge_counts.py

The YAML files other than features.yaml and strided.yaml (hand-written) and
boundsolver/data/problems/accelforge_gemm.yaml are AccelForge's own examples (examples/workloads/, MIT licence,
tests/data/accelforge/LICENSE), copied unchanged.
"""

import json
from pathlib import Path

import accelforge as af

HERE = Path(__file__).parent
CASES = [  # (file, Jinja parameters)
    ("matvecs.yaml", {}),
    ("three_matmuls_annotated.yaml", {}),
    ("gpt3_6.7B.yaml", {}),
    ("gpt3_6.7B.yaml", {"N_TOKENS": 512}),
    ("gpt3_6.7B_kv_cache.yaml", {"N_TOKENS": 1024, "BATCH_SIZE": 2}),
    ("multi_head_latent_attention.yaml", {}),
    ("mamba.yaml", {}),
    ("resnet18.yaml", {"BATCH_SIZE": 1}),
    ("features.yaml", {}),
    ("features.yaml", {"P": 4}),
    ("strided.yaml", {}),
    ("../../../boundsolver/data/problems/accelforge_gemm.yaml", {"M": 1024}),
]


def main() -> None:
    out = []
    for name, params in CASES:
        w = af.Spec.from_yaml(str(HERE / "accelforge" / name), jinja_parse_data=params).workload
        out.append({
            "file": name, "params": params,
            "einsums": {e.name: w.n_computes(e.name) for e in w.einsums},
            "tensors": {t: w.get_tensor_size(t) for e in w.einsums for t in e.tensor_names},
        })
        print(name, params, sum(out[-1]["einsums"].values()), "computes")
    (HERE / "accelforge_counts.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
