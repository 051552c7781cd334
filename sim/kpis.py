"""The one registry of revloop's headline KPIs: name, unit, meaning, which way is better, group.

Every table that names a KPI reads it from here: the KPI list and groups of
:mod:`sim.analysis.metrics`, the better direction of :mod:`sim.experiment.compare`, the
number formats of :mod:`sim.formats`, the chart labels of :mod:`sim.analysis.plots`, the
HTML report and the KPI reference of the docs. Standard library only: any layer may use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

__all__ = ["GROUPS", "KPI_REGISTRY", "UNITS", "Kpi", "Unit", "unit_of"]

Unit = Literal["usd", "share", "count", "ratio", "hours", "days", "months", "people"]
"""How a KPI is measured: dollars, a share (0.25 is 25%), a count of things, a plain ratio,
a duration, or a number of people (FTE)."""

UNITS: dict[str, str] = {
    "usd": "$",
    "share": "%",
    "count": "",
    "ratio": "",
    "hours": "hours",
    "days": "days",
    "months": "months",
    "people": "FTE",
}
"""Each unit's short name in a label (``ending ARR ($)``); empty where the name says it."""

GROUPS = ("revenue", "funnel", "teams", "money")
"""The KPI groups, in the order the command line and the report show them."""


@dataclass(frozen=True)
class Kpi:
    """One headline KPI of a replication.

    Attributes
    ----------
    name:
        Code name, the column of ``kpis.csv``.
    unit:
        One of :data:`Unit`: how its values are formatted and labelled.
    description:
        What it measures, one sentence.
    direction:
        Which way is better: +1 higher, -1 lower, 0 neither (volumes, utilisation).
    group:
        One of :data:`GROUPS`.
    label:
        Readable name without the unit, e.g. ``ending ARR``.
    """

    name: str
    unit: Unit
    description: str
    direction: int
    group: str
    label: str

    def __post_init__(self) -> None:
        if self.unit not in get_args(Unit):
            raise ValueError(f"KPI {self.name!r}: unknown unit {self.unit!r}")
        if self.direction not in (-1, 0, 1):
            raise ValueError(f"KPI {self.name!r}: direction must be -1, 0 or 1")
        if self.group not in GROUPS:
            raise ValueError(f"KPI {self.name!r}: unknown group {self.group!r}")


_IS, _FS, _CS = "inside sales: ", "field sales: ", "customer success: "
_FTE_LOST = "FTE lost to ramp, coaching and vacancies (average over the horizon)."

# name, unit, direction, group, label, description -- in the column order of kpis.csv
_TABLE: tuple[tuple[str, Unit, int, str, str, str], ...] = (
    ("ending_arr", "usd", 1, "revenue", "ending ARR",
     "ARR at the end of the horizon: opening + new + expansion - contraction - churn, "
     "checked after every replication."),
    ("new_arr", "usd", 1, "revenue", "new ARR",
     "ARR booked from new customers over the horizon."),
    ("expansion_arr", "usd", 1, "revenue", "expansion ARR",
     "ARR added by expansions at renewal and upsell wins."),
    ("contraction_arr", "usd", -1, "revenue", "contraction ARR",
     "ARR lost to customers who renewed for less."),
    ("churned_arr", "usd", -1, "revenue", "churned ARR", "ARR lost to churned customers."),
    ("nrr", "share", 1, "revenue", "NRR",
     "Net revenue retention: ARR now / ARR 12 months before the end (or at the start if the "
     "horizon is shorter) of the customers who were customers then."),
    ("grr", "share", 1, "revenue", "GRR",
     "Gross revenue retention: as NRR, each customer's ARR capped at its old ARR."),
    ("leads", "count", 0, "funnel", "leads", "New leads created (channels and referrals)."),
    ("mqls", "count", 0, "funnel", "MQLs",
     "Hand-offs to inside sales (new, re-scored and alerted leads)."),
    ("fast_passed", "count", 0, "funnel", "fast-passed leads",
     "Leads sent straight to field sales by score."),
    ("sqls", "count", 1, "funnel", "SQLs", "Leads qualified by inside sales."),
    ("buyers_missed", "count", -1, "funnel", "buyers missed",
     "Buying windows that closed with the buyer still in nurture, never handed to sales in "
     "that window (good leads left below the bar)."),
    ("buyers_lost_to_delay", "count", -1, "funnel", "buyers lost to delay",
     "Buyers who had moved on by the time inside sales called."),
    ("opportunities", "count", 1, "funnel", "opportunities",
     "Opportunities accepted by field sales."),
    ("wins", "count", 1, "funnel", "wins", "Deals won."),
    ("win_rate", "share", 1, "funnel", "win rate", "Wins / (wins + losses + no decisions)."),
    ("sdr_closed_wins", "count", 0, "funnel", "SDR-closed wins",
     "Wins inside sales closed itself (segments with inside_sales.segments.<seg>.closes; "
     "part of wins)."),
    ("churned_customers", "count", -1, "funnel", "churned customers",
     "Customers lost at renewal."),
    ("outbound_meetings", "count", 1, "funnel", "outbound meetings",
     "Meetings BDRs booked for field sales from target accounts."),
    ("recycled_leads", "count", 0, "funnel", "recycled leads",
     "Entries into recycle, all reasons."),
    ("recycled_wins", "count", 1, "funnel", "recycled wins",
     "Wins from leads that had been recycled at least once."),
    ("recycled_new_arr", "usd", 1, "funnel", "new ARR from recycled leads",
     "New ARR from those wins."),
    ("is_utilisation", "share", 0, "teams", "inside sales utilisation",
     _IS + "touch hours / rep working hours."),
    ("is_queue_wait_hours", "hours", -1, "teams", "inside sales queue wait",
     _IS + "mean wall-clock wait in the queue per attempt."),
    ("speed_to_lead_hours", "hours", -1, "teams", "speed to lead",
     _IS + "mean wall-clock time from ready to call (after the channel's follow-up delay) "
     "to the first attempt, per hand-off."),
    ("speed_to_lead_median_business_hours", "hours", -1, "teams",
     "median speed to lead (working hours)",
     _IS + "median working hours from ready to call to a lead's first attempt ever."),
    ("mqls_untouched_share", "share", -1, "teams", "MQLs untouched",
     _IS + "share of hand-offs that left the queue without a single attempt (went cold)."),
    ("lost_to_delay_share", "share", -1, "teams", "MQLs lost to delay",
     _IS + "share of hand-offs whose buyer had moved on by the time a rep called "
     "(speed-to-lead decay)."),
    ("dials_per_sdr_day", "count", 0, "teams", "dials per SDR-day",
     _IS + "attempts per SDR working day (ramped FTE, vacation and the hours SDRs spend "
     "closing deals themselves taken out)."),
    ("conversations_per_sdr_day", "count", 0, "teams", "conversations per SDR-day",
     _IS + "attempts that reached the lead, per SDR working day."),
    ("sqls_per_sdr_month", "count", 1, "teams", "SQLs per SDR-month",
     _IS + "leads qualified per SDR FTE-month."),
    ("fs_utilisation", "share", 0, "teams", "field sales utilisation",
     _FS + "open opportunities / open-opportunity slots (time average)."),
    ("fs_queue_wait_days", "days", -1, "teams", "field sales queue wait",
     _FS + "mean wait for a free AE slot."),
    ("cs_utilisation", "share", 0, "teams", "customer success utilisation",
     _CS + "covered accounts / book capacity (time average)."),
    ("cs_queue_wait_days", "days", -1, "teams", "customer success queue wait",
     _CS + "mean wait from win to CSM assignment."),
    ("health_at_renewal", "share", 1, "teams", "health at renewal",
     _CS + "mean health at renewal (attention received over the term; needs "
     "full_attention_accounts or tech_touch)."),
    ("tech_touch_utilisation", "share", 0, "teams", "tech-touch utilisation",
     _CS + "pooled accounts / tech-touch pool capacity (time average; needs tech_touch)."),
    ("upsell_wins", "count", 1, "teams", "upsell wins",
     _CS + "upsell and cross-sell chances won during the term (needs expansion_pipeline)."),
    ("upsell_arr", "usd", 1, "teams", "upsell ARR",
     _CS + "ARR added by those wins (part of expansion_arr)."),
    ("upsell_unfollowed_share", "share", -1, "teams", "upsell chances unfollowed",
     _CS + "share of upsell chances (and their recycled returns) that nobody followed up."),
    ("marketing_cost", "usd", -1, "money", "marketing cost",
     "Cost of leads bought over the horizon."),
    ("sm_cost", "usd", -1, "money", "S&M cost",
     "Sales and marketing cost: leads, programs, inside sales, field sales and BDRs (with "
     "tools)."),
    ("total_cost", "usd", -1, "money", "total cost", "S&M cost plus customer success."),
    ("cac_blended", "usd", -1, "money", "blended CAC", "S&M cost / new customers."),
    ("cac_paid", "usd", -1, "money", "paid CAC",
     "S&M cost / new customers whose lead came from a paid channel."),
    ("cac_payback_months", "months", -1, "money", "CAC payback",
     "CAC / (new ARR per new customer / 12 x gross margin)."),
    ("ltv", "usd", 1, "money", "LTV",
     "ARR per customer x gross margin / yearly ARR churn rate (churn + contraction)."),
    ("ltv_to_cac", "ratio", 1, "money", "LTV / CAC", "LTV / blended CAC."),
    ("magic_number", "ratio", 1, "money", "magic number",
     "Net new ARR (ending - opening ARR) / S&M cost, over the horizon."),
    ("bookings_per_ae", "usd", 1, "money", "bookings per AE",
     "New ARR per AE-year on payroll."),
    ("pipeline_per_sdr", "usd", 1, "money", "pipeline per SDR",
     "Pipeline opened (ACV of accepted opportunities) per SDR-year."),
    ("revenue_per_employee", "usd", 1, "money", "revenue per employee",
     "Ending ARR / people on the three teams at the end."),
    ("inside_sales_fte_lost", "people", -1, "teams", "inside sales FTE lost", _IS + _FTE_LOST),
    ("field_sales_fte_lost", "people", -1, "teams", "field sales FTE lost", _FS + _FTE_LOST),
    ("customer_success_fte_lost", "people", -1, "teams", "customer success FTE lost",
     _CS + _FTE_LOST),
    ("attrition_rate", "share", -1, "teams", "attrition rate",
     "Leavers by attrition per head-year, all teams."),
    ("ae_at_quota_share", "share", 1, "teams", "AEs at quota",
     _FS + "share of AE-years at or above quota (AEs on the team the whole year; each 12 "
     "months from the start, or the horizon if shorter; needs quota_per_ae_per_year)."),
    ("ae_attainment_median", "share", 1, "teams", "median AE attainment",
     _FS + "median of new ARR booked / ramped quota over those AE-years."),
    ("quota_capacity", "usd", 0, "teams", "quota capacity",
     _FS + "ramped quota of every AE over the horizon (what the quotas add up to, ramp and "
     "vacancies included)."),
    ("bookings_to_quota", "share", 1, "teams", "bookings to quota",
     _FS + "new ARR the AEs booked / quota capacity."),
    ("variable_pay", "usd", 0, "money", "variable pay",
     "Commission paid on new ARR won over the horizon (part of the costs)."),
    ("sdr_at_target_share", "share", 1, "teams", "SDRs at target",
     _IS + "share of SDR-years at or above their SQL target (SDRs on the team the whole "
     "year; needs sql_target_per_sdr_per_month)."),
    ("sdr_attainment_median", "share", 1, "teams", "median SDR attainment",
     _IS + "median of SQLs / ramped SQL target over those SDR-years."),
)  # fmt: skip

KPI_REGISTRY: dict[str, Kpi] = {
    name: Kpi(name, unit, description, direction, group, label)
    for name, unit, direction, group, label, description in _TABLE
}
"""Every headline KPI of a replication by name, in the column order of ``kpis.csv``."""

_MONEY_WORDS = (
    "arr", "mrr", "cost", "programs", "ltv", "cac", "acv", "bookings", "pipeline", "revenue"
)  # fmt: skip


def unit_of(metric: str) -> Unit:
    """The unit of a KPI, or of another column (a monthly figure, a stage table's) by its name.

    A name outside :data:`KPI_REGISTRY` is guessed: ``*utilisation`` and ``*_share`` are
    shares, ``*_hours``/``*_days``/``*_months`` durations, names with a money word (``arr``,
    ``cost``, ``acv`` ...) dollars, anything else a count.
    """
    if metric in KPI_REGISTRY:
        return KPI_REGISTRY[metric].unit
    if metric.endswith(("utilisation", "_share")):
        return "share"
    durations: tuple[Unit, ...] = ("hours", "days", "months")
    for duration in durations:
        if metric.endswith("_" + duration):
            return duration
    if any(word in metric for word in _MONEY_WORDS):
        return "usd"
    return "count"
