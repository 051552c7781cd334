"""What every team shares in one replication: the clock, the leads, the counters, the streams."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import simpy
from simpy.events import Timeout

from sim.engine.leads import Leads
from sim.engine.streams import Streams

Callback = Callable[[Any], None]


def call_later(env: simpy.Environment, delay: float, callback: Callback, value: Any) -> None:
    """Run ``callback(event)`` after ``delay`` days; ``event._value`` is ``value``.

    A plain scheduled callback: no generator process per lead (DESIGN.md section 5).
    """
    Timeout(env, delay, value).callbacks.append(callback)


def call_each(
    env: simpy.Environment, items: Iterable[Any], callback: Callable[[Any], object]
) -> None:
    """Call ``callback(item)`` at each item's time (``item[0]``), items in time order.

    One pending event at a time, each scheduling the next: a month of arrivals costs one
    heap entry, not thousands.
    """
    todo = iter(items)
    first = next(todo, None)
    if first is not None:
        call_later(env, first[0] - env.now, _next_of, (todo, first, callback))


def _next_of(event: simpy.Event) -> None:
    todo, item, callback = event._value
    callback(item)
    following = next(todo, None)
    if following is not None:
        env = event.env
        call_later(env, following[0] - env.now, _next_of, (todo, following, callback))


@dataclass
class Context:
    """The shared state of one replication, handed to every team."""

    env: simpy.Environment
    leads: Leads
    flows: list[float]
    """This month's counters, indexed by :data:`~sim.engine.ledger.F`; filed at month end."""
    streams: Streams
    month_starts: list[float]
