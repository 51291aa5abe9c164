"""Exact fused and unfused frontiers of a workload (docs/fusion.md, 'Solving').

For one segment structure (:class:`fusion.Config`), traffic is a constant (kept inputs, exported
intermediates) plus the shared trip count times the sum of the Einsums' streamed traffic, and
occupancy is the kept tiles plus the largest, over the Einsums, of the live intermediate tiles and
that Einsum's streamed tiles. So the least traffic under a budget only needs, per Einsum, the
single-Einsum curve of its *reduced* sub-problem (resident tensors left out), which the MILP
traces once per distinct shape. A segment's curve is exact staircase arithmetic over those curves;
the workload's is the best cut into segments, by dynamic programming over runs of Einsums, and a
structure whose lower bounds cannot beat the cuts already known is never solved.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from . import fusion
from .cost import Cost, Mapping
from .einsum import Einsum, Tensor
from .errors import BoundsolverError, SolverError
from .fusion import Config, Schedule, Segment
from .nest import Mapspace, Nest, mapspace_of
from .workload import Workload

METHODS = ("auto", "milp", "enumerate")
# "auto" enumerates a sub-problem whose vectorised enumeration takes this many steps or fewer
# (milliseconds; GEMM-like sub-problems of a GPT-3 layer need about 1e4-1e5), else runs the MILP.
AUTO_ENUMERATION = 1_000_000


# ------------------------------------------------------------------------------------- staircases

@dataclass(frozen=True)
class Staircase:
    """Breakpoints (occupancy ascending, accesses strictly descending) and what attains each."""

    occ: np.ndarray
    acc: np.ndarray
    tag: np.ndarray  # an index into the owner's list of provenances

    def at(self, capacity) -> np.ndarray:
        """Index of the breakpoint that answers each capacity (-1: infeasible)."""
        return np.searchsorted(self.occ, capacity, side="right") - 1


def staircase(occ, acc, tag) -> Staircase:
    """The Pareto staircase of arbitrary points."""
    occ, acc, tag = (np.asarray(x, dtype=np.int64) for x in (occ, acc, tag))
    order = np.lexsort((acc, occ))
    occ, acc, tag = occ[order], acc[order], tag[order]
    best = np.minimum.accumulate(acc)
    keep = np.ones(len(acc), dtype=bool)
    keep[1:] = acc[1:] < best[:-1]
    return Staircase(occ[keep], acc[keep], tag[keep])


def plus(a: Staircase, b: Staircase, tag: int) -> Staircase:
    """Both run one after the other, each with the whole buffer: values add at every capacity."""
    caps = np.union1d(a.occ, b.occ)
    caps = caps[caps >= max(a.occ[0], b.occ[0])]
    return staircase(caps, a.acc[a.at(caps)] + b.acc[b.at(caps)], np.full(len(caps), tag))


# ---------------------------------------------------------------------------- per-Einsum curves

@dataclass(frozen=True)
class Curve:
    """One Einsum's streamed (occupancy, traffic) staircase for one shared tiling and resident set,
    with the mapping of its full sub-problem behind each point."""

    occ: np.ndarray
    acc: np.ndarray
    mappings: tuple


def reduced(sub: Einsum, resident: frozenset[str]) -> tuple[Einsum | None, dict[str, str], int]:
    """The sub-problem without its resident tensors, renamed ``O, A0, A1, ...`` so that Einsums of
    one shape share a cache entry, and without ranks no remaining tensor uses (their tile is best
    whole). A resident output, or the lack of any input, becomes a scalar stand-in: one word of
    occupancy and one access, subtracted afterwards. None when nothing streams."""
    keep = [T for T in sub.inputs if T.name not in resident]
    out_resident = sub.output.name in resident
    if not keep and out_resident:
        return None, {}, 0
    names = {f"A{i}": T.name for i, T in enumerate(keep)}
    ins = [Tensor(f"A{i}", T.axes) for i, T in enumerate(keep)] or [Tensor("A0", ())]
    out = Tensor("O", () if out_resident else sub.output.axes)
    if not out_resident:
        names["O"] = sub.output.name
    used = {r for T in (out, *ins) for r in T.ranks}
    dummies = int(out_resident) + int(not keep)
    return Einsum(out, tuple(ins), tuple((r, n) for r, n in sub.sizes if r in used), "reduced"), \
        names, dummies


def expand(mapping: Mapping | Nest, sub: Einsum, names: dict[str, str]) -> Mapping | Nest:
    """A reduced problem's mapping as a mapping of the full sub-problem (left-out ranks whole,
    resident tensors stored whole at the top, where they cost nothing)."""
    if isinstance(mapping, Mapping):
        t = mapping.tile
        return Mapping(tuple((r, t.get(r, n)) for r, n in sub.sizes), mapping.order)
    levels = tuple(tuple((r, dict(lv).get(r, n)) for r, n in sub.sizes) for lv in mapping.levels)
    where = {names[x]: b for x, b in mapping.storage if x in names}
    storage = tuple((T.name, where.get(T.name, 0)) for T in sub.tensors)
    return Nest(levels, mapping.orders, storage)


@dataclass
class Curves:
    """Per-Einsum curves, each reduced shape traced once (by the MILP or by enumeration)."""

    mapspace: Mapspace
    method: str = "auto"
    solver: str = "highs"
    traced: dict = field(default_factory=dict)
    seconds: float = 0.0

    def curve(self, e: Einsum, tiles: dict[str, int], resident: frozenset[str]) -> Curve:
        sub = fusion.sub_problem(e, tiles)
        red, names, dummies = reduced(sub, resident)
        if red is None:
            return Curve(np.zeros(1, np.int64), np.zeros(1, np.int64), (_whole(sub),))
        key = (str(red), red.sizes)
        if key not in self.traced:
            began = time.perf_counter()
            self.traced[key] = self._trace(red)
            self.seconds += time.perf_counter() - began
        points = self.traced[key]
        occ = np.array([c.occupancy - dummies for _, c in points], dtype=np.int64)
        acc = np.array([c.accesses - dummies for _, c in points], dtype=np.int64)
        return Curve(occ, acc, tuple(expand(m, sub, names) for m, _ in points))

    def _trace(self, problem: Einsum) -> list[tuple[Mapping | Nest, Cost]]:
        from .enumerate import _work

        small = self.mapspace.is_orojenesis and _work(problem) <= AUTO_ENUMERATION
        if self.method == "enumerate" or (self.method == "auto" and small):
            from .enumerate import frontier_points

            return frontier_points(problem, self.mapspace)
        from .results import Status
        from .solve import PointSolver, walk

        answers = walk(PointSolver(problem, self.solver, mapspace=self.mapspace))
        if any(a.status is not Status.OPTIMAL for a in answers):
            raise SolverError(f"the frontier of {problem} did not solve to optimality")
        return [(a.point.mapping, a.point.cost) for a in answers]


def _whole(sub: Einsum) -> Mapping:
    return Mapping(sub.sizes, ())


# ------------------------------------------------------------------------------------- segments

@dataclass(frozen=True)
class Plan:
    """A segment structure with the curves it combines: at capacity S, Einsum k gets the budget
    ``S - shift[k]`` and traffic is ``const + trips * sum(curve_k)``."""

    config: Config
    curves: tuple[Curve, ...]
    shifts: tuple[int, ...]
    const: int
    trips: int

    def segment(self, capacity: int) -> Segment:
        inner = [c.mappings[int(np.searchsorted(c.occ, capacity - s, side="right")) - 1]
                 for c, s in zip(self.curves, self.shifts)]
        return self.config.segment(tuple(inner))

    def staircase(self, tag: int) -> Staircase | None:
        lo = max(s + int(c.occ[0]) for c, s in zip(self.curves, self.shifts))
        caps = np.unique(np.concatenate([c.occ + s for c, s in zip(self.curves, self.shifts)]))
        caps = caps[caps >= lo]
        total = sum(c.acc[np.searchsorted(c.occ, caps - s, side="right") - 1]
                    for c, s in zip(self.curves, self.shifts))
        return staircase(caps, self.const + self.trips * total, np.full(len(caps), tag))


@dataclass(frozen=True)
class Shape:
    """What a structure costs before any curve is traced: its constants and lower bounds."""

    config: Config
    resident: tuple[frozenset[str], ...]
    shifts: tuple[int, ...]
    const: int
    trips: int
    floor_occ: int
    floor_acc: int


def shape(workload: Workload, cfg: Config) -> Shape:
    role = fusion.roles(workload, cfg.einsums)
    tiles = dict(cfg.shared)
    trips = math.prod(workload.size[r] // t for r, t in cfg.shared)
    held, const = 0, sum(workload.tensor_size(X) for X in role.exported)
    for T, q in cfg.kept:
        tile, reads, writes = fusion.kept_cost(workload, cfg.einsums, cfg.shared, T, q)
        held += tile
        const += reads + writes
    kept = {T for T, _ in cfg.kept}
    resident, shifts, floor_occ, floor_acc = [], [], 0, 0
    for k, n in enumerate(cfg.einsums):
        sub = fusion.sub_problem(workload[n], tiles)
        res = frozenset(T.name for T in sub.tensors if T.name in role.intermediates or T.name in kept)
        live = fusion.live_at(workload, role, tiles, k)
        streamed = [T for T in sub.tensors if T.name not in res]
        resident.append(res)
        shifts.append(held + live)
        floor_occ = max(floor_occ, held + live + len(streamed))
        floor_acc += sum(sub.tensor_size(T) for T in streamed)
    return Shape(cfg, tuple(resident), tuple(shifts), const, trips, floor_occ,
                 const + trips * floor_acc)


def plan(workload: Workload, sh: Shape, curves: Curves) -> Plan:
    tiles = dict(sh.config.shared)
    cs = tuple(curves.curve(workload[n], tiles, r) for n, r in zip(sh.config.einsums, sh.resident))
    return Plan(sh.config, cs, sh.shifts, sh.const, sh.trips)


# ------------------------------------------------------------------------------------- workloads

@dataclass
class Solution:
    """The frontier of a workload and how to rebuild the schedule behind each breakpoint."""

    workload: Workload
    frontier: Staircase
    provenance: list
    cells: dict
    plans: int = 0
    structures: int = 0
    seconds: float = 0.0
    traced: int = 0  # distinct per-Einsum curves traced
    trace_seconds: float = 0.0

    def schedule(self, capacity: int, cell: tuple[int, int] | None = None) -> Schedule:
        cell = cell or (0, len(self.workload.einsums) - 1)
        st = self.cells[cell]
        i = int(st.at(capacity))
        if i < 0:
            raise BoundsolverError(f"capacity {capacity} is below the least occupancy")
        how = self.provenance[int(st.tag[i])]
        if isinstance(how, Plan):
            return Schedule((how.segment(capacity),))
        i0, m, j = how
        return Schedule(self.schedule(capacity, (i0, m)).segments
                        + self.schedule(capacity, (m + 1, j)).segments)

    def value(self, capacity: int) -> int:
        return int(self.frontier.acc[self.frontier.at(capacity)])


def solve_workload(workload: Workload, fusion_on: bool, mapspace: Mapspace | str | None = None,
                   method: str = "auto", solver: str = "highs", max_shared: int = 2) -> Solution:
    """The exact frontier: every run of Einsums is solved as a segment, shortest first, and
    combined with the best cuts of the same run (``cells[(i, j)]``)."""
    if method not in METHODS:
        raise BoundsolverError(f"method must be one of {METHODS}, got {method!r}")
    began = time.perf_counter()
    curves = Curves(mapspace_of(mapspace), method, solver)
    names = workload.names
    n = len(names)
    provenance: list = []
    cells: dict[tuple[int, int], Staircase] = {}
    plans = structures = 0
    longest = n if fusion_on else 1
    for length in range(1, n + 1):
        for i in range(n - length + 1):
            j = i + length - 1
            parts = []
            for m in range(i, j):
                provenance.append((i, m, j))
                parts.append(plus(cells[(i, m)], cells[(m + 1, j)], len(provenance) - 1))
            best = merge(parts) if parts else None
            if length <= longest:
                for loops in fusion.loop_nests(workload, names[i:j + 1], max_shared):
                    for cfg in _survivors(workload, loops, best):
                        structures += 1
                        sh = shape(workload, cfg)
                        if best is not None and _beaten(best, sh):
                            continue
                        p = plan(workload, sh, curves)
                        plans += 1
                        provenance.append(p)
                        st = p.staircase(len(provenance) - 1)
                        best = st if best is None else merge([best, st])
            cells[(i, j)] = best
    return Solution(workload, cells[(0, n - 1)], provenance, cells, plans, structures,
                    time.perf_counter() - began, len(curves.traced), curves.seconds)


def _survivors(workload: Workload, loops: fusion.Loops, best: Staircase | None):
    """The structures of ``loops`` whose lower bounds ``best`` does not already beat, bounded for
    all choices of kept tensors at once: each kept tensor adds its tile to the occupancy and its
    own traffic, and takes its streamed words (at least its size per use) out."""
    if best is None or not loops.options:
        yield from loops.configs()
        return
    tiles = dict(loops.shared)
    trips = math.prod(workload.size[r] // t for r, t in loops.shared)
    role = fusion.roles(workload, loops.einsums)
    subs = [fusion.sub_problem(workload[n], tiles) for n in loops.einsums]
    live = max(fusion.live_at(workload, role, tiles, k) for k in range(len(subs)))
    streamed = sum(sub.tensor_size(T) for sub in subs for T in sub.tensors
                   if T.name not in role.intermediates)
    held = np.zeros(1, np.int64)
    acc = np.full(1, sum(workload.tensor_size(X) for X in role.exported) + trips * streamed, np.int64)
    for T, opts in loops.options:
        words = trips * sum(sub.tensor_size(x) for sub in subs for x in sub.tensors if x.name == T)
        h, a = [], []
        for q in opts:
            if q is None:
                h.append(0)
                a.append(0)
                continue
            tile, reads, writes = fusion.kept_cost(workload, loops.einsums, loops.shared, T, q)
            h.append(tile)
            a.append(reads + writes - words)
        held = np.add.outer(held, np.array(h, np.int64)).ravel()
        acc = np.add.outer(acc, np.array(a, np.int64)).ravel()
    i = best.at(held + live)
    alive = (i < 0) | (best.acc[np.maximum(i, 0)] > acc)
    shape_ = [len(opts) for _, opts in loops.options]
    for flat in np.flatnonzero(alive):
        pick = np.unravel_index(flat, shape_)
        cfg = loops.config(tuple(opts[k] for (_, opts), k in zip(loops.options, pick)))
        if cfg is not None:
            yield cfg


def _beaten(best: Staircase, sh: Shape) -> bool:
    """True when the structure cannot beat ``best`` at any capacity: from its least occupancy on,
    ``best`` is already at or below its least traffic."""
    i = int(best.at(sh.floor_occ))
    return i >= 0 and int(best.acc[i]) <= sh.floor_acc


def merge(parts: list[Staircase]) -> Staircase:
    return staircase(np.concatenate([p.occ for p in parts]), np.concatenate([p.acc for p in parts]),
                     np.concatenate([p.tag for p in parts]))


# ------------------------------------------------------------------------------------ result tables

def _row(workload: Workload, sol: Solution, capacity: int, imperfect: bool) -> dict:
    """The verified row of the breakpoint answering ``capacity``: the schedule is rebuilt and
    re-evaluated in integers; it must reproduce the frontier's value."""
    schedule = sol.schedule(capacity)
    cost = fusion.evaluate(workload, schedule, imperfect=imperfect)
    claimed = sol.value(capacity)
    if cost.accesses != claimed or cost.occupancy > capacity:
        raise SolverError(f"the schedule behind {claimed} accesses at capacity {capacity} of "
                          f"{workload.name} evaluates to occupancy {cost.occupancy}, accesses "
                          f"{cost.accesses}: {schedule.describe(workload)}")
    ops = sum(2 * e.macs - e.tensor_size(e.output) for e in workload.einsums)
    row = {"occupancy": cost.occupancy, "accesses": cost.accesses, "status": "optimal",
           "op_intensity": ops / cost.accesses, "macs_per_word": workload.macs / cost.accesses,
           "fused": schedule.fused,
           "segments": " | ".join("+".join(s.einsums) for s in schedule.segments),
           "schedule": schedule.describe(workload)}
    row |= {f"reads_{n}": v for n, v in cost.reads}
    row |= {f"writes_{n}": v for n, v in cost.writes}
    for seg in schedule.segments:
        for n, m in zip(seg.einsums, seg.inner):
            row[f"mapping_{n}"] = m.describe(fusion.sub_problem(workload[n], seg.tiles))
    return row


def _frame(workload: Workload, sol: Solution, rows: list[dict], fusion_on: bool, mapspace,
           capacity: bool):
    import pandas as pd

    tensors = [*workload.inputs, *workload.intermediates, *workload.outputs]
    cols = (["capacity"] if capacity else []) + [
        "occupancy", "accesses", "status", "op_intensity", "macs_per_word", "fused", "segments"]
    cols += [f"reads_{t}" for t in tensors] + [f"writes_{t}" for t in (*workload.intermediates,
                                                                       *workload.outputs)]
    cols += [f"mapping_{n}" for n in workload.names] + ["schedule"]
    df = pd.DataFrame([{c: r.get(c) for c in cols} for r in rows], columns=cols)
    for c in cols:
        if c.startswith(("reads_", "writes_")):  # a tensor a schedule never moves: 0 words
            df[c] = df[c].fillna(0).astype("Int64")
        elif c in ("capacity", "occupancy", "accesses"):
            df[c] = df[c].astype("Int64")
    df.attrs |= {"problem": str(workload), "name": workload.name, "unit": "words",
                 "word_bits": workload.word_bits, "fusion": fusion_on, "mapspace": str(mapspace),
                 "algorithmic_minimum": workload.algorithmic_minimum if fusion_on
                 else workload.unfused_minimum,
                 "macs": workload.macs, "seconds": sol.seconds, "structures": sol.structures,
                 "plans": sol.plans, "traced": sol.traced, "trace_seconds": sol.trace_seconds,
                 "op_intensity": "sum over Einsums of (2*MACs - |O|) / accesses, ops per word"}
    return df


def workload_frontier(workload: Workload, fusion_on: bool = True, solver: str = "highs",
                      mapspace: Mapspace | str | None = None, method: str = "auto",
                      max_shared: int = 2):
    """Every breakpoint of the workload's fused (or unfused) staircase, with its schedule."""
    ms = mapspace_of(mapspace)
    sol = solve_workload(workload, fusion_on, ms, method, solver, max_shared)
    imperfect = ms.factors == "imperfect"
    rows = [_row(workload, sol, int(o), imperfect) for o in sol.frontier.occ]
    return _frame(workload, sol, rows, fusion_on, ms, capacity=False)


def workload_curve(workload: Workload, capacities: list[int], fusion_on: bool = True,
                   solver: str = "highs", mapspace: Mapspace | str | None = None,
                   method: str = "auto", max_shared: int = 2):
    """Least accesses at each capacity; ``infeasible`` below the least occupancy."""
    ms = mapspace_of(mapspace)
    sol = solve_workload(workload, fusion_on, ms, method, solver, max_shared)
    imperfect = ms.factors == "imperfect"
    rows = []
    for c in capacities:
        if sol.frontier.at(c) < 0:
            rows.append({"capacity": c, "status": "infeasible"})
        else:
            rows.append({"capacity": c} | _row(workload, sol, c, imperfect))
    return _frame(workload, sol, rows, fusion_on, ms, capacity=True)
