"""What every team shares in one replication: the clock, the leads, the counters, the streams."""

from __future__ import annotations

from collections.abc import Callable
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


@dataclass
class Context:
    """The shared state of one replication, handed to every team."""

    env: simpy.Environment
    leads: Leads
    flows: list[float]
    """This month's counters, indexed by :data:`~sim.engine.ledger.F`; filed at month end."""
    streams: Streams
    month_starts: list[float]
