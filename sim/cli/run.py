"""``revloop validate``, ``revloop run`` and ``revloop bench``: a scenario checked, run, timed."""

from __future__ import annotations

import math
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from sim.analysis.metrics import KPI_GROUPS, KPIS
from sim.cli.common import (
    EXIT_INTERRUPTED,
    EXIT_WORKERS_LOST,
    Table,
    bundled_scenario,
    fail,
    fmt,
    guard,
    load,
    progress_bar,
    say,
    stderr,
    stdout,
)
from sim.cli.options import (
    AUTO_MIN_REPS,
    count_option,
    out_option,
    reps_options,
    seed_option,
    set_option,
    workers_option,
)
from sim.experiment.results import Results
from sim.io import safe_name
from sim.scenario.schema import Scenario

if TYPE_CHECKING:
    from sim.experiment.bench import PairingResult

__all__ = ["bench", "run_command", "validate"]


@click.command()
@click.argument("scenario", type=click.Path(dir_okay=False))
@set_option
def validate(scenario: str, sets: tuple[str, ...]) -> None:
    """Check SCENARIO and print a one-screen summary of it."""
    from sim.scenario.summary import summarize

    sc = load(scenario, sets)
    for line in summarize(sc):
        say(line)
    stdout().print(f"OK: {scenario} is valid (sha256 {sc.digest()[:12]})", style="green")


QUICK_REPS = 4
"""Replications of ``revloop run --quick``: a rough answer in seconds, labelled as such."""

QUICK_MONTHS = 12
"""Horizon of ``revloop run --quick`` (at most; a shorter scenario keeps its own)."""


@click.command("run")
@click.argument("scenario", type=click.Path(dir_okay=False))
@reps_options(
    "auto",
    "Replications, or 'auto': from 10, more until --target-kpi's mean is known to within "
    "--target (95% CI half-width as a share of the mean), at most --max-reps.",
)
@seed_option
@workers_option
@out_option(
    "Folder for monthly.csv/.parquet, kpis.csv, summary.json, manifest.json and the "
    "stage reports (waterfall, channels, segments, phases .csv). "
    "Default: results/<scenario> (results/<scenario>-quick with --quick)."
)
@click.option("--no-save", is_flag=True, help="Print the KPIs and save nothing.")
@click.option(
    "--quick",
    is_flag=True,
    help=f"A what-if in seconds: {QUICK_REPS} replications of the first {QUICK_MONTHS} "
    "months, labelled QUICK; rough, not for decisions.",
)
@set_option
def run_command(
    scenario: str,
    reps: int | str,
    target_kpi: str,
    target: float,
    max_reps: int,
    seed: int,
    workers: int | None,
    out: str | None,
    no_save: bool,
    quick: bool,
    sets: tuple[str, ...],
) -> None:
    """Run SCENARIO for --reps replications (by default as many as it takes to know ending
    ARR to within 2%), report the headline KPIs and save the results folder that report,
    export, chart and diagnose read."""
    from sim.experiment.executors import default_workers
    from sim.experiment.runner import StoppingRule, run

    if target_kpi not in KPIS:
        raise click.BadParameter(
            f"unknown KPI {target_kpi!r}; KPIs are {', '.join(KPIS)}", param_hint="--target-kpi"
        )
    rule = StoppingRule(target_kpi, target, min(AUTO_MIN_REPS, max_reps), max_reps)
    sc = load(scenario, sets)
    if quick:
        reps = QUICK_REPS if reps == "auto" else min(int(reps), QUICK_REPS)
        if sc.horizon_months > QUICK_MONTHS:
            sc = load(scenario, (*sets, f"horizon_months={QUICK_MONTHS}"))
        say(
            f"QUICK what-if: {reps} replications of {sc.horizon_months} months: a rough "
            "answer for a meeting, not for decisions (run without --quick for that)",
            error=True,
        )
    if out is None and not no_save:
        out = str(Path("results") / (safe_name(sc.name) + ("-quick" if quick else "")))
    total = rule.min_replications if reps == "auto" else int(reps)
    months = sc.horizon_months
    in_process = workers == 1 or total == 1 or (workers is None and default_workers() == 1)
    # run in this process, the bar moves month by month; on a pool, replication by replication
    unit = "months" if in_process else "replications"
    scale = months if in_process else 1
    with progress_bar(f"{sc.name}: {unit}", total * scale, unit) as progress:
        finished = [0, total]

        def replications_done(done: int, wanted: int) -> None:
            finished[:] = [done, wanted]
            progress(done * scale, wanted * scale)

        def month_done(month: int, _months: int) -> None:
            progress(finished[0] * months + month, finished[1] * months)

        results = guard(
            lambda: run(
                sc,
                replications=reps,  # type: ignore[arg-type]
                on_month=month_done if in_process else None,
                seed=seed,
                workers=workers,
                progress=replications_done,
                rule=rule,
            )
        )
    _print_summary(results, quick)
    if reps == "auto" and results.complete:
        if results.converged:
            say(
                f"--reps auto: {len(results.replications)} replications put {target_kpi}'s "
                f"95% CI within {target:.1%} of its mean",
                error=True,
            )
        else:
            say(
                f"--reps auto: stopped at the cap of {max_reps} replications before "
                f"{target_kpi}'s 95% CI reached {target:.1%} of its mean",
                error=True,
            )
    if results.restarts:
        say(
            f"warning: a worker process died {results.restarts} time(s); its replications "
            "ran again on a fresh pool (same seeds, same numbers)",
            error=True,
        )
    if out is not None and results.replications:
        words = ["revloop", "run", scenario, "--reps", str(reps), "--seed", str(seed)]
        if reps == "auto":
            words += ["--target-kpi", target_kpi, "--target", str(target)]
            words += ["--max-reps", str(max_reps)]
        words += ["--workers", str(workers)] if workers else []
        words += ["--quick"] if quick else []
        words += ["--out", out, *(w for item in sets for w in ("--set", item))]
        command = shlex.join(words)
        written = guard(lambda: results.save(out, command=command))
        say(f"wrote {len(written)} files to {out}/")
        say(
            f"next: revloop report {shlex.quote(out)} (HTML), revloop export "
            f"{shlex.quote(out)} (finance workbook), revloop diagnose {shlex.quote(out)}"
        )
    if results.lost:
        lost = ", ".join(str(r) for r in results.lost)
        say(
            f"error: worker processes kept dying: replication(s) {lost} did not finish "
            f"(on fresh pools too); kept {len(results.replications)} of {results.requested}"
            + (f", saved in {out}/ marked incomplete" if out is not None else ""),
            error=True,
        )
        sys.exit(EXIT_WORKERS_LOST)
    if not results.complete:
        say(
            f"interrupted: kept {len(results.replications)} of {results.requested} replications",
            error=True,
        )
        sys.exit(EXIT_INTERRUPTED)


def _print_summary(results: Results, quick: bool = False) -> None:
    if not results.replications:
        stderr().print("no replication finished", style="yellow")
        return
    summary = results.summary()
    n = len(results.replications)
    title = f"{results.scenario.name}: {n} replications, seed {results.seed}"
    if quick:
        title = f"QUICK what-if (rough): {title}, {results.scenario.horizon_months} months"
    table = Table(title=title)
    table.add_column("KPI", no_wrap=True)
    for col in ("mean", "±95% CI", "P10", "P50", "P90"):
        table.add_column(col, justify="right", no_wrap=True)
    for group, names in KPI_GROUPS.items():
        table.add_row(f"[bold]{group}[/bold]")
        values = summary.loc[list(names), ["mean", "ci95", "p10", "p50", "p90"]].to_numpy(float)
        for kpi, row in zip(names, values, strict=True):
            table.add_row(kpi, *(fmt(kpi, float(v)) for v in row))
        table.add_section()
    stdout().print(table)


@click.command()
@click.argument("scenario", type=click.Path(dir_okay=False), default=None, required=False)
@count_option("--repeats", default=3, minimum=1)
@click.option(
    "--pair-with",
    "pair_with",
    multiple=True,
    metavar="PATH=VALUE",
    help="Also measure pairing: the variant differs from the scenario by these overrides "
    "(e.g. --pair-with inside_sales.headcount=5; repeatable).",
)
@count_option("--pairs", default=30, minimum=3, help="Paired replications.")
@click.option(
    "--pair-seed",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="--pair-with: root seed of the pairs (pair r of both scenarios seeded (seed, r)).",
)
@count_option(
    "--controls",
    "control_runs",
    default=2000,
    minimum=0,
    help="--pair-with: also measure the ratio with the team capacities of both runs as "
    "control variates, their means from this many roster-only runs (about 8 ms each on the base; "
    "0: not at all).",
)
@count_option(
    "--coupling",
    default=0,
    minimum=0,
    help="--pair-with: also compare N pairs (the first N futures of --pairs) lead by "
    "lead: the leads qualified, and won, in one scenario and not the other, and how much of "
    "the difference's spread is the lever's own reach, varying from one future to the next, "
    "and which team's capacity in the base (its turnover, vacancies, ramps) it follows.",
)
@click.option(
    "--scales",
    default=None,
    metavar="F1,F2,...",
    help="Also time one replication with every lead flow, team and starting book scaled by "
    "each factor (e.g. 0.1,1,10: about 10k, 100k and 1M leads on the base), each in its own "
    "process: microseconds per lead and peak memory.",
)
@click.option(
    "--scale-repeats",
    type=click.IntRange(1),
    default=1,
    show_default=True,
    help="--scales: time every size this many times, in turn, and report the median (a "
    "shared machine's slow spells then fall on every size alike).",
)
@click.option(
    "--planner",
    is_flag=True,
    help="Also run the headcount guide's planning search (revloop plan ... --target-arr 27M) "
    "from an "
    "empty store: simulations foreseen and run, wall time.",
)
@click.option(
    "--planner-target",
    default=None,
    metavar="ARR",
    help="--planner: another target ARR for the same search, e.g. 24.5M.",
)
@workers_option
@set_option
def bench(
    scenario: str | None,
    repeats: int,
    pair_with: tuple[str, ...],
    pairs: int,
    pair_seed: int,
    control_runs: int,
    coupling: int,
    scales: str | None,
    scale_repeats: int,
    planner: bool,
    planner_target: str | None,
    workers: int | None,
    sets: tuple[str, ...],
) -> None:
    """Time the model against a bare SimPy loop (default: the bundled base scenario).

    Also times the floor: the replication's events on the engine's clock with empty
    callbacks and its per-lead draws alone, what it would cost with no logic at all.

    With --pair-with, also run --pairs paired replications of the scenario and of the
    variant and report, per KPI, how much common random numbers cut the variance of their
    difference (var A + var B over var(B - A), with a 95% bootstrap CI). With --planner, also
    time the planning search of docs/guides/cro-headcount.md.
    """
    from sim.experiment.bench import (
        GOAL_PAIRING_KPIS,
        GOAL_REPLICATION_RATIO,
        GOAL_SCALE_SPREAD,
        REFERENCE_EVENTS,
        goal_words,
        pairing,
        scale_goals,
    )
    from sim.experiment.bench import bench as run_bench
    from sim.experiment.bench import scales as run_scales

    factors: list[float] = []
    if scales is not None:
        try:
            factors = [float(f) for f in scales.split(",")]
        except ValueError:
            fail(f"--scales: not a list of numbers (got {scales!r}); write e.g. 0.1,1,10")
        if not all(0.001 <= f <= 100 for f in factors):
            fail(f"--scales: each factor must be between 0.001 and 100 (got {scales!r})")

    path = scenario or str(bundled_scenario("base.yaml"))
    sc = load(path, sets)
    result = run_bench(sc, repeats=repeats)
    _print_figures(
        f"{sc.name}: median of {repeats} replication(s)",
        {
            "leads per replication": f"{result.leads:,}",
            "events per replication": f"{result.events:,}",
            "events per lead": f"{result.events_per_lead:.2f}",
            "seconds building the world": f"{result.build_seconds:.2f}",
            "seconds running it (model seconds)": f"{result.model_seconds:.2f}",
            "microseconds per lead": f"{1e6 / result.leads_per_second:,.0f}",
            "leads / s": f"{result.leads_per_second:,.0f}",
            "model events / s": f"{result.events_per_second:,.0f}",
            "bare SimPy events / s": f"{result.bare_events_per_second:,.0f}",
            "time per event vs bare loop": f"{result.ratio:.2f}x",
            f"replication vs bare loop of {REFERENCE_EVENTS:,} events": (
                f"{result.replication_ratio:.2f}x"
            ),
            "seconds of its events on the engine's clock, callbacks empty": (
                f"{result.clock_seconds:.2f}"
            ),
            "per-lead draws (calls)": f"{result.draws:,}",
            "seconds of those draws alone": f"{result.draw_seconds:.2f}",
        },
    )
    met = result.replication_ratio <= GOAL_REPLICATION_RATIO
    stdout().print(
        f"Speed goal (one replication at most {GOAL_REPLICATION_RATIO:g}x the bare loop of "
        f"{REFERENCE_EVENTS:,} events): {goal_words(met)} ({result.replication_ratio:.2f}x).",
        highlight=False,
        soft_wrap=True,
    )
    stdout().print(
        f"Floor: the replication's events on the engine's clock with empty callbacks and its "
        f"per-lead draws alone take {result.floor_ratio:.2f}x the bare loop of "
        f"{REFERENCE_EVENTS:,} events, before any of the organisation's logic (the goal "
        f"allows {GOAL_REPLICATION_RATIO:g}x in all).",
        highlight=False,
        soft_wrap=True,
    )
    if factors:
        with stderr().status("timing scaled replications"):
            sized = guard(lambda: run_scales(sc, factors, repeats=scale_repeats))
        each = "one replication each" if scale_repeats == 1 else f"median of {scale_repeats} each"
        table = Table(title=f"{sc.name} at {len(sized)} sizes: {each}")
        for col in ("scale", "leads", "events / lead", "us / lead", "vs first", "peak RSS MB"):
            table.add_column(col, justify="right")
        first = sized[0].us_per_lead
        for size in sized:
            table.add_row(
                f"{size.factor:g}",
                f"{size.leads:,}",
                f"{size.events / size.leads:.2f}",
                f"{size.us_per_lead:,.0f}",
                f"{size.us_per_lead / first:.2f}x",
                f"{size.peak_rss_mb:,.0f}",
            )
        stdout().print(table)
        spread, flat, small = scale_goals(sized)
        stdout().print(
            f"Scale goal (cost per lead within {GOAL_SCALE_SPREAD - 1:.0%} of the smallest "
            f"size's): {goal_words(flat)} (at most {spread:.2f}x); under 1 GB at every size: "
            f"{goal_words(small)}.",
            highlight=False,
            soft_wrap=True,
        )
    if planner:
        _bench_planner(sc, planner_target, workers)
    if not pair_with:
        return
    variant = load(path, (*sets, *pair_with))
    with progress_bar("paired replications", 2 * pairs) as bar:
        done = [0]

        def step(_done: int, _total: int) -> None:
            done[0] += 1
            bar(done[0], 2 * pairs)

        rows = guard(
            lambda: pairing(
                sc,
                variant,
                pairs=pairs,
                seed=pair_seed,
                workers=workers,
                progress=step,
                control_runs=control_runs,
            )
        )
    table = Table(
        title=f"pairing: {sc.name} vs {', '.join(pair_with)}, {pairs} pairs (seed {pair_seed})",
        caption="variance ratio = var(A) + var(B) (independent seeds) over var(B - A) "
        "(paired); with controls: over the variance left once both runs' team capacities "
        f"(means from {control_runs:,} roster-only runs) are taken out as control variates; "
        "95% CIs: bootstrap over the pairs",
    )
    columns = ["KPI", "mean difference", "variance ratio", "95% CI"]
    if control_runs:
        columns += ["with controls", "95% CI ", "explained"]
    for col in columns:
        table.add_column(col, justify="left" if col == "KPI" else "right")
    for r in rows:
        cells = [
            r.kpi,
            f"{r.mean_difference:,.1f}",
            f"{r.ratio:.1f}x",
            f"{r.low:.1f}-{r.high:.1f}x",
        ]
        if control_runs and math.isnan(r.controlled_ratio):
            cells += ["too few pairs", "", ""]
        elif control_runs:
            cells += [
                f"{r.controlled_ratio:.1f}x",
                f"{r.controlled_low:.1f}-{r.controlled_high:.1f}x",
                f"{r.controlled_r2:.0%}",
            ]
        table.add_row(*cells)
    stdout().print(table)
    for r in rows:
        if r.kpi in GOAL_PAIRING_KPIS:
            _pairing_goal(r, r.kpi, r.meets_goal)
            if control_runs:
                _pairing_goal(r, f"{r.kpi} with controls", r.controlled_meets_goal)
    if coupling:
        _bench_coupling(sc, variant, coupling, workers, pair_seed)


def _pairing_goal(row: PairingResult, what: str, met: bool | None) -> None:
    from sim.experiment.bench import GOAL_PAIRING, GOAL_PAIRING_MIN_PAIRS, goal_words

    words = goal_words(met)
    why = (
        f" (fewer than {GOAL_PAIRING_MIN_PAIRS} pairs: too few to judge)"
        if row.pairs < GOAL_PAIRING_MIN_PAIRS
        else " (its 95% CI spans the goal: more --pairs would tell)" * (words == "unsettled")
    )
    stdout().print(
        f"Pairing goal for {what} (ratio at least {GOAL_PAIRING:g}x): {words}{why}.",
        highlight=False,
        soft_wrap=True,
    )


def _bench_coupling(
    sc: Scenario, variant: Scenario, pairs: int, workers: int | None, seed: int
) -> None:
    import numpy as np

    from sim.experiment.bench import coupling as run_coupling

    with progress_bar("pairs compared lead by lead", pairs) as bar:
        rows = guard(
            lambda: run_coupling(sc, variant, pairs=pairs, seed=seed, workers=workers, progress=bar)
        )
    table = Table(
        title=f"coupling: the first {pairs} pairs, lead by lead (mean and sd per replication)",
        caption="a lead counts once, however often it reached the milestone",
    )
    for col in ("leads", "in the variant only", "in the base only", "difference"):
        table.add_column(col, justify="left" if col == "leads" else "right")
    names = {"sqls": "qualified (SQL)", "wins": "won"}
    for r in rows:
        table.add_row(
            names[r.milestone],
            *(
                f"{np.mean(getattr(r, what)):,.1f} ± {r.sd(what):,.1f}"
                for what in ("only_variant", "only_base", "difference")
            ),
        )
    stdout().print(table)
    for r in rows:
        gained, lost, spread = r.sd("only_variant"), r.sd("only_base"), r.sd("difference")
        why = (
            "mostly how many leads the variant gains, which varies from one future to the "
            "next: pairing cannot remove that"
            if r.mostly_reach
            else "leads reached in the base only vary too: part of it may be leads whose luck "
            "the two scenarios do not share"
        )
        name = names[r.milestone]
        stdout().print(
            f"{name[0].upper()}{name[1:]}: the difference varies by {spread:,.1f} leads "
            f"(sd) from one future to the next; leads in the variant only by {gained:,.1f}, in "
            f"the base only by {lost:,.1f}: {why}.",
            highlight=False,
            soft_wrap=True,
        )
        follows = r.follows()
        if follows:
            team, corr, p = follows[0]
            more = "smaller" if corr < 0 else "larger"
            stdout().print(
                f"  It follows the capacity of {team} in the base (r = {corr:+.2f}, p = {p:.2g}; "
                f"{corr**2:.0%} of its variance): the lever is worth more where that capacity "
                f"is {more}, as that team's turnover, vacancies and ramps vary from one "
                "future to the next.",
                highlight=False,
                soft_wrap=True,
            )
        else:
            stdout().print(
                f"  It follows no team's capacity in the base that {r.pairs} pairs can "
                "tell (95%): unsettled, more pairs may tell.",
                highlight=False,
                soft_wrap=True,
            )


def _bench_planner(sc: Scenario, target: str | None, workers: int | None) -> None:
    from sim.experiment.bench import planner as run_planner
    from sim.experiment.bench import planner_command

    with progress_bar("planning search", 1) as bar:
        result = guard(lambda: run_planner(sc, target=target, workers=workers, progress=bar))
    _print_figures(
        f"planning search ({sc.name}): {planner_command(result.target)}",
        {
            "plans": f"{result.plans:,}",
            "simulations foreseen: at most": f"{result.foreseen_most:,}",
            "simulations foreseen: about": f"{result.foreseen_expected:,}",
            "simulations run": f"{result.simulations:,}",
            "wall seconds": f"{result.seconds:,.1f}",
            "seconds per simulation": f"{result.seconds_per_simulation:.2f}",
        },
    )
    for line in result.answer:
        stdout().print(line, highlight=False, markup=False)


def _print_figures(title: str, figures: dict[str, str]) -> None:
    """A two-column table, figure and value, on stdout."""
    table = Table(title=title)
    table.add_column("figure")
    table.add_column("value", justify="right")
    for figure, value in figures.items():
        table.add_row(figure, value)
    stdout().print(table)
