"""``LevelSolver.outer_floor``: the floor on an inner level's stage from the loops above an outer
level (the hypothetical copies at the outer boundary, merged into one-buffer mappings).

Checked by brute force over every nest of small leaves (fused_levels.py's leaf archs, with
tensors resident in a tree level, and plain three- and four-level archs with fanout): at each
capacity of the swept level and each stage, with the earlier stages at their lexicographic least
values, the floor never exceeds the least value of the stage over the nests that fit; it is
attained often and beats every other floor somewhere; and floors from a weakened argument (the
output read back on its first visit, or the capacity taken as strict) fail the same check.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import boundsolver as bs
from boundsolver.curves.joint import LevelSolver
from boundsolver.model import fusion
from boundsolver.model.arch import Arch, Level
from boundsolver.model.cost import evaluate_levels
from boundsolver.model.fusion_levels import leaf_arch
from boundsolver.reference.hierarchy import fits, nests

QK = "S[m,p] += Q[m,e] * K[p,e]"


def _arch(*inner: Level) -> Arch:
    return Arch("t", 8, (Level("DRAM"), Level("L2", sweep=True), *inner))


def _costs(problem, arch):
    """Every fitting nest's cost."""
    out = [evaluate_levels(problem, n, multicast=arch.multicast) for n in nests(problem, arch)]
    return [c for c in out if fits(c, arch)]


def _stages(problem, arch, costs, capacity):
    """Per stage ``b`` of the joint bound at ``capacity``: (limits the earlier stages set at
    their least values, the stage's least value), by brute force."""
    swept = arch.swept_index
    names = ["dram"] + [f"accesses:{lv.name}" for lv in arch.on_chip]
    live = [c for c in costs if c.occupancy[swept] <= capacity]
    limits = {f"occupancy:{arch.on_chip[swept].name}": capacity}
    out = []
    for b, name in enumerate(names):
        if not live:
            break
        least = min(c.key[b] for c in live)
        out.append((b, dict(limits), least))
        limits[name] = least
        live = [c for c in live if c.key[b] == least]
    return out


def _check(problem, arch, floor_of=None):
    """Every stage's outer floors against the brute force; (violations, stages where a floor
    is attained, stages where it beats the solver's other floors)."""
    solver = LevelSolver(problem, arch)
    floor_of = floor_of or solver.outer_floor
    costs = _costs(problem, arch)
    occs = sorted({c.occupancy[arch.swept_index] for c in costs})
    bad, attained, beats = [], 0, 0
    for cap in occs:
        for b, limits, least in _stages(problem, arch, costs, cap):
            outer = max([-math.inf] + [floor_of(a, b, limits) for a in range(1, b)])
            if outer > least:
                bad.append((cap, b, outer, least))
            attained += outer == least
            others = max(solver.monotone_floor(b, limits), sum(
                problem.tensor_size(T) for i, T in enumerate(problem.tensors)
                if b == 0 or b in solver.stored[i]))
            beats += outer > others
    return bad, attained, beats


def _leaf(text, sizes, resident, inner):
    """A leaf of ``text`` at ``sizes`` with ``resident`` in the tree level, on the leaf arch of
    ``_arch(*inner)``."""
    w = bs.workload([text], **sizes)
    sub = fusion.sub_problem(w.einsums[0], dict(w.size))
    return sub, leaf_arch(_arch(*inner), sub, frozenset(resident), False)


@settings(max_examples=25, deadline=None)
@given(m=st.sampled_from([2, 4]), p=st.sampled_from([2, 4]), e=st.sampled_from([1, 2, 4]),
       resident=st.sampled_from([(), ("K",), ("S",), ("K", "S"), ("Q", "K")]),
       l1=st.integers(2, 24), fan=st.sampled_from([1, 2]), l0=st.sampled_from([None, 3, 8]))
def test_outer_floor_is_below_every_stage(m, p, e, resident, l1, fan, l0):
    """On leaf archs (tree level, outer level, an inner level with fanout, maybe a fourth):
    the floor never exceeds the least value of any stage at any capacity."""
    inner = [Level("L1", l1, instances=fan, multicast=False)]
    if l0 is not None:
        inner.append(Level("L0", l0, instances=fan))
    sub, larch = _leaf(QK, {"m": m, "p": p, "e": e}, resident, inner)
    bad, _, _ = _check(sub, larch)
    assert not bad, bad


@pytest.mark.parametrize("resident", [("K", "S"), ("K",), ()])
def test_outer_floor_is_attained_and_beats_the_other_floors(resident):
    """On a leaf with a resident input (its inner copies refetched under the outer level's
    loops) the floor is the stage's value at many capacities and above every other floor
    somewhere; with nothing resident it is still below every stage."""
    sub, larch = _leaf(QK, {"m": 4, "p": 4, "e": 2}, resident,
                       [Level("L1", 16, instances=2, multicast=False)])
    bad, attained, beats = _check(sub, larch)
    assert not bad, bad
    assert attained > 0
    if resident:
        assert beats > 0


def test_a_gemm_on_three_levels_with_fanout():
    """A plain GEMM on DRAM, L2 (swept), L1 (fanout 2), L0: the floor holds at every stage."""
    p = bs.gemm(4, 2, 4)
    arch = _arch(Level("L1", 6, instances=2, multicast=False), Level("L0", 3, instances=2))
    bad, attained, _ = _check(p, arch)
    assert not bad, bad
    assert attained > 0


def _weakened(solver, kind):
    """``outer_floor`` from a weakened argument: ``first``, the output read back on its first
    visit too (2F rather than 2F - |O|); ``strict``, the outer level's tiles below its
    capacity rather than at most it."""
    table = solver._outer_table

    def fake(a, b):
        got = table(a, b)
        if got is None:
            return None
        occ, moved, inner = got
        if kind == "first":
            return occ, moved, inner + solver.problem.tensor_size(solver.problem.output)
        return occ + 1, moved, inner
    return fake


@pytest.mark.parametrize("kind", ["first", "strict"])
def test_a_weakened_floor_fails(kind, monkeypatch):
    """The check can fail: floors from a weakened argument lie above some stage's value."""
    sub, larch = _leaf(QK, {"m": 4, "p": 4, "e": 2}, ("K", "S"),
                       [Level("L1", 16, instances=2, multicast=False)])
    solver = LevelSolver(sub, larch)
    monkeypatch.setattr(solver, "_outer_table", _weakened(solver, kind))
    bad, _, _ = _check(sub, larch, solver.outer_floor)
    assert bad


@settings(max_examples=6, deadline=None)
@given(resident=st.sampled_from([("K",), ("K", "S"), ("Q", "K")]), l1=st.integers(3, 20),
       fan=st.sampled_from([1, 2]))
def test_joint_with_the_floor_equals_the_brute_force(resident, l1, fan):
    """The joint bound (the MILP with the floor ending stages) is the brute-force lexicographic
    least key at every capacity of the staircase."""
    sub, larch = _leaf(QK, {"m": 4, "p": 2, "e": 2}, resident,
                       [Level("L1", l1, instances=fan, multicast=False)])
    costs = _costs(sub, larch)
    solver = LevelSolver(sub, larch)
    for cap in sorted({c.occupancy[larch.swept_index] for c in costs}):
        best = min(c.key for c in costs if c.occupancy[larch.swept_index] <= cap)
        point = solver.joint(cap, least_occupancy=False)
        assert point is not None and tuple(point.cost.key) == best
