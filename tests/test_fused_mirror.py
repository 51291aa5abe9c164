"""Rank symmetries in the fused search (docs/fusion.md, 'Solving': mirrored states): a node's
state and its mirror image under a symmetry of its segment (a square image's rows and columns,
swapped with a square kernel's) share one memo entry (``TreeSearch.mirrored``). Checked against
the search with the rule off, breakpoint by breakpoint, on random small conv chains (square and
not), every breakpoint's tree rebuilt through the mirror records and re-costed in integers; and
the rule with its symmetry check dropped changes a curve, so the on = off check can fail."""

from __future__ import annotations

import functools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import boundsolver as bs
from boundsolver.curves import fused

# A bottleneck in small: a windowed conv from an input, a folded norm (twin vectors), a 1x1 conv,
# a residual-like product; rows q, columns p, kernel s (rows) and r (columns).
CONV = ["A[c,q,p] += I[e,q+s,p+r] * W0[c,e,s,r]",
        "B[c,q,p] += A[c,q,p] * g[c] * h[c]",
        "C[d,q,p] += B[c,q,p] * W1[d,c]",
        "D[d,q,p] += C[d,q,p] * Z[d,q,p]"]


def conv(q: int, p: int, s: int, r: int, n: int = 4, c: int = 2, d: int = 2):
    return bs.workload(CONV[:n], name="conv", c=c, e=2, q=q, p=p, s=s, r=r,
                       **({"d": d} if n > 2 else {}))


def solve(w, depth: int, mirrors: bool, split: bool = False):
    with pytest.MonkeyPatch.context() as m:
        m.setattr(fused, "TreeSearch", functools.partial(fused.TreeSearch, mirrors=mirrors))
        sol = fused.solve_workload(w, True, max_depth=depth, split_ranks=split)
    return sol, list(zip(sol.frontier.occ.tolist(), sol.frontier.acc.tolist()))


def check_trees(w, sol, curve):
    for occ, acc in curve:  # every breakpoint's rebuilt tree reproduces it in integers
        cost = bs.model.fusion.evaluate(w, sol.schedule(occ))
        assert (cost.occupancy, cost.accesses) == (occ, acc)


@st.composite
def convs(draw):
    q = draw(st.sampled_from((2, 4, 6)))
    p = draw(st.sampled_from((q, q, 2, 4)))  # mostly square
    s = draw(st.sampled_from((1, 2, 3)))
    r = draw(st.sampled_from((s, s, 1, 2)))
    return conv(q, p, s, r, draw(st.sampled_from((2, 3, 4))), draw(st.sampled_from((1, 2, 4))))


@settings(max_examples=8, deadline=None)
@given(convs(), st.sampled_from((1, 2)), st.booleans())
def test_mirrored_states_change_no_curve(w, depth, split):
    on, curve = solve(w, depth, True, split)
    off, other = solve(w, depth, False, split)
    assert curve == other
    assert off.search.mirrored_states == 0
    check_trees(w, on, curve)


def test_mirrors_fire_and_cut_states():
    """A square conv chain: states are answered by their mirror images (fewer loop nodes),
    trees are rebuilt through the mirror records, and each re-costs."""
    w = conv(8, 8, 3, 3)
    on, curve = solve(w, 2, True)
    off, other = solve(w, 2, False)
    assert curve == other
    assert on.search.mirrored_states > 0 and on.search.nodes < off.search.nodes
    assert any(p and p[0] == "mirror" for p in on.search.prov)
    check_trees(w, on, curve)


def test_symmetries_of_a_conv():
    """Rows and columns swap with the kernel's rows and columns, not alone; channels of equal
    size do not swap (the activations hold one of them only); an elementwise Einsum over equal
    sizes swaps any two ranks, but the swap most Einsums share wins."""
    w = conv(4, 4, 3, 3, c=4, d=4)
    sigma = fused.rank_mirror(w)
    assert sigma == {"q": "p", "p": "q", "s": "r", "r": "s"}
    assert fused.is_symmetry(w.einsums, sigma)
    assert not fused.is_symmetry(w.einsums[:1], {"q": "p", "p": "q"})
    assert not fused.is_symmetry(w.einsums[2:3], {"c": "d", "d": "c"})
    assert fused.is_symmetry(w.einsums[3:], {"d": "q", "q": "d"})
    # a kernel of 3 x 1: the conv has no symmetry, the rest keep theirs
    w = conv(4, 4, 3, 1)
    assert fused.mirror_on(w.einsums, fused.rank_mirror(w)) is None
    assert fused.mirror_on(w.einsums[1:], fused.rank_mirror(w)) == {"q": "p", "p": "q"}


def test_a_tensor_permuted_two_ways_is_no_symmetry():
    """X read through the same axes by an Einsum whose ranks do not swap: its axes would be
    permuted in one Einsum and not in the other (dropping the consistency check accepts it)."""
    w = bs.workload(["Y[q,p] += X[q,p]", "Z[a,b] += X[a,b] * v[a]"],
                    q=4, p=4, a=4, b=4)
    assert fused.is_symmetry(w.einsums[:1], {"q": "p", "p": "q"})
    assert not fused.is_symmetry(w.einsums, {"q": "p", "p": "q"})


def test_a_mirror_without_its_symmetry_changes_the_curve(monkeypatch):
    """The rule with its check weakened (a segment takes the candidate swap of rows and
    columns without checking it is a symmetry of its Einsums): a norm with a per-column vector
    ``g[c,p]`` is mirrored as if it had none, and the curve changes, so the on = off check
    above can fail."""
    w = bs.workload(["A[c,q,p] += X[e,q,p] * W0[c,e]", "B[c,q,p] += A[c,q,p] * g[c,p]",
                     "C[d,q,p] += B[c,q,p] * W1[d,c]", "D[d,q,p] += C[d,q,p] * Z[d,q,p]"],
                    c=2, e=2, d=2, q=4, p=4)
    assert fused.rank_mirror(w) == {"q": "p", "p": "q"}  # the convs' swap: a candidate
    assert fused.mirror_on(w.einsums[1:2], fused.rank_mirror(w)) is None
    on, right = solve(w, 2, True)
    _, off = solve(w, 2, False)
    assert right == off and on.search.mirrored_states > 0  # segments past B are
    monkeypatch.setattr(fused, "mirror_on", lambda einsums, sigma: sigma or None)
    _, wrong = solve(w, 2, True)
    assert wrong != off


def test_trees_need_renaming_back(monkeypatch):
    """A mirror record rebuilt without renaming its image's ranks back gives a tree that is
    not one of the state's (its loops tile ranks the state has already cut): refused, so the
    re-costing in the tests above checks the renaming."""
    build = fused.TreeSearch.build

    def unrenamed(self, st, capacity, S=None):
        rec = self.prov[int(st.tag[int(st.at(capacity))])]
        if rec[0] == "mirror":
            return unrenamed(self, rec[1], capacity, rec[2])
        return build(self, st, capacity, S)

    w = conv(8, 8, 3, 3)
    sol, curve = solve(w, 2, True)
    monkeypatch.setattr(fused.TreeSearch, "build", unrenamed)
    with pytest.raises(bs.errors.BoundsolverError):
        for occ, acc in curve:
            cost = bs.model.fusion.evaluate(w, sol.schedule(occ))
            assert (cost.occupancy, cost.accesses) == (occ, acc)
