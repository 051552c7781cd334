"""The scenario schema: the single source of truth for what a scenario may say.

A scenario is a frozen pydantic model validated when it is loaded, never half-way through a
run. Names follow the domain (``mql_threshold``, ``speed_to_lead``, ``recycle``) and carry
their unit where it is not obvious (``pause_days``, ``minutes_per_touch``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

from sim.scenario.distributions import Duration, Fixed, Integer, Number

# Every number is finite (allow_inf_nan=False below), never a boolean, and bounded by what a
# real organisation never exceeds, the bound named in the message (docs/guarantees.md).
MAX_HEADCOUNT = 10_000
"""People on one team, and hires or departures in one month."""
MAX_MONTHLY_LEADS = 10_000_000
"""New leads a channel brings in any one month, growth and seasonality included."""
MAX_ACCOUNTS = 10_000_000
"""Leads, accounts, customers or opportunities counted anywhere in a scenario."""
MAX_MONEY = 1e12
"""Any amount of money: a trillion currency units."""
MAX_RATE = 10_000.0
"""Events, leads or accounts per person (or per customer) per month or year."""
MAX_DAYS = 36_500.0
"""Any plain number of days: a hundred years."""
MAX_POINTS = 1e6
"""Any score, score threshold or score points."""
EARLIEST_START = dt.date(1970, 1, 1)
LATEST_START = dt.date(2100, 12, 1)

Probability = Annotated[Number, Field(ge=0.0, le=1.0)]
Count = Annotated[Integer, Field(ge=0, le=MAX_ACCOUNTS)]
Headcount = Annotated[Integer, Field(ge=0, le=MAX_HEADCOUNT)]
Money = Annotated[Number, Field(ge=0.0, le=MAX_MONEY)]
Rate = Annotated[Number, Field(ge=0.0, le=MAX_RATE)]
Days = Annotated[Number, Field(ge=0.0, le=MAX_DAYS)]
Points = Annotated[Number, Field(ge=-MAX_POINTS, le=MAX_POINTS)]
Month = Annotated[Integer, Field(ge=1, le=1200, description="simulated month, 1 = the first")]
MonthlyLeads = Annotated[Number, Field(ge=0.0, le=MAX_MONTHLY_LEADS)]

DAYS_PER_MONTH = 365.25 / 12
"""Days in an average month: turns a month of tenure or a term into days."""
IntentState = Literal["active", "dormant", "never"]
INTENT_STATES: tuple[IntentState, ...] = ("active", "dormant", "never")
RECYCLE_REASONS = ("not_now", "unreached", "rejected", "lost", "churned")
GENERALISTS = "field_sales"
"""The AE team of ``field_sales`` itself: it works the segments no ``field_sales.teams``
entry claims."""


class _Model(BaseModel):
    model_config = ConfigDict(
        frozen=True, extra="forbid", populate_by_name=True, allow_inf_nan=False
    )


PerSegment = Probability | dict[str, Probability]
"""A probability that is the same for every segment, or given per segment."""


def _every_state(mapping: Mapping[Any, Any], what: str) -> None:
    missing = [s for s in INTENT_STATES if s not in mapping]
    if missing:
        raise ValueError(f"{what} needs every intent state; missing {missing}")


_T = TypeVar("_T")


def _given(value: _T | None, default: _T) -> _T:
    """``value`` where the scenario gives one, else ``default``."""
    return default if value is None else value


def _check_shares(shares: dict[str, float], what: str) -> None:
    total = sum(shares.values())
    if not math.isclose(total, 1.0, abs_tol=1e-6):
        raise ValueError(f"{what} must sum to 1 (they sum to {total:.6g})")


class Segment(_Model):
    """A customer segment: its share of new leads and its annual contract value."""

    share: Probability
    acv: Duration = Field(description="annual contract value of a new deal, in currency units")


class IntentMix(_Model):
    """Latent buying intent of newly acquired leads (DOMAIN.md section 2: 10% / 65% / 25%)."""

    now: Probability
    later: Probability
    never: Probability

    @model_validator(mode="after")
    def _sums_to_one(self) -> IntentMix:
        _check_shares({"now": self.now, "later": self.later, "never": self.never}, "intent shares")
        return self


class Spend(_Model):
    """A channel bought by budget: what it spends a month and the leads that spend brings.

    The response curve has diminishing returns and passes through a point the team knows
    (``reference_spend`` brought ``reference_leads`` a month):

    - ``power``: ``leads = reference_leads * (spend / reference_spend) ** elasticity``, with
      ``0 < elasticity <= 1`` (1: constant cost per lead; 0.6: doubling spend brings
      2 ** 0.6 = 1.52x the leads);
    - ``saturating``: ``leads = max_leads * (1 - exp(-spend / scale))``, ``scale`` set so that
      the curve passes through the reference point; the leads approach ``max_leads``
      (the market the channel can reach) however much is spent.
    """

    monthly: Money | list[Money] = Field(
        description="spend in each month (then the channel's growth and seasonality apply "
        "to the leads it brings), or a list with the spend of every simulated month"
    )
    curve: Literal["power", "saturating"]
    reference_spend: Annotated[Number, Field(gt=0.0, le=MAX_MONEY)]
    reference_leads: Annotated[Number, Field(gt=0.0, le=MAX_MONTHLY_LEADS)]
    elasticity: Annotated[Number, Field(gt=0.0, le=1.0)] | None = Field(
        None, description="power curve: the exponent (0 < elasticity <= 1)"
    )
    max_leads: Annotated[Number, Field(gt=0.0, le=MAX_MONTHLY_LEADS)] | None = Field(
        None, description="saturating curve: the most leads a month any spend can bring"
    )

    @model_validator(mode="after")
    def _curve(self) -> Spend:
        if self.curve == "power":
            if self.elasticity is None:
                raise ValueError("elasticity: the power curve needs it (0 < elasticity <= 1)")
            if self.max_leads is not None:
                raise ValueError("max_leads: only for the saturating curve")
        else:
            if self.max_leads is None:
                raise ValueError("max_leads: the saturating curve needs it")
            if self.max_leads <= self.reference_leads:
                raise ValueError(
                    f"max_leads: must be more than reference_leads ({self.max_leads:g} <= "
                    f"{self.reference_leads:g}): the reference point lies below the ceiling"
                )
            if self.elasticity is not None:
                raise ValueError("elasticity: only for the power curve")
        return self

    def leads(self, spend: float) -> float:
        """Expected leads a month at ``spend`` (before growth and seasonality)."""
        if spend <= 0:
            return 0.0
        if self.curve == "power":
            assert self.elasticity is not None
            return float(self.reference_leads * (spend / self.reference_spend) ** self.elasticity)
        assert self.max_leads is not None
        return self.max_leads * -math.expm1(-spend / self._scale)

    def spend_for(self, leads: float) -> float:
        """The monthly spend that brings ``leads`` a month: the inverse of :meth:`leads`.

        Raises ``ValueError`` where a saturating curve cannot bring that many
        (``leads >= max_leads``).
        """
        if leads <= 0:
            return 0.0
        if self.curve == "power":
            assert self.elasticity is not None
            ratio = leads / self.reference_leads
            return float(self.reference_spend * ratio ** (1.0 / self.elasticity))
        assert self.max_leads is not None
        if leads >= self.max_leads:
            raise ValueError(
                f"{leads:,.0f} leads a month is at or above the curve's max_leads "
                f"({self.max_leads:,.0f}), which no spend reaches"
            )
        return float(-self._scale * math.log1p(-leads / self.max_leads))

    @property
    def _scale(self) -> float:
        """The saturating curve's spend scale, set so that it passes the reference point."""
        assert self.max_leads is not None
        return -self.reference_spend / math.log1p(-self.reference_leads / self.max_leads)

    def spend_in(self, month: int) -> float:
        """Spend in simulated month ``month`` (0 = the first)."""
        return self.monthly[month] if isinstance(self.monthly, list) else self.monthly


class Channel(_Model):
    """A lead source with its volume (or its budget), growth, seasonality and cost."""

    def volume(self, month: int, calendar_month: int) -> float:
        """Expected leads in simulated month ``month`` (calendar month 0 = January)."""
        if self.spend is not None:
            leads = self.spend.leads(self.spend.spend_in(month))
            if isinstance(self.spend.monthly, list):
                return leads
            growth = (1.0 + self.growth_per_month) ** month
            return leads * growth * self.seasonality[calendar_month]
        assert self.monthly_leads is not None
        if isinstance(self.monthly_leads, list):
            return self.monthly_leads[month]
        growth = (1.0 + self.growth_per_month) ** month
        return self.monthly_leads * growth * self.seasonality[calendar_month]

    def cost_in(self, month: int, leads: float) -> float:
        """What the channel costs in simulated month ``month`` when it brings ``leads``."""
        return self.spend.spend_in(month) if self.spend is not None else leads * self.cost_per_lead

    monthly_leads: MonthlyLeads | list[MonthlyLeads] | None = Field(
        None,
        description="expected new leads in the first month (then growth and seasonality "
        "apply), or a list with the expected leads of every simulated month (or give spend)",
    )
    spend: Spend | None = Field(
        None,
        description="buy the channel by budget instead: monthly spend and its response curve "
        "(then no monthly_leads and no cost_per_lead)",
    )
    exact_volume: StrictBool = Field(
        False, description="take the monthly volume as an exact count instead of a Poisson mean"
    )
    growth_per_month: Number = Field(
        0.0, gt=-1.0, le=1.0, description="compound monthly growth of volume, 0.01 = +1%/month"
    )
    seasonality: list[Annotated[Number, Field(ge=0.0, le=100.0)]] = Field(
        default_factory=lambda: [1.0] * 12,
        min_length=12,
        max_length=12,
        description="volume multiplier per calendar month, January first",
    )
    cost_per_lead: Money = 0.0
    follow_up_delay_days: Duration = Field(
        default_factory=lambda: Fixed(value=0.0),
        description="wait before inside sales may first touch a lead from this channel",
    )
    non_target_share: Probability = Field(
        0.0, description="competitors, partners, students: filtered out by marketing"
    )
    hand_raiser: StrictBool = Field(
        False,
        description="leads raised their hand (demo request, contact form): they go to inside "
        "sales at once whatever their score (a score at the fast-pass bar still goes to field "
        "sales)",
    )
    intent: IntentMix | None = Field(None, description="overrides the scenario-wide intent mix")
    segment_shares: dict[str, Probability] | None = Field(
        None, description="overrides the scenario-wide segment shares"
    )

    @model_validator(mode="after")
    def _shares(self) -> Channel:
        if self.segment_shares is not None:
            _check_shares(self.segment_shares, "segment_shares")
        if self.spend is None and self.monthly_leads is None:
            raise ValueError("monthly_leads: give the channel's volume, or its spend")
        if self.spend is not None and self.monthly_leads is not None:
            raise ValueError("spend: give monthly_leads or spend, not both")
        if self.spend is not None and self.cost_per_lead > 0:
            raise ValueError("cost_per_lead: a channel bought by spend costs its spend")
        return self


class FitSignal(_Model):
    """An attribute of the company or contact that earns points (revenue, industry, title)."""

    name: str
    points: Points
    probability: PerSegment = Field(description="share of leads with this attribute")


class BehaviourSignal(_Model):
    """An engagement signal that earns points; its odds depend on the lead's intent."""

    name: str
    points: Points
    probability: dict[Literal["active", "dormant", "never"], Probability] = Field(
        description="odds of showing the signal when intent is active, dormant (later) or never"
    )

    @model_validator(mode="after")
    def _all_states(self) -> BehaviourSignal:
        _every_state(self.probability, "probability")
        return self


class Engagement(_Model):
    """Behaviour that builds up: engagement events while a lead sits in nurture.

    At each event the lead shows each behaviour signal with its odds for the lead's intent
    state (one more look at its activity); the points add to its behaviour score, which fades
    with a half-life between events. The lead is handed on as soon as fit + behaviour reaches
    the MQL bar. Leads of a state with rate 0 are scored only when they enter nurture.
    """

    events_per_month: dict[Literal["active", "dormant", "never"], Rate] = Field(
        description="engagement events a month (site visits, downloads, registrations) by "
        "intent state"
    )
    half_life_days: Number = Field(
        30.0, gt=0, le=MAX_DAYS, description="behaviour points halve in this time"
    )

    @model_validator(mode="after")
    def _all_states(self) -> Engagement:
        _every_state(self.events_per_month, "events_per_month")
        return self


class Scoring(_Model):
    """Fit + behaviour lead scoring (DOMAIN.md section 3)."""

    fit: list[FitSignal] = Field(default_factory=list)
    behaviour: list[BehaviourSignal] = Field(default_factory=list)
    engagement: Engagement | None = Field(
        None, description="behaviour builds up over time; null = one look per scoring"
    )
    inactivity_penalty_points: Points = Field(
        -10.0, description="added when a dormant lead shows no activity for inactivity_days"
    )
    inactivity_days: Days = 90.0
    mql_threshold: Points = Field(description="score at or above which a lead goes to inside sales")
    fast_pass_threshold: Points | None = Field(
        None, description="score at or above which a lead goes straight to field sales"
    )

    @model_validator(mode="after")
    def _thresholds(self) -> Scoring:
        if self.fast_pass_threshold is not None and self.fast_pass_threshold < self.mql_threshold:
            raise ValueError(
                f"fast_pass_threshold: must not be below mql_threshold ({self.mql_threshold:g})"
            )
        return self


class Marketing(_Model):
    """Lead generation and qualification by score."""

    channels: dict[str, Channel] = Field(min_length=1)
    scoring: Scoring


class SpeedToLead(_Model):
    """Buyers move on while they wait: in market = floor + (1 - floor) * 0.5^(h / half_life).

    ``h`` counts the desk's working hours since the lead was ready to call in its current
    buying window (after its channel's follow-up delay); a re-hand-off in the same window does
    not restart it. A buyer found to have moved on when a rep calls is lost to the delay: its
    window closes (see ``buying_window``). HBR 2011 and the MIT/InsideSales study report very
    steep decay (x7 between 1 h and 2 h, x60 after a day); defaults here are gentler and
    should be calibrated.
    """

    half_life_hours: Number = Field(24.0, gt=0, le=MAX_DAYS * 24)
    floor: Probability = 0.25


class ContactOutcome(_Model):
    """What happens when a rep reaches a lead: shares of qualified / not now / disqualified."""

    qualified: Probability
    not_now: Probability
    disqualified: Probability

    @model_validator(mode="after")
    def _sums_to_one(self) -> ContactOutcome:
        _check_shares(
            {
                "qualified": self.qualified,
                "not_now": self.not_now,
                "disqualified": self.disqualified,
            },
            "outcome shares",
        )
        return self


class PlannedChange(_Model):
    """People who join or leave at the start of a simulated month."""

    month: Month
    hire: Headcount = 0
    leave: Headcount = 0

    @model_validator(mode="after")
    def _one_kind(self) -> PlannedChange:
        if (self.hire > 0) == (self.leave > 0):
            raise ValueError("give either hire or leave (a positive count), not both or neither")
        return self


class Target(_Model):
    """From this month on, the team hires (or lets go) toward this headcount."""

    month: Month
    headcount: Headcount


class HeadcountPlan(_Model):
    """How many people a team has on day one, and its hiring plan or headcount targets."""

    headcount: Headcount = Field(description="people on day one, fully ramped")
    plan: list[PlannedChange] = Field(
        default_factory=list, description="explicit hires and departures by month"
    )
    targets: list[Target] = Field(
        default_factory=list,
        description="headcount targets by month; requisitions take hiring_lead_days to fill",
    )

    @model_validator(mode="after")
    def _plans(self) -> HeadcountPlan:
        if self.plan and self.targets:
            raise ValueError("plan: overlapping plans; give either plan or targets, not both")
        for name, months in (
            ("plan", [c.month for c in self.plan]),
            ("targets", [t.month for t in self.targets]),
        ):
            seen = {m for m in months if months.count(m) > 1}
            if seen:
                raise ValueError(
                    f"{name}: overlapping plans: month {sorted(seen)[0]} appears twice"
                )
        people = self.headcount
        for change in sorted(self.plan, key=lambda c: c.month):
            people += change.hire - change.leave
            if people < 0:
                raise ValueError(
                    f"plan: headcount would go negative in month {change.month} "
                    f"({change.leave} leave, {people + change.leave} on the team)"
                )
        return self


class Staffing(HeadcountPlan):
    """Who is on a team over time, how productive they are, and what they cost."""

    hiring_lead_days: Duration = Field(
        default_factory=lambda: Fixed(value=60.0),
        description="from an open requisition (target or backfill) to the new hire's first day",
    )
    ramp: list[Probability] = Field(
        default_factory=lambda: [1.0],
        min_length=1,
        description="productivity by month of tenure (25/50/75/100% = [0.25, 0.5, 0.75, 1]); "
        "the last value holds afterwards",
    )
    coaching_load: list[Annotated[Number, Field(ge=0.0, le=10.0)]] = Field(
        default_factory=list,
        description="share of one experienced person's time each new hire takes, by month of "
        "tenure (the dip before the rise)",
    )
    attrition_per_year: Annotated[Number, Field(ge=0.0, le=100.0)] = Field(
        0.0, description="leavers per head-year (0.3 = 30% a year), a constant hazard"
    )
    backfill: StrictBool = Field(True, description="open a requisition when someone leaves")
    cost_per_head_per_year: Money = Field(0.0, description="fully loaded cost")
    productivity_spread: Annotated[Number, Field(ge=0.0, le=2.0)] = Field(
        0.0,
        description="how much people differ: each person's productivity is their ramp times "
        "a factor drawn at hire, lognormal with mean 1 and this coefficient of variation "
        "(0: everyone alike)",
    )


class Holidays(_Model):
    """Public holidays: a country's official calendar (python-holidays) and/or dates."""

    country: str | None = Field(None, description="ISO code such as JP, US, DE, GB")
    subdivision: str | None = Field(None, description="state or region, where it matters")
    dates: list[dt.date] = Field(default_factory=list)

    @model_validator(mode="after")
    def _known(self) -> Holidays:
        if self.country is None:
            if self.subdivision is not None:
                raise ValueError("subdivision: needs a country")
            return self
        import holidays

        supported = holidays.list_supported_countries()
        if self.country not in supported:
            raise ValueError(
                f"country: unknown country code {self.country!r}; use an ISO 3166 code "
                f"such as {', '.join(sorted(supported)[:8])} ..."
            )
        if self.subdivision is not None and self.subdivision not in supported[self.country]:
            raise ValueError(
                f"subdivision: unknown for {self.country}; known: "
                f"{', '.join(supported[self.country][:12])}"
            )
        return self


class SegmentContacts(_Model):
    """How inside sales' contacts go for one segment; anything left out is the team's."""

    contact_probability: Probability | None = Field(
        None, description="odds an attempt reaches a fresh lead of this segment"
    )
    outcome: dict[Literal["active", "dormant", "never"], ContactOutcome] | None = Field(
        None, description="outcome of a contact by the lead's intent state, for this segment"
    )
    closes: StrictBool = Field(
        False,
        description="the independent motion: inside sales closes this segment's deals itself, "
        "through the segment's deal motion (field_sales.segments, else the team's) with no AE",
    )
    hours_per_deal: Annotated[Number, Field(ge=0.0, le=200.0)] = Field(
        2.0,
        description="SDR time a deal inside sales closes takes beyond the qualifying call "
        "(demo, proposal and closing calls), spent by the qualifying SDR at once",
    )

    @model_validator(mode="after")
    def _all_states(self) -> SegmentContacts:
        if self.outcome is not None:
            _every_state(self.outcome, "outcome")
        return self


@dataclass(frozen=True)
class ContactMotion:
    """Inside sales' contact odds for one segment, the team's values filled in."""

    contact_probability: float
    outcome: Mapping[IntentState, ContactOutcome]
    closes: bool = False
    hours_per_deal: float = 0.0


class InsideSales(Staffing):
    """SDRs working a queue of MQLs in business hours."""

    calendar: Literal["business_hours", "always"] = Field(
        "business_hours",
        description="business_hours: Mon-Fri, hours_per_day from work_start_hour; always: 24/7",
    )
    hours_per_day: Number = Field(8.0, gt=0, le=24)
    work_start_hour: Number = Field(9.0, ge=0, lt=24)
    holidays: Holidays = Field(default_factory=Holidays, description="days nobody works")
    vacation_days_per_year: Annotated[Number, Field(ge=0.0, le=366.0)] = Field(
        0.0, description="working days each rep is away; capacity scales down in proportion"
    )
    minutes_per_touch: Duration = Field(
        description="rep time an attempt takes: dialling, a voicemail, logging it"
    )
    minutes_per_conversation: Duration | None = Field(
        None,
        description="rep time an attempt that reaches the lead takes instead: the "
        "conversation and its notes (a case worked); null = minutes_per_touch",
    )
    queue_policy: Literal["fifo", "newest_first", "score"] = "fifo"
    max_attempts: Integer = Field(6, ge=1, le=1000)
    attempt_interval_days: Duration = Field(description="wait between unanswered attempts")
    contact_probability: Probability = Field(description="odds an attempt reaches a fresh lead")
    speed_to_lead: SpeedToLead | None = Field(
        default_factory=SpeedToLead,
        description="share of leads still in the market after a wait (from the moment the lead "
        "was ready to call in its buying window); the rest move on: null = none",
    )
    patience_days: Duration | None = Field(
        None, description="a queued lead goes cold if not touched within this (null: never)"
    )
    outcome: dict[Literal["active", "dormant", "never"], ContactOutcome] = Field(
        description="outcome of a contact by the lead's intent state"
    )
    segments: dict[str, SegmentContacts] = Field(
        default_factory=dict,
        description="a segment's own contact odds and outcomes (the rest: the values above)",
    )
    sql_target_per_sdr_per_month: Rate | None = Field(
        None,
        description="leads each ramped SDR is asked to qualify a month; a ramping SDR's target "
        "follows the ramp (null: no target)",
    )

    def for_segment(self, segment: str | None) -> ContactMotion:
        """The contact odds and outcomes of ``segment``'s leads (``None``: the team's)."""
        own = (None if segment is None else self.segments.get(segment)) or SegmentContacts()
        return ContactMotion(
            contact_probability=_given(own.contact_probability, self.contact_probability),
            outcome=_given(own.outcome, self.outcome),
            closes=own.closes,
            hours_per_deal=own.hours_per_deal if own.closes else 0.0,
        )

    @model_validator(mode="after")
    def _checks(self) -> InsideSales:
        _every_state(self.outcome, "outcome")
        if self.work_start_hour + self.hours_per_day > 24:
            raise ValueError(
                f"work_start_hour + hours_per_day must not pass midnight "
                f"(got {self.work_start_hour:g} + {self.hours_per_day:g})"
            )
        return self


class Phase(_Model):
    """One opportunity phase: how long it takes and the odds of advancing past it."""

    name: str
    advance_probability: Probability
    duration_days: Duration


class SegmentDeals(_Model):
    """How field sales works one segment's deals; anything left out is the team's.

    Enterprise deals take longer and close less often than small ones: give that segment
    its own phases (their number too), meeting acceptance and delay, and no-decision share.
    """

    appointment_delay_days: Duration | None = Field(
        None, description="from hand-off to the first meeting"
    )
    acceptance_probability: dict[Literal["active", "dormant", "never"], Probability] | None = Field(
        None, description="odds the AE accepts the lead as an opportunity, by intent state"
    )
    phases: list[Phase] | None = Field(None, min_length=1)
    no_decision_share: Probability | None = Field(
        None, description="share of failed opportunities that end in no decision"
    )

    @model_validator(mode="after")
    def _all_states(self) -> SegmentDeals:
        if self.acceptance_probability is not None:
            _every_state(self.acceptance_probability, "acceptance_probability")
        return self


@dataclass(frozen=True)
class DealMotion:
    """Field sales' motion for one segment, the team's values filled in.

    ``own`` says whether the segment has a motion of its own (its phases are counted apart)
    or shares the team's.
    """

    appointment_delay_days: Duration
    acceptance_probability: Mapping[IntentState, float]
    phases: tuple[Phase, ...]
    no_decision_share: float
    own: bool

    @property
    def win_probability(self) -> float:
        """Odds an opportunity is won: the product of the phases' advance odds."""
        return math.prod(p.advance_probability for p in self.phases)

    @property
    def cycle_days(self) -> float:
        """Mean days from opportunity to win: the sum of the phases' mean durations."""
        return float(sum(p.duration_days.mean for p in self.phases))


class AETeam(HeadcountPlan):
    """A team of AEs of its own that works the deals of some segments (enterprise AEs,
    say), with its own headcount and hiring plan; anything else left out is field sales'.

    Deals of the segments no team claims go to the field-sales team itself
    (``field_sales.headcount`` and its plan).
    """

    segments: list[str] = Field(min_length=1, description="the segments whose deals it works")
    max_open_opportunities_per_ae: Integer | None = Field(None, ge=1, le=MAX_HEADCOUNT)
    hiring_lead_days: Duration | None = None
    ramp: list[Probability] | None = Field(None, min_length=1)
    coaching_load: list[Annotated[Number, Field(ge=0.0, le=10.0)]] | None = None
    attrition_per_year: Annotated[Number, Field(ge=0.0, le=100.0)] | None = None
    backfill: StrictBool | None = None
    cost_per_head_per_year: Money | None = None
    productivity_spread: Annotated[Number, Field(ge=0.0, le=2.0)] | None = None
    quota_per_ae_per_year: Money | None = None
    commission_rate: Probability | None = None
    leaver_lost_share: Probability | None = None

    @model_validator(mode="after")
    def _segments(self) -> AETeam:
        if len(set(self.segments)) != len(self.segments):
            raise ValueError("segments: a segment is named twice")
        return self


class FieldSales(Staffing):
    """Account executives running opportunities through phases."""

    max_open_opportunities_per_ae: Integer = Field(ge=1, le=MAX_HEADCOUNT)
    appointment_delay_days: Duration = Field(description="from hand-off to the first meeting")
    acceptance_probability: dict[Literal["active", "dormant", "never"], Probability] = Field(
        description="odds the AE accepts the lead as an opportunity, by intent state"
    )
    phases: list[Phase] = Field(min_length=1)
    no_decision_share: Probability = Field(
        0.3, description="share of failed opportunities that end in no decision rather than lost"
    )
    leaver_lost_share: Probability = Field(
        0.2,
        description="when an AE leaves, the share of their open opportunities that is lost; "
        "the rest go to the other AEs",
    )
    quota_per_ae_per_year: Money | None = Field(
        None,
        description="new ARR each fully ramped AE is asked to book a year; a ramping AE's quota "
        "follows the ramp (null: no quota)",
    )
    commission_rate: Probability = Field(
        0.0,
        description="variable pay as a share of the new ARR an AE books, paid in the month of "
        "the win on top of cost_per_head_per_year (then give that without it)",
    )

    segments: dict[str, SegmentDeals] = Field(
        default_factory=dict,
        description="a segment's own deal motion: phases, acceptance, delay, no-decision share "
        "(the rest: the values above)",
    )
    teams: dict[str, AETeam] = Field(
        default_factory=dict,
        description="AE teams of their own by segment (enterprise AEs, say), each with its "
        "headcount and plan; the segments no team claims are worked by the AEs above",
    )

    @model_validator(mode="after")
    def _all_states(self) -> FieldSales:
        _every_state(self.acceptance_probability, "acceptance_probability")
        if GENERALISTS in self.teams:
            raise ValueError(
                f"teams.{GENERALISTS}: the name of the AEs of field_sales itself; pick another"
            )
        return self

    def team(self, name: str) -> FieldSales:
        """The staffing of AE team ``name`` (:data:`GENERALISTS`: the AEs of field sales
        itself), field sales' values filled in where the team gives none."""
        if name == GENERALISTS:
            return self
        own = self.teams[name]
        given = {
            key: value
            for key, value in own
            if value is not None and key not in ("segments", "plan", "targets")
        }
        return self.model_copy(
            update={**given, "plan": own.plan, "targets": own.targets, "teams": {}}
        )

    def team_of(self, segments: Iterable[str]) -> list[str]:
        """The AE team that works each of ``segments``' deals (:data:`GENERALISTS` where no
        team claims the segment)."""
        claimed = {seg: name for name, team in self.teams.items() for seg in team.segments}
        return [claimed.get(seg, GENERALISTS) for seg in segments]

    def for_segment(self, segment: str | None) -> DealMotion:
        """The deal motion of ``segment``'s opportunities (``None``: the team's own)."""
        own = None if segment is None else self.segments.get(segment)
        if own is None:
            own = SegmentDeals()
        return DealMotion(
            appointment_delay_days=_given(own.appointment_delay_days, self.appointment_delay_days),
            acceptance_probability=_given(own.acceptance_probability, self.acceptance_probability),
            phases=tuple(_given(own.phases, self.phases)),
            no_decision_share=_given(own.no_decision_share, self.no_decision_share),
            own=segment is not None and segment in self.segments,
        )


class Referrals(_Model):
    """Leads that customers bring (the advocacy loop)."""

    leads_per_customer_per_year: Rate = 0.0
    follow_up_delay_days: Duration = Field(default_factory=lambda: Fixed(value=0.0))
    intent: IntentMix | None = Field(None, description="defaults to the scenario-wide mix")


class TechTouch(Staffing):
    """A pooled team that covers the small accounts at scale (webinars, in-app guides,
    e-mail programmes, a shared inbox) instead of one CSM per account.

    Pooled accounts never wait for a named CSM: they share the pool, and each gets
    ``attention`` while the pool holds at most ``accounts_per_head`` accounts per (ramped)
    head; beyond that, attention thins in proportion.
    """

    segments: list[str] = Field(min_length=1, description="segments covered by the pool")
    accounts_per_head: Integer = Field(
        ge=1, le=MAX_ACCOUNTS, description="accounts one fully ramped head keeps in touch with"
    )
    attention: Probability = Field(
        0.5,
        description="health a pooled account reaches while the pool is within capacity, "
        "relative to a dedicated CSM's full attention (1)",
    )


class Unfollowed(_Model):
    """Upsell chances nobody follows up go back into the funnel (recycled), as the source
    says: after a pause marketing brings them up again, and they get another chance to be
    worked."""

    pause_days: Duration = Field(
        default_factory=lambda: Fixed(value=90.0),
        description="until an unfollowed chance comes up again",
    )
    max_cycles: Integer = Field(2, ge=0, le=100, description="times it may come up again")


class ExpansionPipeline(_Model):
    """Upsell and cross-sell opportunities found during the term, worked to a close.

    Chances arise at ``opportunities_per_account_per_year`` per customer; a chance is
    followed up with odds equal to the customer's attention at that moment (a dedicated CSM
    with a comfortable book: 1; uncovered: 0). A followed chance is worked by the account's
    CSM (or the pool) for ``cycle_days`` and won with ``win_probability``, adding
    ``fraction`` of the customer's ARR at once. A chance nobody follows up is recycled.
    """

    opportunities_per_account_per_year: Rate = Field(
        description="upsell and cross-sell chances per customer-year"
    )
    win_probability: PerSegment = Field(description="odds a worked chance is won")
    cycle_days: Duration = Field(description="from a chance being worked to its close")
    fraction: Duration = Field(description="ARR uplift of a won chance, as a share of ARR")
    unfollowed: Unfollowed = Field(default_factory=Unfollowed)


class CustomerSuccess(Staffing):
    """CSMs onboarding, renewing and expanding customers.

    When a CSM leaves, their customers wait uncovered until another CSM has room.
    """

    accounts_per_csm: Integer = Field(ge=1, le=MAX_RATE, description="book size a CSM can cover")
    onboarding_days: Duration = Field(description="from CSM assignment to onboarding complete")
    term_months: Integer = Field(12, ge=1, le=60)
    churn_probability: PerSegment = Field(description="odds a customer leaves at a renewal")
    uncovered_churn_multiplier: Number = Field(
        2.0,
        ge=1.0,
        le=1000.0,
        description="churn odds scale up to this for a term spent without a CSM",
    )
    uncovered_expansion_multiplier: Probability = Field(
        1.0,
        description="expansion odds scale down to this for a term spent without a CSM "
        "(nobody works the upsell)",
    )
    expansion_probability: PerSegment = 0.0
    expansion_fraction: Duration = Field(
        default_factory=lambda: Fixed(value=0.0), description="ARR uplift as a share"
    )
    contraction_probability: PerSegment = 0.0
    contraction_fraction: Duration = Field(
        default_factory=lambda: Fixed(value=0.0), description="ARR cut as a share"
    )
    referrals: Referrals = Field(default_factory=Referrals)
    full_attention_accounts: Integer | None = Field(
        None,
        ge=1,
        le=MAX_RATE,
        description="book size up to which a CSM gives each account full attention; a "
        "bigger book thins it in proportion, and an account's health (its attention "
        "averaged over the term) moves its churn and expansion odds continuously "
        "(default: accounts_per_csm, so only coverage counts)",
    )
    tech_touch: TechTouch | None = Field(
        None, description="a pooled team for the small accounts (default: none)"
    )
    expansion_pipeline: ExpansionPipeline | None = Field(
        None, description="upsell and cross-sell worked during the term (default: none)"
    )

    @model_validator(mode="after")
    def _fractions(self) -> CustomerSuccess:
        if self.contraction_fraction.mean > 1:
            raise ValueError("contraction_fraction cannot average above 1 (all of the ARR)")
        return self


class Outbound(Staffing):
    """BDRs prospecting a finite list of target accounts (the market can run dry)."""

    target_accounts: Count = Field(description="accounts in the target list")
    accounts_per_bdr_per_month: Rate = Field(
        description="new accounts a fully ramped BDR prospects in a month"
    )
    engage_probability: Probability = Field(
        description="odds a prospected account engages (replies, takes a call)"
    )
    intent: IntentMix = Field(description="buying intent of accounts that engage")
    meeting_probability: Probability = Field(
        description="odds the BDR books a meeting with an engaged account whose intent is "
        "active; others stay in nurture"
    )
    cooldown_days: Duration = Field(
        description="an account that did not engage may be prospected again after this"
    )
    segment_shares: dict[str, Probability] | None = Field(
        None, description="segments of the target list (default: the scenario's shares)"
    )

    @model_validator(mode="after")
    def _shares(self) -> Outbound:
        if self.segment_shares is not None:
            _check_shares(self.segment_shares, "segment_shares")
        return self


class ResetIntent(_Model):
    """On entering recycle: the old buying window closes; a new one may open later."""

    probability: Probability = Field(description="odds a new buying window opens")
    active_after_days: Duration


class RecycleRule(_Model):
    """What happens to a lead that falls out for one reason."""

    pause_days: Duration = Field(description="no contact for this long")
    reenter: Literal["nurture", "inside_sales"] = Field(
        "nurture", description="back to marketing scoring, or straight to the IS queue"
    )
    max_cycles: Annotated[Integer, Field(ge=0, le=1000)] = Field(
        3, description="a lead already recycled this many times for this reason is retired"
    )
    alert_on_reengage: StrictBool = Field(
        False,
        description="when the lead's new buying window opens (during the pause or after it), "
        "sales is alerted at once: the AE who owned the account if still here, else inside "
        "sales first in line",
    )
    reset_intent: ResetIntent | None = None


class Recycle(_Model):
    """One rule per reason a lead falls out of the funnel."""

    not_now: RecycleRule
    unreached: RecycleRule
    rejected: RecycleRule
    lost: RecycleRule
    churned: RecycleRule


class BuyingWindow(_Model):
    """A buying window is finite: a buyer nobody reaches in time buys elsewhere or postpones."""

    open_days: Duration = Field(description="how long a window stays open")
    bought_elsewhere_share: Probability = Field(
        description="share of windows closing unbought (or of buyers inside sales was too slow "
        "for) that buy from a competitor and never come back; the rest postpone"
    )
    next_window_after_days: Duration | None = Field(
        None,
        description="a postponing buyer's next window opens after this (null: all buy elsewhere)",
    )


class Finance(_Model):
    """Money not tied to a team: margins and fixed costs."""

    gross_margin: Probability = Field(0.8, description="used for LTV and CAC payback")
    tools_per_head_per_month: Money = Field(0.0, description="software seats and such")
    marketing_programs_per_month: Money = Field(
        0.0, description="fixed marketing spend on top of cost per lead (content, brand)"
    )


class StartingBook(_Model):
    """The business as it stands on day one: real forecasts never start from zero."""

    customers: dict[str, Count] = Field(default_factory=dict, description="customers by segment")
    arr: Money = Field(0.0, description="their total ARR; individual ACVs are scaled to it")
    open_opportunities: Count = Field(
        0,
        description="open opportunities on day one, laid out over the phases as the steady "
        "state of the phases' own odds and durations would have them",
    )
    inside_sales_leads: Count = Field(
        0, description="MQLs inside sales is working on day one (in the middle of a cadence)"
    )
    booked_meetings: Count = Field(
        0, description="first meetings booked with field sales and not yet held on day one"
    )
    nurture_leads: Count = Field(
        0,
        description="leads already in the marketing database: 'later' and 'never' in the "
        "scenario's proportions, 'later' ones turning active over the coming months",
    )


class Scenario(_Model):
    """A complete, validated description of one revenue organisation."""

    name: str
    description: str = ""
    start_date: dt.date = Field(
        description="first day of the first simulated month", ge=EARLIEST_START, le=LATEST_START
    )
    horizon_months: Integer = Field(ge=1, le=240)
    segments: dict[str, Segment] = Field(min_length=1)
    intent: IntentMix
    later_active_after_days: Duration = Field(
        description="how long a 'later' lead stays dormant before its buying window opens"
    )
    buying_window: BuyingWindow | None = Field(
        None, description="finite buying windows; null = a window never closes"
    )
    marketing: Marketing
    inside_sales: InsideSales
    field_sales: FieldSales
    customer_success: CustomerSuccess
    recycle: Recycle
    outbound: Outbound | None = Field(None, description="BDR prospecting (optional)")
    starting_book: StartingBook = Field(default_factory=StartingBook)
    finance: Finance = Field(default_factory=Finance)

    @model_validator(mode="after")
    def _cross_checks(self) -> Scenario:
        # Messages start with the dotted path they are about; the loader locates them.
        if self.start_date.day != 1:
            raise ValueError(
                f"start_date: must be the first day of a month (got {self.start_date})"
            )
        total = sum(s.share for s in self.segments.values())
        if not math.isclose(total, 1.0, abs_tol=1e-6):
            raise ValueError(f"segments: shares must sum to 1 (they sum to {total:.6g})")
        known = sorted(self.segments)
        partial: list[tuple[str, dict[str, Any]]] = [
            ("starting_book.customers", self.starting_book.customers)
        ]
        for name, ch in self.marketing.channels.items():
            if ch.segment_shares is not None:
                partial.append((f"marketing.channels.{name}.segment_shares", ch.segment_shares))
        if self.outbound is not None and self.outbound.segment_shares is not None:
            partial.append(("outbound.segment_shares", self.outbound.segment_shares))
        partial.append(("inside_sales.segments", self.inside_sales.segments))
        partial.append(("field_sales.segments", self.field_sales.segments))
        complete: list[tuple[str, dict[str, Any]]] = []
        for i, sig in enumerate(self.marketing.scoring.fit):
            if isinstance(sig.probability, dict):
                complete.append((f"marketing.scoring.fit.{i}.probability", sig.probability))
        cs = self.customer_success
        for field in ("churn_probability", "expansion_probability", "contraction_probability"):
            value = getattr(cs, field)
            if isinstance(value, dict):
                complete.append((f"customer_success.{field}", value))
        if cs.expansion_pipeline is not None and isinstance(
            cs.expansion_pipeline.win_probability, dict
        ):
            complete.append(
                (
                    "customer_success.expansion_pipeline.win_probability",
                    cs.expansion_pipeline.win_probability,
                )
            )
        self._check_ae_teams()
        if cs.tech_touch is not None:
            for i, seg in enumerate(cs.tech_touch.segments):
                if seg not in self.segments:
                    raise ValueError(
                        f"customer_success.tech_touch.segments.{i}: unknown segment {seg!r}; "
                        f"segments are {known}"
                    )
        for name, ch in self.marketing.channels.items():
            if (
                ch.spend is not None
                and isinstance(ch.spend.monthly, list)
                and len(ch.spend.monthly) < self.horizon_months
            ):
                raise ValueError(
                    f"marketing.channels.{name}.spend.monthly: the list covers "
                    f"{len(ch.spend.monthly)} months; the horizon is {self.horizon_months}"
                )
            if isinstance(ch.monthly_leads, list) and len(ch.monthly_leads) < self.horizon_months:
                raise ValueError(
                    f"marketing.channels.{name}.monthly_leads: the list covers "
                    f"{len(ch.monthly_leads)} months; the horizon is {self.horizon_months}"
                )
            peak = _peak_volume(ch, self.horizon_months)
            if peak > MAX_MONTHLY_LEADS:
                raise ValueError(
                    f"marketing.channels.{name}.growth_per_month: growth and seasonality take "
                    f"the channel to {peak:.3g} leads in a month within the horizon; at most "
                    f"{MAX_MONTHLY_LEADS:,} are allowed"
                )
        # headcount plans may run past the horizon (a hiring plan outlives a short forecast
        # cut from it): those months are not simulated, and `revloop validate` lists them
        end = self.end_date
        for i, day in enumerate(self.inside_sales.holidays.dates):
            if not self.start_date <= day < end:
                raise ValueError(
                    f"inside_sales.holidays.dates.{i}: {day} is outside the horizon "
                    f"({self.start_date} to {end})"
                )
        for path, mapping in partial + complete:
            for key in mapping:
                if key not in self.segments:
                    raise ValueError(f"{path}.{key}: unknown segment; segments are {known}")
        for path, mapping in complete:
            missing = sorted(set(known) - set(mapping))
            if missing:
                raise ValueError(f"{path}: give a value for every segment; missing {missing}")
        if self.starting_book.arr > 0 and sum(self.starting_book.customers.values()) == 0:
            raise ValueError("starting_book.arr: is set but starting_book.customers is empty")
        return self

    def _check_ae_teams(self) -> None:
        """Each AE team works known segments, each segment has one team, and no AE waits
        for deals that never come to field sales."""
        fs = self.field_sales
        known = sorted(self.segments)
        owner: dict[str, str] = {}
        for name, team in fs.teams.items():
            for i, seg in enumerate(team.segments):
                where = f"field_sales.teams.{name}.segments.{i}"
                if seg not in self.segments:
                    raise ValueError(f"{where}: unknown segment {seg!r}; segments are {known}")
                if seg in owner:
                    raise ValueError(
                        f"{where}: {seg!r} is already worked by team {owner[seg]!r}; a "
                        "segment's deals go to one AE team"
                    )
                if self.inside_sales.for_segment(seg).closes:
                    raise ValueError(
                        f"{where}: inside sales closes {seg!r} itself "
                        f"(inside_sales.segments.{seg}.closes), so no AE works its deals"
                    )
                owner[seg] = name
        if fs.teams and (fs.headcount > 0 or fs.plan or fs.targets):
            idle = [
                s
                for s in self.segments
                if s not in owner and not self.inside_sales.for_segment(s).closes
            ]
            if not idle:
                raise ValueError(
                    "field_sales.headcount: every segment's deals go to an AE team of its own "
                    "(field_sales.teams) or to inside sales, so these AEs would have no deals; "
                    "set it to 0, with no plan or targets"
                )

    def per_segment(self, value: float | dict[str, float]) -> list[float]:
        """Expand a per-segment value to a list in segment order."""
        if isinstance(value, dict):
            return [value[s] for s in self.segments]
        return [value] * len(self.segments)

    @property
    def end_date(self) -> dt.date:
        """First day after the horizon."""
        return add_months(self.start_date, self.horizon_months)

    def digest(self) -> str:
        """SHA-256 of the canonical JSON of the validated scenario: same inputs, same hash."""
        data = self.model_dump(mode="json", by_alias=True)
        # fields added since the first release are hashed only when set, so the scenarios
        # that do not use them keep their hash (and their stored runs)
        for (team, name), unset in _HASHED_WHEN_SET.items():
            if data.get(team) is not None and data[team].get(name, unset) == unset:
                data[team].pop(name, None)
        for channel in data["marketing"]["channels"].values():
            if channel.get("spend") is None:
                channel.pop("spend", None)
        for own in (data["inside_sales"].get("segments") or {}).values():
            if not own.get("closes"):
                own.pop("closes", None)
                if own.get("hours_per_deal") == 2.0:
                    own.pop("hours_per_deal", None)
        canonical = json.dumps(data, sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()


_HASHED_WHEN_SET: dict[tuple[str, str], Any] = {
    ("inside_sales", "segments"): {},
    ("field_sales", "segments"): {},
    ("field_sales", "teams"): {},
    ("field_sales", "quota_per_ae_per_year"): None,
    ("field_sales", "commission_rate"): 0.0,
    ("inside_sales", "sql_target_per_sdr_per_month"): None,
    ("customer_success", "full_attention_accounts"): None,
    ("customer_success", "tech_touch"): None,
    ("customer_success", "expansion_pipeline"): None,
    **{
        (team, "productivity_spread"): 0.0
        for team in ("inside_sales", "field_sales", "customer_success", "outbound")
    },
}
"""Fields added since the first release, with the value that leaves them out of the hash."""


def _peak_volume(channel: Channel, months: int) -> float:
    """The most leads ``channel`` expects in one month of the horizon (on a log scale first,
    so that runaway growth cannot overflow)."""
    if channel.spend is not None:
        spend = channel.spend
        monthly = spend.monthly if isinstance(spend.monthly, list) else [spend.monthly]
        first = max(spend.leads(x) for x in monthly[:months])
        if isinstance(spend.monthly, list) or first == 0:
            return first
        start = first
    elif isinstance(channel.monthly_leads, list) or not channel.monthly_leads:
        return 0.0
    else:
        start = channel.monthly_leads
    growth = max(0.0, (months - 1) * math.log1p(channel.growth_per_month))
    log_peak = math.log(start) + growth + math.log(max(channel.seasonality) or 1)
    return math.inf if log_peak > 700 else math.exp(log_peak)


def add_months(date: dt.date, months: int) -> dt.date:
    """The first day of the month ``months`` after ``date``'s month."""
    index = date.year * 12 + date.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)
