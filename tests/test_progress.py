"""Long commands show progress when their output is not a terminal (a pipe, a log, CI).

``CliRunner`` captures the output, as a pipe would: each command must print plain progress
lines there rather than a live bar that a log never sees. ``run``, ``compare`` and
``report`` are checked beside their other tests (test_runner, test_verdict, test_report).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from sim.cli import common, main
from tests.helpers import BASE

SHORT = ["--set", "horizon_months=2"]
LINE = re.compile(r"^(.+): (\d+)/(\d+) (\w+), [0-9.]+ \w+/s, (?:-|\d\d:\d\d:\d\d) left$", re.M)


def _progress(output: str, label: str) -> list[tuple[int, int]]:
    """(done, total) of the plain progress lines of ``label``."""
    return [(int(m[2]), int(m[3])) for m in LINE.finditer(output) if m[1] == label]


def test_plain_lines_end_with_the_last_step() -> None:
    result = CliRunner().invoke(main, ["run", str(BASE), "-n", "3", "-w", "1", "--no-save", *SHORT])
    assert result.exit_code == 0, result.output
    # one worker: the run is in this process and its progress counts simulated months
    lines = _progress(result.output, "base: months")
    assert lines[0][0] >= 1
    assert lines[-1] == (6, 6)
    assert [d for d, _ in lines] == sorted(d for d, _ in lines)
    pooled = CliRunner().invoke(main, ["run", str(BASE), "-n", "2", "-w", "2", "--no-save", *SHORT])
    assert _progress(pooled.output, "base: replications")[-1] == (2, 2)


def test_one_long_replication_shows_each_month(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(common, "PLAIN_EVERY_SECONDS", 0.0)
    args = ["run", str(BASE), "-n", "1", "--no-save", "--set", "horizon_months=3"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert _progress(result.output, "base: months") == [(1, 3), (2, 3), (3, 3)]


def test_plan_and_realism_show_progress(tmp_path: Path) -> None:
    args = ["plan", str(BASE), "--by", "2027-02", "--plan", "none", "--reps", "2", "-w", "1"]
    result = CliRunner().invoke(main, [*args, *SHORT, "--out", str(tmp_path / "p")])
    assert result.exit_code == 0, result.output
    assert _progress(result.output, "plan")[-1] == (2, 2)
    result = CliRunner().invoke(main, ["realism", str(BASE), "-n", "2", "-w", "1", *SHORT])
    assert result.exit_code in (0, 1), result.output  # a 2-month run is judged, not refused
    assert _progress(result.output, "base: replications")[-1] == (2, 2)


def test_sweep_shows_progress(tmp_path: Path) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(
        f"name: tiny\nbase: {BASE}\nset: [horizon_months=1]\n"
        "parameters:\n  inside_sales.headcount: [2, 3]\n"
        "design: grid\nreplications: 2\nseed: 1\nkpis: [wins]\n"
    )
    out = tmp_path / "s.duckdb"
    result = CliRunner().invoke(main, ["sweep", str(spec), "--out", str(out), "-w", "1"])
    assert result.exit_code == 0, result.output
    assert _progress(result.output, "sweep tiny")[-1] == (4, 4)


def test_diagnose_says_each_step(tmp_path: Path) -> None:
    args = ["diagnose", str(BASE), "--reps", "2", "-w", "1", *SHORT]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    # each of the 8 simulations (the base and the three variants, 2 replications each)
    steps = re.findall(
        r"^diagnosing: (\d+)/8 simulations \(the base and \+1 SDR, \+1 AE, \+1 CSM\) "
        r"\(\d\d:\d\d:\d\d in\)$",
        result.output,
        re.M,
    )
    assert [int(k) for k in steps] == list(range(1, 9))
