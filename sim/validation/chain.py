"""The funnel as an absorbing Markov chain, built from a scenario's own odds.

Without capacity effects (no speed-to-lead decay, no patience) and with static intent (no
'later' leads, no intent reset on recycle, no finite buying windows), a lead's path depends
only on its stage, its type (intent, segment, fit score) and how many times it has been
recycled for each reason (each reason's ``max_cycles`` caps the recycles for that reason
alone), so the probability of an eventual win and the expected number of recycle cycles
follow from the fundamental matrix ``(I - Q)^-1``. The simulation must reproduce them.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sim.scenario.distributions import Fixed
from sim.scenario.schema import RECYCLE_REASONS, Channel, Scenario
from sim.validation.theory import absorption

WON, RETIRED, STUCK = "won", "retired", "nurture"
ABSORBING = (WON, RETIRED, STUCK)
_STATE = {"now": "active", "never": "never"}

Counts = tuple[int, ...]
"""Recycles so far for each reason that can recycle (``max_cycles > 0``), in
:data:`RECYCLE_REASONS` order."""

Node = tuple[Any, ...] | str
"""A chain state: a tuple such as ("attempt", 2, counts), or an absorbing state's name."""


@dataclass(frozen=True)
class ChainFigures:
    """Closed-form figures per new lead (non-targets included, as 0 wins and 0 cycles)."""

    p_win: float
    expected_cycles: float
    transient_states: int
    p_win_by_segment: dict[str, float] = field(default_factory=dict)
    """P(win) of a new target lead of each segment (non-targets left out)."""


def _distribution(outcomes: list[tuple[float, float]]) -> dict[float, float]:
    """Distribution of the sum of independent (points, probability) signals."""
    dist: dict[float, float] = {0.0: 1.0}
    for points, p in outcomes:
        nxt: dict[float, float] = defaultdict(float)
        for value, prob in dist.items():
            nxt[value + points] += prob * p
            nxt[value] += prob * (1.0 - p)
        dist = dict(nxt)
    return dist


def _require_closed_form(sc: Scenario) -> None:
    problems = []
    if sc.intent.later > 0 or any(
        ch.intent is not None and ch.intent.later > 0 for ch in sc.marketing.channels.values()
    ):
        problems.append("intent.later must be 0 (intent must not change with time)")
    if sc.buying_window is not None:
        problems.append("buying_window must be null (a buying window must never close)")
    if sc.marketing.scoring.engagement is not None:
        problems.append(
            "marketing.scoring.engagement must be null (one look per scoring, no behaviour "
            "building up in nurture)"
        )
    problems += [
        f"marketing.channels.{name}.hand_raiser must be false (new leads routed by score)"
        for name, ch in sc.marketing.channels.items()
        if ch.hand_raiser
    ]
    if sc.inside_sales.speed_to_lead is not None:
        problems.append("inside_sales.speed_to_lead must be null (no decay with waiting)")
    if sc.inside_sales.patience_days is not None:
        problems.append("inside_sales.patience_days must be null (no leads going cold)")
    for reason in RECYCLE_REASONS:
        if getattr(sc.recycle, reason).reset_intent is not None:
            problems.append(f"recycle.{reason}.reset_intent must be null")
    if sc.recycle.churned.max_cycles > 0 and any(
        p > 0 for p in sc.per_segment(sc.customer_success.churn_probability)
    ):
        problems.append(
            "recycle.churned.max_cycles must be 0 or customer_success.churn_probability 0 "
            "(the chain stops at the first win)"
        )
    if sc.customer_success.referrals.leads_per_customer_per_year > 0:
        problems.append("customer_success.referrals must bring no leads")
    if problems:
        raise ValueError("no closed form for this scenario: " + "; ".join(problems))


class _Builder:
    """Builds the transient states and transitions of one lead type.

    States carry the lead's recycle counts per reason; only the states reachable from a
    fresh scoring are built, so the chain stays small.
    """

    def __init__(self, sc: Scenario, state: str, fit: float, segment: str) -> None:
        self.sc = sc
        self.state = state
        self.fit = fit
        self.contacts = sc.inside_sales.for_segment(segment)
        self.deals = sc.field_sales.for_segment(segment)
        self.caps: dict[str, int] = {r: getattr(sc.recycle, r).max_cycles for r in RECYCLE_REASONS}
        self.reasons = tuple(r for r in RECYCLE_REASONS if self.caps[r] > 0)
        """The reasons that can recycle: one dimension of :data:`Counts` each."""
        self.edges: dict[tuple[Any, ...], dict[Node, float]] = {}
        self.start: tuple[Any, ...] = ("score", "new", (0,) * len(self.reasons))
        self._build()

    def _score_routes(self, idle_days: float) -> tuple[float, float]:
        """P(fast pass), P(MQL) for a scoring after ``idle_days`` without activity."""
        sc = self.sc.marketing.scoring
        points = [(sig.points, sig.probability[self.state]) for sig in sc.behaviour]  # type: ignore[index]
        penalty = (
            sc.inactivity_penalty_points
            if self.state != "active" and idle_days >= sc.inactivity_days
            else 0.0
        )
        fast = math.inf if sc.fast_pass_threshold is None else sc.fast_pass_threshold
        p_fast = p_mql = 0.0
        for b, p in _distribution(points).items():
            score = self.fit + b + penalty
            if score >= fast:
                p_fast += p
            elif score >= sc.mql_threshold:
                p_mql += p
        return p_fast, p_mql

    def retires(self, reason: str, counts: Counts) -> bool:
        """Does a lead falling out for ``reason`` with ``counts`` recycles so far retire?

        The engine's rule (``Recycler.receive``): it has been recycled ``max_cycles`` times
        for this very reason already; a reason with ``max_cycles`` 0 always retires.
        """
        if reason not in self.reasons:
            return True
        return counts[self.reasons.index(reason)] >= self.caps[reason]

    def _recycled(self, reason: str, counts: Counts) -> Counts:
        """The counts after one more recycle for ``reason``."""
        k = self.reasons.index(reason)
        return (*counts[:k], counts[k] + 1, *counts[k + 1 :])

    def _targets(self, node: tuple[Any, ...]) -> dict[Node, float]:
        """Where a transient ``node`` leads, with the odds."""
        sc = self.sc
        is_, contacts, deals = sc.inside_sales, self.contacts, self.deals
        kind, counts = node[0], node[-1]
        out: dict[Node, float] = defaultdict(float)
        if kind == "score":
            # fresh (entry "new") or after a recycle pause into nurture
            entry = node[1]
            p_fast, p_mql = self._score_routes(0.0 if entry == "new" else _pause(sc, entry))
            out[("appointment", counts)] += p_fast
            out[("attempt", 1, counts)] += p_mql
            out[STUCK] += 1.0 - p_fast - p_mql
        elif kind == "attempt":
            k = node[1]
            p = contacts.contact_probability
            outcome = contacts.outcome[self.state]  # type: ignore[index]
            out[("appointment", counts)] += p * outcome.qualified
            out[("recycle", "not_now", counts)] += p * outcome.not_now
            out[("recycle", "rejected", counts)] += p * outcome.disqualified
            miss = (
                ("attempt", k + 1, counts)
                if k < is_.max_attempts
                else ("recycle", "unreached", counts)
            )
            out[miss] += 1.0 - p
        elif kind == "appointment":
            accept = deals.acceptance_probability[self.state]  # type: ignore[index]
            out[("phase", 0, counts)] += accept
            out[("recycle", "rejected", counts)] += 1.0 - accept
        elif kind == "phase":
            j = node[1]
            advance = deals.phases[j].advance_probability
            out[("phase", j + 1, counts) if j + 1 < len(deals.phases) else WON] += advance
            out[("recycle", "lost", counts)] += 1.0 - advance
        else:
            # entering ("recycle", reason, counts) means the lead fell out with these counts
            reason = node[1]
            if self.retires(reason, counts):
                out[RETIRED] += 1.0
            else:
                after = self._recycled(reason, counts)
                if getattr(sc.recycle, reason).reenter == "inside_sales":
                    out[("attempt", 1, after)] += 1.0
                else:
                    out[("score", reason, after)] += 1.0
        return {target: p for target, p in out.items() if p > 0}

    def _build(self) -> None:
        todo = [self.start]
        while todo:
            node = todo.pop()
            if node in self.edges:
                continue
            targets = self._targets(node)
            self.edges[node] = targets
            todo += [t for t in targets if isinstance(t, tuple) and t not in self.edges]

    def solve(self) -> tuple[float, float, int]:
        """P(win) and expected recycle entries from a fresh scoring, and the chain size."""
        transient = sorted(self.edges, key=repr)
        index = {node: i for i, node in enumerate(transient)}
        q = np.zeros((len(transient), len(transient)))
        r = np.zeros((len(transient), len(ABSORBING)))
        for node, targets in self.edges.items():
            for target, p in targets.items():
                if isinstance(target, str):
                    r[index[node], ABSORBING.index(target)] += p
                else:
                    q[index[node], index[target]] += p
        fundamental, absorbed = absorption(q, r)
        start = index[self.start]
        # a visit to a recycle node that does not retire the lead is one recycle entry
        entries = [
            i
            for node, i in index.items()
            if node[0] == "recycle" and not self.retires(node[1], node[2])
        ]
        return (
            float(absorbed[start, ABSORBING.index(WON)]),
            float(fundamental[start, entries].sum()),
            len(transient),
        )


def _pause(sc: Scenario, reason: str) -> float:
    pause = getattr(sc.recycle, reason).pause_days
    penalty = sc.marketing.scoring.inactivity_penalty_points
    if penalty != 0 and not isinstance(pause, Fixed):
        raise ValueError(
            f"no closed form: recycle.{reason}.pause_days must be fixed when an inactivity "
            "penalty applies (whether the pause reaches inactivity_days would be random)"
        )
    return float(pause.mean)


def _channel_weights(sc: Scenario) -> list[tuple[Channel, float]]:
    first = sc.start_date.month - 1
    volumes = [
        (ch, sum(ch.volume(m, (first + m) % 12) for m in range(sc.horizon_months)))
        for ch in sc.marketing.channels.values()
    ]
    total = sum(v for _, v in volumes)
    return [(ch, v / total) for ch, v in volumes]


def funnel_chain(sc: Scenario) -> ChainFigures:
    """Closed-form P(win) and expected recycle cycles of a new channel lead of ``sc``."""
    _require_closed_form(sc)
    segments = list(sc.segments)
    fit_probs = [sc.per_segment(sig.probability) for sig in sc.marketing.scoring.fit]
    fit_points = [sig.points for sig in sc.marketing.scoring.fit]
    own = set(sc.inside_sales.segments) | set(sc.field_sales.segments)
    cache: dict[tuple[str, float, str | None], tuple[float, float, int]] = {}
    p_win = cycles = 0.0
    size = 0
    seg_win = dict.fromkeys(segments, 0.0)
    seg_weight = dict.fromkeys(segments, 0.0)
    for ch, weight in _channel_weights(sc):
        mix = ch.intent or sc.intent
        shares = ch.segment_shares or {s: seg.share for s, seg in sc.segments.items()}
        target = weight * (1.0 - ch.non_target_share)
        for intent, p_intent in (("now", mix.now), ("never", mix.never)):
            for s, segment in enumerate(segments):
                p_seg = shares.get(segment, 0.0)
                for has in itertools.product((0, 1), repeat=len(fit_points)):
                    p_fit = math.prod(
                        probs[s] if x else 1.0 - probs[s]
                        for x, probs in zip(has, fit_probs, strict=True)
                    )
                    fit = sum(x * pts for x, pts in zip(has, fit_points, strict=True))
                    p = target * p_intent * p_seg * p_fit
                    if p == 0:
                        continue
                    # segments with no motion of their own share their chains
                    key = (_STATE[intent], fit, segment if segment in own else None)
                    if key not in cache:
                        cache[key] = _Builder(sc, key[0], fit, segment).solve()
                    win, cyc, n = cache[key]
                    p_win += p * win
                    cycles += p * cyc
                    size = max(size, n)
                    seg_win[segment] += p * win
                    seg_weight[segment] += p
    return ChainFigures(
        p_win=p_win,
        expected_cycles=cycles,
        transient_states=size,
        p_win_by_segment={s: seg_win[s] / seg_weight[s] for s in segments if seg_weight[s] > 0},
    )
