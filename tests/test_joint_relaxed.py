"""The per-tensor joint bound's floors from the arch without its innermost level
(``joint.PlacementSolver._relaxed``, ``_relaxed_floor``, ``_relaxed_candidate``): against the
per-tensor depth-first enumerator (hierarchy.per_tensor_points, which reads neither levelnest.py
nor the MILP) on GEMMs and on fused leaves with a tree level (fused_levels' leaf arch), every
capacity and every stage."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import boundsolver as bs
from boundsolver.curves import joint
from boundsolver.milp.levels import named_values
from boundsolver.model import fusion
from boundsolver.model.arch import Arch, Level
from boundsolver.model.cost import Copies, Nest, evaluate_levels
from boundsolver.model.fusion_levels import leaf_arch
from boundsolver.reference.hierarchy import per_tensor_points


def _gemm_arch(l1: int, l0: int, fan: int, multicast: bool) -> Arch:
    return Arch("g", 8, (Level("DRAM"), Level("L2", sweep=True),
                         Level("L1", l1, instances=fan, multicast=multicast),
                         Level("L0", l0, instances=fan)))


def _leaf_case(m: int, p: int, e: int, l1: int, resident: tuple, revisited: bool):
    """Attention's QK leaf ``S[m,p] += Q[m,e] * K[p,e]`` on its leaf arch: the resident
    tensors whole in a tree level, the streamed ones in L2 (swept), L1 with fanout, L0."""
    e_ = bs.workload(["S[m,p] += Q[m,e] * K[p,e]"], m=m, p=p, e=e).einsums[0]
    sub = fusion.sub_problem(e_, dict(e_.size))
    arch = Arch("t", 8, (Level("DRAM"), Level("L2", sweep=True),
                         Level("L1", l1, instances=2, multicast=False),
                         Level("L0", max(3, l1 // 2), instances=2)))
    return sub, leaf_arch(arch, sub, frozenset(resident), revisited)


CASES = {
    "gemm, fanout at L1": (bs.gemm(4, 2, 2), _gemm_arch(6, 3, 2, False)),
    "gemm, multicast": (bs.gemm(2, 4, 2), _gemm_arch(5, 3, 2, True)),
    "leaf, K resident": _leaf_case(4, 2, 2, 6, ("K",), False),
    "leaf, K and S resident, revisited": _leaf_case(2, 4, 2, 6, ("K", "S"), True),
}


def _truth(problem, arch):
    """The exact per-tensor staircase: (swept occupancy, key) in increasing occupancy."""
    x = arch.swept_index
    return [(c.occupancy[x], tuple(c.key)) for _, c, _ in per_tensor_points(problem, arch)]


def _at(stairs, capacity):
    fit = [k for o, k in stairs if o <= capacity]
    return fit[-1] if fit else None


def _dropped(problem, arch, nest, copies):
    """``nest`` without its innermost level's copies, costed on the arch without that level."""
    k = len(arch.on_chip)
    small = Arch(arch.name, arch.word_bits, arch.levels[:-1])
    rows = [(s, lv) for s, lv in zip(nest.storage, copies.level) if lv != k]
    fan = None if copies.fanout_at is None else copies.fanout_at[:-1]
    kept = Nest(nest.levels, nest.orders, tuple(s for s, _ in rows), nest.spatial)
    where = Copies(tuple(lv for _, lv in rows), copies.names[:-1], fan)
    return evaluate_levels(problem, kept, where, multicast=small.multicast)


@pytest.mark.parametrize("case", sorted(CASES))
def test_dropping_the_innermost_level_raises_nothing_above_it(case):
    """The floor's premise, on every staircase nest of the enumerator: without the innermost
    level's copies, the backing store's traffic and every outer level's occupancy and traffic
    are at most what they were, and the swept level's occupancy the same."""
    problem, arch = CASES[case]
    x, k = arch.swept_index, len(arch.on_chip)
    for nest, cost, copies in per_tensor_points(problem, arch):
        small = _dropped(problem, arch, nest, copies)
        assert small.occupancy[x] == cost.occupancy[x]
        assert small.dram <= cost.dram
        assert all(a <= b for a, b in zip(small.accesses, cost.accesses[:k - 1]))
        assert all(a <= b for a, b in zip(small.occupancy, cost.occupancy[:k - 1]))


def _check_floors(problem, arch) -> int:
    """Every stage's relaxed floor at every capacity, under limits at the true key's values,
    is at most the true value; how many equal it."""
    truth = _truth(problem, arch)
    ls = joint.PlacementSolver(problem, arch)
    ls.relax = True  # (fused_levels' leaves turn it on)
    assert ls._relaxed() is not None
    exact = 0
    for capacity in range(truth[0][0], truth[-1][0] + 2):
        key = _at(truth, capacity)
        for b in range(len(ls.key) - 1):
            limits = {ls.swept: capacity} | dict(zip(ls.key[:b], key[:b]))
            floor = ls._relaxed_floor(b, limits)
            assert floor <= key[b], (capacity, b, floor, key)
            exact += floor == key[b]
        assert ls._relaxed_floor(len(ls.key) - 1, {ls.swept: capacity}) == float("-inf")
    return exact


@pytest.mark.parametrize("case", sorted(CASES))
def test_relaxed_floors_never_exceed_the_enumerated_key(case):
    """Against the enumerator at every capacity and stage; the floor must be exact at some
    (it is not vacuous). Fails if the floor is taken one higher, or read at the staircase's
    first point instead of the point at the capacity (checked by mutation)."""
    assert _check_floors(*CASES[case]) > 0


@settings(max_examples=6, deadline=None)
@given(st.sampled_from([1, 2, 4]), st.sampled_from([1, 2]), st.sampled_from([1, 2]),
       st.integers(3, 8), st.integers(3, 6), st.sampled_from([1, 2]), st.booleans())
def test_relaxed_floors_on_random_gemms(m, k, n, l1, l0, fan, multicast):
    problem, arch = bs.gemm(m, k, n), _gemm_arch(l1, l0, fan, multicast)
    assume(m * k * n > 1)  # (levelnest.py fails on a GEMM of one MAC; no relaxed floor there)
    try:
        _truth(problem, arch)
    except bs.BoundsolverError:
        assume(False)
    _check_floors(problem, arch)


def test_joint_with_relaxed_floors_equals_the_enumerator():
    """The MILP's joint bound (relaxed floors and candidate on) at every breakpoint of a leaf
    with a tree level is the enumerated key; every seed, re-costed, fits every level."""
    problem, arch = CASES["leaf, K resident"]
    truth = _truth(problem, arch)
    ls = joint.PlacementSolver(problem, arch)
    ls.relax = True
    for capacity in reversed([o for o, _ in truth]):
        point = ls.joint(capacity, least_occupancy=False)
        assert tuple(point.cost.key) == _at(truth, capacity), capacity
    for pt in ls.known:  # every seed re-costed and within the fixed capacities
        assert all(pt.values[n] <= v for n, v in ls.fixed.items())
        assert named_values(arch, evaluate_levels(problem, pt.nest, pt.copies,
                                                  multicast=arch.multicast)) == pt.values


def test_a_leaf_whose_ranks_all_have_size_one():
    """A leaf of one element per tensor (every rank of size 1: a tree tiling every rank to 1)
    has the enumerator's staircase under the MILP too; its outer-floor table once failed to
    build (a reshape of the one empty tiling), so the MILP raised on such leaves."""
    p = bs.workload(["Z[m,f] += S[m,p] * V[p,f]"], m=1, p=1, f=1).einsums[0]
    a = Arch("t", 8, (Level("DRAM"), Level("L2", sweep=True), Level("L1", 8)))
    solver = joint.PlacementSolver(p, a)
    for _, cost, _ in per_tensor_points(p, a):
        assert solver.joint(cost.occupancy[0], least_occupancy=False).cost.key == cost.key
