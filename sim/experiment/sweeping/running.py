"""Running a sweep: one task per (point, replication) on an executor, each result stored as
it arrives, so a killed run resumes where it stopped."""

from __future__ import annotations

import functools
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sim import display
from sim.experiment.executors import ExecutorLike, make_executor
from sim.experiment.runner import Progress, replicate
from sim.experiment.store import ResultStore
from sim.experiment.sweeping.analysis import sensitivity, sweep_summary
from sim.experiment.sweeping.definition import Sweep, load_sweep
from sim.scenario.schema import Scenario

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@dataclass(frozen=True)
class TaskResult:
    """What one (point, replication) task sends back: the KPIs and series the sweep keeps."""

    replication: int
    seed: str
    kpis: dict[str, float]
    monthly: dict[str, np.ndarray[Any, Any]]


def run_task(
    scenario: Scenario,
    seed: int,
    replication: int,
    kpis: Sequence[str],
    series: Sequence[str],
) -> TaskResult:
    """Run one replication and keep only what the sweep stores (runs on any worker).

    Parameters
    ----------
    scenario
        The point's scenario.
    seed, replication
        The sweep's seed and the replication index: the replication is seeded from
        ``(seed, replication)``, whatever the point.
    kpis, series
        The KPIs and monthly series to return.
    """
    rep = replicate(scenario, seed, replication)
    return TaskResult(
        replication=replication,
        seed=rep.seed,
        kpis={k: rep.kpis[k] for k in kpis},
        monthly={m: rep.monthly[m] for m in series},
    )


@dataclass(repr=False)
class SweepRun(display.Shown):
    """What one call of :func:`sweep` did, and a way to its results.

    In a notebook it shows itself as a short table (design, points, replications, seed,
    ending ARR across points); :meth:`to_frame` gives the per-point summary from the store
    and :meth:`plot` the sensitivity, response curve, heatmap or tornado chart.

    Attributes
    ----------
    total
        Points x replications.
    skipped
        Tasks already in the store (not recomputed).
    computed
        Tasks run and stored by this call.
    seconds
        Wall time spent running tasks (after validation and store setup).
    complete
        False if interrupted (Ctrl-C): what finished is stored; run again to resume.
    executor
        The executor's name (empty if nothing was left to run).
    code_changed
        Always False: a store started by other revloop code (another version or a local
        edit) is refused (:class:`StoreError`), as its rows may differ from what this code
        computes. Kept for callers that read it.
    definition
        The sweep that ran.
    """

    sweep_id: str
    out: str
    total: int
    skipped: int
    computed: int = 0
    seconds: float = 0.0
    complete: bool = True
    executor: str = ""
    code_changed: bool = False
    definition: Sweep | None = None

    @property
    def tasks_per_second(self) -> float:
        """Tasks computed per second of wall time."""
        return self.computed / self.seconds if self.seconds > 0 else math.nan

    def _facts(self) -> display.Facts:
        done = f"{self.computed} computed, {self.skipped} already stored, of {self.total}"
        rows = [("tasks", done + ("" if self.complete else " (interrupted)"))]
        sw = self.definition
        if sw is not None:
            spec = sw.spec
            rows[:0] = [
                ("design", f"{spec.design}: {', '.join(sw.parameters)}"),
                ("points", f"{len(sw.points)} x {spec.replications} replications"),
                ("seed", str(spec.seed)),
                ("horizon", f"{sw.base.horizon_months} months from {sw.base.start_date:%Y-%m}"),
            ]
            if "ending_arr" in spec.kpis:
                try:
                    means = self.to_frame(["ending_arr"])["mean"]
                except Exception:  # a repr never raises: the store may be busy or gone
                    means = None
                if means is not None:
                    rows.append(("ending ARR (point means)", display.band("ending_arr", means)))
        return f"Sweep: {self.sweep_id}", rows

    def to_frame(self, kpis: Sequence[str] | None = None) -> pd.DataFrame:
        """The per-point summary of the store (:func:`sweep_summary`).

        Parameters
        ----------
        kpis
            KPIs to summarise (default: every KPI stored).
        """
        return sweep_summary(self.out, kpis)

    def sensitivity(self, kpi: str = "ending_arr") -> pd.DataFrame:
        """How much each parameter moves ``kpi`` (:func:`sensitivity` of the store)."""
        return sensitivity(self.out, kpi)

    def plot(
        self,
        kind: str = "sensitivity",
        kpi: str = "ending_arr",
        x: str | None = None,
        y: str | None = None,
    ) -> Figure:
        """Draw the sweep's results.

        Parameters
        ----------
        kind
            ``sensitivity``: :meth:`sensitivity` as bars with 95% CIs; ``curve``: the KPI's
            mean against parameter ``x``, one line per value of ``y``; ``heatmap``: the
            KPI's mean over ``x`` and ``y``; ``tornado`` (grid designs): the KPI's swing
            when each parameter moves to its first and last level, the others at the base
            scenario's values.
        kpi
            The KPI.
        x, y
            Parameters of the curve and heatmap (default: the first two swept).

        Returns
        -------
        matplotlib.figure.Figure

        Raises
        ------
        ValueError
            On an unknown kind, or a chart the sweep cannot give.
        """
        from sim.analysis import plots

        if kind == "sensitivity":
            return plots.sensitivity_chart(self.sensitivity(kpi), kpi)
        points = self.to_frame([kpi]).rename(columns={"mean": kpi, "ci95": f"{kpi}_ci95"})
        names = self.definition.parameters if self.definition else []
        x = x or (names[0] if names else None)
        y = y or (names[1] if len(names) > 1 else None)
        if kind == "curve" and x:
            return plots.response_curve(points, x, kpi, by=y)
        if kind == "heatmap" and x and y:
            return plots.response_heatmap(points, x, y, kpi)
        if kind == "tornado" and self.definition and self.definition.spec.design == "grid":
            return _tornado(self.definition, points, kpi)
        raise ValueError(
            f"cannot draw {kind!r} of this sweep: use sensitivity, curve (one parameter), "
            "heatmap (two) or tornado (a grid)"
        )


def _tornado(sw: Sweep, points: pd.DataFrame, kpi: str) -> Figure:
    """Tornado chart of a grid: each parameter at its first and last level, the others at
    the base scenario's values (where the grid has them)."""
    from sim.analysis import plots

    base = {name: functools.reduce(getattr, name.split("."), sw.base) for name in sw.parameters}

    def mean_at(setting: dict[str, Any]) -> float:
        at = np.logical_and.reduce([points[p] == v for p, v in setting.items()])
        return float(points.loc[at, kpi].mean())

    rows = []
    for name in sw.parameters:
        levels = list(dict.fromkeys(points[name]))
        low, high = levels[0], levels[-1]
        rows.append(
            {
                "parameter": name,
                "low": mean_at(base | {name: low}),
                "high": mean_at(base | {name: high}),
                "low_label": low,
                "high_label": high,
            }
        )
    return plots.tornado_chart(pd.DataFrame(rows), kpi, mean_at(base))


def sweep(
    definition: Sweep | str | os.PathLike[str],
    out: str | os.PathLike[str],
    executor: ExecutorLike = None,
    workers: int | None = None,
    progress: Progress | None = None,
) -> SweepRun:
    """Run every (point, replication) task of a sweep not yet in the store ``out``.

    Each task's rows are committed to the DuckDB file ``out`` as it finishes, so a killed run
    loses only the tasks in flight; calling again with the same sweep resumes, and the final
    tables are identical to an uninterrupted run's.

    Parameters
    ----------
    definition
        A :class:`Sweep` or the path of a sweep file.
    out
        The DuckDB results file (created if missing).
    executor, workers
        Where tasks run (see :func:`sim.experiment.executors.make_executor`): local processes
        by default, ``"serial"``, a Dask scheduler address or ``dask.distributed.Client``.
    progress
        Optional callback ``progress(done, total)``, called after each commit (``done``
        counts tasks already stored too).

    Returns
    -------
    SweepRun

    Raises
    ------
    SweepError, ScenarioError, StoreError
        Bad sweep file or base scenario, or ``out`` holds a different sweep, was started by
        other revloop code, or is not a revloop store.
    """
    sw = definition if isinstance(definition, Sweep) else load_sweep(definition)
    spec = sw.spec
    with ResultStore(out) as store:
        store.prepare(sw)  # refuses a store started by other revloop code
        finished = store.finished()
        # Replication-major: an interrupted sweep has every point at about the same depth.
        todo = [
            (p, r)
            for r in range(spec.replications)
            for p in range(len(sw.points))
            if (p, r) not in finished
        ]
        run = SweepRun(sw.id, os.fspath(out), sw.tasks, sw.tasks - len(todo), definition=sw)
        if progress:
            progress(run.skipped, run.total)
        if not todo:
            return run
        tasks = [(sw.scenarios[p], spec.seed, r, spec.kpis, spec.monthly) for p, r in todo]
        start = time.perf_counter()
        try:
            with make_executor(executor, workers) as pool:
                run.executor = pool.name
                for index, result in pool.imap_unordered(run_task, tasks):
                    store.add(sw, todo[index][0], result)
                    run.computed += 1
                    if progress:
                        progress(run.skipped + run.computed, run.total)
        except KeyboardInterrupt:
            run.complete = False
        finally:
            run.seconds = time.perf_counter() - start
        return run


# --- reading results ------------------------------------------------------------------------
