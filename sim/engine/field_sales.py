"""Field sales: AEs take qualified leads to a meeting and run opportunities through phases.

Capacity is a cap on open opportunities per AE; leads wait in a FIFO queue for a free slot.
Phase ends are scheduled callbacks, not processes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import simpy

from sim.engine.core import Context, call_later
from sim.engine.leads import FS_OPEN, FS_QUEUE, INF
from sim.engine.ledger import F, Level
from sim.scenario.schema import Scenario

_APPTS, _OPPS, _REJECTED = F["appointments"], F["opportunities"], F["rejected_by_ae"]
_WINS, _LOSSES, _NO_DECISION = F["wins"], F["losses"], F["no_decisions"]
_WAIT_SUM, _WAITS, _CYCLE = F["fs_wait_days_sum"], F["fs_waits"], F["sales_cycle_days_sum"]
_RECYCLED_WINS = F["recycled_wins"]


class FieldSales:
    """The field-sales team: appointment queue, open-opportunity slots, phases, outcomes."""

    to_customer_success: Callable[[int, float], None]
    to_recycle: Callable[[int, str], None]

    def __init__(self, ctx: Context, scenario: Scenario) -> None:
        cfg = scenario.field_sales
        self.ctx = ctx
        self.capacity = cfg.headcount * cfg.max_open_opportunities_per_ae
        self.open = Level()
        self.queue = Level()
        self._waiting: deque[tuple[int, float]] = deque()
        self._opened_at: dict[int, float] = {}
        self._accept = [cfg.acceptance_probability[s] for s in ("active", "dormant", "never")]
        self._advance = [ph.advance_probability for ph in cfg.phases]
        self._no_decision = cfg.no_decision_share
        s = ctx.streams
        self._appointment_delay = s.sampler("fs.appointment_delay", cfg.appointment_delay_days)
        self._duration = [
            s.sampler(f"fs.phase.{k}.duration", ph.duration_days) for k, ph in enumerate(cfg.phases)
        ]
        self._acv = [
            s.sampler(f"fs.acv.{name}", seg.acv) for name, seg in scenario.segments.items()
        ]
        self._u_accept = s.uniforms("fs.accept")
        self._u_phase = s.uniforms("fs.phase")

    def receive(self, lead: int) -> None:
        """Take a qualified (or fast-passed) lead; it waits for an AE with a free slot."""
        now = self.ctx.env.now
        self.ctx.leads.move(lead, FS_QUEUE)
        self._waiting.append((lead, now))
        self.queue.add(now, 1)
        self._fill()

    def open_existing(self, lead: int, phase: int, remaining_days: float) -> None:
        """Seed an opportunity of the starting pipeline (already in ``FS_OPEN``)."""
        self.open.add(self.ctx.env.now, 1)
        self._opened_at[lead] = self.ctx.env.now
        call_later(self.ctx.env, remaining_days, self._phase_end, (lead, phase))

    def open_waits(self) -> float:
        """Days waited so far by the leads still waiting for an AE."""
        now = self.ctx.env.now
        return sum(now - since for _, since in self._waiting)

    @property
    def queued(self) -> int:
        """Leads waiting for an AE."""
        return len(self._waiting)

    def _fill(self) -> None:
        ctx = self.ctx
        now = ctx.env.now
        while self._waiting and self.open.value < self.capacity:
            lead, since = self._waiting.popleft()
            self.queue.add(now, -1)
            self.open.add(now, 1)
            ctx.leads.move(lead, FS_OPEN)
            ctx.flows[_APPTS] += 1
            ctx.flows[_WAIT_SUM] += now - since
            ctx.flows[_WAITS] += 1
            call_later(ctx.env, self._appointment_delay(), self._appointment, lead)

    def _appointment(self, event: simpy.Event) -> None:
        lead = event._value
        ctx = self.ctx
        now = ctx.env.now
        leads = ctx.leads
        if self._u_accept() < self._accept[leads.intent(lead, now)]:
            ctx.flows[_OPPS] += 1
            if leads.first_opp_at[lead] == INF:
                leads.first_opp_at[lead] = now
            self._opened_at[lead] = now
            call_later(ctx.env, self._duration[0](), self._phase_end, (lead, 0))
        else:
            ctx.flows[_REJECTED] += 1
            self._release()
            self.to_recycle(lead, "rejected")

    def _phase_end(self, event: simpy.Event) -> None:
        lead, phase = event._value
        ctx = self.ctx
        now = ctx.env.now
        flows = ctx.flows
        if self._u_phase() < self._advance[phase]:
            phase += 1
            if phase < len(self._advance):
                call_later(ctx.env, self._duration[phase](), self._phase_end, (lead, phase))
                return
            flows[_WINS] += 1
            flows[_CYCLE] += now - self._opened_at.pop(lead)
            leads = ctx.leads
            leads.won_at[lead] = now
            if leads.cycles[lead] > 0:
                flows[_RECYCLED_WINS] += 1
            acv = self._acv[leads.segment[lead]]()
            self._release()
            self.to_customer_success(lead, acv)
            return
        del self._opened_at[lead]
        no_decision = self._u_phase() < self._no_decision
        flows[_NO_DECISION if no_decision else _LOSSES] += 1
        self._release()
        self.to_recycle(lead, "lost")

    def _release(self) -> None:
        self.open.add(self.ctx.env.now, -1)
        self._fill()
