"""The lazy leaves' walk without a least-occupancy stage (``LeafCurves.refine``): every joint
solve asks for any point of the least key, a sample stays *loose* until the solve just below its
occupancy settles it, and a loose sample bounds the capacities below it by its own key.

The leaves' joint solves are answered by an enumerating stand-in that, asked for any point of
the least key, returns one of the *largest* occupancy that fits (the worst a MILP may do), so
every sample a walk makes is loose until settled; the truth is each leaf's enumerated staircase.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import boundsolver as bs
from boundsolver.curves import fused_levels
from boundsolver.model.arch import Arch, Level

UNIFORM = "uniform/perfect"
FFN = ["Y[m,c] += X[m,d] * A[d,c]", "Z[m,j] += Y[m,c] * B[c,j]"]
ATTENTION = ["S[m,p] += Q[m,e] * K[p,e]", "Z[m,f] += S[m,p] * V[p,f]"]


def _arch(*inner: Level) -> Arch:
    return Arch("t", 8, (Level("DRAM"), Level("L2", sweep=True), *inner))


class _Largest:
    """A leaf's joint bound by enumeration: at a capacity, the least key; with
    ``least_occupancy=False``, the point of that key of the largest occupancy that fits.
    Records what it was asked."""

    asked: list = []

    def __init__(self, sub, larch):
        self.arch, self.index = larch, larch.swept_index
        self.swept = f"occupancy:{larch.on_chip[self.index].name}"
        self.best = fused_levels.best_per_occupancy(sub, larch)

    def joint(self, capacity, least_occupancy=True):
        _Largest.asked.append(least_occupancy)
        fit = {x: v for x, v in self.best.items() if x <= capacity}
        if not fit:
            return None
        key = min(k for k, _, _ in fit.values())
        same = [x for x, (k, _, _) in fit.items() if k == key]
        x = min(same) if least_occupancy else max(same)
        _, nest, cost = fit[x]
        return SimpleNamespace(nest=nest, copies=None, cost=cost, values={self.swept: x})


def _largest(curves, canon):
    return _Largest(canon.problem, canon.arch)


@st.composite
def _cases(draw):
    """Small FFN and attention chains on three- and four-level archs, with fanout."""
    texts = draw(st.sampled_from([FFN, ATTENTION]))
    ranks = sorted({r for t in texts for r in t if r.islower() and r.isalpha()})
    sizes = {r: draw(st.sampled_from([1, 2])) for r in ranks} | {"m": draw(st.sampled_from([2, 4]))}
    inner = [Level("L1", draw(st.integers(3, 12)), instances=draw(st.sampled_from([1, 2])),
                   multicast=False)]
    if draw(st.booleans()):
        inner.append(Level("L0", draw(st.integers(2, 6)),
                           instances=inner[0].instances * draw(st.sampled_from([1, 2])),
                           multicast=False))
    return bs.workload(texts, **sizes), _arch(*inner)


def _leaves(w):
    """Each Einsum of ``w`` as a leaf with its whole tiles, nothing resident."""
    return [(x, dict(w.size)) for x in range(len(w.einsums))]


def _check_known(curves, w, x, tiles, exact) -> bool:
    """The leaf's staircase as known is at or below the truth at every occupancy and equal to
    it wherever it claims an exact point; whether some capacity's bound sits strictly below."""
    known, info, _ = curves.lazy_curve(w, x, tiles, frozenset())
    below = False
    for o in range(int(exact.occ[-1]) + 2):
        i, j = int(known.at(o)), int(exact.at(o))
        if j < 0:
            continue
        truth = tuple(exact.key[j].tolist())
        if i < 0:
            continue
        got = tuple(known.key[i].tolist())
        assert got <= truth, (o, got, truth)
        if info[int(known.tag[i])][0] == "map":
            assert got == truth
        below |= got < truth
    return below


def _truth(a, w, x, tiles):
    ms = bs.model.mapspace.mapspace_of(UNIFORM)
    exact, _ = fused_levels.LeafCurves(a, ms).curve(w, x, tiles, frozenset())
    return exact


def test_a_loose_sample_bounds_the_capacities_below_it_by_its_key():
    """One solve at the top of each leaf, answered with the largest occupancy of the least key
    and not settled: the known staircase stays a lower bound at every occupancy. The step up
    below a settled sample would put it above the truth between the least occupancy of that
    key and the loose sample's, so this fails if loose samples were taken as settled; some
    samples must be loose above their key's least occupancy for it to test that."""
    looser = 0
    for texts, sizes in ((FFN, dict(m=4, d=2, c=2, j=2)), (ATTENTION, dict(m=4, p=2, e=2, f=2))):
        w = bs.workload(texts, **sizes)
        for a in (_arch(Level("L1", 5, instances=2, multicast=False)), _arch(Level("L1", 12))):
            ms = bs.model.mapspace.mapspace_of(UNIFORM)
            with pytest.MonkeyPatch.context() as mp:
                mp.setattr(fused_levels.LeafCurves, "_solver", _largest)
                for x, tiles in _leaves(w):
                    curves = fused_levels.LeafCurves(a, ms)  # its own: leaves may share one
                    exact = _truth(a, w, x, tiles)
                    lz = curves.state(w, x, tiles, frozenset())
                    lz.solver = _largest(curves, lz.canon)
                    top = sum(lz.sub.tensor_size(T) for T in lz.sub.tensors)
                    assert curves._solve_at(lz, top, top)
                    (o, c, _), = lz.samples
                    least = min(q for q, k in zip(exact.occ.tolist(), exact.key.tolist())
                                if k == exact.key[-1].tolist())
                    assert (o in (0, least)) or (o, c) in lz.loose
                    looser += o > least
                    _check_known(curves, w, x, tiles, exact)
    assert looser > 0


@settings(max_examples=25, deadline=None)
@given(_cases(), st.data())
def test_walks_without_the_occupancy_stage_are_exact_and_settled(case, data):
    """Refining a leaf at drawn capacities (every solve answered loosely, with the largest
    occupancy of the least key): every solve asked for any point, never for least occupancy;
    the leaf is exact at each capacity refined, a lower bound everywhere, and the samples that
    answer each refined capacity are settled (no loose sample left without a sample of its
    key just below it), so a search does not come back for the capacity below."""
    w, a = case
    ms = bs.model.mapspace.mapspace_of(UNIFORM)
    curves = fused_levels.LeafCurves(a, ms)
    _Largest.asked = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fused_levels.LeafCurves, "_enumerated", lambda *_: False)
        mp.setattr(fused_levels.LeafCurves, "_solver", _largest)
        for x, tiles in _leaves(w):
            try:
                exact = _truth(a, w, x, tiles)
            except bs.BoundsolverError:
                continue
            if exact is None:
                continue
            lz = curves.state(w, x, tiles, frozenset())
            caps = data.draw(st.lists(st.integers(0, int(exact.occ[-1]) + 1), max_size=3))
            for cap in caps:
                curves.refine(lz, cap)
                if cap > lz.dead:
                    assert any(o <= cap <= c for o, c, _ in lz.samples)
                    assert curves._settle(lz, cap) is None
            _check_known(curves, w, x, tiles, exact)
    assert not any(_Largest.asked)


@settings(max_examples=15, deadline=None)
@given(_cases())
def test_lazy_search_with_loose_walks_equals_the_eager_search(case):
    """The lazy search, its leaves refined by loose walks, gives the eager search's frontier
    (every leaf's staircase enumerated whole)."""
    w, a = case

    def solve(**options):
        try:
            sol = fused_levels.solve_workload(w, a, True, UNIFORM, max_depth=2, **options)
        except bs.BoundsolverError as error:
            return str(error)
        return list(zip(sol.frontier.occ.tolist(), map(tuple, sol.frontier.key.tolist())))

    eager = solve(lazy=False)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fused_levels.LeafCurves, "_enumerated", lambda *_: False)
        mp.setattr(fused_levels.LeafCurves, "_solver", _largest)
        assert solve() == eager


def test_loose_samples_are_kept_with_the_leaf_store(tmp_path):
    """The leaf store keeps which samples are loose: a leaf loaded from it has the same loose
    samples, and so the same known staircase, as the one that was saved."""
    w = bs.workload(FFN, m=4, d=2, c=2, j=2)
    a = _arch(Level("L1", 5, instances=2, multicast=False))
    ms = bs.model.mapspace.mapspace_of(UNIFORM)
    store = fused_levels._store(bs.Cache(tmp_path / "c.sqlite"), True, a, ms, "auto", "highs")
    curves = fused_levels.LeafCurves(a, ms, store=store)
    x, tiles = 0, dict(w.size)
    lz = curves.state(w, x, tiles, frozenset())
    lz.solver = _largest(curves, lz.canon)
    top = sum(lz.sub.tensor_size(T) for T in lz.sub.tensors)
    curves._solve_at(lz, top, top)
    store.save(lz)
    assert lz.loose
    again = fused_levels.LeafCurves(a, ms, store=store)
    lz2 = again.state(w, x, tiles, frozenset())
    assert lz2.loose == lz.loose and len(lz2.samples) == len(lz.samples)
    first, _, _ = curves.lazy_curve(w, x, tiles, frozenset())
    second, _, _ = again.lazy_curve(w, x, tiles, frozenset())
    assert first.occ.tolist() == second.occ.tolist() and first.key.tolist() == second.key.tolist()
