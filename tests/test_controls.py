"""Control variates: the teams' capacity from the rosters alone, and the controlled mean."""

from __future__ import annotations

import re

import numpy as np
import pytest
from click.testing import CliRunner

from sim import simulate
from sim.cli import main
from sim.engine.streams import replication_seed
from sim.engine.world import roster_days
from sim.experiment.bench import PairingResult, pairing
from sim.experiment.controls import CONTROL_OFFSET, controlled_difference, controls
from sim.stats import control_variates
from tests.helpers import SCENARIOS, small


@pytest.mark.parametrize(
    ("name", "sets"),
    [
        ("base.yaml", ["inside_sales.headcount=5"]),
        ("the_model.yaml", []),  # AE teams, a tech-touch pool
        ("outbound.yaml", []),  # BDRs
        ("retention.yaml", ["customer_success.headcount=2"]),
    ],
)
def test_the_rosters_alone_give_the_full_runs_capacity_bit_for_bit(
    name: str, sets: list[str]
) -> None:
    """A team's people never depend on the leads: the rosters run alone give each team's
    effective person-days of the full replication, exactly, for any seed."""
    sc = small(SCENARIOS / name, months=14, sets=sets)
    for r in (0, 3):
        seed = replication_seed(7, r)
        ledger = simulate(sc, seed)
        alone = roster_days(sc, seed)
        full = {t: float(np.sum(v["effective_days"])) for t, v in ledger.staff.items()}
        assert alone == full
    # and they do vary with the seed (turnover), or there would be nothing to control for
    days = [roster_days(sc, replication_seed(7, r))["inside_sales"] for r in range(6)]
    assert len(set(days)) > 1


def _synthetic(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """y = 17 + 3 (c - 5) + noise, with c ~ N(5, 2): the controls explain 90% of var(y)."""
    c = rng.normal(5.0, 2.0, n)
    return 17.0 + 3.0 * (c - 5.0) + rng.normal(0.0, 2.0, n), c


def test_control_variates_cover_the_mean_at_their_level_and_narrow_the_interval() -> None:
    """Over 2,000 samples of 30, the 95% interval of the controlled mean covers the true
    mean about 95% of the time, the estimate is unbiased, and its variance is what is left
    of var(y) once the control's share is taken out (about a tenth here)."""
    rng = np.random.default_rng(11)
    covered, estimates, widths, plain, r2 = 0, [], [], [], []
    for _ in range(2000):
        y, c = _synthetic(rng, 30)
        fit = control_variates(y, c, [5.0])
        covered += fit.low <= 17.0 <= fit.high
        estimates.append(fit.estimate)
        widths.append(fit.high - fit.low)
        plain.append(y.std(ddof=1))
        r2.append(fit.r2)
    assert 0.935 <= covered / 2000 <= 0.965
    assert 0.88 < np.mean(r2) < 0.92  # 36 of 40: 90%
    assert abs(np.mean(estimates) - 17.0) < 0.03
    # the plain interval is 2 t sd / sqrt(n) wide; var(y) = 36 + 4, noise 4
    assert 0.25 < np.mean(widths) / (2 * 2.045 * np.mean(plain) / np.sqrt(30)) < 0.4


def test_an_estimated_control_mean_widens_the_interval_by_its_own_uncertainty() -> None:
    rng = np.random.default_rng(3)
    y, c = _synthetic(rng, 50)
    exact = control_variates(y, c, [5.0])
    known_roughly = control_variates(y, c, [5.0], [[0.5]])  # the mean's variance: 0.5
    assert known_roughly.estimate == exact.estimate
    assert known_roughly.se**2 == pytest.approx(exact.se**2 + exact.beta[0] ** 2 * 0.5)
    # a constant control says nothing and is left out: the plain mean and its t interval
    flat = control_variates(y, np.full(50, 4.0), [4.0])
    assert flat.estimate == pytest.approx(y.mean())
    assert flat.se == pytest.approx(y.std(ddof=1) / np.sqrt(50))
    # a control given twice counts once
    twice = control_variates(y, np.c_[c, c], [5.0, 5.0])
    assert twice.df == exact.df
    assert twice.estimate == pytest.approx(exact.estimate)
    assert twice.se == pytest.approx(exact.se)
    with pytest.raises(ValueError, match="too few"):
        control_variates(y[:3], np.c_[c[:3], c[:3] ** 2, -c[:3]], [5.0, 29.0, -5.0])


def test_the_controls_means_come_from_replications_no_run_uses() -> None:
    sc = small(months=8)
    found = controls(sc, seed=5, replications=range(8), runs=40)
    assert found.teams == ("inside_sales", "field_sales", "customer_success")
    assert found.values.shape == (8, 3)
    pool = [
        list(roster_days(sc, replication_seed(5, CONTROL_OFFSET + j)).values()) for j in range(40)
    ]
    np.testing.assert_array_equal(found.means, np.mean(pool, axis=0))
    first = roster_days(sc, replication_seed(5, 0))
    np.testing.assert_array_equal(found.values[0], list(first.values()))
    # a variant's team is a control of its own only where its roster differs
    more = controls(sc, 5, range(8), 40, small(months=8, sets=["inside_sales.headcount=5"]))
    assert more.teams == (*found.teams, "inside_sales (variant)")
    np.testing.assert_array_equal(more.values[:, :3], found.values)
    assert (more.values[:, 3] > found.values[:, 0]).all()  # two more seats
    assert more.means_cov.shape == (4, 4)
    assert controls(sc, 5, range(8), 40, sc).teams == found.teams
    # the difference is what is controlled: a variant equal to the base differs by nothing
    same = np.arange(8.0)
    fit = controlled_difference(same, same + 2.0, found)
    assert fit.estimate == pytest.approx(2.0)
    assert fit.se == pytest.approx(0.0, abs=1e-9)


def test_pairing_with_controls_reports_a_second_ratio_and_its_goal() -> None:
    sc = small(months=6)
    more = small(months=6, sets=["inside_sales.headcount=6"])
    rows = pairing(sc, more, pairs=6, workers=1, control_runs=30, resamples=200)
    for row in rows:
        assert np.isfinite(row.controlled_ratio)
        assert row.controlled_low <= row.controlled_high
        assert row.controlled_r2 <= 1.0  # adjusted for the slopes: may be below 0
    wide = {"kpi": "wins", "ratio": 5.0, "low": 3.0, "high": 7.0, "mean_difference": 5.0}
    row = PairingResult(pairs=40, controlled_low=11.0, controlled_high=20.0, **wide)
    assert row.meets_goal is False
    assert row.controlled_meets_goal is True
    assert PairingResult(pairs=40, **wide).controlled_meets_goal is None  # not measured


def test_bench_prints_the_ratio_with_controls() -> None:
    args = ["--pair-with", "inside_sales.headcount=6", "--pairs", "6", "--controls", "20"]
    result = CliRunner().invoke(
        main, ["bench", "--repeats", "1", "--set", "horizon_months=3", "-w", "1", *args]
    )
    assert result.exit_code == 0, result.output
    assert "with controls" in result.output
    assert "20 roster-only runs" in " ".join(result.output.split())
    assert re.search(r"Pairing goal for wins with controls .*: unsettled", result.output)


def test_fewer_pairs_than_the_controls_need_give_no_second_ratio() -> None:
    from sim.experiment.bench import _with_controls
    from sim.experiment.controls import Controls

    rng = np.random.default_rng(1)
    found = Controls(("a", "b", "c"), rng.normal(size=(3, 3)), np.zeros(3), np.eye(3), 10)
    row = PairingResult("wins", 3, 5.0, 3.0, 7.0, 1.0)
    index = rng.integers(0, 3, (20, 3))
    out = _with_controls(row, np.ones(3), np.array([2.0, 3.0, 5.0]), found, index)
    assert out == row
    assert np.isnan(out.controlled_ratio)


def test_compare_gives_the_differences_with_controls_and_saves_them(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """``revloop compare --controls N``: a second table of each difference with the
    baseline's team capacities as control variates, its verdict in words, and
    controlled.csv in the --out folder; the API's Comparison.controlled gives the same."""
    from sim import compare

    a, b = small(months=6), small(months=6, sets=["inside_sales.headcount=6"])
    both = compare([a, b], replications=8, seed=2, workers=1)
    table = both.controlled(["wins", "sqls"], runs=30)
    assert list(table["kpi"]) == ["wins", "sqls"]
    assert (table["cv_low"] <= table["cv_diff"]).all()
    assert (table["cv_diff"] <= table["cv_high"]).all()
    plain = both.summary(["wins"]).iloc[1]
    assert table["diff"].iloc[0] == plain["diff"]
    assert table["verdict"].str.contains("distinguishable from zero at 8 pairs").all()
    assert compare([a, b], replications=3, seed=2, workers=1).controlled(runs=30).empty

    out = tmp_path / "cmp"
    args = ["compare", str(SCENARIOS / "base.yaml"), str(SCENARIOS / "more_sdrs.yaml")]
    args += ["--reps", "8", "--seed", "2", "-w", "1", "--set", "horizon_months=6"]
    args += ["--controls", "30", "--kpi", "wins", "--out", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    flat = " ".join(result.output.split())
    assert "as control variates (means from 30 roster-only runs)" in flat, flat
    assert re.search(r"wins, more_sdrs - base, controlled: (not )?distinguishable", result.output)
    saved = (out / "controlled.csv").read_text().splitlines()
    assert saved[0].startswith("kpi,scenario,n,diff,diff_low,diff_high,cv_diff")
    assert len(saved) == 2
