"""Every single-Einsum figure of the Orojenesis paper, with a table of the key numbers.

``run(out_dir)`` solves all problems of ``problems/`` (in parallel, cached), draws Fig. 1, 10-14
and 24a as PNG and PDF, and writes ``key_numbers.csv`` and ``key_numbers.md``.
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from .batch import solve_curves
from .cache import Cache
from .enumerate import mapping_cloud
from .metrics import gemm_dims, pebbling_bound, summary
from .specs import load_problems

FIG11_PUBLISHED = [0.33, 0.25, 0.20, 0.17, 0.14, 0.11]
# model.md: fp32 4096^3 GEMM, measured DRAM bytes at the GPUs' L2 sizes (MiB -> bytes).
GPU_L2_MIB = {"A2": 2, "A30": 24, "A100": 40, "H100": 50}
GPU_BYTES = {"SIMT": {"A2": 2.69 * 2**30, "A30": 650 * 2**20, "A100": 533 * 2**20,
                      "H100": 373.39 * 2**20},
             "tensor core": {"A2": 1.58 * 2**30, "A30": 561.51 * 2**20, "A100": 411.06 * 2**20,
                             "H100": 373.33 * 2**20}}
FIGURES = ["fig01_gemm", "fig10_gemms", "fig11_gemms", "fig12_convs", "fig13_bmm_heads",
           "fig14_gbmm_groups", "fig24a_gemm4096"]


def run(out_dir: str | Path, cache: bool | Cache = True, force_rerun: bool = False,
        progress: bool = True, quick: bool = False) -> pd.DataFrame:
    """Write every figure and the key-number tables to ``out_dir``; return the table.

    ``quick`` keeps the first two problems of each figure (for smoke tests).
    """
    import matplotlib

    matplotlib.use("Agg")
    start = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sets = {name: load_problems(name)[: 2 if quick else None] for name in FIGURES}
    unique = {p: None for ps in sets.values() for p in ps}
    fronts = dict(zip(unique, solve_curves(list(unique), cache=cache, force_rerun=force_rerun,
                                           progress=progress)))
    data = {name: [(p, fronts[p]) for p in ps] for name, ps in sets.items()}
    _fig01(out, data["fig01_gemm"])
    for name in ("fig10_gemms", "fig12_convs", "fig13_bmm_heads", "fig14_gbmm_groups"):
        _accesses_and_oi(out, name, data[name])
    _fig11(out, data["fig11_gemms"])
    _fig24a(out, data["fig24a_gemm4096"])
    rows = [summary(p, f) | {"figure": name} for name, pf in data.items() for p, f in pf]
    table = pd.DataFrame(rows).drop_duplicates(subset=["figure", "problem"])
    table.to_csv(out / "key_numbers.csv", index=False)
    (out / "key_numbers.md").write_text(_markdown(table, time.perf_counter() - start))
    return table


def _save(fig, out: Path, stem: str) -> None:
    import matplotlib.pyplot as plt

    for ext in ("png", "pdf"):
        fig.savefig(out / f"{stem}.{ext}", dpi=200)
    plt.close(fig)


def _pebbling(ax, problem, frontier, legend: bool = True, **style) -> None:
    dims = gemm_dims(problem)
    if dims is None:
        return
    from .plots import plot_pebbling

    M, K, N = dims
    occ, acc = frontier["occupancy"].astype(float), frontier["accesses"].astype(float)
    crossed = bool((acc < pebbling_bound(M, K, N, occ) - 1e-6).any())
    label = "2MNK/√S + MN" + (" (crossed: not a bound here)" if crossed else " (lower bound)")
    plot_pebbling(M, K, N, ax, (3, 4 * float(occ.max())), label=label if legend else None, **style)


def _fig01(out: Path, pf) -> None:
    import matplotlib.pyplot as plt

    from .plots import plot_cloud, plot_curve

    problem, front = pf[0]
    fig, ax = plt.subplots(figsize=(5, 3.8), layout="constrained")
    plot_cloud(mapping_cloud(problem), ax)
    plot_curve(front, ax, label="attainable bound (frontier)", color="tab:blue")
    ax.axhline(front.attrs["algorithmic_minimum"], color="k", ls=":", lw=0.8,
               label="algorithmic minimum")
    _pebbling(ax, problem, front)
    ax.set_title(f"Fig. 1: GEMM {'×'.join(str(problem.size[d]) for d in 'mkn')}", fontsize=9)
    ax.legend(fontsize=7, frameon=False)
    _save(fig, out, "fig01_gemm")


def _accesses_and_oi(out: Path, name: str, pf) -> None:
    import matplotlib.pyplot as plt

    from .plots import plot_curve, plot_op_intensity

    column = "macs_per_word" if name.startswith("fig14") else "op_intensity"
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.6), layout="constrained")
    x_end = 2 * max(float(f["occupancy"].max()) for _, f in pf)
    for i, (p, f) in enumerate(pf):
        color = f"C{i % 10}"
        plot_curve(f, a1, label=p.name, color=color, x_end=x_end)
        plot_op_intensity(f, a2, column=column, label=p.name, color=color, x_end=x_end)
        _pebbling(a1, p, f, legend=False, color=color, alpha=0.5, lw=0.7)
    a1.legend(fontsize=6, frameon=False)
    a2.legend(fontsize=6, frameon=False)
    fig.suptitle(name.replace("_", " "), fontsize=9)
    _save(fig, out, name)


def _fig11(out: Path, pf) -> None:
    import matplotlib.pyplot as plt

    from .metrics import effectual_ratio
    from .plots import plot_ratio_bars

    fig, ax = plt.subplots(figsize=(8, 3.4), layout="constrained")
    labels = ["×".join(str(p.size[d]) for d in "mkn") for p, _ in pf]
    plot_ratio_bars(labels, [effectual_ratio(p, f) for p, f in pf], ax, FIG11_PUBLISHED)
    ax.set_title("Fig. 11: maximal effectual buffer / total operand size "
                 "(dotted: published 33, 25, 20, 17, 14, 11 %)", fontsize=9)
    _save(fig, out, "fig11_gemms")


def _fig24a(out: Path, pf) -> None:
    import matplotlib.pyplot as plt

    from .plots import plot_curve, plot_measured

    problem, front = pf[0]
    fig, ax = plt.subplots(figsize=(5, 3.8), layout="constrained")
    plot_curve(front, ax, unit="bytes", word_bits=32, label="bound (fp32)")
    for kind, by_gpu in GPU_BYTES.items():
        plot_measured([(f"{gpu} {kind}", GPU_L2_MIB[gpu] * 2**20, b) for gpu, b in by_gpu.items()],
                      ax)
    ax.set_xlim(2**20, 2**28)
    ax.set_ylim(2**27, 2**32)
    ax.legend(fontsize=6, frameon=False, ncol=2)
    ax.set_title("Fig. 24a: GEMM 4096³ fp32, bound vs measured DRAM bytes", fontsize=9)
    _save(fig, out, "fig24a_gemm4096")


def _markdown(table: pd.DataFrame, seconds: float) -> str:
    cols = ["figure", "problem", "algorithmic_minimum", "max_effectual_buffer", "effectual_ratio",
            "breakpoints", "peak_op_intensity", "peak_macs_per_word"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in table[cols].itertuples(index=False):
        cells = [f"{v:.1%}" if c == "effectual_ratio" else f"{v:.4g}" if isinstance(v, float)
                 else f"{v:,}" if isinstance(v, int) else str(v) for c, v in zip(cols, r)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + f"\n\nTotal: {seconds:.1f} s\n"
