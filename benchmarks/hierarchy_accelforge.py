"""Benchmark: the three-level joint bound against AccelForge's three-level mappings.

    python benchmarks/hierarchy_accelforge.py [--out benchmarks/results/hierarchy_accelforge.csv]
    python benchmarks/hierarchy_accelforge.py --files accelforge_three_level_32x32x32_L1_64.csv ...

AccelForge's Pareto mappings come from ``benchmarks/af_three_level.py`` (run in its venv:
``accelforge.sh python benchmarks/af_three_level.py 16 16 16 64 OUT``): DRAM -> L2 (usage swept)
-> L1 (64 words) -> MAC, every tensor kept everywhere, DRAM energy 10^6 x L2's so DRAM traffic is
minimised first. For each AccelForge point (L2 words, DRAM words) we read four curves at its
L2 size: our joint bound with uniform placement within each level and with per-tensor placement
(hierarchy.py), the one-buffer Orojenesis curve and the one-buffer per-tensor curve. A point
below a curve is a real mapping that curve's mapspace misses. For the joint bounds the points
are also compared on the whole lexicographic key (DRAM, then L2 <-> L1). GEMM 16^3 needs
``--per-tensor-limit 400000000`` (55 minutes) for the per-tensor joint bound.

``--files`` (names in benchmarks/data, or paths; GEMMs of any size and the convs of
data/accelforge_conv*.yaml (conv1d with STRIDE, conv1x1), rebuilt from the .json beside each file,
else from its name) compares each file's points with the curves that run at any size, both by the
MILP at the distinct L2 sizes of its points: the uniform-per-level joint bound (DRAM, and the
whole key) and the one-buffer per-tensor curve on DRAM, which no AccelForge point may beat (L1
holds a word of each tensor, so its DRAM traffic is the L2 copies' alone); a point below it is
printed with its mapping. ``--per-tensor`` adds the per-tensor joint bound (the enumerator,
``--per-tensor-limit``; "too large" past it). Files with a ``mapping`` column are also recosted as in
spatial_accelforge.py (each mapping rebuilt as our ``Nest`` and costed by our rule and by
AccelForge's, per tensor).
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

import pandas as pd
from common import lookup, report

import boundsolver as bs
from boundsolver.curves import joint
from boundsolver.model.arch import Arch, Level

DATA = Path(__file__).parent / "data"
CONV_PARAMS = ("C", "K", "P", "Q", "R", "S", "STRIDE")  # the conv files' Jinja sizes


CASES = [((16, 16, 16), 64), ((4, 4, 4), 8), ((8, 4, 4), 8)]  # (M, K, K), L1 words


def lexicographic(front: pd.DataFrame, af: pd.DataFrame) -> dict:
    """AccelForge's points against a joint bound's lexicographic key (DRAM, then L2 <-> L1).
    AccelForge reports L2's actions (reads + writes); every word crossing either boundary
    touches L2 once, so its L2 <-> L1 traffic is its L2 words moved less its DRAM words."""
    if "accesses_L1" not in front:
        return {}
    keys = [(int(o), (int(a), int(b))) for o, a, b in
            zip(front["occupancy"], front["accesses"], front["accesses_L1"])]
    counts = {"af_below_key": 0, "af_tied_key": 0, "af_above_key": 0}
    for x, d, moved in zip(af["l2_words"], af["dram_words"], af["l2_moved_words"]):
        ours = min((k for o, k in keys if o <= x), default=None)
        theirs = (int(d), int(moved) - int(d))
        side = "tied" if ours == theirs else "below" if ours is None or theirs < ours else "above"
        counts[f"af_{side}_key"] += 1
    return counts


def af_case(path: Path) -> tuple[bs.Einsum, int, str]:
    """(problem, L1 words, label) of an AccelForge data file: from its .json sidecar (written by
    af_three_level.py / af_spatial.py) or, for older files, from the name (``..._MxKxN_L1_W``)."""
    meta = path.with_suffix(".json")
    if meta.exists():
        info = json.loads(meta.read_text())
        params = {k: v for k, v in info["params"].items() if k in CONV_PARAMS}
        if info["workload"] != "gemm":  # conv, conv1d: data/accelforge_{workload}.yaml
            p = bs.load_problem(DATA / f"accelforge_{info['workload']}.yaml", **params)
            label = info["workload"] + " " + " ".join(f"{k}={v}" for k, v in sorted(params.items()))
        else:
            m, kn = info["params"]["M"], info["params"]["KN"]
            p, label = bs.gemm(m, kn, kn), f"{m}x{kn}x{kn}"
        return p, int(info["l1_words"]), label
    found = re.search(r"_(\d+)x(\d+)x(\d+)_L1_(\d+)", path.name)
    if not found:
        raise SystemExit(f"{path}: no .json beside it and no MxKxN_L1_W in its name")
    m, k, n, l1 = map(int, found.groups())
    return bs.gemm(m, k, n), l1, f"{m}x{k}x{n}"


def at_sizes(p, sizes, **kw) -> pd.DataFrame:
    """A curve by the MILP at these L2 sizes, as a staircase frame (occupancy, accesses, ...):
    each solved point answers every capacity from its occupancy up to where it was asked."""
    front = bs.solve_curve(p, sorted(set(sizes)), method="milp", **kw)
    return front[front["status"] == "optimal"]


def compare_files(paths: list[Path], per_tensor: bool = False, limit: int | None = None) -> list[dict]:
    """Each file's AccelForge points against the uniform joint bound (DRAM and key) and the
    one-buffer per-tensor curve (DRAM), both by the MILP at the points' L2 sizes, and with
    ``per_tensor`` the per-tensor joint bound (the enumerator: small problems only)."""
    rows = []
    for path in paths:
        path = path if path.exists() else DATA / path
        p, l1, label = af_case(path)
        af = pd.read_csv(path)
        arch = Arch("three_level", 8, (Level("DRAM"), Level("L2", sweep=True), Level("L1", l1)))
        row = {"case": label, "L1": l1, "af_points": len(af), "af_l2_sizes": af["l2_words"].nunique()}
        if "mapping" in af:  # each mapping rebuilt as our Nest and costed by both rules
            from spatial_accelforge import load
            cols = load(path, p, True)[2]
            row |= {k: cols[k] for k in ("af_uniform", "occupancy_differs", "ours_eq_af",
                                         "ours_gt_af", "af_rule_eq_af")}
        began = time.perf_counter()
        uniform = at_sizes(p, af["l2_words"], arch=arch)
        row["uniform_s"] = round(time.perf_counter() - began, 1)
        ours = [lookup(uniform, int(c)) for c in af["l2_words"]]
        below = [i for i, (o, d) in enumerate(zip(ours, af["dram_words"])) if o is None or d < o]
        row |= {"below_uniform_dram": len(below), **lexicographic(uniform, af)}
        if below:
            r = af.iloc[below[0]]
            print(f"{label}: first point below the uniform joint bound on DRAM: L2 {r['l2_words']}"
                  f" words, AF {r['dram_words']}, ours {ours[below[0]]}: {r.get('mapping', '')}")
        began = time.perf_counter()
        one = at_sizes(p, af["l2_words"], mapspace="per_tensor/perfect")
        row["one_buffer_s"] = round(time.perf_counter() - began, 1)
        least = [lookup(one, int(c)) for c in af["l2_words"]]
        bad = [i for i, (o, d) in enumerate(zip(least, af["dram_words"])) if o is None or d < o]
        row |= {"below_one_buffer_per_tensor_dram": len(bad),
                "tied_one_buffer_per_tensor_dram": sum(
                    o == d for o, d in zip(least, af["dram_words"]))}
        for i in bad:
            r = af.iloc[i]
            print(f"  BUG? below the one-buffer per-tensor curve: L2 {r['l2_words']} words, AF DRAM "
                  f"{r['dram_words']}, curve {least[i]}: {r.get('mapping', '')}")
        if per_tensor:
            row |= per_tensor_columns(p, arch, af, limit)
        rows.append(row)
    return rows


def per_tensor_columns(p, arch, af: pd.DataFrame, limit: int | None) -> dict:
    """AccelForge's points against the per-tensor joint bound (enumerated), DRAM and key."""
    began = time.perf_counter()
    try:
        front = joint.solve(p, arch, limit=limit, method="enumerate", placement="per_tensor")
    except bs.EnumerationTooLarge:
        return {"per_tensor_joint": "too large", "per_tensor_joint_s": time.perf_counter() - began}
    ours = [lookup(front, int(c)) for c in af["l2_words"]]
    below = [i for i, (o, d) in enumerate(zip(ours, af["dram_words"])) if o is None or d < o]
    for i in below:
        r = af.iloc[i]
        print(f"  below the per-tensor joint bound on DRAM: L2 {r['l2_words']} words, AF "
              f"{r['dram_words']}, ours {ours[i]}: {r.get('mapping', '')}")
    key = {f"per_tensor_{k}": v for k, v in lexicographic(front, af).items()}
    return {"below_per_tensor_joint_dram": len(below), **key,
            "per_tensor_joint_s": round(time.perf_counter() - began, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path,
                    default=Path(__file__).parent / "results" / "hierarchy_accelforge.csv")
    ap.add_argument("--files", type=Path, nargs="+",
                    help="AccelForge three-level data files to compare by the MILP (any size)")
    ap.add_argument("--per-tensor", action="store_true",
                    help="with --files: also the per-tensor joint bound (enumerated; small problems)")
    ap.add_argument("--per-tensor-limit", type=int, default=None,
                    help="search nodes for the per-tensor joint bound (GEMM 16^3 needs about "
                         "4e8: 55 minutes on 2 shared cores; the default refuses it)")
    args = ap.parse_args()
    if args.files:
        report(compare_files(args.files, args.per_tensor, args.per_tensor_limit), args.out)
        return
    rows = []
    for (m, k, n), l1 in CASES:
        p = bs.gemm(m, k, n)
        af = pd.read_csv(DATA / f"accelforge_three_level_{m}x{k}x{n}_L1_{l1}.csv")
        arch = Arch("three_level", 8, (Level("DRAM"), Level("L2", sweep=True), Level("L1", l1)))
        curves = {
            "joint uniform-per-level (hierarchy.py)":
                lambda: bs.pareto_frontier(p, arch=arch, method="enumerate", mapspace="uniform/perfect"),
            "joint per-tensor (hierarchy.per_tensor_points)":
                lambda: joint.solve(p, arch, limit=args.per_tensor_limit,
                                        method="enumerate", placement="per_tensor"),
            "one-buffer uniform/perfect": lambda: bs.pareto_frontier(p, method="enumerate"),
            "one-buffer per_tensor/perfect":
                lambda: bs.pareto_frontier(p, mapspace="per_tensor/perfect", method="enumerate")}
        for name, run in curves.items():
            began = time.perf_counter()
            row = {"gemm": f"{m}x{k}x{n}", "L1": l1, "curve": name, "af_points": len(af)}
            try:
                front = run()
            except bs.EnumerationTooLarge:
                rows.append(row | {"af_below_curve": None,
                                   "example (L2 words, AF DRAM, ours)": "too large to enumerate",
                                   "seconds": time.perf_counter() - began})
                continue
            seconds = time.perf_counter() - began
            ours = [lookup(front, int(c)) for c in af["l2_words"]]
            below = [(c, d, o) for c, d, o in zip(af["l2_words"], af["dram_words"], ours)
                     if o is None or d < o]
            rows.append(row | {"af_below_curve": len(below),
                               "example (L2 words, AF DRAM, ours)": below[0] if below else "",
                               **lexicographic(front, af), "seconds": seconds})
    report(rows, args.out)


if __name__ == "__main__":
    main()
