"""A workload's connected regions solved apart (fused.solve_regions, in a process pool) give the
same frontier as the one-process search, breakpoint by breakpoint, and every row's schedule (the
regions' trees one after another) re-costs to its value in integers."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import boundsolver as bs
from boundsolver.curves import fused


@st.composite
def networks(draw):
    """A chain of 2-6 small Einsums over tensors ``T0..`` of one shape ``[m, k]``: a matmul by a
    weight, or an elementwise product with an earlier tensor (a residual: it bridges every cut
    between the two); an Einsum reading a fresh copy ``Pi`` of its input instead cuts the chain
    (a padded conv's copy, docs/onnx.md). Some produced tensors are ``stored`` (read from the
    backing store by something outside the Einsums)."""
    M, C = draw(st.sampled_from([2, 4])), draw(st.sampled_from([2, 4]))
    n = draw(st.integers(2, 6))
    texts = []
    for i in range(n):
        x = f"P{i}" if i and draw(st.booleans()) else f"T{i}"
        if i >= 2 and draw(st.integers(0, 3)) == 0:  # a residual from an earlier tensor
            j = draw(st.integers(1, i - 1))
            texts.append(f"T{i + 1}[m,n] += {x}[m,n] * T{j}[m,n]")
        else:
            texts.append(f"T{i + 1}[m,n] += {x}[m,k] * W{i}[k,n]")
    stored = tuple(f"T{i}" for i in range(1, n) if draw(st.integers(0, 4)) == 0)
    w = bs.workload(texts, name="net", m=M, k=C, n=C)
    return bs.Workload(w.einsums, w.name, w.word_bits, stored)


def borders(w) -> list[int]:
    """The cuts (after Einsum ``m``) that no tensor bridges, from the definition."""
    users: dict[str, list[int]] = {}
    for i, e in enumerate(w.einsums):
        for T in e.tensors:
            users.setdefault(T.name, []).append(i)
    return [m for m in range(len(w.einsums) - 1)
            if not any(min(u) <= m < max(u) for u in users.values())]


def solved_apart(w, workers=2, **kw):
    """:func:`fused.solve_regions` of ``w`` with threads in place of processes (the same code,
    the same results; fast enough to run many random examples)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fused, "ProcessPoolExecutor", _Threads)
        return fused.solve_regions(w, fused.regions(w), workers, None, kw)


def check_rows(w, sol):
    """Every breakpoint's schedule rebuilt and re-costed in integers (``_row`` raises where the
    schedule does not reproduce the frontier's value within the capacity)."""
    for o in sol.frontier.occ:
        row = fused._row(w, sol, int(o), False)
        assert row["occupancy"] == int(o)


@settings(max_examples=25, deadline=None)
@given(networks())
def test_regions_solved_apart_give_the_one_process_curve(w):
    """Random chains with borders, residuals and stored tensors: the regions' staircases added
    equal the whole search's, every row re-costed; the regions are the runs between the cuts no
    tensor bridges."""
    spans = fused.regions(w)
    cuts = borders(w)
    assert [b for _, b in spans[:-1]] == cuts and spans[0][0] == 0
    assert all(b + 1 == a for (_, b), (a, _) in zip(spans, spans[1:]))
    one = fused.solve_workload(w, True, max_depth=2, workers=1)
    apart = solved_apart(w, max_depth=2)
    assert apart.search is None and len(apart.parts) == len(spans)
    assert apart.frontier.occ.tolist() == one.frontier.occ.tolist()
    assert apart.frontier.acc.tolist() == one.frontier.acc.tolist()
    check_rows(w, apart)


class _Threads(ThreadPoolExecutor):
    """A ThreadPoolExecutor taking ProcessPoolExecutor's ``initializer`` (ignored: threads
    cannot set signal handlers)."""

    def __init__(self, max_workers, initializer=None):
        super().__init__(max_workers)


def _three_regions():
    """A chain cut twice (``P2``, ``P4`` read fresh copies), each region fusible."""
    texts = ["T1[m,n] += T0[m,k] * W0[k,n]", "T2[m,n] += T1[m,k] * W1[k,n]",
             "T3[m,n] += P2[m,k] * W2[k,n]", "T4[m,n] += T3[m,k] * W3[k,n]",
             "T5[m,n] += P4[m,k] * W4[k,n]", "T6[m,n] += T5[m,k] * W5[k,n]"]
    return bs.workload(texts, name="three", m=8, k=4, n=4)


def test_a_process_pool_gives_the_same_frontier_and_rows():
    """The real pool (each region pickled to a worker, its trees pickled back), through the
    public path: ``workload_frontier(workers=2)`` equals ``workers=1`` row by row (schedules
    re-costed), and leaves no worker behind."""
    w = _three_regions()
    assert fused.regions(w) == [(0, 1), (2, 3), (4, 5)]
    one = fused.workload_frontier(w, workers=1)
    two = fused.workload_frontier(w, workers=2)
    cols = ["occupancy", "accesses", "fused"] + [c for c in one.columns if c.startswith("reads_")]
    assert two[cols].equals(one[cols])
    assert one["fused"].any()  # the regions fuse inside: a wrong split would show
    assert two.attrs["traced"] == one.attrs["traced"]
    assert not multiprocessing.active_children()


def test_a_region_alone_keeps_its_stored_tensors_and_only_its_own():
    w = _three_regions()
    w = bs.Workload(w.einsums, w.name, w.word_bits, ("T1", "T4"))
    sub = fused.region_workload(w, 2, 3)
    assert sub.names == ("T3", "T4") and sub.stored == ("T4",)
    apart = solved_apart(w)  # threads: the stored T1 and T4 are written back in their regions
    one = fused.solve_workload(w, True, workers=1)
    assert apart.frontier.acc.tolist() == one.frontier.acc.tolist()
    check_rows(w, apart)


def test_workers_is_checked_and_defaults_to_one_process_on_small_workloads(monkeypatch):
    w = _three_regions()
    for bad in (0, -1, 1.5, "2", True):
        with pytest.raises(bs.BoundsolverError, match="workers .* must be an integer >= 1"):
            fused.solve_workload(w, True, workers=bad)
    with pytest.raises(bs.BoundsolverError, match="workers applies to a fused search"):
        fused.solve_workload(w, False, workers=2)
    assert fused.solve_workload(w, False, workers=1).search is not None
    spans = fused.regions(w)
    assert fused.default_workers(w, spans) == 1  # regions far below PARALLEL_EINSUMS
    monkeypatch.setattr(fused, "PARALLEL_EINSUMS", 2)
    monkeypatch.setattr(fused, "_cpus", lambda: 2)
    assert fused.default_workers(w, spans) == 2
    with pytest.MonkeyPatch.context() as mp:  # a daemon (a multiprocessing.Pool's worker)
        mp.setattr(multiprocessing.current_process(), "daemon", True)
        assert fused.default_workers(w, spans) == 1
    monkeypatch.setattr(fused, "_cpus", lambda: 1)
    assert fused.default_workers(w, spans) == 1
    one = bs.workload(["Y[m,c] += X[m,d] * A[d,c]", "Z[m,j] += Y[m,c] * B[c,j]"], m=4, d=2,
                      c=2, j=2)
    assert fused.solve_workload(one, True, workers=4).search is not None  # one region


def test_a_time_limit_stops_every_region_with_an_error():
    """One wall-clock deadline for the pool: past it SolverError (no curve), and no worker is
    left running."""
    with pytest.raises(bs.SolverError, match=r"did not finish in its time limit of 1e-09 s, "
                                             r"solved region by region in 2 processes"):
        fused.solve_workload(_three_regions(), True, workers=2, time_limit=1e-9)
    assert not multiprocessing.active_children()


def test_the_public_api_takes_workers_where_it_applies():
    """``pareto_frontier``/``solve_curve`` pass ``workers`` to the fused search (the same rows
    as one process) and refuse it where no fused search on one buffer runs."""
    w = _three_regions()
    caps = [40, 100, 400]
    one = bs.solve_curve(w, caps, workers=1)
    two = bs.solve_curve(w, caps, workers=2)
    assert two["accesses"].tolist() == one["accesses"].tolist()
    bad = ((lambda: bs.pareto_frontier(bs.gemm(2, 2, 2), workers=2), "a single Einsum"),
           (lambda: bs.pareto_frontier(w, fusion=False, workers=2), "fusion=False"),
           (lambda: bs.solve_curve(w, caps, arch="simba", workers=2), "a workload on simba"))
    for call, where in bad:
        with pytest.raises(bs.BoundsolverError, match=f"workers .* not to {where}"):
            call()


def test_the_cli_takes_workers_with_fusion_only(capsys, tmp_path):
    from boundsolver.cli import main

    model = str(tmp_path / "none.onnx")  # refused before the model is read
    assert main(["network", model, "--workers", "2", "-q"]) == 2
    assert "--workers does not apply without --fusion" in capsys.readouterr().err
    assert main(["network", model, "--fusion", "--workers", "0", "-q"]) == 2
    assert "--workers: a whole number of processes" in capsys.readouterr().err
