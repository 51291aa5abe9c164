"""Figures of curves: the log-log staircase of accesses against buffer size.

matplotlib is imported when a function runs, never at package import. Every function takes
``ax=`` (a new figure when omitted) and returns the axes.
"""

from __future__ import annotations

import pandas as pd

UNITS = {"words": None, "bytes": 8, "bits": 1}


def scale(unit: str, word_bits: int) -> float:
    """Factor from words to ``unit`` ("words", "bytes" or "bits")."""
    if unit not in UNITS:
        raise ValueError(f"unit must be one of {', '.join(UNITS)}, got {unit!r}")
    return 1.0 if UNITS[unit] is None else word_bits / UNITS[unit]


def _axes(ax, figsize=(4.5, 3.4)):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def staircase_xy(curve: pd.DataFrame, x_end: float | None = None,
                 column: str = "accesses") -> tuple[list, list]:
    """Step coordinates of ``column`` over a frontier (breakpoints) or a ``solve_curve`` table
    (capacities)."""
    x_col = "capacity" if "capacity" in curve.columns else "occupancy"
    if x_end is None and x_col == "occupancy" and len(curve):
        x_end = 2 * float(curve["occupancy"].max())  # show the last step, not just its corner
    rows = curve[curve["status"] == "optimal"].sort_values(x_col)
    xs, ys = rows[x_col].astype(float).tolist(), rows[column].astype(float).tolist()
    if xs and x_end is not None and x_end > xs[-1]:
        xs.append(x_end)
        ys.append(ys[-1])
    return xs, ys


def plot_curve(curve: pd.DataFrame, ax=None, unit: str = "words", word_bits: int = 8,
               label: str | None = None, minimum: bool = True, x_end: float | None = None,
               **style):
    """Accesses against buffer size, log-log, as the staircase it is.

    ``minimum`` draws the algorithmic minimum (every tensor moved once) as a dotted line.
    """
    ax = _axes(ax)
    k = scale(unit, word_bits)
    xs, ys = staircase_xy(curve, x_end)
    name = label if label is not None else curve.attrs.get("name") or None
    (line,) = ax.step([x * k for x in xs], [y * k for y in ys], where="post", label=name, **style)
    if minimum and "algorithmic_minimum" in curve.attrs:
        ax.axhline(curve.attrs["algorithmic_minimum"] * k, color=line.get_color(), ls=":", lw=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(f"buffer size ({unit})")
    ax.set_ylabel(f"backing-store accesses ({unit})")
    ax.grid(True, which="major", alpha=0.3)
    if name:
        ax.legend(frameon=False)
    return ax


def plot_op_intensity(curve: pd.DataFrame, ax=None, column: str = "op_intensity",
                      unit: str = "words", word_bits: int = 8, label: str | None = None,
                      x_end: float | None = None, **style):
    """Operational intensity against buffer size (log x): the 'mesa' that flattens at the maximal
    effectual buffer. ``column``: ``op_intensity`` (Timeloop ops/word) or ``macs_per_word``."""
    ax = _axes(ax)
    k = scale(unit, word_bits)
    xs, ys = staircase_xy(curve, x_end, column)
    ax.step([x * k for x in xs], [y / k for y in ys], where="post", label=label, **style)
    ax.set_xscale("log")
    ax.set_xlabel(f"buffer size ({unit})")
    per = "ops" if column == "op_intensity" else "MACs"
    ax.set_ylabel(f"operational intensity ({per}/{unit[:-1]})")
    ax.grid(True, which="major", alpha=0.3)
    return ax


def plot_cloud(points: pd.DataFrame, ax=None, unit: str = "words", word_bits: int = 8,
               label: str = "all mappings", **style):
    """Every mapping as a point (occupancy, accesses), under a frontier."""
    ax = _axes(ax)
    k = scale(unit, word_bits)
    style = {"s": 3, "color": "0.75", "alpha": 0.5, "linewidths": 0, "rasterized": True} | style
    ax.scatter(points["occupancy"] * k, points["accesses"] * k, label=label, **style)
    ax.set_xscale("log")
    ax.set_yscale("log")
    return ax


def plot_pebbling(M: int, K: int, N: int, ax=None, x_range: tuple[float, float] | None = None,
                  unit: str = "words", word_bits: int = 8, label: str = "any-schedule bound",
                  **style):
    """The red-blue pebbling GEMM bound max(MK+KN+MN, 2MNK/sqrt(S)+MN) over buffer sizes S."""
    import numpy as np

    from .metrics import pebbling_bound

    ax = _axes(ax)
    k = scale(unit, word_bits)
    lo, hi = x_range if x_range else (3, 4 * (M * K + K * N + M * N))
    s = np.geomspace(lo, hi, 200)
    style = {"color": "tab:red", "ls": "--", "lw": 1.0} | style
    ax.plot(s * k, pebbling_bound(M, K, N, s) * k, label=label, **style)
    return ax


def plot_floor(problem, ax=None, x_range: tuple[float, float] | None = None, unit: str = "words",
               word_bits: int = 8, label: str | None = "floor: no schedule moves less",
               points: int = 40, **style):
    """The any-schedule floor (``bs.lower_bound``, docs/lower_bounds.md) as its own line: a
    staircase over ``points`` capacities spaced evenly in log scale. The floor falls as the
    buffer grows, so each step holds the value at its *right* end (``where="pre"``), which is
    at most the true floor anywhere on the step: the drawn line never rises above a bound."""
    import numpy as np

    from ..model.lower import lower_bound

    ax = _axes(ax)
    k = scale(unit, word_bits)
    lo, hi = x_range if x_range else (3, 4 * (problem.macs if hasattr(problem, "macs") else 1e9))
    caps = sorted({int(c) for c in np.geomspace(max(lo, 1), hi, points)})
    table = lower_bound(problem, caps).dropna(subset=["lower_bound"])
    style = {"color": "tab:red", "ls": "-.", "lw": 1.0} | style | {"where": "pre"}
    ax.step(table["capacity"].astype(float) * k, table["lower_bound"].astype(float) * k,
            label=label, **style)
    return ax


def plot_ratio_bars(labels: list[str], ratios: list[float], ax=None,
                    published: list[float] | None = None):
    """Sorted bars of maximal effectual buffer / total operand size (Fig. 11), in percent."""
    ax = _axes(ax, figsize=(7.5, 3.2))
    order = sorted(range(len(ratios)), key=lambda i: -ratios[i])
    ax.bar(range(len(order)), [100 * ratios[i] for i in order], color="tab:blue")
    ax.set_xticks(range(len(order)), [labels[i] for i in order], rotation=90, fontsize=6)
    for level in published or []:
        ax.axhline(100 * level, color="tab:red", lw=0.7, ls=":")
    ax.set_ylabel("max. effectual buffer /\ntotal operand size (%)")
    ax.grid(True, axis="y", alpha=0.3)
    return ax


def plot_measured(points: list[tuple[str, float, float]], ax=None, **style):
    """Measured (label, buffer, accesses) points, already in the axes' unit."""
    ax = _axes(ax)
    markers = "os^vD*"
    for i, (label, x, y) in enumerate(points):
        ax.scatter([x], [y], marker=markers[i % len(markers)], label=label, zorder=3,
                   **({"s": 22} | style))
    return ax


def plot_fusion(fused: pd.DataFrame, unfused: pd.DataFrame, ax=None, unit: str = "words",
                word_bits: int = 8, label: str | None = None):
    """Fused and unfused frontiers of a workload, log-log, with the traffic ratio
    unfused / fused on a second axis. Returns (curve axes, ratio axes)."""
    import numpy as np

    ax = _axes(ax, figsize=(5.2, 3.6))
    k = scale(unit, word_bits)
    end = 2 * float(max(fused["occupancy"].max(), unfused["occupancy"].max()))
    name = f"{label}: " if label else ""
    plot_curve(unfused, ax=ax, unit=unit, word_bits=word_bits, label=f"{name}unfused", x_end=end)
    plot_curve(fused, ax=ax, unit=unit, word_bits=word_bits, label=f"{name}fused", x_end=end)
    caps = np.union1d(fused["occupancy"].astype("int64"), unfused["occupancy"].astype("int64"))
    caps = caps[caps >= max(fused["occupancy"].min(), unfused["occupancy"].min())]

    def at(df):
        occ = df["occupancy"].astype("int64").to_numpy()
        return df["accesses"].astype("float64").to_numpy()[np.searchsorted(occ, caps, "right") - 1]

    ratio = at(unfused) / at(fused)
    twin = ax.twinx()
    twin.step(list(caps * k) + [end * k], list(ratio) + [ratio[-1]], where="post", color="0.35",
              lw=0.9, ls="--", label="unfused / fused")
    twin.set_ylabel("traffic ratio unfused / fused")
    twin.set_ylim(bottom=0.9, top=max(1.1, ratio.max() * 1.15))
    twin.legend(frameon=False, loc="center right")
    return ax, twin


def plot_samples(samples: pd.DataFrame, ax=None, x: str = "occupancy", y: str = "accesses",
                 jitter: float = 0.0, seed: int = 0, label: str | None = None, **style):
    """Sampled mappings (``sampling.sample``) as points, log-log. ``jitter`` spreads each point
    by up to that many octaves along x, so mappings sampled at one capacity (same x) show how
    they spread in y instead of hiding each other on one vertical line."""
    import numpy as np

    ax = _axes(ax)
    xs = samples[x].astype(float).to_numpy()
    if jitter:
        xs = xs * 2.0 ** np.random.default_rng(seed).uniform(-jitter, jitter, len(xs))
    style = {"s": 4, "alpha": 0.35, "linewidths": 0, "rasterized": True} | style
    ax.scatter(xs, samples[y].astype(float), label=label, **style)
    ax.set_xscale("log")
    ax.set_yscale("log")
    return ax
