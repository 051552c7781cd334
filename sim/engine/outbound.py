"""Outbound: BDRs prospect a finite list of target accounts.

Each month the BDR team (a :class:`~sim.engine.staff.Roster`: ramp, attrition, cost) works
through as many available accounts as its capacity allows. An account that engages becomes a
lead: the BDR books a meeting with field sales when its intent is active (with the meeting
odds), otherwise marketing nurtures it. An account that does not engage cools down before it
may be prospected again, so a small market runs dry and a long cooldown slows the team.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Generator
from typing import Any

import numpy as np

from sim.engine.core import Context, call_each
from sim.engine.leads import ACTIVE, NURTURE
from sim.engine.ledger import F
from sim.engine.marketing import Marketing, Row
from sim.engine.staff import DAYS_PER_MONTH, Person, Roster
from sim.scenario.schema import Outbound as OutboundConfig
from sim.scenario.schema import Scenario

_PROSPECTED, _ENGAGED, _MEETINGS = (
    F["outbound_prospected"],
    F["outbound_engaged"],
    F["outbound_meetings"],
)
_CREATED = F["leads_created"]


class Outbound:
    """The BDR team and its pool of target accounts."""

    to_field_sales: Callable[[int], None]

    def __init__(
        self, ctx: Context, scenario: Scenario, cfg: OutboundConfig, marketing: Marketing
    ) -> None:
        self.ctx = ctx
        self.cfg = cfg
        self.marketing = marketing
        self.channel = marketing.outbound
        self.available = cfg.target_accounts
        self._returning: list[float] = []  # heap of cooldown ends
        s = ctx.streams
        self._gen = s.generator("outbound.prospecting")
        self._cooldown = s.sampler("outbound.cooldown", cfg.cooldown_days)
        self._u_meeting = s.uniforms("outbound.meeting")
        self.roster = Roster(
            ctx, "outbound", cfg, self._noop, self._noop, scenario.finance.tools_per_head_per_month
        )

    @staticmethod
    def _noop(person: Person) -> None:
        """BDRs need no hand-over: capacity is read each month."""

    def prospecting(self) -> Generator[Any, Any, None]:
        """SimPy process: each month, prospect what capacity and the market allow."""
        env = self.ctx.env
        starts = self.ctx.month_starts
        gen = self._gen
        for m in range(len(starts) - 1):
            if starts[m] > env.now:
                yield env.timeout(starts[m] - env.now)
            while self._returning and self._returning[0] <= env.now:
                heapq.heappop(self._returning)
                self.available += 1
            days = starts[m + 1] - starts[m]
            capacity = self.cfg.accounts_per_bdr_per_month * self.roster.capacity(env.now)
            capacity *= days / DAYS_PER_MONTH
            whole = int(capacity)
            n = min(self.available, whole + int(gen.random() < capacity - whole))
            if n == 0:
                continue
            self.available -= n
            self.ctx.flows[_PROSPECTED] += n
            times = np.sort(gen.uniform(starts[m], starts[m + 1], n))
            engaged = gen.random(n) < self.cfg.engage_probability
            for t in times[~engaged].tolist():
                heapq.heappush(self._returning, t + self._cooldown())
            rows = self.marketing.draw_batch(self.channel, times[engaged], m)
            call_each(env, rows, self._engage)

    def _engage(self, row: Row) -> None:
        ctx = self.ctx
        now = ctx.env.now
        _, channel, segment, intent, active_at, fit, behaviour, _, window_end, key = row
        ctx.flows[_ENGAGED] += 1
        ctx.flows[_CREATED] += 1
        lead = self.marketing.add(
            now, NURTURE, channel, segment, intent, active_at, fit, window_end, behaviour, key
        )
        if (
            ctx.leads.intent(lead, now) == ACTIVE
            and self._u_meeting() < self.cfg.meeting_probability
        ):
            ctx.flows[_MEETINGS] += 1
            self.to_field_sales(lead)
        else:
            self.marketing.nurture(lead)
