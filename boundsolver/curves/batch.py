"""Many curves at once, in parallel through any ``concurrent.futures.Executor``, with the cache."""

from __future__ import annotations

import os
import signal
from collections.abc import Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed

import pandas as pd

from ..milp.solvers import solver_name
from ..model.einsum import Einsum
from ..model.mapspace import Mapspace, mapspace_of
from .cache import Cache
from .methods import DEFAULT, check_method
from .points import check_time_limit


def solve_one(problem: Einsum, capacities: list[int] | None, solver: str, method: str,
              time_limit: float | None, progress: bool = False,
              mapspace: Mapspace | str | None = None) -> pd.DataFrame:
    """One problem's frontier (``capacities=None``) or curve; runs in a worker."""
    from .solve import pareto_frontier, solve_curve

    opts = dict(solver=solver, time_limit=time_limit, progress=progress, mapspace=mapspace,
                method=method)
    if capacities is None:
        return pareto_frontier(problem, **opts)
    return solve_curve(problem, capacities, **opts)


def solve_curves(problems: Sequence[Einsum], capacities: Sequence[float] | None = None, *,
                 solver: str = "highs", method: str = DEFAULT, time_limit: float | None = None,
                 executor: Executor | None = None, cache: bool | Cache = True,
                 force_rerun: bool = False, progress: bool = True,
                 mapspace: Mapspace | str | None = None) -> list[pd.DataFrame]:
    """Frontiers (``capacities=None``) or curves of several problems, in the given order, each
    by ``method`` (as :func:`solve_curve`: "auto", the default, picks the faster exact method).

    Work runs through ``executor``: a local process pool by default, or any
    ``concurrent.futures.Executor``, e.g. Dask's ``distributed.Client(...).get_executor()``. Each
    task is ``solve_one`` (a module-level function, pickled by reference: workers import
    boundsolver) with one problem, its question and the mapspace as arguments; it returns the
    problem's frame. Workers never touch the cache: this process reads it before submitting and
    writes each finished exact result as it arrives, so a remote cluster needs no shared disk.
    ``cache=False`` bypasses it, ``force_rerun=True`` recomputes and overwrites; time-limited
    results are never cached. If a task fails, the tasks not yet started are cancelled and the
    error is raised here.
    """
    method = check_method(method)
    solver = solver_name(solver)  # before the cache: a hit must not hide a mistyped option
    check_time_limit(time_limit)
    from .solve import _capacity  # the same checks as solve_curve's (NaN, 0.5, 2**70)

    caps = None if capacities is None else [_capacity(c) for c in capacities]
    store = cache if isinstance(cache, Cache) else (Cache() if cache else None)
    space = mapspace_of(mapspace)
    question = {"capacities": caps, "solver": solver if method == "milp" else None,
                "method": method, "mapspace": str(space)}
    results: list[pd.DataFrame | None] = [None] * len(problems)
    todo = []
    for i, p in enumerate(problems):
        hit = store.get(p, question) if store is not None and not force_rerun else None
        if hit is not None:
            results[i] = hit
        else:
            todo.append(i)
    from tqdm.auto import tqdm

    bar = tqdm(total=len(problems), initial=len(problems) - len(todo), disable=not progress,
               desc="curves", unit="problem", leave=False)
    own = executor is None and len(todo) > 1
    pool = ProcessPoolExecutor(max_workers=min(len(todo), os.cpu_count() or 1),
                               initializer=_ignore_interrupts) if own else executor
    futures: dict = {}
    try:
        if pool is None:
            done = ((i, solve_one(problems[i], caps, solver, method, time_limit, False, space))
                    for i in todo)
        else:
            futures = {pool.submit(solve_one, problems[i], caps, solver, method, time_limit, False,
                                   space): i for i in todo}
            done = ((futures[f], f.result()) for f in as_completed(futures))
        for i, df in done:
            results[i] = df
            if store is not None and (df["status"] == "optimal").all():
                store.put(problems[i], question, df)
            bar.update()
    except BaseException:
        for f in futures:  # a failure or an interrupt (Ctrl-C): stop what has not started
            f.cancel()
        if own:
            _stop(pool)  # and what runs: its results are not wanted
        raise
    else:
        if own:
            pool.shutdown()
    finally:
        bar.close()
    return results


def _ignore_interrupts() -> None:
    """Pool workers leave Ctrl-C (sent to the whole process group) to the parent, which stops
    them; a worker dying of it mid-task could leave the pool's bookkeeping waiting forever."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _stop(pool: ProcessPoolExecutor) -> None:
    """Shut ``pool`` down without waiting for running work: its workers are terminated, so an
    interrupted run returns at once and leaves no process behind.

    Why the manager thread is joined first: it reaps the workers it sees die (``waitpid``) and
    records their exit a moment later; a ``join``/``is_alive`` from this thread inside that
    moment finds no child to wait for and reports the dead worker alive, and
    ``multiprocessing.active_children()`` still lists it. Once the manager thread has ended,
    every worker's exit is recorded."""
    workers = list((getattr(pool, "_processes", None) or {}).values())
    manager = getattr(pool, "_executor_manager_thread", None)
    pool.shutdown(wait=False, cancel_futures=True)
    for w in workers:
        w.terminate()
    if manager is not None:
        manager.join(timeout=10)
    for w in workers:
        w.join(timeout=5)
        if w.is_alive():
            w.kill()
            w.join(timeout=5)
