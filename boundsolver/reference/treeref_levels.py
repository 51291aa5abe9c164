"""The brute-force reference for fused workloads on a hierarchy (docs/fusion.md, "On hierarchies").

It shares nothing with :mod:`fused_levels`' dynamic program or the joint bound's solvers but the
cost model: every cut into segments, every loop tree of each segment (:func:`treeref.segment_trees`:
every run under a loop, every allowed rank and tile, every set of kept tensors at every node),
every uniform nest of every leaf on its leaf arch (:func:`hierarchy.nests`: every tiling of every
level, tree level included, every order, every spatial split), and each whole schedule costed by
:func:`fusion_levels.evaluate`. Uniform placement within levels; small workloads only. With
``inner_storage``, every stored tensor of every tree also takes every level that may hold it
(``Node.at``: the outer level or any inner level keeping it), each leaf's inner levels then
holding what the tree's tiles live beside it leave free.
"""

from __future__ import annotations

import math
from dataclasses import replace
from itertools import product

from ..errors import ArchError
from ..model import fusion, fusion_levels
from ..model.arch import Arch
from ..model.cost import evaluate_levels
from ..model.fusion_levels import LevelMapping, invocations, leaf_arch, leaf_traffic
from ..model.workload import Workload
from .hierarchy import fits, lex_staircase, nests
from .treeref import schedules, segment_trees, work_counter


def _leaf_options(workload: Workload, arch: Arch, e, sizes: dict, resident: frozenset,
                  limit: int, placed: tuple = (), free: tuple | None = None) -> list[LevelMapping]:
    """Every nest of the leaf that fits its fixed levels and moves each resident word into the
    tree level once (they are already there), pruned to those lexicographically
    Pareto-optimal in what the leaf adds to a schedule (its outer-level tiles; its DRAM words,
    outputs counted twice, and its total traffic into each inner level): sound, a schedule's
    occupancy and key never improve when one leaf's grow."""
    sub = fusion.sub_problem(e, sizes)
    res = frozenset(T.name for T in sub.tensors if T.name in resident)
    n, r = invocations(workload, e, sizes)
    larch = leaf_arch(arch, sub, res, r > 1, placed, free)
    names = tuple(lv.name for lv in larch.on_chip)
    whole, tile = e.tensor_size(e.output), sub.tensor_size(sub.output)
    held = [lv.capacity for lv in larch.on_chip[:fusion_levels.tree_levels(larch)]]
    points = []
    for nest in nests(sub, larch, limit):
        levels = evaluate_levels(sub, nest, multicast=larch.multicast)
        if not fits(levels, larch) or list(levels.accesses[:len(held)]) != held:
            continue  # the mapspace: every resident word enters its tree level once
        m = LevelMapping(nest, None, names)
        lt = leaf_traffic(arch, sub, res, r > 1, m, placed)
        dram = sum(v * (2 if T == sub.output.name else 1) for T, v in lt.dram)
        inner = tuple(n * w + a * (n * tile - whole) for w, a in zip(lt.inner, lt.out_above))
        points.append((lt.occupancy[0], (n * dram, *inner), m))
    return [m for _, _, m in lex_staircase(points)]


def _placements(workload: Workload, arch: Arch, ctx: fusion.Context, node, resident: frozenset,
                 inner_storage: bool):
    """Every assignment of a level to each tensor the tree stores (``Node.at``): the outer level
    (always), or any inner level that keeps it for every Einsum under its node that uses it."""
    if isinstance(node, fusion.Leaf):
        yield node
        return
    here = [*node.keep, *fusion.stored_here(ctx, node, resident)]
    options = []
    for T in here:
        users = [n for n in node.einsums() if any(t.name == T for t in workload[n].tensors)]
        levels = [None] + ([lv.name for lv in arch.on_chip[1:]
                            if all(lv.keeps_tensor(workload[n], workload[n].tensor(T))
                                   for n in users)] if inner_storage else [])
        options.append(levels)
    inside = resident | frozenset(here)
    kids = [list(_placements(workload, arch, ctx, c, inside, inner_storage))
            for c in node.children]
    for levels in product(*options):
        at = tuple((T, lv) for T, lv in zip(here, levels) if lv is not None)
        for children in product(*kids):
            yield replace(node, children=tuple(children), at=at)


def _leaf_contexts(workload: Workload, arch: Arch, ctx: fusion.Context, node,
                   sizes: fusion.Sizes, resident: frozenset, where: dict, base: list,
                   out: dict) -> dict:
    """Per leaf: its tiles, the tensors resident for it, those placed in inner levels
    ``((tensor, level), ...)`` and each inner level's capacity the tree leaves it (None: all).
    ``sizes``: each Einsum's (a translated loop, ``Node.via``, cuts the rank it binds in each)."""
    if isinstance(node, fusion.Leaf):
        e = workload[node.einsum]
        placed = tuple((T.name, where[T.name]) for T in e.tensors if where.get(T.name))
        caps = [lv.capacity for lv in arch.on_chip[1:]]
        free = tuple(c - b for c, b in zip(caps, base)) if any(base) else None
        out[node.einsum] = (sizes[node.einsum],
                            frozenset(T.name for T in e.tensors if T.name in resident),
                            placed, free)
        return out
    _, n_sizes = fusion.cut(node, node.einsums(), sizes)
    here = [*node.keep, *fusion.stored_here(ctx, node, resident)]
    at = dict(node.at)
    names = [lv.name for lv in arch.on_chip]
    span = fusion._span(ctx, node)
    for c in node.children:
        lift = list(base)
        for T in here:
            if T in at and fusion.live_during(ctx, node.rank, T, span, fusion._span(ctx, c),
                                              node.via):
                lift[names.index(at[T]) - 1] += fusion.tile_of(ctx, T, span, n_sizes)
        _leaf_contexts(workload, arch, ctx, c, n_sizes, resident | frozenset(here),
                       where | {T: at.get(T) for T in here}, lift, out)
    return out


def _with_mappings(node, choices: dict):
    if isinstance(node, fusion.Leaf):
        return fusion.Leaf(node.einsum, choices[node.einsum])
    return replace(node, children=tuple(_with_mappings(c, choices) for c in node.children))


def enumerate_workload(workload: Workload, arch: Arch, fusion_on: bool = True,
                       max_depth: int = 2, limit: int = 2_000_000,
                       inner_storage: bool = False, translate: bool = False,
                       trees=None) -> list:
    """Every breakpoint of the lexicographic staircase (outer-level occupancy; DRAM, then each
    inner level) by brute force over schedules: a list of (occupancy, key, Schedule).
    ``inner_storage``: the tree's stored tensors may also live in inner levels (``Node.at``).
    ``translate``: loops may also step through differently named ranks that intermediates
    identify (``Node.via``: :func:`treeref.segment_trees`); ``trees``: a predicate on a
    segment's loop trees (leaves without mappings, before placements) keeping only some (a
    mapspace narrower than ``translate``'s; None: all)."""
    fusion_levels.check_arch(workload, arch)
    names = workload.names
    count = work_counter(f"the schedules of {workload.name or workload} on {arch.name}", limit)

    cache: dict = {}

    def options(e, sizes, resident, placed, free):
        key = (e.name, tuple(sizes[d] for d in e.size), resident, placed, free)
        if key not in cache:
            try:
                cache[key] = _leaf_options(workload, arch, e, sizes, resident, limit, placed, free)
            except ArchError:  # the tree's tiles leave the leaf no room in a level it needs
                cache[key] = []
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
        shapes = (tree for tree in segment_trees(workload, seg, max_depth, translate=translate)
                  if trees is None or trees(tree))
        placed_trees = (placed for tree in shapes for placed in _placements(
            workload, arch, ctx, tree, frozenset(), inner_storage))
        for tree in placed_trees:
            where = _leaf_contexts(workload, arch, ctx, tree, fusion.root_sizes(workload, seg),
                                   frozenset(), {}, [0] * (len(arch.on_chip) - 1), {})
            if any(free and min(free) < 0 for *_, free in where.values()):
                continue  # the tree's tiles overfill an inner level
            opts = []
            for name in seg:
                sizes, res, placed, free = where[name]
                opts.append(options(workload[name], sizes,
                                    frozenset(res | ctx.intermediates), placed, free))
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
