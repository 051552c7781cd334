"""Cheap counters kept during a replication, and the :class:`Ledger` it returns.

Monthly counters are lists indexed by month, bumped in the event loop; everything derived
(rates, utilisation, KPIs) is computed after the run by :mod:`sim.analysis.metrics`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from sim import display

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

FLOWS = (
    # marketing
    "leads_created",
    "referral_leads",
    "non_target_leads",
    "marketing_cost",
    "marketing_programs",
    "mqls",
    "fast_passed",
    "nurtured",
    "reengaged",
    "hand_raisers",
    "engaged_mqls",
    "windows_bought_elsewhere",
    "windows_postponed",
    "windows_closed_in_nurture",
    # inside sales
    "is_touches",
    "is_contacts",
    "sqls",
    "is_not_now",
    "is_disqualified",
    "is_unreached",
    "is_lost_to_delay",
    "is_conversation_hours",
    "went_cold",
    "is_work_hours",
    "is_wait_days_sum",
    "is_waits",
    "is_waited",
    "went_cold_wait_days_sum",
    "speed_to_lead_hours_sum",
    "first_touches",
    "is_deals",
    "is_deal_hours",
    # field sales
    "appointments",
    "opportunities",
    "rejected_by_ae",
    "wins",
    "losses",
    "no_decisions",
    "fs_wait_days_sum",
    "fs_waits",
    "pipeline_arr",
    "leaver_losses",
    "sales_cycle_days_sum",
    "is_wins",
    # customer success
    "new_arr",
    "expansion_arr",
    "contraction_arr",
    "churned_arr",
    "new_customers",
    "new_customers_paid",
    "churned_customers",
    "renewals",
    "onboardings_started",
    "onboardings_completed",
    "cs_wait_days_sum",
    "cs_waits",
    "cs_queue_wait_days_sum",
    "cs_queue_exits",
    "health_at_renewal_sum",
    "health_renewals",
    "upsell_chances",
    "upsell_worked",
    "upsell_unfollowed",
    "upsell_recycled",
    "upsell_wins",
    "upsell_arr",
    # outbound
    "outbound_prospected",
    "outbound_engaged",
    "outbound_meetings",
    # recycle
    "recycled_not_now",
    "recycled_unreached",
    "recycled_rejected",
    "recycled_lost",
    "recycled_churned",
    "retired",
    "alerts",
    "alerts_to_owner",
    "recycled_wins",
    "recycled_new_arr",
)
"""Quantities summed over each month."""

STOCKS = (
    "arr",
    "customers",
    "covered_customers",
    "is_queue_length",
    "fs_queue_length",
    "fs_open",
    "cs_queue_length",
    "nurture_pool",
    "recycle_pool",
    "outbound_available",
)
"""Levels read at the end of each month."""

AREAS = ("is_queue", "fs_queue", "fs_open", "cs_covered", "cs_queue", "cs_pooled")
"""Time integrals (level x days) per month, for time averages and Little's law."""

F = {name: i for i, name in enumerate(FLOWS)}

AE_TEAM_FIGURES = (
    "headcount",
    "person_days",
    "effective_days",
    "cost",
    "slot_days",
    "open_days",
    "queue_days",
    "wait_days",
    "waits",
)
"""Per AE team and month (``field_sales.teams``): AEs at month end, days on payroll and
productive, cost, open-opportunity slot-days, open deals x days, waiting deals x days, and
the days waited by (and the number of) the deals its AEs took."""


class Level:
    """A level that changes at event times, integrated over time for time averages."""

    __slots__ = ("area", "last", "value")

    def __init__(self, value: float = 0.0) -> None:
        self.value = value
        self.last = 0.0
        self.area = 0.0

    def add(self, t: float, delta: float) -> None:
        """Change the level by ``delta`` at time ``t``."""
        self.area += self.value * (t - self.last)
        self.last = t
        self.value += delta

    def flush(self, t: float) -> float:
        """Return the area accumulated up to ``t`` and start a new period."""
        area = self.area + self.value * (t - self.last)
        self.area = 0.0
        self.last = t
        return area


@dataclass(repr=False)
class Ledger(display.Shown):
    """Everything one replication produced.

    In a notebook it shows itself as a short table (scenario, seed, horizon, ending ARR);
    :meth:`to_frame` gives the monthly flows and stocks and :meth:`plot` draws one of them.

    Attributes
    ----------
    months
        ``YYYY-MM`` label of each simulated month.
    flows, stocks, areas
        One array per name in :data:`FLOWS`, :data:`STOCKS`, :data:`AREAS`, one value a month.
    capacity
        Per team, the capacity available each month (IS rep hours, FS open-opportunity
        slot-days, CS account-days), after ramp, coaching, vacancies and vacation.
    staff
        Per team (inside_sales, field_sales, customer_success), monthly: headcount at month
        end and every quantity of :data:`~sim.engine.staff.STAFF_FLOWS`.
    leads
        Per-lead columns (ids are positions): key (where the lead's own random substream
        starts: the same lead has the same key in every scenario run with the same seed),
        channel, segment, intent_class, fit, state, cycles
        (recycle entries), created_at, first_mql_at (first hand-off to inside sales),
        first_ready_at (first time ready to call, after the channel's follow-up delay),
        first_touch_at, speed_to_lead_hours and speed_to_lead_business_hours (wall-clock and
        working hours from ready to that first touch), first_sql_at (first qualified by
        inside sales), first_fs_at (first
        hand-off to field sales by any route: qualified, fast pass, alert, BDR meeting),
        first_opp_at, last_opp_at (when its latest opportunity opened), won_at (latest win),
        new_arr (ARR booked at its wins), arr (ARR now). Times are days from the start date,
        ``inf`` where the stage was never reached.
    channels, channel_cost_per_lead, channel_spend
        Channel names by channel index (the scenario's, then referral, starting_book,
        outbound), what one lead of each costs, and what each channel bought by budget
        spent over the horizon (0 for the others).
    phases
        Per opportunity phase, over the horizon: opportunities that entered it, advanced past
        it, and failed in it (lost or no decision), and its ``step`` (0 for the first phase
        of a motion). A segment with a deal motion of its own has its phases apart, named
        ``segment: phase``.
    totals
        Scalars: opening and closing ARR, NRR and GRR over the last 12 months, event count.
    quota
        With ``field_sales.quota_per_ae_per_year``, one row per AE and month on the team:
        ``month`` (index), ``ae`` (the AE's index), ``talent`` (their productivity factor),
        ``quota`` (their ramped quota for the days they were there), ``booked`` (new ARR of
        the wins they owned) and ``whole`` (1 if on the team the whole month); with AE
        teams (``field_sales.teams``), ``team`` too: 0 for the AEs of field sales itself,
        then 1, 2 ... in the order of the teams (AEs of a team without a quota are left
        out). Empty without a quota.
    sql_targets
        With ``inside_sales.sql_target_per_sdr_per_month``, the same for SDRs: ``ae`` is the
        SDR's index, ``quota`` their ramped SQL target, ``booked`` the leads they qualified.
    ae_teams, ae_team_segments
        Where field sales has AE teams of its own (``field_sales.teams``): per team, one
        array a month for each of :data:`AE_TEAM_FIGURES`, and the segments whose deals it
        works (``field_sales``: the AEs of field sales itself). Empty otherwise.
    """

    scenario: str
    seed: str
    months: list[str]
    month_days: np.ndarray[Any, Any]
    flows: dict[str, np.ndarray[Any, Any]]
    stocks: dict[str, np.ndarray[Any, Any]]
    areas: dict[str, np.ndarray[Any, Any]]
    capacity: dict[str, np.ndarray[Any, Any]]
    leads: dict[str, np.ndarray[Any, Any]]
    staff: dict[str, dict[str, np.ndarray[Any, Any]]]
    channels: list[str]
    segments: list[str]
    channel_cost_per_lead: list[float] = field(default_factory=list)
    channel_spend: list[float] = field(default_factory=list)
    phases: dict[str, dict[str, float]] = field(default_factory=dict)
    totals: dict[str, float] = field(default_factory=dict)
    state_counts: dict[str, int] = field(default_factory=dict)
    quota: dict[str, np.ndarray[Any, Any]] = field(default_factory=dict)
    sql_targets: dict[str, np.ndarray[Any, Any]] = field(default_factory=dict)
    ae_teams: dict[str, dict[str, np.ndarray[Any, Any]]] = field(default_factory=dict)
    ae_team_segments: dict[str, list[str]] = field(default_factory=dict)

    def _facts(self) -> display.Facts:
        def total(name: str) -> float:
            return float(np.sum(self.flows[name])) if name in self.flows else float("nan")

        arr = self.stocks.get("arr")
        ending = float(arr[-1]) if arr is not None and len(arr) else float("nan")
        return f"Ledger: {self.scenario} (one replication)", [
            ("seed", self.seed),
            ("horizon", display.horizon(self.months)),
            ("leads", display.value("leads", total("leads_created"))),
            ("wins", display.value("wins", total("wins"))),
            ("new ARR", display.value("new_arr", total("new_arr"))),
            ("ending ARR", display.value("ending_arr", ending)),
        ]

    def to_frame(self) -> pd.DataFrame:
        """The monthly flows (:data:`FLOWS`, summed over the month) and stocks
        (:data:`STOCKS`, at month end): one row per month, one column per name.
        """
        import pandas as pd

        columns = {**self.flows, **self.stocks}
        table = pd.DataFrame({name: np.asarray(v, dtype=float) for name, v in columns.items()})
        table.index = pd.Index(self.months, name="month")
        return table

    def plot(self, kind: str = "arr") -> Figure:
        """Draw one monthly series of :meth:`to_frame` by month.

        Parameters
        ----------
        kind
            A flow or stock name, e.g. ``arr`` (month-end ARR), ``new_arr``, ``mqls``.

        Returns
        -------
        matplotlib.figure.Figure

        Raises
        ------
        ValueError
            If ``kind`` is neither a flow nor a stock.
        """
        from sim.analysis.plots import fan_chart

        table = self.to_frame()
        if kind not in table:
            raise ValueError(f"unknown series {kind!r}: use a flow or stock, such as arr")
        tidy = table[[kind]].reset_index().melt(id_vars="month", var_name="metric")
        tidy.insert(0, "replication", 0)
        return fan_chart(tidy, kind, title=f"{self.scenario}: {kind} (one replication)")
