"""Benchmark: the spatial-fanout joint bound against AccelForge's mappings on the same arch.

    python benchmarks/spatial_accelforge.py [--out benchmarks/results/spatial_accelforge.csv]
    python benchmarks/spatial_accelforge.py --nests   # our nests, for af_spatial.py to evaluate
    python benchmarks/spatial_accelforge.py --files accelforge_spatial_32x32x32_L1_16.csv

AccelForge's Pareto mappings come from ``benchmarks/af_spatial.py`` (its venv:
``accelforge.sh python benchmarks/af_spatial.py 4 4 4 8 All OUT``): DRAM -> L2 (usage swept) ->
4 PEs -> L1 per PE -> MAC, every tensor kept everywhere; ``All``: L2 multicasts and reduces
(our ``multicast=True``), ``Nothing``: unicast (``multicast=False``). For every AccelForge point:

* **recost**: its mapping rebuilt as our ``Nest`` (global tiles, ``spatial`` factors, each copy at
  its own boundary) and costed per tensor (DRAM words; L2<->L1 words, AccelForge's being L2
  reads + writes less DRAM reads + writes) by our rule (``nest.copy_words``) and by AccelForge's
  rule as read from its model (``af_rule``: a copy is refilled on every iteration of every
  temporal loop above it, relevant or not; unicast partial sums are read back by every child).
* **uniform**: our exact lexicographic bound (``pareto_frontier(..., method="enumerate")``, one
  boundary per level) at its L2 size: below / tied / above (DRAM first, then traffic into L1).
* **per-tensor 4xL1** (multicast only): the per-tensor joint bound without fanout and one L1 of
  4 x L1 words. A multicast mapping on 4 PEs is such a nest with the same traffic (its global L1
  tiles fit 4 x L1 words; with no fanout above L2 ``replicas`` is 1), so this bounds AccelForge's
  per-tensor placements too.
* **our nests in AccelForge**: ``--nests`` writes data/accelforge_spatial_nests_4x4x4_L1_8.csv
  (the worked example of docs/hierarchy.md, it with B's L1 copy above m, and every nest of our
  4x4x4 frontiers, multicast or not); ``af_spatial.py 4 4 4 8 All|Nothing OUT --nests NESTS_CSV``
  evaluates them in AccelForge (accelforge_spatial_eval_*.csv), recosted here as above.
* **one-buffer per-tensor** (DRAM only): the one-buffer per-tensor curve read at its L2 size
  (L2 keeps every tensor, so its copies alone fix the DRAM traffic); where the above is too large.

``--files`` (names in benchmarks/data, or paths; GEMMs of any size and the convs of
data/accelforge_conv*.yaml (conv1d with STRIDE, conv1x1), rebuilt from the .json beside each file,
else from its name; ``_unicast`` in the name: no multicast) does the recost, the uniform bound and
the one-buffer per-tensor curve for those files, both curves by the MILP at the distinct L2 sizes
of the points (any size), and no per-tensor enumeration; points below the one-buffer per-tensor
curve (which no mapping may beat) are printed with their mappings.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import pandas as pd
from common import lookup, report
from hierarchy_accelforge import af_case, at_sizes

import boundsolver as bs
from boundsolver.model.arch import Arch, Level
from boundsolver.model.cost import Nest, check_nest, check_spatial, copy_words, replicas

DATA = Path(__file__).parent / "data"
CASES = [((4, 4, 4), 8, True), ((4, 4, 4), 8, False), ((8, 4, 4), 8, True), ((8, 8, 8), 16, True),
         ((16, 16, 16), 64, True)]


def rebuild(p: bs.Einsum, mapping: str) -> tuple[Nest, dict[tuple[str, str], int]]:
    """Our Nest for af_spatial.py's mapping text, and each copy's boundary by (tensor, level)."""
    pe, fan = dict(p.size), {d: 1 for d in p.size}  # one PE's tile, fanout so far
    levels, orders, spatial, where = [], [], [], {}
    order, split, fresh = [], {}, True
    for tok in mapping.split():
        if "@" in tok:
            if fresh or order or split:
                levels.append(tuple((d, pe[d] * fan[d]) for d in p.ranks))
                orders.append(tuple(order) + tuple(d for d in p.ranks if d not in order))
                spatial.append(tuple(split.items()))
                order, split, fresh = [], {}, False
            where[tuple(tok.split("@"))] = len(levels)
            continue
        d, t = tok.removeprefix("S-").split(":")
        if tok.startswith("S-"):
            split[d] = split.get(d, 1) * (pe[d] // int(t))
            fan[d] *= pe[d] // int(t)
        else:
            assert d not in order, f"two loops of {d} in one segment: {mapping}"
            order.append(d)
        pe[d] = int(t)
    storage = tuple(sorted(((T, b) for (T, _), b in where.items()), key=lambda x: x[1]))
    nest = Nest(tuple(levels), tuple(orders), storage, tuple(spatial))
    check_nest(p, nest, imperfect=False)
    check_spatial(p, nest)
    return nest, where


def af_rule(p, T, nest: Nest, source: int, b: int, mc: tuple[bool, ...]) -> int:
    """AccelForge's count (model/_looptree/reuse/symbolic: ``repeat_temporal`` multiplies fills
    by every temporal loop above a storage node, ``repeat_spatial`` by every spatial loop unless
    the tensor ignores its rank and the fanout may reuse it; first reads of the output skipped
    once per distinct tile and per unicast child)."""
    fills = T.footprint(nest.tile(p, b)) * math.prod(
        n for s in range(b) for _, n in nest.segment(p, s))
    above, unicast = replicas(T, nest, source, b, mc)
    if T is p.output:
        return above * unicast * (2 * fills - p.tensor_size(T))
    return above * unicast * fills


def to_text(p: bs.Einsum, nest: Nest) -> str:
    """A uniform nest (boundary 1: L2, 2: L1) in af_spatial.py's notation, every rank ending at
    tile 1. Each level's copies are listed so that the last is irrelevant to the loop right below
    it: AccelForge "lowers" a copy through the relevant loops below it (its reservation)."""
    fan, groups = {d: 1 for d in p.size}, []
    for b in (1, 2):
        loops = [f"{d}:{nest.tile(p, b)[d] // fan[d]}" for d, _ in nest.segment(p, b - 1)]
        for d, sp in nest.fanout(b).items():
            fan[d] *= sp
            loops.append(f"S-{d}:{nest.tile(p, b)[d] // fan[d]}")
        groups.append((loops, "L2" if b == 1 else "L1"))
    tail = [f"{d}:1" for d, t in nest.instance_tile(p, 2).items() if t > 1]
    out = []
    for i, (loops, level) in enumerate(groups):
        nxt = (groups[1][0] if i == 0 else tail)[:1]
        rank = nxt[0].split(":")[0] if nxt and not nxt[0].startswith("S-") else None
        tensors = sorted((T.name for T in p.tensors), key=lambda t: rank is not None
                         and rank not in p.tensor(t).ranks)
        out += loops + [f"{t}@{level}" for t in tensors]
    return " ".join(out + tail)


def write_nests() -> None:
    from boundsolver.reference.hierarchy import frontier_points
    p = bs.gemm(4, 4, 4)
    worked = Nest(((("m", 4), ("k", 4), ("n", 4)), (("m", 1), ("k", 2), ("n", 4))),
                  (("m", "k", "n"), ("k", "m")), tuple((T, b) for T in "ABZ" for b in (1, 2)),
                  ((), (("n", 2), ("k", 2))))
    # the same with B's L1 copy above the m loop (AccelForge refills a copy on every iteration
    # of an irrelevant loop above it; our moved_at keeps it): isolates the spatial rules
    texts = [to_text(p, worked), "A@L2 B@L2 Z@L2 k:2 S-n:2 S-k:1 B@L1 m:1 Z@L1 A@L1 n:1"]
    for mc in (True, False):
        arch = Arch("t", 8, (Level("DRAM"), Level("L2", sweep=True),
                             Level("L1", 8, instances=4, multicast=mc)))
        texts += [to_text(p, nest) for nest, _ in frontier_points(p, arch)]
    path = DATA / "accelforge_spatial_nests_4x4x4_L1_8.csv"
    pd.DataFrame({"mapping": list(dict.fromkeys(texts))}).to_csv(path, index=False)
    print(f"wrote {path}")


def recost(p, row, multicast: bool) -> dict:
    """Our count of one AccelForge mapping next to AccelForge's, per tensor."""
    nest, where = rebuild(p, row["mapping"])
    mc = (multicast,) * len(nest.levels)
    out = {"ours_l2_words": 0, "ours_l1_words": 0, "mismatch": [], "af_rule_mismatch": [],
           "ours_above_af": [], "ours": [0, 0], "af": [0, 0]}
    for T in p.tensors:
        b2, b1 = where[(T.name, "L2")], where[(T.name, "L1")]
        ours = (copy_words(p, T, nest, 0, b2, mc), copy_words(p, T, nest, b2, b1, mc))
        dram = row[f"MainMemory_{T.name}_read"] + row[f"MainMemory_{T.name}_write"]
        theirs = (dram, row[f"L2_{T.name}_read"] + row[f"L2_{T.name}_write"] - dram)
        rule = (af_rule(p, T, nest, 0, b2, mc), af_rule(p, T, nest, b2, b1, mc))
        for i in (0, 1):
            out["ours"][i] += ours[i]
            out["af"][i] += theirs[i]
        if ours != theirs:
            out["mismatch"].append(f"{T.name}: ours {ours} AF {theirs}")
        if rule != theirs:
            out["af_rule_mismatch"].append(f"{T.name}: af_rule {rule} AF {theirs}")
        if ours[0] > theirs[0] or ours[1] > theirs[1]:
            out["ours_above_af"].append(f"{T.name}: ours {ours} AF {theirs}")
        out["ours_l2_words"] += T.footprint(nest.instance_tile(p, b2))
        out["ours_l1_words"] += T.footprint(nest.instance_tile(p, b1))
    out["uniform"] = len({b for (_, lv), b in where.items() if lv == "L2"}) == 1 and \
        len({b for (_, lv), b in where.items() if lv == "L1"}) == 1
    return out


def lexmin(front: pd.DataFrame, cap: int) -> tuple[int, int] | None:
    """Least (DRAM, into L1) on a joint staircase at ``cap`` words of L2; None below it."""
    fit = front[front["occupancy"] <= cap]
    return min(zip(fit["accesses"].tolist(), fit["accesses_L1"].tolist())) if len(fit) else None


def compare(af: pd.DataFrame, front: pd.DataFrame) -> tuple[list, list]:
    """(sign, example) per AccelForge point against ``lexmin(front, its L2 words)``: -1 below,
    0 tied, 1 above."""
    signs, examples = [], []
    for _, r in af.iterrows():
        theirs, ours = (int(r["dram_words"]), int(r["l2_l1_words"])), lexmin(front, int(r["l2_words"]))
        s = -1 if ours is None or theirs < ours else int(theirs > ours)
        signs.append(s)
        if s < 0:
            examples.append((int(r["l2_words"]), theirs, ours, r["mapping"]))
    return signs, examples


def load(path: Path, p: bs.Einsum, mc: bool) -> tuple[pd.DataFrame, list[dict], dict]:
    """AccelForge's rows, our recost of each, and the recost columns of the table."""
    af = pd.read_csv(path)
    af["l2_l1_words"] = sum(af[f"L2_{T}_{a}"] - af[f"MainMemory_{T}_{a}"]
                            for T in (t.name for t in p.tensors) for a in ("read", "write"))
    checks = [recost(p, r, mc) for _, r in af.iterrows()]
    pairs = list(zip((r for _, r in af.iterrows()), checks))
    for r, c in pairs:
        if c["af_rule_mismatch"] or c["ours_above_af"]:
            print("   UNEXPLAINED", r["mapping"], c["af_rule_mismatch"], c["ours_above_af"])
    return af, checks, {
        "af_points": len(af),
        "af_spatial": int((af["pes_used"] > 1).sum()) if "pes_used" in af else 0,
        "af_uniform": sum(c["uniform"] for c in checks),
        "occupancy_differs": sum(c["ours_l2_words"] != r["l2_words"]
                                 or c["ours_l1_words"] != r["l1_words"] for r, c in pairs),
        "ours_eq_af": sum(not c["mismatch"] for c in checks),
        "ours_gt_af": sum(bool(c["ours_above_af"]) for c in checks),
        "af_rule_eq_af": sum(not c["af_rule_mismatch"] for c in checks)}


def case_row(path: Path, p: bs.Einsum, l1: int, mc: bool, label: str, milp: bool) -> dict:
    """One AccelForge data file against our curves: the uniform spatial bound (the enumerator,
    or the MILP at the points' L2 sizes), the per-tensor 4 x L1 bound (enumerator only) and the
    one-buffer per-tensor curve on DRAM."""
    tag = path.stem.removeprefix("accelforge_spatial_")
    af, checks, cols = load(path, p, mc)
    row = {"gemm": label, "L1": l1, "multicast": mc} | cols
    print(f"\n{tag}: first mappings our rule counts below AccelForge (per tensor: DRAM, "
          "L2<->L1):")
    for (_, r), c in [x for x in zip(af.iterrows(), checks) if x[1]["mismatch"]][:3]:
        print("  ", r["mapping"], "|", "; ".join(c["mismatch"]))
    arch = Arch("t", 8, (Level("DRAM"), Level("L2", sweep=True),
                         Level("L1", l1, instances=4, multicast=mc)))
    began = time.perf_counter()
    front = (at_sizes(p, af["l2_words"], arch=arch) if milp
             else bs.pareto_frontier(p, arch=arch, method="enumerate", mapspace="uniform/perfect"))
    row["uniform_s"] = round(time.perf_counter() - began, 1)
    signs, ex = compare(af, front)
    least = [lookup(front, int(c)) for c in af["l2_words"]]
    row |= {"below_uniform_dram": sum(o is None or d < o for o, d in zip(least, af["dram_words"])),
            "below_uniform": signs.count(-1), "tied": signs.count(0), "above": signs.count(1),
            "below_uniform_and_af_uniform": sum(s < 0 and c["uniform"]
                                                for s, c in zip(signs, checks))}
    print(f"{tag}: first points below the uniform bound (L2 words, AF (DRAM, L1), ours):")
    for e in ex[:4]:
        print("  ", *e)
    if mc and not milp:
        big = Arch("t", 8, (Level("DRAM"), Level("L2", sweep=True), Level("L1", 4 * l1)))
        began = time.perf_counter()
        try:
            pt = bs.pareto_frontier(p, arch=big, mapspace="per_tensor/perfect",
                                    method="enumerate")
            signs, ex = compare(af, pt)
            row |= {"below_per_tensor_4xL1": signs.count(-1),
                    "tied_per_tensor_4xL1": signs.count(0)}
            for e in ex[:4]:
                print("   below per-tensor 4xL1:", *e)
        except bs.EnumerationTooLarge:
            row["below_per_tensor_4xL1"] = "too large"
        row["per_tensor_s"] = round(time.perf_counter() - began, 1)
    began = time.perf_counter()
    one = (at_sizes(p, af["l2_words"], mapspace="per_tensor/perfect") if milp
           else bs.pareto_frontier(p, mapspace="per_tensor/perfect", method="enumerate"))
    row["one_buffer_s"] = round(time.perf_counter() - began, 1)
    least = [lookup(one, int(c)) for c in af["l2_words"]]
    bad = [i for i, (o, d) in enumerate(zip(least, af["dram_words"])) if o is None or d < o]
    row["dram_below_one_buffer_per_tensor"] = len(bad)
    for i in bad:
        r = af.iloc[i]
        print(f"  BUG? below the one-buffer per-tensor curve: L2 {r['l2_words']} words, AF DRAM "
              f"{r['dram_words']}, curve {least[i]}: {r['mapping']}")
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path,
                    default=Path(__file__).parent / "results" / "spatial_accelforge.csv")
    ap.add_argument("--nests", action="store_true", help="write our nests for AccelForge")
    ap.add_argument("--files", type=Path, nargs="+",
                    help="AccelForge spatial data files to compare by the MILP (any size)")
    args = ap.parse_args()
    if args.nests:
        write_nests()
        return
    rows = []
    for mc in (True, False) if not args.files else ():
        path = DATA / f"accelforge_spatial_eval_4x4x4_L1_8{'' if mc else '_unicast'}.csv"
        if path.exists():
            af, checks, cols = load(path, bs.gemm(4, 4, 4), mc)
            print(f"\nour 4x4x4 nests in AccelForge, multicast={mc}: (DRAM, L2<->L1) ours, AF")
            for (_, r), c in zip(af.iterrows(), checks):
                print(f"   {c['ours']} {c['af']}  {r['mapping']}  | {'; '.join(c['mismatch'])}")
            rows.append({"gemm": "4x4x4 our nests", "L1": 8, "multicast": mc} | cols)
    for (m, k, n), l1, mc in CASES if not args.files else ():
        tag = f"{m}x{k}x{n}_L1_{l1}" + ("" if mc else "_unicast")
        path = DATA / f"accelforge_spatial_{tag}.csv"
        if not path.exists():
            print(f"skipping {tag}: no {path.name}")
            continue
        rows.append(case_row(path, bs.gemm(m, k, n), l1, mc, f"{m}x{k}x{n}", milp=False))
    for path in args.files or ():
        path = path if path.exists() else DATA / path
        p, l1, label = af_case(path)
        rows.append(case_row(path, p, l1, "_unicast" not in path.name, label, milp=True))
    cols = list(dict.fromkeys(k for r in rows for k in r))
    report([{k: r.get(k, "") for k in cols} for r in rows], args.out)


if __name__ == "__main__":
    main()
