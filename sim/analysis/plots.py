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

from sim.analysis.plotting.comparisons import (
    comparison_bars,
    paired_difference_chart,
    paired_differences,
    plan_odds_chart,
)
from sim.analysis.plotting.runs import (
    WATERFALL_STEPS,
    channels_chart,
    fan_chart,
    funnel_chart,
    recycle_chart,
    segments_chart,
    speed_to_lead_chart,
    speed_to_lead_hours,
    team_load_chart,
    waterfall_chart,
)
from sim.analysis.plotting.style import (
    FUNNEL_STAGES,
    LABELS,
    MONTH_NAMES,
    MOST_MONTH_TICKS,
    PALETTE,
    RECYCLE_REASONS,
    TEAMS,
    bands,
    fmt_value,
    label,
    money,
    month_ticks,
    parameter_label,
    unit,
)
from sim.analysis.plotting.sweeps import (
    MOST_GRID_TICKS,
    response_curve,
    response_heatmap,
    sensitivity_chart,
    tornado_chart,
)

__all__ = [
    "FUNNEL_STAGES",
    "LABELS",
    "MONTH_NAMES",
    "MOST_GRID_TICKS",
    "MOST_MONTH_TICKS",
    "PALETTE",
    "RECYCLE_REASONS",
    "TEAMS",
    "WATERFALL_STEPS",
    "bands",
    "channels_chart",
    "comparison_bars",
    "fan_chart",
    "fmt_value",
    "funnel_chart",
    "label",
    "money",
    "month_ticks",
    "paired_difference_chart",
    "paired_differences",
    "parameter_label",
    "plan_odds_chart",
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
