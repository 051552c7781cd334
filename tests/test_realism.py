"""The realism check: range logic and verdict words on synthetic numbers, and the command.

No test here asserts that a bundled scenario is inside the ranges: that depends on its
tuning, not on the check.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from sim.cli import main
from sim.cli.common import EXIT_BAD_INPUT, EXIT_CHECK_FAILED
from sim.experiment.results import Replication, Results
from sim.validation import realism
from sim.validation.realism import RANGES, RealismFigure, RealismReport, realism_figures
from tests.helpers import BASE, small


def _figure(values: tuple[float, ...], low: float | None, high: float | None) -> RealismFigure:
    return RealismFigure("x", "x", low, high, "test [R]", values, kind="share")


def test_a_mean_well_inside_is_a_settled_inside() -> None:
    f = _figure((0.75, 0.76, 0.77, 0.78), 0.70, 0.85)
    assert (f.verdict, f.inside, f.settled, f.words, f.short) == (
        "inside",
        True,
        True,
        "inside",
        "inside",
    )
    assert f.mean == pytest.approx(0.765)
    assert f.n == 4
    assert f.range_text == "70%-85%"


@pytest.mark.parametrize(
    ("values", "verdict"),
    [((0.50, 0.52, 0.51), "below"), ((0.95, 0.96, 0.97), "above"), ((0.85, 0.85), "inside")],
)
def test_verdicts_below_above_and_bounds_inclusive(values: tuple[float, ...], verdict: str) -> None:
    f = _figure(values, 0.70, 0.85)
    assert f.verdict == verdict
    assert f.inside == (verdict == "inside")


def test_a_ci_across_a_bound_is_unsettled() -> None:
    f = _figure((0.83, 0.88, 0.84, 0.87), 0.70, 0.85)  # mean 0.855, CI about ±0.04
    assert f.verdict == "above"
    assert not f.inside
    assert not f.settled
    assert f.crossed == 0.85
    assert f.words == "above, unsettled: the 95% CI crosses 85%"
    assert f.short == "above, unsettled"
    inside = _figure((0.82, 0.87, 0.83, 0.86), 0.70, 0.85)  # mean 0.845: inside, unsettled
    assert inside.inside
    assert inside.words == "inside, unsettled: the 95% CI crosses 85%"


def test_one_sided_ranges() -> None:
    slow = RealismFigure("speed", "speed", None, 8.0, "HBR", (10.0, 11.0, 12.0))
    assert (slow.verdict, slow.settled, slow.range_text) == ("above", True, "<= 8")
    fast = RealismFigure("speed", "speed", None, 8.0, "HBR", (1.0, 2.0, 1.5))
    assert fast.inside
    floor = RealismFigure("n", "n", 1.0, None, "-", (0.5, 0.6))
    assert (floor.verdict, floor.range_text) == ("below", ">= 1")


def test_no_data_and_one_replication() -> None:
    empty = RealismFigure("x", "x", 0.1, 0.2, "-", (math.nan, math.nan), note="needs more")
    assert (empty.verdict, empty.inside, empty.n) == ("no data", False, 0)
    assert empty.words == "no data (needs more)"
    assert math.isnan(empty.mean)
    one = _figure((0.8,), 0.70, 0.85)
    assert one.verdict == "inside"
    assert not one.settled
    assert one.words == "inside, unsettled: one replication gives no CI"


def test_report_indexing_frame_and_overall_verdict() -> None:
    good = RealismFigure("a", "a", 0.0, 1.0, "-", (0.5, 0.5))
    bad = RealismFigure("b", "b", 0.0, 1.0, "-", (2.0, 2.1))
    report = RealismReport("demo", seed=0, replications=2, horizon_months=24, figures=[good])
    assert report.inside
    report.figures.append(bad)
    assert not report.inside
    assert report.outside == [bad]
    assert report["a"] is good
    with pytest.raises(KeyError, match="no realism figure 'zzz'"):
        report["zzz"]
    frame = report.to_frame()
    assert list(frame.index) == ["a", "b"]
    assert list(frame["verdict"]) == ["inside", "above"]
    assert "1 of 2 figures inside" in repr(report)
    assert "<table" in report._repr_html_()


def _replication(r: int, wins: list[float], mature: dict[str, float]) -> Replication:
    kpis = {name: 0.5 + 0.01 * r for name in RANGES}
    waterfall = pd.DataFrame([mature], index=pd.Index(["mature"], name="cohort"))
    monthly = {"wins": np.array(wins), "new_arr": 1000.0 * np.array(wins)}
    return Replication(r, f"0:{r}", kpis, monthly, motion={"waterfall": waterfall})


def test_figures_read_kpis_the_mature_waterfall_and_the_steady_band() -> None:
    mature = {"lead_to_mql": 0.2, "mql_to_sql": 0.4, "sql_to_opportunity": 0.6}
    mature |= {"opportunity_to_win": 0.25, "opportunity_to_win_median_days": 60.0}
    months = 12
    results = Results(scenario=small(months=months), seed=0, requested=2)
    results.months = [f"2027-{m + 1:02d}" for m in range(months)]
    # months 2-6 of the two replications pooled are 1..10: P10 1.9, P90 9.1
    results.replications = [
        _replication(0, [20, 1, 2, 3, 4, 5, *[0] * 6], mature),
        _replication(1, [5, 6, 7, 8, 9, 10, *[0] * 6], mature),
    ]
    figures = {f.name: f for f in realism_figures(results)}
    assert list(figures) == list(RANGES)
    assert figures["is_utilisation"].values == (0.5, 0.51)
    assert figures["mql_to_sql"].values == (0.4, 0.4)
    assert figures["mql_to_sql"].inside
    assert "months 1-3" in figures["lead_to_mql"].note
    wins = figures["month_1_wins"]
    assert (wins.low, wins.high) == pytest.approx((1.9, 9.1))
    assert wins.values == (20.0, 5.0)
    assert wins.verdict == "above"  # mean 12.5
    assert figures["month_1_new_arr"].high == pytest.approx(9100.0)


def test_short_horizon_has_no_waterfall_figures() -> None:
    results = Results(scenario=small(months=6), seed=0, requested=1)
    results.months = [f"2027-{m + 1:02d}" for m in range(6)]
    # a six-month run's mature row is empty: every rate has nothing to divide
    empty = dict.fromkeys(["lead_to_mql", "mql_to_sql", "sql_to_opportunity"], math.nan)
    empty |= {"opportunity_to_win": math.nan, "opportunity_to_win_median_days": math.nan}
    results.replications = [_replication(0, [1.0] * 6, empty)]
    figure = {f.name: f for f in realism_figures(results)}["lead_to_mql"]
    assert figure.verdict == "no data"
    assert figure.words == "no data (needs a horizon over 9 months)"


def _fake_report(*figures: RealismFigure) -> RealismReport:
    return RealismReport("demo", seed=0, replications=2, horizon_months=12, figures=[*figures])


@pytest.mark.parametrize(("outside", "code"), [(False, 0), (True, EXIT_CHECK_FAILED)])
def test_command_exit_status_follows_the_verdicts(
    outside: bool, code: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    figures = [RealismFigure("a", "alpha figure", 0.0, 1.0, "src [R]", (0.4, 0.5))]
    if outside:
        figures.append(RealismFigure("b", "beta figure", 0.0, 1.0, "src [S]", (3.0, 3.1)))
    monkeypatch.setattr(realism, "realism_check", lambda *a, **k: _fake_report(*figures))
    result = CliRunner().invoke(main, ["realism", str(BASE), "--reps", "2", "--months", "3"])
    assert result.exit_code == code, result.output
    assert "alpha figure" in result.output
    assert ("beta figure" in result.output) == outside


def test_command_on_a_short_run_of_the_base(tmp_path: Path) -> None:
    args = ["realism", str(BASE), "--reps", "2", "--months", "12", "--workers", "1"]
    result = CliRunner().invoke(main, args, env={"COLUMNS": "200"})  # one line per figure
    assert result.exit_code in (0, EXIT_CHECK_FAILED), result.output
    assert "Traceback" not in result.output
    for spec in RANGES.values():
        assert spec.label in result.output
    found = re.search(r"base: (\d+) of (\d+) figures inside their range", result.output)
    assert found, result.output
    inside, total = int(found.group(1)), int(found.group(2))
    assert total == len(RANGES)
    assert result.exit_code == (0 if inside == total else EXIT_CHECK_FAILED)
    assert "months 1-3" in result.output  # which cohorts the waterfall figures read


def test_command_bad_scenario_is_one_located_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"extends: {BASE}\ninside_sales:\n  headcount: -3\n")
    result = CliRunner().invoke(main, ["realism", str(bad), "--reps", "2"])
    assert result.exit_code == EXIT_BAD_INPUT
    lines = result.output.strip().splitlines()
    assert len(lines) == 2, result.output
    assert re.fullmatch(r".*bad\.yaml:3: inside_sales\.headcount: .*\(got -3\)", lines[0])
    assert lines[1] == "1 problem(s) found."
    missing = CliRunner().invoke(main, ["realism", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == EXIT_BAD_INPUT
    assert "file not found" in missing.output
    assert "Traceback" not in missing.output


def test_command_rejects_bad_options() -> None:
    for option in (["--reps", "1"], ["--months", "0"], ["--seed", "-1"]):
        result = CliRunner().invoke(main, ["realism", str(BASE), *option])
        assert result.exit_code == EXIT_BAD_INPUT, option
