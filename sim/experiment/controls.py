"""Control variates for paired comparisons: the teams' capacity, known from the rosters alone.

Two scenarios that differ in one lever, run on the same seeds, share most of their luck
(common random numbers), but not what the lever's worth depends on. Adding SDRs is worth
more in a future where the desk loses people than in one where it keeps them, so the paired
difference still varies with the base's turnover. That part is known: each team's capacity
(effective person-days over the horizon: turnover, vacancies, backfills, ramp and coaching)
depends only on the seats' own random numbers, never on the leads, so
:func:`~sim.engine.world.roster_days` gives it for any seed in milliseconds, and its mean
from a few thousand such runs. :func:`controlled_difference` then takes out of the paired
difference the part a straight line in those capacities explains
(:func:`sim.stats.control_variates`): the same mean, a narrower interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.engine.streams import replication_seed
from sim.engine.world import roster_days
from sim.scenario.schema import Scenario
from sim.stats import ControlledMean, control_variates

CONTROL_OFFSET = 2_000_000
"""The replications that estimate the controls' means are ``CONTROL_OFFSET + j``: never a
replication of a run or a comparison (the plan search's confirmations start at 10**6)."""

CONTROL_RUNS = 2000
"""Roster-only runs behind the controls' means by default (about 8 ms each on the base)."""


@dataclass(frozen=True)
class Controls:
    """Each team's capacity in given replications, and its mean over many others.

    ``values`` is ``(replications, teams)``, ``means`` and ``means_cov`` the teams' mean
    capacity and the covariance of that estimate (from ``runs`` roster-only runs).
    """

    teams: tuple[str, ...]
    values: np.ndarray[Any, Any]
    means: np.ndarray[Any, Any]
    means_cov: np.ndarray[Any, Any]
    runs: int


def team_capacity(scenario: Scenario, seed: int, replications: Sequence[int]) -> np.ndarray:
    """``(len(replications), teams)``: each team's effective person-days over the horizon
    in those replications (seeded as :func:`sim.run` seeds them), teams in the order of
    :func:`~sim.engine.world.roster_days`."""
    rows = [list(roster_days(scenario, replication_seed(seed, r)).values()) for r in replications]
    return np.asarray(rows, dtype=float)


def controls(
    scenario: Scenario, seed: int, replications: Sequence[int], runs: int = CONTROL_RUNS
) -> Controls:
    """The teams' capacity in ``replications`` of ``scenario`` and its mean over ``runs``
    replications of their own (``CONTROL_OFFSET + j``)."""
    if runs < 2:
        raise ValueError("the controls' means need at least 2 runs")
    teams = tuple(roster_days(scenario, replication_seed(seed, CONTROL_OFFSET)))
    pool = team_capacity(scenario, seed, range(CONTROL_OFFSET, CONTROL_OFFSET + runs))
    values = team_capacity(scenario, seed, replications)
    cov = np.atleast_2d(np.cov(pool, rowvar=False)) / runs
    return Controls(teams, values, pool.mean(axis=0), cov, runs)


def controlled_difference(
    base: Any, other: Any, found: Controls, level: float = 0.95
) -> ControlledMean:
    """The mean of ``other - base`` (aligned with ``found.values``) with the part that the
    base's team capacities explain taken out: an estimate of the same mean difference,
    with a narrower interval when the lever's worth varies with the teams' turnover."""
    d = np.asarray(other, dtype=float) - np.asarray(base, dtype=float)
    return control_variates(d, found.values, found.means, found.means_cov, level)
