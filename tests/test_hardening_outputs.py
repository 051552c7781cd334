"""Issue 19, outputs and runs: killed saves, lost workers, orphans, Ctrl-C, full disks, names.

Where a defect is about a kill, the test kills a real process (``kill -9``, SIGINT to the
process group). See docs/guarantees.md ("Outputs and runs").
"""

from __future__ import annotations

import csv
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner

from sim.analysis.export import read_results
from sim.cli import main
from sim.experiment.runner import replicate, run
from sim.io import check_folder, defuse, safe_name
from tests.helpers import BASE, ROOT, small

TWO_MONTHS = ["--set", "horizon_months=2"]


def replicate_or_die(scenario: object, seed: int, replication: int, *rest: object) -> object:
    """:func:`replicate`, except that replication ``$POISON`` kills its worker every time."""
    if replication == int(os.environ["POISON"]):
        os.kill(os.getpid(), signal.SIGKILL)
    return replicate(scenario, seed, replication, *rest)  # type: ignore[arg-type]


def _python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter at the repository root (``tests`` importable)."""
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=90,
        env={**os.environ, **env},
    )


def _default_sigint() -> None:
    # a test run started in the background of a shell inherits SIGINT ignored, and so would
    # revloop (rightly: an ignored SIGINT is a request); give it a terminal's default
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _revloop(*args: str, **popen: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "sim", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_default_sigint,
        **popen,  # type: ignore[call-overload]
    )


def _workers(parent: int, count: int, timeout: float = 30) -> list[int]:
    """The pids of ``parent``'s pool workers, once ``count`` of them have started."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
        except FileNotFoundError:
            children = []
        workers = []
        for pid in children:
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except FileNotFoundError:
                continue
            if b"spawn_main" in cmdline:
                workers.append(int(pid))
        if len(workers) >= count:
            return workers
        time.sleep(0.05)
    raise AssertionError(f"no {count} workers under {parent} after {timeout} s")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), result.exception
    return result.exit_code, result.output


def _leftovers(folder: Path) -> list[Path]:
    return sorted(folder.parent.glob(f".{folder.name}.revloop-*"))


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two results folders of the same scenario on different seeds."""
    root = tmp_path_factory.mktemp("runs")
    sc = small(months=2)
    run(sc, replications=2, seed=1, workers=1).save(root / "seed1")
    run(sc, replications=2, seed=2, workers=1).save(root / "seed2")
    return root / "seed1", root / "seed2"


# ----------------------------------------------------------------------------- 1. killed save

_KILL_POINTS = {
    # after three files of the new run are written (the reported kill)
    "after_three_files": """
n = [0]
real = io._sha256
def counted(path):
    n[0] += 1
    if n[0] > 3:
        os.kill(os.getpid(), signal.SIGKILL)
    return real(path)
io._sha256 = counted
""",
    # every file written, just before the new folder takes the old one's place
    "before_swap": """
def swap(staging, target):
    os.kill(os.getpid(), signal.SIGKILL)
io._swap = swap
""",
    # right after the swap, before the old folder is removed
    "after_swap": """
real = io._swap
def swap(staging, target):
    real(staging, target)
    os.kill(os.getpid(), signal.SIGKILL)
io._swap = swap
""",
}


@pytest.mark.parametrize("point", list(_KILL_POINTS))
def test_a_killed_save_leaves_the_old_run_or_the_new_one_never_a_mix(
    point: str, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    run(small(months=2), replications=2, seed=1, workers=1).save(out)
    code = "import os, signal\nimport sim.io as io\n" + _KILL_POINTS[point]
    argv = ["run", str(BASE), "-n", "2", "--seed", "7", "-w", "1", *TWO_MONTHS, "--out", str(out)]
    code += f"from sim.cli import main\nmain({argv!r})\n"
    killed = _python(code)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    expected_seed = 7 if point == "after_swap" else 1
    saved = read_results(out)  # checks every file against checksums.sha256
    assert saved.seed == expected_seed
    assert set(saved.kpis["seed"]) == {f"{expected_seed}:0", f"{expected_seed}:1"}
    assert set(saved.monthly["seed"]) == set(saved.kpis["seed"])
    # the export's about sheet describes the run its tables come from
    code_, output = _cli("export", str(out))
    assert code_ == 0, output
    about = pd.read_excel(out / "finance.xlsx", sheet_name="About", index_col="Item")["Value"]
    assert int(about["Seed"]) == expected_seed
    # the stray temporary folder is no results folder, and the next save removes it
    strays = _leftovers(out)
    assert strays
    code_, output = _cli("export", str(strays[0]))
    assert code_ == 2
    assert "temporary folder" in output
    assert "Traceback" not in output
    run(small(months=2), replications=2, seed=3, workers=1).save(out)
    assert not _leftovers(out)
    assert read_results(out).seed == 3
    assert (out / "finance.xlsx").is_file()  # a companion file is carried over


def test_readers_refuse_a_folder_whose_files_come_from_two_runs(
    two_runs: tuple[Path, Path], tmp_path: Path
) -> None:
    old, new = two_runs
    mixed = tmp_path / "mixed"
    shutil.copytree(old, mixed)
    for name in ("monthly.csv", "monthly.parquet", "monthly_summary.csv"):
        shutil.copy(new / name, mixed / name)  # what an older, file-by-file save left
    (mixed / ".kpis.csv.x1y2.tmp").write_text("replication\n")
    for args in (
        ["export", str(mixed)],
        ["export", str(mixed), "--format", "csv", "--out", str(tmp_path / "fin")],
        ["report", str(mixed), "-o", str(tmp_path / "r.html"), "--diagnose-reps", "0"],
        ["diagnose", str(mixed)],
    ):
        code, output = _cli(*args)
        assert code == 2, (args, output)
        assert "monthly" in output, output
        assert "inconsistent" in output, output
        assert "Traceback" not in output
    assert not (tmp_path / "r.html").exists()
    assert not (tmp_path / "fin").exists()
    (mixed / "checksums.sha256").unlink()  # a folder nobody can check
    code, output = _cli("export", str(mixed))
    assert code == 2
    assert "no checksums.sha256" in output


def test_save_cleans_stray_temporary_files_and_refuses_a_foreign_folder(
    two_runs: tuple[Path, Path], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    shutil.copytree(two_runs[0], out)
    (out / ".kpis.csv.abc.tmp").write_text("half")
    run(small(months=2), replications=2, seed=5, workers=1).save(out)
    assert not list(out.glob(".*"))
    home = tmp_path / "home"
    home.mkdir()
    (home / "thesis.docx").write_text("precious")
    code, output = _cli("run", str(BASE), "-n", "2", "-w", "1", *TWO_MONTHS, "--out", str(home))
    assert code == 2
    assert "not a revloop output folder" in output
    assert sorted(p.name for p in home.iterdir()) == ["thesis.docx"]


# ----------------------------------------------------------------------------- 2. lost workers


def test_a_killed_worker_is_replaced_and_the_numbers_do_not_change(tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["run", str(BASE), "-n", "4", "--seed", "3", "-w", "2", "--set", "horizon_months=5"]
    proc = _revloop(*args, "--out", str(out))
    worker = _workers(proc.pid, 2)[0]
    time.sleep(1.0)  # started, not finished: the run takes seconds more
    os.kill(worker, signal.SIGKILL)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    assert "worker process died 1 time(s)" in stderr
    assert "Traceback" not in stderr
    reference = tmp_path / "reference"
    run(small(months=5), replications=4, seed=3, workers=1).save(reference)
    for name in ("kpis.csv", "monthly.csv", "channels.csv"):
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name
    assert json.loads((out / "manifest.json").read_text())["pool_restarts"] == 1


@pytest.mark.parametrize("command", ["run", "compare"])
def test_workers_that_keep_dying_are_one_line_and_exit_5(command: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    extra = [str(BASE)] if command == "compare" else []
    reps = "3" if command == "run" else "2"
    argv = [command, str(BASE), *extra, "-n", reps, "-w", "2", *TWO_MONTHS, "--out", str(out)]
    code = (
        "import sim.experiment.runner as m, tests.test_hardening_outputs as t\n"
        "m.replicate = t.replicate_or_die\n"
        f"from sim.cli import main\nmain({argv!r})\n"
    )
    # the last replication kills its worker, on every pool, and when it runs alone
    done = _python(code, POISON=str(int(reps) - 1))
    assert done.returncode == 5, done.stderr
    assert "Traceback" not in done.stderr
    if command == "run":
        assert "replication(s) 2 did not finish" in done.stderr
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["replications_done"] == [0, 1]
        assert manifest["replications_lost"] == [2]
        assert manifest["complete"] is False
    else:
        assert "worker processes died: 2 of 4 task(s) did not finish" in done.stderr


# ----------------------------------------------------------------------------- 3. orphans


def test_workers_exit_when_the_run_is_killed() -> None:
    proc = _revloop("run", str(BASE), "-n", "8", "-w", "2", "--set", "horizon_months=24")
    workers = _workers(proc.pid, 2)
    proc.kill()
    proc.communicate(timeout=30)
    end = time.monotonic() + 20  # generous: the workers look for their parent twice a second
    while any(_alive(pid) for pid in workers) and time.monotonic() < end:
        time.sleep(0.1)
    assert not [pid for pid in workers if _alive(pid)], "orphaned workers"


# ----------------------------------------------------------------------------- 6. Ctrl-C


@pytest.mark.parametrize("to", ["group", "parent"])
def test_ctrl_c_stops_run_promptly_without_a_traceback(
    to: str, two_runs: tuple[Path, Path], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    shutil.copytree(two_runs[0], out)
    args = ["run", str(BASE), "-n", "16", "-w", "2", "--set", "horizon_months=24"]
    proc = _revloop(*args, "--out", str(out), start_new_session=True)
    workers = _workers(proc.pid, 2)
    time.sleep(3.0)  # the workers are busy with their first replications
    # Ctrl-C in a terminal signals the whole group; kill -INT, the parent alone (before the
    # fix the parent then waited for its workers to finish their replications: 16 s here)
    (os.killpg if to == "group" else os.kill)(proc.pid, signal.SIGINT)
    start = time.monotonic()
    _, stderr = proc.communicate(timeout=60)
    assert time.monotonic() - start < 10  # generous; measured 0.3-0.5 s on 2 cores
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "KeyboardInterrupt" not in stderr
    assert "interrupted" in stderr.strip().splitlines()[-1]
    assert not [pid for pid in workers if _alive(pid)]
    saved = read_results(out)  # the old run, or what finished saved whole
    assert saved.manifest["complete"] is (saved.seed == 1)
    assert not _leftovers(out)


# ----------------------------------------------------------------------------- 7. disk full


def test_a_full_disk_names_the_file_and_leaves_the_old_folder(
    two_runs: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    shutil.copytree(two_runs[0], out)
    before = check_folder(out)
    calls = [0]
    real = pd.DataFrame.to_csv

    def to_csv(self: pd.DataFrame, path: object = None, *args: object, **kwargs: object) -> object:
        calls[0] += 1
        if calls[0] == 3:
            Path(str(path)).write_text("half a fi")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pd.DataFrame, "to_csv", to_csv)
    code, output = _cli("run", str(BASE), "-n", "2", "-w", "1", "--seed", "9", *TWO_MONTHS,
                        "--out", str(out))  # fmt: skip
    assert code == 2, output
    assert f"{out / 'kpis.csv'}: cannot write (no space left on device)" in " ".join(output.split())
    assert check_folder(out) == before
    assert read_results(out).seed == 1
    assert not _leftovers(out)
    assert not list(out.glob(".*"))
    # a single file (the workbook) too
    monkeypatch.setattr(
        "sim.analysis.export._write_workbook",
        lambda path, tables: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space left")),
    )
    code, output = _cli("export", str(out))
    assert code == 2
    assert "finance.xlsx: cannot write (no space left)" in output
    assert not list(out.glob("*finance*"))


# ----------------------------------------------------------------------------- 4. paths


@pytest.mark.parametrize("name", ["../../escaped", "/tmp/revloop-escaped-{uid}"])
def test_plan_output_folder_never_leaves_results_plan(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = name.format(uid=os.getpid())
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    args = ["plan", str(BASE), "--set", f"name={name}", "--set", "horizon_months=3"]
    args += ["--by", "2027-03", "--target-arr", "1M", "--hire", "sdr=0..2:2"]
    args += ["--quarters", "2027Q1", "--first-reps", "2", "--max-reps", "2"]
    args += ["--confirm-reps", "2", "--executor", "serial"]
    code, output = _cli(*args)
    assert code == 0, output
    folder = work / "results" / "plan" / safe_name(name)
    assert {"plans.csv", "plan.json", "plan.duckdb"} <= {p.name for p in folder.iterdir()}
    assert not (tmp_path / "escaped").exists()
    assert not Path(name).exists()
    assert [p.name for p in (work / "results" / "plan").iterdir()] == [safe_name(name)]


def test_safe_name_is_one_harmless_component() -> None:
    for text in ("../../x", "/etc/passwd", "..", "a/../../b", "C:\\win", "", "\x00"):
        name = safe_name(text)
        assert name
        assert "/" not in name
        assert "\\" not in name
        assert not name.startswith(".")
    assert safe_name("base") == "base"


# ----------------------------------------------------------------------------- 5. formulas


def test_defuse_escapes_text_and_leaves_numbers() -> None:
    table = pd.DataFrame(
        {"name": ["=1+1", "+x", "-y", "@z", "\tq", "\rr", "ok", "-"], "value": [-1.5] * 8}
    )
    out = defuse(table.set_index(pd.Index(["=a"] * 8, name="@label")))
    assert list(out["name"]) == ["'=1+1", "'+x", "'-y", "'@z", "'\tq", "'\rr", "ok", "'-"]
    assert out["value"].dtype == float
    assert (out["value"] == -1.5).all()
    assert out.index.name == "@label"
    assert set(out.index) == {"'=a"}


def test_hostile_names_are_text_in_every_csv_and_xlsx(tmp_path: Path) -> None:
    formula = '=HYPERLINK("http://evil.example","click")'
    text = BASE.read_text().replace("demo_request:", f"'{formula}':", 1)
    text = text.replace("name: base", 'name: "=1+2\\x01\\x1b"', 1)
    hostile = tmp_path / "hostile.yaml"
    hostile.write_text(text)
    out = tmp_path / "out"
    code, output = _cli("run", str(hostile), "-n", "2", "-w", "1", *TWO_MONTHS, "--out", str(out))
    assert code == 0, output
    for path in out.glob("*.csv"):
        with path.open(newline="") as handle:
            for row in csv.reader(handle):
                assert not [c for c in row if c.startswith(("=", "+", "@"))], (path.name, row)
    channels = pd.read_csv(out / "channels.csv", index_col=0)
    assert f"'{formula}" in channels.index
    code, output = _cli("export", str(out))
    assert code == 0, output  # no IllegalCharacterError for the control characters
    book = openpyxl.load_workbook(out / "finance.xlsx")
    cells = [c for sheet in book for row in sheet.iter_rows() for c in row]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    about = {r[1].value: r[2].value for r in book["About"].iter_rows(min_row=2)}
    assert about["Scenario"] == "'=1+2  "
    arr = [row[3].value for row in book["Monthly"].iter_rows(min_row=2, max_row=3)]
    assert all(isinstance(v, float | int) for v in arr)  # numbers stay numbers
    code, output = _cli("export", str(out), "--format", "csv")
    assert code == 0, output
    assert "'=1+2" in (out / "finance" / "about.csv").read_text()
