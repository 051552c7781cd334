"""Charts of results: one function per chart, each returning a matplotlib ``Figure``.

Every function takes plain tables (the tidy monthly table of
:meth:`sim.experiment.results.Results.monthly`, the per-replication KPI table of
:meth:`~sim.experiment.results.Results.kpis`, or a DataFrame of sweep points), so the same
call works in a notebook, from a saved results folder and in the HTML report. Matplotlib is
imported here only, never on the simulation path.

Defaults: titles carry units, money axes read ``$1.2M``, counts have thousands separators,
colours come from the Okabe-Ito palette (safe for colour-blind readers), and figures use the
constrained layout so labels do not overlap.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.ticker import (
    FuncFormatter,
    MaxNLocator,
    NullFormatter,
    NullLocator,
)

from sim.analysis.motion import MATURE_MONTHS
from sim.engine.ledger import Ledger
from sim.formats import fmt, format_value
from sim.kpis import KPI_REGISTRY, UNITS, unit_of
from sim.stats import mean_ci, verdict

__all__ = [
    "PALETTE",
    "channels_chart",
    "comparison_bars",
    "fan_chart",
    "fmt_value",
    "funnel_chart",
    "money",
    "month_ticks",
    "paired_difference_chart",
    "paired_differences",
    "parameter_label",
    "recycle_chart",
    "response_curve",
    "response_heatmap",
    "segments_chart",
    "sensitivity_chart",
    "speed_to_lead_chart",
    "speed_to_lead_hours",
    "team_load_chart",
    "tornado_chart",
    "unit",
    "waterfall_chart",
]

PALETTE = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # green
    "#CC79A7",  # purple
    "#56B4E9",  # sky blue
    "#D55E00",  # vermillion
    "#F0E442",  # yellow
    "#000000",
)
"""Okabe-Ito colours, distinguishable with the common colour-vision deficiencies."""

TEAMS = {"is": "inside sales", "fs": "field sales", "cs": "customer success"}
"""Team prefixes of the monthly series and their names."""

RECYCLE_REASONS = ("not_now", "unreached", "rejected", "lost", "churned")

FUNNEL_STAGES = (
    ("leads", "leads"),
    ("mqls", "MQLs"),
    ("sqls", "SQLs"),
    ("opportunities", "opportunities"),
    ("wins", "wins"),
)

LABELS: dict[str, str] = {
    "arr": "ARR",
    "mrr": "MRR",
    "acv": "ACV",
}
"""Display names of other columns where the name is not readable as is (a KPI's label is
its :attr:`sim.kpis.Kpi.label`)."""


_ACRONYMS = {
    form: word.upper() + plural
    for word in ("acv", "ae", "arr", "bdr", "cac", "csm", "fte", "grr", "ltv", "mql", "mrr",
                 "nrr", "roi", "sdr", "smb", "sql")
    for form, plural in ((word, ""), (word + "s", "s"))
}  # fmt: skip
"""Words of parameter names shown in capitals (``mql_threshold`` reads ``MQL threshold``)."""


def parameter_label(name: str) -> str:
    """Readable name of a scenario parameter (a dotted ``--set`` path) or a KPI.

    ``inside_sales.headcount`` reads ``inside sales: headcount`` and
    ``marketing.scoring.mql_threshold`` reads ``marketing: scoring: MQL threshold``; a name
    with no dot is a KPI or a column and reads as :func:`label` shows it (with its unit) if
    it is a KPI or one of :data:`LABELS`, else with spaces for underscores.
    """
    if "." not in name and (name in LABELS or name in KPI_REGISTRY):
        return label(name)
    parts = name.split(".")
    words = [
        " ".join(_ACRONYMS.get(word, word) for word in part.split("_") if word) for part in parts
    ]
    return ": ".join(w for w in words if w) or name


def _name(metric: str) -> str:
    """A metric's readable name without its unit."""
    if metric in KPI_REGISTRY:
        return KPI_REGISTRY[metric].label
    return LABELS.get(metric, metric.replace("_", " "))


def label(metric: str) -> str:
    """Readable name of a metric with its unit, e.g. ``ARR ($)`` or ``speed to lead (hours)``."""
    return _name(metric) + unit(metric)


def unit(metric: str) -> str:
    """The unit :func:`label` appends to a metric's name: `` ($)``, `` (%)``, `` (days)`` ...

    Nothing for counts and ratios, or where the name already says it (``queue wait days``).
    """
    shown = UNITS[unit_of(metric)]
    return f" ({shown})" if shown and shown not in _name(metric) else ""


def money(value: float, _pos: object = None) -> str:
    """``$1.23M``, ``-$45.6k`` or ``$120``: a money amount (a tick formatter too)."""
    return format_value(value, "usd")


def _count(value: float, _pos: object = None) -> str:
    return format_value(value, "count")


fmt_value = fmt
"""``fmt_value(metric, value)``: :func:`sim.formats.fmt`, the one number format."""


def _axis_format(ax: Axes, metric: str, axis: str = "y") -> None:
    target = ax.yaxis if axis == "y" else ax.xaxis
    kind = unit_of(metric)
    if kind == "usd":
        target.set_major_locator(MaxNLocator(nbins=6))
        target.set_major_formatter(FuncFormatter(money))
    elif kind == "share":
        _percent(target)
    else:
        target.set_major_formatter(FuncFormatter(_count))


class _PercentLocator(MaxNLocator):
    """Ticks of a share at 1, 2 or 5 times a power of ten (no 2.5% tick shown as ``2%``)."""

    def __init__(self) -> None:
        super().__init__(nbins="auto", steps=[1, 2, 5, 10])


def _percent(axis: Axis) -> None:
    """Format a share axis (0.25 reads ``25%``) with ticks :class:`_PercentLocator` places."""
    axis.set_major_locator(_PercentLocator())
    axis.set_major_formatter(FuncFormatter(_share))


def _share(value: float, _pos: object = None) -> str:
    """A share as a tick label, as few decimals as it needs: ``5%``, ``0.05%``, ``110%``."""
    return f"{round(value * 100, 6):g}%"


def _figure(width: float = 8.0, height: float = 4.5, ncols: int = 1, nrows: int = 1) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    fig.subplots(nrows, ncols, squeeze=False)
    return fig


def _plain_text(fig: Figure) -> Figure:
    """Show ``$`` literally: two dollar signs in one label must not start mathtext."""
    for text in fig.findobj(Text):
        text.set_parse_math(False)
    return fig


MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

MOST_MONTH_TICKS = 8
"""Labelled ticks on a month axis at most: past that, every other quarter start is labelled
(half years), then January only (years); the other quarter starts keep a minor tick."""


def month_ticks(
    months: Sequence[str], most: int = MOST_MONTH_TICKS
) -> tuple[list[int], list[str], list[int]]:
    """Where to tick a month axis: on quarter starts (January, April, July, October).

    Parameters
    ----------
    months
        ``YYYY-MM`` labels of the months, one per position ``0, 1, ...`` on the axis.
    most
        Labelled ticks at most; quarter starts are thinned to half years, then years.

    Returns
    -------
    tuple
        Positions and labels of the major ticks (``Jan`` + newline + year on the first tick and
        on every January, else the month's name), and the positions of every quarter start
        (minor ticks). With no quarter start among ``months`` (one or two months), every
        month is a major tick; labels that are not ``YYYY-MM`` are shown as they are.
    """
    parsed: list[tuple[int, int] | None] = []
    for text in months:
        head, _, tail = str(text).partition("-")
        ok = head.isdigit() and tail.isdigit() and 1 <= int(tail) <= 12
        parsed.append((int(head), int(tail)) if ok else None)
    if any(p is None for p in parsed):
        step = max(1, math.ceil(len(months) / most))
        major = list(range(0, len(months), step))
        return major, [str(months[i]) for i in major], []
    dates = [p for p in parsed if p is not None]
    quarters = [i for i, (_, number) in enumerate(dates) if number % 3 == 1]
    if not quarters:
        quarters = list(range(len(months)))
    major = quarters
    for every in (6, 12):  # half years, then years
        if len(major) <= most:
            break
        major = [i for i in quarters if dates[i][1] % every == 1]
    if len(major) > most:  # decades of months: every few years
        stride = math.ceil(len(major) / most)
        major = major[::stride]
    labels = []
    for n, i in enumerate(major):
        year, number = dates[i]
        name = MONTH_NAMES[number - 1]
        labels.append(f"{name}\n{year}" if n == 0 or number == 1 else name)
    return major, labels, quarters


def _month_axis(ax: Axes, months: Sequence[str]) -> None:
    """Tick a month axis (positions ``0..n-1``) on quarter starts; see :func:`month_ticks`."""
    ax.set_xlabel("month")
    major, labels, minor = month_ticks(months)
    ax.set_xticks(major, labels)
    ax.set_xticks(minor, minor=True)


def _wide(monthly: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Replications x months table of one metric from the tidy monthly table."""
    rows = monthly[monthly["metric"] == metric]
    if rows.empty:
        raise KeyError(f"no monthly series named {metric!r}")
    return rows.pivot_table(index="replication", columns="month", values="value", sort=True)


def bands(monthly: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per month: P10, P50 and P90 of ``metric`` across replications.

    Parameters
    ----------
    monthly
        Tidy monthly table (``replication, month, metric, value``).
    metric
        A monthly series name, e.g. ``arr``.

    Returns
    -------
    pandas.DataFrame
        Indexed by month (sorted), columns ``p10``, ``p50``, ``p90``.
    """
    wide = _wide(monthly, metric)
    q = wide.quantile([0.1, 0.5, 0.9]).T
    q.columns = pd.Index(["p10", "p50", "p90"])
    return q


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


def comparison_bars(
    kpis: Mapping[str, pd.DataFrame],
    metrics: Sequence[str] = ("ending_arr", "new_arr", "wins", "total_cost"),
    title: str | None = None,
) -> Figure:
    """Side-by-side KPI means with 95% confidence intervals, one panel per KPI.

    Parameters
    ----------
    kpis
        Scenario name -> per-replication KPI table.
    metrics
        KPIs to show, one panel each (their units differ).
    title
        Optional figure title.

    Returns
    -------
    matplotlib.figure.Figure
        One axes per KPI with one bar per scenario (height = mean) and a 95% CI error bar.
    """
    names = list(kpis)
    fig = _figure(3.2 * len(metrics) + 1, 4.2, ncols=len(metrics))
    for ax, metric in zip(fig.axes, metrics, strict=True):
        means, halves = zip(*(mean_ci(kpis[n][metric].to_numpy(float)) for n in names), strict=True)
        x = np.arange(len(names))
        ax.bar(
            x,
            means,
            yerr=np.nan_to_num(halves),
            capsize=4,
            color=[PALETTE[i % len(PALETTE)] for i in range(len(names))],
        )
        ax.set_xticks(x, names, rotation=30, ha="right")
        ax.set_title(label(metric))
        _axis_format(ax, metric)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(title or "Scenarios compared: mean and 95% CI")
    return _plain_text(fig)


def paired_differences(
    baseline: pd.DataFrame,
    others: Mapping[str, pd.DataFrame],
    metrics: Sequence[str] = ("ending_arr", "new_arr", "wins", "total_cost"),
) -> pd.DataFrame:
    """Paired differences (other - baseline) replication by replication, with 95% CIs.

    Parameters
    ----------
    baseline
        Per-replication KPI table of the baseline, with a ``replication`` column.
    others
        Scenario name -> per-replication KPI table run with the same seed (common random
        numbers), so replication ``r`` pairs with the baseline's replication ``r``.
    metrics
        KPIs to difference.

    Returns
    -------
    pandas.DataFrame
        One row per (scenario, kpi): ``mean`` and ``ci95`` of the difference, ``lo``/``hi``
        bounds, ``baseline_mean``, ``pct`` (difference as a share of the baseline mean),
        ``n`` pairs and ``verdict`` (:func:`sim.stats.verdict`).
    """
    rows = []
    base = baseline.set_index("replication")
    for name, table in others.items():
        other = table.set_index("replication")
        common = base.index.intersection(other.index)
        for metric in metrics:
            diff = (other.loc[common, metric] - base.loc[common, metric]).to_numpy(float)
            mean, half = mean_ci(diff)
            base_mean = float(base.loc[common, metric].mean())
            finite = diff[np.isfinite(diff)]
            sd = float(finite.std(ddof=1)) if len(finite) > 1 else math.nan
            rows.append(
                {
                    "scenario": name,
                    "kpi": metric,
                    "mean": mean,
                    "ci95": half,
                    "lo": mean - half,
                    "hi": mean + half,
                    "baseline_mean": base_mean,
                    "pct": mean / base_mean if base_mean else float("nan"),
                    "n": len(finite),
                    "verdict": verdict(mean, mean - half, mean + half, len(finite), sd),
                }
            )
    return pd.DataFrame(rows)


def paired_difference_chart(differences: pd.DataFrame, title: str | None = None) -> Figure:
    """Paired differences against the baseline, one panel per KPI, with 95% CIs.

    Parameters
    ----------
    differences
        Output of :func:`paired_differences`.
    title
        Optional figure title.

    Returns
    -------
    matplotlib.figure.Figure
        One axes per KPI; one horizontal error bar per scenario (point = mean difference)
        and a vertical line at zero. An interval that misses zero is a significant change.
    """
    metrics = list(dict.fromkeys(differences["kpi"]))
    fig = _figure(3.4 * len(metrics) + 1, 1.2 + 0.6 * differences["scenario"].nunique(),
                  ncols=len(metrics))  # fmt: skip
    for ax, metric in zip(fig.axes, metrics, strict=True):
        rows = differences[differences["kpi"] == metric].reset_index(drop=True)
        y = np.arange(len(rows))[::-1]
        for i, (mean, half) in enumerate(zip(rows["mean"], rows["ci95"], strict=True)):
            ax.errorbar(
                mean,
                y[i],
                xerr=0.0 if np.isnan(half) else half,
                fmt="o",
                color=PALETTE[(i + 1) % len(PALETTE)],
                capsize=4,
            )
        ax.axvline(0.0, color="grey", linewidth=1)
        ax.margins(x=0.12)  # a point or cap at the edge of the data is not cut in half
        ax.set_yticks(y, rows["scenario"].tolist())
        ax.set_ylim(-0.7, len(rows) - 0.3)
        ax.set_title(f"Δ {label(metric)}")
        _axis_format(ax, metric, axis="x")
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4))  # narrow panels: few ticks
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(title or "Paired difference vs baseline: mean and 95% CI")
    return _plain_text(fig)


def response_curve(
    points: pd.DataFrame,
    parameter: str,
    kpi: str,
    by: str | None = None,
    title: str | None = None,
) -> Figure:
    """KPI against one swept parameter, with a 95% CI band if the table has ``<kpi>_ci95``.

    Parameters
    ----------
    points
        One row per sweep point: a column ``parameter``, a column ``kpi`` (the mean) and,
        optionally, ``<kpi>_ci95`` (half-width of its 95% CI).
    parameter
        The x-axis column.
    kpi
        The y-axis column.
    by
        Optional second parameter column: one line per value.
    title
        Optional title.

    Returns
    -------
    matplotlib.figure.Figure
        One line (with markers at the points) per value of ``by`` (the legend's entries, under
        the parameter's name), or a single line. The x axis is ticked on the values swept
        (up to :data:`MOST_GRID_TICKS` of them) and parameters read as
        :func:`parameter_label` shows them.
    """
    _require(points, [parameter, kpi] + ([by] if by else []))
    ci = f"{kpi}_ci95"
    fig = _figure()
    ax = fig.axes[0]
    groups = list(points.groupby(by, sort=True)) if by else [("", points)]
    for i, (key, group) in enumerate(groups):
        rows = group.sort_values(parameter)
        colour = PALETTE[i % len(PALETTE)]
        name = _level(key) if by else label(kpi)
        ax.plot(rows[parameter], rows[kpi], marker="o", color=colour, label=name)
        if ci in rows:
            ax.fill_between(
                rows[parameter], rows[kpi] - rows[ci], rows[kpi] + rows[ci], color=colour, alpha=0.2
            )
    _grid_ticks(ax, points[parameter])
    ax.margins(x=0.05, y=0.08)  # markers at the first and last values are not cut
    ax.set_xlabel(parameter_label(parameter))
    ax.set_ylabel(label(kpi))
    _axis_format(ax, kpi)
    ax.grid(alpha=0.3)
    if by:
        ax.legend(loc="best", title=parameter_label(by))
    ax.set_title(title or f"{label(kpi)} against {parameter_label(parameter)}")
    return _plain_text(fig)


MOST_GRID_TICKS = 12
"""A sweep axis is ticked on every value swept up to this many values (else evenly)."""


def _level(value: Any) -> str:
    """A swept value as a tick label: ``12``, ``0.25``, ``1.5e+06``, or its text."""
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return f"{float(value):g}"
    return str(value)


def _grid_ticks(ax: Axes, values: pd.Series[Any]) -> None:
    """Tick the x axis on the numeric values actually swept, if there are few enough."""
    if not pd.api.types.is_numeric_dtype(values):
        return
    levels = np.unique(values.dropna().to_numpy(float))
    if not 0 < len(levels) <= MOST_GRID_TICKS:
        return
    ax.set_xticks(levels, [_level(v) for v in levels])
    ax.xaxis.set_minor_locator(NullLocator())


def _require(points: pd.DataFrame, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in points.columns]
    if missing:
        raise KeyError(f"missing column(s): {', '.join(missing)}")


def response_heatmap(
    points: pd.DataFrame, x: str, y: str, kpi: str, title: str | None = None
) -> Figure:
    """Heatmap of a KPI's mean over two swept parameters, each cell labelled with its value.

    Parameters
    ----------
    points
        One row per sweep point with columns ``x``, ``y`` and ``kpi`` (the mean); repeated
        (x, y) pairs are averaged.
    x, y
        Parameter columns for the horizontal and vertical axes.
    kpi
        The value column.
    title
        Optional title.

    Returns
    -------
    matplotlib.figure.Figure
        An image of the ``y`` x ``x`` grid with a colour bar (viridis, colour-blind safe).
    """
    _require(points, [x, y, kpi])
    grid = points.pivot_table(index=y, columns=x, values=kpi, aggfunc="mean").sort_index()
    grid = grid.sort_index(axis=1)
    fig = _figure(7.5, 5.5)
    ax = fig.axes[0]
    image = ax.imshow(grid.to_numpy(float), origin="lower", aspect="auto", cmap="viridis")
    ax.set_xticks(np.arange(grid.shape[1]), [_level(v) for v in grid.columns])
    ax.set_yticks(np.arange(grid.shape[0]), [_level(v) for v in grid.index])
    ax.set_xlabel(parameter_label(x))
    ax.set_ylabel(parameter_label(y))
    values = grid.to_numpy(float)
    middle = np.nanmean(values)
    for (i, j), v in np.ndenumerate(values):
        ax.text(
            j,
            i,
            fmt_value(kpi, v),
            ha="center",
            va="center",
            fontsize=8,
            color="black" if v > middle else "white",
        )
    bar = fig.colorbar(image, ax=ax)
    bar.set_label(label(kpi))
    kind = unit_of(kpi)
    if kind == "usd":
        bar.formatter = FuncFormatter(money)
    elif kind == "share":
        bar.locator = _PercentLocator()
        bar.formatter = FuncFormatter(_share)
    bar.update_ticks()
    what = f"{label(kpi)}: mean over {parameter_label(y)} and {parameter_label(x)}"
    ax.set_title(title or textwrap.fill(what, 64))  # long parameter names: two lines
    return _plain_text(fig)


def tornado_chart(
    sensitivity: pd.DataFrame, kpi: str, base: float, title: str | None = None
) -> Figure:
    """Tornado chart: the KPI's swing when each parameter moves to its low and high value.

    Parameters
    ----------
    sensitivity
        One row per parameter: columns ``parameter``, ``low`` and ``high`` (the KPI's mean
        with the parameter at its low and high value); optional ``low_label`` and
        ``high_label`` describe the settings.
    kpi
        The KPI's name, for titles and number formats.
    base
        The KPI at the base setting: bars start there.
    title
        Optional title.

    Returns
    -------
    matplotlib.figure.Figure
        Two bars per parameter (low below, high above) from ``base``, widest swing on top.
    """
    _require(sensitivity, ["parameter", "low", "high"])
    table = sensitivity.assign(swing=(sensitivity["high"] - sensitivity["low"]).abs())
    table = table.sort_values("swing").reset_index(drop=True)
    fig = _figure(8.0, 1.2 + 0.5 * len(table))
    ax = fig.axes[0]
    y = np.arange(len(table))
    # side by side, not overlaid: when both settings move the KPI the same way, one bar
    # would otherwise hide the other
    low_bars, high_bars = table["low"] - base, table["high"] - base
    ax.barh(y - 0.2, low_bars, height=0.4, left=base, color=PALETTE[5], label="low setting")
    ax.barh(y + 0.2, high_bars, height=0.4, left=base, color=PALETTE[0], label="high setting")
    ax.axvline(base, color="black", linewidth=1)
    names = [parameter_label(str(p)) for p in table["parameter"]]
    if {"low_label", "high_label"} <= set(table.columns):
        names = [
            f"{p} ({_level(lo)} / {_level(hi)})"
            for p, lo, hi in zip(names, table["low_label"], table["high_label"], strict=True)
        ]
    ax.set_yticks(y, names)
    ax.set_xlabel(label(kpi))
    _axis_format(ax, kpi, axis="x")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title(title or f"Sensitivity of {label(kpi)} (base {fmt_value(kpi, base)})")
    return _plain_text(fig)


_SENSITIVITY: dict[str, tuple[tuple[str, str, str], ...]] = {
    # method: (column, CI column, legend), first drawn on top
    "sobol": (("ST", "ST_ci95", "total (ST)"), ("S1", "S1_ci95", "first order (S1)")),
    "morris": (("mu_star", "mu_star_ci95", "mu* (mean |effect|)"), ("sigma", "", "sigma (spread)")),
    "lhs": (("rho", "", "Spearman rho"),),
    "grid": (("effect", "effect_ci95", "last - first level"),),
}


def _sensitivity_method(table: pd.DataFrame) -> str:
    for method, bars in _SENSITIVITY.items():
        if {column for column, _, _ in bars} <= set(table.columns):
            return method
    raise ValueError(
        "not a sensitivity table: expected the columns of sobol (S1, ST), morris "
        f"(mu_star, sigma), lhs (rho) or grid (effect); got {list(table.columns)}"
    )


def sensitivity_chart(indices: pd.DataFrame, kpi: str, title: str | None = None) -> Figure:
    """The output of :func:`~sim.experiment.sweep.sensitivity` as bars with 95% CIs.

    The method is read off the columns: Sobol (first-order and total indices, a share of
    the KPI's variance), Morris (mu* and sigma of the elementary effects, in the KPI's unit per
    full range of the parameter), LHS (Spearman rank correlation, CI from ``rho_low`` /
    ``rho_high``) or grid (main effect, last minus first level).

    Parameters
    ----------
    indices
        One row per parameter, with ``parameter`` and the method's columns.
    kpi
        The KPI analysed, for titles and number formats.
    title
        Optional title.

    Returns
    -------
    matplotlib.figure.Figure
        One group of horizontal bars per parameter, most influential on top, and a line at 0.

    Raises
    ------
    ValueError
        If the table has none of the four methods' columns.
    """
    _require(indices, ["parameter"])
    method = _sensitivity_method(indices)
    bars = _SENSITIVITY[method]
    fig = _figure(8.0, 1.5 + 0.6 * len(indices))
    ax = fig.axes[0]
    y = np.arange(len(indices))
    height = 0.8 / len(bars)
    for i, (column, ci, name) in enumerate(bars):
        values = indices[column].to_numpy(float)
        if ci:
            xerr: Any = indices[ci].to_numpy(float)
        elif method == "lhs":  # asymmetric Fisher-z interval
            xerr = np.vstack(
                [values - indices["rho_low"].to_numpy(float),
                 indices["rho_high"].to_numpy(float) - values]
            )  # fmt: skip
        else:
            xerr = None
        offset = (len(bars) - 1) / 2 * height - i * height
        ax.barh(y - offset, values, height=height, xerr=xerr, capsize=3,
                color=PALETTE[i], label=name)  # fmt: skip
    ax.set_yticks(y, [parameter_label(str(p)) for p in indices["parameter"]])
    ax.invert_yaxis()  # the table comes most influential first
    ax.axvline(0, color="grey", linewidth=1)
    ax.grid(axis="x", alpha=0.3)
    what = label(kpi)
    if method == "sobol":
        ax.set_xlabel(f"share of the variance of {what} (95% bootstrap CI)")
    elif method == "lhs":
        ax.set_xlabel(f"rank correlation with {what} (95% CI)")
        ax.set_xlim(-1.05, 1.05)
    else:
        ax.set_xlabel(f"{what} (95% CI)")
        _axis_format(ax, kpi, axis="x")
    if len(bars) > 1:
        ax.legend(loc="lower right")
    names = {"sobol": "Sobol indices", "morris": "Morris screening",
             "lhs": "Rank correlations (LHS)", "grid": "Main effects (grid)"}  # fmt: skip
    ax.set_title(title or f"{names[method]} of {what}")
    return _plain_text(fig)


def plan_odds_chart(plans: pd.DataFrame, confidence: float, title: str | None = None) -> Figure:
    """Each hiring plan's odds of reaching the target against its cost, with their CIs.

    Parameters
    ----------
    plans
        :meth:`sim.experiment.plan.PlanSearch.table`: one row per plan with ``cost``,
        ``status``, ``p``, ``p_low``, ``p_high`` and ``recommended``; plans never run are
        left out.
    confidence
        The odds asked for, drawn as a dashed line.
    title
        Optional figure title.

    Returns
    -------
    matplotlib.figure.Figure
        One axes: a point and error bar per plan run, coloured by status, the recommended
        plan ringed.
    """
    fig = _figure()
    ax = fig.axes[0]
    ran = plans[plans["replications"] > 0]
    for i, (status, rows) in enumerate(ran.groupby("status", sort=False)):
        below = (rows["p"] - rows["p_low"]).clip(lower=0)
        above = (rows["p_high"] - rows["p"]).clip(lower=0)
        ax.errorbar(rows["cost"], rows["p"], yerr=[below, above], fmt="o", capsize=3,
                    color=PALETTE[i % len(PALETTE)], label=str(status))  # fmt: skip
    best = ran[ran["recommended"]]
    if len(best):
        ax.scatter(best["cost"], best["p"], s=180, facecolors="none", edgecolors="black",
                   label="recommended")  # fmt: skip
    ax.axhline(confidence, color="grey", linestyle="--", linewidth=1)
    ax.set_xlabel("cost of the plan")
    ax.set_ylabel("P(reach the target)")
    _axis_format(ax, "cost", axis="x")
    _percent(ax.yaxis)
    ax.set_ylim(-0.03, 1.03)
    ax.grid(alpha=0.3)
    if len(ran):
        ax.legend(loc="lower right")
    fig.suptitle(title or f"Plans searched: odds of the target (95% CI), {confidence:.0%} asked")
    return _plain_text(fig)
