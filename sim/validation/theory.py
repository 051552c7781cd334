"""Closed-form results the simulation must reproduce.

All rates share one time unit (the caller's); nothing here knows about scenarios.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

Matrix = np.ndarray[Any, np.dtype[np.float64]]


@dataclass(frozen=True)
class QueueFigures:
    """Steady-state figures of a multi-server queue."""

    p_wait: float
    """Probability an arrival has to wait (finds all servers busy)."""
    mean_wait: float
    """Mean wait in queue over all arrivals (including those who abandon)."""
    mean_queue: float
    """Time-average number waiting."""
    p_abandon: float = 0.0
    """Probability an arrival abandons before service."""


def erlang_c(arrival_rate: float, service_rate: float, servers: int) -> QueueFigures:
    """M/M/c: Erlang C probability of waiting and mean wait in queue.

    Uses the numerically stable Erlang B recursion.
    """
    a = arrival_rate / service_rate
    if a >= servers:
        raise ValueError(f"unstable queue: offered load {a:g} >= {servers} servers")
    b = 1.0
    for k in range(1, servers + 1):
        b = a * b / (k + a * b)
    c = servers * b / (servers - a * (1.0 - b))
    wq = c / (servers * service_rate - arrival_rate)
    return QueueFigures(p_wait=c, mean_wait=wq, mean_queue=arrival_rate * wq)


def erlang_a(
    arrival_rate: float, service_rate: float, servers: int, abandon_rate: float
) -> QueueFigures:
    """M/M/c+M (Erlang A): exponential patience, solved exactly as a birth-death chain.

    The chain is truncated where the stationary probabilities fall below 1e-18 of the mode.
    """
    if abandon_rate <= 0:
        return erlang_c(arrival_rate, service_rate, servers)
    log_terms = [0.0]
    n = 0
    while True:
        n += 1
        death = min(n, servers) * service_rate + max(n - servers, 0) * abandon_rate
        log_terms.append(log_terms[-1] + math.log(arrival_rate / death))
        if n > servers and log_terms[-1] < max(log_terms) - 41.5:  # e^-41.5 ~ 1e-18
            break
    logs = np.array(log_terms)
    p = np.exp(logs - logs.max())
    p /= p.sum()
    states = np.arange(len(p))
    waiting = np.maximum(states - servers, 0)
    lq = float(np.dot(waiting, p))
    return QueueFigures(
        p_wait=float(p[servers:].sum()),
        mean_wait=lq / arrival_rate,
        mean_queue=lq,
        p_abandon=abandon_rate * lq / arrival_rate,
    )


def absorption(q: Matrix, r: Matrix) -> tuple[Matrix, Matrix]:
    """Fundamental matrix ``N = (I - Q)^-1`` and absorption probabilities ``B = N R``.

    ``q`` holds transient-to-transient and ``r`` transient-to-absorbing probabilities.
    """
    identity = np.eye(len(q))
    fundamental = np.asarray(np.linalg.solve(identity - q, identity), dtype=np.float64)
    absorbed = np.asarray(fundamental @ r, dtype=np.float64)
    return fundamental, absorbed


def renewal_survivors(
    customers: int, churn_probability: float, term_days: float, at_days: float
) -> float:
    """Expected customers left at ``at_days`` when renewals churn with a fixed probability.

    First renewals are spread uniformly over (0, term]; customer ``i`` then renews every
    term, so by time t it has faced ``k(u) = floor((t - u) / term) + 1`` renewals (0 if
    ``u > t``) and survives them with probability ``(1 - p)^k`` (the geometric law).
    """
    q = 1.0 - churn_probability
    if at_days <= 0:
        return float(customers)
    whole, rest = divmod(at_days, term_days)
    k = int(whole)
    # u <= rest: k + 1 renewals; u in (rest, term]: k renewals
    share = rest / term_days
    return customers * (share * q ** (k + 1) + (1.0 - share) * q**k)
