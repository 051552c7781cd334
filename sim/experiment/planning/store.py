"""The plan store: simulated ARR by (plan, replication), kept in DuckDB or in memory.

Every simulated (plan, replication) can be kept in a DuckDB file (``store=``): an interrupted
search loses nothing, and a new search of the same scenario, month and seed (any target,
confidence or bounds) reuses what is stored -- unless other code stored it (an upgrade, a
local edit of the sources in :data:`ARR_SOURCES`): then it is simulated again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os

import duckdb

from sim.experiment.planning.space import _problem
from sim.experiment.store import code_fingerprint, connect
from sim.scenario.schema import Scenario

ARR_SOURCES = ("engine", "scenario", "experiment/planning")
"""The package sources that turn a (plan, replication) into its ARR: a plan store records
their fingerprint (:func:`sim.experiment.store.code_fingerprint`), and values stored by
other code are not reused: the plan store is a cache, so they are simulated again (a sweep
store, a record, refuses to be resumed by other code instead)."""


class _Store:
    """Simulated ARR by (plan, replication) in DuckDB, or in memory when no path is given.

    The key of a stored value is (scenario, month, seed) -- the ``digest``; another digest
    is refused -- and the fingerprint of :data:`ARR_SOURCES`: values stored by other code are
    dropped, to be simulated again.
    """

    def __init__(self, path: str | os.PathLike[str] | None, digest: str) -> None:
        self.values: dict[tuple[str, int], float] = {}
        self._db: duckdb.DuckDBPyConnection | None = None
        if path is None:
            return
        self._db = db = connect(path)  # a file in use or not a database: StoreError
        db.execute("CREATE TABLE IF NOT EXISTS meta (digest VARCHAR, created VARCHAR)")
        db.execute("ALTER TABLE meta ADD COLUMN IF NOT EXISTS code VARCHAR")  # older stores
        db.execute(
            "CREATE TABLE IF NOT EXISTS arr (plan VARCHAR, replication BIGINT, value DOUBLE)"
        )
        code = code_fingerprint(*ARR_SOURCES)
        row = db.execute("SELECT digest, code FROM meta").fetchone()
        if row is None:
            now = dt.datetime.now().isoformat()
            db.execute("INSERT INTO meta VALUES (?, ?, ?)", [digest, now, code])
        elif row[0] != digest:
            db.close()
            raise _problem(
                "this store holds a search of another scenario, month or seed; use another store",
                "store",
                os.fspath(path),
            )
        elif row[1] != code:
            db.execute("DELETE FROM arr")  # stored by other code: simulate again
            db.execute("UPDATE meta SET code = ?", [code])
        for plan, rep, value in db.execute("SELECT plan, replication, value FROM arr").fetchall():
            self.values[(plan, int(rep))] = float(value)

    def add(self, rows: list[tuple[str, int, float]]) -> None:
        for plan, rep, value in rows:
            self.values[(plan, rep)] = value
        if self._db is not None and rows:
            self._db.executemany("INSERT INTO arr VALUES (?, ?, ?)", rows)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


def _digest(scenario: Scenario, month: int, seed: int) -> str:
    text = json.dumps(
        [scenario.model_dump(mode="json", by_alias=True), month, seed], sort_keys=True
    )
    return hashlib.sha256(text.encode()).hexdigest()
