"""Bookings forecast from a CRM export: the open pipeline and the opportunities still to come.

What is forecast is the count and the value of the deals won in each of the next months, with
P10/P50/P90 bands. Three parts, each fitted to the history before the as-of date:

- **the open pipeline**: each opportunity open at the as-of date is carried with its own
  chance and timing of winning, from competing-risk life tables of win and loss by age
  (:mod:`sim.calibrate.lifetable`; censoring-aware), by its current stage (age in stage) when
  stage dates are known, else by its channel (age since creation);
- **new opportunities**: monthly arrivals from a Poisson log-linear fit (level, a trend kept
  only when its 95% CI excludes zero, month of year when two years of history show one),
  over-dispersed as the history is, each new opportunity following the same life tables;
- **calendar effects on closing**: a within-quarter factor on the win hazard (the quarter-end
  push) kept when a likelihood-ratio test over the history supports it, and month-to-month
  variation beyond chance measured on the history and drawn as a shock per month;

deal values are drawn from the won deals' own amounts (bootstrap, per segment), or an open
deal's listed amount. Parameter uncertainty enters by refitting on bootstrap resamples of the
history: the bands cover estimation error as well as chance.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.tsa.exponential_smoothing.ets import ETSModel

from sim.calibrate.columns import CrmData
from sim.calibrate.fit import complete_months
from sim.calibrate.lifetable import (
    LOST,
    OPEN,
    WON,
    LifeTable,
    fit_life_table,
    month_win_probabilities,
)
from sim.calibrate.report import CrmError
from sim.calibrate.slip import (
    RELEASE_DAYS,
    ROUNDS,
    fit_slip,
    hazard_log_likelihood,
    held_probability,
    pushable,
    quarter_position,
    quarters,
    slip_log_likelihood,
    slip_months,
)
from sim.errors import Problem
from sim.scenario.schema import add_months

Array = np.ndarray[Any, np.dtype[np.float64]]

MIN_GROUP_WINS = 30
"""A channel or stage with fewer wins shares the pooled life table."""
MIN_WINS = 30
"""Fewer wins in the history: the fit is flagged as untrustworthy."""
LEVEL_MONTHS = 3
MIN_ETS_MONTHS = 6
MIN_TREND_MONTHS = 10
SEASON_MONTHS = 24
SIGNIFICANCE = 0.05
SIZE_MONTHS = 12
"""Won deals of the latest this many months give the bootstrap deal sizes."""
MIN_SEGMENT_WINS = 20
BAND_CHECKS = 6
"""Recent one-month-ahead forecasts that calibrate the band width."""
MIN_BAND_CHECKS = 3
"""Fewer usable recent forecasts: the bands are not widened (too little to tell)."""
CREATION_POINTS = 8
"""Creation days per month at which a new opportunity's closing chances are averaged."""


@dataclass(frozen=True)
class FitNote:
    """A statement about the fit; ``weak`` ones mean a number it rests on cannot be trusted."""

    text: str
    weak: bool = False


@dataclass(frozen=True)
class Arrivals:
    """Monthly new opportunities: an exponential-smoothing (ETS) model of log counts.

    Attributes
    ----------
    model
        The fitted statsmodels ETS results (None: too few months; a flat level is used).
    level
        Latest smoothed monthly count.
    months
        The complete months fitted.
    source
        The model chosen, in words.
    """

    model: Any
    level: float
    months: tuple[str, ...]
    source: str

    def paths(self, steps: np.ndarray[Any, Any], reps: int, rng: np.random.Generator) -> Array:
        """Simulated arrivals ``steps`` months after the last fitted month; (reps, len(steps))."""
        if len(steps) == 0:
            return np.zeros((reps, 0))
        if self.model is None:
            return rng.poisson(self.level, size=(reps, len(steps))).astype(float)
        horizon = int(steps.max())
        sims = self.model.simulate(
            horizon, repetitions=reps, anchor="end", rng=np.random.default_rng(_seed_of(rng))
        )
        logs = np.asarray(sims).reshape(horizon, reps).T[:, steps - 1]
        return np.asarray(rng.poisson(np.exp(np.clip(logs, -5.0, 20.0))), dtype=float)


def _seed_of(rng: np.random.Generator) -> int:
    return int(rng.integers(0, 2**31 - 1))


@dataclass(frozen=True)
class Fit:
    """Everything a forecast draws from, fitted on one (possibly resampled) history."""

    pooled: LifeTable
    groups: dict[str, LifeTable]
    stages: dict[str, LifeTable]
    quarter: Array
    quarter_pvalue: float
    shock_variance: float
    sizes: dict[str, Array]
    slip: float = 0.0
    """Share of wins due in a quarter's first two months held to its last days (0: none)."""
    slip_pvalue: float = 1.0
    calendar: str = "none"
    """The calendar model used: "none", "factor" (on the win hazard) or "slip"."""

    def stage_win_probability(self, stage: str) -> float:
        """Chance that a deal entering ``stage`` is eventually won."""
        return stage_win_probability(self.stages, stage)


def stage_win_probability(stages: dict[str, LifeTable], stage: str) -> float:
    """Chance that a deal entering ``stage`` is eventually won: the product of the forward
    odds of it and of every later stage (``stages`` in funnel order)."""
    names = list(stages)
    p = 1.0
    for name in names[names.index(stage) :]:
        p *= stages[name].win_probability()
    return p


@dataclass(frozen=True)
class Forecast:
    """Monthly bookings forecast with bands, and the open deals expected to close.

    Attributes
    ----------
    table
        One row per metric (``wins``, ``won_value``) and month: mean, p10, p50, p90, and
        the parts from the open pipeline and from new opportunities (means).
    expected
        One row per open opportunity at the as-of date: id, created, stage, segment,
        amount, chance of winning within the horizon and per month, expected value.
    notes
        What the fit found, assumed and could not trust (``weak``).
    draws
        Per metric, a draws x months array of the simulated totals.
    """

    as_of: pd.Timestamp
    start: dt.date
    months: tuple[str, ...]
    replications: int
    table: pd.DataFrame
    expected: pd.DataFrame
    notes: tuple[FitNote, ...]
    draws: dict[str, Array]
    fit: Fit
    arrivals: Arrivals
    seconds: float
    parts: dict[str, Array] = field(default_factory=dict)

    @property
    def weak(self) -> tuple[FitNote, ...]:
        """The notes that say a number cannot be trusted."""
        return tuple(n for n in self.notes if n.weak)


# -- the history as life-table rows ---------------------------------------------------------


def _days(a: pd.Series, b: pd.Timestamp | pd.Series) -> Array:
    return np.asarray((a - b).dt.total_seconds().to_numpy(dtype=float) / 86400.0)


@dataclass(frozen=True)
class _History:
    """Per opportunity: entry and exit age, outcome, channel, stage rows."""

    frame: pd.DataFrame
    as_of: pd.Timestamp
    deals_from: pd.Timestamp
    stages: tuple[str, ...]


def _history(data: CrmData) -> _History:
    leads = data.leads
    as_of = data.as_of
    closed = leads["won"].fillna(leads["lost_at"])
    outcome = np.where(leads["won"].notna(), WON, np.where(leads["lost"], LOST, OPEN))
    # a loss without a date closes at an unknown age: taken as lost at once (it is final)
    undated = (outcome == LOST) & closed.isna()
    end = closed.fillna(as_of)
    end = end.where(~undated, leads["created"])
    frame = pd.DataFrame(
        {
            "id": leads["lead_id"].to_numpy(),
            "created": leads["created"].to_numpy(),
            "entry": np.maximum(
                _days(pd.Series(data.deals_from, index=leads.index), leads["created"]), 0.0
            ),
            "exit": np.maximum(_days(end, leads["created"]), 0.0),
            "outcome": outcome,
            "channel": leads["channel"].astype(str).to_numpy(),
            "segment": leads["segment"].astype(object).where(leads["segment"].notna(), None),
            "stage": leads["stage"].to_numpy(),
            "amount": leads["amount"].to_numpy(dtype=float),
            "closed": closed.to_numpy(),
            "owner": leads["owner_field_sales"].to_numpy(),
        }
    )
    for s in data.stages:
        frame[f"stage:{s}"] = leads[f"stage:{s}"].to_numpy()
    return _History(frame, as_of, data.deals_from, data.stages)


def _fit(
    h: _History,
    rows: np.ndarray[Any, Any],
    horizon_start: pd.Timestamp,
    start: _Start | None = None,
) -> Fit:
    f = h.frame.iloc[rows]
    cal = _calendar(f, h, start)
    pooled, groups = _tables(f, cal.clock, cal.slip, _until(h))
    stages = _stage_tables(f, h, cal.clock, cal.slip)
    return Fit(
        pooled,
        groups,
        stages,
        cal.quarter,
        cal.pvalue,
        cal.shock,
        _sizes(f, horizon_start),
        cal.slip,
        cal.slip_pvalue,
        cal.kind,
    )


def _until(h: _History) -> float:
    """The as-of date in calendar days."""
    return float(_stamp_days([h.as_of])[0])


def _stage_tables(
    f: pd.DataFrame, h: _History, clock: Callable[[Array], Array] | None, slip: float = 0.0
) -> dict[str, LifeTable]:
    """Per stage, the hazards of leaving it forward (to a later stage, or won from the last)
    and of being lost from it, by age in the stage (a semi-Markov model of the stages).

    Empty unless every stage has :data:`MIN_GROUP_WINS` forward moves: a deal is carried
    through the stages only when each has been seen often enough.
    """
    if not h.stages:
        return {}
    outcome = f["outcome"].to_numpy()
    closed = pd.to_datetime(f["closed"])
    entered = {st: pd.to_datetime(f[f"stage:{st}"]) for st in h.stages}
    tables: dict[str, LifeTable] = {}
    for k, st in enumerate(h.stages):
        t_in = entered[st]
        mask = t_in.notna().to_numpy()
        later = [entered[x] for x in h.stages[k + 1 :]]
        t_next = pd.concat(later, axis=1).min(axis=1) if later else pd.Series(pd.NaT, index=f.index)
        moved = t_next.notna().to_numpy()
        won = outcome == WON
        lost = outcome == LOST
        end = t_next.where(moved, closed.where(won | lost, h.as_of))
        kind = np.where(moved | won, WON, np.where(lost, LOST, OPEN))
        age_out = _days(end[mask], t_in[mask])
        start = np.maximum(_days(pd.Series(h.deals_from, index=f.index)[mask], t_in[mask]), 0.0)
        last = k == len(h.stages) - 1
        if last and slip > 0:
            table = fit_slip(
                start,
                np.maximum(age_out, 0.0),
                kind[mask],
                _calendar_days(t_in[mask]),
                _until(h),
                share=slip,
                rounds=SLIP_REFIT_ROUNDS,
            ).table
        else:
            table = fit_life_table(
                start,
                np.maximum(age_out, 0.0),
                kind[mask],
                born=_calendar_days(t_in[mask]) if last else None,
                win_clock=clock if last else None,
            )
        if table.wins < MIN_GROUP_WINS:
            return {}
        tables[st] = table
    return tables


_EPOCH = pd.Timestamp("1970-01-01")


def _calendar_days(when: pd.Series) -> Array:
    return _days(pd.Series(when), _EPOCH)


def _stamp_days(stamps: list[pd.Timestamp]) -> Array:
    """Calendar days (since 1970) of a list of timestamps."""
    return np.asarray((pd.DatetimeIndex(stamps) - _EPOCH) / pd.Timedelta(days=1), dtype=float)


def _make_clock(factor: Array, first: pd.Timestamp, months: int) -> Callable[[Array], Array]:
    """The integral over calendar days of a win-hazard factor set by position in the quarter."""
    edges = _month_starts(first, months)
    days = _stamp_days(edges)
    weight = factor[[(e.month - 1) % 3 for e in edges[:-1]]]
    cum = np.concatenate([[0.0], np.cumsum(weight * np.diff(days))])

    def clock(t: Array) -> Array:
        t = np.asarray(t, dtype=float)
        inside = np.interp(t, days, cum)
        # outside the grid, time runs at rate 1
        return np.asarray(
            inside + np.minimum(t - days[0], 0.0) + np.maximum(t - days[-1], 0.0), dtype=float
        )

    return clock


def _tables(
    f: pd.DataFrame,
    clock: Callable[[Array], Array] | None,
    slip: float = 0.0,
    until: float = math.inf,
) -> tuple[LifeTable, dict[str, LifeTable]]:
    """The pooled life table and one per channel with enough wins (natural closing times
    under a quarter-end slip, when ``slip`` is positive)."""
    born = _calendar_days(f["created"])

    def one(mask: np.ndarray[Any, Any]) -> LifeTable:
        args = (f["entry"].to_numpy()[mask], f["exit"].to_numpy()[mask])
        outcome = f["outcome"].to_numpy()[mask]
        if slip > 0:
            return fit_slip(
                *args, outcome, born[mask], until, share=slip, rounds=SLIP_REFIT_ROUNDS
            ).table
        return fit_life_table(*args, outcome, born=born[mask], win_clock=clock)

    pooled = one(np.ones(len(f), dtype=bool))
    groups: dict[str, LifeTable] = {}
    channels = f["channel"].to_numpy()
    for name in np.unique(channels):
        mask = channels == name
        if int((f["outcome"].to_numpy()[mask] == WON).sum()) >= MIN_GROUP_WINS:
            groups[str(name)] = one(mask)
    return pooled, groups


def _table_of(fit_groups: dict[str, LifeTable], pooled: LifeTable, channel: str) -> LifeTable:
    return fit_groups.get(channel, pooled)


def _month_starts(first: pd.Timestamp, n: int) -> list[pd.Timestamp]:
    return [pd.Timestamp(add_months(first.date(), k)) for k in range(n + 1)]


def _expected_by_month(
    f: pd.DataFrame, pooled: LifeTable, groups: dict[str, LifeTable], edges: list[pd.Timestamp]
) -> Array:
    """Expected wins per calendar month at the baseline hazard (factor 1)."""
    expected = np.zeros(len(edges) - 1)
    edge_days = _stamp_days(edges)
    for channel, part in f.groupby("channel"):
        table = _table_of(groups, pooled, str(channel))
        ages = edge_days[None, :] - _calendar_days(part["created"])[:, None]
        lo = part["entry"].to_numpy()[:, None]
        hi = part["exit"].to_numpy()[:, None]
        clipped = np.clip(ages, lo, hi)
        hw, _ = table.cumulative(clipped.ravel())
        expected += np.diff(hw.reshape(clipped.shape), axis=1).sum(axis=0)
    return expected


CALENDAR_ROUNDS = 20
"""Rounds of the alternating fit of the age hazards and the quarter factor."""
CALENDAR_MONTHS = 3
"""Complete months of deal history a calendar model needs (and a band check, so that it
checks the model as it is used)."""
SLIP_REFIT_ROUNDS = 3
"""Expectation-maximisation rounds of a table refitted at a known held share."""


@dataclass(frozen=True)
class _Start:
    """The base fit's calendar model, from which a bootstrap refit starts."""

    quarter: Array
    slip: float
    kind: str  # "none", "factor" or "slip"


@dataclass(frozen=True)
class _Calendar:
    quarter: Array
    pvalue: float
    shock: float
    clock: Callable[[Array], Array] | None
    slip: float = 0.0
    slip_pvalue: float = 1.0

    @property
    def kind(self) -> str:
        return "slip" if self.slip > 0 else ("factor" if self.clock is not None else "none")

    def start(self) -> _Start:
        return _Start(self.quarter, self.slip, self.kind)


def _calendar(f: pd.DataFrame, h: _History, start: _Start | None = None) -> _Calendar:
    """The within-quarter calendar model of the win hazard, chosen between two forms.

    - **A factor** on the win hazard by position of the month in its quarter:
      ``lambda(age) * q(position)``, fitted by alternating the two maximum-likelihood steps
      (the age hazards given the factor, and the factor given the age hazards: observed over
      expected wins by position).
    - **A quarter-end slip** (:mod:`sim.calibrate.slip`): a share of the wins due in a
      quarter's first two months is held and signed in its last days, fitted by
      expectation-maximisation with the natural age hazards.

    Each is tested against no calendar effect by a likelihood-ratio test on the deals' own
    likelihood (closing ages and dates, with censoring and late entry; 2 df for the factor, 1
    for the slip); of those kept, the one with the lower AIC is used. Also returned: the
    extra-Poisson variance of monthly wins around the chosen model (method of moments,
    negative-binomial form). A bootstrap refit (``start``) keeps the base fit's choice and
    refits its parameters only.
    """
    first = h.deals_from.to_period("M").to_timestamp()
    if h.deals_from > first:
        first = pd.Timestamp(add_months(first.date(), 1))
    last = h.as_of.to_period("M").to_timestamp()
    n_months = (last.year - first.year) * 12 + last.month - first.month
    won = f["closed"][f["outcome"] == WON]
    won_month = pd.DatetimeIndex(won).to_period("M")
    edges = _month_starts(first, max(n_months, 0))
    observed = np.array(
        [float((won_month == e.to_period("M")).sum()) for e in edges[:-1]], dtype=float
    )
    position = np.array([(e.month - 1) % 3 for e in edges[:-1]])
    pooled, groups = _tables(f, None)
    expected0 = _expected_by_month(f, pooled, groups, edges)
    none = _Calendar(np.ones(3), 1.0, 0.0, None)
    chosen, fitted = none, expected0
    kind = None if start is None else start.kind
    if n_months >= CALENDAR_MONTHS and expected0.sum() > 0 and kind != "none":
        # each form against none by the deals' own likelihood (their closing ages and
        # calendar times), not only the monthly totals it implies
        entry, exit_ = f["entry"].to_numpy(), f["exit"].to_numpy()
        outcome = f["outcome"].to_numpy()
        ll0 = hazard_log_likelihood(pooled, entry, exit_, outcome)
        candidates: list[tuple[float, _Calendar, Array]] = []
        if kind in (None, "factor"):
            q, clock, with_q = _quarter_factor(f, edges, observed, position, start)
            table = fit_life_table(
                entry, exit_, outcome, born=_calendar_days(f["created"]), win_clock=clock
            )
            at_exit = q[quarter_position(_calendar_days(f["created"]) + exit_)]
            ll = hazard_log_likelihood(table, entry, exit_, outcome, win_factor=at_exit)
            p_q = float(stats.chi2.sf(max(2.0 * (ll - ll0), 0.0), df=2))
            if p_q < SIGNIFICANCE or kind == "factor":
                candidates.append((4.0 - 2.0 * ll, _Calendar(q, p_q, 0.0, clock), with_q))
        if kind in (None, "slip"):
            share, ll, with_s = _quarter_slip(f, h, edges, position, start)
            p_s = float(stats.chi2.sf(max(2.0 * (ll - ll0), 0.0), df=1))
            if (p_s < SIGNIFICANCE or kind == "slip") and share > 0:
                slipped = _Calendar(np.ones(3), 1.0, 0.0, None, share, p_s)
                candidates.append((2.0 - 2.0 * ll, slipped, with_s))
        if candidates:
            _, chosen, fitted = min(candidates, key=lambda c: c[0])
    use = fitted > 0
    shock = 0.0
    if use.sum() >= 3:
        shock = float(
            np.sum((observed[use] - fitted[use]) ** 2 - observed[use]) / np.sum(fitted[use] ** 2)
        )
    return dataclasses.replace(chosen, shock=max(shock, 0.0))


def _quarter_factor(
    f: pd.DataFrame,
    edges: list[pd.Timestamp],
    observed: Array,
    position: np.ndarray[Any, Any],
    start: _Start | None,
) -> tuple[Array, Callable[[Array], Array], Array]:
    """The quarter factor (mean 1), its clock and the monthly wins it expects."""
    last = edges[-1]
    grid_first = f["created"].min().to_period("M").to_timestamp()
    grid_months = (last.year - grid_first.year) * 12 + last.month - grid_first.month + 120
    q = np.ones(3) if start is None else np.asarray(start.quarter, dtype=float)
    rounds = CALENDAR_ROUNDS if start is None else 4
    for _ in range(rounds):
        clock = _make_clock(q, grid_first, grid_months)
        pooled, groups = _tables(f, clock)
        expected = _expected_by_month(f, pooled, groups, edges)
        o = np.bincount(position, weights=observed, minlength=3)
        e = np.bincount(position, weights=expected, minlength=3)
        new = np.where(e > 0, o / np.maximum(e, 1e-12), 1.0)
        new = np.maximum(new, 1e-3)
        new /= new.mean()
        done = float(np.max(np.abs(new - q))) < 1e-4
        q = new
        if done:
            break
    clock = _make_clock(q, grid_first, grid_months)
    pooled, groups = _tables(f, clock)
    expected = _expected_by_month(f, pooled, groups, edges)
    return q, clock, expected * q[position]


def _quarter_slip(
    f: pd.DataFrame,
    h: _History,
    edges: list[pd.Timestamp],
    position: np.ndarray[Any, Any],
    start: _Start | None,
) -> tuple[float, float, Array]:
    """The held share of the quarter-end slip, its log-likelihood and the monthly wins it
    expects."""
    until = _until(h)
    records = (
        f["entry"].to_numpy(),
        f["exit"].to_numpy(),
        f["outcome"].to_numpy(),
        _calendar_days(f["created"]),
        until,
    )
    fitted = fit_slip(*records, rounds=ROUNDS if start is None else 4)
    ll = slip_log_likelihood(fitted.table, fitted.share, *records)
    # natural wins expected by month over the natural histories (a held win's exposure ends
    # at its natural closing time), then the held share moved to each quarter's last month
    edge_days = _stamp_days(edges)
    ages = edge_days[None, :] - fitted.born[:, None]
    clipped = np.clip(ages, fitted.entry[:, None], fitted.exit[:, None])
    hw, _ = fitted.table.cumulative(clipped.ravel())
    natural = (np.diff(hw.reshape(clipped.shape), axis=1) * fitted.weight[:, None]).sum(axis=0)
    return fitted.share, ll, slip_months(natural, position, fitted.share)


def _sizes(f: pd.DataFrame, start: pd.Timestamp) -> dict[str, Array]:
    won = f[(f["outcome"] == WON) & np.isfinite(f["amount"])]
    recent = won[won["closed"] >= start - pd.DateOffset(months=SIZE_MONTHS)]
    if len(recent) < MIN_SEGMENT_WINS:
        recent = won
    sizes: dict[str, Array] = {}
    if recent.empty:
        return sizes
    sizes[""] = recent["amount"].to_numpy(dtype=float)
    for name, part in recent.groupby("segment"):
        if len(part) >= MIN_SEGMENT_WINS:
            sizes[str(name)] = part["amount"].to_numpy(dtype=float)
    return sizes


# -- arrivals -------------------------------------------------------------------------------


def fit_arrivals(data: CrmData) -> tuple[Arrivals, list[FitNote]]:
    """An ETS model of the log monthly count of new opportunities over every complete month.

    The candidates are a level only, a level with a damped additive trend (from
    :data:`MIN_TREND_MONTHS` months) and, from :data:`SEASON_MONTHS` months, each with a
    month-of-year seasonality; the one with the lowest AICc is kept. Fewer than
    :data:`MIN_ETS_MONTHS` months: the mean of the latest months, as a Poisson level.
    """
    notes: list[FitNote] = []
    months = complete_months(data)
    if len(months) == 0:
        raise CrmError(
            [
                Problem(
                    "the opportunities cover no complete calendar month: arrivals cannot be fitted"
                )
            ]
        )
    counts = data.leads["created"].dt.to_period("M").value_counts()
    y = np.array([float(counts.get(m, 0)) for m in months])
    labels = tuple(str(m) for m in months)
    if len(months) < MIN_ETS_MONTHS:
        level = float(y[-LEVEL_MONTHS:].mean())
        notes.append(
            FitNote(
                f"only {len(months)} complete month(s) of opportunities: arrivals are the mean "
                f"of the latest ({level:,.0f} a month), with no trend",
                weak=len(months) < 3,
            )
        )
        return Arrivals(None, level, labels, "mean of the latest months"), notes
    logy = np.log(y + 0.5)
    candidates: list[tuple[str, dict[str, Any]]] = [("level", {"trend": None})]
    if len(months) >= MIN_TREND_MONTHS:
        candidates.append(("damped trend", {"trend": "add", "damped_trend": True}))
    if len(months) >= SEASON_MONTHS:
        candidates += [
            (f"{name} + month of year", {**kw, "seasonal": "add", "seasonal_periods": 12})
            for name, kw in list(candidates)
        ]
    best: tuple[float, str, Any] | None = None
    failed = []
    for name, kw in candidates:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                res = ETSModel(logy, error="add", **kw).fit(disp=False, maxiter=2000)
            except (ValueError, np.linalg.LinAlgError) as err:
                failed.append(f"{name} ({err})")
                continue
        if not np.isfinite(res.aicc):
            failed.append(f"{name} (no finite AICc)")
            continue
        if any("converge" in str(w.message).lower() for w in caught):
            failed.append(f"{name} (did not converge)")
            continue
        if best is None or res.aicc < best[0]:
            best = (float(res.aicc), name, res)
    if best is None:
        level = float(y[-LEVEL_MONTHS:].mean())
        notes.append(
            FitNote(
                "no exponential-smoothing model of arrivals could be fitted ("
                + "; ".join(failed)
                + f"): the mean of the latest months is used ({level:,.0f} a month)",
                weak=True,
            )
        )
        return Arrivals(None, level, labels, "mean of the latest months"), notes
    _, name, res = best
    level = float(math.exp(res.forecast(1)[0]))
    source = (
        f"ETS on log counts ({name}, AICc {best[0]:.1f}) over {labels[0]}..{labels[-1]}: "
        f"next month about {level:,.0f}"
    )
    notes.append(FitNote(f"arrivals: {source}"))
    if failed:
        notes.append(FitNote("arrival models left out: " + "; ".join(failed)))
    return Arrivals(res, level, labels, source), notes


# -- the forecast ---------------------------------------------------------------------------


def forecast(
    data: CrmData,
    months: int = 6,
    *,
    start: dt.date | None = None,
    replications: int = 1000,
    resamples: int = 40,
    seed: int = 0,
    new_opportunities: bool = True,
    band_checks: int = BAND_CHECKS,
) -> Forecast:
    """Forecast the deals won in each of the next ``months`` months, with bands.

    Parameters
    ----------
    data
        From :func:`~sim.calibrate.columns.read_crm` (or its :meth:`~CrmData.cut`): the
        as-of date is its ``as_of``.
    months
        Months forecast.
    start
        First forecast month (default: the month after the as-of date, or the as-of month
        when the as-of date is the last day before a month begins).
    replications
        Simulated futures.
    resamples
        Bootstrap refits of the history the replications are spread over (parameter
        uncertainty); 0: one fit, chance only.
    seed
        Seed of every draw.
    new_opportunities
        False: the open pipeline only.
    band_checks
        One-month-ahead forecasts made at the latest month starts before the as-of date and
        compared with what happened; when their errors are wider than their bands say (mean
        squared z-score above 1), every band is widened by its square root (0: not checked).

    Returns
    -------
    Forecast

    Raises
    ------
    CrmError
        If the history has no won deal, or the start leaves a gap after the as-of date.
    """
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    h = _history(data)
    first = _first_month(data.as_of, start)
    edges = _month_starts(first, months)
    labels = tuple(f"{e:%Y-%m}" for e in edges[:-1])
    notes: list[FitNote] = []
    frame = h.frame
    n = len(frame)
    wins = int((frame["outcome"] == WON).sum())
    losses = int((frame["outcome"] == LOST).sum())
    if wins == 0:
        raise CrmError([Problem("no won deal before the as-of date: nothing to fit")])
    if wins < MIN_WINS:
        notes.append(
            FitNote(
                f"only {wins} won deals in the history: conversion and timing rest on too few",
                weak=True,
            )
        )
    if losses == 0:
        notes.append(
            FitNote(
                "no loss is recorded: an opportunity not won is open (censored) until the export, "
                "and may never close (as in the Olist layout)"
            )
        )
    arrivals, arrival_notes = fit_arrivals(data)
    notes += arrival_notes
    base = _fit(h, np.arange(n), edges[0])
    notes += _fit_notes(base, h)
    open_rows = frame[frame["outcome"] == OPEN]
    r_per = _split(replications, max(resamples, 1))
    refit_from = _Start(base.quarter, base.slip, base.calendar)
    last_fitted = pd.Period(arrivals.months[-1], freq="M")
    steps = np.array([(pd.Period(e, freq="M") - last_fitted).n for e in edges[:-1]])
    created_all = arrivals.paths(steps, replications, rng)
    out_w = np.zeros((replications, months))
    out_v = np.zeros((replications, months))
    part_pipe = np.zeros((replications, months))
    hits = np.zeros((len(open_rows), months))
    at = 0
    for b, reps in enumerate(r_per):
        fit = (
            base
            if b == 0 or resamples == 0
            else _fit(h, rng.integers(0, n, n), edges[0], start=refit_from)
        )
        created = created_all[at : at + reps]
        shock = _shocks(fit.shock_variance, reps, months, rng)
        factor = fit.quarter[[(e.month - 1) % 3 for e in edges[:-1]]][None, :] * shock
        pw, pv, hit = _pipeline_draws(open_rows, edges, h.as_of, fit, factor, rng, data.has_amounts)
        hits += hit
        nw, nv = (
            _new_draws(data, frame, created, edges, fit, factor, rng)
            if new_opportunities
            else (np.zeros_like(pw), np.zeros_like(pv))
        )
        out_w[at : at + reps] = pw + nw
        out_v[at : at + reps] = pv + nv
        part_pipe[at : at + reps] = pw
        at += reps
    capacity = _capacity(frame, h.as_of)
    if capacity is not None:
        cap, owners, per_owner = capacity
        binds = float(np.mean(out_w > cap))
        if binds > 0.1:
            notes.append(
                FitNote(
                    f"rep capacity binds in {binds:.0%} of month draws: {owners} owners active, "
                    f"a ceiling of {per_owner:.0f} wins an owner-month (the record month "
                    f"plus a chance allowance; capped at {cap:.0f})"
                )
            )
        scale = np.minimum(1.0, cap / np.maximum(out_w, 1e-9))
        out_w = np.minimum(out_w, cap)
        out_v = out_v * scale
    if band_checks > 0:
        widen, checked = _band_check(data, band_checks, seed, new_opportunities)
        if checked >= MIN_BAND_CHECKS:
            for key, draws in (("wins", out_w), ("won_value", out_v)):
                factor_ = widen.get(key, 1.0)
                if factor_ > 1.0:  # on the log scale: errors of counts and values are relative
                    logs = np.log1p(draws)
                    mid = np.median(logs, axis=0, keepdims=True)
                    draws[:] = np.maximum(np.expm1(mid + (logs - mid) * factor_), 0.0)
            notes.append(
                FitNote(
                    f"bands checked on {checked} recent one-month-ahead forecasts: widened "
                    + ", ".join(f"x{widen.get(k, 1.0):.2f} ({k})" for k in sorted(widen))
                )
            )
        else:
            notes.append(
                FitNote(
                    f"bands not checked against recent months ({checked} usable, "
                    f"{MIN_BAND_CHECKS} needed): they hold chance and estimation error only, "
                    "and may be too narrow"
                )
            )
    expected = _expected(open_rows, hits / replications, h.as_of, base, labels)
    table = _table(labels, {"wins": out_w, "won_value": out_v}, part_pipe, data.has_amounts)
    return Forecast(
        as_of=data.as_of,
        start=edges[0].date(),
        months=labels,
        replications=replications,
        table=table,
        expected=expected,
        notes=tuple(notes),
        draws={"wins": out_w, "won_value": out_v},
        fit=base,
        arrivals=arrivals,
        seconds=time.perf_counter() - started,
        parts={"wins_from_pipeline": part_pipe, "wins_from_new": out_w - part_pipe},
    )


def _band_check(
    data: CrmData, checks: int, seed: int, new_opportunities: bool
) -> tuple[dict[str, float], int]:
    """Widening of the bands from recent one-month-ahead forecasts: the square root of the
    mean squared z-score of the actuals on the log scale (at least 1), for counts and for
    value, and how many forecasts were checked."""
    first = _first_month(data.as_of, None)
    won = data.leads[data.leads["won"].notna()]
    month = pd.DatetimeIndex(won["won"]).to_period("M")
    z: dict[str, list[float]] = {"wins": [], "won_value": []}
    done = 0
    for back in range(checks, 0, -1):
        cutoff = pd.Timestamp(add_months(first.date(), -back))
        if int((won["won"] < cutoff).sum()) < MIN_WINS or cutoff < pd.Timestamp(
            add_months(data.deals_from.date(), CALENDAR_MONTHS)
        ):
            continue
        cut = data.cut(cutoff.date())
        try:
            fc = forecast(
                cut,
                1,
                replications=200,
                resamples=0,
                seed=seed + 7919 * back,
                new_opportunities=new_opportunities,
                band_checks=0,
            )
        except CrmError:
            continue
        target = pd.Period(cutoff, freq="M")
        actual = {
            "wins": float((month == target).sum()),
            "won_value": float(won.loc[month == target, "amount"].sum()),
        }
        for key in z:
            if key == "won_value" and not data.has_amounts:
                continue
            logs = np.log1p(fc.draws[key][:, 0])
            sd = max(float(logs.std()), 1e-3)
            z[key].append((math.log1p(actual[key]) - float(np.median(logs))) / sd)
        done += 1
    widen = {k: max(1.0, math.sqrt(float(np.mean(np.square(v))))) for k, v in z.items() if v}
    return widen, done


def _first_month(as_of: pd.Timestamp, start: dt.date | None) -> pd.Timestamp:
    """The first whole month after the as-of instant (a cut at midnight on the 1st: that
    month; an export read to the end of its day: the month after that day)."""
    t = as_of if as_of == as_of.normalize() else as_of.ceil("s")
    natural = t.to_period("M").to_timestamp()
    if t > natural:
        natural = pd.Timestamp(add_months(natural.date(), 1))
    if start is None:
        return natural
    first = pd.Timestamp(start)
    if first.day != 1 or first < natural:
        raise CrmError(
            [
                Problem(
                    f"must be the first day of a month from {natural:%Y-%m-%d} on (the first "
                    "whole month after the as-of date)",
                    "start",
                    value=str(start),
                )
            ]
        )
    return first


def _split(total: int, parts: int) -> list[int]:
    parts = max(1, min(parts, total))
    base, extra = divmod(total, parts)
    return [base + (1 if k < extra else 0) for k in range(parts)]


def _fit_notes(fit: Fit, h: _History) -> list[FitNote]:
    notes = [
        FitNote(
            f"life table: {fit.pooled.deals:,} opportunities, {fit.pooled.wins:,} won, "
            f"{fit.pooled.losses:,} lost; eventual win chance of a new one "
            f"{fit.pooled.win_probability():.1%}"
        )
    ]
    if fit.groups and set(fit.groups) != {"all"}:
        notes.append(FitNote("own life tables for channels " + ", ".join(sorted(fit.groups))))
    if h.stages:
        have = [s for s in h.stages if s in fit.stages]
        notes.append(
            FitNote(
                "by stage (age in stage): "
                + ", ".join(f"{s} {fit.stage_win_probability(s):.1%}" for s in have)
                + (
                    f"; too few wins for {', '.join(s for s in h.stages if s not in fit.stages)}"
                    if len(have) < len(h.stages)
                    else ""
                )
            )
        )
    if fit.calendar == "slip":
        notes.append(
            FitNote(
                f"quarter-end slip kept (LR p={fit.slip_pvalue:.3g}): {fit.slip:.0%} of the wins "
                "due in a quarter's first two months are held and signed in its last "
                f"{RELEASE_DAYS:.0f} days"
            )
        )
    elif fit.quarter_pvalue < SIGNIFICANCE:
        q = fit.quarter
        notes.append(
            FitNote(
                f"quarter-end pattern kept (LR p={fit.quarter_pvalue:.3g}): win hazard "
                f"x{q[0]:.2f}, "
                f"x{q[1]:.2f}, x{q[2]:.2f} in the 1st, 2nd, 3rd month of a quarter"
            )
        )
    else:
        notes.append(FitNote(f"no within-quarter pattern (LR p={fit.quarter_pvalue:.2f})"))
    notes.append(
        FitNote(
            f"monthly wins vary beyond chance by a shock of CV {math.sqrt(fit.shock_variance):.0%}"
            if fit.shock_variance > 0
            else "monthly wins vary no more than chance"
        )
    )
    return notes


def _shocks(variance: float, reps: int, months: int, rng: np.random.Generator) -> Array:
    if variance <= 0:
        return np.ones((reps, months))
    return rng.gamma(1.0 / variance, variance, size=(reps, months))


def _open_tables(
    open_rows: pd.DataFrame, fit: Fit, as_of: pd.Timestamp
) -> list[tuple[LifeTable, np.ndarray[Any, Any], Array]]:
    """(table, row mask, age at the as-of date) per group of open deals."""
    age_created = _days(pd.Series(as_of, index=open_rows.index), open_rows["created"])
    out = []
    done = np.zeros(len(open_rows), dtype=bool)
    done |= _staged(open_rows, fit)
    channels = open_rows["channel"].to_numpy()
    for name, table in fit.groups.items():
        mask = (channels == name) & ~done
        if mask.any():
            out.append((table, mask, age_created))
            done |= mask
    if (~done).any():
        out.append((fit.pooled, ~done, age_created))
    return out


def _pipeline_probs(
    open_rows: pd.DataFrame, edges: list[pd.Timestamp], as_of: pd.Timestamp, fit: Fit, factor: Array
) -> Array:
    """Per draw, open deal and month: the chance it is won then; shape (r, n, k)."""
    # from the as-of instant: an open deal may close in the days before the first month
    offsets = np.array([0.0, *((e - as_of).total_seconds() / 86400.0 for e in edges)])
    offsets = np.maximum.accumulate(np.maximum(offsets, 0.0))
    r = factor.shape[0]
    factor = np.concatenate([np.ones((r, 1)), factor], axis=1)
    probs = np.zeros((r, len(open_rows), len(edges) - 1))
    positions = _positions(edges)
    target = _quarter_end_index(float(_stamp_days([as_of])[0]), edges)
    for table, mask, age in _open_tables(open_rows, fit, as_of):
        ages = age[mask][:, None] + offsets[None, :]
        win, _ = month_win_probabilities(table, ages, factor)
        probs[:, mask, :] = win[:, :, 1:]
        if fit.slip > 0:
            part = slip_months(win[:, :, 1:], positions, fit.slip)
            # natural wins between the as-of date and the first month, held to its quarter
            if target < part.shape[-1] and _positions([as_of, as_of])[0] < 2:
                part[:, :, target] += fit.slip * win[:, :, 0]
            held = held_probability(
                table,
                fit.slip,
                _calendar_days(open_rows["created"])[mask],
                open_rows["entry"].to_numpy(dtype=float)[mask],
                float(_stamp_days([as_of])[0]),
            )
            part *= (1.0 - held)[None, :, None]
            if target < part.shape[-1]:
                part[:, :, target] += held[None, :]
            probs[:, mask, :] = part
    return probs


def _positions(edges: list[pd.Timestamp]) -> np.ndarray[Any, Any]:
    """Position in its quarter (0, 1, 2) of each month starting at ``edges[:-1]``."""
    return np.array([(e.month - 1) % 3 for e in edges[:-1]])


def _quarter_end_index(t: float | Array, edges: list[pd.Timestamp]) -> Any:
    """Index among the forecast months of the last month of the quarter of calendar time
    ``t`` (the number of months when it is not one of them)."""
    k = len(edges) - 1
    third = quarters(np.atleast_1d(np.asarray(t, dtype=float))).third
    starts = _stamp_days(edges[:-1])
    idx = np.searchsorted(starts, third)
    found = (idx < k) & (starts[np.minimum(idx, k - 1)] == third)
    out = np.where(found, idx, k)
    return int(out[0]) if np.ndim(t) == 0 else out


def _staged(open_rows: pd.DataFrame, fit: Fit) -> np.ndarray[Any, Any]:
    """Open deals carried through the stages: a known current stage with its entry date."""
    if not fit.stages:
        return np.zeros(len(open_rows), dtype=bool)
    return _stage_entry(open_rows, tuple(fit.stages)).notna().to_numpy()


def _stage_entry(rows: pd.DataFrame, stages: tuple[str, ...]) -> pd.Series:
    """When each row entered its current stage (NaT: not one of ``stages``, or undated)."""
    out = pd.Series(pd.NaT, index=rows.index, dtype="datetime64[ns]")
    for st in stages:
        here = (rows["stage"] == st).to_numpy()
        if here.any():
            out[here] = pd.to_datetime(rows.loc[here, f"stage:{st}"])
    return out


def _stage_paths(
    rows: pd.DataFrame,
    fit: Fit,
    edges: list[pd.Timestamp],
    as_of: pd.Timestamp,
    factor: Array,
    rng: np.random.Generator,
) -> np.ndarray[Any, Any]:
    """Month of the win of each staged open deal in each draw (k: not won in the horizon),
    stepping a day at a time through the stages; shape (r, n)."""
    r, k = factor.shape
    names = list(fit.stages)
    tables = [fit.stages[x] for x in names]
    n = len(rows)
    stage = np.tile(np.array([names.index(x) for x in rows["stage"]]), (r, 1))
    entered = _stage_entry(rows, tuple(names)).reset_index(drop=True)
    age0 = _days(pd.Series(as_of, index=entered.index), entered)
    age = np.tile(np.maximum(age0, 0.0), (r, 1))
    alive = np.ones((r, n), dtype=bool)
    month = np.full((r, n), k)
    total_days = math.ceil((edges[-1] - as_of).total_seconds() / 86400.0)
    day_edges = np.array([(e - as_of).total_seconds() / 86400.0 for e in edges])
    rows_r = np.repeat(np.arange(r)[:, None], n, axis=1)
    last = len(tables) - 1
    now = float(_stamp_days([as_of])[0])
    slip = fit.slip
    if slip > 0:
        day_time = np.asarray(now + np.arange(total_days) + 0.5, dtype=float)
        push_day = pushable(day_time)
        target_day = _quarter_end_index(day_time, edges)
        in_last = stage == last
        held_p = held_probability(tables[last], slip, _calendar_days(entered), np.zeros(n), now)
        held = in_last & (rng.random((r, n)) < held_p[None, :])
        month[held] = _quarter_end_index(now, edges)
        alive &= ~held
    for day in range(total_days):
        m = int(np.searchsorted(day_edges, day + 0.5, side="right")) - 1
        if not alive.any():
            break
        for s_idx, table in enumerate(tables):
            here = alive & (stage == s_idx)
            if not here.any():
                continue
            a = age[here]
            b = np.clip(np.searchsorted(table.edges, a, side="right") - 1, 0, len(table.edges) - 1)
            hf = table.win_rate[b].copy()
            hl = table.loss_rate[b]
            if s_idx == last and m >= 0:
                hf = hf * factor[rows_r[here], m]
            total = hf + hl
            leave = 1.0 - np.exp(-total)
            u = rng.random(len(a))
            with np.errstate(divide="ignore", invalid="ignore"):
                forward = u < leave * np.where(total > 0, hf / total, 0.0)
            lost = (u < leave) & ~forward
            idx = np.flatnonzero(here)
            fwd, gone = idx[forward], idx[lost]
            if s_idx == last:
                month.flat[fwd] = m if m >= 0 else k
                if slip > 0 and push_day[day]:
                    kept = fwd[rng.random(len(fwd)) < slip]
                    month.flat[kept] = target_day[day]
                alive.flat[fwd] = False
            else:
                stage.flat[fwd] = s_idx + 1
                age.flat[fwd] = -1.0  # becomes 0 after this day
            alive.flat[gone] = False
        age += 1.0
    return month


def _pipeline_draws(
    open_rows: pd.DataFrame,
    edges: list[pd.Timestamp],
    as_of: pd.Timestamp,
    fit: Fit,
    factor: Array,
    rng: np.random.Generator,
    has_amounts: bool,
) -> tuple[Array, Array, Array]:
    """Simulated wins and won value of the open deals per draw and month, and how often each
    deal was won in each month (summed over the draws)."""
    r, k = factor.shape
    wins = np.zeros((r, k))
    value = np.zeros((r, k))
    hits = np.zeros((len(open_rows), k))
    if open_rows.empty:
        return wins, value, hits
    amounts = open_rows["amount"].to_numpy(dtype=float)
    staged = _staged(open_rows, fit)
    chunk = max(1, 2_000_000 // max(len(open_rows) * k, 1))
    for lo in range(0, r, chunk):
        f = factor[lo : lo + chunk]
        probs = _pipeline_probs(open_rows, edges, as_of, fit, f)
        cum = np.cumsum(probs, axis=2)
        u = rng.random((len(f), len(open_rows), 1))
        month = (u > cum).sum(axis=2)  # k: not won in the horizon
        if staged.any():
            month[:, staged] = _stage_paths(open_rows[staged], fit, edges, as_of, f, rng)
        for m in range(k):
            hit = month == m
            wins[lo : lo + chunk, m] = hit.sum(axis=1)
            hits[:, m] += hit.sum(axis=0)
            if has_amounts:
                value[lo : lo + chunk, m] = _values(hit, amounts, fit, rng)
    return wins, value, hits


def _values(hit: np.ndarray[Any, Any], amounts: Array, fit: Fit, rng: np.random.Generator) -> Array:
    """Won value per draw: a deal's own amount, else a bootstrap draw of a won deal's."""
    pool = fit.sizes.get("")
    own = np.where(np.isfinite(amounts), amounts, 0.0)
    total = hit @ own
    missing = hit & ~np.isfinite(amounts)[None, :]
    counts = missing.sum(axis=1)
    if pool is not None and counts.any():
        draws = rng.choice(pool, size=int(counts.sum()))
        total += np.add.reduceat(
            np.concatenate([draws, [0.0]]), np.concatenate([[0], np.cumsum(counts)[:-1]])
        )[: len(counts)] * (counts > 0)
    return np.asarray(total, dtype=float)


def _new_probs(
    tables: list[tuple[LifeTable, float]],
    edges: list[pd.Timestamp],
    factor: Array,
    slip: float = 0.0,
) -> Array:
    """Per draw: chance that an opportunity created in month j is won in month k; (r, j, k)."""
    k = len(edges) - 1
    offsets = np.array([(e - edges[0]).total_seconds() / 86400.0 for e in edges])
    r = factor.shape[0]
    out = np.zeros((r, k, k))
    for j in range(k):
        width = offsets[j + 1] - offsets[j]
        created = offsets[j] + (np.arange(CREATION_POINTS) + 0.5) / CREATION_POINTS * width
        ages = offsets[None, :] - created[:, None]  # negative: before it exists
        ages = np.maximum(ages, 0.0)
        for table, weight in tables:
            win, _ = month_win_probabilities(table, ages, factor)
            out[:, j, :] += weight * win.mean(axis=1)
    return slip_months(out, _positions(edges), slip)


def _new_draws(
    data: CrmData,
    frame: pd.DataFrame,
    created: Array,
    edges: list[pd.Timestamp],
    fit: Fit,
    factor: Array,
    rng: np.random.Generator,
) -> tuple[Array, Array]:
    r, k = factor.shape
    created = created.astype(np.int64)
    recent = frame[frame["created"] >= frame["created"].max() - pd.Timedelta(days=91)]
    mix = recent["channel"].value_counts(normalize=True)
    weights: dict[str, float] = {}
    for channel, share in mix.items():
        key = str(channel) if str(channel) in fit.groups else ""
        weights[key] = weights.get(key, 0.0) + float(share)
    tables = [(fit.groups.get(key, fit.pooled), w) for key, w in weights.items()]
    probs = _new_probs(tables, edges, factor, fit.slip)  # (r, j, k)
    wins = np.zeros((r, k))
    value = np.zeros((r, k))
    pool = fit.sizes.get("")
    for j in range(k):
        p = probs[:, j, :]
        full = np.concatenate([p, np.maximum(1.0 - p.sum(axis=1, keepdims=True), 0.0)], axis=1)
        full /= full.sum(axis=1, keepdims=True)
        draw = rng.multinomial(created[:, j].astype(np.int64), full)[:, :k]
        wins += draw
        if data.has_amounts and pool is not None:
            total = int(draw.sum())
            if total:
                amounts = rng.choice(pool, size=total)
                flat = draw.ravel()
                starts = np.concatenate([[0], np.cumsum(flat)[:-1]])
                sums = np.add.reduceat(np.concatenate([amounts, [0.0]]), starts)[: len(flat)]
                value += (sums * (flat > 0)).reshape(draw.shape)
    return wins, value


def _capacity(frame: pd.DataFrame, as_of: pd.Timestamp) -> tuple[float, int, float] | None:
    """A ceiling on monthly wins from the owners: the owners with a win in the latest three
    months times the most wins an owner has closed in one month, plus a Poisson allowance
    of two standard deviations (a record month is not a capacity limit: growth and chance
    beat it now and then)."""
    won = frame[(frame["outcome"] == WON) & frame["owner"].notna()]
    if len(won) < MIN_WINS:
        return None
    month = pd.DatetimeIndex(won["closed"]).to_period("M")
    per = won.groupby([won["owner"].to_numpy(), month]).size()
    if per.empty:
        return None
    recent = won[won["closed"] >= as_of - pd.Timedelta(days=91)]
    owners = int(recent["owner"].nunique())
    if owners == 0:
        return None
    best = float(per.max())
    per_owner = best + 2.0 * math.sqrt(best)
    return owners * per_owner, owners, per_owner


def _expected(
    open_rows: pd.DataFrame,
    probs: Array,
    as_of: pd.Timestamp,
    fit: Fit,
    labels: tuple[str, ...],
) -> pd.DataFrame:
    """The open deals with their chance of being won in each month (the share of the draws
    in which they were)."""
    amount = open_rows["amount"].to_numpy(dtype=float)
    pool = fit.sizes.get("")
    typical = float(pool.mean()) if pool is not None else math.nan
    value = np.where(np.isfinite(amount), amount, typical)
    chance = probs.sum(axis=1)
    out = pd.DataFrame(
        {
            "id": open_rows["id"].to_numpy(),
            "created": pd.to_datetime(open_rows["created"]).dt.date.to_numpy(),
            "age_days": np.round(
                _days(pd.Series(as_of, index=open_rows.index), open_rows["created"]), 1
            ),
            "stage": open_rows["stage"].to_numpy(),
            "channel": open_rows["channel"].to_numpy(),
            "segment": open_rows["segment"].to_numpy(),
            "amount": amount,
            "win_chance": chance,
            **{f"win_{m}": probs[:, i] for i, m in enumerate(labels)},
            "expected_value": chance * value,
        }
    )
    return out.sort_values(["win_chance", "expected_value"], ascending=False).reset_index(drop=True)


def _table(
    labels: tuple[str, ...], draws: dict[str, Array], pipe: Array, has_amounts: bool
) -> pd.DataFrame:
    rows = []
    for metric, sims in draws.items():
        if metric == "won_value" and not has_amounts:
            continue
        for k, month in enumerate(labels):
            col = sims[:, k]
            p10, p50, p90 = np.percentile(col, [10, 50, 90])
            row: dict[str, Any] = {
                "metric": metric,
                "month": month,
                "mean": float(col.mean()),
                "p10": float(p10),
                "p50": float(p50),
                "p90": float(p90),
            }
            if metric == "wins":
                row["from_pipeline"] = float(pipe[:, k].mean())
                row["from_new"] = float(col.mean() - pipe[:, k].mean())
            rows.append(row)
    return pd.DataFrame(rows)


def write_forecast(result: Forecast, folder: Path) -> list[Path]:
    """Write ``forecast.csv``, ``expected_to_close.csv`` and ``forecast.xlsx`` (sheets
    forecast, expected_to_close, notes) into ``folder``, as a unit (:func:`sim.io.write_folder`),
    text cells escaped (:func:`sim.io.defuse`)."""
    from sim.io import csv_writer, defuse, write_folder

    notes = pd.DataFrame(
        {"note": [n.text for n in result.notes], "weak": [n.weak for n in result.notes]}
    )

    def workbook(path: Path) -> None:
        with pd.ExcelWriter(path, engine="openpyxl") as xl:
            defuse(result.table).to_excel(xl, sheet_name="forecast", index=False)
            defuse(result.expected).to_excel(xl, sheet_name="expected_to_close", index=False)
            defuse(notes).to_excel(xl, sheet_name="notes", index=False)

    files = {
        "forecast.csv": csv_writer(result.table, index=False),
        "expected_to_close.csv": csv_writer(result.expected, index=False),
        "forecast.xlsx": workbook,
    }
    return write_folder(folder, files)
