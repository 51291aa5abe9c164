"""Fused mappings of a workload and their cost in Python integers (docs/fusion.md).

A :class:`Schedule` cuts the workload into segments of consecutive Einsums. A segment runs its
*shared loops* (one tile per shared rank, outermost first); in every iteration each of its Einsums
runs, in order, its own mapping of the *sub-problem* (the Einsum with every shared rank cut to its
tile). An intermediate produced and read inside a segment never touches the backing store: its
current tile stays in the buffer from its producer to its last reader. A *kept* input is stored at
a boundary of the shared loops and stays across Einsums and iterations; every other tensor is
moved by its Einsum's own mapping, once per shared iteration.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations, permutations, product

from . import nest as nests
from .cost import Cost, Mapping, divisors
from .cost import evaluate as evaluate_mapping
from .einsum import Einsum, Tensor
from .errors import EinsumError
from .nest import Nest
from .workload import Workload


@dataclass(frozen=True)
class Segment:
    """Consecutive Einsums run together: shared loops ``(rank, tile)`` (outermost first), kept
    inputs ``(tensor, boundary)`` (boundary ``q``: below the first ``q`` shared loops) and each
    Einsum's mapping of its sub-problem."""

    einsums: tuple[str, ...]
    shared: tuple[tuple[str, int], ...] = ()
    kept: tuple[tuple[str, int], ...] = ()
    inner: tuple[Mapping | Nest, ...] = ()

    @property
    def order(self) -> tuple[str, ...]:
        return tuple(r for r, _ in self.shared)

    @property
    def tiles(self) -> dict[str, int]:
        return dict(self.shared)


@dataclass(frozen=True)
class Schedule:
    """A fused mapping of a whole workload: its segments in order."""

    segments: tuple[Segment, ...]

    @property
    def fused(self) -> bool:
        return any(len(s.einsums) > 1 for s in self.segments)

    def describe(self, workload: Workload) -> str:
        """E.g. ``[Q+QK | for m in [0,64) | keep WQ@0] Q: ...; QK: ... ;; [Z] Z: ...``."""
        parts = []
        for s in self.segments:
            head = "+".join(s.einsums)
            loops = " ".join(f"for {r} in [0,{workload.size[r] // t})" for r, t in s.shared)
            keep = ",".join(f"{n}@{q}" for n, q in s.kept)
            head += f" | {loops}" if loops else ""
            head += f" | keep {keep}" if keep else ""
            subs = [sub_problem(workload[n], s.tiles) for n in s.einsums]
            body = "; ".join(f"{n}: {m.describe(p)}" for n, m, p in zip(s.einsums, s.inner, subs))
            parts.append(f"[{head}] {body}")
        return " ;; ".join(parts)


@dataclass(frozen=True)
class FusedCost:
    """Occupancy (the most ever live) and backing-store traffic of a schedule, in words."""

    occupancy: int
    accesses: int
    reads: tuple[tuple[str, int], ...]
    writes: tuple[tuple[str, int], ...]
    segments: tuple[tuple[int, int], ...]  # (occupancy, accesses) of each segment


def sub_problem(e: Einsum, tiles: dict[str, int]) -> Einsum:
    """The Einsum one shared iteration runs: each shared rank cut to its tile."""
    cut = {r: t for r, t in tiles.items() if r in e.size}
    return e.with_sizes(**(e.size | cut)) if cut else e


def live_tile(workload: Workload, X: str, tiles: dict[str, int]) -> int:
    """Words of intermediate ``X`` one shared iteration produces (and its readers read)."""
    sub = sub_problem(workload.einsums[workload.producer[X]], tiles)
    return sub.output.footprint(sub.size)


def live_at(workload: Workload, role: Roles, tiles: dict[str, int], k: int) -> int:
    """Words of intermediate tiles live while the segment's ``k``-th Einsum runs."""
    return sum(live_tile(workload, X, tiles) for X, (a, b) in role.live.items() if a <= k <= b)


@dataclass(frozen=True)
class Roles:
    """What each tensor of a segment is: intermediates (stay on chip; ``exported`` ones are also
    written back for later readers), and the inputs and outputs it moves to the backing store."""

    intermediates: tuple[str, ...]
    exported: tuple[str, ...]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    live: dict  # intermediate -> (first, last) positions in the segment


def roles(workload: Workload, names: tuple[str, ...]) -> Roles:
    idx = {n: workload.names.index(n) for n in names}
    pos = {idx[n]: k for k, n in enumerate(names)}
    inter, exported, outputs, live = [], [], [], {}
    for n in names:
        X = workload[n].output.name
        readers = [pos[i] for i in workload.consumers.get(X, ()) if i in pos]
        if not readers:
            outputs.append(X)
            continue
        inter.append(X)
        live[X] = (pos[idx[n]], max(readers))
        if len(readers) < len(workload.consumers[X]):
            exported.append(X)
    produced = {workload[n].output.name for n in names}
    inputs = []
    for n in names:
        inputs += [T.name for T in workload[n].inputs if T.name not in produced and T.name not in inputs]
    return Roles(tuple(inter), tuple(exported), tuple(inputs), tuple(outputs), live)


def shared_ranks(workload: Workload, names: tuple[str, ...]) -> tuple[str, ...]:
    """Ranks a segment may share loops over: a rank of every Einsum, on plain axes only, and an
    output rank of every intermediate's producer, indexing the same axis in its readers. An Einsum
    that reduces over a shared rank must write a segment output (kept while it accumulates)."""
    if len(names) < 2:
        return ()
    es = [workload[n] for n in names]
    role = roles(workload, names)
    ok = []
    for r in es[0].ranks:
        if es[0].size[r] == 1 or not all(r in e.ranks for e in es):
            continue
        plain = all(T.axis_of(r).is_plain for e in es for T in e.tensors if r in T.ranks)
        produced = all(r in e.output.ranks for e in es if e.output.name in role.intermediates)
        aligned = all(
            (r in a.ranks) == (r in b.ranks)
            for X in role.intermediates for e in es if X in (T.name for T in e.inputs)
            for a, b in zip(_producer(workload, X).output.axes, e.tensor(X).axes))
        if plain and produced and aligned:
            ok.append(r)
    return tuple(ok)


def _producer(workload: Workload, X: str) -> Einsum:
    return workload.einsums[workload.producer[X]]


def _users(workload: Workload, names: tuple[str, ...], T: str) -> list[Einsum]:
    """The segment's Einsums that read or write ``T``."""
    return [workload[n] for n in names if any(x.name == T for x in workload[n].tensors)]


def tensor_of(workload: Workload, names: tuple[str, ...], T: str) -> Tensor:
    return _users(workload, names, T)[0].tensor(T)


def must_keep(workload: Workload, names: tuple[str, ...], order: tuple[str, ...], T: str) -> bool:
    """An output whose Einsum reduces over a shared loop accumulates in the buffer across it."""
    return T in roles(workload, names).outputs and any(
        r not in tensor_of(workload, names, T).ranks for r in order)


def kept_positions(workload: Workload, names: tuple[str, ...], order: tuple[str, ...],
                   tensor: str) -> tuple[int, ...]:
    """Boundaries where a tensor may be kept: above every shared loop or right below one that
    indexes it. None when keeping cannot save traffic: an input read by one Einsum and indexed by
    every shared rank (its Einsum's own mapping then reads it once anyway), an input read through
    different axes by different Einsums, or an output indexed by every shared rank."""
    users = _users(workload, names, tensor)
    if len({e.tensor(tensor).axes for e in users}) != 1:
        return ()
    ranks = users[0].tensor(tensor).ranks
    if len(users) == 1 and all(r in ranks for r in order):
        return ()
    return (0, *(i + 1 for i, r in enumerate(order) if r in ranks))


def check_segment(workload: Workload, seg: Segment) -> None:
    known = set(workload.names)
    if not seg.einsums or any(n not in known for n in seg.einsums):
        raise EinsumError(f"segment {seg.einsums} must name Einsums of the workload")
    allowed = shared_ranks(workload, seg.einsums)
    size = workload.size
    for r, t in seg.shared:
        if r not in allowed:
            raise EinsumError(f"segment {'+'.join(seg.einsums)} cannot share a loop over {r!r} "
                              f"(shareable: {', '.join(allowed) or 'none'})")
        if not isinstance(t, int) or t < 1 or size[r] % t:
            raise EinsumError(f"shared tile {t!r} of rank {r!r} must divide {size[r]}")
    if len(set(seg.order)) != len(seg.order):
        raise EinsumError(f"segment {seg.einsums} shares rank loops twice: {seg.order}")
    role = roles(workload, seg.einsums)
    kept = dict(seg.kept)
    for T, q in seg.kept:
        if T not in role.inputs and T not in role.outputs:
            raise EinsumError(f"only tensors the segment moves to or from the backing store can be "
                              f"kept, not {T!r}")
        if len({e.tensor(T).axes for e in _users(workload, seg.einsums, T)}) != 1:
            raise EinsumError(f"{T} is read through different axes in the segment; it cannot be kept")
        if not isinstance(q, int) or not 0 <= q <= len(seg.shared):
            raise EinsumError(f"kept {T} at boundary {q!r}, outside [0,{len(seg.shared)}]")
    for T in role.outputs:
        if must_keep(workload, seg.einsums, seg.order, T) and T not in kept:
            raise EinsumError(f"{T} accumulates across a shared loop its Einsum reduces over; it "
                              "must be kept")
    if len(seg.inner) != len(seg.einsums):
        raise EinsumError(f"segment {seg.einsums} needs one inner mapping per Einsum")


def check_schedule(workload: Workload, schedule: Schedule) -> None:
    flat = [n for s in schedule.segments for n in s.einsums]
    if tuple(flat) != workload.names:
        raise EinsumError(f"a schedule must cover the workload's Einsums once, in order "
                          f"({', '.join(workload.names)}); got {', '.join(flat)}")
    for s in schedule.segments:
        check_segment(workload, s)


def kept_cost(workload: Workload, names: tuple[str, ...], shared: tuple[tuple[str, int], ...],
              T: str, q: int) -> tuple[int, int, int]:
    """(tile, reads, writes) of a tensor kept at boundary ``q``. The tile spans the shared loops
    above it; it is moved again whenever a loop up to its innermost relevant one steps. An output
    is written every time and read back all but the first time (first-read elision)."""
    size = workload.size
    tiles = dict(shared)
    tensor = tensor_of(workload, names, T)
    above = tuple(r for r, _ in shared)[:q]
    tile = tensor.footprint({r: tiles[r] if r in above else size[r] for r in tensor.ranks})
    relevant = [i for i, r in enumerate(above) if r in tensor.ranks]
    moved = tile * math.prod(size[r] // tiles[r] for r in above[:relevant[-1] + 1]) if relevant \
        else tile
    if T in roles(workload, names).outputs:
        return tile, moved - workload.tensor_size(T), moved
    return tile, moved, 0


def inner_cost(sub: Einsum, mapping: Mapping | Nest, imperfect: bool) -> tuple[Cost, dict[str, int]]:
    """The sub-problem's cost under its own mapping and each tensor's buffered tile."""
    if isinstance(mapping, Nest):
        cost = nests.evaluate(sub, mapping, imperfect=imperfect)
        where = dict(mapping.storage)
        return cost, {T.name: T.footprint(mapping.tile(sub, where[T.name])) for T in sub.tensors}
    cost = evaluate_mapping(sub, mapping)
    return cost, {T.name: T.footprint(mapping.tile) for T in sub.tensors}


def evaluate_segment(workload: Workload, seg: Segment, imperfect: bool = False
                     ) -> tuple[int, dict[str, int], dict[str, int]]:
    """(occupancy, reads, writes) of one segment."""
    size = workload.size
    role = roles(workload, seg.einsums)
    trips = math.prod(size[r] // t for r, t in seg.shared)
    kept = dict(seg.kept)
    reads: dict[str, int] = {}
    writes: dict[str, int] = {}
    held = 0
    for T, q in seg.kept:
        tile, r, w = kept_cost(workload, seg.einsums, seg.shared, T, q)
        held += tile
        reads[T] = reads.get(T, 0) + r
        if w:
            writes[T] = writes.get(T, 0) + w
    steps = []
    for n, mapping in zip(seg.einsums, seg.inner):
        sub = sub_problem(workload[n], seg.tiles)
        cost, tiles = inner_cost(sub, mapping, imperfect)
        resident = {T.name for T in sub.tensors if T.name in role.intermediates or T.name in kept}
        for name, v in cost.reads:
            if name not in resident:
                reads[name] = reads.get(name, 0) + trips * v
        for name, v in cost.writes:
            if name not in resident:
                writes[name] = writes.get(name, 0) + trips * v
        streamed = sum(v for name, v in tiles.items() if name not in resident)
        steps.append(streamed)
    for X in role.exported:
        writes[X] = writes.get(X, 0) + workload.tensor_size(X)
    peak = max(s + live_at(workload, role, seg.tiles, k) for k, s in enumerate(steps))
    return held + peak, reads, writes


def evaluate(workload: Workload, schedule: Schedule, check: bool = True,
             imperfect: bool = False) -> FusedCost:
    """Occupancy and accesses of a fused mapping: segments run one after another, each with the
    whole buffer, so occupancy is the largest of theirs and traffic their sum."""
    if check:
        check_schedule(workload, schedule)
    reads: dict[str, int] = {}
    writes: dict[str, int] = {}
    per = []
    for seg in schedule.segments:
        occ, r, w = evaluate_segment(workload, seg, imperfect)
        for name, v in r.items():
            reads[name] = reads.get(name, 0) + v
        for name, v in w.items():
            writes[name] = writes.get(name, 0) + v
        per.append((occ, sum(r.values()) + sum(w.values())))
    return FusedCost(max(o for o, _ in per), sum(a for _, a in per), tuple(reads.items()),
                     tuple(writes.items()), tuple(per))


# ------------------------------------------------------------------------------------ the mapspace

@dataclass(frozen=True)
class Config:
    """A segment's fused structure without the inner mappings: shared loops and kept tensors."""

    einsums: tuple[str, ...]
    shared: tuple[tuple[str, int], ...]
    kept: tuple[tuple[str, int], ...]

    def segment(self, inner: tuple) -> Segment:
        return Segment(self.einsums, self.shared, self.kept, tuple(inner))


@dataclass(frozen=True)
class Loops:
    """A segment's shared loops and, for each tensor it moves to or from the backing store, the
    choices: ``None`` (its Einsum's mapping moves it) or a boundary where it is kept."""

    einsums: tuple[str, ...]
    shared: tuple[tuple[str, int], ...]
    options: tuple[tuple[str, tuple[int | None, ...]], ...]
    canonical: bool  # the shared ranks in their first order: the one used when nothing is kept

    def config(self, pick: tuple[int | None, ...]) -> Config | None:
        """The structure of one choice per tensor; None for a duplicate (nothing kept, so the
        order of the shared loops is moot, and another order gives the same structure)."""
        kept = tuple((T, q) for (T, _), q in zip(self.options, pick) if q is not None)
        return Config(self.einsums, self.shared, kept) if kept or self.canonical else None

    def configs(self):
        for pick in product(*(opts for _, opts in self.options)):
            cfg = self.config(pick)
            if cfg is not None:
                yield cfg


def loop_nests(workload: Workload, names: tuple[str, ...], max_shared: int = 2):
    """Every choice of shared loops of a segment (docs/fusion.md, 'The mapspace'), at most
    ``max_shared`` of them. A single Einsum runs unfused: no shared loops and nothing kept, so
    fused and unfused curves differ only by fusion."""
    if len(names) == 1:
        yield Loops(names, (), (), True)
        return
    size = workload.size
    allowed = shared_ranks(workload, names)
    role = roles(workload, names)
    moved = (*role.inputs, *role.outputs)
    for k in range(min(max_shared, len(allowed)) + 1):
        for ranks in combinations(allowed, k):
            for order in permutations(ranks):
                options = tuple(
                    (T, (*(() if must_keep(workload, names, order, T) else (None,)),
                         *kept_positions(workload, names, order, T))) for T in moved)
                for tiles in product(*(divisors(size[r])[:-1] for r in order)):
                    yield Loops(names, tuple(zip(order, tiles)), options, order == ranks)


def configs(workload: Workload, names: tuple[str, ...], max_shared: int = 2):
    """Every fused structure of a segment."""
    for loops in loop_nests(workload, names, max_shared):
        yield from loops.configs()
