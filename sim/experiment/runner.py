"""Monte Carlo replications of a scenario, serially or on the process pool of ``executors``.

Replication ``r`` of a run seeded with ``seed`` always uses
``SeedSequence(seed, spawn_key=(r,))``, so results are identical whatever the number of
workers or the order in which replications finish.
"""

from __future__ import annotations

from collections.abc import Callable

from sim.analysis.metrics import kpis, monthly
from sim.analysis.motion import motion_tables
from sim.engine.calendar import month_labels
from sim.engine.streams import replication_seed
from sim.engine.world import simulate
from sim.experiment.executors import ExecutorLike, WorkersLost, default_workers, make_executor
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


def run(
    scenario: Scenario,
    replications: int = 100,
    seed: int = 0,
    workers: int | None = None,
    progress: Progress | None = None,
    keep_ledgers: bool = False,
    executor: ExecutorLike = None,
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
    executor
        Where to run (see :func:`sim.experiment.executors.make_executor`); default: this
        process if ``workers`` is 1, else the local process pool. A worker that dies is
        replaced and its replications run again (same seeds, same numbers).

    Returns
    -------
    Results
        Replications in order. If interrupted (Ctrl-C), the finished ones, with
        ``complete=False``; if worker processes kept dying, the finished ones too, with
        ``complete=False`` and the missing replications in ``lost``.
    """
    if replications < 1:
        raise ValueError(f"replications must be at least 1 (got {replications})")
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer (got {seed})")
    workers = default_workers() if workers is None else workers
    if workers < 1:
        raise ValueError(f"workers must be at least 1 (got {workers})")
    if executor is None:
        executor = "serial" if workers == 1 or replications == 1 else "processes"
    results = Results(
        scenario=scenario,
        seed=seed,
        requested=replications,
        months=month_labels(scenario.start_date, scenario.horizon_months),
    )
    done: list[Replication] = []
    tasks = [(scenario, seed, r, keep_ledgers) for r in range(replications)]
    pool = make_executor(executor, min(workers, replications))
    try:
        with pool:
            for _, rep in pool.imap_unordered(replicate, tasks):
                done.append(rep)
                if progress:
                    progress(len(done), replications)
    except KeyboardInterrupt:
        results.complete = False
    except WorkersLost as lost:
        results.complete = False
        results.lost = [tasks[i][2] for i in lost.missing]
    results.restarts = getattr(pool, "restarts", 0)
    results.replications = sorted(done, key=lambda rep: rep.replication)
    return results
