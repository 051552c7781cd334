"""Customer success: CSM coverage, onboarding, renewals, churn, expansion and referrals.

CSMs cover at most ``headcount x accounts_per_csm`` accounts. Customers beyond that wait,
uncovered, for a CSM; the share of a term spent uncovered raises the odds of churn at renewal.
This team also keeps the ARR ledger.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Generator
from typing import Any

import simpy

from sim.engine.core import Context, call_later
from sim.engine.leads import CUSTOMER
from sim.engine.ledger import F, Level
from sim.engine.marketing import Marketing, arrival_times
from sim.engine.staff import DAYS_PER_MONTH, Person, Roster
from sim.scenario.schema import Scenario

_NEW_ARR, _EXP, _CONTR, _CHURN_ARR = (
    F["new_arr"],
    F["expansion_arr"],
    F["contraction_arr"],
    F["churned_arr"],
)
_NEW, _CHURNED, _RENEWALS = F["new_customers"], F["churned_customers"], F["renewals"]
_NEW_PAID = F["new_customers_paid"]
_ONB_START, _ONB_DONE = F["onboardings_started"], F["onboardings_completed"]
_WAIT_SUM, _WAITS, _RECYCLED_ARR = F["cs_wait_days_sum"], F["cs_waits"], F["recycled_new_arr"]
_QUEUE_WAIT, _QUEUE_EXITS = F["cs_queue_wait_days_sum"], F["cs_queue_exits"]


class CustomerSuccess:
    """The customer-success team and the book of customers."""

    to_recycle: Callable[[int, str], None]

    def __init__(self, ctx: Context, scenario: Scenario, marketing: Marketing) -> None:
        cfg = scenario.customer_success
        self.ctx = ctx
        self.marketing = marketing
        self.per_csm = cfg.accounts_per_csm
        self.term_days = cfg.term_months * DAYS_PER_MONTH
        self.covered = Level()
        self.queue = Level()
        self.customers = 0
        self.arr = 0.0
        self._uncovered: deque[tuple[int, int]] = deque()
        self._ticket: dict[int, int] = {}
        self._tickets = itertools.count()
        self._csm: dict[int, Person] = {}
        self._to_onboard: set[int] = set()
        self._uncovered_since: dict[int, float] = {}  # queue entry time
        self._uncovered_days: dict[int, float] = {}  # closed uncovered spells this term
        self._term_start: dict[int, float] = {}
        self._churn = scenario.per_segment(cfg.churn_probability)
        self._expand = scenario.per_segment(cfg.expansion_probability)
        self._contract = scenario.per_segment(cfg.contraction_probability)
        self._multiplier = cfg.uncovered_churn_multiplier
        self._expansion_multiplier = cfg.uncovered_expansion_multiplier
        self._referral_rate = cfg.referrals.leads_per_customer_per_year / 365.25
        s = ctx.streams
        # every customer's renewals draw from its lead's own substream (common random
        # numbers: they do not shift when a lever changes how many deals are won, or when)
        keys = ctx.leads.key
        self._onboarding = s.lead_sampler(keys, "cs.onboarding", cfg.onboarding_days)
        self._expansion = s.lead_sampler(keys, "cs.expansion", cfg.expansion_fraction)
        self._contraction = s.lead_sampler(keys, "cs.contraction", cfg.contraction_fraction)
        self._u_churn = s.lead_uniforms(keys, "cs.churn")
        self._u_change = s.lead_uniforms(keys, "cs.change")
        self.roster = Roster(
            ctx,
            "customer_success",
            cfg,
            self._join,
            self._leave,
            scenario.finance.tools_per_head_per_month,
        )

    # -- hand-offs in ---------------------------------------------------------------------
    def receive(self, lead: int, acv: float) -> None:
        """A deal was won: book its ARR, find it a CSM, schedule its renewal."""
        ctx = self.ctx
        ctx.flows[_NEW_ARR] += acv
        ctx.flows[_NEW] += 1
        ctx.leads.new_arr[lead] += acv
        if self.marketing.paid[ctx.leads.channel[lead]]:
            ctx.flows[_NEW_PAID] += 1
        if ctx.leads.cycles[lead] > 0:
            ctx.flows[_RECYCLED_ARR] += acv
        self._book(lead, acv, self.term_days, onboard=True)

    def seed_customer(self, lead: int, acv: float, renewal_in_days: float) -> None:
        """Add a customer of the starting book (already onboarded)."""
        self._book(lead, acv, renewal_in_days, onboard=False)

    def _book(self, lead: int, acv: float, renewal_in_days: float, onboard: bool) -> None:
        ctx = self.ctx
        leads = ctx.leads
        epoch = leads.move(lead, CUSTOMER) if leads.state[lead] != CUSTOMER else leads.epoch[lead]
        leads.arr[lead] = acv
        self.arr += acv
        self.customers += 1
        self._uncovered_days[lead] = 0.0
        self._term_start[lead] = ctx.env.now
        csm = self.roster.with_room(self.per_csm)
        if csm is not None:
            self._assign(lead, csm, onboard)
        else:
            self._enqueue(lead, onboard)
        call_later(ctx.env, renewal_in_days, self._renew, (lead, epoch))

    # -- coverage -------------------------------------------------------------------------
    def _join(self, person: Person) -> None:
        self._cover_next()

    def _leave(self, person: Person) -> None:
        """A CSM left: their customers wait, first in line, for another CSM."""
        now = self.ctx.env.now
        theirs = [lead for lead, csm in self._csm.items() if csm is person]
        for lead in reversed(theirs):
            del self._csm[lead]
            self.covered.add(now, -1)
            self._enqueue(lead, onboard=False, first=True)
        person.load = 0
        self._cover_next()

    def refill(self) -> None:
        """Cover waiting customers if capacity grew (ramp steps, new hires)."""
        self._cover_next()

    def _enqueue(self, lead: int, onboard: bool, first: bool = False) -> None:
        now = self.ctx.env.now
        ticket = next(self._tickets)
        self._ticket[lead] = ticket
        if first:
            self._uncovered.appendleft((ticket, lead))
        else:
            self._uncovered.append((ticket, lead))
        self._uncovered_since[lead] = now
        self.queue.add(now, 1)
        if onboard:
            self._to_onboard.add(lead)

    def _assign(self, lead: int, csm: Person, onboard: bool) -> None:
        ctx = self.ctx
        now = ctx.env.now
        self.covered.add(now, 1)
        csm.load += 1
        self._csm[lead] = csm
        if lead in self._uncovered_since:
            self._leave_queue(lead)
        if onboard:
            ctx.flows[_ONB_START] += 1
            ctx.flows[_WAIT_SUM] += now - ctx.leads.won_at[lead]
            ctx.flows[_WAITS] += 1
            call_later(
                ctx.env, self._onboarding(lead), self._onboarded, (lead, ctx.leads.epoch[lead])
            )

    def _onboarded(self, event: simpy.Event) -> None:
        lead, epoch = event._value
        ctx = self.ctx
        if ctx.leads.epoch[lead] == epoch:
            ctx.flows[_ONB_DONE] += 1

    def _cover_next(self) -> None:
        while self._uncovered:
            csm = self.roster.with_room(self.per_csm)
            if csm is None:
                return
            ticket, lead = self._uncovered.popleft()
            if self._ticket.get(lead) == ticket:
                del self._ticket[lead]
                onboard = lead in self._to_onboard
                self._to_onboard.discard(lead)
                self._assign(lead, csm, onboard)

    def _leave_queue(self, lead: int) -> None:
        """Take ``lead`` out of the uncovered queue now, for whatever reason."""
        flows = self.ctx.flows
        now = self.ctx.env.now
        since = self._uncovered_since.pop(lead)
        self._uncovered_days[lead] += now - max(since, self._term_start[lead])
        flows[_QUEUE_WAIT] += now - since
        flows[_QUEUE_EXITS] += 1
        self.queue.add(now, -1)

    def open_waits(self) -> float:
        """Days waited so far by the customers still without a CSM."""
        now = self.ctx.env.now
        return sum(now - since for since in self._uncovered_since.values())

    # -- renewals -------------------------------------------------------------------------
    def _renew(self, event: simpy.Event) -> None:
        lead, epoch = event._value
        ctx = self.ctx
        leads = ctx.leads
        now = ctx.env.now
        seg = leads.segment[lead]
        uncovered = self._uncovered_days[lead]
        if lead in self._uncovered_since:
            uncovered += now - max(self._uncovered_since[lead], self._term_start[lead])
        share = min(1.0, uncovered / self.term_days)
        p_churn = min(1.0, self._churn[seg] * (1.0 + (self._multiplier - 1.0) * share))
        acv = leads.arr[lead]
        flows = ctx.flows
        if self._u_churn(lead) < p_churn:
            flows[_CHURN_ARR] += acv
            flows[_CHURNED] += 1
            self.arr -= acv
            self.customers -= 1
            leads.arr[lead] = 0.0
            csm = self._csm.pop(lead, None)
            if csm is not None:
                csm.load -= 1
                self.covered.add(now, -1)
                self._cover_next()
            else:
                del self._ticket[lead]
                self._to_onboard.discard(lead)
                self._leave_queue(lead)
            del self._uncovered_days[lead], self._term_start[lead]
            self.to_recycle(lead, "churned")
            return
        flows[_RENEWALS] += 1
        u = self._u_change(lead)
        expand = self._expand[seg] * (1.0 - (1.0 - self._expansion_multiplier) * share)
        if u < expand:
            delta = acv * self._expansion(lead)
            flows[_EXP] += delta
        elif self._expand[seg] <= u < self._expand[seg] + self._contract[seg]:
            delta = -min(acv, acv * self._contraction(lead))
            flows[_CONTR] -= delta
        else:
            delta = 0.0
        leads.arr[lead] = acv + delta
        self.arr += delta
        self._uncovered_days[lead] = 0.0
        self._term_start[lead] = now
        call_later(ctx.env, self.term_days, self._renew, (lead, epoch))

    # -- referrals ------------------------------------------------------------------------
    def referrals(self) -> Generator[Any, Any, None]:
        """SimPy process: each month, customers bring referral leads (Poisson)."""
        ctx = self.ctx
        env = ctx.env
        starts = ctx.month_starts
        mk = self.marketing
        for m in range(len(starts) - 1):
            if starts[m] > env.now:
                yield env.timeout(starts[m] - env.now)
            days = starts[m + 1] - starts[m]
            mean = self.customers * self._referral_rate * days
            # a month's own stream: more customers add referrals, the first ones stay paired
            gen = ctx.streams.generator(f"cs.referrals.{m}")
            times = arrival_times(gen, mean, starts[m], starts[m + 1])
            if len(times):
                mk.schedule(mk.draw_batch(mk.referral, times, m))
