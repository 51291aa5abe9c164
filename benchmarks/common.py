"""What every benchmark script ends with: the machine line, the table, and its CSV."""

from __future__ import annotations

import platform
from pathlib import Path

import pandas as pd

import boundsolver as bs


def lookup(front: pd.DataFrame, cap: int) -> int | None:
    """Least accesses at ``cap`` on a staircase frame; None below its first occupancy."""
    fit = front[front["occupancy"] <= cap]["accesses"]
    return int(fit.min()) if len(fit) else None


def report(rows: list[dict], out: Path) -> None:
    table = pd.DataFrame(rows)
    print(f"\n{platform.processor() or platform.machine()}, Python {platform.python_version()}, "
          f"boundsolver {bs.__version__}")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)
    print(f"wrote {out}")
