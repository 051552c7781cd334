"""Stage reports of one replication: the unique-lead waterfall, channels, segments, phases.

Every table is computed from a :class:`~sim.engine.ledger.Ledger`'s per-lead columns (and
its phase counters), so it counts *leads*, not hand-offs: a lead recycled three times and
handed to inside sales each time is one MQL here, where the ``mqls`` KPI counts it three
times (docs/reports.md: what counts as what, for users).

The stages of a lead:

- **MQL**: handed to sales at least once, to inside sales or straight to field sales
  (``min(first_mql_at, first_fs_at)`` finite);
- **SQL**: handed to field sales by any route (qualified by inside sales, fast pass, alert,
  BDR meeting): ``first_fs_at`` finite;
- **opportunity**: accepted by field sales after the appointment: ``first_opp_at`` finite;
- **win**: won at least once: ``won_at`` finite.

Each stage is counted among the leads that reached the previous one, so the stage counts
never grow down the funnel. Per-replication tables are reduced across replications by
:func:`across_replications` (:meth:`sim.experiment.results.Results.waterfall` and its
siblings call it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from sim.analysis.metrics import ae_years, sdr_years, target_years
from sim.engine.leads import NON_TARGET
from sim.engine.ledger import Ledger
from sim.scenario.schema import GENERALISTS

__all__ = [
    "FIXED_COLUMNS",
    "MATURE_MONTHS",
    "STARTING_BOOK",
    "TABLES",
    "across_replications",
    "ae_team_table",
    "attainment_table",
    "channel_table",
    "motion_tables",
    "phase_table",
    "quarter_label",
    "retention_table",
    "sdr_attainment_table",
    "segment_table",
    "waterfall",
]

STARTING_BOOK = "starting_book"
"""Channel name of the leads the scenario starts with (customers, pipeline, database)."""

MATURE_MONTHS = 9
"""Months a lead needs to have been watched to count in the waterfall's ``mature`` row."""

TABLES = (
    "waterfall",
    "channels",
    "segments",
    "phases",
    "attainment",
    "sdr_attainment",
    "retention",
    "ae_teams",
)
"""The tables of :func:`motion_tables`, in the order they are written and shown."""

FIXED_COLUMNS: dict[str, tuple[str, ...]] = {
    "waterfall": ("months", "months_observed"),
    "channels": ("cost_per_lead",),
    "segments": (),
    "phases": (),
    "attainment": (),
    "sdr_attainment": (),
    "retention": (),
    "ae_teams": ("segments",),
}
"""Per table, the columns that describe a row rather than measure it (equal in every
replication): shown once, without a band, by :func:`across_replications`."""

Array = np.ndarray[Any, Any]


def quarter_label(month: str) -> str:
    """Calendar quarter ``YYYY-Qn`` of a ``YYYY-MM`` month label."""
    year, number = month.split("-")
    return f"{year}-Q{(int(number) - 1) // 3 + 1}"


def _ratio(num: float, den: float) -> float:
    return num / den if den > 0 else math.nan


def _median(values: Array) -> float:
    values = values[np.isfinite(values)]
    return float(np.median(values)) if values.size else math.nan


class _Stages:
    """Per-lead stage masks (nested: each stage among the leads of the previous one)."""

    def __init__(self, ledger: Ledger) -> None:
        lead = ledger.leads
        self.created = lead["created_at"]
        self.fs_at = lead["first_fs_at"]
        self.mql_at = np.minimum(lead["first_mql_at"], self.fs_at)
        self.opp_at = lead["first_opp_at"]
        self.mql = np.isfinite(self.mql_at)
        self.sql = self.mql & np.isfinite(self.fs_at)
        self.opp = self.sql & np.isfinite(self.opp_at)
        self.win = self.opp & np.isfinite(lead["won_at"])
        # the cycle of the latest win: a lead won, churned and in a new open opportunity
        # has last_opp_at after won_at, and no cycle to show
        cycle = np.full(len(self.created), np.nan)
        cycle[self.win] = lead["won_at"][self.win] - lead["last_opp_at"][self.win]
        self.cycle = np.where(cycle >= 0, cycle, np.nan)
        self.new_arr = lead["new_arr"]
        channels = np.asarray(ledger.channels)
        book = np.flatnonzero(channels == STARTING_BOOK)
        self.horizon_lead = ~np.isin(lead["channel"], book)
        self.target = lead["state"] != NON_TARGET

    def counts(self, sel: Array) -> dict[str, float]:
        """Leads, MQLs, SQLs, opportunities and wins among the leads ``sel`` selects."""
        return {
            "leads": float(sel.sum()),
            "mqls": float((sel & self.mql).sum()),
            "sqls": float((sel & self.sql).sum()),
            "opportunities": float((sel & self.opp).sum()),
            "wins": float((sel & self.win).sum()),
        }


def _month_of(ledger: Ledger, t: Array) -> Array:
    """Index of the simulated month each time falls in."""
    starts = np.concatenate([[0.0], np.cumsum(ledger.month_days)])
    month = np.searchsorted(starts, t, side="right") - 1
    return np.clip(month, 0, len(ledger.months) - 1)


def _waterfall_row(st: _Stages, sel: Array, months: int, observed: int) -> dict[str, float]:
    row = {"months": float(months), "months_observed": float(observed), **st.counts(sel)}
    row["lead_to_mql"] = _ratio(row["mqls"], row["leads"])
    row["mql_to_sql"] = _ratio(row["sqls"], row["mqls"])
    row["sql_to_opportunity"] = _ratio(row["opportunities"], row["sqls"])
    row["opportunity_to_win"] = _ratio(row["wins"], row["opportunities"])
    row["lead_to_win"] = _ratio(row["wins"], row["leads"])
    mql, sql, opp = sel & st.mql, sel & st.sql, sel & st.opp
    row["lead_to_mql_median_days"] = _median(st.mql_at[mql] - st.created[mql])
    row["mql_to_sql_median_days"] = _median(st.fs_at[sql] - st.mql_at[sql])
    row["sql_to_opportunity_median_days"] = _median(st.opp_at[opp] - st.fs_at[opp])
    row["opportunity_to_win_median_days"] = _median(st.cycle[sel])
    return row


def waterfall(ledger: Ledger, mature_months: int = MATURE_MONTHS) -> pd.DataFrame:
    """Unique-lead waterfall by arrival cohort: lead -> MQL -> SQL -> opportunity -> win.

    A cohort is the calendar quarter of a lead's ``created_at``. The leads of the starting
    book (channel ``starting_book``: opening customers, open opportunities and the dormant
    marketing database) are left out, since they did not arrive in the horizon; so are
    non-targets (state ``non_target``: they never move), so the first stage is the
    marketing-accepted lead. Stages are defined in the module docstring.

    Parameters
    ----------
    ledger
        One replication's ledger.
    mature_months
        Months a lead must have been watched for the ``mature`` row.

    Returns
    -------
    pandas.DataFrame
        Index ``cohort``: one row per quarter (``YYYY-Qn``, in order), then ``all`` (every
        cohort) and ``mature`` (leads created at least ``mature_months`` months before the
        end of the horizon: the cohorts old enough to have converted; empty when the
        horizon is not longer than that). Columns: ``months`` (months of the cohort inside
        the horizon), ``months_observed`` (months from the cohort's last month to the end
        of the horizon: young cohorts have had little time to convert, so their rates are
        low and their medians short), the counts ``leads, mqls, sqls, opportunities,
        wins``, the stage-to-stage rates ``lead_to_mql, mql_to_sql, sql_to_opportunity,
        opportunity_to_win`` and ``lead_to_win``, and the median days between stages
        ``lead_to_mql_median_days`` (created to first hand-off), ``mql_to_sql_median_days``,
        ``sql_to_opportunity_median_days`` (first hand-off to field sales to first
        opportunity) and ``opportunity_to_win_median_days`` (``won_at - last_opp_at``: the
        cycle of the won opportunity). A rate whose denominator is 0 is NaN.
    """
    st = _Stages(ledger)
    keep = st.horizon_lead & st.target
    n = len(ledger.months)
    month = _month_of(ledger, st.created)
    quarters = [quarter_label(m) for m in ledger.months]
    rows: dict[str, dict[str, float]] = {}
    for label in dict.fromkeys(quarters):
        in_quarter = [m for m, q in enumerate(quarters) if q == label]
        sel = keep & np.isin(month, in_quarter)
        rows[label] = _waterfall_row(st, sel, len(in_quarter), n - 1 - in_quarter[-1])
    rows["all"] = _waterfall_row(st, keep, n, 0)
    mature = max(n - mature_months, 0)
    rows["mature"] = _waterfall_row(st, keep & (month < mature), mature, mature_months)
    return _frame(rows, "cohort")


def channel_table(ledger: Ledger) -> pd.DataFrame:
    """Per channel: leads, stages reached, new ARR, cost and CAC.

    The starting book is not a channel (its leads did not arrive in the horizon) and has no
    row; its wins are in the KPIs only. Non-targets are counted in ``leads`` (they were
    bought) and their share shown.

    Parameters
    ----------
    ledger
        One replication's ledger.

    Returns
    -------
    pandas.DataFrame
        Index ``channel`` (every channel of the ledger but ``starting_book``, in order).
        Columns: ``cost_per_lead``; ``leads`` (created in the horizon), ``non_target_share``,
        then ``mqls, sqls, opportunities, wins`` (unique leads, as in :func:`waterfall`);
        ``new_arr`` (ARR booked at the wins of the channel's leads); ``cost`` (leads x cost
        per lead, or the spend of a channel bought by budget); ``cac`` (cost / wins: NaN
        without wins or without cost; only the price of the leads, since program spend and
        team costs are not allocated to channels); ``roi`` ((new ARR - cost) / cost: the
        first-year ARR each unit of spend returns, net; NaN without cost); ``win_rate``
        (wins / leads).
    """
    st = _Stages(ledger)
    channel = ledger.leads["channel"]
    rows: dict[str, dict[str, float]] = {}
    for k, name in enumerate(ledger.channels):
        if name == STARTING_BOOK:
            continue
        sel = channel == k
        price = float(ledger.channel_cost_per_lead[k])
        row = {"cost_per_lead": price, **st.counts(sel)}
        row["non_target_share"] = _ratio(float((sel & ~st.target).sum()), row["leads"])
        row["new_arr"] = float(st.new_arr[sel].sum())
        spend = float(ledger.channel_spend[k]) if ledger.channel_spend else 0.0
        row["cost"] = row["leads"] * price + spend
        row["cac"] = _ratio(row["cost"], row["wins"]) if row["cost"] > 0 else math.nan
        row["roi"] = (row["new_arr"] - row["cost"]) / row["cost"] if row["cost"] > 0 else math.nan
        row["win_rate"] = _ratio(row["wins"], row["leads"])
        rows[name] = row
    order = ["cost_per_lead", "leads", "non_target_share", "mqls", "sqls", "opportunities"]
    columns = [*order, "wins", "new_arr", "cost", "cac", "roi", "win_rate"]
    return _frame(rows, "channel")[columns]


def segment_table(ledger: Ledger) -> pd.DataFrame:
    """Per segment: leads, stages reached, win rate of opportunities, ACV, cycle, new ARR.

    Leads of the starting book are left out, as in :func:`waterfall`; non-targets are
    counted in ``leads``, as in :func:`channel_table`.

    Parameters
    ----------
    ledger
        One replication's ledger.

    Returns
    -------
    pandas.DataFrame
        Index ``segment`` (the scenario's segments, in order). Columns: ``leads, mqls,
        sqls, opportunities, wins`` (unique leads); ``win_rate`` (wins / leads with an
        opportunity); ``acv`` (new ARR / wins: a lead won twice counts once, with both
        bookings); ``cycle_median_days`` (median of ``won_at - last_opp_at`` over the wins);
        ``new_arr``.
    """
    st = _Stages(ledger)
    segment = ledger.leads["segment"]
    rows: dict[str, dict[str, float]] = {}
    for k, name in enumerate(ledger.segments):
        sel = st.horizon_lead & (segment == k)
        row = st.counts(sel)
        new_arr = float(st.new_arr[sel].sum())
        row["win_rate"] = _ratio(row["wins"], row["opportunities"])
        row["acv"] = _ratio(new_arr, row["wins"])
        row["cycle_median_days"] = _median(st.cycle[sel])
        row["new_arr"] = new_arr
        rows[name] = row
    return _frame(rows, "segment")


def phase_table(ledger: Ledger) -> pd.DataFrame:
    """Per opportunity phase: entered, advanced, failed, close rate and cumulative reach.

    Read from the ledger's phase counters, which count every opportunity worked in the
    horizon, those of the starting pipeline included (they enter in the phase they were
    in on day one, so later phases can see more entries than the first's advances).

    Parameters
    ----------
    ledger
        One replication's ledger.

    Returns
    -------
    pandas.DataFrame
        Index ``phase`` (in the order opportunities go through them; a segment with a
        deal motion of its own has its phases apart, named ``segment: phase``). Columns:
        ``entered``, ``advanced``, ``failed`` (lost or no decision), ``undecided``
        (entered but neither: still open at the horizon, or dropped when the AE left),
        ``close_rate`` (advanced / (advanced + failed): decided opportunities only) and
        ``reach`` (share of opportunities entering the first phase that get past this
        one: the product of the close rates so far; the last phase's is the win rate the
        phases imply).
    """
    rows: dict[str, dict[str, float]] = {}
    reach = 1.0
    for name, c in ledger.phases.items():
        entered, advanced, failed = c["entered"], c["advanced"], c["failed"]
        if c.get("step", 1.0) == 0.0:  # the first phase of a motion
            reach = 1.0
        close = _ratio(advanced, advanced + failed)
        reach *= close
        rows[name] = {
            "entered": entered,
            "advanced": advanced,
            "failed": failed,
            "undecided": entered - advanced - failed,
            "close_rate": close,
            "reach": reach,
        }
    return _frame(rows, "phase")


def attainment_table(ledger: Ledger) -> pd.DataFrame:
    """Per year of the horizon: how the AEs on the team the whole year did against quota.

    Parameters
    ----------
    ledger
        One replication's ledger (with ``field_sales.quota_per_ae_per_year``; without a
        quota the table has no rows).

    Returns
    -------
    pandas.DataFrame
        Index ``year`` (``YYYY-MM`` of its first month; consecutive 12-month blocks from
        the start, a shorter last block left out). Columns: ``aes`` (AEs on the team the
        whole year), ``quota`` and ``booked`` (their ramped quotas and bookings, summed),
        ``attainment_p10``, ``attainment_median``, ``attainment_p90`` (of booked / quota
        across those AEs) and ``at_quota_share`` (share at 100% or more).
    """
    return _against_targets(ledger, ae_years(ledger), _ATTAINMENT_COLUMNS)


def sdr_attainment_table(ledger: Ledger) -> pd.DataFrame:
    """Per year of the horizon: how the SDRs on the team the whole year did against their
    SQL targets (:func:`attainment_table` for inside sales).

    Parameters
    ----------
    ledger
        One replication's ledger (with ``inside_sales.sql_target_per_sdr_per_month``;
        without a target the table has no rows).

    Returns
    -------
    pandas.DataFrame
        Index ``year``. Columns: ``sdrs``, ``target`` and ``sqls`` (their ramped SQL
        targets and the SQLs credited to them, summed), ``attainment_p10``,
        ``attainment_median``, ``attainment_p90`` (of SQLs / target across those SDRs) and
        ``at_target_share`` (share at 100% or more).
    """
    return _against_targets(ledger, sdr_years(ledger), _SDR_COLUMNS)


def _against_targets(
    ledger: Ledger, years: dict[str, Array], columns: tuple[str, ...]
) -> pd.DataFrame:
    """One row per year of people against their targets; ``columns`` name the head count,
    the target, what they did, the three attainment percentiles and the share at target."""
    rows: dict[str, dict[str, float]] = {}
    for y in np.unique(years["year"]).astype(int).tolist():
        mine = years["year"] == y
        att = years["attainment"][mine]
        p10, p50, p90 = (float(v) for v in np.percentile(att, [10, 50, 90]))
        values = (
            float(mine.sum()),
            float(years["quota"][mine].sum()),
            float(years["booked"][mine].sum()),
            p10,
            p50,
            p90,
            float((att >= 1.0).mean()),
        )
        rows[ledger.months[min(12, len(ledger.months)) * y]] = dict(
            zip(columns, values, strict=True)
        )
    if not rows:
        empty = pd.DataFrame(columns=list(columns), dtype=float)
        empty.index.name = "year"
        return empty
    return _frame(rows, "year")


_ATTAINMENT_COLUMNS = (
    "aes",
    "quota",
    "booked",
    "attainment_p10",
    "attainment_median",
    "attainment_p90",
    "at_quota_share",
)
_SDR_COLUMNS = (
    "sdrs",
    "target",
    "sqls",
    "attainment_p10",
    "attainment_median",
    "attainment_p90",
    "at_target_share",
)


def retention_table(ledger: Ledger) -> pd.DataFrame:
    """Per year of the horizon: renewals, churn, health and the upsell pipeline.

    Parameters
    ----------
    ledger
        One replication's ledger.

    Returns
    -------
    pandas.DataFrame
        Index ``year`` (``YYYY-MM`` of its first month; consecutive 12-month blocks from the
        start, a shorter last block kept). Columns: ``renewals_due`` (renewal decisions),
        ``logo_churn`` (churned / due), ``churned_arr``, ``expansion_arr``,
        ``health_at_renewal`` (mean; NaN without health), ``upsell_chances``,
        ``upsell_wins``, ``upsell_arr`` and ``upsell_unfollowed_share`` (NaN without an
        expansion pipeline).
    """
    f = ledger.flows
    months = len(ledger.months)
    rows: dict[str, dict[str, float]] = {}
    has_pipeline = float(f["upsell_chances"].sum()) > 0
    for start in range(0, months, 12):
        block = slice(start, min(start + 12, months))

        def total(name: str, block: slice = block) -> float:
            return float(f[name][block].sum())

        due = total("renewals") + total("churned_customers")
        tried = total("upsell_worked") + total("upsell_unfollowed")
        nan = math.nan
        rows[ledger.months[start]] = {
            "renewals_due": due,
            "logo_churn": _ratio(total("churned_customers"), due),
            "churned_arr": total("churned_arr"),
            "expansion_arr": total("expansion_arr"),
            "health_at_renewal": _ratio(total("health_at_renewal_sum"), total("health_renewals")),
            "upsell_chances": total("upsell_chances") if has_pipeline else nan,
            "upsell_wins": total("upsell_wins") if has_pipeline else nan,
            "upsell_arr": total("upsell_arr") if has_pipeline else nan,
            "upsell_unfollowed_share": _ratio(total("upsell_unfollowed"), tried),
        }
    return _frame(rows, "year")


def ae_team_table(ledger: Ledger) -> pd.DataFrame:
    """Per AE team (``field_sales.teams``, and the AEs of field sales itself where they work
    any segment): its people, deals, bookings and how full it ran over the horizon.

    Parameters
    ----------
    ledger
        One replication's ledger (without AE teams of its own the table has no rows).

    Returns
    -------
    pandas.DataFrame
        Index ``team``. Columns: ``segments`` (those it works, joined by ``+``), ``aes_end``
        (AEs at the horizon's end), ``ae_years`` (on payroll), ``opportunities``, ``wins``
        and ``new_arr`` (of its segments' leads, unique leads as in :func:`segment_table`
        but with the starting book's: its open pipeline is the team's work too),
        ``win_rate`` (wins / opportunities),
        ``bookings_per_ae_year``, ``utilisation`` (open deals over the slot capacity of
        its ramped AEs), ``queue_mean`` (deals waiting for one of its AEs, on average) and
        ``wait_days`` (mean wait of the deals its AEs took), ``at_quota_share`` (of its
        AE-years on the team a whole year, the share at quota; NaN without a quota).
    """
    if not ledger.ae_teams:
        columns = (
            "segments",
            "aes_end",
            "ae_years",
            "opportunities",
            "wins",
            "new_arr",
            "win_rate",
            "bookings_per_ae_year",
            "utilisation",
            "queue_mean",
            "wait_days",
            "at_quota_share",
        )
        return pd.DataFrame(columns=columns, index=pd.Index([], name="team"), dtype=float)
    st = _Stages(ledger)
    segment = ledger.leads["segment"]
    days = float(ledger.month_days.sum())
    rows: dict[str, dict[str, Any]] = {}
    for team, figures in ledger.ae_teams.items():
        names = ledger.ae_team_segments[team]
        codes = [ledger.segments.index(n) for n in names]
        sel = np.isin(segment, codes)
        counts = st.counts(sel)
        new_arr = float(st.new_arr[sel].sum())
        ae_years = float(figures["person_days"].sum()) / 365.25
        rows[team] = {
            "segments": "+".join(names),
            "aes_end": float(figures["headcount"][-1]),
            "ae_years": ae_years,
            "opportunities": counts["opportunities"],
            "wins": counts["wins"],
            "new_arr": new_arr,
            "win_rate": _ratio(counts["wins"], counts["opportunities"]),
            "bookings_per_ae_year": _ratio(new_arr, ae_years),
            "utilisation": _ratio(
                float(figures["open_days"].sum()), float(figures["slot_days"].sum())
            ),
            "queue_mean": _ratio(float(figures["queue_days"].sum()), days),
            "wait_days": _ratio(float(figures["wait_days"].sum()), float(figures["waits"].sum())),
            "at_quota_share": _team_at_quota(ledger, team),
        }
    return _frame(rows, "team")


def _team_at_quota(ledger: Ledger, team: str) -> float:
    """Share of AE-years at quota in AE team ``team`` (NaN where it has no quota)."""
    q = ledger.quota
    if not q or "team" not in q:
        return math.nan
    others = [t for t in ledger.ae_teams if t != GENERALISTS]
    code = 0 if team == GENERALISTS else 1 + others.index(team)
    mine = q["team"] == code
    years = target_years({name: column[mine] for name, column in q.items()}, len(ledger.months))
    attainment = years["attainment"][np.isfinite(years["attainment"])]
    return float((attainment >= 1.0).mean()) if len(attainment) else math.nan


def motion_tables(ledger: Ledger) -> dict[str, pd.DataFrame]:
    """Every table of this module for one replication, keyed as in :data:`TABLES`."""
    return {
        "waterfall": waterfall(ledger),
        "channels": channel_table(ledger),
        "segments": segment_table(ledger),
        "phases": phase_table(ledger),
        "attainment": attainment_table(ledger),
        "sdr_attainment": sdr_attainment_table(ledger),
        "retention": retention_table(ledger),
        "ae_teams": ae_team_table(ledger),
    }


def _frame(rows: dict[str, dict[str, float]], index: str) -> pd.DataFrame:
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = index
    return table


def across_replications(tables: Sequence[pd.DataFrame], fixed: Sequence[str] = ()) -> pd.DataFrame:
    """Mean, P10 and P90 of each column of per-replication tables, row by row.

    Parameters
    ----------
    tables
        The same table (same index name and columns) from each replication; a row missing
        from some replications is summarised over those that have it.
    fixed
        Columns that describe a row and are equal in every replication: kept once.

    Returns
    -------
    pandas.DataFrame
        Same index, rows in order of first appearance. Columns: the ``fixed`` ones,
        ``replications`` (how many tables have the row), then for each other column its
        mean over replications (under its own name; NaNs, such as a rate with nothing to
        divide, are left out), ``<name>_p10`` and ``<name>_p90``. Rates are averaged
        replication by replication, not recomputed from mean counts.
    """
    if not tables:
        return pd.DataFrame()
    long = pd.concat(tables)
    values = [c for c in long.columns if c not in fixed]
    if long.empty:  # no rows in any replication (a quota or a target not set): same shape
        names = [*fixed, "replications"]
        names += [n for c in values for n in (c, f"{c}_p10", f"{c}_p90")]
        index = pd.Index([], dtype=object, name=tables[0].index.name)
        return pd.DataFrame(columns=names, index=index, dtype=float)
    groups = long.groupby(level=0, sort=False)
    mean = groups[values].mean()
    p10 = groups[values].quantile(0.1)
    p90 = groups[values].quantile(0.9)
    out = pd.DataFrame({c: groups[c].first() for c in fixed}, index=mean.index)
    out["replications"] = groups.size()
    for c in values:
        out[c] = mean[c]
        out[f"{c}_p10"] = p10[c]
        out[f"{c}_p90"] = p90[c]
    out.index.name = tables[0].index.name
    return out
