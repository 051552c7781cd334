"""The engine's clock: SimPy's environment with a lean loop and buckets for far-off events.

It must process the same events, in the same order, at the same times, as SimPy's own
``run(until=...)`` over one heap, whatever mix of near and far delays, ties and processes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import simpy

from sim.engine.core import Clock, call_later


def _script(env: simpy.Environment, seed: int, log: list[tuple[float, int]]) -> None:
    """Callbacks that schedule more callbacks: near and far delays, exact ties, and a
    SimPy process ticking on the side."""
    rng = np.random.default_rng(seed)
    span = Clock.SPAN  # delays on, just before and just after bucket edges, and far off
    near = [0.0, span / 2, span - 1e-3, span, span + 1e-3, 7 * span - 1e-3, 7 * span]
    delays = rng.choice([*near, 13.0, 30.0, 200.0], size=4000)
    extra = iter(rng.integers(1, 3, size=4000).tolist())
    more = iter(delays.tolist())
    counter = iter(range(10**6))

    def fire(value: Any) -> None:
        log.append((env.now, value))
        for _ in range(next(extra, 0)):
            delay = next(more, None)
            if delay is not None:
                call_later(env, delay, fire, next(counter))

    def ticker() -> Any:
        while True:
            yield env.timeout(7 * Clock.SPAN)  # lands exactly on bucket edges
            log.append((env.now, -1))

    env.process(ticker())
    for _ in range(20):
        call_later(env, float(rng.choice(delays)), fire, next(counter))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_clock_runs_the_same_events_in_the_same_order_as_simpy(seed: int) -> None:
    plain: list[tuple[float, int]] = []
    env = simpy.Environment()
    _script(env, seed, plain)
    env.run(until=400.0)
    lean: list[tuple[float, int]] = []
    clock = Clock()
    _script(clock, seed, lean)
    clock.advance(400.0)
    assert len(plain) > 1000
    assert lean == plain
    assert clock.now == env.now == 400.0
    # what is left to run is the same too: scheduled less processed
    assert next(clock._eid) - clock.pending == next(env._eid) - len(env._queue)


def test_far_off_events_wait_outside_the_heap() -> None:
    clock = Clock()
    fired: list[float] = []
    soon = Clock.SPAN / 2
    for at in (soon, 100.0, 365.0):
        call_later(clock, at, lambda e: fired.append(clock.now), None)
    assert len(clock._queue) == 1
    assert clock.pending == 3
    clock.advance(366.0)
    assert fired == [soon, 100.0, 365.0]
    assert clock.pending == 0


def test_step_releases_buckets_too() -> None:
    clock = Clock()
    fired: list[float] = []
    call_later(clock, 50.0, lambda e: fired.append(clock.now), None)
    clock.run()  # SimPy's own loop, through step()
    assert fired == [50.0]


def test_a_call_works_on_a_plain_simpy_environment() -> None:
    env = simpy.Environment()
    seen: list[Any] = []
    call_later(env, 2.0, lambda value: seen.append((env.now, value)), "x")
    env.run()
    assert seen == [(2.0, "x")]


def test_advance_must_move_forward() -> None:
    clock = Clock()
    clock.advance(1.0)
    with pytest.raises(ValueError, match="until"):
        clock.advance(1.0)
