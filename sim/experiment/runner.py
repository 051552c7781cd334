"""Monte Carlo replications of a scenario, serially or on the process pool of ``executors``.

Replication ``r`` of a run seeded with ``seed`` always uses
``SeedSequence(seed, spawn_key=(r,))``, so results are identical whatever the number of
workers or the order in which replications finish.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from sim.analysis.metrics import KPIS, kpis, monthly
from sim.analysis.motion import motion_tables
from sim.engine.calendar import month_labels
from sim.engine.streams import replication_seed
from sim.engine.world import simulate
from sim.experiment.executors import (
    ExecutorLike,
    SerialExecutor,
    WorkersLost,
    default_workers,
    make_executor,
)
from sim.experiment.results import Replication, Results
from sim.scenario import as_scenario
from sim.scenario.schema import Scenario
from sim.stats import ci_half_width, paired_difference, settled

Progress = Callable[[int, int], None]
"""Called as ``progress(done, total)`` each time a replication finishes."""

Replications = int | Literal["auto"]
"""A number of replications, or ``"auto"``: as many as a :class:`StoppingRule` asks for."""


@dataclass(frozen=True)
class StoppingRule:
    """When ``replications="auto"`` has run enough.

    Replications are added in batches from ``min_replications`` until either the 95% CI
    half-width of ``kpi``'s mean is at most ``target`` times its absolute mean for every
    scenario, or (with two or more scenarios run on common seeds) every scenario's paired
    difference in ``kpi`` to the first is told from zero (:func:`sim.stats.settled`): the
    decision is known. The next batch size comes from the CI's ``1/sqrt(n)`` law; at
    ``max_replications`` the run stops unconverged.
    """

    kpi: str = "ending_arr"
    target: float = 0.02
    min_replications: int = 10
    max_replications: int = 200

    def __post_init__(self) -> None:
        if self.kpi not in KPIS:
            raise ValueError(f"unknown KPI {self.kpi!r}; KPIs are {', '.join(KPIS)}")
        if not self.target > 0:
            raise ValueError(f"target must be positive (got {self.target})")
        if not 2 <= self.min_replications <= self.max_replications:
            raise ValueError(
                "need 2 <= min_replications <= max_replications "
                f"(got {self.min_replications}, {self.max_replications})"
            )

    def wanted(self, runs: Sequence[Results]) -> int | None:
        """How many replications each scenario should have; ``None`` once there are enough."""
        if self.met(runs) or len(runs[0].replications) >= self.max_replications:
            return None
        return min(self.max_replications, _needed(runs, self.kpi, self.target))

    def met(self, runs: Sequence[Results]) -> bool:
        """Whether the rule is met (False when the cap stopped the run first)."""
        have = len(runs[0].replications)
        return _needed(runs, self.kpi, self.target) <= have or _told_apart(runs, self.kpi)


def _values(res: Results, kpi: str) -> np.ndarray[Any, Any]:
    return np.array([rep.kpis[kpi] for rep in res.replications], dtype=float)


def _told_apart(runs: Sequence[Results], kpi: str) -> bool:
    """Is every scenario's paired difference in ``kpi`` to the first told from zero?"""
    if len(runs) < 2:
        return False
    base = _values(runs[0], kpi)
    for res in runs[1:]:
        diff = paired_difference(base, _values(res, kpi))
        if not settled(diff["diff_low"], diff["diff_high"]):
            return False
    return True


def _needed(runs: Sequence[Results], kpi: str, target: float) -> int:
    """Replications the slowest-converging scenario needs, from the CI's 1/sqrt(n) law."""
    needed = 0
    for res in runs:
        x = _values(res, kpi)
        n = int(np.sum(~np.isnan(x)))
        half, mean = ci_half_width(x), float(np.nanmean(x)) if n else math.nan
        goal = target * abs(mean)
        if n < 2 or not math.isfinite(half) or not math.isfinite(goal):
            # nothing to estimate from: ask for one more batch of the same size
            needed = max(needed, 2 * len(res.replications))
        elif half > goal:
            needed = max(needed, math.ceil(n * (half / goal) ** 2), n + 1)
        else:
            needed = max(needed, len(res.replications))
    return needed


def replicate(
    scenario: Scenario,
    seed: int,
    replication: int,
    keep_ledger: bool = False,
    on_month: Callable[[int, int], None] | None = None,
) -> Replication:
    """Run replication ``replication`` of ``scenario``; reduce it to KPIs, series, stage reports.

    The stage reports (:func:`~sim.analysis.motion.motion_tables`) are computed here, in the
    worker, because the ledger they need is dropped unless ``keep_ledger``. ``on_month`` is
    passed to :func:`~sim.engine.world.simulate`.
    """
    ledger = simulate(scenario, replication_seed(seed, replication), on_month)
    return Replication(
        replication=replication,
        seed=ledger.seed,
        kpis=kpis(ledger),
        monthly=monthly(ledger),
        ledger=ledger if keep_ledger else None,
        motion=motion_tables(ledger),
    )


def run(
    scenario: Scenario | str | os.PathLike[str],
    replications: Replications = 100,
    seed: int = 0,
    workers: int | None = None,
    progress: Progress | None = None,
    keep_ledgers: bool = False,
    executor: ExecutorLike = None,
    *,
    first: int = 0,
    stop: Callable[[], bool] | None = None,
    on_replication: Callable[[Replication], None] | None = None,
    on_month: Callable[[int, int], None] | None = None,
    rule: StoppingRule | None = None,
) -> Results:
    """Run ``replications`` independent replications of ``scenario``.

    Parameters
    ----------
    scenario
        A validated scenario, or a scenario file (read with :func:`sim.load_scenario`).
    replications
        How many replications, or ``"auto"``: as many as ``rule`` asks for (by default
        :class:`StoppingRule`: ending ARR's mean to within 2% at 95%, 10 to 200
        replications); ``Results.converged`` says whether the rule was met before the cap.
    seed
        Root seed of the run; replication ``r`` is seeded from ``(seed, r)``.
    workers
        Worker processes (default: one per CPU); 1 runs in this process.
    progress
        Optional callback ``progress(done, total)``; with ``"auto"`` the total grows.
    keep_ledgers
        Keep every replication's full ledger (per-lead records) in memory.
    executor
        Where to run (see :func:`sim.experiment.executors.make_executor`); default: this
        process if ``workers`` is 1, else the local process pool. A worker that dies is
        replaced and its replications run again (same seeds, same numbers).
    first
        Index of the first replication: a run with ``first=10`` continues one of 10
        replications with the same seeds (replications ``10 .. 10 + replications - 1``).
    stop
        Polled each time a replication finishes; when it returns True the run stops at
        once (queued replications are dropped, workers stopped) and returns the finished
        ones with ``complete=False``, as on Ctrl-C.
    on_replication
        Called in this process with each :class:`Replication` as it finishes (in finishing
        order), for callers that show results as they arrive.
    on_month
        Called as ``on_month(done, months)`` each time a simulated month closes, for the
        progress of long replications; only for replications run in this process (the
        ``"serial"`` executor, which ``workers=1`` chooses).
    rule
        The stopping rule of ``"auto"``.

    Returns
    -------
    Results
        Replications in order. If interrupted (Ctrl-C, ``stop``), the finished ones, with
        ``complete=False``; if worker processes kept dying, the finished ones too, with
        ``complete=False`` and the missing replications in ``lost``.
    """
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be at least 1 (got {workers})")
    scenario = as_scenario(scenario)
    workers = default_workers() if workers is None else workers
    if executor is None:
        executor = "serial" if workers == 1 or replications == 1 else "processes"
    if isinstance(replications, int) and not isinstance(replications, bool):
        workers = min(workers, max(replications, 1))
    runs = run_together(
        [scenario],
        replications,
        seed,
        executor=executor,
        workers=workers,
        progress=progress,
        keep_ledgers=keep_ledgers,
        first=first,
        stop=stop,
        on_replication=on_replication,
        on_month=on_month,
        rule=rule,
    )
    return runs[0]


def run_together(
    scenarios: Sequence[Scenario],
    replications: Replications,
    seed: int = 0,
    *,
    executor: ExecutorLike = None,
    workers: int | None = None,
    progress: Progress | None = None,
    keep_ledgers: bool = False,
    first: int = 0,
    stop: Callable[[], bool] | None = None,
    on_replication: Callable[[Replication], None] | None = None,
    on_month: Callable[[int, int], None] | None = None,
    rule: StoppingRule | None = None,
    partial: bool = True,
) -> list[Results]:
    """Run the same replications of several scenarios on one pool (common random numbers).

    Replication ``r`` of every scenario is seeded from ``(seed, r)``. The parameters are
    those of :func:`run`; with ``"auto"`` the stopping rule looks at every scenario (and at
    their paired differences to the first). Each :class:`Results` records whether the run
    was complete and, with ``"auto"``, whether the rule was met (``converged``). With
    ``partial=False`` an interruption (``KeyboardInterrupt``, ``stop``) or lost workers
    (:class:`~sim.errors.WorkersLost`) are raised instead of returning what finished.
    """
    if not scenarios:
        raise ValueError("at least one scenario is needed")
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer (got {seed})")
    if first < 0:
        raise ValueError(f"first must be a non-negative integer (got {first})")
    if replications == "auto":
        rule = rule or StoppingRule()
        wanted = rule.min_replications
    elif isinstance(replications, int) and not isinstance(replications, bool):
        if replications < 1:
            raise ValueError(f"replications must be at least 1 (got {replications})")
        rule, wanted = None, replications
    else:
        raise ValueError(
            f"replications must be a positive integer or 'auto' (got {replications!r})"
        )
    months = month_labels(scenarios[0].start_date, scenarios[0].horizon_months)
    runs = [Results(scenario=sc, seed=seed, requested=0, months=months) for sc in scenarios]
    pool = make_executor(executor, workers)
    if not isinstance(pool, SerialExecutor):
        on_month = None  # a callback does not cross to other processes
    done = 0
    tasks: list[tuple[Scenario, int, int, bool, Callable[[int, int], None] | None]] = []
    try:
        with pool:
            while True:
                have = len(runs[0].replications)
                indices = range(first + have, first + wanted)
                tasks = [(sc, seed, r, keep_ledgers, on_month) for r in indices for sc in scenarios]
                total = wanted * len(scenarios)
                for res in runs:
                    res.requested = wanted
                for index, rep in pool.imap_unordered(replicate, tasks):
                    runs[index % len(scenarios)].replications.append(rep)
                    done += 1
                    if on_replication:
                        on_replication(rep)
                    if progress:
                        progress(done, total)
                    if stop is not None and stop():
                        raise KeyboardInterrupt
                if rule is None:
                    break
                more = rule.wanted(runs)
                if more is None:
                    break
                wanted = more
    except KeyboardInterrupt:
        if not partial:
            raise
        for res in runs:
            res.complete = False
    except WorkersLost as lost:
        if not partial:
            raise
        for res in runs:
            res.complete = False
            res.lost = sorted({tasks[i][2] for i in lost.missing})
    for res in runs:
        res.restarts = getattr(pool, "restarts", 0)
        res.replications.sort(key=lambda rep: rep.replication)
        if rule is not None:
            res.converged = res.complete and rule.met(runs)
    return runs
