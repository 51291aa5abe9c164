"""An embedded results cache: SQLite under the user cache directory.

Entries are keyed by the problem (its Einsum and sizes), the question asked (frontier or
capacities), the mapspace, the solver and the package version. Each payload is stored with its
SHA-256; an entry that fails the check or does not parse is deleted and recomputed, never returned.

Several processes may use one cache file at once (parallel ``solve_curves`` runs, scripts, pool
workers): the file is in WAL mode (readers never wait for a writer), every operation is one short
transaction whose connection waits up to ``timeout`` seconds for another writer's lock, and an
operation that still finds the file locked is retried. Two writers of one key leave one complete
entry (the last one). The file must be on a local disk: SQLite's WAL needs shared memory between
the processes, so it cannot be shared across machines (network file systems).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from contextlib import closing
from pathlib import Path

import pandas as pd

from ..model.einsum import Einsum
from ..model.results import frame

MAPSPACE = "uniform/perfect"  # the default; a question naming its mapspace overrides it


def cache_dir() -> Path:
    """``$BOUNDSOLVER_CACHE_DIR``, else the platform's user cache directory."""
    if os.environ.get("BOUNDSOLVER_CACHE_DIR"):
        return Path(os.environ["BOUNDSOLVER_CACHE_DIR"])
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("boundsolver"))


def key(problem: Einsum, question: dict) -> str:
    from .. import __version__

    ident = {"einsum": str(problem), "sizes": list(problem.sizes), "mapspace": MAPSPACE,
             "version": __version__} | question
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()


class Cache:
    """``get``/``put`` of result frames; ``path`` defaults to ``cache_dir()/results.sqlite``."""

    def __init__(self, path: str | Path | None = None, *, timeout: float = 60.0,
                 attempts: int = 100):
        self.path = Path(path) if path is not None else cache_dir() / "results.sqlite"
        self.timeout, self.attempts = timeout, attempts  # how long to wait for another writer
        self.path.parent.mkdir(parents=True, exist_ok=True)

        def create(db):
            db.execute("PRAGMA journal_mode=WAL")  # persistent: readers never wait for writers
            db.execute("CREATE TABLE IF NOT EXISTS results (key TEXT PRIMARY KEY, payload TEXT "
                       "NOT NULL, digest TEXT NOT NULL, created REAL NOT NULL)")

        self._run(create)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=self.timeout)

    def _run(self, work):
        """``work(db)`` in a transaction, retried while another process holds the lock."""
        for i in range(self.attempts):
            try:
                with closing(self._connect()) as db, db:
                    return work(db)
            except sqlite3.OperationalError as err:
                if "locked" not in str(err) and "busy" not in str(err) or i == self.attempts - 1:
                    raise
                time.sleep(0.01 * (1 + i % 10))

    def get(self, problem: Einsum, question: dict) -> pd.DataFrame | None:
        k = key(problem, question)
        try:
            row = self._run(lambda db: db.execute(
                "SELECT payload, digest FROM results WHERE key = ?", (k,)).fetchone())
        except sqlite3.OperationalError as err:
            if "no such table" not in str(err):
                raise  # locked past every retry, unreadable directory, ...: not corruption
            self._reset()  # an empty file: create the table again
            return None
        except sqlite3.DatabaseError:
            self._reset()
            return None
        if row is None:
            return None
        payload, digest = row
        try:
            if hashlib.sha256(payload.encode()).hexdigest() != digest:
                raise ValueError("digest mismatch")
            data = json.loads(payload)
            df = frame(problem, data["rows"], capacity=data["capacity"], **data["attrs"])
        except (ValueError, KeyError, TypeError):
            self.delete(problem, question)
            return None
        df.attrs |= {"name": problem.name, "cached": True}
        return df

    def put(self, problem: Einsum, question: dict, df: pd.DataFrame) -> None:
        rows = df.astype(object).where(df.notna(), None).to_dict(orient="records")
        attrs = {k: v for k, v in df.attrs.items() if k not in ("problem", "name", "unit", "cached")
                 and isinstance(v, (str, int, float, bool, type(None)))}
        payload = json.dumps({"rows": rows, "capacity": "capacity" in df.columns, "attrs": attrs},
                             default=_plain)
        digest = hashlib.sha256(payload.encode()).hexdigest()
        self._run(lambda db: db.execute("INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?)",
                                        (key(problem, question), payload, digest, time.time())))

    def delete(self, problem: Einsum, question: dict) -> None:
        self._run(lambda db: db.execute("DELETE FROM results WHERE key = ?",
                                        (key(problem, question),)))

    def _reset(self) -> None:
        """A file that is not a database (corrupted): move it aside and start afresh.

        Another process may have done so already (and started a new file): move the file only
        while it is still unreadable.
        """
        try:
            self._run(lambda db: db.execute("SELECT count(*) FROM results").fetchone())
            return  # readable again: someone else replaced it
        except sqlite3.OperationalError:
            pass  # no table (an empty file)
        except sqlite3.DatabaseError:
            try:
                self.path.replace(self.path.with_suffix(f".corrupt-{time.time_ns()}"))
            except FileNotFoundError:
                pass
        self.__init__(self.path, timeout=self.timeout, attempts=self.attempts)


def _plain(value):
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"cannot store {type(value).__name__}")
