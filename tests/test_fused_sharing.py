"""The fused search's state-sharing rules (docs/fusion.md, 'Solving') change no curve: a loop
node's kept tensors that its loop does not index are lifted into the resident set of its body,
a child over a run that no open rank may enclose is never tried, without split ranks the
'no child loops over the node's rank' flag is dropped from the memo, and bodies of leaves only
are memoised by their leaves' keys and shifts. Each is checked against
the search with the rules off (``share=False``), breakpoint by breakpoint, on random chains whose
weights and biases are not indexed by the token loop (so the rules have something to share)."""

from __future__ import annotations

import functools
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import boundsolver as bs
from boundsolver.curves import fused

CHAINS = {
    # the token rank m loops over every Einsum; W, A, B and the bias vector are not indexed by it
    "ffn_bias": ["Y[m,c] += X[m,d] * A[d,c]", "U[m,c] += Y[m,c] * b[c]",
                 "Z[m,j] += U[m,c] * B[c,j]"],
    "attention": ["S[m,p] += Q[m,e] * K[p,e]", "P[m,p] = S[m,p]", "Z[m,f] += P[m,p] * V[p,f]"],
    "shared_weight": ["Y[m,c] += X[m,d] * A[d,c]", "Z[m,c] += Y[m,c] * X2[m,d] * A[d,c]"],
    "residual": ["Y[m,d] += X[m,e] * A[e,d]", "Z[m,d] += Y[m,d] * X[m,d]",
                 "O[m,j] += Z[m,d] * B[d,j]"],
    # s and b are twins (read by one Einsum through the same axes): a folded norm's vectors
    "twins": ["Y[m,c] += X[m,d] * A[d,c]", "Z[m,c] += Y[m,c] * s[c] * b[c]",
              "O[m,j] += Z[m,c] * B[c,j]"],
    # only X bridges the cut between the first two Einsums: kept above, it bridges nothing
    "bridge": ["Y[m,d] += X[m,d] * A[d]", "Z[m,d] += P[m,f] * B[f,d]",
               "O[m,d] += Z[m,d] * X[m,d]"],
}


@st.composite
def chains(draw):
    name = draw(st.sampled_from(sorted(CHAINS)))
    texts = CHAINS[name]
    ranks = sorted({c for t in texts for c in t.split("[")[1].split("]")[0].split(",")} |
                   {r for t in texts for part in t.split("[")[2:] for r in part.split("]")[0].split(",")})
    size = {r: draw(st.sampled_from((1, 2, 4))) for r in ranks}
    if "p" in size:
        size["p"] = size["m"]
    if "e" in size and name == "residual":
        size["e"] = size["d"]
    return bs.workload(texts, name=name, **size)


def solve(w, share: bool, depth: int, split: bool, mapspace: str, monkeypatch):
    with monkeypatch.context() as m:
        m.setattr(fused, "TreeSearch", functools.partial(fused.TreeSearch, share=share))
        sol = fused.solve_workload(w, True, mapspace, max_depth=depth, split_ranks=split)
    return sol, list(zip(sol.frontier.occ.tolist(), sol.frontier.acc.tolist()))


@settings(max_examples=40, deadline=None)
@given(chains(), st.sampled_from([1, 2, 3]), st.booleans(),
       st.sampled_from(["per_tensor/perfect", "uniform/perfect"]))
def test_sharing_changes_no_curve(w, depth, split, mapspace):
    with pytest.MonkeyPatch.context() as mp:
        shared, curve = solve(w, True, depth, split, mapspace, mp)
        _, unshared = solve(w, False, depth, split, mapspace, mp)
    assert curve == unshared
    for occ, acc in curve:  # and every breakpoint's rebuilt tree reproduces it in integers
        cost = bs.model.fusion.evaluate(w, shared.schedule(occ))
        assert (cost.occupancy, cost.accesses) == (occ, acc)


def test_lifting_runs_and_shares_states(monkeypatch):
    """On an FFN with a bias at 8 tokens the token loop's bodies keep weights it does not index:
    lifted bodies exist, the search with sharing computes fewer bodies, and the curves agree."""
    w = bs.workload(CHAINS["ffn_bias"], name="ffn_bias", m=8, d=4, c=4, j=4)
    shared, curve = solve(w, True, 2, False, "per_tensor/perfect", monkeypatch)
    plain, unshared = solve(w, False, 2, False, "per_tensor/perfect", monkeypatch)
    assert curve == unshared
    assert shared.search.lifts > 0 and plain.search.lifts == 0
    bodies = [sum(k[0] == "body" for k in s.search.memo) for s in (shared, plain)]
    assert bodies[0] < bodies[1]


# ------------------------------------------------------------------- the same rules on hierarchies

def hier_solve(w, a, share: bool, depth: int, mapspace: str, lazy: bool, monkeypatch):
    from boundsolver.curves import fused_levels

    with monkeypatch.context() as m:
        m.setattr(fused, "TreeSearch", functools.partial(fused.TreeSearch, share=share))
        # inner_storage=False: the patched fused.TreeSearch (PlacedSearch, the default's, is
        # its own class)
        sol = fused_levels.solve_workload(w, a, True, mapspace, max_depth=depth, lazy=lazy,
                                          inner_storage=False)
    return sol, list(zip(sol.frontier.occ.tolist(), map(tuple, sol.frontier.key.tolist())))


@st.composite
def small_hierarchies(draw):
    """A chain of CHAINS at sizes 1-2 (the token rank 2-4) on DRAM, a swept L2 and one or two
    fixed inner levels (sometimes with a fanout)."""
    from boundsolver.model.arch import Arch, Level

    name = draw(st.sampled_from(sorted(CHAINS)))
    texts = CHAINS[name]
    ranks = {r for t in texts for group in re.findall(r"\[([^\]]*)\]", t)
             for r in group.split(",")}
    size = {r: draw(st.sampled_from((1, 2))) for r in ranks} | {"m": draw(st.sampled_from((2, 4)))}
    if "p" in size:
        size["p"] = size["m"]
    if name == "residual":
        size["e"] = size["d"]
    inner = [Level("L1", draw(st.integers(3, 12)), instances=draw(st.sampled_from((1, 2))),
                   multicast=False)]
    if draw(st.booleans()):
        inner.append(Level("L0", draw(st.integers(1, 4)), instances=inner[0].instances,
                           multicast=False))
    a = Arch("t", 8, (Level("DRAM"), Level("L2", sweep=True), *inner))
    return bs.workload(texts, name=name, **size), a


@settings(max_examples=10, deadline=None)
@given(small_hierarchies(), st.sampled_from([1, 2]),
       st.sampled_from([("uniform/perfect", False), ("uniform/perfect", True),
                        ("per_tensor/perfect", True)]))
def test_sharing_changes_no_curve_on_hierarchies(case, depth, leaves):
    """The one search's sharing rules hold for lexicographic keys in totals too (lifting raises
    only the outer level's occupancy: every tensor a node stores lives there, and its fills are
    in the node's own key): rules on = rules off, eager and lazy leaves (per-tensor leaves
    lazily only: traced whole they take minutes); every breakpoint's rebuilt tree re-costs to
    its key."""
    w, a = case
    mapspace, lazy = leaves
    with pytest.MonkeyPatch.context() as mp:
        try:
            shared, curve = hier_solve(w, a, True, depth, mapspace, lazy, mp)
        except bs.BoundsolverError as error:  # nothing fits the fixed levels: both say so
            with pytest.raises(bs.BoundsolverError, match="fits"):
                hier_solve(w, a, False, depth, mapspace, lazy, mp)
            assert "fits" in str(error)
            return
        _, unshared = hier_solve(w, a, False, depth, mapspace, lazy, mp)
    assert curve == unshared
    for occ, key in curve:
        cost = bs.model.fusion_levels.evaluate(w, shared.schedule(occ), a)
        assert (cost.occupancy[0], (cost.dram, *cost.accesses[1:])) == (occ, key)


def test_lifting_runs_on_hierarchies(monkeypatch):
    """FFN with a bias at 4 tokens on a three-level arch: lifted bodies exist there too, fewer
    bodies are computed, and the curves agree."""
    from boundsolver.model.arch import Arch, Level

    w = bs.workload(CHAINS["ffn_bias"], name="ffn_bias", m=4, d=2, c=2, j=2)
    a = Arch("t", 8, (Level("DRAM"), Level("L2", sweep=True), Level("L1", 8)))
    shared, curve = hier_solve(w, a, True, 2, "uniform/perfect", False, monkeypatch)
    plain, unshared = hier_solve(w, a, False, 2, "uniform/perfect", False, monkeypatch)
    assert curve == unshared
    assert shared.search.lifts > 0 and plain.search.lifts == 0
    bodies = [sum(k[0] == "body" for k in s.search.memo) for s in (shared, plain)]
    assert bodies[0] < bodies[1]


# ------------------------------------------------------- a leaf-only body's steps, computed once

def handed_keys(w, depth: int, share: bool) -> list:
    """Every (resident set, tiles) a leaf-only body handed to ``leaf``, beside what ``leaf``
    derives itself; and asserts the curve is the one with the sharing rules off."""
    handed = []
    real = fused.TreeSearch.leaf

    def leaf(self, x, S, R, tiles=None):
        if tiles is not None:
            own = frozenset(T.name for T in self.workload.einsums[x].tensors)
            handed.append((R, tiles, R & own, tuple(S[k] for k in self.used(x, R & own))))
        return real(self, x, S, R, tiles)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fused.TreeSearch, "leaf", leaf)
        _, curve = solve(w, share, depth, False, "per_tensor/perfect", mp)
        _, other = solve(w, not share, depth, False, "per_tensor/perfect", mp)
    assert curve == other
    return handed


@settings(max_examples=25, deadline=None)
@given(chains(), st.sampled_from([1, 2]), st.booleans())
def test_leaf_only_body_hands_each_leaf_its_own_key(w, depth, share):
    """A body of leaves only computes each step's resident set and leaf key once (for its memo
    key) and hands them to :meth:`TreeSearch.leaf`: each must be what ``leaf`` derives from the
    tiles and the resident set itself (the Einsum's own tensors; the tiles of the ranks
    :meth:`TreeSearch.used` names), and the curve is the one with the sharing rules off."""
    handed = handed_keys(w, depth, share)
    assert all((R, tiles) == (own, derived) for R, tiles, own, derived in handed)


def test_leaf_only_bodies_are_reached():
    """The property above is not vacuous: on an FFN with a bias at 8 tokens the token loop's
    bodies at full depth are leaves only, and every one hands its leaves their keys."""
    w = bs.workload(CHAINS["ffn_bias"], name="ffn_bias", m=8, d=4, c=4, j=4)
    handed = handed_keys(w, 2, True)
    assert handed
    assert all((R, tiles) == (own, derived) for R, tiles, own, derived in handed)


# ------------------------------------------------- twins and runs that only resident tensors bridge

def test_kept_sets_keep_a_prefix_of_twins():
    """Of twins only the first k among the candidates are kept (each k once); other candidates
    in every combination; without the sharing rules every subset."""
    w = bs.workload(CHAINS["twins"], name="twins", m=4, d=2, c=2, j=2)
    search = fused.TreeSearch(w, fused.Curves(fused.workload_mapspace(None)))
    assert fused.twin_classes(w).keys() == {"s", "b"}
    assert search.kept_sets(["A", "b", "s"]) == [(), ("A",), ("b",), ("A", "b"), ("b", "s"),
                                                 ("A", "b", "s")]
    assert search.kept_sets(["s"]) == [(), ("s",)]  # the other twin resident or kept above
    plain = fused.TreeSearch(w, fused.Curves(fused.workload_mapspace(None)), share=False)
    assert len(plain.kept_sets(["A", "b", "s"])) == 8


def test_twin_classes_need_the_same_users_and_axes():
    w = bs.workload(["Y[m,c] += X[m,c] * s[c] * b[c] * t[m]", "Z[m,c] += Y[m,c] * u[c]"],
                    m=2, c=2)
    assert fused.twin_classes(w) == {"s": ((0, "c"),), "b": ((0, "c"),)}


def test_bridged_ignores_resident_tensors():
    """On the bridge chain the cut between its first two Einsums is bridged by X alone."""
    w = bs.workload(CHAINS["bridge"], name="bridge", m=2, d=2, f=2)
    search = fused.TreeSearch(w, fused.Curves(fused.workload_mapspace(None)))
    assert search.bridged(0, 2, frozenset()) and search.bridged(1, 2, frozenset({"X"}))
    assert not search.bridged(0, 2, frozenset({"X"})) and not search.bridged(0, 1, frozenset({"X"}))
    assert not search.bridged(0, 1, frozenset())  # Y, A and P, B: nothing used on both sides


@pytest.mark.parametrize("name, sizes", [("twins", dict(m=4, d=2, c=2, j=2)),
                                         ("bridge", dict(m=4, d=2, f=2))])
def test_twin_and_bridge_rules_cut_states(name, sizes, monkeypatch):
    """The rules fire on their chains: fewer loop nodes are built, the curve is the same."""
    w = bs.workload(CHAINS[name], name=name, **sizes)
    shared, curve = solve(w, True, 2, False, "per_tensor/perfect", monkeypatch)
    plain, unshared = solve(w, False, 2, False, "per_tensor/perfect", monkeypatch)
    assert curve == unshared
    assert shared.search.nodes < plain.search.nodes


def _weakened_twins(self, cands):
    """Twins never kept beyond the first (k = 0 or 1): not exact."""
    twins = [T for T in cands if T in self._twins]
    return [K for K in fused.subsets(cands) if len([T for T in K if T in twins]) <= 1]


def _weakened_bridge(self, x, y, R):
    """Inputs never bridge a cut: not exact."""
    made = {e.output.name for e in self.workload.einsums}
    return fused.bridged(self.workload.einsums[x:y + 1], R | (self.run(x, y)[1] - made))


@pytest.mark.parametrize("name, sizes, attr, weak", [
    ("twins", dict(m=4, d=2, c=4, j=2), "kept_sets", _weakened_twins),
    ("bridge", dict(m=4, d=4, f=2), "bridged", _weakened_bridge)])
def test_a_weakened_rule_changes_the_curve(name, sizes, attr, weak, monkeypatch):
    """The on = off check can fail: each rule with its precondition dropped (all twins treated
    as one; inputs treated as resident) loses breakpoints of the exact curve on its chain."""
    w = bs.workload(CHAINS[name], name=name, **sizes)
    _, exact = solve(w, False, 2, False, "per_tensor/perfect", monkeypatch)
    with monkeypatch.context() as mp:
        mp.setattr(fused.TreeSearch, attr, weak)
        _, weakened = solve(w, True, 2, False, "per_tensor/perfect", mp)
    assert weakened != exact
