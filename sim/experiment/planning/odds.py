"""Odds from replications: exact intervals for a probability and a quantile, and the ARR a
plan reaches with given odds (:func:`arr_at_confidence`).

:func:`arr_at_confidence` answers the inverse of the search: with this plan, what ARR do we
reach by the target month with the given odds? It is the ``1 - confidence`` quantile of ARR,
with a distribution-free confidence interval from order statistics.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from sim.experiment.executors import ExecutorLike, make_executor
from sim.experiment.planning.running import _Simulator, cut_at
from sim.experiment.planning.space import HiringPlan, _problem, month_label, target_month
from sim.experiment.planning.store import _Store
from sim.experiment.runner import Progress
from sim.scenario.schema import Scenario

# --------------------------------------------------------------------------- estimates


@dataclass(frozen=True)
class Estimate:
    """A probability estimated from ``successes`` of ``n`` replications, with its exact
    (Clopper-Pearson) confidence interval at ``level``."""

    successes: int
    n: int
    low: float
    high: float
    level: float

    @property
    def p(self) -> float:
        """The share of replications that reached the target."""
        return self.successes / self.n if self.n else math.nan


def estimate(successes: int, n: int, level: float = 0.95) -> Estimate:
    """Clopper-Pearson interval for a binomial proportion (``[0, 1]`` when ``n == 0``)."""
    if n == 0:
        return Estimate(0, 0, 0.0, 1.0, level)
    alpha = 1.0 - level
    k = successes
    low = 0.0 if k == 0 else float(stats.beta.ppf(alpha / 2, k, n - k + 1))
    high = (
        1.0
        if successes == n
        else float(stats.beta.ppf(1 - alpha / 2, successes + 1, n - successes))
    )
    return Estimate(successes, n, low, high, level)


def chance_to_settle(successes: int, n: int, most: int, confidence: float, level: float) -> float:
    """The chance that a plan with ``successes`` of ``n`` replications, run to ``most``,
    ends with an exact interval at ``level`` wholly on one side of ``confidence``.

    The predictive law of the successes still to come is beta-binomial: the plan's odds
    have the Jeffreys posterior Beta(successes + 1/2, n - successes + 1/2). Only the last
    look is counted (an earlier one, with a wider interval, settles less often). Used to
    stop racing a plan that more replications would very likely leave undecided.
    """
    left = most - n
    if left <= 0:
        return 0.0
    more = np.arange(left + 1)
    k = successes + more
    alpha = 1.0 - level
    with np.errstate(invalid="ignore"):
        low = np.where(k > 0, stats.beta.ppf(alpha / 2, np.maximum(k, 1), most - k + 1), 0.0)
        high = np.where(
            k < most, stats.beta.ppf(1 - alpha / 2, k + 1, np.maximum(most - k, 1)), 1.0
        )
    settles = (high < confidence) | (low >= confidence)
    chance = stats.betabinom.pmf(more, left, successes + 0.5, n - successes + 0.5)
    return float(np.sum(chance[settles]))


def quantile_ci(
    values: Sequence[float] | np.ndarray[Any, Any], q: float, level: float = 0.95
) -> tuple[float, float, float]:
    """The ``q`` quantile of a sample and a distribution-free CI from order statistics.

    Returns ``(estimate, low, high)``; a bound the sample is too small to give is
    ``-inf``/``inf``.
    """
    x = np.sort(np.asarray(values, dtype=float))
    n = len(x)
    if n == 0:
        return math.nan, -math.inf, math.inf
    point = float(np.quantile(x, q, method="inverted_cdf"))
    alpha = 1.0 - level
    # P(X(l) <= x_q <= X(u)) >= level with l, u 1-based ranks from Binomial(n, q)
    lo_rank = int(stats.binom.ppf(alpha / 2, n, q))
    hi_rank = int(stats.binom.ppf(1 - alpha / 2, n, q)) + 1
    low = float(x[lo_rank - 1]) if lo_rank >= 1 else -math.inf
    high = float(x[hi_rank - 1]) if hi_rank <= n else math.inf
    return point, low, high


# --------------------------------------------------------------------------- the inverse


@dataclass
class ArrAtConfidence:
    """ARR reached by the target month with the given odds, for one plan.

    ``arr`` is the ``1 - confidence`` quantile of the simulated ARR (so the ARR is at least
    this much in ``confidence`` of futures), ``low``/``high`` its distribution-free 95% CI;
    ``target_probability`` the share of replications at or above ``target_arr`` (if given).
    """

    plan: HiringPlan
    label: str
    month_label: str
    confidence: float
    arr: float
    low: float
    high: float
    replications: int
    samples: np.ndarray[Any, Any]
    cost: float
    target_arr: float | None = None
    target_probability: Estimate | None = None

    def sentences(self) -> list[str]:
        """The answer in words."""
        out = [
            f"With {self.label}: ARR at {self.confidence:.0%} confidence by "
            f"{self.month_label} is ${self.arr / 1e6:,.2f}M (95% CI "
            f"{_m(self.low)} to {_m(self.high)}, {self.replications} replications); "
            f"median ${float(np.median(self.samples)) / 1e6:,.2f}M. "
            + ("The plan costs " if self.plan.budgets else "The hires cost ")
            + f"${self.cost / 1e6:,.2f}M up to then"
            + (" (hires, and spend over the scenario's own)." if self.plan.budgets else ".")
        ]
        if self.target_probability is not None and self.target_arr is not None:
            p = self.target_probability
            out.append(
                f"P(ARR >= ${self.target_arr / 1e6:,.2f}M) = {p.p:.1%} "
                f"(95% CI {p.low:.1%} to {p.high:.1%})."
            )
        if not math.isfinite(self.low) or not math.isfinite(self.high):
            out.append("Too few replications for both CI bounds: run more.")
        return out


def _m(value: float) -> str:
    return f"${value / 1e6:,.2f}M" if math.isfinite(value) else "unbounded"


def arr_at_confidence(
    scenario: Scenario,
    plan: HiringPlan | str | None = None,
    by: str | int | None = None,
    confidence: float = 0.8,
    replications: int = 100,
    seed: int = 0,
    target_arr: float | None = None,
    executor: ExecutorLike = None,
    workers: int | None = None,
    progress: Progress | None = None,
) -> ArrAtConfidence:
    """ARR reached by ``by`` in ``confidence`` of futures, with this hiring plan.

    Parameters
    ----------
    scenario
        The validated scenario.
    plan
        A :class:`HiringPlan`, its text form (``"sdr=4@2027Q1, ae=2@2027Q2"``) or ``None``
        (the scenario as it is).
    by
        Target month label or simulated month; default the horizon's last month.
    confidence
        The odds (0.8: the ARR reached or beaten in 80% of replications).
    replications, seed
        Replication ``r`` uses ``(seed, r)``, as in the search (common random numbers).
    target_arr
        Also estimate the probability of reaching this ARR.
    """
    month = scenario.horizon_months if by is None else target_month(scenario, by)
    if not 0 < confidence < 1:
        raise _problem("must be between 0 and 1 (0.8 = 80%)", "confidence", confidence)
    if replications < 2:
        raise _problem("must be at least 2", "replications", replications)
    if isinstance(plan, str):
        plan = HiringPlan.parse(plan, scenario)
    plan = plan or HiringPlan()
    db = _Store(None, "")
    with make_executor(executor, workers) as pool:
        sim = _Simulator(cut_at(scenario, month), month, seed, pool, db, progress)
        sim.ensure([(plan, range(replications))])
    values = sim.arr(plan, range(replications))
    point, low, high = quantile_ci(values, 1.0 - confidence)
    result = ArrAtConfidence(
        plan=plan,
        label=plan.describe(scenario),
        month_label=month_label(scenario, month),
        confidence=confidence,
        arr=point,
        low=low,
        high=high,
        replications=replications,
        samples=values,
        cost=plan.cost(scenario, month),
    )
    if target_arr is not None:
        result.target_arr = target_arr
        result.target_probability = estimate(int(np.sum(values >= target_arr)), replications)
    return result
