"""Speed benchmark: the full model against a bare SimPy event loop, in one process.

Machines are shared and noisy, so the figures that matter are *ratios* to a bare loop timed in
the same run: the model's time per event over the bare loop's, and the time of one replication
over a bare loop of :data:`REFERENCE_EVENTS` events (the speed goal: at most 1.5x).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import simpy
from simpy.events import Timeout

from sim.engine.world import World
from sim.scenario.schema import Scenario

REFERENCE_EVENTS = 500_000
"""Size of the bare loop one replication is compared with as a whole."""


@dataclass(frozen=True)
class BenchResult:
    """Figures of one benchmark run (medians over the repeats)."""

    leads: int
    events: int
    model_seconds: float
    bare_seconds: float
    reference_seconds: float
    """Bare-loop seconds for :data:`REFERENCE_EVENTS` events."""

    @property
    def leads_per_second(self) -> float:
        """Leads simulated per second of wall time."""
        return self.leads / self.model_seconds

    @property
    def events_per_lead(self) -> float:
        """Events processed per lead created (the starting book's included)."""
        return self.events / self.leads

    @property
    def events_per_second(self) -> float:
        """Model events processed per second."""
        return self.events / self.model_seconds

    @property
    def bare_events_per_second(self) -> float:
        """Bare-loop events per second."""
        return self.events / self.bare_seconds

    @property
    def ratio(self) -> float:
        """Model time per event over bare-loop time per event (1 = no overhead at all)."""
        return self.model_seconds / self.bare_seconds

    @property
    def replication_ratio(self) -> float:
        """One replication's time over a bare loop of :data:`REFERENCE_EVENTS` events."""
        return self.model_seconds / self.reference_seconds


def bare_loop(events: int, pending: int = 10_000) -> float:
    """Seconds SimPy takes to process ``events`` timeouts with callbacks and nothing else.

    ``pending`` events are kept in the queue at all times, as a model keeps many.
    """
    env = simpy.Environment()
    left = [events]

    def tick(event: simpy.Event) -> None:
        if left[0] > 0:
            left[0] -= 1
            Timeout(env, 1.0 + (left[0] % 97) * 0.01).callbacks.append(tick)

    for i in range(pending):
        Timeout(env, i * 0.001).callbacks.append(tick)
    start = time.perf_counter()
    env.run()
    return time.perf_counter() - start


def bench(scenario: Scenario, seed: int = 0, repeats: int = 3) -> BenchResult:
    """Time ``repeats`` replications of ``scenario``, as many bare loops of equal size and as
    many of :data:`REFERENCE_EVENTS` events, interleaved."""
    model, bare, reference = [], [], []
    leads = events = 0
    for r in range(repeats):
        world = World(scenario, seed + r)
        start = time.perf_counter()
        ledger = world.run()
        model.append(time.perf_counter() - start)
        events = int(ledger.totals["events"])
        leads = len(ledger.leads["state"])
        bare.append(bare_loop(events))
        reference.append(bare_loop(REFERENCE_EVENTS))
    return BenchResult(
        leads=leads,
        events=events,
        model_seconds=statistics.median(model),
        bare_seconds=statistics.median(bare),
        reference_seconds=statistics.median(reference),
    )
