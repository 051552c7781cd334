"""Monte Carlo runs: reproducibility across executors, interruption, output files, CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from sim import load_scenario, run
from sim.analysis.export import read_results
from sim.analysis.metrics import KPIS
from sim.cli import main
from sim.engine.world import World
from sim.experiment.bench import (
    PairingResult,
    ScaleResult,
    bench,
    goal_words,
    planner,
    planner_command,
    scale_goals,
    scaled,
)
from tests.helpers import BASE, small


@pytest.fixture(scope="module")
def serial():  # type: ignore[no-untyped-def]
    return run(small(months=4), replications=3, seed=21, workers=1)


def test_workers_do_not_change_the_numbers(serial) -> None:  # type: ignore[no-untyped-def]
    parallel = run(small(months=4), replications=3, seed=21, workers=2)
    pd.testing.assert_frame_equal(serial.monthly(), parallel.monthly())
    pd.testing.assert_frame_equal(serial.kpis(), parallel.kpis())


def test_replications_are_independent_streams(serial) -> None:  # type: ignore[no-untyped-def]
    leads = serial.kpis()["leads"]
    assert leads.nunique() == 3
    assert list(serial.kpis()["seed"]) == ["21:0", "21:1", "21:2"]


def test_summary_has_bands_for_every_kpi(serial) -> None:  # type: ignore[no-untyped-def]
    summary = serial.summary()
    assert list(summary.index) == list(KPIS)
    finite = summary.loc["ending_arr"]
    assert finite["p10"] <= finite["p50"] <= finite["p90"]
    assert finite["ci95"] > 0
    # every KPI is measured in every replication, but those that need a setting the base
    # leaves out (an SQL target, health, a tech-touch pool, an upsell pipeline) have nothing
    # to measure without it
    optional = {"sdr_at_target_share", "sdr_attainment_median", "health_at_renewal"}
    optional |= {"tech_touch_utilisation", "upsell_wins", "upsell_arr", "upsell_unfollowed_share"}
    assert (summary.drop(index=list(optional))["n"] == 3).all()
    assert (summary.loc[list(optional), "n"] == 0).all()


def test_monthly_table_is_tidy(serial) -> None:  # type: ignore[no-untyped-def]
    table = serial.monthly()
    assert list(table.columns) == ["scenario", "replication", "seed", "month", "metric", "value"]
    assert set(table["month"]) == {"2027-01", "2027-02", "2027-03", "2027-04"}
    per_cell = table.groupby(["replication", "month", "metric"]).size()
    assert (per_cell == 1).all()
    arr = table[(table.metric == "arr") & (table.replication == 0)]["value"].to_numpy()
    assert arr[-1] == pytest.approx(serial.kpis().loc[0, "ending_arr"])


def test_interrupted_run_keeps_what_finished() -> None:
    def stop_after_two(done: int, total: int) -> None:
        if done == 2:
            raise KeyboardInterrupt

    results = run(small(months=2), replications=5, seed=1, workers=1, progress=stop_after_two)
    assert not results.complete
    assert [r.replication for r in results.replications] == [0, 1]
    again = run(small(months=2), replications=2, seed=1, workers=1)
    pd.testing.assert_frame_equal(results.monthly(), again.monthly())


def test_a_run_from_a_later_first_replication_continues_the_same_seeds(serial) -> None:  # type: ignore[no-untyped-def]
    rest = run(small(months=4), replications=2, seed=21, workers=1, first=1)
    assert [r.replication for r in rest.replications] == [1, 2]
    pd.testing.assert_frame_equal(
        rest.kpis().reset_index(drop=True),
        serial.kpis().iloc[1:].reset_index(drop=True),
    )


def test_stop_ends_a_run_early_and_each_replication_is_handed_over() -> None:
    seen: list[int] = []
    results = run(
        small(months=2),
        replications=6,
        seed=1,
        workers=2,
        on_replication=lambda rep: seen.append(rep.replication),
        stop=lambda: len(seen) >= 2,
    )
    assert not results.complete
    assert 2 <= len(results.replications) < 6
    assert sorted(seen) == [r.replication for r in results.replications]


def test_auto_run_adds_replications_until_the_target_precision() -> None:
    from sim.experiment.runner import StoppingRule
    from sim.stats import ci_half_width

    sc = small(months=2)
    pilot = run(sc, replications=4, seed=3, workers=1).kpis()["ending_arr"].to_numpy(float)
    target = 0.7 * ci_half_width(pilot) / abs(pilot.mean())  # the first 4 miss it
    rule = StoppingRule("ending_arr", target, min_replications=4, max_replications=40)
    results = run(sc, replications="auto", seed=3, workers=1, rule=rule)
    x = results.kpis()["ending_arr"].to_numpy(float)
    assert results.converged
    assert results.complete
    assert len(x) > 4
    assert ci_half_width(x) <= target * abs(x.mean())
    np.testing.assert_array_equal(x[:4], pilot)
    capped = run(sc, replications="auto", seed=3, workers=1,
                 rule=StoppingRule("ending_arr", target / 100, 4, 6))  # fmt: skip
    assert len(capped.replications) == 6
    assert not capped.converged


def test_cli_run_reps_auto_says_how_many_it_took(tmp_path: Path) -> None:
    args = ["run", str(BASE), "--workers", "1", "--set", "horizon_months=2", "--no-save"]
    result = CliRunner().invoke(main, [*args, "--target", "0.5", "--max-reps", "3"])
    assert result.exit_code == 0, result.output
    assert "--reps auto: 3 replications put ending_arr's 95% CI within 50.0%" in result.output
    tight = CliRunner().invoke(main, [*args, "--target", "0.0001", "--max-reps", "3"])
    assert "stopped at the cap of 3 replications" in tight.output
    bad = CliRunner().invoke(main, [*args, "--reps", "many"])
    assert bad.exit_code == 2
    assert "positive integer or 'auto'" in bad.output


def test_save_writes_every_file_atomically(serial, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    written = serial.save(tmp_path / "out", command="revloop run x")
    names = sorted(p.name for p in written)
    assert names == sorted(
        [
            "monthly.csv",
            "monthly.parquet",
            "monthly_summary.csv",
            "kpis.csv",
            "summary.json",
            "scenario.json",
            "manifest.json",
            "waterfall.csv",
            "channels.csv",
            "segments.csv",
            "phases.csv",
            "attainment.csv",
            "sdr_attainment.csv",
            "retention.csv",
            "ae_teams.csv",
            "checksums.sha256",
        ]
    )
    out = tmp_path / "out"
    assert not list(out.glob(".*.tmp")), "temporary files left behind"
    parquet = pd.read_parquet(out / "monthly.parquet")
    csv = pd.read_csv(out / "monthly.csv", dtype={"seed": str})
    np.testing.assert_allclose(parquet["value"], csv["value"])
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["scenario_sha256"] == serial.scenario.digest()
    assert manifest["seed"] == 21
    assert manifest["complete"] is True
    assert manifest["replications_done"] == [0, 1, 2]
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary) == set(KPIS)
    bands = pd.read_csv(out / "monthly_summary.csv")
    arr = bands[bands.metric == "arr"]
    assert list(arr.month) == ["2027-01", "2027-02", "2027-03", "2027-04"]
    assert (arr.p10 <= arr.p50).all()
    assert (arr.p50 <= arr.p90).all()


def test_cli_run_prints_kpis_and_writes_results(tmp_path: Path) -> None:
    out = tmp_path / "res"
    args = ["run", str(BASE), "--reps", "2", "--workers", "1", "--seed", "4"]
    args += ["--set", "horizon_months=2", "--out", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    for kpi in ("ending_arr", "win_rate", "is_utilisation", "speed_to_lead_hours"):
        assert kpi in result.output
    assert (out / "monthly.parquet").exists()
    assert json.loads((out / "manifest.json").read_text())["command"].startswith("revloop run")


def test_cli_run_saves_to_a_default_folder_and_says_what_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    args = ["run", str(BASE), "--reps", "2", "--workers", "1", "--set", "horizon_months=2"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "results" / "base" / "manifest.json").exists()
    assert "next: revloop report results/base" in result.output
    # a progress line, not a bar, when the output is not a terminal
    assert "base: months: 4/4 months" in result.output  # 2 replications of 2 months
    nothing = CliRunner().invoke(main, [*args, "--no-save", "--seed", "1"])
    assert nothing.exit_code == 0, nothing.output
    assert "wrote" not in nothing.output


def test_cli_run_quick_is_labelled_and_short(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["run", str(BASE), "--quick", "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "QUICK what-if: 4 replications of 12 months" in result.output
    saved = read_results(tmp_path / "results" / "base-quick")
    assert saved.kpis["replication"].nunique() == 4
    assert saved.monthly["month"].nunique() == 12
    assert "--quick" in saved.manifest["command"]


def test_cli_run_bad_scenario_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["run", str(tmp_path / "missing.yaml"), "--reps", "1"])
    assert result.exit_code == 2
    assert "file not found" in result.output
    assert "Traceback" not in result.output


def test_bench_reports_a_ratio_to_the_bare_loop() -> None:
    result = bench(small(months=1), repeats=1)
    assert result.events > 1000
    assert result.leads > 1000
    assert result.model_seconds > 0
    assert result.bare_seconds > 0
    assert result.ratio == pytest.approx(result.model_seconds / result.bare_seconds)
    assert result.reference_seconds > 0
    assert result.build_seconds > 0
    assert result.replication_ratio == pytest.approx(
        (result.build_seconds + result.model_seconds) / result.reference_seconds
    )
    assert result.events_per_lead == pytest.approx(result.events / result.leads)
    # the floor: the same events on the engine's clock with empty callbacks, and the
    # replication's per-lead draws alone, cost less than the replication itself
    assert result.draws > 0
    assert 0 < result.clock_seconds < result.model_seconds
    assert 0 < result.draw_seconds < result.model_seconds
    assert 0 < result.floor_ratio < result.replication_ratio


def test_the_bench_counts_every_per_lead_draw_the_replication_made() -> None:
    world = World(small(months=2), 3)
    ledger = world.run()
    single, quads = world.ctx.streams.lead_draws_made()
    # every inside-sales touch takes its four numbers in one call, and nothing else does
    assert quads == int(np.sum(ledger.flows["is_touches"])) > 0
    assert single > int(np.sum(ledger.flows["leads_created"]))


def test_bench_says_in_words_whether_each_goal_is_met() -> None:
    def pair(low: float, high: float) -> PairingResult:
        return PairingResult("wins", 30, (low + high) / 2, low, high, 1.0)

    assert pair(10.5, 30.0).meets_goal is True
    assert pair(2.0, 9.9).meets_goal is False
    assert pair(6.0, 14.0).meets_goal is None  # the CI spans the goal
    assert [goal_words(x) for x in (True, False, None)] == ["met", "not met", "unsettled"]
    flat = [ScaleResult(f, n, 4 * n, n * 50e-6 * k, mb) for f, n, k, mb in (
        (0.1, 10_000, 1.0, 300.0), (1.0, 100_000, 1.1, 300.0), (10.0, 1_000_000, 1.15, 900.0)
    )]  # fmt: skip
    assert scale_goals(flat) == (pytest.approx(1.15), True, True)
    steep = [*flat[:2], ScaleResult(10.0, 1_000_000, 4_000_000, 75.0, 1100.0)]
    assert scale_goals(steep) == (pytest.approx(1.5), False, False)
    result = CliRunner().invoke(main, ["bench", "--repeats", "1", "--set", "horizon_months=1"])
    assert result.exit_code == 0, result.output
    assert re.search(r"Speed goal .*: (met|not met) \(\d+\.\d\dx\)", result.output)


def test_the_planner_benchmark_runs_the_readme_search_from_an_empty_store() -> None:
    # a tenth of the base, and a target no plan can reach: the most generous plan fails
    # on its first 4 replications and rules out the whole space
    result = planner(scaled(load_scenario(BASE), 0.1), target="900M", workers=1)
    assert result.plans == 75  # the space of docs/guides/cro-headcount.md
    assert result.foreseen_most == 75 * 64 + 100
    assert result.simulations == 4
    assert result.seconds > 0
    assert result.answer[0].startswith("No plan in the space was proven to reach $900.00M")


def test_the_docs_show_the_planner_benchmark_s_search() -> None:
    # the headcount guide shows the search `revloop bench --planner` times, and so does the
    # README's tour
    root = Path(__file__).parents[1]
    for page in (root / "docs" / "guides" / "cro-headcount.md", root / "README.md"):
        text = page.read_text()
        assert planner_command() in " ".join(text.replace("\\\n", " ").split()), page


def test_bench_times_each_size_in_its_own_process_and_in_turn() -> None:
    """``revloop bench --scales F1,F2 --scale-repeats 2``: each size of the scenario runs in
    a fresh process, twice, and the table gives each size's leads, cost per lead and peak
    memory, then the verdict on both scale goals."""
    args = ["--repeats", "1", "--scales", "0.5,1", "--scale-repeats", "2"]
    result = CliRunner().invoke(
        main, ["bench", "--repeats", "1", "--set", "horizon_months=2", *args]
    )
    assert result.exit_code == 0, result.output
    assert "median of 2 each" in result.output
    rows = re.findall(r"│\s+(0\.5|1)\s+│\s+([\d,]+)\s+│", result.output)
    leads = {factor: int(n.replace(",", "")) for factor, n in rows}
    assert 0.4 < leads["0.5"] / leads["1"] < 0.6  # half the flows, about half the leads
    verdict = r"Scale goal .*: (met|not met) \(at most \d+\.\d\dx\); under 1 GB"
    assert re.search(verdict, result.output)


def test_coupling_counts_the_leads_each_scenario_reaches_alone() -> None:
    """``bench.coupling`` matches leads by their key: a scenario against itself reaches the
    same leads; against +2 SDRs, the leads reached in one only add up to the difference in
    leads reached, replication by replication, as separate runs of both count them."""
    from sim import simulate
    from sim.engine.streams import replication_seed
    from sim.experiment.bench import coupling

    sc = small(months=3)
    same = coupling(sc, sc, pairs=2, workers=1)
    assert [r.milestone for r in same] == ["sqls", "wins"]
    assert all(not r.only_variant.any() and not r.only_base.any() for r in same)
    more = small(months=3, sets=["inside_sales.headcount=12"])
    rows = {r.milestone: r for r in coupling(sc, more, pairs=2, seed=4, workers=1)}
    assert rows["sqls"].only_variant.sum() > 0
    for row in rows.values():  # each team's capacity in the base run of each pair
        assert set(row.drivers) == {"inside sales", "field sales", "customer success"}
        assert all(len(c) == 2 and (c > 0).all() for c in row.drivers.values())
    for r in range(2):
        a = simulate(sc, replication_seed(4, r)).leads
        b = simulate(more, replication_seed(4, r)).leads
        for name, column in (("sqls", "first_sql_at"), ("wins", "won_at")):
            reached = np.isfinite(b[column]).sum() - np.isfinite(a[column]).sum()
            assert rows[name].difference[r] == reached


def test_coupling_names_the_team_whose_capacity_the_difference_follows() -> None:
    """``CouplingResult.follows``: a capacity that falls as the difference grows is named,
    strongest first, with r and p; a constant capacity (no turnover) and one unrelated to
    the difference are not."""
    from sim.experiment.bench import CouplingResult

    gained = np.array([12.0, 25, 31, 38, 52, 61, 68, 83, 90, 104])
    lost = np.zeros(10)
    drivers = {
        "inside sales": 2000.0 - 10 * gained + np.array([3.0, -5, 4, -2, 6, -4, 1, -3, 5, -6]),
        "field sales": np.full(10, 500.0),
        "customer success": np.array([1.0, -1, -1, 1, 1, -1, -1, 1, 1, -1]) + 300,
    }
    row = CouplingResult("wins", 10, gained, lost, drivers)
    follows = row.follows()
    assert [team for team, _, _ in follows] == ["inside sales"]
    _, r, p = follows[0]
    assert r < -0.99
    assert p < 1e-6
    # without the inside-sales capacity nothing is left to name
    assert (
        CouplingResult("wins", 10, gained, lost, {"field sales": drivers["field sales"]}).follows()
        == []
    )


def test_the_pairing_goal_is_judged_on_30_pairs_or_more() -> None:
    from sim.experiment.bench import PairingResult

    wide = {"kpi": "wins", "ratio": 80.0, "low": 20.0, "high": 300.0, "mean_difference": 5.0}
    assert PairingResult(pairs=3, **wide).meets_goal is None
    assert PairingResult(pairs=30, **wide).meets_goal is True
    assert PairingResult(pairs=30, **{**wide, "low": 2.0, "high": 8.0}).meets_goal is False


def test_bench_pairs_and_couples_from_the_command_line() -> None:
    args = ["--pair-with", "inside_sales.headcount=6", "--pairs", "3", "--coupling", "2"]
    result = CliRunner().invoke(
        main, ["bench", "--repeats", "1", "--set", "horizon_months=3", "-w", "1", *args]
    )
    assert result.exit_code == 0, result.output
    for kpi in ("ending_arr", "wins"):
        assert re.search(rf"Pairing goal for {kpi} .*: (met|not met|unsettled)", result.output)
    assert "the first 2 pairs, lead by lead" in result.output
    assert re.search(r"Won: the difference varies by [\d.,]+ leads", result.output)
    assert re.search(
        r"It follows (no team's capacity|the capacity of [a-z ]+ in the base)", result.output
    )
    # 3 pairs are too few to judge the goal, whatever their bootstrap says
    assert "fewer than 30 pairs: too few to judge" in result.output


def test_a_spawned_process_reports_its_own_peak_memory_not_its_parents() -> None:
    """The parent holds 300 MB when it starts a child by spawn; the child's peak is its
    own (about what a bare interpreter with the package takes), not the parent's."""
    import multiprocessing

    from sim.experiment.bench import peak_rss_mb

    ballast = np.ones(300 * 2**20 // 8)  # 300 MB, touched
    assert peak_rss_mb() > 300
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        child = pool.apply(peak_rss_mb)
    assert child < 250, child
    del ballast
