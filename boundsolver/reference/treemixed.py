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
from dataclasses import replace
from itertools import product

from ..model import fusion
from ..model.fusion import subsets
from ..model.mapspace import mapspace_of
from ..model.workload import Workload
from . import treeref


def segment_points(workload: Workload, seg: tuple[str, ...], S: frozenset[str], ms, max_depth: int,
                   split: bool, prune: bool, count, inner) -> list:
    """Every (occupancy, accesses, root) of segment ``seg`` with the intermediates ``S`` through
    the backing store (Pareto-pruned with ``prune``), costed on the renamed workload."""
    w = fusion.spilled(workload, seg, S)
    ctx = fusion.Context(w, seg)
    orig = fusion.Context(workload, seg)
    imperfect = ms.factors == "imperfect"
    points = []
    for tree in treeref.segment_trees(w, seg, max_depth, split):
        if fusion.loops_causal(workload, orig, tree, workload.size):
            continue
        options = []  # per leaf, in tree order (treeref._leaf_sizes, treeref._with_mappings)
        for e, sizes, kept in treeref._leaf_sizes(w, tree, fusion.root_sizes(w, seg), frozenset(),
                                                  []):
            sub = fusion.sub_problem(w[e], sizes)
            options.append(treeref._leaf_options(ctx, sub, inner(sub, kept | ctx.intermediates),
                                                 kept, imperfect, prune))
        count(math.prod(len(o) for o in options))
        for combo in product(*options):
            root = replace(treeref._with_mappings(tree, iter(combo)), dram=tuple(sorted(S)))
            occ, reads, writes = fusion.evaluate_segment(workload, root, imperfect)
            points.append((occ, sum(reads.values()) + sum(writes.values()), root))
    return treeref._pareto(points) if prune else points


def enumerate_workload(workload: Workload, mapspace=None, max_depth: int = 2,
                       limit: int = 2_000_000, prune: bool = True, split_ranks: bool = False,
                       spill: bool = True) -> list:
    """Every breakpoint of the fused staircase when each segment may also send any set of its
    intermediates through the backing store (``spill=False``: none, :func:`treeref.enumerate_workload`'s
    mapspace). Returns (occupancy, accesses, Schedule), each re-costed by :func:`fusion.evaluate`
    (which checks every root's loops against the original loop rule)."""
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
        out = [(o, a, root) for S in subsets(mids)
               for o, a, root in segment_points(workload, seg, frozenset(S), ms, max_depth,
                                                split_ranks, prune, count, inner)]
        return treeref._pareto(out) if prune else out

    out = [(max(o for o, _, _ in combo), sum(a for _, a, _ in combo),
            fusion.Schedule(tuple(root for _, _, root in combo)))
           for combo in treeref.combinations(workload.names, True, points, count)]
    out = treeref._pareto(out)
    imperfect = ms.factors == "imperfect"
    for o, a, schedule in out:
        cost = fusion.evaluate(workload, schedule, imperfect=imperfect)
        assert (cost.occupancy, cost.accesses) == (o, a), (o, a, cost)
    return out
