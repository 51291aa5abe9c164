"""Parallel curves, the results cache (hits, corruption, concurrency) and the reproduction."""

import sqlite3
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pytest
from helpers import points

import boundsolver as bs
from boundsolver.curves.batch import solve_curves
from boundsolver.curves.cache import Cache
from boundsolver.errors import CacheWarning
from boundsolver.report.metrics import effectual_ratio, max_effectual_buffer

PROBLEMS = [bs.gemm(8, 4, 2), bs.conv(R=3, P=4, C=2, K=2), bs.gbmm(4, 2, 4, 4, 2)]


def test_solve_curves_matches_one_by_one_in_order(tmp_path):
    fronts = solve_curves(PROBLEMS, cache=Cache(tmp_path / "c.sqlite"), progress=False, method="milp")
    assert [points(f) for f in fronts] == [points(bs.enumerate_frontier(p)) for p in PROBLEMS]
    curves = solve_curves(PROBLEMS, [5, 50], cache=False, progress=False,
                          executor=ThreadPoolExecutor(2))
    assert [list(c["accesses"]) for c in curves] == [
        list(bs.solve_curve(p, [5, 50])["accesses"]) for p in PROBLEMS]


def test_cache_hit_is_identical_and_marked(tmp_path):
    store = Cache(tmp_path / "c.sqlite")
    first = solve_curves(PROBLEMS[:1], cache=store, progress=False)[0]
    again = solve_curves(PROBLEMS[:1], cache=store, progress=False)[0]
    assert again.attrs.get("cached") is True
    pd.testing.assert_frame_equal(first, again)


def test_corrupted_entries_are_recomputed_never_returned(tmp_path):
    path = tmp_path / "c.sqlite"
    store = Cache(path)
    solve_curves(PROBLEMS[:1], cache=store, progress=False, method="milp")
    question = {"capacities": None, "solver": "highs", "method": "milp"}
    assert store.get(PROBLEMS[0], question) is not None  # the entry the run stored
    with sqlite3.connect(path) as db:  # flip a number inside the stored payload
        db.execute("UPDATE results SET payload = replace(payload, '\"accesses\": 1', "
                   "'\"accesses\": 7')")
    assert store.get(PROBLEMS[0], question) is None  # digest mismatch: dropped
    path.write_bytes(b"not a database at all")
    with pytest.warns(CacheWarning, match="moved it to"):
        assert store.get(PROBLEMS[0], question) is None  # unreadable file: moved aside
    again = solve_curves(PROBLEMS[:1], cache=store, progress=False, method="milp")[0]
    assert points(again) == points(bs.enumerate_frontier(PROBLEMS[0]))


def test_concurrent_writers(tmp_path):
    path = tmp_path / "c.sqlite"
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda p: solve_curves([p], cache=Cache(path), progress=False),
                      PROBLEMS * 2))
    store = Cache(path)
    question = {"capacities": None, "solver": None, "method": "auto"}  # the default
    assert all(store.get(p, question) is not None for p in PROBLEMS)


def test_metrics_on_known_gemms():
    front = bs.pareto_frontier(bs.gemm(64, 64, 64))
    assert max_effectual_buffer(front) == 64 * 64 + 64 + 64
    assert effectual_ratio(bs.gemm(64, 64, 64), front) == pytest.approx(4224 / (3 * 64 * 64))
    row = front.iloc[-1]
    assert row.macs_per_word == pytest.approx(64 ** 3 / row.accesses)


def test_reproduce_quick_writes_figures_and_tables(tmp_path):
    from boundsolver.report.reproduce import run

    table = run(tmp_path, cache=Cache(tmp_path / "c.sqlite"), progress=False, quick=True)
    pngs = {p.stem for p in tmp_path.glob("*.png")}
    assert {"fig01_gemm", "fig10_gemms", "fig11_gemms", "fig12_convs", "fig13_bmm_heads",
            "fig14_gbmm_groups", "fig24a_gemm4096", "fig24b_simba", "fig_gpu_levels"} <= pngs
    simba = pd.read_csv(tmp_path / "fig24b_simba.csv")  # run() checks no sample beats our bound
    assert (simba["min_sampled_dram"] >= simba["our_bound"]).all()
    assert (simba["below_per_tensor_at_total_words"] == 0).all()
    # per-tensor placement contains uniform placement: a proven per-tensor key is never above
    # the uniform one, and a time-limited row's bound on its open column is not either
    gpus = pd.read_csv(tmp_path / "fig_gpu_levels.csv")
    for r in gpus.itertuples():
        if r.pt_status == "optimal":
            assert (r.pt_dram, r.pt_accesses_SMEM) <= (r.dram, r.accesses_SMEM)
        elif r.pt_bound_of == "accesses":
            assert r.pt_bound_ratio * 3 * 4096**2 <= r.dram
        else:
            assert r.pt_dram <= r.dram
            assert r.pt_dram < r.dram or r.pt_bound_ratio * 3 * 4096**2 <= r.accesses_SMEM
    for r in simba.itertuples():
        if r.pt_status == "optimal" or r.pt_bound_of != "accesses":
            assert r.pt_dram <= r.our_bound
        else:
            assert r.pt_best_bound <= r.our_bound
    assert (tmp_path / "key_numbers.md").read_text().startswith("| figure")
    cube = table[table["problem"] == "gemm_2048x2048x2048"].iloc[0]
    assert cube.max_effectual_buffer == 2048 * 2048 + 2 * 2048  # model.md closed form
