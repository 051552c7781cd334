"""Charts that set scenarios or plans side by side: bars, paired differences, plan odds."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import (
    MaxNLocator,
)

from sim.analysis.plotting.style import (
    PALETTE,
    _axis_format,
    _figure,
    _percent,
    _plain_text,
    label,
)
from sim.stats import mean_ci, verdict


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
