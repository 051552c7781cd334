"""What every team shares in one replication: the clock, the leads, the counters, the streams."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from heapq import heappop, heappush
from typing import Any

import simpy
from simpy.core import EmptySchedule
from simpy.events import NORMAL, URGENT, Event

from sim.engine.leads import Leads
from sim.engine.streams import Streams

Callback = Callable[[Any], None]


class Call:
    """A scheduled callback on a plain :class:`simpy.Environment`: an event whose one
    callback calls ``callback(value)``.

    A :class:`Clock` needs no event object at all (see :meth:`Clock.call`).
    """

    __slots__ = ("_value", "callbacks")
    _ok = True

    def __init__(self, callback: Callback, value: Any) -> None:
        self.callbacks: list[Callable[[Any], None]] | None = [lambda _: callback(value)]
        self._value = value


class Clock(simpy.Environment):
    """SimPy's environment, with a leaner loop and a second rank for far-off events.

    - A plain delayed callback (:meth:`call`) is a heap entry of its own,
      ``(time, priority, sequence, callback, value)``, beside SimPy's
      ``(time, priority, sequence, event)``: no event object, no callbacks list, no
      ``Timeout`` with its checks and its ``schedule`` call. :meth:`advance` (and
      :meth:`step`) call it directly; every other event (processes, timeouts) is processed
      exactly as :meth:`simpy.Environment.step` does.
    - Time is cut into spans of :attr:`SPAN` days. An entry due in a later span than the
      clock's waits in a bucket of its span, not in the heap, and joins the heap (with the
      sequence number it was given when it was scheduled) when the clock reaches its span.
      The heap then holds only the rest of the current span, so its depth, and the cost of
      each push and pop, no longer grows with the months of renewals, pauses and buying
      windows pending, nor with the number of leads.

    Events run in exactly the order, and at exactly the times, they would have had as
    SimPy events in one heap (``tests/test_clock.py``).
    """

    SPAN = 1.0
    """Width of a bucket of far-off events, in days: the heap holds the rest of today.

    A week held tens of thousands of entries at a million leads, and every pop paid for
    the heap's depth (``docs/speed.md``, Scale)."""

    def __init__(self, initial_time: float = 0.0) -> None:
        super().__init__(initial_time)
        self._far: dict[int, list[tuple[float, int, int, Callback, Any]]] = {}
        self._edge = (int(initial_time // self.SPAN) + 1) * self.SPAN
        """Entries due before this time are in the heap; later ones in :attr:`_far`."""

    @property
    def pending(self) -> int:
        """Events scheduled and not yet processed (heap and buckets)."""
        return len(self._queue) + sum(len(b) for b in self._far.values())

    def call(self, delay: float, callback: Callback, value: Any) -> None:
        """Run ``callback(value)`` after ``delay``."""
        at = self._now + delay
        entry = (at, NORMAL, next(self._eid), callback, value)
        if at < self._edge:
            heappush(self._queue, entry)  # type: ignore[misc]
        else:
            self._far.setdefault(int(at // self.SPAN), []).append(entry)

    def _release(self) -> None:
        """Move the next bucket(s) of far-off entries into the heap."""
        queue: list[Any] = self._queue
        far, span = self._far, self.SPAN
        while far:
            edge = self._edge
            if queue and queue[0][0] < edge:
                return
            bucket = far.pop(int(edge // span), None)
            self._edge = edge + span
            if bucket:
                for entry in bucket:
                    heappush(queue, entry)

    def step(self) -> None:
        """Process the next event (as :meth:`simpy.Environment.step`), calls and buckets
        included."""
        queue: list[Any] = self._queue
        if self._far and (not queue or queue[0][0] >= self._edge):
            self._release()
        if queue and len(queue[0]) == 5:
            self._now, _, _, callback, value = heappop(queue)
            callback(value)
            return
        super().step()

    def advance(self, until: float) -> None:
        """Process every event due before ``until``, then stop with the clock at ``until``.

        The same events, in the same order, as ``run(until=until)``.
        """
        if until <= self._now:
            raise ValueError(f"until ({until}) must be greater than the current time")
        stop = Event(self)
        stop._ok = True
        stop._value = None
        self.schedule(stop, URGENT, until - self._now)
        queue: list[Any] = self._queue  # calls among SimPy's events
        far = self._far
        while True:
            if far and (not queue or queue[0][0] >= self._edge):
                self._release()
            if not queue:
                raise EmptySchedule
            entry = heappop(queue)
            self._now = entry[0]
            if len(entry) == 5:
                entry[3](entry[4])
                continue
            event = entry[3]
            if event is stop:
                return
            callbacks = event.callbacks
            event.callbacks = None
            for callback in callbacks:
                callback(event)
            if not event._ok and not hasattr(event, "_defused"):
                exc = type(event._value)(*event._value.args)
                exc.__cause__ = event._value
                raise exc


def call_later(env: simpy.Environment, delay: float, callback: Callback, value: Any) -> None:
    """Run ``callback(value)`` after ``delay`` days.

    A plain scheduled callback: no generator process per lead (DESIGN.md section 5).
    """
    if type(env) is Clock:
        env.call(delay, callback, value)
    else:
        env.schedule(Call(callback, value), NORMAL, delay)  # type: ignore[arg-type]


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
        call_later(env, first[0] - env.now, _next_of, (env, todo, first, callback))


def _next_of(value: Any) -> None:
    env, todo, item, callback = value
    callback(item)
    following = next(todo, None)
    if following is not None:
        call_later(env, following[0] - env.now, _next_of, (env, todo, following, callback))


@dataclass
class Context:
    """The shared state of one replication, handed to every team."""

    env: simpy.Environment
    leads: Leads
    flows: list[float]
    """This month's counters, indexed by :data:`~sim.engine.ledger.F`; filed at month end."""
    streams: Streams
    month_starts: list[float]
