"""An embedded results cache: SQLite under the user cache directory.

Entries are keyed by the problem (its Einsum and sizes), the question asked (frontier or
capacities), the mapspace, the solver and the model revision: a digest of the source of every
module whose code decides an answer (``model``, ``milp``, ``reference``, ``curves``) and the
package version, so an answer computed by another cost model or solver is never returned. Each
payload is stored with its key and SHA-256; an entry that fails the check or does not parse is
deleted and recomputed, never returned.

The cache never breaks a run. A file that is not a cache (garbage, truncated, empty, a
directory, another schema) is moved aside with a warning naming both paths and a fresh one is
started, on any operation that meets it. A cache that cannot be written (read-only folder or
file, a path under a regular file, a full disk) warns once per process and the run solves
uncached; a hit in a read-only file is still read (an ``immutable`` read-only open, every row
checked against its key and digest).

Several processes may use one cache file at once (parallel ``solve_curves`` runs, scripts, pool
workers): the file is in WAL mode (readers never wait for a writer), every operation is one short
transaction whose connection waits up to ``timeout`` seconds for another writer's lock, and an
operation that still finds the file locked is retried. A new file appears whole (built aside,
then linked into place), so a reader never mistakes a file being created for an empty one. Two
writers of one key leave one complete entry (the last one). The file must be on a local disk:
SQLite's WAL needs shared memory between the processes, so it cannot be shared across machines
(network file systems).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sqlite3
import time
import warnings
from contextlib import closing
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from ..errors import CacheWarning
from ..model.einsum import Einsum
from ..model.results import frame

if TYPE_CHECKING:
    from importlib.abc import Traversable

MAPSPACE = "uniform/perfect"  # the default; a question naming its mapspace overrides it
# The subpackages whose code decides answers; io (files into Einsums: the key holds the Einsum),
# report and the CLI present them and stay out of the revision.
DECIDING = ("model", "milp", "reference", "curves")
COLUMNS = ("key", "payload", "digest", "created")
CREATE = ("CREATE TABLE IF NOT EXISTS results (key TEXT PRIMARY KEY, payload TEXT NOT NULL, "
          "digest TEXT NOT NULL, created REAL NOT NULL)")
MAGIC = b"SQLite format 3\x00"
_WARNED: set[tuple[str, str]] = set()  # (path, what): unwritable caches are reported once
_CHECKED: set[tuple] = set()  # files (path, inode, size, mtime) whose pages were found whole


def cache_dir() -> Path:
    """``$BOUNDSOLVER_CACHE_DIR``, else the platform's user cache directory."""
    if os.environ.get("BOUNDSOLVER_CACHE_DIR"):
        return Path(os.environ["BOUNDSOLVER_CACHE_DIR"])
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("boundsolver"))


def revision(root: Traversable | None = None) -> str:
    """The model revision: SHA-256 of ``__version__`` and the source files of ``DECIDING`` under
    ``root`` (the installed package by default, computed once per process).

    Any edit to the evaluator, a formulation or a solver path changes it, so a cache written by
    other code is not read; a version bump alone is not relied on (it was missed before).
    """
    return _package_revision() if root is None else _digest(root)


@functools.cache
def _package_revision() -> str:
    return _digest(resources.files("boundsolver"))


def _digest(root: Traversable) -> str:
    from .. import __version__

    h = hashlib.sha256(f"boundsolver {__version__}".encode())
    for name, entry in sorted(_sources(root, DECIDING)):
        h.update(f"\0{name}\0".encode())
        h.update(entry.read_bytes())
    return h.hexdigest()


def _sources(root: Traversable, names, prefix: str = ""):
    for name in names:
        entry = root.joinpath(name)
        if entry.is_dir():
            yield from _sources(entry, [e.name for e in entry.iterdir()], f"{prefix}{name}/")
        elif name.endswith(".py"):
            yield f"{prefix}{name}", entry


def key(problem: Einsum, question: dict) -> str:
    ident = {"einsum": str(problem), "sizes": list(problem.sizes), "mapspace": MAPSPACE,
             "revision": revision()} | question
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()


class _NotACache(Exception):
    """The file at the cache's path is not a results cache (reason in the message)."""


class Cache:
    """``get``/``put`` of result frames; ``path`` defaults to ``cache_dir()/results.sqlite``.

    Neither the constructor nor any method raises for the state of the file: see the module's
    docstring for what happens instead. ``writable`` turns False once writing has failed.
    """

    def __init__(self, path: str | Path | None = None, *, timeout: float = 60.0,
                 attempts: int = 100):
        self.path = Path(path) if path is not None else cache_dir() / "results.sqlite"
        self.timeout, self.attempts = timeout, attempts  # how long to wait for another writer
        self.writable = True
        self._guard(self._setup, retry=True)

    # ---- the operations ----

    def get(self, problem: Einsum, question: dict) -> pd.DataFrame | None:
        data = self._load(problem, question)
        if data is None:
            return None
        try:
            df = frame(problem, data["rows"], capacity=data["capacity"], **data["attrs"])
        except (ValueError, KeyError, TypeError, AttributeError):
            self.delete(problem, question)
            return None
        df.attrs |= {"name": problem.name, "cached": True}
        return df

    def put(self, problem: Einsum, question: dict, df: pd.DataFrame) -> None:
        rows = df.astype(object).where(df.notna(), None).to_dict(orient="records")
        attrs = {k: v for k, v in df.attrs.items() if k not in ("problem", "name", "unit", "cached")
                 and isinstance(v, (str, int, float, bool, type(None)))}
        self._store(problem, question,
                    {"rows": rows, "capacity": "capacity" in df.columns, "attrs": attrs})

    def get_data(self, problem: Einsum, question: dict):
        """A JSON value stored by :meth:`put_data` (not a result frame: a fused leaf's
        samples, fused_leaves.py), checked against its key and digest as frames are."""
        data = self._load(problem, question)
        if data is None:
            return None
        if not isinstance(data, dict) or "data" not in data:
            self.delete(problem, question)
            return None
        return data["data"]

    def put_data(self, problem: Einsum, question: dict, data) -> None:
        self._store(problem, question, {"data": data})

    def _load(self, problem: Einsum, question: dict):
        """The JSON payload stored under the question's key, or None; an entry whose key or
        digest does not match (or that does not parse) is deleted."""
        k = key(problem, question)
        row = self._fetch(k)
        if row is None:
            return None
        stored, payload, digest = row
        try:
            if stored != k or hashlib.sha256(payload.encode()).hexdigest() != digest:
                raise ValueError("key or digest mismatch")
            return json.loads(payload)
        except (ValueError, TypeError):
            self.delete(problem, question)
            return None

    def _store(self, problem: Einsum, question: dict, value: dict) -> None:
        payload = json.dumps(value, default=_plain)
        digest = hashlib.sha256(payload.encode()).hexdigest()
        entry = (key(problem, question), payload, digest, time.time())
        self._write(lambda db: db.execute("INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?)",
                                          entry))

    def _fetch(self, k: str):
        """The row ``(key, payload, digest)`` stored under ``k``, or None."""
        sql = "SELECT key, payload, digest FROM results WHERE key = ?"
        row = None
        if self.writable:
            row = self._guard(lambda: self._run(lambda db: db.execute(sql, (k,)).fetchone()))
        if not self.writable:  # read-only: a hit still answers
            row = self._read_only(lambda db: db.execute(sql, (k,)).fetchone())
        return row

    def delete(self, problem: Einsum, question: dict) -> None:
        k = key(problem, question)
        self._write(lambda db: db.execute("DELETE FROM results WHERE key = ?", (k,)))

    # ---- the file ----

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=self.timeout)

    def _run(self, work):
        """``work(db)`` in a transaction, retried while another process holds the lock."""
        for i in range(self.attempts):
            try:
                with closing(self._connect()) as db, db:
                    return work(db)
            except sqlite3.OperationalError as err:
                if self._kind(err) != "busy" or i == self.attempts - 1:
                    raise
                time.sleep(0.01 * (1 + i % 10))

    def _write(self, work) -> None:
        if self.writable:
            self._guard(lambda: self._run(work), retry=True)

    def _guard(self, step, retry: bool = False):
        """``step()``, or None where the file fails it: a file that is not a cache is moved
        aside (and ``step`` retried once on the fresh file if ``retry``); a file that cannot be
        written, or fails again, makes this cache read-only, with a warning."""
        for attempt in range(2):
            try:
                return step()
            except (sqlite3.Error, OSError, _NotACache) as err:
                kind = self._kind(err)
                if kind == "corrupt" and attempt == 0:
                    if self._replace(err) and retry:
                        continue
                    return None
                self._unwritable(err, kind)
                return None

    def _setup(self, check: bool = False) -> None:
        """A healthy cache file at ``path``: created if missing, its header and schema checked
        if present, and its pages too the first time in a process or with ``check`` (after an
        error, before moving it), so damage far from the entries a run reads is found too."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists():
            self._create()
        if self.path.is_dir():
            raise _NotACache("a directory")
        with open(self.path, "rb") as f:
            head = f.read(len(MAGIC))
        if head != MAGIC:
            raise _NotACache("empty" if not head else "not an SQLite file")
        columns = self._run(lambda db: [r[1] for r in db.execute("PRAGMA table_info(results)")])
        if tuple(columns) != COLUMNS:
            raise _NotACache(f"another schema: results columns {columns or 'missing'}")
        seen = self._fingerprint()
        if check or seen not in _CHECKED:
            found = self._run(lambda db: db.execute("PRAGMA quick_check").fetchall())
            if found != [("ok",)]:
                raise _NotACache(f"damaged: {found[0][0]}")
            _CHECKED.add(self._fingerprint() if check else seen)

    def _fingerprint(self) -> tuple:
        """The file as last checked: a page scan is repeated only when it has changed."""
        st = self.path.stat()
        return str(self.path.resolve()), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns

    def _create(self) -> None:
        """A new cache file, built under a temporary name and linked into place whole."""
        tmp = self.path.with_name(f".{self.path.name}.new-{os.getpid()}-{time.time_ns()}")
        try:
            with closing(sqlite3.connect(tmp)) as db:
                db.execute("PRAGMA journal_mode=WAL")  # persistent: readers never wait for writers
                db.execute(CREATE)
                db.commit()
            try:
                os.link(tmp, self.path)
            except FileExistsError:
                pass  # another process created it first
            except OSError:  # a file system without hard links
                if not self.path.exists():
                    os.replace(tmp, self.path)
        finally:
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{tmp}{suffix}").unlink(missing_ok=True)

    def _replace(self, err: BaseException) -> bool:
        """Move the broken file aside and start afresh; False if that cannot be done (the cache
        is then read-only). Another process may have replaced it already: a file that is now
        healthy is kept."""
        try:
            self._setup(check=True)
            return True  # healthy again: someone else replaced it
        except (sqlite3.Error, OSError, _NotACache) as again:
            if self._kind(again) != "corrupt":
                self._unwritable(again, self._kind(again))
                return False
        aside = self.path.with_name(f"{self.path.name}.corrupt-{time.time_ns()}")
        try:
            self.path.replace(aside)
            for suffix in ("-wal", "-shm", "-journal"):  # a stale log must not meet the new file
                if Path(f"{self.path}{suffix}").exists():
                    Path(f"{self.path}{suffix}").replace(Path(f"{aside}{suffix}"))
        except FileNotFoundError:
            pass  # moved by another process meanwhile
        except OSError as failed:
            self._unwritable(failed, "unwritable", f"{self.path} is not a results cache ({err}) "
                                                   "and cannot be moved aside")
            return False
        else:
            warnings.warn(f"boundsolver cache {self.path} is not a results cache ({err}); moved "
                          f"it to {aside} and started a new one (answers are recomputed)",
                          CacheWarning, stacklevel=4)
        try:
            self._setup()
            return True
        except (sqlite3.Error, OSError, _NotACache) as failed:
            self._unwritable(failed, self._kind(failed))
            return False

    def _unwritable(self, err: BaseException, kind: str, what: str | None = None) -> None:
        """From now on this cache only reads; warn once per process and path."""
        if kind == "busy":  # locked past every retry: skip this operation only
            what = what or f"{self.path} stayed locked by another process ({err})"
            tag = "busy"
        else:
            self.writable = False
            what = what or f"{self.path} cannot be written ({type(err).__name__}: {err})"
            tag = "unwritable"
        if (str(self.path), tag) not in _WARNED:
            _WARNED.add((str(self.path), tag))
            warnings.warn(f"boundsolver cache {what}; solving without storing results "
                          "(hits are still read where possible)", CacheWarning, stacklevel=4)

    def _kind(self, err: BaseException) -> str:
        """``_kind(err)``, and a directory in the file's place is no cache (SQLite only says
        it cannot open it)."""
        try:
            if self.path.is_dir():
                return "corrupt"
        except OSError:
            pass
        return _kind(err)

    def _read_only(self, work):
        """``work(db)`` on a read-only, unlocked open of the file (nothing written, no -wal or
        -shm created), or None if it cannot be read. Rows are checked by the caller."""
        if not self.path.is_file():
            return None
        try:
            uri = f"{self.path.resolve().as_uri()}?mode=ro&immutable=1"
            with closing(sqlite3.connect(uri, uri=True, timeout=self.timeout)) as db:
                return work(db)
        except (sqlite3.Error, OSError):
            return None


def _kind(err: BaseException) -> str:
    """``busy`` (another writer: retry), ``unwritable`` (read only from now on: permissions, a
    full disk, an unreadable folder) or ``corrupt``: anything else, which ``Cache._replace``
    confirms by checking the file before moving it aside."""
    if isinstance(err, (_NotACache, FileNotFoundError)):  # not a cache, or just moved aside
        return "corrupt"
    if not isinstance(err, sqlite3.Error):
        return "unwritable"  # OSError: mkdir under a file, permissions
    name = getattr(err, "sqlite_errorname", "")  # Python 3.11+
    text = str(err).lower()
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in text or "busy" in text:
        return "busy"
    if name.startswith(_UNWRITABLE) or any(t in text for t in (
            "readonly", "unable to open", "disk i/o", "is full", "permission", "authoriz")):
        return "unwritable"
    return "corrupt"


_UNWRITABLE = ("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_IOERR", "SQLITE_FULL",
               "SQLITE_AUTH", "SQLITE_NOLFS", "SQLITE_NOMEM")


def _plain(value):
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"cannot store {type(value).__name__}")
