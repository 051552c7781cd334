"""Differences said in words: distinguishable from zero or not, and how many pairs would tell."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy import stats

from sim.analysis.plots import paired_differences
from sim.cli.experiment import compare_command
from sim.stats import MOST_PAIRS, pairs_to_settle, settled, verdict
from tests.helpers import BASE


def test_an_interval_that_leaves_out_zero_is_a_finding() -> None:
    assert settled(0.5, 2.0)
    assert settled(-3.0, -0.1)
    assert not settled(-0.1, 2.0)
    assert not settled(math.nan, 1.0)
    assert verdict(1.2, 0.5, 2.0, 8).startswith("distinguishable from zero at 8 pairs")
    words = verdict(1.0, -0.2, 2.2, 8, sd=1.7)
    assert words.startswith("not distinguishable from zero at 8 pairs; about ")
    assert "give no interval" in verdict(1.0, math.nan, math.nan, 1)
    assert f"more than {MOST_PAIRS:,} pairs" in verdict(1e-6, -1.0, 1.0, 10, sd=1.0)
    assert verdict(0.0, 0.0, 0.0, 10, sd=0.0) == "no difference in any of the 10 pairs"
    assert "too small to matter" in verdict(0.0, -1.0, 1.0, 10, sd=1.0)


@pytest.mark.parametrize(("mean", "sd"), [(1.0, 3.0), (-0.2, 1.5), (5.0, 40.0)])
def test_the_pairs_that_settle_a_difference_shrink_its_interval_past_zero(
    mean: float, sd: float
) -> None:
    # with the measured mean and spread, n pairs give a 95% half-width of t sd / sqrt(n):
    # the count said is the first at which that no longer reaches zero
    n = pairs_to_settle(mean, sd)

    def half(k: float) -> float:
        return float(stats.t.ppf(0.975, k - 1) * sd / math.sqrt(k))

    assert half(n) <= abs(mean) < half(n - 1)


def test_the_count_is_right_on_simulated_pairs() -> None:
    # pairs drawn with mean 1 and sd 3: at the count said from a pilot of 10, the interval
    # leaves out zero about as often as a test with 50% power (the pilot's own noise aside)
    rng = np.random.default_rng(7)
    n = int(pairs_to_settle(1.0, 3.0))
    found = 0
    for _ in range(400):
        d = rng.normal(1.0, 3.0, n)
        width = stats.t.ppf(0.975, n - 1) * d.std(ddof=1) / math.sqrt(n)
        found += settled(d.mean() - width, d.mean() + width)
    assert 0.4 < found / 400 < 0.6


def test_paired_differences_carry_their_verdict() -> None:
    base = pd.DataFrame({"replication": range(6), "wins": [10.0, 12, 11, 9, 10, 13]})
    up = base.assign(wins=base["wins"] + [3.0, 4, 3, 5, 4, 3])
    same = base.assign(wins=base["wins"] + [1.0, -1, 0, 1, -1, 0])
    table = paired_differences(base, {"up": up, "same": same}, ["wins"]).set_index("scenario")
    assert table.loc["up", "verdict"].startswith("distinguishable from zero at 6 pairs")
    assert table.loc["same", "verdict"].startswith("not distinguishable from zero at 6 pairs")


def test_compare_prints_the_verdict_of_each_difference(tmp_path: Path) -> None:
    many = tmp_path / "many_sdrs.yaml"
    many.write_text(f"extends: {BASE}\nname: many_sdrs\ninside_sales:\n  headcount: 10\n")
    args = [str(BASE), str(BASE), str(many), "--reps", "3", "--set", "horizon_months=2"]
    args += ["--executor", "serial", "--kpi", "sqls", "--kpi", "ending_arr"]
    result = CliRunner().invoke(compare_command, args, terminal_width=200)
    assert result.exit_code == 0, result.output
    # the base against itself: nothing to find; ten SDRs instead of three: more SQLs in the
    # first months, but too few of them close within them to tell ARR apart on 3 pairs
    out = result.output
    assert "sqls, base#2 - base: no difference in any of the 3 pairs" in out
    assert "sqls, many_sdrs - base: distinguishable from zero at 3 pairs" in out
    assert "ending_arr, many_sdrs - base: not distinguishable from zero at 3 pairs; about " in out


def test_a_narrow_terminal_wraps_numbers_rather_than_cutting_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    args = [str(BASE), str(BASE), "--reps", "2", "--set", "horizon_months=1"]
    result = CliRunner().invoke(compare_command, [*args, "--executor", "serial"])
    assert result.exit_code == 0, result.output
    assert "…" not in result.output
    assert max(len(line) for line in result.output.splitlines() if "│" in line) <= 60
