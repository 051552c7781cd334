"""Inside sales: SDRs working a queue of MQLs within business hours.

The team is a pool of identical reps served from one work queue (no ``Resource.request()``
per touch). A touch takes rep *working* time: the :class:`~sim.engine.calendar.WorkClock`
turns it into a wall-clock finish time. A shift process opens and closes the desk.
"""

from __future__ import annotations

import heapq
import itertools
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Generator
from typing import Any

from sim.engine.calendar import WorkClock, holiday_dates
from sim.engine.core import Context, call_later
from sim.engine.leads import INF, INSIDE_SALES
from sim.engine.ledger import F, Level
from sim.engine.staff import DAYS_PER_MONTH, Person, Roster
from sim.scenario.schema import INTENT_STATES, Scenario

_MQLS, _TOUCHES, _CONTACTS = F["mqls"], F["is_touches"], F["is_contacts"]
_SQLS, _NOT_NOW, _DISQ, _UNREACHED = (
    F["sqls"],
    F["is_not_now"],
    F["is_disqualified"],
    F["is_unreached"],
)
_COLD, _HOURS = F["went_cold"], F["is_work_hours"]
_WAIT_SUM, _WAITS, _WAITED = F["is_wait_days_sum"], F["is_waits"], F["is_waited"]
_COLD_WAIT = F["went_cold_wait_days_sum"]
_STL_SUM, _FIRST = F["speed_to_lead_hours_sum"], F["first_touches"]
_LOST_TO_DELAY, _TALK_HOURS = F["is_lost_to_delay"], F["is_conversation_hours"]
_IS_DEALS, _DEAL_HOURS = F["is_deals"], F["is_deal_hours"]

# outcome of one attempt, decided when the touch starts
NO_ANSWER, QUALIFIED, NOT_NOW, DISQUALIFIED, MOVED_ON = range(5)


class InsideSales:
    """The inside-sales desk: queue, reps, attempts and outcomes."""

    to_field_sales: Callable[[int], None]
    to_close: Callable[[int], None]
    """Where a qualified lead of a segment inside sales closes itself goes (its deal)."""
    to_recycle: Callable[[int, str], None]
    buyer_moved_on: Callable[[int], None]

    def __init__(self, ctx: Context, scenario: Scenario) -> None:
        cfg = scenario.inside_sales
        self.ctx = ctx
        days_off = holiday_dates(
            cfg.holidays.country,
            cfg.holidays.subdivision,
            scenario.start_date,
            scenario.end_date,
            cfg.holidays.dates,
        )
        self.clock = WorkClock(
            scenario.start_date,
            ctx.month_starts[-1],
            always=cfg.calendar == "always",
            start_hour=cfg.work_start_hour,
            hours_per_day=cfg.hours_per_day,
            holidays=days_off,
        )
        self.open = self.clock.always
        self.attendance = max(
            0.0, 1.0 - cfg.vacation_days_per_year / self.clock.working_days_per_year()
        )
        self._idle: list[Person] = []
        self.in_service = 0
        self.roster = Roster(
            ctx,
            "inside_sales",
            cfg,
            self._rep_joins,
            self._rep_leaves,
            scenario.finance.tools_per_head_per_month,
        )
        self._scaled = self.roster.ramps or self.attendance < 1.0
        self.policy = cfg.queue_policy
        self._fifo: deque[tuple[int, int, float]] = deque()
        self._heap: list[tuple[float, int, int, float]] = []
        self._priority: deque[tuple[int, int, float]] = deque()
        self.queue = Level()
        self.waiting = 0
        self._tickets = itertools.count()
        self._queued: dict[int, int] = {}
        # patience deadlines of the leads in the queue, (deadline, ticket, lead, ready), and
        # the times of the wake-ups already scheduled: a lead served first needs no timer
        self._deadlines: list[tuple[float, int, int, float]] = []
        self._wakeups: list[float] = []
        # leads due while the desk is closed, (ready, order, lead, patience): they join the
        # queue, at their own times, when anything next looks at it (no event each)
        self._deferred: list[tuple[float, int, int, float | None]] = []
        # deadlines of deferred leads whose patience ends before the desk opens: a wake-up
        # must come for each even when an earlier one, rescheduled, passes it over
        self._early: list[float] = []
        self._deferrals = itertools.count()
        shifts = self.clock.shifts()
        self._opens = [opens for opens, _ in shifts]
        self._closes = [closes for _, closes in shifts]
        self._ready_at: dict[int, float] = {}  # first ready to call, this hand-off
        self._attempts: dict[int, int] = {}
        # per lead: (buying-window token, when it was first ready to call in that window,
        # share still in the market at the last attempt)
        self._clock: dict[int, tuple[int, float, float]] = {}
        self.max_attempts = cfg.max_attempts
        stl = cfg.speed_to_lead
        self._half_life = INF if stl is None else stl.half_life_hours
        self._floor = 1.0 if stl is None else stl.floor
        # per segment (index), per intent state: contact odds and (qualified, not now)
        motions = [cfg.for_segment(name) for name in scenario.segments]
        self._contact = [m.contact_probability for m in motions]
        # the independent motion: segments whose deals the qualifying SDR closes
        self._sdr_closes = [m.closes for m in motions]
        self._deal_hours = [m.hours_per_deal for m in motions]
        self._outcome = [
            [(m.outcome[st].qualified, m.outcome[st].not_now) for st in INTENT_STATES]
            for m in motions
        ]
        s = ctx.streams
        # a touch's length: the quantile of the lead's own draw for the touch
        self._touch_minutes = cfg.minutes_per_touch.quantile_function()
        self._talk_minutes = (
            self._touch_minutes
            if cfg.minutes_per_conversation is None
            else cfg.minutes_per_conversation.quantile_function()
        )
        # the lead's fate comes from its own substream: the k-th touch of a lead draws the
        # same four numbers (moved on, contact, outcome, length) whatever the staffing,
        # the serving order or which of them the touch ends up using
        keys = ctx.leads.key
        self._u_touch = s.lead_quads(keys, "is.touch")
        self._interval = s.lead_sampler(keys, "is.attempt_interval", cfg.attempt_interval_days)
        self._patience = (
            None
            if cfg.patience_days is None
            else s.lead_sampler(keys, "is.patience", cfg.patience_days)
        )
        self.credits: list[tuple[int, float, float]] = []
        """Every SQL of the horizon: (the SDR's index, when, 1)."""

    def open_waits(self) -> float:
        """Days waited so far by the leads still in the queue."""
        now = self.ctx.env.now
        entries = [*self._fifo, *self._priority, *(e[1:] for e in self._heap)]
        return sum(
            now - ready for ticket, lead, ready in entries if self._queued.get(lead) == ticket
        )

    @property
    def busy(self) -> int:
        """Reps in the middle of a touch."""
        return self.in_service

    # -- people ---------------------------------------------------------------------------
    def _rep_joins(self, person: Person) -> None:
        now = self.ctx.env.now
        ramp = self.roster.cfg.ramp
        first = next((m for m, r in enumerate(ramp) if r > 0), None)
        if first is None:
            return  # a ramp of zeros: never productive
        start = person.hired_at + first * DAYS_PER_MONTH
        if start > now:
            call_later(self.ctx.env, start - now, self._available, person)
        else:
            self._available_now(person)

    def _available(self, value: Any) -> None:
        person: Person = value
        if person.left_at == INF:
            self._available_now(person)

    def _available_now(self, person: Person) -> None:
        self._idle.append(person)
        self._dispatch()

    def _rep_leaves(self, person: Person) -> None:
        if person.busy:
            person.leaving = True  # finishes the touch in hand, then goes
        elif person in self._idle:
            self._idle.remove(person)

    def shifts(self) -> Generator[Any, Any, None]:
        """SimPy process: open the desk in working hours, close it outside them."""
        env = self.ctx.env
        for opens, closes in self.clock.shifts():
            if closes <= env.now:
                continue
            if opens > env.now:
                yield env.timeout(opens - env.now)
            self.open = True
            self._dispatch()
            yield env.timeout(closes - env.now)
            self.open = False

    # -- hand-off in ----------------------------------------------------------------------
    def receive(self, lead: int, delay: float, alert: bool = False, handed: bool = True) -> None:
        """Take an MQL; first attempt after ``delay`` days, or at the head of the queue.

        ``handed=False`` for a lead of the starting book, already being worked: not a new
        hand-off of this month.
        """
        ctx = self.ctx
        now = ctx.env.now
        leads = ctx.leads
        leads.move(lead, INSIDE_SALES)
        if handed:
            ctx.flows[_MQLS] += 1
        if leads.first_mql_at[lead] == INF:
            leads.first_mql_at[lead] = now
        self._attempts[lead] = 0
        if alert:
            self._enqueue(lead, priority=True)
        elif delay > 0:
            self._later(lead, delay)
        else:
            self._enqueue(lead)

    def score_of(self, lead: int) -> float:
        """Priority of a lead under the ``score`` policy (fit + behaviour when handed over)."""
        leads = self.ctx.leads
        return leads.fit[lead] + leads.behaviour[lead]

    # -- queue ----------------------------------------------------------------------------
    def _later(self, lead: int, delay: float) -> None:
        """The lead is ready to call again after ``delay`` days.

        If the desk is closed then, joining the queue changes nothing until something next
        looks at the queue (the desk opening, another lead joining, a lead going cold, the
        month's books, its buying window closing): the lead waits in :attr:`_deferred` and
        joins at its own time then (:meth:`catch_up`), with no event of its own.
        """
        env = self.ctx.env
        self.waiting += 1
        ready = env.now + delay
        opens = self._next_open(ready)
        if opens == ready:
            call_later(env, delay, self._ready, lead)
            return
        # left waiting when it joins (the desk is closed): it will have a patience deadline;
        # one that ends before the desk opens needs its wake-up now
        patience = None if self._patience is None else self._patience(lead)
        heapq.heappush(self._deferred, (ready, next(self._deferrals), lead, patience))
        if patience is not None and ready + patience < opens:
            heapq.heappush(self._early, ready + patience)
            self._wake_by(ready + patience)

    def _next_open(self, t: float) -> float:
        """``t`` if the desk is open at ``t``, else when it next opens (``inf``: never)."""
        if self.clock.always:
            return t
        k = bisect_right(self._closes, t)
        if k == len(self._opens):
            return INF
        return max(t, self._opens[k])

    def catch_up(self) -> None:
        """Queue, each at its own time, the deferred leads whose ready time has come."""
        deferred = self._deferred
        now = self.ctx.env.now
        while deferred and deferred[0][0] <= now:
            ready, _, lead, patience = heapq.heappop(deferred)
            self.waiting -= 1
            ticket = self._join(lead, ready, False)
            if patience is not None:
                self._wait(lead, ticket, ready, patience)

    def _ready(self, value: Any) -> None:
        self.waiting -= 1
        self._enqueue(value)

    def _enqueue(self, lead: int, priority: bool = False) -> None:
        now = self.ctx.env.now
        self.catch_up()  # earlier arrivals first: the queue keeps its order
        ticket = self._join(lead, now, priority)
        # drawn at every join, served at once or not: the lead's k-th patience is the same
        # draw whatever the staffing
        patience = None if self._patience is None else self._patience(lead)
        self._dispatch()
        if patience is not None and self._queued.get(lead) == ticket:
            # only a lead left waiting can go cold
            self._wait(lead, ticket, now, patience)

    def _join(self, lead: int, now: float, priority: bool) -> int:
        """Put ``lead`` in the queue at time ``now``; returns its ticket."""
        leads = self.ctx.leads
        window = leads.window[lead]
        clock = self._clock.get(lead)
        if clock is None or clock[0] != window:
            # speed to lead runs from the first moment the lead is ready to call in this
            # buying window (after its channel's follow-up delay), not from each hand-off
            self._clock[lead] = (window, now, 1.0)
        if lead not in self._ready_at:
            self._ready_at[lead] = now
            if leads.first_ready_at[lead] == INF:
                leads.first_ready_at[lead] = now
        ticket = next(self._tickets)
        self._queued[lead] = ticket
        if priority:
            self._priority.append((ticket, lead, now))
        elif self.policy == "score":
            heapq.heappush(self._heap, (-self.score_of(lead), ticket, lead, now))
        else:
            self._fifo.append((ticket, lead, now))
        self.queue.add(now, 1)
        return ticket

    def _wait(self, lead: int, ticket: int, ready: float, patience: float) -> None:
        """A lead left waiting at ``ready`` goes cold after ``patience`` days unless served.

        Its deadline waits in a heap; a wake-up is scheduled only if none comes before it.
        """
        deadline = ready + patience
        heapq.heappush(self._deadlines, (deadline, ticket, lead, ready))
        self._wake_by(deadline)

    def _wake_by(self, t: float) -> None:
        """Make sure a wake-up of :meth:`_cold` comes at ``t`` or before."""
        wakeups = self._wakeups
        if not wakeups or wakeups[0] > t:
            heapq.heappush(wakeups, t)
            env = self.ctx.env
            call_later(env, t - env.now, self._cold, None)

    def _pop(self) -> tuple[int, float]:
        queued = self._queued
        while True:
            if self._priority:
                ticket, lead, ready = self._priority.popleft()
            elif self.policy == "score":
                _, ticket, lead, ready = heapq.heappop(self._heap)
            elif self.policy == "fifo":
                ticket, lead, ready = self._fifo.popleft()
            else:
                ticket, lead, ready = self._fifo.pop()
            if queued.get(lead) == ticket:
                del queued[lead]
                return lead, ready

    def _cold(self, value: Any) -> None:
        """A wake-up: every lead whose patience ran out now goes cold, at its deadline.

        Deadlines of leads served (or gone) since are dropped; then a wake-up is scheduled
        for the next live deadline unless an earlier one is already pending.
        """
        ctx = self.ctx
        now = ctx.env.now
        self.catch_up()
        queued, deadlines = self._queued, self._deadlines
        heapq.heappop(self._wakeups)
        while deadlines:
            deadline, ticket, lead, ready = deadlines[0]
            live = queued.get(lead) == ticket
            if live and deadline > now:
                break
            heapq.heappop(deadlines)
            if live:
                del queued[lead]
                self.queue.add(now, -1)
                ctx.flows[_COLD] += 1
                ctx.flows[_COLD_WAIT] += deadline - ready  # its patience, to the last bit
                self._leave(lead)
                self.to_recycle(lead, "unreached")
        early = self._early
        while early and early[0] <= now:  # caught up above, and decided in the loop
            heapq.heappop(early)
        upcoming = min(deadlines[0][0] if deadlines else INF, early[0] if early else INF)
        if upcoming < INF:
            self._wake_by(upcoming)

    def _dispatch(self) -> None:
        if self._deferred and self._deferred[0][0] <= self.ctx.env.now:
            self.catch_up()
        idle = self._idle
        while self.open and idle and self.queue.value > 0:
            lead, ready = self._pop()
            self._start(lead, ready, idle.pop())

    # -- touches --------------------------------------------------------------------------
    def _start(self, lead: int, ready: float, rep: Person) -> None:
        ctx = self.ctx
        env = ctx.env
        now = env.now
        flows = ctx.flows
        self.queue.add(now, -1)
        self.in_service += 1
        rep.busy = True
        flows[_WAIT_SUM] += now - ready
        flows[_WAITS] += 1
        if now > ready:
            flows[_WAITED] += 1
        leads = ctx.leads
        window, since, in_market = self._clock[lead]
        first = self._attempts[lead] == 0
        if first:
            ready = self._ready_at[lead]
            flows[_STL_SUM] += (now - ready) * 24.0
            flows[_FIRST] += 1
            if leads.first_touch_at[lead] == INF:
                leads.first_touch_at[lead] = now
                leads.speed_to_lead_hours[lead] = (now - ready) * 24.0
                leads.speed_to_lead_business_hours[lead] = self.clock.hours_between(ready, now)
        flows[_TOUCHES] += 1
        # one decay: the share of buyers still in the market when the first attempt of a
        # hand-off comes; given that the lead was still there at the last such look, it is
        # still there now with the ratio. The cadence that follows reaches those who are.
        outcome = NO_ANSWER
        still = 1.0
        u_moved, u_contact, u, u_length = self._u_touch(lead)
        if first and self._half_life < INF:
            waited = self.clock.hours_between(since, now)  # the desk's working hours
            still = self._floor + (1.0 - self._floor) * 0.5 ** (waited / self._half_life)
        if still < in_market:
            if u_moved * in_market >= still:
                outcome = MOVED_ON
            self._clock[lead] = (window, since, still)
        segment = leads.segment[lead]
        if outcome == NO_ANSWER and u_contact < self._contact[segment]:
            flows[_CONTACTS] += 1
            qualified, not_now = self._outcome[segment][leads.intent(lead, now)]
            outcome = (
                QUALIFIED if u < qualified else NOT_NOW if u < qualified + not_now else DISQUALIFIED
            )
        if outcome in (NO_ANSWER, MOVED_ON):
            hours = self._touch_minutes(u_length) / 60.0
        else:
            hours = self._talk_minutes(u_length) / 60.0
            if outcome == QUALIFIED and self._sdr_closes[segment]:
                # the SDR runs the deal: demo, proposal and closing calls on top
                flows[_DEAL_HOURS] += self._deal_hours[segment]
                hours += self._deal_hours[segment]
            flows[_TALK_HOURS] += hours
        flows[_HOURS] += hours
        if self._scaled:
            speed = self.roster.productivity(rep, now) * self.roster.factor * self.attendance
            hours /= max(speed, 0.05)  # a floor: a rep swamped by coaching still crawls on
        finish = self.clock.after(now, hours)
        call_later(env, finish - now, self._done, (lead, outcome, rep))

    def _done(self, value: Any) -> None:
        lead, outcome, rep = value
        ctx = self.ctx
        self.in_service -= 1
        rep.busy = False
        if not rep.leaving:
            self._idle.append(rep)
        now = ctx.env.now
        if outcome == NO_ANSWER:
            attempts = self._attempts[lead] + 1
            if attempts >= self.max_attempts:
                ctx.flows[_UNREACHED] += 1
                self._leave(lead)
                self.to_recycle(lead, "unreached")
            else:
                self._attempts[lead] = attempts
                self._later(lead, self._interval(lead))
        elif outcome == QUALIFIED:
            ctx.flows[_SQLS] += 1
            self.credits.append((rep.index, now, 1.0))
            leads = ctx.leads
            if leads.first_sql_at[lead] == INF:
                leads.first_sql_at[lead] = now
            self._leave(lead)
            if self._sdr_closes[leads.segment[lead]]:
                ctx.flows[_IS_DEALS] += 1
                self.to_close(lead)
            else:
                self.to_field_sales(lead)
        elif outcome == NOT_NOW:
            ctx.flows[_NOT_NOW] += 1
            self._leave(lead)
            self.to_recycle(lead, "not_now")
        elif outcome == MOVED_ON:
            # nobody called in time: the buyer moved on (its window closes) [HBR][MIT]
            ctx.flows[_LOST_TO_DELAY] += 1
            self._leave(lead)
            self.buyer_moved_on(lead)
            self.to_recycle(lead, "unreached")
        else:
            ctx.flows[_DISQ] += 1
            self._leave(lead)
            self.to_recycle(lead, "rejected")
        self._dispatch()

    def _leave(self, lead: int) -> None:
        del self._ready_at[lead]
        del self._attempts[lead]
