"""Synthetic Salesforce-style opportunity export drawn from a known funnel.

Opportunities are created as a Poisson process (compound growth, optional seasonality) and
all start in the first open stage. From open stage ``k`` a deal moves forward with odds
``advance[k]`` (from the last stage: Closed Won), otherwise it is Closed Lost from stage ``k``,
after a log-normal time in the stage. Wins landing in the first two months of a calendar
quarter are pushed, with some probability, into the last 15 days of that quarter. Every deal
carries a product, a log-normal amount, an owner and an account.

:func:`synthetic_opportunities` returns only what a report export taken at ``as_of`` would
show (one row per opportunity, dates as ``MM/DD/YYYY`` text); :func:`synthetic_opportunities_
with_truth` also returns the hidden truth, row by row, to check readers and estimators
against.

The export date ``as_of`` is a whole day: an event on ``as_of`` is visible, one after it is
not. Every random quantity is drawn per opportunity from its own stream, in creation order,
so that for one seed an export at an earlier ``as_of`` is an earlier view of the same world
(the same opportunities with the same fates), which is what a back-test needs.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from sim.scenario.schema import DAYS_PER_MONTH

__all__ = [
    "OpportunityTruth",
    "synthetic_opportunities",
    "synthetic_opportunities_with_truth",
    "write_synthetic_opportunities",
]

WON = "Closed Won"
LOST = "Closed Lost"
DATE_FORMAT = "%m/%d/%Y"
EXPECTED_CLOSE_DAYS = (5, 90)
"""Open deals' expected Close Date: ``as_of`` plus a uniform whole number of days in this range."""
PUSH_WINDOW_DAYS = 15.0
NEW_ACCOUNT_SHARE = 0.4

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


def _default_products() -> dict[str, tuple[float, float, float]]:
    return {"Core": (0.7, 20000.0, 0.5), "Plus": (0.3, 60000.0, 0.4)}


@dataclass(frozen=True)
class OpportunityTruth:
    """The funnel that :func:`synthetic_opportunities` draws from.

    Attributes
    ----------
    start
        First creation date.
    monthly_opportunities
        Expected creations per 30.44-day month at ``start``.
    growth_per_month
        Compound growth of the creation rate per 30.44-day month.
    seasonality
        Twelve multipliers of the creation rate by calendar month (January first), or None.
    stages
        Open stages in order; every opportunity is created in the first.
    advance
        Per stage, the odds of leaving it forward (from the last stage: to Closed Won);
        otherwise the deal is Closed Lost from that stage.
    stage_median_days, stage_sigma
        Time spent in each stage before leaving it (either way): log-normal with this median
        in days and this log-scale sd.
    quarter_end_push
        Probability that a win dated in the first two months of a calendar quarter is moved
        to a uniform time in the last 15 days of that quarter (losses are not moved).
    products
        Product -> (share of opportunities, median amount, log-sd of amount); amounts are
        log-normal and drawn for every deal. Shares are normalised to sum to one.
    owners
        Number of owners ("Rep 01", ...), assigned uniformly.
    """

    start: dt.date = dt.date(2021, 1, 1)
    monthly_opportunities: float = 250.0
    growth_per_month: float = 0.01
    seasonality: tuple[float, ...] | None = None
    stages: tuple[str, ...] = ("Qualification", "Needs Analysis", "Proposal", "Negotiation")
    advance: tuple[float, ...] = (0.55, 0.7, 0.65, 0.75)
    stage_median_days: tuple[float, ...] = (12.0, 15.0, 20.0, 10.0)
    stage_sigma: float = 0.7
    quarter_end_push: float = 0.5
    products: dict[str, tuple[float, float, float]] = field(default_factory=_default_products)
    owners: int = 12

    def __post_init__(self) -> None:
        k = len(self.stages)
        if k == 0:
            raise ValueError("at least one open stage is needed")
        if len(set(self.stages)) != k or {WON, LOST} & set(self.stages):
            raise ValueError(f"stage names must be distinct and not {WON!r}/{LOST!r}")
        if len(self.advance) != k or len(self.stage_median_days) != k:
            raise ValueError("advance and stage_median_days need one value per stage")
        if not all(0.0 <= p <= 1.0 for p in self.advance):
            raise ValueError("advance odds must lie in [0, 1]")
        if not all(m > 0 for m in self.stage_median_days):
            raise ValueError("stage medians must be positive")
        if self.stage_sigma < 0:
            raise ValueError("stage_sigma must be non-negative")
        if self.monthly_opportunities < 0 or self.growth_per_month <= -1:
            raise ValueError("monthly_opportunities >= 0 and growth_per_month > -1 are needed")
        if self.seasonality is not None and (
            len(self.seasonality) != 12 or any(s < 0 for s in self.seasonality)
        ):
            raise ValueError("seasonality needs 12 non-negative multipliers")
        if not 0.0 <= self.quarter_end_push <= 1.0:
            raise ValueError("quarter_end_push must lie in [0, 1]")
        if not self.products:
            raise ValueError("at least one product is needed")
        for name, (share, median, sd) in self.products.items():
            if share < 0 or median <= 0 or sd < 0:
                raise ValueError(f"product {name!r}: share >= 0, median > 0, sd >= 0 needed")
        if sum(share for share, _, _ in self.products.values()) <= 0:
            raise ValueError("product shares must not all be zero")
        if self.owners < 1:
            raise ValueError("at least one owner is needed")

    def win_probability(self, stage_index: int) -> float:
        """Probability of an eventual win for a deal that entered stage ``stage_index``.

        Parameters
        ----------
        stage_index
            Index into :attr:`stages`.

        Returns
        -------
        float
            The product of ``advance[stage_index:]``.
        """
        if not 0 <= stage_index < len(self.stages):
            raise IndexError(f"stage index {stage_index} out of range")
        return math.prod(self.advance[stage_index:])

    @property
    def conversion(self) -> float:
        """Probability that a new opportunity is eventually won."""
        return self.win_probability(0)

    def daily_rate(self, day: int) -> float:
        """Expected creations on day ``day`` after :attr:`start` (0 is ``start`` itself).

        The rate is taken constant within a day, at its midpoint.

        Parameters
        ----------
        day
            Whole days after ``start``.

        Returns
        -------
        float
            Expected number of opportunities created that day.
        """
        return float(self._daily_rates(np.array([day], dtype=np.int64))[0])

    def _daily_rates(self, days: IntArray) -> FloatArray:
        growth = (1.0 + self.growth_per_month) ** ((days + 0.5) / DAYS_PER_MONTH)
        rate = self.monthly_opportunities / DAYS_PER_MONTH * growth
        if self.seasonality is not None:
            dates = np.datetime64(self.start, "D") + days
            month = dates.astype("datetime64[M]").astype(np.int64) % 12
            rate = rate * np.asarray(self.seasonality, dtype=float)[month]
        return np.asarray(rate, dtype=np.float64)


@dataclass
class _World:
    """The drawn opportunities, times in float days after ``truth.start``."""

    created: FloatArray
    entered: FloatArray  # (n, stages); NaN where never entered
    closed: FloatArray
    won: BoolArray
    last_stage: IntArray
    pushed: BoolArray
    product: IntArray
    amount: FloatArray
    owner: IntArray
    account: IntArray
    expected_close: IntArray  # whole days after as_of


def _draw(truth: OpportunityTruth, as_of: dt.date, seed: int) -> _World:
    n_days = (as_of - truth.start).days + 1
    rng = np.random.default_rng(seed)
    (
        arrivals,
        times_of_day,
        durations,
        directions,
        pushes,
        products,
        amounts,
        owners,
        accounts,
        expected,
    ) = rng.spawn(10)
    days = np.arange(max(n_days, 0), dtype=np.int64)
    counts = arrivals.poisson(truth._daily_rates(days))
    day_of = np.repeat(days, counts)
    n = len(day_of)
    created = np.sort(day_of + times_of_day.random(n))

    k = len(truth.stages)
    mu = np.log(np.asarray(truth.stage_median_days, dtype=float))
    in_stage = durations.lognormal(mu, truth.stage_sigma, size=(n, k))
    forward = directions.random((n, k)) < np.asarray(truth.advance, dtype=float)
    reached = np.ones((n, k), dtype=bool)
    reached[:, 1:] = np.cumprod(forward[:, :-1], axis=1).astype(bool)
    last_stage = reached.sum(axis=1).astype(np.int64) - 1
    won = reached[:, -1] & forward[:, -1]
    leave = created[:, None] + np.cumsum(in_stage, axis=1)
    entered = np.where(reached, np.column_stack([created, leave[:, :-1]]), np.nan)
    closed = leave[np.arange(n), last_stage]

    push_draw = pushes.random((n, 2))
    start_day = np.datetime64(truth.start, "D")
    close_day = start_day + np.floor(closed).astype(np.int64)
    month = close_day.astype("datetime64[M]")
    month_in_quarter = month.astype(np.int64) % 3
    pushed = won & (month_in_quarter < 2) & (push_draw[:, 0] < truth.quarter_end_push)
    quarter_end = (month - month_in_quarter + 3).astype("datetime64[D]")
    pushed_to = (quarter_end - start_day).astype(np.float64) - PUSH_WINDOW_DAYS * push_draw[:, 1]
    closed = np.where(pushed, pushed_to, closed)

    shares = np.array([share for share, _, _ in truth.products.values()], dtype=float)
    medians = np.array([median for _, median, _ in truth.products.values()], dtype=float)
    sds = np.array([sd for _, _, sd in truth.products.values()], dtype=float)
    cdf = np.cumsum(shares) / shares.sum()
    product = np.minimum(np.searchsorted(cdf, products.random(n), side="right"), len(cdf) - 1)
    amount = np.exp(np.log(medians[product]) + sds[product] * amounts.standard_normal(n))

    owner = owners.integers(0, truth.owners, n)
    # each opportunity opens a new account with odds 0.4, else picks one already seen
    account_draw = accounts.random((n, 2))
    new = account_draw[:, 0] < NEW_ACCOUNT_SHARE
    if n:
        new[0] = True
    seen = np.cumsum(new)
    account = np.where(
        new, seen - 1, np.floor(account_draw[:, 1] * np.maximum(seen, 1)).astype(np.int64)
    )
    low, high = EXPECTED_CLOSE_DAYS
    expected_close = expected.integers(low, high + 1, n)
    return _World(
        created=created,
        entered=entered,
        closed=closed,
        won=won,
        last_stage=last_stage,
        pushed=pushed,
        product=product.astype(np.int64),
        amount=amount,
        owner=owner.astype(np.int64),
        account=account.astype(np.int64),
        expected_close=expected_close.astype(np.int64),
    )


def _timestamps(start: dt.date, days: FloatArray) -> pd.Series:
    """Float days after ``start`` as datetime64 (NaT for NaN)."""
    return pd.Series(pd.Timestamp(start) + pd.to_timedelta(days, unit="D"))


def _prefixed(prefix: str, numbers: IntArray, width: int) -> npt.NDArray[np.object_]:
    return np.array([f"{prefix}{i:0{width}d}" for i in numbers.tolist()], dtype=object)


def synthetic_opportunities_with_truth(
    truth: OpportunityTruth,
    as_of: dt.date,
    seed: int = 0,
    stage_dates: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The export at ``as_of`` and, row by row, the hidden truth behind it.

    Parameters
    ----------
    truth
        The funnel.
    as_of
        Export date (inclusive): opportunities are created from ``truth.start`` through
        ``as_of``; events after ``as_of`` are not shown.
    seed
        Seed of the draws (``numpy.random.default_rng(seed)``).
    stage_dates
        Add a ``Date Entered <stage>`` column per open stage.

    Returns
    -------
    export : DataFrame
        All text: ``Opportunity ID``, ``Opportunity Owner``, ``Account Name``, ``Product``,
        ``Stage``, ``Created Date``, ``Close Date``, ``Amount`` and (``stage_dates``)
        ``Date Entered <stage>``; dates ``MM/DD/YYYY``, empty when not reached by ``as_of``;
        amounts with two decimals. ``Stage`` is the open stage at ``as_of`` or Closed Won /
        Closed Lost. ``Close Date`` is the actual close date of closed deals and, for open
        deals, an expected date drawn independently of the true one (``as_of`` + 5..90 days).
    truth_frame : DataFrame
        One row per exported opportunity, same order: ``id``, ``created``, ``outcome``
        ("won"/"lost", the eventual outcome even if after ``as_of``), ``closed_at`` (true
        close timestamp, possibly after ``as_of``), ``last_stage_index`` (stage it closes
        from), ``pushed`` (win moved to the quarter end) and ``stage_entered_<k>`` per stage
        index ``k`` (true entry timestamp, NaT if never entered).
    """
    w = _draw(truth, as_of, seed)
    n = len(w.created)
    k = len(truth.stages)
    horizon = (as_of - truth.start).days + 1  # visible: days after start < horizon
    high = EXPECTED_CLOSE_DAYS[1]
    table = pd.date_range(truth.start, periods=max(horizon, 0) + high + 1, freq="D")
    date_text = np.append(np.asarray(table.strftime(DATE_FORMAT), dtype=object), "")

    def text(days: FloatArray) -> npt.NDArray[np.object_]:
        index = np.where(np.isnan(days) | (days >= horizon), -1, np.floor(np.nan_to_num(days)))
        return np.asarray(date_text[index.astype(np.int64)], dtype=object)

    visible = w.entered < horizon  # NaN compares False
    closed_seen = w.closed < horizon
    current = np.asarray(truth.stages, dtype=object)[visible.sum(axis=1) - 1]
    stage = np.where(closed_seen, np.where(w.won, WON, LOST), current)
    close_days = np.where(closed_seen, w.closed, horizon - 1 + w.expected_close)
    close_index = np.floor(close_days).astype(np.int64)

    ids = _prefixed("006", np.arange(1, n + 1, dtype=np.int64), 12)
    width = max(2, len(str(truth.owners)))
    export = pd.DataFrame(
        {
            "Opportunity ID": ids,
            "Opportunity Owner": _prefixed("Rep ", w.owner + 1, width),
            "Account Name": _prefixed("Account ", w.account + 1, 5),
            "Product": np.asarray(list(truth.products), dtype=object)[w.product],
            "Stage": stage.astype(object),
            "Created Date": text(w.created),
            "Close Date": np.asarray(date_text[close_index], dtype=object),
            "Amount": np.char.mod("%.2f", w.amount).astype(object),
        }
    )
    if stage_dates:
        for j, name in enumerate(truth.stages):
            export[f"Date Entered {name}"] = text(w.entered[:, j])

    hidden = pd.DataFrame(
        {
            "id": export["Opportunity ID"],
            "created": _timestamps(truth.start, w.created),
            "outcome": np.where(w.won, "won", "lost").astype(object),
            "closed_at": _timestamps(truth.start, w.closed),
            "last_stage_index": w.last_stage,
            "pushed": w.pushed,
        }
    )
    for j in range(k):
        hidden[f"stage_entered_{j}"] = _timestamps(truth.start, w.entered[:, j])
    return export, hidden


def synthetic_opportunities(
    truth: OpportunityTruth,
    as_of: dt.date,
    seed: int = 0,
    stage_dates: bool = True,
) -> pd.DataFrame:
    """The opportunity export at ``as_of``, as :func:`synthetic_opportunities_with_truth`.

    Parameters
    ----------
    truth
        The funnel.
    as_of
        Export date (inclusive).
    seed
        Seed of the draws.
    stage_dates
        Add a ``Date Entered <stage>`` column per open stage.

    Returns
    -------
    DataFrame
        The export (all text columns).
    """
    return synthetic_opportunities_with_truth(truth, as_of, seed, stage_dates)[0]


def write_synthetic_opportunities(
    path: str | Path,
    truth: OpportunityTruth,
    as_of: dt.date,
    seed: int = 0,
    stage_dates: bool = True,
) -> Path:
    """Write the export at ``as_of`` as a CSV file (utf-8, header, no index).

    Parameters
    ----------
    path
        File to write.
    truth, as_of, seed, stage_dates
        As :func:`synthetic_opportunities`.

    Returns
    -------
    Path
        The path written.
    """
    out = Path(path)
    synthetic_opportunities(truth, as_of, seed, stage_dates).to_csv(
        out, index=False, encoding="utf-8"
    )
    return out
