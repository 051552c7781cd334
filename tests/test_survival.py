"""The censoring estimators against synthetic funnels with a known answer.

Each case draws leads from a known mixture-cure funnel (eventual conversion ``p``, log-normal
time to convert), watches them until an export date, and checks that the estimator recovers
the truth within a tolerance set by its own standard error, while the naive estimates (open
leads counted as losses; durations of finished leads only) miss it by more than that.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from scipy import optimize

from sim.calibrate.survival import (
    FitError,
    _Likelihood,
    fit_cure_model,
    kaplan_meier,
    likelihood_ratio_pvalue,
)

P_TRUE = 0.15
MEDIAN_TRUE = 30.0
SIGMA_TRUE = 1.2
TOLERANCE = 3.0  # standard errors


def funnel(
    seed: int,
    n: int = 8000,
    window: float = 180.0,
    p: float | dict[str, float] = P_TRUE,
    blind_until: float = 0.0,
) -> dict[str, Any]:
    """Leads created uniformly over ``window`` days, exported at its end.

    Conversions before day ``blind_until`` are missing from the export (as in a deals file
    that starts late).
    """
    rng = np.random.default_rng(seed)
    created = rng.uniform(0, window, n)
    if isinstance(p, dict):
        group = rng.choice(list(p), n)
        odds = np.array([p[g] for g in group])
    else:
        group = np.full(n, "all")
        odds = np.full(n, p)
    converts = rng.random(n) < odds
    t = rng.lognormal(math.log(MEDIAN_TRUE), SIGMA_TRUE, n)
    at = created + t
    seen = converts & (at <= window) & (at >= blind_until)
    return {
        "durations": np.where(seen, t, window - created),
        "events": seen,
        "groups": group,
        "watched_from": np.maximum(0.0, blind_until - created),
    }


def p_se(fit: Any, k: int = 0) -> float:
    """Standard error of a group's conversion (delta method from its logit)."""
    p = fit.conversion[k].value
    return float(p * (1 - p) * math.sqrt(fit.cov[k, k]))


def mu_se(fit: Any) -> float:
    return float(math.sqrt(fit.cov[-2, -2]))


# -- the censoring demonstration -------------------------------------------------------------


def test_cure_model_recovers_the_truth_where_naive_estimates_are_biased() -> None:
    data = funnel(seed=1)
    fit = fit_cure_model(data["durations"], data["events"])
    p_hat, se_p = fit.conversion[0].value, p_se(fit)
    se_mu = mu_se(fit)
    # the estimator: within its tolerance of the truth
    assert abs(p_hat - P_TRUE) < TOLERANCE * se_p
    assert abs(fit.mu - math.log(MEDIAN_TRUE)) < TOLERANCE * se_mu
    assert abs(math.log(fit.sigma) - math.log(SIGMA_TRUE)) < TOLERANCE * math.sqrt(fit.cov[-1, -1])
    # naive conversion: wins / leads, the open leads counted as losses
    naive_p = float(np.mean(data["events"]))
    assert P_TRUE - naive_p > TOLERANCE * se_p
    # naive time: the median of the finished conversions only (the slow ones are still open)
    naive_median = float(np.median(data["durations"][data["events"]]))
    assert math.log(MEDIAN_TRUE) - math.log(naive_median) > TOLERANCE * se_mu


def test_confidence_intervals_cover_the_truth_at_their_level() -> None:
    runs = 200
    covered_p = covered_median = 0
    for seed in range(runs):
        data = funnel(seed=100 + seed, n=2000)
        fit = fit_cure_model(data["durations"], data["events"])
        ci = fit.conversion[0]
        covered_p += ci.low <= P_TRUE <= ci.high
        covered_median += fit.median_days.low <= MEDIAN_TRUE <= fit.median_days.high
    # 95% nominal; the binomial spread of 200 runs is 1.5 points
    tolerance = TOLERANCE * math.sqrt(0.95 * 0.05 / runs)
    assert abs(covered_p / runs - 0.95) < tolerance
    assert abs(covered_median / runs - 0.95) < tolerance


def test_a_late_starting_deals_file_is_allowed_for() -> None:
    # wins before day 120 are missing: leads created earlier may have won unseen
    data = funnel(seed=2, window=360.0, blind_until=120.0)
    fit = fit_cure_model(data["durations"], data["events"], watched_from=data["watched_from"])
    se = p_se(fit)
    assert abs(fit.conversion[0].value - P_TRUE) < TOLERANCE * se
    assert abs(fit.mu - math.log(MEDIAN_TRUE)) < TOLERANCE * mu_se(fit)
    # treating those leads as watched from creation counts their unseen wins as no win
    blind = fit_cure_model(data["durations"], data["events"])
    assert P_TRUE - blind.conversion[0].value > TOLERANCE * se


def test_conversion_per_group() -> None:
    truth = {"web": 0.10, "events": 0.30}
    data = funnel(seed=3, p=truth)
    fit = fit_cure_model(data["durations"], data["events"], groups=list(data["groups"]))
    for k, group in enumerate(fit.groups):
        assert abs(fit.conversion[k].value - truth[group]) < TOLERANCE * p_se(fit, k)
    pooled = fit_cure_model(data["durations"], data["events"])
    assert likelihood_ratio_pvalue(pooled, fit) < 1e-6


def test_a_group_without_conversions_gets_zero() -> None:
    data = funnel(seed=4, n=3000)
    groups = np.where(np.arange(3000) < 200, "dead", "live")
    events = data["events"] & (groups == "live")
    fit = fit_cure_model(data["durations"], events, groups=list(groups))
    assert fit.p("dead") == 0.0
    assert not fit.fitted[fit.groups.index("dead")]
    assert abs(fit.p("live") - P_TRUE) < TOLERANCE * p_se(fit, fit.groups.index("live"))


def test_too_few_conversions_is_an_error() -> None:
    with pytest.raises(FitError, match="at least 5 are needed"):
        fit_cure_model([1.0, 2.0, 3.0, 10.0], [True, True, False, False])


def test_the_gradient_is_the_derivative_of_the_likelihood() -> None:
    data = funnel(seed=5, n=2000, blind_until=60.0)
    groups = np.where(np.arange(2000) % 3 == 0, 0, 1)
    nll = _Likelihood(
        data["durations"], data["events"], data["watched_from"], groups, np.array([True, True])
    )
    theta = np.array([-1.5, -2.0, 3.2, 0.1])
    error = optimize.check_grad(lambda x: nll(x)[0], lambda x: nll(x)[1], theta)
    assert error < 1e-4 * max(1.0, float(np.linalg.norm(nll(theta)[1])))


# -- Kaplan-Meier ------------------------------------------------------------------------------


def test_kaplan_meier_without_censoring_is_the_empirical_distribution() -> None:
    t = np.array([5.0, 1.0, 3.0, 3.0, 8.0])
    km = kaplan_meier(t, np.ones(5, dtype=bool))
    for age in (0.5, 1.0, 2.0, 3.0, 4.0, 8.0):
        assert km.at(age) == pytest.approx(np.mean(t <= age))


def test_kaplan_meier_recovers_a_censored_distribution() -> None:
    rng = np.random.default_rng(6)
    n = 4000
    t = rng.exponential(20.0, n)
    censor = rng.uniform(0, 60, n)
    events = t <= censor
    durations = np.minimum(t, censor)
    km = kaplan_meier(durations, events)
    for age in (5.0, 10.0, 20.0, 40.0):
        truth = 1 - math.exp(-age / 20.0)
        assert abs(float(km.at(age)) - truth) < TOLERANCE * float(km.se_at(age))
    for age in (20.0, 40.0):  # once censoring has bitten, the naive share is biased low
        truth = 1 - math.exp(-age / 20.0)
        naive = float(np.mean(events & (durations <= age)))
        assert truth - naive > TOLERANCE * float(km.se_at(age))


def test_greenwood_standard_error_matches_the_binomial_without_censoring() -> None:
    rng = np.random.default_rng(7)
    t = rng.exponential(10.0, 500)
    km = kaplan_meier(t, np.ones(500, dtype=bool))
    share = float(km.at(10.0))
    assert float(km.se_at(10.0)) == pytest.approx(math.sqrt(share * (1 - share) / 500), rel=1e-6)
