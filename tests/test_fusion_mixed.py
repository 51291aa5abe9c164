"""Causality of loop trees, and intermediates through the backing store inside a segment
(issue 23; docs/fusion.md, "The loop rule" and "An intermediate through DRAM inside a segment").

The causality checks run each tree element by element (:func:`simulate`), independently of the
loop rule in ``fusion.loop_allowed``: every leaf invocation covers a box of its Einsum's iteration
space, writes partial sums into its output's elements and reads its inputs' elements, and a read
of an intermediate element before all of its partial sums are in is a violation.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from itertools import product

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
    """Run one segment's tree in order (a loop's partial last iteration, clipped at its range,
    runs ``Node.rest``); the reads of an intermediate element before its last partial sum is
    written, and the intermediates left unfinished (a message each)."""
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
        for lo in range(rng.start, rng.stop, node.tile):  # a partial last iteration runs `rest`
            hi = min(lo + node.tile, rng.stop)
            for c in node.children if hi - lo == node.tile else node.rest:
                walk(c, box | {node.rank: range(lo, hi)})

    walk(root, {r: range(n) for r, n in workload.size.items()})
    for X in need:  # and every intermediate element finished by the end
        if done[X] != need[X]:
            bad.append(f"{X} not finished")
    return bad


def mapped(w: bs.Workload, node):
    """The tree with whole-problem mappings at its leaves (only the shape matters here)."""
    def go(n, sizes):
        if isinstance(n, Leaf):
            return Leaf(n.einsum, fusion.whole_mapping(fusion.sub_problem(w[n.einsum], sizes)))
        if n.rank is not None:
            sizes = sizes | {n.rank: n.tile}
        return replace(n, children=tuple(go(c, sizes) for c in n.children))
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


# ------------------------------------------------------- intermediates through the backing store

UNIFORM = "uniform/perfect"
MIXED = {  # three-Einsum chains in which an intermediate may skip the buffer
    # X and Y share the input I; Z reads both
    "shared": (["X[m,n] += I[m,k] * A[k,n]", "Y[m,n] += I[m,k] * B[k,n]",
                "Z[m,n] += X[m,n] * Y[m,n]"], "mkn"),
    # K read through p: no loop over m may hold K's writer and S, spilled or not
    "qk": (["K[m,e] += I[m,d] * WK[d,e]", "Q[m,e] += I[m,d] * WQ[d,e]",
            "S[m,p] += Q[m,e] * K[p,e]"], "mpde"),
    "residual": (["Y[m,c] += X[m,d] * A[d,c]", "Z[m,d] += Y[m,c] * B[c,d]",
                  "O[m,d] += Z[m,d] * X[m,d]"], "mdc"),
}


def frontier(sol) -> list[tuple[int, int]]:
    return list(zip(sol.frontier.occ.tolist(), sol.frontier.acc.tolist()))


def value_at(points, capacity: int):
    return min((a for o, a in points if o <= capacity), default=None)


def checked(w: bs.Workload, sol, imperfect: bool = False) -> None:
    """Every breakpoint's schedule re-costs to its point and runs causally."""
    for occ, acc in frontier(sol):
        schedule = sol.schedule(occ)
        cost = fusion.evaluate(w, schedule, imperfect=imperfect)
        assert (cost.occupancy, cost.accesses) == (occ, acc)
        for seg in schedule.segments:
            assert simulate(w, seg) == []


def test_hand_counted_tree_with_x_through_dram():
    """shared, m = k = n = 2, Orojenesis leaves, one loop level: per row of m, I's row kept
    (2 words), X written to the backing store, Y's row on chip (2 words, live from Y to Z).
    Counted by hand: I 4 + A 8 (2 x 2 x 2, read per row) + X written 4 + B 8 + X read back 4
    + Z written 4 = 32 words; the most live is during Y: I 2 + Y 2 + B's word 1 = 5. With X on
    chip instead, its row is live during Y too (7 words); the best tree without the choice
    needs 36 words at 5 (brute force, test_spill_equals_brute_force)."""
    w = bs.workload(MIXED["shared"][0], m=2, k=2, n=2)
    one = {"m": 1, "k": 1, "n": 1}
    leaf = {e: Leaf(e, bs.Mapping(tuple((r, one[r]) for r in w[e].ranks),
                                  tuple(r for r in ("n", "k") if r in w[e].ranks)))
            for e in w.names}
    root = Node(None, 0, (), (Node("m", 1, ("I",), tuple(leaf.values())),), dram=("X",))
    cost = fusion.evaluate(w, Schedule((root,)))
    assert (cost.occupancy, cost.accesses) == (5, 32)
    assert dict(cost.writes)["X"] == 4 and dict(cost.reads)["X__dram"] == 4
    assert simulate(w, root) == []
    on = frontier(fused.solve_workload(w, True, UNIFORM, max_depth=1, spill=True))
    off = frontier(fused.solve_workload(w, True, UNIFORM, max_depth=1))
    assert value_at(on, 5) == 32 and value_at(off, 5) == 36


def test_dram_root_keeps_the_loop_rule():
    """A spilled intermediate read through another axis under the loop that writes it is still
    refused (fails if Node.dram frees the loops from the original rule)."""
    w = bs.workload(MIXED["qk"][0], m=2, p=2, d=2, e=2)
    leaves = tuple(Leaf(e, None) for e in w.names)
    tree = mapped(w, Node(None, 0, (), (Node("m", 1, ("I",), leaves),), dram=("K",)))
    assert simulate(w, tree)
    with pytest.raises(EinsumError, match="aligned"):
        fusion.evaluate(w, Schedule((tree,)))
    ok = mapped(w, Node(None, 0, (), (Node("m", 1, ("I",), leaves[:2]), leaves[2]), dram=("K",)))
    fusion.evaluate(w, Schedule((ok,)))
    with pytest.raises(EinsumError, match="dram"):
        fusion.evaluate(w, Schedule((replace(ok, dram=("I",)),)))


def test_spill_equals_brute_force():
    """The search with the choice equals brute force over every tree with every set of each
    segment's intermediates through the backing store (treemixed), breakpoint by breakpoint,
    and lowers the curve here (at 3 words: 12 against 13); every breakpoint re-costs and runs
    causally."""
    w = bs.workload(MIXED["shared"][0], m=2, k=1, n=1)
    sol = fused.solve_workload(w, True, UNIFORM, max_depth=1, spill=True)
    ref = [(o, a) for o, a, _ in treemixed.enumerate_workload(w, UNIFORM, max_depth=1)]
    assert frontier(sol) == ref
    checked(w, sol)
    off = [(o, a) for o, a, _ in treemixed.enumerate_workload(w, UNIFORM, max_depth=1,
                                                              spill=False)]
    assert off == frontier(fused.solve_workload(w, True, UNIFORM, max_depth=1))
    assert value_at(ref, 3) < value_at(off, 3)


def test_spilled_searches_keep_the_loop_rule():
    """On qk, spilling K must not let a loop over m hold K's writer and S (fails if a spilled
    search checks loops against the renamed workload)."""
    w = bs.workload(MIXED["qk"][0], m=4, p=4, d=2, e=2)
    checked(w, fused.solve_workload(w, True, max_depth=2, spill=True))


@st.composite
def mixed_chains(draw):
    name = draw(st.sampled_from(sorted(MIXED)))
    texts, ranks = MIXED[name]
    size = {r: draw(st.sampled_from((1, 2, 4))) for r in ranks}
    if "p" in size:
        size["p"] = size["m"]
    return bs.workload(texts, name=name, **size)


@settings(max_examples=12, deadline=None)
@given(mixed_chains(), st.sampled_from([UNIFORM, PER_TENSOR]), st.integers(1, 2))
def test_spill_only_adds_causal_trees(w, mapspace, depth):
    """With the choice the curve is at or below the one without it at every capacity, and
    every breakpoint's tree re-costs to its point and runs element by element causally (both
    without translated loops: spill does not search them)."""
    on = fused.solve_workload(w, True, mapspace, max_depth=depth, spill=True)
    off = frontier(fused.solve_workload(w, True, mapspace, max_depth=depth, translate=False))
    checked(w, on)
    for cap, _ in off:
        assert value_at(frontier(on), cap) <= value_at(off, cap)


def test_dram_obeys_the_loop_rule_in_a_partial_iteration_and_refuses_translated_loops():
    """Merged with imperfect shared tiles and translated loops: a loop in an imperfect tile's
    partial iteration (``rest``) is held to the original loop rule like any other (a loop over
    ``m`` cannot run ``K[m,e]``'s writer and ``S``, which reads it as ``K[p,e]``, even with ``K``
    through the backing store), and ``dram`` with a translated loop is refused (not modelled)."""
    from boundsolver.model.cost import Mapping
    chain = ["K[m,e] += I[m,d] * W[e,d]", "S[m,p] += Q[m,e] * K[p,e]"]
    w = bs.workload(chain, m=2, p=2, e=3, d=2)
    ks = (Leaf("K", Mapping((), ())), Leaf("S", Mapping((), ())))
    fine = Node("e", 2, (), ks, rest=ks)
    fusion.check_schedule(w, Schedule((Node(None, 0, (), (fine,), dram=("K",)),)), imperfect=True)
    bad = Node("e", 2, (), ks, rest=(Node("m", 1, (), ks),))
    with pytest.raises(EinsumError, match="cannot enclose"):
        fusion.check_schedule(w, Schedule((Node(None, 0, (), (bad,), dram=("K",)),)),
                              imperfect=True)
    translated = Node("p", 1, (), ks, via=(("K", "m"),))
    w2 = bs.workload(chain, m=2, p=2, e=2, d=2)
    fusion.check_schedule(w2, Schedule((Node(None, 0, (), (translated,)),)))
    with pytest.raises(EinsumError, match="not modelled with translated loops"):
        fusion.check_schedule(w2, Schedule((Node(None, 0, (), (translated,), dram=("K",)),)))
