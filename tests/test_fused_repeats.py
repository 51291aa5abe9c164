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


# Blocks whose segments hold translated loops (K's producer read through another rank name,
# fused.translations), copy k with its own tensors; copies share no tensor, so each is a
# connected region of its own and the search sweeps at every border between them.
TRANSLATED = {
    "kp": ["K{k}[m,e] += I{k}[m,d] * W{k}[e,d]", "S{k}[m,p] += Q{k}[m,e] * K{k}[p,e]"],
    "kv": ["K{k}[m,e] += I{k}[m,d] * W{k}[e,d]", "S{k}[m,p] += Q{k}[m,e] * K{k}[p,e]",
           "Z{k}[m,e] += S{k}[m,p] * V{k}[p,e]"],
    "qk": ["Q{k}[m,e] += J{k}[m,d] * U{k}[e,d]", "K{k}[m,e] += I{k}[m,d] * W{k}[e,d]",
           "S{k}[m,p] += Q{k}[m,e] * K{k}[p,e]"],
}


@st.composite
def translated_chains(draw):
    kinds = draw(st.lists(st.sampled_from(sorted(TRANSLATED)), min_size=2, max_size=3))
    texts = [t.format(k=k) for k, kind in enumerate(kinds) for t in TRANSLATED[kind]]
    m, e, d = draw(st.sampled_from((2, 4))), draw(st.sampled_from((1, 2))), 2
    return bs.workload(texts, name="+".join(kinds), m=m, p=m, e=e, d=d)


def renamed_searches(sol) -> list:
    return [*sol.search._translated.values(), *sol.search._spilled.values()]


def check_forgetting(w, monkeypatch, **opts):
    """The search with forgetting (a sweep at every region border) against the one without: the
    same curve breakpoint by breakpoint, every breakpoint's tree rebuilt from the kept records
    (those of the renamed searches included) and re-costed in integers, and the same loop
    nodes solved in every search (a memo entry dropped that a later segment reads is solved
    again: more nodes). The renamed searches were swept: records freed there too."""
    def solve(forgetting: bool):
        with monkeypatch.context() as mp:
            mp.setattr(fused, "TreeSearch", functools.partial(fused.TreeSearch,
                                                              forgetting=forgetting))
            mp.setattr(fused.TreeSearch.func, "SWEEP", 0)
            return fused.solve_workload(w, True, max_depth=1, **opts)
    on, off = solve(True), solve(False)
    curve = list(zip(on.frontier.occ.tolist(), on.frontier.acc.tolist()))
    assert curve == list(zip(off.frontier.occ.tolist(), off.frontier.acc.tolist()))
    check_trees(w, on, curve)
    assert on.search.nodes == off.search.nodes
    subs_on, subs_off = renamed_searches(on), renamed_searches(off)
    assert subs_on and [s.nodes for s in subs_on] == [s.nodes for s in subs_off]
    assert any(p is None for s in subs_on for p in s.prov)
    assert not any(p is None for s in subs_off for p in s.prov)
    return on


@settings(max_examples=6, deadline=None)
@given(translated_chains())
def test_forgetting_sweeps_the_translated_searches(w):
    """Translated loops on (the default): each renaming's search is swept once no segment
    left asks it (TreeSearch.retire) and with the main one at region borders (sweep), changing
    no curve and no tree. Mutations caught: a renaming's memo dropped one start too early, or
    past one Einsum short of the segments left (nodes solved again); its records freed without
    the main search's boxed staircases as roots, or the records unboxed (a rebuilt tree breaks
    or no record is freed)."""
    with pytest.MonkeyPatch.context() as mp:
        on = check_forgetting(w, mp, mapspace="uniform/perfect")
    assert on.search._translated and not on.search._spilled
    last_region = fused.regions(w)[0][1]  # the search ends in the first region: all swept past it
    for sub in renamed_searches(on):
        assert all(fused._run_end(k) <= last_region for k in sub.memo)


def spill_chain(copies: int) -> bs.Workload:
    """Copies of a block with two intermediates, no tensor shared between copies (a region
    each)."""
    texts = [t.format(k=k) for k in range(copies) for t in (
        "Y{k}[m,c] += X{k}[m,d] * A{k}[d,c]", "Z{k}[m,c] += Y{k}[m,c] * b{k}[c]",
        "Q{k}[m,c] += Z{k}[m,c] * Y{k}[m,c]")]
    return bs.workload(texts, name="spill_chain", m=4, d=2, c=2)


def test_forgetting_sweeps_the_spilled_searches(monkeypatch):
    """``spill=True``: each spilled set's search is swept with the main one at region borders,
    its records kept from the main search's spilled records; the curve, the trees and the
    nodes solved are the ones without forgetting."""
    on = check_forgetting(spill_chain(3), monkeypatch, spill=True)
    assert on.search._spilled and not on.search._translated


def own_reach(search, roots) -> set:
    """The provenance records ``roots`` reach through this search's own tags: a record's
    staircases are followed, except a spilled or translated record's, whose tags index its
    renamed search's provenance (what TreeSearch.collect must keep, and no more)."""
    live, stack, seen = {0}, [st for st in roots if st is not None], set()
    while stack:
        st = stack.pop()
        if id(st) not in seen:
            seen.add(id(st))
            for t in map(int, st.tag):
                rec = search.prov[t]
                if t not in live and rec[0] not in ("spilled", "translated"):
                    stack.extend(x for x in rec if isinstance(x, fused.Stairs))
                live.add(t)
    return live


def test_a_spilled_staircase_is_collected_by_its_own_search():
    """A spilled search's staircase, held by a spilled record, has tags into that search's
    provenance: the main search's collect must not read them as its own. Unboxed (before),
    collect followed them through the main provenance and kept records nothing reaches (here;
    a tag past the main provenance's end, or at a freed slot, would raise).
    Every breakpoint's tree is rebuilt after collecting, and re-costs."""
    w = spill_chain(2)
    s = fused.TreeSearch(w, fused.Curves(fused.WORKLOAD_MAPSPACE), 1, spill=True,
                         forgetting=False)
    front = s.solve(True)
    assert any(p[0] == "spilled" for p in s.prov)
    want = own_reach(s, [front])
    s.collect([front])
    assert {t for t, p in enumerate(s.prov) if p is not None} == want
    for occ, acc in zip(front.occ, front.acc):
        cost = bs.model.fusion.evaluate(w, bs.model.fusion.Schedule(tuple(s.build(front, occ))))
        assert (cost.occupancy, cost.accesses) == (occ, acc)
