"""The fanout level's stage by decomposition (reference/decompose.py, docs/hierarchy.md "The
inner stage by decomposition") against the per-tensor enumerator (hierarchy.per_tensor_points,
which reads neither fastnest nor the decomposition): at every point of the enumerated staircase,
the decomposition's least traffic into the fanout level (given the enumerated DRAM traffic at
that capacity) is the enumerated one, and where level 3 mirrors level 2 its value plus
``mirrored`` is the enumerated traffic into level 3; the whole per-tensor MILP solver with the
decomposition switched on gives the enumerated staircase; convs (windows, strided and dilated
too) against levelnest / the enumerator; bypass refuses strided windows (the MILP answers
alone)."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import boundsolver as bs
from boundsolver.curves import joint
from boundsolver.model.arch import Arch, Level
from boundsolver.model.lower import touched_in as touched
from boundsolver.reference.decompose import Stage, applies, outer_parts
from boundsolver.reference.fastnest import least_by_whole
from boundsolver.reference.hierarchy import fits, per_tensor_points
from helpers import same_rows


def gpu_like(l1: int, fan: int, mc: bool, regs: int | None = None, ranks=None,
             keeps=("all",)) -> Arch:
    """DRAM -> L2 (swept, one instance) -> L1 (``fan`` instances, ``l1`` words each, L2
    multicasting or not) -> optionally registers (``regs`` words, same instances)."""
    levels = [Level("DRAM"), Level("L2", sweep=True),
              Level("L1", l1, keeps=keeps, instances=fan, multicast=mc, spatial_ranks=ranks)]
    if regs is not None:
        levels.append(Level("RF", regs, instances=fan))
    return Arch("gpu", 8, tuple(levels))


def check_stage(problem, arch) -> int:
    """Every enumerated staircase point against the decomposition; returns how many."""
    stage = Stage(problem, arch)
    seen = 0
    for _, cost, _ in per_tensor_points(problem, arch):
        inner = stage.least(cost.occupancy[0], cost.dram)
        assert inner is not None
        assert inner.value == cost.accesses[1], (cost, inner)
        nest, copies, got = stage.verified(inner)
        assert got.dram == cost.dram and got.occupancy[0] <= cost.occupancy[0]
        if stage.next_exact:
            assert inner.value + inner.mirrored == cost.accesses[2], (cost, inner)
            stage.verified(inner, mirror=True)
        seen += 1
    return seen


@settings(max_examples=12, deadline=None)
@given(st.sampled_from([(2, 2, 4), (4, 2, 2), (2, 4, 4), (4, 4, 2), (3, 2, 4)]),
       st.sampled_from([2, 4]), st.integers(3, 8), st.booleans(),
       st.sampled_from([None, 0, 4]), st.sampled_from([None, ("k",), ("m", "n")]))
def test_stage_equals_the_per_tensor_enumerator(mkn, fan, l1, mc, regs_more, ranks):
    """GEMMs with fanout 2 or 4, multicast or not, splits restricted or not, with or
    without a register level of at least L1's capacity (its stage: value + mirrored)."""
    p = bs.gemm(*mkn)
    regs = None if regs_more is None else l1 + regs_more
    arch = gpu_like(l1, fan, mc, regs, ranks)
    assert applies(p, arch) is None
    assert check_stage(p, arch) >= 1


def test_the_solver_uses_it_and_equals_the_enumerator(monkeypatch):
    """The per-tensor MILP solver with the decomposition on gives the enumerated staircase,
    and the decomposition did answer some fanout stage (calls counted)."""
    calls = []
    least = Stage.least

    def counted(self, *args, **kw):
        out = least(self, *args, **kw)
        calls.append(out)
        return out

    monkeypatch.setattr(Stage, "least", counted)
    p = bs.gemm(4, 2, 4)
    arch = gpu_like(5, 4, False, regs=5)
    ref = joint.solve(p, arch, method="enumerate", placement="per_tensor")
    got = bs.pareto_frontier(p, arch=arch, mapspace="per_tensor/perfect", method="milp")
    same_rows(ref, got, arch)
    assert any(c is not None for c in calls)


def test_switched_off_it_is_the_milp_alone():
    p = bs.gemm(2, 2, 4)
    arch = gpu_like(4, 2, True, regs=4)
    ls = joint.PlacementSolver(p, arch)
    ls.decompose = False
    ref = joint.solve(p, arch, method="enumerate", placement="per_tensor")
    found, _ = joint.milp_points(ls)
    assert not hasattr(ls, "_stage")
    assert [pt.cost.key for pt in found] == [
        tuple(int(v) for v in r) for r in ref[["accesses", "accesses_L2", "accesses_L1",
                                                 "accesses_RF"]].values.tolist()]


@pytest.mark.parametrize("arch, why", [
    (gpu_like(4, 2, True, keeps=("inputs",)), "does not keep every tensor"),
    (Arch("x", 8, (Level("DRAM"), Level("L2", sweep=True, instances=2), Level("L1", 4,
                                                                             instances=2))),
     "fanout is not exactly at level 2"),
    (gpu_like(4, 2, True, regs=2), "cannot hold a word"),
])
def test_where_it_does_not_apply(arch, why):
    assert why in applies(bs.gemm(2, 2, 2), arch)


@pytest.mark.parametrize("kw", [dict(Wstride=2), dict(Wdilation=2), dict(Hstride=2)])
def test_strided_or_dilated_windows_apply(kw):
    conv = bs.conv(R=3, S=2 if "Hstride" in kw else 1, P=4, C=2, K=2, **kw)
    assert applies(conv, gpu_like(4, 2, True)) is None


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 4), st.integers(1, 6)), min_size=1, max_size=3),
       st.integers(1, 3))
def test_touched_counts_the_distinct_indices(terms, n):
    """``touched``: per axis the distinct values of ``sum c x`` (bit-set doubling) against a
    set built by brute force; a plain axis of size n times the window."""
    from itertools import product

    from boundsolver.model.einsum import Axis, Tensor, Term

    names = [f"r{k}" for k in range(len(terms))]
    size = {d: m for d, (_, m) in zip(names, terms)} | {"z": n}
    window = Axis(tuple(Term(d, c) for d, (c, _) in zip(names, terms)))
    T = Tensor("I", (Axis((Term("z"),)), window))
    values = {sum(c * x for (c, _), x in zip(terms, xs))
              for xs in product(*(range(m) for _, m in terms))}
    assert touched(T, size) == n * len(values)


def conv_points(conv, arch, monkeypatch):
    """The exact per-tensor staircase of a conv: levelnest within its default limits (raised,
    one fanout case planned 580k classes for 15+ minutes), else the depth-first enumerator
    (hierarchy.per_tensor_points, at most a few seconds on these shapes); neither reads
    fastnest or the decomposition."""
    from boundsolver.reference import levelnest

    points = levelnest.frontier(conv, arch)
    return per_tensor_points(conv, arch) if points is None else points


@settings(max_examples=4, deadline=None)  # (the enumerators cost 1-3 s a case on an idle core)
@given(st.sampled_from([(2, 1, 4, 2), (2, 2, 2, 2)]),
       st.sampled_from([2, 4]), st.integers(3, 8), st.booleans(), st.sampled_from([None, 0, 3]))
def test_stage_on_one_d_convs_equals_the_enumerators(kcpr, fan, l1, mc, regs_more):
    """1-D convs (the input's window p + r in every level, P and R never split): fanout 2 or
    4, multicast or not, with or without a register level (its stage: value + mirrored)."""
    k, c, p_, r = kcpr
    conv = bs.conv(R=r, P=p_, C=c, K=k)
    arch = gpu_like(l1, fan, mc, None if regs_more is None else l1 + regs_more)
    assert applies(conv, arch) is None
    with pytest.MonkeyPatch.context() as mp:
        points = conv_points(conv, arch, mp)
    assert check_stage_against(conv, arch, points) >= 1


@pytest.mark.parametrize("l1, fan, mc, regs", [(4, 2, True, None)])
def test_stage_on_a_two_d_conv_equals_the_enumerators(monkeypatch, l1, fan, mc, regs):
    conv = bs.conv(R=2, S=2, P=2, Q=2, C=1, K=2)
    arch = gpu_like(l1, fan, mc, regs)
    assert check_stage_against(conv, arch, conv_points(conv, arch, monkeypatch)) >= 1


# (K, C, P, R, stride, dilation): overlapping (R > stride), holes (R < stride: 1x1 downsample
# convs), and a dilated window
STRIDED = [(2, 1, 2, 3, 2, 1), (2, 2, 4, 1, 2, 1), (1, 2, 2, 2, 1, 2), (1, 2, 2, 3, 2, 1),
           (2, 1, 4, 1, 3, 1), (2, 2, 2, 3, 3, 1)]


@settings(max_examples=8, deadline=None)  # (the enumerator: under a second a case)
@given(st.sampled_from(STRIDED), st.sampled_from([2, 4]), st.integers(3, 7), st.booleans(),
       st.sampled_from([None, 0, 3]))
def test_stage_on_strided_one_d_convs_equals_the_enumerator(shape, fan, l1, mc, regs_more):
    """Strided and dilated 1-D convs (window ``stride*p + dilation*r``): the stage (and level
    3's) at every point of the depth-first enumerator's staircase (hierarchy.per_tensor_points,
    which reads neither fastnest nor the decomposition), fanout 2 or 4, multicast or not."""
    k, c, p_, r, stride, dil = shape
    conv = bs.conv(R=r, P=p_, C=c, K=k, Wstride=stride, Wdilation=dil)
    arch = gpu_like(l1, fan, mc, None if regs_more is None else l1 + regs_more)
    assert applies(conv, arch) is None
    assert check_stage_against(conv, arch, per_tensor_points(conv, arch)) >= 1


@pytest.mark.parametrize("kw", [dict(R=3, S=3, P=2, Q=2, C=1, K=1),
                                dict(R=1, S=1, P=2, Q=2, C=1, K=2),
                                dict(R=3, S=1, P=2, Q=2, C=1, K=2)])
@pytest.mark.parametrize("l1, fan, mc, regs", [(4, 2, True, None), (3, 4, False, 3)])
def test_stage_on_strided_two_d_convs_equals_the_enumerator(kw, l1, fan, mc, regs):
    """Stride 2 on both axes: a 3x3 (windows overlapping by one), a 1x1 downsample (holes)."""
    conv = bs.conv(**kw, Wstride=2, Hstride=2)
    arch = gpu_like(l1, fan, mc, regs)
    assert check_stage_against(conv, arch, per_tensor_points(conv, arch)) >= 1


@pytest.mark.parametrize("kw", [dict(R=1, P=4, C=2, K=2, Wstride=2),
                                dict(R=3, P=2, C=1, K=2, Wstride=2)])
def test_the_cheap_bound_is_below_every_split_s_least(kw):
    """``Stage._below`` (which skips splits) never exceeds the least a split's slice problem
    attains under an outer part, with holes too (a tiled strided window moves fewer words than
    its slice's footprint: the bound counts the elements it touches), at every outer part the
    search lists for every staircase point of the enumerator."""
    import numpy as np

    conv = bs.conv(**kw)
    arch = gpu_like(3, 2, False)
    stage = Stage(conv, arch)
    seen = 0
    for _, cost, _ in per_tensor_points(conv, arch):
        for o in outer_parts(conv, cost.occupancy[0], cost.dram).values():
            F = np.array([o.fills], dtype=object)
            for sp in stage._split_data(o.tile):
                table = stage._slice(sp.sizes, sp.move, sp.tie)
                got = [sp.g * value + sum(F[0, i] * sp.per[i] for i in range(len(flags))
                                          if flags[i])
                       for flags, (value, _, _) in table.items()]
                if got:
                    below = np.atleast_1d(stage._below(sp, F * sp.per))[0]
                    assert below <= min(got), (o, sp.split, below, got)
                    seen += 1
    assert seen


def check_stage_against(problem, arch, points) -> int:
    """:func:`check_stage`'s checks against given staircase points."""
    stage = Stage(problem, arch)
    for _, cost, _ in points:
        inner = stage.least(cost.occupancy[0], cost.dram)
        assert inner is not None and inner.value == cost.accesses[1], (cost, inner)
        _, _, got = stage.verified(inner)
        assert got.dram == cost.dram and got.occupancy[0] <= cost.occupancy[0]
        if stage.next_exact:
            assert inner.value + inner.mirrored == cost.accesses[2], (cost, inner)
            stage.verified(inner, mirror=True)
    return len(points)


def test_on_a_conv_the_solver_with_it_equals_the_milp_alone():
    """Decomposition on == off (the placement MILP alone) on a conv with registers, and the
    decomposition did answer some fanout stage."""
    keys, solvers = on_and_off(bs.conv(R=2, P=2, C=1, K=2), gpu_like(3, 2, False))
    assert [hasattr(ls, "_stage") for ls in solvers] == [True, False]
    assert solvers[0]._stage is not None
    assert keys[0] == keys[1] and keys[0]


def on_and_off(problem, arch):
    """Every point's key of the per-tensor MILP's staircase with the decomposition on, then
    off, and the two solvers."""
    keys, solvers = [], []
    for on in (True, False):
        ls = joint.PlacementSolver(problem, arch)
        ls.decompose = on
        found, _ = joint.milp_points(ls)
        keys.append([pt.cost.key for pt in found])
        solvers.append(ls)
    return keys, solvers


@pytest.mark.parametrize("kw", [dict(R=3, P=2, C=1, K=1, Wstride=2),
                                dict(R=1, P=4, C=2, K=1, Wstride=2)])
def test_on_a_strided_conv_the_solver_with_it_equals_the_milp_alone(kw):
    """Decomposition on == off on strided 1-D convs (every point of the MILP's staircase)."""
    keys, _ = on_and_off(bs.conv(**kw), gpu_like(3, 2, False, regs=3))
    assert keys[0] == keys[1] and keys[0]


def test_the_uniform_seed_waits_for_the_decomposition(monkeypatch):
    """On a conv where the decomposition answers, no uniform seed is solved; where it
    declines, the seed is solved then, and the answers are the same (seeds never prove)."""
    conv = bs.conv(R=3, P=2, C=1, K=1, Wstride=2)
    arch = gpu_like(3, 2, False, regs=3)
    caps = [3, 5, 7, 10]
    seeded, asked = [], []
    uniform, least = joint.PlacementSolver._uniform, Stage.least

    def counted(self, capacity):
        seeded.append(capacity)
        return uniform(self, capacity)

    def answers(self, *args, **kw):
        asked.append(args)
        return least(self, *args, **kw)

    monkeypatch.setattr(joint.PlacementSolver, "_uniform", counted)
    monkeypatch.setattr(Stage, "least", answers)
    keys = []
    for declines in (False, True):
        if declines:
            monkeypatch.setattr(Stage, "least", lambda self, *a, **k: asked.append(a))
        ls = joint.PlacementSolver(conv, arch)
        keys.append([ls.joint(c, least_occupancy=False).cost.key for c in caps])
        assert asked and len(seeded) == (len(asked) if declines else 0), (asked, seeded)
        seeded.clear()
        asked.clear()
    assert keys[0] == keys[1]


def test_outer_parts_attain_the_traffic_they_are_asked_for():
    """Every listed outer part moves exactly the DRAM traffic asked for and fits (the
    one-buffer cost model re-costs it), and none is listed for a traffic below the least."""
    from boundsolver.model.cost import evaluate

    p = bs.gemm(4, 4, 8)
    for cap, dram in [(24, 192), (40, 160)]:
        found = outer_parts(p, cap, dram)
        for o in found.values():
            cost = evaluate(p, one_buffer_nest(p, o))
            assert cost.accesses == dram and cost.occupancy <= cap
    least = bs.solve_curve(p, [24], mapspace="per_tensor/perfect")["accesses"].iloc[0]
    assert outer_parts(p, 24, int(least) - 1) == {}


def one_buffer_nest(p, o):
    """An outer part built as a one-buffer nest, here and not by decompose (an independent
    check): its loops applied up to each copy's position, one level per position."""
    from boundsolver.model.cost import Nest

    levels, orders, storage, tile, done = [], [], [], dict(p.size), 0
    for pos in sorted(set(o.at)):
        seg = []
        for d, f in o.loops[done:pos]:
            tile[d] //= f
            seg.append(d)
        done = pos
        levels.append(tuple(tile.items()))
        orders.append(tuple(seg))
        storage += [(T.name, len(levels)) for i, T in enumerate(p.tensors) if o.at[i] == pos]
    return Nest(tuple(levels), tuple(orders), tuple(storage))


@pytest.mark.parametrize("kw", [dict(R=3, P=4, C=2, K=2), dict(R=3, P=6, C=2, K=4),
                                dict(R=2, S=2, P=2, Q=2, C=1, K=2),
                                dict(R=3, S=3, P=4, Q=4, C=2, K=2),
                                dict(R=3, P=4, C=2, K=2, Wstride=2),
                                dict(R=1, P=4, C=2, K=2, Wstride=2),
                                dict(R=2, P=4, C=2, K=2, Wdilation=2),
                                dict(R=3, S=3, P=2, Q=4, C=2, K=2, Wstride=2, Hstride=2),
                                dict(R=1, S=1, P=4, Q=2, C=2, K=4, Wstride=2, Hstride=3)])
def test_outer_parts_of_convs_attain_their_traffic_and_fills(kw):
    """The outer search's closed form of a window's fills is ``cost.moved_at``: every listed
    outer part of a conv, built as a one-buffer nest and re-costed, moves the DRAM traffic
    asked for in the capacity, and its signature's fills are moved_at at its bottom (a copy
    there), for every tensor; none is listed below the least traffic."""
    from boundsolver.model.cost import evaluate, moved_at

    p = bs.conv(**kw)
    whole = sum(p.tensor_size(T) for T in p.tensors)
    for cap in (whole // 3, whole // 2, whole):
        least = int(bs.solve_curve(p, [cap], mapspace="per_tensor/perfect")["accesses"].iloc[0])
        assert outer_parts(p, cap, least - 1) == {}
        found = outer_parts(p, cap, least)
        assert found
        for o in found.values():
            nest = one_buffer_nest(p, o)
            cost = evaluate(p, nest)
            assert cost.accesses == least and cost.occupancy <= cap
            assert dict(o.tile) == dict(nest.levels[-1])
            for T, fills in zip(p.tensors, o.fills):
                assert moved_at(p, T, nest, len(nest.levels)) == fills, (o, T.name)


@pytest.mark.parametrize("kw", [dict(R=3, P=4, C=2, K=2), dict(R=3, P=6, C=2, K=4),
                                dict(R=2, S=2, P=2, Q=2, C=1, K=2),
                                dict(R=3, S=3, P=4, Q=4, C=2, K=2)])
def test_least_by_whole_on_convs_is_the_one_buffer_staircase(kw):
    """Sliding axes: with the one-buffer weights, the least over the whole sets is the
    per-tensor staircase (fastnest.frontier, re-costed by cost.evaluate) at each of its
    occupancies."""
    from boundsolver.reference.fastnest import frontier

    p = bs.conv(**kw)
    weight = tuple(2 if T is p.output else 1 for T in p.tensors)
    words = [p.tensor_size(T) for T in p.tensors]
    stair = frontier(p, "per_tensor/perfect")
    for cap in sorted({c.occupancy for _, c in stair}):
        table = least_by_whole(p, cap, weight)
        got = min(value + sum(w * n for w, n, f in zip(weight, words, flags) if f)
                  for flags, (value, _, _) in table.items()) - p.tensor_size(p.output)
        assert got == min(c.accesses for _, c in stair if c.occupancy <= cap)


def test_least_by_whole_checks_its_weights():
    with pytest.raises(ValueError, match="non-negative int"):
        least_by_whole(bs.gemm(2, 2, 2), 8, (1, 1))


def test_past_its_deadline_it_declines():
    """Out of the capacity's time the decomposition answers nothing (the MILP then goes on
    as without it), rather than overrunning a time limit."""
    import time

    p = bs.gemm(4, 4, 4)
    stage = Stage(p, gpu_like(6, 2, False))
    assert stage.least(48, 48) is not None
    assert stage.least(48, 48, deadline=time.perf_counter() - 1) is None


@settings(max_examples=15, deadline=None)
@given(st.sampled_from([(2, 2, 4), (4, 2, 2), (3, 4, 2), (4, 4, 4), (6, 2, 4)]),
       st.integers(3, 40))
def test_least_by_whole_with_one_buffer_weights_is_the_one_buffer_optimum(mkn, cap):
    """With the one-buffer weights (inputs 1, the output 2, a whole tensor moved once), the
    least over the whole sets, less the output's first reads, is the one-buffer per-tensor
    optimum in ``cap`` words (fastnest.least: classes pruned across whole sets too)."""
    from boundsolver.reference.fastnest import least

    p = bs.gemm(*mkn)
    weight = tuple(2 if T is p.output else 1 for T in p.tensors)
    table = least_by_whole(p, cap, weight)
    ref = least(p, {"+".join(T.name for T in p.tensors): cap})
    if ref is None:
        assert not table
        return
    words = [p.tensor_size(T) for T in p.tensors]
    got = min(value + sum(w * n for w, n, f in zip(weight, words, flags) if f)
              for flags, (value, _, _) in table.items()) - p.tensor_size(p.output)
    assert got == ref[1].accesses


# ------------------------------------------------------------ one tensor bypassing level 1 (simba)

def simba_like(ci: int, cw: int, co: int, fan: int, lanes: int, mc: bool = True,
               ranks=None, lane_ranks=None) -> Arch:
    """A scaled-down ``simba``: DRAM -> a global buffer (swept, one instance) keeping the
    input and the output (the weight bypasses it) -> ``fan`` PEs, each with an input, a weight
    and an accumulation buffer (``ci``, ``cw``, ``co`` words) -> ``lanes`` one-word weight
    registers per PE."""
    from boundsolver.model.arch import Arch, Level

    return Arch("mini", 8, (
        Level("DRAM"), Level("GB", sweep=True, keeps=("input", "output")),
        Level("IB", ci, keeps=("input",), instances=fan, multicast=mc, spatial_ranks=ranks),
        Level("WB", cw, keeps=("weight",), instances=fan),
        Level("AB", co, keeps=("output",), instances=fan),
        Level("RF", 1, keeps=("weight",), instances=fan * lanes, spatial_ranks=lane_ranks)))


def check_bypass(problem, arch) -> int:
    """Every enumerated staircase point against :class:`Bypass`: the least (DRAM, level 1)
    traffic at its global-buffer occupancy is the enumerated one; with the earlier levels at
    the enumerated values, each group level's floor and the register floor are at most the
    enumerated traffic; every built mapping keeps the least (DRAM, level 1) traffic and none
    beats the enumerated key. Returns how many points were checked."""
    return check_bypass_against(problem, arch, per_tensor_points(problem, arch))


@settings(max_examples=20, deadline=None)
@given(st.sampled_from([(2, 2, 4), (4, 2, 2), (2, 4, 4), (4, 4, 2), (3, 2, 4), (4, 4, 4)]),
       st.tuples(st.integers(1, 4), st.integers(1, 4), st.integers(1, 4)),
       st.sampled_from([2, 4]), st.sampled_from([2, 4]), st.booleans(),
       st.sampled_from([None, ("k",), ("m", "n")]))
def test_bypass_equals_the_per_tensor_enumerator(mkn, caps, fan, lanes, mc, ranks):
    """GEMMs on scaled-down simbas: PE fanout 2 or 4, 2 or 4 lanes, PE splits restricted or
    not, the global buffer multicasting or not (not: refused, checked against the reason)."""
    from boundsolver.reference.decompose import bypass_applies

    p = bs.gemm(*mkn)
    arch = simba_like(*caps, fan, lanes, mc, ranks)
    why = bypass_applies(p, arch)
    if not mc:
        assert why == "level 1 does not multicast to level 2"
        return
    assert why is None
    assert check_bypass(p, arch) >= 1


def test_bypass_in_the_solver_equals_the_enumerator(monkeypatch):
    """The per-tensor MILP solver with the bypass decomposition gives the enumerated
    staircase on a scaled-down simba, and the decomposition did answer (calls counted)."""
    from boundsolver.reference.decompose import Bypass

    calls = []
    least = Bypass.least

    def counted(self, *args, **kw):
        out = least(self, *args, **kw)
        calls.append(out)
        return out

    monkeypatch.setattr(Bypass, "least", counted)
    p = bs.gemm(4, 2, 4)
    arch = simba_like(2, 4, 2, 2, 2)
    ref = joint.solve(p, arch, method="enumerate", placement="per_tensor")
    got = bs.pareto_frontier(p, arch=arch, mapspace="per_tensor/perfect", method="milp")
    same_rows(ref, got, arch)
    assert any(c is not None for c in calls)


def test_bypass_on_equals_off_on_simba():
    """On the real ``simba`` (GEMM 64^3, two global-buffer sizes) the solver with the
    decomposition gives the rows of the MILP alone (``decompose = False``), every row proven."""
    p = bs.gemm(64, 64, 64)
    arch = bs.load_arch("simba")
    rows = []
    for on in (True, False):
        ls = joint.PlacementSolver(p, arch)
        ls.decompose = on
        found, _ = joint.milp_points(ls, [256, 4096])
        rows.append([pt.cost.key for pt in found])
        assert hasattr(ls, "_bypass_stage") == on
    assert rows[0] == rows[1] and len(rows[0]) == 2


@pytest.mark.parametrize("arch, why", [
    (simba_like(4, 4, 4, 2, 2, mc=False), "does not multicast"),
    (gpu_like(4, 2, True), "not exactly one tensor bypasses"),
    (simba_like(4, 4, 4, 2, 1), "not kept by exactly one level"),
])
def test_where_bypass_does_not_apply(arch, why):
    from boundsolver.reference.decompose import bypass_applies

    assert why in bypass_applies(bs.gemm(2, 2, 2), arch)


def test_bypass_takes_strided_windows_and_refuses_windowed_weights():
    """A conv's input window is covered (level 1 keeps it), strided and dilated too; a window
    in the bypassing tensor is refused."""
    from boundsolver.reference.decompose import bypass_applies

    arch = simba_like(4, 4, 4, 2, 2)
    assert bypass_applies(bs.conv(R=3, P=4, C=2, K=2), arch) is None
    assert bypass_applies(bs.conv(R=3, P=4, C=2, K=2, Wstride=2), arch) is None
    assert bypass_applies(bs.conv(R=2, P=4, C=2, K=2, Wdilation=2), arch) is None
    levels = list(arch.levels)
    levels[1] = Level("GB", sweep=True, keeps=("weight", "output"))  # the input bypasses
    swapped = Arch("mini", 8, tuple(levels))
    assert "sliding-window axis in the bypassing tensor" in bypass_applies(
        bs.conv(R=3, P=4, C=2, K=2), swapped)


def check_bypass_against(problem, arch, points) -> int:
    """:func:`check_bypass`'s checks against given staircase points (levelnest's, for convs).
    Every built mapping fits every fixed level and none beats the staircase (``built`` drops
    those that overflow a level below the group: on GEMM 4x4x4 on simba_like(2, 4, 1, 2, 4) it
    once returned one two words over AB's one, with RF traffic 16 against the staircase's 32)."""
    from boundsolver.reference.decompose import Bypass

    bp = Bypass(problem, arch)
    for _, cost, _ in points:
        solved = bp.least(cost.occupancy[0])
        assert (solved.dram, solved.first) == (cost.dram, cost.accesses[0]), (cost, solved)
        done = {}
        for lv in bp.group:
            assert bp.floor(solved, lv, done) <= cost.accesses[lv - 1], (cost, lv)
            done[lv] = cost.accesses[lv - 1]
        assert bp.deep_floor(solved, done) <= cost.accesses[bp.deep[0] - 1]
        built = bp.built(solved)
        assert built and all(c.key[:2] == cost.key[:2] and c.occupancy[0] <= cost.occupancy[0]
                             for _, _, c in built)
        assert all(fits(c, arch) and c.key >= cost.key for _, _, c in built)
    return len(points)


@settings(max_examples=8, deadline=None)
@given(st.sampled_from([(2, 2, 2, 2), (2, 2, 4, 3), (1, 2, 3, 2), (2, 1, 4, 2), (4, 2, 2, 3)]),
       st.tuples(st.integers(1, 6), st.integers(1, 4), st.integers(1, 4)))
def test_bypass_on_convs_equals_levelnest(kcpr, caps):
    """1-D convs (the input's window in the global buffer) on scaled-down simbas against the
    vectorised per-tensor enumerator (levelnest.py, which agrees with the placement MILP on
    convs with fanout)."""
    from boundsolver.reference import levelnest

    k, c, p, r = kcpr
    conv = bs.conv(R=r, P=p, C=c, K=k)
    arch = simba_like(*caps, 2, 2)
    points = levelnest.frontier(conv, arch)
    assume(points is not None)
    assert check_bypass_against(conv, arch, points) >= 1


def test_bypass_on_a_two_d_conv_equals_levelnest(monkeypatch):
    """Two sliding axes in the input (levelnest enumerates it past its default class limit)."""
    from boundsolver.reference import levelnest

    monkeypatch.setattr(levelnest, "WINDOW_PLAN_LIMIT", 10**6)
    conv = bs.conv(R=2, S=2, P=2, Q=2, C=1, K=2)
    arch = simba_like(4, 4, 4, 2, 2)
    points = levelnest.frontier(conv, arch)
    assert points is not None
    assert check_bypass_against(conv, arch, points) >= 1


@settings(max_examples=10, deadline=None)  # (the enumerators: about a second a case)
@given(st.sampled_from(STRIDED + [(4, 1, 4, 2, 3, 1)]),
       st.tuples(st.integers(1, 6), st.integers(1, 4), st.integers(1, 4)))
def test_bypass_on_strided_one_d_convs_equals_the_enumerators(shape, caps):
    """Strided and dilated 1-D convs (``stride*p + dilation*r`` in the input, which the
    global buffer keeps: overlapping windows, holes, a dilation) on scaled-down simbas
    against levelnest, else the depth-first enumerator (:func:`conv_points`; neither reads
    the decomposition; before its cut counted touched elements, per_tensor_points missed points
    here, e.g. K=1, C=4, P=4, R=1, stride 2 at a global buffer of 3 words: DRAM 28, not 32): the least (DRAM, level 1)
    traffic, floors below, built mappings re-costed."""
    k, c, p_, r, stride, dil = shape
    conv = bs.conv(R=r, P=p_, C=c, K=k, Wstride=stride, Wdilation=dil)
    arch = simba_like(*caps, 2, 2)
    with pytest.MonkeyPatch.context() as mp:
        points = conv_points(conv, arch, mp)
    assert check_bypass_against(conv, arch, points) >= 1


@pytest.mark.parametrize("kw", [dict(R=3, S=3, P=2, Q=2, C=1, K=1),
                                dict(R=1, S=1, P=2, Q=2, C=1, K=2),
                                dict(R=3, S=1, P=2, Q=2, C=1, K=2),
                                dict(R=1, S=1, P=4, Q=2, C=2, K=2)])
@pytest.mark.parametrize("caps", [(4, 4, 4), (2, 1, 2), (9, 2, 2)])
def test_bypass_on_strided_two_d_convs_equals_the_enumerators(monkeypatch, kw, caps):
    """Stride 2 on both axes (a 3x3 overlapping by one, 1x1 downsamples with holes, a 3x1):
    against levelnest, else the depth-first enumerator."""
    conv = bs.conv(**kw, Wstride=2, Hstride=2)
    arch = simba_like(*caps, 2, 2)
    from boundsolver.reference import levelnest

    monkeypatch.setattr(levelnest, "WINDOW_PLAN_LIMIT", 10**6)
    assert check_bypass_against(conv, arch, conv_points(conv, arch, monkeypatch)) >= 1


@pytest.mark.parametrize("kw, caps", [(dict(R=1, P=4, C=2, K=2, Wstride=2), (6, 4, 4)),
                                      (dict(R=1, P=4, C=4, K=1, Wstride=2), (2, 2, 2)),
                                      (dict(R=2, P=4, C=1, K=4, Wstride=3), (2, 2, 2))])
def test_bypass_counts_a_strided_windows_holes(kw, caps):
    """Inputs with holes (1x1 stride 2; R = 2 at stride 3): tiled, they move fewer words
    than their bounding boxes, and the least (DRAM, level 1) traffic and the floors must see
    that against levelnest's staircase (a Bypass taking the bounding box as the least a
    re-fetch moves in its outer search, or a tiled copy's fills as at least the outer part's
    bottom's, fails here)."""
    from boundsolver.reference import levelnest

    conv = bs.conv(**kw)
    assert touched(conv.tensors[0], conv.size) < conv.tensor_size(conv.tensors[0])
    arch = simba_like(*caps, 2, 2)
    points = levelnest.frontier(conv, arch)
    assert points is not None
    assert check_bypass_against(conv, arch, points) >= 1


@pytest.mark.parametrize("kw, caps", [(dict(R=2, P=4, C=1, K=4, Wstride=3), (2, 2, 2)),
                                      (dict(R=3, P=4, C=2, K=2, Wstride=2), (6, 4, 4))])
def test_bypass_group_floors_on_strided_convs_are_tight(kw, caps):
    """The group levels' floors (:meth:`Bypass.ideal`) equal levelnest's traffic at every
    point of these strided convs' staircases: a tiled window's least counts the elements its
    tiles touch with the stride in them (dropping the coefficient there, which gives the
    unit-stride extent, weakens the floors below the staircase and fails here)."""
    from boundsolver.reference import levelnest
    from boundsolver.reference.decompose import Bypass

    conv = bs.conv(**kw)
    arch = simba_like(*caps, 2, 2)
    points = levelnest.frontier(conv, arch)
    assert points is not None
    bp = Bypass(conv, arch)
    n = 2 + len(bp.group)
    for _, cost, _ in points:
        assert bp.ideal(bp.least(cost.occupancy[0]))[:n] == cost.key[:n], cost


@pytest.mark.parametrize("kw", [dict(R=1, P=4, C=4, K=1, Wstride=2),
                                dict(R=2, P=3, C=2, K=1, Wstride=3)])
@pytest.mark.parametrize("which", ["simba", "gpu unicast", "gpu multicast"])
def test_the_depth_first_enumerator_sees_holes_under_fanout(kw, which):
    """Strided windows with holes under fanout: the depth-first enumerator (whose cut counts
    touched elements, not |T|) and levelnest, two searches, give one staircase."""
    from boundsolver.reference import levelnest

    conv = bs.conv(**kw)
    arch = {"simba": simba_like(3, 2, 2, 2, 2), "gpu unicast": gpu_like(3, 2, False),
            "gpu multicast": gpu_like(4, 2, True)}[which]
    x = arch.swept_index
    theirs = levelnest.frontier(conv, arch)
    assert theirs is not None
    assert [(c.occupancy[x], c.key) for _, c, _ in per_tensor_points(conv, arch)] == \
        [(c.occupancy[x], c.key) for _, c, _ in theirs]


# ------------------------------------------------ the paired register floor (Bypass._paired)

def _conv3_x_candidate(split: dict, whole=(False, False, False)):
    """ResNet-50's conv3_x 3x3 stride 2 on ``simba`` with an empty outer part (the global
    buffer holding everything) and level 2's ``split``: a Candidate as ``Bypass.least``
    builds them, and its slice per PE."""
    from boundsolver.reference.decompose import Bypass, Candidate, Outer

    p = bs.conv(R=3, S=3, P=28, Q=28, C=128, K=128, Hstride=2, Wstride=2)
    bp = Bypass(p, bs.load_arch("simba"))
    floors = (415872, 147456, 100352)  # I, W, O each once (the 512 KB row's stage values)
    tile = tuple((d, p.size[d]) for d in p.ranks)
    cand = Candidate(Outer((), (0, -1, 0), tile, (0, 0, 0)), tuple(split.items()), floors,
                     whole)
    sigma = {d: p.size[d] // split.get(d, 1) for d in p.ranks}
    return bp, cand, dict(zip((2, 3, 4), floors)), sigma


def test_the_paired_floor_on_conv3_x_counts_both_ways():
    """The factor by hand (docs/hierarchy.md, *Paired*; X: the input, c = 8,192; Y: the
    outputs, c = 1,024; U: P, Q of 28 each, sigma_U = 784). Split C by 16 (sigma_C 8, sigma_K
    128): way (2), the input holding C 8 and R, S 3 at stride 2, 8 (2p + 1)(2q + 1) <= 8,192,
    so p q <= 196 over divisors of 28 (28 x 7, 14 x 14): 4 trips; way (1), the outputs
    holding K 128, 128 p q <= 1,024: p q <= 8: 98 trips; min 4. Split K by 16 (sigma_K 8,
    sigma_C 128): (1) 8 p q <= 1,024, p q <= 112 (4 x 28): 7 trips; (2) 128 (2p + 1)(2q + 1)
    <= 8,192 has p q at most 8 (2 x 4: 5 x 9 = 45): 98 trips; min 7. Dropping either way
    gives 98 in one of them; a copy that fits whole, or a stage not at its floor, gives no
    factor."""
    bp, cand, limits, sigma = _conv3_x_candidate({"c": 16})
    assert bp._paired(cand, limits, sigma) == 4
    bp, cand, limits, sigma = _conv3_x_candidate({"k": 16})
    assert bp._paired(cand, limits, sigma) == 7
    bp, cand, limits, sigma = _conv3_x_candidate({"c": 16}, whole=(True, False, False))
    assert bp._paired(cand, limits, sigma) == 1
    bp, cand, limits, sigma = _conv3_x_candidate({"c": 16})
    assert bp._paired(cand, limits | {4: 100353}, sigma) == 1


def test_the_paired_floor_stays_below_the_enumerator(monkeypatch):
    """GEMM 4x4x8 on a scaled-down simba (input buffer 4 words, accumulation buffer 4): the
    paired factor is 2 on candidates at the staircase's stage values (the input holding K 4
    in its 4 words leaves one M per tile: 2 trips above the registers' innermost loop; the
    outputs cannot hold N 8), and every floor stays at most the per-tensor enumerator's
    traffic (:func:`check_bypass`)."""
    from boundsolver.reference.decompose import Bypass

    seen = []
    paired = Bypass._paired

    def spy(self, *args):
        seen.append(paired(self, *args))
        return seen[-1]

    monkeypatch.setattr(Bypass, "_paired", spy)
    assert check_bypass(bs.gemm(4, 4, 8), simba_like(4, 32, 4, 2, 2)) >= 1
    assert 2 in seen


@pytest.mark.parametrize("occupancy", [4, 32, 64])
def test_built_tries_the_candidates_that_may_meet_the_ideal_first(occupancy):
    """With one candidate and one chain a pass (``limit=1, budget=0``), :meth:`Bypass.built`
    attains the ideal key (every stage at its floor, so exact) on GEMM 4x4x4 on a scaled-down
    simba at these global-buffer sizes: the candidate it takes first is one whose floors may
    meet it. Taking the candidates in floor order alone (as before; conv3_x 3x3 at 512 KB on
    ``simba`` then missed the register floor within the full budget) misses it at all three."""
    from boundsolver.reference.decompose import Bypass

    bp = Bypass(bs.gemm(4, 4, 4), simba_like(2, 16, 4, 2, 2))
    solved = bp.least(occupancy)
    ideal = bp.ideal(solved)
    built = bp.built(solved, limit=1, budget=0)
    assert min(c.key for _, _, c in built)[:len(ideal)] == ideal


def test_bypass_builds_only_mappings_that_fit():
    """GEMM 4x4x4 on simba_like(2, 4, 1, 2, 4) (AB holds one word): ``built`` once returned a
    mapping two words over AB, RF traffic 16 against the staircase's 32; every built mapping
    fits every fixed level now, and at least one is built at every staircase point."""
    from boundsolver.reference.decompose import Bypass

    p, arch = bs.gemm(4, 4, 4), simba_like(2, 4, 1, 2, 4)
    bp = Bypass(p, arch)
    points = per_tensor_points(p, arch)
    assert points
    for _, cost, _ in points:
        built = bp.built(bp.least(cost.occupancy[0]))
        assert built and all(fits(c, arch) for _, _, c in built), cost
