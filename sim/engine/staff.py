"""Staff: the people of a team over time, their ramp, attrition, backfills and cost.

A :class:`Roster` hires and loses people (planned changes, headcount targets, attrition as a
constant hazard, backfills after a hiring delay) and tells its team through two callbacks.
Productivity depends on tenure (the ramp, by month of tenure); new hires also take some of
their experienced colleagues' time (the coaching load), so a hiring wave first dips and then
lifts a team's capacity. Month-end accounting integrates all this exactly per person.
"""

from __future__ import annotations

import itertools
import math
import zlib
from collections.abc import Callable, Generator
from heapq import heapify, heappop, heappush
from typing import Any

from sim.engine.core import Context, call_later
from sim.engine.streams import mix64
from sim.scenario.distributions import Exponential, Fixed, LogNormal
from sim.scenario.schema import DAYS_PER_MONTH as DAYS_PER_MONTH  # its home is the scenario
from sim.scenario.schema import Staffing

NEVER = math.inf


class Person:
    """One member of a team."""

    __slots__ = (
        "busy",
        "hired_at",
        "index",
        "leaving",
        "left_at",
        "load",
        "ramped",
        "seat",
        "talent",
    )

    def __init__(self, index: int, hired_at: float, seat: int = 0, talent: float = 1.0) -> None:
        self.index = index
        self.seat = seat  # the seat filled: backfills inherit it, and its random draws
        self.hired_at = hired_at
        self.talent = talent  # productivity once ramped, relative to the team's average
        self.left_at = NEVER
        self.load = 0  # team-specific: open opportunities, accounts (see Roster.carry)
        self.ramped = False  # past the last step of the ramp: in the roster's index of room
        self.busy = False  # inside sales: in the middle of a touch
        self.leaving = False  # inside sales: leaves when the touch ends


STAFF_FLOWS = (
    "hires",
    "planned_departures",
    "attrition",
    "person_days",
    "effective_days",
    "ramp_loss_days",
    "coaching_loss_days",
    "vacancy_days",
    "variable_pay",
    "cost",
)
"""Per team and month: people in and out, days on payroll, productive days, what was lost to
ramp, coaching and vacancies (open requisitions after attrition), variable pay (commission on
bookings) and cost (loaded payroll plus tools plus variable pay)."""


class Roster:
    """The people of one team and how their number and productivity change over time.

    Parameters
    ----------
    ctx
        The replication's shared context.
    team
        Team name, used for stream names.
    cfg
        The team's staffing settings.
    on_join, on_leave
        Called with a :class:`Person` when someone starts or leaves.
    tools_per_head_per_month
        Software and such, paid per person on top of their loaded cost.
    """

    def __init__(
        self,
        ctx: Context,
        team: str,
        cfg: Staffing,
        on_join: Callable[[Person], None],
        on_leave: Callable[[Person], None],
        tools_per_head_per_month: float = 0.0,
    ) -> None:
        self.ctx = ctx
        self._cost_per_day = (cfg.cost_per_head_per_year + 12 * tools_per_head_per_month) / 365.25
        self.cfg = cfg
        self.on_join = on_join
        self.on_leave = on_leave
        self.people: list[Person] = []
        self.active: list[Person] = []
        self._ramp = list(cfg.ramp)
        self._coaching = list(cfg.coaching_load)
        self._hazard = cfg.attrition_per_year / 365.25
        s = ctx.streams
        # Tenures and hiring lead times come from each seat's own substream (day-one seats,
        # then each planned hire's seat by its month and order; a backfill keeps its seat):
        # two scenarios that differ in head count give the seats they share the same people.
        self._team_salt = mix64(zlib.crc32(team.encode()))
        self._seat_keys: list[int] = []
        self._lead_time = s.lead_sampler(
            self._seat_keys, f"staff.{team}.hiring_lead", cfg.hiring_lead_days
        )
        tenure = Exponential(mean=1.0 / self._hazard) if self._hazard > 0 else Fixed(value=0.0)
        self._tenure = s.lead_sampler(self._seat_keys, f"staff.{team}.attrition", tenure)
        spread = cfg.productivity_spread
        self._talent = (
            None
            if spread == 0
            else s.lead_sampler(
                self._seat_keys, f"staff.{team}.talent", LogNormal(mean=1.0, sd=spread)
            )
        )
        self.open_requisitions = 0
        self.vacancies: list[float] = []  # start times of open backfill requisitions
        self._vacancy_closed: list[tuple[float, float]] = []
        self._departures: list[tuple[float, bool]] = []  # (time, attrition?)
        self._pay: list[tuple[float, float]] = []  # (time, variable pay)
        self.ramps = (
            any(r < 1.0 for r in self._ramp)
            or any(c > 0 for c in self._coaching)
            or self._talent is not None
        )
        """Does anyone's productivity differ from 1 (ramp, coaching or talent)?"""
        self.factor = 1.0  # team-wide speed after coaching load, refreshed on changes
        # The index behind with_room: people past their ramp in a heap by load per unit of
        # talent (entries of an old load or of someone gone are dropped when they surface),
        # people still ramping (a few at a time) in a list, looked at one by one.
        self._by_load: list[tuple[float, int, int, int, Person]] = []
        self._ramping: list[Person] = []
        self._entries = itertools.count()

    # -- productivity ---------------------------------------------------------------------
    def productivity(self, person: Person, t: float) -> float:
        """What ``person`` does at time ``t`` relative to an average, fully ramped colleague:
        their ramp value times their talent."""
        return self.ramp(person, t) * person.talent

    def ramp(self, person: Person, t: float) -> float:
        """The ramp value of ``person`` at time ``t`` (by month of tenure)."""
        month = int((t - person.hired_at) / DAYS_PER_MONTH)
        ramp = self._ramp
        return ramp[month] if month < len(ramp) else ramp[-1]

    def coaching(self, t: float) -> float:
        """Experienced-person equivalents spent coaching new hires at time ``t``."""
        load = self._coaching
        total = 0.0
        for person in self.active:
            month = int((t - person.hired_at) / DAYS_PER_MONTH)
            if month < len(load):
                total += load[month]
        return total

    def refresh(self) -> None:
        """Recompute the team-wide speed factor (coaching spread over the team)."""
        now = self.ctx.env.now
        n = len(self.active)
        self.factor = max(0.0, 1.0 - self.coaching(now) / n) if n else 1.0

    def room(self, person: Person, per_head: float) -> float:
        """How much more ``person`` can carry now: their ramped share of ``per_head`` minus
        what they already carry (``person.load``)."""
        return per_head * self.productivity(person, self.ctx.env.now) * self.factor - person.load

    def with_room(self, per_head: float) -> Person | None:
        """The person with the most room for their talent, if anyone has room for one more.

        Room is weighed per unit of talent, so work is shared in proportion to what each
        person can do (people alike: the most room; a tie goes to the longest-serving).

        The people past their ramp share the ramp's last value and the team's factor, so
        among them the most room per unit of talent is the least load per unit of talent:
        the top of a heap. Only the few still ramping are looked at one by one, so a pick
        costs the same in a team of ten and in a team of a thousand.
        """
        now = self.ctx.env.now
        ramping = self._ramping
        if ramping:
            for person in [p for p in ramping if self._past_ramp(p, now)]:
                ramping.remove(person)
                self._settle(person)
        best: Person | None = None
        best_room = -math.inf
        heap = self._by_load
        while heap:
            _, _, load, _, person = heap[0]
            if person.load == load and person.left_at == NEVER:
                best = person
                best_room = self.room(person, per_head) / person.talent
                break
            heappop(heap)
        for person in ramping:
            room = self.room(person, per_head) / person.talent
            if room > best_room or (
                room == best_room and best is not None and person.index < best.index
            ):
                best, best_room = person, room
        return best if best is not None and self.room(best, per_head) >= 1.0 - 1e-9 else None

    def carry(self, person: Person, change: int) -> None:
        """``person`` takes on ``change`` more (negative: fewer) of the team's work items."""
        load = person.load + change
        person.load = load
        if person.ramped:
            heap = self._by_load
            heappush(heap, (load / person.talent, person.index, load, next(self._entries), person))
            if len(heap) > 4 * len(self.active) + 64:
                self._reindex()

    def _past_ramp(self, person: Person, t: float) -> bool:
        """Is ``person`` at the ramp's last value from ``t`` on (as :meth:`ramp` counts)?"""
        return int((t - person.hired_at) / DAYS_PER_MONTH) >= len(self._ramp) - 1

    def _settle(self, person: Person) -> None:
        """``person`` is past their ramp: into the heap."""
        person.ramped = True
        heappush(
            self._by_load,
            (person.load / person.talent, person.index, person.load, next(self._entries), person),
        )

    def _reindex(self) -> None:
        """Rebuild the heap from the people here now (dropping every old entry)."""
        self._by_load = [
            (p.load / p.talent, p.index, p.load, next(self._entries), p)
            for p in self.active
            if p.ramped
        ]
        heapify(self._by_load)

    def capacity(self, t: float) -> float:
        """Effective full-time equivalents at ``t``."""
        return sum(self.productivity(p, t) for p in self.active) * self.factor

    # -- changes --------------------------------------------------------------------------
    def seed(self) -> None:
        """The team on day one: fully ramped (hired long ago)."""
        for i in range(self.cfg.headcount):
            self._join(self._seat(0, i), -1e9)

    def _seat(self, month: int, order: int) -> int:
        """A new seat: the ``order``-th opened in month ``month`` (0: day one)."""
        self._seat_keys.append(
            self.ctx.streams.lead_key(self._team_salt & 0xFFFF, month * 4096 + order)
        )
        return len(self._seat_keys) - 1

    def _join(self, seat: int, hired_at: float | None = None) -> Person:
        now = self.ctx.env.now
        talent = 1.0 if self._talent is None else self._talent(seat)
        person = Person(len(self.people), now if hired_at is None else hired_at, seat, talent)
        self.people.append(person)
        self.active.append(person)
        if self._past_ramp(person, now):
            self._settle(person)
        else:
            self._ramping.append(person)
        if self._hazard > 0:
            call_later(self.ctx.env, self._tenure(seat), self._attrition, person)
        self.refresh()
        self.on_join(person)
        return person

    def _leave(self, person: Person, attrition: bool) -> None:
        now = self.ctx.env.now
        person.left_at = now
        self.active.remove(person)
        if not person.ramped:
            self._ramping.remove(person)
        self._departures.append((now, attrition))
        self.refresh()
        self.on_leave(person)

    def _attrition(self, value: Any) -> None:
        person: Person = value
        if person.left_at < NEVER:
            return
        self._leave(person, attrition=True)
        if self.cfg.backfill:
            self._requisition(person.seat, backfill=True)

    def _requisition(self, seat: int, backfill: bool) -> None:
        self.open_requisitions += 1
        opened = self.ctx.env.now
        if backfill:
            self.vacancies.append(opened)
        call_later(self.ctx.env, self._lead_time(seat), self._filled, (opened, backfill, seat))

    def _filled(self, value: Any) -> None:
        opened, backfill, seat = value
        self.open_requisitions -= 1
        if backfill:
            self.vacancies.remove(opened)
            self._vacancy_closed.append((opened, self.ctx.env.now))
        self._join(seat)

    def _planned_departures(self, count: int) -> None:
        for _ in range(min(count, len(self.active))):
            # the newest leave first: a plan to shrink rarely lets the best people go
            self._leave(max(self.active, key=lambda p: p.hired_at), attrition=False)

    def plans(self) -> Generator[Any, Any, None]:
        """SimPy process: apply the plan or chase the targets at each month start."""
        env = self.ctx.env
        starts = self.ctx.month_starts
        changes = {c.month: c for c in self.cfg.plan}
        targets = {t.month: t.headcount for t in self.cfg.targets}
        goal: int | None = None
        for m in range(len(starts) - 1):
            if starts[m] > env.now:
                yield env.timeout(starts[m] - env.now)
            change = changes.get(m + 1)
            if change is not None:
                for i in range(change.hire):
                    self._join(self._seat(m + 1, i))
                self._planned_departures(change.leave)
            goal = targets.get(m + 1, goal)
            if goal is not None:
                gap = goal - len(self.active) - self.open_requisitions
                for i in range(max(gap, 0)):
                    self._requisition(self._seat(m + 1, i), backfill=False)
                if gap < 0 and self.open_requisitions == 0:
                    self._planned_departures(-gap)
            self.refresh()

    # -- accounting -----------------------------------------------------------------------
    def pay(self, amount: float) -> None:
        """Pay ``amount`` of variable pay now (commission on a booking)."""
        self._pay.append((self.ctx.env.now, amount))

    def month_figures(self, start: float, end: float) -> dict[str, float]:
        """Exact integrals over [start, end) of the staff quantities in :data:`STAFF_FLOWS`."""
        person_days = effective = ramp_loss = coaching = 0.0
        for person in self.people:
            lo, hi = max(start, person.hired_at), min(end, person.left_at)
            if hi <= lo:
                continue
            person_days += hi - lo
            for t0, t1, value in self._pieces(person, lo, hi, self._ramp):
                effective += value * person.talent * (t1 - t0)
                ramp_loss += (1.0 - value) * (t1 - t0)
            if self._coaching:
                for t0, t1, value in self._pieces(person, lo, hi, [*self._coaching, 0.0]):
                    coaching += value * (t1 - t0)
        # coaching comes out of the productive time of the team
        coaching = min(coaching, effective)
        effective -= coaching
        vacancy = sum(max(0.0, min(end, b) - max(start, a)) for a, b in self._vacancy_closed) + sum(
            max(0.0, end - max(start, a)) for a in self.vacancies if a < end
        )
        in_window = [a for t, a in self._departures if start <= t < end]
        variable = sum((amount for t, amount in self._pay if start <= t < end), 0.0)
        return {
            "hires": float(sum(1 for p in self.people if start <= p.hired_at < end)),
            "planned_departures": float(sum(1 for a in in_window if not a)),
            "attrition": float(sum(1 for a in in_window if a)),
            "person_days": person_days,
            "effective_days": effective,
            "ramp_loss_days": ramp_loss,
            "coaching_loss_days": coaching,
            "vacancy_days": vacancy,
            "variable_pay": variable,
            "cost": person_days * self._cost_per_day + variable,
        }

    def pieces(self, person: Person, lo: float, hi: float) -> list[tuple[float, float, float]]:
        """Split [lo, hi) where ``person``'s ramp value changes: (start, end, value)."""
        return self._pieces(person, lo, hi, self._ramp)

    @staticmethod
    def _pieces(
        person: Person, lo: float, hi: float, steps: list[float]
    ) -> list[tuple[float, float, float]]:
        """Split [lo, hi) where ``steps`` (one value per month of tenure) changes."""
        out = []
        month = int((lo - person.hired_at) / DAYS_PER_MONTH)
        t = lo
        while t < hi:
            value = steps[month] if month < len(steps) else steps[-1]
            if month >= len(steps) - 1:
                out.append((t, hi, value))
                break
            # step the month as an integer: recomputing it from t can land on the same
            # month again after rounding and never move on
            boundary = min(hi, person.hired_at + (month + 1) * DAYS_PER_MONTH)
            out.append((t, boundary, value))
            t = boundary
            month += 1
        return out
