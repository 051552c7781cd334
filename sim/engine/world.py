"""Builds one replication: the environment, the teams and their hand-offs; runs it.

``simulate(scenario, seed)`` is a pure function of its arguments. After the run it checks that
every lead is in exactly one state and that the ARR ledger balances, and raises
:class:`~sim.errors.InvariantError` if not: a broken law is a bug, never a result.
"""

from __future__ import annotations

import gc
import math
from bisect import bisect_right
from collections.abc import Callable, Generator, Sequence
from typing import Any

import numpy as np

from sim.engine.calendar import month_labels, month_starts
from sim.engine.core import Clock, Context
from sim.engine.customer_success import CustomerSuccess
from sim.engine.field_sales import FieldSales
from sim.engine.inside_sales import InsideSales
from sim.engine.leads import (
    ACTIVE,
    CUSTOMER,
    FS_OPEN,
    FS_QUEUE,
    INSIDE_SALES,
    NURTURE,
    RECYCLE,
    STATES,
    Leads,
)
from sim.engine.ledger import AE_TEAM_FIGURES, AREAS, FLOWS, STOCKS, F, Ledger
from sim.engine.marketing import Marketing
from sim.engine.outbound import Outbound
from sim.engine.recycle import Recycler
from sim.engine.staff import STAFF_FLOWS, Roster
from sim.engine.streams import SeedLike, Streams
from sim.errors import InvariantError
from sim.scenario.distributions import AnyDistribution
from sim.scenario.schema import GENERALISTS, Phase, Scenario

_NRR_WINDOW_MONTHS = 12


class World:
    """One replication of a scenario, wired and ready to run."""

    def __init__(self, scenario: Scenario, seed: SeedLike, starting_book: bool = True) -> None:
        """Wire the teams for ``seed``; ``starting_book=False`` leaves out the customers,
        open deals and leads already in the funnel on day one (see :func:`roster_days`)."""
        self.scenario = scenario
        self.streams = Streams(seed)
        self.env = Clock()
        starts = month_starts(scenario.start_date, scenario.horizon_months)
        self.horizon = starts[-1]
        self.flows = [[0.0] * scenario.horizon_months for _ in FLOWS]
        self._spend = {
            c: [ch.spend.spend_in(m) for m in range(scenario.horizon_months)]
            for c, ch in enumerate(scenario.marketing.channels.values())
            if ch.spend is not None
        }
        """Each channel bought by budget (by index): its spend, month by month."""
        self.ctx = Context(
            env=self.env,
            leads=Leads(self.streams.lead_key),
            flows=[0.0] * len(FLOWS),
            streams=self.streams,
            month_starts=starts,
        )
        self.marketing = Marketing(self.ctx, scenario)
        self.inside_sales = InsideSales(self.ctx, scenario)
        self.field_sales = FieldSales(self.ctx, scenario)
        self.customer_success = CustomerSuccess(self.ctx, scenario, self.marketing)
        self.recycler = Recycler(self.ctx, scenario)
        self.outbound = (
            None
            if scenario.outbound is None
            else Outbound(self.ctx, scenario, scenario.outbound, self.marketing)
        )
        self._wire()
        desks = self.field_sales.desks
        self.teams: dict[str, list[Roster]] = {
            "inside_sales": [self.inside_sales.roster],
            "field_sales": [desk.roster for desk in desks],
            "customer_success": [self.customer_success.roster],
        }
        """Each team's rosters (field sales: one per AE team)."""
        if self.outbound is not None:
            self.teams["outbound"] = [self.outbound.roster]
        if self.customer_success.pool is not None:
            self.teams["tech_touch"] = [self.customer_success.pool]
        for rosters in self.teams.values():
            for roster in rosters:
                roster.seed()
        months = scenario.horizon_months
        self.staff = {
            team: {name: [0.0] * months for name in (*STAFF_FLOWS, "headcount")}
            for team in self.teams
        }
        # per AE team, where field sales has teams of its own (field_sales.teams)
        self.ae_teams = {
            desk.name: {name: [0.0] * months for name in AE_TEAM_FIGURES}
            for desk in desks
            if scenario.field_sales.teams and (desk.segments or desk.name != GENERALISTS)
        }
        self.stocks = {name: [0.0] * scenario.horizon_months for name in STOCKS}
        self.areas = {name: [0.0] * scenario.horizon_months for name in AREAS}
        self.opening_arr = self._seed_starting_book() if starting_book else 0.0
        self._nrr_base: dict[int, tuple[int, float]] = {}

    def _wire(self) -> None:
        mk, is_, fs, cs, rc = (
            self.marketing,
            self.inside_sales,
            self.field_sales,
            self.customer_success,
            self.recycler,
        )
        mk.to_inside_sales = is_.receive
        mk.to_field_sales = fs.receive
        is_.to_field_sales = fs.receive
        is_.to_close = fs.close_for_inside_sales
        is_.to_recycle = rc.receive
        fs.to_customer_success = cs.receive
        fs.to_recycle = rc.receive
        cs.to_recycle = rc.receive
        rc.to_marketing = mk.qualify
        rc.to_inside_sales = is_.receive
        rc.to_owner = fs.alert_owner
        rc.open_window = mk.open_window
        is_.buyer_moved_on = mk.close_window
        mk.catch_up_inside_sales = is_.catch_up
        if self.outbound is not None:
            self.outbound.to_field_sales = fs.receive

    # -- starting book --------------------------------------------------------------------
    def _seed_starting_book(self) -> float:
        sc = self.scenario
        book = sc.starting_book
        leads = self.ctx.leads
        gen = self.streams.generator("book")
        seg_names = list(sc.segments)
        channel = len(sc.marketing.channels) + 1
        counts = [book.customers.get(s, 0) for s in seg_names]
        acvs = [sc.segments[s].acv.sample(gen, n) for s, n in zip(seg_names, counts, strict=True)]
        raw = float(sum(a.sum() for a in acvs))
        scale = book.arr / raw if raw > 0 and book.arr > 0 else 1.0
        cs = self.customer_success
        for seg, values in enumerate(acvs):
            renewals = gen.uniform(0.0, cs.term_days, len(values))
            for acv, renewal in zip((values * scale).tolist(), renewals.tolist(), strict=True):
                lead = leads.create(0.0, CUSTOMER, channel, seg, 0, 0.0, 0.0)
                cs.seed_customer(lead, acv, renewal)
        shares = np.array([sc.segments[s].share for s in seg_names])
        fs = sc.field_sales
        if not fs.segments:  # one motion for all
            segs = gen.choice(len(seg_names), size=book.open_opportunities, p=shares)
            phase_of, remaining = self._steady_pipeline(gen, fs.phases, len(segs))
        else:
            # a going concern's pipeline holds each segment's opportunities in proportion
            # to how long they stay open (a short motion's deals are fewer at any moment,
            # or month 1 books a burst), and each spread over its own phases
            open_days = np.array([_open_days(fs.for_segment(s).phases) for s in seg_names])
            held = shares * open_days if open_days.sum() > 0 else shares
            segs = gen.choice(len(seg_names), size=book.open_opportunities, p=held / held.sum())
            phase_of, remaining = [0] * len(segs), [0.0] * len(segs)
            for k, name in enumerate(seg_names):
                mine = np.flatnonzero(segs == k).tolist()
                steps, left = self._steady_pipeline(gen, fs.for_segment(name).phases, len(mine))
                for i, step, days in zip(mine, steps, left, strict=True):
                    phase_of[i], remaining[i] = step, days
        for seg, phase, days_left in zip(segs.tolist(), phase_of, remaining, strict=True):
            lead = leads.create(0.0, FS_OPEN, channel, seg, 0, 0.0, 0.0)
            leads.first_opp_at[lead] = 0.0
            self.field_sales.open_existing(lead, phase, days_left)
        meetings = gen.choice(len(seg_names), size=book.booked_meetings, p=shares)
        if not fs.segments:
            delays = _residual(gen, fs.appointment_delay_days, book.booked_meetings)
        else:
            delays = np.zeros(book.booked_meetings)
            for k, name in enumerate(seg_names):
                booked = np.flatnonzero(meetings == k)
                law = fs.for_segment(name).appointment_delay_days
                delays[booked] = _residual(gen, law, len(booked))
        for seg, delay in zip(meetings.tolist(), delays.tolist(), strict=True):
            # qualified leads, in their buying window, waiting for the first meeting
            lead = leads.create(0.0, NURTURE, channel, seg, 0, 0.0, 0.0)
            leads.first_fs_at[lead] = 0.0
            self.field_sales.book_existing(lead, delay)
        self._seed_inside_sales(gen, channel, shares)
        self._seed_nurture_database(gen, channel, shares)
        return cs.arr

    def _seed_inside_sales(
        self, gen: np.random.Generator, channel: int, shares: np.ndarray[Any, Any]
    ) -> None:
        """MQLs in the middle of their cadence on day one: their next attempt falls due
        over the coming days (uniformly over one attempt interval), as on any working day."""
        sc = self.scenario
        n = sc.starting_book.inside_sales_leads
        if n == 0:
            return
        segs = gen.choice(len(shares), size=n, p=shares)
        fit = self.marketing.draw_fit(gen, segs)
        window = sc.buying_window
        ends = np.full(n, np.inf) if window is None else _residual(gen, window.open_days, n)
        due = gen.random(n) * sc.inside_sales.attempt_interval_days.mean
        mk = self.marketing
        for seg, points, end, delay in zip(
            segs.tolist(), fit.tolist(), ends.tolist(), due.tolist(), strict=True
        ):
            lead = mk.add(0.0, NURTURE, channel, seg, 0, 0.0, points, end)
            self.inside_sales.receive(lead, delay, handed=False)

    def _steady_pipeline(
        self, gen: np.random.Generator, phases: Sequence[Phase], n: int
    ) -> tuple[list[int], list[float]]:
        """Phases and time left of ``n`` open opportunities of a motion with these
        ``phases``, as a going concern has them.

        With opportunities opening at a steady rate, the share in phase j is proportional to
        the odds of reaching it times its mean duration, and the time already spent in it
        makes the time left follow the equilibrium residual law: a length-biased duration
        times a uniform share (docs/model.md section 3: a pipeline spread evenly over the
        phases over-fills the late ones and books a burst of wins in month 1).
        """
        reach = np.cumprod([1.0, *(ph.advance_probability for ph in phases[:-1])])
        weight = reach * np.array([ph.duration_days.mean for ph in phases])
        if n == 0 or weight.sum() <= 0:
            return [], []
        phase_of = gen.choice(len(phases), size=n, p=weight / weight.sum())
        left = np.zeros(n)
        for j, ph in enumerate(phases):
            here = np.flatnonzero(phase_of == j)
            if len(here) == 0:
                continue
            left[here] = _residual(gen, ph.duration_days, len(here))
        return phase_of.tolist(), left.tolist()

    def _seed_nurture_database(
        self, gen: np.random.Generator, channel: int, shares: np.ndarray[Any, Any]
    ) -> None:
        """Dormant leads of past months: each 'later' lead is part-way through its delay."""
        sc = self.scenario
        n = sc.starting_book.nurture_leads
        undecided = sc.intent.later + sc.intent.never
        if n == 0 or undecided == 0:
            return
        segs = gen.choice(len(shares), size=n, p=shares)
        later = gen.random(n) < sc.intent.later / undecided
        # A 'later' lead of a going concern is either still waiting for its window (for a
        # share proportional to the mean wait) or inside an open one (proportional to the
        # mean window); the time left of either follows the equilibrium residual law.
        fit = self.marketing.draw_fit(gen, segs)
        wait = _residual(gen, sc.later_active_after_days, n)
        active_at = np.where(later, wait, np.inf)
        window = sc.buying_window
        ends = np.full(n, np.inf)
        if window is not None:
            mean_wait, mean_open = sc.later_active_after_days.mean, window.open_days.mean
            inside = later & (gen.random(n) < mean_open / (mean_wait + mean_open))
            # a buyer inside its window is still in the database only if its look at the
            # window's opening left it under the bar; the others wait for a window instead
            points = self.marketing.points
            crossed = np.array([points(ACTIVE, u) for u in gen.random(n).tolist()]) + fit
            inside &= crossed < sc.marketing.scoring.mql_threshold
            left = _residual(gen, window.open_days, n)
            active_at = np.where(inside, 0.0, active_at)
            ends = np.where(
                inside, left, np.where(later, active_at + window.open_days.sample(gen, n), np.inf)
            )
        mk = self.marketing
        for seg, is_later, at, end, points in zip(
            segs.tolist(), later.tolist(), active_at.tolist(), ends.tolist(), fit.tolist(),
            strict=True,
        ):  # fmt: skip
            lead = mk.add(0.0, NURTURE, channel, seg, 1 if is_later else 2, at, points, end)
            mk.nurture(lead)

    # -- bookkeeping processes ------------------------------------------------------------
    def _month_ends(self, on_month: Callable[[int, int], None] | None) -> Generator[Any, Any, None]:
        starts = self.ctx.month_starts
        months = self.scenario.horizon_months
        for m in range(months - 1):
            yield self.env.timeout(starts[m + 1] - self.env.now)
            self._close_month(m)
            if on_month is not None:
                on_month(m + 1, months)

    def _close_month(self, m: int) -> None:
        t = self.env.now
        self.inside_sales.catch_up()  # leads due while the desk was closed are in its queue
        current = self.ctx.flows
        current[F["marketing_programs"]] += self.scenario.finance.marketing_programs_per_month
        if self._spend:  # channels bought by budget cost their month's spend
            current[F["marketing_cost"]] += sum(spend[m] for spend in self._spend.values())
        for i, value in enumerate(current):
            self.flows[i][m] = value
            current[i] = 0.0
        is_, fs, cs = self.inside_sales, self.field_sales, self.customer_success
        counts = self.ctx.leads.counts_from_flows()
        values = {
            "arr": cs.arr,
            "customers": cs.customers,
            "covered_customers": cs.covered.value,
            "is_queue_length": is_.queue.value,
            "fs_queue_length": sum(desk.queue.value for desk in fs.desks),
            "fs_open": fs.open_deals,
            "cs_queue_length": cs.queue.value,
            "nurture_pool": counts[NURTURE],
            "recycle_pool": counts[RECYCLE],
            "outbound_available": 0 if self.outbound is None else self.outbound.available,
        }
        for name, value in values.items():
            self.stocks[name][m] = float(value)
        start = self.ctx.month_starts[m]
        month: dict[int, dict[str, float]] = {}  # each roster's figures, by id
        for team, rosters in self.teams.items():
            staff = self.staff[team]
            for roster in rosters:
                month[id(roster)] = roster.month_figures(start, t)
                for name, value in month[id(roster)].items():
                    staff[name][m] += value
                staff["headcount"][m] += float(len(roster.active))
        for name, level in (
            ("is_queue", is_.queue),
            ("cs_covered", cs.covered),
            ("cs_queue", cs.queue),
            ("cs_pooled", cs.pooled),
        ):
            self.areas[name][m] = level.flush(t)
        for desk in fs.desks:
            queue_days, open_days = desk.queue.flush(t), desk.open.flush(t)
            self.areas["fs_queue"][m] += queue_days
            self.areas["fs_open"][m] += open_days
            figures = self.ae_teams.get(desk.name)
            if figures is not None:
                own = month[id(desk.roster)]
                figures["headcount"][m] = float(len(desk.roster.active))
                figures["person_days"][m] = own["person_days"]
                figures["effective_days"][m] = own["effective_days"]
                figures["cost"][m] = own["cost"]
                figures["slot_days"][m] = own["effective_days"] * desk.per_ae
                figures["open_days"][m] = open_days
                figures["queue_days"][m] = queue_days
                figures["wait_days"][m], figures["waits"][m] = desk.wait_days, desk.waits
                desk.wait_days, desk.waits = 0.0, 0

    def _refills(self) -> Generator[Any, Any, None]:
        """At each month start (after the plans), teams take up capacity that ramp added."""
        starts = self.ctx.month_starts
        for m in range(1, self.scenario.horizon_months):
            yield self.env.timeout(starts[m] - self.env.now)
            self.field_sales.refill()
            self.customer_success.refill()

    def _nrr_snapshot(self) -> Generator[Any, Any, None]:
        months = self.scenario.horizon_months
        at = self.ctx.month_starts[max(0, months - _NRR_WINDOW_MONTHS)]
        if at > 0:
            yield self.env.timeout(at)
        leads = self.ctx.leads
        self._nrr_base = {
            lead: (leads.epoch[lead], leads.arr[lead])
            for lead in range(len(leads))
            if leads.state[lead] == CUSTOMER
        }

    # -- run ------------------------------------------------------------------------------
    def run(self, on_month: Callable[[int, int], None] | None = None) -> Ledger:
        """Run to the end of the horizon, check the invariants, return the ledger.

        ``on_month(done, months)`` is called as each month closes (progress of a long run).
        """
        env = self.env
        env.process(self.marketing.arrivals())
        env.process(self.customer_success.referrals())
        if not self.inside_sales.open:
            env.process(self.inside_sales.shifts())
        env.process(self._month_ends(on_month))
        for rosters in self.teams.values():
            for roster in rosters:
                env.process(roster.plans())
        env.process(self._refills())
        if self.outbound is not None:
            env.process(self.outbound.prospecting())
        env.process(self._nrr_snapshot())
        # The event loop makes no reference cycles (tests/test_engine.py checks that a run
        # leaves no cyclic garbage), so the cyclic collector has nothing to find; left on, it
        # scans every pending event and lead column again and again, a cost that grows with
        # the number of leads alive (measured: 14% of a 300,000-lead replication).
        collecting = gc.isenabled()
        gc.disable()
        try:
            env.advance(self.horizon)
        finally:
            if collecting:
                gc.enable()
        self._close_month(self.scenario.horizon_months - 1)
        if on_month is not None:
            on_month(self.scenario.horizon_months, self.scenario.horizon_months)
        self.check()
        return self._ledger()

    def check(self) -> None:
        """Raise :class:`InvariantError` unless leads are conserved and ARR balances."""
        leads = self.ctx.leads
        problems: list[str] = []
        actual = np.bincount(np.asarray(leads.state, dtype=np.int64), minlength=len(STATES))
        implied = leads.counts_from_flows()
        for s, name in enumerate(STATES):
            if actual[s] != implied[s]:
                problems.append(f"{name}: {actual[s]} leads there, flows imply {implied[s]}")
        if int(actual.sum()) != len(leads):
            problems.append(f"{int(actual.sum())} leads in states but {len(leads)} created")
        is_, fs, cs = self.inside_sales, self.field_sales, self.customer_success
        held = {
            INSIDE_SALES: ("inside sales", is_.queue.value + is_.busy + is_.waiting),
            FS_QUEUE: ("field sales queue", fs.queued),
            FS_OPEN: ("field sales open", fs.open_deals + fs.sdr_open.value),
            CUSTOMER: ("customer success", cs.customers),
        }
        followed = cs.covered.value + cs.queue.value + cs.pooled.value
        if followed != cs.customers:
            problems.append(
                f"customer success: {cs.customers} customers but {followed} covered, waiting "
                "or pooled"
            )
        for s, (team, n) in held.items():
            if actual[s] != n:
                problems.append(f"{team} holds {n} leads but {actual[s]} are in {STATES[s]}")
        f = {name: sum(self.flows[i]) for i, name in enumerate(FLOWS)}
        closing = self.opening_arr + f["new_arr"] + f["expansion_arr"]
        closing -= f["contraction_arr"] + f["churned_arr"]
        book = sum(a for a, s in zip(leads.arr, leads.state, strict=True) if s == CUSTOMER)
        tol = 1e-9 * max(1.0, self.opening_arr + f["new_arr"] + f["expansion_arr"])
        # NaN compares false with everything: a non-finite figure must fail the check itself
        gaps = (closing - cs.arr, book - cs.arr)
        if any(not math.isfinite(gap) or abs(gap) > tol for gap in gaps):
            problems.append(
                f"ARR does not balance: opening + new + expansion - contraction - churn = "
                f"{closing:.2f}, ledger {cs.arr:.2f}, sum over customers {book:.2f}"
            )
        if problems:
            raise InvariantError(
                f"replication of {self.scenario.name!r} broke an invariant:\n  "
                + "\n  ".join(problems)
            )

    def _ledger(self) -> Ledger:
        sc = self.scenario
        ctx = self.ctx
        leads = ctx.leads
        starts = ctx.month_starts
        days = np.diff(starts)
        is_ = self.inside_sales
        hours = np.array(
            [is_.clock.hours_between(starts[m], starts[m + 1]) for m in range(len(days))]
        )
        fte = {team: np.asarray(v["effective_days"]) / days for team, v in self.staff.items()}
        base = sum(arr for _, arr in self._nrr_base.values())
        kept = [
            (arr, leads.arr[lead] if leads.epoch[lead] == epoch else 0.0)
            for lead, (epoch, arr) in self._nrr_base.items()
        ]
        nrr = sum(now for _, now in kept) / base if base > 0 else math.nan
        grr = sum(min(then, now) for then, now in kept) / base if base > 0 else math.nan
        columns = (
            "key",
            "channel",
            "segment",
            "intent_class",
            "fit",
            "state",
            "cycles",
            "created_at",
            "first_mql_at",
            "first_ready_at",
            "first_touch_at",
            "first_sql_at",
            "first_fs_at",
            "speed_to_lead_hours",
            "speed_to_lead_business_hours",
            "first_opp_at",
            "last_opp_at",
            "won_at",
            "new_arr",
            "arr",
        )
        seed = self.streams.seed
        processed = next(self.env._eid) - self.env.pending
        return Ledger(
            scenario=sc.name,
            seed=f"{seed.entropy}:{'/'.join(map(str, seed.spawn_key))}",
            months=month_labels(sc.start_date, sc.horizon_months),
            month_days=days,
            flows={name: np.asarray(self.flows[i]) for i, name in enumerate(FLOWS)},
            stocks={name: np.asarray(v) for name, v in self.stocks.items()},
            areas={name: np.asarray(v) for name, v in self.areas.items()},
            capacity={
                "inside_sales_hours": hours * fte["inside_sales"] * is_.attendance,
                "field_sales_slot_days": self._slot_days(days),
                "customer_success_account_days": (
                    days * fte["customer_success"] * self.customer_success.per_csm
                ),
                "tech_touch_account_days": (
                    days * fte["tech_touch"] * sc.customer_success.tech_touch.accounts_per_head
                    if sc.customer_success.tech_touch is not None
                    else np.zeros(len(days))
                ),
            },
            staff={
                team: {name: np.asarray(v) for name, v in figures.items()}
                for team, figures in self.staff.items()
            },
            leads={c: np.asarray(getattr(leads, c)) for c in columns},
            channels=[*sc.marketing.channels, "referral", "starting_book", "outbound"],
            channel_cost_per_lead=[
                *(ch.cost_per_lead for ch in sc.marketing.channels.values()),
                0.0,
                0.0,
                0.0,
            ],
            channel_spend=[
                *(sum(self._spend.get(c, [])) for c in range(len(sc.marketing.channels))),
                0.0,
                0.0,
                0.0,
            ],
            phases={
                name: {
                    "step": float(k),
                    "entered": float(motion.entered[k]),
                    "advanced": float(motion.advanced[k]),
                    "failed": float(motion.failed[k]),
                }
                for motion in self.field_sales.motions
                for k, name in enumerate(motion.names)
            },
            segments=list(sc.segments),
            totals={
                "opening_arr": self.opening_arr,
                "is_hours_per_day": sc.inside_sales.hours_per_day,
                "gross_margin": sc.finance.gross_margin,
                "closing_arr": self.customer_success.arr,
                "nrr": nrr,
                "grr": grr,
                "events": float(processed),
                "is_queue_open_wait_days": self.inside_sales.open_waits(),
                "fs_queue_open_wait_days": self.field_sales.open_waits(),
                "cs_queue_open_wait_days": self.customer_success.open_waits(),
            },
            state_counts=dict(
                zip(STATES, np.bincount(leads.state, minlength=len(STATES)).tolist(), strict=True)
            ),
            quota=self._quota_months(),
            ae_teams={
                team: {name: np.asarray(v) for name, v in figures.items()}
                for team, figures in self.ae_teams.items()
            },
            ae_team_segments={
                desk.name: list(desk.segments)
                for desk in self.field_sales.desks
                if desk.name in self.ae_teams
            },
            sql_targets=self._sql_targets(),
        )

    def _slot_days(self, days: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        """Open-opportunity slot-days of field sales each month: each AE team's effective
        days times its AEs' cap."""
        desks = self.field_sales.desks
        if len(desks) == 1:
            fte = np.asarray(self.staff["field_sales"]["effective_days"]) / days
            return np.asarray(days * fte * desks[0].per_ae)
        slots = [np.asarray(figures["slot_days"]) for figures in self.ae_teams.values()]
        return np.asarray(sum(slots))

    def _quota_months(self) -> dict[str, np.ndarray[Any, Any]]:
        """Each AE's ramped quota and bookings, month by month (see :class:`Ledger`); AEs
        of a team with no quota are left out, and AE numbers run on across teams."""
        tables = []
        offset = 0
        for k, desk in enumerate(self.field_sales.desks):
            if desk.quota is not None:
                table = self._against_target(desk.roster, desk.credits, desk.quota)
                table["ae"] = table["ae"] + offset
                if len(self.field_sales.desks) > 1:
                    table["team"] = np.full(len(table["ae"]), float(k))
                tables.append(table)
            offset += len(desk.roster.people)
        if not tables:
            return {}
        return {name: np.concatenate([t[name] for t in tables]) for name in tables[0]}

    def _sql_targets(self) -> dict[str, np.ndarray[Any, Any]]:
        """Each SDR's ramped SQL target and SQLs, month by month (see :class:`Ledger`)."""
        target = self.scenario.inside_sales.sql_target_per_sdr_per_month
        if target is None:
            return {}
        is_ = self.inside_sales
        return self._against_target(is_.roster, is_.credits, 12.0 * target)

    def _against_target(
        self, roster: Roster, credits: list[tuple[int, float, float]], per_year: float
    ) -> dict[str, np.ndarray[Any, Any]]:
        """Per person and month on the team: their ramped target (``per_year`` a year, times
        their ramp over the days they were there) and what was credited to them."""
        starts = self.ctx.month_starts
        months = len(starts) - 1
        booked: dict[tuple[int, int], float] = {}
        for index, t, value in credits:
            if index >= 0:
                key = (index, min(bisect_right(starts, t) - 1, months - 1))
                booked[key] = booked.get(key, 0.0) + value
        per_day = per_year / 365.25
        rows: list[tuple[int, int, float, float, float, float]] = []
        for person in roster.people:
            for m in range(months):
                lo, hi = max(starts[m], person.hired_at), min(starts[m + 1], person.left_at)
                if hi <= lo:
                    continue
                ramped = sum(v * (t1 - t0) for t0, t1, v in roster.pieces(person, lo, hi))
                whole = float(lo == starts[m] and hi == starts[m + 1])
                got = booked.get((person.index, m), 0.0)
                rows.append((m, person.index, person.talent, per_day * ramped, got, whole))
        names = ("month", "ae", "talent", "quota", "booked", "whole")
        table = np.array(rows, dtype=float).reshape(-1, len(names))
        return {name: table[:, k] for k, name in enumerate(names)}


def _open_days(phases: Sequence[Phase]) -> float:
    """Mean days an opportunity stays open in these phases (won, lost or no decision)."""
    reach = np.cumprod([1.0, *(ph.advance_probability for ph in phases[:-1])])
    return float(np.dot(reach, [ph.duration_days.mean for ph in phases]))


def _residual(gen: np.random.Generator, dist: AnyDistribution, n: int) -> np.ndarray[Any, Any]:
    """Time left of ``n`` spells of ``dist`` caught under way by a look at a random moment.

    The equilibrium residual law of renewal theory: a length-biased draw (a long spell is
    more likely to be under way) times a uniform share still to go.
    """
    pool = dist.sample(gen, 64 * n) if n else np.zeros(0)
    total = float(pool.sum())
    biased = gen.choice(pool, size=n, p=pool / total) if total > 0 else pool[:n]
    return np.asarray(biased * gen.random(n))


def simulate(
    scenario: Scenario, seed: SeedLike = 0, on_month: Callable[[int, int], None] | None = None
) -> Ledger:
    """Run one replication of ``scenario``.

    Parameters
    ----------
    scenario
        A validated scenario (see :func:`sim.load_scenario`).
    seed
        A non-negative int or a :class:`numpy.random.SeedSequence`; the same scenario and
        seed give the same ledger, bit for bit.
    on_month
        Optional callback ``on_month(done, months)`` as each simulated month closes, for the
        progress of a long replication; it does not change the numbers.

    Returns
    -------
    Ledger
        Monthly counters, month-end stocks, per-lead records and totals.

    Raises
    ------
    InvariantError
        If leads were not conserved or the ARR ledger does not balance (a bug).
    """
    return World(scenario, seed).run(on_month)


def roster_days(scenario: Scenario, seed: SeedLike = 0) -> dict[str, float]:
    """Each team's effective person-days over the horizon, from its rosters alone.

    A team's people (day-one seats, planned hires and leavers, headcount targets, each
    seat's tenure, backfill lead time and talent, ramp and coaching) come from the seats'
    own substreams and never from the leads, so they are the same in every replication
    of ``scenario`` seeded ``seed``: this runs the rosters only, without a lead, in a few
    milliseconds, and gives the totals of ``Ledger.staff[team]["effective_days"]`` of
    :func:`simulate` with that seed, bit for bit (``tests/test_controls.py``). Their
    capacity is what a paired comparison can use as a control variate
    (:func:`sim.stats.control_variates`), its mean taken from many such runs.
    """
    world = World(scenario, seed, starting_book=False)
    env = world.env
    for rosters in world.teams.values():
        for roster in rosters:
            env.process(roster.plans())
    env.advance(world.horizon)
    starts = world.ctx.month_starts
    out = {}
    for team, rosters in world.teams.items():
        months = [0.0] * scenario.horizon_months
        for m in range(scenario.horizon_months):
            for roster in rosters:
                months[m] += roster.month_figures(starts[m], starts[m + 1])["effective_days"]
        out[team] = float(np.sum(np.asarray(months)))
    return out
