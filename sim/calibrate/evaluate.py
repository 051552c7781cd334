"""Rolling-origin back-test of the bookings forecast against the naive forecasts.

At every usable cutoff (the first of a month with enough history before it and the compared
months inside the data after it), the data is cut (what was known before the cutoff), the
forecast of :func:`~sim.calibrate.forecast.forecast` is made for the next months, and so are
two naive forecasts a finance analyst would make, each with Poisson bands:

- **trailing mean**: the mean of the latest :data:`TRAILING` complete months, for every month
  ahead;
- **seasonal naive**: the same month one quarter earlier (the within-quarter pattern), or,
  with two years of history, one year earlier.

Each is scored over every (cutoff, month) pair, for counts and for won value: WAPE (sum of
absolute errors over sum of actuals), MAPE, bias (sum of errors over sum of actuals) and the
share of actuals inside the P10-P90 band, with its binomial 95% interval.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pandas as pd
from scipy import stats

from sim.calibrate.columns import CrmData
from sim.calibrate.forecast import forecast
from sim.calibrate.report import CrmError
from sim.errors import Problem

TRAILING = 3
MIN_HISTORY_WINS = 30
"""A cutoff needs at least this many wins before it."""
MIN_HISTORY_MONTHS = 2
"""... and this many complete months of recorded wins (for the naive forecasts)."""
METHODS = ("model", "trailing mean", "seasonal naive")


@dataclass(frozen=True)
class RollingBacktest:
    """Forecasts at every usable cutoff against what happened.

    Attributes
    ----------
    table
        One row per cutoff, month, metric and method: ahead (1 = first month), actual,
        point (the P50), p10, p90, inside.
    scores
        One row per metric and method: pairs, WAPE, MAPE, bias, coverage and its 95% CI.
    cutoffs
        The cutoffs used.
    verdict
        Plain sentences: where the model beats or loses to each naive forecast.
    """

    table: pd.DataFrame
    scores: pd.DataFrame
    cutoffs: tuple[dt.date, ...]
    horizon_months: int
    verdict: tuple[str, ...]
    notes: tuple[str, ...]
    seconds: float


def _months_of(series: pd.Series) -> pd.PeriodIndex:
    return pd.DatetimeIndex(series).to_period("M")


def usable_cutoffs(data: CrmData, horizon_months: int) -> list[dt.date]:
    """First-of-month cutoffs with enough history before them and data after them.

    A compared month must lie within both the deals' and the leads' coverage (after the
    leads end, no new opportunity is recorded, and the data no longer shows a full month);
    near the end of the data a cutoff compares fewer than ``horizon_months`` months.
    """
    won = data.leads["won"].dropna().sort_values()
    if won.empty:
        return []
    first_month = pd.Period(data.deals_from, freq="M")
    if data.deals_from > first_month.to_timestamp():
        first_month += 1
    last_month = _last_month(data)
    out = []
    month = first_month + MIN_HISTORY_MONTHS
    while month <= last_month:
        cutoff = month.to_timestamp()
        if int((won < cutoff).sum()) >= MIN_HISTORY_WINS:
            out.append(cutoff.date())
        month += 1
    return out


def _last_month(data: CrmData) -> pd.Period:
    """The last month wholly inside both the deals' and the leads' coverage."""
    end = min(data.as_of, data.leads_to + pd.Timedelta(days=1) - pd.Timedelta(seconds=1))
    last_month = pd.Period(end, freq="M")
    if end < (last_month + 1).to_timestamp() - pd.Timedelta(seconds=1):
        last_month -= 1
    return last_month


def _poisson_band(mean: float) -> tuple[float, float]:
    return float(stats.poisson.ppf(0.1, mean)), float(stats.poisson.ppf(0.9, mean))


def _value_band(
    count_mean: float, sizes: np.ndarray[Any, Any], rng: np.random.Generator, n: int = 2000
) -> tuple[float, float, float]:
    """Compound Poisson: a Poisson count of deals, each a bootstrap draw of a won size."""
    counts = rng.poisson(count_mean, size=n)
    if len(sizes) == 0:
        return math.nan, math.nan, math.nan
    draws = rng.choice(sizes, size=int(counts.sum()))
    idx = np.repeat(np.arange(n), counts)
    totals = np.bincount(idx, weights=draws, minlength=n)
    p10, p50, p90 = np.percentile(totals, [10, 50, 90])
    return float(p50), float(p10), float(p90)


def rolling_backtest(
    data: CrmData,
    horizon_months: int = 3,
    *,
    cutoffs: list[dt.date] | None = None,
    replications: int = 500,
    resamples: int = 20,
    seed: int = 0,
    progress: Callable[[int, int, dt.date], None] | None = None,
) -> RollingBacktest:
    """Back-test the forecast and the naive forecasts at every usable cutoff.

    Raises
    ------
    CrmError
        If no cutoff is usable.
    """
    started = time.perf_counter()
    chosen = cutoffs if cutoffs is not None else usable_cutoffs(data, horizon_months)
    if not chosen:
        raise CrmError(
            [
                Problem(
                    f"no usable cutoff: a back-test needs {MIN_HISTORY_MONTHS} complete months "
                    f"and {MIN_HISTORY_WINS} wins before a cutoff and {horizon_months} "
                    "month(s) of data after it",
                    "horizon_months",
                )
            ]
        )
    rng = np.random.default_rng(seed)
    won = data.leads[data.leads["won"].notna()]
    won_month = _months_of(won["won"])
    count_by = won_month.value_counts()
    value_by = won.groupby(won_month)["amount"].sum(min_count=1)
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    for i, cutoff in enumerate(chosen):
        if progress is not None:
            progress(i, len(chosen), cutoff)
        cut = data.cut(cutoff)
        months = min(horizon_months, (_last_month(data) - pd.Period(cutoff, freq="M")).n + 1)
        fc = forecast(cut, months, replications=replications, resamples=resamples, seed=seed + i)
        weak = [n.text for n in fc.weak]
        if weak:
            notes.append(f"{cutoff}: " + "; ".join(weak))
        c = pd.Period(cutoff, freq="M")
        history_sizes = cut.leads.loc[cut.leads["won"].notna(), "amount"].dropna().to_numpy()
        for k, month in enumerate(fc.months):
            m = pd.Period(month, freq="M")
            actual = {"wins": float(count_by.get(m, 0)), "won_value": float(value_by.get(m, 0.0))}
            recent = [c - j for j in range(1, TRAILING + 1)]
            trailing = float(np.mean([count_by.get(p, 0) for p in recent]))
            lag = 12 if (c - pd.Period(data.deals_from, freq="M")).n > 24 else 3
            back = m - lag * math.ceil((k + 1) / lag)
            seasonal = float(count_by.get(back, 0))
            t_value = float(np.mean([value_by.get(p, 0.0) or 0.0 for p in recent]))
            s_value = float(value_by.get(back, 0.0) or 0.0)
            for metric in ("wins", "won_value"):
                if metric == "won_value" and not data.has_amounts:
                    continue
                part = fc.table[(fc.table["metric"] == metric) & (fc.table["month"] == month)]
                model = part.iloc[0]
                m_lo, m_hi = float(model["p10"]), float(model["p90"])
                own = fc.draws[metric][:, k]
                entries = [
                    (
                        "model",
                        float(model["p50"]),
                        m_lo,
                        m_hi,
                        float(np.mean((own >= m_lo) & (own <= m_hi))),
                    )
                ]
                for name, count, value in (
                    ("trailing mean", trailing, t_value),
                    ("seasonal naive", seasonal, s_value),
                ):
                    if metric == "wins":
                        lo, hi = _poisson_band(count)
                        held = (
                            float(stats.poisson.cdf(hi, count) - stats.poisson.cdf(lo - 1, count))
                            if count > 0
                            else 1.0
                        )
                        entries.append((name, count, lo, hi, held))
                    else:
                        typical = value / count if count > 0 else 0.0
                        scale = (
                            history_sizes * (typical / history_sizes.mean())
                            if len(history_sizes) and typical > 0
                            else history_sizes
                        )
                        _, lo, hi = _value_band(count, scale, rng)
                        entries.append((name, value, lo, hi, 0.8))
                for name, point, lo, hi, nominal in entries:
                    a = actual[metric]
                    rows.append(
                        {
                            "cutoff": cutoff,
                            "month": month,
                            "ahead": k + 1,
                            "metric": metric,
                            "method": name,
                            "actual": a,
                            "point": point,
                            "p10": lo,
                            "p90": hi,
                            "inside": bool(lo <= a <= hi),
                            "nominal": nominal,
                        }
                    )
    table = pd.DataFrame(rows)
    scores = _scores(table)
    return RollingBacktest(
        table=table,
        scores=scores,
        cutoffs=tuple(chosen),
        horizon_months=horizon_months,
        verdict=tuple(_verdict(scores)),
        notes=tuple(notes),
        seconds=time.perf_counter() - started,
    )


def _scores(table: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for (metric, method), part in table.groupby(["metric", "method"], sort=False):
        err = part["point"] - part["actual"]
        total = float(part["actual"].sum())
        scored = part[part["actual"] > 0]
        inside = int(part["inside"].sum())
        n = len(part)
        lo, hi = stats.binomtest(inside, n).proportion_ci(0.95) if n else (math.nan, math.nan)
        gap, gap_lo, gap_hi = (
            _wape_gap(table, str(metric), str(method))
            if method != "model"
            else (math.nan, math.nan, math.nan)
        )
        rows.append(
            {
                "metric": metric,
                "method": method,
                "pairs": n,
                "cutoffs": int(part["cutoff"].nunique()),
                "wape": float(err.abs().sum() / total) if total > 0 else math.nan,
                "mape": float(
                    ((scored["point"] - scored["actual"]).abs() / scored["actual"]).mean()
                )
                if len(scored)
                else math.nan,
                "bias": float(err.sum() / total) if total > 0 else math.nan,
                "coverage": inside / n if n else math.nan,
                "coverage_lo": float(lo),
                "coverage_hi": float(hi),
                "nominal": float(part["nominal"].mean()) if "nominal" in part else 0.8,
                "model_wape_gap": gap,
                "model_wape_gap_lo": gap_lo,
                "model_wape_gap_hi": gap_hi,
            }
        )
    return pd.DataFrame(rows)


GAP_DRAWS = 2000
"""Bootstrap draws of the cutoffs behind the interval on a WAPE difference."""


def _wape_gap(table: pd.DataFrame, metric: str, other: str) -> tuple[float, float, float]:
    """The model's WAPE minus ``other``'s, with a 95% interval from a bootstrap over the
    cutoffs (the months forecast at one cutoff share its errors, so cutoffs are resampled
    whole)."""
    part = table[table["metric"] == metric]
    pairs = part.pivot_table(
        index=["cutoff", "month"], columns="method", values=["point", "actual"], aggfunc="first"
    )
    if other not in pairs["point"].columns or "model" not in pairs["point"].columns:
        return math.nan, math.nan, math.nan
    actual = pairs["actual"]["model"].to_numpy(dtype=float)
    err_m = np.abs(pairs["point"]["model"].to_numpy(dtype=float) - actual)
    err_o = np.abs(pairs["point"][other].to_numpy(dtype=float) - actual)
    cutoff = pairs.index.get_level_values("cutoff")
    codes, uniques = pd.factorize(cutoff)
    k = len(uniques)
    sums = np.zeros((3, k))
    for row, values in enumerate((err_m, err_o, actual)):
        sums[row] = np.bincount(codes, weights=values, minlength=k)
    if sums[2].sum() <= 0:
        return math.nan, math.nan, math.nan
    point = float((sums[0].sum() - sums[1].sum()) / sums[2].sum())
    rng = np.random.default_rng(0)
    pick = rng.integers(0, k, size=(GAP_DRAWS, k))
    m, o, a = (sums[row][pick].sum(axis=1) for row in range(3))
    with np.errstate(divide="ignore", invalid="ignore"):
        gaps = (m - o) / a
    gaps = gaps[np.isfinite(gaps)]
    lo, hi = np.percentile(gaps, [2.5, 97.5]) if len(gaps) else (math.nan, math.nan)
    return point, float(lo), float(hi)


def _verdict(scores: pd.DataFrame) -> list[str]:
    out = []
    for metric, part in scores.groupby("metric", sort=False):
        by = part.set_index("method")
        model = by.loc["model"]
        what = "monthly wins" if metric == "wins" else "monthly won value"
        for name in METHODS[1:]:
            if name not in by.index:
                continue
            other = by.loc[name]
            n_cutoffs = int(cast(float, other["cutoffs"]))
            lo_gap, hi_gap = other["model_wape_gap_lo"], other["model_wape_gap_hi"]
            interval = (
                f"; the difference {other['model_wape_gap'] * 100:+.1f} points, 95% CI "
                f"{lo_gap * 100:+.1f} to {hi_gap * 100:+.1f} over the {n_cutoffs} cutoffs"
                if np.isfinite(lo_gap)
                else ""
            )
            figures = f"WAPE {model['wape']:.1%} against {other['wape']:.1%}{interval}"
            if np.isfinite(lo_gap) and lo_gap <= 0 <= hi_gap:
                leader = "ahead of" if model["wape"] < other["wape"] else "behind"
                out.append(
                    f"{what}: the model is {leader} the {name}, but UNSETTLED ({figures}: the "
                    "interval includes zero)"
                )
            elif model["wape"] < other["wape"]:
                out.append(f"{what}: the model beats the {name} ({figures})")
            else:
                out.append(
                    f"{what}: the model LOSES to the {name} ({figures}): use the {name} for "
                    "this data, or find out why"
                )
        cov, lo, hi = model["coverage"], model["coverage_lo"], model["coverage_hi"]
        nominal = float(cast(float, model["nominal"])) if "nominal" in model.index else 0.8
        # whole counts with the band's ends included: a P10-P90 band holds a little over 80%
        # of its own draws; that share is what the actuals should match
        expect = f"{nominal:.0%}" + (
            " (80% bands on whole counts, ends included)" if nominal > 0.805 else ""
        )
        if lo > nominal or hi < nominal:
            side = "too wide" if lo > nominal else "too narrow"
            out.append(
                f"{what}: the model's P10-P90 band holds {cov:.0%} of the actuals (95% CI "
                f"{lo:.0%}-{hi:.0%}), not {expect}: the bands are {side}"
            )
        else:
            settled = "" if hi - lo <= 0.3 else ", but too few months to settle it"
            out.append(
                f"{what}: the model's P10-P90 band holds {cov:.0%} of the actuals (95% CI "
                f"{lo:.0%}-{hi:.0%}), consistent with {expect}{settled}"
            )
    return out
