"""A loop option's Einsum-by-Einsum floor (``TreeSearch.floor``) is checked only under the
incumbent bar unless ``option_floor`` is set (docs/fusion.md, 'Solving': per-option work): a skip
rule, so with it or without it every point is the same; checked breakpoint by breakpoint on
random conv and residual chains (every breakpoint's tree re-costed), and the check, where on,
does skip options the cheap bound kept (so the comparison compares something)."""

from __future__ import annotations

import functools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import boundsolver as bs
from boundsolver.curves import fused

# A bottleneck in small (as tests/test_fused_mirror.py), and a residual chain
CONV = ["A[c,q,p] += I[e,q+s,p+r] * W0[c,e,s,r]", "B[c,q,p] += A[c,q,p] * g[c] * h[c]",
        "C[d,q,p] += B[c,q,p] * W1[d,c]", "D[d,q,p] += C[d,q,p] * Z[d,q,p]"]
RESIDUAL = ["Y[m,d] += X[m,e] * A[e,d]", "Z[m,d] += Y[m,d] * X[m,d]",
            "O[m,j] += Z[m,d] * B[d,j]"]


def solve(w, depth: int, on: bool, split: bool = False):
    with pytest.MonkeyPatch.context() as m:
        m.setattr(fused, "TreeSearch", functools.partial(fused.TreeSearch, option_floor=on))
        sol = fused.solve_workload(w, True, max_depth=depth, split_ranks=split)
    return sol, list(zip(sol.frontier.occ.tolist(), sol.frontier.acc.tolist()))


@st.composite
def chains(draw):
    if draw(st.booleans()):
        q = draw(st.sampled_from((2, 4, 6)))
        n = draw(st.sampled_from((2, 3, 4)))
        return bs.workload(CONV[:n], name="conv", q=q, p=draw(st.sampled_from((q, 2, 4))),
                           s=draw(st.sampled_from((1, 2, 3))), r=draw(st.sampled_from((1, 2))),
                           c=draw(st.sampled_from((1, 2, 4))), e=2,
                           **({"d": draw(st.sampled_from((1, 2)))} if n > 2 else {}))
    d = draw(st.sampled_from((1, 2, 4)))
    return bs.workload(RESIDUAL, name="residual", m=draw(st.sampled_from((2, 4, 8))), d=d, e=d,
                       j=draw(st.sampled_from((1, 2))))


@settings(max_examples=10, deadline=None)
@given(chains(), st.sampled_from((1, 2)), st.booleans())
def test_the_option_floor_changes_no_curve(w, depth, split):
    on, curve = solve(w, depth, True, split)
    off, other = solve(w, depth, False, split)
    assert curve == other
    assert off.search.skipped <= on.search.skipped
    for occ, acc in curve:  # every breakpoint's rebuilt tree reproduces it in integers
        cost = bs.model.fusion.evaluate(w, off.schedule(occ))
        assert (cost.occupancy, cost.accesses) == (occ, acc)


def test_the_option_floor_skips_options_where_on():
    w = bs.workload(CONV, name="conv", q=8, p=8, s=3, r=3, c=4, e=2, d=4)
    on, curve = solve(w, 2, True)
    off, other = solve(w, 2, False)
    assert curve == other
    assert on.search.skipped > off.search.skipped
