"""One interface: one default method everywhere ("auto", the faster exact method), options after
``capacities`` keyword-only, and every option that does not apply refused, never ignored."""

from __future__ import annotations

import inspect

import pytest
from helpers import lookup, points

import boundsolver as bs
from boundsolver.cli import parser
from boundsolver.curves import fused, joint, methods, points as one_buffer
from boundsolver.model.arch import Arch, Level
from boundsolver.report import network

GEMM = bs.gemm(8, 4, 6)
THREE = Arch("three", 8, (Level("DRAM"), Level("L2", sweep=True), Level("L1", 8)))
FIXED_HIERARCHY = Arch("fixed3", 8, (Level("DRAM"), Level("L2", 64), Level("L1", 8)))
FIXED_BUFFER = Arch("fixed", 8, (Level("DRAM"), Level("Buffer", 30)))


def ffn():
    return bs.workload(["H[m,f] += X[m,d] * W1[d,f]", "Y[m,d] += H[m,f] * W2[f,d]"],
                       m=4, d=4, f=8)


def test_one_list_of_methods_and_one_default():
    assert methods.METHODS == ("auto", "milp", "enumerate") and methods.DEFAULT == "auto"
    assert one_buffer.METHODS is methods.METHODS
    for fn in (bs.solve_curve, bs.pareto_frontier, bs.solve_curves, fused.solve_workload,
               fused.workload_curve, fused.workload_frontier, network.network_table,
               network.network_curves):
        assert inspect.signature(fn).parameters["method"].default == "auto", fn.__name__
    for fn in (bs.solve_curve, bs.pareto_frontier, fused.solve_workload, fused.workload_curve,
               fused.workload_frontier):  # translated loops where modelled (docs/fusion.md)
        assert inspect.signature(fn).parameters["translate"].default is None, fn.__name__
    # joint.solve's None is the default too
    assert methods.check_method(inspect.signature(joint.solve).parameters["method"].default) == "auto"
    cli = parser()
    for argv in (["curve", "gemm", "8", "8", "8"], ["network", "model.onnx"]):
        action = next(a for a in cli._subparsers._group_actions[0].choices[argv[0]]._actions
                      if a.dest == "method")
        assert tuple(action.choices) == methods.METHODS
        assert (cli.parse_args(argv).method or methods.DEFAULT) == "auto"


def test_the_default_takes_the_faster_method():
    # A small GEMM: enumeration (milliseconds) for an Einsum, for solve_curves and in workloads.
    assert bs.pareto_frontier(GEMM).attrs["method"] == "enumeration"
    assert bs.solve_curve(GEMM, [10]).attrs["method"] == "enumeration"
    (front,) = bs.solve_curves([GEMM], cache=False, progress=False)
    assert front.attrs["method"] == "enumeration"
    # A huge mapspace (720720 has 240 divisors): the MILP.
    assert methods.choose_method(bs.gemm(720720, 720720, 720720), None) == "milp"
    # Both give the same staircase.
    assert points(bs.pareto_frontier(GEMM)) == points(bs.pareto_frontier(GEMM, method="milp"))


def test_auto_weighs_how_many_capacities_a_curve_asks():
    # Enumeration costs the whole staircase however few capacities are asked; the MILP one
    # solve each. GEMM 55440^3 (1.73 M tilings): the frontier enumerates, a few capacities
    # take the MILP, many enumerate again; windowed Einsums (slow MILP) always enumerate.
    big = bs.gemm(55440, 55440, 55440)
    assert methods.choose_method(big, None) == "enumerate"
    assert methods.choose_method(big, None, capacities=16) == "milp"
    assert methods.choose_method(big, None, capacities=64) == "enumerate"
    assert methods.choose_method(GEMM, None, capacities=1) == "enumerate"
    conv = bs.conv(R=3, S=1, P=840, Q=1, C=840, K=840)  # 65,536 tilings
    assert methods.choose_method(conv, None, capacities=1) == "enumerate"
    # and the curve is the same either way
    small = bs.gemm(5040, 5040, 5040)
    assert methods.choose_method(small, None, capacities=1) == "milp"
    assert bs.solve_curve(small, [4096]).attrs["method"] != "enumeration"
    assert bs.solve_curve(small, [4096])["accesses"].tolist() == \
        bs.solve_curve(small, [4096], method="enumerate")["accesses"].tolist()


def test_auto_falls_back_to_the_milp_where_enumeration_refuses(monkeypatch):
    def refuse(problem, mapspace):
        raise bs.EnumerationTooLarge("too large (test)")

    monkeypatch.setattr(methods, "enumeration", refuse)
    monkeypatch.setattr(one_buffer, "enumeration", refuse)
    front = bs.pareto_frontier(GEMM)
    assert front.attrs["method"] == "milp"
    assert points(front) == points(bs.enumerate_frontier(GEMM))
    with pytest.raises(bs.EnumerationTooLarge):
        bs.pareto_frontier(GEMM, method="enumerate")


def test_options_after_capacities_are_keyword_only():
    with pytest.raises(TypeError):
        bs.solve_curve(GEMM, [10], "highs")
    with pytest.raises(TypeError):
        bs.pareto_frontier(GEMM, "highs")
    for fn, first in ((bs.solve_curve, 2), (bs.pareto_frontier, 1)):
        params = list(inspect.signature(fn).parameters.values())
        assert all(p.kind is p.KEYWORD_ONLY for p in params[first:]), fn.__name__


def test_cache_is_exported():
    from boundsolver.curves.cache import Cache

    assert bs.Cache is Cache and "Cache" in bs.__all__


def test_bad_method_and_solver_are_refused_whichever_method_runs():
    for fn in (lambda **k: bs.pareto_frontier(GEMM, **k), lambda **k: bs.solve_curve(GEMM, [9], **k),
               lambda **k: bs.solve_curves([GEMM], cache=False, progress=False, **k),
               lambda **k: bs.pareto_frontier(ffn(), **k)):
        with pytest.raises(bs.BoundsolverError, match="method must be one of auto, milp, enumerate"):
            fn(method="simplex")
    # enumeration runs here, yet a misspelt solver is still an error, not ignored
    with pytest.raises(bs.SolverError, match="unknown solver"):
        bs.pareto_frontier(GEMM, solver="gurobi")
    with pytest.raises(bs.EinsumError, match="expected an Einsum"):
        bs.pareto_frontier("Z[m,n] += A[m,k] * B[k,n]")


def test_time_limit_means_the_milp():
    curve = bs.solve_curve(GEMM, [10, 40], time_limit=60)
    assert curve.attrs["method"] == "milp" and (curve["status"] == "optimal").all()
    assert curve["accesses"].tolist() == [lookup(points(bs.enumerate_frontier(GEMM)), c)
                                          for c in (10, 40)]
    with pytest.raises(bs.BoundsolverError, match="time_limit applies to the MILP"):
        bs.solve_curve(GEMM, [10], time_limit=60, method="enumerate")


def test_progress_is_honoured_by_both_methods_on_an_einsum(capsys):
    for method in ("enumerate", "milp", "auto"):
        assert points(bs.pareto_frontier(GEMM, progress=True, method=method)) == points(
            bs.enumerate_frontier(GEMM))
    with pytest.raises(bs.BoundsolverError, match="progress must be True or False"):
        bs.pareto_frontier(GEMM, progress="yes")


@pytest.mark.parametrize("option,message", [
    ({"progress": True}, "progress applies to a single Einsum on one buffer"),
    ({"max_depth": 2}, "max_depth .* not to a single Einsum"),
    ({"fusion": True}, "fusion= applies to workloads"),
])
def test_hierarchy_refuses_what_it_does_not_honour(option, message):
    with pytest.raises(bs.BoundsolverError, match=message):
        bs.pareto_frontier(GEMM, arch=THREE, **option)
    with pytest.raises(bs.BoundsolverError, match=message):
        bs.solve_curve(GEMM, [20], arch=THREE, **option)


@pytest.mark.parametrize("call,message", [
    (lambda: bs.pareto_frontier(GEMM, max_depth=2), "not to a single Einsum"),
    (lambda: bs.pareto_frontier(ffn(), fusion=False, max_depth=2), "not to fusion=False"),
    (lambda: bs.pareto_frontier(ffn(), arch=THREE, max_depth=2),
     "not to a workload on three"),
    (lambda: bs.solve_curve(ffn(), [50], progress=True), "a workload's curve shows no progress"),
    (lambda: bs.pareto_frontier(ffn(), fusion=False, time_limit=3), "fused search"),
    (lambda: bs.pareto_frontier(ffn(), arch=THREE, fusion=True, time_limit=3),
     "not supported for fused workloads on a hierarchy"),
    (lambda: bs.pareto_frontier(ffn(), arch=THREE, fusion=False, progress=True),
     "shows no progress"),
])
def test_options_that_do_not_apply_are_refused(call, message):
    with pytest.raises(bs.BoundsolverError, match=message):
        call()


def test_max_depth_is_honoured_on_fused_workloads():
    """Every tree of depth 0 is one of depth 2, so the deeper search is never worse; on this
    chain it is better somewhere (the option changes the answer, so it is not ignored)."""
    w = ffn()
    shallow = points(bs.pareto_frontier(w, max_depth=0))
    deep = points(bs.pareto_frontier(w, max_depth=2))
    caps = sorted({o for o, _ in shallow + deep})
    assert all(lookup(deep, c) <= lookup(shallow, c) for c in caps if lookup(shallow, c))
    assert any(lookup(deep, c) != lookup(shallow, c) for c in caps)


def test_capacities_without_a_swept_level_are_refused():
    for arch in (FIXED_BUFFER, FIXED_HIERARCHY):
        with pytest.raises(bs.BoundsolverError, match="has no swept level"):
            bs.solve_curve(GEMM, [20], arch=arch)


def test_a_fixed_one_buffer_arch_clips_the_frontier_at_its_capacity():
    stairs = points(bs.enumerate_frontier(GEMM))
    clipped = bs.pareto_frontier(GEMM, arch=FIXED_BUFFER)
    assert points(clipped) == [(o, a) for o, a in stairs if o <= 30]
    assert points(clipped)[-1][1] == lookup(stairs, 30)  # the bound at the buffer's capacity
    assert clipped.attrs["capacity"] == 30
    w = ffn()
    clipped = bs.pareto_frontier(w, arch=FIXED_BUFFER)
    whole = points(bs.pareto_frontier(w))
    assert points(clipped) == [(o, a) for o, a in whole if o <= 30] != whole
