"""Finance export: monthly, quarterly and annual finance tables (mean, P10, P50, P90 across
replications), as an xlsx workbook or CSV files.

Also the reader of a saved results folder (what ``revloop run --out DIR`` writes), shared by
the export, the diagnosis and the report.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from sim.analysis.motion import TABLES
from sim.errors import ResultsError
from sim.io import (
    atomic_write,
    check_folder,
    csv_writer,
    defuse_text,
    refuse_leftover,
    write_folder,
)

__all__ = [
    "FINANCE_METRICS",
    "FLOW_METRICS",
    "SHEETS",
    "STATISTICS",
    "STOCK_METRICS",
    "FinanceMetric",
    "ResultsError",
    "SavedResults",
    "column",
    "export",
    "finance_tables",
    "read_results",
]

Format = Literal["xlsx", "csv"]
Period = Literal["monthly", "quarterly", "annual"]


@dataclass(frozen=True)
class FinanceMetric:
    """A figure of the finance tables: its column label (with its unit) and what it means.

    ``stock``: a level, shown at the end of the period (a quarter or a year shows its last
    month's value); otherwise a flow, summed over the period's months. ``count``: a number of
    customers (format ``#,##0``); otherwise dollars (``"$"#,##0``).
    """

    label: str
    stock: bool
    count: bool
    meaning: str


_TEAM_COST = "fully loaded cost in the period: loaded payroll, tools and variable pay"

FINANCE_METRICS: dict[str, FinanceMetric] = {
    "arr": FinanceMetric("ARR ($)", True, False,
        "annual recurring revenue of all customers at the end of the period"),
    "mrr": FinanceMetric("MRR ($)", True, False, "ARR / 12 at the end of the period"),
    "customers": FinanceMetric("Customers (count)", True, True,
        "paying customers at the end of the period"),
    "recognised_revenue": FinanceMetric("Recognised revenue ($)", False, False,
        "subscription revenue earned in the period: each month (ARR at the month's start + "
        "ARR at its end) / 2 / 12, a mid-month convention (ARR won or lost during a month "
        "earns half a month); the first month starts from the scenario's opening ARR"),
    "bookings": FinanceMetric("Bookings: new + expansion ARR ($)", False, False,
        "new ARR + expansion ARR booked in the period (the one meaning of bookings in "
        "revloop's finance tables, charts and docs)"),
    "new_arr": FinanceMetric("New ARR ($)", False, False,
        "ARR of the customers won in the period"),
    "expansion_arr": FinanceMetric("Expansion ARR ($)", False, False,
        "ARR added to existing customers in the period (expansions at renewal, upsell wins)"),
    "contraction_arr": FinanceMetric("Contraction ARR ($)", False, False,
        "ARR given up by customers who renewed for less in the period"),
    "churned_arr": FinanceMetric("Churned ARR ($)", False, False,
        "ARR of the customers who left in the period"),
    "new_customers": FinanceMetric("New customers (count)", False, True,
        "customers won in the period"),
    "churned_customers": FinanceMetric("Churned customers (count)", False, True,
        "customers lost at renewal in the period"),
    "marketing_cost": FinanceMetric("Marketing lead cost ($)", False, False,
        "cost of the leads bought from the channels (per lead, or the channel's budget)"),
    "marketing_programs": FinanceMetric("Marketing programs cost ($)", False, False,
        "fixed marketing programs (finance.marketing_programs_per_month)"),
    "inside_sales_cost": FinanceMetric("Inside sales cost ($)", False, False,
        f"inside sales (SDRs): {_TEAM_COST}"),
    "field_sales_cost": FinanceMetric("Field sales cost ($)", False, False,
        f"field sales (AEs): {_TEAM_COST} (commission)"),
    "outbound_cost": FinanceMetric("Outbound cost ($)", False, False,
        f"outbound (BDRs; only if the scenario has them): {_TEAM_COST}"),
    "customer_success_cost": FinanceMetric("Customer success cost ($)", False, False,
        f"customer success (CSMs): {_TEAM_COST}"),
    "tech_touch_cost": FinanceMetric("Tech-touch cost ($)", False, False,
        f"tech-touch pool (only if the scenario has one): {_TEAM_COST}"),
    "sm_cost": FinanceMetric("Sales & marketing cost ($)", False, False,
        "marketing lead cost + marketing programs + inside sales + field sales + outbound"),
    "total_cost": FinanceMetric("Total cost ($)", False, False,
        "sales & marketing cost + customer success (and tech touch)"),
}  # fmt: skip
"""Every figure of the finance tables, in column order: the one code name -> label mapping.

(The chart labels of :mod:`sim.analysis.plots` are lower-case axis titles without count
units, so the export keeps its own.)"""

STOCK_METRICS = tuple(name for name, m in FINANCE_METRICS.items() if m.stock)
"""Levels: a quarter or a year shows its last month's value."""

FLOW_METRICS = tuple(name for name, m in FINANCE_METRICS.items() if not m.stock)
"""Amounts over a period: a quarter or a year sums its months. ``bookings`` = new +
expansion ARR; ``recognised_revenue`` is derived from month-start and month-end ARR."""

STATISTICS = ("mean", "P10", "P50", "P90")
"""The four columns of each figure, across replications, per period."""

SHEETS: dict[str, str] = {
    "monthly": "Monthly",
    "quarterly": "Quarterly",
    "annual": "Annual",
    "about": "About",
}
"""Table key (and CSV file name) -> sheet name."""

TOTAL = "Total"
MONEY_FORMAT = '"$"#,##0'
COUNT_FORMAT = "#,##0"
_DATE_FORMATS = {"monthly": "yyyy-mm", "quarterly": "yyyy-mm-dd", "annual": "yyyy-mm-dd"}


def column(metric: str, statistic: str) -> str:
    """The header of one statistic of one figure: ``column("arr", "P50")`` is ``ARR ($) P50``."""
    return f"{FINANCE_METRICS[metric].label} {statistic}"


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
    """(replication, month) rows x metric columns, with ``bookings`` and
    ``recognised_revenue`` added."""
    table = monthly.pivot_table(
        index=["replication", "month"], columns="metric", values="value", sort=True
    )
    table.columns.name = None
    table["bookings"] = table["new_arr"] + table["expansion_arr"]
    table["recognised_revenue"] = _recognised_revenue(table)
    return table


def _recognised_revenue(wide: pd.DataFrame) -> pd.Series:
    """Revenue earned in each month: (ARR at its start + ARR at its end) / 24.

    A month starts at the previous month's end. The first month starts at the opening ARR,
    which a results folder does not keep: it is the first month-end ARR less that month's
    net new ARR (new + expansion - contraction - churned), exact by the conservation of ARR
    the engine checks in every replication.
    """
    end = wide["arr"]
    net = wide["new_arr"] + wide["expansion_arr"] - wide["contraction_arr"] - wide["churned_arr"]
    start = end.groupby(level="replication", sort=False).shift(1)
    first = ~wide.index.get_level_values("replication").duplicated()  # rows sorted by month
    start[first] = (end - net)[first]
    return (start + end) / 24.0


def _period(month: str, period: Period) -> tuple[pd.Timestamp, str]:
    """Start date and label (``2027-01``, ``2027Q1``, ``2027``) of a ``YYYY-MM`` month's
    calendar period."""
    year, number = (int(part) for part in month.split("-"))
    if period == "monthly":
        return pd.Timestamp(year, number, 1), f"{year}-{number:02d}"
    if period == "quarterly":
        quarter = (number - 1) // 3 + 1
        return pd.Timestamp(year, 3 * quarter - 2, 1), f"{year}Q{quarter}"
    return pd.Timestamp(year, 1, 1), str(year)


def _period_table(wide: pd.DataFrame, period: Period, metrics: list[str]) -> pd.DataFrame:
    """One period sheet: per-replication period figures, then statistics across them."""
    stocks = [m for m in metrics if FINANCE_METRICS[m].stock]
    flows = [m for m in metrics if not FINANCE_METRICS[m].stock]
    frame = wide[metrics].reset_index()
    keys = {month: _period(month, period) for month in frame["month"].unique()}
    frame["start"] = frame["month"].map(lambda m: keys[m][0])
    frame["label"] = frame["month"].map(lambda m: keys[m][1])
    # per replication: stocks at the period's last month, flows summed over its months
    grouped = frame.groupby(["replication", "start", "label"], sort=True)
    per = pd.concat([grouped[stocks].last(), grouped[flows].sum()], axis=1)[metrics]
    across = per.groupby(level=["start", "label"], sort=True)
    stats = {
        "mean": across.mean(),
        **{f"P{p}": across.quantile(p / 100) for p in (10, 50, 90)},
    }
    months = grouped["month"].count().groupby(level=["start", "label"], sort=True).max()
    index = stats["mean"].index
    data: dict[str, Any] = {
        "Period start": pd.to_datetime(index.get_level_values("start")),
        "Period": list(index.get_level_values("label")),
        "Months": months.reindex(index).to_numpy(dtype=int),
    }
    for metric in metrics:
        for statistic in STATISTICS:
            data[column(metric, statistic)] = stats[statistic][metric].to_numpy(dtype=float)
    table = pd.DataFrame(data)
    total: dict[str, Any] = dict.fromkeys(table.columns, math.nan)
    total.update({"Period start": pd.NaT, "Period": TOTAL, "Months": int(table["Months"].sum())})
    for metric in flows:
        name = column(metric, "mean")
        total[name] = float(table[name].sum())
    table = pd.concat([table, pd.DataFrame([total])], ignore_index=True)
    return table.astype({"Months": int})


def finance_tables(monthly: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The finance figures by month, calendar quarter and calendar year: mean, P10, P50, P90.

    Parameters
    ----------
    monthly
        Tidy monthly table (``replication, month, metric, value``) of one scenario, with at
        least ``arr``, ``new_arr``, ``expansion_arr``, ``contraction_arr`` and
        ``churned_arr``.

    Returns
    -------
    dict[str, pandas.DataFrame]
        ``monthly``, ``quarterly`` and ``annual``, the tables of the workbook's sheets: one
        row per period, then a ``Total`` row. Columns ``Period start`` (the first day of the
        calendar period, a date; empty on the total row), ``Period`` (``2027-01``, ``2027Q1``
        or ``2027``), ``Months`` (simulated months in the period: under 3 or 12 marks a
        partial quarter or year), then for every figure of :data:`FINANCE_METRICS` present in
        the run four columns ``<label> mean``, ``<label> P10``, ``<label> P50`` and
        ``<label> P90`` (see :func:`column`).

        Replication by replication, a period takes its last month's stocks (ARR, MRR,
        customers) and sums its flows; then the mean and the percentiles are taken across
        replications, per period. The means of flows add up (a year's mean is the sum of its
        months' means); percentiles do not. The ``Total`` row holds the sum of every flow's
        mean column and leaves stocks and percentile columns empty.
    """
    wide = _wide(monthly)
    metrics = [m for m in FINANCE_METRICS if m in wide.columns]
    periods: tuple[Period, ...] = ("monthly", "quarterly", "annual")
    return {period: _period_table(wide, period, metrics) for period in periods}


_INCOMPLETE = (
    "no: the run was interrupted or lost replications; the figures rest on the replications "
    "that finished"
)


def _about(saved: SavedResults, tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The About sheet: the run's provenance, what the sheets and columns mean, the rules."""
    n = int(saved.kpis["replication"].nunique()) if len(saved.kpis) else 0
    done = saved.manifest.get("complete")
    complete = "unknown" if done is None else "yes" if done else _INCOMPLETE
    months = list(tables["monthly"]["Period"].iloc[:-1])
    span = f"{months[0]} to {months[-1]} ({len(months)} months)" if months else "none"
    present = [m for m in FINANCE_METRICS if column(m, "mean") in tables["monthly"].columns]
    run = [
        ("Scenario", saved.name),
        ("Replications", n),
        ("Seed", saved.seed),
        ("Complete", complete),
        ("Scenario sha256", saved.manifest.get("scenario_sha256")),
        ("revloop version", saved.manifest.get("revloop_version")),
        ("Created (UTC)", saved.manifest.get("created_utc")),
        ("Results folder", str(saved.path)),
        ("Months simulated", span),
    ]  # fmt: skip
    sheets = [
        ("Monthly", "one row per simulated month, then the Total row"),
        ("Quarterly", "one row per calendar quarter, then the Total row"),
        ("Annual", "one row per calendar year, then the Total row"),
        ("About", "this sheet"),
    ]
    columns = [
        ("Period start", "first day of the calendar month, quarter or year (a date)"),
        ("Period", "the period's label: 2027-01 (month), 2027Q1 (quarter), 2027 (year)"),
        ("Months", "simulated months in the period: under 3 (quarter) or 12 (year) marks a "
         "partial period, which covers only its simulated months"),
        ("mean", "average over the replications (simulated futures) of the period's figure"),
        ("P10 / P50 / P90", "10th, 50th (median) and 90th percentile over the replications: "
         "1 future in 10 comes out below P10, 1 in 10 above P90"),
        *((FINANCE_METRICS[m].label, FINANCE_METRICS[m].meaning) for m in present),
    ]  # fmt: skip
    rules = [
        ("Stocks and flows", "ARR, MRR and customers are levels: a quarter or a year shows its "
         "last month's value. Every other figure is a flow: a quarter or a year sums its "
         "months."),
        ("Order of operations", "each replication's months are summed into the period first; "
         "the mean and percentiles are taken across replications afterwards, per period"),
        ("Adding up", "the mean columns of flows add up: a quarter's or a year's mean is the "
         "sum of its months' means. Percentiles do not add: the P50 of a year is not the sum "
         "of its months' P50s, and a row of P50s is not one simulated future."),
        ("Total row", "the last row of each period sheet: for flows, the sum of the mean "
         "column over the periods above (the mean over the whole horizon); stocks and "
         "percentile columns are left empty there, because percentiles do not add"),
        ("Bookings", "new ARR + expansion ARR, everywhere in revloop's export, charts and "
         "docs; the chart of new ARR alone is titled New ARR"),
        ("Recognised revenue", "per month (ARR at the month's start + ARR at its end) / 24, a "
         "mid-month convention; the first month starts at the opening ARR, which is that "
         "month's ending ARR less its new + expansion - contraction - churned ARR"),
        ("Sales & marketing cost", "marketing lead cost + marketing programs + inside sales "
         "+ field sales + outbound; Total cost adds customer success (and tech touch)"),
    ]  # fmt: skip
    rows = [
        *(("Run", item, value) for item, value in run),
        *(("Sheet", item, value) for item, value in sheets),
        *(("Column", item, value) for item, value in columns),
        *(("Rule", item, value) for item, value in rules),
    ]
    return pd.DataFrame(rows, columns=["Section", "Item", "Value"])


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
        ``xlsx``: one workbook with the sheets ``Monthly``, ``Quarterly``, ``Annual`` (the
        tables of :func:`finance_tables`) and ``About`` (provenance and definitions); dates
        as dates, money formatted ``$#,##0``, counts ``#,##0``, header row and period
        columns frozen. ``csv``: one file per sheet (``monthly.csv``, ``quarterly.csv``,
        ``annual.csv``, ``about.csv``) in a folder.
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
    tables["about"] = _about(saved, tables)
    if fmt == "xlsx":
        target = Path(out) if out is not None else saved.path / "finance.xlsx"
        target.parent.mkdir(parents=True, exist_ok=True)
        return [atomic_write(target, lambda p: _write_workbook(p, tables))]
    folder = Path(out) if out is not None else saved.path / "finance"
    files = {f"{name}.csv": csv_writer(table, index=False) for name, table in tables.items()}
    return write_folder(folder, files)


def _cell(value: Any) -> Any:
    """A table value as a typed cell: a date, a number, defused text, or empty."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        return defuse_text(value)
    return defuse_text(str(value))


def _write_workbook(path: Path, tables: dict[str, pd.DataFrame]) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    formats = {
        column(m, s): COUNT_FORMAT if FINANCE_METRICS[m].count else MONEY_FORMAT
        for m in FINANCE_METRICS
        for s in STATISTICS
    }
    bold = Font(bold=True)
    book = Workbook()
    book.remove(book.worksheets[0])  # start empty: sheets in table order
    for name, table in tables.items():
        sheet = book.create_sheet(SHEETS[name])
        headers = [str(c) for c in table.columns]
        sheet.append([defuse_text(h) for h in headers])
        for row in table.itertuples(index=False):
            sheet.append([_cell(v) for v in row])
        for cell in sheet[1]:
            cell.font = bold
            cell.alignment = Alignment(wrap_text=True, vertical="top")
        if name == "about":
            sheet.freeze_panes = "A2"
            for letter, width in (("A", 10), ("B", 34), ("C", 100)):
                sheet.column_dimensions[letter].width = width
            for (cell,) in sheet.iter_rows(min_row=2, min_col=3, max_col=3):
                cell.alignment = Alignment(wrap_text=True, vertical="top")
            continue
        sheet.freeze_panes = "D2"  # header row, Period start, Period, Months
        sheet.row_dimensions[1].height = 48  # long labels wrap onto up to three lines
        for j, header in enumerate(headers, start=1):
            letter = get_column_letter(j)
            fmt = {
                "Period start": _DATE_FORMATS[name],
                "Period": "@",
                "Months": "0",
            }.get(header, formats.get(header, MONEY_FORMAT))
            sheet.column_dimensions[letter].width = {"Period start": 12, "Months": 8}.get(
                header, 10 if header == "Period" else 16
            )
            for (cell,) in sheet.iter_rows(min_row=2, min_col=j, max_col=j):
                cell.number_format = fmt
        for cell in sheet[sheet.max_row]:  # the Total row
            cell.font = bold
    book.save(path)
