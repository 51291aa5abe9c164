"""The incumbent bar of the fused search (``TreeSearch.segment_beaten``; issue 22, speed at
network scale): a loop option of a segment's whole-run loop whose lower bounds the workload's
curve from shorter first segments already beats is skipped. The workload's curve must be the
one with the bar off, breakpoint by breakpoint, with every breakpoint's tree re-costed in
integers, on random chains (attention, residual and bias chains, repeated blocks); the bar must
fire; and a bar that takes the traffic after the segment at its most (not its least) skips
options that reach the curve, and changes it."""

from __future__ import annotations

import functools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import boundsolver as bs
from boundsolver.curves import fused

from test_fused_repeats import repeated
from test_fused_speed import CHAINS, ranks_of


@st.composite
def chains(draw):
    """A chain of test_fused_speed (sizes drawn) or of repeated blocks (test_fused_repeats)."""
    if draw(st.booleans()):
        return repeated(draw(st.sampled_from(["ffn_bias", "residual", "twins"])), 2,
                        draw(st.sampled_from((2, 4))), draw(st.sampled_from((1, 2))),
                        draw(st.sampled_from((1, 2))), tail=draw(st.booleans()))
    name = draw(st.sampled_from(sorted(CHAINS)))
    size = {r: draw(st.sampled_from((1, 2, 4))) for r in ranks_of(CHAINS[name])}
    size |= {"m": draw(st.sampled_from((2, 4, 8)))}
    if "p" in size:
        size["p"] = size["m"]
    if name == "residual":
        size["e"] = size["d"]
    return bs.workload(CHAINS[name], name=name, **size)


def solve(w, depth: int, mapspace: str, **rules):
    with pytest.MonkeyPatch.context() as m:
        m.setattr(fused, "TreeSearch", functools.partial(fused.TreeSearch, **rules))
        sol = fused.solve_workload(w, True, mapspace, max_depth=depth)
    return sol, list(zip(sol.frontier.occ.tolist(), sol.frontier.acc.tolist()))


def check_trees(w, sol, curve):
    for occ, acc in curve:
        cost = bs.model.fusion.evaluate(w, sol.schedule(occ))
        assert (cost.occupancy, cost.accesses) == (occ, acc)


@settings(max_examples=30, deadline=None)
@given(chains(), st.sampled_from([1, 2]), st.sampled_from(["per_tensor/perfect",
                                                          "uniform/perfect"]))
def test_the_bar_changes_no_curve(w, depth, mapspace):
    on, curve = solve(w, depth, mapspace, incumbent=True)
    off, other = solve(w, depth, mapspace, incumbent=False)
    assert curve == other
    assert off.search.beaten == 0
    check_trees(w, on, curve)


# Attention at these sizes: the bar skips loop options of long segments
ATTENTION = dict(m=8, p=8, d=4, e=2)


def test_the_bar_fires_and_saves_bodies():
    w = bs.workload(CHAINS["attention"], name="attention", **ATTENTION)
    on, curve = solve(w, 2, "per_tensor/perfect", incumbent=True)
    off, other = solve(w, 2, "per_tensor/perfect", incumbent=False)
    assert curve == other
    assert on.search.beaten > 0
    assert on.search.nodes < off.search.nodes
    check_trees(w, on, curve)


def test_a_bar_that_takes_the_rest_at_its_most_changes_the_curve(monkeypatch):
    """The bar may add only the least traffic of the best cut after the segment (its last
    point): a point of the segment is added to ``after`` at the segment's occupancy or more,
    where ``after`` can be as low as that. Adding its most (its first point) skips options
    that reach the curve."""
    w = bs.workload(CHAINS["attention"], name="attention", **ATTENTION)
    _, exact = solve(w, 2, "per_tensor/perfect", incumbent=False)
    real = fused.TreeSearch.segment_beaten

    def most(self, i, j, incumbent, after):
        if after is not None:
            after = fused.Stairs(after.occ[:1], after.acc[:1], after.tag[:1])
        return real(self, i, j, incumbent, after)

    monkeypatch.setattr(fused.TreeSearch, "segment_beaten", most)
    _, weak = solve(w, 2, "per_tensor/perfect", incumbent=True)
    assert weak != exact


# ------------------------------------------------ leaves that differ by ranks of size 1 share a trace

def drop_units(e):
    """``e`` without its ranks of size 1 (built by hand, not by fused.without_unit_ranks)."""
    from boundsolver.model.einsum import Einsum, Tensor
    keep = [(r, n) for r, n in e.sizes if n > 1] or list(e.sizes)
    names = {r for r, _ in keep}
    cut = lambda T: Tensor(T.name, tuple(a for a in T.axes if a.terms[0].rank in names))  # noqa
    return Einsum(cut(e.output), tuple(cut(T) for T in e.inputs), tuple(keep), e.name)


@settings(max_examples=200, deadline=None)
@given(__import__("test_fused_speed").leaves(), st.sampled_from(["per_tensor/perfect",
                                                                 "uniform/perfect"]))
def test_a_leaf_with_unit_ranks_has_the_trace_without_them(case, mapspace):
    """The fast path's trace of a leaf is the staircase of its reduced problem itself, traced
    on its own (with its ranks of size 1); its key is the canonical form of the reduced
    problem without them; and each point's mapping, expanded, re-costs on the sub-problem."""
    from boundsolver.model import fusion
    from boundsolver.model.cost import evaluate
    e, tiles, resident = case
    sub = fusion.sub_problem(e, tiles)
    red, _, _ = fusion.reduced(sub, resident)
    if red is None:
        return
    ms = fused.workload_mapspace(mapspace)
    curves = fused.Curves(ms)
    c = curves.curve(e, tiles, resident)
    own = fused.Curves(ms, renamed=False, unit_ranks=False)._trace(red)
    dummies = curves._shape(e, resident).dummies
    assert c.occ.tolist() == [o - dummies for o in own.occ]
    assert c.acc.tolist() == [a - dummies for a in own.acc]
    assert list(curves.traced) == [fused.canonical_form(drop_units(red))[0]]
    for i in range(len(c.occ)):
        cost = evaluate(sub, c.mapping(i))
        assert cost.occupancy >= 0 and cost.accesses >= 0


@settings(max_examples=20, deadline=None)
@given(chains(), st.sampled_from([1, 2]))
def test_unit_ranks_left_out_change_no_curve(w, depth):
    with pytest.MonkeyPatch.context() as m:
        m.setattr(fused, "Curves", functools.partial(fused.Curves, unit_ranks=False))
        off = fused.solve_workload(w, True, max_depth=depth)
    on, curve = solve(w, depth, "per_tensor/perfect")
    assert curve == list(zip(off.frontier.occ.tolist(), off.frontier.acc.tolist()))
    assert on.traced <= off.traced
    check_trees(w, on, curve)
