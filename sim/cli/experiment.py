"""``revloop compare``, ``sweep``, ``plan`` and ``reverse-funnel``: experiments on scenarios.

Thin click wrappers over :func:`sim.experiment.compare.compare`, :func:`sim.experiment.sweep
.sweep`, :func:`~sim.experiment.sweep.sweep_summary`, :func:`~sim.experiment.sweep.sensitivity`,
the plan search of :mod:`sim.experiment.plan` and :func:`sim.experiment.reverse.reverse_funnel`.
"""

from __future__ import annotations

import math
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import pandas as pd
from rich import box

from sim.analysis.metrics import KPIS
from sim.cli.common import (
    EXIT_INTERRUPTED,
    Table,
    fmt,
    guard,
    load,
    nothing_kept,
    progress_bar,
    say,
    stderr,
    stdout,
    wrote,
)
from sim.cli.options import (
    AUTO_MIN_REPS,
    count_option,
    executor_options,
    out_option,
    rep_count_option,
    reps_options,
    scenarios_set_option,
    seed_option,
)
from sim.experiment.compare import HEADLINE_KPIS, Comparison, compare
from sim.io import COMPARISON, csv_writer, safe_name, write_folder, write_json

if TYPE_CHECKING:
    from sim.experiment.plan import ArrAtConfidence, PlanSearch
    from sim.experiment.reverse import ReverseFunnel

__all__ = ["compare_command", "plan_command", "reverse_funnel_command", "sweep_command"]

PLAN_STORE = "plan.duckdb"
"""The store of every simulation of a plan search, beside plans.csv and plan.json."""

REVERSE_FLAGS = {
    "by": "--by",
    "replications": "--reps",
    "seed": "--seed",
    "target_new_arr": "--target-new-arr",
    "multipliers": "--multipliers",
}
"""The ``revloop reverse-funnel`` option of each parameter its problems are located by."""


@click.command("compare")
@click.argument("scenarios", nargs=-1, required=True, type=click.Path(dir_okay=False))
@reps_options(
    "auto",
    "Replications per scenario, or 'auto': from 10, more until every difference in "
    "--target-kpi is told from zero or its CI is within --target of the mean.",
)
@seed_option
@click.option(
    "--kpi",
    "kpis",
    multiple=True,
    metavar="KPI",
    help="KPI to show (repeatable; 'all' for every KPI). Default: the headline KPIs.",
)
@count_option(
    "--controls",
    "control_runs",
    default=0,
    minimum=0,
    help="Also give each difference with the team capacities of both scenarios (turnover, "
    "vacancies, ramps) as control variates, their means from this many roster-only runs "
    "(e.g. 2000: about 8 ms each on the base): the same mean difference, a narrower CI "
    "when the lever's worth varies with turnover. Saved as controlled.csv with --out.",
)
@out_option("Folder for comparison.csv (the table) and kpis.csv (every replication).")
@executor_options
@scenarios_set_option
def compare_command(
    scenarios: tuple[str, ...],
    reps: int | str,
    seed: int,
    kpis: tuple[str, ...],
    control_runs: int,
    target_kpi: str,
    target: float,
    max_reps: int,
    out: str | None,
    workers: int | None,
    executor: str,
    sets: tuple[str, ...],
) -> None:
    """Run SCENARIOS on the same seeds and compare each with the first one.

    For each KPI: every scenario's P10 / P50 / P90 and mean, and its paired difference to the
    first scenario (replication r of every scenario uses the same seed) with a 95% CI, the
    share of paired replications in which it does better, P(better), and the probability that
    its mean is better, P(mean better).
    """
    err = stderr()
    shown = list(KPIS) if "all" in kpis else list(kpis or HEADLINE_KPIS)
    unknown = [k for k in [*shown, target_kpi] if k not in KPIS]
    if unknown:
        raise click.BadParameter(f"unknown KPI(s) {unknown}; KPIs are {', '.join(KPIS)}")
    loaded = [load(path, sets) for path in scenarios]
    with progress_bar("compare", unit="replications") as progress, nothing_kept():
        result = guard(
            lambda: compare(
                loaded,
                replications=reps,  # type: ignore[arg-type]
                seed=seed,
                executor=executor,
                workers=workers,
                progress=progress,
                target_kpi=target_kpi,
                target=target,
                min_replications=min(AUTO_MIN_REPS, max_reps),
                max_replications=max_reps,
            )
        )
    _print_comparison(result, shown)
    controlled = None
    if control_runs and len(result.labels) > 1:
        controlled = guard(lambda: result.controlled(shown, control_runs))
        _print_controlled(controlled, result, control_runs)
    if result.target is not None and not result.converged:
        err.print(
            f"--reps auto: stopped at the cap of {max_reps} replications before every "
            f"difference in {target_kpi} was told from zero or its CI reached {target:.1%} "
            "of its mean",
            style="yellow",
        )
    if out is not None:
        guard(lambda: _save_comparison(result, out, controlled))


def _print_controlled(controlled: pd.DataFrame, result: Comparison, runs: int) -> None:
    first = result.labels[0]
    if controlled.empty:
        say(
            f"--controls: {result.replications} pairs are too few for the team capacities "
            "as control variates (one more than the teams, and two, at least)"
        )
        return
    table = Table(
        title="with the teams' capacities in both runs as control variates "
        f"(means from {runs:,} roster-only runs)"
    )
    for name in ("KPI", "scenario"):
        table.add_column(name)
    for name in (f"mean - {first}, 95% CI", "controlled, 95% CI", "explained"):
        table.add_column(name, justify="right")
    for row in controlled.to_dict(orient="records"):
        kpi = str(row["kpi"])
        plain = fmt(kpi, row["diff"], signed=True)
        table.add_row(
            kpi,
            str(row["scenario"]),
            f"{plain} ({fmt(kpi, row['diff_low'])} to {fmt(kpi, row['diff_high'])})",
            f"{fmt(kpi, row['cv_diff'], signed=True)} "
            f"({fmt(kpi, row['cv_low'])} to {fmt(kpi, row['cv_high'])})",
            f"{row['explained']:.0%}",
        )
    stdout().print(table)
    for row in controlled.to_dict(orient="records"):
        say(f"{row['kpi']}, {row['scenario']} - {first}, controlled: {row['verdict']}")


def _print_comparison(result: Comparison, kpis: Sequence[str]) -> None:
    console = stdout()
    summary = result.summary(kpis)
    first = result.labels[0]
    title = f"{result.replications} paired replications per scenario, seed {result.seed}"
    if result.target is not None:
        title += f" (auto: {result.target_kpi} CI <= {result.target:.1%} of its mean)"
    table = Table(title=title)
    for name in ("KPI", "scenario"):
        table.add_column(name)
    for name in ("P10", "P50", "P90", f"mean - {first}, 95% CI", "P(better)", "P(mean better)"):
        table.add_column(name, justify="right")
    for row in summary.to_dict(orient="records"):
        kpi, label = str(row["kpi"]), str(row["scenario"])
        diff = f"{fmt(kpi, row['diff'], signed=True)} ± {fmt(kpi, row['diff_ci95'])}"
        table.add_row(
            kpi if label == first else "",
            label,
            *(fmt(kpi, row[band]) for band in ("p10", "p50", "p90")),
            "" if label == first else diff,
            _percent(row["p_better"]),
            _percent(row["p_mean_better"]),
            end_section=label == result.labels[-1],
        )
    console.print(table)
    for row in summary.to_dict(orient="records"):
        if row["scenario"] != first:
            say(f"{row['kpi']}, {row['scenario']} - {first}: {row['verdict']}")


def _percent(value: float) -> str:
    return "" if not math.isfinite(value) else f"{value:.0%}"


def _save_comparison(result: Comparison, out: str, controlled: pd.DataFrame | None) -> None:
    """``comparison.csv`` and ``kpis.csv``, and each scenario's results folder inside ``out``
    (listed in ``comparison.json``), so that report, export and chart read it."""
    folders = []
    for label, results in zip(result.labels, result.results, strict=True):
        name = safe_name(label)
        results.save(Path(out) / name, command=f"revloop compare ... --out {out}")
        folders.append({"label": label, "folder": name})
    listing = {"baseline": result.labels[0], "seed": result.seed, "scenarios": folders}
    files = {
        "comparison.csv": csv_writer(result.summary(), index=False),
        "kpis.csv": csv_writer(result.kpis(), index=False),
        COMPARISON: lambda p: write_json(p, listing),
    }
    if controlled is not None:
        files["controlled.csv"] = csv_writer(controlled, index=False)
    write_folder(out, files, keep=[f["folder"] for f in folders])
    say(
        f"wrote comparison.csv, kpis.csv and a results folder per scenario to {out}/; next: "
        f"revloop report {shlex.quote(out)}"
    )


@click.command("sweep")
@click.argument("sweep_file", metavar="SWEEP", type=click.Path(dir_okay=False))
@out_option("DuckDB results file; run again with the same file to resume.", "file", required=True)
@click.option(
    "--summary",
    is_flag=True,
    help="Then print the per-point table and the sensitivity of --kpi.",
)
@click.option(
    "--kpi",
    default=None,
    metavar="KPI",
    help="KPI of the summary (default: the sweep's first KPI).",
)
@executor_options
def sweep_command(
    sweep_file: str,
    out: str,
    summary: bool,
    kpi: str | None,
    workers: int | None,
    executor: str,
) -> None:
    """Run every (point, replication) of SWEEP, storing rows in --out as tasks finish.

    Killed or interrupted, it keeps every finished task; the same command resumes, skipping
    them. Replication r of every point uses the same seed (common random numbers).
    """
    from sim.experiment.sweep import load_sweep, sweep

    console, err = stdout(), stderr()
    definition = guard(lambda: load_sweep(sweep_file))
    chosen = kpi or definition.spec.kpis[0]
    if chosen not in definition.spec.kpis:
        raise click.BadParameter(
            f"{chosen!r} is not stored by this sweep; it keeps {definition.spec.kpis}",
            param_hint="--kpi",
        )
    with progress_bar(f"sweep {definition.spec.name}", unit="tasks") as progress:
        run = guard(
            lambda: sweep(definition, out, executor=executor, workers=workers, progress=progress)
        )
    if run.code_changed:
        err.print(
            f"warning: {out} was started by other revloop code (another version or a local "
            "edit): rows stored before may differ from what this code computes",
            style="yellow",
            soft_wrap=True,
        )
    if run.computed:
        console.print(
            f"{definition.id}: {run.computed} task(s) in {run.seconds:.1f} s "
            f"({run.tasks_per_second:.2f} tasks/s on {run.executor}), "
            f"{run.skipped} already stored; {run.total} in all -> {out}",
            highlight=False,
            soft_wrap=True,
        )
    else:
        console.print(
            f"{definition.id}: all {run.total} tasks already in {out}",
            highlight=False,
            soft_wrap=True,
        )
    if not run.complete:
        words = ["revloop", "sweep", sweep_file, "--out", out]
        err.print(
            f"interrupted: {run.skipped + run.computed} of {run.total} tasks stored; "
            f"resume with: {shlex.join(words)}",
            style="yellow",
            soft_wrap=True,
        )
        sys.exit(EXIT_INTERRUPTED)
    if summary:
        _print_sweep_summary(out, chosen)


def _print_sweep_summary(out: str, kpi: str) -> None:
    from sim.experiment.sweep import sensitivity, sweep_summary

    console = stdout()
    table = sweep_summary(out, [kpi])
    params = [c for c in table.columns if c not in _SUMMARY_COLUMNS]
    grid = Table(title=f"{kpi} per point")
    for name in params:
        grid.add_column(name, justify="right")
    for name in ("n", "mean", "±95% CI", "P10", "P50", "P90"):
        grid.add_column(name, justify="right")
    for values in table.to_dict(orient="records"):
        grid.add_row(
            *(_cell(values[c]) for c in params),
            str(int(values["n"])),
            *(fmt(kpi, float(values[c])) for c in ("mean", "ci95", "p10", "p50", "p90")),
        )
    console.print(grid)
    effects = sensitivity(out, kpi)
    sens = Table(title=f"what moves {kpi}, most first")
    for column in effects.columns.drop("kpi"):
        sens.add_column(str(column), justify="left" if column == "parameter" else "right")
    for record in effects.drop(columns="kpi").to_dict(orient="records"):
        sens.add_row(*(_sens_cell(kpi, str(k), v) for k, v in record.items()))
    console.print(sens)


_SUMMARY_COLUMNS = {"kpi", "n", "mean", "sd", "ci95", "p10", "p50", "p90"}


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _sens_cell(kpi: str, column: str, value: Any) -> str:
    if column in {"effect", "effect_ci95", "swing", "mu", "mu_star", "mu_star_ci95", "sigma"}:
        return fmt(kpi, float(value), signed=column in {"effect", "mu"})
    if column in {"share", "S1", "S1_ci95", "ST", "ST_ci95", "rho", "rho_low", "rho_high"}:
        return f"{float(value):.2f}"
    return _cell(value)


@click.command("plan")
@click.argument("scenario_path", metavar="SCENARIO", type=click.Path(dir_okay=False))
@click.option("--by", "by", required=True, help="Target month, e.g. 2028-12 (end of that month).")
@click.option("--target-arr", default=None, help="ARR to reach by then, e.g. 20M, 800k.")
@click.option(
    "--confidence",
    default=0.8,
    show_default=True,
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    help="Required probability of reaching the target.",
)
@click.option(
    "--hire",
    "hires",
    multiple=True,
    metavar="ROLE=LOW..HIGH[:STEP]",
    help="Heads a plan may hire per role (sdr, ae, csm, bdr), e.g. sdr=0..6 or ae=0..4:2; "
    "repeat per role. Default: sdr=0..6:2, ae=0..4:2, csm=0..2:2.",
)
@click.option(
    "--quarters",
    default=None,
    metavar="Q..Q|Q,Q",
    help="When a wave of hires may start, e.g. 2027Q1..2027Q4 or 2027Q1,2027Q3. "
    "Default: the first quarter and two quarters later.",
)
@click.option("--budget", default=None, help="Most a plan may cost up to --by, e.g. 2M.")
@click.option(
    "--spend",
    "spends",
    multiple=True,
    metavar="CHANNEL=LOW..HIGH[:STEP]",
    help="Monthly budgets a plan may give a channel bought by budget (spend: in the "
    "scenario), from the first month, e.g. paid_search=40k..160k:40k; repeat per channel. "
    "Their cost is the spend over the scenario's own (a cut is a saving).",
)
@click.option(
    "--plan",
    "plan_text",
    default=None,
    metavar="ROLE=N@QUARTER,...",
    help="Answer the inverse question for this plan instead of searching: the ARR reached "
    "at --confidence, e.g. --plan sdr=4@2027Q1,ae=2@2027Q3 ('none': as the scenario is).",
)
@rep_count_option(100, minimum=2, help="--plan: replications.", short=False)
@count_option("--first-reps", default=4, minimum=1)
@count_option(
    "--max-reps",
    default=64,
    minimum=1,
    help="Most replications a plan gets in the search (doubling from --first-reps).",
)
@count_option(
    "--confirm-reps",
    default=100,
    minimum=1,
    help="Most fresh replications that confirm the chosen plan (a quarter, then half, then "
    "all, stopping once the CI is wholly above or below --confidence).",
)
@click.option(
    "--futility",
    default=0.05,
    show_default=True,
    type=float,
    help="Stop racing a plan (as undecided) when its chance of being settled by --max-reps "
    "replications falls under this; 0 never stops early.",
)
@click.option(
    "--max-sims",
    default=None,
    type=click.IntRange(min=1),
    help="Stop the search after this many simulations.",
)
@click.option(
    "--no-prune",
    is_flag=True,
    help="Do not assume that more people hired earlier never lower the odds.",
)
@count_option("--runners-up", default=5, minimum=0)
@seed_option
@out_option(
    "Folder for plans.csv, plan.json and plan.duckdb (every simulation, so an "
    "interrupted search resumes where it stopped). Default: results/plan/<scenario>."
)
@executor_options
@scenarios_set_option
def plan_command(
    scenario_path: str,
    by: str,
    target_arr: str | None,
    confidence: float,
    hires: tuple[str, ...],
    quarters: str | None,
    budget: str | None,
    spends: tuple[str, ...],
    plan_text: str | None,
    reps: int,
    first_reps: int,
    max_reps: int,
    confirm_reps: int,
    futility: float,
    max_sims: int | None,
    no_prune: bool,
    runners_up: int,
    seed: int,
    out: str | None,
    workers: int | None,
    executor: str,
    sets: tuple[str, ...],
) -> None:
    """Find the cheapest hiring plan that reaches --target-arr by --by with --confidence odds.

    Plans (how many SDRs, AEs, CSMs, hired in which quarter, within --hire bounds and
    --budget) are run with few replications on common random numbers, those that settle
    the most others first (the most generous plan: if it fails, every plan it dominates
    fails); replications double for the plans whose odds are close to --confidence; the
    winner is confirmed on fresh replications. A plan whose CI straddles the confidence is
    reported as undecided, never as meeting the target. The most simulations the search
    may need, and about how many it should, are printed before it starts.

    With --plan (or without --target-arr), answer the inverse question: the ARR that plan
    reaches by --by in --confidence of futures.
    """
    from sim.experiment import plan as planner

    err = stderr()
    scenario = load(scenario_path, sets)
    target = None if target_arr is None else guard(lambda: planner.parse_money(target_arr))
    if plan_text is not None or target is None:
        with progress_bar("plan", unit="simulations") as progress, nothing_kept():
            answer = guard(
                lambda: planner.arr_at_confidence(
                    scenario,
                    plan_text or "none",
                    by=by,
                    confidence=confidence,
                    replications=reps,
                    seed=seed,
                    target_arr=target,
                    executor=executor,
                    workers=workers,
                    progress=progress,
                ),
                flags=planner.FLAGS,
            )
        console = stdout()
        for line in answer.sentences():
            console.print(line, highlight=False, markup=False)
        if out is not None:
            guard(lambda: _save_inverse(answer, Path(out)))
        return

    plan_space = guard(
        lambda: planner.PlanSpace.parse(scenario, by, hires, quarters, budget, spends)
    )
    # the scenario's name is text from a file: never a path of its own (see docs/guarantees.md)
    folder = Path(out) if out is not None else Path("results", "plan", safe_name(scenario.name))
    procedure: dict[str, Any] = {
        "confidence": confidence,
        "space": plan_space,
        "first_reps": first_reps,
        "max_reps": max_reps,
        "confirm_reps": confirm_reps,
        "prune": not no_prune,
    }
    cost = guard(lambda: planner.search_cost(scenario, by, **procedure), planner.FLAGS)
    err.print(cost.sentence(), markup=False, highlight=False, soft_wrap=True)
    with progress_bar("plan", unit="simulations") as progress:
        result = guard(
            lambda: planner.plan_search(
                scenario,
                target,
                by,
                **procedure,
                seed=seed,
                futility=futility,
                max_simulations=max_sims,
                executor=executor,
                workers=workers,
                store=folder / PLAN_STORE,
                progress=progress,
            ),
            flags=planner.FLAGS,
        )
    _print_plans(result, runners_up)
    guard(lambda: _save_plans(result, folder))
    if not result.complete:
        err.print(
            f"stopped early ({result.stopped}); run the same command again to resume",
            style="yellow",
        )
        if result.stopped == "interrupted":
            sys.exit(EXIT_INTERRUPTED)


def _print_plans(result: PlanSearch, runners_up: int) -> None:
    console = stdout()
    shown = ([result.best] if result.best is not None else []) + result.runners_up(runners_up)
    best = result.best
    fresh = best.confirm.level if best is not None and best.confirm is not None else result.level
    if shown:
        table = Table(
            title=f"Plans for {fmt('ending_arr', result.target_arr)} ARR by {result.month_label} "
            f"at {result.confidence:.0%} odds (Clopper-Pearson CIs: {fresh:.1%} for the "
            f"recommended plan's fresh replications, {result.look_level:.1%} for the search's "
            f"{result.looks} looks)"
        )
        for name in ("plan", "cost", "status", "reps", "P(reach)", "CI"):
            table.add_column(name, justify="left" if name in ("plan", "status") else "right")
        for c in shown:
            est = c.confirm if c is result.best and c.confirm is not None else c.search
            status = "recommended" if c is result.best else c.status
            table.add_row(
                c.label,
                fmt("total_cost", c.cost),
                status,
                str(est.n),
                f"{est.p:.0%}",
                f"{est.low:.0%} - {est.high:.0%}",
            )
        console.print(table)
    for line in result.sentences():
        console.print(line, highlight=False, markup=False)


def _save_plans(result: PlanSearch, folder: Path) -> None:
    best = result.best
    summary = {
        "scenario": result.scenario.name,
        "target_arr": result.target_arr,
        "by": result.month_label,
        "confidence": result.confidence,
        "seed": result.seed,
        "plans": len(result.candidates),
        "simulations": result.simulations,
        "reused_from_store": result.stored,
        "simulations_at_most": None if result.search_cost is None else result.search_cost.most,
        "simulations_expected": None if result.search_cost is None else result.search_cost.expected,
        "confirmations": result.confirmations,
        "search_ci_level": result.look_level,
        "complete": result.complete,
        "stopped": result.stopped,
        "answer": result.sentences(),
        "best": None
        if best is None or best.confirm is None
        else {
            "plan": best.label,
            "key": best.plan.key,
            "cost": best.cost,
            "probability": best.confirm.p,
            "ci95": [best.confirm.low, best.confirm.high],
            "confirm_replications": best.confirm.n,
        },
    }
    files = {
        "plans.csv": csv_writer(result.table(), index=False),
        "plan.json": lambda p: write_json(p, summary),
    }
    write_folder(folder, files, keep=(PLAN_STORE,))
    wrote("plans.csv and plan.json", folder)


def _save_inverse(answer: ArrAtConfidence, folder: Path) -> None:
    summary = {
        "plan": answer.label,
        "key": answer.plan.key,
        "by": answer.month_label,
        "confidence": answer.confidence,
        "arr": answer.arr,
        "ci95": [answer.low, answer.high],
        "replications": answer.replications,
        "cost": answer.cost,
        "answer": answer.sentences(),
    }
    summary = {
        key: None if isinstance(value, float) and not math.isfinite(value) else value
        for key, value in summary.items()
    }
    summary["ci95"] = [x if math.isfinite(x) else None for x in (answer.low, answer.high)]
    samples = pd.DataFrame({"replication": range(answer.replications), "arr": answer.samples})
    files = {
        "arr_at_confidence.json": lambda p: write_json(p, summary),
        "arr_samples.csv": csv_writer(samples, index=False),
    }
    write_folder(folder, files, keep=(PLAN_STORE,))
    wrote("arr_at_confidence.json and arr_samples.csv", folder)


@click.command("reverse-funnel")
@click.argument("scenario_path", metavar="SCENARIO", type=click.Path(dir_okay=False))
@click.option(
    "--target-new-arr",
    "target_text",
    required=True,
    help="New ARR (bookings from new customers) to book from the first month to --by, "
    "e.g. 12M, 800k.",
)
@click.option("--by", "by", required=True, help="Last month counted, e.g. 2028-12.")
@click.option(
    "--multipliers",
    "multipliers_text",
    default=None,
    metavar="X,Y,...",
    help="Lead-volume multipliers to run (1, today's volume, is always run). "
    "Default: 0.5,0.75,1,1.25,1.5,2,3.",
)
@rep_count_option(
    8, minimum=2, help="Replications per multiplier (the same seeds at every one).", short=False
)
@seed_option
@out_option(
    "Folder for reverse_funnel.csv (one row per multiplier) and funnel_needed.csv "
    "(the funnel the target needs: today, simulated, naive)."
)
@executor_options
@scenarios_set_option
def reverse_funnel_command(
    scenario_path: str,
    sets: tuple[str, ...],
    target_text: str,
    by: str,
    multipliers_text: str | None,
    reps: int,
    seed: int,
    out: str | None,
    workers: int | None,
    executor: str,
) -> None:
    """What leads and marketing budget --target-new-arr of new ARR by --by needs.

    Every marketing channel's lead volume is scaled by each multiplier (a channel bought by
    budget gets the spend its response curve needs for that many leads) and run on the
    same seeds. The answer is the smallest multiplier whose mean new ARR reaches the
    target, interpolated between the two that bracket it, with the funnel it needs (leads,
    MQLs, SQLs, opportunities, wins, budget per channel) beside the naive answer that
    divides the target by today's average conversion, and the utilisation of inside and
    field sales there. A target outside the range tried, or whose bracketing CIs reach
    across it (unsettled), is said so.
    """
    from sim.experiment.plan import parse_money
    from sim.experiment.reverse import DEFAULT_MULTIPLIERS, parse_multipliers, reverse_funnel

    target = guard(lambda: parse_money(target_text, "--target-new-arr"))
    multipliers = (
        DEFAULT_MULTIPLIERS
        if multipliers_text is None
        else guard(lambda: parse_multipliers(multipliers_text))
    )
    scenario = load(scenario_path, sets)
    with progress_bar("reverse funnel", unit="simulations") as progress, nothing_kept():
        result = guard(
            lambda: reverse_funnel(
                scenario,
                target,
                by,
                multipliers=multipliers,
                replications=reps,
                seed=seed,
                executor=executor,
                workers=workers,
                progress=progress,
            ),
            REVERSE_FLAGS,
        )
    _print_reverse_funnel(result)
    if out is not None:
        guard(lambda: _save_reverse_funnel(result, out))


def _print_reverse_funnel(result: ReverseFunnel) -> None:
    console = stdout()
    first = result.scenario.start_date.strftime("%Y-%m")
    table = Table(
        title=f"New ARR {first} to {result.month_label} by lead volume, "
        f"{result.replications} replications each (± 95% CI)",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    for name in ("volume", "leads", "SQLs", "wins", "new ARR", "±", "budget", "IS", "FS"):
        table.add_column(name, justify="right", no_wrap=True)
    for row in result.rows:
        table.add_row(
            f"{row['multiplier']:g}x",
            fmt("leads", row["leads"]),
            fmt("sqls", row["sqls"]),
            fmt("wins", row["wins"]),
            fmt("new_arr", row["new_arr"]),
            fmt("new_arr", row["new_arr_ci95"]),
            fmt("marketing_cost", row["marketing_cost"]),
            fmt("is_utilisation", row["is_utilisation"]),
            fmt("fs_utilisation", row["fs_utilisation"]),
        )
    console.print(table)
    funnel = result.funnel()
    answer = f"{result.multiplier:.2f}x" if result.reached else result.status
    needed = Table(
        title=f"What {fmt('new_arr', result.target_new_arr)} new ARR by {result.month_label} needs",
        box=box.SIMPLE_HEAD,
    )
    needed.add_column("")
    for name in ("today\n1x", f"simulated\n{answer}", f"naive\n{result.naive_multiplier:.2f}x"):
        needed.add_column(name, justify="right")
    for figure, values in funnel.iterrows():
        name = str(figure)
        label, kind = _FUNNEL_ROWS.get(
            name, (name.removeprefix("budget_") + " budget", "marketing_cost")
        )
        needed.add_row(
            label,
            *(fmt(kind, float(v)) for v in values),
            end_section=name in ("new_arr", "marketing_cost", "acv"),
        )
    console.print(needed)
    for line in result.summary():
        console.print(line, highlight=False, markup=False, soft_wrap=True)


_FUNNEL_ROWS = {
    "leads": ("leads", "leads"),
    "mqls": ("MQLs", "mqls"),
    "sqls": ("SQLs", "sqls"),
    "opportunities": ("opportunities", "opportunities"),
    "wins": ("wins", "wins"),
    "new_arr": ("new ARR", "new_arr"),
    "marketing_cost": ("marketing budget", "marketing_cost"),
    "lead_to_mql": ("lead -> MQL", "win_rate"),
    "mql_to_sql": ("MQL -> SQL", "win_rate"),
    "sql_to_opportunity": ("SQL -> opportunity", "win_rate"),
    "opportunity_to_win": ("opportunity -> win", "win_rate"),
    "acv": ("ACV", "marketing_cost"),
    "is_utilisation": ("inside sales utilisation", "is_utilisation"),
    "fs_utilisation": ("field sales utilisation", "fs_utilisation"),
}
"""Label of each row of the funnel table, and the KPI whose format it takes (rates print as
the win rate does, ACV as money); a channel's budget row is ``<channel> budget``, in money."""


def _save_reverse_funnel(result: ReverseFunnel, out: str) -> None:
    files = {
        "reverse_funnel.csv": csv_writer(result.to_frame(), index=False),
        "funnel_needed.csv": csv_writer(result.funnel()),
    }
    write_folder(out, files)
    wrote("reverse_funnel.csv and funnel_needed.csv", out)
