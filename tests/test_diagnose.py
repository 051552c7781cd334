"""Diagnosis: bottleneck ranking from the monthly series, and paired +1 head runs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from sim.analysis.diagnose import Diagnosis, bottleneck, diagnose, marginal_heads
from sim.cli.analysis import diagnose_command
from sim.experiment.results import Replication
from sim.experiment.runner import run
from sim.scenario.schema import Scenario
from tests.helpers import BASE, small


def _monthly(series: dict[str, list[float]]) -> pd.DataFrame:
    rows = [
        {"replication": 0, "month": f"2027-{m + 1:02d}", "metric": name, "value": v}
        for name, values in series.items()
        for m, v in enumerate(values)
    ]
    return pd.DataFrame(rows)


def test_bottleneck_is_the_busiest_team_with_a_growing_queue() -> None:
    monthly = _monthly(
        {
            "is_utilisation": [0.6, 0.6, 0.6, 0.6],
            "fs_utilisation": [0.8, 0.9, 1.0, 1.0],
            "cs_utilisation": [0.5, 0.5, 0.5, 0.5],
            "is_queue_length": [5, 5, 5, 5],
            "fs_queue_length": [0, 10, 20, 30],
            "cs_queue_length": [0, 0, 0, 0],
            "went_cold": [1, 1, 1, 1],
            "mqls": [10, 10, 10, 10],
        }
    )
    table = bottleneck(monthly)
    assert list(table.index) == ["field_sales", "inside_sales", "customer_success"]
    assert list(table["bottleneck"]) == [True, False, False]
    fs = table.loc["field_sales"]
    assert fs["utilisation"] == pytest.approx(0.925)
    assert fs["utilisation_last_quarter"] == pytest.approx((0.9 + 1.0 + 1.0) / 3)
    assert (fs["queue_start"], fs["queue_end"]) == (0, 30)
    assert fs["queue_growth_per_month"] == pytest.approx(10.0)
    assert table.loc["inside_sales", "went_cold_share"] == pytest.approx(0.1)
    assert np.isnan(table.loc["field_sales", "went_cold_share"])


@pytest.fixture(scope="module")
def diagnosis() -> Diagnosis:
    return diagnose(BASE, ["horizon_months=4"], replications=2, seed=5, workers=1)


def test_each_team_gets_one_more_head_paired_on_the_seed(diagnosis: Diagnosis) -> None:
    heads = diagnosis.heads
    assert set(heads["team"]) == {"inside_sales", "field_sales", "customer_success"}
    assert dict(zip(heads["team"], heads["headcount"], strict=True)) == {
        "inside_sales": 3,
        "field_sales": 10,
        "customer_success": 6,
    }
    assert set(heads["kpi"]) == {"ending_arr", "new_arr", "wins", "total_cost"}
    assert (heads["n"] == 2).all()
    # The paired base is the scenario as is: rerun it and check the difference.
    base = run(small(months=4), replications=2, seed=5, workers=1).kpis()
    plus = run(small(months=4, sets=["field_sales.headcount=11"]), 2, seed=5, workers=1).kpis()
    row = heads[(heads["team"] == "field_sales") & (heads["kpi"] == "total_cost")].iloc[0]
    assert row["mean"] == pytest.approx((plus["total_cost"] - base["total_cost"]).mean())
    assert row["mean"] > 0  # one more AE costs money


def test_sentences_name_the_bottleneck_and_each_role(diagnosis: Diagnosis) -> None:
    lines = diagnosis.sentences()
    assert lines[0].startswith(f"Bottleneck: {diagnosis.bottleneck.replace('_', ' ')} (")
    heads = [line for line in lines if line.startswith("One more ")]
    assert sorted(line.split()[2] for line in heads) == ["AE", "CSM", "SDR"]
    assert all("ending ARR (95% CI " in line for line in heads)
    means = diagnosis.heads[diagnosis.heads["kpi"] == "ending_arr"].sort_values("mean")
    assert heads[0].split()[2] == means["role"].iloc[-1]  # most valuable head first


def test_diagnose_command_prints_the_table_and_findings() -> None:
    result = CliRunner().invoke(
        diagnose_command, [str(BASE), "--reps", "2", "--workers", "1", "--set", "horizon_months=3"]
    )
    assert result.exit_code == 0, result.output
    assert "* bottleneck" in result.output
    assert re.search(r"(inside sales|field sales|customer success) \*", result.output)
    assert "One more SDR (3 -> 4) adds" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["/no/such/file.yaml"], "error: /no/such/file.yaml: no such results folder or scenario"),
        (["{bad}"], "not a results folder"),
        ([str(BASE), "--set", "inside_sales.headcount=-1"], "inside_sales.headcount"),
    ],
)
def test_bad_input_exits_2_without_traceback(tmp_path: Path, args: list[str], message: str) -> None:
    args = [a.format(bad=tmp_path) for a in args]
    result = CliRunner().invoke(diagnose_command, [*args, "--reps", "2", "--workers", "1"])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_diagnose_a_results_folder_reuses_its_scenario_seed_and_load(tmp_path: Path) -> None:
    run(small(months=3), replications=2, seed=9, workers=1).save(tmp_path)
    result = CliRunner().invoke(diagnose_command, [str(tmp_path), "--reps", "2", "-w", "1"])
    assert result.exit_code == 0, result.output
    assert "team load (saved run, seed 9)" in result.output
    assert "One more AE (10 -> 11) adds" in result.output


def test_auto_goes_on_until_settled_or_says_it_could_not(tmp_path: Path) -> None:
    # one month: an extra CSM changes nothing the first month, so its difference never
    # leaves zero; the budget runs out and the diagnosis says so
    args = [str(BASE), "--max-reps", "4", "--workers", "1", "--set", "horizon_months=1"]
    result = CliRunner().invoke(diagnose_command, args)
    assert result.exit_code == 0, result.output
    assert "diagnosing: not every difference is settled: 4 replications each" in result.output
    assert "could be told from zero within 4 paired replications" in " ".join(result.output.split())
    bad = CliRunner().invoke(diagnose_command, [str(BASE), "--reps", "1"])
    assert bad.exit_code == 2
    assert "--reps: must be 'auto' or a whole number of at least 2" in bad.output


def test_doubling_runs_only_the_new_replications(monkeypatch: pytest.MonkeyPatch) -> None:
    # one month: an extra CSM changes nothing, so the run doubles 2 -> 4 and stops at `most`
    import sim.experiment.runner as runner

    ran: list[int] = []
    replicate = runner.replicate

    def counted(scenario: Scenario, seed: int, replication: int, *rest: Any) -> Replication:
        ran.append(replication)
        return replicate(scenario, seed, replication, *rest)

    monkeypatch.setattr(runner, "replicate", counted)
    sets = ["horizon_months=1"]
    doubled, _, _ = marginal_heads(BASE, sets, replications=2, seed=3, workers=1, most=4)
    assert sorted(ran) == sorted(4 * [0, 1, 2, 3])  # 4 scenarios x 4, none run twice
    once, _, _ = marginal_heads(BASE, sets, replications=4, seed=3, workers=1)
    pd.testing.assert_frame_equal(doubled, once)  # the same numbers as 4 run at once


def test_marginal_heads_refuses_fewer_than_one_worker() -> None:
    with pytest.raises(ValueError, match="workers must be at least 1"):
        marginal_heads(BASE, ["horizon_months=1"], replications=2, workers=0)
