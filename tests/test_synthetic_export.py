"""The synthetic opportunity export: its layout, what it hides after ``as_of``, and its truth.

Statistical checks compare with the known funnel within 4 binomial/Poisson standard errors.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.calibrate.synthetic_export import (
    OpportunityTruth,
    synthetic_opportunities,
    synthetic_opportunities_with_truth,
    write_synthetic_opportunities,
)

AS_OF = dt.date(2024, 3, 31)
TRUTH = OpportunityTruth()
BASE_COLUMNS = [
    "Opportunity ID",
    "Opportunity Owner",
    "Account Name",
    "Product",
    "Stage",
    "Created Date",
    "Close Date",
    "Amount",
]
STAGE_COLUMNS = [f"Date Entered {s}" for s in TRUTH.stages]


def _dates(column: pd.Series) -> pd.Series:
    return pd.to_datetime(column.replace("", None), format="%m/%d/%Y")


def _binomial_ok(hits: int, n: int, p: float) -> bool:
    se = math.sqrt(p * (1 - p) / n)
    return abs(hits / n - p) <= 4 * se


@pytest.fixture(scope="module")
def drawn() -> tuple[pd.DataFrame, pd.DataFrame]:
    return synthetic_opportunities_with_truth(TRUTH, AS_OF, seed=1)


@pytest.fixture(scope="module")
def export(drawn: tuple[pd.DataFrame, pd.DataFrame]) -> pd.DataFrame:
    return drawn[0]


@pytest.fixture(scope="module")
def hidden(drawn: tuple[pd.DataFrame, pd.DataFrame]) -> pd.DataFrame:
    return drawn[1]


def test_truth_win_probabilities() -> None:
    assert TRUTH.conversion == pytest.approx(0.55 * 0.7 * 0.65 * 0.75)
    assert TRUTH.win_probability(3) == pytest.approx(0.75)
    assert TRUTH.win_probability(1) == pytest.approx(0.7 * 0.65 * 0.75)
    with pytest.raises(IndexError):
        TRUTH.win_probability(4)


def test_truth_rejects_inconsistent_stages() -> None:
    with pytest.raises(ValueError, match="one value per stage"):
        OpportunityTruth(advance=(0.5, 0.5))
    with pytest.raises(ValueError, match="12"):
        OpportunityTruth(seasonality=(1.0, 2.0))


def test_columns(export: pd.DataFrame) -> None:
    assert list(export.columns) == BASE_COLUMNS + STAGE_COLUMNS
    plain = synthetic_opportunities(TRUTH, dt.date(2022, 1, 1), seed=1, stage_dates=False)
    assert list(plain.columns) == BASE_COLUMNS


def test_field_formats(export: pd.DataFrame) -> None:
    assert export["Opportunity ID"].str.fullmatch(r"006\d{12}").all()
    assert export["Opportunity ID"].is_unique
    assert export["Opportunity Owner"].str.fullmatch(r"Rep \d\d").all()
    assert set(export["Opportunity Owner"]) == {f"Rep {i:02d}" for i in range(1, 13)}
    assert export["Account Name"].str.fullmatch(r"Account \d{5}").all()
    assert set(export["Product"]) == set(TRUTH.products)
    assert export["Amount"].str.fullmatch(r"\d+\.\d\d").all()
    assert set(export["Stage"]) <= {*TRUTH.stages, "Closed Won", "Closed Lost"}
    for col in ["Created Date", "Close Date", *STAGE_COLUMNS]:
        filled = export[col][export[col] != ""]
        assert filled.str.fullmatch(r"\d\d/\d\d/\d{4}").all(), col
    assert (export["Created Date"] != "").all()
    assert (export["Close Date"] != "").all()
    assert (export[STAGE_COLUMNS[0]] == export["Created Date"]).all()


def test_accounts_are_about_forty_percent_of_opportunities(export: pd.DataFrame) -> None:
    n = len(export)
    # every opportunity opens a new account with odds 0.4 (the first always does)
    assert _binomial_ok(export["Account Name"].nunique() - 1, n - 1, 0.4)


def test_same_seed_same_frame() -> None:
    a = synthetic_opportunities(TRUTH, dt.date(2022, 6, 30), seed=5)
    b = synthetic_opportunities(TRUTH, dt.date(2022, 6, 30), seed=5)
    c = synthetic_opportunities(TRUTH, dt.date(2022, 6, 30), seed=6)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)


def test_earlier_export_is_an_earlier_view_of_the_same_world(
    drawn: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    export, hidden = drawn
    early, early_hidden = synthetic_opportunities_with_truth(TRUTH, dt.date(2022, 6, 30), seed=1)
    m = len(early)
    assert 0 < m < len(export)
    pd.testing.assert_frame_equal(hidden.iloc[:m], early_hidden)
    fixed = ["Opportunity ID", "Opportunity Owner", "Account Name", "Product", "Amount"]
    pd.testing.assert_frame_equal(export[fixed].iloc[:m], early[fixed])


def test_export_and_truth_align(export: pd.DataFrame, hidden: pd.DataFrame) -> None:
    assert (export["Opportunity ID"].to_numpy() == hidden["id"].to_numpy()).all()
    assert (_dates(export["Created Date"]) == hidden["created"].dt.normalize()).all()
    closed = export["Stage"].isin(["Closed Won", "Closed Lost"]).to_numpy()
    won = hidden["outcome"].to_numpy() == "won"
    assert ((export["Stage"] == "Closed Won").to_numpy() == (closed & won)).all()
    shown = _dates(export["Close Date"])[closed]
    assert (shown == hidden["closed_at"][closed].dt.normalize()).all()
    for k, col in enumerate(STAGE_COLUMNS):
        entered = hidden[f"stage_entered_{k}"]
        seen = entered < pd.Timestamp(AS_OF) + pd.Timedelta(days=1)
        assert ((export[col] != "").to_numpy() == seen.to_numpy()).all()


def test_nothing_after_as_of_is_visible(export: pd.DataFrame, hidden: pd.DataFrame) -> None:
    cutoff = pd.Timestamp(AS_OF)
    for col in ["Created Date", *STAGE_COLUMNS]:
        assert (_dates(export[col]).dropna() <= cutoff).all(), col
    closed = export["Stage"].isin(["Closed Won", "Closed Lost"])
    close = _dates(export["Close Date"])
    assert (close[closed] <= cutoff).all()
    assert (close[~closed] > cutoff).all()
    assert (close[~closed] <= cutoff + pd.Timedelta(days=90)).all()
    # deals closing after as_of are shown open, at the last stage entered by as_of
    late = hidden["closed_at"] >= cutoff + pd.Timedelta(days=1)
    assert (~closed == late).all()
    assert late.sum() > 0
    reached = (export[STAGE_COLUMNS] != "").sum(axis=1)
    current = np.asarray(TRUTH.stages, dtype=object)[reached.to_numpy() - 1]
    assert (export["Stage"][~closed].to_numpy() == current[~closed.to_numpy()]).all()
    # later stages are never filled when an earlier one is empty
    filled = (export[STAGE_COLUMNS] != "").to_numpy()
    assert (filled[:, 1:] <= filled[:, :-1]).all()


def test_opportunities_created_after_as_of_are_left_out(hidden: pd.DataFrame) -> None:
    assert (hidden["created"] < pd.Timestamp(AS_OF) + pd.Timedelta(days=1)).all()
    assert (hidden["created"] >= pd.Timestamp(TRUTH.start)).all()


def test_open_deals_expected_close_is_not_the_true_close(
    export: pd.DataFrame, hidden: pd.DataFrame
) -> None:
    open_ = ~export["Stage"].isin(["Closed Won", "Closed Lost"])
    shown = _dates(export["Close Date"])[open_]
    true = hidden["closed_at"][open_].dt.normalize()
    n = int(open_.sum())
    # independent of the truth, a match has odds at most 1/86 (one of 86 possible days)
    bound = n / 86
    assert (shown == true).sum() <= bound + 4 * math.sqrt(bound) + 1


def test_creation_count_is_poisson(hidden: pd.DataFrame) -> None:
    days = (AS_OF - TRUTH.start).days + 1
    expected = sum(TRUTH.daily_rate(d) for d in range(days))
    month = TRUTH.monthly_opportunities
    assert expected > month * 36  # the growth adds to three years of base volume
    assert abs(len(hidden) - expected) <= 4 * math.sqrt(expected)


def test_seasonality_shapes_creations() -> None:
    season = (2.0,) + (1.0,) * 11
    truth = replace(TRUTH, seasonality=season, growth_per_month=0.0)
    as_of = dt.date(2023, 12, 31)
    _, hidden = synthetic_opportunities_with_truth(truth, as_of, seed=2)
    days = pd.date_range(truth.start, as_of, freq="D")
    rates = np.array([truth.daily_rate(d) for d in range(len(days))])
    for month in (1, 7):
        expected = rates[days.month == month].sum()
        seen = int((hidden["created"].dt.month == month).sum())
        assert abs(seen - expected) <= 4 * math.sqrt(expected), month
    assert (hidden["created"].dt.month == 1).sum() > 1.6 * (hidden["created"].dt.month == 7).sum()


def test_conversion_of_old_deals(export: pd.DataFrame) -> None:
    old = _dates(export["Created Date"]) < pd.Timestamp(AS_OF) - pd.Timedelta(days=365)
    stage = export["Stage"][old]
    closed = stage.isin(["Closed Won", "Closed Lost"])
    assert closed.mean() > 0.999
    n = int(closed.sum())
    assert n > 5000
    assert _binomial_ok(int((stage == "Closed Won").sum()), n, TRUTH.conversion)


def test_win_probability_by_stage_entered(export: pd.DataFrame, hidden: pd.DataFrame) -> None:
    old = _dates(export["Created Date"]) < pd.Timestamp(AS_OF) - pd.Timedelta(days=365)
    closed = export["Stage"].isin(["Closed Won", "Closed Lost"])
    won = export["Stage"] == "Closed Won"
    for k, col in enumerate(STAGE_COLUMNS):
        p = TRUTH.win_probability(k)
        entered = old & closed & (export[col] != "")
        assert _binomial_ok(int((won & entered).sum()), int(entered.sum()), p), col
        # the truth over every deal, its outcome even when after as_of
        true_entered = hidden[f"stage_entered_{k}"].notna()
        true_won = hidden["outcome"] == "won"
        assert _binomial_ok(int((true_won & true_entered).sum()), int(true_entered.sum()), p)
    assert (hidden["last_stage_index"][hidden["outcome"] == "won"] == len(STAGE_COLUMNS) - 1).all()


def test_time_in_stage_is_lognormal(hidden: pd.DataFrame) -> None:
    # forward moves out of the stages before the last (the last one's wins may be pushed)
    for k in range(len(TRUTH.stages) - 1):
        days = (
            hidden[f"stage_entered_{k + 1}"] - hidden[f"stage_entered_{k}"]
        ).dropna().dt.total_seconds() / 86400
        logs = np.log(days.to_numpy())
        se = TRUTH.stage_sigma / math.sqrt(len(logs))
        assert abs(logs.mean() - math.log(TRUTH.stage_median_days[k])) <= 4 * se, k


def test_amounts_by_product(export: pd.DataFrame) -> None:
    amount = export["Amount"].astype(float)
    n = len(export)
    for name, (share, median, sd) in TRUTH.products.items():
        mine = export["Product"] == name
        assert _binomial_ok(int(mine.sum()), n, share), name
        logs = np.log(amount[mine].to_numpy())
        assert abs(logs.mean() - math.log(median)) <= 4 * sd / math.sqrt(len(logs)), name


def _wins_by_month_of_quarter(truth: OpportunityTruth, seed: int) -> np.ndarray:
    """Visible wins per month of quarter (1st, 2nd, 3rd), complete quarters 2021Q2-2023Q4."""
    export = synthetic_opportunities(truth, dt.date(2023, 12, 31), seed=seed, stage_dates=False)
    close = _dates(export["Close Date"][export["Stage"] == "Closed Won"])
    close = close[close >= pd.Timestamp(2021, 4, 1)]  # the first quarter is still filling up
    return np.bincount((close.dt.month.to_numpy() - 1) % 3, minlength=3)


def test_wins_crowd_into_the_quarter_end() -> None:
    first, _, third = _wins_by_month_of_quarter(TRUTH, seed=3)
    assert third - first > 4 * math.sqrt(first + third)
    assert third > 2 * first


def test_no_push_no_quarter_end_pattern() -> None:
    # no growth either, so that the 3rd month is not larger just for coming later
    truth = replace(TRUTH, quarter_end_push=0.0, growth_per_month=0.0)
    first, _, third = _wins_by_month_of_quarter(truth, seed=3)
    assert abs(third - first) <= 4 * math.sqrt(first + third)
    _, hidden = synthetic_opportunities_with_truth(truth, dt.date(2022, 1, 1), seed=3)
    assert not hidden["pushed"].any()


def test_losses_are_not_pushed(hidden: pd.DataFrame) -> None:
    assert not hidden["pushed"][hidden["outcome"] == "lost"].any()
    pushed = hidden["closed_at"][hidden["pushed"]]
    assert len(pushed) > 0
    assert ((pushed.dt.month - 1) % 3 == 2).all()
    quarter_end = pushed.dt.to_period("Q").dt.end_time
    assert ((quarter_end - pushed) < pd.Timedelta(days=15)).all()


def test_before_start_is_empty() -> None:
    export, hidden = synthetic_opportunities_with_truth(TRUTH, dt.date(2020, 6, 30))
    assert list(export.columns) == BASE_COLUMNS + STAGE_COLUMNS
    assert export.empty
    assert hidden.empty


def test_write_csv(tmp_path: Path) -> None:
    as_of = dt.date(2021, 9, 30)
    path = write_synthetic_opportunities(tmp_path / "opps.csv", TRUTH, as_of, seed=4)
    assert path == tmp_path / "opps.csv"
    back = pd.read_csv(path, dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(back, synthetic_opportunities(TRUTH, as_of, seed=4))
    assert path.read_text(encoding="utf-8").splitlines()[0].startswith("Opportunity ID,")
