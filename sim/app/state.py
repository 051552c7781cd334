"""What the what-if page does, without the page: edits, cached runs, comparisons, files.

Nothing here imports a user-interface package, so the logic is tested (and usable in a
notebook) without a browser:

- :func:`load_text` validates scenario YAML text as the loader validates a file, with the
  same ``file:line: field: message`` problems, and :class:`Levers` turns the controls the
  page shows into ``dotted.path=value`` overrides on that text;
- :class:`ReplicationCache` keeps every replication simulated, keyed by scenario digest,
  seed and replication number, so no replication is ever simulated twice;
- :class:`Job` runs a scenario in a background thread, first a quick rough answer, then the
  full run, each beside the saved base on the same seeds, and reports as replications arrive;
- :func:`save_scenario`, :func:`export_report`, :func:`export_workbook` and
  :func:`export_chart` write what the page offers to download.
"""

from __future__ import annotations

import dataclasses
import math
import os
import pickle
import re
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from sim.analysis import charts
from sim.engine.calendar import month_labels
from sim.errors import Problem, ScenarioError
from sim.experiment.compare import HEADLINE_KPIS, Comparison
from sim.experiment.results import Replication, Results
from sim.experiment.runner import run
from sim.formats import fmt
from sim.scenario.loader import apply_overrides, read_layered, validate
from sim.scenario.schema import Scenario

__all__ = [
    "CONTROLS_FILE",
    "QUEUE_POLICIES",
    "REASONS",
    "TEAMS",
    "Job",
    "Levers",
    "ReplicationCache",
    "Snapshot",
    "Stage",
    "band_text",
    "comparison_table",
    "export_chart",
    "export_report",
    "export_workbook",
    "kpi_table",
    "load_text",
    "plan_text",
    "save_scenario",
    "stages",
]

TEAMS = ("inside_sales", "field_sales", "customer_success")
"""Teams whose headcount and hiring plan are controls."""
REASONS = ("not_now", "unreached", "rejected", "lost", "churned")
"""Recycle reasons whose pause is a control."""
QUEUE_POLICIES = ("fifo", "newest_first", "score")
"""The inside-sales queue policies a scenario may name."""
CONTROLS_FILE = "controls"
"""The pseudo file name of problems found in a control's value (a malformed hiring plan)."""

_PLAN_ITEM = re.compile(r"^\s*(\d+)\s*:\s*([+-]?)\s*(\d+)\s*$")


# --- scenario text and controls -----------------------------------------------------------


def load_text(
    text: str, path: str | os.PathLike[str], sets: Sequence[str] = ()
) -> tuple[Scenario, dict[str, Any]]:
    """Validate ``text`` as the content of the scenario file ``path``, then apply ``sets``.

    The text is read exactly as :func:`sim.load_scenario` reads a file (``extends:`` is
    resolved from the folder of ``path``), so every problem is located the same way, as
    ``path:line: field: message``.

    Returns
    -------
    tuple[Scenario, dict]
        The validated scenario and the merged data of the text (before ``sets``), from which
        :meth:`Levers.of` reads the controls' values.

    Raises
    ------
    ScenarioError
        With every problem found.
    """
    shown = os.fspath(path)
    folder = Path(shown).resolve().parent
    try:
        handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed below, deleted in finally
            "w", suffix=".yaml", prefix=".revloop-app-", dir=folder, delete=False, encoding="utf-8"
        )
    except OSError:  # a read-only folder: extends by relative path cannot resolve then
        handle = tempfile.NamedTemporaryFile(  # noqa: SIM115
            "w", suffix=".yaml", prefix=".revloop-app-", delete=False, encoding="utf-8"
        )
    temp = Path(handle.name)
    try:
        with handle:
            handle.write(text)
        data, sources = read_layered(temp)
    except ScenarioError as err:
        raise ScenarioError([_renamed(p, temp.name, shown) for p in err.problems]) from None
    finally:
        temp.unlink(missing_ok=True)
    sources = {
        key: (shown if os.path.basename(file) == temp.name else file, line)
        for key, (file, line) in sources.items()
    }
    merged, merged_sources = apply_overrides(data, sources, sets)
    return validate(Scenario, merged, merged_sources), data


def _renamed(problem: Problem, temp: str, shown: str) -> Problem:
    if problem.file is not None and os.path.basename(problem.file) == temp:
        return dataclasses.replace(problem, file=shown)
    return problem


def plan_text(plan: Sequence[dict[str, Any]] | None) -> str:
    """A hiring plan as the page shows it: ``"6:+2, 24:+1"`` (month: hires or -leavers)."""
    items = []
    for change in plan or []:
        hire, leave = int(change.get("hire", 0) or 0), int(change.get("leave", 0) or 0)
        items.append(f"{change['month']}:+{hire}" if hire else f"{change['month']}:-{leave}")
    return ", ".join(items)


def _plan_value(text: str) -> str:
    """The YAML of a plan typed as ``"6:+2, 24:-1"``; ``ValueError`` if malformed."""
    changes = []
    for item in filter(str.strip, text.split(",")):
        match = _PLAN_ITEM.match(item)
        if not match:
            raise ValueError(
                f"cannot read {item.strip()!r}: write month:+hires or month:-leavers, "
                "e.g. 6:+2, 24:-1"
            )
        month, sign, count = match.groups()
        changes.append(f"{{month: {month}, {'leave' if sign == '-' else 'hire'}: {count}}}")
    return "[" + ", ".join(changes) + "]"


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


@dataclass
class Levers:
    """The values of the page's controls: the levers planners pull most.

    Every other field is edited as YAML; :meth:`sets` turns the levers that differ from the
    text into ``dotted.path=value`` overrides, so a bad value is reported like any override.
    """

    headcount: dict[str, int] = field(default_factory=dict)
    """Day-one headcount per team (:data:`TEAMS`)."""
    plan: dict[str, str] = field(default_factory=dict)
    """Hiring plan per team, as :func:`plan_text` writes it."""
    mql_threshold: float = 0.0
    fast_pass_threshold: float = 0.0
    queue_policy: str = "fifo"
    pause_days: dict[str, float] = field(default_factory=dict)
    """Mean recycle pause (days) per reason (:data:`REASONS`) whose pause has a mean."""
    volume: float = 1.0
    """Multiplier on every channel's monthly leads (or monthly spend, for a bought channel)."""
    horizon_months: int = 36

    @classmethod
    def of(cls, data: dict[str, Any]) -> Levers:
        """The controls' values in scenario data (as :func:`load_text` returns it)."""
        scoring = data.get("marketing", {}).get("scoring", {})
        pauses = {}
        for reason in REASONS:
            pause = data.get("recycle", {}).get(reason, {}).get("pause_days")
            mean = _number(pause.get("mean")) if isinstance(pause, dict) else _number(pause)
            if mean is not None:
                pauses[reason] = mean
        return cls(
            headcount={t: int(data[t]["headcount"]) for t in TEAMS if t in data},
            plan={t: plan_text(data[t].get("plan")) for t in TEAMS if t in data},
            mql_threshold=float(scoring.get("mql_threshold", 0)),
            fast_pass_threshold=float(scoring.get("fast_pass_threshold", 0)),
            queue_policy=str(data.get("inside_sales", {}).get("queue_policy", "fifo")),
            pause_days=pauses,
            volume=1.0,
            horizon_months=int(data.get("horizon_months", 36)),
        )

    def sets(self, data: dict[str, Any]) -> list[str]:
        """Overrides that turn ``data`` (the text's) into these levers' values.

        Raises
        ------
        ScenarioError
            If a hiring plan is malformed (file :data:`CONTROLS_FILE`).
        """
        now = Levers.of(data)
        sets: list[str] = []
        problems: list[Problem] = []
        for team, count in self.headcount.items():
            if count != now.headcount.get(team):
                sets.append(f"{team}.headcount={count}")
        for team, text in self.plan.items():
            if text.strip() != now.plan.get(team, ""):
                try:
                    sets.append(f"{team}.plan={_plan_value(text)}")
                except ValueError as err:
                    problems.append(Problem(str(err), f"{team}.plan", CONTROLS_FILE))
        if problems:
            raise ScenarioError(problems)
        for key in ("mql_threshold", "fast_pass_threshold"):
            if getattr(self, key) != getattr(now, key):
                sets.append(f"marketing.scoring.{key}={getattr(self, key):g}")
        if self.queue_policy != now.queue_policy:
            sets.append(f"inside_sales.queue_policy={self.queue_policy}")
        for reason, mean in self.pause_days.items():
            if now.pause_days.get(reason) != mean:
                sets += _pause_sets(data["recycle"][reason]["pause_days"], reason, mean)
        if self.volume != 1.0:
            sets += _volume_sets(data.get("marketing", {}).get("channels", {}), self.volume)
        if self.horizon_months != now.horizon_months:
            sets.append(f"horizon_months={self.horizon_months}")
        return sets


def _pause_sets(pause: Any, reason: str, mean: float) -> list[str]:
    key = f"recycle.{reason}.pause_days"
    if not isinstance(pause, dict):
        return [f"{key}={mean:g}"]
    sets = [f"{key}.mean={mean:g}"]
    old, sd = _number(pause.get("mean")), _number(pause.get("sd"))
    if old and sd is not None:  # keep the spread in proportion to the mean
        sets.append(f"{key}.sd={sd * mean / old:.6g}")
    return sets


def _volume_sets(channels: dict[str, Any], factor: float) -> list[str]:
    sets = []
    for name, channel in channels.items():
        for key in ("monthly_leads", "spend"):
            value = _number(channel.get(key)) if isinstance(channel, dict) else None
            if value is not None:
                sets.append(f"marketing.channels.{name}.{key}={value * factor:.6g}")
    return sets


# --- replications, cached -----------------------------------------------------------------


class ReplicationCache:
    """Every replication simulated, by (scenario digest, seed, replication number).

    A replication is a pure function of these three, so one found here is never simulated
    again. With ``folder``, replications are also kept on disk (one pickle file each, under
    the scenario's digest) and found there by later sessions.

    Attributes
    ----------
    simulated
        How many replications this cache has had to simulate (the others were reused).
    """

    def __init__(self, folder: str | os.PathLike[str] | None = None) -> None:
        self.folder = Path(folder) if folder is not None else None
        self._memory: dict[tuple[str, int, int], Replication] = {}
        self._lock = threading.Lock()
        self.simulated = 0

    def __len__(self) -> int:
        return len(self._memory)

    def _file(self, digest: str, seed: int, replication: int) -> Path | None:
        if self.folder is None:
            return None
        return self.folder / digest / f"seed{seed}-rep{replication}.pickle"

    def get(self, digest: str, seed: int, replication: int) -> Replication | None:
        """The replication if simulated before (in this session or, with a folder, ever)."""
        key = (digest, seed, replication)
        with self._lock:
            if key in self._memory:
                return self._memory[key]
        file = self._file(*key)
        if file is None or not file.is_file():
            return None
        try:
            rep = pickle.loads(file.read_bytes())  # written by put() below, never downloaded
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError):
            return None
        if not isinstance(rep, Replication):
            return None
        with self._lock:
            self._memory[key] = rep
        return rep

    def put(self, digest: str, seed: int, rep: Replication) -> None:
        """Keep a replication of the scenario with ``digest`` run on root seed ``seed``."""
        key = (digest, seed, rep.replication)
        with self._lock:
            self._memory[key] = rep
        file = self._file(*key)
        if file is not None:
            file.parent.mkdir(parents=True, exist_ok=True)
            temp = file.with_suffix(".tmp")
            temp.write_bytes(pickle.dumps(rep))
            temp.replace(file)

    def results(
        self,
        scenario: Scenario,
        replications: int,
        seed: int = 0,
        *,
        workers: int = 1,
        stop: Callable[[], bool] | None = None,
        on_update: Callable[[Results], None] | None = None,
    ) -> Results:
        """Replications ``0 .. replications - 1`` of ``scenario``: cached ones, the rest run.

        Parameters
        ----------
        scenario, replications, seed
            What to run (replication ``r`` seeded from ``(seed, r)``, as :func:`sim.run`).
        workers
            Worker processes for the replications not cached (1: in this process).
        stop
            Polled as each replication finishes; True stops the run (``complete=False``).
        on_update
            Called with the results so far: once with the cached replications, then as
            each new one arrives (from this thread).

        Returns
        -------
        Results
            In replication order; ``complete`` is False if stopped before the end.
        """
        digest = scenario.digest()
        have: dict[int, Replication] = {}
        for r in range(replications):
            rep = self.get(digest, seed, r)
            if rep is not None:
                have[r] = rep

        def so_far() -> Results:
            return Results(
                scenario=scenario,
                seed=seed,
                requested=replications,
                months=month_labels(scenario.start_date, scenario.horizon_months),
                replications=[have[r] for r in sorted(have)],
                complete=len(have) == replications,
            )

        def arrived(rep: Replication) -> None:
            self.simulated += 1
            self.put(digest, seed, rep)
            have[rep.replication] = rep
            if on_update:
                on_update(so_far())

        if on_update and have:
            on_update(so_far())
        for first, count in _gaps([r for r in range(replications) if r not in have]):
            if stop and stop():
                break
            done = run(
                scenario,
                count,
                seed,
                workers=max(1, min(workers, count)),
                first=first,
                stop=stop,
                on_replication=arrived,
            )
            if not done.complete:
                break
        return so_far()


def _gaps(missing: list[int]) -> list[tuple[int, int]]:
    """Runs of consecutive numbers in a sorted list, as (first, count)."""
    runs: list[tuple[int, int]] = []
    for r in missing:
        if runs and runs[-1][0] + runs[-1][1] == r:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((r, 1))
    return runs


# --- background runs ----------------------------------------------------------------------


@dataclass(frozen=True)
class Stage:
    """One pass of a run: ``replications`` over at most ``horizon_months`` (None: all)."""

    name: str
    replications: int
    horizon_months: int | None = None
    workers: int = 1


def stages(
    replications: int = 20,
    quick: bool = True,
    workers: int = 2,
    quick_replications: int = 4,
    quick_months: int = 12,
) -> list[Stage]:
    """The passes of a run: a quick rough answer (serial: its first replication arrives
    soonest), then ``replications`` over the full horizon on ``workers`` processes."""
    full = Stage("full", replications, None, workers)
    if not quick:
        return [full]
    return [Stage("quick", quick_replications, quick_months, 1), full]


def _shortened(scenario: Scenario, months: int | None) -> Scenario:
    if months is None or months >= scenario.horizon_months:
        return scenario
    return scenario.model_copy(update={"horizon_months": months})


@dataclass
class Snapshot:
    """What a :class:`Job` has found so far."""

    stage: str
    """``"quick"``, ``"full"``, or ``""`` before the first replication."""
    results: Results | None = None
    """The edited scenario's replications of the current stage so far."""
    base: Results | None = None
    """The saved base's replications of the current stage (same seeds), once run."""
    done: int = 0
    total: int = 0
    finished: bool = False
    cancelled: bool = False
    error: str = ""

    @property
    def comparison(self) -> Comparison | None:
        """Base and edited scenario paired replication by replication, once both ran."""
        if self.results is None or self.base is None:
            return None
        n = min(len(self.results.replications), len(self.base.replications))
        if n == 0:
            return None
        edited = dataclasses.replace(self.results, replications=self.results.replications[:n])
        base = dataclasses.replace(self.base, replications=self.base.replications[:n])
        return Comparison(results=[base, edited], labels=["base", "edited"], seed=edited.seed)


class Job:
    """Runs a scenario and the saved base in a background thread, stage by stage.

    Each stage (:func:`stages`) runs the edited scenario, then the base on the same seeds
    (both through the cache, so the base is simulated once per seed and horizon). Every
    replication that arrives calls ``on_update`` with a :class:`Snapshot`, from the job's
    thread. :meth:`cancel` stops it after the replications running finish.
    """

    def __init__(
        self,
        scenario: Scenario,
        base: Scenario | None,
        cache: ReplicationCache,
        seed: int = 0,
        plan: Sequence[Stage] = (),
        on_update: Callable[[Snapshot], None] | None = None,
    ) -> None:
        self.scenario = scenario
        self.base = base
        self.cache = cache
        self.seed = seed
        self.plan = list(plan) or stages()
        self.on_update = on_update
        self.snapshot = Snapshot(stage="")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name="revloop-app-job", daemon=True)

    def start(self) -> Job:
        """Start the background thread; returns the job."""
        self._thread.start()
        return self

    def cancel(self) -> None:
        """Ask the job to stop; replications running are dropped, finished ones kept."""
        self._stop.set()

    @property
    def cancelled(self) -> bool:
        """Whether :meth:`cancel` was called."""
        return self._stop.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the thread to end; True if it did within ``timeout`` seconds."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _publish(self, **changes: Any) -> None:
        self.snapshot = dataclasses.replace(self.snapshot, **changes)
        if self.on_update:
            self.on_update(self.snapshot)

    def _work(self) -> None:
        try:
            for stage in self.plan:
                if self._stop.is_set():
                    break
                self._stage(stage)
            self._publish(finished=True, cancelled=self._stop.is_set())
        except Exception as err:  # shown on the page; the server must not die with the job
            self._publish(finished=True, error=f"{type(err).__name__}: {err}")

    def _stage(self, stage: Stage) -> None:
        edited = _shortened(self.scenario, stage.horizon_months)
        total = stage.replications * (2 if self.base is not None else 1)
        self._publish(stage=stage.name, results=None, base=None, done=0, total=total)
        results = self.cache.results(
            edited,
            stage.replications,
            self.seed,
            workers=stage.workers,
            stop=self._stop.is_set,
            on_update=lambda res: self._publish(results=res, done=len(res.replications)),
        )
        if self.base is None or self._stop.is_set():
            return
        base = _shortened(self.base, edited.horizon_months)
        if base.horizon_months != edited.horizon_months:  # a base shorter than the edit
            base = base.model_copy(update={"horizon_months": edited.horizon_months})
        done = len(results.replications)
        self.cache.results(
            base,
            stage.replications,
            self.seed,
            workers=stage.workers,
            stop=self._stop.is_set,
            on_update=lambda res: self._publish(base=res, done=done + len(res.replications)),
        )


# --- tables -------------------------------------------------------------------------------


def kpi_table(results: Results, kpis: Sequence[str] = HEADLINE_KPIS) -> pd.DataFrame:
    """The headline KPIs with their bands across replications, formatted for display."""
    summary = results.summary()
    rows = []
    for kpi in kpis:
        row = dict(summary.loc[kpi].to_dict())
        rows.append(
            {
                "KPI": kpi,
                "P10": fmt(kpi, row["p10"]),
                "P50": fmt(kpi, row["p50"]),
                "P90": fmt(kpi, row["p90"]),
                "mean": fmt(kpi, row["mean"]),
                "n": int(row["n"]),
            }
        )
    return pd.DataFrame(rows)


def band_text(results: Results, kpi: str = "ending_arr") -> str:
    """One line: the KPI's P50 and P10-P90 band, e.g. ``ending_arr P50 $12.3M (P10 ...)``."""
    row = dict(results.summary().loc[kpi].to_dict())
    return (
        f"{kpi} P50 {fmt(kpi, row['p50'])} (P10 {fmt(kpi, row['p10'])} - "
        f"P90 {fmt(kpi, row['p90'])}), {int(row['n'])} replications over "
        f"{results.scenario.horizon_months} months"
    )


def comparison_table(comparison: Comparison, kpis: Sequence[str] = HEADLINE_KPIS) -> pd.DataFrame:
    """Edited minus base per KPI, paired by replication, with the verdict in words."""
    summary = comparison.summary(list(kpis))
    base_run, edited_run = comparison.results[0], comparison.results[-1]
    same = base_run.scenario.digest() == edited_run.scenario.digest()
    rows = []
    for kpi, table in summary.groupby("kpi", sort=False):
        base, edited = table.iloc[0], table.iloc[1]
        rows.append(
            {
                "KPI": kpi,
                "base": fmt(str(kpi), base["mean"]),
                "edited": fmt(str(kpi), edited["mean"]),
                "difference": fmt(str(kpi), edited["diff"], signed=True),
                "95% CI": f"{fmt(str(kpi), edited['diff_low'], signed=True)} to "
                f"{fmt(str(kpi), edited['diff_high'], signed=True)}",
                "P(better)": "-" if math.isnan(edited["p_better"]) else f"{edited['p_better']:.0%}",
                "verdict": "the same scenario" if same else edited["verdict"],
            }
        )
    return pd.DataFrame(rows)


# --- files --------------------------------------------------------------------------------


def save_scenario(
    scenario: Scenario, path: str | os.PathLike[str], source: str | None = None
) -> Path:
    """Write ``scenario`` as a self-contained YAML file (every field resolved, no extends).

    Loading the file gives the same scenario (same digest), so its cached runs are reused.
    """
    data = scenario.model_dump(mode="json", by_alias=True, exclude_none=True)
    header = f"# {scenario.name}: saved by revloop app" + (f" from {source}" if source else "")
    text = header + "\n" + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.tmp")
    temp.write_text(text, encoding="utf-8")
    temp.replace(target)
    return target


def _saved(results: Results, folder: Path) -> Path:
    out = folder / (results.scenario.name or "scenario")
    results.save(out, command="revloop app")
    return out


def export_report(
    results: Results, out: str | os.PathLike[str], base: Results | None = None
) -> Path:
    """The HTML report (:mod:`sim.analysis.report`) of the run, and of the base if given."""
    from sim.analysis.report import load_input, render

    with tempfile.TemporaryDirectory(prefix="revloop-app-") as tmp:
        runs = [base, results] if base is not None else [results]
        datasets = [
            load_input(_saved(res, Path(tmp) / str(i)), seed=res.seed) for i, res in enumerate(runs)
        ]
        return render(datasets, out)


def export_workbook(results: Results, out: str | os.PathLike[str]) -> Path:
    """The finance workbook (:func:`sim.analysis.export.export`) of the run."""
    from sim.analysis.export import export

    with tempfile.TemporaryDirectory(prefix="revloop-app-") as tmp:
        return export(_saved(results, Path(tmp)), "xlsx", out)[0]


def export_chart(results: Results, kind: str, out: str | os.PathLike[str]) -> Path:
    """One chart of the run (a kind of :data:`sim.analysis.charts.CHARTS`), as PNG/SVG/PDF."""
    return charts.save_chart(charts.chart(kind, results), out)
