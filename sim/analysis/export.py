"""Finance export: monthly and quarterly P10/P50/P90 tables, as an xlsx workbook or CSV files.

Also the reader of a saved results folder (what ``revloop run --out DIR`` writes), shared by
the export, the diagnosis and the report.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from sim.analysis.motion import TABLES, quarter_label
from sim.errors import ResultsError
from sim.io import (
    atomic_write,
    check_folder,
    csv_writer,
    defuse,
    refuse_leftover,
    write_folder,
)

__all__ = [
    "FLOW_METRICS",
    "STOCK_METRICS",
    "ResultsError",
    "SavedResults",
    "export",
    "finance_tables",
    "read_results",
]

Format = Literal["xlsx", "csv"]

STOCK_METRICS = ("arr", "mrr", "customers")
"""Levels: a quarter shows its last month's value."""

FLOW_METRICS = (
    "bookings",
    "new_arr",
    "expansion_arr",
    "contraction_arr",
    "churned_arr",
    "churned_customers",
    "new_customers",
    "marketing_cost",
    "marketing_programs",
    "inside_sales_cost",
    "field_sales_cost",
    "outbound_cost",
    "customer_success_cost",
    "sm_cost",
    "total_cost",
)
"""Amounts over a period: a quarter sums its months. ``bookings`` = new + expansion ARR."""

_COUNTS = {"months", "customers", "churned_customers", "new_customers"}
MONEY_FORMAT = '"$"#,##0'
COUNT_FORMAT = "#,##0"


@dataclass
class SavedResults:
    """A results folder read back: the tables :class:`~sim.experiment.results.Results` saved.

    ``motion`` holds the stage reports found in the folder (waterfall, channels, segments,
    phases: see :mod:`sim.analysis.motion`), indexed as saved; folders written before they
    existed have none.
    """

    path: Path
    monthly: pd.DataFrame
    kpis: pd.DataFrame
    scenario: dict[str, Any]
    manifest: dict[str, Any]
    motion: dict[str, pd.DataFrame] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The scenario's name."""
        return str(self.scenario.get("name", self.path.name))

    @property
    def seed(self) -> int:
        """The run's root seed."""
        return int(self.manifest.get("seed", 0))


def read_results(path: str | os.PathLike[str]) -> SavedResults:
    """Read a folder written by ``revloop run --out DIR`` (or ``Results.save``).

    Parameters
    ----------
    path
        The folder.

    Returns
    -------
    SavedResults
        Tidy monthly table, per-replication KPIs, resolved scenario and manifest.

    Raises
    ------
    ResultsError
        If the folder or one of its files is missing or unreadable, or if its files do not
        match the checksums written with them (:func:`sim.io.check_folder`): a save that was
        interrupted, or a file changed since.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise ResultsError(f"{folder}: no such results folder")
    refuse_leftover(folder)
    needed = ("monthly.parquet", "kpis.csv", "scenario.json", "manifest.json")
    missing = [name for name in needed if not (folder / name).is_file()]
    if missing:
        raise ResultsError(
            f"{folder}: not a results folder (missing {', '.join(missing)}); "
            "write one with revloop run FILE --out DIR"
        )
    listed = check_folder(folder, needed)
    try:
        return SavedResults(
            path=folder,
            monthly=pd.read_parquet(folder / "monthly.parquet"),
            kpis=pd.read_csv(folder / "kpis.csv"),
            scenario=json.loads((folder / "scenario.json").read_text()),
            manifest=json.loads((folder / "manifest.json").read_text()),
            motion={
                name: _stage_table(folder / f"{name}.csv")
                for name in TABLES
                if f"{name}.csv" in listed
            },
        )
    except (OSError, ValueError) as err:
        raise ResultsError(f"{folder}: cannot read results ({err})") from err


def _stage_table(path: Path) -> pd.DataFrame:
    """A saved stage report; one with no rows keeps its columns, as numbers."""
    table = pd.read_csv(path, index_col=0)
    if table.empty:
        table = table.astype(float)
        table.index = pd.Index([], dtype=object, name=table.index.name)
    return table


def _wide(monthly: pd.DataFrame) -> pd.DataFrame:
    """(replication, month) rows x metric columns, with ``bookings`` added."""
    table = monthly.pivot_table(
        index=["replication", "month"], columns="metric", values="value", sort=True
    )
    table.columns.name = None
    table["bookings"] = table["new_arr"] + table["expansion_arr"]
    return table


def finance_tables(monthly: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """P10, P50 and P90 across replications of the finance figures, by month and by quarter.

    Parameters
    ----------
    monthly
        Tidy monthly table (``replication, month, metric, value``) of one scenario.

    Returns
    -------
    dict[str, pandas.DataFrame]
        ``monthly_p10``, ``monthly_p50``, ``monthly_p90``, ``quarterly_p10``,
        ``quarterly_p50``, ``quarterly_p90``: one row per period (index ``month`` or
        ``quarter``), one column per metric of :data:`STOCK_METRICS` and
        :data:`FLOW_METRICS` present in the run; quarterly tables start with ``months``,
        the number of simulated months in the quarter (under 3 for a partial quarter).
        Quarters sum flows and take the last month's stocks, replication by replication,
        before the percentiles are taken.
    """
    wide = _wide(monthly)
    stocks = [m for m in STOCK_METRICS if m in wide.columns]
    flows = [m for m in FLOW_METRICS if m in wide.columns]
    columns = stocks + flows
    by_month = wide[columns].reset_index()
    by_month["quarter"] = by_month["month"].map(quarter_label)
    grouped = by_month.groupby(["replication", "quarter"], sort=True)
    by_quarter = pd.concat([grouped[stocks].last(), grouped[flows].sum()], axis=1)[columns]
    by_quarter.insert(0, "months", grouped["month"].count())
    out: dict[str, pd.DataFrame] = {}
    for period, table in (
        ("monthly", by_month.set_index(["replication", "month"])[columns]),
        ("quarterly", by_quarter),  # "months" < 3 marks a partial quarter
    ):
        level = "month" if period == "monthly" else "quarter"
        for p in (10, 50, 90):
            q = table.groupby(level=level, sort=True).quantile(p / 100)
            q.index.name = level
            out[f"{period}_p{p}"] = q
    return out


def _about(saved: SavedResults) -> pd.DataFrame:
    n = int(saved.kpis["replication"].nunique()) if len(saved.kpis) else 0
    rows = [
        ("scenario", saved.name),
        ("replications", n),
        ("seed", saved.seed),
        ("complete", saved.manifest.get("complete")),
        ("scenario_sha256", saved.manifest.get("scenario_sha256")),
        ("revloop_version", saved.manifest.get("revloop_version")),
        ("results_folder", str(saved.path)),
        ("percentiles", "P10 / P50 / P90 across replications, per period"),
        ("bookings", "new ARR + expansion ARR booked in the period"),
        ("quarters", "flows summed over the quarter; ARR, MRR and customers at quarter end"),
        ("costs", "per team: fully loaded cost of the team in the period; sm_cost = marketing "
         "+ programs + inside sales + field sales + outbound; total_cost adds customer success"),
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=["item", "value"])


def export(
    results_dir: str | os.PathLike[str],
    fmt: Format = "xlsx",
    out: str | os.PathLike[str] | None = None,
) -> list[Path]:
    """Write the finance tables of a results folder as one workbook or as CSV files.

    Parameters
    ----------
    results_dir
        A folder written by ``revloop run --out DIR``.
    fmt
        ``xlsx``: one workbook, one sheet per table plus ``about``, money formatted
        ``$#,##0``. ``csv``: one file per table in a folder.
    out
        Workbook path (default ``RESULTS_DIR/finance.xlsx``) or CSV folder (default
        ``RESULTS_DIR/finance``).

    Returns
    -------
    list[pathlib.Path]
        The workbook (written atomically), or the CSV files (a folder written as a unit, with
        its ``checksums.sha256``). Text cells are escaped (:func:`sim.io.defuse`).

    Raises
    ------
    ResultsError
        If the folder cannot be read, or the format is unknown.
    """
    if fmt not in ("xlsx", "csv"):
        raise ResultsError(f"unknown format {fmt!r}: use xlsx or csv")
    saved = read_results(results_dir)
    tables = finance_tables(saved.monthly)
    tables["about"] = _about(saved)
    if fmt == "xlsx":
        target = Path(out) if out is not None else saved.path / "finance.xlsx"
        target.parent.mkdir(parents=True, exist_ok=True)
        return [atomic_write(target, lambda p: _write_workbook(p, tables))]
    folder = Path(out) if out is not None else saved.path / "finance"
    files = {f"{name}.csv": csv_writer(table, name != "about") for name, table in tables.items()}
    return write_folder(folder, files)


def _write_workbook(path: Path, tables: dict[str, pd.DataFrame]) -> None:
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        for name, table in tables.items():
            is_about = name == "about"
            defuse(table).to_excel(writer, sheet_name=name, index=not is_about)
            sheet = writer.sheets[name]
            sheet.freeze_panes = "A2" if is_about else "B2"
            for cell in sheet[1]:
                cell.font = Font(bold=True)
            headers = [table.index.name or "", *table.columns] if not is_about else table.columns
            for j, header in enumerate(headers, start=1):
                letter = get_column_letter(j)
                width = 60 if (is_about and j == 2) else max(12, len(str(header)) + 2)
                sheet.column_dimensions[letter].width = width
                if is_about or j == 1:
                    continue
                fmt = COUNT_FORMAT if header in _COUNTS else MONEY_FORMAT
                for (cell,) in sheet.iter_rows(min_row=2, min_col=j, max_col=j):
                    cell.number_format = fmt
                    if isinstance(cell.value, float) and not np.isfinite(cell.value):
                        cell.value = None
