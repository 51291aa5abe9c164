"""Every single-Einsum figure of the Orojenesis paper, with a table of the key numbers.

``run(out_dir)`` solves the packaged problems of the figures (in parallel, cached), draws Fig. 1, 10-14
and 24a as PNG and PDF, and writes ``key_numbers.csv`` and ``key_numbers.md``. Then two figures
on hierarchies: Fig. 24b (random Simba mappings against our exact Simba bound and the one-buffer
curves; ``fig24b_simba.csv``) and the GPUs' exact DRAM and L2->SMEM bounds over L2 capacity
(``fig_gpu_levels.csv``). Those two figures' six hierarchy solves, one task per arch
(``joint.solve_pair``: the uniform and per-tensor bounds sharing work), start in a process
pool as soon as the one-Einsum curves are in, and run while this process draws and samples
(``benchmarks/reproduce_split.py`` times each part).
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ..curves.batch import solve_curves
from ..curves.cache import Cache
from ..io.specs import load_problems
from ..reference.enumerate import mapping_cloud
from .metrics import floor_gap, gemm_dims, pebbling_bound, summary

FIG11_PUBLISHED = [0.33, 0.25, 0.20, 0.17, 0.14, 0.11]
# model.md: fp32 4096^3 GEMM, measured DRAM bytes at the GPUs' L2 sizes (MiB -> bytes).
GPU_L2_MIB = {"A2": 2, "A30": 24, "A100": 40, "H100": 50}
GPU_BYTES = {"SIMT": {"A2": 2.69 * 2**30, "A30": 650 * 2**20, "A100": 533 * 2**20,
                      "H100": 373.39 * 2**20},
             "tensor core": {"A2": 1.58 * 2**30, "A30": 561.51 * 2**20, "A100": 411.06 * 2**20,
                             "H100": 373.33 * 2**20}}
# Fig. 24b: Simba's global buffer sizes (KB of 8-bit words) and random mappings per size.
FIG24B_KB = (0.125, 1, 8, 64, 512)
FIG24B_KB_QUICK = (0.125, 8)
FIG24B_SAMPLES, FIG24B_SAMPLES_QUICK = 2000, 100
# GPU figure: L2 capacities (MiB, fp32 words = bytes / 4), the GPUs' own L2 sizes among them.
# Seconds per capacity for the per-tensor bounds of the two hierarchy figures (a capacity the limit
# cuts is drawn as its proven bound .. the mapping found; the uniform bounds run to the end).
PER_TENSOR_SECONDS = 20.0
GPU_L2_SWEEP = tuple(sorted({2.0 ** e for e in range(-2, 7)} | {40.0, 50.0}))
# The paper's Fig. 2: A100 traffic over the algorithmic minimum (DRAM<->L2, L2<->L1).
FIG2_A100 = {"DRAM<->L2": 6.5, "L2<->L1": 32.3}
SIZE_COLORS = ("tab:purple", "tab:orange", "tab:brown", "tab:pink", "tab:olive")
FIGURES = ["fig01_gemm", "fig10_gemms", "fig11_gemms", "fig12_convs", "fig13_bmm_heads",
           "fig14_gbmm_groups", "fig24a_gemm4096"]


def run(out_dir: str | Path, cache: bool | Cache = True, force_rerun: bool = False,
        progress: bool = True, quick: bool = False, samples: int | None = None) -> pd.DataFrame:
    """Write every figure and the key-number tables to ``out_dir``; return the table.

    ``quick`` keeps the first two problems of each figure, two Simba buffer sizes, each GPU's
    own L2 capacity only and 100 random mappings per size (for smoke tests). ``samples``:
    random Simba mappings per global-buffer size (default 2000, as the paper's Fig. 24b).
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
    problem, uniform = data["fig24a_gemm4096"][0]
    with _LevelSolves(problem, quick) as levels:  # the hierarchy solves run while we draw
        _fig01(out, data["fig01_gemm"])
        for name in ("fig10_gemms", "fig12_convs", "fig13_bmm_heads", "fig14_gbmm_groups"):
            _accesses_and_oi(out, name, data[name])
        _fig11(out, data["fig11_gemms"])
        _fig24a(out, data["fig24a_gemm4096"])
        (per_tensor,) = solve_curves([problem], cache=cache, force_rerun=force_rerun,
                                     progress=False, mapspace="per_tensor/perfect")
        count = samples or (FIG24B_SAMPLES_QUICK if quick else FIG24B_SAMPLES)
        simba = _fig24b(out, problem, {"uniform": uniform, "per_tensor": per_tensor}, quick,
                        count, levels)
        gpus = _fig_gpu(out, problem, uniform, quick, levels)
    rows = [summary(p, f) | floor_gap(p, f) | {"figure": name}
            for name, pf in data.items() for p, f in pf]
    table = pd.DataFrame(rows).drop_duplicates(subset=["figure", "problem"])
    table.to_csv(out / "key_numbers.csv", index=False)
    extra = _section("Fig. 24b: Simba, GEMM 4096³ (fig24b_simba.csv)", simba) + _section(
        "GPU levels: GEMM 4096³ fp32 (fig_gpu_levels.csv)", gpus)
    (out / "key_numbers.md").write_text(_markdown(table, time.perf_counter() - start, extra))
    return table


def _fig24b_words(arch, quick: bool) -> tuple[tuple[float, ...], list[int]]:
    """Fig. 24b's global-buffer sizes: KB, and words of the arch's word size."""
    kb = FIG24B_KB_QUICK if quick else FIG24B_KB
    return kb, [int(k * 1024 * 8) // arch.word_bits for k in kb]


def _gpu_mib(gpu: str, quick: bool) -> tuple[float, ...]:
    """The GPU figure's L2 sizes (MiB): the sweep, or with ``quick`` the GPU's own L2 only."""
    return (float(GPU_L2_MIB[gpu.upper()]),) if quick else GPU_L2_SWEEP


def _solve_pair(problem, arch: str, caps: list[int]):
    """One arch's two hierarchy curves, uniform and per-tensor, each with its seconds (a pool
    task: module level, picklable). ``joint.solve_pair`` shares work between the two: the
    per-tensor keys floor the uniform MILP's stages (``simba``), or the uniform points seed the
    per-tensor MILP (the GPUs)."""
    from ..curves.joint import solve_pair
    from ..io.specs import load_arch

    uniform, per_tensor = solve_pair(problem, load_arch(arch), caps, PER_TENSOR_SECONDS)
    return {"uniform/perfect": (uniform, uniform.attrs["seconds"]),
            "per_tensor/perfect": (per_tensor, per_tensor.attrs["seconds"])}


class _LevelSolves:
    """The two hierarchy figures' six solves (Simba, A100, H100; uniform and per-tensor, one
    task per arch: :func:`_solve_pair`) in a pool started at once, so they run while this
    process draws the other figures and samples Simba mappings (neither needs them).
    :attr:`workers` processes (two on this 2-core machine: the tasks, about 9, 18 and 13 CPU
    seconds, and this process's drawing share the cores; the per-tensor solves' wall-clock
    limit per capacity is far above what any capacity takes now that neither solve repeats
    the other's work). ``get(arch, mapspace)``: that curve and its seconds. Leaving the block
    stops what still runs (an error, Ctrl-C)."""

    workers = 2

    def __init__(self, problem, quick: bool):
        from ..io.specs import load_arch

        _, words = _fig24b_words(load_arch("simba"), quick)
        caps = {"simba": words} | {gpu: [int(m * 2**20) // 4 for m in _gpu_mib(gpu, quick)]
                                   for gpu in ("a100", "h100")}
        # Fig. 24b's arch first (drawn first), then the GPUs, the larger first
        self.tasks = [(arch, caps[arch]) for arch in ("simba", "a100", "h100")]
        self.problem = problem
        self.futures: dict = {}

    def __enter__(self):
        from concurrent.futures import ProcessPoolExecutor

        from ..curves.batch import _ignore_interrupts

        self.pool = ProcessPoolExecutor(max_workers=max(1, min(len(self.tasks), self.workers)),
                                        initializer=_ignore_interrupts)
        for arch, caps in self.tasks:
            self.futures[arch] = self.pool.submit(_solve_pair, self.problem, arch, caps)
        return self

    def get(self, arch: str, mapspace: str):
        return self.futures[arch].result()[mapspace]

    def __exit__(self, kind, *_):
        from ..curves.batch import _stop

        if kind is None:
            self.pool.shutdown()
        else:
            _stop(self.pool)
        return False


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
    if not crossed:  # COSMA's formula is drawn only where the attainable curve never beats it
        plot_pebbling(M, K, N, ax, (3, 4 * float(occ.max())),
                      label="2MNK/√S + MN (lower bound)" if legend else None, **style)


def _floor(ax, problem, frontier, legend: bool = True, **style) -> None:
    """The any-schedule floor for every problem (docs/lower_bounds.md), beside the curve."""
    from .plots import plot_floor

    plot_floor(problem, ax, (3, 4 * float(frontier["occupancy"].max())),
               label="floor: no schedule moves less" if legend else None, points=24, **style)


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
    _floor(ax, problem, front)
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
        if name == "fig10_gemms":
            _floor(a1, p, f, legend=i == 0, color=color, alpha=0.7, lw=0.7)
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


def _markdown(table: pd.DataFrame, seconds: float, extra: str = "") -> str:
    cols = ["figure", "problem", "algorithmic_minimum", "max_effectual_buffer", "effectual_ratio",
            "breakpoints", "peak_op_intensity", "peak_macs_per_word", "floor_gap_max",
            "floor_gap_geomean"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in table[cols].itertuples(index=False):
        cells = [f"{v:.1%}" if c == "effectual_ratio" else f"{v:.4g}" if isinstance(v, float)
                 else f"{v:,}" if isinstance(v, int) else str(v) for c, v in zip(cols, r)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + f"\n{extra}\nTotal: {seconds:.1f} s\n"


def _section(title: str, df: pd.DataFrame) -> str:
    """A titled markdown table of a figure's numbers (floats to 4 digits, ints with commas)."""
    def cell(v):
        return f"{v:.4g}" if isinstance(v, float) else f"{v:,}" if isinstance(v, int) else str(v)

    lines = [f"\n## {title}\n", "| " + " | ".join(df.columns) + " |", "|" + "---|" * df.shape[1]]
    lines += ["| " + " | ".join(cell(v) for v in r) + " |"
              for r in df.astype(object).itertuples(index=False)]
    return "\n".join(lines) + "\n"


def _at(front: pd.DataFrame, x: float) -> float:
    """A one-buffer frontier's least accesses with at most ``x`` words (inf below its first
    breakpoint): the staircase's last breakpoint at or left of ``x``."""
    return float(_at_many(front, [x])[0])


def _at_many(front: pd.DataFrame, xs) -> np.ndarray:
    """:func:`_at` at every ``x`` of ``xs`` at once (Fig. 24b reads it at 10,000 samples'
    total words): the least accesses over the rows with occupancy at most ``x``, by a binary
    search over the occupancies sorted, with the running least of the accesses."""
    xs = np.asarray(xs, dtype=float)
    occ = front["occupancy"].astype(float).to_numpy()
    if not len(occ):
        return np.full(xs.shape, np.inf)
    order = np.argsort(occ, kind="stable")
    least = np.minimum.accumulate(front["accesses"].astype(float).to_numpy()[order])
    i = np.searchsorted(occ[order], xs, side="right")
    return np.where(i > 0, least[np.maximum(i - 1, 0)], np.inf)


def _fig24b(out: Path, problem, fronts: dict, quick: bool, count: int,
            levels: _LevelSolves) -> pd.DataFrame:
    """Fig. 24b: random valid Simba mappings per global-buffer size against our exact Simba
    bound (which no valid mapping may beat: checked, a failure is a bug) and the one-buffer
    curves, which ignore Simba's other buffers and so need not lie below the cloud."""
    from ..io.specs import load_arch
    from ..reference.sampling import sample

    arch = load_arch("simba")
    kb, words = _fig24b_words(arch, quick)
    clouds = [sample(problem, arch, count, capacity=w, seed=i) for i, w in enumerate(words)]
    bound, bound_s = levels.get("simba", "uniform/perfect")
    pt, pt_s = levels.get("simba", "per_tensor/perfect")
    _check_above(bound, clouds, arch)
    _check_above(pt, clouds, arch)
    table = _fig24b_table(kb, words, clouds, bound, fronts, bound_s)
    pt = pt.assign(**{c: pt[c] if c in pt.columns else None for c in ("bound_of", "best_bound")})
    table = table.assign(pt_status=pt["status"].values, pt_dram=pt["accesses"].values,
                         pt_bound_of=pt["bound_of"].values, pt_best_bound=pt["best_bound"].values,
                         pt_bound_s_all_sizes=round(pt_s, 1))
    table.to_csv(out / "fig24b_simba.csv", index=False)
    _plot_fig24b(out, problem, words, clouds, bound, fronts, pt)
    return table


def _check_above(bound: pd.DataFrame, clouds: list[pd.DataFrame], arch) -> None:
    """Every sample's lexicographic key (DRAM first, then each level inwards) is at least the
    exact bound's at its buffer size; raise (a bug in the bound or the cost model) if not. A
    ``time_limit`` row bounds the key up to its ``bound_of`` column: the proven columns, then
    ``best_bound``."""
    cols = ["accesses"] + [f"accesses_{lv.name}" for lv in arch.on_chip]
    for (_, b), cloud in zip(bound.iterrows(), clouds):
        least = min(map(tuple, cloud[cols].astype("int64").values.tolist()))
        if b["status"] == "time_limit":
            stage = cols.index(b["bound_of"])
            floor = tuple(int(b[c]) for c in cols[:stage]) + (math.ceil(b["best_bound"]),)
            least = least[:stage + 1]
        else:
            floor = tuple(int(b[c]) for c in cols)
        if least < floor:
            raise AssertionError(f"a random Simba mapping at {b['capacity']} words ({least}) lies "
                                 f"below the exact bound {tuple(b[c] for c in cols)}: a bug")


def _fig24b_table(kb, words, clouds, bound, fronts, bound_s: float) -> pd.DataFrame:
    """Per global-buffer size: the cloud's least and median DRAM traffic, our bound, the
    one-buffer bounds read at the buffer size, and how many samples lie below them (below the
    per-tensor curve read at a sample's total on-chip words: must be none)."""
    rows = []
    for k, w, cloud, b in zip(kb, words, clouds, bound.itertuples(index=False)):
        dram = cloud["accesses"].astype(float)
        one = {m: _at(f, w) for m, f in fronts.items()}
        at_total = _at_many(fronts["per_tensor"], cloud["total_words"])
        rows.append({"gb_kb": k, "gb_words": w, "samples": len(cloud),
                     "min_sampled_dram": int(dram.min()), "median_sampled_dram": float(dram.median()),
                     "our_bound": int(b.accesses), "our_bound_gb_occupancy": int(b.occupancy),
                     "one_buffer": one["uniform"], "one_buffer_per_tensor": one["per_tensor"],
                     "below_one_buffer": int((dram < one["uniform"]).sum()),
                     "below_one_buffer_per_tensor": int((dram < one["per_tensor"]).sum()),
                     "below_per_tensor_at_total_words": int((dram < at_total).sum()),
                     "sampling_s": round(cloud.attrs["seconds"], 2),
                     "bound_s_all_sizes": round(bound_s, 1)})
    return pd.DataFrame(rows)


def _plot_fig24b(out: Path, problem, words, clouds, bound, fronts, pt=None) -> None:
    """(a) DRAM traffic over the global-buffer size: cloud (jittered), our bound, the
    one-buffer curves; (b) the cloud over each sample's total on-chip words, with the
    one-buffer per-tensor curve that no multi-level mapping can beat there."""
    import matplotlib.pyplot as plt

    from .plots import plot_samples, staircase_xy

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
    hi = 8 * max(max(words), max(float(c["total_words"].max()) for c in clouds))
    for i, (w, cloud) in enumerate(zip(words, clouds)):
        color = SIZE_COLORS[i % len(SIZE_COLORS)]
        plot_samples(cloud.assign(occupancy=w), a, jitter=0.3, seed=i, color=color,
                     label="random valid mappings (jittered)" if i == 0 else None)
        plot_samples(cloud, b, x="total_words", color=color, s=5, alpha=0.5,
                     label=f"mappings, GB {w:,} words")
    a.plot(words, bound["accesses"].astype(float), "D", color="tab:red", ms=7, mec="k", mew=0.5,
           label="our exact Simba bound, uniform placement (at each size)", zorder=4)
    if pt is not None:  # per-tensor: exact where proven; else its proven DRAM bound .. incumbent
        pt = pt.assign(**{c: pt[c] if c in pt.columns else None
                          for c in ("bound_of", "best_bound")})
        done = pt["status"] == "optimal"
        a.plot([w for w, d in zip(words, done) if d], pt["accesses"][done].astype(float), "P",
               color="tab:purple", ms=8, mec="k", mew=0.5, zorder=5,
               label="exact Simba bound, per-tensor placement")
        cut = (pt["status"] == "time_limit") & (pt["bound_of"] == "accesses")
        if cut.any():
            a.vlines([w for w, c in zip(words, cut) if c], pt["best_bound"][cut].astype(float),
                     pt["accesses"][cut].astype(float), color="tab:purple", lw=3, alpha=0.5,
                     zorder=5, label="per-tensor, time limit: proven DRAM bound .. found")
        kept = (pt["status"] == "time_limit") & (pt["bound_of"] != "accesses")
        if kept.any():  # DRAM proven, an inner level's stage cut
            a.plot([w for w, k in zip(words, kept) if k], pt["accesses"][kept].astype(float),
                   "P", color="tab:purple", mfc="none", ms=8, mew=1.2, zorder=5,
                   label="per-tensor DRAM bound (inner levels cut by time)")
    styles = {"uniform": ("one-buffer (Orojenesis)", "tab:blue", "-"),
              "per_tensor": ("one-buffer, per-tensor", "tab:green", "--")}
    for name, (label, color, ls) in styles.items():
        xs, ys = staircase_xy(fronts[name], hi)
        for ax in (a, b) if name == "per_tensor" else (a,):
            ax.step(xs, ys, where="post", color=color, ls=ls, lw=1.1, label=label)
    minimum = fronts["uniform"].attrs["algorithmic_minimum"]
    top = 30 * max(float(c["accesses"].max()) for c in clouds)  # room for the legends
    for ax in (a, b):
        ax.set_ylim(minimum / 2, top)
        ax.axhline(minimum, color="k", ls=":", lw=0.8, label="algorithmic minimum")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylabel("DRAM accesses (8-bit words)")
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=7, frameon=False, loc="upper right", ncol=2)
    a.set_xlim(min(words) / 2, max(words) * 2)
    b.set_xlim(min(float(c["total_words"].min()) for c in clouds) / 2, hi / 4)
    a.set_xlabel("global buffer size (words = bytes)")
    b.set_xlabel("total on-chip words of the mapping (all levels × instances)")
    a.set_title("(a) over the global buffer size", fontsize=9)
    b.set_title("(b) over each mapping's total on-chip words", fontsize=9)
    fig.suptitle(f"Fig. 24b: Simba, GEMM 4096³, {len(clouds[0])} random mappings per size",
                 fontsize=10)
    _save(fig, out, "fig24b_simba")


def _fig_gpu(out: Path, problem, uniform: pd.DataFrame, quick: bool,
             levels: _LevelSolves) -> pd.DataFrame:
    """The exact DRAM and L2->SMEM bounds of A100 and H100 over L2 capacity, as traffic over
    the algorithmic minimum, against the measured DRAM traffic (Fig. 24a) and the paper's
    Fig. 2 ratios for A100. Both mapspaces: uniform placement within each level (Timeloop's,
    solved to the end) and per-tensor placement (AccelForge's, :data:`PER_TENSOR_SECONDS` per
    capacity; a capacity whose inner stage the limit cuts keeps its proven columns and shows
    the SMEM interval: ``pt_bound_ratio`` .. its incumbent)."""
    from ..model.cost import algorithmic_minimum

    minimum = algorithmic_minimum(problem)
    rows = []
    for gpu in ("a100", "h100"):
        mib = _gpu_mib(gpu, quick)
        df, seconds = levels.get(gpu, "uniform/perfect")
        pt, pt_seconds = levels.get(gpu, "per_tensor/perfect")
        for m, r, q in zip(mib, df.itertuples(index=False), pt.itertuples(index=False)):
            rows.append({"gpu": gpu.upper(), "l2_mib": m, "l2_words": int(r.capacity),
                         "l2_occupancy": int(r.occupancy), "dram": int(r.accesses),
                         "accesses_SMEM": int(r.accesses_SMEM),
                         "dram_ratio": r.accesses / minimum,
                         "smem_ratio": r.accesses_SMEM / minimum,
                         "one_buffer_dram_ratio": _at(uniform, r.capacity) / minimum,
                         "solve_s_all_capacities": round(seconds, 1)}
                        | _per_tensor_columns(q, minimum, pt_seconds))
    table = pd.DataFrame(rows)
    table.to_csv(out / "fig_gpu_levels.csv", index=False)
    _plot_gpu(out, table, uniform, minimum)
    return table


def _per_tensor_columns(q, minimum: int, seconds: float) -> dict:
    """The per-tensor row's columns for the GPU table: its status, DRAM and SMEM ratios (the
    incumbent's where a time limit cut the SMEM stage, with the proven bound beside)."""
    row = q._asdict()
    out = {"pt_status": row["status"], "pt_dram": int(row["accesses"]),
           "pt_accesses_SMEM": int(row["accesses_SMEM"]),
           "pt_dram_ratio": row["accesses"] / minimum,
           "pt_smem_ratio": row["accesses_SMEM"] / minimum,
           "pt_bound_of": row.get("bound_of") if row["status"] == "time_limit" else None,
           "pt_bound_ratio": (row["best_bound"] / minimum if row["status"] == "time_limit"
                              else None),
           "pt_solve_s_all_capacities": round(seconds, 1)}
    return out


def _plot_gpu(out: Path, table: pd.DataFrame, uniform: pd.DataFrame, minimum: int) -> None:
    """Traffic / algorithmic minimum over L2 MiB: per GPU the exact DRAM (solid) and
    L2->SMEM (dashed) bounds, the one-buffer curve, L2 sizes, measured and published points."""
    import matplotlib.pyplot as plt

    from .plots import staircase_xy

    fig, ax = plt.subplots(figsize=(6.4, 4.4), layout="constrained")
    xs, ys = staircase_xy(uniform, 2**26)
    ax.step([x * 4 / 2**20 for x in xs], [y / minimum for y in ys], where="post", color="0.6",
            lw=1, label="one-buffer DRAM bound (Fig. 24a)")
    # the GPUs' bounds coincide where their capacities do: A100 hollow and large, H100 filled
    looks = {"A100": ("tab:blue", 9, "none", "right", 0.97),
             "H100": ("tab:orange", 4, None, "left", 1.03)}
    for gpu, rows in table.groupby("gpu"):
        color, ms, face, side, shift = looks[gpu]
        for col, marker, what in (("dram_ratio", "o", "DRAM↔L2"), ("smem_ratio", "s", "L2↔SMEM")):
            ax.plot(rows["l2_mib"], rows[col], marker, color=color, ms=ms, mfc=face or color,
                    mew=1.2, label=f"{gpu}: uniform {what} bound")
        for col, marker, what in (("pt_dram_ratio", "x", "DRAM↔L2"),
                                  ("pt_smem_ratio", "+", "L2↔SMEM")):
            ax.plot(rows["l2_mib"], rows[col], marker, color=color, ms=ms + 2, mew=1.2,
                    label=f"{gpu}: per-tensor {what} bound")
        cut = rows[rows["pt_status"] == "time_limit"]
        if len(cut):  # the SMEM interval a time limit left open: proven bound .. incumbent
            ax.vlines(cut["l2_mib"], cut["pt_bound_ratio"], cut["pt_smem_ratio"], color=color,
                      lw=2, alpha=0.5, label=f"{gpu}: per-tensor L2↔SMEM, time limit (bound..found)")
        l2 = GPU_L2_MIB[gpu]
        ax.axvline(l2, color=color, ls=":", lw=0.9)
        ax.text(l2 * shift, 65, f"{gpu} L2\n{l2} MiB", color=color, fontsize=7, va="top", ha=side)
        for kind, marker in (("SIMT", "^"), ("tensor core", "v")):
            ax.scatter([l2], [GPU_BYTES[kind][gpu] / 4 / minimum], marker=marker, s=40,
                       color=color, edgecolor="k", lw=0.5, zorder=4,
                       label=f"{gpu} measured DRAM ({kind})")
    for (what, ratio), marker in zip(FIG2_A100.items(), ("*", "P")):
        ax.scatter([40], [ratio], marker=marker, s=90, color="tab:red", edgecolor="k", lw=0.5,
                   zorder=5, label=f"paper Fig. 2, A100 {what}: {ratio}×")
    ax.axhline(1, color="k", ls=":", lw=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(0.2, 80)
    ax.set_ylim(0.8, 70)
    ax.set_xlabel("L2 capacity (MiB, fp32 words = bytes / 4)")
    ax.set_ylabel("traffic / algorithmic minimum (3·4096² words)")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=6, frameon=False, loc="lower left", ncol=2)
    gap = (table["dram_ratio"] / table["pt_dram_ratio"]).max()
    ax.set_title("GEMM 4096³ fp32 on A100 / H100: exact bounds per level, uniform and "
                 f"per-tensor placement\n(per-tensor DRAM up to {gap:.2f}× below uniform)",
                 fontsize=9)
    _save(fig, out, "fig_gpu_levels")
