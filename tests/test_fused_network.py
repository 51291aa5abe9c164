"""Network-scale speed-ups of the fused search are exact: the suffix DP over segments and the
skipping of disconnected runs give the same frontier as solving every run."""

from __future__ import annotations

import pytest

import boundsolver as bs
from boundsolver.curves import fused

onnx = pytest.importorskip("onnx")


def curve(w):
    f = bs.pareto_frontier(w, fusion=True)
    return list(zip(f.occupancy.tolist(), f.accesses.tolist()))


def every_run(workload, i, end):
    return list(range(i, end))


def test_connected_runs_of_a_chain_broken_by_a_padded_input():
    """A reads x, B reads A's output y; C reads y_padded (its own copy), not y: the cut before
    C is bridged by nothing, so no run spans it."""
    A = bs.einsum("Y[m,n] += X[m,k] * W[k,n]", "A", m=4, k=4, n=4)
    B = bs.einsum("Z[m,n] += Y[m,n]", "B", m=4, n=4)
    C = bs.einsum("V[m,j] += Yp[m,n] * U[n,j]", "C", m=4, n=4, j=4)
    w = bs.workload([A, B, C])
    assert fused.connected_runs(w, 0, 3) == [0, 1]
    assert fused.connected_runs(w, 1, 3) == [1]
    D = bs.einsum("S[m,j] += V[m,j] * Y[m,j]", "D", m=4, j=4)   # reads y again: bridges it
    w = bs.workload([A, B, C, D])
    assert fused.connected_runs(w, 0, 4) == [0, 1, 3]


@pytest.mark.parametrize("batch", [1, 2])
def test_skipping_disconnected_runs_keeps_the_frontier(monkeypatch, batch):
    """The ResNet bottleneck of tests/test_onnx.py (a padded conv cuts its chain; the shortcut
    bridges it back), solved with and without the skipping."""
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).parent))
    try:
        from test_onnx import bottleneck
    finally:
        sys.path.pop(0)
    w = bs.from_onnx(bottleneck(C=4, H=4, mid=4), N=batch)
    n = len(w.einsums)
    assert sum(len(fused.connected_runs(w, i, n)) for i in range(n)) < n * (n + 1) // 2
    pruned = curve(w)
    monkeypatch.setattr(fused, "connected_runs", every_run)
    assert curve(w) == pruned


def test_a_fused_time_limit_stops_with_an_error_not_a_curve():
    """Past its time limit the fused search raises SolverError saying how far it got (no
    partial curve); a limit it meets changes nothing; a bad limit is refused."""
    w = bs.workload(["Y[m,c] += X[m,d] * A[d,c]", "Z[m,j] += Y[m,c] * B[c,j]"],
                    name="ffn", m=8, d=4, c=4, j=4)
    with pytest.raises(bs.SolverError, match=r"did not finish in its time limit of 1e-09 s "
                       r"\(\d+ of 3 segments solved"):
        bs.pareto_frontier(w, time_limit=1e-9)
    exact = bs.pareto_frontier(w)
    timed = bs.pareto_frontier(w, time_limit=600)
    assert timed[["occupancy", "accesses"]].equals(exact[["occupancy", "accesses"]])
    with pytest.raises(bs.BoundsolverError, match="positive number of seconds"):
        bs.pareto_frontier(w, time_limit=0)


def test_the_cli_stops_a_fused_search_at_its_time_limit(capsys):
    """``curve WORKLOAD --fusion --time-limit`` ends with the error, exit status 2, one line; the
    option without --fusion is refused as before."""
    from boundsolver.cli import main

    assert main(["curve", "ffn", "--tokens", "64", "--fusion", "--time-limit", "1e-9", "-q"]) == 2
    err = capsys.readouterr().err
    assert "did not finish in its time limit of 1e-09 s" in err and err.count("\n") == 1
    assert main(["curve", "ffn", "--tokens", "64", "--time-limit", "5", "-q"]) == 2
    assert "does not apply to workloads without --fusion" in capsys.readouterr().err
