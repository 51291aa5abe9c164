"""Loop nodes with lifted kept sets (``TreeSearch._loop_lifting``: each kept set split once per
candidate list into its lifted part and the rest, the lifted body looked up under the key
``body`` makes, its raise recorded only for the options that survive) try the same options and
give the same curves as the general loop, breakpoint by breakpoint, with every breakpoint's
rebuilt tree re-costed in integers; on one buffer (random chains with weights, twin vectors and
residuals, both inner mapspaces, one to three loop levels, translated loops) and on a
hierarchy."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import boundsolver as bs
from boundsolver.curves import fused
from test_fused_repeats import chains as repeated_chains
from test_fused_sharing import chains as sharing_chains


def solve(w, on: bool, **opts):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fused.TreeSearch, "kept_parts", on)
        sol = fused.solve_workload(w, True, workers=1, **opts)
    s = sol.search
    return sol, list(zip(sol.frontier.occ.tolist(), sol.frontier.acc.tolist())), (s.nodes, s.lifts)


def check(w, **opts):
    sol, curve, counts = solve(w, True, **opts)
    _, general, general_counts = solve(w, False, **opts)
    assert curve == general
    assert counts == general_counts  # the same loop options tried, the same bodies lifted
    for occ, acc in curve:
        cost = bs.model.fusion.evaluate(w, sol.schedule(occ))
        assert (cost.occupancy, cost.accesses) == (occ, acc)
    return counts


@settings(max_examples=25, deadline=None)
@given(sharing_chains(), st.sampled_from([1, 2, 3]),
       st.sampled_from(["per_tensor/perfect", "uniform/perfect"]))
def test_kept_parts_change_no_curve(w, depth, mapspace):
    check(w, mapspace=mapspace, max_depth=depth)


@settings(max_examples=6, deadline=None)
@given(repeated_chains())
def test_kept_parts_change_no_curve_on_repeated_blocks(w):
    """Twins (a norm's vectors), residuals, repeated blocks answered by renaming."""
    check(w, max_depth=2)


def test_kept_parts_run_on_a_bottleneck_with_twins():
    """A row loop over a conv, a norm with four twin vectors and a conv: lifted kept sets."""
    w = bs.workload(["Y[c,q] += X[k,q] * A[c,k]",
                     "Z[c,q] += Y[c,q] * s[c] * b[c] * m[c] * v[c]",
                     "U[k,q] += Z[c,q] * B[k,c]"], name="bottleneck", k=4, c=2, q=8)
    nodes, lifts = check(w, max_depth=2)
    assert lifts > 0


@pytest.mark.parametrize("inner_storage", [False, True])
def test_kept_parts_change_no_curve_on_a_hierarchy(inner_storage):
    """The lexicographic arithmetic (fused_levels.Lex) takes the same path where nothing is
    placed in inner levels; with tree tiles in inner levels (placements) the general loop runs
    either way."""
    from boundsolver.curves import fused_levels
    from boundsolver.model.arch import Arch, Level

    w = bs.workload(["Y[m,c] += X[m,d] * A[d,c]", "Z[m,c] += Y[m,c] * s[c] * b[c]",
                     "U[m,e] += Z[m,c] * B[c,e]"], name="norm", m=4, d=2, c=2, e=2)
    a = Arch("t", 8, (Level("DRAM"), Level("L2", sweep=True), Level("L1", 8)))
    out = []
    for on in (True, False):
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(fused.TreeSearch, "kept_parts", on)
            sol = fused_levels.solve_workload(w, a, True, "uniform/perfect", max_depth=2,
                                              inner_storage=inner_storage)
        out.append((sol.search.nodes, sol.search.lifts, sol.frontier.occ.tolist(),
                    sol.frontier.key.tolist()))
    assert out[0] == out[1]
    assert out[0][1] > 0 or inner_storage
    front = fused_levels.workload_frontier(w, a, mapspace="uniform/perfect", max_depth=2,
                                           inner_storage=inner_storage)
    assert len(front) == len(out[0][2])  # every row rebuilt and re-costed
