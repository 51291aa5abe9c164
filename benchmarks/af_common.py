"""What the AccelForge scripts share (run in AccelForge's venv, never imported by boundsolver):
for af_three_level.py and af_spatial.py the workloads they map, in our names, and one Pareto
mapping as a CSV row; for af_gpt3_small.py and af_gpt3_mappings.py a fused mapping's text (`nest`).

A workload is ``gemm`` (AccelForge's example ``matmuls``: ``T1[m,n1] += T0[m,n0] * W0[n0,n1]``,
printed as our ``Z[m,n] += A[m,k] * B[k,n]``), ``conv``, ``conv1d`` or ``conv1x1``
(``data/accelforge_conv.yaml``, ``accelforge_conv1d.yaml`` (``STRIDE``: strided, AccelForge's
``p * 2 + r``), ``accelforge_conv1x1.yaml`` (2-D, 1x1, stride 2), written in our names, so
boundsolver loads the same file: ``bs.load_problem(path, C=8, ...)``; the 2-D 3x3 conv is too slow
for AccelForge here, see its file).
Mapping text: ``A@L2`` a storage node (MainMemory's are left out), ``m:2`` a temporal loop leaving tile 2,
``S-n:1`` a spatial loop over the PEs leaving tile 1 per PE.

data/accelforge_runs.csv records each run of the larger data (one at a time, 2 jobs, on 2 cores
shared with other work, load 3-9): wall seconds of the whole command and the mapper's own,
``peak_mb`` the largest process's peak RSS (``/usr/bin/time -v``), ``peak_total_mb`` the peak of
the summed RSS of the run's process group (the script and its loky workers) sampled every second
(empty for the first three runs, not sampled).
"""
from __future__ import annotations

import json
from pathlib import Path

import accelforge as af

DATA = Path(__file__).resolve().with_name("data")
GEMM_NAMES = ({"T0": "A", "W0": "B", "T1": "Z"}, {"m": "m", "n0": "k", "n1": "n"})


def nest(m) -> str:
    """A fused mapping's nodes in one line (af_gpt3_small.py, af_gpt3_mappings.py): ``[Glob:K,V]``
    a storage node (the component's first four letters and its tensors), ``m:4`` a loop and the
    tile it leaves."""
    parts = []
    for n in m.nodes:
        kind = type(n).__name__
        if kind == "Storage":
            parts.append(f"[{n.component[:4]}:{','.join(map(str, n.tensors))}]")
        elif kind in ("Temporal", "Spatial"):
            parts.append(f"{n.rank_variable}:{n.tile_shape}")
    return " ".join(parts)


def workload(args) -> tuple[str, dict, dict, dict, str]:
    """(AccelForge workload file, Jinja data, tensor names, rank names, file tag) for the CLI's
    ``M K N`` (a GEMM) or ``--workload conv1d --param C=8 ...``."""
    if args.workload == "gemm":
        m, k, n = args.sizes
        if k != n:
            raise SystemExit("AccelForge's matmuls example has one size (KN) for K and N")
        return (af.examples.workloads.matmuls, {"N_EINSUMS": 1, "M": m, "KN": k},
                *GEMM_NAMES, f"{m}x{k}x{n}")
    if args.sizes:
        raise SystemExit(f"--workload {args.workload} takes its sizes from --param, not M K N")
    params = dict(p.split("=") for p in args.param)
    params = {k: int(v) for k, v in params.items()}
    path = DATA / f"accelforge_{args.workload}.yaml"
    tag = args.workload + "".join(f"_{k}{v}" for k, v in sorted(params.items()))
    return str(path), params, {}, {}, tag


def add_cli(ap) -> None:
    ap.add_argument("--workload", choices=("gemm", "conv", "conv1d", "conv1x1"), default="gemm")
    ap.add_argument("--param", action="append", default=[],
                    help="NAME=VALUE for the conv's Jinja variables "
                         "(data/accelforge_{conv,conv1d,conv1x1}.yaml)")


def nest_text(mapping, tensor: dict, rank: dict) -> str:
    """A mapping's nodes in our notation (see the module docstring)."""
    parts = []
    for node in mapping.nodes:
        kind = type(node).__name__
        if kind == "Storage" and node.component != "MainMemory":
            parts += [f"{tensor.get(t, t)}@{node.component}" for t in node.tensors]
        elif kind in ("Temporal", "Spatial"):
            parts.append(f"{'S-' if kind == 'Spatial' else ''}"
                         f"{rank.get(node.rank_variable, node.rank_variable)}:{int(node.tile_shape)}")
    return " ".join(parts)


def action_words(row, levels, tensor: dict) -> dict:
    """Every level's read and write actions per tensor, in words (8-bit), keyed
    ``LEVEL_TENSOR_read``; AccelForge's columns are ``EINSUM<SEP>action<SEP>LEVEL<SEP>T<SEP>a``."""
    words = {}
    for col, value in row.items():
        parts = col.split("<SEP>")
        if len(parts) == 5 and parts[1] == "action" and parts[2] in levels:
            key = f"{parts[2]}_{tensor.get(parts[3], parts[3])}_{parts[4]}"
            words[key] = words.get(key, 0) + round(float(value) / 8)
    return dict(sorted(words.items(), key=lambda kv: (levels.index(kv[0].split("_")[0]), kv[0])))


def write_meta(path: Path, **fields) -> None:
    """A sidecar JSON: what our side needs to rebuild the run (workload file, its parameters,
    the arch's sizes) and how the run went."""
    path.with_suffix(".json").write_text(json.dumps(fields, indent=1) + "\n")
