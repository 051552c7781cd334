"""The lead record, stored column-wise in typed arrays (cheap to update in the event loop).

A column is an :class:`array.array` of machine numbers (8 bytes a value), not a list of
Python objects (a pointer plus, for most values, an object of its own): a million leads
take a fraction of the memory, and the columns a step reads lie together in memory.

Every lead ever created is in exactly one :data:`STATES` state at any time. State changes go
through :meth:`Leads.move`, which also counts every transition, so the final state of each
lead can be checked against the flows that led there.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable

NURTURE, NON_TARGET, INSIDE_SALES, FS_QUEUE, FS_OPEN, CUSTOMER, RECYCLE, RETIRED = range(8)
STATES = (
    "nurture",
    "non_target",
    "inside_sales",
    "field_sales_queue",
    "field_sales_open",
    "customer",
    "recycle",
    "retired",
)
ACTIVE, DORMANT, NEVER = range(3)
INF = math.inf


class Leads:
    """Column store of leads: one typed array per attribute, indexed by lead id."""

    def __init__(self, key: Callable[[int, int], int] | None = None) -> None:
        """``key(channel, rank)`` gives a lead its random-number key (default: its id)."""
        self._key = key
        self._ranks: dict[int, int] = {}
        self.key: array[int] = array("Q")
        """Per lead: where its own random substream starts (channel and rank in it)."""
        self.channel: array[int] = array("q")
        self.segment: array[int] = array("q")
        self.intent_class: array[int] = array("q")
        self.fit: array[float] = array("d")
        self.active_at: array[float] = array("d")
        self.window_end: array[float] = array("d")
        self.window: array[int] = array("q")
        self.behaviour: array[float] = array("d")
        self.engaged_at: array[float] = array("d")
        self.state: array[int] = array("q")
        self.epoch: array[int] = array("q")
        self.cycles: array[int] = array("q")
        self.created_at: array[float] = array("d")
        self.first_mql_at: array[float] = array("d")
        self.first_ready_at: array[float] = array("d")
        self.first_touch_at: array[float] = array("d")
        self.first_fs_at: array[float] = array("d")
        self.speed_to_lead_hours: array[float] = array("d")
        self.speed_to_lead_business_hours: array[float] = array("d")
        self.first_sql_at: array[float] = array("d")
        self.first_opp_at: array[float] = array("d")
        self.won_at: array[float] = array("d")
        self.last_opp_at: array[float] = array("d")
        self.new_arr: array[float] = array("d")
        self.arr: array[float] = array("d")
        self.transitions = [[0] * len(STATES) for _ in STATES]
        self.entered = [0] * len(STATES)

    def __len__(self) -> int:
        return len(self.state)

    def create(
        self,
        t: float,
        state: int,
        channel: int,
        segment: int,
        intent_class: int,
        active_at: float,
        fit: float,
        window_end: float = INF,
        behaviour: float = 0.0,
        key: int | None = None,
    ) -> int:
        """Add a lead in ``state`` at time ``t``; returns its id.

        ``active_at`` and ``window_end`` bound its buying window (``inf`` where it never
        opens or never closes); ``behaviour`` is its behaviour score at creation. ``key``
        is its random-number key if it has one already; otherwise it is the key of the
        lead's rank among the channel's leads made without one.
        """
        if key is not None:
            self.key.append(key)
        elif self._key is None:
            self.key.append(len(self.state))
        else:
            rank = self._ranks.get(channel, 0)
            self._ranks[channel] = rank + 1
            self.key.append(self._key(channel, rank))
        self.channel.append(channel)
        self.segment.append(segment)
        self.intent_class.append(intent_class)
        self.fit.append(fit)
        self.active_at.append(active_at)
        self.window_end.append(window_end)
        self.window.append(0)
        self.behaviour.append(behaviour)
        self.engaged_at.append(t)
        self.state.append(state)
        self.epoch.append(0)
        self.cycles.append(0)
        self.created_at.append(t)
        self.first_mql_at.append(INF)
        self.first_ready_at.append(INF)
        self.first_touch_at.append(INF)
        self.first_fs_at.append(INF)
        self.speed_to_lead_hours.append(INF)
        self.speed_to_lead_business_hours.append(INF)
        self.first_sql_at.append(INF)
        self.first_opp_at.append(INF)
        self.won_at.append(INF)
        self.last_opp_at.append(INF)
        self.new_arr.append(0.0)
        self.arr.append(0.0)
        self.entered[state] += 1
        return len(self.state) - 1

    def move(self, lead: int, state: int) -> int:
        """Change a lead's state; invalidates callbacks scheduled for its old state.

        Returns the new epoch, to be carried by callbacks scheduled for the new state.
        """
        self.transitions[self.state[lead]][state] += 1
        self.state[lead] = state
        epoch = self.epoch[lead] + 1
        self.epoch[lead] = epoch
        return epoch

    def intent(self, lead: int, t: float) -> int:
        """ACTIVE (inside its buying window), DORMANT (a window to come) or NEVER at ``t``."""
        at = self.active_at[lead]
        if at <= t:
            return ACTIVE if t < self.window_end[lead] else NEVER
        return DORMANT if at < INF else NEVER

    def counts_from_flows(self) -> list[int]:
        """State occupancy implied by creations and transitions alone."""
        n = len(STATES)
        return [
            self.entered[s]
            + sum(self.transitions[r][s] for r in range(n))
            - sum(self.transitions[s][r] for r in range(n))
            for s in range(n)
        ]
