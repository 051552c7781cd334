"""Metrics computed from a replication's :class:`~sim.engine.ledger.Ledger` after the run."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from sim.engine.ledger import FLOWS, STOCKS, Ledger

Series = np.ndarray[Any, np.dtype[np.float64]]

KPIS: dict[str, str] = {
    "ending_arr": "ARR at the end of the horizon",
    "new_arr": "ARR booked from new customers over the horizon",
    "expansion_arr": "ARR added by expansions at renewal",
    "contraction_arr": "ARR lost to contractions at renewal",
    "churned_arr": "ARR lost to churned customers",
    "nrr": "net revenue retention over the last 12 months (or the horizon if shorter)",
    "grr": "gross revenue retention over the same window",
    "leads": "new leads created (channels and referrals)",
    "mqls": "hand-offs to inside sales (new, re-scored and alerted leads)",
    "fast_passed": "leads sent straight to field sales by score",
    "sqls": "leads qualified by inside sales",
    "opportunities": "opportunities accepted by field sales",
    "wins": "deals won",
    "win_rate": "wins / (wins + losses + no decisions)",
    "churned_customers": "customers lost at renewal",
    "recycled_leads": "entries into recycle, all reasons",
    "recycled_wins": "wins from leads that had been recycled at least once",
    "recycled_new_arr": "new ARR from those wins",
    "is_utilisation": "inside sales: touch hours / rep working hours",
    "is_queue_wait_hours": "inside sales: mean wall-clock wait in the queue per attempt",
    "speed_to_lead_hours": "inside sales: mean time from MQL to first touch",
    "fs_utilisation": "field sales: open opportunities / open-opportunity slots (time average)",
    "fs_queue_wait_days": "field sales: mean wait for a free AE slot",
    "cs_utilisation": "customer success: covered accounts / book capacity (time average)",
    "cs_queue_wait_days": "customer success: mean wait from win to CSM assignment",
    "marketing_cost": "cost of leads bought over the horizon",
}
"""Headline KPIs of a replication, with their meaning."""


def _ratio(num: float, den: float) -> float:
    return num / den if den > 0 else math.nan


def kpis(ledger: Ledger) -> dict[str, float]:
    """Headline KPIs of one replication (see :data:`KPIS`)."""
    f = {name: float(v.sum()) for name, v in ledger.flows.items()}
    a = {name: float(v.sum()) for name, v in ledger.areas.items()}
    cap = {name: float(v.sum()) for name, v in ledger.capacity.items()}
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
        "opportunities": f["opportunities"],
        "wins": f["wins"],
        "win_rate": _ratio(f["wins"], f["wins"] + f["losses"] + f["no_decisions"]),
        "churned_customers": f["churned_customers"],
        "recycled_leads": sum(
            f[f"recycled_{r}"] for r in ("not_now", "unreached", "rejected", "lost", "churned")
        ),
        "recycled_wins": f["recycled_wins"],
        "recycled_new_arr": f["recycled_new_arr"],
        "is_utilisation": _ratio(f["is_work_hours"], cap["inside_sales_hours"]),
        "is_queue_wait_hours": 24 * _ratio(f["is_wait_days_sum"], f["is_waits"]),
        "speed_to_lead_hours": _ratio(f["speed_to_lead_hours_sum"], f["first_touches"]),
        "fs_utilisation": _ratio(a["fs_open"], cap["field_sales_slot_days"]),
        "fs_queue_wait_days": _ratio(f["fs_wait_days_sum"], f["fs_waits"]),
        "cs_utilisation": _ratio(a["cs_covered"], cap["customer_success_account_days"]),
        "cs_queue_wait_days": _ratio(f["cs_wait_days_sum"], f["cs_waits"]),
        "marketing_cost": f["marketing_cost"],
    }
    return out


def monthly(ledger: Ledger) -> dict[str, Series]:
    """Every monthly series: flows, month-end stocks, and derived monthly rates."""
    f, a, cap = ledger.flows, ledger.areas, ledger.capacity
    with np.errstate(invalid="ignore", divide="ignore"):
        derived = {
            "mrr": ledger.stocks["arr"] / 12.0,
            "is_utilisation": f["is_work_hours"] / cap["inside_sales_hours"],
            "fs_utilisation": a["fs_open"] / cap["field_sales_slot_days"],
            "cs_utilisation": a["cs_covered"] / cap["customer_success_account_days"],
            "speed_to_lead_hours": f["speed_to_lead_hours_sum"] / f["first_touches"],
            "is_queue_mean": a["is_queue"] / ledger.month_days,
            "fs_queue_mean": a["fs_queue"] / ledger.month_days,
        }
    out: dict[str, Series] = {}
    out.update({n: f[n].astype(float) for n in FLOWS})
    out.update({n: ledger.stocks[n].astype(float) for n in STOCKS})
    out.update(derived)
    return out
