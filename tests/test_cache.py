"""The results cache never breaks a run and never answers stale (boundsolver/curves/cache.py).

Every damaged file (garbage, truncated, empty, a directory, another schema), met by any operation
(opening, get, put), is moved aside with a warning naming it, and the answer is recomputed; an
unwritable cache warns once and the run solves uncached (a hit in a read-only file is still read);
the key carries a revision of the code that decides answers; Ctrl-C stops a pooled run at once.
Answers are checked against ``bs.enumerate_frontier`` (the exhaustive reference), not the cache.
"""

import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
from helpers import points

import boundsolver as bs
from boundsolver.cli import main
from boundsolver.curves import cache as cache_module
from boundsolver.curves.batch import solve_curves
from boundsolver.curves.cache import Cache, revision
from boundsolver.errors import CacheWarning

PROBLEM, OTHER = bs.gemm(8, 4, 2), bs.conv(R=3, P=4, C=2, K=2)
QUESTION = {"capacities": None, "solver": "highs", "method": "milp", "mapspace": "uniform/perfect"}
ROOT = Path(__file__).parents[1]


@pytest.fixture(scope="module")
def expected():
    return {p: points(bs.enumerate_frontier(p)) for p in (PROBLEM, OTHER)}


@pytest.fixture(scope="module")
def real_cache(tmp_path_factory):
    """The bytes of a real cache file of many pages: one frame under 60 keys."""
    path = tmp_path_factory.mktemp("real") / "c.sqlite"
    store, front = Cache(path), bs.pareto_frontier(PROBLEM)
    for i in range(60):
        store.put(PROBLEM, QUESTION | {"n": i}, front)
    data = path.read_bytes()
    assert len(data) > 16 * 4096  # many pages, so truncations cut through entries
    return data


def solve(path, problems=(PROBLEM,)):
    """``solve_curves`` through a cache at ``path``; the frames and the CacheWarnings raised."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fronts = solve_curves(list(problems), cache=Cache(path), progress=False, method="milp")
    return fronts, [str(w.message) for w in caught if issubclass(w.category, CacheWarning)]


# ---- damaged files ----

def damage(path: Path, how: str, real: bytes) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
    if how == "garbage":
        path.write_bytes(os.urandom(5000))
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "directory":
        path.mkdir()
        (path / "inside").write_text("x")
    elif how == "schema":
        with contextlib.closing(sqlite3.connect(path)) as db:
            db.execute("CREATE TABLE results (key TEXT, value TEXT)")
            db.commit()
    elif how == "no_table":
        with contextlib.closing(sqlite3.connect(path)) as db:
            db.execute("CREATE TABLE other (x)")
            db.commit()
    else:  # truncated:<where>
        where = how.split(":")[1]
        cut = {"header": 50, "page1": 100, "page2": 4096 + 7, "half": len(real) // 2,
               "last_page": len(real) - 4096}[where]
        path.write_bytes(real[:cut])


HOW = ["garbage", "empty", "directory", "schema", "no_table", "truncated:header",
       "truncated:page1", "truncated:page2", "truncated:half", "truncated:last_page"]


def moved_aside(messages, path) -> bool:
    return any(str(path) in m and "moved it to" in m for m in messages)


@pytest.mark.parametrize("how", HOW)
def test_damaged_file_found_on_opening_is_moved_aside_and_the_answer_recomputed(
        tmp_path, how, real_cache, expected):
    path = tmp_path / "c.sqlite"
    path.write_bytes(real_cache)
    damage(path, how, real_cache)
    fronts, messages = solve(path, [PROBLEM, OTHER])
    assert [points(f) for f in fronts] == [expected[PROBLEM], expected[OTHER]]
    assert moved_aside(messages, path), messages
    assert len(list(tmp_path.glob("c.sqlite.corrupt-*"))) == 1  # kept for inspection
    again, messages = solve(path, [PROBLEM, OTHER])  # the new file works: hits, no warning
    assert [f.attrs.get("cached") for f in again] == [True, True] and messages == []


@pytest.mark.parametrize("how", ["garbage", "truncated:page2", "truncated:half", "directory",
                                 "schema", "empty"])
@pytest.mark.parametrize("op", ["get", "put"])
def test_damage_after_opening_is_found_by_get_and_put(tmp_path, how, op, real_cache, expected):
    path = tmp_path / "c.sqlite"
    store = Cache(path)
    store.put(PROBLEM, QUESTION, bs.pareto_frontier(PROBLEM))
    path.write_bytes(real_cache)
    damage(path, how, real_cache)  # under an open Cache object, as another process might
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if op == "get":
            assert store.get(PROBLEM, QUESTION) is None
        else:
            store.put(PROBLEM, QUESTION, bs.pareto_frontier(PROBLEM))
    messages = [str(w.message) for w in caught if issubclass(w.category, CacheWarning)]
    assert moved_aside(messages, path), messages
    fronts, _ = solve(path)
    assert points(fronts[0]) == expected[PROBLEM]
    if op == "put":  # stored again in the fresh file
        assert Cache(path).get(PROBLEM, QUESTION) is not None


def test_network_cli_with_a_damaged_default_cache(tmp_path, monkeypatch, capsys):
    onnx = pytest.importorskip("onnx")
    from test_network import small_model

    model = tmp_path / "small.onnx"
    onnx.save(small_model(), model)
    folder = tmp_path / "cache"
    folder.mkdir()
    (folder / "results.sqlite").write_bytes(b"\x00garbage" * 100)
    monkeypatch.setenv("BOUNDSOLVER_CACHE_DIR", str(folder))
    with pytest.warns(CacheWarning, match="moved it to"):
        assert main(["network", str(model), "-q", "--csv", str(tmp_path / "t.csv")]) == 0
    first = (tmp_path / "t.csv").read_text()
    assert main(["network", str(model), "-q", "--csv", str(tmp_path / "t2.csv")]) == 0
    assert (tmp_path / "t2.csv").read_text() == first  # answered again, now from the new cache
    assert list(folder.glob("results.sqlite.corrupt-*"))


# ---- unwritable caches ----

@contextlib.contextmanager
def read_only(path: Path):
    """``path`` (a folder or file) read-only for this process. As root, chmod does not stop
    writes: use the immutable attribute (chattr +i), or skip where that is not allowed."""
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            yield
        finally:
            path.chmod(mode)
        return
    if shutil.which("chattr") is None or subprocess.run(
            ["chattr", "+i", str(path)], capture_output=True).returncode != 0:
        pytest.skip("running as root without chattr +i: cannot make a path read-only")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_a_path_under_a_regular_file_warns_once_and_solves(tmp_path, expected):
    (tmp_path / "file").write_text("x")
    path = tmp_path / "file" / "sub" / "c.sqlite"
    fronts, messages = solve(path, [PROBLEM, OTHER])
    assert [points(f) for f in fronts] == [expected[PROBLEM], expected[OTHER]]
    assert len(messages) == 1 and "cannot be written" in messages[0] and str(path) in messages[0]
    again, messages = solve(path)  # the same process: warned already
    assert points(again[0]) == expected[PROBLEM] and messages == []


def test_read_only_folder_still_answers_hits_and_solves_misses(tmp_path, expected):
    folder = tmp_path / "ro"
    folder.mkdir()
    path = folder / "c.sqlite"
    solve(path)  # PROBLEM cached
    with read_only(folder):
        with pytest.raises(OSError):
            (folder / "probe").write_text("x")
        fronts, messages = solve(path, [PROBLEM, OTHER])
        assert fronts[0].attrs.get("cached") is True  # a pure hit, read without writing
        assert [points(f) for f in fronts] == [expected[PROBLEM], expected[OTHER]]
        assert len(messages) == 1 and "cannot be written" in messages[0]
        assert sorted(p.name for p in folder.iterdir()) == ["c.sqlite"]  # nothing created
        _, messages = solve(path, [OTHER])
        assert messages == []  # once per process
    assert Cache(path).get(OTHER, QUESTION) is None  # the miss was solved, not stored


def test_read_only_file_answers_hits_and_solves_misses(tmp_path, expected):
    path = tmp_path / "c.sqlite"
    solve(path)
    with read_only(path):
        fronts, messages = solve(path, [PROBLEM, OTHER])
        assert fronts[0].attrs.get("cached") is True
        assert [points(f) for f in fronts] == [expected[PROBLEM], expected[OTHER]]
        assert len(messages) == 1 and "cannot be written" in messages[0]
    assert Cache(path).get(OTHER, QUESTION) is None


def test_a_lock_held_past_every_retry_skips_the_write_with_a_warning(tmp_path):
    path = tmp_path / "c.sqlite"
    impatient = Cache(path, timeout=0, attempts=1)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer mid-transaction
    try:
        with pytest.warns(CacheWarning, match="locked"):
            impatient.put(PROBLEM, QUESTION, bs.pareto_frontier(PROBLEM))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert impatient.writable  # only that write was skipped
    impatient.put(PROBLEM, QUESTION, bs.pareto_frontier(PROBLEM))
    assert impatient.get(PROBLEM, QUESTION) is not None


# ---- the model revision ----

@pytest.fixture
def package_copy(tmp_path):
    copy = tmp_path / "boundsolver"
    shutil.copytree(Path(bs.__file__).parent, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def test_revision_follows_the_code_that_decides_answers(package_copy, monkeypatch):
    assert revision(package_copy) == revision()  # the installed package's, from its files
    cost = package_copy / "model" / "cost.py"
    original = cost.read_text()
    assert "def evaluate(" in original
    cost.write_text(original.replace("def evaluate(", "def evaluate_(", 1)
                    + "\n\nevaluate = evaluate_\n")
    changed = revision(package_copy)
    assert changed != revision()  # the evaluator changed: another revision
    cost.write_text(original)
    for name in ("milp/formulation.py", "reference/fastnest.py", "curves/points.py"):
        source = package_copy / name
        text = source.read_text()
        source.write_text(text + "\nX = 1\n")
        assert revision(package_copy) != revision(), name
        source.write_text(text)
    assert revision(package_copy) == revision()
    for name in ("report/plots.py", "cli.py", "io/onnx.py"):  # presentation and file readers
        (package_copy / name).write_text((package_copy / name).read_text() + "\nX = 1\n")
    assert revision(package_copy) == revision()
    monkeypatch.setattr(bs, "__version__", "9.9.9")
    assert revision(package_copy) != revision()


def test_an_entry_of_another_revision_is_not_returned(tmp_path, monkeypatch):
    store = Cache(tmp_path / "c.sqlite")
    front = bs.pareto_frontier(PROBLEM)
    monkeypatch.setattr(cache_module, "revision", lambda root=None: "older model")
    store.put(PROBLEM, QUESTION, front)
    assert store.get(PROBLEM, QUESTION) is not None  # control: the same revision reads it
    monkeypatch.undo()
    assert store.get(PROBLEM, QUESTION) is None
    assert cache_module.key(PROBLEM, QUESTION) != cache_module.key(PROBLEM, QUESTION | {"x": 1})


def test_version_is_one_in_pyproject_and_the_package():
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["version"] == bs.__version__ == "0.2.0"


# ---- Ctrl-C during a pooled run ----

SLOW = r"""
import boundsolver as bs
problems = [bs.conv(R=3, S=3, P=56, Q=56, C=64, K=k) for k in (64, 32, 128, 16)]  # ~20 s each
print("start", flush=True)
bs.solve_curves(problems, cache=False, progress=False, method="milp")
print("finished", flush=True)
"""


@pytest.mark.parametrize("target", ["process", "group"])
def test_ctrl_c_stops_a_pooled_run_at_once_leaving_no_workers(target):
    """SIGINT to the caller alone, or to its process group (a terminal's Ctrl-C)."""
    psutil = pytest.importorskip("psutil")
    env = os.environ | {"PYTHONPATH": os.pathsep.join(
        [str(Path(bs.__file__).parents[1]), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.Popen([sys.executable, "-c", SLOW], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, start_new_session=True, env=env)
    workers = []
    try:
        assert run.stdout.readline().strip() == "start"
        parent, deadline = psutil.Process(run.pid), time.monotonic() + 60
        while len(workers) < 2 and time.monotonic() < deadline:
            workers = parent.children(recursive=True)
            time.sleep(0.1)
        assert len(workers) >= 2, "the pool did not start"
        time.sleep(1.0)  # the workers are inside their solves
        sent = time.monotonic()
        (os.killpg if target == "group" else os.kill)(run.pid, signal.SIGINT)
        run.wait(timeout=15)
        assert time.monotonic() - sent < 10
        assert "KeyboardInterrupt" in run.stderr.read() and run.returncode != 0
        time.sleep(0.2)
        left = [w.pid for w in workers if w.is_running() and w.status() != psutil.STATUS_ZOMBIE]
        assert left == []
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
        for w in workers:
            with contextlib.suppress(psutil.Error):
                w.kill()
