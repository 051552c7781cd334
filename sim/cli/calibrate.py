"""``revloop calibrate``, ``revloop backtest`` and ``revloop forecast``: from CRM exports.

Both are thin layers over :func:`~sim.calibrate.columns.read_crm`,
:func:`~sim.calibrate.fit.calibrate`, :func:`~sim.calibrate.writer.write_scenario` and
:func:`~sim.calibrate.backtest.backtest`. Unusable input exits with status 2 and one line
per problem; warnings about rows go to stderr with their counts.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import click
import pandas as pd

from sim.calibrate.backtest import ARRIVALS, Backtest, backtest
from sim.calibrate.columns import PRESETS, CrmData, read_crm
from sim.calibrate.evaluate import rolling_backtest
from sim.calibrate.fit import Calibration, calibrate
from sim.calibrate.forecast import forecast, write_forecast
from sim.calibrate.report import Report
from sim.calibrate.writer import write_scenario
from sim.cli.common import Table, fail, guard, say, stdout
from sim.cli.options import count_option, out_option, rep_count_option, seed_option
from sim.io import csv_writer, text_writer, write_folder

EXIT_WEAK_FIT = 4
"""Exit status of `revloop forecast` when a fit it rests on cannot be trusted."""


def _print_report(report: Report) -> None:
    for line in report.lines():
        say(line, error=True)


def _date(value: dt.datetime | None) -> dt.date | None:
    return None if value is None else value.date()


_DATE = click.DateTime(["%Y-%m-%d"])

BACKTEST_FLAGS = {"cutoff": "--cutoff", "horizon_months": "--horizon", "arrivals": "--arrivals"}
"""The ``revloop backtest`` option of each parameter a back-test's problems are located by."""
_inputs = [
    click.option(
        "--opportunities",
        type=click.Path(dir_okay=False),
        default=None,
        help="One-file opportunity export (instead of --leads and --deals).",
    ),
    click.option("--leads", type=click.Path(dir_okay=False), default=None, help="Leads CSV."),
    click.option("--deals", type=click.Path(dir_okay=False), default=None, help="Deals CSV."),
    click.option(
        "--map",
        "column_map",
        type=click.Path(dir_okay=False),
        default=None,
        help="Column map (YAML); default: the preset, or a guess from common column names.",
    ),
    click.option(
        "--preset",
        type=click.Choice(PRESETS),
        default=None,
        help="Built-in column map for a common export shape.",
    ),
    click.option(
        "--as-of", type=_DATE, default=None, help="Export date (default: latest date seen)."
    ),
]
_trend = click.option(
    "--trend-months",
    default=6,
    show_default=True,
    type=click.IntRange(min=1),
    help="Latest complete months over which the scenario's volumes and growth are fitted.",
)


@dataclass(frozen=True)
class Exports:
    """The CRM exports named on the command line, and how to read them."""

    opportunities: str | None
    leads: str | None
    deals: str | None
    column_map: str | None
    preset: str | None
    as_of: dt.datetime | None

    def read(self) -> CrmData:
        """Read the exports (exits 2 on unusable input)."""
        opportunities, leads, deals = self.opportunities, self.leads, self.deals
        if opportunities is not None and (leads is not None or deals is not None):
            fail("--opportunities: give one opportunity file, or --leads and --deals, not both")
        if opportunities is None and leads is None:
            fail("--opportunities or --leads (with --deals) is required")
        if opportunities is None and deals is None:
            fail("--deals: needed with --leads (or give a one-file export as --opportunities)")
        first = opportunities if opportunities is not None else leads
        assert first is not None
        return guard(
            lambda: read_crm(first, deals, self.column_map, _date(self.as_of), preset=self.preset)
        )


def _with_exports(func: Callable[..., None]) -> Callable[..., None]:
    """The options naming the CRM exports and how to read them, given to ``func`` as its
    first argument, one :class:`Exports`."""

    @functools.wraps(func)
    def command(**options: Any) -> None:
        exports = Exports(**{f.name: options.pop(f.name) for f in fields(Exports)})
        func(exports, **options)

    for option in reversed(_inputs):
        command = option(command)
    return command


def _with_inputs(func: Callable[..., None]) -> Callable[..., None]:
    """The export options and ``--trend-months`` (for the commands that fit a scenario)."""
    return _with_exports(_trend(func))


@click.command("calibrate")
@_with_inputs
@out_option("Scenario.", "file", required=True)
@click.option("--name", default=None, help="Scenario name (default: the output file's stem).")
@click.option("--start", type=_DATE, default=None, help="First simulated month (YYYY-MM-01).")
@click.option("--horizon", default=12, show_default=True, type=click.IntRange(1, 240))
def calibrate_command(
    exports: Exports,
    trend_months: int,
    out: str,
    name: str | None,
    start: dt.datetime | None,
    horizon: int,
) -> None:
    """Fit a scenario to CRM exports of leads and deals; write it as commented YAML.

    Volumes per channel, conversion per channel, the lead-to-win time (censored survival
    fits), reps per team from owner ids and the open pipeline are fitted, each with its 95%
    CI in a comment; what the data cannot tell is marked ASSUMED.
    """
    if start is not None and start.day != 1:
        fail(f"--start: must be the first day of a month (got {start:%Y-%m-%d})")
    data = exports.read()
    cal = guard(
        lambda: calibrate(
            data,
            name=name or Path(out).stem,
            start=_date(start),
            horizon_months=horizon,
            trend_months=trend_months,
        )
    )
    path = guard(lambda: write_scenario(cal, out))
    _print_report(cal.report)
    _print_calibration(cal)
    say(f"wrote {path} (it loads as a valid scenario; check the ASSUMED values)")


def _table(title: str, columns: Sequence[str], labels: int = 2) -> Table:
    """A table of ``columns``: the first ``labels`` name the row (left-aligned), the rest
    are numbers (right-aligned)."""
    table = Table(title=title)
    for i, col in enumerate(columns):
        table.add_column(col, justify="left" if i < labels else "right")
    return table


def _print_calibration(cal: Calibration) -> None:
    table = _table(
        f"{cal.name}: {cal.horizon_months} months from {cal.start:%Y-%m}",
        ("channel", "leads", "won", "leads/month (95% CI)", "growth/month", "conversion"),
        labels=1,
    )
    for ch in cal.channels:
        vol = ch.volume
        growth = (
            "-"
            if vol.growth is None
            else f"{vol.growth.value:+.1%}" + ("" if vol.growth_used else " (n.s.: 0)")
        )
        table.add_row(
            ch.name,
            f"{ch.leads:,}",
            f"{ch.wins:,}",
            f"{vol.level.value:,.0f} ({vol.level.low:,.0f}-{vol.level.high:,.0f})",
            growth,
            f"{ch.conversion.value:.1%} ({ch.conversion.low:.1%}-{ch.conversion.high:.1%})",
        )
    stdout().print(table)
    for tr in cal.transitions:
        fit = tr.fit
        gap = max((abs(c.km - c.model) for c in tr.checks), default=float("nan"))
        odds = "" if tr.advance is None else f"conversion {tr.advance.value:.1%}, "
        say(
            f"{tr.name}: {odds}median {fit.median_days.value:.1f} d "
            f"({fit.median_days.low:.1f}-{fit.median_days.high:.1f}), mean "
            f"{fit.mean_days.value:.0f} d; Kaplan-Meier check: largest gap "
            f"{100 * gap:.1f} points"
        )
    for team in cal.teams.values():
        say(f"{team.name}: {team.headcount} reps (most active owner ids in a recent month)")
    _print_pipeline(cal, "the start")


def _print_pipeline(cal: Calibration, when: str) -> None:
    pipe = cal.pipeline
    months = min(3, len(pipe.by_month))
    say(
        f"open pipeline at {when}: {pipe.open_leads:,} leads not won, "
        f"{pipe.expected_wins.value:,.0f} expected wins ({pipe.expected_wins.low:,.0f}-"
        f"{pipe.expected_wins.high:,.0f}); first months by the fit "
        f"{_counts(pipe.by_month[:months])}, as written {_counts(pipe.written_by_month[:months])}"
        f" ({pipe.opportunities:,} open opportunities + {sum(pipe.entries):,.0f} channel entries)"
    )


def _counts(values: tuple[float, ...]) -> str:
    return ", ".join(f"{v:,.1f}" for v in values)


@click.command("backtest")
@_with_inputs
@click.option(
    "--cutoff",
    default=None,
    type=_DATE,
    help="Back-test the calibrated scenario from this month (YYYY-MM-01); default: the "
    "rolling-origin back-test of the bookings forecast at every usable cutoff.",
)
@click.option("--horizon", default=3, show_default=True, type=click.IntRange(1, 240))
@click.option(
    "--arrivals",
    type=click.Choice([*ARRIVALS, "both"]),
    default="both",
    show_default=True,
    help="observed: replay the leads created after the cutoff; fitted: the fitted volumes.",
)
@rep_count_option(100)
@seed_option
@click.option("--workers", "-w", default=1, show_default=True, type=click.IntRange(min=1))
@out_option("Folder for backtest.csv and the scenario(s) simulated.")
def backtest_command(
    exports: Exports,
    trend_months: int,
    cutoff: dt.datetime | None,
    horizon: int,
    arrivals: str,
    reps: int,
    seed: int,
    workers: int,
    out: str | None,
) -> None:
    """Back-test forecasts against what happened.

    Without --cutoff: the rolling-origin back-test of the bookings forecast (``revloop
    forecast``) at every usable cutoff, side by side with the trailing-mean and seasonal-naive
    forecasts: WAPE, MAPE, bias and P10-P90 coverage for counts and value, and a plain verdict.

    With --cutoff: fit the scenario on the data before it, forecast --horizon months by
    simulation, and print, per month, the actual wins against the forecast mean and
    P10/P50/P90 (split into wins of leads open at the cutoff and of leads created after it;
    bookings too when deals have amounts),
    the mean absolute percentage error and how often the actual falls in the P10-P90 band.
    """
    data: CrmData = exports.read()
    _print_report(data.report)
    if cutoff is None:
        _rolling(data, horizon, reps, seed, out)
        return
    modes = [m for m in ARRIVALS if arrivals in (m, "both")]
    results = []
    for mode in modes:
        run_mode = functools.partial(
            backtest,
            data,
            cutoff.date(),
            horizon_months=horizon,
            arrivals=mode,
            replications=reps,
            seed=seed,
            workers=workers,
            trend_months=trend_months,
        )
        result = guard(run_mode, BACKTEST_FLAGS)
        _print_backtest(result)
        results.append(result)
    if out is not None:
        guard(lambda: _save(results, Path(out)))
        say(f"wrote backtest.csv and {len(results)} scenario(s) to {out}/")


_LABELS = {
    "wins": "wins",
    "wins_from_pipeline": "  open at cutoff",
    "wins_from_new_leads": "  new leads",
    "bookings": "bookings",
}


def _print_backtest(result: Backtest) -> None:
    cal = result.calibration
    how = (
        "the leads actually created after the cutoff, replayed"
        if result.arrivals == "observed"
        else "the volumes fitted before the cutoff"
    )
    table = _table(
        f"back-test from {result.cutoff:%Y-%m}, {result.horizon_months} months, "
        f"{result.replications} replications; arrivals: {how}",
        ("metric", "month", "actual", "mean", "P10", "P50", "P90", "in P10-P90"),
    )
    for row in result.table.to_dict(orient="records"):
        shown = _money if row["metric"] == "bookings" else _count
        values = [shown(float(row[k])) for k in ("actual", "mean", "p10", "p50", "p90")]
        table.add_row(
            _LABELS[str(row["metric"])],
            str(row["month"]),
            *values,
            "yes" if row["inside"] else "no",
        )
    stdout().print(table)
    for metric in result.mape:
        say(
            f"{metric}: MAPE {result.mape[metric]:.1%}, actual inside P10-P90 in "
            f"{result.coverage[metric]:.0%} of {result.horizon_months} months"
        )
    _print_pipeline(cal, "the cutoff")
    fit = cal.transitions[0].fit
    say(
        f"fitted before the cutoff: conversion {cal.pooled.value:.1%} "
        f"({cal.pooled.low:.1%}-{cal.pooled.high:.1%}), {cal.transitions[0].name} median "
        f"{fit.median_days.value:.1f} d, from {fit.n:,} leads and {fit.events:,} wins "
        f"[{result.seconds:.1f} s]"
    )


def _save(results: list[Backtest], out: Path) -> None:
    frames = [r.table.assign(arrivals=r.arrivals, cutoff=str(r.cutoff)) for r in results]
    files = {"backtest.csv": csv_writer(pd.concat(frames, ignore_index=True), index=False)}
    for r in results:
        files[f"backtest_{r.arrivals}.yaml"] = text_writer(r.scenario_text)
    write_folder(out, files)


def _progress(i: int, n: int, cutoff: dt.date) -> None:
    say(f"cutoff {i + 1}/{n}: {cutoff:%Y-%m}", error=True)


def _rolling(data: CrmData, horizon: int, reps: int, seed: int, out: str | None) -> None:
    result = guard(
        lambda: rolling_backtest(
            data, horizon, replications=max(reps, 200), seed=seed, progress=_progress
        ),
        BACKTEST_FLAGS,
    )
    table = _table(
        f"rolling back-test: {len(result.cutoffs)} cutoffs "
        f"({result.cutoffs[0]:%Y-%m}..{result.cutoffs[-1]:%Y-%m}), up to {horizon} months "
        "ahead",
        (
            "metric",
            "method",
            "pairs",
            "WAPE",
            "model - this, pts",
            "MAPE",
            "bias",
            "in P10-P90 (95% CI)",
        ),
    )
    for row in result.scores.to_dict(orient="records"):
        table.add_row(
            str(row["metric"]),
            str(row["method"]),
            str(row["pairs"]),
            f"{row['wape']:.1%}",
            (
                f"{row['model_wape_gap'] * 100:+.1f} ({row['model_wape_gap_lo'] * 100:+.1f}"
                f" to {row['model_wape_gap_hi'] * 100:+.1f})"
                if math.isfinite(row["model_wape_gap"])
                else ""
            ),
            f"{row['mape']:.1%}",
            f"{row['bias']:+.1%}",
            f"{row['coverage']:.0%} ({row['coverage_lo']:.0%}-{row['coverage_hi']:.0%})",
        )
    stdout().print(table)
    for line in result.verdict:
        say(line)
    for line in result.notes:
        say(f"weak fit at {line}", error=True)
    say(f"[{result.seconds:.1f} s]")
    if out is not None:
        files = {
            "rolling.csv": csv_writer(result.table, index=False),
            "scores.csv": csv_writer(result.scores, index=False),
        }
        guard(lambda: write_folder(out, files))
        say(f"wrote rolling.csv and scores.csv to {out}/")


@click.command("forecast")
@_with_exports
@click.option("--months", default=6, show_default=True, type=click.IntRange(1, 36))
@click.option("--start", type=_DATE, default=None, help="First forecast month (YYYY-MM-01).")
@rep_count_option(1000, minimum=100)
@count_option(
    "--resamples",
    default=40,
    minimum=0,
    help="Bootstrap refits of the history (parameter uncertainty in the bands); 0: none.",
)
@seed_option
@click.option(
    "--accept-weak-fits",
    is_flag=True,
    help="Exit 0 even when a fit the forecast rests on cannot be trusted.",
)
@out_option("Folder for forecast.csv, expected_to_close.csv and forecast.xlsx.")
def forecast_command(
    exports: Exports,
    months: int,
    start: dt.datetime | None,
    reps: int,
    resamples: int,
    seed: int,
    accept_weak_fits: bool,
    out: str | None,
) -> None:
    """Forecast monthly bookings (count and value) from a CRM export, with P10/P50/P90.

    The open pipeline is carried deal by deal (its chance and timing of winning from
    censoring-aware life tables by stage or channel), new opportunities arrive as fitted, and
    the bands include the uncertainty of the fits (bootstrap refits). Exits 4 when a fit it
    rests on cannot be trusted, unless --accept-weak-fits.
    """
    data = exports.read()
    _print_report(data.report)
    result = guard(
        lambda: forecast(
            data,
            months,
            start=_date(start),
            replications=reps,
            resamples=resamples,
            seed=seed,
        ),
        {"start": "--start"},
    )
    table = _table(
        f"bookings forecast from {result.start:%Y-%m}, as of {result.as_of:%Y-%m-%d}, "
        f"{result.replications} draws",
        ("metric", "month", "P10", "P50", "P90", "mean", "open pipeline", "new"),
    )
    for row in result.table.to_dict(orient="records"):
        money = row["metric"] == "won_value"
        fmt: Callable[[float], str] = _money if money else _count
        parts = (
            [fmt(float(row["from_pipeline"])), fmt(float(row["from_new"]))]
            if not money
            else ["", ""]
        )
        table.add_row(
            str(row["metric"]),
            str(row["month"]),
            *(fmt(float(row[k])) for k in ("p10", "p50", "p90", "mean")),
            *parts,
        )
    stdout().print(table)
    top = result.expected.head(10)
    say(
        f"open opportunities: {len(result.expected):,}; expected to close within the horizon: "
        f"{result.expected['win_chance'].sum():,.1f} (the 10 likeliest below)"
    )
    for row in top.to_dict(orient="records"):
        say(
            f"  {row['id']}  {row['stage'] or row['channel']}  age {row['age_days']:.0f} d  "
            f"win chance {row['win_chance']:.0%}"
        )
    for note in result.notes:
        say(("WEAK: " if note.weak else "") + note.text, error=note.weak)
    if out is not None:
        folder = Path(out)
        guard(lambda: write_forecast(result, folder))
        say(f"wrote forecast.csv, expected_to_close.csv and forecast.xlsx to {out}/")
    say(f"[{result.seconds:.1f} s]")
    if result.weak and not accept_weak_fits:
        say(
            f"{len(result.weak)} fit(s) cannot be trusted (WEAK above): exit 4; pass "
            "--accept-weak-fits to use the forecast anyway",
            error=True,
        )
        raise SystemExit(EXIT_WEAK_FIT)


def _money(v: float) -> str:
    return f"${v:,.0f}"


def _count(v: float) -> str:
    return f"{v:,.1f}"
