"""``revloop realism``: a scenario's operating figures beside published ranges.

Registered by :mod:`sim.cli` (``main.add_command``). Exit status 0 when every figure is
inside its range, 1 (:data:`~sim.commandline.EXIT_CHECK_FAILED`) when one is not (below,
above, or without data), 2 for bad input, 130 when interrupted.
"""

from __future__ import annotations

import sys

import click
from rich import box
from rich.markup import escape

from sim.commandline import (
    EXIT_CHECK_FAILED,
    EXIT_INTERRUPTED,
    Table,
    guard,
    progress_bar,
    say,
    set_option,
    stderr,
    stdout,
    workers_option,
)

__all__ = ["realism_command"]

_STYLE = {"inside": "green", "below": "red", "above": "red", "no data": "yellow"}


@click.command("realism")
@click.argument("scenario", type=click.Path(dir_okay=False))
@click.option("--reps", "-n", default=10, show_default=True, type=click.IntRange(min=2))
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0))
@workers_option
@click.option(
    "--months",
    default=None,
    type=click.IntRange(min=1),
    help="Horizon in months (default: the scenario's). Over 9 for the waterfall figures.",
)
@set_option
def realism_command(
    scenario: str,
    reps: int,
    seed: int,
    workers: int | None,
    months: int | None,
    sets: tuple[str, ...],
) -> None:
    """Run SCENARIO and set its operating figures beside the ranges of healthy firms.

    Inside-sales utilisation, speed to lead, untouched MQLs, dials per SDR, the unique-lead
    waterfall of the cohorts old enough to have converted, the sales cycle, field-sales
    utilisation, GRR and NRR, and month 1 against months 2-6 (steady state). Each line shows
    the mean over replications with its 95% CI, the range and its source, and a verdict:
    inside, below or above, "unsettled" when the CI crosses a bound. Exits 1 if any figure
    is not inside its range.
    """
    from sim.scenario import load_scenario
    from sim.validation.realism import realism_check

    overrides = [*sets, *([f"horizon_months={months}"] if months is not None else [])]
    sc = guard(lambda: load_scenario(scenario, overrides))
    with progress_bar(f"{sc.name}: replications", reps) as progress:
        report = guard(
            lambda: realism_check(
                sc, replications=reps, seed=seed, workers=workers, progress=progress
            )
        )
    table = Table(
        title=f"revloop realism: {sc.name}, {report.replications} replications, "
        f"{sc.horizon_months} months, seed {seed}",
        box=box.SIMPLE_HEAD,
    )
    for column, justify in (
        ("figure", "left"),
        ("mean ± 95% CI", "right"),
        ("range", "right"),
        ("verdict", "left"),
        ("source", "left"),
    ):
        table.add_column(column, justify=justify)
    for f in report:
        ci = f" ± {f.value_text(f.ci95)}" if f.n > 1 else ""
        style = _STYLE[f.verdict] if f.settled or f.verdict == "no data" else "yellow"
        table.add_row(
            escape(f.label),
            f.value_text(f.mean) + ci,
            f.range_text,
            f"[{style}]{escape(f.short)}[/{style}]",
            escape(f.source),
        )
    stdout().print(table)
    for f in report:
        if f.verdict == "no data":
            say(f"{f.label}: {f.words}")
    if any(not f.settled and f.verdict != "no data" for f in report):
        say("unsettled: the 95% CI crosses a bound of the range; more --reps would tell")
    for note in dict.fromkeys(f.note for f in report if f.note and f.verdict != "no data"):
        say(f"note: {note}")
    stdout().print(report.headline(), highlight=False)
    if not report.complete:
        stderr().print(
            f"interrupted: kept {report.replications} of {reps} replications", style="yellow"
        )
        sys.exit(EXIT_INTERRUPTED)
    if not report.inside:
        sys.exit(EXIT_CHECK_FAILED)
