"""Finance export: the workbook and CSV files hold the expected tables, formats and numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner

from sim.analysis.commands import export_command
from sim.analysis.export import FLOW_METRICS, ResultsError, export, finance_tables, read_results
from sim.experiment.runner import run
from tests.helpers import small

SHEETS = [
    "monthly_p10",
    "monthly_p50",
    "monthly_p90",
    "quarterly_p10",
    "quarterly_p50",
    "quarterly_p90",
    "about",
]


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("results")
    run(small(months=5), replications=3, seed=3, workers=1).save(out)
    return out


def test_tables_are_percentiles_across_replications(results_dir: Path) -> None:
    monthly = read_results(results_dir).monthly
    tables = finance_tables(monthly)
    assert list(tables) == SHEETS[:-1]
    arr = monthly[monthly["metric"] == "arr"].pivot(
        index="replication", columns="month", values="value"
    )
    np.testing.assert_allclose(tables["monthly_p50"]["arr"], arr.median().to_numpy())
    np.testing.assert_allclose(tables["monthly_p90"]["arr"], arr.quantile(0.9).to_numpy())
    wide = monthly.pivot_table(index=["replication", "month"], columns="metric", values="value")
    bookings = (wide["new_arr"] + wide["expansion_arr"]).groupby(level="month").quantile(0.1)
    np.testing.assert_allclose(tables["monthly_p10"]["bookings"], bookings.to_numpy())
    assert {"inside_sales_cost", "field_sales_cost", "customer_success_cost"} <= set(
        tables["monthly_p50"].columns
    )


def test_quarters_sum_flows_and_keep_quarter_end_stocks(results_dir: Path) -> None:
    monthly = read_results(results_dir).monthly
    q = finance_tables(monthly)["quarterly_p50"]
    assert list(q.index) == ["2027-Q1", "2027-Q2"]
    assert list(q["months"]) == [3, 2]  # five months: the second quarter is partial
    wide = monthly.pivot_table(index=["replication", "month"], columns="metric", values="value")
    months = wide.index.get_level_values("month")
    q1 = wide[months.isin(["2027-01", "2027-02", "2027-03"])]
    np.testing.assert_allclose(
        q.loc["2027-Q1", "new_arr"], q1["new_arr"].groupby(level="replication").sum().median()
    )
    march = wide.xs("2027-03", level="month")["arr"]
    assert q.loc["2027-Q1", "arr"] == pytest.approx(march.median())


def test_xlsx_opens_with_expected_sheets_and_money_formats(
    results_dir: Path, tmp_path: Path
) -> None:
    (path,) = export(results_dir, "xlsx", tmp_path / "finance.xlsx")
    book = pd.read_excel(path, sheet_name=None, index_col=0)
    assert list(book) == SHEETS
    assert list(book["monthly_p50"].index) == [f"2027-0{m}" for m in range(1, 6)]
    assert [c for c in FLOW_METRICS if c in book["monthly_p50"].columns] == [
        c for c in FLOW_METRICS if c != "outbound_cost"
    ]
    sheet = openpyxl.load_workbook(path)["monthly_p50"]
    header = [c.value for c in sheet[1]]
    assert sheet.cell(2, header.index("arr") + 1).number_format == '"$"#,##0'
    assert sheet.cell(2, header.index("customers") + 1).number_format == "#,##0"
    assert sheet.freeze_panes == "B2"
    assert not list(tmp_path.glob(".*.tmp"))


def test_csv_writes_one_file_per_table(results_dir: Path, tmp_path: Path) -> None:
    written = export(results_dir, "csv", tmp_path / "fin")
    expected_names = [f"{s}.csv" for s in SHEETS] + ["checksums.sha256"]
    assert sorted(p.name for p in written) == sorted(expected_names)
    p50 = pd.read_csv(tmp_path / "fin" / "monthly_p50.csv", index_col="month")
    expected = finance_tables(read_results(results_dir).monthly)["monthly_p50"]
    np.testing.assert_allclose(p50["total_cost"], expected["total_cost"])


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
