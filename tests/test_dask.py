"""Scaling out: solve_curves on a Dask cluster of worker processes gives the serial frames, and the
results cache stays whole with several processes writing it at once (multiprocessing, no Dask)."""

import logging
import multiprocessing
import os
import sqlite3
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from helpers import points

import boundsolver as bs
from boundsolver.curves.batch import solve_curves
from boundsolver.curves.cache import Cache
from boundsolver.errors import CacheWarning

PROBLEMS = [bs.gemm(8, 4, 2), bs.gemm(64, 32, 16), bs.conv(R=3, S=3, P=8, Q=8, C=4, K=4),
            bs.conv(R=3, P=4, C=2, K=2, Wstride=2)]
CAPS = [16, 64, 256]
TIMING = ["solve_seconds"]  # columns that differ from run to run
TIMING_ATTRS = {"seconds", "build_seconds", "cached"}


def assert_same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(got.drop(columns=TIMING), want.drop(columns=TIMING))
    keep = lambda df: {k: v for k, v in df.attrs.items() if k not in TIMING_ATTRS}  # noqa: E731
    assert keep(got) == keep(want)


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    # Worker processes must import this checkout's package (installed editable in CI anyway).
    root = str(Path(bs.__file__).resolve().parents[1])
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([root] + ([old] if old else []))
    try:
        with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                      dashboard_address=None, silence_logs=logging.ERROR) as cluster, \
                distributed.Client(cluster) as client:
            where = client.run(lambda: __import__("boundsolver").__file__)
            assert set(where.values()) == {bs.__file__} and len(where) == 2
            yield client
    finally:
        if old is None:
            os.environ.pop("PYTHONPATH")
        else:
            os.environ["PYTHONPATH"] = old


def test_dask_frames_equal_the_serial_run(client):
    serial_fronts = [bs.pareto_frontier(p, method="milp") for p in PROBLEMS]
    serial_curves = [bs.solve_curve(p, CAPS) for p in PROBLEMS]
    fronts = solve_curves(PROBLEMS, executor=client.get_executor(), cache=False, progress=False,
                          method="milp")
    curves = solve_curves(PROBLEMS, CAPS, executor=client.get_executor(), cache=False,
                          progress=True)
    assert len(fronts) == len(curves) == len(PROBLEMS)
    for got, want in zip(fronts + curves, serial_fronts + serial_curves):
        assert_same(got, want)
    assert points(fronts[2]) == points(bs.enumerate_frontier(PROBLEMS[2]))
    spaced = solve_curves(PROBLEMS[:2], executor=client.get_executor(), cache=False,
                          progress=False, mapspace="per_tensor/imperfect", method="enumerate")
    for got, p in zip(spaced, PROBLEMS):
        assert_same(got, bs.pareto_frontier(p, mapspace="per_tensor/imperfect", method="enumerate"))


def test_dask_run_fills_the_cache_and_a_second_run_reads_it(client, tmp_path):
    store = Cache(tmp_path / "c.sqlite")
    first = solve_curves(PROBLEMS, CAPS, executor=client.get_executor(), cache=store,
                         progress=False)
    question = {"capacities": CAPS, "solver": None, "method": "auto",
                "mapspace": "uniform/perfect"}
    assert all(store.get(p, question) is not None for p in PROBLEMS)

    class Refusing(client.get_executor().__class__):
        def submit(self, *args, **kwargs):
            raise AssertionError("a cached problem was submitted")

    again = solve_curves(PROBLEMS, CAPS, executor=Refusing(client), cache=store, progress=False)
    for got, want in zip(again, first):
        assert got.attrs["cached"] is True
        assert_same(got, want)


# ---- the cache under concurrent writers (several processes, no Dask) ----

PROBLEM = bs.gemm(8, 4, 2)
FRONT = bs.pareto_frontier(PROBLEM)
SHARED = {"capacities": None, "solver": "highs", "method": "milp", "writer": "shared"}


def _writer(path, who, rounds, barrier, settings, errors):
    """One process: puts to the shared key and to its own key, reads the shared one, ``rounds``
    times, all processes starting together."""
    problem, own = PROBLEM, SHARED | {"writer": who}
    barrier.wait(timeout=60)
    try:
        store = Cache(path, **settings)  # the first ones race to create the file
        for r in range(rounds):
            df = FRONT.copy()
            df.attrs |= {"who": who, "round": r}
            store.put(problem, SHARED, df)
            store.put(problem, own, df)
            got = store.get(problem, SHARED)
            assert got is not None and points(got) == points(FRONT)
    except Exception as err:  # noqa: BLE001 - reported to the parent
        errors.put(f"{who}: {type(err).__name__}: {err}")
        return
    errors.put(None)


def hammer(path, writers=6, rounds=25, **settings) -> list[str]:
    """``writers`` processes writing one cache file at once; the errors they met."""
    ctx = multiprocessing.get_context("spawn")  # no threads or connections inherited
    barrier, errors = ctx.Barrier(writers), ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(path, w, rounds, barrier, settings, errors))
             for w in range(writers)]
    for p in procs:
        p.start()
    try:
        found = [errors.get(timeout=120) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.terminate()
    return [e for e in found if e is not None]


def test_concurrent_writer_processes_same_and_different_keys(tmp_path):
    path = tmp_path / "c.sqlite"  # not created beforehand: the writers race to create it too
    writers, rounds = 6, 25
    assert hammer(path, writers, rounds) == []
    store = Cache(path)
    shared = store.get(PROBLEM, SHARED)
    assert points(shared) == points(FRONT) and shared.attrs["round"] == rounds - 1
    for w in range(writers):  # each own key holds that writer's last write
        own = store.get(PROBLEM, SHARED | {"writer": w})
        assert (own.attrs["who"], own.attrs["round"]) == (w, rounds - 1)
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM results").fetchone()[0] == writers + 1
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_writer_waits_for_the_lock_instead_of_failing(tmp_path):
    """Another process holding the write lock: without the busy timeout and retries a put is
    skipped at once with a warning ("database is locked"); with them (the default) it waits and
    succeeds."""
    path = tmp_path / "c.sqlite"
    patient, impatient = Cache(path), Cache(path, timeout=0, attempts=1)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # the write lock, as another writer mid-transaction
    problem = PROBLEM
    with pytest.warns(CacheWarning, match="locked"):
        impatient.put(problem, SHARED, FRONT)
    waited = []
    thread = threading.Thread(target=lambda: waited.append(patient.put(problem, SHARED, FRONT)))
    start = time.perf_counter()
    thread.start()
    time.sleep(0.3)
    holder.execute("COMMIT")
    holder.close()
    thread.join(timeout=30)
    assert waited == [None] and time.perf_counter() - start >= 0.3
    assert points(patient.get(problem, SHARED)) == points(FRONT)
