"""Validation checks: simulate a scenario, compute its closed form, compare within a CI.

Each check reads the theory's inputs from the scenario itself, runs replications, and
reports the theoretical value, the simulated mean with its 95% confidence interval (Student t
over replications) and a verdict. A check passes when the theory value lies within the
99.9% interval, so a correct model fails one check in a thousand by chance, not one in 20.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from sim.engine.calendar import month_starts
from sim.engine.leads import NON_TARGET
from sim.engine.ledger import Ledger
from sim.engine.staff import DAYS_PER_MONTH
from sim.experiment.runner import run
from sim.scenario import bundled, load_scenario
from sim.scenario.distributions import AnyDistribution, Exponential, Fixed
from sim.scenario.schema import Scenario
from sim.stats import ci_half_width
from sim.validation.chain import funnel_chain
from sim.validation.theory import erlang_a, erlang_c, renewal_survivors

HERE = bundled("validation")
WARM_UP_MONTHS = 1


@dataclass(frozen=True)
class Check:
    """One line of the validation table."""

    check: str
    quantity: str
    expected: float
    simulated: float
    ci95: float
    tolerance: float
    replications: int
    note: str = ""

    @property
    def passed(self) -> bool:
        """Theory within the acceptance interval of the simulated mean."""
        return abs(self.simulated - self.expected) <= self.tolerance


def _interval(values: Sequence[float], level: float) -> float:
    if len(values) < 2:
        return math.inf
    return ci_half_width(values, level)


def _compare(
    check: str,
    quantity: str,
    expected: float,
    values: Sequence[float],
    note: str = "",
    floor: float = 0.0,
) -> Check:
    """Theory against per-replication estimates; ``floor`` widens the tolerance for rounding."""
    return Check(
        check=check,
        quantity=quantity,
        expected=expected,
        simulated=float(np.mean(values)),
        ci95=_interval(values, 0.95),
        tolerance=max(_interval(values, 0.999), floor),
        replications=len(values),
        note=note,
    )


def _ledgers(sc: Scenario, reps: int, seed: int, workers: int | None) -> list[Ledger]:
    results = run(sc, replications=reps, seed=seed, workers=workers, keep_ledgers=True).whole()
    return [r.ledger for r in results.replications if r.ledger is not None]


def _after_warm_up(ledger: Ledger, name: str) -> float:
    return float(ledger.flows[name][WARM_UP_MONTHS:].sum())


def _exponential_rate(dist: AnyDistribution, field: str) -> float:
    if not isinstance(dist, Exponential):
        raise ValueError(f"{field} must be exponential for this check (got {dist!r})")
    return 1.0 / dist.mean


def _poisson_rate_per_day(sc: Scenario) -> float:
    """The arrival rate of a scenario whose channels form one homogeneous Poisson process."""
    starts = month_starts(sc.start_date, sc.horizon_months)
    days = np.diff(starts)
    first = sc.start_date.month - 1
    total = np.array(
        [
            sum(ch.volume(m, (first + m) % 12) for ch in sc.marketing.channels.values())
            for m in range(sc.horizon_months)
        ]
    )
    rates = total / days
    if not np.allclose(rates, rates[0], rtol=1e-9):
        raise ValueError("arrivals are not a homogeneous Poisson process (rate varies by month)")
    return float(rates[0])


def _station(sc: Scenario) -> tuple[float, float, int]:
    is_ = sc.inside_sales
    if is_.calendar != "always" or is_.speed_to_lead is not None or is_.max_attempts != 1:
        raise ValueError("queue checks need calendar: always, no speed_to_lead, one attempt")
    mu = 24 * 60 * _exponential_rate(is_.minutes_per_touch, "inside_sales.minutes_per_touch")
    return _poisson_rate_per_day(sc), mu, is_.headcount


def erlang_c_check(path: Path, reps: int, seed: int, workers: int | None = None) -> list[Check]:
    """Mean wait and P(wait > 0) of an M/M/c inside-sales station against Erlang C."""
    sc = load_scenario(path)
    lam, mu, c = _station(sc)
    theory = erlang_c(lam, mu, c)
    ledgers = _ledgers(sc, reps, seed, workers)
    waits = [_after_warm_up(x, "is_waits") for x in ledgers]
    mean_wait = [
        24 * _after_warm_up(x, "is_wait_days_sum") / n for x, n in zip(ledgers, waits, strict=True)
    ]
    p_wait = [_after_warm_up(x, "is_waited") / n for x, n in zip(ledgers, waits, strict=True)]
    name = f"Erlang C: c={c}, rho={lam / (c * mu):.2f}"
    return [
        _compare(name, "mean wait in queue (h)", 24 * theory.mean_wait, mean_wait),
        _compare(name, "P(wait > 0)", theory.p_wait, p_wait),
    ]


def erlang_a_check(path: Path, reps: int, seed: int, workers: int | None = None) -> list[Check]:
    """Share of leads going cold and mean wait of an M/M/c+M station against Erlang A."""
    sc = load_scenario(path)
    lam, mu, c = _station(sc)
    patience = sc.inside_sales.patience_days
    if patience is None:
        raise ValueError("the Erlang A check needs inside_sales.patience_days")
    theta = _exponential_rate(patience, "inside_sales.patience_days")
    theory = erlang_a(lam, mu, c, theta)
    ledgers = _ledgers(sc, reps, seed, workers)
    left = [_after_warm_up(x, "is_waits") + _after_warm_up(x, "went_cold") for x in ledgers]
    p_cold = [_after_warm_up(x, "went_cold") / n for x, n in zip(ledgers, left, strict=True)]
    wait = [
        24
        * (_after_warm_up(x, "is_wait_days_sum") + _after_warm_up(x, "went_cold_wait_days_sum"))
        / n
        for x, n in zip(ledgers, left, strict=True)
    ]
    name = f"Erlang A: c={c}, offered load {lam / (c * mu):.2f}, patience {24 / theta:.2f} h"
    return [
        _compare(name, "share going cold", theory.p_abandon, p_cold),
        _compare(name, "mean wait, all leads (h)", 24 * theory.mean_wait, wait),
    ]


_QUEUES = {
    "inside sales": (
        "is_queue",
        ("is_wait_days_sum", "went_cold_wait_days_sum"),
        "is_queue_open_wait_days",
    ),
    "field sales": ("fs_queue", ("fs_wait_days_sum",), "fs_queue_open_wait_days"),
    "customer success": ("cs_queue", ("cs_queue_wait_days_sum",), "cs_queue_open_wait_days"),
}


def little_check(path: Path, reps: int, seed: int, workers: int | None = None) -> list[Check]:
    """Little's law L = lambda W on every queue, over the whole horizon of each replication.

    L is the time-average queue length (integrated from the queue's level); lambda W is the
    total time leads spent waiting (their own timestamps, counting waits still open at the
    horizon) over the horizon. The two are measured by different code paths; on a sample
    path that starts empty they must agree exactly, so the tolerance is rounding only.
    """
    sc = load_scenario(path)
    ledgers = _ledgers(sc, reps, seed, workers)
    checks = []
    for team, (area, wait_flows, open_total) in _QUEUES.items():
        length, lam_w = [], []
        for x in ledgers:
            horizon = float(x.month_days.sum())
            length.append(float(x.areas[area].sum()) / horizon)
            waited = sum(float(x.flows[f].sum()) for f in wait_flows) + x.totals[open_total]
            lam_w.append(waited / horizon)
        expected = float(np.mean(length))
        checks.append(
            _compare(
                f"Little's law, {sc.name}",
                f"{team} queue: L vs lambda*W",
                expected,
                lam_w,
                note="L from the level's time integral",
                floor=1e-9 * max(1.0, expected),
            )
        )
    return checks


def _upper(dist: AnyDistribution) -> float:
    """A practical upper bound of a duration (exact for bounded distributions)."""
    if isinstance(dist, Fixed):
        return dist.value
    high = getattr(dist, "high", None)
    if high is not None:
        return float(high)
    values = getattr(dist, "values", None)
    if values is not None:
        return float(max(values))
    return dist.mean + 12 * math.sqrt(dist.var)


def _longest_path_days(sc: Scenario) -> float:
    """How long a lead can take to be absorbed (win, retire, stay in nurture)."""
    is_, fs, rc = sc.inside_sales, sc.field_sales, sc.recycle
    one_pass = max(_upper(ch.follow_up_delay_days) for ch in sc.marketing.channels.values())
    one_pass += is_.max_attempts * (
        _upper(is_.minutes_per_touch) / 1440 + _upper(is_.attempt_interval_days)
    )
    one_pass += max(
        _upper(m.appointment_delay_days) + sum(_upper(p.duration_days) for p in m.phases)
        for m in (fs.for_segment(name) for name in sc.segments)
    )
    rules = [rc.not_now, rc.unreached, rc.rejected, rc.lost, rc.churned]
    # caps are per reason: a lead can recycle up to their sum (churned ones end the path
    # when nobody churns)
    cycles = sum(
        r.max_cycles
        for r in rules
        if r is not rc.churned
        or any(p > 0 for p in sc.per_segment(sc.customer_success.churn_probability))
    )
    return (cycles + 1) * one_pass + cycles * max(_upper(r.pause_days) for r in rules)


def chain_check(path: Path, reps: int, seed: int, workers: int | None = None) -> list[Check]:
    """Eventual win odds and recycle cycles per lead against the absorbing Markov chain.

    When segments have motions of their own (``inside_sales.segments``,
    ``field_sales.segments``), each segment's win odds per target lead is checked too.
    """
    sc = load_scenario(path)
    theory = funnel_chain(sc)
    cutoff = float(month_starts(sc.start_date, sc.horizon_months)[-1]) - _longest_path_days(sc)
    if cutoff <= 0:
        raise ValueError("horizon too short for every lead to finish its path")
    ledgers = _ledgers(sc, reps, seed, workers)
    own = bool(sc.inside_sales.segments or sc.field_sales.segments)
    segments = list(theory.p_win_by_segment) if own else []
    won, cycles = [], []
    won_by: dict[str, list[float]] = {s: [] for s in segments}
    n_channels = len(sc.marketing.channels)
    for x in ledgers:
        lead = x.leads
        eligible = (lead["channel"] < n_channels) & (lead["created_at"] <= cutoff)
        wins = np.isfinite(lead["won_at"])
        won.append(float(wins[eligible].mean()))
        cycles.append(float(lead["cycles"][eligible].mean()))
        target = eligible & (lead["state"] != NON_TARGET)
        for s in segments:
            mine = target & (lead["segment"] == list(sc.segments).index(s))
            won_by[s].append(float(wins[mine].mean()))
    name = f"Markov chain, {sc.name} ({theory.transient_states} states)"
    note = f"leads created in the first {cutoff:.0f} days"
    return [
        _compare(name, "P(lead eventually wins)", theory.p_win, won, note),
        _compare(name, "recycle cycles per lead", theory.expected_cycles, cycles, note),
        *(
            _compare(name, f"P(win), {s} target lead", theory.p_win_by_segment[s], won_by[s], note)
            for s in segments
        ),
    ]


def arrivals_check(path: Path, reps: int, seed: int, workers: int | None = None) -> list[Check]:
    """Monthly counts per channel against the configured mean, growth and seasonality.

    One row per channel compares the horizon total; a last row is the chi-square dispersion
    statistic over every (replication, channel, month) cell, whose expectation under the
    Poisson model is the number of cells.
    """
    sc = load_scenario(path)
    starts = month_starts(sc.start_date, sc.horizon_months)
    first = sc.start_date.month - 1
    ledgers = _ledgers(sc, reps, seed, workers)
    checks = []
    chi2, cells = 0.0, 0
    for c, (name, ch) in enumerate(sc.marketing.channels.items()):
        mean = np.array([ch.volume(m, (first + m) % 12) for m in range(sc.horizon_months)])
        totals = []
        for x in ledgers:
            created = x.leads["created_at"][x.leads["channel"] == c]
            counts = np.histogram(created, bins=starts)[0]
            totals.append(float(counts.sum()))
            positive = mean > 0
            chi2 += float((((counts - mean) ** 2)[positive] / mean[positive]).sum())
            cells += int(positive.sum())
        checks.append(
            _compare(
                "Poisson arrivals", f"{name}: leads over the horizon", float(mean.sum()), totals
            )
        )
    p_value = float(stats.chi2.sf(chi2, cells))
    half = float(stats.chi2.ppf(0.9995, cells) - cells)
    checks.append(
        Check(
            check="Poisson arrivals",
            quantity="chi-square over channel-months",
            expected=float(cells),
            simulated=chi2,
            ci95=float(stats.chi2.ppf(0.975, cells) - cells),
            tolerance=max(half, cells - float(stats.chi2.ppf(0.0005, cells))),
            replications=len(ledgers),
            note=f"p = {p_value:.3f}",
        )
    )
    return checks


def renewals_check(path: Path, reps: int, seed: int, workers: int | None = None) -> list[Check]:
    """Surviving starting customers against the geometric law of constant churn per term."""
    sc = load_scenario(path)
    cs = sc.customer_success
    churn = set(sc.per_segment(cs.churn_probability))
    if len(churn) != 1 or sc.recycle.churned.max_cycles != 0:
        raise ValueError("the renewal check needs one churn probability and churned leads retired")
    p = churn.pop()
    customers = sum(sc.starting_book.customers.values())
    starts = month_starts(sc.start_date, sc.horizon_months)
    term = cs.term_months * DAYS_PER_MONTH
    ledgers = _ledgers(sc, reps, seed, workers)
    checks = []
    for m in sorted({sc.horizon_months // 2 - 1, sc.horizon_months - 1}):
        expected = renewal_survivors(customers, p, term, starts[m + 1])
        values = [float(x.stocks["customers"][m]) for x in ledgers]
        checks.append(
            _compare(
                f"Renewals: p={p:g} per {cs.term_months}-month term",
                f"customers left after {m + 1} months",
                expected,
                values,
            )
        )
    return checks


CheckFunction = Callable[[Path, int, int, "int | None"], list[Check]]

SUITE: list[tuple[CheckFunction, str]] = [
    (erlang_c_check, "erlang_c_1.yaml"),
    (erlang_c_check, "erlang_c_4.yaml"),
    (erlang_c_check, "erlang_c_10.yaml"),
    (erlang_a_check, "erlang_a.yaml"),
    (chain_check, "funnel.yaml"),
    (chain_check, "segment_motions.yaml"),
    (arrivals_check, "arrivals.yaml"),
    (renewals_check, "renewals.yaml"),
]
"""The validation suite: each check with its bundled scenario in ``scenarios/validation``."""


def validate_model(
    reps: int = 10,
    seed: int = 0,
    workers: int | None = None,
    folder: Path = HERE,
    little_scenario: Path | None = None,
    progress: Callable[[str], Any] | None = None,
) -> list[Check]:
    """Run the whole suite; Little's law runs on ``little_scenario`` (default: the base)."""
    checks: list[Check] = []
    for function, name in SUITE:
        if progress:
            progress(name)
        checks += function(folder / name, reps, seed, workers)
    little = little_scenario or folder.parent / "base.yaml"
    if progress:
        progress(little.name)
    checks += little_check(little, max(2, reps // 4), seed, workers)
    return checks
