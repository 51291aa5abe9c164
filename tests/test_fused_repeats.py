"""Network-scale rules of the fused search (docs/fusion.md, 'Repeated blocks'): segments equal up
to the names of their tensors and ranks are solved once (``TreeSearch.segment_once``), and memo
entries and provenance records that no segment still to be solved reads are dropped
(``TreeSearch.forget``). Each is checked against the search with the rule off, segment by
segment and breakpoint by breakpoint, on random chains of repeated blocks (ResNet's
bottlenecks, a transformer's layers in small), and every breakpoint's rebuilt tree re-costs."""

from __future__ import annotations

import functools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import boundsolver as bs
from boundsolver.curves import fused

# One block, copy k: reads X{k}, writes X{n} (n = k + 1); c{k} is the copy's own rank name
# (so rank renaming is exercised), m and d are shared by all copies.
BLOCKS = {
    "ffn_bias": ["Y{k}[m,c{k}] += X{k}[m,d] * A{k}[d,c{k}]", "U{k}[m,c{k}] += Y{k}[m,c{k}] * b{k}[c{k}]",
                 "X{n}[m,d] += U{k}[m,c{k}] * B{k}[c{k},d]"],
    # the block input is read again at its end: a residual
    "residual": ["Y{k}[m,c{k}] += X{k}[m,d] * A{k}[d,c{k}]", "Z{k}[m,d] += Y{k}[m,c{k}] * B{k}[c{k},d]",
                 "X{n}[m,d] += Z{k}[m,d] * X{k}[m,d]"],
    # s and b are twins (a folded norm's vectors)
    "twins": ["Y{k}[m,c{k}] += X{k}[m,d] * A{k}[d,c{k}]",
              "Z{k}[m,c{k}] += Y{k}[m,c{k}] * s{k}[c{k}] * b{k}[c{k}]",
              "X{n}[m,d] += Z{k}[m,c{k}] * B{k}[c{k},d]"],
}


def repeated(block: str, copies: int, m: int, d: int, c: int, tail: bool = False):
    texts = [t.format(k=k, n=k + 1) for k in range(copies) for t in BLOCKS[block]]
    if tail:  # the first copy's first intermediate read again at the end: written back there
        texts.append(f"O[m,c0] += X{copies}[m,d] * Y0[m,c0] * E[d]")
    return bs.workload(texts, name=block, m=m, d=d, **{f"c{k}": c for k in range(copies)})


@st.composite
def chains(draw):
    block = draw(st.sampled_from(sorted(BLOCKS)))
    copies = draw(st.sampled_from((2, 3)))
    return repeated(block, copies, draw(st.sampled_from((2, 4))), draw(st.sampled_from((1, 2))),
                    draw(st.sampled_from((1, 2))), tail=draw(st.booleans()))


def search(w, depth: int, monkeypatch, **rules):
    """The solved search with the given rules (``repeats``, ``forgetting``) and a sweep at
    every step (so that forgetting runs on small workloads too)."""
    with monkeypatch.context() as m:
        m.setattr(fused, "TreeSearch", functools.partial(fused.TreeSearch, **rules))
        m.setattr(fused.TreeSearch.func, "SWEEP", 0)
        sol = fused.solve_workload(w, True, max_depth=depth)
    return sol, list(zip(sol.frontier.occ.tolist(), sol.frontier.acc.tolist()))


def check_trees(w, sol, curve):
    for occ, acc in curve:  # every breakpoint's rebuilt (renamed) tree reproduces it in integers
        cost = bs.model.fusion.evaluate(w, sol.schedule(occ))
        assert (cost.occupancy, cost.accesses) == (occ, acc)


def segments(w):
    n = len(w.einsums)
    return [(i, j) for i in range(n) for j in fused.connected_runs(w, i, n)]


@settings(max_examples=5, deadline=None)
@given(chains())
def test_repeated_segments_change_no_segment_and_no_curve(w):
    """Every segment's staircase answered by renaming equals its own search's, point by point;
    the workload's curve is the one with the rules off; the renamed trees re-cost (one loop
    level: two take minutes on these chains; test_repeated_blocks_are_solved_once has two)."""
    depth = 1
    with pytest.MonkeyPatch.context() as mp:
        shared, curve = search(w, depth, mp, repeats=True, forgetting=True)
    check_trees(w, shared, curve)
    own = fused.TreeSearch(w, fused.Curves(fused.WORKLOAD_MAPSPACE), depth, repeats=False,
                           forgetting=False)
    reuse = fused.TreeSearch(w, fused.Curves(fused.WORKLOAD_MAPSPACE), depth)
    for i, j in segments(w):
        a, b = reuse.segment_once(i, j), own.segment(i, j)
        assert (a is None) == (b is None)
        if a is not None:
            assert (a.occ, a.acc) == (b.occ, b.acc), (i, j)
    plain = own.whole(True)  # the rules off (its segments already in its memo)
    assert curve == list(zip(plain.occ, plain.acc))


def test_repeated_blocks_are_solved_once(monkeypatch):
    """Three copies of a residual block: the segments inside the later copies are answered by
    renaming (with their own Einsums, ranks and tensors in the rebuilt trees)."""
    w = repeated("residual", 3, 4, 2, 2)
    shared, curve = search(w, 2, monkeypatch, repeats=True, forgetting=False)
    plain, other = search(w, 2, monkeypatch, repeats=False, forgetting=False)
    assert curve == other
    assert shared.search.reused > 0 and plain.search.reused == 0
    assert shared.search.nodes < plain.search.nodes
    check_trees(w, shared, curve)
    renamed = [p for p in shared.search.prov if p and p[0] == "renamed"]
    # segments are solved from the end: a copy earlier is renamed from the one after it
    assert renamed and -3 in {p[2] for p in renamed}


def test_a_segment_written_back_elsewhere_is_another_form():
    """Two copies equal as text, but the first copy's Y0 is read again at the end (so a segment
    over the first copy writes it back, one over the second writes nothing back): different
    forms, and each segment keeps its own staircase (weakening the form to the text alone
    hands the second copy the first one's dearer curve)."""
    w = repeated("ffn_bias", 2, 4, 2, 2, tail=True)
    first, second = fused.segment_form(w, 0, 1), fused.segment_form(w, 3, 4)
    assert first[0][0] == second[0][0]   # the same Einsums up to renaming
    assert first[0] != second[0]         # but Y0 is written back and Y1 is not
    own = fused.TreeSearch(w, fused.Curves(fused.WORKLOAD_MAPSPACE), 2, repeats=False)
    a, b = own.segment(0, 1), own.segment(3, 4)
    assert (a.occ, a.acc) != (b.occ, b.acc)
    reuse = fused.TreeSearch(w, fused.Curves(fused.WORKLOAD_MAPSPACE), 2)
    reuse.segment_once(0, 1)
    c = reuse.segment_once(3, 4)
    assert (c.occ, c.acc) == (b.occ, b.acc)


def test_forgetting_drops_runs_no_later_segment_reads(monkeypatch):
    """Two independent halves (no tensor crosses the cut after the second Einsum): once the
    segments starting in the second half are solved, no memo entry over it survives, records
    are freed, and the curve and its trees are the ones without forgetting."""
    w = bs.workload(["Y[m,c] += X[m,d] * A[d,c]", "Z[m,c] += Y[m,c] * b[c]",
                     "U[m,c] += V[m,d] * C[d,c]", "W[m,c] += U[m,c] * e[c]"],
                    name="halves", m=4, d=2, c=2)
    kept, curve = search(w, 2, monkeypatch, repeats=False, forgetting=True)
    full, other = search(w, 2, monkeypatch, repeats=False, forgetting=False)
    assert curve == other
    check_trees(w, kept, curve)
    assert max(fused._run_end(k) for k in kept.search.memo) == 1
    assert max(fused._run_end(k) for k in full.search.memo) == 3
    assert any(p is None for p in kept.search.prov)
    assert not any(p is None for p in full.search.prov)
