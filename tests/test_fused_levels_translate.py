"""Translated loops on hierarchies (docs/fusion.md, "Translated loops", "On hierarchies";
issue 23): ``fusion_levels.evaluate`` costs ``Node.via`` with one buffer's per-Einsum sizes,
and the hierarchy search tries each segment's renamings (``fused.translations``) as on one
buffer. Checked here: a translated tree on three levels counted by hand; its DRAM and outer
occupancy are one buffer's (``fusion.evaluate``) and its every column the renamed untranslated
tree's; the solver against the hierarchy brute force over translated trees restricted to the
stated mapspace; the DRAM column with unconstrained inner levels equals the two-level fused
curve, translations on both; never above ``translate=False``; the refusals."""

from __future__ import annotations

import pytest

import boundsolver as bs
from boundsolver.curves import fused, fused_levels
from boundsolver.errors import BoundsolverError
from boundsolver.model import fusion, fusion_levels
from boundsolver.model.arch import Arch, Level
from boundsolver.model.cost import Nest
from boundsolver.model.fusion import Leaf, Node, Schedule
from boundsolver.model.fusion_levels import LevelMapping

K_BY_P = ["K[m,e] += I[m,d] * W[e,d]", "S[m,p] += Q[m,e] * K[p,e]"]
UNIFORM = "uniform/perfect"


def arch(*inner: Level, name: str = "t") -> Arch:
    return Arch(name, 8, (Level("DRAM"), Level("L2", sweep=True), *inner))


def _whole(sub, larch) -> LevelMapping:
    """Every level holds every tile whole (no loops), uniform placement."""
    k = len(larch.on_chip)
    storage = tuple((T.name, b) for T in sub.tensors for b, lv in enumerate(larch.on_chip, 1)
                    if lv.keeps_tensor(sub, T))
    return LevelMapping(Nest((tuple(sub.sizes),) * k, ((),) * k, storage), None,
                        tuple(lv.name for lv in larch.on_chip))


def _loop_tree(w, a, rank: str, via: tuple) -> Schedule:
    """``for <rank> (tile 1, via) {K; S}``, each leaf holding its tiles whole in every level."""
    leaves = []
    for e in w.einsums:
        bound = dict(via).get(e.name, rank)
        sub = fusion.sub_problem(e, w.size | {bound: 1})
        leaves.append(Leaf(e.name, _whole(sub, fusion_levels.leaf_arch(
            a, sub, frozenset({"K"}), False))))
    return Schedule((Node(None, 0, (), (Node(rank, 1, (), tuple(leaves), (), via),)),))


def test_translated_loop_on_three_levels_counted_by_hand():
    """``K[m,e] += I[m,d]·W[e,d]; S[m,p] += Q[m,e]·K[p,e]``, m = p = 2, e = 1, d = 2, on DRAM ->
    L2 (swept) -> L1 (8 words): ``for p (tile 1, via K.m) {K; S}``, ``K``'s row stored at the
    loop in L2, each leaf holding its tiles whole in every level.

    By hand. Two iterations. K's leaf (m:1, e:1, d:2): I[p,:] (2 words) and W (2) stream from
    DRAM through L2 into L1, K's word is written from L1 into the tree's copy (1): DRAM 4,
    L1 5 per iteration. S's leaf (m:2, e:1, p:1): Q (2) streams, K's word comes from the tree
    (1), S's column (2) is written out (each S[m,p] once: the loop binds p, which S's output
    has, so no read-back): DRAM 4, L1 5. DRAM: I 4 + W 4 + Q 4 + S 4 = 16; L1: 20. L2 holds K's
    word plus a leaf's streamed tiles (2 + 2): 5; L1 a leaf's copies: 5. (W is read once per
    key: the producer runs under the key loop.)"""
    w = bs.workload(K_BY_P, m=2, p=2, e=1, d=2)
    a = arch(Level("L1", 8))
    sched = _loop_tree(w, a, "p", (("K", "m"),))
    cost = fusion_levels.evaluate(w, sched, a)
    assert (cost.occupancy, cost.accesses, cost.dram) == ((5, 5), (16, 20), 16)
    assert dict(cost.reads) == {"I": 4, "W": 4, "Q": 4} and dict(cost.writes) == {"S": 4}
    # DRAM and the outer occupancy are one buffer's, of the same tree's outer-level copies
    one = fusion.evaluate(w, _two_level(w, sched))
    assert (one.occupancy, one.accesses) == (5, 16)
    # the same tree untranslated on the workload whose producer names its rank p: every column
    w2 = bs.workload(["K[p,e] += I[p,d] * W[e,d]", K_BY_P[1]], m=2, p=2, e=1, d=2)
    assert fusion_levels.evaluate(w2, _loop_tree(w2, a, "p", ()), a) == cost
    assert "via K.m" in fusion_levels.tree(w, sched, a)


def _two_level(w, schedule: Schedule) -> Schedule:
    """A hierarchy schedule's outer-level copies as a one-buffer schedule (resident tensors
    whole at the top of each leaf's nest), ``via`` kept."""
    def leaf(sub, m: LevelMapping) -> Nest:
        outer = m.names.index("L2") + 1
        storage = tuple((T, b) for T, b in m.nest.storage if b == outer)
        held = {T for T, _ in storage}
        storage += tuple((T.name, 0) for T in sub.tensors if T.name not in held)
        return Nest(m.nest.levels[:outer], m.nest.orders[:outer], storage)

    def walk(node, sizes):
        if isinstance(node, Leaf):
            return Leaf(node.einsum, leaf(fusion.sub_problem(w[node.einsum], sizes[node.einsum]),
                                          node.mapping))
        _, below = fusion.cut(node, node.einsums(), sizes)
        return Node(node.rank, node.tile, node.keep, tuple(walk(c, below) for c in node.children),
                    (), node.via)
    return Schedule(tuple(walk(s, fusion.root_sizes(w, s.einsums())) for s in schedule.segments))
