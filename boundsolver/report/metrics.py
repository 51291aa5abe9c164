"""Numbers derived from curves: maximal effectual buffer, ratios, and the any-schedule GEMM bound."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..model.cost import algorithmic_minimum
from ..model.einsum import Einsum


def max_effectual_buffer(frontier: pd.DataFrame) -> int:
    """Smallest occupancy at which the frontier reaches its least accesses (model.md).

    Beyond it a bigger buffer saves nothing. Takes ``pareto_frontier`` or ``enumerate_frontier``.
    """
    rows = frontier[frontier["status"] == "optimal"]
    if len(rows) != len(frontier) or not len(rows):
        raise ValueError("max_effectual_buffer needs a complete frontier (every row optimal)")
    best = rows["accesses"].min()
    return int(rows[rows["accesses"] == best]["occupancy"].min())


def effectual_ratio(problem: Einsum, frontier: pd.DataFrame) -> float:
    """Maximal effectual buffer over total operand size, the paper's Fig. 11 metric."""
    return max_effectual_buffer(frontier) / algorithmic_minimum(problem)


def peak_op_intensity(frontier: pd.DataFrame, column: str = "op_intensity") -> float:
    return float(frontier[column].max())


def gemm_dims(problem: Einsum) -> tuple[int, int, int] | None:
    """(M, K, N) when the problem is a plain GEMM ``Z[m,n] += A[m,k] * B[k,n]`` (any names)."""
    if len(problem.inputs) != 2 or any(not a.is_plain for t in problem.tensors for a in t.axes):
        return None
    a, b = (set(t.ranks) for t in problem.inputs)
    z = set(problem.output.ranks)
    shared, only_a, only_b = a & b, a - b, b - a
    if not (len(shared) == len(only_a) == len(only_b) == 1 and z == only_a | only_b):
        return None
    size = problem.size
    return size[next(iter(only_a))], size[next(iter(shared))], size[next(iter(only_b))]


def pebbling_bound(M: int, K: int, N: int, capacity) -> np.ndarray:
    """Any-schedule GEMM lower bound max(MK+KN+MN, 2MNK/sqrt(S) + MN) (red-blue pebbling, COSMA).

    Valid for K >= max(M, N); for a short reduction dimension tilings beat it (see tests), so
    callers should only draw it there.
    """
    s = np.asarray(capacity, dtype=float)
    return np.maximum(M * K + K * N + M * N, 2 * M * N * K / np.sqrt(s) + M * N)


def floor_gap(problem: Einsum, frontier: pd.DataFrame, samples: int = 12) -> dict:
    """How far the attainable curve sits above the any-schedule floor (docs/lower_bounds.md):
    the largest and the geometric-mean ``accesses / lower_bound`` over ``samples`` breakpoints
    spread evenly along the frontier (every breakpoint would cost a floor each)."""
    from ..model.lower import with_lower_bound

    rows = frontier[frontier["status"] == "optimal"]
    if not len(rows):
        return {"floor_gap_max": math.nan, "floor_gap_geomean": math.nan}
    keep = np.unique(np.linspace(0, len(rows) - 1, samples).astype(int))
    gap = with_lower_bound(rows.iloc[keep], problem)["gap"].dropna()
    return {"floor_gap_max": float(gap.max()),
            "floor_gap_geomean": float(np.exp(np.log(gap).mean()))}


def summary(problem: Einsum, frontier: pd.DataFrame) -> dict:
    """Key numbers of one frontier, for tables."""
    meb = max_effectual_buffer(frontier)
    total = algorithmic_minimum(problem)
    return {"problem": problem.name or str(problem), "macs": problem.macs,
            "algorithmic_minimum": total, "max_effectual_buffer": meb,
            "effectual_ratio": meb / total, "breakpoints": len(frontier),
            "peak_op_intensity": peak_op_intensity(frontier),
            "peak_macs_per_word": peak_op_intensity(frontier, "macs_per_word"),
            "min_occupancy": int(frontier["occupancy"].min()),
            "accesses_at_min_occupancy": int(frontier["accesses"].iloc[0])
            if math.isfinite(frontier["occupancy"].min()) else None}
