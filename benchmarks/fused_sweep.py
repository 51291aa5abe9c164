"""A hostile, seeded sweep of the fused solver against the independent brute forces (issues 22/23).

    python benchmarks/fused_sweep.py [--seconds 600] [--seed 0] [--case-seconds 45] [--csv PATH]
                                     [--families a,b] [--limit 40000] [--big]

Each case is a random small workload from one *family* (GEMM chains, attention with K/V
producers, residual and branching graphs, strided and haloed convs, repeated twin blocks,
mirror-symmetric convs, ranks of size 1, prime sizes, one-Einsum workloads, small hierarchies)
with a random mapspace (``uniform``/``per_tensor``, ``perfect``/``imperfect``), ``max_depth`` 1 to
3, ``split_ranks`` and ``spill``. Every case is drawn from ``random.Random(f"{seed}:{k}")``, so
``--seed S --only K`` reruns case K alone. Checks, each counted a mismatch when it fails:

* ``curve``: the solver's curve equals the brute force's breakpoint by breakpoint, where the
  brute force covers exactly that mapspace (``treeref.enumerate_workload``; ``spill``:
  ``treemixed.enumerate_workload``, perfect tiles only, as the solver; hierarchies:
  ``treeref_levels.enumerate_workload``, uniform leaves, with and without ``inner_storage``).
  A brute force past ``--limit`` evaluations skips the comparison (``skipped``).
  One-buffer cases solve with ``translate=False`` (these brute forces search untranslated
  trees); the default's translated loops are held to ``treeref``'s translated brute force in
  tests/test_fused_translate.py.
* ``recost``: every solver breakpoint's rebuilt schedule re-costs to its point in integers
  (``fusion.evaluate`` / ``fusion_levels.evaluate``).
* ``causal``: every segment of every breakpoint's tree, run element by element
  (tests/test_fusion_mixed.py ``simulate``, extended here to peeled partial iterations), never
  reads an intermediate element before its last partial sum.
* ``sim``: one-buffer trees without spilled intermediates, run tile by tile
  (tests/test_fused_imperfect.py ``_Sim``): the same traffic, occupancy at most the evaluator's.
* ``unfused``: the fused curve is at or below the unfused one at every capacity.
* ``single``: a one-Einsum workload's curve (fused and unfused) is its single-Einsum staircase
  (``bs.pareto_frontier`` of the Einsum; Orojenesis also against tests/helpers.py's brute force).
* ``rename``: renaming every rank and tensor (a random bijection) leaves the curve unchanged.
* ``monotone``: the curve is at or below that of the mapspace with one option taken away (no
  ``spill``, no ``split_ranks``, one loop level less, or perfect tiles for ``*/imperfect``).

Writes one CSV row per case (benchmarks/results/fused_sweep.csv or ``--csv``) and prints the
table of families x cases x mismatches. Run it at low priority (``nice -n 10``).
"""

from __future__ import annotations

import argparse
import random
import re
import signal
import sys
import time
import traceback
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import boundsolver as bs  # noqa: E402
from boundsolver.curves import fused, fused_levels  # noqa: E402
from boundsolver.errors import BoundsolverError, EnumerationTooLarge  # noqa: E402
from boundsolver.model import fusion, fusion_levels  # noqa: E402
from boundsolver.model.arch import Arch, Level  # noqa: E402
from boundsolver.reference import treemixed, treeref, treeref_levels  # noqa: E402
from helpers import brute_frontier  # noqa: E402
from test_fused_imperfect import _Sim  # noqa: E402
from test_fusion_mixed import simulate  # noqa: E402

MAPSPACES = ("uniform/perfect", "per_tensor/perfect", "uniform/imperfect", "per_tensor/imperfect")


# ------------------------------------------------------------------------------------ families

BIG = [False]  # --big: every size pool's sizes doubled (the brute forces mostly skip)


def size(rng: random.Random, pool=(1, 2, 2, 3, 4)) -> int:
    return rng.choice(pool) * (2 if BIG[0] else 1)


PRIMES = (1, 2, 3, 5, 7)


def gemm_chain(rng):
    n = rng.choice((2, 2, 3))
    texts = ["Y[m,c] += X[m,d] * A[d,c]", "Z[m,j] += Y[m,c] * B[c,j]", "O[m,k] += Z[m,j] * C[j,k]"]
    return texts[:n], {r: size(rng) for r in "mdcjk"[:n + 2]}


def attention(rng):
    texts = ["S[m,p] += Q[m,e] * K[p,e]", "Z[m,f] += S[m,p] * V[p,f]"]
    if rng.random() < 0.3:
        texts.insert(1, "P[m,p] = S[m,p]")  # a softmax in small: a copy
        texts[2] = "Z[m,f] += P[m,p] * V[p,f]"
    return texts, {r: size(rng) for r in "mpef"}


def kv_attention(rng):
    """Attention with its K (and maybe V) producer: K written as K[m,e], read as K[p,e]."""
    m = rng.choice((1, 2, 2, 3, 4))
    if rng.random() < 0.5:
        texts = ["K[m,e] += I[m,d] * W[e,d]", "S[m,p] += Q[m,e] * K[p,e]"]
        return texts, dict(m=m, p=m, e=size(rng), d=size(rng))
    texts = ["K[m,e] += I[m,d] * WK[e,d]", "V[m,f] += I[m,d] * WV[f,d]",
             "S[m,p] += Q[m,e] * K[p,e]", "Z[m,f] += S[m,p] * V[p,f]"]
    m = rng.choice((1, 2))
    return texts, dict(m=m, p=m, e=rng.choice((1, 2)), d=rng.choice((1, 2)), f=rng.choice((1, 2)))


def residual(rng):
    """A tensor read by several later Einsums (X at the start and the end; I by two)."""
    pick = rng.randrange(3)
    if pick == 0:
        texts = ["Y[m,c] += X[m,d] * A[d,c]", "Z[m,d] += Y[m,c] * B[c,d]",
                 "O[m,d] += Z[m,d] * X[m,d]"]
        return texts, {r: size(rng) for r in "mdc"}
    if pick == 1:
        texts = ["X[m,n] += I[m,k] * A[k,n]", "Y[m,n] += I[m,k] * B[k,n]",
                 "Z[m,n] += X[m,n] * Y[m,n]"]
        return texts, {r: size(rng) for r in "mkn"}
    texts = ["K[m,e] += I[m,d] * W[e,d]", "S[m,p] += I[m,d] * K[p,d]", "T[m,e] += K[m,e] * U[m,e]"]
    m, e = size(rng), size(rng)
    return texts, dict(m=m, p=m, e=e, d=e)


def branching(rng):
    """Two Einsums read one intermediate; a later one joins them."""
    texts = ["Y[m,c] += X[m,d] * A[d,c]", "U[m,j] += Y[m,c] * B[c,j]", "V[m,j] += Y[m,c] * C[c,j]",
             "O[m,j] += U[m,j] * V[m,j]"]
    n = rng.choice((3, 4))
    return texts[:n], {r: size(rng, (1, 2, 2, 3)) for r in "mdcj"}


def conv(rng):
    """1-D convs with halos (and maybe strides): windowed ranks never loop in the tree."""
    stride = rng.choice((1, 1, 2))
    s = "s" if stride == 1 else "2*q+s"
    first = f"A[c,q] += I[e,{'q+s' if stride == 1 else s}] * W[c,e,s]"
    texts = [first, "B[d,q] += A[c,q] * V[d,c]"]
    if rng.random() < 0.4:
        texts.append("C[d,q] += B[d,q] * g[d]")
    return texts, dict(c=size(rng, (1, 2)), e=size(rng, (1, 2)), q=size(rng, (2, 3, 4)),
                       s=size(rng, (1, 2, 3)), d=size(rng, (1, 2)))


MIRROR = ["A[c,q,p] += I[e,q+s,p+r] * W0[c,e,s,r]", "B[c,q,p] += A[c,q,p] * g[c] * h[c]",
          "C[d,q,p] += B[c,q,p] * W1[d,c]"]


def mirror_conv(rng):
    """tests/test_fused_mirror.py's bottleneck in small: square (mirror-symmetric) mostly."""
    q = rng.choice((1, 2, 3))
    p = rng.choice((q, q, 1, 2))
    s = rng.choice((1, 2))
    r = rng.choice((s, s, 1))
    n = rng.choice((2, 3))
    sizes = dict(c=rng.choice((1, 2)), e=rng.choice((1, 2)), q=q, p=p, s=s, r=r)
    if n > 2:
        sizes["d"] = rng.choice((1, 2))
    return MIRROR[:n], sizes


BLOCK = ["Y{k}[m,c{k}] += X{k}[m,d] * A{k}[d,c{k}]", "X{n}[m,d] += Y{k}[m,c{k}] * B{k}[c{k},d]"]


def twins(rng):
    """Repeated identical blocks (segment_once, twin classes): two copies of an FFN, maybe twin
    vectors (a folded norm) and a residual."""
    texts = [t.format(k=k, n=k + 1) for k in range(2) for t in BLOCK]
    if rng.random() < 0.5:
        texts.insert(1, "U0[m,c0] += Y0[m,c0] * s0[c0] * b0[c0]")
        texts[2] = "X1[m,d] += U0[m,c0] * B0[c0,d]"
    if rng.random() < 0.3:
        texts.append("O[m,d] += X2[m,d] * X0[m,d]")
    c = size(rng, (1, 2))
    return texts, dict(m=size(rng, (1, 2, 3, 4)), d=size(rng, (1, 2)), c0=c, c1=c)


def unit_ranks(rng):
    texts, sizes = gemm_chain(rng) if rng.random() < 0.5 else attention(rng)
    for r in sizes:
        if rng.random() < 0.5:
            sizes[r] = 1
    return texts, sizes


def primes(rng):
    texts, sizes = gemm_chain(rng) if rng.random() < 0.6 else attention(rng)
    return texts, {r: rng.choice(PRIMES) for r in sizes}


def single(rng):
    pick = rng.randrange(3)
    if pick == 0:
        return ["Y[m,c] += X[m,d] * A[d,c]"], {r: size(rng, (1, 2, 3, 4, 5, 6)) for r in "mdc"}
    if pick == 1:
        return ["A[c,q] += I[e,2*q+s] * W[c,e,s]"], dict(c=size(rng, (1, 2, 3)), e=size(rng, (1, 2)),
                                                          q=size(rng, (2, 3, 4)), s=size(rng, (1, 3)))
    return ["Z[m,n] += X[m,n] * Y[m,n]"], dict(m=size(rng, (1, 2, 3, 4, 6)), n=size(rng, (1, 2, 5)))


FAMILIES = {"gemm_chain": gemm_chain, "attention": attention, "kv_attention": kv_attention,
            "residual": residual, "branching": branching, "conv": conv, "mirror_conv": mirror_conv,
            "twins": twins, "unit_ranks": unit_ranks, "primes": primes, "single": single,
            "hierarchy": None}


# -------------------------------------------------------------------------------- the checks

class Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise Timeout()


def curve(sol) -> list[tuple[int, int]]:
    return list(zip(sol.frontier.occ.tolist(), sol.frontier.acc.tolist()))


def value(points, capacity: int):
    return min((a for o, a in points if o <= capacity), default=None)


def causal_errors(w: bs.Workload, root) -> list[str]:
    """tests/test_fusion_mixed.py's element-by-element run of one segment (partial last
    iterations run ``Node.rest``): the reads of an intermediate element before its last partial
    sum is written, and intermediates left unfinished."""
    return simulate(w, root)


def rename(texts: list[str], sizes: dict, rng: random.Random):
    """The workload with every rank and tensor renamed by a random bijection (names kept
    distinct from each other and from the originals)."""
    words = sorted({w for t in texts for w in re.findall(r"[A-Za-z_]\w*", t)})
    ranks = sorted(sizes)
    tensors = [x for x in words if x not in sizes]
    new_r = [f"r{i}" for i in range(len(ranks))]
    new_t = [f"T{i}" for i in range(len(tensors))]
    rng.shuffle(new_r)
    rng.shuffle(new_t)
    sub = dict(zip(ranks, new_r)) | dict(zip(tensors, new_t))
    out = [re.sub(r"[A-Za-z_]\w*", lambda m: sub[m.group(0)], t) for t in texts]
    return out, {sub[r]: n for r, n in sizes.items()}


def weaker_options(ms: str, depth: int, split: bool, spill: bool):
    """The case's options with one choice taken away (its mapspace a subset of the case's), or
    None: no spill, no split ranks, one loop level less, or perfect shared tiles."""
    if spill:
        return ms, depth, split, False
    if split:
        return ms, depth, False, False
    if depth > 1:
        return ms, depth - 1, False, False
    if ms.endswith("imperfect"):
        return ms.replace("imperfect", "perfect"), depth, False, False
    return None


def check_one_buffer(w, texts, sizes, ms, depth, split, spill, limit, rng, out: dict) -> list:
    bad = out["_bad"] = []  # what a timeout keeps
    imperfect = ms.endswith("imperfect")
    t0 = time.process_time()
    out["phase"] = "solver"
    sol = fused.solve_workload(w, True, ms, max_depth=depth, split_ranks=split, spill=spill,
                               translate=False)  # the brute forces' mapspace (UNTRANSLATED)
    pts = curve(sol)
    out["solver_s"] = round(time.process_time() - t0, 2)
    out["breakpoints"] = len(pts)
    for occ, acc in pts:
        schedule = sol.schedule(occ)
        cost = fusion.evaluate(w, schedule, imperfect=imperfect)
        if (cost.occupancy, cost.accesses) != (occ, acc):
            bad.append(f"recost: {(occ, acc)} -> {(cost.occupancy, cost.accesses)}")
        for seg in schedule.segments:
            errs = causal_errors(w, seg)
            if errs:
                bad.append(f"causal at {occ}: {errs[0]}")
        if not any(s.dram for s in schedule.segments):  # _Sim runs one segment at a time
            sims = [_Sim(w, imperfect).run(fusion.Schedule((s,))) for s in schedule.segments]
            s_occ, s_acc = max(o for o, _ in sims), sum(a for _, a in sims)
            if s_acc != acc or s_occ > occ:
                bad.append(f"sim at {occ}: {(s_occ, s_acc)} vs {(occ, acc)}")
    out["phase"] = "checks"
    un = curve(fused.solve_workload(w, False, ms))
    for c in sorted({o for o, _ in pts + un}):
        a, b = value(pts, c), value(un, c)
        if b is not None and (a is None or a > b):
            bad.append(f"unfused below fused at {c}: {b} < {a}")
    if len(w.einsums) == 1:
        one = bs.pareto_frontier(w.einsums[0], mapspace=ms)
        ref = [(int(o), int(a)) for o, a in zip(one["occupancy"], one["accesses"])]
        if pts != ref or un != ref:
            bad.append(f"single: fused {pts} unfused {un} einsum {ref}")
        if ms == "uniform/perfect" and ref != brute_frontier(w.einsums[0]):
            bad.append(f"single: einsum {ref} brute {brute_frontier(w.einsums[0])}")
    weaker = weaker_options(ms, depth, split, spill)
    if weaker is not None:  # the mapspace with one option less: never below
        lower = curve(fused.solve_workload(w, True, weaker[0], max_depth=weaker[1],
                                           split_ranks=weaker[2], spill=weaker[3],
                                           translate=False))
        for c in sorted({o for o, _ in pts + lower}):
            a, b = value(pts, c), value(lower, c)
            if b is not None and (a is None or a > b):
                bad.append(f"monotone: {weaker} gives {b} < {a} at {c}")
    rt, rs = rename(texts, sizes, rng)
    other = curve(fused.solve_workload(bs.workload(rt, **rs), True, ms, max_depth=depth,
                                       split_ranks=split, spill=spill, translate=False))
    if other != pts:
        bad.append(f"rename: {other} vs {pts} ({rt})")
    def brute():
        if spill:
            ref = treemixed.enumerate_workload(w, ms, max_depth=depth, limit=limit,
                                               split_ranks=split)
        else:
            ref = treeref.enumerate_workload(w, True, ms, max_depth=depth, limit=limit,
                                             split_ranks=split)
        return [(o, a) for o, a, _ in ref]
    return bad + against_brute_force(brute, pts, out)


def against_brute_force(brute, pts: list, out: dict) -> list:
    """The brute force's curve (``brute()``, timed into ``out``) against the solver's ``pts``:
    a mismatch message, or none; a brute force over its budget is counted as skipped."""
    t0 = time.process_time()
    out["phase"] = "brute"
    try:
        ref = brute()
    except EnumerationTooLarge:
        out["skipped"] = 1
        return []
    out["brute_s"] = round(time.process_time() - t0, 2)
    return [f"curve: solver {pts} brute {ref}"] if ref != pts else []


HIER = [(["Y[m,c] += X[m,d] * A[d,c]", "Z[m,j] += Y[m,c] * B[c,j]"], "mdcj"),
        (["S[m,p] += Q[m,e] * K[p,e]", "Z[m,f] += S[m,p] * V[p,f]"], "mpef"),
        (["X[m,n] += I[m,k] * A[k,n]", "Z[m,n] += X[m,n] * Y[m,n]"], "mkn")]


def hierarchy(rng):
    texts, ranks = rng.choice(HIER)
    sizes = {r: rng.choice((1, 2, 2)) for r in ranks}
    keeps = rng.choice(({}, {}, {"keeps": ("inputs",)}))
    inner = [Level("L1", rng.randint(2, 8), instances=rng.choice((1, 1, 2)), multicast=False,
                   **keeps)]
    if rng.random() < 0.3:
        inner.append(Level("L0", rng.randint(1, 4), instances=inner[0].instances
                           * rng.choice((1, 2)), multicast=False))
    arch = Arch("t", 8, (Level("DRAM"), Level("L2", sweep=True), *inner))
    return texts, sizes, arch


def check_hierarchy(w, arch, inner_storage, lazy, limit, out: dict) -> list:
    bad = out["_bad"] = []
    t0 = time.process_time()
    out["phase"] = "solver"
    try:
        sol = fused_levels.solve_workload(w, arch, True, "uniform/perfect", max_depth=2,
                                          lazy=lazy, inner_storage=inner_storage)
        pts = list(zip(sol.frontier.occ.tolist(), map(tuple, sol.frontier.key.tolist())))
    except BoundsolverError as error:  # no schedule fits the fixed levels: the brute force agrees?
        if "no schedule" not in str(error):
            raise
        out["infeasible"] = 1
        sol, pts = None, []
    out["solver_s"] = round(time.process_time() - t0, 2)
    out["breakpoints"] = len(pts)
    for occ, key in pts:
        c = fusion_levels.evaluate(w, sol.schedule(occ), arch)
        if (c.occupancy[0], (c.dram, *c.accesses[1:])) != (occ, key):
            bad.append(f"recost: {(occ, key)} -> {(c.occupancy[0], (c.dram, *c.accesses[1:]))}")
    return bad + against_brute_force(
        lambda: [(o, tuple(k)) for o, k, _ in treeref_levels.enumerate_workload(
            w, arch, True, max_depth=2, limit=limit, inner_storage=inner_storage)], pts, out)


def draw_case(seed: int, k: int, families: list[str]):
    rng = random.Random(f"{seed}:{k}")
    fam = rng.choice(families)
    if fam == "hierarchy":
        texts, sizes, arch = hierarchy(rng)
        return fam, dict(texts=texts, sizes=sizes, arch=arch, inner_storage=rng.random() < 0.5,
                         lazy=rng.random() < 0.5), rng
    texts, sizes = FAMILIES[fam](rng)
    ms = rng.choice(MAPSPACES)
    depth = rng.choice((1, 1, 1, 2, 2, 3))
    split = rng.random() < 0.25
    # spill is searched with perfect shared tiles only (the solver refuses it otherwise)
    spill = rng.random() < 0.2 and len(texts) > 1 and ms.endswith("/perfect")
    return fam, dict(texts=texts, sizes=sizes, ms=ms, depth=depth, split=split, spill=spill), rng


def run_case(seed, k, families, limit, case_seconds) -> dict:
    """Case ``k`` of ``seed``, drawn and checked: its CSV row."""
    fam, case, rng = draw_case(seed, k, families)
    return {"seed": seed, "case": k} | check_case(fam, case, rng, limit, case_seconds)


def check_case(fam: str, case: dict, rng: random.Random, limit: int, case_seconds: float) -> dict:
    """Every check of one case (:func:`draw_case`'s dict; ``rng`` draws the renaming): a row
    whose ``mismatch`` lists what failed, ``error`` a crash, ``timeout`` a case past
    ``case_seconds`` of CPU (the checks done by then kept), ``skipped`` a brute force past
    ``limit`` evaluations."""
    row = {"family": fam, "sizes": " ".join(f"{r}={n}" for r, n in
                                                                     case["sizes"].items()),
           "texts": " ; ".join(case["texts"]), "skipped": 0, "timeout": 0, "error": "",
           "mismatch": ""}
    if fam == "hierarchy":
        a = case["arch"]
        row["options"] = (f"L1={a.on_chip[1].capacity} x{a.on_chip[1].instances} "
                          f"keeps={','.join(a.on_chip[1].keeps)} levels={len(a.levels)} "
                          f"inner_storage={case['inner_storage']} lazy={case['lazy']}")
    else:
        row["options"] = (f"{case['ms']} depth={case['depth']} split={case['split']} "
                          f"spill={case['spill']}")
    signal.signal(signal.SIGPROF, _alarm)
    signal.setitimer(signal.ITIMER_PROF, case_seconds)  # CPU seconds: the load does not count
    t0 = time.process_time()
    try:
        w = bs.workload(case["texts"], **case["sizes"])
        if fam == "hierarchy":
            bad = check_hierarchy(w, case["arch"], case["inner_storage"], case["lazy"], limit, row)
        else:
            bad = check_one_buffer(w, case["texts"], case["sizes"], case["ms"], case["depth"],
                                   case["split"], case["spill"], limit, rng, row)
        row["mismatch"] = " | ".join(bad)
    except Timeout:
        row["timeout"] = 1
        row["mismatch"] = " | ".join(row.get("_bad", []))
    except Exception as error:  # noqa: BLE001 -- a crash is a finding, reported with the case
        row["error"] = f"{type(error).__name__}: {error}"[:400]
        row["trace"] = traceback.format_exc()[-1500:]
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
    row["cpu_s"] = round(time.process_time() - t0, 2)
    row.pop("_bad", None)
    if not row["timeout"]:
        row["phase"] = ""
    return row


def table(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    g = df.groupby("family")
    out = pd.DataFrame({"cases": g.size(), "compared": g.apply(
        lambda x: int(((x.skipped == 0) & (x.timeout == 0) & (x.error == "")).sum())),
        "skipped": g.skipped.sum(), "timeout": g.timeout.sum(),
        "errors": g.apply(lambda x: int((x.error != "").sum())),
        "mismatches": g.apply(lambda x: int((x.mismatch != "").sum())),
        "cpu_s": g.cpu_s.sum().round(1)}).reset_index()
    total = out.drop(columns="family").sum().to_dict() | {"family": "all"}
    return pd.concat([out, pd.DataFrame([total])], ignore_index=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=600, help="CPU budget for the sweep")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--start", type=int, default=0, help="first case number")
    ap.add_argument("--only", type=int, default=None, help="run case K of the seed alone")
    ap.add_argument("--case-seconds", type=float, default=45, help="CPU limit per case")
    ap.add_argument("--limit", type=int, default=40_000, help="brute-force evaluations")
    ap.add_argument("--families", default=",".join(FAMILIES))
    ap.add_argument("--csv", type=Path, default=ROOT / "benchmarks/results/fused_sweep.csv")
    ap.add_argument("--big", action="store_true",
                    help="double the sizes drawn by size() (solver-side checks at scale)")
    ap.add_argument("--summarise", type=Path, nargs="*", default=None,
                    help="print the table of these CSVs (runs already made) and stop")
    args = ap.parse_args()
    if args.summarise:
        df = pd.concat([pd.read_csv(p, keep_default_na=False) for p in args.summarise])
        print(table(df.to_dict("records")).to_string(index=False))
        return
    families = args.families.split(",")
    BIG[0] = args.big
    rows = []
    start = time.process_time()
    k = args.start if args.only is None else args.only
    while True:
        row = run_case(args.seed, k, families, args.limit, args.case_seconds)
        rows.append(row)
        flag = row["mismatch"] or row["error"]
        print(f"[{k}] {row['family']:12s} {row['options']:55s} {row['sizes']:28s} "
              f"{row['cpu_s']:7.2f}s{' TIMEOUT in ' + row['phase'] if row['timeout'] else ''}"
              f"{' SKIP' if row['skipped'] else ''}{' !! ' + flag if flag else ''}", flush=True)
        k += 1
        if args.only is not None or time.process_time() - start > args.seconds:
            break
        args.csv.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame(rows).to_csv(args.csv, index=False)  # after every case: a killed run keeps it
    args.csv.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(args.csv, index=False)
    print()
    print(table(rows).to_string(index=False))
    print(f"wrote {args.csv}; seed {args.seed}, cases {rows[0]['case']}..{rows[-1]['case']}, "
          f"CPU {time.process_time() - start:.0f} s")


if __name__ == "__main__":
    main()
