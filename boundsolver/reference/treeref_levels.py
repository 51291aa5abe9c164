"""The brute-force reference for fused workloads on a hierarchy (docs/fusion.md, "On hierarchies").

It shares nothing with :mod:`fused_levels`' dynamic program or the joint bound's solvers but the
cost model: every cut into segments, every loop tree of each segment (:func:`treeref.segment_trees`:
every run under a loop, every allowed rank and tile, every set of kept tensors at every node),
every uniform nest of every leaf on its leaf arch (:func:`hierarchy.nests`: every tiling of every
level, tree level included, every order, every spatial split), and each whole schedule costed by
:func:`fusion_levels.evaluate`. Uniform placement within levels; small workloads only.
"""

from __future__ import annotations

import math
from itertools import product

from ..model import fusion, fusion_levels
from ..model.arch import Arch
from ..model.cost import evaluate_levels
from ..model.fusion_levels import LevelMapping, invocations, leaf_arch, leaf_traffic
from ..model.workload import Workload
from .hierarchy import fits, lex_staircase, nests
from .treeref import _leaf_sizes, _with_mappings, schedules, segment_trees, work_counter


def _leaf_options(workload: Workload, arch: Arch, e, sizes: dict, resident: frozenset,
                  limit: int) -> list[LevelMapping]:
    """Every nest of the leaf that fits its fixed levels and moves each resident word into the
    tree level once (they are already there), pruned to those lexicographically
    Pareto-optimal in what the leaf adds to a schedule (its outer-level tiles; its DRAM words,
    outputs counted twice, and its total traffic into each inner level): sound, a schedule's
    occupancy and key never improve when one leaf's grow."""
    sub = fusion.sub_problem(e, sizes)
    res = frozenset(T.name for T in sub.tensors if T.name in resident)
    n, r = invocations(workload, e, sizes)
    larch = leaf_arch(arch, sub, res, r > 1)
    names = tuple(lv.name for lv in larch.on_chip)
    whole, tile = e.tensor_size(e.output), sub.tensor_size(sub.output)
    held = sum(sub.tensor_size(T) for T in sub.tensors if T.name in res)
    points = []
    for nest in nests(sub, larch, limit):
        levels = evaluate_levels(sub, nest, multicast=larch.multicast)
        if not fits(levels, larch) or (res and levels.accesses[0] != held):
            continue  # the mapspace: every resident word enters the tree level once
        m = LevelMapping(nest, None, names)
        lt = leaf_traffic(arch, sub, res, r > 1, m)
        dram = sum(v * (2 if T == sub.output.name else 1) for T, v in lt.dram)
        inner = tuple(n * w + a * (n * tile - whole) for w, a in zip(lt.inner, lt.out_above))
        points.append((lt.occupancy[0], (n * dram, *inner), m))
    return [m for _, _, m in lex_staircase(points)]


def enumerate_workload(workload: Workload, arch: Arch, fusion_on: bool = True,
                       max_depth: int = 2, limit: int = 2_000_000) -> list:
    """Every breakpoint of the lexicographic staircase (outer-level occupancy; DRAM, then each
    inner level) by brute force over schedules: a list of (occupancy, key, Schedule)."""
    fusion_levels.check_arch(workload, arch)
    names = workload.names
    count = work_counter(f"the schedules of {workload.name or workload} on {arch.name}", limit)

    cache: dict = {}

    def options(e, sizes, resident):
        key = (e.name, tuple(sizes[d] for d in e.size), resident)
        if key not in cache:
            cache[key] = _leaf_options(workload, arch, e, sizes, resident, limit)
        return cache[key]

    def cost(schedule):
        c = fusion_levels.evaluate(workload, schedule, arch)
        return c.occupancy[0], (c.dram, *c.accesses[1:])

    def segment_cost(root):
        occ, reads, writes, inner, _ = fusion_levels.evaluate_segment(workload, root, arch)
        return occ, (sum(reads.values()) + sum(writes.values()), *inner)

    def segment_points(seg: tuple[str, ...]) -> list:
        points = []
        ctx = fusion.Context(workload, seg)
        for tree in segment_trees(workload, seg, max_depth):
            where = _leaf_sizes(workload, tree, workload.size, frozenset(), {})
            opts = []
            for name in seg:
                sizes, kept = where[name]
                opts.append(options(workload[name], sizes, frozenset(kept | ctx.intermediates)))
            count(math.prod(len(o) for o in opts))
            for combo in product(*opts):
                root = _with_mappings(tree, dict(zip(seg, combo)))
                occ, key = segment_cost(root)
                points.append((occ, key, root))
        return lex_staircase(points)

    out = []
    for schedule in schedules(names, fusion_on, segment_points, count):
        occ, key = cost(schedule)
        out.append((occ, key, schedule))
    return lex_staircase(out)
