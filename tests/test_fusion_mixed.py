"""Causality of loop trees, and intermediates through the backing store inside a segment
(issue 23; docs/fusion.md, "The loop rule" and "An intermediate through DRAM inside a segment").

The causality checks run each tree element by element (:func:`simulate`), independently of the
loop rule in ``fusion.loop_allowed``: every leaf invocation covers a box of its Einsum's iteration
space, writes partial sums into its output's elements and reads its inputs' elements, and a read
of an intermediate element before all of its partial sums are in is a violation.
"""

from __future__ import annotations

from collections import Counter
from itertools import product

import pytest

import boundsolver as bs
from boundsolver.curves import fused
from boundsolver.errors import EinsumError
from boundsolver.model import fusion
from boundsolver.model.fusion import Leaf, Node, Schedule
from boundsolver.reference import treemixed, treeref

PER_TENSOR = "per_tensor/perfect"


def _points(e: bs.Einsum, box: dict[str, range]):
    ranks = e.ranks
    for idx in product(*(box[r] for r in ranks)):
        yield dict(zip(ranks, idx))


def _element(T, point: dict[str, int]) -> tuple[int, ...]:
    return tuple(sum(t.coef * point[t.rank] for t in a.terms) for a in T.axes)


def simulate(workload: bs.Workload, root: Node) -> list[str]:
    """Run one segment's tree in order; the reads of an intermediate element before its last
    partial sum is written (a message each)."""
    names = set(root.einsums())
    need: dict[str, Counter] = {}  # partial sums each element of each intermediate takes
    for e in workload.einsums:
        if e.name in names:
            need[e.output.name] = Counter(_element(e.output, p) for p in
                                          _points(e, {r: range(n) for r, n in e.sizes}))
    done: dict[str, Counter] = {X: Counter() for X in need}
    bad: list[str] = []

    def walk(node, box: dict[str, range]) -> None:
        if isinstance(node, Leaf):
            e = workload[node.einsum]
            pts = list(_points(e, box))
            for T in e.inputs:
                if T.name in need:
                    for p in pts:
                        el = _element(T, p)
                        if done[T.name][el] < need[T.name][el]:
                            bad.append(f"{e.name} reads {T.name}{list(el)} unfinished")
                            return
            for p in pts:
                done[e.output.name][_element(e.output, p)] += 1
            return
        if node.rank is None:
            for c in node.children:
                walk(c, box)
            return
        rng = box[node.rank]
        for lo in range(rng.start, rng.stop, node.tile):
            for c in node.children:
                walk(c, box | {node.rank: range(lo, lo + node.tile)})

    walk(root, {r: range(n) for r, n in workload.size.items()})
    return bad


def mapped(w: bs.Workload, node):
    """The tree with whole-problem mappings at its leaves (only the shape matters here)."""
    def go(n, sizes):
        if isinstance(n, Leaf):
            return Leaf(n.einsum, fusion.whole_mapping(fusion.sub_problem(w[n.einsum], sizes)))
        if n.rank is not None:
            sizes = sizes | {n.rank: n.tile}
        return Node(n.rank, n.tile, n.keep, tuple(go(c, sizes) for c in n.children))
    return go(node, w.size)


# A reader outside the loop (T) stores K whole above it; S reads K through p inside it.
THIRD_READER = bs.workload(["K[m,e] += I[m,d] * W[e,d]", "S[m,p] += I[m,d] * K[p,d]",
                            "T[m,e] += K[m,e] * U[m,e]"], m=4, p=4, e=2, d=2)


def test_simulator_can_fail():
    """The non-causal tree the old loop rule let through: S reads rows of K not yet written."""
    w = THIRD_READER
    bad = Node(None, 0, (), (Node("m", 1, ("I",), (Leaf("K", None), Leaf("S", None))),
                             Leaf("T", None)))
    assert simulate(w, bad)
    good = Node(None, 0, (), (Node("m", 1, (), (Leaf("K", None),)), Leaf("S", None),
                              Leaf("T", None)))
    assert simulate(w, good) == []


def test_loop_rule_refuses_a_reader_under_the_loop_through_another_axis():
    """Fails if the rule checks only intermediates whose readers all lie under the loop."""
    w = THIRD_READER
    tree = mapped(w, Node(None, 0, (), (Node("m", 1, ("I",), (Leaf("K", None), Leaf("S", None))),
                                        Leaf("T", None))))
    with pytest.raises(EinsumError, match="aligned"):
        fusion.evaluate(w, Schedule((tree,)))
    # with S reading K through m (aligned on the loop's rank) the same shape is accepted
    w2 = bs.workload(["K[m,e] += I[m,d] * W[e,d]", "S[m,p] += I[m,d] * K[m,p]",
                      "T[m,e] += K[m,e] * U[m,e]"], m=4, p=2, e=2, d=2)
    fusion.evaluate(w2, Schedule((mapped(w2, Node(None, 0, (), (
        Node("m", 1, ("I",), (Leaf("K", None), Leaf("S", None))), Leaf("T", None)))),)))


def test_every_breakpoint_tree_is_causal():
    """The solver's trees on the three-reader chain: every breakpoint runs element by element
    without reading an unfinished intermediate, and the solver equals brute force."""
    w = THIRD_READER
    sol = fused.solve_workload(w, True, max_depth=2)
    pts = list(zip(sol.frontier.occ.tolist(), sol.frontier.acc.tolist()))
    ref = [(o, a) for o, a, _ in treeref.enumerate_workload(w, True, PER_TENSOR, max_depth=2)]
    assert pts == ref
    for occ, _ in pts:
        for seg in sol.schedule(occ).segments:
            assert simulate(w, seg) == []
