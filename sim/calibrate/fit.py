"""Fitting a scenario's numbers to CRM data: what each comes from and how sure it is.

The funnel the data can see is mapped onto the model this way (see :mod:`sim.calibrate`):

- **arrivals**: leads per channel per calendar month, a Poisson log-linear fit (quasi-Poisson
  standard errors) over the last complete months: level at the first simulated month, monthly
  growth (kept only if its 95% CI excludes 0), and a seasonality shared by the channels when
  at least two years of complete months show one;
- **conversion and time**: a censored mixture-cure fit (:func:`~sim.calibrate.survival.
  fit_cure_model`) of each step from creation through the recorded stages to the win, with
  conversion per channel on the first step when a likelihood-ratio test supports it;
- **teams**: reps active per month, counted from the owner ids of deals won that month;
- **open pipeline**: the expected later wins of the leads open at the start date;
- **deal size**: a log-normal fitted to the positive amounts of won deals.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from sim.calibrate.columns import CrmData
from sim.calibrate.report import PARTIAL_MONTH, CrmError, Report
from sim.calibrate.survival import (
    Z95,
    CureFit,
    FitError,
    Interval,
    fit_cure_model,
    kaplan_meier,
    likelihood_ratio_pvalue,
    lognormal_cdf,
)
from sim.errors import Problem
from sim.scenario.schema import DAYS_PER_MONTH, add_months

Array = np.ndarray[Any, np.dtype[np.float64]]

DAY = pd.Timedelta(days=1)
MIN_EVENT_DAYS = 1.0 / 1440.0
"""Conversions recorded at age 0 (same minute, or clamped) are placed one minute in."""
SEASON_MONTHS = 24
"""Complete months needed before a seasonality is fitted (two cycles)."""
SIGNIFICANCE = 0.05
OTHER = "other channels"
HEADCOUNT_MONTHS = 3
"""Reps are counted over the last this many months before the start."""
LEVEL_MONTHS = 3
"""Without a significant growth, the volume is the mean of the latest this many months."""
PIPELINE_DRAWS = 100
"""Parameter draws that put a CI on the open pipeline's expected wins."""
KM_CHECKPOINTS = (7, 14, 30, 60, 90, 180, 365)
MIN_AT_RISK = 50


# -- results --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Volume:
    """Arrivals of one channel.

    Attributes
    ----------
    level
        Expected leads in the first simulated month (before seasonality), with its 95% CI.
    growth
        Fitted compound monthly growth with its 95% CI (``None`` without enough months).
    growth_used
        Whether the growth is written (its CI excludes 0).
    months, counts
        The complete months fitted and their lead counts.
    dispersion
        Quasi-Poisson dispersion (variance / mean) of the monthly counts, at least 1.
    """

    level: Interval
    growth: Interval | None
    growth_used: bool
    months: tuple[str, ...]
    counts: tuple[int, ...]
    dispersion: float


@dataclass(frozen=True)
class ChannelFit:
    """Everything fitted for one channel.

    Attributes
    ----------
    replay
        Exact monthly counts to replay instead of the fitted volume (back-test), or None.
    """

    name: str
    leads: int
    wins: int
    volume: Volume
    conversion: Interval
    conversion_source: str
    replay: tuple[int, ...] | None = None


@dataclass(frozen=True)
class KmCheck:
    """The model against the Kaplan-Meier estimate at one age, on fully watched leads."""

    days: float
    at_risk: int
    km: float
    km_se: float
    model: float


@dataclass(frozen=True)
class Transition:
    """One step of the funnel (creation or a stage, to the next stage or the win).

    Attributes
    ----------
    name
        ``<from>_to_<to>``: the field-sales phase it becomes.
    advance
        Conversion of the step (None for the first step, whose conversion is per channel).
    fit
        The mixture-cure fit.
    checks
        Kaplan-Meier checks (first step only).
    """

    name: str
    advance: Interval | None
    fit: CureFit
    checks: tuple[KmCheck, ...] = ()


@dataclass(frozen=True)
class Team:
    """Reps of one team active per month (with a won deal that month); ``column`` is the
    owner-id column of the deals file they were counted from."""

    name: str
    column: str
    monthly: tuple[tuple[str, int], ...]
    headcount: int
    source: str


@dataclass(frozen=True)
class Pipeline:
    """Leads open at the start date and their expected later wins.

    Attributes
    ----------
    open_leads
        Leads created before the start and not won by then. Recorded losses count among them:
        the fit treats a loss as "no conversion yet" (see :mod:`sim.calibrate.survival`), so
        the expected total is unbiased though each lead's own odds are not.
    expected_wins
        Their expected later wins under the fit, with a 95% CI.
    by_month
        Expected pipeline wins in each simulated month under the fit (each lead's remaining
        time given its age).
    opportunities, entries
        How the scenario carries them: starting open opportunities, and expected entries per
        month of the open-pipeline channel (see :func:`_split_pipeline`).
    written_by_month
        Expected pipeline wins per month of what is written (matches ``by_month`` closely).
    """

    open_leads: int
    expected_wins: Interval
    by_month: tuple[float, ...]
    opportunities: int
    entries: tuple[float, ...]
    written_by_month: tuple[float, ...]


@dataclass(frozen=True)
class DealSize:
    """Log-normal deal size (annual value) of won deals with a positive amount."""

    mean: Interval
    sd: float
    n: int
    of_wins: int


@dataclass(frozen=True)
class Calibration:
    """A scenario's numbers fitted to CRM data, with where each came from.

    Built by :func:`calibrate`; written as YAML by :func:`sim.calibrate.writer.scenario_yaml`.
    """

    name: str
    start: dt.date
    horizon_months: int
    data: CrmData
    channels: tuple[ChannelFit, ...]
    grouped: bool
    grouping_pvalue: float
    pooled: Interval
    transitions: tuple[Transition, ...]
    teams: dict[str, Team]
    fs_slots_per_rep: int
    fs_slots_source: str
    pipeline: Pipeline
    deal_size: DealSize | None
    seasonality: tuple[float, ...] | None
    seasonality_source: str
    volume_months: tuple[str, ...]
    report: Report = field(default_factory=Report)


# -- helpers --------------------------------------------------------------------------------


def _days(delta: pd.Series) -> Array:
    return np.asarray(delta.dt.total_seconds().to_numpy(dtype=float) / 86400.0, dtype=float)


def _month_index(months: pd.PeriodIndex, start: pd.Period) -> Array:
    return np.array([(m - start).n for m in months], dtype=float)


def _poisson_glm(x: Array, y: Array, offset: Array) -> tuple[Array, Array, float, float]:
    """Poisson log-linear fit by Newton steps: coefficients, quasi-Poisson covariance,
    dispersion (at least 1) and deviance."""
    beta = np.zeros(x.shape[1])
    beta[0] = math.log(max(float(np.mean(y * np.exp(-offset))), 1e-9))
    hess = np.eye(x.shape[1])
    for _ in range(100):
        mu = np.exp(x @ beta + offset)
        hess = x.T @ (x * mu[:, None])
        step = np.linalg.solve(hess, x.T @ (y - mu))
        beta = beta + step
        if np.max(np.abs(step)) < 1e-10:
            break
    mu = np.exp(x @ beta + offset)
    n, k = x.shape
    dispersion = max(1.0, float(np.sum((y - mu) ** 2 / mu)) / (n - k)) if n > k else 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        dev = 2.0 * float(np.sum(np.where(y > 0, y * np.log(y / mu), 0.0) - (y - mu)))
    return beta, np.linalg.inv(hess) * dispersion, dispersion, dev


def complete_months(data: CrmData) -> pd.PeriodIndex:
    """The calendar months the leads file covers in full."""
    first = data.leads["created"].min().normalize()
    first_month = first.to_period("M") + (0 if first.day == 1 else 1)
    last = data.leads_to
    last_month = last.to_period("M") - (0 if (last + DAY).day == 1 else 1)
    return pd.period_range(first_month, last_month, freq="M")


# -- the fit --------------------------------------------------------------------------------


def calibrate(
    data: CrmData,
    *,
    name: str = "calibrated",
    start: dt.date | None = None,
    horizon_months: int = 12,
    trend_months: int = 6,
    min_channel_wins: int = 10,
    seed: int = 0,
) -> Calibration:
    """Fit a scenario's numbers to CRM data.

    Parameters
    ----------
    data
        From :func:`~sim.calibrate.columns.read_crm` (or its :meth:`~CrmData.cut`).
    name
        Scenario name.
    start
        First simulated month (default: the month after the last complete month of leads).
    horizon_months
        Months to simulate.
    trend_months
        Complete months (the latest) over which volumes and growth are fitted.
    min_channel_wins
        Channels with fewer wins share one conversion (``other channels``).
    seed
        Seed of the draws that put a CI on the open pipeline.

    Returns
    -------
    Calibration

    Raises
    ------
    sim.calibrate.report.CrmError
        If the data cannot support a fit (no complete month of leads, too few wins).
    """
    return _Fitter(data, name, start, horizon_months, trend_months, min_channel_wins, seed).run()


class _Fitter:
    def __init__(
        self,
        data: CrmData,
        name: str,
        start: dt.date | None,
        horizon_months: int,
        trend_months: int,
        min_channel_wins: int,
        seed: int,
    ) -> None:
        self.data = data
        self.name = name
        self.horizon = horizon_months
        self.trend_months = trend_months
        self.min_wins = min_channel_wins
        self.rng = np.random.default_rng(seed)
        self.report = Report(
            warnings=list(data.report.warnings),
            kinds=list(data.report.kinds),
            counts=data.report.counts.copy(),
            notes=list(data.report.notes),
        )
        self.months = complete_months(data)
        if len(self.months) == 0:
            self._fail(
                "the leads cover no complete calendar month "
                f"({data.leads['created'].min():%Y-%m-%d} to {data.leads_to:%Y-%m-%d}): "
                "volumes cannot be fitted"
            )
        self.start = pd.Period(start, freq="M") if start is not None else self.months[-1] + 1
        self._group: dict[str, str] = {}
        partial = ~data.leads["created"].dt.to_period("M").isin(self.months)
        if partial.any():
            self.report.counts[PARTIAL_MONTH] = int(partial.sum())

    def _fail(self, message: str) -> None:
        raise CrmError([Problem(message, file=self.data.files[0])])

    def run(self) -> Calibration:
        data = self.data
        if not data.leads["won"].notna().any():
            self._fail("no won deal: conversion and time to win cannot be fitted")
        first, checks, grouped, pvalue, pooled = self._first_step()
        transitions = [
            Transition(first.fit_name, None, first.fit, checks),
            *self._later_steps(),
        ]
        seasonality, season_source = self._seasonality()
        channels = self._channels(first.fit, grouped, seasonality)
        teams = self._teams()
        pipeline = self._pipeline(first.fit, transitions)
        slots, slot_source = self._fs_slots(channels, transitions, pipeline, teams)
        start = self.start.to_timestamp().date()
        return Calibration(
            name=self.name,
            start=start,
            horizon_months=self.horizon,
            data=data,
            channels=channels,
            grouped=grouped,
            grouping_pvalue=pvalue,
            pooled=pooled,
            transitions=tuple(transitions),
            teams=teams,
            fs_slots_per_rep=slots,
            fs_slots_source=slot_source,
            pipeline=pipeline,
            deal_size=self._deal_size(),
            seasonality=seasonality,
            seasonality_source=season_source,
            volume_months=tuple(str(m) for m in self._window()),
            report=self.report,
        )

    # -- conversion and time ----------------------------------------------------------------
    def _step_dates(self) -> list[tuple[str, pd.Series]]:
        """(name, date) of creation, each stage, and the win, in funnel order."""
        leads = self.data.leads
        steps = [("lead", leads["created"])]
        steps += [(s, leads[f"stage:{s}"]) for s in self.data.stages]
        steps.append(("win", leads["won"]))
        return steps

    def _first_step(self) -> tuple[_Step, tuple[KmCheck, ...], bool, float, Interval]:
        data = self.data
        leads = data.leads
        steps = self._step_dates()
        (_, created), (to_name, reached) = steps[0], steps[1]
        # a win with a missing intermediate stage date cannot be placed on this step
        unplaced = reached.isna() & leads["won"].notna()
        use = ~unplaced
        if unplaced.any():
            self.report.note(
                f"{int(unplaced.sum())} won leads lack a {to_name} date: left out of the "
                f"lead_to_{to_name} fit"
            )
        event = reached.notna() & use
        end = reached.where(event, data.as_of)
        t = np.maximum(_days(end - created), MIN_EVENT_DAYS)[use.to_numpy()]
        ev = event.to_numpy()[use.to_numpy()]
        watch = np.maximum(0.0, _days(data.deals_from - created))[use.to_numpy()]
        channel = leads["channel"].to_numpy(dtype=object)[use.to_numpy()]
        wins = pd.Series(ev).groupby(channel).sum()
        big = {str(c) for c, n in wins.items() if n >= self.min_wins}
        group = np.array([c if c in big else OTHER for c in channel], dtype=object)
        try:
            pooled_fit = fit_cure_model(t, ev, watched_from=watch)
            grouped_fit = (
                fit_cure_model(t, ev, groups=group.tolist(), watched_from=watch)
                if len(set(group.tolist())) > 1
                else pooled_fit
            )
        except FitError as err:
            self._fail(f"lead_to_{to_name}: {err}")
            raise  # pragma: no cover - _fail raises
        pvalue = likelihood_ratio_pvalue(pooled_fit, grouped_fit)
        grouped = grouped_fit is not pooled_fit and pvalue < SIGNIFICANCE
        fit = grouped_fit if grouped else pooled_fit
        self.report.note(
            f"conversion by channel: likelihood-ratio p = {pvalue:.3g} against one pooled "
            f"conversion: {'per channel' if grouped else 'pooled'}"
            + (f" (channels with fewer than {self.min_wins} wins share one)" if grouped else "")
        )
        self._group = {
            c: (c if grouped and c in big else OTHER if grouped else "all")
            for c in set(channel.tolist())
        }
        checks = self._km_checks(fit, t, ev, watch, group if grouped else None)
        step = _Step(f"lead_to_{to_name}", fit)
        return step, checks, grouped, pvalue, pooled_fit.conversion[0]

    def _km_checks(
        self,
        fit: CureFit,
        t: Array,
        ev: np.ndarray[Any, Any],
        watch: Array,
        group: np.ndarray[Any, Any] | None,
    ) -> tuple[KmCheck, ...]:
        """Compare with Kaplan-Meier on the leads watched from creation (no blind window)."""
        full = watch <= 0
        if full.sum() == 0 or not ev[full].any():
            return ()
        km = kaplan_meier(t[full], ev[full])
        p = (
            np.array([fit.p(g) for g in group[full]])
            if group is not None
            else np.full(int(full.sum()), fit.conversion[0].value)
        )
        out = []
        for days in KM_CHECKPOINTS:
            at_risk = int((t[full] >= days).sum())
            if at_risk < MIN_AT_RISK:
                break
            model = float(np.mean(p) * lognormal_cdf(np.array([days]), fit.mu, fit.sigma)[0])
            out.append(KmCheck(days, at_risk, float(km.at(days)), float(km.se_at(days)), model))
        return tuple(out)

    def _later_steps(self) -> list[Transition]:
        data = self.data
        leads = data.leads
        steps = self._step_dates()
        out = []
        for (a_name, a), (b_name, b) in itertools.pairwise(steps[1:]):
            reached = a.notna()
            if len(steps) > 3 and b_name != "win":
                reached &= ~(b.isna() & leads["won"].notna())
            event = b.notna() & reached
            end = b.where(event, data.as_of)
            t = np.maximum(_days(end - a), MIN_EVENT_DAYS)[reached.to_numpy()]
            ev = event.to_numpy()[reached.to_numpy()]
            try:
                fit = fit_cure_model(t, ev)
            except FitError as err:
                self._fail(f"{a_name}_to_{b_name}: {err}")
                raise  # pragma: no cover - _fail raises
            out.append(Transition(f"{a_name}_to_{b_name}", fit.conversion[0], fit))
        return out

    # -- arrivals -------------------------------------------------------------------------
    def _window(self) -> pd.PeriodIndex:
        return self.months[-self.trend_months :]

    def _monthly_counts(self, months: pd.PeriodIndex) -> pd.DataFrame:
        leads = self.data.leads
        period = leads["created"].dt.to_period("M")
        inside = period.isin(months)
        table = pd.crosstab(period[inside], leads["channel"][inside])
        return table.reindex(index=months, columns=list(self.data.channels), fill_value=0)

    def _seasonality(self) -> tuple[tuple[float, ...] | None, str]:
        n = len(self.months)
        if n < SEASON_MONTHS:
            return None, (
                f"flat: {n} complete months of leads; {SEASON_MONTHS} (two cycles) are needed "
                "to tell a season from a trend"
            )
        counts = self._monthly_counts(self.months).sum(axis=1).to_numpy(dtype=float)
        m = _month_index(self.months, self.start)
        cal = np.array([p.month for p in self.months])
        trend = np.column_stack([np.ones(n), m])
        dummies = np.column_stack([(cal == c).astype(float) for c in range(2, 13)])
        full = np.column_stack([trend, dummies])
        zero = np.zeros(n)
        _, _, _, dev0 = _poisson_glm(trend, counts, zero)
        beta, _, phi, dev1 = _poisson_glm(full, counts, zero)
        f_stat = (dev0 - dev1) / 11 / phi
        pvalue = float(stats.f.sf(f_stat, 11, n - 13)) if n > 13 else 1.0
        if pvalue >= SIGNIFICANCE:
            return None, (
                f"flat: no significant seasonality in {n} complete months (quasi-F test "
                f"p = {pvalue:.3g})"
            )
        gamma = np.concatenate([[0.0], beta[2:]])
        factors = np.exp(gamma) / np.mean(np.exp(gamma))
        return tuple(float(f) for f in factors), (
            f"FITTED on the total leads of {n} complete months (quasi-F test p = {pvalue:.3g}), "
            "shared by every channel"
        )

    def _channels(
        self, fit: CureFit, grouped: bool, seasonality: tuple[float, ...] | None
    ) -> tuple[ChannelFit, ...]:
        window = self._window()
        table = self._monthly_counts(window)
        m = _month_index(window, self.start)
        season = (
            np.ones(len(window))
            if seasonality is None
            else np.array([seasonality[p.month - 1] for p in window])
        )
        leads = self.data.leads
        out = []
        for name in self.data.channels:
            counts = table[name].to_numpy(dtype=float)
            volume = _volume(counts, m, np.log(season), window)
            if volume.growth_used and volume.growth is not None:
                factor = (1 + volume.growth.value) ** (self.horizon - 1)
                if not 0.5 <= factor <= 2:
                    self.report.note(
                        f"check: channel {name!r} grows {volume.growth.value:+.1%} a month "
                        f"(95% CI {volume.growth.low:+.1%} to {volume.growth.high:+.1%}), x"
                        f"{factor:.3g} over {self.horizon} months; a longer --trend-months or "
                        "editing growth_per_month may suit a long horizon better"
                    )
            rows = leads["channel"] == name
            group = self._group.get(name, OTHER if grouped else "all")
            conversion = fit.conversion[fit.groups.index(group)]
            source = (
                "its own leads"
                if group == name
                else "pooled over all channels"
                if group == "all"
                else f"the leads of all channels with fewer than {self.min_wins} wins"
            )
            out.append(
                ChannelFit(
                    name=name,
                    leads=int(rows.sum()),
                    wins=int(leads.loc[rows, "won"].notna().sum()),
                    volume=volume,
                    conversion=conversion,
                    conversion_source=source,
                )
            )
        return tuple(out)

    # -- teams ----------------------------------------------------------------------------
    def _teams(self) -> dict[str, Team]:
        data = self.data
        leads = data.leads
        won = leads[leads["won"].notna()]
        month = won["won"].dt.to_period("M")
        recent = pd.period_range(self.start - HEADCOUNT_MONTHS, self.start - 1, freq="M")
        out = {}
        for team, source in data.teams.items():
            active = won.groupby(month)[f"owner_{team}"].nunique()
            monthly = tuple((str(p), int(n)) for p, n in active.items())
            in_recent = [int(active.get(p, 0)) for p in recent]
            headcount = max(max(in_recent, default=0), 1)
            out[team] = Team(
                name=team,
                column=source,
                monthly=monthly,
                headcount=headcount,
                source=(
                    "FITTED: most distinct owner ids with a won deal in one month of "
                    + ", ".join(f"{p}: {n}" for p, n in zip(recent, in_recent, strict=True))
                    + " (reps without a win that month are not seen: a lower bound)"
                ),
            )
        return out

    # -- open pipeline --------------------------------------------------------------------
    def _pipeline(self, first: CureFit, transitions: list[Transition]) -> Pipeline:
        data = self.data
        leads = data.leads
        start = self.start.to_timestamp()
        before = leads["created"] < start
        won_before = leads["won"] < start
        open_ = before & ~won_before
        table = leads[open_]
        steps = self._step_dates()
        # which step each open lead is on: after the last stage reached before the start
        step = np.zeros(len(table), dtype=int)
        since = table["created"].copy()
        for j, (_, dates) in enumerate(steps[1:-1], start=1):
            d = dates[open_]
            hit = (d < start).to_numpy()
            step[hit] = j
            since[hit] = d[hit]
        age = _days(start - since)
        watch = np.where(step == 0, np.maximum(0.0, _days(data.deals_from - table["created"])), 0)
        first_groups = transitions[0].fit.groups
        group = np.array(
            [first_groups.index(self._group.get(c, OTHER)) for c in table["channel"]], dtype=int
        )
        advance = [1.0] + [t.advance.value for t in transitions[1:] if t.advance is not None]
        later = [float(np.prod(advance[j + 1 :])) for j in range(len(advance))]

        def expected(params: Array | None) -> Array:
            """P(win later) of each open lead under the fitted (or drawn) parameters."""
            pi = np.zeros(len(table))
            for j, tr in enumerate(transitions):
                on = step == j
                if not on.any():
                    continue
                p_map, mu, sigma = _params(tr.fit, params if j == 0 else None)
                odds = np.array([p_map[g] for g in tr.fit.groups])
                p = odds[group[on]] if j == 0 else np.full(int(on.sum()), odds[0])
                f_age = lognormal_cdf(age[on], mu, sigma)
                f_watch = lognormal_cdf(watch[on], mu, sigma)
                pi[on] = p * (1 - f_age) / (1 - p * (f_age - f_watch)) * later[j]
            return pi

        pi = expected(None)
        total = float(pi.sum())
        draws = first.draw_params(self.rng, PIPELINE_DRAWS)
        spread = np.array([expected(d).sum() for d in draws])
        sd = math.sqrt(float(np.var(spread)) + float(np.sum(pi * (1 - pi))))
        edges = np.array(
            [(add_months(start.date(), m) - start.date()).days for m in range(self.horizon + 1)],
            dtype=float,
        )
        fits = [t.fit for t in transitions]
        by_month = _remaining_wins(self.rng, fits, step, age, pi, edges)
        opportunities, entries, written = _split_pipeline(
            self.rng, fits, advance, np.array(by_month), edges
        )
        return Pipeline(
            open_leads=len(table),
            expected_wins=Interval(total, max(0.0, total - Z95 * sd), total + Z95 * sd),
            by_month=by_month,
            opportunities=opportunities,
            entries=entries,
            written_by_month=written,
        )

    def _fs_slots(
        self,
        channels: tuple[ChannelFit, ...],
        transitions: list[Transition],
        pipeline: Pipeline,
        teams: dict[str, Team],
    ) -> tuple[int, str]:
        """Open-opportunity slots per AE that never bind (the data shows no capacity)."""
        qualified = sum(
            c.volume.level.value
            * (1 + (c.volume.growth.value if c.volume.growth_used and c.volume.growth else 0))
            ** self.horizon
            * c.conversion.value
            for c in channels
        )
        horizon_days = self.horizon * DAYS_PER_MONTH
        grid = np.linspace(0.0, horizon_days, 2001)
        occupied = 0.0
        for tr in transitions:  # expected days an opportunity spends open, within the horizon
            stay = 1.0 - lognormal_cdf(grid, tr.fit.mu, tr.fit.sigma)
            occupied += float(np.trapezoid(stay, grid))
        peak = pipeline.opportunities + sum(pipeline.entries)
        peak += qualified / DAYS_PER_MONTH * occupied
        reps = teams["field_sales"].headcount if "field_sales" in teams else 1
        busiest = self._busiest_rep()
        slots = max(math.ceil(1.5 * peak / reps), busiest, 1)
        return slots, (
            f"ASSUMED not to bind (the data records no capacity): 1.5x the most opportunities "
            f"the fit expects open at once (~{peak:,.0f}) over {reps} reps"
            + (f"; the busiest rep had {busiest} eventual wins open at once" if busiest else "")
        )

    def _busiest_rep(self) -> int:
        leads = self.data.leads
        if "field_sales" not in self.data.teams:
            return 0
        won = leads[leads["won"].notna() & leads["owner_field_sales"].notna()]
        best = 0
        for _, deals in won.groupby("owner_field_sales"):
            events = np.concatenate(
                [
                    deals["created"].to_numpy(dtype="datetime64[ns]"),
                    deals["won"].to_numpy(dtype="datetime64[ns]"),
                ]
            )
            step = np.concatenate([np.ones(len(deals)), -np.ones(len(deals))])
            order = np.lexsort((step, events))  # a win leaves before a same-time arrival
            best = max(best, int(np.max(np.cumsum(step[order]))))
        return best

    # -- deal size ------------------------------------------------------------------------
    def _deal_size(self) -> DealSize | None:
        leads = self.data.leads
        won = leads["won"].notna()
        amounts = leads.loc[won, "amount"].dropna().to_numpy(dtype=float)
        if len(amounts) < 5:
            if self.data.has_amounts:
                self.report.note(
                    f"only {len(amounts)} won deals have an amount: deal size not fitted"
                )
            return None
        logs = np.log(amounts)
        n = len(logs)
        mu, sigma = float(np.mean(logs)), float(np.std(logs, ddof=1))
        log_mean = mu + sigma**2 / 2
        se = math.sqrt(sigma**2 / n + sigma**4 / (2 * (n - 1)))
        mean = math.exp(log_mean)
        return DealSize(
            mean=Interval(mean, math.exp(log_mean - Z95 * se), math.exp(log_mean + Z95 * se)),
            sd=mean * math.sqrt(math.expm1(sigma**2)),
            n=n,
            of_wins=int(won.sum()),
        )


@dataclass(frozen=True)
class _Step:
    fit_name: str
    fit: CureFit


def _quantile(dispersion: float, df: int) -> float:
    """97.5% quantile for a quasi-Poisson CI: Student t when the dispersion was estimated."""
    return float(stats.t.ppf(0.975, df)) if dispersion > 1 and df > 0 else Z95


def _volume(counts: Array, m: Array, log_season: Array, months: pd.PeriodIndex) -> Volume:
    """Level at month index 0 and growth of one channel's monthly counts.

    With a significant growth, the level is the trend's value at month 0; without, it is the
    mean of the latest :data:`LEVEL_MONTHS` months (a level shift earlier in the window does
    not drag it down), with the dispersion of the trend fit.
    """
    labels = tuple(str(p) for p in months)
    ints = tuple(int(c) for c in counts)
    n = len(counts)
    if counts.sum() == 0:
        return Volume(Interval(0.0, 0.0, 0.0), None, False, labels, ints, 1.0)
    growth: Interval | None = None
    phi, df = 1.0, 0
    if n >= 3:
        x = np.column_stack([np.ones(n), m])
        beta, cov, phi, _ = _poisson_glm(x, counts, log_season)
        df = n - 2
        q = _quantile(phi, df)
        se = math.sqrt(cov[1, 1])
        growth = Interval(
            math.expm1(beta[1]), math.expm1(beta[1] - q * se), math.expm1(beta[1] + q * se)
        )
        if growth.low > 0 or growth.high < 0:
            se0 = math.sqrt(cov[0, 0])
            level = Interval(
                math.exp(beta[0]), math.exp(beta[0] - q * se0), math.exp(beta[0] + q * se0)
            )
            return Volume(level, growth, True, labels, ints, phi)
    recent = slice(max(0, n - LEVEL_MONTHS), n)
    k = recent.stop - recent.start
    base, _, phi_recent, _ = _poisson_glm(np.ones((k, 1)), counts[recent], log_season[recent])
    if df == 0:
        phi, df = phi_recent, k - 1
    q = _quantile(phi, df)
    se0 = math.sqrt(phi / float(np.sum(np.exp(base[0] + log_season[recent]))))
    level = Interval(math.exp(base[0]), math.exp(base[0] - q * se0), math.exp(base[0] + q * se0))
    return Volume(level, growth, False, labels, ints, phi)


def _params(fit: CureFit, params: Array | None) -> tuple[dict[str, float], float, float]:
    """Conversion per group, mu and sigma: fitted, or from a drawn parameter vector."""
    if params is not None:
        return fit.unpack(params)
    conversion = {g: c.value for g, c in zip(fit.groups, fit.conversion, strict=True)}
    return conversion, fit.mu, fit.sigma


def _lognormal_after(rng: np.random.Generator, mu: float, sigma: float, after: Array) -> Array:
    """A draw of T - a given T > a, for each age a, with log T ~ N(mu, sigma^2)."""
    low = lognormal_cdf(after, mu, sigma)
    u = np.minimum(low + (1 - low) * rng.random(len(after)), 1 - 1e-12)
    return np.asarray(np.exp(mu + sigma * special.ndtri(u)) - after, dtype=float)


_DRAWS = 20
"""Remaining-time draws per open lead, for the month-by-month pipeline."""


def _remaining_wins(
    rng: np.random.Generator,
    fits: list[CureFit],
    step: np.ndarray[Any, Any],
    age: Array,
    weight: Array,
    edges: Array,
) -> tuple[float, ...]:
    """Expected wins per month of open leads: their remaining time given their age on the
    current step, then the later steps' times, weighted by their odds of winning."""
    total = np.zeros(len(edges) - 1)
    if len(age) == 0:
        return tuple(total.tolist())
    ages = np.repeat(age, _DRAWS)
    steps = np.repeat(step, _DRAWS)
    left = np.zeros(len(ages))
    for j, fit in enumerate(fits):
        on = steps == j
        left[on] += _lognormal_after(rng, fit.mu, fit.sigma, ages[on])
        after = steps < j
        left[after] += rng.lognormal(fit.mu, fit.sigma, int(after.sum()))
    month = np.searchsorted(edges, left, side="right") - 1
    inside = (month >= 0) & (month < len(total))
    np.add.at(total, month[inside], np.repeat(weight, _DRAWS)[inside] / _DRAWS)
    return tuple(float(x) for x in total)


def _path_times(
    rng: np.random.Generator, fits: list[CureFit], draws: int, first_share: bool
) -> Array:
    """Draws of the time through every phase; the first phase's time is scaled by a uniform
    share when ``first_share`` (an opportunity started part-way, the engine's rule)."""
    left = np.zeros(draws)
    for j, fit in enumerate(fits):
        times = rng.lognormal(fit.mu, fit.sigma, draws)
        left += times * rng.random(draws) if first_share and j == 0 else times
    return left


def _month_shares(times: Array, edges: Array) -> Array:
    """Share of ``times`` (days from the start) falling in each simulated month."""
    month = np.searchsorted(edges, times, side="right") - 1
    inside = (month >= 0) & (month < len(edges) - 1)
    counts = np.bincount(month[inside], minlength=len(edges) - 1)[: len(edges) - 1]
    return np.asarray(counts / len(times), dtype=float)


def _split_pipeline(
    rng: np.random.Generator,
    fits: list[CureFit],
    advance: list[float],
    target: Array,
    edges: Array,
) -> tuple[int, tuple[float, ...], tuple[float, ...]]:
    """Carry the open pipeline so that its simulated wins per month match ``target``.

    The engine can start an open opportunity only part-way through a fresh duration (a
    uniform share of its phase's drawn time left, then the later phases), which closes a
    long-tailed pipeline too early. A lead entering through a channel, on the other hand, takes
    a fresh full duration. A non-negative least-squares fit of the monthly wins finds how many
    of each: starting opportunities, and channel entries in each month.

    Returns
    -------
    tuple
        Starting opportunities, expected entries per month, and the wins per month they give.
    """
    months = len(edges) - 1
    draws = 40000
    design = np.zeros((months, months + 1))
    # the engine spreads starting opportunities evenly over the phases; one in phase j wins
    # with the odds of advancing through phase j and every later one
    for j in range(len(fits)):
        times = _path_times(rng, fits[j:], draws, first_share=True)
        design[:, 0] += _month_shares(times, edges) * math.prod(advance[j:]) / len(fits)
    path = _path_times(rng, fits, draws, first_share=False)
    for m in range(months):
        arrival = rng.uniform(edges[m], edges[m + 1], draws)
        design[:, m + 1] = _month_shares(arrival + path, edges) * math.prod(advance)
    weights, _ = optimize.nnls(design, target)
    opportunities = round(float(weights[0]))
    entries = tuple(round(float(w), 2) for w in weights[1:])
    written = design @ np.concatenate([[opportunities], entries])
    return opportunities, entries, tuple(float(x) for x in written)
