"""Synthetic CRM exports drawn from a known funnel, to check the estimators against the truth.

Leads arrive per channel as a Poisson process (optionally growing); each converts eventually
with its channel's odds, after a log-normal time; optionally through an intermediate stage
(with its own odds, and known losses recorded); deals carry owner ids and a log-normal amount.
Only what an export at ``as_of`` would show is written: wins after it are unknown, and wins
before ``deals_from`` are missing from the deals file.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sim.scenario.schema import DAYS_PER_MONTH


@dataclass(frozen=True)
class Truth:
    """The funnel that :func:`synthetic_crm` draws from.

    Attributes
    ----------
    monthly_leads
        Channel -> expected leads per 30.44-day month at the start.
    conversion
        Channel -> eventual conversion (to the stage if there is one, else to the win).
    median_days, sigma
        Log-normal time of each step: median in days and log-scale sd.
    growth_per_month
        Compound growth of every channel's volume.
    seasonality
        Volume multiplier per calendar month (January first), or None.
    stage_conversion
        Conversion from the intermediate stage to the win; None: no stage recorded.
    lost_share
        Share of the leads that never convert (or fail the stage) whose loss is recorded.
    amount_mean, amount_sd
        Log-normal deal amount (annual); None: no amounts.
    reps
        (inside-sales, field-sales) reps, assigned at random.
    """

    monthly_leads: dict[str, float] = field(default_factory=lambda: {"web": 400.0, "events": 150.0})
    conversion: dict[str, float] = field(default_factory=lambda: {"web": 0.12, "events": 0.25})
    median_days: float = 20.0
    sigma: float = 1.0
    growth_per_month: float = 0.0
    seasonality: tuple[float, ...] | None = None
    stage_conversion: float | None = None
    lost_share: float = 0.0
    amount_mean: float | None = None
    amount_sd: float = 0.0
    reps: tuple[int, int] = (6, 4)


def synthetic_crm(
    truth: Truth,
    start: dt.date,
    months: int,
    seed: int = 0,
    as_of: dt.date | None = None,
    deals_from: dt.date | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Leads and deals tables as a CRM would export them.

    Parameters
    ----------
    truth
        The funnel.
    start, months
        Leads are created from ``start`` for ``months`` calendar months.
    seed
        Seed of the draws.
    as_of
        Export date (default: the end of the last month); later events are not exported.
    deals_from
        Wins before this date are missing from the deals file.

    Returns
    -------
    tuple of DataFrame
        Leads (lead_id, created, channel) and deals (lead_id, won_date, sdr_id, ae_id, and
        amount, stage_date, outcome when the truth has them), dates as ISO text.
    """
    rng = np.random.default_rng(seed)
    t0 = pd.Timestamp(start)
    periods = pd.period_range(t0.to_period("M"), periods=months, freq="M")
    rows = []
    for k, period in enumerate(periods):
        begin = period.start_time
        days = period.days_in_month
        season = 1.0 if truth.seasonality is None else truth.seasonality[period.month - 1]
        for channel, level in truth.monthly_leads.items():
            mean = level * (1 + truth.growth_per_month) ** k * season * days / DAYS_PER_MONTH
            n = int(rng.poisson(mean))
            offsets = np.sort(rng.uniform(0, days, n))
            rows += [(begin + pd.Timedelta(days=float(x)), channel) for x in offsets]
    leads = pd.DataFrame(rows, columns=["created", "channel"])
    n = len(leads)
    leads["lead_id"] = [f"L{i:06d}" for i in range(n)]
    end = pd.Timestamp(as_of) if as_of is not None else (periods[-1] + 1).start_time
    p = leads["channel"].map(truth.conversion).to_numpy(dtype=float)
    mu = math.log(truth.median_days)
    converts = rng.random(n) < p
    first = pd.to_timedelta(rng.lognormal(mu, truth.sigma, n), unit="D")
    reached = leads["created"] + first
    deals = pd.DataFrame({"lead_id": leads["lead_id"]})
    if truth.stage_conversion is not None:
        wins = converts & (rng.random(n) < truth.stage_conversion)
        second = pd.to_timedelta(rng.lognormal(mu, truth.sigma, n), unit="D")
        won = reached + second
        stage_seen = converts & (reached <= end).to_numpy()
        deals["stage_date"] = reached.where(stage_seen)
        failed_at = reached.where(converts, leads["created"])
    else:
        wins = converts
        won = reached
        failed_at = leads["created"]
    won_seen = wins & (won <= end).to_numpy()
    if deals_from is not None:
        won_seen &= (won >= pd.Timestamp(deals_from)).to_numpy()
    deals["won_date"] = won.where(won_seen)
    lost = ~wins & (rng.random(n) < truth.lost_share)
    lost_at = failed_at + pd.to_timedelta(rng.exponential(10.0, n), unit="D")
    lost_seen = lost & (lost_at <= end).to_numpy()
    deals["sdr_id"] = [f"sdr{i}" for i in rng.integers(0, truth.reps[0], n)]
    deals["ae_id"] = [f"ae{i}" for i in rng.integers(0, truth.reps[1], n)]
    if truth.amount_mean is not None:
        sigma2 = math.log1p((truth.amount_sd / truth.amount_mean) ** 2)
        amount = rng.lognormal(math.log(truth.amount_mean) - sigma2 / 2, math.sqrt(sigma2), n)
        deals["amount"] = np.round(amount, 2)
    keep = won_seen
    if truth.stage_conversion is not None or truth.lost_share > 0:
        deals["outcome"] = np.where(won_seen, "won", np.where(lost_seen, "lost", "open"))
        keep = keep | lost_seen
        if "stage_date" in deals:
            keep = keep | deals["stage_date"].notna().to_numpy()
    deals = deals[keep].reset_index(drop=True)
    for col in ("won_date", "stage_date"):
        if col in deals:
            deals[col] = deals[col].dt.strftime("%Y-%m-%d %H:%M").fillna("")
    leads["created"] = leads["created"].dt.strftime("%Y-%m-%d %H:%M")
    leads = leads[leads["created"] < end.strftime("%Y-%m-%d %H:%M")]
    return leads[["lead_id", "created", "channel"]], deals
