"""Charts of a sweep: response curves and heatmaps, tornado and sensitivity indices."""

from __future__ import annotations

import textwrap
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import (
    FuncFormatter,
    NullLocator,
)

from sim.analysis.plotting.style import (
    PALETTE,
    _axis_format,
    _figure,
    _PercentLocator,
    _plain_text,
    _require,
    _share,
    fmt_value,
    label,
    money,
    parameter_label,
)
from sim.kpis import unit_of


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
