"""What a paired difference lets us say, in words.

A difference between two scenarios run on the same seeds is a finding only when its 95%
confidence interval leaves out zero. Everywhere a difference is printed (``revloop
compare``, ``revloop diagnose``, the report), :func:`verdict` says which it is, and for an
unsettled one about how many pairs would settle it.
"""

from __future__ import annotations

import math

__all__ = ["MOST_PAIRS", "pairs_to_settle", "settled", "verdict"]

MOST_PAIRS = 100_000
"""Past this many pairs a difference is called too small to matter, not worth settling."""


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
    from scipy import stats  # imported when asked: it is slow to import

    ratio = sd / abs(mean)
    n = max(2, math.ceil((1.96 * ratio) ** 2))  # the normal approximation, from below
    while n <= MOST_PAIRS and stats.t.ppf(0.975, n - 1) * ratio / math.sqrt(n) > 1.0:
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
