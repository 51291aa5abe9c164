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


def staircase_xy(curve: pd.DataFrame, x_end: float | None = None) -> tuple[list, list]:
    """Step coordinates of a frontier (breakpoints) or of a ``solve_curve`` table (capacities)."""
    x_col = "capacity" if "capacity" in curve.columns else "occupancy"
    if x_end is None and x_col == "occupancy" and len(curve):
        x_end = 2 * float(curve["occupancy"].max())  # show the last step, not just its corner
    rows = curve[curve["status"] == "optimal"].sort_values(x_col)
    xs, ys = rows[x_col].astype(float).tolist(), rows["accesses"].astype(float).tolist()
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
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 3.4), layout="constrained")
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
