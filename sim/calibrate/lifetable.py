"""Piecewise-constant competing-risk hazards of an opportunity's close: won or lost, by age.

Each opportunity is watched from an entry age (0, or later when the export began after it was
created) to its close (won or lost) or to the export (open: right-censored). Within each age
bin the hazard of a win and of a loss is constant, and its maximum-likelihood estimate is the
bin's events over the bin's exposure (opportunity-days at risk): the life-table (piecewise
exponential) estimator, exact under censoring and late entry. From the two hazards follow the
chance that an opportunity open at age ``a`` is won in any later interval of age, which is how
the open pipeline is carried into a forecast.

Bins are daily in the first month, weekly to six months, then 30 days; the sparse tail (bins
with fewer than :data:`MIN_AT_RISK` opportunities at risk on average) shares one rate, which
also continues past the oldest age seen.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

Array = np.ndarray[Any, np.dtype[np.float64]]

EDGES: Array = np.concatenate(
    [np.arange(0.0, 30.0, 1.0), np.arange(30.0, 182.0, 7.0), np.arange(182.0, 3650.0, 30.0)]
)
"""Start of each age bin in days; the last bin is open-ended."""
MIN_AT_RISK = 20.0
"""A bin with fewer opportunities at risk on average is pooled into the tail."""
WON, LOST, OPEN = 1, 2, 0


@dataclass(frozen=True)
class LifeTable:
    """Win and loss hazards (per day) by age bin.

    Attributes
    ----------
    edges
        Start of each bin (days); the last is open-ended.
    win_rate, loss_rate
        Hazard per day in each bin.
    deals, wins, losses
        Opportunities, wins and losses behind the fit.
    """

    edges: Array
    win_rate: Array
    loss_rate: Array
    deals: int
    wins: int
    losses: int

    def _cum(self, rate: Array, age: Array) -> Array:
        widths = np.diff(self.edges)
        at_edges = np.concatenate([[0.0], np.cumsum(rate[:-1] * widths)])
        a = np.maximum(np.asarray(age, dtype=float), 0.0)
        b = np.clip(np.searchsorted(self.edges, a, side="right") - 1, 0, len(self.edges) - 1)
        return np.asarray(at_edges[b] + rate[b] * (a - self.edges[b]), dtype=float)

    def cumulative(self, age: Array) -> tuple[Array, Array]:
        """Cumulative win and loss hazards at ``age`` (days)."""
        return self._cum(self.win_rate, age), self._cum(self.loss_rate, age)

    def win_probability(self, age: float = 0.0, within: float = 3650.0) -> float:
        """Chance that an opportunity open at ``age`` is won within ``within`` more days."""
        grid = np.concatenate([[age], self.edges[self.edges > age], [age + within]])
        grid = grid[grid <= age + within]
        hw, hl = self.cumulative(grid)
        dw, dl = np.diff(hw), np.diff(hl)
        total = dw + dl
        survive = np.exp(-np.concatenate([[0.0], np.cumsum(total)[:-1]]))
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(total > 0, dw / total, 0.0)
        return float(np.sum(survive * (1.0 - np.exp(-total)) * share))

    def incidence(self, age: Array) -> tuple[Array, Array]:
        """Chance of a win, and survival (no close), from age 0 to ``age``.

        The win's cumulative incidence ``int_0^a lambda_w(s) S(s) ds``, exact for piecewise
        constant hazards, and ``S(a)``.
        """
        widths = np.diff(self.edges)
        total = self.win_rate + self.loss_rate
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(total > 0, self.win_rate / total, 0.0)
        h_edges = np.concatenate([[0.0], np.cumsum(total[:-1] * widths)])
        s_edges = np.exp(-h_edges)
        inc_edges = np.concatenate(
            [[0.0], np.cumsum(s_edges[:-1] * share[:-1] * (1.0 - np.exp(-total[:-1] * widths)))]
        )
        a = np.maximum(np.asarray(age, dtype=float), 0.0)
        b = np.clip(np.searchsorted(self.edges, a, side="right") - 1, 0, len(self.edges) - 1)
        within = 1.0 - np.exp(-total[b] * (a - self.edges[b]))
        win = inc_edges[b] + s_edges[b] * share[b] * within
        return np.asarray(win, dtype=float), np.asarray(s_edges[b] * (1.0 - within), dtype=float)

    def win_density(self, age: Array) -> Array:
        """Density of a win at ``age``: ``lambda_w(a) S(a)``."""
        a = np.maximum(np.asarray(age, dtype=float), 0.0)
        b = np.clip(np.searchsorted(self.edges, a, side="right") - 1, 0, len(self.edges) - 1)
        _, survive = self.incidence(a)
        return np.asarray(self.win_rate[b] * survive, dtype=float)


def _exposure(entry: Array, exit_: Array, weight: Array, edges: Array) -> Array:
    """Weighted time at risk in each age bin: bins crossed whole count their width (a
    difference array over the bins), the first and last bins their partial overlap."""
    n_bins = len(edges)
    upper = np.concatenate([edges[1:], [np.inf]])
    b0 = np.clip(np.searchsorted(edges, entry, side="right") - 1, 0, n_bins - 1)
    b1 = np.clip(np.searchsorted(edges, exit_, side="right") - 1, 0, n_bins - 1)
    apart = b1 > b0
    cover = np.bincount(b0[apart] + 1, weights=weight[apart], minlength=n_bins + 1)
    cover -= np.bincount(b1[apart], weights=weight[apart], minlength=n_bins + 1)
    whole = np.cumsum(cover)[:n_bins]
    widths = np.where(np.isfinite(upper), upper - edges, 0.0)
    exposure = whole * widths
    same = ~apart
    exposure += np.bincount(
        b0[same], weights=weight[same] * (exit_[same] - entry[same]), minlength=n_bins
    )
    exposure += np.bincount(
        b0[apart], weights=weight[apart] * (upper[b0[apart]] - entry[apart]), minlength=n_bins
    )
    exposure += np.bincount(
        b1[apart], weights=weight[apart] * (exit_[apart] - edges[b1[apart]]), minlength=n_bins
    )
    return np.asarray(exposure, dtype=float)


def fit_life_table(
    entry: Array,
    exit_: Array,
    outcome: np.ndarray[Any, Any],
    edges: Array = EDGES,
    *,
    born: Array | None = None,
    win_clock: Callable[[Array], Array] | None = None,
    weights: Array | None = None,
) -> LifeTable:
    """Life-table estimate of the win and loss hazards.

    Parameters
    ----------
    entry
        Age (days) from which each opportunity was watched.
    exit_
        Age at its close, or at the end of observation if open.
    outcome
        :data:`WON`, :data:`LOST` or :data:`OPEN` (censored at ``exit_``).
    born, win_clock
        With a calendar effect on the win hazard (``lambda(age) * f(calendar)``): each
        opportunity's creation as a calendar day, and the integral of ``f`` over calendar
        days (``win_clock(t1) - win_clock(t0)`` is the ``f``-weighted time between them). The
        win exposure is then weighted, and ``win_rate`` is the baseline ``lambda``.
    weights
        Weight of each record (default 1): a record split between possible histories (an
        expectation-maximisation step) counts its exposure and its event by its weight.
    """
    entry = np.asarray(entry, dtype=float)
    exit_ = np.maximum(np.asarray(exit_, dtype=float), entry)
    outcome = np.asarray(outcome)
    weight = np.ones(len(entry)) if weights is None else np.asarray(weights, dtype=float)
    n_bins = len(edges)
    upper = np.concatenate([edges[1:], [np.inf]])
    exposure = _exposure(entry, exit_, weight, np.asarray(edges, dtype=float))
    if win_clock is not None and born is not None:
        win_exposure = np.empty(n_bins)
        for b in range(n_bins):
            lo, hi = edges[b], upper[b]
            a0, a1 = np.clip(entry, lo, hi), np.clip(exit_, lo, hi)
            win_exposure[b] = float(np.sum(weight * (win_clock(born + a1) - win_clock(born + a0))))
    else:
        win_exposure = exposure
    where = np.clip(np.searchsorted(edges, exit_, side="right") - 1, 0, n_bins - 1)
    is_won, is_lost = outcome == WON, outcome == LOST
    wins = np.bincount(where[is_won], weights=weight[is_won], minlength=n_bins)
    losses = np.bincount(where[is_lost], weights=weight[is_lost], minlength=n_bins)
    widths = np.diff(np.concatenate([edges, [edges[-1] + 30.0]]))
    at_risk = exposure / widths
    reliable = np.flatnonzero(at_risk >= MIN_AT_RISK)
    last = int(reliable[-1]) if len(reliable) else -1
    with np.errstate(divide="ignore", invalid="ignore"):
        win_rate = np.where(win_exposure > 0, wins / win_exposure, 0.0)
        loss_rate = np.where(exposure > 0, losses / exposure, 0.0)
    tail = slice(last + 1, None)
    tail_exposure = float(exposure[tail].sum())
    if tail_exposure > 0:
        win_rate[tail] = wins[tail].sum() / max(float(win_exposure[tail].sum()), 1e-12)
        loss_rate[tail] = losses[tail].sum() / tail_exposure
    elif last >= 0:
        win_rate[tail] = win_rate[last]
        loss_rate[tail] = loss_rate[last]
    return LifeTable(
        edges=np.asarray(edges, dtype=float),
        win_rate=win_rate,
        loss_rate=loss_rate,
        deals=round(float(weight.sum())),
        wins=round(float(weight[is_won].sum())),
        losses=round(float(weight[is_lost].sum())),
    )


def month_win_probabilities(
    table: LifeTable, ages: Array, factor: Array | None = None
) -> tuple[Array, Array]:
    """Chance of a win, and of a loss, in each period, for opportunities open at its start.

    Parameters
    ----------
    table
        The hazards.
    ages
        Shape (n, k + 1): each opportunity's age at the period edges (ages below 0 are
        periods before it exists: no hazard).
    factor
        Shape (k,) or (r, k): multiplier of the win hazard in each period (calendar effects,
        month shocks); with a leading axis, one set per draw.

    Returns
    -------
    win, loss
        Shape (n, k), or (r, n, k) with a per-draw factor.
    """
    hw, hl = table.cumulative(ages.ravel())
    hw = hw.reshape(ages.shape)
    hl = hl.reshape(ages.shape)
    dw, dl = np.diff(hw, axis=1), np.diff(hl, axis=1)
    if factor is not None:
        f = np.asarray(factor, dtype=float)
        dw = dw * (f[:, None, :] if f.ndim == 2 else f)
        dl = np.broadcast_to(dl, dw.shape)
    total = dw + dl
    survive = np.exp(-(np.cumsum(total, axis=-1) - total))
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(total > 0, dw / total, 0.0)
    closing = survive * (1.0 - np.exp(-total))
    return closing * share, closing * (1.0 - share)
