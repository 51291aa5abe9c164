"""A solved search lets go of what only the search needed (``TreeSearch.release``): the memo,
the per-state tables and every provenance record the frontier's trees do not reach, here and in
the renamed searches (translated loops, spilled intermediates). Checked against the trees
rebuilt before the release, breakpoint by breakpoint, each re-costed in integers; and the
objects left for the cyclic collector to walk are far fewer (why it matters: docs/fusion.md,
'Per-option work, and the collector')."""

from __future__ import annotations

import gc

import pytest
from hypothesis import given, settings

import boundsolver as bs
from boundsolver.curves import fused
from test_fused_repeats import TRANSLATED, chains, renamed_searches


def trees(w, sol) -> list:
    """Every breakpoint's rebuilt schedule, checked against its point in integers."""
    out = []
    for occ, acc in zip(sol.frontier.occ.tolist(), sol.frontier.acc.tolist()):
        schedule = sol.schedule(occ)
        cost = bs.model.fusion.evaluate(w, schedule)
        assert (cost.occupancy, cost.accesses) == (occ, acc)
        out.append(schedule)
    return out


def check_release(w, **opts):
    sol = fused.solve_workload(w, True, workers=1, **opts)
    before = trees(w, sol)
    records = sum(p is not None for p in sol.search.prov)
    sol.search.release([sol.frontier])
    assert not sol.search.memo
    assert sum(p is not None for p in sol.search.prov) < records
    assert trees(w, sol) == before  # the same trees, rebuilt from the records kept
    for sub in renamed_searches(sol):
        assert not sub.memo
    return sol


@settings(max_examples=6, deadline=None)
@given(chains())
def test_release_keeps_every_breakpoints_tree(w):
    """Repeated blocks (renamed segments, twins, residuals): the same trees after the
    release. Mutation caught: records freed without the frontier as a root (a rebuilt tree
    reads a freed record)."""
    check_release(w, max_depth=2)


def test_release_keeps_the_translated_searches_trees():
    """Translated loops: their searches' records are kept where the main search's records box
    their staircases, and their memos go too."""
    texts = [t.format(k=k) for k, kind in enumerate(["kv", "qk"]) for t in TRANSLATED[kind]]
    w = bs.workload(texts, name="kv+qk", m=4, p=4, e=2, d=2)
    sol = check_release(w, mapspace="uniform/perfect", max_depth=2)
    assert renamed_searches(sol)


def test_release_keeps_the_spilled_searches_trees():
    w = bs.workload(["Y[m,c] += X[m,d] * A[d,c]", "Z[m,c] += Y[m,c] * b[c]",
                     "O[m,e] += Z[m,c] * B[c,e] * Y[m,c]"], name="spill", m=4, d=2, c=2, e=2)
    sol = check_release(w, spill=True, max_depth=2)
    assert sol.search._spilled


def test_release_leaves_the_collector_little_to_walk():
    """On a chain whose search holds tens of thousands of objects, the release leaves a small
    fraction of them tracked by the cyclic collector."""
    w = bs.workload(["Y[m,c] += X[m,d] * A[d,c]", "Z[m,c] += Y[m,c] * s[c] * b[c]",
                     "U[m,e] += Z[m,c] * B[c,e]", "V[m,e] += U[m,e] * t[e] * u[e]"],
                    name="norms", m=16, d=8, c=8, e=8)
    gc.collect()
    base = len(gc.get_objects())
    sol = fused.solve_workload(w, True, workers=1)
    held = len(gc.get_objects()) - base
    sol.search.release([sol.frontier])
    gc.collect()
    left = len(gc.get_objects()) - base
    assert held > 20_000 and left < held / 4, (held, left)


@pytest.mark.parametrize("fn", [fused.workload_frontier, fused.workload_curve])
def test_frames_release_the_search(fn, monkeypatch):
    """workload_frontier and workload_curve rebuild their rows after the release."""
    released = []
    real = fused.TreeSearch.release
    monkeypatch.setattr(fused.TreeSearch, "release",
                        lambda self, roots: released.append(self) or real(self, roots))
    w = bs.workload(["Y[m,c] += X[m,d] * A[d,c]", "Z[m,c] += Y[m,c] * b[c]"], m=4, d=2, c=2)
    args = (w,) if fn is fused.workload_frontier else (w, [1, 8, 64])
    df = fn(*args, workers=1)  # each row's schedule is re-costed in integers (fused._row)
    assert released and len(df) > 0
    front = fused.solve_workload(w, True, workers=1).frontier
    for _, row in df[df["status"] == "optimal"].iterrows():
        assert row["accesses"] == front.acc[front.at(row["occupancy"])]
