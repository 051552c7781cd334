"""Every notebook in notebooks/ executes top to bottom, and is committed clean.

The notebooks run in a real Jupyter kernel (``python3``: the interpreter running the tests,
through ipykernel), from notebooks/ as working directory, with the sizes their parameters
cell reads from the environment cut down (2 replications, 6 months, the smallest Sobol
design) and their files written under a temporary folder. Where it is cheap, the test
checks what a notebook produced.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import duckdb
import nbformat
import pandas as pd
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))

CELL_TIMEOUT = 600
"""Seconds per cell: generous, as the machine may be busy with other simulations."""

SMALL = {
    "REVLOOP_NB_REPS": "2",
    "REVLOOP_NB_MONTHS": "6",
    "REVLOOP_NB_SAMPLES": "2",
    "REVLOOP_NB_PLAN_REPS": "4",
    "REVLOOP_NB_CONFIRM_REPS": "4",
    "REVLOOP_NB_WORKERS": "1",
    "REVLOOP_NB_CONTROL_RUNS": "20",
}
"""Environment of the executed notebooks: their parameters cells read these."""

PRODUCES = {
    "1_cro_headcount.ipynb": ["cro/plans.csv", "cro/plan.duckdb"],
    "2_finance_forecast.ipynb": [
        "finance/base/manifest.json",
        "finance/finance_forecast.xlsx",
        "finance/finance_forecast_csv/quarterly.csv",
    ],
    "3_consultant_scenarios.ipynb": [
        "scenarios/comparison.csv",
        "scenarios/kpis.csv",
        "scenarios/report.html",
    ],
    "4_researcher_sensitivity.ipynb": [
        "sensitivity/levers_grid.yaml",
        "sensitivity/levers_sobol.yaml",
        "sensitivity/levers_grid_dask.duckdb",
    ],
}
"""Files (relative to REVLOOP_NB_OUT) each notebook must leave, non-empty."""


def _finance_workbook(out: Path) -> None:
    """The workbook holds the period sheets, one row per simulated month and a Total row."""
    sheets = pd.read_excel(out / "finance/finance_forecast.xlsx", sheet_name=None)
    assert list(sheets) == ["Monthly", "Quarterly", "Annual", "About"]
    monthly = sheets["Monthly"]
    assert len(monthly) == int(SMALL["REVLOOP_NB_MONTHS"]) + 1  # and the Total row
    assert monthly["Period"].iloc[-1] == "Total"
    assert (monthly["ARR ($) P10"] <= monthly["ARR ($) P90"]).iloc[:-1].all()


def _scenario_report(out: Path) -> None:
    """The report and the comparison table cover the base and the three options."""
    html = (out / "scenarios/report.html").read_text(encoding="utf-8")
    table = pd.read_csv(out / "scenarios/comparison.csv")
    for name in ("base", "more_sdrs", "strict_scoring", "fast_recycle"):
        assert name in html, f"the report does not mention {name}"
        assert name in set(table["scenario"]), f"comparison.csv has no row for {name}"


def _dask_store(out: Path) -> None:
    """The sweep run on Dask stored a row for every point of the 3 x 3 grid."""
    with duckdb.connect(str(out / "sensitivity/levers_grid_dask.duckdb"), read_only=True) as con:
        row = con.execute("select count(distinct point_id) from kpis").fetchone()
    assert row == (9,)


CHECKS: dict[str, Callable[[Path], None]] = {
    "2_finance_forecast.ipynb": _finance_workbook,
    "3_consultant_scenarios.ipynb": _scenario_report,
    "4_researcher_sensitivity.ipynb": _dask_store,
}
"""What each notebook produced, checked where it is cheap."""

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _ids(paths: list[Path]) -> list[str]:
    return [p.name for p in paths]


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_runs(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SMALL.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("REVLOOP_NB_OUT", str(tmp_path))
    monkeypatch.delenv("REVLOOP_DASK_SCHEDULER", raising=False)
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        kernel_name="python3",
        timeout=CELL_TIMEOUT,
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
    )
    error = None
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError) as err:
        error = ANSI.sub("", str(err))  # the failing cell's source and its traceback
    if error is not None:  # failed out here, so the report is the cell's error alone
        pytest.fail(f"{path.name}: {error}", pytrace=False)
    for relative in PRODUCES.get(path.name, []):
        produced = tmp_path / relative
        assert produced.is_file(), f"{path.name} did not write {relative}"
        assert produced.stat().st_size > 0, f"{path.name} wrote an empty {relative}"
    if path.name in CHECKS:
        CHECKS[path.name](tmp_path)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_committed_clean(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    dirty = [i for i, cell in enumerate(code) if cell.outputs or cell.execution_count is not None]
    assert not dirty, f"{path.name}: code cells {dirty} have outputs or execution counts"
    parameters = [cell for cell in code if "parameters" in cell.metadata.get("tags", [])]
    assert len(parameters) == 1, f"{path.name}: expected one cell tagged 'parameters'"
    assert "REVLOOP_NB_REPS" in parameters[0].source, f"{path.name}: parameters ignore REPS"
    assert nb.cells[0].cell_type == "markdown", f"{path.name}: should open with a markdown cell"


SUBMODULE_IMPORT = re.compile(r"^\s*(from\s+sim\.|import\s+sim\.)", re.MULTILINE)
"""An import of a ``sim`` submodule: notebooks use the names of ``import sim`` only."""


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_uses_the_top_level_api(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    code = [cell.source for cell in nb.cells if cell.cell_type == "code"]
    deep = [line for source in code for line in SUBMODULE_IMPORT.findall(source)]
    assert not deep, f"{path.name}: imports sim submodules; use import sim and sim.* names"
    assert any(re.search(r"^import sim$", source, re.MULTILINE) for source in code)
