"""Recycle: leads that fall out pause, then return to the funnel ("the line that solves it").

Each reason (not now, unreached, rejected, lost, churned) has its own rule: pause, where the
lead re-enters, a cap on the cycles for that reason, whether the old buying window closes and a
new one may open later (a lost deal, a churned customer), and whether sales is alerted at once
when that new window opens, during the pause or after it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sim.engine.core import Context, call_later
from sim.engine.leads import INF, NURTURE, RECYCLE, RETIRED
from sim.engine.ledger import F
from sim.engine.streams import LeadSampler
from sim.scenario.schema import RECYCLE_REASONS, RecycleRule, Scenario

_RETIRED, _ALERTS, _TO_OWNER = F["retired"], F["alerts"], F["alerts_to_owner"]


class _Rule:
    """A recycle rule compiled for the event loop."""

    __slots__ = ("alert", "flow", "max_cycles", "pause", "reenter_is", "reset_after", "reset_p")

    def __init__(self, ctx: Context, reason: str, rule: RecycleRule) -> None:
        s = ctx.streams
        keys = ctx.leads.key
        self.flow = F[f"recycled_{reason}"]
        self.pause = s.lead_sampler(keys, f"recycle.{reason}.pause", rule.pause_days)
        self.reenter_is = rule.reenter == "inside_sales"
        self.max_cycles = rule.max_cycles
        self.alert = rule.alert_on_reengage
        self.reset_p = -1.0 if rule.reset_intent is None else rule.reset_intent.probability
        self.reset_after: LeadSampler | None = (
            None
            if rule.reset_intent is None
            else s.lead_sampler(
                keys, f"recycle.{reason}.active_after", rule.reset_intent.active_after_days
            )
        )


class Recycler:
    """Holds recycled leads for their pause and sends them back."""

    to_marketing: Callable[[int, float], None]
    to_inside_sales: Callable[[int, float, bool], None]
    to_owner: Callable[[int], bool]
    """Hand a re-engaged account to the AE who owned it; False if there is none."""
    open_window: Callable[[int, float], int]

    def __init__(self, ctx: Context, scenario: Scenario) -> None:
        self.ctx = ctx
        self._rules = {r: _Rule(ctx, r, getattr(scenario.recycle, r)) for r in RECYCLE_REASONS}
        self._index = {r: i for i, r in enumerate(RECYCLE_REASONS)}
        self._cycles: dict[int, list[int]] = {}
        self._u_reset = ctx.streams.lead_uniforms(ctx.leads.key, "recycle.reset")

    def receive(self, lead: int, reason: str) -> None:
        """A lead fell out for ``reason``: retire it, or pause it and plan its return."""
        ctx = self.ctx
        leads = ctx.leads
        now = ctx.env.now
        rule = self._rules[reason]
        counts = self._cycles.get(lead)
        if counts is None:
            counts = self._cycles[lead] = [0] * len(RECYCLE_REASONS)
        k = self._index[reason]
        if counts[k] >= rule.max_cycles:
            leads.move(lead, RETIRED)
            ctx.flows[_RETIRED] += 1
            return
        counts[k] += 1
        leads.cycles[lead] += 1
        epoch = leads.move(lead, RECYCLE)
        ctx.flows[rule.flow] += 1
        pause = rule.pause(lead)
        call_later(ctx.env, pause, self._pause_end, (lead, epoch, pause, rule.reenter_is))
        if rule.reset_after is not None:
            new_window = self._u_reset(lead) < rule.reset_p
            active_at = now + rule.reset_after(lead) if new_window else INF
            token = self.open_window(lead, active_at)
            if rule.alert and active_at < INF:
                call_later(ctx.env, active_at - now, self._alert, (lead, token))

    def _pause_end(self, value: Any) -> None:
        lead, epoch, pause, reenter_is = value
        if self.ctx.leads.epoch[lead] != epoch:
            return
        if reenter_is:
            self.to_inside_sales(lead, 0.0, False)
        else:
            self.to_marketing(lead, pause)

    def _alert(self, value: Any) -> None:
        """The account's new window opened: alert sales at once, unless sales has it already."""
        lead, token = value
        ctx = self.ctx
        leads = ctx.leads
        if leads.window[lead] != token or leads.state[lead] not in (RECYCLE, NURTURE):
            return
        ctx.flows[_ALERTS] += 1
        if self.to_owner(lead):
            ctx.flows[_TO_OWNER] += 1
        else:
            self.to_inside_sales(lead, 0.0, True)
