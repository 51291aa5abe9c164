"""The brute-force reference for fused workloads: every loop tree, costed whole (docs/fusion.md).

It shares nothing with the dynamic program of :mod:`fused` but the cost model: it generates every
cut into segments, every loop tree of each segment (any runs of consecutive Einsums under a loop,
any rank the model allows, every tile, loops nested up to ``max_depth`` deep, and *any* set of
kept tensors at every node, not only the ones the solver considers), every inner mapping of every
leaf, and costs each schedule with :func:`fusion.evaluate`. Small workloads only.
"""

from __future__ import annotations

import math
from itertools import permutations, product

from ..errors import EinsumError, EnumerationTooLarge
from ..model import fusion
from ..model.cost import Mapping
from ..model.fusion import subsets
from ..model.mapspace import Mapspace, divisors, mapspace_of, tile_sizes
from ..model.results import staircase
from ..model.workload import Workload


def _pareto(points: list) -> list:
    """The (occupancy, accesses, item) points no other point matches or beats in both."""
    return [points[i] for i in staircase([(o, a) for o, a, _ in points])]


def _inner_mappings(sub, mapspace: Mapspace, resident: frozenset):
    """The mappings of a leaf's sub-problem to try. Orojenesis: every tiling with every order.
    Richer mapspaces: every breakpoint of the nest enumerator (enumerate._nest_frontier, not the
    fast path the solver uses) on the sub-problem without its resident tensors, which cost nothing
    and take no room in the leaf, so no other nest can do better for the schedule."""
    if mapspace.is_orojenesis:
        for tiles in product(*(divisors(n) for _, n in sub.sizes)):
            tile = tuple(zip(sub.ranks, tiles))
            looping = [d for d, t in tile if sub.size[d] // t > 1]
            for order in permutations(looping):
                yield Mapping(tile, order)
        return
    from ..model.fusion import expand, reduced, whole_mapping
    from .enumerate import _nest_frontier

    red, names, _ = reduced(sub, resident)
    if red is None:
        yield whole_mapping(sub)
        return
    yield from (expand(m, sub, names) for m, _ in _nest_frontier(red, mapspace, 10**7))


def rank_classes(workload: Workload) -> list[frozenset[str]]:
    """The rank names that intermediates identify: ``K[m,e]`` written and read as ``K[p,e]``
    puts ``m`` and ``p`` in one class (plain axes only). A translated loop steps through one
    rank of a class in each Einsum under it."""
    parent = {r: r for r in workload.size}

    def root(r: str) -> str:
        while parent[r] != r:
            r = parent[r]
        return r
    for X, i in workload.producer.items():
        for j in workload.consumers.get(X, ()):
            for w, r in zip(workload.einsums[i].output.axes, workload.einsums[j].tensor(X).axes):
                if w.is_plain and r.is_plain:
                    parent[root(w.ranks[0])] = root(r.ranks[0])
    out: dict[str, set] = {}
    for r in workload.size:
        out.setdefault(root(r), set()).add(r)
    return [frozenset(c) for c in out.values()]


def loop_choices(workload: Workload, span: tuple[int, ...], translate: bool):
    """Every loop ``(rank, via)`` to try over the Einsums at ``span``: one rank by name in all
    (untranslated), and with ``translate`` every choice of one rank of a class in each
    (``rank`` the last Einsum's, ``via`` the Einsums whose rank differs)."""
    names = [workload.names[i] for i in span]
    if not translate:
        for r in sorted({r for i in span for r in workload.einsums[i].size}):
            yield r, ()
        return
    for c in rank_classes(workload):
        options = [sorted(r for r in workload.einsums[i].size if r in c) for i in span]
        for pick in product(*options):
            yield pick[-1], tuple((n, r) for n, r in zip(names, pick) if r != pick[-1])


def _trees(workload: Workload, ctx: fusion.Context, a: int, b: int, sizes: dict, resident: frozenset,
           depth: int, max_depth: int, rank: str | None, split: bool = True, imperfect: bool = False,
           translate: bool = False, path: tuple = ()):
    """Every sequence of children for Einsums ``a..b`` under the last node of ``path`` (``sizes``:
    each Einsum's, :data:`fusion.Sizes`; ``imperfect``: an untranslated loop's tile may be any of
    ``tile_sizes``, and a tile that leaves a partial last iteration runs every sequence of
    children in it; a translated loop's tile divides, :func:`fusion._check_tile`)."""
    if a > b:
        yield ()
        return
    for y in range(a, b + 1):
        firsts = []
        span = tuple(range(a, y + 1))
        if a == y:
            firsts.append(("leaf", a))
        elif depth < max_depth:
            for r, via in loop_choices(workload, span, translate):
                if not fusion.loop_allowed(workload, ctx, span, r, sizes, via):
                    continue
                node = fusion.Node(r, 1, (), (), (), via)
                bound = [(workload.names[i], node.binds(workload.names[i])) for i in span]
                if not split and any(sizes[e][q] < workload.size[q] for e, q in bound):
                    continue
                e, q = bound[0]
                for t in tile_sizes(sizes[e][q], imperfect and not via)[:-1]:
                    firsts.append(("loop", r, t, via))
        for first in firsts:
            for rest in _trees(workload, ctx, y + 1, b, sizes, resident, depth, max_depth, rank, split,
                               imperfect, translate, path):
                if first[0] == "leaf":
                    yield (fusion.Leaf(workload.names[a], None), *rest)
                    continue
                _, r, t, via = first
                here = (*path, fusion.Node(r, t, (), (), (), via))
                cands = [T for T in sorted(ctx.moved) if T not in resident
                         and any(i in span for i in ctx.users[T])
                         and fusion.keep_agrees(workload, T, tuple(i for i in ctx.users[T]
                                                                   if i in span), here)]
                names = tuple(workload.names[i] for i in span)
                _, below = fusion.cut(here[-1], names, sizes)
                part = sizes[names[0]][here[-1].binds(names[0])] % t
                last_sizes = (fusion.cut(fusion.Node(r, part, (), (), (), via), names, sizes)[1]
                              if part else None)
                for K in subsets(cands):
                    inside = resident | frozenset(K)

                    def kids(tiles):
                        return _trees(workload, ctx, a, y, tiles, inside, depth + 1, max_depth, r,
                                      split, imperfect, translate, here)
                    lasts = list(kids(last_sizes)) if part else [()]
                    for body in kids(below):
                        for last in lasts:
                            yield (fusion.Node(r, t, K, body, (), via, rest=last), *rest)


def segment_trees(workload: Workload, names: tuple[str, ...], max_depth: int = 3, split: bool = False,
                  imperfect: bool = False, translate: bool = False):
    """Every loop tree of one segment, leaves without their mappings (``split``: a rank may loop
    at several depths of one path; ``imperfect``: imperfect shared tiles, each partial last
    iteration with its own children; ``translate``: loops may step through differently named
    ranks of one class, :func:`loop_choices`)."""
    ctx = fusion.Context(workload, names)
    i = workload.names.index(names[0])
    j = i + len(names) - 1
    # One Einsum alone is unfused: its own mapping decides where its tensors live.
    cands = [T for T in sorted(ctx.moved) if ctx.axes_agree(T, ctx.users[T])] if j > i else []
    for K in subsets(cands):
        for kids in _trees(workload, ctx, i, j, fusion.root_sizes(workload, names), frozenset(K), 0,
                           max_depth, None, split, imperfect, translate):
            yield fusion.Node(None, 0, K, kids)


def _with_mappings(node, choices):
    """``node`` with its leaves' mappings taken from the iterator ``choices``, in the order
    :func:`_leaf_sizes` lists the leaves."""
    if isinstance(node, fusion.Leaf):
        return fusion.Leaf(node.einsum, next(choices))
    kids = tuple(_with_mappings(c, choices) for c in node.children)
    return fusion.Node(node.rank, node.tile, node.keep, kids, (), node.via,
                       rest=tuple(_with_mappings(c, choices) for c in node.rest))


def _leaf_sizes(workload: Workload, node, sizes: dict, kept: frozenset, out: list) -> list:
    """Each leaf's (Einsum, tiles, tensors kept above it), in tree order (a partial last
    iteration's leaves after the full iterations'; ``sizes``: each Einsum's)."""
    if isinstance(node, fusion.Leaf):
        out.append((node.einsum, sizes[node.einsum], kept))
        return out
    for below, kids, _ in fusion.phases(node, sizes):
        for c in kids:
            _leaf_sizes(workload, c, below, kept | frozenset(node.keep), out)
    return out


def _leaf_options(ctx: fusion.Context, sub, mappings: list, kept: frozenset, imperfect: bool,
                  prune: bool) -> list:
    """A leaf's mappings; with ``prune`` only those Pareto-optimal in what the leaf adds to its
    schedule: the tiles it streams and the words it moves (outputs count twice)."""
    resident = kept | ctx.intermediates
    points = []
    for m in mappings:
        cost, tiles = fusion.inner_cost(sub, m, imperfect)
        occ = sum(v for x, v in tiles.items() if x not in resident)
        moved = dict(cost.reads) | dict(cost.writes)
        acc = sum(v * (2 if x in ctx.written else 1) for x, v in moved.items() if x not in resident)
        points.append((occ, acc, m))
    return [m for _, _, m in (_pareto(points) if prune else points)]


def cuts_into_runs(names: tuple[str, ...], fusion_on: bool):
    """Every cut of the Einsums into consecutive runs (segments), in a fixed order; with
    ``fusion_on=False`` only the cut into single Einsums."""
    n = len(names)
    for cuts in product((False, True), repeat=n - 1):
        bounds = [0, *(i + 1 for i, c in enumerate(cuts) if c), n]
        runs = [names[a:b] for a, b in zip(bounds, bounds[1:])]
        if fusion_on or all(len(r) == 1 for r in runs):
            yield runs


def combinations(names: tuple[str, ...], fusion_on: bool, segment_points, count):
    """Every cut into runs with one of each run's ``segment_points(run)`` (points
    ``(occupancy, cost, root)``) per run, as a tuple of those points. Each run is searched once
    (setdefault would search it again for every cut that contains it); ``count`` is charged
    each cut's combinations."""
    segments: dict = {}
    for runs in cuts_into_runs(names, fusion_on):
        for r in runs:
            if r not in segments:
                segments[r] = segment_points(r)
        parts = [segments[r] for r in runs]
        count(math.prod(len(p) for p in parts))
        yield from product(*parts)


def schedules(names: tuple[str, ...], fusion_on: bool, segment_points, count):
    """Every schedule of every cut into runs (:func:`combinations`)."""
    for combo in combinations(names, fusion_on, segment_points, count):
        yield fusion.Schedule(tuple(root for _, _, root in combo))


def work_counter(what: str, limit: int):
    """A function adding evaluations to a running total, raising EnumerationTooLarge (naming
    ``what``) once it passes ``limit``: the brute forces' budget."""
    work = [0]

    def count(k: int) -> None:
        work[0] += k
        if work[0] > limit:
            raise EnumerationTooLarge(f"enumerating {what} needs more than {limit:.3g} "
                                      "evaluations")
    return count


def enumerate_workload(workload: Workload, fusion_on: bool = True, mapspace=None, max_depth: int = 3,
                       limit: int = 2_000_000, prune: bool = True, split_ranks: bool = False,
                       shared_imperfect: bool | None = None, translate: bool = False,
                       trees=None) -> list:
    """Every breakpoint of a workload's fused (or unfused) staircase by brute force over schedules.
    Returns a list of (occupancy, accesses, Schedule). With ``prune`` (sound: a schedule's cost
    never decreases when one part's occupancy or traffic grows) each segment keeps only its
    Pareto-optimal schedules before segments are combined. ``shared_imperfect``: whether the
    tree's loops take imperfect tiles too (default: as the mapspace's leaves do; False gives
    imperfect leaves under perfect shared tiles, the mapspace before imperfect shared tiles).
    ``translate``: loops may also step through differently named ranks that intermediates
    identify (:func:`loop_choices`); not with imperfect shared tiles (pass
    ``shared_imperfect=False`` on an imperfect mapspace): the two are not searched together.
    ``trees``: a predicate on a segment's loop trees (leaves without mappings) that keeps only
    some of them (a mapspace narrower than ``translate``'s; None: all)."""
    ms = mapspace_of(mapspace)
    imperfect = ms.factors == "imperfect"
    shared_imperfect = imperfect if shared_imperfect is None else shared_imperfect
    if translate and shared_imperfect:
        raise EinsumError("translated loops and imperfect shared tiles are not searched together: "
                          "pass translate=False or shared_imperfect=False")
    names = workload.names
    count = work_counter(f"the schedules of {workload.name or workload}", limit)

    inner_cache: dict = {}

    def inner(sub, resident):
        resident = frozenset(T.name for T in sub.tensors if T.name in resident)
        key = (str(sub), sub.sizes, resident)
        if key not in inner_cache:
            inner_cache[key] = list(_inner_mappings(sub, ms, resident))
        return inner_cache[key]

    def segment_points(seg: tuple[str, ...]) -> list:
        points = []
        ctx = fusion.Context(workload, seg)
        for tree in segment_trees(workload, seg, max_depth, split_ranks, shared_imperfect, translate):
            if trees is not None and not trees(tree):
                continue
            options = []
            for e, sizes, kept in _leaf_sizes(workload, tree, fusion.root_sizes(workload, seg),
                                              frozenset(), []):
                sub = fusion.sub_problem(workload[e], sizes)
                mappings = inner(sub, kept | ctx.intermediates)
                options.append(_leaf_options(ctx, sub, mappings, kept, imperfect, prune))
            count(math.prod(len(o) for o in options))
            for combo in product(*options):
                root = _with_mappings(tree, iter(combo))
                occ, reads, writes = fusion.evaluate_segment(workload, root, imperfect)
                points.append((occ, sum(reads.values()) + sum(writes.values()), root))
        return _pareto(points) if prune else points

    out = []
    for schedule in schedules(names, fusion_on, segment_points, count):
        cost = fusion.evaluate(workload, schedule, imperfect=imperfect)
        out.append((cost.occupancy, cost.accesses, schedule))
    return _pareto(out)
