"""The charts of one run, by kind: one registry for ``revloop chart``, the report and notebooks.

Each kind (``arr``, ``funnel``, ``team_load``...) names a chart of :mod:`sim.analysis.plots`
and how it is drawn from a run's tables; :func:`chart` draws one from a results folder (or
:class:`~sim.analysis.export.SavedResults`, :class:`~sim.experiment.results.Results`) and
:func:`save_chart` writes it as PNG, SVG or PDF::

    from sim.analysis.charts import chart, save_chart

    fig = chart("arr", "results/base")  # a matplotlib Figure, shown inline in a notebook
    save_chart(fig, "arr.svg")
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sim.analysis import plots
from sim.analysis.export import SavedResults, read_results
from sim.errors import ResultsError
from sim.experiment.results import Results
from sim.io import atomic_write

__all__ = [
    "CHARTS",
    "FORMATS",
    "REPORT_CHARTS",
    "ChartData",
    "ChartKind",
    "NoChartData",
    "chart",
    "chart_data",
    "chart_format",
    "kind_of",
    "save_chart",
    "saved_speed_to_lead",
]

SpeedToLead = tuple[np.ndarray[Any, Any], int]
"""Speed to lead of every touched lead (hours) and the number of MQLs never touched."""


class NoChartData(ResultsError):
    """The run has nothing to draw this kind of chart from (a stage report missing, say)."""


@dataclass(frozen=True)
class ChartData:
    """What the charts of one run are drawn from.

    ``speed_to_lead`` is called only by the speed-to-lead chart (from a results folder it
    re-runs one replication), and at most once.
    """

    monthly: pd.DataFrame
    kpis: pd.DataFrame
    motion: Mapping[str, pd.DataFrame] = field(default_factory=dict)
    speed_to_lead: Callable[[], SpeedToLead] | None = None
    speed_note: str = ""

    def stage(self, name: str) -> pd.DataFrame:
        """The stage report ``name`` (``waterfall``, ``segments``...).

        Raises
        ------
        NoChartData
            If the run has no such report, or it has no row.
        """
        table = self.motion.get(name)
        if table is None:
            raise NoChartData(
                f"no {name} report in this run (a folder saved by an older revloop?): "
                "run it again with revloop run FILE --out DIR"
            )
        if table.empty:
            raise NoChartData(f"the {name} report of this run has no row: nothing to draw")
        return table

    def speed(self) -> SpeedToLead:
        """Speed to lead in hours of the touched leads, and the MQLs never touched.

        Raises
        ------
        NoChartData
            If the run has no way to get it, or no lead was touched.
        """
        if self.speed_to_lead is None:
            raise NoChartData("speed to lead needs the run's ledgers: none kept")
        hours, untouched = self.speed_to_lead()
        if hours.size == 0:
            raise NoChartData("no lead was touched in this run: no speed to lead to draw")
        return hours, untouched


@dataclass(frozen=True)
class ChartKind:
    """One kind of chart: its name, what it shows, and how it is drawn from a run."""

    name: str
    caption: str
    """Caption in the HTML report (``{note}``: where the speed to lead comes from)."""
    about: str
    """One line for ``revloop chart --list``."""
    draw: Callable[[ChartData], Figure]
    in_report: bool = True
    """Drawn in each scenario's section of the HTML report."""


def _speed_chart(data: ChartData) -> Figure:
    hours, untouched = data.speed()
    return plots.speed_to_lead_chart(hours, untouched)


_KINDS = (
    ChartKind(
        "arr",
        "ARR by month",
        "month-end ARR by month: P50 line and P10-P90 band across replications",
        lambda d: plots.fan_chart(d.monthly, "arr"),
    ),
    ChartKind(
        "new_arr",
        "New ARR by month",
        "new ARR booked each month: P50 line and P10-P90 band",
        lambda d: plots.fan_chart(d.monthly, "new_arr"),
    ),
    ChartKind(
        "funnel",
        "Funnel",
        "leads → MQLs → SQLs → opportunities → wins (log scale) with each conversion",
        lambda d: plots.funnel_chart(d.kpis),
    ),
    ChartKind(
        "recycle",
        "Recycle loop",
        "leads recycled per reason; new ARR by month from first-pass and recycled leads",
        lambda d: plots.recycle_chart(d.monthly),
    ),
    ChartKind(
        "team_load",
        "Team load",
        "utilisation and month-end queue of each team by month: P50 and P10-P90",
        lambda d: plots.team_load_chart(d.monthly),
    ),
    ChartKind(
        "speed_to_lead",
        "Speed to lead ({note})",
        "hours from MQL to first touch (log scale); from a results folder, its first "
        "replication is re-run with the saved seed",
        _speed_chart,
    ),
    ChartKind(
        "waterfall",
        "Conversion by arrival quarter",
        "conversion at each funnel step by the quarter the leads arrived (waterfall report)",
        lambda d: plots.waterfall_chart(d.stage("waterfall")),
        in_report=False,
    ),
    ChartKind(
        "segments",
        "Segments",
        "new ARR, win rate and ACV per segment: mean and P10-P90",
        lambda d: plots.segments_chart(d.stage("segments")),
        in_report=False,
    ),
    ChartKind(
        "channels",
        "Channels",
        "new ARR, lead cost and CAC per marketing channel: mean and P10-P90",
        lambda d: plots.channels_chart(d.stage("channels")),
        in_report=False,
    ),
)

CHARTS: dict[str, ChartKind] = {kind.name: kind for kind in _KINDS}
"""Every kind of chart of one run, by name, in the order ``revloop chart --list`` shows them."""

REPORT_CHARTS = tuple(kind for kind in _KINDS if kind.in_report)
"""The kinds drawn in each scenario's section of the HTML report, in order."""

FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
"""File suffixes :func:`save_chart` writes, and their matplotlib formats."""


def saved_speed_to_lead(saved: SavedResults) -> tuple[np.ndarray[Any, Any], int, str]:
    """Speed to lead of a results folder: its first replication run again with its seed.

    A results folder keeps no ledger; replication ``r`` of the saved run gives the same
    numbers when run again on the same seed.

    Returns
    -------
    tuple
        Hours of the touched leads, MQLs never touched, and a note saying where they come from.
    """
    from sim.experiment.runner import replicate
    from sim.scenario import load_scenario

    scenario = load_scenario(saved.path / "scenario.json")
    first = _first(saved)
    ledger = replicate(scenario, saved.seed, first, keep_ledger=True).ledger
    hours, untouched = plots.speed_to_lead_hours([ledger] if ledger else [])
    return hours, untouched, _replayed(first)


def _first(saved: SavedResults) -> int:
    return int(saved.kpis["replication"].min()) if len(saved.kpis) else 0


def _replayed(first: int) -> str:
    return f"replication {first} of the saved run, re-run with its seed"


def chart_data(source: ChartData | SavedResults | Results | str | os.PathLike[str]) -> ChartData:
    """What the charts of ``source`` are drawn from.

    Parameters
    ----------
    source
        A results folder (its path, or read with :func:`~sim.analysis.export.read_results`),
        the :class:`~sim.experiment.results.Results` of a run, or a :class:`ChartData`.

    Raises
    ------
    ResultsError
        If a path is not a results folder.
    """
    if isinstance(source, ChartData):
        return source
    if isinstance(source, Results):
        return _of_results(source)
    saved = source if isinstance(source, SavedResults) else read_results(source)

    @functools.cache
    def speed() -> SpeedToLead:
        hours, untouched, _ = saved_speed_to_lead(saved)
        return hours, untouched

    return ChartData(saved.monthly, saved.kpis, saved.motion, speed, _replayed(_first(saved)))


def _of_results(results: Results) -> ChartData:
    ledgers = [r.ledger for r in results.replications if r.ledger is not None]
    first = results.replications[0].replication if results.replications else 0

    @functools.cache
    def speed() -> SpeedToLead:
        if ledgers:
            return plots.speed_to_lead_hours(ledgers)
        from sim.experiment.runner import replicate  # no ledger kept: run one again

        ledger = replicate(results.scenario, results.seed, first, keep_ledger=True).ledger
        return plots.speed_to_lead_hours([ledger] if ledger else [])

    note = f"all {len(ledgers)} replications pooled"
    if not ledgers:
        note = f"replication {first} of the run, re-run with its seed"
    return ChartData(results.monthly(), results.kpis(), results.stage_reports(), speed, note)


def kind_of(name: str) -> ChartKind:
    """The chart kind ``name``.

    Raises
    ------
    ValueError
        If there is no such kind; the message lists them.
    """
    if name not in CHARTS:
        raise ValueError(f"unknown chart {name!r}: use one of {', '.join(CHARTS)}")
    return CHARTS[name]


def chart(kind: str, source: ChartData | SavedResults | Results | str | os.PathLike[str]) -> Figure:
    """Draw the chart ``kind`` (a key of :data:`CHARTS`) of a run.

    Parameters
    ----------
    kind
        ``arr``, ``new_arr``, ``funnel``, ``recycle``, ``team_load``, ``speed_to_lead``,
        ``waterfall``, ``segments`` or ``channels``.
    source
        A results folder (path or :class:`~sim.analysis.export.SavedResults`), the
        :class:`~sim.experiment.results.Results` of a run, or a :class:`ChartData`.

    Returns
    -------
    matplotlib.figure.Figure
        The chart, as the report draws it.

    Raises
    ------
    ValueError
        If ``kind`` is unknown.
    ResultsError
        If a path is not a results folder; :class:`NoChartData` if the run has nothing to
        draw this chart from.
    """
    return kind_of(kind).draw(chart_data(source))


def chart_format(path: str | os.PathLike[str]) -> str:
    """The format a chart is written in, from the file's suffix (:data:`FORMATS`).

    Raises
    ------
    ValueError
        If the suffix is not one of them.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        shown = f"unknown suffix {suffix!r}" if suffix else "no suffix"
        raise ValueError(f"{path}: {shown}: write a chart to .png, .svg or .pdf")
    return FORMATS[suffix]


def save_chart(fig: Figure, path: str | os.PathLike[str], dpi: int = 200) -> Path:
    """Write ``fig`` to ``path`` as PNG, SVG or PDF (from the suffix), atomically.

    The file appears whole or not at all (:func:`sim.io.atomic_write`); its folder is made
    if missing. SVG and PDF carry no creation date, so the same chart gives the same file.

    Parameters
    ----------
    fig
        The chart.
    path
        Where to write it: ``.png``, ``.svg`` or ``.pdf``.
    dpi
        Resolution of a PNG (200: 1600 x 900 pixels for the 8 x 4.5 inch charts).

    Raises
    ------
    ValueError
        If the suffix is not a format written (:func:`chart_format`).
    OutputError
        If the file cannot be written.
    """
    fmt = chart_format(path)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    metadata: dict[str, Any] = {"svg": {"Date": None}, "pdf": {"CreationDate": None}}.get(fmt, {})

    def write(tmp: Path) -> None:
        fig.savefig(tmp, format=fmt, dpi=dpi, metadata=metadata)

    return atomic_write(target, write)
