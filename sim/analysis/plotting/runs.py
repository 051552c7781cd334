"""Charts of one run: monthly fans, the funnel, recycling, team load, speed to lead, stages."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import (
    FuncFormatter,
    MaxNLocator,
    NullFormatter,
)

from sim.analysis.motion import MATURE_MONTHS
from sim.analysis.plotting.style import (
    FUNNEL_STAGES,
    PALETTE,
    RECYCLE_REASONS,
    TEAMS,
    _axis_format,
    _count,
    _figure,
    _month_axis,
    _percent,
    _plain_text,
    _require,
    _wide,
    bands,
    label,
    money,
    parameter_label,
    unit,
)
from sim.engine.ledger import Ledger


def fan_chart(
    monthly: pd.DataFrame,
    metric: str = "arr",
    target: float | Sequence[float] | None = None,
    title: str | None = None,
) -> Figure:
    """Fan chart of a monthly metric: P10-P90 band and P50 line, optional target line.

    Parameters
    ----------
    monthly
        Tidy monthly table of one scenario (``replication, month, metric, value``).
    metric
        The series, e.g. ``arr`` (month-end ARR) or ``new_arr`` (new ARR: bookings are new
        + expansion ARR).
    target
        A constant target, or one target per month, drawn as a dashed line.
    title
        Defaults to the metric's name, unit and the number of replications.

    Returns
    -------
    matplotlib.figure.Figure
        One axes: a ``P50`` line, a ``P10-P90`` band and, if given, a ``target`` line.
    """
    q = bands(monthly, metric)
    months = [str(m) for m in q.index]
    x = np.arange(len(months))
    n = monthly.loc[monthly["metric"] == metric, "replication"].nunique()
    fig = _figure()
    ax = fig.axes[0]
    ax.fill_between(x, q["p10"], q["p90"], color=PALETTE[0], alpha=0.25, label="P10-P90")
    ax.plot(x, q["p50"].to_numpy(), color=PALETTE[0], linewidth=2, label="P50")
    if target is not None:
        line = np.broadcast_to(np.asarray(target, dtype=float), x.shape)
        ax.plot(x, line, color=PALETTE[5], linestyle="--", linewidth=1.5, label="target")
    ax.set_title(title or f"{label(metric)} by month, {n} replications")
    ax.set_ylabel(label(metric))
    _axis_format(ax, metric)
    _month_axis(ax, months)
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    return _plain_text(fig)


def funnel_chart(kpis: pd.DataFrame, title: str | None = None) -> Figure:
    """Funnel stage volumes (mean over replications) with the conversion rate between stages.

    Parameters
    ----------
    kpis
        Per-replication KPI table with columns ``leads, mqls, sqls, opportunities, wins``.
    title
        Optional title.

    Returns
    -------
    matplotlib.figure.Figure
        Horizontal bars on a log scale (later stages are orders of magnitude smaller than
        the leads, and would be slivers on a linear one), one per stage from leads (top) to
        wins, each annotated with its volume and its conversion from the previous stage.
    """
    names = [name for name, _ in FUNNEL_STAGES]
    volumes = kpis[names].mean().to_numpy(float)
    fig = _figure(8.0, 4.0)
    ax = fig.axes[0]
    y = np.arange(len(names))[::-1]
    positive = volumes[np.isfinite(volumes) & (volumes > 0)]
    log = positive.size > 0
    if log:
        # the smallest stage spans at least half a decade; the largest leaves room for labels
        low = 10.0 ** math.floor(math.log10(positive.min() / 3))
        high = 10.0 ** (math.log10(low) + (math.log10(positive.max()) - math.log10(low)) / 0.72)
        ax.set_xscale("log")
    bars = ax.barh(y, volumes, color=PALETTE[0])
    ax.set_yticks(y, [shown for _, shown in FUNNEL_STAGES])
    for i, bar in enumerate(bars):
        text = f"{volumes[i]:,.0f}"
        previous, shown = volumes[i - 1] if i else 0.0, FUNNEL_STAGES[i - 1][1]
        if names[i] == "opportunities" and "fast_passed" in kpis:
            # fast-passed leads reach field sales without being SQLs
            previous += float(kpis["fast_passed"].mean())
            shown = "SQLs + fast-passed"
        if i > 0 and previous > 0:
            text += f"  ({volumes[i] / previous:.1%} of {shown})"
        end = bar.get_width() if bar.get_width() > 0 or not log else low
        ax.annotate(
            text,
            (end, bar.get_y() + bar.get_height() / 2),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize=9,
        )
    if log:
        ax.set_xlim(low, high)
        ax.xaxis.set_minor_formatter(NullFormatter())
    else:
        ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(FuncFormatter(_count))
    scale = " (log scale)" if log else ""
    ax.set_xlabel(f"count over the horizon, mean per replication{scale}")
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    ax.set_title(title or f"Funnel: volumes and conversion, {len(kpis)} replications")
    return _plain_text(fig)


def recycle_chart(monthly: pd.DataFrame, title: str | None = None) -> Figure:
    """The recycle loop: leads recycled per reason, and new ARR won from recycled leads.

    Parameters
    ----------
    monthly
        Tidy monthly table with ``recycled_<reason>``, ``recycled_new_arr`` and ``new_arr``.
    title
        Optional figure title.

    Returns
    -------
    matplotlib.figure.Figure
        Left: one bar per recycle reason (total over the horizon, mean per replication).
        Right: new ARR per month, P50, split into recycled leads and first-pass leads
        (stacked bars).
    """
    fig = _figure(11.0, 4.5, ncols=2)
    left, right = fig.axes
    totals = [_wide(monthly, f"recycled_{reason}").sum(axis=1).mean() for reason in RECYCLE_REASONS]
    bars = left.bar([r.replace("_", " ") for r in RECYCLE_REASONS], totals, color=PALETTE[2])
    left.bar_label(bars, labels=[f"{t:,.0f}" for t in totals], fontsize=9)
    left.set_title("Leads recycled per reason (mean per replication)")
    left.set_ylabel("leads recycled over the horizon")
    left.yaxis.set_major_formatter(FuncFormatter(_count))
    left.margins(y=0.15)
    recycled = _wide(monthly, "recycled_new_arr").median()
    first_pass = (_wide(monthly, "new_arr") - _wide(monthly, "recycled_new_arr")).median()
    months = [str(m) for m in recycled.index]
    x = np.arange(len(months))
    right.bar(x, first_pass.to_numpy(), color=PALETTE[0], label="first-pass leads")
    right.bar(
        x,
        recycled.to_numpy(),
        bottom=first_pass.to_numpy(),
        color=PALETTE[1],
        label="recycled leads",
    )
    share = _wide(monthly, "recycled_new_arr").sum(axis=1).sum() / max(
        _wide(monthly, "new_arr").sum(axis=1).sum(), 1e-9
    )
    right.set_title(f"New ARR by month, P50 ($): {share:.0%} from recycled leads")
    right.set_ylabel("new ARR ($)")
    right.yaxis.set_major_formatter(FuncFormatter(money))
    _month_axis(right, months)
    right.set_ylim(0, float((first_pass + recycled).max()) * 1.3 or 1.0)
    right.legend(loc="upper center", ncol=2)
    fig.suptitle(title or "The recycle loop")
    return _plain_text(fig)


def team_load_chart(monthly: pd.DataFrame, title: str | None = None) -> Figure:
    """Per team: utilisation and month-end queue length over time (P50 line, P10-P90 band).

    Parameters
    ----------
    monthly
        Tidy monthly table with ``<team>_utilisation`` and ``<team>_queue_length`` for the
        teams ``is``, ``fs``, ``cs``.
    title
        Optional figure title.

    Returns
    -------
    matplotlib.figure.Figure
        Two axes: utilisation (%) and queue length (leads or accounts waiting), one line per
        team labelled with the team's name.
    """
    fig = _figure(11.0, 4.5, ncols=2)
    util_ax, queue_ax = fig.axes
    months: list[str] = []
    for i, (prefix, team) in enumerate(TEAMS.items()):
        for ax, metric in (
            (util_ax, f"{prefix}_utilisation"),
            (queue_ax, f"{prefix}_queue_length"),
        ):
            q = bands(monthly, metric)
            months = [str(m) for m in q.index]
            x = np.arange(len(months))
            ax.fill_between(x, q["p10"], q["p90"], color=PALETTE[i], alpha=0.2)
            ax.plot(x, q["p50"].to_numpy(), color=PALETTE[i], linewidth=2, label=team)
    util_ax.set_title("Utilisation by month (P50, P10-P90 band)")
    util_ax.set_ylabel("utilisation (%)")
    _percent(util_ax.yaxis)
    util_ax.axhline(1.0, color="grey", linewidth=0.8, linestyle=":")
    queue_ax.set_title("Queue length at month end (P50, P10-P90 band)")
    queue_ax.set_ylabel("leads or accounts waiting")
    queue_ax.yaxis.set_major_formatter(FuncFormatter(_count))
    for ax in (util_ax, queue_ax):
        _month_axis(ax, months)
        ax.grid(alpha=0.3)
        ax.legend(loc="best")
    fig.suptitle(title or "Team load")
    return _plain_text(fig)


def speed_to_lead_hours(ledgers: Sequence[Ledger]) -> tuple[np.ndarray[Any, Any], int]:
    """Speed to lead (MQL to first touch, hours) of every lead that became an MQL.

    Parameters
    ----------
    ledgers
        Ledgers of replications run with ``keep_ledgers=True`` (or from ``simulate``).

    Returns
    -------
    tuple
        The finite speeds to lead in hours (all replications pooled), and how many MQLs were
        never touched before the horizon ended.
    """
    hours: list[np.ndarray[Any, Any]] = []
    untouched = 0
    for ledger in ledgers:
        mql = ledger.leads["first_mql_at"]
        touch = ledger.leads["first_touch_at"]
        reached = np.isfinite(mql)
        wait = (touch[reached] - mql[reached]) * 24.0
        finite = np.isfinite(wait)
        hours.append(wait[finite])
        untouched += int((~finite).sum())
    return (np.concatenate(hours) if hours else np.empty(0)), untouched


def speed_to_lead_chart(
    hours: np.ndarray[Any, Any], untouched: int = 0, title: str | None = None
) -> Figure:
    """Distribution of speed to lead (MQL to first touch), on a log scale of hours.

    Parameters
    ----------
    hours
        Speed to lead of each touched lead, in hours (see :func:`speed_to_lead_hours`).
    untouched
        MQLs never touched, reported in the title.
    title
        Optional title.

    Returns
    -------
    matplotlib.figure.Figure
        A histogram (share of touched leads per bin) with a dashed line at the median and
        dotted reference lines at 1 hour and 1 day.
    """
    values = np.asarray(hours, dtype=float)
    if values.size == 0:
        raise ValueError("no touched lead: nothing to plot")
    fig = _figure(8.0, 4.5)
    ax = fig.axes[0]
    low = 0.1  # six minutes: faster touches are drawn in the first bin
    edges = np.geomspace(low, max(float(values.max()), low * 10) * 1.001, 40)
    clipped = np.clip(values, low, None)
    ax.hist(
        clipped,
        bins=edges.tolist(),
        weights=np.full(values.size, 1.0 / values.size),
        color=PALETTE[0],
    )
    ax.set_xscale("log")
    median = float(np.median(values))
    ax.axvline(median, color=PALETTE[5], linestyle="--", label=f"median {median:,.1f} h")
    ax.axvline(1.0, color="grey", linestyle=":", label="1 hour")
    ax.axvline(24.0, color="grey", linestyle="-.", label="1 day")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:,.4g}"))
    _percent(ax.yaxis)
    ax.set_xlabel("hours from MQL to first touch (log scale; under 0.1 h counted at 0.1 h)")
    ax.set_ylabel("share of touched leads (%)")
    total = values.size + untouched
    ax.set_title(
        title
        or f"Speed to lead: {values.size:,} touched leads, {untouched:,} of {total:,} MQLs "
        "never touched"
    )
    ax.legend(loc="upper right")
    return _plain_text(fig)


WATERFALL_STEPS = (
    ("lead_to_mql", "lead → MQL"),
    ("mql_to_sql", "MQL → SQL"),
    ("sql_to_opportunity", "SQL → opportunity"),
    ("opportunity_to_win", "opportunity → win"),
)
"""Conversion columns of the waterfall stage report and their names."""


def _band(table: pd.DataFrame, column: str) -> np.ndarray[Any, Any] | None:
    """Distances from the mean down to P10 and up to P90 (an error bar), if the table has them."""
    if f"{column}_p10" not in table or f"{column}_p90" not in table:
        return None
    mean = table[column].to_numpy(float)
    low = mean - table[f"{column}_p10"].to_numpy(float)
    high = table[f"{column}_p90"].to_numpy(float) - mean
    band: np.ndarray[Any, Any] = np.nan_to_num(np.clip(np.vstack([low, high]), 0.0, None))
    return band


def waterfall_chart(
    waterfall: pd.DataFrame, mature_months: int = MATURE_MONTHS, title: str | None = None
) -> Figure:
    """Conversion at each funnel step by the quarter the leads arrived (the waterfall report).

    Parameters
    ----------
    waterfall
        The waterfall stage report (``waterfall.csv`` of a results folder, or
        ``Results.stage_reports()["waterfall"]``): one row per arrival quarter (plus ``all``
        and ``mature``, left out here) with the conversion columns of
        :data:`WATERFALL_STEPS`, their ``_p10``/``_p90`` and ``months_observed``.
    mature_months
        Cohorts watched for fewer months are still converting: their part of the chart is
        shaded and their points hollow.
    title
        Optional title.

    Returns
    -------
    matplotlib.figure.Figure
        One line per step (mean over replications, P10-P90 error bars), cohorts in time order.

    Raises
    ------
    ValueError
        If the table has no arrival quarter.
    """
    _require(waterfall, [c for c, _ in WATERFALL_STEPS] + ["months_observed"])
    cohorts = waterfall.drop(index=[c for c in ("all", "mature") if c in waterfall.index])
    cohorts = cohorts.sort_index()
    if cohorts.empty:
        raise ValueError("no arrival quarter in the waterfall table: nothing to plot")
    x = np.arange(len(cohorts))
    young = cohorts["months_observed"].to_numpy(float) < mature_months
    fig = _figure(9.0, 4.8)
    ax = fig.axes[0]
    if young.any():
        first = int(np.argmax(young))
        ax.axvspan(first - 0.5, len(cohorts) - 0.5, color="grey", alpha=0.12, linewidth=0,
                   label=f"watched < {mature_months} months: still converting")  # fmt: skip
    for i, (column, name) in enumerate(WATERFALL_STEPS):
        values = cohorts[column].to_numpy(float)
        colour = PALETTE[i]
        ax.errorbar(x, values, yerr=_band(cohorts, column), color=colour, marker="o",
                    capsize=3, linewidth=2, label=name)  # fmt: skip
        if young.any():  # hollow markers where the cohort is still converting
            ax.plot(x[young], values[young], linestyle="none", marker="o", color=colour,
                    markerfacecolor="white", zorder=3)  # fmt: skip
    ax.set_xticks(x, [str(c) for c in cohorts.index])
    ax.margins(x=0.04, y=0.08)
    ax.set_ylim(bottom=-0.03 * ax.get_ylim()[1])  # a point at 0% is not cut in half
    _percent(ax.yaxis)
    ax.set_xlabel("quarter the leads arrived")
    ax.set_ylabel("conversion (%)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9)
    reps = int(cohorts["replications"].max()) if "replications" in cohorts else None
    ax.set_title(
        title
        or "Conversion by arrival quarter: mean and P10-P90"
        + (f", {reps} replications" if reps else "")
    )
    return _plain_text(fig)


def _stage_bars(
    table: pd.DataFrame, panels: Sequence[tuple[str, str | None]], key: str, title: str
) -> Figure:
    """One panel per column of a stage report: a bar per row (mean), P10-P90 error bars.

    ``panels`` holds (column, name): the panel's title is the name (the column's
    :func:`label` if None) with the column's :func:`unit`.
    """
    _require(table, [column for column, _ in panels])
    names = [parameter_label(str(n)) for n in table.index]
    fig = _figure(3.4 * len(panels) + 1.0, max(3.2, 1.6 + 0.45 * len(table)), ncols=len(panels))
    y = np.arange(len(table))
    for n, (ax, (column, name)) in enumerate(zip(fig.axes, panels, strict=True)):
        band = _band(table, column)
        ax.barh(y, table[column].to_numpy(float), xerr=band, capsize=3,
                color=PALETTE[n % len(PALETTE)])  # fmt: skip
        ax.set_yticks(y, names if n == 0 else [""] * len(names))
        ax.set_ylim(len(table) - 0.5, -0.5)  # first row on top, rows aligned across panels
        ax.set_title(name + unit(column) if name else label(column), fontsize=10)
        _axis_format(ax, column, axis="x")
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
        ax.margins(x=0.08)
        ax.grid(axis="x", alpha=0.3)
        ax.set_axisbelow(True)
    fig.axes[0].set_ylabel(key)
    fig.suptitle(title)
    return _plain_text(fig)


def segments_chart(segments: pd.DataFrame, title: str | None = None) -> Figure:
    """New ARR, win rate and ACV per segment (the segments stage report).

    Parameters
    ----------
    segments
        The segments stage report (``segments.csv``, or
        ``Results.stage_reports()["segments"]``): one row per segment with ``new_arr``,
        ``win_rate`` and ``acv`` and, optionally, their ``_p10``/``_p90``.
    title
        Optional title.

    Returns
    -------
    matplotlib.figure.Figure
        Three panels, one bar per segment (mean over replications, P10-P90 error bars).
    """
    return _stage_bars(
        segments,
        (("new_arr", "new ARR"), ("win_rate", "win rate of opportunities"), ("acv", None)),
        "segment",
        title or "Segments: mean and P10-P90 across replications",
    )


def channels_chart(channels: pd.DataFrame, title: str | None = None) -> Figure:
    """New ARR, lead cost and CAC per marketing channel (the channels stage report).

    Parameters
    ----------
    channels
        The channels stage report (``channels.csv``, or
        ``Results.stage_reports()["channels"]``): one row per channel with ``new_arr``,
        ``cost`` and ``cac`` and, optionally, their ``_p10``/``_p90``.
    title
        Optional title.

    Returns
    -------
    matplotlib.figure.Figure
        Three panels, one bar per channel (mean over replications, P10-P90 error bars); CAC
        counts the price of the leads only.
    """
    return _stage_bars(
        channels,
        (("new_arr", "new ARR"), ("cost", "lead cost / spend"), ("cac", "CAC, leads only")),
        "channel",
        title or "Channels: mean and P10-P90 across replications (CAC: lead cost only)",
    )
