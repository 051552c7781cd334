"""Simulating (plan, replication) pairs: the ARR of one replication at the target month, the
scenario cut there, and the simulator that runs on an executor what the store lacks.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from sim.engine.streams import replication_seed
from sim.engine.world import simulate
from sim.experiment.planning.space import HiringPlan
from sim.experiment.planning.store import _Store
from sim.experiment.runner import Progress
from sim.scenario.schema import Scenario

# --------------------------------------------------------------------------- running


def _arr_at(scenario: Scenario, seed: int, replication: int, month: int) -> float:
    """ARR at the end of simulated ``month`` in replication ``replication`` (a task)."""
    ledger = simulate(scenario, replication_seed(seed, replication))
    return float(ledger.stocks["arr"][month - 1])


def cut_at(scenario: Scenario, month: int) -> Scenario:
    """The scenario cut at ``month``, when it still validates that way (nothing after the
    target month is simulated). Every plan of a search is run on the same cut scenario."""
    if month >= scenario.horizon_months:
        return scenario
    data = scenario.model_dump(by_alias=True)
    data["horizon_months"] = month
    try:
        return Scenario.model_validate(data)
    except ValueError:
        return scenario


class _Simulator:
    """Runs the (plan, replication) pairs not yet stored, on the executor, and stores them.

    ``scenario`` is the one every plan is added to, already cut at the target month.
    """

    def __init__(
        self,
        scenario: Scenario,
        month: int,
        seed: int,
        executor: Any,
        store: _Store,
        progress: Progress | None,
    ) -> None:
        self.base = scenario  # already cut at the target month
        self.month, self.seed = month, seed
        self.executor, self.store, self.progress = executor, store, progress
        self.scenarios: dict[str, Scenario] = {}
        self.simulations = 0  # run by this search (not found in the store)
        self.planned = 0
        self._initial = set(store.values)
        self.reused: set[tuple[str, int]] = set()

    def scenario(self, plan: HiringPlan) -> Scenario:
        if plan.key not in self.scenarios:
            self.scenarios[plan.key] = plan.apply(self.base)
        return self.scenarios[plan.key]

    @property
    def slots(self) -> int:
        """Simulations the executor runs at once."""
        return int(self.executor.slots)

    def missing(self, plan: HiringPlan, replications: Iterable[int]) -> int:
        """How many of these replications of ``plan`` are neither stored nor run yet."""
        key = plan.key
        return sum((key, r) not in self.store.values for r in replications)

    def arr(self, plan: HiringPlan, replications: Iterable[int]) -> np.ndarray[Any, Any]:
        reps = list(replications)
        return np.array([self.store.values[(plan.key, r)] for r in reps])

    def ensure(self, wanted: list[tuple[HiringPlan, range]]) -> None:
        """Simulate every (plan, replication) in ``wanted`` that is not stored yet."""
        pairs = [(plan, r) for plan, reps in wanted for r in reps]
        self.reused.update((p.key, r) for p, r in pairs if (p.key, r) in self._initial)
        todo = [(p, r) for p, r in pairs if (p.key, r) not in self.store.values]
        if not todo:
            return
        tasks = [(self.scenario(plan), self.seed, r, self.month) for plan, r in todo]
        # a search sets ``planned`` to its own bound; never report fewer than are queued
        self.planned = max(self.planned, self.simulations + len(tasks))
        rows: list[tuple[str, int, float]] = []
        try:
            for index, value in self.executor.imap_unordered(_arr_at, tasks):
                plan, r = todo[index]
                rows.append((plan.key, r, value))
                self.simulations += 1
                if len(rows) >= 8:
                    self.store.add(rows)
                    rows = []
                if self.progress:
                    self.progress(self.simulations, self.planned)
        finally:
            self.store.add(rows)
