"""The funnel as an absorbing Markov chain, built from a scenario's own odds.

Without capacity effects (no speed-to-lead decay, no patience) and with static intent (no
'later' leads, no intent reset on recycle), a lead's path depends only on its stage, its
type (intent, segment, fit score) and how many times it has been recycled, so the
probability of an eventual win and the expected number of recycle cycles follow from the
fundamental matrix ``(I - Q)^-1``. The simulation must reproduce them.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.scenario.distributions import Fixed
from sim.scenario.schema import RECYCLE_REASONS, Channel, Scenario
from sim.validation.theory import absorption

WON, RETIRED, STUCK = "won", "retired", "nurture"
ABSORBING = (WON, RETIRED, STUCK)
_STATE = {"now": "active", "never": "never"}

Node = tuple[Any, ...] | str
"""A chain state: a tuple such as ("attempt", 2, cycles), or an absorbing state's name."""


@dataclass(frozen=True)
class ChainFigures:
    """Closed-form figures per new lead (non-targets included, as 0 wins and 0 cycles)."""

    p_win: float
    expected_cycles: float
    transient_states: int


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
    if sc.inside_sales.speed_to_lead is not None:
        problems.append("inside_sales.speed_to_lead must be null (no decay with waiting)")
    if sc.inside_sales.patience_days is not None:
        problems.append("inside_sales.patience_days must be null (no leads going cold)")
    for reason in RECYCLE_REASONS:
        if getattr(sc.recycle, reason).reset_intent is not None:
            problems.append(f"recycle.{reason}.reset_intent must be null")
    if sc.customer_success.referrals.leads_per_customer_per_year > 0:
        problems.append("customer_success.referrals must bring no leads")
    if problems:
        raise ValueError("no closed form for this scenario: " + "; ".join(problems))


class _Builder:
    """Builds the transient states and transitions of one lead type."""

    def __init__(self, sc: Scenario, state: str, fit: float) -> None:
        self.sc = sc
        self.state = state
        self.fit = fit
        self.edges: dict[Node, dict[Node, float]] = defaultdict(lambda: defaultdict(float))
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

    def _build(self) -> None:
        sc = self.sc
        max_cycles = max(getattr(sc.recycle, r).max_cycles for r in RECYCLE_REASONS)
        is_ = sc.inside_sales
        outcome = is_.outcome[self.state]  # type: ignore[index]
        fs = sc.field_sales
        accept = fs.acceptance_probability[self.state]  # type: ignore[index]
        node: Node
        for c in range(max_cycles + 1):
            # scoring: fresh (c == 0) or after a recycle pause into nurture
            for entry in ["new", *RECYCLE_REASONS]:
                idle = 0.0 if entry == "new" else _pause(sc, entry)
                p_fast, p_mql = self._score_routes(idle)
                node = ("score", entry, c)
                self.edges[node][("appointment", c)] += p_fast
                self.edges[node][("attempt", 1, c)] += p_mql
                self.edges[node][STUCK] += 1.0 - p_fast - p_mql
            for k in range(1, is_.max_attempts + 1):
                node = ("attempt", k, c)
                p = is_.contact_probability
                self.edges[node][("appointment", c)] += p * outcome.qualified
                self.edges[node][("recycle", "not_now", c)] += p * outcome.not_now
                self.edges[node][("recycle", "rejected", c)] += p * outcome.disqualified
                miss = (
                    ("attempt", k + 1, c) if k < is_.max_attempts else ("recycle", "unreached", c)
                )
                self.edges[node][miss] += 1.0 - p
            self.edges[("appointment", c)][("phase", 0, c)] += accept
            self.edges[("appointment", c)][("recycle", "rejected", c)] += 1.0 - accept
            for j, phase in enumerate(fs.phases):
                nxt = ("phase", j + 1, c) if j + 1 < len(fs.phases) else WON
                self.edges[("phase", j, c)][nxt] += phase.advance_probability
                self.edges[("phase", j, c)][("recycle", "lost", c)] += 1 - phase.advance_probability
            for reason in RECYCLE_REASONS:
                rule = getattr(sc.recycle, reason)
                node = ("recycle", reason, c)
                # entering this node means the lead fell out with c cycles done
                if c >= rule.max_cycles:
                    self.edges[node][RETIRED] += 1.0
                elif rule.reenter == "inside_sales":
                    self.edges[node][("attempt", 1, c + 1)] += 1.0
                else:
                    self.edges[node][("score", reason, c + 1)] += 1.0

    def solve(self) -> tuple[float, float, int]:
        """P(win) and expected recycle entries from a fresh scoring, and the chain size."""
        transient = sorted(
            {n for n in self.edges}
            | {t for targets in self.edges.values() for t in targets if t not in ABSORBING},
            key=repr,
        )
        index = {node: i for i, node in enumerate(transient)}
        q = np.zeros((len(transient), len(transient)))
        r = np.zeros((len(transient), len(ABSORBING)))
        for node, targets in self.edges.items():
            for target, p in targets.items():
                if target in ABSORBING:
                    r[index[node], ABSORBING.index(target)] += p
                else:
                    q[index[node], index[target]] += p
        fundamental, absorbed = absorption(q, r)
        start = index[("score", "new", 0)]
        # a visit to a ("recycle", reason, c) node with c < max_cycles is one recycle entry
        entries = [
            i
            for node, i in index.items()
            if node[0] == "recycle" and node[2] < getattr(self.sc.recycle, node[1]).max_cycles
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
    cache: dict[tuple[str, float], tuple[float, float, int]] = {}
    p_win = cycles = 0.0
    size = 0
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
                    key = (_STATE[intent], fit)
                    if key not in cache:
                        cache[key] = _Builder(sc, *key).solve()
                    win, cyc, n = cache[key]
                    p_win += p * win
                    cycles += p * cyc
                    size = max(size, n)
    return ChainFigures(p_win=p_win, expected_cycles=cycles, transient_states=size)
