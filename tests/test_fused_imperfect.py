"""Imperfect shared tiles in fused loop trees (docs/fusion.md, "Imperfect shared tiles"): a loop
whose tile does not divide its rank runs its full iterations and then a peeled partial one with
its own children (``Node.rest``). Hand counts, an element-level simulation of the tree against
the evaluator, the search against the brute force (Hypothesis), the curve never above the one
without them and below it somewhere, and refusals."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import boundsolver as bs
from boundsolver.curves import fused
from boundsolver.errors import BoundsolverError, EinsumError
from boundsolver.model import fusion
from boundsolver.model.fusion import Leaf, Node, Schedule, whole_mapping
from boundsolver.model.mapspace import mapspace_of
from boundsolver.reference.treeref import (_inner_mappings, _leaf_sizes, _with_mappings,
                                           enumerate_workload, segment_trees)

FFN = ["Y[m,c] += X[m,d] * A[d,c]", "Z[m,j] += Y[m,c] * B[c,j]"]
ATTENTION = ["S[m,p] += Q[m,e] * K[p,e]", "Z[m,f] += S[m,p] * V[p,f]"]
CHAINS = {
    "ffn": (FFN, "mdcj"),
    "attention": (ATTENTION, "mpef"),
    "shared_input": (["U[m,h] += I[m,d] * A[h,d]", "V[m,h] += I[m,d] * B[h,d]"], "mhd"),
    "softmax": (["Y[m,c] += X[m,d] * A[d,c]", "S[m,c] = Y[m,c]", "Z[m,j] += S[m,c] * B[c,j]"],
                "mdcj"),
}


def points(sol) -> list[tuple[int, int]]:
    return list(zip(sol.frontier.occ.tolist(), sol.frontier.acc.tolist()))


def value(pts, capacity: int):
    return min((a for o, a in pts if o <= capacity), default=None)


def _leaf(w, name, sizes) -> Leaf:
    return Leaf(name, whole_mapping(fusion.sub_problem(w[name], sizes)))


# ------------------------------------------------------------------------------ hand counts

def _ffn_tree(w, keep=()) -> Schedule:
    """FFN m=5 (d=c=j=1) under one loop over m in tiles of 2: iterations of 2, 2 and 1 rows."""
    two, one = w.size | {"m": 2}, w.size | {"m": 1}
    loop = Node("m", 2, keep, (_leaf(w, "Y", two), _leaf(w, "Z", two)),
                rest=(_leaf(w, "Y", one), _leaf(w, "Z", one)))
    return Schedule((Node(None, 0, (), (loop,)),))


def test_imperfect_tile_counted_by_hand():
    """FFN, m = 5, every other rank 1, a loop over m in tiles of 2 (3 iterations: 2, 2, 1 rows),
    each leaf holding its tiles whole. By hand: X moves its rows once (5), A and B one word per
    iteration (3 each), Z is written once per row (5, never read back); 16 words. Occupancy in a
    full iteration: the intermediate Y (2 rows) stored at the loop, beside leaf Y's X tile (2)
    and A (1): 5; leaf Z holds B (1) and Z (2): 2 + 3 = 5. Keeping A at the loop (its loop does
    not index A: it stays across every iteration, the partial one too) moves A once: 14 words,
    and A is live throughout, beside leaf Z too: 6 words; keeping X (indexed) moves 2 + 2 + 1 = 5,
    as streaming does."""
    w = bs.workload(FFN, m=5, d=1, c=1, j=1)
    cost = fusion.evaluate(w, _ffn_tree(w), imperfect=True)
    assert (cost.occupancy, cost.accesses) == (5, 16)
    assert dict(cost.reads) == {"X": 5, "A": 3, "B": 3} and dict(cost.writes) == {"Z": 5}
    kept_a = fusion.evaluate(w, _ffn_tree(w, ("A",)), imperfect=True)
    assert (kept_a.occupancy, kept_a.accesses) == (6, 14) and dict(kept_a.reads)["A"] == 1
    kept_x = fusion.evaluate(w, _ffn_tree(w, ("X",)), imperfect=True)
    assert kept_x.accesses == 16 and dict(kept_x.reads)["X"] == 5
    text = _ffn_tree(w).tree(w)
    assert "for m in [0,3):  (m tile 2, last 1)" in text and "last m iteration (m tile 1):" in text
    assert "last m:1" in _ffn_tree(w).describe(w)


def test_refusals():
    """Imperfect tiles only with imperfect factors; a partial iteration needs its own children
    over the same Einsums, and a perfect tile has none; the search refuses placements with it."""
    w = bs.workload(FFN, m=5, d=1, c=1, j=1)
    tree = _ffn_tree(w)
    with pytest.raises(EinsumError, match="proper divisor of 5"):
        fusion.evaluate(w, tree)
    loop = tree.segments[0].children[0]
    for bad in (Node("m", 2, (), loop.children),                       # no rest
                Node("m", 2, (), loop.children, rest=loop.rest[:1])):  # rest misses Z
        with pytest.raises(EinsumError, match="partial last iteration"):
            fusion.evaluate(w, Schedule((Node(None, 0, (), (bad,)),)), imperfect=True)
    w6 = bs.workload(FFN, m=6, d=1, c=1, j=1)
    three = w6.size | {"m": 3}
    perfect = Node("m", 3, (), (_leaf(w6, "Y", three), _leaf(w6, "Z", three)),
                   rest=(_leaf(w6, "Y", three), _leaf(w6, "Z", three)))
    with pytest.raises(EinsumError, match="no partial iteration"):
        fusion.evaluate(w6, Schedule((Node(None, 0, (), (perfect,)),)), imperfect=True)

    class Placed(fused.TreeSearch):
        placing = True
    with pytest.raises(BoundsolverError, match="one buffer only"):
        Placed(w, fused.Curves(mapspace_of("per_tensor/imperfect"), "enumerate", "highs"))


# ------------------------------------------------------------------- element-level simulation

def _region(tensor, origin: dict, extent: dict) -> tuple:
    return tuple((origin[d], origin[d] + extent[d]) for d in tensor.ranks)


class _Sim:
    """Runs a one-buffer tree iteration by iteration. The partial iteration's extent comes from
    clipping the tile at the end of the range (never from ``rest``'s sizes): a loop over r in
    tiles of t over [lo, lo + n) runs iterations at lo, lo + t, ..., each of min(t, rest of the
    range) rows, the children of ``node.rest`` where that is short. A tile stored at a node is
    fetched whenever the region it must hold changes (moved words: its elements, if the segment
    moves it); a leaf's cost is its sub-problem's (the extents it sees) under its mapping. The
    occupancy is the most live at any leaf step: the leaf's own non-resident tiles plus every
    stored tile from its first fetch (or, for a node's tile, the node's first child that uses
    it) to its last use."""

    def __init__(self, w, imperfect: bool):
        self.w, self.imperfect = w, imperfect
        self.moved: dict = {}
        self.steps: list = []   # per leaf step: (its own words, the stored tiles live)
        self.tiles: list = []   # stored tile: [first step, last step, words]

    def node(self, ctx, node, origin, extent, resident, current):
        r = node.rank
        iters = [(origin, extent, node.children)]
        if r is not None:
            lo, n = origin[r], extent[r]
            iters = [(origin | {r: x}, extent | {r: min(node.tile, lo + n - x)},
                      node.children if lo + n - x >= node.tile else node.rest)
                     for x in range(lo, lo + n, node.tile)]
        held: dict = {}
        for o, ext, kids in iters:
            phase = Node(r, node.tile, node.keep, kids)
            here = [*node.keep, *fusion.stored_here(ctx, phase, resident)]
            span = fusion._span(ctx, phase)
            cur = dict(current)
            for T in here:
                tensor = ctx.tensor(T, span)
                reg = _region(tensor, o, ext)
                if held.get(T) != reg:
                    held[T] = reg
                    held[T, "id"] = len(self.tiles)
                    self.tiles.append([None, None, math.prod(b - a for a, b in reg)])
                    if T in ctx.moved or T in ctx.exported:
                        self.moved[T] = self.moved.get(T, 0) + self.tiles[-1][2]
                cur[T] = held[T, "id"]
            inside = resident | frozenset(here)
            for c in kids:
                if isinstance(c, Node):
                    self.node(ctx, c, o, ext, inside, cur)
                else:
                    self.leaf(ctx, c, ext, inside, cur)

    def leaf(self, ctx, leaf, ext, resident, current):
        e = self.w[leaf.einsum]
        sub = fusion.sub_problem(e, ext)
        cost, tiles = fusion.inner_cost(sub, leaf.mapping, self.imperfect)
        res = {T.name for T in sub.tensors if T.name in resident or T.name in ctx.intermediates}
        for x, v in (dict(cost.reads) | dict(cost.writes)).items():  # an output: its writes
            if x not in res:                                            # (read back at the end)
                self.moved[x] = self.moved.get(x, 0) + v
        step = len(self.steps)
        for T in sub.tensors:
            if T.name in current:
                tile = self.tiles[current[T.name]]
                tile[0] = step if tile[0] is None else tile[0]
                tile[1] = step
        self.steps.append(sum(v for x, v in tiles.items() if x not in res))

    def run(self, schedule):
        for seg in schedule.segments:
            ctx = fusion.Context(self.w, seg.einsums())
            self.node(ctx, seg, dict.fromkeys(self.w.size, 0), dict(self.w.size), frozenset(), {})
        peak = max(own + sum(words for first, last, words in self.tiles
                             if first is not None and first <= k <= last)
                   for k, own in enumerate(self.steps))
        written = {x for seg in schedule.segments
                   for x in fusion.Context(self.w, seg.einsums()).written}
        back = sum(v - self.w.tensor_size(x) for x, v in self.moved.items() if x in written)
        return peak, sum(self.moved.values()) + back


SIM_CASES = [(FFN, dict(m=5, d=2, c=3, j=1)), (ATTENTION, dict(m=3, p=5, e=1, f=2)),
             (CHAINS["softmax"][0], dict(m=5, d=1, c=3, j=2))]


@pytest.mark.parametrize("case", range(len(SIM_CASES)))
def test_simulation_equals_the_evaluator_on_random_imperfect_trees(case):
    """Random trees with imperfect tiles (two loop levels), random Orojenesis leaf mappings: the
    simulation's traffic equals the evaluator's and its occupancy is at most the evaluator's
    (the evaluator holds a tile its loop does not index from the node's first child on, where
    the simulation starts it at its first use)."""
    texts, sizes = SIM_CASES[case]
    w = bs.workload(texts, **sizes)
    rng = random.Random(case)
    trees = [t for t in segment_trees(w, w.names, 2, imperfect=True)
             if any(isinstance(n, Node) and n.rest for n in _walk(t))]
    uniform = mapspace_of("uniform/perfect")
    ctx = fusion.Context(w, w.names)
    for _ in range(25):
        tree = rng.choice(trees)
        choice = []
        for e, sz, kept in _leaf_sizes(w, tree, fusion.root_sizes(w, w.names), frozenset(), []):
            sub = fusion.sub_problem(w[e], sz)
            choice.append(rng.choice(list(_inner_mappings(sub, uniform, kept | ctx.intermediates))))
        schedule = Schedule((_with_mappings(tree, iter(choice)),))
        cost = fusion.evaluate(w, schedule, imperfect=True)
        occ, acc = _Sim(w, True).run(schedule)
        label = schedule.tree(w)
        assert acc == cost.accesses, label
        assert occ <= cost.occupancy, label


def _walk(node):
    yield node
    if isinstance(node, Node):
        for c in (*node.children, *node.rest):
            yield from _walk(c)


# --------------------------------------------------------------------- the search, exactly

@st.composite
def chains(draw, sizes=(1, 2, 3, 5)):
    name = draw(st.sampled_from(sorted(CHAINS)))
    texts, ranks = CHAINS[name]
    size = {r: draw(st.sampled_from(sizes)) for r in ranks}
    if "p" in size:
        size["p"] = size["m"]
    return bs.workload(texts, name=name, **size)


def _reproduces(w, sol):
    for occ, acc in points(sol):
        cost = fusion.evaluate(w, sol.schedule(occ), imperfect=True)
        assert (cost.occupancy, cost.accesses) == (occ, acc)


@settings(max_examples=10, deadline=None)
@given(chains(), st.sampled_from(["per_tensor/imperfect", "uniform/imperfect"]))
def test_search_equals_brute_force_one_level(w, mapspace):
    """One loop level: the search with imperfect shared tiles equals the brute force over every
    tree (every tile of ``tile_sizes``, every partial iteration's children, every kept set), and
    every breakpoint's tree reproduces its point."""
    sol = fused.solve_workload(w, True, mapspace, max_depth=1)
    ref = [(o, a) for o, a, _ in enumerate_workload(w, True, mapspace, max_depth=1)]
    assert points(sol) == ref
    _reproduces(w, sol)


@pytest.mark.parametrize("texts,sizes,split", [
    (FFN, dict(m=5, d=1, c=2, j=1), False), (FFN, dict(m=3, d=1, c=2, j=1), True)])
def test_search_equals_brute_force_two_levels(texts, sizes, split):
    """Two nested loop levels (a partial iteration may loop again inside; with ``split`` a rank
    may loop again below itself, imperfectly too)."""
    w = bs.workload(texts, **sizes)
    sol = fused.solve_workload(w, True, "per_tensor/imperfect", max_depth=2, split_ranks=split)
    ref = enumerate_workload(w, True, "per_tensor/imperfect", max_depth=2, split_ranks=split)
    assert points(sol) == [(o, a) for o, a, _ in ref]
    _reproduces(w, sol)


def test_imperfect_shared_tiles_lower_the_curve():
    """Never above the curve without them (every perfect tree is still there) nor above the
    perfect one, and strictly below it somewhere on an FFN with few divisors (m = 5, d = 2,
    c = 3, j = 2; the search equals the brute force there: benchmarks/fused_imperfect.py)."""
    w = bs.workload(FFN, m=5, d=2, c=3, j=2)
    new = points(fused.solve_workload(w, True, "per_tensor/imperfect", max_depth=2))
    old = points(fused.solve_workload(w, True, "per_tensor/imperfect", max_depth=2,
                                      shared_imperfect=False))
    perfect = points(fused.solve_workload(w, True, "per_tensor/perfect", max_depth=2))
    assert old == [(o, a) for o, a, _ in enumerate_workload(w, True, "per_tensor/imperfect",
                                                            max_depth=2, shared_imperfect=False)]
    caps = sorted({o for o, _ in new + old + perfect})
    assert all(value(new, c) <= value(old, c) <= value(perfect, c) for c in caps)
    assert any(value(new, c) < value(old, c) for c in caps)


@pytest.mark.parametrize("texts,sizes", [(FFN, dict(m=7, d=5, c=11, j=3)),
                                         (ATTENTION, dict(m=7, p=7, e=5, f=5))])
def test_skipping_on_bounds_changes_no_curve(texts, sizes, monkeypatch):
    """An option is skipped where the options seen cover its lower bounds (TreeSearch.peeled,
    as loop): with no option ever skipped the curve is the same, breakpoint by breakpoint, on
    sizes too large for the brute force (a bound that counts the partial iteration as a full
    one, which is no bound, changes the FFN's)."""
    w = bs.workload(texts, **sizes)
    pruned = points(fused.solve_workload(w, True, "per_tensor/imperfect", max_depth=2))
    monkeypatch.setattr(fused.TreeSearch, "_covered", lambda self, *args: False)
    assert points(fused.solve_workload(w, True, "per_tensor/imperfect", max_depth=2)) == pruned


@pytest.mark.parametrize("split", [False, True])
def test_state_sharing_rules_change_no_curve(split, monkeypatch):
    """The exact state-sharing rules (lifting kept tensors, closed ranks, leaf-only bodies by
    content, repeated segments, forgetting (here at every step), the incumbent: docs/fusion.md,
    'Solving') hold with peeled loops too: with all of them off the curve is the same,
    breakpoint by breakpoint."""
    monkeypatch.setattr(fused.TreeSearch, "SWEEP", 0)
    w = bs.workload(CHAINS["softmax"][0], m=5, d=3, c=7, j=2)
    on = fused.TreeSearch(w, fused.Curves(mapspace_of("per_tensor/imperfect")), 2, split)
    off = fused.TreeSearch(w, fused.Curves(mapspace_of("per_tensor/imperfect")), 2, split,
                           share=False, local_keys=False, repeats=False, forgetting=False,
                           incumbent=False)
    a, b = on.solve(True), off.solve(True)
    assert (a.occ, a.acc) == (b.occ, b.acc)
    assert (on.lifts > 0) != split and not off.lifts  # lifting is for unsplit ranks
