"""Monte Carlo replications of a scenario, serially or in a process pool.

Replication ``r`` of a run seeded with ``seed`` always uses
``SeedSequence(seed, spawn_key=(r,))``, so results are identical whatever the number of
workers or the order in which replications finish.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait

from sim.analysis.metrics import kpis, monthly
from sim.analysis.motion import motion_tables
from sim.engine.calendar import month_labels
from sim.engine.streams import replication_seed
from sim.engine.world import simulate
from sim.experiment.results import Replication, Results
from sim.scenario.schema import Scenario

Progress = Callable[[int, int], None]
"""Called as ``progress(done, total)`` each time a replication finishes."""


def replicate(
    scenario: Scenario, seed: int, replication: int, keep_ledger: bool = False
) -> Replication:
    """Run replication ``replication`` of ``scenario``; reduce it to KPIs, series, stage reports.

    The stage reports (:func:`~sim.analysis.motion.motion_tables`) are computed here, in the
    worker, because the ledger they need is dropped unless ``keep_ledger``.
    """
    ledger = simulate(scenario, replication_seed(seed, replication))
    return Replication(
        replication=replication,
        seed=ledger.seed,
        kpis=kpis(ledger),
        monthly=monthly(ledger),
        ledger=ledger if keep_ledger else None,
        motion=motion_tables(ledger),
    )


def default_workers() -> int:
    """One worker per available CPU."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def run(
    scenario: Scenario,
    replications: int = 100,
    seed: int = 0,
    workers: int | None = None,
    progress: Progress | None = None,
    keep_ledgers: bool = False,
) -> Results:
    """Run ``replications`` independent replications of ``scenario``.

    Parameters
    ----------
    scenario
        A validated scenario.
    replications
        How many replications.
    seed
        Root seed of the run; replication ``r`` is seeded from ``(seed, r)``.
    workers
        Worker processes (default: one per CPU); 1 runs in this process.
    progress
        Optional callback ``progress(done, total)``.
    keep_ledgers
        Keep every replication's full ledger (per-lead records) in memory.

    Returns
    -------
    Results
        Replications in order. If interrupted (Ctrl-C), the finished ones, with
        ``complete=False``.
    """
    if replications < 1:
        raise ValueError(f"replications must be at least 1 (got {replications})")
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer (got {seed})")
    workers = default_workers() if workers is None else workers
    if workers < 1:
        raise ValueError(f"workers must be at least 1 (got {workers})")
    results = Results(
        scenario=scenario,
        seed=seed,
        requested=replications,
        months=month_labels(scenario.start_date, scenario.horizon_months),
    )
    done: list[Replication] = []
    try:
        if workers == 1 or replications == 1:
            for r in range(replications):
                done.append(replicate(scenario, seed, r, keep_ledgers))
                if progress:
                    progress(len(done), replications)
        else:
            _run_pool(scenario, seed, replications, workers, keep_ledgers, done, progress)
    except KeyboardInterrupt:
        results.complete = False
    results.replications = sorted(done, key=lambda rep: rep.replication)
    return results


def _run_pool(
    scenario: Scenario,
    seed: int,
    replications: int,
    workers: int,
    keep_ledgers: bool,
    done: list[Replication],
    progress: Progress | None,
) -> None:
    # spawn: safe with threads and notebooks, and the same on every platform
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=min(workers, replications), mp_context=context)
    pending: set[Future[Replication]] = set()
    try:
        pending = {
            pool.submit(replicate, scenario, seed, r, keep_ledgers) for r in range(replications)
        }
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                done.append(future.result())
                if progress:
                    progress(len(done), replications)
    finally:
        pool.shutdown(wait=not pending, cancel_futures=True)
