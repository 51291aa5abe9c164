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


def run_fresh(checkout: Path, code: str, args, limit: float, prepare=None) -> dict:
    """``python -c code JSON(args)`` in a fresh process from an empty folder, with only
    ``checkout``'s package on the path and a cold cache of its own (so two checkouts timed side
    by side see neither each other's code nor cache); its last stdout line read as JSON, or a
    ``killed`` / ``failed`` record. ``prepare(folder)``, if given, writes inputs into the empty
    folder and returns the ``args`` to pass."""
    import json
    import os
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as empty:
        if prepare is not None:
            args = prepare(Path(empty))
        env = dict(os.environ, PYTHONPATH=str(Path(checkout).resolve()),
                   BOUNDSOLVER_CACHE_DIR=str(Path(empty) / "cache"))
        try:
            out = subprocess.run([sys.executable, "-c", code, json.dumps(args)], cwd=empty,
                                 env=env, capture_output=True, text=True, timeout=limit)
        except subprocess.TimeoutExpired:
            return {"s": limit, "status": ["killed"], "keys": None}
    if out.returncode:
        return {"s": None, "status": ["failed: " + out.stderr.strip().splitlines()[-1]],
                "keys": None}
    return json.loads(out.stdout.strip().splitlines()[-1])
