"""How revloop writes a KPI's value for people: money in $ or $M, shares in %, else a number.

The command line's tables, the what-if page and the realism check share these rules, so a
figure reads the same wherever it is shown. Standard library only: any layer may use it.
"""

from __future__ import annotations

import math

__all__ = ["fmt"]

_MONEY = frozenset(
    {
        "ending_arr",
        "new_arr",
        "expansion_arr",
        "contraction_arr",
        "churned_arr",
        "recycled_new_arr",
        "marketing_cost",
        "sm_cost",
        "total_cost",
        "cac_blended",
        "cac_paid",
        "ltv",
        "bookings_per_ae",
        "pipeline_per_sdr",
        "revenue_per_employee",
        "quota_capacity",
        "variable_pay",
        "upsell_arr",
    }
)
_SHARE = frozenset(
    {
        "nrr",
        "grr",
        "win_rate",
        "is_utilisation",
        "fs_utilisation",
        "cs_utilisation",
        "attrition_rate",
        "ae_at_quota_share",
        "sdr_at_target_share",
        "ae_attainment_median",
        "sdr_attainment_median",
        "bookings_to_quota",
        "health_at_renewal",
        "tech_touch_utilisation",
        "upsell_unfollowed_share",
    }
)


def fmt(kpi: str, value: float, signed: bool = False) -> str:
    """``value`` of ``kpi`` for a table: $M or $ for money, % for shares, else a number.

    ``signed`` prints a ``+`` before positive values (differences); not finite is ``-``.
    """
    if not math.isfinite(value):
        return "-"
    sign = "-" if value < 0 else "+" if signed else ""
    size = abs(value)
    if kpi in _MONEY:
        return f"{sign}${size / 1e6:,.2f}M" if size >= 1e5 else f"{sign}${size:,.0f}"
    if kpi in _SHARE:
        return f"{sign}{size:.1%}"
    return f"{sign}{size:,.1f}" if size < 100 else f"{sign}{size:,.0f}"
