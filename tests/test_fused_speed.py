"""The fused search's shortcuts that change no curve (curves/fused.py; issue 23, speed).

``Curves`` finds a leaf's trace by the canonical key of its reduced problem computed from the
shape and the tiles alone (``canonical_key``), never building the sub-problem or the reduced
problem: it must give the key and the renamings that :func:`canonical_form` gives the problem
built the slow way (``fusion.sub_problem`` then ``fusion.reduced``), on random Einsums, tiles and
resident sets, including the rank order ``sub_problem`` changes when it cuts a rank (ties
between interchangeable ranks follow it)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import boundsolver as bs
from boundsolver.curves import fused
from boundsolver.model import fusion
from boundsolver.model.einsum import Axis, Einsum, Tensor, Term
from boundsolver.model.mapspace import divisors


def tensor(name: str, ranks) -> Tensor:
    return Tensor(name, tuple(Axis((Term(r),)) for r in ranks))


@st.composite
def leaves(draw, ranks=("a", "b", "c", "d")):
    """An Einsum of plain axes (1-3 inputs, ranks in drawn orders, sizes with ties), tiles that
    divide its sizes, and a resident subset of its tensors."""
    size = {r: draw(st.sampled_from((1, 2, 4, 6))) for r in ranks}
    n_in = draw(st.integers(1, 3))
    ins = [tuple(draw(st.permutations(ranks)))[:draw(st.integers(0, len(ranks)))]
           for _ in range(n_in)]
    used = {r for t in ins for r in t}
    if not used:
        ins[0], used = (ranks[0],), {ranks[0]}
    out = tuple(r for r in draw(st.permutations(ranks)) if r in used)[:draw(st.integers(0, 3))]
    order = [r for r in draw(st.permutations(ranks)) if r in used]  # the Einsum's own order
    e = Einsum(tensor("Y", out), tuple(tensor(f"X{i}", t) for i, t in enumerate(ins)),
               tuple((r, size[r]) for r in order), "e")
    tiles = {r: draw(st.sampled_from(divisors(n))) for r, n in e.sizes}
    resident = frozenset(T.name for T in e.tensors if draw(st.booleans()))
    return e, tiles, resident


@settings(max_examples=400, deadline=None)
@given(leaves())
def test_the_key_without_the_problem_is_canonical_forms(case):
    e, tiles, resident = case
    red, _, _ = fusion.reduced(fusion.sub_problem(e, tiles), resident)
    curves = fused.Curves(fused.workload_mapspace(None), unit_ranks=False)
    shape = curves._shape(e, resident)
    if red is None:
        assert shape is None
        return
    key, problem, ranks, tensors = fused.canonical_form(red)
    c = curves.curve(e, tiles, resident)  # the fast path, as the search calls it
    assert list(curves.traced) == [key] and c.traced is curves.traced[key]
    assert (c.ranks, c.tensors) == (ranks, tensors)
    inputs, output, cut, whole = shape.form
    order = cut if any(tiles[r] != n for r, n in e.sizes) else whole
    assert [r for r, _ in red.sizes] == list(order)  # the order ties follow is red's own
    assert fused.canonical_problem(key) == problem


# ------------------------------------------- memo entries shared between segments (TreeSearch.view)

CHAINS = {
    # GPT-3's attention head at small sizes: V, K, Q read I; QK's, V's and AV's readers lie in
    # some segments and not in others, so nodes of many segments agree on their run
    "attention": ["V[m,e] += I[m,d] * WV[e,d]", "K[m,e] += I[m,d] * WK[e,d]",
                  "Q[m,e] += I[m,d] * WQ[e,d]", "S[m,p] += Q[m,e] * K[p,e]", "P[m,p] = S[m,p]",
                  "A[m,e] += P[m,p] * V[p,e]"],
    # Y is read by the next Einsum and by the last: written back by some segments, not others
    "residual": ["Y[m,d] += X[m,e] * A[e,d]", "Z[m,d] += Y[m,d] * X[m,d]",
                 "O[m,d] += Z[m,d] * B[d,d2]", "U[m,d] += O[m,d] * Y[m,d]"],
    "ffn_bias": ["Y[m,c] += X[m,d] * A[d,c]", "U[m,c] += Y[m,c] * b[c]",
                 "Z[m,j] += U[m,c] * B[c,j]", "O[m,j] += Z[m,j] * C[j]"],
}


def ranks_of(texts) -> list:
    import re
    return sorted({r for t in texts for g in re.findall(r"\[([^\]]*)\]", t) for r in g.split(",")})


@st.composite
def chains(draw):
    name = draw(st.sampled_from(sorted(CHAINS)))
    size = {r: draw(st.sampled_from((1, 2, 4))) for r in ranks_of(CHAINS[name])}
    size |= {"m": draw(st.sampled_from((2, 4)))}
    if "p" in size:
        size["p"] = size["m"]
    if name == "residual":
        size["e"] = size["d"]
    return bs.workload(CHAINS[name], name=name, **size)


def search(w, local: bool, depth: int, split: bool, mapspace: str):
    s = fused.TreeSearch(w, fused.Curves(fused.workload_mapspace(mapspace)), depth, split,
                         local_keys=local)
    return s, s.solve(True)


def pairs(st_) -> list:
    return None if st_ is None else list(zip(st_.occ, st_.acc))


@settings(max_examples=40, deadline=None)
@given(chains(), st.sampled_from([1, 2, 3]), st.booleans(),
       st.sampled_from(["per_tensor/perfect", "uniform/perfect"]))
def test_local_keys_change_no_staircase(w, depth, split, mapspace):
    """Every body and child the search with whole signatures computes (lifted staircases are
    not memoised) has the staircase of the entry that stands for it under the view (the segment's signature less
    the resident tensors): entry by entry, not only the workload's curve; and every breakpoint's
    tree re-costs in integers. With split ranks too: a body that keeps nothing has the rank its
    whole-run child avoids in its key (before, one entry stood for every loop rank above it,
    made under the first, so entries depended on the order they were made in)."""
    on, front = search(w, True, depth, split, mapspace)
    off, whole = search(w, False, depth, split, mapspace)
    assert pairs(front) == pairs(whole)
    for key, value in off.memo.items():
        if key[0] in ("body", "child"):
            R = key[5]  # (kind, view, a, b, tiles, resident, ...)
            assert pairs(on.memo[(key[0], key[1] - R, *key[2:])]) == pairs(value)
    sol = fused.Solution(w, front.frozen(), on)
    for occ, acc in pairs(front):
        cost = bs.model.fusion.evaluate(w, sol.schedule(occ))
        assert (cost.occupancy, cost.accesses) == (occ, acc)


def test_local_keys_share_entries_between_segments():
    """On the attention chain nodes of different segments are one entry: fewer bodies and
    children, the same curve."""
    w = bs.workload(CHAINS["attention"], m=4, p=4, d=2, e=2)
    on, front = search(w, True, 2, False, "per_tensor/perfect")
    off, whole = search(w, False, 2, False, "per_tensor/perfect")
    assert pairs(front) == pairs(whole)
    for kind in ("body", "child"):
        assert sum(k[0] == kind for k in on.memo) < sum(k[0] == kind for k in off.memo)


def test_a_key_without_the_resident_set_changes_the_curve(monkeypatch):
    """The entry-by-entry check can fail: keys that hold the view but forget the resident set
    itself (a tensor resident from above taken for one the node must move) give another curve."""
    w = bs.workload(CHAINS["ffn_bias"], m=4, d=2, c=2, j=2)
    _, exact = search(w, False, 2, False, "per_tensor/perfect")
    real = fused.TreeSearch.project
    monkeypatch.setattr(fused.TreeSearch, "project",
                        lambda self, a, b, S, R: (real(self, a, b, S, R)[0], frozenset()))
    _, weak = search(w, True, 2, False, "per_tensor/perfect")
    assert pairs(weak) != pairs(exact)


# ------------------------------------------ a loop option's set-up (TreeSearch.loop, _kept_term)

@st.composite
def live_tiles(draw):
    """Kept tiles of a loop node over Einsums 0..n-1 as _kept_term gives them (tile, traffic,
    first and last Einsum it is live for, lifted), each live for an interval of them."""
    n = draw(st.integers(1, 8))
    out = []
    for _ in range(draw(st.integers(0, 6))):
        lo = draw(st.integers(0, n - 1))
        out.append((draw(st.integers(1, 50)), 0, lo, draw(st.integers(lo, n - 1)), False))
    return n, out


@settings(max_examples=300, deadline=None)
@given(live_tiles())
def test_most_live_is_the_most_at_any_einsum(case):
    """``_most_live`` (the most at some tile's first Einsum) is the most words live at any of
    the node's Einsums, summed Einsum by Einsum as loop() did before."""
    n, terms = case
    direct = max(sum(t[0] for t in terms if t[2] <= e <= t[3]) for e in range(n)) if terms else 0
    assert fused._most_live(terms) == direct


def test_most_live_counts_only_overlapping_tiles():
    """Two tiles live over disjoint Einsums are never live at once (the bound is not the sum)."""
    assert fused._most_live([(5, 0, 0, 1, False), (7, 0, 2, 3, False)]) == 7
    assert fused._most_live([(5, 0, 0, 2, False), (7, 0, 2, 3, False)]) == 12


def test_the_search_pauses_the_cyclic_gc(monkeypatch):
    """The collector is off while the search runs and restored after (no value depends on it)."""
    import gc

    seen = []
    whole = fused.TreeSearch.whole

    def spy(self, fusion_on):
        seen.append(gc.isenabled())
        return whole(self, fusion_on)

    monkeypatch.setattr(fused.TreeSearch, "whole", spy)
    assert gc.isenabled()
    fused.solve_workload(bs.workload(["Y[m,c] += X[m,d] * A[d,c]"], m=2, c=2, d=2), True)
    assert seen == [False] and gc.isenabled()


# ------------------------------------------- the word-per-tensor floor, per kept set (floor_table)

def floor_by_einsum(s, seg, x, y, S, R, K, rank, leaves):
    """``TreeSearch.floor`` as it was summed before ``floor_table``, Einsum by Einsum. With
    ``leaves``: each leaf's least occupancy beside what the node stores while it runs
    (``edge``), with what is resident for it; below the leaves: the kept tiles live at each
    Einsum plus its least occupancy with the kept, shared and intermediate tensors resident,
    traffic each shared tensor's one move plus each Einsum's least traffic."""
    span = tuple(range(x, y + 1))
    occ = acc = 0
    if leaves:
        node = rank if K else None
        for e in span:
            stored, Rc = s.edge(seg, x, y, e, e, R, K, node)
            lo_occ, lo_acc = s.least(e, S, Rc)
            occ, acc = max(occ, s.held(stored, span, S) + lo_occ), acc + lo_acc
        return occ, acc
    moved = s.moved_in(seg, x, y, R)
    shared = [T for T, (_, _, users, _) in moved.items() if T not in K and len(users) > 1]
    acc = sum(moved[T][0] * s.fp(T, span, S) for T in shared)
    common = R | frozenset(K) | frozenset(shared) | s.context(*seg).intermediates
    for e in span:
        lo_occ, lo_acc = s.least(e, S, common)
        held = sum(s.fp(T, span, S) for T in K
                   if rank not in moved[T][1] or moved[T][2][0] <= e <= moved[T][2][-1])
        occ, acc = max(occ, held + lo_occ), acc + lo_acc
    return occ, acc


def floors_checked(w, depth: int, monkeypatch) -> int:
    """Solve ``w`` with every floor (leaves or not) checked against :func:`floor_by_einsum`
    (for the kept set asked for and every other kept set of the same node's candidates);
    returns how many were checked."""
    real = fused.TreeSearch.floor
    seen = [0]

    def spy(self, seg, x, y, S, R, K, rank, leaves, table=None):
        got = real(self, seg, x, y, S, R, K, rank, leaves, table)
        seen[0] += 1
        assert got == floor_by_einsum(self, seg, x, y, S, R, K, rank, leaves)
        cands = list(table[2]) if table is not None else list(K)  # the table's columns
        for other in fused.subsets(cands)[:16]:
            assert (real(self, seg, x, y, S, R, other, rank, leaves, table)
                    == floor_by_einsum(self, seg, x, y, S, R, other, rank, leaves))
        return got

    monkeypatch.setattr(fused.TreeSearch, "floor", spy)
    fused.solve_workload(w, True, max_depth=depth)
    return seen[0]


@settings(max_examples=15, deadline=None)
@given(chains(), st.sampled_from([2, 3]))
def test_floor_table_is_the_floor_summed_by_einsum(w, depth):
    """Every kept set's floor read off :meth:`floor_table` (the empty set's bound plus a column
    per kept tensor) is the bound summed Einsum by Einsum, over leaves and below them, on random
    attention, residual and FFN chains (shared inputs, outputs, intermediates read twice)."""
    with pytest.MonkeyPatch.context() as m:
        floors_checked(w, depth, m)


@settings(max_examples=6, deadline=None)
@given(st.sampled_from((2, 4)), st.sampled_from((1, 3)), st.sampled_from((1, 2)),
       st.sampled_from((2, 3)))
def test_floor_table_on_conv_blocks(q, s, c, depth):
    """The same on bottlenecks in small (a windowed conv, a folded norm's twin vectors, 1x1
    convs, a residual product), where kept sets hold single-user vectors and weights: the floor
    is checked, and for many kept sets."""
    w = bs.workload(["A[c,q,p] += I[e,q+s,p+r] * W0[c,e,s,r]", "B[c,q,p] += A[c,q,p] * g[c] * h[c]",
                     "C[d,q,p] += B[c,q,p] * W1[d,c]", "D[d,q,p] += C[d,q,p] * I2[d,q,p] * g2[d]"],
                    c=c, e=2, q=q, p=q, s=s, r=s, d=2)
    with pytest.MonkeyPatch.context() as m:
        assert floors_checked(w, depth, m) > 10
