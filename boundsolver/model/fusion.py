"""Fused mappings of a workload as loop trees, and their cost in Python integers (docs/fusion.md).

A :class:`Schedule` cuts the workload into *segments* of consecutive Einsums; tensors that pass
between segments go through the backing store. A segment is a *loop tree*: its root
(:class:`Node` with no loop) and every loop node hold an ordered list of children, each a
:class:`Leaf` (one Einsum, running its own single-Einsum mapping of the *sub-problem* that the loops
above it leave) or another loop node (one loop over a rank, with a tile). Leaves appear in the
workload's order. Every tensor has a storage point:

* an *intermediate* (written and read inside the segment) never touches the backing store. It is
  stored at the deepest node whose subtree holds its writer and all its readers; its tile is what
  the loops above that node leave of it. Its readers and writer see it *resident*.
* a tensor the segment reads from or writes to the backing store is *kept* at a node that lists it
  (then resident for that subtree), or else moved by each Einsum's own mapping (*streamed*).

A node stores a tensor for one iteration of its loop, or, when its loop does not index the tensor,
across all of them. So at a node with loop ``r`` (``n`` iterations), per invocation: a kept tensor
moves ``tile * n`` words if ``r`` indexes it, ``tile`` otherwise; every child runs ``n`` times.
Occupancy while a child runs is the tiles stored at its ancestors that are live then, plus the
child's own. Outputs follow model.md's first-read elision over the whole run: an output written
``W`` words in all is read back ``W - |T|``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from itertools import combinations

from ..errors import EinsumError
from .cost import Cost, Mapping, Nest
from .cost import evaluate as evaluate_mapping
from .einsum import Einsum, Tensor
from .workload import Workload


@dataclass(frozen=True)
class Leaf:
    """One Einsum run by its own single-Einsum mapping of the sub-problem the loops above leave."""

    einsum: str
    mapping: Mapping | Nest


@dataclass(frozen=True)
class Node:
    """A loop over ``rank`` in tiles of ``tile`` (``rank=None``: a segment's root, no loop), the
    tensors it keeps (stored here, read from or written to the backing store), and its children,
    run in order in every iteration. ``at`` (hierarchies only, :mod:`fusion_levels`): tensors
    stored here (kept or intermediate) that live in an inner level, ``(tensor, level name)``;
    the others live in the outer level (the one buffer of a two-level machine). ``via``: a
    *translated* loop, ``(einsum, rank)`` for each Einsum under it whose rank the loop steps
    through is not ``rank`` but one an intermediate identifies with it (``K[m,e]`` written and
    read as ``K[p,e]``: a loop over ``p`` steps through the producer's ``m``); costed on one
    buffer only, and searched by the brute force only (docs/fusion.md, 'Translated loops').
    ``dram`` (a segment's root only, one buffer only): intermediates of the segment that go
    through the backing store instead of staying on chip (:func:`segment_workload`)."""

    rank: str | None = None
    tile: int = 0
    keep: tuple[str, ...] = ()
    children: tuple[Node | Leaf, ...] = ()
    at: tuple[tuple[str, str], ...] = ()
    via: tuple[tuple[str, str], ...] = ()
    # An imperfect shared tile (``tile`` does not divide the rank's size there, ``*/imperfect``
    # mapspaces only): the loop runs ``size // tile`` full iterations of ``children`` and then
    # one partial iteration, the remainder ``size % tile``, of ``rest`` (the loop peeled: its
    # own children over the same Einsums, under the same kept set). Empty for perfect tiles.
    rest: tuple[Node | Leaf, ...] = ()
    # Intermediates of a segment sent through the backing store (a segment root only;
    # docs/fusion.md, "An intermediate through DRAM inside a segment").
    dram: tuple[str, ...] = ()

    def einsums(self) -> tuple[str, ...]:
        return tuple(n for c in self.children for n in (c.einsums() if isinstance(c, Node)
                                                        else (c.einsum,)))

    def binds(self, einsum: str) -> str | None:
        """The rank of ``einsum`` this loop steps through: ``rank``, or the one ``via`` names
        (rank translation through intermediates, docs/fusion.md: a loop over ``QK``'s key rank
        ``p`` that also runs ``K[m,e]``'s producer steps through the producer's ``m``)."""
        return dict(self.via).get(einsum, self.rank)


@dataclass(frozen=True)
class Schedule:
    """A fused mapping of a whole workload: its segments (loop-tree roots) in order."""

    segments: tuple[Node, ...]

    @property
    def fused(self) -> bool:
        return any(len(s.einsums()) > 1 for s in self.segments)

    def describe(self, workload: Workload) -> str:
        """One line, e.g. ``{keep I; for h/1 {V: ...; K: ...; for m/64 {Q: ...}}} ;; {Z: ...}``."""
        return " ;; ".join(("dram " + ",".join(s.dram) + " " if s.dram else "")
                           + _describe(segment_workload(workload, s), s,
                                       root_sizes(workload, s.einsums()))
                           for s in self.segments)

    def tree(self, workload: Workload) -> str:
        """The loop tree, one node or Einsum per line, with every tensor's storage point."""
        lines: list[str] = []
        for k, s in enumerate(self.segments):
            w = segment_workload(workload, s)
            lines.append(f"segment {k}: {'+'.join(s.einsums())}"
                         + (f" ({', '.join(s.dram)} through the backing store)" if s.dram else ""))
            _tree(w, Context(w, s.einsums()), s, root_sizes(w, s.einsums()), frozenset(), 1, lines)
        return "\n".join(lines)


def Segment(einsums: tuple[str, ...], shared: tuple[tuple[str, int], ...] = (),
            kept: tuple[tuple[str, int], ...] = (), inner: tuple = ()) -> Node:
    """A chain segment: shared loops ``(rank, tile)`` outermost first, all Einsums under the
    innermost one, ``kept`` tensors ``(name, q)`` stored below the first ``q`` shared loops."""
    leaves: tuple[Node | Leaf, ...] = tuple(Leaf(n, m) for n, m in zip(einsums, inner))
    if len(leaves) != len(einsums):
        raise EinsumError(f"segment {einsums} needs one inner mapping per Einsum")
    where: dict[int, list[str]] = {}
    for T, q in kept:
        where.setdefault(q, []).append(T)
    for q in range(len(shared), 0, -1):
        r, t = shared[q - 1]
        leaves = (Node(r, t, tuple(where.get(q, ())), leaves),)
    return Node(None, 0, tuple(where.get(0, ())), leaves)


@dataclass(frozen=True)
class FusedCost:
    """Occupancy (the most ever live) and backing-store traffic of a schedule, in words."""

    occupancy: int
    accesses: int
    reads: tuple[tuple[str, int], ...]
    writes: tuple[tuple[str, int], ...]
    segments: tuple[tuple[int, int], ...]  # (occupancy, accesses) of each segment


# ------------------------------------------------------------------------------- segment roles

@dataclass(frozen=True)
class Context:
    """What each tensor is within one segment (its Einsums, by position in the workload)."""

    workload: Workload
    names: tuple[str, ...]

    @cached_property
    def index(self) -> dict[str, int]:
        return {n: self.workload.names.index(n) for n in self.names}

    @cached_property
    def users(self) -> dict[str, tuple[int, ...]]:
        """Workload positions of the segment's Einsums that read or write each tensor."""
        out: dict[str, list[int]] = {}
        for n in self.names:
            for T in self.workload[n].tensors:
                out.setdefault(T.name, []).append(self.index[n])
        return {k: tuple(v) for k, v in out.items()}

    @cached_property
    def produced(self) -> frozenset[str]:
        return frozenset(self.workload[n].output.name for n in self.names)

    @cached_property
    def intermediates(self) -> frozenset[str]:
        """Written and read inside the segment: on chip, never moved."""
        return frozenset(X for X in self.produced if len(self.users[X]) > 1)

    @cached_property
    def exported(self) -> frozenset[str]:
        """Intermediates that an Einsum after the segment also reads, or that the workload
        marks ``stored`` (read from the backing store by something it does not model as an
        Einsum): written back once."""
        last = max(self.index.values())
        return frozenset(X for X in self.intermediates
                         if any(i > last for i in self.workload.consumers.get(X, ()))
                         or X in self.workload.stored)

    @cached_property
    def moved(self) -> frozenset[str]:
        """Tensors read from or written to the backing store."""
        return frozenset(T for T in self.users if T not in self.intermediates)

    @cached_property
    def written(self) -> frozenset[str]:
        """Tensors the segment writes to the backing store (outputs and exported ones)."""
        return frozenset(T for T in self.produced if T not in self.intermediates) | self.exported

    def tensor(self, name: str, span: tuple[int, ...] | None = None) -> Tensor:
        """The tensor as the segment's Einsums (or those at positions ``span``: a kept tensor's
        tile is what the Einsums under its node read) index it."""
        return indexing(self.workload, name, self.users[name] if span is None else span)

    def axes_agree(self, name: str, where: tuple[int, ...]) -> bool:
        return len({self.workload.einsums[i].tensor(name).axes for i in where}) == 1


def indexer(workload: Workload, name: str, span: tuple[int, ...]) -> int:
    """The position of the Einsum through which ``name`` is seen under ``span``: its writer if
    among them, else the first of them that reads it."""
    i = workload.producer.get(name)
    if i not in span:
        i = next(k for k in span if any(T.name == name for T in workload.einsums[k].inputs))
    return i


def indexing(workload: Workload, name: str, span: tuple[int, ...]) -> Tensor:
    """``name`` as the Einsums at positions ``span`` index it (:func:`indexer`)."""
    return workload.einsums[indexer(workload, name, span)].tensor(name)


Sizes = dict[str, dict[str, int]]
"""Each Einsum's rank sizes below some node (by Einsum name). Without translated loops every
Einsum sees one dict; a translated loop cuts a differently named rank in some of them."""


def root_sizes(workload: Workload, names: tuple[str, ...]) -> Sizes:
    return {n: workload.size for n in names}


def cut(node: Node, span: tuple[str, ...], sizes: Sizes) -> tuple[int, Sizes]:
    """(full iterations, the sizes below them) of one invocation of ``node`` over the Einsums
    ``span`` (an imperfect tile's partial last iteration: :func:`phases`)."""
    if node.rank is None:
        return 1, sizes
    return sizes[span[0]][node.binds(span[0])] // node.tile, _bound(node, span, sizes, node.tile)


def tile_of(ctx: Context, T: str, span: tuple[int, ...], sizes: Sizes) -> int:
    """The words of ``T``'s tile at a node over Einsums ``span`` (seen through :func:`indexer`)."""
    i = indexer(ctx.workload, T, span)
    return ctx.workload.einsums[i].tensor(T).footprint(sizes[ctx.workload.names[i]])


def sub_problem(e: Einsum, tiles: dict[str, int]) -> Einsum:
    """The Einsum one iteration of the loops above it runs: each of its ranks cut to its tile."""
    cut = {r: tiles[r] for r in e.size if tiles[r] != e.size[r]}
    return e.with_sizes(**(e.size | cut)) if cut else e


DRAM = "__dram"  # the copy of a spilled intermediate its readers read back (segment_workload)


def spilled(workload: Workload, names: tuple[str, ...], S: frozenset[str] | tuple[str, ...]
            ) -> Workload:
    """``workload`` with each reader among ``names`` of an intermediate in ``S`` reading
    ``X__dram`` (same axes) instead of ``X``: then ``X`` is an output of its writer, written to
    the backing store (``W`` words, ``W - |X|`` read back, model.md's elision), and ``X__dram``
    an input its readers read, streamed or kept like any other. Every cost rule then applies
    unchanged; only the loop rule must stay the original workload's (:func:`loops_causal`)."""
    if not S:
        return workload
    seg = set(names)

    def rename(e: Einsum) -> Einsum:
        if e.name not in seg:
            return e
        ins = tuple(Tensor(T.name + DRAM, T.axes) if T.name in S else T for T in e.inputs)
        return Einsum(e.output, ins, e.sizes, e.name)

    return Workload(tuple(rename(e) for e in workload.einsums), workload.name, workload.word_bits,
                    workload.stored)


def renamed_ranks(workload: Workload, sigma: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]
                  ) -> Workload:
    """``workload`` with the ranks of some Einsums renamed: ``sigma`` holds ``(einsum, ((rank,
    new name), ...))``, injective within each Einsum (tensor names, sizes and every other
    Einsum as they are). A translated tree whose loops each step through one name per Einsum
    is an untranslated tree of such a workload (docs/fusion.md, 'Translated loops')."""
    ren = dict(sigma)

    def axis(a, m):
        return type(a)(tuple(type(t)(m.get(t.rank, t.rank), t.coef) for t in a.terms))

    def rename(e: Einsum) -> Einsum:
        m = dict(ren.get(e.name, ()))
        if not m:
            return e
        T = [Tensor(X.name, tuple(axis(a, m) for a in X.axes)) for X in (e.output, *e.inputs)]
        return Einsum(T[0], tuple(T[1:]), tuple((m.get(r, r), n) for r, n in e.sizes), e.name)

    return Workload(tuple(rename(e) for e in workload.einsums), workload.name, workload.word_bits,
                    workload.stored)


def segment_workload(workload: Workload, root: Node) -> Workload:
    """The workload a segment is costed on: its ``dram`` intermediates through the backing store
    (docs/fusion.md, "An intermediate through DRAM inside a segment")."""
    return spilled(workload, root.einsums(), root.dram) if root.dram else workload


def loops_causal(workload: Workload, ctx: Context, node: Node | Leaf,
                 sizes: dict[str, int] | Sizes) -> str:
    """The first loop of a tree that breaks ``workload``'s loop rule (``ctx``: the segment's
    context there), as a message; "" when none does. A segment whose ``dram`` intermediates are
    renamed must still obey the original rule: a loop over a spilled intermediate's writer and a
    reader that is not aligned on it would read, in its first iteration, a tile not yet written.
    Every phase of an imperfect shared tile is checked (``rest`` too). ``sizes``: one dict (the
    workload's) or each Einsum's."""
    if isinstance(node, Leaf):
        return ""
    if not isinstance(next(iter(sizes.values())), dict):
        sizes = {n: sizes for n in node.einsums()}
    if node.rank is not None:
        span = _span(ctx, node)
        if not loop_allowed(workload, ctx, span, node.rank, sizes, node.via):
            return (f"the loop over {node.rank!r} cannot enclose "
                    f"{', '.join(workload.names[i] for i in span)}: an intermediate written and "
                    "read under it (through the backing store or not) must be aligned on it")
    return next((m for below, kids, _ in phases(node, sizes) for c in kids
                 if (m := loops_causal(workload, ctx, c, below))), "")


def aligned(workload: Workload, ctx: Context, X: str, r: str,
            via: tuple[tuple[str, str], ...] = (),
            under: tuple[int, ...] | set[int] | None = None) -> bool:
    """A loop over ``r`` may enclose the writer of intermediate ``X`` and readers of it (those at
    positions ``under``; all of them when None) only if one iteration writes exactly the tile
    those readers read then: the rank the loop steps through in the writer (``r``, or the one
    ``via`` names) indexes a plain axis of ``X``, and the rank it steps through in each of those
    readers indexes that same axis, plainly. Untranslated, both are ``r``."""
    w, bind = workload, dict(via)
    i = w.producer[X]
    out, rw = w.einsums[i].output, bind.get(w.names[i], r)
    if rw not in out.ranks:
        return False
    k = next(i for i, a in enumerate(out.axes) if rw in a.ranks)
    for i in ctx.users[X]:
        if under is not None and i not in under:
            continue
        rr, ax = bind.get(w.names[i], r), w.einsums[i].tensor(X).axes[k]
        if not (ax == out.axes[k] if rr == rw else
                out.axes[k].is_plain and ax.is_plain and ax.ranks == (rr,)):
            return False
    return True


def loop_allowed(workload: Workload, ctx: Context, span: tuple[int, ...], r: str,
                 sizes: dict[str, int] | Sizes, via: tuple[tuple[str, str], ...] = ()) -> bool:
    """A loop over ``r`` may enclose the Einsums at positions ``span`` when each of them has the
    rank the loop steps through (``r``, or the one ``via`` names for it: no recomputation), all of
    one size, on plain axes only, and every intermediate written under the loop and read under it
    too is aligned on it between its writer and the readers under it. A reader outside the loop
    may index it otherwise (the writer has finished by then), but one inside must not: in the
    first iteration it would read a tile not yet written (a loop over ``m`` enclosing
    ``K[m,e]``'s writer and ``S[m,p] += Q[m,e]*K[p,e]`` is refused even when a third reader
    outside it stores ``K`` whole above the loop). ``sizes``: one dict, or each Einsum's
    (:data:`Sizes`)."""
    bind = dict(via)
    es = [(workload.names[i], workload.einsums[i]) for i in span]
    if not all(bind.get(n, r) in e.size for n, e in es):
        return False
    per = isinstance(next(iter(sizes.values())), dict)
    extent = {(sizes[n] if per else sizes)[bind.get(n, r)] for n, _ in es}
    if len(extent) > 1 or min(extent) < 2:
        return False
    if not all(T.axis_of(bind.get(n, r)).is_plain for n, e in es for T in e.tensors
               if bind.get(n, r) in T.ranks):
        return False
    inside = set(span)
    return all(aligned(workload, ctx, X, r, via, inside) for X in ctx.intermediates
               if workload.producer[X] in inside and len(inside.intersection(ctx.users[X])) > 1)


# -------------------------------------------------------------------------------------- checking

def check_schedule(workload: Workload, schedule: Schedule, levels: tuple[str, ...] = (),
                   imperfect: bool = False) -> None:
    """Refuse a malformed schedule; ``levels``: the inner levels a stored tensor may live in
    (``Node.at``; none on one buffer); ``imperfect``: whether a loop's tile may leave a partial
    last iteration (``*/imperfect`` mapspaces, one buffer)."""
    flat = [n for s in schedule.segments for n in s.einsums()]
    if tuple(flat) != workload.names:
        raise EinsumError(f"a schedule must cover the workload's Einsums once, in order "
                          f"({', '.join(workload.names)}); got {', '.join(flat)}")
    for s in schedule.segments:
        if not isinstance(s, Node) or s.rank is not None:
            raise EinsumError("every segment of a schedule is a root Node (rank=None)")
        ctx = Context(workload, s.einsums())
        if s.dram:
            _check_dram(workload, ctx, s, levels)
            w = segment_workload(workload, s)
            _check(w, Context(w, s.einsums()), s, root_sizes(w, s.einsums()), frozenset(), levels,
                   imperfect)
        else:
            _check(workload, ctx, s, root_sizes(workload, s.einsums()), frozenset(), levels,
                   imperfect)


def translated(node: Node | Leaf) -> bool:
    """Whether a loop tree has a translated loop (``Node.via``)."""
    return isinstance(node, Node) and (bool(node.via) or any(map(translated, node.children))
                                       or any(map(translated, node.rest)))


def _check_dram(workload: Workload, ctx: Context, root: Node, levels: tuple[str, ...]) -> None:
    """A root's ``dram`` names intermediates of its segment, once each, on one buffer, and its
    loops obey the original workload's loop rule (every phase of an imperfect tile too). Not with
    translated loops: intermediates through the backing store under a loop that steps through
    differently named ranks are not modelled."""
    if levels:
        raise EinsumError("intermediates through the backing store inside a segment (Node.dram) "
                          "are modelled on one buffer only")
    if translated(root):
        raise EinsumError("intermediates through the backing store inside a segment (Node.dram) "
                          "are not modelled with translated loops (Node.via)")
    bad = [X for X in root.dram if X not in ctx.intermediates]
    if bad or len(set(root.dram)) < len(root.dram):
        raise EinsumError(f"a segment root's dram lists intermediates of its segment, once each "
                          f"({', '.join(sorted(ctx.intermediates)) or 'none'}); got "
                          f"{', '.join(root.dram)}")
    msg = loops_causal(workload, ctx, root, root_sizes(workload, root.einsums()))
    if msg:
        raise EinsumError(msg)


def _span(ctx: Context, node: Node | Leaf) -> tuple[int, ...]:
    names = node.einsums() if isinstance(node, Node) else (node.einsum,)
    return tuple(ctx.index[n] for n in names)


def _check_tile(node: Node, n: int, where: str, imperfect: bool) -> None:
    """A loop's tile divides ``n``, the size there of the rank it steps through (or, ``imperfect``,
    is below it, and the partial last iteration has its own children over the same Einsums); only
    then ``rest``. A translated loop (``via``) with an imperfect tile is not modelled: refused."""
    t = node.tile
    if not isinstance(t, int) or t < 1 or t >= n or (n % t and not imperfect):
        raise EinsumError(f"{where}: tile {t!r} must be a proper divisor of {n}" + (
            f" (imperfect factors: from 1 to {n - 1})" if not imperfect else f", or from 1 to {n - 1}"))
    if n % t and node.via:
        raise EinsumError(f"{where}: a translated loop (via) with an imperfect tile ({t} of {n}) "
                          "is not modelled")
    if n % t and Node(children=node.rest).einsums() != node.einsums():
        raise EinsumError(f"{where}: tile {t} leaves a partial last iteration of {n % t}; its "
                          f"children (rest) must run the same Einsums, "
                          f"{', '.join(node.einsums())}")
    if node.rest and not n % t:
        raise EinsumError(f"{where}: tile {t} divides {n}, so it has no partial iteration to run "
                          "rest")


def keep_agrees(workload: Workload, T: str, users: tuple[int, ...], path: tuple[Node, ...]) -> bool:
    """Whether the Einsums at ``users`` read one tile of ``T`` at the last node of ``path`` (root
    first), so that it can be kept there: they index it through the same axes, and every loop on
    the path steps through the same axes of it in each of them. Untranslated loops step through
    one rank in all, so only the first condition can fail; a translated loop may step through
    ``X[m,d]`` in ``K``'s producer and not in ``Q``'s."""
    if len({workload.einsums[i].tensor(T).axes for i in users}) > 1:
        return False
    for node in path:
        if node.via and len({tuple(k for k, a in enumerate(workload.einsums[i].tensor(T).axes)
                                   if node.binds(workload.names[i]) in a.ranks)
                             for i in users}) > 1:
            return False
    return True


def _check(workload: Workload, ctx: Context, node: Node, sizes: Sizes,
           resident: frozenset[str], levels: tuple[str, ...] = (), imperfect: bool = False,
           path: tuple[Node, ...] = ()) -> None:
    path = (*path, node)
    span = _span(ctx, node)
    where = f"the loop over {node.rank!r}" if node.rank else "a segment root"
    if not node.children:
        raise EinsumError(f"{where} has no children")
    if node.via and (node.rank is None or not {e for e, _ in node.via} <= set(node.einsums())
                     or len(dict(node.via)) < len(node.via)):
        raise EinsumError(f"{where}: via names each Einsum under a loop at most once, {node.via}")
    if node.rank is not None:
        r = node.rank
        if r not in workload.size:
            raise EinsumError(f"{where}: no rank {r!r} in the workload")
        e = workload.names[span[0]]
        size = sizes[e].get(node.binds(e))
        if size is not None:
            _check_tile(node, size, where, imperfect)
        if not loop_allowed(workload, ctx, span, r, sizes, node.via):
            raise EinsumError(f"{where} cannot enclose {', '.join(workload.names[i] for i in span)}: "
                              "every Einsum under it needs the rank (or the one via names) on plain "
                              "axes, of one size, and every intermediate written and read under it "
                              "must be aligned on it")
    elif node.rest:
        raise EinsumError("a segment root has no loop, so no partial iteration (rest)")
    for T in node.keep:
        if T not in ctx.moved:
            raise EinsumError(f"only tensors the segment moves to or from the backing store can be "
                              f"kept, not {T!r}")
        if T in resident:
            raise EinsumError(f"{T} is kept twice on one path of the loop tree")
        inside = tuple(i for i in ctx.users[T] if i in span)
        if not inside:
            raise EinsumError(f"{where} keeps {T}, which no Einsum under it uses")
        if not keep_agrees(workload, T, inside, path):
            raise EinsumError(f"{T} is read through different axes or tiles under {where}; it "
                              "cannot be kept")
    _check_at(ctx, node, resident, levels, where)
    resident = resident | frozenset(node.keep)
    for below, kids, _ in phases(node, sizes):
        for c in kids:
            if isinstance(c, Node):
                if c.rank is None:
                    raise EinsumError("only a segment's root has no loop")
                if c.dram:
                    raise EinsumError("only a segment's root lists intermediates through the "
                                      "backing store (dram)")
                _check(workload, ctx, c, below, resident, levels, imperfect, path)
            elif not isinstance(c, Leaf) or c.einsum not in ctx.index:
                raise EinsumError(f"a loop tree holds Nodes and Leaves of its segment's Einsums, "
                                  f"got {c!r}")


def _check_at(ctx: Context, node: Node, resident: frozenset[str], levels: tuple[str, ...],
              where: str) -> None:
    """``node.at`` names tensors stored at this node, each once, in one of ``levels``."""
    if not node.at:
        return
    if not levels:
        raise EinsumError(f"{where} places {', '.join(T for T, _ in node.at)} in an inner level, "
                          "but one buffer has none: inner levels are a hierarchy's "
                          "(fusion_levels.evaluate)")
    here = {*node.keep, *stored_here(ctx, node, resident)}
    names = [T for T, _ in node.at]
    for T, lv in node.at:
        if T not in here:
            raise EinsumError(f"{where} places {T!r} in {lv!r}, but {T!r} is not stored there "
                              f"(stored there: {', '.join(sorted(here)) or 'nothing'})")
        if lv not in levels:
            raise EinsumError(f"{where} places {T} in {lv!r}, which is no inner level "
                              f"({', '.join(levels)})")
    if len(set(names)) < len(names):
        raise EinsumError(f"{where} places a tensor twice: {names}")


# ------------------------------------------------------------------------------------ evaluation

def stored_here(ctx: Context, node: Node, resident: frozenset[str]) -> list[str]:
    """Intermediates whose writer and readers all lie under ``node`` but not under one child."""
    span = set(_span(ctx, node))
    kids = [set(_span(ctx, c)) for c in node.children]
    return sorted(X for X in ctx.intermediates if X not in resident and set(ctx.users[X]) <= span
                  and not any(set(ctx.users[X]) <= k for k in kids))


def live_during(ctx: Context, rank: str | None, T: str, node: tuple[int, ...], child: tuple[int, ...],
                via: tuple[tuple[str, str], ...] = ()) -> bool:
    """Whether a tensor stored at a node (looping over ``rank``, enclosing Einsums ``node``) is live
    while its child enclosing Einsums ``child`` runs: from the child that first uses it to the one
    that last uses it; throughout when the loop does not index it (the tile then stays across
    iterations)."""
    if not indexes(ctx, rank, T, node, via):
        return True
    used = [i for i in ctx.users[T] if i in node]
    return min(child) <= max(used) and max(child) >= min(used)


def indexes(ctx: Context, rank: str | None, T: str, node: tuple[int, ...],
            via: tuple[tuple[str, str], ...] = ()) -> bool:
    """Whether a node's loop steps through ``T`` (a root's single pass does): the rank it steps
    through in the Einsum that ``T`` is seen through (:func:`indexer`) indexes ``T``."""
    if rank is None:
        return True
    i = indexer(ctx.workload, T, node)
    return dict(via).get(ctx.workload.names[i], rank) in ctx.workload.einsums[i].tensor(T).ranks


def inner_cost(sub: Einsum, mapping: Mapping | Nest, imperfect: bool) -> tuple[Cost, dict[str, int]]:
    """The sub-problem's cost under its own mapping and each tensor's buffered tile."""
    if isinstance(mapping, Nest):
        cost = evaluate_mapping(sub, mapping, imperfect=imperfect)
        where = dict(mapping.storage)
        return cost, {T.name: T.footprint(mapping.tile(sub, where[T.name])) for T in sub.tensors}
    cost = evaluate_mapping(sub, mapping)
    return cost, {T.name: T.footprint(mapping.tile) for T in sub.tensors}


def phases(node: Node, sizes: Sizes) -> list[tuple[Sizes, tuple, int]]:
    """(the sizes below, the children, how many iterations) of each phase of a node: a root's
    one pass; a loop's full iterations, and after them, where its tile does not divide the rank
    (an imperfect shared tile), the one partial iteration of the remainder, running ``rest``.
    Each Einsum under the loop has the rank the loop steps through in it (``node.binds``) cut to
    the tile, then to the remainder; :func:`loop_allowed` makes that rank one size in all."""
    if node.rank is None:
        return [(sizes, node.children, 1)]
    span = node.einsums()
    full, part = divmod(extent(node, sizes), node.tile)
    out = [(_bound(node, span, sizes, node.tile), node.children, full)]
    if part:
        out.append((_bound(node, span, sizes, part), node.rest, 1))
    return out


def extent(node: Node, sizes: Sizes) -> int:
    """The size, in ``sizes``, of the rank a loop steps through (as its first Einsum binds it;
    :func:`loop_allowed` makes it one size in all)."""
    e = node.einsums()[0]
    return sizes[e][node.binds(e)]


def _bound(node: Node, span: tuple[str, ...], sizes: Sizes, t: int) -> Sizes:
    """``sizes`` with the rank ``node`` steps through in each Einsum of ``span`` set to ``t``."""
    below = dict(sizes)
    for e in span:
        below[e] = sizes[e] | {node.binds(e): t}
    return below


def _evaluate_node(workload: Workload, ctx: Context, node: Node, sizes: Sizes,
                   resident: frozenset[str], imperfect: bool) -> tuple[int, dict[str, int]]:
    """(peak occupancy, words moved per tensor) of one invocation of ``node``: the most over its
    phases (:func:`phases`), and their sum, except that a tile its loop does not step through
    stays across every iteration, the partial one too, and moves once."""
    if node.at:
        raise EinsumError("one buffer has no inner levels to place tensors in (Node.at): cost "
                          "the schedule on a hierarchy (fusion_levels.evaluate)")
    peak = 0
    moved: dict[str, int] = {}
    for k, (below, kids, n) in enumerate(phases(node, sizes)):
        phase = Node(node.rank, node.tile, node.keep, kids, (), node.via)
        occ = _evaluate_phase(workload, ctx, phase, below, n, resident, imperfect, k == 0, moved)
        peak = max(peak, occ)
    return peak, moved


def _evaluate_phase(workload: Workload, ctx: Context, node: Node, sizes: Sizes, n: int,
                    resident: frozenset[str], imperfect: bool, first: bool,
                    moved: dict[str, int]) -> int:
    """The peak occupancy of ``n`` iterations of ``node`` under ``sizes``, adding the words they
    move to ``moved`` (a stored tile the loop does not step through only in the ``first``
    phase: it stays)."""
    here = [*node.keep, *stored_here(ctx, node, resident)]
    spans = [_span(ctx, c) for c in node.children]
    shift = [0] * len(spans)
    node_span = tuple(sorted(i for sp in spans for i in sp))
    for T in here:
        tile = tile_of(ctx, T, node_span, sizes)
        for k, sp in enumerate(spans):
            shift[k] += tile * live_during(ctx, node.rank, T, node_span, sp, node.via)
        if T in ctx.moved or T in ctx.exported:
            if indexes(ctx, node.rank, T, node_span, node.via):
                moved[T] = moved.get(T, 0) + tile * n
            elif first:
                moved[T] = moved.get(T, 0) + tile
    inside = resident | frozenset(here)
    peak = 0
    for c, s in zip(node.children, shift):
        if isinstance(c, Node):
            occ, m = _evaluate_node(workload, ctx, c, sizes, inside, imperfect)
        else:
            sub = sub_problem(workload[c.einsum], sizes[c.einsum])
            cost, tiles = inner_cost(sub, c.mapping, imperfect)
            res = {T.name for T in sub.tensors if T.name in inside or T.name in ctx.intermediates}
            occ = sum(v for x, v in tiles.items() if x not in res)
            # an input moves what it reads, an output what it writes (elision comes at the end)
            m = {x: v for x, v in (*cost.reads, *cost.writes) if x not in res}
        peak = max(peak, s + occ)
        for x, v in m.items():
            moved[x] = moved.get(x, 0) + n * v
    return peak


def evaluate_segment(workload: Workload, root: Node, imperfect: bool = False
                     ) -> tuple[int, dict[str, int], dict[str, int]]:
    """(occupancy, reads, writes) of one segment (its ``dram`` intermediates through the backing
    store: written by their writer, read back by their readers as ``X__dram``)."""
    workload = segment_workload(workload, root)
    ctx = Context(workload, root.einsums())
    occ, moved = _evaluate_node(workload, ctx, root, root_sizes(workload, root.einsums()),
                                frozenset(), imperfect)
    reads = {T: v for T, v in moved.items() if T not in ctx.written}
    writes = {T: v for T, v in moved.items() if T in ctx.written}
    for T, v in writes.items():
        back = v - workload.tensor_size(T)  # model.md: the first read of each element is elided
        if back:
            reads[T] = back
    return occ, reads, writes


def evaluate(workload: Workload, schedule: Schedule, check: bool = True,
             imperfect: bool = False) -> FusedCost:
    """Occupancy and accesses of a fused mapping: segments run one after another, each with the
    whole buffer, so occupancy is the largest of theirs and traffic their sum."""
    if check:
        check_schedule(workload, schedule, imperfect=imperfect)
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


# ----------------------------------------------------------------------------------- description

def leaves(workload: Workload, schedule: Schedule) -> list[tuple[str, Einsum, Mapping | Nest]]:
    """Every Einsum of a schedule with the sub-problem it runs and its mapping, in order (a
    segment's ``dram`` readers read ``X__dram``, as their mappings name it)."""
    out: list = []

    def walk(w: Workload, node: Node | Leaf, sizes: Sizes) -> None:
        if isinstance(node, Leaf):
            out.append((node.einsum, sub_problem(w[node.einsum], sizes[node.einsum]),
                        node.mapping))
            return
        for below, kids, _ in phases(node, sizes):
            for c in kids:
                walk(w, c, below)

    for s in schedule.segments:
        walk(segment_workload(workload, s), s, root_sizes(workload, s.einsums()))
    return out


def _loop_text(node: Node, n: int) -> str:
    via = "".join(f" {e}.{r}" for e, r in node.via)
    return f"for {node.rank} in [0,{n})" + (f" (via{via})" if via else "")


def _describe(workload: Workload, node: Node | Leaf, sizes: Sizes) -> str:
    if isinstance(node, Leaf):
        sub = sub_problem(workload[node.einsum], sizes[node.einsum])
        return f"{node.einsum}: {node.mapping.describe(sub)}"
    head = []
    parts = phases(node, sizes)
    if node.rank is not None:
        head.append(_loop_text(node, -(-extent(node, sizes) // node.tile)))
    at = dict(node.at)
    if node.keep:
        head.append("keep " + ",".join(T + (f"@{at[T]}" if T in at else "") for T in node.keep))
    if any(T not in node.keep for T in at):
        head.append("at " + ",".join(f"{T}@{lv}" for T, lv in node.at if T not in node.keep))
    below, kids, _ = parts[0]
    body = "; ".join(_describe(workload, c, below) for c in kids)
    for below, kids, _ in parts[1:]:  # an imperfect tile's partial last iteration
        body += (f" | last {node.rank}:{extent(node, below)} | "
                 + "; ".join(_describe(workload, c, below) for c in kids))
    return "{" + " ".join(head) + (" | " if head else "") + body + "}"


def _tree(workload: Workload, ctx: Context, node: Node, sizes: Sizes,
          resident: frozenset[str], depth: int, lines: list[str]) -> None:
    pad = "  " * depth
    parts = phases(node, sizes)
    if node.rank is not None:
        n, t = extent(node, sizes), node.tile
        last = f", last {n % t}" if n % t else ""
        lines.append(f"{pad}{_loop_text(node, -(-n // t))}:  ({node.rank} tile {t}{last})")
        depth += 1
        pad = "  " * depth
    for k, (below, kids, _) in enumerate(parts):
        if k:
            lines.append(f"{pad[:-2]}last {node.rank} iteration ({node.rank} tile "
                         f"{extent(node, below)}):")
        phase = Node(node.rank, node.tile, node.keep, kids, node.at, node.via)
        here = [*node.keep, *stored_here(ctx, phase, resident)]
        for T in here:
            i = indexer(workload, T, _span(ctx, phase))
            tensor, seen = workload.einsums[i].tensor(T), below[workload.names[i]]
            what = "kept" if T in node.keep else "intermediate"
            if T in dict(node.at):
                what += f" in {dict(node.at)[T]}"
            shown = ",".join(f"{r}:{seen[r]}" for r in tensor.ranks)
            lines.append(f"{pad}[{T}{{{shown}}}] {what}, {tensor.footprint(seen)} words")
        inside = resident | frozenset(here)
        for c in kids:
            if isinstance(c, Node):
                _tree(workload, ctx, c, below, inside, depth, lines)
            else:
                sub = sub_problem(workload[c.einsum], below[c.einsum])
                lines.append(f"{pad}{c.einsum}: {c.mapping.describe(sub)}")


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



def whole_mapping(sub: Einsum) -> Mapping:
    return Mapping(sub.sizes, ())



def subsets(items: list) -> list[tuple]:
    """Every subset of ``items`` (as tuples in their order), smallest first."""
    return [c for k in range(len(items) + 1) for c in combinations(items, k)]
