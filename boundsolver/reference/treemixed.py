"""Brute force over loop trees in which any intermediate of a segment may go through the backing
store instead of staying on chip (issue 23; docs/fusion.md, "An intermediate through DRAM inside
a segment").

The choice, made per segment for a set ``S`` of its intermediates, is expressed without a new cost
model: in the segment's Einsums every *reader* of an ``X`` in ``S`` reads a fresh input
``X__dram`` (same axes), so ``X`` becomes an output its writer writes to the backing store (``W``
words written, ``W - |X|`` read back, model.md's elision) and ``X__dram`` an input its readers read
(streamed by their nests or kept at a node over them), both costed by :func:`fusion.evaluate_segment`
in Python integers. Renaming drops the on-chip alignment constraint, so the trees are filtered by
the *original* workload's loop rule (:func:`fusion.loop_allowed`): a loop that encloses ``X``'s
writer and a reader must still be aligned on it, or in its first iteration the reader would read
from the backing store a tile not yet written. A node keeping ``X`` over both its writer and a
reader is left out: that is ``X`` on chip at a node at or above its storage point, which the
standard tree (``S`` without ``X``) does in a tile no larger and without the writeback.

Everything else is :mod:`treeref`'s: the trees, the leaves' mappings, the pruning, the cuts.
Small workloads only.
"""

from __future__ import annotations

import math
from itertools import product

from ..model import fusion
from ..model.einsum import Einsum, Tensor
from ..model.fusion import subsets
from ..model.mapspace import mapspace_of
from ..model.workload import Workload
from . import treeref

SUFFIX = "__dram"


def spilled(workload: Workload, names: tuple[str, ...], S: frozenset[str]) -> Workload:
    """``workload`` with each reader among ``names`` of an intermediate in ``S`` reading
    ``X__dram`` instead: ``X`` is then written to the backing store and read back from it."""
    if not S:
        return workload
    seg = set(names)

    def rename(e: Einsum) -> Einsum:
        if e.name not in seg:
            return e
        ins = tuple(Tensor(T.name + SUFFIX, T.axes) if T.name in S else T for T in e.inputs)
        return Einsum(e.output, ins, e.sizes, e.name)

    return Workload(tuple(rename(e) for e in workload.einsums), workload.name, workload.word_bits,
                    workload.stored)


def causal(workload: Workload, ctx: fusion.Context, node, sizes: dict[str, int]) -> bool:
    """Whether every loop of the tree obeys the original workload's loop rule (``ctx`` its
    segment's context there): renaming a spilled intermediate must not free a loop from it."""
    if isinstance(node, fusion.Leaf):
        return True
    if node.rank is not None:
        span = tuple(ctx.index[n] for n in node.einsums())
        if not fusion.loop_allowed(workload, ctx, span, node.rank, sizes):
            return False
        sizes = sizes | {node.rank: node.tile}
    return all(causal(workload, ctx, c, sizes) for c in node.children)


def segment_points(workload: Workload, seg: tuple[str, ...], S: frozenset[str], ms, max_depth: int,
                   split: bool, prune: bool, count, inner) -> list:
    """Every (occupancy, accesses, root) of segment ``seg`` with the intermediates ``S`` through
    the backing store (Pareto-pruned with ``prune``), costed on the renamed workload."""
    w = spilled(workload, seg, S)
    ctx = fusion.Context(w, seg)
    orig = fusion.Context(workload, seg)
    imperfect = ms.factors == "imperfect"
    points = []
    for tree in treeref.segment_trees(w, seg, max_depth, split):
        if not causal(workload, orig, tree, workload.size):
            continue
        where = treeref._leaf_sizes(w, tree, w.size, frozenset(), {})
        options = []
        for e in seg:
            sizes, kept = where[e]
            sub = fusion.sub_problem(w[e], sizes)
            options.append(treeref._leaf_options(ctx, sub, inner(sub, kept | ctx.intermediates),
                                                 kept, imperfect, prune))
        count(math.prod(len(o) for o in options))
        for combo in product(*options):
            root = treeref._with_mappings(tree, dict(zip(seg, combo)))
            occ, reads, writes = fusion.evaluate_segment(w, root, imperfect)
            points.append((occ, sum(reads.values()) + sum(writes.values()), root))
    return treeref._pareto(points) if prune else points


def enumerate_workload(workload: Workload, mapspace=None, max_depth: int = 2,
                       limit: int = 2_000_000, prune: bool = True, split_ranks: bool = False,
                       spill: bool = True) -> list:
    """Every breakpoint of the fused staircase when each segment may also send any set of its
    intermediates through the backing store (``spill=False``: none, :func:`treeref.enumerate_workload`'s
    mapspace). Returns (occupancy, accesses, ((root, spilled set), ...) per segment)."""
    ms = mapspace_of(mapspace)
    count = treeref.work_counter(f"the mixed schedules of {workload.name or workload}", limit)
    cache: dict = {}

    def inner(sub, resident):
        resident = frozenset(T.name for T in sub.tensors if T.name in resident)
        key = (str(sub), sub.sizes, resident)
        if key not in cache:
            cache[key] = list(treeref._inner_mappings(sub, ms, resident))
        return cache[key]

    def points(seg: tuple[str, ...]) -> list:
        mids = sorted(fusion.Context(workload, seg).intermediates) if spill else []
        out = [(o, a, (root, frozenset(S))) for S in subsets(mids)
               for o, a, root in segment_points(workload, seg, frozenset(S), ms, max_depth,
                                                split_ranks, prune, count, inner)]
        return treeref._pareto(out) if prune else out

    segments: dict = {}
    out = []
    for runs in treeref.cuts_into_runs(workload.names, True):
        for r in runs:
            if r not in segments:
                segments[r] = points(r)
        parts = [segments[r] for r in runs]
        count(math.prod(len(p) for p in parts))
        for combo in product(*parts):
            out.append((max(o for o, _, _ in combo), sum(a for _, a, _ in combo),
                        tuple(s for _, _, s in combo)))
    return treeref._pareto(out)
