"""Survival estimators for a funnel observed before everything has finished.

A lead still open at the export date has not failed: it has been watched for a while
without converting (right-censored). Counting it as a loss biases conversion down; dropping
it biases the time to convert down (only the quick ones have finished). Two estimators use it
for what it is:

- :func:`kaplan_meier`: the product-limit estimate of the share converted by each age, with
  Greenwood standard errors;
- :func:`fit_cure_model`: censored maximum likelihood of a *mixture cure* model, the natural
  model of a funnel: a lead converts eventually with odds ``p`` (per group, e.g. channel), and
  if it does, after a log-normal time; a lead created before the deals file starts may have
  converted unseen before it.

A recorded loss is not used as proof that a lead never converts: losses are recorded only for
leads that do not convert, so the leads left open would then be richer in future conversions
than the model assumes, and the fit biased, unless the time to record a loss were modelled too.
A lost lead counts for what it shows: no conversion by the export date.

Every function takes durations in days from the start of the stage (creation for leads).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import optimize, special, stats

Array = np.ndarray[Any, np.dtype[np.float64]]

Z95 = float(stats.norm.ppf(0.975))
MIN_EVENTS = 5
"""Fewer conversions than this cannot pin a time distribution down."""


class FitError(ValueError):
    """The data cannot support the model (too few conversions, no convergence)."""


@dataclass(frozen=True)
class Interval:
    """An estimate with its 95% confidence interval."""

    value: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.value:.4g} (95% CI {self.low:.4g} to {self.high:.4g})"


# -- Kaplan-Meier ---------------------------------------------------------------------------


@dataclass(frozen=True)
class KaplanMeier:
    """The product-limit estimate of the share converted by each age.

    Attributes
    ----------
    times
        Distinct conversion times, increasing.
    converted
        Share converted by each time (1 - S), a right-continuous step function.
    se
        Greenwood standard error of that share.
    at_risk
        Leads at risk just before each time.
    """

    times: Array
    converted: Array
    se: Array
    at_risk: Array

    def at(self, t: float | Array) -> Array:
        """Share converted by age ``t``."""
        i = np.searchsorted(self.times, np.asarray(t, dtype=float), side="right") - 1
        return np.where(i >= 0, self.converted[np.maximum(i, 0)], 0.0)

    def se_at(self, t: float | Array) -> Array:
        """Greenwood standard error of :meth:`at`."""
        i = np.searchsorted(self.times, np.asarray(t, dtype=float), side="right") - 1
        return np.where(i >= 0, self.se[np.maximum(i, 0)], 0.0)


def kaplan_meier(
    durations: Sequence[float] | Array, events: Sequence[bool] | np.ndarray[Any, Any]
) -> KaplanMeier:
    """Kaplan-Meier estimate with right censoring.

    Parameters
    ----------
    durations
        Age at conversion (event) or at the end of observation (censored), in days.
    events
        True where the lead converted at its duration; a lead is at risk at age ``u`` when
        ``u <= duration``.

    Returns
    -------
    KaplanMeier
    """
    t = np.asarray(durations, dtype=float)
    d = np.asarray(events, dtype=bool)
    times = np.unique(t[d])
    at_risk = (len(t) - np.searchsorted(np.sort(t), times, side="left")).astype(float)
    deaths = np.bincount(np.searchsorted(times, t[d]), minlength=len(times)).astype(float)
    survival = np.cumprod(1.0 - deaths / at_risk)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(at_risk > deaths, deaths / (at_risk * (at_risk - deaths)), np.inf)
        se = survival * np.sqrt(np.cumsum(terms))  # 0 x inf once everyone has converted
    se = np.where(np.isfinite(se), se, 0.0)
    return KaplanMeier(times=times, converted=1.0 - survival, se=se, at_risk=at_risk)


# -- mixture cure model ---------------------------------------------------------------------


@dataclass(frozen=True)
class CureFit:
    """A fitted mixture cure model: conversion odds per group, log-normal time to convert.

    Attributes
    ----------
    groups
        Group names; ``conversion`` follows the same order.
    conversion
        Eventual conversion per group with its 95% CI (0 for a group with no conversion).
    mu, sigma
        Mean and standard deviation of the log of the time to convert (days).
    params, cov
        Estimated parameters (logit odds of the groups with conversions, mu, log sigma) and
        their covariance (inverse observed information).
    fitted
        Which groups have a free parameter (those with at least one conversion).
    loglik
        Maximised log-likelihood.
    n, events
        Leads and conversions used.
    """

    groups: tuple[str, ...]
    conversion: tuple[Interval, ...]
    mu: float
    sigma: float
    params: Array
    cov: Array
    fitted: tuple[bool, ...]
    loglik: float
    n: int
    events: int

    def p(self, group: str) -> float:
        """Eventual conversion of ``group``."""
        return self.conversion[self.groups.index(group)].value

    def cdf(self, t: float | Array, group: str) -> Array:
        """Share of ``group`` converted by age ``t`` (days)."""
        return self.p(group) * lognormal_cdf(np.asarray(t, dtype=float), self.mu, self.sigma)

    @property
    def median_days(self) -> Interval:
        """Median time to convert among those who do, with its 95% CI."""
        se = math.sqrt(self.cov[-2, -2])
        return Interval(
            math.exp(self.mu), math.exp(self.mu - Z95 * se), math.exp(self.mu + Z95 * se)
        )

    @property
    def sigma_interval(self) -> Interval:
        """Log-scale standard deviation with its 95% CI."""
        se = math.sqrt(self.cov[-1, -1])
        s = math.log(self.sigma)
        return Interval(self.sigma, math.exp(s - Z95 * se), math.exp(s + Z95 * se))

    @property
    def mean_days(self) -> Interval:
        """Mean time to convert, exp(mu + sigma^2 / 2), with a delta-method 95% CI."""
        log_mean = self.mu + self.sigma**2 / 2
        grad = np.array([1.0, self.sigma**2])  # d/d(mu, log sigma)
        se = math.sqrt(float(grad @ self.cov[-2:, -2:] @ grad))
        return Interval(
            math.exp(log_mean), math.exp(log_mean - Z95 * se), math.exp(log_mean + Z95 * se)
        )

    @property
    def sd_days(self) -> float:
        """Standard deviation of the time to convert."""
        return self.mean_days.value * math.sqrt(math.expm1(self.sigma**2))

    def draw_params(self, rng: np.random.Generator, size: int) -> Array:
        """Parameter vectors drawn from the estimate's asymptotic normal distribution."""
        return rng.multivariate_normal(self.params, self.cov, size=size)

    def unpack(self, params: Array) -> tuple[dict[str, float], float, float]:
        """Conversion per group, mu and sigma from a parameter vector."""
        p: dict[str, float] = {}
        k = 0
        for name, free in zip(self.groups, self.fitted, strict=True):
            p[name] = float(special.expit(params[k])) if free else 0.0
            k += free
        return p, float(params[-2]), float(math.exp(params[-1]))


def lognormal_cdf(t: Array, mu: float, sigma: float) -> Array:
    """P(T <= t) for log T ~ N(mu, sigma^2); 0 for t <= 0."""
    with np.errstate(divide="ignore"):
        z = (np.log(np.maximum(t, 0.0)) - mu) / sigma
    return np.asarray(special.ndtr(z), dtype=float)


class _Likelihood:
    """Negative log-likelihood of the cure model and its gradient."""

    def __init__(
        self,
        t: Array,
        event: np.ndarray[Any, Any],
        watched_from: Array,
        group: np.ndarray[Any, Any],
        free: np.ndarray[Any, Any],
    ) -> None:
        self.n_free = int(free.sum())
        slot = np.cumsum(free) - 1  # group -> parameter index, for free groups
        usable = free[group]  # leads of a group with no conversion add nothing
        self.g = slot[group][usable]
        self.t = t[usable]
        self.event = event[usable]
        self.open = ~event[usable]
        self.watched_from = np.minimum(watched_from[usable], self.t)
        self.log_t = np.log(np.where(self.event, self.t, 1.0))

    def __call__(self, theta: Array) -> tuple[float, Array]:
        k = self.n_free
        p_all = special.expit(theta[:k])
        mu, s = theta[k], theta[k + 1]
        sigma = math.exp(s)
        p = p_all[self.g]
        grad_eta = np.zeros(len(p))
        # conversions: log p + log phi(z) - log sigma - log t
        ev = self.event
        z = (self.log_t[ev] - mu) / sigma
        ll = float(np.sum(np.log(p[ev]) - 0.5 * z**2 - s - self.log_t[ev]))
        ll -= float(ev.sum()) * 0.5 * math.log(2 * math.pi)
        grad_eta[ev] += 1.0 - p[ev]
        g_mu = float(np.sum(z / sigma))
        g_s = float(np.sum(z**2 - 1.0))
        # no conversion recorded by age t: never, or after t, or before the watch began
        op = self.open
        pm = p[op]
        cdf_t, pdf_t, z_t = _normal_terms(self.t[op], mu, sigma)
        cdf_w, pdf_w, z_w = _normal_terms(self.watched_from[op], mu, sigma)
        seen = cdf_t - cdf_w
        none = 1.0 - pm * seen
        ll += float(np.sum(np.log(none)))
        grad_eta[op] -= pm * (1.0 - pm) * seen / none
        g_mu += float(np.sum(pm * (pdf_t - pdf_w) / none)) / sigma
        g_s += float(np.sum(pm * (pdf_t * z_t - pdf_w * z_w) / none))
        grad = np.concatenate([np.bincount(self.g, weights=grad_eta, minlength=k), [g_mu, g_s]])
        return -ll, -grad


def _normal_terms(age: Array, mu: float, sigma: float) -> tuple[Array, Array, Array]:
    """Phi(z), phi(z) and z (0 where the age is 0) for z = (log age - mu) / sigma."""
    positive = age > 0
    z = np.where(positive, (np.log(np.where(positive, age, 1.0)) - mu) / sigma, 0.0)
    cdf = np.where(positive, special.ndtr(z), 0.0)
    pdf = np.where(positive, np.exp(-0.5 * z**2) / math.sqrt(2 * math.pi), 0.0)
    return cdf, pdf, z


def fit_cure_model(
    durations: Sequence[float] | Array,
    events: Sequence[bool] | np.ndarray[Any, Any],
    groups: Sequence[str] | None = None,
    watched_from: Sequence[float] | Array | None = None,
) -> CureFit:
    """Censored maximum likelihood of a mixture cure model with log-normal times.

    A lead of group ``g`` converts eventually with odds ``p_g``, and then at a time ``T``
    with ``log T ~ N(mu, sigma^2)``, shared by the groups. Its likelihood is ``p_g f(t)`` if
    it converted at age ``t``, and ``1 - p_g F(t)`` if it had not converted by age ``t`` at
    the end of observation (right-censored). When conversions before age ``w`` were not
    recorded (the deals file starts after the lead was created), a lead with no recorded
    conversion may also have converted before ``w``: ``1 - p_g (F(t) - F(w))``.

    Parameters
    ----------
    durations
        Age (days) at conversion, or at the end of observation for the others. Must be > 0
        for conversions.
    events
        True where the lead converted.
    groups
        Group of each lead (default: one group, ``"all"``).
    watched_from
        Age from which a conversion would have been recorded (default 0).

    Returns
    -------
    CureFit
        Estimates with standard errors from the observed information.

    Raises
    ------
    FitError
        With fewer than :data:`MIN_EVENTS` conversions, or if the optimiser fails.
    """
    t = np.asarray(durations, dtype=float)
    ev = np.asarray(events, dtype=bool)
    n = len(t)
    w = np.zeros(n) if watched_from is None else np.asarray(watched_from, dtype=float)
    labels = np.asarray(["all"] * n if groups is None else list(groups), dtype=object)
    names = tuple(dict.fromkeys(labels.tolist()))
    code = np.array([names.index(x) for x in labels], dtype=int) if n else np.zeros(0, int)
    if int(ev.sum()) < MIN_EVENTS:
        raise FitError(
            f"{int(ev.sum())} conversion(s): at least {MIN_EVENTS} are needed to fit the time "
            "to convert"
        )
    if np.any(t[ev] <= 0):
        raise FitError("conversion times must be positive")
    wins = np.bincount(code, weights=ev, minlength=len(names))
    totals = np.bincount(code, minlength=len(names)).astype(float)
    free = wins > 0
    nll = _Likelihood(t, ev, w, code, free)
    naive = np.clip(wins[free] / totals[free], 1e-3, 0.999)
    log_t = np.log(t[ev])
    sd = float(np.std(log_t)) if ev.sum() > 1 else 1.0
    x0 = np.concatenate([special.logit(naive), [float(np.mean(log_t)), math.log(max(sd, 0.1))]])
    result = optimize.minimize(nll, x0, jac=True, method="BFGS", options={"gtol": 1e-6})
    if not np.all(np.isfinite(result.x)) or np.max(np.abs(nll(result.x)[1])) > 1e-2:
        raise FitError(f"the maximum-likelihood fit did not converge: {result.message}")
    cov = _inverse_hessian(nll, result.x)
    k = int(free.sum())
    conversion = []
    slot = 0
    for g in range(len(names)):
        if not free[g]:
            conversion.append(Interval(0.0, 0.0, 0.0))
            continue
        eta, se = result.x[slot], math.sqrt(cov[slot, slot])
        conversion.append(
            Interval(
                float(special.expit(eta)),
                float(special.expit(eta - Z95 * se)),
                float(special.expit(eta + Z95 * se)),
            )
        )
        slot += 1
    return CureFit(
        groups=names,
        conversion=tuple(conversion),
        mu=float(result.x[k]),
        sigma=math.exp(float(result.x[k + 1])),
        params=np.asarray(result.x, dtype=float),
        cov=cov,
        fitted=tuple(bool(f) for f in free),
        loglik=-float(result.fun),
        n=n,
        events=int(ev.sum()),
    )


def _inverse_hessian(nll: _Likelihood, x: Array) -> Array:
    """Covariance of the estimate: the inverse of the Hessian of the negative log-likelihood,
    by central differences of the analytic gradient."""
    k = len(x)
    hess = np.empty((k, k))
    for j in range(k):
        h = 1e-5 * max(1.0, abs(x[j]))
        up, down = x.copy(), x.copy()
        up[j] += h
        down[j] -= h
        hess[:, j] = (nll(up)[1] - nll(down)[1]) / (2 * h)
    hess = (hess + hess.T) / 2
    try:
        cov = np.linalg.inv(hess)
    except np.linalg.LinAlgError:
        raise FitError("the fit is not identified (singular information matrix)") from None
    if np.any(np.diag(cov) <= 0):
        raise FitError("the fit is not identified (information matrix not positive)")
    return np.asarray(cov, dtype=float)


def likelihood_ratio_pvalue(small: CureFit, large: CureFit) -> float:
    """P-value of the likelihood-ratio test of a nested model ``small`` within ``large``."""
    df = len(large.params) - len(small.params)
    stat = max(0.0, 2.0 * (large.loglik - small.loglik))
    return float(stats.chi2.sf(stat, df)) if df > 0 else 1.0
