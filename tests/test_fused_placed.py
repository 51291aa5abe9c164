"""The inner-placement search's pruning (fused_levels.PlacedSearch, its docstring's Theorems 1
and 2; docs/fusion.md, "Tree tiles in inner levels"): the DRAM front of the default search, kept
sets off it, rooms that cannot bind, inner floors on every level. Each rule against the brute
force with placements (reference/treeref_levels.py, which shares only the cost model), and each
rule made too strong (monkeypatched) caught by the same comparison."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings

import boundsolver as bs
from boundsolver.curves import fused_levels
from boundsolver.curves.fused_levels import PlacedSearch, _check_tight, dram_tight, leaf_tight
from boundsolver.errors import SolverError
from boundsolver.model.arch import Arch, Level
from boundsolver.reference.treeref_levels import enumerate_workload
from strategies import tiny_fused_hierarchies

FFN = ["Y[m,c] += X[m,d] * A[d,c]", "Z[m,j] += Y[m,c] * B[c,j]"]
ATTENTION = ["S[m,p] += Q[m,e] * K[p,e]", "Z[m,f] += S[m,p] * V[p,f]"]


def arch(*inner: Level) -> Arch:
    return Arch("t", 8, (Level("DRAM"), Level("L2", sweep=True), *inner))


CASES = {
    # three levels, L1 smaller than the tiles: rooms bind, placements compete
    "attention, L1 = 6": (ATTENTION, dict(m=2, p=2, e=2, f=2), arch(Level("L1", 6))),
    # four levels, unicast fanout on both
    "FFN, four levels": (FFN, dict(m=2, d=2, c=2, j=2),
                         arch(Level("L1", 8, instances=2, multicast=False),
                              Level("L0", 3, instances=2, multicast=False))),
    # a level that bypasses outputs
    "attention, bypass": (ATTENTION, dict(m=2, p=2, e=2, f=2),
                          arch(Level("L1", 4, keeps=("inputs",)))),
}
_REF: dict = {}


def _reference(case: str) -> list:
    if case not in _REF:
        texts, sizes, a = CASES[case]
        w = bs.workload(texts, **sizes)
        _REF[case] = [(o, k) for o, k, _ in enumerate_workload(w, a, True, max_depth=2,
                                                              inner_storage=True)]
    return _REF[case]


def _search(case: str, **options):
    texts, sizes, a = CASES[case]
    w = bs.workload(texts, **sizes)
    return fused_levels.solve_workload(w, a, True, "uniform/perfect", max_depth=2,
                                       inner_storage=True, **options)


def _points(sol) -> list:
    return list(zip(sol.frontier.occ.tolist(), map(tuple, sol.frontier.key.tolist())))


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("lazy", [False, True])
def test_the_pruned_search_equals_the_brute_force(case, lazy):
    """Every rule on (the front is on: eager, and lazy on these tight archs), the brute force's
    frontier; and the rules prune (the front skips kept sets, the floors skip placements)."""
    sol = _search(case, lazy=lazy)
    assert sol.search.front
    assert _points(sol) == _reference(case)
    assert sol.search.off + sol.search.skipped > 0


@pytest.mark.parametrize("case", sorted(CASES))
def test_dram_column_is_the_default_and_no_column_rises(case):
    """Theorem 1 at the workload: the DRAM column is the search's without inner placements
    (``inner_storage=False``) at every capacity, and the key is never above it."""
    texts, sizes, a = CASES[case]
    w = bs.workload(texts, **sizes)
    new = _search(case)
    old = fused_levels.solve_workload(w, a, True, "uniform/perfect", max_depth=2,
                                      inner_storage=False)
    for c in sorted(set(new.frontier.occ.tolist()) | set(old.frontier.occ.tolist())):
        k_new, k_old = new.key(c), old.key(c)
        assert k_new[0] == k_old[0] and k_new <= k_old


def test_the_front_off_gives_the_same_curve_with_more_work():
    """``front=False`` (what a non-tight lazy arch gets): the same frontier, more loop nodes."""
    case = "attention, L1 = 6"
    on = _search(case)
    texts, sizes, a = CASES[case]
    w = bs.workload(texts, **sizes)
    from boundsolver.curves.fused_levels import LeafCurves
    from boundsolver.model.mapspace import mapspace_of

    curves = LeafCurves(a, mapspace_of("uniform/perfect"))
    off = PlacedSearch(w, curves, 2, lazy=True, front=False)
    front = off.solve(True)
    assert list(zip(front.occ.tolist(), map(tuple, front.key.tolist()))) == _points(on)
    assert off.off == 0 and off.dropped == 0 and off.nodes > on.search.nodes


# ------------------------------------------------- each rule made too strong is caught

def _breaks(monkeypatch, case: str, name: str, wrong) -> bool:
    """Whether the search with ``PlacedSearch.<name>`` replaced by ``wrong`` (given the
    original) differs from the brute force (or raises)."""
    right = getattr(PlacedSearch, name)
    monkeypatch.setattr(PlacedSearch, name, lambda self, *a: wrong(self, right, *a))
    try:
        got = _points(_search(case, lazy=False))
    except bs.BoundsolverError:  # SolverError (a front check) or no schedule at all
        return True
    finally:
        monkeypatch.undo()
    return got != _reference(case)


def test_floors_are_below_every_body_and_tight(monkeypatch):
    """Every body the search builds (eager: exact) has, at each point, at least
    :meth:`PlacedSearch.floors` in each inner level, and on each case the first inner level's
    floor is attained by some body: one word more would cut a real tree (with leaf-only
    bodies, as the loop asks: every leaf's copies, partial sums read back, the intermediates'
    placements the body's room allows)."""
    right = PlacedSearch.body
    seen: list = []

    def body(self, seg, a, b, S, R, K, rank, depth, W=(), F=None, KA=()):
        out = right(self, seg, a, b, S, R, K, rank, depth, W, F, KA)
        if out is not None:
            lo = self.floors(seg, a, b, S, R, K, W, KA, self.runs(S),
                             self.moved_in(seg, a, b, R), depth >= self.max_depth, F)
            seen.append((lo, out.key[:, 1:].min(axis=0)))
        return out
    monkeypatch.setattr(PlacedSearch, "body", body)
    for case in CASES:
        seen.clear()
        _search(case, lazy=False)
        assert seen and all((lo <= least).all() for lo, least in seen)
        assert any(lo[0] == least[0] > 0 for lo, least in seen), case


def test_kept_sets_skipped_off_the_front_are_off_it(monkeypatch):
    """Each breakpoint of a default option that :meth:`PlacedSearch.reaching` leaves out (all
    of them: the kept set is skipped) has DRAM above the default state's at its occupancy, each
    one it keeps has the state's DRAM there (checked here against the state's staircase), and
    the frontier is the brute force's."""
    right = PlacedSearch.reaching
    checked = []

    def reaching(self, lb, const, ds):
        out = right(self, lb, const, ds)
        if lb is not None:
            checked.append((lb, const, ds, out))
        return out
    monkeypatch.setattr(PlacedSearch, "reaching", reaching)
    sol = _search("attention, L1 = 6", lazy=False)
    assert any(not out for *_, out in checked) and any(
        0 < len(out) < len(lb.occ) for lb, _, _, out in checked)
    for lb, const, ds, out in checked:
        for o, d in zip(lb.occ.tolist(), lb.key[:, 0].tolist()):
            j = int(ds.at(o))
            assert ((o, const + d) in out) == (j >= 0 and const + d == ds.key[j, 0])
            assert j < 0 or const + d >= ds.key[j, 0]  # Theorem 1
    assert _points(sol) == _reference("attention, L1 = 6")


def test_a_front_that_drops_reaching_points_is_caught(monkeypatch):
    """:meth:`PlacedSearch.reaching` made too strong (its first breakpoint on the front left
    out, as if off it: a kept set with one such point is skipped, and the floor skip checks
    too few points) loses trees."""
    def rest(self, right, lb, const, ds):
        return right(self, lb, const, ds)[1:]
    assert any(_breaks(monkeypatch, c, "reaching", rest) for c in CASES)


def test_a_restored_room_changes_no_leaf(monkeypatch):
    """Wherever :meth:`PlacedSearch.room` restores a level's capacity for a leaf, the leaf
    with the room as it was has the same staircase (occupancies and keys); its placed resident
    tensors (``W``, resident here) shape what the level may hold."""
    right = PlacedSearch.room
    restored = []

    def room(self, x, y, S, F, W=()):
        out = right(self, x, y, S, F, W)
        if out != F and x == y:
            restored.append((x, S, F, W, out))
        return out
    monkeypatch.setattr(PlacedSearch, "room", room)
    search = _search("attention, L1 = 6", lazy=False).search
    assert restored
    monkeypatch.setattr(PlacedSearch, "room", lambda self, x, y, S, F, W=(): F)
    for x, S, F, W, G in restored[:40]:
        R = frozenset(T for T, _ in W)
        a, b = search.leaf(x, S, R, None, W, F), search.leaf(x, S, R, None, W, G)
        assert (a is None) == (b is None)
        if a is not None:
            assert a.occ.tolist() == b.occ.tolist() and a.key.tolist() == b.key.tolist()


def test_a_leaf_refused_for_room_has_no_staircase(monkeypatch):
    """Wherever :meth:`PlacedSearch.fits` refuses a leaf child (less room than
    :meth:`PlacedSearch.need`), the leaf given that room anyway has no staircase; and a need one
    word higher in every level loses trees."""
    right = PlacedSearch.fits
    refused = []

    def fits(self, x, y, R, W, room):
        out = right(self, x, y, R, W, room)
        if not out and x == y:
            refused.append((x, R, W, tuple(room)))
        return out
    monkeypatch.setattr(PlacedSearch, "fits", fits)
    search = _search("attention, L1 = 6", lazy=False).search
    assert refused
    monkeypatch.setattr(PlacedSearch, "fits", lambda self, *a: True)
    for x, R, W, room in refused[:60]:  # (need is one word per copy: no tile matters)
        assert search.leaf(x, search.full, R, None, W, room) is None
    monkeypatch.undo()

    def more(self, right, x, y, R, W):
        return tuple(u + 1 for u in right(self, x, y, R, W))
    assert any(_breaks(monkeypatch, c, "need", more) for c in CASES)


def test_a_front_that_drops_points_on_it_is_caught(monkeypatch):
    """Keeping only a staircase's first point where the default attains them all loses
    trees."""
    def strict(self, right, st, ds):
        out = right(self, st, ds)
        if out is None or len(out.occ) < 2:
            return out
        return fused_levels.Stairs(out.occ[:1], out.key[:1], out.tag[:1])
    assert any(_breaks(monkeypatch, c, "on_front", strict) for c in CASES)


# ------------------------------------------------------------- tight leaves (Theorem 2, lazy)

def test_tightness_needs_a_word_per_kept_tensor():
    w = bs.workload(FFN, m=2, d=2, c=2, j=2)
    assert dram_tight(w, arch(Level("L1", 3)))
    assert not dram_tight(w, arch(Level("L1", 2)))  # Y += X * A keeps three tensors
    assert dram_tight(w, arch(Level("L1", 2, keeps=("inputs",))))
    sub = w.einsums[0]
    assert leaf_tight(arch(Level("L1", 3)), sub) and not leaf_tight(arch(Level("L1", 2)), sub)
    # where it fails the search runs without the front: here no unplaced leaf fits L1 (three
    # tensors, two words), but one with a tensor placed in L0 (no copy above it) does, so
    # Theorem 1 is false and the placed curve exists where the old mapspace's does not
    a = arch(Level("L1", 2), Level("L0", 8))
    ref = [(o, k) for o, k, _ in enumerate_workload(w, a, True, max_depth=2,
                                                   inner_storage=True)]
    assert ref
    with pytest.raises(bs.BoundsolverError, match="no schedule"):
        fused_levels.solve_workload(w, a, True, "uniform/perfect", max_depth=2,
                                    inner_storage=False)
    for lazy in (False, True):
        sol = fused_levels.solve_workload(w, a, True, "uniform/perfect", max_depth=2,
                                          inner_storage=True, lazy=lazy)
        assert not sol.search.front and _points(sol) == ref


def test_a_leaf_whose_exact_dram_is_not_its_bound_is_refused():
    occ, dram = np.array([1, 4]), np.array([10, 6])
    _check_tight("k", occ, dram, [(np.array([1, 4]), np.array([10, 6]), None)])
    _check_tight("k", occ, dram, [(np.array([4]), np.array([6]), 7)])
    with pytest.raises(SolverError, match="lower bound"):
        _check_tight("k", occ, dram, [(np.array([1, 4]), np.array([10, 7]), None)])
    with pytest.raises(SolverError, match="lower bound"):  # feasible later than the bound
        _check_tight("k", occ, dram, [(np.array([2, 4]), np.array([10, 6]), None)])
    with pytest.raises(SolverError, match="lower bound"):  # a sample past a bound's step
        _check_tight("k", occ, dram, [(np.array([1]), np.array([10]), 5)])


# ------------------------------------------------------------------- random hierarchies

@settings(max_examples=6, deadline=None)
@given(tiny_fused_hierarchies(min_l1=2, multicast=True))
def test_random_hierarchies_pruned_equal_the_brute_force(case):
    """Three and four levels, bypass, fanout (unicast and multicast), FFN and attention, L1 of
    two words up (where a leaf may not fit unplaced, so the front is off): the search with
    placements (eager and lazy) is the brute force's frontier."""
    w, a = case
    try:
        ref = [(o, k) for o, k, _ in enumerate_workload(w, a, True, max_depth=2,
                                                       inner_storage=True)]
    except bs.BoundsolverError as error:
        ref = str(error)
    for lazy in (False, True):
        try:
            got = _points(fused_levels.solve_workload(w, a, True, "uniform/perfect",
                                                      max_depth=2, inner_storage=True,
                                                      lazy=lazy))
        except bs.BoundsolverError as error:
            got = [] if "no schedule" in str(error) else str(error)
        assert got == ref


# ------------------------------------------- placements dominated by a deeper one (settled)

def _ffn_l1_5(**options):
    """FFN with ``d = j = 1`` on L1 of 5 words, one instance: a body's intermediate ``Y`` (2
    words) may be placed in L1 where the room cannot bind there, and some rooms do bind."""
    w = bs.workload(FFN, m=2, d=1, c=2, j=1)
    return w, arch(Level("L1", 5))


def test_dominated_placements_are_not_tried_and_change_nothing(monkeypatch):
    """:meth:`PlacedSearch.settled`: the search drops placements (``dominated``), and its
    frontier is the brute force's (eager and lazy) and the search's without the rule
    (``dominance=False``, which tries every placement). Made too strong, the rule is caught:
    without its room condition (every level settled wherever a tensor fits) the frontier
    loses its breakpoints past capacity 4."""
    w, a = _ffn_l1_5()
    ref = [(o, k) for o, k, _ in enumerate_workload(w, a, True, max_depth=2, inner_storage=True)]
    for lazy in (True, False):  # (the eager search's node count is compared below)
        sol = fused_levels.solve_workload(w, a, True, "uniform/perfect", max_depth=2,
                                          inner_storage=True, lazy=lazy)
        assert sol.search.dominated > 0 and _points(sol) == ref
    from boundsolver.curves.fused_levels import LeafCurves
    from boundsolver.model.mapspace import mapspace_of

    off = PlacedSearch(w, LeafCurves(a, mapspace_of("uniform/perfect")), 2, lazy=False,
                       dominance=False)
    front = off.solve(True)
    assert list(zip(front.occ.tolist(), map(tuple, front.key.tolist()))) == ref
    assert off.dominated == 0 and len(off.memo) > len(sol.search.memo)
    monkeypatch.setattr(PlacedSearch, "settled",
                        lambda self, *args: frozenset(range(1, self.k)))  # no room condition
    wrong = fused_levels.solve_workload(w, a, True, "uniform/perfect", max_depth=2,
                                        inner_storage=True, lazy=False)
    assert _points(wrong) != ref


def test_no_placement_is_settled_with_per_tensor_leaves():
    """With per-tensor placement a leaf may bypass a level, so the dominance argument (every
    leaf using a tensor keeps a copy in the level) fails: the rule is off there."""
    w, a = _ffn_l1_5()
    sol = fused_levels.solve_workload(w, a, True, "per_tensor/perfect", max_depth=2,
                                      inner_storage=True, lazy=False)
    assert sol.search.dominated == 0


@settings(max_examples=5, deadline=None)
@given(tiny_fused_hierarchies(min_l1=2, multicast=True))
def test_random_hierarchies_dominance_on_equals_off(case):
    """Random three- and four-level hierarchies (bypass, unicast and multicast fanout): the
    search with dominated placements dropped equals the search trying every placement."""
    from boundsolver.curves.fused_levels import LeafCurves
    from boundsolver.model.mapspace import mapspace_of

    w, a = case
    got = []
    for dominance in (True, False):
        search = PlacedSearch(w, LeafCurves(a, mapspace_of("uniform/perfect")), 2, lazy=False,
                              dominance=dominance)
        try:
            front = search.solve(True)
        except bs.BoundsolverError as error:
            front = str(error)
        got.append(None if front is None or isinstance(front, str) else
                   list(zip(front.occ.tolist(), map(tuple, front.key.tolist()))))
    assert got[0] == got[1]
