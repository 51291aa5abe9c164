"""The fixed result schema shared by the MILP and the enumerator: one row per curve point."""

from __future__ import annotations

import enum
import math

import pandas as pd

from .arch import Arch
from .cost import Copies, Cost, LevelCost, Mapping, Nest, algorithmic_minimum, op_intensity
from .einsum import Einsum


class Status(str, enum.Enum):
    OPTIMAL = "optimal"
    INFEASIBLE = "infeasible"
    TIME_LIMIT = "time_limit"

    def __str__(self) -> str:
        return self.value


def columns(problem: Einsum, capacity: bool) -> list[str]:
    cols = ["capacity"] if capacity else []
    cols += ["occupancy", "accesses", "status", "op_intensity", "macs_per_word"]
    cols += [f"reads_{t.name}" for t in problem.tensors]
    cols += [f"writes_{problem.output.name}"]
    cols += [f"tile_{d}" for d in problem.ranks]
    cols += ["loop_order", "mapping", "solve_seconds", "best_bound", "incumbent"]
    return cols


def point_row(problem: Einsum, mapping: Mapping, cost: Cost) -> dict:
    """Row for an exact point: a mapping and its cost re-evaluated in integers."""
    row: dict = {"occupancy": cost.occupancy, "accesses": cost.accesses,
                 "status": Status.OPTIMAL.value,
                 "op_intensity": op_intensity(problem, cost.accesses),
                 "macs_per_word": problem.macs / cost.accesses}
    row |= {f"reads_{n}": v for n, v in cost.reads}
    row |= {f"writes_{n}": v for n, v in cost.writes}
    row |= {f"tile_{d}": t for d, t in mapping.tiles}
    row["loop_order"] = ",".join(mapping.loops(problem))
    row["mapping"] = mapping.describe(problem)
    row["best_bound"] = cost.accesses
    row["incumbent"] = cost.accesses
    return row


def frame(problem: Einsum, rows: list[dict], capacity: bool, **attrs) -> pd.DataFrame:
    cols = columns(problem, capacity)
    df = pd.DataFrame([{c: r.get(c) for c in cols} for r in rows], columns=cols)
    ints = [c for c in cols if c in ("capacity", "occupancy", "accesses", "incumbent")
            or c.startswith(("reads_", "writes_", "tile_"))]
    for c in ints:
        df[c] = df[c].astype("Int64")
    df["best_bound"] = df["best_bound"].astype("float64")
    df["op_intensity"] = df["op_intensity"].astype("float64")
    df["macs_per_word"] = df["macs_per_word"].astype("float64")
    df["solve_seconds"] = df["solve_seconds"].astype("float64")
    df.attrs |= {"problem": str(problem), "name": problem.name, "unit": "words",
                 "algorithmic_minimum": algorithmic_minimum(problem),
                 "macs": problem.macs,
                 "op_intensity": "(2*MACs - |O|) / accesses, ops per word (Timeloop)",
                 "macs_per_word": "MACs / accesses (the paper's grouped-BMM plots)"} | attrs
    return df


def staircase(points: list[tuple[int, int]]) -> list[int]:
    """Indices of the Pareto staircase of (occupancy, accesses): occupancy up, accesses strictly down."""
    keep, best = [], math.inf
    for i in sorted(range(len(points)), key=lambda i: points[i]):
        if points[i][1] < best:
            keep.append(i)
            best = points[i][1]
    return keep


def level_row(problem: Einsum, arch: Arch, nest: Nest, cost: LevelCost,
              copies: Copies | None = None, **extra) -> dict:
    """One row of a hierarchy table (words): ``occupancy`` (the swept level's), ``accesses``
    (the backing store's), ``extra`` columns, then ``occupancy_<level>`` and ``accesses_<level>``
    per on-chip level and the mapping as a multi-level nest."""
    swept = arch.swept_index
    r = {"occupancy": cost.occupancy[swept] if swept is not None else None,
         "accesses": cost.dram} | extra
    for lv, occ, acc in zip(arch.on_chip, cost.occupancy, cost.accesses):
        r[f"occupancy_{lv.name}"] = occ
        r[f"accesses_{lv.name}"] = acc
    names = tuple(lv.name for lv in arch.on_chip)
    r["mapping"] = nest.describe(problem, copies or Copies.uniform(nest, names))
    return r
