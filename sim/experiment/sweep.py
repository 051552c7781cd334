"""Parameter sweeps: the design is data, the results go to a DuckDB store, runs resume.

A sweep file names a base scenario, the parameters to vary (dotted paths, as ``--set``
takes them) with a list of values or a range, the design (``grid``, ``lhs``, ``sobol`` or
``morris``; the last three sampled through SALib), replications per point, the seed, the KPIs
to keep and, optionally, monthly series to keep::

    name: levers
    base: ../base.yaml                  # relative to this file
    set: [horizon_months=24]            # fixed overrides for every point (optional)
    parameters:
      inside_sales.headcount: [8, 10, 14]
      marketing.scoring.mql_threshold: {low: 15, high: 25, num: 3}
      recycle.lost.pause_days.mean: {low: 60, high: 180, step: 60}
    design: grid
    replications: 20
    seed: 1
    kpis: [ending_arr, new_arr, wins]
    monthly: [arr]

**Seeds.** Replication ``r`` of *every* point uses ``replication_seed(seed, r)``: the seed
of (point, replication) is a pure function of (sweep seed, replication), so points are
compared on common random numbers, exactly like :func:`sim.experiment.compare.compare`, and
the rows are the same whatever the executor, the number of workers or the order tasks finish.
"""

from __future__ import annotations

from sim.experiment.sweeping.analysis import sensitivity, sweep_summary
from sim.experiment.sweeping.definition import (
    MAX_PROBLEMS,
    Sweep,
    SweepError,
    SweepSpec,
    load_sweep,
    monthly_metrics,
)
from sim.experiment.sweeping.running import SweepRun, TaskResult, run_task, sweep

__all__ = [
    "MAX_PROBLEMS",
    "Sweep",
    "SweepError",
    "SweepRun",
    "SweepSpec",
    "TaskResult",
    "load_sweep",
    "monthly_metrics",
    "run_task",
    "sensitivity",
    "sweep",
    "sweep_summary",
]
