"""The store layer: DuckDB files of results, and the results store of a sweep.

Every store (a sweep's, here; the plan search's, :mod:`sim.experiment.planning.store`) opens
its file with :func:`connect` (a file in use or not a database is a :class:`StoreError` that
names it) and keys what it holds by :func:`code_fingerprint`, the code that computed it. The
rule for results of other engine code is one: they are never mixed with new ones -- a
cache (the plan store) computes them again, a record (a sweep store) is refused
(:func:`check_code`).

The results store of a sweep: long tables, committed task by task.

One file holds one sweep. Tables:

- ``sweep``: one row: sweep id, name, digest, the definition (sweep file content and the
  resolved base scenario, as JSON), design, points, replications, seed, revloop version,
  fingerprint of the code, creation time;
- ``points``: one row per point: ``sweep_id``, ``point_id`` and one column per parameter;
- ``tasks``: one row per finished (point, replication), with its seed: what a resumed run
  skips;
- ``kpis``: ``sweep_id, point_id, <parameters...>, replication, seed, kpi, value``;
- ``monthly``: ``sweep_id, point_id, <parameters...>, replication, seed, month, metric,
  value`` for the series the sweep keeps.

A task's rows and its ``tasks`` row are written in one transaction, so a killed process
leaves only whole tasks behind. Parameter columns are ``BIGINT``, ``DOUBLE``, ``BOOLEAN`` or
``VARCHAR`` (strings as they are, anything else as JSON), whichever holds every value.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import duckdb
import numpy as np
import pandas as pd

from sim.errors import Problem, StoreError
from sim.io import Closing

if TYPE_CHECKING:
    from sim.scenario.schema import Scenario

__all__ = [
    "ResultStore",
    "StoreError",
    "StoredSweep",
    "StoredTask",
    "check_code",
    "code_fingerprint",
    "connect",
]


def connect(path: str | os.PathLike[str], read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open a store's DuckDB file (created, with its folder, if missing, unless ``read_only``).

    Raises
    ------
    StoreError
        If the file is missing (``read_only``), locked by another process, or not a DuckDB
        database; the problem names the file.
    """
    file = os.fspath(path)
    if read_only and not os.path.isfile(file):
        raise StoreError([Problem("results file not found", file=file)])
    if not read_only:
        Path(file).parent.mkdir(parents=True, exist_ok=True)
    try:
        return duckdb.connect(file, read_only=read_only)
    except duckdb.Error as err:
        text = str(err)
        if "lock" in text.lower():
            reason = "is in use by another process (a sweep or search still running?)"
        else:
            reason = f"cannot be opened as a DuckDB database: {text.splitlines()[0]}"
        raise StoreError([Problem(reason, file=file)]) from None


def check_code(stored: str | None, current: str, file: str, remedy: str) -> None:
    """Refuse a store whose results were computed by other revloop code.

    ``stored`` is the :func:`code_fingerprint` recorded in the store (``None``: not recorded),
    ``current`` this code's; ``remedy`` says what to do instead.

    Raises
    ------
    StoreError
        If the fingerprints differ.
    """
    if stored != current:
        raise StoreError(
            [
                Problem(
                    "was started by other revloop code (another version, or a local edit of "
                    f"the sources): its results may differ from what this code computes. {remedy}",
                    file=file,
                )
            ]
        )


class _SweepSpec(Protocol):
    """The parts of a sweep file the store records."""

    @property
    def name(self) -> str: ...
    @property
    def design(self) -> str: ...
    @property
    def replications(self) -> int: ...
    @property
    def seed(self) -> int: ...


class StoredSweep(Protocol):
    """What the store needs of a sweep (:class:`sim.experiment.sweep.Sweep` has it all)."""

    @property
    def id(self) -> str: ...
    @property
    def file(self) -> str: ...
    @property
    def digest(self) -> str: ...
    @property
    def spec(self) -> _SweepSpec: ...
    @property
    def points(self) -> Sequence[Mapping[str, Any]]: ...
    @property
    def parameters(self) -> list[str]: ...
    @property
    def scenarios(self) -> Sequence[Scenario]: ...
    def definition(self) -> dict[str, Any]: ...


class StoredTask(Protocol):
    """What one finished task gives the store (:class:`sim.experiment.sweep.TaskResult`)."""

    @property
    def replication(self) -> int: ...
    @property
    def seed(self) -> str: ...
    @property
    def kpis(self) -> Mapping[str, float]: ...
    @property
    def monthly(self) -> Mapping[str, np.ndarray[Any, Any]]: ...


class ResultStore(Closing):
    """A DuckDB file holding one sweep's results.

    Parameters
    ----------
    path
        The database file (created if missing, unless ``read_only``).
    read_only
        Open for reading only (e.g. a summary while nothing runs).

    Raises
    ------
    StoreError
        If the file is locked by another process or is not a DuckDB database.
    """

    def __init__(self, path: str | os.PathLike[str], read_only: bool = False) -> None:
        self.path = os.fspath(path)
        self.con = connect(self.path, read_only)
        self._types: dict[str, str] = {}

    def close(self) -> None:
        """Close the connection (everything committed is on disk)."""
        self.con.close()

    # --- writing ----------------------------------------------------------------------------

    def prepare(self, sweep: StoredSweep) -> None:
        """Create the tables for ``sweep``, or check that the file already belongs to it.

        Raises
        ------
        StoreError
            If the file holds another sweep's results (another digest), other tables, or rows
            computed by other revloop code (see :func:`code_fingerprint`): rows computed
            before and after would not be comparable.
        """
        tables = set(self._tables())
        if "sweep" in tables:
            stored_id, digest, code = self._one("SELECT sweep_id, digest, code_sha256 FROM sweep")
            if digest != sweep.digest:
                raise StoreError(
                    [
                        Problem(
                            f"holds the results of sweep {stored_id}, made from a different "
                            f"definition than {sweep.file} (sweep {sweep.id}): the sweep file "
                            "or its base scenario changed. Use another output file, or "
                            "delete this one to start over",
                            file=self.path,
                        )
                    ]
                )
            check_code(
                code,
                code_fingerprint(),
                self.path,
                f"Use another output file for {sweep.file}, or delete this one to start over",
            )
            self._types = _types(sweep)
            return
        if tables:
            found = ", ".join(sorted(tables))
            raise StoreError(
                [Problem(f"is not a revloop sweep store (it has tables: {found})", file=self.path)]
            )
        self._create(sweep)

    def _create(self, sweep: StoredSweep) -> None:
        from sim import __version__

        types = _types(sweep)
        params = list(types)
        cols = "".join(f", {_quote(name)} {types[name]}" for name in params)
        spec = sweep.spec
        self.con.begin()
        self.con.execute(
            "CREATE TABLE sweep (sweep_id VARCHAR, name VARCHAR, digest VARCHAR, "
            "definition VARCHAR, design VARCHAR, points INTEGER, replications INTEGER, "
            "seed BIGINT, revloop_version VARCHAR, code_sha256 VARCHAR, created_utc VARCHAR)"
        )
        self.con.execute(
            "INSERT INTO sweep VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                sweep.id,
                spec.name,
                sweep.digest,
                json.dumps(sweep.definition(), sort_keys=True),
                spec.design,
                len(sweep.points),
                spec.replications,
                spec.seed,
                __version__,
                code_fingerprint(),
                dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            ],
        )
        self.con.execute(f"CREATE TABLE points (sweep_id VARCHAR, point_id INTEGER{cols})")
        self.con.execute(
            "CREATE TABLE tasks (sweep_id VARCHAR, point_id INTEGER, replication INTEGER, "
            "seed VARCHAR, PRIMARY KEY (point_id, replication))"
        )
        head = f"sweep_id VARCHAR, point_id INTEGER{cols}, replication INTEGER, seed VARCHAR"
        self.con.execute(f"CREATE TABLE kpis ({head}, kpi VARCHAR, value DOUBLE)")
        self.con.execute(
            f"CREATE TABLE monthly ({head}, month VARCHAR, metric VARCHAR, value DOUBLE)"
        )
        frame = pd.DataFrame(
            {
                "sweep_id": sweep.id,
                "point_id": np.arange(len(sweep.points), dtype=np.int32),
                **{name: [_cell(p[name], types[name]) for p in sweep.points] for name in params},
            }
        )
        self._insert("points", frame)
        self.con.commit()
        self._types = types

    def add(self, sweep: StoredSweep, point: int, result: StoredTask) -> None:
        """Store one finished task, all its rows in one transaction."""
        values = sweep.points[point]
        head = {
            "sweep_id": sweep.id,
            "point_id": point,
            **{name: _cell(values[name], kind) for name, kind in self._types.items()},
            "replication": result.replication,
            "seed": result.seed,
        }
        kpis = pd.DataFrame(
            {**head, "kpi": list(result.kpis), "value": np.fromiter(result.kpis.values(), float)}
        )
        months = _month_labels(sweep, point)
        series = list(result.monthly)
        self.con.begin()
        try:
            self._insert("kpis", kpis)
            if series:
                monthly = pd.DataFrame(
                    {
                        **head,
                        "month": np.tile(months, len(series)),
                        "metric": np.repeat(series, len(months)),
                        "value": np.concatenate([result.monthly[m] for m in series]),
                    }
                )
                self._insert("monthly", monthly)
            self.con.execute(
                "INSERT INTO tasks VALUES (?, ?, ?, ?)",
                [sweep.id, point, result.replication, result.seed],
            )
            self.con.commit()
        except BaseException:
            self.con.rollback()
            raise

    def _insert(self, table: str, frame: pd.DataFrame) -> None:
        self.con.register("_batch", frame)
        try:
            self.con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _batch")
        finally:
            self.con.unregister("_batch")

    # --- reading ----------------------------------------------------------------------------

    def finished(self) -> set[tuple[int, int]]:
        """The (point, replication) pairs already stored."""
        rows = self.con.execute("SELECT point_id, replication FROM tasks").fetchall()
        return {(int(p), int(r)) for p, r in rows}

    def spec(self) -> dict[str, Any]:
        """The sweep file's content as stored (keys as in the file)."""
        self._require()
        definition = json.loads(self._one("SELECT definition FROM sweep")[0])
        spec: dict[str, Any] = definition["sweep"]
        return spec

    def points(self) -> pd.DataFrame:
        """One row per point: ``sweep_id``, ``point_id`` and the parameter values."""
        return self._table("points", "point_id")

    def tasks(self) -> pd.DataFrame:
        """The finished tasks."""
        return self._table("tasks", "point_id, replication")

    def kpis(self) -> pd.DataFrame:
        """The long KPI table, sorted by point, replication and KPI."""
        return self._table("kpis", "point_id, replication, kpi")

    def monthly(self) -> pd.DataFrame:
        """The long monthly table, sorted by point, replication, metric and month."""
        return self._table("monthly", "point_id, replication, metric, month")

    def _table(self, name: str, order: str) -> pd.DataFrame:
        self._require()
        return self.con.execute(f"SELECT * FROM {name} ORDER BY {order}").df()

    def _require(self) -> None:
        if "sweep" not in self._tables():
            raise StoreError([Problem("is not a revloop sweep store", file=self.path)])

    def _tables(self) -> list[str]:
        return [row[0] for row in self.con.execute("SHOW TABLES").fetchall()]

    def _one(self, query: str) -> tuple[Any, ...]:
        row = self.con.execute(query).fetchone()
        assert row is not None  # the sweep table always has its one row
        return tuple(row)


def code_fingerprint(*parts: str) -> str:
    """SHA-256 of the ``sim`` package's Python sources (paths and contents).

    The sweep digest covers the inputs; this covers the code that turns them into numbers, so
    resuming with other code (an upgrade, a local edit) can be flagged.

    Parameters
    ----------
    parts
        Folders or files inside the package (``"engine"``, ``"experiment/plan.py"``) to
        cover; none: the whole package. Computed once per process for each ``parts``.
    """
    return _fingerprint(parts)


@functools.cache
def _fingerprint(parts: tuple[str, ...]) -> str:
    root = Path(__file__).resolve().parent.parent
    paths = {
        path
        for part in parts or ("",)
        for path in ([root / part] if part.endswith(".py") else (root / part).rglob("*.py"))
    }
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def _month_labels(sweep: StoredSweep, point: int) -> list[str]:
    from sim.engine.calendar import month_labels

    scenario = sweep.scenarios[point]  # a sweep may vary the horizon or the start
    return month_labels(scenario.start_date, scenario.horizon_months)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _types(sweep: StoredSweep) -> dict[str, str]:
    """The SQL type of each parameter column: the narrowest that holds every value."""
    return {name: _sql_type([p[name] for p in sweep.points]) for name in sweep.parameters}


def _sql_type(values: list[Any]) -> str:
    if all(isinstance(v, bool) for v in values):
        return "BOOLEAN"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "BIGINT"
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return "DOUBLE"
    return "VARCHAR"


def _cell(value: Any, sql_type: str) -> Any:
    """A parameter value as stored: as it is, or in a VARCHAR column as text (JSON if not a
    string)."""
    if sql_type != "VARCHAR":
        return value
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
