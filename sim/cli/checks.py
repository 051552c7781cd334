"""``revloop check-model`` and ``revloop realism``: checks that exit 1 when one fails.

``check-model`` sets the model beside theory; ``realism`` sets a scenario's operating figures
beside published ranges. Exit status 0 when every check passes, 1
(:data:`~sim.cli.common.EXIT_CHECK_FAILED`) when one does not (for realism: a figure below,
above, or without data), 2 for bad input, 130 when interrupted.
"""

from __future__ import annotations

import sys

import click
from rich import box
from rich.markup import escape

from sim.cli.common import (
    EXIT_CHECK_FAILED,
    EXIT_INTERRUPTED,
    Table,
    guard,
    progress_bar,
    say,
    stderr,
    stdout,
    steps,
)
from sim.cli.options import rep_count_option, seed_option, set_option, workers_option

__all__ = ["check_model", "realism_command"]

_STYLE = {"inside": "green", "below": "red", "above": "red", "no data": "yellow"}


@click.command("realism")
@click.argument("scenario", type=click.Path(dir_okay=False))
@rep_count_option(10, minimum=2)
@seed_option
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


@click.command("check-model")
@rep_count_option(20, minimum=2)
@seed_option
@workers_option
def check_model(reps: int, seed: int, workers: int | None) -> None:
    """Check the model against theory: Erlang C/A, Markov chain, Poisson, renewals, Little.

    Each check runs a bundled scenario of scenarios/validation/ and compares the simulated
    mean (95% CI over replications) with the closed form computed from that scenario. A
    check passes when theory lies within the 99.9% interval, shown as "judged within".
    Exits 1 if any check fails.
    """
    from sim.validation.checks import validate_model

    with steps("validating") as status:
        checks = guard(
            lambda: validate_model(reps=reps, seed=seed, workers=workers, progress=status)
        )
    table = Table(title=f"revloop check-model: {reps} replications per check, seed {seed}")
    for col, justify in (
        ("check", "left"),
        ("quantity", "left"),
        ("theory", "right"),
        ("simulated ± 95% CI", "right"),
        ("judged within", "right"),
        ("verdict", "left"),
    ):
        table.add_column(col, justify=justify)
    for c in checks:
        gap = abs(c.simulated - c.expected)
        table.add_row(
            c.check,
            c.quantity + (f" ({c.note})" if c.note else ""),
            f"{c.expected:.4g}",
            f"{c.simulated:.4g} ± {c.ci95:.2g}",
            f"± {c.tolerance:.2g}",
            ("[green]pass[/green]" if c.passed else "[red]FAIL[/red]")
            + (" (outside the 95% CI)" if gap > c.ci95 else ""),
        )
    stdout().print(table)
    say(
        "judged within: the 99.9% interval of the simulated mean (or the rounding floor): a "
        "correct model fails one check in a thousand by chance; a pass outside the 95% CI "
        "shown is such a near miss"
    )
    failed = [c for c in checks if not c.passed]
    stdout().print(f"{len(checks) - len(failed)} passed, {len(failed)} failed")
    if failed:
        sys.exit(EXIT_CHECK_FAILED)
