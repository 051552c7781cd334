"""How revloop writes a number for people: money in $k/$M/$B, shares in %, else a number.

The command line's tables, the charts, the report, the notebook views, the what-if page and
the realism check all call :func:`format_value` (or :func:`fmt`, which looks up a KPI's
unit in :data:`sim.kpis.KPI_REGISTRY`), so a figure reads the same wherever it is shown.
Standard library only: any layer may use it.
"""

from __future__ import annotations

import math

from sim.kpis import unit_of

__all__ = ["fmt", "format_value"]


def format_value(value: float, unit: str, signed: bool = False) -> str:
    """``value`` in ``unit`` (see :data:`sim.kpis.Unit`) for people, the one rule revloop uses.

    Dollars are short: ``$1.23B``, ``$15.10M``, ``$888.8k``, ``$4,200``. A share is a percent
    with one decimal (0.2345 reads ``23.4%``). Any other number (counts, ratios, durations,
    people) has thousands separators from 100 up (``1,234``) and three significant digits
    below (``3.25``, ``0.5``). ``signed`` prints a ``+`` before positive values
    (differences); a negative value reads ``-$1.49M``; NaN or an infinity is ``-``.
    """
    if not math.isfinite(value):
        return "-"
    sign = "-" if value < 0 else "+" if signed and value > 0 else ""
    size = abs(value)
    if unit == "usd":
        for scale, suffix, digits in ((1e9, "B", 2), (1e6, "M", 2), (1e3, "k", 1)):
            shown = round(size / scale, digits)  # 999,999 reads $1.00M, not $1,000.0k
            if shown >= 1 and (suffix != "k" or size >= 1e4):
                return f"{sign}${shown:,.{digits}f}{suffix}"
        return f"{sign}${size:,.0f}"
    if unit == "share":
        return f"{sign}{size:.1%}"
    return f"{sign}{size:,.0f}" if size >= 100 else f"{sign}{size:.3g}"


def fmt(kpi: str, value: float, signed: bool = False) -> str:
    """``value`` of ``kpi`` (or of another column, by its name) in the unit of its kind.

    The unit comes from :func:`sim.kpis.unit_of`; the rule is :func:`format_value`'s.
    """
    return format_value(value, unit_of(kpi), signed)
