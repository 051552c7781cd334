"""``revloop diagnose``, ``revloop report``, ``revloop export`` and ``revloop chart``.

Registered on the ``revloop`` group by :mod:`sim.cli.root`. Bad input (a missing folder or file, an
unknown format, an invalid scenario) exits with status 2 and one line, never a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
import pandas as pd

from sim.cli.common import Table, fail, guard, progress_bar, say, stdout, steps
from sim.cli.options import (
    count_option,
    out_option,
    rep_count_option,
    results_seed_option,
    set_option,
    workers_option,
)
from sim.errors import ResultsError

if TYPE_CHECKING:
    from sim.analysis.charts import ChartData

__all__ = ["chart_command", "diagnose_command", "export_command", "report_command"]


def _scenario_source(target: str, seed: int | None) -> tuple[str, int, pd.DataFrame | None]:
    """Scenario file, seed and saved monthly table of a results folder, or a scenario file."""
    path = Path(target)
    if path.is_dir():
        from sim.analysis.export import read_results

        saved = read_results(path)
        root_seed = saved.seed if seed is None else seed
        return str(path / "scenario.json"), root_seed, saved.monthly
    if not path.is_file():
        raise ResultsError(f"{path}: no such results folder or scenario file")
    return str(path), 0 if seed is None else seed, None


@click.command("diagnose")
@click.argument("target", metavar="RESULTS_DIR_OR_SCENARIO")
@click.option(
    "--reps",
    "-n",
    default="auto",
    show_default=True,
    help="Replications of each paired run (base, +1 SDR, +1 AE, +1 CSM); auto: from 10, "
    "doubling until every extra head's ending-ARR difference is told from zero or "
    "--max-reps is reached.",
)
@count_option(
    "--max-reps",
    default=40,
    minimum=2,
    help="With --reps auto: the most replications per paired run.",
)
@results_seed_option
@workers_option
@set_option
def diagnose_command(
    target: str,
    reps: str,
    max_reps: int,
    seed: int | None,
    workers: int | None,
    sets: tuple[str, ...],
) -> None:
    """Find the bottleneck team and what one more SDR, AE or CSM adds, with 95% CIs.

    TARGET is a results folder (its resolved scenario and seed are reused, and the team load
    is read from its saved monthly series) or a scenario file. The scenario runs four times
    on the same seed: as is, and with one more head on day one in inside sales, field sales
    and customer success; the differences are paired replication by replication (common
    random numbers). By default it goes on until every difference is told from zero, or
    says it could not within --max-reps.
    """
    from sim.analysis.diagnose import diagnose

    auto = reps == "auto"
    if not auto and not (reps.isdigit() and int(reps) >= 2):
        fail(f"--reps: must be 'auto' or a whole number of at least 2 (got {reps!r})")
    first = min(10, max(2, max_reps // 2)) if auto else int(reps)

    scenario, root_seed, saved_monthly = guard(lambda: _scenario_source(target, seed))
    with steps("diagnosing") as status:
        result = guard(
            lambda: diagnose(
                scenario,
                sets,
                replications=first,
                seed=root_seed,
                workers=workers,
                monthly=saved_monthly,
                progress=status,
                most=max_reps if auto else None,
            )
        )
    source = "saved run" if saved_monthly is not None else f"{result.replications} replications"
    table = Table(
        title=f"{result.scenario}: team load ({source}, seed {root_seed})",
        caption="* bottleneck",
    )
    table.add_column("team", no_wrap=True)
    for column in ("util.", "last 3 mo", "queue", "Δ/mo", "cold"):
        table.add_column(column, justify="right", no_wrap=True)
    for section, row in result.load.iterrows():
        cold = row["went_cold_share"]
        table.add_row(
            str(section).replace("_", " ") + (" *" if row["bottleneck"] else ""),
            f"{row['utilisation']:.0%}",
            f"{row['utilisation_last_quarter']:.0%}",
            f"{row['queue_start']:,.0f}→{row['queue_end']:,.0f}",
            f"{row['queue_growth_per_month']:+,.1f}",
            f"{cold:.1%}" if cold == cold else "-",
        )
    stdout().print(table)
    for line in result.sentences():
        say(line)


@click.command("report")
@click.argument("sources", nargs=-1, required=True, metavar="RESULTS_DIR_OR_SCENARIO...")
@out_option(kind="file", default="report.html")
@rep_count_option(10, help="Replications for scenario files (results folders keep their own).")
@count_option(
    "--diagnose-reps",
    default=5,
    minimum=0,
    help="Replications of each paired diagnosis run; 0 leaves the diagnosis out.",
)
@results_seed_option
@workers_option
@set_option
@click.option("--pdf", "pdf_out", default=None, type=click.Path(dir_okay=False),
              help="Also print the report to this PDF (needs chromium).")  # fmt: skip
@click.option("--screenshot", "png_out", default=None, type=click.Path(dir_okay=False),
              help="Also save a full-page PNG screenshot (needs chromium).")  # fmt: skip
def report_command(
    sources: tuple[str, ...],
    out: str,
    reps: int,
    diagnose_reps: int,
    seed: int | None,
    workers: int | None,
    sets: tuple[str, ...],
    pdf_out: str | None,
    png_out: str | None,
) -> None:
    """Write one self-contained HTML report of one or more scenarios.

    Each source is a results folder (from revloop run --out DIR) or a scenario file (run here
    with --reps). The first is the baseline: it is diagnosed, and the others are compared
    with it. Images are embedded; the file makes no external request.
    """
    from sim.analysis import report

    if (pdf_out or png_out) and report.chromium() is None:
        fail("--pdf/--screenshot need chromium (apt-get install chromium)")
    for source in sources:
        if not Path(source).exists():
            fail(f"{source}: no such results folder or scenario file")
    with steps("report") as status:
        written = guard(
            lambda: report.build_report(
                sources,
                out,
                sets=sets,
                replications=reps,
                seed=0 if seed is None else seed,
                workers=workers,
                diagnose_replications=diagnose_reps,
                progress=status,
            )
        )
    size = written.stat().st_size / 1024
    say(f"wrote {written} ({size:,.0f} KB)")
    if pdf_out:
        say(f"wrote {report.pdf(written, pdf_out)}")
    if png_out:
        say(f"wrote {report.screenshot(written, png_out)}")


@click.command("export")
@click.argument("results_dir", metavar="RESULTS_DIR")
@click.option(
    "--format", "fmt", default="xlsx", show_default=True, help="xlsx (one workbook) or csv."
)
@out_option(
    "Workbook path or CSV folder (default: RESULTS_DIR/finance.xlsx or RESULTS_DIR/finance/).",
    "any",
)
def export_command(results_dir: str, fmt: str, out: str | None) -> None:
    """Export the finance workbook of a results folder: Monthly, Quarterly, Annual, About.

    Mean, P10, P50 and P90 per period of ARR, MRR, customers, recognised revenue, bookings
    (new + expansion ARR), new, expansion, contraction and churned ARR, and costs per team;
    a Total row per sheet; the About sheet says what every column means and which run it
    is. One CSV file per sheet with --format csv.
    """
    from sim.analysis.export import export
    from sim.io import comparison_members

    if fmt not in ("xlsx", "csv"):
        fail(f"unknown format {fmt!r}: use xlsx or csv")
    members = guard(lambda: comparison_members(results_dir))
    if members is not None and out is not None:
        fail(f"{results_dir}: a compare folder gets one workbook per scenario, each in its "
             "own folder: leave out --out")  # fmt: skip
    for folder in members or [Path(results_dir)]:
        written = guard(lambda f=folder: export(f, fmt, out))  # type: ignore[arg-type,misc]
        for path in written:
            say(f"wrote {path}")


class _ChartCommand(click.Command):
    """``revloop chart``: its help ends with the kinds of chart, read from the registry only
    when the help is shown (the registry imports matplotlib, kept off every other command)."""

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The kinds of chart, one line each, then the epilog."""
        with formatter.section("Kinds"):
            formatter.write_dl(_chart_kinds())
        super().format_epilog(ctx, formatter)


def _chart_kinds() -> list[tuple[str, str]]:
    from sim.analysis.charts import CHARTS

    return [(kind.name, kind.about) for kind in CHARTS.values()]


@click.command("chart", cls=_ChartCommand)
@click.argument("kind", required=False, metavar="KIND")
@click.argument("source", required=False, metavar="SOURCE")
@out_option(
    "A .png, .svg or .pdf file (default: RESULTS_DIR/KIND.png, or SCENARIO-KIND.png "
    "here for a scenario file).",
    "any",
    metavar="FILE",
)
@click.option("--list", "show_list", is_flag=True, help="List the kinds of chart and exit.")
@click.option("--dpi", default=200, show_default=True, type=click.IntRange(min=30, max=1200),
              help="Resolution of a PNG (200: 1600 x 900 pixels for most charts).")  # fmt: skip
@rep_count_option(10, help="Replications for a scenario file (a results folder keeps its own).")
@results_seed_option
@workers_option
@set_option
def chart_command(
    kind: str | None,
    source: str | None,
    out: str | None,
    show_list: bool,
    dpi: int,
    reps: int,
    seed: int | None,
    workers: int | None,
    sets: tuple[str, ...],
) -> None:
    """Write one chart of a run as a PNG, SVG or PDF file (for a slide).

    SOURCE is a results folder (from revloop run --out DIR) or a scenario file (run here
    with --reps, --seed and --set). The format follows the file's suffix; the file is
    written whole or not at all. The charts are the HTML report's, drawn the same way.
    """
    if show_list:
        width = max(len(name) for name, _ in _chart_kinds())
        for name, about in _chart_kinds():
            say(f"{name:<{width}}  {about}")
        return
    if kind is None or source is None:
        fail("give a KIND and a SOURCE: revloop chart KIND RESULTS_DIR (revloop chart --list)")
    from sim.analysis import charts

    name = kind.lower().replace("-", "_")
    if name not in charts.CHARTS:
        fail(f"unknown chart {kind!r}: use one of {', '.join(charts.CHARTS)}")
    path = Path(source)
    if not path.exists():
        fail(f"{source}: no such results folder or scenario file")
    if path.is_dir() and sets:
        fail(f"{source}: --set changes a scenario file; a results folder is already resolved")
    target = Path(out) if out else path / f"{name}.png" if path.is_dir() else None
    target = target or Path(f"{path.stem}-{name}.png")
    if target.is_dir():
        fail(f"{target}: is a folder; give a file name ending in .png, .svg or .pdf")
    try:
        charts.chart_format(target)
    except ValueError as err:
        fail(str(err))
    data = guard(lambda: _chart_data(path, name, sets, reps, seed, workers))
    figure = guard(lambda: charts.chart(name, data))
    say(f"wrote {guard(lambda: charts.save_chart(figure, target, dpi=dpi))}")


def _chart_data(
    path: Path, kind: str, sets: tuple[str, ...], reps: int, seed: int | None, workers: int | None
) -> ChartData:
    """What the chart is drawn from: a results folder read, or a scenario file run here."""
    from sim.analysis.charts import chart_data

    if path.is_dir():
        return chart_data(path)
    from sim.experiment.runner import run
    from sim.scenario import load_scenario

    scenario = load_scenario(path, list(sets))
    with progress_bar(f"{scenario.name}: replications", reps) as progress:
        results = run(
            scenario,
            replications=reps,
            seed=0 if seed is None else seed,
            workers=workers,
            progress=progress,
            keep_ledgers=kind == "speed_to_lead",
        )
    return chart_data(results.whole())
