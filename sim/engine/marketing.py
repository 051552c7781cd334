"""Marketing: channel arrivals, lead attributes, fit + behaviour scoring and routing.

Arrivals, segments, intent and fit need no queue, so they are drawn in bulk with numpy before
the run (DESIGN.md section 5); only the scoring decisions happen in the event loop.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable, Generator
from typing import Any

import numpy as np

from sim.engine.core import Context, call_each, call_later
from sim.engine.leads import (
    ACTIVE,
    CUSTOMER,
    DORMANT,
    FS_OPEN,
    INF,
    INSIDE_SALES,
    NEVER,
    NON_TARGET,
    NURTURE,
)
from sim.engine.ledger import F
from sim.engine.staff import DAYS_PER_MONTH
from sim.scenario.distributions import Exponential, Fixed
from sim.scenario.schema import Scenario

_CREATED, _REFERRAL, _NON_TARGET, _COST = (
    F["leads_created"],
    F["referral_leads"],
    F["non_target_leads"],
    F["marketing_cost"],
)
_FAST, _NURTURED, _REENGAGED = F["fast_passed"], F["nurtured"], F["reengaged"]
_HAND_RAISED, _ENGAGED_MQLS = F["hand_raisers"], F["engaged_mqls"]
_ELSEWHERE, _POSTPONED = F["windows_bought_elsewhere"], F["windows_postponed"]
_UNWORKED = F["windows_closed_in_nurture"]

_DEAL_HOLD_DAYS = 7.0
"""How often a window held open by a deal in progress is looked at again."""

Row = tuple[float, int, int, int, float, float, float, bool, float, int]
"""A lead ready to create: (time, channel, segment, intent class, active_at, fit score,
behaviour score at creation, non_target, window_end, random-number key)."""

_BATCH_RANKS = 1 << 40
"""Leads made in monthly batches are ranked ``_BATCH_RANKS + month * _PER_MONTH + k`` (the
``k``-th of its channel that month), apart from leads ranked one by one (below 2**40)."""
_PER_MONTH = 1 << 22


class Marketing:
    """Creates leads, scores them and routes them to inside sales, field sales or nurture.

    Channel ``i`` of the scenario is channel index ``i``; after the last channel come
    referrals from customers, leads of the starting book, and outbound (BDR) accounts.
    """

    to_inside_sales: Callable[[int, float], None]
    to_field_sales: Callable[[int], None]
    catch_up_inside_sales: Callable[[], None]
    """Bring the inside-sales queue up to now: its leads' windows matter to it."""

    def __init__(self, ctx: Context, scenario: Scenario) -> None:
        self.ctx = ctx
        self.scenario = scenario
        mk = scenario.marketing
        self.channels = list(mk.channels.values())
        self.referral = len(self.channels)
        self.starting_book = self.referral + 1
        self.outbound = self.referral + 2
        shares = {name: seg.share for name, seg in scenario.segments.items()}
        out = scenario.outbound
        # every lead source, by channel index: (segment shares, intent mix, non-target share,
        # cost per lead, follow-up delay)
        sources = [
            (ch.segment_shares or shares, ch.intent or scenario.intent, ch.non_target_share,
             ch.cost_per_lead, ch.follow_up_delay_days)
            for ch in self.channels
        ] + [
            (shares, scenario.customer_success.referrals.intent or scenario.intent, 0.0, 0.0,
             scenario.customer_success.referrals.follow_up_delay_days),
            # customers of the starting book who churned and come back: no form to wait on
            (shares, scenario.intent, 0.0, 0.0, Fixed(value=0.0)),
            (out.segment_shares or shares, out.intent, 0.0, 0.0, Fixed(value=0.0))
            if out is not None
            else (shares, scenario.intent, 0.0, 0.0, Fixed(value=0.0)),
        ]  # fmt: skip
        seg_names = list(scenario.segments)
        self._segment_p = [np.array([sh.get(s, 0.0) for s in seg_names]) for sh, *_ in sources]
        self._intent_p = [np.array([m.now, m.later, m.never]) for _, m, *_ in sources]
        self._segment_cdf = [_cdf(p) for p in self._segment_p]
        self._intent_cdf = [_cdf(p) for p in self._intent_p]
        self._non_target = [src[2] for src in sources]
        self._cost = [src[3] for src in sources]
        self._hand_raiser = [ch.hand_raiser for ch in self.channels] + [False] * 3
        self.paid = [cost > 0 for cost in self._cost]
        """Per channel index: are its leads bought (paid CAC counts their customers)?"""
        streams = ctx.streams
        # draws about a lead come from its own substream (common random numbers that hold
        # whatever order sales works the leads in): follow-ups, looks, windows, engagement
        keys = ctx.leads.key
        self._follow_up = [
            streams.lead_sampler(keys, f"mk.follow_up.{i}", src[4]) for i, src in enumerate(sources)
        ]
        sc = mk.scoring
        self._fit = [(sig.points, scenario.per_segment(sig.probability)) for sig in sc.fit]
        self._behaviour = [
            [(sig.points, sig.probability[state]) for sig in sc.behaviour]
            for state in ("active", "dormant", "never")
        ]
        self._penalty = sc.inactivity_penalty_points
        self._inactivity_days = sc.inactivity_days
        self._mql = sc.mql_threshold
        self._fast = INF if sc.fast_pass_threshold is None else sc.fast_pass_threshold
        self._looks = [_points_table(signals) for signals in self._behaviour]
        self._u_behaviour = streams.lead_uniforms(keys, "mk.behaviour")
        self._later_delay = scenario.later_active_after_days
        self._horizon = ctx.month_starts[-1]
        bw = scenario.buying_window
        self._window = None if bw is None else bw.open_days
        self._u_window = streams.lead_uniforms(keys, "mk.window")
        self._elsewhere = 1.0 if bw is None else bw.bought_elsewhere_share
        self._next_window = (
            None
            if bw is None or bw.next_window_after_days is None
            else streams.lead_sampler(keys, "mk.window.next", bw.next_window_after_days)
        )
        self._window_days = (
            None if bw is None else streams.lead_sampler(keys, "mk.window.days", bw.open_days)
        )
        eng = sc.engagement
        self._engage_rate = (
            [0.0, 0.0, 0.0]
            if eng is None
            else [eng.events_per_month[s] / DAYS_PER_MONTH for s in ("active", "dormant", "never")]
        )
        self._fade = 0.0 if eng is None else math.log(2.0) / eng.half_life_days
        self._engage_gap = streams.lead_sampler(keys, "mk.engagement", Exponential(mean=1.0))

    # -- bulk draws -----------------------------------------------------------------------
    def draw_batch(self, channel: int, times: np.ndarray[Any, Any], month: int) -> list[Row]:
        """Draw the attributes of leads arriving from ``channel`` at ``times`` in ``month``.

        The ``k``-th lead of a channel in a month has the same key in every scenario, and
        each attribute is the first draw of its own purpose from that key's substream, so a
        lever that changes how many leads come leaves the others' attributes as they were.
        """
        n = len(times)
        if n >= _PER_MONTH:
            raise ValueError(f"{n:,} leads in one month from one channel: at most {_PER_MONTH:,}")
        streams = self.ctx.streams
        ranks = np.arange(n, dtype=np.uint64) + np.uint64(_BATCH_RANKS + month * _PER_MONTH)
        keys = streams.lead_keys(channel, ranks)

        def u(name: str) -> np.ndarray[Any, Any]:
            return streams.first_uniforms(keys, name)

        segment = _inverse(self._segment_cdf[channel], u("mk.attr.segment"))
        intent = _inverse(self._intent_cdf[channel], u("mk.attr.intent"))
        delay = self._later_delay.quantiles(u("mk.attr.later_delay"))
        active_at = np.where(intent == 0, times, np.where(intent == 1, times + delay, np.inf))
        fit = np.zeros(n)
        for k, (points, probs) in enumerate(self._fit):
            fit += points * (u(f"mk.attr.fit.{k}") < np.asarray(probs)[segment])
        if self._window is None:
            window_end = np.full(n, np.inf)
        else:
            length = self._window.quantiles(u("mk.attr.window"))
            window_end = np.where(np.isfinite(active_at), active_at + length, np.inf)
        state = np.where(active_at <= times, ACTIVE, np.where(intent == 1, DORMANT, NEVER))
        behaviour = np.zeros(n)
        for k in range(len(self._behaviour[0])):
            points = self._behaviour[0][k][0]
            p = np.array([self._behaviour[s][k][1] for s in range(3)])
            behaviour += points * (u(f"mk.attr.behaviour.{k}") < p[state])
        non_target = u("mk.attr.non_target") < self._non_target[channel]
        return list(
            zip(
                times.tolist(),
                [channel] * n,
                segment.tolist(),
                intent.tolist(),
                active_at.tolist(),
                fit.tolist(),
                behaviour.tolist(),
                non_target.tolist(),
                window_end.tolist(),
                keys.tolist(),
                strict=True,
            )
        )

    def draw_fit(self, gen: np.random.Generator, segment: np.ndarray[Any, Any]) -> Any:
        """Fit scores of leads of the given segments."""
        fit = np.zeros(len(segment))
        for points, probs in self._fit:
            fit += points * (gen.random(len(segment)) < np.asarray(probs)[segment])
        return fit

    # -- arrivals -------------------------------------------------------------------------
    def arrivals(self) -> Generator[Any, Any, None]:
        """SimPy process: each month, draw every channel's new leads and schedule them.

        A channel's month has a stream of its own: its leads are the points of a unit-rate
        Poisson process stretched over the month (:func:`arrival_times`), so a scenario
        with more leads adds leads at the end of the order instead of redrawing them all.
        """
        env = self.ctx.env
        starts = self.ctx.month_starts
        first_month = self.scenario.start_date.month - 1
        streams = self.ctx.streams
        for m in range(len(starts) - 1):
            if starts[m] > env.now:
                yield env.timeout(starts[m] - env.now)
            rows: list[Row] = []
            for c, ch in enumerate(self.channels):
                mean = ch.volume(m, (first_month + m) % 12)
                gen = streams.generator(f"mk.volume.{c}.{m}")
                exact = round(mean) if ch.exact_volume else None
                times = arrival_times(gen, mean, starts[m], starts[m + 1], exact)
                rows += self.draw_batch(c, times, m)
            self.schedule(rows)

    def schedule(self, rows: list[Row]) -> None:
        """Create each lead of ``rows`` at its time."""
        rows.sort()
        call_each(self.ctx.env, rows, self.create)

    def create(self, row: Row) -> int:
        """Create one lead now from pre-drawn attributes and route it."""
        ctx = self.ctx
        _, channel, segment, intent, active_at, fit, behaviour, non_target, window_end, key = row
        t = ctx.env.now  # the clock, not the drawn time: they can differ in the last bit
        flows = ctx.flows
        flows[_CREATED] += 1
        flows[_COST] += self._cost[channel]
        if channel == self.referral:
            flows[_REFERRAL] += 1
        if non_target:
            flows[_NON_TARGET] += 1
            return ctx.leads.create(
                t, NON_TARGET, channel, segment, intent, active_at, fit, key=key
            )
        lead = self.add(
            t, NURTURE, channel, segment, intent, active_at, fit, window_end, behaviour, key
        )
        score = fit + behaviour
        if self._hand_raiser[channel] and score < self._fast:
            flows[_HAND_RAISED] += 1
            self.to_inside_sales(lead, self._follow_up[channel](lead))
        else:
            self._route(lead, score)
        return lead

    def add(
        self,
        t: float,
        state: int,
        channel: int,
        segment: int,
        intent: int,
        active_at: float,
        fit: float,
        window_end: float = INF,
        behaviour: float = 0.0,
        key: int | None = None,
    ) -> int:
        """Create a lead record and schedule the end of its buying window, if it has one.

        ``key`` is the lead's random-number key when it was drawn with its batch.
        """
        leads = self.ctx.leads
        lead = leads.create(
            t, state, channel, segment, intent, active_at, fit, window_end, behaviour, key
        )
        if window_end < self._horizon:
            call_later(self.ctx.env, window_end - t, self._window_closes, (lead, 0))
        return lead

    # -- buying windows -------------------------------------------------------------------
    def open_window(self, lead: int, active_at: float) -> int:
        """Give ``lead`` a new buying window opening at ``active_at`` (``inf``: none).

        Returns the window's token; callbacks about the old window see a different one.
        """
        leads = self.ctx.leads
        now = self.ctx.env.now
        token = leads.window[lead] + 1
        leads.window[lead] = token
        leads.active_at[lead] = active_at
        if active_at == INF or self._window_days is None:
            leads.window_end[lead] = INF
            return token
        end = active_at + self._window_days(lead)
        leads.window_end[lead] = end
        if end < self._horizon:
            call_later(self.ctx.env, end - now, self._window_closes, (lead, token))
        return token

    def _window_closes(self, value: Any) -> None:
        lead, token = value
        leads = self.ctx.leads
        if leads.window[lead] != token:
            return
        state = leads.state[lead]
        if state == INSIDE_SALES:
            self.catch_up_inside_sales()
        elif state == CUSTOMER:
            leads.window_end[lead] = INF  # it bought: churn decides what comes next
            return
        if state == FS_OPEN:
            # a deal in progress holds the window open: the phases decide; look again later
            leads.window_end[lead] += _DEAL_HOLD_DAYS
            call_later(self.ctx.env, _DEAL_HOLD_DAYS, self._window_closes, (lead, token))
            return
        if state == NURTURE:
            self.ctx.flows[_UNWORKED] += 1  # a buyer nobody in sales ever saw in this window
        self.close_window(lead)

    def close_window(self, lead: int) -> None:
        """The buyer's window closes unbought: it buys elsewhere or postpones (a new window).

        Called when the window runs out and when inside sales was too slow (the buyer moved
        on). A lead in nurture is nurtured again, under its new intent.
        """
        ctx = self.ctx
        now = ctx.env.now
        if self._next_window is None or self._u_window(lead) < self._elsewhere:
            ctx.flows[_ELSEWHERE] += 1
            self.open_window(lead, INF)
        else:
            ctx.flows[_POSTPONED] += 1
            self.open_window(lead, now + self._next_window(lead))
        if ctx.leads.state[lead] == NURTURE:
            self.nurture(lead)

    def qualify(self, lead: int, idle_days: float) -> None:
        """Score a lead now and route it: field sales, inside sales, or nurture.

        ``idle_days`` is how long the lead has shown no activity (the recycle pause), which
        costs the inactivity penalty unless its intent is active.
        """
        leads = self.ctx.leads
        now = self.ctx.env.now
        state = leads.intent(lead, now)
        behaviour = self.look(state, lead)
        if state != ACTIVE and idle_days >= self._inactivity_days:
            behaviour += self._penalty
        leads.behaviour[lead] = behaviour
        leads.engaged_at[lead] = now
        self._route(lead, leads.fit[lead] + behaviour)

    def look(self, state: int, lead: int) -> float:
        """Behaviour points of one look at ``lead``: each signal shows with its odds.

        One draw of the lead's own, through the exact distribution of the signals' total.
        """
        return self.points(state, self._u_behaviour(lead))

    def points(self, state: int, u: float) -> float:
        """Behaviour points of a look in intent ``state`` whose uniform draw is ``u``."""
        cdf, values = self._looks[state]
        return values[min(bisect_right(cdf, u), len(values) - 1)]

    def _route(self, lead: int, score: float) -> None:
        ctx = self.ctx
        leads = ctx.leads
        if score >= self._fast:
            ctx.flows[_FAST] += 1
            self.to_field_sales(lead)
        elif score >= self._mql:
            self.to_inside_sales(lead, self._follow_up[leads.channel[lead]](lead))
        else:
            ctx.flows[_NURTURED] += 1
            self.nurture(lead)

    def nurture(self, lead: int) -> None:
        """Keep a lead in nurture: until its buying window opens, and while it engages.

        A dormant lead is scored again when its window opens. With ``scoring.engagement``,
        a lead engages at its intent's rate while in nurture and its behaviour score builds
        up (fading between events), so an evaluating buyer crosses the bar when its
        behaviour says so.
        """
        env = self.ctx.env
        leads = self.ctx.leads
        epoch = leads.move(lead, NURTURE)
        state = leads.intent(lead, env.now)
        if state == DORMANT and leads.active_at[lead] < self._horizon:
            call_later(env, leads.active_at[lead] - env.now, self._reengage, (lead, epoch))
        if self._engage_rate[state] > 0:
            self._plan_engagement(lead, epoch, state)

    def _plan_engagement(self, lead: int, epoch: int, state: int) -> None:
        """Draw the lead's engagement events ahead, up to the first that crosses the bar.

        Events before it change nothing but the behaviour score, so only the crossing is
        scheduled (one event instead of one per engagement: a lean event loop). The draws
        stop where the lead's intent state ends (its window opens or closes) or the horizon
        does; a lead that leaves nurture first drops the event (its epoch moved on).
        """
        leads = self.ctx.leads
        now = self.ctx.env.now
        rate = self._engage_rate[state]
        if state == ACTIVE:
            until = leads.window_end[lead]
        elif state == DORMANT:
            until = leads.active_at[lead]
        else:
            until = INF
        until = min(until, self._horizon)
        t, last = now, leads.engaged_at[lead]
        behaviour = leads.behaviour[lead]
        bar = self._mql - leads.fit[lead]
        gap, look, fade = self._engage_gap, self.look, self._fade
        while True:
            t += gap(lead) / rate
            if t >= until:
                return
            behaviour = max(0.0, behaviour * math.exp(-fade * (t - last))) + look(state, lead)
            last = t
            if behaviour >= bar:
                call_later(self.ctx.env, t - now, self._engage, (lead, epoch, behaviour))
                return

    def _reengage(self, value: Any) -> None:
        lead, epoch = value
        leads = self.ctx.leads
        if leads.epoch[lead] == epoch:
            self.ctx.flows[_REENGAGED] += 1
            self.qualify(lead, 0.0)

    def _engage(self, value: Any) -> None:
        """An engagement event lifts the lead's score to the bar: hand it on."""
        lead, epoch, behaviour = value
        ctx = self.ctx
        leads = ctx.leads
        if leads.epoch[lead] != epoch:
            return
        leads.behaviour[lead] = behaviour
        leads.engaged_at[lead] = ctx.env.now
        ctx.flows[_ENGAGED_MQLS] += 1
        self._route(lead, leads.fit[lead] + behaviour)


def arrival_times(
    gen: np.random.Generator, mean: float, start: float, end: float, exact: int | None = None
) -> np.ndarray[Any, Any]:
    """Arrival times in ``[start, end)`` of a Poisson count of mean ``mean`` (or of exactly
    ``exact`` leads, spread as uniform order statistics), ascending.

    The points of a unit-rate Poisson process on ``[0, mean]``, mapped linearly onto the
    month; ``exact`` leads are the first ``exact`` points over the next one (which are
    distributed as sorted uniforms). Either way, the ``k``-th arrival comes from the same
    draws whatever the mean, so scenarios with different volumes stay paired.
    """
    want = exact if exact is not None else mean
    if want <= 0:
        return np.zeros(0)
    size = int(want + 6.0 * math.sqrt(want) + 16)
    points = np.cumsum(gen.standard_exponential(size))
    # one point past the last wanted: the (exact + 1)-th, or the first beyond the mean
    while len(points) <= exact if exact is not None else points[-1] < mean:
        points = np.concatenate([points, points[-1] + np.cumsum(gen.standard_exponential(size))])
    if exact is not None:
        return np.asarray(start + (end - start) * (points[:exact] / points[exact]))
    return np.asarray(start + (end - start) * (points[points < mean] / mean))


def _inverse(cdf: np.ndarray[Any, Any], u: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """The categories (indices of ``cdf``) that the uniforms ``u`` fall in."""
    return np.asarray(np.searchsorted(cdf, u, side="right"))


def _cdf(p: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Cumulative probabilities of categories ``p``, exactly 1 from the last possible one
    on (so no uniform lands on a category that cannot happen)."""
    cdf = np.cumsum(p) / np.sum(p)
    cdf[np.flatnonzero(p)[-1] :] = 1.0
    return np.asarray(cdf)


def _points_table(signals: list[tuple[float, float]]) -> tuple[list[float], list[float]]:
    """The distribution of a look's total points when each signal ``(points, probability)``
    shows independently: (cumulative probabilities, totals), totals ascending."""
    dist = {0.0: 1.0}
    for points, p in signals:
        step: dict[float, float] = {}
        for total, q in dist.items():
            step[total] = step.get(total, 0.0) + q * (1.0 - p)
            shown = total + points
            step[shown] = step.get(shown, 0.0) + q * p
        dist = step
    values = sorted(v for v, q in dist.items() if q > 0.0) or [0.0]
    cdf = list(np.cumsum([dist[v] for v in values]))
    cdf[-1] = 1.0
    return [float(c) for c in cdf], values
