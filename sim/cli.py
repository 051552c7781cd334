"""The ``revloop`` command line: a thin layer over the public functions notebooks call."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

import click

from sim.analysis.metrics import KPI_GROUPS, KPIS
from sim.commandline import (
    AUTO_MIN_REPS,
    EXIT_CHECK_FAILED,
    EXIT_INTERRUPTED,
    EXIT_WORKERS_LOST,
    Group,
    Table,
    fail,
    fmt,
    guard,
    progress_bar,
    reps_options,
    say,
    set_option,
    stderr,
    stdout,
    steps,
    workers_option,
)
from sim.experiment.results import Results
from sim.io import safe_name
from sim.scenario import bundled, load_scenario
from sim.scenario.schema import Scenario


def _load(path: str, sets: Sequence[str]) -> Scenario:
    return guard(lambda: load_scenario(path, sets))


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="revloop")
def main() -> None:
    """revloop: Monte Carlo simulation of a B2B revenue organisation.

    Leads flow marketing -> inside sales -> field sales -> customer success, and whatever
    falls out is recycled. Bad input exits with status 2 and one line per problem.
    """


@main.command()
@click.argument("scenario", type=click.Path(dir_okay=False))
@set_option
def validate(scenario: str, sets: tuple[str, ...]) -> None:
    """Check SCENARIO and print a one-screen summary of it."""
    from sim.scenario.summary import summarize

    sc = _load(scenario, sets)
    for line in summarize(sc):
        say(line)
    stdout().print(f"OK: {scenario} is valid (sha256 {sc.digest()[:12]})", style="green")


QUICK_REPS = 4
"""Replications of ``revloop run --quick``: a rough answer in seconds, labelled as such."""

QUICK_MONTHS = 12
"""Horizon of ``revloop run --quick`` (at most; a shorter scenario keeps its own)."""


@main.command("run")
@click.argument("scenario", type=click.Path(dir_okay=False))
@reps_options(
    "auto",
    "Replications, or 'auto': from 10, more until --target-kpi's mean is known to within "
    "--target (95% CI half-width as a share of the mean), at most --max-reps.",
)
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0))
@workers_option
@click.option(
    "--out",
    "-o",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder for monthly.csv/.parquet, kpis.csv, summary.json, manifest.json and the "
    "stage reports (waterfall, channels, segments, phases .csv). "
    "Default: results/<scenario> (results/<scenario>-quick with --quick).",
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
    sc = _load(scenario, sets)
    if quick:
        reps = QUICK_REPS if reps == "auto" else min(int(reps), QUICK_REPS)
        if sc.horizon_months > QUICK_MONTHS:
            sc = _load(scenario, (*sets, f"horizon_months={QUICK_MONTHS}"))
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
                seed=seed,
                workers=workers,
                progress=replications_done,
                on_month=month_done if in_process else None,
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


@main.command()
@click.argument("scenario", type=click.Path(dir_okay=False), default=None, required=False)
@click.option("--repeats", default=3, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--pair-with",
    "pair_with",
    multiple=True,
    metavar="PATH=VALUE",
    help="Also measure pairing: the variant differs from the scenario by these overrides "
    "(e.g. --pair-with inside_sales.headcount=5; repeatable).",
)
@click.option(
    "--pairs",
    default=30,
    show_default=True,
    type=click.IntRange(min=3),
    help="Paired replications.",
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
    scales: str | None,
    planner: bool,
    planner_target: str | None,
    workers: int | None,
    sets: tuple[str, ...],
) -> None:
    """Time the model against a bare SimPy loop (default: the bundled base scenario).

    With --pair-with, also run --pairs paired replications of the scenario and of the
    variant and report, per KPI, how much common random numbers cut the variance of their
    difference (var A + var B over var(B - A), with a 95% bootstrap CI). With --planner, also
    time the planning search of docs/guides/cro-headcount.md.
    """
    from sim.experiment.bench import REFERENCE_EVENTS, pairing
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

    path = scenario or str(_bundled("base.yaml"))
    sc = _load(path, sets)
    result = run_bench(sc, repeats=repeats)
    table = Table(title=f"{sc.name}: median of {repeats} replication(s)")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_row("leads per replication", f"{result.leads:,}")
    table.add_row("events per replication", f"{result.events:,}")
    table.add_row("events per lead", f"{result.events_per_lead:.2f}")
    table.add_row("model seconds", f"{result.model_seconds:.2f}")
    table.add_row("microseconds per lead", f"{1e6 / result.leads_per_second:,.0f}")
    table.add_row("leads / s", f"{result.leads_per_second:,.0f}")
    table.add_row("model events / s", f"{result.events_per_second:,.0f}")
    table.add_row("bare SimPy events / s", f"{result.bare_events_per_second:,.0f}")
    table.add_row("time per event vs bare loop", f"{result.ratio:.2f}x")
    table.add_row(
        f"replication vs bare loop of {REFERENCE_EVENTS:,} events",
        f"{result.replication_ratio:.2f}x",
    )
    stdout().print(table)
    if factors:
        with stderr().status("timing scaled replications"):
            sized = guard(lambda: run_scales(sc, factors))
        table = Table(title=f"{sc.name} at {len(sized)} sizes: one replication each")
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
    if planner:
        _bench_planner(sc, planner_target, workers)
    if not pair_with:
        return
    variant = _load(path, (*sets, *pair_with))
    with progress_bar("paired replications", 2 * pairs) as bar:
        done = [0]

        def step(_done: int, _total: int) -> None:
            done[0] += 1
            bar(done[0], 2 * pairs)

        rows = guard(lambda: pairing(sc, variant, pairs=pairs, workers=workers, progress=step))
    table = Table(
        title=f"pairing: {sc.name} vs {', '.join(pair_with)}, {pairs} pairs (seed 0)",
        caption="variance ratio = var(A) + var(B) (independent seeds) over var(B - A) "
        "(paired); 95% CI: bootstrap over the pairs",
    )
    for col in ("KPI", "mean difference", "variance ratio", "95% CI"):
        table.add_column(col, justify="left" if col == "KPI" else "right")
    for r in rows:
        table.add_row(
            r.kpi, f"{r.mean_difference:,.1f}", f"{r.ratio:.1f}x", f"{r.low:.1f}-{r.high:.1f}x"
        )
    stdout().print(table)


def _bench_planner(sc: Scenario, target: str | None, workers: int | None) -> None:
    from sim.experiment.bench import planner as run_planner
    from sim.experiment.bench import planner_command

    with progress_bar("planning search", 1) as bar:
        result = guard(lambda: run_planner(sc, target=target, workers=workers, progress=bar))
    table = Table(title=f"planning search ({sc.name}): {planner_command(result.target)}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_row("plans", f"{result.plans:,}")
    table.add_row("simulations foreseen: at most", f"{result.foreseen_most:,}")
    table.add_row("simulations foreseen: about", f"{result.foreseen_expected:,}")
    table.add_row("simulations run", f"{result.simulations:,}")
    table.add_row("wall seconds", f"{result.seconds:,.1f}")
    table.add_row("seconds per simulation", f"{result.seconds_per_simulation:.2f}")
    stdout().print(table)
    for line in result.answer:
        stdout().print(line, highlight=False, markup=False)


def _bundled(name: str) -> Path:
    here = bundled(name)
    if not here.exists():
        fail(f"no bundled scenario {name}; pass a scenario file")
    return here


@main.command("app")
@click.argument("scenario", type=click.Path(dir_okay=False), default=None, required=False)
@click.option("--port", default=5006, show_default=True, type=click.IntRange(1, 65535))
@click.option("--no-browser", is_flag=True, help="Serve the page without opening a browser.")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0))
@click.option("--reps", "-n", default=20, show_default=True, type=click.IntRange(min=1))
@click.option("--no-quick", is_flag=True, help="Skip the quick rough answer; run in full at once.")
@click.option("--store", type=click.Path(file_okay=False), help="Keep replications on disk here.")
@workers_option
def app_command(
    scenario: str | None,
    port: int,
    no_browser: bool,
    seed: int,
    reps: int,
    no_quick: bool,
    store: str | None,
    workers: int | None,
) -> None:
    """Open the what-if page on SCENARIO (default: the bundled base) at localhost:PORT.

    Controls for the levers pulled most, the rest as YAML; charts, KPI bands and the paired
    comparison with the saved file update as replications arrive. Needs the app extra.
    """
    try:
        from sim.app.page import serve
    except ImportError:
        fail('the app needs its extra: pip install "revloop[app]"')
    path = scenario or str(_bundled("base.yaml"))
    _load(path, ())
    say(f"revloop what-if page on http://localhost:{port} (Ctrl-C to stop)")
    serve(path, port, not no_browser, seed, reps, workers or 2, not no_quick, store)


@main.command("check-model")
@click.option("--reps", "-n", default=20, show_default=True, type=click.IntRange(min=2))
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0))
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


def _register() -> None:
    """Commands that live beside the functions they call."""
    from sim.analysis.commands import (
        chart_command,
        diagnose_command,
        export_command,
        report_command,
    )
    from sim.calibrate.commands import backtest_command, calibrate_command, forecast_command
    from sim.experiment.commands import (
        compare_command,
        plan_command,
        reverse_funnel_command,
        sweep_command,
    )
    from sim.validation.commands import realism_command

    for command in (
        compare_command,
        sweep_command,
        plan_command,
        reverse_funnel_command,
        diagnose_command,
        report_command,
        chart_command,
        export_command,
        calibrate_command,
        backtest_command,
        forecast_command,
        realism_command,
    ):
        main.add_command(command)


_register()
