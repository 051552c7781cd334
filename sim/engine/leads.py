"""The lead record, stored column-wise in plain lists (cheap to update in the event loop).

Every lead ever created is in exactly one :data:`STATES` state at any time. State changes go
through :meth:`Leads.move`, which also counts every transition, so the final state of each
lead can be checked against the flows that led there.
"""

from __future__ import annotations

import math
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
INTENT_CLASSES = ("now", "later", "never")
ACTIVE, DORMANT, NEVER = range(3)
INF = math.inf


class Leads:
    """Column store of leads: one list per attribute, indexed by lead id."""

    def __init__(self, key: Callable[[int, int], int] | None = None) -> None:
        """``key(channel, rank)`` gives a lead its random-number key (default: its id)."""
        self._key = key
        self._ranks: dict[int, int] = {}
        self.key: list[int] = []
        """Per lead: where its own random substream starts (channel and rank in it)."""
        self.channel: list[int] = []
        self.segment: list[int] = []
        self.intent_class: list[int] = []
        self.fit: list[float] = []
        self.active_at: list[float] = []
        self.window_end: list[float] = []
        self.window: list[int] = []
        self.behaviour: list[float] = []
        self.engaged_at: list[float] = []
        self.state: list[int] = []
        self.epoch: list[int] = []
        self.cycles: list[int] = []
        self.created_at: list[float] = []
        self.first_mql_at: list[float] = []
        self.first_ready_at: list[float] = []
        self.first_touch_at: list[float] = []
        self.first_fs_at: list[float] = []
        self.speed_to_lead_hours: list[float] = []
        self.speed_to_lead_business_hours: list[float] = []
        self.first_sql_at: list[float] = []
        self.first_opp_at: list[float] = []
        self.won_at: list[float] = []
        self.last_opp_at: list[float] = []
        self.new_arr: list[float] = []
        self.arr: list[float] = []
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
    ) -> int:
        """Add a lead in ``state`` at time ``t``; returns its id.

        ``active_at`` and ``window_end`` bound its buying window (``inf`` where it never
        opens or never closes); ``behaviour`` is its behaviour score at creation.
        """
        if self._key is None:
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
