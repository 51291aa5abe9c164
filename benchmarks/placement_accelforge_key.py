"""Benchmark: every AccelForge data file against the per-tensor joint bound, on DRAM and the whole key.

    python benchmarks/placement_accelforge_key.py [--limit 20|default] [--sizes N] [--files F ...]
                                                  [--out benchmarks/results/placement_accelforge_key.csv]

For every AccelForge data file in benchmarks/data (three-level and spatial, multicast and unicast,
GEMMs and the conv1d; problem and L1 from hierarchy_accelforge.af_case, ``_unicast``: no
multicast) the per-tensor joint bound (``mapspace="per_tensor/perfect"``, the MILP, ``--limit``
seconds per capacity; ``--limit default``: ``solve_curve``'s own default, "auto" with no limit, the
enumerators where their work is small, else the MILP with ``joint.DEFAULT_TIME_LIMIT`` per
capacity) is solved at each distinct L2 size of the file's points (``--sizes N``: at
most N of them, evenly spread by rank, and only the points at those sizes are counted). Each point
is then below / tied / above the bound's row at its L2 size, on DRAM and on the whole
lexicographic key (DRAM, traffic into L2, traffic into L1; AccelForge's traffic into L2 is its DRAM
traffic, every tensor being kept in L2, and its traffic into L1 is L2's actions less DRAM's).
A ``time_limit`` row is proven up to ``bound_of``: the point is compared on the proven columns,
then with ``best_bound`` on ``bound_of``, and above the incumbent it is above; what that leaves
open is counted as ``unproven``. A point strictly below a proven bound is a bug (no AccelForge
mapping may beat an exact lower bound over a mapspace containing it): it is printed with its
mapping, our recost of it (spatial_accelforge.recost) and our bound's mapping, and counted.
``--recost`` adds, per file, the recost of every mapping (``recost_columns``).
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import pandas as pd
from common import report
from hierarchy_accelforge import af_case

import boundsolver as bs
from boundsolver.model.arch import Arch, Level

DATA = Path(__file__).parent / "data"
KEY = ("accesses", "accesses_L2", "accesses_L1")  # the joint key's columns, DRAM first


def data_files() -> list[Path]:
    """Every AccelForge three-level and spatial Pareto file (not the nests or their evaluations)."""
    names = sorted(DATA.glob("accelforge_three_level_*_L1_*.csv")) + \
        sorted(DATA.glob("accelforge_spatial_*_L1_*.csv"))
    names = [p for p in names if "_eval_" not in p.name and "_nests_" not in p.name]
    return sorted(names, key=lambda p: p.stat().st_size)  # small problems first


def arch_of(path: Path, l1: int) -> Arch:
    """The arch AccelForge mapped: DRAM -> L2 (swept) -> L1, or 4 PEs of L1 for spatial files."""
    if "_spatial_" in path.name:
        mc = "_unicast" not in path.name
        return Arch("af_spatial", 8, (Level("DRAM"), Level("L2", sweep=True),
                                      Level("L1", l1, instances=4, multicast=mc)))
    return Arch("af_three_level", 8, (Level("DRAM"), Level("L2", sweep=True), Level("L1", l1)))


def af_keys(af: pd.DataFrame, p: bs.Einsum) -> list[tuple[int, int, int]]:
    """AccelForge's key per point: (DRAM, into L2 = DRAM, into L1 = L2 actions less DRAM's)."""
    if "l2_moved_words" in af:
        into_l1 = af["l2_moved_words"] - af["dram_words"]
    else:
        into_l1 = sum(af[f"L2_{T.name}_{a}"] - af[f"MainMemory_{T.name}_{a}"]
                      for T in p.tensors for a in ("read", "write"))
    return [(int(d), int(d), int(x)) for d, x in zip(af["dram_words"], into_l1)]


def spread(sizes: list[int], n: int | None) -> list[int]:
    """At most ``n`` of the sorted ``sizes``, evenly spread by rank, first and last kept."""
    if n is None or len(sizes) <= n:
        return sizes
    return sorted({sizes[round(i * (len(sizes) - 1) / (n - 1))] for i in range(n)})


def side(theirs: tuple, row: pd.Series, width: int) -> str:
    """"below", "tied", "above" or "unproven": AccelForge's key (its first ``width`` columns)
    against our row at its L2 size. ``time_limit`` rows: the columns before ``bound_of`` are
    proven (the incumbent's), ``best_bound`` bounds ``bound_of`` from below, and a key above
    the incumbent (attained) is above the least one."""
    theirs = theirs[:width]
    if row["status"] not in ("optimal", "time_limit"):
        raise SystemExit(f"unexpected status {row['status']!r} at capacity {row['capacity']}")
    has = not pd.isna(row.get("accesses"))  # an incumbent (always, for an optimal row)
    ours = tuple(int(row[c]) for c in KEY[:width]) if has else None
    j = width if row["status"] == "optimal" else KEY.index(row["bound_of"])
    if j >= width:  # every compared column proven
        if not has:
            return "unproven"
        return "tied" if theirs == ours else "below" if theirs < ours else "above"
    if j and not has:
        return "unproven"
    if theirs[:j] != ours[:j]:
        return "below" if theirs[:j] < ours[:j] else "above"
    if theirs[j] < math.ceil(float(row["best_bound"]) - 1e-6):
        return "below"
    return "above" if has and theirs > ours else "unproven"


def show_bug(path: Path, p, af_row: pd.Series, theirs: tuple, row: pd.Series, what: str) -> None:
    """A point below a proven bound: its mapping, our recost of it, our bound's mapping."""
    print(f"  BUG {path.name}: below the per-tensor joint bound on {what} at L2 "
          f"{af_row['l2_words']} words: AF key {theirs}, ours "
          f"{tuple(row.get(c) for c in KEY)} status {row['status']}")
    print(f"    AF mapping: {af_row.get('mapping', '(not in file)')}")
    if "mapping" in af_row and isinstance(af_row["mapping"], str):
        from spatial_accelforge import recost
        try:
            c = recost(p, af_row, "_unicast" not in path.name)
            print(f"    our recost of it (DRAM, L2<->L1): {c['ours']}, L2 words "
                  f"{c['ours_l2_words']}, L1 words {c['ours_l1_words']}; {c['mismatch']}")
        except Exception as e:  # a mapping our Nest cannot rebuild is itself worth reporting
            print(f"    recost failed: {type(e).__name__}: {e}")
    print(f"    our bound's mapping: {row.get('mapping')}")


def recost_columns(path: Path, p) -> dict:
    """Every mapping of the file rebuilt as our Nest and costed per tensor by our rule and by
    AccelForge's as read from its model (spatial_accelforge.load): how many our rule counts as
    AccelForge does, above it (a bug in our count: none expected), and where AccelForge's
    rule reproduces its numbers; and how many occupancies (L2, L1) differ from AccelForge's."""
    from spatial_accelforge import load
    cols = load(path, p, "_unicast" not in path.name)[2]
    return {"recost_eq_af": cols["ours_eq_af"], "recost_above_af": cols["ours_gt_af"],
            "af_rule_eq_af": cols["af_rule_eq_af"], "occupancy_differs": cols["occupancy_differs"]}


def file_row(path: Path, limit: float | None, nsizes: int | None, factors: str = "perfect",
             recost: bool = False) -> dict:
    p, l1, label = af_case(path)
    af = pd.read_csv(path)
    extra = recost_columns(path, p) if recost else {}
    every = sorted(set(int(x) for x in af["l2_words"]))
    sizes = spread(every, nsizes)
    af = af[af["l2_words"].isin(sizes)].reset_index(drop=True)
    began = time.perf_counter()
    df = bs.solve_curve(p, sizes, arch=arch_of(path, l1), mapspace=f"per_tensor/{factors}",
                        time_limit=limit)
    seconds = time.perf_counter() - began
    rows = {int(r["capacity"]): r for _, r in df.iterrows()}
    out = {"file": path.stem.removeprefix("accelforge_"), "problem": label, "L1": l1,
           "points": len(af), "l2_sizes": len(sizes), "file_l2_sizes": len(every),
           "limit_s": "default" if limit is None else limit, "method": df.attrs.get("method"),
           "limited_sizes": int((df["status"] == "time_limit").sum())}
    counts = {f"{k}_{s}": 0 for k in ("dram", "key") for s in ("below", "tied", "above",
                                                               "unproven")}
    for (_, a), theirs in zip(af.iterrows(), af_keys(af, p)):
        row = rows[int(a["l2_words"])]
        for name, width in (("dram", 1), ("key", 3)):
            s = side(theirs, row, width)
            counts[f"{name}_{s}"] += 1
            if s == "below":
                show_bug(path, p, a, theirs, row, name)
    return out | counts | {"seconds": round(seconds, 1)} | extra


def seconds(text: str) -> float | None:
    """``--limit``: positive seconds, or ``default`` (None: solve_curve's default method)."""
    if text == "default":
        return None
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"--limit must be positive seconds or 'default', got {text}")
    return value


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=seconds, default=20.0,
                    help="MILP seconds per L2 size, or 'default' (solve_curve's own choice)")
    ap.add_argument("--sizes", type=int, default=None,
                    help="at most this many L2 sizes per file (evenly spread); default all")
    ap.add_argument("--files", type=Path, nargs="+", help="names in benchmarks/data, or paths")
    ap.add_argument("--factors", choices=["perfect", "imperfect"], default="perfect",
                    help="the bound's factors (imperfect: for AccelForge runs with imperfect "
                         "temporal loops, af_three_level.py --imperfect)")
    ap.add_argument("--recost", action="store_true",
                    help="also rebuild every mapping as our Nest and count it by both rules")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" /
                    "placement_accelforge_key.csv")
    args = ap.parse_args()
    if args.sizes is not None and args.sizes < 2:
        raise SystemExit("--sizes must be at least 2")
    paths = [f if f.exists() else DATA / f for f in args.files] if args.files else data_files()
    rows = []
    for path in paths:
        rows.append(file_row(path, args.limit, args.sizes, args.factors, args.recost))
        print("  ", " ".join(f"{k}={v}" for k, v in rows[-1].items()), flush=True)
        pd.DataFrame(rows).to_csv(args.out, index=False)  # so far, should a run be cut short
    report(rows, args.out)


if __name__ == "__main__":
    main()
