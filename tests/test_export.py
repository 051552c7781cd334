"""Finance export: the workbook and CSV files hold the expected tables, formats and numbers."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner

from sim.analysis.export import (
    FINANCE_METRICS,
    FLOW_METRICS,
    STATISTICS,
    STOCK_METRICS,
    ResultsError,
    column,
    export,
    finance_tables,
    read_results,
)
from sim.cli.analysis import export_command
from sim.experiment.runner import run
from tests.helpers import small

SHEETS = ["Monthly", "Quarterly", "Annual", "About"]
PERIODS = ["monthly", "quarterly", "annual"]
MONTHS = ["2026-11", "2026-12", "2027-01", "2027-02", "2027-03"]
"""Five months from November: two calendar years, the first quarter and year partial."""


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("results")
    scenario = small(months=5, sets=["start_date=2026-11-01"])
    run(scenario, replications=3, seed=3, workers=1).save(out)
    return out


@pytest.fixture(scope="module")
def monthly(results_dir: Path) -> pd.DataFrame:
    return read_results(results_dir).monthly


@pytest.fixture(scope="module")
def wide(monthly: pd.DataFrame) -> pd.DataFrame:
    """(replication, month) x metric, straight from the tidy table."""
    return monthly.pivot_table(index=["replication", "month"], columns="metric", values="value")


@pytest.fixture(scope="module")
def tables(monthly: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return finance_tables(monthly)


def _rows(table: pd.DataFrame) -> pd.DataFrame:
    """The period rows of a table, without its Total row, indexed by period label."""
    assert table["Period"].iloc[-1] == "Total"
    return table.iloc[:-1].set_index("Period")


def test_tables_have_periods_and_four_statistics_per_figure(
    tables: dict[str, pd.DataFrame],
) -> None:
    assert list(tables) == PERIODS
    assert list(_rows(tables["monthly"]).index) == MONTHS
    assert list(_rows(tables["quarterly"]).index) == ["2026Q4", "2027Q1"]
    assert list(_rows(tables["annual"]).index) == ["2026", "2027"]
    assert list(_rows(tables["quarterly"])["Months"]) == [2, 3]  # Q4 2026 is partial
    assert list(_rows(tables["annual"])["Months"]) == [2, 3]
    starts = _rows(tables["quarterly"])["Period start"]
    assert list(starts) == [pd.Timestamp(2026, 10, 1), pd.Timestamp(2027, 1, 1)]
    for table in tables.values():
        assert list(table.columns[:3]) == ["Period start", "Period", "Months"]
        metrics = [m for m in FINANCE_METRICS if column(m, "mean") in table.columns]
        expected = [column(m, s) for m in metrics for s in STATISTICS]
        assert list(table.columns[3:]) == expected
        assert {"arr", "recognised_revenue", "bookings", "sm_cost", "total_cost"} <= set(metrics)
        assert "outbound_cost" not in metrics  # the base scenario has no BDRs


def test_tables_are_statistics_across_replications(
    tables: dict[str, pd.DataFrame], wide: pd.DataFrame
) -> None:
    rows = _rows(tables["monthly"])
    arr = wide["arr"].unstack("month")
    np.testing.assert_allclose(rows[column("arr", "mean")], arr.mean().to_numpy())
    np.testing.assert_allclose(rows[column("arr", "P50")], arr.median().to_numpy())
    np.testing.assert_allclose(rows[column("arr", "P90")], arr.quantile(0.9).to_numpy())
    bookings = (wide["new_arr"] + wide["expansion_arr"]).groupby(level="month").quantile(0.1)
    np.testing.assert_allclose(rows[column("bookings", "P10")], bookings.to_numpy())
    q = _rows(tables["quarterly"])
    q1 = wide[wide.index.get_level_values("month").isin(MONTHS[2:])]
    per_rep = q1["new_arr"].groupby(level="replication").sum()
    assert q.loc["2027Q1", column("new_arr", "P50")] == pytest.approx(per_rep.median())
    march = wide.xs("2027-03", level="month")["customers"]
    assert q.loc["2027Q1", column("customers", "P90")] == pytest.approx(march.quantile(0.9))


def test_recognised_revenue_is_mid_month_arr(
    tables: dict[str, pd.DataFrame], wide: pd.DataFrame, results_dir: Path
) -> None:
    """(ARR at the month's start + ARR at its end) / 24, the first month from the opening ARR."""
    scenario = read_results(results_dir).scenario
    opening = float(scenario["starting_book"]["arr"])
    assert opening > 0
    end = wide["arr"].unstack("month")[MONTHS]
    start = end.shift(1, axis=1)
    start[MONTHS[0]] = opening  # every replication opens on the scenario's book
    expected = (start + end) / 24
    rows = _rows(tables["monthly"])
    np.testing.assert_allclose(rows[column("recognised_revenue", "mean")], expected.mean())
    np.testing.assert_allclose(rows[column("recognised_revenue", "P10")], expected.quantile(0.1))
    year = _rows(tables["annual"]).loc["2027", column("recognised_revenue", "P90")]
    assert year == pytest.approx(expected[MONTHS[2:]].sum(axis=1).quantile(0.9))


def test_means_of_flows_add_up_and_total_rows_sum_their_columns(
    tables: dict[str, pd.DataFrame],
) -> None:
    months = _rows(tables["monthly"])
    years = _rows(tables["annual"])
    for metric in FLOW_METRICS:
        name = column(metric, "mean")
        if name not in months:
            continue
        by_year = months[name].groupby(months.index.str[:4]).sum()
        np.testing.assert_allclose(years[name], by_year.loc[years.index], rtol=1e-6)
        for period, table in tables.items():
            total = table.iloc[-1]
            assert total[name] == pytest.approx(table[name].iloc[:-1].sum(), rel=1e-9), period
            assert total["Months"] == len(MONTHS)
            for statistic in ("P10", "P50", "P90"):
                assert np.isnan(total[column(metric, statistic)])
    for metric in STOCK_METRICS:
        assert tables["annual"].iloc[-1][[column(metric, s) for s in STATISTICS]].isna().all()


def test_percentiles_are_ordered(tables: dict[str, pd.DataFrame]) -> None:
    for period, table in tables.items():
        rows = _rows(table)
        for metric in FINANCE_METRICS:
            if column(metric, "P50") not in rows:
                continue
            p10, p50, p90 = (rows[column(metric, p)] for p in ("P10", "P50", "P90"))
            assert (p10 <= p50 + 1e-9).all(), (period, metric)
            assert (p50 <= p90 + 1e-9).all(), (period, metric)


def test_xlsx_has_typed_dates_numbers_formats_and_readable_headers(
    results_dir: Path, tmp_path: Path, tables: dict[str, pd.DataFrame]
) -> None:
    (path,) = export(results_dir, "xlsx", tmp_path / "finance.xlsx")
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == SHEETS
    for name, key in zip(SHEETS[:3], PERIODS, strict=True):
        sheet = book[name]
        header = [c.value for c in sheet[1]]
        assert header == list(tables[key].columns)
        assert not [h for h in header if "_" in str(h)]  # no code names
        assert all(c.font.bold for c in sheet[1])
        assert sheet.freeze_panes == "D2"
        rows = list(sheet.iter_rows(min_row=2))
        assert len(rows) == len(tables[key])
        for row in rows[:-1]:
            assert row[0].is_date
            assert isinstance(row[0].value, dt.datetime)
            assert row[0].number_format in ("yyyy-mm", "yyyy-mm-dd")
            assert isinstance(row[2].value, int)
            numbers = [c.value for c in row[3:]]
            assert all(isinstance(v, float | int) for v in numbers)
        total = rows[-1]
        assert total[1].value == "Total"
        assert total[0].value is None
        assert total[1].font.bold
        arr = header.index(column("arr", "P50"))
        customers = header.index(column("customers", "mean"))
        assert rows[0][arr].number_format == '"$"#,##0'
        assert rows[0][customers].number_format == "#,##0"
        assert sheet.column_dimensions["D"].width >= 12
    first = book["Monthly"].cell(2, 1).value
    assert first == dt.datetime(2026, 11, 1)
    about = {r[1].value: r[2].value for r in book["About"].iter_rows(min_row=2)}
    assert about["Scenario"] == "base"
    assert about["Replications"] == 3
    assert about["Seed"] == 3
    assert len(about["Scenario sha256"]) == 64
    assert about["Results folder"] == str(results_dir)
    for term in ("Total row", "Bookings", "Recognised revenue", "ARR ($)", "P10 / P50 / P90"):
        assert about.get(term), term
    assert "percentiles do not add" in about["Total row"]
    assert not list(tmp_path.glob(".*.tmp"))


def test_csv_writes_one_file_per_sheet(
    results_dir: Path, tmp_path: Path, tables: dict[str, pd.DataFrame]
) -> None:
    written = export(results_dir, "csv", tmp_path / "fin")
    expected_names = [f"{p}.csv" for p in [*PERIODS, "about"]] + ["checksums.sha256"]
    assert sorted(p.name for p in written) == sorted(expected_names)
    annual = pd.read_csv(tmp_path / "fin" / "annual.csv", parse_dates=["Period start"])
    assert list(annual.columns) == list(tables["annual"].columns)
    assert list(annual["Period"].astype(str)) == ["2026", "2027", "Total"]
    name = column("total_cost", "mean")
    np.testing.assert_allclose(annual[name], tables["annual"][name])
    assert annual["Period start"].iloc[0] == pd.Timestamp(2026, 1, 1)


def test_export_command_writes_the_default_workbook(results_dir: Path) -> None:
    result = CliRunner().invoke(export_command, [str(results_dir)])
    assert result.exit_code == 0, result.output
    assert (results_dir / "finance.xlsx").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["/no/such/dir"], "error: /no/such/dir: no such results folder"),
        (["{tmp}"], "not a results folder (missing monthly.parquet, kpis.csv"),
        (["{results}", "--format", "pdf"], "error: unknown format 'pdf': use xlsx or csv"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    results_dir: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    args = [a.format(tmp=tmp_path, results=results_dir) for a in args]
    result = CliRunner().invoke(export_command, args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_export_function_rejects_an_unknown_format(results_dir: Path) -> None:
    with pytest.raises(ResultsError, match="unknown format 'ods'"):
        export(results_dir, "ods")  # type: ignore[arg-type]
