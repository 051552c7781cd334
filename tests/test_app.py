"""The what-if page's logic without a browser (sim.app.state)."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pandas as pd
import pytest
import yaml

from sim.app.state import (
    CONTROLS_FILE,
    Job,
    Levers,
    ReplicationCache,
    Stage,
    band_text,
    comparison_table,
    export_chart,
    kpi_table,
    load_text,
    plan_text,
    save_scenario,
    stages,
)
from sim.errors import ScenarioError
from sim.scenario import bundled, load_scenario


def short_scenario(folder: Path, months: int) -> Path:
    """``folder/short.yaml``: the bundled base company over ``months`` (line 3)."""
    path = folder / "short.yaml"
    text = f"extends: {bundled('base.yaml')}\nname: short\nhorizon_months: {months}\n"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def short(tmp_path: Path) -> Path:
    """The base company over 6 months, extending the bundled file."""
    return short_scenario(tmp_path, 6)


def test_text_loads_like_the_file(short: Path) -> None:
    scenario, data = load_text(short.read_text(), short)
    assert scenario.digest() == load_scenario(short).digest()
    assert data["horizon_months"] == 6
    assert not list(short.parent.glob(".revloop-app-*"))  # the temporary file is gone


def test_invalid_yaml_gives_the_located_message(short: Path) -> None:
    text = short.read_text().replace("horizon_months: 6", "horizon_months: soon")
    with pytest.raises(ScenarioError) as err:
        load_text(text, short)
    (problem,) = err.value.problems
    assert str(problem).startswith(f"{short}:3: horizon_months: ")
    with pytest.raises(ScenarioError) as err:
        load_text(text.replace("soon", "[1,"), short)
    assert str(err.value.problems[0]).startswith(f"{short}:")
    assert "malformed YAML" in str(err.value)


def test_a_lever_edit_changes_the_scenario(short: Path) -> None:
    scenario, data = load_text(short.read_text(), short)
    levers = Levers.of(data)
    assert levers.headcount["inside_sales"] == scenario.inside_sales.headcount
    assert levers.sets(data) == []  # nothing moved, nothing overridden
    levers.headcount["inside_sales"] += 2
    levers.plan["field_sales"] = "2:+1, 4:-1"
    levers.pause_days["not_now"] = 45
    levers.volume = 1.5
    levers.queue_policy = "fifo"
    edited, _ = load_text(short.read_text(), short, levers.sets(data))
    assert edited.inside_sales.headcount == scenario.inside_sales.headcount + 2
    assert plan_text([c.model_dump() for c in edited.field_sales.plan]) == "2:+1, 4:-1"
    assert edited.recycle.not_now.pause_days.mean == pytest.approx(45)
    assert edited.inside_sales.queue_policy == "fifo"
    base_leads = data["marketing"]["channels"]["demo_request"]["monthly_leads"]
    assert edited.marketing.channels["demo_request"].monthly_leads == pytest.approx(
        1.5 * base_leads
    )
    assert edited.digest() != scenario.digest()


def test_a_bad_control_value_is_located(short: Path) -> None:
    _, data = load_text(short.read_text(), short)
    levers = Levers.of(data)
    levers.plan["inside_sales"] = "soon"
    with pytest.raises(ScenarioError) as err:
        levers.sets(data)
    assert str(err.value).startswith(f"{CONTROLS_FILE}: inside_sales.plan: cannot read 'soon'")
    levers = Levers.of(data)
    levers.mql_threshold = -5
    levers.fast_pass_threshold = -10
    with pytest.raises(ScenarioError) as err:
        load_text(short.read_text(), short, levers.sets(data))
    assert "--set:" in str(err.value)


def test_the_cache_simulates_nothing_twice(short: Path, tmp_path: Path) -> None:
    scenario = load_scenario(short)
    cache = ReplicationCache(tmp_path / "store")
    first = cache.results(scenario, 2, seed=3)
    assert cache.simulated == 2
    assert first.complete
    again = cache.results(scenario, 3, seed=3)  # two reused, one new
    assert cache.simulated == 3
    assert [r.kpis for r in again.replications[:2]] == [r.kpis for r in first.replications]
    fresh = ReplicationCache(tmp_path / "store")  # a later session, same folder
    reread = fresh.results(scenario, 3, seed=3)
    assert fresh.simulated == 0
    pd.testing.assert_frame_equal(reread.kpis(), again.kpis())  # NaN KPIs compare equal


def test_cancel_stops_the_job(short: Path) -> None:
    scenario = load_scenario(short)
    cache = ReplicationCache()
    arrived = threading.Event()

    def on_update(snapshot: object) -> None:
        arrived.set()

    job = Job(scenario, None, cache, plan=[Stage("full", 50, None, 1)], on_update=on_update)
    job.start()
    assert arrived.wait(60)
    job.cancel()
    assert job.wait(60)
    assert job.snapshot.finished
    assert job.snapshot.cancelled
    assert cache.simulated < 50


def test_a_job_runs_quick_then_full_beside_the_base(short: Path, tmp_path: Path) -> None:
    base = load_scenario(short)
    edited = load_scenario(short, ["inside_sales.headcount=5"])
    cache = ReplicationCache()
    seen: list[str] = []
    plan = stages(replications=2, workers=1, quick_replications=2, quick_months=3)
    job = Job(edited, base, cache, plan=plan, on_update=lambda s: seen.append(s.stage))
    job.start()
    assert job.wait(120)
    snapshot = job.snapshot
    assert not snapshot.error
    assert snapshot.finished
    assert not snapshot.cancelled
    assert seen.index("quick") < seen.index("full")
    assert snapshot.results is not None
    assert snapshot.results.scenario.horizon_months == 6
    comparison = snapshot.comparison
    assert comparison is not None
    assert comparison.replications == 2
    table = comparison_table(comparison)
    assert next(iter(table["KPI"])) == "ending_arr"
    assert table["verdict"].str.contains("pairs").all()
    assert "ending_arr P50" in band_text(snapshot.results)
    assert kpi_table(snapshot.results)["n"].tolist()[0] == 2
    assert cache.simulated == 8  # 2 quick + 2 full, each for the edit and the base
    # the same scenario again: everything comes from the cache
    again = Job(edited, base, cache, plan=plan).start()
    assert again.wait(60)
    assert cache.simulated == 8
    assert export_chart(snapshot.results, "arr", tmp_path / "arr.png").stat().st_size > 0


def test_a_saved_scenario_loads_the_same(short: Path, tmp_path: Path) -> None:
    scenario = load_scenario(short, ["inside_sales.headcount=4"])
    saved = save_scenario(scenario, tmp_path / "out" / "saved.yaml", source=str(short))
    assert "extends" not in yaml.safe_load(saved.read_text())
    assert load_scenario(saved).digest() == scenario.digest()


def test_the_command_says_how_to_install_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from sim.cli import main

    monkeypatch.setitem(sys.modules, "sim.app.page", None)  # as if Panel were missing
    result = CliRunner().invoke(main, ["app", "--no-browser"])
    assert result.exit_code == 2
    assert 'pip install "revloop[app]"' in result.output
    assert "Traceback" not in result.output
