"""A fused search that runs the machine low on memory stops with SolverError saying how far it
got (no partial curve), in one process, in a pool of workers, and on the command line; a pool
whose worker is killed outright says so in one line instead of a traceback."""

from __future__ import annotations

import multiprocessing
import os
import signal

import pytest

import boundsolver as bs
from boundsolver.curves import fused


def ffn():
    return bs.workload(["Y[m,c] += X[m,d] * A[d,c]", "Z[m,j] += Y[m,c] * B[c,j]"],
                       name="ffn", m=8, d=4, c=4, j=4)


def two_regions():
    """Two chains no tensor bridges: two connected regions, each a fused search."""
    return bs.workload(["Y[m,c] += X[m,d] * A[d,c]", "Z[m,j] += Y[m,c] * B[c,j]",
                        "U[m,c] += P[m,d] * C[d,c]", "V[m,j] += U[m,c] * D[c,j]"],
                       name="pair", m=8, d=4, c=4, j=4)


@pytest.fixture
def low_memory(monkeypatch):
    """The machine reports less available memory than its reserve, and the search looks at
    every child state."""
    monkeypatch.setattr(fused, "memory_left", lambda: (100 << 20, 8 << 30, 512 << 20))
    monkeypatch.setattr(fused.TreeSearch, "memory_mask", 0)


def test_memory_left_reads_the_kernel():
    """Available at most total, the reserve a sixteenth of the total (at least 256 MiB)."""
    left = fused.memory_left()
    if left is None:
        pytest.skip("no /proc/meminfo here")
    available, total, reserve = left
    assert 0 < available <= total and reserve == max(256 << 20, total // 16)


def test_low_memory_stops_the_search_with_an_error(low_memory):
    with pytest.raises(bs.SolverError, match=r"the fused frontier of ffn stopped with 0\.10 GB of "
                       r"the machine's 8\.00 GB memory left \(its reserve: 0\.50 GB\), this process "
                       r"holding .* GB at most \(\d+ of 3 segments solved, [\d,]+ states\): no "
                       r"curve is reported"):
        bs.pareto_frontier(ffn())


def test_enough_memory_changes_nothing(monkeypatch):
    """Looking at every child state with memory to spare gives the same curve."""
    exact = bs.pareto_frontier(ffn())
    monkeypatch.setattr(fused, "memory_left", lambda: (8 << 30, 8 << 30, 512 << 20))
    monkeypatch.setattr(fused.TreeSearch, "memory_mask", 0)
    looked = bs.pareto_frontier(ffn())
    assert looked[["occupancy", "accesses"]].equals(exact[["occupancy", "accesses"]])


def test_low_memory_stops_every_region(low_memory):
    """In a pool (fork: the workers see the same machine) the worker's error reaches the
    caller, and no worker is left running."""
    with pytest.raises(bs.SolverError, match=r"stopped with 0\.10 GB of the machine's 8\.00 GB"):
        fused.solve_workload(two_regions(), True, workers=2)
    assert not multiprocessing.active_children()


def _killed(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)  # as the kernel's out-of-memory killer would


def test_a_killed_worker_is_an_error_not_a_traceback(monkeypatch):
    if multiprocessing.get_start_method() != "fork":
        pytest.skip("the workers must inherit the patched solve_region")
    monkeypatch.setattr(fused, "solve_region", _killed)
    with pytest.raises(bs.SolverError, match=r"a worker process solving the fused frontier of "
                       r"pair was killed, most likely for memory .* workers=1 solves the regions "
                       r"one after another"):
        fused.solve_workload(two_regions(), True, workers=2)
    assert not multiprocessing.active_children()


def test_the_cli_says_so_in_one_line(low_memory, capsys):
    from boundsolver.cli import main

    assert main(["curve", "ffn", "--tokens", "64", "--fusion", "-q"]) == 2
    err = capsys.readouterr().err
    assert "memory left" in err and "no curve is reported" in err and err.count("\n") == 1
