"""Intervals, paired differences, and what a paired difference lets us say, in words.

The one home of revloop's small statistics: the Student-t interval of a mean
(:func:`ci_half_width`, :func:`mean_ci`), the paired difference of two aligned samples
(:func:`paired_difference`), the mean with control variates taken out
(:func:`control_variates`), and :func:`verdict`.

A difference between two scenarios run on the same seeds is a finding only when its 95%
confidence interval leaves out zero. Everywhere a difference is printed (``revloop
compare``, ``revloop diagnose``, the report), :func:`verdict` says which it is, and for an
unsettled one about how many pairs would settle it.

scipy is imported only when an interval is computed: it is slow to import.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "MOST_PAIRS",
    "ControlledMean",
    "ci_half_width",
    "control_variates",
    "mean_ci",
    "paired_difference",
    "pairs_to_settle",
    "settled",
    "t_quantile",
    "verdict",
]

MOST_PAIRS = 100_000
"""Past this many pairs a difference is called too small to matter, not worth settling."""


def t_quantile(p: float, df: int) -> float:
    """The ``p`` quantile of Student's t with ``df`` degrees of freedom."""
    from scipy import stats  # imported when asked: it is slow to import

    return float(stats.t.ppf(p, df))


def ci_half_width(values: Any, level: float = 0.95) -> float:
    """Half-width of the Student-t confidence interval of the mean of ``values``.

    NaNs are ignored; fewer than two values give NaN.

    Examples
    --------
    >>> round(ci_half_width([1.0, 2.0, 3.0]), 3)
    2.484
    """
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    if len(x) < 2:
        return math.nan
    return t_quantile(0.5 + level / 2, len(x) - 1) * float(x.std(ddof=1)) / math.sqrt(len(x))


def mean_ci(values: Any, level: float = 0.95) -> tuple[float, float]:
    """Mean of the finite values and the half-width of its CI (NaN if fewer than two)."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return math.nan, math.nan
    return float(x.mean()), ci_half_width(x, level)


def paired_difference(base: Any, other: Any, better: int = 1) -> dict[str, float]:
    """Statistics of ``other - base`` taken pair by pair (replication by replication).

    Parameters
    ----------
    base, other
        One value per replication, aligned; pairs with a NaN on either side are dropped.
    better
        +1 if higher is better, -1 if lower is, 0 if neither (then the probabilities are NaN).

    Returns
    -------
    dict[str, float]
        ``diff`` (mean difference), ``diff_ci95`` (half-width of its 95% CI), ``diff_low``,
        ``diff_high``, ``diff_sd``, ``p_better`` (share of pairs in which ``other`` is better,
        ties counting half: the chance that it does better in one simulated future) and
        ``p_mean_better`` (the probability that the mean difference favours ``other``, from
        the Student-t posterior under a flat prior), ``n`` (pairs used).
    """
    a, b = np.asarray(base, dtype=float), np.asarray(other, dtype=float)
    keep = ~(np.isnan(a) | np.isnan(b))
    d = b[keep] - a[keep]
    n = len(d)
    mean = float(d.mean()) if n else math.nan
    sd = float(d.std(ddof=1)) if n > 1 else math.nan
    half = ci_half_width(d)
    p_better = p_mean = math.nan
    if better and n:
        signed = better * d
        p_better = float((np.sum(signed > 0) + 0.5 * np.sum(signed == 0)) / n)
        if n > 1 and sd > 0:
            from scipy import stats

            p_mean = float(stats.t.cdf(better * mean / (sd / math.sqrt(n)), n - 1))
        elif n > 1:
            p_mean = 0.5 if mean == 0 else float(better * mean > 0)
    return {
        "diff": mean,
        "diff_ci95": half,
        "diff_low": mean - half,
        "diff_high": mean + half,
        "diff_sd": sd,
        "p_better": p_better,
        "p_mean_better": p_mean,
        "n": float(n),
    }


@dataclass(frozen=True)
class ControlledMean:
    """The mean of a sample adjusted by control variates (:func:`control_variates`).

    ``estimate`` and its ``low``/``high`` bounds (Student-t, ``df`` degrees of freedom),
    ``se`` its standard error, ``beta`` the fitted coefficients, ``r2`` the share of the
    sample's variance the controls explain (adjusted for the slopes fitted: it can be
    below zero when they explain less than chance would), ``variance`` the variance of one
    value once the controls are taken out (``n * se**2``: comparable with the sample's own
    variance).
    """

    estimate: float
    se: float
    low: float
    high: float
    df: int
    beta: tuple[float, ...]
    r2: float
    variance: float


def control_variates(
    values: Any,
    controls: Any,
    means: Any,
    means_cov: Any | None = None,
    level: float = 0.95,
) -> ControlledMean:
    """The mean of ``values`` with the part its controls explain taken out.

    A control is a quantity measured in each replication whose expectation ``means`` is
    known (or estimated elsewhere, on replications of its own, with covariance
    ``means_cov``). With ``beta`` the least-squares slope of ``values`` on the controls,
    ``mean(values) - beta @ (mean(controls) - means)`` estimates the same mean with the
    variance the controls explain removed (the regression estimator of control variates;
    Lavenberg and Welch 1981; Law, *Simulation Modeling and Analysis*, 5th ed., 11.5).

    Parameters
    ----------
    values
        One value per replication (``n``).
    controls
        ``(n, q)`` (or ``(n,)`` for one control); a constant column is dropped.
    means
        The controls' expectations (``q``).
    means_cov
        Covariance of ``means`` when they are estimated (``q x q``); ``None`` if exact.
    level
        Confidence level of ``low``/``high``.

    Returns
    -------
    ControlledMean
        Its standard error is the regression's at ``means`` (residual variance on
        ``n - 1 - q`` degrees of freedom) plus what estimating ``means`` adds.
    """
    y = np.asarray(values, dtype=float)
    x = np.asarray(controls, dtype=float).reshape(len(y), -1)
    mu = np.asarray(means, dtype=float).reshape(-1)
    cov = np.zeros((len(mu), len(mu))) if means_cov is None else np.asarray(means_cov, float)
    keep = np.ptp(x, axis=0) > 0 if len(y) else np.zeros(len(mu), bool)
    x, mu, cov = x[:, keep], mu[keep], cov[np.ix_(keep, keep)]
    n = len(y)
    xc = x - x.mean(axis=0)
    q = int(np.linalg.matrix_rank(xc)) if x.shape[1] else 0  # controls that tell apart
    df = n - 1 - q
    if df < 1:
        raise ValueError(f"{n} replications are too few for {q} control variates")
    yc = y - y.mean()
    beta, *_ = np.linalg.lstsq(xc, yc, rcond=None)  # minimum-norm if controls coincide
    resid = yc - xc @ beta
    s2 = float(resid @ resid) / df
    gap = x.mean(axis=0) - mu
    spread = float(gap @ np.linalg.pinv(xc.T @ xc) @ gap) if q else 0.0
    se2 = s2 * (1.0 / n + spread) + float(beta @ cov @ beta)
    estimate = float(y.mean() - gap @ beta)
    se = math.sqrt(se2)
    half = t_quantile(0.5 + level / 2, df) * se
    total = float(yc @ yc)
    # adjusted for the slopes fitted: q controls unrelated to the values would explain
    # q / (n - 1) of their variance by chance alone
    r2 = 1.0 - s2 / (total / (n - 1)) if total > 0 else 0.0
    return ControlledMean(
        estimate, se, estimate - half, estimate + half, df, tuple(map(float, beta)), r2, n * se2
    )


def settled(low: float, high: float) -> bool:
    """True if the interval ``[low, high]`` leaves out zero (a difference we can name)."""
    return math.isfinite(low) and math.isfinite(high) and (low > 0 or high < 0)


def pairs_to_settle(mean: float, sd: float) -> float:
    """About how many pairs a 95% interval needs to leave out zero if the mean difference
    and the spread of the pairs stay as measured: the least ``n`` with
    ``t(0.975, n - 1) sd / sqrt(n) <= |mean|`` (Student t, as the intervals printed).

    ``inf`` where the mean is zero, the spread unknown, or more than :data:`MOST_PAIRS`
    would be needed.
    """
    if not (math.isfinite(mean) and math.isfinite(sd)) or mean == 0:
        return math.inf
    ratio = sd / abs(mean)
    n = max(2, math.ceil((1.96 * ratio) ** 2))  # the normal approximation, from below
    while n <= MOST_PAIRS and t_quantile(0.975, n - 1) * ratio / math.sqrt(n) > 1.0:
        n += 1 if n < 100 else max(1, n // 1000)
    return float(n) if n <= MOST_PAIRS else math.inf


def verdict(mean: float, low: float, high: float, n: int, sd: float = math.nan) -> str:
    """The paired difference ``mean`` (95% CI ``low`` to ``high``, ``n`` pairs) in words.

    Examples
    --------
    >>> verdict(2.0, 1.0, 3.0, 10)
    'distinguishable from zero at 10 pairs (95% CI leaves out 0)'
    >>> verdict(1.0, -1.0, 3.0, 10, sd=3.0)
    'not distinguishable from zero at 10 pairs; about 38 pairs would settle it'
    """
    if n < 2 or not (math.isfinite(low) and math.isfinite(high)):
        return f"not distinguishable from zero: {n} pair{'s' if n != 1 else ''} give no interval"
    if settled(low, high):
        return f"distinguishable from zero at {n} pairs (95% CI leaves out 0)"
    if mean == 0 and sd == 0:
        return f"no difference in any of the {n} pairs"
    needed = pairs_to_settle(mean, sd)
    text = f"not distinguishable from zero at {n} pairs"
    if needed > MOST_PAIRS:
        return text + f"; more than {MOST_PAIRS:,} pairs would be needed: too small to matter"
    return text + f"; about {max(needed, n + 1):,.0f} pairs would settle it"
