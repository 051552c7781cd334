"""The top-level jobs on objects in memory, and result objects fit for a notebook."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from matplotlib.figure import Figure

import sim
from sim.analysis.metrics import KPIS
from tests.helpers import BASE, small


@pytest.fixture(scope="module")
def results() -> sim.Results:
    return sim.run(small(months=2), replications=3, seed=1, workers=1, keep_ledgers=True)


@pytest.fixture(scope="module")
def comparison() -> sim.Comparison:
    base = small(months=2)
    more = small(months=2, sets=["inside_sales.headcount=12"])
    return sim.compare([base, more], replications=2, seed=1, workers=1)


def _shows_itself(obj: object, *words: str) -> None:
    text = repr(obj)
    assert len(text) < 1_000
    assert all(word in text for word in words), text
    html = obj._repr_html_()  # type: ignore[attr-defined]
    assert "<table" in html
    assert len(html) < 3_000


def test_results_show_a_short_summary(results: sim.Results) -> None:
    _shows_itself(results, results.scenario.name, "replications", "seed", "horizon", "P10")
    assert "2 months" in repr(results)


def test_results_to_frame_and_plot(results: sim.Results) -> None:
    table = results.to_frame()
    assert table.shape == (3, 2 + len(KPIS))
    assert list(table["replication"]) == [0, 1, 2]
    assert isinstance(results.plot(), Figure)
    assert isinstance(results.plot("funnel"), Figure)
    with pytest.raises(ValueError, match="unknown chart"):
        results.plot("pie")


def test_results_finance_table(results: sim.Results) -> None:
    table = results.finance("monthly", ["arr"])
    assert list(table.columns) == ["ARR ($) mean", "ARR ($) P10", "ARR ($) P50", "ARR ($) P90"]
    assert list(table.index) == [*results.months, "Total"]


def test_ledger_shows_itself(results: sim.Results) -> None:
    ledger = results.replications[0].ledger
    assert ledger is not None
    _shows_itself(ledger, "ending ARR", "horizon")
    table = ledger.to_frame()
    assert list(table.index) == results.months
    assert {"arr", "new_arr", "mqls"} <= set(table.columns)
    assert isinstance(ledger.plot("new_arr"), Figure)


def test_comparison_shows_itself(comparison: sim.Comparison) -> None:
    _shows_itself(comparison, *comparison.labels, "95% CI")
    table = comparison.to_frame(["ending_arr", "wins"])
    assert len(table) == 4
    assert {"diff", "diff_low", "diff_high", "verdict"} <= set(table.columns)
    assert len(comparison.differences(["ending_arr"])) == 1
    assert isinstance(comparison.plot(), Figure)
    assert isinstance(comparison.plot("bars", kpis=["wins"]), Figure)


def test_scenario_arguments_take_paths() -> None:
    res = sim.run(BASE, replications=1, seed=0, workers=1)
    assert res.scenario.name == sim.load_scenario(BASE).name


def test_report_of_results_in_memory(results: sim.Results, tmp_path: Path) -> None:
    out = sim.report(results, tmp_path / "report.html", diagnose_replications=0)
    assert out.is_file()
    assert results.scenario.name in out.read_text(encoding="utf-8")


def test_report_of_a_comparison_in_memory(comparison: sim.Comparison, tmp_path: Path) -> None:
    out = sim.report(comparison, tmp_path / "report.html", diagnose_replications=0)
    html = out.read_text(encoding="utf-8")
    assert all(label in html for label in comparison.labels)


def test_export_of_results_in_memory_and_of_a_folder(results: sim.Results, tmp_path: Path) -> None:
    (book,) = sim.export(results, tmp_path / "finance.xlsx")
    sheets = pd.read_excel(book, sheet_name=None)
    assert list(sheets) == ["Monthly", "Quarterly", "Annual", "About"]
    results.save(tmp_path / "run")
    (again,) = sim.export(tmp_path / "run")
    assert again == tmp_path / "run" / "finance.xlsx"
    with pytest.raises(ValueError, match="out is needed"):
        sim.export(results)


def test_diagnose_a_scenario_object() -> None:
    diagnosis = sim.diagnose(small(months=2), replications=2, seed=0, workers=1)
    assert diagnosis.bottleneck in {"inside_sales", "field_sales", "customer_success"}
    assert set(diagnosis.heads["team"]) == {"inside_sales", "field_sales", "customer_success"}


def test_diagnose_a_results_folder(results: sim.Results, tmp_path: Path) -> None:
    results.save(tmp_path / "run")
    diagnosis = sim.diagnose(tmp_path / "run", replications=2, seed=0, workers=1)
    assert diagnosis.scenario == results.scenario.name


def test_plan_search_shows_itself() -> None:
    scenario = small(months=2)
    space = sim.PlanSpace((sim.RoleRange("sdr", 2, step=2),), months=(1,))
    search = sim.plan(
        scenario, 1.0, 2, space=space, first_reps=2, max_reps=2, confirm_reps=2, workers=1
    )
    _shows_itself(search, "target", "best plan", "seed", "horizon")
    assert len(search.to_frame()) == len(space.plans())
    assert isinstance(search.plot(), Figure)


def test_sweep_run_shows_itself(tmp_path: Path) -> None:
    definition = tmp_path / "sweep.yaml"
    definition.write_text(
        f"name: tiny\nbase: {BASE}\nset: [horizon_months=1]\n"
        "parameters:\n  inside_sales.headcount: [8, 10]\n"
        "replications: 2\nseed: 1\nkpis: [ending_arr, wins]\n"
    )
    run = sim.sweep(definition, tmp_path / "tiny.duckdb", executor="serial")
    _shows_itself(run, "tiny", "points", "seed", "ending ARR")
    table = run.to_frame()
    assert len(table) == 2 * 2  # points x KPIs
    assert isinstance(run.plot(), Figure)
    assert isinstance(run.plot("curve"), Figure)
    assert isinstance(run.plot("tornado"), Figure)
    with pytest.raises(ValueError, match="heatmap"):
        run.plot("heatmap")


def test_calibrate_is_the_package_and_its_fit() -> None:
    import sim.calibrate as package

    assert sim.calibrate is package
    assert callable(sim.calibrate)
    assert sim.calibrate.read_crm is not None
