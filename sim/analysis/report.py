"""One self-contained HTML report of one or more scenarios: no external request, images inline.

Each input is a results folder (``revloop run --out DIR``) or a scenario file (run here).
The report holds, per scenario, the scenario summary, the headline KPIs with their bands, the
stage reports of :mod:`sim.analysis.motion` (waterfall, channels, segments, phases) and the
charts of :mod:`sim.analysis.plots`; the diagnosis of the first scenario (bottleneck and
paired +1 head runs); and, for several scenarios, their comparison (paired on replication
numbers when they share a seed). The template is inline (Jinja2), so the report needs no
package data. Headless Chromium, when installed, takes screenshots and prints a PDF.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sim import __version__
from sim.analysis import charts, plots
from sim.analysis.diagnose import Diagnosis, diagnose
from sim.analysis.export import ResultsError, read_results
from sim.analysis.metrics import KPI_GROUPS
from sim.analysis.motion import MATURE_MONTHS
from sim.errors import OutputError
from sim.experiment.compare import CHART_KPIS
from sim.experiment.runner import run
from sim.formats import fmt, format_value
from sim.io import atomic_write, comparison_members
from sim.kpis import KPI_REGISTRY
from sim.scenario import load_scenario
from sim.scenario.summary import summarize
from sim.stats import mean_ci

__all__ = [
    "CHROMIUM_NAMES",
    "BrowserCheck",
    "ScenarioData",
    "browser_check",
    "build_report",
    "chromium",
    "load_input",
    "pdf",
    "render",
    "screenshot",
]

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
"""Executables tried, in order, for screenshots and PDFs."""

COMPARE_KPIS = CHART_KPIS


@dataclass
class ScenarioData:
    """What the report shows of one scenario."""

    name: str
    source: str
    scenario_file: str
    sets: tuple[str, ...]
    seed: int
    monthly: pd.DataFrame
    kpis: pd.DataFrame
    summary_lines: list[str]
    speed_hours: np.ndarray[Any, Any]
    untouched: int
    speed_note: str
    extra: dict[str, Any] = field(default_factory=dict)
    motion: dict[str, pd.DataFrame] = field(default_factory=dict)


def load_input(
    source: str | os.PathLike[str],
    sets: Sequence[str] = (),
    replications: int = 10,
    seed: int = 0,
    workers: int | None = None,
) -> ScenarioData:
    """Read a results folder, or run a scenario file, into what the report shows.

    Parameters
    ----------
    source
        A results folder (its ``scenario.json`` and seed are reused) or a scenario file.
    sets
        Overrides for a scenario file (ignored for a results folder, already resolved).
    replications, seed, workers
        Of the run of a scenario file.

    Returns
    -------
    ScenarioData
        Speed to lead comes from the kept ledgers of a scenario file's run, or, for a
        results folder, from its replication 0 run again (same seed, same numbers). The
        stage reports (waterfall, channels, segments, phases) come from the run, or from the
        folder's CSV files (none for a folder saved before they existed).

    Raises
    ------
    ResultsError
        If ``source`` is neither a results folder nor a file.
    """
    path = Path(source)
    if path.is_dir():
        saved = read_results(path)
        scenario_file = str(path / "scenario.json")
        sc = load_scenario(scenario_file)
        hours, untouched, note = charts.saved_speed_to_lead(saved)
        return ScenarioData(
            name=saved.name,
            source=str(path),
            scenario_file=scenario_file,
            sets=(),
            seed=saved.seed,
            monthly=saved.monthly,
            kpis=saved.kpis,
            summary_lines=summarize(sc),
            speed_hours=hours,
            untouched=untouched,
            speed_note=note,
            motion=saved.motion,
        )
    if not path.is_file():
        raise ResultsError(f"{path}: no such results folder or scenario file")
    sc = load_scenario(path, list(sets))
    results = run(
        sc, replications=replications, seed=seed, workers=workers, keep_ledgers=True
    ).whole()
    ledgers = [r.ledger for r in results.replications if r.ledger is not None]
    hours, untouched = plots.speed_to_lead_hours(ledgers)
    return ScenarioData(
        name=sc.name,
        source=str(path),
        scenario_file=str(path),
        sets=tuple(sets),
        seed=seed,
        monthly=results.monthly(),
        kpis=results.kpis(),
        summary_lines=summarize(sc),
        speed_hours=hours,
        untouched=untouched,
        speed_note=f"all {len(ledgers)} replications pooled",
        motion=results.stage_reports(),
    )


def _png(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


_ARROWS = {1: " ↑", -1: " ↓", 0: ""}
"""After a KPI's label: which way is better (higher, lower, neither)."""


def _kpi_rows(kpis: pd.DataFrame) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for group, names in KPI_GROUPS.items():
        rows.append({"group": group})
        for name in names:
            x = kpis[name].to_numpy(float) if name in kpis else np.empty(0)
            x = x[np.isfinite(x)]
            if x.size == 0:
                continue
            mean, half = mean_ci(x)
            p10, p50, p90 = np.percentile(x, [10, 50, 90])
            kpi = KPI_REGISTRY[name]
            rows.append(
                {
                    "group": "",
                    "name": name,
                    "label": plots.label(name) + _ARROWS[kpi.direction],
                    "meaning": kpi.description,
                    "mean": fmt(name, mean),
                    "ci": "±" + fmt(name, half) if np.isfinite(half) else "-",
                    "p10": fmt(name, p10),
                    "p50": fmt(name, p50),
                    "p90": fmt(name, p90),
                }
            )
    return rows


# per stage report: (column, header, kind, show the P10-P90 band under the mean)
_MOTION_COLUMNS: dict[str, tuple[tuple[str, str, str, bool], ...]] = {
    "waterfall": (
        ("months_observed", "months watched", "count", False),
        ("leads", "leads", "count", False),
        ("mqls", "MQLs", "count", False),
        ("sqls", "SQLs", "count", False),
        ("opportunities", "opps", "count", False),
        ("wins", "wins", "count", False),
        ("lead_to_mql", "lead→MQL", "share", True),
        ("mql_to_sql", "MQL→SQL", "share", True),
        ("sql_to_opportunity", "SQL→opp", "share", True),
        ("opportunity_to_win", "opp→win", "share", True),
        ("lead_to_mql_median_days", "days to MQL", "count", False),
        ("mql_to_sql_median_days", "MQL→SQL days", "count", False),
        ("sql_to_opportunity_median_days", "SQL→opp days", "count", False),
        ("opportunity_to_win_median_days", "cycle days", "count", False),
    ),
    "channels": (
        ("leads", "leads", "count", False),
        ("non_target_share", "non-target", "share", False),
        ("mqls", "MQLs", "count", False),
        ("sqls", "SQLs", "count", False),
        ("opportunities", "opps", "count", False),
        ("wins", "wins", "count", True),
        ("win_rate", "wins / lead", "share", True),
        ("new_arr", "new ARR", "money", True),
        ("cost", "lead cost / spend", "money", False),
        ("cac", "CAC (leads only)", "money", True),
        ("roi", "ROI (1st-year ARR)", "share", True),
    ),
    "segments": (
        ("leads", "leads", "count", False),
        ("mqls", "MQLs", "count", False),
        ("sqls", "SQLs", "count", False),
        ("opportunities", "opps", "count", False),
        ("wins", "wins", "count", True),
        ("win_rate", "win rate (of opps)", "share", True),
        ("acv", "ACV", "money", True),
        ("cycle_median_days", "median cycle days", "count", True),
        ("new_arr", "new ARR", "money", True),
    ),
    "phases": (
        ("entered", "entered", "count", False),
        ("advanced", "advanced", "count", False),
        ("failed", "failed", "count", False),
        ("undecided", "undecided", "count", False),
        ("close_rate", "close rate", "share", True),
        ("reach", "reach", "share", True),
    ),
    "attainment": (
        ("aes", "AEs the whole year", "count", False),
        ("quota", "ramped quota", "money", False),
        ("booked", "booked", "money", True),
        ("attainment_p10", "attainment P10", "share", False),
        ("attainment_median", "median", "share", True),
        ("attainment_p90", "P90", "share", False),
        ("at_quota_share", "at quota", "share", True),
    ),
    "sdr_attainment": (
        ("sdrs", "SDRs the whole year", "count", False),
        ("target", "ramped SQL target", "count", False),
        ("sqls", "SQLs", "count", True),
        ("attainment_p10", "attainment P10", "share", False),
        ("attainment_median", "median", "share", True),
        ("attainment_p90", "P90", "share", False),
        ("at_target_share", "at target", "share", True),
    ),
    "retention": (
        ("renewals_due", "renewals due", "count", False),
        ("logo_churn", "logo churn", "share", True),
        ("churned_arr", "churned ARR", "money", False),
        ("expansion_arr", "expansion ARR", "money", True),
        ("health_at_renewal", "health at renewal", "share", True),
        ("upsell_wins", "upsell wins", "count", False),
        ("upsell_arr", "upsell ARR", "money", True),
        ("upsell_unfollowed_share", "unfollowed chances", "share", True),
    ),
    "ae_teams": (
        ("segments", "segments", "text", False),
        ("aes_end", "AEs at the end", "count", False),
        ("ae_years", "AE-years", "count", False),
        ("opportunities", "opps", "count", False),
        ("wins", "wins", "count", True),
        ("win_rate", "win rate", "share", True),
        ("new_arr", "new ARR", "money", True),
        ("bookings_per_ae_year", "per AE-year", "money", True),
        ("utilisation", "utilisation", "share", True),
        ("wait_days", "days waiting for an AE", "count", True),
        ("at_quota_share", "AE-years at quota", "share", True),
    ),
}


def _cell(kind: str, value: Any) -> str:
    if kind == "text":
        return str(value)
    return format_value(float(value), "usd" if kind == "money" else kind)


def _motion_table(name: str, table: pd.DataFrame) -> dict[str, Any]:
    """Headers and formatted rows of one stage report (means, with P10-P90 where asked)."""
    # a folder saved by an earlier version may lack a later column: show what it has
    columns = [c for c in _MOTION_COLUMNS[name] if c[0] in table]
    order = list(table.index)
    if name == "waterfall":  # the totals first, then the cohorts in time order
        order = ["all", "mature", *(c for c in order if c not in ("all", "mature"))]
    rows = []
    for label in order:
        r = table.loc[label]
        cells = []
        for column, _, kind, band in columns:
            band_text = ""
            if band and f"{column}_p10" in table:
                lo, hi = float(r[f"{column}_p10"]), float(r[f"{column}_p90"])
                if np.isfinite(lo) and np.isfinite(hi):
                    band_text = f"{_cell(kind, lo)}-{_cell(kind, hi)}"
            cells.append({"text": _cell(kind, r[column]), "band": band_text})
        young = name == "waterfall" and float(r["months_observed"]) < MATURE_MONTHS
        kind_of_row = "total" if label in ("all", "mature") else "young" if young else ""
        rows.append({"label": str(label), "cells": cells, "class": kind_of_row})
    return {"key": table.index.name, "headers": [c[1] for c in columns], "rows": rows}


def _motion_view(motion: dict[str, pd.DataFrame]) -> dict[str, Any] | None:
    tables = {n: t for n, t in motion.items() if n in _MOTION_COLUMNS and len(t)}
    if "waterfall" not in tables:
        return None
    return {
        "mature_months": MATURE_MONTHS,
        **{n: _motion_table(n, tables[n]) if n in tables else None for n in _MOTION_COLUMNS},
    }


def _scenario_charts(data: ScenarioData) -> list[dict[str, str]]:
    """The charts of :data:`sim.analysis.charts.REPORT_CHARTS` the scenario has data for."""
    source = charts.ChartData(
        data.monthly,
        data.kpis,
        data.motion,
        lambda: (data.speed_hours, data.untouched),
        data.speed_note,
    )
    out = []
    for kind in charts.REPORT_CHARTS:
        try:
            fig = kind.draw(source)
        except charts.NoChartData:  # no touched lead, say: the chart is left out
            continue
        out.append({"title": kind.caption.format(note=data.speed_note), "png": _png(fig)})
    return out


def _comparison(datasets: Sequence[ScenarioData]) -> dict[str, Any] | None:
    if len(datasets) < 2:
        return None
    tables = {d.name: d.kpis for d in datasets}
    base = datasets[0]
    out: dict[str, Any] = {
        "bars": _png(plots.comparison_bars(tables, COMPARE_KPIS)),
        "diff": None,
        "baseline": base.name,
        "rows": [],
    }
    paired = [d for d in datasets[1:] if d.seed == base.seed]
    if paired:
        diffs = plots.paired_differences(base.kpis, {d.name: d.kpis for d in paired}, COMPARE_KPIS)
        out["diff"] = _png(plots.paired_difference_chart(diffs))
        out["rows"] = [
            {
                "scenario": r["scenario"],
                "kpi": r["kpi"],
                "mean": fmt(r["kpi"], r["mean"]),
                "ci": fmt(r["kpi"], r["lo"]) + " to " + fmt(r["kpi"], r["hi"]),
                "pct": f"{r['pct']:+.1%}" if np.isfinite(r["pct"]) else "-",
                "n": r["n"],
                "verdict": r["verdict"],
            }
            for _, r in diffs.iterrows()
        ]
    unpaired = [d.name for d in datasets[1:] if d.seed != base.seed]
    out["unpaired"] = unpaired
    return out


def _diagnosis_view(diagnosis: Diagnosis) -> dict[str, Any]:
    load = diagnosis.load
    rows = [
        {
            "team": str(section).replace("_", " "),
            "bottleneck": bool(r["bottleneck"]),
            "utilisation": f"{r['utilisation']:.0%}",
            "last_quarter": f"{r['utilisation_last_quarter']:.0%}",
            "queue": f"{r['queue_start']:,.0f} → {r['queue_end']:,.0f}",
            "growth": f"{r['queue_growth_per_month']:+,.1f}",
            "cold": f"{r['went_cold_share']:.1%}" if np.isfinite(r["went_cold_share"]) else "-",
        }
        for section, r in load.iterrows()
    ]
    heads = diagnosis.heads.assign(scenario="+1 " + diagnosis.heads["role"])
    chart = plots.paired_difference_chart(
        heads, title=f"One more head: paired difference vs {diagnosis.scenario}, 95% CI"
    )
    return {
        "sentences": diagnosis.sentences(),
        "rows": rows,
        "png": _png(chart),
        "replications": diagnosis.replications,
        "seed": diagnosis.seed,
    }


def render(
    datasets: Sequence[ScenarioData],
    out: str | os.PathLike[str],
    diagnosis: Diagnosis | None = None,
) -> Path:
    """Write the HTML report of ``datasets`` (the first is the baseline) to ``out``.

    Parameters
    ----------
    datasets
        One entry per scenario, from :func:`load_input`.
    out
        The HTML file, written atomically.
    diagnosis
        Optional diagnosis of the first scenario.

    Returns
    -------
    pathlib.Path
        The file written.
    """
    if not datasets:
        raise ValueError("nothing to report: give at least one scenario")
    sections = [
        {
            "name": d.name,
            "source": d.source,
            "sets": " ".join(d.sets),
            "seed": d.seed,
            "replications": int(d.kpis["replication"].nunique()),
            "summary": "\n".join(d.summary_lines),
            "kpis": _kpi_rows(d.kpis),
            "motion": _motion_view(d.motion),
            "charts": _scenario_charts(d),
        }
        for d in datasets
    ]
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    html = env.from_string(TEMPLATE).render(
        title="revloop report: " + ", ".join(d.name for d in datasets),
        created=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        version=__version__,
        sections=sections,
        comparison=_comparison(datasets),
        diagnosis=_diagnosis_view(diagnosis) if diagnosis else None,
    )
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)

    def write(path: Path) -> None:
        path.write_text(html, encoding="utf-8")

    return atomic_write(target, write)


def build_report(
    sources: Sequence[str],
    out: str | os.PathLike[str],
    sets: Sequence[str] = (),
    replications: int = 10,
    seed: int = 0,
    workers: int | None = None,
    diagnose_replications: int = 5,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Load or run every source, diagnose the first, and write the HTML report.

    Parameters
    ----------
    sources
        Results folders and/or scenario files; the first is the baseline.
    out
        The HTML file.
    sets
        Overrides for scenario files (and for the diagnosis runs).
    replications, seed, workers
        Of the runs of scenario files.
    diagnose_replications
        Replications of each paired run of the diagnosis (base, +1 SDR, +1 AE, +1 CSM);
        0 leaves the diagnosis out.
    progress
        Called with a short description of each step.

    Returns
    -------
    pathlib.Path
        The report written.
    """
    datasets = []
    # a compare folder stands for the results folder of each of its scenarios
    expanded = [str(m) for s in sources for m in (comparison_members(s) or [Path(s)])]
    for source in expanded:
        if progress:
            progress(f"loading {source}")
        datasets.append(load_input(source, sets, replications, seed, workers))
    diagnosis = None
    if diagnose_replications > 0:
        first = datasets[0]
        diagnosis = diagnose(
            first.scenario_file,
            first.sets,
            replications=diagnose_replications,
            seed=first.seed,
            workers=workers,
            monthly=first.monthly,
            progress=(lambda step: progress(f"diagnosis: {step}")) if progress else None,
        )
    if progress:
        progress("rendering")
    return render(datasets, out, diagnosis)


def chromium() -> str | None:
    """Path of a Chromium (or Chrome) executable, or None if none is installed."""
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def browser(html: str | os.PathLike[str], *args: str, timeout: float = 120) -> str:
    """Open ``html`` in headless Chromium with ``args``; return what it printed (stdout+err).

    Raises
    ------
    FileNotFoundError
        If no Chromium is installed.
    """
    exe = chromium()
    if exe is None:
        raise FileNotFoundError("no chromium found: apt-get install -y chromium")
    url = Path(html).resolve().as_uri()
    command = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", *args]
    done = subprocess.run(
        [*command, url], capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"chromium failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return done.stdout + done.stderr


@dataclass
class BrowserCheck:
    """What headless Chromium saw when it loaded a report."""

    images_shown: int
    images: int
    console: list[str]

    @property
    def ok(self) -> bool:
        """Every image decoded and nothing was logged to the page's console."""
        return self.images > 0 and self.images_shown == self.images and not self.console


def browser_check(html: str | os.PathLike[str]) -> BrowserCheck:
    """Load the report in headless Chromium; count decoded images and console messages.

    The report's own script writes ``data-images="shown/total"`` on ``<body>`` once the
    page has loaded; the DOM is dumped after that. Console lines (script errors, failed
    resource loads) come from Chromium's log.
    """
    output = browser(
        html, "--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000", "--dump-dom"
    )
    found = re.search(r'data-images="(\d+)/(\d+)"', output)
    shown, total = (int(found.group(1)), int(found.group(2))) if found else (0, -1)
    console = [line for line in output.splitlines() if ":CONSOLE" in line]
    return BrowserCheck(shown, total, console)


def page_height(html: str | os.PathLike[str], width: int = 1280) -> int:
    """The height in pixels of the report laid out ``width`` pixels wide (the report's
    script writes it on ``<body>`` once loaded; read from the DOM headless Chromium dumps)."""
    output = browser(
        html, f"--window-size={width},800", "--virtual-time-budget=10000", "--dump-dom"
    )
    found = re.search(r'data-height="(\d+)"', output)
    if found is None:
        raise OutputError(f"{html}: the page did not report its height (not a revloop report?)")
    return int(found.group(1))


def screenshot(
    html: str | os.PathLike[str], png: str | os.PathLike[str], width: int = 1280
) -> Path:
    """Screenshot the whole report into ``png`` with headless Chromium: a window as tall as
    the page (:func:`page_height`), so nothing is cut and nothing is added below it."""
    target = Path(png).resolve()
    height = page_height(html, width)
    browser(html, f"--screenshot={target}", f"--window-size={width},{height}")
    return target


def pdf(html: str | os.PathLike[str], out: str | os.PathLike[str]) -> Path:
    """Print the report to a PDF with headless Chromium (A4, the page's print styles)."""
    target = Path(out).resolve()
    browser(html, f"--print-to-pdf={target}", "--no-pdf-header-footer")
    return target


TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>
  :root { --ink: #1d2733; --muted: #5b6673; --line: #d9dee4; --accent: #0072B2; }
  body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
         color: var(--ink); margin: 0; background: #f6f7f9; }
  main { max-width: 1180px; margin: 0 auto; padding: 24px 32px 64px; background: #fff; }
  h1 { font-size: 26px; margin: 8px 0 4px; }
  h2 { font-size: 21px; border-bottom: 2px solid var(--accent); padding-bottom: 4px;
       margin-top: 40px; }
  h3 { font-size: 17px; margin: 24px 0 8px; }
  .meta { color: var(--muted); font-size: 13px; }
  nav a { margin-right: 14px; color: var(--accent); text-decoration: none; }
  pre { background: #f3f5f7; padding: 12px; overflow-x: auto; font-size: 12.5px;
        border-radius: 4px; }
  table { border-collapse: collapse; width: 100%; font-size: 13.5px; margin: 8px 0 16px; }
  th, td { padding: 4px 8px; border-bottom: 1px solid var(--line); text-align: right; }
  th:first-child, td:first-child { text-align: left; }
  th.meaning { text-align: left; }
  td.meaning { text-align: left; color: var(--muted); font-size: 12.5px; }
  tr.group td { font-weight: 600; background: #eef2f6; text-transform: capitalize; }
  tr.hot td { background: #fdf0e6; font-weight: 600; }
  table.motion { font-size: 12.5px; }
  tr.total td { font-weight: 600; background: #f3f5f7; }
  tr.young td { color: var(--muted); font-style: italic; }
  .band { display: block; color: var(--muted); font-size: 11px; font-weight: 400; }
  figure { margin: 16px 0 28px; }
  figure img { max-width: 100%; height: auto; border: 1px solid var(--line); }
  figcaption { color: var(--muted); font-size: 13px; }
  .finding { font-size: 16px; background: #eef6fb; border-left: 4px solid var(--accent);
             padding: 8px 14px; margin: 6px 0; }
  details summary { cursor: pointer; color: var(--accent); }
  @media print { body { background: #fff; } main { padding: 0; }
                 figure, table { break-inside: avoid; } }
</style>
</head>
<body>
{% macro motion_table(t) %}<table class="motion">
<tr><th>{{ t.key }}</th>{% for h in t.headers %}<th>{{ h }}</th>{% endfor %}</tr>
{% for r in t.rows %}<tr class="{{ r.class }}"><td>{{ r.label }}</td>
{% for c in r.cells %}<td>{{ c.text }}{% if c.band %}<span class="band">{{ c.band }}</span>
{% endif %}</td>{% endfor %}</tr>
{% endfor %}</table>{% endmacro %}
<main>
<h1>{{ title }}</h1>
<p class="meta">Generated {{ created }} by revloop {{ version }}.
Bands are P10-P90 across replications; ± is the half-width of the 95% confidence interval
of the mean.</p>
<nav>
{% for s in sections %}<a href="#s{{ loop.index }}">{{ s.name }}</a>{% endfor %}
{% if diagnosis %}<a href="#diagnosis">Diagnosis</a>{% endif %}
{% if comparison %}<a href="#comparison">Comparison</a>{% endif %}
</nav>
{% if diagnosis %}
<section id="diagnosis">
<h2>Diagnosis: {{ sections[0].name }}</h2>
{% for line in diagnosis.sentences %}<p class="finding">{{ line }}</p>{% endfor %}
<table>
<tr><th>team</th><th>utilisation</th><th>last quarter</th><th>month-end queue (first → last
month)</th><th>queue change / month</th><th>MQLs gone cold</th></tr>
{% for r in diagnosis.rows %}
<tr class="{{ 'hot' if r.bottleneck else '' }}"><td>{{ r.team }}{{ ' (bottleneck)' if
r.bottleneck else '' }}</td><td>{{ r.utilisation }}</td><td>{{ r.last_quarter }}</td>
<td>{{ r.queue }}</td><td>{{ r.growth }}</td><td>{{ r.cold }}</td></tr>
{% endfor %}
</table>
<figure><img alt="Paired difference of one more head per team"
 src="data:image/png;base64,{{ diagnosis.png }}">
<figcaption>Each team's headcount raised by one on day one, {{ diagnosis.replications }}
replications paired with the base on seed {{ diagnosis.seed }} (common random numbers).
An interval that does not cross zero is a real effect.</figcaption></figure>
</section>
{% endif %}
{% if comparison %}
<section id="comparison">
<h2>Comparison</h2>
<figure><img alt="KPI means with 95% CI per scenario"
 src="data:image/png;base64,{{ comparison.bars }}"></figure>
{% if comparison.diff %}
<figure><img alt="Paired differences vs {{ comparison.baseline }}"
 src="data:image/png;base64,{{ comparison.diff }}">
<figcaption>Differences against {{ comparison.baseline }}, replication by replication on the
same seed.</figcaption></figure>
<table><tr><th>scenario</th><th>KPI</th><th>mean difference</th><th>95% CI</th>
<th>vs baseline</th><th>pairs</th><th>verdict</th></tr>
{% for r in comparison.rows %}<tr><td>{{ r.scenario }}</td><td>{{ r.kpi }}</td>
<td>{{ r.mean }}</td><td>{{ r.ci }}</td><td>{{ r.pct }}</td><td>{{ r.n }}</td>
<td>{{ r.verdict }}</td></tr>{% endfor %}
</table>
{% endif %}
{% if comparison.unpaired %}<p class="meta">Not paired (different seed):
{{ comparison.unpaired | join(", ") }}.</p>{% endif %}
</section>
{% endif %}
{% for s in sections %}
<section id="s{{ loop.index }}">
<h2>{{ s.name }}</h2>
<p class="meta">{{ s.replications }} replications, seed {{ s.seed }}, from {{ s.source }}
{%- if s.sets %} with {{ s.sets }}{% endif %}.</p>
<h3>Headline KPIs</h3>
<table>
<tr><th title="↑ higher is better, ↓ lower is better">KPI</th><th>mean</th>
<th>95% CI</th><th>P10</th><th>P50</th><th>P90</th>
<th class="meaning">meaning</th></tr>
{% for r in s.kpis %}{% if r.group %}<tr class="group"><td colspan="7">{{ r.group }}</td></tr>
{% else %}<tr><td title="{{ r.name }}">{{ r.label }}</td><td>{{ r.mean }}</td>
<td>{{ r.ci }}</td><td>{{ r.p10 }}</td>
<td>{{ r.p50 }}</td><td>{{ r.p90 }}</td><td class="meaning">{{ r.meaning }}</td></tr>
{% endif %}{% endfor %}
</table>
{% if s.motion %}{% set m = s.motion %}
<h3>Waterfall (unique leads by arrival quarter)</h3>
{{ motion_table(m.waterfall) }}
<p class="meta">Each lead counted once, in the quarter it arrived; non-targets and the leads
of the starting book left out. MQL: handed to sales (inside sales or straight to field
sales); SQL: handed to field sales by any route; opp: accepted by field sales. Cycle days run
from the won opportunity's opening to the win. <b>mature</b>: leads created at least
{{ m.mature_months }} months before the horizon ends. <i>Greyed</i> cohorts have been watched
for under {{ m.mature_months }} months: they are still converting, so their rates read low.
Means over replications; P10-P90 under the rates.</p>
{% if m.channels %}<h3>Channels</h3>
{{ motion_table(m.channels) }}
<p class="meta">CAC counts the price of the leads only (program spend and team costs are not
allocated to channels). Starting-book leads have no row.</p>{% endif %}
{% if m.segments %}<h3>Segments</h3>
{{ motion_table(m.segments) }}
<p class="meta">Win rate = wins / leads with an opportunity; ACV = new ARR / wins.</p>
{% endif %}
{% if m.phases %}<h3>Opportunity phases</h3>
{{ motion_table(m.phases) }}
<p class="meta">Close rate = advanced / (advanced + failed), decided opportunities only;
reach = share of the opportunities entering the first phase that get past this one. The
starting pipeline's opportunities are counted from the phase they start in. A segment with
a deal motion of its own has its phases apart ("segment: phase").</p>{% endif %}
{% if m.attainment %}<h3>Quota attainment</h3>
{{ motion_table(m.attainment) }}
<p class="meta">AEs on the team the whole year, by year from the start; quota ramped by
tenure; new ARR credited to the AE who owned each deal when it was won (expansion is not
credited to AEs). Attainment is booked new ARR / quota across those AEs (P10, median, P90
within a replication, then averaged);
"at quota": share at 100% or more.</p>{% endif %}
{% if m.sdr_attainment %}<h3>SDR targets</h3>
{{ motion_table(m.sdr_attainment) }}
<p class="meta">SDRs on the team the whole year, by year from the start; SQL targets ramped
by tenure; each SQL credited to the SDR who qualified it.</p>{% endif %}
{% if m.retention %}<h3>Customer success</h3>
{{ motion_table(m.retention) }}
<p class="meta">By year from the start. Renewals due = renewals + churned customers; logo
churn = churned / due. Health is the attention a customer received over its term (1: a
dedicated CSM with a comfortable book; 0: no CSM), shown where the scenario models it;
upsell figures where it has an expansion pipeline (upsell ARR is part of expansion ARR;
unfollowed chances are recycled).</p>{% endif %}
{% if m.ae_teams %}<h3>AE teams</h3>
{{ motion_table(m.ae_teams) }}
<p class="meta">Each team works the deals of its segments (field_sales.teams; "field_sales":
the AEs of field sales itself). Opportunities, wins and new ARR count its segments' unique
leads, the starting book's open pipeline included; utilisation = open deals over the slots
of its ramped AEs; the wait is from hand-off to an AE taking the deal.</p>{% endif %}
{% endif %}
{% for c in s.charts %}
<figure><img alt="{{ c.title }}" src="data:image/png;base64,{{ c.png }}">
<figcaption>{{ c.title }}</figcaption></figure>
{% endfor %}
<details><summary>Scenario summary</summary><pre>{{ s.summary }}</pre></details>
</section>
{% endfor %}
</main>
<script>
  // Lets a headless check read whether every image decoded (see tests/test_report.py),
  // and the page's height, for a screenshot of the whole page (see screenshot()).
  window.addEventListener("load", function () {
    var imgs = Array.prototype.slice.call(document.images);
    var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
    document.body.setAttribute("data-images", ok + "/" + imgs.length);
    document.body.setAttribute("data-height", document.documentElement.scrollHeight);
  });
</script>
</body>
</html>
"""
