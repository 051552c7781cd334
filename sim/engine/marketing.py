"""Marketing: channel arrivals, lead attributes, fit + behaviour scoring and routing.

Arrivals, segments, intent and fit need no queue, so they are drawn in bulk with numpy before
the run (DESIGN.md section 5); only the scoring decisions happen in the event loop.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import numpy as np
import simpy

from sim.engine.core import Context, call_each, call_later
from sim.engine.leads import ACTIVE, DORMANT, INF, NEVER, NON_TARGET, NURTURE
from sim.engine.ledger import F
from sim.scenario.distributions import Fixed
from sim.scenario.schema import Scenario

_CREATED, _REFERRAL, _NON_TARGET, _COST = (
    F["leads_created"],
    F["referral_leads"],
    F["non_target_leads"],
    F["marketing_cost"],
)
_FAST, _NURTURED, _REENGAGED = F["fast_passed"], F["nurtured"], F["reengaged"]

Row = tuple[float, int, int, int, float, float, float, bool]
"""A lead ready to create: (time, channel, segment, intent class, active_at, fit score,
behaviour score at creation, non_target)."""


class Marketing:
    """Creates leads, scores them and routes them to inside sales, field sales or nurture.

    Channel ``i`` of the scenario is channel index ``i``; after the last channel come
    referrals from customers, leads of the starting book, and outbound (BDR) accounts.
    """

    to_inside_sales: Callable[[int, float], None]
    to_field_sales: Callable[[int], None]

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
        self._non_target = [src[2] for src in sources]
        self._cost = [src[3] for src in sources]
        self.paid = [cost > 0 for cost in self._cost]
        """Per channel index: are its leads bought (paid CAC counts their customers)?"""
        streams = ctx.streams
        self._follow_up = [
            streams.sampler(f"mk.follow_up.{i}", src[4]) for i, src in enumerate(sources)
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
        self._u_behaviour = streams.uniforms("mk.behaviour")
        self._attributes = [streams.generator(f"mk.attributes.{c}") for c in range(len(sources))]
        self._volume = [streams.generator(f"mk.volume.{c}") for c in range(len(self.channels))]
        self._later_delay = scenario.later_active_after_days

    # -- bulk draws -----------------------------------------------------------------------
    def draw_batch(self, channel: int, times: np.ndarray[Any, Any]) -> list[Row]:
        """Draw the attributes of leads arriving from ``channel`` at ``times``."""
        n = len(times)
        gen = self._attributes[channel]
        seg_p = self._segment_p[channel]
        segment = gen.choice(len(seg_p), size=n, p=seg_p)
        intent = gen.choice(3, size=n, p=self._intent_p[channel])
        delay = self._later_delay.sample(gen, n)
        active_at = np.where(intent == 0, times, np.where(intent == 1, times + delay, np.inf))
        fit = self.draw_fit(gen, segment)
        state = np.where(active_at <= times, ACTIVE, np.where(intent == 1, DORMANT, NEVER))
        behaviour = np.zeros(n)
        for k in range(len(self._behaviour[0])):
            points = self._behaviour[0][k][0]
            p = np.array([self._behaviour[s][k][1] for s in range(3)])
            behaviour += points * (gen.random(n) < p[state])
        non_target = gen.random(n) < self._non_target[channel]
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
        """SimPy process: each month, draw every channel's new leads and schedule them."""
        env = self.ctx.env
        starts = self.ctx.month_starts
        first_month = self.scenario.start_date.month - 1
        for m in range(len(starts) - 1):
            if starts[m] > env.now:
                yield env.timeout(starts[m] - env.now)
            rows: list[Row] = []
            for c, ch in enumerate(self.channels):
                gen = self._volume[c]
                mean = ch.volume(m, (first_month + m) % 12)
                k = round(mean) if ch.exact_volume else gen.poisson(mean)
                rows += self.draw_batch(c, np.sort(gen.uniform(starts[m], starts[m + 1], k)))
            self.schedule(rows)

    def schedule(self, rows: list[Row]) -> None:
        """Create each lead of ``rows`` at its time."""
        rows.sort()
        call_each(self.ctx.env, rows, self.create)

    def create(self, row: Row) -> int:
        """Create one lead now from pre-drawn attributes and route it."""
        ctx = self.ctx
        _, channel, segment, intent, active_at, fit, behaviour, non_target = row
        t = ctx.env.now  # the clock, not the drawn time: they can differ in the last bit
        flows = ctx.flows
        flows[_CREATED] += 1
        flows[_COST] += self._cost[channel]
        if channel == self.referral:
            flows[_REFERRAL] += 1
        if non_target:
            flows[_NON_TARGET] += 1
            return ctx.leads.create(t, NON_TARGET, channel, segment, intent, active_at, fit)
        lead = ctx.leads.create(t, NURTURE, channel, segment, intent, active_at, fit)
        self._route(lead, fit + behaviour)
        return lead

    def qualify(self, lead: int, idle_days: float) -> None:
        """Score a lead now and route it: field sales, inside sales, or nurture.

        ``idle_days`` is how long the lead has shown no activity (the recycle pause), which
        costs the inactivity penalty unless its intent is active.
        """
        leads = self.ctx.leads
        state = leads.intent(lead, self.ctx.env.now)
        score = leads.fit[lead]
        u = self._u_behaviour
        for points, p in self._behaviour[state]:
            if u() < p:
                score += points
        if state != ACTIVE and idle_days >= self._inactivity_days:
            score += self._penalty
        self._route(lead, score)

    def _route(self, lead: int, score: float) -> None:
        ctx = self.ctx
        leads = ctx.leads
        if score >= self._fast:
            ctx.flows[_FAST] += 1
            self.to_field_sales(lead)
        elif score >= self._mql:
            self.to_inside_sales(lead, self._follow_up[leads.channel[lead]]())
        else:
            ctx.flows[_NURTURED] += 1
            self.nurture(lead)

    def nurture(self, lead: int) -> None:
        """Keep a lead in nurture until its buying window opens (if it ever does)."""
        env = self.ctx.env
        leads = self.ctx.leads
        epoch = leads.move(lead, NURTURE)
        if leads.intent(lead, env.now) == DORMANT:
            call_later(env, leads.active_at[lead] - env.now, self._reengage, (lead, epoch))

    def _reengage(self, event: simpy.Event) -> None:
        lead, epoch = event._value
        leads = self.ctx.leads
        if leads.epoch[lead] == epoch:
            self.ctx.flows[_REENGAGED] += 1
            self.qualify(lead, 0.0)
