"""Benchmark: AccelForge's fused mappings on the three-level arch against our fused joint curve.

    python benchmarks/fusion_levels_accelforge.py [--files NAME.csv ...] [--per-l1]
        [--out benchmarks/results/fusion_levels_accelforge.csv]

AccelForge's Pareto mappings of a fused two-Einsum chain come from ``benchmarks/af_fused_levels.py``
(run in its venv; DRAM -> L2 (usage swept) -> L1 -> MAC, every tensor kept in L2 and L1, DRAM
keeping all but the intermediate, which it may keep; DRAM energy 10^6 x L2's). For each file we
solve our fused frontier on the same arch (``fused_levels.solve_workload``, ``Arch(DRAM, L2
swept, L1 of the file's size)``) with uniform and with per-tensor leaves, and read it at each
AccelForge point's L2 words: a point below it on DRAM, or on the whole lexicographic key (DRAM,
then L2 <-> L1 words, which for AccelForge is its L2 words moved less its DRAM words: every word
crossing either boundary touches L2 once, as in hierarchy_accelforge.py), is a mapping our
mapspace or model misses, printed with its mapping. ``at_our_breakpoint`` counts AccelForge
points equal to one of our breakpoints in L2 words and key both (the accounting agrees there). ``--per-l1`` also re-solves the per-tensor
curve with L1's capacity set to each distinct L1 usage of AccelForge's points and compares those
points there (a stronger check: the point must not beat us even with L1 no larger than it uses).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd
from common import report

import boundsolver as bs
from boundsolver.curves import fused_levels
from boundsolver.model.arch import Arch, Level

DATA = Path(__file__).parent / "data"
MAPSPACES = {"uniform": "uniform/perfect", "per-tensor": "per_tensor/perfect"}


def case(path: Path):
    """(workload, L1 words, label) of an af_fused_levels.py file, from its .json sidecar."""
    meta = json.loads(path.with_suffix(".json").read_text())
    sizes = {k.lower(): v for k, v in meta["params"].items()}
    label = meta["chain"] + " " + " ".join(f"{k}={v}" for k, v in sizes.items())
    return bs.workload(meta["einsums"], **sizes), int(meta["l1_words"]), label


def three_level(l1: int) -> Arch:
    return Arch("three_level", 8, (Level("DRAM"), Level("L2", sweep=True), Level("L1", l1)))


def af_keys(af: pd.DataFrame) -> list[tuple[int, tuple[int, int]]]:
    """Each AccelForge point as (L2 words, (DRAM words, L2 <-> L1 words))."""
    return [(int(x), (int(d), int(m) - int(d)))
            for x, d, m in zip(af["l2_words"], af["dram_words"], af["l2_moved_words"])]


def ours_at(sol, capacity: int) -> tuple[int, int] | None:
    """Our least key (DRAM, into L1) with L2 at most ``capacity``; None if nothing fits."""
    i = int(sol.frontier.at(capacity))
    return tuple(int(v) for v in sol.frontier.key[i]) if i >= 0 else None


def below(sol, points) -> tuple[list, list]:
    """The indices of points below our curve on DRAM, and on the whole key."""
    dram, key = [], []
    for i, (x, theirs) in enumerate(points):
        ours = ours_at(sol, x)
        if ours is None or theirs[0] < ours[0]:
            dram.append(i)
        if ours is None or theirs < ours:
            key.append(i)
    return dram, key


def compare(path: Path, per_l1: bool, leaves: list[str]) -> list[dict]:
    w, l1, label = case(path)
    af = pd.read_csv(path)
    points = af_keys(af)
    rows = []
    for name in leaves:
        ms = MAPSPACES[name]
        began = time.perf_counter()
        sol = fused_levels.solve_workload(w, three_level(l1), mapspace=ms)
        seconds = time.perf_counter() - began
        dram, key = below(sol, points)
        ties = sum(ours_at(sol, x) == k for x, k in points)
        ours = set(zip(sol.frontier.occ.tolist(), map(tuple, sol.frontier.key.tolist())))
        row = {"case": label, "L1": l1, "leaves": name, "af_points": len(af),
               "ours_breakpoints": len(sol.frontier.occ), "below_dram": len(dram),
               "below_key": len(key), "tied_key": ties,
               "at_our_breakpoint": sum((x, k) in ours for x, k in points), "ours_s": round(seconds, 1)}
        for i in sorted(set(dram) | set(key)):
            print(f"{label}, {name}: AccelForge below ours at L2 {points[i][0]}: AF "
                  f"{points[i][1]}, ours {ours_at(sol, points[i][0])}: {af['mapping'][i]}")
        if per_l1 and name == "per-tensor":  # the uniform curve is beaten already (docs)
            row |= per_l1_columns(w, af, points, ms, label, name)
        rows.append(row)
    return rows


def per_l1_columns(w, af, points, ms, label, name) -> dict:
    """Each point against our curve with L1's capacity its own L1 usage."""
    dram = key = 0
    for used in sorted(set(af["l1_words"])):
        sol = fused_levels.solve_workload(w, three_level(int(used)), mapspace=ms)
        idx = [i for i, u in enumerate(af["l1_words"]) if u == used]
        d, k = below(sol, [points[i] for i in idx])
        dram, key = dram + len(d), key + len(k)
        for j in sorted(set(d) | set(k)):
            i = idx[j]
            print(f"{label}, {name}, L1 = {used}: AccelForge below ours at L2 {points[i][0]}: "
                  f"AF {points[i][1]}, ours {ours_at(sol, points[i][0])}: {af['mapping'][i]}")
    return {"below_dram_own_l1": dram, "below_key_own_l1": key}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", nargs="+", type=Path,
                    help="af_fused_levels.py outputs (names in benchmarks/data, or paths); "
                         "default: every accelforge_fused_levels_*.csv there")
    ap.add_argument("--per-l1", action="store_true",
                    help="also compare each point with L1's capacity set to its own L1 usage")
    ap.add_argument("--leaves", nargs="+", choices=sorted(MAPSPACES), default=list(MAPSPACES),
                    help="our leaves' placement (default: both)")
    ap.add_argument("--out", type=Path,
                    default=Path(__file__).parent / "results" / "fusion_levels_accelforge.csv")
    args = ap.parse_args()
    files = args.files or sorted(DATA.glob("accelforge_fused_levels_*.csv"))
    rows = []
    for path in files:
        rows += compare(path if path.exists() else DATA / path, args.per_l1, args.leaves)
    report(rows, args.out)


if __name__ == "__main__":
    main()
