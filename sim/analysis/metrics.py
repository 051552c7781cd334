"""Metrics computed from a replication's :class:`~sim.engine.ledger.Ledger` after the run."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from sim.engine.ledger import FLOWS, STOCKS, Ledger
from sim.engine.staff import DAYS_PER_MONTH
from sim.kpis import GROUPS, KPI_REGISTRY

Series = np.ndarray[Any, np.dtype[np.float64]]

KPIS: dict[str, str] = {name: kpi.description for name, kpi in KPI_REGISTRY.items()}
"""Headline KPIs of a replication, with their meaning (from :data:`sim.kpis.KPI_REGISTRY`)."""

KPI_GROUPS: dict[str, tuple[str, ...]] = {
    group: tuple(name for name, kpi in KPI_REGISTRY.items() if kpi.group == group)
    for group in GROUPS
}
"""The KPIs in the order and groups the command line shows them."""


def _ratio(num: float, den: float) -> float:
    return num / den if den > 0 else math.nan


def _per_capacity(work: np.ndarray[Any, Any], capacity: np.ndarray[Any, Any]) -> Series:
    return np.where(capacity > 0, work / np.where(capacity > 0, capacity, 1.0), np.nan)


def _median_finite(values: np.ndarray[Any, Any]) -> float:
    finite = values[np.isfinite(values)]
    return float(np.median(finite)) if len(finite) else math.nan


def kpis(ledger: Ledger) -> dict[str, float]:
    """Headline KPIs of one replication (see :data:`KPIS`)."""
    f = {name: float(v.sum()) for name, v in ledger.flows.items()}
    a = {name: float(v.sum()) for name, v in ledger.areas.items()}
    cap = {name: float(v.sum()) for name, v in ledger.capacity.items()}
    # days spent on the queue: the hours SDRs spend closing deals themselves are taken out
    deal_hours = f.get("is_deal_hours", 0.0)
    sdr_days = (cap["inside_sales_hours"] - deal_hours) / ledger.totals["is_hours_per_day"]
    out = {
        "ending_arr": ledger.totals["closing_arr"],
        "new_arr": f["new_arr"],
        "expansion_arr": f["expansion_arr"],
        "contraction_arr": f["contraction_arr"],
        "churned_arr": f["churned_arr"],
        "nrr": ledger.totals["nrr"],
        "grr": ledger.totals["grr"],
        "leads": f["leads_created"],
        "mqls": f["mqls"],
        "fast_passed": f["fast_passed"],
        "sqls": f["sqls"],
        "buyers_missed": f["windows_closed_in_nurture"],
        "buyers_lost_to_delay": f["is_lost_to_delay"],
        "opportunities": f["opportunities"],
        "wins": f["wins"],
        "win_rate": _ratio(f["wins"], f["wins"] + f["losses"] + f["no_decisions"]),
        "sdr_closed_wins": f["is_wins"],
        "churned_customers": f["churned_customers"],
        "outbound_meetings": f["outbound_meetings"],
        "recycled_leads": sum(
            f[f"recycled_{r}"] for r in ("not_now", "unreached", "rejected", "lost", "churned")
        ),
        "recycled_wins": f["recycled_wins"],
        "recycled_new_arr": f["recycled_new_arr"],
        "is_utilisation": _ratio(f["is_work_hours"], cap["inside_sales_hours"]),
        "is_queue_wait_hours": 24 * _ratio(f["is_wait_days_sum"], f["is_waits"]),
        "speed_to_lead_hours": _ratio(f["speed_to_lead_hours_sum"], f["first_touches"]),
        "speed_to_lead_median_business_hours": _median_finite(
            ledger.leads["speed_to_lead_business_hours"]
        ),
        "mqls_untouched_share": _ratio(f["went_cold"], f["mqls"]),
        "lost_to_delay_share": _ratio(f["is_lost_to_delay"], f["mqls"]),
        "dials_per_sdr_day": _ratio(f["is_touches"], sdr_days),
        "conversations_per_sdr_day": _ratio(f["is_contacts"], sdr_days),
        "sqls_per_sdr_month": _ratio(
            f["sqls"], _team_total(ledger, "inside_sales", "effective_days") / DAYS_PER_MONTH
        ),
        "fs_utilisation": _ratio(a["fs_open"], cap["field_sales_slot_days"]),
        "fs_queue_wait_days": _ratio(f["fs_wait_days_sum"], f["fs_waits"]),
        "cs_utilisation": _ratio(a["cs_covered"], cap["customer_success_account_days"]),
        "cs_queue_wait_days": _ratio(f["cs_wait_days_sum"], f["cs_waits"]),
        "health_at_renewal": _ratio(f["health_at_renewal_sum"], f["health_renewals"]),
        "tech_touch_utilisation": _ratio(a["cs_pooled"], cap["tech_touch_account_days"]),
        "upsell_wins": f["upsell_wins"] if f["upsell_chances"] else math.nan,
        "upsell_arr": f["upsell_arr"] if f["upsell_chances"] else math.nan,
        "upsell_unfollowed_share": _ratio(
            f["upsell_unfollowed"], f["upsell_worked"] + f["upsell_unfollowed"]
        ),
        "marketing_cost": f["marketing_cost"],
    }
    out.update(_money(ledger, f))
    out.update(_quota(ledger))
    return out


def sdr_years(ledger: Ledger) -> dict[str, Series]:
    """:func:`ae_years` for SDRs against their SQL targets (``ae`` is the SDR's index,
    ``quota`` their ramped SQL target, ``booked`` their SQLs)."""
    return target_years(ledger.sql_targets, len(ledger.months))


def ae_years(ledger: Ledger) -> dict[str, Series]:
    """Each AE's year against quota: one row per AE on the team a whole year.

    Years are the horizon's consecutive 12-month blocks from its first month (a last
    block shorter than 12 months is left out; a horizon under a year is one block, its
    quota ramped over those months). Returns columns ``year`` (0 = the first),
    ``ae``, ``talent``, ``quota`` (the year's ramped quota), ``booked`` and ``attainment``
    (``booked / quota``); empty arrays without a quota.
    """
    return target_years(ledger.quota, len(ledger.months))


def target_years(q: dict[str, np.ndarray[Any, Any]], n_months: int) -> dict[str, Series]:
    """Per person and year, their ramped target and what was credited to them, from the
    monthly rows ``q`` of :attr:`~sim.engine.ledger.Ledger.quota` (or ``sql_targets``, or a
    selection of their rows); see :func:`ae_years`."""
    names = ("year", "ae", "talent", "quota", "booked", "attainment")
    if not q or len(q["month"]) == 0:
        return {n: np.zeros(0) for n in names}
    block = min(12, n_months)
    years = n_months // block
    rows = []
    year = q["month"] // block
    for y in range(years):
        here = year == y
        for ae in np.unique(q["ae"][here]):
            mine = here & (q["ae"] == ae)
            if mine.sum() < block or not q["whole"][mine].all():
                continue
            quota, booked = float(q["quota"][mine].sum()), float(q["booked"][mine].sum())
            talent = float(q["talent"][mine][0])
            rows.append((y, ae, talent, quota, booked, _ratio(booked, quota)))
    table = np.array(rows, dtype=float).reshape(-1, len(names))
    return {n: table[:, k] for k, n in enumerate(names)}


def _quota(ledger: Ledger) -> dict[str, float]:
    """Quota attainment, SQL targets and variable pay over the horizon (NaN without a
    quota or a target)."""
    variable = float(ledger.staff["field_sales"]["variable_pay"].sum())
    sdr = sdr_years(ledger)["attainment"]
    sdr = sdr[np.isfinite(sdr)]
    targets = {
        "sdr_at_target_share": float((sdr >= 1.0).mean()) if len(sdr) else math.nan,
        "sdr_attainment_median": float(np.median(sdr)) if len(sdr) else math.nan,
    }
    if not ledger.quota:
        nan = math.nan
        return {
            "ae_at_quota_share": nan,
            "ae_attainment_median": nan,
            "quota_capacity": nan,
            "bookings_to_quota": nan,
            "variable_pay": variable,
            **targets,
        }
    years = ae_years(ledger)
    attainment = years["attainment"][np.isfinite(years["attainment"])]
    capacity = float(ledger.quota["quota"].sum())
    return {
        "ae_at_quota_share": float((attainment >= 1.0).mean()) if len(attainment) else math.nan,
        "ae_attainment_median": float(np.median(attainment)) if len(attainment) else math.nan,
        "quota_capacity": capacity,
        "bookings_to_quota": _ratio(float(ledger.quota["booked"].sum()), capacity),
        "variable_pay": variable,
        **targets,
    }


SALES_TEAMS = ("inside_sales", "field_sales", "outbound")
"""Teams whose cost is sales and marketing cost (customer success is not)."""

CS_TEAMS = ("customer_success", "tech_touch")
"""Customer-success teams (the tech-touch pool only where the scenario has one)."""


def _team_total(ledger: Ledger, team: str, name: str) -> float:
    return float(ledger.staff[team][name].sum())


def _money(ledger: Ledger, f: dict[str, float]) -> dict[str, float]:
    """Costs and unit economics over the horizon."""
    days = float(ledger.month_days.sum())
    years = days / 365.25
    staff = ledger.staff
    sm = f["marketing_cost"] + f["marketing_programs"]
    sm += sum(_team_total(ledger, t, "cost") for t in SALES_TEAMS if t in staff)
    total = sm + sum(_team_total(ledger, t, "cost") for t in CS_TEAMS if t in staff)
    gm = ledger.totals["gross_margin"]
    cac = _ratio(sm, f["new_customers"])
    acv = _ratio(f["new_arr"], f["new_customers"])
    avg_arr = float(np.mean(ledger.stocks["arr"]))
    avg_customers = float(np.mean(ledger.stocks["customers"]))
    churn_rate = _ratio(f["churned_arr"] + f["contraction_arr"], avg_arr) / years
    ltv = _ratio(_ratio(avg_arr, avg_customers) * gm, churn_rate)
    heads_end = sum(float(staff[t]["headcount"][-1]) for t in staff)
    lost = {
        f"{team}_fte_lost": sum(
            _team_total(ledger, team, k)
            for k in ("ramp_loss_days", "coaching_loss_days", "vacancy_days")
        )
        / days
        for team in ("inside_sales", "field_sales", "customer_success")
    }
    head_years = sum(_team_total(ledger, t, "person_days") for t in staff) / 365.25
    leavers = sum(_team_total(ledger, t, "attrition") for t in staff)
    return {
        "sm_cost": sm,
        "total_cost": total,
        "cac_blended": cac,
        "cac_paid": _ratio(sm, f["new_customers_paid"]),
        "cac_payback_months": _ratio(cac, acv / 12 * gm),
        "ltv": ltv,
        "ltv_to_cac": _ratio(ltv, cac),
        "magic_number": _ratio(ledger.totals["closing_arr"] - ledger.totals["opening_arr"], sm),
        "bookings_per_ae": _ratio(
            f["new_arr"], _team_total(ledger, "field_sales", "person_days") / 365.25
        ),
        "pipeline_per_sdr": _ratio(
            f["pipeline_arr"], _team_total(ledger, "inside_sales", "person_days") / 365.25
        ),
        "revenue_per_employee": _ratio(ledger.totals["closing_arr"], heads_end),
        **lost,
        "attrition_rate": _ratio(leavers, head_years),
    }


def monthly(ledger: Ledger) -> dict[str, Series]:
    """Every monthly series: flows, month-end stocks, and derived monthly rates."""
    f, a, cap = ledger.flows, ledger.areas, ledger.capacity
    # SDR days on the queue (the hours SDRs spend closing deals themselves taken out)
    queue_days = (cap["inside_sales_hours"] - f.get("is_deal_hours", 0.0)) / ledger.totals[
        "is_hours_per_day"
    ]
    with np.errstate(invalid="ignore", divide="ignore"):
        derived = {
            "mrr": ledger.stocks["arr"] / 12.0,
            # a month with no capacity (the whole team gone or in bootcamp) has no
            # utilisation, even if a leaver finished a touch in it
            "is_utilisation": _per_capacity(f["is_work_hours"], cap["inside_sales_hours"]),
            "fs_utilisation": _per_capacity(a["fs_open"], cap["field_sales_slot_days"]),
            "cs_utilisation": _per_capacity(a["cs_covered"], cap["customer_success_account_days"]),
            "tech_touch_utilisation": _per_capacity(a["cs_pooled"], cap["tech_touch_account_days"]),
            "health_at_renewal": f["health_at_renewal_sum"] / f["health_renewals"],
            "speed_to_lead_hours": f["speed_to_lead_hours_sum"] / f["first_touches"],
            "dials_per_sdr_day": f["is_touches"] / queue_days,
            "conversations_per_sdr_day": f["is_contacts"] / queue_days,
            "sqls_per_sdr_month": f["sqls"]
            / (ledger.staff["inside_sales"]["effective_days"] / DAYS_PER_MONTH),
            "is_queue_mean": a["is_queue"] / ledger.month_days,
            "fs_queue_mean": a["fs_queue"] / ledger.month_days,
        }
    staff = ledger.staff
    for team, figures in staff.items():
        derived[f"{team}_headcount"] = figures["headcount"]
        derived[f"{team}_fte"] = figures["effective_days"] / ledger.month_days
        for name in ("hires", "attrition", "planned_departures", "cost"):
            derived[f"{team}_{name}"] = figures[name]
        for name in ("ramp_loss", "coaching_loss", "vacancy"):
            derived[f"{team}_{name}_fte"] = figures[f"{name}_days"] / ledger.month_days
    for team, figures in ledger.ae_teams.items():  # field_sales.teams, one by one
        derived[f"ae_team_{team}_headcount"] = figures["headcount"]
        derived[f"ae_team_{team}_utilisation"] = _per_capacity(
            figures["open_days"], figures["slot_days"]
        )
    sm = f["marketing_cost"] + f["marketing_programs"]
    sm = sm + sum(staff[t]["cost"] for t in SALES_TEAMS if t in staff)
    derived["sm_cost"] = sm
    derived["total_cost"] = sm + sum(staff[t]["cost"] for t in CS_TEAMS if t in staff)
    with np.errstate(invalid="ignore", divide="ignore"):
        derived["cac_blended"] = np.where(f["new_customers"] > 0, sm / f["new_customers"], np.nan)
    derived["field_sales_variable_pay"] = staff["field_sales"]["variable_pay"]
    if ledger.sql_targets:  # ramped SQL targets next to the SQLs
        t = ledger.sql_targets
        index = t["month"].astype(int)
        months = len(ledger.months)
        derived["sql_target"] = np.bincount(index, weights=t["quota"], minlength=months)
    q = ledger.quota
    if q:  # ramped quota next to bookings, and the share of AEs at their month's quota
        months = len(ledger.months)
        index = q["month"].astype(int)
        derived["quota_capacity"] = np.bincount(index, weights=q["quota"], minlength=months)
        whole = q["whole"] == 1
        at = whole & (q["booked"] >= q["quota"]) & (q["quota"] > 0)
        counted = np.bincount(index[whole], minlength=months).astype(float)
        made = np.bincount(index[at], minlength=months).astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            derived["ae_at_quota_share"] = np.where(counted > 0, made / counted, np.nan)
    out: dict[str, Series] = {}
    out.update({n: f[n].astype(float) for n in FLOWS})
    out.update({n: ledger.stocks[n].astype(float) for n in STOCKS})
    out.update(derived)
    return out
