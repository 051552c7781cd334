"""Sweeps: designs, bad input, the DuckDB store, resuming (after a real kill), summaries."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from sim.cli.experiment import sweep_command
from sim.experiment import store as store_module
from sim.experiment.runner import replicate
from sim.experiment.store import ResultStore, StoreError
from sim.experiment.sweep import load_sweep, sensitivity, sweep, sweep_summary
from tests.helpers import BASE, ROOT

SWEEPS = ROOT / "scenarios" / "sweeps"

# No dormant database: a one-month replication then takes a fraction of a second.
TINY = f"""\
name: tiny
base: {BASE}
set: [horizon_months=1, starting_book.nurture_leads=0]
parameters:
  inside_sales.headcount: [8, 12]
  marketing.scoring.mql_threshold: {{low: 15, high: 25, num: 2}}
replications: 3
seed: 5
kpis: [ending_arr, mqls, sqls]
monthly: [arr, sqls]
"""


def write(folder: Path, text: str, name: str = "sweep.yaml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def tables(path: Path) -> dict[str, pd.DataFrame]:
    with ResultStore(path, read_only=True) as store:
        return {
            "points": store.points(),
            "tasks": store.tasks(),
            "kpis": store.kpis(),
            "monthly": store.monthly(),
        }


def assert_same_tables(a: Path, b: Path) -> None:
    left, right = tables(a), tables(b)
    for name in left:
        pd.testing.assert_frame_equal(left[name], right[name], obj=name)


def _children(pid: int) -> list[int]:
    """Child processes of ``pid`` (Linux /proc), or [] once it is gone."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in {"Z", "X"}  # a zombie has exited already


@pytest.fixture(scope="module")
def tiny_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The tiny sweep run serially once: (sweep file, results file)."""
    folder = tmp_path_factory.mktemp("tiny")
    file = write(folder, TINY)
    out = folder / "serial.duckdb"
    run = sweep(file, out, executor="serial")
    assert run.complete
    assert run.computed == run.total == 12
    return file, out


# --- designs ----------------------------------------------------------------------------------


def test_grid_is_every_combination(tmp_path: Path) -> None:
    file = write(
        tmp_path,
        f"""\
        name: g
        base: {BASE}
        parameters:
          inside_sales.headcount: [8, 10, 14]
          marketing.scoring.mql_threshold: {{low: 15, high: 25, num: 3}}
          inside_sales.speed_to_lead.floor: {{low: 0.1, high: 0.3, step: 0.1}}
        replications: 2
        """,
    )
    sw = load_sweep(file)
    assert len(sw.points) == 27
    assert sw.tasks == 54
    assert sorted({p["marketing.scoring.mql_threshold"] for p in sw.points}) == [15, 20, 25]
    assert sorted({p["inside_sales.speed_to_lead.floor"] for p in sw.points}) == [0.1, 0.2, 0.3]
    assert all(isinstance(p["marketing.scoring.mql_threshold"], int) for p in sw.points)
    combos = {tuple(p.values()) for p in sw.points}
    assert len(combos) == 27
    # the point's scenario carries the point's values
    for point, scenario in zip(sw.points, sw.scenarios, strict=True):
        assert scenario.inside_sales.headcount == point["inside_sales.headcount"]
        assert scenario.marketing.scoring.mql_threshold == point["marketing.scoring.mql_threshold"]


@pytest.mark.parametrize(
    ("design", "extra", "points"),
    [("lhs", "samples: 5", 5), ("sobol", "samples: 4", 4 * (2 + 2)), ("morris", "samples: 3", 9)],
)
def test_sampled_designs(tmp_path: Path, design: str, extra: str, points: int) -> None:
    file = write(
        tmp_path,
        f"""\
        name: s
        base: {BASE}
        parameters:
          inside_sales.headcount: {{low: 8, high: 14}}
          inside_sales.queue_policy: [fifo, score]
        design: {design}
        {extra}
        replications: 1
        """,
    )
    sw = load_sweep(file)
    assert len(sw.points) == points
    heads = [p["inside_sales.headcount"] for p in sw.points]
    assert all(isinstance(h, int) and 8 <= h <= 14 for h in heads)
    assert {p["inside_sales.queue_policy"] for p in sw.points} <= {"fifo", "score"}
    assert load_sweep(file).points == sw.points  # the design is a function of the file


def test_bundled_sweeps_load() -> None:
    files = sorted(SWEEPS.glob("*.yaml"))
    assert files
    for file in files:
        sw = load_sweep(file)
        assert sw.tasks > 0
    levers = load_sweep(SWEEPS / "levers.yaml")
    assert len(levers.points) == 27
    assert levers.spec.replications == 20


# --- bad input --------------------------------------------------------------------------------

HEAD = f"name: bad\nbase: {BASE}\nreplications: 2\n"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "parameters:\n  inside_sales.headcount: [8]\ncolour: red\n",
            "sweep.yaml:6: colour: unknown field (allowed: name, description, base, set",
        ),
        ("parameters:\n  inside_sales.headcount: []\n", "sweep.yaml:5: parameters.inside_sales"),
        ("parameters: {}\n", "sweep.yaml:4: parameters: Dictionary should have at least 1 item"),
        (
            "parameters:\n  inside_sales.headcount: {low: 9, high: 8, num: 2}\n",
            "sweep.yaml:5: parameters.inside_sales.headcount.high: must be above low (9) (got 8)",
        ),
        (
            "parameters:\n  inside_sales.headcount: {low: 8, high: 9, num: 1}\n",
            "sweep.yaml:5: parameters.inside_sales.headcount.num: Input should be greater than",
        ),
        (
            "parameters:\n  inside_sales.headcount: {low: 8, high: 12}\n",
            "sweep.yaml:5: parameters.inside_sales.headcount: a grid range needs num or step",
        ),
        (
            "parameters:\n  inside_sales.headcount: 8\n",
            "sweep.yaml:5: parameters.inside_sales.headcount: expected a list of values or a range",
        ),
        (
            "parameters:\n  inside_sales.headcount: {low: 8, high: 12, step: 1}\n"
            "design: lhs\nsamples: 4\n",
            "sweep.yaml:5: parameters.inside_sales.headcount.step: step applies to grids",
        ),
        (
            "parameters:\n  inside_sales.headcount: {low: 8, high: 12}\ndesign: sobol\n"
            "samples: 6\n",
            "sweep.yaml:7: samples: sobol needs a power of 2",
        ),
        (
            "parameters:\n  inside_sales.headcount: [8]\nkpis: [ending_arr, arr]\n",
            "sweep.yaml:6: kpis.1: unknown KPI",
        ),
        (
            "parameters:\n  inside_sales.headcount: [8]\nmonthly: [arrr]\n",
            "sweep.yaml:6: monthly.0: unknown monthly series",
        ),
        (
            "parameters:\n  inside_sales.headcountz: [8]\n",
            "sweep.yaml:5: parameters.inside_sales.headcountz: unknown field (allowed: headcount",
        ),
        (
            "parameters:\n  inside_sales.headcount:\n    - 8\n    - -1\n",
            "sweep.yaml:7: parameters.inside_sales.headcount: Input should be greater than or "
            "equal to 0 (got -1)",
        ),
        (
            "parameters:\n  field_sales.phases.9.advance_probability: [0.5]\n",
            "sweep.yaml:5: parameters.field_sales.phases.9.advance_probability: index 9 is out "
            "of range",
        ),
        (
            "set: [horizon_months=0]\nparameters:\n  inside_sales.headcount: [8]\n",
            "sweep.yaml:4: set.0: horizon_months: Input should be greater than or equal to 1",
        ),
        (
            "parameters:\n  marketing.scoring.mql_threshold: [20, 90]\n",
            "sweep.yaml:4: parameters: fails at 1 point marketing.scoring.mql_threshold=90: "
            "marketing.scoring.fast_pass_threshold: must not be below mql_threshold (90)",
        ),
    ],
)
def test_bad_sweep_files_are_located(tmp_path: Path, body: str, expected: str) -> None:
    file = write(tmp_path, HEAD + body)
    result = CliRunner().invoke(sweep_command, [str(file), "--out", str(tmp_path / "o.duckdb")])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert expected in result.output.replace("\n", " ") or expected in result.output
    assert not (tmp_path / "o.duckdb").exists()  # nothing runs, nothing is created


def test_missing_base_names_the_sweep_file(tmp_path: Path) -> None:
    text = "name: bad\nbase: nowhere.yaml\nparameters: {a.b: [1]}\nreplications: 1\n"
    file = write(tmp_path, text)
    result = CliRunner().invoke(sweep_command, [str(file), "--out", str(tmp_path / "o.duckdb")])
    assert result.exit_code == 2
    assert "sweep.yaml:2: base: base scenario not found" in result.output


# --- running and storing ----------------------------------------------------------------------


def test_rows_are_long_and_seeded_by_replication_only(tiny_db: tuple[Path, Path]) -> None:
    file, out = tiny_db
    sw = load_sweep(file)
    t = tables(out)
    kpis = t["kpis"]
    assert list(kpis.columns) == [
        "sweep_id",
        "point_id",
        "inside_sales.headcount",
        "marketing.scoring.mql_threshold",
        "replication",
        "seed",
        "kpi",
        "value",
    ]
    assert len(kpis) == 4 * 3 * 3
    assert set(kpis["sweep_id"]) == {sw.id}
    # common random numbers across points: the seed depends on the replication alone
    assert (kpis["seed"] == "5:" + kpis["replication"].astype(str)).all()
    # a stored value is exactly what the replication gives
    point, rep = 3, 2
    expected = replicate(sw.scenarios[point], 5, rep)
    row = kpis[(kpis.point_id == point) & (kpis.replication == rep) & (kpis.kpi == "sqls")]
    assert row["value"].item() == expected.kpis["sqls"]
    monthly = t["monthly"]
    assert set(monthly["metric"]) == {"arr", "sqls"}
    assert len(monthly) == 4 * 3 * 2 * 1
    assert list(t["points"]["inside_sales.headcount"]) == [8, 8, 12, 12]


def test_rows_do_not_depend_on_the_executor(tiny_db: tuple[Path, Path], tmp_path: Path) -> None:
    file, serial = tiny_db
    run = sweep(file, tmp_path / "pool.duckdb", workers=2)
    assert run.executor == "processes"
    assert_same_tables(serial, tmp_path / "pool.duckdb")


def test_interrupted_sweep_resumes_to_the_same_tables(
    tiny_db: tuple[Path, Path], tmp_path: Path
) -> None:
    file, full = tiny_db
    out = tmp_path / "resumed.duckdb"

    def stop_after_four(done: int, total: int) -> None:
        if done == 4:
            raise KeyboardInterrupt

    first = sweep(file, out, executor="serial", progress=stop_after_four)
    assert not first.complete
    assert first.computed == 4
    seen: list[int] = []
    second = sweep(file, out, executor="serial", progress=lambda d, t: seen.append(d))
    assert second.complete
    assert (second.skipped, second.computed) == (4, 8)
    assert seen[0] == 4  # progress starts from what was stored
    assert_same_tables(full, out)
    again = sweep(file, out, executor="serial")
    assert (again.skipped, again.computed) == (12, 0)


def test_killed_sweep_resumes_to_the_same_tables(tmp_path: Path) -> None:
    file = write(tmp_path, TINY.replace("replications: 3", "replications: 6"))
    out = tmp_path / "killed.duckdb"
    script = tmp_path / "run_sweep.py"
    script.write_text(
        textwrap.dedent(
            """\
            import sys
            from sim.experiment.sweep import sweep

            if __name__ == "__main__":
                sweep(sys.argv[1], sys.argv[2], workers=2,
                      progress=lambda done, total: print(done, total, flush=True))
            """
        )
    )
    log = (tmp_path / "stderr.txt").open("w")
    proc = subprocess.Popen(
        [sys.executable, str(script), str(file), str(out)],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        start_new_session=True,  # its own process group: the kill takes the workers too
    )
    done = total = 0
    workers: list[int] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 120
        while done < 3 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            done, total = map(int, line.split())
        workers = _children(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)  # the main process only, as `kill -9 PID` would
        proc.wait(timeout=30)
        # its pool workers notice and exit instead of idling on as orphans
        deadline = time.monotonic() + 15
        while any(map(_alive, workers)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert workers
        assert not any(map(_alive, workers)), "pool workers outlived the killed sweep"
    finally:
        if proc.poll() is None or any(map(_alive, workers)):
            os.killpg(proc.pid, signal.SIGKILL)  # its group: the workers too
        proc.wait(timeout=30)
        log.close()
    assert proc.returncode == -signal.SIGKILL
    assert 3 <= done < total == 24, (tmp_path / "stderr.txt").read_text()
    with ResultStore(out, read_only=True) as store:
        stored = len(store.finished())
        assert len(store.kpis()) == stored * 3  # only whole tasks survive a kill
    assert done <= stored < total
    result = CliRunner().invoke(
        sweep_command, [str(file), "--out", str(out), "--executor", "serial"]
    )
    assert result.exit_code == 0, result.output
    assert f"{total - stored} task(s)" in result.output
    assert f"{stored} already stored" in result.output
    fresh = tmp_path / "fresh.duckdb"
    sweep(file, fresh, executor="serial")
    assert_same_tables(fresh, out)


def test_store_refuses_another_definition(tiny_db: tuple[Path, Path], tmp_path: Path) -> None:
    _, out = tiny_db
    other = write(tmp_path, TINY.replace("replications: 3", "replications: 4"), "other.yaml")
    with pytest.raises(StoreError, match="made from a different definition"):
        sweep(other, out, executor="serial")
    result = CliRunner().invoke(sweep_command, [str(other), "--out", str(out)])
    assert result.exit_code == 2
    assert "different definition" in result.output
    assert "Traceback" not in result.output
    assert len(tables(out)["tasks"]) == 12  # untouched


def test_resuming_with_other_code_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = write(tmp_path, TINY.replace("replications: 3", "replications: 1"))
    out = tmp_path / "code.duckdb"
    monkeypatch.setattr(store_module, "code_fingerprint", lambda: "a" * 64)
    sweep(file, out, executor="serial")
    assert sweep(file, out, executor="serial").skipped == 4  # same code: resumed
    monkeypatch.setattr(store_module, "code_fingerprint", lambda: "b" * 64)
    with pytest.raises(StoreError, match="was started by other revloop code") as refused:
        sweep(file, out, executor="serial")
    assert str(out) in str(refused.value)  # names the file
    assert "delete this one to start over" in str(refused.value)  # and what to do
    result = CliRunner().invoke(sweep_command, [str(file), "--out", str(out)])
    assert result.exit_code == 2
    assert "was started by other revloop code" in result.output
    assert "Traceback" not in result.output
    assert len(tables(out)["tasks"]) == 4  # untouched


def test_store_refuses_what_is_not_a_store(tiny_db: tuple[Path, Path], tmp_path: Path) -> None:
    file, _ = tiny_db
    text = tmp_path / "notes.txt"
    text.write_text("hello\n" * 100)
    foreign = tmp_path / "foreign.duckdb"
    with duckdb.connect(str(foreign)) as con:
        con.execute("CREATE TABLE t (x INTEGER)")
    for path, message in ((text, "cannot be opened as a DuckDB"), (foreign, "not a revloop")):
        result = CliRunner().invoke(sweep_command, [str(file), "--out", str(path)])
        assert result.exit_code == 2, result.output
        assert message in result.output


# --- summaries ----------------------------------------------------------------------------------


def test_summary_per_point(tiny_db: tuple[Path, Path]) -> None:
    _, out = tiny_db
    summary = sweep_summary(out)
    assert len(summary) == 4 * 3
    assert list(summary["kpi"][:3]) == ["ending_arr", "mqls", "sqls"]
    kpis = tables(out)["kpis"]
    x = kpis[(kpis.point_id == 2) & (kpis.kpi == "mqls")]["value"].to_numpy(float)
    row = summary[(summary.point_id == 2) & (summary.kpi == "mqls")].iloc[0]
    assert row["n"] == 3
    assert row["mean"] == pytest.approx(x.mean())
    assert row["p10"] == pytest.approx(np.percentile(x, 10))
    assert row["p90"] == pytest.approx(np.percentile(x, 90))
    assert row["inside_sales.headcount"] == 12
    with pytest.raises(ValueError, match="not stored"):
        sweep_summary(out, ["wins"])


NULL_LEVER = f"""\
name: null_lever
base: {BASE}
set: [horizon_months=1, starting_book.nurture_leads=0]
parameters:
  description: [one, two]                    # cannot change a single number
  marketing.scoring.mql_threshold: {{low: 15, high: 25, num: 2}}
replications: 3
seed: 9
kpis: [mqls, sqls]
"""


def test_grid_effects_find_the_lever_and_the_null_lever(tmp_path: Path) -> None:
    file = write(tmp_path, NULL_LEVER)
    out = tmp_path / "g.duckdb"
    sweep(file, out, executor="serial")
    effects = sensitivity(out, "mqls").set_index("parameter")
    threshold = effects.loc["marketing.scoring.mql_threshold"]
    # common random numbers: the description changes nothing, exactly
    assert effects.loc["description", "effect"] == 0
    assert effects.loc["description", "share"] == 0
    # a higher bar lets fewer leads through, beyond the noise across replications
    assert threshold["effect"] + threshold["effect_ci95"] < 0
    assert threshold["share"] == pytest.approx(1.0)
    assert effects.index[0] == "marketing.scoring.mql_threshold"


@pytest.mark.parametrize(("design", "samples"), [("sobol", 8), ("morris", 4)])
def test_salib_indices_find_the_lever_and_the_null_lever(
    tmp_path: Path, design: str, samples: int
) -> None:
    text = NULL_LEVER.replace("{low: 15, high: 25, num: 2}", "{low: 10, high: 30}")
    text = text.replace("replications: 3", f"replications: 1\ndesign: {design}\nsamples: {samples}")
    file = write(tmp_path, text)
    out = tmp_path / f"{design}.duckdb"
    sweep(file, out, executor="serial")
    indices = sensitivity(out, "mqls").set_index("parameter")
    lever = indices.loc["marketing.scoring.mql_threshold"]
    assert indices.index[0] == "marketing.scoring.mql_threshold"
    if design == "sobol":
        # On common random numbers the KPI is a function of the threshold alone, so in
        # theory ST = S1 = 1 for it and 0 for the description; the estimates must agree
        # within their bootstrap CIs (the description's exactly).
        assert indices.loc["description", "ST"] == 0
        assert indices.loc["description", "S1"] == 0
        assert abs(lever["ST"] - 1) <= lever["ST_ci95"]
        assert abs(lever["S1"] - 1) <= lever["S1_ci95"]
    else:
        assert indices.loc["description", "mu_star"] == 0
        assert lever["mu_star"] - lever["mu_star_ci95"] > 0
        # a higher bar never lets more leads through: every elementary effect is <= 0
        assert lever["mu"] == pytest.approx(-lever["mu_star"])


def test_cli_summary(tiny_db: tuple[Path, Path]) -> None:
    file, out = tiny_db
    result = CliRunner().invoke(
        sweep_command, [str(file), "--out", str(out), "--summary", "--kpi", "mqls"],
        terminal_width=200,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "all 12 tasks already in" in result.output
    assert "mqls per point" in result.output
    assert "what moves mqls" in result.output
    result = CliRunner().invoke(sweep_command, [str(file), "--out", str(out), "--kpi", "wins"])
    assert result.exit_code == 2
    assert "not stored by this sweep" in result.output
