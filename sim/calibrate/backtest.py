"""Back-testing a calibration: fit on the past before a cutoff, forecast the months after it.

The scenario fitted on what was known before the cutoff is simulated over the following
months and its monthly wins (and bookings, when deals have amounts) are compared with what
happened: the mean absolute percentage error of the mean forecast, and how often the actual
month falls inside the P10-P90 band. Arrivals after the cutoff are either the leads actually
created then (``observed``: a test of the funnel alone) or the fitted volumes (``fitted``: a
test of the whole forecast).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import time
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from sim.calibrate.columns import CrmData
from sim.calibrate.fit import Calibration, ChannelFit, Volume, calibrate
from sim.calibrate.report import CrmError
from sim.calibrate.survival import Interval
from sim.calibrate.writer import pipeline_channel, scenario_of, scenario_yaml
from sim.errors import Problem
from sim.experiment.runner import run
from sim.scenario.schema import add_months

Arrivals = Literal["observed", "fitted"]
ARRIVALS: tuple[Arrivals, ...] = ("observed", "fitted")
METRICS = ("wins", "wins_from_pipeline", "wins_from_new_leads", "bookings")
"""Compared per month: all wins; wins of leads created before / after the cutoff; new ARR."""


@dataclass(frozen=True)
class Backtest:
    """A back-test: the forecast bands against what happened, month by month.

    Attributes
    ----------
    table
        One row per metric and month: actual, mean, p10, p50, p90, inside (p10 <= actual <=
        p90). Bookings appear only when the deals have amounts.
    mape
        Per metric: mean over months of ``|mean - actual| / actual`` (months with an actual
        of 0 are skipped; NaN if all are).
    coverage
        Per metric: share of months whose actual is inside the P10-P90 band.
    calibration
        The fit on the data before the cutoff.
    scenario_text
        The scenario simulated, as YAML.
    """

    arrivals: Arrivals
    cutoff: dt.date
    horizon_months: int
    replications: int
    seed: int
    table: pd.DataFrame
    mape: dict[str, float]
    coverage: dict[str, float]
    calibration: Calibration
    scenario_text: str
    seconds: float


def backtest(
    data: CrmData,
    cutoff: dt.date,
    horizon_months: int = 3,
    arrivals: Arrivals = "observed",
    replications: int = 100,
    seed: int = 0,
    workers: int | None = 1,
    trend_months: int = 6,
    min_channel_wins: int = 10,
) -> Backtest:
    """Fit on the data before ``cutoff``, simulate the next months, compare with the actuals.

    Parameters
    ----------
    data
        All the data (from :func:`~sim.calibrate.columns.read_crm`); it is cut here.
    cutoff
        First day of a month: the first forecast month.
    horizon_months
        Months forecast and compared.
    arrivals
        ``observed``: replay the leads actually created in each month after the cutoff
        (exact counts); ``fitted``: the volumes fitted before the cutoff (Poisson).
    replications, seed, workers
        As for :func:`sim.run`.
    trend_months, min_channel_wins
        As for :func:`~sim.calibrate.fit.calibrate`.

    Returns
    -------
    Backtest

    Raises
    ------
    CrmError
        If the cutoff is not the first of a month, leaves no win before it, or the data does
        not cover the months to compare.
    """
    started = time.perf_counter()
    end = add_months(cutoff, horizon_months)
    _check_window(data, cutoff, end, arrivals)
    cal = calibrate(
        data.cut(cutoff),
        name=f"backtest_{cutoff:%Y_%m}_{arrivals}",
        start=cutoff,
        horizon_months=horizon_months,
        trend_months=trend_months,
        min_channel_wins=min_channel_wins,
        seed=seed,
    )
    if arrivals == "observed":
        cal = _replay(cal, data, cutoff, horizon_months)
    scenario = scenario_of(cal)
    results = run(
        scenario, replications=replications, seed=seed, workers=workers, keep_ledgers=True
    ).whole()
    months = [f"{add_months(cutoff, m):%Y-%m}" for m in range(horizon_months)]
    pipeline = {"starting_book", pipeline_channel(cal)}
    simulated = _simulated(results.replications, scenario.start_date, months, pipeline)
    actual = _actuals(data, cutoff, months)
    metrics = [m for m in METRICS if m != "bookings" or data.has_amounts]
    rows = []
    for metric in metrics:
        sims = simulated[metric]
        for k, month in enumerate(months):
            col = sims[:, k]
            p10, p50, p90 = np.percentile(col, [10, 50, 90])
            a = actual[metric][k]
            rows.append(
                {
                    "metric": metric,
                    "month": month,
                    "actual": a,
                    "mean": float(col.mean()),
                    "p10": float(p10),
                    "p50": float(p50),
                    "p90": float(p90),
                    "inside": bool(p10 <= a <= p90),
                }
            )
    table = pd.DataFrame(rows)
    mape, coverage = {}, {}
    for metric in metrics:
        part = table[table["metric"] == metric]
        scored = part[part["actual"] > 0]
        errors = (scored["mean"] - scored["actual"]).abs() / scored["actual"]
        mape[metric] = float(errors.mean()) if len(scored) else math.nan
        coverage[metric] = float(part["inside"].mean())
    return Backtest(
        arrivals=arrivals,
        cutoff=cutoff,
        horizon_months=horizon_months,
        replications=replications,
        seed=seed,
        table=table,
        mape=mape,
        coverage=coverage,
        calibration=cal,
        scenario_text=scenario_yaml(cal),
        seconds=time.perf_counter() - started,
    )


def _check_window(data: CrmData, cutoff: dt.date, end: dt.date, arrivals: Arrivals) -> None:
    problems = []
    if cutoff.day != 1:
        problems.append(Problem("must be the first day of a month", "cutoff", value=cutoff))
    elif data.leads["won"].lt(pd.Timestamp(cutoff)).sum() == 0:
        problems.append(
            Problem(
                f"no won deal before it (the first is on {data.leads['won'].min():%Y-%m-%d}): "
                "nothing to fit",
                "cutoff",
                value=str(cutoff),
            )
        )
    last_day = pd.Timestamp(end) - pd.Timedelta(days=1)
    if data.as_of < last_day:
        problems.append(
            Problem(
                f"the deals run to {data.as_of:%Y-%m-%d}, before the end of the compared months "
                f"({last_day:%Y-%m-%d}); shorten the horizon or move the cutoff",
                "horizon_months",
            )
        )
    if arrivals == "observed" and data.leads_to < last_day:
        problems.append(
            Problem(
                f"the leads run to {data.leads_to:%Y-%m-%d}: observed arrivals need leads up to "
                f"{last_day:%Y-%m-%d}; use fitted arrivals, or shorten the horizon",
                "arrivals",
            )
        )
    if problems:
        raise CrmError(problems)


def _replay(cal: Calibration, data: CrmData, cutoff: dt.date, horizon: int) -> Calibration:
    """The calibration with each channel's volume replaced by the leads actually created."""
    leads = data.leads
    start = pd.Timestamp(cutoff)
    created = leads["created"]
    index = (created.dt.year - start.year) * 12 + (created.dt.month - start.month)
    inside = (created >= start) & (index < horizon)
    counts = pd.crosstab(leads.loc[inside, "channel"], index[inside])
    counts = counts.reindex(columns=range(horizon), fill_value=0)
    replays = {str(name): tuple(int(c) for c in row) for name, row in counts.iterrows()}
    channels = [
        dataclasses.replace(ch, replay=replays.get(ch.name, (0,) * horizon)) for ch in cal.channels
    ]
    known = {c.name for c in cal.channels}
    for name, replay in replays.items():
        if name in known:
            continue
        cal.report.note(
            f"channel {name!r} first appears after the cutoff: its leads get the pooled conversion"
        )
        empty = Volume(Interval(0.0, 0.0, 0.0), None, False, (), (), 1.0)
        channels.append(
            ChannelFit(
                name=str(name),
                leads=0,
                wins=0,
                volume=empty,
                conversion=cal.pooled,
                conversion_source="the pooled fit (a channel new after the cutoff)",
                replay=replay,
            )
        )
    return dataclasses.replace(cal, channels=tuple(channels))


def _simulated(
    replications: list[Any], start: dt.date, months: list[str], pipeline: set[str | None]
) -> dict[str, np.ndarray[Any, Any]]:
    """Per metric, a replications x months array; ``pipeline`` names the channels (and the
    starting book) that carry the leads open at the cutoff."""
    n = len(months)
    out = {m: np.zeros((len(replications), n)) for m in METRICS}
    edges = _month_edges(start, n)
    for r, rep in enumerate(replications):
        ledger = rep.ledger
        out["wins"][r] = ledger.flows["wins"]
        out["bookings"][r] = ledger.flows["new_arr"]
        won_at = ledger.leads["won_at"]
        won = np.isfinite(won_at)
        carriers = [i for i, name in enumerate(ledger.channels) if name in pipeline]
        from_book = np.isin(ledger.leads["channel"], carriers)
        month = np.searchsorted(edges, won_at, side="right") - 1
        for key, mask in (
            ("wins_from_pipeline", won & from_book),
            ("wins_from_new_leads", won & ~from_book),
        ):
            out[key][r] = np.bincount(month[mask], minlength=n)[:n]
    return out


def _month_edges(start: dt.date, n: int) -> np.ndarray[Any, Any]:
    return np.array([(add_months(start, m) - start).days for m in range(n + 1)], dtype=float)


def _actuals(data: CrmData, cutoff: dt.date, months: list[str]) -> dict[str, list[float]]:
    leads = data.leads
    won = leads[leads["won"].notna()]
    month = won["won"].dt.strftime("%Y-%m")
    before = won["created"] < pd.Timestamp(cutoff)
    out: dict[str, list[float]] = {}
    for key, mask in (
        ("wins", np.ones(len(won), dtype=bool)),
        ("wins_from_pipeline", before.to_numpy()),
        ("wins_from_new_leads", ~before.to_numpy()),
    ):
        counts = month[mask].value_counts()
        out[key] = [float(counts.get(m, 0)) for m in months]
    amounts = won.groupby(month)["amount"].sum(min_count=1)
    out["bookings"] = [float(amounts.get(m, 0.0)) for m in months]
    return out
