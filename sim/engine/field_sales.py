"""Field sales: AEs take qualified leads to a meeting and run opportunities through phases.

Each AE carries at most ``max_open_opportunities_per_ae`` open opportunities, scaled by
their ramp; leads wait in a FIFO queue for an AE with room. Every opportunity has an owner:
when an AE leaves, a share of their opportunities is lost and the rest pass to colleagues.
Deal size is drawn when the opportunity opens (its pipeline value) and booked on a win.
Phase ends are scheduled callbacks, not processes.

AEs work in teams (:class:`Desk`): the AEs of field sales itself, and one team per entry of
``field_sales.teams``. A deal goes to the team of its segment, waits in that team's queue
and is owned by one of its AEs; a leaver's deals pass to colleagues of the same team.
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Callable
from typing import Any

from sim.engine.core import Context, call_later
from sim.engine.leads import FS_OPEN, FS_QUEUE, INF
from sim.engine.ledger import F, Level
from sim.engine.staff import Person, Roster
from sim.scenario.schema import GENERALISTS, DealMotion, Scenario
from sim.scenario.schema import FieldSales as FieldSalesConfig

_APPTS, _OPPS, _REJECTED = F["appointments"], F["opportunities"], F["rejected_by_ae"]
_WINS, _LOSSES, _NO_DECISION = F["wins"], F["losses"], F["no_decisions"]
_WAIT_SUM, _WAITS, _CYCLE = F["fs_wait_days_sum"], F["fs_waits"], F["sales_cycle_days_sum"]
_RECYCLED_WINS, _PIPELINE = F["recycled_wins"], F["pipeline_arr"]
_SDR_WINS = F["is_wins"]
_LEAVER_LOSSES = F["leaver_losses"]


class _Motion:
    """One deal motion as the hot loop reads it: odds, samplers and phase counters.

    Segments without a motion of their own share the team's (one object), so their phases
    are counted together, as one motion.
    """

    __slots__ = (
        "accept",
        "advance",
        "advanced",
        "appointment_delay",
        "duration",
        "entered",
        "failed",
        "names",
        "no_decision",
    )

    def __init__(self, ctx: Context, motion: DealMotion, label: str | None) -> None:
        s, keys = ctx.streams, ctx.leads.key
        self.accept = [motion.acceptance_probability[st] for st in ("active", "dormant", "never")]
        self.advance = [ph.advance_probability for ph in motion.phases]
        self.no_decision = motion.no_decision_share
        # the same purposes whatever the motion: a lead belongs to one segment, and a lever
        # that changes its segment's motion keeps its luck (the same uniforms, other laws)
        self.appointment_delay = s.lead_sampler(
            keys, "fs.appointment_delay", motion.appointment_delay_days
        )
        self.duration = [
            s.lead_sampler(keys, f"fs.phase.{k}.duration", ph.duration_days)
            for k, ph in enumerate(motion.phases)
        ]
        self.names = [ph.name if label is None else f"{label}: {ph.name}" for ph in motion.phases]
        self.entered = [0] * len(motion.phases)
        self.advanced = [0] * len(motion.phases)
        self.failed = [0] * len(motion.phases)


class Desk:
    """One AE team: its people, the deals waiting for one of them, its open deals."""

    __slots__ = (
        "commission",
        "credits",
        "leaver_lost",
        "name",
        "open",
        "per_ae",
        "queue",
        "quota",
        "roster",
        "segments",
        "wait_days",
        "waiting",
        "waits",
    )

    def __init__(self, name: str, segments: list[str], cfg: FieldSalesConfig) -> None:
        self.name = name
        self.segments = segments
        """The segments whose deals the team works (inside sales' own deals excluded)."""
        self.per_ae = cfg.max_open_opportunities_per_ae
        self.leaver_lost = cfg.leaver_lost_share
        self.commission = cfg.commission_rate
        self.quota = cfg.quota_per_ae_per_year
        self.open = Level()
        self.queue = Level()
        self.waiting: deque[tuple[int, float]] = deque()
        self.wait_days = 0.0
        self.waits = 0
        self.credits: list[tuple[int, float, float]] = []
        """Every win of the horizon: (the owning AE's index, when, ACV); -1: nobody owned it."""
        self.roster: Roster


class FieldSales:
    """The field-sales team: appointment queue, AEs with open-opportunity caps, outcomes.

    Each segment's opportunities follow its deal motion (``field_sales.segments``, else the
    team's): phases, acceptance, meeting delay and no-decision share. Each segment's deals go
    to its AE team (:class:`Desk`).
    """

    to_customer_success: Callable[[int, float], None]
    to_recycle: Callable[[int, str], None]

    def __init__(self, ctx: Context, scenario: Scenario) -> None:
        cfg = scenario.field_sales
        self.ctx = ctx
        self._opened_at: dict[int, float] = {}
        self._owner: dict[int, Person] = {}
        self._acv: dict[int, float] = {}
        self.account_owner: dict[int, Person] = {}
        """The AE who last owned each lead's deal (won or lost): re-engagement alerts go there."""
        # every draw about a deal comes from its lead's own substream: a lever that changes
        # the order deals are worked in does not change any deal's luck (common random numbers)
        team: _Motion | None = None
        self._motion: list[_Motion] = []
        """Each segment's motion, by segment index."""
        for name in scenario.segments:
            motion = cfg.for_segment(name)
            if motion.own:
                self._motion.append(_Motion(ctx, motion, name))
            else:
                if team is None:
                    team = _Motion(ctx, motion, None)
                self._motion.append(team)
        self.motions = list(dict.fromkeys(self._motion))
        """The motions in use, in segment order (the team's where a segment first uses it)."""
        # the independent motion: these segments' deals are run by inside sales, no AE
        self._by_sdr = [scenario.inside_sales.for_segment(n).closes for n in scenario.segments]
        self.sdr_open = Level()
        """Open deals inside sales runs itself (in ``FS_OPEN`` too, but in no AE's slots)."""
        self._sdr_deals: set[int] = set()
        s = ctx.streams
        keys = ctx.leads.key
        self._deal_size = [
            s.lead_sampler(keys, f"fs.acv.{name}", seg.acv)
            for name, seg in scenario.segments.items()
        ]
        self._u_accept = s.lead_uniforms(keys, "fs.accept")
        self._u_phase = s.lead_uniforms(keys, "fs.phase")
        self._u_leaver = s.lead_uniforms(keys, "fs.leaver")
        worked_by = cfg.team_of(scenario.segments)
        self.desks: list[Desk] = []
        """The AE teams: field sales' own AEs first, then ``field_sales.teams`` in order."""
        for name in (GENERALISTS, *cfg.teams):
            staffing = cfg.team(name)
            mine = [
                seg
                for seg, by, sdr in zip(scenario.segments, worked_by, self._by_sdr, strict=True)
                if by == name and not sdr
            ]
            desk = Desk(name, mine, staffing)
            desk.roster = Roster(
                ctx,
                name if name == GENERALISTS else f"{GENERALISTS}.{name}",
                staffing,
                functools.partial(self._join, desk),
                functools.partial(self._leave, desk),
                scenario.finance.tools_per_head_per_month,
            )
            self.desks.append(desk)
        by_name = {desk.name: desk for desk in self.desks}
        self._desk = [by_name[name] for name in worked_by]
        """Each segment's AE team, by segment index."""

    # -- capacity -------------------------------------------------------------------------
    def _join(self, desk: Desk, person: Person) -> None:
        self._fill(desk)

    def _leave(self, desk: Desk, person: Person) -> None:
        ctx = self.ctx
        roster = desk.roster
        theirs = [lead for lead, owner in self._owner.items() if owner is person]
        for lead in theirs:
            if self._u_leaver(lead) < desk.leaver_lost:
                ctx.flows[_LEAVER_LOSSES] += 1
                ctx.flows[_LOSSES] += 1
                self._close(lead)
                self.to_recycle(lead, "lost")
                continue
            heir = max(roster.active, key=lambda p: roster.room(p, desk.per_ae), default=None)
            if heir is None:  # nobody left to take it over
                ctx.flows[_LEAVER_LOSSES] += 1
                ctx.flows[_LOSSES] += 1
                self._close(lead)
                self.to_recycle(lead, "lost")
                continue
            self._owner[lead] = heir
            roster.carry(heir, 1)
        person.load = 0
        self._fill(desk)

    def refill(self) -> None:
        """Take waiting leads if capacity grew (ramp steps, new hires)."""
        for desk in self.desks:
            self._fill(desk)

    # -- hand-off in ----------------------------------------------------------------------
    def receive(self, lead: int) -> None:
        """Take a qualified (or fast-passed) lead; it waits for an AE of its segment's team
        with room (a segment inside sales closes itself: its deal opens at once, no AE)."""
        now = self.ctx.env.now
        leads = self.ctx.leads
        segment = leads.segment[lead]
        if self._by_sdr[segment]:
            self.close_for_inside_sales(lead)
            return
        leads.move(lead, FS_QUEUE)
        if leads.first_fs_at[lead] == INF:
            leads.first_fs_at[lead] = now
        desk = self._desk[segment]
        desk.waiting.append((lead, now))
        desk.queue.add(now, 1)
        self._fill(desk)

    def close_for_inside_sales(self, lead: int) -> None:
        """Run a deal that inside sales closes itself: the segment's motion, no AE slot."""
        now = self.ctx.env.now
        leads = self.ctx.leads
        leads.move(lead, FS_QUEUE)
        if leads.first_fs_at[lead] == INF:
            leads.first_fs_at[lead] = now
        self._desk[leads.segment[lead]].queue.add(now, 1)
        self._open(lead, None, now)

    def alert_owner(self, lead: int) -> bool:
        """Hand a re-engaged account to the AE who owned it, if still here and with room."""
        owner = self.account_owner.get(lead)
        if owner is None or owner.left_at != INF:
            return False
        desk = self._desk[self.ctx.leads.segment[lead]]
        if desk.roster.room(owner, desk.per_ae) < 1:
            self.receive(lead)  # the team's queue: the owner is full
            return True
        now = self.ctx.env.now
        self.ctx.leads.move(lead, FS_QUEUE)
        desk.queue.add(now, 1)
        self._open(lead, owner, now)
        return True

    def open_existing(self, lead: int, phase: int, remaining_days: float) -> None:
        """Seed an opportunity of the starting pipeline (already in ``FS_OPEN``)."""
        ctx = self.ctx
        segment = ctx.leads.segment[lead]
        if self._by_sdr[segment]:
            self._sdr_deals.add(lead)
            self.sdr_open.add(ctx.env.now, 1)
        else:
            desk = self._desk[segment]
            owner = min(desk.roster.active, key=lambda p: p.load, default=None)
            if owner is not None:
                desk.roster.carry(owner, 1)
                self._owner[lead] = owner
            desk.open.add(ctx.env.now, 1)
        self._opened_at[lead] = ctx.env.now
        self._acv[lead] = self._deal_size[segment](lead)
        ctx.leads.last_opp_at[lead] = ctx.env.now
        self._motion[segment].entered[phase] += 1
        epoch = ctx.leads.epoch[lead]
        call_later(ctx.env, remaining_days, self._phase_end, (lead, phase, epoch))

    @property
    def queued(self) -> int:
        """Leads waiting for an AE."""
        return sum(len(desk.waiting) for desk in self.desks)

    @property
    def open_deals(self) -> float:
        """Deals AEs hold open (inside sales' own deals are in :attr:`sdr_open`)."""
        return sum(desk.open.value for desk in self.desks)

    def open_waits(self) -> float:
        """Days waited so far by the leads still waiting for an AE."""
        now = self.ctx.env.now
        return sum(now - since for desk in self.desks for _, since in desk.waiting)

    def _fill(self, desk: Desk) -> None:
        waiting = desk.waiting
        while waiting:
            ae = desk.roster.with_room(desk.per_ae)
            if ae is None:
                return
            lead, since = waiting.popleft()
            self._open(lead, ae, since)

    def book_existing(self, lead: int, in_days: float) -> None:
        """Seed a first meeting of the starting book, held ``in_days`` from now."""
        segment = self.ctx.leads.segment[lead]
        desk = self._desk[segment]
        if self._by_sdr[segment]:
            self.ctx.leads.move(lead, FS_QUEUE)
            desk.queue.add(self.ctx.env.now, 1)
            self._open(lead, None, self.ctx.env.now, in_days)
            return
        ae = desk.roster.with_room(desk.per_ae)
        if ae is None:
            ae = min(desk.roster.active, key=lambda p: p.load, default=None)
        if ae is None:  # nobody to hold it: it waits like any hand-off
            self.receive(lead)
            return
        self.ctx.leads.move(lead, FS_QUEUE)
        desk.queue.add(self.ctx.env.now, 1)
        self._open(lead, ae, self.ctx.env.now, in_days)

    def _open(self, lead: int, ae: Person | None, since: float, delay: float | None = None) -> None:
        """``ae`` takes ``lead`` (waiting since ``since``) to a first meeting (``None``:
        inside sales runs the deal)."""
        ctx = self.ctx
        now = ctx.env.now
        segment = ctx.leads.segment[lead]
        desk = self._desk[segment]
        desk.queue.add(now, -1)
        if ae is None:
            self._sdr_deals.add(lead)
            self.sdr_open.add(now, 1)
        else:
            desk.open.add(now, 1)
            desk.roster.carry(ae, 1)
            self._owner[lead] = ae
            desk.wait_days += now - since
            desk.waits += 1
        epoch = ctx.leads.move(lead, FS_OPEN)
        ctx.flows[_APPTS] += 1
        ctx.flows[_WAIT_SUM] += now - since
        ctx.flows[_WAITS] += 1
        wait = self._motion[segment].appointment_delay(lead) if delay is None else delay
        call_later(ctx.env, wait, self._appointment, (lead, epoch))

    def _appointment(self, value: Any) -> None:
        lead, epoch = value
        ctx = self.ctx
        leads = ctx.leads
        if leads.epoch[lead] != epoch:
            return  # lost when its AE left
        now = ctx.env.now
        segment = leads.segment[lead]
        motion = self._motion[segment]
        if self._u_accept(lead) < motion.accept[leads.intent(lead, now)]:
            ctx.flows[_OPPS] += 1
            if leads.first_opp_at[lead] == INF:
                leads.first_opp_at[lead] = now
            leads.last_opp_at[lead] = now
            motion.entered[0] += 1
            self._opened_at[lead] = now
            acv = self._deal_size[segment](lead)
            self._acv[lead] = acv
            ctx.flows[_PIPELINE] += acv
            call_later(ctx.env, motion.duration[0](lead), self._phase_end, (lead, 0, epoch))
        else:
            ctx.flows[_REJECTED] += 1
            self._close(lead)
            self.to_recycle(lead, "rejected")

    def _phase_end(self, value: Any) -> None:
        lead, phase, epoch = value
        ctx = self.ctx
        leads = ctx.leads
        if leads.epoch[lead] != epoch:
            return  # lost when its AE left
        now = ctx.env.now
        flows = ctx.flows
        u_phase = self._u_phase
        motion = self._motion[leads.segment[lead]]
        advance = motion.advance
        if u_phase(lead) < advance[phase]:
            motion.advanced[phase] += 1
            phase += 1
            if phase < len(advance):
                motion.entered[phase] += 1
                call_later(
                    ctx.env, motion.duration[phase](lead), self._phase_end, (lead, phase, epoch)
                )
                return
            flows[_WINS] += 1
            if lead in self._sdr_deals:
                flows[_SDR_WINS] += 1
            flows[_CYCLE] += now - self._opened_at[lead]
            leads.won_at[lead] = now
            if leads.cycles[lead] > 0:
                flows[_RECYCLED_WINS] += 1
            acv = self._acv[lead]
            owner = self._owner.get(lead)
            if owner is not None:
                # the booking is credited to the AE who owns the deal when it is won
                desk = self._desk[leads.segment[lead]]
                desk.credits.append((owner.index, now, acv))
                if desk.commission > 0:
                    desk.roster.pay(desk.commission * acv)
            self._close(lead)
            self.to_customer_success(lead, acv)
            return
        motion.failed[phase] += 1
        no_decision = u_phase(lead) < motion.no_decision
        flows[_NO_DECISION if no_decision else _LOSSES] += 1
        self._close(lead)
        self.to_recycle(lead, "lost")

    def _close(self, lead: int) -> None:
        """Free the lead's slot (won, lost or rejected) and take the next waiting lead."""
        self._opened_at.pop(lead, None)
        self._acv.pop(lead, None)
        if lead in self._sdr_deals:
            self._sdr_deals.discard(lead)
            self.sdr_open.add(self.ctx.env.now, -1)
            return
        desk = self._desk[self.ctx.leads.segment[lead]]
        owner = self._owner.pop(lead, None)
        if owner is not None:
            desk.roster.carry(owner, -1)
            self.account_owner[lead] = owner
        desk.open.add(self.ctx.env.now, -1)
        self._fill(desk)
