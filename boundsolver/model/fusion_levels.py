"""Fused loop trees on a memory hierarchy, and their cost in Python integers (docs/fusion.md,
"On hierarchies").

The mapspace. The architecture is DRAM, then an outer on-chip level (the swept one, e.g. L2:
one instance, keeping every tensor), then inner levels (shared memory, registers, ...: any
capacities, bypass, fanout, multicast, as in docs/hierarchy.md). A fused schedule is a loop tree
of :mod:`fusion` whose stored tensors (kept tensors, intermediates) live in the outer level, and
whose leaves each run one multi-level nest (:class:`LevelMapping`) of their sub-problem:

* the tensors resident for the leaf (kept above it, or intermediates) are already in the outer
  level; the leaf's nest gives them a copy in a *tree level* (named ``<outer>(tree)``) above its
  own outer-level boundary, which costs nothing here (the tree pays for it) and from which the
  inner levels fill their copies;
* the other tensors stream through the leaf's own outer-level copies from DRAM;
* a leaf's own inner copies hold data for one invocation of it only; what stays in an inner
  level across leaf invocations (or from one Einsum to the next) is a tensor the tree stores
  and a node places there (``Node.at``): a second copy of its outer-level tile (the outer level
  stays inclusive) in one instance of that level, filled from the outer copy as often as that
  is from DRAM; a leaf using it runs in one instance of that level and has no copy of it at or
  above it (:func:`leaf_arch`: a tree level per level holding resident tensors), and every leaf
  has each inner level's room less the tree tiles live there.

The cost. Occupancy of the outer level and DRAM traffic are those of :mod:`fusion` (the leaf's
outer-level copies are its one-buffer mapping). Traffic into each inner level is every leaf's,
per invocation, times its invocations; an inner copy of an output is read back all but the first
time over the whole run (first-read elision across invocations: a leaf under a loop over a rank
its output does not use reads its partial sums back on every later visit). Each inner level's
occupancy is the largest over the leaves of their own copies plus the tree tiles placed there
and live then; a tree tile placed in an inner level adds its outer copy's DRAM words (an input's
fills, an output's writes and read-backs) to that level's traffic. Traffic into the outer level
equals DRAM's (it keeps every tensor).

Translated loops (``Node.via``, docs/fusion.md "Translated loops") are costed as on one buffer:
below a loop each Einsum sees its own sizes (:func:`fusion.cut` cuts the rank the loop binds in
each), so a leaf's sub-problem and invocations, a stored tile and whether a loop steps through it
are :mod:`fusion`'s; the inner levels follow from those as for any tree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache

from ..errors import ArchError, EinsumError
from . import fusion
from .arch import Arch, Level
from .cost import Copies, Nest, _copies, _fanouts, replicas, traffic
from .einsum import Einsum
from .fusion import Context, Leaf, Node, Schedule
from .workload import Workload

TREE = "(tree)"  # suffix of the tree level's name in a leaf's arch


@dataclass(frozen=True)
class LevelMapping:
    """A leaf's nest on its :func:`leaf_arch` (``copies``: per-tensor placement; None: uniform,
    boundary ``b`` is level ``b``)."""

    nest: Nest
    copies: Copies | None
    names: tuple[str, ...]  # the leaf arch's on-chip level names

    def describe(self, sub: Einsum) -> str:
        return self.nest.describe(sub, self.copies or Copies.uniform(self.nest, self.names))

    @classmethod
    def whole(cls, sub: Einsum, larch: Arch) -> "LevelMapping":
        """The leaf nest with no loops: every level of the leaf arch ``larch`` that keeps a
        tensor of ``sub`` holds its tile whole (uniform placement). Hand-built trees (tests,
        benchmarks' FlashAttention tree) use it where each leaf's tiles are set by the loops
        above it."""
        k = len(larch.on_chip)
        storage = tuple((T.name, b) for T in sub.tensors
                        for b, lv in enumerate(larch.on_chip, 1) if lv.keeps_tensor(sub, T))
        return cls(Nest((tuple(sub.sizes),) * k, ((),) * k, storage), None,
                   tuple(lv.name for lv in larch.on_chip))


@dataclass(frozen=True)
class HierCost:
    """Per on-chip level (outermost first) occupancy (words per instance) and traffic into it
    from its parent; DRAM's traffic and its reads and writes per tensor."""

    occupancy: tuple[int, ...]
    accesses: tuple[int, ...]
    dram: int
    reads: tuple[tuple[str, int], ...] = ()
    writes: tuple[tuple[str, int], ...] = ()

    @property
    def key(self) -> tuple[int, ...]:
        """The lexicographic objective, as ``LevelCost.key``."""
        return (self.dram, *self.accesses)


def check_arch(workload: Workload, arch: Arch) -> None:
    """Refuse a hierarchy this model does not cover, naming what is missing."""
    if len(arch.levels) < 2:
        raise ArchError(f"{arch.name}: a fused workload needs at least one on-chip level")
    outer = arch.on_chip[0]
    if not outer.sweep:
        raise ArchError(f"fused mappings on {arch.name} need its outermost on-chip level "
                        f"({outer.name}) to be the swept one (capacity: sweep): the loop tree's "
                        "tensors live there; a swept inner level is not modelled")
    if outer.instances != 1:
        raise ArchError(f"fused mappings on {arch.name} need one instance of its outermost "
                        f"on-chip level ({outer.name} has {outer.instances})")
    _ = arch.fanouts
    for e in workload.einsums:
        missing = [T.name for T in e.tensors if not outer.keeps_tensor(e, T)]
        if missing:
            raise ArchError(f"fused mappings on {arch.name} need {outer.name} to keep every "
                            f"tensor (the loop tree stores them there); it bypasses "
                            f"{', '.join(missing)} of {e.name}")
        for T in e.tensors:
            if not any(lv.keeps_tensor(e, T) for lv in arch.on_chip):
                raise ArchError(f"no on-chip level of {arch.name} keeps {T.name}")


Placed = tuple[tuple[str, str], ...]  # (tensor, inner level name): resident in an inner level


def _held_in(arch: Arch, sub: Einsum, resident: frozenset[str], inner: Placed) -> list[tuple[str, ...]]:
    """Per on-chip level of ``arch``, the resident tensors the tree holds there (sub's order)."""
    where = dict(inner)
    names = [lv.name for lv in arch.on_chip]
    bad = [lv for lv in where.values() if lv not in names[1:]]
    if bad:
        raise ArchError(f"{arch.name}: {bad[0]!r} is no inner level ({', '.join(names[1:])})")
    return [tuple(T.name for T in sub.tensors if T.name in resident
                  and where.get(T.name, names[0]) == name) for name in names]


@lru_cache(maxsize=4096)
def leaf_arch(arch: Arch, sub: Einsum, resident: frozenset[str], revisited: bool,
              inner: Placed = (), free: tuple[int, ...] | None = None) -> Arch:
    """The hierarchy one leaf's nest runs on: DRAM; a *tree level* ``<level>(tree)`` per level
    holding resident tensors (capacity: their tiles, whole), outermost first; the outer level
    holding the streamed ones (swept); the inner levels as in ``arch``.

    ``inner`` names the resident tensors the tree holds in an inner level ``l`` (the others: in
    the outer level). Such a tensor has no copy of the leaf's at ``l`` or above (it is there
    already), the inner copies below ``l`` fill from its tree copy, and the leaf runs in one
    instance of ``l``: every level down to ``l`` has one instance (no fanout at or above ``l``;
    deeper levels keep their fanout below it). ``free``: each inner level's capacity left to the
    leaf (the tree's tiles live beside it; default: all of it; ArchError when a level the leaf
    keeps tensors in has none left).

    When the leaf's output is revisited (a loop above it over a rank the output does not use),
    the fanouts at or above the source of an inner copy of the output split output ranks only:
    its partial sums are then never replicated across instances, so the first-read elision across
    invocations is one term per copy (the mapspace's one restriction)."""
    held = _held_in(arch, sub, resident, inner)
    outer, inner_levels = arch.on_chip[0], list(arch.on_chip[1:])
    streamed = tuple(T.name for T in sub.tensors if T.name not in resident)
    levels: list[Level] = [arch.levels[0]]
    for lv, res in zip(arch.on_chip, held):
        if res:
            words = sum(sub.tensor_size(T) for T in sub.tensors if T.name in res)
            levels.append(Level(lv.name + TREE, words, keeps=res))
    levels.append(replace(outer, keeps=streamed or ("none",)))
    deepest = max((i for i, res in enumerate(held) if res and i), default=0)
    top = arch.on_chip[deepest].instances
    for i, lv in enumerate(inner_levels, 1):
        gone = {T for res in held[i:] for T in res}  # placed here or deeper: no copy here
        change: dict = {}
        if any(lv.keeps_tensor(sub, T) for T in sub.tensors if T.name in gone):
            change["keeps"] = tuple(T.name for T in sub.tensors
                                    if lv.keeps_tensor(sub, T) and T.name not in gone) or ("none",)
        if free is not None and free[i - 1] != lv.capacity:
            if free[i - 1] < 1 and change.get("keeps", lv.keeps) != ("none",) and any(
                    lv.keeps_tensor(sub, T) for T in sub.tensors if T.name not in gone):
                raise ArchError(f"the tree's tiles leave {free[i - 1]} words of {lv.name} to a "
                                f"leaf that keeps tensors there")
            change["capacity"] = max(free[i - 1], 1)
        if deepest and lv.instances != (1 if i <= deepest else lv.instances // top):
            change["instances"] = 1 if i <= deepest else lv.instances // top
        inner_levels[i - 1] = replace(lv, **change) if change else lv
    if revisited:
        out = sub.output
        holding = [i for i, lv in enumerate(inner_levels) if lv.keeps_tensor(sub, out)]
        last_source = holding[-2] if len(holding) > 1 else -1
        for i in range(last_source + 1):
            lv = inner_levels[i]
            ranks = sub.ranks if lv.spatial_ranks is None else lv.spatial_ranks
            allowed = [d for d in ranks if d in out.ranks]
            inner_levels[i] = replace(lv, spatial_ranks=tuple(allowed))
    return Arch(f"{arch.name}:leaf", arch.word_bits, tuple(levels + inner_levels))


def tree_levels(larch: Arch) -> int:
    """How many tree levels a leaf arch has (they come first, after DRAM)."""
    return sum(1 for lv in larch.on_chip if lv.name.endswith(TREE))


@dataclass(frozen=True)
class LeafTraffic:
    """One invocation of a leaf: occupancy per real on-chip level (the outer level's: streamed
    tiles only), DRAM words per streamed tensor (an output's writes; read-backs come from the
    elision over the run), words into each inner level, and per inner level the replica factor
    of the output's copy there (0: no copy)."""

    occupancy: tuple[int, ...]
    dram: tuple[tuple[str, int], ...]
    inner: tuple[int, ...]
    out_above: tuple[int, ...]


def leaf_traffic(arch: Arch, sub: Einsum, resident: frozenset[str], revisited: bool,
                 mapping: LevelMapping, inner: Placed = ()) -> LeafTraffic:
    """The cost of one invocation of a leaf's nest (``cost.traffic`` on its :func:`leaf_arch`),
    the tree levels' copies left out (the tree pays for them)."""
    larch = leaf_arch(arch, sub, resident, revisited, inner)
    if mapping.names != tuple(lv.name for lv in larch.on_chip):
        raise EinsumError(f"the mapping of {sub.name} is for levels {mapping.names}, not "
                          f"{tuple(lv.name for lv in larch.on_chip)}")
    nest, copies = mapping.nest, mapping.copies
    result = traffic(sub, nest, copies, larch.multicast, outermost=1)
    shift = tree_levels(larch)
    k = len(arch.on_chip)
    level, nk = _copies(nest, copies)
    fanouts = _fanouts(nest, copies, level, nk) if nest.spatial else None
    if fanouts and any(math.prod(f.values()) > n for f, n in zip(fanouts, larch.fanouts)):
        raise EinsumError(f"the mapping of {sub.name} splits a level across more instances than "
                          f"its leaf arch has ({larch.fanouts}): a leaf under a tree tile in an "
                          "inner level runs in one instance of that level")
    inner_words = [0] * (k - 1)
    above = [0] * (k - 1)
    dram: dict[str, int] = {}
    out = sub.output
    for c in result.copies:
        real = c.level - shift  # below 1: a tree level
        if real < 1:
            continue
        if real == 1:
            if c.source != 0:
                raise EinsumError(f"{c.tensor}'s outer-level copy must be filled from DRAM")
            dram[c.tensor] = c.writes if c.tensor == out.name else c.reads
            continue
        inner_words[real - 2] += c.reads + c.writes
        if c.tensor == out.name:
            above[real - 2] = replicas(out, nest, c.source, c.level, larch.multicast, fanouts)[0]
    occupancy = tuple(result.occupancy[shift:])
    return LeafTraffic(occupancy, tuple(dram.items()), tuple(inner_words), tuple(above))


def invocations(workload: Workload, e: Einsum, tiles: dict[str, int]) -> tuple[int, int]:
    """(invocations of a leaf under loops leaving ``tiles``, how often each output tile is
    visited): every loop above a leaf is over one of its Einsum's ranks."""
    size = workload.size
    n = math.prod(size[d] // tiles[d] for d in e.size)
    r = math.prod(size[d] // tiles[d] for d in e.size if d not in e.output.ranks)
    return n, r


# ------------------------------------------------------------------------------------ evaluation

@dataclass
class _Run:
    """Totals over one segment's run, gathered by :meth:`walk`: DRAM words per tensor, words of
    tree copies in inner levels ((tensor, level): words, as its outer copy's DRAM words), traffic
    into and occupancy of each inner level."""

    workload: Workload
    arch: Arch
    ctx: Context
    moved: dict
    inner: list
    inner_occ: list
    via: dict

    def walk(self, node: Node, sizes: fusion.Sizes, resident: frozenset[str],
             where: dict[str, int], base: list[int], mult: int) -> int:
        """The peak outer-level occupancy of one invocation of ``node`` (invoked ``mult`` times
        in all); traffic is added to the run's totals. ``sizes``: each Einsum's rank sizes
        below the loops above (a translated loop, ``Node.via``, cuts in each Einsum the rank it
        binds there: :func:`fusion.cut`, as one buffer's evaluator does); ``where``: the on-chip
        level (0: outer) of each tensor stored above; ``base``: the words of tree tiles live in
        each inner level while ``node`` runs."""
        ctx = self.ctx
        n, sizes = fusion.cut(node, node.einsums(), sizes)
        here = [*node.keep, *fusion.stored_here(ctx, node, resident)]
        names = [lv.name for lv in self.arch.on_chip]
        at = {T: names.index(lv) for T, lv in node.at}
        spans = [fusion._span(ctx, c) for c in node.children]
        node_span = tuple(sorted(i for sp in spans for i in sp))
        shift = [0] * len(spans)
        lifts = [list(base) for _ in spans]
        for T in here:
            tile = fusion.tile_of(ctx, T, node_span, sizes)
            lvl = at.get(T, 0)
            for k, sp in enumerate(spans):
                if fusion.live_during(ctx, node.rank, T, node_span, sp, node.via):
                    shift[k] += tile  # the outer level is inclusive: its copy stays
                    if lvl:
                        lifts[k][lvl - 1] += tile
            if T in ctx.moved or T in ctx.exported:
                each = mult * tile * (n if fusion.indexes(ctx, node.rank, T, node_span, node.via)
                                      else 1)
                self.moved[T] = self.moved.get(T, 0) + each
                if lvl:  # its inner copy moves as often as its outer copy
                    self.via[T, lvl] = self.via.get((T, lvl), 0) + each
        inside = resident | frozenset(here)
        where = where | {T: at.get(T, 0) for T in here}
        peak = 0
        for c, s, lift in zip(node.children, shift, lifts):
            if isinstance(c, Node):
                occ = self.walk(c, sizes, inside, where, lift, mult * n)
            else:
                occ = self.leaf(c, sizes, inside, where, lift, mult * n)
            peak = max(peak, s + occ)
        return peak

    def leaf(self, leaf: Leaf, sizes: fusion.Sizes, inside: frozenset[str],
             where: dict[str, int], base: list[int], times: int) -> int:
        if not isinstance(leaf.mapping, LevelMapping):
            raise EinsumError(f"on a hierarchy every leaf runs a LevelMapping, {leaf.einsum} "
                              f"has {type(leaf.mapping).__name__}")
        e = self.workload[leaf.einsum]
        sizes = sizes[leaf.einsum]  # its own ranks' tiles (a translated loop cut one of them)
        sub = fusion.sub_problem(e, sizes)
        res = frozenset(T.name for T in sub.tensors
                        if T.name in inside or T.name in self.ctx.intermediates)
        names = [lv.name for lv in self.arch.on_chip]
        placed = tuple((T.name, names[where[T.name]]) for T in sub.tensors
                       if T.name in res and where.get(T.name, 0))
        _, r = invocations(self.workload, e, sizes)
        lt = leaf_traffic(self.arch, sub, res, r > 1, leaf.mapping, placed)
        for T, v in lt.dram:
            self.moved[T] = self.moved.get(T, 0) + times * v
        whole, tile = e.tensor_size(e.output), sub.tensor_size(sub.output)
        for i, (words, above) in enumerate(zip(lt.inner, lt.out_above)):
            # the output's first reads are elided once over the run, not once per invocation
            self.inner[i] += times * words + above * (times * tile - whole)
            self.inner_occ[i] = max(self.inner_occ[i], base[i] + lt.occupancy[i + 1])
        return lt.occupancy[0]


@dataclass(frozen=True)
class SegmentCost:
    """One segment's run: the outer level's occupancy, DRAM reads and writes per tensor, traffic
    into and occupancy of each inner level."""

    occupancy: int
    reads: dict
    writes: dict
    inner: list
    inner_occ: list


def segment_cost(workload: Workload, root: Node, arch: Arch) -> SegmentCost:
    """:class:`SegmentCost` of one segment. DRAM's reads of an output are its writes less its
    size (model.md's first-read elision over the whole run), as in
    :func:`fusion.evaluate_segment`. A tree tile in an inner level is a second copy of its outer
    tile, filled from it (written back to it) as often as that is from (to) DRAM: an input's
    words, or an output's writes and read-backs (a written tensor has one storage point, above
    its writer, so all its DRAM words go through that copy)."""
    k = len(arch.on_chip)
    ctx = Context(workload, root.einsums())
    run = _Run(workload, arch, ctx, {}, [0] * (k - 1), [0] * (k - 1), {})
    occ = run.walk(root, fusion.root_sizes(workload, root.einsums()), frozenset(), {},
                   [0] * (k - 1), 1)
    reads = {T: v for T, v in run.moved.items() if T not in ctx.written}
    writes = {T: v for T, v in run.moved.items() if T in ctx.written}
    for T, v in writes.items():
        back = v - workload.tensor_size(T)
        if back:
            reads[T] = back
    for (T, lvl), words in run.via.items():
        if T in ctx.written:
            if words != writes[T]:
                raise EinsumError(f"{T} is written both from an inner tree copy and elsewhere")
            words += reads.get(T, 0)
        run.inner[lvl - 1] += words
    return SegmentCost(occ, reads, writes, run.inner, run.inner_occ)


def evaluate_segment(workload: Workload, root: Node, arch: Arch
                     ) -> tuple[int, dict[str, int], dict[str, int], list[int], list[int]]:
    """(outer-level occupancy, DRAM reads and writes per tensor, traffic into and occupancy of
    each inner level) of one segment (:func:`segment_cost`)."""
    c = segment_cost(workload, root, arch)
    return c.occupancy, c.reads, c.writes, c.inner, c.inner_occ


def check_placement(workload: Workload, schedule: Schedule, arch: Arch) -> None:
    """Every tensor a node places in an inner level is one that level keeps, for every Einsum
    under the node that uses it."""
    levels = {lv.name: lv for lv in arch.on_chip[1:]}

    def walk(node: Node) -> None:
        for T, name in node.at:
            lv = levels[name]
            for n in node.einsums():
                e = workload[n]
                if any(t.name == T for t in e.tensors) and not lv.keeps_tensor(e, e.tensor(T)):
                    raise ArchError(f"{name} of {arch.name} does not keep {T} (of {n}); the "
                                    f"loop tree cannot store it there")
        for c in node.children:
            if isinstance(c, Node):
                walk(c)

    for seg in schedule.segments:
        walk(seg)


def evaluate(workload: Workload, schedule: Schedule, arch: Arch, check: bool = True) -> HierCost:
    """Every level's occupancy and traffic of a fused schedule on ``arch``: segments run one after
    another, each with every level to itself, so occupancies are the largest of theirs and
    traffic adds up; the outer level keeps every tensor, so its traffic is DRAM's."""
    if check:
        check_arch(workload, arch)
        fusion.check_schedule(workload, schedule, tuple(lv.name for lv in arch.on_chip[1:]))
        check_placement(workload, schedule, arch)
    k = len(arch.on_chip)
    reads: dict[str, int] = {}
    writes: dict[str, int] = {}
    outer_occ, inner, inner_occ = 0, [0] * (k - 1), [0] * (k - 1)
    for seg in schedule.segments:
        c = segment_cost(workload, seg, arch)
        outer_occ = max(outer_occ, c.occupancy)
        for T, v in c.reads.items():
            reads[T] = reads.get(T, 0) + v
        for T, v in c.writes.items():
            writes[T] = writes.get(T, 0) + v
        inner = [a + b for a, b in zip(inner, c.inner)]
        inner_occ = [max(a, b) for a, b in zip(inner_occ, c.inner_occ)]
    dram = sum(reads.values()) + sum(writes.values())
    return HierCost((outer_occ, *inner_occ), (dram, *inner), dram, tuple(reads.items()),
                    tuple(writes.items()))


def tree(workload: Workload, schedule: Schedule, arch: Arch) -> str:
    """The loop tree (:meth:`Schedule.tree`), every stored tensor placed in its levels (the outer
    one, and the inner one a node places it in: ``kept in L2 and SMEM``) and every leaf's copies
    naming their levels."""
    outer = arch.on_chip[0].name
    return "\n".join(line.replace("] kept in ", f"] kept in {outer} and ")
                     .replace("] intermediate in ", f"] intermediate in {outer} and ")
                     .replace("] kept, ", f"] kept in {outer}, ")
                     .replace("] intermediate, ", f"] intermediate in {outer}, ")
                     for line in schedule.tree(workload).splitlines())
