"""The quarter-end slip: wins held back to the last days of their quarter.

Sales teams close to the quarter: a deal ready to sign in the first two months of a quarter
is often held (by the rep, or by a buyer waiting for the quarter-end discount) and signed in
the quarter's last days. A multiplicative calendar factor on the win hazard cannot express
this: a held deal is not merely more likely to sign at quarter end, it is all but certain to.
The model here is the mechanism itself:

- a deal reaches its *natural* win time from the competing-risk life table (by age);
- when that time falls in the first two months of a calendar quarter, the win is held with
  probability ``share`` and signed at a uniform time in the last :data:`RELEASE_DAYS` days of
  the same quarter; losses and other wins are not moved.

The natural hazards and ``share`` are fitted together by expectation-maximisation: each win
signed in a release window is split between "natural" (signed then) and "held" (its natural
time lies in the first two months of the quarter, spread by the natural win density there),
with weights from the current fit; the life table is refitted on the weighted records and
``share`` set to the expected held wins over the expected natural wins in the first two months
of complete quarters. A deal still open at the as-of date may already be held: its chance of
that follows from the same two pieces (:func:`held_probability`).

Times are calendar days since 1970-01-01 (floats) and ages are days since each record's
origin (its creation, or its entry into the last stage).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.calibrate.lifetable import EDGES, LOST, OPEN, WON, Array, LifeTable, fit_life_table

RELEASE_DAYS = 15.0
"""Held wins are signed in this many last days of their quarter."""
ROUNDS = 12
"""Expectation-maximisation rounds (the share settles within a few)."""
POINTS = 6
"""Natural times a held win is spread over in the first two months of its quarter."""

_EPOCH = np.datetime64("1970-01-01", "D")


@dataclass(frozen=True)
class Quarters:
    """Calendar quarter of each time: its start, the start of its third month, its end."""

    start: Array
    third: Array
    end: Array

    @property
    def release(self) -> Array:
        """Start of the release window (the last :data:`RELEASE_DAYS` days)."""
        return np.asarray(self.end - RELEASE_DAYS, dtype=float)


def quarters(t: Array) -> Quarters:
    """The calendar quarter of each time ``t`` (calendar days since 1970-01-01)."""
    days = _EPOCH + np.floor(np.asarray(t, dtype=float)).astype(np.int64)
    month = days.astype("datetime64[M]")
    first = month - month.astype(np.int64) % 3

    def as_days(m: np.ndarray[Any, Any]) -> Array:
        return np.asarray((m.astype("datetime64[D]") - _EPOCH).astype(np.float64), dtype=float)

    return Quarters(as_days(first), as_days(first + 2), as_days(first + 3))


def quarter_position(t: Array) -> np.ndarray[Any, Any]:
    """Position (0, 1, 2) in its quarter of the month of each time ``t``."""
    days = _EPOCH + np.floor(np.asarray(t, dtype=float)).astype(np.int64)
    return np.asarray(days.astype("datetime64[M]").astype(np.int64) % 3)


def pushable(t: Array) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """Whether a natural win at time ``t`` may be held (first two months of its quarter)."""
    q = quarters(t)
    return np.asarray(np.asarray(t, dtype=float) < q.third, dtype=bool)


@dataclass(frozen=True)
class SlipFit:
    """A life table of natural closing times and the share of pushable wins held."""

    table: LifeTable
    share: float
    held: float
    """Expected held wins in the history."""
    entry: Array
    exit: Array
    weight: Array
    born: Array
    """The weighted records of natural histories behind ``table`` (a held win is spread over
    its possible natural closing times)."""


def _held_interval(born: Array, entry: Array, signed: Array) -> tuple[Array, Array]:
    """Ages between which a win signed at calendar time ``signed`` may naturally have come
    if it was held: the first two months of its quarter, not before the record was watched."""
    q = quarters(signed)
    lo = np.maximum(q.start - born, entry)
    hi = q.third - born
    return lo, hi


def fit_slip(
    entry: Array,
    exit_: Array,
    outcome: np.ndarray[Any, Any],
    born: Array,
    until: float,
    *,
    share: float | None = None,
    edges: Array = EDGES,
    rounds: int = ROUNDS,
) -> SlipFit:
    """Fit natural closing hazards and the held share by expectation-maximisation.

    Parameters
    ----------
    entry, exit_, outcome
        As :func:`~sim.calibrate.lifetable.fit_life_table`.
    born
        Calendar day of each record's age 0.
    until
        Calendar day of the as-of date: quarters whose release window is not over by then
        do not inform the share.
    share
        Fixed held share (only the hazards are fitted); None: fitted too.
    """
    entry = np.asarray(entry, dtype=float)
    exit_ = np.maximum(np.asarray(exit_, dtype=float), entry)
    outcome = np.asarray(outcome)
    born = np.asarray(born, dtype=float)
    signed = born + exit_
    won = outcome == WON
    q = quarters(signed)
    in_release = won & (signed >= q.release) & (signed < q.end)
    lo, hi = _held_interval(born, entry, signed)
    complete = q.end <= until
    natural_pushable = float(np.sum(won & (signed < q.third) & complete))
    # wins signed in a release window may be held; so may deals open at the as-of date
    now = quarters(np.full(len(born), until))
    lo_now = np.maximum(now.start - born, entry)
    hi_now = np.minimum(now.third, until) - born
    signed_win = np.flatnonzero(in_release & (hi > lo))
    still_open = np.flatnonzero((outcome == OPEN) & (hi_now > lo_now))
    cand = np.concatenate([signed_win, still_open])
    is_open = np.concatenate([np.zeros(len(signed_win), bool), np.ones(len(still_open), bool)])
    c_lo = np.concatenate([lo[signed_win], lo_now[still_open]])
    c_hi = np.concatenate([hi[signed_win], hi_now[still_open]])
    steps = (np.arange(POINTS) + 0.5) / POINTS
    spread = c_lo[:, None] + (c_hi - c_lo)[:, None] * steps[None, :]  # (m, POINTS)
    pi = 0.3 if share is None else float(share)
    weight = np.zeros(len(cand))
    table = fit_life_table(entry, exit_, outcome, edges)
    rec_entry = np.concatenate([entry, np.repeat(entry[cand], POINTS)])
    rec_exit = np.concatenate([exit_, spread.ravel()])
    rec_born = np.concatenate([born, np.repeat(born[cand], POINTS)])
    rec_outcome = np.concatenate([outcome, np.full(len(cand) * POINTS, WON)])
    rec_w = np.ones(len(rec_entry))
    counted = complete[cand] & ~is_open
    for _ in range(max(rounds, 1)):
        if pi <= 0.0 or not len(cand):
            weight = np.zeros(len(cand))
        else:
            inc_lo, _ = table.incidence(c_lo)
            inc_hi, _ = table.incidence(c_hi)
            held_mass = pi * np.maximum(inc_hi - inc_lo, 0.0)
            _, survive = table.incidence(exit_[cand])
            # a signed win: natural density then, or held (density over the window);
            # an open deal: naturally open, or held
            held = np.where(is_open, held_mass, held_mass / RELEASE_DAYS)
            natural = np.where(is_open, survive, table.win_density(exit_[cand]))
            with np.errstate(divide="ignore", invalid="ignore"):
                weight = np.where(held + natural > 0, held / (held + natural), 0.0)
        density = table.win_density(spread.ravel()).reshape(spread.shape)
        norm = density.sum(axis=1, keepdims=True)
        split = np.where(norm > 0, density / np.where(norm > 0, norm, 1.0), 1.0 / POINTS)
        rec_w = np.concatenate([np.ones(len(entry)), (weight[:, None] * split).ravel()])
        rec_w[cand] = 1.0 - weight
        table = fit_life_table(rec_entry, rec_exit, rec_outcome, edges, weights=rec_w)
        if share is None:
            held_complete = float(np.sum(weight[counted]))
            total = held_complete + natural_pushable
            new = held_complete / total if total > 0 else 0.0
            settled = abs(new - pi) < 1e-4
            pi = new
            if settled:
                break
    return SlipFit(table, float(pi), float(weight.sum()), rec_entry, rec_exit, rec_w, rec_born)


def held_probability(
    table: LifeTable, share: float, born: Array, entry: Array, now: float
) -> Array:
    """Chance that a record still open at calendar day ``now`` is a held win.

    Held: its natural win came in the first two months of the current quarter (not before it
    was watched, not after ``now``), and it was held, against still being naturally open.
    Held wins of earlier quarters were signed by their quarter's end, so only the current
    quarter counts.
    """
    born = np.asarray(born, dtype=float)
    entry = np.asarray(entry, dtype=float)
    if share <= 0.0 or not len(born):
        return np.zeros(len(born))
    q = quarters(np.full(len(born), now))
    lo = np.maximum(q.start - born, entry)
    hi = np.minimum(q.third, now) - born
    inc_lo, _ = table.incidence(lo)
    inc_hi, _ = table.incidence(np.maximum(hi, lo))
    _, survive = table.incidence(now - born)
    held = share * np.maximum(inc_hi - inc_lo, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(held + survive > 0, held / (held + survive), 0.0)
    return np.asarray(np.where(hi > lo, p, 0.0), dtype=float)


def _rate_at(table: LifeTable, age: Array) -> tuple[Array, Array]:
    b = np.clip(np.searchsorted(table.edges, age, side="right") - 1, 0, len(table.edges) - 1)
    return table.win_rate[b], table.loss_rate[b]


def hazard_log_likelihood(
    table: LifeTable,
    entry: Array,
    exit_: Array,
    outcome: np.ndarray[Any, Any],
    win_factor: Array | None = None,
) -> float:
    """Log-likelihood of the records under piecewise-constant hazards (no slip).

    ``win_factor``: the calendar factor on the win hazard at each record's exit, for a
    table fitted with that factor (its win exposure weighted by it); the exposure term is
    then the number of wins, as at every maximum-likelihood fit of such a table.
    """
    entry = np.asarray(entry, dtype=float)
    exit_ = np.maximum(np.asarray(exit_, dtype=float), entry)
    outcome = np.asarray(outcome)
    lw, ll = _rate_at(table, exit_)
    won, lost = outcome == WON, outcome == LOST
    hw1, hl1 = table.cumulative(exit_)
    hw0, hl0 = table.cumulative(entry)
    with np.errstate(divide="ignore"):
        events = float(np.sum(np.log(np.maximum(lw[won], 1e-300))))
        events += float(np.sum(np.log(np.maximum(ll[lost], 1e-300))))
        if win_factor is not None:
            factor = np.asarray(win_factor, dtype=float)[won]
            events += float(np.sum(np.log(np.maximum(factor, 1e-300))))
    loss_exposure = float(np.sum(hl1 - hl0))
    win_exposure = float(np.sum(won)) if win_factor is not None else float(np.sum(hw1 - hw0))
    return events - loss_exposure - win_exposure


def slip_log_likelihood(
    table: LifeTable,
    share: float,
    entry: Array,
    exit_: Array,
    outcome: np.ndarray[Any, Any],
    born: Array,
    until: float,
) -> float:
    """Log-likelihood of the records under the quarter-end slip with natural hazards
    ``table`` and held share ``share`` (each record conditioned on being open at entry).

    A win in a quarter's first two months is a natural win not held; one in its release
    window is a natural win then, or a held win whose natural time lay in the first two
    months (density ``share * P(natural win then) / RELEASE_DAYS``); a deal open at the
    as-of date is naturally open, or held this quarter.
    """
    entry = np.asarray(entry, dtype=float)
    exit_ = np.maximum(np.asarray(exit_, dtype=float), entry)
    outcome = np.asarray(outcome)
    born = np.asarray(born, dtype=float)
    lw, ll = _rate_at(table, exit_)
    hw1, hl1 = table.cumulative(exit_)
    hw0, hl0 = table.cumulative(entry)
    log_s1 = -(hw1 + hl1)
    log_s0 = -(hw0 + hl0)
    signed = born + exit_
    q = quarters(signed)
    won, lost, still = outcome == WON, outcome == LOST, outcome == OPEN
    first_two = signed < q.third
    release = (signed >= q.release) & (signed < q.end)
    lo, hi = _held_interval(born, entry, signed)
    inc_lo, _ = table.incidence(lo)
    inc_hi, _ = table.incidence(np.maximum(hi, lo))
    held_mass = np.where(hi > lo, np.maximum(inc_hi - inc_lo, 0.0), 0.0)
    now = quarters(np.full(len(born), until))
    lo_now = np.maximum(now.start - born, entry)
    hi_now = np.minimum(now.third, until) - born
    inc_lo_now, _ = table.incidence(lo_now)
    inc_hi_now, _ = table.incidence(np.maximum(hi_now, lo_now))
    held_now = np.where(hi_now > lo_now, np.maximum(inc_hi_now - inc_lo_now, 0.0), 0.0)
    density = lw * np.exp(log_s1)
    with np.errstate(divide="ignore"):
        terms = np.where(
            lost,
            np.log(np.maximum(ll, 1e-300)) + log_s1,
            0.0,
        )
        win_term = np.where(
            first_two,
            np.log(np.maximum((1.0 - share) * density, 1e-300)),
            np.where(
                release,
                np.log(np.maximum(density + share * held_mass / RELEASE_DAYS, 1e-300)),
                np.log(np.maximum(density, 1e-300)),
            ),
        )
        open_term = np.log(np.maximum(np.exp(log_s1) + share * held_now, 1e-300))
    terms = np.where(won, win_term, np.where(still, open_term, terms))
    return float(np.sum(terms - log_s0))


def slip_months(probs: Array, positions: np.ndarray[Any, Any], share: float) -> Array:
    """Move the held share of each month's wins to the last month of its quarter.

    Parameters
    ----------
    probs
        Win probabilities (or counts) by month on the last axis.
    positions
        Position of each month in its quarter (0, 1, 2).
    share
        Held share: of the wins in positions 0 and 1, this share moves to position 2 of the
        same quarter (dropped when that month lies past the last one).
    """
    out = np.array(probs, dtype=float, copy=True)
    if share <= 0.0:
        return out
    k = out.shape[-1]
    for m in range(k):
        pos = int(positions[m])
        if pos >= 2:
            continue
        moved = share * out[..., m]
        out[..., m] -= moved
        target = m + 2 - pos
        if target < k:
            out[..., target] += moved
    return out


__all__ = [
    "RELEASE_DAYS",
    "SlipFit",
    "fit_slip",
    "hazard_log_likelihood",
    "held_probability",
    "pushable",
    "quarter_position",
    "quarters",
    "slip_log_likelihood",
    "slip_months",
]
