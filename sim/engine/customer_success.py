"""Customer success: CSM coverage, onboarding, renewals, churn, expansion and referrals.

CSMs cover at most ``headcount x accounts_per_csm`` accounts. Customers beyond that wait,
uncovered, for a CSM; the share of a term spent uncovered raises the odds of churn at renewal.
This team also keeps the ARR ledger.

With ``full_attention_accounts`` or a tech-touch pool, each customer has a *health*: the
attention it received, averaged over the term (1: a dedicated CSM whose book is within
``full_attention_accounts``; a bigger book thins it in proportion; the pool gives its own
``attention``, thinned when it holds more accounts than its capacity; uncovered: 0). Churn
and expansion odds move linearly with health, between the covered and the uncovered odds.
Attention is integrated exactly: each CSM (and the pool) keeps a clock of attention per
account, advanced whenever its book or capacity changes, and a customer reads the clock at
the start and end of each spell.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Generator
from typing import Any

from sim.engine.core import Context, call_later
from sim.engine.leads import CUSTOMER
from sim.engine.ledger import F, Level
from sim.engine.marketing import Marketing, arrival_times
from sim.engine.staff import DAYS_PER_MONTH, Person, Roster
from sim.scenario.distributions import Exponential
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
_HEALTH_SUM, _HEALTH_N = F["health_at_renewal_sum"], F["health_renewals"]
_CHANCES, _WORKED, _UNFOLLOWED = F["upsell_chances"], F["upsell_worked"], F["upsell_unfollowed"]
_UP_RECYCLED, _UP_WINS, _UP_ARR = F["upsell_recycled"], F["upsell_wins"], F["upsell_arr"]


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
        # health: attention clocks (see the module docstring)
        self._full = float(cfg.full_attention_accounts or cfg.accounts_per_csm)
        self.health = cfg.full_attention_accounts is not None or cfg.tech_touch is not None
        """Do churn and expansion read each customer's health (else: uncovered share)?"""
        self._clock: dict[Person | None, list[float]] = {}  # CSM (None: pool) -> [value, at]
        self._spell: dict[int, tuple[Person | None, float]] = {}  # lead -> (who, clock at start)
        self._attended: dict[int, float] = {}  # attention-days of closed spells this term
        tt = cfg.tech_touch
        self.pooled = Level()
        self._pool_segments = [tt is not None and seg in tt.segments for seg in scenario.segments]
        self._in_pool: set[int] = set()
        self._pool_attention = tt.attention if tt else 0.0
        self._pool_per_head = float(tt.accounts_per_head) if tt else 0.0
        self._pool_capacity = 0.0
        self.pool: Roster | None = None
        """The tech-touch team (None without one)."""
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
        if tt is not None:
            self.pool = Roster(
                ctx,
                "tech_touch",
                tt,
                self._pool_changed,
                self._pool_changed,
                scenario.finance.tools_per_head_per_month,
            )
        pipe = cfg.expansion_pipeline
        self.pipeline = pipe is not None
        if pipe is not None:
            rate = pipe.opportunities_per_account_per_year
            self.pipeline = rate > 0
            self._chance_gap = s.lead_sampler(
                keys, "cs.upsell.gap", Exponential(mean=365.25 / max(rate, 1e-12))
            )
            self._u_follow = s.lead_uniforms(keys, "cs.upsell.follow")
            self._u_win = s.lead_uniforms(keys, "cs.upsell.win")
            self._up_cycle = s.lead_sampler(keys, "cs.upsell.cycle", pipe.cycle_days)
            self._up_fraction = s.lead_sampler(keys, "cs.upsell.fraction", pipe.fraction)
            self._up_pause = s.lead_sampler(keys, "cs.upsell.pause", pipe.unfollowed.pause_days)
            self._up_win = scenario.per_segment(pipe.win_probability)
            self._up_cycles = pipe.unfollowed.max_cycles

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
        if self.health:
            self._attended[lead] = 0.0
        if self._pool_segments[leads.segment[lead]]:
            self._join_pool(lead, onboard)
        else:
            csm = self.roster.with_room(self.per_csm)
            if csm is not None:
                self._assign(lead, csm, onboard)
            else:
                self._enqueue(lead, onboard)
        call_later(ctx.env, renewal_in_days, self._renew, (lead, epoch))
        if self.pipeline:
            call_later(ctx.env, self._chance_gap(lead), self._chance, (lead, epoch, 0))

    # -- attention (health) ---------------------------------------------------------------
    def _rate(self, who: Person | None) -> float:
        """Attention each account of ``who`` (a CSM, or None: the pool) gets now."""
        if who is None:
            n, cap = self.pooled.value, self._pool_capacity
            return self._pool_attention if n <= cap else self._pool_attention * cap / n
        load = who.load
        return 1.0 if load <= self._full else self._full / load

    def _advance(self, who: Person | None) -> float:
        """Bring the attention clock of ``who`` to now (before its book or capacity
        changes) and return it."""
        now = self.ctx.env.now
        clock = self._clock.get(who)
        if clock is None:
            self._clock[who] = [0.0, now]
            return 0.0
        clock[0] += self._rate(who) * (now - clock[1])
        clock[1] = now
        return clock[0]

    def _end_spell(self, lead: int) -> None:
        """Close ``lead``'s spell with its CSM or the pool: add the attention it got."""
        spell = self._spell.pop(lead, None)
        if spell is not None:
            self._attended[lead] += self._advance(spell[0]) - spell[1]

    def attention(self, lead: int) -> float:
        """Attention customer ``lead`` gets right now (0 without a CSM)."""
        if lead in self._in_pool:
            return self._rate(None)
        csm = self._csm.get(lead)
        return 0.0 if csm is None else self._rate(csm)

    def _join_pool(self, lead: int, onboard: bool) -> None:
        """A small account joins the tech-touch pool: covered at once, onboarded at scale."""
        ctx = self.ctx
        now = ctx.env.now
        self._spell[lead] = (None, self._advance(None))
        self.pooled.add(now, 1)
        self._in_pool.add(lead)
        if onboard:
            ctx.flows[_ONB_START] += 1
            ctx.flows[_WAITS] += 1
            call_later(
                ctx.env, self._onboarding(lead), self._onboarded, (lead, ctx.leads.epoch[lead])
            )

    def _leave_pool(self, lead: int) -> None:
        self._end_spell(lead)
        self.pooled.add(self.ctx.env.now, -1)
        self._in_pool.discard(lead)

    def _pool_changed(self, person: Person | None = None) -> None:
        """Someone joined or left the pool: its capacity changes from now."""
        self._advance(None)
        assert self.pool is not None
        self._pool_capacity = self.pool.capacity(self.ctx.env.now) * self._pool_per_head

    def pool_open_capacity(self) -> float:
        """Accounts the pool can keep in touch with now (ramped heads x accounts per head)."""
        return self._pool_capacity

    # -- coverage -------------------------------------------------------------------------
    def _join(self, person: Person) -> None:
        self._cover_next()

    def _leave(self, person: Person) -> None:
        """A CSM left: their customers wait, first in line, for another CSM."""
        now = self.ctx.env.now
        theirs = [lead for lead, csm in self._csm.items() if csm is person]
        for lead in reversed(theirs):
            if self.health:
                self._end_spell(lead)
            del self._csm[lead]
            self.covered.add(now, -1)
            self._enqueue(lead, onboard=False, first=True)
        person.load = 0
        self._clock.pop(person, None)
        self._cover_next()

    def refill(self) -> None:
        """Cover waiting customers if capacity grew (ramp steps, new hires)."""
        if self.pool is not None:
            self._pool_changed()  # ramp steps
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
        if self.health:
            self._spell[lead] = (csm, self._advance(csm))
        self.roster.carry(csm, 1)
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

    def _onboarded(self, value: Any) -> None:
        lead, epoch = value
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
    def _renew(self, value: Any) -> None:
        lead, epoch = value
        ctx = self.ctx
        leads = ctx.leads
        now = ctx.env.now
        seg = leads.segment[lead]
        flows = ctx.flows
        if self.health:  # the share of full attention it missed over the term
            spell = self._spell.get(lead)
            if spell is not None:
                clock = self._advance(spell[0])
                self._attended[lead] += clock - spell[1]
                self._spell[lead] = (spell[0], clock)
            elapsed = now - self._term_start[lead]
            health = min(1.0, self._attended[lead] / elapsed) if elapsed > 0 else 1.0
            flows[_HEALTH_SUM] += health
            flows[_HEALTH_N] += 1
            share = 1.0 - health
        else:
            uncovered = self._uncovered_days[lead]
            if lead in self._uncovered_since:
                uncovered += now - max(self._uncovered_since[lead], self._term_start[lead])
            share = min(1.0, uncovered / self.term_days)
        p_churn = min(1.0, self._churn[seg] * (1.0 + (self._multiplier - 1.0) * share))
        acv = leads.arr[lead]
        if self._u_churn(lead) < p_churn:
            flows[_CHURN_ARR] += acv
            flows[_CHURNED] += 1
            self.arr -= acv
            self.customers -= 1
            leads.arr[lead] = 0.0
            csm = self._csm.pop(lead, None)
            self._spell.pop(lead, None)
            self._attended.pop(lead, None)
            if lead in self._in_pool:
                self._leave_pool(lead)
            elif csm is not None:
                self.roster.carry(csm, -1)
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
        if self.health:
            self._attended[lead] = 0.0
        self._term_start[lead] = now
        call_later(ctx.env, self.term_days, self._renew, (lead, epoch))

    # -- the expansion pipeline -----------------------------------------------------------
    def _chance(self, value: Any) -> None:
        """An upsell or cross-sell chance comes up (``cycles`` > 0: a recycled one again)."""
        lead, epoch, cycles = value
        ctx = self.ctx
        if ctx.leads.epoch[lead] != epoch:  # churned meanwhile
            return
        flows = ctx.flows
        if cycles == 0:
            flows[_CHANCES] += 1
            call_later(ctx.env, self._chance_gap(lead), self._chance, (lead, epoch, 0))
        if self._u_follow(lead) < self.attention(lead):
            flows[_WORKED] += 1
            call_later(ctx.env, self._up_cycle(lead), self._upsell_close, (lead, epoch))
            return
        flows[_UNFOLLOWED] += 1
        if cycles < self._up_cycles:  # recycled: marketing brings it up again later
            flows[_UP_RECYCLED] += 1
            call_later(ctx.env, self._up_pause(lead), self._chance, (lead, epoch, cycles + 1))

    def _upsell_close(self, value: Any) -> None:
        lead, epoch = value
        ctx = self.ctx
        leads = ctx.leads
        if leads.epoch[lead] != epoch or self._u_win(lead) >= self._up_win[leads.segment[lead]]:
            return
        delta = leads.arr[lead] * self._up_fraction(lead)
        leads.arr[lead] += delta
        self.arr += delta
        flows = ctx.flows
        flows[_EXP] += delta
        flows[_UP_WINS] += 1
        flows[_UP_ARR] += delta

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
