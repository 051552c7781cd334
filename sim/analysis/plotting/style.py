"""The look shared by every chart: palette, labels and units, axis formats, month ticks."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.ticker import (
    FuncFormatter,
    MaxNLocator,
)

from sim.formats import fmt, format_value
from sim.kpis import KPI_REGISTRY, UNITS, unit_of

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


def _require(points: pd.DataFrame, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in points.columns]
    if missing:
        raise KeyError(f"missing column(s): {', '.join(missing)}")
